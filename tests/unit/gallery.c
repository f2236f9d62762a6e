/*
 * gallery.c: TAP tests of the gallery (src/lib/gallery.c): add, find,
 * remove, names, save/load round trip, the file format's fixed layout,
 * refusal of every corruption (each single flipped byte, every
 * truncation, bad magic/version/dim, duplicate and reserved names, NaN),
 * and face-api's matching rule (mean per person, later wins exact ties,
 * strict threshold, "unknown" keeps its distance).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gallery.h"
#include "tap.h"

/* A descriptor with v at index i and zeros elsewhere. */
static void
unit(float *d, int i, float v)
{
	memset(d, 0, sizeof(float) * IR_GALLERY_DIM);
	d[i] = v;
}

static int
refused(const unsigned char *b, size_t len, const char *want)
{
	struct ir_gallery g;
	char err[IR_ERRMAX] = "";
	int rc = ir_gallery_parse(b, len, &g, err);

	if (rc == IR_OK)
		ir_gallery_free(&g);
	if (want && !strstr(err, want))
		printf("# got \"%s\", want \"%s\"\n", err, want);
	return rc == IR_EINVAL && g.n == 0 && (!want || strstr(err, want));
}

int
main(void)
{
	struct ir_gallery g, h;
	struct ir_match m;
	float d[3 * IR_GALLERY_DIM], q[IR_GALLERY_DIM];
	char err[IR_ERRMAX], path[] = "/tmp/ir-gallery-test.XXXXXX";
	unsigned char *buf, *b2;
	size_t len, len2, i;
	int rc, all, fd;

	ir_gallery_init(&g);
	ir_gallery_match(&g, q, 0, &m);
	ok(m.person == -1 && strcmp(m.label, "unknown") == 0 &&
	    isinf(m.distance), "empty gallery: unknown, infinite distance");

	unit(d, 0, 1);
	unit(d + IR_GALLERY_DIM, 1, 1);
	ok(ir_gallery_add(&g, "Paul", d, 2, err) == IR_OK, "add two for Paul");
	unit(d, 2, 1);
	ok(ir_gallery_add(&g, "Emily", d, 1, err) == IR_OK, "add Emily");
	unit(d, 3, 1);
	ok(ir_gallery_add(&g, "Paul", d, 1, err) == IR_OK &&
	    g.n == 2 && g.p[0].n == 3 && strcmp(g.p[0].name, "Paul") == 0,
	    "adding to Paul appends, keeps order");
	ok(ir_gallery_find(&g, "Emily") == 1 && ir_gallery_find(&g, "X") < 0,
	    "find");

	ok(ir_gallery_add(&g, "unknown", d, 1, err) == IR_EINVAL &&
	    strstr(err, "reserved"), "reserved name refused");
	ok(ir_gallery_add(&g, "a\tb", d, 1, err) == IR_EINVAL,
	    "name with TAB refused");
	ok(ir_gallery_add(&g, "", d, 1, err) == IR_EINVAL, "empty name");
	ok(ir_gallery_add(&g, " x", d, 1, err) == IR_EINVAL,
	    "leading space refused");
	{
		char longname[300];
		memset(longname, 'a', 256);
		longname[256] = 0;
		ok(ir_gallery_add(&g, longname, d, 1, err) == IR_EINVAL,
		    "256-byte name refused");
		longname[255] = 0;
		ok(ir_gallery_name_ok(longname, err) == IR_OK,
		    "255-byte name fine");
	}
	d[5] = NAN;
	ok(ir_gallery_add(&g, "Nan", d, 1, err) == IR_EINVAL, "NaN refused");
	ok(ir_gallery_add(&g, "Zero", d, 0, err) == IR_EINVAL,
	    "zero descriptors refused");
	ok(g.n == 2, "refusals changed nothing");
	ok(ir_gallery_name_ok("José Müller", err) == IR_OK,
	    "UTF-8 name with a space inside is fine");

	/* Matching. Paul: e0, e1, e3; Emily: e2. */
	unit(q, 2, 1);
	ir_gallery_match(&g, q, 0, &m);
	ok(strcmp(m.label, "Emily") == 0 && m.distance == 0 && m.person == 1,
	    "exact match, distance 0");
	unit(q, 0, 1);
	ir_gallery_match(&g, q, 0, &m);
	/* Paul: mean(0, sqrt2, sqrt2) = 0.9428; Emily: sqrt2 = 1.414. */
	ok(m.person == 0 && fabs(m.distance - 2 * sqrt(2) / 3) < 1e-12 &&
	    strcmp(m.label, "unknown") == 0,
	    "mean over a person's descriptors; above 0.6 is unknown, with "
	    "that distance and person");
	ir_gallery_match(&g, q, 0.95, &m);
	ok(strcmp(m.label, "Paul") == 0, "a larger threshold labels Paul");
	ir_gallery_match(&g, q, 2 * sqrt(2) / 3, &m);
	ok(strcmp(m.label, "unknown") == 0,
	    "distance equal to the threshold is unknown (strict)");

	/* Tie: two people with the same descriptor: the later wins. */
	ir_gallery_init(&h);
	unit(d, 7, 0.5f);
	ir_gallery_add(&h, "First", d, 1, err);
	ir_gallery_add(&h, "Second", d, 1, err);
	unit(q, 7, 0.25f);
	ir_gallery_match(&h, q, 0, &m);
	ok(strcmp(m.label, "Second") == 0 && m.distance == 0.25,
	    "exact tie: the later person wins");
	ir_gallery_free(&h);
	{
		float a[IR_GALLERY_DIM], b[IR_GALLERY_DIM];
		for (i = 0; i < IR_GALLERY_DIM; i++) {
			a[i] = 0.1f * (float)i;
			b[i] = a[i] + 0.01f;
		}
		double s = 0;
		for (i = 0; i < IR_GALLERY_DIM; i++)
			s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		ok(ir_desc_distance(a, b) == sqrt(s),
		    "distance summed in double");
	}

	/* Serialization: fixed layout. */
	ir_gallery_serialize(&g, &buf, &len);
	ok(len == 24 + (2 + 4 + 4 + 3 * 512) + (2 + 5 + 4 + 512) + 4,
	    "file size as documented");
	ok(memcmp(buf, "IRGAL\r\n\032", 8) == 0 && buf[8] == 1 &&
	    buf[12] == 128 && buf[16] == 2 && buf[24] == 4 && buf[25] == 0 &&
	    memcmp(buf + 26, "Paul", 4) == 0 && buf[30] == 3,
	    "header and first entry bytes as documented");
	ok(buf[34] == 0 && buf[35] == 0 && buf[36] == 0x80 && buf[37] == 0x3f,
	    "floats little-endian (1.0f = 00 00 80 3f)");
	rc = ir_gallery_parse(buf, len, &h, err);
	ok(rc == IR_OK && h.n == 2 && h.p[0].n == 3 && h.p[1].n == 1 &&
	    strcmp(h.p[1].name, "Emily") == 0 &&
	    memcmp(h.p[0].desc, g.p[0].desc, 3 * 512) == 0,
	    "parse(serialize(g)) == g");
	ir_gallery_serialize(&h, &b2, &len2);
	ok(len2 == len && memcmp(buf, b2, len) == 0,
	    "serialize(parse(x)) == x");
	free(b2);
	ir_gallery_free(&h);

	/* Every single-byte corruption and every truncation is refused. */
	all = 1;
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x20;
		all &= refused(buf, len, NULL);
		buf[i] ^= 0x20;
	}
	ok(all, "every flipped byte is refused");
	all = 1;
	for (i = 0; i < len; i++)
		all &= refused(buf, i, NULL);
	ok(all, "every truncation is refused");
	ok(refused(buf, len - 100, "truncated"), "truncation says so");
	buf[100] ^= 1;
	ok(refused(buf, len, "bad checksum"), "payload corruption: checksum");
	buf[100] ^= 1;
	ok(refused((const unsigned char *)"hello world, not a gallery", 26,
	    "bad magic"), "text file: bad magic");
	ok(refused(buf, 0, "empty"), "empty file");
	buf[8] = 2;
	ok(refused(buf, len, "unsupported version 2"), "version 2 refused");
	buf[8] = 1;
	buf[16] = 0xff;
	buf[17] = 0xff;
	ok(refused(buf, len, "cannot fit"), "absurd count refused early");
	buf[16] = 2;
	buf[17] = 0;
	{
		unsigned char *x = ir_xmalloc(len + 1);
		memcpy(x, buf, len);
		x[len] = 0;
		ok(refused(x, len + 1, NULL), "trailing byte refused");
		free(x);
	}

	/* Save atomically and load back. */
	fd = mkstemp(path);
	close(fd);
	ok(ir_gallery_save(&g, path, err) == IR_OK, "save");
	rc = ir_gallery_load(path, &h, err);
	ok(rc == IR_OK && h.n == 2, "load what was saved");
	ir_gallery_free(&h);
	ok(ir_gallery_remove(&g, "Paul") == IR_OK && g.n == 1 &&
	    strcmp(g.p[0].name, "Emily") == 0, "remove");
	ok(ir_gallery_remove(&g, "Paul") == IR_ENOENT, "remove again: ENOENT");
	ok(ir_gallery_remove(&g, "Emily") == IR_OK && g.n == 0,
	    "remove the last");
	ok(ir_gallery_save(&g, path, err) == IR_OK &&
	    ir_gallery_load(path, &h, err) == IR_OK && h.n == 0,
	    "an empty gallery saves and loads");
	ir_gallery_free(&h);
	unlink(path);
	rc = ir_gallery_load(path, &h, err);
	ok(rc == IR_ENOENT, "missing file: IR_ENOENT");
	ok(ir_gallery_load("/", &h, err) == IR_ESYS, "a folder: IR_ESYS");

	free(buf);
	ir_gallery_free(&g);
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
