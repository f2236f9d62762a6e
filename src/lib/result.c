/*
 * result.c: one image's result as a TSV line and as a JSON object (the
 * formats are specified in result.h, DESIGN.md and ir-classify(1)).
 *
 * Invariants: a TSV line never contains a newline and always has an odd
 * number of fields; the JSON and TSV renderings of one result agree (the
 * TSV from JSON path reads back exactly the fields the JSON path writes).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

/* ---- a tiny growing string ---- */

struct sb {
	char *s;
	size_t n, cap;
};

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = ir_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

/* A field: control characters (TAB, newline...) become '?'. */
static void
sb_field(struct sb *b, const char *s)
{
	for (; *s; s++) {
		char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
		sb_add(b, &c, 1);
	}
}

static void
sb_dist(struct sb *b, double d)
{
	char tmp[64];

	if (isfinite(d))
		snprintf(tmp, sizeof tmp, "\t%.2f", d);
	else
		snprintf(tmp, sizeof tmp, "\t-");
	sb_add(b, tmp, strlen(tmp));
}

static char *
sb_done(struct sb *b)
{
	if (!b->s)
		sb_add(b, "", 0);
	return b->s;
}

/* ---- JSON ---- */

static void
set_new(json_t *o, const char *k, json_t *v)
{
	if (!v || json_object_set_new(o, k, v) != 0) {
		fprintf(stderr, "%s: out of memory building JSON\n",
		    ir_progname);
		abort();
	}
}

static json_t *
jnum(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

json_t *
ir_json_string(const char *s)
{
	/* json_string refuses invalid UTF-8: keep the bytes visible. */
	json_t *v = json_string(s ? s : "");

	if (!v && s) {
		char *c = ir_xstrdup(s);
		ir_utf8_clean(c);
		v = json_string(c);
		free(c);
	}
	return v;
}

json_t *
ir_result_json(const struct ir_result *r, int flags)
{
	json_t *o = json_object(), *faces, *ms;
	int i, k;

	if (!o)
		set_new(o, "v", NULL);
	set_new(o, "v", json_integer(IR_RESULT_VERSION));
	if (r->id)
		set_new(o, "id", ir_json_string(r->id));
	set_new(o, "name", ir_json_string(r->name));
	if (r->error) {
		set_new(o, "error", ir_json_string(r->error));
		return o;
	}
	if (r->nfaces > 0) {
		set_new(o, "label", ir_json_string(r->match[0].label));
		set_new(o, "distance", jnum(r->match[0].distance));
	} else
		set_new(o, "label", json_string("noface"));
	faces = json_array();
	set_new(o, "faces", faces);
	for (i = 0; i < r->nfaces; i++) {
		const struct ir_face *f = &r->faces[i];
		json_t *fo = json_object(), *box = json_array();

		if (!fo || !box)
			set_new(o, "faces", NULL);
		for (k = 0; k < 4; k++)
			json_array_append_new(box, json_real(f->box[k]));
		set_new(fo, "box", box);
		set_new(fo, "score", json_real(f->score));
		set_new(fo, "label", ir_json_string(r->match[i].label));
		set_new(fo, "distance", jnum(r->match[i].distance));
		set_new(fo, "path", json_string(ir_face_path_name(f->path)));
		if (flags & IR_RESULT_LANDMARKS) {
			json_t *lm = json_array();
			for (k = 0; k < 68; k++)
				json_array_append_new(lm, json_pack("[ff]",
				    f->landmarks[k][0], f->landmarks[k][1]));
			set_new(fo, "landmarks", lm);
		}
		if (flags & IR_RESULT_DESCRIPTOR) {
			json_t *d = json_array();
			for (k = 0; k < IR_DESC_DIM; k++)
				json_array_append_new(d,
				    json_real((double)f->desc[k]));
			set_new(fo, "descriptor", d);
		}
		if (json_array_append_new(faces, fo) != 0)
			set_new(o, "faces", NULL);
	}
	ms = json_object();
	set_new(o, "ms", ms);
	set_new(ms, "decode", json_real(r->ms.decode));
	set_new(ms, "detect", json_real(r->ms.detect));
	set_new(ms, "landmarks", json_real(r->ms.landmarks));
	set_new(ms, "describe", json_real(r->ms.describe));
	return o;
}

char *
ir_result_json_line(const struct ir_result *r, int flags)
{
	json_t *o = ir_result_json(r, flags);
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!s) {
		fprintf(stderr, "%s: out of memory building JSON\n",
		    ir_progname);
		abort();
	}
	return s;
}

/* ---- TSV ---- */

char *
ir_result_tsv(const struct ir_result *r)
{
	struct sb b = { 0 };
	int i;

	sb_field(&b, r->name ? r->name : "");
	if (r->error) {
		sb_add(&b, "\terror\t", 7);
		sb_field(&b, r->error);
		return sb_done(&b);
	}
	if (r->nfaces == 0) {
		sb_add(&b, "\tnoface", 7);
		return sb_done(&b);
	}
	for (i = 0; i < r->nfaces; i++) {
		sb_add(&b, "\t", 1);
		sb_field(&b, r->match[i].label);
		sb_dist(&b, r->match[i].distance);
	}
	return sb_done(&b);
}

const char *
ir_result_label(const struct ir_result *r)
{
	if (r->error)
		return "error";
	if (r->nfaces == 0)
		return "noface";
	return r->match[0].label;
}

char *
ir_result_tsv_from_json(const json_t *o)
{
	struct sb b = { 0 };
	const json_t *name, *err, *faces, *f;
	size_t i;

	if (!json_is_object(o))
		return NULL;
	name = json_object_get(o, "name");
	if (!json_is_string(name))
		return NULL;
	err = json_object_get(o, "error");
	faces = json_object_get(o, "faces");
	if (!err && !json_is_array(faces))
		return NULL;
	sb_field(&b, json_string_value(name));
	if (err) {
		sb_add(&b, "\terror\t", 7);
		sb_field(&b, json_is_string(err) ? json_string_value(err) :
		    "unknown error");
		return sb_done(&b);
	}
	if (json_array_size(faces) == 0) {
		sb_add(&b, "\tnoface", 7);
		return sb_done(&b);
	}
	json_array_foreach(faces, i, f) {
		const json_t *l = json_object_get(f, "label");
		const json_t *d = json_object_get(f, "distance");

		if (!json_is_string(l) || !(json_is_number(d) ||
		    json_is_null(d))) {
			free(b.s);
			return NULL;
		}
		sb_add(&b, "\t", 1);
		sb_field(&b, json_string_value(l));
		sb_dist(&b, json_is_number(d) ? json_number_value(d) : NAN);
	}
	return sb_done(&b);
}
