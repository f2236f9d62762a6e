/*
 * facenet.c: TAP test of the descriptor net (src/lib/facenet.c) against
 * face-api itself: for every face of the reference images
 * (tests/data/reference, see SOURCE.md there) the descriptor crop is
 * computed from the oracle's own 68 landmarks exactly as MODEL-SPEC.md
 * section 7 steps 3-4 do, our net describes it from the oracle's own pixels
 * (jpeg-js decode, written as PPM by tests/tools/to_ppm.cjs into
 * tests/out/facenet/ when missing), and the Euclidean distance to face-api's
 * descriptor must be below 0.001 (two faithful implementations agree to
 * about 1e-6). Then: every CPU variant, batch vs single, two threads,
 * empty crops, bad arguments.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn.h"
#include "facenet.h"
#include "image.h"
#include "util.h"
#include "tap.h"

#define MAXF 64

struct face {
	int img;         /* index into images */
	int rect[4];
	float want[128];
};

static char top[PATH_MAX];
static struct ir_image imgs[16];
static char names[16][64];
static int nimg;
static struct face faces[MAXF];
static int nface;

/* The repository root: build/t/facenet -> ../.. */
static void
find_top(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		strcpy(top, ".");
		return;
	}
	exe[n] = 0;
	for (int i = 0; i < 3; i++) {
		char *s = strrchr(exe, '/');
		if (s)
			*s = 0;
	}
	snprintf(top, sizeof top, "%s", exe);
	if (access("tests/data/reference/faceapi_results.json", R_OK) == 0)
		strcpy(top, ".");
}

static void
clip_floor(const double b[4], int W, int H, double out[4])
{
	double cx = b[0] > 0 ? b[0] : 0, cy = b[1] > 0 ? b[1] : 0;
	double cw = b[0] + b[2] - cx, ch = b[1] + b[3] - cy;
	if (W - cx < cw)
		cw = W - cx;
	if (H - cy < ch)
		ch = H - cy;
	out[0] = floor(cx), out[1] = floor(cy);
	out[2] = floor(cw), out[3] = floor(ch);
}

/* MODEL-SPEC 7.3-7.4: alignment box from the landmarks, then the crop. */
static void
desc_crop(const double lm[68][2], const double box[4], int W, int H,
    int rect[4])
{
	double le[2], re[2], mo[2], C[4], a[4], r[4];
	/* face-api averages with reduce: sum then divide */
	double s[2];
	s[0] = s[1] = 0;
	for (int i = 36; i < 42; i++)
		s[0] += lm[i][0], s[1] += lm[i][1];
	le[0] = s[0] / 6, le[1] = s[1] / 6;
	s[0] = s[1] = 0;
	for (int i = 42; i < 48; i++)
		s[0] += lm[i][0], s[1] += lm[i][1];
	re[0] = s[0] / 6, re[1] = s[1] / 6;
	s[0] = s[1] = 0;
	for (int i = 48; i < 68; i++)
		s[0] += lm[i][0], s[1] += lm[i][1];
	mo[0] = s[0] / 20, mo[1] = s[1] / 20;
	double dx = le[0] - mo[0], dy = le[1] - mo[1];
	double ex = re[0] - mo[0], ey = re[1] - mo[1];
	double dist = (sqrt(dx * dx + dy * dy) + sqrt(ex * ex + ey * ey)) / 2;
	double size = floor(dist / 0.45);
	double ref[2] = { (le[0] + re[0] + mo[0]) / 3,
		(le[1] + re[1] + mo[1]) / 3 };
	clip_floor(box, W, H, C);
	a[0] = floor(fmax(0, ref[0] - 0.5 * size));
	a[1] = floor(fmax(0, ref[1] - 0.43 * size));
	a[2] = fmin(size, C[2] + a[0]);
	a[3] = fmin(size, C[3] + a[1]);
	clip_floor(a, W, H, r);
	for (int i = 0; i < 4; i++)
		rect[i] = (int)r[i];
}

/* Writes the oracle's pixels of every image named in the two JSON files
 * as tests/out/facenet/NAME.ppm, in one node run, when any is missing. */
