/*
 * serve.c: the web tier on libmicrohttpd (MHD).
 *
 * One struct req per HTTP request (MHD's con_cls). Its life:
 *   first call      route; refuse a too large Content-Length at once (413)
 *   body calls      append to req->body up to max_body (then 413)
 *   last call       parse, check, store the image, queue the request,
 *                   register req in the waiting table by id, suspend
 *   answer/timeout  the receiver (or a direct-mode classifier, or the
 *                   timer) sets req's outcome under s->lock and resumes it
 *   resumed call    turn the outcome into the HTTP answer
 *   completed       MHD_OPTION_NOTIFY_COMPLETED: unregister, free
 *
 * Locking: s->lock guards the waiting table, every req's outcome fields
 * and the suspend/resume pair, so an answer that arrives before the
 * handler has suspended is seen by the handler (it then answers at once)
 * and a resume is only ever called on a suspended connection. Metrics have
 * their own lock. Queue and store handles are per thread (opened lazily in
 * each MHD thread), as the backends promise nothing about sharing.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "multipart.h"
#include "queue.h"
#include "result.h"
#include "serve.h"
#include "store.h"

#define NBUCKET 1024
#define FIELD "inputFile"

enum route { R_NONE, R_TEXT, R_JSON, R_PAGE, R_HEALTH, R_METRICS };
enum phase { P_BODY, P_WAIT, P_DONE };
enum outcome { O_WAIT, O_ANSWER, O_TIMEOUT, O_FAIL };

struct req {
	struct ir_serve *s;
	struct MHD_Connection *conn;
	int route, phase;
	double t0;
	char method[8], path[64], peer[48];
	unsigned char *body;
	size_t len, cap;
	int too_big;
	char id[27];
	char file[IR_MULTIPART_MAX_NAME]; /* uploaded file name */
	/* Guarded by s->lock: */
	struct req *hnext;       /* waiting table chain */
	int waiting, suspended, outcome;
	double deadline;
	char *answer;            /* result JSON, or the failure reason */
	int fail_code;
};

struct job {                 /* direct mode */
	struct job *next;
	char id[27];
	char name[IR_MULTIPART_MAX_NAME];
	unsigned char *img;
	size_t len;
};

struct tls {                 /* per-thread queue and store handles */
	struct tls *next;
	struct ir_queue *reqq, *respq;
	struct ir_store *in;
};

static const int codes[] = { 200, 400, 404, 405, 413, 415, 422, 500, 503,
    504 };
#define NCODES (int)(sizeof codes / sizeof codes[0])
static const double buckets[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5, 5, 10, 30 };
#define NBUCKETS (int)(sizeof buckets / sizeof buckets[0])

struct ir_serve {
	struct ir_serve_opts o;
	struct MHD_Daemon *d;
	int port;
	char reply_url[1024];
	struct ir_queue *respq;      /* the receiver's handle */
	pthread_key_t key;
	int key_ok;
	struct tls *tlist;           /* all per-thread handles, for closing */

	pthread_mutex_t lock;
	struct req *table[NBUCKET];
	int inflight;
	int stopping;
	pthread_cond_t cv;           /* timer and shutdown wake-ups */

	pthread_t receiver, timer;
	int receiver_up, timer_up;

	/* direct mode */
	pthread_mutex_t jlock;
	pthread_cond_t jcv;
	struct job *jhead, *jtail;
	int jlen, jstop;
	pthread_t *workers;
	int nworkers;

	pthread_mutex_t mlock;       /* metrics */
	uint64_t by_code[NCODES + 1];
	uint64_t hist[NBUCKETS + 1];
	double lat_sum;
	uint64_t lat_n;
	uint64_t err_store, err_queue, err_worker, err_timeout, dropped;
	uint64_t answers;
};

static void
logf_(struct ir_serve *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
logf_(struct ir_serve *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!s->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_arg, line);
}

static unsigned
hash(const char *id)
{
	unsigned h = 2166136261u;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h % NBUCKET;
}

/* s->lock held. */
static void
table_add(struct ir_serve *s, struct req *r)
{
	unsigned h = hash(r->id);

	r->hnext = s->table[h];
	s->table[h] = r;
	r->waiting = 1;
	s->inflight++;
}

