/*
 * cnn.h: the CNN layer kernels every network of ir is built from.
 *
 * HOW TO USE (for whoever writes a network on top of this):
 *
 *  Layout. Activations are float32 NHWC: element (img, y, x, c) of an
 *  n x h x w x C tensor is at ((img*h + y)*w + x)*C + c. A batch of n images
 *  goes through every kernel in one call (for convolutions: one GEMM with
 *  M = n*oh*ow rows). Weights are used exactly as face-api stores them:
 *  conv filters HWIO [kh][kw][cin][cout] (this is the K x N row-major B
 *  matrix of the GEMM, K = kh*kw*cin), depthwise [kh][kw][c] (multiplier 1),
 *  fully connected [cin][cout] (y = x * W).
 *
 *  Padding. IR_PAD_SAME / IR_PAD_VALID follow TensorFlow (MODEL-SPEC 2.3):
 *  same: out = ceil(in/s), pad_total = max(0, (out-1)*s + k - in), before =
 *  pad_total/2, after = the rest (so 3x3 stride 2 on an even input pads 0
 *  before and 1 after); valid: out = ceil((in-k+1)/s). ir_cnn_outsize()
 *  and ir_cnn_padbefore() give these numbers. Padded cells count as 0 in
 *  convolutions and are ignored (as -inf) in max pooling.
 *
 *  Epilogue. Convolutions and depthwise convolutions finish every output
 *  value v (the raw sum over the window) with
 *        y = act(v * scale[co] + bias[co] (+ res[same index]))
 *  where scale == NULL means 1, bias == NULL means 0, res == NULL means no
 *  residual. A plain conv + bias is scale = NULL, bias = b. A conv followed
 *  by a per-channel affine (dlib scale layer, folded batch norm) can either
 *  be folded into the weights at load (ir_cnn_fold_scale) or passed as
 *  scale/bias. Unfolded batch norm (SSD depthwise) becomes scale/bias with
 *  ir_cnn_bn_affine(). Activations: IR_ACT_NONE, IR_ACT_RELU, IR_ACT_RELU6
 *  (min(max(x,0),6)) and IR_ACT_LEAKY (face-api's 0.1 leaky ReLU computed
 *  as m = 0.1f*x; y = relu(x - m) + m, MODEL-SPEC 2.4).
 *
 *  Separable conv (landmark/tiny/xception nets): ir_dwconv_forward() with
 *  scale = bias = NULL and IR_ACT_NONE, then a 1x1 ir_conv with the bias
 *  and the activation (or use ir_sepconv_forward(), which does exactly that).
 *
 *  Memory. Nothing here allocates during forward passes. At load:
 *   1. fill the public fields of struct ir_conv, call ir_conv_prepare()
 *      once (it picks the algorithm and may pre-transform the weights into
 *      memory owned by the struct; ir_conv_release() frees it);
 *   2. size one arena: for each layer, ir_conv_workspace(c, n, h, w) gives
 *      the scratch floats that layer needs for a batch of n; take the max
 *      over layers, plus your activation buffers; allocate once
 *      (ir_xaligned, 64-byte aligned);
 *   3. per image/batch, pass in/out/workspace pointers into the arena. in,
 *      out, res and ws must not overlap, except where a function says so.
 *
 *  Threads. ir_cnn_set_threads(n) sets the BLAS thread count
 *  (openblas_set_num_threads; until the first call OpenBLAS keeps its own
 *  default; OPENBLAS_* environment variables are never set or overridden
 *  by ir). The kernels themselves are single-threaded and
 *  reentrant: several threads may run forward passes at the same time with
 *  their own workspaces (for that, set BLAS threads to 1: parallelism
 *  across images beats threads inside small GEMMs).
 *
 *  CPU dispatch. ir's own kernels (depthwise, Winograd transforms, our
 *  GEMM and implicit-GEMM convolution, epilogues, max pooling) exist as "avx512",
 *  "avx2" and "generic" (SSE2) variants of one source (cnn_kern.h),
 *  chosen at first use from the CPU (__builtin_cpu_supports) or forced by
 *  the environment variable IR_CPU=avx512|avx2|generic (a variant the CPU
 *  lacks falls back to the best one it has). ir_cnn_cpu() names the one in
 *  use; ir_cnn_set_cpu() switches (tests use it to check every variant).
 *  All variants agree with the naive reference (tests/unit/cnn.c) to float
 *  rounding.
 */
