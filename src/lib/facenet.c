/*
 * facenet.c: FaceRecognitionNet (MODEL-SPEC.md section 3) on the cnn.h
 * kernels: 7x7/2 conv, 3x3/2 max pool, 14 dlib residual blocks, global
 * mean, 128-wide FC.
 *
 * Invariants:
 *  - The weights (struct fweights) are written only by load(): the scale
 *    layers folded into private copies of the conv filters and biases,
 *    Winograd transforms prepared. Afterwards they are read-only and shared
 *    by clones through a reference count.
 *  - Each struct ir_facenet owns one arena sized at open for max_batch
 *    faces and `threads` workspaces; describe/forward never allocate.
 *  - Activations are NHWC. Per image the arena holds the input (150x150x3),
 *    buffer A (the largest map, 72x72x32), and X and S (35x35x32 each,
 *    enough for every later map). A residual block runs conv1 X -> A and
 *    conv2 A -> X with X as the in-place residual; a down block writes the
 *    shortcut (2x2 average pool with zero channels appended, dlib's
 *    add_prev) to S and swaps X and S.
 *  - Threads split a batch by images: the part of each buffer that holds
 *    images [i0, i1) is contiguous, so each thread just offsets pointers.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "facenet.h"
#include "model.h"
#include "resize.h"
#include "util.h"

#define S0 IR_FACENET_SIZE
#define NBLOCK 14
#define MAXTHREADS 16

static const struct {
	const char *name;
	int cin, cout, down;
} blocks[NBLOCK] = {
	{ "conv32_1", 32, 32, 0 }, { "conv32_2", 32, 32, 0 },
	{ "conv32_3", 32, 32, 0 }, { "conv64_down", 32, 64, 1 },
	{ "conv64_1", 64, 64, 0 }, { "conv64_2", 64, 64, 0 },
	{ "conv64_3", 64, 64, 0 }, { "conv128_down", 64, 128, 1 },
	{ "conv128_1", 128, 128, 0 }, { "conv128_2", 128, 128, 0 },
	{ "conv256_down", 128, 256, 1 }, { "conv256_1", 256, 256, 0 },
	{ "conv256_2", 256, 256, 0 }, { "conv256_down_out", 256, 256, 1 },
};

/* Per-image floats of each buffer (see the invariants above). */
#define IN_FLOATS ((size_t)S0 * S0 * 3)
#define A_FLOATS ((size_t)72 * 72 * 32)
#define X_FLOATS ((size_t)35 * 35 * 32)

/* toBatchTensor's (x - mean) / 255 (resize.h, fused into the resize) */
static const struct ir_resize_norm norm = {
	{ 122.782f, 117.001f, 104.298f }, 255.0f, 0.0f
};

struct fweights {
	int refs;
	struct ir_conv conv1;
	struct ir_conv c[NBLOCK][2];
	struct ir_conv one[NBLOCK][2]; /* tune()'s choice for one face, if
					  it differs from c (.w != NULL) */
	struct ir_conv center;  /* conv256_down_out/conv2 on its 1x1 map */
	struct ir_conv fc;      /* fc [256][128] (the model's) as a 1x1 conv */
	float *mem;             /* folded filters and biases */
	struct ir_model *model;
};

struct part {
	struct ir_facenet *f;
	const struct ir_facecrop *crops; /* NULL: in is ready */
	const float *in;
	int i0, n;
	float *ws;
	float *desc;
};

struct ir_facenet {
	struct fweights *w;
	int max_batch, threads, arena_threads;
	float *arena, *in, *a, *x, *s, *g;
	float *ws[MAXTHREADS];
	size_t wsfloats;
};

/* 1 if IR_FACENET_WINO ("H:M,H:M,...", e.g. "35:6,17:4,8:4,4:2,3:2", a
 * tuning aid) names map size h, its tile in *m; such a size is not timed. */
static int
wino_pinned(int h, int *m)
{
	const char *p = getenv("IR_FACENET_WINO");
	int hh, used;
	while (p && sscanf(p, "%d:%d%n", &hh, m, &used) == 2) {
		if (hh == h)
			return 1;
		p += used;
		p += *p == ',';
	}
	return 0;
}

