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
	float *conv0_u;         /* conv0's Winograd weights, 16 x 3 x 16 */
};

static const int tiny_ch[6] = { 16, 32, 64, 128, 256, 512 };

static void conv0_weights(const float *w, float *U);
static size_t conv0_buf(int S);

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
	n->conv0_u = aligned_alloc(64, 16 * 3 * 16 * sizeof(float));
	if (n->conv0_u == NULL) {
		ir_err(err, IR_ESYS, "tiny face detector: out of memory");
		goto fail;
	}
	conv0_weights(n->conv0.w, n->conv0_u);
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
	free(n->conv0_u);
	free(n);
}

/* Scratch layout for input S: input, two activation buffers, the
 * depthwise temporary, the conv workspace, then the candidates. */
struct layout {
	size_t in, act, tmp, ws, cand; /* floats each */
};

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
	l->tmp = conv0_buf(S);
	for (int i = 0; i < 5; i++) {
		l->tmp = ir_maxz(l->tmp, (size_t)h * h * tiny_ch[i]);
		/* a band's depthwise and pointwise rows (forward()) */
		l->tmp = ir_maxz(l->tmp, (size_t)BAND * h * (tiny_ch[i] +
		    tiny_ch[i + 1]));
		l->act = ir_maxz(l->act, (size_t)h * h * tiny_ch[i + 1]);
		l->ws = ir_maxz(l->ws, ir_conv_workspace(&n->pw[i], 1, h, h));
		h = ir_cnn_outsize(h, 2, i < 4 ? 2 : 1, IR_PAD_SAME);
	}
	l->ws = ir_maxz(l->ws, ir_conv_workspace(&n->conv8, 1, h, h));
	l->cand = cand_floats(S / 32);
	/* keep every part 64-byte aligned */
	l->in = ir_al16(l->in);
	l->act = ir_al16(l->act);
	l->tmp = ir_al16(l->tmp);
	l->ws = ir_al16(l->ws);
	l->cand = ir_al16(l->cand);
}

size_t
ir_tinydet_scratch(const struct ir_tinydet *n, int size)
{
	struct layout l;

	layout(n, size, &l);
	return l.in + 2 * l.act + l.tmp + l.ws + l.cand;
}

/*
 * conv0 (3x3 valid, 3 -> 16, + bias, face-api's leaky ReLU) fused with
 * the 2x2/2 max pool after it: out is ((S-2)/2)^2 x 16 (S - 2 is even, so
 * the pool has no padding). 37% of the detector's MACs are here, on the
 * largest map, with only 3 input channels: im2col + GEMM (K = 27, N = 16)
 * runs at a fraction of peak, and the unfused 414x414x16 map costs a write
 * and a read. So the map never exists, and the convolution is Winograd
 * F(2x2, 3x3), whose 2x2 output tile is exactly one pool window: per
 * pooled output 48 multiply-adds (16 elements x 3 channels) for its 16
 * channels instead of 108, the transforms being additions.
 *
 * Per pooled row: the 4 input rows it reads are kept deinterleaved in a
 * ring (per channel, even and odd columns apart, split by shuffles), so
 * the input transform runs on 16 tiles at once with plain vector loads.
 * The products run with the 16 tiles as the vector lanes too: each
 * transformed weight (U, made at load by conv0_weights()) is a broadcast
 * scalar, a column's 12 element vectors stay in registers, and the output
 * transform, the pool's max and a 16 x 16 transpose (tiles x channels to
 * the map's pixels x channels) follow; then bias and leaky ReLU. Taking
 * the max before the bias and the leaky ReLU, both monotonic, is exact.
 * On one core of our AMD EPYC machine at 416: 0.94 ms, against 1.8 ms
 * for the direct convolution with the same fusion (AVX2: 2.1 ms, where
 * the 64-byte vectors are split). Results equal the direct convolution
 * to float rounding (tests/unit/tinydet.c checks every CPU variant against
 * a double reference). The kernels are in tinydet_kern.h, compiled once
 * per CPU variant (cnn_variants.h) and chosen by ir_cnn_cpu() as the
 * engine's own are.
 */