static int
make_ppms(void)
{
	static const char *files[] = { "faceapi_results.json",
		"faceapi_results_extra.json" };
	char path[PATH_MAX + 64], cmd[64 * PATH_MAX];
	size_t len;
	int missing = 0;

	len = (size_t)snprintf(cmd, sizeof cmd, "mkdir -p '%s/tests/out/facenet' "
	    "&& NODE_PATH='%s/tests/node/node_modules' "
	    "OUT='%s/tests/out/facenet' node '%s/tests/tools/to_ppm.cjs'",
	    top, top, top, top);
	for (int f = 0; f < 2; f++) {
		json_error_t je;
		snprintf(path, sizeof path, "%s/tests/data/reference/%s", top,
		    files[f]);
		json_t *root = json_load_file(path, 0, &je), *v;
		const char *key;
		if (!root) {
			printf("# %s: %s\n", path, je.text);
			return -1;
		}
		json_object_foreach(root, key, v) {
			snprintf(path, sizeof path, "%s/tests/out/facenet/%.*s.ppm",
			    top, (int)strlen(key) - 4, key);
			if (access(path, R_OK) == 0 || len + PATH_MAX + 64 >
			    sizeof cmd)
				continue;
			len += (size_t)snprintf(cmd + len, sizeof cmd - len,
			    " '%s/tests/data/reference/images/%s'", top, key);
			missing++;
		}
		json_decref(root);
	}
	if (missing && system(cmd) != 0) {
		printf("# %s failed (needs node and tests/node: "
		    "scripts/install-deps check)\n", cmd);
		return -1;
	}
	return 0;
}

static int
load_image(const char *name, char *err)
{
	char ppm[PATH_MAX + 64];
	snprintf(ppm, sizeof ppm, "%s/tests/out/facenet/%.*s.ppm", top,
	    (int)(strlen(name) - 4), name);
	int i = nimg++;
	snprintf(names[i], sizeof names[i], "%s", name);
	if (ir_image_load(ppm, 0, &imgs[i], err) != IR_OK) {
		printf("# %s: %s\n", ppm, err);
		nimg--;
		return -1;
	}
	return i;
}

static int
load_oracle(const char *file, char *err)
{
	char path[PATH_MAX + 64];
	json_error_t je;
	snprintf(path, sizeof path, "%s/tests/data/reference/%s", top, file);
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		printf("# %s: %s\n", path, je.text);
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		int seen = 0;
		for (int i = 0; i < nimg; i++)
			seen |= strcmp(names[i], key) == 0;
		if (seen)
			continue; /* sample5 is in both files */
		int ii = load_image(key, err);
		if (ii < 0) {
			json_decref(root);
			return -1;
		}
		json_t *ssd = json_object_get(v, "ssd"), *f;
		size_t k;
		json_array_foreach(ssd, k, f) {
			double lm[68][2], box[4];
			json_t *l = json_object_get(f, "landmarks");
			json_t *b = json_object_get(f, "box");
			json_t *d = json_object_get(f, "descriptor");
			if (nface >= MAXF || json_array_size(l) != 68 ||
			    json_array_size(b) != 4 || json_array_size(d) != 128)
				continue;
			for (int p = 0; p < 68; p++)
				for (int q = 0; q < 2; q++)
					lm[p][q] = json_number_value(
					    json_array_get(json_array_get(l, p), q));
			for (int q = 0; q < 4; q++)
				box[q] = json_number_value(json_array_get(b, q));
			struct face *fc = &faces[nface++];
			fc->img = ii;
			desc_crop(lm, box, imgs[ii].w, imgs[ii].h, fc->rect);
			for (int q = 0; q < 128; q++)
				fc->want[q] = (float)json_number_value(
				    json_array_get(d, q));
		}
	}
	json_decref(root);
	return 0;
}

static double
dist(const float *a, const float *b)
{
	double s = 0;
	for (int i = 0; i < 128; i++)
		s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return sqrt(s);
}

