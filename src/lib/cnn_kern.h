/*
 * cnn_kern.h: PRIVATE to cnn.c, not an interface. The bodies of the
 * kernels ir writes itself (epilogue, depthwise, Winograd transforms and
 * GEMM), included by cnn.c once per CPU variant with KV(name) giving the
 * variant's symbol suffix and VW its vector width in floats (4 generic
 * SSE2, 8 AVX2, 16 AVX-512); cnn.c wraps each inclusion in a target pragma.
 *
 * Invariants: no allocation, no globals written; every function works on
 * caller memory. Vector code uses GCC vector extensions (unaligned access
 * through the aligned(4) typedef) so the same text compiles to each ISA.
 * Winograd kernels require cin % 16 == 0 and cout % 32 == 0 (checked by
 * ir_conv_prepare), so channel loops need no remainders.
 */

typedef float KV(vf) __attribute__((vector_size(VW * 4), aligned(4)));
#define VF KV(vf)

static inline VF
KV(splat)(float x)
{
	VF v;
	for (int i = 0; i < VW; i++)
		v[i] = x;
	return v;
}

static inline float
KV(act1)(float x, int act)
{
	switch (act) {
	case IR_ACT_RELU:
		return x > 0.0f ? x : 0.0f;
	case IR_ACT_RELU6:
		x = x > 0.0f ? x : 0.0f;
		return x < 6.0f ? x : 6.0f;
	case IR_ACT_LEAKY: {
		float m = x * 0.1f, r = x - m;
		return (r > 0.0f ? r : 0.0f) + m;
	}
	default:
		return x;
	}
}

/*
 * y[p][c] = act(y[p][c]*scale[c] + bias[c] + res[p][c]) for p < npix.
 * Scalar loops over channels the compiler vectorises at O3.
 */
static void
KV(epilogue)(float *restrict y, size_t npix, int c,
    const float *restrict scale, const float *restrict bias,
    const float *res, int act)
{
	for (size_t p = 0; p < npix; p++) {
		float *restrict o = y + p * (size_t)c;
		const float *r = res ? res + p * (size_t)c : NULL;
		if (scale)
			for (int i = 0; i < c; i++)
				o[i] *= scale[i];
		if (bias)
			for (int i = 0; i < c; i++)
				o[i] += bias[i];
		if (r)
			for (int i = 0; i < c; i++)
				o[i] += r[i];
		switch (act) {
		case IR_ACT_RELU:
			for (int i = 0; i < c; i++)
				o[i] = o[i] > 0.0f ? o[i] : 0.0f;
			break;
		case IR_ACT_RELU6:
			for (int i = 0; i < c; i++) {
				float x = o[i] > 0.0f ? o[i] : 0.0f;
				o[i] = x < 6.0f ? x : 6.0f;
			}
			break;
		case IR_ACT_LEAKY:
			for (int i = 0; i < c; i++) {
				float m = o[i] * 0.1f, r2 = o[i] - m;
				o[i] = (r2 > 0.0f ? r2 : 0.0f) + m;
			}
			break;
		}
	}
}

/* act(v) on a vector, with masks (C has no vector ?:). */
static inline VF
KV(actv)(VF v, int act)
{
	typedef __typeof__(v > v) vi;
	VF z = {0};
	switch (act) {
	case IR_ACT_RELU:
		return (VF)((vi)v & (v > z));
	case IR_ACT_RELU6: {
		VF six = KV(splat)(6.0f);
		v = (VF)((vi)v & (v > z));
		vi m = v < six;
		return (VF)(((vi)v & m) | ((vi)six & ~m));
	}
	case IR_ACT_LEAKY: {
		VF m = v * 0.1f, r = v - m;
		return (VF)((vi)r & (r > z)) + m;
	}
	default:
		return v;
	}
}

/* One output pixel of a depthwise conv, channels [i0, i1): the general
 * path (any k, windows clipped at the borders). */
static inline void
KV(dw_pixel)(const struct ir_dwconv *d, const float *img, int iy0, int ix0,
    size_t rs, int ky0, int ky1, int kx0, int kx1, int i0, int i1, float *o)
{
	int k = d->k, c = d->c;
	const float *wt = d->w;
	/* the window's first in-image cell; taps are relative to it */
	const float *p0 = img + (size_t)(iy0 + ky0) * rs +
	    (size_t)(ix0 + kx0) * c;
	wt += (size_t)(ky0 * k + kx0) * c;
	ky1 -= ky0, kx1 -= kx0, ky0 = kx0 = 0;
	int i = i0;
	for (; i + VW <= i1; i += VW) {
		VF acc = {0};
		for (int ky = ky0; ky < ky1; ky++)
			for (int kx = kx0; kx < kx1; kx++)
				acc += *(const VF *)(p0 + ky * rs + kx * c + i) *
				    *(const VF *)(wt + (size_t)(ky * k + kx) * c + i);
		if (d->scale)
			acc *= *(const VF *)(d->scale + i);
		if (d->bias)
			acc += *(const VF *)(d->bias + i);
		*(VF *)(o + i) = KV(actv)(acc, d->act);
	}
	for (; i < i1; i++) {
		float acc = 0.0f;
		for (int ky = ky0; ky < ky1; ky++)
			for (int kx = kx0; kx < kx1; kx++)
				acc += p0[ky * rs + kx * c + i] *
				    wt[(size_t)(ky * k + kx) * c + i];
		if (d->scale)
			acc *= d->scale[i];
		if (d->bias)
			acc += d->bias[i];
		o[i] = KV(act1)(acc, d->act);
	}
}

/*
 * Depthwise k x k conv with TF padding, vectorised over channels, output
 * rows oy0..oy1-1 of each image only (out: n x (oy1-oy0) x ow x c). For 3x3
 * output rows whose windows are inside vertically, each block of VW
 * channels keeps its 9 weight vectors (and scale, bias) in registers while
 * it walks the row's interior pixels; border pixels and other kernel
 * sizes take dw_pixel. The affine + activation is applied before the store.
 */
