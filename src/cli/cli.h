/* SPDX-License-Identifier: MIT */
/*
 * The kumo CLI's internal interfaces.
 *
 * The CLI is driven by one table of resource groups (cli_table.c): each
 * group names its URL plural, its default table columns, its create and
 * update fields with their types, and its verbs. Generic verbs (list, get,
 * create, update, delete, actions) are carried out by cli_resource.c from
 * that data alone; a few verbs (login, job wait, event follow) have their
 * own functions. Everything that does not talk to the network (option
 * parsing into JSON bodies, list query strings, table formatting, the SSE
 * parser, help and completion text) is kept pure so tests/unit/test_cli.c
 * can check it.
 *
 * Exit codes: 0 ok, 1 the API answered an error (or a job failed), 2 usage
 * error, 3 the server could not be reached.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct http_client;
struct http_result;

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_API = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NET = 3,
};

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_WAIT_TIMEOUT_DEFAULT 600 /* seconds, for --wait */
#define CLI_WAIT_POLL 5              /* seconds per GET /v1/jobs/{id}?wait= */
#define CLI_PAGE_MAX 1000            /* limit used by --all */
#define CLI_MAX_POS 4                /* positional arguments per command */
#define CLI_MAX_Q 16                 /* --q filters (the server's QUERY_MAX_FILTERS) */
#define CLI_VALUE_MAX (1024 * 1024)  /* --data @file, @file values */
#define CLI_CELL_MAX 40              /* table cells are cut to this many characters */
#define CLI_ERR_MAX 512

/* ---- the command table (cli_table.c) ---- */

enum cli_ftype {
	CF_STRING,
	CF_INT,
	CF_BOOL,
	CF_STRING_LIST, /* repeated flag or comma list -> ["a","b"] */
	CF_REF,         /* a name or id of another group -> "id" */
	CF_REF_LIST,    /* names or ids -> ["id", ...] */
	CF_JSON,        /* any JSON value, given as text */
	CF_RANGE_LIST,  /* "a-b" IPv4 ranges -> [{"start":a,"end":b}] */
	CF_SECRET,      /* read from a file (--x-file F) or the tty, never from argv */
};

enum cli_field_flags {
	CFF_REQUIRED = 1 << 0, /* required by the API on create (help only) */
	CFF_FILE = 1 << 1,     /* "@path" reads the value from a file */
	CFF_NOSPLIT = 1 << 2,  /* lists: do not split on commas (ssh keys) */
};

struct cli_field {
	const char *key; /* JSON key, "l3_network_ids"; the flag is --l3-network-ids */
	enum cli_ftype type;
	unsigned flags;
	const char *alias; /* another flag name, "l3"; NULL if none */
	const char *ref;   /* group name for CF_REF / CF_REF_LIST */
	const char *help;  /* "qcow2|raw|kernel", shown in --help */
};

enum cli_verb_kind {
	CV_LIST,
	CV_GET,
	CV_CREATE,
	CV_UPDATE,
	CV_DELETE,
	CV_ACTION, /* POST /v1/<plural>/{id}/actions/<action> */
	CV_CUSTOM, /* run() */
};

/* Fixed (non-field) options a verb accepts; global options are always accepted. */
enum cli_opt_mask {
	CO_GLOBAL = 1 << 0,  /* --url -o/--output --token -h/--help */
	CO_WAIT = 1 << 1,    /* --wait --timeout */
	CO_DATA = 1 << 2,    /* --data JSON|@file */
	CO_LIST = 1 << 3,    /* --q --sort --fields --limit --offset --all */
	CO_LOGIN = 1 << 4,   /* --password-file --print-token */
	CO_TIMEOUT = 1 << 5, /* --timeout alone (job wait) */
	/* Not an option: --all pages with after=<last id> instead of offset
	 * (events, whose list is ordered by id and pages that way). */
	CO_PAGE_AFTER = 1 << 6,
};

/* A fixed option: parsed by cli_args.c, listed by help and completion. */
struct cli_opt {
	const char *name;    /* "--timeout" */
	unsigned mask;       /* enum cli_opt_mask: the verbs that take it */
	const char *metavar; /* "S"; NULL = takes no value */
	const char *help;    /* NULL = an alias, not listed in help */
	int id;              /* internal to cli_args.c */
};

