/*
 * aws.c: the HTTP client of the SQS and S3 backends (libcurl), with
 * Signature V4 signing, retries and credentials (see aws.h).
 *
 * Retries: connection errors, 5xx, 429 and throttling codes are retried
 * with full-jitter exponential backoff (sleep uniform in [0, min(5 s,
 * 0.2 s * 2^attempt)]) until the process-wide deadline per request
 * (ir_aws_set_timeout); each attempt is re-signed (fresh date, fresh
 * credentials). A 4xx other than throttling is final at once; an expired
 * token from the instance metadata service refreshes the credentials and
 * tries once more.
 *
 * Invariants: secrets live only in the credential cache (cred) and are
 * copied to the stack for signing; no error string is ever built from
 * them, the Authorization header or a token. curl's verbose output is off.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "aws.h"

#define REFRESH_MARGIN_MS (5 * 60 * 1000LL)
#define IMDS_DEFAULT "http://169.254.169.254"

struct ir_aws {
	CURL *curl;
	char service[8];
	char region[64];
	char *endpoint;   /* override from the environment, or NULL */
};

/* Process-wide credential cache. */
static pthread_mutex_t cred_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int have;
	char akid[128];
	char secret[256];
	char *token;
	long long expires_ms;     /* 0: never */
	char source[320];
	int from_imds;
	char imds_token[256];     /* IMDSv2 session token */
	long long imds_token_exp;
} cred;

static double g_timeout = -1;

void
ir_aws_set_timeout(double seconds)
{
	g_timeout = seconds > 0 ? seconds : 1;
}

double
ir_aws_timeout(void)
{
	if (g_timeout < 0) {
		const char *e = ir_getenv("IR_AWS_TIMEOUT", NULL);
		double t = e ? strtod(e, NULL) : 0;
		g_timeout = t > 0 ? t : 60;
	}
	return g_timeout;
}

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
global_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init_once);
}

/* ----------------------------------------------------------------- */
/* Small INI reader for ~/.aws/credentials and ~/.aws/config. */

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * Looks up key in section sect of file path into out. Returns 1 if found,
 * 0 if not (or no file). found_sect set when the section exists.
 */
static int
ini_get(const char *path, const char *sect, const char *key, char *out,
    size_t outlen, int *found_sect)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	int in = 0, got = 0;
	while (fgets(line, sizeof line, f)) {
		char *l = trim(line);
		if (*l == '#' || *l == ';' || *l == '\0')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (!e)
				continue;
			*e = '\0';
			char *name = trim(l + 1);
			/* "profile  x" with any spacing */
			if (strncmp(name, "profile", 7) == 0 &&
			    isspace((unsigned char)name[7]))
				name = trim(name + 8);
			in = strcmp(name, sect) == 0;
			if (in && found_sect)
				*found_sect = 1;
			continue;
		}
		if (!in)
			continue;
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(trim(l), key) == 0) {
			snprintf(out, outlen, "%s", trim(eq + 1));
			got = 1;
		}
	}
	fclose(f);
	return got;
}

static void
aws_file(const char *env, const char *name, char *out, size_t n)
{
	const char *e = ir_getenv(env, NULL);
	if (e) {
		snprintf(out, n, "%s", e);
		return;
	}
	snprintf(out, n, "%s/.aws/%s", ir_getenv("HOME", "/"), name);
}

static const char *
profile_name(void)
{
	const char *p = ir_getenv("AWS_PROFILE", NULL);
	return p ? p : ir_getenv("AWS_DEFAULT_PROFILE", "default");
}

/* Region from the environment or the profile; "" if none. */
static void
default_region(char *out, size_t n)
{
	const char *r = ir_getenv("AWS_REGION", NULL);
	if (!r)
		r = ir_getenv("AWS_DEFAULT_REGION", NULL);
	if (r) {
		snprintf(out, n, "%s", r);
		return;
	}
	char path[1024];
	aws_file("AWS_CONFIG_FILE", "config", path, sizeof path);
	if (ini_get(path, profile_name(), "region", out, n, NULL) && *out)
		return;
	snprintf(out, n, "us-east-1");
}

/* ----------------------------------------------------------------- */
/* Buffers for curl. */

