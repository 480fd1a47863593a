/* SPDX-License-Identifier: MIT */
/*
 * List queries: parses the list parameters of DESIGN.md section 4
 * (limit, offset, sort, fields, repeated q filters) into a struct list_query,
 * checking every field name against the resource's schema (fields with
 * F_FILTER; "id", "name", "account_id", "created_at", "updated_at" always
 * count as filterable when the schema has them).
 *
 * Filter syntax: q=<field><op><value>, ops = != > < >= <= ~= ?=.
 * The longest operator wins ("a>=1" is >= "1"); the field is the text
 * before the first operator character. ?= takes a comma list (max 64
 * items). ~= is SQL LIKE (% and _ wildcards). Values are typed by the
 * field: FT_INT fields need an integer, FT_BOOL "true"/"false".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/schema.h"

#define QUERY_MAX_FILTERS 16
#define QUERY_MAX_IN 64
#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX 1000

enum filter_op { OP_EQ, OP_NE, OP_GT, OP_LT, OP_GE, OP_LE, OP_LIKE, OP_IN };

enum filter_vtype { FV_STRING, FV_INT, FV_BOOL };

struct filter {
	char field[64];
	enum filter_op op;
	enum filter_vtype vtype;
	int nvalues;                   /* 1, or up to QUERY_MAX_IN for OP_IN */
	char *values[QUERY_MAX_IN];    /* owned */
	int64_t ivalues[QUERY_MAX_IN]; /* for FV_INT and FV_BOOL (0/1) */
};

struct list_query {
	int nfilters;
	struct filter *filters; /* owned; QUERY_MAX_FILTERS slots, made at the first filter
				 * (a list_query lives on thread stacks: keep it small) */
	char sort[64];          /* field, "" = created_at */
	bool sort_desc;
	int64_t limit, offset;
	char *fields; /* owned; comma list for projection, NULL = all */
	/* Scope, set by the API layer, not by the parser: */
	const char *account_id; /* weak; NULL = every account (admin) */
	bool include_public;    /* also rows with "visibility":"public" or "shared":true */
	/* Set by internal callers whose state/status filter picks out few rows
	 * (pending jobs): sort what the filter's index finds instead of
	 * scanning the kind in sort order. */
	bool selective;
};

void list_query_init(struct list_query *q);
void list_query_free(struct list_query *q);
/* Parses one q value ("state=running") and appends it. */
int query_parse_filter(struct list_query *q, const struct schema *s, const char *expr,
                       struct kerr *err);
/* Parses limit/offset/sort/fields values (NULL = absent). */
int query_parse_params(struct list_query *q, const struct schema *s, const char *limit,
                       const char *offset, const char *sort, const char *fields, struct kerr *err);
/* Adds a filter built by code (e.g. host_id=X), value a string. */
int query_add_eq(struct list_query *q, const char *field, const char *value);
/* Adds an integer equality filter built by code (e.g. vni=100). */
int query_add_int_eq(struct list_query *q, const char *field, int64_t value);