static void
KV(dwconv)(const struct ir_dwconv *d, const float *in, int n, int h, int w,
    int oy0, int oy1, float *out)
{
	int k = d->k, c = d->c, s = d->stride;
	int ow = ir_cnn_outsize(w, k, s, d->pad);
	int pt = ir_cnn_padbefore(h, k, s, d->pad);
	int pl = ir_cnn_padbefore(w, k, s, d->pad);
	int cv = c - c % VW;
	size_t rs = (size_t)w * c;
	/* interior columns: ox in [xa, xb) have windows inside horizontally */
	int xa = (pl + s - 1) / s, xb = ow;
	while (xb > xa && (xb - 1) * s - pl + k > w)
		xb--;
	if (xa > xb)
		xa = xb;

	for (int b = 0; b < n; b++) {
		const float *img = in + (size_t)b * h * rs;
		for (int oy = oy0; oy < oy1; oy++) {
			int iy0 = oy * s - pt;
			int ky0 = iy0 < 0 ? -iy0 : 0;
			int ky1 = iy0 + k > h ? h - iy0 : k;
			float *orow = out + ((size_t)b * (oy1 - oy0) + oy - oy0) *
			    ow * c;
			int fast = k == 3 && ky0 == 0 && ky1 == 3 && cv > 0;
			const float *prow = fast ? img + (size_t)iy0 * rs : img;
			for (int ox = 0; ox < ow; ox++) {
				if (fast && ox >= xa && ox < xb) {
					if (cv == c) {
						ox = xb - 1; /* interior: below */
						continue;
					}
					/* only the scalar tail channels */
					int ix0 = ox * s - pl;
					KV(dw_pixel)(d, img, iy0, ix0, rs, 0, 3, 0,
					    3, cv, c, orow + (size_t)ox * c);
					continue;
				}
				int ix0 = ox * s - pl;
				int kx0 = ix0 < 0 ? -ix0 : 0;
				int kx1 = ix0 + k > w ? w - ix0 : k;
				KV(dw_pixel)(d, img, iy0, ix0, rs, ky0, ky1, kx0,
				    kx1, 0, c, orow + (size_t)ox * c);
			}
			if (!fast)
				continue;
			for (int i = 0; i < cv; i += VW) {
				VF w0 = *(const VF *)(d->w + i);
				VF w1 = *(const VF *)(d->w + c + i);
				VF w2 = *(const VF *)(d->w + 2 * c + i);
				VF w3 = *(const VF *)(d->w + 3 * c + i);
				VF w4 = *(const VF *)(d->w + 4 * c + i);
				VF w5 = *(const VF *)(d->w + 5 * c + i);
				VF w6 = *(const VF *)(d->w + 6 * c + i);
				VF w7 = *(const VF *)(d->w + 7 * c + i);
				VF w8 = *(const VF *)(d->w + 8 * c + i);
				VF sc = d->scale ? *(const VF *)(d->scale + i) :
				    KV(splat)(1.0f);
				VF bi = d->bias ? *(const VF *)(d->bias + i) :
				    KV(splat)(0.0f);
				int ox = xa;
				/* stride 1: neighbouring outputs share input
				 * columns (18 loads for 4 outputs, 12 for 2,
				 * instead of 9 each), and 4 outputs are 4
				 * independent chains of 9 multiply-adds, so
				 * the adds' latency is hidden; each sum in the
				 * order of the single-output loop */
				for (; s == 1 && ox + 4 <= xb; ox += 4) {
					const float *q = prow + (size_t)(ox - pl) *
					    c + i;
					VF x[6], a0, a1, a2, a3;
					for (int t = 0; t < 6; t++)
						x[t] = *(const VF *)(q + t * c);
					a0 = x[0] * w0 + x[1] * w1 + x[2] * w2;
					a1 = x[1] * w0 + x[2] * w1 + x[3] * w2;
					a2 = x[2] * w0 + x[3] * w1 + x[4] * w2;
					a3 = x[3] * w0 + x[4] * w1 + x[5] * w2;
					q += rs;
					for (int t = 0; t < 6; t++)
						x[t] = *(const VF *)(q + t * c);
					a0 = a0 + x[0] * w3 + x[1] * w4 + x[2] * w5;
					a1 = a1 + x[1] * w3 + x[2] * w4 + x[3] * w5;
					a2 = a2 + x[2] * w3 + x[3] * w4 + x[4] * w5;
					a3 = a3 + x[3] * w3 + x[4] * w4 + x[5] * w5;
					q += rs;
					for (int t = 0; t < 6; t++)
						x[t] = *(const VF *)(q + t * c);
					a0 = a0 + x[0] * w6 + x[1] * w7 + x[2] * w8;
					a1 = a1 + x[1] * w6 + x[2] * w7 + x[3] * w8;
					a2 = a2 + x[2] * w6 + x[3] * w7 + x[4] * w8;
					a3 = a3 + x[3] * w6 + x[4] * w7 + x[5] * w8;
					float *o = orow + (size_t)ox * c + i;
					*(VF *)o = KV(actv)(a0 * sc + bi, d->act);
					*(VF *)(o + c) = KV(actv)(a1 * sc + bi,
					    d->act);
					*(VF *)(o + 2 * c) = KV(actv)(a2 * sc + bi,
					    d->act);
					*(VF *)(o + 3 * c) = KV(actv)(a3 * sc + bi,
					    d->act);
				}
				for (; s == 1 && ox + 2 <= xb; ox += 2) {
					const float *q = prow + (size_t)(ox - pl) *
					    c + i;
					VF x0 = *(const VF *)q,
					    x1 = *(const VF *)(q + c),
					    x2 = *(const VF *)(q + 2 * c),
					    x3 = *(const VF *)(q + 3 * c);
					VF acc0 = x0 * w0 + x1 * w1 + x2 * w2;
					VF acc1 = x1 * w0 + x2 * w1 + x3 * w2;
					q += rs;
					x0 = *(const VF *)q, x1 = *(const VF *)(q + c);
					x2 = *(const VF *)(q + 2 * c);
					x3 = *(const VF *)(q + 3 * c);
					acc0 = acc0 + x0 * w3 + x1 * w4 + x2 * w5;
					acc1 = acc1 + x1 * w3 + x2 * w4 + x3 * w5;
					q += rs;
					x0 = *(const VF *)q, x1 = *(const VF *)(q + c);
					x2 = *(const VF *)(q + 2 * c);
					x3 = *(const VF *)(q + 3 * c);
					acc0 = acc0 + x0 * w6 + x1 * w7 + x2 * w8;
					acc1 = acc1 + x1 * w6 + x2 * w7 + x3 * w8;
					float *o = orow + (size_t)ox * c + i;
					*(VF *)o = KV(actv)(acc0 * sc + bi, d->act);
					*(VF *)(o + c) = KV(actv)(acc1 * sc + bi,
					    d->act);
				}
				for (; ox < xb; ox++) {
					const float *q = prow + (size_t)(ox * s - pl) *
					    c + i;
					VF acc = *(const VF *)q * w0 +
					    *(const VF *)(q + c) * w1 +
					    *(const VF *)(q + 2 * c) * w2 +
					    *(const VF *)(q + rs) * w3 +
					    *(const VF *)(q + rs + c) * w4 +
					    *(const VF *)(q + rs + 2 * c) * w5 +
					    *(const VF *)(q + 2 * rs) * w6 +
					    *(const VF *)(q + 2 * rs + c) * w7 +
					    *(const VF *)(q + 2 * rs + 2 * c) * w8;
					*(VF *)(orow + (size_t)ox * c + i) =
					    KV(actv)(acc * sc + bi, d->act);
				}
			}
		}
	}
}

