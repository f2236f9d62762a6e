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
 *  - Two JPEG decoders (image.h says when each is right). The default is
 *    libjpeg-turbo's own output with its defaults (JDCT_ISLOW, fancy
 *    upsampling, its colour conversion). IR_JPEG_FACEAPI gives bit for
 *    bit the pixels of jpeg-js 0.4.4 (Apache-2.0), the pure-JavaScript
 *    decoder face-api's reference results were made with.  Why that
 *    matters: face-api floors its descriptor crop from landmark
 *    positions, so a pixel off by one level can move a landmark, shift
 *    the crop and move the descriptor by 0.1 or more; with libjpeg's own
 *    output end-to-end descriptors differ from face-api's by up to 0.185,
 *    with jpeg-js's by 3e-6.  In that mode libjpeg-turbo still parses,
 *    Huffman- or arithmetic-decodes (baseline and progressive) and
 *    reports every error; it hands each block's quantised coefficients
 *    to js_idct, installed in place of its own IDCT, and gives out
 *    component planes (raw data, no upsampling, no colour conversion),
 *    one MCU row at a time: unlike jpeg_read_coefficients this holds no
 *    whole-image coefficient array for a baseline file (2 bytes a sample,
 *    and page faults on every decode).  From there the code reproduces
 *    jpeg-js's arithmetic, written here from that arithmetic (no jpeg-js
 *    source): dequantisation, its Loeffler-Ligtenberg-Moschytz IDCT with
 *    12-bit constants and its own roundings and shortcuts, the level
 *    shift and clamp, chroma sampled at 0 | (x * h / hmax) (replicated,
 *    never interpolated), and its double-precision YCbCr and Adobe
 *    CMYK/YCCK conversions, truncated.  tests/unit/image.c compares
 *    against jpeg-js's own output on every sampling layout.  Where
 *    jpeg-js has no answer or a wrong one we keep ours: CMYK without an
 *    Adobe marker (jpeg-js refuses it) and RGB-coded JPEGs (Adobe
 *    transform 0, which jpeg-js converts as if YCbCr, giving false
 *    colours).  It needs libjpeg's internal jpegint.h (shipped in
 *    libjpeg62-turbo-dev; the idct struct is unchanged since IJG 6b).
 */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <jpegint.h>
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

/* Both decoders' start: our error manager (set its jb with setjmp
 * before calling jpeg_begin), which makes every libjpeg error longjmp. */
static void
jpeg_errors(struct jpeg_decompress_struct *ci, struct jerr *je)
{
	memset(ci, 0, sizeof *ci);
	ci->err = jpeg_std_error(&je->pub);
	je->pub.error_exit = jpeg_fail;
	je->pub.emit_message = jpeg_emit;
	je->pub.output_message = jpeg_quiet;
	je->msg[0] = 0;
}

/* The source and the header, then the pixel limit (before any pixel
 * buffer exists): IR_EINVAL with the decompressor destroyed if it is
 * over. libjpeg errors longjmp to the caller's jb. */
static int
jpeg_begin(struct jpeg_decompress_struct *ci, const unsigned char *buf,
    size_t len, long max, int app1, char *err)
{
	jpeg_create_decompress(ci);
	jpeg_mem_src(ci, buf, (unsigned long)len);
	if (app1) /* keep the APP1 (EXIF) segments for their orientation */
		jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
	jpeg_read_header(ci, TRUE);
	if (too_big(ci->image_width, ci->image_height, max, err) != IR_OK) {
		jpeg_destroy_decompress(ci);
		return IR_EINVAL;
	}
	return IR_OK;
}

/* The error of a decode that longjmp'ed out. */
static int
jpeg_error(const struct jerr *je, char *err)
{
	if (strcmp(je->msg, "truncated JPEG") == 0)
		return ir_err(err, IR_EINVAL, "truncated JPEG");
	return ir_err(err, IR_EINVAL, "JPEG: %s", je->msg);
}

/* ---- JPEG, libjpeg-turbo's own decode (the default) ---- */

/*
 * The EXIF orientation (1..8) in the saved APP1 markers, 1 when there is
 * none or it is malformed. TIFF layout: "Exif\0\0", byte order "II" or
 * "MM", 42, the offset of IFD0, then its entry count and 12-byte entries
 * (tag, type, count, value); orientation is tag 0x0112, a SHORT.
 */
