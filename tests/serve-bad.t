#!/bin/sh
# serve-bad.t: ir-serve against bad and hostile requests. Each gets the
# right status and a reason: empty body, wrong field name, truncated
# multipart, a 50 MB body (with and without Content-Length), a text file,
# a zero-byte file, an image the worker cannot decode (422); 500
# concurrent connections (no crash, 503s allowed, every accepted request
# answered). Also: readiness on $NOTIFY_SOCKET (path and abstract),
# /healthz, /metrics, and answers nobody waits for (unknown, or late
# after a 504) dropped with a log line, never given to another request.
. "$(dirname "$0")/lib.sh"

[ -x "$IR_BIN/ir-serve" ] || skip_all "bin/ir-serve not built"
command -v python3 >/dev/null || skip_all "python3 missing"
IMG=$T_TOP/tests/data/cse546/face_images_100/test_00.jpg
[ -f "$IMG" ] || skip_all "tests/data/cse546 missing"
GAL=$T_TOP/examples/gallery.irg
[ -f "$GAL" ] || skip_all "examples/gallery.irg missing"
TOOLS=$T_TOP/tests/tools
export IR_STATE=$T_TMP/run IR_GALLERY=$GAL
unset IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE

# wait_for FILE: up to 30 s for FILE to exist.
wait_for() {
	for _i in $(seq 1 300); do [ -e "$1" ] && return 0; sleep 0.1; done
	return 1
}
# post NAME CURL-ARGS...: status in $code, body in $body (path /).
post() {
	_p=$1
	shift
	code=$(curl -s --max-time 60 -o "$T_TMP/body" -w '%{http_code}' "$@" \
	    "http://127.0.0.1:$PORT$_p")
	body=$(cat "$T_TMP/body")
}

# --- start: ir-serve (queue mode, small limits) and one worker -------------
PORT=$(free_port)
python3 "$TOOLS/notify-listen.py" "$T_TMP/notify.sock" "$T_TMP/notify" &
wait_for "$T_TMP/notify.ready"
NOTIFY_SOCKET=$T_TMP/notify.sock ir-serve -l "127.0.0.1:$PORT" -B 10M -c 64 \
    -t 60 2>"$T_TMP/serve.log" &
SERVE=$!
at_exit "kill -9 $SERVE"
ir-classify -w -P 2>"$T_TMP/worker.log" &
WORKER=$!
at_exit "kill -9 $WORKER"
wait_for "$T_TMP/notify"
is "$(cat "$T_TMP/notify")" "READY=1" "READY=1 sent to NOTIFY_SOCKET (a path)"

post /healthz
is "$code:$body" "200:ok" "healthz: 200 when the queues and store answer"