/*
 * At most this many rows of A (output pixels or Winograd tiles, as one
 * small map of one image has) make a GEMM "few-row": its 2 to 4 row blocks
 * each read every column panel of B, the first from memory and the others
 * from cache, so memory would idle while they compute; instead each row
 * block prefetches its share of what follows the panel (the next panel,
 * or the next Winograd element's weights), one cache line per step of k.
 */
#define FEW_MAX IR_CONV_FEW

/* The optional epilogue of our GEMM: act(v*scale + bias + res). */
struct KV(ep) {
	const float *scale, *bias, *res;
	int ldr, act, on;
};

/*
 * One MR x (2*VW) block of C = A * B, MR <= 6 a compile-time constant
 * after inlining, so the accumulators stay in registers. Row r of A is
 * read as nseg segments of seglen floats, segment s at a[r] + s*segstride
 * (a plain matrix: one segment of K; a convolution window read straight
 * from the NHWC input: kh segments of kw*cin, segstride = w*cin). b walks
 * a packed panel (row stride IR_PANEL). The epilogue is applied at the
 * store; res is read before C is written, so res == C is fine.
 */
static inline __attribute__((always_inline)) void
KV(gemm_block)(const int MR, int nseg, int seglen, size_t segstride,
    const float *const *a, const float *b, float *c, int ldc,
    const struct KV(ep) *e, int j, size_t i, const float *pin, float *pout,
    const char *pf, int pfstep)
{
	VF acc[6][2];
	for (int r = 0; r < MR; r++) {
		if (pin) {
			acc[r][0] = *(const VF *)(pin + r * 2 * VW);
			acc[r][1] = *(const VF *)(pin + r * 2 * VW + VW);
		} else {
			acc[r][0] = acc[r][1] = (VF){0};
		}
	}
	for (int sg = 0; sg < nseg; sg++) {
		const float *ar[6];
		for (int r = 0; r < MR; r++)
			ar[r] = a[r] + sg * segstride;
#pragma GCC unroll 4
		for (int k = 0; k < seglen; k++, b += IR_PANEL) {
			if (pf)
				__builtin_prefetch(pf + (size_t)k * pfstep);
			VF b0 = *(const VF *)b;
			VF b1 = *(const VF *)(b + VW);
			for (int r = 0; r < MR; r++) {
				acc[r][0] += ar[r][k] * b0;
				acc[r][1] += ar[r][k] * b1;
			}
		}
	}
	if (pout) {
		for (int r = 0; r < MR; r++) {
			*(VF *)(pout + r * 2 * VW) = acc[r][0];
			*(VF *)(pout + r * 2 * VW + VW) = acc[r][1];
		}
		return;
	}
	if (e->on) {
		VF s0 = KV(splat)(1.0f), s1 = s0, b0 = {0}, b1 = {0};
		if (e->scale)
			s0 = *(const VF *)(e->scale + j),
			s1 = *(const VF *)(e->scale + j + VW);
		if (e->bias)
			b0 = *(const VF *)(e->bias + j),
			b1 = *(const VF *)(e->bias + j + VW);
		for (int r = 0; r < MR; r++) {
			VF v0 = acc[r][0] * s0 + b0, v1 = acc[r][1] * s1 + b1;
			if (e->res) {
				const float *q = e->res + (i + r) * e->ldr + j;
				v0 += *(const VF *)q;
				v1 += *(const VF *)(q + VW);
			}
			acc[r][0] = KV(actv)(v0, e->act);
			acc[r][1] = KV(actv)(v1, e->act);
		}
	}
	for (int r = 0; r < MR; r++) {
		*(VF *)(c + (size_t)r * ldc) = acc[r][0];
		*(VF *)(c + (size_t)r * ldc + VW) = acc[r][1];
	}
}

/* Rows i..i+mr-1 (mr <= 6) of one column block: dispatch on mr so each
 * block size gets its own register allocation. pin: start from these
 * partial sums, pout: store the sums there instead of the epilogue into c
 * (see conv_direct_few); pf: prefetch pf + k * pfstep at each step k of a
 * single segment (see FEW_MAX). NULL: none of these. */
static inline __attribute__((always_inline)) void
KV(gemm_rows)(int mr, int nseg, int seglen, size_t segstride,
    const float *const *a, const float *b, float *c, int ldc,
    const struct KV(ep) *e, int j, size_t i, const float *pin, float *pout,
    const char *pf, int pfstep)
{
#define GEMM_BLOCK(MR) KV(gemm_block)(MR, nseg, seglen, segstride, a, b, \
	c, ldc, e, j, i, pin, pout, pf, pfstep)
	switch (mr) {
	case 6:
		GEMM_BLOCK(6);
		break;
	case 5:
		GEMM_BLOCK(5);
		break;
	case 4:
		GEMM_BLOCK(4);
		break;
	case 3:
		GEMM_BLOCK(3);
		break;
	case 2:
		GEMM_BLOCK(2);
		break;
	case 1:
		GEMM_BLOCK(1);
		break;
	}
#undef GEMM_BLOCK
}

/*
 * Rows i..i+mr-1 of the last column block when it has only n < 2*VW
 * columns (cout not a multiple of the panel width): the block's sums into
 * t, then act(t*scale + bias + res) on its n columns, then those into c
 * (res, which may be c, is read before c is written).
 */
