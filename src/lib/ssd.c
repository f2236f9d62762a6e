/*
 * ssd.c: face-api's SsdMobilenetv1 (MODEL-SPEC.md section 5): MobileNet v1
 * at 512x512, six extra feature layers, six box predictors over 5118
 * anchors shipped in the weights, sigmoid scores of the face class, box
 * decoding, SSD's own NMS (facebox.c) and mapping back to the image.
 *
 * Backbone: Conv2d_0 3x3/2 same + offset, ReLU6, then 13 x (depthwise 3x3
 * same with unfolded batch norm, ReLU6; pointwise 1x1 + offset, ReLU6).
 * Box predictor 0 reads Conv2d_11 (32x32x512), predictor 1 the backbone
 * output (16x16x1024), 2..5 the extra layers Prediction/Conv2d_{1,3,5,7}.
 * Each head is computed as soon as its feature map exists, straight into
 * the concatenated (5118 x 4) encodings and (5118 x 3) logits: NHWC order
 * of a 1x1 conv output is exactly face-api's (row, col, anchor) flattening.
 *
 * Invariants: weights are the model's (read-only) except the batch-norm
 * scale/bias pairs computed at load, owned by the net; the forward pass
 * works in the caller's scratch (ir_ssd_scratch floats) and never
 * allocates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "facenets.h"
#include "resize.h"
#include "util.h"

#define S IR_SSD_SIZE
#define NB IR_SSD_BOXES

static const struct ir_resize_norm ssd_norm = {
	{ 0.0f, 0.0f, 0.0f }, 127.5f, -1.0f
};

static const int bb_ch[14] = { 32, 64, 128, 128, 256, 256, 512, 512, 512, 512,
	512, 512, 1024, 1024 };
static const int bb_stride[14] = { 2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1 };
static const int ex_k[8] = { 1, 3, 1, 3, 1, 3, 1, 3 };
static const int ex_ch[8] = { 256, 512, 128, 256, 128, 256, 64, 128 };
/* per head: anchors per cell, offset of its first box */
static const int head_anchors[6] = { 3, 6, 6, 6, 6, 6 };
static const int head_first[6] = { 0, 3072, 4608, 4992, 5088, 5112 };

struct ir_ssdnet {
	struct ir_conv conv0, pw[13], ex[8], enc[6], cls[6];
	struct ir_dwconv dw[13];
	float *bn;           /* owned: 13 x (scale, bias) arrays */
	const float *anchors; /* 5118 x 4 (ymin, xmin, ymax, xmax) */
};

static void
conv_init(struct ir_conv *c, int k, int cin, int cout, int stride, int act)
{
	c->kh = c->kw = k;
	c->cin = cin;
	c->cout = cout;
	c->stride = stride;
	c->pad = IR_PAD_SAME;
	c->act = act;
}

