/*
 * image.c: JPEG, PNG and binary PNM decoding into 8-bit RGB (see image.h).
 *
 * Invariants:
 *  - The format is chosen by magic bytes only.
 *  - width*height is checked against the caller's limit right after the
 *    header is parsed and before the pixel buffer is allocated, in 64-bit
 *    arithmetic, so a lying header costs nothing.
 *  - libjpeg and libpng report errors by longjmp back into the decode
 *    function; everything allocated before the jump is reachable from a
 *    volatile local or the decoder's own struct and freed on that path.
 *    Nothing prints: libjpeg's output_message and libpng's warning
 *    handler are replaced.
 *  - libjpeg's "premature end of JPEG file" warning (JWRN_JPEG_EOF: the
 *    source ran dry and libjpeg would pad with grey) is made an error.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "image.h"

static int
too_big(long long w, long long h, long max, char *err)
{
	if (max <= 0)
		max = IR_MAX_PIXELS_DEFAULT;
	if (w <= 0 || h <= 0)
		return ir_err(err, IR_EINVAL, "image is %lldx%lld pixels, empty",
		    w, h);
	if (w * h > (long long)max)
		return ir_err(err, IR_EINVAL,
		    "image is %lldx%lld pixels, above the limit of %ld", w, h,
		    max);
	return IR_OK;
}

/* ---- JPEG ---- */

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void
jpeg_fail(j_common_ptr ci)
{
	struct jerr *je = (struct jerr *)ci->err;

	(*ci->err->format_message)(ci, je->msg);
	longjmp(je->jb, 1);
}

static void
jpeg_emit(j_common_ptr ci, int level)
{
	struct jerr *je = (struct jerr *)ci->err;

	if (level >= 0)
		return;          /* trace messages */
	if (ci->err->msg_code == JWRN_JPEG_EOF) {
		snprintf(je->msg, sizeof je->msg, "truncated JPEG");
		longjmp(je->jb, 1);
	}
	/* Other warnings (extraneous bytes, bad Huffman codes in one block)
	 * leave a usable picture, as every viewer shows it; count them only. */
	ci->err->num_warnings++;
}

static void
jpeg_quiet(j_common_ptr ci)
{
	(void)ci;
}

/* CMYK (or YCCK converted to CMYK by libjpeg) to RGB. */
static void
cmyk_row(const unsigned char *in, unsigned char *out, int w, int inverted)
{
	int x;

	for (x = 0; x < w; x++, in += 4, out += 3) {
		unsigned c = in[0], m = in[1], y = in[2], k = in[3];

		if (!inverted) {
			c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
		}
		/* Now c..k are "amount of white left" (255 = no ink). */
		out[0] = (unsigned char)((c * k + 127) / 255);
		out[1] = (unsigned char)((m * k + 127) / 255);
		out[2] = (unsigned char)((y * k + 127) / 255);
	}
}

static int
decode_jpeg(const unsigned char *buf, size_t len, long max,
    struct ir_image *out, char *err)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	unsigned char *volatile rgb = NULL;
	unsigned char *volatile row = NULL;
	int cmyk, inverted;

	memset(&ci, 0, sizeof ci);
	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jpeg_fail;
	je.pub.emit_message = jpeg_emit;
	je.pub.output_message = jpeg_quiet;
	je.msg[0] = 0;
	if (setjmp(je.jb)) {
		jpeg_destroy_decompress(&ci);
		free(rgb);
		free(row);
		if (strcmp(je.msg, "truncated JPEG") == 0)
			return ir_err(err, IR_EINVAL, "truncated JPEG");
		return ir_err(err, IR_EINVAL, "JPEG: %s", je.msg);
	}
	jpeg_create_decompress(&ci);
	jpeg_mem_src(&ci, buf, (unsigned long)len);
	jpeg_read_header(&ci, TRUE);
	if (too_big(ci.image_width, ci.image_height, max, err) != IR_OK) {
		jpeg_destroy_decompress(&ci);
		return IR_EINVAL;
	}
	cmyk = ci.jpeg_color_space == JCS_CMYK ||
	    ci.jpeg_color_space == JCS_YCCK;
	/* Adobe (Photoshop, ImageMagick) writes CMYK inverted. */
	inverted = cmyk && ci.saw_Adobe_marker;
	ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	/* Defaults kept on purpose: dct_method JDCT_ISLOW, fancy upsampling. */
	jpeg_start_decompress(&ci);
	if ((int)ci.output_components != (cmyk ? 4 : 3)) {
		snprintf(je.msg, sizeof je.msg,
		    "unexpected %d colour components", ci.output_components);
		longjmp(je.jb, 1);
	}
	rgb = ir_xmalloc((size_t)ci.output_width * ci.output_height * 3);
	if (cmyk)
		row = ir_xmalloc((size_t)ci.output_width * 4);
	while (ci.output_scanline < ci.output_height) {
		unsigned char *dst = rgb +
		    (size_t)ci.output_scanline * ci.output_width * 3;
		JSAMPROW rp = cmyk ? row : dst;

		if (jpeg_read_scanlines(&ci, &rp, 1) != 1) {
			snprintf(je.msg, sizeof je.msg, "truncated JPEG");
			longjmp(je.jb, 1);
		}
		if (cmyk)
			cmyk_row(row, dst, ci.output_width, inverted);
	}
	jpeg_finish_decompress(&ci);
	out->w = ci.output_width;
	out->h = ci.output_height;
	out->rgb = rgb;
	jpeg_destroy_decompress(&ci);
	free(row);
	return IR_OK;
}