/* Tiles (pooled outputs) per input transform: one vector of 16 lanes. */
#define C0_TILES 16
/* Floats per ring row: S/2 columns and room for the last vector's lanes. */
#define C0_RING(S) (((size_t)(S) / 2 + C0_TILES + 15) & ~(size_t)15)

#define IR_KERN "tinydet_kern.h"
#include "cnn_variants.h"

typedef void conv0_fn(const float *, int, const float *, const float *,
    const unsigned char *, float *, float *);

static conv0_fn *
conv0_pick(void)
{
	const char *cpu = ir_cnn_cpu();

	if (strcmp(cpu, "avx512") == 0)
		return conv0_pool_avx512;
	if (strcmp(cpu, "avx2") == 0)
		return conv0_pool_avx2;
	return conv0_pool_generic;
}

/* U[e][c] (16 output channels each) = (G g G^T)[e] of each input channel's
 * 3x3 kernel g, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; w is HWIO. */
static void
conv0_weights(const float *w, float *U)
{
	static const double G[4][3] = {
		{ 1, 0, 0 }, { .5, .5, .5 }, { .5, -.5, .5 }, { 0, 0, 1 }
	};

	for (int c = 0; c < 3; c++)
		for (int o = 0; o < 16; o++)
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++) {
					double u = 0;
					for (int a = 0; a < 3; a++)
						for (int b = 0; b < 3; b++)
							u += G[i][a] * G[j][b] *
							    w[((a * 3 + b) * 3 +
							    c) * 16 + o];
					U[((i * 4 + j) * 3 + c) * 16 + o] =
					    (float)u;
				}
}

/* Floats of conv0_pool's buffer at input S (see tinydet_kern.h). */
static size_t
conv0_buf(int S)
{
	return 4 * 3 * 2 * C0_RING(S) + (48 + 4 * 2 * 16 + 16) * C0_TILES;
}

void
ir_tinydet_conv0(const struct ir_tinydet *n, const float *in, int S,
    float *buf, float *out)
{
	conv0_pick()(in, S, n->conv0_u, n->conv0.bias, NULL, buf, out);
}

size_t
ir_tinydet_conv0_buf(int S)
{
	return conv0_buf(S);
}

/*
 * Rows that repeat. face-api pads a photo to a square at the bottom (or
 * right), so a landscape photo's lowest input rows are all the same
 * padding value: a quarter of them for 4:3, 44% for 16:9. Each layer's
 * output row then depends only on the rows it reads: where those equal
 * the rows the row above read, the row equals the row above and is copied
 * instead of computed (same values, bit for bit: every row is computed by
 * the same code from the same numbers). same[r] != 0: row r of a map
 * equals row r - 1.
 */

/* same[] of the input: a run of equal rows at the bottom, found from
 * the bottom up (one row compare for a square photo). */
static void
input_same(const float *in, int S, unsigned char *same)
{
	size_t row = (size_t)S * 3;
	int r = S - 1;

	memset(same, 0, (size_t)S);
	while (r > 0 && memcmp(in + r * row, in + (r - 1) * row,
	    row * sizeof *in) == 0)
		same[r--] = 1;
}

/*
 * same[] of a layer's output (oh rows) from that of its input (h rows):
 * k taps, stride s, pb padding rows before. Row r equals row r - 1 when
 * each tap's input row i equals row i - s (all rows between equal their
 * predecessors), or both lie in the same padding.
 */
static void
rows_same(const unsigned char *in, int h, int oh, int k, int s, int pb,
    unsigned char *out)
{
	out[0] = 0;
	for (int r = 1; r < oh; r++) {
		int eq = 1;
		for (int t = 0; t < k && eq; t++) {
			int i = r * s - pb + t;
			if (i < 0 || i - s >= h)
				continue;  /* both in the padding */
			if (i >= h || i - s < 0) {
				eq = 0;
				break;
			}
			for (int j = i - s + 1; j <= i && eq; j++)
				eq = in[j];
		}
		out[r] = (unsigned char)eq;
	}
}

/* Largest input size (and so map height) forward() handles. */
#define MAXS 4096

