// SPDX-License-Identifier: MIT
/*
 * Command-line parsing for kumo: global options, a verb's fixed options,
 * and field flags turned into a typed JSON body (--memory-mb 512 ->
 * "memory_mb":512, --l3 a --l3 b,c -> "l3_network_ids":["a","b","c"],
 * --ip-range 10.0.0.10-10.0.0.99 -> "ip_ranges":[{"start":..,"end":..}]).
 * Also the list query string and the walk that swaps names for ids in
 * reference fields. Nothing here talks to the network: name lookups are
 * done through a callback.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

enum opt_id {
	O_URL,
	O_OUTPUT,
	O_TOKEN,
	O_HELP,
	O_WAIT,
	O_TIMEOUT,
	O_DATA,
	O_Q,
	O_SORT,
	O_FIELDS,
	O_LIMIT,
	O_OFFSET,
	O_ALL,
	O_PASSWORD_FILE,
	O_PRINT_TOKEN,
};

/* Fixed options win over field flags of the same name (there are none). */
const struct cli_opt cli_opts[] = {
	{ "--url", CO_GLOBAL, "URL",
	  "the API (else $KUMO_URL, the saved login's, " CLI_DEFAULT_URL ")", O_URL },
	{ "-o", CO_GLOBAL, "table|json", "output: a table, or the raw JSON answer", O_OUTPUT },
	{ "--output", CO_GLOBAL, "table|json", NULL, O_OUTPUT },
	{ "--token", CO_GLOBAL, "TOKEN", "bearer token (else $KUMO_TOKEN, else the saved login's)",
	  O_TOKEN },
	{ "-h", CO_GLOBAL, NULL, NULL, O_HELP },
	{ "--help", CO_GLOBAL, NULL, "this help", O_HELP },
	{ "--wait", CO_WAIT, NULL, "wait until the job is finished", O_WAIT },
	{ "--timeout", CO_WAIT | CO_TIMEOUT, "S", "give up waiting after S seconds (default 600)",
	  O_TIMEOUT },
	{ "--data", CO_DATA, "JSON|@FILE", "the request body (@- reads stdin); flags go on top",
	  O_DATA },
	{ "--q", CO_LIST, "FIELD<op>VALUE", "filter, repeatable; ops = != > < >= <= ~= ?=", O_Q },
	{ "--sort", CO_LIST, "[-]FIELD", "sort order (- for descending)", O_SORT },
	{ "--fields", CO_LIST, "A,B", "only these fields (they become the columns)", O_FIELDS },
	{ "--limit", CO_LIST, "N", "at most N items (1-1000, default 100)", O_LIMIT },
	{ "--offset", CO_LIST, "N", "skip N items", O_OFFSET },
	{ "--all", CO_LIST, NULL, "every item, page by page", O_ALL },
	{ "--password-file", CO_LOGIN, "FILE",
	  "read the password from FILE (else $KUMO_PASSWORD, else a prompt)", O_PASSWORD_FILE },
	{ "--print-token", CO_LOGIN, NULL, "print the session token on stdout (for scripts)",
	  O_PRINT_TOKEN },
	{ NULL, 0, NULL, NULL, 0 },
};

static int usage(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

void cli_args_init(struct cli_args *a)
{
	memset(a, 0, sizeof(*a));
	a->limit = -1;
	a->offset = -1;
}

void cli_args_clear(struct cli_args *a)
{
	json_decref(a->body);
	cli_args_init(a);
}

/* "--name" matches "--name" (value in the next word) and "--name=v". */
static bool opt_match(const char *arg, const char *name, const char **ret_inline)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return false;
	if (arg[n] == '\0') {
		*ret_inline = NULL;
		return true;
	}
	if (arg[n] == '=') {
		*ret_inline = arg + n + 1;
		return true;
	}
	return false;
}

