/*
 * tests/unit/model.c: the weights loader (src/lib/model.c) on the real
 * files in model/ and on corrupted copies of them. Prints TAP.
 *
 * The expected float bit patterns below were computed independently of our
 * converter and loader, from the npm package's own manifests and .bin files,
 * with a one-off node script (value = Float32Array(q * scale + min) for
 * quantised tensors, the raw LE float32 otherwise, i.e. what tfjs does):
 *   npm pack @vladmandic/face-api@1.7.15; tar xzf *.tgz
 *   node pick.cjs face_recognition_model conv32_down/conv/filters 0 4703 ...
 * (pick.cjs walks weights[] summing byte sizes to find the tensor's offset.)
 * In addition, every float32 tensor of the five models was compared bit for
 * bit with the same node computation once, when the import was written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "model.h"
#include "tap.h"

static char dir[4200];

static struct ir_model *
open_model(const char *name, char *err)
{
	char p[4400];
	struct ir_model *m = NULL;

	snprintf(p, sizeof p, "%s/%s.irw", dir, name);
	if (ir_model_open(p, &m, err))
		return NULL;
	return m;
}

struct shape {
	const char *model, *tensor;
	int ndim, dims[4];
};

/* First, last and a few interesting tensors of each model (MODEL-SPEC.md
 * Appendix A). */
static const struct shape shapes[] = {
	{ "face_recognition", "conv32_down/conv/filters", 4, { 7, 7, 3, 32 } },
	{ "face_recognition", "conv64_down/conv1/conv/filters", 4,
	    { 3, 3, 32, 64 } },
	{ "face_recognition", "conv256_down_out/conv2/scale/biases", 1, { 256 } },
	{ "face_recognition", "fc", 2, { 256, 128 } },
	{ "tiny_face_detector", "conv0/filters", 4, { 3, 3, 3, 16 } },
	{ "tiny_face_detector", "conv5/pointwise_filter", 4, { 1, 1, 256, 512 } },
	{ "tiny_face_detector", "conv8/bias", 1, { 25 } },
	{ "ssd_mobilenetv1", "MobilenetV1/Conv2d_0_pointwise/weights", 4,
	    { 3, 3, 3, 32 } },
	{ "ssd_mobilenetv1", "MobilenetV1/Conv2d_13_pointwise/weights", 4,
	    { 1, 1, 1024, 1024 } },
	{ "ssd_mobilenetv1", "Prediction/Conv2d_1_pointwise/weights", 4,
	    { 3, 3, 256, 512 } },
	{ "ssd_mobilenetv1", "Output/extra_dim", 3, { 1, 5118, 4 } },
	{ "face_landmark_68", "dense0/conv0/filters", 4, { 3, 3, 3, 32 } },
	{ "face_landmark_68", "fc/weights", 2, { 256, 136 } },
	{ "face_landmark_68", "fc/bias", 1, { 136 } },
	{ "face_landmark_68_tiny", "dense0/conv1/depthwise_filter", 4,
	    { 3, 3, 32, 1 } },
	{ "face_landmark_68_tiny", "fc/weights", 2, { 128, 136 } },
};

struct value {
	const char *model, *tensor;
	size_t index;
	uint32_t bits;
};

