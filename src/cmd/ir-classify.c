/*
 * ir-classify: who is in each image (see ir-classify(1)).
 *
 * For each image (arguments, or one file name per line on stdin when
 * there are none; "-" is image bytes on stdin): decode, find every face
 * with the face pipeline (face.h), match each descriptor against the
 * gallery with face-api's rule (gallery.h), and print one result line
 * (result.h: TSV, or JSON with -j). Results are flushed per image so the
 * tool streams in a pipe; with -T N, N images are worked on at once and
 * still printed in input order.
 *
 * Exit status: the worst over all images: 0 every image processed and
 * at least one face recognised (or no image given on stdin), 1 every
 * image processed but no face recognised in any, 2 a usage error, a bad
 * gallery or model, or an unreadable image, 75 a temporary failure.
 *
 * main() only parses options into struct opts and dispatches; the
 * app-tier worker (-w, in src/lib/worker.c) is meant to hook in there
 * with the same options. The letters w q r s o i P b are kept free for
 * it.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face.h"
#include "gallery.h"
#include "image.h"
#include "queue.h"
#include "result.h"
#include "util.h"
#include "worker.h"

struct opts {
	const char *gallery;        /* NULL: ir_gallery_default() */
	int json, flags;            /* -j; IR_RESULT_* from -D -L */
	double threshold;           /* -t */
	long max_pixels;            /* -m */
	struct ir_engine_opts eng;  /* -d -S --tiny-landmarks -T ... */
};

/*
 * A run over many images. With -T N (N > 1) N threads each drive their
 * own engine (ir_engine_clone: shared weights, one BLAS thread each) and
 * take the next image name under the lock, from argv or from stdin; the
 * results are printed in input order: a finished line waits in `pending`
 * until every earlier one has been printed.
 */
struct run {
	const struct opts *o;
	struct ir_gallery g;
	char **files;             /* argv names, or NULL: read stdin */
	int nfiles;
	pthread_mutex_t mu;       /* guards everything below */
	long next;                /* sequence number of the next name */
	long printed;             /* lines printed so far */
	char **pending;           /* finished lines, [seq - printed] */
	long cap;                 /* slots in pending */
	int images, recognised, worst;
};

struct slot {
	struct run *r;
	struct ir_engine *e;
	struct ir_face *faces;    /* IR_MAX_FACES */
};

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-jDL] [-g gallery] [-d tiny|ssd] "
	    "[-S size] [--tiny-landmarks]\n"
	    "       [--jpeg libjpeg|faceapi]\n"
	    "       [-t threshold] [-T threads] [-m maxpixels] "
	    "[--min-score s] [file ...]\n"
	    "       %s -w [-P] [-i idle] [-b batch] [-q url] [-s url] "
	    "[-o url] [-T engines]\n"
	    "          [--visibility s] [--max-receive n] [-g gallery]\n",
	    ir_progname, ir_progname);
	exit(IR_EXIT_USAGE);
}

/* Takes line (malloc'd) as result seq and prints what is now in order. */
static void
deliver(struct run *r, long seq, char *line, int code, int recognised)
{
	long i, k;

	pthread_mutex_lock(&r->mu);
	r->worst = ir_exit_worse(r->worst, code);
	r->recognised += recognised;
	k = seq - r->printed;
	if (k >= r->cap) {
		long ncap = r->cap ? r->cap : 16;
		while (ncap <= k)
			ncap *= 2;
		r->pending = ir_xrealloc(r->pending, sizeof *r->pending * ncap);
		for (i = r->cap; i < ncap; i++)
			r->pending[i] = NULL;
		r->cap = ncap;
	}
	r->pending[k] = line;
	for (k = 0; k < r->cap && r->pending[k]; k++) {
		printf("%s\n", r->pending[k]);
		free(r->pending[k]);
	}
	if (k > 0) {
		fflush(stdout);
		memmove(r->pending, r->pending + k,
		    sizeof *r->pending * (r->cap - k));
		for (i = r->cap - k; i < r->cap; i++)
			r->pending[i] = NULL;
		r->printed += k;
	}
	pthread_mutex_unlock(&r->mu);
}

/* The next image name (malloc'd) and its sequence number, or NULL. */
static char *
next_name(struct run *r, long *seq)
{
	char *name = NULL, *line = NULL;
	size_t cap = 0;
	ssize_t len;

	pthread_mutex_lock(&r->mu);
	if (r->files) {
		if (r->next < r->nfiles)
			name = ir_xstrdup(r->files[r->next]);
	} else {
		while (!name && (len = getline(&line, &cap, stdin)) > 0) {
			while (len > 0 && (line[len - 1] == '\n' ||
			    line[len - 1] == '\r'))
				line[--len] = 0;
			if (len > 0)
				name = ir_xstrdup(line);
		}
		free(line);
	}
	if (name) {
		*seq = r->next++;
		r->images++;
	}
	pthread_mutex_unlock(&r->mu);
	return name;
}

