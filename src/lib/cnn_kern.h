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

/* Depthwise k x k conv with TF padding, vectorised over channels. */
static void
KV(dwconv)(const struct ir_dwconv *d, const float *in, int n, int h, int w,
    float *out)
{
	int k = d->k, c = d->c, s = d->stride;
	int oh = ir_cnn_outsize(h, k, s, d->pad);
	int ow = ir_cnn_outsize(w, k, s, d->pad);
	int pt = ir_cnn_padbefore(h, k, s, d->pad);
	int pl = ir_cnn_padbefore(w, k, s, d->pad);
	const float *restrict wt = d->w;

	for (int b = 0; b < n; b++) {
		const float *img = in + (size_t)b * h * w * c;
		for (int oy = 0; oy < oh; oy++) {
			int iy0 = oy * s - pt;
			for (int ox = 0; ox < ow; ox++) {
				int ix0 = ox * s - pl;
				float *restrict o = out +
				    (((size_t)b * oh + oy) * ow + ox) * c;
				if (k == 3 && iy0 >= 0 && ix0 >= 0 &&
				    iy0 + 3 <= h && ix0 + 3 <= w) {
					const float *r0 = img +
					    ((size_t)iy0 * w + ix0) * c;
					const float *r1 = r0 + (size_t)w * c;
					const float *r2 = r1 + (size_t)w * c;
					for (int i = 0; i < c; i++)
						o[i] = r0[i] * wt[i] +
						    r0[c + i] * wt[c + i] +
						    r0[2 * c + i] * wt[2 * c + i] +
						    r1[i] * wt[3 * c + i] +
						    r1[c + i] * wt[4 * c + i] +
						    r1[2 * c + i] * wt[5 * c + i] +
						    r2[i] * wt[6 * c + i] +
						    r2[c + i] * wt[7 * c + i] +
						    r2[2 * c + i] * wt[8 * c + i];
				} else {
					for (int i = 0; i < c; i++)
						o[i] = 0.0f;
					for (int ky = 0; ky < k; ky++) {
						int iy = iy0 + ky;
						if (iy < 0 || iy >= h)
							continue;
						for (int kx = 0; kx < k; kx++) {
							int ix = ix0 + kx;
							if (ix < 0 || ix >= w)
								continue;
							const float *ip = img +
							    ((size_t)iy * w + ix) * c;
							const float *wp = wt +
							    (size_t)(ky * k + kx) * c;
							for (int i = 0; i < c; i++)
								o[i] += ip[i] * wp[i];
						}
					}
				}
				if (d->scale || d->bias || d->act)
					KV(epilogue)(o, 1, c, d->scale,
					    d->bias, NULL, d->act);
			}
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

/* The optional epilogue of our GEMM: act(v*scale + bias + res). */
struct KV(ep) {
	const float *scale, *bias, *res;
	int ldr, act, on;
};

/*
 * One MR x (2*VW) block of C = A * B, MR <= 6 a compile-time constant
 * after inlining, so the accumulators stay in registers. The epilogue is
 * applied at the store; res is read before C is written, so res == C is
 * fine.
 */
static inline __attribute__((always_inline)) void
KV(gemm_block)(const int MR, int K, const float *A, int lda, const float *b,
    int ldb, float *c, int ldc, const struct KV(ep) *e, int j, int i)
{
	VF acc[6][2];
	const float *a[6];
	for (int r = 0; r < MR; r++) {
		acc[r][0] = acc[r][1] = (VF){0};
		a[r] = A + (size_t)r * lda;
	}
	for (int k = 0; k < K; k++, b += ldb) {
		VF b0 = *(const VF *)b;
		VF b1 = *(const VF *)(b + VW);
		for (int r = 0; r < MR; r++) {
			acc[r][0] += a[r][k] * b0;
			acc[r][1] += a[r][k] * b1;
		}
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
				const float *q = e->res + (size_t)(i + r) *
				    e->ldr + j;
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

/*
 * C[M][N] = act(A[M][K] * B[K][N] * scale + bias + res) (overwrites C;
 * scale, bias, res optional; res has row stride ldr and may equal C),
 * N % IR_PANEL == 0, B packed by pack_panels() (cnn.c): column j of row k
 * at Bp[(j / IR_PANEL) * K * IR_PANEL + k * IR_PANEL + j % IR_PANEL], so
 * each panel streams contiguously.
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
	const int ldb = IR_PANEL;
	for (int j = 0; j < N; j += 2 * VW) {
		/* B is packed in panels of IR_PANEL columns, K rows each */
		const float *B = Bp + (size_t)(j / IR_PANEL) * K * IR_PANEL -
		    (j / IR_PANEL) * IR_PANEL;
		int i = 0;
		for (; i + 6 <= M; i += 6)
			KV(gemm_block)(6, K, A + (size_t)i * lda, lda, B + j, ldb,
			    C + (size_t)i * ldc + j, ldc, &e, j, i);
		switch (M - i) {
		case 5:
			KV(gemm_block)(5, K, A + (size_t)i * lda, lda, B + j,
			    ldb, C + (size_t)i * ldc + j, ldc, &e, j, i);
			break;
		case 4:
			KV(gemm_block)(4, K, A + (size_t)i * lda, lda, B + j,
			    ldb, C + (size_t)i * ldc + j, ldc, &e, j, i);
			break;
		case 3:
			KV(gemm_block)(3, K, A + (size_t)i * lda, lda, B + j,
			    ldb, C + (size_t)i * ldc + j, ldc, &e, j, i);
			break;
		case 2:
			KV(gemm_block)(2, K, A + (size_t)i * lda, lda, B + j,
			    ldb, C + (size_t)i * ldc + j, ldc, &e, j, i);
			break;
		case 1:
			KV(gemm_block)(1, K, A + (size_t)i * lda, lda, B + j,
			    ldb, C + (size_t)i * ldc + j, ldc, &e, j, i);
			break;
		}
	}
}

/*
 * Winograd input transform of tiles t0..t0+nt-1 (global tile index over the
 * batch: t = (img*th + ty)*tw + tx): V[e][t - t0][cin] for e < (m+2)^2.
 * The input tile of (ty, tx) starts at (ty*m - 1, tx*m - 1) (pad 1).
 */
static void
KV(wino_in)(int m, const float *in, int h, int w, int cin, int th, int tw,
    int t0, int nt, float *V)
{
	int a = m + 2, ne = a * a;
	size_t es = (size_t)nt * cin; /* stride between elements e */
	VF z = {0};

	for (int t = 0; t < nt; t++) {
		int tt = t0 + t, img = tt / (th * tw), r = tt % (th * tw);
		int y0 = (r / tw) * m - 1, x0 = (r % tw) * m - 1;
		const float *base = in + (size_t)img * h * w * cin;
		float *vt = V + (size_t)t * cin;
		for (int c = 0; c < cin; c += VW) {
			VF d[36], q[36];
			for (int i = 0; i < a; i++) {
				int y = y0 + i;
				for (int j = 0; j < a; j++) {
					int x = x0 + j;
					d[i * a + j] = (y >= 0 && y < h && x >= 0 &&
					    x < w) ? *(const VF *)(base +
					    ((size_t)y * w + x) * cin + c) : z;
				}
			}
			if (m == 4) {
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
	(void)ne;
}

/*
 * Winograd output transform of tiles t0..t0+nt-1 from M[e][t - t0][cout],
 * with the epilogue act(v*scale + bias + res), into out (n x h x w x cout,
 * stride 1 same: the output has the input's size).
 */
static void
KV(wino_out)(int m, const float *Mt, int h, int w, int cout, int th, int tw,
    int t0, int nt, const float *scale, const float *bias, const float *res,
    int act, float *out)
{
	size_t es = (size_t)nt * cout;

	for (int t = 0; t < nt; t++) {
		int tt = t0 + t, img = tt / (th * tw), r = tt % (th * tw);
		int y0 = (r / tw) * m, x0 = (r % tw) * m;
		int my = h - y0 < m ? h - y0 : m, mx = w - x0 < m ? w - x0 : m;
		float *obase = out + (size_t)img * h * w * cout;
		const float *rbase = res ? res + (size_t)img * h * w * cout :
		    NULL;
		const float *mt = Mt + (size_t)t * cout;
		for (int c = 0; c < cout; c += VW) {
			VF y[16], q[24];
			VF sc = scale ? *(const VF *)(scale + c) : KV(splat)(1.0f);
			VF bi = bias ? *(const VF *)(bias + c) : KV(splat)(0.0f);
			if (m == 4) {
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
					VF v = y[4 * i + j] * sc + bi;
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

#undef VF
