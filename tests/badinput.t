#!/bin/sh
# badinput.t: what ir-classify does with input that is not a clean RGB
# JPEG: every bad file gets a clear message on stderr, an error line on
# stdout and exit status 2, never a crash; every unusual but valid file
# (grayscale, CMYK, progressive, PNG with alpha, stdin) is converted and
# recognised. Also bad galleries, a missing model folder and corrupt
# weights. The images are in tests/data/images (see its make-files).
. "$(dirname "$0")/lib.sh"
cd "$T_TOP"
img=tests/data/images
G=examples/gallery.irg

# A crash shows as a signal exit (>= 128) or a sanitizer report.
no_crash() {
	[ "$rc" -lt 128 ] && ! printf '%s\n' "$errout" | grep -q 'Sanitizer\|runtime error'
}

# bad FILE REASON DESCRIPTION: refused with REASON, status 2, no crash.
bad() {
	run ir-classify -g "$G" "$1"
	is "$rc" 2 "$3: exit status 2"
	is "$out" "$1	error	$2" "$3: error line on stdout"
	is "$errout" "ir-classify: $1: $2" "$3: message on stderr"
}

bad $img/empty.jpg "empty file" "zero-byte file"
bad $img/truncated.jpg "truncated JPEG" "truncated JPEG"
bad $img/text.jpg "not a JPEG, PNG or PPM image" "text file named .jpg"
bad $img/huge.jpg \
    "image is 60000x60000 pixels, above the limit of 100000000" \
    "JPEG header claiming 60000x60000"
run ir-classify -g "$G" -m 4000 $img/paul250-progressive.jpg
is "$rc" 2 "-m lowers the pixel limit"
like "$out" "above the limit of 4000" "-m: the limit is named"
run ir-classify -g "$G" no/such/file.jpg
is "$rc" 2 "missing file: exit status 2"
like "$errout" "^ir-classify: no/such/file.jpg: cannot open .*No such file" \
    "missing file: message"
head -c 2000 $img/paul250-alpha.png >"$T_TMP/cut.png"
run ir-classify -g "$G" "$T_TMP/cut.png"
is "$out" "$T_TMP/cut.png	error	truncated PNG" "truncated PNG refused"

# Valid but unusual: each still Paul (his enrollment photo, converted).
for f in gray cmyk progressive alpha; do
	case $f in alpha) p=$img/paul250-alpha.png ;; *) p=$img/paul250-$f.jpg ;; esac
	run ir-classify -g "$G" "$p"
	is "$rc" 0 "$f: exit status 0"
	like "$out" "^$p	Paul	0\.[0-3][0-9]\$" "$f: recognised as Paul"
	is "$errout" "" "$f: nothing on stderr"
done
run ir-classify -g "$G" $img/gray.jpg $img/cmyk.jpg $img/progressive.jpg \
    $img/alpha.png $img/paul.ppm
ok $? "64x64 grayscale, CMYK, progressive, RGBA PNG and PPM all processed"
n=$(printf '%s\n' "$out" | grep -vc '	error	')
is "$n" 5 "64x64 variants: five result lines, no error"

# Image bytes on stdin, and names on stdin.
run sh -c "ir-classify -g $G - <$img/paul250-cmyk.jpg"
like "$out" "^-	Paul	" "'-' reads the image from stdin"
run sh -c "printf '%s\n' $img/paul250-gray.jpg $img/empty.jpg | ir-classify -g $G"
is "$rc" 2 "names on stdin: a bad one makes the status 2"
is "$(printf '%s\n' "$out" | cut -f2)" "Paul
error" "names on stdin: every image still gets its line, in order"

# A mix: the good images are still answered.
run ir-classify -g "$G" $img/text.jpg $img/paul250-progressive.jpg
is "$rc" 2 "a bad image among good ones: status 2"
like "$out" "paul250-progressive.jpg	Paul	" "the good one is still answered"

