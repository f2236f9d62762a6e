/*
 * fuzz_decode.c: libFuzzer target for image decoding (src/lib/image.c):
 * any bytes either decode into an image of the size the header claims,
 * within the pixel limit, or are refused with IR_EINVAL and a reason;
 * never a crash, leak, hang or out-of-bounds access. The pixel limit is
 * small (1 megapixel) so lying headers cannot make the fuzzer allocate
 * gigabytes. Seeds: tests/fuzz/corpus/fuzz_decode/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ir_image im;
	char err[IR_ERRMAX];
	unsigned sum = 0;
	size_t i, n;
	int rc;

	err[0] = 0;
	rc = ir_image_decode(data, size, 1000000, &im, err);
	if (rc == IR_OK) {
		if (im.w <= 0 || im.h <= 0 || (long)im.w * im.h > 1000000 ||
		    !im.rgb)
			abort();
		/* Touch every byte so ASan checks the whole buffer. */
		n = (size_t)im.w * im.h * 3;
		for (i = 0; i < n; i++)
			sum += im.rgb[i];
		if (sum == 0xffffffffu)
			err[0] = 1;
		ir_image_free(&im);
	} else if (rc != IR_EINVAL || err[0] == 0 || im.rgb || im.w || im.h)
		abort();
	return 0;
}