#ifndef IR_CNN_H
#define IR_CNN_H

#include <stddef.h>

enum ir_act { IR_ACT_NONE = 0, IR_ACT_RELU = 1, IR_ACT_RELU6 = 2,
	IR_ACT_LEAKY = 3 };
enum ir_pad { IR_PAD_VALID = 0, IR_PAD_SAME = 1 };

/* Algorithms ir_conv_prepare() may pick (reported by ir_cnn_stats). */
enum ir_conv_algo {
	IR_CONV_IM2COL = 0,  /* im2col + cblas_sgemm */
	IR_CONV_GEMM1X1 = 1, /* 1x1 stride 1: the input is the A matrix */
	IR_CONV_WINO = 2,    /* Winograd F(mxm,3x3) around our own GEMMs */
	IR_CONV_IM2COL_OWN = 3, /* our GEMM: implicit, or on im2col chunks */
	IR_CONV_NALGO = 4
};

/* Output size of a kh x ... window of stride s over `in` cells. */
int ir_cnn_outsize(int in, int k, int stride, int pad);
/* Cells of padding before the first input cell (TF rule above). */
int ir_cnn_padbefore(int in, int k, int stride, int pad);

/* A regular 2-D convolution layer (any kh x kw, stride, padding). */
struct ir_conv {
	/* public: fill these, then call ir_conv_prepare() */
	int kh, kw, cin, cout;
	int stride;            /* same in both directions, >= 1 */
	int pad;               /* enum ir_pad */
	int act;               /* enum ir_act */
	const float *w;        /* HWIO [kh][kw][cin][cout]; not copied */
	const float *scale;    /* [cout] or NULL; not copied */
	const float *bias;     /* [cout] or NULL; not copied */
	int wino;              /* Winograd tile: 0 auto, 2 = F(2x2,3x3),
				  4 = F(4x4,3x3), 6 = F(6x6,3x3), -1 never */
	/* optional: w as the 8-bit codes a quantised model stores, with a
	 * per-channel factor folded in: w[k][co] = (wq[k][co] * wq_scale +
	 * wq_min) * wq_col[co] (wq_col NULL: 1). Passes over few output
	 * pixels read these instead (see IR_CONV_FEW), expanded exactly as
	 * ir_cnn_q8_floats() does: when w was made by it, every pass
	 * multiplies by the same weights bit for bit. NULL: none. Not
	 * copied. */
	const unsigned char *wq;
	double wq_scale, wq_min;
	const float *wq_col;
	/* private: set by ir_conv_prepare() */
	int algo;              /* enum ir_conv_algo */
	int wm;                /* Winograd output tile m (2, 4 or 6) */
	float *wt;             /* transformed/packed weights, owned */
	float *wq8;            /* wq packed as panels, after per-column
				  factors and offsets (cnn.c), owned */
};

/*
 * Output pixels (per image for padded convs) up to which a conv with 8-bit
 * codes (wq) on our own GEMM reads them instead of w: so few rows of A use
 * each weight that the pass waits on memory for the weights (one face's
 * 4x4 and 3x3 maps), and a byte per weight instead of four moves a
 * quarter of the data. The bytes are expanded in L1-sized chunks
 * (w = q * S[co] + M[co], S and M folded at prepare) that every row
 * block then uses; results equal the float path's to float rounding.
 */
