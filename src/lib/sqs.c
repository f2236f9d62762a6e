/*
 * sqs.c: the Amazon SQS queue backend, over SQS's JSON protocol (POST /,
 * X-Amz-Target: AmazonSQS.<Operation>, application/x-amz-json-1.0),
 * through aws.c (signing, retries, errors).
 *
 * URLs: sqs://NAME is resolved with GetQueueUrl at the region's endpoint
 * (or AWS_ENDPOINT_URL_SQS); a full queue URL is used as given, its region
 * taken from a sqs.REGION.amazonaws.com host. With opts->create a missing
 * queue is created, and when opts->max_receive > 0 so is NAME-dead, wired
 * as the queue's dead-letter queue (redrive policy, maxReceiveCount =
 * max_receive): the interface's dead-letter semantics are SQS's own.
 *
 * Invariants: q->url is always the full queue URL (what "reply" fields
 * carry). Every operation names the queue URL in its errors. Bodies are
 * sent as JSON strings, so they must be valid UTF-8 (SQS's rule too).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aws.h"
#include "queue.h"
#include "sqs.h"

struct sqs {
	struct ir_aws *aws;
	char *endpoint;   /* where requests go: scheme://host[:port] */
};

static const struct ir_queue_ops sqs_ops;

/* The JSON protocol: POST / with the operation in X-Amz-Target. */
static int
sqs_call(struct ir_aws *aws, const char *endpoint, const char *op,
    const char *queue, json_t *req, json_t **reply, int wait_s, char *err)
{
	char target[64], what[1024];
	snprintf(target, sizeof target, "AmazonSQS.%s", op);
	snprintf(what, sizeof what, "SQS %s on queue %s", op, queue);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return ir_err(err, IR_EINVAL, "%s: cannot encode the request "
		    "(a message that is not valid UTF-8?)", what);
	const struct ir_sigv4_header h[] = {
		{ "Content-Type", "application/x-amz-json-1.0" },
		{ "X-Amz-Target", target },
	};
	struct ir_aws_req r = {
		.what = what, .method = "POST", .base = endpoint, .path = "/",
		.headers = h, .nheaders = 2, .body = body, .len = strlen(body),
		.max_body = 64 << 20, .wait_s = wait_s,
	};
	struct ir_aws_resp resp;
	int rc = ir_aws_request(aws, &r, &resp, err);
	free(body);
	if (rc != IR_OK) {
		/* A stale receipt handle is a missing message here. */
		if (rc == IR_EINVAL &&
		    (strcmp(resp.code, "ReceiptHandleIsInvalid") == 0 ||
		    strstr(resp.code, "MessageNotInflight") != NULL ||
		    (strstr(resp.code, "InvalidParameterValue") &&
		    (strstr(resp.message, "does not exist") ||
		    strstr(resp.message, "not available")))))
			rc = IR_ENOENT;
		ir_aws_resp_free(&resp);
		return rc;
	}
	if (reply) {
		json_error_t je;
		*reply = resp.len ? json_loadb((const char *)resp.body, resp.len,
		    0, &je) : json_object();
		if (!*reply || !json_is_object(*reply)) {
			json_decref(*reply);
			*reply = NULL;
			ir_aws_resp_free(&resp);
			return ir_err(err, IR_ETEMP, "%s: the reply is not a JSON "
			    "object", what);
		}
	}
	ir_aws_resp_free(&resp);
	return IR_OK;
}

static int
valid_name(const char *n)
{
	size_t l = strlen(n);
	if (l < 1 || l > 80)
		return 0;
	for (const char *c = n; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return 0;
	return 1;
}

/* "scheme://host[:port]" of url into a malloc'd string; path after it. */
static char *
origin(const char *url, const char **path)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t l = strcspn(h, "/?#");
	*path = h + l;
	size_t n = (size_t)(h - url) + l;
	char *o = ir_xmalloc(n + 1);
	memcpy(o, url, n);
	o[n] = '\0';
	return o;
}

int
ir_sqs_url_region(const char *url, char *out, size_t n)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t l = strcspn(h, "/:?#");
	char host[256];
	if (l >= sizeof host)
		return 0;
	memcpy(host, h, l);
	host[l] = '\0';
	const char *aws = strstr(host, ".amazonaws.com");
	if (!aws)
		return 0;
	if (strncmp(host, "sqs.", 4) == 0 && aws > host + 4) {
		snprintf(out, n, "%.*s", (int)(aws - host - 4), host + 4);
		return strchr(out, '.') == NULL;
	}
	const char *q = strstr(host, ".queue.amazonaws.com");
	if (q && q > host) {
		snprintf(out, n, "%.*s", (int)(q - host), host);
		return strchr(out, '.') == NULL;
	}
	return 0;
}