struct buf {
	unsigned char *p;
	size_t len, cap, max;
	int over;
};

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	if (b->max && b->len + n > b->max) {
		b->over = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = ir_xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

struct hdrs {
	long long content_length;
	char query_error[160];
	char errortype[160];
	char bucket_region[64];
};

static void
hdr_value(const char *line, size_t n, const char *name, char *out,
    size_t outlen)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	size_t vl = n - nl - 1;
	while (vl && isspace((unsigned char)*v)) {
		v++;
		vl--;
	}
	while (vl && isspace((unsigned char)v[vl - 1]))
		vl--;
	if (vl >= outlen)
		vl = outlen - 1;
	memcpy(out, v, vl);
	out[vl] = '\0';
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hdrs *h = ud;
	size_t n = size * nmemb;
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		h->content_length = -1;
		h->query_error[0] = h->errortype[0] = '\0';
		h->bucket_region[0] = '\0';
		return n;
	}
	char cl[32] = "";
	hdr_value(ptr, n, "content-length", cl, sizeof cl);
	if (*cl)
		h->content_length = strtoll(cl, NULL, 10);
	hdr_value(ptr, n, "x-amzn-query-error", h->query_error,
	    sizeof h->query_error);
	hdr_value(ptr, n, "x-amzn-errortype", h->errortype,
	    sizeof h->errortype);
	hdr_value(ptr, n, "x-amz-bucket-region", h->bucket_region,
	    sizeof h->bucket_region);
	return n;
}

/* ----------------------------------------------------------------- */
/* EC2 instance metadata (IMDSv2). Called with cred_lock held. */

static int
imds_call(const char *method, const char *url, const char *hdr,
    struct buf *out, long *status, char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(why, whylen, "cannot create a curl handle");
		return -1;
	}
	struct curl_slist *h = NULL;
	if (hdr)
		h = curl_slist_append(h, hdr);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	out->max = 1 << 16;
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode rc = curl_easy_perform(c);
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static long long
parse_iso8601(const char *s)
{
	struct tm tm = { 0 };
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000;
}

/*
 * Fetches role credentials from IMDSv2 into cred. 0 on success; -1 with
 * why (no secret in it) and *temp = 1 if the service could not be reached.
 */
static int
imds_fetch(char *why, size_t whylen, int *temp)
{
	const char *ep = ir_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT",
	    IMDS_DEFAULT);
	char base[512], url[1024], hdr[400];
	snprintf(base, sizeof base, "%s", ep);
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	struct buf b = { 0 };
	long st;
	*temp = 0;
	for (int tries = 0; tries < 2; tries++) {
		if (!cred.imds_token[0] || ir_unix_ms() > cred.imds_token_exp) {
			snprintf(url, sizeof url, "%s/latest/api/token", base);
			b.len = 0;
			if (imds_call("PUT", url,
			    "X-aws-ec2-metadata-token-ttl-seconds: 21600", &b,
			    &st, why, whylen) != 0) {
				*temp = 1;
				free(b.p);
				return -1;
			}
			if (st != 200 || !b.p || !b.len || b.len >= sizeof
			    cred.imds_token) {
				snprintf(why, whylen, "token request: HTTP %ld",
				    st);
				free(b.p);
				return -1;
			}
			snprintf(cred.imds_token, sizeof cred.imds_token, "%s",
			    trim((char *)b.p));
			cred.imds_token_exp = ir_unix_ms() + 21000 * 1000LL;
		}
		snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %s",
		    cred.imds_token);
		snprintf(url, sizeof url,
		    "%s/latest/meta-data/iam/security-credentials/", base);
		b.len = 0;
		if (imds_call("GET", url, hdr, &b, &st, why, whylen) != 0) {
			*temp = 1;
			free(b.p);
			return -1;
		}
		if (st == 401) {  /* token expired: get a new one */
			cred.imds_token[0] = '\0';
			continue;
		}
		if (st == 404) {
			snprintf(why, whylen, "no IAM role attached to this "
			    "instance");
			free(b.p);
			return -1;
		}
		if (st != 200 || !b.p) {
			snprintf(why, whylen, "role list: HTTP %ld", st);
			free(b.p);
			return -1;
		}
		char role[128];
		b.p[strcspn((char *)b.p, "\r\n")] = '\0';
		snprintf(role, sizeof role, "%s", trim((char *)b.p));
		if (!*role || strchr(role, '/')) {
			snprintf(why, whylen, "bad role name");
			free(b.p);
			return -1;
		}
		snprintf(url, sizeof url,
		    "%s/latest/meta-data/iam/security-credentials/%s", base,
		    role);
		b.len = 0;
		if (imds_call("GET", url, hdr, &b, &st, why, whylen) != 0) {
			*temp = 1;
			free(b.p);
			return -1;
		}
		if (st == 401) {
			cred.imds_token[0] = '\0';
			continue;
		}
		json_error_t je;
		json_t *j = (st == 200 && b.p) ? json_loads((char *)b.p, 0,
		    &je) : NULL;
		free(b.p);
		b.p = NULL;
		b.cap = 0;
		const char *code = json_string_value(json_object_get(j,
		    "Code"));
		const char *ak = json_string_value(json_object_get(j,
		    "AccessKeyId"));
		const char *sk = json_string_value(json_object_get(j,
		    "SecretAccessKey"));
		const char *tk = json_string_value(json_object_get(j,
		    "Token"));
		const char *ex = json_string_value(json_object_get(j,
		    "Expiration"));
		if (!j || (code && strcmp(code, "Success") != 0) || !ak ||
		    !sk || strlen(ak) >= sizeof cred.akid ||
		    strlen(sk) >= sizeof cred.secret) {
			snprintf(why, whylen, "role %s: HTTP %ld, no usable "
			    "credentials in the reply", role, st);
			json_decref(j);
			return -1;
		}
		snprintf(cred.akid, sizeof cred.akid, "%s", ak);
		snprintf(cred.secret, sizeof cred.secret, "%s", sk);
		free(cred.token);
		cred.token = tk ? ir_xstrdup(tk) : NULL;
		cred.expires_ms = parse_iso8601(ex);
		snprintf(cred.source, sizeof cred.source,
		    "instance metadata (role %s)", role);
		cred.from_imds = 1;
		cred.have = 1;
		json_decref(j);
		return 0;
	}
	snprintf(why, whylen, "the metadata token was refused");
	return -1;
}

