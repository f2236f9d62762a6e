/*
 * fuzz_queue_input.c: libFuzzer target for the queue and store inputs that
 * come from outside: store keys (ir_store_key_check, then the directory
 * store itself) and spool receipt handles (given back by users and
 * scripts to ir-queue delete/visibility). Properties, beyond "no crash,
 * leak or out-of-bounds access":
 *  - a key that passes the check is not absolute, has no "." or ".."
 *    segment, no empty segment and no control character, and a put/get of
 *    it in a directory store stays inside the store's folder;
 *  - a handle with a '/' (or anything not TIME.ID.COUNT) is refused with
 *    IR_EINVAL, never used as a path.
 * Seeds: tests/fuzz/corpus/fuzz_queue_input/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"
#include "store.h"

static struct ir_queue *q;
static struct ir_store *s;

static char dir[] = "/tmp/ir-fuzz-queue.XXXXXX";

static void
cleanup(void)
{
	char cmd[64];

	ir_queue_close(q);
	ir_store_close(s);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_queue_input: cannot remove %s\n", dir);
}

static void
setup(void)
{
	char err[IR_ERRMAX], path[64];

	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof path, "%s/q", dir);
	if (ir_queue_open(path, NULL, &q, err) != IR_OK)
		abort();
	snprintf(path, sizeof path, "%s/s", dir);
	if (ir_store_open(path, &s, err) != IR_OK)
		abort();
}

static void
check_key(const char *k)
{
	char err[IR_ERRMAX];
	const char *p;
	unsigned char *buf;
	size_t len;

	if (ir_store_key_check(k, err) != IR_OK)
		return;
	if (k[0] == '/' || strstr(k, "//") || k[strlen(k) - 1] == '/')
		abort();
	for (p = k; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	for (p = k; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if ((p[0] == '.' && (p[1] == '/' || !p[1])) ||
		    (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])))
			abort();
	}
	/* The directory store: whatever it answers, it stays inside. */
	if (ir_store_put(s, k, "x", 1, NULL, err) == IR_OK) {
		if (ir_store_get(s, k, &buf, &len, 0, err) != IR_OK ||
		    len != 1 || buf[0] != 'x')
			abort();
		free(buf);
		if (ir_store_delete(s, k, err) != IR_OK)
			abort();
	}
}

static void
check_handle(char *h)
{
	struct ir_msg m = { .handle = h };
	char err[IR_ERRMAX];
	int rc;

	rc = ir_queue_delete(q, &m, err);
	if (strchr(h, '/') && rc != IR_EINVAL)
		abort();
	if (rc != IR_EINVAL && rc != IR_ENOENT)
		abort();
	rc = ir_queue_change_visibility(q, &m, 5, err);
	if (strchr(h, '/') && rc != IR_EINVAL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *str;

	if (!q)
		setup();
	if (size > 4096)
		return 0;
	str = malloc(size + 1);
	memcpy(str, data, size);
	str[size] = 0;
	if (size > 0 && data[0] & 1)
		check_key(str + 1);
	else
		check_handle(size ? str + 1 : str);
	free(str);
	return 0;
}
