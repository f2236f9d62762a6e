/*
 * resize.c: toBatchTensor of resize.h: pad to square (bottom/right or
 * centered) and TF legacy bilinear resize, plus the input normalisations
 * (fused into the same pass by ir_resize_batch_tensor_norm).
 *
 * Invariants: the padded square is never materialised; a padded pixel
 * reads as 0. Interpolation runs in double and is stored as float, as
 * tfjs-cpu does, so the float tensor equals face-api's; normalisation is
 * float32 in tfjs's order. Nothing allocates (tables and line buffers are
 * on the stack, a few KB).
 *
 * How (the output is bit-identical to the per-pixel formula
 *   top = tl + (tr - tl) * fx, bot = bl + (br - bl) * fx,
 *   v = (float)(top + (bot - top) * fy), all double):
 * the output is made in strips of at most STRIP columns. Per strip, each
 * output column's source columns x0, x1 and weight fx are computed once;
 * each source row the strip needs is interpolated horizontally once into
 * a line of doubles (top or bot; two lines are cached, so output rows
 * sharing a source row reuse it), only the columns whose sources reach
 * into the padding test bounds (the interior 2 or 1 columns per vector as
 * the engine's CPU variant allows: hline_avx512, hline_avx2); each output
 * row is then one vertical lerp of two lines with the float conversion
 * and the normalisation in the same loop. Output rows whose two source rows are both padding are the
 * constant normalised 0, written without interpolating.
 */
#include <math.h>
#include <string.h>

#include "cnn.h"
#include "resize.h"

/* Doubles of the interpolation must not be contracted to FMAs. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("O3", "fp-contract=off")
#endif

/* Output columns per strip: bounds the stack tables (~28 KB). */
#define STRIP 256

struct src {
	const unsigned char *rgb;
	int stride;     /* image width in pixels */
	int x, y, w, h; /* the crop */
	int bx, by;     /* padding lines before the crop (left, top) */
};

/* The normalisation as applied: mode 0 none, 1 (v - m) / d, 2 also + a. */
struct nrm {
	int mode;
	float div, add;
	float mean[3];
	float zero[3];  /* the normalised 0 of each channel (padding) */
};

static void
nrm_init(struct nrm *q, const struct ir_resize_norm *norm)
{
	memset(q, 0, sizeof *q);
	if (norm == NULL)
		return;
	q->mode = norm->add != 0.0f ? 2 : 1;
	q->div = norm->div;
	q->add = norm->add;
	for (int c = 0; c < 3; c++) {
		q->mean[c] = norm->mean[c];
		float z = (0.0f - q->mean[c]) / q->div;
		if (q->mode == 2)
			z = z + q->add;
		q->zero[c] = z;
	}
}

/* npix pixels of the normalised 0 (the padding value). */
static void
fill_zero(const struct nrm *q, float *o, size_t npix)
{
	if (q->mode == 0) {
		memset(o, 0, npix * 3 * sizeof(float));
		return;
	}
	for (size_t p = 0; p < npix; p++)
		for (int c = 0; c < 3; c++)
			o[p * 3 + c] = q->zero[c];
}

/*
 * o[i] = norm((float)(t[i] + (b[i] - t[i]) * fy)) for i < m (m values,
 * channels cycling from 0; fm: the channel means repeated, m long).
 */
/* Wider vectors for the two hot loops (contraction stays off). */
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES static void
vlerp(const struct nrm *q, const double *restrict t,
    const double *restrict b, double fy, const float *restrict fm, int m,
    float *restrict o)
{
	float div = q->div, add = q->add;

	switch (q->mode) {
	case 0:
		for (int i = 0; i < m; i++)
			o[i] = (float)(t[i] + (b[i] - t[i]) * fy);
		break;
	case 1:
		for (int i = 0; i < m; i++) {
			float v = (float)(t[i] + (b[i] - t[i]) * fy);
			o[i] = (v - fm[i]) / div;
		}
		break;
	default:
		for (int i = 0; i < m; i++) {
			float v = (float)(t[i] + (b[i] - t[i]) * fy);
			v = (v - fm[i]) / div;
			o[i] = v + add;
		}
		break;
	}
}