/* ---- PNG ---- */

struct pngsrc {
	const unsigned char *p;
	size_t len, off;
	jmp_buf jb;
	char msg[200];
};

static void
png_fail(png_structp ps, png_const_charp msg)
{
	struct pngsrc *s = png_get_error_ptr(ps);

	if (s->msg[0] == 0)
		snprintf(s->msg, sizeof s->msg, "PNG: %s", msg);
	longjmp(s->jb, 1);
}

static void
png_quiet(png_structp ps, png_const_charp msg)
{
	(void)ps;
	(void)msg;
}

static void
png_readmem(png_structp ps, png_bytep data, png_size_t n)
{
	struct pngsrc *s = png_get_io_ptr(ps);

	if (n > s->len - s->off) {
		snprintf(s->msg, sizeof s->msg, "truncated PNG");
		png_error(ps, "truncated PNG");
	}
	memcpy(data, s->p + s->off, n);
	s->off += n;
}

static int
decode_png(const unsigned char *buf, size_t len, long max,
    struct ir_image *out, char *err)
{
	struct pngsrc src;
	png_structp ps;
	png_infop pi = NULL;
	unsigned char *volatile pix = NULL;
	png_bytep *volatile rows = NULL;
	png_uint_32 w, h, y;
	int depth, ctype, ch;
	size_t i, n;

	memset(&src, 0, sizeof src);
	src.p = buf;
	src.len = len;
	ps = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail,
	    png_quiet);
	if (!ps)
		return ir_err(err, IR_EINVAL, "PNG: cannot initialise libpng");
	pi = png_create_info_struct(ps);
	if (!pi) {
		png_destroy_read_struct(&ps, NULL, NULL);
		return ir_err(err, IR_EINVAL, "PNG: cannot initialise libpng");
	}
	if (setjmp(src.jb)) {
		png_destroy_read_struct(&ps, &pi, NULL);
		free(pix);
		free(rows);
		return ir_err(err, IR_EINVAL, "%s", src.msg);
	}
	png_set_read_fn(ps, &src, png_readmem);
	png_read_info(ps, pi);
	png_get_IHDR(ps, pi, &w, &h, &depth, &ctype, NULL, NULL, NULL);
	if (too_big(w, h, max, err) != IR_OK) {
		png_destroy_read_struct(&ps, &pi, NULL);
		return IR_EINVAL;
	}
	png_set_expand(ps);             /* palette, gray < 8 bit, tRNS */
	png_set_scale_16(ps);           /* 16-bit to 8-bit, rounded */
	png_set_gray_to_rgb(ps);
	png_set_interlace_handling(ps);
	png_read_update_info(ps, pi);
	ch = png_get_channels(ps, pi);
	if ((ch != 3 && ch != 4) || png_get_bit_depth(ps, pi) != 8) {
		snprintf(src.msg, sizeof src.msg,
		    "PNG: unexpected layout after expansion");
		longjmp(src.jb, 1);
	}
	if (png_get_rowbytes(ps, pi) != (size_t)w * ch) {
		snprintf(src.msg, sizeof src.msg, "PNG: unexpected row size");
		longjmp(src.jb, 1);
	}
	pix = ir_xmalloc((size_t)w * h * ch);
	rows = ir_xmalloc(sizeof(png_bytep) * h);
	for (y = 0; y < h; y++)
		rows[y] = pix + (size_t)y * w * ch;
	png_read_image(ps, rows);
	png_read_end(ps, NULL);
	png_destroy_read_struct(&ps, &pi, NULL);
	free(rows);
	if (ch == 4) {
		/* Composite onto white, in place (3 <= 4: never overtakes). */
		unsigned char *p = pix;
		n = (size_t)w * h;
		for (i = 0; i < n; i++) {
			unsigned a = p[i * 4 + 3];
			int c;
			for (c = 0; c < 3; c++)
				p[i * 3 + c] = (unsigned char)((p[i * 4 + c] * a +
				    255 * (255 - a) + 127) / 255);
		}
		pix = ir_xrealloc(pix, n * 3);
	}
	out->w = (int)w;
	out->h = (int)h;
	out->rgb = pix;
	return IR_OK;
}

