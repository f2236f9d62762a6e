#!/bin/sh
# queue-aws.t: the SQS and S3 backends against local compatible servers:
# npm fauxqs for SQS's JSON protocol and radosgw (a throw-away memstore
# Ceph) for S3, the one that verifies Signature V4, so a request signed by
# our code is accepted and one signed with a wrong secret refused. Runs
# the shared behaviour suite (queue-behaviour.sh), then what is AWS's own:
# credentials from the environment and from profiles, clear 4xx errors,
# unreachable endpoints (exit 75, "cannot reach"), secrets kept out of
# messages.
. "$(dirname "$0")/lib.sh"
# The servers outlive us unless stopped: a killed test cleans up too.
trap 'exit 1' HUP INT TERM

command -v radosgw >/dev/null && command -v ceph-mon >/dev/null ||
	skip_all "radosgw/ceph-mon not installed (scripts/install-deps check)"
[ -d "$T_TOP/tests/node/node_modules/fauxqs" ] ||
	skip_all "fauxqs not installed (scripts/install-deps check)"

KEY=AKIATESTKEY000000001
TAB=$(printf '\t')
SECRET=testsecret0000000000000000000000000000001
S3=$(STATE=$T_TMP/rgw S3_ACCESS_KEY=$KEY S3_SECRET_KEY=$SECRET \
    "$T_TOP/tests/servers/start-rgw") || { echo "Bail out! radosgw did not start"; exit 1; }
at_exit "STATE=$T_TMP/rgw $T_TOP/tests/servers/stop-rgw"
SQS=$(STATE=$T_TMP/fq "$T_TOP/tests/servers/start-fauxqs") ||
	{ echo "Bail out! fauxqs did not start"; exit 1; }
at_exit "STATE=$T_TMP/fq $T_TOP/tests/servers/stop-fauxqs"

# Only our variables: nothing from the caller's AWS set-up leaks in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
    AWS_DEFAULT_REGION
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=$S3 AWS_ENDPOINT_URL_SQS=$SQS \
    AWS_EC2_METADATA_DISABLED=true IR_AWS_TIMEOUT=20 \
    HOME=$T_TMP AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none \
    AWS_CONFIG_FILE=$T_TMP/none

run ir-aws mb s3://ir-test
is "$rc:$out" "0:s3://ir-test" "create a bucket (CreateBucket, signed)"
run ir-aws mb s3://ir-test
is "$rc" 0 "creating it again is not an error"
run ir-aws -m 2 -v 30 mkqueue sqs://irq
is "$rc:$out" "0:$SQS/000000000000/irq" "create a queue: prints its URL"
run ir-aws mkqueue sqs://irq
is "$out" "$SQS/000000000000/irq" "creating it again gives the same URL"

# --- the shared suite ------------------------------------------------------
QURL=sqs://irq
SURL=s3://ir-test/suite
Q_MAXRECV=2
Q_DLQ=sqs://irq-dead
Q_STALE_FAILS=0
Q_MISSING=sqs://not-there
Q_MISSING_RC=75
Q_SLACK=1
export QURL SURL Q_MAXRECV Q_DLQ Q_STALE_FAILS Q_MISSING Q_MISSING_RC Q_SLACK

# The suite ends with done_testing: run it in a subshell, then go on.
(. "$T_TOP/tests/queue-behaviour.sh") >"$T_TMP/suite.tap"
suite_rc=$?
sed -e '/^1\.\./d' -e 's/^\(not \)\{0,1\}ok [0-9]* - /\1ok - suite: /' \
    "$T_TMP/suite.tap" >"$T_TMP/suite.out"
while IFS= read -r l; do
	case $l in
	"ok - "*) ok 0 "${l#ok - }" ;;
	"not ok - "*) ok 1 "${l#not ok - }" ;;
	*) printf '%s\n' "$l" ;;
	esac
done <"$T_TMP/suite.out"
is "$suite_rc" 0 "the behaviour suite passed as a whole"

# --- SQS specifics ---------------------------------------------------------
run ir-queue depth sqs://not-there
like "$errout" \
    "SQS GetQueueUrl on queue sqs://not-there: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist" \
    "a missing queue: operation, queue, AWS's code and message"
run ir-queue depth "$SQS/000000000000/not-there"
is "$rc" 1 "depth of a missing queue URL: exit 1 (no such queue)"
like "$errout" "SQS GetQueueAttributes on queue $SQS/000000000000/not-there: AWS.SimpleQueueService.NonExistentQueue" \
    "names the queue URL"
run ir-queue send "$SQS/000000000000/irq" by-url
is "$rc" 0 "a full queue URL works as well as sqs://NAME"
run ir-queue -w 2 receive sqs://irq
is "$(printf '%s' "$out" | cut -f4)" by-url "same queue either way"
ir-queue delete sqs://irq "$(printf '%s' "$out" | cut -f1)"
run ir-queue send sqs://bad.name x
is "$rc" 2 "a bad queue name: exit 2"
run ir-queue -c send sqs://made-on-open x
is "$rc" 0 "-c creates a missing queue on open"
run ir-queue depth sqs://made-on-open-dead
is "$rc:$out" "0:0${TAB}0" "with its dead-letter queue"

