/*
 * model.h: our weights files (model/*.irw, format in ir-weights(5)).
 *
 * A weights file holds named tensors; quantised ones stay uint8 with their
 * scale and minimum and are dequantised on load exactly as tfjs does
 * ((float)((double)q * scale + min)). Opening verifies magic, version,
 * bounds of every table entry and the checksum, so a truncated or corrupt
 * file is refused with a reason instead of producing wrong faces.
 */
#ifndef IR_MODEL_H
#define IR_MODEL_H

#include "util.h"

struct ir_model;

/* Opens and verifies a weights file. On success *m is owned by the caller
 * (ir_model_close). IR_EINVAL for a corrupt file, IR_ENOENT if missing. */
int ir_model_open(const char *path, struct ir_model **m, char *err);

/*
 * The dequantised float32 values of tensor `name`, row-major in the
 * manifest's layout, owned by the model (valid until ir_model_close).
 * dims[0..*ndim-1] receive the shape (at most 4 dimensions). Returns NULL
 * with IR_EINVAL in err when the tensor is missing or not float32.
 * If want_ndim > 0 the shape must also match want (else NULL).
 */
const float *ir_model_tensor(struct ir_model *m, const char *name,
    int *ndim, int dims[4], char *err);

/* Number of tensors, and the name of tensor i (for listing tools). */
int ir_model_count(const struct ir_model *m);
const char *ir_model_name(const struct ir_model *m, int i);

void ir_model_close(struct ir_model *m);

/*
 * The folder holding the weights: $IR_MODEL_DIR, else the model/ folder
 * next to the running binary's bin/ (a source checkout), else
 * PREFIX/share/ir/model. Never NULL.
 */
const char *ir_model_dir(void);

#endif
