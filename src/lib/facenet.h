/*
 * facenet.h: FaceRecognitionNet, face-api's port of dlib's ResNet-29 face
 * descriptor (MODEL-SPEC.md section 3): a face crop in, 128 floats out.
 *
 * Use: ir_facenet_open() once (loads model/face_recognition.irw, folds the
 * scale layers into the convolutions, pre-transforms the Winograd weights
 * and allocates the one arena for max_batch faces); then any number of
 * ir_facenet_describe() calls, which never allocate; ir_facenet_close().
 * One struct ir_facenet is not thread safe; ir_facenet_clone() gives
 * another one sharing the read-only weights with its own arena.
 *
 * Each crop is toBatchTensor(150, centered)'d (resize.h) and normalised
 * with (x - (122.782, 117.001, 104.298)) / 255; a batch of faces goes
 * through one GEMM per layer. With threads >= 2 and a batch of >= 2 faces
 * the batch is split across threads (each running single-threaded BLAS and
 * our kernels); otherwise BLAS gets the threads.
 */
#ifndef IR_FACENET_H
#define IR_FACENET_H

#include "image.h"

#define IR_FACENET_SIZE 150 /* input side */
#define IR_FACENET_DIM 128  /* descriptor length */

struct ir_facenet;

/* One face: a rectangle (x, y, w, h) of an image; clipped to the image. A
 * crop whose clipped width or height is <= 0 gets 128 zeros (face-api). */
struct ir_facecrop {
	const struct ir_image *img;
	int rect[4];
};

/*
 * Loads the weights file at path (NULL: ir_model_dir()/face_recognition.irw)
 * and sizes the arena for max_batch faces per forward pass (<= 0: 16) and
 * `threads` compute threads (<= 0: 1). *out is owned by the caller.
 * Returns IR_OK, IR_ENOENT (no file), or IR_EINVAL (corrupt file, missing
 * tensor or wrong shape) with the reason in err.
 */
int ir_facenet_open(const char *path, int max_batch, int threads,
    struct ir_facenet **out, char *err);

/* A second instance sharing f's weights, with its own arena. */
int ir_facenet_clone(const struct ir_facenet *f, struct ir_facenet **out,
    char *err);

/* Compute threads for the next passes (>= 1; not above the open value's
 * arena: the arena holds per-thread workspace for the open value). */
void ir_facenet_set_threads(struct ir_facenet *f, int threads);

/*
 * Descriptors of n crops: desc receives n*128 floats (not normalised).
 * Batches of at most max_batch faces run through the net. Returns IR_OK or
 * IR_EINVAL (n < 0, a NULL image).
 */
int ir_facenet_describe(struct ir_facenet *f, const struct ir_facecrop *crops,
    int n, float *desc, char *err);

/*
 * The net alone on n <= max_batch ready input tensors (n x 150 x 150 x 3,
 * already normalised): for benchmarks and tests. IR_EINVAL if n is out of
 * range.
 */
int ir_facenet_forward(struct ir_facenet *f, const float *in, int n,
    float *desc, char *err);

/*
 * The Winograd tile of the 3x3 convs per map size for a pass of one face,
 * as load chose it (timed on this CPU unless IR_FACENET_TUNE=0 or pinned
 * by IR_FACENET_WINO), in IR_FACENET_WINO's form, e.g.
 * "35:6,17:6,8:2,3:-1,4:2" (-1: no Winograd, our implicit GEMM).
 */
void ir_facenet_tiles(const struct ir_facenet *f, char *buf, size_t len);

/* Largest batch of one forward pass. */
int ir_facenet_max_batch(const struct ir_facenet *f);

void ir_facenet_close(struct ir_facenet *f);

#endif
