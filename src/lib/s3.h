/*
 * s3.h: S3 set-up calls beyond the store interface (store.h), for
 * ir-aws(1) and set-up scripts.
 */
#ifndef IR_S3_H
#define IR_S3_H

#include "util.h"

/*
 * Creates the bucket of an s3://BUCKET[/PREFIX] URL in the configured
 * region (with a LocationConstraint outside us-east-1). A bucket that
 * already exists and is ours is not an error. IR_OK or an IR_E* status
 * with err set (IR_EINVAL for a name taken by someone else).
 */
int ir_s3_create_bucket(const char *url, char *err);

#endif
