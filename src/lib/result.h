/*
 * result.h: one image's result, as the tools print it and as the worker
 * sends it. ir-classify, the ir-classify -w worker, ir-serve and ir-poll
 * all format results through these functions, so a result reads the same
 * wherever it comes from.
 *
 * Two renderings:
 *  - TSV (ir-classify's default, ir-poll's output): one line
 *      NAME<TAB>label<TAB>distance[<TAB>label<TAB>distance ...]
 *    one pair per face, largest face first, distance with 2 decimals
 *    ("photo.jpg\tPaul\t0.41"); "NAME\tnoface" when no face was found;
 *    "NAME\terror\tREASON" when the image could not be processed. A
 *    distance that does not exist (empty gallery) prints as "-". TABs,
 *    newlines and other control characters inside NAME or REASON are
 *    printed as '?', so one result is always one line of 2k+1 fields.
 *  - JSON (DESIGN.md "Messages", version 1), one object:
 *      {"v":1, "id":ID, "name":NAME, "label":L, "distance":D,
 *       "faces":[{"box":[x,y,w,h], "score":S, "label":L, "distance":D,
 *                 "path":"tiny"|"ssd"|"whole",
 *                 "landmarks":[[x,y] x68]       (IR_RESULT_LANDMARKS),
 *                 "descriptor":[128 numbers]}],  (IR_RESULT_DESCRIPTOR)
 *       "ms":{"decode":..,"detect":..,"landmarks":..,"describe":..}}
 *    "id" only when one is given. Top-level "label"/"distance" are the
 *    first (largest) face's; with no face "label" is "noface" and there is
 *    no "distance". A distance that does not exist is null. Numbers are
 *    full precision (jansson's 17 significant digits: doubles round-trip,
 *    and float descriptors convert back to the same float). On error:
 *      {"v":1, "id":ID, "name":NAME, "error":REASON}
 */
#ifndef IR_RESULT_H
#define IR_RESULT_H

#include <jansson.h>

#include "face.h"
#include "gallery.h"

#define IR_RESULT_VERSION 1

/* Flags for ir_result_json: what to add to every face. */
enum {
	IR_RESULT_DESCRIPTOR = 1,  /* "descriptor": the 128 floats */
	IR_RESULT_LANDMARKS = 2    /* "landmarks": 68 [x, y] image points */
};

/* What is known about one image; the struct only borrows. */
struct ir_result {
	const char *id;               /* request id, or NULL (omitted) */
	const char *name;             /* image name as the user gave it */
	const char *error;            /* non-NULL: failed, with this reason;
	                                 the fields below are ignored */
	int nfaces;                   /* >= 0 */
	const struct ir_face *faces;  /* nfaces, largest first */
	const struct ir_match *match; /* nfaces, match[i] for faces[i] */
	struct ir_timing ms;          /* milliseconds per stage */
};

/*
 * The result as a new JSON object (caller owns one reference:
 * json_decref). Never NULL (out-of-memory aborts).
 */
json_t *ir_result_json(const struct ir_result *r, int flags);

/*
 * A JSON string of s (NULL: ""); bytes of s that are not valid UTF-8
 * (jansson refuses those) come out as '?'. New reference, or NULL when
 * out of memory.
 */
json_t *ir_json_string(const char *s);

/*
 * The JSON object as one compact line without a trailing newline,
 * malloc'd (caller frees). Never NULL.
 */
char *ir_result_json_line(const struct ir_result *r, int flags);

/* The TSV line without a trailing newline, malloc'd (caller frees). */
char *ir_result_tsv(const struct ir_result *r);

/*
 * The single label a one-word answer uses (ir-serve's "name:label"):
 * the largest face's label, "noface", or "error". Points into r or a
 * constant string.
 */
const char *ir_result_label(const struct ir_result *r);

/*
 * The inverse of ir_result_json for consumers of result messages
 * (ir-poll, ir-serve): the TSV line of a JSON result object as received.
 * Returns a malloc'd line (caller frees), or NULL if o is not a result
 * (no "name", or "faces" malformed).
 */
char *ir_result_tsv_from_json(const json_t *o);

#endif
