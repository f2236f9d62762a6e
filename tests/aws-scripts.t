#!/bin/sh
# aws-scripts.t: the AWS scripts (ir-aws-setup, ir-aws-deploy,
# ir-aws-teardown, ir-ec2-actuator) and ir-scale's exec actuator on EC2,
# run with the real aws CLI pointed at a recorder on 127.0.0.1
# (tests/tools/aws-recorder.py) with dummy credentials. The recorder logs
# every API call with its parameters and answers from a small in-memory
# model; this test checks the calls, in order, and their parameters, and
# that -n makes none.
. "$(dirname "$0")/lib.sh"
# Debian's awscli (what install-deps installs) before any other on PATH
if [ -x /usr/bin/aws ]; then AWSCLI=/usr/bin/aws
elif command -v aws >/dev/null; then AWSCLI=$(command -v aws)
else skip_all "no aws CLI (apt-get install awscli)"; fi
command -v jq >/dev/null || skip_all "no jq"
export IR_AWS_CLI=$AWSCLI
export AWS_ACCESS_KEY_ID=AKIDRECORDERTEST AWS_SECRET_ACCESS_KEY=recorder-dummy-secret
export AWS_CONFIG_FILE=$T_TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$T_TMP/aws-credentials
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION IR_REQUEST_QUEUE \
    IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE IR_AWS_AMI IR_AWS_PREFIX 2>/dev/null || true

LOG=$T_TMP/calls.jsonl
python3 "$T_TOP/tests/tools/aws-recorder.py" "$T_TMP/port" "$LOG" &
REC=$!
at_exit "kill $REC"
for i in $(seq 1 100); do [ -s "$T_TMP/port" ] && break; sleep 0.05; done
[ -s "$T_TMP/port" ] || { echo "Bail out! recorder did not start"; exit 1; }
PORT=$(cat "$T_TMP/port")
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
URLBASE=http://127.0.0.1:$PORT/000000000000

ncalls() { [ -f "$LOG" ] && wc -l < "$LOG" | tr -d ' ' || echo 0; }
mark() { MARK=$(ncalls); }
# calls since the mark: "svc Action" lines
calls() { tail -n +$((MARK + 1)) "$LOG" | jq -r '.svc + " " + .action'; }
# call N (1-based, since the mark) as JSON
callj() { tail -n +$((MARK + 1)) "$LOG" | sed -n "${1}p"; }
param() { callj "$1" | jq -r ".params[\"$2\"] // empty"; }
lines() { printf '%s\n' "$@"; }

# ---- -n: nothing is called ----
mark
run ir-aws-setup -n -p t1
is "$rc" 0 "setup -n exits 0"
like "$out" "^aws --region us-east-1 sqs create-queue --queue-name t1-req-dlq" "setup -n prints the aws commands"
is "$(printf '%s\n' "$out" | grep -c '^aws ')" 6 "setup -n: six commands"
run ir-aws-deploy -n -p t1 -a ami-0abc
like "$out" "ec2 run-instances --image-id ami-0abc" "deploy -n prints run-instances"
like "$out" "#   IR_SCALE_ARGS=-a exec:ir-ec2-actuator -m 0 -M 19" "deploy -n shows the user data"
run ir-aws-teardown -n -p t1
like "$out" "aws --region us-east-1 s3api delete-bucket --bucket t1-out-bucket" "teardown -n prints delete-bucket"
run ir-ec2-actuator -n -a ami-0abc start 1
like "$out" "Value=app-tier-instance-1" "actuator -n prints the tagged run-instances"
run ir-ec2-actuator -n stop 1
like "$out" "ec2 terminate-instances" "actuator -n prints terminate-instances"
is "$(ncalls)" 0 "-n made no API call at all"

# ---- setup ----
mark
run ir-aws-setup -p t1
is "$rc" 0 "setup exits 0"
is "$(calls)" "$(lines 'sqs CreateQueue' 'sqs GetQueueAttributes' 'sqs CreateQueue' 'sqs CreateQueue' 's3 CreateBucket' 's3 CreateBucket')" \
    "setup: DLQ, its ARN, request queue, response queue, two buckets, in order"
