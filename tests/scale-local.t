#!/bin/sh
# scale-local.t: ir-scale's local actuator with the real worker
# (ir-classify -w) on the course set. With -M 15 a burst of 100 requests
# (ir-submit | ir-poll) makes the scaler decide 15 and the pool reach
# exactly 15 workers, every answer is right, and the pool goes back to 0
# by the workers' own idle exit. Then kill -9 of the scaler and of three
# workers mid-burst: the next run counts the true number of workers and
# nothing is lost. Then a persistent worker (-m 1 starts slot 1 with -P)
# stays after the others have gone.
. "$(dirname "$0")/lib.sh"
DATA=$T_TOP/tests/data/cse546
[ -d "$DATA/face_images_100" ] || skip_all "tests/data/cse546 missing"
for t in ir-scale ir-classify ir-submit ir-poll ir-enroll; do
	[ -x "$IR_BIN/$t" ] || skip_all "$t not built"
done

export IR_STATE=$T_TMP/st
unset IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE IR_GALLERY IR_SCALE_STATE
S=$IR_STATE/scale
LOG=$T_TMP/scale.log
# The gallery: the course images enrolled under their labels, so the test
# checks the plumbing (each answer comes back to its own request through
# queue, store and a worker that may be killed), not the model's accuracy.
GAL=$T_TMP/course.irg
tail -n +2 "$DATA/labels_100.csv" | tr -d '\r' |
    awk -F, -v d="$DATA/face_images_100" '{print d "/" $1 ".jpg," $2}' > "$T_TMP/enroll.csv"
ir-enroll -g "$GAL" import "$T_TMP/enroll.csv" >/dev/null 2>"$T_TMP/enroll.err" ||
    { sed 's/^/# /' "$T_TMP/enroll.err"; echo "Bail out! cannot enroll the course set"; exit 1; }
# One message and one engine per worker (the seed's one request per
# instance); 5 s leases so a killed worker's messages come back soon. The
# gallery path (under T_TMP) marks this test's workers in ps.
WCMD="ir-classify -w -b 1 -T 1 --visibility 5 -g $GAL"