/* ---- PNM (P5, P6) ---- */

/* Reads one unsigned decimal after whitespace and # comments. */
static int
pnm_num(const unsigned char *b, size_t len, size_t *off, long *v)
{
	size_t i = *off;
	long x = 0;
	int digits = 0;

	for (;;) {
		while (i < len && (b[i] == ' ' || b[i] == '\t' ||
		    b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f'))
			i++;
		if (i < len && b[i] == '#') {
			while (i < len && b[i] != '\n' && b[i] != '\r')
				i++;
			continue;
		}
		break;
	}
	while (i < len && b[i] >= '0' && b[i] <= '9') {
		if (x > 100000000L)
			return -1;
		x = x * 10 + (b[i] - '0');
		i++;
		digits++;
	}
	if (!digits)
		return -1;
	*off = i;
	*v = x;
	return 0;
}

static int
decode_pnm(const unsigned char *buf, size_t len, long max,
    struct ir_image *out, char *err)
{
	size_t off = 2, need, i, n;
	long w, h, maxval;
	int gray = buf[1] == '5', bps;
	unsigned char *rgb;
	const unsigned char *p;

	if (pnm_num(buf, len, &off, &w) || pnm_num(buf, len, &off, &h) ||
	    pnm_num(buf, len, &off, &maxval))
		return ir_err(err, IR_EINVAL, "PPM: bad header");
	if (maxval < 1 || maxval > 65535)
		return ir_err(err, IR_EINVAL, "PPM: maxval %ld out of range",
		    maxval);
	if (off >= len || !(buf[off] == ' ' || buf[off] == '\t' ||
	    buf[off] == '\n' || buf[off] == '\r'))
		return ir_err(err, IR_EINVAL, "PPM: bad header");
	off++;
	if (too_big(w, h, max, err) != IR_OK)
		return IR_EINVAL;
	bps = maxval > 255 ? 2 : 1;
	n = (size_t)w * h;
	need = n * (gray ? 1 : 3) * bps;
	if (len - off < need)
		return ir_err(err, IR_EINVAL, "truncated PPM");
	rgb = ir_xmalloc(n * 3);
	p = buf + off;
	for (i = 0; i < n * (gray ? 1 : 3); i++) {
		unsigned long v = bps == 2 ? (unsigned long)p[2 * i] << 8 |
		    p[2 * i + 1] : p[i];
		unsigned char c;

		if (v > (unsigned long)maxval)
			v = maxval;
		c = maxval == 255 ? (unsigned char)v :
		    (unsigned char)((v * 255 + maxval / 2) / maxval);
		if (gray)
			rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = c;
		else
			rgb[i] = c;
	}
	out->w = (int)w;
	out->h = (int)h;
	out->rgb = rgb;
	return IR_OK;
}

int
ir_image_decode(const unsigned char *buf, size_t len, long max_pixels,
    struct ir_image *out, char *err)
{
	static const unsigned char pngsig[8] =
	    { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	int rc;

	memset(out, 0, sizeof *out);
	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty file");
	if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		rc = decode_jpeg(buf, len, max_pixels, out, err);
	else if (len >= 8 && memcmp(buf, pngsig, 8) == 0)
		rc = decode_png(buf, len, max_pixels, out, err);
	else if (len >= 3 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6'))
		rc = decode_pnm(buf, len, max_pixels, out, err);
	else
		return ir_err(err, IR_EINVAL, "not a JPEG, PNG or PPM image");
	if (rc != IR_OK)
		memset(out, 0, sizeof *out);
	return rc;
}

int
ir_image_load(const char *path, long max_pixels, struct ir_image *out,
    char *err)
{
	unsigned char *buf;
	size_t len;
	int rc;

	memset(out, 0, sizeof *out);
	rc = ir_read_file(path, &buf, &len, IR_MAX_IMAGE_BYTES, err);
	if (rc != IR_OK)
		return rc;
	rc = ir_image_decode(buf, len, max_pixels, out, err);
	free(buf);
	return rc;
}

void
ir_image_free(struct ir_image *img)
{
	if (!img)
		return;
	free(img->rgb);
	img->rgb = NULL;
	img->w = img->h = 0;
}
