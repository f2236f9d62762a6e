#!/bin/sh
# enroll.t: ir-enroll add / list / remove / import (folder and CSV), the
# refusal of images without exactly one face, names, exit statuses, and
# that the gallery it writes is what ir-classify then recognises.
. "$(dirname "$0")/lib.sh"
cd "$T_TOP"
E=examples/enroll
img=tests/data/images
G=$T_TMP/g.irg

run ir-enroll -g "$G" add Paul $E/Paul/test_5.jpg
is "$rc" 0 "add: status 0"
is "$errout" "" "add: quiet when not on a terminal"
run ir-enroll -g "$G" list
is "$out" "Paul	1" "list after add"
run ir-enroll -g "$G" add Emily $E/Emily/test_59.jpg $E/Emily/test_69.jpg
is "$rc" 0 "add two photos at once"
# The course's two "Emily" photos are two people (0.85 apart): enrolled,
# with a warning, since the mean of the two fits neither.
like "$errout" "^ir-enroll: $E/Emily/test_69.jpg: 0\.8[0-9] from Emily's enrolled photos \(the same person is under 0\.60\): enrolled, check that it is Emily\$" \
    "a photo far from the person's others: warned"
run ir-enroll -g "$G" add Paul $img/paul250-progressive.jpg
run ir-enroll -g "$G" list
is "$out" "Paul	2
Emily	2" "list: names in enrollment order with descriptor counts"
run ir-classify -g "$G" $E/Emily/test_69.jpg
like "$out" "	Emily	0\.[0-4]" "the new gallery recognises Emily"
run env IR_GALLERY="$G" ir-enroll list
is "$(printf '%s\n' "$out" | wc -l)" 2 "IR_GALLERY names the gallery"

# A label the gallery contradicts is enrolled, with a warning: a new name
# for a face already enrolled, a face nearer someone else than its person.
run ir-enroll -g "$T_TMP/lab.irg" add Paul $E/Paul/test_5.jpg
run ir-enroll -g "$T_TMP/lab.irg" add Pablo $E/Paul/test_5.jpg
is "$rc" 0 "new name for an enrolled face: status 0"
is "$errout" "ir-enroll: $E/Paul/test_5.jpg: new person Pablo, but 0.00 from Paul (the same person is under 0.60): enrolled, check the label" \
    "new name for an enrolled face: warned"
run ir-enroll -g "$T_TMP/lab.irg" add Bob $E/Bob/test_64.jpg
is "$errout" "" "a new person unlike anyone: no warning"
run ir-enroll -g "$T_TMP/lab.irg" add Bob $E/Paul/test_5.jpg
like "$errout" "test_5.jpg: 0\.[0-9][0-9] from Bob's enrolled photos but 0\.00 from (Paul|Pablo): enrolled, check the label" \
    "a face nearer someone else: warned"
run ir-enroll -g "$T_TMP/lab.irg" list
is "$(printf '%s\n' "$out" | tr '\t\n' ': ')" "Paul:1 Pablo:1 Bob:2 " \
    "warned faces are enrolled"

# Refusals: no face, two faces, unreadable; the good ones still enrolled.
convert_ok=1
run ir-enroll -g "$G" add Bob $img/noface.jpg
is "$rc" 1 "no-face image: status 1"
is "$errout" "ir-enroll: $img/noface.jpg: no face found, not enrolled" \
    "no-face image: message"
# Two faces: two enrollment photos side by side, in a PPM made here.
python3 - "$E/Bill/test_94.jpg" "$E/Wang/test_96.jpg" "$T_TMP/two.ppm" <<'EOF' ||
import subprocess, sys
def ppm(path):
    b = subprocess.run(["djpeg", "-ppm", path], capture_output=True, check=True).stdout
    parts = b.split(maxsplit=4)
    w, h = int(parts[1]), int(parts[2])
    return w, h, parts[4]
w1, h1, a = ppm(sys.argv[1])
w2, h2, b = ppm(sys.argv[2])
assert h1 == h2
rows = b"".join(a[y*w1*3:(y+1)*w1*3] + b[y*w2*3:(y+1)*w2*3] for y in range(h1))
open(sys.argv[3], "wb").write(b"P6\n%d %d\n255\n" % (w1 + w2, h1) + rows)
EOF
	convert_ok=0
