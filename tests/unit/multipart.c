/*
 * multipart.c: TAP tests of the multipart/form-data parser (src/lib/
 * multipart.c): boundaries, binary data, several parts, and every way a
 * body can be refused (truncated, no boundary, no parts, no headers end).
 */
#include <stdio.h>
#include <string.h>

#include "multipart.h"
#include "tap.h"

static int
parse(const char *body, size_t len, struct ir_part *p, int *n, char *err)
{
	return ir_multipart_parse((const unsigned char *)body, len, "XyZ", p,
	    IR_MULTIPART_MAX_PARTS, n, err);
}

int
main(void)
{
	char b[128], err[IR_ERRMAX];
	struct ir_part parts[IR_MULTIPART_MAX_PARTS];
	const struct ir_part *f;
	int n, r;

	r = ir_multipart_boundary("multipart/form-data; boundary=abc123", b,
	    sizeof b, err);
	ok(r == IR_OK && strcmp(b, "abc123") == 0, "plain boundary");
	r = ir_multipart_boundary("Multipart/Form-Data;charset=utf-8; "
	    "boundary=\"a b;c\"", b, sizeof b, err);
	ok(r == IR_OK && strcmp(b, "a b;c") == 0, "quoted boundary, other params");
	r = ir_multipart_boundary("image/jpeg", b, sizeof b, err);
	ok(r == IR_EINVAL && strstr(err, "not multipart"), "not multipart refused");
	r = ir_multipart_boundary("multipart/form-data", b, sizeof b, err);
	ok(r == IR_EINVAL && strstr(err, "no boundary"), "missing boundary refused");

	/* Binary data holding CR, LF, NUL and a near-boundary. */
	static const char body[] =
	    "preamble\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"note\"\r\n"
	    "\r\n"
	    "hello\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"inputFile\"; "
	    "filename=\"C:\\\\dir\\\\test_00.jpg\"\r\n"
	    "Content-Type: image/jpeg\r\n"
	    "\r\n"
	    "\xff\xd8\0\r\n--Xy\r\n\xff\xd9\r\n"
	    "--XyZ--\r\n";
	r = parse(body, sizeof body - 1, parts, &n, err);
	ok(r == IR_OK && n == 2, "two parts parsed");
	f = ir_multipart_find(parts, n, "inputFile");
	ok(f != NULL, "file field found");
	ok(f && strcmp(f->filename, "test_00.jpg") == 0,
	    "file name reduced to its last component");
	ok(f && strcmp(f->type, "image/jpeg") == 0, "part content type");
	ok(f && f->len == 13 && memcmp(f->data, "\xff\xd8\0\r\n--Xy\r\n\xff\xd9",
	    13) == 0, "binary data kept exactly");
	f = ir_multipart_find(parts, n, "note");
	ok(f && f->len == 5 && f->filename[0] == '\0', "text field");
	ok(ir_multipart_find(parts, n, "nope") == NULL, "missing field is NULL");

	/* Truncated: the closing boundary never comes. */
	r = parse(body, sizeof body - 1 - 12, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "truncated"), "truncated body refused");
	r = parse(body, 60, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "truncated"),
	    "body cut in the headers refused");
	r = parse("", 0, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "empty"), "empty body refused");
	r = parse("just text", 9, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "boundary"), "no boundary in body");
	r = parse("--XyZ--\r\n", 9, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "no parts"), "no parts refused");
	r = parse("--XyZ\r\nX-Foo: 1\r\n\r\nab\r\n--XyZ--", 31, parts, &n, err);
	ok(r == IR_EINVAL && strstr(err, "Content-Disposition"),
	    "part without Content-Disposition refused");
	/* Unquoted name, LF-only headers, a zero-byte file. */
	static const char b2[] = "--XyZ\nContent-Disposition: form-data; "
	    "name=inputFile; filename=a.jpg\n\n\r\n--XyZ--";
	r = parse(b2, sizeof b2 - 1, parts, &n, err);
	f = ir_multipart_find(parts, n, "inputFile");
	ok(r == IR_OK && f && f->len == 0 && strcmp(f->filename, "a.jpg") == 0,
	    "unquoted params, LF headers, zero-byte part");
	/* A browser sends a Windows path's backslashes as they are; curl
	 * escapes a quote (and a backslash) with a backslash. */
	static const char b3[] = "--XyZ\r\nContent-Disposition: form-data; "
	    "name=\"inputFile\"; filename=\"C:\\x\\test_01.jpg\"\r\n\r\n"
	    "ab\r\n--XyZ\r\nContent-Disposition: form-data; "
	    "name=\"other\"; filename=\"say \\\"hi\\\".jpg\"\r\n\r\n"
	    "cd\r\n--XyZ--\r\n";
	r = parse(b3, sizeof b3 - 1, parts, &n, err);
	f = ir_multipart_find(parts, n, "inputFile");
	ok(r == IR_OK && f && strcmp(f->filename, "test_01.jpg") == 0,
	    "a raw Windows path: its last component (%s)", f ? f->filename :
	    "none");
	f = ir_multipart_find(parts, n, "other");
	ok(f && strcmp(f->filename, "say \"hi\".jpg") == 0,
	    "an escaped quote in a quoted file name (%s)", f ? f->filename :
	    "none");
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
