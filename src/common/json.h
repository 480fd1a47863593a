/* SPDX-License-Identifier: MIT */
/*
 * Small helpers on top of jansson. Getters never fail: they return the
 * default when the key is missing or of another type.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

const char *jstr(const json_t *o, const char *key); /* NULL if absent */
int64_t jint(const json_t *o, const char *key, int64_t def);
double jnum(const json_t *o, const char *key, double def);
bool jbool(const json_t *o, const char *key, bool def);

/* Setters that take ownership of nothing; strings are copied. NULL sets null. */
void jset_str(json_t *o, const char *key, const char *val);
void jset_int(json_t *o, const char *key, int64_t val);
void jset_bool(json_t *o, const char *key, bool val);

/* Compact serialization, malloc'd (free()). Never NULL for a valid value. */
char *jdump(const json_t *v);
/* Parses at most len bytes; NULL on error with a message in err (may be NULL). */
json_t *jparse(const char *data, size_t len, char *err, size_t errlen);
/* New object holding only the listed comma-separated fields of o ("id,name"). */
json_t *jproject(const json_t *o, const char *fields);

/* A JSON string of len bytes that may not be valid UTF-8 (console output):
 * every invalid sequence becomes U+FFFD. Never NULL. */
json_t *json_string_utf8_lossy(const char *s, size_t len);