static const struct value values[] = {
	{ "face_recognition", "conv32_down/conv/filters", 0, 0xbcf15556u }, /* -0.0294596367 */
	{ "face_recognition", "conv32_down/conv/filters", 4703, 0x3bbd9e7bu }, /* 0.00578671461 */
	{ "face_recognition", "conv64_down/conv1/conv/filters", 0, 0xbb9333e8u }, /* -0.00449227169, raw f32 */
	{ "face_recognition", "conv64_down/conv1/conv/filters", 18431, 0x3af36600u }, /* 0.00185698271, raw f32 */
	{ "face_recognition", "fc", 0, 0xbbdeb192u }, /* -0.00679607037 */
	{ "face_recognition", "fc", 16383, 0x3a3b880fu }, /* 0.000715375820 */
	{ "face_recognition", "conv32_down/scale/weights", 7, 0x40b93cd3u }, /* 5.78867483 */
	{ "tiny_face_detector", "conv8/bias", 0, 0x3e298c2du }, /* 0.165573791 */
	{ "tiny_face_detector", "conv8/bias", 24, 0x3c14a4f9u }, /* 0.00907253567 */
	{ "tiny_face_detector", "conv0/filters", 431, 0xbe4ae923u }, /* -0.198154971 */
	{ "ssd_mobilenetv1", "Output/extra_dim", 0, 0xbd0ccccdu }, /* -0.0343750007, raw f32 */
	{ "ssd_mobilenetv1", "Output/extra_dim", 3, 0x3d866666u }, /* 0.0656249970, raw f32 */
	{ "ssd_mobilenetv1", "Output/extra_dim", 20471, 0x3f4633c9u }, /* 0.774227679, raw f32 */
	{ "ssd_mobilenetv1", "MobilenetV1/Conv2d_13_pointwise/weights", 1048575, 0xbd54baceu }, /* -0.0519359633 */
	{ "face_landmark_68", "fc/bias", 0, 0x3d9d5da6u }, /* 0.0768387765 */
	{ "face_landmark_68", "fc/bias", 135, 0x3f0f9b5bu }, /* 0.560964286 */
	{ "face_landmark_68_tiny", "dense0/conv2/depthwise_filter", 5, 0x00000000u }, /* 0 (scale 1, min 0) */
	{ "face_landmark_68_tiny", "fc/weights", 17407, 0xbe574966u }, /* -0.210240930 */
};

struct count {
	const char *model;
	int tensors;
	size_t f32_values, i32_tensors;
};

/* From the manifests: tensor counts (MODEL-SPEC.md 1.5) and float32 values
 * (jq: [.[0].weights[]|select(.dtype=="float32")|.shape|
 * reduce .[] as $d (1;.*$d)]|add). */
static const struct count counts[] = {
	{ "face_recognition", 117, 5614592, 0 },
	{ "tiny_face_detector", 19, 193321, 0 },
	{ "ssd_mobilenetv1", 151, 5555521, 15 },
	{ "face_landmark_68", 49, 356840, 0 },
	{ "face_landmark_68_tiny", 28, 77224, 0 },
};

static void
test_counts(void)
{
	char err[IR_ERRMAX];
	size_t k;

	for (k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		const struct count *c = &counts[k];
		struct ir_model *m = open_model(c->model, err);
		struct ir_tensor_info in;
		size_t f32 = 0, i32 = 0;
		int i, aligned = 1;

		ok(m != NULL, "%s opens%s%s", c->model, m ? "" : ": ",
		    m ? "" : err);
		if (!m)
			continue;
		ok(ir_model_count(m) == c->tensors, "%s: %d tensors (got %d)",
		    c->model, c->tensors, ir_model_count(m));
		for (i = 0; i < ir_model_count(m); i++) {
			ir_model_info(m, i, &in, err);
			if (in.dtype == IR_DT_F32) {
				const float *p = ir_model_tensor(m, in.name,
				    NULL, NULL, err);
				f32 += in.count;
				aligned &= p && ((uintptr_t)p & 63) == 0;
			} else
				i32++;
		}
		ok(f32 == c->f32_values, "%s: %zu float32 values (got %zu)",
		    c->model, c->f32_values, f32);
		ok(i32 == c->i32_tensors, "%s: %zu int32 tensors (got %zu)",
		    c->model, c->i32_tensors, i32);
		ok(aligned, "%s: every float32 tensor 64-byte aligned",
		    c->model);
		ok(strlen(ir_model_checksum(m)) == 64, "%s: checksum %s",
		    c->model, ir_model_checksum(m));
		ok(ir_model_name(m, -1) == NULL &&
		    ir_model_name(m, ir_model_count(m)) == NULL &&
		    ir_model_info(m, ir_model_count(m), &in, err) == IR_EINVAL,
		    "%s: indexes out of range refused", c->model);
		ir_model_close(m);
	}
}

