/*
 * worker.h: the app tier (ir-classify -w) and the in-process classifier it
 * shares with ir-serve's direct mode.
 *
 * A classifier is an engine plus a gallery: image bytes in, one result
 * message out (DESIGN.md "Messages", formatted by result.h). The worker
 * loop long-polls the request queue, takes up to `batch` messages, fetches
 * each image from the input store, classifies them on `threads` engines,
 * writes each result to the output store under results/ID.json, sends it
 * to the request's reply queue and only then deletes the request: a result
 * is durable before its request is gone, and a redelivered request whose
 * result is already stored gets that result again (idempotent by id).
 * Receiving, classifying and answering run on their own threads, so the
 * engines never wait for the queue or the stores (worker.c).
 */
#ifndef IR_WORKER_H
#define IR_WORKER_H

#include <signal.h>
#include <stddef.h>

#include "face.h"
#include "gallery.h"
#include "util.h"

struct ir_classifier;

/*
 * Loads the engine (model weights) and the gallery (path; NULL or "" for
 * an empty gallery: every face is "unknown"). threshold <= 0 means the
 * gallery's default. *c is owned by the caller (ir_classifier_close).
 */
int ir_classifier_open(const struct ir_engine_opts *eo, const char *gallery,
    double threshold, struct ir_classifier **c, char *err);

/* A classifier for another thread, sharing c's weights and gallery; close
 * clones before c. */
int ir_classifier_clone(struct ir_classifier *c, struct ir_classifier **out,
    char *err);

/*
 * Classifies one encoded image. Returns the result message as a malloc'd
 * JSON line (caller frees; never NULL): the faces and labels, or an
 * "error" result with the reason when the bytes are not a usable image.
 * id may be NULL. If label is not NULL it receives (at most labelsz bytes)
 * the one-word answer: the largest face's label, "noface" or "error".
 * Does not allocate per image beyond the decoded pixels and the JSON.
 */
char *ir_classify_buf(struct ir_classifier *c, const char *id,
    const char *name, const unsigned char *img, size_t len, char *label,
    size_t labelsz);

void ir_classifier_close(struct ir_classifier *c);

/* Output-store key of the result of request id: "results/ID.json". */
void ir_result_key(const char *id, char *out, size_t outsz);

#define IR_WORKER_IDLE_DEFAULT 1.0   /* seconds; see ir-classify(1) */

struct ir_worker_opts {
	const char *request_queue;   /* URLs */
	const char *input_store;
	const char *output_store;
	const char *gallery;         /* path, or NULL for an empty gallery */
	double threshold;            /* <= 0: the gallery default */
	struct ir_engine_opts engine;
	int batch;                   /* messages per receive, 1..10; the
	                                next batch is received once the
	                                engines have taken all of the last.
	                                <= 0: 1 on a spool queue, else 10 */
	int threads;                 /* engines, >= 1 */
	double idle_s;               /* exit after this long without work;
	                                < 0: never (persistent) */
	int visibility_s;            /* lease per received message [30] */
	int max_receive;             /* dead-letter after [5] receives */
	size_t max_image;            /* largest image fetched [32 MiB] */
	/* Set (by a signal handler) to stop: the batch in hand is finished,
	 * nothing more is taken. May be NULL. */
	volatile sig_atomic_t *stop;
	/* One line per message and per event; NULL: silent. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

struct ir_worker_stats {
	long messages;               /* requests answered (incl. errors) */
	long errors;                 /* of which error results */
	long resent;                 /* answered from the stored result */
	long dropped;                /* deleted without an answer */
};

/*
 * Runs the worker until it has been idle for idle_s, or *stop is set.
 * Returns IR_OK then (st, if not NULL, says what was done), or an error
 * with the reason: IR_ENOENT/IR_EINVAL when the model, gallery, queue or
 * store cannot be opened; IR_ETEMP when the request queue keeps failing.
 */
int ir_worker_run(const struct ir_worker_opts *o, struct ir_worker_stats *st,
    char *err);

#endif
