/*
 * actuator.c: ir-scale's actuators: count, start and stop workers as local
 * processes, as instances of the systemd template unit ir-worker@.service,
 * or through a user command (CMD list | start ID... | stop ID...).
 *
 * Local workers live in STATEDIR/workers/: N.pid holds "PID STARTTIME" (the
 * start time in clock ticks from /proc/PID/stat, so a reused pid is never
 * taken for a worker), N.stop marks a worker told to stop (it finishes its
 * batch; it no longer counts, but its slot stays taken until it is gone),
 * N.state is the worker's own "idle"/"busy" if it writes one
 * ($IR_WORKER_STATE). The pid file is written by the child itself before
 * it execs, while it still holds the caller's lock (inherited, closed on
 * exec), so a scaler killed at any moment never loses a worker: the next
 * run reads the folder and /proc and sees the true number.
 *
 * Invariant: this file never prints; errors go to err.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scale.h"

/* Slots taken by workers that are stopping (or units deactivating). */
static unsigned char occupied[IR_ACT_MAXID + 1];

int
ir_proc_start(long pid, unsigned long long *start, char *state)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return errno == ENOENT || errno == ESRCH ? IR_ENOENT : IR_ESYS;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the
	 * last ')' */
	if (!(p = strrchr(buf, ')')))
		return IR_ESYS;
	p++;
	while (*p == ' ')
		p++;
	if (state)
		*state = *p;
	/* p is at field 3 (state); the start time is field 22 */
	for (field = 3; field < 22 && *p; field++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	if (!*p || !isdigit((unsigned char)*p))
		return IR_ESYS;
	v = strtoull(p, NULL, 10);
	*start = v;
	return IR_OK;
}

int
ir_act_occupied(void)
{
	int i, n = 0;

	for (i = 1; i <= IR_ACT_MAXID; i++)
		n += occupied[i] != 0;
	return n;
}

int
ir_act_reap(int *status)
{
	int st, bad = 0;

	while (waitpid(-1, &st, WNOHANG) > 0) {
		if (WIFEXITED(st) && (WEXITSTATUS(st) == 2 ||
		    WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127)) {
			bad++;
			if (status)
				*status = WEXITSTATUS(st);
		}
	}
	return bad;
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Runs argv, stdout into a malloc'd *out (may be NULL to discard). */
static int
run(char *const argv[], char **out, char *err)
{
	int pfd[2], st;
	pid_t pid;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ir_syserr(err, "pipe");
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return ir_syserr(err, "fork");
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = ir_xrealloc(buf, cap);
		}
		r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += r;
	}
	close(pfd[0]);
	buf = buf ? buf : ir_xmalloc(1);
	buf[len] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			free(buf);
			return ir_syserr(err, "waitpid %s", argv[0]);
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		free(buf);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			return ir_err(err, IR_ETEMP, "%s: cannot run (exit 127)",
			    argv[0]);
		if (WIFEXITED(st))
			return ir_err(err, IR_ETEMP, "%s %s: exit %d", argv[0],
			    argv[1] ? argv[1] : "", WEXITSTATUS(st));
		return ir_err(err, IR_ETEMP, "%s: killed by signal %d",
		    argv[0], WTERMSIG(st));
	}
	if (out)
		*out = buf;
	else
		free(buf);
	return IR_OK;
}

/* Adds ids[] (n of them) to argv after the fixed part, as decimal. */
static char **
argv_with_ids(char *const fixed[], int nfixed, const char *fmt,
    const int *ids, int n)
{
	char **argv = ir_xcalloc(nfixed + n + 1, sizeof *argv);
	int i;

	for (i = 0; i < nfixed; i++)
		argv[i] = ir_xstrdup(fixed[i]);
	for (i = 0; i < n; i++) {
		char b[64];

		snprintf(b, sizeof b, fmt, ids[i]);
		argv[nfixed + i] = ir_xstrdup(b);
	}
	return argv;
}