# our live workers, counted from /proc independently of ir-scale
live() { pgrep -f -- "^ir-classify -w .*$GAL" | wc -l; }
killall_workers() {
	for f in "$S"/workers/*.pid; do
		[ -f "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	pkill -9 -f -- "^ir-classify -w .*$GAL" 2>/dev/null
}
at_exit killall_workers
SP=
start_scaler() {
	ir-scale -l 0.1 -w "$WCMD" "$@" 2>>"$LOG" &
	SP=$!
	at_exit "kill -9 $SP"
}
stop_scaler() { kill "$SP" 2>/dev/null; wait "$SP" 2>/dev/null; }
# sampler: the highest number of live workers seen, into $1, until $2 exists
sample() {
	max=0
	while [ ! -e "$2" ]; do
		n=$(live)
		[ "$n" -gt "$max" ] && { max=$n; echo "$max" > "$1"; }
		sleep 0.1
	done
}
# wait_live N SECONDS: until exactly N workers live; 0 if reached
wait_live() {
	_end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -le "$_end" ]; do
		[ "$(live)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
answers() { awk -F'\t' '{n=$1; sub(/.*\//, "", n); sub(/\.jpg$/, "", n); print n "," $2}' "$1" | sort; }
expected() { tail -n +2 "$DATA/labels_100.csv" | tr -d '\r' | sort; }

# ---- 1. a burst of 100 with -M 15 ----
# (idle times of a few seconds: on a loaded machine a worker may wait a
# while for the CPU before it takes its first message)
start_scaler -M 15 -c 30 -i 2
echo 0 > "$T_TMP/max1"
sample "$T_TMP/max1" "$T_TMP/stop1" &
SAMPLER=$!
ir-submit "$DATA"/face_images_100/*.jpg > "$T_TMP/ids1"
ir-poll -t 300 < "$T_TMP/ids1" > "$T_TMP/ans1"
is "$?" 0 "burst: ir-poll got all 100 answers"
touch "$T_TMP/stop1"; wait "$SAMPLER"
is "$(answers "$T_TMP/ans1")" "$(expected)" "burst: every answer is correct"
grep -q 'desired=15 action=out' "$LOG"; ok $? "burst: the scaler decided 15"
is "$(grep -o 'desired=[0-9]*' "$LOG" | sort -t= -k2 -n | tail -1)" desired=15 "burst: never desired more than 15"
grep -q 'workers=15 desired=15 action=hold' "$LOG"; ok $? "burst: the scaler counted 15 workers"
is "$(cat "$T_TMP/max1")" 15 "burst: the pool reached exactly 15 workers (counted from /proc)"
wait_live 0 30; ok $? "burst: the pool returns to 0 after the idle time"
sleep 0.5
like "$(tail -1 "$LOG")" 'workers=0 desired=0 action=hold$' "burst: the scaler sees 0 workers"
is "$(grep -c 'action=in' "$LOG")" 0 "burst: workers left by idling out, not stopped by the backstop"
is "$(ls "$S/workers" | wc -l)" 0 "burst: no pid file left behind"
stop_scaler

# ---- 2. kill -9 of the scaler and of three workers mid-burst ----
: > "$LOG"
start_scaler -M 15 -c 30 -i 5
ir-submit "$DATA"/face_images_100/*.jpg > "$T_TMP/ids2"
for i in $(seq 1 300); do grep -q 'workers=15' "$LOG" && break; sleep 0.1; done
grep -q 'workers=15' "$LOG"; ok $? "kill: 15 workers up"
kill -9 "$SP"; wait "$SP" 2>/dev/null
killed=0
for f in $(ls "$S"/workers/*.pid | head -3); do
	kill -9 "$(cut -d' ' -f1 "$f")" && killed=$((killed + 1))
done
is "$killed" 3 "kill: scaler and three workers killed with -9"
sleep 0.2
n=$(live)
run ir-scale -n -M 15 -w "$WCMD"
like "$out" "workers=$n " "kill: the next run counts the true number of workers ($n)"
is "$n" 12 "kill: which is 12 (workers idle out only after 5 s)"
: > "$LOG"
start_scaler -M 15 -c 30 -i 1
ir-poll -t 300 < "$T_TMP/ids2" > "$T_TMP/ans2"
is "$?" 0 "kill: ir-poll got all 100 answers"
is "$(answers "$T_TMP/ans2")" "$(expected)" "kill: nothing lost, every answer correct"
like "$(grep -m1 '^ir-scale: visible' "$LOG")" " workers=12 " "kill: the restarted loop's first decision counts 12 too"
wait_live 0 30; ok $? "kill: back to 0 workers"
stop_scaler

# ---- 3. a persistent worker ----
: > "$LOG"
start_scaler -m 1 -M 3 -c 30 -i 1
wait_live 1 30; ok $? "persistent: -m 1 starts one worker on an empty queue"
ir-submit "$DATA"/face_images_100/test_0[0-5].jpg > "$T_TMP/ids3"
ir-poll -t 120 < "$T_TMP/ids3" > "$T_TMP/ans3"
is "$(answers "$T_TMP/ans3")" "$(expected | head -6)" "persistent: answers correct"
grep -q 'desired=3 action=out' "$LOG"; ok $? "persistent: scaled out to 3"
sleep 3
wait_live 1 30; ok $? "persistent: back to one worker, not zero"
pid=$(cut -d' ' -f1 "$S/workers/1.pid")
like "$(tr '\0' ' ' < /proc/$pid/cmdline)" "ir-classify -w .* -P" "persistent: worker 1 runs with -P"
stop_scaler
run ir-scale -m 0 -M 0 -c 0 -w "$WCMD"
like "$errout" 'workers=1 desired=0 action=in stopped=1' "drain: -M 0 -c 0 stops it"
wait_live 0 30; ok $? "drain: it exits on SIGTERM"
run ir-scale -n -M 0
like "$out" 'workers=0 ' "drain: nothing left"

# ---- 4. busy workers are never stopped; a reused pid is no worker ----
# A stand-in worker that says busy (1), idle (2) or nothing (3) in its
# state file ($IR_WORKER_STATE) and exits on SIGTERM.
FW=$T_TMP/fakew
cat > "$FW" <<'SH'
#!/bin/sh
case $IR_WORKER_ID in 1) echo busy > "$IR_WORKER_STATE" ;; 2) echo idle > "$IR_WORKER_STATE" ;; esac
trap 'exit 0' TERM
while :; do sleep 0.1; done
SH
chmod +x "$FW"
Q=spool:$IR_STATE/requests
ir-queue send "$Q" a b c >/dev/null
run ir-scale -M 3 -w "$FW"
like "$errout" 'workers=0 desired=3 action=out started=3' "state: three stand-in workers started"
sleep 0.3
ir-queue -n 10 -v 600 receive "$Q" | cut -f1 | xargs ir-queue delete "$Q"
run ir-scale -m 1 -M 3 -c 0 -w "$FW"
like "$errout" 'workers=3 desired=1 action=in stopped=2' "state: scale in to 1 stops two"
ok $([ -f "$S/workers/2.stop" ] && [ -f "$S/workers/3.stop" ] && [ ! -f "$S/workers/1.stop" ] && echo 0 || echo 1) \
    "state: the idle and the silent worker were stopped, the busy one kept"
run ir-scale -m 0 -M 0 -c 0 -w "$FW"
like "$errout" 'workers=1 desired=0 action=in stopped=0' "state: a busy worker is never stopped"
sleep 0.5
p1=$(cut -d' ' -f1 "$S/workers/1.pid")
kill -0 "$p1"; ok $? "state: the busy worker still runs"
kill "$p1"
# a pid file naming a live process with another start time: a reused pid
sleep 0.3
echo "$$ 12345" > "$S/workers/7.pid"
run ir-scale -n -M 3 -w "$FW"
like "$out" 'workers=0 ' "reused pid: not counted as a worker"
ok $([ -f "$S/workers/7.pid" ] && echo 0 || echo 1) "reused pid: -n leaves the state folder alone"
run ir-scale -M 3 -w "$FW"
like "$errout" 'workers=0 desired=0 action=hold' "reused pid: a real run does not count it either"
ok $([ ! -f "$S/workers/7.pid" ] && echo 0 || echo 1) "reused pid: and removes its stale file"

# a worker that cannot run is not restarted at every tick (backoff)
timeout 3 ir-scale -l 0.05 -m 2 -M 2 -w "$T_TMP/no-such-worker" -S "$T_TMP/bo" 2> "$T_TMP/bo.err"
like "$(cat "$T_TMP/bo.err")" 'exited with status 127 \(a restart will not help\)' "backoff: the failure is logged"
starts=$(grep -c 'started=2' "$T_TMP/bo.err")
ok $([ "$starts" -ge 1 ] && [ "$starts" -le 3 ] && echo 0 || echo 1) "backoff: $starts starts in 3 s at a 0.05 s interval"
done_testing