# --- S3 specifics: the signature cross-check --------------------------------
printf 'secret stuff' >"$T_TMP/f"
run ir-store put s3://ir-test/x k1 "$T_TMP/f"
is "$rc" 0 "a verifying server accepts our signature (PUT with payload hash)"
run ir-store get s3://ir-test/x k1
is "$out" "secret stuff" "and GET"
AWS_SECRET_ACCESS_KEY=wrongsecret0000000000000000000000000000001 \
    run ir-store get s3://ir-test/x k1
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "a wrong secret is refused (exit $rc)"
like "$errout" "S3 GetObject on s3://ir-test/x/k1: SignatureDoesNotMatch" \
    "error names operation, object and AWS's code"
ok "$(printf '%s' "$errout" | grep -q wrongsecret && echo 1 || echo 0)" \
    "the secret is not in the message"
AWS_SECRET_ACCESS_KEY=wrongsecret0000000000000000000000000000001 \
    run ir-store put s3://ir-test/x k2 "$T_TMP/f"
like "$errout" "SignatureDoesNotMatch" "PUT with a wrong secret refused too"
run ir-store head s3://ir-test/x k2
is "$rc" 1 "and nothing was stored"
AWS_ACCESS_KEY_ID=AKIAUNKNOWN000000000 run ir-store ls s3://ir-test/x
like "$errout" "S3 ListObjectsV2 on s3://ir-test/x/: InvalidAccessKeyId" \
    "an unknown key id: InvalidAccessKeyId"
run ir-store ls s3://no-such-bucket
like "$errout" "NoSuchBucket" "a missing bucket: NoSuchBucket"
run ir-store ls s3://Bad_Bucket
is "$rc" 2 "a bad bucket name: exit 2"

# Many keys: ListObjectsV2 pages (1000 a page) are followed.
i=0
while [ $i -lt 1005 ]; do echo "k$i"; i=$((i + 1)); done >"$T_TMP/keys"
: >"$T_TMP/e"
# put them through the library in one process per 100 (quick enough)
xargs -n 100 sh -c 'for k; do ir-store put s3://ir-test/many "$k" "$0" || exit 1; done' \
    "$T_TMP/e" <"$T_TMP/keys"
run ir-store ls s3://ir-test/many
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1005 \
    "a listing of 1005 keys follows the continuation token"
is "$(printf '%s\n' "$out" | cut -f1 | sort -c && echo sorted)" sorted \
    "in lexical order"

# --- credentials -------------------------------------------------------------
cat >"$T_TMP/credentials" <<EOF
[default]
aws_access_key_id = AKIANOTTHISONE000000
aws_secret_access_key = nope

[tests]
aws_access_key_id = $KEY
aws_secret_access_key = $SECRET
EOF
cat >"$T_TMP/config" <<EOF
[default]
region = us-east-1
[profile cfg]
region = us-east-1
aws_access_key_id=$KEY
aws_secret_access_key=$SECRET
EOF
(
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
	export AWS_SHARED_CREDENTIALS_FILE=$T_TMP/credentials
	export AWS_CONFIG_FILE=$T_TMP/config
	AWS_PROFILE=tests run ir-aws whoami
	is "$rc:$(printf '%s' "$out" | cut -f1,2)" "0:$KEY${TAB}profile tests" \
	    "AWS_PROFILE from the credentials file"
	AWS_PROFILE=tests run ir-store get s3://ir-test/x k1
	is "$out" "secret stuff" "and it signs requests radosgw accepts"
	AWS_PROFILE=cfg run ir-store get s3://ir-test/x k1
	is "$out" "secret stuff" "[profile NAME] keys from the config file"
	run ir-store get s3://ir-test/x k1
	like "$errout" "InvalidAccessKeyId" "no AWS_PROFILE: the default profile"
	AWS_PROFILE=absent run ir-aws whoami
	like "$rc:$errout" "^2:.*profile absent not found" \
	    "a missing profile is an error"
	AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none AWS_CONFIG_FILE=$T_TMP/none \
	    run ir-store get s3://ir-test/x k1
	like "$errout" "no AWS credentials" "no credentials at all: said so"
	ok "$(printf '%s' "$errout$out" | grep -q "$SECRET" && echo 1 || echo 0)" \
	    "secrets never printed"
) >"$T_TMP/creds.tap"
while IFS= read -r l; do
	case $l in
	"ok "*) ok 0 "${l#ok [0-9]* - }" ;;
	"not ok "*) ok 1 "${l#not ok [0-9]* - }" ;;
	*) printf '%s\n' "$l" ;;
	esac
done <"$T_TMP/creds.tap"

# --- unreachable -------------------------------------------------------------
dead=$(free_port)
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$dead IR_AWS_TIMEOUT=2 \
    run ir-store get s3://ir-test/x k1
is "$rc" 75 "an S3 endpoint that does not answer: exit 75 after the timeout"
like "$errout" "S3 GetObject on s3://ir-test/x/k1: cannot reach http://127.0.0.1:$dead/ir-test/x/k1: .*attempts in" \
    "names what it could not reach"
AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$dead IR_AWS_TIMEOUT=2 \
    run ir-queue send "http://127.0.0.1:$dead/000000000000/irq" x
is "$rc" 75 "an SQS endpoint that does not answer: exit 75"
like "$errout" "cannot reach http://127.0.0.1:$dead/" "names it"

done_testing
