// SPDX-License-Identifier: MIT
/*
 * The security group rule verbs of kumo, which are not actions:
 * `kumo sg add-rule SG --direction D [--protocol P] [--port-start N]
 * [--port-end N] (--cidr C | --remote-group SG2) [--description T]`
 * posts to /v1/security-groups/{id}/rules, and `kumo sg delete-rule SG
 * RULE_ID` deletes /v1/security-groups/{id}/rules/{rule_id}. Both answer
 * a net.update job (--wait waits for it). Everything else about groups is
 * the generic table in cli_table.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

static int resolve(void *cls, const struct cli_group *g, const char *name, char **ret_id)
{
	return cli_lookup(cls, g, name, ret_id);
}

/* "/v1/security-groups/<escaped id>/rules[/<escaped rule>]" */
static char *rules_path(const struct cli_group *g, const char *id, const char *rule)
{
	char *e = http_escape(id), *er = rule ? http_escape(rule) : NULL, *p;

	p = xasprintf("/v1/%s/%s/rules%s%s", g->plural, e, er ? "/" : "", er ? er : "");
	free(e);
	free(er);
	return p;
}

int cli_cmd_sg_add_rule(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                        struct cli_args *a)
{
	struct http_result res;
	char err[CLI_ERR_MAX], *id = NULL, *path;
	json_t *body = NULL;
	int r;

	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	r = cli_resolve_refs(v->fields, a->body, resolve, ctx);
	if (r)
		goto out;
	r = cli_build_body(a, &body, err, sizeof(err));
	if (r) {
		fprintf(ctx->err, "error: %s\n", err);
		goto out;
	}
	if (!body) {
		fprintf(ctx->err, "error: kumo sg add-rule needs --direction and --cidr or "
		                  "--remote-group\n");
		r = CLI_EXIT_USAGE;
		goto out;
	}
	path = rules_path(g, id, NULL);
	r = cli_call(ctx, "POST", path, body, 0, &res);
	free(path);
	if (r)
		goto out;
	r = cli_print_answer(ctx, a, &res, "rule added");
	http_result_clear(&res);
out:
	json_decref(body);
	free(id);
	return r;
}

int cli_cmd_sg_delete_rule(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                           struct cli_args *a)
{
	struct http_result res;
	char *id = NULL, *path;
	int r;

	(void)v;
	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	path = rules_path(g, id, a->pos[1]);
	r = cli_call(ctx, "DELETE", path, NULL, 0, &res);
	free(path);
	if (r == 0) {
		r = cli_print_answer(ctx, a, &res, "rule deleted");
		http_result_clear(&res);
	}
	free(id);
	return r;
}