ok $((1 - convert_ok)) "made a two-face image"
run ir-classify -g "$G" "$T_TMP/two.ppm"
is "$(printf '%s\n' "$out" | awk -F'\t' '{print NF}')" 5 \
    "ir-classify finds the two faces"
run ir-enroll -g "$G" add Bill "$T_TMP/two.ppm" $E/Bill/test_94.jpg
is "$rc" 1 "two-face image: status 1"
is "$errout" "ir-enroll: $T_TMP/two.ppm: 2 faces found, not enrolled (need exactly one)" \
    "two-face image: message"
run ir-enroll -g "$G" list
like "$out" "Bill	1" "the good photo beside it was enrolled"
run ir-enroll -g "$G" add Ranil $img/text.jpg
is "$rc" 2 "unreadable image: status 2"
is "$errout" "ir-enroll: $img/text.jpg: not a JPEG, PNG or PPM image" \
    "unreadable image: message"
run ir-enroll -g "$G" add Ranil $img/noface.jpg
run ir-enroll -g "$G" list
is "$(printf '%s\n' "$out" | grep -c Ranil)" 0 "nobody added from refused photos"
run ir-enroll -g "$T_TMP/new.irg" add Ranil $img/noface.jpg
ok $([ ! -e "$T_TMP/new.irg" ]; echo $?) "nothing enrolled: no gallery file created"

# Names.
run ir-enroll -g "$G" add unknown $E/Bob/test_64.jpg
is "$rc" 2 "reserved name: status 2"
like "$errout" "reserved" "reserved name: message"
run ir-enroll -g "$G" add "$(printf 'a\tb')" $E/Bob/test_64.jpg
is "$rc" 2 "name with a tab refused"

# Remove.
run ir-enroll -g "$G" remove Emily
is "$rc" 0 "remove: status 0"
run ir-enroll -g "$G" list
is "$out" "Paul	2
Bill	1" "remove: Emily gone"
run ir-enroll -g "$G" remove Emily
is "$rc" 1 "remove of an absent name: status 1"
is "$errout" "ir-enroll: Emily: not in gallery $G" "remove absent: message"

# Import a folder of NAME/*.jpg (with a non-image file to skip).
mkdir -p "$T_TMP/people/Ann" "$T_TMP/people/Zed" "$T_TMP/people/.hidden"
cp $E/German/test_65.jpg "$T_TMP/people/Ann/a.JPG"
cp $E/Gerry/test_70.jpg $E/Gerry/test_73.jpg "$T_TMP/people/Zed/"
echo notes >"$T_TMP/people/Zed/README.txt"
cp $E/Bob/test_64.jpg "$T_TMP/people/.hidden/"
run ir-enroll -g "$T_TMP/imp.irg" import "$T_TMP/people"
is "$rc" 0 "import folder: status 0"
run ir-enroll -g "$T_TMP/imp.irg" list
is "$out" "Ann	1
Zed	2" "import folder: one person per sub-folder, images only, no dot folders"
run ir-enroll -g "$T_TMP/imp.irg" import "$T_TMP/people"
run ir-enroll -g "$T_TMP/imp.irg" list
is "$out" "Ann	2
Zed	4" "import again: descriptors accumulate"
cp $img/noface.jpg "$T_TMP/people/Ann/blank.jpg"
run ir-enroll -g "$T_TMP/imp2.irg" import "$T_TMP/people"
is "$rc" 1 "import with a no-face photo: status 1"
like "$errout" "blank.jpg: no face found, not enrolled" "import: refusal named"
run ir-enroll -g "$T_TMP/imp2.irg" list
is "$out" "Ann	1
Zed	2" "import: the others enrolled"
# On a terminal (a pty from script(1)), import shows its progress.
if command -v script >/dev/null; then
	script -qec "ir-enroll -g '$T_TMP/tty.irg' import '$T_TMP/people'" \
	    /dev/null >"$T_TMP/tty.out" 2>&1
	like "$(tr '\r' '\n' <"$T_TMP/tty.out")" "import 4/4 .*Zed/test_73.jpg" \
	    "import on a terminal shows progress"
	like "$(cat "$T_TMP/tty.out")" "3 images enrolled" \
	    "import on a terminal: a summary at the end"
	# Messages (a refusal, a warning) clear the progress line first.
	like "$(cat "$T_TMP/tty.out")" "test_73.jpg: 0\.6[0-9] from Zed's enrolled photos" \
	    "import on a terminal: the warning shown"
	is "$(grep -c 'jpgir-enroll:' "$T_TMP/tty.out")" 0 \
	    "import on a terminal: no message glued to the progress line"
