/*
 * serve.h: the web tier (ir-serve) as a library: an HTTP/1.1 server on
 * libmicrohttpd that turns uploads into requests on the request queue and
 * waits for their answers on its own response queue, or (direct mode)
 * classifies in-process on a small pool of threads.
 *
 * Endpoints (ir-serve(1) is the reference): POST / (multipart field
 * inputFile; text/plain "name:label"), POST /v1/recognize (multipart or raw
 * image body; the JSON result), GET / (the upload page), GET /healthz,
 * GET /metrics (Prometheus text).
 *
 * Invariants: a waiting request is matched to its answer by request id
 * only; an answer whose id is not waiting (late, unknown, or already timed
 * out) is dropped and counted, never given to another request. A waiting
 * connection is suspended (no thread held), so the number of requests in
 * flight is bounded by max_inflight, not by the HTTP thread count.
 */
#ifndef IR_SERVE_H
#define IR_SERVE_H

#include <stddef.h>

#include "util.h"

/*
 * Direct mode's classifier: called on one of the pool's threads with that
 * thread's context (ctx[i]); fills *json with a malloc'd result message
 * (DESIGN.md "Messages", an "error" result for a bad image) owned by the
 * caller. A non-zero return is an internal failure (500) with err set.
 */
typedef int (*ir_serve_classify_fn)(void *ctx, const char *id,
    const char *name, const unsigned char *img, size_t len, char **json,
    char *err);

struct ir_serve_opts {
	const char *listen;          /* "ADDR:PORT"; port 0 picks a free one */
	/* Queue mode (direct == 0): */
	const char *request_queue;   /* URL */
	const char *response_queue;  /* URL; created if missing */
	const char *input_store;     /* URL */
	/* Direct mode: */
	int direct;
	int nclassify;               /* threads, one ctx each */
	void **classify_ctx;
	ir_serve_classify_fn classify;
	/* Limits (0: the default in brackets): */
	size_t max_body;             /* bytes [16 MiB] -> 413 */
	int max_inflight;            /* waiting requests [256] -> 503 */
	double timeout_s;            /* per request [30] -> 504 */
	int http_threads;            /* [8] */
	/* One line per request and per event; NULL: silent. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

struct ir_serve;

/*
 * Opens the queues and stores (creating the response queue), starts the
 * receiver, the timer and the HTTP threads, and listens. Returns IR_OK
 * with *s running (stop with ir_serve_stop), or an error status with the
 * reason (bad address, port in use, a queue or store that cannot be
 * opened).
 */
int ir_serve_start(const struct ir_serve_opts *o, struct ir_serve **s,
    char *err);

/* The TCP port listened on (useful with port 0). */
int ir_serve_port(const struct ir_serve *s);

/* The response queue's absolute URL ("" in direct mode). */
const char *ir_serve_reply_url(const struct ir_serve *s);

/*
 * Stops accepting, answers requests still waiting with 503, stops every
 * thread and frees s. The response queue is kept (DESIGN.md).
 */
void ir_serve_stop(struct ir_serve *s);

/* The upload page, embedded at build time from src/web/index.html. */
extern const unsigned char ir_web_index[];
extern const unsigned int ir_web_index_len;

#endif
