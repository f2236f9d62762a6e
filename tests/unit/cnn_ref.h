/*
 * cnn_ref.h: naive reference versions of the cnn.h kernels, for tests.
 *
 * Straight loops over the definitions (MODEL-SPEC.md 2.3-2.4), double
 * accumulation, no tricks: the yardstick the fast kernels are checked
 * against. Each conv/dwconv output also gets mag = sum of |w * x| over its
 * window, so tests can use a tolerance relative to the size of the terms.
 */
#ifndef IR_CNN_REF_H
#define IR_CNN_REF_H

#include <math.h>
#include <stddef.h>

#include "cnn.h"

static double
ref_act(double x, int act)
{
	switch (act) {
	case IR_ACT_RELU:
		return x > 0 ? x : 0;
	case IR_ACT_RELU6:
		return x < 0 ? 0 : x > 6 ? 6 : x;
	case IR_ACT_LEAKY:
		return x > 0 ? x : 0.1 * x;
	default:
		return x;
	}
}

static int
ref_out(int in, int k, int s, int pad)
{
	return pad == IR_PAD_SAME ? (in + s - 1) / s :
	    in < k ? 0 : (in - k) / s + 1;
}

static int
ref_before(int in, int k, int s, int pad)
{
	if (pad != IR_PAD_SAME)
		return 0;
	int o = ref_out(in, k, s, pad), t = (o - 1) * s + k - in;
	return t > 0 ? t / 2 : 0;
}

/* Regular conv, HWIO weights, epilogue act(v*scale + bias + res). */
static void
ref_conv(const float *in, int n, int h, int w, int cin, int kh, int kw,
    int cout, int s, int pad, const float *wt, const float *scale,
    const float *bias, const float *res, int act, float *out, double *mag)
{
	int oh = ref_out(h, kh, s, pad), ow = ref_out(w, kw, s, pad);
	int pt = ref_before(h, kh, s, pad), pl = ref_before(w, kw, s, pad);
	for (int b = 0; b < n; b++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int co = 0; co < cout; co++) {
					double acc = 0, m = 0;
					for (int ky = 0; ky < kh; ky++)
						for (int kx = 0; kx < kw; kx++) {
							int iy = oy * s - pt + ky;
							int ix = ox * s - pl + kx;
							if (iy < 0 || ix < 0 ||
							    iy >= h || ix >= w)
								continue;
							for (int ci = 0; ci < cin; ci++) {
								double t = (double)in[(((size_t)b * h + iy) * w + ix) * cin + ci] *
								    wt[((size_t)(ky * kw + kx) * cin + ci) * cout + co];
								acc += t;
								m += fabs(t);
							}
						}
					size_t o = (((size_t)b * oh + oy) * ow + ox) * cout + co;
					double v = acc * (scale ? scale[co] : 1.0) +
					    (bias ? bias[co] : 0.0);
					if (res)
						v += res[o];
					out[o] = (float)ref_act(v, act);
					mag[o] = m * (scale ? fabs(scale[co]) : 1.0) +
					    (bias ? fabs(bias[co]) : 0.0) +
					    (res ? fabs(res[o]) : 0.0);
				}
}

static void
ref_dwconv(const float *in, int n, int h, int w, int c, int k, int s,
    int pad, const float *wt, const float *scale, const float *bias, int act,
    float *out, double *mag)
{
	int oh = ref_out(h, k, s, pad), ow = ref_out(w, k, s, pad);
	int pt = ref_before(h, k, s, pad), pl = ref_before(w, k, s, pad);
	for (int b = 0; b < n; b++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int ch = 0; ch < c; ch++) {
					double acc = 0, m = 0;
					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++) {
							int iy = oy * s - pt + ky;
							int ix = ox * s - pl + kx;
							if (iy < 0 || ix < 0 ||
							    iy >= h || ix >= w)
								continue;
							double t = (double)in[(((size_t)b * h + iy) * w + ix) * c + ch] *
							    wt[(ky * k + kx) * c + ch];
							acc += t;
							m += fabs(t);
						}
					size_t o = (((size_t)b * oh + oy) * ow + ox) * c + ch;
					double v = acc * (scale ? scale[ch] : 1.0) +
					    (bias ? bias[ch] : 0.0);
					out[o] = (float)ref_act(v, act);
					mag[o] = m * (scale ? fabs(scale[ch]) : 1.0) +
					    (bias ? fabs(bias[ch]) : 0.0);
				}
}

static void
ref_maxpool(const float *in, int n, int h, int w, int c, int k, int s,
    int pad, float *out)
{
	int oh = ref_out(h, k, s, pad), ow = ref_out(w, k, s, pad);
	int pt = ref_before(h, k, s, pad), pl = ref_before(w, k, s, pad);
	for (int b = 0; b < n; b++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int ch = 0; ch < c; ch++) {
					float m = -INFINITY;
					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++) {
							int iy = oy * s - pt + ky;
							int ix = ox * s - pl + kx;
							if (iy < 0 || ix < 0 ||
							    iy >= h || ix >= w)
								continue;
							float v = in[(((size_t)b * h + iy) * w + ix) * c + ch];
							if (v > m)
								m = v;
						}
					out[(((size_t)b * oh + oy) * ow + ox) * c + ch] = m;
				}
}

static void
ref_avgpool(const float *in, int n, int h, int w, int c, int k, int s,
    float *out)
{
	int oh = ref_out(h, k, s, IR_PAD_VALID), ow = ref_out(w, k, s, IR_PAD_VALID);
	for (int b = 0; b < n; b++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int ch = 0; ch < c; ch++) {
					double acc = 0;
					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++)
							acc += in[(((size_t)b * h + oy * s + ky) * w + ox * s + kx) * c + ch];
					out[(((size_t)b * oh + oy) * ow + ox) * c + ch] =
					    (float)(acc / (k * k));
				}
}

#endif
