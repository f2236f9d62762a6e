/*
 * cnn.c: the layer kernels of cnn.h: 1x1 and generic im2col convolutions
 * on cblas_sgemm; our own panel-packed GEMM (implicit GEMM straight from
 * the input, or on im2col chunks) with fused epilogues; Winograd F(2x2),
 * F(4x4) and F(6x6,3x3) around that GEMM; depthwise convolution, pooling,
 * and the run-time choice of the CPU variant (avx512 / avx2 / generic) of
 * our own kernels, whose bodies are in cnn_kern.h.
 *
 * Invariants: forward functions never allocate and only write their out
 * and ws arguments; the only global state is the variant table pointer
 * (set once, or by ir_cnn_set_cpu) and relaxed statistics counters.
 * Layouts are NHWC activations and HWIO weights, as cnn.h describes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "cnn.h"
#include "util.h"

/* ---- the per-variant kernels ------------------------------------------ */

/* Width of the packed weight panels of our GEMM (>= 2 * widest VW). */
#define IR_PANEL 32

/* Columns of the panels of c (cout rounded up to IR_PANEL). */
static size_t
panel_cols(const struct ir_conv *c)
{
	return ((size_t)c->cout + IR_PANEL - 1) / IR_PANEL * IR_PANEL;
}

/* c->wq8's layout (pack_q8): per column S, then M (panel_cols floats
 * each), then the codes in panels. */
static inline const float *
q8_S(const struct ir_conv *c)
{
	return c->wq8;
}

static inline const float *
q8_M(const struct ir_conv *c)
{
	return c->wq8 + panel_cols(c);
}

static inline const unsigned char *
q8_codes(const struct ir_conv *c)
{
	return (const unsigned char *)(c->wq8 + 2 * panel_cols(c));
}

/* 1 if a pass of c over np output pixels (per image when padded) reads
 * the 8-bit codes: the one rule for the kernels and the statistics. */
static inline int
q8_pass(const struct ir_conv *c, size_t np)
{
	return c->wq8 && np <= IR_CONV_FEW;
}

/* Each variant: cnn_kern.h compiled for its ISA (see cnn_variants.h). */
#define IR_KERN "cnn_kern.h"
#include "cnn_variants.h"

struct variant {
	const char *name;
	void (*epilogue)(float *, size_t, int, const float *, const float *,
	    const float *, int);
	void (*dwconv)(const struct ir_dwconv *, const float *, int, int, int,
	    int, int, float *);
	void (*gemm)(int, int, int, const float *, int, const float *,
	    float *, int, const float *, const float *, const float *, int,
	    int);
	void (*conv_direct)(const struct ir_conv *, const float *, int, int,
	    int, int, size_t, size_t, float *, const float *);
	void (*wino_in)(int, const float *, int, int, int, int, int, int, int,
	    float *);
	void (*wino_out)(int, const float *, int, int, int, int, int, int, int,
	    const float *, const float *, const float *, int, float *);
	void (*maxpool)(const float *, int, int, int, int, int, int, int,
	    float *);
	void (*conv_pool2)(const struct ir_conv *, const float *, int, int,
	    float *);
};

#define VARIANT(s) { #s, epilogue_##s, dwconv_##s, gemm_##s, \
	conv_direct_##s, wino_in_##s, wino_out_##s, maxpool_##s, \
	conv_pool2_##s }
static const struct variant variants[] = {
	VARIANT(avx512), VARIANT(avx2), VARIANT(generic),
};
#define NVARIANT (int)(sizeof(variants) / sizeof(variants[0]))

/* The portable loops below (pools, means) vectorise at O3. */
#ifndef __clang__
#pragma GCC optimize("O3")
#endif

static const struct variant *cur;
static int blas_threads = 1;
static unsigned long st_conv[IR_CONV_NALGO], st_dw, st_q8;

int
ir_cnn_cpu_has(const char *name)
{
	__builtin_cpu_init();
	if (strcmp(name, "generic") == 0)
		return 1;
	if (strcmp(name, "avx2") == 0)
		return __builtin_cpu_supports("avx2") &&
		    __builtin_cpu_supports("fma");
	if (strcmp(name, "avx512") == 0)
		return __builtin_cpu_supports("avx512f") &&
		    __builtin_cpu_supports("avx512vl") &&
		    __builtin_cpu_supports("avx512dq") &&
		    __builtin_cpu_supports("avx512bw") &&
		    __builtin_cpu_supports("fma");
	return 0;
}

static const struct variant *
variant(void)
{
	const struct variant *v = __atomic_load_n(&cur, __ATOMIC_ACQUIRE);
	if (v)
		return v;
	const char *want = getenv("IR_CPU");
	v = NULL;
	for (int i = 0; i < NVARIANT && want && *want; i++)
		if (strcmp(variants[i].name, want) == 0 &&
		    ir_cnn_cpu_has(want))
			v = &variants[i];
	for (int i = 0; i < NVARIANT && !v; i++)
		if (ir_cnn_cpu_has(variants[i].name))
			v = &variants[i];
	__atomic_store_n(&cur, v, __ATOMIC_RELEASE);
	return v;
}