int
ir_ssd_load(struct ir_model *m, struct ir_ssdnet **out, char *err)
{
	struct ir_ssdnet *n = ir_xcalloc(1, sizeof *n);
	const float *g, *b, *mu, *var;
	char name[96];
	size_t bnsize = 0;

	*out = NULL;
#define GET(var_, nd, ...) do { \
		int want_[4] = { __VA_ARGS__ }; \
		if ((var_ = ir_model_expect(m, name, nd, want_, err)) == NULL) \
			goto fail; \
	} while (0)
	snprintf(name, sizeof name, "MobilenetV1/Conv2d_0_pointwise/weights");
	GET(n->conv0.w, 4, 3, 3, 3, 32);
	snprintf(name, sizeof name,
	    "MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset");
	GET(n->conv0.bias, 1, 32);
	conv_init(&n->conv0, 3, 3, 32, 2, IR_ACT_RELU6);

	for (int i = 1; i <= 13; i++)
		bnsize += 2 * (size_t)bb_ch[i - 1];
	n->bn = ir_xmalloc(bnsize * sizeof(float));
	float *bn = n->bn;
	for (int i = 1; i <= 13; i++) {
		int ci = bb_ch[i - 1], co = bb_ch[i];
		struct ir_dwconv *d = &n->dw[i - 1];
		snprintf(name, sizeof name,
		    "MobilenetV1/Conv2d_%d_depthwise/depthwise_weights", i);
		GET(d->w, 4, 3, 3, ci, 1);
#define BN(var_, what) \
		snprintf(name, sizeof name, \
		    "MobilenetV1/Conv2d_%d_depthwise/BatchNorm/" what, i); \
		GET(var_, 1, ci)
		BN(g, "gamma");
		BN(b, "beta");
		BN(mu, "moving_mean");
		BN(var, "moving_variance");
#undef BN
		ir_cnn_bn_affine(g, b, mu, var, 0.0010000000474974513f, ci, bn,
		    bn + ci);
		d->k = 3;
		d->c = ci;
		d->stride = bb_stride[i];
		d->pad = IR_PAD_SAME;
		d->act = IR_ACT_RELU6;
		d->scale = bn;
		d->bias = bn + ci;
		bn += 2 * ci;
		snprintf(name, sizeof name,
		    "MobilenetV1/Conv2d_%d_pointwise/weights", i);
		GET(n->pw[i - 1].w, 4, 1, 1, ci, co);
		snprintf(name, sizeof name,
		    "MobilenetV1/Conv2d_%d_pointwise/convolution_bn_offset", i);
		GET(n->pw[i - 1].bias, 1, co);
		conv_init(&n->pw[i - 1], 1, ci, co, 1, IR_ACT_RELU6);
	}
	for (int i = 0, ci = 1024; i < 8; ci = ex_ch[i], i++) {
		snprintf(name, sizeof name,
		    "Prediction/Conv2d_%d_pointwise/weights", i);
		GET(n->ex[i].w, 4, ex_k[i], ex_k[i], ci, ex_ch[i]);
		snprintf(name, sizeof name,
		    "Prediction/Conv2d_%d_pointwise/convolution_bn_offset", i);
		GET(n->ex[i].bias, 1, ex_ch[i]);
		conv_init(&n->ex[i], ex_k[i], ci, ex_ch[i],
		    ex_k[i] == 3 ? 2 : 1, IR_ACT_RELU6);
	}
	for (int k = 0; k < 6; k++) {
		static const int head_cin[6] = { 512, 1024, 512, 256, 256,
			128 };
		int a = head_anchors[k], ci = head_cin[k];
		snprintf(name, sizeof name, "Prediction/BoxPredictor_%d/"
		    "BoxEncodingPredictor/weights", k);
		GET(n->enc[k].w, 4, 1, 1, ci, 4 * a);
		snprintf(name, sizeof name, "Prediction/BoxPredictor_%d/"
		    "BoxEncodingPredictor/biases", k);
		GET(n->enc[k].bias, 1, 4 * a);
		conv_init(&n->enc[k], 1, ci, 4 * a, 1, IR_ACT_NONE);
		snprintf(name, sizeof name,
		    "Prediction/BoxPredictor_%d/ClassPredictor/weights", k);
		GET(n->cls[k].w, 4, 1, 1, ci, 3 * a);
		snprintf(name, sizeof name,
		    "Prediction/BoxPredictor_%d/ClassPredictor/biases", k);
		GET(n->cls[k].bias, 1, 3 * a);
		conv_init(&n->cls[k], 1, ci, 3 * a, 1, IR_ACT_NONE);
	}
	snprintf(name, sizeof name, "Output/extra_dim");
	GET(n->anchors, 3, 1, NB, 4);
#undef GET
	if (ir_conv_prepare(&n->conv0, err) != 0)
		goto fail;
	for (int i = 0; i < 13; i++)
		if (ir_conv_prepare(&n->pw[i], err) != 0)
			goto fail;
	for (int i = 0; i < 8; i++)
		if (ir_conv_prepare(&n->ex[i], err) != 0)
			goto fail;
	for (int k = 0; k < 6; k++)
		if (ir_conv_prepare(&n->enc[k], err) != 0 ||
		    ir_conv_prepare(&n->cls[k], err) != 0)
			goto fail;
	*out = n;
	return IR_OK;
fail:
	ir_ssd_free(n);
	return IR_EINVAL;
}

void
ir_ssd_free(struct ir_ssdnet *n)
{
	if (n == NULL)
		return;
	ir_conv_release(&n->conv0);
	for (int i = 0; i < 13; i++)
		ir_conv_release(&n->pw[i]);
	for (int i = 0; i < 8; i++)
		ir_conv_release(&n->ex[i]);
	for (int k = 0; k < 6; k++) {
		ir_conv_release(&n->enc[k]);
		ir_conv_release(&n->cls[k]);
	}
	free(n->bn);
	free(n);
}

struct layout {
	size_t in, act, tmp, ws, post; /* floats each, 16-float aligned */
};

static size_t
head_ws(const struct ir_ssdnet *n, int k, int h)
{
	return ir_maxz(ir_conv_workspace(&n->enc[k], 1, h, h),
	    ir_conv_workspace(&n->cls[k], 1, h, h));
}