static inline __attribute__((always_inline)) void
KV(gemm_rows_part)(int mr, int n, int nseg, int seglen, size_t segstride,
    const float *const *a, const float *b, float *c, int ldc,
    const struct KV(ep) *e, int j, size_t i)
{
	float t[6 * 2 * VW] __attribute__((aligned(64)));
	KV(gemm_rows)(mr, nseg, seglen, segstride, a, b, c, ldc, e, j, i,
	    NULL, t, NULL, 0);
	for (int r = 0; r < mr; r++) {
		float *tr = t + r * 2 * VW;
		KV(epilogue)(tr, 1, n, e->scale ? e->scale + j : NULL,
		    e->bias ? e->bias + j : NULL,
		    e->res ? e->res + (i + r) * e->ldr + j : NULL, e->act);
		memcpy(c + (size_t)r * ldc, tr, (size_t)n * sizeof(float));
	}
}

/* Panel p of B (packed by pack_panels in cnn.c), shifted so that adding
 * the column j of the block gives its first element. */
#define PANEL_AT(Bp, K, j) ((Bp) + (size_t)((j) / IR_PANEL) * (K) * \
	IR_PANEL + (j) % IR_PANEL)

/*
 * C[M][N] = act(A[M][K] * B[K][N] * scale + bias + res) (overwrites C;
 * scale, bias, res optional; res has row stride ldr and may equal C),
 * any N, B packed by pack_panels() (cnn.c): column j of row k at
 * Bp[(j / IR_PANEL) * K * IR_PANEL + k * IR_PANEL + j % IR_PANEL], so each
 * panel streams contiguously (the last one padded with zero columns).
 * Register block: 6 rows x 2 vectors (smaller blocks for the last rows),
 * the B column panel reused over all rows.
 */
static void
KV(gemm)(int M, int N, int K, const float *A, int lda, const float *Bp,
    float *C, int ldc, const float *scale, const float *bias,
    const float *res, int ldr, int act)
{
	struct KV(ep) e = { scale, bias, res, ldr, act,
		scale || bias || res || act };
	/* 2 to FEW_MAX / 6 row blocks: prefetch what follows the panel */
	int nb = (M + 5) / 6, few = nb >= 2 && M <= FEW_MAX;
	for (int j = 0; j < N; j += 2 * VW) {
		const float *b = PANEL_AT(Bp, K, j);
		const char *next = (const char *)(b + (size_t)K * IR_PANEL);
		for (int i = 0, t = 0; i < M; i += 6, t++) {
			const float *a[6];
			int mr = M - i < 6 ? M - i : 6;
			for (int r = 0; r < mr; r++)
				a[r] = A + (size_t)(i + r) * lda;
			if (N - j < 2 * VW)
				KV(gemm_rows_part)(mr, N - j, 1, K, 0, a, b,
				    C + (size_t)i * ldc + j, ldc, &e, j, i);
			else
				KV(gemm_rows)(mr, 1, K, 0, a, b,
				    C + (size_t)i * ldc + j, ldc, &e, j, i,
				    NULL, NULL, few ? next + 64 * t : NULL,
				    64 * nb);
		}
	}
}

/* win[k] = the first input float of output pixel p0 + k's window, for
 * k < n (see conv_direct): one division, then a walk along the rows. */
static void
KV(windows)(const struct ir_conv *cv, const float *in, int h, int w, int oh,
    int ow, size_t p0, int n, const float **win)
{
	size_t img = p0 / ((size_t)oh * ow);
	int rem = (int)(p0 % ((size_t)oh * ow)), oy = rem / ow, ox = rem % ow;
	for (int k = 0; k < n; k++) {
		win[k] = in + ((img * h + (size_t)oy * cv->stride) * w +
		    (size_t)ox * cv->stride) * cv->cin;
		if (++ox == ow) {
			ox = 0;
			if (++oy == oh)
				oy = 0, img++;
		}
	}
}

/* Rows of B per chunk of conv_direct_few: 16 KB of a 32-column panel. */
#define FEW_KC 128

/* VW codes as floats. GCC 12 widens bytes in vector extensions
 * (__builtin_convertvector) lane by lane, so the x86 variants say
 * vpmovzxbd + vcvtdq2ps themselves. */
static inline VF
KV(q8f)(const unsigned char *q)
{
#if VW == 16 && defined(__x86_64__)
	return (VF)_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
	    _mm_loadu_si128((const __m128i *)q)));
#elif VW == 8 && defined(__x86_64__)
	return (VF)_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
	    _mm_loadl_epi64((const __m128i *)q)));
#else
	VF v;
	for (int i = 0; i < VW; i++)
		v[i] = (float)q[i];
	return v;
#endif
}

/*
 * Rows k0..k0+kc-1 of column block j (2*VW columns) of cv's 8-bit panels
 * (cv->wq8, packed by pack_q8 in cnn.c: per column S and M, then the codes)
 * as floats w = q * S + M into bx, row stride IR_PANEL, the block's
 * columns at j % IR_PANEL: the layout gemm_rows reads.
 */
static void
KV(expand_q8)(const struct ir_conv *cv, int K, int j, int k0, int kc,
    float *bx)
{
	const float *S = q8_S(cv), *M = q8_M(cv);
	const unsigned char *q = q8_codes(cv) +
	    ((size_t)(j / IR_PANEL) * K + k0) * IR_PANEL + j % IR_PANEL;
	VF s0 = *(const VF *)(S + j), s1 = *(const VF *)(S + j + VW);
	VF m0 = *(const VF *)(M + j), m1 = *(const VF *)(M + j + VW);
	float *d = bx + j % IR_PANEL;

	for (int k = 0; k < kc; k++, q += IR_PANEL, d += IR_PANEL) {
		VF w0 = KV(q8f)(q) * s0, w1 = KV(q8f)(q + VW) * s1;
		/* two roundings as ir_cnn_q8_floats: the empty asm keeps
		 * the products from being fused into FMAs (fp-contract) */
#if defined(__x86_64__)
		__asm__("" : "+x"(w0), "+x"(w1));
#else
		__asm__("" : "+m"(w0), "+m"(w1));
#endif
		*(VF *)d = w0 + m0;
		*(VF *)(d + VW) = w1 + m1;
	}
}

/*
 * conv_direct for at most FEW_MAX pixels (one small map of one image, the
 * descriptor net's 4x4 and 3x3 maps): so few rows of A that the weights,
 * each used by only those rows, stream from memory at a rate the multiply
 * keeps up with. conv_direct's order (each 6-row block reads a whole
 * column panel) would fetch a panel from memory for the first block, then
 * compute the others from cache with memory idle. Here each panel goes by
 * in chunks of FEW_KC rows that every row block uses in turn, so B is read
 * once, in order, while the chunk stays in L1; the partial sums live in a
 * small buffer between chunks (not in out, which may be the residual).
 * With 8-bit codes (cv->wq8) each chunk is first expanded from them into
 * an L1 buffer (expand_q8): a quarter of the bytes from memory.
 */