const char *
ir_cnn_cpu(void)
{
	return variant()->name;
}

int
ir_cnn_set_cpu(const char *name, char *err)
{
	for (int i = 0; i < NVARIANT; i++) {
		if (strcmp(variants[i].name, name) != 0)
			continue;
		if (!ir_cnn_cpu_has(name))
			return ir_err(err, IR_EINVAL,
			    "cpu variant %s: not supported by this CPU", name);
		__atomic_store_n(&cur, &variants[i], __ATOMIC_RELEASE);
		return IR_OK;
	}
	return ir_err(err, IR_EINVAL,
	    "cpu variant %s: unknown (avx512, avx2 or generic)", name);
}

int
ir_cnn_set_threads(int n)
{
	static int told;
	int old = blas_threads;
	if (n < 1)
		n = 1;
	blas_threads = n;
	/* the first call always reaches OpenBLAS (its own default is the
	 * core count), later ones only on a change */
	if (!told || n != old)
		openblas_set_num_threads(n);
	told = 1;
	return old;
}

int
ir_cnn_threads(void)
{
	return blas_threads;
}

static void
count(unsigned long *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void
ir_cnn_stats(struct ir_cnn_stats *s)
{
	for (int i = 0; i < IR_CONV_NALGO; i++)
		s->conv[i] = __atomic_load_n(&st_conv[i], __ATOMIC_RELAXED);
	s->dw = __atomic_load_n(&st_dw, __ATOMIC_RELAXED);
	s->q8 = __atomic_load_n(&st_q8, __ATOMIC_RELAXED);
}

void
ir_cnn_describe(char *buf, size_t len)
{
	struct ir_cnn_stats s;
	ir_cnn_stats(&s);
	snprintf(buf, len, "kernels=%s blas=%s blas_threads=%d "
	    "conv_im2col_blas=%lu conv_im2col_own=%lu conv_gemm1x1_blas=%lu "
	    "conv_winograd=%lu conv_q8=%lu dwconv=%lu",
	    ir_cnn_cpu(), openblas_get_corename(), blas_threads,
	    s.conv[IR_CONV_IM2COL], s.conv[IR_CONV_IM2COL_OWN],
	    s.conv[IR_CONV_GEMM1X1], s.conv[IR_CONV_WINO], s.q8, s.dw);
}

/* ---- shapes ------------------------------------------------------------ */

int
ir_cnn_outsize(int in, int k, int stride, int pad)
{
	if (pad == IR_PAD_SAME)
		return (in + stride - 1) / stride;
	if (in < k)
		return 0;
	return (in - k + stride) / stride;
}

int
ir_cnn_padbefore(int in, int k, int stride, int pad)
{
	if (pad != IR_PAD_SAME)
		return 0;
	int out = (in + stride - 1) / stride;
	int total = (out - 1) * stride + k - in;
	return total > 0 ? total / 2 : 0;
}

void
ir_conv_outsize(const struct ir_conv *c, int h, int w, int *oh, int *ow)
{
	*oh = ir_cnn_outsize(h, c->kh, c->stride, c->pad);
	*ow = ir_cnn_outsize(w, c->kw, c->stride, c->pad);
}

/* ---- convolution ------------------------------------------------------- */

/* Largest im2col chunk, in floats (rows * K); bounds the workspace. */
#define IM2COL_MAX (1u << 20)

/* Chunk for our own GEMM: about 256 KB of A, a multiple of 6 rows. */
#define OWN_MAX (1u << 16)

static int
im2col_rows(const struct ir_conv *c, size_t M)
{
	size_t K = (size_t)c->kh * c->kw * c->cin;
	size_t r;
	if (c->algo == IR_CONV_IM2COL_OWN) {
		r = OWN_MAX / K;
		r = r < 24 ? 24 : r - r % 6;
	} else {
		r = IM2COL_MAX / K;
		r = r < 16 ? 16 : r;
	}
	return (int)(r < M ? r : M);
}

/*
 * Bytes of the V and M blocks of one Winograd pass: half this core's L2
 * (sysconf; 512 KB when it does not say), 256 KB to 2 MB, or $IR_WINO_KB.
 * Each block streams every transformed weight once, so the larger the
 * block the fewer times the weights come from L3 or memory, as long as
 * the blocks stay in L2. The fixed 512 KB before was chosen on an AMD
 * EPYC Zen 4 (1 MB L2: half of it); on an Intel Xeon Emerald Rapids (2
 * MB L2) 1 MB made descriptor batch 8 / 2 threads 8% faster, 2 MB and
 * 1.5 MB less so, and one face in the pipeline the same.
 */
static size_t
wino_budget(void)
{
	static size_t budget; /* set once; threads may race to the same value */
	size_t v = __atomic_load_n(&budget, __ATOMIC_RELAXED);
	if (v)
		return v;
	const char *e = getenv("IR_WINO_KB");
	long l2 = 0;
#if defined(_SC_LEVEL2_CACHE_SIZE)
	l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
	v = l2 > 0 ? (size_t)l2 / 2 : (size_t)512 << 10;
	v = v < ((size_t)256 << 10) ? (size_t)256 << 10 : v;
	v = v > ((size_t)2 << 20) ? (size_t)2 << 20 : v;
	if (e && atoi(e) > 0)
		v = (size_t)atoi(e) << 10;
	__atomic_store_n(&budget, v, __ATOMIC_RELAXED);
	return v;
}

/*
 * Winograd tiles per block: V and M blocks within wino_budget(), a
 * multiple of the GEMM's 6 rows, and the blocks of ntiles about equal
 * where that rounding allows (25 tiles in blocks of 24 left one tile to
 * stream every weight alone; with the budget above, batch 8 / 2 threads
 * 6% faster, 1.23 -> 1.16 ms/face).
 */
static int
wino_block(const struct ir_conv *c, int ntiles)
{
	int a = c->wm + 2;
	size_t per = (size_t)a * a * (c->cin + c->cout) * sizeof(float);
	size_t tb = wino_budget() / per, nt = ntiles > 0 ? (size_t)ntiles : 1;
	if (tb < 6)
		tb = 6;
	tb -= tb % 6;
	if (tb >= nt)
		return (int)nt;
	size_t nb = (nt + tb - 1) / tb;   /* blocks, then tiles per block */
	tb = (nt + nb - 1) / nb;
	return (int)((tb + 5) / 6 * 6);
}

/* U[e][ci][co] = (G g G^T)[e] for each ci, co (double, then float). */
static void
wino_weights(int m, const float *w, int cin, int cout, float *U)
{
	static const double G4[6][3] = {
		{ 1.0 / 4, 0, 0 },
		{ -1.0 / 6, -1.0 / 6, -1.0 / 6 },
		{ -1.0 / 6, 1.0 / 6, -1.0 / 6 },
		{ 1.0 / 24, 1.0 / 12, 1.0 / 6 },
		{ 1.0 / 24, -1.0 / 12, 1.0 / 6 },
		{ 0, 0, 1 },
	};
	static const double G6[8][3] = {
		{ 1, 0, 0 },
		{ -2.0 / 9, -2.0 / 9, -2.0 / 9 },
		{ -2.0 / 9, 2.0 / 9, -2.0 / 9 },
		{ 1.0 / 90, 1.0 / 45, 2.0 / 45 },
		{ 1.0 / 90, -1.0 / 45, 2.0 / 45 },
		{ 1.0 / 45, 1.0 / 90, 1.0 / 180 },
		{ 1.0 / 45, -1.0 / 90, 1.0 / 180 },
		{ 0, 0, 1 },
	};
	static const double G2[4][3] = {
		{ 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 },
	};
	int a = m + 2;
	const double *G = m == 6 ? &G6[0][0] : m == 4 ? &G4[0][0] :
	    &G2[0][0];
	/* t[i][kx][co] = (G g)[i][kx] for one ci, all co: loops over co
	 * innermost (contiguous in w and U, so they vectorise), each value
	 * the same sums in the same order as one (ci, co) at a time */
	double *t = ir_xmalloc((size_t)a * 3 * cout * sizeof(double));

	for (int ci = 0; ci < cin; ci++) {
		const float *g[3][3];
		for (int ky = 0; ky < 3; ky++)
			for (int kx = 0; kx < 3; kx++)
				g[ky][kx] = w + ((size_t)(ky * 3 + kx) * cin + ci) *
				    cout;
		for (int i = 0; i < a; i++)
			for (int kx = 0; kx < 3; kx++) {
				double *ti = t + ((size_t)i * 3 + kx) * cout;
				double g0 = G[i * 3], g1 = G[i * 3 + 1];
				double g2 = G[i * 3 + 2];
				for (int co = 0; co < cout; co++)
					ti[co] = g0 * g[0][kx][co] +
					    g1 * g[1][kx][co] +
					    g2 * g[2][kx][co];
			}
		for (int i = 0; i < a; i++)
			for (int j = 0; j < a; j++) {
				const double *t0 = t + (size_t)i * 3 * cout;
				const double *t1 = t0 + cout, *t2 = t1 + cout;
				double h0 = G[j * 3], h1 = G[j * 3 + 1];
				double h2 = G[j * 3 + 2];
				float *u = U + ((size_t)(i * a + j) * cin + ci) *
				    cout;
				for (int co = 0; co < cout; co++)
					u[co] = (float)(t0[co] * h0 + t1[co] * h1 +
					    t2[co] * h2);
			}
	}
	free(t);
}

/* B[K][N] (row-major) -> ceil(N / IR_PANEL) panels of IR_PANEL columns,
 * each K x IR_PANEL, the last one's columns from N on zero. */
static void
pack_panels(const float *B, int K, int N, float *P)
{
	for (int p = 0; p < (N + IR_PANEL - 1) / IR_PANEL; p++) {
		int n = N - p * IR_PANEL < IR_PANEL ? N - p * IR_PANEL :
		    IR_PANEL;
		for (int k = 0; k < K; k++) {
			float *d = P + ((size_t)p * K + k) * IR_PANEL;
			memcpy(d, B + (size_t)k * N + (size_t)p * IR_PANEL,
			    (size_t)n * sizeof(float));
			memset(d + n, 0, (size_t)(IR_PANEL - n) * sizeof(float));
		}
	}
}

/* Floats of c->wt for c->algo: a*a Winograd-transformed matrices, or the
 * K x cout weights in panels (the last one padded to IR_PANEL columns). */
static size_t
wt_floats(const struct ir_conv *c)
{
	if (c->algo == IR_CONV_WINO)
		return (size_t)(c->wm + 2) * (c->wm + 2) * c->cin * c->cout;
	size_t np = ((size_t)c->cout + IR_PANEL - 1) / IR_PANEL;
	return (size_t)c->kh * c->kw * c->cin * np * IR_PANEL;
}

/* Bytes of c->wq8: per column S and M (floats), then the K x panel_cols
 * codes in panels laid out as pack_panels lays out floats. */
static size_t
wq8_bytes(const struct ir_conv *c)
{
	size_t n = panel_cols(c);
	return 2 * n * sizeof(float) + (size_t)c->kh * c->kw * c->cin * n;
}

/* Column co's factors of 8-bit codes: S = qscale * col, M = qmin * col,
 * each rounded once from double (ir_cnn_q8_floats). */
static void
q8_factors(double qscale, double qmin, const float *col, int co, float *S,
    float *M)
{
	double f = col ? col[co] : 1.0;
	*S = (float)(qscale * f);
	*M = (float)(qmin * f);
}

void
ir_cnn_q8_floats(const unsigned char *q, int K, int cout, double qscale,
    double qmin, const float *col, float *w)
{
	for (int co = 0; co < cout; co++) {
		float S, M;
		q8_factors(qscale, qmin, col, co, &S, &M);
		for (int k = 0; k < K; k++) {
			size_t i = (size_t)k * cout + co;
			/* two roundings, as expand_q8 (cnn_kern.h) */
			float t = (float)q[i] * S;
			w[i] = t + M;
		}
	}
}

/*
 * c->wq8 from c->wq: per column S and M (q8_factors), the padding columns
 * of the last panel with S = M = 0 (zero weights, as in wt), then the
 * codes in panels.
 */
static void
pack_q8(struct ir_conv *c)
{
	size_t n = panel_cols(c), K = (size_t)c->kh * c->kw * c->cin;
	float *S = c->wq8, *M = (float *)q8_M(c);
	unsigned char *q = (unsigned char *)q8_codes(c);

	for (size_t co = 0; co < n; co++) {
		S[co] = M[co] = 0.0f;
		if (co < (size_t)c->cout)
			q8_factors(c->wq_scale, c->wq_min, c->wq_col, (int)co,
			    &S[co], &M[co]);
	}
	for (size_t p = 0; p < n / IR_PANEL; p++) {
		size_t cols = (size_t)c->cout - p * IR_PANEL < IR_PANEL ?
		    (size_t)c->cout - p * IR_PANEL : IR_PANEL;
		for (size_t k = 0; k < K; k++) {
			unsigned char *d = q + (p * K + k) * IR_PANEL;
			memcpy(d, c->wq + k * c->cout + p * IR_PANEL, cols);
			memset(d + cols, 0, IR_PANEL - cols);
		}
	}
}

/* 0 if the environment says IR_OWN_GEMM=0 (BLAS instead of our GEMM). */
static int
own_gemm(void)
{
	const char *env = getenv("IR_OWN_GEMM");
	return !(env && strcmp(env, "0") == 0);
}

/* 0 if the environment says IR_CONV_Q8=0 (8-bit codes never read). */
static int
q8_ok(void)
{
	const char *env = getenv("IR_CONV_Q8");
	return !(env && strcmp(env, "0") == 0);
}

/* A 1x1 stride-1 conv: the input is the A matrix as it is. */
static int
is_1x1(const struct ir_conv *c)
{
	return c->kh == 1 && c->kw == 1 && c->stride == 1;
}

/* MACs from which a 1x1 conv on our GEMM goes to BLAS when BLAS has
 * several threads (one image's layer split across cores). */
#define OWN_1X1_MT_MACS ((size_t)8 << 20)

int
ir_conv_prepare(struct ir_conv *c, char *err)
{
	if (c->kh < 1 || c->kw < 1 || c->cin < 1 || c->cout < 1 ||
	    c->stride < 1 || !c->w ||
	    (c->pad != IR_PAD_SAME && c->pad != IR_PAD_VALID) ||
	    c->act < IR_ACT_NONE || c->act > IR_ACT_LEAKY)
		return ir_err(err, IR_EINVAL,
		    "conv %dx%d %d->%d stride %d: invalid layer", c->kh,
		    c->kw, c->cin, c->cout, c->stride);
	ir_conv_release(c);
	const char *env = getenv("IR_WINOGRAD");
	int wok = !(env && strcmp(env, "0") == 0);
	if (wok && c->wino >= 0 && c->kh == 3 && c->kw == 3 &&
	    c->stride == 1 && c->pad == IR_PAD_SAME && c->cin % 16 == 0 &&
	    c->cout % 32 == 0) {
		c->wm = c->wino == 2 ? 2 : c->wino == 6 ? 6 : 4;
		c->algo = IR_CONV_WINO;
		int a = c->wm + 2;
		size_t es = (size_t)c->cin * c->cout;
		float *u = ir_xaligned(wt_floats(c) * sizeof(float));
		c->wt = ir_xaligned(wt_floats(c) * sizeof(float));
		wino_weights(c->wm, c->w, c->cin, c->cout, u);
		for (int e = 0; e < a * a; e++)
			pack_panels(u + e * es, c->cin, c->cout,
			    c->wt + e * es);
		free(u);
	} else if (is_1x1(c) && !own_gemm()) {
		c->algo = IR_CONV_GEMM1X1;
	} else if (own_gemm()) {
		/* 1x1 stride 1 too: measured 1.05-1.3x faster than
		 * OpenBLAS on one thread (most on few input channels),
		 * and no separate epilogue pass; with BLAS threads > 1
		 * large ones still go to BLAS (ir_conv_forward). cout
		 * not a multiple of 32 too (the tiny detector's last
		 * conv, SSD's predictors): the last panel padded with
		 * zero columns; whatever kernels OpenBLAS picked (SSE3
		 * "Prescott" ones where it does not know the CPU) */
		c->algo = IR_CONV_IM2COL_OWN;
		c->wt = ir_xaligned(wt_floats(c) * sizeof(float));
		pack_panels(c->w, c->kh * c->kw * c->cin, c->cout, c->wt);
		if (c->wq && c->cout % IR_PANEL == 0 && q8_ok()) {
			c->wq8 = ir_xaligned(wq8_bytes(c));
			pack_q8(c);
		}
	} else {
		c->algo = IR_CONV_IM2COL;
	}
	return IR_OK;
}

#if defined(__x86_64__)
/* 1 if the CPU has clflushopt (CPUID.7.0:EBX bit 23), asked once. Not
 * __builtin_cpu_supports("clflushopt"): clang 14, which builds the fuzz
 * targets, does not know that name. */
static int
has_clflushopt(void)
{
	static int known, has;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		unsigned a, b = 0, c, d;
		has = __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
		    (b >> 23 & 1);
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	return has;
}

__attribute__((target("clflushopt"))) static void
flush_lines(const char *p, size_t n)
{
	for (const char *end = p + n; p < end; p += 64)
		_mm_clflushopt((void *)p);
	_mm_sfence();
}
#endif

void
ir_conv_evict(const struct ir_conv *c)
{
#if defined(__x86_64__)
	/* clflush, which older CPUs have instead, is serialising: ~2 ms
	 * per MB here, too slow for a load-time measurement */
	if (c->wt && has_clflushopt())
		flush_lines((const char *)c->wt, wt_floats(c) * sizeof(float));
	if (c->wq8 && has_clflushopt())
		flush_lines((const char *)c->wq8, wq8_bytes(c));
#else
	(void)c;
#endif
}

void
ir_conv_release(struct ir_conv *c)
{
	free(c->wt);
	free(c->wq8);
	c->wt = NULL;
	c->wq8 = NULL;
	c->algo = IR_CONV_IM2COL;
	c->wm = 0;
}

static int
effective_algo(const struct ir_conv *c)
{
	if (c->algo == IR_CONV_WINO && c->wt)
		return IR_CONV_WINO;
	if (c->algo == IR_CONV_IM2COL_OWN && c->wt)
		return IR_CONV_IM2COL_OWN;
	if (is_1x1(c))
		return IR_CONV_GEMM1X1;
	return IR_CONV_IM2COL;
}

/* 1 if every window of c on an h x w input lies inside it (no padding
 * cells): then our GEMM reads the input directly, without im2col. */
static int
inside(const struct ir_conv *c, int h, int w)
{
	int oh, ow;
	ir_conv_outsize(c, h, w, &oh, &ow);
	return ir_cnn_padbefore(h, c->kh, c->stride, c->pad) == 0 &&
	    ir_cnn_padbefore(w, c->kw, c->stride, c->pad) == 0 &&
	    (oh - 1) * c->stride + c->kh <= h &&
	    (ow - 1) * c->stride + c->kw <= w;
}

/*
 * A padded input's extent: the rows and columns the windows of c on an
 * h x w input cover, padding cells included; 0 if it would exceed PAD_MAX
 * floats per image (then im2col chunks instead).
 */
#define PAD_MAX (1u << 20)

static size_t
padded_extent(const struct ir_conv *c, int h, int w, int *hp, int *wp)
{
	int oh, ow;
	ir_conv_outsize(c, h, w, &oh, &ow);
	*hp = (oh - 1) * c->stride + c->kh;
	*wp = (ow - 1) * c->stride + c->kw;
	size_t sz = (size_t)*hp * *wp * c->cin;
	return sz <= PAD_MAX ? sz : 0;
}

/*
 * Image img of in (h x w) into p (hp x wp) with the padding of c as
 * zeros, so that a valid convolution of p is c's on the image.
 */
static void
pad_image(const struct ir_conv *c, const float *in, int img, int h, int w,
    int hp, int wp, float *p)
{
	int pt = ir_cnn_padbefore(h, c->kh, c->stride, c->pad);
	int pl = ir_cnn_padbefore(w, c->kw, c->stride, c->pad);
	int cin = c->cin;
	int x1 = pl + w < wp ? pl + w : wp; /* columns pl..x1-1 from in */
	size_t rowsz = (size_t)wp * cin;

	for (int y = 0; y < hp; y++) {
		float *d = p + (size_t)y * rowsz;
		int sy = y - pt;
		if (sy < 0 || sy >= h) {
			memset(d, 0, rowsz * sizeof *d);
			continue;
		}
		memset(d, 0, (size_t)pl * cin * sizeof *d);
		memcpy(d + (size_t)pl * cin, in + (((size_t)img * h + sy) * w) *
		    cin, (size_t)(x1 - pl) * cin * sizeof *d);
		memset(d + (size_t)x1 * cin, 0, (size_t)(wp - x1) * cin *
		    sizeof *d);
	}
}

size_t
ir_conv_workspace(const struct ir_conv *c, int n, int h, int w)
{
	int oh, ow;
	ir_conv_outsize(c, h, w, &oh, &ow);
	size_t M = (size_t)n * oh * ow;
	switch (effective_algo(c)) {
	case IR_CONV_WINO: {
		int th = (oh + c->wm - 1) / c->wm, tw = (ow + c->wm - 1) / c->wm;
		int tb = wino_block(c, n * th * tw);
		int a = c->wm + 2;
		return (size_t)a * a * tb * (c->cin + c->cout) + 16;
	}
	case IR_CONV_GEMM1X1:
		return 0;
	case IR_CONV_IM2COL_OWN: {
		int hp, wp;
		size_t pz;
		if (inside(c, h, w))
			return 0;
		if ((pz = padded_extent(c, h, w, &hp, &wp)) > 0)
			return pz + 16;
	}
		/* FALLTHROUGH */
	default:
		if (M == 0)
			return 0;
		return (size_t)im2col_rows(c, M) * c->kh * c->kw * c->cin;
	}
}

/* Rows r0..r0+nr-1 of the im2col matrix (columns ky, kx, ci). */
static void
im2col(const struct ir_conv *c, const float *in, int h, int w, int oh,
    int ow, size_t r0, int nr, float *A)
{
	int cin = c->cin, kh = c->kh, kw = c->kw, s = c->stride;
	int pt = ir_cnn_padbefore(h, kh, s, c->pad);
	int pl = ir_cnn_padbefore(w, kw, s, c->pad);
	size_t K = (size_t)kh * kw * cin;

	for (int r = 0; r < nr; r++) {
		size_t row = r0 + r;
		int img = (int)(row / ((size_t)oh * ow));
		int rem = (int)(row % ((size_t)oh * ow));
		int iy0 = (rem / ow) * s - pt, ix0 = (rem % ow) * s - pl;
		const float *base = in + (size_t)img * h * w * cin;
		float *a = A + (size_t)r * K;
		for (int ky = 0; ky < kh; ky++) {
			int iy = iy0 + ky;
			float *dst = a + (size_t)ky * kw * cin;
			if (iy < 0 || iy >= h) {
				memset(dst, 0, (size_t)kw * cin * sizeof(float));
				continue;
			}
			const float *src = base + (size_t)iy * w * cin;
			if (ix0 >= 0 && ix0 + kw <= w) {
				memcpy(dst, src + (size_t)ix0 * cin,
				    (size_t)kw * cin * sizeof(float));
				continue;
			}
			for (int kx = 0; kx < kw; kx++) {
				int ix = ix0 + kx;
				if (ix < 0 || ix >= w)
					memset(dst + kx * cin, 0,
					    cin * sizeof(float));
				else
					memcpy(dst + kx * cin,
					    src + (size_t)ix * cin,
					    cin * sizeof(float));
			}
		}
	}
}

static void
conv_wino(const struct ir_conv *c, const float *in, int n, int h, int w,
    float *out, const float *res, float *ws)
{
	const struct variant *v = variant();
	int m = c->wm, a = m + 2, ne = a * a;
	int th = (h + m - 1) / m, tw = (w + m - 1) / m;
	int T = n * th * tw;
	int tb = wino_block(c, T);
	/* 64-byte align the two blocks */
	float *V = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
	float *Mt = V + (size_t)ne * tb * c->cin;

	for (int t0 = 0; t0 < T; t0 += tb) {
		int nt = T - t0 < tb ? T - t0 : tb;
		v->wino_in(m, in, h, w, c->cin, th, tw, t0, nt, V);
		for (int e = 0; e < ne; e++)
			v->gemm(nt, c->cout, c->cin, V + (size_t)e * c->cin,
			    ne * c->cin, c->wt + (size_t)e * c->cin * c->cout,
			    Mt + (size_t)e * c->cout, ne * c->cout,
			    NULL, NULL, NULL, 0, IR_ACT_NONE);
		v->wino_out(m, Mt, h, w, c->cout, th, tw, t0, nt, c->scale,
		    c->bias, res, c->act, out);
	}
}

void
ir_conv_forward(const struct ir_conv *c, const float *in, int n, int h,
    int w, float *out, const float *res, float *ws)
{
	const struct variant *v = variant();
	int oh, ow;
	ir_conv_outsize(c, h, w, &oh, &ow);
	size_t M = (size_t)n * oh * ow;
	int algo = effective_algo(c);
	if (M == 0)
		return;
	if (algo == IR_CONV_IM2COL_OWN && is_1x1(c) && blas_threads > 1 &&
	    !(res == out && res && c->scale) &&
	    M * c->cin * c->cout >= OWN_1X1_MT_MACS)
		algo = IR_CONV_GEMM1X1;
	count(&st_conv[algo]);

	if (algo == IR_CONV_WINO) {
		conv_wino(c, in, n, h, w, out, res, ws);
		return;
	}
	/* BLAS paths: an in-place residual (res == out, no scale) is added
	 * by the GEMM itself with beta = 1 */
	float beta = 0.0f;
	if (res == out && res && !c->scale && algo != IR_CONV_IM2COL_OWN) {
		beta = 1.0f;
		res = NULL;
	}
	if (algo == IR_CONV_GEMM1X1) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M,
		    c->cout, c->cin, 1.0f, in, c->cin, c->w, c->cout, beta,
		    out, c->cout);
		if (c->scale || c->bias || res || c->act)
			v->epilogue(out, M, c->cout, c->scale, c->bias, res,
			    c->act);
		return;
	}
	if (algo == IR_CONV_IM2COL_OWN && inside(c, h, w)) {
		if (q8_pass(c, M))
			count(&st_q8);
		v->conv_direct(c, in, h, w, oh, ow, 0, M, out, res);
		return;
	}
	/* Padding: a zero-padded copy of each image, then the same direct
	 * convolution (no im2col matrix: a K-fold smaller copy). */
	int hp, wp;
	if (algo == IR_CONV_IM2COL_OWN && padded_extent(c, h, w, &hp, &wp)) {
		float *p = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
		size_t per = (size_t)oh * ow * c->cout;
		if (q8_pass(c, (size_t)oh * ow))
			count(&st_q8);
		for (int i = 0; i < n; i++) {
			pad_image(c, in, i, h, w, hp, wp, p);
			v->conv_direct(c, p, hp, wp, oh, ow, 0, (size_t)oh * ow,
			    out + i * per, res ? res + i * per : NULL);
		}
		return;
	}
	int K = c->kh * c->kw * c->cin;
	int rows = im2col_rows(c, M);
	for (size_t r0 = 0; r0 < M; r0 += rows) {
		int nr = M - r0 < (size_t)rows ? (int)(M - r0) : rows;
		im2col(c, in, h, w, oh, ow, r0, nr, ws);
		float *o = out + r0 * c->cout;
		if (algo == IR_CONV_IM2COL_OWN) {
			v->gemm(nr, c->cout, K, ws, K, c->wt, o,
			    c->cout, c->scale, c->bias,
			    res ? res + r0 * c->cout : NULL, c->cout, c->act);
			continue;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    nr, c->cout, K, 1.0f, ws, K, c->w, c->cout, beta,
		    o, c->cout);
		if (c->scale || c->bias || res || c->act)
			v->epilogue(o, nr, c->cout, c->scale, c->bias,
			    res ? res + r0 * c->cout : NULL, c->act);
	}
}

