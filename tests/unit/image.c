/*
 * image.c: TAP tests of image decoding (src/lib/image.c) on the small
 * files in tests/data/images (made by its make-files script): exact PPM
 * pixels, JPEG baseline/progressive/grayscale/CMYK against the decoded
 * original, PNG alpha onto white, 16-bit gray, palette with tRNS, and
 * every refusal (empty, text, truncated JPEG and PNG, a lying header,
 * the pixel limit, bad PPM headers).
 * Then the IR_JPEG_FACEAPI decoder's pixels against jpeg-js's, value for
 * value: every file in
 * tests/data/jpeg (each sampling layout, odd sizes, progressive, restart
 * markers, gray, Adobe RGB/CMYK/YCCK; jpeg-js's pixels committed beside
 * them), the 8 reference photos and the 100 course images (jpeg-js's
 * pixels written into tests/out/jpeg by node when absent, as the oracle
 * test does). Run from the top of the tree (or with IR_TOP set to it).
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "tap.h"

static char dir[4200];

static int
load(const char *name, long max, struct ir_image *im, char *err)
{
	char p[8400];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return ir_image_load(p, max, im, err);
}

/* Mean absolute difference per channel value; -1 if the sizes differ. */
static double
mad(const struct ir_image *a, const struct ir_image *b)
{
	double s = 0;
	size_t i, n = (size_t)a->w * a->h * 3;

	if (a->w != b->w || a->h != b->h)
		return -1;
	for (i = 0; i < n; i++)
		s += abs(a->rgb[i] - b->rgb[i]);
	return s / n;
}

static int
px(const struct ir_image *im, int x, int y, int r, int g, int b)
{
	const unsigned char *p = im->rgb + ((size_t)y * im->w + x) * 3;

	return p[0] == r && p[1] == g && p[2] == b;
}

/*
 * Values (of w*h*3) in which our decoding of jpg differs from the PPM
 * jpeg-js made of it; -1 if either does not load or the sizes differ.
 */
static long
jsdiff(const char *jpg, const char *ppm)
{
	struct ir_image a, b;
	char err[IR_ERRMAX];
	long d = -1;
	size_t i, n;

	if (ir_image_load_with(jpg, 0, IR_JPEG_FACEAPI, &a, err) != IR_OK) {
		printf("# %s: %s\n", jpg, err);
		return -1;
	}
	if (ir_image_load(ppm, 0, &b, err) != IR_OK) {
		printf("# %s: %s\n", ppm, err);
		ir_image_free(&a);
		return -1;
	}
	if (a.w == b.w && a.h == b.h) {
		n = (size_t)a.w * a.h * 3;
		for (i = 0, d = 0; i < n; i++)
			d += a.rgb[i] != b.rgb[i];
	}
	ir_image_free(&a);
	ir_image_free(&b);
	return d;
}

/* Basename of path without its extension, into buf. */
static const char *
stem(const char *path, char *buf, size_t size)
{
	const char *s = strrchr(path, '/');
	char *dot;

	snprintf(buf, size, "%s", s ? s + 1 : path);
	if ((dot = strrchr(buf, '.')) != NULL)
		*dot = 0;
	return buf;
}

/*
 * jpeg-js's pixels of the JPEGs matching pattern (relative to the top),
 * written by node into outdir unless probe is there already.
 */
static int
js_ppms(const char *top, const char *tool, const char *pattern,
    const char *outdir, const char *probe)
{
	char cmd[16384], p[8192];
	struct stat st;

	snprintf(p, sizeof p, "%s/%s", outdir, probe);
	if (stat(p, &st) == 0 && st.st_size > 0)
		return 0;
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cd '%s/tests/tools' && "
	    "NODE_PATH='%s/tests/node/node_modules' OUT='%s' node %s "
	    "'%s'/%s", outdir, top, top, outdir, tool, top, pattern);
	return system(cmd);
}

/* Each JPEG matching pattern against outdir/NAME.ppm: one test each, or
 * with what set, one test for all of them. */
