/*
 * landmarks.c: face-api's FaceLandmark68Net and FaceLandmark68TinyNet
 * (MODEL-SPEC.md section 6): 68 points from a 112x112 face crop.
 *
 * Both are stacks of dense blocks: o1 = relu(conv0(x)) (a plain 3x3/2 conv
 * in the first block, a stride-2 separable conv in the others), then
 * o2 = sep(o1), i3 = relu(o1 + o2), o3 = sep(i3), i4 = relu(o1 + (o2 + o3))
 * [tiny net: block output], o4 = sep(i4), out = relu(o1 + (o2 + (o3 + o4))).
 * The full net has 4 blocks (56, 28, 14, 7 cells; 32..256 channels), the
 * tiny one 3 blocks of 3 (56, 28, 14; 32..128); then a valid average pool
 * over the whole map and a fully connected layer to 136 outputs
 * (x0, y0, ..., x67, y67 as fractions of the 112 input).
 *
 * Invariants: the net only points into its model's tensors; faces go
 * through in batches (one GEMM per layer for the whole batch) inside the
 * caller's scratch (ir_lmnet_scratch floats for the batch size), so the
 * per-image path never allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "facenets.h"
#include "resize.h"
#include "util.h"

#define LM IR_LM_SIZE
#define MAXBLK 4
#define MAXSEP 4

static const struct ir_resize_norm lm_norm = {
	{ 122.782f, 117.001f, 104.298f }, 255.0f, 0.0f
};

struct ir_lmnet {
	int nblk, nconv;          /* 4 x 4 (full) or 3 x 3 (tiny) */
	struct ir_conv conv0;     /* dense0/conv0 */
	struct ir_dwconv dw[MAXBLK][MAXSEP]; /* [b][0] unused for b = 0 */
	struct ir_conv pw[MAXBLK][MAXSEP];
	struct ir_conv fc;        /* fc: a 1x1 conv on the pooled 1x1 map */
	int cout[MAXBLK];
};

int
ir_lmnet_load(struct ir_model *m, int tiny, struct ir_lmnet **out, char *err)
{
	struct ir_lmnet *n = ir_xcalloc(1, sizeof *n);
	char name[64];

	*out = NULL;
	n->nblk = tiny ? 3 : 4;
	n->nconv = tiny ? 3 : 4;
#define GET(var_, nd, ...) do { \
		int want_[4] = { __VA_ARGS__ }; \
		if ((var_ = ir_model_expect(m, name, nd, want_, err)) == NULL) \
			goto fail; \
	} while (0)
	for (int b = 0, cin = 3; b < n->nblk; b++) {
		int co = 32 << b;
		n->cout[b] = co;
		for (int k = 0; k < n->nconv; k++) {
			int ci = k == 0 ? cin : co;
			if (b == 0 && k == 0) {
				struct ir_conv *c = &n->conv0;
				snprintf(name, sizeof name,
				    "dense0/conv0/filters");
				GET(c->w, 4, 3, 3, 3, co);
				snprintf(name, sizeof name,
				    "dense0/conv0/bias");
				GET(c->bias, 1, co);
				c->kh = c->kw = 3;
				c->cin = 3;
				c->cout = co;
				c->stride = 2;
				c->pad = IR_PAD_SAME;
				c->act = IR_ACT_RELU;
				continue;
			}
			struct ir_dwconv *d = &n->dw[b][k];
			struct ir_conv *p = &n->pw[b][k];
			snprintf(name, sizeof name,
			    "dense%d/conv%d/depthwise_filter", b, k);
			GET(d->w, 4, 3, 3, ci, 1);
			snprintf(name, sizeof name,
			    "dense%d/conv%d/pointwise_filter", b, k);
			GET(p->w, 4, 1, 1, ci, co);
			snprintf(name, sizeof name, "dense%d/conv%d/bias", b,
			    k);
			GET(p->bias, 1, co);
			d->k = 3;
			d->c = ci;
			d->stride = k == 0 ? 2 : 1;
			d->pad = IR_PAD_SAME;
			d->act = IR_ACT_NONE;
			p->kh = p->kw = 1;
			p->cin = ci;
			p->cout = co;
			p->stride = 1;
			p->pad = IR_PAD_SAME;
			/* o1 is activated, the last conv yields the block's
			 * output relu(o1 + ... + on); the others feed the sum
			 * (see forward()) */
			p->act = k == 0 || k == n->nconv - 1 ? IR_ACT_RELU :
			    IR_ACT_NONE;
		}
		cin = co;
	}
	int cl = n->cout[n->nblk - 1];
	snprintf(name, sizeof name, "fc/weights");
	GET(n->fc.w, 2, cl, 136);
	snprintf(name, sizeof name, "fc/bias");
	GET(n->fc.bias, 1, 136);
