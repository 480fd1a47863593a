// SPDX-License-Identifier: MIT
/*
 * Schema tests: every validation rule with its message and field, nested
 * paths, partial (PATCH) mode, hostile bodies, and the OpenAPI output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/schema.h"

static const char *const state_enum[] = { "enabled", "disabled", NULL };
static const char *const service_enum[] = { "dhcp", "dns", "snat", NULL };

static const struct field range_fields[] = {
	{ .name = "start", .type = FT_STRING, .flags = F_REQUIRED, .min = 7, .max = 15 },
	{ .name = "end", .type = FT_STRING, .flags = F_REQUIRED, .max = 15 },
	{ 0 },
};
static const struct schema range_schema = { "IpRange", range_fields };

static const struct field facts_fields[] = {
	{ .name = "cpus", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 1024 },
	{ .name = "ranges", .type = FT_OBJECT_ARRAY, .max = 2, .sub = &range_schema },
	{ 0 },
};
static const struct schema facts_schema = { NULL, facts_fields };

static const struct field test_fields[] = {
	{ .name = "name", .type = FT_NAME, .flags = F_REQUIRED, .desc = "The name." },
	{ .name = "vcpus", .type = FT_INT, .min = 1, .max = 256 },
	{ .name = "count", .type = FT_INT, .min = 1 }, /* lower bound only */
	{ .name = "offset", .type = FT_INT },          /* any */
	{ .name = "ratio", .type = FT_NUMBER, .min = 0, .max = 2 },
	{ .name = "force", .type = FT_BOOL },
	{ .name = "image_id", .type = FT_UUID },
	{ .name = "expires_at", .type = FT_TIME, .flags = F_NULLABLE },
	{ .name = "state", .type = FT_STRING, .enum_values = state_enum },
	{ .name = "description", .type = FT_STRING },
	{ .name = "label", .type = FT_STRING, .min = 2, .max = 4 },
	{ .name = "ssh_keys", .type = FT_STRING_ARRAY },
	{ .name = "services", .type = FT_STRING_ARRAY, .max = 3, .enum_values = service_enum },
	{ .name = "l3_network_ids", .type = FT_UUID_ARRAY, .min = 1 },
	{ .name = "ip_ranges", .type = FT_OBJECT_ARRAY, .sub = &range_schema },
	{ .name = "facts", .type = FT_OBJECT, .sub = &facts_schema },
	{ .name = "labels", .type = FT_OBJECT }, /* free-form */
	{ .name = "data", .type = FT_ANY },
	{ .name = "id", .type = FT_UUID, .flags = F_READONLY | F_FILTER },
	{ .name = "password", .type = FT_STRING, .flags = F_WRITEONLY, .min = 8, .max = 128 },
	{ 0 },
};
static const struct schema test_schema = { "Test", test_fields };

/* Validates the JSON text; returns the code and leaves the details in e. */
static int check(const char *text, bool partial, struct kerr *e)
{
	char perr[200];
	json_t *v = jparse(text, strlen(text), perr, sizeof(perr));
	int r;

	if (!v)
		fail_msg("test JSON does not parse: %s: %s", text, perr);
	kerr_clear(e);
	r = schema_validate(&test_schema, v, partial, e);
	json_decref(v);
	return r;
}

