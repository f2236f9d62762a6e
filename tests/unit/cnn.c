/*
 * cnn.c: TAP tests of the layer kernels (src/lib/cnn.c) against the naive
 * reference of cnn_ref.h on random data: convolutions through every
 * algorithm (im2col, 1x1 GEMM, Winograd F(2x2) and F(4x4)) with odd sizes,
 * strides, TF same/valid padding, batches > 1, every epilogue and
 * activation; depthwise, pooling, global mean, add, affine, fc, folding and
 * the resize of toBatchTensor. Every check runs once per CPU variant this
 * machine supports (avx512, avx2, generic); others are reported as skips.
 *
 * Tolerance: |got - ref| <= 1e-4 * (sum of |terms|) + 1e-5, i.e. float
 * rounding of the sums; an indexing or padding bug is off by O(1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "cnn_ref.h"
#include "resize.h"
#include "util.h"

static int tn, tfail;

static void
ok(int cond, const char *fmt, const char *var, const char *what)
{
	tn++;
	printf("%sok %d - %s: %s\n", cond ? "" : "not ", tn, var, what);
	if (!cond)
		tfail++;
	(void)fmt;
}

static unsigned long long rs = 88172645463325252ull;

static float
frand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static float *
rnd(size_t n)
{
	float *p = ir_xaligned((n ? n : 1) * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

/* Max over i of |a - b| / (mag*1e-4 + 1e-5); <= 1 passes. */
static double
worst(const float *a, const float *b, const double *mag, size_t n)
{
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - b[i]) /
		    ((mag ? mag[i] : fabs(b[i])) * 1e-4 + 1e-5);
		if (!(e <= w))
			w = e; /* NaN propagates as a failure */
	}
	return w;
}

struct ccase {
	int n, h, w, cin, cout, k, s, pad, act, scale, bias, res, wino;
};

static const struct ccase convs[] = {
	{ 2, 7, 9, 3, 5, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 0, 1, 0, 0 },
	{ 1, 8, 8, 4, 6, 3, 2, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 0, 0 },
	{ 3, 9, 8, 3, 4, 7, 2, IR_PAD_VALID, IR_ACT_RELU, 1, 1, 0, 0 },
	{ 2, 10, 7, 5, 8, 1, 1, IR_PAD_VALID, IR_ACT_RELU6, 0, 1, 0, 0 },
	{ 2, 6, 6, 5, 8, 1, 2, IR_PAD_SAME, IR_ACT_NONE, 0, 1, 0, 0 },
	{ 2, 9, 11, 4, 7, 3, 1, IR_PAD_VALID, IR_ACT_LEAKY, 0, 1, 0, 0 },
	{ 2, 17, 17, 32, 64, 3, 2, IR_PAD_VALID, IR_ACT_RELU, 1, 1, 0, 0 },
	{ 1, 13, 13, 16, 32, 3, 2, IR_PAD_SAME, IR_ACT_RELU6, 0, 1, 0, 0 },
	{ 2, 11, 13, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 4 },
	{ 2, 11, 13, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 0, 0, 0, 2 },
	{ 1, 35, 35, 32, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 0, 4 },
	{ 3, 7, 5, 32, 64, 3, 1, IR_PAD_SAME, IR_ACT_LEAKY, 0, 1, 1, 2 },
	{ 3, 4, 4, 64, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU6, 1, 1, 1, 4 },
	{ 2, 1, 1, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 0, 4 },
	{ 2, 3, 3, 48, 96, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 1, 1, 1, 2 },
	{ 2, 8, 8, 128, 128, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 4 },
	{ 2, 5, 6, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 0, 1, 0, -1 },
	{ 2, 17, 17, 64, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 6 },
	{ 1, 35, 35, 32, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 1, 6 },
	{ 3, 7, 5, 32, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU6, 1, 1, 0, 6 },
	{ 2, 1, 1, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_LEAKY, 0, 1, 0, 6 },
	{ 2, 38, 41, 3, 32, 7, 2, IR_PAD_VALID, IR_ACT_RELU, 0, 1, 0, 0 },
	/* padded own-GEMM: zero-padded copy + direct (the descriptor's 7x7/2
	 * and the landmark net's 3x3/2 first convs, odd and even sizes) */
	{ 2, 23, 21, 3, 32, 7, 2, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 0, 0 },
	{ 2, 12, 12, 3, 32, 3, 2, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 0 },
	{ 1, 14, 9, 32, 64, 3, 2, IR_PAD_SAME, IR_ACT_NONE, 0, 1, 1, 0 },
	/* few output pixels (7..24: conv_direct_few, chunks of K, partial
	 * chunks, padded and inside, windows across images) and few-row
	 * Winograd GEMMs (8 to 24 tiles: prefetching row blocks) */
	{ 1, 4, 4, 256, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, -1 },
	{ 2, 3, 3, 48, 96, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 1, 1, 1, -1 },
	{ 1, 7, 7, 40, 32, 3, 2, IR_PAD_VALID, IR_ACT_LEAKY, 0, 1, 1, 0 },
	{ 2, 7, 7, 40, 32, 3, 2, IR_PAD_VALID, IR_ACT_RELU6, 1, 0, 1, 0 },
	{ 1, 1, 7, 32, 64, 1, 1, IR_PAD_SAME, IR_ACT_NONE, 0, 1, 1, 0 },
	{ 1, 4, 6, 16, 32, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, -1 },
	{ 1, 8, 8, 64, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 2 },
	{ 1, 17, 17, 64, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 1, 6 },
	{ 1, 9, 9, 256, 64, 3, 2, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1, 0 },
	{ 2, 9, 9, 24, 20, 3, 2, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 1, 0 },
	{ 2, 5, 7, 24, 20, 1, 1, IR_PAD_SAME, IR_ACT_RELU6, 0, 1, 1, 0 },
	/* 1x1 stride 1 with cout % 32 == 0: our GEMM (the tiny detector's
	 * pointwise convs, odd cin, every epilogue) */
	{ 2, 9, 11, 16, 32, 1, 1, IR_PAD_SAME, IR_ACT_LEAKY, 0, 1, 0, 0 },
	{ 1, 13, 13, 24, 64, 1, 1, IR_PAD_VALID, IR_ACT_RELU6, 1, 1, 1, 0 },
	{ 3, 5, 7, 7, 96, 1, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 1, 0 },
	{ 1, 23, 19, 128, 32, 1, 1, IR_PAD_SAME, IR_ACT_NONE, 1, 0, 0, 0 },
	{ 1, 64, 64, 64, 64, 1, 1, IR_PAD_SAME, IR_ACT_LEAKY, 0, 1, 0, 0 },
};

