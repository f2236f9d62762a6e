/*
 * image.h: decoding images into 8-bit RGB.
 *
 * JPEG through libjpeg-turbo (grayscale and CMYK/YCCK converted to RGB,
 * progressive included), PNG through libpng (palette, gray, 16-bit
 * expanded; alpha composited onto black... see image.c), and binary PPM (P6,
 * maxval 255) for exact test pixels. The pixel count is checked against a
 * limit from the header, before any pixel buffer is allocated.
 */
#ifndef IR_IMAGE_H
#define IR_IMAGE_H

#include <stddef.h>

#include "util.h"

/* Default pixel limit: 100 megapixels (a 60000x60000 header is refused). */
#define IR_MAX_PIXELS_DEFAULT 100000000L

struct ir_image {
	int w, h;           /* > 0 */
	unsigned char *rgb; /* w*h*3 bytes, row-major, R,G,B; owned */
};

/*
 * Decodes an image held in memory. IR_EINVAL with a reason ("empty file",
 * "not a JPEG, PNG or PPM image", "truncated JPEG", "image is 60000x60000,
 * above the limit of ... pixels") for anything that is not a whole image.
 * max_pixels <= 0 means IR_MAX_PIXELS_DEFAULT.
 */
int ir_image_decode(const unsigned char *buf, size_t len, long max_pixels,
    struct ir_image *out, char *err);

/* Reads a file ("-" = stdin) and decodes it. */
int ir_image_load(const char *path, long max_pixels, struct ir_image *out,
    char *err);

void ir_image_free(struct ir_image *img);

#endif
