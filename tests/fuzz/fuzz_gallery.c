/*
 * fuzz_gallery.c: libFuzzer target for the gallery parser
 * (src/lib/gallery.c): any bytes are either refused with IR_EINVAL and a
 * reason, leaving an empty gallery, or parsed into a gallery that
 * serializes back to exactly the same bytes and can be matched against.
 * Never a crash, leak or out-of-bounds access. A random file almost
 * never ends with the right CRC-32, so when the input's first byte is
 * even the target repairs the trailing CRC first and the structure checks
 * behind it get fuzzed too; odd first bytes test the file as given.
 * Seeds: tests/fuzz/corpus/fuzz_gallery/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gallery.h"

static uint32_t
crc32_ieee(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffff;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320 : c >> 1;
	}
	return ~c;
}

static int
check(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *b;
	uint32_t c;
	int rc;

	if (size < 28 || (data[0] & 1))
		return check(data, size);
	/* data[0] is the magic's 'I' (odd) in a real gallery: flip it back. */
	b = malloc(size);
	memcpy(b, data, size);
	b[0] |= 1;
	c = crc32_ieee(b, size - 4);
	b[size - 4] = c;
	b[size - 3] = c >> 8;
	b[size - 2] = c >> 16;
	b[size - 1] = c >> 24;
	rc = check(b, size);
	free(b);
	return rc;
}

static int
check(const uint8_t *data, size_t size)
{
	struct ir_gallery g;
	struct ir_match m;
	float q[IR_GALLERY_DIM];
	char err[IR_ERRMAX];
	unsigned char *buf;
	size_t len;
	int rc;

	err[0] = 0;
	rc = ir_gallery_parse(data, size, &g, err);
	if (rc != IR_OK) {
		if (rc != IR_EINVAL || err[0] == 0 || g.n != 0 || g.p)
			abort();
		return 0;
	}
	ir_gallery_serialize(&g, &buf, &len);
	if (len != size || memcmp(buf, data, size) != 0)
		abort();
	free(buf);
	memset(q, 0, sizeof q);
	ir_gallery_match(&g, q, 0, &m);
	if (g.n > 0 && (m.person < 0 || m.person >= g.n))
		abort();
	ir_gallery_free(&g);
	return 0;
}
