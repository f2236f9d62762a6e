/*
 * worker.c: the app tier. One process: one request-queue handle (receive
 * is only ever called from the main thread), `threads` engines cloned from
 * one set of weights, one gallery shared read-only.
 *
 * A batch, in order:
 *   1. receive up to `batch` messages (long poll);
 *   2. parse each; for a valid request look for results/ID.json in the
 *      output store (a redelivery: resend that, do not recompute), else
 *      fetch the image from the input store;
 *   3. classify the images to do, spread over the engines;
 *   4. for each: put the result (unless it came from the store), send it
 *      to the reply queue, delete the request. A failed put or a
 *      temporary send failure leaves the request in the queue: it comes
 *      back after its lease and is answered then (from the store if the
 *      put had worked), so no answer is lost and none is computed twice.
 * While a batch is in hand a heartbeat thread extends the leases of its
 * messages every visibility/3 seconds. The batch mutex serialises the
 * heartbeat with deletes, as the spool rewrites a handle in place when its
 * lease changes.
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
	if (ir_image_decode(buf, len, 0, &img, err) != IR_OK)
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

/* I_NEW: not (yet) prepared, e.g. the store failed: left in the queue. */
enum { I_NEW, I_SKIP, I_PENDING, I_READY, I_DONE };

struct item {
	struct ir_msg m;
	int state;
	char *id, *name, *key, *reply;  /* from the request; owned */
	unsigned char *img;
	size_t len;
	char *result;                   /* JSON line; owned */
	int from_store;
	char label[IR_GALLERY_NAMEMAX + 1];
	double ms;
	int done;                       /* deleted; under the batch lock */
	int settled;                    /* classified (or never to be):
	                                   the finisher may take it; under
	                                   fin_lock */
};

struct reply {                      /* a cached reply-queue handle */
	char *url;
	struct ir_queue *q;
	double used;
};
#define NREPLY 16

