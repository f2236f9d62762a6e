/*
 * ir-serve: the web tier (see ir-serve(1)). Parses options, loads the
 * classifiers in direct mode, starts the server (src/lib/serve.c), tells
 * a service manager it is ready (READY=1 on $NOTIFY_SOCKET), and waits
 * for SIGTERM or SIGINT, on which it stops accepting, lets the requests
 * in flight finish (up to 5 seconds) and exits 0.
 *
 * Signals are blocked before any thread starts, so every thread inherits
 * the mask and only sigwait() in main sees them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face.h"
#include "gallery.h"
#include "notify.h"
#include "queue.h"
#include "serve.h"
#include "worker.h"

static void
usage(void)
{
	fprintf(stderr, "usage: ir-serve [-d] [-l addr:port] [-q url] [-r url] "
	    "[-s url] [-g gallery]\n"
	    "       [-T threads] [-n http-threads] [-B max-body] "
	    "[-c max-inflight] [-t timeout]\n");
	exit(IR_EXIT_USAGE);
}

static double
num(const char *s, const char *what, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* sizes may carry a k, M or G suffix */
	if (end != s && (*end == 'k' || *end == 'K'))
		v *= 1024, end++;
	else if (end != s && *end == 'M')
		v *= 1024 * 1024, end++;
	else if (end != s && *end == 'G')
		v *= 1024.0 * 1024 * 1024, end++;
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		ir_die(IR_EXIT_USAGE, "bad %s \"%s\" (want %g..%g)", what, s,
		    lo, hi);
	return v;
}

static void
log_line(void *arg, const char *line)
{
	fprintf(stderr, "%s: %s\n", ir_progname, line);
}

/* Direct mode's classify callback: one classifier per pool thread. */
static int
classify(void *ctx, const char *id, const char *name,
    const unsigned char *img, size_t len, char **json, char *err)
{
	*json = ir_classify_buf(ctx, id, name, img, len, NULL, 0);
	return 0;
}

int
main(int argc, char **argv)
{
	struct ir_serve_opts o = { 0 };
	struct ir_engine_opts eo = { 0 };
	struct ir_classifier **cl = NULL;
	struct ir_serve *s;
	const char *qflag = NULL, *rflag = NULL, *sflag = NULL, *gflag;
	char err[IR_ERRMAX], gdef[4096], *rq = NULL, *sq = NULL, *in = NULL;
	sigset_t set;
	int c, i, sig, rc, threads = 0;

	ir_setprog(argv[0]);
	o.listen = ir_getenv("IR_LISTEN", "127.0.0.1:8000");
	gflag = ir_getenv("IR_GALLERY", NULL);
	while ((c = getopt(argc, argv, "dl:q:r:s:g:T:n:B:c:t:h")) != -1) {
		switch (c) {
		case 'd':
			o.direct = 1;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'q':
			qflag = optarg;
			break;
		case 'r':
			rflag = optarg;
			break;
		case 's':
			sflag = optarg;
			break;
		case 'g':
			gflag = optarg;
			break;
		case 'T':
			threads = (int)num(optarg, "thread count", 1, 64);
			break;
		case 'n':
			o.http_threads = (int)num(optarg, "HTTP thread count",
			    1, 256);
			break;
		case 'B':
			o.max_body = (size_t)num(optarg, "body limit", 1,
			    1024.0 * 1024 * 1024);
			break;
		case 'c':
			o.max_inflight = (int)num(optarg, "in-flight limit", 1,
			    100000);
			break;
		case 't':
			o.timeout_s = num(optarg, "timeout", 0.001, 86400);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	o.log = log_line;

	if (o.direct) {
		const char *g = gflag ? gflag :
		    ir_gallery_default(gdef, sizeof gdef);

		if (threads <= 0) {
			long n = sysconf(_SC_NPROCESSORS_ONLN);

			threads = n > 0 && n < 64 ? (int)n : 1;
		}
		eo.threads = 1;
		cl = ir_xcalloc(threads, sizeof *cl);
		if ((rc = ir_classifier_open(&eo, g, 0, &cl[0], err)) != IR_OK)
			ir_die(rc == IR_ETEMP ? IR_EXIT_TEMPFAIL :
			    IR_EXIT_USAGE, "cannot load the classifier: %s",
			    err);
		for (i = 1; i < threads; i++)
			if (ir_classifier_clone(cl[0], &cl[i], err) != IR_OK)
				ir_die(IR_EXIT_TEMPFAIL, "%s", err);
		o.nclassify = threads;
		o.classify_ctx = (void **)cl;
		o.classify = classify;
	} else {
		const char *port = strrchr(o.listen, ':');

		rq = ir_role_url(IR_ROLE_REQUESTS, qflag);
		in = ir_role_url(IR_ROLE_INPUT, sflag);
		if (rflag || ir_getenv("IR_RESPONSE_QUEUE", NULL))
			sq = ir_role_url(IR_ROLE_REPLIES, rflag);
		else {
			/* Our own response queue: replies-serve-PORT. */
			size_t n = strlen(ir_getenv("IR_STATE", "run")) + 64;

			sq = ir_xmalloc(n);
			if (port && strcmp(port, ":0") != 0)
				snprintf(sq, n, "spool:%s/replies-serve-%s",
				    ir_getenv("IR_STATE", "run"), port + 1);
			else
				snprintf(sq, n, "spool:%s/replies-serve-p%ld",
				    ir_getenv("IR_STATE", "run"),
				    (long)getpid());
		}
		o.request_queue = rq;
		o.response_queue = sq;
		o.input_store = in;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = ir_serve_start(&o, &s, err)) != IR_OK)
		ir_die(rc == IR_EINVAL || rc == IR_ENOENT || rc == IR_EAUTH ?
		    IR_EXIT_USAGE : IR_EXIT_TEMPFAIL, "%s", err);
	if (o.direct)
		ir_warn("listening on http://%.*s:%d/ (direct, %d threads)",
		    (int)(strrchr(o.listen, ':') ? strrchr(o.listen, ':') -
		    o.listen : 0), o.listen, ir_serve_port(s), threads);
	else
		ir_warn("listening on http://%.*s:%d/ (requests %s, answers %s)",
		    (int)(strrchr(o.listen, ':') ? strrchr(o.listen, ':') -
		    o.listen : 0), o.listen, ir_serve_port(s), rq,
		    ir_serve_reply_url(s));
	if (ir_notify("READY=1", err) != IR_OK)
		ir_warn("%s", err);

	for (;;) {
		if (sigwait(&set, &sig) == 0)
			break;
	}
	ir_warn("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	ir_notify("STOPPING=1", err);
	ir_serve_stop(s);
	if (cl) {
		for (i = threads - 1; i >= 0; i--)
			ir_classifier_close(cl[i]);
		free(cl);
	}
	free(rq);
	free(sq);
	free(in);
	return IR_EXIT_OK;
}