static void
one(struct slot *sl, long seq, const char *path)
{
	const struct opts *o = sl->r->o;
	struct ir_match match[IR_MAX_FACES];
	struct ir_result res = { 0 };
	struct ir_image img;
	char err[IR_ERRMAX];
	double t0;
	int rc, n = 0, i, recognised = 0;

	res.name = path;
	t0 = ir_now_ms();
	rc = ir_image_load_with(path, o->max_pixels, o->eng.jpeg, &img, err);
	t0 = ir_now_ms() - t0;
	if (rc == IR_OK) {
		rc = ir_engine_faces(sl->e, &img, sl->faces, IR_MAX_FACES, &n,
		    &res.ms, err);
		ir_image_free(&img);
	}
	res.ms.decode = t0;
	if (rc != IR_OK) {
		ir_warn("%s: %s", path, err);
		res.error = err;
	} else {
		for (i = 0; i < n; i++) {
			ir_gallery_match(&sl->r->g, sl->faces[i].desc,
			    o->threshold, &match[i]);
			if (match[i].person >= 0 &&
			    strcmp(match[i].label, "unknown") != 0)
				recognised++;
		}
		res.nfaces = n;
		res.faces = sl->faces;
		res.match = match;
	}
	deliver(sl->r, seq, o->json ? ir_result_json_line(&res, o->flags) :
	    ir_result_tsv(&res), rc == IR_OK ? IR_EXIT_OK : ir_exit_input(rc),
	    recognised);
}

static void *
slot_main(void *arg)
{
	struct slot *sl = arg;
	char *name;
	long seq;

	while ((name = next_name(sl->r, &seq))) {
		one(sl, seq, name);
		free(name);
	}
	return NULL;
}

static int
classify(const struct opts *o, char **files, int nfiles)
{
	struct run r = { .o = o, .files = nfiles > 0 ? files : NULL,
	    .nfiles = nfiles };
	struct ir_engine_opts eo = o->eng;
	struct slot *sl;
	pthread_t *tid;
	char err[IR_ERRMAX], def[4096];
	const char *gpath = o->gallery ? o->gallery :
	    ir_gallery_default(def, sizeof def);
	int i, rc, n = o->eng.threads > 1 ? o->eng.threads : 1;

	if ((rc = ir_gallery_load(gpath, &r.g, err)) != IR_OK)
		ir_die(ir_exit_input(rc), "cannot load gallery: %s", err);
	if (r.g.n == 0)
		ir_warn("gallery %s is empty: every face will be unknown",
		    gpath);
	eo.threads = 1;
	sl = ir_xcalloc(n, sizeof *sl);
	tid = ir_xcalloc(n, sizeof *tid);
	for (i = 0; i < n; i++) {
		sl[i].r = &r;
		sl[i].faces = ir_xcalloc(IR_MAX_FACES, sizeof *sl[i].faces);
		rc = i == 0 ? ir_engine_open(&sl[i].e, &eo, err) :
		    ir_engine_clone(sl[0].e, &sl[i].e, err);
		if (rc != IR_OK)
			ir_die(ir_exit_input(rc),
			    "cannot load the face models: %s", err);
	}
	pthread_mutex_init(&r.mu, NULL);
	if (n == 1)
		slot_main(&sl[0]);
	else {
		for (i = 0; i < n; i++)
			if ((rc = pthread_create(&tid[i], NULL, slot_main,
			    &sl[i])) != 0)
				ir_die(IR_EXIT_TEMPFAIL, "cannot start a "
				    "thread: %s", strerror(rc));
		for (i = 0; i < n; i++)
			pthread_join(tid[i], NULL);
	}
	pthread_mutex_destroy(&r.mu);
	for (i = n - 1; i >= 0; i--) {
		ir_engine_close(sl[i].e);
		free(sl[i].faces);
	}
	free(sl);
	free(tid);
	free(r.pending);
	ir_gallery_free(&r.g);
	if (r.worst == IR_EXIT_OK && r.images > 0 && r.recognised == 0)
		r.worst = IR_EXIT_NO;
	return r.worst;
}

/*
 * -w: the app-tier worker (src/lib/worker.c; ir-classify(1), WORKER MODE).
 * -T N means N engines of one thread each here. SIGTERM and SIGINT set
 * wstop: the batch in hand is finished, nothing more is taken, exit 0.
 */