/* Terminated by name == NULL. */
extern const struct cli_opt cli_opts[];

struct cli_ctx;
struct cli_group;
struct cli_verb;
struct cli_args;

typedef int (*cli_run_fn)(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                          struct cli_args *a);

struct cli_verb {
	const char *name; /* "start" */
	enum cli_verb_kind kind;
	unsigned opts;    /* enum cli_opt_mask */
	int nargs;        /* positional arguments: exactly this many */
	const char *args; /* usage of the positionals, "NAME|ID" */
	/* Fields: the body for actions and custom verbs, extra query
	 * parameters for lists (events: after). Create and update take the
	 * group's tables. */
	const struct cli_field *fields;
	const char *action; /* CV_ACTION: last path segment */
	cli_run_fn run;     /* CV_CUSTOM */
	const char *summary;
};

struct cli_group {
	const char *name;     /* "vm"; also a top-level command when verbs has one nameless verb */
	const char *plural;   /* URL segment "vms"; NULL for commands that are not resources */
	bool named;           /* has unique-ish names: NAME arguments are looked up */
	const char *id_group; /* group that resolves the NAME|ID argument (quota: account) */
	const char *columns;  /* default table columns, "LABEL:path" or "path", comma list */
	const struct cli_field *create;
	const struct cli_field *update;
	const struct cli_verb *verbs; /* terminated by name == NULL */
	const char *create_note;      /* printed on stderr after a create */
	const char *summary;
};

/* All groups, terminated by name == NULL. Top-level commands (login,
 * logout, whoami, completion) are groups with one verb named "". */
extern const struct cli_group cli_groups[];

const struct cli_group *cli_group_find(const char *name);
const struct cli_verb *cli_verb_find(const struct cli_group *g, const char *name);
/* The field whose flag ("memory-mb") or alias ("l3") is name, or NULL. */
const struct cli_field *cli_field_find(const struct cli_field *fields, const char *flag);
/* The fields a verb takes (create/update use the group's). May be NULL. */
const struct cli_field *cli_verb_fields(const struct cli_group *g, const struct cli_verb *v);
/* "memory_mb" -> "memory-mb" into out. */
void cli_flag_name(const char *key, char *out, size_t outlen);

/* ---- argument parsing (cli_args.c) ---- */

enum cli_output {
	CLI_OUT_TABLE,
	CLI_OUT_JSON,
};

struct cli_global {
	const char *url;   /* weak (argv) or NULL */
	const char *token; /* weak (argv) or NULL */
	enum cli_output output;
	bool help;
};

struct cli_args {
	const char *pos[CLI_MAX_POS]; /* weak (argv) */
	int npos;
	json_t *body; /* owned; fields given as flags, NULL if none */
	bool wait;
	long timeout;             /* seconds; 0 = default */
	const char *data;         /* weak; --data value */
	const char *q[CLI_MAX_Q]; /* weak */
	int nq;
	const char *sort, *fields; /* weak */
	long long limit, offset;   /* -1 = not given */
	bool all;
	const char *password_file; /* weak */
	bool print_token;
};

void cli_args_init(struct cli_args *a);
void cli_args_clear(struct cli_args *a);

/* Parses global options from argv[*i] onwards while they come before the
 * command; stops at the first non-option word. Returns 0 or
 * CLI_EXIT_USAGE with err set. */
int cli_parse_global(int argc, char **argv, int *i, struct cli_global *g, char *err, size_t errlen);

/* Parses a verb's arguments (argv[0..argc-1], after the verb): positionals,
 * the verb's fixed options (opts mask), global options (into g) and field
 * flags (into a->body, typed per fields; reference fields keep the names
 * as given until cli_resolve_refs). 0 or CLI_EXIT_USAGE with err set. */
int cli_parse_args(const struct cli_field *fields, unsigned opts, int argc, char **argv,
                   struct cli_global *g, struct cli_args *a, char *err, size_t errlen);

/* Converts one flag value to JSON by type and stores it in body under
 * f->key (lists append). 0 or CLI_EXIT_USAGE with err set. */
