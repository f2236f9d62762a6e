/*
 * tinydet.c: TAP test of the tiny face detector's own kernels
 * (src/lib/tinydet.c) with its real weights (model/tiny_face_detector.irw):
 *
 *  - conv0 + pool (Winograd F(2x2,3x3), fused leaky ReLU and 2x2 max pool)
 *    against a double-precision direct convolution, on random inputs, in
 *    every CPU variant this machine has;
 *  - the row reuse of the forward pass (rows that repeat the row above are
 *    copied, not computed): the output grid must be bit for bit the one
 *    computed row by row, on landscape, portrait and square images, a real
 *    photo among them, at several input sizes.
 *
 * Face-api agreement of the whole detector is tests/unit/oracle.c's job.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn.h"
#include "facenets.h"
#include "image.h"
#include "model.h"
#include "util.h"
#include "tap.h"

static unsigned long long rs = 0x9e3779b97f4a7c15ull;

static double
rnd(void)  /* uniform in [-1, 1) */
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) / (double)(1ull << 52) - 1.0;
}

static char top[PATH_MAX];

/* The repository root: build/t/tinydet -> ../.. */
static void
find_top(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	strcpy(top, ".");
	if (n <= 0)
		return;
	exe[n] = 0;
	for (int i = 0; i < 3; i++) {
		char *s = strrchr(exe, '/');
		if (s)
			*s = 0;
	}
	snprintf(top, sizeof top, "%s", exe);
}

static double
leaky(double x)
{
	return x > 0 ? x : 0.1 * x;
}

/* conv0 (3x3 valid, HWIO w) + bias + leaky + 2x2/2 max pool, in double. */
static void
conv0_ref(const float *in, int S, const float *w, const float *b, double *out)
{
	int ph = (S - 2) / 2;

	for (int py = 0; py < ph; py++)
		for (int px = 0; px < ph; px++)
			for (int o = 0; o < 16; o++) {
				double m = -INFINITY;
				for (int d = 0; d < 4; d++) {
					int y = 2 * py + d / 2, x = 2 * px + d % 2;
					double s = b[o];
					for (int t = 0; t < 27; t++) {
						/* t = (ky * 3 + kx) * 3 + c */
						int ky = t / 9, kx = t / 3 % 3;
						size_t at = ((size_t)(y + ky) *
						    S + x + kx) * 3 + t % 3;
						s += (double)in[at] *
						    w[t * 16 + o];
					}
					s = leaky(s);
					if (s > m)
						m = s;
				}
				out[((size_t)py * ph + px) * 16 + o] = m;
			}
}

static void
test_conv0(const struct ir_tinydet *net, struct ir_model *m)
{
	static const char *vars[] = { "avx512", "avx2", "generic" };
	static const int sizes[] = { 8, 38, 64, 418 };
	char err[IR_ERRMAX];
	const float *w = ir_model_tensor(m, "conv0/filters", NULL, NULL, err);
	const float *b = ir_model_tensor(m, "conv0/bias", NULL, NULL, err);

	ok(w && b, "conv0 weights found");
	if (!w || !b)
		return;
	for (int si = 0; si < 4; si++) {
		int S = sizes[si], ph = (S - 2) / 2;
		size_t n = (size_t)ph * ph * 16;
		float *in = ir_xmalloc((size_t)S * S * 3 * sizeof *in);
		float *out = ir_xmalloc(n * sizeof *out);
		double *ref = ir_xmalloc(n * sizeof *ref);
		size_t nb = (ir_tinydet_conv0_buf(S) * sizeof(float) + 63) /
		    64 * 64;
		float *buf = aligned_alloc(64, nb);

		/* the detector's inputs: (pixel - mean) / 255 */
		for (size_t i = 0; i < (size_t)S * S * 3; i++)
			in[i] = (float)(0.5 * rnd());
		conv0_ref(in, S, w, b, ref);
		for (int v = 0; v < 3; v++) {
			if (!ir_cnn_cpu_has(vars[v])) {
				tap_n++;
				printf("ok %d # skip %s: not supported by this "
				    "CPU\n", tap_n, vars[v]);
				continue;
			}
			ir_cnn_set_cpu(vars[v], err);
			memset(out, 0xff, n * sizeof *out);  /* NaNs */
			ir_tinydet_conv0(net, in, S, buf, out);
			double worst = 0, mag = 0;
			for (size_t i = 0; i < n; i++) {
				double d = fabs(out[i] - ref[i]);
				if (!(d <= worst))
					worst = isnan(d) ? INFINITY : d;
				if (fabs(ref[i]) > mag)
					mag = fabs(ref[i]);
			}
			ok(worst < 1e-5 * (mag > 1 ? mag : 1),
			    "conv0 + pool %s, input %dx%d: worst difference "
			    "%.3g from the double reference (largest value "
			    "%.3g)", vars[v], S, S, worst, mag);
		}
		free(in);
		free(out);
		free(ref);
		free(buf);
	}
	for (int v = 0; v < 3; v++)  /* back to the best one */
		if (ir_cnn_cpu_has(vars[v])) {
			ir_cnn_set_cpu(vars[v], err);
			break;
		}
}

