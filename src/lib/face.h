/*
 * face.h: the face pipeline: detect, landmarks, align, describe.
 *
 * An engine owns the networks (weights loaded and folded once) and one
 * scratch arena sized at open; the per-image path does not allocate. An
 * engine is not thread safe: use one per thread (ir_engine_clone shares the
 * read-only weights).
 *
 * The pipeline is face-api's (MODEL-SPEC.md section 7): detector (tiny face
 * detector by default, SSD MobileNet v1 on request) -> 68 landmarks on the
 * clipped detection crop (full net by default, tiny on request) ->
 * dlib-style square alignment box from eye and mouth centres -> 150x150
 * descriptor net -> 128-D descriptor. When no face is detected in an image
 * whose longer side is at most whole_max pixels (default 160), the whole
 * image is taken as the face (path IR_PATH_WHOLE), so tight crops work.
 */
#ifndef IR_FACE_H
#define IR_FACE_H

#include "image.h"
#include "util.h"

#define IR_DESC_DIM 128
#define IR_MAX_FACES 64

enum ir_detector { IR_DET_TINY = 0, IR_DET_SSD = 1 };

enum ir_face_path {
	IR_PATH_TINY = 0,  /* found by the tiny face detector */
	IR_PATH_SSD = 1,   /* found by SSD MobileNet v1 */
	IR_PATH_WHOLE = 2  /* no detection; the whole small image is the face */
};

struct ir_face {
	double box[4];            /* detection x, y, w, h in image pixels */
	double score;             /* detection score (0 for IR_PATH_WHOLE) */
	double landmarks[68][2];  /* image pixels */
	double aligned[4];        /* descriptor crop x, y, w, h (floored) */
	float desc[IR_DESC_DIM];  /* the 128-D descriptor, not normalised */
	int path;                 /* enum ir_face_path */
};

struct ir_timing {
	double decode, detect, landmarks, describe; /* milliseconds */
};

struct ir_engine_opts {
	const char *model_dir;  /* NULL: ir_model_dir() */
	int detector;           /* enum ir_detector */
	int tiny_size;          /* tiny detector input, multiple of 32; 0: 416 */
	double min_score;       /* detection threshold; 0: 0.5 */
	int tiny_landmarks;     /* 1: the tiny 68-point net */
	int threads;            /* BLAS/compute threads; 0: 1 */
	int whole_max;          /* whole-image fallback bound; 0: 160, <0 off */
	int max_batch;          /* most faces described in one GEMM; 0: 16 */
};

struct ir_engine;

/* Loads the networks. *e is owned by the caller (ir_engine_close). */
int ir_engine_open(struct ir_engine **e, const struct ir_engine_opts *o,
    char *err);

/* A second engine sharing e's weights, with its own arena (for threads). */
int ir_engine_clone(struct ir_engine *e, struct ir_engine **out, char *err);

/*
 * All faces of one image, largest box first, at most max. *n receives the
 * count (0 is not an error). t may be NULL.
 */
int ir_engine_faces(struct ir_engine *e, const struct ir_image *img,
    struct ir_face *faces, int max, int *n, struct ir_timing *t, char *err);

/*
 * Descriptors for n face crops given as images (already cropped, any size),
 * batched through the descriptor net; desc receives n*128 floats.
 */
int ir_engine_describe(struct ir_engine *e, const struct ir_image *crops,
    int n, float *desc, char *err);

void ir_engine_close(struct ir_engine *e);

const char *ir_face_path_name(int path); /* "tiny", "ssd", "whole" */

#endif