static int
exif_orientation(jpeg_saved_marker_ptr m)
{
	for (; m; m = m->next) {
		const unsigned char *t = m->data + 6;
		size_t n, i, len = m->data_length;
		unsigned long off;
		int le;

		if (m->marker != JPEG_APP0 + 1 || len < 6 + 8 ||
		    memcmp(m->data, "Exif\0\0", 6) != 0)
			continue;
		len -= 6;
		if (memcmp(t, "II*\0", 4) == 0)
			le = 1;
		else if (memcmp(t, "MM\0*", 4) == 0)
			le = 0;
		else
			continue;
#define U16(p) (le ? (p)[0] | (p)[1] << 8 : (p)[0] << 8 | (p)[1])
#define U32(p) (le ? (unsigned long)U16(p) | (unsigned long)U16((p) + 2) << 16 \
		: (unsigned long)U16(p) << 16 | (unsigned long)U16((p) + 2))
		off = U32(t + 4);
		if (off > len - 2)
			continue;
		n = U16(t + off);
		for (i = 0; i < n && off + 2 + 12 * (i + 1) <= len; i++) {
			const unsigned char *e = t + off + 2 + 12 * i;
			unsigned v = U16(e + 8);

			if (U16(e) == 0x0112 && U16(e + 2) == 3 && U32(e + 4) == 1)
				return v >= 1 && v <= 8 ? (int)v : 1;
		}
#undef U16
#undef U32
	}
	return 1;
}

/*
 * Turns img as EXIF orientation o (2..8) says a viewer shows it: 2 mirror,
 * 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
 * 8 rotate 90 counter-clockwise (5..8 swap width and height).
 */
static void
orient(struct ir_image *img, int o)
{
	int W = img->w, H = img->h, w = o >= 5 ? H : W, h = o >= 5 ? W : H;
	unsigned char *d = ir_xmalloc((size_t)w * h * 3);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int sx, sy;

			switch (o) {
			case 2: sx = W - 1 - x, sy = y; break;
			case 3: sx = W - 1 - x, sy = H - 1 - y; break;
			case 4: sx = x, sy = H - 1 - y; break;
			case 5: sx = y, sy = x; break;
			case 6: sx = y, sy = H - 1 - x; break;
			case 7: sx = W - 1 - y, sy = H - 1 - x; break;
			default: sx = W - 1 - y, sy = x; break;
			}
			memcpy(d + ((size_t)y * w + x) * 3,
			    img->rgb + ((size_t)sy * W + sx) * 3, 3);
		}
	free(img->rgb);
	img->rgb = d;
	img->w = w;
	img->h = h;
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
decode_jpeg_libjpeg(const unsigned char *buf, size_t len, long max,
    struct ir_image *out, char *err)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	unsigned char *volatile rgb = NULL;
	unsigned char *volatile row = NULL;
	int cmyk, inverted, orientation;

	jpeg_errors(&ci, &je);
	if (setjmp(je.jb)) {
		jpeg_destroy_decompress(&ci);
		free(rgb);
		free(row);
		return jpeg_error(&je, err);
	}
	if (jpeg_begin(&ci, buf, len, max, 1, err) != IR_OK)
		return IR_EINVAL;
	/* now: jpeg_finish_decompress frees the saved markers */
	orientation = exif_orientation(ci.marker_list);
	cmyk = ci.jpeg_color_space == JCS_CMYK ||
	    ci.jpeg_color_space == JCS_YCCK;
	/* Adobe (Photoshop, ImageMagick) writes CMYK inverted. */
	inverted = cmyk && ci.saw_Adobe_marker;
	ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	/* libjpeg's defaults on purpose: JDCT_ISLOW, fancy upsampling */
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
	if (orientation > 1)
		orient(out, orientation);
	return IR_OK;
}

/* ---- JPEG, bit for bit as jpeg-js (IR_JPEG_FACEAPI) ---- */

/*
 * jpeg-js's IDCT: Loeffler-Ligtenberg-Moschytz with the constants below
 * (the cosines times 4096, rounded), rows first with 4 extra bits of
 * precision, then columns, each product rounded and shifted on the spot,
 * each butterfly halved with rounding.  A row (column) whose AC terms are
 * all zero takes a shortcut that rounds differently from the full path
 * (DC*sqrt2 >> 10, >> 14), so the shortcut is part of the arithmetic,
 * not an optimisation.
 *
 * JavaScript computes each expression exactly in doubles (every product
 * here stays below 2^53) and reduces it to int32 at each >> and at each
 * store into an Int32Array.  Reduction modulo 2^32 commutes with + - *,
 * so doing everything in uint32_t (which wraps, where int32_t would be
 * undefined on a hostile file) and reading the value as int32_t for each
 * arithmetic shift gives the same bits for every input.
 */
