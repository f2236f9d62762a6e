#!/bin/sh
# queue-spool.t: the queue/store behaviour suite (queue-behaviour.sh)
# against the local backends: a spool queue and a directory store, plus
# what only they have (on-disk layout, relative paths made absolute).
. "$(dirname "$0")/lib.sh"

QURL=spool:$T_TMP/q
SURL=dir:$T_TMP/store
Q_MAXRECV=2
Q_MISSING=spool:$T_TMP/not/yet/there
Q_MISSING_RC=0
export QURL SURL Q_MAXRECV Q_MISSING Q_MISSING_RC

# Spool specifics first.
run ir-queue depth "$QURL"
ok $([ -d "$T_TMP/q/tmp" ] && [ -d "$T_TMP/q/new" ] && [ -d "$T_TMP/q/cur" ] &&
    [ -d "$T_TMP/q/dead" ] && [ -d "$T_TMP/q/free" ] && echo 0 || echo 1) \
    "a spool is created on first use with tmp/ new/ cur/ dead/ free/"
ir-queue send "$QURL" layout
like "$(ls "$T_TMP/q/new")" '^[0-9]{13}\.[0-9A-Z]{26}\.0$' \
    "new/ holds TIME.ID.0"
run ir-queue -v 30 receive "$QURL"
like "$(ls "$T_TMP/q/cur")" '^[0-9]{13}\.[0-9A-Z]{26}\.1$' \
    "cur/ holds EXPIRY.ID.1"
is "$(printf '%s' "$out" | cut -f1)" "$(ls "$T_TMP/q/cur")" \
    "the receipt handle is the name in cur/"
id=$(ls "$T_TMP/q/cur" | cut -d. -f2)
ino=$(ls -i "$T_TMP/q/cur" | awk '{print $1}')
ir-queue delete "$QURL" "$(printf '%s' "$out" | cut -f1)"
is "$(ls "$T_TMP/q/tmp" "$T_TMP/q/new" "$T_TMP/q/cur" | grep -c .)" 3 \
    "nothing left but the folder headers"
is "$(ls -i "$T_TMP/q/free")" "$ino $id" \
    "a deleted message's file waits in free/ID for reuse"
ir-queue send "$QURL" "a longer body than the first message had"
is "$(ls "$T_TMP/q/free" | wc -l | tr -d ' ')" 0 "the next send takes it"
is "$(ls -i "$T_TMP/q/new" | awk '{print $1}')" "$ino" "the same file, renamed"
ir-queue send "$QURL" short
run ir-queue -j receive "$QURL"
is "$(printf '%s' "$out" | jq -r .body)" \
    "a longer body than the first message had" "rewritten whole"
ir-queue delete "$QURL" "$(printf '%s' "$out" | jq -r .handle)"
ir-queue send "$QURL" x
run ir-queue -j receive "$QURL"
is "$(printf '%s' "$out" | jq -r .body)" short "FIFO"
ir-queue delete "$QURL" "$(printf '%s' "$out" | jq -r .handle)"
run ir-queue -j receive "$QURL"
is "$(printf '%s' "$out" | jq -r .body)" x \
    "a reused longer file is cut to the shorter body"
ir-queue delete "$QURL" "$(printf '%s' "$out" | jq -r .handle)"
(cd "$T_TMP" && ir-queue send q2 rel && ir-queue -j receive spool:q2) >"$T_TMP/rel"
is "$(jq -r .body <"$T_TMP/rel")" rel "a relative bare path is a spool"
run ir-queue send "dir:$T_TMP/x" m
is "$rc" 2 "a store URL is not a queue (exit 2)"
touch "$T_TMP/file"
run ir-queue depth "spool:$T_TMP/file/q"
is "$rc" 75 "a spool that cannot be created: exit 75"
like "$errout" "cannot create spool" "and says why"
run ir-store ls "s3x://nope"
is "$rc" 2 "an unknown store scheme: exit 2"
run ir-store put "$SURL" ".ir-tmp/x" "$T_TMP/file"
is "$rc" 2 "the store's tmp folder is reserved"
run ir-store put "$SURL" "a/b" "$T_TMP/file"
run ir-store rm "$SURL" "a/b"
ok $([ ! -e "$T_TMP/store/a" ] && echo 0 || echo 1) \
    "rm removes folders it leaves empty"
# Durability of a put: the object's folder is synced, and so is the parent
# of every folder the put made (else a crash can lose the new folder's
# name and the object with it). strace shows the fsyncs, in order.
fsyncs() { # KEY: the folders a put of KEY syncs, relative to the store
	# (LeakSanitizer cannot run under ptrace: off for SAN=1 builds)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    strace -f -e trace=openat,fsync -o "$T_TMP/tr" \
	    ir-store put "dir:$T_TMP/sync" "$1" "$T_TMP/file" || return
	awk '/openat\(.*O_DIRECTORY/ { split($0, q, "\""); d[$NF] = q[2] }
	    /fsync\(/ { sub(/.*fsync\(/, ""); sub(/\).*/, "");
		if ($0 in d) printf "%s ", d[$0] }' "$T_TMP/tr"
}
is "$(fsyncs d1/d2/d3/k)" "d1/d2/d3 d1/d2 d1 . " \
    "a put that makes folders syncs each one's parent"
is "$(fsyncs d1/d2/d3/k2)" "d1/d2/d3 " "a put into existing folders syncs one"
is "$(fsyncs d1/x/k)" "d1/x d1 " "a new folder in an old one"
is "$(fsyncs top)" ". " "a key at the top syncs the root"

. "$T_TOP/tests/queue-behaviour.sh"
