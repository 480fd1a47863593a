// SPDX-License-Identifier: MIT
/*
 * kumo's table output: cell text for JSON values, column paths
 * ("used.vm_count", "nics[].ip"), aligned tables with a "N of TOTAL"
 * footer, key/value listings of one resource, and API error lines. Every
 * string that came from the server is cleaned of control characters before
 * it reaches the terminal. -o json bypasses all of this (raw bodies).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

#define MAX_COLUMNS 32

void cli_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls (U+0080..U+009F, e.g. CSI) */
			p[0] = '?';
			p[1] = '?';
			p++;
		}
	}
}

/* Characters (UTF-8 code points) in s. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Cuts s in place to at most max characters, ending in "..." when cut. */
static void text_cut(char *s, size_t max)
{
	size_t chars = 0, keep = max > 3 ? max - 3 : 0;
	char *p;

	if (text_width(s) <= max)
		return;
	for (p = s; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80) {
			if (chars == keep)
				break;
			chars++;
		}
	}
	strcpy(p, "...");
}

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

char *cli_value_text(const json_t *v)
{
	char *s;

	if (!v || json_is_null(v))
		return xstrdup("-");
	switch (json_typeof(v)) {
	case JSON_STRING:
		s = xstrdup(json_string_value(v));
		break;
	case JSON_INTEGER:
		s = xasprintf("%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		s = xasprintf("%g", json_real_value(v));
		break;
	case JSON_TRUE:
		s = xstrdup("true");
		break;
	case JSON_FALSE:
		s = xstrdup("false");
		break;
	case JSON_ARRAY: {
		struct buf b;
		size_t i;
		json_t *item;
		bool scalars = true;

		if (json_array_size(v) == 0)
			return xstrdup("-");
		json_array_foreach(v, i, item) scalars = scalars && is_scalar(item);
		if (!scalars) {
			s = jdump(v);
			break;
		}
		buf_init(&b, CLI_VALUE_MAX);
		json_array_foreach(v, i, item)
		{
			char *t = cli_value_text(item);

			if (i)
				buf_puts(&b, ",");
			buf_puts(&b, t);
			free(t);
		}
		s = buf_steal(&b);
		if (!s)
			s = xstrdup("");
		break;
	}
	default:
		s = jdump(v);
		break;
	}
	cli_sanitize(s);
	return s;
}

json_t *cli_value_at(const json_t *o, const char *path)
{
	const char *dot = strchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : strlen(path);
	const char *rest = dot ? dot + 1 : "";
	char key[128];
	bool each = false;
	json_t *v, *out, *item;
	size_t i;

	if (!json_is_object(o) || n == 0 || n >= sizeof(key))
		return NULL;
	memcpy(key, path, n);
	key[n] = '\0';
	if (n > 2 && strcmp(key + n - 2, "[]") == 0) {
		key[n - 2] = '\0';
		each = true;
	}
	v = json_object_get(o, key);
	if (!v)
		return NULL;
	if (!each)
		return *rest ? cli_value_at(v, rest) : json_incref(v);
	if (!json_is_array(v))
		return NULL;
	out = json_array();
	json_array_foreach(v, i, item)
	{
		json_t *r = *rest ? cli_value_at(item, rest) : json_incref(item);

		if (json_is_array(r))
			json_array_extend(out, r);
		else if (r && !json_is_null(r))
			json_array_append(out, r);
		json_decref(r);
	}
	return out;
}

struct column {
	char label[192];
	char path[192];
	size_t width;
};

/* "LABEL:path" or "path" (label: the path upper-cased). */
static int parse_columns(const char *spec, struct column *cols, int max)
{
	int n = 0;
	const char *p = spec;

	while (p && *p && n < max) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[192];
		char *colon;
		struct column *c = &cols[n];

		if (len > 0 && len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			colon = strchr(item, ':');
			if (colon) {
				*colon = '\0';
				snprintf(c->label, sizeof(c->label), "%s", item);
				snprintf(c->path, sizeof(c->path), "%s", colon + 1);
			} else {
				snprintf(c->path, sizeof(c->path), "%s", item);
				snprintf(c->label, sizeof(c->label), "%s", item);
				for (char *l = c->label; *l; l++)
					if (*l >= 'a' && *l <= 'z')
						*l = (char)(*l - 'a' + 'A');
			}
			cli_sanitize(c->label);
			c->width = text_width(c->label);
			n++;
		}
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

static void print_padded(FILE *out, const char *s, size_t width, bool last)
{
	fputs(s, out);
	if (last)
		return;
	for (size_t w = text_width(s); w < width + 2; w++)
		fputc(' ', out);
}

void cli_print_table(FILE *out, const json_t *items, const char *columns, long long total)
{
	struct column cols[MAX_COLUMNS];
	size_t rows = json_array_size(items);
	int ncols = parse_columns(columns, cols, MAX_COLUMNS);
	char **cells;

	if (ncols == 0)
		return;
	cells = xcalloc(rows * (size_t)ncols + 1, sizeof(char *));
	for (size_t r = 0; r < rows; r++) {
		const json_t *row = json_array_get(items, r);

		for (int c = 0; c < ncols; c++) {
			json_t *v = cli_value_at(row, cols[c].path);
			char *t = cli_value_text(v);
			size_t w;

			json_decref(v);
			text_cut(t, CLI_CELL_MAX);
			w = text_width(t);
			if (w > cols[c].width)
				cols[c].width = w;
			cells[r * (size_t)ncols + (size_t)c] = t;
		}
	}
	for (int c = 0; c < ncols; c++)
		print_padded(out, cols[c].label, cols[c].width, c == ncols - 1);
	fputc('\n', out);
	for (size_t r = 0; r < rows; r++) {
		for (int c = 0; c < ncols; c++)
			print_padded(out, cells[r * (size_t)ncols + (size_t)c], cols[c].width,
			             c == ncols - 1);
		fputc('\n', out);
	}
	if (total > (long long)rows)
		fprintf(out, "%zu of %lld\n", rows, total);
	for (size_t i = 0; i < rows * (size_t)ncols; i++)
		free(cells[i]);
	free(cells);
}

void cli_print_object(FILE *out, const json_t *obj)
{
	const char *key;
	json_t *v;
	size_t width = 0;

	json_object_foreach((json_t *)obj, key, v) if (text_width(key) > width) width =
	    text_width(key);
	json_object_foreach((json_t *)obj, key, v)
	{
		char *k = xstrdup(key), *t = cli_value_text(v);

		cli_sanitize(k);
		print_padded(out, k, width, false);
		fputs(t, out);
		fputc('\n', out);
		free(k);
		free(t);
	}
}

void cli_format_error(const struct http_result *res, char *out, size_t outlen)
{
	const json_t *e = json_object_get(res->json, "error");
	const char *code = jstr(e, "code"), *msg = jstr(e, "message"), *field = jstr(e, "field");

	if (code || msg) {
		if (!str_empty(field))
			snprintf(out, outlen, "%s: %s (field %s)", code ? code : "Error",
			         msg ? msg : "", field);
		else
			snprintf(out, outlen, "%s: %s", code ? code : "Error", msg ? msg : "");
	} else {
		char first[160] = "";

		if (res->body) {
			snprintf(first, sizeof(first), "%.*s", (int)strcspn(res->body, "\r\n"),
			         res->body);
		}
		snprintf(out, outlen, "HTTP %ld%s%s", res->status, *first ? ": " : "", first);
	}
	cli_sanitize(out);
}

void cli_print_raw(FILE *out, const char *body, size_t len)
{
	if (!body || len == 0)
		return;
	fwrite(body, 1, len, out);
	if (body[len - 1] != '\n')
		fputc('\n', out);
}