is "$(param 1 QueueName)" t1-req-dlq "setup: dead-letter queue first"
is "$(callj 1 | jq -r .params.Attributes.MessageRetentionPeriod)" 1209600 "setup: DLQ keeps messages 14 days"
is "$(callj 2 | jq -r '.params.AttributeNames | join(",")')" QueueArn "setup: asks for the DLQ's ARN"
is "$(param 2 QueueUrl)" "$URLBASE/t1-req-dlq" "setup: of the URL it got back"
is "$(param 3 QueueName)" t1-req-queue "setup: then the request queue"
is "$(callj 3 | jq -r '.params.Attributes.RedrivePolicy | fromjson | .deadLetterTargetArn + " " + .maxReceiveCount')" \
    "arn:aws:sqs:us-east-1:000000000000:t1-req-dlq 5" "setup: redrive policy to the DLQ's ARN after 5 receives"
is "$(callj 3 | jq -r .params.Attributes.VisibilityTimeout)" 60 "setup: request queue visibility timeout"
is "$(param 4 QueueName)" t1-resp-queue "setup: response queue"
is "$(param 5 Bucket) $(param 6 Bucket)" "t1-in-bucket t1-out-bucket" "setup: input and output buckets"
is "$(param 5 LocationConstraint)" "" "setup: no location constraint in us-east-1"
is "$out" "$(lines AWS_REGION=us-east-1 IR_REQUEST_QUEUE=$URLBASE/t1-req-queue IR_RESPONSE_QUEUE=$URLBASE/t1-resp-queue IR_INPUT_STORE=s3://t1-in-bucket IR_OUTPUT_STORE=s3://t1-out-bucket)" \
    "setup prints the URLs as an environment file"
printf '%s\n' "$out" > "$T_TMP/ir.env"

run ir-aws-setup -n -r eu-west-1 -p t2
like "$out" "^aws --region eu-west-1 s3api create-bucket --bucket t2-in-bucket --create-bucket-configuration LocationConstraint=eu-west-1\$" \
    "setup -r: buckets get the region's location constraint"

# settings from an environment file, flags above them
cat > "$T_TMP/aws.env" <<EOF
# settings for the test
IR_AWS_PREFIX=t1
IR_AWS_AMI="ami-0fromfile"
IR_AWS_INSTANCE_TYPE=t3.small
IR_AWS_KEY_NAME=mykey
IR_AWS_SECURITY_GROUPS=sg-1 sg-2
IR_AWS_WORKER_PROFILE=ir-worker-profile
IR_WORKER_IDLE=7
EOF
cat "$T_TMP/ir.env" >> "$T_TMP/aws.env"

# ---- deploy ----
mark
run ir-aws-deploy -e "$T_TMP/aws.env" -a ami-0web -M 15
is "$rc" 0 "deploy exits 0"
is "$(calls)" "$(lines 'ec2 RunInstances' 'ec2 DescribeInstances' 'ec2 DescribeInstances')" \
    "deploy: run the web tier, wait until running, read its address"
is "$(param 1 ImageId) $(param 1 InstanceType) $(param 1 MinCount) $(param 1 MaxCount)" "ami-0web t3.small 1 1" \
    "deploy: -a AMI over the file's, the file's instance type, one instance"
is "$(param 1 TagSpecification.1.Tag.1.Key)=$(param 1 TagSpecification.1.Tag.1.Value)" "Name=web-instance" "deploy: tagged Name=web-instance"
is "$(param 1 KeyName) $(param 1 SecurityGroupId.1) $(param 1 SecurityGroupId.2)" "mykey sg-1 sg-2" "deploy: key and security groups"
ud=$(param 1 UserData)
like "$ud" "^IR_REQUEST_QUEUE=$URLBASE/t1-req-queue\$" "deploy: user data carries the request queue URL"
like "$ud" "^IR_RESPONSE_QUEUE=$URLBASE/t1-resp-queue\$" "deploy: and the response queue URL"
like "$ud" "^IR_SCALE_ARGS=-a exec:ir-ec2-actuator -m 0 -M 15\$" "deploy: the scaler's band (-M 15) and actuator"
like "$ud" "^IR_AWS_WORKER_PROFILE=ir-worker-profile\$" "deploy: the workers' settings for the actuator"
like "$ud" "systemctl enable --now ir-serve.service ir-scale.timer" "deploy: starts ir-serve and the scaler's timer"
WEB=$(callj 2 | jq -r '.params["InstanceId.1"]')
like "$WEB" '^i-' "deploy: waits on the new instance's id"
like "$out" "^web-instance	$WEB	http://192\.0\.2\.[0-9]+:8000/\$" "deploy prints the web tier's address"

