// SPDX-License-Identifier: MIT
/*
 * The generic verbs of kumo: list, get, create, update, delete and actions,
 * carried out from the command table alone, plus what every command
 * shares: the effective URL and token, the HTTP client, one API call with
 * its error report, and NAME -> id lookups (GET /v1/<plural>?q=name=NAME).
 * Commands with their own logic live in cli_auth.c and cli_job.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

void cli_ctx_setup(struct cli_ctx *ctx)
{
	const char *url = ctx->g.url, *token = ctx->g.token;
	char *saved_url = NULL;
	int r;

	ctx->config_dir = cli_config_dir();
	r = cli_creds_load(ctx->config_dir, &ctx->creds);
	if (r < 0)
		fprintf(ctx->err, "warning: cannot read %s/credentials: %s\n", ctx->config_dir,
		        r == -EINVAL ? "not JSON" : strerror(-r));
	if (!url)
		url = getenv("KUMO_URL");
	if (str_empty(url))
		url = ctx->creds.url;
	if (str_empty(url))
		url = CLI_DEFAULT_URL;
	ctx->url = cli_url_normalize(url);

	if (!token)
		token = getenv("KUMO_TOKEN");
	if (str_empty(token) && ctx->creds.token && ctx->creds.url) {
		/* The saved token goes only to the server that issued it. */
		saved_url = cli_url_normalize(ctx->creds.url);
		if (strcmp(saved_url, ctx->url) == 0) {
			token = ctx->creds.token;
			ctx->token_saved = true;
		}
		free(saved_url);
	}
	ctx->token = str_empty(token) ? NULL : xstrdup(token);
}

void cli_ctx_free(struct cli_ctx *ctx)
{
	http_client_free(ctx->http);
	ctx->http = NULL;
	if (ctx->token) {
		explicit_bzero(ctx->token, strlen(ctx->token));
		free(ctx->token);
		ctx->token = NULL;
	}
	free(ctx->url);
	ctx->url = NULL;
	free(ctx->config_dir);
	ctx->config_dir = NULL;
	cli_creds_clear(&ctx->creds);
}

struct http_client *cli_http(struct cli_ctx *ctx)
{
	if (!ctx->http) {
		ctx->http = http_client_new(ctx->url);
		if (ctx->http && ctx->token)
			http_client_set_token(ctx->http, ctx->token);
	}
	return ctx->http;
}

/* True when the saved session's expires_at has passed. */
static bool saved_session_expired(const struct cli_ctx *ctx)
{
	int64_t ms;

	if (!ctx->token_saved || !ctx->creds.expires_at)
		return false;
	return time_parse(ctx->creds.expires_at, &ms) == 0 && ms <= now_ms();
}

int cli_call(struct cli_ctx *ctx, const char *method, const char *path, const json_t *body,
             long timeout_s, struct http_result *res)
{
	struct http_client *c = cli_http(ctx);
	char msg[CLI_ERR_MAX];
	int r;

	memset(res, 0, sizeof(*res));
	if (!c) {
		fprintf(ctx->err, "error: cannot use the URL %s\n", ctx->url);
		return CLI_EXIT_NET;
	}
	r = http_client_request(c, method, path, body, timeout_s, res);
	if (r < 0) {
		fprintf(ctx->err, "error: cannot reach %s: %s\n", ctx->url,
		        res->error[0] ? res->error : strerror(-r));
		http_result_clear(res);
		return CLI_EXIT_NET;
	}
	if (res->status >= 200 && res->status < 300)
		return 0;
	cli_format_error(res, msg, sizeof(msg));
	fprintf(ctx->err, "error: %s\n", msg);
	if (res->status == 401 && strcmp(path, "/v1/sessions") != 0) {
		if (!ctx->token)
			fprintf(ctx->err, "hint: log in first: kumo login --account A --user U\n");
		else if (saved_session_expired(ctx))
			fprintf(ctx->err, "hint: the saved session expired: kumo login again\n");
	}
	http_result_clear(res);
	return CLI_EXIT_API;
}