/* ----------------------------------------------------------------- */
/* The credential chain. Called with cred_lock held. */

static int
load_credentials(int force, char *err)
{
	if (cred.have && !force) {
		if (!cred.from_imds || !cred.expires_ms ||
		    ir_unix_ms() < cred.expires_ms - REFRESH_MARGIN_MS)
			return IR_OK;
	}
	if (cred.have && cred.from_imds) {
		char why[256];
		int temp;
		if (imds_fetch(why, sizeof why, &temp) == 0)
			return IR_OK;
		/* Keep using the old ones while they are valid. */
		if (!force && ir_unix_ms() < cred.expires_ms)
			return IR_OK;
		return ir_err(err, temp ? IR_ETEMP : IR_EAUTH, "cannot refresh "
		    "credentials from the instance metadata service: %s", why);
	}

	const char *ak = ir_getenv("AWS_ACCESS_KEY_ID", NULL);
	const char *sk = ir_getenv("AWS_SECRET_ACCESS_KEY", NULL);
	if (ak || sk) {
		if (!ak || !sk)
			return ir_err(err, IR_EAUTH, "AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY must be set together");
		if (strlen(ak) >= sizeof cred.akid ||
		    strlen(sk) >= sizeof cred.secret)
			return ir_err(err, IR_EAUTH, "AWS credentials in the "
			    "environment are too long");
		snprintf(cred.akid, sizeof cred.akid, "%s", ak);
		snprintf(cred.secret, sizeof cred.secret, "%s", sk);
		free(cred.token);
		const char *t = ir_getenv("AWS_SESSION_TOKEN", NULL);
		cred.token = t ? ir_xstrdup(t) : NULL;
		cred.expires_ms = 0;
		cred.from_imds = 0;
		snprintf(cred.source, sizeof cred.source, "environment");
		cred.have = 1;
		return IR_OK;
	}

	const char *prof = profile_name();
	int explicit_prof = ir_getenv("AWS_PROFILE", NULL) != NULL;
	char cpath[1024], fpath[1024];
	aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials", cpath,
	    sizeof cpath);
	aws_file("AWS_CONFIG_FILE", "config", fpath, sizeof fpath);
	const char *files[2] = { cpath, fpath };
	int found_sect = 0;
	for (int i = 0; i < 2; i++) {
		char a[sizeof cred.akid], s[sizeof cred.secret], t[4096];
		int fs = 0;
		int ha = ini_get(files[i], prof, "aws_access_key_id", a,
		    sizeof a, &fs);
		int hs = ini_get(files[i], prof, "aws_secret_access_key", s,
		    sizeof s, &fs);
		found_sect |= fs;
		if (!ha && !hs)
			continue;
		if (!ha || !hs || !*a || !*s)
			return ir_err(err, IR_EAUTH, "profile %s in %s: needs "
			    "both aws_access_key_id and aws_secret_access_key",
			    prof, files[i]);
		snprintf(cred.akid, sizeof cred.akid, "%s", a);
		snprintf(cred.secret, sizeof cred.secret, "%s", s);
		OPENSSL_cleanse(s, sizeof s);
		free(cred.token);
		cred.token = ini_get(files[i], prof, "aws_session_token", t,
		    sizeof t, NULL) && *t ? ir_xstrdup(t) : NULL;
		cred.expires_ms = 0;
		cred.from_imds = 0;
		snprintf(cred.source, sizeof cred.source, "profile %s", prof);
		cred.have = 1;
		return IR_OK;
	}
	if (explicit_prof)
		return ir_err(err, IR_EAUTH, found_sect ? "profile %s has no "
		    "aws_access_key_id/aws_secret_access_key (roles, SSO and "
		    "credential_process are not supported)" : "profile %s not "
		    "found in %s or %s", prof, cpath, fpath);

	const char *dis = ir_getenv("AWS_EC2_METADATA_DISABLED", "false");
	if (strcasecmp(dis, "true") == 0)
		return ir_err(err, IR_EAUTH, "no AWS credentials: set "
		    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
		    "(instance metadata is disabled)");
	char why[256];
	int temp;
	if (imds_fetch(why, sizeof why, &temp) == 0)
		return IR_OK;
	return ir_err(err, IR_EAUTH, "no AWS credentials: none in the "
	    "environment or in %s, and the instance metadata service at %s "
	    "gave none (%s)", cpath,
	    ir_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", IMDS_DEFAULT), why);
}

