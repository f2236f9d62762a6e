/*
 * resize.c: toBatchTensor of resize.h: pad to square (bottom/right or
 * centered) and TF legacy bilinear resize, plus the input normalisations.
 *
 * Invariant: the padded square is never materialised; a padded pixel is
 * read as 0 by px(). Interpolation runs in double and is stored as float,
 * as tfjs-cpu does, so the float tensor equals face-api's.
 */
#include <math.h>
#include <string.h>

#include "resize.h"

struct src {
	const unsigned char *rgb;
	int stride;     /* image width in pixels */
	int x, y, w, h; /* the crop */
	int bx, by;     /* padding lines before the crop (left, top) */
};

/* Channel ch of padded-square pixel (px, py): 0 in the padding. */
static inline double
px(const struct src *s, int x, int y, int ch)
{
	x -= s->bx;
	y -= s->by;
	if (x < 0 || y < 0 || x >= s->w || y >= s->h)
		return 0.0;
	return s->rgb[((size_t)(s->y + y) * s->stride + s->x + x) * 3 + ch];
}

static void
one(const struct ir_image *img, const int *crop, int size, int centered,
    float *out)
{
	struct src s;
	int x = 0, y = 0, w = img->w, h = img->h;

	if (crop) {
		x = crop[0], y = crop[1], w = crop[2], h = crop[3];
		if (x < 0)
			w += x, x = 0;
		if (y < 0)
			h += y, y = 0;
		if (x + w > img->w)
			w = img->w - x;
		if (y + h > img->h)
			h = img->h - y;
	}
	if (w <= 0 || h <= 0 || x >= img->w || y >= img->h) {
		memset(out, 0, (size_t)size * size * 3 * sizeof(float));
		return;
	}
	s.rgb = img->rgb, s.stride = img->w;
	s.x = x, s.y = y, s.w = w, s.h = h;
	s.bx = s.by = 0;
	int n = w > h ? w : h, d = n - (w > h ? h : w);
	if (centered && d > 0) {
		int after = (int)floor(d / 2.0 + 0.5); /* JS Math.round */
		if (w < h)
			s.bx = d - after;
		else
			s.by = d - after;
	}

	if (n == size) {
		for (int yy = 0; yy < size; yy++)
			for (int xx = 0; xx < size; xx++)
				for (int c = 0; c < 3; c++)
					out[((size_t)yy * size + xx) * 3 + c] =
					    (float)px(&s, xx, yy, c);
		return;
	}
	double ratio = (double)n / size;
	for (int r = 0; r < size; r++) {
		double sy = ratio * r;
		int y0 = (int)floor(sy);
		int y1 = (int)ceil(sy);
		if (y1 > n - 1)
			y1 = n - 1;
		double fy = sy - y0;
		for (int col = 0; col < size; col++) {
			double sx = ratio * col;
			int x0 = (int)floor(sx);
			int x1 = (int)ceil(sx);
			if (x1 > n - 1)
				x1 = n - 1;
			double fx = sx - x0;
			float *o = out + ((size_t)r * size + col) * 3;
			for (int c = 0; c < 3; c++) {
				double tl = px(&s, x0, y0, c);
				double tr = px(&s, x1, y0, c);
				double bl = px(&s, x0, y1, c);
				double br = px(&s, x1, y1, c);
				double top = tl + (tr - tl) * fx;
				double bot = bl + (br - bl) * fx;
				o[c] = (float)(top + (bot - top) * fy);
			}
		}
	}
}

void
ir_resize_batch_tensor(const struct ir_image *img, const int *crops, int n,
    int size, int centered, float *out)
{
	for (int i = 0; i < n; i++)
		one(img, crops ? crops + 4 * i : NULL, size, centered,
		    out + (size_t)i * size * size * 3);
}

void
ir_resize_normalize(float *x, size_t npix, const float mean[3], float scale)
{
	for (size_t p = 0; p < npix; p++)
		for (int c = 0; c < 3; c++)
			x[p * 3 + c] = (x[p * 3 + c] - mean[c]) * scale;
}

void
ir_resize_normalize_div(float *x, size_t npix, const float mean[3],
    float div)
{
	for (size_t p = 0; p < npix; p++)
		for (int c = 0; c < 3; c++)
			x[p * 3 + c] = (x[p * 3 + c] - mean[c]) / div;
}

void
ir_resize_scale(float *x, size_t count, float mul, float add)
{
	for (size_t i = 0; i < count; i++)
		x[i] = x[i] * mul + add;
}
