/*
 * util.h: what every part of ir shares: status codes, error messages,
 * checked allocation, clocks, whole-file I/O and unique ids.
 *
 * Conventions (see README "Code layout"):
 *  - Library functions return IR_OK (0) or a negative IR_E* status and, on
 *    failure, write a one-line reason into a caller-supplied buffer `err` of
 *    IR_ERRMAX bytes ("what: why", no program name, no newline).
 *  - The library never prints and never exits; only src/cmd/ does.
 *    Out-of-memory is the exception: ir_xmalloc() and friends abort with
 *    a message, as there is nothing sensible a caller could do.
 */
#ifndef IR_UTIL_H
#define IR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IR_ERRMAX 512

enum ir_status {
	IR_OK = 0,
	IR_EINVAL = -1,    /* bad input: permanent, do not retry */
	IR_ESYS = -2,      /* an OS call failed (errno text in err) */
	IR_ETEMP = -3,     /* temporary: network, throttling, 5xx; retry */
	IR_ENOENT = -4,    /* no such object, key, queue or name */
	IR_ETIMEDOUT = -5, /* a deadline passed */
	IR_EAUTH = -6,     /* credentials refused */
};

/* Exit codes of every tool (documented in each man page, never changed). */
enum ir_exit {
	IR_EXIT_OK = 0,
	IR_EXIT_NO = 1,       /* a negative answer: nothing found / missing */
	IR_EXIT_USAGE = 2,    /* usage error or permanent failure (bad input) */
	IR_EXIT_TEMPFAIL = 75 /* EX_TEMPFAIL: worth retrying */
};

/* Formats "fmt" into err (IR_ERRMAX bytes; err may be NULL); returns code. */
int ir_err(char *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like ir_err, appending ": strerror(errno)"; returns IR_ESYS. */
int ir_syserr(char *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allocation that aborts with a message on exhaustion. */
void *ir_xmalloc(size_t n);
void *ir_xcalloc(size_t n, size_t size);
void *ir_xrealloc(void *p, size_t n);
char *ir_xstrdup(const char *s);
/* 64-byte aligned allocation (for SIMD kernels); free with free(). */
void *ir_xaligned(size_t n);

/* Monotonic milliseconds (for timings and deadlines). */
double ir_now_ms(void);
/* Wall-clock milliseconds since the Unix epoch (for message "sent"). */
int64_t ir_unix_ms(void);

/*
 * Reads a whole file ("-" is stdin) into a malloc'd buffer, NUL-terminated
 * (the NUL is not counted in *len). Refuses files larger than max bytes
 * (0 = no limit) with IR_EINVAL. The caller frees *buf.
 */
int ir_read_file(const char *path, unsigned char **buf, size_t *len,
    size_t max, char *err);

/* Writes all len bytes to fd, retrying short writes and EINTR. Returns 0,
 * or -1 with errno set. */
int ir_write_all(int fd, const void *buf, size_t len);

/* Writes a file atomically: tmp file in the same folder, fsync, rename. */
int ir_write_file_atomic(const char *path, const void *buf, size_t len,
    char *err);

/*
 * A unique, time-sortable id: 26 characters of Crockford base32 (ULID),
 * 48 bits of milliseconds then 80 random bits. out must hold 27 bytes.
 */
void ir_make_id(char out[27]);

/*
 * The length (1..4) of the valid UTF-8 sequence at s, or 0 when none
 * starts there (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF; a sequence cut by the terminating NUL is invalid).
 */
size_t ir_utf8_len(const unsigned char *s);

/*
 * *ts = the CLOCK_REALTIME time ms milliseconds from now, normalised: the
 * absolute deadline pthread_cond_timedwait takes.
 */
void ir_deadline(struct timespec *ts, long ms);

/*
 * Replaces, in place, each byte of s that is not part of a valid UTF-8
 * sequence (RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF) with '?'. Returns the number of bytes replaced.
 */
size_t ir_utf8_clean(char *s);

/* For tools: the program name used in messages, set once from argv[0]. */
extern const char *ir_progname;
void ir_setprog(const char *argv0);
/* The larger of two sizes; n rounded up to a multiple of 16 (floats in
 * 64-byte aligned scratch layouts). */
static inline size_t
ir_maxz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static inline size_t
ir_al16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* For tools: the exit code for a library status: IR_OK 0, IR_ENOENT 1
 * (nothing there), IR_EINVAL and IR_EAUTH 2 (retrying will not help),
 * anything else (IR_ETEMP, IR_ETIMEDOUT, IR_ESYS) 75. */
int ir_exit_code(int status);
/* For tools that work through input files (ir-classify, ir-enroll):
 * IR_ETEMP and IR_ETIMEDOUT 75 (a retry may work), any other failure 2
 * (a missing or bad file will not get better). */
int ir_exit_input(int status);
/* For tools: the worse of two exit codes, 75 > 2 > 1 > 0 (a retry may fix
 * what a permanent error would not). */
int ir_exit_worse(int a, int b);
/* For tools: "prog: message\n" on stderr. */
void ir_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For tools: ir_warn, then exit(code). */
void ir_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* For tools: a numeric option argument within lo..hi, or ir_die with a
 * usage error naming what ("bad thread count \"x\" (want 1..256)"). */
double ir_optnum(const char *s, const char *what, double lo, double hi);
int ir_optint(const char *s, const char *what, long lo, long hi);

/* An environment variable, or def when unset or empty. */
const char *ir_getenv(const char *name, const char *def);

#endif