# JSON error object.
run ir-classify -g "$G" -j $img/truncated.jpg
is "$(printf '%s' "$out" | jq -c .)" \
    "{\"v\":1,\"name\":\"$img/truncated.jpg\",\"error\":\"truncated JPEG\"}" \
    "-j: error object"

# Galleries.
cp "$G" "$T_TMP/corrupt.irg"
printf 'X' | dd of="$T_TMP/corrupt.irg" bs=1 seek=100 conv=notrunc 2>/dev/null
run ir-classify -g "$T_TMP/corrupt.irg" $img/paul250-gray.jpg
is "$rc" 2 "corrupt gallery: exit status 2"
is "$errout" "ir-classify: cannot load gallery: $T_TMP/corrupt.irg: bad checksum (corrupt file)" \
    "corrupt gallery: message"
is "$out" "" "corrupt gallery: no result lines"
head -c 1000 "$G" >"$T_TMP/short.irg"
run ir-classify -g "$T_TMP/short.irg" $img/paul250-gray.jpg
is "$rc" 2 "truncated gallery: exit status 2"
like "$errout" "^ir-classify: cannot load gallery: $T_TMP/short.irg: truncated" \
    "truncated gallery: message"
printf 'name,descriptor\n' >"$T_TMP/text.irg"
run ir-classify -g "$T_TMP/text.irg" $img/paul250-gray.jpg
like "$errout" "not an ir gallery \(bad magic\)" "text as gallery: bad magic"
run ir-classify -g "$T_TMP/none.irg" $img/paul250-gray.jpg
is "$rc" 2 "missing gallery: exit status 2"
like "$errout" "cannot load gallery: cannot open $T_TMP/none.irg" \
    "missing gallery: message"
run env IR_GALLERY="$T_TMP/corrupt.irg" ir-classify $img/paul250-gray.jpg
like "$errout" "corrupt.irg: bad checksum" "IR_GALLERY is used"

# Models.
run env IR_MODEL_DIR=/nonexistent ir-classify -g "$G" $img/paul250-gray.jpg
is "$rc" 2 "missing model folder: exit status 2"
like "$errout" "^ir-classify: cannot load the face models: .*/nonexistent/" \
    "missing model folder: message names it"
no_crash; ok $? "missing model folder: no crash"
mkdir "$T_TMP/model"
cp model/*.irw "$T_TMP/model/"
f=$T_TMP/model/face_recognition.irw
head -c $(($(wc -c <"$f") / 2)) "$f" >"$f.cut" && mv "$f.cut" "$f"
run env IR_MODEL_DIR="$T_TMP/model" ir-classify -g "$G" $img/paul250-gray.jpg
is "$rc" 2 "truncated weights file: exit status 2"
like "$errout" "^ir-classify: cannot load the face models: .*face_recognition" \
    "truncated weights file: message names the file"
no_crash; ok $? "truncated weights: no crash"

# Usage.
run ir-classify -d yolo x.jpg
is "$rc" 2 "bad detector: usage status"
like "$errout" "bad detector" "bad detector: message"
run ir-classify -S 100 x.jpg
like "$errout" "multiple of 32" "tiny size must be a multiple of 32"
run ir-classify -t abc x.jpg
is "$rc" 2 "bad threshold: status 2"
run ir-classify -x
like "$errout" "usage: ir-classify" "unknown option prints usage"
for cmd in ir-classify ir-enroll; do
	run $cmd -T x list
	is "$rc" 2 "$cmd -T x: usage status"
	like "$errout" 'bad thread count "x" \(want 1\.\.256\)' "$cmd -T x: names the option and its range"
	run $cmd --jpeg turbo list
	is "$rc" 2 "$cmd --jpeg turbo: usage status"
	like "$errout" 'bad JPEG decoder "turbo" \(want libjpeg or faceapi\)' \
	    "$cmd --jpeg turbo: names the value and the choices"
done
run ir-classify -S 40 x.jpg
is "$rc" 2 "-S 40: usage status"
like "$errout" "bad tiny size 40 \(want a multiple of 32\)" "-S 40: message"
done_testing