/* GET /v1/<plural>?q=name=NAME: exactly one match. */
static int lookup_name(struct cli_ctx *ctx, const struct cli_group *g, const char *name,
                       char **ret_id)
{
	struct http_result res;
	char *q = xasprintf("name=%s", name), *eq = http_escape(q);
	char *path = xasprintf("/v1/%s?q=%s&fields=id%%2Cname&limit=2", g->plural, eq);
	const json_t *items;
	const char *id;
	long long total;
	int r;

	free(q);
	free(eq);
	r = cli_call(ctx, "GET", path, NULL, 0, &res);
	free(path);
	if (r)
		return r;
	items = json_object_get(res.json, "items");
	total = jint(res.json, "total", (int64_t)json_array_size(items));
	id = jstr(json_array_get(items, 0), "id");
	if (json_array_size(items) == 0 || total == 0) {
		fprintf(ctx->err, "error: NotFound: no %s named '%s'\n", g->name, name);
		r = CLI_EXIT_API;
	} else if (json_array_size(items) > 1 || total > 1) {
		fprintf(ctx->err, "error: %lld %ss are named '%s': give the id instead\n", total,
		        g->name, name);
		r = CLI_EXIT_API;
	} else if (!id) {
		fprintf(ctx->err, "error: the %s list answered an item without an id\n", g->name);
		r = CLI_EXIT_API;
	} else {
		*ret_id = xstrdup(id);
	}
	http_result_clear(&res);
	return r;
}

static int resolve_cb(void *cls, const struct cli_group *g, const char *name, char **ret_id)
{
	return lookup_name(cls, g, name, ret_id);
}

int cli_lookup(struct cli_ctx *ctx, const struct cli_group *g, const char *arg, char **ret_id)
{
	const struct cli_group *rg = g->id_group ? cli_group_find(g->id_group) : g;

	if (!rg)
		rg = g;
	if (cli_ref_is_id(rg, arg)) {
		*ret_id = xstrdup(arg);
		return 0;
	}
	return lookup_name(ctx, rg, arg, ret_id);
}

/* "/v1/<plural>/<escaped id><suffix>" */
static char *item_path(const struct cli_group *g, const char *id, const char *suffix)
{
	char *e = http_escape(id), *p;

	p = xasprintf("/v1/%s/%s%s", g->plural, e, suffix ? suffix : "");
	free(e);
	return p;
}

static void print_job_line(struct cli_ctx *ctx, const json_t *job)
{
	char line[256];

	cli_job_line(job, false, line, sizeof(line));
	fprintf(ctx->out, "%s\n", line);
}

int cli_print_answer(struct cli_ctx *ctx, struct cli_args *a, struct http_result *res,
                     const char *what)
{
	const char *job_id = jstr(res->json, "id");
	bool is_job = res->status == 202 && job_id && jstr(res->json, "state");
	char *id;
	int r;

	if (is_job && a->wait) {
		id = xstrdup(job_id);
		r = cli_job_wait(ctx, id, a->timeout > 0 ? a->timeout : CLI_WAIT_TIMEOUT_DEFAULT);
		free(id);
		return r;
	}
	if (ctx->g.output == CLI_OUT_JSON) {
		cli_print_raw(ctx->out, res->body, res->body_len);
		return 0;
	}
	if (is_job)
		print_job_line(ctx, res->json);
	else if (json_is_object(res->json))
		cli_print_object(ctx->out, res->json);
	else if (what)
		fprintf(ctx->out, "%s\n", what);
	return 0;
}

/* --all: pages of CLI_PAGE_MAX until the total is reached, or (events)
 * with after=<last id> until a page comes back short. */
static int run_list_all(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                        struct cli_args *a)
{
	bool by_after = v->opts & CO_PAGE_AFTER;
	long long offset = a->offset > 0 ? a->offset : 0, total = 0;
	json_t *all = json_array(), *out;
	int r = 0;

	for (;;) {
		struct http_result res;
		char *query = cli_list_query(a, CLI_PAGE_MAX, by_after ? -1 : offset);
		char *path = xasprintf("/v1/%s%s", g->plural, query), *last;
		json_t *items;
		size_t n;

		free(query);
		r = cli_call(ctx, "GET", path, NULL, 0, &res);
		free(path);
		if (r)
			goto out;
		items = json_object_get(res.json, "items");
		n = json_array_size(items);
		total = jint(res.json, "total", offset + (long long)n);
		json_array_extend(all, items);
		offset += (long long)n;
		if (by_after && n == CLI_PAGE_MAX) {
			if (!a->body)
				a->body = json_object();
			last = cli_value_text(json_object_get(json_array_get(items, n - 1), "id"));
			jset_str(a->body, "after", last);
			free(last);
		}
		http_result_clear(&res);
		if (n == 0 || (by_after ? n < CLI_PAGE_MAX : offset >= total))
			break;
	}
	total = by_after ? (long long)json_array_size(all) : total;
	if (ctx->g.output == CLI_OUT_JSON) {
		char *s;

		out = json_pack("{s:O,s:I}", "items", all, "total", (json_int_t)total);
		s = jdump(out);
		fprintf(ctx->out, "%s\n", s);
		free(s);
		json_decref(out);
	} else {
		cli_print_table(ctx->out, all, a->fields ? a->fields : g->columns,
		                (long long)json_array_size(all));
	}
out:
	json_decref(all);
	return r;
}

