/*
 * worker.c: the app tier. One process: two handles on the request queue
 * (one receives, on the main thread only; the other deletes and extends
 * leases, under qlock) and on the output store (one reads stored results,
 * one writes new ones), `threads` engines cloned from one set of weights,
 * one gallery shared read-only.
 *
 * Each request, in a pipeline of threads:
 *   1. main: receive up to `batch` messages (long poll), each then in
 *      hand;
 *   2. main: parse each; for a valid request look for results/ID.json in
 *      the output store (a redelivery: resend that, do not recompute),
 *      else fetch the image from the input store;
 *   3. engines (one thread each): classify the images, in receive order;
 *   4. finisher: in receive order, as each is done: put the result
 *      (unless it came from the store), send it to the reply queue,
 *      delete the request. A failed put or a temporary send failure
 *      leaves the request in the queue: it comes back after its lease and
 *      is answered then (from the store if the put had worked), so no
 *      answer is lost and none is computed twice.
 * The main thread receives the next batch as soon as the engines have
 * taken every image of the last, so when an engine finishes an image the
 * next is fetched already, and the answering of one image overlaps the
 * classification of the next: the engines wait for no I/O. A worker holds
 * at most one batch beyond what its engines work on, so with small
 * batches the last requests of a burst spread evenly over the workers.
 * If the queue is empty while the engines are busy, the main thread waits
 * for them before it long-polls again: what arrives meanwhile goes to an
 * idle worker, and the idle time (-i) counts from the last image.
 * While requests are in hand a heartbeat thread extends their leases
 * every visibility/3 seconds; qlock serialises it with deletes, as the
 * spool rewrites a handle in place when its lease changes. On a stop
 * (SIGTERM) nothing more is received and every request in hand is
 * finished.
 *
 * Requests that cannot be processed (not JSON, no key, missing image, not
 * an image) get an error result when they carry an id and a reply queue,
 * and are deleted either way: they never block the queue. A request that
 * crashes the worker is never deleted; the queue's maximum receive count
 * moves it to the dead letters.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "queue.h"
#include "result.h"
#include "store.h"
#include "worker.h"

/* ---------------------------------------------------------------- */
/* The classifier                                                    */

struct ir_classifier {
	struct ir_engine *e;
	struct ir_gallery *g;        /* shared by clones */
	int owns_g;
	double threshold;
	int jpeg;                    /* JPEG decoder (image.h) */
	struct ir_face *faces;       /* IR_MAX_FACES, reused per image */
	struct ir_match *match;
};

int
ir_classifier_open(const struct ir_engine_opts *eo, const char *gallery,
    double threshold, struct ir_classifier **cp, char *err)
{
	struct ir_classifier *c = ir_xcalloc(1, sizeof *c);
	int rc;

	*cp = NULL;
	c->g = ir_xcalloc(1, sizeof *c->g);
	c->owns_g = 1;
	c->threshold = threshold;
	c->jpeg = eo->jpeg;
	ir_gallery_init(c->g);
	if (gallery && *gallery &&
	    (rc = ir_gallery_load(gallery, c->g, err)) != IR_OK) {
		ir_classifier_close(c);
		return rc;
	}
	if ((rc = ir_engine_open(&c->e, eo, err)) != IR_OK) {
		c->e = NULL;
		ir_classifier_close(c);
		return rc;
	}
	c->faces = ir_xcalloc(IR_MAX_FACES, sizeof *c->faces);
	c->match = ir_xcalloc(IR_MAX_FACES, sizeof *c->match);
	*cp = c;
	return IR_OK;
}

int
ir_classifier_clone(struct ir_classifier *c, struct ir_classifier **out,
    char *err)
{
	struct ir_classifier *d = ir_xcalloc(1, sizeof *d);
	int rc;

	*out = NULL;
	if ((rc = ir_engine_clone(c->e, &d->e, err)) != IR_OK) {
		free(d);
		return rc;
	}
	d->g = c->g;
	d->threshold = c->threshold;
	d->jpeg = c->jpeg;
	d->faces = ir_xcalloc(IR_MAX_FACES, sizeof *d->faces);
	d->match = ir_xcalloc(IR_MAX_FACES, sizeof *d->match);
	*out = d;
	return IR_OK;
}

void
ir_classifier_close(struct ir_classifier *c)
{
	if (!c)
		return;
	if (c->e)
		ir_engine_close(c->e);
	if (c->owns_g) {
		ir_gallery_free(c->g);
		free(c->g);
	}
	free(c->faces);
	free(c->match);
	free(c);
}