/* A conv test's output side: the result, the reference and its
 * magnitudes, the residual (when asked) and the workspace. */
struct obufs {
	size_t no;
	float *res, *out, *ref, *ws;
	double *mag;
};

static void
obufs_make(struct obufs *b, const struct ir_conv *c, int n, int h, int w,
    int res)
{
	int oh, ow;
	ir_conv_outsize(c, h, w, &oh, &ow);
	b->no = (size_t)n * oh * ow * c->cout;
	b->res = res ? rnd(b->no) : NULL;
	b->out = rnd(b->no);
	b->ref = ir_xaligned(b->no * sizeof(float) + 4);
	b->mag = ir_xmalloc((b->no + 1) * sizeof(double));
	b->ws = ir_xaligned((ir_conv_workspace(c, n, h, w) + 1) *
	    sizeof(float));
}

static void
obufs_free(struct obufs *b)
{
	free(b->res), free(b->out), free(b->ref), free(b->mag), free(b->ws);
}

static void
test_conv(const char *var, const struct ccase *t)
{
	struct ir_conv c = { .kh = t->k, .kw = t->k, .cin = t->cin,
		.cout = t->cout, .stride = t->s, .pad = t->pad, .act = t->act,
		.wino = t->wino };
	char err[IR_ERRMAX], what[256];
	int oh, ow;
	size_t K = (size_t)t->k * t->k * t->cin;
	float *w = rnd(K * t->cout), *in = rnd((size_t)t->n * t->h * t->w * t->cin);
	float *sc = rnd(t->cout), *bi = rnd(t->cout);

	c.w = w;
	c.scale = t->scale ? sc : NULL;
	c.bias = t->bias ? bi : NULL;
	int r = ir_conv_prepare(&c, err);
	ir_conv_outsize(&c, t->h, t->w, &oh, &ow);
	struct obufs b;
	obufs_make(&b, &c, t->n, t->h, t->w, t->res);
	size_t no = b.no;
	float *res = b.res, *out = b.out, *ref = b.ref, *ws = b.ws;
	double *mag = b.mag;
	ref_conv(in, t->n, t->h, t->w, t->cin, t->k, t->k, t->cout, t->s,
	    t->pad, w, c.scale, c.bias, res, t->act, ref, mag);
	ir_conv_forward(&c, in, t->n, t->h, t->w, out, res, ws);
	double e = worst(out, ref, mag, no);
	static const char *an[] = { "im2col", "gemm1x1", "winograd",
	    "own-gemm" };
	snprintf(what, sizeof what, "conv %s%s n%d %dx%dx%d k%d s%d %s -> %dx%dx%d "
	    "act%d%s%s%s (err %.3g)", an[c.algo],
	    c.algo == IR_CONV_WINO ? (c.wm == 6 ? " F6" : c.wm == 4 ? " F4" :
	    " F2") : "",
	    t->n, t->h, t->w, t->cin, t->k, t->s,
	    t->pad == IR_PAD_SAME ? "same" : "valid", oh, ow, t->cout, t->act,
	    t->scale ? " scale" : "", t->bias ? " bias" : "",
	    t->res ? " res" : "", e);
	/* our GEMM for every cout (a last panel padded with zeros) */
	int want = t->wino > 0 ? IR_CONV_WINO : IR_CONV_IM2COL_OWN;
	ok(r == 0 && e <= 1.0 && c.algo == want, NULL, var, what);

	/* in-place residual: res == out (allowed unless BLAS and scale) */
	if (t->res && (!t->scale || c.algo == IR_CONV_WINO ||
	    c.algo == IR_CONV_IM2COL_OWN)) {
		memcpy(out, res, no * sizeof(float));
		ir_conv_forward(&c, in, t->n, t->h, t->w, out, out, ws);
		e = worst(out, ref, mag, no);
		snprintf(what, sizeof what, "  same, residual in place (err %.3g)", e);
		ok(e <= 1.0, NULL, var, what);
	}
	ir_conv_release(&c);
	free(w), free(in), free(sc), free(bi);
	obufs_free(&b);
}