static void
test_shapes_values(void)
{
	char err[IR_ERRMAX];
	size_t k;
	int d;

	for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		const struct shape *s = &shapes[k];
		struct ir_model *m = open_model(s->model, err);
		int ndim = -1, dims[4] = { -1, -1, -1, -1 }, same;
		const float *p = m ? ir_model_tensor(m, s->tensor, &ndim, dims,
		    err) : NULL;

		same = p && ndim == s->ndim;
		for (d = 0; same && d < 4; d++)
			same = dims[d] == (d < s->ndim ? s->dims[d] : 0);
		ok(same, "%s: %s shape", s->model, s->tensor);
		ok(m && ir_model_expect(m, s->tensor, s->ndim, s->dims, err)
		    == p, "%s: %s ir_model_expect", s->model, s->tensor);
		ir_model_close(m);
	}
	for (k = 0; k < sizeof values / sizeof values[0]; k++) {
		const struct value *v = &values[k];
		struct ir_model *m = open_model(v->model, err);
		const float *p = m ? ir_model_tensor(m, v->tensor, NULL, NULL,
		    err) : NULL;
		uint32_t bits = 0xffffffffu;

		if (p)
			memcpy(&bits, &p[v->index], 4);
		ok(bits == v->bits, "%s: %s[%zu] = %08x (got %08x)", v->model,
		    v->tensor, v->index, (unsigned)v->bits, (unsigned)bits);
		ir_model_close(m);
	}
}

