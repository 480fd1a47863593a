// SPDX-License-Identifier: MIT
/*
 * INI configuration on libinih: the file becomes a flat list of
 * section.key = value pairs; later sets replace earlier ones, so the
 * command line can override the file.
 */
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

struct config_entry {
	char *section, *key, *value;
};

struct config {
	struct config_entry *entries;
	size_t n, cap;
};

struct config *config_new(void)
{
	return xcalloc(1, sizeof(struct config));
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].section);
		free(c->entries[i].key);
		free(c->entries[i].value);
	}
	free(c->entries);
	free(c);
	return NULL;
}

static struct config_entry *config_find(const struct config *c, const char *section,
                                        const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].section, section) == 0 &&
		    strcmp(c->entries[i].key, key) == 0)
			return &c->entries[i];
	return NULL;
}

void config_set(struct config *c, const char *section, const char *key, const char *val)
{
	struct config_entry *e = config_find(c, section, key);

	if (e) {
		free(e->value);
		e->value = xstrdup(val);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->entries = xrealloc(c->entries, c->cap * sizeof(*c->entries));
	}
	c->entries[c->n].section = xstrdup(section);
	c->entries[c->n].key = xstrdup(key);
	c->entries[c->n].value = xstrdup(val);
	c->n++;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	config_set(user, section, name, value);
	return 1;
}

int config_load(const char *path, struct config **ret)
{
	struct config *c = config_new();
	int r = ini_parse(path, config_handler, c);

	if (r == -1) {
		config_free(c);
		return -ENOENT;
	}
	if (r != 0) {
		log_debug("%s: parse error at line %d", path, r);
		config_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

const char *config_str(const struct config *c, const char *section, const char *key,
                       const char *def)
{
	struct config_entry *e = c ? config_find(c, section, key) : NULL;

	return e ? e->value : def;
}

int64_t config_int(const struct config *c, const char *section, const char *key, int64_t def)
{
	const char *s = config_str(c, section, key, NULL);
	char *end;
	long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return def;
	return v;
}

double config_double(const struct config *c, const char *section, const char *key, double def)
{
	const char *s = config_str(c, section, key, NULL);
	char *end;
	double v;

	if (!s || !*s)
		return def;
	v = strtod(s, &end);
	return *end ? def : v;
}

bool config_bool(const struct config *c, const char *section, const char *key, bool def)
{
	const char *s = config_str(c, section, key, NULL);

	if (!s)
		return def;
	if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		return true;
	if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "off"))
		return false;
	return def;
}

int config_each_section(const struct config *c, int (*fn)(void *cls, const char *section),
                        void *cls)
{
	for (size_t i = 0; c && i < c->n; i++) {
		bool seen = false;
		int r;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(c->entries[j].section, c->entries[i].section) == 0;
		if (seen)
			continue;
		r = fn(cls, c->entries[i].section);
		if (r)
			return r;
	}
	return 0;
}

int config_each_key(const struct config *c, const char *section,
                    int (*fn)(void *cls, const char *key, const char *value), void *cls)
{
	for (size_t i = 0; c && i < c->n; i++) {
		int r;

		if (strcmp(c->entries[i].section, section) != 0)
			continue;
		r = fn(cls, c->entries[i].key, c->entries[i].value);
		if (r)
			return r;
	}
	return 0;
}
