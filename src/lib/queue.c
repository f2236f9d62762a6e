/*
 * queue.c: the queue interface's front: URL dispatch to a backend (spool.c
 * or sqs.c), the generic wrappers with their argument checks, ir_msg_free,
 * the per-role default URLs and ir_abspath.
 *
 * Invariants: every backend gets arguments already checked here (batch
 * sizes, body sizes, wait and visibility ranges), so the backends need not
 * repeat the checks; the backend owns q->url and frees it in its close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

char *
ir_abspath(const char *path)
{
	char *cwd = NULL, *buf, *o;
	const char *p;
	size_t n;

	if (path[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return NULL;
	}
	n = (cwd ? strlen(cwd) : 0) + strlen(path) + 3;
	buf = ir_xmalloc(n);
	snprintf(buf, n, "%s/%s", cwd ? cwd : "", path);
	free(cwd);
	/* Squeeze "//" and drop "/./" and a trailing "/" or "/.". */
	for (p = buf, o = buf; *p;) {
		if (p[0] == '/' && (p[1] == '/' || p[1] == 0)) {
			p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '.' && (p[2] == '/' || p[2] == 0)) {
			p += 2;
			continue;
		}
		*o++ = *p++;
	}
	if (o == buf)
		*o++ = '/';
	*o = 0;
	return buf;
}

int
ir_queue_open(const char *url, const struct ir_queue_opts *o,
    struct ir_queue **q, char *err)
{
	struct ir_queue_opts d = { 0 };
	const char *path = NULL;

	*q = NULL;
	if (o)
		d = *o;
	if (d.max_receive == 0)
		d.max_receive = 5;
	if (d.visibility_s == 0)
		d.visibility_s = 30;
	if (d.visibility_s < 0 || d.visibility_s > IR_QUEUE_MAX_VISIBILITY)
		return ir_err(err, IR_EINVAL,
		    "%s: visibility timeout %d outside 0 to %d s", url,
		    d.visibility_s, IR_QUEUE_MAX_VISIBILITY);
	if (!url || !*url)
		return ir_err(err, IR_EINVAL, "empty queue URL");
	if (has_prefix(url, "spool:"))
		path = url + 6;
	else if (has_prefix(url, "sqs://") || has_prefix(url, "https://") ||
	    has_prefix(url, "http://"))
		return ir_sqs_open(url, &d, q, err);
	else if (strstr(url, "://") || has_prefix(url, "dir:") ||
	    has_prefix(url, "s3:"))
		return ir_err(err, IR_EINVAL,
		    "%s: not a queue URL (spool:PATH, PATH, sqs://NAME or "
		    "an SQS queue URL)", url);
	else
		path = url;
	if (!*path)
		return ir_err(err, IR_EINVAL, "%s: empty spool path", url);
	return ir_spool_open(path, &d, q, err);
}

const char *
ir_queue_url(const struct ir_queue *q)
{
	return q->url;
}

void
ir_queue_set_nosync(struct ir_queue *q, int nosync)
{
	q->opts.nosync = nosync;
}

static int
check_body(const char *body, size_t len, char *err)
{
	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty message");
	if (len > IR_QUEUE_MAX_BODY)
		return ir_err(err, IR_EINVAL,
		    "message of %zu bytes larger than the limit of %d", len,
		    IR_QUEUE_MAX_BODY);
	if (memchr(body, 0, len))
		return ir_err(err, IR_EINVAL, "message contains a NUL byte");
	return IR_OK;
}

int
ir_queue_send(struct ir_queue *q, const char *body, size_t len, char *err)
{
	return ir_queue_send_batch(q, &body, &len, 1, err);
}