/* Mirrors forward() below, taking the largest size of every buffer. */
static void
layout(const struct ir_ssdnet *n, struct layout *l)
{
	int h = S, oh, ow;

	memset(l, 0, sizeof *l);
	l->in = ir_al16((size_t)S * S * 3);
	l->ws = ir_conv_workspace(&n->conv0, 1, h, h);
	ir_conv_outsize(&n->conv0, h, h, &oh, &ow);
	h = oh;
	l->act = (size_t)h * h * 32;
	for (int i = 0; i < 13; i++) {
		int dh = ir_cnn_outsize(h, 3, bb_stride[i + 1], IR_PAD_SAME);
		l->tmp = ir_maxz(l->tmp, (size_t)dh * dh * bb_ch[i]);
		l->act = ir_maxz(l->act, (size_t)dh * dh * bb_ch[i + 1]);
		l->ws = ir_maxz(l->ws, ir_conv_workspace(&n->pw[i], 1, dh, dh));
		if (i == 10)
			l->ws = ir_maxz(l->ws, head_ws(n, 0, dh));
		h = dh;
	}
	l->ws = ir_maxz(l->ws, head_ws(n, 1, h));
	for (int i = 0; i < 8; i++) {
		l->ws = ir_maxz(l->ws, ir_conv_workspace(&n->ex[i], 1, h, h));
		ir_conv_outsize(&n->ex[i], h, h, &oh, &ow);
		h = oh;
		l->act = ir_maxz(l->act, (size_t)h * h * ex_ch[i]);
		if (i % 2 == 1)
			l->ws = ir_maxz(l->ws, head_ws(n, 2 + i / 2, h));
	}
	l->act = ir_al16(l->act);
	l->tmp = ir_al16(l->tmp);
	l->ws = ir_al16(l->ws);
	/* enc 4, logits 3, scores 1, decoded 4, idx 1, sel 1 per box */
	l->post = ir_al16((size_t)NB * 14);
}

size_t
ir_ssd_scratch(const struct ir_ssdnet *n)
{
	struct layout l;

	layout(n, &l);
	return l.in + 2 * l.act + l.tmp + l.ws + l.post;
}

/* Runs box predictor k on an h x h feature map. */
static void
head(const struct ir_ssdnet *n, int k, const float *x, int h, float *enc,
    float *logit, float *ws)
{
	ir_conv_forward(&n->enc[k], x, 1, h, h, enc + 4 * head_first[k], NULL,
	    ws);
	ir_conv_forward(&n->cls[k], x, 1, h, h, logit + 3 * head_first[k],
	    NULL, ws);
}

static void
forward(const struct ir_ssdnet *n, float *scratch, const struct layout *l,
    float *enc, float *logit)
{
	float *in = scratch, *a = in + l->in, *b = a + l->act;
	float *tmp = b + l->act, *ws = tmp + l->tmp, *t;
	int h = S, oh, ow;

	ir_conv_forward(&n->conv0, in, 1, h, h, a, NULL, ws);
	ir_conv_outsize(&n->conv0, h, h, &oh, &ow);
	h = oh;
	for (int i = 0; i < 13; i++) {
		ir_sepconv_forward(&n->dw[i], &n->pw[i], a, 1, h, h, tmp, b,
		    ws);
		h = ir_cnn_outsize(h, 3, bb_stride[i + 1], IR_PAD_SAME);
		t = a, a = b, b = t;
		if (i == 10)
			head(n, 0, a, h, enc, logit, ws);
	}
	head(n, 1, a, h, enc, logit, ws);
	for (int i = 0; i < 8; i++) {
		ir_conv_forward(&n->ex[i], a, 1, h, h, b, NULL, ws);
		ir_conv_outsize(&n->ex[i], h, h, &oh, &ow);
		h = oh;
		t = a, a = b, b = t;
		if (i % 2 == 1)
			head(n, 2 + i / 2, a, h, enc, logit, ws);
	}
}

int
ir_ssd_detect(const struct ir_ssdnet *n, const struct ir_image *img,
    double min_score, float *scratch, struct ir_det *dets, int max, int *nd,
    char *err)
{
	struct layout l;

	*nd = 0;
	layout(n, &l);
	float *post = scratch + l.in + 2 * l.act + l.tmp + l.ws;
	float *enc = post, *logit = enc + 4 * NB, *score = logit + 3 * NB;
	float *box = score + NB;
	int *idx = (int *)(box + 4 * NB), *sel = idx + NB;

	/* tfjs: x / 127.5 - 1, two float32 steps (fused into the resize) */
	ir_resize_batch_tensor_norm(img, NULL, 1, S, 0, &ssd_norm, scratch);
	forward(n, scratch, &l, enc, logit);
	for (int i = 0; i < NB; i++)
		score[i] = (float)(1.0 /
		    (1.0 + exp(-(double)logit[3 * i + 1])));
	ir_ssd_decode(enc, n->anchors, NB, box);
	if (max > IR_SSD_MAX_RESULTS)
		max = IR_SSD_MAX_RESULTS;
	int k = ir_ssd_nms(box, score, NB, min_score, 0.5, max, idx, sel);
	for (int i = 0; i < k; i++) {
		dets[i].score = score[sel[i]];
		ir_ssd_map(box + 4 * sel[i], img->w, img->h, dets[i].box);
	}
	*nd = k;
	return IR_OK;
}
