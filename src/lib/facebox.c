/*
 * facebox.c: the arithmetic face-api does around its networks: decoding
 * the tiny detector's grid and SSD's box encodings, the two different NMS
 * codes, mapping boxes back to the image, clipping crops, decoding 68
 * landmarks and the dlib-style alignment box (MODEL-SPEC.md 2.5, 4.3, 4.4,
 * 5.5-5.7, 6.4, 7.3).
 *
 * Invariants: nothing here allocates or touches a network. Where face-api
 * computes in JS doubles we use doubles; where it uses float32 tensor ops
 * (SSD decoding, landmark decoding) every step is rounded to float, so the
 * results match face-api's to the last bits on the same network outputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facenets.h"

double
ir_js_round(double x)
{
	return floor(x + 0.5);
}

void
ir_reshaped_dims(int w, int h, int size, int *rw, int *rh)
{
	double m = w > h ? w : h;

	*rw = (int)ir_js_round(w * (double)size / m);
	*rh = (int)ir_js_round(h * (double)size / m);
}

int
ir_box_clip_floor(const double box[4], int W, int H, int out[4])
{
	for (int i = 0; i < 4; i++)
		if (!isfinite(box[i]))
			return 0;
	double cx = fmax(box[0], 0), cy = fmax(box[1], 0);
	double cw = fmin(box[0] + box[2] - cx, W - cx);
	double ch = fmin(box[1] + box[3] - cy, H - cy);

	/* floor(cx) + floor(cw) <= W as cx + cw <= W */
	if (!(cw >= 1) || !(ch >= 1) || !(cx < W) || !(cy < H))
		return 0;
	out[0] = (int)floor(cx);
	out[1] = (int)floor(cy);
	out[2] = (int)floor(cw);
	out[3] = (int)floor(ch);
	return 1;
}

static double
sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* Anchors of the tiny face detector, in grid cells (spec 4.3). */
static const double tiny_anchor[5][2] = {
	{ 1.603231, 2.094468 }, { 6.041143, 7.080126 }, { 2.882459, 3.518061 },
	{ 4.266906, 5.178857 }, { 9.041765, 10.66308 },
};

int
ir_tinydet_decode(const float *grid, int G, int w, int h, int size,
    double min_score, struct ir_det *cand)
{
	int rw, rh, n = 0;

	ir_reshaped_dims(w, h, size, &rw, &rh);
	double m = rw > rh ? rw : rh;
	double fx = m / rw, fy = m / rh;
	for (int row = 0; row < G; row++)
		for (int col = 0; col < G; col++)
			for (int a = 0; a < 5; a++) {
				const float *t = grid +
				    ((size_t)row * G + col) * 25 + a * 5;
				double score = sigmoid(t[4]);
				if (!(score > min_score))
					continue;
				double cx = (col + sigmoid(t[0])) / G * fx;
				double cy = (row + sigmoid(t[1])) / G * fy;
				double bw = exp(t[2]) * tiny_anchor[a][0] / G *
				    fx;
				double bh = exp(t[3]) * tiny_anchor[a][1] / G *
				    fy;
				cand[n].score = score;
				cand[n].box[0] = cx - bw / 2;
				cand[n].box[1] = cy - bh / 2;
				cand[n].box[2] = bw;
				cand[n].box[3] = bh;
				n++;
			}
	return n;
}

/* face-api's iou() on (x, y, w, h) boxes, no zero-area guard. */
static double
iou_xywh(const double a[4], const double b[4], double s)
{
	double ax = a[0] * s, ay = a[1] * s, aw = a[2] * s, ah = a[3] * s;
	double bx = b[0] * s, by = b[1] * s, bw = b[2] * s, bh = b[3] * s;
	double iw = fmax(0.0, fmin(ax + aw, bx + bw) - fmax(ax, bx));
	double ih = fmax(0.0, fmin(ay + ah, by + bh) - fmax(ay, by));
	double inter = iw * ih;

	return inter / (aw * ah + bw * bh - inter);
}