static void
KV(conv_direct_few)(const struct ir_conv *cv, const float *in, int h, int w,
    int oh, int ow, size_t p0, int np, float *out, const float *res)
{
	struct KV(ep) e = { cv->scale, cv->bias, res, cv->cout, cv->act,
		cv->scale || cv->bias || res || cv->act };
	int cin = cv->cin, seglen = cv->kw * cin;
	int K = cv->kh * seglen, N = cv->cout;
	size_t segstride = (size_t)w * cin;
	float part[FEW_MAX * 2 * VW] __attribute__((aligned(64)));
	const float *win[FEW_MAX];
	float bx[FEW_KC * IR_PANEL] __attribute__((aligned(64))); /* 16 KB */

	int nb = (np + 5) / 6; /* row blocks */
	KV(windows)(cv, in, h, w, oh, ow, p0, np, win);
	for (int j = 0; j < N; j += 2 * VW) {
		const float *b = PANEL_AT(cv->wt, K, j);
		for (int sg = 0; sg < cv->kh; sg++)
			for (int k0 = 0; k0 < seglen; k0 += FEW_KC) {
				int kc = seglen - k0 < FEW_KC ? seglen - k0 :
				    FEW_KC;
				int first = sg == 0 && k0 == 0;
				int last = sg == cv->kh - 1 && k0 + kc == seglen;
				int kk = sg * seglen + k0;
				const float *bk = b + (size_t)kk * IR_PANEL;
				/* row block t prefetches lines t, t+nb, ...
				 * of what follows this chunk, one per k */
				const char *next = (const char *)(bk +
				    (size_t)kc * IR_PANEL);
				if (q8_pass(cv, np)) {
					KV(expand_q8)(cv, K, j, kk, kc, bx);
					bk = bx + j % IR_PANEL;
					next = (const char *)q8_codes(cv) +
					    ((size_t)(j / IR_PANEL) * K + kk +
					    kc) * IR_PANEL;
				}
				for (int i = 0, t = 0; i < np; i += 6, t++) {
					const float *a[6];
					int mr = np - i < 6 ? np - i : 6;
					float *pp = part + (size_t)i * 2 * VW;
					for (int r = 0; r < mr; r++)
						a[r] = win[i + r] + sg * segstride +
						    k0;
					KV(gemm_rows)(mr, 1, kc, 0, a, bk,
					    out + (p0 + i) * N + j, N, &e, j,
					    p0 + i, first ? NULL : pp,
					    last ? NULL : pp, next + 64 * t,
					    64 * nb);
				}
			}
	}
}

/*
 * Implicit-GEMM convolution for windows that never leave the input (valid
 * padding): output pixels p0..p0+np-1 of the batch (p = (img*oh + oy)*ow +
 * ox), every output channel, A read straight from the input (no im2col).
 * Pixels go in chunks of 96 (their window addresses computed once) so the
 * input rows stay cached while all column panels of the packed weights
 * pass over them; 7 to FEW_MAX pixels with whole column blocks (1 to
 * FEW_MAX with 8-bit codes) go to conv_direct_few.
 */
static void
KV(conv_direct)(const struct ir_conv *cv, const float *in, int h, int w,
    int oh, int ow, size_t p0, size_t np, float *out, const float *res)
{
	struct KV(ep) e = { cv->scale, cv->bias, res, cv->cout, cv->act,
		cv->scale || cv->bias || res || cv->act };
	int cin = cv->cin, seglen = cv->kw * cin;
	int K = cv->kh * seglen, N = cv->cout;
	size_t segstride = (size_t)w * cin;

	if (np <= FEW_MAX && N % (2 * VW) == 0 &&
	    (np > 6 || q8_pass(cv, np))) {
		KV(conv_direct_few)(cv, in, h, w, oh, ow, p0, (int)np, out, res);
		return;
	}
	const float *win[96];
	for (size_t c0 = p0; c0 < p0 + np; c0 += 96) {
		size_t c1 = c0 + 96 < p0 + np ? c0 + 96 : p0 + np;
		KV(windows)(cv, in, h, w, oh, ow, c0, (int)(c1 - c0), win);
		for (int j = 0; j < N; j += 2 * VW) {
			const float *b = PANEL_AT(cv->wt, K, j);
			for (size_t i = c0; i < c1; i += 6) {
				const float *const *a = win + (i - c0);
				int mr = c1 - i < 6 ? (int)(c1 - i) : 6;
				if (N - j < 2 * VW)
					KV(gemm_rows_part)(mr, N - j, cv->kh,
					    seglen, segstride, a, b,
					    out + i * N + j, N, &e, j, i);
				else
					KV(gemm_rows)(mr, cv->kh, seglen,
					    segstride, a, b, out + i * N + j, N,
					    &e, j, i, NULL, NULL, NULL, 0);
			}
		}
	}
}

/* Elementwise max of two vectors, the first kept on ties. */
static inline VF
KV(vmax)(VF a, VF b)
{
	typedef __typeof__(a > b) vi;
	vi m = b > a;
	return (VF)(((vi)b & m) | ((vi)a & ~m));
}

/*
 * The epilogue and the max of one 2x2 pool window whose mr (1, 2 or 4)
 * pixels' sums are acc[0..mr-1], into c (2 vectors). Without a scale the
 * max comes first and the bias and activation (all monotonic) once after:
 * the same values as epilogue-then-max, for a quarter of the epilogue.
 */
