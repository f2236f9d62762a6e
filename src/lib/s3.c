/*
 * s3.c: the Amazon S3 store backend (PutObject, GetObject, HeadObject,
 * DeleteObject, ListObjectsV2) and CreateBucket for set-up, through aws.c
 * (signing with the payload hash, retries, errors).
 *
 * URL s3://BUCKET/PREFIX: every key is stored as PREFIX/KEY (a PREFIX is
 * a folder: a '/' is added when missing). Addressing: virtual-hosted
 * (https://BUCKET.s3.REGION.amazonaws.com/KEY) on AWS; path-style
 * (ENDPOINT/BUCKET/KEY) for an endpoint given by AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL, and for bucket names with dots (TLS wildcards), as the
 * AWS SDKs do.
 *
 * Invariants: keys reach here checked by store.c; the wire path is the
 * key URI-encoded once with '/' kept, which is also what S3 signs.
 * ListObjectsV2 replies are parsed by a small reader for the few elements
 * used (Contents/Key, Contents/Size, IsTruncated, NextContinuationToken),
 * with entity decoding.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "s3.h"
#include "store.h"

struct s3 {
	struct ir_aws *aws;
	char *bucket;
	char *prefix;     /* "" or ending in '/' */
	char *base;       /* scheme://host[:port] */
	char *root;       /* "" (virtual-hosted) or "/BUCKET" (path-style) */
};

/* Sets base and root for the client's region and endpoint. */
static void
s3_set_base(struct s3 *s)
{
	const char *ep = ir_aws_endpoint(s->aws);
	const char *r = ir_aws_region(s->aws);
	const char *cn = strncmp(r, "cn-", 3) == 0 ? ".cn" : "";
	char buf[512];
	free(s->base);
	free(s->root);
	if (ep || strchr(s->bucket, '.')) {
		if (ep)
			s->base = ir_xstrdup(ep);
		else {
			snprintf(buf, sizeof buf, "https://s3.%s.amazonaws.com%s",
			    r, cn);
			s->base = ir_xstrdup(buf);
		}
		snprintf(buf, sizeof buf, "/%s", s->bucket);
		s->root = ir_xstrdup(buf);
	} else {
		snprintf(buf, sizeof buf, "https://%s.s3.%s.amazonaws.com%s",
		    s->bucket, r, cn);
		s->base = ir_xstrdup(buf);
		s->root = ir_xstrdup("");
	}
}

static char *xml_next(const char **, const char *, const char *);

/*
 * One request; on AWS, a bucket that lives in another region than the
 * configured one (S3 says so with x-amz-bucket-region or, for a wrong
 * signing region, AuthorizationHeaderMalformed with <Region>) is asked
 * again once in its own region, which the store then keeps.
 */
static int
s3_request(struct s3 *s, struct ir_aws_req *r, struct ir_aws_resp *resp,
    char *err)
{
	int rc = ir_aws_request(s->aws, r, resp, err);
	if (rc == IR_OK || ir_aws_endpoint(s->aws))
		return rc;
	char region[64] = "";
	if (resp->bucket_region[0]) {
		snprintf(region, sizeof region, "%s", resp->bucket_region);
	} else if (strcmp(resp->code, "AuthorizationHeaderMalformed") == 0 &&
	    resp->body) {
		const char *p = (const char *)resp->body;
		char *x = xml_next(&p, p + resp->len, "Region");
		if (x)
			snprintf(region, sizeof region, "%s", x);
		free(x);
	}
	if (!region[0] || strcmp(region, ir_aws_region(s->aws)) == 0 ||
	    strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(region))
		return rc;
	ir_aws_set_region(s->aws, region);
	s3_set_base(s);
	r->base = s->base;
	ir_aws_resp_free(resp);
	return ir_aws_request(s->aws, r, resp, err);
}

static const struct ir_store_ops s3_ops;

static int
valid_bucket(const char *b)
{
	size_t l = strlen(b);
	if (l < 3 || l > 63)
		return 0;
	for (const char *c = b; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) &&
		    *c != '.' && *c != '-')
			return 0;
	return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[l - 1]);
}

