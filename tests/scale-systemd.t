#!/bin/sh
# scale-systemd.t: ir-scale's systemd and exec actuators against recording
# stand-ins: a `systemctl` on PATH that logs its argv and answers
# list-units from a state file, and an actuator command that does the
# same. Checks what is started and stopped (lowest free numbers first,
# highest stopped first, never one already stopping), the band, the
# cooldown kept across one-shot runs, -n, and the exit codes.
. "$(dirname "$0")/lib.sh"
command -v ir-scale >/dev/null || skip_all "no ir-scale"
SB=$T_TMP/sbin
mkdir -p "$SB"
export SC_LOG=$T_TMP/systemctl.log SC_STATE=$T_TMP/units
: > "$SC_LOG"; : > "$SC_STATE"
cat > "$SB/systemctl" <<'SH'
#!/bin/sh
# stand-in: log argv; units in $SC_STATE as "NAME ACTIVESTATE" lines
echo "$*" >> "$SC_LOG"
[ -n "${SC_FAIL:-}" ] && { echo "Failed to connect to bus" >&2; exit 1; }
case $1 in
list-units)
	while read -r u s; do
		[ -n "$u" ] && printf '%s loaded %s running ir app-tier worker\n' "$u" "$s"
	done < "$SC_STATE" ;;
start)
	shift
	for u; do
		case $u in --*) continue ;; esac
		grep -q "^$u " "$SC_STATE" || echo "$u active" >> "$SC_STATE"
	done ;;
stop)
	shift
	for u; do
		case $u in --*) continue ;; esac
		sed -i "s/^$u active\$/$u deactivating/" "$SC_STATE"
	done ;;
*) echo "stand-in systemctl: unexpected $1" >&2; exit 1 ;;
esac
SH
chmod +x "$SB/systemctl"
PATH=$SB:$PATH

Q=spool:$T_TMP/q
S=$T_TMP/scale
send() { for i in $(seq 1 "$1"); do echo "{\"v\":1,\"id\":\"m$i\"}"; done | xargs -d '\n' ir-queue send "$Q" >/dev/null; }
units() { cut -d' ' -f1 "$SC_STATE" | tr '\n' ' ' | sed 's/ $//'; }
scale() { run ir-scale -a systemd -q "$Q" -S "$S" "$@"; }

send 5
scale -M 3
is "$rc" 0 "one decision exits 0"
like "$errout" '^ir-scale: visible=5 inflight=0 workers=0 desired=3 action=out started=3$' "log line: depth, workers, desired, action"
is "$(grep -c '^list-units ir-worker@\* --state=active,activating,deactivating --plain --no-legend' "$SC_LOG")" 1 "lists the template's instances"
is "$(grep '^start' "$SC_LOG")" "start ir-worker@1.service ir-worker@2.service ir-worker@3.service" "starts ir-worker@1..3 in one call"

: > "$SC_LOG"
scale -M 3
like "$errout" 'workers=3 desired=3 action=hold$' "next run sees 3 workers and holds"
is "$(grep -c '^start\|^stop' "$SC_LOG")" 0 "no start or stop on hold"

: > "$SC_LOG"
send 15
run ir-scale -n -a systemd -q "$Q" -S "$S"
is "$rc" 0 "-n exits 0"
is "$out" "visible=20 inflight=0 workers=3 desired=19 action=out start=16" "-n prints the decision; default max 19 for systemd"
is "$(grep -c '^start\|^stop' "$SC_LOG")" 0 "-n starts nothing"

# a gap and a unit that is stopping: the gap is filled, the stopping slot
# is not reused and does not count
printf 'ir-worker@1.service active\nir-worker@3.service active\nir-worker@2.service deactivating\n' > "$SC_STATE"
: > "$SC_LOG"
scale -M 4
like "$errout" 'workers=2 desired=4 action=out started=2' "a deactivating unit is not a worker"
is "$(grep '^start' "$SC_LOG")" "start ir-worker@4.service ir-worker@5.service" "new units take the lowest free numbers"