int
ir_nms_tiny(const struct ir_det *cand, int n, double iou_max, double scale,
    int max, int *idx, struct ir_det *out)
{
	int left = n, npick = 0;

	/*
	 * face-api sorts ascending (stable) and pops from the end, so among
	 * equal scores the later candidate is picked first. idx[0..left)
	 * holds the live candidates in that ascending order.
	 */
	for (int i = 0; i < n; i++) {
		int j = i;
		while (j > 0 && cand[idx[j - 1]].score > cand[i].score) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	while (left > 0 && npick < max) {
		int cur = idx[--left], k = 0;
		out[npick++] = cand[cur];
		for (int i = 0; i < left; i++)
			if (iou_xywh(cand[cur].box, cand[idx[i]].box, scale) <=
			    iou_max)
				idx[k++] = idx[i];
		left = k;
	}
	return npick;
}

void
ir_ssd_decode(const float *enc, const float *anc, int nbox, float *out)
{
	for (int i = 0; i < nbox; i++) {
		const float *t = enc + 4 * i, *a = anc + 4 * i;
		float ah = a[2] - a[0], aw = a[3] - a[1];
		float acy = a[0] + ah / 2.0f, acx = a[1] + aw / 2.0f;
		float cy = (t[0] / 10.0f) * ah + acy;
		float cx = (t[1] / 10.0f) * aw + acx;
		float hh = (float)exp((double)(t[2] / 5.0f)) * ah / 2.0f;
		float hw = (float)exp((double)(t[3] / 5.0f)) * aw / 2.0f;
		out[4 * i + 0] = cy - hh;
		out[4 * i + 1] = cx - hw;
		out[4 * i + 2] = cy + hh;
		out[4 * i + 3] = cx + hw;
	}
}

static double
iou_yxyx(const float *a, const float *b)
{
	double ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]);
	double ay1 = fmax(a[0], a[2]), ax1 = fmax(a[1], a[3]);
	double by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]);
	double by1 = fmax(b[0], b[2]), bx1 = fmax(b[1], b[3]);
	double areaa = (ay1 - ay0) * (ax1 - ax0);
	double areab = (by1 - by0) * (bx1 - bx0);

	if (areaa <= 0 || areab <= 0)
		return 0;
	double iy0 = fmax(ay0, by0), ix0 = fmax(ax0, bx0);
	double iy1 = fmin(ay1, by1), ix1 = fmin(ax1, bx1);
	double inter = fmax(iy1 - iy0, 0.0) * fmax(ix1 - ix0, 0.0);
	return inter / (areaa + areab - inter);
}

int
ir_ssd_nms(const float *boxes, const float *scores, int nbox,
    double min_score, double iou_max, int max, int *idx, int *sel)
{
	int n = 0, nsel = 0;

	for (int i = 0; i < nbox; i++) {
		if (!(scores[i] > min_score))
			continue;
		/* stable insertion by descending score */
		int j = n++;
		while (j > 0 && scores[idx[j - 1]] < scores[i]) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	if (max > nbox)
		max = nbox;
	for (int c = 0; c < n && nsel < max; c++) {
		int ok = 1;
		for (int s = nsel - 1; s >= 0; s--)
			if (iou_yxyx(boxes + 4 * idx[c], boxes + 4 * sel[s]) >
			    iou_max) {
				ok = 0;
				break;
			}
		if (ok)
			sel[nsel++] = idx[c];
	}
	return nsel;
}

void
ir_ssd_map(const float box[4], int w, int h, double out[4])
{
	int rw, rh;

	ir_reshaped_dims(w, h, IR_SSD_SIZE, &rw, &rh);
	double padx = (double)IR_SSD_SIZE / rw, pady = (double)IR_SSD_SIZE / rh;
	double top = fmax(0.0, box[0]) * pady;
	double bottom = fmin(1.0, box[2]) * pady;
	double left = fmax(0.0, box[1]) * padx;
	double right = fmin(1.0, box[3]) * padx;

	out[0] = left * w;
	out[1] = top * h;
	out[2] = (right - left) * w;
	out[3] = (bottom - top) * h;
}

void
ir_lm_decode(const float *out, int w, int h, double rel[68][2])
{
	double s = (double)IR_LM_SIZE / (w > h ? w : h);
	double wd = w * s, hd = h * s;
	/* face-api holds these in float32 tensors */
	float ws = (float)wd, hs = (float)hd;
	float padx = wd < hd ? (float)(fabs(wd - hd) / 2) : 0.0f;
	float pady = hd < wd ? (float)(fabs(wd - hd) / 2) : 0.0f;
	float size = (float)IR_LM_SIZE;

	for (int i = 0; i < 68; i++) {
		float x = (out[2 * i] * size - padx) / ws;
		float y = (out[2 * i + 1] * size - pady) / hs;
		rel[i][0] = x;
		rel[i][1] = y;
	}
}

static void
center(const double pts[68][2], int from, int to, double c[2])
{
	double x = 0, y = 0;

	for (int i = from; i < to; i++) {
		x += pts[i][0];
		y += pts[i][1];
	}
	c[0] = x / (to - from);
	c[1] = y / (to - from);
}

void
ir_align_box(const double pts[68][2], int cw, int ch, double box[4])
{
	double le[2], re[2], mo[2];

	center(pts, 36, 42, le);
	center(pts, 42, 48, re);
	center(pts, 48, 68, mo);
	/* face-api's Point.magnitude: sqrt(x*x + y*y), not hypot */
	double lx = le[0] - mo[0], ly = le[1] - mo[1];
	double rx_ = re[0] - mo[0], ry_ = re[1] - mo[1];
	double dist = (sqrt(lx * lx + ly * ly) +
	    sqrt(rx_ * rx_ + ry_ * ry_)) / 2;
	double size = floor(dist / 0.45);
	double rx = (0 + le[0] + re[0] + mo[0]) / 3;
	double ry = (0 + le[1] + re[1] + mo[1]) / 3;
	double x = floor(fmax(0.0, rx - 0.5 * size));
	double y = floor(fmax(0.0, ry - 0.43 * size));

	box[0] = x;
	box[1] = y;
	box[2] = fmin(size, cw + x);
	box[3] = fmin(size, ch + y);
}
