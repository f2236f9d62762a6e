#!/bin/sh
# submit-poll.t: ir-submit | ir-poll end to end through a spool queue and a
# directory store, with a tiny stand-in worker (ir-queue consume + ir-store
# + jq) whose answer is decided by the image bytes: "Paul" -> one face,
# "Paul+Anna" -> two, "noface", "corrupt" -> an error result, "skip" -> no
# answer, "twice" -> the same answer sent twice.
. "$(dirname "$0")/lib.sh"

TAB=$(printf '\t')
cd "$T_TMP" || exit 1
mkdir img
printf 'Paul' >img/paul.jpg
printf 'Paul+Anna' >img/two.jpg
printf 'noface' >img/nobody.jpg
printf 'corrupt' >'img/bad img.jpg'
printf 'skip' >img/skip.jpg
printf 'twice' >img/twice.jpg
printf 'stored' >img/stored.jpg
printf 'lost' >img/lost.jpg

# worker REQUEST-QUEUE STORE [IDLE]: answers requests until idle IDLE s.
worker() {
	ir-queue -j -w "${3:-3}" consume "$1" | while read -r line; do
		body=$(printf '%s' "$line" | jq -r .body)
		id=$(printf '%s' "$body" | jq -r .id)
		name=$(printf '%s' "$body" | jq -r .name)
		key=$(printf '%s' "$body" | jq -r .key)
		reply=$(printf '%s' "$body" | jq -r .reply)
		img=$(ir-store get "$2" "$key")
		f1='{"box":[1,2,30,40],"score":0.9,"label":"Paul","distance":0.41}'
		f2='{"box":[50,2,20,20],"score":0.8,"label":"Anna","distance":0.523}'
		case $img in
		Paul|twice|stored|lost) faces="[$f1]" ;;
		Paul+Anna) faces="[$f1,$f2]" ;;
		noface) faces="[]" ;;
		skip) continue ;;
		*) faces= ;;
		esac
		if [ -n "$faces" ]; then
			r=$(jq -nc --arg id "$id" --arg n "$name" --argjson f "$faces" \
			    '{v:1,id:$id,name:$n,faces:$f,ms:{decode:1}} +
			     (if ($f|length) > 0 then {label:$f[0].label,
			      distance:$f[0].distance} else {label:"noface"} end)')
		else
			r=$(jq -nc --arg id "$id" --arg n "$name" \
			    '{v:1,id:$id,name:$n,error:"not a JPEG image"}')
		fi
		case $img in
		stored|lost)
			# The full result in the output store, its key sent.
			[ "$img" = stored ] &&
			    printf '%s' "$r" | ir-store put "$T_TMP/output" "res/$id.json"
			r=$(jq -nc --arg id "$id" --arg n "$name" --arg k "res/$id.json" \
			    '{v:1,id:$id,name:$n,key:$k}') ;;
		esac
		ir-queue send "$reply" "$r"
		[ "$img" = twice ] && ir-queue send "$reply" "$r"
		ir-store rm "$2" "$key"
	done
}

Q=spool:$T_TMP/requests
R=spool:$T_TMP/replies
S=dir:$T_TMP/input
export IR_REQUEST_QUEUE=$Q IR_RESPONSE_QUEUE=$R IR_INPUT_STORE=$S

# --- what ir-submit queues ---------------------------------------------
run ir-submit -q spool:peek img/paul.jpg
like "$out" "^[0-9A-Z]{26}${TAB}img/paul.jpg\$" "ir-submit prints ID<TAB>FILE"
id=$(printf '%s' "$out" | cut -f1)
req=$(ir-queue -j receive spool:peek | jq -r .body)
is "$(printf '%s' "$req" | jq -r '[.v, .id, .name, .key, .reply] | join(" ")')" \
    "1 $id paul.jpg $id-paul.jpg spool:$T_TMP/replies" \
    "request: v, id, name, key, absolute reply URL"
like "$(printf '%s' "$req" | jq -r .sent)" '^1[0-9]{12}$' "request: sent in ms"
ok $([ "$(printf '%s' "$req" | wc -c)" -le 1024 ] && echo 0 || echo 1) \
    "request within 1 KB"