post / -F "inputFile=@$IMG"
like "$code:$body" '^200:test_00:[A-Za-z]+$' "a good upload: 200 name:label"
label=${body#test_00:}

# Odd file names: a browser's raw Windows path (its last component), bytes
# that are not UTF-8 (shown as '?', not a 500 from the JSON encoder).
printf -- '--B\r\nContent-Disposition: form-data; name="inputFile"; ' \
    >"$T_TMP/win"
printf 'filename="C:\\photos\\test_00.jpg"\r\n\r\n' >>"$T_TMP/win"
cat "$IMG" >>"$T_TMP/win"
printf '\r\n--B--\r\n' >>"$T_TMP/win"
post / -H "Content-Type: multipart/form-data; boundary=B" \
    --data-binary "@$T_TMP/win"
is "$code:$body" "200:test_00:$label" "a raw Windows path: its file name"
post / -F "inputFile=@$IMG;filename=$(printf 'bad\377.jpg')"
is "$code:$body" "200:bad?:$label" "a file name that is not UTF-8: '?' for the byte"
post /v1/recognize -F "inputFile=@$IMG;filename=$(printf 'bad\377.jpg')"
like "$code:$body" '^200:.*"name":"bad\?\.jpg"' "and in the JSON answer"

# --- bad requests -----------------------------------------------------------
post / -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary ''
is "$code:$body" "400:empty body" "empty body: 400 with the reason"

post / -X POST
is "$code:$body" "400:empty body" "no body at all: 400"

post / -F "image=@$IMG"
is "$code" 400 "wrong field name: 400"
like "$body" 'no file field named inputFile \(fields: image\)' \
    "wrong field name: the reason names the fields"

{ printf -- '--XX\r\nContent-Disposition: form-data; name="inputFile"; '
  printf 'filename="test_00.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
  cat "$IMG"; } >"$T_TMP/trunc.body"
post / -H 'Content-Type: multipart/form-data; boundary=XX' \
    --data-binary "@$T_TMP/trunc.body"
is "$code" 400 "truncated multipart: 400"
like "$body" 'truncated multipart body' "truncated multipart: the reason"

post / -H 'Content-Type: image/jpeg' --data-binary "@$IMG"
is "$code" 400 "POST / with a raw body: 400 (it wants multipart)"

head -c 52428800 /dev/zero >"$T_TMP/big"
post / -F "inputFile=@$T_TMP/big"
is "$code" 413 "a 50 MB upload: 413"
like "$body" 'larger than 10485760' "413: the reason gives the limit"
post / -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: multipart/form-data; boundary=XX' \
    --data-binary "@$T_TMP/big"
is "$code" 413 "a 50 MB chunked upload (no Content-Length): 413"
rm -f "$T_TMP/big"

echo "just some text, not a picture" >"$T_TMP/note.txt"
post / -F "inputFile=@$T_TMP/note.txt"
is "$code:$body" "415:not a JPEG, PNG or PPM image" "a text file: 415"

: >"$T_TMP/empty.jpg"
post / -F "inputFile=@$T_TMP/empty.jpg"
is "$code:$body" "400:file field inputFile is empty (0 bytes)" \
    "a zero-byte file: 400"

head -c 700 "$IMG" >"$T_TMP/cut.jpg"
post / -F "inputFile=@$T_TMP/cut.jpg"
is "$code" 422 "a JPEG the worker cannot decode: 422"
like "$body" 'truncated JPEG' "422: the worker's reason"
post /v1/recognize -F "inputFile=@$T_TMP/cut.jpg"
like "$code:$body" '^422:\{.*"error":"[^"]*truncated JPEG' \
    "/v1/recognize: 422 with the JSON error result"

post /v1/recognize -H 'Content-Type: image/jpeg' --data-binary "@$IMG"
like "$code:$body" '^200:\{"v":1,"id":"[0-9A-Z]{26}","name":"upload",.*"faces":\[\{"box":' \
    "/v1/recognize with a raw image body: 200 JSON result"
post '/v1/recognize?name=me.jpg' -F "inputFile=@$IMG"
like "$code:$body" '^200:\{"v":1,"id":"[^"]*","name":"test_00.jpg"' \
    "/v1/recognize multipart: the file's name in the result"

post /nope
is "$code" 404 "unknown path: 404"
post /v1/recognize
is "$code" 405 "GET /v1/recognize: 405"

# --- 500 concurrent connections --------------------------------------------
python3 "$TOOLS/http-burst.py" 127.0.0.1 "$PORT" "$IMG" 500 >"$T_TMP/burst"
n=$(wc -l <"$T_TMP/burst")
is "$n" 500 "500 concurrent connections: 500 outcomes"
bad=$(grep -Ev '^(200 test_00:[A-Za-z]+|503 too many requests in flight \(64\))$' \
    "$T_TMP/burst" | sort | uniq -c | head -5)
is "$bad" "" "every one answered: 200 name:label, or 503 (overload)"
n200=$(grep -c '^200 ' "$T_TMP/burst")
ok $([ "$n200" -ge 64 ]; echo $?) "at least the in-flight limit accepted ($n200)"
ok $(kill -0 $SERVE 2>/dev/null; echo $?) "ir-serve still running"
post /healthz
is "$code" 200 "still healthy after the burst"

# --- metrics ----------------------------------------------------------------
post /metrics
like "$body" 'ir_http_requests_total\{code="413"\} 2' "metrics: requests by status"
like "$body" 'ir_http_request_duration_seconds_bucket\{le="\+Inf"\} [0-9]+' \
    "metrics: latency histogram"
like "$body" 'ir_inflight 0' "metrics: nothing in flight at rest"
like "$body" 'ir_queue_depth\{state="visible"\} 0' "metrics: queue depth"
like "$body" 'ir_errors_total\{kind="worker"\} [1-9]' "metrics: errors (the 422s)"
like "$body" "ir_http_requests_total\{code=\"503\"\} $((500 - n200))" \
    "metrics: the 503s counted"

# --- answers nobody waits for -----------------------------------------------
RQ=spool:$T_TMP/run/replies-serve-$PORT
ir-queue send "$RQ" '{"v":1,"id":"NOBODY0000000000000000000","name":"x.jpg","label":"Paul","faces":[]}'
for i in $(seq 1 50); do
	grep -q 'dropping answer for NOBODY' "$T_TMP/serve.log" && break
	sleep 0.1
done
like "$(cat "$T_TMP/serve.log")" 'dropping answer for NOBODY0000000000000000000: no request waits' \
    "an unknown answer is dropped with a log line"
post /metrics
like "$body" 'ir_answers_dropped_total 1' "and counted"

kill -TERM $WORKER
wait $WORKER
is $? 0 "the worker exits 0 on SIGTERM"

# A late answer: a second ir-serve with a 1 s timeout and a queue no worker
# reads; the request times out (504), then a worker answers it: dropped.
PORT2=$(free_port)
python3 "$TOOLS/notify-listen.py" "@ir-test-$$" "$T_TMP/notify2" &
wait_for "$T_TMP/notify2.ready"
NOTIFY_SOCKET=@ir-test-$$ ir-serve -l "127.0.0.1:$PORT2" -t 1 \
    -q "spool:$T_TMP/run/lateq" 2>"$T_TMP/serve2.log" &
SERVE2=$!
at_exit "kill -9 $SERVE2"
wait_for "$T_TMP/notify2"
is "$(cat "$T_TMP/notify2")" "READY=1" "READY=1 sent to an abstract NOTIFY_SOCKET"
code=$(curl -s -o "$T_TMP/body" -w '%{http_code}' -F "inputFile=@$IMG" \
    "http://127.0.0.1:$PORT2/")
is "$code:$(cat "$T_TMP/body")" "504:no answer within 1 s" "no answer in time: 504"
id=$(sed -n 's/.* 504 [0-9]*ms \([0-9A-Z]*\) .*/\1/p' "$T_TMP/serve2.log")
ir-classify -w -i 1 -q "spool:$T_TMP/run/lateq" 2>"$T_TMP/worker2.log"
for i in $(seq 1 50); do
	grep -q "dropping answer for $id" "$T_TMP/serve2.log" && break
	sleep 0.1
done
like "$(cat "$T_TMP/serve2.log")" "dropping answer for $id: no request waits for it" \
    "the late answer is dropped, not delivered"
like "$(cat "$T_TMP/worker2.log")" 'idle for 1\.[0-9] s: exiting' \
    "a worker with -i 1 exits by itself when idle"

kill -TERM $SERVE $SERVE2
wait $SERVE
is $? 0 "ir-serve exits 0 on SIGTERM"
wait $SERVE2
done_testing
