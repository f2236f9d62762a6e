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

/* Input row y (S x 3, interleaved) into its ring slot: per channel the
 * even columns, then the odd ones, R floats each. */
static void
KV(conv0_row)(const float *restrict in, int S, int y, size_t R,
    float *restrict ring)
{
	const float *r = in + (size_t)y * S * 3;
	float *slot = ring + (size_t)(y & 3) * 3 * 2 * R;

	for (int c = 0; c < 3; c++) {
		float *e = slot + (size_t)c * 2 * R, *o = e + R;
		for (int j = 0; j < S / 2; j++) {
			e[j] = r[(2 * j) * 3 + c];
			o[j] = r[(2 * j + 1) * 3 + c];
		}
	}
}

/*
 * The max of each tile's 4 outputs in row, + bias, face-api's leaky ReLU
 * (m = 0.1f x; relu(x - m) + m, MODEL-SPEC 2.4, rounded as written: no
 * contraction), into out (nt x 16). Scalar code over the 16 channels,
 * which the compiler vectorises with the ISA's own compares and max (GCC
 * lowers 64-byte vector compares to scalar code on AVX2).
 */
#ifndef __clang__
__attribute__((optimize("fp-contract=off")))
#endif
static void
KV(max_leaky)(const float *restrict row, const float *restrict bias, int nt,
    float *restrict out)
{
	for (int px = 0; px < nt; px++) {
		const float *a = row + (size_t)px * 64;
		float *restrict o = out + (size_t)px * 16;
		for (int ch = 0; ch < 16; ch++) {
			float b = a[ch], q, m;
			q = a[16 + ch];
			b = q > b ? q : b;
			q = a[32 + ch];
			b = q > b ? q : b;
			q = a[48 + ch];
			b = q > b ? q : b;
			b = b + bias[ch];
			m = b * 0.1f;
			q = b - m;
			o[ch] = (q > 0.0f ? q : 0.0f) + m;
		}
	}
}

/*
 * conv0 + pool of an S x S x 3 input into out ((S-2)/2)^2 x 16; U the
 * Winograd weights (16 elements x 3 channels x 16), same[py] != 0: pooled
 * row py equals row py - 1 (copied, not computed; same may be NULL).
 * buf: conv0_buf(S) floats, 64-byte aligned: the ring (4 slots of
 * 3 x 2 x R floats), the transformed inputs of C0_TILES tiles (48
 * vectors) and their 2x2 outputs (C0_TILES x 64 floats).
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
	float *row = (float *)(V + 48);
	const float *Vf = (const float *)V;

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
			for (int i = 0; i < nt; i++) {
				const v16 *u = (const v16 *)U;
				v16 r0[4], r1[4];
				/* keeps the compiler from hoisting all 48
				 * weight vectors out of the loop into
				 * (spilled) registers */
				__asm__("" : "+r"(u));
				/* Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]: by
				 * columns x, r0 = M0x + M1x + M2x and
				 * r1 = M1x - M2x - M3x, then the same across x */
#define C0_M(e) (Vf[(e) * 48 + i] * u[(e) * 3] + \
	    Vf[(e) * 48 + 16 + i] * u[(e) * 3 + 1] + \
	    Vf[(e) * 48 + 32 + i] * u[(e) * 3 + 2])
#define C0_COL(x) do { \
		v16 m0 = C0_M(x), m1 = C0_M(4 + (x)); \
		v16 m2 = C0_M(8 + (x)), m3 = C0_M(12 + (x)); \
		r0[x] = m0 + m1 + m2; \
		r1[x] = m1 - m2 - m3; \
	} while (0)
				C0_COL(0);
				C0_COL(1);
				C0_COL(2);
				C0_COL(3);
#undef C0_COL
#undef C0_M
				v16 *y = (v16 *)(row + (size_t)i * 64);
				y[0] = r0[0] + r0[1] + r0[2];
				y[1] = r0[1] - r0[2] - r0[3];
				y[2] = r1[0] + r1[1] + r1[2];
				y[3] = r1[1] - r1[2] - r1[3];
			}
			KV(max_leaky)(row, bias, nt,
			    out + ((size_t)py * ph + px0) * 16);
		}
	}
}
