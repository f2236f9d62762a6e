/*
 * spool.c: a message queue with Amazon SQS semantics in a maildir-like
 * directory (format: ir-spool(5)). Many processes may send and receive at
 * once; there is no lock file and no daemon: every state change is one
 * rename(2), which is atomic, so of two processes racing for a message
 * exactly one wins and the loser sees ENOENT and moves on.
 *
 *   tmp/ID                 being written by a sender
 *   new/VVVVVVVVVVVVV.ID.R visible since V (ms), R receives so far
 *   cur/EEEEEEEEEEEEE.ID.R in flight until E (ms), the R-th receive
 *   dead/EEEEEEEEEEEEE.ID.R   dead letter (+ NAME.reason, a text line)
 *   free/ID                a deleted message's file, kept for reuse
 *
 * Invariants:
 *  - a message file's content never changes after it left tmp/ (it was
 *    fsync'ed there), only its name does; the name carries the state, so
 *    a directory scan (no open, no stat) finds expired leases;
 *  - a deleted message's file goes to free/ (up to about FREE_MAX files)
 *    and a sender renames it back into tmp/ and overwrites it, instead of
 *    unlink and create: on ext4 without a journal every create scans past
 *    the inodes deleted in the last minutes, which made a busy spool's
 *    creates cost more the busier it was. A receiver therefore checks,
 *    after reading a message, that its name in cur/ still names the file
 *    it read: if not, its lease ran out meanwhile, the file may be reused,
 *    and the message is left to its new holder;
 *  - the receipt handle is the name in cur/: it names exactly one lease,
 *    so a stale handle (expired and moved on) fails with ENOENT;
 *  - times are wall-clock milliseconds, 13 digits, so names sort by time
 *    and new/ is received oldest first (FIFO-ish: order within one
 *    millisecond and across a redelivery is not kept);
 *  - any receiver sweeps expired leases back to new/ (or to dead/ past the
 *    maximum receive count) before it looks for messages; nothing else
 *    needs to run. A waiting receiver watches new/ (arrivals) and cur/
 *    (leases taken or changed, whose expiry re-arms its timer) with
 *    inotify and sleeps until an event or the earliest expiry.
 * One struct ir_queue must not be used by two threads in receive at once;
 * send, delete, change-visibility and depth only read it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

#define NAMEMAX 64                 /* 13 + 1 + 26 + 1 + 10 + NUL fits */
#define TMP_MAX_AGE_S (60 * 60)    /* a tmp/ file older is a dead send */
#define FREE_MAX 1024              /* free/ files kept for reuse */
#define FREE_CHECK 256             /* deletes between two counts of free/ */

enum { D_TMP, D_NEW, D_CUR, D_DEAD, D_FREE, ND };
static const char *const dname[ND] = { "tmp", "new", "cur", "dead", "free" };

struct spool {
	char *path;
	int dfd[ND];
	int ifd;           /* inotify on new/ and cur/, -1 until the first
			      wait */
	int max_receive;
	char **cache;      /* sorted names of new/ from the last scan */
	size_t ncache, icache;
	unsigned long nsweeps;
	/* The reuse pool; send and delete may run in several threads. */
	pthread_mutex_t lock;
	char **freec;      /* names in free/ from the last scan, not tried */
	size_t nfree, ifree;
	unsigned long ndel;
	int free_full;     /* free/ held FREE_MAX files at the last count */
};

/* A parsed message file name "T.ID.R". */
struct mname {
	int64_t t;
	char id[27];
	int r;
};

