/*
 * sigv4.c: Signature Version 4 against published vectors, printing TAP.
 *
 * 1. AWS's SigV4 test suite (tests/data/sigv4-testsuite/v4, 38 cases):
 *    canonical request, string to sign and signature, compared byte for
 *    byte, for header signing and for query (presigned) signing.
 * 2. The worked examples of the Amazon S3 API reference ("Signature
 *    Calculations for the Authorization Header", key AKIAIOSFODNN7EXAMPLE,
 *    2013-05-24): GET object with Range, PUT object, GET bucket lifecycle,
 *    list objects.
 * 3. What SQS and S3 rely on: x-amz-content-sha256, URI encoding of keys
 *    with spaces, unicode and +=&?#%, S3 single versus double encoding,
 *    sorted and re-encoded query strings, session tokens.
 *
 * Run from the top of the tree (as `make check` does), or set IR_TESTDATA
 * to the tests/data folder.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sigv4.h"

static int tn, tfail;

static void
ok(int cond, const char *fmt, const char *a)
{
	tn++;
	printf("%sok %d - ", cond ? "" : "not ", tn);
	printf(fmt, a);
	printf("\n");
	if (!cond)
		tfail++;
}

static void
is(const char *got, const char *want, const char *fmt, const char *a)
{
	int c = got && want && strcmp(got, want) == 0;
	ok(c, fmt, a);
	if (!c)
		printf("# got:\n#   %s\n# expected:\n#   %s\n",
		    got ? got : "(null)", want ? want : "(null)");
}

static char *
slurp(const char *dir, const char *c, const char *f)
{
	char path[2300];
	unsigned char *buf;
	size_t len;
	char err[IR_ERRMAX];
	snprintf(path, sizeof path, "%s/%s/%s", dir, c, f);
	if (ir_read_file(path, &buf, &len, 0, err) != IR_OK)
		return NULL;
	return (char *)buf;
}

struct req {
	char method[16];
	char *path, *query;
	struct ir_sigv4_header h[32];
	char *hbuf[32];
	int nh;
	char *body;
};

/*
 * request.txt: "METHOD PATH[?QUERY] HTTP/1.1", headers "Name:value" with
 * continuation lines starting with whitespace, a blank line, the body.
 */