/* A w x h picture with structure: gradients, blocks and noise. */
static void
synth(struct ir_image *im, int w, int h)
{
	im->w = w;
	im->h = h;
	im->rgb = ir_xmalloc((size_t)w * h * 3);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				int v = (x * 255 / w + y * 128 / h +
				    ((x / 16 + y / 16) % 2) * 60 + c * 30) % 256;
				v += (int)(20 * rnd());
				im->rgb[((size_t)y * w + x) * 3 + c] =
				    (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
}

static void
test_reuse(const struct ir_tinydet *net)
{
	static const struct { int w, h, S; } cases[] = {
		{ 640, 480, 416 }, { 1920, 1080, 416 }, { 300, 100, 128 },
		{ 480, 640, 416 }, { 500, 500, 320 }, { 1000, 3, 64 },
		{ 641, 479, 608 },
	};
	char err[IR_ERRMAX], path[PATH_MAX + 64];
	struct ir_image photo;
	size_t ns = ir_tinydet_scratch(net, 608);
	float *s1 = aligned_alloc(64, (ns * sizeof(float) + 63) / 64 * 64);
	float *s2 = aligned_alloc(64, (ns * sizeof(float) + 63) / 64 * 64);

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct ir_image im;
		int S = cases[k].S, G = S / 32;
		size_t n = (size_t)G * G * 25;

		synth(&im, cases[k].w, cases[k].h);
		const float *g1 = ir_tinydet_grid(net, &im, S, 0, s1);
		const float *g2 = ir_tinydet_grid(net, &im, S, 1, s2);
		ok(memcmp(g1, g2, n * sizeof *g1) == 0,
		    "%dx%d at %d: output grid with row reuse identical to "
		    "computing every row", im.w, im.h, S);
		free(im.rgb);
	}
	snprintf(path, sizeof path, "%s/tests/data/faces640.jpg", top);
	int r = ir_image_load(path, 0, &photo, err);
	ok(r == IR_OK, "load %s (%s)", path, r ? err : "ok");
	if (r == IR_OK) {
		const float *g1 = ir_tinydet_grid(net, &photo, 416, 0, s1);
		const float *g2 = ir_tinydet_grid(net, &photo, 416, 1, s2);
		ok(memcmp(g1, g2, 13 * 13 * 25 * sizeof *g1) == 0,
		    "faces640.jpg at 416: grid with row reuse identical");
		free(photo.rgb);
	}
	free(s1);
	free(s2);
}

int
main(void)
{
	char err[IR_ERRMAX], path[PATH_MAX + 64];
	struct ir_model *m;
	struct ir_tinydet *net;

	find_top();
	snprintf(path, sizeof path, "%s/model/tiny_face_detector.irw", top);
	int r = ir_model_open(path, &m, err);
	ok(r == IR_OK, "open %s (%s)", path, r ? err : "ok");
	if (r != IR_OK) {
		printf("1..%d\n", tap_n);
		return 1;
	}
	r = ir_tinydet_load(m, &net, err);
	ok(r == IR_OK, "load the tiny face detector (%s)", r ? err : "ok");
	if (r != IR_OK) {
		printf("1..%d\n", tap_n);
		return 1;
	}
	test_conv0(net, m);
	test_reuse(net);
	ir_tinydet_free(net);
	ir_model_close(m);
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