/* The strip's column tables: source columns in crop coordinates. */
struct cols {
	int m;             /* columns in the strip */
	int ja, jb;        /* [ja, jb): both sources inside the crop */
	int jv;            /* [ja, jv): the pixel after x1 is inside too */
	int vec;           /* vec_cols(), asked once per call */
	int x0[STRIP], x1[STRIP];
	double fx[STRIP];
	double fx4[STRIP * 4];  /* fx[j] four times, for hline_avx512 */
};

/* u8d[v] = (double)v: a load is cheaper than a conversion here. */
#define U1(i) (double)(i)
#define U4(i) U1(i), U1(i + 1), U1(i + 2), U1(i + 3)
#define U16(i) U4(i), U4(i + 4), U4(i + 8), U4(i + 12)
#define U64(i) U16(i), U16(i + 16), U16(i + 32), U16(i + 48)
static const double u8d[256] = { U64(0), U64(64), U64(128), U64(192) };

#if defined(__x86_64__)
#include <immintrin.h>

/*
 * The interior columns [j, k->jv) where the pixel after x1 is in the crop
 * too, 4 lanes at a time: a pixel's 3 bytes and the next byte widened to
 * 4 doubles, the same operations as hline's, lane by lane (no FMA); the
 * 4th lane lands in H[j*3 + 3], which column j+1 or the line's spare
 * double overwrites. Returns k->jv.
 */
__attribute__((target("avx2"))) static int
hline_avx2(const unsigned char *row, const struct cols *k, int j,
    double *restrict H)
{
	for (; j < k->jv; j++) {
		int a, b;
		memcpy(&a, row + k->x0[j] * 3, 4);
		memcpy(&b, row + k->x1[j] * 3, 4);
		__m256d l = _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(
		    _mm_cvtsi32_si128(a)));
		__m256d r = _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(
		    _mm_cvtsi32_si128(b)));
		__m256d h = _mm256_add_pd(l, _mm256_mul_pd(_mm256_sub_pd(r, l),
		    _mm256_set1_pd(k->fx[j])));
		_mm256_storeu_pd(H + j * 3, h);
	}
	return j;
}

/*
 * hline_avx2 two columns at a time in the two halves of 512-bit vectors
 * (same operations lane by lane, no FMA), each half stored as hline_avx2
 * stores one column. Returns the first column it left to hline_avx2.
 */
__attribute__((target("avx512f"))) static int
hline_avx512(const unsigned char *row, const struct cols *k, int j,
    double *restrict H)
{
	for (; j + 1 < k->jv; j += 2) {
		int a0, a1, b0, b1;
		memcpy(&a0, row + k->x0[j] * 3, 4);
		memcpy(&a1, row + k->x0[j + 1] * 3, 4);
		memcpy(&b0, row + k->x1[j] * 3, 4);
		memcpy(&b1, row + k->x1[j + 1] * 3, 4);
		__m512d l = _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(
		    _mm_unpacklo_epi32(_mm_cvtsi32_si128(a0),
		    _mm_cvtsi32_si128(a1))));
		__m512d r = _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(
		    _mm_unpacklo_epi32(_mm_cvtsi32_si128(b0),
		    _mm_cvtsi32_si128(b1))));
		__m512d h = _mm512_add_pd(l, _mm512_mul_pd(_mm512_sub_pd(r, l),
		    _mm512_loadu_pd(k->fx4 + j * 4)));
		_mm256_storeu_pd(H + j * 3, _mm512_castpd512_pd256(h));
		_mm256_storeu_pd(H + j * 3 + 3, _mm512_extractf64x4_pd(h, 1));
	}
	return j;
}

/* Interior columns per vector hline may use (2: hline_avx512, 1:
 * hline_avx2, 0: neither), from the engine's CPU variant (cnn.h: chosen
 * from the CPU, IR_CPU, or ir_cnn_set_cpu, so tests can run each path). */
static int
vec_cols(void)
{
	const char *v = ir_cnn_cpu();
	return strcmp(v, "avx512") == 0 ? 2 : strcmp(v, "avx2") == 0;
}
#else
static int
hline_avx512(const unsigned char *row, const struct cols *k, int j,
    double *restrict H)
{
	return j;
}