static int
parse_request(char *t, struct req *r)
{
	memset(r, 0, sizeof *r);
	char *nl = strchr(t, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	char *line = t, *rest = nl + 1;
	char *sp = strchr(line, ' ');
	char *ver = strstr(line, " HTTP/1.1");
	if (!sp || !ver || (size_t)(sp - line) >= sizeof r->method)
		return -1;
	memcpy(r->method, line, (size_t)(sp - line));
	*ver = '\0';
	char *target = sp + 1;
	char *q = strchr(target, '?');
	if (q) {
		*q = '\0';
		r->query = q + 1;
	}
	r->path = target;
	while (*rest) {
		nl = strchr(rest, '\n');
		if (nl)
			*nl = '\0';
		if (*rest == '\0') {
			r->body = nl ? nl + 1 : NULL;
			break;
		}
		if ((*rest == ' ' || *rest == '\t') && r->nh > 0) {
			char *prev = r->hbuf[r->nh - 1];
			size_t a = strlen(prev), b = strlen(rest);
			prev = ir_xrealloc(prev, a + b + 2);
			prev[a] = '\n';
			memcpy(prev + a + 1, rest, b + 1);
			r->hbuf[r->nh - 1] = prev;
		} else {
			char *colon = strchr(rest, ':');
			if (!colon || r->nh == 32)
				return -1;
			*colon = '\0';
			r->h[r->nh].name = rest;
			r->hbuf[r->nh] = ir_xstrdup(colon + 1);
			r->nh++;
		}
		if (!nl)
			break;
		rest = nl + 1;
	}
	for (int i = 0; i < r->nh; i++)
		r->h[i].value = r->hbuf[i];
	return 0;
}

static int
casecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_case(const char *dir, const char *name)
{
	char *reqtxt = slurp(dir, name, "request.txt");
	char *ctxtxt = slurp(dir, name, "context.json");
	struct req r;
	if (!reqtxt || !ctxtxt || parse_request(reqtxt, &r) != 0) {
		ok(0, "%s: read request.txt and context.json", name);
		free(reqtxt);
		free(ctxtxt);
		return;
	}
	json_error_t je;
	json_t *ctx = json_loads(ctxtxt, 0, &je);
	json_t *cr = json_object_get(ctx, "credentials");
	const char *token = json_string_value(json_object_get(cr, "token"));
	int normalize = json_is_true(json_object_get(ctx, "normalize"));
	int sign_body = json_is_true(json_object_get(ctx, "sign_body"));
	int omit = json_is_true(json_object_get(ctx, "omit_session_token"));

	for (int variant = 0; variant < 2; variant++) {
		const char *v = variant ? "query" : "header";
		struct ir_sigv4 s = { 0 };
		char err[IR_ERRMAX], f[128], what[256];
		s.method = r.method;
		s.path = r.path;
		s.query = r.query;
		s.headers = r.h;
		s.nheaders = r.nh;
		s.body = r.body;
		s.body_len = r.body ? strlen(r.body) : 0;
		s.access_key = json_string_value(json_object_get(cr,
		    "access_key_id"));
		s.secret_key = json_string_value(json_object_get(cr,
		    "secret_access_key"));
		s.token = token;
		s.region = json_string_value(json_object_get(ctx, "region"));
		s.service = json_string_value(json_object_get(ctx, "service"));
		s.amz_date = "20150830T123600Z";
		s.expires = (long)json_integer_value(json_object_get(ctx,
		    "expiration_in_seconds"));
		s.flags = (normalize ? 0 : IR_SIGV4_NO_NORMALIZE) |
		    (omit ? IR_SIGV4_UNSIGNED_TOKEN : 0);
		if (variant)
			s.flags |= IR_SIGV4_PRESIGN;
		else if (sign_body)
			s.flags |= IR_SIGV4_CONTENT_SHA256;
		int rc = ir_sigv4_sign(&s, err);
		snprintf(f, sizeof f, "%s-canonical-request.txt", v);
		char *want_cr = slurp(dir, name, f);
		snprintf(f, sizeof f, "%s-string-to-sign.txt", v);
		char *want_sts = slurp(dir, name, f);
		snprintf(f, sizeof f, "%s-signature.txt", v);
		char *want_sig = slurp(dir, name, f);
		snprintf(what, sizeof what, "%s %s", name, v);
		if (rc != IR_OK)
			printf("# %s\n", err);
		is(s.canonical_request, want_cr, "%s: canonical request", what);
		is(s.string_to_sign, want_sts, "%s: string to sign", what);
		is(s.signature, want_sig, "%s: signature", what);
		ir_sigv4_free(&s);
		free(want_cr);
		free(want_sts);
		free(want_sig);
	}
	json_decref(ctx);
	for (int i = 0; i < r.nh; i++)
		free(r.hbuf[i]);
	free(reqtxt);
	free(ctxtxt);
}

/* The S3 API reference's examples: key AKIAIOSFODNN7EXAMPLE, 2013-05-24. */
static void
s3_example(const char *what, const char *method, const char *path,
    const char *query, const struct ir_sigv4_header *h, int nh,
    const char *body, const char *want_cr, const char *want_sts,
    const char *want_sig)
{
	struct ir_sigv4 s = { 0 };
	char err[IR_ERRMAX], d[1024];
	s.method = method;
	s.path = path;
	s.query = query;
	s.headers = h;
	s.nheaders = nh;
	s.body = body;
	s.body_len = body ? strlen(body) : 0;
	s.access_key = "AKIAIOSFODNN7EXAMPLE";
	s.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	s.region = "us-east-1";
	s.service = "s3";
	s.amz_date = "20130524T000000Z";
	s.flags = IR_SIGV4_S3 | IR_SIGV4_CONTENT_SHA256;
	if (ir_sigv4_sign(&s, err) != IR_OK)
		printf("# %s\n", err);
	if (want_cr)
		is(s.canonical_request, want_cr, "S3 example %s: canonical "
		    "request", what);
	if (want_sts)
		is(s.string_to_sign, want_sts, "S3 example %s: string to "
		    "sign", what);
	is(s.signature, want_sig, "S3 example %s: signature", what);
	snprintf(d, sizeof d, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE"
	    "/20130524/us-east-1/s3/aws4_request, SignedHeaders=%s, "
	    "Signature=%s", s.signed_headers, want_sig);
	is(s.authorization, d, "S3 example %s: Authorization header", what);
	ir_sigv4_free(&s);
}

static void
s3_examples(void)
{
	static const struct ir_sigv4_header get[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
	};
	s3_example("GET object with Range", "GET", "/test.txt", NULL, get, 2,
	    NULL,
	    "GET\n/test.txt\n\n"
	    "host:examplebucket.s3.amazonaws.com\n"
	    "range:bytes=0-9\n"
	    "x-amz-content-sha256:" IR_SIGV4_EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n\n"
	    "host;range;x-amz-content-sha256;x-amz-date\n"
	    IR_SIGV4_EMPTY_SHA256,
	    "AWS4-HMAC-SHA256\n20130524T000000Z\n"
	    "20130524/us-east-1/s3/aws4_request\n"
	    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

	static const struct ir_sigv4_header put[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	/* The key "test$file.text" goes on the wire encoded once. */
	char *key = ir_sigv4_uri_encode("/test$file.text", 15, 1);
	is(key, "/test%24file.text", "S3 example PUT object: key %s",
	    "encoded once");
	s3_example("PUT object", "PUT", key, NULL, put, 3,
	    "Welcome to Amazon S3.",
	    "PUT\n/test%24file.text\n\n"
	    "date:Fri, 24 May 2013 00:00:00 GMT\n"
	    "host:examplebucket.s3.amazonaws.com\n"
	    "x-amz-content-sha256:"
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
	    "x-amz-date:20130524T000000Z\n"
	    "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
	    "AWS4-HMAC-SHA256\n20130524T000000Z\n"
	    "20130524/us-east-1/s3/aws4_request\n"
	    "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
	    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	free(key);

	static const struct ir_sigv4_header host[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
	};
	s3_example("GET bucket lifecycle", "GET", "/", "lifecycle", host, 1,
	    NULL,
	    "GET\n/\nlifecycle=\n"
	    "host:examplebucket.s3.amazonaws.com\n"
	    "x-amz-content-sha256:" IR_SIGV4_EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n\n"
	    "host;x-amz-content-sha256;x-amz-date\n"
	    IR_SIGV4_EMPTY_SHA256, NULL,
	    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	/* Parameters given out of order: the canonical query sorts them. */
	s3_example("list objects", "GET", "/", "prefix=J&max-keys=2", host, 1,
	    NULL,
	    "GET\n/\nmax-keys=2&prefix=J\n"
	    "host:examplebucket.s3.amazonaws.com\n"
	    "x-amz-content-sha256:" IR_SIGV4_EMPTY_SHA256 "\n"
	    "x-amz-date:20130524T000000Z\n\n"
	    "host;x-amz-content-sha256;x-amz-date\n"
	    IR_SIGV4_EMPTY_SHA256,
	    "AWS4-HMAC-SHA256\n20130524T000000Z\n"
	    "20130524/us-east-1/s3/aws4_request\n"
	    "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
	    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* Signs with fixed credentials; returns the canonical request (malloc'd). */
static char *
canon(const char *method, const char *path, const char *query,
    const char *service, int flags, const char *body, const char *token,
    char *auth, size_t authlen)
{
	struct ir_sigv4_header h[] = { { "Host", "h.example" } };
	struct ir_sigv4 s = { 0 };
	char err[IR_ERRMAX];
	s.method = method;
	s.path = path;
	s.query = query;
	s.headers = h;
	s.nheaders = 1;
	s.body = body;
	s.body_len = body ? strlen(body) : 0;
	s.access_key = "AKID";
	s.secret_key = "SECRET";
	s.token = token;
	s.region = "eu-west-1";
	s.service = service;
	s.amz_date = "20260101T000000Z";
	s.flags = flags;
	if (ir_sigv4_sign(&s, err) != IR_OK) {
		printf("# %s\n", err);
		return NULL;
	}
	if (auth)
		snprintf(auth, authlen, "%s", s.authorization);
	char *c = s.canonical_request;
	s.canonical_request = NULL;
	ir_sigv4_free(&s);
	return c;
}

/* The second line of a canonical request (the canonical URI). */
static char *
line(const char *cr, int n)
{
	static char buf[1024];
	buf[0] = '\0';
	if (!cr)
		return buf;
	for (int i = 0; i < n; i++) {
		cr = strchr(cr, '\n');
		if (!cr)
			return buf;
		cr++;
	}
	size_t l = strcspn(cr, "\n");
	if (l >= sizeof buf)
		l = sizeof buf - 1;
	memcpy(buf, cr, l);
	buf[l] = '\0';
	return buf;
}

static void
specifics(void)
{
	/* Key encoding: spaces, unicode and +=&?#% (keys keep '/'). */
	const char *k = "dir one/a b+c=d&e?f#g%h/\xc3\xbc\xe2\x82\xac.jpg";
	char *e = ir_sigv4_uri_encode(k, strlen(k), 1);
	is(e, "dir%20one/a%20b%2Bc%3Dd%26e%3Ff%23g%25h/%C3%BC%E2%82%AC.jpg",
	    "%s: S3 key encoding", "space, unicode, +=&?#%");
	free(e);
	e = ir_sigv4_uri_encode("a/b~c-d_e.f", 11, 0);
	is(e, "a%2Fb~c-d_e.f", "%s: '/' encoded in query values, unreserved "
	    "kept", "uri_encode");
	free(e);

	/* S3 signs the wire path as is; other services encode it again. */
	char *c = canon("GET", "/b/a%20b%2Bc", NULL, "s3", IR_SIGV4_S3 |
	    IR_SIGV4_CONTENT_SHA256, NULL, NULL, NULL, 0);
	is(line(c, 1), "/b/a%20b%2Bc", "%s: S3 encodes the path once", "uri");
	free(c);
	c = canon("GET", "/b/a%20b", NULL, "sqs", 0, NULL, NULL, NULL, 0);
	is(line(c, 1), "/b/a%2520b", "%s: other services double-encode",
	    "uri");
	free(c);
	c = canon("GET", "/b//./x", NULL, "s3", IR_SIGV4_S3, NULL, NULL,
	    NULL, 0);
	is(line(c, 1), "/b//./x", "%s: S3 keys are not normalised", "uri");
	free(c);
	c = canon("GET", "/b//./x/../y", NULL, "sqs", 0, NULL, NULL, NULL, 0);
	is(line(c, 1), "/b/y", "%s: other services normalise the path", "uri");
	free(c);

	/* Query: sorted by name then value; decoded and re-encoded; '+' is a
	 * plus (not a space); a bare name gets "=". */
	c = canon("GET", "/", "prefix=a%2Fb c&list-type=2&b=x+y&b=%2B&"
	    "continuation-token=1%2F2%3D%3D&flag", "s3", IR_SIGV4_S3, NULL,
	    NULL, NULL, 0);
	is(line(c, 2), "b=%2B&b=x%2By&continuation-token=1%2F2%3D%3D&flag=&"
	    "list-type=2&prefix=a%2Fb%20c", "%s: sorted, RFC 3986", "query");
	free(c);

	/* x-amz-content-sha256: the body's hash, signed, and the last line. */
	char auth[512];
	c = canon("PUT", "/b/k", NULL, "s3", IR_SIGV4_S3 |
	    IR_SIGV4_CONTENT_SHA256, "hello", NULL, auth, sizeof auth);
	const char *hh =
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
	char want[256];
	snprintf(want, sizeof want, "x-amz-content-sha256:%s", hh);
	is(line(c, 4), want, "%s: x-amz-content-sha256 header signed",
	    "payload");
	is(line(c, 8), hh, "%s: payload hash line", "payload");
	ok(strstr(auth, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,")
	    != NULL, "%s: SignedHeaders lists it", "payload");
	free(c);

	/* SQS-style JSON POST: no content header unless asked, body hashed. */
	c = canon("POST", "/", NULL, "sqs", 0, "{}", NULL, auth, sizeof auth);
	is(line(c, 6), "host;x-amz-date", "%s: SQS signs what it is given + date",
	    "sqs");
	is(line(c, 7), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c06"
	    "0f61caaff8a", "%s: payload hash of the JSON body", "sqs");
	ok(strstr(auth, "Credential=AKID/20260101/eu-west-1/sqs/aws4_request,"
	    " SignedHeaders=host;x-amz-date, Signature=") == auth + 17,
	    "%s: Authorization header form", "sqs");
	ok(strstr(auth, "SECRET") == NULL, "%s: the secret is not in the "
	    "Authorization header", "sqs");
	free(c);

	/* A session token is signed as x-amz-security-token. */
	c = canon("GET", "/", NULL, "s3", IR_SIGV4_S3, NULL, "TOKEN/+=",
	    auth, sizeof auth);
	is(line(c, 5), "x-amz-security-token:TOKEN/+=", "%s: session token "
	    "signed", "token");
	ok(strstr(auth, "x-amz-date;x-amz-security-token,") != NULL,
	    "%s: in SignedHeaders", "token");
	free(c);

	/* Missing Host is refused. */
	struct ir_sigv4 s = { 0 };
	char err[IR_ERRMAX];
	s.method = "GET";
	s.access_key = s.secret_key = s.region = s.service = "x";
	s.amz_date = "20260101T000000Z";
	ok(ir_sigv4_sign(&s, err) == IR_EINVAL, "%s: no Host is an error",
	    "sigv4");
	s.amz_date = "2026-01-01";
	ok(ir_sigv4_sign(&s, err) == IR_EINVAL, "%s: bad date is an error",
	    "sigv4");

	char d[17];
	ir_sigv4_amz_date(1369353600LL, d);
	is(d, "20130524T000000Z", "%s: amz date", "sigv4");
}

int
main(void)
{
	const char *data = ir_getenv("IR_TESTDATA", "tests/data");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/sigv4-testsuite/v4", data);
	DIR *d = opendir(dir);
	if (!d) {
		printf("1..1\nnot ok 1 - open %s (run from the top of the "
		    "tree or set IR_TESTDATA)\n", dir);
		return 1;
	}
	char *names[64];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			names[n++] = ir_xstrdup(de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, casecmp);
	ok(n == 38, "%s: 38 test-suite cases", "sigv4");
	for (int i = 0; i < n; i++) {
		run_case(dir, names[i]);
		free(names[i]);
	}
	s3_examples();
	specifics();
	printf("1..%d\n", tn);
	return tfail != 0;
}
