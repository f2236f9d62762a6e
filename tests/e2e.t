#!/bin/sh
# e2e.t: the whole local system end to end, as the course's workload
# generator drives it: scripts/ir-up (ir-serve, workers, spool queues and
# folder stores in a temporary state folder) on a free port, 100
# concurrent multipart uploads (field inputFile) of the CSE546 test set,
# 100 answers that must all equal labels_100.csv. Then the same with one
# worker killed (-9) while it holds messages: the leases expire, the
# messages are redelivered, and still all 100 answers are right.
. "$(dirname "$0")/lib.sh"
. "$T_TOP/tests/e2e-lib.sh"
e2e_gallery

[ -x "$IR_BIN/ir-serve" ] && [ -x "$IR_BIN/ir-classify" ] ||
	skip_all "bin/ir-serve or bin/ir-classify not built"
plan 12

# --- 1. 100 concurrent uploads --------------------------------------------
up_start "$T_TMP/run1" -w 2 -v 5
ok $? "ir-up starts and answers /healthz"
burst "$URL" "$T_TMP/ans1"
is "$(codes "$T_TMP/ans1")" "100 200" "100 uploads, 100 answers, all 200"
is "$(wrong "$T_TMP/ans1")" "" "100 answers equal labels_100.csv"
m=$(curl -s "$URL/metrics")
like "$m" 'ir_http_requests_total\{code="200"\} 1[0-9][0-9]' \
    "metrics count the answers"
n=$(ls "$T_TMP/run1/output/results" | wc -l)
is "$n" 100 "one stored result per request"
is "$(ir-queue depth "spool:$T_TMP/run1/requests" | tr '\t' ' ')" "0 0" \
    "every request was deleted (depth 0 visible, 0 in flight)"
kids=$(pgrep -P "$UP_PID" -d ' ')
up_stop
ok $? "ir-up stops on SIGTERM (exit 0)"
left=0
for p in $kids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
ok $([ "$(echo $kids | wc -w)" -ge 4 ] && [ $left = 0 ]; echo $?) \
    "no process left behind ($(echo $kids | wc -w) children, $left alive)"

# --- 2. kill -9 a worker holding messages ---------------------------------
# One worker, so the one killed is the one holding the batch; ir-up starts
# a replacement; the dead worker's leases (5 s) expire and come back.
up_start "$T_TMP/run2" -w 1 -v 5
ok $? "ir-up starts again (one worker)"
burst_bg "$URL" "$T_TMP/ans2"
killed=
for i in $(seq 1 200); do
	inflight=$(ir-queue depth "spool:$T_TMP/run2/requests" 2>/dev/null | cut -f2)
	if [ "${inflight:-0}" -gt 0 ]; then
		killed=$(pgrep -P "$UP_PID" -x ir-classify | head -1)
		[ -n "$killed" ] && kill -9 "$killed" && break
	fi
	sleep 0.05
done
burst_wait
ok $([ -n "$killed" ]; echo $?) "a worker holding messages was killed (-9)"
is "$(wrong "$T_TMP/ans2")" "" \
    "still 100 answers equal to labels_100.csv"
like "$(cat "$T_TMP/run2/log/workers.log")" 'redelivered' \
    "the killed worker's messages were redelivered"
up_stop
