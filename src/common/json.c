// SPDX-License-Identifier: MIT
/*
 * Small helpers on jansson: typed getters with defaults, setters, compact
 * dumps, bounded parsing and field projection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"

const char *jstr(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t jint(const json_t *o, const char *key, int64_t def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

double jnum(const json_t *o, const char *key, double def)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : def;
}

bool jbool(const json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

void jset_str(json_t *o, const char *key, const char *val)
{
	json_object_set_new(o, key, val ? json_string(val) : json_null());
}

void jset_int(json_t *o, const char *key, int64_t val)
{
	json_object_set_new(o, key, json_integer((json_int_t)val));
}

void jset_bool(json_t *o, const char *key, bool val)
{
	json_object_set_new(o, key, json_boolean(val));
}

char *jdump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	return s ? s : xstrdup("null");
}

json_t *jparse(const char *data, size_t len, char *err, size_t errlen)
{
	json_error_t e;
	json_t *v;

	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if (!v && err && errlen)
		snprintf(err, errlen, "%s at line %d column %d", e.text, e.line, e.column);
	return v;
}

json_t *jproject(const json_t *o, const char *fields)
{
	json_t *out = json_object();
	const char *p = fields;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char key[128];
		json_t *v;

		if (n > 0 && n < sizeof(key)) {
			memcpy(key, p, n);
			key[n] = '\0';
			v = json_object_get(o, key);
			if (v)
				json_object_set(out, key, v);
		}
		p = comma ? comma + 1 : NULL;
	}
	return out;
}
