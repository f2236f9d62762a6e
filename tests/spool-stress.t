#!/bin/sh
# spool-stress.t: 8 processes receive from one spool while 2 send 2000
# messages. Without crashes each message is processed exactly once; with
# receivers killed by SIGKILL at random moments (and restarted), each is
# still processed at least once, and nothing is lost, left in flight or
# left in tmp/. "Processed" = printed by `ir-queue consume`, which flushes
# each line before it deletes the message.
. "$(dirname "$0")/lib.sh"
plan 14

N=1000   # per sender
rnd() { shuf -i "$1-$2" -n 1; }
expected() { (seq -f 'a%04g' 1 $N; seq -f 'b%04g' 1 $N) | sort; }
expected >"$T_TMP/expected"

# --- 1: nobody crashes: exactly once ---------------------------------------
Q=spool:$T_TMP/s1
ir-queue depth "$Q" >/dev/null
# Each receiver consumes until the queue has been idle for 1 s, and starts
# again until both senders are done (a slow disk may stall a sender).
i=1
while [ $i -le 8 ]; do
	(
		while :; do
			ir-queue -m -1 -n 10 -w 1 -v 30 consume "$Q" \
			    >>"$T_TMP/log1.$i" 2>>"$T_TMP/err1"
			[ -e "$T_TMP/sent1.a" ] && [ -e "$T_TMP/sent1.b" ] && break
		done
	) &
	i=$((i + 1))
done
(seq -f 'a%04g' 1 $N | ir-queue send "$Q"; touch "$T_TMP/sent1.a") &
(seq -f 'b%04g' 1 $N | ir-queue send "$Q"; touch "$T_TMP/sent1.b") &
wait
cat "$T_TMP"/log1.* | cut -f4 | sort >"$T_TMP/got1"
is "$(wc -l <"$T_TMP/got1" | tr -d ' ')" 2000 "2000 messages processed"
cmp -s "$T_TMP/got1" "$T_TMP/expected"
ok $? "each message processed exactly once (no loss, no duplicate)"
is "$(cat "$T_TMP"/log1.* | cut -f3 | sort -u | tr '\n' ' ')" "1 " \
    "every message delivered on its first receive"
is "$(find "$T_TMP/s1/tmp" "$T_TMP/s1/new" "$T_TMP/s1/cur" "$T_TMP/s1/dead" \
    -type f | wc -l | tr -d ' ')" 0 "spool empty: nothing in tmp/ new/ cur/ dead/"
nfree=$(ls "$T_TMP/s1/free" | wc -l | tr -d ' ')
ok $([ "$nfree" -ge 1 ] && [ "$nfree" -le 2000 ] && echo 0 || echo 1) \
    "deleted messages' files kept in free/ for reuse ($nfree)"
is "$(ls "$T_TMP/s1/free" | grep -cv '^[0-9A-Z]\{26\}$')" 0 \
    "free/ holds only files named by a message id"
is "$(cat "$T_TMP/err1" 2>/dev/null | head -3)" "" "no receiver reported an error"
used=0
for f in "$T_TMP"/log1.*; do [ -s "$f" ] && used=$((used + 1)); done
ok $([ $used -ge 2 ] && echo 0 || echo 1) "work spread over receivers ($used of 8)"

# --- 2: receivers killed at random: at least once --------------------------
Q=spool:$T_TMP/s2
ir-queue depth "$Q" >/dev/null
i=1
while [ $i -le 8 ]; do
	(
		while [ ! -e "$T_TMP/stop" ]; do
			ir-queue -m -1 -n 10 -s 20 -w 1 -v 2 consume "$Q" \
			    >>"$T_TMP/log2.$i" 2>>"$T_TMP/err2" &
			echo $! >"$T_TMP/pid.$i"
			wait $!
		done
	) 2>/dev/null &
	i=$((i + 1))
done
(seq -f 'a%04g' 1 $N | ir-queue send "$Q"; touch "$T_TMP/sent.a") &
(seq -f 'b%04g' 1 $N | ir-queue send "$Q"; touch "$T_TMP/sent.b") &
kills=0
# Receivers take 20 ms a message (-s), so most of the time each holds
# leases: kill one every 50-300 ms until the senders are done and
# all but 100 messages are taken, at most 60 times.
while [ $kills -lt 60 ]; do
	sleep "0.$(rnd 05 30)"
	p=$(cat "$T_TMP/pid.$(rnd 1 8)" 2>/dev/null)
	[ -n "$p" ] && kill -KILL "$p" 2>/dev/null && kills=$((kills + 1))
	[ -e "$T_TMP/sent.a" ] && [ -e "$T_TMP/sent.b" ] &&
	    [ "$(ir-queue depth "$Q" | cut -f1)" -lt 100 ] && break
done
# Let the survivors finish: expired leases come back and are consumed.
t=0
while [ "$(ir-queue depth "$Q")" != "$(printf '0\t0')" ] && [ $t -lt 80 ]; do
	sleep 0.5
	t=$((t + 1))
done
touch "$T_TMP/stop"
wait
echo "# $kills receivers killed"
cat "$T_TMP"/log2.* | cut -f4 | sort >"$T_TMP/got2"
sort -u "$T_TMP/got2" >"$T_TMP/got2u"
echo "# $(wc -l <"$T_TMP/got2" | tr -d ' ') deliveries processed," \
    "$(($(wc -l <"$T_TMP/got2") - $(wc -l <"$T_TMP/got2u"))) duplicates"
ok $([ $kills -ge 5 ] && echo 0 || echo 1) "receivers were killed ($kills)"
redone=$(cat "$T_TMP"/log2.* | cut -f3 | grep -cv '^1$')
ok $([ "$redone" -gt 0 ] && echo 0 || echo 1) \
    "leases of killed receivers expired and were redelivered ($redone)"
cmp -s "$T_TMP/got2u" "$T_TMP/expected"
ok $? "every message processed at least once, nothing foreign"
is "$(ls "$T_TMP/s2/tmp" | wc -l | tr -d ' ')" 0 "nothing left in tmp/"
is "$(ls "$T_TMP/s2/new" "$T_TMP/s2/cur" "$T_TMP/s2/dead" | grep -c '^[0-9]')" 0 \
    "nothing left in new/ cur/ dead/"
is "$(grep -v '^$' "$T_TMP/err2" 2>/dev/null | head -3)" "" \
    "no receiver reported an error"
