/*
 * dirstore.c: the object store in a directory (dir:PATH or a bare path).
 * Key "a/b/c" is the file ROOT/a/b/c; folders are made as needed and
 * removed again when a delete leaves them empty.
 *
 * Invariants:
 *  - keys reaching here passed ir_store_key_check (store.c), so a key
 *    never leaves ROOT; symbolic links inside ROOT are not followed for
 *    the object itself (O_NOFOLLOW);
 *  - a put writes ROOT/.ir-tmp/RANDOM, fsyncs it and renames it over the
 *    key, so a reader sees the old object or the new one, never a part;
 *    keys whose first segment is ".ir-tmp" are refused;
 *  - a put racing a delete's removal of an empty folder retries.
 * Limits of a file system: a key cannot be both an object and a folder
 * ("a" and "a/b"), and a segment is at most NAME_MAX bytes. The content
 * type is not kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h" /* ir_abspath */
#include "store.h"

#define TMPDIR ".ir-tmp"

struct dirstore {
	char *root;
	int rfd;
};

static int
key_fs_check(const char *key, char *err)
{
	const char *p = key, *s;

	if (strncmp(key, TMPDIR, sizeof TMPDIR - 1) == 0 &&
	    (key[sizeof TMPDIR - 1] == '/' || key[sizeof TMPDIR - 1] == 0))
		return ir_err(err, IR_EINVAL, "%s: reserved key", key);
	for (;;) {
		s = strchr(p, '/');
		if ((s ? (size_t)(s - p) : strlen(p)) > NAME_MAX)
			return ir_err(err, IR_EINVAL,
			    "%s: a segment longer than %d bytes", key, NAME_MAX);
		if (!s)
			return IR_OK;
		p = s + 1;
	}
}

