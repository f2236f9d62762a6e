/*
 * facebox.c: unit tests of the box arithmetic around the face networks
 * (src/lib/facebox.c): clip_and_floor, the two NMS codes with their
 * tie-breaking and thresholds, SSD decoding and mapping, landmark decoding
 * and the alignment box, on hand-computed cases (MODEL-SPEC.md 2.5, 4.3,
 * 4.4, 5.5-5.7, 6.4, 7.3). Prints TAP.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "facenets.h"
#include "tap.h"

static int
near(double a, double b, double eps)
{
	return fabs(a - b) <= eps;
}

static void
test_clip(void)
{
	int c[4];
	double b1[4] = { -10.5, 20.7, 100.9, 50.2 };

	int r = ir_box_clip_floor(b1, 640, 480, c);
	ok(r && c[0] == 0 && c[1] == 20 &&
	    c[2] == 90 && c[3] == 50, "clip: left edge cut, each value "
	    "floored separately (%d %d %d %d)", c[0], c[1], c[2], c[3]);
	double b2[4] = { 600.5, 450.5, 100, 100 };
	r = ir_box_clip_floor(b2, 640, 480, c);
	ok(r && c[0] == 600 && c[1] == 450 &&
	    c[2] == 39 && c[3] == 29, "clip: right/bottom cut at the image "
	    "(%d %d %d %d)", c[0], c[1], c[2], c[3]);
	double b3[4] = { 700, 10, 50, 50 }, b4[4] = { 10, 10, 0.5, 50 };
	double b5[4] = { NAN, 0, 10, 10 };
	ok(!ir_box_clip_floor(b3, 640, 480, c) &&
	    !ir_box_clip_floor(b4, 640, 480, c) &&
	    !ir_box_clip_floor(b5, 640, 480, c),
	    "clip: boxes outside, under one pixel wide or NaN are empty");
}

static void
test_tiny(void)
{
	struct ir_det c[4], out[4];
	int idx[4];

	memset(c, 0, sizeof c);
	/* two identical boxes with equal scores: face-api pops the later */
	c[0] = (struct ir_det){ 0.9, { 0, 0, 10, 10 } };
	c[1] = (struct ir_det){ 0.9, { 0, 0, 10, 10 } };
	c[1].box[0] = 1e-9;
	/* IoU exactly 0.4 with c[3]'s box is kept (suppressed only if >) */
	c[2] = (struct ir_det){ 0.5, { 100, 0, 10, 10 } };
	c[3] = (struct ir_det){ 0.8, { 100, 0, 10, 4 } };
	int n = ir_nms_tiny(c, 4, 0.4, 1.0, 10, idx, out);
	ok(n == 3 && out[0].box[0] == 1e-9 && out[1].score == 0.8 &&
	    out[2].score == 0.5, "tiny NMS: ties go to the later candidate, "
	    "IoU == 0.4 is kept (%d kept)", n);
	n = ir_nms_tiny(c, 4, 0.4, 1.0, 1, idx, out);
	ok(n == 1 && out[0].box[0] == 1e-9, "tiny NMS: max caps the picks");

	/* one cell (G = 1), anchor 0: obj logit 0 is score 0.5, dropped at
	 * threshold 0.5 (strict); logit 2 passes */
	float grid[25] = { 0 };
	struct ir_det d[5];
	ok(ir_tinydet_decode(grid, 1, 32, 32, 32, 0.5, d) == 0,
	    "tiny decode: score must be > the threshold");
	grid[4] = 2;
	n = ir_tinydet_decode(grid, 1, 64, 32, 32, 0.5, d);
	/* 64x32 at size 32: reshaped 32x16, fx = 1, fy = 2; cx = 0.5,
	 * cy = 0.5 * 2; w = 1.603231, h = 2.094468 * 2 */
	ok(n == 1 && near(d[0].score, 1 / (1 + exp(-2.0)), 1e-12) &&
	    near(d[0].box[2], 1.603231, 1e-12) &&
	    near(d[0].box[3], 2.094468 * 2, 1e-12) &&
	    near(d[0].box[0], 0.5 - 1.603231 / 2, 1e-12) &&
	    near(d[0].box[1], 1.0 - 2.094468, 1e-12),
	    "tiny decode: sigmoid/exp, anchors, padding correction");
}

