/*
 * aws.h: what the SQS and S3 backends share: an HTTP client on libcurl
 * that signs each request with Signature Version 4, retries with
 * full-jitter exponential backoff within a total deadline, and turns AWS
 * error replies into clear messages; credentials, region and endpoints
 * found the standard way (see ir-aws(7)).
 *
 * Credentials, in order: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 * (+ AWS_SESSION_TOKEN); the profile AWS_PROFILE (else "default") in
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) then AWS_CONFIG_FILE
 * (~/.aws/config, "[profile NAME]"); the EC2 instance metadata service
 * (IMDSv2) at AWS_EC2_METADATA_SERVICE_ENDPOINT (http://169.254.169.254)
 * unless AWS_EC2_METADATA_DISABLED=true, refreshed five minutes before
 * they expire. Found once per process and shared by every client
 * (thread-safe). Secrets never appear in errors.
 *
 * Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's "region", else
 * us-east-1. Endpoint: AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_S3, then
 * AWS_ENDPOINT_URL, else the service's regional https endpoint.
 */
#ifndef IR_AWS_H
#define IR_AWS_H

#include <stddef.h>

#include "sigv4.h"
#include "util.h"

struct ir_aws;

/*
 * Opens a client for service "sqs" or "s3" (one CURL handle, kept alive
 * between requests; use a client from one thread at a time). region may
 * be NULL for the configured one. Credentials are looked up at the first
 * request. IR_OK or IR_EINVAL/IR_ESYS.
 */
int ir_aws_open(const char *service, const char *region, struct ir_aws **a,
    char *err);
void ir_aws_close(struct ir_aws *a);

/* The client's region (never NULL). */
const char *ir_aws_region(const struct ir_aws *a);
/* Changes the client's region (S3: a bucket found in another one). */
void ir_aws_set_region(struct ir_aws *a, const char *region);
/* The endpoint override from the environment (no trailing '/'), or NULL. */
const char *ir_aws_endpoint(const struct ir_aws *a);

/*
 * The total time one request may take with all its retries, in seconds
 * (plus the request's long-poll wait); after it a request fails with
 * IR_ETEMP "cannot reach URL: why". The
 * default is IR_AWS_TIMEOUT from the environment, else 60. Tools set it
 * from their own timeout option. Process-wide.
 */
void ir_aws_set_timeout(double seconds);
double ir_aws_timeout(void);

struct ir_aws_req {
	const char *what;    /* for errors: "SQS ReceiveMessage on queue X" */
	const char *method;  /* GET PUT POST HEAD DELETE */
	const char *base;    /* "scheme://host[:port]" */
	const char *path;    /* wire path (encoded), "/" at least */
	const char *query;   /* wire query without '?', or NULL */
	const struct ir_sigv4_header *headers; /* extra headers, signed */
	int nheaders;
	const void *body;
	size_t len;
	size_t max_body;     /* refuse larger replies (IR_EINVAL); 0: none */
	int wait_s;          /* the server may hold the reply this long */
};

struct ir_aws_resp {
	long status;              /* HTTP status of the last attempt */
	unsigned char *body;      /* malloc'd, NUL-terminated; may be NULL */
	size_t len;
	long long content_length; /* Content-Length header, or -1 */
	char code[128];           /* AWS error code when status >= 300 */
	char message[256];        /* AWS error message when status >= 300 */
	char bucket_region[64];   /* S3's x-amz-bucket-region header, or "" */
};

/*
 * Sends r (signed, retried). IR_OK for a 2xx reply, with resp filled.
 * Otherwise resp still holds the last reply and err says, naming r->what,
 * AWS's error code and message: IR_ENOENT (404, NoSuchKey,
 * NonExistentQueue...), IR_EAUTH (401/403, bad or missing credentials),
 * IR_EINVAL (any other 4xx, or a reply over max_body), IR_ETEMP
 * (throttling, 5xx or network errors until the deadline). Free resp with
 * ir_aws_resp_free either way.
 */
int ir_aws_request(struct ir_aws *a, const struct ir_aws_req *r,
    struct ir_aws_resp *resp, char *err);
void ir_aws_resp_free(struct ir_aws_resp *resp);

/*
 * Where the credentials come from ("environment", "profile NAME",
 * "instance metadata (role ROLE)"), the access key id (never the secret)
 * and their expiry in Unix ms (0: none): for ir-aws(1) and tests.
 * Looks them up (or refreshes them) if needed.
 */
int ir_aws_whoami(char *source, size_t slen, char *akid, size_t alen,
    long long *expires_ms, char *err);

/* Forgets cached credentials (tests; after changing the environment). */
void ir_aws_forget_credentials(void);

/*
 * AWS's error code and message from a reply: a JSON body ("__type" after
 * its '#', "message"), an XML body (<Code>, <Message>), the
 * x-amzn-query-error header (SQS's classic code, preferred) or
 * x-amzn-errortype; else a name for the HTTP status. Both are made one
 * line. body is NUL-terminated; the headers may be NULL.
 */
void ir_aws_parse_error(const char *body, long status,
    const char *query_error, const char *errortype, char *code,
    size_t codelen, char *message, size_t msglen);

/* Decodes the five XML entities and &#N; / &#xN; of n bytes; malloc'd. */
char *ir_aws_xml_unescape(const char *s, size_t n);

#endif