int
ir_queue_send_batch(struct ir_queue *q, const char *const *bodies,
    const size_t *lens, int n, char *err)
{
	int i, rc;

	if (n < 1 || n > IR_QUEUE_MAX_BATCH)
		return ir_err(err, IR_EINVAL, "batch of %d messages: 1 to %d",
		    n, IR_QUEUE_MAX_BATCH);
	for (i = 0; i < n; i++)
		if ((rc = check_body(bodies[i], lens[i], err)) != IR_OK)
			return rc;
	return q->ops->send_batch(q, bodies, lens, n, err);
}

int
ir_queue_receive(struct ir_queue *q, struct ir_msg *msgs, int max,
    int wait_s, int visibility_s, int *n, char *err)
{
	*n = 0;
	if (max < 1 || max > IR_QUEUE_MAX_BATCH)
		return ir_err(err, IR_EINVAL, "receive of %d messages: 1 to %d",
		    max, IR_QUEUE_MAX_BATCH);
	if (wait_s < 0 || wait_s > IR_QUEUE_MAX_WAIT)
		return ir_err(err, IR_EINVAL, "wait of %d s: 0 to %d", wait_s,
		    IR_QUEUE_MAX_WAIT);
	if (visibility_s > IR_QUEUE_MAX_VISIBILITY)
		return ir_err(err, IR_EINVAL,
		    "visibility timeout %d outside 0 to %d s", visibility_s,
		    IR_QUEUE_MAX_VISIBILITY);
	if (visibility_s < 0)
		visibility_s = q->opts.visibility_s;
	memset(msgs, 0, sizeof *msgs * max);
	return q->ops->receive(q, msgs, max, wait_s, visibility_s, n, err);
}

int
ir_queue_delete(struct ir_queue *q, const struct ir_msg *m, char *err)
{
	if (!m->handle || !*m->handle)
		return ir_err(err, IR_EINVAL, "message without a receipt handle");
	return q->ops->del(q, m, err);
}

int
ir_queue_change_visibility(struct ir_queue *q, const struct ir_msg *m,
    int visibility_s, char *err)
{
	if (!m->handle || !*m->handle)
		return ir_err(err, IR_EINVAL, "message without a receipt handle");
	if (visibility_s < 0 || visibility_s > IR_QUEUE_MAX_VISIBILITY)
		return ir_err(err, IR_EINVAL,
		    "visibility timeout %d outside 0 to %d s", visibility_s,
		    IR_QUEUE_MAX_VISIBILITY);
	return q->ops->change_visibility(q, m, visibility_s, err);
}

int
ir_queue_depth(struct ir_queue *q, long *visible, long *inflight, char *err)
{
	*visible = *inflight = 0;
	return q->ops->depth(q, visible, inflight, err);
}

void
ir_queue_close(struct ir_queue *q)
{
	if (q)
		q->ops->close(q);
}

void
ir_msg_free(struct ir_msg *m)
{
	if (!m)
		return;
	free(m->body);
	free(m->handle);
	free(m->id);
	memset(m, 0, sizeof *m);
}

char *
ir_role_url(enum ir_role role, const char *flag)
{
	static const struct {
		const char *env, *scheme, *sub;
	} r[] = {
		[IR_ROLE_REQUESTS] = { "IR_REQUEST_QUEUE", "spool:", "requests" },
		[IR_ROLE_REPLIES] = { "IR_RESPONSE_QUEUE", "spool:", "replies" },
		[IR_ROLE_INPUT] = { "IR_INPUT_STORE", "dir:", "input" },
		[IR_ROLE_OUTPUT] = { "IR_OUTPUT_STORE", "dir:", "output" },
	};
	const char *v, *state;
	size_t n;
	char *s;

	if (flag)
		return ir_xstrdup(flag);
	if ((v = ir_getenv(r[role].env, NULL)))
		return ir_xstrdup(v);
	state = ir_getenv("IR_STATE", "run");
	n = strlen(r[role].scheme) + strlen(state) + strlen(r[role].sub) + 2;
	s = ir_xmalloc(n);
	snprintf(s, n, "%s%s/%s", r[role].scheme, state, r[role].sub);
	return s;
}