int cli_set_field(json_t *body, const struct cli_field *f, const char *value, char *err,
                  size_t errlen);

/* The body to send: --data (JSON text or @file, "@-" = stdin) as a base,
 * field flags on top. *ret_body is a new reference or NULL when neither was
 * given. 0 or CLI_EXIT_USAGE. */
int cli_build_body(const struct cli_args *a, json_t **ret_body, char *err, size_t errlen);

/* True when a NAME|ID argument of group g is used as an id without a lookup:
 * it is a UUID, or the group has no names (jobs, events). */
bool cli_ref_is_id(const struct cli_group *g, const char *arg);

/* Looks up name in group g; 0 and *ret_id (malloc'd), or an exit code with
 * the message already printed. */
typedef int (*cli_resolve_fn)(void *cls, const struct cli_group *g, const char *name,
                              char **ret_id);

/* Replaces the names in the reference fields of body by ids, calling
 * resolve for every value that is not already an id. 0 or resolve's code. */
int cli_resolve_refs(const struct cli_field *fields, json_t *body, cli_resolve_fn resolve,
                     void *cls);

/* The query string of a list ("?limit=10&q=state%3Drunning..."), malloc'd;
 * "" when there is nothing. extra: the verb's query fields in a->body.
 * limit/offset override a's when >= 0. */
char *cli_list_query(const struct cli_args *a, long long limit, long long offset);

/* ---- output (cli_output.c) ---- */

/* One cell's text: strings as is, numbers, true/false, null and absent "-",
 * arrays of scalars comma-joined, other values compact JSON. malloc'd. */
char *cli_value_text(const json_t *v);
/* The value at path in o: "a.b" for nested objects, "nics[].ip" joins a
 * field of every element of an array. New reference, or NULL. */
json_t *cli_value_at(const json_t *o, const char *path);
/* Prints items as a table with the given columns ("LABEL:path,..."):
 * header, aligned columns, cells cut to CLI_CELL_MAX characters and
 * cleaned of control characters; "N of TOTAL" when total > items. */
void cli_print_table(FILE *out, const json_t *items, const char *columns, long long total);
/* Prints an object as "key  value" lines. */
void cli_print_object(FILE *out, const json_t *obj);
/* Replaces control characters (C0, DEL, C1) in place: nothing the server
 * sends may move the cursor or change the terminal. */
void cli_sanitize(char *s);
/* Formats an API error body as "<code>: <message> (field <f>)" into out. */
void cli_format_error(const struct http_result *res, char *out, size_t outlen);
/* Writes body followed by a newline unless it ends with one. */
void cli_print_raw(FILE *out, const char *body, size_t len);

/* ---- credentials (cli_config.c) ---- */

struct cli_creds {
	char *url, *token, *account, *user, *expires_at; /* owned; any may be NULL */
};

/* The directory: $KUMO_CONFIG_DIR, $XDG_CONFIG_HOME/kumo, ~/.config/kumo.
 * malloc'd, or NULL when none can be found. */
char *cli_config_dir(void);
/* Loads <dir>/credentials; 0 (nothing there is 0 with all NULL) or -errno. */
int cli_creds_load(const char *dir, struct cli_creds *c);
/* Writes <dir>/credentials (mode 0600, dir 0700). 0 or -errno. */
int cli_creds_save(const char *dir, const struct cli_creds *c);
void cli_creds_clear(struct cli_creds *c);
/* A password: from file (first line), else the environment variable env
 * (may be NULL), else the tty without echo (confirm asks twice). 0 and
 * *ret_password (malloc'd; wipe it after use) or an exit code with the message
 * printed. */
int cli_read_password(const char *file, const char *env, const char *prompt, bool confirm,
                      char **ret_password);
/* "http://h:8080/" -> "http://h:8080"; malloc'd. */
char *cli_url_normalize(const char *url);

/* ---- the running command (cli_resource.c) ---- */

struct cli_ctx {
	struct cli_global g;
	char *url;        /* owned; the effective URL */
	char *token;      /* owned; the effective token or NULL */
	bool token_saved; /* the token came from the credentials file */
	char *config_dir; /* owned; may be NULL */
	struct cli_creds creds;
	struct http_client *http; /* owned; created on first use */
	FILE *out, *err;          /* weak */
};

