// SPDX-License-Identifier: MIT
/*
 * The list-query parser: turns the untrusted list parameters of a request
 * (q filters, limit, offset, sort, fields) into a struct list_query, checking
 * every field name against the resource's schema and typing every value by
 * its field. It builds no SQL; the store turns a list_query into a statement.
 *
 * Every failure is -EINVAL with the kerr naming the parameter ("q", "limit",
 * "offset", "sort", "fields"). A failed call leaves the query as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "kumod/query.h"

#define QUERY_VALUE_MAX 1024
#define QUERY_FIELDS_MAX 512
#define QUERY_OFFSET_MAX 1000000000LL
#define QUERY_FIELD_LEN ((int)sizeof(((struct filter *)0)->field))

/* Fields every resource has, even when its schema does not list them. */
static const char *const always_fields[] = { "id", "created_at", "updated_at" };
/* Fields that are filterable without F_FILTER when the schema has them. */
static const char *const column_fields[] = { "id", "name", "account_id", "created_at",
	                                     "updated_at" };

struct op_def {
	const char *text;
	enum filter_op op;
};

/* Two-character operators first: the longest operator wins. */
static const struct op_def ops[] = {
	{ "!=", OP_NE }, { ">=", OP_GE }, { "<=", OP_LE }, { "~=", OP_LIKE },
	{ "?=", OP_IN }, { "=", OP_EQ },  { ">", OP_GT },  { "<", OP_LT },
};

static int fail(struct kerr *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct kerr *err, const char *param, const char *fmt, ...)
{
	char msg[KERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kerr_set(err, -EINVAL, param, "%s", msg);
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* The schema field for name if name may be filtered or sorted on; *ret_field
 * is NULL for the always-present fields a schema may omit. */
static bool filterable(const struct schema *s, const char *name, const struct field **ret_field)
{
	const struct field *f = s ? schema_field(s, name) : NULL;

	*ret_field = f;
	if (f && (f->flags & F_WRITEONLY))
		return false;
	if (f && (f->flags & F_FILTER))
		return true;
	if (f && in_list(name, column_fields, ARRAY_SIZE(column_fields)))
		return true;
	return in_list(name, always_fields, ARRAY_SIZE(always_fields));
}

/* The whole string as a base-10 int64 (no leading space, no trailing junk). */
static bool parse_int64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*ret = v;
	return true;
}

static const char *vtype_name(enum field_type t)
{
	return t == FT_INT ? "an integer" : t == FT_BOOL ? "true or false" : "a string";
}

/* Types one value (len bytes of v, not NUL-terminated) into slot i of f. */
static int filter_set_value(struct filter *f, int i, enum field_type type, const char *v,
                            size_t len, struct kerr *err)
{
	char *s = xmalloc(len + 1);

	memcpy(s, v, len);
	s[len] = '\0';
	if (type == FT_INT) {
		if (!parse_int64(s, &f->ivalues[i])) {
			free(s);
			return fail(err, "q", "filter value for \"%s\" must be an integer",
			            f->field);
		}
	} else if (type == FT_BOOL) {
		if (strcmp(s, "true") == 0) {
			f->ivalues[i] = 1;
		} else if (strcmp(s, "false") == 0) {
			f->ivalues[i] = 0;
		} else {
			free(s);
			return fail(err, "q", "filter value for \"%s\" must be true or false",
			            f->field);
		}
	}
	f->values[i] = s;
	f->nvalues = i + 1;
	return 0;
}

static void filter_clear(struct filter *f)
{
	for (int i = 0; i < f->nvalues; i++) {
		free(f->values[i]);
		f->values[i] = NULL;
	}
	f->nvalues = 0;
}

/* The next free filter slot; the array is made on first use. */
static struct filter *next_filter(struct list_query *q)
{
	if (!q->filters)
		q->filters = xcalloc(QUERY_MAX_FILTERS, sizeof(*q->filters));
	return &q->filters[q->nfilters++];
}

void list_query_init(struct list_query *q)
{
	memset(q, 0, sizeof(*q));
	q->limit = QUERY_LIMIT_DEFAULT;
	q->offset = 0;
}

void list_query_free(struct list_query *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->nfilters; i++)
		filter_clear(&q->filters[i]);
	free(q->filters);
	free(q->fields);
	list_query_init(q);
}

int query_parse_filter(struct list_query *q, const struct schema *s, const char *expr,
                       struct kerr *err)
{
	const struct op_def *op = NULL;
	const struct field *sf;
	enum field_type type;
	struct filter f;
	const char *value;
	size_t flen, vlen;
	int r;

	if (!expr)
		return fail(err, "q", "empty filter");
	if (q->nfilters >= QUERY_MAX_FILTERS)
		return fail(err, "q", "too many filters (at most %d)", QUERY_MAX_FILTERS);

