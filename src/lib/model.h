/*
 * model.h: our weights files (model/<name>.irw, format in ir-weights(5)).
 *
 * A weights file holds named tensors; quantised ones stay uint8 with their
 * scale and minimum and are dequantised on load exactly as tfjs does
 * ((float)((double)q * scale + min)). Opening verifies magic, version,
 * bounds of every table entry and the checksum, so a truncated or corrupt
 * file is refused with a reason instead of producing wrong faces.
 *
 * An open model is read-only after ir_model_open returns: any number of
 * threads may call the lookup functions on it at the same time.
 */
#ifndef IR_MODEL_H
#define IR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Largest weights file ir_model_open accepts (the biggest we ship is 6 MB). */
#define IR_MODEL_MAXFILE ((size_t)512 << 20)
/* Longest tensor name, NUL excluded (the name field is 96 bytes). */
#define IR_MODEL_MAXNAME 95

/* Logical element types (what the tensor means). */
enum ir_dtype { IR_DT_F32 = 0, IR_DT_I32 = 1 };
/* Storage types (how its bytes are held in the file). */
enum ir_storage {
	IR_ST_F32 = 0, /* raw little-endian IEEE-754 binary32 */
	IR_ST_I32 = 1, /* raw little-endian two's complement int32 */
	IR_ST_U8 = 2,  /* quantised: value = q * scale + min */
	IR_ST_U16 = 3  /* quantised, little-endian uint16 */
};

/* One row of the tensor table, as stored (for listing tools and tests). */
struct ir_tensor_info {
	const char *name;  /* owned by the model */
	int dtype;         /* enum ir_dtype */
	int storage;       /* enum ir_storage */
	int ndim;          /* 0 (scalar) to 4 */
	int dims[4];       /* dims[ndim..3] are 0 */
	size_t count;      /* product of dims (1 for a scalar) */
	double scale, min; /* quantisation; 1 and 0 for raw storage */
	uint64_t offset;   /* byte offset of the data in the file */
	uint64_t length;   /* byte length of the data */
};

struct ir_model;

/* Opens and verifies a weights file. On success *m is owned by the caller
 * (ir_model_close). IR_EINVAL for a corrupt file, IR_ENOENT if missing,
 * IR_ESYS if it cannot be read. */
int ir_model_open(const char *path, struct ir_model **m, char *err);

/*
 * As ir_model_open, from len bytes in memory (copied as needed; buf may be
 * freed on return). name is used in messages. For tests and fuzzing.
 */
int ir_model_open_mem(const void *buf, size_t len, const char *name,
    struct ir_model **m, char *err);

/*
 * The dequantised float32 values of tensor `name`, row-major in the
 * manifest's layout, 64-byte aligned, owned by the model (valid until
 * ir_model_close). dims[0..*ndim-1] receive the shape (at most 4
 * dimensions; the rest are set to 0); ndim and dims may be NULL.
 * Returns NULL with IR_EINVAL in err when the tensor is missing or not
 * float32.
 */
const float *ir_model_tensor(struct ir_model *m, const char *name,
    int *ndim, int dims[4], char *err);

/*
 * As ir_model_tensor, but also requires the shape to be exactly
 * want[0..ndim-1] (the error names the tensor, got and expected shapes).
 * Lets a network check every tensor it uses in one line.
 */
const float *ir_model_expect(struct ir_model *m, const char *name,
    int ndim, const int want[4], char *err);

/*
 * The 8-bit codes q of float32 tensor `name` when the file stores it as
 * uint8 (its values being (float)((double)q * *scale + *min)), in the
 * layout of ir_model_tensor, owned by the model; NULL when the tensor is
 * missing or stored otherwise. For kernels that read the bytes instead of
 * the floats (a quarter of the memory traffic).
 */
const unsigned char *ir_model_codes(struct ir_model *m, const char *name,
    double *scale, double *min);

/*
 * Frees the 8-bit codes kept for ir_model_codes, which returns NULL
 * afterwards: a network that has packed what it needs (ir_conv_prepare
 * copies them) or never reads them gives the memory back. Call it before
 * the model is shared between threads (it writes the model).
 */
void ir_model_drop_codes(struct ir_model *m);

/* Number of tensors, and the name of tensor i (for listing tools);
 * ir_model_name returns NULL when i is out of range. */
int ir_model_count(const struct ir_model *m);
const char *ir_model_name(const struct ir_model *m, int i);

/* The table entry of tensor i; IR_EINVAL if i is out of range. */
int ir_model_info(const struct ir_model *m, int i,
    struct ir_tensor_info *info, char *err);

/* The file's SHA-256 checksum as 64 lowercase hex digits (static storage
 * in the model). */
const char *ir_model_checksum(const struct ir_model *m);

/* Frees the model and every tensor it returned; NULL is allowed. */
void ir_model_close(struct ir_model *m);

/*
 * The folder holding the weights: $IR_MODEL_DIR when set and not empty;
 * else the model/ folder of a source checkout, found from the running
 * binary (/proc/self/exe) as <exe dir>/../model or <exe dir>/../../model
 * (bin/, build/t/, build-san/bin/) when it holds face_recognition.irw;
 * else PREFIX/share/ir/model (PREFIX as given to make). Decided on the first
 * call, then constant. Never NULL; the string is static.
 */
const char *ir_model_dir(void);

/* Names used in messages for enum ir_dtype / enum ir_storage values
 * ("f32", "i32", "u8", "u16"; "?" when out of range). */
const char *ir_model_dtype_name(int dtype);
const char *ir_model_storage_name(int storage);

#endif