static int
parse_name(const char *s, struct mname *m)
{
	char *end;
	const char *dot;
	size_t idlen;
	long r;

	if (strlen(s) >= NAMEMAX || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	m->t = strtoll(s, &end, 10);
	if (errno || *end != '.' || end - s != 13)
		return -1;
	dot = strchr(end + 1, '.');
	if (!dot)
		return -1;
	idlen = dot - (end + 1);
	if (idlen == 0 || idlen > 26)
		return -1;
	memcpy(m->id, end + 1, idlen);
	m->id[idlen] = 0;
	if (strchr(m->id, '/'))
		return -1;
	if (dot[1] < '0' || dot[1] > '9')
		return -1;
	r = strtol(dot + 1, &end, 10);
	if (errno || *end || r < 0 || r > 1000000000)
		return -1;
	m->r = (int)r;
	return 0;
}

static void
fmt_name(char *buf, int64_t t, const char *id, int r)
{
	if (t < 0)
		t = 0;
	snprintf(buf, NAMEMAX, "%013" PRId64 ".%.26s.%d", t, id, r);
}

static int
dir_fsync(int dfd)
{
	return fsync(dfd) < 0 && errno != EINVAL ? -1 : 0;
}

/* A free/ file's name: a message id (26 characters of base32). */
static int
is_id(const char *s)
{
	return strlen(s) == 26 && strspn(s, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
	    == 26;
}

/*
 * Reads the names in a subfolder that parse as message names (in free/:
 * that are message ids).
 */
static int
list_dir(struct spool *sp, int which, char ***names, size_t *n, char *err)
{
	int fd = openat(sp->dfd[which], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = 0;
	struct dirent *e;
	struct mname m;
	DIR *d;

	*names = NULL;
	*n = 0;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ir_syserr(err, "cannot read %s/%s", sp->path,
		    dname[which]);
	}
	while ((e = readdir(d))) {
		if (which == D_FREE ? !is_id(e->d_name) :
		    parse_name(e->d_name, &m) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*names = ir_xrealloc(*names, cap * sizeof **names);
		}
		(*names)[(*n)++] = ir_xstrdup(e->d_name);
	}
	closedir(d);
	return IR_OK;
}

static void
free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Moves a message whose lease ran out to dead/ and notes why. */
static void
bury(struct spool *sp, const char *name, const struct mname *m)
{
	char tmp[NAMEMAX + 32], reason[NAMEMAX + 8], line[160];
	int fd, n;

	if (renameat(sp->dfd[D_CUR], name, sp->dfd[D_DEAD], name) < 0)
		return; /* ENOENT: its holder or another sweeper was first */
	snprintf(tmp, sizeof tmp, "%s.reason.%ld", m->id, (long)getpid());
	snprintf(reason, sizeof reason, "%s.reason", name);
	n = snprintf(line, sizeof line,
	    "maximum receive count exceeded: received %d times, maximum %d\n",
	    m->r, sp->max_receive);
	fd = openat(sp->dfd[D_TMP], tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, n) != n || fsync(fd) < 0) {
		close(fd);
		unlinkat(sp->dfd[D_TMP], tmp, 0);
		return;
	}
	close(fd);
	if (renameat(sp->dfd[D_TMP], tmp, sp->dfd[D_DEAD], reason) < 0)
		unlinkat(sp->dfd[D_TMP], tmp, 0);
}

/* Removes tmp/ files left by senders that died mid-write. */
static void
sweep_tmp(struct spool *sp)
{
	int fd = openat(sp->dfd[D_TMP], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (fd < 0)
		return;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(sp->dfd[D_TMP], e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - st.st_mtime > TMP_MAX_AGE_S)
			unlinkat(sp->dfd[D_TMP], e->d_name, 0);
	}
	closedir(d);
}

/*
 * Returns expired leases to new/ (or dead/ past the maximum receive
 * count); *next is set to the earliest lease expiry still ahead (ms), or
 * -1 when nothing is in flight.
 */
static int
sweep(struct spool *sp, int64_t *next, char *err)
{
	int64_t now = ir_unix_ms();
	char **names, to[NAMEMAX];
	struct mname m;
	size_t i, n;
	int rc;

	*next = -1;
	if (sp->nsweeps++ % 256 == 0)
		sweep_tmp(sp);
	if ((rc = list_dir(sp, D_CUR, &names, &n, err)) != IR_OK)
		return rc;
	for (i = 0; i < n; i++) {
		parse_name(names[i], &m);
		if (m.t > now) {
			if (*next < 0 || m.t < *next)
				*next = m.t;
			continue;
		}
		if (sp->max_receive > 0 && m.r >= sp->max_receive) {
			bury(sp, names[i], &m);
			continue;
		}
		fmt_name(to, m.t, m.id, m.r);
		/* ENOENT: deleted, extended or swept by someone else. */
		renameat(sp->dfd[D_CUR], names[i], sp->dfd[D_NEW], to);
	}
	free_names(names, n);
	return IR_OK;
}

/*
 * Reads a message file; *ino is its inode number. -1 with errno set on
 * error.
 */
static int
read_at(int dfd, const char *name, char **body, size_t *len, ino_t *ino)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	struct stat st;
	char *b;
	ssize_t r;

	if (fd < 0)
		return -1;
	b = ir_xmalloc(cap + 1);
	for (;;) {
		if (n == cap)
			b = ir_xrealloc(b, (cap *= 2) + 1);
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(b);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += r;
	}
	st.st_ino = 0;
	fstat(fd, &st);
	*ino = st.st_ino;
	close(fd);
	b[n] = 0;
	*body = b;
	*len = n;
	return 0;
}

