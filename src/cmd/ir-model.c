/*
 * ir-model: converts tfjs weight manifests into our weights format and
 * inspects weights files (format: ir-weights(5); usage: ir-model(1)).
 *
 *   ir-model convert MANIFEST OUT.irw   tfjs manifest + shards -> .irw
 *   ir-model list FILE.irw              the tensor table, TSV
 *   ir-model check FILE.irw...          verify; one line per file
 *   ir-model dump FILE.irw NAME         dequantised values, one per line
 *   ir-model dir                        where ir looks for the weights
 *
 * The converter is the only writer of the format. Its output depends only
 * on the manifest and its shards (no time, no host, no path), so running it
 * twice gives the same bytes. Tensors keep manifest order and their stored
 * form: quantised ones stay uint8/uint16 with the manifest's scale and min
 * as IEEE doubles (jansson parses JSON numbers with strtod). Every output is
 * re-opened with the library's reader before the command reports success.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "model.h"

#define HDR_SIZE 64
#define ENTRY_SIZE 160
#define NAME_SIZE 96
#define SUM_SIZE 32
#define ALIGN 64

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ir-model convert MANIFEST OUT.irw\n"
	    "       ir-model list FILE.irw\n"
	    "       ir-model check FILE.irw...\n"
	    "       ir-model dump FILE.irw NAME\n"
	    "       ir-model dir\n");
	exit(IR_EXIT_USAGE);
}

struct wt {
	char name[NAME_SIZE];
	int dtype, storage, ndim, dims[4];
	double scale, min;
	uint64_t count, length;
	const unsigned char *src;  /* into the group's shard buffer */
	uint64_t off;              /* in the output file */
};

static void
put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void
putf64(unsigned char *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	put64(p, u);
}

