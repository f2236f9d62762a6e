/*
 * gallery.h: a gallery maps person names to one or more 128-D face
 * descriptors, kept in one binary file (format in ir-gallery(5)), and
 * matches a descriptor against it the way face-api's FaceMatcher does.
 *
 * A struct ir_gallery is a plain in-memory list; people keep the order in
 * which they were first added (it decides exact ties, see
 * ir_gallery_match). Loading validates the whole file (magic, version,
 * dimension, every length against the bytes left, names, finite floats,
 * the CRC-32 trailer) so a corrupt or truncated gallery is refused with a
 * reason and never half loaded. Saving is atomic (temporary file, fsync,
 * rename). Matching reads only: one gallery may be shared by threads.
 */
#ifndef IR_GALLERY_H
#define IR_GALLERY_H

#include <stddef.h>

#include "util.h"

#define IR_GALLERY_DIM 128          /* floats per descriptor */
#define IR_GALLERY_NAMEMAX 255      /* bytes in a name, UTF-8 */
#define IR_GALLERY_THRESHOLD 0.6    /* face-api's default */
#define IR_GALLERY_VERSION 1
/* Largest gallery file ir_gallery_load reads (bytes). */
#define IR_GALLERY_MAXBYTES (1L << 30)

struct ir_person {
	char *name;   /* NUL-terminated, valid per ir_gallery_name_ok; owned */
	int n;        /* descriptors, >= 1 */
	float *desc;  /* n * IR_GALLERY_DIM floats; owned */
};

struct ir_gallery {
	int n, cap;
	struct ir_person *p;  /* n people, insertion order */
};

/* The result of matching one descriptor. */
struct ir_match {
	const char *label;  /* a person's name (points into the gallery) or
	                       "unknown"; never NULL */
	double distance;    /* mean Euclidean distance to the best person;
	                       INFINITY when the gallery is empty */
	int person;         /* index of the best person, -1 if none; set
	                       even when label is "unknown" */
};

/*
 * The gallery a tool uses when not told: $IR_GALLERY if set and not
 * empty; else the shipped example gallery found from the model folder
 * (ir_model_dir()): MODEL/../examples/gallery.irg in a source checkout,
 * MODEL/../gallery.irg when installed (PREFIX/share/ir/gallery.irg).
 * Writes the path into buf (n bytes) and returns buf; when no candidate
 * exists, the installed path (so the error message names it).
 */
const char *ir_gallery_default(char *buf, size_t n);

/* An empty gallery (equivalent to zeroing the struct). */
void ir_gallery_init(struct ir_gallery *g);

/* Frees everything g owns and leaves it empty. */
void ir_gallery_free(struct ir_gallery *g);

/*
 * Loads path into *g (initialised here; free with ir_gallery_free).
 * IR_ENOENT if the file does not exist, IR_ESYS if it cannot be read,
 * IR_EINVAL with the reason ("PATH: truncated", "PATH: bad checksum", ...)
 * if it is not a valid gallery. On failure *g is empty.
 */
int ir_gallery_load(const char *path, struct ir_gallery *g, char *err);

/* As ir_gallery_load for bytes in memory (reasons without a path). */
int ir_gallery_parse(const unsigned char *buf, size_t len,
    struct ir_gallery *g, char *err);

/* The file image of g; *buf is malloc'd and owned by the caller. */
void ir_gallery_serialize(const struct ir_gallery *g, unsigned char **buf,
    size_t *len);

/* Writes g to path atomically. IR_ESYS with the reason on failure. */
int ir_gallery_save(const struct ir_gallery *g, const char *path,
    char *err);

/*
 * Whether name can be a label: 1 to 255 bytes, no control characters
 * (TAB and newline would break the TSV output), no leading or trailing
 * space, and none of the words the output reserves: "unknown", "noface",
 * "error". IR_OK or IR_EINVAL with the reason.
 */
int ir_gallery_name_ok(const char *name, char *err);

/* Index of the person called name, or -1. */
int ir_gallery_find(const struct ir_gallery *g, const char *name);

/*
 * Appends n descriptors (n*IR_GALLERY_DIM floats, copied) to the person
 * called name, adding the person at the end if new. IR_EINVAL for a bad
 * name or a non-finite value.
 */
int ir_gallery_add(struct ir_gallery *g, const char *name,
    const float *desc, int n, char *err);

/* Removes the person called name: IR_OK, or IR_ENOENT if absent. */
int ir_gallery_remove(struct ir_gallery *g, const char *name);

/* Euclidean distance of two descriptors, summed in double. */
double ir_desc_distance(const float *a, const float *b);

/*
 * face-api's FaceMatcher.findBestMatch (MODEL-SPEC.md 3.4): for each
 * person the MEAN distance from desc to all of that person's descriptors;
 * the smallest mean wins, and on an exact tie the later person wins; the
 * label is the person's name if that distance < threshold (strict), else
 * "unknown" with the same distance. threshold <= 0 means
 * IR_GALLERY_THRESHOLD.
 */
void ir_gallery_match(const struct ir_gallery *g, const float *desc,
    double threshold, struct ir_match *m);

#endif
