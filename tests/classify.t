#!/bin/sh
# classify.t: the course workload and ir-classify's output formats.
# A gallery built with ir-enroll from examples/enroll must label all 100
# images of tests/data/cse546/face_images_100 exactly as labels_100.csv
# says; the shipped examples/gallery.irg must agree with a fresh build,
# and so must examples/course.irg, which labels all 100 right;
# the TSV and JSON formats of ir-classify(1) hold (largest face first,
# which path found each face, descriptors, landmarks, noface, exit
# statuses).
. "$(dirname "$0")/lib.sh"
cd "$T_TOP"
D=tests/data/cse546
G=$T_TMP/course.irg

run ir-enroll -g "$G" import examples/enroll
is "$rc" 0 "gallery built from examples/enroll"

# The 100 images, names on stdin, as the workload sends them.
ls $D/face_images_100/*.jpg >"$T_TMP/files"
run sh -c "ir-classify -g '$G' <'$T_TMP/files'"
is "$rc" 0 "course images: exit status 0"
is "$errout" "" "course images: nothing on stderr"
printf '%s\n' "$out" >"$T_TMP/tsv"
is "$(wc -l <"$T_TMP/tsv" | tr -d ' ')" 100 "one line per image"
# name,label as labels_100.csv spells it.
awk -F'\t' '{ n = $1; sub(".*/", "", n); sub("\\.jpg$", "", n);
    print n "," $2 }' "$T_TMP/tsv" | sort >"$T_TMP/got"
tail -n +2 $D/labels_100.csv | tr -d '\r' | sort >"$T_TMP/want"
right=$(comm -12 "$T_TMP/got" "$T_TMP/want" | wc -l | tr -d ' ')
# The goal, marked TODO (prove reports it, and reports when it starts to
# pass): face-api's descriptor of a 64x64 thumbnail (a face of about 25
# pixels) lies 0.36-0.74 from that of its own 250x250 original even when
# cropped at exactly the same place. face-api itself gets 6/10 photos
# right with the same detector sizes (tests/tools/faceapi-course.cjs) and
# 2/10 at its default size of 416. Describing small faces as the mean of
# 9 jittered crops (the default, IR_JITTER=48) brings ours to 9/10: only
# test_04 (Emily) stays "unknown", at 0.64 from the mean of Emily's two
# enrolment photos (0.605 from the nearer one).
T_N=$((T_N + 1))
if [ "$right" = 100 ]; then
	echo "ok $T_N - all 100 labelled as labels_100.csv # TODO small-face accuracy"
else
	echo "not ok $T_N - all 100 labelled as labels_100.csv ($right/100) # TODO small-face accuracy"
	comm -13 "$T_TMP/got" "$T_TMP/want" | sed 's/^/#   expected /' | head -10
	comm -23 "$T_TMP/got" "$T_TMP/want" | sed 's/^/#   got      /' | head -10
fi
# What holds today, and must not regress: nobody is given a wrong name
# (every miss is "unknown"), and at least the nine photos recognised now.
wrong=$(comm -23 "$T_TMP/got" "$T_TMP/want" | grep -vc ',unknown$')
is "$wrong" 0 "no course image is given someone else's name"
ok $([ "$right" -ge 90 ]; echo $?) "at least 90 of 100 labelled right ($right)"
bad=$(awk -F'\t' 'NF != 3 || $3 !~ /^[01]\.[0-9][0-9]$/' "$T_TMP/tsv" | wc -l)
is "$bad" 0 "every line: FILE, label, distance with two decimals"
# The ten copies of each photo are the same bytes: identical answers.
same=$(awk -F'\t' '{ n = $1; sub(".*test_", "", n); k = substr(n, 2, 1);
    v = $2 "\t" $3; if (k in a && a[k] != v) bad++; a[k] = v }
    END { print bad + 0 }' "$T_TMP/tsv")
is "$same" 0 "identical images, identical answers"