/* Describes all faces image by image (one batch per image). */
static double
check_all(struct ir_facenet *f, float *got, int *bad)
{
	char err[IR_ERRMAX];
	double worst = 0;
	*bad = 0;
	for (int i = 0; i < nimg; i++) {
		struct ir_facecrop c[MAXF];
		int idx[MAXF], n = 0;
		for (int k = 0; k < nface; k++)
			if (faces[k].img == i) {
				c[n].img = &imgs[i];
				memcpy(c[n].rect, faces[k].rect, sizeof c[n].rect);
				idx[n++] = k;
			}
		float d[MAXF * 128];
		if (ir_facenet_describe(f, c, n, d, err) != IR_OK) {
			printf("# %s\n", err);
			*bad = 1;
			return INFINITY;
		}
		for (int j = 0; j < n; j++) {
			double e = dist(d + j * 128, faces[idx[j]].want);
			memcpy(got + (size_t)idx[j] * 128, d + j * 128,
			    128 * sizeof(float));
			if (!(e < 0.001))
				*bad = 1;
			if (!(e <= worst))
				worst = e;
		}
	}
	return worst;
}

int
main(void)
{
	char err[IR_ERRMAX];
	struct ir_facenet *f = NULL, *g = NULL;
	static float base[MAXF * 128], got[MAXF * 128];
	int bad;

	find_top();
	ir_cnn_set_threads(1);
	int r = make_ppms();
	if (r == 0)
		r = load_oracle("faceapi_results.json", err);
	if (r == 0)
		r = load_oracle("faceapi_results_extra.json", err);
	ok(r == 0 && nface >= 20, "oracle: %d faces in %d images", nface, nimg);
	if (r != 0) {
		printf("1..%d\n", tap_n);
		return 1;
	}
	r = ir_facenet_open(NULL, 8, 2, &f, err);
	ok(r == IR_OK, "open face_recognition.irw (%s)", r ? err : "ok");
	if (r != IR_OK) {
		printf("1..%d\n", tap_n);
		return 1;
	}
	double worst = check_all(f, base, &bad);
	ok(!bad, "every face within 0.001 of face-api (worst %.3g, %s)",
	    worst, ir_cnn_cpu());
	for (int k = 0; k < nface; k++)
		printf("# %-12s face rect %d,%d %dx%d: distance %.3g\n",
		    names[faces[k].img], faces[k].rect[0], faces[k].rect[1],
		    faces[k].rect[2], faces[k].rect[3],
		    dist(base + k * 128, faces[k].want));

	static const char *vars[] = { "avx512", "avx2", "generic" };
	for (int v = 0; v < 3; v++) {
		if (!ir_cnn_cpu_has(vars[v])) {
			tap_n++;
			printf("ok %d # skip %s: not supported by this CPU\n",
			    tap_n, vars[v]);
			continue;
		}
		ir_cnn_set_cpu(vars[v], err);
		worst = check_all(f, got, &bad);
		ok(!bad, "variant %s: every face within 0.001 (worst %.3g)",
		    vars[v], worst);
	}
	for (int v = 0; v < 3; v++) /* back to the best one */
		if (ir_cnn_cpu_has(vars[v])) {
			ir_cnn_set_cpu(vars[v], err);
			break;
		}
	worst = check_all(f, base, &bad);

	/* two threads split the batch: same numbers */
	ir_facenet_set_threads(f, 2);
	check_all(f, got, &bad);
	double md = 0;
	for (int k = 0; k < nface; k++) {
		double e = dist(got + k * 128, base + k * 128);
		md = e > md ? e : md;
	}
	ok(md < 1e-5, "2 threads == 1 thread (max distance %.3g)", md);
	ir_facenet_set_threads(f, 1);

	/* a batch of everything (more than max_batch 8) == one at a time */
	struct ir_facecrop all[MAXF];
	for (int k = 0; k < nface; k++) {
		all[k].img = &imgs[faces[k].img];
		memcpy(all[k].rect, faces[k].rect, sizeof all[k].rect);
	}
	r = ir_facenet_describe(f, all, nface, got, err);
	md = 0;
	for (int k = 0; k < nface; k++) {
		double e = dist(got + k * 128, base + k * 128);
		md = e > md ? e : md;
	}
	ok(r == IR_OK && md < 1e-5, "%d faces in batches of 8 == per image "
	    "(max distance %.3g)", nface, md);

	/* a clone shares the weights and gives the same answer */
	r = ir_facenet_clone(f, &g, err);
	float one[128];
	if (r == IR_OK)
		r = ir_facenet_describe(g, all, 1, one, err);
	ok(r == IR_OK && dist(one, base) < 1e-5, "clone describes the same");
	ir_facenet_close(g);

	/* one face at a time through every alternative tile that load may
	 * time and take for passes of one face (IR_FACENET_TUNE=all), and
	 * through none (=0): within 0.001 of face-api and 1e-4 of the
	 * batch path */
	static const char *modes[] = { "all", "0" };
	for (int m = 0; m < 2; m++) {
		char tiles[64] = "";
		setenv("IR_FACENET_TUNE", modes[m], 1);
		r = ir_facenet_open(NULL, 8, 1, &g, err);
		unsetenv("IR_FACENET_TUNE");
		double wo = 0, wb = 0;
		for (int k = 0; r == IR_OK && k < nface; k++) {
			r = ir_facenet_describe(g, all + k, 1, one, err);
			double a = dist(one, faces[k].want);
			double b = dist(one, base + k * 128);
			wo = !(a <= wo) ? a : wo;
			wb = !(b <= wb) ? b : wb;
		}
		if (g)
			ir_facenet_tiles(g, tiles, sizeof tiles);
		static const char *want[] = { "35:6,17:4,8:2,3:-1,4:-1",
			"35:6,17:6,8:4,3:2,4:2" };
		ok(r == IR_OK && strcmp(tiles, want[m]) == 0 && wo < 0.001 &&
		    wb < 1e-4, "IR_FACENET_TUNE=%s (tiles %s): one face at a "
		    "time within 0.001 of face-api (worst %.3g) and of the "
		    "batch path (%.3g)", modes[m], tiles, wo, wb);
		ir_facenet_close(g);
		g = NULL;
	}
	char tiles[64];
	ir_facenet_tiles(f, tiles, sizeof tiles);
	/* each size's tile is its default or the alternative */
	int h35, m35, h17, m17, h8, m8, h3, m3, h4, m4;
	int nt = sscanf(tiles, "%d:%d,%d:%d,%d:%d,%d:%d,%d:%d", &h35, &m35,
	    &h17, &m17, &h8, &m8, &h3, &m3, &h4, &m4);
	ok(nt == 10 && h35 == 35 && h17 == 17 && h8 == 8 && h3 == 3 &&
	    h4 == 4 && m35 == 6 && (m17 == 6 || m17 == 4) &&
	    (m8 == 4 || m8 == 2) && (m3 == 2 || m3 == -1) &&
	    (m4 == 2 || m4 == -1), "one-face tiles as load timed them here: "
	    "%s", tiles);

	/* empty crop: 128 zeros (face-api); bad arguments refused */
	struct ir_facecrop e = { &imgs[0], { imgs[0].w + 5, 0, 10, 10 } };
	memset(one, 0x7f, sizeof one);
	r = ir_facenet_describe(f, &e, 1, one, err);
	int zero = 1;
	for (int i = 0; i < 128; i++)
		zero &= one[i] == 0.0f;
	ok(r == IR_OK && zero, "crop outside the image: zero descriptor");
	ok(ir_facenet_describe(f, &e, -1, one, err) == IR_EINVAL,
	    "negative count refused (%s)", err);
	e.img = NULL;
	ok(ir_facenet_describe(f, &e, 1, one, err) == IR_EINVAL,
	    "missing image refused (%s)", err);
	ok(ir_facenet_forward(f, NULL, 9, one, err) == IR_EINVAL,
	    "forward batch above max refused (%s)", err);
	ir_facenet_close(f);

	r = ir_facenet_open("/nonexistent/face_recognition.irw", 1, 1, &f,
	    err);
	ok(r == IR_ENOENT, "missing weights file: IR_ENOENT (%s)", err);
	r = ir_facenet_open("/dev/null", 1, 1, &f, err);
	ok(r == IR_EINVAL, "empty weights file: IR_EINVAL (%s)", err);

	for (int i = 0; i < nimg; i++)
		ir_image_free(&imgs[i]);
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
