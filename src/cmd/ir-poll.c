/*
 * ir-poll: wait on a response queue for the results of requests queued by
 * ir-submit (or anyone) and print them as ir-classify does, one line per
 * image, in the order they arrive. See ir-poll(1).
 *
 * Invariants:
 *  - a result is printed before its message is deleted, so a crash
 *    between the two repeats a line rather than losing one; a result for
 *    an id already printed is deleted without printing (a worker may
 *    answer a redelivered request twice);
 *  - messages for ids this poller does not wait for are never deleted:
 *    they are received with a short visibility timeout (FOREIGN_HIDE_S),
 *    so they come back by themselves, and are made visible again at exit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "queue.h"
#include "result.h"
#include "store.h"

#define FOREIGN_HIDE_S 3       /* seconds a foreign result is held */
#define MAX_RESULT (16 << 20)  /* bytes of a full result in the store */

struct want {
	char *id;
	char *file;       /* NULL: print the result's own name */
	int done;
};

struct held {
	char *id;
	char *handle;
};

static struct want *wants;
static size_t nwants;
static struct held *helds;
static size_t nhelds;
static int json_out;
static const char *oflag;
static struct ir_store *ostore;

static void
usage(void)
{
	fprintf(stderr, "usage: ir-poll [-j] [-o URL] [-r URL] [-t TIMEOUT] "
	    "[ID...]\n");
	exit(IR_EXIT_USAGE);
}

static int
cmp_want(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->id,
	    ((const struct want *)b)->id);
}

static struct want *
find(const char *id)
{
	struct want k = { .id = (char *)id };

	return nwants ? bsearch(&k, wants, nwants, sizeof *wants,
	    cmp_want) : NULL;
}

static void
add_want(const char *id, size_t idlen, const char *file)
{
	static size_t cap;

	if (idlen == 0)
		return;
	if (nwants == cap) {
		cap = cap ? cap * 2 : 64;
		wants = ir_xrealloc(wants, cap * sizeof *wants);
	}
	wants[nwants].id = ir_xmalloc(idlen + 1);
	memcpy(wants[nwants].id, id, idlen);
	wants[nwants].id[idlen] = 0;
	wants[nwants].file = file && *file ? ir_xstrdup(file) : NULL;
	wants[nwants].done = 0;
	nwants++;
}

/* One stdin line: "ID<TAB>FILE", "ID", or ir-submit -j's JSON object. */
static void
read_line(char *line)
{
	char *tab;

	if (line[0] == '{') {
		json_t *o = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *file = json_string_value(json_object_get(o, "file"));
		if (id)
			add_want(id, strlen(id), file);
		else
			ir_warn("stdin: a JSON line without an \"id\": ignored");
		json_decref(o);
		return;
	}
	if ((tab = strchr(line, '\t')))
		add_want(line, tab - line, tab + 1);
	else
		add_want(line, strlen(line), NULL);
}

static void
hold(const struct ir_msg *m, const char *id)
{
	static size_t cap;
	size_t i;

	for (i = 0; i < nhelds; i++)
		if (strcmp(helds[i].id, id) == 0) {
			free(helds[i].handle);
			helds[i].handle = ir_xstrdup(m->handle);
			return;
		}
	if (nhelds == cap) {
		cap = cap ? cap * 2 : 16;
		helds = ir_xrealloc(helds, cap * sizeof *helds);
	}
	helds[nhelds].id = ir_xstrdup(id);
	helds[nhelds].handle = ir_xstrdup(m->handle);
	nhelds++;
}

/* Makes the foreign results still held visible to other pollers. */
static void
release(struct ir_queue *q)
{
	char err[IR_ERRMAX];
	size_t i;

	for (i = 0; i < nhelds; i++) {
		struct ir_msg m = { .handle = helds[i].handle };
		/* IR_ENOENT: it came back by itself already. */
		ir_queue_change_visibility(q, &m, 0, err);
		free(helds[i].id);
		free(helds[i].handle);
	}
	free(helds);
}

