/*
 * model.c: reads and verifies our weights files (format: ir-weights(5)).
 *
 * Layout, all little-endian: a 64-byte header, a table of 160-byte entries,
 * the tensor data (each blob at a multiple of 64 bytes, in table order, never
 * overlapping), and a trailing SHA-256 of every byte before it.
 *
 * Invariants once ir_model_open has returned IR_OK: every entry was checked
 * against the file size with overflow-free arithmetic before any data was
 * touched, names are NUL-terminated, unique and at most IR_MODEL_MAXNAME
 * bytes, length == count * element size, and every float32 tensor has been
 * dequantised into one 64-byte aligned arena owned by the model (the
 * codes of uint8-stored ones are kept too, in a second arena, for
 * ir_model_codes, until ir_model_drop_codes). Nothing else is written
 * after open, so lookups are thread safe. The file buffer itself is not
 * kept.
 *
 * Dequantisation must round exactly as tfjs does: the product and sum in
 * double, one rounding to float. The Makefile compiles this file with
 * -ffp-contract=off so the compiler cannot fuse them into an FMA.
 */
#include <endian.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "model.h"

#ifndef IR_PREFIX
#define IR_PREFIX "/usr/local"
#endif

#define HDR_SIZE 64
#define ENTRY_SIZE 160
#define NAME_SIZE 96
#define SUM_SIZE 32
#define ALIGN 64
#define VERSION 1

struct tensor {
	struct ir_tensor_info info;
	char name[NAME_SIZE];
	float *data;  /* into the arena; NULL unless dtype is float32 */
	unsigned char *codes; /* into the code arena: u8-stored float32 */
};

struct ir_model {
	int n;
	struct tensor *t;
	int *byname;  /* indices of t sorted by name, for bsearch */
	float *arena;
	unsigned char *codes; /* the 8-bit codes of u8-stored tensors */
	char sum[2 * SUM_SIZE + 1];
};

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static double
getf64(const unsigned char *p)
{
	uint64_t u = get64(p);
	double d;

	memcpy(&d, &u, 8);
	return d;
}

static int
allzero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

const char *
ir_model_dtype_name(int dtype)
{
	switch (dtype) {
	case IR_DT_F32: return "f32";
	case IR_DT_I32: return "i32";
	}
	return "?";
}

const char *
ir_model_storage_name(int storage)
{
	switch (storage) {
	case IR_ST_F32: return "f32";
	case IR_ST_I32: return "i32";
	case IR_ST_U8: return "u8";
	case IR_ST_U16: return "u16";
	}
	return "?";
}

static size_t
elsize(int storage)
{
	switch (storage) {
	case IR_ST_U8: return 1;
	case IR_ST_U16: return 2;
	}
	return 4;
}

struct byname {
	const char *name;
	int i;
};

static int
cmp_byname(const void *a, const void *b)
{
	return strcmp(((const struct byname *)a)->name,
	    ((const struct byname *)b)->name);
}

/* Fills idx with the tensor indices in name order; returns the index of a
 * duplicated name, or -1. O(n log n): the table may be large in a hostile
 * file. */
static int
sort_byname(const struct tensor *t, int *idx, int n)
{
	struct byname *v = ir_xcalloc(n ? n : 1, sizeof *v);
	int i, dup = -1;

	for (i = 0; i < n; i++) {
		v[i].name = t[i].name;
		v[i].i = i;
	}
	qsort(v, n, sizeof *v, cmp_byname);
	for (i = 0; i < n; i++) {
		idx[i] = v[i].i;
		if (i > 0 && dup < 0 && strcmp(v[i - 1].name, v[i].name) == 0)
			dup = v[i].i;
	}
	free(v);
	return dup;
}

