# tests/e2e-lib.sh: helpers for the end-to-end tests (e2e.t, e2e-aws.t,
# serve-bad.t): start and stop scripts/ir-up, send the course workload
# (100 concurrent multipart uploads, field inputFile, one curl each, as
# the CSE546 workload generator does) and compare the answers with
# labels_100.csv. Source after lib.sh.

E2E_DATA=$T_TOP/tests/data/cse546
[ -d "$E2E_DATA/face_images_100" ] || skip_all "tests/data/cse546 missing"

# The gallery: the course images themselves enrolled under their labels,
# so these tests check the system's plumbing (every answer comes back to
# its own request through web tier, queue, store and workers that may be
# killed), not the model's accuracy on 25-pixel faces, which
# tests/classify.t measures against the shipped example gallery.
e2e_gallery() {
	tail -n +2 "$E2E_DATA/labels_100.csv" | tr -d '\r' |
	    awk -F, -v d="$E2E_DATA/face_images_100" '{print d "/" $1 ".jpg," $2}' \
	    >"$T_TMP/course.csv"
	ir-enroll -g "$T_TMP/course.irg" import "$T_TMP/course.csv" \
	    >/dev/null 2>"$T_TMP/course.err" || {
		sed 's/^/# /' "$T_TMP/course.err"
		echo "Bail out! cannot enroll the course set"
		exit 1
	}
	IR_GALLERY=$T_TMP/course.irg
	export IR_GALLERY
}

# up_start STATEDIR [ir-up options]: starts ir-up on a free port; sets
# PORT, URL, UP_PID. Returns 0 once /healthz answers 200 and ir-up said
# it is ready (workers started), 1 if it died or took over 60 s.
up_start() {
	_st=$1
	shift
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	mkdir -p "$_st"
	ir-up -l "127.0.0.1:$PORT" -S "$_st" "$@" >"$_st.out" 2>"$_st.err" &
	UP_PID=$!
	at_exit "kill $UP_PID; sleep 1; kill -9 $UP_PID"
	for _i in $(seq 1 600); do
		if ! kill -0 "$UP_PID" 2>/dev/null; then
			sed 's/^/# /' "$_st.err"
			return 1
		fi
		grep -q "^http" "$_st.out" 2>/dev/null &&
			curl -fs -o /dev/null "$URL/healthz" && return 0
		sleep 0.1
	done
	return 1
}

# up_stop: SIGTERM to ir-up, then waits for it (it waits for its own
# children). Returns ir-up's exit status.
up_stop() {
	kill -TERM "$UP_PID" 2>/dev/null
	wait "$UP_PID"
}

# burst_bg URL OUTDIR: starts one curl per image, all at once; OUTDIR/NAME
# gets the body, OUTDIR/NAME.code the HTTP status. burst_wait waits.
BURST_PIDS=
burst_bg() {
	mkdir -p "$2"
	BURST_PIDS=
	for _f in "$E2E_DATA"/face_images_100/*.jpg; do
		_n=$(basename "$_f" .jpg)
		curl -s --max-time 120 -o "$2/$_n" -w '%{http_code}' \
		    -F "inputFile=@$_f" "$1/" >"$2/$_n.code" 2>/dev/null &
		BURST_PIDS="$BURST_PIDS $!"
	done
}
burst_wait() {
	for _p in $BURST_PIDS; do wait "$_p"; done
	BURST_PIDS=
}
burst() { burst_bg "$@"; burst_wait; }

# codes OUTDIR: "COUNT CODE" per status seen, e.g. "100 200".
codes() {
	for _f in "$1"/*.code; do cat "$_f"; echo; done | sort | uniq -c |
	    awk '{print $1, $2}' | paste -sd' ' -
}

# wrong OUTDIR: "got X, want Y" for each answer that differs from
# labels_100.csv (a missing answer shows as "got ,"); empty when all
# 100 are right.
wrong() {
	expected | while IFS=, read -r _n _want; do
		_got=$(cat "$1/$_n" 2>/dev/null)
		[ "$_got" = "$_n:$_want" ] || echo "$_n: got ${_got#*:}, want $_want"
	done | paste -sd';' -
}

# expected: labels_100.csv without its header, sorted, as answers prints.
expected() {
	tail -n +2 "$E2E_DATA/labels_100.csv" | tr -d '\r' | sort
}
