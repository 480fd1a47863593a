// SPDX-License-Identifier: MIT
/*
 * kumo vm console NAME [--tail N] [--follow]: a VM's serial console.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

static int console_out(void *cls, const char *data, size_t len)
{
	struct cli_ctx *ctx = cls;

	fwrite(data, 1, len, ctx->out);
	fflush(ctx->out);
	return 0;
}

int cli_cmd_vm_console(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                       struct cli_args *a)
{
	bool follow = jbool(a->body, "follow", false);
	int64_t tail = jint(a->body, "tail", 100);
	struct http_result res;
	char *id = NULL, *path;
	int r;

	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	if (follow) {
		struct http_client *c = cli_http(ctx);

		path = xasprintf("/v1/vms/%s/console?follow=1&tail=%lld", id, (long long)tail);
		r = c ? http_client_stream(c, path, console_out, ctx) : -EINVAL;
		free(path);
		free(id);
		if (r == 0)
			return CLI_EXIT_OK; /* the VM went away */
		fprintf(ctx->err, "error: %s: cannot follow the console\n", error_code_name(r));
		return r == -ECONNREFUSED || r == -ETIMEDOUT ? CLI_EXIT_NET : CLI_EXIT_API;
	}
	path = xasprintf("/v1/vms/%s/console?tail=%lld", id, (long long)tail);
	r = cli_call(ctx, "GET", path, NULL, 0, &res);
	free(path);
	free(id);
	if (r)
		return r;
	if (ctx->g.output == CLI_OUT_JSON) {
		fprintf(ctx->out, "%s\n", res.body);
	} else {
		const char *out = jstr(res.json, "output");

		fputs(out ? out : "", ctx->out);
		if (out && *out && out[strlen(out) - 1] != '\n')
			fputc('\n', ctx->out);
	}
	http_result_clear(&res);
	return CLI_EXIT_OK;
}
