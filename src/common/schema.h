/* SPDX-License-Identifier: MIT */
/*
 * Body schemas: one table of field descriptors per request body (and per
 * resource, for filters and sort). From the same tables come request
 * validation, the filter/sort field checks and the OpenAPI schemas.
 *
 * Validation rules (all produce -EINVAL with the field named, except size):
 *   - the body must be a JSON object;
 *   - unknown fields are refused ("unknown field");
 *   - F_READONLY fields are refused in requests;
 *   - F_REQUIRED fields must be present (not when partial, i.e. PATCH);
 *   - types: FT_STRING (min..max length in bytes; max 0 means 255),
 *     FT_INT (min..max value, both 0 = any), FT_NUMBER, FT_BOOL,
 *     FT_UUID (a UUID string), FT_NAME (name_valid()), FT_TIME (RFC 3339),
 *     FT_STRING_ARRAY / FT_UUID_ARRAY (max = max items, 0 means 64; each
 *     string at most 4096 bytes), FT_OBJECT (sub schema, recursive),
 *     FT_OBJECT_ARRAY (array of sub schema objects, max items), FT_ANY
 *     (any JSON value, size bounded by the body limit);
 *   - enum_values: NULL-terminated list of allowed strings;
 *   - null is accepted only for fields with F_NULLABLE.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum field_type {
	FT_STRING,
	FT_NAME,
	FT_INT,
	FT_NUMBER,
	FT_BOOL,
	FT_UUID,
	FT_TIME,
	FT_STRING_ARRAY,
	FT_UUID_ARRAY,
	FT_OBJECT,
	FT_OBJECT_ARRAY,
	FT_ANY,
};

enum field_flags {
	F_REQUIRED = 1 << 0,
	F_READONLY = 1 << 1, /* output only: refused in request bodies */
	F_NULLABLE = 1 << 2,
	F_FILTER = 1 << 3,    /* usable in q= filters and sort= */
	F_WRITEONLY = 1 << 4, /* never in responses (passwords) */
};

struct schema;

struct field {
	const char *name;
	enum field_type type;
	unsigned flags;
	int64_t min, max;
	const char *const *enum_values; /* weak; NULL-terminated, or NULL */
	const struct schema *sub;       /* weak; for FT_OBJECT / FT_OBJECT_ARRAY */
	const char *desc;
};

struct schema {
	const char *name;           /* OpenAPI component name, e.g. "VmCreate" */
	const struct field *fields; /* terminated by an entry with name == NULL */
};

/* Validates body against s. partial: PATCH semantics (nothing required). */
int schema_validate(const struct schema *s, const json_t *body, bool partial, struct kerr *err);
const struct field *schema_field(const struct schema *s, const char *name);
/* The OpenAPI 3 schema object for s (new reference). */
json_t *schema_openapi(const struct schema *s, bool for_response);
