/*
 * util.c: TAP tests of util's UTF-8 cleaning (ir_utf8_clean), which keeps
 * file names from uploads and command lines usable in JSON: valid text
 * unchanged, each stray byte replaced by '?', overlongs, surrogates and
 * code points past U+10FFFF refused, a sequence cut at the end replaced.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static void
check(const char *in, const char *want, size_t nbad, const char *what)
{
	char buf[64];
	size_t n;

	snprintf(buf, sizeof buf, "%s", in);
	n = ir_utf8_clean(buf);
	ok(strcmp(buf, want) == 0 && n == nbad, "%s (got \"%s\", %zu replaced)",
	    what, buf, n);
}

int
main(void)
{
	check("test_00.jpg", "test_00.jpg", 0, "ASCII unchanged");
	check("\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9/\xe5\x90\x8d.jpg",
	    "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9/\xe5\x90\x8d.jpg", 0,
	    "2- and 3-byte sequences unchanged");
	check("\xf0\x9f\x98\x80.png", "\xf0\x9f\x98\x80.png", 0,
	    "a 4-byte sequence (emoji) unchanged");
	check("bad\xff.jpg", "bad?.jpg", 1, "a stray byte replaced");
	check("\xfe\xff", "??", 2, "a byte-order mark of UTF-16 replaced");
	check("\xc0\xaf", "??", 2, "an overlong '/' refused");
	check("\xe0\x80\xaf", "???", 3, "a 3-byte overlong refused");
	check("\xed\xa0\x80", "???", 3, "a surrogate refused");
	check("\xf4\x90\x80\x80", "????", 4, "past U+10FFFF refused");
	check("ab\xe5\x90", "ab??", 2, "a sequence cut at the end replaced");
	check("\x80x", "?x", 1, "a lone continuation byte replaced");
	check("", "", 0, "the empty string");
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
