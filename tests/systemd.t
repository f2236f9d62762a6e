#!/bin/sh
# systemd.t: the units in examples/systemd/ pass `systemd-analyze verify`
# (exit 0 and nothing on stderr: a misspelled key only warns), carry the
# settings the design relies on, and `make install` puts them in UNITDIR.
# Works without systemd as PID 1: a scratch root holds the units, stand-ins
# for the ExecStart binaries and a copy of the system units.
. "$(dirname "$0")/lib.sh"
command -v systemd-analyze >/dev/null || skip_all "no systemd-analyze"
U=$T_TOP/examples/systemd
R=$T_TMP/root
mkdir -p "$R/usr/local/bin" "$R/usr/lib/systemd" "$R/etc/systemd/system"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
for b in ir-serve ir-classify ir-scale; do
	printf '#!/bin/sh\nexit 0\n' > "$R/usr/local/bin/$b"
	chmod +x "$R/usr/local/bin/$b"
done
cp "$U"/*.service "$U"/*.timer "$R/etc/systemd/system/"
units="ir-serve.service ir-worker@.service ir-worker@1.service ir-worker@19.service ir-scale.service ir-scale.timer"

run systemd-analyze verify --root="$R" --man=no $units
is "$rc" 0 "systemd-analyze verify exits 0"
is "$errout" "" "systemd-analyze verify says nothing on stderr"

# the check catches what it should: a misspelled key, a missing binary
sed 's/^ProtectHome=/ProtectHom=/' "$U/ir-scale.service" > "$R/etc/systemd/system/ir-scale.service"
run systemd-analyze verify --root="$R" --man=no ir-scale.service
like "$errout" "Unknown key 'ProtectHom'" "a misspelled key shows on stderr"
cp "$U/ir-scale.service" "$R/etc/systemd/system/"
rm "$R/usr/local/bin/ir-classify"
run systemd-analyze verify --root="$R" --man=no ir-worker@1.service
ok $([ "$rc" != 0 ] && echo 0 || echo 1) "a missing ExecStart binary fails"

key() { grep -E "^$2=" "$U/$1" | head -1 | cut -d= -f2-; }
is "$(key ir-serve.service Type)" notify "ir-serve is Type=notify"
is "$(key ir-scale.service Type)" oneshot "ir-scale.service is one decision"
like "$(key ir-scale.timer OnUnitActiveSec)" '^[1-9]s$' "the timer fires every few seconds"
like "$(key ir-scale.timer AccuracySec)" 'ms$' "the timer's accuracy is short"
like "$(key ir-worker@.service ExecStart)" 'ir-classify -w' "the worker unit runs ir-classify -w"
like "$(key ir-worker@.service Environment)" 'IR_WORKER_ID=%i' "the worker knows its number"
for u in ir-serve.service ir-worker@.service ir-scale.service; do
	h=$(grep -cE '^(ProtectSystem=strict|ProtectHome=yes|PrivateTmp=yes|NoNewPrivileges=yes|EnvironmentFile=-/etc/ir/ir.env)$' "$U/$u")
	is "$h" 5 "$u: hardening and the shared environment file"
done
like "$(key ir-serve.service DynamicUser)$(key ir-serve.service StateDirectory)" '^yesir$' "ir-serve: dynamic user, state directory"
is "$(key ir-worker@.service StateDirectory)" ir "the workers share ir-serve's state directory"

# the env file is NAME=VALUE lines (or comments) only
bad=$(grep -vE '^(#.*|[A-Z_][A-Z0-9_]*=.*|)$' "$U/ir.env" | wc -l)
is "$bad" 0 "ir.env holds only NAME=VALUE lines and comments"

# make install puts the units in UNITDIR with the PREFIX's bin
D=$T_TMP/dest
if make -s -C "$T_TOP" install-units DESTDIR="$D" PREFIX=/opt/ir UNITDIR=/lib/systemd/system >/dev/null 2>"$T_TMP/mkerr"; then
	ok 0 "make install-units runs"
	n=$(ls "$D/lib/systemd/system" | grep -cE '^(ir-serve.service|ir-worker@.service|ir-scale.service|ir-scale.timer)$')
	is "$n" 4 "the four units are installed in UNITDIR"
	like "$(grep '^ExecStart=' "$D/lib/systemd/system/ir-worker@.service")" '^ExecStart=/opt/ir/bin/ir-classify' "ExecStart points at PREFIX/bin"
	ok $([ -f "$D/opt/ir/share/doc/ir/ir.env.example" ] && echo 0 || echo 1) "the example env file is installed"
else
	ok 1 "make install-units runs"; sed 's/^/# /' "$T_TMP/mkerr"
fi
done_testing