char *
ir_classify_buf(struct ir_classifier *c, const char *id, const char *name,
    const unsigned char *buf, size_t len, char *label, size_t labelsz)
{
	struct ir_result r = { .id = id, .name = name ? name : "" };
	struct ir_image img = { 0 };
	struct ir_timing t = { 0 };
	char err[IR_ERRMAX];
	double t0;
	int n = 0, i;
	char *line;

	t0 = ir_now_ms();
	if (ir_image_decode_with(buf, len, 0, c->jpeg, &img, err) != IR_OK)
		r.error = err;
	else {
		double td = ir_now_ms() - t0;

		if (ir_engine_faces(c->e, &img, c->faces, IR_MAX_FACES, &n, &t,
		    err) != IR_OK)
			r.error = err;
		t.decode = td;
	}
	if (!r.error) {
		for (i = 0; i < n; i++)
			ir_gallery_match(c->g, c->faces[i].desc, c->threshold,
			    &c->match[i]);
		r.nfaces = n;
		r.faces = c->faces;
		r.match = c->match;
		r.ms = t;
	}
	line = ir_result_json_line(&r, 0);
	if (label)
		snprintf(label, labelsz, "%s", ir_result_label(&r));
	ir_image_free(&img);
	return line;
}

void
ir_result_key(const char *id, char *out, size_t outsz)
{
	snprintf(out, outsz, "results/%s.json", id);
}

/* ---------------------------------------------------------------- */
/* The worker loop                                                   */

/*
 * An item's state. I_NEW: not prepared (the store failed): left in the
 * queue to come back after its lease. I_SKIP: deleted without an answer.
 * I_PENDING: its image waits for an engine; I_RUNNING: an engine has it;
 * I_READY: its result is there (computed, stored or an error result).
 */
enum { I_NEW, I_SKIP, I_PENDING, I_RUNNING, I_READY };

struct item {
	struct ir_msg m;                /* m.handle: under qlock */
	int state;                      /* set by the main thread before
	                                   the item is ready, then by an
	                                   engine under lock */
	char *id, *name, *key, *reply;  /* from the request; owned */
	unsigned char *img;
	size_t len;
	char *result;                   /* JSON line; owned */
	int from_store;
	int nosync;                     /* the request's "sync": false */
	char label[IR_GALLERY_NAMEMAX + 1];
	double ms;
	int done;                       /* out of the heartbeat's care
	                                   (deleted or given up); under
	                                   qlock */
	int settled;                    /* no engine will touch it again:
	                                   the finisher may take it; under
	                                   lock */
};

struct reply {                      /* a cached reply-queue handle */
	char *url;
	struct ir_queue *q;
	double used;
};
#define NREPLY 16

/*
 * The items in hand are a ring of nslot slots, by receive order:
 *
 *   fin <= comp <= ready <= fill,   fill - fin <= nslot
 *
 * [fin, fill) are in hand (received, not yet finished): the heartbeat
 * extends their leases. [fin, ready) are prepared: engines take the
 * I_PENDING ones in order (none is before comp), the finisher finishes
 * them in order as each settles. [ready, fill) were received and are
 * being prepared by the main thread. Positions only grow (modulo nslot
 * gives the slot). fill and ready move on the main thread, fin on the
 * finisher; all under lock, and fin also under qlock (a slot is freed
 * only under qlock, so the heartbeat, holding qlock, never sees a slot
 * change under it).
 */
struct worker {
	const struct ir_worker_opts *o;
	struct ir_queue *q;             /* receive: main thread only */
	struct ir_queue *qo;            /* delete, visibility: under qlock */
	struct ir_store *in, *out;      /* main thread: images, stored
	                                   results */
	struct ir_store *put;           /* finisher: results */
	struct ir_classifier **cl;
	int ncl;
	struct reply reply[NREPLY];     /* finisher only */
	pthread_mutex_t qlock;          /* qo and the receipt handles;
	                                   taken before lock */
	pthread_mutex_t lock;           /* the ring */
	pthread_cond_t work_cv;         /* engines: an item is pending */
	pthread_cond_t fin_cv;          /* finisher: an item settled */
	pthread_cond_t main_cv;         /* main: pending ran out, room */
	pthread_cond_t hb_cv;           /* heartbeat: quit (with qlock) */
	struct item *items;
	int nslot;
	unsigned long fin, comp, ready, fill;
	int npending;                   /* I_PENDING in [comp, ready) */
	int nrunning;                   /* I_RUNNING */
	double last_busy;               /* ms: an engine last finished */
	int quit;                       /* no more items will come */
	int hb_quit;
	struct ir_worker_stats st;      /* finisher only (until joined) */
};

