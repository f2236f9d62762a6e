/*
 * queue.h: one message-queue interface with Amazon SQS semantics, backed by
 * a spool directory (spool:PATH or a bare path; spool.c) or by Amazon SQS
 * and compatible servers (sqs://NAME or an https://sqs... queue URL; sqs.c).
 *
 * Semantics everywhere: a received message is invisible to others for the
 * visibility timeout, then comes back with its receive count up unless it
 * was deleted; past the queue's maximum receive count it goes to the dead
 * letters instead. Receive long-polls up to wait_s seconds and returns as
 * soon as a message is there. Depth = visible + in flight.
 *
 * Threads: do not call ir_queue_receive on one struct ir_queue from two
 * threads at once; on a spool the other calls may run alongside (they
 * keep no state in the struct), e.g. a heartbeat thread's
 * ir_queue_change_visibility, as long as no two calls use one ir_msg.
 */
#ifndef IR_QUEUE_H
#define IR_QUEUE_H

#include <stddef.h>

#include "util.h"

#define IR_QUEUE_MAX_BATCH 10 /* as SQS */

struct ir_msg {
	char *body;         /* NUL-terminated message body; owned */
	size_t len;
	char *handle;       /* receipt handle for delete/visibility; owned */
	char *id;           /* message id given by the queue; owned */
	int receive_count;  /* 1 on first delivery */
};

struct ir_queue_opts {
	int create;         /* create the queue if missing (spool: always) */
	int max_receive;    /* dead-letter after this many receives; 0: 5;
			       < 0: never (a response queue). On a spool
			       the receivers' setting decides (give all
			       receivers of one spool the same); on SQS the
			       queue's redrive policy does. */
	int visibility_s;   /* default visibility timeout; 0: 30 */
	int nosync;         /* spool: sends are not synced to disk, for a
			       sender that waits for the answer itself (a
			       crash loses nothing it acknowledged) */
};

#define IR_QUEUE_MAX_BODY 262144 /* bytes, as SQS */
#define IR_QUEUE_MAX_VISIBILITY 43200 /* seconds (12 hours), as SQS */
#define IR_QUEUE_MAX_WAIT 20 /* seconds of long poll, as SQS */

struct ir_queue;

/*
 * Opens a queue by URL; o may be NULL for the defaults. URLs: spool:PATH
 * or a bare PATH (relative paths are made absolute), sqs://NAME, or an
 * http(s) queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME or a
 * compatible server's). IR_EINVAL for an unknown scheme. Close *q with
 * ir_queue_close.
 */
int ir_queue_open(const char *url, const struct ir_queue_opts *o,
    struct ir_queue **q, char *err);

/* The queue's absolute URL (what a request's "reply" carries). */
const char *ir_queue_url(const struct ir_queue *q);

/* Sets the queue's nosync option (struct ir_queue_opts) for later sends. */
void ir_queue_set_nosync(struct ir_queue *q, int nosync);

/* Sends one message (1 to IR_QUEUE_MAX_BODY bytes, no NUL). */
int ir_queue_send(struct ir_queue *q, const char *body, size_t len,
    char *err);

/* Sends n <= IR_QUEUE_MAX_BATCH messages; all or an error (after an
 * error some may have been sent). */
int ir_queue_send_batch(struct ir_queue *q, const char *const *bodies,
    const size_t *lens, int n, char *err);

/*
 * Receives up to max (<= IR_QUEUE_MAX_BATCH) messages into msgs, waiting
 * up to wait_s seconds for the first; *n = 0 after the wait is not an
 * error. wait_s is 0 to IR_QUEUE_MAX_WAIT; visibility_s < 0 means the
 * queue's default. Free each message with ir_msg_free.
 */
int ir_queue_receive(struct ir_queue *q, struct ir_msg *msgs, int max,
    int wait_s, int visibility_s, int *n, char *err);

/*
 * Deletes a received message. Only m->handle is used, so a message built
 * from a saved handle works. IR_ENOENT if the handle is stale (the lease
 * expired and the message went back to the queue or to someone else).
 */
int ir_queue_delete(struct ir_queue *q, const struct ir_msg *m, char *err);

/*
 * Extends (or shortens) a received message's invisibility (heartbeat);
 * 0 makes it visible at once. IR_ENOENT for a stale handle. The spool
 * backend's receipt handle is the file name, which carries the lease
 * expiry: it rewrites the text of m->handle in place (same length), so
 * keep using m->handle; a copy taken before this call goes stale.
 */
int ir_queue_change_visibility(struct ir_queue *q, const struct ir_msg *m,
    int visibility_s, char *err);

/* Approximate visible and in-flight counts. */
int ir_queue_depth(struct ir_queue *q, long *visible, long *inflight,
    char *err);

/* Both accept NULL. ir_msg_free frees the members and zeroes *m. */
void ir_queue_close(struct ir_queue *q);
void ir_msg_free(struct ir_msg *m);

/*
 * The URL a tool uses for one role (DESIGN.md "Tools"): flag when not NULL
 * (the -q/-r/-s/-o value), else the environment variable (IR_REQUEST_QUEUE,
 * IR_RESPONSE_QUEUE, IR_INPUT_STORE, IR_OUTPUT_STORE) when set and not
 * empty, else a default under the local state folder ($IR_STATE, else
 * "run" in the current folder): spool:STATE/requests,
 * spool:STATE/replies, dir:STATE/input, dir:STATE/output. Returns a
 * malloc'd string the caller frees (relative paths are made absolute
 * when the queue or store is opened).
 */
enum ir_role {
	IR_ROLE_REQUESTS,
	IR_ROLE_REPLIES,
	IR_ROLE_INPUT,
	IR_ROLE_OUTPUT
};
char *ir_role_url(enum ir_role role, const char *flag);

/* Writes the absolute form of a relative path into a malloc'd string
 * ("./" parts and repeated or trailing slashes dropped); NULL when the
 * current folder cannot be found (errno set). Used for spool: and dir:. */
char *ir_abspath(const char *path);

/*
 * Backend table: each backend fills one. Only queue.c and the backends
 * use it.
 */
struct ir_queue_ops {
	int (*send_batch)(struct ir_queue *, const char *const *,
	    const size_t *, int, char *);
	int (*receive)(struct ir_queue *, struct ir_msg *, int, int, int,
	    int *, char *);
	int (*del)(struct ir_queue *, const struct ir_msg *, char *);
	int (*change_visibility)(struct ir_queue *, const struct ir_msg *,
	    int, char *);
	int (*depth)(struct ir_queue *, long *, long *, char *);
	void (*close)(struct ir_queue *);
};

struct ir_queue {
	const struct ir_queue_ops *ops;
	char *url;                 /* absolute */
	struct ir_queue_opts opts;
	void *impl;                /* backend state */
};

/* Backend constructors, called by ir_queue_open. Each sets (*q)->url to
 * the queue's absolute URL (malloc'd, freed by its close). */
int ir_spool_open(const char *path, const struct ir_queue_opts *o,
    struct ir_queue **q, char *err);
int ir_sqs_open(const char *url, const struct ir_queue_opts *o,
    struct ir_queue **q, char *err);

#endif
