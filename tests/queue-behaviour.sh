# tests/queue-behaviour.sh: the one behavioural suite every queue and store
# backend must pass (SQS semantics; S3-like objects), run through the
# ir-queue and ir-store tools. Source it from a .t file after tests/lib.sh,
# with the URLs in the environment; it prints TAP and calls done_testing.
#
#   QURL       an empty queue to test (spool:DIR, sqs://NAME, ...)
#   SURL       an empty store to test (dir:DIR, s3://BUCKET/PREFIX)
#   Q_MAXRECV  the queue's maximum receive count for the dead-letter test
#              (spool: passed as ir-queue -m; SQS: the redrive policy
#              the caller configured on QURL); empty: skip that test
#   Q_DLQ      SQS: the dead-letter queue's URL, checked for the message;
#              empty: QURL is a spool and its dead/ folder is checked
#   Q_STALE_FAILS  1 (default): deleting with a superseded receipt handle
#              fails (spool); 0: it may succeed (SQS documents that)
#   Q_MISSING  a queue URL that does not exist yet
#   Q_MISSING_RC  the exit status of "ir-queue depth Q_MISSING": 0 for a
#              spool (created on first use), else what the backend gives
#   Q_SLACK    extra seconds to allow for a remote server (default 0)
set -u
: "${QURL:?}" "${SURL:?}"
Q_MAXRECV=${Q_MAXRECV-}
Q_DLQ=${Q_DLQ-}
Q_STALE_FAILS=${Q_STALE_FAILS:-1}
Q_MISSING_RC=${Q_MISSING_RC:-0}
Q_SLACK=${Q_SLACK:-0}
M=
[ -n "$Q_MAXRECV" ] && M="-m $Q_MAXRECV"
TAB=$(printf '\t')

# Receives until n messages are in $T_TMP/got (a backend may return fewer
# than asked per call), with at most `tries` receive calls.
recv_n() {
	n=$1; tries=$2; shift 2
	: >"$T_TMP/got"
	while [ "$tries" -gt 0 ] && [ "$(wc -l <"$T_TMP/got")" -lt "$n" ]; do
		ir-queue $M -n 10 -w 2 "$@" receive "$QURL" >>"$T_TMP/got"
		tries=$((tries - 1))
	done
	wc -l <"$T_TMP/got" | tr -d ' '
}
# Deletes every message listed in $T_TMP/got; prints the exit status.
del_got() {
	cut -f1 "$T_TMP/got" | xargs ir-queue delete "$QURL"
	echo $?
}

# --- queue ---------------------------------------------------------------

run ir-queue depth "$QURL"
is "$rc:$out" "0:0${TAB}0" "an empty queue has depth 0 visible, 0 in flight"

run ir-queue send "$QURL" 'hello {"json":true}'
is "$rc" 0 "send one message"
run ir-queue depth "$QURL"
is "$out" "1${TAB}0" "depth counts the visible message"
run ir-queue $M -w 5 -v 30 receive "$QURL"
is "$rc" 0 "receive it"
is "$(printf '%s' "$out" | cut -f3-)" "1${TAB}hello {\"json\":true}" \
    "body intact, receive count 1"
h=$(printf '%s' "$out" | cut -f1)
run ir-queue depth "$QURL"
is "$out" "0${TAB}1" "a received message is in flight"
run ir-queue $M -w 0 receive "$QURL"
is "$rc" 1 "an in-flight message is not received again (exit 1: none)"
run ir-queue delete "$QURL" "$h"
is "$rc" 0 "delete it"
run ir-queue depth "$QURL"
is "$out" "0${TAB}0" "deleted: depth 0"

# Bodies with characters that need care: unicode, TAB, quotes, newline.
body=$(printf 'ünï "q" \\ tab\there')
run ir-queue send "$QURL" "$body"
run ir-queue $M -j -w 5 receive "$QURL"
is "$(printf '%s' "$out" | jq -r .body)" "$body" "odd characters survive (-j)"
run ir-queue delete "$QURL" "$(printf '%s' "$out" | jq -r .handle)"
is "$rc" 0 "delete by the handle -j printed"

# Batches: 10 as arguments (one batch), 13 from stdin (two).
run ir-queue send "$QURL" b1 b2 b3 b4 b5 b6 b7 b8 b9 b10
is "$rc" 0 "send a batch of 10"
seq 1 13 | sed 's/^/s/' | ir-queue send "$QURL"
is "$?" 0 "send 13 lines from stdin"
run ir-queue depth "$QURL"
is "$out" "23${TAB}0" "depth 23"
is "$(recv_n 23 20 -v 60)" 23 "receive all 23 in batches"
is "$(cut -f4 "$T_TMP/got" | sort | tr '\n' ' ')" \
    "$( (seq 1 10 | sed 's/^/b/'; seq 1 13 | sed 's/^/s/') | sort | tr '\n' ' ')" \
    "each message exactly once"
is "$(del_got)" 0 "delete all 23"
run ir-queue depth "$QURL"
is "$out" "0${TAB}0" "queue empty again"