is "$(ir-store get "$S" "$id-paul.jpg")" Paul "the image is in the store"
cp img/paul.jpg "$(printf 'img/caf\351.jpg')"
run ir-submit -q spool:peek "$(printf 'img/caf\351.jpg')"
is "$rc" 0 "a file name that is not UTF-8 is submitted"
req=$(ir-queue -j receive spool:peek | jq -r .body)
is "$(printf '%s' "$req" | jq -r .name)" 'caf?.jpg' "its name with '?' for the byte"

# --- the pipeline ------------------------------------------------------
worker "$Q" "$S" &
wpid=$!
run sh -c 'ls img/paul.jpg img/two.jpg img/nobody.jpg "img/bad img.jpg" |
    ir-submit | ir-poll -t 30'
wait $wpid
is "$rc" 0 "ir-submit | ir-poll: exit 0 when all are answered"
is "$(printf '%s\n' "$out" | sort)" "$(printf '%s\n' \
    "img/bad img.jpg${TAB}error${TAB}not a JPEG image" \
    "img/nobody.jpg${TAB}noface" \
    "img/paul.jpg${TAB}Paul${TAB}0.41" \
    "img/two.jpg${TAB}Paul${TAB}0.41${TAB}Anna${TAB}0.52")" \
    "one line per image as ir-classify prints it"
is "$(ir-queue depth "$R"):$(ir-queue depth "$Q")" "0${TAB}0:0${TAB}0" \
    "results deleted, requests consumed"

# --- some missing at the timeout; foreign results left alone -----------
ir-queue send "$R" '{"v":1,"id":"SOMEONE-ELSES","name":"x.jpg","faces":[]}'
ir-submit img/skip.jpg img/paul.jpg img/twice.jpg >sub.out
worker "$Q" "$S" 1
run ir-poll -t 3 <sub.out
is "$rc" 1 "exit 1 when an answer is missing at the timeout"
is "$(printf '%s\n' "$out" | sort)" "$(printf '%s\n' \
    "img/paul.jpg${TAB}Paul${TAB}0.41" "img/twice.jpg${TAB}Paul${TAB}0.41")" \
    "the answered ones are printed, a duplicate answer once"
like "$errout" "no result for [0-9A-Z]{26} img/skip.jpg" \
    "the unanswered image is named on stderr"
is "$(ir-queue depth "$R")" "1${TAB}0" \
    "the foreign result is left in the queue, visible again"
run ir-queue -j receive "$R"
is "$(printf '%s' "$out" | jq -r .body | jq -r .id)" SOMEONE-ELSES \
    "and it is the foreign one (the duplicate was deleted)"
ir-queue delete "$R" "$(printf '%s' "$out" | jq -r .handle)"

# --- IDs as arguments, -j ----------------------------------------------
ir-submit img/two.jpg img/nobody.jpg >sub.out
worker "$Q" "$S" 1
run ir-poll -j -t 10 $(cut -f1 sub.out)
is "$rc" 0 "IDs as arguments: exit 0"
is "$(printf '%s\n' "$out" | jq -r '[.name, .label, (.faces|length)] | join(" ")' |
    sort | tr '\n' '|')" "nobody.jpg noface 0|two.jpg Paul 2|" \
    "-j prints the result objects"
ir-submit -j img/paul.jpg >sub.json
like "$(cat sub.json)" '^\{"id":"[0-9A-Z]{26}","file":"img/paul.jpg"' \
    "ir-submit -j prints JSON lines"
worker "$Q" "$S" 1
run ir-poll -t 10 <sub.json
is "$out" "img/paul.jpg${TAB}Paul${TAB}0.41" "ir-poll reads ir-submit -j lines"

# --- results kept in the output store ----------------------------------
ir-submit img/stored.jpg img/lost.jpg >sub.out
worker "$Q" "$S" 1
run ir-poll -o "dir:$T_TMP/output" -t 10 <sub.out
is "$rc" 0 "results by output-store key: exit 0"
is "$(printf '%s\n' "$out" | sort | sed 's/\(no such key\).*/\1/')" "$(printf '%s\n' \
    "img/lost.jpg${TAB}error${TAB}res/$(head -2 sub.out | grep lost | cut -f1).json: no such key" \
    "img/stored.jpg${TAB}Paul${TAB}0.41")" \
    "the full result is read from the output store; a missing one is an error"

