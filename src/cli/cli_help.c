// SPDX-License-Identifier: MIT
/*
 * Help text and the bash completion script of kumo, both produced from the
 * command table (cli_table.c) and the fixed options (cli_opts), so they
 * cannot drift from what the parser accepts. scripts/kumo-completion.bash
 * is the output of `kumo completion bash`; test_cli.c compares the two.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/util.h"

#define HELP_WIDTH 100
#define HELP_COL 30

/* "none|restart": help text that is a list of allowed values. */
static bool help_is_enum(const char *help)
{
	if (!help || !strchr(help, '|'))
		return false;
	for (const char *p = help; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' &&
		    *p != '|')
			return false;
	return true;
}

/* The flag a user types: the alias where there is one ("--image"). */
static void field_flag(const struct cli_field *f, char *out, size_t outlen)
{
	char name[128];

	cli_flag_name(f->key, name, sizeof(name));
	if (f->alias)
		snprintf(out, outlen, "--%s", f->alias);
	else if (f->type == CF_SECRET)
		snprintf(out, outlen, "--%s-file", name);
	else
		snprintf(out, outlen, "--%s", name);
}

static const char *field_metavar(const struct cli_field *f)
{
	if (f->type == CF_STRING && help_is_enum(f->help))
		return f->help;
	switch (f->type) {
	case CF_STRING:
		return "TEXT";
	case CF_INT:
		return "N";
	case CF_BOOL:
		return NULL;
	case CF_STRING_LIST:
		return "A,B";
	case CF_REF:
		return "NAME|ID";
	case CF_REF_LIST:
		return "NAME|ID,...";
	case CF_JSON:
		return "JSON";
	case CF_RANGE_LIST:
		return "START-END";
	case CF_SECRET:
		return "FILE";
	}
	return NULL;
}

static void help_line(FILE *out, const char *left, const char *right)
{
	if (!*right)
		fprintf(out, "  %s\n", left);
	else if (strlen(left) + 2 >= HELP_COL)
		fprintf(out, "  %s\n  %*s%s\n", left, HELP_COL - 2, "", right);
	else
		fprintf(out, "  %-*s%s\n", HELP_COL - 2, left, right);
}

static void help_field(FILE *out, const struct cli_field *f, bool create)
{
	char flag[160], left[512], name[128];
	const char *mv = field_metavar(f);
	struct buf b;
	char *right;

	field_flag(f, flag, sizeof(flag));
	cli_flag_name(f->key, name, sizeof(name));
	if (f->type == CF_BOOL)
		snprintf(left, sizeof(left), "%s, --no-%s", flag, flag + 2);
	else
		snprintf(left, sizeof(left), "%s %s", flag, mv);
	buf_init(&b, 4096);
	if (create && (f->flags & CFF_REQUIRED))
		buf_puts(&b, "required");
	if (f->help && !help_is_enum(f->help))
		buf_printf(&b, "%s%s", b.len ? "; " : "", f->help);
	if (f->alias)
		buf_printf(&b, "%s(also --%s)", b.len ? " " : "", name);
	right = buf_steal(&b);
	help_line(out, left, right ? right : "");
	free(right);
}

static void help_opts(FILE *out, unsigned mask)
{
	for (const struct cli_opt *o = cli_opts; o->name; o++) {
		char left[160];

		if (!(o->mask & mask) || !o->help)
			continue;
		if (strcmp(o->name, "-o") == 0)
			snprintf(left, sizeof(left), "-o, --output %s", o->metavar);
		else if (strcmp(o->name, "--help") == 0)
			snprintf(left, sizeof(left), "-h, --help");
		else
			snprintf(left, sizeof(left), "%s%s%s", o->name, o->metavar ? " " : "",
			         o->metavar ? o->metavar : "");
		help_line(out, left, o->help);
	}
}

static const char *verb_summary(const struct cli_group *g, const struct cli_verb *v)
{
	return v->summary ? v->summary : g->summary;
}

static const char *verbless(const struct cli_group *g)
{
	return g->verbs && g->verbs[0].name && g->verbs[0].name[0] == '\0' ? "" : NULL;
}

