#!/bin/sh
# aws-client.t: the AWS client against stand-ins on 127.0.0.1
# (tests/servers/aws-standin.py) that verify every signature themselves:
#  - credentials from the EC2 instance metadata service (IMDSv2), reached
#    the SDKs' standard way (AWS_EC2_METADATA_SERVICE_ENDPOINT): the first
#    set (expiring inside the five-minute refresh margin) is used once,
#    then refreshed, and the fresh set (token included) used from then on;
#    an expired-token reply refreshes them at once;
#  - retries: 503 SlowDown, 400 Throttling, 429 and SQS RequestThrottled
#    are retried until an answer; 403 is not; 5xx past the deadline exit 75;
#  - SQS JSON requests signed for "sqs", with the session token.
. "$(dirname "$0")/lib.sh"
# The servers outlive us unless stopped: a killed test cleans up too.
trap 'exit 1' HUP INT TERM
TAB=$(printf '\t')

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
    AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS \
    AWS_EC2_METADATA_DISABLED AWS_DEFAULT_REGION
LOG=$T_TMP/imds.log
python3 "$T_TOP/tests/servers/aws-standin.py" "$LOG" >"$T_TMP/port" &
pid=$!
at_exit "kill $pid"
i=0
while [ ! -s "$T_TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$T_TMP/port")
[ -n "$port" ] || { echo "Bail out! the stand-in did not start"; exit 1; }
export HOME=$T_TMP AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none \
    AWS_CONFIG_FILE=$T_TMP/none AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$port \
    AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port \
    AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$port IR_AWS_TIMEOUT=10

ev() { jq -r "select(.ev == \"$1\") | $2" "$LOG" | tr '\n' ' '; }

# One process, three requests (a listing of three pages).
run ir-store ls s3://bkt
is "$rc:$(printf '%s' "$out" | cut -f1 | tr '\n' ' ')" "0:a b c " \
    "a three-page listing signed with instance credentials"
is "$(ev token .ok)" "true " "one IMDSv2 session token, asked for with a TTL"
is "$(jq -r 'select(.ev == "imds-get") | .ok' "$LOG" | grep -c false)" 0 \
    "every metadata GET carried the session token"
is "$(ev creds .n)" "1 2 " \
    "credentials fetched twice: at first use and once more before expiry"
is "$(ev s3 .key)" "ASIASTANDIN000000001 ASIASTANDIN000000002 ASIASTANDIN000000002 " \
    "the first set signs the first request, the refreshed set the others"
is "$(ev s3 .token)" "standin-token-1 standin-token-2 standin-token-2 " \
    "each with its session token (X-Amz-Security-Token)"
is "$(ev s3 .ok)" "true true true " \
    "the stand-in verified every signature, token signed"

run ir-aws whoami
like "$out" "^ASIASTANDIN[0-9]+${TAB}instance metadata \\(role ir-worker-role\\)	[0-9]+$" \
    "whoami: key id, source and expiry, no secret"
ok "$(printf '%s' "$out$errout" | grep -q standin-secret && echo 1 || echo 0)" \
    "the secret is never printed"

AWS_EC2_METADATA_DISABLED=true run ir-store ls s3://bkt
like "$errout" "no AWS credentials.*instance metadata is disabled" \
    "AWS_EC2_METADATA_DISABLED=true: not asked"
is "$(ev creds .n)" "1 2 3 " "(the whoami above fetched once; this did not)"

# --- retries -----------------------------------------------------------------
n0=$(ev s3 .path | wc -w)
run ir-store get s3://flaky k
is "$rc:$out" "0:ok" "503 SlowDown x2, 400 Throttling, 429: retried to an answer"
is "$(jq -r 'select(.ev == "s3" and .bucket == "flaky") | .ok' "$LOG" | wc -l | tr -d ' ')" 5 \
    "in five attempts, each signed afresh and verified"