static int parse_ll(const char *s, long long *ret)
{
	char *end;
	long long v;

	if (str_empty(s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Handles one fixed option with its value. */
static int apply_fixed(const struct cli_opt *o, const char *val, struct cli_global *g,
                       struct cli_args *a, char *err, size_t errlen)
{
	long long n;

	switch ((enum opt_id)o->id) {
	case O_URL:
		if (str_empty(val))
			return usage(err, errlen, "--url needs a URL");
		g->url = val;
		break;
	case O_OUTPUT:
		if (strcmp(val, "table") == 0)
			g->output = CLI_OUT_TABLE;
		else if (strcmp(val, "json") == 0)
			g->output = CLI_OUT_JSON;
		else
			return usage(err, errlen, "-o takes table or json, not '%s'", val);
		break;
	case O_TOKEN:
		if (str_empty(val))
			return usage(err, errlen, "--token needs a value");
		g->token = val;
		break;
	case O_HELP:
		g->help = true;
		break;
	case O_WAIT:
		a->wait = true;
		break;
	case O_TIMEOUT:
		if (parse_ll(val, &n) < 0 || n < 1 || n > 7 * 24 * 3600)
			return usage(err, errlen, "--timeout takes seconds (1-604800), not '%s'",
			             val);
		a->timeout = (long)n;
		break;
	case O_DATA:
		a->data = val;
		break;
	case O_Q:
		if (a->nq >= CLI_MAX_Q)
			return usage(err, errlen, "at most %d --q filters", CLI_MAX_Q);
		if (str_empty(val))
			return usage(err, errlen, "--q takes FIELD<op>VALUE, e.g. state=running");
		a->q[a->nq++] = val;
		break;
	case O_SORT:
		a->sort = val;
		break;
	case O_FIELDS:
		a->fields = val;
		break;
	case O_LIMIT:
		if (parse_ll(val, &n) < 0 || n < 1 || n > CLI_PAGE_MAX)
			return usage(err, errlen, "--limit takes 1-%d, not '%s'", CLI_PAGE_MAX,
			             val);
		a->limit = n;
		break;
	case O_OFFSET:
		if (parse_ll(val, &n) < 0 || n < 0)
			return usage(err, errlen, "--offset takes a number >= 0, not '%s'", val);
		a->offset = n;
		break;
	case O_ALL:
		a->all = true;
		break;
	case O_PASSWORD_FILE:
		a->password_file = val;
		break;
	case O_PRINT_TOKEN:
		a->print_token = true;
		break;
	}
	return 0;
}

/* Tries argv[*i] as a fixed option allowed by mask. 1 when consumed, 0 when
 * it is not one, or CLI_EXIT_USAGE. */
static int try_fixed(unsigned mask, int argc, char **argv, int *i, struct cli_global *g,
                     struct cli_args *a, char *err, size_t errlen)
{
	const char *arg = argv[*i], *val = NULL;

	for (const struct cli_opt *o = cli_opts; o->name; o++) {
		int r;

		if (!(o->mask & mask) || !opt_match(arg, o->name, &val))
			continue;
		if (!o->metavar && val)
			return usage(err, errlen, "%s takes no value", o->name);
		if (o->metavar && !val) {
			if (*i + 1 >= argc)
				return usage(err, errlen, "%s needs a value", o->name);
			val = argv[++*i];
		}
		r = apply_fixed(o, val, g, a, err, errlen);
		return r ? r : 1;
	}
	return 0;
}

int cli_parse_global(int argc, char **argv, int *i, struct cli_global *g, char *err, size_t errlen)
{
	struct cli_args dummy;

	cli_args_init(&dummy);
	for (; *i < argc; (*i)++) {
		const char *arg = argv[*i];
		int r;

		if (arg[0] != '-' || strcmp(arg, "-") == 0)
			break;
		r = try_fixed(CO_GLOBAL, argc, argv, i, g, &dummy, err, errlen);
		if (r == 0)
			return usage(err, errlen, "unknown option %s (before the command)", arg);
		if (r != 1)
			return r;
	}
	return 0;
}

static int read_value_file(const char *path, char **ret_data, char *err, size_t errlen)
{
	size_t len = 0;
	int r;

	if (strcmp(path, "-") == 0)
		r = file_read("/dev/stdin", CLI_VALUE_MAX, ret_data, &len);
	else
		r = file_read(path, CLI_VALUE_MAX, ret_data, &len);
	if (r < 0)
		return usage(err, errlen, "cannot read %s: %s", path,
		             r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
	if (strlen(*ret_data) != len) {
		free(*ret_data);
		*ret_data = NULL;
		return usage(err, errlen, "%s holds a NUL byte", path);
	}
	return 0;
}

/* A JSON string, or a usage error when s is not UTF-8. */
static int new_string(const char *s, const char *flag, json_t **ret_value, char *err, size_t errlen)
{
	json_t *v = json_string(s);

	if (!v)
		return usage(err, errlen, "--%s: the value is not valid UTF-8", flag);
	*ret_value = v;
	return 0;
}

static json_t *list_of(json_t *body, const char *key)
{
	json_t *arr = json_object_get(body, key);

	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(body, key, arr);
	}
	return arr;
}

static int parse_range(const char *item, const char *flag, json_t **ret_value, char *err,
                       size_t errlen)
{
	char start[64], end[64];
	const char *dash = strchr(item, '-');
	struct in_addr tmp;
	json_t *o;

	if (dash) {
		size_t n = (size_t)(dash - item);

		if (n >= sizeof(start) || strlen(dash + 1) >= sizeof(end))
			goto bad;
		memcpy(start, item, n);
		start[n] = '\0';
		strcpy(end, dash + 1);
	} else {
		if (strlen(item) >= sizeof(start))
			goto bad;
		strcpy(start, item);
		strcpy(end, item);
	}
	if (inet_pton(AF_INET, start, &tmp) != 1 || inet_pton(AF_INET, end, &tmp) != 1)
		goto bad;
	o = json_object();
	jset_str(o, "start", start);
	jset_str(o, "end", end);
	*ret_value = o;
	return 0;
bad:
	return usage(err, errlen, "--%s takes START-END IPv4 addresses, not '%s'", flag, item);
}

/* One list element (already split) converted by type and appended. */
static int append_item(json_t *arr, const struct cli_field *f, const char *flag, const char *item,
                       char *err, size_t errlen)
{
	json_t *v = NULL;
	int r;

	if (f->type == CF_RANGE_LIST)
		r = parse_range(item, flag, &v, err, errlen);
	else if (*item == '\0')
		return usage(err, errlen, "--%s: empty item in the list", flag);
	else
		r = new_string(item, flag, &v, err, errlen);
	if (r)
		return r;
	json_array_append_new(arr, v);
	return 0;
}

/* Appends the items of value: one per line of an @file, else the comma list
 * (or the whole value with CFF_NOSPLIT). An empty value makes the list
 * empty (to clear it in an update). */
static int set_list(json_t *body, const struct cli_field *f, const char *flag, const char *value,
                    char *err, size_t errlen)
{
	json_t *arr = list_of(body, f->key);
	char *copy = NULL, *file = NULL, *save = NULL, *tok;
	const char *sep = ",";
	int r = 0;

	if (*value == '\0')
		return 0;
	if ((f->flags & CFF_FILE) && value[0] == '@') {
		r = read_value_file(value + 1, &file, err, errlen);
		if (r)
			return r;
		copy = file;
		sep = "\n";
	} else if (f->flags & CFF_NOSPLIT) {
		return append_item(arr, f, flag, value, err, errlen);
	} else {
		copy = xstrdup(value);
	}
	for (tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
		if (sep[0] == '\n') {
			str_rstrip(tok);
			if (*tok == '\0' || *tok == '#')
				continue;
		}
		r = append_item(arr, f, flag, tok, err, errlen);
		if (r)
			break;
	}
	free(copy);
	return r;
}

static int read_secret_file(const char *path, const char *flag, char **ret_secret, char *err,
                            size_t errlen)
{
	char *data = NULL;
	int r;

	r = read_value_file(path, &data, err, errlen);
	if (r)
		return r;
	data[strcspn(data, "\r\n")] = '\0';
	if (*data == '\0') {
		free(data);
		return usage(err, errlen, "--%s: %s is empty", flag, path);
	}
	*ret_secret = data;
	return 0;
}

int cli_set_field(json_t *body, const struct cli_field *f, const char *value, char *err,
                  size_t errlen)
{
	char flag[128];
	json_t *v = NULL;
	char *text = NULL;
	long long n;
	bool b;
	int r = 0;

	cli_flag_name(f->key, flag, sizeof(flag));
	switch (f->type) {
	case CF_STRING:
	case CF_REF:
		if ((f->flags & CFF_FILE) && value[0] == '@') {
			r = read_value_file(value + 1, &text, err, errlen);
			if (r)
				return r;
			value = text;
		} else if (f->type == CF_REF && *value == '\0') {
			return usage(err, errlen, "--%s needs a name or id",
			             f->alias ? f->alias : flag);
		}
		r = new_string(value, flag, &v, err, errlen);
		break;
	case CF_INT:
		if (parse_ll(value, &n) < 0)
			return usage(err, errlen, "--%s takes an integer, not '%s'", flag, value);
		v = json_integer((json_int_t)n);
		break;
	case CF_BOOL:
		if (parse_bool(value, &b) < 0)
			return usage(err, errlen, "--%s takes true or false, not '%s'", flag,
			             value);
		v = json_boolean(b);
		break;
	case CF_JSON:
		if ((f->flags & CFF_FILE) && value[0] == '@') {
			r = read_value_file(value + 1, &text, err, errlen);
			if (r)
				return r;
			value = text;
		}
		v = jparse(value, strlen(value), NULL, 0);
		if (!v)
			r = usage(err, errlen, "--%s takes JSON, not '%s'", flag, value);
		break;
	case CF_STRING_LIST:
	case CF_REF_LIST:
	case CF_RANGE_LIST:
		return set_list(body, f, f->alias ? f->alias : flag, value, err, errlen);
	case CF_SECRET:
		r = read_secret_file(value, flag, &text, err, errlen);
		if (r)
			return r;
		r = new_string(text, flag, &v, err, errlen);
		explicit_bzero(text, strlen(text));
		break;
	}
	free(text);
	if (r)
		return r;
	json_object_set_new(body, f->key, v);
	return 0;
}

/* "--no-shared" for a bool field "shared". */
static const struct cli_field *find_negated(const struct cli_field *fields, const char *flag)
{
	const struct cli_field *f;

	if (!str_startswith(flag, "no-"))
		return NULL;
	f = cli_field_find(fields, flag + 3);
	return f && f->type == CF_BOOL ? f : NULL;
}

/* A clear message for "--password VALUE": secrets never come from argv. */
static const struct cli_field *find_secret(const struct cli_field *fields, const char *flag)
{
	char name[128];

	for (const struct cli_field *f = fields; f && f->key; f++) {
		cli_flag_name(f->key, name, sizeof(name));
		if (f->type == CF_SECRET && strcmp(name, flag) == 0)
			return f;
	}
	return NULL;
}

static int parse_field_flag(const struct cli_field *fields, int argc, char **argv, int *i,
                            struct cli_args *a, char *err, size_t errlen)
{
	const char *arg = argv[*i] + 2, *val = NULL, *eq = strchr(arg, '=');
	char flag[128];
	const struct cli_field *f;
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

	if (n == 0 || n >= sizeof(flag))
		return usage(err, errlen, "unknown option %s", argv[*i]);
	memcpy(flag, arg, n);
	flag[n] = '\0';
	if (eq)
		val = eq + 1;
	if (!a->body)
		a->body = json_object();

	f = cli_field_find(fields, flag);
	if (!f) {
		f = find_negated(fields, flag);
		if (f) {
			if (val)
				return usage(err, errlen, "--%s takes no value", flag);
			jset_bool(a->body, f->key, false);
			return 0;
		}
		if (find_secret(fields, flag))
			return usage(err, errlen,
			             "--%s is not taken on the command line (it would show in ps): "
			             "use --%s-file FILE or the prompt",
			             flag, flag);
		return usage(err, errlen, "unknown option --%s", flag);
	}
	if (f->type == CF_BOOL && !val) {
		jset_bool(a->body, f->key, true);
		return 0;
	}
	if (!val) {
		if (*i + 1 >= argc)
			return usage(err, errlen, "--%s needs a value", flag);
		val = argv[++*i];
	}
	return cli_set_field(a->body, f, val, err, errlen);
}

int cli_parse_args(const struct cli_field *fields, unsigned opts, int argc, char **argv,
                   struct cli_global *g, struct cli_args *a, char *err, size_t errlen)
{
	bool only_pos = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		int r;

		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->npos >= CLI_MAX_POS)
				return usage(err, errlen, "too many arguments at '%s'", arg);
			a->pos[a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		r = try_fixed(opts | CO_GLOBAL, argc, argv, &i, g, a, err, errlen);
		if (r == 1)
			continue;
		if (r)
			return r;
		if (arg[1] != '-')
			return usage(err, errlen, "unknown option %s", arg);
		r = parse_field_flag(fields, argc, argv, &i, a, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

int cli_build_body(const struct cli_args *a, json_t **ret_body, char *err, size_t errlen)
{
	json_t *body = NULL;
	char *file = NULL;
	const char *text = a->data;
	char perr[160];

	if (!a->data) {
		*ret_body = a->body ? json_incref(a->body) : NULL;
		return 0;
	}
	if (text[0] == '@') {
		int r = read_value_file(text + 1, &file, err, errlen);

		if (r)
			return r;
		text = file;
	}
	body = jparse(text, strlen(text), perr, sizeof(perr));
	free(file);
	if (!body)
		return usage(err, errlen, "--data: not JSON: %s", perr);
	if (!json_is_object(body)) {
		json_decref(body);
		return usage(err, errlen, "--data must be a JSON object");
	}
	if (a->body)
		json_object_update(body, a->body);
	*ret_body = body;
	return 0;
}

bool cli_ref_is_id(const struct cli_group *g, const char *arg)
{
	return uuid_valid(arg) || !g->named;
}

static int resolve_one(json_t *holder, size_t index, const char *key, const struct cli_group *g,
                       json_t *v, cli_resolve_fn resolve, void *cls)
{
	char *id = NULL;
	int r;

	if (!json_is_string(v) || cli_ref_is_id(g, json_string_value(v)))
		return 0;
	r = resolve(cls, g, json_string_value(v), &id);
	if (r)
		return r;
	if (key)
		jset_str(holder, key, id);
	else
		json_array_set_new(holder, index, json_string(id));
	free(id);
	return 0;
}

int cli_resolve_refs(const struct cli_field *fields, json_t *body, cli_resolve_fn resolve,
                     void *cls)
{
	for (const struct cli_field *f = fields; body && f && f->key; f++) {
		const struct cli_group *g;
		json_t *v = json_object_get(body, f->key), *item;
		size_t i;
		int r = 0;

		if (!v || (f->type != CF_REF && f->type != CF_REF_LIST))
			continue;
		g = cli_group_find(f->ref);
		assert(g);
		if (f->type == CF_REF) {
			r = resolve_one(body, 0, f->key, g, v, resolve, cls);
		} else {
			json_array_foreach(v, i, item)
			{
				r = resolve_one(v, i, NULL, g, item, resolve, cls);
				if (r)
					break;
			}
		}
		if (r)
			return r;
	}
	return 0;
}

static void query_add(struct buf *b, const char *key, const char *value)
{
	char *e = http_escape(value);

	buf_printf(b, "%c%s=%s", b->len ? '&' : '?', key, e ? e : "");
	free(e);
}

char *cli_list_query(const struct cli_args *a, long long limit, long long offset)
{
	struct buf b;
	const char *key;
	json_t *v;
	char num[32];

	buf_init(&b, 64 * 1024);
	if (limit < 0)
		limit = a->limit;
	if (offset < 0)
		offset = a->offset;
	if (limit >= 0) {
		snprintf(num, sizeof(num), "%lld", limit);
		query_add(&b, "limit", num);
	}
	if (offset >= 0) {
		snprintf(num, sizeof(num), "%lld", offset);
		query_add(&b, "offset", num);
	}
	if (a->sort)
		query_add(&b, "sort", a->sort);
	if (a->fields)
		query_add(&b, "fields", a->fields);
	for (int i = 0; i < a->nq; i++)
		query_add(&b, "q", a->q[i]);
	json_object_foreach((json_t *)a->body, key, v)
	{
		char *text = cli_value_text(v);

		query_add(&b, key, text);
		free(text);
	}
	return buf_steal(&b);
}
