/*
 * sigv4.h: AWS Signature Version 4 (HMAC-SHA256), computed with OpenSSL.
 *
 * One call, ir_sigv4_sign, turns a request description into the canonical
 * request, the string to sign, the signature and either the Authorization
 * header value or a presigned query string. The intermediate strings are
 * kept in the struct so that tests can compare them with AWS's published
 * vectors byte for byte.
 *
 * Paths: the caller gives the path as it goes on the wire (already
 * percent-encoded for S3 keys: see ir_sigv4_uri_encode). S3 signs that
 * path as is (IR_SIGV4_S3: encoded once, never normalised); every other
 * service URI-encodes it once more and normalises "." / ".." / "//".
 * The query is given as on the wire too; it is decoded and re-encoded with
 * RFC 3986 rules and sorted, so either spelling signs the same.
 */
#ifndef IR_SIGV4_H
#define IR_SIGV4_H

#include <stddef.h>

#include "util.h"

/* Hex SHA-256 of the empty string: the payload hash of a bodiless request. */
#define IR_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum {
	IR_SIGV4_S3 = 1,             /* S3 path rules: no re-encoding, no
	                              * normalisation */
	IR_SIGV4_CONTENT_SHA256 = 2, /* add and sign x-amz-content-sha256 */
	IR_SIGV4_PRESIGN = 4,        /* query signing instead of a header */
	IR_SIGV4_UNSIGNED_TOKEN = 8, /* the session token is added after
	                              * signing (some STS endpoints) */
	IR_SIGV4_NO_NORMALIZE = 16,  /* non-S3 without path normalisation */
};

struct ir_sigv4_header {
	const char *name;
	const char *value;
};

struct ir_sigv4 {
	/* In. Strings are borrowed for the duration of the call. */
	const char *method;
	const char *path;             /* wire path; NULL or "" means "/" */
	const char *query;            /* wire query without '?', or NULL */
	const struct ir_sigv4_header *headers; /* signed; Host required */
	int nheaders;
	const void *body;             /* hashed unless payload_hash is set */
	size_t body_len;
	const char *payload_hash;     /* hex SHA-256 of the body, or NULL */
	const char *access_key;
	const char *secret_key;       /* never copied into any output */
	const char *token;            /* session token or NULL */
	const char *region;
	const char *service;
	const char *amz_date;         /* "YYYYMMDDTHHMMSSZ" (UTC) */
	long expires;                 /* presign: X-Amz-Expires seconds */
	int flags;                    /* IR_SIGV4_* */

	/*
	 * Out, malloc'd (free with ir_sigv4_free). The caller must send the
	 * headers the signer added: X-Amz-Date (amz_date), with
	 * IR_SIGV4_CONTENT_SHA256 x-amz-content-sha256 (payload_hex), with a
	 * token X-Amz-Security-Token; and Authorization. With
	 * IR_SIGV4_PRESIGN it sends presigned_query as the query instead.
	 */
	char *canonical_request;
	char *string_to_sign;
	char *authorization;          /* header mode */
	char *presigned_query;        /* presign mode */
	char signed_headers[512];
	char payload_hex[65];
	char signature[65];
};

/* Signs s; IR_OK or IR_EINVAL (missing field, bad date) with err set. */
int ir_sigv4_sign(struct ir_sigv4 *s, char *err);

/* Frees the outputs of ir_sigv4_sign (the struct itself is the caller's). */
void ir_sigv4_free(struct ir_sigv4 *s);

/*
 * URI-encodes n bytes of s the SigV4 way: A-Z a-z 0-9 - _ . ~ kept, every
 * other byte %XX with upper-case hex; '/' kept when keep_slash. Returns a
 * malloc'd string.
 */
char *ir_sigv4_uri_encode(const char *s, size_t n, int keep_slash);

/* Hex SHA-256 of buf into out (65 bytes). */
void ir_sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

/* "YYYYMMDDTHHMMSSZ" for a Unix time in seconds, into out (17 bytes). */
void ir_sigv4_amz_date(long long t, char out[17]);

#endif
