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

static const float tiny_mean[3] = { 117.001f, 114.697f, 97.404f };

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
	if (ir_conv_prepare(&n->conv0, err) != 0 ||
	    ir_conv_prepare(&n->conv8, err) != 0)
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

static void
layout(const struct ir_tinydet *n, int S, struct layout *l)
{
	int h = S - 2;

	memset(l, 0, sizeof *l);
	l->in = (size_t)S * S * 3;
	l->act = (size_t)h * h * 16;
	l->ws = ir_conv_workspace(&n->conv0, 1, S, S);
	h = ir_cnn_outsize(h, 2, 2, IR_PAD_SAME);
	for (int i = 0; i < 5; i++) {
		l->tmp = maxz(l->tmp, (size_t)h * h * tiny_ch[i]);
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

/*
 * The forward pass on a prepared S x S x 3 input; returns the G x G x 25
 * output grid (inside the scratch).
 */
static const float *
forward(const struct ir_tinydet *n, int S, float *scratch,
    const struct layout *l)
{
	float *in = scratch, *a = in + l->in, *b = a + l->act;
	float *tmp = b + l->act, *ws = tmp + l->tmp;
	int h = S, oh, ow;

	ir_conv_forward(&n->conv0, in, 1, h, h, a, NULL, ws);
	ir_conv_outsize(&n->conv0, h, h, &oh, &ow);
	h = oh;
	for (int i = 0; i < 5; i++) {
		/* the pool after conv0..conv4 has stride 2, after conv5 1 */
		ir_maxpool(a, 1, h, h, tiny_ch[i], 2, 2, IR_PAD_SAME, b);
		h = ir_cnn_outsize(h, 2, 2, IR_PAD_SAME);
		ir_sepconv_forward(&n->dw[i], &n->pw[i], b, 1, h, h, tmp, a, ws);
		if (i == 4) {
			ir_maxpool(a, 1, h, h, tiny_ch[5], 2, 1, IR_PAD_SAME, b);
			h = ir_cnn_outsize(h, 2, 1, IR_PAD_SAME);
		}
	}
	ir_conv_forward(&n->conv8, b, 1, h, h, a, NULL, ws);
	return a;
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
	ir_resize_batch_tensor(img, NULL, 1, S, 0, scratch);
	ir_resize_normalize_div(scratch, (size_t)S * S, tiny_mean, 255.0f);
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