/*
 * Convolutions with 8-bit codes (wq): w = (q * qscale + qmin) * col[co] as
 * a model's quantised filters with a folded scale, the reference on those
 * floats. Passes of at most IR_CONV_FEW output pixels (per image when
 * padded) read the codes (counted in ir_cnn_stats' q8), others the
 * floats; cout not a multiple of 32 never packs them. Cases: padded 4x4
 * (the descriptor's 256-channel maps), chunks of K with a partial one,
 * windows inside, a single output pixel, a 1x1 conv on two 1x1 images
 * (the FC layer), no column factor, a map above the bound.
 */
static const struct qcase {
	int n, h, w, cin, cout, k, s, pad, act, res, col, q8;
} q8s[] = {
	{ 1, 4, 4, 256, 64, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 1, 1, 1 },
	{ 2, 4, 4, 64, 32, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 1, 1, 1 },
	{ 1, 3, 3, 48, 96, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 1 },
	{ 1, 8, 8, 128, 32, 3, 2, IR_PAD_VALID, IR_ACT_RELU, 0, 1, 1 },
	{ 1, 4, 4, 256, 32, 3, 2, IR_PAD_VALID, IR_ACT_NONE, 0, 1, 1 },
	{ 2, 1, 1, 256, 128, 1, 1, IR_PAD_VALID, IR_ACT_NONE, 0, 0, 1 },
	{ 1, 5, 5, 40, 64, 3, 1, IR_PAD_SAME, IR_ACT_LEAKY, 1, 1, 0 },
	{ 1, 3, 3, 32, 40, 3, 1, IR_PAD_SAME, IR_ACT_RELU, 0, 1, 0 },
};

static void
test_conv_q8(const char *var, const struct qcase *t)
{
	struct ir_conv c = { .kh = t->k, .kw = t->k, .cin = t->cin,
		.cout = t->cout, .stride = t->s, .pad = t->pad, .act = t->act,
		.wino = -1, .wq_scale = 0.0007, .wq_min = -0.09 };
	char err[IR_ERRMAX], what[256];
	int oh, ow;
	size_t K = (size_t)t->k * t->k * t->cin, nw = K * t->cout;
	unsigned char *q = ir_xmalloc(nw);
	float *w = ir_xaligned(nw * sizeof(float)), *col = rnd(t->cout);
	float *bi = rnd(t->cout);
	float *in = rnd((size_t)t->n * t->h * t->w * t->cin);

	for (size_t i = 0; i < nw; i++)
		q[i] = (unsigned char)(frand() * 127.5f + 128.0f);
	ir_cnn_q8_floats(q, (int)K, t->cout, c.wq_scale, c.wq_min,
	    t->col ? col : NULL, w);
	/* ir_cnn_q8_floats is (q * scale + min) * col to float rounding:
	 * a few units of 2^-24 of the column's range */
	double far = 0;
	for (size_t i = 0; i < nw; i++) {
		double f = t->col ? col[i % t->cout] : 1.0;
		double x = (q[i] * c.wq_scale + c.wq_min) * f;
		double e = fabs(w[i] - x) / (fabs(f) * (255 * c.wq_scale +
		    fabs(c.wq_min)));
		far = e > far ? e : far;
	}
	c.w = w, c.wq = q, c.wq_col = t->col ? col : NULL, c.bias = bi;
	struct ir_conv cf = c;     /* the same conv on the floats only */
	cf.wq = NULL;
	int r = ir_conv_prepare(&c, err) | ir_conv_prepare(&cf, err);
	ir_conv_outsize(&c, t->h, t->w, &oh, &ow);
	struct obufs b, bf;     /* the codes' pass, the floats' pass */
	obufs_make(&b, &c, t->n, t->h, t->w, t->res);
	obufs_make(&bf, &cf, t->n, t->h, t->w, 0);
	struct ir_cnn_stats s0, s1;
	ref_conv(in, t->n, t->h, t->w, t->cin, t->k, t->k, t->cout, t->s,
	    t->pad, w, NULL, bi, b.res, t->act, b.ref, b.mag);
	ir_cnn_stats(&s0);
	ir_conv_forward(&c, in, t->n, t->h, t->w, b.out, b.res, b.ws);
	ir_cnn_stats(&s1);
	ir_conv_forward(&cf, in, t->n, t->h, t->w, bf.out, b.res, bf.ws);
	double e = worst(b.out, b.ref, b.mag, b.no);
	int q8 = (int)(s1.q8 - s0.q8);
	int same = memcmp(b.out, bf.out, b.no * sizeof(float)) == 0;
	snprintf(what, sizeof what, "conv 8-bit codes n%d %dx%dx%d k%d s%d %s "
	    "-> %dx%dx%d%s%s: %d call(s) read them, %d expected; %s the "
	    "floats' pass (err %.3g, weights %.2g)",
	    t->n, t->h, t->w, t->cin, t->k, t->s,
	    t->pad == IR_PAD_SAME ? "same" : "valid", oh, ow, t->cout,
	    t->res ? " res" : "", t->col ? " col" : "", q8, t->q8,
	    same ? "bit for bit" : "NOT", e, far);
	ok(r == 0 && e <= 1.0 && q8 == t->q8 && same && far < 1e-6, NULL,
	    var, what);
	ir_conv_release(&c);
	ir_conv_release(&cf);
	obufs_free(&b);
	obufs_free(&bf);
	free(q), free(w), free(col), free(bi), free(in);
}