/* Winograd tile for a 3x3 stride-1 conv on an h x h map (measured). */
static int
wino_for(int h)
{
	int m;
	if (wino_pinned(h, &m))
		return m;
	/* the defaults tune() starts from (bench/descriptor on an AMD EPYC
	 * Zen 4, CPU time per face): F(6x6) on the 35 and 17 maps (fewest
	 * wasted border cells), F(4x4) on 8x8, F(2x2) below, where F(4x4)'s
	 * 36/9 larger weights make batch 1 wait on memory */
	if (h >= 12)
		return 6;
	if (h >= 8)
		return 4;
	return 2;
}

/* Block i's map sizes: *hin its input's (conv1's), *h1 conv2's. */
static void
block_maps(int i, int *hin, int *h1)
{
	int h = 35;
	for (int k = 0; k < i; k++)
		if (blocks[k].down)
			h /= 2;
	*hin = h;
	*h1 = blocks[i].down ? ir_cnn_outsize(h, 3, 2, IR_PAD_VALID) : h;
}

/*
 * The alternative tune() times against wino_for(h) (-1: no Winograd), or 0
 * for none: on the 35x35 map one face's GEMMs have 36 or more rows, enough
 * to reuse each weight from cache, and F(6x6) and F(4x4) tied there.
 */
static int
wino_alt(int h)
{
	int m = wino_for(h);
	return h >= 24 ? 0 : m == 6 ? 4 : m == 4 ? 2 : -1;
}

/* Timed runs of each candidate: at most TUNE_REPS, TUNE_EARLY when one is
 * below TUNE_CLEAR of the other. */
#define TUNE_REPS 5
#define TUNE_EARLY 3
#define TUNE_CLEAR 0.8
#define TUNE_MAXL 8

/* Thread CPU time (ms) of the k convs of L in sequence on one h x h
 * image (in and out through buffers x and y), their weights evicted. */