# Size limit: 256 KiB is the most a message may carry.
head -c 262144 /dev/zero | tr '\0' a >"$T_TMP/big"
ir-queue send "$QURL" <"$T_TMP/big"
is "$?" 0 "a 256 KiB message is accepted"
(cat "$T_TMP/big"; printf a) >"$T_TMP/big1"
run ir-queue send "$QURL" <"$T_TMP/big1"
is "$rc" 2 "a message one byte larger is refused (exit 2)"
run ir-queue $M -w 5 -v 30 receive "$QURL"
is "$(printf '%s' "$out" | cut -f4 | wc -c | tr -d ' ')" 262145 \
    "the 256 KiB message comes back whole"
ir-queue delete "$QURL" "$(printf '%s' "$out" | cut -f1)"

# Long poll: returns as soon as a message arrives, not at the end.
(sleep 1; ir-queue send "$QURL" late) &
t0=$(date +%s)
run ir-queue $M -w 15 receive "$QURL"
t1=$(date +%s)
wait
is "$rc:$(printf '%s' "$out" | cut -f4)" "0:late" \
    "long poll receives a message sent while waiting"
ok "$([ $((t1 - t0)) -lt $((10 + Q_SLACK)) ] && echo 0 || echo 1)" \
    "long poll woke on arrival ($((t1 - t0)) s of 15)"
ir-queue delete "$QURL" "$(printf '%s' "$out" | cut -f1)"
run ir-queue $M -w 1 receive "$QURL"
is "$rc" 1 "long poll on an empty queue ends after the wait (exit 1)"

# Visibility timeout: an unanswered lease expires, the message comes back
# with its receive count up, and the old handle is stale.
ir-queue send "$QURL" lease
run ir-queue $M -w 5 -v 2 receive "$QURL"
h1=$(printf '%s' "$out" | cut -f1)
id1=$(printf '%s' "$out" | cut -f2)
run ir-queue $M -w 0 receive "$QURL"
is "$rc" 1 "hidden during its visibility timeout"
sleep $((3 + Q_SLACK))
run ir-queue $M -w 5 -v 30 receive "$QURL"
is "$(printf '%s' "$out" | cut -f2-4)" "$id1${TAB}2${TAB}lease" \
    "redelivered after the timeout, same id, receive count 2"
h2=$(printf '%s' "$out" | cut -f1)
if [ "$Q_STALE_FAILS" = 1 ]; then
	run ir-queue delete "$QURL" "$h1"
	is "$rc" 1 "the superseded handle is stale (exit 1)"
fi
run ir-queue delete "$QURL" "$h2"
is "$rc" 0 "delete with the current handle"

# Heartbeat: change-visibility extends a lease past its first expiry.
ir-queue send "$QURL" beat
run ir-queue $M -w 5 -v 2 receive "$QURL"
h=$(printf '%s' "$out" | cut -f1)
run ir-queue visibility "$QURL" 6 "$h"
is "$rc" 0 "extend the lease to 6 s"
h=$out
sleep 3
run ir-queue $M -w 0 receive "$QURL"
is "$rc" 1 "still hidden after the first lease would have expired"
run ir-queue delete "$QURL" "$h"
is "$rc" 0 "the holder deletes it with the handle it has"
ir-queue send "$QURL" release
run ir-queue $M -w 5 -v 60 receive "$QURL"
run ir-queue visibility "$QURL" 0 "$(printf '%s' "$out" | cut -f1)"
is "$rc" 0 "change visibility to 0"
run ir-queue $M -w 5 -v 30 receive "$QURL"
is "$(printf '%s' "$out" | cut -f3-4)" "2${TAB}release" \
    "visibility 0 makes it receivable at once"
ir-queue delete "$QURL" "$(printf '%s' "$out" | cut -f1)"
run ir-queue visibility "$QURL" 10 "$(printf '%s' "$out" | cut -f1)"
is "$rc" 1 "change visibility of a deleted message: stale handle (exit 1)"

# A receiver already waiting gets a message whose lease is shortened and
# runs out during its wait (not only at the end of the wait).
ir-queue send "$QURL" shortened
run ir-queue $M -w 5 -v 60 receive "$QURL"
h=$(printf '%s' "$out" | cut -f1)
t0=$(date +%s)
ir-queue $M -w 15 -v 30 receive "$QURL" >"$T_TMP/waiter" &
wpid=$!
sleep 1
ir-queue visibility "$QURL" 1 "$h" >/dev/null
wait $wpid
t1=$(date +%s)
is "$(cut -f3-4 "$T_TMP/waiter")" "2${TAB}shortened" \
    "a waiting receiver gets a lease that ran out during its wait"
ok "$([ $((t1 - t0)) -lt $((10 + Q_SLACK)) ] && echo 0 || echo 1)" \
    "as the lease ran out ($((t1 - t0)) s of a 15 s wait)"
ir-queue delete "$QURL" "$(cut -f1 "$T_TMP/waiter")"

# Depth counts visible and in flight.
ir-queue send "$QURL" d1 d2 d3
run ir-queue $M -w 5 -v 60 receive "$QURL"
hd=$(printf '%s' "$out" | cut -f1)
run ir-queue depth "$QURL"
is "$out" "2${TAB}1" "depth: 2 visible, 1 in flight"
ir-queue delete "$QURL" "$hd"
recv_n 2 10 -v 60 >/dev/null
del_got >/dev/null