/* s->lock held. */
static void
table_del(struct ir_serve *s, struct req *r)
{
	struct req **pp;

	if (!r->waiting)
		return;
	for (pp = &s->table[hash(r->id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	r->waiting = 0;
	s->inflight--;
}

/* s->lock held. */
static struct req *
table_find(struct ir_serve *s, const char *id)
{
	struct req *r;

	for (r = s->table[hash(id)]; r; r = r->hnext)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

/* s->lock held: settles a waiting request and wakes its connection. */
static void
settle(struct ir_serve *s, struct req *r, int outcome, char *answer,
    int code)
{
	table_del(s, r);
	r->outcome = outcome;
	r->answer = answer;
	r->fail_code = code;
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

/*
 * Gives the answer for id to the request waiting for it. Takes json
 * (malloc'd). Returns 0 when delivered, -1 when nobody waits for id.
 */
static int
deliver(struct ir_serve *s, const char *id, char *json, int outcome,
    int code)
{
	struct req *r;

	pthread_mutex_lock(&s->lock);
	r = table_find(s, id);
	if (r)
		settle(s, r, outcome, json, code);
	pthread_mutex_unlock(&s->lock);
	if (!r) {
		free(json);
		return -1;
	}
	return 0;
}

/* The calling thread's queue and store handles, opened on first use. */
static struct tls *
tls_get(struct ir_serve *s, char *err)
{
	struct tls *t = pthread_getspecific(s->key);
	/*
	 * Not synced: a request lives as long as the upload that waits for
	 * its answer, so a crash loses nothing acknowledged (the client sees
	 * its connection fail), and the syncs cost the workers' CPU.
	 */
	struct ir_queue_opts qo = { .nosync = 1 }, ro = { .max_receive = -1 };

	if (t)
		return t;
	t = ir_xcalloc(1, sizeof *t);
	if (ir_queue_open(s->o.request_queue, &qo, &t->reqq, err) != IR_OK ||
	    ir_queue_open(s->reply_url, &ro, &t->respq, err) != IR_OK ||
	    ir_store_open(s->o.input_store, &t->in, err) != IR_OK) {
		if (t->reqq)
			ir_queue_close(t->reqq);
		if (t->respq)
			ir_queue_close(t->respq);
		free(t);
		return NULL;
	}
	ir_store_set_nosync(t->in, 1);
	pthread_setspecific(s->key, t);
	pthread_mutex_lock(&s->lock);
	t->next = s->tlist;
	s->tlist = t;
	pthread_mutex_unlock(&s->lock);
	return t;
}

static void
count(struct ir_serve *s, int code, double ms)
{
	int i;

	pthread_mutex_lock(&s->mlock);
	for (i = 0; i < NCODES && codes[i] != code; i++)
		;
	s->by_code[i]++;
	for (i = 0; i < NBUCKETS && ms / 1e3 > buckets[i]; i++)
		;
	s->hist[i]++;
	s->lat_sum += ms / 1e3;
	s->lat_n++;
	pthread_mutex_unlock(&s->mlock);
}

/*
 * Queues an answer and logs the request's one line. body is copied.
 * note: what the log line adds (the answer, or the reason).
 */
static enum MHD_Result
respond(struct req *r, int code, const char *type, const char *body,
    size_t len, const char *note)
{
	struct ir_serve *s = r->s;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	double ms = ir_now_ms() - r->t0;

	resp = MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (code == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    r->route == R_TEXT || r->route == R_JSON ? "POST" :
		    "GET, HEAD");
	if (r->route == R_PAGE)
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
	if (r->phase == P_BODY && r->method[0] == 'P' && code >= 400)
		/* The body may be unread: the connection cannot be reused. */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	ret = MHD_queue_response(r->conn, code, resp);
	MHD_destroy_response(resp);
	r->phase = P_DONE;
	count(s, code, ms);
	if (r->route != R_HEALTH && r->route != R_METRICS)
		logf_(s, "%s %s %s %d %.0fms%s%s%s%s", r->peer, r->method,
		    r->path, code, ms, r->id[0] ? " " : "", r->id,
		    note && *note ? " " : "", note ? note : "");
	return ret;
}

static enum MHD_Result
respond_text(struct req *r, int code, const char *text)
{
	size_t n = strlen(text);
	char *buf = ir_xmalloc(n + 2);
	enum MHD_Result ret;

	memcpy(buf, text, n);
	buf[n] = '\n';
	ret = respond(r, code, "text/plain; charset=utf-8", buf, n + 1, text);
	free(buf);
	return ret;
}

/* An error answer in the route's own form: text, or JSON for /v1. */
static enum MHD_Result
respond_error(struct req *r, int code, const char *reason)
{
	json_t *o;
	char *j;
	enum MHD_Result ret;

	if (r->route != R_JSON)
		return respond_text(r, code, reason);
	o = json_pack("{s:i, s:s, s:i}", "v", 1, "error", reason, "status",
	    code);
	if (r->id[0])
		json_object_set_new(o, "id", json_string(r->id));
	j = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!j)
		return MHD_NO;
	ret = respond(r, code, "application/json", j, strlen(j), reason);
	free(j);
	return ret;
}

/* What the first bytes say; NULL for an image we decode, else a reason. */
static const char *
sniff(const unsigned char *b, size_t n)
{
	if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
		return NULL;
	if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
		return NULL;
	if (n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
	    (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t'))
		return NULL;
	return "not a JPEG, PNG or PPM image";
}

/* A store key from a file name: [A-Za-z0-9._-] kept, others '_'. */
static void
key_name(const char *file, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; file[i] && o + 1 < outsz && o < 100; i++) {
		unsigned char c = file[i];

		out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' ? (char)c : '_';
	}
	if (o == 0 || out[0] == '.')
		out[o > 0 ? 0 : o++] = '_';
	out[o] = '\0';
}

/* Queue mode: store the image, send the request. */
static int
submit_queue(struct req *r, const unsigned char *img, size_t len, int *code,
    char *err)
{
	struct ir_serve *s = r->s;
	struct tls *t = tls_get(s, err);
	char key[160], kn[128];
	json_t *m;
	char *body;
	int rc;

	*code = 503;
	if (!t) {
		pthread_mutex_lock(&s->mlock);
		s->err_queue++;
		pthread_mutex_unlock(&s->mlock);
		return IR_ETEMP;
	}
	key_name(r->file, kn, sizeof kn);
	snprintf(key, sizeof key, "%s-%s", r->id, kn);	/* as ir-submit */
	rc = ir_store_put(t->in, key, img, len, NULL, err);
	if (rc != IR_OK) {
		pthread_mutex_lock(&s->mlock);
		s->err_store++;
		pthread_mutex_unlock(&s->mlock);
		return rc;
	}
	/* "sync": false: the answer comes back to this waiting upload, so
	 * the worker need not sync the result or the answer either */
	m = json_pack("{s:i, s:s, s:o, s:s, s:s, s:I, s:b}", "v", 1, "id",
	    r->id, "name", ir_json_string(r->file), "key", key, "reply",
	    s->reply_url, "sent", (json_int_t)ir_unix_ms(), "sync", 0);
	body = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!body)
		return ir_err(err, IR_EINVAL, "cannot encode the request");
	rc = ir_queue_send(t->reqq, body, strlen(body), err);
	free(body);
	if (rc != IR_OK) {
		pthread_mutex_lock(&s->mlock);
		s->err_queue++;
		pthread_mutex_unlock(&s->mlock);
	}
	return rc;
}

/* Direct mode: hand a copy of the image to the classifier pool. */
static void
submit_direct(struct req *r, const unsigned char *img, size_t len)
{
	struct ir_serve *s = r->s;
	struct job *j = ir_xcalloc(1, sizeof *j);

	memcpy(j->id, r->id, sizeof j->id);
	snprintf(j->name, sizeof j->name, "%s", r->file);
	j->img = ir_xmalloc(len);
	memcpy(j->img, img, len);
	j->len = len;
	pthread_mutex_lock(&s->jlock);
	if (s->jtail)
		s->jtail->next = j;
	else
		s->jhead = j;
	s->jtail = j;
	s->jlen++;
	pthread_cond_signal(&s->jcv);
	pthread_mutex_unlock(&s->jlock);
}

static void *
classify_main(void *arg)
{
	void **a = arg;
	struct ir_serve *s = a[0];
	void *ctx = a[1];
	char err[IR_ERRMAX];

	free(a);
	for (;;) {
		struct job *j;
		char *json = NULL;

		pthread_mutex_lock(&s->jlock);
		while (!s->jhead && !s->jstop)
			pthread_cond_wait(&s->jcv, &s->jlock);
		if (!s->jhead) {
			pthread_mutex_unlock(&s->jlock);
			return NULL;
		}
		j = s->jhead;
		s->jhead = j->next;
		if (!s->jhead)
			s->jtail = NULL;
		s->jlen--;
		pthread_mutex_unlock(&s->jlock);
		err[0] = '\0';
		if (s->o.classify(ctx, j->id, j->name, j->img, j->len, &json,
		    err) != 0 || !json) {
			free(json);
			pthread_mutex_lock(&s->mlock);
			s->err_worker++;
			pthread_mutex_unlock(&s->mlock);
			deliver(s, j->id, ir_xstrdup(err[0] ? err :
			    "classification failed"), O_FAIL, 500);
		} else if (deliver(s, j->id, json, O_ANSWER, 0) != 0)
			logf_(s, "dropping late answer for %s", j->id);
		free(j->img);
		free(j);
	}
}

/* The file part of a multipart body; NULL after answering an error. */
static const struct ir_part *
file_part(struct req *r, struct ir_part *parts, int *ok)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	char b[128], err[IR_ERRMAX], got[256], msg[IR_ERRMAX + 320];
	const struct ir_part *f;
	int n, i;
	size_t o;

	*ok = 0;
	if (ir_multipart_boundary(ct, b, sizeof b, err) != IR_OK) {
		snprintf(msg, sizeof msg, "expected multipart/form-data with a "
		    "file field %s: %s", FIELD, err);
		respond_error(r, 400, msg);
		return NULL;
	}
	if (ir_multipart_parse(r->body, r->len, b, parts,
	    IR_MULTIPART_MAX_PARTS, &n, err) != IR_OK) {
		respond_error(r, 400, err);
		return NULL;
	}
	f = ir_multipart_find(parts, n, FIELD);
	if (!f && r->route == R_JSON)
		f = ir_multipart_find(parts, n, "image");
	if (!f) {
		for (i = 0, o = 0; i < n && o + 1 < sizeof got; i++)
			o += snprintf(got + o, sizeof got - o, "%s%s",
			    i ? ", " : "", parts[i].name);
		got[o < sizeof got ? o : sizeof got - 1] = '\0';
		snprintf(msg, sizeof msg, "no file field named %s (fields: %s)",
		    FIELD, got);
		respond_error(r, 400, msg);
		return NULL;
	}
	if (f->len == 0) {
		snprintf(err, sizeof err, "file field %s is empty (0 bytes)",
		    FIELD);
		respond_error(r, 400, err);
		return NULL;
	}
	*ok = 1;
	return f;
}

static enum MHD_Result answer(struct req *);

/* The last call of an upload: check it and queue it (or answer). */
static enum MHD_Result
upload_done(struct req *r)
{
	struct ir_serve *s = r->s;
	struct ir_part parts[IR_MULTIPART_MAX_PARTS];
	const struct ir_part *f;
	const unsigned char *img;
	const char *ct, *why;
	size_t len;
	char err[IR_ERRMAX], msg[IR_ERRMAX + 64];
	int ok, code, rc;

	if (r->too_big) {
		snprintf(msg, sizeof msg, "body larger than %zu bytes",
		    s->o.max_body);
		return respond_error(r, 413, msg);
	}
	if (r->len == 0)
		return respond_error(r, 400, "empty body");
	ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (r->route == R_TEXT || (ct && strncasecmp(ct, "multipart/", 10) == 0)) {
		if (!(f = file_part(r, parts, &ok)))
			return ok ? MHD_NO : MHD_YES;
		img = f->data;
		len = f->len;
		snprintf(r->file, sizeof r->file, "%s",
		    f->filename[0] ? f->filename : "upload");
	} else {
		const char *nm = MHD_lookup_connection_value(r->conn,
		    MHD_GET_ARGUMENT_KIND, "name");

		if (!nm)
			nm = MHD_lookup_connection_value(r->conn,
			    MHD_HEADER_KIND, "X-File-Name");
		img = r->body;
		len = r->len;
		snprintf(r->file, sizeof r->file, "%s", nm && *nm &&
		    !strchr(nm, '/') ? nm : "upload");
	}
	/* The name goes into JSON and the text answer: valid UTF-8 only. */
	ir_utf8_clean(r->file);
	if ((why = sniff(img, len)) != NULL)
		return respond_error(r, 415, why);

	ir_make_id(r->id);
	pthread_mutex_lock(&s->lock);
	if (s->stopping || s->inflight >= s->o.max_inflight) {
		int stopping = s->stopping;

		pthread_mutex_unlock(&s->lock);
		snprintf(msg, sizeof msg, stopping ? "shutting down" :
		    "too many requests in flight (%d)", s->o.max_inflight);
		return respond_error(r, 503, msg);
	}
	r->outcome = O_WAIT;
	r->deadline = ir_now_ms() + s->o.timeout_s * 1e3;
	table_add(s, r);
	pthread_mutex_unlock(&s->lock);

	if (s->o.direct)
		submit_direct(r, img, len);
	else if ((rc = submit_queue(r, img, len, &code, err)) != IR_OK) {
		pthread_mutex_lock(&s->lock);
		table_del(s, r);
		pthread_mutex_unlock(&s->lock);
		logf_(s, "%s", err);
		snprintf(msg, sizeof msg, "cannot queue the request: %s", err);
		return respond_error(r, rc == IR_EINVAL ? 500 : code, msg);
	}
	free(r->body);          /* the store (or the job) has its own copy */
	r->body = NULL;
	r->phase = P_WAIT;
	/* Suspend until the answer, unless it came already: then answer
	 * now. On resume MHD calls the handler again, which answers. */
	pthread_mutex_lock(&s->lock);
	if (r->outcome == O_WAIT) {
		r->suspended = 1;
		MHD_suspend_connection(r->conn);
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&s->lock);
	return answer(r);
}

/* A settled request: its HTTP answer. */
static enum MHD_Result
answer(struct req *r)
{
	struct ir_serve *s = r->s;
	json_t *j;
	json_error_t je;
	const char *label, *e;
	char txt[IR_MULTIPART_MAX_NAME * 2 + 32], msg[IR_ERRMAX + 64], *dot;
	enum MHD_Result ret;

	switch (r->outcome) {
	case O_TIMEOUT:
		snprintf(msg, sizeof msg, "no answer within %g s", s->o.timeout_s);
		return respond_error(r, 504, msg);
	case O_FAIL:
		return respond_error(r, r->fail_code ? r->fail_code : 503,
		    r->answer ? r->answer : "failed");
	case O_ANSWER:
		break;
	default:
		return respond_error(r, 500, "internal error: no outcome");
	}
	j = json_loads(r->answer, 0, &je);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		pthread_mutex_lock(&s->mlock);
		s->err_worker++;
		pthread_mutex_unlock(&s->mlock);
		return respond_error(r, 500, "malformed result from the worker");
	}
	pthread_mutex_lock(&s->mlock);
	s->answers++;
	pthread_mutex_unlock(&s->mlock);
	e = json_string_value(json_object_get(j, "error"));
	label = json_string_value(json_object_get(j, "label"));
	if (e) {
		pthread_mutex_lock(&s->mlock);
		s->err_worker++;
		pthread_mutex_unlock(&s->mlock);
		snprintf(msg, sizeof msg, "%s", e);
		json_decref(j);
		if (r->route == R_JSON)
			return respond(r, 422, "application/json", r->answer,
			    strlen(r->answer), msg);
		return respond_text(r, 422, msg);
	}
	if (!label) {
		json_decref(j);
		return respond_error(r, 500, "result without a label");
	}
	if (r->route == R_JSON) {
		snprintf(txt, sizeof txt, "%s", label);
		json_decref(j);
		return respond(r, 200, "application/json", r->answer,
		    strlen(r->answer), txt);
	}
	snprintf(txt, sizeof txt, "%s", r->file);
	if ((dot = strrchr(txt, '.')) && dot != txt)
		*dot = '\0';
	snprintf(txt + strlen(txt), sizeof txt - strlen(txt), ":%s\n", label);
	json_decref(j);
	txt[strcspn(txt, "\n")] = '\0';
	ret = respond(r, 200, "text/plain; charset=utf-8", txt, strlen(txt),
	    txt);
	return ret;
}

static enum MHD_Result
health(struct req *r)
{
	struct ir_serve *s = r->s;
	char err[IR_ERRMAX], msg[IR_ERRMAX + 32];
	struct tls *t;
	long v, f;
	size_t n;
	int rc;

	if (s->o.direct)
		return respond_text(r, 200, "ok (direct)");
	if (!(t = tls_get(s, err))) {
		snprintf(msg, sizeof msg, "unhealthy: %s", err);
		return respond_text(r, 503, msg);
	}
	if (ir_queue_depth(t->reqq, &v, &f, err) != IR_OK) {
		snprintf(msg, sizeof msg, "unhealthy: request queue: %s", err);
		return respond_text(r, 503, msg);
	}
	if (ir_queue_depth(t->respq, &v, &f, err) != IR_OK) {
		snprintf(msg, sizeof msg, "unhealthy: response queue: %s", err);
		return respond_text(r, 503, msg);
	}
	rc = ir_store_head(t->in, "healthz", &n, err);
	if (rc != IR_OK && rc != IR_ENOENT) {
		snprintf(msg, sizeof msg, "unhealthy: input store: %s", err);
		return respond_text(r, 503, msg);
	}
	return respond_text(r, 200, "ok");
}

static enum MHD_Result
metrics(struct req *r)
{
	struct ir_serve *s = r->s;
	char *buf;
	size_t cap = 8192, o = 0;
	long vis = -1, fl = -1;
	uint64_t cum = 0;
	int i, inflight;
	char err[IR_ERRMAX];
	struct tls *t;
	enum MHD_Result ret;

	if (s->o.direct) {
		pthread_mutex_lock(&s->jlock);
		vis = s->jlen;
		pthread_mutex_unlock(&s->jlock);
		fl = 0;
	} else if ((t = tls_get(s, err)) == NULL ||
	    ir_queue_depth(t->reqq, &vis, &fl, err) != IR_OK)
		vis = fl = -1;
	pthread_mutex_lock(&s->lock);
	inflight = s->inflight;
	pthread_mutex_unlock(&s->lock);
	buf = ir_xmalloc(cap);
#define P(...) (o += snprintf(buf + o, cap - o, __VA_ARGS__))
	pthread_mutex_lock(&s->mlock);
	P("# HELP ir_http_requests_total HTTP requests answered, by status.\n"
	    "# TYPE ir_http_requests_total counter\n");
	for (i = 0; i < NCODES; i++)
		P("ir_http_requests_total{code=\"%d\"} %" PRIu64 "\n", codes[i],
		    s->by_code[i]);
	P("ir_http_requests_total{code=\"other\"} %" PRIu64 "\n",
	    s->by_code[NCODES]);
	P("# HELP ir_http_request_duration_seconds Time from first byte to "
	    "answer.\n# TYPE ir_http_request_duration_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		cum += s->hist[i];
		P("ir_http_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64
		    "\n", buckets[i], cum);
	}
	cum += s->hist[NBUCKETS];
	P("ir_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
	    "\n", cum);
	P("ir_http_request_duration_seconds_sum %.6f\n", s->lat_sum);
	P("ir_http_request_duration_seconds_count %" PRIu64 "\n", s->lat_n);
	P("# HELP ir_inflight Requests waiting for an answer.\n"
	    "# TYPE ir_inflight gauge\nir_inflight %d\n", inflight);
	P("# HELP ir_queue_depth Request queue depth (-1: unreadable).\n"
	    "# TYPE ir_queue_depth gauge\n"
	    "ir_queue_depth{state=\"visible\"} %ld\n"
	    "ir_queue_depth{state=\"inflight\"} %ld\n", vis, fl);
	P("# HELP ir_errors_total Failures, by kind.\n"
	    "# TYPE ir_errors_total counter\n"
	    "ir_errors_total{kind=\"store\"} %" PRIu64 "\n"
	    "ir_errors_total{kind=\"queue\"} %" PRIu64 "\n"
	    "ir_errors_total{kind=\"worker\"} %" PRIu64 "\n"
	    "ir_errors_total{kind=\"timeout\"} %" PRIu64 "\n",
	    s->err_store, s->err_queue, s->err_worker, s->err_timeout);
	P("# HELP ir_answers_total Answers matched to a waiting request.\n"
	    "# TYPE ir_answers_total counter\nir_answers_total %" PRIu64 "\n",
	    s->answers);
	P("# HELP ir_answers_dropped_total Answers nobody waited for.\n"
	    "# TYPE ir_answers_dropped_total counter\n"
	    "ir_answers_dropped_total %" PRIu64 "\n", s->dropped);
	pthread_mutex_unlock(&s->mlock);
#undef P
	ret = respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf,
	    o < cap ? o : cap - 1, NULL);
	free(buf);
	return ret;
}

static int
route_of(const char *method, const char *url, int *allowed)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;

	*allowed = 1;
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		*allowed = get || (post && url[1] == '\0');
		return post ? R_TEXT : R_PAGE;
	}
	if (strcmp(url, "/v1/recognize") == 0) {
		*allowed = post;
		return R_JSON;
	}
	if (strcmp(url, "/healthz") == 0) {
		*allowed = get;
		return R_HEALTH;
	}
	if (strcmp(url, "/metrics") == 0) {
		*allowed = get;
		return R_METRICS;
	}
	return R_NONE;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct ir_serve *s = cls;
	struct req *r = *con_cls;
	int allowed;

	if (!r) {
		const union MHD_ConnectionInfo *ci;
		const char *cl;

		r = ir_xcalloc(1, sizeof *r);
		r->s = s;
		r->conn = conn;
		r->t0 = ir_now_ms();
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr &&
		    ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)
			    ci->client_addr)->sin_addr, r->peer,
			    sizeof r->peer);
		else if (ci && ci->client_addr &&
		    ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
			    ci->client_addr)->sin6_addr, r->peer,
			    sizeof r->peer);
		else
			snprintf(r->peer, sizeof r->peer, "-");
		*con_cls = r;
		r->route = route_of(method, url, &allowed);
		if (r->route == R_NONE)
			return respond_error(r, 404, "no such page");
		if (!allowed)
			return respond_error(r, 405, "method not allowed");
		switch (r->route) {
		case R_PAGE:
			return respond(r, 200, "text/html; charset=utf-8",
			    (const char *)ir_web_index, ir_web_index_len,
			    NULL);
		case R_HEALTH:
			return health(r);
		case R_METRICS:
			return metrics(r);
		}
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			unsigned long long v = strtoull(cl, NULL, 10);
			char msg[128];

			if (v > s->o.max_body) {
				snprintf(msg, sizeof msg,
				    "body of %llu bytes is larger than %zu",
				    v, s->o.max_body);
				return respond_error(r, 413, msg);
			}
			if (v > 0) {     /* a claim, not a promise: 1 MiB */
				r->cap = v < (1u << 20) ? v : (1u << 20);
				r->body = ir_xmalloc(r->cap);
			}
		}
		return MHD_YES;
	}
	if (r->phase == P_DONE)  /* answered early; discard the rest */
		return *upload_size = 0, MHD_YES;
	if (*upload_size > 0) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->too_big)
			return MHD_YES;
		if (r->len + n > s->o.max_body) {
			r->too_big = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			r->cap = r->cap * 2 > r->len + n ? r->cap * 2 :
			    r->len + n + 65536;
			if (r->cap > s->o.max_body)
				r->cap = s->o.max_body;
			r->body = ir_xrealloc(r->body, r->cap);
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->phase == P_BODY)
		return upload_done(r);
	/* Resumed (or answered before we could suspend). */
	pthread_mutex_lock(&s->lock);
	if (r->outcome == O_WAIT) {     /* spurious: keep waiting */
		r->suspended = 1;
		MHD_suspend_connection(conn);
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&s->lock);
	return answer(r);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct ir_serve *s = cls;
	struct req *r = *con_cls;

	if (!r)
		return;
	pthread_mutex_lock(&s->lock);
	table_del(s, r);
	pthread_mutex_unlock(&s->lock);
	if (r->phase != P_DONE)
		logf_(s, "%s %s %s aborted%s%s (connection closed)", r->peer,
		    r->method, r->path, r->id[0] ? " " : "", r->id);
	free(r->body);
	free(r->answer);
	free(r);
	*con_cls = NULL;
}