static inline __attribute__((always_inline)) void
KV(pool_store)(const int MR, VF acc[][2], float *c, const struct KV(ep) *e,
    int j)
{
	VF s0 = KV(splat)(1.0f), s1 = s0, b0 = {0}, b1 = {0};
	if (e->scale)
		s0 = *(const VF *)(e->scale + j),
		s1 = *(const VF *)(e->scale + j + VW);
	if (e->bias)
		b0 = *(const VF *)(e->bias + j),
		b1 = *(const VF *)(e->bias + j + VW);
	if (!e->scale) {
		VF m0 = acc[0][0], m1 = acc[0][1];
		for (int r = 1; r < MR; r++) {
			m0 = KV(vmax)(m0, acc[r][0]);
			m1 = KV(vmax)(m1, acc[r][1]);
		}
		*(VF *)c = KV(actv)(m0 + b0, e->act);
		*(VF *)(c + VW) = KV(actv)(m1 + b1, e->act);
		return;
	}
	VF m0 = KV(actv)(acc[0][0] * s0 + b0, e->act);
	VF m1 = KV(actv)(acc[0][1] * s1 + b1, e->act);
	for (int r = 1; r < MR; r++) {
		m0 = KV(vmax)(m0, KV(actv)(acc[r][0] * s0 + b0, e->act));
		m1 = KV(vmax)(m1, KV(actv)(acc[r][1] * s1 + b1, e->act));
	}
	*(VF *)c = m0;
	*(VF *)(c + VW) = m1;
}

/*
 * NW (1 or 2) 2x2 pool windows of a 1x1 convolution: window i's mr pixels
 * (1, 2 or 4; 4 each when NW is 2) are a[i*mr ..] (K floats each), times
 * the column block b, then pool_store into c + i*ldc. Two full windows
 * at once keep 16 sums in flight instead of 8 (the multiply-adds of one
 * window are as many chains as the FMA units can overlap, no more).
 */
static inline __attribute__((always_inline)) void
KV(pool_block)(const int NW, const int MR, int K, const float *const *a,
    const float *b, float *c, size_t ldc, const struct KV(ep) *e, int j)
{
	VF acc[8][2];
	for (int r = 0; r < NW * MR; r++)
		acc[r][0] = acc[r][1] = (VF){0};
#pragma GCC unroll 4
	for (int k = 0; k < K; k++, b += IR_PANEL) {
		VF b0 = *(const VF *)b;
		VF b1 = *(const VF *)(b + VW);
		for (int r = 0; r < NW * MR; r++) {
			acc[r][0] += a[r][k] * b0;
			acc[r][1] += a[r][k] * b1;
		}
	}
	for (int i = 0; i < NW; i++)
		KV(pool_store)(MR, acc + i * MR, c + i * ldc, e, j);
}

/*
 * 1x1 convolution (stride 1, packed weights Bp, K = cin, N = cout) with
 * its epilogue, then a 2x2/2 max pool with `same` padding (an odd last
 * row or column pools what there is): in h x w x K, out
 * ceil(h/2) x ceil(w/2) x N. The convolution's output never exists.
 */
static void
KV(conv_pool2)(const struct ir_conv *cv, const float *in, int h, int w,
    float *out)
{
	struct KV(ep) e = { cv->scale, cv->bias, NULL, 0, cv->act, 1 };
	int K = cv->cin, N = cv->cout, oh = (h + 1) / 2, ow = (w + 1) / 2;

	for (int j = 0; j < N; j += 2 * VW) {
		const float *b = PANEL_AT(cv->wt, K, j);
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				const float *a[8];
				int mr = 0;
				/* two full windows when both are inside */
				int nw = 2 * oy + 1 < h && 2 * ox + 3 < w ? 2 : 1;
				for (int i = 0; i < nw; i++)
					for (int dy = 0; dy < 2; dy++)
						for (int dx = 0; dx < 2; dx++)
							if (2 * oy + dy < h &&
							    2 * (ox + i) + dx < w)
								a[mr++] = in +
								    ((size_t)(2 * oy +
								    dy) * w + 2 * (ox +
								    i) + dx) * K;
				float *c = out + ((size_t)oy * ow + ox) * N + j;
				if (nw == 2)
					KV(pool_block)(2, 4, K, a, b, c, N, &e, j);
				else if (mr == 4)
					KV(pool_block)(1, 4, K, a, b, c, N, &e, j);
				else if (mr == 2)
					KV(pool_block)(1, 2, K, a, b, c, N, &e, j);
				else
					KV(pool_block)(1, 1, K, a, b, c, N, &e, j);
				ox += nw - 1;
			}
	}
}

/* The 8-point transforms of F(6x6,3x3): r[k*st] = (B^T x)[k] and
 * r[k*st] = (A^T x)[k] (6 outputs). Coefficients checked against direct
 * correlation (tests/unit/cnn.c runs every tile size). */
static inline __attribute__((always_inline)) void
KV(bt8)(VF d0, VF d1, VF d2, VF d3, VF d4, VF d5, VF d6, VF d7, VF *r,
    int st)
{
	r[0] = d0 - 5.25f * d2 + 5.25f * d4 - d6;
	r[st] = d1 + d2 - 4.25f * d3 - 4.25f * d4 + d5 + d6;
	r[2 * st] = -d1 + d2 + 4.25f * d3 - 4.25f * d4 - d5 + d6;
	r[3 * st] = 0.5f * d1 + 0.25f * d2 - 2.5f * d3 - 1.25f * d4 +
	    2.0f * d5 + d6;
	r[4 * st] = -0.5f * d1 + 0.25f * d2 + 2.5f * d3 - 1.25f * d4 -
	    2.0f * d5 + d6;
	r[5 * st] = 2.0f * d1 + 4.0f * d2 - 2.5f * d3 - 5.0f * d4 +
	    0.5f * d5 + d6;
	r[6 * st] = -2.0f * d1 + 4.0f * d2 + 2.5f * d3 - 5.0f * d4 -
	    0.5f * d5 + d6;
	r[7 * st] = -d1 + 5.25f * d3 - 5.25f * d5 + d7;
}

static inline __attribute__((always_inline)) void
KV(at8)(VF m0, VF m1, VF m2, VF m3, VF m4, VF m5, VF m6, VF m7, VF *r,
    int st)
{
	VF s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
	VF s56 = m5 + m6, d56 = m5 - m6;
	r[0] = m0 + s12 + s34 + 32.0f * s56;
	r[st] = d12 + 2.0f * d34 + 16.0f * d56;
	r[2 * st] = s12 + 4.0f * s34 + 8.0f * s56;
	r[3 * st] = d12 + 8.0f * d34 + 4.0f * d56;
	r[4 * st] = s12 + 16.0f * s34 + 2.0f * s56;
	r[5 * st] = d12 + 32.0f * d34 + d56 + m7;
}

/*
 * Winograd input transform of tiles t0..t0+nt-1 (global tile index over the
 * batch: t = (img*th + ty)*tw + tx): V[t - t0][e][cin] for e < (m+2)^2
 * (each tile written contiguously; the GEMM of element e reads rows of
 * stride ne*cin).
 * The input tile of (ty, tx) starts at (ty*m - 1, tx*m - 1) (pad 1).
 */