run ir-store get s3://denied k
ok "$([ "$rc" != 0 ] && echo 0 || echo 1)" "403 AccessDenied: an error (exit $rc)"
like "$errout" "^ir-store: S3 GetObject on s3://denied/k: AccessDenied: Access Denied$" \
    "names the operation, the object and AWS's code and message"
is "$(jq -r 'select(.ev == "s3" and .bucket == "denied") | .ok' "$LOG" | wc -l | tr -d ' ')" 1 \
    "and is not retried"
IR_AWS_TIMEOUT=2 run ir-store get s3://broken k
is "$rc" 75 "500 InternalError until the deadline: exit 75"
like "$errout" "S3 GetObject on s3://broken/k: cannot reach http://127.0.0.1:$port/broken/k: HTTP 500 InternalError: We encountered an internal error. \([0-9]+ attempts in [0-9]+ s\)" \
    "says what it could not reach and the last error"
ok "$([ "$(jq -r 'select(.ev == "s3" and .bucket == "broken") | .ok' "$LOG" | wc -l)" -ge 2 ] && echo 0 || echo 1)" \
    "after several attempts"
c0=$(ev creds .n | wc -w)
run ir-store get s3://expired k
is "$rc:$out" "0:fresh" "ExpiredToken: credentials fetched again at once, request retried"
is "$(ev creds .n | wc -w)" "$((c0 + 1))" "(one more fetch)"

# --- SQS JSON protocol -----------------------------------------------------
run ir-queue depth sqs://throttled
is "$rc:$out" "0:7${TAB}3" "SQS RequestThrottled retried; depth from GetQueueAttributes"
is "$(jq -r 'select(.ev == "sqs") | .target' "$LOG" | tr '\n' ' ')" \
    "AmazonSQS.GetQueueUrl AmazonSQS.GetQueueUrl AmazonSQS.GetQueueAttributes " \
    "X-Amz-Target per operation, the throttled one twice"
is "$(jq -r 'select(.ev == "sqs") | "\(.ok) \(.service) \(.ctype)"' "$LOG" | sort -u)" \
    "true sqs application/x-amz-json-1.0" \
    "signed for sqs (verified by the stand-in), JSON 1.0 content type"
like "$(jq -r 'select(.ev == "sqs") | .token' "$LOG" | sort -u)" "^standin-token-[0-9]+$" \
    "with the session token"

# Environment credentials (with a session token) against the verifier.
AWS_ACCESS_KEY_ID=AKIASTANDINSTATIC01 AWS_SECRET_ACCESS_KEY=static-secret-0001 \
    AWS_SESSION_TOKEN=env-session-token run ir-queue depth sqs://envq
is "$rc:$out" "0:7${TAB}3" "SQS with environment credentials: signature verified"
is "$(jq -r 'select(.ev == "sqs" and .key == "AKIASTANDINSTATIC01") | "\(.ok) \(.token)"' "$LOG" | sort -u)" \
    "true env-session-token" "AWS_SESSION_TOKEN sent and signed"
AWS_ACCESS_KEY_ID=AKIASTANDINSTATIC01 AWS_SECRET_ACCESS_KEY=wrong-secret-0001 \
    run ir-queue depth sqs://envq
like "$errout" "SQS GetQueueUrl on queue sqs://envq: SignatureDoesNotMatch: signature" \
    "SQS with a wrong secret: refused by the verifier, said clearly"
is "$rc" 2 "ir-queue: refused credentials are a permanent error (exit 2)"
ok "$(printf '%s' "$errout" | grep -q wrong-secret && echo 1 || echo 0)" \
    "the secret is not in the message"

dead=$(free_port)
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$dead run ir-store ls s3://bkt
like "$errout" "no AWS credentials.*instance metadata service at http://127.0.0.1:$dead" \
    "an unreachable metadata service: says where it looked"
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$dead run ir-aws whoami
is "$rc" 2 "ir-aws: no credentials is a permanent error (exit 2)"

done_testing