: >notadir
ir-submit img/stored.jpg >sub.out
worker "$Q" "$S" 1
run ir-poll -o "dir:$T_TMP/notadir/out" -t 4 <sub.out
is "$rc" 75 "an output store that cannot be opened: exit 75"
like "$errout" "notadir/out" "names the store"
like "$errout" "no result for .* img/stored.jpg" "lists the unanswered image"
ir-queue -n 10 consume "$R" >/dev/null

# --- stdin image, stdin list, bad files ----------------------------------
run sh -c 'ir-submit - <img/paul.jpg'
like "$out" "^[0-9A-Z]{26}${TAB}-\$" "- reads the image from stdin"
run ir-submit img/missing.jpg img/paul.jpg
is "$rc" 2 "an unreadable file: exit 2"
like "$errout" "img/missing.jpg" "and it is named"
is "$(printf '%s\n' "$out" | grep -c .)" 1 "the other file is still submitted"
worker "$Q" "$S" 1
run ir-poll -t 1 "$(printf '%s' "$out" | cut -f1)"
is "$rc:$out" "0:paul.jpg${TAB}Paul${TAB}0.41" \
    "an ID argument prints the result's own name"
ir-queue -n 10 consume "$R" >/dev/null
long=$(printf '%0200d' 0)
mkdir -p "$long/$long"
: >"$long/$long/x.jpg"
printf 'Paul' >"img/$(printf '%0250d' 1).jpg"
run ir-submit -r "spool:$T_TMP/$long/$long/$long" "img/$(printf '%0250d' 1).jpg"
is "$rc" 2 "a request over 1 KB is refused (exit 2)"
like "$errout" "more than 1024" "with the reason"
printf 'x\n' >"$(printf 'tab\there.jpg')"
run ir-submit "$(printf 'tab\there.jpg')"
is "$rc" 2 "a file name with a TAB is refused"

# --- usage and temporary failures ----------------------------------------
run ir-poll -x
is "$rc" 2 "ir-poll: unknown flag, exit 2"
like "$errout" "usage: ir-poll" "with the usage line"
run ir-submit -t soon img/paul.jpg
is "$rc" 2 "ir-submit: bad -t, exit 2"
like "$errout" 'bad -t seconds "soon"' "naming the option and its value"
run ir-poll -t -1 </dev/null
is "$rc" 2 "ir-poll: negative -t, exit 2"
like "$errout" 'want 0\.\.86400' "with the range"
run ir-submit </dev/null
is "$rc:$out" "0:" "ir-submit with nothing to do: exit 0"
run ir-poll </dev/null
is "$rc:$out" "0:" "ir-poll with nothing to wait for: exit 0"
touch file
run ir-submit -q "spool:$T_TMP/file/q" img/paul.jpg
is "$rc" 75 "ir-submit: a queue that cannot be created, exit 75"
like "$errout" "file/q" "names the queue"
run ir-poll -r "spool:$T_TMP/file/q" -t 1 ABC DEF
is "$rc" 75 "ir-poll: a reply queue that cannot be opened, exit 75"
like "$errout" "no result for ABC" "lists the unanswered"
run ir-submit -s "$T_TMP/file/store" img/paul.jpg
is "$rc" 75 "ir-submit: a store that cannot be created, exit 75"

# --- defaults: the state folder -----------------------------------------
unset IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE
mkdir here && cd here || exit 1
ir-submit ../img/paul.jpg >sub.out
ok $([ -d run/requests/new ] && [ -d run/replies/new ] && [ -d run/input ] &&
    echo 0 || echo 1) "defaults: spool:run/requests, run/replies, dir:run/input"
worker spool:run/requests run/input 1
run ir-poll -t 5 <sub.out
is "$rc:$out" "0:../img/paul.jpg${TAB}Paul${TAB}0.41" "defaults: the pipeline works"
IR_STATE=$T_TMP/state ir-submit ../img/paul.jpg >/dev/null
is "$(ir-queue depth "$T_TMP/state/requests")" "1${TAB}0" "IR_STATE moves the state folder"

done_testing
