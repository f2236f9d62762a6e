/*
 * result.c: TAP tests of result formatting (src/lib/result.c): the TSV
 * line (two decimals, largest face first, noface, error, control
 * characters made '?', missing distance as '-'), the JSON object (fields,
 * full precision, optional descriptor and landmarks, error object) and
 * ir_result_tsv_from_json reading back what ir_result_json wrote.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "tap.h"

static void
is(char *got, const char *want, const char *what)
{
	ok(got && strcmp(got, want) == 0, "%s", what);
	if (got && strcmp(got, want) != 0)
		printf("#   got:      %s\n#   expected: %s\n", got, want);
	free(got);
}

int
main(void)
{
	static struct ir_face f[2];
	struct ir_match m[2] = {
		{ .label = "Paul", .distance = 0.41234567890123, .person = 0 },
		{ .label = "unknown", .distance = 0.7251, .person = 1 },
	};
	struct ir_result r = { .name = "photo.jpg", .nfaces = 2, .faces = f,
	    .match = m, .ms = { 1.5, 20, 3, 40 } };
	json_t *o, *face;
	char *s;
	int k;

	f[0].box[0] = 10.5; f[0].box[1] = 20; f[0].box[2] = 100; f[0].box[3] = 120;
	f[0].score = 0.93;
	f[0].path = IR_PATH_TINY;
	f[1].path = IR_PATH_WHOLE;
	for (k = 0; k < IR_DESC_DIM; k++)
		f[0].desc[k] = 0.1f * k;
	for (k = 0; k < 68; k++) {
		f[0].landmarks[k][0] = k;
		f[0].landmarks[k][1] = 2 * k;
	}

	is(ir_result_tsv(&r), "photo.jpg\tPaul\t0.41\tunknown\t0.73",
	    "TSV: label and 2-decimal distance per face");
	ok(strcmp(ir_result_label(&r), "Paul") == 0, "label: largest face's");

	o = ir_result_json(&r, 0);
	ok(json_integer_value(json_object_get(o, "v")) == 1, "JSON v 1");
	ok(!json_object_get(o, "id"), "JSON: no id when none given");
	ok(strcmp(json_string_value(json_object_get(o, "label")), "Paul") == 0,
	    "JSON top label");
	ok(json_real_value(json_object_get(o, "distance")) == m[0].distance,
	    "JSON distance at full precision");
	face = json_array_get(json_object_get(o, "faces"), 0);
	ok(json_array_size(json_object_get(o, "faces")) == 2, "JSON 2 faces");
	ok(json_real_value(json_array_get(json_object_get(face, "box"), 0)) ==
	    10.5, "JSON box");
	ok(strcmp(json_string_value(json_object_get(face, "path")), "tiny") == 0,
	    "JSON path tiny");
	ok(strcmp(json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "faces"), 1), "path")), "whole") == 0,
	    "JSON path whole");
	ok(!json_object_get(face, "descriptor") &&
	    !json_object_get(face, "landmarks"), "no descriptor/landmarks "
	    "unless asked");
	ok(json_real_value(json_object_get(json_object_get(o, "ms"),
	    "describe")) == 40, "JSON ms");
	s = ir_result_tsv_from_json(o);
	is(s, "photo.jpg\tPaul\t0.41\tunknown\t0.73",
	    "TSV from JSON equals TSV");
	json_decref(o);

	o = ir_result_json(&r, IR_RESULT_DESCRIPTOR | IR_RESULT_LANDMARKS);
	face = json_array_get(json_object_get(o, "faces"), 0);
	ok(json_array_size(json_object_get(face, "descriptor")) == 128 &&
	    (float)json_real_value(json_array_get(json_object_get(face,
	    "descriptor"), 7)) == f[0].desc[7],
	    "descriptor: 128 numbers, float exact");
	ok(json_array_size(json_object_get(face, "landmarks")) == 68 &&
	    json_real_value(json_array_get(json_array_get(json_object_get(face,
	    "landmarks"), 3), 1)) == 6, "landmarks: 68 [x, y]");
	json_decref(o);

	/* A line is one line: JSON has no raw newline. */
	s = ir_result_json_line(&r, IR_RESULT_DESCRIPTOR);
	ok(s && !strchr(s, '\n') && s[0] == '{', "JSON line: one line");
	free(s);

	r.id = "01JABC";
	r.name = "a\tb\nc.jpg";
	s = ir_result_tsv(&r);
	is(s, "a?b?c.jpg\tPaul\t0.41\tunknown\t0.73",
	    "TSV: control characters in names become ?");
	o = ir_result_json(&r, 0);
	ok(strcmp(json_string_value(json_object_get(o, "id")), "01JABC") == 0 &&
	    strcmp(json_string_value(json_object_get(o, "name")),
	    "a\tb\nc.jpg") == 0, "JSON: id, name kept exactly");
	json_decref(o);

	r.name = "x.jpg";
	r.nfaces = 0;
	is(ir_result_tsv(&r), "x.jpg\tnoface", "TSV noface");
	ok(strcmp(ir_result_label(&r), "noface") == 0, "label noface");
	o = ir_result_json(&r, 0);
	ok(strcmp(json_string_value(json_object_get(o, "label")), "noface") == 0 &&
	    !json_object_get(o, "distance") &&
	    json_array_size(json_object_get(o, "faces")) == 0,
	    "JSON noface: no distance, empty faces");
	is(ir_result_tsv_from_json(o), "x.jpg\tnoface", "noface from JSON");
	json_decref(o);

	r.nfaces = 1;
	m[0].distance = INFINITY;
	m[0].label = "unknown";
	is(ir_result_tsv(&r), "x.jpg\tunknown\t-", "TSV: no distance is -");
	o = ir_result_json(&r, 0);
	ok(json_is_null(json_object_get(o, "distance")),
	    "JSON: no distance is null");
	is(ir_result_tsv_from_json(o), "x.jpg\tunknown\t-",
	    "null distance from JSON");
	json_decref(o);

	r.error = "truncated\tJPEG";
	is(ir_result_tsv(&r), "x.jpg\terror\ttruncated?JPEG", "TSV error");
	ok(strcmp(ir_result_label(&r), "error") == 0, "label error");
	s = ir_result_json_line(&r, 0);
	is(s, "{\"v\":1,\"id\":\"01JABC\",\"name\":\"x.jpg\","
	    "\"error\":\"truncated\\tJPEG\"}", "JSON error object");
	o = json_pack("{s:i,s:s,s:s}", "v", 1, "name", "y.jpg", "error", "boom");
	is(ir_result_tsv_from_json(o), "y.jpg\terror\tboom", "error from JSON");
	json_decref(o);
	o = json_pack("{s:i}", "v", 1);
	ok(ir_result_tsv_from_json(o) == NULL, "not a result: NULL");
	json_decref(o);
	o = json_pack("{s:s,s:[{s:i}]}", "name", "z", "faces", "label", 3);
	ok(ir_result_tsv_from_json(o) == NULL, "malformed faces: NULL");
	json_decref(o);
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
