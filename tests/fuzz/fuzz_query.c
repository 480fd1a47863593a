// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the list-query parser (kumod/query.c). The input is
 * split into lines; each line is parsed as a q filter and as each of the
 * limit/offset/sort/fields parameters, against a schema with string, int,
 * bool and enum fields. After every call the query must still hold what the
 * parser promises (limits, typed values, safe field names).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kumod/query.h"

static const char *const states[] = { "running", "stopped", NULL };

static const struct field fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ "description", FT_STRING, F_FILTER, 0, 1024, NULL, NULL, NULL },
	{ "vcpus", FT_INT, F_FILTER, 1, 256, NULL, NULL, NULL },
	{ "shared", FT_BOOL, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "notes", FT_STRING, 0, 0, 0, NULL, NULL, NULL },
	{ "password", FT_STRING, F_WRITEONLY, 0, 0, NULL, NULL, NULL },
	{ .name = NULL },
};
static const struct schema schema = { "Fuzz", fields };

static void check(const struct list_query *q)
{
	if (q->nfilters < 0 || q->nfilters > QUERY_MAX_FILTERS)
		__builtin_trap();
	for (int i = 0; i < q->nfilters; i++) {
		const struct filter *f = &q->filters[i];
		size_t n = strlen(f->field);

		if (n == 0 || n >= sizeof(f->field) ||
		    strspn(f->field, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
			__builtin_trap();
		if (f->nvalues < 1 || f->nvalues > QUERY_MAX_IN ||
		    (f->op != OP_IN && f->nvalues != 1))
			__builtin_trap();
		for (int j = 0; j < f->nvalues; j++) {
			if (!f->values[j] || strlen(f->values[j]) > 1024)
				__builtin_trap();
			if (f->vtype == FV_BOOL && f->ivalues[j] != 0 && f->ivalues[j] != 1)
				__builtin_trap();
		}
		if (f->op == OP_LIKE && f->vtype != FV_STRING)
			__builtin_trap();
	}
	if (q->limit < 1 || q->limit > QUERY_LIMIT_MAX || q->offset < 0 || q->offset > 1000000000)
		__builtin_trap();
	if (q->fields && strlen(q->fields) > 512)
		__builtin_trap();
	if (strnlen(q->sort, sizeof(q->sort)) >= sizeof(q->sort))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *line, *save = NULL;
	struct list_query q;
	struct kerr err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	list_query_init(&q);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int r = query_parse_filter(&q, &schema, line, &err);

		if (r != 0 && r != -EINVAL)
			__builtin_trap();
		if (r == -EINVAL && (strcmp(err.field, "q") != 0 || !err.message[0]))
			__builtin_trap();
		query_parse_params(&q, &schema, line, NULL, NULL, NULL, &err);
		query_parse_params(&q, &schema, NULL, line, NULL, NULL, &err);
		query_parse_params(&q, &schema, NULL, NULL, line, NULL, &err);
		query_parse_params(&q, &schema, NULL, NULL, NULL, line, &err);
		check(&q);
	}
	list_query_free(&q);
	free(buf);
	return 0;
}