struct worker {
	const struct ir_worker_opts *o;
	struct ir_queue *q;
	struct ir_store *in, *out;
	struct ir_classifier **cl;
	int ncl;
	struct reply reply[NREPLY];
	/* the batch in hand, guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct item items[IR_QUEUE_MAX_BATCH];
	int nitems;
	int quit;
	/* classification of a batch */
	pthread_mutex_t next_lock;
	int next;
	/* the finisher: store, answer, delete, overlapping the next image */
	pthread_mutex_t fin_lock;
	pthread_cond_t fin_cv;
	struct ir_worker_stats st;
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

/* Step 2 for one message: parse; find a stored result or the image. */
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

struct cjob {
	struct worker *w;
	int k;
};

static void *
classify_some(void *arg)
{
	struct cjob *cj = arg;
	struct worker *w = cj->w;
	struct ir_classifier *c = w->cl[cj->k];

	for (;;) {
		struct item *it;
		double t0;
		int i;

		pthread_mutex_lock(&w->next_lock);
		while (w->next < w->nitems && w->items[w->next].state != I_PENDING)
			w->next++;
		i = w->next < w->nitems ? w->next++ : -1;
		pthread_mutex_unlock(&w->next_lock);
		if (i < 0)
			return NULL;
		it = &w->items[i];
		t0 = ir_now_ms();
		it->result = ir_classify_buf(c, it->id, it->name, it->img,
		    it->len, it->label, sizeof it->label);
		it->ms = ir_now_ms() - t0;
		free(it->img);
		it->img = NULL;
		pthread_mutex_lock(&w->fin_lock);
		it->state = I_READY;
		it->settled = 1;
		pthread_cond_broadcast(&w->fin_cv);
		pthread_mutex_unlock(&w->fin_lock);
	}
}

/* Step 3: the images to do, over the engines. */
static void
classify_batch(struct worker *w)
{
	pthread_t th[64];
	struct cjob cj[64];
	int todo = 0, i, nt;

	for (i = 0; i < w->nitems; i++)
		todo += w->items[i].state == I_PENDING;
	if (!todo)
		return;
	w->next = 0;
	nt = todo < w->ncl ? todo : w->ncl;
	for (i = 0; i < nt; i++)
		cj[i] = (struct cjob){ w, i };
	for (i = 1; i < nt; i++)
		if (pthread_create(&th[i], NULL, classify_some, &cj[i]) != 0)
			break;
	nt = i;
	classify_some(&cj[0]);
	for (i = 1; i < nt; i++)
		pthread_join(th[i], NULL);
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

/* Deletes a request (under the batch lock: the heartbeat may be
 * rewriting its handle). */
static void
delete_msg(struct worker *w, struct item *it)
{
	char err[IR_ERRMAX];
	int rc;

	pthread_mutex_lock(&w->lock);
	rc = ir_queue_delete(w->q, &it->m, err);
	it->state = I_DONE;
	it->done = 1;
	pthread_mutex_unlock(&w->lock);
	if (rc != IR_OK)
		wlog(w, "%s: delete: %s", it->id ? it->id : "?", err);
}

/* Step 4 for one item. */
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
		rc = ir_store_put(w->out, key, it->result, strlen(it->result),
		    "application/json", err);
		if (rc != IR_OK) {
			wlog(w, "%s: cannot store the result: %s (left for "
			    "redelivery)", it->id, err);
			return;
		}
	}
	if (!it->reply || !*it->reply) {
		wlog(w, "%s %s: request has no reply queue: result stored only",
		    it->id, it->name ? it->name : "-");
	} else if (!(rq = reply_queue(w, it->reply, err)) ||
	    (rc = ir_queue_send(rq, it->result, strlen(it->result), err)) !=
	    IR_OK) {
		if (!rq || rc == IR_EINVAL || rc == IR_ENOENT || rc == IR_EAUTH)
			wlog(w, "%s: cannot answer on %s: %s (result stored)",
			    it->id, it->reply, err);
		else {
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

/* Extends the leases of the batch in hand every visibility/3 seconds. */
static void *
heartbeat_main(void *arg)
{
	struct worker *w = arg;
	int vis = w->o->visibility_s;
	char err[IR_ERRMAX];
	struct timespec ts;

	long step = vis * 1000L / 3;    /* milliseconds */

	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += step / 1000;
		ts.tv_nsec += step % 1000 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&w->cv, &w->lock, &ts) == 0 ||
		    w->quit)
			continue;
		for (int i = 0; i < w->nitems; i++) {
			struct item *it = &w->items[i];

			if (it->done || !it->m.handle)
				continue;
			if (ir_queue_change_visibility(w->q, &it->m, vis,
			    err) != IR_OK)
				wlog(w, "heartbeat: message %s: %s",
				    it->m.id ? it->m.id : "?", err);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
release(struct worker *w, struct ir_msg *m, int n)
{
	char err[IR_ERRMAX];

	for (int i = 0; i < n; i++) {
		if (ir_queue_change_visibility(w->q, &m[i], 0, err) != IR_OK)
			wlog(w, "release: %s", err);
		ir_msg_free(&m[i]);
	}
}

static void finish(struct worker *, struct item *);

/*
 * Step 4 for a batch, in message order, on its own thread: each item as
 * soon as it is settled, so the store and queue writes of one image
 * overlap the classification of the next.
 */
static void *
finisher_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->nitems; i++) {
		struct item *it = &w->items[i];

		pthread_mutex_lock(&w->fin_lock);
		while (!it->settled)
			pthread_cond_wait(&w->fin_cv, &w->fin_lock);
		pthread_mutex_unlock(&w->fin_lock);
		finish(w, it);
	}
	return NULL;
}

int
ir_worker_run(const struct ir_worker_opts *o, struct ir_worker_stats *st,
    char *err)
{
	struct ir_worker_opts oo = *o;
	struct worker w = { .o = &oo };
	struct ir_queue_opts qo = { .create = 1 };
	struct ir_msg m[IR_QUEUE_MAX_BATCH];
	pthread_t hb, fin;
	int hb_up = 0, rc, i, n, fails = 0;
	double last;

	if (oo.batch < 1)
		oo.batch = 1;
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
	pthread_mutex_init(&w.lock, NULL);
	pthread_mutex_init(&w.next_lock, NULL);
	pthread_mutex_init(&w.fin_lock, NULL);
	pthread_cond_init(&w.cv, NULL);
	pthread_cond_init(&w.fin_cv, NULL);
	w.cl = ir_xcalloc(oo.threads, sizeof *w.cl);

	if ((rc = ir_queue_open(oo.request_queue, &qo, &w.q, err)) != IR_OK ||
	    (rc = ir_store_open(oo.input_store, &w.in, err)) != IR_OK ||
	    (rc = ir_store_open(oo.output_store, &w.out, err)) != IR_OK)
		goto out;
	if ((rc = ir_classifier_open(&oo.engine, oo.gallery, oo.threshold,
	    &w.cl[0], err)) != IR_OK)
		goto out;
	w.ncl = 1;
	for (i = 1; i < oo.threads; i++, w.ncl++)
		if ((rc = ir_classifier_clone(w.cl[0], &w.cl[i], err)) !=
		    IR_OK)
			goto out;
	if (pthread_create(&hb, NULL, heartbeat_main, &w) != 0) {
		rc = ir_syserr(err, "pthread_create");
		goto out;
	}
	hb_up = 1;
	wlog(&w, "ready: %s, batch %d, %d engine%s, %s", ir_queue_url(w.q),
	    oo.batch, w.ncl, w.ncl > 1 ? "s" : "", oo.idle_s < 0 ?
	    "persistent" : "exits when idle");

	last = ir_now_ms();
	rc = IR_OK;
	while (!stopped(&w)) {
		double idle = (ir_now_ms() - last) / 1e3;
		int wait;

		if (oo.idle_s >= 0 && idle >= oo.idle_s) {
			wlog(&w, "idle for %.1f s: exiting", idle);
			break;
		}
		/* Short polls so a stop is seen within two seconds. */
		wait = oo.idle_s < 0 ? 2 : (int)ceil(oo.idle_s - idle);
		if (wait > 2)
			wait = 2;
		if (wait < 1)
			wait = 1;
		if ((rc = ir_queue_receive(w.q, m, oo.batch, wait,
		    oo.visibility_s, &n, err)) != IR_OK) {
			if (++fails >= 5) {
				rc = IR_ETEMP;
				goto out;
			}
			wlog(&w, "receive: %s (retrying)", err);
			sleep(1u << (fails - 1));
			rc = IR_OK;
			continue;
		}
		fails = 0;
		if (n == 0)
			continue;
		if (stopped(&w)) {      /* taken after the stop: give back */
			release(&w, m, n);
			break;
		}
		pthread_mutex_lock(&w.lock);
		for (i = 0; i < n; i++) {
			memset(&w.items[i], 0, sizeof w.items[i]);
			w.items[i].m = m[i];
		}
		w.nitems = n;
		pthread_mutex_unlock(&w.lock);
		for (i = 0; i < n; i++) {
			if (prepare(&w, &w.items[i], err) != IR_OK)
				wlog(&w, "%s: %s (left for redelivery)",
				    w.items[i].id ? w.items[i].id : "?", err);
			if (w.items[i].state != I_PENDING)
				w.items[i].settled = 1;
		}
		if (pthread_create(&fin, NULL, finisher_main, &w) != 0) {
			for (i = 0; i < n; i++)   /* no thread: in turn */
				w.items[i].settled = 1;
			classify_batch(&w);
			finisher_main(&w);
		} else {
			classify_batch(&w);
			pthread_join(fin, NULL);
		}
		pthread_mutex_lock(&w.lock);
		for (i = 0; i < n; i++)
			item_free(&w.items[i]);
		w.nitems = 0;
		pthread_mutex_unlock(&w.lock);
		last = ir_now_ms();
	}
	if (stopped(&w))
		wlog(&w, "stopping");
out:
	if (hb_up) {
		pthread_mutex_lock(&w.lock);
		w.quit = 1;
		pthread_cond_broadcast(&w.cv);
		pthread_mutex_unlock(&w.lock);
		pthread_join(hb, NULL);
	}
	for (i = w.ncl - 1; i >= 0; i--)
		ir_classifier_close(w.cl[i]);
	free(w.cl);
	for (i = 0; i < NREPLY; i++)
		if (w.reply[i].url) {
			ir_queue_close(w.reply[i].q);
			free(w.reply[i].url);
		}
	ir_queue_close(w.q);
	if (w.in)
		ir_store_close(w.in);
	if (w.out)
		ir_store_close(w.out);
	pthread_mutex_destroy(&w.lock);
	pthread_mutex_destroy(&w.next_lock);
	pthread_mutex_destroy(&w.fin_lock);
	pthread_cond_destroy(&w.cv);
	pthread_cond_destroy(&w.fin_cv);
	if (st)
		*st = w.st;
	return rc;
}