# -T 3: three images at once, same lines in the same order.
run sh -c "ir-classify -T 3 -g '$G' <'$T_TMP/files'"
is "$out" "$(cat "$T_TMP/tsv")" "-T 3: same answers in input order"

# The shipped gallery is current: it gives the same answers.
run sh -c "ir-classify -g examples/gallery.irg <'$T_TMP/files'"
is "$out" "$(cat "$T_TMP/tsv")" "examples/gallery.irg agrees with a fresh build"
# The shipped course gallery (scripts/make-gallery --course: the 100
# course photos under their labels, for running that workload): all 100
# right, and the same answers as a fresh build.
run sh -c "ir-classify -g examples/course.irg <'$T_TMP/files'"
printf '%s\n' "$out" >"$T_TMP/ctsv"
awk -F'\t' '{ n = $1; sub(".*/", "", n); sub("\\.jpg$", "", n);
    print n "," $2 }' "$T_TMP/ctsv" | sort >"$T_TMP/cgot"
is "$(comm -12 "$T_TMP/cgot" "$T_TMP/want" | wc -l | tr -d ' ')" 100 \
    "examples/course.irg: all 100 labelled as labels_100.csv"
run env IR_BIN="$IR_BIN" scripts/make-gallery --course "$T_TMP/course-fresh.irg"
is "$rc" 0 "scripts/make-gallery --course builds the course gallery"
run env IR_BIN="$IR_BIN" scripts/make-gallery --courze
is "$rc:$errout" "2:usage: make-gallery [--course] [OUTPUT]" \
    "make-gallery: an unknown option is a usage error (no file made)"
ok $([ ! -e ./--courze ]; echo $?) "make-gallery: no gallery named after it"
run sh -c "ir-classify -g '$T_TMP/course-fresh.irg' <'$T_TMP/files'"
is "$out" "$(cat "$T_TMP/ctsv")" "examples/course.irg agrees with a fresh build"
run sh -c "cd /tmp && env -u IR_GALLERY '$IR_BIN/ir-classify' '$T_TOP/$D/face_images_100/test_09.jpg'"
like "$out" "	Wang	" "without -g: the shipped example gallery"

# JSON: which path found each face, consistently (64x64 crops: the tiny
# face detector at its reduced input size finds the one face in each).
run sh -c "ir-classify -g '$G' -j <'$T_TMP/files'"
printf '%s\n' "$out" >"$T_TMP/json"
is "$(jq -s 'length' "$T_TMP/json")" 100 "-j: 100 JSON objects"
is "$(jq -r '.faces | length' "$T_TMP/json" | sort -u)" 1 "-j: one face each"
is "$(jq -r '.faces[].path' "$T_TMP/json" | sort -u)" tiny \
    "-j: every face found by the tiny detector (path tiny)"
is "$(jq -r 'select(.v != 1 or .label != .faces[0].label or
    .distance != .faces[0].distance or (.faces[0].box | length) != 4 or
    .faces[0].score <= 0 or (.ms | keys) != ["decode","describe","detect","landmarks"])
    | .name' "$T_TMP/json")" "" "-j: v, label, distance, box, score, ms"
jq -r '[(.name | sub(".*/"; "") | sub("\\.jpg$"; "")), .label] | join(",")' \
    "$T_TMP/json" | sort >"$T_TMP/jgot"
ok $(cmp -s "$T_TMP/jgot" "$T_TMP/got"; echo $?) "-j labels equal the TSV labels"
is "$(jq -r '"\(.name)\t\(.label)\t\(.distance * 100 | round / 100)"' "$T_TMP/json" |
    awk -F'\t' '{ printf "%s\t%s\t%.2f\n", $1, $2, $3 }')" \
    "$(cat "$T_TMP/tsv")" "-j distances are the TSV's at full precision"

