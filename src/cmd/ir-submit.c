/*
 * ir-submit: store images in the input store and queue one request per
 * image for the workers; prints "ID<TAB>FILE" per image, so ir-poll can
 * take the output on stdin. See ir-submit(1).
 *
 * Order per image: put the image, then send the request (a worker never
 * sees a request whose image is not there yet), then print its line
 * (a printed ID has been queued). Temporary failures of the store or
 * queue are retried with jittered backoff until the -t deadline.
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
#include "store.h"

#define MAX_REQUEST 1024              /* bytes of a request message */
#define MAX_IMAGE (64 * 1024 * 1024)  /* bytes of one image */

static double deadline;               /* ir_now_ms() */

static void
usage(void)
{
	fprintf(stderr, "usage: ir-submit [-j] [-q URL] [-r URL] [-s URL] "
	    "[-t TIMEOUT] [FILE...]\n");
	exit(IR_EXIT_USAGE);
}

static int
retryable(int rc)
{
	return rc == IR_ETEMP || rc == IR_ETIMEDOUT;
}

/* Sleeps before the try-th retry; 0 if the deadline leaves no time. */
static int
backoff(int try)
{
	double ms = 100.0 * (1 << (try < 5 ? try : 5)), left;
	unsigned r = 0;

	getrandom(&r, sizeof r, 0);
	ms = ms / 2 + ms / 2 * (r % 1000) / 1000.0; /* jitter */
	left = deadline - ir_now_ms();
	if (left <= 0)
		return 0;
	if (ms > left)
		ms = left;
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)fmod(ms, 1000.0) * 1000000L };
	nanosleep(&ts, NULL);
	return 1;
}

static const char *
base_name(const char *file)
{
	const char *s;
	size_t n = strlen(file);

	if (strcmp(file, "-") == 0)
		return "stdin";
	while (n > 1 && file[n - 1] == '/')
		n--;
	for (s = file + n; s > file && s[-1] != '/'; s--)
		;
	return s;
}

struct ctx {
	struct ir_store *store;
	struct ir_queue *requests;
	const char *reply;
	int json;
};

/*
 * Submits one image. Returns IR_OK, IR_EINVAL (this image refused: go on
 * with the next) or another status (the queue or store failed: stop).
 */
static int
submit(struct ctx *c, const char *file, char *err)
{
	char id[27], *key, *name, *msg;
	unsigned char *img;
	size_t len, n;
	json_t *o;
	int rc, try;

	if (strpbrk(file, "\t\n"))
		return ir_err(err, IR_EINVAL, "file name with a TAB or newline");
	ir_make_id(id);
	name = ir_xstrdup(base_name(file));
	if (strchr(name, '/'))
		*strchr(name, '/') = 0; /* "dir/" gives "dir" */
	/* a name that is not UTF-8 (a Latin-1 file system): '?' for the
	 * stray bytes, as keys and JSON need UTF-8; ir-poll prints FILE */
	ir_utf8_clean(name);
	n = strlen(id) + strlen(name) + 2;
	key = ir_xmalloc(n);
	/* flat, one file per image: no folder per upload in a dir: store */
	snprintf(key, n, "%s-%s", id, name);
	if ((rc = ir_store_key_check(key, err)) != IR_OK) {
		rc = ir_err(err, IR_EINVAL, "%s: unusable image name", file);
		goto out_key;
	}
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I}", "v", 1, "id", id,
	    "name", name, "key", key, "reply", c->reply, "sent",
	    (json_int_t)ir_unix_ms());
	msg = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!msg) {
		rc = ir_err(err, IR_EINVAL, "%s: name not valid UTF-8", file);
		goto out_key;
	}
	if (strlen(msg) > MAX_REQUEST) {
		rc = ir_err(err, IR_EINVAL, "%s: name too long: the request "
		    "would be %zu bytes, more than %d", file, strlen(msg),
		    MAX_REQUEST);
		goto out_msg;
	}
	if ((rc = ir_read_file(file, &img, &len, MAX_IMAGE, err)) != IR_OK) {
		rc = IR_EINVAL; /* unreadable: this image only */
		goto out_msg;
	}
	if (len == 0) {
		rc = ir_err(err, IR_EINVAL, "%s: empty file", file);
		free(img);
		goto out_msg;
	}
	for (try = 0;; try++) {
		rc = ir_store_put(c->store, key, img, len, "image/jpeg", err);
		if (rc == IR_OK || !retryable(rc) || !backoff(try))
			break;
	}
	free(img);
	if (rc != IR_OK) {
		if (rc == IR_EINVAL)
			rc = IR_ESYS; /* the store refused a checked key */
		goto out_msg;
	}
	for (try = 0;; try++) {
		rc = ir_queue_send(c->requests, msg, strlen(msg), err);
		if (rc == IR_OK || !retryable(rc) || !backoff(try))
			break;
	}
	if (rc != IR_OK) {
		char e2[IR_ERRMAX];
		ir_store_delete(c->store, key, e2); /* best effort */
		if (rc == IR_EINVAL)
			rc = IR_ESYS;
		goto out_msg;
	}
	if (c->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "id", id,
		    "file", file, "name", name, "key", key);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (s)
			puts(s);
		else /* a file name that is not UTF-8 */
			printf("{\"id\":\"%s\"}\n", id);
		free(s);
		json_decref(j);
	} else {
		printf("%s\t%s\n", id, file);
	}
	fflush(stdout);
