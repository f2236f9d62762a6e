# tests/lib.sh: a tiny TAP library for the shell tests (tests/*.t).
# Source it, call plan N (or done_testing at the end), then ok/is/like.
# IR_BIN points at the tools (bin/ or build-san/bin under SAN=1).
set -u
T_TOP=$(cd "$(dirname "$0")/.." && pwd)
IR_BIN=${IR_BIN:-$T_TOP/bin}
PATH=$IR_BIN:$T_TOP/scripts:$PATH
export IR_BIN PATH
T_N=0
T_FAIL=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ir-test.XXXXXX")
trap 't_cleanup' EXIT
t_cleanup_hooks=
# at_exit CMD: run CMD when the test ends (servers to stop, etc.).
at_exit() { t_cleanup_hooks="$1; $t_cleanup_hooks"; }
t_cleanup() { eval "$t_cleanup_hooks" 2>/dev/null; rm -rf "$T_TMP"; }

plan() { echo "1..$1"; }
done_testing() { echo "1..$T_N"; [ "$T_FAIL" = 0 ]; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
# ok COND-EXIT-STATUS DESCRIPTION: ok 0 "x" passes, anything else fails.
ok() {
	T_N=$((T_N + 1))
	if [ "$1" = 0 ]; then echo "ok $T_N - $2"
	else echo "not ok $T_N - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
# is GOT EXPECTED DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"
	else ok 1 "$3"; printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"; fi
}
# like GOT REGEX DESCRIPTION (grep -E)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then ok 0 "$3"
	else ok 1 "$3"; printf '#   got:      %s\n#   expected match: %s\n' "$1" "$2"; fi
}
# run CMD...: runs it, keeping stdout in $out, stderr in $errout, status in $rc.
run() {
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"; rc=$?
	out=$(cat "$T_TMP/out"); errout=$(cat "$T_TMP/err")
}
# wait_healthy URL: up to 30 s for URL/healthz to answer 200; 1 if not.
wait_healthy() {
	for _i in $(seq 1 300); do
		curl -fs -o /dev/null "$1/healthz" && return 0
		sleep 0.1
	done
	return 1
}
# free_port: an unused TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