static void
test_lookup_errors(void)
{
	char err[IR_ERRMAX] = "";
	struct ir_model *m = open_model("ssd_mobilenetv1", err);
	struct ir_tensor_info in;
	int want[4] = { 1, 5118, 5, 0 };
	int i;

	if (!m) {
		ok(0, "ssd_mobilenetv1 opens: %s", err);
		return;
	}
	ok(ir_model_tensor(m, "no/such/tensor", NULL, NULL, err) == NULL &&
	    strstr(err, "no tensor no/such/tensor") != NULL,
	    "missing tensor: %s", err);
	ok(ir_model_tensor(m, "concat_1/axis", NULL, NULL, err) == NULL &&
	    strstr(err, "not f32") != NULL, "int32 tensor refused: %s", err);
	ok(ir_model_expect(m, "Output/extra_dim", 3, want, err) == NULL &&
	    strstr(err, "[1,5118,4], expected [1,5118,5]") != NULL,
	    "shape mismatch: %s", err);
	ok(ir_model_expect(m, "Output/extra_dim", 2, want, err) == NULL,
	    "rank mismatch refused");
	/* The quantisation parameters are the manifest's numbers as doubles
	 * (the JSON text, e.g. "scale":0.0005260649557207145, read by strtod). */
	for (i = 0; i < ir_model_count(m); i++) {
		ir_model_info(m, i, &in, err);
		if (strcmp(in.name, "Postprocessor/stack/1") == 0)
			break;
	}
	ok(i < ir_model_count(m) && in.dtype == IR_DT_I32 &&
	    in.storage == IR_ST_U8 && in.ndim == 0 && in.count == 1 &&
	    in.scale == 1.0 && in.min == 5118.0,
	    "int32 constant kept with scale 1, min 5118");
	ir_model_close(m);
	m = open_model("face_recognition", err);
	ok(m && ir_model_info(m, 0, &in, err) == IR_OK &&
	    strcmp(in.name, "conv32_down/conv/filters") == 0 &&
	    in.storage == IR_ST_U8 &&
	    in.scale == strtod("0.0005260649557207145", NULL) &&
	    in.min == strtod("-0.07101876902229645", NULL) &&
	    in.offset % 64 == 0 && in.length == 4704,
	    "face_recognition tensor 0: scale, min, offset, length");
	ok(m && ir_model_info(m, 28, &in, err) == IR_OK &&
	    in.storage == IR_ST_F32 && in.scale == 1.0 && in.min == 0.0 &&
	    in.length == 73728, "face_recognition tensor 28 is raw f32");
	/* ir_model_codes: the file's bytes of a u8-stored tensor, which
	 * give its floats; none for raw or missing ones */
	double qs = 0, qm = 0;
	const unsigned char *q = m ? ir_model_codes(m,
	    "conv32_1/conv1/conv/filters", &qs, &qm) : NULL;
	const float *f = m ? ir_model_tensor(m, "conv32_1/conv1/conv/filters",
	    NULL, NULL, err) : NULL;
	size_t same = 0, distinct = 0;
	int seen[256] = { 0 };
	for (size_t k = 0; q && f && k < 9216; k++) {
		same += f[k] == (float)((double)q[k] * qs + qm);
		distinct += !seen[q[k]]++;
	}
	ok(q && f && same == 9216 && distinct > 100 &&
	    qs == strtod("0.0007328585666768691", NULL),
	    "codes of a u8 tensor give its floats (%zu of 9216, %zu codes)",
	    same, distinct);
	ok(m && ir_model_info(m, 28, &in, err) == IR_OK &&
	    ir_model_codes(m, in.name, &qs, &qm) == NULL &&
	    ir_model_codes(m, "no/such/tensor", &qs, &qm) == NULL,
	    "no codes for a raw f32 tensor or a missing one");
	/* dropped: no codes any more, the floats stay */
	ir_model_drop_codes(m);
	const float *f2 = m ? ir_model_tensor(m, "conv32_1/conv1/conv/filters",
	    NULL, NULL, err) : NULL;
	ok(m && ir_model_codes(m, "conv32_1/conv1/conv/filters", &qs,
	    &qm) == NULL && f2 == f && f2[0] == f[0],
	    "ir_model_drop_codes: codes gone, floats kept");
	ir_model_drop_codes(m);  /* twice is harmless */
	ir_model_close(m);
}

/* Rewrites the trailing SHA-256 so a structural corruption gets past the
 * checksum and reaches the table checks. */
static void
fix_sum(unsigned char *b, size_t len)
{
	unsigned int n;

	EVP_Digest(b, len - 32, b + len - 32, &n, EVP_sha256(), NULL);
}

static void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);  /* the test runs on little-endian hosts only */
}

static void
put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void
refused(const unsigned char *b, size_t len, const char *what,
    const char *want)
{
	char err[IR_ERRMAX] = "";
	struct ir_model *m = (struct ir_model *)1;
	int rc = ir_model_open_mem(b, len, "x.irw", &m, err);

	ok(rc == IR_EINVAL && m == NULL && strstr(err, want) != NULL,
	    "%s refused: %s", what, err);
}