enum {
	JS_C1 = 4017, JS_S1 = 799,      /* cos, sin(pi/16) */
	JS_C3 = 3406, JS_S3 = 2276,     /* cos, sin(3pi/16) */
	JS_C6 = 1567, JS_S6 = 3784,     /* cos, sin(6pi/16) */
	JS_R2 = 5793, JS_R12 = 2896     /* sqrt(2), sqrt(1/2) */
};

static inline uint32_t
asr(uint32_t x, int n)
{
	return (uint32_t)((int32_t)x >> n);
}

/* z all ones: a, else b */
static inline uint32_t
sel(uint32_t z, uint32_t a, uint32_t b)
{
	return (a & z) | (b & ~z);
}

/*
 * One 8-point pass in place on p[0], p[st], .. p[7 * st].  The row pass
 * (row 1) keeps 4 extra bits of precision and rounds its first stages at
 * 8 bits, the column pass at 12; the rest is the same arithmetic.  With
 * st and row constants after inlining the code is branch-free (the
 * all-AC-zero shortcut is a select), so the loops over a block's 8 rows or
 * 8 columns become vector code with the rows or columns in the lanes.
 */
static inline __attribute__((always_inline)) void
idct8(uint32_t *p, int st, int row)
{
	uint32_t i0 = p[0], i1 = p[st], i2 = p[2 * st], i3 = p[3 * st];
	uint32_t i4 = p[4 * st], i5 = p[5 * st], i6 = p[6 * st];
	uint32_t i7 = p[7 * st];
	uint32_t v0, v1, v2, v3, v4, v5, v6, v7, t, dc, z;
	int sh = row ? 8 : 12;
	uint32_t rd = 1u << (sh - 1);

	/* z: all ones when the AC inputs are all zero */
	z = (uint32_t)((i1 | i2 | i3 | i4 | i5 | i6 | i7) != 0) - 1;
	dc = row ? asr(JS_R2 * i0 + 512, 10) : asr(JS_R2 * i0 + 8192, 14);

	v0 = asr(JS_R2 * i0 + rd, sh);
	v1 = asr(JS_R2 * i4 + rd, sh);
	v2 = i2;
	v3 = i6;
	v4 = asr(JS_R12 * (i1 - i7) + rd, sh);
	v7 = asr(JS_R12 * (i1 + i7) + rd, sh);
	v5 = row ? i3 << 4 : i3;
	v6 = row ? i5 << 4 : i5;

	t = asr(v0 - v1 + 1, 1);
	v0 = asr(v0 + v1 + 1, 1);
	v1 = t;
	t = asr(v2 * JS_S6 + v3 * JS_C6 + rd, sh);
	v2 = asr(v2 * JS_C6 - v3 * JS_S6 + rd, sh);
	v3 = t;
	t = asr(v4 - v6 + 1, 1);
	v4 = asr(v4 + v6 + 1, 1);
	v6 = t;
	t = asr(v7 + v5 + 1, 1);
	v5 = asr(v7 - v5 + 1, 1);
	v7 = t;

	t = asr(v0 - v3 + 1, 1);
	v0 = asr(v0 + v3 + 1, 1);
	v3 = t;
	t = asr(v1 - v2 + 1, 1);
	v1 = asr(v1 + v2 + 1, 1);
	v2 = t;
	t = asr(v4 * JS_S3 + v7 * JS_C3 + 2048, 12);
	v4 = asr(v4 * JS_C3 - v7 * JS_S3 + 2048, 12);
	v7 = t;
	t = asr(v5 * JS_S1 + v6 * JS_C1 + 2048, 12);
	v5 = asr(v5 * JS_C1 - v6 * JS_S1 + 2048, 12);
	v6 = t;

	p[0] = sel(z, dc, v0 + v7);
	p[st] = sel(z, dc, v1 + v6);
	p[2 * st] = sel(z, dc, v2 + v5);
	p[3 * st] = sel(z, dc, v3 + v4);
	p[4 * st] = sel(z, dc, v3 - v4);
	p[5 * st] = sel(z, dc, v2 - v5);
	p[6 * st] = sel(z, dc, v1 - v6);
	p[7 * st] = sel(z, dc, v0 - v7);
}

/* One row of a block, in place. */
static inline __attribute__((always_inline)) void
idct_row(uint32_t *p)
{
	idct8(p, 1, 1);
}

