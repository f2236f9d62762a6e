#!/bin/sh
# e2e-aws.t: e2e.t's course workload against SQS- and S3-compatible
# servers instead of the spool and folders: npm fauxqs (SQS, JSON
# protocol) and radosgw (S3 with Signature V4), started here on 127.0.0.1
# (tests/servers/). scripts/ir-up gets the sqs:// and s3:// URLs; 100
# concurrent uploads must give 100 answers equal to labels_100.csv, every
# result must be in the S3 output store, and a worker killed (-9) while
# it holds messages must not lose any.
. "$(dirname "$0")/lib.sh"
. "$T_TOP/tests/e2e-lib.sh"
e2e_gallery

[ -x "$IR_BIN/ir-serve" ] && [ -x "$IR_BIN/ir-aws" ] ||
	skip_all "bin/ir-serve or bin/ir-aws not built"
command -v radosgw >/dev/null && command -v ceph-mon >/dev/null ||
	skip_all "radosgw/ceph-mon not installed (scripts/install-deps check)"
[ -d "$T_TOP/tests/node/node_modules/fauxqs" ] ||
	skip_all "fauxqs not installed (scripts/install-deps check)"
plan 9

KEY=AKIATESTKEY000000001
SECRET=testsecret0000000000000000000000000000001
S3=$(STATE=$T_TMP/rgw S3_ACCESS_KEY=$KEY S3_SECRET_KEY=$SECRET \
    "$T_TOP/tests/servers/start-rgw") || { echo "Bail out! radosgw did not start"; exit 1; }
at_exit "STATE=$T_TMP/rgw $T_TOP/tests/servers/stop-rgw"
SQS=$(STATE=$T_TMP/fq "$T_TOP/tests/servers/start-fauxqs") ||
	{ echo "Bail out! fauxqs did not start"; exit 1; }
at_exit "STATE=$T_TMP/fq $T_TOP/tests/servers/stop-fauxqs"

unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
    AWS_DEFAULT_REGION IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE \
    IR_OUTPUT_STORE
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=$S3 AWS_ENDPOINT_URL_SQS=$SQS \
    AWS_EC2_METADATA_DISABLED=true HOME=$T_TMP \
    AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none AWS_CONFIG_FILE=$T_TMP/none

ir-aws mb s3://ir-e2e >/dev/null &&
    ir-aws -m 5 -v 5 mkqueue sqs://ir-req >/dev/null &&
    ir-aws mkqueue sqs://ir-rep-web >/dev/null
ok $? "bucket and queues created"

up_start "$T_TMP/run1" -w 2 -v 5 -q sqs://ir-req -r sqs://ir-rep-web \
    -s s3://ir-e2e/in -o s3://ir-e2e/out
ok $? "ir-up on SQS and S3 starts and answers /healthz"
burst "$URL" "$T_TMP/ans1"
is "$(codes "$T_TMP/ans1")" "100 200" "100 uploads, 100 answers, all 200"
is "$(wrong "$T_TMP/ans1")" "" "100 answers equal labels_100.csv"
n=$(ir-store ls s3://ir-e2e/out/results/ 2>/dev/null | wc -l)
is "$n" 100 "100 results in the S3 output store"
up_stop
ok $? "ir-up stops"

up_start "$T_TMP/run2" -w 1 -v 5 -q sqs://ir-req -r sqs://ir-rep-web \
    -s s3://ir-e2e/in2 -o s3://ir-e2e/out2
burst_bg "$URL" "$T_TMP/ans2"
killed=
for i in $(seq 1 200); do
	if grep -q 'ir-classify: [0-9A-Z]\{26\} ' "$T_TMP/run2/log/workers.log" 2>/dev/null; then
		killed=$(pgrep -P "$UP_PID" -x ir-classify | head -1)
		[ -n "$killed" ] && kill -9 "$killed" && break
	fi
	sleep 0.05
done
burst_wait
ok $([ -n "$killed" ]; echo $?) "a worker busy with a batch was killed (-9)"
is "$(wrong "$T_TMP/ans2")" "" \
    "still 100 answers equal to labels_100.csv"
like "$(cat "$T_TMP/run2/log/workers.log")" 'redelivered' \
    "the killed worker's messages were redelivered"
up_stop