static void
test_corrupt(void)
{
	char p[4400], err[IR_ERRMAX];
	unsigned char *orig, *b;
	size_t len;
	uint32_t one = 1;
	struct ir_model *m;

	if (*(unsigned char *)&one != 1) {
		ok(1, "# SKIP corruption tests assume a little-endian host");
		return;
	}
	snprintf(p, sizeof p, "%s/tiny_face_detector.irw", dir);
	if (ir_read_file(p, &orig, &len, 0, err)) {
		ok(0, "read %s: %s", p, err);
		return;
	}
	if (len < 4096 || !(b = malloc(len))) {
		ok(0, "%s: %zu bytes, too short for these tests", p, len);
		free(orig);
		return;
	}
#define RESET() memcpy(b, orig, len)
	RESET();
	ok(ir_model_open_mem(b, len, "x.irw", &m, err) == IR_OK,
	    "pristine copy opens");
	ir_model_close(m);
	refused(b, 0, "empty file", "empty file");
	refused(b, 3, "3 bytes", "bad magic");
	refused(b, 50, "50 bytes", "truncated");
	refused(b, len - 1, "one byte short", "truncated");
	refused(b, len / 2, "half the file", "truncated");
	b[len / 2] ^= 0x01;
	refused(b, len, "one flipped data bit", "checksum mismatch");
	RESET();
	b[64 + 3] ^= 0x20;
	refused(b, len, "flipped name byte", "checksum mismatch");
	RESET();
	b[0] = 'X';
	refused(b, len, "bad magic", "bad magic");
	RESET();
	put32(b + 4, 2);
	refused(b, len, "version 2", "unsupported version 2");
	RESET();
	put32(b + 8, 0xffffffffu);
	fix_sum(b, len);
	refused(b, len, "huge tensor count", "bad header");
	RESET();
	put64(b + 24, UINT64_MAX - 63);
	fix_sum(b, len);
	refused(b, len, "huge data offset", "bad header");
	RESET();
	put64(b + 32, UINT64_MAX);
	refused(b, len, "huge file size", "header says");
	RESET();
	put32(b + 12, 128);
	fix_sum(b, len);
	refused(b, len, "other entry size", "bad header");
	/* table entry 1 starts at 64 + 160 */
	RESET();
	put64(b + 224 + 136, UINT64_MAX - 63);
	fix_sum(b, len);
	refused(b, len, "huge tensor offset", "out of bounds");
	RESET();
	put64(b + 224 + 144, UINT64_MAX);
	fix_sum(b, len);
	refused(b, len, "huge tensor length", "does not match");
	RESET();
	put32(b + 224 + 96, 0x7fffffffu);
	put32(b + 224 + 100, 0x7fffffffu);
	fix_sum(b, len);
	refused(b, len, "huge shape", "shape larger than the file");
	RESET();
	put64(b + 224 + 136, 64 * 3);  /* inside the table */
	fix_sum(b, len);
	refused(b, len, "data overlapping the table", "out of bounds");
	RESET();
	put64(b + 224 + 136, 0);
	memcpy(&b[224 + 136], &b[64 + 136], 8); /* tensor 0's offset */
	fix_sum(b, len);
	refused(b, len, "overlapping tensors", "overlapping");
	RESET();
	memset(b + 224, 'a', 96);
	fix_sum(b, len);
	refused(b, len, "name without NUL", "not NUL-terminated");
	RESET();
	memcpy(b + 224, b + 64, 96);
	fix_sum(b, len);
	refused(b, len, "duplicate name", "appears twice");
	RESET();
	b[224 + 114] = 5;
	fix_sum(b, len);
	refused(b, len, "5 dimensions", "at most 4");
	RESET();
	b[224 + 113] = 9;
	fix_sum(b, len);
	refused(b, len, "unknown storage type", "bad storage type");
	RESET();
	put64(b + 224 + 120, 0x7ff0000000000000ull); /* +inf scale */
	fix_sum(b, len);
	refused(b, len, "infinite scale", "not finite");
	free(b);
	free(orig);
	m = (struct ir_model *)1;
	ok(ir_model_open("/nonexistent/x.irw", &m, err) == IR_ENOENT &&
	    m == NULL, "missing file: IR_ENOENT: %s", err);
}

int
main(void)
{
	const char *env = getenv("IR_MODEL_DIR");

	/* The checkout's model/ (prove runs from the top) unless told. */
	snprintf(dir, sizeof dir, "%s", env && *env ? env : "model");
	test_counts();
	test_shapes_values();
	test_lookup_errors();
	test_corrupt();
	ok(strlen(ir_model_dir()) > 0, "ir_model_dir: %s", ir_model_dir());
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