void
ir_conv_pool2(const struct ir_conv *c, const float *in, int h, int w,
    float *tmp, float *out, float *ws)
{
	if (h <= 0 || w <= 0)
		return;
	if (effective_algo(c) == IR_CONV_IM2COL_OWN && is_1x1(c) &&
	    c->stride == 1 && c->cout % IR_PANEL == 0) {
		count(&st_conv[IR_CONV_IM2COL_OWN]);
		variant()->conv_pool2(c, in, h, w, out);
		return;
	}
	ir_conv_forward(c, in, 1, h, w, tmp, NULL, ws);
	ir_maxpool(tmp, 1, h, w, c->cout, 2, 2, IR_PAD_SAME, out);
}

/* ---- the other layers -------------------------------------------------- */

void
ir_dwconv_forward(const struct ir_dwconv *d, const float *in, int n, int h,
    int w, float *out)
{
	count(&st_dw);
	variant()->dwconv(d, in, n, h, w, 0,
	    ir_cnn_outsize(h, d->k, d->stride, d->pad), out);
}

void
ir_dwconv_rows(const struct ir_dwconv *d, const float *in, int n, int h,
    int w, int oy0, int oy1, float *out)
{
	int oh = ir_cnn_outsize(h, d->k, d->stride, d->pad);

	if (oy0 < 0)
		oy0 = 0;
	if (oy1 > oh)
		oy1 = oh;
	if (oy0 >= oy1)
		return;
	count(&st_dw);
	variant()->dwconv(d, in, n, h, w, oy0, oy1, out);
}

