#!/bin/sh
# tests/model.t: ir-model (convert, list, check, dump) on the shipped
# weights and on broken ones, and the byte-for-byte reproducibility of
# scripts/import-model.
#
# The import needs face-api's npm tarball. It is cached in tests/out/
# (git-ignored): the first run fetches it with `npm pack` (registry access
# needed, as for `scripts/install-deps check`); set IR_FACEAPI_TGZ to use
# another copy. If it cannot be fetched the test fails and says so.
. "$(dirname "$0")/lib.sh"

M=$T_TOP/model
tool=$IR_BIN/ir-model
[ -x "$tool" ] || { plan 1; ok 1 "$tool is built"; exit 1; }

# patch FILE OFFSET PACKFMT VALUE [fix]: overwrite bytes with struct.pack;
# "fix" rewrites the trailing SHA-256 so the table checks are reached.
patch() {
	python3 - "$@" <<'EOF'
import hashlib, struct, sys
f, off, fmt, val = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
b = bytearray(open(f, 'rb').read())
b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, val)
if len(sys.argv) > 5:
    b[-32:] = hashlib.sha256(b[:-32]).digest()
open(f, 'wb').write(b)
EOF
}

# refused WHAT FILE REGEX: check/list/dump all exit 2 with the reason.
refused() {
	run ir-model check "$2"
	is "$rc" 2 "$1: check exits 2"
	like "$errout" "^ir-model: .*$3" "$1: says why"
	run ir-model list "$2"
	is "$rc:$out" "2:" "$1: list exits 2, prints nothing"
}

# --- the shipped files
run ir-model list "$M/tiny_face_detector.irw"
is "$rc" 0 "list exits 0"
is "$(printf '%s\n' "$out" | sed -n 2p)" \
    "$(printf '0\tconv0/filters\tf32\tu8\t[3,3,3,16]\t0.009007044399485869\t-1.2069439495311063\t3136\t432')" \
    "list: first tensor line"
is "$(printf '%s\n' "$out" | tail -n 1 | cut -f1,2,5,9)" \
    "$(printf '18\tconv8/bias\t[25]\t25')" "list: last tensor line"
run ir-model list "$M/ssd_mobilenetv1.irw"
is "$(printf '%s\n' "$out" | grep -c '	i32	u8	')" 15 "ssd keeps 15 int32 constants"
like "$(printf '%s\n' "$out" | grep 'Output/extra_dim')" \
    '	f32	f32	\[1,5118,4\]	1	0	[0-9]+	81888$' "ssd anchors are raw f32"