/* Expects a 400 with that field and message. */
static void expect_bad(const char *text, bool partial, const char *field, const char *message)
{
	struct kerr e;

	assert_int_equal(check(text, partial, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.field, field);
	assert_string_equal(e.message, message);
}

static void expect_ok(const char *text, bool partial)
{
	struct kerr e;
	int r = check(text, partial, &e);

	if (r != 0)
		fail_msg("%s: %s (%s)", text, e.message, e.field);
	assert_int_equal(e.code, 0);
}

static void test_valid(void **state)
{
	expect_ok("{\"name\":\"web-1\"}", false);
	expect_ok("{\"name\":\"a\",\"vcpus\":1,\"count\":1000000,\"offset\":-5,\"ratio\":1.5,"
	          "\"force\":false,\"image_id\":\"0b0e7c1c-3d0a-4a4b-9d1e-6c2c8f0a1b2c\","
	          "\"expires_at\":\"2026-11-21T04:25:36.123Z\",\"state\":\"disabled\","
	          "\"description\":\"\",\"label\":\"ab\",\"ssh_keys\":[\"ssh-ed25519 AAAA\"],"
	          "\"services\":[\"dhcp\",\"snat\"],"
	          "\"l3_network_ids\":[\"0b0e7c1c-3d0a-4a4b-9d1e-6c2c8f0a1b2c\"],"
	          "\"ip_ranges\":[{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.20\"}],"
	          "\"facts\":{\"cpus\":4,\"ranges\":[]},\"labels\":{\"x\":[1,{}]},"
	          "\"data\":[1,\"two\",{\"three\":null}],\"password\":\"secret123\"}",
	          false);
	expect_ok("{\"name\":\"a\",\"vcpus\":256,\"ratio\":0,\"expires_at\":null}", false);
	/* An integer is a number too. */
	expect_ok("{\"name\":\"a\",\"ratio\":2}", false);
}

static void test_body_not_object(void **state)
{
	expect_bad("[]", false, "", "body must be a JSON object");
	expect_bad("\"x\"", false, "", "body must be a JSON object");
	expect_bad("null", false, "", "body must be a JSON object");
	expect_bad("42", true, "", "body must be a JSON object");

	struct kerr e;

	kerr_clear(&e);
	assert_int_equal(schema_validate(&test_schema, NULL, false, &e), -EINVAL);
	assert_string_equal(e.message, "body must be a JSON object");
}

static void test_unknown_readonly_required(void **state)
{
	expect_bad("{\"name\":\"a\",\"foo\":1}", false, "foo", "unknown field \"foo\"");
	expect_bad("{\"name\":\"a\",\"id\":\"0b0e7c1c-3d0a-4a4b-9d1e-6c2c8f0a1b2c\"}", false, "id",
	           "field \"id\" is read-only");
	expect_bad("{}", false, "name", "field \"name\" is required");
	expect_bad("{\"vcpus\":2}", false, "name", "field \"name\" is required");
	/* The first offending key (in body order) is reported. */
	expect_bad("{\"zzz\":1,\"aaa\":2}", false, "zzz", "unknown field \"zzz\"");
}

static void test_partial(void **state)
{
	expect_ok("{}", true);
	expect_ok("{\"vcpus\":4}", true);
	/* Partial still refuses unknown, read-only and bad values. */
	expect_bad("{\"foo\":1}", true, "foo", "unknown field \"foo\"");
	expect_bad("{\"id\":\"x\"}", true, "id", "field \"id\" is read-only");
	expect_bad("{\"vcpus\":0}", true, "vcpus", "field \"vcpus\" must be between 1 and 256");
	/* Nested objects are whole values: their required fields still count. */
	expect_bad("{\"ip_ranges\":[{\"start\":\"10.0.0.1\"}]}", true, "ip_ranges[0].end",
	           "field \"ip_ranges[0].end\" is required");
}

static void test_types(void **state)
{
	expect_bad("{\"name\":\"a\",\"vcpus\":\"2\"}", false, "vcpus",
	           "field \"vcpus\" must be an integer");
	expect_bad("{\"name\":\"a\",\"vcpus\":2.0}", false, "vcpus",
	           "field \"vcpus\" must be an integer");
	expect_bad("{\"name\":\"a\",\"vcpus\":true}", false, "vcpus",
	           "field \"vcpus\" must be an integer");
	expect_bad("{\"name\":\"a\",\"ratio\":\"1\"}", false, "ratio",
	           "field \"ratio\" must be a number");
	expect_bad("{\"name\":\"a\",\"force\":1}", false, "force",
	           "field \"force\" must be a boolean");
	expect_bad("{\"name\":1}", false, "name", "field \"name\" must be a string");
	expect_bad("{\"name\":\"a\",\"description\":[]}", false, "description",
	           "field \"description\" must be a string");
	expect_bad("{\"name\":\"a\",\"image_id\":\"0b0e7c1c\"}", false, "image_id",
	           "field \"image_id\" must be a UUID");
	expect_bad("{\"name\":\"a\",\"image_id\":\"0b0e7c1c-3d0a-4a4b-9d1e-6c2c8f0a1b2g\"}", false,
	           "image_id", "field \"image_id\" must be a UUID");
	expect_bad("{\"name\":\"a\",\"image_id\":7}", false, "image_id",
	           "field \"image_id\" must be a UUID");
	expect_bad("{\"name\":\"a\",\"expires_at\":\"tomorrow\"}", false, "expires_at",
	           "field \"expires_at\" must be an RFC 3339 time (e.g. \"2026-11-21T04:25:36Z\")");
	expect_bad("{\"name\":\"a\",\"facts\":[]}", false, "facts",
	           "field \"facts\" must be an object");
	expect_bad("{\"name\":\"a\",\"labels\":\"x\"}", false, "labels",
	           "field \"labels\" must be an object");
	expect_bad("{\"name\":\"a\",\"ip_ranges\":{}}", false, "ip_ranges",
	           "field \"ip_ranges\" must be an array of objects");
	expect_bad("{\"name\":\"a\",\"ssh_keys\":\"k\"}", false, "ssh_keys",
	           "field \"ssh_keys\" must be an array of strings");
	expect_bad("{\"name\":\"a\",\"l3_network_ids\":\"k\"}", false, "l3_network_ids",
	           "field \"l3_network_ids\" must be an array of UUIDs");
}

static void test_null(void **state)
{
	expect_bad("{\"name\":null}", false, "name", "field \"name\" must not be null");
	expect_bad("{\"name\":\"a\",\"vcpus\":null}", false, "vcpus",
	           "field \"vcpus\" must not be null");
	expect_ok("{\"name\":\"a\",\"expires_at\":null}", false);
	/* FT_ANY takes any value but null still needs F_NULLABLE. */
	expect_bad("{\"name\":\"a\",\"data\":null}", false, "data",
	           "field \"data\" must not be null");
}

static void test_ranges(void **state)
{
	expect_bad("{\"name\":\"a\",\"vcpus\":0}", false, "vcpus",
	           "field \"vcpus\" must be between 1 and 256");
	expect_bad("{\"name\":\"a\",\"vcpus\":257}", false, "vcpus",
	           "field \"vcpus\" must be between 1 and 256");
	expect_bad("{\"name\":\"a\",\"vcpus\":-9223372036854775808}", false, "vcpus",
	           "field \"vcpus\" must be between 1 and 256");
	expect_bad("{\"name\":\"a\",\"count\":0}", false, "count",
	           "field \"count\" must be at least 1");
	expect_ok("{\"name\":\"a\",\"offset\":9223372036854775807}", false);
	expect_bad("{\"name\":\"a\",\"ratio\":2.5}", false, "ratio",
	           "field \"ratio\" must be between 0 and 2");
	expect_bad("{\"name\":\"a\",\"ratio\":-0.1}", false, "ratio",
	           "field \"ratio\" must be between 0 and 2");
}

static void test_strings(void **state)
{
	char big[400];

	expect_bad("{\"name\":\"a\",\"state\":\"on\"}", false, "state",
	           "field \"state\" must be one of: enabled, disabled");
	expect_bad("{\"name\":\"a\",\"label\":\"x\"}", false, "label",
	           "field \"label\" is too short (min 2)");
	expect_bad("{\"name\":\"a\",\"label\":\"abcde\"}", false, "label",
	           "field \"label\" is too long (max 4)");
	/* Lengths are bytes: "é" is two. */
	expect_bad("{\"name\":\"a\",\"label\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}", false, "label",
	           "field \"label\" is too long (max 4)");
	/* max 0 means 255. */
	strcpy(big, "{\"name\":\"a\",\"description\":\"");
	memset(big + strlen(big), 'x', 255);
	strcpy(big + strlen("{\"name\":\"a\",\"description\":\"") + 255, "\"}");
	expect_ok(big, false);
	strcpy(big + strlen("{\"name\":\"a\",\"description\":\"") + 255, "x\"}");
	expect_bad(big, false, "description", "field \"description\" is too long (max 255)");
	/* A NUL inside a string (built in code, not parsed) is refused. */
	{
		json_t *o = json_pack("{s:s, s:s%}", "name", "a", "label", "a\0b", (size_t)3);
		struct kerr e;

		kerr_clear(&e);
		assert_int_equal(schema_validate(&test_schema, o, false, &e), -EINVAL);
		assert_string_equal(e.field, "label");
		json_decref(o);
	}
}

static void test_names(void **state)
{
	expect_bad("{\"name\":\"\"}", false, "name", "field \"name\" must not be empty");
	expect_bad(
	    "{\"name\":\"a234567890123456789012345678901234567890123456789012345678901234\"}",
	    false, "name", "field \"name\" is too long (max 63)");
	expect_ok("{\"name\":\"a23456789012345678901234567890123456789012345678901234567890123\"}",
	          false);
	expect_bad("{\"name\":\"-x\"}", false, "name",
	           "field \"name\" must start with a letter or digit and contain only letters, "
	           "digits, '.', '_' and '-'");
	expect_bad("{\"name\":\"a b\"}", false, "name",
	           "field \"name\" must start with a letter or digit and contain only letters, "
	           "digits, '.', '_' and '-'");
	expect_ok("{\"name\":\"A.b_c-9\"}", false);
}

static void test_arrays(void **state)
{
	char *text;
	size_t off;

	expect_bad("{\"name\":\"a\",\"ssh_keys\":[\"k\",3]}", false, "ssh_keys[1]",
	           "field \"ssh_keys[1]\" must be a string");
	expect_bad("{\"name\":\"a\",\"services\":[\"dhcp\",\"ftp\"]}", false, "services[1]",
	           "field \"services[1]\" must be one of: dhcp, dns, snat");
	expect_bad("{\"name\":\"a\",\"services\":[\"dhcp\",\"dns\",\"snat\",\"dhcp\"]}", false,
	           "services", "field \"services\" has too many items (max 3)");
	expect_bad("{\"name\":\"a\",\"l3_network_ids\":[]}", false, "l3_network_ids",
	           "field \"l3_network_ids\" must have at least 1 item");
	expect_bad("{\"name\":\"a\",\"l3_network_ids\":[\"0b0e7c1c-3d0a-4a4b-9d1e-6c2c8f0a1b2c\","
	           "\"nope\"]}",
	           false, "l3_network_ids[1]", "field \"l3_network_ids[1]\" must be a UUID");

	/* Default max items: 64. */
	text = malloc(64 * 4 + 100);
	off = (size_t)sprintf(text, "{\"name\":\"a\",\"ssh_keys\":[");
	for (int i = 0; i < 64; i++)
		off += (size_t)sprintf(text + off, "%s\"k\"", i ? "," : "");
	strcpy(text + off, "]}");
	expect_ok(text, false);
	strcpy(text + off, ",\"k\"]}");
	expect_bad(text, false, "ssh_keys", "field \"ssh_keys\" has too many items (max 64)");
	free(text);

	/* Each string at most 4096 bytes. */
	text = malloc(4200);
	off = (size_t)sprintf(text, "{\"name\":\"a\",\"ssh_keys\":[\"");
	memset(text + off, 'k', 4097);
	strcpy(text + off + 4097, "\"]}");
	expect_bad(text, false, "ssh_keys[0]", "field \"ssh_keys[0]\" is too long (max 4096)");
	strcpy(text + off + 4096, "\"]}");
	expect_ok(text, false);
	free(text);
}

static void test_nested(void **state)
{
	expect_bad("{\"name\":\"a\",\"ip_ranges\":[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.9\"},"
	           "{\"start\":\"10.1\",\"end\":\"10.0.0.9\"}]}",
	           false, "ip_ranges[1].start",
	           "field \"ip_ranges[1].start\" is too short (min 7)");
	expect_bad(
	    "{\"name\":\"a\",\"ip_ranges\":[{\"start\":\"10.0.0.1\",\"end\":\"x\",\"via\":1}]}",
	    false, "ip_ranges[0].via", "unknown field \"ip_ranges[0].via\"");
	expect_bad("{\"name\":\"a\",\"ip_ranges\":[{\"start\":\"10.0.0.1\"}]}", false,
	           "ip_ranges[0].end", "field \"ip_ranges[0].end\" is required");
	expect_bad("{\"name\":\"a\",\"ip_ranges\":[7]}", false, "ip_ranges[0]",
	           "field \"ip_ranges[0]\" must be an object");
	/* Two levels. */
	expect_bad("{\"name\":\"a\",\"facts\":{}}", false, "facts.cpus",
	           "field \"facts.cpus\" is required");
	expect_bad("{\"name\":\"a\",\"facts\":{\"cpus\":2,\"ranges\":[{\"start\":\"10.0.0.1\","
	           "\"end\":3}]}}",
	           false, "facts.ranges[0].end", "field \"facts.ranges[0].end\" must be a string");
	expect_bad("{\"name\":\"a\",\"facts\":{\"cpus\":2,\"ranges\":[{},{},{}]}}", false,
	           "facts.ranges", "field \"facts.ranges\" has too many items (max 2)");
}

static void test_hostile(void **state)
{
	struct kerr e;
	json_t *v, *deep, *arr;
	char *key;

	/* Deeply nested FT_ANY and FT_OBJECT values do not recurse. */
	deep = json_array();
	for (int i = 0; i < 10000; i++)
		deep = json_pack("[o]", deep);
	v = json_pack("{s:s, s:O, s:o}", "name", "a", "data", deep, "labels",
	              json_pack("{s:O}", "x", deep));
	kerr_clear(&e);
	assert_int_equal(schema_validate(&test_schema, v, false, &e), 0);
	json_decref(v);
	/* ...nor does a deep value in a typed field. */
	v = json_pack("{s:s, s:o}", "name", "a", "facts", deep);
	assert_int_equal(schema_validate(&test_schema, v, false, &e), -EINVAL);
	assert_string_equal(e.message, "field \"facts\" must be an object");
	json_decref(v);

	/* A huge array is refused by its size before it is walked. */
	arr = json_array();
	for (int i = 0; i < 100000; i++)
		json_array_append_new(arr, json_integer(i));
	v = json_pack("{s:s, s:o}", "name", "a", "ssh_keys", arr);
	assert_int_equal(schema_validate(&test_schema, v, false, &e), -EINVAL);
	assert_string_equal(e.field, "ssh_keys");
	json_decref(v);

	/* A very long unknown key: the field is cut to fit, no overflow. */
	key = malloc(10001);
	memset(key, 'k', 10000);
	key[10000] = '\0';
	v = json_pack("{s:s, s:i}", "name", "a", key, 1);
	assert_int_equal(schema_validate(&test_schema, v, false, &e), -EINVAL);
	assert_int_equal(strlen(e.field), KERR_FIELD_MAX - 1);
	assert_true(strncmp(e.message, "unknown field \"kkk", 18) == 0);
	json_decref(v);
	free(key);
}

static void test_schema_field(void **state)
{
	assert_ptr_equal(schema_field(&test_schema, "vcpus"), &test_fields[1]);
	assert_null(schema_field(&test_schema, "nope"));
	assert_null(schema_field(NULL, "vcpus"));
	assert_null(schema_field(&test_schema, NULL));
}

static json_t *prop(json_t *o, const char *name)
{
	return json_object_get(json_object_get(o, "properties"), name);
}

static bool has_string(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

static void test_openapi(void **state)
{
	json_t *o = schema_openapi(&test_schema, false);
	json_t *r = schema_openapi(&test_schema, true);
	json_t *p;

	assert_string_equal(jstr(o, "type"), "object");
	assert_false(jbool(o, "additionalProperties", true));
	assert_int_equal(json_array_size(json_object_get(o, "required")), 1);
	assert_true(has_string(json_object_get(o, "required"), "name"));

	p = prop(o, "name");
	assert_string_equal(jstr(p, "type"), "string");
	assert_int_equal(jint(p, "minLength", 0), 1);
	assert_int_equal(jint(p, "maxLength", 0), 63);
	assert_string_equal(jstr(p, "description"), "The name.");
	p = prop(o, "vcpus");
	assert_string_equal(jstr(p, "type"), "integer");
	assert_int_equal(jint(p, "minimum", -1), 1);
	assert_int_equal(jint(p, "maximum", -1), 256);
	p = prop(o, "count");
	assert_int_equal(jint(p, "minimum", -1), 1);
	assert_null(json_object_get(p, "maximum"));
	assert_null(json_object_get(prop(o, "offset"), "minimum"));
	assert_string_equal(jstr(prop(o, "ratio"), "type"), "number");
	assert_string_equal(jstr(prop(o, "force"), "type"), "boolean");
	assert_string_equal(jstr(prop(o, "image_id"), "format"), "uuid");
	p = prop(o, "expires_at");
	assert_string_equal(jstr(p, "format"), "date-time");
	assert_true(jbool(p, "nullable", false));
	p = prop(o, "state");
	assert_int_equal(json_array_size(json_object_get(p, "enum")), 2);
	assert_true(has_string(json_object_get(p, "enum"), "disabled"));
	assert_int_equal(jint(prop(o, "description"), "maxLength", 0), 255);
	p = prop(o, "label");
	assert_int_equal(jint(p, "minLength", 0), 2);
	assert_int_equal(jint(p, "maxLength", 0), 4);
	p = prop(o, "services");
	assert_string_equal(jstr(p, "type"), "array");
	assert_int_equal(jint(p, "maxItems", 0), 3);
	assert_true(has_string(json_object_get(json_object_get(p, "items"), "enum"), "snat"));
	assert_int_equal(jint(prop(o, "ssh_keys"), "maxItems", 0), 64);
	p = prop(o, "l3_network_ids");
	assert_string_equal(jstr(json_object_get(p, "items"), "format"), "uuid");
	assert_int_equal(jint(p, "minItems", 0), 1);
	/* Nested objects are inlined with their own required lists. */
	p = json_object_get(prop(o, "ip_ranges"), "items");
	assert_string_equal(jstr(p, "type"), "object");
	assert_int_equal(json_array_size(json_object_get(p, "required")), 2);
	assert_int_equal(jint(prop(p, "start"), "minLength", 0), 7);
	p = prop(o, "facts");
	assert_string_equal(jstr(p, "type"), "object");
	assert_string_equal(jstr(prop(p, "ranges"), "type"), "array");
	assert_string_equal(jstr(json_object_get(prop(p, "ranges"), "items"), "type"), "object");
	assert_non_null(prop(json_object_get(prop(p, "ranges"), "items"), "end"));
	assert_int_equal(json_object_size(prop(o, "data")), 0); /* any */
	assert_true(jbool(prop(o, "id"), "readOnly", false));
	assert_true(jbool(prop(o, "password"), "writeOnly", false));
	/* Read-only fields are never required. */
	assert_false(has_string(json_object_get(o, "required"), "id"));

	/* The response form leaves out write-only fields and required. */
	assert_null(prop(r, "password"));
	assert_non_null(prop(r, "id"));
	assert_null(json_object_get(r, "required"));
	assert_null(json_object_get(r, "additionalProperties"));

	json_decref(o);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_body_not_object),
		cmocka_unit_test(test_unknown_readonly_required),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_schema_field),
		cmocka_unit_test(test_openapi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