void
ir_sepconv_forward(const struct ir_dwconv *d, const struct ir_conv *pw,
    const float *in, int n, int h, int w, float *tmp, float *out, float *ws)
{
	int oh = ir_cnn_outsize(h, d->k, d->stride, d->pad);
	int ow = ir_cnn_outsize(w, d->k, d->stride, d->pad);
	ir_dwconv_forward(d, in, n, h, w, tmp);
	ir_conv_forward(pw, tmp, n, oh, ow, out, NULL, ws);
}

void
ir_maxpool(const float *in, int n, int h, int w, int c, int k, int stride,
    int pad, float *out)
{
	variant()->maxpool(in, n, h, w, c, k, stride, pad, out);
}

void
ir_avgpool(const float *in, int n, int h, int w, int c, int k, int stride,
    float *out)
{
	int oh = ir_cnn_outsize(h, k, stride, IR_PAD_VALID);
	int ow = ir_cnn_outsize(w, k, stride, IR_PAD_VALID);
	float inv = 1.0f / (float)(k * k);

	for (int b = 0; b < n; b++) {
		const float *img = in + (size_t)b * h * w * c;
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				float *restrict o = out +
				    (((size_t)b * oh + oy) * ow + ox) * c;
				for (int i = 0; i < c; i++)
					o[i] = 0.0f;
				for (int y = oy * stride; y < oy * stride + k; y++)
					for (int x = ox * stride;
					    x < ox * stride + k; x++) {
						const float *restrict p = img +
						    ((size_t)y * w + x) * c;
						for (int i = 0; i < c; i++)
							o[i] += p[i];
					}
				for (int i = 0; i < c; i++)
					o[i] *= inv;
			}
	}
}