out_msg:
	free(msg);
out_key:
	free(key);
	free(name);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *qflag = NULL, *rflag = NULL, *sflag = NULL;
	char *qurl, *rurl, *surl, err[IR_ERRMAX], *line = NULL;
	struct ir_queue_opts ro = { .create = 1, .max_receive = -1 };
	struct ir_queue_opts qo = { .create = 0 };
	struct ir_queue *replies = NULL;
	struct ctx c = { 0 };
	double timeout = 60;
	int ch, rc, ex = IR_EXIT_OK, failed = 0, i;
	size_t cap = 0;
	ssize_t len;

	ir_setprog(argv[0]);
	while ((ch = getopt(argc, argv, "hjq:r:s:t:")) != -1) {
		switch (ch) {
		case 'j': c.json = 1; break;
		case 'q': qflag = optarg; break;
		case 'r': rflag = optarg; break;
		case 's': sflag = optarg; break;
		case 't':
			timeout = ir_optnum(optarg, "-t seconds", 0, 86400);
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	deadline = ir_now_ms() + timeout * 1000;
	qurl = ir_role_url(IR_ROLE_REQUESTS, qflag);
	rurl = ir_role_url(IR_ROLE_REPLIES, rflag);
	surl = ir_role_url(IR_ROLE_INPUT, sflag);

	/* The reply queue is opened (so created) to learn its absolute URL. */
	for (i = 0;; i++) {
		rc = IR_OK;
		if (!replies)
			rc = ir_queue_open(rurl, &ro, &replies, err);
		if (rc == IR_OK && !c.requests)
			rc = ir_queue_open(qurl, &qo, &c.requests, err);
		if (rc == IR_OK && !c.store)
			rc = ir_store_open(surl, &c.store, err);
		if (rc == IR_OK || !retryable(rc) || !backoff(i))
			break;
	}
	if (rc != IR_OK) {
		ir_warn("%s", err);
		ex = rc == IR_EINVAL ? IR_EXIT_USAGE : IR_EXIT_TEMPFAIL;
		if (ex == IR_EXIT_TEMPFAIL)
			ir_warn("nothing submitted");
		goto out;
	}
	c.reply = ir_queue_url(replies);

	for (i = 0;; i++) {
		const char *file;

		if (argc > 0) {
			if (i >= argc)
				break;
			file = argv[i];
		} else {
			if ((len = getline(&line, &cap, stdin)) < 0)
				break;
			if (len > 0 && line[len - 1] == '\n')
				line[--len] = 0;
			if (len == 0)
				continue;
			file = line;
		}
		if (failed) {
			ir_warn("%s: not submitted", file);
			continue;
		}
		rc = submit(&c, file, err);
		if (rc == IR_OK)
			continue;
		ir_warn("%s", err);
		if (rc == IR_EINVAL) {
			if (ex == IR_EXIT_OK)
				ex = IR_EXIT_USAGE;
			continue;
		}
		/* The store or queue failed: stop, and list what is left. */
		ex = IR_EXIT_TEMPFAIL;
		failed = 1;
		ir_warn("%s: not submitted", file);
	}
	if (ferror(stdout)) {
		ir_warn("stdout: write error");
		ex = IR_EXIT_TEMPFAIL;
	}
out:
	free(line);
	ir_store_close(c.store);
	ir_queue_close(c.requests);
	ir_queue_close(replies);
	free(qurl);
	free(rurl);
	free(surl);
	return ex;
}