/* The column pass, all 8 columns in place: lane c is column c, so every
 * p[8 * r + c] access is contiguous across lanes. */
static inline __attribute__((always_inline)) void
idct_cols(uint32_t *p)
{
	for (int c = 0; c < 8; c++)
		idct8(p + c, 8, 0);
}

/* The final level shift and clamp of jpeg-js. */
static inline unsigned char
js_sample(uint32_t x)
{
	int32_t s = 128 + (int32_t)asr(x + 8, 4);

	return s < 0 ? 0 : s > 255 ? 255 : (unsigned char)s;
}

/*
 * On x86-64 the block function (and ycc_row) is also built for AVX2 and
 * picked at load time: 8 int32 lanes in one register, a real 32-bit
 * multiply, byte shuffles.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIMD_CLONES
#endif

/*
 * One block: dequantise (coefficients and table both in natural order),
 * IDCT, level shift and clamp into out[0..7][col..col + 7].  Two cases
 * skip work without changing a bit: a block with only its DC term is one
 * value (both shortcuts), and when only row 0 has coefficients, rows 1-7
 * are zero after the row pass and every column takes the column
 * shortcut (an all-zero row's shortcut gives 512 >> 10 = 0).
 */
SIMD_CLONES static void
idct_block(const JCOEF *coef, const UINT16 *q, JSAMPARRAY out,
    JDIMENSION col)
{
	uint32_t p[64];
	unsigned char px[64];
	int i, r;
	JCOEF any = 0;

	for (i = 8; i < 64; i++)
		any |= coef[i];
	if (any == 0) {
		if ((coef[1] | coef[2] | coef[3] | coef[4] | coef[5] |
		    coef[6] | coef[7]) == 0) {
			uint32_t t = asr(JS_R2 * ((uint32_t)coef[0] * q[0]) +
			    512, 10);
			unsigned char v = js_sample(asr(JS_R2 * t + 8192, 14));

			for (r = 0; r < 8; r++)
				memset(out[r] + col, v, 8);
			return;
		}
		for (i = 0; i < 8; i++)
			p[i] = (uint32_t)coef[i] * q[i];
		idct_row(p);
		for (i = 0; i < 8; i++)
			px[i] = js_sample(asr(JS_R2 * p[i] + 8192, 14));
		for (r = 0; r < 8; r++)
			memcpy(out[r] + col, px, 8);
		return;
	}
	for (i = 0; i < 64; i++)
		p[i] = (uint32_t)coef[i] * q[i];
	for (r = 0; r < 8; r++)
		idct_row(p + 8 * r);
	idct_cols(p);
	for (i = 0; i < 64; i++)
		px[i] = js_sample(p[i]);
	for (r = 0; r < 8; r++)
		memcpy(out[r] + col, px + 8 * r, 8);
}

/*
 * libjpeg calls this for every block it decodes, in place of its own
 * IDCT (decode_jpeg installs it in cinfo->idct, jpegint.h's struct
 * jpeg_inverse_dct, unchanged since IJG 6b): the coefficients come
 * quantised, in natural order, and the table is the component's own.
 */
static void
js_idct(j_decompress_ptr ci, jpeg_component_info *cp, JCOEFPTR coef,
    JSAMPARRAY out, JDIMENSION col)
{
	/* a component no scan ever named has no table: plain grey, as
	 * libjpeg's own IDCT (whose tables start zeroed) would give */
	static const UINT16 none[DCTSIZE2];

	(void)ci;
	idct_block(coef, cp->quant_table ? cp->quant_table->quantval : none,
	    out, col);
}

/*
 * One component as jpeg-js samples it: image column x and row y read the
 * component's sample 0 | (x * (h / hmax)), 0 | (y * (v / vmax)), the
 * products in doubles as JavaScript does them.  Those never reach past
 * libjpeg's width_in_blocks and height_in_blocks (x * h / hmax is below
 * width * h / hmax, and the rounding of one product is far smaller than
 * the margin), so jpeg-js's extra padding blocks never matter.  libjpeg
 * hands over one iMCU row at a time (8 v sample rows); an image row whose
 * sample row lies in the previous one (a product that rounds below a
 * whole number, possible only for sampling factors like 3) reads the
 * copy of that row's last line.
 */
struct jscomp {
	JSAMPARRAY rows;        /* 8 v rows of width_in_blocks * 8 */
	unsigned char *buf;     /* their memory */
	unsigned char *last;    /* last row of the previous iMCU row */
	size_t stride;
	int nrows;              /* 8 v */
	int *xi, *yi;
	int h;                  /* horizontal sampling factor */
	int ident;              /* xi[x] == x for every x */
};