static void
js_compare(const char *pattern, const char *outdir, const char *what)
{
	glob_t g;
	char name[1024], ppm[8192], msg[9000];
	size_t i, bad = 0;
	long d, total = 0;

	if (glob(pattern, 0, NULL, &g) != 0) {
		ok(0, "%s", pattern);
		return;
	}
	for (i = 0; i < g.gl_pathc; i++) {
		snprintf(ppm, sizeof ppm, "%s/%s.ppm", outdir,
		    stem(g.gl_pathv[i], name, sizeof name));
		d = jsdiff(g.gl_pathv[i], ppm);
		if (what == NULL) {
			snprintf(msg, sizeof msg, "%s: pixels identical to "
			    "jpeg-js's (%ld values differ)", name, d);
			ok(d == 0, "%s", msg);
		} else if (d != 0 && ++bad <= 5) {
			printf("# %s: %ld values differ from jpeg-js's\n", name,
			    d);
		}
		if (d > 0)
			total += d;
	}
	if (what != NULL) {
		snprintf(msg, sizeof msg, "%s: all %zu pixel-identical to "
		    "jpeg-js's (%zu differ, %ld values)", what, g.gl_pathc, bad,
		    total);
		ok(bad == 0 && g.gl_pathc > 0, "%s", msg);
	}
	globfree(&g);
}

static void
refused(const char *name, long max, const char *want)
{
	struct ir_image im;
	char err[IR_ERRMAX], what[1200], p[8400];
	int rc;

	for (int jpeg = IR_JPEG_LIBJPEG; jpeg <= IR_JPEG_FACEAPI; jpeg++) {
		err[0] = 0;
		snprintf(p, sizeof p, "%s/%s", dir, name);
		rc = ir_image_load_with(p, max, jpeg, &im, err);
		snprintf(what, sizeof what, "%s refused%s: \"%s\" (got \"%s\")",
		    name, jpeg ? " (IR_JPEG_FACEAPI)" : "", want, err);
		ok(rc == IR_EINVAL && strstr(err, want) != NULL &&
		    im.rgb == NULL && im.w == 0, "%s", what);
	}
}

static void
mem_refused(const char *buf, size_t len, const char *want, const char *what)
{
	struct ir_image im;
	char err[IR_ERRMAX] = "";
	int rc = ir_image_decode((const unsigned char *)buf, len, 0, &im, err);

	ok(rc == IR_EINVAL && strstr(err, want) != NULL, "%s", what);
	if (rc == IR_OK)
		ir_image_free(&im);
}

/* IR_JPEG_FACEAPI: JPEG pixels exactly as face-api's decoder (jpeg-js)
 * has them. */
static void
jpeg_js_tests(const char *top)
{
	char pat[8192], out[8192];

	snprintf(pat, sizeof pat, "%s/tests/data/jpeg/*.jpg", top);
	snprintf(out, sizeof out, "%s/tests/data/jpeg", top);
	js_compare(pat, out, NULL);

	/* not tests/out/oracle: the oracle test may be writing there now */
	snprintf(out, sizeof out, "%s/tests/out/jpeg/reference", top);
	ok(js_ppms(top, "jpeg_pixels.cjs", "tests/data/reference/images/*.jpg",
	    out, "sample6.ppm") == 0, "jpeg-js's pixels of the reference "
	    "photos (node tests/tools/jpeg_pixels.cjs into tests/out/jpeg)");
	snprintf(pat, sizeof pat, "%s/tests/data/reference/images/*.jpg", top);
	js_compare(pat, out, NULL);

	snprintf(out, sizeof out, "%s/tests/out/jpeg/cse546", top);
	ok(js_ppms(top, "jpeg_pixels.cjs",
	    "tests/data/cse546/face_images_100/*.jpg", out, "test_99.ppm") == 0,
	    "jpeg-js's pixels of the course images "
	    "(node tests/tools/jpeg_pixels.cjs into tests/out/jpeg)");
	snprintf(pat, sizeof pat, "%s/tests/data/cse546/face_images_100/*.jpg",
	    top);
	js_compare(pat, out, "course images");
}

