/*
 * ir-scale: start and stop ir-classify workers with the request queue's
 * backlog. One decision per run (for a systemd timer), or a loop (-l).
 *
 *   desired = clamp(ceil((visible + in flight) / target), min, max)
 *
 * Scale out at once; scale in as a backstop after a cooldown (idle workers
 * exit by themselves first). The policy is in scale.c, the actuators
 * (local processes, systemd units, a user command) in actuator.c; this
 * file reads flags, keeps the state folder (a lock, the policy state) and
 * logs one line per decision.
 *
 * Invariant: the state folder is only written under its lock, so a timer's
 * one-shot runs and a loop never act at the same time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "scale.h"

static volatile sig_atomic_t stopping;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ir-scale [-Dnv] [-a local|systemd|exec:CMD] [-m MIN] "
	    "[-M MAX] [-t TARGET]\n"
	    "                [-c COOLDOWN] [-l INTERVAL] [-S STATEDIR] "
	    "[-q URL]\n"
	    "                [-i IDLE] [-w WORKERCMD] [-L LOGFILE] [-s URL] "
	    "[-o URL]\n"
	    "                [-g GALLERY] [-T N]\n");
	exit(IR_EXIT_USAGE);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		ir_die(IR_EXIT_USAGE, "bad %s: %s (%ld to %ld)", what, s, lo,
		    hi);
	return v;
}

static double
parse_secs(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		ir_die(IR_EXIT_USAGE, "bad %s: %s (seconds, 0 to 86400)",
		    what, s);
	return v;
}

static int
mkdir_p(const char *path)
{
	char *p = ir_xstrdup(path), *s;
	int r = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		r = -1;
	free(p);
	return r;
}

/*
 * For a spool queue, an inotify watch on its new/ folder, so the loop
 * wakes as soon as a request arrives instead of at the next interval;
 * -1 for other queues (or when inotify is not available).
 */
static int
watch_queue(const char *url)
{
	char path[PATH_MAX];
	int fd;

	if (!strncmp(url, "spool:", 6))
		url += 6;
	if (*url != '/')
		return -1;
	snprintf(path, sizeof path, "%s/new", url);
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return -1;
	if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sleeps up to left seconds, less if the queue's watch fires. */
static void
wait_for(int wfd, double left)
{
	char buf[4096];
	struct pollfd p = { .fd = wfd, .events = POLLIN };
	struct timespec ts;

	if (left <= 0)
		return;
	if (wfd < 0) {
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);   /* a signal cuts it short */
		return;
	}
	if (poll(&p, 1, (int)(left * 1000 + 0.5)) > 0) {
		while (read(wfd, buf, sizeof buf) > 0)
			;
		/* a burst is many events: let it land for 10 ms */
		ts.tv_sec = 0;
		ts.tv_nsec = 10000000;
		nanosleep(&ts, NULL);
	}
}

/* Takes the state folder's lock, waiting a little for a run in progress. */
static int
take_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd, i;

	snprintf(path, sizeof path, "%s/lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		ir_die(IR_EXIT_TEMPFAIL, "cannot open %s: %s", path,
		    strerror(errno));
	for (i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			ir_die(IR_EXIT_TEMPFAIL, "cannot lock %s: %s", path,
			    strerror(errno));
		if (i >= 40)
			ir_die(IR_EXIT_TEMPFAIL,
			    "%s: another ir-scale holds the lock", path);
		usleep(50000);
	}
	return fd;
}

static void
load_state(const char *dir, struct ir_scale_state *st)
{
	char path[PATH_MAX], err[IR_ERRMAX];
	unsigned char *buf;
	size_t len;

	memset(st, 0, sizeof *st);
	snprintf(path, sizeof path, "%s/policy", dir);
	if (ir_read_file(path, &buf, &len, 4096, err) != IR_OK)
		return;         /* first run */
	if (ir_scale_state_parse((char *)buf, st, err) != IR_OK)
		ir_warn("%s: %s (starting the cooldown over)", path, err);
	free(buf);
}