# ---- the EC2 actuator ----
mark
run ir-ec2-actuator -e "$T_TMP/aws.env" start 1 2
is "$rc" 0 "actuator start exits 0"
is "$out" "$(lines 1 2)" "actuator start prints the numbers started"
is "$(calls)" "$(lines 'ec2 RunInstances' 'ec2 RunInstances')" "actuator start: one RunInstances per worker (the env file has the queue URL)"
for k in 1 2; do
	is "$(param $k TagSpecification.1.Tag.1.Value)" "app-tier-instance-$k" "worker $k tagged Name=app-tier-instance-$k"
	is "$(param $k MinCount)/$(param $k MaxCount)/$(param $k ImageId)" "1/1/ami-0fromfile" "worker $k: count 1, the file's AMI"
	is "$(param $k InstanceInitiatedShutdownBehavior)" terminate "worker $k: an idle power-off terminates it"
	is "$(param $k IamInstanceProfile.Name)" ir-worker-profile "worker $k: the workers' instance profile"
	ud=$(param $k UserData)
	like "$ud" "^IR_REQUEST_QUEUE=$URLBASE/t1-req-queue\$" "worker $k: user data has the request queue URL"
	like "$ud" "^IR_INPUT_STORE=s3://t1-in-bucket\$" "worker $k: and the input store"
	like "$ud" "^IR_OUTPUT_STORE=s3://t1-out-bucket\$" "worker $k: and the output store"
	like "$ud" "^IR_WORKER_ARGS=-i 7\$" "worker $k: idle time from the file"
	like "$ud" "^systemctl start ir-worker@$k.service\$" "worker $k: starts ir-worker@$k"
done

mark
run ir-ec2-actuator -e "$T_TMP/aws.env" list
is "$out" "$(lines 1 2)" "actuator list prints the running workers' numbers"
is "$(calls)" "ec2 DescribeInstances" "actuator list: one DescribeInstances"
is "$(param 1 Filter.1.Name)=$(param 1 Filter.1.Value.1)" "tag:Name=app-tier-instance-*" "list: filter on the Name tag"
is "$(param 1 Filter.2.Name)=$(param 1 Filter.2.Value.1),$(param 1 Filter.2.Value.2)" "instance-state-name=pending,running" "list: filter on the state"

mark
run ir-ec2-actuator -e "$T_TMP/aws.env" stop 2
is "$rc" 0 "actuator stop exits 0"
is "$(calls)" "$(lines 'ec2 DescribeInstances' 'ec2 TerminateInstances')" "actuator stop: find, then terminate"
is "$(param 1 Filter.1.Value.1)" "app-tier-instance-2" "stop: looks up app-tier-instance-2 only"
W2=$(jq -r 'select(.action=="RunInstances") | .params.UserData' "$LOG" >/dev/null; \
    run ir-ec2-actuator -e "$T_TMP/aws.env" list; echo "$out")
is "$W2" 1 "after stop 2 only worker 1 is listed"
T=$(jq -r 'select(.action=="TerminateInstances") | .params["InstanceId.1"]' "$LOG" | tail -1)
like "$T" '^i-0+[0-9a-f]+$' "stop: terminates an instance id"
is "$(jq -r 'select(.action=="TerminateInstances") | .params | keys | map(select(startswith("InstanceId"))) | length' "$LOG" | tail -1)" 1 "stop: exactly one instance terminated"

