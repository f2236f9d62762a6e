#!/bin/sh
# scale-up.t: scripts/ir-up with the scaler (-m MIN -M MAX) instead of a
# fixed pool: the course's 100 concurrent uploads are all answered right,
# the pool grows to MAX and shrinks back to MIN (a persistent worker) once
# idle, and stopping ir-up stops the scaler and every worker it started.
. "$(dirname "$0")/lib.sh"
. "$T_TOP/tests/e2e-lib.sh"
for t in ir-serve ir-classify ir-scale ir-enroll; do
	[ -x "$IR_BIN/$t" ] || skip_all "$t not built"
done
command -v curl >/dev/null || skip_all "no curl"

# the course images enrolled under their labels (see scale-local.t)
GAL=$T_TMP/course.irg
tail -n +2 "$E2E_DATA/labels_100.csv" | tr -d '\r' |
    awk -F, -v d="$E2E_DATA/face_images_100" '{print d "/" $1 ".jpg," $2}' > "$T_TMP/enroll.csv"
ir-enroll -g "$GAL" import "$T_TMP/enroll.csv" >/dev/null 2>&1 ||
    { echo "Bail out! cannot enroll the course set"; exit 1; }
export IR_GALLERY=$GAL
unset IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE IR_SCALE_STATE

ST=$T_TMP/up
# live local workers of this ir-up, from the scaler's pid files and /proc
live() {
	n=0
	for f in "$ST"/scale/workers/*.pid; do
		[ -f "$f" ] || continue
		p=$(cut -d' ' -f1 "$f")
		s=$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) || continue
		[ -n "$s" ] && [ "$s" != Z ] && n=$((n + 1))
	done
	echo "$n"
}
wait_live() {
	for _i in $(seq 1 $(($2 * 5))); do [ "$(live)" = "$1" ] && return 0; sleep 0.2; done
	return 1
}

up_start "$ST" -m 1 -M 4 -i 1 -v 5
ok $? "ir-up -m 1 -M 4 starts"
wait_live 1 30; ok $? "one persistent worker before any request"
burst "$URL" "$T_TMP/ans"
is "$(codes "$T_TMP/ans")" "100 200" "100 uploads, 100 answers, all 200"
# the answers as "test_00,Paul" lines, sorted, against labels_100.csv
got=$(for f in "$T_TMP"/ans/test_??; do cat "$f"; echo; done | tr ':' ',' | sort)
is "$got" "$(tail -n +2 "$E2E_DATA/labels_100.csv" | tr -d '\r' | sort)" "100 answers equal labels_100.csv"
grep -q 'workers=4 desired=4' "$ST.err"; ok $? "the scaler ran 4 workers (its log is in ir-up's)"
is "$(grep -o 'desired=[0-9]*' "$ST.err" | sort -t= -k2 -n | tail -1)" desired=4 "never more than -M 4"
wait_live 1 30; ok $? "back to the one persistent worker once idle"
pids=$(cat "$ST"/scale/workers/*.pid 2>/dev/null | cut -d' ' -f1)
up_stop
is "$?" 0 "ir-up stops on SIGTERM"
left=0
for p in $pids; do
	s=$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) && [ "$s" != Z ] && left=$((left + 1))
done
is "$left" 0 "no worker left behind"
like "$(cat "$ST.err")" 'drain: stopping 1 worker' "the scaler drained its workers"
done_testing