static char *
default_endpoint(struct ir_aws *aws)
{
	const char *ep = ir_aws_endpoint(aws);
	char buf[256];
	if (ep)
		return ir_xstrdup(ep);
	const char *r = ir_aws_region(aws);
	snprintf(buf, sizeof buf, "https://sqs.%s.amazonaws.com%s", r,
	    strncmp(r, "cn-", 3) == 0 ? ".cn" : "");
	return ir_xstrdup(buf);
}

static int
get_queue_url(struct ir_aws *aws, const char *ep, const char *name,
    const char *label, char **url, char *err)
{
	json_t *rep;
	int rc = sqs_call(aws, ep, "GetQueueUrl", label,
	    json_pack("{s:s}", "QueueName", name), &rep, 0, err);
	if (rc != IR_OK)
		return rc;
	const char *u = json_string_value(json_object_get(rep, "QueueUrl"));
	if (!u || !*u) {
		json_decref(rep);
		return ir_err(err, IR_ETEMP, "SQS GetQueueUrl on queue %s: no "
		    "QueueUrl in the reply", label);
	}
	*url = ir_xstrdup(u);
	json_decref(rep);
	return IR_OK;
}

static int
create_queue(struct ir_aws *aws, const char *ep, const char *name,
    const struct ir_queue_opts *o, char **url, char *err)
{
	char label[256], num[32];
	json_t *rep, *attrs = json_object();
	int rc;
	snprintf(label, sizeof label, "sqs://%s", name);
	snprintf(num, sizeof num, "%d", o->visibility_s);
	json_object_set_new(attrs, "VisibilityTimeout", json_string(num));
	if (o->max_receive > 0) {
		char dname[128], *durl = NULL, policy[1024];
		snprintf(dname, sizeof dname, "%s-dead", name);
		if (strlen(dname) > 80) {
			json_decref(attrs);
			return ir_err(err, IR_EINVAL, "queue name %s too long for "
			    "a dead-letter queue %s (80 characters at most)",
			    name, dname);
		}
		snprintf(label, sizeof label, "sqs://%s", dname);
		rc = sqs_call(aws, ep, "CreateQueue", label, json_pack(
		    "{s:s,s:{s:s}}", "QueueName", dname, "Attributes",
		    "MessageRetentionPeriod", "1209600"), &rep, 0, err);
		if (rc != IR_OK) {
			json_decref(attrs);
			return rc;
		}
		const char *u = json_string_value(json_object_get(rep,
		    "QueueUrl"));
		durl = ir_xstrdup(u ? u : "");
		json_decref(rep);
		rc = sqs_call(aws, ep, "GetQueueAttributes", durl, json_pack(
		    "{s:s,s:[s]}", "QueueUrl", durl, "AttributeNames",
		    "QueueArn"), &rep, 0, err);
		free(durl);
		if (rc != IR_OK) {
			json_decref(attrs);
			return rc;
		}
		const char *arn = json_string_value(json_object_get(
		    json_object_get(rep, "Attributes"), "QueueArn"));
		if (!arn) {
			json_decref(rep);
			json_decref(attrs);
			return ir_err(err, IR_ETEMP, "SQS GetQueueAttributes on "
			    "queue %s: no QueueArn in the reply", label);
		}
		snprintf(policy, sizeof policy, "{\"deadLetterTargetArn\":"
		    "\"%s\",\"maxReceiveCount\":\"%d\"}", arn, o->max_receive);
		json_object_set_new(attrs, "RedrivePolicy", json_string(policy));
		json_decref(rep);
	}
	snprintf(label, sizeof label, "sqs://%s", name);
	rc = sqs_call(aws, ep, "CreateQueue", label, json_pack("{s:s,s:o}",
	    "QueueName", name, "Attributes", attrs), &rep, 0, err);
	if (rc != IR_OK)
		return rc;
	const char *u = json_string_value(json_object_get(rep, "QueueUrl"));
	if (!u || !*u) {
		json_decref(rep);
		return ir_err(err, IR_ETEMP, "SQS CreateQueue on queue %s: no "
		    "QueueUrl in the reply", label);
	}
	*url = ir_xstrdup(u);
	json_decref(rep);
	return IR_OK;
}

int
ir_sqs_open(const char *url, const struct ir_queue_opts *o,
    struct ir_queue **qp, char *err)
{
	struct ir_queue_opts d = { 0 };
	char region[64] = "", name[128];
	const char *path;
	struct ir_aws *aws;
	char *qurl = NULL, *ep = NULL;
	int rc;