static void
comp_init(j_decompress_ptr ci, const jpeg_component_info *cp,
    struct jscomp *c)
{
	double sx = (double)cp->h_samp_factor / ci->max_h_samp_factor;
	double sy = (double)cp->v_samp_factor / ci->max_v_samp_factor;
	int x, y;

	c->stride = (size_t)cp->width_in_blocks * 8;
	c->nrows = cp->v_samp_factor * 8;
	c->h = cp->h_samp_factor;
	/* zeroed: libjpeg leaves the rows past the image's last block
	 * unwritten, and nothing reads them, but they stay defined */
	c->buf = ir_xcalloc((size_t)c->nrows + 1, c->stride);
	c->rows = ir_xmalloc(sizeof(JSAMPROW) * c->nrows);
	c->xi = ir_xmalloc(sizeof(int) * ci->image_width);
	c->yi = ir_xmalloc(sizeof(int) * ci->image_height);
	c->last = c->buf + (size_t)c->nrows * c->stride;
	for (y = 0; y < c->nrows; y++)
		c->rows[y] = c->buf + (size_t)y * c->stride;
	c->ident = 1;
	for (x = 0; x < (int)ci->image_width; x++) {
		c->xi[x] = (int)(x * sx);
		c->ident &= c->xi[x] == x;
	}
	for (y = 0; y < (int)ci->image_height; y++)
		c->yi[y] = (int)(y * sy);
}

static void
comp_free(struct jscomp *c)
{
	free(c->buf);
	free(c->rows);
	free(c->xi);
	free(c->yi);
}

/* The sample row of image row y, with iMCU row m in the buffer. */
static const unsigned char *
comp_row(const struct jscomp *c, int y, long m)
{
	long r = c->yi[y] - m * c->nrows;

	if (r < 0)
		return c->last;
	if (r >= c->nrows)      /* cannot happen; stay in bounds */
		r = c->nrows - 1;
	return c->rows[r];
}

/* The same sampled at every image column; may return buf. */
static const unsigned char *
comp_line(const struct jscomp *c, int y, long m, int w, unsigned char *buf)
{
	const unsigned char *src = comp_row(c, y, m);
	int x;

	if (c->ident)
		return src;
	for (x = 0; x < w; x++)
		buf[x] = src[c->xi[x]];
	return buf;
}

/*
 * YCbCr to RGB as jpeg-js computes it: Y + 1.402 (Cr - 128) and so on in
 * doubles, clamped, truncated.  The same bits come out of integers: with
 * Y whole, trunc(clamp(Y + d)) = clamp(Y + floor(d)) whenever d is not
 * within rounding of a whole number, and 1.402 n, 1.772 n and
 * 0.3441363 n + 0.71413636 m are whole for no n, m in -128..127 but 0
 * (their distance is at least 6e-6), so fixed point finds floor(d):
 * red and blue with 16 fraction bits, green with 22.  A one-off program
 * compared all 2^24 inputs with the doubles: no difference.
 */
enum {
	YCC_R = 91881,          /* 1.402 * 2^16 */
	YCC_B = 116130,         /* 1.772 * 2^16 */
	YCC_GB = -1443412,      /* -0.3441363 * 2^22 */
	YCC_GR = -2995305       /* -0.71413636 * 2^22 */
};

/* The three offsets Y is added to, for one Cb, Cr pair. */
static inline void
ycc_off(int cb, int cr, int16_t *r, int16_t *g, int16_t *b)
{
	int n = cb - 128, m = cr - 128;

	*r = (int16_t)((m * YCC_R) >> 16);
	*g = (int16_t)((n * YCC_GB + m * YCC_GR) >> 22);
	*b = (int16_t)((n * YCC_B) >> 16);
}

/*
 * For one row of chroma, the offsets Y is added to at every image column
 * x: d[x] for red, dg[x] green, db[x] blue, from chroma sample
 * xi[x] (xi NULL: sample x, chroma at full width; half set: x / 2, each
 * sample's offsets made once for two columns).  Made once per chroma
 * row, used by every image row on it.  Fixed-count inner loops, which
 * gcc vectorises.
 */