static double
time_convs(struct ir_conv *const *L, int k, int h, float *x, float *y,
    float *ws)
{
	struct timespec t0, t1;
	for (int i = 0; i < k; i++)
		ir_conv_evict(L[i]);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (int i = 0; i < k; i++) {
		ir_conv_forward(L[i], x, 1, h, h, y, NULL, ws);
		float *t = x;
		x = y, y = t;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/*
 * Times, on this CPU, the alternative tile of the 3x3 stride-1 convs of
 * each map size for a pass of one face (IR_FACENET_TUNE=0: none taken;
 * IR_FACENET_TUNE=all: every one taken without timing, for tests).
 * Which is faster there depends on how fast the weights come from memory:
 * F(2x2)'s transformed weights are 16/36 of F(4x4)'s bytes for 36/16 of
 * its multiplications, and the plain convolution's are 9/16 of F(2x2)'s.
 * On the 8x8 map F(4x4) was the faster on an AMD EPYC Zen 4 (weights
 * warm), F(2x2) by 15-40% on an Intel Xeon (Emerald Rapids). Each size's
 * layers run in sequence as in the net, one face, their weights evicted
 * from the caches first (ir_conv_evict: in the pipeline the other nets run
 * in between), the default and the alternative alternately, TUNE_REPS
 * times or TUNE_EARLY when the call is clear; if the alternative's best
 * time is at least 5% below the default's, it is kept in w->one for passes
 * of one face (batches keep the default, which does fewer
 * multiplications). ~40 ms at load.
 */
static int
tune(struct fweights *w, char *err)
{
	const char *e = getenv("IR_FACENET_TUNE");
	if (e && strcmp(e, "0") == 0)
		return IR_OK;
	int all = e && strcmp(e, "all") == 0; /* tests: keep every one */
	/* each 3x3 stride-1 conv (block i, conv j) and its map size */
	int si[2 * NBLOCK], sj[2 * NBLOCK], sh[2 * NBLOCK], ns = 0;
	size_t maxf = 0;
	for (int i = 0; i < NBLOCK; i++) {
		int h, h1;
		block_maps(i, &h, &h1);
		if (!blocks[i].down)
			si[ns] = i, sj[ns] = 0, sh[ns++] = h;
		if (h1 > 1)
			si[ns] = i, sj[ns] = 1, sh[ns++] = h1;
		size_t f = (size_t)h * h * blocks[i].cout;
		maxf = f > maxf ? f : maxf;
	}
	float *x = ir_xaligned(maxf * sizeof(float));
	float *y = ir_xaligned(maxf * sizeof(float));
	float *ws = NULL;
	int r = IR_OK;
	for (size_t i = 0; i < maxf; i++)
		x[i] = y[i] = 0.01f;
	for (int s = 0; s < ns && r == IR_OK; s++) {
		int hs = sh[s], k = 0;
		struct ir_conv *L[TUNE_MAXL], *A[TUNE_MAXL];
		int pm;
		if ((s > 0 && sh[s - 1] == hs) || wino_pinned(hs, &pm) ||
		    wino_alt(hs) == 0)
			continue;       /* size done, pinned, or not tuned */
		for (int t = s; t < ns && k < TUNE_MAXL; t++) {
			if (sh[t] != hs)
				continue;
			L[k] = &w->c[si[t]][sj[t]];
			A[k] = &w->one[si[t]][sj[t]];
			*A[k] = *L[k];
			A[k]->wt = NULL;
			A[k]->wq8 = NULL;
			A[k]->wino = wino_alt(hs);
			if (r == IR_OK)
				r = ir_conv_prepare(A[k], err);
			k++;
		}
		size_t wf = 0;
		for (int j = 0; j < k; j++) {
			size_t a = ir_conv_workspace(L[j], 1, hs, hs);
			size_t b = ir_conv_workspace(A[j], 1, hs, hs);
			wf = a > wf ? a : wf;
			wf = b > wf ? b : wf;
		}
		free(ws);
		ws = ir_xaligned((wf + 64) * sizeof(float));
		double td = 1e30, ta = 1e30;
		for (int rep = 0; rep < TUNE_REPS && r == IR_OK && !all; rep++) {
			double t = time_convs(L, k, hs, x, y, ws);
			td = t < td ? t : td;
			t = time_convs(A, k, hs, x, y, ws);
			ta = t < ta ? t : ta;
			if (rep + 1 >= TUNE_EARLY && (ta < TUNE_CLEAR * td ||
			    td < TUNE_CLEAR * ta))
				break;
		}
		if (r != IR_OK || (ta >= 0.95 * td && !all))
			for (int j = 0; j < k; j++) {
				ir_conv_release(A[j]);
				memset(A[j], 0, sizeof *A[j]);
			}
	}
	free(x);
	free(y);
	free(ws);
	return r;
}

/* The conv j of block i for a pass of n faces. */
static const struct ir_conv *
conv_for(const struct fweights *w, int i, int j, int n)
{
	return n == 1 && w->one[i][j].w ? &w->one[i][j] : &w->c[i][j];
}

static int
load_conv(struct ir_model *m, const char *pre, int k, int stride, int pad,
    int cin, int cout, int act, int wino, struct ir_conv *c, float **mem,
    char *err)
{
	char nm[128];
	int wd[4] = { k, k, cin, cout }, vd[4] = { cout };
	const float *w, *b, *sw, *sb;

	memset(c, 0, sizeof *c);
	snprintf(nm, sizeof nm, "%s/conv/filters", pre);
	if (!(w = ir_model_expect(m, nm, 4, wd, err)))
		return IR_EINVAL;
	/* and their bytes when the file has them (cnn.h, wq) */
	c->wq = ir_model_codes(m, nm, &c->wq_scale, &c->wq_min);
	snprintf(nm, sizeof nm, "%s/conv/bias", pre);
	if (!(b = ir_model_expect(m, nm, 1, vd, err)))
		return IR_EINVAL;
	snprintf(nm, sizeof nm, "%s/scale/weights", pre);
	if (!(sw = ir_model_expect(m, nm, 1, vd, err)))
		return IR_EINVAL;
	snprintf(nm, sizeof nm, "%s/scale/biases", pre);
	if (!(sb = ir_model_expect(m, nm, 1, vd, err)))
		return IR_EINVAL;

	size_t K = (size_t)k * k * cin;
	float *fw = *mem, *fb = fw + K * cout;
	*mem = fb + cout;
	memcpy(fb, b, cout * sizeof(float));
	/* the scale layer folded into the filters; from their bytes when
	 * the file has them, kept too: one face's small maps read a quarter
	 * of the bytes */
	if (c->wq) {
		c->wq_col = sw;
		ir_cnn_q8_floats(c->wq, (int)K, cout, c->wq_scale, c->wq_min,
		    sw, fw);
		ir_cnn_fold_scale(fw, fb, 0, cout, sw, sb);  /* the bias */
	} else {
		memcpy(fw, w, K * cout * sizeof(float));
		ir_cnn_fold_scale(fw, fb, (int)K, cout, sw, sb);
	}

	c->kh = c->kw = k;
	c->cin = cin, c->cout = cout;
	c->stride = stride, c->pad = pad, c->act = act;
	c->w = fw, c->bias = fb;
	c->wino = wino;
	return ir_conv_prepare(c, err);
}

static void
free_weights(struct fweights *w)
{
	if (!w)
		return;
	ir_conv_release(&w->conv1);
	for (int i = 0; i < NBLOCK; i++)
		for (int j = 0; j < 2; j++) {
			ir_conv_release(&w->c[i][j]);
			ir_conv_release(&w->one[i][j]);
		}
	ir_conv_release(&w->center);
	ir_conv_release(&w->fc);
	free(w->mem);
	ir_model_close(w->model);
	free(w);
}

static int
load(const char *path, struct fweights **out, char *err)
{
	char buf[4096];
	struct fweights *w = ir_xcalloc(1, sizeof *w);
	int r;

	if (!path) {
		snprintf(buf, sizeof buf, "%s/face_recognition.irw",
		    ir_model_dir());
		path = buf;
	}
	if ((r = ir_model_open(path, &w->model, err)) != IR_OK) {
		free(w);
		return r;
	}
	size_t total = (size_t)7 * 7 * 3 * 32 + 32;
	for (int i = 0; i < NBLOCK; i++)
		total += (size_t)9 * blocks[i].cin * blocks[i].cout +
		    (size_t)9 * blocks[i].cout * blocks[i].cout +
		    2 * (size_t)blocks[i].cout;
	total += (size_t)256 * IR_FACENET_DIM;  /* fc, from its bytes */
	w->mem = ir_xaligned(total * sizeof(float));
	float *mem = w->mem;

	w->refs = 1;
	r = load_conv(w->model, "conv32_down", 7, 2, IR_PAD_VALID, 3, 32,
	    IR_ACT_RELU, -1, &w->conv1, &mem, err);
	for (int i = 0; i < NBLOCK && r == IR_OK; i++) {
		char pre[64];
		int ci = blocks[i].cin, co = blocks[i].cout, h, h1;
		block_maps(i, &h, &h1);
		snprintf(pre, sizeof pre, "%s/conv1", blocks[i].name);
		r = load_conv(w->model, pre, 3, blocks[i].down ? 2 : 1,
		    blocks[i].down ? IR_PAD_VALID : IR_PAD_SAME, ci, co,
		    IR_ACT_RELU, wino_for(h), &w->c[i][0], &mem, err);
		if (r != IR_OK)
			break;
		snprintf(pre, sizeof pre, "%s/conv2", blocks[i].name);
		r = load_conv(w->model, pre, 3, 1, IR_PAD_SAME, co, co,
		    IR_ACT_RELU, h1 > 1 ? wino_for(h1) : -1, &w->c[i][1], &mem,
		    err);
	}
	if (r == IR_OK)
		r = tune(w, err);
	if (r == IR_OK) {
		/* 3x3 same on a 1x1 map: only the centre tap sees data. */
		const struct ir_conv *c2 = &w->c[NBLOCK - 1][1];
		w->center = (struct ir_conv){ .kh = 1, .kw = 1, .cin = 256,
			.cout = 256, .stride = 1, .pad = IR_PAD_VALID,
			.act = IR_ACT_NONE, .bias = c2->bias, .wino = -1,
			.w = c2->w + (size_t)4 * 256 * 256,
			.wq = c2->wq ? c2->wq + (size_t)4 * 256 * 256 : NULL,
			.wq_scale = c2->wq_scale, .wq_min = c2->wq_min,
			.wq_col = c2->wq_col };
		r = ir_conv_prepare(&w->center, err);
	}
	if (r == IR_OK) {
		int fd[4] = { 256, 128 };
		w->fc = (struct ir_conv){ .kh = 1, .kw = 1, .cin = 256,
			.cout = IR_FACENET_DIM, .stride = 1,
			.pad = IR_PAD_VALID, .act = IR_ACT_NONE, .wino = -1 };
		if (!(w->fc.w = ir_model_expect(w->model, "fc", 2, fd, err)))
			r = IR_EINVAL;
		else {
			/* the floats as its bytes give them (cnn.h, wq) */
			w->fc.wq = ir_model_codes(w->model, "fc",
			    &w->fc.wq_scale, &w->fc.wq_min);
			if (w->fc.wq) {
				ir_cnn_q8_floats(w->fc.wq, 256, IR_FACENET_DIM,
				    w->fc.wq_scale, w->fc.wq_min, NULL, mem);
				w->fc.w = mem;
			}
			r = ir_conv_prepare(&w->fc, err);
		}
	}
	if (r != IR_OK) {
		free_weights(w);
		return r;
	}
	/* the convs hold their codes packed (wq8): the model's go */
	w->conv1.wq = w->center.wq = w->fc.wq = NULL;
	for (int i = 0; i < NBLOCK; i++)
		for (int j = 0; j < 2; j++)
			w->c[i][j].wq = w->one[i][j].wq = NULL;
	ir_model_drop_codes(w->model);
	*out = w;
	return IR_OK;
}

/* Workspace floats one thread needs for a batch of n (an upper bound). */
static size_t
ws_floats(const struct fweights *w, int n)
{
	size_t m = ir_conv_workspace(&w->conv1, n, S0, S0);
	for (int i = 0; i < NBLOCK; i++) {
		int h, h1;
		block_maps(i, &h, &h1);
		/* one face (conv_for's one-face layers) and a full batch */
		int sizes[2] = { 1, n };
		for (int q = 0; q < 2; q++) {
			int nn = sizes[q];
			size_t a = ir_conv_workspace(conv_for(w, i, 0, nn), nn,
			    h, h);
			size_t b = ir_conv_workspace(conv_for(w, i, 1, nn), nn,
			    h1, h1);
			m = a > m ? a : m;
			m = b > m ? b : m;
		}
	}
	size_t c = ir_conv_workspace(&w->center, n, 1, 1);
	size_t f = ir_conv_workspace(&w->fc, n, 1, 1);
	m = c > m ? c : m;
	return (f > m ? f : m) + 64;
}

static int
make(struct fweights *w, int max_batch, int threads, struct ir_facenet **out)
{
	struct ir_facenet *f = ir_xcalloc(1, sizeof *f);
	if (max_batch <= 0)
		max_batch = 16;
	if (threads <= 0)
		threads = 1;
	if (threads > MAXTHREADS)
		threads = MAXTHREADS;
	f->w = w;
	f->max_batch = max_batch;
	f->threads = f->arena_threads = threads;
	size_t B = (size_t)max_batch;
	f->wsfloats = ir_al16(ws_floats(w, max_batch));
	size_t total = B * (IN_FLOATS + A_FLOATS + 2 * X_FLOATS + 256) +
	    (size_t)threads * f->wsfloats + 64;
	f->arena = ir_xaligned(total * sizeof(float));
	f->in = f->arena;
	f->a = f->in + B * IN_FLOATS;
	f->x = f->a + B * A_FLOATS;
	f->s = f->x + B * X_FLOATS;
	f->g = f->s + B * X_FLOATS;
	float *p = f->g + B * 256;
	p = (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
	for (int t = 0; t < threads; t++)
		f->ws[t] = p + (size_t)t * f->wsfloats;
	*out = f;
	return IR_OK;
}

int
ir_facenet_open(const char *path, int max_batch, int threads,
    struct ir_facenet **out, char *err)
{
	struct fweights *w;
	int r = load(path, &w, err);
	if (r != IR_OK)
		return r;
	return make(w, max_batch, threads, out);
}

int
ir_facenet_clone(const struct ir_facenet *f, struct ir_facenet **out,
    char *err)
{
	__atomic_add_fetch(&f->w->refs, 1, __ATOMIC_ACQ_REL);
	return make(f->w, f->max_batch, f->arena_threads, out);
}

void
ir_facenet_set_threads(struct ir_facenet *f, int threads)
{
	if (threads < 1)
		threads = 1;
	if (threads > f->arena_threads)
		threads = f->arena_threads;
	f->threads = threads;
}

void
ir_facenet_tiles(const struct ir_facenet *f, char *buf, size_t len)
{
	size_t o = 0;
	int last = 0;
	if (len)
		buf[0] = '\0';
	for (int i = 0; i < NBLOCK; i++) {
		int h, h1;
		block_maps(i, &h, &h1);
		const struct ir_conv *c = conv_for(f->w, i, 1, 1);
		if (h1 > 1 && h1 != last && o < len) {
			int m = c->algo == IR_CONV_WINO ? c->wm : -1;
			int k = snprintf(buf + o, len - o, "%s%d:%d",
			    o ? "," : "", h1, m);
			o += k > 0 ? (size_t)k : 0;
			last = h1;
		}
	}
}

int
ir_facenet_max_batch(const struct ir_facenet *f)
{
	return f->max_batch;
}

void
ir_facenet_close(struct ir_facenet *f)
{
	if (!f)
		return;
	if (__atomic_sub_fetch(&f->w->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free_weights(f->w);
	free(f->arena);
	free(f);
}

/*
 * dlib add_prev shortcut: s = avgpool2x2/2(x) with channels c..c2-1 zero.
 * The pool sums in double and divides by 4, as tfjs-cpu does.
 */
static void
shortcut(const float *x, int n, int h, int c, int c2, float *s)
{
	int hs = h / 2;
	for (int b = 0; b < n; b++)
		for (int y = 0; y < hs; y++)
			for (int xx = 0; xx < hs; xx++) {
				const float *p = x + (((size_t)b * h + 2 * y) * h +
				    2 * xx) * c;
				const float *q = p + (size_t)h * c;
				float *o = s + (((size_t)b * hs + y) * hs + xx) * c2;
				for (int j = 0; j < c; j++)
					o[j] = (float)(((double)p[j] + p[c + j] +
					    q[j] + q[c + j]) / 4.0);
				memset(o + c, 0, (size_t)(c2 - c) * sizeof(float));
			}
}

/* s = relu(s + b zero-extended at the bottom/right), b is hb x hb. */
static void
add_extended(float *s, int n, int hs, const float *bb, int hb, int c)
{
	for (int b = 0; b < n; b++)
		for (int y = 0; y < hs; y++)
			for (int x = 0; x < hs; x++) {
				float *o = s + (((size_t)b * hs + y) * hs + x) * c;
				if (y < hb && x < hb) {
					const float *q = bb + (((size_t)b * hb + y) *
					    hb + x) * c;
					for (int j = 0; j < c; j++)
						o[j] += q[j];
				}
				for (int j = 0; j < c; j++)
					o[j] = o[j] > 0.0f ? o[j] : 0.0f;
			}
}

/* The net on images [i0, i0+n) of the arena's input buffer. */
static void
forward_part(struct ir_facenet *f, int i0, int n, float *ws, float *desc)
{
	const struct fweights *w = f->w;
	float *in = f->in + (size_t)i0 * IN_FLOATS;
	float *a = f->a + (size_t)i0 * A_FLOATS;
	float *x = f->x + (size_t)i0 * X_FLOATS;
	float *s = f->s + (size_t)i0 * X_FLOATS;
	float *g = f->g + (size_t)i0 * 256;

	ir_conv_forward(&w->conv1, in, n, S0, S0, a, NULL, ws);
	ir_maxpool(a, n, 72, 72, 32, 3, 2, IR_PAD_VALID, x);
	int h = 35, c = 32;
	for (int i = 0; i < NBLOCK; i++) {
		const struct ir_conv *c1 = conv_for(w, i, 0, n);
		const struct ir_conv *c2 = conv_for(w, i, 1, n);
		if (!blocks[i].down) {
			ir_conv_forward(c1, x, n, h, h, a, NULL, ws);
			ir_conv_forward(c2, a, n, h, h, x, x, ws);
			continue;
		}
		int h1 = ir_cnn_outsize(h, 3, 2, IR_PAD_VALID), hs = h / 2;
		int co = blocks[i].cout;
		ir_conv_forward(c1, x, n, h, h, a, NULL, ws);
		shortcut(x, n, h, c, co, s);
		if (h1 == hs) {
			ir_conv_forward(c2, a, n, h1, h1, s, s, ws);
		} else {
			/* conv branch smaller: zero-extend it (x is free) */
			struct ir_conv lin = h1 == 1 ? w->center : *c2;
			lin.act = IR_ACT_NONE;
			ir_conv_forward(&lin, a, n, h1, h1, x, NULL, ws);
			add_extended(s, n, hs, x, h1, co);
		}
		float *t = x;
		x = s, s = t;
		h = hs, c = co;
	}
	ir_global_mean(x, n, h, h, c, g);
	ir_conv_forward(&w->fc, g, n, 1, 1, desc, NULL, ws);
}

static void
prep(struct ir_facenet *f, const struct ir_facecrop *crops, int i0, int n)
{
	for (int i = 0; i < n; i++) {
		float *in = f->in + (size_t)(i0 + i) * IN_FLOATS;
		ir_resize_batch_tensor_norm(crops[i].img, crops[i].rect, 1,
		    S0, 1, &norm, in);
	}
}

static void *
run_part(void *arg)
{
	struct part *p = arg;
	if (p->crops)
		prep(p->f, p->crops, p->i0, p->n);
	forward_part(p->f, p->i0, p->n, p->ws, p->desc);
	return NULL;
}

/* n <= max_batch faces; crops NULL means f->in is already filled. */
static void
run(struct ir_facenet *f, const struct ir_facecrop *crops, int n, float *desc)
{
	int T = f->threads < n ? f->threads : n;
	if (T <= 1) {
		int old = ir_cnn_set_threads(f->threads);
		struct part p = { f, crops, NULL, 0, n, f->ws[0], desc };
		run_part(&p);
		ir_cnn_set_threads(old);
		return;
	}
	struct part parts[MAXTHREADS];
	pthread_t tid[MAXTHREADS];
	int started[MAXTHREADS] = { 0 };
	int old = ir_cnn_set_threads(1);
	for (int t = 0, i0 = 0; t < T; t++) {
		int k = n / T + (t < n % T);
		parts[t] = (struct part){ f, crops ? crops + i0 : NULL, NULL,
			i0, k, f->ws[t], desc + (size_t)i0 * IR_FACENET_DIM };
		i0 += k;
	}
	for (int t = 1; t < T; t++)
		started[t] = pthread_create(&tid[t], NULL, run_part,
		    &parts[t]) == 0;
	run_part(&parts[0]);
	for (int t = 1; t < T; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			run_part(&parts[t]); /* no thread: do it here */
	}
	ir_cnn_set_threads(old);
}

int
ir_facenet_describe(struct ir_facenet *f, const struct ir_facecrop *crops,
    int n, float *desc, char *err)
{
	if (n < 0)
		return ir_err(err, IR_EINVAL, "describe: %d faces", n);
	for (int i = 0; i < n; i++)
		if (!crops[i].img || !crops[i].img->rgb)
			return ir_err(err, IR_EINVAL, "describe: face %d has "
			    "no image", i);
	for (int i0 = 0; i0 < n; i0 += f->max_batch) {
		int k = n - i0 < f->max_batch ? n - i0 : f->max_batch;
		run(f, crops + i0, k, desc + (size_t)i0 * IR_FACENET_DIM);
		/* face-api: an empty crop has an all-zero descriptor */
		for (int i = 0; i < k; i++) {
			const struct ir_facecrop *c = &crops[i0 + i];
			int x = c->rect[0], y = c->rect[1];
			int x1 = x + c->rect[2], y1 = y + c->rect[3];
			x = x < 0 ? 0 : x, y = y < 0 ? 0 : y;
			x1 = x1 > c->img->w ? c->img->w : x1;
			y1 = y1 > c->img->h ? c->img->h : y1;
			if (x1 <= x || y1 <= y)
				memset(desc + (size_t)(i0 + i) * IR_FACENET_DIM,
				    0, IR_FACENET_DIM * sizeof(float));
		}
	}
	return IR_OK;
}

int
ir_facenet_forward(struct ir_facenet *f, const float *in, int n, float *desc,
    char *err)
{
	if (n < 1 || n > f->max_batch)
		return ir_err(err, IR_EINVAL, "forward: batch %d not in 1..%d",
		    n, f->max_batch);
	if (in != f->in)
		memcpy(f->in, in, (size_t)n * IN_FLOATS * sizeof(float));
	run(f, NULL, n, desc);
	return IR_OK;
}