# Dead letters: past the maximum receive count the message leaves.
if [ -n "$Q_MAXRECV" ]; then
	ir-queue send "$QURL" doomed
	i=0
	while [ $i -lt "$Q_MAXRECV" ]; do
		run ir-queue $M -w 5 -v 1 receive "$QURL"
		i=$((i + 1))
		[ "$(printf '%s' "$out" | cut -f3)" = $i ] || break
		sleep $((2 + Q_SLACK))
	done
	is "$i" "$Q_MAXRECV" "received $Q_MAXRECV times, counts 1..$Q_MAXRECV"
	run ir-queue $M -w 2 receive "$QURL"
	is "$rc" 1 "not delivered again past the maximum receive count"
	if [ -n "$Q_DLQ" ]; then
		run ir-queue -w 10 receive "$Q_DLQ"
		is "$(printf '%s' "$out" | cut -f4)" doomed \
		    "the message is in the dead-letter queue"
	else
		d=${QURL#spool:}
		is "$(cd "$d/dead" && ls | grep -v '\.reason$' | xargs cat)" \
		    doomed \
		    "the message is in dead/"
		like "$(cat "$d"/dead/*.reason 2>/dev/null)" \
		    "maximum receive count" "with its reason"
	fi
	run ir-queue depth "$QURL"
	is "$out" "0${TAB}0" "a dead letter is not counted in the depth"
else
	ok 0 "# SKIP dead letters (no Q_MAXRECV)"
fi

# A queue that does not exist yet.
if [ -n "${Q_MISSING-}" ]; then
	run ir-queue depth "$Q_MISSING"
	is "$rc" "$Q_MISSING_RC" "depth of a missing queue: exit $Q_MISSING_RC"
fi

# Bad input.
run ir-queue receive
is "$rc" 2 "usage error: exit 2"
run ir-queue -n 11 receive "$QURL"
is "$rc" 2 "a batch over 10: exit 2"
run ir-queue delete "$QURL" 'not/a handle'
ok "$([ "$rc" = 1 ] || [ "$rc" = 2 ] && echo 0 || echo 1)" \
    "a malformed handle is refused (exit $rc)"

# --- store ---------------------------------------------------------------

printf 'one' >"$T_TMP/o1"
for k in 'a b/c d.jpg' 'ünïcødé/名前.jpg' 'odd/+=&?#%.bin' 'top' \
    "it's (1)/x~y!*@\$,;:.txt"; do
	run ir-store put "$SURL" "$k" "$T_TMP/o1"
	is "$rc" 0 "put key: $k"
	run ir-store get "$SURL" "$k"
	is "$rc:$out" "0:one" "get key: $k"
done
run ir-store head "$SURL" 'odd/+=&?#%.bin'
is "$rc:$out" "0:3" "head gives the size"
printf 'two!' | ir-store put "$SURL" top
run ir-store get "$SURL" top
is "$out" "two!" "put replaces an object (from stdin)"
run ir-store ls "$SURL"
is "$(printf '%s\n' "$out" | cut -f1 | tr '\n' '|')" \
    "a b/c d.jpg|it's (1)/x~y!*@\$,;:.txt|odd/+=&?#%.bin|top|ünïcødé/名前.jpg|" \
    "ls lists every key in lexical order"
run ir-store ls "$SURL" "od"
is "$out" "odd/+=&?#%.bin${TAB}3" "ls with a prefix, with sizes"
run ir-store get "$SURL" missing/key
is "$rc" 1 "get of a missing key: exit 1"
run ir-store head "$SURL" missing
is "$rc" 1 "head of a missing key: exit 1"
run ir-store rm "$SURL" 'a b/c d.jpg' missing
is "$rc" 0 "rm (a missing key is not an error)"
run ir-store get "$SURL" 'a b/c d.jpg'
is "$rc" 1 "removed"
for k in '../x' '/abs' 'a//b' 'a/../b' 'a/./b' 'trail/' '.' "$(printf 'c\tl')"; do
	run ir-store put "$SURL" "$k" "$T_TMP/o1"
	is "$rc" 2 "invalid key refused (exit 2): $k"
done
run ir-store get "$SURL" "$(head -c 1100 /dev/zero | tr '\0' k)"
is "$rc" 2 "a key over 1024 bytes: exit 2"

# A 20 MB object.
head -c 20971520 /dev/urandom >"$T_TMP/big20"
run ir-store put "$SURL" big/20mb "$T_TMP/big20"
is "$rc" 0 "put 20 MB"
run ir-store head "$SURL" big/20mb
is "$out" 20971520 "head: 20971520 bytes"
ir-store get "$SURL" big/20mb >"$T_TMP/big20.back"
cmp -s "$T_TMP/big20" "$T_TMP/big20.back"
ok $? "get gives the same 20 MB back"
run ir-store -m 1000000 get "$SURL" big/20mb
is "$rc" 2 "get with a smaller size limit: exit 2"
ir-store rm "$SURL" big/20mb

done_testing
