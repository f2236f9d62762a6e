/*
 * tinydet.c: face-api's TinyFaceDetector (MODEL-SPEC.md section 4), a
 * Tiny-YOLOv2 with depthwise-separable convolutions, one class, 5 anchors.
 *
 * Graph at input S (a multiple of 32; sizes for 416):
 *   conv0 3x3 valid 3->16 + bias, leaky    414
 *   maxpool 2x2/2 same                     207
 *   conv1..conv5: sepconv + bias, leaky, each followed by maxpool 2x2/2
 *   same (207->104->52->26->13), except conv5 whose pool has stride 1
 *   conv8 1x1 512->25 + bias               13x13x25 (G = S/32)
 *
 * conv0 and its pool run fused in conv0_pool() (the 414x414x16 map is
 * never stored); every other layer is a cnn.h kernel, conv1..conv4 with
 * their pools in cache-sized bands of rows (forward()).
 *
 * Invariants: the net only points into its model's tensors (read-only,
 * shared by cloned engines); a forward pass works in the caller's scratch,
 * laid out by layout() below for one input size, and never allocates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "facenets.h"
#include "resize.h"
#include "util.h"

static const struct ir_resize_norm tiny_norm = {
	{ 117.001f, 114.697f, 97.404f }, 255.0f, 0.0f
};

struct ir_tinydet {
	struct ir_conv conv0, pw[5], conv8;
	struct ir_dwconv dw[5];
};

static const int tiny_ch[6] = { 16, 32, 64, 128, 256, 512 };

int
ir_tinydet_load(struct ir_model *m, struct ir_tinydet **out, char *err)
{
	struct ir_tinydet *n = ir_xcalloc(1, sizeof *n);
	char name[64];
	const float *t;

	*out = NULL;
#define GET(var, nd, ...) do { \
		int want_[4] = { __VA_ARGS__ }; \
		if ((t = ir_model_expect(m, name, nd, want_, err)) == NULL) \
			goto fail; \
		var = t; \
	} while (0)
	snprintf(name, sizeof name, "conv0/filters");
	GET(n->conv0.w, 4, 3, 3, 3, 16);
	snprintf(name, sizeof name, "conv0/bias");
	GET(n->conv0.bias, 1, 16);
	n->conv0.kh = n->conv0.kw = 3;
	n->conv0.cin = 3;
	n->conv0.cout = 16;
	n->conv0.stride = 1;
	n->conv0.pad = IR_PAD_VALID;
	n->conv0.act = IR_ACT_LEAKY;
	for (int i = 0; i < 5; i++) {
		int ci = tiny_ch[i], co = tiny_ch[i + 1];
		snprintf(name, sizeof name, "conv%d/depthwise_filter", i + 1);
		GET(n->dw[i].w, 4, 3, 3, ci, 1);
		snprintf(name, sizeof name, "conv%d/pointwise_filter", i + 1);
		GET(n->pw[i].w, 4, 1, 1, ci, co);
		snprintf(name, sizeof name, "conv%d/bias", i + 1);
		GET(n->pw[i].bias, 1, co);
		n->dw[i].k = 3;
		n->dw[i].c = ci;
		n->dw[i].stride = 1;
		n->dw[i].pad = IR_PAD_SAME;
		n->dw[i].act = IR_ACT_NONE;
		n->pw[i].kh = n->pw[i].kw = 1;
		n->pw[i].cin = ci;
		n->pw[i].cout = co;
		n->pw[i].stride = 1;
		n->pw[i].pad = IR_PAD_SAME;
		n->pw[i].act = IR_ACT_LEAKY;
	}
	snprintf(name, sizeof name, "conv8/filters");
	GET(n->conv8.w, 4, 1, 1, 512, 25);
	snprintf(name, sizeof name, "conv8/bias");
	GET(n->conv8.bias, 1, 25);
#undef GET
	n->conv8.kh = n->conv8.kw = 1;
	n->conv8.cin = 512;
	n->conv8.cout = 25;
	n->conv8.stride = 1;
	n->conv8.pad = IR_PAD_SAME;
	n->conv8.act = IR_ACT_NONE;
	/* conv0 runs in conv0_pool() below, not through cnn.h */
	if (ir_conv_prepare(&n->conv8, err) != 0)
		goto fail;
	for (int i = 0; i < 5; i++)
		if (ir_conv_prepare(&n->pw[i], err) != 0)
			goto fail;
	*out = n;
	return IR_OK;