int
main(void)
{
	struct ir_image ref, im;
	char err[IR_ERRMAX];
	const char *top = getenv("IR_TOP");
	static char topbuf[4096];
	double d;
	int rc;

	/* absolute: the node commands below run in another folder */
	if (realpath(top ? top : ".", topbuf) == NULL) {
		printf("Bail out! cannot resolve %s\n", top ? top : ".");
		return 1;
	}
	top = topbuf;
	snprintf(dir, sizeof dir, "%s/tests/data/images", top);
	rc = load("paul.ppm", 0, &ref, err);
	ok(rc == IR_OK && ref.w == 64 && ref.h == 64, "PPM P6 decodes");
	if (rc != IR_OK) {
		printf("# %s\n1..%d\n", err, tap_n);
		return 1;
	}
	ok(ref.rgb[0] == 0x24 && ref.rgb[1] == 0x14 && ref.rgb[2] == 0x05,
	    "PPM pixels are exact");

	rc = load("../cse546/face_images_100/test_00.jpg", 0, &im, err);
	ok(rc == IR_OK && mad(&im, &ref) == 0,
	    "baseline JPEG equals djpeg's ISLOW pixels exactly (default)");
	ir_image_free(&im);
	/* paul.ppm is djpeg's decoding (ISLOW, fancy upsampling); jpeg-js's
	 * is a level or two away here and there */
	{
		char p[8400];

		snprintf(p, sizeof p, "%s/../cse546/face_images_100/"
		    "test_00.jpg", dir);
		rc = ir_image_load_with(p, 0, IR_JPEG_FACEAPI, &im, err);
		d = rc == IR_OK ? mad(&im, &ref) : -1;
		ok(d > 0 && d < 1, "IR_JPEG_FACEAPI: baseline JPEG close to, "
		    "not equal to, djpeg's pixels");
		ir_image_free(&im);
	}

	rc = load("progressive.jpg", 0, &im, err);
	d = rc == IR_OK ? mad(&im, &ref) : -1;
	ok(d >= 0 && d < 2, "progressive JPEG decodes close to the original");
	ir_image_free(&im);

	/*
	 * EXIF orientation (make-files): orient-N holds orient-1's pixels
	 * turned the inverse way with tag N; decoded, each must be orient-1
	 * again (jpegtran's turns are lossless, the decode of turned blocks
	 * rounds a little differently). A wrong turn is tens of levels off,
	 * a wrong size is -1.
	 */
	{
		struct ir_image base;
		char name[32];

		rc = load("orient-1.jpg", 0, &base, err);
		ok(rc == IR_OK && base.w == 48 && base.h == 32,
		    "EXIF orientation 1: as stored (48x32)");
		for (int o = 2; o <= 8 && rc == IR_OK; o++) {
			snprintf(name, sizeof name, "orient-%d.jpg", o);
			int r2 = load(name, 0, &im, err);
			d = r2 == IR_OK ? mad(&im, &base) : -1;
			ok(d >= 0 && d < 1, "EXIF orientation %d%s: turned upright "
			    "(stored %dx%d, decode %s, mean difference %.3f)", o,
			    o == 6 ? " (big-endian)" : "", o >= 5 ? 32 : 48,
			    o >= 5 ? 48 : 32, r2 == IR_OK ? "ok" : err, d);
			ir_image_free(&im);
		}
		rc = load("orient-bad.jpg", 0, &im, err);
		ok(rc == IR_OK && im.w == 32 && im.h == 48,
		    "a malformed EXIF segment: pixels as stored");
		ir_image_free(&im);
		{
			char p[8400];

			snprintf(p, sizeof p, "%s/orient-6.jpg", dir);
			rc = ir_image_load_with(p, 0, IR_JPEG_FACEAPI, &im, err);
			ok(rc == IR_OK && im.w == 32 && im.h == 48,
			    "IR_JPEG_FACEAPI ignores EXIF orientation, as "
			    "face-api does");
			ir_image_free(&im);
		}
		ir_image_free(&base);
	}

	rc = load("gray.jpg", 0, &im, err);
	ok(rc == IR_OK && im.w == 64 && im.h == 64, "grayscale JPEG decodes");
	if (rc == IR_OK) {
		size_t i, same = 1;
		for (i = 0; i < (size_t)64 * 64; i++)
			same &= im.rgb[i * 3] == im.rgb[i * 3 + 1] &&
			    im.rgb[i * 3] == im.rgb[i * 3 + 2];
		ok(same, "grayscale JPEG becomes R = G = B");
		d = mad(&im, &ref);
		ok(d >= 0 && d < 25, "grayscale JPEG near the colour original");
	}
	ir_image_free(&im);

	rc = load("cmyk.jpg", 0, &im, err);
	d = rc == IR_OK ? mad(&im, &ref) : -1;
	ok(d >= 0 && d < 3,
	    "Adobe CMYK JPEG converts back close to the RGB original");
	ir_image_free(&im);

	rc = load("alpha.png", 0, &im, err);
	ok(rc == IR_OK && im.w == 64 && im.h == 64, "RGBA PNG decodes");
	if (rc == IR_OK) {
		const unsigned char *r = ref.rgb + (20 * 64 + 20) * 3;
		ok(px(&im, 0, 0, 255, 255, 255) &&
		    px(&im, 63, 63, 255, 255, 255),
		    "transparent pixels are composited onto white");
		ok(px(&im, 20, 20, r[0], r[1], r[2]),
		    "opaque pixels are kept exactly");
		/* red at alpha 128 on white: (255*128 + 255*127 + 127)/255 */
		ok(px(&im, 30, 32, 255, 127, 127),
		    "half-transparent red blends with white");
	}
	ir_image_free(&im);

	rc = load("gray16.png", 0, &im, err);
	ok(rc == IR_OK && im.w == 2 && im.h == 2 && px(&im, 0, 0, 0, 0, 0) &&
	    px(&im, 1, 0, 255, 255, 255) && px(&im, 0, 1, 128, 128, 128) &&
	    px(&im, 1, 1, 18, 18, 18), "16-bit gray PNG scales to 8-bit RGB");
	ir_image_free(&im);

	rc = load("palette.png", 0, &im, err);
	ok(rc == IR_OK && im.w == 2 && im.h == 1 &&
	    px(&im, 0, 0, 10, 20, 30) && px(&im, 1, 0, 255, 255, 255),
	    "palette PNG expands, tRNS transparency onto white");
	ir_image_free(&im);

	refused("empty.jpg", 0, "empty file");
	refused("text.jpg", 0, "not a JPEG, PNG or PPM image");
	refused("truncated.jpg", 0, "truncated JPEG");
	refused("huge.jpg", 0,
	    "image is 60000x60000 pixels, above the limit of 100000000");
	refused("paul.ppm", 4095, "image is 64x64 pixels, above the limit "
	    "of 4095");
	ok(load("paul.ppm", 4096, &im, err) == IR_OK,
	    "exactly at the pixel limit is accepted");
	ir_image_free(&im);
	refused("../cse546/face_images_100/test_00.jpg", 1000,
	    "above the limit of 1000");

	{
		/* A PNG cut anywhere after its signature is refused. */
		unsigned char *buf;
		size_t len, cut;
		int all = 1;
		char p[8400];

		snprintf(p, sizeof p, "%s/alpha.png", dir);
		if (ir_read_file(p, &buf, &len, 0, err) == IR_OK) {
			for (cut = 8; cut < len - 12; cut += 97) {
				rc = ir_image_decode(buf, cut, 0, &im, err);
				all &= rc == IR_EINVAL;
				if (rc == IR_OK)
					ir_image_free(&im);
			}
			free(buf);
		} else
			all = 0;
		ok(all, "truncated PNGs are refused at every cut");
		snprintf(p, sizeof p, "%s/progressive.jpg", dir);
		all = 1;
		if (ir_read_file(p, &buf, &len, 0, err) == IR_OK) {
			for (cut = 3; cut < len - 2; cut += 53) {
				rc = ir_image_decode(buf, cut, 0, &im, err);
				all &= rc == IR_EINVAL;
				if (rc == IR_OK)
					ir_image_free(&im);
			}
			free(buf);
		} else
			all = 0;
		ok(all, "truncated progressive JPEGs are refused at every cut");
	}

	mem_refused("P6\n2 2\n255\nabc", 14, "truncated PPM",
	    "short PPM data is refused");
	mem_refused("P6\n2 x\n255\n", 11, "bad header", "bad PPM header");
	mem_refused("P6\n1 1\n0\nabc", 12, "maxval", "PPM maxval 0");
	mem_refused("P6\n0 1\n255\n", 11, "empty", "PPM of zero width");
	{
		static const char p5[] = "P5\n# a comment\n2 1\n15\n\x00\x0f";
		unsigned char *q;
		rc = ir_image_decode((const unsigned char *)p5, sizeof p5 - 1, 0,
		    &im, err);
		q = im.rgb;
		ok(rc == IR_OK && im.w == 2 && q[0] == 0 && q[1] == 0 &&
		    q[3] == 255 && q[5] == 255,
		    "P5 with a comment and maxval 15 scales to 0..255");
		ir_image_free(&im);
	}
	jpeg_js_tests(top);

	ir_image_free(&ref);
	ir_image_free(&ref);  /* twice is harmless */
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
