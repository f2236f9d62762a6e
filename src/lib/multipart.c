/*
 * multipart.c: multipart/form-data parsing over a buffered body.
 *
 * Layout (RFC 2046 5.1.1): an optional preamble, then "--B" CRLF, part
 * headers ending in an empty line, the part data, CRLF "--B" followed by
 * either CRLF (another part) or "--" (the end). The data of a part is
 * everything up to the next CRLF "--B": binary-safe, found with memmem.
 * Bare LF line ends are accepted in headers (some hand-written clients),
 * never inside data, whose delimiter must be CRLF "--B" as the RFC says.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

int
ir_multipart_boundary(const char *ct, char *out, size_t outsz, char *err)
{
	const char *p;
	size_t n;

	if (!ct || !*ct)
		return ir_err(err, IR_EINVAL, "no Content-Type");
	while (isspace((unsigned char)*ct))
		ct++;
	if (strncasecmp(ct, "multipart/form-data", 19) != 0)
		return ir_err(err, IR_EINVAL,
		    "Content-Type is not multipart/form-data");
	for (p = ct + 19; (p = strchr(p, ';')) != NULL; ) {
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		p += 9;
		if (*p == '"') {
			const char *e = strchr(++p, '"');

			if (!e)
				return ir_err(err, IR_EINVAL,
				    "unterminated quoted boundary");
			n = e - p;
		} else
			n = strcspn(p, "; \t");
		if (n == 0)
			return ir_err(err, IR_EINVAL, "empty boundary");
		if (n > 70 || n + 1 > outsz)
			return ir_err(err, IR_EINVAL,
			    "boundary longer than 70 characters");
		memcpy(out, p, n);
		out[n] = '\0';
		return IR_OK;
	}
	return ir_err(err, IR_EINVAL, "multipart Content-Type has no boundary");
}

/* Copies parameter `key` (name, filename) of a Content-Disposition value. */
static void
disp_param(const char *v, size_t vlen, const char *key, char *out,
    size_t outsz)
{
	size_t kl = strlen(key), i = 0, n;
	const char *end = v + vlen, *p = v;

	out[0] = '\0';
	while (p < end) {
		const char *semi = memchr(p, ';', end - p);

		if (!semi)
			return;
		p = semi + 1;
		while (p < end && isspace((unsigned char)*p))
			p++;
		if ((size_t)(end - p) <= kl || strncasecmp(p, key, kl) != 0 ||
		    p[kl] != '=')
			continue;
		p += kl + 1;
		if (p < end && *p == '"') {
			p++;
			while (p < end && *p != '"' && i + 1 < outsz) {
				/* curl escapes " and \ with a backslash;
				 * browsers send other backslashes as they are
				 * (a Windows path) */
				if (*p == '\\' && p + 1 < end &&
				    (p[1] == '"' || p[1] == '\\'))
					p++;
				out[i++] = *p++;
			}
		} else {
			n = 0;
			while (p + n < end && p[n] != ';' &&
			    !isspace((unsigned char)p[n]))
				n++;
			while (i < n && i + 1 < outsz) {
				out[i] = p[i];
				i++;
			}
		}
		out[i] = '\0';
		return;
	}
}

/* Last path component: browsers on Windows once sent full paths. */
static void
basename_inplace(char *s)
{
	char *p = strrchr(s, '/'), *q = strrchr(s, '\\');

	if (q > p)
		p = q;
	if (p)
		memmove(s, p + 1, strlen(p + 1) + 1);
}

/* Parses the headers of one part, from h to the empty line; *data is set
 * to the first byte after it. */
static int
part_headers(const unsigned char *h, const unsigned char *end,
    struct ir_part *pt, const unsigned char **data, char *err)
{
	const unsigned char *p = h;
	int disp = 0;

	for (;;) {
		const unsigned char *nl = memchr(p, '\n', end - p);
		size_t ll;

		if (!nl)
			return ir_err(err, IR_EINVAL,
			    "truncated multipart body: part headers do not end");
		ll = nl - p;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			*data = nl + 1;
			break;
		}
		if (ll > 19 && strncasecmp((const char *)p,
		    "Content-Disposition:", 20) == 0) {
			disp_param((const char *)p + 20, ll - 20, "name",
			    pt->name, sizeof pt->name);
			disp_param((const char *)p + 20, ll - 20, "filename",
			    pt->filename, sizeof pt->filename);
			disp = 1;
		} else if (ll > 13 && strncasecmp((const char *)p,
		    "Content-Type:", 13) == 0) {
			size_t i = 13, o = 0;

			while (i < ll && isspace(p[i]))
				i++;
			while (i < ll && o + 1 < sizeof pt->type)
				pt->type[o++] = p[i++];
			pt->type[o] = '\0';
		}
		p = nl + 1;
	}
	if (!disp)
		return ir_err(err, IR_EINVAL,
		    "multipart part without Content-Disposition");
	basename_inplace(pt->filename);
	return IR_OK;
}

int
ir_multipart_parse(const unsigned char *body, size_t len,
    const char *boundary, struct ir_part *parts, int max, int *n, char *err)
{
	char delim[80];
	size_t dl;
	const unsigned char *p, *end = body + len, *next;

	*n = 0;
	if (len == 0)
		return ir_err(err, IR_EINVAL, "empty body");
	dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	if (dl >= sizeof delim)
		return ir_err(err, IR_EINVAL, "boundary too long");
	/* The first boundary may open the body (no preceding CRLF). */
	if (len >= dl - 2 && memcmp(body, delim + 2, dl - 2) == 0)
		p = body + dl - 2;
	else {
		const unsigned char *f = memmem(body, len, delim, dl);

		if (!f)
			return ir_err(err, IR_EINVAL,
			    "multipart body does not contain its boundary");
		p = f + dl;
	}
	for (;;) {
		struct ir_part *pt;

		/* After a delimiter: "--" closes, CRLF opens a part. */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return *n > 0 ? IR_OK : ir_err(err, IR_EINVAL,
			    "multipart body has no parts");
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			p += 2;
		else if (p < end && *p == '\n')
			p++;
		else
			return ir_err(err, IR_EINVAL, p >= end ?
			    "truncated multipart body: no closing boundary" :
			    "malformed multipart boundary line");
		if (*n >= max)
			return ir_err(err, IR_EINVAL,
			    "more than %d multipart parts", max);
		pt = &parts[(*n)++];
		memset(pt, 0, sizeof *pt);
		if (part_headers(p, end, pt, &pt->data, err) != IR_OK)
			return IR_EINVAL;
		next = memmem(pt->data, end - pt->data, delim, dl);
		if (!next)
			return ir_err(err, IR_EINVAL,
			    "truncated multipart body: no closing boundary");
		pt->len = next - pt->data;
		p = next + dl;
	}
}

const struct ir_part *
ir_multipart_find(const struct ir_part *parts, int n, const char *field)
{
	for (int i = 0; i < n; i++)
		if (strcmp(parts[i].name, field) == 0)
			return &parts[i];
	return NULL;
}