	flen = strcspn(expr, "=!<>~?");
	if (expr[flen] == '\0')
		return fail(err, "q", "filter \"%.64s\" has no operator (= != > < >= <= ~= ?=)",
		            expr);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (strncmp(expr + flen, ops[i].text, strlen(ops[i].text)) == 0) {
			op = &ops[i];
			break;
		}
	}
	if (!op)
		return fail(err, "q", "filter \"%.64s\" has an unknown operator", expr);
	if (flen == 0)
		return fail(err, "q", "filter \"%.64s\" has no field name", expr);
	if (flen >= (size_t)QUERY_FIELD_LEN)
		return fail(err, "q", "unknown filter field \"%.*s\"", 63, expr);

	memset(&f, 0, sizeof(f));
	memcpy(f.field, expr, flen);
	f.field[flen] = '\0';
	if (!filterable(s, f.field, &sf))
		return fail(err, "q", "unknown filter field \"%s\"", f.field);
	f.op = op->op;
	type = sf ? sf->type : FT_STRING;
	f.vtype = type == FT_INT ? FV_INT : type == FT_BOOL ? FV_BOOL : FV_STRING;
	if (f.op == OP_LIKE && f.vtype != FV_STRING)
		return fail(err, "q", "~= needs a string field; \"%s\" is %s", f.field,
		            vtype_name(type));

	value = expr + flen + strlen(op->text);
	vlen = strlen(value);
	if (vlen > QUERY_VALUE_MAX)
		return fail(err, "q", "filter value for \"%s\" is longer than %d bytes", f.field,
		            QUERY_VALUE_MAX);

	if (f.op != OP_IN) {
		r = filter_set_value(&f, 0, type, value, vlen, err);
		if (r < 0)
			goto fail;
	} else {
		const char *p = value;

		for (;;) {
			size_t n = strcspn(p, ",");

			if (f.nvalues >= QUERY_MAX_IN) {
				r = fail(err, "q", "too many values for \"%s\" (at most %d)",
				         f.field, QUERY_MAX_IN);
				goto fail;
			}
			r = filter_set_value(&f, f.nvalues, type, p, n, err);
			if (r < 0)
				goto fail;
			if (p[n] == '\0')
				break;
			p += n + 1;
		}
	}
	*next_filter(q) = f;
	return 0;
fail:
	filter_clear(&f);
	return r;
}

static int parse_fields(const struct schema *s, const char *fields, struct kerr *err)
{
	const char *p = fields;

	if (strlen(fields) > QUERY_FIELDS_MAX)
		return fail(err, "fields", "fields is longer than %d bytes", QUERY_FIELDS_MAX);
	for (;;) {
		size_t n = strcspn(p, ",");
		char name[QUERY_FIELD_LEN];
		const struct field *f;

		if (n == 0)
			return fail(err, "fields", "empty field name in fields");
		if (n >= sizeof(name))
			return fail(err, "fields", "unknown field \"%.*s\"", 63, p);
		memcpy(name, p, n);
		name[n] = '\0';
		f = s ? schema_field(s, name) : NULL;
		if (f && (f->flags & F_WRITEONLY))
			f = NULL;
		if (!f && !in_list(name, always_fields, ARRAY_SIZE(always_fields)))
			return fail(err, "fields", "unknown field \"%s\"", name);
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

int query_parse_params(struct list_query *q, const struct schema *s, const char *limit,
                       const char *offset, const char *sort, const char *fields, struct kerr *err)
{
	int64_t lim = q->limit, off = q->offset;
	char sortf[sizeof(q->sort)];
	bool desc = q->sort_desc;
	char *fcopy = NULL;

	if (limit) {
		if (!parse_int64(limit, &lim) || lim < 1 || lim > QUERY_LIMIT_MAX)
			return fail(err, "limit", "limit must be an integer from 1 to %d",
			            QUERY_LIMIT_MAX);
	}
	if (offset) {
		if (!parse_int64(offset, &off) || off < 0 || off > QUERY_OFFSET_MAX)
			return fail(err, "offset", "offset must be an integer from 0 to %lld",
			            QUERY_OFFSET_MAX);
	}
	memcpy(sortf, q->sort, sizeof(sortf));
	if (sort) {
		const struct field *f;
		const char *name = sort;

		desc = false;
		if (*name == '-') {
			desc = true;
			name++;
		}
		if (*name == '\0')
			return fail(err, "sort",
			            "sort needs a field name (\"field\" or \"-field\")");
		if (strlen(name) >= sizeof(sortf) || !filterable(s, name, &f))
			return fail(err, "sort", "unknown sort field \"%.63s\"", name);
		snprintf(sortf, sizeof(sortf), "%s", name);
	}
	if (fields) {
		int r = parse_fields(s, fields, err);

		if (r < 0)
			return r;
		fcopy = xstrdup(fields);
	}

	q->limit = lim;
	q->offset = off;
	memcpy(q->sort, sortf, sizeof(q->sort));
	q->sort_desc = desc;
	if (fcopy) {
		free(q->fields);
		q->fields = fcopy;
	}
	return 0;
}

int query_add_eq(struct list_query *q, const char *field, const char *value)
{
	struct filter *f;
	char *v;

	if (!field || !value || strlen(field) >= (size_t)QUERY_FIELD_LEN || !*field)
		return -EINVAL;
	if (q->nfilters >= QUERY_MAX_FILTERS)
		return -EINVAL;
	v = xstrdup(value);
	f = next_filter(q);
	memset(f, 0, sizeof(*f));
	snprintf(f->field, sizeof(f->field), "%s", field);
	f->op = OP_EQ;
	f->vtype = FV_STRING;
	f->nvalues = 1;
	f->values[0] = v;
	return 0;
}

int query_add_int_eq(struct list_query *q, const char *field, int64_t value)
{
	struct filter *f;

	if (!field || !*field || strlen(field) >= (size_t)QUERY_FIELD_LEN)
		return -EINVAL;
	if (q->nfilters >= QUERY_MAX_FILTERS)
		return -EINVAL;
	f = next_filter(q);
	memset(f, 0, sizeof(*f));
	snprintf(f->field, sizeof(f->field), "%s", field);
	f->op = OP_EQ;
	f->vtype = FV_INT;
	f->nvalues = 1;
	f->values[0] = xasprintf("%lld", (long long)value);
	f->ivalues[0] = value;
	return 0;
}