static int
rescan(struct spool *sp, char *err)
{
	int rc;

	free_names(sp->cache, sp->ncache);
	sp->cache = NULL;
	sp->ncache = sp->icache = 0;
	if ((rc = list_dir(sp, D_NEW, &sp->cache, &sp->ncache, err)) != IR_OK)
		return rc;
	if (sp->ncache > 1)
		qsort(sp->cache, sp->ncache, sizeof *sp->cache, cmp_name);
	return IR_OK;
}

/*
 * Takes up to max visible messages, oldest first, from the names cached
 * by the last scan (scanning again when they run out). Renaming into cur/
 * is the lock.
 */
static int
grab(struct spool *sp, struct ir_msg *msgs, int max, int vis, int *got,
    char *err)
{
	char to[NAMEMAX];
	struct mname m;
	struct stat st;
	int scanned = 0, rc;
	ino_t ino;

	for (;;) {
		if (sp->icache >= sp->ncache) {
			if (scanned || *got > 0)
				return IR_OK;
			if ((rc = rescan(sp, err)) != IR_OK)
				return rc;
			scanned = 1;
			if (sp->ncache == 0)
				return IR_OK;
		}
		while (sp->icache < sp->ncache && *got < max) {
			const char *name = sp->cache[sp->icache++];
			struct ir_msg *msg = &msgs[*got];

			parse_name(name, &m);
			fmt_name(to, ir_unix_ms() + (int64_t)vis * 1000, m.id,
			    m.r + 1);
			if (renameat(sp->dfd[D_NEW], name, sp->dfd[D_CUR],
			    to) < 0) {
				if (errno == ENOENT)
					continue; /* another receiver won */
				if (*got > 0)
					return IR_OK;
				return ir_syserr(err, "cannot rename %s/new/%s",
				    sp->path, name);
			}
			if (read_at(sp->dfd[D_CUR], to, &msg->body,
			    &msg->len, &ino) < 0) {
				/* ENOENT: a zero lease already swept back. */
				if (errno == ENOENT)
					continue;
				if (*got > 0)
					return IR_OK;
				return ir_syserr(err, "cannot read %s/cur/%s",
				    sp->path, to);
			}
			/*
			 * Still our lease? Otherwise the file may have been
			 * deleted and reused while we read it.
			 */
			if (fstatat(sp->dfd[D_CUR], to, &st,
			    AT_SYMLINK_NOFOLLOW) < 0 || st.st_ino != ino) {
				free(msg->body);
				msg->body = NULL;
				continue;
			}
			msg->handle = ir_xstrdup(to);
			msg->id = ir_xstrdup(m.id);
			msg->receive_count = m.r + 1;
			(*got)++;
		}
		if (*got >= max)
			return IR_OK;
	}
}

static int
watch(struct spool *sp, char *err)
{
	char p[4096];

	sp->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sp->ifd < 0)
		return ir_syserr(err, "inotify");
	/* new/: arrivals. cur/: leases taken or changed by others, whose
	 * expiry must re-arm the timer of a receiver already waiting. */
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/%s", sp->path, i ? "cur" : "new");
		if (inotify_add_watch(sp->ifd, p, IN_MOVED_TO |
		    IN_CLOSE_WRITE) < 0) {
			int rc = ir_syserr(err, "cannot watch %s", p);
			close(sp->ifd);
			sp->ifd = -1;
			return rc;
		}
	}
	return IR_OK;
}