/* ir_conv_pool2 (1x1 conv fused with a 2x2/2 `same` max pool) against the
 * naive conv then the naive pool; odd sizes pool partial windows. */
static void
test_conv_pool(const char *var)
{
	static const struct { int h, w, cin, cout, act, scale; } cs[] = {
		{ 8, 8, 16, 32, IR_ACT_LEAKY, 0 },
		{ 7, 9, 16, 32, IR_ACT_LEAKY, 0 },
		{ 5, 3, 24, 64, IR_ACT_RELU, 1 },
		{ 1, 1, 32, 32, IR_ACT_RELU6, 0 },
		{ 6, 11, 128, 96, IR_ACT_NONE, 1 },
		{ 3, 4, 8, 40, IR_ACT_LEAKY, 0 },   /* cout % 32: unfused */
	};
	char err[IR_ERRMAX], what[256];

	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		int h = cs[i].h, w = cs[i].w, cin = cs[i].cin, co = cs[i].cout;
		int oh = (h + 1) / 2, ow = (w + 1) / 2;
		struct ir_conv c = { .kh = 1, .kw = 1, .cin = cin, .cout = co,
			.stride = 1, .pad = IR_PAD_SAME, .act = cs[i].act };
		float *wt = rnd((size_t)cin * co), *in = rnd((size_t)h * w * cin);
		float *sc = rnd(co), *bi = rnd(co);
		size_t nc = (size_t)h * w * co, no = (size_t)oh * ow * co;
		float *conv = ir_xaligned(nc * sizeof(float));
		float *ref = ir_xaligned(no * sizeof(float));
		float *out = rnd(no), *tmp = ir_xaligned(nc * sizeof(float));
		double *mag = ir_xmalloc(nc * sizeof(double));
		double *pmag = ir_xmalloc(no * sizeof(double));

		c.w = wt;
		c.scale = cs[i].scale ? sc : NULL;
		c.bias = bi;
		int r = ir_conv_prepare(&c, err);
		float *ws = ir_xaligned((ir_conv_workspace(&c, 1, h, w) + 1) *
		    sizeof(float));
		ref_conv(in, 1, h, w, cin, 1, 1, co, 1, IR_PAD_SAME, wt, c.scale,
		    c.bias, NULL, cs[i].act, conv, mag);
		ref_maxpool(conv, 1, h, w, co, 2, 2, IR_PAD_SAME, ref);
		for (size_t k = 0; k < no; k++)
			pmag[k] = 1.0 + fabs(ref[k]) * 10;
		ir_conv_pool2(&c, in, h, w, tmp, out, ws);
		double e = worst(out, ref, pmag, no);
		snprintf(what, sizeof what, "conv 1x1 + pool %dx%dx%d -> "
		    "%dx%dx%d act%d%s%s (err %.3g)", h, w, cin, oh, ow, co,
		    cs[i].act, cs[i].scale ? " scale" : "",
		    c.algo == IR_CONV_IM2COL_OWN && co % 32 == 0 ? " fused" :
		    " unfused", e);
		ok(r == 0 && e <= 1.0, NULL, var, what);
		ir_conv_release(&c);
		free(wt), free(in), free(sc), free(bi), free(conv), free(ref);
		free(out), free(tmp), free(mag), free(pmag), free(ws);
	}
}

struct dcase {
	int n, h, w, c, k, s, pad, act, affine;
};

static const struct dcase dws[] = {
	{ 2, 7, 9, 5, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 0 },
	{ 1, 8, 8, 32, 3, 2, IR_PAD_SAME, IR_ACT_RELU6, 1 },
	{ 2, 9, 7, 33, 3, 2, IR_PAD_SAME, IR_ACT_RELU, 1 },
	{ 2, 10, 10, 16, 3, 1, IR_PAD_VALID, IR_ACT_LEAKY, 1 },
	{ 1, 14, 14, 128, 3, 1, IR_PAD_SAME, IR_ACT_NONE, 0 },
	{ 3, 6, 5, 7, 5, 2, IR_PAD_SAME, IR_ACT_RELU, 1 },
	{ 1, 16, 16, 1024, 3, 1, IR_PAD_SAME, IR_ACT_RELU6, 1 },
	{ 2, 12, 11, 40, 3, 1, IR_PAD_SAME, IR_ACT_RELU6, 1 },
	{ 2, 12, 11, 40, 3, 2, IR_PAD_SAME, IR_ACT_LEAKY, 1 },
	{ 1, 13, 13, 48, 3, 2, IR_PAD_VALID, IR_ACT_RELU, 0 },
};