struct creds {
	char akid[128];
	char secret[256];
	char *token;
	int from_imds;
};

static void
creds_clear(struct creds *c)
{
	OPENSSL_cleanse(c->secret, sizeof c->secret);
	free(c->token);
	c->token = NULL;
}

static int
get_credentials(struct creds *c, int force, char *err)
{
	pthread_mutex_lock(&cred_lock);
	int rc = load_credentials(force, err);
	if (rc == IR_OK) {
		memcpy(c->akid, cred.akid, sizeof c->akid);
		memcpy(c->secret, cred.secret, sizeof c->secret);
		c->token = cred.token ? ir_xstrdup(cred.token) : NULL;
		c->from_imds = cred.from_imds;
	}
	pthread_mutex_unlock(&cred_lock);
	return rc;
}

int
ir_aws_whoami(char *source, size_t slen, char *akid, size_t alen,
    long long *expires_ms, char *err)
{
	pthread_mutex_lock(&cred_lock);
	int rc = load_credentials(0, err);
	if (rc == IR_OK) {
		snprintf(source, slen, "%s", cred.source);
		snprintf(akid, alen, "%s", cred.akid);
		*expires_ms = cred.expires_ms;
	}
	pthread_mutex_unlock(&cred_lock);
	return rc;
}

void
ir_aws_forget_credentials(void)
{
	pthread_mutex_lock(&cred_lock);
	OPENSSL_cleanse(cred.secret, sizeof cred.secret);
	free(cred.token);
	memset(&cred, 0, sizeof cred);
	pthread_mutex_unlock(&cred_lock);
}

/* ----------------------------------------------------------------- */