void
ir_global_mean(const float *in, int n, int h, int w, int c, float *out)
{
	size_t np = (size_t)h * w;
	for (int b = 0; b < n; b++) {
		float *restrict o = out + (size_t)b * c;
		const float *img = in + (size_t)b * np * c;
		for (int i = 0; i < c; i++)
			o[i] = 0.0f;
		for (size_t p = 0; p < np; p++)
			for (int i = 0; i < c; i++)
				o[i] += img[p * c + i];
		for (int i = 0; i < c; i++)
			o[i] /= (float)np;
	}
}

void
ir_add(float *y, const float *a, const float *b, size_t count, int act)
{
	for (size_t i = 0; i < count; i++)
		y[i] = a[i] + b[i];
	/* as one long "pixel" so the activation loop vectorises */
	for (size_t i0 = 0; act && i0 < count; i0 += (size_t)1 << 20) {
		size_t k = count - i0 < ((size_t)1 << 20) ? count - i0 :
		    (size_t)1 << 20;
		variant()->epilogue(y + i0, 1, (int)k, NULL, NULL, NULL, act);
	}
}

void
ir_affine(float *x, size_t npix, int c, const float *scale,
    const float *bias, int act)
{
	variant()->epilogue(x, npix, c, scale, bias, NULL, act);
}

void
ir_cnn_fold_scale(float *w, float *b, int K, int cout, const float *s,
    const float *t)
{
	for (int k = 0; k < K; k++)
		for (int co = 0; co < cout; co++)
			w[(size_t)k * cout + co] *= s[co];
	for (int co = 0; co < cout; co++)
		b[co] = b[co] * s[co] + (t ? t[co] : 0.0f);
}

void
ir_cnn_bn_affine(const float *gamma, const float *beta, const float *mean,
    const float *var, float eps, int c, float *scale, float *bias)
{
	for (int i = 0; i < c; i++) {
		scale[i] = gamma[i] / sqrtf(var[i] + eps);
		bias[i] = beta[i] - mean[i] * scale[i];
	}
}
