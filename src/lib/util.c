/*
 * util.c: status messages, checked allocation, clocks, whole-file I/O,
 * ULID-style ids and the tools' message helpers.
 *
 * Only ir_warn() and ir_die() print; they exist for src/cmd/ and are never
 * called from library code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

const char *ir_progname = "ir";

int
ir_err(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, IR_ERRMAX, fmt, ap);
		va_end(ap);
	}
	return code;
}

int
ir_syserr(char *err, const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	size_t n;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, IR_ERRMAX, fmt, ap);
		va_end(ap);
		n = strlen(err);
		snprintf(err + n, IR_ERRMAX - n, ": %s", strerror(e));
	}
	errno = e;
	return IR_ESYS;
}

static void
oom(size_t n)
{
	fprintf(stderr, "%s: out of memory allocating %zu bytes\n",
	    ir_progname, n);
	abort();
}

void *
ir_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *
ir_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void *
ir_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

char *
ir_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom(strlen(s) + 1);
	return p;
}

void *
ir_xaligned(size_t n)
{
	void *p = NULL;

	n = (n + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, n ? n : 64) != 0)
		oom(n);
	return p;
}

double
ir_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int64_t
ir_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ir_read_file(const char *path, unsigned char **buf, size_t *len, size_t max,
    char *err)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 65536, n = 0;
	unsigned char *b;
	ssize_t r;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ?
		    ir_err(err, IR_ENOENT, "cannot open %s: %s", path,
			strerror(errno)) :
		    ir_syserr(err, "cannot open %s", path);
	b = ir_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (max && cap >= max + 1) {
				if (fd)
					close(fd);
				free(b);
				return ir_err(err, IR_EINVAL,
				    "%s: larger than the limit of %zu bytes",
				    path, max);
			}
			cap *= 2;
			b = ir_xrealloc(b, cap + 1);
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = ir_syserr(err, "cannot read %s", path);
			if (fd)
				close(fd);
			free(b);
			return rc;
		}
		if (r == 0)
			break;
		n += r;
	}
	if (fd)
		close(fd);
	if (max && n > max) {
		free(b);
		return ir_err(err, IR_EINVAL,
		    "%s: larger than the limit of %zu bytes", path, max);
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return IR_OK;
}

int
ir_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= w;
	}
	return 0;
}

int
ir_write_file_atomic(const char *path, const void *buf, size_t len, char *err)
{
	size_t plen = strlen(path);
	char *tmp = ir_xmalloc(plen + 32);
	int fd;

	snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int rc = ir_syserr(err, "cannot create %s", tmp);
		free(tmp);
		return rc;
	}
	if (ir_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		int rc = ir_syserr(err, "cannot rename %s to %s", tmp, path);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return IR_OK;
fail:;
	int rc = ir_syserr(err, "cannot write %s", tmp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

void
ir_make_id(char out[27])
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char rnd[10];
	uint64_t ms = (uint64_t)ir_unix_ms();
	int i, bit;

	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
		/* getrandom cannot fail for 10 bytes after boot; be safe. */
		uint64_t x = ms ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
		for (i = 0; i < 10; i++)
			rnd[i] = (unsigned char)(x >> (i * 6));
	}
	/* 48-bit time: 10 characters, most significant first. */
	for (i = 9; i >= 0; i--) {
		out[i] = b32[ms & 31];
		ms >>= 5;
	}
	/* 80 random bits: 16 characters of 5 bits. */
	for (i = 0; i < 16; i++) {
		int v = 0;
		for (bit = 0; bit < 5; bit++) {
			int k = i * 5 + bit;
			v = (v << 1) | ((rnd[k / 8] >> (7 - k % 8)) & 1);
		}
		out[10 + i] = b32[v];
	}
	out[26] = 0;
}

int
ir_exit_code(int status)
{
	switch (status) {
	case IR_OK: return IR_EXIT_OK;
	case IR_EINVAL: case IR_EAUTH: return IR_EXIT_USAGE;
	case IR_ENOENT: return IR_EXIT_NO;
	default: return IR_EXIT_TEMPFAIL;
	}
}

int
ir_exit_input(int status)
{
	return status == IR_ETEMP || status == IR_ETIMEDOUT ?
	    IR_EXIT_TEMPFAIL : IR_EXIT_USAGE;
}

static int
exit_rank(int code)
{
	return code == IR_EXIT_TEMPFAIL ? 3 : code;
}

int
ir_exit_worse(int a, int b)
{
	return exit_rank(b) > exit_rank(a) ? b : a;
}

void
ir_setprog(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	ir_progname = s ? s + 1 : argv0;
}

void
ir_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ir_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ir_die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ir_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

double
ir_optnum(const char *s, const char *what, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		ir_die(IR_EXIT_USAGE, "bad %s \"%s\" (want %g..%g)", what, s,
		    lo, hi);
	return v;
}

int
ir_optint(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		ir_die(IR_EXIT_USAGE, "bad %s \"%s\" (want %ld..%ld)", what, s,
		    lo, hi);
	return (int)v;
}

const char *
ir_getenv(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

size_t
ir_utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n, i;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

size_t
ir_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t bad = 0, n;

	while (*p) {
		if ((n = ir_utf8_len(p)) > 0) {
			p += n;
			continue;
		}
		*p++ = '?';
		bad++;
	}
	return bad;
}

void
ir_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += ms % 1000 * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
