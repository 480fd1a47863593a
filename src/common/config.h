/* SPDX-License-Identifier: MIT */
/*
 * INI configuration files (libinih). A config is a flat list of
 * "section.key" = value pairs; readers ask for typed values with defaults.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct config;

/* Loads path; 0, -ENOENT, or -EINVAL (with the line number logged). */
int config_load(const char *path, struct config **ret);
struct config *config_new(void);
struct config *config_free(struct config *c);
/* Sets or replaces section.key (used for command-line overrides). */
void config_set(struct config *c, const char *section, const char *key, const char *val);
const char *config_str(const struct config *c, const char *section, const char *key,
                       const char *def);
int64_t config_int(const struct config *c, const char *section, const char *key, int64_t def);
double config_double(const struct config *c, const char *section, const char *key, double def);
bool config_bool(const struct config *c, const char *section, const char *key, bool def);
/* Calls fn once for every section, in the order the sections first
 * appear; stops at and returns the first nonzero value fn returns. */
int config_each_section(const struct config *c, int (*fn)(void *cls, const char *section),
                        void *cls);
/* Calls fn for every key of section (in file order), the same way. */
int config_each_key(const struct config *c, const char *section,
                    int (*fn)(void *cls, const char *key, const char *value), void *cls);