/* Takes answers off the response queue and hands them out by id. */
static void *
receiver_main(void *arg)
{
	struct ir_serve *s = arg;
	struct ir_msg m[IR_QUEUE_MAX_BATCH];
	char err[IR_ERRMAX];
	int n, i, stop;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		stop = s->stopping;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
		if (ir_queue_receive(s->respq, m, IR_QUEUE_MAX_BATCH, 1, -1, &n,
		    err) != IR_OK) {
			logf_(s, "response queue: %s", err);
			pthread_mutex_lock(&s->mlock);
			s->err_queue++;
			pthread_mutex_unlock(&s->mlock);
			sleep(1);
			continue;
		}
		for (i = 0; i < n; i++) {
			json_t *j = json_loadb(m[i].body, m[i].len, 0, NULL);
			const char *id = json_string_value(json_object_get(j,
			    "id"));

			if (!id) {
				logf_(s, "dropping an answer without an id");
				pthread_mutex_lock(&s->mlock);
				s->dropped++;
				pthread_mutex_unlock(&s->mlock);
			} else if (deliver(s, id, ir_xstrdup(m[i].body),
			    O_ANSWER, 0) != 0) {
				logf_(s, "dropping answer for %s: no request "
				    "waits for it (late or unknown)", id);
				pthread_mutex_lock(&s->mlock);
				s->dropped++;
				pthread_mutex_unlock(&s->mlock);
			}
			json_decref(j);
			if (ir_queue_delete(s->respq, &m[i], err) != IR_OK)
				logf_(s, "response queue: delete: %s", err);
			ir_msg_free(&m[i]);
		}
	}
}