#define IR_CONV_FEW 24

/*
 * Validates the fields and picks the algorithm: Winograd for 3x3 stride-1
 * `same` convolutions with cout a multiple of 32 and cin % 16 == 0 (tile
 * from c->wino; auto = F(4x4,3x3); the environment IR_WINOGRAD=0 turns it
 * off), otherwise our own GEMM with the epilogue fused, any cout (the
 * last weight panel padded with zero columns; IR_OWN_GEMM=0 turns it
 * off): straight from the input when no window touches padding (1x1
 * stride 1 always: the input is the A matrix; implicit GEMM, no
 * workspace), else through a zero-padded copy or small cache-sized im2col
 * chunks; a large 1x1 one while BLAS has more than one thread goes to
 * cblas_sgemm on the input as it is, so one image's layer still spreads
 * over the cores; with IR_OWN_GEMM=0, 1x1 convs go to cblas_sgemm that
 * way and others to im2col + cblas_sgemm. Allocates c->wt (Winograd-
 * transformed or panel-packed weights) for our own paths; w, scale and
 * bias must stay valid until ir_conv_release. Returns 0, or IR_EINVAL with
 * a reason in err (NULL allowed) for impossible shapes. A conv that was
 * never prepared (zeroed private fields) still runs, through im2col + BLAS.
 */
int ir_conv_prepare(struct ir_conv *c, char *err);
/* Frees what ir_conv_prepare allocated; the struct may be prepared again. */
void ir_conv_release(struct ir_conv *c);

/*
 * Evicts c's prepared weights (c->wt) from every level of the CPU caches,
 * so that timing a pass measures them coming from memory, as in a
 * pipeline where other nets ran in between (x86-64 with clflushopt; a
 * no-op elsewhere).
 */
void ir_conv_evict(const struct ir_conv *c);

/* Output size of c on an h x w input. */
void ir_conv_outsize(const struct ir_conv *c, int h, int w, int *oh, int *ow);
/* Scratch floats ir_conv_forward needs for a batch of n h x w inputs. */
size_t ir_conv_workspace(const struct ir_conv *c, int n, int h, int w);

/*
 * out[n][oh][ow][cout] = act(conv(in) * scale + bias + res). in is
 * n x h x w x cin. res (NULL or an n x oh x ow x cout tensor) may equal
 * out (in-place residual add), except when scale != NULL on a BLAS path
 * (IR_OWN_GEMM=0, or a large 1x1 conv with several BLAS threads): then
 * pass a separate res. ws: ir_conv_workspace() floats.
 */
void ir_conv_forward(const struct ir_conv *c, const float *in, int n, int h,
    int w, float *out, const float *res, float *ws);

/* A depthwise convolution, channel multiplier 1. */
struct ir_dwconv {
	int k;                 /* kernel k x k (3 is the fast path) */
	int c;                 /* channels */
	int stride, pad, act;
	const float *w;        /* [k][k][c] */
	const float *scale;    /* [c] or NULL */
	const float *bias;     /* [c] or NULL */
};

/* out[n][oh][ow][c] = act(dwconv(in) * scale + bias). No workspace. */
void ir_dwconv_forward(const struct ir_dwconv *d, const float *in, int n,
    int h, int w, float *out);

/*
 * Output rows oy0..oy1-1 (clipped to 0..oh) of ir_dwconv_forward, the
 * same values, into out (n x (oy1-oy0) x ow x c): a network can run a
 * depthwise conv and the layers after it in cache-sized bands of rows.
 */
void ir_dwconv_rows(const struct ir_dwconv *d, const float *in, int n,
    int h, int w, int oy0, int oy1, float *out);

/*
 * A 1x1 convolution c (stride 1) on one h x w image and a 2x2/2 max pool
 * (`same`) after it, into out (ceil(h/2) x ceil(w/2) x cout): the same
 * values as ir_conv_forward then ir_maxpool. Fused (the convolution's
 * output never stored) when c runs on our own GEMM; otherwise through
 * tmp (h x w x cout floats) and ws (ir_conv_workspace(c, 1, h, w)).
 */