static int
hline_avx2(const unsigned char *row, const struct cols *k, int j,
    double *restrict H)
{
	return j;
}

static int
vec_cols(void)
{
	return 0;
}
#endif

/*
 * H[j*3 + c] = tl + (tr - tl) * fx[j] along crop row yc (outside the
 * crop: all 0). H has room for one double more than the strip's values.
 */
CLONES static void
hline(const struct src *s, const struct cols *k, int yc,
    double *restrict H)
{
	if (yc < 0 || yc >= s->h) {
		memset(H, 0, (size_t)k->m * 3 * sizeof(double));
		return;
	}
	const unsigned char *row = s->rgb + ((size_t)(s->y + yc) * s->stride +
	    s->x) * 3;
	for (int j = 0; j < k->m; j++) {
		if (j == k->ja) {
			if (k->vec == 2)
				j = hline_avx512(row, k, j, H);
			if (k->vec >= 1)
				j = hline_avx2(row, k, j, H);
			/* the rest of the interior: no bounds tests */
			for (; j < k->jb; j++) {
				const unsigned char *p0 = row + k->x0[j] * 3;
				const unsigned char *p1 = row + k->x1[j] * 3;
				double f = k->fx[j];
				for (int c = 0; c < 3; c++) {
					double l = u8d[p0[c]], r = u8d[p1[c]];
					H[j * 3 + c] = l + (r - l) * f;
				}
			}
			if (j >= k->m)
				break;
		}
		int a = k->x0[j], b = k->x1[j];
		int va = a >= 0 && a < s->w, vb = b >= 0 && b < s->w;
		for (int c = 0; c < 3; c++) {
			double l = va ? row[a * 3 + c] : 0.0;
			double r = vb ? row[b * 3 + c] : 0.0;
			H[j * 3 + c] = l + (r - l) * k->fx[j];
		}
	}
}

/* n == size: the padded square itself, normalised. */
static void
pass_through(const struct src *s, int size, const struct nrm *q, float *out)
{
	for (int yy = 0; yy < size; yy++) {
		float *o = out + (size_t)yy * size * 3;
		int yc = yy - s->by;
		if (yc < 0 || yc >= s->h) {
			fill_zero(q, o, (size_t)size);
			continue;
		}
		const unsigned char *row = s->rgb + ((size_t)(s->y + yc) *
		    s->stride + s->x) * 3;
		int xa = s->bx, xb = s->bx + s->w; /* crop columns */
		fill_zero(q, o, (size_t)xa);
		for (int xx = xa; xx < xb; xx++)
			for (int c = 0; c < 3; c++) {
				float v = (float)row[(xx - xa) * 3 + c];
				if (q->mode >= 1)
					v = (v - q->mean[c]) / q->div;
				if (q->mode == 2)
					v = v + q->add;
				o[xx * 3 + c] = v;
			}
		fill_zero(q, o + (size_t)xb * 3, (size_t)(size - xb));
	}
}

