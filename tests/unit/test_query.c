// SPDX-License-Identifier: MIT
/*
 * Unit tests for the list-query parser (kumod/query.c): every operator, the
 * longest-operator rule, typed values, the schema checks, the limits, and
 * that a failed call leaves the query unchanged.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kumod/query.h"

static const char *const states[] = { "running", "stopped", NULL };

static const struct field vm_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "account_id", FT_UUID, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ "vcpus", FT_INT, F_FILTER, 1, 256, NULL, NULL, NULL },
	{ "shared", FT_BOOL, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "host_id", FT_UUID, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 0, NULL, NULL, NULL },
	{ "password", FT_STRING, F_WRITEONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ .name = NULL },
};
static const struct schema vm_schema = { "Vm", vm_fields };

/* A schema without name and account_id. */
static const struct field bare_fields[] = {
	{ "size", FT_INT, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ .name = NULL },
};
static const struct schema bare_schema = { "Bare", bare_fields };

static int parse(struct list_query *q, const char *expr, struct kerr *e)
{
	kerr_clear(e);
	return query_parse_filter(q, &vm_schema, expr, e);
}

/* Parses expr alone and checks field, op and the single value. */
static void check_op(const char *expr, const char *field, enum filter_op op, const char *value)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(parse(&q, expr, &e), 0);
	assert_int_equal(q.nfilters, 1);
	assert_string_equal(q.filters[0].field, field);
	assert_int_equal(q.filters[0].op, op);
	assert_int_equal(q.filters[0].nvalues, 1);
	assert_string_equal(q.filters[0].values[0], value);
	list_query_free(&q);
}

/* Expects expr to fail with -EINVAL on "q", the message containing msg. */
static void check_bad(const struct schema *s, const char *expr, const char *msg)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	kerr_clear(&e);
	assert_int_equal(query_parse_filter(&q, s, expr, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.field, "q");
	if (!strstr(e.message, msg))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", expr, e.message, msg);
	assert_int_equal(q.nfilters, 0);
	list_query_free(&q);
}

static void test_init_defaults(void **state)
{
	struct list_query q;

	list_query_init(&q);
	assert_int_equal(q.nfilters, 0);
	assert_int_equal(q.limit, QUERY_LIMIT_DEFAULT);
	assert_int_equal(q.offset, 0);
	assert_string_equal(q.sort, "");
	assert_false(q.sort_desc);
	assert_null(q.fields);
	assert_null(q.account_id);
	list_query_free(&q);
	list_query_free(&q); /* twice is harmless */
}

static void test_each_operator(void **state)
{
	check_op("state=running", "state", OP_EQ, "running");
	check_op("state!=running", "state", OP_NE, "running");
	check_op("vcpus>2", "vcpus", OP_GT, "2");
	check_op("vcpus<2", "vcpus", OP_LT, "2");
	check_op("vcpus>=2", "vcpus", OP_GE, "2");
	check_op("vcpus<=2", "vcpus", OP_LE, "2");
	check_op("name~=web%", "name", OP_LIKE, "web%");
	check_op("state?=running", "state", OP_IN, "running");
}

static void test_in_list(void **state)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(parse(&q, "state?=running,stopped,,paused", &e), 0);
	assert_int_equal(q.filters[0].op, OP_IN);
	assert_int_equal(q.filters[0].vtype, FV_STRING);
	assert_int_equal(q.filters[0].nvalues, 4);
	assert_string_equal(q.filters[0].values[0], "running");
	assert_string_equal(q.filters[0].values[1], "stopped");
	assert_string_equal(q.filters[0].values[2], "");
	assert_string_equal(q.filters[0].values[3], "paused");

	assert_int_equal(parse(&q, "vcpus?=1,2,-8", &e), 0);
	assert_int_equal(q.filters[1].vtype, FV_INT);
	assert_int_equal(q.filters[1].nvalues, 3);
	assert_int_equal(q.filters[1].ivalues[0], 1);
	assert_int_equal(q.filters[1].ivalues[1], 2);
	assert_int_equal(q.filters[1].ivalues[2], -8);
	list_query_free(&q);
}

static void test_longest_operator(void **state)
{
	/* The operator starts at the first operator character; the longest wins. */
	check_op("vcpus>=1", "vcpus", OP_GE, "1");
	check_op("vcpus<=1", "vcpus", OP_LE, "1");
	check_op("name!=a", "name", OP_NE, "a");
	check_op("name==a", "name", OP_EQ, "=a");
	check_op("name=>a", "name", OP_EQ, ">a");
	check_op("name=a=b", "name", OP_EQ, "a=b");
	check_op("name>=<", "name", OP_GE, "<");
	check_op("name~==x", "name", OP_LIKE, "=x");
	check_op("name?=?=", "name", OP_IN, "?=");
	check_op("name=", "name", OP_EQ, "");
}

