/*
 * sqs.h: what the SQS backend (sqs.c) offers beyond the queue interface
 * (queue.h): for tests and diagnostics.
 */
#ifndef IR_SQS_H
#define IR_SQS_H

#include <stddef.h>

/*
 * The region in an SQS queue URL whose host is sqs.REGION.amazonaws.com
 * (or .com.cn) or the legacy REGION.queue.amazonaws.com, into out (n
 * bytes). Returns 1 if found, 0 for any other host (a compatible server).
 */
int ir_sqs_url_region(const char *url, char *out, size_t n);

#endif