int
ir_aws_open(const char *service, const char *region, struct ir_aws **ap,
    char *err)
{
	*ap = NULL;
	if (strcmp(service, "sqs") != 0 && strcmp(service, "s3") != 0)
		return ir_err(err, IR_EINVAL, "unknown AWS service %s", service);
	global_init();
	struct ir_aws *a = ir_xcalloc(1, sizeof *a);
	a->curl = curl_easy_init();
	if (!a->curl) {
		free(a);
		return ir_err(err, IR_ESYS, "cannot create a curl handle");
	}
	snprintf(a->service, sizeof a->service, "%s", service);
	if (region && *region)
		snprintf(a->region, sizeof a->region, "%s", region);
	else
		default_region(a->region, sizeof a->region);
	const char *ep = ir_getenv(strcmp(service, "sqs") == 0 ?
	    "AWS_ENDPOINT_URL_SQS" : "AWS_ENDPOINT_URL_S3", NULL);
	if (!ep)
		ep = ir_getenv("AWS_ENDPOINT_URL", NULL);
	if (ep) {
		if (strncmp(ep, "http://", 7) != 0 &&
		    strncmp(ep, "https://", 8) != 0) {
			curl_easy_cleanup(a->curl);
			free(a);
			return ir_err(err, IR_EINVAL, "AWS endpoint %s: not an "
			    "http:// or https:// URL", ep);
		}
		a->endpoint = ir_xstrdup(ep);
		size_t n = strlen(a->endpoint);
		while (n > 8 && a->endpoint[n - 1] == '/')
			a->endpoint[--n] = '\0';
	}
	*ap = a;
	return IR_OK;
}

void
ir_aws_close(struct ir_aws *a)
{
	if (!a)
		return;
	curl_easy_cleanup(a->curl);
	free(a->endpoint);
	free(a);
}

const char *
ir_aws_region(const struct ir_aws *a)
{
	return a->region;
}

void
ir_aws_set_region(struct ir_aws *a, const char *region)
{
	snprintf(a->region, sizeof a->region, "%s", region);
}

const char *
ir_aws_endpoint(const struct ir_aws *a)
{
	return a->endpoint;
}

void
ir_aws_resp_free(struct ir_aws_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

char *
ir_aws_xml_unescape(const char *s, size_t n)
{
	char *o = ir_xmalloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '&') {
			o[j++] = s[i];
			continue;
		}
		const char *semi = memchr(s + i, ';', n - i);
		size_t l = semi ? (size_t)(semi - (s + i)) + 1 : 0;
		static const struct { const char *e; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' },
		};
		int done = 0;
		for (size_t k = 0; k < 5 && l; k++) {
			if (strlen(ents[k].e) == l &&
			    memcmp(s + i, ents[k].e, l) == 0) {
				o[j++] = ents[k].c;
				i += l - 1;
				done = 1;
				break;
			}
		}
		if (!done && l > 3 && s[i + 1] == '#') {
			unsigned long cp = s[i + 2] == 'x' || s[i + 2] == 'X' ?
			    strtoul(s + i + 3, NULL, 16) :
			    strtoul(s + i + 2, NULL, 10);
			/* UTF-8 of cp: at most 4 bytes; "&#N;" is >= 4 long. */
			if (cp > 0 && cp < 0x110000 && l >= 4) {
				if (cp < 0x80) {
					o[j++] = (char)cp;
				} else if (cp < 0x800) {
					o[j++] = (char)(0xc0 | (cp >> 6));
					o[j++] = (char)(0x80 | (cp & 63));
				} else if (cp < 0x10000) {
					o[j++] = (char)(0xe0 | (cp >> 12));
					o[j++] = (char)(0x80 | ((cp >> 6) & 63));
					o[j++] = (char)(0x80 | (cp & 63));
				} else {
					o[j++] = (char)(0xf0 | (cp >> 18));
					o[j++] = (char)(0x80 | ((cp >> 12) & 63));
					o[j++] = (char)(0x80 | ((cp >> 6) & 63));
					o[j++] = (char)(0x80 | (cp & 63));
				}
				i += l - 1;
				done = 1;
			}
		}
		if (!done)
			o[j++] = '&';
	}
	o[j] = '\0';
	return o;
}

/* The text of the first <tag>...</tag> in s, unescaped, into out. */
static void
xml_field(const char *s, const char *tag, char *out, size_t outlen)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = strstr(s, open);
	if (!a)
		return;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b)
		return;
	char *u = ir_aws_xml_unescape(a, (size_t)(b - a));
	snprintf(out, outlen, "%s", u);
	free(u);
}