static void
test_dw(const char *var, const struct dcase *t)
{
	char what[256];
	float *w = rnd((size_t)t->k * t->k * t->c);
	float *in = rnd((size_t)t->n * t->h * t->w * t->c);
	float *sc = rnd(t->c), *bi = rnd(t->c);
	struct ir_dwconv d = { .k = t->k, .c = t->c, .stride = t->s,
		.pad = t->pad, .act = t->act, .w = w,
		.scale = t->affine ? sc : NULL, .bias = t->affine ? bi : NULL };
	int oh = ir_cnn_outsize(t->h, t->k, t->s, t->pad);
	int ow = ir_cnn_outsize(t->w, t->k, t->s, t->pad);
	size_t no = (size_t)t->n * oh * ow * t->c;
	float *out = rnd(no), *ref = ir_xaligned(no * sizeof(float) + 4);
	double *mag = ir_xmalloc((no + 1) * sizeof(double));

	ref_dwconv(in, t->n, t->h, t->w, t->c, t->k, t->s, t->pad, w, d.scale,
	    d.bias, t->act, ref, mag);
	ir_dwconv_forward(&d, in, t->n, t->h, t->w, out);
	double e = worst(out, ref, mag, no);
	snprintf(what, sizeof what, "dwconv n%d %dx%dx%d k%d s%d %s act%d%s "
	    "(err %.3g)", t->n, t->h, t->w, t->c, t->k, t->s,
	    t->pad == IR_PAD_SAME ? "same" : "valid", t->act,
	    t->affine ? " affine" : "", e);
	ok(e <= 1.0, NULL, var, what);

	/* the same rows in bands (first, middle, last, the rest; clipped) */
	int cuts[] = { -1, 1, oh / 2, oh - 1, oh + 2 };
	int same = 1;
	size_t rowf = (size_t)ow * t->c;
	float *band = ir_xaligned(((size_t)t->n * (oh + 3) * rowf + 1) *
	    sizeof(float));
	for (int k = 0; k + 1 < 5; k++) {
		int r0 = cuts[k] < 0 ? 0 : cuts[k];
		int r1 = cuts[k + 1] > oh ? oh : cuts[k + 1];
		if (r0 >= r1)
			continue;
		ir_dwconv_rows(&d, in, t->n, t->h, t->w, cuts[k], cuts[k + 1],
		    band);
		for (int b = 0; b < t->n; b++)
			if (memcmp(band + (size_t)b * (r1 - r0) * rowf,
			    out + ((size_t)b * oh + r0) * rowf,
			    (size_t)(r1 - r0) * rowf * sizeof(float)) != 0)
				same = 0;
	}
	ok(same, NULL, var, "  same, in bands of rows (ir_dwconv_rows)");
	free(band);
	free(w), free(in), free(sc), free(bi), free(out), free(ref), free(mag);
}

static void
test_pools(const char *var)
{
	static const int mp[][7] = { /* n h w c k s pad */
		{ 2, 72, 72, 32, 3, 2, IR_PAD_VALID },
		{ 1, 207, 207, 4, 2, 2, IR_PAD_SAME },
		{ 2, 13, 13, 5, 2, 1, IR_PAD_SAME },
		{ 1, 56, 56, 3, 3, 2, IR_PAD_SAME },
		{ 2, 9, 8, 3, 3, 2, IR_PAD_SAME },
		/* 2x2/2 full windows in one vector pass: VW multiples,
		 * odd channels, odd sizes (`same` pads the last row/col) */
		{ 2, 16, 15, 48, 2, 2, IR_PAD_SAME },
		{ 1, 9, 10, 35, 2, 2, IR_PAD_SAME },
		{ 2, 13, 13, 512, 2, 1, IR_PAD_SAME },
		{ 1, 8, 9, 32, 2, 2, IR_PAD_VALID },
	};
	char what[256];
	for (size_t i = 0; i < sizeof mp / sizeof mp[0]; i++) {
		const int *t = mp[i];
		int oh = ir_cnn_outsize(t[1], t[4], t[5], t[6]);
		int ow = ir_cnn_outsize(t[2], t[4], t[5], t[6]);
		size_t no = (size_t)t[0] * oh * ow * t[3];
		float *in = rnd((size_t)t[0] * t[1] * t[2] * t[3]);
		float *a = rnd(no), *b = rnd(no);
		ir_maxpool(in, t[0], t[1], t[2], t[3], t[4], t[5], t[6], a);
		ref_maxpool(in, t[0], t[1], t[2], t[3], t[4], t[5], t[6], b);
		snprintf(what, sizeof what, "maxpool n%d %dx%dx%d k%d s%d %s -> %dx%d",
		    t[0], t[1], t[2], t[3], t[4], t[5],
		    t[6] == IR_PAD_SAME ? "same" : "valid", oh, ow);
		ok(memcmp(a, b, no * sizeof(float)) == 0, NULL, var, what);
		free(in), free(a), free(b);
	}
	static const int ap[][6] = { /* n h w c k s */
		{ 2, 35, 35, 32, 2, 2 }, { 1, 17, 17, 64, 2, 2 },
		{ 2, 7, 7, 256, 7, 2 }, { 1, 14, 14, 128, 14, 2 },
		{ 3, 4, 4, 5, 2, 2 },
	};
	for (size_t i = 0; i < sizeof ap / sizeof ap[0]; i++) {
		const int *t = ap[i];
		int oh = ir_cnn_outsize(t[1], t[4], t[5], IR_PAD_VALID);
		int ow = ir_cnn_outsize(t[2], t[4], t[5], IR_PAD_VALID);
		size_t no = (size_t)t[0] * oh * ow * t[3];
		float *in = rnd((size_t)t[0] * t[1] * t[2] * t[3]);
		float *a = rnd(no), *b = rnd(no);
		ir_avgpool(in, t[0], t[1], t[2], t[3], t[4], t[5], a);
		ref_avgpool(in, t[0], t[1], t[2], t[3], t[4], t[5], b);
		double e = worst(a, b, NULL, no);
		snprintf(what, sizeof what, "avgpool n%d %dx%dx%d k%d s%d -> %dx%d "
		    "(err %.3g)", t[0], t[1], t[2], t[3], t[4], t[5], oh, ow, e);
		ok(e <= 1.0, NULL, var, what);
		free(in), free(a), free(b);
	}
}

