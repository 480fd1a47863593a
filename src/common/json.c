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

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

json_t *json_string_utf8_lossy(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0;
	json_t *j;

	for (size_t i = 0; i < len;) {
		size_t n = p[i] ? utf8_seq(p + i, len - i) : 0;

		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD; also for NUL */
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	j = json_stringn_nocheck(out, o);
	free(out);
	return j ? j : json_string("");
}
