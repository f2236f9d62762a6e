/*
 * tinydet_kern.h: PRIVATE to tinydet.c, not an interface. The tiny face
 * detector's fused first layer (conv0 + its pool, see conv0_pool in
 * tinydet.c), included once per CPU variant by cnn_variants.h: KV(name)
 * is the variant's symbol, VW its vector width (unused: the 16 output
 * channels are one 64-byte GCC vector, which each ISA splits as it must).
 *
 * Invariants: no allocation, no globals; works in the caller's buffer.
 */

typedef float KV(v16) __attribute__((vector_size(64)));
typedef float KV(v16u) __attribute__((vector_size(64), aligned(4)));

/* A two-source shuffle of 16-float vectors with 16 constant indices
 * (0-15 the first vector, 16-31 the second), in GCC's and clang's words. */
#ifndef C0_SHUF
#ifdef __clang__
#define C0_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define C0_SHUF(a, b, ...) __builtin_shuffle(a, b, \
	(__attribute__((vector_size(64))) int){ __VA_ARGS__ })
#endif
#endif

/* Input row y (S x 3, interleaved) into its ring slot: per channel the
 * even columns, then the odd ones, R floats each. */
static void
KV(conv0_row)(const float *restrict in, int S, int y, size_t R,
    float *restrict ring)
{
	const float *restrict r = in + (size_t)y * S * 3;
	float *slot = ring + (size_t)(y & 3) * 3 * 2 * R;
	float *restrict e0 = slot, *restrict o0 = e0 + R;
	float *restrict e1 = o0 + R, *restrict o1 = e1 + R;
	float *restrict e2 = o1 + R, *restrict o2 = e2 + R;

	int j = 0;
#if VW == 16
	/* 32 pixels (6 vectors, R G B interleaved) at a time, split by
	 * two-source shuffles: channels apart (indices 3p + c, from a0|a1
	 * then a2), then even and odd pixels apart */
	typedef KV(v16) v16;
	typedef KV(v16u) v16u;

	for (; j + 16 <= S / 2; j += 16) {
		const float *q = r + (size_t)6 * j;
		v16 a[6], lo, hi;
		for (int k = 0; k < 6; k++)
			a[k] = *(const v16u *)(q + 16 * k);
#define C0_CH(c, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, y0, y1, y2, \
	    y3, y4, y5, e, o) do { \
		lo = C0_SHUF(C0_SHUF(a[0], a[1], x0, x1, x2, x3, x4, x5, x6, \
		    x7, x8, x9, x10, 0, 0, 0, 0, 0), a[2], 0, 1, 2, 3, 4, 5, \
		    6, 7, 8, 9, y0, y1, y2, y3, y4, y5); \
		hi = C0_SHUF(C0_SHUF(a[3], a[4], x0, x1, x2, x3, x4, x5, x6, \
		    x7, x8, x9, x10, 0, 0, 0, 0, 0), a[5], 0, 1, 2, 3, 4, 5, \
		    6, 7, 8, 9, y0, y1, y2, y3, y4, y5); \
		*(v16u *)((e) + j) = C0_SHUF(lo, hi, 0, 2, 4, 6, 8, 10, 12, \
		    14, 16, 18, 20, 22, 24, 26, 28, 30); \
		*(v16u *)((o) + j) = C0_SHUF(lo, hi, 1, 3, 5, 7, 9, 11, 13, \
		    15, 17, 19, 21, 23, 25, 27, 29, 31); \
	} while (0)
		/* R: 3p for p < 11 from a0|a1, the rest from a2 (1, 4, ..
		 * 13); G: 3p + 1 likewise; B: 3p + 2, p < 10, then a2's
		 * 0, 3, .. 15. Index 10 of the second shuffle takes the
		 * first's 11th value for R and G, a2's for B. */
		C0_CH(0, 0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30,
		    10, 17, 20, 23, 26, 29, e0, o0);
		C0_CH(1, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31,
		    10, 18, 21, 24, 27, 30, e1, o1);
		C0_CH(2, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0,
		    16, 19, 22, 25, 28, 31, e2, o2);
#undef C0_CH
	}