static void
save_state(const char *dir, const struct ir_scale_state *st)
{
	char path[PATH_MAX], err[IR_ERRMAX], buf[512];
	int n = ir_scale_state_format(st, buf, sizeof buf);

	snprintf(path, sizeof path, "%s/policy", dir);
	if (ir_write_file_atomic(path, buf, n, err) != IR_OK)
		ir_warn("%s", err);
}

struct opts {
	struct ir_scale_policy pol;
	int dry, verbose;
	double interval;   /* < 0: one decision */
	double hold_until; /* loop: no scale-out before (workers failing) */
	double backoff;    /* its next length, seconds */
};

/*
 * One decision: count, read the queue, decide, act. Returns an exit code
 * (0 or 75) and fills line with the log line (without the program name).
 */
static int
tick(struct opts *o, struct ir_act *a, struct ir_queue *q,
    const char *statedir, struct ir_scale_state *st, char *line, size_t len)
{
	static int ids[IR_ACT_MAXID];
	struct ir_scale_decision d;
	char err[IR_ERRMAX], extra[IR_ERRMAX + 64] = "";
	long vis, inf;
	int n, done, r, bad, status = 0;
	double t = now_s();

	/*
	 * A worker that exits 2 (bad gallery, model, URL) or cannot run
	 * would only fail again: hold scale-out back, 1 s doubling to 60 s,
	 * instead of starting workers at every tick.
	 */
	if ((bad = ir_act_reap(&status)) > 0) {
		ir_warn("%d worker%s exited with status %d (a restart will "
		    "not help): no new worker for %.0f s", bad, bad > 1 ?
		    "s" : "", status, o->backoff);
		o->hold_until = t + o->backoff;
		o->backoff = o->backoff * 2 > 60 ? 60 : o->backoff * 2;
	} else if (o->hold_until && t > o->hold_until + 60) {
		o->hold_until = 0;      /* a minute without failures */
		o->backoff = 1;
	}
	if ((r = ir_act_list(a, ids, &n, err)) != IR_OK) {
		snprintf(line, len, "cannot count workers: %s", err);
		return IR_EXIT_TEMPFAIL;
	}
	if ((r = ir_queue_depth(q, &vis, &inf, err)) != IR_OK) {
		snprintf(line, len, "cannot read the queue depth: %s", err);
		return IR_EXIT_TEMPFAIL;
	}
	ir_scale_decide(&o->pol, st, vis, inf, n, t, &d);
	r = IR_EXIT_OK;
	if (o->dry) {
		if (d.action == IR_SCALE_OUT)
			snprintf(extra, sizeof extra, " start=%d", d.delta);
		else if (d.action == IR_SCALE_IN)
			snprintf(extra, sizeof extra, " stop=%d", -d.delta);
	} else if (d.action == IR_SCALE_OUT && t < o->hold_until) {
		snprintf(extra, sizeof extra, " started=0 held=%.0fs",
		    o->hold_until - t);
	} else if (d.action == IR_SCALE_OUT) {
		r = ir_act_start(a, ids, n, d.delta, &done, err);
		snprintf(extra, sizeof extra, " started=%d", done);
	} else if (d.action == IR_SCALE_IN) {
		r = ir_act_stop(a, ids, n, -d.delta, &done, err);
		snprintf(extra, sizeof extra, " stopped=%d", done);
	}
	if (r != IR_OK) {
		size_t k = strlen(extra);

		snprintf(extra + k, sizeof extra - k, " error=\"%s\"", err);
		r = IR_EXIT_TEMPFAIL;
	}
	if (d.action == IR_SCALE_WAIT && d.wait_s > 0)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		    " cooldown=%.1fs", d.wait_s);
	snprintf(line, len,
	    "visible=%ld inflight=%ld workers=%d desired=%d action=%s%s",
	    d.visible, d.inflight, d.workers, d.desired,
	    ir_scale_action_name(d.action), extra);
	if (!o->dry)
		save_state(statedir, st);
	return r;
}

/*
 * -D: the loop is over; stop every worker (each finishes its batch) and,
 * for local workers, wait until all have exited, reaping them.
 */