static void
drain(struct spool *sp)
{
	char buf[4096] __attribute__((aligned(8)));

	while (read(sp->ifd, buf, sizeof buf) > 0)
		;
}

static int
spool_receive(struct ir_queue *q, struct ir_msg *msgs, int max, int wait_s,
    int vis, int *n, char *err)
{
	struct spool *sp = q->impl;
	double deadline = ir_now_ms() + wait_s * 1000.0;
	int64_t next;
	int rc;

	*n = 0;
	for (;;) {
		if (sp->ifd >= 0)
			drain(sp);
		if ((rc = sweep(sp, &next, err)) != IR_OK)
			return rc;
		if ((rc = grab(sp, msgs, max, vis, n, err)) != IR_OK || *n > 0)
			return rc;
		double left = deadline - ir_now_ms();
		if (left <= 0)
			return IR_OK;
		if (sp->ifd < 0) {
			/* Watch first, then look again: no arrival is missed. */
			if ((rc = watch(sp, err)) != IR_OK)
				return rc;
			continue;
		}
		if (next >= 0 && next - ir_unix_ms() + 1 < left)
			left = next - ir_unix_ms() + 1;
		struct pollfd pfd = { .fd = sp->ifd, .events = POLLIN };
		if (poll(&pfd, 1, left < 0 ? 0 : (int)left + 1) < 0 &&
		    errno != EINTR)
			return ir_syserr(err, "poll");
	}
}

/*
 * Claims a file of free/ for a send: renames it to tmp/NAME and opens it
 * for writing. Lists free/ again when the names of the last listing are
 * used up, at most once per send call (*scanned). Returns the descriptor,
 * or -1 when there is no file to reuse (the caller creates one).
 */
static int
reuse(struct spool *sp, const char *name, int *scanned)
{
	char f[32], err[IR_ERRMAX];
	int fd, have;

	for (;;) {
		pthread_mutex_lock(&sp->lock);
		if (sp->ifree >= sp->nfree && !*scanned) {
			free_names(sp->freec, sp->nfree);
			sp->freec = NULL;
			sp->nfree = sp->ifree = 0;
			*scanned = 1;
			if (list_dir(sp, D_FREE, &sp->freec, &sp->nfree,
			    err) != IR_OK)
				sp->nfree = 0;
		}
		if ((have = sp->ifree < sp->nfree))
			snprintf(f, sizeof f, "%s", sp->freec[sp->ifree++]);
		pthread_mutex_unlock(&sp->lock);
		if (!have)
			return -1;
		if (renameat(sp->dfd[D_FREE], f, sp->dfd[D_TMP], name) == 0)
			break;
		if (errno != ENOENT)
			return -1;
		/* ENOENT: another sender took it first. */
	}
	if ((fd = openat(sp->dfd[D_TMP], name, O_WRONLY | O_CLOEXEC)) < 0)
		unlinkat(sp->dfd[D_TMP], name, 0);
	return fd;
}