#endif
	for (; j < S / 2; j++) {
		e0[j] = r[6 * j];
		e1[j] = r[6 * j + 1];
		e2[j] = r[6 * j + 2];
		o0[j] = r[6 * j + 3];
		o1[j] = r[6 * j + 4];
		o2[j] = r[6 * j + 5];
	}
}

/* *out = the elementwise max of y[0..3] (lanes: tiles), in the order
 * the direct convolution's pool takes it. */
static inline void
KV(max4)(const KV(v16) *y, KV(v16) *out)
{
	const float *a = (const float *)y;
	float *o = (float *)out;

	for (int l = 0; l < 16; l++) {
		float b = a[l], q;
		q = a[16 + l];
		b = q > b ? q : b;
		q = a[32 + l];
		b = q > b ? q : b;
		q = a[48 + l];
		o[l] = q > b ? q : b;
	}
}

/* Transposes the 16 x 16 matrix t (row r = t[r]) in place: at block
 * sizes 8, 4, 2, 1 the off-diagonal blocks of each 2b x 2b block swap. */
static inline void
KV(transpose16)(KV(v16) *t)
{
#define TR_STAGE(b, LO, HI) do { \
		for (int r = 0; r < 16; r++) \
			if ((r & (b)) == 0) { \
				KV(v16) p = t[r], q = t[r + (b)]; \
				t[r] = C0_SHUF(p, q, LO); \
				t[r + (b)] = C0_SHUF(p, q, HI); \
			} \
	} while (0)