/* Syncs folder dir (relative to the root; "" is the root). */
static void
sync_dir(struct dirstore *ds, const char *dir)
{
	int dfd = openat(ds->rfd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/*
 * Makes the folders of key (all but its last segment) under the root;
 * *made is set to the length of the key's prefix naming the shallowest
 * folder it created (0: none), whose parents' entries need a sync.
 */
static int
make_parents(struct dirstore *ds, const char *key, size_t *made, char *err)
{
	char *k = ir_xstrdup(key), *p;

	for (p = strchr(k, '/'); p; p = strchr(p + 1, '/')) {
		*p = 0;
		if (mkdirat(ds->rfd, k, 0755) == 0) {
			if (*made == 0)
				*made = (size_t)(p - k);
		} else if (errno != EEXIST) {
			int rc = errno == ENOTDIR ?
			    ir_err(err, IR_EINVAL, "%s: %s is an object, not a "
				"folder", key, k) :
			    ir_syserr(err, "cannot create %s/%s", ds->root, k);
			free(k);
			return rc;
		}
		*p = '/';
	}
	free(k);
	return IR_OK;
}

static int
ds_put(struct ir_store *s, const char *key, const void *buf, size_t len,
    const char *ctype, char *err)
{
	struct dirstore *ds = s->impl;
	char id[27], tmp[64];
	int fd, rc, tries;
	size_t made = 0;

	if ((rc = key_fs_check(key, err)) != IR_OK)
		return rc;
	ir_make_id(id);
	snprintf(tmp, sizeof tmp, TMPDIR "/%s.%ld", id, (long)getpid());
	fd = openat(ds->rfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(ds->rfd, TMPDIR, 0755) < 0 && errno != EEXIST)
			return ir_syserr(err, "cannot create %s/%s", ds->root,
			    TMPDIR);
		fd = openat(ds->rfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return ir_syserr(err, "cannot create %s/%s", ds->root, tmp);
	if (ir_write_all(fd, buf, len) < 0 || (!s->nosync && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	for (tries = 0;; tries++) {
		if ((rc = make_parents(ds, key, &made, err)) != IR_OK)
			break;
		if (renameat(ds->rfd, tmp, ds->rfd, key) == 0)
			break;
		/* ENOENT: a delete removed a folder we just made. */
		if (errno == ENOENT && tries < 10)
			continue;
		rc = errno == EISDIR || errno == ENOTEMPTY || errno == ENOTDIR ?
		    ir_err(err, IR_EINVAL, "%s: a folder of other keys is in "
			"the way", key) :
		    ir_syserr(err, "cannot rename into %s/%s", ds->root, key);
		break;
	}
	if (rc != IR_OK) {
		unlinkat(ds->rfd, tmp, 0);
		return rc;
	}
	/*
	 * Make the new name durable: sync the object's folder, then, up from
	 * it, the parent of each folder this put created (a new folder's name
	 * is an entry in its parent).
	 */
	if (!s->nosync) {
		char *k = ir_xstrdup(key), *sl = strrchr(k, '/');

		if (!sl)
			sync_dir(ds, "");
		else {
			*sl = 0;
			sync_dir(ds, k);
			while (made > 0 && strlen(k) >= made) {
				if (!(sl = strrchr(k, '/'))) {
					sync_dir(ds, "");
					break;
				}
				*sl = 0;
				sync_dir(ds, k);
			}
		}
		free(k);
	}
	return IR_OK;
fail:
	rc = ir_syserr(err, "cannot write %s/%s", ds->root, tmp);
	if (fd >= 0)
		close(fd);
	unlinkat(ds->rfd, tmp, 0);
	return rc;
}

static int
open_key(struct dirstore *ds, const char *key, struct stat *st, char *err)
{
	int fd, rc;

	if ((rc = key_fs_check(key, err)) != IR_OK)
		return rc;
	fd = openat(ds->rfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return ir_err(err, IR_ENOENT, "%s: no such key", key);
		return ir_syserr(err, "cannot open %s/%s", ds->root, key);
	}
	if (fstat(fd, st) < 0) {
		rc = ir_syserr(err, "cannot stat %s/%s", ds->root, key);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return ir_err(err, IR_ENOENT, "%s: no such key (a folder)", key);
	}
	return fd;
}

static int
ds_get(struct ir_store *s, const char *key, unsigned char **buf,
    size_t *len, size_t max, char *err)
{
	struct dirstore *ds = s->impl;
	struct stat st;
	size_t n = 0, cap;
	unsigned char *b;
	int fd;

	if ((fd = open_key(ds, key, &st, err)) < 0)
		return fd;
	if (max && (size_t)st.st_size > max) {
		close(fd);
		return ir_err(err, IR_EINVAL,
		    "%s: %lld bytes, larger than the limit of %zu", key,
		    (long long)st.st_size, max);
	}
	cap = (size_t)st.st_size;
	b = ir_xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			/* Never grows for an object (renamed in whole). */
			if (max && cap >= max) {
				char c;
				if (read(fd, &c, 1) == 1) {
					close(fd);
					free(b);
					return ir_err(err, IR_EINVAL,
					    "%s: larger than the limit of %zu",
					    key, max);
				}
				break;
			}
			cap = cap ? cap * 2 : 4096;
			b = ir_xrealloc(b, cap + 1);
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = ir_syserr(err, "cannot read %s/%s", ds->root,
			    key);
			close(fd);
			free(b);
			return rc;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	b[n] = 0;
	*buf = b;
	*len = n;
	return IR_OK;
}

static int
ds_head(struct ir_store *s, const char *key, size_t *len, char *err)
{
	struct stat st;
	int fd;

	if ((fd = open_key(s->impl, key, &st, err)) < 0)
		return fd;
	close(fd);
	*len = (size_t)st.st_size;
	return IR_OK;
}

static int
ds_del(struct ir_store *s, const char *key, char *err)
{
	struct dirstore *ds = s->impl;
	struct stat st;
	char *k, *sl;
	int rc;

	if ((rc = key_fs_check(key, err)) != IR_OK)
		return rc;
	if (fstatat(ds->rfd, key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode))
		return IR_OK; /* a folder of other keys: no such object */
	if (unlinkat(ds->rfd, key, 0) < 0 && errno != ENOENT &&
	    errno != ENOTDIR)
		return ir_syserr(err, "cannot delete %s/%s", ds->root, key);
	/* Remove the folders this left empty (ENOTEMPTY stops it). */
	k = ir_xstrdup(key);
	while ((sl = strrchr(k, '/'))) {
		*sl = 0;
		if (unlinkat(ds->rfd, k, AT_REMOVEDIR) < 0)
			break;
	}
	free(k);
	return IR_OK;
}

struct entry {
	char *key;
	size_t len;
};

struct walk {
	struct entry *v;
	size_t n, cap;
	const char *prefix;
	size_t plen;
};

/* Collects the files under folder rel ("" for the root) matching the
 * prefix. Only folders that can hold matching keys are entered. */
static int
walk(struct dirstore *ds, const char *rel, struct walk *w, char *err)
{
	int fd = openat(ds->rfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = IR_OK;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return IR_OK;
		return ir_syserr(err, "cannot read %s/%s", ds->root, rel);
	}
	if (!(d = fdopendir(fd))) {
		close(fd);
		return ir_syserr(err, "cannot read %s/%s", ds->root, rel);
	}
	while ((e = readdir(d)) && rc == IR_OK) {
		size_t n = strlen(rel) + strlen(e->d_name) + 2, cl;
		char *key;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!*rel && strcmp(e->d_name, TMPDIR) == 0)
			continue;
		key = ir_xmalloc(n);
		snprintf(key, n, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(key); /* gone meanwhile */
			continue;
		}
		cl = strlen(key);
		if (S_ISDIR(st.st_mode)) {
			/* Enter if "key/" and the prefix agree so far. */
			size_t m = cl < w->plen ? cl : w->plen;
			if (strncmp(key, w->prefix, m) == 0 &&
			    (cl >= w->plen || w->prefix[cl] == '/'))
				rc = walk(ds, key, w, err);
			free(key);
			continue;
		}
		if (!S_ISREG(st.st_mode) || strncmp(key, w->prefix, w->plen)) {
			free(key);
			continue;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 64;
			w->v = ir_xrealloc(w->v, w->cap * sizeof *w->v);
		}
		w->v[w->n].key = key;
		w->v[w->n].len = (size_t)st.st_size;
		w->n++;
	}
	closedir(d);
	return rc;
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key,
	    ((const struct entry *)b)->key);
}

static int
ds_list(struct ir_store *s, const char *prefix,
    int (*fn)(const char *, size_t, void *), void *arg, char *err)
{
	struct walk w = { .prefix = prefix, .plen = strlen(prefix) };
	size_t i;
	int rc;

	rc = walk(s->impl, "", &w, err);
	if (rc == IR_OK) {
		if (w.n > 1)
			qsort(w.v, w.n, sizeof *w.v, cmp_entry);
		for (i = 0; i < w.n && rc == IR_OK; i++)
			rc = fn(w.v[i].key, w.v[i].len, arg);
	}
	for (i = 0; i < w.n; i++)
		free(w.v[i].key);
	free(w.v);
	return rc;
}

static void
ds_close(struct ir_store *s)
{
	struct dirstore *ds = s->impl;

	close(ds->rfd);
	free(ds->root);
	free(ds);
	free(s->url);
	free(s);
}

static const struct ir_store_ops dirstore_ops = {
	.put = ds_put,
	.get = ds_get,
	.head = ds_head,
	.del = ds_del,
	.list = ds_list,
	.close = ds_close,
};

int
ir_dirstore_open(const char *path, struct ir_store **sp, char *err)
{
	struct dirstore *ds;
	struct ir_store *s;
	char *root, *p;
	size_t n;

	*sp = NULL;
	if (!(root = ir_abspath(path)))
		return ir_syserr(err, "%s: cannot find the current folder", path);
	/* mkdir -p */
	for (p = root + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;
			*p = 0;
			if (mkdir(root, 0755) < 0 && errno != EEXIST) {
				int rc = ir_syserr(err, "cannot create store %s",
				    root);
				free(root);
				return rc;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	ds = ir_xcalloc(1, sizeof *ds);
	ds->root = root;
	ds->rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ds->rfd < 0) {
		int rc = ir_syserr(err, "cannot open store %s", root);
		free(root);
		free(ds);
		return rc;
	}
	s = ir_xcalloc(1, sizeof *s);
	s->ops = &dirstore_ops;
	s->impl = ds;
	n = strlen(root) + 5;
	s->url = ir_xmalloc(n);
	snprintf(s->url, n, "dir:%s", root);
	*sp = s;
	return IR_OK;
}