static int run_list(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                    struct cli_args *a)
{
	struct http_result res;
	char *query, *path;
	json_t *items;
	int r;

	if (a->all)
		return run_list_all(ctx, g, v, a);
	query = cli_list_query(a, -1, -1);
	path = xasprintf("/v1/%s%s", g->plural, query);
	free(query);
	r = cli_call(ctx, "GET", path, NULL, 0, &res);
	free(path);
	if (r)
		return r;
	if (ctx->g.output == CLI_OUT_JSON) {
		cli_print_raw(ctx->out, res.body, res.body_len);
	} else {
		items = json_object_get(res.json, "items");
		cli_print_table(ctx->out, items, a->fields ? a->fields : g->columns,
		                jint(res.json, "total", (int64_t)json_array_size(items)));
	}
	http_result_clear(&res);
	return 0;
}

static int run_get(struct cli_ctx *ctx, const struct cli_group *g, struct cli_args *a)
{
	struct http_result res;
	char *id = NULL, *path;
	int r;

	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	path = item_path(g, id, NULL);
	free(id);
	r = cli_call(ctx, "GET", path, NULL, 0, &res);
	free(path);
	if (r)
		return r;
	if (ctx->g.output == CLI_OUT_JSON)
		cli_print_raw(ctx->out, res.body, res.body_len);
	else if (json_is_object(res.json))
		cli_print_object(ctx->out, res.json);
	http_result_clear(&res);
	return 0;
}

