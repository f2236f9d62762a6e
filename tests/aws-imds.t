#!/bin/sh
# aws-imds.t: credentials from the EC2 instance metadata service (IMDSv2),
# through a stand-in on 127.0.0.1 (tests/servers/imds-standin.py) reached
# the SDKs' standard way, AWS_EC2_METADATA_SERVICE_ENDPOINT. The stand-in
# is also a small S3 listing endpoint that verifies each request's
# signature itself, so the test sees which credentials signed what: the
# first set (expiring inside the five-minute refresh margin) is used once,
# then refreshed, and the fresh set (token included) used from then on.
. "$(dirname "$0")/lib.sh"

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
    AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS \
    AWS_EC2_METADATA_DISABLED AWS_DEFAULT_REGION
LOG=$T_TMP/imds.log
python3 "$T_TOP/tests/servers/imds-standin.py" "$LOG" >"$T_TMP/port" &
pid=$!
at_exit "kill $pid"
i=0
while [ ! -s "$T_TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$T_TMP/port")
[ -n "$port" ] || { echo "Bail out! the stand-in did not start"; exit 1; }
export HOME=$T_TMP AWS_SHARED_CREDENTIALS_FILE=$T_TMP/none \
    AWS_CONFIG_FILE=$T_TMP/none AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$port \
    AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port IR_AWS_TIMEOUT=10

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
like "$out" "^ASIASTANDIN[0-9]+${T_TAB:-	}instance metadata \\(role ir-worker-role\\)	[0-9]+$" \
    "whoami: key id, source and expiry, no secret"
ok "$(printf '%s' "$out$errout" | grep -q standin-secret && echo 1 || echo 0)" \
    "the secret is never printed"

AWS_EC2_METADATA_DISABLED=true run ir-store ls s3://bkt
like "$errout" "no AWS credentials.*instance metadata is disabled" \
    "AWS_EC2_METADATA_DISABLED=true: not asked"
is "$(ev creds .n)" "1 2 3 " "(the whoami above fetched once; this did not)"

dead=$(free_port)
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$dead run ir-store ls s3://bkt
like "$errout" "no AWS credentials.*instance metadata service at http://127.0.0.1:$dead" \
    "an unreachable metadata service: says where it looked"
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$dead run ir-aws whoami
is "$rc" 2 "ir-aws: no credentials is a permanent error (exit 2)"

done_testing