static void
one(const struct ir_image *img, const int *crop, int size, int centered,
    const struct nrm *q, float *out)
{
	struct src s;
	int x = 0, y = 0, w = img->w, h = img->h;

	if (crop) {
		x = crop[0], y = crop[1], w = crop[2], h = crop[3];
		if (x < 0)
			w += x, x = 0;
		if (y < 0)
			h += y, y = 0;
		if (x + w > img->w)
			w = img->w - x;
		if (y + h > img->h)
			h = img->h - y;
	}
	if (w <= 0 || h <= 0 || x >= img->w || y >= img->h) {
		fill_zero(q, out, (size_t)size * size);
		return;
	}
	s.rgb = img->rgb, s.stride = img->w;
	s.x = x, s.y = y, s.w = w, s.h = h;
	s.bx = s.by = 0;
	int n = w > h ? w : h, d = n - (w > h ? h : w);
	if (centered && d > 0) {
		int after = (int)floor(d / 2.0 + 0.5); /* JS Math.round */
		if (w < h)
			s.bx = d - after;
		else
			s.by = d - after;
	}
	if (n == size) {
		pass_through(&s, size, q, out);
		return;
	}

	double ratio = (double)n / size;
	struct cols k;
	k.vec = vec_cols();
	double line[2][STRIP * 3 + 1];
	float fm[STRIP * 3];
	for (int i = 0; i < STRIP * 3; i++)
		fm[i] = q->mean[i % 3];

	for (int c0 = 0; c0 < size; c0 += STRIP) {
		k.m = size - c0 < STRIP ? size - c0 : STRIP;
		k.ja = k.m, k.jb = k.m;
		for (int j = 0; j < k.m; j++) {
			double sx = ratio * (c0 + j);
			int x0 = (int)floor(sx);
			int x1 = (int)ceil(sx);
			if (x1 > n - 1)
				x1 = n - 1;
			k.fx[j] = sx - x0;
			for (int i = 0; i < 4; i++)
				k.fx4[j * 4 + i] = k.fx[j];
			k.x0[j] = x0 - s.bx;
			k.x1[j] = x1 - s.bx;
		}
		/* sources are nondecreasing in j: the interior is a range */
		for (int j = 0; j < k.m; j++)
			if (k.x0[j] >= 0) {
				k.ja = j;
				break;
			}
		k.jb = k.ja;
		while (k.jb < k.m && k.x1[k.jb] < s.w)
			k.jb++;
		k.jv = k.ja;
		while (k.jv < k.jb && k.x1[k.jv] + 1 < s.w)
			k.jv++;

		int cached[2] = { -1, -1 }; /* crop row held by line[i] */
		int ok[2] = { 0, 0 };
		for (int r = 0; r < size; r++) {
			double sy = ratio * r;
			int y0 = (int)floor(sy);
			int y1 = (int)ceil(sy);
			if (y1 > n - 1)
				y1 = n - 1;
			double fy = sy - y0;
			float *o = out + ((size_t)r * size + c0) * 3;
			int r0 = y0 - s.by, r1 = y1 - s.by;
			if ((r0 < 0 || r0 >= s.h) && (r1 < 0 || r1 >= s.h)) {
				fill_zero(q, o, (size_t)k.m);
				continue;
			}
			/* the lines of r0 (top) and r1 (bot) */
			int it, ib;
			if (ok[0] && cached[0] == r0)
				it = 0;
			else if (ok[1] && cached[1] == r0)
				it = 1;
			else {
				it = ok[0] && cached[0] == r1 ? 1 : 0;
				hline(&s, &k, r0, line[it]);
				cached[it] = r0, ok[it] = 1;
			}
			if (r1 == r0)
				ib = it;
			else if (ok[1 - it] && cached[1 - it] == r1)
				ib = 1 - it;
			else {
				ib = 1 - it;
				hline(&s, &k, r1, line[ib]);
				cached[ib] = r1, ok[ib] = 1;
			}
			vlerp(q, line[it], line[ib], fy, fm, k.m * 3, o);
		}
	}
}

void
ir_resize_batch_tensor_norm(const struct ir_image *img, const int *crops,
    int n, int size, int centered, const struct ir_resize_norm *norm,
    float *out)
{
	struct nrm q;

	nrm_init(&q, norm);
	for (int i = 0; i < n; i++)
		one(img, crops ? crops + 4 * i : NULL, size, centered, &q,
		    out + (size_t)i * size * size * 3);
}

void
ir_resize_batch_tensor(const struct ir_image *img, const int *crops, int n,
    int size, int centered, float *out)
{
	ir_resize_batch_tensor_norm(img, crops, n, size, centered, NULL, out);
}

void
ir_resize_normalize(float *x, size_t npix, const float mean[3], float scale)
{
	for (size_t p = 0; p < npix; p++)
		for (int c = 0; c < 3; c++)
			x[p * 3 + c] = (x[p * 3 + c] - mean[c]) * scale;
}

void
ir_resize_normalize_div(float *x, size_t npix, const float mean[3],
    float div)
{
	for (size_t p = 0; p < npix; p++)
		for (int c = 0; c < 3; c++)
			x[p * 3 + c] = (x[p * 3 + c] - mean[c]) / div;
}

void
ir_resize_scale(float *x, size_t count, float mul, float add)
{
	for (size_t i = 0; i < count; i++)
		x[i] = x[i] * mul + add;
}
