// SPDX-License-Identifier: MIT
/*
 * kumo, the command line of Kumo: `kumo [GLOBAL OPTIONS] COMMAND [VERB]
 * [ARGS]`. This file only finds the command and verb in the table of
 * cli_table.c and hands over to cli_run_verb(); what each verb does is in
 * cli_resource.c (generic verbs), cli_auth.c and cli_job.c.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .out = stdout, .err = stderr };
	const struct cli_group *g;
	const struct cli_verb *v;
	char err[CLI_ERR_MAX];
	int i = 1, r;

	log_init("kumo", KLOG_WARN);
	r = cli_parse_global(argc, argv, &i, &ctx.g, err, sizeof(err));
	if (r) {
		fprintf(stderr, "error: %s\nusage: kumo --help\n", err);
		return r;
	}
	if (i >= argc) {
		cli_help_main(ctx.g.help ? stdout : stderr);
		return ctx.g.help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		cli_help_main(stdout);
		return CLI_EXIT_OK;
	}
	g = cli_group_find(argv[i]);
	if (!g) {
		fprintf(stderr, "error: unknown command '%s'\nusage: kumo --help\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	i++;
	v = cli_verb_find(g, ""); /* login, logout, ...: no verb word */
	if (!v) {
		if (ctx.g.help || i >= argc || is_help(argv[i])) {
			bool asked = ctx.g.help || (i < argc && is_help(argv[i]));

			cli_help_group(asked ? stdout : stderr, g);
			return asked ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
		v = cli_verb_find(g, argv[i]);
		if (!v) {
			fprintf(stderr, "error: kumo %s has no verb '%s'\nusage: kumo %s --help\n",
			        g->name, argv[i], g->name);
			return CLI_EXIT_USAGE;
		}
		i++;
	}
	r = cli_run_verb(&ctx, g, v, argc - i, argv + i);
	cli_ctx_free(&ctx);
	return r;
}
