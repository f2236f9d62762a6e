#!/bin/sh
# aws-faults.t: fault tolerance of the SQS and S3 backends. The local
# servers (fauxqs for SQS, radosgw for S3) keep their state in memory, so
# they are frozen (SIGSTOP) rather than restarted.
#  1. A 200-image `ir-submit | ir-poll` run, answered by a small test
#     worker (tests/servers/size-worker), with both servers frozen for 15 s
#     in the middle, then resumed: every one of the 200 answers arrives,
#     each from its own image.
#  2. A server gone for longer than the tools' timeout: ir-poll and
#     ir-submit exit 75, say what they could not reach, and name the
#     images left unanswered or unsubmitted.
. "$(dirname "$0")/lib.sh"
# The servers outlive us unless stopped: a killed test cleans up too.
trap 'exit 1' HUP INT TERM

command -v radosgw >/dev/null && command -v ceph-mon >/dev/null ||
	skip_all "radosgw/ceph-mon not installed (scripts/install-deps check)"
[ -d "$T_TOP/tests/node/node_modules/fauxqs" ] ||
	skip_all "fauxqs not installed (scripts/install-deps check)"

KEY=AKIATESTKEY000000001
SECRET=testsecret0000000000000000000000000000001
S3=$(STATE=$T_TMP/rgw S3_ACCESS_KEY=$KEY S3_SECRET_KEY=$SECRET \
    "$T_TOP/tests/servers/start-rgw") || { echo "Bail out! radosgw did not start"; exit 1; }
at_exit "STATE=$T_TMP/rgw $T_TOP/tests/servers/stop-rgw"
SQS=$(STATE=$T_TMP/fq "$T_TOP/tests/servers/start-fauxqs") ||
	{ echo "Bail out! fauxqs did not start"; exit 1; }
at_exit "STATE=$T_TMP/fq $T_TOP/tests/servers/stop-fauxqs"
fq=$(cat "$T_TMP/fq/fauxqs.pid")
rgw=$(cat "$T_TMP/rgw/run/client.rgw.pid")
# Whatever happens, never leave a server frozen.
at_exit "kill -CONT $fq $rgw"

unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
    AWS_DEFAULT_REGION
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=$S3 AWS_ENDPOINT_URL_SQS=$SQS \
    AWS_EC2_METADATA_DISABLED=true HOME=$T_TMP \
    AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none AWS_CONFIG_FILE=$T_TMP/none
unset IR_AWS_TIMEOUT

ir-aws mb s3://faults >/dev/null && ir-aws -m 5 -v 20 mkqueue sqs://req >/dev/null &&
    ir-aws -m -1 mkqueue sqs://rep >/dev/null
ok $? "bucket and queues created"
REQ=sqs://req REP=sqs://rep IN=s3://faults/in

# 200 small distinct images (the test worker only reads their size).
mkdir "$T_TMP/img"
i=0
while [ $i -lt 200 ]; do
	f=$(printf '%s/img/img_%03d.jpg' "$T_TMP" $i)
	head -c $((1000 + i)) /dev/urandom >"$f"
	i=$((i + 1))
done

# --- 1. freeze both servers for 15 s mid-run --------------------------------
"$T_TOP/tests/servers/size-worker" "$REQ" "$IN" &
w1=$!
"$T_TOP/tests/servers/size-worker" "$REQ" "$IN" &
w2=$!
at_exit "kill $w1 $w2"
: >"$T_TMP/answers"
(
	cd "$T_TMP/img"
	ir-submit -q "$REQ" -r "$REP" -s "$IN" -t 120 img_*.jpg |
	    ir-poll -r "$REP" -t 120 >"$T_TMP/answers"
	echo $? >"$T_TMP/poll.rc"
) 2>"$T_TMP/run.err" &
run_pid=$!
# Freeze once some answers are in and most are not.
i=0
while [ "$(wc -l <"$T_TMP/answers")" -lt 5 ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -STOP $fq $rgw
# A reply already on its way when the servers stopped may still be
# printed: count from a second later.
sleep 1
before=$(wc -l <"$T_TMP/answers")
ok "$([ "$before" -ge 5 ] && [ "$before" -lt 200 ] && echo 0 || echo 1)" \
    "froze SQS and S3 mid-run ($before of 200 answered)"
sleep 15
during=$(wc -l <"$T_TMP/answers")
kill -CONT $fq $rgw
is "$during" "$before" "nothing answered while frozen"
wait $run_pid
is "$(cat "$T_TMP/poll.rc")" 0 "ir-poll exits 0 after the servers resume"
is "$(wc -l <"$T_TMP/answers" | tr -d ' ')" 200 "all 200 answers"
is "$(cut -f1 "$T_TMP/answers" | sort -u | wc -l | tr -d ' ')" 200 \
    "one per image, no duplicates"
bad=$(while IFS="$(printf '\t')" read -r name label dist; do
	n=${name#img_}; n=${n%.jpg}; n=$(echo "$n" | sed 's/^0*//'); n=${n:-0}
	[ "$label" = "bytes-$((1000 + n))" ] || echo "$name $label"
done <"$T_TMP/answers")
is "$bad" "" "each answer is about its own image (label = its size)"
grep -v '^$' "$T_TMP/run.err" | sed 's/^/# stderr: /' | head -5
kill $w1 $w2 2>/dev/null
wait $w1 $w2 2>/dev/null

# --- 2. a server gone for longer than the timeout ---------------------------
# Ten requests nobody answers (the workers are gone), then SQS freezes.
cd "$T_TMP/img"
ir-submit -q "$REQ" -r "$REP" -s "$IN" -t 30 img_00*.jpg >"$T_TMP/ids"
is "$(wc -l <"$T_TMP/ids" | tr -d ' ')" 10 "ten more requests queued"
kill -STOP $fq
IR_AWS_TIMEOUT=3 run ir-poll -r "$REP" -t 6 <"$T_TMP/ids"
is "$rc" 75 "ir-poll: SQS frozen past the timeout: exit 75"
like "$errout" "SQS (GetQueueUrl|ReceiveMessage) on queue (sqs://rep|$SQS/000000000000/rep): cannot reach $SQS/" \
    "names the operation, the queue and the address it could not reach"
is "$(printf '%s\n' "$errout" | grep -c '^ir-poll: no result for ')" 10 \
    "lists the ten unanswered images"
like "$errout" "no result for [0-9A-Z]+ img_009.jpg" "by id and file"
IR_AWS_TIMEOUT=3 run ir-submit -q "$REQ" -r "$REP" -s "$IN" -t 6 img_01*.jpg
is "$rc" 75 "ir-submit: SQS frozen: exit 75"
like "$errout" "cannot reach $SQS/" "names what it could not reach"
kill -CONT $fq
kill -STOP $rgw
IR_AWS_TIMEOUT=3 run ir-submit -q "$REQ" -r "$REP" -s "$IN" -t 6 img_02*.jpg
is "$rc" 75 "ir-submit: S3 frozen: exit 75"
like "$errout" "S3 PutObject on s3://faults/in/.*: cannot reach $S3/faults/in/" \
    "names the object and the S3 address"
like "$errout" "img_020.jpg: not submitted" "and the images not submitted"
kill -CONT $rgw

done_testing