/* Parses s3://BUCKET[/PREFIX] and sets up addressing. */
static int
s3_setup(const char *url, struct s3 **sp, char *err)
{
	*sp = NULL;
	if (strncmp(url, "s3://", 5) != 0)
		return ir_err(err, IR_EINVAL, "%s: not an s3://BUCKET/PREFIX URL",
		    url);
	const char *b = url + 5;
	size_t bl = strcspn(b, "/");
	char bucket[64];
	if (bl == 0 || bl >= sizeof bucket)
		return ir_err(err, IR_EINVAL, "%s: bad bucket name (3 to 63 "
		    "characters)", url);
	memcpy(bucket, b, bl);
	bucket[bl] = '\0';
	if (!valid_bucket(bucket))
		return ir_err(err, IR_EINVAL, "%s: bad bucket name \"%s\" (3 to "
		    "63 lower-case letters, digits, '.' or '-')", url, bucket);
	const char *p = b + bl;
	while (*p == '/')
		p++;
	char *prefix;
	size_t pl = strlen(p);
	if (pl) {
		if (p[pl - 1] == '/')
			prefix = ir_xstrdup(p);
		else {
			prefix = ir_xmalloc(pl + 2);
			memcpy(prefix, p, pl);
			prefix[pl] = '/';
			prefix[pl + 1] = '\0';
		}
		char e[IR_ERRMAX];
		char *k = ir_xstrdup(prefix);
		k[strlen(k) - 1] = '\0';
		if (ir_store_key_check(k, e) != IR_OK) {
			free(k);
			free(prefix);
			return ir_err(err, IR_EINVAL, "%s: bad prefix: %s", url,
			    e);
		}
		free(k);
	} else {
		prefix = ir_xstrdup("");
	}
	struct ir_aws *aws;
	int rc = ir_aws_open("s3", NULL, &aws, err);
	if (rc != IR_OK) {
		free(prefix);
		return rc;
	}
	struct s3 *s = ir_xcalloc(1, sizeof *s);
	s->aws = aws;
	s->bucket = ir_xstrdup(bucket);
	s->prefix = prefix;
	s3_set_base(s);
	*sp = s;
	return IR_OK;
}

static void
s3_free(struct s3 *s)
{
	if (!s)
		return;
	ir_aws_close(s->aws);
	free(s->bucket);
	free(s->prefix);
	free(s->base);
	free(s->root);
	free(s);
}

int
ir_s3_open(const char *url, struct ir_store **sp, char *err)
{
	struct s3 *s;
	int rc = s3_setup(url, &s, err);
	*sp = NULL;
	if (rc != IR_OK)
		return rc;
	struct ir_store *st = ir_xcalloc(1, sizeof *st);
	size_t n = strlen(s->bucket) + strlen(s->prefix) + 8;
	st->url = ir_xmalloc(n);
	snprintf(st->url, n, "s3://%s/%s", s->bucket, s->prefix);
	st->ops = &s3_ops;
	st->impl = s;
	*sp = st;
	return IR_OK;
}

/* The wire path of key (prefix prepended, encoded once, '/' kept). */
static char *
obj_path(const struct s3 *s, const char *key)
{
	size_t pl = strlen(s->prefix), kl = strlen(key);
	char *full = ir_xmalloc(pl + kl + 1);
	memcpy(full, s->prefix, pl);
	memcpy(full + pl, key, kl + 1);
	char *enc = ir_sigv4_uri_encode(full, pl + kl, 1);
	free(full);
	size_t n = strlen(s->root) + strlen(enc) + 2;
	char *p = ir_xmalloc(n);
	snprintf(p, n, "%s/%s", s->root, enc);
	free(enc);
	return p;
}

static void
what(char *buf, size_t n, const char *op, const struct s3 *s, const char *key)
{
	snprintf(buf, n, "S3 %s on s3://%s/%s%s", op, s->bucket, s->prefix,
	    key);
}

static int
s3_put(struct ir_store *st, const char *key, const void *buf, size_t len,
    const char *content_type, char *err)
{
	struct s3 *s = st->impl;
	char w[2048];
	what(w, sizeof w, "PutObject", s, key);
	char *path = obj_path(s, key);
	struct ir_sigv4_header h[] = {
		{ "Content-Type", content_type ? content_type :
		    "application/octet-stream" },
	};
	struct ir_aws_req r = {
		.what = w, .method = "PUT", .base = s->base, .path = path,
		.headers = h, .nheaders = 1, .body = buf, .len = len,
		.max_body = 1 << 20,
	};
	struct ir_aws_resp resp;
	int rc = s3_request(s, &r, &resp, err);
	ir_aws_resp_free(&resp);
	free(path);
	return rc;
}

