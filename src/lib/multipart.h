/*
 * multipart.h: a strict parser for one buffered multipart/form-data body
 * (RFC 7578), the shape browsers and the course's workload generator send.
 *
 * The parser never copies: parts point into the caller's buffer, which
 * must outlive them. It refuses, with a one-line reason, anything that is
 * not a whole body: a missing or malformed boundary parameter, a body that
 * does not start with the boundary, part headers without an end, and a
 * body that ends before the closing boundary ("truncated"), so a cut-off
 * upload is never mistaken for a shorter image.
 */
#ifndef IR_MULTIPART_H
#define IR_MULTIPART_H

#include <stddef.h>

#include "util.h"

#define IR_MULTIPART_MAX_PARTS 64
#define IR_MULTIPART_MAX_NAME 256

struct ir_part {
	char name[IR_MULTIPART_MAX_NAME];     /* form field name */
	char filename[IR_MULTIPART_MAX_NAME]; /* "" when not a file field */
	char type[IR_MULTIPART_MAX_NAME];     /* part Content-Type, or "" */
	const unsigned char *data;            /* into the body; not owned */
	size_t len;
};

/*
 * Extracts the boundary from a Content-Type header value
 * ("multipart/form-data; boundary=XYZ", quoted or not) into out (at most
 * 70 characters, RFC 2046). Returns IR_OK, or IR_EINVAL with the reason
 * (not multipart/form-data, no boundary, boundary too long).
 */
int ir_multipart_boundary(const char *content_type, char *out, size_t outsz,
    char *err);

/*
 * Parses body into at most max parts (*n receives the count). Returns
 * IR_OK, or IR_EINVAL with the reason. Filenames are reduced to their last
 * path component (some browsers send C:\path\name.jpg).
 */
int ir_multipart_parse(const unsigned char *body, size_t len,
    const char *boundary, struct ir_part *parts, int max, int *n, char *err);

/* The first part named field, or NULL. */
const struct ir_part *ir_multipart_find(const struct ir_part *parts, int n,
    const char *field);

#endif