static int
find(const struct ir_model *m, const char *name)
{
	int lo = 0, hi = m->n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(m->t[m->byname[mid]].name, name);
		if (c == 0)
			return m->byname[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Parses and checks table entry i at p; prev_end is the end of the
 * previous blob. All bounds use uint64_t and are checked before use. */
static int
parse_entry(const unsigned char *p, int i, uint64_t data_off,
    uint64_t data_end, uint64_t *prev_end, struct tensor *t, const char *fn,
    char *err)
{
	struct ir_tensor_info *in = &t->info;
	const unsigned char *nul = memchr(p, 0, NAME_SIZE);
	uint64_t count = 1, off, len;
	int d;

	if (!nul)
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %d: name is not NUL-terminated", fn, i);
	if (nul == p)
		return ir_err(err, IR_EINVAL, "%s: tensor %d: empty name",
		    fn, i);
	if (!allzero(nul, NAME_SIZE - (nul - p)))
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %d: name not NUL-padded", fn, i);
	memcpy(t->name, p, NAME_SIZE);
	in->name = t->name;
	in->dtype = p[112];
	in->storage = p[113];
	in->ndim = p[114];
	if (p[115] || get32(p + 116) || get64(p + 152))
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: reserved bytes not zero", fn, t->name);
	if (in->dtype != IR_DT_F32 && in->dtype != IR_DT_I32)
		return ir_err(err, IR_EINVAL, "%s: tensor %s: bad dtype %d",
		    fn, t->name, in->dtype);
	if (in->storage > IR_ST_U16 ||
	    (in->storage == IR_ST_F32 && in->dtype != IR_DT_F32) ||
	    (in->storage == IR_ST_I32 && in->dtype != IR_DT_I32))
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: bad storage type %d for %s", fn, t->name,
		    in->storage, ir_model_dtype_name(in->dtype));
	if (in->ndim > 4)
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: %d dimensions (at most 4)", fn, t->name,
		    in->ndim);
	for (d = 0; d < 4; d++) {
		uint32_t v = get32(p + 96 + 4 * d);
		if (d >= in->ndim) {
			if (v != 0)
				return ir_err(err, IR_EINVAL,
				    "%s: tensor %s: unused dimension %d not 0",
				    fn, t->name, d);
			in->dims[d] = 0;
			continue;
		}
		if (v == 0 || v > INT_MAX)
			return ir_err(err, IR_EINVAL,
			    "%s: tensor %s: dimension %d is %lu", fn, t->name,
			    d, (unsigned long)v);
		in->dims[d] = (int)v;
		/* count <= data_end < 2^63 before, v < 2^31: no overflow */
		count *= v;
		if (count > data_end)
			return ir_err(err, IR_EINVAL,
			    "%s: tensor %s: shape larger than the file", fn,
			    t->name);
	}
	in->count = (size_t)count;
	in->scale = getf64(p + 120);
	in->min = getf64(p + 128);
	if (in->storage == IR_ST_F32 || in->storage == IR_ST_I32) {
		if (in->scale != 1.0 || in->min != 0.0)
			return ir_err(err, IR_EINVAL,
			    "%s: tensor %s: raw tensor with scale/min not 1/0",
			    fn, t->name);
	} else if (!isfinite(in->scale) || !isfinite(in->min))
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: scale or min not finite", fn, t->name);
	off = get64(p + 136);
	len = get64(p + 144);
	in->offset = off;
	in->length = len;
	if (len != count * elsize(in->storage))
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: length %llu does not match %llu elements "
		    "of %s", fn, t->name, (unsigned long long)len,
		    (unsigned long long)count,
		    ir_model_storage_name(in->storage));
	if (off % ALIGN || off < data_off || off < *prev_end ||
	    off > data_end || len > data_end - off)
		return ir_err(err, IR_EINVAL,
		    "%s: tensor %s: data at %llu+%llu out of bounds, "
		    "unaligned or overlapping", fn, t->name,
		    (unsigned long long)off, (unsigned long long)len);
	*prev_end = off + len;
	return IR_OK;
}

static void
dequantise(const unsigned char *src, const struct ir_tensor_info *in,
    float *dst)
{
	size_t i, n = in->count;
	double scale = in->scale, min = in->min;

	switch (in->storage) {
	case IR_ST_F32:
		for (i = 0; i < n; i++) {
			uint32_t u = get32(src + 4 * i);
			memcpy(&dst[i], &u, 4);
		}
		break;
	case IR_ST_U8:
		/* exactly tfjs: double product and sum, one rounding */
		for (i = 0; i < n; i++)
			dst[i] = (float)((double)src[i] * scale + min);
		break;
	case IR_ST_U16:
		for (i = 0; i < n; i++) {
			uint16_t q;
			memcpy(&q, src + 2 * i, 2);
			dst[i] = (float)((double)le16toh(q) * scale + min);
		}
		break;
	}
}

static void
hexsum(const unsigned char *md, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < SUM_SIZE; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * SUM_SIZE] = 0;
}

int
ir_model_open_mem(const void *buf, size_t len, const char *fn,
    struct ir_model **mp, char *err)
{
	const unsigned char *b = buf;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t count, esize, toff, doff, fsize, data_end, prev_end;
	uint64_t table_end, floats = 0, ncodes = 0;
	struct ir_model *m;
	size_t at, cat = 0;
	int i, rc, dup;

