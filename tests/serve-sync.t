#!/bin/sh
# serve-sync.t: who syncs. ir-serve stores an upload and queues its
# request without fsync, and marks the request "sync": false, so the
# worker does not sync its result and answer either (the request lives
# only as long as the upload that waits for its answer: a crash loses
# nothing answered, the client sees its connection fail); ir-submit, whose
# requests outlive it, syncs its image and request, and the worker syncs
# the result and answer of those. strace counts the calls.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null ||
	skip_all "strace missing (scripts/install-deps check)"
IMG=$T_TOP/tests/data/cse546/face_images_100/test_00.jpg
[ -f "$IMG" ] || skip_all "tests/data/cse546 missing"
IR_REQUEST_QUEUE=spool:$T_TMP/req
IR_RESPONSE_QUEUE=spool:$T_TMP/resp
IR_INPUT_STORE=dir:$T_TMP/in
IR_OUTPUT_STORE=dir:$T_TMP/out
IR_GALLERY=$T_TOP/examples/gallery.irg
# LeakSanitizer cannot run under ptrace (SAN=1 builds)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export IR_REQUEST_QUEUE IR_RESPONSE_QUEUE IR_INPUT_STORE IR_OUTPUT_STORE \
    IR_GALLERY ASAN_OPTIONS
plan 7

# fsyncs FILE: the fsync and fdatasync calls an strace -o FILE recorded.
fsyncs() { grep -c 'fsync(' "$1"; }

PORT=$(free_port)
strace -f -e trace=fsync,fdatasync -o "$T_TMP/serve.tr" \
    ir-serve -l "127.0.0.1:$PORT" 2>"$T_TMP/serve.log" &
STRACE=$!
strace -f -e trace=fsync,fdatasync -o "$T_TMP/worker.tr" \
    ir-classify -w -P 2>"$T_TMP/worker.log" &
WSTRACE=$!
at_exit "pkill -P $STRACE; pkill -P $WSTRACE"
wait_healthy "http://127.0.0.1:$PORT"
body=$(curl -s --max-time 60 -F "inputFile=@$IMG" "http://127.0.0.1:$PORT/")
like "$body" '^test_00:[A-Za-z]+$' "an upload is answered ($body)"
pkill -TERM -P $STRACE
wait $STRACE
is "$(fsyncs "$T_TMP/serve.tr")" 0 "ir-serve synced nothing"
is "$(fsyncs "$T_TMP/worker.tr")" 0 \
    "nor did the worker, for ir-serve's request (\"sync\": false)"

strace -f -e trace=fsync,fdatasync -o "$T_TMP/submit.tr" \
    ir-submit "$IMG" >"$T_TMP/sub"
is $? 0 "ir-submit queues an image"
ok $([ "$(fsyncs "$T_TMP/submit.tr")" -ge 2 ]; echo $?) \
    "ir-submit synced its image and request ($(fsyncs "$T_TMP/submit.tr"))"
like "$(ir-poll -t 60 <"$T_TMP/sub")" "test_00.jpg$(printf "\t")[A-Za-z]+" \
    "the worker answers it"
pkill -TERM -P $WSTRACE
wait $WSTRACE
ok $([ "$(fsyncs "$T_TMP/worker.tr")" -ge 2 ]; echo $?) \
    "the worker synced that result and answer ($(fsyncs "$T_TMP/worker.tr"))"
