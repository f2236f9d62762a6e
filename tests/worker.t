#!/bin/sh
# worker.t: the app tier (ir-classify -w) on spool queues and folder
# stores, driven by hand-made request messages: answers and stored
# results, idempotence by id (a stored result is resent, not recomputed),
# bad requests answered with an error result and deleted, idle exit, the
# batch in hand finished on SIGTERM, and leases kept alive by the
# heartbeat while a slow batch runs (no message redelivered to a second
# worker).
. "$(dirname "$0")/lib.sh"

[ -x "$IR_BIN/ir-classify" ] || skip_all "bin/ir-classify not built"
GAL=$T_TOP/examples/gallery.irg
[ -f "$GAL" ] || skip_all "examples/gallery.irg missing"
IMG=$T_TOP/tests/data/cse546/face_images_100
BIG=$T_TOP/tests/data/reference/images/sample6.jpg
unset IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE
export IR_STATE=$T_TMP/run IR_GALLERY=$GAL
RQ=spool:$T_TMP/run/requests
REP=spool:$T_TMP/run/rep
IN=dir:$T_TMP/run/input
OUT=dir:$T_TMP/run/output

# request ID KEY [NAME]: queues one request answered on $REP.
request() {
	ir-queue send "$RQ" "{\"v\":1,\"id\":\"$1\",\"name\":\"${3:-$1.jpg}\",\"key\":\"$2\",\"reply\":\"$REP\",\"sent\":0}"
}
# answers: the bodies on $REP (consumed), sorted.
answers() {
	ir-queue -m -1 -n 10 -w 0 consume "$REP" | cut -f4- | sort
}
depth() { ir-queue depth "$RQ" | tr '\t' ' '; }

ir-store put "$IN" k/test_00.jpg "$IMG/test_00.jpg"
ir-store put "$IN" k/test_09.jpg "$IMG/test_09.jpg"
ir-store put "$IN" k/note.jpg "$T_TOP/README.md"
want=$(grep '^test_09,' "$T_TOP/tests/data/cse546/labels_100.csv" | cut -d, -f2 | tr -d '\r')

# --- answers, stored results, bad requests ----------------------------------
request A1 k/test_09.jpg test_09.jpg
request A2 k/missing.jpg
request A3 k/note.jpg
ir-queue send "$RQ" '{"v":2,"id":"A4","name":"x","key":"k/test_00.jpg","reply":"'"$REP"'"}'
ir-queue send "$RQ" '{"v":1,"id":"A5","name":"x","reply":"'"$REP"'"}'
ir-queue send "$RQ" 'this is not JSON'
ir-queue send "$RQ" '{"v":1,"name":"no id","key":"k/test_00.jpg","reply":"'"$REP"'"}'
run ir-classify -w -i 1
is "$rc" 0 "worker exits 0 after 1 s idle"
like "$errout" "idle for 1\.[0-9] s: exiting" "and says so"
like "$errout" "worker done: 5 answered \(4 errors, 0 resent\), 2 dropped" \
    "5 answered (4 error results), 2 unanswerable dropped"
got=$(answers)
like "$got" "^\{\"v\":1,\"id\":\"A1\",\"name\":\"test_09.jpg\",\"label\":\"$want\"" \
    "A1: the result on the reply queue ($want)"
like "$got" '"id":"A2",.*"error":"cannot fetch image k/missing.jpg' \
    "missing image: error result"
like "$got" '"id":"A3",.*"error":"not a JPEG, PNG or PPM image"' \
    "not an image: error result"
like "$got" '"id":"A4",.*"error":"unsupported request version' \
    "unknown version: error result"
like "$got" '"id":"A5",.*"error":"request has no image key"' \
    "no key: error result"
is "$(depth)" "0 0" "every request deleted, none in flight"
like "$(cat "$T_TMP/run/output/results/A1.json")" "\"label\":\"$want\"" \
    "A1's result stored as results/A1.json"
like "$errout" "A1 test_09.jpg $want [0-9]+ms" "one log line per message"

# --- idempotent by id ---------------------------------------------------------
# A redelivered A1 (same id) whose result is stored: the stored result is
# sent again, byte for byte, without classifying.
printf '{"v":1,"id":"A1","name":"test_09.jpg","label":"Stored","faces":[]}' \
    >"$T_TMP/fake.json"
ir-store put "$OUT" results/A1.json "$T_TMP/fake.json"
request A1 k/test_09.jpg test_09.jpg
run ir-classify -w -i 1
like "$errout" "A1 test_09.jpg Stored 0ms \(resent\)" "a stored result is resent"
is "$(answers)" "$(cat "$T_TMP/fake.json")" "byte for byte, not recomputed"

# --- SIGTERM: the batch in hand is finished, no more taken --------------------
for i in $(seq 10 29); do request "B$i" k/test_00.jpg; done
ir-classify -w -P -b 5 2>"$T_TMP/term.log" &
W=$!
for i in $(seq 1 300); do
	grep -q ' B[0-9]* ' "$T_TMP/term.log" && break
	sleep 0.02
done
kill -TERM $W
wait $W
is $? 0 "SIGTERM: exit 0"
n=$(answers | wc -l)
left=$(depth)
ok $([ "$n" -ge 5 ] && [ $((n % 5)) = 0 ] && [ "$n" -lt 20 ]; echo $?) \
    "whole batches answered before exiting ($n of 20)"
is "$left" "$((20 - n)) 0" "the rest left visible in the queue, none held"

ir-classify -w -i 1 2>/dev/null
answers >/dev/null

# --- heartbeat ------------------------------------------------------------------
# Batches of 10 group photos, slower than the 1 s visibility timeout, two
# workers: without the heartbeat each would take the other's messages
# when their leases lapse. Every message must be received once.
ir-store put "$IN" k/big.jpg "$BIG"
for i in $(seq 10 29); do request "H$i" k/big.jpg; done
ir-classify -w -i 2 -b 10 --visibility 1 2>"$T_TMP/hb1.log" &
W1=$!
ir-classify -w -i 2 -b 10 --visibility 1 2>"$T_TMP/hb2.log" &
W2=$!
wait $W1 $W2
n=$(answers | grep -c '"id":"H')
is "$n" 20 "heartbeat: 20 slow requests, 20 answers"
! grep -q redelivered "$T_TMP/hb1.log" "$T_TMP/hb2.log"
ok $? "no message redelivered while its worker was busy with it"

# --jpeg faceapi: the worker decodes as ir-classify --jpeg faceapi does
# (the same boxes, to the last digit), not as the default decoder.
S2=$T_TOP/tests/data/reference/images/sample2.jpg
ir-store put "$IN" k/s2.jpg "$S2"
request J1 k/s2.jpg
ir-classify -w -i 1 --jpeg faceapi 2>/dev/null
box() { jq -c '[.faces[].box]'; }
wbox=$(answers | grep '"id":"J1"' | box)
is "$wbox" "$(ir-classify -j --jpeg faceapi "$S2" | box)" \
    "worker --jpeg faceapi: the boxes of ir-classify --jpeg faceapi"
ok "$([ "$wbox" != "$(ir-classify -j "$S2" | box)" ] && echo 0 || echo 1)" \
    "and not the default decoder's"
done_testing