void
ir_aws_parse_error(const char *body, long status, const char *query_error,
    const char *errortype, char *code, size_t codelen, char *message,
    size_t msglen)
{
	code[0] = message[0] = '\0';
	if (!body)
		body = "";
	json_error_t je;
	json_t *j = (*body == '{') ? json_loads(body, 0, &je) : NULL;
	if (j) {
		const char *t = json_string_value(json_object_get(j, "__type"));
		const char *m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "Message"));
		if (t) {
			const char *hash = strrchr(t, '#');
			snprintf(code, codelen, "%s", hash ? hash + 1 : t);
		}
		if (m)
			snprintf(message, msglen, "%s", m);
		json_decref(j);
	} else if (strstr(body, "<Error>") || strstr(body, "<Code>")) {
		xml_field(body, "Code", code, codelen);
		xml_field(body, "Message", message, msglen);
	}
	/* SQS's compatibility header has the classic code name. */
	if (query_error && query_error[0]) {
		size_t n = strcspn(query_error, ";");
		if (n > 0)
			snprintf(code, codelen, "%.*s", (int)n, query_error);
	} else if (!code[0] && errortype && errortype[0]) {
		snprintf(code, codelen, "%.*s", (int)strcspn(errortype, ":"),
		    errortype);
	}
	/* Codes and messages go into one-line errors: flatten them. */
	for (char *c = message; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	for (char *c = code; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	if (!code[0]) {
		const char *st = status == 404 ? "NotFound" :
		    status == 403 ? "Forbidden" : status == 400 ?
		    "BadRequest" : status == 503 ? "ServiceUnavailable" :
		    "HTTPError";
		snprintf(code, codelen, "%s", st);
	}
}

static void
parse_error(struct ir_aws_resp *r, const struct hdrs *h)
{
	ir_aws_parse_error(r->body ? (const char *)r->body : "", r->status,
	    h->query_error, h->errortype, r->code, sizeof r->code, r->message,
	    sizeof r->message);
}

static int
throttling_code(const char *c)
{
	static const char *codes[] = {
		"Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottledException", "TooManyRequestsException",
		"ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"BandwidthLimitExceeded", "RequestThrottled", "SlowDown",
		"PriorRequestNotComplete", "EC2ThrottledException",
		"RequestTimeout", "RequestTimeoutException", "InternalError",
		"InternalFailure", "ServiceUnavailable",
		"AWS.SimpleQueueService.RequestThrottled",
	};
	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
		if (strcmp(c, codes[i]) == 0)
			return 1;
	return strstr(c, "Throttl") != NULL;
}

static int
auth_code(const char *c)
{
	static const char *codes[] = {
		"InvalidClientTokenId", "SignatureDoesNotMatch",
		"InvalidAccessKeyId", "AccessDenied", "AccessDeniedException",
		"ExpiredToken", "ExpiredTokenException", "InvalidToken",
		"UnrecognizedClientException", "MissingAuthenticationToken",
		"InvalidSecurity", "AuthFailure", "RequestTimeTooSkewed",
		"IncompleteSignature", "MissingAuthenticationTokenException",
		"RequestExpired", "TokenRefreshRequired",
	};
	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
		if (strcmp(c, codes[i]) == 0)
			return 1;
	return 0;
}

static int
missing_code(const char *c)
{
	return strcmp(c, "NoSuchKey") == 0 || strcmp(c, "NoSuchBucket") == 0 ||
	    strcmp(c, "NotFound") == 0 ||
	    strstr(c, "NonExistentQueue") != NULL ||
	    strstr(c, "QueueDoesNotExist") != NULL;
}

static int
expired_code(const char *c)
{
	return strcmp(c, "ExpiredToken") == 0 ||
	    strcmp(c, "ExpiredTokenException") == 0 ||
	    strcmp(c, "InvalidToken") == 0 ||
	    strcmp(c, "RequestExpired") == 0;
}

/* curl errors that no retry can fix. */
static int
permanent_curl(CURLcode rc)
{
	return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
	    rc == CURLE_BAD_FUNCTION_ARGUMENT || rc == CURLE_OUT_OF_MEMORY;
}

static void
sleep_ms(double ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)((ms - (double)(long long)(ms / 1000) * 1000) * 1e6) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* host[:port] of "scheme://host[:port][/...]". */
static void
url_host(const char *base, char *out, size_t n)
{
	const char *h = strstr(base, "://");
	h = h ? h + 3 : base;
	size_t l = strcspn(h, "/?#");
	if (l >= n)
		l = n - 1;
	memcpy(out, h, l);
	out[l] = '\0';
	/* curl leaves default ports out of Host; so must the signature. */
	size_t hl = strlen(out);
	if (strncmp(base, "https://", 8) == 0 && hl > 4 &&
	    strcmp(out + hl - 4, ":443") == 0)
		out[hl - 4] = '\0';
	else if (strncmp(base, "http://", 7) == 0 && hl > 3 &&
	    strcmp(out + hl - 3, ":80") == 0)
		out[hl - 3] = '\0';
}

/* One signed attempt. Returns the CURLcode; fills resp and hdrs. */
static CURLcode
attempt(struct ir_aws *a, const struct ir_aws_req *r, const struct creds *c,
    long timeout_ms, struct buf *b, struct hdrs *h, int *sign_fail,
    char *err)
{
	CURL *cu = a->curl;
	char host[512], amz_date[17], url[8192];
	url_host(r->base, host, sizeof host);
	ir_sigv4_amz_date((long long)(ir_unix_ms() / 1000), amz_date);

	struct ir_sigv4_header *sh = ir_xcalloc((size_t)r->nheaders + 1,
	    sizeof *sh);
	sh[0].name = "Host";
	sh[0].value = host;
	for (int i = 0; i < r->nheaders; i++)
		sh[i + 1] = r->headers[i];
	struct ir_sigv4 s = { 0 };
	s.method = r->method;
	s.path = r->path;
	s.query = r->query;
	s.headers = sh;
	s.nheaders = r->nheaders + 1;
	s.body = r->body;
	s.body_len = r->len;
	s.access_key = c->akid;
	s.secret_key = c->secret;
	s.token = c->token;
	s.region = a->region;
	s.service = a->service;
	s.amz_date = amz_date;
	s.flags = strcmp(a->service, "s3") == 0 ?
	    IR_SIGV4_S3 | IR_SIGV4_CONTENT_SHA256 : 0;
	*sign_fail = 0;
	if (ir_sigv4_sign(&s, err) != IR_OK) {
		free(sh);
		*sign_fail = 1;
		return CURLE_OK;
	}

	struct curl_slist *hl = NULL;
	char line[8192];
	snprintf(line, sizeof line, "Host: %s", host);
	hl = curl_slist_append(hl, line);
	for (int i = 0; i < r->nheaders; i++) {
		snprintf(line, sizeof line, "%s: %s", r->headers[i].name,
		    r->headers[i].value);
		hl = curl_slist_append(hl, line);
	}
	snprintf(line, sizeof line, "X-Amz-Date: %s", amz_date);
	hl = curl_slist_append(hl, line);
	if (s.flags & IR_SIGV4_CONTENT_SHA256) {
		snprintf(line, sizeof line, "x-amz-content-sha256: %s",
		    s.payload_hex);
		hl = curl_slist_append(hl, line);
	}
	if (c->token && *c->token) {
		size_t tl = strlen(c->token) + 32;
		char *t = ir_xmalloc(tl);
		snprintf(t, tl, "X-Amz-Security-Token: %s", c->token);
		hl = curl_slist_append(hl, t);
		free(t);
	}
	{
		size_t al = strlen(s.authorization) + 32;
		char *t = ir_xmalloc(al);
		snprintf(t, al, "Authorization: %s", s.authorization);
		hl = curl_slist_append(hl, t);
		free(t);
	}
	hl = curl_slist_append(hl, "Expect:");
	int has_ct = 0;
	for (int i = 0; i < r->nheaders; i++)
		has_ct |= strcasecmp(r->headers[i].name, "content-type") == 0;
	if (!has_ct)
		hl = curl_slist_append(hl, "Content-Type:");
	ir_sigv4_free(&s);
	free(sh);

	snprintf(url, sizeof url, "%s%s%s%s", r->base, r->path,
	    r->query && *r->query ? "?" : "", r->query ? r->query : "");

	curl_easy_reset(cu);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
	    timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* A stalled connection (frozen or vanished server) is given up on
	 * after the long-poll wait plus 15 s without a byte. */
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, (long)r->wait_s + 15);
	curl_easy_setopt(cu, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(cu, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->len || strcmp(r->method, "POST") == 0 ||
		    strcmp(r->method, "PUT") == 0) {
			curl_easy_setopt(cu, CURLOPT_POSTFIELDS,
			    r->body ? (const char *)r->body : "");
			curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)r->len);
		}
	}
	h->content_length = -1;
	h->query_error[0] = h->errortype[0] = h->bucket_region[0] = '\0';
	CURLcode rc = curl_easy_perform(cu);
	curl_slist_free_all(hl);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	return rc;
}