	*qp = NULL;
	if (o)
		d = *o;
	if (d.max_receive == 0)
		d.max_receive = 5;
	if (d.visibility_s <= 0)
		d.visibility_s = 30;
	if (strncmp(url, "sqs://", 6) == 0) {
		const char *n = url + 6;
		size_t nl = strlen(n);
		while (nl && n[nl - 1] == '/')
			nl--;
		if (nl >= sizeof name)
			return ir_err(err, IR_EINVAL, "%s: queue name too long",
			    url);
		memcpy(name, n, nl);
		name[nl] = '\0';
	} else if (strncmp(url, "https://", 8) == 0 ||
	    strncmp(url, "http://", 7) == 0) {
		char *org = origin(url, &path);
		free(org);
		const char *slash = strrchr(path, '/');
		if (!slash || strchr(path, '?') || strchr(path, '#') ||
		    strlen(slash + 1) >= sizeof name)
			return ir_err(err, IR_EINVAL, "%s: not an SQS queue URL "
			    "(scheme://HOST/ACCOUNT/NAME)", url);
		snprintf(name, sizeof name, "%s", slash + 1);
		ir_sqs_url_region(url, region, sizeof region);
	} else {
		return ir_err(err, IR_EINVAL, "%s: not an SQS queue URL", url);
	}
	if (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".fifo") == 0)
		return ir_err(err, IR_EINVAL, "%s: FIFO queues are not "
		    "supported", url);
	if (!valid_name(name))
		return ir_err(err, IR_EINVAL, "%s: bad queue name \"%s\" (1 to "
		    "80 letters, digits, '-' or '_')", url, name);
	if ((rc = ir_aws_open("sqs", region[0] ? region : NULL, &aws, err)))
		return rc;

	if (strncmp(url, "sqs://", 6) == 0) {
		ep = default_endpoint(aws);
		rc = get_queue_url(aws, ep, name, url, &qurl, err);
		if (rc == IR_ENOENT && d.create)
			rc = create_queue(aws, ep, name, &d, &qurl, err);
	} else {
		/* Requests go to the endpoint override, else to the queue
		 * URL's own origin (the regional endpoint on AWS). */
		const char *ov = ir_aws_endpoint(aws);
		const char *p;
		ep = ov ? ir_xstrdup(ov) : origin(url, &p);
		qurl = ir_xstrdup(url);
		rc = IR_OK;
		if (d.create) {
			char *u = NULL;
			rc = get_queue_url(aws, ep, name, url, &u, err);
			if (rc == IR_ENOENT)
				rc = create_queue(aws, ep, name, &d, &u, err);
			free(u);
		}
	}
	if (rc != IR_OK) {
		free(qurl);
		free(ep);
		ir_aws_close(aws);
		return rc;
	}
	struct sqs *s = ir_xcalloc(1, sizeof *s);
	s->aws = aws;
	s->endpoint = ep;
	struct ir_queue *q = ir_xcalloc(1, sizeof *q);
	q->ops = &sqs_ops;
	q->url = qurl;
	q->opts = d;
	q->impl = s;
	*qp = q;
	return IR_OK;
}