static int
s3_get(struct ir_store *st, const char *key, unsigned char **buf,
    size_t *len, size_t max, char *err)
{
	struct s3 *s = st->impl;
	char w[2048];
	what(w, sizeof w, "GetObject", s, key);
	char *path = obj_path(s, key);
	struct ir_aws_req r = {
		.what = w, .method = "GET", .base = s->base, .path = path,
		.max_body = max,
	};
	struct ir_aws_resp resp;
	int rc = s3_request(s, &r, &resp, err);
	free(path);
	*buf = NULL;
	*len = 0;
	if (rc != IR_OK) {
		ir_aws_resp_free(&resp);
		return rc;
	}
	if (resp.content_length >= 0 &&
	    (unsigned long long)resp.content_length != resp.len) {
		ir_aws_resp_free(&resp);
		return ir_err(err, IR_ETEMP, "%s: got %zu of %lld bytes", w,
		    resp.len, resp.content_length);
	}
	if (!resp.body)
		resp.body = ir_xcalloc(1, 1);
	*buf = resp.body;
	*len = resp.len;
	return IR_OK;
}

static int
s3_head(struct ir_store *st, const char *key, size_t *len, char *err)
{
	struct s3 *s = st->impl;
	char w[2048];
	what(w, sizeof w, "HeadObject", s, key);
	char *path = obj_path(s, key);
	struct ir_aws_req r = {
		.what = w, .method = "HEAD", .base = s->base, .path = path,
	};
	struct ir_aws_resp resp;
	int rc = s3_request(s, &r, &resp, err);
	free(path);
	if (rc == IR_OK) {
		if (resp.content_length < 0)
			rc = ir_err(err, IR_ETEMP, "%s: no Content-Length in "
			    "the reply", w);
		else
			*len = (size_t)resp.content_length;
	} else if (rc == IR_ENOENT) {
		/* A HEAD reply has no body: say so plainly. */
		rc = ir_err(err, IR_ENOENT, "%s: %s", w,
		    strcmp(resp.code, "NotFound") == 0 ? "NoSuchKey: no such "
		    "key" : resp.code);
	}
	ir_aws_resp_free(&resp);
	return rc;
}

static int
s3_del(struct ir_store *st, const char *key, char *err)
{
	struct s3 *s = st->impl;
	char w[2048];
	what(w, sizeof w, "DeleteObject", s, key);
	char *path = obj_path(s, key);
	struct ir_aws_req r = {
		.what = w, .method = "DELETE", .base = s->base, .path = path,
		.max_body = 1 << 20,
	};
	struct ir_aws_resp resp;
	int rc = s3_request(s, &r, &resp, err);
	free(path);
	if (rc == IR_ENOENT && strcmp(resp.code, "NoSuchKey") == 0)
		rc = IR_OK;
	ir_aws_resp_free(&resp);
	return rc;
}

/* Finds <tag>text</tag> at or after *p within [*p, end); returns the
 * unescaped text (malloc'd) and moves *p past it, or NULL. */
static char *
xml_next(const char **p, const char *end, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = memmem(*p, (size_t)(end - *p), open, strlen(open));
	if (!a)
		return NULL;
	a += strlen(open);
	const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b)
		return NULL;
	*p = b + strlen(close);
	return ir_aws_xml_unescape(a, (size_t)(b - a));
}

int
ir_s3_parse_list(const char *body, size_t len, const char *prefix,
    int (*fn)(const char *, size_t, void *), void *arg, int *truncated,
    char **next, char *err)
{
	const char *end = body + len;
	size_t spl = strlen(prefix);
	int rc = IR_OK;
	*truncated = 0;
	*next = NULL;
	if (!memmem(body, len, "<ListBucketResult", 17))
		return ir_err(err, IR_ETEMP, "the reply is not a "
		    "ListBucketResult");
	const char *p = body;
	const char *c;
	while (rc == IR_OK && (c = memmem(p, (size_t)(end - p), "<Contents>",
	    10))) {
		const char *ce = memmem(c, (size_t)(end - c), "</Contents>", 11);
		if (!ce)
			return ir_err(err, IR_ETEMP, "truncated <Contents> in "
			    "the reply");
		const char *k = c, *z = c;
		char *key = xml_next(&k, ce, "Key");
		char *size = xml_next(&z, ce, "Size");
		char *e = NULL;
		unsigned long long sz = size ? strtoull(size, &e, 10) : 0;
		if (!key || !size || !*size || *e) {
			free(key);
			free(size);
			return ir_err(err, IR_ETEMP, "<Contents> without a Key "
			    "or a Size in the reply");
		}
		/* A key with a NUL (&#0; is refused by the decoder, but be
		 * sure) or outside the prefix is not ours. */
		if (strncmp(key, prefix, spl) == 0 && key[spl])
			rc = fn(key + spl, (size_t)sz, arg);
		free(key);
		free(size);
		p = ce + 11;
	}
	const char *t = body;
	char *trunc = xml_next(&t, end, "IsTruncated");
	t = body;
	*next = xml_next(&t, end, "NextContinuationToken");
	*truncated = trunc && strcmp(trunc, "true") == 0;
	free(trunc);
	return rc;
}