else
	for i in 1 2 3 4; do ok 0 "# SKIP no script(1)"; done
fi
run ir-enroll -g "$T_TMP/x.irg" import "$T_TMP/nothere"
is "$rc" 2 "import of a missing folder: status 2"

# Import a CSV of file,name (header, quotes, relative to the CSV).
mkdir "$T_TMP/csv"
cp $E/Wang/test_96.jpg "$T_TMP/csv/w.jpg"
cp "$E/Bill/test_94.jpg" "$T_TMP/csv/b, 1.jpg"
cat >"$T_TMP/csv/list.csv" <<EOF
file,name
w.jpg,Wang Wei
"b, 1.jpg",Bill
# a comment
$T_TMP/csv/w.jpg,Wang Wei
EOF
run ir-enroll -g "$T_TMP/csv.irg" import "$T_TMP/csv/list.csv"
is "$rc" 0 "import CSV: status 0"
run ir-enroll -g "$T_TMP/csv.irg" list
is "$out" "Wang Wei	2
Bill	1" "import CSV: header skipped, quotes, commas, absolute and relative paths"
printf 'w.jpg\n' >"$T_TMP/csv/bad.csv"
run ir-enroll -g "$T_TMP/csv2.irg" import "$T_TMP/csv/bad.csv"
is "$rc" 2 "CSV line without a name: status 2"
like "$errout" "bad.csv:1: not \"file,name\"" "CSV error names the line"

# The whole example folder: every photo enrolls (exactly one face each).
run ir-enroll -g "$T_TMP/ex.irg" import $E
is "$rc" 0 "examples/enroll imports cleanly"
is "$(printf '%s\n' "$errout" | grep -c 'not enrolled')" 0 \
    "examples/enroll: no refusals"
is "$(printf '%s\n' "$errout" | sed 's/: 0\.[0-9]* from .*enrolled, check that it is.*//')" \
    "ir-enroll: $E/Emily/test_69.jpg
ir-enroll: $E/Gerry/test_73.jpg" \
    "examples/enroll: the two people whose photos lie 0.6 or more apart warned"
run ir-enroll -g "$T_TMP/ex.irg" list
is "$(printf '%s\n' "$out" | tr '\t\n' ': ')" \
    "Bill:1 Bob:1 Emily:2 German:1 Gerry:2 Paul:1 Ranil:1 Wang:1 " \
    "examples/enroll: eight people, ten photos"

# Gallery errors and usage.
printf 'junk' >"$T_TMP/junk.irg"
run ir-enroll -g "$T_TMP/junk.irg" add Paul $E/Paul/test_5.jpg
is "$rc" 2 "corrupt gallery: status 2"
like "$errout" "cannot load gallery: .*junk.irg: not an ir gallery" \
    "corrupt gallery: message"
is "$(cat "$T_TMP/junk.irg")" "junk" "corrupt gallery left untouched"
run ir-enroll -g "$T_TMP/none.irg" list
is "$rc" 2 "list of a missing gallery: status 2"
run env -u IR_GALLERY ir-enroll list
is "$rc" 2 "no gallery named: status 2"
like "$errout" "no gallery" "no gallery named: message"
run ir-enroll -g "$G" frobnicate
like "$errout" "usage: ir-enroll" "unknown command: usage"
run ir-enroll -g "$G" add Paul
is "$rc" 2 "add without files: usage"
ls "$T_TMP" | grep -q '\.tmp\.' && r=1 || r=0
ok $r "no temporary files left behind"
done_testing