	*mp = NULL;
	if (len == 0)
		return ir_err(err, IR_EINVAL, "%s: empty file", fn);
	if (len > IR_MODEL_MAXFILE)
		return ir_err(err, IR_EINVAL,
		    "%s: larger than the limit of %zu bytes", fn,
		    IR_MODEL_MAXFILE);
	if (len < 4 || memcmp(b, "IRW1", 4) != 0)
		return ir_err(err, IR_EINVAL,
		    "%s: not an ir weights file (bad magic)", fn);
	if (len < HDR_SIZE + SUM_SIZE)
		return ir_err(err, IR_EINVAL,
		    "%s: truncated: %zu bytes, shorter than a header", fn, len);
	if (get32(b + 4) != VERSION)
		return ir_err(err, IR_EINVAL,
		    "%s: unsupported version %lu (this reader knows %d)", fn,
		    (unsigned long)get32(b + 4), VERSION);
	count = get32(b + 8);
	esize = get32(b + 12);
	toff = get64(b + 16);
	doff = get64(b + 24);
	fsize = get64(b + 32);
	if (fsize != len)
		return ir_err(err, IR_EINVAL,
		    "%s: %s: header says %llu bytes, file has %zu", fn,
		    fsize > len ? "truncated" : "bad size",
		    (unsigned long long)fsize, len);
	if (!allzero(b + 40, HDR_SIZE - 40))
		return ir_err(err, IR_EINVAL,
		    "%s: reserved header bytes not zero", fn);
	if (esize != ENTRY_SIZE || toff != HDR_SIZE)
		return ir_err(err, IR_EINVAL,
		    "%s: bad header: entry size %llu, table at %llu", fn,
		    (unsigned long long)esize, (unsigned long long)toff);
	data_end = fsize - SUM_SIZE;
	/* count < 2^32 and ENTRY_SIZE small: the product fits in 64 bits */
	table_end = toff + count * ENTRY_SIZE;
	if (table_end > data_end || doff < table_end || doff > data_end ||
	    doff % ALIGN || data_end % ALIGN)
		return ir_err(err, IR_EINVAL,
		    "%s: bad header: %llu tensors, data at %llu, in %llu bytes",
		    fn, (unsigned long long)count, (unsigned long long)doff,
		    (unsigned long long)fsize);
	if (EVP_Digest(b, data_end, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != SUM_SIZE)
		return ir_err(err, IR_EINVAL, "%s: cannot compute SHA-256", fn);
	if (memcmp(md, b + data_end, SUM_SIZE) != 0)
		return ir_err(err, IR_EINVAL,
		    "%s: checksum mismatch: the file is corrupt", fn);

	m = ir_xcalloc(1, sizeof *m);
	m->n = (int)count;
	m->t = ir_xcalloc(count ? count : 1, sizeof *m->t);
	m->byname = ir_xcalloc(count ? count : 1, sizeof *m->byname);
	hexsum(md, m->sum);
	prev_end = doff;
	for (i = 0; i < m->n; i++) {
		rc = parse_entry(b + toff + (uint64_t)i * ENTRY_SIZE, i, doff,
		    data_end, &prev_end, &m->t[i], fn, err);
		if (rc) {
			ir_model_close(m);
			return rc;
		}
		if (m->t[i].info.dtype == IR_DT_F32)
			floats += (m->t[i].info.count + 15) & ~(uint64_t)15;
		if (m->t[i].info.dtype == IR_DT_F32 &&
		    m->t[i].info.storage == IR_ST_U8)
			ncodes += (m->t[i].info.count + 63) & ~(uint64_t)63;
	}
	if ((dup = sort_byname(m->t, m->byname, m->n)) >= 0) {
		rc = ir_err(err, IR_EINVAL, "%s: tensor %s appears twice", fn,
		    m->t[dup].name);
		ir_model_close(m);
		return rc;
	}
	/* floats <= 4 * file size / 1 byte per element: fits in size_t */
	m->arena = ir_xaligned(floats * sizeof(float));
	m->codes = ncodes ? ir_xaligned(ncodes) : NULL;
	at = 0;
	for (i = 0; i < m->n; i++) {
		struct tensor *t = &m->t[i];
		if (t->info.dtype != IR_DT_F32)
			continue;
		t->data = m->arena + at;
		dequantise(b + t->info.offset, &t->info, t->data);
		at += (t->info.count + 15) & ~(size_t)15;
		if (t->info.storage == IR_ST_U8) {
			t->codes = m->codes + cat;
			memcpy(t->codes, b + t->info.offset, t->info.count);
			cat += (t->info.count + 63) & ~(size_t)63;
		}
	}
	*mp = m;
	return IR_OK;
}

int
ir_model_open(const char *path, struct ir_model **m, char *err)
{
	unsigned char *buf;
	size_t len;
	int rc;

	*m = NULL;
	rc = ir_read_file(path, &buf, &len, IR_MODEL_MAXFILE, err);
	if (rc)
		return rc;
	rc = ir_model_open_mem(buf, len, path, m, err);
	free(buf);
	return rc;
}

const float *
ir_model_tensor(struct ir_model *m, const char *name, int *ndim,
    int dims[4], char *err)
{
	int i = find(m, name), d;

	if (i < 0) {
		ir_err(err, IR_EINVAL, "no tensor %s in the model", name);
		return NULL;
	}
	if (m->t[i].info.dtype != IR_DT_F32) {
		ir_err(err, IR_EINVAL, "tensor %s is %s, not f32", name,
		    ir_model_dtype_name(m->t[i].info.dtype));
		return NULL;
	}
	if (ndim)
		*ndim = m->t[i].info.ndim;
	if (dims)
		for (d = 0; d < 4; d++)
			dims[d] = m->t[i].info.dims[d];
	return m->t[i].data;
}

const unsigned char *
ir_model_codes(struct ir_model *m, const char *name, double *scale,
    double *min)
{
	int i = find(m, name);

	if (i < 0 || !m->t[i].codes)
		return NULL;
	*scale = m->t[i].info.scale;
	*min = m->t[i].info.min;
	return m->t[i].codes;
}

void
ir_model_drop_codes(struct ir_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++)
		m->t[i].codes = NULL;
	free(m->codes);
	m->codes = NULL;
}