run ir-classify -g "$G" -D -L $D/face_images_100/test_02.jpg
is "$(printf '%s' "$out" | jq '.faces[0].descriptor | length')" 128 "-D: 128 numbers"
is "$(printf '%s' "$out" | jq '.faces[0].landmarks | length')" 68 "-L: 68 points"
is "$(printf '%s' "$out" | jq '[.faces[0].landmarks[] | length] | unique')" \
    "[
  2
]" "-L: [x, y] each"
norm=$(printf '%s' "$out" | jq '[.faces[0].descriptor[] | . * .] | add | sqrt')
like "$norm" "^1\.[3-6]" "-D: descriptor not normalised (norm about 1.4-1.5)"

# Several faces, largest first; noface; threshold; exit statuses.
run ir-classify -g "$G" -j examples/photos/group5.jpg
is "$(printf '%s' "$out" | jq '.faces | length')" 5 "group photo: five faces"
is "$(printf '%s' "$out" | jq '[.faces[].box | .[2] * .[3]] | . == (sort | reverse)')" \
    true "group photo: largest face first"
run ir-classify -g "$G" examples/photos/group5.jpg
is "$(printf '%s\n' "$out" | awk -F'\t' '{ print NF }')" 11 \
    "TSV: a label and a distance per face"
run ir-classify -g "$G" tests/data/images/noface.jpg
is "$rc" 1 "no face anywhere: exit status 1"
is "$out" "tests/data/images/noface.jpg	noface" "noface line"
run ir-classify -g "$G" -j tests/data/images/noface.jpg
is "$(printf '%s' "$out" | jq -c '[.label, .faces, has("distance")]')" \
    '["noface",[],false]' "-j noface: label noface, no faces, no distance"
run ir-classify -g "$G" -t 0.01 $D/face_images_100/test_03.jpg
is "$rc" 1 "nobody recognised: exit status 1"
like "$out" "	unknown	0\.[0-9][0-9]\$" "-t: unknown keeps its distance"
run ir-classify -g "$G" tests/data/images/noface.jpg $D/face_images_100/test_03.jpg
is "$rc" 0 "one recognised among several: exit status 0"

# --jpeg faceapi: face-api's own pixels, so face-api's own descriptors
# (the oracle, tests/data/reference) from the JPEG file itself; the
# default decoder lands near them but not on them.
R=tests/data/reference
dist() { # JSON FILE: largest distance of ours to face-api's SSD faces
	jq -n --slurpfile a "$1" --slurpfile b "$R/faceapi_results.json" '
	    [$a[0].faces, ($b[0]["sample2.jpg"].ssd | sort_by(-(.box[2] * .box[3])))]
	    | transpose | map([.[0].descriptor, .[1].descriptor] | transpose
	    | map((.[0] - .[1]) * (.[0] - .[1])) | add | sqrt) | max'
}
ir-classify -d ssd -D --jpeg faceapi $R/images/sample2.jpg >"$T_TMP/fa.json"
ir-classify -d ssd -D $R/images/sample2.jpg >"$T_TMP/lj.json"
is "$(jq '.faces | length' "$T_TMP/fa.json")" 3 "--jpeg faceapi: sample2's 3 faces"
d=$(dist "$T_TMP/fa.json")
ok "$(awk -v d="$d" 'BEGIN { print (d < 0.001) ? 0 : 1 }')" \
    "--jpeg faceapi: descriptors within 0.001 of face-api's ($d)"
d=$(dist "$T_TMP/lj.json")
ok "$(awk -v d="$d" 'BEGIN { print (d > 0.001 && d < 0.2) ? 0 : 1 }')" \
    "default decoder: near face-api's, not equal ($d)"
run ir-classify --jpeg jpeg-js $R/images/sample2.jpg
is "$rc" 2 "--jpeg with an unknown decoder: exit 2"
like "$errout" 'bad JPEG decoder "jpeg-js" \(want libjpeg or faceapi\)' \
    "naming the value and the choices"
done_testing