static int
sqs_send_batch(struct ir_queue *q, const char *const *bodies,
    const size_t *lens, int n, char *err)
{
	struct sqs *s = q->impl;
	json_t *rep;
	int rc;

	if (n == 1) {
		json_t *req = json_pack("{s:s,s:s%}", "QueueUrl", q->url,
		    "MessageBody", bodies[0], lens[0]);
		if (!req)
			return ir_err(err, IR_EINVAL, "SQS SendMessage on queue "
			    "%s: message is not valid UTF-8", q->url);
		return sqs_call(s->aws, s->endpoint, "SendMessage", q->url, req,
		    NULL, 0, err);
	}
	/* Entries the server failed on its side are sent again (a few
	 * times); a sender fault is final. */
	int pending[IR_QUEUE_MAX_BATCH], np = n;
	for (int i = 0; i < n; i++)
		pending[i] = i;
	for (int round = 0; round < 4 && np > 0; round++) {
		json_t *entries = json_array();
		for (int k = 0; k < np; k++) {
			char id[16];
			int i = pending[k];
			snprintf(id, sizeof id, "m%d", i);
			json_t *e = json_pack("{s:s,s:s%}", "Id", id,
			    "MessageBody", bodies[i], lens[i]);
			if (!e) {
				json_decref(entries);
				return ir_err(err, IR_EINVAL, "SQS "
				    "SendMessageBatch on queue %s: message %d "
				    "is not valid UTF-8", q->url, i + 1);
			}
			json_array_append_new(entries, e);
		}
		rc = sqs_call(s->aws, s->endpoint, "SendMessageBatch", q->url,
		    json_pack("{s:s,s:o}", "QueueUrl", q->url, "Entries",
		    entries), &rep, 0, err);
		if (rc != IR_OK)
			return rc;
		json_t *failed = json_object_get(rep, "Failed");
		size_t fi;
		json_t *f;
		int nf = 0, again[IR_QUEUE_MAX_BATCH];
		json_array_foreach(failed, fi, f) {
			const char *id = json_string_value(json_object_get(f,
			    "Id"));
			const char *code = json_string_value(json_object_get(f,
			    "Code"));
			const char *msg = json_string_value(json_object_get(f,
			    "Message"));
			int sender = json_is_true(json_object_get(f,
			    "SenderFault"));
			if (sender || !id || id[0] != 'm') {
				rc = ir_err(err, IR_EINVAL, "SQS SendMessageBatch "
				    "on queue %s: %s: %s", q->url,
				    code ? code : "Failed", msg ? msg : "");
				json_decref(rep);
				return rc;
			}
			int i = atoi(id + 1);
			if (i >= 0 && i < n && nf < IR_QUEUE_MAX_BATCH)
				again[nf++] = i;
		}
		json_decref(rep);
		np = nf;
		memcpy(pending, again, sizeof(int) * (size_t)nf);
	}
	if (np > 0)
		return ir_err(err, IR_ETEMP, "SQS SendMessageBatch on queue %s: "
		    "%d of %d messages failed on the server's side", q->url, np,
		    n);
	return IR_OK;
}