#undef GET
	n->fc.kh = n->fc.kw = 1;
	n->fc.cin = cl, n->fc.cout = 136;
	n->fc.stride = 1, n->fc.pad = IR_PAD_VALID, n->fc.act = IR_ACT_NONE;
	if (ir_conv_prepare(&n->conv0, err) != 0 ||
	    ir_conv_prepare(&n->fc, err) != 0)
		goto fail;
	for (int b = 0; b < n->nblk; b++)
		for (int k = b == 0; k < n->nconv; k++)
			if (ir_conv_prepare(&n->pw[b][k], err) != 0)
				goto fail;
	*out = n;
	return IR_OK;
fail:
	ir_lmnet_free(n);
	return IR_EINVAL;
}

void
ir_lmnet_free(struct ir_lmnet *n)
{
	if (n == NULL)
		return;
	ir_conv_release(&n->conv0);
	ir_conv_release(&n->fc);
	for (int b = 0; b < MAXBLK; b++)
		for (int k = 0; k < MAXSEP; k++)
			ir_conv_release(&n->pw[b][k]);
	free(n);
}

/* Scratch: input, then four activation buffers x, o1, s, t, the conv
 * workspace, the pooled features and the outputs. */
struct layout {
	size_t in, act, ws, feat, out;
};

static void
layout(const struct ir_lmnet *n, int batch, struct layout *l)
{
	int h = LM;

	memset(l, 0, sizeof *l);
	l->in = ir_al16((size_t)batch * LM * LM * 3);
	l->ws = ir_conv_workspace(&n->conv0, batch, h, h);
	for (int b = 0; b < n->nblk; b++) {
		int oh = ir_cnn_outsize(h, 3, 2, IR_PAD_SAME);
		/* the depthwise temporary is at most the block input size */
		l->act = ir_maxz(l->act, (size_t)batch * h * h *
		    (b == 0 ? 3 : n->cout[b - 1]));
		l->act = ir_maxz(l->act, (size_t)batch * oh * oh * n->cout[b]);
		for (int k = b == 0; k < n->nconv; k++)
			l->ws = ir_maxz(l->ws,
			    ir_conv_workspace(&n->pw[b][k], batch, oh, oh));
		h = oh;
	}
	l->ws = ir_maxz(l->ws, ir_conv_workspace(&n->fc, batch, 1, 1));
	l->act = ir_al16(l->act);
	l->ws = ir_al16(l->ws);
	l->feat = ir_al16((size_t)batch * n->cout[n->nblk - 1]);
	l->out = ir_al16((size_t)batch * 136);
}

size_t
ir_lmnet_scratch(const struct ir_lmnet *n, int batch)
{
	struct layout l;

	layout(n, batch < 1 ? 1 : batch, &l);
	return l.in + 4 * l.act + l.ws + l.feat + l.out;
}

/* y = relu(x) for npix pixels of c channels: a copy and cnn.h's
 * vectorised in-place activation (a plain C loop stays scalar at -O2). */
