/*
 * queue_store.c: unit tests (TAP) for the queue and store fronts: store
 * key validation, ir_abspath, URL dispatch, per-role default URLs, and a
 * spool's handle rewriting on change-visibility.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"
#include "store.h"

static int n, failed;

static void
ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	if (!cond)
		failed++;
}

static void
key(const char *k, int valid, const char *what)
{
	char err[IR_ERRMAX] = "";
	int rc = ir_store_key_check(k, err);

	ok(valid ? rc == IR_OK : rc == IR_EINVAL && *err, what);
	if (!valid && rc == IR_EINVAL)
		printf("# %s\n", err);
}

static void
abspath(const char *in, const char *want)
{
	char *got = ir_abspath(in), what[256];

	snprintf(what, sizeof what, "abspath %s -> %s", in, want);
	ok(got && strcmp(got, want) == 0, what);
	if (got && strcmp(got, want))
		printf("# got %s\n", got);
	free(got);
}

int
main(void)
{
	char err[IR_ERRMAX], tmpl[] = "/tmp/ir-unit-qs.XXXXXX", *u, big[1100];
	struct ir_queue *q;
	struct ir_store *s;
	struct ir_msg m[2];
	int got, rc;

	key("a", 1, "key: one segment");
	key("ID/photo 1.jpg", 1, "key: folder and a space");
	key("ünï/名前+=&?#%.jpg", 1, "key: UTF-8 and punctuation");
	key("a/.hidden/..x/x..", 1, "key: dots inside segments are fine");
	key("", 0, "key: empty");
	key("/abs", 0, "key: absolute");
	key("..", 0, "key: ..");
	key("a/../b", 0, "key: .. segment");
	key("a/./b", 0, "key: . segment");
	key("a//b", 0, "key: empty segment");
	key("a/", 0, "key: trailing slash");
	key("a\tb", 0, "key: TAB");
	key("a\x7f", 0, "key: DEL");
	key("a\xff", 0, "key: invalid UTF-8 byte");
	key("a\xc0\xaf", 0, "key: overlong UTF-8");
	key("a\xed\xa0\x80", 0, "key: UTF-16 surrogate");
	key("a\xe2\x82", 0, "key: truncated UTF-8");
	memset(big, 'k', 1024);
	big[1024] = 0;
	key(big, 1, "key: 1024 bytes");
	big[1024] = 'k';
	big[1025] = 0;
	key(big, 0, "key: 1025 bytes");

	abspath("/a//b/./c/", "/a/b/c");
	abspath("/", "/");
	abspath("/./", "/");
	if (chdir("/tmp") == 0) {
		abspath("run/requests", "/tmp/run/requests");
		abspath("./x/.", "/tmp/x");
		abspath(".", "/tmp");
	}

	ok(ir_queue_open("dir:/tmp/x", NULL, &q, err) == IR_EINVAL && !q,
	    "queue: dir: is not a queue");
	ok(ir_queue_open("ftp://x", NULL, &q, err) == IR_EINVAL,
	    "queue: unknown scheme");
	ok(ir_queue_open("spool:", NULL, &q, err) == IR_EINVAL,
	    "queue: empty spool path");
	ok(ir_store_open("spool:/tmp/x", &s, err) == IR_EINVAL && !s,
	    "store: spool: is not a store");
	ok(ir_store_open("gs://b/p", &s, err) == IR_EINVAL,
	    "store: unknown scheme");

	setenv("IR_STATE", "/st", 1);
	unsetenv("IR_REQUEST_QUEUE");
	unsetenv("IR_RESPONSE_QUEUE");
	unsetenv("IR_INPUT_STORE");
	unsetenv("IR_OUTPUT_STORE");
	u = ir_role_url(IR_ROLE_REQUESTS, NULL);
	ok(strcmp(u, "spool:/st/requests") == 0, "role: default from IR_STATE");
	free(u);
	u = ir_role_url(IR_ROLE_OUTPUT, NULL);
	ok(strcmp(u, "dir:/st/output") == 0, "role: output store default");
	free(u);
	setenv("IR_RESPONSE_QUEUE", "sqs://r", 1);
	u = ir_role_url(IR_ROLE_REPLIES, NULL);
	ok(strcmp(u, "sqs://r") == 0, "role: environment over default");
	free(u);
	u = ir_role_url(IR_ROLE_REPLIES, "spool:x");
	ok(strcmp(u, "spool:x") == 0, "role: flag over environment");
	free(u);
	unsetenv("IR_STATE");
	u = ir_role_url(IR_ROLE_INPUT, NULL);
	ok(strcmp(u, "dir:run/input") == 0, "role: state folder run");
	free(u);

	/* A spool: the handle follows the lease; a stale one is ENOENT. */
	if (!mkdtemp(tmpl)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	ok(ir_queue_open(tmpl, NULL, &q, err) == IR_OK, "spool: open");
	ok(strncmp(ir_queue_url(q), "spool:/", 7) == 0, "spool: absolute URL");
	ok(ir_queue_send(q, "x", 1, err) == IR_OK, "spool: send");
	rc = ir_queue_receive(q, m, 2, 0, 60, &got, err);
	ok(rc == IR_OK && got == 1 && m[0].receive_count == 1 &&
	    strcmp(m[0].body, "x") == 0, "spool: receive");
	char *old = ir_xstrdup(m[0].handle);
	usleep(5000);
	ok(ir_queue_change_visibility(q, &m[0], 120, err) == IR_OK,
	    "spool: change visibility");
	ok(strcmp(old, m[0].handle) != 0 && strlen(old) == strlen(m[0].handle),
	    "spool: the handle was rewritten in place, same length");
	struct ir_msg stale = { .handle = old };
	ok(ir_queue_delete(q, &stale, err) == IR_ENOENT,
	    "spool: the old handle is stale (IR_ENOENT)");
	ok(ir_queue_delete(q, &m[0], err) == IR_OK,
	    "spool: delete with the rewritten handle");
	free(old);
	ir_msg_free(&m[0]);
	ok(m[0].body == NULL && m[0].handle == NULL, "ir_msg_free zeroes");
	ok(ir_queue_send(q, "", 0, err) == IR_EINVAL, "spool: empty message");
	ok(ir_queue_receive(q, m, 0, 0, 1, &got, err) == IR_EINVAL,
	    "receive of 0 messages: IR_EINVAL");
	ok(ir_queue_receive(q, m, 1, 21, 1, &got, err) == IR_EINVAL,
	    "wait over 20 s: IR_EINVAL");
	ir_queue_close(q);
	ir_queue_close(NULL);
	ir_store_close(NULL);
	ir_msg_free(NULL);
	{
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpl);
	}
	printf("1..%d\n", n);
	return failed != 0;
}