static void
argv_free(char **argv)
{
	char **p;

	for (p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* ---- local processes ---- */

static char *
wpath(const struct ir_act *a, int id, const char *ext)
{
	char *p;
	size_t n = strlen(a->statedir) + 64;

	p = ir_xmalloc(n);
	if (id > 0)
		snprintf(p, n, "%s/workers/%d.%s", a->statedir, id, ext);
	else
		snprintf(p, n, "%s/workers", a->statedir);
	return p;
}

static int
mkdirs(const char *path, char *err)
{
	char *p = ir_xstrdup(path), *s;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int r = ir_syserr(err, "cannot create %s", p);

			free(p);
			return r;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		int r = ir_syserr(err, "cannot create %s", p);

		free(p);
		return r;
	}
	free(p);
	return IR_OK;
}

static void
local_forget(const struct ir_act *a, int id)
{
	static const char *ext[] = { "pid", "stop", "state" };
	size_t i;

	for (i = 0; i < sizeof ext / sizeof *ext; i++) {
		char *p = wpath(a, id, ext[i]);

		unlink(p);
		free(p);
	}
}

/* Reads N.pid: 1 alive (pid set), 0 gone. */
static int
local_alive(const struct ir_act *a, int id, long *pidp)
{
	char *p = wpath(a, id, "pid");
	unsigned char *buf = NULL;
	size_t len;
	long pid;
	unsigned long long want, have;
	char state;
	int r;

	r = ir_read_file(p, &buf, &len, 256, NULL);
	free(p);
	if (r != IR_OK)
		return 0;
	r = sscanf((char *)buf, "%ld %llu", &pid, &want);
	free(buf);
	if (r != 2 || pid <= 1)
		return 0;
	if (ir_proc_start(pid, &have, &state) != IR_OK || have != want)
		return 0;
	if (state == 'Z' || state == 'X') {
		waitpid((pid_t)pid, NULL, WNOHANG);  /* ours, or init's */
		return 0;
	}
	*pidp = pid;
	return 1;
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int
local_list(struct ir_act *a, int *ids, int *n, char *err)
{
	char *dir = wpath(a, 0, NULL), *end;
	DIR *d;
	struct dirent *e;
	long id, pid;
	int r;

	*n = 0;
	if ((r = mkdirs(dir, err)) != IR_OK) {
		free(dir);
		return r;
	}
	if (!(d = opendir(dir))) {
		r = ir_syserr(err, "cannot open %s", dir);
		free(dir);
		return r;
	}
	while ((e = readdir(d))) {
		char *stop;

		errno = 0;
		id = strtol(e->d_name, &end, 10);
		if (end == e->d_name || strcmp(end, ".pid") || id < 1 ||
		    id > IR_ACT_MAXID)
			continue;
		if (!local_alive(a, (int)id, &pid)) {
			if (!a->readonly)
				local_forget(a, (int)id);
			continue;
		}
		occupied[id] = 1;
		stop = wpath(a, (int)id, "stop");
		if (!exists(stop) && *n < IR_ACT_MAXID)
			ids[(*n)++] = (int)id;
		free(stop);
	}
	closedir(d);
	free(dir);
	qsort(ids, *n, sizeof *ids, cmp_int);
	return IR_OK;
}

/* In the child: write N.pid, then exec the worker. Never returns. */
static void
local_child(struct ir_act *a, int id, int pfd)
{
	char *pidpath = wpath(a, id, "pid"), *statep = wpath(a, id, "state");
	char buf[96], idbuf[16], idle[32], cerr[IR_ERRMAX];
	unsigned long long start;
	char **argv, *cmd;
	int nul, i, k, e;
	size_t clen;

	setsid();
	if ((nul = open("/dev/null", O_RDONLY)) >= 0)
		dup2(nul, 0);
	if (a->logfile) {
		int lfd = open(a->logfile, O_WRONLY | O_APPEND | O_CREAT, 0644);

		if (lfd < 0)
			goto fail;
		dup2(lfd, 1);
		dup2(lfd, 2);
		if (lfd > 2)
			close(lfd);
	}
	if (ir_proc_start(getpid(), &start, NULL) != IR_OK)
		goto fail;
	snprintf(buf, sizeof buf, "%ld %llu\n", (long)getpid(), start);
	if (ir_write_file_atomic(pidpath, buf, strlen(buf), cerr) != IR_OK)
		goto fail;
	snprintf(idbuf, sizeof idbuf, "%d", id);
	setenv("IR_WORKER_ID", idbuf, 1);
	setenv("IR_WORKER_STATE", statep, 1);
	unlink(statep);

	/* sh -c 'exec COMMAND "$@"' ir-worker WARGS... (-P | -i IDLE) */
	clen = strlen(a->command) + 16;
	cmd = ir_xmalloc(clen);
	snprintf(cmd, clen, "exec %s \"$@\"", a->command);
	argv = ir_xcalloc(a->nwargs + 8, sizeof *argv);
	k = 0;
	argv[k++] = "sh";
	argv[k++] = "-c";
	argv[k++] = cmd;
	argv[k++] = "ir-worker";
	for (i = 0; i < a->nwargs; i++)
		argv[k++] = a->wargs[i];
	if (id <= a->persistent)
		argv[k++] = "-P";
	else if (a->idle_s >= 0) {
		snprintf(idle, sizeof idle, "%g", a->idle_s);
		argv[k++] = "-i";
		argv[k++] = idle;
	}
	argv[k] = NULL;
	execv("/bin/sh", argv);
fail:
	e = errno ? errno : EIO;
	unlink(pidpath);
	if (write(pfd, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

static int
local_start(struct ir_act *a, const int *ids, int n, int count,
    int *started, char *err)
{
	int slot = 1, i, pfd[2], e;
	ssize_t r;
	pid_t pid;

	*started = 0;
	for (i = 0; i < n; i++)
		occupied[ids[i]] = 1;
	while (*started < count) {
		while (slot <= IR_ACT_MAXID && occupied[slot])
			slot++;
		if (slot > IR_ACT_MAXID)
			return ir_err(err, IR_EINVAL, "no free worker slot");
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return ir_syserr(err, "pipe");
		if ((pid = fork()) < 0) {
			close(pfd[0]);
			close(pfd[1]);
			return ir_syserr(err, "fork");
		}
		if (pid == 0) {
			close(pfd[0]);
			local_child(a, slot, pfd[1]);
		}
		close(pfd[1]);
		do
			r = read(pfd[0], &e, sizeof e);
		while (r < 0 && errno == EINTR);
		close(pfd[0]);
		if (r == sizeof e) {
			waitpid(pid, NULL, 0);
			errno = e;
			return ir_syserr(err, "cannot start worker %d", slot);
		}
		occupied[slot] = 1;
		(*started)++;
	}
	return IR_OK;
}

/* A worker's own word on what it does: 'i'dle, 'b'usy or '?'. */
static char
local_state(const struct ir_act *a, int id)
{
	char *p = wpath(a, id, "state");
	unsigned char *buf = NULL;
	size_t len;
	char c = '?';

	if (ir_read_file(p, &buf, &len, 64, NULL) == IR_OK) {
		if (!strncmp((char *)buf, "idle", 4))
			c = 'i';
		else if (!strncmp((char *)buf, "busy", 4))
			c = 'b';
		free(buf);
	}
	free(p);
	return c;
}

static int
local_stop(struct ir_act *a, const int *ids, int n, int count,
    int *stopped, char *err)
{
	int pass, i;
	long pid;

	*stopped = 0;
	/* idle ones first, then those that say nothing; never busy ones */
	for (pass = 0; pass < 2 && *stopped < count; pass++) {
		for (i = n - 1; i >= 0 && *stopped < count; i--) {
			char st = local_state(a, ids[i]), *stop, mark[32];

			if (st == 'b' && !a->stop_busy)
				continue;
			if ((pass == 0) != (st == 'i'))
				continue;
			if (!local_alive(a, ids[i], &pid))
				continue;
			stop = wpath(a, ids[i], "stop");
			snprintf(mark, sizeof mark, "%lld\n",
			    (long long)time(NULL));
			if (ir_write_file_atomic(stop, mark, strlen(mark),
			    err) != IR_OK) {
				free(stop);
				return IR_ESYS;
			}
			free(stop);
			if (kill((pid_t)pid, SIGTERM) < 0 && errno != ESRCH)
				return ir_syserr(err, "kill %ld", pid);
			(*stopped)++;
		}
	}
	return IR_OK;
}

/* ---- systemd template units ---- */

static int
systemd_list(struct ir_act *a, int *ids, int *n, char *err)
{
	char *argv[] = { "systemctl", "list-units", "ir-worker@*",
	    "--state=active,activating,deactivating", "--plain",
	    "--no-legend", "--no-pager", NULL };
	char *out = NULL, *line, *save = NULL;
	int r;

	*n = 0;
	if ((r = run(argv, &out, err)) != IR_OK)
		return r;
	for (line = strtok_r(out, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char unit[256], load[64], active[64];
		long id;
		char *end;

		if (sscanf(line, " %255s %63s %63s", unit, load, active) != 3)
			continue;
		if (strncmp(unit, "ir-worker@", 10))
			continue;
		id = strtol(unit + 10, &end, 10);
		if (end == unit + 10 || strcmp(end, ".service") || id < 1 ||
		    id > IR_ACT_MAXID)
			continue;
		occupied[id] = 1;
		if ((!strcmp(active, "active") || !strcmp(active,
		    "activating")) && *n < IR_ACT_MAXID)
			ids[(*n)++] = (int)id;
	}
	free(out);
	qsort(ids, *n, sizeof *ids, cmp_int);
	return IR_OK;
}

/* The lowest count free slots, given occupied[] and ids. */
static int *
free_slots(const int *ids, int n, int count)
{
	int *s = ir_xcalloc(count ? count : 1, sizeof *s), k = 0, slot, i;

	for (i = 0; i < n; i++)
		occupied[ids[i]] = 1;
	for (slot = 1; slot <= IR_ACT_MAXID && k < count; slot++)
		if (!occupied[slot])
			s[k++] = slot;
	return s;
}

static int
systemd_startstop(const char *verb, const int *which, int k, char *err)
{
	char *fixed[] = { "systemctl", (char *)verb, "--no-block" };
	char **argv;
	int r;

	/* start waits (a Type=exec unit is up once the worker runs, so the
	 * next list sees it); stop does not (the worker finishes its batch) */
	argv = argv_with_ids(fixed, strcmp(verb, "stop") ? 2 : 3,
	    "ir-worker@%d.service", which, k);
	r = run(argv, NULL, err);
	argv_free(argv);
	return r;
}

/* ---- a user command ---- */

static char **
exec_argv(const struct ir_act *a, const char *verb, const int *which, int k)
{
	char *cmd, **argv;
	size_t n = strlen(a->command) + 16;
	char *fixed[4];

	cmd = ir_xmalloc(n);
	snprintf(cmd, n, "%s \"$@\"", a->command);
	fixed[0] = "/bin/sh";
	fixed[1] = "-c";
	fixed[2] = cmd;
	fixed[3] = "ir-actuator";
	argv = argv_with_ids(fixed, 4, "%d", which, k);
	free(argv[2]);
	argv[2] = cmd;
	/* insert the verb after $0 */
	argv = ir_xrealloc(argv, (4 + k + 2) * sizeof *argv);
	memmove(argv + 5, argv + 4, (k + 1) * sizeof *argv);
	argv[4] = ir_xstrdup(verb);
	return argv;
}

static int
exec_list(struct ir_act *a, int *ids, int *n, char *err)
{
	char **argv = exec_argv(a, "list", NULL, 0), *out = NULL, *tok, *save;
	char *end;
	long id;
	int r;

	*n = 0;
	r = run(argv, &out, err);
	argv_free(argv);
	if (r != IR_OK)
		return r;
	for (tok = strtok_r(out, " \t\r\n", &save); tok;
	    tok = strtok_r(NULL, " \t\r\n", &save)) {
		id = strtol(tok, &end, 10);
		if (*end || id < 1 || id > IR_ACT_MAXID) {
			r = ir_err(err, IR_ETEMP,
			    "actuator list: not a worker number: %.40s", tok);
			free(out);
			return r;
		}
		if (occupied[id])
			continue;       /* listed twice */
		occupied[id] = 1;
		if (*n < IR_ACT_MAXID)
			ids[(*n)++] = (int)id;
	}
	free(out);
	qsort(ids, *n, sizeof *ids, cmp_int);
	return IR_OK;
}

static int
exec_startstop(struct ir_act *a, const char *verb, const int *which, int k,
    char *err)
{
	char **argv = exec_argv(a, verb, which, k);
	int r = run(argv, NULL, err);

	argv_free(argv);
	return r;
}

/* ---- the interface ---- */

int
ir_act_list(struct ir_act *a, int *ids, int *n, char *err)
{
	memset(occupied, 0, sizeof occupied);
	switch (a->kind) {
	case IR_ACT_LOCAL: return local_list(a, ids, n, err);
	case IR_ACT_SYSTEMD: return systemd_list(a, ids, n, err);
	case IR_ACT_EXEC: return exec_list(a, ids, n, err);
	}
	return ir_err(err, IR_EINVAL, "unknown actuator");
}

int
ir_act_start(struct ir_act *a, const int *ids, int n, int count,
    int *started, char *err)
{
	int *which, r;

	*started = 0;
	if (count <= 0)
		return IR_OK;
	if (a->kind == IR_ACT_LOCAL)
		return local_start(a, ids, n, count, started, err);
	which = free_slots(ids, n, count);
	if (a->kind == IR_ACT_SYSTEMD)
		r = systemd_startstop("start", which, count, err);
	else
		r = exec_startstop(a, "start", which, count, err);
	free(which);
	if (r == IR_OK)
		*started = count;
	return r;
}

int
ir_act_stop(struct ir_act *a, const int *ids, int n, int count,
    int *stopped, char *err)
{
	int *which, k, i, r;

	*stopped = 0;
	if (count <= 0 || n <= 0)
		return IR_OK;
	if (a->kind == IR_ACT_LOCAL)
		return local_stop(a, ids, n, count, stopped, err);
	k = count < n ? count : n;
	which = ir_xcalloc(k, sizeof *which);
	for (i = 0; i < k; i++)
		which[i] = ids[n - 1 - i];    /* highest numbers first */
	if (a->kind == IR_ACT_SYSTEMD)
		r = systemd_startstop("stop", which, k, err);
	else
		r = exec_startstop(a, "stop", which, k, err);
	free(which);
	if (r == IR_OK)
		*stopped = k;
	return r;
}
