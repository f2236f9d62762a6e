/*
 * fuzz_model.c: libFuzzer target for the weights loader (src/lib/model.c).
 *
 * A random file almost never carries a valid SHA-256 of itself, so most
 * inputs would stop at the checksum. When the input's last byte is even,
 * the target first repairs the file-size field and the trailing checksum,
 * so the header and table checks are fuzzed too; odd last bytes exercise
 * the file as given. Everything a successful open returns is read back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "model.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char err[IR_ERRMAX] = "";
	struct ir_model *m;
	unsigned char *b = malloc(len ? len : 1);
	volatile float sink = 0;
	int i;

	if (len)
		memcpy(b, data, len);
	if (len >= 96 && (data[len - 1] & 1) == 0) {
		uint64_t n = len;
		unsigned int mdlen;

		memcpy(b + 32, &n, 8);  /* little-endian hosts */
		EVP_Digest(b, len - 32, b + len - 32, &mdlen, EVP_sha256(),
		    NULL);
	}
	if (ir_model_open_mem(b, len, "fuzz", &m, err) == IR_OK) {
		for (i = 0; i < ir_model_count(m); i++) {
			struct ir_tensor_info in;
			const float *p;
			size_t k;

			if (ir_model_info(m, i, &in, err) != IR_OK)
				abort();
			p = ir_model_tensor(m, ir_model_name(m, i), NULL,
			    NULL, err);
			if ((p == NULL) != (in.dtype != IR_DT_F32))
				abort();
			for (k = 0; p && k < in.count; k++)
				sink += p[k];
			if (p && ir_model_expect(m, in.name, in.ndim, in.dims,
			    err) != p)
				abort();
		}
		if (strlen(ir_model_checksum(m)) != 64)
			abort();
		ir_model_close(m);
	} else if (strlen(err) == 0)
		abort();  /* every refusal says why */
	free(b);
	(void)sink;
	return 0;
}
