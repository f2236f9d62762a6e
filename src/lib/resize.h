/*
 * resize.h: face-api's toBatchTensor (MODEL-SPEC.md 2.2), the one
 * resampling step in front of every network, and the per-channel
 * normalisations that follow it.
 *
 * For the detectors use centered = 0 (zero padding appended at the
 * bottom/right), for the per-face nets centered = 1 (d = |w - h| padding
 * lines, round(d/2) after and the rest before; the odd line goes to the
 * bottom/right). Then the padded n x n square (n = max(w, h)) is resized to
 * size x size with TF's legacy bilinear rule (align_corners = false,
 * half_pixel_centers = false), computed in double and stored as float, or
 * passed through unchanged when n == size. Output values are raw 0..255
 * pixel values (padding = 0), NHWC, R,G,B; apply the model's normalisation
 * afterwards with ir_resize_normalize() or ir_resize_scale().
 *
 * Nothing here allocates; outputs go into caller buffers.
 */
#ifndef IR_RESIZE_H
#define IR_RESIZE_H

#include <stddef.h>

#include "image.h"

/*
 * Writes n tensors of size x size x 3 floats into out, one per crop.
 * crops: n rectangles of 4 ints each (x, y, w, h), consecutive, each
 * inside the image with w, h > 0 (callers clip with clip_and_floor
 * first); crops == NULL means the whole image (n copies). Rectangles
 * reaching outside the image are clipped to it here; an empty one yields
 * an all-zero tensor.
 */
void ir_resize_batch_tensor(const struct ir_image *img, const int *crops,
    int n, int size, int centered, float *out);

/*
 * The per-channel input normalisation of a network, applied in float32
 * to each resized value v: v = (v - mean[c]) / div, then v + add when add
 * is not 0 (tfjs's steps, so the tensor is bit-identical to face-api's:
 * the face nets use mean = the model's RGB mean, div = 255, add = 0; SSD
 * mean = 0, div = 127.5, add = -1).
 */
struct ir_resize_norm {
	float mean[3];
	float div;
	float add;
};

/*
 * ir_resize_batch_tensor with the normalisation fused into the same pass
 * (norm == NULL: none). The result equals ir_resize_batch_tensor followed
 * by ir_resize_normalize_div(mean, div) and ir_resize_scale(1, add), bit
 * for bit, padding included (padding cells become the normalised 0).
 */
void ir_resize_batch_tensor_norm(const struct ir_image *img,
    const int *crops, int n, int size, int centered,
    const struct ir_resize_norm *norm, float *out);

/*
 * x[p][c] = (x[p][c] - mean[c]) * scale for p < npix pixels of 3 channels
 * (face-api nets: mean = per-model RGB mean, scale = 1/255).
 */
void ir_resize_normalize(float *x, size_t npix, const float mean[3],
    float scale);

/*
 * Like ir_resize_normalize but dividing: x = (x - mean[c]) / div, which is
 * what tfjs computes (bit-exact parity with face-api's input tensor).
 */
void ir_resize_normalize_div(float *x, size_t npix, const float mean[3],
    float div);

/* x[i] = x[i] * mul + add for i < count (SSD: mul 1/127.5, add -1). */
void ir_resize_scale(float *x, size_t count, float mul, float add);

#endif