SIMD_CLONES static void
ycc_offsets(const unsigned char *restrict cb, const unsigned char *restrict cr,
    const int *xi, int half, int w, int16_t *restrict d,
    int16_t *restrict dg, int16_t *restrict db)
{
	int x = 0, i;

	if (half) {
		for (; x + 32 <= w; x += 32) {
			const unsigned char *b = cb + x / 2, *r = cr + x / 2;
			int16_t *o0 = d + x, *o1 = dg + x, *o2 = db + x;

			for (i = 0; i < 16; i++) {
				int n = b[i] - 128, q = r[i] - 128;
				int16_t vr = (int16_t)((q * YCC_R) >> 16);
				int16_t vg = (int16_t)((n * YCC_GB +
				    q * YCC_GR) >> 22);
				int16_t vb = (int16_t)((n * YCC_B) >> 16);

				o0[2 * i] = o0[2 * i + 1] = vr;
				o1[2 * i] = o1[2 * i + 1] = vg;
				o2[2 * i] = o2[2 * i + 1] = vb;
			}
		}
		for (; x < w; x++)
			ycc_off(cb[x / 2], cr[x / 2], d + x, dg + x, db + x);
	} else if (xi == NULL) {
		for (; x + 16 <= w; x += 16) {
			const unsigned char *b = cb + x, *r = cr + x;
			int16_t *o0 = d + x, *o1 = dg + x, *o2 = db + x;

			for (i = 0; i < 16; i++) {
				int n = b[i] - 128, q = r[i] - 128;

				o0[i] = (int16_t)((q * YCC_R) >> 16);
				o1[i] = (int16_t)((n * YCC_GB + q * YCC_GR) >>
				    22);
				o2[i] = (int16_t)((n * YCC_B) >> 16);
			}
		}
		for (; x < w; x++)
			ycc_off(cb[x], cr[x], d + x, dg + x, db + x);
	} else {
		for (; x < w; x++)
			ycc_off(cb[xi[x]], cr[xi[x]], d + x, dg + x, db + x);
	}
}

static inline unsigned char
clamp8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

/*
 * One image row: Y plus the row's offsets, clamped, as R, G, B.  Blocks
 * of 16 columns, so that gcc vectorises the inner loop (a fixed count is
 * what its -O2 cost model asks for; with AVX2 it also interleaves the
 * three channels in registers).
 */
SIMD_CLONES static void
ycc_row(const unsigned char *restrict y, const int16_t *restrict d, int w,
    unsigned char *restrict out)
{
	const int16_t *dg = d + w, *db = d + 2 * w;
	int x = 0, i;

	for (; x + 16 <= w; x += 16) {
		const unsigned char *yy = y + x;
		const int16_t *r = d + x, *g = dg + x, *b = db + x;
		unsigned char *o = out + 3 * x;

		for (i = 0; i < 16; i++) {
			int16_t vr = (int16_t)(yy[i] + r[i]);
			int16_t vg = (int16_t)(yy[i] + g[i]);
			int16_t vb = (int16_t)(yy[i] + b[i]);

			vr = vr < 0 ? 0 : vr > 255 ? 255 : vr;
			vg = vg < 0 ? 0 : vg > 255 ? 255 : vg;
			vb = vb < 0 ? 0 : vb > 255 ? 255 : vb;
			o[3 * i] = (unsigned char)vr;
			o[3 * i + 1] = (unsigned char)vg;
			o[3 * i + 2] = (unsigned char)vb;
		}
	}
	for (; x < w; x++) {
		out[3 * x] = clamp8(y[x] + d[x]);
		out[3 * x + 1] = clamp8(y[x] + dg[x]);
		out[3 * x + 2] = clamp8(y[x] + db[x]);
	}
}

/*
 * Adobe CMYK as jpeg-js turns it into RGB: with c = 255 - C and
 * k = 255 - K (Adobe stores ink inverted), R = 255 - (c (1 - k/255) + k)
 * in doubles, clamped, truncated.
 */
static unsigned char
adobe_ink(unsigned c, unsigned k)
{
	double v = c * (1 - k / 255.0) + k;

	v = v < 0 ? 0 : v > 255 ? 255 : v;
	return (unsigned char)(255 - v);
}

/* Everything decode_jpeg allocates, for its one error path. */
struct jsdec {
	struct jscomp c[4];
	int nc, kind, w;
	unsigned char *rgb;
	unsigned char *line;    /* 4 sampled rows */
	int16_t *off;           /* ycc offsets of the current chroma rows */
	const unsigned char *offcb, *offcr;     /* ... made from these */
};