/* Times out requests past their deadline. */
static void *
timer_main(void *arg)
{
	struct ir_serve *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		double now = ir_now_ms();
		int h;

		for (h = 0; h < NBUCKET; h++) {
			struct req *r = s->table[h], *nx;

			for (; r; r = nx) {
				nx = r->hnext;
				if (r->deadline <= now) {
					settle(s, r, O_TIMEOUT, NULL, 504);
					pthread_mutex_lock(&s->mlock);
					s->err_timeout++;
					pthread_mutex_unlock(&s->mlock);
				}
			}
		}
		ir_deadline(&ts, 100);
		pthread_cond_timedwait(&s->cv, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct ir_serve *s = cls;
	char line[512];

	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	logf_(s, "httpd: %s", line);
}

static int
parse_listen(const char *l, struct sockaddr_in *sa, char *err)
{
	char host[64];
	const char *c = strrchr(l, ':');
	char *end;
	long port;

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (!c) {
		snprintf(host, sizeof host, "127.0.0.1");
		c = l - 1;
	} else if ((size_t)(c - l) >= sizeof host)
		return ir_err(err, IR_EINVAL, "bad address %s", l);
	else {
		memcpy(host, l, c - l);
		host[c - l] = '\0';
		if (!*host)
			snprintf(host, sizeof host, "0.0.0.0");
	}
	port = strtol(c + 1, &end, 10);
	if (!c[1] || *end || port < 0 || port > 65535)
		return ir_err(err, IR_EINVAL, "bad port in %s", l);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return ir_err(err, IR_EINVAL,
		    "bad address %s (want IPv4ADDR:PORT)", l);
	sa->sin_port = htons((uint16_t)port);
	return IR_OK;
}

static void
fail_waiting(struct ir_serve *s, const char *why)
{
	int h;

	pthread_mutex_lock(&s->lock);
	for (h = 0; h < NBUCKET; h++)
		while (s->table[h])
			settle(s, s->table[h], O_FAIL, ir_xstrdup(why), 503);
	pthread_mutex_unlock(&s->lock);
}

int
ir_serve_start(const struct ir_serve_opts *o, struct ir_serve **sp,
    char *err)
{
	struct ir_serve *s = ir_xcalloc(1, sizeof *s);
	struct sockaddr_in sa;
	struct ir_queue_opts qo = { .create = 1 };
	struct ir_queue_opts ro = { .create = 1, .max_receive = -1 };
	const union MHD_DaemonInfo *di;
	int i, rc = IR_EINVAL;

	*sp = NULL;
	s->o = *o;
	if (!s->o.max_body)
		s->o.max_body = 16u << 20;
	if (s->o.max_inflight <= 0)
		s->o.max_inflight = 256;
	if (s->o.timeout_s <= 0)
		s->o.timeout_s = 30;
	if (s->o.http_threads <= 0)
		s->o.http_threads = 8;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->mlock, NULL);
	pthread_mutex_init(&s->jlock, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->jcv, NULL);
	if (parse_listen(o->listen ? o->listen : "127.0.0.1:8000", &sa,
	    err) != IR_OK)
		goto fail;
	if (s->o.direct) {
		if (!s->o.classify || s->o.nclassify <= 0) {
			ir_err(err, IR_EINVAL, "direct mode without classifier");
			goto fail;
		}
	} else {
		if (!o->request_queue || !o->response_queue ||
		    !o->input_store) {
			ir_err(err, IR_EINVAL, "queue mode needs a request "
			    "queue, a response queue and an input store");
			goto fail;
		}
		if ((rc = ir_queue_open(o->response_queue, &ro, &s->respq,
		    err)) != IR_OK)
			goto fail;
		snprintf(s->reply_url, sizeof s->reply_url, "%s",
		    ir_queue_url(s->respq));
		if (pthread_key_create(&s->key, NULL) != 0) {
			rc = ir_syserr(err, "pthread_key_create");
			goto fail;
		}
		s->key_ok = 1;
		/* Check the request queue and store now, not at the first
		 * upload: a typo in a URL should stop the start. */
		{
			struct ir_queue *q;
			struct ir_store *st;

			if ((rc = ir_queue_open(o->request_queue, &qo, &q,
			    err)) != IR_OK)
				goto fail;
			ir_queue_close(q);
			if ((rc = ir_store_open(o->input_store, &st, err)) !=
			    IR_OK)
				goto fail;
			ir_store_close(st);
		}
		if (pthread_create(&s->receiver, NULL, receiver_main, s)) {
			rc = ir_syserr(err, "pthread_create");
			goto fail;
		}
		s->receiver_up = 1;
	}
	if (pthread_create(&s->timer, NULL, timer_main, s)) {
		rc = ir_syserr(err, "pthread_create");
		goto fail;
	}
	s->timer_up = 1;
	if (s->o.direct) {
		s->workers = ir_xcalloc(s->o.nclassify, sizeof *s->workers);
		for (i = 0; i < s->o.nclassify; i++) {
			void **a = ir_xmalloc(2 * sizeof *a);

			a[0] = s;
			a[1] = s->o.classify_ctx ? s->o.classify_ctx[i] : NULL;
			if (pthread_create(&s->workers[i], NULL, classify_main,
			    a)) {
				free(a);
				rc = ir_syserr(err, "pthread_create");
				goto fail;
			}
			s->nworkers++;
		}
	}
	s->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    handler, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.http_threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s->o.timeout_s + 30),
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	    MHD_OPTION_END);
	if (!s->d) {
		rc = ir_err(err, IR_ESYS, "cannot listen on %s (address in use or "
		    "not available)", o->listen ? o->listen : "127.0.0.1:8000");
		goto fail;
	}
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : ntohs(sa.sin_port);
	*sp = s;
	return IR_OK;
