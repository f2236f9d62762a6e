/*
 * fuzz_multipart.c: libFuzzer target for ir-serve's multipart parser
 * (src/lib/multipart.c), the first code every upload meets. The input's
 * first line (up to a newline, at most 200 bytes) is the Content-Type
 * header value, the rest the body. Any bytes are either refused with
 * IR_EINVAL and a reason, or parsed into parts that all lie inside the
 * body and whose names are NUL-terminated. Never a crash or an
 * out-of-bounds read. Seeds: tests/fuzz/corpus/fuzz_multipart/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ir_part parts[IR_MULTIPART_MAX_PARTS];
	char ct[201], b[128], err[IR_ERRMAX];
	const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
	size_t cl = nl ? (size_t)(nl - data) : 0, blen;
	unsigned char *body;
	int n, i;

	memcpy(ct, data, cl);
	ct[cl] = '\0';
	if (ir_multipart_boundary(ct, b, sizeof b, err) != IR_OK) {
		if (!err[0])
			abort();
		return 0;
	}
	/* The body in its own allocation, so ASan sees any read past it. */
	blen = size - (nl ? cl + 1 : 0);
	body = malloc(blen ? blen : 1);
	memcpy(body, data + (nl ? cl + 1 : 0), blen);
	err[0] = '\0';
	if (ir_multipart_parse(body, blen, b, parts, IR_MULTIPART_MAX_PARTS,
	    &n, err) != IR_OK) {
		if (!err[0])
			abort();
	} else {
		if (n < 1 || n > IR_MULTIPART_MAX_PARTS)
			abort();
		for (i = 0; i < n; i++) {
			if (parts[i].data < body ||
			    parts[i].data + parts[i].len > body + blen)
				abort();
			if (strlen(parts[i].name) >= sizeof parts[i].name ||
			    strlen(parts[i].filename) >=
			    sizeof parts[i].filename)
				abort();
		}
		(void)ir_multipart_find(parts, n, "inputFile");
	}
	free(body);
	return 0;
}