static void
KV(wino_in)(int m, const float *in, int h, int w, int cin, int th, int tw,
    int t0, int nt, float *V)
{
	int a = m + 2, ne = a * a;
	size_t es = (size_t)cin; /* stride between elements e of a tile */
	VF z = {0};

	for (int t = 0; t < nt; t++) {
		int tt = t0 + t, img = tt / (th * tw), r = tt % (th * tw);
		int y0 = (r / tw) * m - 1, x0 = (r % tw) * m - 1;
		const float *base = in + (size_t)img * h * w * cin;
		float *vt = V + (size_t)t * ne * cin;
		const float *src[64];
		int full = y0 >= 0 && x0 >= 0 && y0 + a <= h && x0 + a <= w;
		for (int i = 0; i < a; i++) {
			int y = y0 + i;
			for (int j = 0; j < a; j++) {
				int x = x0 + j;
				src[i * a + j] = (y >= 0 && y < h && x >= 0 &&
				    x < w) ? base + ((size_t)y * w + x) * cin :
				    NULL;
			}
		}
		for (int c = 0; c < cin; c += VW) {
			VF d[64], q[64];
			if (full)
				for (int e = 0; e < ne; e++)
					d[e] = *(const VF *)(src[e] + c);
			else
				for (int e = 0; e < ne; e++)
					d[e] = src[e] ? *(const VF *)(src[e] + c) :
					    z;
			if (m == 6) {
				/* F(6x6,3x3), points 0, +-1, +-2, +-1/2 */
				for (int j = 0; j < 8; j++) {
					VF *o = q + j;
					const VF *x = d + j;
					KV(bt8)(x[0], x[8], x[16], x[24], x[32],
					    x[40], x[48], x[56], o, 8);
				}
				for (int i = 0; i < 8; i++) {
					const VF *x = q + 8 * i;
					VF r[8];
					KV(bt8)(x[0], x[1], x[2], x[3], x[4], x[5],
					    x[6], x[7], r, 1);
					float *o = vt + (size_t)(8 * i) * es + c;
					for (int j = 0; j < 8; j++, o += es)
						*(VF *)o = r[j];
				}
			} else if (m == 4) {
				/* q = B^T d (over rows), then V = q B. */
				for (int j = 0; j < 6; j++) {
					VF d0 = d[j], d1 = d[6 + j],
					    d2 = d[12 + j], d3 = d[18 + j],
					    d4 = d[24 + j], d5 = d[30 + j];
					q[j] = 4.0f * d0 - 5.0f * d2 + d4;
					q[6 + j] = -4.0f * (d1 + d2) + d3 + d4;
					q[12 + j] = 4.0f * (d1 - d2) - d3 + d4;
					q[18 + j] = 2.0f * (d3 - d1) - d2 + d4;
					q[24 + j] = 2.0f * (d1 - d3) - d2 + d4;
					q[30 + j] = 4.0f * d1 - 5.0f * d3 + d5;
				}
				for (int i = 0; i < 6; i++) {
					VF *p = q + 6 * i;
					VF d0 = p[0], d1 = p[1], d2 = p[2],
					    d3 = p[3], d4 = p[4], d5 = p[5];
					float *o = vt + (size_t)(6 * i) * es + c;
					*(VF *)o = 4.0f * d0 - 5.0f * d2 + d4;
					o += es;
					*(VF *)o = -4.0f * (d1 + d2) + d3 + d4;
					o += es;
					*(VF *)o = 4.0f * (d1 - d2) - d3 + d4;
					o += es;
					*(VF *)o = 2.0f * (d3 - d1) - d2 + d4;
					o += es;
					*(VF *)o = 2.0f * (d1 - d3) - d2 + d4;
					o += es;
					*(VF *)o = 4.0f * d1 - 5.0f * d3 + d5;
				}
			} else {
				for (int j = 0; j < 4; j++) {
					VF d0 = d[j], d1 = d[4 + j],
					    d2 = d[8 + j], d3 = d[12 + j];
					q[j] = d0 - d2;
					q[4 + j] = d1 + d2;
					q[8 + j] = d2 - d1;
					q[12 + j] = d1 - d3;
				}
				for (int i = 0; i < 4; i++) {
					VF *p = q + 4 * i;
					float *o = vt + (size_t)(4 * i) * es + c;
					*(VF *)o = p[0] - p[2];
					o += es;
					*(VF *)o = p[1] + p[2];
					o += es;
					*(VF *)o = p[2] - p[1];
					o += es;
					*(VF *)o = p[1] - p[3];
				}
			}
		}
	}
}

/*
 * Winograd output transform of tiles t0..t0+nt-1 from M[t - t0][e][cout],
 * with the epilogue act(v*scale + bias + res), into out (n x h x w x cout,
 * stride 1 same: the output has the input's size).
 */