/*
 * The forward pass on a prepared S x S x 3 input; returns the G x G x 25
 * output grid (inside the scratch). The pooled maps alternate between
 * the buffers x and y.
 *
 * Blocks conv1..conv4 (stride-2 pool) run in bands of up to BAND/2 pooled
 * rows: the band's depthwise rows into tmp (ir_dwconv_rows), then the
 * pointwise conv and the pool fused (ir_conv_pool2) into the other map
 * buffer while the band (~100 KB) is still in cache, instead of whole maps
 * of up to 2.7 and 5.5 MB going out to memory and back. A band starts on an even
 * depthwise row, so it pools on its own exactly as the whole map does
 * (`same` pads only after the last, odd row). Pooled rows that repeat the
 * row above (rows_same()) end a band and are copied.
 */
static const float *
forward(const struct ir_tinydet *n, int S, float *scratch,
    const struct layout *l, int reuse)
{
	float *in = scratch, *x = in + l->in, *y = x + l->act;
	float *tmp = y + l->act, *ws = tmp + l->tmp, *t;
	int h = (S - 2) / 2;
	unsigned char a[MAXS], b[MAXS], c[MAXS];

	memset(a, 0, sizeof a);
	if (reuse) {
		input_same(in, S, a);
		rows_same(a, S, S - 2, 3, 1, 0, b);      /* conv0, valid */
		rows_same(b, S - 2, h, 2, 2, 0, a);      /* its pool */
	}
	/* tmp (the depthwise temporary, far larger) holds conv0's buffer */
	conv0_pick()(in, S, n->conv0_u, n->conv0.bias, a, tmp, x);
	for (int i = 0; i < 4; i++) {
		int ci = tiny_ch[i], co = tiny_ch[i + 1];
		int oh = ir_cnn_outsize(h, 2, 2, IR_PAD_SAME);
		float *pw = tmp + (size_t)BAND * h * ci;
		size_t orow = (size_t)oh * co;

		memset(c, 0, sizeof c);
		if (reuse) {
			rows_same(a, h, h, 3, 1, 1, b);  /* depthwise, same */
			rows_same(b, h, oh, 2, 2, 0, c); /* pointwise, pool */
		}
		for (int p0 = 0; p0 < oh;) {
			if (c[p0]) {
				memcpy(y + p0 * orow, y + (p0 - 1) * orow,
				    orow * sizeof *y);
				p0++;
				continue;
			}
			int p1 = p0 + 1;
			while (p1 < oh && p1 - p0 < BAND / 2 && !c[p1])
				p1++;
			int y0 = 2 * p0, nr = 2 * (p1 - p0);
			if (nr > h - y0)
				nr = h - y0;
			ir_dwconv_rows(&n->dw[i], x, 1, h, h, y0, y0 + nr, tmp);
			ir_conv_pool2(&n->pw[i], tmp, nr, h, pw, y + p0 * orow,
			    ws);
			p0 = p1;
		}
		memcpy(a, c, (size_t)oh);
		h = oh;
		t = x, x = y, y = t;
	}
	/* conv5: its pool has stride 1 (rows overlap): whole maps */
	ir_sepconv_forward(&n->dw[4], &n->pw[4], x, 1, h, h, tmp, y, ws);
	ir_maxpool(y, 1, h, h, tiny_ch[5], 2, 1, IR_PAD_SAME, x);
	ir_conv_forward(&n->conv8, x, 1, h, h, y, NULL, ws);
	return y;
}

const float *
ir_tinydet_grid(const struct ir_tinydet *n, const struct ir_image *img,
    int S, int reuse, float *scratch)
{
	struct layout l;

	layout(n, S, &l);
	ir_resize_batch_tensor_norm(img, NULL, 1, S, 0, &tiny_norm, scratch);
	return forward(n, S, scratch, &l, reuse);
}

int
ir_tinydet_detect(const struct ir_tinydet *n, const struct ir_image *img,
    int S, double min_score, float *scratch, struct ir_det *dets, int max,
    int *nd, char *err)
{
	struct layout l;
	int G = S / 32;

	*nd = 0;
	if (S < 32 || S % 32 != 0 || S > MAXS)
		return ir_err(err, IR_EINVAL,
		    "tiny face detector: input size %d is not a multiple of "
		    "32 from 32 to %d", S, MAXS);
	layout(n, S, &l);
	ir_resize_batch_tensor_norm(img, NULL, 1, S, 0, &tiny_norm, scratch);
	const float *grid = forward(n, S, scratch, &l, 1);

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
