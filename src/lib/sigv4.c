/*
 * sigv4.c: AWS Signature Version 4, as specified in AWS's "Create a signed
 * AWS API request" and checked against AWS's SigV4 test suite and the
 * worked examples of the S3 API reference (tests/unit/sigv4.c).
 *
 * Steps: canonical request (method, canonical URI, canonical query,
 * canonical headers, signed header names, payload hash), string to sign
 * (algorithm, date, scope, hex SHA-256 of the canonical request), signing
 * key HMAC chain ("AWS4"+secret, date, region, service, "aws4_request"),
 * signature = hex HMAC(signing key, string to sign).
 *
 * Invariants: the secret key only ever enters HMAC; nothing derived from
 * it but the final signature is stored. Output strings are malloc'd and
 * owned by the struct until ir_sigv4_free.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sigv4.h"

/* A growing string. */
struct sb {
	char *p;
	size_t len, cap;
};

static void
sb_addn(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = ir_xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_add(struct sb *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void
sb_addc(struct sb *b, char c)
{
	sb_addn(b, &c, 1);
}

static char *
sb_take(struct sb *b)
{
	if (!b->p)
		return ir_xstrdup("");
	return b->p;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '~';
}

static void
sb_encode(struct sb *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			sb_addc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sb_addn(b, e, 3);
		}
	}
}

char *
ir_sigv4_uri_encode(const char *s, size_t n, int keep_slash)
{
	struct sb b = { 0 };
	sb_encode(&b, s, n, keep_slash);
	return sb_take(&b);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes (a '%' not followed by two hex digits stays). */
static char *
pct_decode(const char *s, size_t n, size_t *outlen)
{
	char *o = ir_xmalloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 &&
		    (l = hexval(s[i + 2])) >= 0) {
			o[j++] = (char)(h * 16 + l);
			i += 2;
		} else {
			o[j++] = s[i];
		}
	}
	o[j] = '\0';
	*outlen = j;
	return o;
}

void
ir_sigv4_sha256_hex(const void *buf, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(buf, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void
ir_sigv4_amz_date(long long t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Removes "." and ".." segments and empty segments, keeping a final '/'. */
static char *
normalize_path(const char *p)
{
	size_t n = strlen(p);
	const char **seg = ir_xcalloc(n + 1, sizeof *seg);
	size_t *len = ir_xcalloc(n + 1, sizeof *len);
	int ns = 0;
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == 1 && s[0] == '.') {
			/* nothing */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (ns > 0)
				ns--;
		} else {
			seg[ns] = s;
			len[ns] = l;
			ns++;
		}
		s += l;
	}
	struct sb b = { 0 };
	for (int i = 0; i < ns; i++) {
		sb_addc(&b, '/');
		sb_addn(&b, seg[i], len[i]);
	}
	if (ns == 0 || (n > 0 && p[n - 1] == '/'))
		sb_addc(&b, '/');
	free(seg);
	free(len);
	return sb_take(&b);
}

struct qparam {
	char *k, *v;
};

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

/* Canonical query: each name and value decoded, re-encoded, sorted. */
static char *
canonical_query(const char *q)
{
	struct sb b = { 0 };
	if (!q || !*q)
		return sb_take(&b);
	size_t n = 1;
	for (const char *s = q; *s; s++)
		n += *s == '&';
	struct qparam *p = ir_xcalloc(n, sizeof *p);
	size_t np = 0;
	const char *s = q;
	while (*s) {
		const char *e = strchr(s, '&');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l > 0) {
			const char *eq = memchr(s, '=', l);
			size_t kl = eq ? (size_t)(eq - s) : l;
			size_t dl;
			char *d = pct_decode(s, kl, &dl);
			p[np].k = ir_sigv4_uri_encode(d, dl, 0);
			free(d);
			if (eq) {
				d = pct_decode(eq + 1, l - kl - 1, &dl);
				p[np].v = ir_sigv4_uri_encode(d, dl, 0);
				free(d);
			} else {
				p[np].v = ir_xstrdup("");
			}
			np++;
		}
		s += l;
		if (*s == '&')
			s++;
	}
	qsort(p, np, sizeof *p, qparam_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			sb_addc(&b, '&');
		sb_add(&b, p[i].k);
		sb_addc(&b, '=');
		sb_add(&b, p[i].v);
		free(p[i].k);
		free(p[i].v);
	}
	free(p);
	return sb_take(&b);
}

struct chdr {
	char *name;   /* lower case */
	char *value;  /* trimmed, whitespace runs folded */
};