/*
 * A result message may carry only "key", naming the full result in the
 * output store (for results too large for a message): fetch it.
 * Returns the object to use (a new reference), or NULL with err set.
 */
static json_t *
full_result(json_t *o, int *rc, char *err)
{
	const char *key = json_string_value(json_object_get(o, "key"));
	unsigned char *buf;
	json_t *full;
	size_t len;
	char *url;

	*rc = IR_OK;
	if (json_object_get(o, "faces") || json_object_get(o, "error") ||
	    !key) {
		json_incref(o);
		return o;
	}
	if (!ostore) {
		url = ir_role_url(IR_ROLE_OUTPUT, oflag);
		*rc = ir_store_open(url, &ostore, err);
		free(url);
		if (*rc)
			return NULL;
	}
	if ((*rc = ir_store_get(ostore, key, &buf, &len, MAX_RESULT, err)))
		return NULL;
	full = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(full)) {
		json_decref(full);
		*rc = ir_err(err, IR_EINVAL, "%s: output store object %s is "
		    "not a JSON result", ir_store_url(ostore), key);
		return NULL;
	}
	return full;
}

/* Prints one result for w, from the message's JSON object o. */
static int
print_result(const struct want *w, json_t *o, char *err)
{
	json_t *r;
	char *s;
	int rc;

	if (!(r = full_result(o, &rc, err))) {
		if (rc == IR_EINVAL || rc == IR_ENOENT) {
			/* Print the reason: the image is answered. */
			json_t *e = json_pack("{s:i, s:s, s:s, s:s}", "v", 1,
			    "id", w->id, "name", w->file ? w->file : w->id,
			    "error", err);
			rc = print_result(w, e, err);
			json_decref(e);
			return rc;
		}
		return rc;
	}
	if (w->file) {
		/* The caller's file name, not the worker's "name". */
		json_t *c = json_copy(r);
		json_decref(r);
		r = c;
		json_t *f = json_string(w->file);
		json_object_set_new(r, json_out ? "file" : "name",
		    f ? f : json_string("?")); /* "?": not UTF-8 */
	}
	if (json_out) {
		s = json_dumps(r, JSON_COMPACT);
	} else if (!(s = ir_result_tsv_from_json(r))) {
		json_t *e = json_pack("{s:i, s:s, s:s}", "v", 1, "name",
		    w->file ? w->file : w->id, "error",
		    "malformed result message");
		s = ir_result_tsv_from_json(e);
		json_decref(e);
	}
	json_decref(r);
	if (s)
		puts(s);
	free(s);
	fflush(stdout);
	return IR_OK;
}

static int
retryable(int rc)
{
	return rc == IR_ETEMP || rc == IR_ETIMEDOUT;
}

static void
nap(double ms)
{
	unsigned r = 0;

	getrandom(&r, sizeof r, 0);
	ms = ms / 2 + ms / 2 * (r % 1000) / 1000.0;
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)fmod(ms, 1000.0) * 1000000L };
	nanosleep(&ts, NULL);
}

