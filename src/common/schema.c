// SPDX-License-Identifier: MIT
/*
 * Body schemas (see schema.h): validation of request bodies against a field
 * table, and the OpenAPI 3 schema objects generated from the same table.
 *
 * Validation never trusts the body: every value is type-checked before it is
 * read, every array is bounded before it is walked, and recursion follows
 * the schema (whose depth is bounded by SCHEMA_DEPTH_MAX), never the JSON.
 * FT_ANY values are not walked at all. Error messages name the field by its
 * path ("ip_ranges[0].start") in both the message and kerr.field.
 *
 * Nested objects (FT_OBJECT, FT_OBJECT_ARRAY items) are always validated in
 * full, also under PATCH: partial applies to the top level only, since a
 * nested value replaces the old one as a whole. An FT_OBJECT whose sub
 * schema is NULL is a free-form object (like FT_ANY, but it must be an
 * object).
 *
 * Not here: the HTTP side (http_server.c) and filter parsing (query.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/schema.h"
#include "common/util.h"

#define SCHEMA_DEPTH_MAX 16
#define STRING_MAX_DEFAULT 255
#define ARRAY_MAX_DEFAULT 64
#define ARRAY_ITEM_MAX 4096
#define NAME_MAX_LEN 63

const struct field *schema_field(const struct schema *s, const char *name)
{
	if (!s || !s->fields || !name)
		return NULL;
	for (const struct field *f = s->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* ---- validation ---- */

/* Paths longer than KERR_FIELD_MAX are cut short; that is fine for a message. */
static void path_key(char *out, size_t outlen, const char *prefix, const char *key)
{
	if (prefix[0])
		snprintf(out, outlen, "%s.%s", prefix, key);
	else
		snprintf(out, outlen, "%s", key);
}

static void path_index(char *out, size_t outlen, const char *prefix, size_t i)
{
	char idx[24];
	size_t plen = strnlen(prefix, outlen - 1);

	snprintf(idx, sizeof(idx), "[%zu]", i);
	if (plen + strlen(idx) >= outlen)
		plen = outlen - 1 - strlen(idx);
	memcpy(out, prefix, plen);
	strcpy(out + plen, idx);
}

static int bad(struct kerr *err, const char *path, const char *what)
{
	return kerr_set(err, -EINVAL, path, "field \"%s\" %s", path, what);
}

static bool enum_has(const char *const *values, const char *s)
{
	for (size_t i = 0; values[i]; i++)
		if (strcmp(values[i], s) == 0)
			return true;
	return false;
}