#define L(...) __VA_ARGS__
	/* new row r: p at j where (j & b) == 0, else q at j - b; new row
	 * r + b: p at j + b where (j & b) == 0, else q at j */
	TR_STAGE(8, L(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
	    L(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
	TR_STAGE(4, L(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
	    L(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31));
	TR_STAGE(2, L(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
	    L(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31));
	TR_STAGE(1, L(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
	    L(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
#undef L
#undef TR_STAGE
}

/*
 * o[t][ch] = leaky(o[t][ch] + bias[ch]) for nt tiles, face-api's leaky
 * ReLU (m = 0.1f x; relu(x - m) + m, MODEL-SPEC 2.4) rounded as written:
 * no contraction. Adding the bias after the max is exact (both are
 * monotonic).
 */
#ifndef __clang__
__attribute__((optimize("fp-contract=off")))
#endif
static void
KV(bias_leaky)(const float *restrict bias, int nt, float *restrict o)
{
	for (int t = 0; t < nt; t++, o += 16)
		for (int ch = 0; ch < 16; ch++) {
			float b = o[ch] + bias[ch], m = b * 0.1f, q = b - m;
			o[ch] = (q > 0.0f ? q : 0.0f) + m;
		}
}

/*
 * conv0 + pool of an S x S x 3 input into out ((S-2)/2)^2 x 16; U the
 * Winograd weights (16 elements x 3 channels x 16), same[py] != 0: pooled
 * row py equals row py - 1 (copied, not computed; same may be NULL).
 * buf: conv0_buf(S) floats, 64-byte aligned: the ring (4 slots of
 * 3 x 2 x R floats), then vectors of C0_TILES lanes: the transformed
 * inputs V (48), the column sums Rb (4 x 2 x 16) and the pooled outputs
 * T (16, channels x tiles, transposed in place).
 */
static void
KV(conv0_pool)(const float *restrict in, int S, const float *restrict U,
    const float *restrict bias, const unsigned char *same,
    float *restrict buf, float *restrict out)
{
	typedef KV(v16) v16;
	typedef KV(v16u) v16u;
	int ph = (S - 2) / 2, loaded = 0;
	size_t R = C0_RING(S);
	float *ring = buf;
	v16 *V = (v16 *)(ring + 4 * 3 * 2 * R);
	v16 (*Rb)[2][16] = (v16 (*)[2][16])(V + 48);
	v16 *T = V + 48 + 4 * 2 * 16;

	/* the lanes past the last column are computed and never used */
	memset(ring, 0, 4 * 3 * 2 * R * sizeof *ring);
	for (int py = 0; py < ph; py++) {
		if (same != NULL && same[py]) {
			memcpy(out + (size_t)py * ph * 16,
			    out + (size_t)(py - 1) * ph * 16,
			    (size_t)ph * 16 * sizeof *out);
			continue;
		}
		if (loaded < 2 * py)
			loaded = 2 * py;
		for (; loaded < 2 * py + 4; loaded++)
			KV(conv0_row)(in, S, loaded, R, ring);
		for (int px0 = 0; px0 < ph; px0 += C0_TILES) {
			int nt = ph - px0 < C0_TILES ? ph - px0 : C0_TILES;
			/* V = B^T d B of 16 tiles, lane i = tile px0 + i,
			 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
			for (int c = 0; c < 3; c++) {
				v16 t[4][4];
				for (int dy = 0; dy < 4; dy++) {
					const float *e = ring + ((size_t)((2 *
					    py + dy) & 3) * 3 + c) * 2 * R + px0;
					const float *o = e + R;
					v16 d0 = *(const v16u *)e;
					v16 d1 = *(const v16u *)o;
					v16 d2 = *(const v16u *)(e + 1);
					v16 d3 = *(const v16u *)(o + 1);
					t[dy][0] = d0 - d2;
					t[dy][1] = d1 + d2;
					t[dy][2] = d2 - d1;
					t[dy][3] = d1 - d3;
				}
				for (int dx = 0; dx < 4; dx++) {
					V[(0 + dx) * 3 + c] = t[0][dx] - t[2][dx];
					V[(4 + dx) * 3 + c] = t[1][dx] + t[2][dx];
					V[(8 + dx) * 3 + c] = t[2][dx] - t[1][dx];
					V[(12 + dx) * 3 + c] = t[1][dx] - t[3][dx];
				}
			}
			/* M = U . V per element, lanes = the 16 tiles, by
			 * columns x of the 4x4 elements: r0 = M0x + M1x + M2x
			 * and r1 = M1x - M2x - M3x (A^T = [1 1 1 0;
			 * 0 1 -1 -1]) for every output channel o into Rb;
			 * each weight is a broadcast scalar and the 12
			 * element vectors of a column stay in registers */
			for (int x = 0; x < 4; x++) {
				v16 v[4][3];
				for (int ey = 0; ey < 4; ey++)
					for (int c = 0; c < 3; c++)
						v[ey][c] = V[(ey * 4 + x) * 3 + c];
				for (int o = 0; o < 16; o++) {
					v16 m[4];
					for (int ey = 0; ey < 4; ey++) {
						const float *u = U +
						    (size_t)(ey * 4 + x) * 48 + o;
						m[ey] = v[ey][0] * u[0] +
						    v[ey][1] * u[16] +
						    v[ey][2] * u[32];
					}
					Rb[x][0][o] = m[0] + m[1] + m[2];
					Rb[x][1][o] = m[1] - m[2] - m[3];
				}
			}
			/* the same across x gives the 2x2 outputs; their max
			 * (the pool) per channel, then tiles x channels
			 * transposed into the output rows */
			for (int o = 0; o < 16; o++) {
				v16 y[4];
				y[0] = Rb[0][0][o] + Rb[1][0][o] + Rb[2][0][o];
				y[1] = Rb[1][0][o] - Rb[2][0][o] - Rb[3][0][o];
				y[2] = Rb[0][1][o] + Rb[1][1][o] + Rb[2][1][o];
				y[3] = Rb[1][1][o] - Rb[2][1][o] - Rb[3][1][o];
				KV(max4)(y, &T[o]);
			}
			KV(transpose16)(T);
			for (int i = 0; i < nt; i++)
				*(v16u *)(out + ((size_t)py * ph + px0 + i) *
				    16) = T[i];
			KV(bias_leaky)(bias, nt,
			    out + ((size_t)py * ph + px0) * 16);
		}
	}
}
