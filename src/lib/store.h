/*
 * store.h: one object-store interface, backed by a directory (dir:PATH or
 * a bare path; dirstore.c) or by Amazon S3 and compatible servers
 * (s3://BUCKET/PREFIX; s3.c). Keys are validated: no "..", no absolute
 * paths, no NUL; writes are atomic.
 */
#ifndef IR_STORE_H
#define IR_STORE_H

#include <stddef.h>

#include "util.h"

#define IR_STORE_MAX_KEY 1024 /* bytes of UTF-8, as S3 */

struct ir_store;

/*
 * Opens a store by URL: dir:PATH or a bare PATH (a directory, created on
 * first use; relative paths are made absolute) or s3://BUCKET/PREFIX.
 * IR_EINVAL for an unknown scheme. Close *s with ir_store_close.
 */
int ir_store_open(const char *url, struct ir_store **s, char *err);
/* The store's absolute URL. */
const char *ir_store_url(const struct ir_store *s);

/*
 * nosync 1: later puts through s are not synced to disk (directory
 * stores; S3 has nothing to sync), for a writer that waits for the answer
 * itself, as ir-serve does: a crash loses nothing it acknowledged.
 */
void ir_store_set_nosync(struct ir_store *s, int nosync);

/* Stores buf under key, replacing any object there; atomic: readers see
 * the old object or the new one, never a part. content_type may be NULL
 * (the directory store does not keep it). */
int ir_store_put(struct ir_store *s, const char *key, const void *buf,
    size_t len, const char *content_type, char *err);

/* Reads an object into a malloc'd buffer (NUL-terminated, not counted);
 * IR_ENOENT if missing, IR_EINVAL if larger than max (0: no limit). */
int ir_store_get(struct ir_store *s, const char *key, unsigned char **buf,
    size_t *len, size_t max, char *err);

/* Size of an object; IR_ENOENT if missing. */
int ir_store_head(struct ir_store *s, const char *key, size_t *len,
    char *err);

/* Deleting a missing key is not an error. */
int ir_store_delete(struct ir_store *s, const char *key, char *err);

/* Calls fn for each key starting with prefix ("" or NULL: all), in
 * lexical (strcmp) order with its size; a non-zero return from fn stops
 * the listing and is returned. */
int ir_store_list(struct ir_store *s, const char *prefix,
    int (*fn)(const char *key, size_t len, void *arg), void *arg, char *err);

void ir_store_close(struct ir_store *s);

/*
 * IR_OK if key is a valid store key, else IR_EINVAL with the reason. A key
 * is 1 to IR_STORE_MAX_KEY bytes of valid UTF-8 without control
 * characters, made of '/'-separated segments none of which is empty, "."
 * or ".." (so no leading, trailing or doubled '/'). Every store function
 * checks its key with this.
 */
int ir_store_key_check(const char *key, char *err);

struct ir_store_ops {
	int (*put)(struct ir_store *, const char *, const void *, size_t,
	    const char *, char *);
	int (*get)(struct ir_store *, const char *, unsigned char **,
	    size_t *, size_t, char *);
	int (*head)(struct ir_store *, const char *, size_t *, char *);
	int (*del)(struct ir_store *, const char *, char *);
	int (*list)(struct ir_store *, const char *,
	    int (*)(const char *, size_t, void *), void *, char *);
	void (*close)(struct ir_store *);
};

struct ir_store {
	const struct ir_store_ops *ops;
	char *url;
	void *impl;
	int nosync;        /* see ir_store_set_nosync */
};

/* Backend constructors, called by ir_store_open; each sets (*s)->url. */
int ir_dirstore_open(const char *path, struct ir_store **s, char *err);
int ir_s3_open(const char *url, struct ir_store **s, char *err);

#endif