void cli_help_main(FILE *out)
{
	fprintf(out, "Usage: kumo [GLOBAL OPTIONS] COMMAND [VERB] [ARGS] [OPTIONS]\n"
	             "The command line of Kumo, a small private cloud. Every command is one "
	             "call of the REST API.\n\nCommands:\n");
	for (const struct cli_group *g = cli_groups; g->name; g++) {
		struct buf b;
		char *s;

		buf_init(&b, 4096);
		buf_puts(&b, g->summary);
		if (!verbless(g)) {
			buf_puts(&b, ":");
			for (const struct cli_verb *v = g->verbs; v->name; v++)
				buf_printf(&b, " %s", v->name);
		}
		s = buf_steal(&b);
		help_line(out, g->name, s ? s : "");
		free(s);
	}
	fprintf(out, "\nGlobal options (before or after the command):\n");
	help_opts(out, CO_GLOBAL);
	fprintf(out, "\nNames or ids: NAME|ID arguments and reference flags (--image, --l3, ...) "
	             "take a name or an id.\n"
	             "Saved login: $KUMO_CONFIG_DIR, else $XDG_CONFIG_HOME/kumo, else "
	             "~/.config/kumo (file credentials).\n"
	             "Exit codes: 0 ok, 1 the API answered an error or a job failed, 2 usage "
	             "error, 3 server unreachable.\n"
	             "More: kumo COMMAND --help, kumo COMMAND VERB --help.\n");
}

/* Appends the flag names a verb takes, space-separated (completion, help). */
static void verb_flags(struct buf *b, const struct cli_group *g, const struct cli_verb *v,
                       bool with_globals)
{
	const struct cli_field *fields = cli_verb_fields(g, v);
	const char *sep = "";
	char flag[160], name[128];

	for (const struct cli_field *f = fields; f && f->key; f++) {
		field_flag(f, flag, sizeof(flag));
		buf_printf(b, "%s%s", sep, flag);
		sep = " ";
		if (f->alias) {
			cli_flag_name(f->key, name, sizeof(name));
			buf_printf(b, " --%s", name);
		}
		if (f->type == CF_BOOL)
			buf_printf(b, " --no-%s", flag + 2);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (const struct cli_opt *o = cli_opts; o->name; o++) {
			bool global = o->mask & CO_GLOBAL;

			if (pass == 0 ? global || !(o->mask & v->opts) : !global || !with_globals)
				continue;
			buf_printf(b, "%s%s", sep, o->name);
			sep = " ";
		}
	}
}

void cli_help_group(FILE *out, const struct cli_group *g)
{
	if (verbless(g)) {
		cli_help_verb(out, g, &g->verbs[0]);
		return;
	}
	fprintf(out, "Usage: kumo %s VERB [ARGS] [OPTIONS]\n%s%s%s%s\n\nVerbs:\n", g->name,
	        g->summary, g->plural ? " (/v1/" : "", g->plural ? g->plural : "",
	        g->plural ? ")" : "");
	for (const struct cli_verb *v = g->verbs; v->name; v++) {
		char left[128];
		struct buf b;

		snprintf(left, sizeof(left), "%s%s%s", v->name, v->args[0] ? " " : "", v->args);
		help_line(out, left, verb_summary(g, v));
		buf_init(&b, 4096);
		verb_flags(&b, g, v, false);
		if (b.len) {
			/* the flags, wrapped under the summary */
			const char *p = b.data;
			int col = HELP_WIDTH;

			while (*p) {
				size_t n = strcspn(p, " ");

				if (col + (int)n + 1 > HELP_WIDTH) {
					fprintf(out, "%s%*s", col == HELP_WIDTH ? "" : "\n",
					        HELP_COL, "");
					col = HELP_COL;
				} else {
					fputc(' ', out);
					col++;
				}
				fwrite(p, 1, n, out);
				col += (int)n;
				p += n;
				while (*p == ' ')
					p++;
			}
			fputc('\n', out);
		}
		buf_free(&b);
	}
	fprintf(out, "\nOptions of a verb: kumo %s VERB --help. Global options: kumo --help.\n",
	        g->name);
}