fail:
	ir_serve_stop(s);
	return rc;
}

int
ir_serve_port(const struct ir_serve *s)
{
	return s->port;
}

const char *
ir_serve_reply_url(const struct ir_serve *s)
{
	return s->reply_url;
}

void
ir_serve_stop(struct ir_serve *s)
{
	struct tls *t, *tn;
	double until;
	int i, left;

	if (!s)
		return;
	if (s->d) {
		/* Stop listening, give waiting requests a moment, then
		 * answer the rest with 503 and let MHD send those out. */
		MHD_socket ls = MHD_quiesce_daemon(s->d);

		if (ls != MHD_INVALID_SOCKET)
			close(ls);   /* ours now, says MHD */
		until = ir_now_ms() + 5000;
		do {
			pthread_mutex_lock(&s->lock);
			left = s->inflight;
			pthread_mutex_unlock(&s->lock);
			if (left)
				usleep(20000);
		} while (left && ir_now_ms() < until);
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	fail_waiting(s, "shutting down");
	if (s->d) {
		usleep(100000);
		MHD_stop_daemon(s->d);
	}
	if (s->timer_up)
		pthread_join(s->timer, NULL);
	if (s->receiver_up)
		pthread_join(s->receiver, NULL);
	pthread_mutex_lock(&s->jlock);
	s->jstop = 1;
	pthread_cond_broadcast(&s->jcv);
	pthread_mutex_unlock(&s->jlock);
	for (i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	while (s->jhead) {
		struct job *j = s->jhead;

		s->jhead = j->next;
		free(j->img);
		free(j);
	}
	for (t = s->tlist; t; t = tn) {
		tn = t->next;
		ir_queue_close(t->reqq);
		ir_queue_close(t->respq);
		ir_store_close(t->in);
		free(t);
	}
	if (s->key_ok)
		pthread_key_delete(s->key);
	if (s->respq)
		ir_queue_close(s->respq);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->mlock);
	pthread_mutex_destroy(&s->jlock);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->jcv);
	free(s);
}