static void
jsdec_free(struct jsdec *d)
{
	int i;

	for (i = 0; i < d->nc; i++)
		comp_free(&d->c[i]);
	free(d->rgb);
	free(d->line);
	free(d->off);
	free(d);
}

enum { JK_GRAY, JK_YCC, JK_RGB, JK_ADOBE_CMYK, JK_ADOBE_YCCK, JK_CMYK };

/* Image row y from YCbCr, iMCU row m in the component buffers. */
static void
ycc_convert(struct jsdec *d, int y, long m, unsigned char *out)
{
	struct jscomp *c = d->c;
	int w = d->w;
	const unsigned char *ys = comp_line(&c[0], y, m, w, d->line);
	const unsigned char *cb = comp_row(&c[1], y, m);
	const unsigned char *cr = comp_row(&c[2], y, m);

	if (cb != d->offcb || cr != d->offcr) {
		d->offcb = cb;
		d->offcr = cr;
		if (c[1].h != c[2].h)   /* Cb, Cr sampled apart: rare */
			ycc_offsets(comp_line(&c[1], y, m, w, d->line + w),
			    comp_line(&c[2], y, m, w, d->line + 2 * (size_t)w),
			    NULL, 0, w, d->off, d->off + w, d->off + 2 * w);
		else
			ycc_offsets(cb, cr, c[1].ident ? NULL : c[1].xi,
			    2 * c[1].h == c[0].h && c[0].ident, w, d->off,
			    d->off + w, d->off + 2 * w);
	}
	ycc_row(ys, d->off, w, out);
}

/* Image row y, iMCU row m in the component buffers. */
static void
js_convert(struct jsdec *d, int y, long m)
{
	const unsigned char *s[4];
	unsigned char *out = d->rgb + (size_t)y * d->w * 3;
	int x, k, w = d->w;

	if (d->kind == JK_YCC) {
		ycc_convert(d, y, m, out);
		return;
	}
	for (k = 0; k < d->nc; k++)
		s[k] = comp_line(&d->c[k], y, m, w, d->line + (size_t)k * w);
	switch (d->kind) {
	case JK_GRAY:
		for (x = 0; x < w; x++, out += 3)
			out[0] = out[1] = out[2] = s[0][x];
		break;
	case JK_RGB:
		for (x = 0; x < w; x++, out += 3) {
			out[0] = s[0][x];
			out[1] = s[1][x];
			out[2] = s[2][x];
		}
		break;
	case JK_ADOBE_YCCK:
		/* jpeg-js makes YCC into RGB and reads that as 255 - ink */
		ycc_offsets(s[1], s[2], NULL, 0, w, d->off, d->off + w,
		    d->off + 2 * w);
		d->offcb = d->offcr = NULL;
		ycc_row(s[0], d->off, w, out);
		for (x = 0; x < w; x++, out += 3) {
			unsigned kk = 255 - s[3][x];

			out[0] = adobe_ink(out[0], kk);
			out[1] = adobe_ink(out[1], kk);
			out[2] = adobe_ink(out[2], kk);
		}
		break;
	case JK_ADOBE_CMYK:
		for (x = 0; x < w; x++, out += 3) {
			unsigned kk = 255 - s[3][x];

			out[0] = adobe_ink(255 - s[0][x], kk);
			out[1] = adobe_ink(255 - s[1][x], kk);
			out[2] = adobe_ink(255 - s[2][x], kk);
		}
		break;
	default:
		/* CMYK without an Adobe marker (jpeg-js refuses it): plain
		 * ink, 255 = full */
		for (x = 0; x < w; x++, out += 3) {
			unsigned kk = 255 - s[3][x];

			for (k = 0; k < 3; k++)
				out[k] = (unsigned char)(((255u - s[k][x]) *
				    kk + 127) / 255);
		}
		break;
	}
}

/* The colour space as jpeg-js treats it, or -1. */
static int
js_kind(j_decompress_ptr ci)
{
	int kind;

	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		kind = JK_GRAY;
		break;
	case JCS_YCbCr:
		kind = JK_YCC;
		break;
	case JCS_RGB:
		/* Adobe transform 0 or components named R, G, B: jpeg-js
		 * takes these for YCbCr all the same; we keep the colours */
		kind = JK_RGB;
		break;
	case JCS_CMYK:
		kind = ci->saw_Adobe_marker ? JK_ADOBE_CMYK : JK_CMYK;
		break;
	case JCS_YCCK:
		kind = JK_ADOBE_YCCK;
		break;
	default:
		return -1;
	}
	if (ci->num_components != (kind == JK_GRAY ? 1 :
	    kind >= JK_ADOBE_CMYK ? 4 : 3))
		return -1;
	return kind;
}