void cli_help_verb(FILE *out, const struct cli_group *g, const struct cli_verb *v)
{
	const struct cli_field *fields = cli_verb_fields(g, v);
	bool create = v->kind == CV_CREATE || v->kind == CV_ACTION || v->kind == CV_CUSTOM;

	fprintf(out, "Usage: kumo %s%s%s%s%s [OPTIONS]\n%s\n", g->name, v->name[0] ? " " : "",
	        v->name, v->args[0] ? " " : "", v->args, verb_summary(g, v));
	switch (g->plural ? v->kind : CV_CUSTOM) {
	case CV_LIST:
		fprintf(out, "GET /v1/%s; table columns: %s\n", g->plural, g->columns);
		break;
	case CV_GET:
		fprintf(out, "GET /v1/%s/{id}\n", g->plural);
		break;
	case CV_CREATE:
		fprintf(out, "POST /v1/%s\n", g->plural);
		break;
	case CV_UPDATE:
		fprintf(out, "PATCH /v1/%s/{id}\n", g->plural);
		break;
	case CV_DELETE:
		fprintf(out, "DELETE /v1/%s/{id}\n", g->plural);
		break;
	case CV_ACTION:
		fprintf(out, "POST /v1/%s/{id}/actions/%s\n", g->plural, v->action);
		break;
	case CV_CUSTOM:
		break;
	}
	if (fields || (v->opts & ~CO_GLOBAL)) {
		fprintf(out, "\nOptions:\n");
		for (const struct cli_field *f = fields; f && f->key; f++)
			help_field(out, f, create);
		help_opts(out, v->opts & ~(unsigned)CO_GLOBAL);
	}
	fprintf(out, "\nGlobal options:\n");
	help_opts(out, CO_GLOBAL);
}

/* ---- bash completion ---- */

static void comp_case_prev(struct buf *b, const struct cli_group *g, const struct cli_verb *v)
{
	const struct cli_field *fields = cli_verb_fields(g, v);
	char flag[160], name[128];

	buf_puts(b, "\t\tcase $prev in\n");
	for (const struct cli_field *f = fields; f && f->key; f++) {
		field_flag(f, flag, sizeof(flag));
		cli_flag_name(f->key, name, sizeof(name));
		if (f->type == CF_BOOL)
			continue;
		buf_printf(b, "\t\t%s", flag);
		if (f->alias)
			buf_printf(b, "|--%s", name);
		if (f->type == CF_STRING && help_is_enum(f->help)) {
			buf_puts(b, ") words=\"");
			for (const char *p = f->help; *p; p++)
				buf_printf(b, "%c", *p == '|' ? ' ' : *p);
			buf_puts(b, "\" ;;\n");
		} else if (f->type == CF_REF || f->type == CF_REF_LIST) {
			buf_printf(b, ") words=$(_kumo_names %s) ;;\n", f->ref);
		} else if (f->type == CF_SECRET) {
			buf_puts(b, ") _kumo_files; return ;;\n");
		} else {
			buf_puts(b, ") return ;;\n");
		}
	}
	for (const struct cli_opt *o = cli_opts; o->name; o++) {
		if (!(o->mask & v->opts) || !o->metavar)
			continue;
		buf_printf(b, "\t\t%s", o->name);
		if (strcmp(o->name, "--password-file") == 0)
			buf_puts(b, ") _kumo_files; return ;;\n");
		else
			buf_puts(b, ") return ;;\n");
	}
	buf_puts(b, "\t\t*)\n");
	if (v->nargs == 1 && !strcmp(v->args, "FILE")) { /* image upload */
		buf_puts(b, "\t\t\t[[ $cur == -* ]] || { _kumo_files; return; }\n");
	} else if (v->nargs == 1 && g->plural) {
		const struct cli_group *rg = g->id_group ? cli_group_find(g->id_group) : g;

		if (rg && rg->named)
			buf_printf(b,
			           "\t\t\t[[ $cur == -* ]] || { words=$(_kumo_names %s); "
			           "COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return; }\n",
			           rg->name);
	}
	buf_puts(b, "\t\t\twords=\"");
	verb_flags(b, g, v, true);
	buf_puts(b, "\" ;;\n\t\tesac ;;\n");
}