fail:
	ir_tinydet_free(n);
	return IR_EINVAL;
}

void
ir_tinydet_free(struct ir_tinydet *n)
{
	if (n == NULL)
		return;
	ir_conv_release(&n->conv0);
	ir_conv_release(&n->conv8);
	for (int i = 0; i < 5; i++)
		ir_conv_release(&n->pw[i]);
	free(n);
}

/* Scratch layout for input S: input, two activation buffers, the
 * depthwise temporary, the conv workspace, then the candidates. */
struct layout {
	size_t in, act, tmp, ws, cand; /* floats each */
};

static size_t
maxz(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Floats of a candidate list with its index scratch, in float units. */
static size_t
cand_floats(int G)
{
	size_t n = (size_t)G * G * 5;
	size_t bytes = n * (sizeof(struct ir_det) + sizeof(int));

	return (bytes + sizeof(float) - 1) / sizeof(float) + 16;
}

/* Rows per band of blocks conv1..conv4 (even; see forward()). */
#define BAND 8

static void
layout(const struct ir_tinydet *n, int S, struct layout *l)
{
	int h = (S - 2) / 2;   /* conv0 and its pool, fused */

	memset(l, 0, sizeof *l);
	l->in = (size_t)S * S * 3;
	l->act = (size_t)h * h * 16;
	for (int i = 0; i < 5; i++) {
		l->tmp = maxz(l->tmp, (size_t)h * h * tiny_ch[i]);
		/* a band's depthwise and pointwise rows (forward()) */
		l->tmp = maxz(l->tmp, (size_t)BAND * h * (tiny_ch[i] +
		    tiny_ch[i + 1]));
		l->act = maxz(l->act, (size_t)h * h * tiny_ch[i + 1]);
		l->ws = maxz(l->ws, ir_conv_workspace(&n->pw[i], 1, h, h));
		h = ir_cnn_outsize(h, 2, i < 4 ? 2 : 1, IR_PAD_SAME);
	}
	l->ws = maxz(l->ws, ir_conv_workspace(&n->conv8, 1, h, h));
	l->cand = cand_floats(S / 32);
	/* keep every part 64-byte aligned */
	l->in = (l->in + 15) & ~(size_t)15;
	l->act = (l->act + 15) & ~(size_t)15;
	l->tmp = (l->tmp + 15) & ~(size_t)15;
	l->ws = (l->ws + 15) & ~(size_t)15;
	l->cand = (l->cand + 15) & ~(size_t)15;
}

size_t
ir_tinydet_scratch(const struct ir_tinydet *n, int size)
{
	struct layout l;

	layout(n, size, &l);
	return l.in + 2 * l.act + l.tmp + l.ws + l.cand;
}

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

/*
 * FMA contraction for the sums only (GCC: per function; clang contracts
 * within one expression by default, which is exactly the sums, and
 * has no optimize attribute).
 */
#if defined(__clang__)
#define CONTRACT_FAST
#define CONTRACT_OFF
#else
#define CONTRACT_FAST __attribute__((optimize("fp-contract=fast")))
#define CONTRACT_OFF __attribute__((optimize("fp-contract=off")))
#endif

/*
 * conv0 (3x3 valid, 3 -> 16, + bias, face-api's leaky ReLU) fused with
 * the 2x2/2 max pool after it: out is ((S-2)/2)^2 x 16 (S - 2 is even, so
 * the pool has no padding). 37% of the detector's MACs are here, on the
 * largest map; im2col + GEMM (K = 27, N = 16) runs at a fraction of peak
 * and the unfused 414x414x16 map costs a write and a read. Here the 16
 * output channels are one vector (GCC vector extensions; target_clones
 * picks AVX-512, AVX2 or the baseline at load), and the map never exists:
 * conv0_sums() writes one pooled row's 4 x 16 sums per output into row
 * (ph * 64 floats), leaky_max() finishes it. 1.7 ms instead of 5.7-6.4 ms
 * of CPU at 416. Results equal conv + leaky + pool to float rounding (the
 * sums are contracted to FMAs, as in cnn.h's kernels; the leaky ReLU is
 * not, so it rounds exactly as face-api's m = 0.1f x; relu(x - m) + m).
 */

/*
 * The raw sums (+ bias) of the 2x2 windows of np (1 or 2) neighbouring
 * pooled outputs: 4 * np accumulators, each tap's weight vector loaded once
 * for all of them, so the adds form 4 * np independent chains instead of
 * one that waits on the add latency at every tap.
 */
static inline __attribute__((always_inline)) CONTRACT_FAST void
conv0_sums(const float *restrict in, int S, const v16f *restrict wv,
    const v16f *restrict bv, int py, int px, int np, v16f *restrict row)
{
	const float *base[8];
	v16f acc[8], zero = { 0 };

	for (int j = 0; j < 4 * np; j++) {
		int p = j >> 2, d = j & 3;
		int y = 2 * py + (d >> 1), x = 2 * (px + p) + (d & 1);
		base[j] = in + ((size_t)y * S + x) * 3;
		acc[j] = zero;
	}
#pragma GCC unroll 3
	for (int ky = 0; ky < 3; ky++)
#pragma GCC unroll 9
		for (int k = 0; k < 9; k++) {
			v16f w = wv[ky * 9 + k];
			size_t off = (size_t)ky * S * 3 + k;
#pragma GCC unroll 8
			for (int j = 0; j < 4 * np; j++)
				acc[j] += base[j][off] * w;
		}
	for (int j = 0; j < 4 * np; j++)
		row[4 * px + j] = acc[j] + *bv;
}

/* face-api's leaky ReLU: m = 0.1f x; relu(x - m) + m (MODEL-SPEC 2.4) */
static inline __attribute__((always_inline)) float
leaky(float x)
{
	float m = x * 0.1f, q = x - m;

	return (q > 0.0f ? q : 0.0f) + m;
}

/*
 * Leaky ReLU then the max of each 4 sums of row, into out (ph x 16), the
 * max taken in row order exactly as the vector version did. Scalar code
 * over the 16 channels, which each clone vectorises with its own compares
 * and max instructions (GCC lowered the v16f compares of the earlier
 * version to scalar code on AVX2, where it then cost as much as the
 * convolution).
 */

#if defined(__clang__)
#define VECTORIZE
#else
#define VECTORIZE __attribute__((optimize("tree-vectorize")))
#endif

__attribute__((target_clones("avx512f", "avx2", "default"))) CONTRACT_OFF
VECTORIZE static void
leaky_max(const v16f *restrict row, int ph, float *restrict out)
{
	const float *r = (const float *)row;

	for (int px = 0; px < ph; px++) {
		const float *a = r + (size_t)px * 64;
		float *restrict o = out + (size_t)px * 16;
		for (int ch = 0; ch < 16; ch++) {
			float b = leaky(a[ch]), q;
			q = leaky(a[16 + ch]);
			b = q > b ? q : b;
			q = leaky(a[32 + ch]);
			b = q > b ? q : b;
			q = leaky(a[48 + ch]);
			o[ch] = q > b ? q : b;
		}
	}
}

/* row: (S-2)/2 * 64 floats, 64-byte aligned. */
__attribute__((target_clones("avx512f", "avx2", "default"))) CONTRACT_FAST
static void
conv0_pool(const float *restrict in, int S, const float *restrict w,
    const float *restrict bias, float *restrict row, float *restrict out)
{
	int ph = (S - 2) / 2;
	v16f wv[27], bv, *rv = (v16f *)row;

	for (int t = 0; t < 27; t++)
		memcpy(&wv[t], w + t * 16, sizeof wv[t]);
	memcpy(&bv, bias, sizeof bv);
	for (int py = 0; py < ph; py++) {
		int px = 0;
		for (; px + 2 <= ph; px += 2)
			conv0_sums(in, S, wv, &bv, py, px, 2, rv);
		if (px < ph)
			conv0_sums(in, S, wv, &bv, py, px, 1, rv);
		leaky_max(rv, ph, out + (size_t)py * ph * 16);
	}
}

/*
 * The forward pass on a prepared S x S x 3 input; returns the G x G x 25
 * output grid (inside the scratch). The pooled maps alternate between
 * the buffers x and y.
 *
 * Blocks conv1..conv4 (stride-2 pool) run in bands of BAND output rows,
 * an even number so that each band pools on its own exactly as the whole
 * map does (`same` pads only after the last, odd row): the band's
 * depthwise rows into tmp (ir_dwconv_rows), its pointwise output right
 * after them in tmp, pooled into the other map buffer while both (~100
 * and ~200 KB) are still in cache, instead of whole maps of up to 2.7
 * and 5.5 MB going out to memory and back. Same values as unbanded.
 */
static const float *
forward(const struct ir_tinydet *n, int S, float *scratch,
    const struct layout *l)
{
	float *in = scratch, *x = in + l->in, *y = x + l->act;
	float *tmp = y + l->act, *ws = tmp + l->tmp, *t;
	int h = (S - 2) / 2;

	/* tmp (the depthwise temporary, far larger) holds conv0's row */
	conv0_pool(in, S, n->conv0.w, n->conv0.bias, tmp, x);
	for (int i = 0; i < 4; i++) {
		int ci = tiny_ch[i], co = tiny_ch[i + 1];
		int oh = ir_cnn_outsize(h, 2, 2, IR_PAD_SAME);
		float *pw = tmp + (size_t)BAND * h * ci;
		for (int y0 = 0; y0 < h; y0 += BAND) {
			int nr = h - y0 < BAND ? h - y0 : BAND;
			ir_dwconv_rows(&n->dw[i], x, 1, h, h, y0, y0 + nr, tmp);
			ir_conv_forward(&n->pw[i], tmp, 1, nr, h, pw, NULL, ws);
			ir_maxpool(pw, 1, nr, h, co, 2, 2, IR_PAD_SAME,
			    y + (size_t)(y0 / 2) * oh * co);
		}
		h = oh;
		t = x, x = y, y = t;
	}
	/* conv5: its pool has stride 1 (rows overlap): whole maps */
	ir_sepconv_forward(&n->dw[4], &n->pw[4], x, 1, h, h, tmp, y, ws);
	ir_maxpool(y, 1, h, h, tiny_ch[5], 2, 1, IR_PAD_SAME, x);
	ir_conv_forward(&n->conv8, x, 1, h, h, y, NULL, ws);
	return y;
}

int
ir_tinydet_detect(const struct ir_tinydet *n, const struct ir_image *img,
    int S, double min_score, float *scratch, struct ir_det *dets, int max,
    int *nd, char *err)
{
	struct layout l;
	int G = S / 32;

	*nd = 0;
	if (S < 32 || S % 32 != 0)
		return ir_err(err, IR_EINVAL,
		    "tiny face detector: input size %d is not a positive "
		    "multiple of 32", S);
	layout(n, S, &l);
	ir_resize_batch_tensor_norm(img, NULL, 1, S, 0, &tiny_norm, scratch);
	const float *grid = forward(n, S, scratch, &l);

	struct ir_det *cand = (struct ir_det *)(scratch + l.in + 2 * l.act +
	    l.tmp + l.ws);
	int *idx = (int *)(cand + (size_t)G * G * 5);
	int nc = ir_tinydet_decode(grid, G, img->w, img->h, S, min_score,
	    cand);
	/* candidates are relative; face-api runs NMS on them * inputSize */
	int k = ir_nms_tiny(cand, nc, 0.4, S, max, idx, dets);
	for (int i = 0; i < k; i++) {
		dets[i].box[0] *= img->w;
		dets[i].box[1] *= img->h;
		dets[i].box[2] *= img->w;
		dets[i].box[3] *= img->h;
	}
	*nd = k;
	return IR_OK;
}
