/*
 * gallery.c: the gallery file (ir-gallery(5)) and face-api's matching rule.
 *
 * File layout, all integers little-endian:
 *   magic    8 bytes  "IRGAL\r\n\032" (the \r\n and ^Z catch text-mode
 *                     and truncating transfers, as PNG's signature does)
 *   version  u32      1
 *   dim      u32      128
 *   count    u32      number of people
 *   flags    u32      0 (reserved; nonzero is refused)
 *   count times:
 *     namelen u16     1..255, then namelen bytes of name (no NUL)
 *     ndesc   u32     >= 1, then ndesc*dim float32 (IEEE 754, LE)
 *   crc      u32      CRC-32 (IEEE, as zlib) of every byte before it
 * Nothing may follow the CRC.
 *
 * Invariants: every length is checked against the bytes that remain
 * before it is used, in size_t arithmetic that cannot overflow; a
 * gallery in memory always satisfies what the loader checks (valid,
 * unique names; n >= 1; finite floats), so save(load(x)) == x.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "gallery.h"
#include "model.h"

static const unsigned char magic[8] = { 'I', 'R', 'G', 'A', 'L', '\r', '\n',
    032 };
#define HDR 24

static uint32_t
crc32_ieee(const unsigned char *p, size_t n)
{
	static const uint32_t t[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
		0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
		0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t c = 0xffffffff;
	size_t i;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		c = (c >> 4) ^ t[c & 15];
		c = (c >> 4) ^ t[c & 15];
	}
	return ~c;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static float
getf(const unsigned char *p)
{
	uint32_t u = get32(p);
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static void
putf(unsigned char *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	put32(p, u);
}

const char *
ir_gallery_default(char *buf, size_t n)
{
	const char *env = ir_getenv("IR_GALLERY", NULL);
	const char *md = ir_model_dir();
	const char *slash = strrchr(md, '/');
	int up = slash ? (int)(slash - md) : 1;

	if (env) {
		snprintf(buf, n, "%s", env);
		return buf;
	}
	if (!slash)
		md = ".";
	snprintf(buf, n, "%.*s/examples/gallery.irg", up, md);
	if (access(buf, R_OK) == 0)
		return buf;
	snprintf(buf, n, "%.*s/gallery.irg", up, md);
	return buf;
}

void
ir_gallery_init(struct ir_gallery *g)
{
	memset(g, 0, sizeof *g);
}

void
ir_gallery_free(struct ir_gallery *g)
{
	int i;

	for (i = 0; i < g->n; i++) {
		free(g->p[i].name);
		free(g->p[i].desc);
	}
	free(g->p);
	ir_gallery_init(g);
}

static int
name_ok(const unsigned char *s, size_t len, char *err)
{
	static const char *reserved[] = { "unknown", "noface", "error" };
	size_t i;

	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty name");
	if (len > IR_GALLERY_NAMEMAX)
		return ir_err(err, IR_EINVAL, "name longer than %d bytes",
		    IR_GALLERY_NAMEMAX);
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return ir_err(err, IR_EINVAL,
			    "name contains a control character");
	if (s[0] == ' ' || s[len - 1] == ' ')
		return ir_err(err, IR_EINVAL,
		    "name begins or ends with a space");
	for (i = 0; i < sizeof reserved / sizeof *reserved; i++)
		if (len == strlen(reserved[i]) &&
		    memcmp(s, reserved[i], len) == 0)
			return ir_err(err, IR_EINVAL,
			    "name \"%s\" is reserved for the output",
			    reserved[i]);
	return IR_OK;
}

int
ir_gallery_name_ok(const char *name, char *err)
{
	return name_ok((const unsigned char *)name, strlen(name), err);
}

int
ir_gallery_find(const struct ir_gallery *g, const char *name)
{
	int i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->p[i].name, name) == 0)
			return i;
	return -1;
}

static int
finite_all(const float *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(d[i]))
			return 0;
	return 1;
}

int
ir_gallery_add(struct ir_gallery *g, const char *name, const float *desc,
    int n, char *err)
{
	struct ir_person *p;
	int i, rc;

	if ((rc = ir_gallery_name_ok(name, err)) != IR_OK)
		return rc;
	if (n < 1)
		return ir_err(err, IR_EINVAL, "no descriptors to add");
	if (!finite_all(desc, (size_t)n * IR_GALLERY_DIM))
		return ir_err(err, IR_EINVAL, "descriptor is not finite");
	i = ir_gallery_find(g, name);
	if (i >= 0 && g->p[i].n > INT32_MAX / IR_GALLERY_DIM - n)
		return ir_err(err, IR_EINVAL, "too many descriptors");
	if (i < 0) {
		if (g->n == g->cap) {
			g->cap = g->cap ? g->cap * 2 : 8;
			g->p = ir_xrealloc(g->p, sizeof *g->p * g->cap);
		}
		i = g->n++;
		g->p[i].name = ir_xstrdup(name);
		g->p[i].n = 0;
		g->p[i].desc = NULL;
	}
	p = &g->p[i];
	p->desc = ir_xrealloc(p->desc,
	    sizeof(float) * IR_GALLERY_DIM * (size_t)(p->n + n));
	memcpy(p->desc + (size_t)p->n * IR_GALLERY_DIM, desc,
	    sizeof(float) * IR_GALLERY_DIM * (size_t)n);
	p->n += n;
	return IR_OK;
}

int
ir_gallery_remove(struct ir_gallery *g, const char *name)
{
	int i = ir_gallery_find(g, name);

	if (i < 0)
		return IR_ENOENT;
	free(g->p[i].name);
	free(g->p[i].desc);
	memmove(&g->p[i], &g->p[i + 1], sizeof *g->p * (g->n - i - 1));
	g->n--;
	return IR_OK;
}

int
ir_gallery_parse(const unsigned char *buf, size_t len, struct ir_gallery *g,
    char *err)
{
	size_t off, body;
	uint32_t count, i, ver, dim, flags;
	char name[IR_GALLERY_NAMEMAX + 1];
	float *d = NULL;
	int rc;

	ir_gallery_init(g);
	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty file");
	if (len < sizeof magic || memcmp(buf, magic, sizeof magic) != 0)
		return ir_err(err, IR_EINVAL, "not an ir gallery (bad magic)");
	if (len < HDR + 4)
		return ir_err(err, IR_EINVAL, "truncated (header)");
	ver = get32(buf + 8);
	dim = get32(buf + 12);
	count = get32(buf + 16);
	flags = get32(buf + 20);
	if (ver != IR_GALLERY_VERSION)
		return ir_err(err, IR_EINVAL, "unsupported version %u "
		    "(this program reads version %d)", ver, IR_GALLERY_VERSION);
	if (dim != IR_GALLERY_DIM)
		return ir_err(err, IR_EINVAL, "descriptors of %u floats, "
		    "expected %d", dim, IR_GALLERY_DIM);
	if (flags != 0)
		return ir_err(err, IR_EINVAL, "unknown flags 0x%x", flags);
	/* Every person needs at least 2+1+4+512 bytes: bounds count. */
	body = len - 4;
	if (count > (body - HDR) / (2 + 1 + 4 + 4 * IR_GALLERY_DIM))
		return ir_err(err, IR_EINVAL,
		    "truncated (%u people cannot fit in %zu bytes)", count,
		    len);
	off = HDR;
	for (i = 0; i < count; i++) {
		size_t nlen, nd, need;

		if (body - off < 2)
			goto trunc;
		nlen = (size_t)buf[off] | (size_t)buf[off + 1] << 8;
		off += 2;
		if (nlen > body - off)
			goto trunc;
		if ((rc = name_ok(buf + off, nlen, err)) != IR_OK) {
			char why[IR_ERRMAX];
			snprintf(why, sizeof why, "%s", err ? err : "");
			ir_gallery_free(g);
			return ir_err(err, IR_EINVAL, "person %u: %s", i + 1,
			    why);
		}
		memcpy(name, buf + off, nlen);
		name[nlen] = 0;
		off += nlen;
		if (body - off < 4)
			goto trunc;
		nd = get32(buf + off);
		off += 4;
		if (nd == 0) {
			ir_gallery_free(g);
			return ir_err(err, IR_EINVAL,
			    "person \"%s\" has no descriptors", name);
		}
		if (nd > (body - off) / (4 * IR_GALLERY_DIM))
			goto trunc;
		need = nd * 4 * IR_GALLERY_DIM;
		if (ir_gallery_find(g, name) >= 0) {
			ir_gallery_free(g);
			return ir_err(err, IR_EINVAL,
			    "person \"%s\" appears twice", name);
		}
		d = ir_xmalloc(need);
		for (size_t k = 0; k < nd * IR_GALLERY_DIM; k++)
			d[k] = getf(buf + off + 4 * k);
		off += need;
		if (!finite_all(d, nd * IR_GALLERY_DIM)) {
			free(d);
			ir_gallery_free(g);
			return ir_err(err, IR_EINVAL,
			    "person \"%s\": descriptor is not finite", name);
		}
		if ((rc = ir_gallery_add(g, name, d, (int)nd, err)) != IR_OK) {
			free(d);
			ir_gallery_free(g);
			return rc;
		}
		free(d);
	}
	if (off != body) {
		ir_gallery_free(g);
		return ir_err(err, IR_EINVAL, "%zu unexpected bytes after the "
		    "last person", body - off);
	}
	if (crc32_ieee(buf, body) != get32(buf + body)) {
		ir_gallery_free(g);
		return ir_err(err, IR_EINVAL, "bad checksum (corrupt file)");
	}
	return IR_OK;