static void
test_misc(const char *var)
{
	char what[256];
	/* global mean */
	float *in = rnd(3 * 5 * 4 * 7), g[21], gr[21];
	ir_global_mean(in, 3, 5, 4, 7, g);
	for (int b = 0; b < 3; b++)
		for (int c = 0; c < 7; c++) {
			double s = 0;
			for (int p = 0; p < 20; p++)
				s += in[(b * 20 + p) * 7 + c];
			gr[b * 7 + c] = (float)(s / 20);
		}
	ok(worst(g, gr, NULL, 21) <= 1.0, NULL, var, "global mean n3 5x4x7");

	/* add + relu, aliasing */
	float *a = rnd(37), *b = rnd(37), y[37], yr[37];
	for (int i = 0; i < 37; i++)
		yr[i] = a[i] + b[i] > 0 ? a[i] + b[i] : 0;
	ir_add(y, a, b, 37, IR_ACT_RELU);
	int good = memcmp(y, yr, sizeof y) == 0;
	ir_add(a, a, b, 37, IR_ACT_RELU);
	ok(good && memcmp(a, yr, sizeof y) == 0, NULL, var, "add + relu (also in place)");

	/* affine + each activation, leaky exactly as face-api */
	float x[4 * 6], s[6], t[6];
	for (int act = 0; act <= IR_ACT_LEAKY; act++) {
		for (int i = 0; i < 24; i++)
			x[i] = (i - 12) * 0.75f;
		for (int i = 0; i < 6; i++)
			s[i] = 1.0f + i, t[i] = 0.5f - i;
		ir_affine(x, 4, 6, s, t, act);
		good = 1;
		for (int i = 0; i < 24; i++) {
			float v = ((i - 12) * 0.75f) * s[i % 6] + t[i % 6], r;
			if (act == IR_ACT_LEAKY) {
				float m = v * 0.1f, q = v - m;
				r = (q > 0 ? q : 0) + m;
			} else
				r = (float)ref_act(v, act);
			if (fabsf(x[i] - r) > 1e-6f * (1 + fabsf(r)))
				good = 0;
		}
		snprintf(what, sizeof what, "affine + act %d", act);
		ok(good, NULL, var, what);
	}

	/* fully connected, as the nets run it: a 1x1 conv on 1x1 maps */
	float *fi = rnd(3 * 40), *fw = rnd(40 * 9), *fb = rnd(9), fo[27], fr[27];
	double fm[27];
	struct ir_conv fc = { .kh = 1, .kw = 1, .cin = 40, .cout = 9,
		.stride = 1, .pad = IR_PAD_VALID, .w = fw, .bias = fb };
	ir_conv_prepare(&fc, NULL);
	ir_conv_forward(&fc, fi, 3, 1, 1, fo, NULL, NULL);
	ir_conv_release(&fc);
	for (int n = 0; n < 3; n++)
		for (int o = 0; o < 9; o++) {
			double acc = fb[o], m = fabs(fb[o]);
			for (int c = 0; c < 40; c++) {
				acc += (double)fi[n * 40 + c] * fw[c * 9 + o];
				m += fabs((double)fi[n * 40 + c] * fw[c * 9 + o]);
			}
			fr[n * 9 + o] = (float)acc, fm[n * 9 + o] = m;
		}
	ok(worst(fo, fr, fm, 27) <= 1.0, NULL, var,
	    "fc 3x40 -> 9 + bias (1x1 conv on 1x1 maps)");

	/* folding a scale layer into weights == passing it as the epilogue */
	struct ir_conv c1 = { .kh = 3, .kw = 3, .cin = 16, .cout = 32,
		.stride = 1, .pad = IR_PAD_SAME, .act = IR_ACT_RELU };
	float *w = rnd(9 * 16 * 32), *cb = rnd(32), *sw = rnd(32), *sb = rnd(32);
	float *wf = ir_xmalloc(9 * 16 * 32 * sizeof(float)), bf[32];
	memcpy(wf, w, 9 * 16 * 32 * sizeof(float));
	memcpy(bf, cb, sizeof bf);
	ir_cnn_fold_scale(wf, bf, 9 * 16, 32, sw, sb);
	float *cin = rnd(2 * 6 * 6 * 16), *o1 = rnd(2 * 36 * 32), *o2 = rnd(2 * 36 * 32);
	float cbs[32];
	for (int i = 0; i < 32; i++)
		cbs[i] = cb[i] * sw[i] + sb[i];
	c1.w = w, c1.scale = sw, c1.bias = cbs;
	ir_conv_prepare(&c1, NULL);
	float *ws = ir_xaligned(ir_conv_workspace(&c1, 2, 6, 6) * 4 + 64);
	ir_conv_forward(&c1, cin, 2, 6, 6, o1, NULL, ws);
	ir_conv_release(&c1);
	c1.w = wf, c1.scale = NULL, c1.bias = bf;
	ir_conv_prepare(&c1, NULL);
	ir_conv_forward(&c1, cin, 2, 6, 6, o2, NULL, ws);
	ir_conv_release(&c1);
	ok(worst(o2, o1, NULL, 2 * 36 * 32) <= 10.0, NULL, var,
	    "fold_scale: folded weights == scale epilogue");
	free(w), free(cb), free(sw), free(sb), free(wf), free(cin), free(o1);
	free(o2), free(ws), free(in), free(a), free(b), free(fi), free(fw);
	free(fb);
}