static int bad_enum(struct kerr *err, const char *path, const char *const *values)
{
	char list[400];
	size_t n = 0;

	list[0] = '\0';
	for (size_t i = 0; values[i] && n < sizeof(list); i++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", values[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
	return kerr_set(err, -EINVAL, path, "field \"%s\" must be one of: %s", path, list);
}

/* Integer and number ranges: both 0 = any; max < min (max 0, min > 0) is a
 * lower bound only; otherwise [min, max]. */
static int check_range(const struct field *f, double v, const char *path, struct kerr *err)
{
	if (f->min == 0 && f->max == 0)
		return 0;
	if (f->max < f->min) {
		if (v < (double)f->min)
			return kerr_set(err, -EINVAL, path,
			                "field \"%s\" must be at least %" PRId64, path, f->min);
		return 0;
	}
	if (v < (double)f->min || v > (double)f->max)
		return kerr_set(err, -EINVAL, path,
		                "field \"%s\" must be between %" PRId64 " and %" PRId64, path,
		                f->min, f->max);
	return 0;
}

static int check_string(const struct field *f, const json_t *v, const char *path, struct kerr *err)
{
	const char *s;
	size_t len, max;

	if (!json_is_string(v))
		return bad(err, path, "must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (strlen(s) != len)
		return bad(err, path, "must not contain NUL characters");
	if (f->enum_values) {
		if (!enum_has(f->enum_values, s))
			return bad_enum(err, path, f->enum_values);
		return 0;
	}
	max = f->max > 0 ? (size_t)f->max : STRING_MAX_DEFAULT;
	if (len > max)
		return kerr_set(err, -EINVAL, path, "field \"%s\" is too long (max %zu)", path,
		                max);
	if (f->min > 0 && len < (size_t)f->min) {
		if (f->min == 1)
			return bad(err, path, "must not be empty");
		return kerr_set(err, -EINVAL, path, "field \"%s\" is too short (min %" PRId64 ")",
		                path, f->min);
	}
	return 0;
}

static int check_name(const json_t *v, const char *path, struct kerr *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return bad(err, path, "must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0)
		return bad(err, path, "must not be empty");
	if (len > NAME_MAX_LEN)
		return kerr_set(err, -EINVAL, path, "field \"%s\" is too long (max %d)", path,
		                NAME_MAX_LEN);
	if (strlen(s) != len || !name_valid(s))
		return bad(err, path,
		           "must start with a letter or digit and contain only letters, digits, "
		           "'.', '_' and '-'");
	return 0;
}

static int check_uuid(const json_t *v, const char *path, struct kerr *err)
{
	if (!json_is_string(v) || json_string_length(v) != UUID_LEN ||
	    !uuid_valid(json_string_value(v)))
		return bad(err, path, "must be a UUID");
	return 0;
}

/* Array size against min..max items (max 0 = def_max). */
static int check_items(const struct field *f, const json_t *v, const char *path, size_t def_max,
                       struct kerr *err)
{
	size_t n = json_array_size(v);
	size_t max = f->max > 0 ? (size_t)f->max : def_max;

	if (n > max)
		return kerr_set(err, -EINVAL, path, "field \"%s\" has too many items (max %zu)",
		                path, max);
	if (f->min > 0 && n < (size_t)f->min)
		return kerr_set(err, -EINVAL, path,
		                "field \"%s\" must have at least %" PRId64 " item%s", path, f->min,
		                f->min == 1 ? "" : "s");
	return 0;
}

static int check_string_array(const struct field *f, const json_t *v, const char *path,
                              struct kerr *err)
{
	char ipath[KERR_FIELD_MAX];
	size_t i;
	json_t *item;
	int r;

	if (!json_is_array(v))
		return bad(err, path, "must be an array of strings");
	r = check_items(f, v, path, ARRAY_MAX_DEFAULT, err);
	if (r < 0)
		return r;
	json_array_foreach(v, i, item)
	{
		path_index(ipath, sizeof(ipath), path, i);
		if (!json_is_string(item))
			return bad(err, ipath, "must be a string");
		if (json_string_length(item) > ARRAY_ITEM_MAX)
			return kerr_set(err, -EINVAL, ipath, "field \"%s\" is too long (max %d)",
			                ipath, ARRAY_ITEM_MAX);
		if (strlen(json_string_value(item)) != json_string_length(item))
			return bad(err, ipath, "must not contain NUL characters");
		if (f->enum_values && !enum_has(f->enum_values, json_string_value(item)))
			return bad_enum(err, ipath, f->enum_values);
	}
	return 0;
}

static int check_uuid_array(const struct field *f, const json_t *v, const char *path,
                            struct kerr *err)
{
	char ipath[KERR_FIELD_MAX];
	size_t i;
	json_t *item;
	int r;

	if (!json_is_array(v))
		return bad(err, path, "must be an array of UUIDs");
	r = check_items(f, v, path, ARRAY_MAX_DEFAULT, err);
	if (r < 0)
		return r;
	json_array_foreach(v, i, item)
	{
		path_index(ipath, sizeof(ipath), path, i);
		r = check_uuid(item, ipath, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int validate_object(const struct schema *s, const json_t *obj, bool partial,
                           const char *prefix, int depth, struct kerr *err);

static int check_value(const struct field *f, const json_t *v, const char *path, int depth,
                       struct kerr *err)
{
	char ipath[KERR_FIELD_MAX];
	json_t *item;
	size_t i;
	int r;

	if (json_is_null(v)) {
		if (f->flags & F_NULLABLE)
			return 0;
		return bad(err, path, "must not be null");
	}

	switch (f->type) {
	case FT_STRING:
		return check_string(f, v, path, err);
	case FT_NAME:
		return check_name(v, path, err);
	case FT_INT:
		if (!json_is_integer(v))
			return bad(err, path, "must be an integer");
		if (f->min == 0 && f->max == 0)
			return 0;
		if (f->max < f->min) {
			if (json_integer_value(v) < f->min)
				return kerr_set(err, -EINVAL, path,
				                "field \"%s\" must be at least %" PRId64, path,
				                f->min);
			return 0;
		}
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return kerr_set(err, -EINVAL, path,
			                "field \"%s\" must be between %" PRId64 " and %" PRId64,
			                path, f->min, f->max);
		return 0;
	case FT_NUMBER:
		if (!json_is_number(v))
			return bad(err, path, "must be a number");
		return check_range(f, json_number_value(v), path, err);
	case FT_BOOL:
		if (!json_is_boolean(v))
			return bad(err, path, "must be a boolean");
		return 0;
	case FT_UUID:
		return check_uuid(v, path, err);
	case FT_TIME: {
		int64_t ms;

		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    time_parse(json_string_value(v), &ms) < 0)
			return bad(err, path,
			           "must be an RFC 3339 time (e.g. \"2026-11-21T04:25:36Z\")");
		return 0;
	}
	case FT_STRING_ARRAY:
		return check_string_array(f, v, path, err);
	case FT_UUID_ARRAY:
		return check_uuid_array(f, v, path, err);
	case FT_OBJECT:
		if (!json_is_object(v))
			return bad(err, path, "must be an object");
		return validate_object(f->sub, v, false, path, depth + 1, err);
	case FT_OBJECT_ARRAY:
		if (!json_is_array(v))
			return bad(err, path, "must be an array of objects");
		r = check_items(f, v, path, ARRAY_MAX_DEFAULT, err);
		if (r < 0)
			return r;
		json_array_foreach(v, i, item)
		{
			path_index(ipath, sizeof(ipath), path, i);
			if (!json_is_object(item))
				return bad(err, ipath, "must be an object");
			r = validate_object(f->sub, item, false, ipath, depth + 1, err);
			if (r < 0)
				return r;
		}
		return 0;
	case FT_ANY:
		return 0;
	}
	return bad(err, path, "has a type this server cannot check");
}

static int validate_object(const struct schema *s, const json_t *obj, bool partial,
                           const char *prefix, int depth, struct kerr *err)
{
	char path[KERR_FIELD_MAX];
	const char *key;
	json_t *v;
	int r;

	if (depth > SCHEMA_DEPTH_MAX)
		return bad(err, prefix, "is nested too deeply");
	if (!s || !s->fields) /* FT_OBJECT without a sub schema: a free-form object */
		return 0;

	/* jansson keeps insertion order, so the first bad key is reported. */
	json_object_foreach((json_t *)obj, key, v)
	{
		const struct field *f = schema_field(s, key);

		path_key(path, sizeof(path), prefix, key);
		if (!f)
			return kerr_set(err, -EINVAL, path, "unknown field \"%s\"", path);
		if (f->flags & F_READONLY)
			return bad(err, path, "is read-only");
		r = check_value(f, v, path, depth, err);
		if (r < 0)
			return r;
	}
	if (partial)
		return 0;
	for (const struct field *f = s->fields; f->name; f++) {
		if (!(f->flags & F_REQUIRED) || (f->flags & F_READONLY))
			continue;
		if (!json_object_get(obj, f->name)) {
			path_key(path, sizeof(path), prefix, f->name);
			return bad(err, path, "is required");
		}
	}
	return 0;
}

int schema_validate(const struct schema *s, const json_t *body, bool partial, struct kerr *err)
{
	if (!json_is_object(body))
		return kerr_set(err, -EINVAL, "", "body must be a JSON object");
	return validate_object(s, body, partial, "", 0, err);
}

/* ---- OpenAPI ---- */

static json_t *object_openapi(const struct schema *s, bool for_response, int depth);

static void set_range(json_t *o, const struct field *f)
{
	if (f->min == 0 && f->max == 0)
		return;
	json_object_set_new(o, "minimum", json_integer(f->min));
	if (f->max >= f->min)
		json_object_set_new(o, "maximum", json_integer(f->max));
}

static json_t *enum_array(const char *const *values)
{
	json_t *a = json_array();

	for (size_t i = 0; values[i]; i++)
		json_array_append_new(a, json_string(values[i]));
	return a;
}

static json_t *string_item(const struct field *f)
{
	json_t *o = json_pack("{s:s}", "type", "string");

	if (f->type == FT_UUID_ARRAY) {
		json_object_set_new(o, "format", json_string("uuid"));
	} else {
		json_object_set_new(o, "maxLength", json_integer(ARRAY_ITEM_MAX));
		if (f->enum_values)
			json_object_set_new(o, "enum", enum_array(f->enum_values));
	}
	return o;
}

static void set_items_bounds(json_t *o, const struct field *f)
{
	if (f->min > 0)
		json_object_set_new(o, "minItems", json_integer(f->min));
	json_object_set_new(o, "maxItems", json_integer(f->max > 0 ? f->max : ARRAY_MAX_DEFAULT));
}

static json_t *field_openapi(const struct field *f, bool for_response, int depth)
{
	json_t *o = json_object();

	switch (f->type) {
	case FT_STRING:
		json_object_set_new(o, "type", json_string("string"));
		if (f->enum_values) {
			json_object_set_new(o, "enum", enum_array(f->enum_values));
			break;
		}
		if (f->min > 0)
			json_object_set_new(o, "minLength", json_integer(f->min));
		json_object_set_new(o, "maxLength",
		                    json_integer(f->max > 0 ? f->max : STRING_MAX_DEFAULT));
		break;
	case FT_NAME:
		json_object_set_new(o, "type", json_string("string"));
		json_object_set_new(o, "minLength", json_integer(1));
		json_object_set_new(o, "maxLength", json_integer(NAME_MAX_LEN));
		json_object_set_new(o, "pattern", json_string("^[A-Za-z0-9][A-Za-z0-9._-]*$"));
		break;
	case FT_INT:
		json_object_set_new(o, "type", json_string("integer"));
		json_object_set_new(o, "format", json_string("int64"));
		set_range(o, f);
		break;
	case FT_NUMBER:
		json_object_set_new(o, "type", json_string("number"));
		json_object_set_new(o, "format", json_string("double"));
		set_range(o, f);
		break;
	case FT_BOOL:
		json_object_set_new(o, "type", json_string("boolean"));
		break;
	case FT_UUID:
		json_object_set_new(o, "type", json_string("string"));
		json_object_set_new(o, "format", json_string("uuid"));
		break;
	case FT_TIME:
		json_object_set_new(o, "type", json_string("string"));
		json_object_set_new(o, "format", json_string("date-time"));
		break;
	case FT_STRING_ARRAY:
	case FT_UUID_ARRAY:
		json_object_set_new(o, "type", json_string("array"));
		json_object_set_new(o, "items", string_item(f));
		set_items_bounds(o, f);
		break;
	case FT_OBJECT:
		json_decref(o);
		o = object_openapi(f->sub, for_response, depth + 1);
		break;
	case FT_OBJECT_ARRAY:
		json_object_set_new(o, "type", json_string("array"));
		json_object_set_new(o, "items", object_openapi(f->sub, for_response, depth + 1));
		set_items_bounds(o, f);
		break;
	case FT_ANY:
		break; /* {} is "any value" */
	}
	if (f->flags & F_NULLABLE)
		json_object_set_new(o, "nullable", json_true());
	if (f->flags & F_READONLY)
		json_object_set_new(o, "readOnly", json_true());
	if (f->flags & F_WRITEONLY)
		json_object_set_new(o, "writeOnly", json_true());
	if (f->desc)
		json_object_set_new(o, "description", json_string(f->desc));
	return o;
}

static json_t *object_openapi(const struct schema *s, bool for_response, int depth)
{
	json_t *o = json_pack("{s:s}", "type", "object");
	json_t *props, *req;

	if (!s || !s->fields || depth > SCHEMA_DEPTH_MAX)
		return o;
	props = json_object();
	req = json_array();
	for (const struct field *f = s->fields; f->name; f++) {
		if (for_response && (f->flags & F_WRITEONLY))
			continue;
		json_object_set_new(props, f->name, field_openapi(f, for_response, depth));
		if (!for_response && (f->flags & F_REQUIRED) && !(f->flags & F_READONLY))
			json_array_append_new(req, json_string(f->name));
	}
	json_object_set_new(o, "properties", props);
	if (json_array_size(req))
		json_object_set_new(o, "required", req);
	else
		json_decref(req);
	if (!for_response)
		json_object_set_new(o, "additionalProperties", json_false());
	return o;
}

json_t *schema_openapi(const struct schema *s, bool for_response)
{
	return object_openapi(s, for_response, 0);
}