static void test_typed_values(void **state)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(parse(&q, "vcpus=-5", &e), 0);
	assert_int_equal(q.filters[0].vtype, FV_INT);
	assert_int_equal(q.filters[0].ivalues[0], -5);
	assert_int_equal(parse(&q, "vcpus>9223372036854775807", &e), 0);
	assert_int_equal(q.filters[1].ivalues[0], INT64_MAX);
	assert_int_equal(parse(&q, "shared=true", &e), 0);
	assert_int_equal(q.filters[2].vtype, FV_BOOL);
	assert_int_equal(q.filters[2].ivalues[0], 1);
	assert_int_equal(parse(&q, "shared!=false", &e), 0);
	assert_int_equal(q.filters[3].ivalues[0], 0);
	assert_int_equal(parse(&q, "host_id=abc", &e), 0);
	assert_int_equal(q.filters[4].vtype, FV_STRING);
	assert_int_equal(parse(&q, "state=whatever", &e), 0); /* enums are not checked */
	assert_int_equal(q.filters[5].vtype, FV_STRING);
	assert_int_equal(q.nfilters, 6);
	list_query_free(&q);

	check_bad(&vm_schema, "vcpus=abc", "must be an integer");
	check_bad(&vm_schema, "vcpus=12x", "must be an integer");
	check_bad(&vm_schema, "vcpus=", "must be an integer");
	check_bad(&vm_schema, "vcpus= 1", "must be an integer");
	check_bad(&vm_schema, "vcpus=1.5", "must be an integer");
	check_bad(&vm_schema, "vcpus=9223372036854775808", "must be an integer");
	check_bad(&vm_schema, "vcpus?=1,x", "must be an integer");
	check_bad(&vm_schema, "shared=yes", "true or false");
	check_bad(&vm_schema, "shared=True", "true or false");
	check_bad(&vm_schema, "shared=1", "true or false");
	check_bad(&vm_schema, "vcpus~=1%", "needs a string field");
	check_bad(&vm_schema, "shared~=t%", "needs a string field");
}

static void test_field_rules(void **state)
{
	struct list_query q;
	struct kerr e;

	/* Column fields the schema has count as filterable without F_FILTER. */
	check_op("name=web", "name", OP_EQ, "web");
	check_op("account_id=a", "account_id", OP_EQ, "a");
	/* id, created_at, updated_at are always there. */
	check_op("id=x", "id", OP_EQ, "x");
	check_op("created_at>2026", "created_at", OP_GT, "2026");
	check_op("updated_at<2026", "updated_at", OP_LT, "2026");

	check_bad(&vm_schema, "foo=1", "unknown filter field \"foo\"");
	check_bad(&vm_schema, "description=x", "unknown filter field \"description\"");
	check_bad(&vm_schema, "password=x", "unknown filter field \"password\"");
	check_bad(&vm_schema, "State=running", "unknown filter field");

	/* A schema without name/account_id: those are unknown there. */
	check_bad(&bare_schema, "name=x", "unknown filter field \"name\"");
	check_bad(&bare_schema, "account_id=x", "unknown filter field \"account_id\"");
	list_query_init(&q);
	assert_int_equal(query_parse_filter(&q, &bare_schema, "id=x", &e), 0);
	assert_int_equal(query_parse_filter(&q, &bare_schema, "created_at>x", &e), 0);
	assert_int_equal(query_parse_filter(&q, &bare_schema, "size>=3", &e), 0);
	assert_int_equal(q.filters[2].vtype, FV_INT);
	assert_int_equal(query_parse_filter(&q, NULL, "id=y", &e), 0);
	assert_int_equal(query_parse_filter(&q, NULL, "size=1", &e), -EINVAL);
	list_query_free(&q);
}

static void test_syntax_errors(void **state)
{
	char big[200];

	check_bad(&vm_schema, "state", "no operator");
	check_bad(&vm_schema, "", "no operator");
	check_bad(&vm_schema, "=x", "no field name");
	check_bad(&vm_schema, ">=1", "no field name");
	check_bad(&vm_schema, "state!running", "unknown operator");
	check_bad(&vm_schema, "name~x", "unknown operator");
	check_bad(&vm_schema, "name?x", "unknown operator");
	check_bad(&vm_schema, "na?me=x", "unknown operator");
	memset(big, 'a', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "=1", 3);
	check_bad(&vm_schema, big, "unknown filter field");
	check_bad(&vm_schema, NULL, "empty filter");
}

