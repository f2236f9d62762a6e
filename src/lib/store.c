/*
 * store.c: the store interface's front: URL dispatch to a backend
 * (dirstore.c or s3.c), key validation and the generic wrappers.
 *
 * Invariant: every key reaching a backend has passed ir_store_key_check,
 * so no backend sees "..", an absolute path, a control character or
 * invalid UTF-8.
 */
#include <string.h>

#include "store.h"

int
ir_store_open(const char *url, struct ir_store **s, char *err)
{
	*s = NULL;
	if (!url || !*url)
		return ir_err(err, IR_EINVAL, "empty store URL");
	if (strncmp(url, "dir:", 4) == 0) {
		if (!url[4])
			return ir_err(err, IR_EINVAL, "%s: empty path", url);
		return ir_dirstore_open(url + 4, s, err);
	}
	if (strncmp(url, "s3://", 5) == 0)
		return ir_s3_open(url, s, err);
	if (strstr(url, "://") || strncmp(url, "spool:", 6) == 0)
		return ir_err(err, IR_EINVAL,
		    "%s: not a store URL (dir:PATH, PATH or s3://BUCKET/PREFIX)",
		    url);
	return ir_dirstore_open(url, s, err);
}

const char *
ir_store_url(const struct ir_store *s)
{
	return s->url;
}

void
ir_store_set_nosync(struct ir_store *s, int nosync)
{
	s->nosync = nosync;
}

int
ir_store_key_check(const char *key, char *err)
{
	const unsigned char *p = (const unsigned char *)key, *seg;
	size_t len;
	int n;

	if (!key || !*key)
		return ir_err(err, IR_EINVAL, "empty key");
	len = strlen(key);
	if (len > IR_STORE_MAX_KEY)
		return ir_err(err, IR_EINVAL,
		    "key of %zu bytes longer than the limit of %d", len,
		    IR_STORE_MAX_KEY);
	if (key[0] == '/')
		return ir_err(err, IR_EINVAL, "%s: absolute key", key);
	for (seg = p; ; p += n) {
		if (*p == '/' || *p == 0) {
			size_t sl = p - seg;
			if (sl == 0)
				return ir_err(err, IR_EINVAL,
				    "%s: empty path segment", key);
			if ((sl == 1 && seg[0] == '.') ||
			    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
				return ir_err(err, IR_EINVAL,
				    "%s: \".\" or \"..\" segment", key);
			if (*p == 0)
				break;
			seg = p + 1;
			n = 1;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f)
			return ir_err(err, IR_EINVAL,
			    "key with a control character (byte %zu)",
			    (size_t)(p - (const unsigned char *)key));
		if (!(n = ir_utf8_len(p)))
			return ir_err(err, IR_EINVAL,
			    "key not valid UTF-8 (byte %zu)",
			    (size_t)(p - (const unsigned char *)key));
	}
	return IR_OK;
}

int
ir_store_put(struct ir_store *s, const char *key, const void *buf,
    size_t len, const char *content_type, char *err)
{
	int rc;

	if ((rc = ir_store_key_check(key, err)) != IR_OK)
		return rc;
	return s->ops->put(s, key, buf, len, content_type, err);
}

int
ir_store_get(struct ir_store *s, const char *key, unsigned char **buf,
    size_t *len, size_t max, char *err)
{
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = ir_store_key_check(key, err)) != IR_OK)
		return rc;
	return s->ops->get(s, key, buf, len, max, err);
}

int
ir_store_head(struct ir_store *s, const char *key, size_t *len, char *err)
{
	int rc;

	*len = 0;
	if ((rc = ir_store_key_check(key, err)) != IR_OK)
		return rc;
	return s->ops->head(s, key, len, err);
}

int
ir_store_delete(struct ir_store *s, const char *key, char *err)
{
	int rc;

	if ((rc = ir_store_key_check(key, err)) != IR_OK)
		return rc;
	return s->ops->del(s, key, err);
}

int
ir_store_list(struct ir_store *s, const char *prefix,
    int (*fn)(const char *, size_t, void *), void *arg, char *err)
{
	return s->ops->list(s, prefix ? prefix : "", fn, arg, err);
}

void
ir_store_close(struct ir_store *s)
{
	if (s)
		s->ops->close(s);
}