static int
s3_list(struct ir_store *st, const char *prefix,
    int (*fn)(const char *, size_t, void *), void *arg, char *err)
{
	struct s3 *s = st->impl;
	char w[2048];
	what(w, sizeof w, "ListObjectsV2", s, prefix);
	size_t spl = strlen(s->prefix);
	size_t fl = spl + strlen(prefix);
	char *full = ir_xmalloc(fl + 1);
	memcpy(full, s->prefix, spl);
	strcpy(full + spl, prefix);
	char *encp = ir_sigv4_uri_encode(full, fl, 0);
	free(full);
	char *token = NULL;
	char *path = ir_xmalloc(strlen(s->root) + 2);
	sprintf(path, "%s/", s->root);
	int rc = IR_OK;
	for (;;) {
		char *enct = token ? ir_sigv4_uri_encode(token, strlen(token),
		    0) : NULL;
		size_t ql = strlen(encp) + (enct ? strlen(enct) : 0) + 64;
		char *q = ir_xmalloc(ql);
		snprintf(q, ql, "list-type=2&prefix=%s%s%s", encp,
		    enct ? "&continuation-token=" : "", enct ? enct : "");
		free(enct);
		struct ir_aws_req r = {
			.what = w, .method = "GET", .base = s->base,
			.path = path, .query = q, .max_body = 64 << 20,
		};
		struct ir_aws_resp resp;
		rc = s3_request(s, &r, &resp, err);
		free(q);
		if (rc != IR_OK) {
			ir_aws_resp_free(&resp);
			break;
		}
		int more = 0;
		char *next = NULL;
		err[0] = '\0';
		rc = ir_s3_parse_list(resp.body ? (const char *)resp.body : "",
		    resp.len, s->prefix, fn, arg, &more, &next, err);
		ir_aws_resp_free(&resp);
		free(token);
		token = next;
		if (rc < 0 && err[0]) {
			/* err has the parser's reason: say whose reply */
			char why[IR_ERRMAX];
			snprintf(why, sizeof why, "%s", err);
			rc = ir_err(err, rc, "%s: %s", w, why);
		}
		if (rc != IR_OK || !more)
			break;
		if (!token || !*token) {
			rc = ir_err(err, IR_ETEMP, "%s: a truncated listing "
			    "without NextContinuationToken", w);
			break;
		}
	}
	free(token);
	free(path);
	free(encp);
	return rc;
}

static void
s3_close(struct ir_store *st)
{
	s3_free(st->impl);
	free(st->url);
	free(st);
}

int
ir_s3_create_bucket(const char *url, char *err)
{
	struct s3 *s;
	int rc = s3_setup(url, &s, err);
	if (rc != IR_OK)
		return rc;
	char w[512], body[512] = "";
	snprintf(w, sizeof w, "S3 CreateBucket on s3://%s", s->bucket);
	const char *region = ir_aws_region(s->aws);
	if (strcmp(region, "us-east-1") != 0)
		snprintf(body, sizeof body, "<CreateBucketConfiguration xmlns="
		    "\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location"
		    "Constraint>%s</LocationConstraint></CreateBucket"
		    "Configuration>", region);
	char *path = ir_xmalloc(strlen(s->root) + 2);
	sprintf(path, "%s/", s->root);
	struct ir_sigv4_header h[] = { { "Content-Type", "application/xml" } };
	struct ir_aws_req r = {
		.what = w, .method = "PUT", .base = s->base, .path = path,
		.headers = h, .nheaders = *body ? 1 : 0, .body = body,
		.len = strlen(body), .max_body = 1 << 20,
	};
	struct ir_aws_resp resp;
	rc = s3_request(s, &r, &resp, err);
	if (rc != IR_OK && strcmp(resp.code, "BucketAlreadyOwnedByYou") == 0)
		rc = IR_OK;
	ir_aws_resp_free(&resp);
	free(path);
	s3_free(s);
	return rc;
}

int
ir_s3_object_url(const char *url, const char *key, char **out, char *err)
{
	struct s3 *s;
	int rc = s3_setup(url, &s, err);
	*out = NULL;
	if (rc != IR_OK)
		return rc;
	char *path = obj_path(s, key);
	size_t n = strlen(s->base) + strlen(path) + 1;
	*out = ir_xmalloc(n);
	snprintf(*out, n, "%s%s", s->base, path);
	free(path);
	s3_free(s);
	return IR_OK;
}

static const struct ir_store_ops s3_ops = {
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.del = s3_del,
	.list = s3_list,
	.close = s3_close,
};