static void
relu_copy(float *y, const float *x, size_t npix, int c)
{
	memcpy(y, x, npix * c * sizeof(float));
	ir_affine(y, npix, c, NULL, NULL, IR_ACT_RELU);
}

/* Separable conv whose pointwise epilogue adds res (may equal out). */
static void
sep_res(const struct ir_dwconv *d, const struct ir_conv *pw, const float *in,
    int nb, int h, float *tmp, float *out, const float *res, float *ws)
{
	int oh = ir_cnn_outsize(h, 3, d->stride, IR_PAD_SAME);

	ir_dwconv_forward(d, in, nb, h, h, tmp);
	ir_conv_forward(pw, tmp, nb, oh, oh, out, res, ws);
}

/*
 * One batch of nb prepared 112x112x3 inputs -> nb x 136 outputs.
 * The dense-block sums are kept running in s and added by the pointwise
 * convs' epilogues, so a block costs two extra passes (the relu copies)
 * instead of six adds: s = o1 + o2; x = relu(s); s += o3; [tiny: x =
 * relu(s) is the output] x = relu(s); x = relu(s + o4). face-api sums
 * right to left, o1 + (o2 + (o3 + o4)); the order only moves the last bit.
 */
static const float *
forward(const struct ir_lmnet *n, int nb, float *scratch,
    const struct layout *l)
{
	float *x = scratch + l->in, *o1 = x + l->act, *sum = o1 + l->act;
	float *t = sum + l->act, *ws = t + l->act, *feat = ws + l->ws;
	float *out = feat + l->feat;
	const float *in = scratch;
	int h = LM;

	for (int b = 0; b < n->nblk; b++) {
		int oh = ir_cnn_outsize(h, 3, 2, IR_PAD_SAME), co = n->cout[b];
		size_t npix = (size_t)nb * oh * oh;
		if (b == 0)
			ir_conv_forward(&n->conv0, in, nb, h, h, o1, NULL, ws);
		else
			sep_res(&n->dw[b][0], &n->pw[b][0], x, nb, h, t, o1,
			    NULL, ws);
		h = oh;
		sep_res(&n->dw[b][1], &n->pw[b][1], o1, nb, h, t, sum, o1, ws);
		relu_copy(x, sum, npix, co);				/* i3 */
		if (n->nconv == 3) {
			/* the last conv's epilogue: relu(s + o3) */
			sep_res(&n->dw[b][2], &n->pw[b][2], x, nb, h, t, x, sum,
			    ws);
			continue;
		}
		sep_res(&n->dw[b][2], &n->pw[b][2], x, nb, h, t, sum, sum, ws);
		relu_copy(x, sum, npix, co);				/* i4 */
		sep_res(&n->dw[b][3], &n->pw[b][3], x, nb, h, t, x, sum, ws);
	}
	int c = n->cout[n->nblk - 1];
	ir_avgpool(x, nb, h, h, c, h, 2, feat);
	ir_conv_forward(&n->fc, feat, nb, 1, 1, out, NULL, ws);
	return out;
}

int
ir_lmnet_run(const struct ir_lmnet *n, const struct ir_image *img,
    const int (*crops)[4], int nc, int batch, float *scratch,
    double (*rel)[68][2], char *err)
{
	struct layout l;

	if (batch < 1)
		batch = 1;
	layout(n, batch, &l);
	for (int i0 = 0; i0 < nc; i0 += batch) {
		int nb = nc - i0 < batch ? nc - i0 : batch;
		ir_resize_batch_tensor_norm(img, crops[i0], nb, LM, 1,
		    &lm_norm, scratch);
		const float *out = forward(n, nb, scratch, &l);
		for (int i = 0; i < nb; i++)
			ir_lm_decode(out + 136 * i, crops[i0 + i][2],
			    crops[i0 + i][3], rel[i0 + i]);
	}
	return IR_OK;
}