static void
test_ssd(void)
{
	float enc[8] = { 0 }, anc[8] = { 0.1f, 0.2f, 0.5f, 0.6f,
		0.0f, 0.0f, 1.0f, 1.0f }, box[8];

	ir_ssd_decode(enc, anc, 2, box);
	ok(near(box[0], 0.1, 1e-7) && near(box[1], 0.2, 1e-7) &&
	    near(box[2], 0.5, 1e-7) && near(box[3], 0.6, 1e-7) &&
	    near(box[6], 1, 1e-7), "ssd decode: zero encodings give the "
	    "anchor back");
	enc[0] = 10;  /* ty: one anchor height down */
	enc[2] = 5 * logf(2);  /* th: twice as tall */
	ir_ssd_decode(enc, anc, 1, box);
	/* cy = 10/10 * 0.4 + 0.3 = 0.7, half height = 2 * 0.4 / 2 = 0.4 */
	ok(near(box[0], 0.3, 1e-6) && near(box[2], 1.1, 1e-6) &&
	    near(box[1], 0.2, 1e-6) && near(box[3], 0.6, 1e-6),
	    "ssd decode: centre moved by ty/10 * h, height * exp(th/5) "
	    "(%g %g %g %g)", box[0], box[1], box[2], box[3]);

	/* NMS: 3 boxes, b overlaps a by IoU 0.6 -> dropped; c has zero
	 * area -> IoU 0 with all, kept; d below the threshold */
	float bx[16] = { 0, 0, 1, 1,  0, 0.4f, 1, 1,  0.5f, 0.5f, 0.5f, 0.5f,
		0, 0, 1, 1 };
	float sc[4] = { 0.9f, 0.8f, 0.7f, 0.5f };
	int idx[4], sel[4];
	int n = ir_ssd_nms(bx, sc, 4, 0.5, 0.5, 100, idx, sel);
	ok(n == 2 && sel[0] == 0 && sel[1] == 2, "ssd NMS: IoU > 0.5 "
	    "suppressed, zero-area boxes never, score must be > min (%d)", n);
	n = ir_ssd_nms(bx, sc, 4, 0.5, 0.5, 1, idx, sel);
	ok(n == 1 && sel[0] == 0, "ssd NMS: max results");

	/* mapping: a 1024x512 image is padded to 1024 square at 512 ->
	 * reshaped 512x256, padY = 2: ymax 0.5 is the image bottom */
	float b[4] = { -0.1f, 0.25f, 0.5f, 1.2f };
	double out[4];
	ir_ssd_map(b, 1024, 512, out);
	ok(near(out[0], 256, 1e-4) && near(out[1], 0, 1e-9) &&
	    near(out[2], 768, 1e-4) && near(out[3], 512, 1e-4),
	    "ssd map: clipped to the padded square, padding undone "
	    "(%g %g %g %g)", out[0], out[1], out[2], out[3]);
}

static void
test_landmarks(void)
{
	float o[136];
	double rel[68][2];

	/* a 50x100 crop is scaled by 1.12 to 56x112 and padded 28 px left
	 * (symmetrically): x = 0.5 is the crop's centre */
	for (int i = 0; i < 68; i++) {
		o[2 * i] = 0.5f;
		o[2 * i + 1] = 0.25f;
	}
	ir_lm_decode(o, 50, 100, rel);
	ok(near(rel[0][0], 0.5, 1e-6) && near(rel[0][1], 0.25, 1e-6),
	    "landmark decode: symmetric padding undone (%g %g)", rel[0][0],
	    rel[0][1]);
	o[0] = 28.0f / 112;
	ir_lm_decode(o, 50, 100, rel);
	ok(near(rel[0][0], 0, 1e-6), "landmark decode: the padding edge is "
	    "the crop's left edge");

	/* eyes at (40,50) and (60,50), mouth at (50,80): dist = sqrt(100 +
	 * 900) = 31.62, size = floor(70.27) = 70, ref = (50, 60) */
	double pts[68][2];
	double box[4];
	memset(pts, 0, sizeof pts);
	for (int i = 36; i < 42; i++)
		pts[i][0] = 40, pts[i][1] = 50;
	for (int i = 42; i < 48; i++)
		pts[i][0] = 60, pts[i][1] = 50;
	for (int i = 48; i < 68; i++)
		pts[i][0] = 50, pts[i][1] = 80;
	ir_align_box(pts, 200, 200, box);
	ok(box[0] == 15 && box[1] == floor(60 - 0.43 * 70) && box[2] == 70 &&
	    box[3] == 70, "alignment box: dlib square from eyes and mouth "
	    "(%g %g %g %g)", box[0], box[1], box[2], box[3]);
	for (int i = 36; i < 68; i++)
		pts[i][0] -= 40;
	ir_align_box(pts, 200, 200, box);
	ok(box[0] == 0 && box[2] == 70, "alignment box: shifted, not cut, at "
	    "the left edge");
}

int
main(void)
{
	printf("1..16\n");
	test_clip();
	test_tiny();
	test_ssd();
	test_landmarks();
	return tap_fail != 0;
}