/* Counts the files in free/, up to FREE_MAX. */
static size_t
count_free(struct spool *sp)
{
	int fd = openat(sp->dfd[D_FREE], ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return 0;
	}
	while (n < FREE_MAX && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Ends a deleted message's file: renames cur/HANDLE to free/ID for reuse,
 * or unlinks it when free/ held FREE_MAX files at the last count (one
 * count every FREE_CHECK deletes). Returns -1 with errno set on error.
 */
static int
retire(struct spool *sp, const char *handle, const struct mname *m)
{
	int full;

	pthread_mutex_lock(&sp->lock);
	if (sp->ndel++ % FREE_CHECK == 0)
		sp->free_full = count_free(sp) >= FREE_MAX;
	full = sp->free_full;
	pthread_mutex_unlock(&sp->lock);
	if (full)
		return unlinkat(sp->dfd[D_CUR], handle, 0);
	return renameat(sp->dfd[D_CUR], handle, sp->dfd[D_FREE], m->id);
}

/*
 * Writes every message of the batch in tmp/, then syncs them all, then
 * renames them all into new/ and syncs new/ once (one directory sync per
 * batch, and the file system may write the files together). On an error
 * the messages not yet renamed are removed from tmp/; those renamed stay
 * sent.
 */
static int
spool_send_batch(struct ir_queue *q, const char *const *bodies,
    const size_t *lens, int n, char *err)
{
	struct spool *sp = q->impl;
	char id[IR_QUEUE_MAX_BATCH][27], tmp[IR_QUEUE_MAX_BATCH][48];
	char to[NAMEMAX];
	int fd[IR_QUEUE_MAX_BATCH], i, made = 0, sent = 0, rc = IR_OK;
	int scanned = 0;

	for (i = 0; i < n; i++)
		fd[i] = -1;
	for (i = 0; i < n && rc == IR_OK; i++) {
		ir_make_id(id[i]);
		snprintf(tmp[i], sizeof tmp[i], "%s.%ld", id[i], (long)getpid());
		if ((fd[i] = reuse(sp, tmp[i], &scanned)) < 0)
			fd[i] = openat(sp->dfd[D_TMP], tmp[i], O_WRONLY |
			    O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd[i] < 0) {
			rc = ir_syserr(err, "cannot create %s/tmp/%s", sp->path,
			    tmp[i]);
			break;
		}
		made = i + 1;
		/* A reused file may be longer than this body. */
		if (ir_write_all(fd[i], bodies[i], lens[i]) < 0 ||
		    ftruncate(fd[i], (off_t)lens[i]) < 0)
			rc = ir_syserr(err, "cannot write %s/tmp/%s", sp->path,
			    tmp[i]);
	}
	for (i = 0; i < made && rc == IR_OK && !q->opts.nosync; i++)
		if (fsync(fd[i]) < 0)
			rc = ir_syserr(err, "cannot sync %s/tmp/%s", sp->path,
			    tmp[i]);
	for (i = 0; i < made; i++) {
		if (close(fd[i]) < 0 && rc == IR_OK)
			rc = ir_syserr(err, "cannot write %s/tmp/%s", sp->path,
			    tmp[i]);
	}
	for (i = 0; i < made && rc == IR_OK; i++) {
		fmt_name(to, ir_unix_ms(), id[i], 0);
		if (renameat(sp->dfd[D_TMP], tmp[i], sp->dfd[D_NEW], to) < 0)
			rc = ir_syserr(err, "cannot rename %s/tmp/%s", sp->path,
			    tmp[i]);
		else
			sent = i + 1;
	}
	for (i = sent; i < made; i++)
		unlinkat(sp->dfd[D_TMP], tmp[i], 0);
	if (rc != IR_OK)
		return rc;
	/* The renames are durable once new/ itself is. */
	if (!q->opts.nosync && dir_fsync(sp->dfd[D_NEW]) < 0)
		return ir_syserr(err, "cannot sync %s/new", sp->path);
	return IR_OK;
}

static int
check_handle(const char *h, struct mname *m, char *err)
{
	if (parse_name(h, m) < 0)
		return ir_err(err, IR_EINVAL, "%s: not a spool receipt handle", h);
	return IR_OK;
}

static int
spool_del(struct ir_queue *q, const struct ir_msg *msg, char *err)
{
	struct spool *sp = q->impl;
	struct mname m;
	int rc;

	if ((rc = check_handle(msg->handle, &m, err)) != IR_OK)
		return rc;
	if (retire(sp, msg->handle, &m) < 0) {
		if (errno == ENOENT)
			return ir_err(err, IR_ENOENT,
			    "%s: receipt handle %s: lease expired or message "
			    "already deleted", q->url, msg->handle);
		return ir_syserr(err, "cannot delete %s/cur/%s", sp->path,
		    msg->handle);
	}
	return IR_OK;
}

static int
spool_change_visibility(struct ir_queue *q, const struct ir_msg *msg,
    int vis, char *err)
{
	struct spool *sp = q->impl;
	char to[NAMEMAX];
	struct mname m;
	int rc, dir;

	if ((rc = check_handle(msg->handle, &m, err)) != IR_OK)
		return rc;
	if (vis == 0) {
		/* Visible at once: back to new/, receive count kept. */
		fmt_name(to, ir_unix_ms(), m.id, m.r);
		dir = D_NEW;
	} else {
		fmt_name(to, ir_unix_ms() + (int64_t)vis * 1000, m.id, m.r);
		dir = D_CUR;
	}
	if (renameat(sp->dfd[D_CUR], msg->handle, sp->dfd[dir], to) < 0) {
		if (errno == ENOENT)
			return ir_err(err, IR_ENOENT,
			    "%s: receipt handle %s: lease expired or message "
			    "deleted", q->url, msg->handle);
		return ir_syserr(err, "cannot rename %s/cur/%s", sp->path,
		    msg->handle);
	}
	/* Same length (13 digits of time): the caller keeps its handle. */
	if (dir == D_CUR && strlen(to) == strlen(msg->handle))
		memcpy(msg->handle, to, 13);
	return IR_OK;
}

static int
spool_depth(struct ir_queue *q, long *visible, long *inflight, char *err)
{
	struct spool *sp = q->impl;
	int64_t now = ir_unix_ms();
	char **names;
	struct mname m;
	size_t i, n;
	int rc;

	if ((rc = list_dir(sp, D_NEW, &names, &n, err)) != IR_OK)
		return rc;
	*visible = (long)n;
	free_names(names, n);
	if ((rc = list_dir(sp, D_CUR, &names, &n, err)) != IR_OK)
		return rc;
	for (i = 0; i < n; i++) {
		parse_name(names[i], &m);
		/* An expired lease not yet swept is visible again. */
		if (m.t <= now)
			(*visible)++;
		else
			(*inflight)++;
	}
	free_names(names, n);
	return IR_OK;
}

static void
spool_close(struct ir_queue *q)
{
	struct spool *sp = q->impl;
	int i;

	for (i = 0; i < ND; i++)
		if (sp->dfd[i] >= 0)
			close(sp->dfd[i]);
	if (sp->ifd >= 0)
		close(sp->ifd);
	free_names(sp->cache, sp->ncache);
	free_names(sp->freec, sp->nfree);
	pthread_mutex_destroy(&sp->lock);
	free(sp->path);
	free(sp);
	free(q->url);
	free(q);
}

static const struct ir_queue_ops spool_ops = {
	.send_batch = spool_send_batch,
	.receive = spool_receive,
	.del = spool_del,
	.change_visibility = spool_change_visibility,
	.depth = spool_depth,
	.close = spool_close,
};

/* mkdir -p */
static int
mkdirs(char *path)
{
	char *p;
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
ir_spool_open(const char *path, const struct ir_queue_opts *o,
    struct ir_queue **qp, char *err)
{
	struct spool *sp;
	struct ir_queue *q;
	int i, root;
	size_t n;

	*qp = NULL;
	sp = ir_xcalloc(1, sizeof *sp);
	sp->ifd = -1;
	for (i = 0; i < ND; i++)
		sp->dfd[i] = -1;
	if (!(sp->path = ir_abspath(path))) {
		free(sp);
		return ir_syserr(err, "%s: cannot find the current folder", path);
	}
	sp->max_receive = o ? o->max_receive : 5;
	if (mkdirs(sp->path) < 0) {
		int rc = ir_syserr(err, "cannot create spool %s", sp->path);
		free(sp->path);
		free(sp);
		return rc;
	}
	root = open(sp->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		goto fail;
	for (i = 0; i < ND; i++) {
		if (mkdirat(root, dname[i], 0755) < 0 && errno != EEXIST)
			break;
		sp->dfd[i] = openat(root, dname[i], O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (sp->dfd[i] < 0)
			break;
	}
	if (i < ND) {
		close(root);
		goto fail;
	}
	close(root);
	pthread_mutex_init(&sp->lock, NULL);
	q = ir_xcalloc(1, sizeof *q);
	q->ops = &spool_ops;
	q->impl = sp;
	if (o)
		q->opts = *o;
	if (q->opts.visibility_s <= 0)
		q->opts.visibility_s = 30;
	if (q->opts.max_receive == 0)
		q->opts.max_receive = sp->max_receive = 5;
	n = strlen(sp->path) + 7;
	q->url = ir_xmalloc(n);
	snprintf(q->url, n, "spool:%s", sp->path);
	*qp = q;
	return IR_OK;
fail:;
	int rc = ir_syserr(err, "cannot open spool %s", sp->path);
	for (i = 0; i < ND; i++)
		if (sp->dfd[i] >= 0)
			close(sp->dfd[i]);
	free(sp->path);
	free(sp);
	return rc;
}