void ir_conv_pool2(const struct ir_conv *c, const float *in, int h, int w,
    float *tmp, float *out, float *ws);

/*
 * Separable conv: depthwise d (its scale/bias/act applied if set) into tmp
 * (n x oh x ow x d->c floats), then the 1x1 conv pw (stride 1) into out.
 * ws: ir_conv_workspace(pw, n, oh, ow) floats (0 for a prepared 1x1).
 */
void ir_sepconv_forward(const struct ir_dwconv *d, const struct ir_conv *pw,
    const float *in, int n, int h, int w, float *tmp, float *out, float *ws);

/* Max pool k x k, stride s, `same` (padding ignored) or `valid`. */
void ir_maxpool(const float *in, int n, int h, int w, int c, int k,
    int stride, int pad, float *out);
/* Average pool k x k, stride s, `valid` only (the models use no other). */
void ir_avgpool(const float *in, int n, int h, int w, int c, int k,
    int stride, float *out);
/* out[n][c] = mean over the h*w positions of each image. */
void ir_global_mean(const float *in, int n, int h, int w, int c, float *out);
/* y[i] = act(a[i] + b[i]) for i < count; y may alias a or b. */
void ir_add(float *y, const float *a, const float *b, size_t count, int act);
/* x[p][c] = act(x[p][c] * scale[c] + bias[c]) in place, p < npix. */
void ir_affine(float *x, size_t npix, int c, const float *scale,
    const float *bias, int act);

/*
 * Folding at load (on your own copies of the weights).
 * ir_cnn_fold_scale: w[k][co] *= s[co] for k < K (K = kh*kw*cin) and
 * b[co] = b[co]*s[co] + t[co]; b holds cout floats (the conv bias, or
 * zeros), updated in place. ir_cnn_bn_affine: scale = gamma /
 * sqrt(var + eps), bias = beta - mean * scale (for IR_ACT after an
 * unfolded batch norm: pass them as the kernel's scale/bias).
 */
void ir_cnn_fold_scale(float *w, float *b, int K, int cout, const float *s,
    const float *t);
/*
 * The floats of 8-bit codes q[K][cout] (see ir_conv.wq) as the kernels
 * expand them: w = fl(fl(q * S[co]) + M[co]), S[co] = qscale * col[co] and
 * M[co] = qmin * col[co] each rounded once from double (col NULL: 1).
 * Within a few units in the last place of (q * qscale + qmin) * col.
 */
void ir_cnn_q8_floats(const unsigned char *q, int K, int cout, double qscale,
    double qmin, const float *col, float *w);
void ir_cnn_bn_affine(const float *gamma, const float *beta,
    const float *mean, const float *var, float eps, int c, float *scale,
    float *bias);

/* BLAS threads (>= 1); returns the previous value. */
int ir_cnn_set_threads(int n);
int ir_cnn_threads(void);

/* The kernel variant in use: "avx512", "avx2" or "generic". */
const char *ir_cnn_cpu(void);
/* Forces a variant; IR_EINVAL if unknown or this CPU lacks it. */
int ir_cnn_set_cpu(const char *name, char *err);
/* 1 if this CPU can run variant `name`. */
int ir_cnn_cpu_has(const char *name);

/* What ran, for benchmarks: calls per conv algorithm since the start. */
struct ir_cnn_stats {
	unsigned long conv[IR_CONV_NALGO];
	unsigned long dw;
	unsigned long q8;      /* of conv[]: calls that read 8-bit codes */
};
void ir_cnn_stats(struct ir_cnn_stats *s);
/* A one-line description: variant, BLAS core name, algorithm counts. */
void ir_cnn_describe(char *buf, size_t len);

#endif
