#!/bin/sh
# browser.t: the upload page in a real browser (headless Chromium through
# playwright-core): GET / from ir-serve, pick two images, and check that
# each card shows the name the server gives and that face boxes were drawn
# on its canvas. Keeps a screenshot in tests/out/browser.png.
. "$(dirname "$0")/lib.sh"

[ -x "$IR_BIN/ir-serve" ] || skip_all "bin/ir-serve not built"
[ -x /usr/bin/chromium ] || skip_all "chromium missing (scripts/install-deps check)"
[ -d "$T_TOP/tests/node/node_modules/playwright-core" ] ||
	skip_all "playwright-core missing (scripts/install-deps check)"
GAL=$T_TOP/examples/gallery.irg
[ -f "$GAL" ] || skip_all "examples/gallery.irg missing"
A=$T_TOP/tests/data/cse546/face_images_100/test_09.jpg
B=$T_TOP/tests/data/reference/images/sample1.jpg
want_a=$(grep '^test_09,' "$T_TOP/tests/data/cse546/labels_100.csv" | cut -d, -f2 | tr -d '\r')
plan 9

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
ir-serve -d -T 1 -g "$GAL" -l "127.0.0.1:$PORT" 2>"$T_TMP/serve.log" &
SERVE=$!
at_exit "kill $SERVE"
wait_healthy "$URL"
page=$(curl -s "$URL/")
like "$page" '<input id="pick" type="file"' "GET / serves the upload page"
! printf '%s' "$page" | grep -Eq '<script[^>]+src=|<link[^>]+href=|@import|url\(http'
ok $? "the page loads nothing from elsewhere"

# What the server says about B, to compare with what the page shows.
nb=$(curl -s -F "inputFile=@$B" "$URL/v1/recognize" | jq '.faces | length')

mkdir -p "$T_TOP/tests/out"
SHOT=$T_TOP/tests/out/browser.png
rm -f "$SHOT"
node "$T_TOP/tests/tools/browser.cjs" "$URL/" "$SHOT" "$A" "$B" \
    >"$T_TMP/rows" 2>"$T_TMP/node.err"
is "$?" 0 "the browser run completes"
sed 's/^/# /' "$T_TMP/node.err"
row_a=$(grep '^test_09.jpg	' "$T_TMP/rows")
row_b=$(grep '^sample1.jpg	' "$T_TMP/rows")
is "$(printf '%s' "$row_a" | cut -f2)" "$want_a" \
    "test_09.jpg: the card names $want_a"
is "$(printf '%s' "$row_a" | cut -f3)" "1 face, distance $(curl -s \
    -F "inputFile=@$A" "$URL/v1/recognize" | jq -r '.distance*100|round/100|tostring|if test("\\.") then . else .+".0" end' |
    awk '{printf "%.2f", $1}')" "test_09.jpg: one face and its distance"
ok $([ "$(printf '%s' "$row_a" | cut -f4)" -gt 100 ]; echo $?) \
    "test_09.jpg: a box drawn on the canvas ($(printf '%s' "$row_a" | cut -f4) pixels)"
like "$(printf '%s' "$row_b" | cut -f3)" "^$nb faces" \
    "sample1.jpg: as many faces as the server found ($nb)"
ok $([ "$(printf '%s' "$row_b" | cut -f4)" -gt $((nb * 200)) ]; echo $?) \
    "sample1.jpg: boxes drawn ($(printf '%s' "$row_b" | cut -f4) pixels)"
ok $([ -s "$SHOT" ] && ! grep -q '^pageerror' "$T_TMP/rows"; echo $?) \
    "a screenshot kept in tests/out/browser.png, no script errors"