/* Shapes and padding numbers of MODEL-SPEC 2.3 and the models' tables. */
static void
test_shapes(void)
{
	static const int t[][6] = { /* in k s pad -> out before */
		{ 512, 3, 2, IR_PAD_SAME, 256, 0 }, { 112, 3, 2, IR_PAD_SAME, 56, 0 },
		{ 207, 2, 2, IR_PAD_SAME, 104, 0 }, { 13, 2, 1, IR_PAD_SAME, 13, 0 },
		{ 150, 7, 2, IR_PAD_VALID, 72, 0 }, { 72, 3, 2, IR_PAD_VALID, 35, 0 },
		{ 8, 3, 2, IR_PAD_VALID, 3, 0 }, { 4, 3, 2, IR_PAD_VALID, 1, 0 },
		{ 35, 3, 1, IR_PAD_SAME, 35, 1 }, { 416, 3, 1, IR_PAD_VALID, 414, 0 },
		{ 7, 3, 2, IR_PAD_SAME, 4, 1 }, { 7, 7, 2, IR_PAD_VALID, 1, 0 },
	};
	int good = 1;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (ir_cnn_outsize(t[i][0], t[i][1], t[i][2], t[i][3]) != t[i][4] ||
		    ir_cnn_padbefore(t[i][0], t[i][1], t[i][2], t[i][3]) != t[i][5]) {
			printf("# in %d k %d s %d: got %d/%d\n", t[i][0], t[i][1],
			    t[i][2], ir_cnn_outsize(t[i][0], t[i][1], t[i][2], t[i][3]),
			    ir_cnn_padbefore(t[i][0], t[i][1], t[i][2], t[i][3]));
			good = 0;
		}
	ok(good, NULL, "all", "output sizes and TF padding");

	char err[IR_ERRMAX];
	struct ir_conv bad = { .kh = 3, .kw = 3, .cin = 0, .cout = 4, .stride = 1 };
	ok(ir_conv_prepare(&bad, err) == IR_EINVAL && strstr(err, "invalid"),
	    NULL, "all", "prepare refuses an impossible layer");
	ok(ir_cnn_set_cpu("sse9", err) == IR_EINVAL, NULL, "all",
	    "unknown cpu variant refused");
}

/*
 * Whether out (size x size x 3) is toBatchTensor of crop (x, y, w, h) of
 * img, every value equal to the per-pixel formula in double.
 */
static int
resize_is_exact(const struct ir_image *img, const int *crop, int size,
    int centered, const float *out)
{
	int cx = crop[0], cy = crop[1], cw = crop[2], ch = crop[3];
	int n = cw > ch ? cw : ch, d = n - (cw > ch ? ch : cw);
	int after = (int)floor(d / 2.0 + 0.5), before = centered ? d - after : 0;
	int bx = cw < ch ? before : 0, by = ch < cw ? before : 0;
	double ratio = (double)n / size;

	for (int r = 0; r < size; r++)
		for (int c = 0; c < size; c++)
			for (int ch3 = 0; ch3 < 3; ch3++) {
				double sy = ratio * r, sx = ratio * c;
				int y0 = (int)floor(sy), x0 = (int)floor(sx);
				int y1 = (int)ceil(sy) < n - 1 ? (int)ceil(sy) : n - 1;
				int x1 = (int)ceil(sx) < n - 1 ? (int)ceil(sx) : n - 1;
				double p[2][2];
				int ys[2] = { y0, y1 }, xs[2] = { x0, x1 };
				for (int a = 0; a < 2; a++)
					for (int bb = 0; bb < 2; bb++) {
						int yy = ys[a] - by, xx = xs[bb] - bx;
						p[a][bb] = (yy < 0 || xx < 0 || yy >= ch ||
						    xx >= cw) ? 0 : img->rgb[((cy + yy) *
						    img->w + cx + xx) * 3 + ch3];
					}
				double top = p[0][0] + (p[0][1] - p[0][0]) * (sx - x0);
				double bot = p[1][0] + (p[1][1] - p[1][0]) * (sx - x0);
				float v = (float)(top + (bot - top) * (sy - y0));
				if (out[(r * size + c) * 3 + ch3] != v)
					return 0;
			}
	return 1;
}