run ir-model check "$M"/*.irw
is "$rc" 0 "check all shipped files"
is "$(printf '%s\n' "$out" | grep -c '	ok	')" 5 "five files ok"
(cd "$M" && sha256sum --quiet -c SHA256SUMS) >/dev/null 2>&1
ok $? "model/SHA256SUMS matches"
run ir-model dump "$M/tiny_face_detector.irw" conv8/bias
is "$rc:$(printf '%s\n' "$out" | wc -l):$(printf '%s\n' "$out" | head -n 1)" \
    "0:25:0.165573791" "dump conv8/bias"
run ir-model dump "$M/tiny_face_detector.irw" no/such
is "$rc" 1 "dump of a missing tensor exits 1"
like "$errout" "no tensor no/such" "and says so"
run ir-model dump "$M/ssd_mobilenetv1.irw" concat_1/axis
is "$rc" 1 "dump of an int32 tensor exits 1"

# --- broken files: never a crash, always exit 2 with a reason
f=$T_TMP/w.irw
: >"$T_TMP/empty.irw"
refused "empty file" "$T_TMP/empty.irw" "empty file"
refused "missing file" "$T_TMP/nonexistent.irw" "cannot open"
n=$(wc -c <"$M/tiny_face_detector.irw")
head -c $((n - 100)) "$M/tiny_face_detector.irw" >"$f"
refused "truncated file" "$f" "truncated: header says $n bytes"
head -c 40 "$M/tiny_face_detector.irw" >"$f"
refused "file cut in the header" "$f" "truncated"
cp "$M/tiny_face_detector.irw" "$f"
patch "$f" 100000 B 7
refused "flipped byte" "$f" "checksum mismatch"
cp "$M/tiny_face_detector.irw" "$f"
patch "$f" 8 '<I' 4294967295 fix
refused "huge tensor count" "$f" "bad header: 4294967295 tensors"
cp "$M/tiny_face_detector.irw" "$f"
patch "$f" 24 '<Q' 18446744073709551552 fix
refused "huge data offset" "$f" "bad header"
cp "$M/tiny_face_detector.irw" "$f"
patch "$f" $((64 + 160 * 3 + 136)) '<Q' 18446744073709551552 fix
refused "huge tensor offset" "$f" "out of bounds"
cp "$M/tiny_face_detector.irw" "$f"
patch "$f" $((64 + 160 * 3 + 144)) '<Q' 18446744073709551615 fix
refused "huge tensor length" "$f" "does not match"
cp "$M/tiny_face_detector.irw" "$f"
python3 -c "
import hashlib,sys; b=bytearray(open('$f','rb').read()); b[64:160]=b'a'*96
b[-32:]=hashlib.sha256(b[:-32]).digest(); open('$f','wb').write(b)"
refused "name without NUL" "$f" "not NUL-terminated"
printf 'IRW1' >"$f"
refused "magic only" "$f" "truncated"
head -c 4096 /dev/zero >"$f"
refused "zeros" "$f" "bad magic"

# --- convert: a small manifest of our own
mkdir "$T_TMP/m"
printf '\000\001\002\377' >"$T_TMP/m/a.bin"
printf '\000\000\200\077\000\000\000\300' >>"$T_TMP/m/a.bin"  # 1.0, -2.0
cat >"$T_TMP/m/a.json" <<'EOF'
[{"paths": ["a.bin"], "weights": [
 {"name": "q", "shape": [2, 2], "dtype": "float32",
  "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
 {"name": "raw", "shape": [2], "dtype": "float32"}]}]
EOF
run ir-model convert "$T_TMP/m/a.json" "$T_TMP/m/a.irw"
is "$rc:$errout" "0:" "convert a small manifest"
run ir-model dump "$T_TMP/m/a.irw" q
is "$(echo $out)" "-1 -0.5 0 126.5" "uint8 dequantised as q*scale+min"
run ir-model dump "$T_TMP/m/a.irw" raw
is "$(echo $out)" "1 -2" "raw float32 kept"
run ir-model list "$T_TMP/m/a.irw"
is "$(printf '%s\n' "$out" | cut -f2-9 | tail -n 2 | tr '\t\n' ' ')" \
    "q f32 u8 [2,2] 0.5 -1 384 4 raw f32 f32 [2] 1 0 448 8 " \
    "list of the small file: aligned offsets"
ir-model convert "$T_TMP/m/a.json" "$T_TMP/m/b.irw"
cmp -s "$T_TMP/m/a.irw" "$T_TMP/m/b.irw"
ok $? "converting twice gives the same bytes"
printf '\000' >>"$T_TMP/m/a.bin"
run ir-model convert "$T_TMP/m/a.json" "$T_TMP/m/c.irw"
like "$rc:$errout" "^2:ir-model: .*tensors use 12 bytes, shards have 13" \
    "shard longer than its tensors refused"
head -c 5 "$T_TMP/m/b.irw" >"$T_TMP/m/a.bin"
run ir-model convert "$T_TMP/m/a.json" "$T_TMP/m/c.irw"
like "$rc:$errout" "^2:ir-model: .*raw: needs 8 bytes at 4" \
    "short shard refused"
[ ! -e "$T_TMP/m/c.irw" ]
ok $? "nothing written on failure"
echo '[{"paths": ["a.bin"], "weights": [{"name": "x", "shape": [1], "dtype": "float16"}]}]' >"$T_TMP/m/d.json"
run ir-model convert "$T_TMP/m/d.json" "$T_TMP/m/d.irw"
like "$rc:$errout" "^2:ir-model: .*dtype float16 not supported" "unknown dtype refused"
echo '{"not": "an array"' >"$T_TMP/m/e.json"
run ir-model convert "$T_TMP/m/e.json" "$T_TMP/m/e.irw"
like "$rc:$errout" "^2:ir-model: .*e.json: line" "invalid JSON refused"
run ir-model frobnicate
like "$rc:$errout" "^2:usage: ir-model" "usage error exits 2"

# --- the import reproduces model/ byte for byte
tgz=${IR_FACEAPI_TGZ:-$T_TOP/tests/out/vladmandic-face-api-1.7.15.tgz}
if [ ! -r "$tgz" ]; then
	mkdir -p "$T_TOP/tests/out" "$T_TMP/npm"
	(cd "$T_TMP/npm" && npm pack --loglevel=error @vladmandic/face-api@1.7.15) \
	    >"$T_TMP/npm.out" 2>&1 &&
	    mv "$T_TMP/npm/vladmandic-face-api-1.7.15.tgz" "$tgz"
fi
if [ -r "$tgz" ]; then
	IR_FACEAPI_TGZ=$tgz IR_MODEL_TOOL=$tool run import-model "$T_TMP/imp"
	is "$rc" 0 "import-model from $tgz"
	for x in face_recognition.irw tiny_face_detector.irw \
	    ssd_mobilenetv1.irw face_landmark_68.irw face_landmark_68_tiny.irw \
	    SHA256SUMS LICENSE SOURCE.md; do
		cmp -s "$M/$x" "$T_TMP/imp/$x"
		ok $? "import reproduces model/$x byte for byte"
	done
	bad=$T_TMP/bad.tgz
	head -c 100000 "$tgz" >"$bad"
	IR_FACEAPI_TGZ=$bad IR_MODEL_TOOL=$tool run import-model "$T_TMP/imp2"
	like "$rc:$errout" "^2:import-model: .*integrity" \
	    "import refuses a tarball with the wrong integrity"
else
	ok 1 "fetch @vladmandic/face-api@1.7.15 with npm pack (no registry access?): $(tail -n 2 "$T_TMP/npm.out" | tr '\n' ' ')"
fi

# --- where the tools look for the weights
IR_MODEL_DIR=/some/where run ir-model dir
is "$out" /some/where "dir: IR_MODEL_DIR first"
case $tool in "$T_TOP"/*)
	(unset IR_MODEL_DIR; "$tool" dir) >"$T_TMP/dir" 2>&1
	is "$(cat "$T_TMP/dir")" "$M" "dir: the checkout's model/ from the binary's place" ;;
esac
mkdir "$T_TMP/bin"
cp "$tool" "$T_TMP/bin/ir-model"
(unset IR_MODEL_DIR; "$T_TMP/bin/ir-model" dir) >"$T_TMP/dir" 2>&1
like "$(cat "$T_TMP/dir")" "^/.*/share/ir/model$" "dir: PREFIX/share/ir/model elsewhere"

# --- the man pages
for p in ir-model.1 ir-weights.5; do
	run mandoc -Tlint -Wwarning "$T_TOP/man/$p"
	is "$rc:$out$errout" "0:" "mandoc -Tlint $p"
done
done_testing