trunc:
	ir_gallery_free(g);
	return ir_err(err, IR_EINVAL, "truncated (person %u of %u)", i + 1,
	    count);
}

int
ir_gallery_load(const char *path, struct ir_gallery *g, char *err)
{
	unsigned char *buf;
	size_t len;
	char why[IR_ERRMAX];
	int rc;

	ir_gallery_init(g);
	rc = ir_read_file(path, &buf, &len, IR_GALLERY_MAXBYTES, err);
	if (rc != IR_OK)
		return rc;
	rc = ir_gallery_parse(buf, len, g, why);
	free(buf);
	if (rc != IR_OK)
		return ir_err(err, rc, "%s: %s", path, why);
	return IR_OK;
}

void
ir_gallery_serialize(const struct ir_gallery *g, unsigned char **buf,
    size_t *len)
{
	size_t n = HDR + 4, off;
	unsigned char *b;
	int i;

	for (i = 0; i < g->n; i++)
		n += 2 + strlen(g->p[i].name) + 4 +
		    (size_t)g->p[i].n * 4 * IR_GALLERY_DIM;
	b = ir_xmalloc(n);
	memcpy(b, magic, sizeof magic);
	put32(b + 8, IR_GALLERY_VERSION);
	put32(b + 12, IR_GALLERY_DIM);
	put32(b + 16, (uint32_t)g->n);
	put32(b + 20, 0);
	off = HDR;
	for (i = 0; i < g->n; i++) {
		const struct ir_person *p = &g->p[i];
		size_t nl = strlen(p->name), k;

		b[off] = nl & 0xff;
		b[off + 1] = nl >> 8;
		memcpy(b + off + 2, p->name, nl);
		off += 2 + nl;
		put32(b + off, (uint32_t)p->n);
		off += 4;
		for (k = 0; k < (size_t)p->n * IR_GALLERY_DIM; k++, off += 4)
			putf(b + off, p->desc[k]);
	}
	put32(b + off, crc32_ieee(b, off));
	*buf = b;
	*len = n;
}