static char *
fold_value(const char *v)
{
	struct sb b = { 0 };
	int space = 0;
	while (*v && isspace((unsigned char)*v))
		v++;
	for (; *v; v++) {
		if (isspace((unsigned char)*v)) {
			space = 1;
			continue;
		}
		if (space && b.len)
			sb_addc(&b, ' ');
		space = 0;
		sb_addc(&b, *v);
	}
	return sb_take(&b);
}

static void
hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int olen = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
	    strlen(msg), out, &olen);
}

int
ir_sigv4_sign(struct ir_sigv4 *s, char *err)
{
	s->canonical_request = s->string_to_sign = NULL;
	s->authorization = s->presigned_query = NULL;
	s->signature[0] = s->signed_headers[0] = '\0';
	if (!s->method || !s->access_key || !s->secret_key || !s->region ||
	    !s->service || !s->amz_date)
		return ir_err(err, IR_EINVAL, "sigv4: missing request field");
	if (strlen(s->amz_date) != 16 || s->amz_date[8] != 'T' ||
	    s->amz_date[15] != 'Z')
		return ir_err(err, IR_EINVAL, "sigv4: bad date %s", s->amz_date);
	int presign = s->flags & IR_SIGV4_PRESIGN;
	int sign_token = s->token && *s->token &&
	    !(s->flags & IR_SIGV4_UNSIGNED_TOKEN);

	if (s->payload_hash)
		snprintf(s->payload_hex, sizeof s->payload_hex, "%s",
		    s->payload_hash);
	else
		ir_sigv4_sha256_hex(s->body ? s->body : "", s->body_len,
		    s->payload_hex);

	char date[9];
	memcpy(date, s->amz_date, 8);
	date[8] = '\0';
	struct sb scope = { 0 };
	sb_add(&scope, date);
	sb_addc(&scope, '/');
	sb_add(&scope, s->region);
	sb_addc(&scope, '/');
	sb_add(&scope, s->service);
	sb_add(&scope, "/aws4_request");

	/* Headers: the caller's, plus the ones the signer adds. */
	int n = s->nheaders + 3;
	struct chdr *h = ir_xcalloc((size_t)n, sizeof *h);
	int nh = 0, have_host = 0;
	for (int i = 0; i < s->nheaders; i++) {
		char *nm = ir_xstrdup(s->headers[i].name);
		for (char *c = nm; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		have_host |= strcmp(nm, "host") == 0;
		h[nh].name = nm;
		h[nh].value = fold_value(s->headers[i].value ?
		    s->headers[i].value : "");
		nh++;
	}
	if (!have_host) {
		for (int i = 0; i < nh; i++) {
			free(h[i].name);
			free(h[i].value);
		}
		free(h);
		free(scope.p);
		return ir_err(err, IR_EINVAL, "sigv4: no Host header");
	}
	if (!presign) {
		h[nh].name = ir_xstrdup("x-amz-date");
		h[nh++].value = ir_xstrdup(s->amz_date);
		if (s->flags & IR_SIGV4_CONTENT_SHA256) {
			h[nh].name = ir_xstrdup("x-amz-content-sha256");
			h[nh++].value = ir_xstrdup(s->payload_hex);
		}
		if (sign_token) {
			h[nh].name = ir_xstrdup("x-amz-security-token");
			h[nh++].value = ir_xstrdup(s->token);
		}
	}
	/* Stable insertion sort by name: repeated headers keep their order. */
	for (int i = 1; i < nh; i++) {
		struct chdr t = h[i];
		int j = i - 1;
		while (j >= 0 && strcmp(h[j].name, t.name) > 0) {
			h[j + 1] = h[j];
			j--;
		}
		h[j + 1] = t;
	}
	struct sb ch = { 0 }, sh = { 0 };
	for (int i = 0; i < nh; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			/* ch ends with "\n": replace it by ",value\n" */
			ch.len--;
			sb_addc(&ch, ',');
			sb_add(&ch, h[i].value);
			sb_addc(&ch, '\n');
			continue;
		}
		if (sh.len)
			sb_addc(&sh, ';');
		sb_add(&sh, h[i].name);
		sb_add(&ch, h[i].name);
		sb_addc(&ch, ':');
		sb_add(&ch, h[i].value);
		sb_addc(&ch, '\n');
	}
	for (int i = 0; i < nh; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	snprintf(s->signed_headers, sizeof s->signed_headers, "%s",
	    sh.p ? sh.p : "");

	/* The query: the caller's, plus the X-Amz-* parameters if presigned. */
	struct sb q = { 0 };
	if (s->query && *s->query)
		sb_add(&q, s->query);
	if (presign) {
		char num[32];
		char *cred = NULL;
		struct sb c = { 0 };
		sb_add(&c, s->access_key);
		sb_addc(&c, '/');
		sb_add(&c, scope.p);
		cred = ir_sigv4_uri_encode(c.p, c.len, 0);
		free(c.p);
		if (q.len)
			sb_addc(&q, '&');
		sb_add(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
		sb_add(&q, cred);
		free(cred);
		sb_add(&q, "&X-Amz-Date=");
		sb_add(&q, s->amz_date);
		snprintf(num, sizeof num, "%ld", s->expires);
		sb_add(&q, "&X-Amz-Expires=");
		sb_add(&q, num);
		if (sign_token) {
			char *t = ir_sigv4_uri_encode(s->token,
			    strlen(s->token), 0);
			sb_add(&q, "&X-Amz-Security-Token=");
			sb_add(&q, t);
			free(t);
		}
		char *shq = ir_sigv4_uri_encode(sh.p, sh.len, 0);
		sb_add(&q, "&X-Amz-SignedHeaders=");
		sb_add(&q, shq);
		free(shq);
	}
	char *cq = canonical_query(q.p);

	/* The canonical URI. */
	const char *path = s->path && *s->path ? s->path : "/";
	char *curi;
	if (s->flags & IR_SIGV4_S3) {
		curi = ir_xstrdup(path);
	} else {
		char *np = (s->flags & IR_SIGV4_NO_NORMALIZE) ?
		    ir_xstrdup(path) : normalize_path(path);
		curi = ir_sigv4_uri_encode(np, strlen(np), 1);
		free(np);
	}

	struct sb cr = { 0 };
	sb_add(&cr, s->method);
	sb_addc(&cr, '\n');
	sb_add(&cr, curi);
	sb_addc(&cr, '\n');
	sb_add(&cr, cq);
	sb_addc(&cr, '\n');
	sb_add(&cr, ch.p ? ch.p : "");
	sb_addc(&cr, '\n');
	sb_add(&cr, s->signed_headers);
	sb_addc(&cr, '\n');
	sb_add(&cr, s->payload_hex);
	free(curi);
	free(ch.p);
	free(sh.p);
	s->canonical_request = sb_take(&cr);

	char crhash[65];
	ir_sigv4_sha256_hex(s->canonical_request, strlen(s->canonical_request),
	    crhash);
	struct sb sts = { 0 };
	sb_add(&sts, "AWS4-HMAC-SHA256\n");
	sb_add(&sts, s->amz_date);
	sb_addc(&sts, '\n');
	sb_add(&sts, scope.p);
	sb_addc(&sts, '\n');
	sb_add(&sts, crhash);
	s->string_to_sign = sb_take(&sts);

	/* The signing key: never stored beyond this frame. */
	size_t sl = strlen(s->secret_key);
	char *k0 = ir_xmalloc(sl + 5);
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, s->secret_key, sl + 1);
	unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
	hmac(k0, sl + 4, date, k1);
	OPENSSL_cleanse(k0, sl + 4);
	free(k0);
	hmac(k1, 32, s->region, k2);
	hmac(k2, 32, s->service, k3);
	hmac(k3, 32, "aws4_request", k4);
	hmac(k4, 32, s->string_to_sign, sig);
	OPENSSL_cleanse(k1, 32);
	OPENSSL_cleanse(k2, 32);
	OPENSSL_cleanse(k3, 32);
	OPENSSL_cleanse(k4, 32);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		s->signature[2 * i] = hex[sig[i] >> 4];
		s->signature[2 * i + 1] = hex[sig[i] & 15];
	}
	s->signature[64] = '\0';

	if (presign) {
		if (s->token && *s->token && !sign_token) {
			char *t = ir_sigv4_uri_encode(s->token,
			    strlen(s->token), 0);
			sb_add(&q, "&X-Amz-Security-Token=");
			sb_add(&q, t);
			free(t);
		}
		sb_add(&q, "&X-Amz-Signature=");
		sb_add(&q, s->signature);
		s->presigned_query = sb_take(&q);
	} else {
		struct sb a = { 0 };
		sb_add(&a, "AWS4-HMAC-SHA256 Credential=");
		sb_add(&a, s->access_key);
		sb_addc(&a, '/');
		sb_add(&a, scope.p);
		sb_add(&a, ", SignedHeaders=");
		sb_add(&a, s->signed_headers);
		sb_add(&a, ", Signature=");
		sb_add(&a, s->signature);
		s->authorization = sb_take(&a);
		free(q.p);
	}
	free(cq);
	free(scope.p);
	return IR_OK;
}

void
ir_sigv4_free(struct ir_sigv4 *s)
{
	free(s->canonical_request);
	free(s->string_to_sign);
	free(s->authorization);
	free(s->presigned_query);
	s->canonical_request = s->string_to_sign = NULL;
	s->authorization = s->presigned_query = NULL;
}