static void
wlog(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
wlog(struct worker *w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!w->o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	w->o->log(w->o->log_arg, line);
}

static int
stopped(struct worker *w)
{
	return w->o->stop && *w->o->stop;
}

static void
item_free(struct item *it)
{
	ir_msg_free(&it->m);
	free(it->id);
	free(it->name);
	free(it->key);
	free(it->reply);
	free(it->img);
	free(it->result);
	memset(it, 0, sizeof *it);
}

static char *
jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? ir_xstrdup(v) : NULL;
}

/* An error result for it (its id and name), as result.h writes it. */
static void
item_error(struct item *it, const char *why)
{
	struct ir_result r = { .id = it->id, .name = it->name ? it->name : "",
	    .error = why };

	free(it->result);
	it->result = ir_result_json_line(&r, 0);
	snprintf(it->label, sizeof it->label, "error");
	it->state = I_READY;
}

/* Step 2 for one message (main thread): parse; find a stored result or
 * the image. */
static int
prepare(struct worker *w, struct item *it, char *err)
{
	json_error_t je;
	json_t *j = json_loadb(it->m.body, it->m.len, 0, &je);
	char key[128], why[IR_ERRMAX + 64];
	unsigned char *buf;
	size_t len;
	int rc;

	if (!j || !json_is_object(j)) {
		json_decref(j);
		wlog(w, "message %s: not a JSON object: dropped", it->m.id ?
		    it->m.id : "?");
		it->state = I_SKIP;
		return IR_OK;
	}
	it->id = jstr(j, "id");
	it->name = jstr(j, "name");
	it->key = jstr(j, "key");
	it->reply = jstr(j, "reply");
	/* "sync": false: the sender waits for the answer itself (ir-serve) */
	it->nosync = json_is_false(json_object_get(j, "sync"));
	if (!json_is_integer(json_object_get(j, "v")) ||
	    json_integer_value(json_object_get(j, "v")) != 1) {
		json_decref(j);
		item_error(it, "unsupported request version (want \"v\":1)");
		return IR_OK;
	}
	json_decref(j);
	if (!it->id || !*it->id || strlen(it->id) > 100 ||
	    strchr(it->id, '/')) {
		wlog(w, "message %s: request without a usable id: dropped",
		    it->m.id ? it->m.id : "?");
		it->state = I_SKIP;
		return IR_OK;
	}
	if (!it->key) {
		item_error(it, "request has no image key");
		return IR_OK;
	}
	ir_result_key(it->id, key, sizeof key);
	rc = ir_store_get(w->out, key, &buf, &len, 1 << 20, err);
	if (rc == IR_OK) {
		json_t *o = json_loadb((char *)buf, len, 0, NULL);
		const char *l = json_string_value(json_object_get(o, "label"));

		snprintf(it->label, sizeof it->label, "%s", l ? l :
		    json_object_get(o, "error") ? "error" : "?");
		json_decref(o);
		it->result = (char *)buf;
		it->from_store = 1;
		it->state = I_READY;
		return IR_OK;
	}
	if (rc != IR_ENOENT)
		return rc;           /* store trouble: retry later */
	rc = ir_store_get(w->in, it->key, &it->img, &it->len,
	    w->o->max_image, err);
	if (rc == IR_ENOENT || rc == IR_EINVAL) {
		snprintf(why, sizeof why, "cannot fetch image %s: %s",
		    it->key, err);
		item_error(it, why);
		return IR_OK;
	}
	if (rc != IR_OK)
		return rc;
	it->state = I_PENDING;
	return IR_OK;
}

struct ejob {
	struct worker *w;
	int k;
	pthread_t th;
};