static void test_limits(void **state)
{
	char value[1100], in[64 * 3 + 40];
	struct list_query q;
	struct kerr e;
	char *p;

	/* Values: 1024 bytes pass, 1025 do not. */
	strcpy(value, "name=");
	memset(value + 5, 'x', 1024);
	value[5 + 1024] = '\0';
	list_query_init(&q);
	assert_int_equal(parse(&q, value, &e), 0);
	assert_int_equal(strlen(q.filters[0].values[0]), 1024);
	list_query_free(&q);
	value[5 + 1024] = 'x';
	value[5 + 1025] = '\0';
	check_bad(&vm_schema, value, "longer than 1024");

	/* IN lists: 64 values pass, 65 do not. */
	p = in + sprintf(in, "vcpus?=");
	for (int i = 0; i < 64; i++)
		p += sprintf(p, i ? ",%d" : "%d", i);
	list_query_init(&q);
	assert_int_equal(parse(&q, in, &e), 0);
	assert_int_equal(q.filters[0].nvalues, 64);
	assert_int_equal(q.filters[0].ivalues[63], 63);
	list_query_free(&q);
	sprintf(p, ",64");
	check_bad(&vm_schema, in, "too many values");

	/* Filters: 16 pass, the 17th fails and leaves the 16. */
	list_query_init(&q);
	for (int i = 0; i < QUERY_MAX_FILTERS; i++)
		assert_int_equal(parse(&q, "state=running", &e), 0);
	assert_int_equal(parse(&q, "state=running", &e), -EINVAL);
	assert_string_equal(e.field, "q");
	assert_non_null(strstr(e.message, "too many filters"));
	assert_int_equal(q.nfilters, QUERY_MAX_FILTERS);
	assert_int_equal(query_add_eq(&q, "host_id", "h"), -EINVAL);
	list_query_free(&q);
}

static void test_failure_leaves_query(void **state)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(parse(&q, "state=running", &e), 0);
	assert_int_equal(parse(&q, "vcpus?=1,2,x", &e), -EINVAL);
	assert_int_equal(parse(&q, "nope=1", &e), -EINVAL);
	assert_int_equal(q.nfilters, 1);
	assert_string_equal(q.filters[0].values[0], "running");
	assert_null(q.filters[1].values[0]);
	list_query_free(&q);
}

static int params(struct list_query *q, const char *limit, const char *offset, const char *sort,
                  const char *fields, struct kerr *e)
{
	kerr_clear(e);
	return query_parse_params(q, &vm_schema, limit, offset, sort, fields, e);
}

static void check_bad_param(const char *limit, const char *offset, const char *sort,
                            const char *fields, const char *param)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(params(&q, "7", "3", "-vcpus", "id", &e), 0);
	assert_int_equal(params(&q, limit, offset, sort, fields, &e), -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.field, param);
	assert_true(strlen(e.message) > 0);
	/* Nothing changed. */
	assert_int_equal(q.limit, 7);
	assert_int_equal(q.offset, 3);
	assert_string_equal(q.sort, "vcpus");
	assert_true(q.sort_desc);
	assert_string_equal(q.fields, "id");
	list_query_free(&q);
}

static void test_params_ok(void **state)
{
	struct list_query q;
	struct kerr e;

	list_query_init(&q);
	assert_int_equal(params(&q, NULL, NULL, NULL, NULL, &e), 0);
	assert_int_equal(q.limit, QUERY_LIMIT_DEFAULT);
	assert_int_equal(q.offset, 0);
	assert_string_equal(q.sort, "");
	assert_null(q.fields);

	assert_int_equal(params(&q, "1", "0", "name", "id,name,description", &e), 0);
	assert_int_equal(q.limit, 1);
	assert_int_equal(q.offset, 0);
	assert_string_equal(q.sort, "name");
	assert_false(q.sort_desc);
	assert_string_equal(q.fields, "id,name,description");

	assert_int_equal(params(&q, "1000", "1000000000", "-vcpus", "created_at", &e), 0);
	assert_int_equal(q.limit, 1000);
	assert_int_equal(q.offset, 1000000000);
	assert_string_equal(q.sort, "vcpus");
	assert_true(q.sort_desc);
	assert_string_equal(q.fields, "created_at");

	assert_int_equal(params(&q, NULL, NULL, "created_at", NULL, &e), 0);
	assert_string_equal(q.sort, "created_at");
	assert_false(q.sort_desc);
	assert_string_equal(q.fields, "created_at"); /* untouched */
	assert_int_equal(params(&q, NULL, NULL, "-id", NULL, &e), 0);
	assert_string_equal(q.sort, "id");
	assert_true(q.sort_desc);
	list_query_free(&q);
}