char *cli_completion_bash(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 1024 * 1024);
	buf_puts(&b,
	         "# bash completion for kumo.\n"
	         "# Generated by `kumo completion bash` from src/cli/cli_table.c: do not edit;\n"
	         "# tests/unit/test_cli.c checks that this file matches the program.\n"
	         "# Use: source <(kumo completion bash), or copy to "
	         "/etc/bash_completion.d/kumo\n"
	         "\n"
	         "# The names of a group's resources, for NAME|ID arguments and --image etc.\n"
	         "# Only --url is passed on: a token never goes on a command line.\n"
	         "_kumo_names()\n"
	         "{\n"
	         "\t\"${COMP_WORDS[0]}\" \"${_kumo_gopts[@]}\" -o json \"$1\" list --fields name "
	         "--all 2>/dev/null |\n"
	         "\t\tgrep -o '\"name\":\"[^\"]*\"' | cut -d'\"' -f4\n"
	         "}\n"
	         "\n"
	         "_kumo_files()\n"
	         "{\n"
	         "\tCOMPREPLY=($(compgen -f -- \"${COMP_WORDS[COMP_CWORD]}\"))\n"
	         "}\n"
	         "\n"
	         "_kumo()\n"
	         "{\n"
	         "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
	         "\tlocal i w group= verb= key words=\n"
	         "\tlocal -a _kumo_gopts=() # seen by _kumo_names (dynamic scope)\n"
	         "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	         "\t\tw=${COMP_WORDS[i]}\n"
	         "\t\tcase $w in\n"
	         "\t\t--url)\n"
	         "\t\t\t_kumo_gopts+=(--url \"${COMP_WORDS[i + 1]}\")\n"
	         "\t\t\t((i++)) ;;\n"
	         "\t\t-o | --output | --token) ((i++)) ;;\n"
	         "\t\t-*) ;;\n"
	         "\t\t*)\n"
	         "\t\t\tif [[ -z $group ]]; then\n"
	         "\t\t\t\tgroup=$w\n"
	         "\t\t\telif [[ -z $verb ]]; then\n"
	         "\t\t\t\tverb=$w\n"
	         "\t\t\tfi ;;\n"
	         "\t\tesac\n"
	         "\tdone\n"
	         "\tcase $prev in\n"
	         "\t-o | --output)\n"
	         "\t\tCOMPREPLY=($(compgen -W \"table json\" -- \"$cur\"))\n"
	         "\t\treturn ;;\n"
	         "\t--url | --token) return ;;\n"
	         "\tesac\n"
	         "\tif [[ -z $group ]]; then\n"
	         "\t\twords=\"");
	for (const struct cli_group *g = cli_groups; g->name; g++)
		buf_printf(&b, "%s%s", g == cli_groups ? "" : " ", g->name);
	for (const struct cli_opt *o = cli_opts; o->name; o++)
		if (o->mask & CO_GLOBAL)
			buf_printf(&b, " %s", o->name);
	buf_puts(&b, "\"\n"
	             "\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
	             "\t\treturn\n"
	             "\tfi\n"
	             "\tkey=\"$group $verb\"\n"
	             "\tcase \" ");
	for (const struct cli_group *g = cli_groups; g->name; g++)
		if (verbless(g))
			buf_printf(&b, "%s ", g->name);
	buf_puts(&b, "\" in\n"
	             "\t*\" $group \"*) key=$group ;;\n"
	             "\tesac\n"
	             "\tcase $key in\n");
	for (const struct cli_group *g = cli_groups; g->name; g++) {
		if (verbless(g)) {
			const struct cli_verb *v = &g->verbs[0];

			buf_printf(&b, "\t\"%s\")\n", g->name);
			if (v->nargs == 1 && v->args[0] && !strchr(v->args, '|') &&
			    !isupper((unsigned char)v->args[0])) {
				/* a fixed word, e.g. "completion bash" */
				buf_printf(&b, "\t\twords=\"%s\" ;;\n", v->args);
				continue;
			}
			comp_case_prev(&b, g, v);
			continue;
		}
		buf_printf(&b, "\t\"%s \")\n\t\twords=\"", g->name);
		for (const struct cli_verb *v = g->verbs; v->name; v++)
			buf_printf(&b, "%s%s", v->name, v[1].name ? " " : "");
		buf_puts(&b, " --help\" ;;\n");
		for (const struct cli_verb *v = g->verbs; v->name; v++) {
			buf_printf(&b, "\t\"%s %s\")\n", g->name, v->name);
			comp_case_prev(&b, g, v);
		}
	}
	buf_puts(&b, "\tesac\n"
	             "\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
	             "}\n"
	             "complete -F _kumo kumo\n");
	s = buf_steal(&b);
	return s ? s : xstrdup("");
}

int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                       struct cli_args *a)
{
	char *s;

	if (strcmp(a->pos[0], "bash") != 0) {
		fprintf(ctx->err, "error: only bash completion is available, not '%s'\n",
		        a->pos[0]);
		return CLI_EXIT_USAGE;
	}
	s = cli_completion_bash();
	fputs(s, ctx->out);
	free(s);
	return 0;
}