/* Step 3, an engine thread: the pending items, in order, until quit. */
static void *
engine_main(void *arg)
{
	struct ejob *ej = arg;
	struct worker *w = ej->w;
	struct ir_classifier *c = w->cl[ej->k];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct item *it = NULL;
		double t0;

		while (w->comp < w->ready) {
			it = &w->items[w->comp++ % w->nslot];
			if (it->state == I_PENDING)
				break;
			it = NULL;
		}
		if (!it) {
			if (w->quit)
				break;
			pthread_cond_wait(&w->work_cv, &w->lock);
			continue;
		}
		it->state = I_RUNNING;
		w->nrunning++;
		if (--w->npending == 0)
			pthread_cond_signal(&w->main_cv);  /* fetch more */
		pthread_mutex_unlock(&w->lock);
		t0 = ir_now_ms();
		it->result = ir_classify_buf(c, it->id, it->name, it->img,
		    it->len, it->label, sizeof it->label);
		it->ms = ir_now_ms() - t0;
		free(it->img);
		it->img = NULL;
		pthread_mutex_lock(&w->lock);
		it->state = I_READY;
		it->settled = 1;
		w->nrunning--;
		w->last_busy = ir_now_ms();
		pthread_cond_signal(&w->fin_cv);
		if (w->npending + w->nrunning == 0)
			pthread_cond_signal(&w->main_cv);  /* engines idle */
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static struct ir_queue *
reply_queue(struct worker *w, const char *url, char *err)
{
	struct ir_queue_opts qo = { .max_receive = -1 };
	int i, lru = 0;

	for (i = 0; i < NREPLY; i++)
		if (w->reply[i].url && strcmp(w->reply[i].url, url) == 0) {
			w->reply[i].used = ir_now_ms();
			return w->reply[i].q;
		}
	for (i = 0; i < NREPLY; i++) {
		if (!w->reply[i].url) {
			lru = i;
			break;
		}
		if (w->reply[i].used < w->reply[lru].used)
			lru = i;
	}
	if (w->reply[lru].url) {
		ir_queue_close(w->reply[lru].q);
		free(w->reply[lru].url);
		w->reply[lru].url = NULL;
	}
	if (ir_queue_open(url, &qo, &w->reply[lru].q, err) != IR_OK)
		return NULL;
	w->reply[lru].url = ir_xstrdup(url);
	w->reply[lru].used = ir_now_ms();
	return w->reply[lru].q;
}

/* Deletes a request (under qlock: the heartbeat may be rewriting its
 * handle). */
static void
delete_msg(struct worker *w, struct item *it)
{
	char err[IR_ERRMAX];
	int rc;

	pthread_mutex_lock(&w->qlock);
	rc = ir_queue_delete(w->qo, &it->m, err);
	it->done = 1;
	pthread_mutex_unlock(&w->qlock);
	if (rc != IR_OK)
		wlog(w, "%s: delete: %s", it->id ? it->id : "?", err);
}

/* Step 4 for one item (finisher thread): store, answer, delete. */
static void
finish(struct worker *w, struct item *it)
{
	char key[128], err[IR_ERRMAX];
	struct ir_queue *rq;
	int rc;

	if (it->state == I_SKIP) {
		w->st.dropped++;
		delete_msg(w, it);
		return;
	}
	if (it->state != I_READY)
		return;              /* I_NEW: store trouble, leave it to come
		                        back after its lease */
	if (!it->from_store) {
		ir_result_key(it->id, key, sizeof key);
		/* only this thread puts through w->put */
		ir_store_set_nosync(w->put, it->nosync);
		rc = ir_store_put(w->put, key, it->result, strlen(it->result),
		    "application/json", err);
		if (rc != IR_OK) {
			wlog(w, "%s: cannot store the result: %s (left for "
			    "redelivery)", it->id, err);
			return;
		}
	}
	rq = NULL;
	rc = IR_OK;
	if (!it->reply || !*it->reply) {
		wlog(w, "%s %s: request has no reply queue: result stored only",
		    it->id, it->name ? it->name : "-");
	} else {
		if ((rq = reply_queue(w, it->reply, err))) {
			ir_queue_set_nosync(rq, it->nosync);
			rc = ir_queue_send(rq, it->result, strlen(it->result),
			    err);
		}
		if (!rq || rc == IR_EINVAL || rc == IR_ENOENT || rc == IR_EAUTH)
			wlog(w, "%s: cannot answer on %s: %s (result stored)",
			    it->id, it->reply, err);
		else if (rc != IR_OK) {
			wlog(w, "%s: cannot answer on %s: %s (left for "
			    "redelivery)", it->id, it->reply, err);
			return;
		}
	}
	w->st.messages++;
	if (strcmp(it->label, "error") == 0)
		w->st.errors++;
	if (it->from_store)
		w->st.resent++;
	wlog(w, "%s %s %s %.0fms%s%s", it->id, it->name ? it->name : "-",
	    it->label, it->ms, it->from_store ? " (resent)" : "",
	    it->m.receive_count > 1 ? " (redelivered)" : "");
	delete_msg(w, it);
}

/*
 * Step 4, the finisher thread: the items in receive order, each as soon
 * as it has settled, so the store and queue writes of one image overlap
 * the classification of the next; then frees its slot. Returns when quit
 * is set and every prepared item is finished.
 */
static void *
finisher_main(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct item *it = &w->items[w->fin % w->nslot];

		if (w->fin == w->ready || !it->settled) {
			if (w->quit && w->fin == w->ready)
				break;
			pthread_cond_wait(&w->fin_cv, &w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		finish(w, it);
		pthread_mutex_lock(&w->qlock);
		pthread_mutex_lock(&w->lock);
		it->done = 1;
		item_free(it);
		w->fin++;
		if (w->comp < w->fin)   /* nothing pending before fin */
			w->comp = w->fin;
		/* Wake the main thread only when this made its turn come
		 * (wait_for_turn): every wake-up takes a core from an engine. */
		if (w->npending == 0 && w->fill - w->fin + w->o->batch ==
		    (unsigned long)w->nslot)
			pthread_cond_signal(&w->main_cv);
		pthread_mutex_unlock(&w->qlock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Extends the leases of the items in hand every visibility/3 seconds. */
static void *
heartbeat_main(void *arg)
{
	struct worker *w = arg;
	int vis = w->o->visibility_s;
	char err[IR_ERRMAX];
	struct timespec ts;
	unsigned long lo, hi, p;

	long step = vis * 1000L / 3;    /* milliseconds */

	pthread_mutex_lock(&w->qlock);
	while (!w->hb_quit) {
		ir_deadline(&ts, step);
		if (pthread_cond_timedwait(&w->hb_cv, &w->qlock, &ts) == 0 ||
		    w->hb_quit)
			continue;
		/* With qlock held no slot in [fin, fill) is freed. */
		pthread_mutex_lock(&w->lock);
		lo = w->fin;
		hi = w->fill;
		pthread_mutex_unlock(&w->lock);
		for (p = lo; p < hi; p++) {
			struct item *it = &w->items[p % w->nslot];

			if (it->done || !it->m.handle)
				continue;
			if (ir_queue_change_visibility(w->qo, &it->m, vis,
			    err) != IR_OK)
				wlog(w, "heartbeat: message %s: %s",
				    it->m.id ? it->m.id : "?", err);
		}
	}
	pthread_mutex_unlock(&w->qlock);
	return NULL;
}

/* Makes messages received after a stop visible again at once. */
static void
release(struct worker *w, struct ir_msg *m, int n)
{
	char err[IR_ERRMAX];

	pthread_mutex_lock(&w->qlock);
	for (int i = 0; i < n; i++) {
		if (ir_queue_change_visibility(w->qo, &m[i], 0, err) != IR_OK)
			wlog(w, "release: %s", err);
		ir_msg_free(&m[i]);
	}
	pthread_mutex_unlock(&w->qlock);
}

/* A timed wait on main_cv: a stop is only a flag set by a signal
 * handler, so the main thread looks at it four times a second. */
static void
main_wait(struct worker *w)
{
	struct timespec ts;

	ir_deadline(&ts, 250);
	pthread_cond_timedwait(&w->main_cv, &w->lock, &ts);
}

/*
 * Waits (main thread) until the next receive is due: no item is left
 * waiting for an engine and a whole batch fits in the ring; or a stop.
 * Sets *busy to the items the engines are working on, *inhand to all
 * those in hand, and moves *last up to the time an engine last finished.
 */
static void
wait_for_turn(struct worker *w, int *busy, int *inhand, double *last)
{
	pthread_mutex_lock(&w->lock);
	while (!stopped(w) && (w->npending > 0 ||
	    w->fill - w->fin + w->o->batch > (unsigned long)w->nslot))
		main_wait(w);
	*busy = w->npending + w->nrunning;
	*inhand = (int)(w->fill - w->fin);
	if (w->last_busy > *last)
		*last = w->last_busy;
	pthread_mutex_unlock(&w->lock);
}

/* Waits (main thread) until the engines have nothing left, or a stop. */
static void
wait_for_engines(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (!stopped(w) && w->npending + w->nrunning > 0)
		main_wait(w);
	pthread_mutex_unlock(&w->lock);
}

int
ir_worker_run(const struct ir_worker_opts *o, struct ir_worker_stats *st,
    char *err)
{
	struct ir_worker_opts oo = *o;
	struct worker w = { .o = &oo };
	struct ir_queue_opts qo = { .create = 1 };
	struct ir_msg m[IR_QUEUE_MAX_BATCH];
	struct ejob *ej = NULL;
	pthread_t hb, fin;
	int hb_up = 0, fin_up = 0, neng = 0, rc, i, n, fails = 0;
	double last;

	if (oo.batch > IR_QUEUE_MAX_BATCH)
		oo.batch = IR_QUEUE_MAX_BATCH;
	if (oo.threads < 1)
		oo.threads = 1;
	if (oo.threads > 64)
		oo.threads = 64;
	if (oo.visibility_s <= 0)
		oo.visibility_s = 30;
	if (!oo.max_image)
		oo.max_image = 32u << 20;
	qo.visibility_s = oo.visibility_s;
	qo.max_receive = oo.max_receive;
	pthread_mutex_init(&w.qlock, NULL);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.work_cv, NULL);
	pthread_cond_init(&w.fin_cv, NULL);
	pthread_cond_init(&w.main_cv, NULL);
	pthread_cond_init(&w.hb_cv, NULL);
	w.cl = ir_xcalloc(oo.threads, sizeof *w.cl);

	/* Two handles on the request queue and the output store, one per
	 * thread using them: a backend may keep per-handle state (SQS and
	 * S3 a curl handle). */
	if ((rc = ir_queue_open(oo.request_queue, &qo, &w.q, err)) != IR_OK ||
	    (rc = ir_queue_open(oo.request_queue, &qo, &w.qo, err)) != IR_OK ||
	    (rc = ir_store_open(oo.input_store, &w.in, err)) != IR_OK ||
	    (rc = ir_store_open(oo.output_store, &w.out, err)) != IR_OK ||
	    (rc = ir_store_open(oo.output_store, &w.put, err)) != IR_OK)
		goto out;
	/* The default batch: one on a spool, whose receive costs a few
	 * system calls, so a worker holds one request beyond those its
	 * engines work on and the last requests of a burst spread evenly
	 * over the workers; ten (as many as SQS gives) on a remote queue,
	 * whose receive is a round trip worth sharing. */
	if (oo.batch < 1)
		oo.batch = strncmp(ir_queue_url(w.q), "spool:", 6) == 0 ? 1 :
		    IR_QUEUE_MAX_BATCH;
	/* A batch waiting, one being received, one per engine running. */
	w.nslot = 2 * oo.batch + oo.threads;
	w.items = ir_xcalloc(w.nslot, sizeof *w.items);
	if ((rc = ir_classifier_open(&oo.engine, oo.gallery, oo.threshold,
	    &w.cl[0], err)) != IR_OK)
		goto out;
	w.ncl = 1;
	for (i = 1; i < oo.threads; i++, w.ncl++)
		if ((rc = ir_classifier_clone(w.cl[0], &w.cl[i], err)) !=
		    IR_OK)
			goto out;
	ej = ir_xcalloc(w.ncl, sizeof *ej);
	for (neng = 0; neng < w.ncl; neng++) {
		ej[neng] = (struct ejob){ .w = &w, .k = neng };
		if (pthread_create(&ej[neng].th, NULL, engine_main,
		    &ej[neng]) != 0) {
			rc = ir_syserr(err, "pthread_create");
			goto out;
		}
	}
	if (pthread_create(&fin, NULL, finisher_main, &w) != 0) {
		rc = ir_syserr(err, "pthread_create");
		goto out;
	}
	fin_up = 1;
	if (pthread_create(&hb, NULL, heartbeat_main, &w) != 0) {
		rc = ir_syserr(err, "pthread_create");
		goto out;
	}
	hb_up = 1;
	wlog(&w, "ready: %s, batch %d, %d engine%s, %s", ir_queue_url(w.q),
	    oo.batch, w.ncl, w.ncl > 1 ? "s" : "", oo.idle_s < 0 ?
	    "persistent" : "exits when idle");

	/*
	 * The main thread receives and prepares. The next batch is received
	 * as soon as the engines have taken every image of the last one, so
	 * an engine finds its next image fetched when it is done, and a
	 * worker holds few requests that another could be working on. While
	 * the engines are busy the queue is only looked at (no wait); if it
	 * is empty, the main thread waits for the engines to be done before
	 * it long-polls, so idle workers take what comes meanwhile, and the
	 * idle time counts from the end of the last image.
	 */
	last = ir_now_ms();
	rc = IR_OK;
	while (!stopped(&w)) {
		double idle;
		int wait, busy, inhand;

		wait_for_turn(&w, &busy, &inhand, &last);
		if (stopped(&w))
			break;
		if (busy > 0)
			wait = 0;
		else {
			idle = (ir_now_ms() - last) / 1e3;
			if (oo.idle_s >= 0 && idle >= oo.idle_s && inhand == 0) {
				wlog(&w, "idle for %.1f s: exiting", idle);
				break;
			}
			/* Short polls so a stop is seen within two seconds. */
			wait = oo.idle_s < 0 ? 2 : (int)ceil(oo.idle_s - idle);
			if (wait > 2)
				wait = 2;
			if (wait < 1)
				wait = 1;
		}
		if ((rc = ir_queue_receive(w.q, m, oo.batch, wait,
		    oo.visibility_s, &n, err)) != IR_OK) {
			if (++fails >= 5) {
				rc = IR_ETEMP;
				break;
			}
			wlog(&w, "receive: %s (retrying)", err);
			sleep(1u << (fails - 1));
			rc = IR_OK;
			continue;
		}
		fails = 0;
		if (n == 0) {
			if (busy > 0)
				wait_for_engines(&w);
			continue;
		}
		if (stopped(&w)) {      /* taken after the stop: give back */
			release(&w, m, n);
			break;
		}
		/* In hand (the heartbeat's) from here; each goes to the
		 * engines or the finisher once prepared. */
		pthread_mutex_lock(&w.lock);
		for (i = 0; i < n; i++)
			w.items[(w.fill + i) % w.nslot].m = m[i];
		w.fill += n;
		pthread_mutex_unlock(&w.lock);
		for (i = 0; i < n; i++) {
			struct item *it = &w.items[w.ready % w.nslot];

			if (prepare(&w, it, err) != IR_OK)
				wlog(&w, "%s: %s (left for redelivery)",
				    it->id ? it->id : "?", err);
			pthread_mutex_lock(&w.lock);
			w.ready++;
			if (it->state == I_PENDING) {
				w.npending++;
				pthread_cond_signal(&w.work_cv);
			} else {
				it->settled = 1;
				pthread_cond_signal(&w.fin_cv);
			}
			pthread_mutex_unlock(&w.lock);
		}
		last = ir_now_ms();
	}
	if (stopped(&w))
		wlog(&w, "stopping");
out:
	/* The items in hand are finished before the threads end. */
	pthread_mutex_lock(&w.lock);
	w.quit = 1;
	pthread_cond_broadcast(&w.work_cv);
	pthread_cond_broadcast(&w.fin_cv);
	pthread_mutex_unlock(&w.lock);
	for (i = 0; i < neng; i++)
		pthread_join(ej[i].th, NULL);
	if (fin_up)
		pthread_join(fin, NULL);
	if (hb_up) {
		pthread_mutex_lock(&w.qlock);
		w.hb_quit = 1;
		pthread_cond_broadcast(&w.hb_cv);
		pthread_mutex_unlock(&w.qlock);
		pthread_join(hb, NULL);
	}
	free(ej);
	for (i = 0; i < w.nslot && w.items; i++)
		item_free(&w.items[i]);
	free(w.items);
	for (i = w.ncl - 1; i >= 0; i--)
		ir_classifier_close(w.cl[i]);
	free(w.cl);
	for (i = 0; i < NREPLY; i++)
		if (w.reply[i].url) {
			ir_queue_close(w.reply[i].q);
			free(w.reply[i].url);
		}
	ir_queue_close(w.q);
	ir_queue_close(w.qo);
	if (w.in)
		ir_store_close(w.in);
	if (w.out)
		ir_store_close(w.out);
	if (w.put)
		ir_store_close(w.put);
	pthread_mutex_destroy(&w.qlock);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.work_cv);
	pthread_cond_destroy(&w.fin_cv);
	pthread_cond_destroy(&w.main_cv);
	pthread_cond_destroy(&w.hb_cv);
	if (st)
		*st = w.st;
	return rc;
}