int
ir_aws_request(struct ir_aws *a, const struct ir_aws_req *r,
    struct ir_aws_resp *resp, char *err)
{
	memset(resp, 0, sizeof *resp);
	resp->content_length = -1;
	double start = ir_now_ms();
	/* A long poll's own wait does not count against the deadline. */
	double deadline = start + (ir_aws_timeout() + r->wait_s) * 1000;
	int n = 0, refreshed = 0, force = 0;
	char last[IR_ERRMAX] = "";
	char url[1024];
	snprintf(url, sizeof url, "%s%s", r->base, r->path);

	for (;;) {
		struct creds c = { 0 };
		int rc = get_credentials(&c, force, err);
		force = 0;
		if (rc != IR_OK) {
			if (rc == IR_ETEMP)
				snprintf(last, sizeof last, "%s", err);
			else
				return rc;
		} else {
			struct buf b = { 0 };
			struct hdrs h = { 0 };
			b.max = r->max_body;
			long left = (long)(deadline - ir_now_ms());
			if (left < 1000)
				left = 1000;
			int sign_fail;
			CURLcode cc = attempt(a, r, &c, left, &b, &h, &sign_fail,
			    err);
			int from_imds = c.from_imds;
			creds_clear(&c);
			if (sign_fail) {
				free(b.p);
				return IR_EINVAL;
			}
			n++;
			long status = 0;
			curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE,
			    &status);
			free(resp->body);
			resp->body = b.p;
			resp->len = b.len;
			resp->status = status;
			resp->content_length = h.content_length;
			snprintf(resp->bucket_region, sizeof resp->bucket_region,
			    "%s", h.bucket_region);
			if (b.over)
				return ir_err(err, IR_EINVAL, "%s: the reply is "
				    "larger than %zu bytes", r->what,
				    r->max_body);
			if (cc != CURLE_OK) {
				if (permanent_curl(cc))
					return ir_err(err, IR_EINVAL, "%s: %s: "
					    "%s", r->what, url,
					    curl_easy_strerror(cc));
				snprintf(last, sizeof last, "%s",
				    curl_easy_strerror(cc));
			} else if (status >= 200 && status < 300) {
				return IR_OK;
			} else {
				parse_error(resp, &h);
				if (status >= 500 || status == 429 ||
				    throttling_code(resp->code)) {
					snprintf(last, sizeof last, "HTTP %ld "
					    "%s%s%s", status, resp->code,
					    resp->message[0] ? ": " : "",
					    resp->message);
				} else if (from_imds && !refreshed &&
				    expired_code(resp->code)) {
					refreshed = force = 1;
					continue;
				} else {
					int code = missing_code(resp->code) ||
					    status == 404 ? IR_ENOENT :
					    status == 401 || status == 403 ||
					    auth_code(resp->code) ? IR_EAUTH :
					    IR_EINVAL;
					if (resp->message[0])
						return ir_err(err, code, "%s: %s:"
						    " %s", r->what, resp->code,
						    resp->message);
					return ir_err(err, code, "%s: %s (HTTP "
					    "%ld)", r->what, resp->code, status);
				}
			}
		}
		/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
		double cap = 200.0 * (double)(1u << (n < 10 ? n : 10));
		if (cap > 5000)
			cap = 5000;
		double d = cap * (double)arc4random_uniform(10001) / 10000.0;
		double now = ir_now_ms();
		if (now + d >= deadline || now >= deadline)
			return ir_err(err, IR_ETEMP, "%s: cannot reach %s: %s "
			    "(%d attempt%s in %.0f s)", r->what, url, last, n,
			    n == 1 ? "" : "s", (now - start) / 1000);
		sleep_ms(d);
	}
}