static uint64_t
align64(uint64_t v)
{
	return (v + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
}

/* Reads the shards of one group, concatenated, relative to dir. */
static int
read_shards(const char *dir, json_t *paths, const char *mf,
    unsigned char **buf, size_t *len, char *err)
{
	size_t i, cap = 0, n = 0;
	unsigned char *b = NULL;
	json_t *v;

	if (!json_is_array(paths) || json_array_size(paths) == 0)
		return ir_err(err, IR_EINVAL,
		    "%s: a group has no \"paths\" array", mf);
	json_array_foreach(paths, i, v) {
		const char *p = json_string_value(v);
		unsigned char *s;
		size_t sl;
		char full[8192];
		int rc;

		if (!p || !*p || p[0] == '/' || strstr(p, ".."))
			return free(b), ir_err(err, IR_EINVAL,
			    "%s: bad shard path in \"paths\"", mf);
		snprintf(full, sizeof full, "%s/%s", dir, p);
		if ((rc = ir_read_file(full, &s, &sl, IR_MODEL_MAXFILE, err)))
			return free(b), rc;
		if (sl > IR_MODEL_MAXFILE - n)
			return free(b), free(s), ir_err(err, IR_EINVAL,
			    "%s: shards larger than %zu bytes", mf,
			    IR_MODEL_MAXFILE);
		if (n + sl > cap) {
			cap = n + sl;
			b = ir_xrealloc(b, cap);
		}
		memcpy(b + n, s, sl);
		n += sl;
		free(s);
	}
	*buf = b;
	*len = n;
	return IR_OK;
}

/* Parses one manifest weight entry into w (data pointer set by caller). */
static int
parse_weight(json_t *o, struct wt *w, const char *mf, char *err)
{
	json_t *shape = json_object_get(o, "shape");
	json_t *q = json_object_get(o, "quantization");
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *dt = json_string_value(json_object_get(o, "dtype"));
	size_t i, nl;
	json_t *v;

	if (!name)
		return ir_err(err, IR_EINVAL, "%s: a weight has no name", mf);
	nl = json_string_length(json_object_get(o, "name"));
	if (nl == 0 || nl > IR_MODEL_MAXNAME || strlen(name) != nl)
		return ir_err(err, IR_EINVAL,
		    "%s: weight name \"%.40s\" empty, longer than %d bytes "
		    "or with a NUL", mf, name, IR_MODEL_MAXNAME);
	memset(w, 0, sizeof *w);
	memcpy(w->name, name, nl);
	if (!dt || (strcmp(dt, "float32") && strcmp(dt, "int32")))
		return ir_err(err, IR_EINVAL,
		    "%s: %s: dtype %s not supported (float32, int32)", mf,
		    name, dt ? dt : "(missing)");
	w->dtype = strcmp(dt, "float32") == 0 ? IR_DT_F32 : IR_DT_I32;
	if (!json_is_array(shape) || json_array_size(shape) > 4)
		return ir_err(err, IR_EINVAL,
		    "%s: %s: shape missing or more than 4 dimensions", mf,
		    name);
	w->ndim = (int)json_array_size(shape);
	w->count = 1;
	json_array_foreach(shape, i, v) {
		json_int_t d = json_integer_value(v);
		if (!json_is_integer(v) || d < 1 || d > INT_MAX)
			return ir_err(err, IR_EINVAL,
			    "%s: %s: bad dimension %zu", mf, name, i);
		w->dims[i] = (int)d;
		w->count *= (uint64_t)d;
		if (w->count > IR_MODEL_MAXFILE)
			return ir_err(err, IR_EINVAL,
			    "%s: %s: shape too large", mf, name);
	}
	w->scale = 1.0;
	w->min = 0.0;
	w->storage = w->dtype == IR_DT_F32 ? IR_ST_F32 : IR_ST_I32;
	if (q) {
		const char *qd = json_string_value(json_object_get(q, "dtype"));
		json_t *sc = json_object_get(q, "scale");
		json_t *mn = json_object_get(q, "min");

		if (!qd || (strcmp(qd, "uint8") && strcmp(qd, "uint16")))
			return ir_err(err, IR_EINVAL,
			    "%s: %s: quantisation %s not supported (uint8, "
			    "uint16)", mf, name, qd ? qd : "(missing)");
		if (!json_is_number(sc) || !json_is_number(mn))
			return ir_err(err, IR_EINVAL,
			    "%s: %s: quantisation without scale and min", mf,
			    name);
		w->storage = strcmp(qd, "uint8") == 0 ? IR_ST_U8 : IR_ST_U16;
		w->scale = json_number_value(sc);
		w->min = json_number_value(mn);
	}
	w->length = w->count * (w->storage == IR_ST_U8 ? 1 :
	    w->storage == IR_ST_U16 ? 2 : 4);
	return IR_OK;
}

static int
convert(const char *mf, const char *out, char *err)
{
	unsigned char *txt, *img, **shards = NULL;
	size_t tlen, nshards = 0, nw = 0, gi, wi, i, j;
	struct wt *w = NULL;
	json_error_t je;
	json_t *root, *g, *ws, *o;
	char *dir, *slash;
	uint64_t doff, at, fsize;
	unsigned int mdlen;
	struct ir_model *chk;
	int rc = IR_OK;

	if ((rc = ir_read_file(mf, &txt, &tlen, 64 << 20, err)))
		return rc;
	root = json_loadb((char *)txt, tlen, JSON_REJECT_DUPLICATES, &je);
	free(txt);
	if (!root)
		return ir_err(err, IR_EINVAL, "%s: line %d: %s", mf, je.line,
		    je.text);
	if (!json_is_array(root) || json_array_size(root) == 0) {
		json_decref(root);
		return ir_err(err, IR_EINVAL,
		    "%s: not a non-empty array of weight groups", mf);
	}
	dir = ir_xstrdup(mf);
	if ((slash = strrchr(dir, '/')))
		*slash = 0;
	else
		strcpy(dir, ".");
	shards = ir_xcalloc(json_array_size(root), sizeof *shards);

	json_array_foreach(root, gi, g) {
		size_t slen;
		uint64_t off = 0;

		ws = json_object_get(g, "weights");
		if (!json_is_object(g) || !json_is_array(ws)) {
			rc = ir_err(err, IR_EINVAL,
			    "%s: group %zu has no \"weights\" array", mf, gi);
			goto done;
		}
		rc = read_shards(dir, json_object_get(g, "paths"), mf,
		    &shards[gi], &slen, err);
		if (rc)
			goto done;
		nshards++;
		w = ir_xrealloc(w, (nw + json_array_size(ws) + 1) * sizeof *w);
		json_array_foreach(ws, wi, o) {
			if ((rc = parse_weight(o, &w[nw], mf, err)))
				goto done;
			if (w[nw].length > slen - off) {
				rc = ir_err(err, IR_EINVAL,
				    "%s: %s: needs %llu bytes at %llu, the "
				    "shards of group %zu have %zu", mf,
				    w[nw].name,
				    (unsigned long long)w[nw].length,
				    (unsigned long long)off, gi, slen);
				goto done;
			}
			w[nw].src = shards[gi] + off;
			off += w[nw].length;
			for (j = 0; j < nw; j++)
				if (strcmp(w[j].name, w[nw].name) == 0) {
					rc = ir_err(err, IR_EINVAL,
					    "%s: tensor %s appears twice", mf,
					    w[nw].name);
					goto done;
				}
			nw++;
		}
		if (off != slen) {
			rc = ir_err(err, IR_EINVAL,
			    "%s: group %zu: tensors use %llu bytes, shards "
			    "have %zu", mf, gi, (unsigned long long)off, slen);
			goto done;
		}
	}
	if (nw > UINT32_MAX) {
		rc = ir_err(err, IR_EINVAL, "%s: too many tensors", mf);
		goto done;
	}

	/* Lay out: header, table, blobs at multiples of 64, checksum. */
	doff = align64(HDR_SIZE + (uint64_t)nw * ENTRY_SIZE);
	at = doff;
	for (i = 0; i < nw; i++) {
		w[i].off = at;
		at = align64(at + w[i].length);
	}
	fsize = at + SUM_SIZE;
	if (fsize > IR_MODEL_MAXFILE) {
		rc = ir_err(err, IR_EINVAL, "%s: result larger than %zu bytes",
		    mf, IR_MODEL_MAXFILE);
		goto done;
	}
	img = ir_xcalloc(1, fsize);
	memcpy(img, "IRW1", 4);
	put32(img + 4, 1);
	put32(img + 8, (uint32_t)nw);
	put32(img + 12, ENTRY_SIZE);
	put64(img + 16, HDR_SIZE);
	put64(img + 24, doff);
	put64(img + 32, fsize);
	for (i = 0; i < nw; i++) {
		unsigned char *e = img + HDR_SIZE + i * ENTRY_SIZE;
		int d;

		memcpy(e, w[i].name, NAME_SIZE);
		for (d = 0; d < 4; d++)
			put32(e + 96 + 4 * d, (uint32_t)w[i].dims[d]);
		e[112] = (unsigned char)w[i].dtype;
		e[113] = (unsigned char)w[i].storage;
		e[114] = (unsigned char)w[i].ndim;
		putf64(e + 120, w[i].scale);
		putf64(e + 128, w[i].min);
		put64(e + 136, w[i].off);
		put64(e + 144, w[i].length);
		/* both the shards and our format are little-endian */
		memcpy(img + w[i].off, w[i].src, w[i].length);
	}
	if (EVP_Digest(img, at, img + at, &mdlen, EVP_sha256(), NULL) != 1) {
		free(img);
		rc = ir_err(err, IR_EINVAL, "cannot compute SHA-256");
		goto done;
	}
	rc = ir_model_open_mem(img, fsize, out, &chk, err);
	if (rc == IR_OK) {
		ir_model_close(chk);
		rc = ir_write_file_atomic(out, img, fsize, err);
	}
	free(img);
done:
	for (i = 0; i < nshards; i++)
		free(shards[i]);
	free(shards);
	free(w);
	free(dir);
	json_decref(root);
	return rc;
}

/* The shortest %g form that reads back as the same double. */
static void
fmtdouble(char *out, size_t cap, double v)
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(out, cap, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static int
exit_for(int rc)
{
	return rc == IR_OK ? IR_EXIT_OK : IR_EXIT_USAGE;
}

static int
cmd_list(const char *path)
{
	char err[IR_ERRMAX], sc[40], mn[40];
	struct ir_tensor_info in;
	struct ir_model *m;
	int i, d, rc;

	if ((rc = ir_model_open(path, &m, err))) {
		ir_warn("%s", err);
		return exit_for(rc);
	}
	printf("#\tname\tdtype\tstored\tshape\tscale\tmin\toffset\tbytes\n");
	for (i = 0; i < ir_model_count(m); i++) {
		ir_model_info(m, i, &in, err);
		fmtdouble(sc, sizeof sc, in.scale);
		fmtdouble(mn, sizeof mn, in.min);
		printf("%d\t%s\t%s\t%s\t[", i, in.name,
		    ir_model_dtype_name(in.dtype),
		    ir_model_storage_name(in.storage));
		for (d = 0; d < in.ndim; d++)
			printf("%s%d", d ? "," : "", in.dims[d]);
		printf("]\t%s\t%s\t%llu\t%llu\n", sc, mn,
		    (unsigned long long)in.offset,
		    (unsigned long long)in.length);
	}
	ir_model_close(m);
	return IR_EXIT_OK;
}

static int
cmd_check(int argc, char **argv)
{
	char err[IR_ERRMAX];
	struct ir_model *m;
	int i, rc, ex = IR_EXIT_OK;

	for (i = 0; i < argc; i++) {
		if ((rc = ir_model_open(argv[i], &m, err))) {
			ir_warn("%s", err);
			ex = exit_for(rc);
			continue;
		}
		printf("%s\tok\t%d tensors\tsha256:%s\n", argv[i],
		    ir_model_count(m), ir_model_checksum(m));
		ir_model_close(m);
	}
	return ex;
}

static int
cmd_dump(const char *path, const char *name)
{
	char err[IR_ERRMAX];
	struct ir_tensor_info in;
	struct ir_model *m;
	const float *v;
	size_t k;
	int i, rc;

	if ((rc = ir_model_open(path, &m, err))) {
		ir_warn("%s", err);
		return exit_for(rc);
	}
	if (!(v = ir_model_tensor(m, name, NULL, NULL, err))) {
		ir_warn("%s: %s", path, err);
		ir_model_close(m);
		return IR_EXIT_NO;
	}
	for (i = 0; i < ir_model_count(m); i++)
		if (strcmp(ir_model_name(m, i), name) == 0)
			ir_model_info(m, i, &in, err);
	for (k = 0; k < in.count; k++)
		printf("%.9g\n", (double)v[k]);
	ir_model_close(m);
	return fflush(stdout) == 0 ? IR_EXIT_OK : IR_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	char err[IR_ERRMAX];
	int rc;

	ir_setprog(argv[0]);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "convert") == 0 && argc == 4) {
		if ((rc = convert(argv[2], argv[3], err)))
			ir_die(exit_for(rc), "%s", err);
		return IR_EXIT_OK;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 3)
		return cmd_list(argv[2]);
	if (strcmp(argv[1], "check") == 0 && argc >= 3)
		return cmd_check(argc - 2, argv + 2);
	if (strcmp(argv[1], "dump") == 0 && argc == 4)
		return cmd_dump(argv[2], argv[3]);
	if (strcmp(argv[1], "dir") == 0 && argc == 2) {
		puts(ir_model_dir());
		return fflush(stdout) == 0 ? IR_EXIT_OK : IR_EXIT_USAGE;
	}
	usage();
}