static void
KV(wino_out)(int m, const float *Mt, int h, int w, int cout, int th, int tw,
    int t0, int nt, const float *scale, const float *bias, const float *res,
    int act, float *out)
{
	size_t es = (size_t)cout; /* stride between elements e of a tile */
	int ne = (m + 2) * (m + 2);

	for (int t = 0; t < nt; t++) {
		int tt = t0 + t, img = tt / (th * tw), r = tt % (th * tw);
		int y0 = (r / tw) * m, x0 = (r % tw) * m;
		int my = h - y0 < m ? h - y0 : m, mx = w - x0 < m ? w - x0 : m;
		float *obase = out + (size_t)img * h * w * cout;
		const float *rbase = res ? res + (size_t)img * h * w * cout :
		    NULL;
		const float *mt = Mt + (size_t)t * ne * cout;
		int ys = m == 6 ? 6 : 4; /* row stride of y */
		for (int c = 0; c < cout; c += VW) {
			VF y[36], q[48];
			VF sc = scale ? *(const VF *)(scale + c) : KV(splat)(1.0f);
			VF bi = bias ? *(const VF *)(bias + c) : KV(splat)(0.0f);
			if (m == 6) {
				/* q = A^T M (6 x 8), y = q A (6 x 6). */
				for (int j = 0; j < 8; j++) {
					const float *p = mt + c + (size_t)j * es;
					KV(at8)(*(const VF *)p,
					    *(const VF *)(p + 8 * es),
					    *(const VF *)(p + 16 * es),
					    *(const VF *)(p + 24 * es),
					    *(const VF *)(p + 32 * es),
					    *(const VF *)(p + 40 * es),
					    *(const VF *)(p + 48 * es),
					    *(const VF *)(p + 56 * es), q + j, 8);
				}
				for (int i = 0; i < 6; i++) {
					const VF *x = q + 8 * i;
					KV(at8)(x[0], x[1], x[2], x[3], x[4], x[5],
					    x[6], x[7], y + 6 * i, 1);
				}
			} else if (m == 4) {
				/* q = A^T M (4 x 6), y = q A (4 x 4). */
				for (int j = 0; j < 6; j++) {
					const float *p = mt + c + (size_t)j * es;
					VF m0 = *(const VF *)p,
					    m1 = *(const VF *)(p + 6 * es),
					    m2 = *(const VF *)(p + 12 * es),
					    m3 = *(const VF *)(p + 18 * es),
					    m4 = *(const VF *)(p + 24 * es),
					    m5 = *(const VF *)(p + 30 * es);
					VF s12 = m1 + m2, d12 = m1 - m2;
					VF s34 = m3 + m4, d34 = m3 - m4;
					q[j] = m0 + s12 + s34;
					q[6 + j] = d12 + 2.0f * d34;
					q[12 + j] = s12 + 4.0f * s34;
					q[18 + j] = d12 + 8.0f * d34 + m5;
				}
				for (int i = 0; i < 4; i++) {
					VF *p = q + 6 * i;
					VF s12 = p[1] + p[2], d12 = p[1] - p[2];
					VF s34 = p[3] + p[4], d34 = p[3] - p[4];
					y[4 * i] = p[0] + s12 + s34;
					y[4 * i + 1] = d12 + 2.0f * d34;
					y[4 * i + 2] = s12 + 4.0f * s34;
					y[4 * i + 3] = d12 + 8.0f * d34 + p[5];
				}
			} else {
				for (int j = 0; j < 4; j++) {
					const float *p = mt + c + (size_t)j * es;
					VF m0 = *(const VF *)p,
					    m1 = *(const VF *)(p + 4 * es),
					    m2 = *(const VF *)(p + 8 * es),
					    m3 = *(const VF *)(p + 12 * es);
					q[j] = m0 + m1 + m2;
					q[4 + j] = m1 - m2 - m3;
				}
				for (int i = 0; i < 2; i++) {
					VF *p = q + 4 * i;
					y[4 * i] = p[0] + p[1] + p[2];
					y[4 * i + 1] = p[1] - p[2] - p[3];
				}
			}
			for (int i = 0; i < my; i++) {
				for (int j = 0; j < mx; j++) {
					size_t off = ((size_t)(y0 + i) * w + x0 +
					    j) * cout + c;
					VF v = y[ys * i + j] * sc + bi;
					if (rbase)
						v += *(const VF *)(rbase + off);
					if (act == IR_ACT_RELU) {
						VF zz = {0};
						v = (VF)((__typeof__(v > zz))v &
						    (v > zz));
					} else if (act != IR_ACT_NONE) {
						for (int l = 0; l < VW; l++)
							v[l] = KV(act1)(v[l], act);
					}
					*(VF *)(obase + off) = v;
				}
			}
		}
	}
}

/*
 * o[i] = the max of the 2x2 window at p (row stride rs) for i < c, taken
 * exactly as the general loop of maxpool does: from -inf, cells in row
 * order, each replacing the max only when greater (so NaNs and signed
 * zeros come out the same).
 */
static inline void
KV(max4)(const float *restrict p, size_t rs, int c, float *restrict o)
{
	int i = 0;
	for (; i + VW <= c; i += VW) {
		typedef __typeof__((VF){0} > (VF){0}) vi;
		VF m = KV(splat)(-INFINITY);
		const float *q[4] = { p + i, p + c + i, p + rs + i,
			p + rs + c + i };
		for (int j = 0; j < 4; j++) {
			VF v = *(const VF *)q[j];
			vi gt = v > m;
			m = (VF)(((vi)v & gt) | ((vi)m & ~gt));
		}
		*(VF *)(o + i) = m;
	}
	for (; i < c; i++) {
		float m = -INFINITY;
		const float *q[4] = { p + i, p + c + i, p + rs + i,
			p + rs + c + i };
		for (int j = 0; j < 4; j++)
			m = *q[j] > m ? *q[j] : m;
		o[i] = m;
	}
}

/*
 * Max pool k x k, stride s, `same` (padding ignored) or `valid': the
 * reference loop (cells in row order from -inf), with full 2x2 windows
 * in one vector pass.
 */
static void
KV(maxpool)(const float *in, int n, int h, int w, int c, int k,
    int stride, int pad, float *out)
{
	int oh = ir_cnn_outsize(h, k, stride, pad);
	int ow = ir_cnn_outsize(w, k, stride, pad);
	int pt = ir_cnn_padbefore(h, k, stride, pad);
	int pl = ir_cnn_padbefore(w, k, stride, pad);

	for (int b = 0; b < n; b++) {
		const float *img = in + (size_t)b * h * w * c;
		for (int oy = 0; oy < oh; oy++) {
			int y0 = oy * stride - pt, y1 = y0 + k;
			if (y0 < 0)
				y0 = 0;
			if (y1 > h)
				y1 = h;
			for (int ox = 0; ox < ow; ox++) {
				int x0 = ox * stride - pl, x1 = x0 + k;
				if (x0 < 0)
					x0 = 0;
				if (x1 > w)
					x1 = w;
				float *restrict o = out +
				    (((size_t)b * oh + oy) * ow + ox) * c;
				if (y1 - y0 == 2 && x1 - x0 == 2) {
					/* a full 2x2 window (the tiny
					 * detector's pools): one pass, in
					 * the order of the general loop */
					KV(max4)(img + ((size_t)y0 * w + x0) * c,
					    (size_t)w * c, c, o);
					continue;
				}
				for (int i = 0; i < c; i++)
					o[i] = -INFINITY;
				for (int y = y0; y < y1; y++)
					for (int x = x0; x < x1; x++) {
						const float *restrict p = img +
						    ((size_t)y * w + x) * c;
						for (int i = 0; i < c; i++)
							o[i] = p[i] > o[i] ?
							    p[i] : o[i];
					}
			}
		}
	}
}

#undef VF
