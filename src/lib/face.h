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
 *
 * Fed the same pixels, the results equal face-api 1.7.15's (tfjs CPU) to
 * float rounding: same detections with the same scores (so face-api's
 * order, before our largest-first sort), boxes and landmarks within 1e-3
 * px, descriptors within Euclidean distance 1e-5 (tests/unit/oracle.c
 * checks this on the reference photos, at 0.1 px and 0.001). The one
 * deliberate difference: with tiny_size 0 (the default) images smaller
 * than 416 px are not upscaled for the tiny detector (see tiny_size).
 *
 * Debugging: struct ir_face carries every intermediate result (detection
 * box and score, the landmark crop, the 68 points, the descriptor crop,
 * the descriptor, the path), so a tool can print all of it (ir-classify
 * -j -L -D) and compare it with face-api's own output
 * (tests/data/reference/, ../shared/reference/tools/run_faceapi.cjs).
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

/*
 * One face. All coordinates are image pixels (x right, y down, origin at
 * the top-left corner of the top-left pixel), doubles as face-api computes
 * them; for IR_PATH_WHOLE box = crop = (0, 0, w, h) and score = 0.
 */
struct ir_face {
	double box[4];            /* detection x, y, w, h (unclipped: SSD boxes
				     may reach into the padding, tiny boxes
				     past any edge) */
	double score;             /* detection score, 0..1 (0: IR_PATH_WHOLE) */
	double landmarks[68][2];  /* iBUG-68 points: jaw 0-16, brows 17-26,
				     nose 27-35, eyes 36-47, mouth 48-67 */
	double aligned[4];        /* descriptor crop x, y, w, h: integers, the
				     dlib-style square from eye and mouth
				     centres, clipped to the image (if that
				     is empty: the landmark crop) */
	int crop[4];              /* the landmark net's crop: the detection
				     box clipped to the image and floored */
	float desc[IR_DESC_DIM];  /* the 128-D descriptor, not normalised:
				     compare by Euclidean distance (same
				     person below about 0.6) */
	int path;                 /* enum ir_face_path: who found the face */
};

/*
 * Milliseconds per stage of one ir_engine_faces call. ir_engine_faces
 * sets detect, landmarks (incl. the alignment boxes) and describe; it
 * leaves decode alone, for the caller that decoded the image to fill in.
 */
struct ir_timing {
	double decode, detect, landmarks, describe; /* milliseconds */
};

/* Options of ir_engine_open; zero means the default everywhere. */
struct ir_engine_opts {
	const char *model_dir;  /* NULL: ir_model_dir(); not kept after open */
	int detector;           /* enum ir_detector; 0: tiny */
	int tiny_size;          /* tiny detector input, multiple of 32, 32 to
				   2048, used as given (face-api's rule). 0:
				   auto: 416, but for a smaller image the
				   longer side rounded up to a multiple of 32
				   (at least 128), then 416 if that finds
				   nothing: upscaling small photos blurs them
				   and the detector misses their faces */
	double min_score;       /* detection threshold in (0,1); 0: 0.5 (the
				   tiny detector's scoreThreshold, SSD's
				   minConfidence) */
	int tiny_landmarks;     /* 1: the tiny 68-point net */
	int threads;            /* BLAS threads (process-wide); 0: 1 */
	int whole_max;          /* whole-image fallback bound; 0: 160, <0 off */
	int max_batch;          /* most faces through one GEMM; 0: 16 */
	int jitter;             /* describe a face whose descriptor crop is
				   narrower than this many px as the mean of
				   9 crops shifted by -1..1 px (dlib's
				   num_jitters idea: steadier descriptors for
				   tiny faces, 9 times their cost); 0:
				   $IR_JITTER, else 48; < 0: off */
	int jpeg;               /* for the tools, which decode: their JPEG
				   decoder (image.h's IR_JPEG_LIBJPEG 0,
				   IR_JPEG_FACEAPI); the engine itself takes
				   decoded images */
};

/* Most detections one image can yield (the highest scoring are kept). */
#define IR_ENGINE_DET_CAP 128

struct ir_engine;

/*
 * Loads the networks the options ask for (one detector, one landmark net,
 * the descriptor net) from model_dir and sizes the engine's arena.
 * Returns IR_OK and *e (owned by the caller: ir_engine_close), IR_ENOENT
 * when a weights file is missing, IR_EINVAL for bad options or a corrupt
 * or mismatched weights file; err says which.
 */
int ir_engine_open(struct ir_engine **e, const struct ir_engine_opts *o,
    char *err);

/* getopt_long codes of --tiny-landmarks and --jpeg for ir_engine_option. */
#define IR_OPT_TINY_LANDMARKS 0x100
#define IR_OPT_JPEG 0x101

/*
 * For tools: applies opt, if it is one of the engine options the tools
 * share (-d tiny|ssd, -S/--tiny-size N, -T N, --tiny-landmarks as
 * IR_OPT_TINY_LANDMARKS, --jpeg libjpeg|faceapi as IR_OPT_JPEG), with its
 * argument to o and returns 1; returns 0 for any other opt. A bad value
 * is a usage error: ir_die, exit 2.
 */
int ir_engine_option(struct ir_engine_opts *o, int opt, const char *arg);

/*
 * A second engine sharing e's weights (read-only, reference counted: the
 * engines may be closed in any order), with its own arena, for another
 * thread. *out is owned by the caller. Returns IR_OK.
 */
int ir_engine_clone(struct ir_engine *e, struct ir_engine **out, char *err);

/*
 * All faces of one image, largest box first (ties: higher score first), at
 * most max (at most IR_ENGINE_DET_CAP) written to faces. *n receives the
 * count; 0 faces is not an error. When the detector finds nothing and both
 * sides of the image are at most whole_max, the whole image is the face
 * (IR_PATH_WHOLE): landmarks on the whole image, then the same alignment
 * and descriptor. t (may be NULL) receives the stage timings. Does not
 * allocate. IR_EINVAL for an empty image.
 */
int ir_engine_faces(struct ir_engine *e, const struct ir_image *img,
    struct ir_face *faces, int max, int *n, struct ir_timing *t, char *err);

/*
 * Descriptors for n face crops given as images (already cropped, any
 * size; each is zero-padded to a square, centred, and resized to 150 as
 * face-api does), no detection or alignment; desc receives n*128 floats.
 * IR_EINVAL for an empty image.
 */
int ir_engine_describe(struct ir_engine *e, const struct ir_image *crops,
    int n, float *desc, char *err);

/* Frees e (its weights when the last engine sharing them closes). NULL
 * is allowed. */
void ir_engine_close(struct ir_engine *e);

/* "tiny", "ssd", "whole" ("?" for anything else); static strings. */
const char *ir_face_path_name(int path);

#endif
