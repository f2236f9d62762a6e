/*
 * facenets.h: private interface between the face pipeline (pipeline.c) and
 * its networks: the tiny face detector (tinydet.c), SSD MobileNet v1
 * (ssd.c) and the 68-point landmark nets (landmarks.c), plus the box
 * arithmetic face-api does between them (MODEL-SPEC.md sections 2.5, 4.3,
 * 4.4, 5.5-5.7, 6.4, 7.3). Not installed, not for tools: they use face.h.
 *
 * Every network is split in two: a `struct ir_*net` holding pointers to
 * read-only weights (shared by cloned engines, never written after load)
 * and a run function that works only in caller-supplied scratch of the size
 * its *_scratch() function reports, so the per-image path never allocates.
 * Boxes are (x, y, w, h) in doubles, as face-api computes them in JS.
 */
#ifndef IR_FACENETS_H
#define IR_FACENETS_H

#include <stddef.h>

#include "image.h"
#include "model.h"

/* One detection: score and box in image pixels (not clipped). */
struct ir_det {
	double score;
	double box[4];
};

/*
 * face-api's clipAtImageBorders + floor (spec 2.5): writes the integer crop
 * (x, y, w, h) into out and returns 1, or 0 when the crop is empty.
 */
int ir_box_clip_floor(const double box[4], int W, int H, int out[4]);

/* JS Math.round: floor(x + 0.5). */
double ir_js_round(double x);

/* The "reshaped dimensions" of spec 2.2: (rw, rh) of a w x h image fit
 * into size x size. */
void ir_reshaped_dims(int w, int h, int size, int *rw, int *rh);

/* ---- tiny face detector (tinydet.c) ---------------------------------- */

struct ir_tinydet;

/* Takes the tensors from m (which must outlive the net); *net is owned by
 * the caller (ir_tinydet_free). IR_EINVAL naming a missing tensor. */
int ir_tinydet_load(struct ir_model *m, struct ir_tinydet **net, char *err);
void ir_tinydet_free(struct ir_tinydet *net);

/* Floats of scratch ir_tinydet_detect needs at input size `size` (and
 * at any smaller size). */
size_t ir_tinydet_scratch(const struct ir_tinydet *net, int size);

/*
 * Runs the detector on img at input size `size` (a multiple of 32) and
 * writes at most max detections, NMS order (descending score), into dets.
 * *n receives the count. scratch: ir_tinydet_scratch(size) floats.
 */
int ir_tinydet_detect(const struct ir_tinydet *net, const struct ir_image *img,
    int size, double min_score, float *scratch, struct ir_det *dets, int max,
    int *n, char *err);

/*
 * The detector's first layer alone, for tests: conv0 (3x3 valid, + bias,
 * leaky ReLU) and its 2x2/2 max pool on an S x S x 3 input (S even),
 * into out ((S-2)/2)^2 x 16. buf: ir_tinydet_conv0_buf(S) floats,
 * 64-byte aligned.
 */
void ir_tinydet_conv0(const struct ir_tinydet *net, const float *in, int S,
    float *buf, float *out);
size_t ir_tinydet_conv0_buf(int S);

/*
 * The detector's raw G x G x 25 output grid for img at input size S (a
 * multiple of 32 up to 4096), inside scratch (ir_tinydet_scratch(S)
 * floats). reuse 0 computes every row of every map; 1 copies the rows that
 * repeat the row above, as ir_tinydet_detect does. For tests.
 */
const float *ir_tinydet_grid(const struct ir_tinydet *net,
    const struct ir_image *img, int S, int reuse, float *scratch);

/*
 * Decoding (spec 4.3) of the G x G x 25 output grid of an image w x h run
 * at input size `size`: candidates with score > min_score and their boxes
 * relative to the image (fractions of w and h, unclipped), in grid order
 * (row, col, anchor). Returns the count (at most G*G*5 written to cand).
 */
int ir_tinydet_decode(const float *grid, int G, int w, int h, int size,
    double min_score, struct ir_det *cand);

/*
 * Greedy NMS of the tiny detector (spec 4.4) over n candidates: IoU >
 * iou_max suppressed, computed on the boxes multiplied by `scale` (face-api
 * rescales relative boxes by inputSize first). Writes the survivors in pick
 * order (descending score) into out and returns how many (at most max).
 * idx: n ints of scratch.
 */
int ir_nms_tiny(const struct ir_det *cand, int n, double iou_max,
    double scale, int max, int *idx, struct ir_det *out);

/* ---- SSD MobileNet v1 (ssd.c) ---------------------------------------- */

struct ir_ssdnet;

#define IR_SSD_SIZE 512
#define IR_SSD_BOXES 5118
#define IR_SSD_MAX_RESULTS 100

int ir_ssd_load(struct ir_model *m, struct ir_ssdnet **net, char *err);
void ir_ssd_free(struct ir_ssdnet *net);
size_t ir_ssd_scratch(const struct ir_ssdnet *net);

/* As ir_tinydet_detect, for SSD (min_score is minConfidence). */
int ir_ssd_detect(const struct ir_ssdnet *net, const struct ir_image *img,
    double min_score, float *scratch, struct ir_det *dets, int max, int *n,
    char *err);

/*
 * Box decoding (spec 5.5) of raw encodings enc[i][4] = (ty, tx, th, tw)
 * against anchors anc[i][4] = (ymin, xmin, ymax, xmax), in float32 steps as
 * tfjs does; out[i] = (ymin, xmin, ymax, xmax).
 */
void ir_ssd_decode(const float *enc, const float *anc, int nbox, float *out);

/*
 * SSD NMS (spec 5.6) over nbox decoded boxes with their scores: writes the
 * selected box indices (descending score) into sel and returns how many.
 * idx: nbox ints of scratch.
 */
int ir_ssd_nms(const float *boxes, const float *scores, int nbox,
    double min_score, double iou_max, int max, int *idx, int *sel);

/* Mapping of a decoded box back to the w x h image (spec 5.7). */
void ir_ssd_map(const float box[4], int w, int h, double out[4]);

/* ---- 68-point landmark nets (landmarks.c) ----------------------------- */

struct ir_lmnet;

#define IR_LM_SIZE 112

/* tiny: 1 for face_landmark_68_tiny's graph (3 dense blocks of 3). */
int ir_lmnet_load(struct ir_model *m, int tiny, struct ir_lmnet **net,
    char *err);
void ir_lmnet_free(struct ir_lmnet *net);

/* Floats of scratch for a batch of up to `batch` crops. */
size_t ir_lmnet_scratch(const struct ir_lmnet *net, int batch);

/*
 * Landmarks of n crops of img (crops[i] = integer x, y, w, h inside the
 * image, w, h > 0), batched at most `batch` at a time: rel[i] receives the
 * 68 points relative to the crop (u, v in 0..1 of its width and height).
 */
int ir_lmnet_run(const struct ir_lmnet *net, const struct ir_image *img,
    const int (*crops)[4], int n, int batch, float *scratch,
    double (*rel)[68][2], char *err);

/* Spec 6.4: the 136 outputs of a w x h crop -> relative points. */
void ir_lm_decode(const float *out, int w, int h, double rel[68][2]);

/*
 * Spec 7.3: the dlib-style alignment box from image points pts and the
 * landmark crop size (cw, ch); box = (x, y, w, h), before clipping.
 */
void ir_align_box(const double pts[68][2], int cw, int ch, double box[4]);

#endif
