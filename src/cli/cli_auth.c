// SPDX-License-Identifier: MIT
/*
 * kumo login, logout and whoami. Login posts the password (from a file,
 * $KUMO_PASSWORD or the terminal, never from argv) to POST /v1/sessions and
 * saves {url, token, account, user, expires_at} in the credentials file.
 * The token is printed only with --print-token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

/* A string flag from the body, else the saved one. */
static const char *arg_or_saved(const json_t *body, const char *key, const char *saved)
{
	const char *s = jstr(body, key);

	return !str_empty(s) ? s : saved;
}

static void forget_token(struct cli_ctx *ctx)
{
	if (ctx->token) {
		explicit_bzero(ctx->token, strlen(ctx->token));
		free(ctx->token);
		ctx->token = NULL;
	}
	ctx->token_saved = false;
	if (ctx->http)
		http_client_set_token(ctx->http, NULL);
}

int cli_cmd_login(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                  struct cli_args *a)
{
	const char *account = arg_or_saved(a->body, "account", ctx->creds.account);
	const char *user = arg_or_saved(a->body, "user", ctx->creds.user);
	struct cli_creds saved = { 0 };
	struct http_result res;
	char *pw = NULL, prompt[256];
	json_t *body;
	int r;

	if (str_empty(account) || str_empty(user)) {
		fprintf(ctx->err, "error: kumo login needs --account A and --user U\n");
		return CLI_EXIT_USAGE;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s in %s at %s: ", user, account, ctx->url);
	cli_sanitize(prompt);
	r = cli_read_password(a->password_file, "KUMO_PASSWORD", prompt, false, &pw);
	if (r)
		return r;
	forget_token(ctx); /* logging in sends no old token */
	body = json_object();
	jset_str(body, "account", account);
	jset_str(body, "user", user);
	jset_str(body, "password", pw);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	r = cli_call(ctx, "POST", "/v1/sessions", body, 0, &res);
	json_decref(body);
	if (r)
		return r;
	if (!jstr(res.json, "token")) {
		fprintf(ctx->err, "error: the login answer has no token\n");
		r = CLI_EXIT_API;
		goto out;
	}
	saved.url = ctx->url;
	saved.token = (char *)jstr(res.json, "token");
	saved.account = (char *)account;
	saved.user = (char *)user;
	saved.expires_at = (char *)jstr(res.json, "expires_at");
	r = cli_creds_save(ctx->config_dir, &saved);
	if (r < 0) {
		fprintf(ctx->err, "error: logged in, but cannot save the session in %s: %s\n",
		        ctx->config_dir ? ctx->config_dir : "(no config directory)", strerror(-r));
		r = CLI_EXIT_API;
		goto out;
	}
	if (a->print_token) {
		if (ctx->g.output == CLI_OUT_JSON)
			cli_print_raw(ctx->out, res.body, res.body_len);
		else
			fprintf(ctx->out, "%s\n", saved.token);
	} else if (ctx->g.output == CLI_OUT_JSON) {
		json_t *copy = json_deep_copy(res.json);
		char *s;

		json_object_del(copy, "token");
		s = jdump(copy);
		fprintf(ctx->out, "%s\n", s);
		free(s);
		json_decref(copy);
	}
	fprintf(a->print_token || ctx->g.output == CLI_OUT_JSON ? ctx->err : ctx->out,
	        "logged in to %s as %s in %s (role %s); the session expires at %s\n", ctx->url,
	        user, account, jstr(res.json, "role") ? jstr(res.json, "role") : "?",
	        saved.expires_at ? saved.expires_at : "?");
	r = 0;
out:
	http_result_clear(&res);
	return r;
}

/* Removes the saved token (keeping url, account and user for the next login). */
static int drop_saved_token(struct cli_ctx *ctx)
{
	struct cli_creds keep = ctx->creds;
	int r;

	keep.token = NULL;
	keep.expires_at = NULL;
	r = cli_creds_save(ctx->config_dir, &keep);
	if (r < 0)
		fprintf(ctx->err, "error: cannot update %s/credentials: %s\n", ctx->config_dir,
		        strerror(-r));
	return r < 0 ? CLI_EXIT_API : 0;
}

int cli_cmd_logout(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                   struct cli_args *a)
{
	struct http_client *c;
	struct http_result res;
	char msg[CLI_ERR_MAX];
	bool saved;
	int r;

	if (!ctx->token) {
		fprintf(ctx->err, "not logged in to %s\n", ctx->url);
		return 0;
	}
	/* A token given by --token or $KUMO_TOKEN that is also the saved one
	 * is forgotten too. */
	saved = ctx->token_saved || (ctx->creds.token && strcmp(ctx->creds.token, ctx->token) == 0);
	c = cli_http(ctx);
	if (!c) {
		fprintf(ctx->err, "error: cannot use the URL %s\n", ctx->url);
		return CLI_EXIT_NET;
	}
	r = http_client_request(c, "DELETE", "/v1/sessions/current", NULL, 0, &res);
	if (r < 0) {
		/* keep the token: it is still valid and logout can be retried */
		fprintf(ctx->err, "error: cannot reach %s: %s\n", ctx->url,
		        res.error[0] ? res.error : strerror(-r));
		http_result_clear(&res);
		return CLI_EXIT_NET;
	}
	if ((res.status >= 200 && res.status < 300) || res.status == 401) {
		/* 401: the token had expired or was revoked already */
		r = saved ? drop_saved_token(ctx) : 0;
		if (r == 0 && ctx->g.output != CLI_OUT_JSON)
			fprintf(ctx->out, "logged out of %s\n", ctx->url);
	} else {
		cli_format_error(&res, msg, sizeof(msg));
		fprintf(ctx->err, "error: %s\n", msg);
		r = CLI_EXIT_API;
	}
	http_result_clear(&res);
	return r;
}

int cli_cmd_whoami(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                   struct cli_args *a)
{
	struct http_result res;
	int r;

	r = cli_call(ctx, "GET", "/v1/whoami", NULL, 0, &res);
	if (r)
		return r;
	if (ctx->g.output == CLI_OUT_JSON) {
		cli_print_raw(ctx->out, res.body, res.body_len);
	} else if (json_is_object(res.json)) {
		json_object_del(res.json, "token"); /* never shown, should it be there */
		cli_print_object(ctx->out, res.json);
	}
	http_result_clear(&res);
	return 0;
}