static void
fmtshape(char *out, size_t cap, int ndim, const int *dims)
{
	size_t n = 0;
	int d;

	n += snprintf(out + n, cap - n, "[");
	for (d = 0; d < ndim && n < cap; d++)
		n += snprintf(out + n, cap - n, "%s%d", d ? "," : "", dims[d]);
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

const float *
ir_model_expect(struct ir_model *m, const char *name, int ndim,
    const int want[4], char *err)
{
	int gndim, gdims[4], d, same;
	const float *p = ir_model_tensor(m, name, &gndim, gdims, err);
	char g[64], w[64];

	if (!p)
		return NULL;
	same = gndim == ndim;
	for (d = 0; same && d < ndim; d++)
		same = gdims[d] == want[d];
	if (same)
		return p;
	fmtshape(g, sizeof g, gndim, gdims);
	fmtshape(w, sizeof w, ndim < 0 ? 0 : ndim > 4 ? 4 : ndim, want);
	ir_err(err, IR_EINVAL, "tensor %s has shape %s, expected %s", name,
	    g, w);
	return NULL;
}

int
ir_model_count(const struct ir_model *m)
{
	return m->n;
}

const char *
ir_model_name(const struct ir_model *m, int i)
{
	return i >= 0 && i < m->n ? m->t[i].name : NULL;
}

int
ir_model_info(const struct ir_model *m, int i, struct ir_tensor_info *info,
    char *err)
{
	if (i < 0 || i >= m->n)
		return ir_err(err, IR_EINVAL, "no tensor number %d (of %d)", i,
		    m->n);
	*info = m->t[i].info;
	return IR_OK;
}

const char *
ir_model_checksum(const struct ir_model *m)
{
	return m->sum;
}

void
ir_model_close(struct ir_model *m)
{
	if (!m)
		return;
	free(m->arena);
	free(m->codes);
	free(m->byname);
	free(m->t);
	free(m);
}

/* ir_model_dir: decided once. */
static pthread_once_t dir_once = PTHREAD_ONCE_INIT;
static char dir_buf[4096];

static int
has_models(const char *dir)
{
	char p[8192];

	snprintf(p, sizeof p, "%s/face_recognition.irw", dir);
	return access(p, R_OK) == 0;
}

static void
dir_init(void)
{
	const char *env = getenv("IR_MODEL_DIR");
	char exe[4096], cand[4096 + 16], *slash, *real;
	ssize_t n;
	int up;

	if (env && *env && strlen(env) < sizeof dir_buf) {
		snprintf(dir_buf, sizeof dir_buf, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		if ((slash = strrchr(exe, '/')))
			*slash = 0;
		for (up = 1; up <= 2; up++) {
			snprintf(cand, sizeof cand, "%s/%s", exe,
			    up == 1 ? "../model" : "../../model");
			if (!has_models(cand))
				continue;
			real = realpath(cand, NULL);
			if (real && strlen(real) < sizeof dir_buf) {
				snprintf(dir_buf, sizeof dir_buf, "%s", real);
				free(real);
				return;
			}
			free(real);
		}
	}
	snprintf(dir_buf, sizeof dir_buf, "%s/share/ir/model", IR_PREFIX);
}

const char *
ir_model_dir(void)
{
	pthread_once(&dir_once, dir_init);
	return dir_buf;
}