int
main(int argc, char **argv)
{
	struct ir_queue_opts ro = { .max_receive = -1 };
	struct ir_msg m[IR_QUEUE_MAX_BATCH];
	const char *rflag = NULL;
	char err[IR_ERRMAX], *rurl, *line = NULL;
	char store_err[IR_ERRMAX] = "";
	struct ir_queue *q = NULL;
	double timeout = 60, deadline, left;
	size_t i, left_n, cap = 0;
	int ch, rc, n, k, tries = 0, ex = IR_EXIT_OK, once;
	ssize_t len;

	ir_setprog(argv[0]);
	while ((ch = getopt(argc, argv, "hjo:r:t:")) != -1) {
		switch (ch) {
		case 'j': json_out = 1; break;
		case 'o': oflag = optarg; break;
		case 'r': rflag = optarg; break;
		case 't':
			timeout = ir_optnum(optarg, "-t seconds", 0, 86400);
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	for (k = 0; k < argc; k++)
		add_want(argv[k], strlen(argv[k]), NULL);
	if (argc == 0) {
		while ((len = getline(&line, &cap, stdin)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' ||
			    line[len - 1] == '\r'))
				line[--len] = 0;
			if (len > 0)
				read_line(line);
		}
		free(line);
	}
	/* Sorted for lookup; a repeated id is waited for once. */
	if (nwants > 1)
		qsort(wants, nwants, sizeof *wants, cmp_want);
	for (i = 1, k = nwants ? 1 : 0; i < nwants; i++) {
		if (strcmp(wants[i].id, wants[k - 1].id) == 0) {
			free(wants[i].id);
			free(wants[i].file);
		} else {
			wants[k++] = wants[i];
		}
	}
	nwants = k;
	left_n = nwants;

	rurl = ir_role_url(IR_ROLE_REPLIES, rflag);
	deadline = ir_now_ms() + timeout * 1000;
	once = timeout == 0;
	while (left_n > 0) {
		if (!q && (rc = ir_queue_open(rurl, &ro, &q, err)))
			goto failed;
		left = deadline - ir_now_ms();
		int wait = left <= 0 ? 0 : (int)ceil(left / 1000);
		if (wait > IR_QUEUE_MAX_WAIT)
			wait = IR_QUEUE_MAX_WAIT;
		rc = ir_queue_receive(q, m, IR_QUEUE_MAX_BATCH, wait,
		    FOREIGN_HIDE_S, &n, err);
		if (rc)
			goto failed;
		tries = 0;
		for (k = 0; k < n; k++) {
			json_t *o = json_loadb(m[k].body, m[k].len, 0, NULL);
			const char *id = json_string_value(json_object_get(o,
			    "id"));
			struct want *w = id ? find(id) : NULL;

			if (!w) {
				hold(&m[k], id ? id : m[k].id);
			} else {
				if (!w->done) {
					if ((rc = print_result(w, o, err))) {
						/* The output store failed: the
						 * message comes back; try again
						 * then, and say so at the end. */
						snprintf(store_err,
						    sizeof store_err, "%s", err);
						hold(&m[k], id);
						json_decref(o);
						continue;
					}
					w->done = 1;
					left_n--;
				}
				/* IR_ENOENT: our lease ran out; a later
				 * copy will be deleted as a duplicate. */
				if ((rc = ir_queue_delete(q, &m[k], err)) &&
				    rc != IR_ENOENT)
					ir_warn("%s", err);
			}
			json_decref(o);
		}
		for (k = 0; k < n; k++)
			ir_msg_free(&m[k]);
		if (ir_now_ms() >= deadline && (n == 0 || !once))
			break;
		continue;
failed:
		if (retryable(rc) && ir_now_ms() < deadline) {
			left = deadline - ir_now_ms();
			double ms = 100.0 * (1 << (tries < 5 ? tries : 5));
			tries++;
			nap(ms < left ? ms : left);
			continue;
		}
		ir_warn("%s", err);
		ex = rc == IR_EINVAL ? IR_EXIT_USAGE : IR_EXIT_TEMPFAIL;
		break;
	}
	if (q) {
		release(q);
		ir_queue_close(q);
	}
	if (left_n > 0 && ex == IR_EXIT_OK) {
		ex = IR_EXIT_NO;
		if (*store_err) {
			ir_warn("%s", store_err);
			ex = IR_EXIT_TEMPFAIL;
		}
	}
	for (i = 0; i < nwants; i++) {
		if (!wants[i].done)
			ir_warn("no result for %s%s%s", wants[i].id,
			    wants[i].file ? " " : "",
			    wants[i].file ? wants[i].file : "");
		free(wants[i].id);
		free(wants[i].file);
	}
	free(wants);
	ir_store_close(ostore);
	free(rurl);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ir_warn("stdout: write error");
		return IR_EXIT_TEMPFAIL;
	}
	return ex;
}