int
ir_gallery_save(const struct ir_gallery *g, const char *path, char *err)
{
	unsigned char *buf;
	size_t len;
	int rc;

	ir_gallery_serialize(g, &buf, &len);
	rc = ir_write_file_atomic(path, buf, len, err);
	free(buf);
	return rc;
}

double
ir_desc_distance(const float *a, const float *b)
{
	double s = 0;
	int i;

	for (i = 0; i < IR_GALLERY_DIM; i++) {
		double d = (double)a[i] - (double)b[i];
		s += d * d;
	}
	return sqrt(s);
}

void
ir_gallery_match(const struct ir_gallery *g, const float *desc,
    double threshold, struct ir_match *m)
{
	double best = INFINITY;
	int i, j, who = -1;

	if (threshold <= 0)
		threshold = IR_GALLERY_THRESHOLD;
	for (i = 0; i < g->n; i++) {
		const struct ir_person *p = &g->p[i];
		double sum = 0, mean;

		for (j = 0; j < p->n; j++)
			sum += ir_desc_distance(desc,
			    p->desc + (size_t)j * IR_GALLERY_DIM);
		mean = sum / p->n;
		if (mean <= best) {     /* <=: the later person wins a tie */
			best = mean;
			who = i;
		}
	}
	m->person = who;
	m->distance = best;
	m->label = who >= 0 && best < threshold ? g->p[who].name : "unknown";
}