/* Fills url/token from options, environment and saved credentials. */
void cli_ctx_setup(struct cli_ctx *ctx);
void cli_ctx_free(struct cli_ctx *ctx);
struct http_client *cli_http(struct cli_ctx *ctx);

/* One API call. Returns 0 for a 2xx answer (res filled, caller clears), or
 * an exit code after printing the error (res cleared). */
int cli_call(struct cli_ctx *ctx, const char *method, const char *path, const json_t *body,
             long timeout_s, struct http_result *res);
/* The id for a NAME|ID argument of group g (malloc'd) or an exit code. */
int cli_lookup(struct cli_ctx *ctx, const struct cli_group *g, const char *arg, char **ret_id);
/* Runs a verb with its arguments (argv after the verb). */
int cli_run_verb(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v, int argc,
                 char **argv);
/* Prints what a write answered: a job (and waits when asked), a resource,
 * or "ok". */
int cli_print_answer(struct cli_ctx *ctx, struct cli_args *a, struct http_result *res,
                     const char *what);

/* ---- jobs and events (cli_job.c) ---- */

/* Polls GET /v1/jobs/{id}?wait= until the job is final or timeout_s passes;
 * prints progress on stderr. 0 when it succeeded, else an exit code. */
int cli_job_wait(struct cli_ctx *ctx, const char *job_id, long timeout_s);
/* The one-line status of a job: "job <id> <type> <state> <progress>%". */
void cli_job_line(const json_t *job, bool short_id, char *out, size_t outlen);
int cli_cmd_job_wait(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                     struct cli_args *a);
int cli_cmd_event_follow(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a);
/* kumo sg add-rule SG ... and kumo sg delete-rule SG RULE_ID (cli_sg.c) */
int cli_cmd_sg_add_rule(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                        struct cli_args *a);
int cli_cmd_sg_delete_rule(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                           struct cli_args *a);
/* kumo host sensors NAME [--history SENSOR [--since T] [--until T] [--limit N]]
 * (cli_host.c) */
int cli_cmd_host_sensors(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a);
/* kumo vm console NAME [--tail N] [--follow] (cli_console.c) */
int cli_cmd_vm_console(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                       struct cli_args *a);

/* Server-sent events parser: feed chunks, get one callback per event with
 * its data lines joined by "\n". Lines longer than the limit end the
 * stream with -EMSGSIZE. */
struct cli_sse {
	char *line; /* owned */
	size_t len, cap;
	char *data; /* owned; accumulated data of the current event */
	size_t dlen;
	char id[128]; /* last id: field */
	bool last_cr; /* the last byte was '\r' (a "\r\n" line end) */
	int (*on_event)(void *cls, const char *id, const char *data);
	void *cls; /* weak */
};

void cli_sse_init(struct cli_sse *s, int (*on_event)(void *cls, const char *id, const char *data),
                  void *cls);
/* 0, a nonzero value returned by on_event, or -EMSGSIZE. */
int cli_sse_feed(struct cli_sse *s, const char *p, size_t n);
void cli_sse_free(struct cli_sse *s);
/* "time type kind/id data" for one event object into a malloc'd string. */
char *cli_event_line(const json_t *ev);

/* ---- images (cli_image.c) ---- */

/* "qcow2", "kernel" (a tar archive) or "raw", from a file's first bytes. */
const char *cli_image_guess_format(const unsigned char *head, size_t len);
int cli_cmd_image_upload(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a);

/* ---- auth commands (cli_auth.c) ---- */

int cli_cmd_login(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                  struct cli_args *a);
int cli_cmd_logout(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                   struct cli_args *a);
int cli_cmd_whoami(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                   struct cli_args *a);

/* ---- help and completion (cli_help.c) ---- */

void cli_help_main(FILE *out);
void cli_help_group(FILE *out, const struct cli_group *g);
void cli_help_verb(FILE *out, const struct cli_group *g, const struct cli_verb *v);
/* The bash completion script, generated from the table (malloc'd). */
char *cli_completion_bash(void);
int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                       struct cli_args *a);