/*
 * Reads the planes one iMCU row at a time and converts the image rows
 * they cover.  libjpeg errors longjmp out of here into decode_jpeg.
 */
static void
js_read(j_decompress_ptr ci, struct jsdec *d, int h)
{
	JSAMPARRAY planes[4];
	long m, mcuh = (long)ci->max_v_samp_factor * 8;
	int i, y;

	for (i = 0; i < d->nc; i++)
		planes[i] = d->c[i].rows;
	for (m = 0, y = 0; y < h; m++) {
		/* 0 only from a suspending source, never from memory */
		if (jpeg_read_raw_data(ci, planes, (JDIMENSION)mcuh) == 0)
			ERREXIT(ci, JERR_INPUT_EMPTY);
		d->offcb = d->offcr = NULL;
		for (; y < h && y < (m + 1) * mcuh; y++)
			js_convert(d, y, m);
		for (i = 0; i < d->nc; i++)
			memcpy(d->c[i].last, d->c[i].rows[d->c[i].nrows - 1],
			    d->c[i].stride);
	}
}

static int
decode_jpeg_faceapi(const unsigned char *buf, size_t len, long max,
    struct ir_image *out, char *err)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct jsdec *volatile dv = NULL;
	struct jsdec *d;
	int i, h;

	jpeg_errors(&ci, &je);
	if (setjmp(je.jb)) {
		jpeg_destroy_decompress(&ci);
		if (dv)
			jsdec_free(dv);
		return jpeg_error(&je, err);
	}
	if (jpeg_begin(&ci, buf, len, max, 0, err) != IR_OK)
		return IR_EINVAL;
	dv = d = ir_xmalloc(sizeof *d);
	memset(d, 0, sizeof *d);
	d->kind = js_kind(&ci);
	if (d->kind < 0) {
		snprintf(je.msg, sizeof je.msg,
		    "unsupported colour space (%d components)",
		    ci.num_components);
		longjmp(je.jb, 1);
	}
	/* component planes, no smoothing of progressive blocks */
	ci.raw_data_out = TRUE;
	ci.do_block_smoothing = FALSE;
	jpeg_start_decompress(&ci);
	/* start_decompress has set up the output pass (and with it libjpeg's
	 * IDCT methods), and no block has been transformed yet */
	for (i = 0; i < ci.num_components; i++)
		ci.idct->inverse_DCT[i] = js_idct;
	d->w = (int)ci.image_width;
	h = (int)ci.image_height;
	for (i = 0; i < ci.num_components; i++) {
		comp_init(&ci, &ci.comp_info[i], &d->c[i]);
		d->nc = i + 1;
	}
	d->rgb = ir_xmalloc((size_t)d->w * h * 3);
	d->line = ir_xmalloc((size_t)d->w * 4);
	d->off = ir_xmalloc(sizeof(int16_t) * 3 * d->w);
	js_read(&ci, d, h);
	jpeg_finish_decompress(&ci);
	jpeg_destroy_decompress(&ci);
	out->w = d->w;
	out->h = h;
	out->rgb = d->rgb;
	d->rgb = NULL;
	jsdec_free(d);
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
	return ir_image_decode_with(buf, len, max_pixels, IR_JPEG_LIBJPEG, out,
	    err);
}

int
ir_image_decode_with(const unsigned char *buf, size_t len, long max_pixels,
    int jpeg, struct ir_image *out, char *err)
{
	static const unsigned char pngsig[8] =
	    { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	int rc;

	memset(out, 0, sizeof *out);
	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty file");
	if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		rc = jpeg == IR_JPEG_FACEAPI ?
		    decode_jpeg_faceapi(buf, len, max_pixels, out, err) :
		    decode_jpeg_libjpeg(buf, len, max_pixels, out, err);
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
	return ir_image_load_with(path, max_pixels, IR_JPEG_LIBJPEG, out, err);
}

int
ir_image_load_with(const char *path, long max_pixels, int jpeg,
    struct ir_image *out, char *err)
{
	unsigned char *buf;
	size_t len;
	int rc;

	memset(out, 0, sizeof *out);
	rc = ir_read_file(path, &buf, &len, IR_MAX_IMAGE_BYTES, err);
	if (rc != IR_OK)
		return rc;
	rc = ir_image_decode_with(buf, len, max_pixels, jpeg, out, err);
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