/* toBatchTensor: pad + legacy bilinear against a direct computation. */
static void
test_resize(const char *var)
{
	struct ir_image img = { .w = 13, .h = 7 };
	img.rgb = ir_xmalloc(13 * 7 * 3);
	for (int i = 0; i < 13 * 7 * 3; i++)
		img.rgb[i] = (unsigned char)(i * 37 + 11);
	float out[2 * 5 * 5 * 3];
	int crops[8] = { 2, 1, 9, 5, 0, 0, 13, 7 };
	/* crop 9x5 -> square 9 (centered: d 4 -> 2 after, 2 before) -> 5 */
	ir_resize_batch_tensor(&img, crops, 2, 5, 1, out);
	int good = resize_is_exact(&img, crops, 5, 1, out) &&
	    resize_is_exact(&img, crops + 4, 5, 1, out + 5 * 5 * 3);
	ok(good, NULL, var, "resize: centered pad + legacy bilinear, 2 crops");
	/* not centered, no resize (n == size): pass-through with zeros after */
	float o2[13 * 13 * 3];
	ir_resize_batch_tensor(&img, NULL, 1, 13, 0, o2);
	good = 1;
	for (int y = 0; y < 13; y++)
		for (int x = 0; x < 13; x++)
			for (int c = 0; c < 3; c++) {
				float want = y < 7 ? img.rgb[(y * 13 + x) * 3 + c] : 0;
				if (o2[(y * 13 + x) * 3 + c] != want)
					good = 0;
			}
	ok(good, NULL, var, "resize: bottom padding, n == size passes through");
	float mean[3] = { 1, 2, 3 };
	float v[6] = { 1, 2, 3, 256, 257, 258 };
	ir_resize_normalize_div(v, 2, mean, 255);
	ok(v[0] == 0 && v[4] == 1.0f && v[5] == 1.0f, NULL, var,
	    "normalize: (x - mean) / 255");
	free(img.rgb);

	/*
	 * A photo's size: down to the detector's 416 (bottom padding, more
	 * than one strip of columns), crops up to 150 and 300 reaching past
	 * each edge (a crop's last pixel is the image's last byte).
	 */
	struct ir_image big = { .w = 640, .h = 480 };
	big.rgb = ir_xmalloc(640 * 480 * 3);
	unsigned x = 12345;
	for (int i = 0; i < 640 * 480 * 3; i++) {
		x = x * 1103515245u + 12345u;
		big.rgb[i] = (unsigned char)(x >> 16);
	}
	float *o = ir_xmalloc(416 * 416 * 3 * sizeof *o);
	int whole[4] = { 0, 0, 640, 480 };
	ir_resize_batch_tensor(&big, NULL, 1, 416, 0, o);
	ok(resize_is_exact(&big, whole, 416, 0, o), NULL, var,
	    "resize: 640x480 -> 416, bottom padding, 2 strips");
	int edge[3][4] = { { 560, 400, 80, 80 }, { 0, 0, 97, 130 },
	    { 350, 200, 290, 280 } };
	for (int i = 0; i < 3; i++) {
		int sz = i == 2 ? 300 : 150;
		char what[80];
		ir_resize_batch_tensor(&big, edge[i], 1, sz, 1, o);
		snprintf(what, sizeof what, "resize: crop %dx%d at (%d,%d) -> "
		    "%d, centered", edge[i][2], edge[i][3], edge[i][0],
		    edge[i][1], sz);
		ok(resize_is_exact(&big, edge[i], sz, 1, o), NULL, var, what);
	}
	free(o);
	free(big.rgb);
}

int
main(void)
{
	static const char *vars[] = { "avx512", "avx2", "generic" };
	char err[IR_ERRMAX];

	ir_cnn_set_threads(1);
	test_shapes();
	for (int v = 0; v < 3; v++) {
		if (!ir_cnn_cpu_has(vars[v])) {
			tn++;
			printf("ok %d # skip %s: not supported by this CPU\n", tn,
			    vars[v]);
			continue;
		}
		if (ir_cnn_set_cpu(vars[v], err) != 0 ||
		    strcmp(ir_cnn_cpu(), vars[v]) != 0) {
			ok(0, NULL, vars[v], "switch variant");
			continue;
		}
		test_resize(vars[v]);  /* its x86 paths follow the variant */
		for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
			test_conv(vars[v], &convs[i]);
		for (size_t i = 0; i < sizeof q8s / sizeof q8s[0]; i++)
			test_conv_q8(vars[v], &q8s[i]);
		for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++)
			test_dw(vars[v], &dws[i]);
		test_pools(vars[v]);
		test_conv_pool(vars[v]);
		test_misc(vars[v]);
	}
	/* 2 BLAS threads through the same kernels; a large 1x1 conv on our
	 * GEMM goes to BLAS then (counted as gemm1x1), a small one does not */
	ir_cnn_set_threads(2);
	test_conv("2 threads", &convs[6]);
	test_conv("2 threads", &convs[15]);
	struct ir_cnn_stats s0, s1;
	size_t nconv = sizeof convs / sizeof convs[0];
	ir_cnn_stats(&s0);
	test_conv("2 threads", &convs[nconv - 1]); /* 64x64, 16.8 M MACs */
	ir_cnn_stats(&s1);
	ok(s1.conv[IR_CONV_GEMM1X1] == s0.conv[IR_CONV_GEMM1X1] + 1 &&
	    s1.conv[IR_CONV_IM2COL_OWN] == s0.conv[IR_CONV_IM2COL_OWN],
	    NULL, "2 threads", "  a large 1x1 conv ran on BLAS");
	ir_cnn_stats(&s0);
	test_conv("2 threads", &convs[nconv - 5]); /* 2x9x11, small */
	ir_cnn_stats(&s1);
	ok(s1.conv[IR_CONV_IM2COL_OWN] == s0.conv[IR_CONV_IM2COL_OWN] + 1,
	    NULL, "2 threads", "  a small 1x1 conv stayed on our GEMM");
	ir_cnn_set_threads(1);
	printf("1..%d\n", tn);
	return tfail != 0;
}