static void test_params_errors(void **state)
{
	char fields[600];

	check_bad_param("0", NULL, NULL, NULL, "limit");
	check_bad_param("1001", NULL, NULL, NULL, "limit");
	check_bad_param("-1", NULL, NULL, NULL, "limit");
	check_bad_param("ten", NULL, NULL, NULL, "limit");
	check_bad_param("", NULL, NULL, NULL, "limit");
	check_bad_param("10x", NULL, NULL, NULL, "limit");
	check_bad_param(NULL, "-1", NULL, NULL, "offset");
	check_bad_param(NULL, "1000000001", NULL, NULL, "offset");
	check_bad_param(NULL, "1e3", NULL, NULL, "offset");
	check_bad_param(NULL, NULL, "-", NULL, "sort");
	check_bad_param(NULL, NULL, "", NULL, "sort");
	check_bad_param(NULL, NULL, "description", NULL, "sort"); /* not F_FILTER */
	check_bad_param(NULL, NULL, "--name", NULL, "sort");
	check_bad_param(NULL, NULL, "foo", NULL, "sort");
	check_bad_param(NULL, NULL, "password", NULL, "sort");
	check_bad_param(NULL, NULL, NULL, "id,foo", "fields");
	check_bad_param(NULL, NULL, NULL, "password", "fields");
	check_bad_param(NULL, NULL, NULL, "", "fields");
	check_bad_param(NULL, NULL, NULL, "id,,name", "fields");
	check_bad_param(NULL, NULL, NULL, "id,", "fields");
	/* A later bad parameter leaves the earlier good ones unapplied too. */
	check_bad_param("5", "5", "name", "nope", "fields");

	/* fields: 512 bytes pass, 513 do not. */
	strcpy(fields, "id");
	for (int i = 0; i < 170; i++)
		strcat(fields, ",id");
	assert_int_equal(strlen(fields), 512);
	{
		struct list_query q;
		struct kerr e;

		list_query_init(&q);
		assert_int_equal(params(&q, NULL, NULL, NULL, fields, &e), 0);
		assert_string_equal(q.fields, fields);
		list_query_free(&q);
	}
	strcat(fields, "x"); /* "idx": also unknown, but the length check comes first */
	{
		struct list_query q;
		struct kerr e;

		list_query_init(&q);
		assert_int_equal(params(&q, NULL, NULL, NULL, fields, &e), -EINVAL);
		assert_non_null(strstr(e.message, "longer than 512"));
		list_query_free(&q);
	}
	check_bad_param(NULL, NULL, NULL, fields, "fields");
}

static void test_add_eq(void **state)
{
	struct list_query q;
	char longname[80];

	list_query_init(&q);
	assert_int_equal(query_add_eq(&q, "host_id", "h1"), 0);
	assert_int_equal(query_add_eq(&q, "anything_goes", "v"), 0); /* no schema check */
	assert_int_equal(q.nfilters, 2);
	assert_string_equal(q.filters[0].field, "host_id");
	assert_int_equal(q.filters[0].op, OP_EQ);
	assert_int_equal(q.filters[0].vtype, FV_STRING);
	assert_int_equal(q.filters[0].nvalues, 1);
	assert_string_equal(q.filters[0].values[0], "h1");
	assert_int_equal(query_add_eq(&q, "", "v"), -EINVAL);
	assert_int_equal(query_add_eq(&q, "f", NULL), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(query_add_eq(&q, longname, "v"), -EINVAL);
	assert_int_equal(q.nfilters, 2);
	list_query_free(&q);
	assert_int_equal(q.nfilters, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_defaults),
		cmocka_unit_test(test_each_operator),
		cmocka_unit_test(test_in_list),
		cmocka_unit_test(test_longest_operator),
		cmocka_unit_test(test_typed_values),
		cmocka_unit_test(test_field_rules),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_failure_leaves_query),
		cmocka_unit_test(test_params_ok),
		cmocka_unit_test(test_params_errors),
		cmocka_unit_test(test_add_eq),
	};

	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