# scale in: queue empty, a cooldown first, kept across one-shot runs
ir-queue -n 10 -v 600 receive "$Q" | cut -f1 > "$T_TMP/h"
ir-queue -n 10 -v 600 receive "$Q" | cut -f1 >> "$T_TMP/h"
xargs ir-queue delete "$Q" < "$T_TMP/h"
is "$(ir-queue depth "$Q")" "$(printf '0\t0')" "queue drained"
printf 'ir-worker@1.service active\nir-worker@2.service active\nir-worker@3.service active\nir-worker@4.service active\n' > "$SC_STATE"
: > "$SC_LOG"
scale -M 4 -c 1
like "$errout" 'workers=4 desired=0 action=wait cooldown=1.0s' "empty queue: wait for the cooldown"
is "$(grep -c '^stop' "$SC_LOG")" 0 "nothing stopped during the cooldown"
grep -q '^below=1$' "$S/policy"; ok $? "the window is saved in the state folder"
sleep 1.1
scale -M 4 -c 1 -m 1
like "$errout" 'workers=4 desired=1 action=in stopped=3' "the next run, after the cooldown, stops down to min"
is "$(grep '^stop' "$SC_LOG")" "stop --no-block ir-worker@4.service ir-worker@3.service ir-worker@2.service" "highest numbers stopped first, without blocking"
is "$(units) | $(grep -c deactivating "$SC_STATE")" "ir-worker@1.service ir-worker@2.service ir-worker@3.service ir-worker@4.service | 3" "three units deactivating"
: > "$SC_LOG"
scale -M 4 -c 1 -m 1
like "$errout" 'workers=1 desired=1 action=hold' "stopping units are not stopped again"
is "$(grep -c '^stop' "$SC_LOG")" 0 "no second stop"

# a loop on a spool queue is woken by the queue, not only by its interval
: > "$SC_STATE"; : > "$SC_LOG"
ir-scale -a systemd -q "$Q" -S "$T_TMP/loop" -M 2 -l 60 2> "$T_TMP/loop.err" &
LP=$!
at_exit "kill $LP"
for i in $(seq 1 50); do grep -q 'action=hold' "$T_TMP/loop.err" && break; sleep 0.1; done
send 2
for i in $(seq 1 50); do grep -q '^start' "$SC_LOG" && break; sleep 0.1; done
is "$(grep '^start' "$SC_LOG")" "start ir-worker@1.service ir-worker@2.service" "loop -l 60: a new request wakes it at once"
kill -TERM "$LP"; wait "$LP"
is "$?" 0 "loop: SIGTERM ends it with exit 0"
ir-queue -n 10 -v 600 receive "$Q" | cut -f1 | xargs ir-queue delete "$Q"

# failures and usage
SC_FAIL=1 scale -M 3
is "$rc" 75 "systemctl failing: exit 75"
like "$errout" 'cannot count workers: systemctl.*exit 1' "and says why"
scale -m 5 -M 3
is "$rc" 2 "min above max: exit 2"
like "$errout" 'minimum 5 is above maximum 3' "and says why"
run ir-scale -a kubernetes -q "$Q" -S "$S"
is "$rc" 2 "unknown actuator: exit 2"
run ir-scale -q "$Q" -S "$S" extra
is "$rc" 2 "stray argument: exit 2"
like "$errout" '^usage: ir-scale' "usage line"
run ir-scale -l 0 -q "$Q" -S "$S"
is "$rc" 2 "interval 0 refused"

# the exec actuator: CMD list | start ID... | stop ID...
X=$T_TMP/act
export XA_LOG=$T_TMP/exec.log XA_STATE=$T_TMP/exec.ids
: > "$XA_LOG"; printf '2\n' > "$XA_STATE"
cat > "$X" <<'SH'
#!/bin/sh
echo "$*" >> "$XA_LOG"
[ "$1" = --region ] && shift 2
case $1 in
list) cat "$XA_STATE" ;;
start) shift; for i; do echo "$i" >> "$XA_STATE"; done ;;
stop) shift; for i; do sed -i "/^$i\$/d" "$XA_STATE"; done ;;
esac
SH
chmod +x "$X"
send 4
run ir-scale -a "exec:$X --region test" -q "$Q" -S "$T_TMP/xs" -M 19
like "$errout" 'workers=1 desired=4 action=out started=3' "exec: one listed, three more started"
is "$(sed -n 2p "$XA_LOG")" "--region test start 1 3 4" "exec: CMD's own arguments kept, lowest free ids"
ir-queue -n 10 -v 600 receive "$Q" | cut -f1 | xargs ir-queue delete "$Q"
run ir-scale -a "exec:$X --region test" -q "$Q" -S "$T_TMP/xs" -M 19 -c 0 -m 2
like "$errout" 'workers=4 desired=2 action=in stopped=2' "exec: scale in to min"
is "$(tail -1 "$XA_LOG")" "--region test stop 4 3" "exec: highest ids stopped"
echo "i-0abc" >> "$XA_STATE"
run ir-scale -a "exec:$X" -q "$Q" -S "$T_TMP/xs"
is "$rc" 75 "exec: a list that is not numbers fails with 75"
like "$errout" 'not a worker number: i-0abc' "and names the bad line"
done_testing
