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
