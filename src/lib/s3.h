/*
 * s3.h: S3 set-up calls beyond the store interface (store.h), for
 * ir-aws(1) and set-up scripts.
 */
#ifndef IR_S3_H
#define IR_S3_H

#include <stddef.h>

#include "util.h"

/*
 * Creates the bucket of an s3://BUCKET[/PREFIX] URL in the configured
 * region (with a LocationConstraint outside us-east-1). A bucket that
 * already exists and is ours is not an error. IR_OK or an IR_E* status
 * with err set (IR_EINVAL for a name taken by someone else).
 */
int ir_s3_create_bucket(const char *url, char *err);

/*
 * The URL a request for key in the store url goes to (addressing style,
 * region, endpoint and encoding as the backend does it), into a malloc'd
 * *out: for tests and diagnostics. IR_OK or IR_EINVAL (bad URL).
 */
int ir_s3_object_url(const char *url, const char *key, char **out,
    char *err);

/*
 * Parses one ListObjectsV2 reply page (len bytes of XML): calls fn for
 * each <Contents> whose <Key> (entities decoded) starts with prefix and
 * is longer, with the key after the prefix and its <Size>; sets
 * *truncated from <IsTruncated> and *next to <NextContinuationToken>
 * (malloc'd, or NULL). Returns IR_OK, fn's non-zero return, or IR_ETEMP
 * for a malformed reply. Used by s3.c; exposed for the fuzz target.
 */
int ir_s3_parse_list(const char *body, size_t len, const char *prefix,
    int (*fn)(const char *, size_t, void *), void *arg, int *truncated,
    char **next, char *err);

#endif
