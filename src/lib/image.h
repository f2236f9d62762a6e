/*
 * image.h: decoding images into 8-bit RGB.
 *
 * Formats, recognised by their first bytes (never by the file name):
 *  - JPEG: baseline and progressive, any sampling; grayscale, YCbCr,
 *    RGB, CMYK and YCCK (Adobe-inverted CMYK, as Photoshop and ImageMagick
 *    write it, is recognised by its Adobe marker), by one of two decoders:
 *    IR_JPEG_LIBJPEG (the default): libjpeg-turbo's own pixels, with its
 *      defaults (accurate integer IDCT, fancy upsampling), as dlib, whose
 *      descriptor network this is, decodes; on small faces it is the more
 *      accurate (course photos 90/100 against 80, LFW at 64 px 93.5%
 *      against 93.1%).
 *    IR_JPEG_FACEAPI: exactly the pixels of jpeg-js 0.4.4, the decoder
 *      face-api's reference results were made with (its IDCT, chroma
 *      replicated rather than interpolated, its colour conversion), so
 *      results agree with face-api's to float rounding; libjpeg-turbo
 *      still parses and entropy-decodes (image.c says how). Where jpeg-js
 *      has no answer or a wrong one it keeps ours: CMYK without an Adobe
 *      marker, and RGB JPEGs (which jpeg-js decodes as if YCbCr).
 *    Either way a JPEG that ends before its last scan is refused
 *    ("truncated JPEG") rather than returned as a half-grey picture.
 *  - PNG through libpng: palette, gray, gray+alpha and 16-bit expanded to
 *    8-bit RGB; interlaced included; transparency is composited onto WHITE
 *    (a cut-out portrait then looks as a viewer shows it, and a fully
 *    transparent pixel's hidden colour never reaches the networks).
 *  - binary PNM: P6 (RGB) and P5 (gray), any maxval 1..65535, scaled to
 *    0..255; P6 with maxval 255 passes pixels through exactly, which is
 *    what the tests use for bit-exact input.
 * EXIF orientation: IR_JPEG_LIBJPEG applies it (the image comes out as a
 * viewer shows it upright); IR_JPEG_FACEAPI ignores it, as face-api in
 * Node does (MODEL-SPEC.md 2.1), so its pixels match the reference.
 *
 * The pixel count is checked against a limit as soon as the header is
 * read, before any pixel buffer is allocated. Decoding never prints and
 * never exits (libjpeg/libpng errors are caught with longjmp).
 * All functions are thread safe (no shared state).
 */
#ifndef IR_IMAGE_H
#define IR_IMAGE_H

#include <stddef.h>

#include "util.h"

/* Default pixel limit: 100 megapixels (a 60000x60000 header is refused). */
#define IR_MAX_PIXELS_DEFAULT 100000000L

/* Largest image file ir_image_load reads (bytes). */
#define IR_MAX_IMAGE_BYTES (256L << 20)

struct ir_image {
	int w, h;           /* > 0 */
	unsigned char *rgb; /* w*h*3 bytes, row-major, R,G,B; owned */
};

/*
 * Decodes an image held in memory into *out (out->rgb is malloc'd and
 * owned by the caller: ir_image_free). Returns IR_OK, or IR_EINVAL with a
 * one-line reason in err for anything that is not a whole image: "empty
 * file", "not a JPEG, PNG or PPM image", "truncated JPEG", "truncated
 * PNG", "image is 60000x60000 pixels, above the limit of 100000000", or
 * the decoder's own message ("JPEG: ...", "PNG: ..."). On failure *out is
 * zeroed. max_pixels <= 0 means IR_MAX_PIXELS_DEFAULT.
 */
int ir_image_decode(const unsigned char *buf, size_t len, long max_pixels,
    struct ir_image *out, char *err);

/* JPEG decoders of ir_image_decode_with (see the top of this file). */
enum { IR_JPEG_LIBJPEG = 0, IR_JPEG_FACEAPI = 1 };

/* As ir_image_decode (which is IR_JPEG_LIBJPEG), JPEGs with decoder jpeg. */
int ir_image_decode_with(const unsigned char *buf, size_t len,
    long max_pixels, int jpeg, struct ir_image *out, char *err);

/*
 * Reads a file ("-" = stdin, at most IR_MAX_IMAGE_BYTES) and decodes it.
 * Returns as ir_image_decode, or ir_read_file's IR_ENOENT / IR_ESYS /
 * IR_EINVAL (with the path in the message) when the file cannot be read.
 */
int ir_image_load(const char *path, long max_pixels, struct ir_image *out,
    char *err);
int ir_image_load_with(const char *path, long max_pixels, int jpeg,
    struct ir_image *out, char *err);

/* Frees img->rgb and zeroes *img; NULL and zeroed images are fine. */
void ir_image_free(struct ir_image *img);

#endif
