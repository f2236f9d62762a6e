/*
 * fuzz_decode.c: libFuzzer target for image decoding (src/lib/image.c):
 * any bytes either decode into an image of the size the header claims,
 * within the pixel limit, or are refused with IR_EINVAL and a reason;
 * never a crash, leak, hang or out-of-bounds access. The pixel limit is
 * small (1 megapixel) so lying headers cannot make the fuzzer allocate
 * gigabytes. Every input goes through both JPEG decoders (libjpeg-turbo's
 * own and the jpeg-js-exact one), which must agree on its size (turned or
 * not by EXIF orientation). Seeds: tests/fuzz/corpus/fuzz_decode/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* One decode; returns rc, with w x h of the image (0 x 0 if refused). */
static int
one(const uint8_t *data, size_t size, int jpeg, int *w, int *h)
{
	struct ir_image im;
	char err[IR_ERRMAX];
	unsigned sum = 0;
	size_t i, n;
	int rc;

	err[0] = 0;
	*w = *h = 0;
	rc = ir_image_decode_with(data, size, 1000000, jpeg, &im, err);
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
		*w = im.w;
		*h = im.h;
		ir_image_free(&im);
	} else if (rc != IR_EINVAL || err[0] == 0 || im.rgb || im.w || im.h)
		abort();
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int w1, h1, w2, h2;
	int r1 = one(data, size, IR_JPEG_LIBJPEG, &w1, &h1);
	int r2 = one(data, size, IR_JPEG_FACEAPI, &w2, &h2);

	/* the two may differ on a damaged file (libjpeg warns and goes on
	 * in one and not the other), but an image has the header's size,
	 * turned by its EXIF orientation in the first (IR_JPEG_FACEAPI keeps
	 * the stored pixels) */
	if (r1 == IR_OK && r2 == IR_OK && !(w1 == w2 && h1 == h2) &&
	    !(w1 == h2 && h1 == w2))
		abort();
	return 0;
}