/* Secret fields that are required and missing from body come from the tty. */
static int prompt_secrets(const struct cli_field *fields, json_t *body)
{
	for (const struct cli_field *f = fields; f && f->key; f++) {
		char *pw = NULL, prompt[160];
		int r;

		if (f->type != CF_SECRET || !(f->flags & CFF_REQUIRED) ||
		    json_object_get(body, f->key))
			continue;
		snprintf(prompt, sizeof(prompt), "New %s: ", f->key);
		r = cli_read_password(NULL, NULL, prompt, true, &pw);
		if (r)
			return r;
		jset_str(body, f->key, pw);
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	return 0;
}

/* The body of a write: flags with names resolved, merged over --data. */
static int write_body(struct cli_ctx *ctx, const struct cli_field *fields, struct cli_args *a,
                      json_t **ret_body)
{
	char err[CLI_ERR_MAX];
	int r;

	r = cli_resolve_refs(fields, a->body, resolve_cb, ctx);
	if (r)
		return r;
	r = cli_build_body(a, ret_body, err, sizeof(err));
	if (r)
		fprintf(ctx->err, "error: %s\n", err);
	return r;
}

static int run_create(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                      struct cli_args *a)
{
	struct http_result res;
	json_t *body = NULL;
	char *path;
	int r;

	if (!a->body && !a->data) {
		fprintf(ctx->err,
		        "error: nothing to create: give fields as flags or --data "
		        "(kumo %s %s --help)\n",
		        g->name, v->name);
		return CLI_EXIT_USAGE;
	}
	r = write_body(ctx, g->create, a, &body);
	if (r == 0)
		r = prompt_secrets(g->create, body);
	if (r) {
		json_decref(body);
		return r;
	}
	path = xasprintf("/v1/%s", g->plural);
	r = cli_call(ctx, "POST", path, body, a->timeout, &res);
	free(path);
	json_decref(body);
	if (r)
		return r;
	r = cli_print_answer(ctx, a, &res, "created");
	if (g->create_note)
		fprintf(ctx->err, "note: %s\n", g->create_note);
	http_result_clear(&res);
	return r;
}

static int run_update(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                      struct cli_args *a)
{
	struct http_result res;
	json_t *body = NULL;
	char *id = NULL, *path;
	int r;

	if (!a->body && !a->data) {
		fprintf(ctx->err,
		        "error: nothing to change: give fields as flags or --data "
		        "(kumo %s %s --help)\n",
		        g->name, v->name);
		return CLI_EXIT_USAGE;
	}
	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	r = write_body(ctx, g->update, a, &body);
	if (r)
		goto out;
	path = item_path(g, id, NULL);
	r = cli_call(ctx, "PATCH", path, body, 0, &res);
	free(path);
	if (r)
		goto out;
	r = cli_print_answer(ctx, a, &res, "updated");
	http_result_clear(&res);
out:
	json_decref(body);
	free(id);
	return r;
}

static int run_delete(struct cli_ctx *ctx, const struct cli_group *g, struct cli_args *a)
{
	struct http_result res;
	char *id = NULL, *path, *what;
	int r;

	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	path = item_path(g, id, NULL);
	r = cli_call(ctx, "DELETE", path, NULL, 0, &res);
	free(path);
	if (r)
		goto out;
	what = xasprintf("deleted %s %s", g->name, id);
	cli_sanitize(what);
	r = cli_print_answer(ctx, a, &res, what);
	free(what);
	http_result_clear(&res);
out:
	free(id);
	return r;
}

static int run_action(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                      struct cli_args *a)
{
	struct http_result res;
	json_t *body = NULL;
	char *id = NULL, *path, *suffix, *what;
	int r;

	for (const struct cli_field *f = v->fields; f && f->key; f++) {
		char flag[128];

		cli_flag_name(f->key, flag, sizeof(flag));
		if ((f->flags & CFF_REQUIRED) && !json_object_get(a->body, f->key)) {
			fprintf(ctx->err, "error: kumo %s %s needs --%s\n", g->name, v->name,
			        f->alias ? f->alias : flag);
			return CLI_EXIT_USAGE;
		}
	}
	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	r = write_body(ctx, v->fields, a, &body);
	if (r)
		goto out;
	if (!body)
		body = json_object(); /* actions always carry a JSON object */
	suffix = xasprintf("/actions/%s", v->action);
	path = item_path(g, id, suffix);
	free(suffix);
	r = cli_call(ctx, "POST", path, body, 0, &res);
	free(path);
	if (r)
		goto out;
	what = xasprintf("%s %s: %s done", g->name, id, v->name);
	cli_sanitize(what);
	r = cli_print_answer(ctx, a, &res, what);
	free(what);
	http_result_clear(&res);
out:
	json_decref(body);
	free(id);
	return r;
}

int cli_run_verb(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v, int argc,
                 char **argv)
{
	struct cli_args a;
	char err[CLI_ERR_MAX];
	const char *verb = v->name[0] ? v->name : NULL;
	int r;

	cli_args_init(&a);
	r = cli_parse_args(cli_verb_fields(g, v), v->opts, argc, argv, &ctx->g, &a, err,
	                   sizeof(err));
	if (r == 0 && ctx->g.help) {
		cli_help_verb(ctx->out, g, v);
		goto out;
	}
	if (r == 0 && a.npos != v->nargs) {
		if (a.npos < v->nargs)
			snprintf(err, sizeof(err), "missing %s", v->args);
		else
			snprintf(err, sizeof(err), "unexpected argument '%s'", a.pos[v->nargs]);
		r = CLI_EXIT_USAGE;
	}
	if (r) {
		fprintf(ctx->err, "error: %s\nusage: kumo %s%s%s --help\n", err, g->name,
		        verb ? " " : "", verb ? verb : "");
		goto out;
	}
	cli_ctx_setup(ctx);
	switch (v->kind) {
	case CV_LIST:
		r = run_list(ctx, g, v, &a);
		break;
	case CV_GET:
		r = run_get(ctx, g, &a);
		break;
	case CV_CREATE:
		r = run_create(ctx, g, v, &a);
		break;
	case CV_UPDATE:
		r = run_update(ctx, g, v, &a);
		break;
	case CV_DELETE:
		r = run_delete(ctx, g, &a);
		break;
	case CV_ACTION:
		r = run_action(ctx, g, v, &a);
		break;
	case CV_CUSTOM:
		r = v->run(ctx, g, v, &a);
		break;
	}
out:
	cli_args_clear(&a);
	return r;
}