static volatile sig_atomic_t wstop;

static void
wstop_handler(int sig)
{
	wstop = 1;
}

static void
wlog(void *arg, const char *line)
{
	fprintf(stderr, "%s: %s\n", ir_progname, line);
}

static int
worker_mode(const struct opts *o, struct ir_worker_opts *w, const char *qf,
    const char *sf, const char *of)
{
	struct sigaction sa = { .sa_handler = wstop_handler };
	struct ir_worker_stats st = { 0 };
	char err[IR_ERRMAX], def[4096];
	char *q = ir_role_url(IR_ROLE_REQUESTS, qf);
	char *in = ir_role_url(IR_ROLE_INPUT, sf);
	char *out = ir_role_url(IR_ROLE_OUTPUT, of);
	int rc;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);  /* no SA_RESTART: cut a long poll */
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	w->request_queue = q;
	w->input_store = in;
	w->output_store = out;
	w->gallery = o->gallery ? o->gallery :
	    ir_gallery_default(def, sizeof def);
	w->threshold = o->threshold;
	w->engine = o->eng;
	w->threads = o->eng.threads > 0 ? o->eng.threads : 1;
	w->engine.threads = 1;
	w->stop = &wstop;
	w->log = wlog;
	rc = ir_worker_run(w, &st, err);
	free(q);
	free(in);
	free(out);
	if (rc != IR_OK)
		ir_die(rc == IR_ETEMP || rc == IR_ETIMEDOUT ? IR_EXIT_TEMPFAIL :
		    IR_EXIT_USAGE, "worker: %s", err);
	ir_warn("worker done: %ld answered (%ld errors, %ld resent), "
	    "%ld dropped", st.messages, st.errors, st.resent, st.dropped);
	return IR_EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tiny-size", required_argument, NULL, 'S' },
		{ "tiny-landmarks", no_argument, NULL,
		    IR_OPT_TINY_LANDMARKS },
		{ "jpeg", required_argument, NULL, IR_OPT_JPEG },
		{ "min-score", required_argument, NULL, 2 },
		{ "help", no_argument, NULL, 'h' },
		{ "visibility", required_argument, NULL, 3 },
		{ "max-receive", required_argument, NULL, 4 },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { 0 };
	struct ir_worker_opts w = { .batch = 0,   /* by queue: worker.h */
	    .idle_s = IR_WORKER_IDLE_DEFAULT };
	const char *qf = NULL, *sf = NULL, *of = NULL;
	int c, wmode = 0;

	ir_setprog(argv[0]);
	o.gallery = ir_getenv("IR_GALLERY", NULL);
	o.threshold = IR_GALLERY_THRESHOLD;
	o.eng.detector = IR_DET_TINY;
	/* Letters w q r s o i P b belong to the worker mode (-w). */
	while ((c = getopt_long(argc, argv, "g:jDLd:S:t:T:m:hwq:s:o:i:Pb:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'g':
			o.gallery = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'D':
			o.json = 1;
			o.flags |= IR_RESULT_DESCRIPTOR;
			break;
		case 'L':
			o.json = 1;
			o.flags |= IR_RESULT_LANDMARKS;
			break;
		case 2:
			o.eng.min_score = ir_optnum(optarg, "minimum score",
			    0.001, 0.999);
			break;
		case 't':
			o.threshold = ir_optnum(optarg, "threshold", 1e-9, 1e9);
			break;
		case 'm':
			o.max_pixels = (long)ir_optnum(optarg, "pixel limit", 1,
			    1e15);
			break;
		case 'w':
			wmode = 1;
			break;
		case 'q':
			qf = optarg;
			break;
		case 's':
			sf = optarg;
			break;
		case 'o':
			of = optarg;
			break;
		case 'i':
			w.idle_s = ir_optnum(optarg, "idle time", 0, 1e9);
			break;
		case 'P':
			w.idle_s = -1;
			break;
		case 'b':
			w.batch = ir_optint(optarg, "batch size", 1,
			    IR_QUEUE_MAX_BATCH);
			break;
		case 3:
			w.visibility_s = ir_optint(optarg,
			    "visibility timeout", 1, IR_QUEUE_MAX_VISIBILITY);
			break;
		case 4:
			w.max_receive = ir_optint(optarg,
			    "maximum receive count", 1, 1000);
			break;
		default:
			if (!ir_engine_option(&o.eng, c, optarg))
				usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (wmode) {
		if (argc > 0)
			usage();
		return worker_mode(&o, &w, qf, sf, of);
	}
	return classify(&o, argv, argc);
}