static void
md5_hex(const char *s, size_t n, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(s, n, md, &ml, EVP_md5(), NULL);
	for (unsigned int i = 0; i < ml && i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

static int receive_once(struct ir_queue *, struct ir_msg *, int, int, int,
    int *, char *);

/*
 * The interface promises a wait of wait_s seconds for the first message.
 * Some servers (fauxqs, when a waiter's connection is gone) end a long poll
 * early with nothing: poll again for the rest of the wait.
 */
static int
sqs_receive(struct ir_queue *q, struct ir_msg *msgs, int max, int wait_s,
    int visibility_s, int *n, char *err)
{
	double end = ir_now_ms() + wait_s * 1000.0;
	for (;;) {
		double t0 = ir_now_ms();
		int left = (int)((end - t0 + 999) / 1000);
		if (left < 0)
			left = 0;
		if (left > wait_s)
			left = wait_s;
		int rc = receive_once(q, msgs, max, left, visibility_s, n, err);
		if (rc != IR_OK || *n > 0 || left == 0 ||
		    ir_now_ms() >= end - 200)
			return rc;
		if (ir_now_ms() - t0 < 100) {
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
}

static int
receive_once(struct ir_queue *q, struct ir_msg *msgs, int max, int wait_s,
    int visibility_s, int *n, char *err)
{
	struct sqs *s = q->impl;
	json_t *rep;
	*n = 0;
	json_t *req = json_pack("{s:s,s:i,s:i,s:i,s:[s],s:[s]}", "QueueUrl",
	    q->url, "MaxNumberOfMessages", max, "WaitTimeSeconds", wait_s,
	    "VisibilityTimeout", visibility_s, "MessageSystemAttributeNames",
	    "ApproximateReceiveCount", "AttributeNames",
	    "ApproximateReceiveCount");
	int rc = sqs_call(s->aws, s->endpoint, "ReceiveMessage", q->url, req,
	    &rep, wait_s, err);
	if (rc != IR_OK)
		return rc;
	json_t *arr = json_object_get(rep, "Messages");
	size_t i;
	json_t *m;
	json_array_foreach(arr, i, m) {
		if (*n >= max)
			break;
		json_t *jb = json_object_get(m, "Body");
		const char *rh = json_string_value(json_object_get(m,
		    "ReceiptHandle"));
		const char *id = json_string_value(json_object_get(m,
		    "MessageId"));
		const char *md5 = json_string_value(json_object_get(m,
		    "MD5OfBody"));
		const char *cnt = json_string_value(json_object_get(
		    json_object_get(m, "Attributes"), "ApproximateReceiveCount"));
		if (!json_is_string(jb) || !rh) {
			for (int k = 0; k < *n; k++)
				ir_msg_free(&msgs[k]);
			*n = 0;
			json_decref(rep);
			return ir_err(err, IR_ETEMP, "SQS ReceiveMessage on "
			    "queue %s: a message without Body or ReceiptHandle",
			    q->url);
		}
		const char *b = json_string_value(jb);
		size_t bl = json_string_length(jb);
		if (md5) {
			char h[33];
			md5_hex(b, bl, h);
			if (strcasecmp(h, md5) != 0) {
				for (int k = 0; k < *n; k++)
					ir_msg_free(&msgs[k]);
				*n = 0;
				json_decref(rep);
				return ir_err(err, IR_ETEMP, "SQS ReceiveMessage "
				    "on queue %s: MD5OfBody does not match the "
				    "body of message %s", q->url, id ? id : "?");
			}
		}
		struct ir_msg *o = &msgs[(*n)++];
		o->body = ir_xmalloc(bl + 1);
		memcpy(o->body, b, bl);
		o->body[bl] = '\0';
		o->len = bl;
		o->handle = ir_xstrdup(rh);
		o->id = ir_xstrdup(id ? id : "");
		o->receive_count = cnt ? atoi(cnt) : 1;
		if (o->receive_count < 1)
			o->receive_count = 1;
	}
	json_decref(rep);
	return IR_OK;
}

/* Receipt handles are opaque printable tokens (base64-like on AWS): one
 * with spaces or control characters cannot be one, whatever the server
 * says (some compatible servers accept anything). */
static int
check_handle(const struct ir_queue *q, const char *op, const char *h,
    char *err)
{
	size_t n = strlen(h);
	if (n == 0 || n > 4096)
		return ir_err(err, IR_EINVAL, "SQS %s on queue %s: not a receipt "
		    "handle (length %zu)", op, q->url, n);
	for (const unsigned char *c = (const unsigned char *)h; *c; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return ir_err(err, IR_EINVAL, "SQS %s on queue %s: not a "
			    "receipt handle (byte %zu)", op, q->url,
			    (size_t)(c - (const unsigned char *)h));
	return IR_OK;
}

static int
sqs_del(struct ir_queue *q, const struct ir_msg *m, char *err)
{
	struct sqs *s = q->impl;
	int rc;
	if ((rc = check_handle(q, "DeleteMessage", m->handle, err)) != IR_OK)
		return rc;
	return sqs_call(s->aws, s->endpoint, "DeleteMessage", q->url,
	    json_pack("{s:s,s:s}", "QueueUrl", q->url, "ReceiptHandle",
	    m->handle), NULL, 0, err);
}

static int
sqs_change_visibility(struct ir_queue *q, const struct ir_msg *m,
    int visibility_s, char *err)
{
	struct sqs *s = q->impl;
	int rc;
	if ((rc = check_handle(q, "ChangeMessageVisibility", m->handle,
	    err)) != IR_OK)
		return rc;
	return sqs_call(s->aws, s->endpoint, "ChangeMessageVisibility", q->url,
	    json_pack("{s:s,s:s,s:i}", "QueueUrl", q->url, "ReceiptHandle",
	    m->handle, "VisibilityTimeout", visibility_s), NULL, 0, err);
}

static int
sqs_depth(struct ir_queue *q, long *visible, long *inflight, char *err)
{
	struct sqs *s = q->impl;
	json_t *rep;
	int rc = sqs_call(s->aws, s->endpoint, "GetQueueAttributes", q->url,
	    json_pack("{s:s,s:[s,s]}", "QueueUrl", q->url, "AttributeNames",
	    "ApproximateNumberOfMessages",
	    "ApproximateNumberOfMessagesNotVisible"), &rep, 0, err);
	if (rc != IR_OK)
		return rc;
	json_t *a = json_object_get(rep, "Attributes");
	const char *v = json_string_value(json_object_get(a,
	    "ApproximateNumberOfMessages"));
	const char *f = json_string_value(json_object_get(a,
	    "ApproximateNumberOfMessagesNotVisible"));
	if (!v || !f) {
		json_decref(rep);
		return ir_err(err, IR_ETEMP, "SQS GetQueueAttributes on queue "
		    "%s: no message counts in the reply", q->url);
	}
	*visible = atol(v);
	*inflight = atol(f);
	json_decref(rep);
	return IR_OK;
}

static void
sqs_close(struct ir_queue *q)
{
	struct sqs *s = q->impl;
	if (s) {
		ir_aws_close(s->aws);
		free(s->endpoint);
		free(s);
	}
	free(q->url);
	free(q);
}

static const struct ir_queue_ops sqs_ops = {
	.send_batch = sqs_send_batch,
	.receive = sqs_receive,
	.del = sqs_del,
	.change_visibility = sqs_change_visibility,
	.depth = sqs_depth,
	.close = sqs_close,
};
