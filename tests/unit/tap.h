/*
 * tap.h: TAP output for the C unit tests (included by each, not a library
 * interface): ok() prints one test line, "ok N - ..." or "not ok N - ...",
 * and counts it; tap_n is the count so far, tap_fail the failures. A test
 * prints its plan ("1..N") itself, first or last.
 */
#ifndef IR_TAP_H
#define IR_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_fail;

static void ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_fail++;
}

#endif