static int
drain_all(struct ir_act *a)
{
	static int ids[IR_ACT_MAXID];
	char err[IR_ERRMAX];
	int n, done;

	a->stop_busy = 1;               /* SIGTERM: each finishes its batch */
	signal(SIGTERM, SIG_DFL);       /* a second TERM ends the wait */
	signal(SIGINT, SIG_DFL);
	if (ir_act_list(a, ids, &n, err) != IR_OK ||
	    ir_act_stop(a, ids, n, n, &done, err) != IR_OK) {
		ir_warn("drain: %s", err);
		return IR_EXIT_TEMPFAIL;
	}
	ir_warn("drain: stopping %d workers", done);
	while (a->kind == IR_ACT_LOCAL) {
		ir_act_reap(NULL);
		if (ir_act_list(a, ids, &n, err) != IR_OK) {
			ir_warn("drain: %s", err);
			return IR_EXIT_TEMPFAIL;
		}
		if (n > 0)      /* started just now: stop those too */
			ir_act_stop(a, ids, n, n, &done, err);
		if (ir_act_occupied() == 0)
			break;
		usleep(50000);
	}
	return IR_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct ir_act a;
	struct ir_queue *q;
	struct ir_scale_state st;
	char err[IR_ERRMAX], line[2 * IR_ERRMAX], last[2 * IR_ERRMAX] = "";
	const char *qflag = NULL, *actname = "local", *statedir = NULL;
	char *qurl, *sdir;
	int c, maxset = 0, lockfd, r = 0, drain = 0, wfd;
	long cpus;
	double quiet_until = 0;
	char **wargs;
	int nwargs = 0;

	ir_setprog(argv[0]);
	memset(&o, 0, sizeof o);
	memset(&a, 0, sizeof a);
	o.pol.target = 1;
	o.pol.min = 0;
	o.pol.max = 19;
	o.pol.cooldown_s = 30;
	o.interval = -1;
	o.backoff = 1;
	a.idle_s = -1;
	a.command = (char *)ir_getenv("IR_WORKER_COMMAND", "ir-classify -w");
	wargs = ir_xcalloc(argc * 2 + 1, sizeof *wargs);

	while ((c = getopt(argc, argv, "a:c:Dg:hi:l:L:m:M:no:q:s:S:t:T:vw:"))
	    != -1) {
		switch (c) {
		case 'a': actname = optarg; break;
		case 'D': drain = 1; break;
		case 'L': a.logfile = optarg; break;
		case 'c': o.pol.cooldown_s = parse_secs(optarg, "cooldown");
			break;
		case 'i': a.idle_s = parse_secs(optarg, "idle time"); break;
		case 'l': o.interval = parse_secs(optarg, "interval");
			if (o.interval < 0.01)
				ir_die(IR_EXIT_USAGE,
				    "bad interval: %s (at least 0.01 s)",
				    optarg);
			break;
		case 'm': o.pol.min = parse_long(optarg, "minimum", 0,
			    IR_ACT_MAXID);
			break;
		case 'M': o.pol.max = parse_long(optarg, "maximum", 0,
			    IR_ACT_MAXID);
			maxset = 1;
			break;
		case 'n': o.dry = 1; break;
		case 'q': qflag = optarg; break;
		case 'S': statedir = optarg; break;
		case 't': o.pol.target = parse_long(optarg, "target", 1,
			    LONG_MAX);
			break;
		case 'v': o.verbose = 1; break;
		case 'w': a.command = optarg; break;
		case 'g': case 'o': case 's': case 'T':
			/* handed to local workers as they are */
			wargs[nwargs++] = c == 'g' ? "-g" : c == 'o' ? "-o" :
			    c == 's' ? "-s" : "-T";
			wargs[nwargs++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if (!strcmp(actname, "local"))
		a.kind = IR_ACT_LOCAL;
	else if (!strcmp(actname, "systemd"))
		a.kind = IR_ACT_SYSTEMD;
	else if (!strncmp(actname, "exec:", 5) && actname[5]) {
		a.kind = IR_ACT_EXEC;
		a.command = (char *)actname + 5;
	} else
		ir_die(IR_EXIT_USAGE,
		    "bad actuator: %s (local, systemd or exec:CMD)", actname);
	if (a.kind == IR_ACT_LOCAL && !maxset) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		o.pol.max = cpus > 0 ? (int)cpus : 1;
		if (o.pol.min > o.pol.max)
			o.pol.max = o.pol.min;
	}
	if (!*a.command)
		ir_die(IR_EXIT_USAGE, "empty worker command");
	if (ir_scale_policy_check(&o.pol, err) != IR_OK)
		ir_die(IR_EXIT_USAGE, "%s", err);
	a.wargs = wargs;
	a.nwargs = nwargs;
	a.persistent = o.pol.min;
	if (qflag) {
		/* workers take the same queue */
		wargs[nwargs++] = "-q";
		wargs[nwargs++] = (char *)qflag;
		a.nwargs = nwargs;
	}

	/* the state folder: -S, $IR_SCALE_STATE, else STATE/scale */
	if (!statedir)
		statedir = ir_getenv("IR_SCALE_STATE", NULL);
	if (statedir)
		sdir = ir_xstrdup(statedir);
	else {
		const char *base = ir_getenv("IR_STATE", "run");
		size_t n = strlen(base) + 8;

		sdir = ir_xmalloc(n);
		snprintf(sdir, n, "%s/scale", base);
	}
	if (!(a.statedir = ir_abspath(sdir)))
		ir_die(IR_EXIT_TEMPFAIL, "%s: %s", sdir, strerror(errno));
	if (mkdir_p(a.statedir) < 0)
		ir_die(IR_EXIT_TEMPFAIL, "cannot create %s: %s", a.statedir,
		    strerror(errno));

	qurl = ir_role_url(IR_ROLE_REQUESTS, qflag);
	if ((r = ir_queue_open(qurl, NULL, &q, err)) != IR_OK)
		ir_die(r == IR_EINVAL ? IR_EXIT_USAGE : IR_EXIT_TEMPFAIL,
		    "cannot open queue %s: %s", qurl, err);

	lockfd = o.dry ? -1 : take_lock(a.statedir);
	a.readonly = o.dry;
	a.lockfd = lockfd;
	load_state(a.statedir, &st);

	if (o.interval < 0) {
		r = tick(&o, &a, q, a.statedir, &st, line, sizeof line);
		if (o.dry)
			printf("%s\n", line);
		if (!o.dry || r != IR_EXIT_OK)
			ir_warn("%s", line);
		goto done;
	}

	{
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;      /* no SA_RESTART: cut a wait */
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	wfd = watch_queue(ir_queue_url(q));
	signal(SIGPIPE, SIG_IGN);
	while (!stopping) {
		double t0 = now_s(), left;
		char *cd;
		size_t keylen;

		r = tick(&o, &a, q, a.statedir, &st, line, sizeof line);
		/* one line per decision that changes something (the cooldown
		 * counting down is no change); the same line again only with
		 * -v or once a minute */
		if (!(cd = strstr(line, " cooldown=")))
			cd = strstr(line, " held=");
		keylen = cd ? (size_t)(cd - line) : strlen(line);
		if (o.verbose || strlen(last) != keylen ||
		    strncmp(line, last, keylen) || t0 >= quiet_until) {
			if (o.dry)
				printf("%s\n", line), fflush(stdout);
			else
				ir_warn("%s", line);
			snprintf(last, sizeof last, "%.*s", (int)keylen, line);
			quiet_until = t0 + 60;
		}
		left = o.interval - (now_s() - t0);
		wait_for(wfd, left);
	}
	if (wfd >= 0)
		close(wfd);
	r = IR_EXIT_OK;
	if (drain && !o.dry)
		r = drain_all(&a);
done:
	ir_queue_close(q);
	if (lockfd >= 0)
		close(lockfd);
	free(qurl);
	free(sdir);
	free(a.statedir);
	free(wargs);
	return r;
}