# ---- ir-scale with the EC2 actuator ----
if command -v ir-scale >/dev/null && command -v ir-queue >/dev/null; then
	Q=spool:$T_TMP/q
	ir-queue send "$Q" a b c d >/dev/null
	mark
	run ir-scale -a "exec:ir-ec2-actuator -e $T_TMP/aws.env" -q "$Q" -S "$T_TMP/scale"
	is "$rc" 0 "ir-scale -a exec:ir-ec2-actuator exits 0"
	like "$errout" "visible=4 inflight=0 workers=1 desired=4 action=out started=3" "ir-scale: 1 worker listed, 3 more"
	is "$(calls)" "$(lines 'ec2 DescribeInstances' 'ec2 RunInstances' 'ec2 RunInstances' 'ec2 RunInstances')" "ir-scale: list, then three RunInstances"
	is "$(param 2 TagSpecification.1.Tag.1.Value) $(param 3 TagSpecification.1.Tag.1.Value) $(param 4 TagSpecification.1.Tag.1.Value)" \
	    "app-tier-instance-2 app-tier-instance-3 app-tier-instance-4" "ir-scale: the lowest free numbers"
else
	ok 1 "ir-scale and ir-queue built"
fi

# ---- teardown ----
mark
run ir-aws-teardown -e "$T_TMP/aws.env"
is "$rc" 0 "teardown exits 0"
is "$(calls)" "$(lines 'ec2 DescribeInstances' 'ec2 TerminateInstances' 'sqs GetQueueUrl' 'sqs DeleteQueue' 'sqs GetQueueUrl' 'sqs DeleteQueue' 'sqs GetQueueUrl' 'sqs DeleteQueue' 's3 HeadBucket' 's3 ListObjectsV2' 's3 DeleteBucket' 's3 HeadBucket' 's3 ListObjectsV2' 's3 DeleteBucket')" \
    "teardown: instances, three queues, two buckets (emptied first), in order"
is "$(param 1 Filter.1.Value.1),$(param 1 Filter.1.Value.2)" "web-instance,app-tier-instance-*" "teardown: finds the web tier and the workers"
nterm=$(callj 2 | jq '.params | keys | map(select(startswith("InstanceId"))) | length')
is "$nterm" 5 "teardown: terminates all five live instances (web + workers 1-4)"
is "$(param 4 QueueUrl) $(param 6 QueueUrl) $(param 8 QueueUrl)" "$URLBASE/t1-req-queue $URLBASE/t1-resp-queue $URLBASE/t1-req-dlq" \
    "teardown: deletes the request, response and dead-letter queues"
is "$(param 11 Bucket) $(param 14 Bucket)" "t1-in-bucket t1-out-bucket" "teardown: deletes both buckets"
mark
run ir-aws-teardown -e "$T_TMP/aws.env"
is "$rc" 0 "teardown again: nothing left is not an error"
like "$errout" "no queue t1-req-queue" "and says what was missing"
is "$(calls | grep -c 'Delete\|Terminate')" 0 "teardown again: deletes nothing"

# ---- errors ----
run ir-aws-deploy -p t1
is "$rc" 2 "deploy without an AMI: exit 2"
like "$errout" "no AMI" "and says so"
run ir-ec2-actuator start 0
is "$rc" 2 "actuator: worker number 0 refused"
run ir-ec2-actuator start x1
is "$rc" 2 "actuator: a non-number refused"
run ir-ec2-actuator frobnicate
is "$rc" 2 "actuator: unknown verb is a usage error"
printf 'IR_AWS_AMI=ami-1\nthis is not an assignment\n' > "$T_TMP/bad.env"
run ir-aws-setup -e "$T_TMP/bad.env"
is "$rc" 2 "a bad environment file: exit 2"
like "$errout" "not NAME=VALUE" "and names the line"
printf 'X=$(touch %s/pwned)\n' "$T_TMP" > "$T_TMP/evil.env"
run ir-aws-setup -n -e "$T_TMP/evil.env"
ok $([ ! -e "$T_TMP/pwned" ] && echo 0 || echo 1) "the environment file is never run by a shell"
run ir-aws-setup -m 5 -M 3
is "$rc" 2 "band min above max: exit 2"
kill "$REC"; wait "$REC" 2>/dev/null
run ir-ec2-actuator -e "$T_TMP/aws.env" list
is "$rc" 75 "endpoint down: the actuator exits 75 (worth retrying)"
done_testing
