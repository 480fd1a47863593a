// SPDX-License-Identifier: MIT
/*
 * Unit tests of the kumo CLI's pure parts: option parsing into JSON bodies,
 * the name-or-id decision and reference resolution (with a fake resolver),
 * list query strings, table formatting, the SSE parser, the credentials
 * file, and the command table's own consistency. The generated bash
 * completion must match scripts/kumo-completion.bash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

#define UUID_A "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
#define UUID_B "11111111-2222-3333-4444-555555555555"

/* Parses argv (a NULL-terminated list) for group/verb; returns the code. */
static int parse(const char *group, const char *verb, struct cli_global *g, struct cli_args *a,
                 char *err, size_t errlen, const char *const *argv)
{
	const struct cli_group *grp = cli_group_find(group);
	const struct cli_verb *v;
	int argc = 0;

	assert_non_null(grp);
	v = cli_verb_find(grp, verb);
	assert_non_null(v);
	while (argv[argc])
		argc++;
	memset(g, 0, sizeof(*g));
	cli_args_init(a);
	err[0] = '\0';
	return cli_parse_args(cli_verb_fields(grp, v), v->opts, argc, (char **)argv, g, a, err,
	                      errlen);
}

/* The body as compact JSON, for exact comparisons. */
static void assert_body(const json_t *body, const char *expect)
{
	char *s = jdump(body);

	assert_string_equal(s, expect);
	free(s);
}

static void test_parse_vm_create_types(void **state)
{
	const char *argv[] = { "--name",
		               "web",
		               "--image",
		               "demo",
		               "--vcpus",
		               "2",
		               "--l3",
		               "net1",
		               "--l3",
		               "net2,net3",
		               "--memory-mb=512",
		               "--ssh-key",
		               "ssh-ed25519 AAAA a,b@c",
		               "--count",
		               "3",
		               NULL };
	struct cli_global g;
	struct cli_args a;
	char err[256];

	assert_int_equal(parse("vm", "create", &g, &a, err, sizeof(err), argv), 0);
	/* ints are numbers, --l3 lists append and split, ssh keys are never split */
	assert_body(a.body, "{\"name\":\"web\",\"image_id\":\"demo\",\"vcpus\":2,"
	                    "\"l3_network_ids\":[\"net1\",\"net2\",\"net3\"],\"memory_mb\":512,"
	                    "\"ssh_keys\":[\"ssh-ed25519 AAAA a,b@c\"],\"count\":3}");
	assert_int_equal(a.npos, 0);
	cli_args_clear(&a);
}

static void test_parse_bool_and_ranges(void **state)
{
	const char *argv[] = { "--name",
		               "n",
		               "--l2-network-id",
		               UUID_A,
		               "--shared",
		               "--ip-range",
		               "10.0.0.10-10.0.0.99,10.0.0.200",
		               "--service",
		               "dhcp,dns",
		               NULL };
	const char *argv_no[] = { "--no-shared", NULL };
	const char *argv_eq[] = { "--shared=false", NULL };
	const char *argv_empty[] = { "--dns", "1.1.1.1,,8.8.8.8,", "--service=", NULL };
	struct cli_global g;
	struct cli_args a;
	char err[256];

	assert_int_equal(parse("l3", "create", &g, &a, err, sizeof(err), argv), 0);
	assert_body(a.body, "{\"name\":\"n\",\"l2_network_id\":\"" UUID_A "\",\"shared\":true,"
	                    "\"ip_ranges\":[{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.99\"},"
	                    "{\"start\":\"10.0.0.200\",\"end\":\"10.0.0.200\"}],"
	                    "\"services\":[\"dhcp\",\"dns\"]}");
	cli_args_clear(&a);

	assert_int_equal(parse("l3", "create", &g, &a, err, sizeof(err), argv_no), 0);
	assert_body(a.body, "{\"shared\":false}");
	cli_args_clear(&a);
	assert_int_equal(parse("l3", "create", &g, &a, err, sizeof(err), argv_eq), 0);
	assert_body(a.body, "{\"shared\":false}");
	cli_args_clear(&a);
	/* empty items are dropped; an empty value gives an empty list (to clear it) */
	assert_int_equal(parse("l3", "create", &g, &a, err, sizeof(err), argv_empty), 0);
	assert_body(a.body, "{\"dns\":[\"1.1.1.1\",\"8.8.8.8\"],\"services\":[]}");
	cli_args_clear(&a);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *group, *verb;
		const char *argv[4];
		const char *msg; /* part of the error */
	} cases[] = {
		{ "vm", "create", { "--vcpus", "two", NULL }, "--vcpus takes an integer" },
		{ "vm", "create", { "--bogus", "1", NULL }, "unknown option --bogus" },
		{ "vm", "create", { "--name", NULL }, "--name needs a value" },
		{ "vm", "create", { "--ha", NULL }, "--ha needs a value" },
		{ "l3", "create", { "--ip-range", "10.0.0.1-10.0.0", NULL }, "START-END" },
		{ "l3", "create", { "--shared=maybe", NULL }, "true or false" },
		{ "l3", "create", { "--no-shared=1", NULL }, "takes no value" },
		{ "user", "create", { "--password", "hunter2", NULL }, "--password-file" },
		{ "vm", "list", { "--limit", "0", NULL }, "--limit takes 1-1000" },
		{ "vm", "list", { "--limit", "1001", NULL }, "--limit takes 1-1000" },
		{ "vm", "list", { "--wait", NULL }, "unknown option --wait" },
		{ "vm", "list", { "-o", "yaml", NULL }, "table or json" },
		{ "vm", "start", { "--timeout", "-5", NULL }, "--timeout takes seconds" },
	};
	struct cli_global g;
	struct cli_args a;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r =
		    parse(cases[i].group, cases[i].verb, &g, &a, err, sizeof(err), cases[i].argv);

		if (r != CLI_EXIT_USAGE || !strstr(err, cases[i].msg))
			fail_msg("case %zu: r=%d err='%s', want '%s'", i, r, err, cases[i].msg);
		cli_args_clear(&a);
	}
}

static void test_parse_globals_and_positionals(void **state)
{
	const char *argv[] = { "web",       "-o", "json", "--url=http://h:1", "--force", "--wait",
		               "--timeout", "30", NULL };
	const char *top[] = { "kumo", "--url", "http://x", "-o", "json", "vm", "list", NULL };
	const char *bad[] = { "kumo", "--frob", "vm", NULL };
	struct cli_global g;
	struct cli_args a;
	char err[256];
	int i = 1;

	assert_int_equal(parse("vm", "stop", &g, &a, err, sizeof(err), argv), 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(a.pos[0], "web");
	assert_int_equal(g.output, CLI_OUT_JSON);
	assert_string_equal(g.url, "http://h:1");
	assert_true(a.wait);
	assert_int_equal(a.timeout, 30);
	assert_body(a.body, "{\"force\":true}");
	cli_args_clear(&a);

	memset(&g, 0, sizeof(g));
	assert_int_equal(cli_parse_global(7, (char **)top, &i, &g, err, sizeof(err)), 0);
	assert_int_equal(i, 5); /* stops at the command */
	assert_string_equal(g.url, "http://x");
	assert_int_equal(g.output, CLI_OUT_JSON);

	i = 1;
	assert_int_equal(cli_parse_global(3, (char **)bad, &i, &g, err, sizeof(err)),
	                 CLI_EXIT_USAGE);
	assert_non_null(strstr(err, "--frob"));
}

static void test_build_body_data_merge(void **state)
{
	const char *argv[] = { "--data", "{\"name\":\"x\",\"zone_id\":\"" UUID_A "\"}", "--name",
		               "y", NULL };
	const char *bad[] = { "--data", "[1,2]", NULL };
	const char *notjson[] = { "--data", "{nope", NULL };
	char path[] = "/tmp/kumo-test-data-XXXXXX";
	const char *fromfile[] = { "--data", NULL, NULL };
	char at[64];
	struct cli_global g;
	struct cli_args a;
	json_t *body = NULL;
	char err[256];
	int fd;

	assert_int_equal(parse("cluster", "create", &g, &a, err, sizeof(err), argv), 0);
	assert_int_equal(cli_build_body(&a, &body, err, sizeof(err)), 0);
	/* flags win over --data */
	assert_body(body, "{\"name\":\"y\",\"zone_id\":\"" UUID_A "\"}");
	json_decref(body);
	cli_args_clear(&a);

	assert_int_equal(parse("cluster", "create", &g, &a, err, sizeof(err), bad), 0);
	assert_int_equal(cli_build_body(&a, &body, err, sizeof(err)), CLI_EXIT_USAGE);
	assert_non_null(strstr(err, "JSON object"));
	cli_args_clear(&a);
	assert_int_equal(parse("cluster", "create", &g, &a, err, sizeof(err), notjson), 0);
	assert_int_equal(cli_build_body(&a, &body, err, sizeof(err)), CLI_EXIT_USAGE);
	assert_non_null(strstr(err, "not JSON"));
	cli_args_clear(&a);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"name\":\"f\"}\n", 13), 13);
	close(fd);
	snprintf(at, sizeof(at), "@%s", path);
	fromfile[1] = at;
	assert_int_equal(parse("zone", "create", &g, &a, err, sizeof(err), fromfile), 0);
	assert_int_equal(cli_build_body(&a, &body, err, sizeof(err)), 0);
	assert_body(body, "{\"name\":\"f\"}");
	json_decref(body);
	cli_args_clear(&a);
	unlink(path);

	/* neither flags nor --data: no body */
	cli_args_init(&a);
	body = (json_t *)1;
	assert_int_equal(cli_build_body(&a, &body, err, sizeof(err)), 0);
	assert_null(body);
}

static void test_value_files(void **state)
{
	char path[] = "/tmp/kumo-test-keys-XXXXXX";
	char at[64];
	const char *argv[] = { "--ssh-key", NULL, "--user-data", NULL, NULL };
	const char *secret[] = { "--name", "u", "--password-file", NULL, NULL };
	struct cli_global g;
	struct cli_args a;
	char err[256];
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ssh-ed25519 AAA one\n\n# c\nssh-rsa BBB two\n", 41), 41);
	close(fd);
	snprintf(at, sizeof(at), "@%s", path);
	argv[1] = at;
	argv[3] = at;
	assert_int_equal(parse("vm", "create", &g, &a, err, sizeof(err), argv), 0);
	/* a key file gives one key per line; user data is the whole file */
	assert_body(a.body, "{\"ssh_keys\":[\"ssh-ed25519 AAA one\",\"ssh-rsa BBB two\"],"
	                    "\"user_data\":\"ssh-ed25519 AAA one\\n\\n# c\\nssh-rsa BBB two\\n\"}");
	cli_args_clear(&a);

	/* a password file: its first line */
	secret[3] = path;
	assert_int_equal(parse("user", "create", &g, &a, err, sizeof(err), secret), 0);
	assert_string_equal(jstr(a.body, "password"), "ssh-ed25519 AAA one");
	cli_args_clear(&a);
	unlink(path);

	argv[1] = "@/nonexistent/kumo";
	argv[2] = NULL;
	assert_int_equal(parse("vm", "create", &g, &a, err, sizeof(err), argv), CLI_EXIT_USAGE);
	assert_non_null(strstr(err, "cannot read /nonexistent/kumo"));
	cli_args_clear(&a);
}

static void test_ref_is_id(void **state)
{
	const struct cli_group *image = cli_group_find("image"), *job = cli_group_find("job");

	assert_true(cli_ref_is_id(image, UUID_A));
	assert_true(cli_ref_is_id(image, "0B1C2D3E-4F50-4617-8899-AABBCCDDEEFF"));
	assert_false(cli_ref_is_id(image, "demo"));
	assert_false(cli_ref_is_id(image, "0b1c2d3e-4f50-4617-8899-aabbccddeef")); /* 35 chars */
	assert_false(cli_ref_is_id(image, "0b1c2d3e-4f50-4617-8899-aabbccddeeffx"));
	/* groups without names take the argument as the id */
	assert_true(cli_ref_is_id(job, "anything"));
}

struct fake_resolver {
	int calls;
	char seen[8][64];
	int fail_on; /* call number that fails, 0 = none */
};

static int fake_resolve(void *cls, const struct cli_group *g, const char *name, char **ret_id)
{
	struct fake_resolver *f = cls;

	f->calls++;
	snprintf(f->seen[f->calls - 1], sizeof(f->seen[0]), "%s:%s", g->name, name);
	if (f->calls == f->fail_on)
		return CLI_EXIT_API;
	*ret_id = xasprintf("id-of-%s", name);
	return 0;
}

static void test_resolve_refs(void **state)
{
	const char *argv[] = { "--name",     "web",  "--image", "demo",
		               "--offering", UUID_B, "--l3",    "net1," UUID_A ",net2",
		               NULL };
	struct fake_resolver f = { 0 };
	struct cli_global g;
	struct cli_args a;
	char err[256];

	assert_int_equal(parse("vm", "create", &g, &a, err, sizeof(err), argv), 0);
	assert_int_equal(cli_resolve_refs(cli_group_find("vm")->create, a.body, fake_resolve, &f),
	                 0);
	/* names are looked up in the right group, UUIDs and plain fields are not */
	assert_int_equal(f.calls, 3);
	assert_string_equal(f.seen[0], "image:demo");
	assert_string_equal(f.seen[1], "l3:net1");
	assert_string_equal(f.seen[2], "l3:net2");
	assert_body(a.body, "{\"name\":\"web\",\"image_id\":\"id-of-demo\","
	                    "\"instance_offering_id\":\"" UUID_B "\","
	                    "\"l3_network_ids\":[\"id-of-net1\",\"" UUID_A "\",\"id-of-net2\"]}");
	cli_args_clear(&a);

	/* the resolver's error code comes back */
	memset(&f, 0, sizeof(f));
	f.fail_on = 1;
	assert_int_equal(parse("vm", "create", &g, &a, err, sizeof(err), argv), 0);
	assert_int_equal(cli_resolve_refs(cli_group_find("vm")->create, a.body, fake_resolve, &f),
	                 CLI_EXIT_API);
	cli_args_clear(&a);
}

static void test_list_query(void **state)
{
	const char *argv[] = { "--q",        "state=running", "--q",
		               "name~=web%", "--sort",        "-created_at",
		               "--fields",   "id,name",       "--limit",
		               "10",         "--offset",      "20",
		               NULL };
	const char *events[] = { "--after", "42", NULL };
	struct cli_global g;
	struct cli_args a;
	char err[256], *q;

	assert_int_equal(parse("vm", "list", &g, &a, err, sizeof(err), argv), 0);
	q = cli_list_query(&a, -1, -1);
	assert_string_equal(q, "?limit=10&offset=20&sort=-created_at&fields=id%2Cname"
	                       "&q=state%3Drunning&q=name~%3Dweb%25");
	free(q);
	/* --all overrides limit and offset per page */
	q = cli_list_query(&a, 1000, 2000);
	assert_non_null(strstr(q, "?limit=1000&offset=2000&"));
	free(q);
	cli_args_clear(&a);

	assert_int_equal(parse("event", "list", &g, &a, err, sizeof(err), events), 0);
	q = cli_list_query(&a, -1, -1);
	assert_string_equal(q, "?after=42");
	free(q);
	cli_args_clear(&a);

	cli_args_init(&a);
	q = cli_list_query(&a, -1, -1);
	assert_string_equal(q, "");
	free(q);
}

/* Runs fn's printing into a string. */
static char *capture_table(const char *json, const char *columns, long long total)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	json_t *items = jparse(json, strlen(json), NULL, 0);

	assert_non_null(f);
	assert_non_null(items);
	cli_print_table(f, items, columns, total);
	fclose(f);
	json_decref(items);
	return out;
}

static void test_table_format(void **state)
{
	char *s;

	s = capture_table("[{\"id\":\"a1\",\"name\":\"web\",\"vcpus\":2,\"ok\":true},"
	                  "{\"id\":\"b\",\"name\":\"database\",\"vcpus\":16,\"ok\":null}]",
	                  "id,name,CPUS:vcpus,ok", 2);
	assert_string_equal(s, "ID  NAME      CPUS  OK\n"
	                       "a1  web       2     true\n"
	                       "b   database  16    -\n");
	free(s);

	/* the footer when the server has more */
	s = capture_table("[{\"id\":\"a\"}]", "id", 250);
	assert_string_equal(s, "ID\na\n1 of 250\n");
	free(s);

	/* empty list: the header only */
	s = capture_table("[]", "id,name", 0);
	assert_string_equal(s, "ID  NAME\n");
	free(s);
}

static void test_table_cut_and_clean(void **state)
{
	char *s, *line2;
	const char *long50 = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx";
	char json[256];

	snprintf(json, sizeof(json), "[{\"d\":\"%s\",\"e\":\"x\\u001b[31my\\nz\\u009bq\"}]",
	         long50);
	s = capture_table(json, "d,e", 1);
	line2 = strchr(s, '\n') + 1;
	/* cut to CLI_CELL_MAX characters, ending in "..." */
	assert_memory_equal(line2, long50, CLI_CELL_MAX - 3);
	assert_memory_equal(line2 + CLI_CELL_MAX - 3, "...", 3);
	/* no escape sequences reach the terminal */
	assert_null(strchr(s, '\x1b'));
	assert_null(strstr(s, "\xc2\x9b"));
	assert_non_null(strstr(s, "x?[31my z??q"));
	free(s);
}

static void test_value_paths(void **state)
{
	const char *doc = "{\"nics\":[{\"ip\":\"10.0.0.5\"},{\"ip\":\"10.0.1.7\"},{}],"
	                  "\"used\":{\"vm_count\":3},\"tags\":[\"a\",\"b\"],\"o\":{\"k\":1},"
	                  "\"n\":1.5,\"e\":[]}";
	json_t *o = jparse(doc, strlen(doc), NULL, 0), *v;
	static const struct {
		const char *path, *text;
	} cases[] = {
		{ "nics[].ip", "10.0.0.5,10.0.1.7" },
		{ "used.vm_count", "3" },
		{ "tags", "a,b" },
		{ "o", "{\"k\":1}" },
		{ "n", "1.5" },
		{ "e", "-" },
		{ "missing", "-" },
		{ "used.missing", "-" },
		{ "tags[].x", "-" },
	};

	assert_non_null(o);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *t;

		v = cli_value_at(o, cases[i].path);
		t = cli_value_text(v);
		if (strcmp(t, cases[i].text) != 0)
			fail_msg("%s: '%s', want '%s'", cases[i].path, t, cases[i].text);
		free(t);
		json_decref(v);
	}
	json_decref(o);
}

static void test_print_object(void **state)
{
	const char *doc = "{\"id\":\"x\",\"memory_mb\":512,\"nics\":[{\"ip\":\"1.2.3.4\"}]}";
	json_t *o = jparse(doc, strlen(doc), NULL, 0);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cli_print_object(f, o);
	fclose(f);
	assert_string_equal(out, "id         x\n"
	                         "memory_mb  512\n"
	                         "nics       [{\"ip\":\"1.2.3.4\"}]\n");
	free(out);
	json_decref(o);
}

static void test_format_error(void **state)
{
	struct http_result res = { 0 };
	char msg[256];
	const char *body = "{\"error\":{\"code\":\"InvalidArgument\",\"message\":\"out of range\","
	                   "\"field\":\"vcpus\"}}";

	res.status = 400;
	res.json = jparse(body, strlen(body), NULL, 0);
	cli_format_error(&res, msg, sizeof(msg));
	assert_string_equal(msg, "InvalidArgument: out of range (field vcpus)");
	json_decref(res.json);

	body = "{\"error\":{\"code\":\"NotFound\",\"message\":\"no such vm\"}}";
	res.json = jparse(body, strlen(body), NULL, 0);
	cli_format_error(&res, msg, sizeof(msg));
	assert_string_equal(msg, "NotFound: no such vm");
	json_decref(res.json);

	/* not our JSON: the status and the first line of the body */
	res.json = NULL;
	res.status = 502;
	res.body = (char *)"Bad Gateway\nnginx";
	cli_format_error(&res, msg, sizeof(msg));
	assert_string_equal(msg, "HTTP 502: Bad Gateway");
}

struct sse_seen {
	int n;
	char ids[8][16];
	char data[8][128];
};

static int on_sse(void *cls, const char *id, const char *data)
{
	struct sse_seen *s = cls;

	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
	snprintf(s->data[s->n], sizeof(s->data[0]), "%s", data);
	s->n++;
	return 0;
}

static void test_sse_parser(void **state)
{
	const char *stream = ": keep-alive\n\nid: 7\r\ndata: {\"a\":1}\r\n\r\n"
	                     "event: x\ndata:line1\ndata: line2\n\nid: 9\ndata: last\n\n";
	struct sse_seen seen;
	struct cli_sse s;

	/* fed one byte at a time, and all at once: the same events */
	for (int pass = 0; pass < 2; pass++) {
		memset(&seen, 0, sizeof(seen));
		cli_sse_init(&s, on_sse, &seen);
		if (pass == 0) {
			for (size_t i = 0; stream[i]; i++)
				assert_int_equal(cli_sse_feed(&s, stream + i, 1), 0);
		} else {
			assert_int_equal(cli_sse_feed(&s, stream, strlen(stream)), 0);
		}
		assert_int_equal(seen.n, 3);
		assert_string_equal(seen.ids[0], "7");
		assert_string_equal(seen.data[0], "{\"a\":1}");
		assert_string_equal(seen.ids[1], "7"); /* the last id stays */
		assert_string_equal(seen.data[1], "line1\nline2");
		assert_string_equal(seen.ids[2], "9");
		assert_string_equal(seen.data[2], "last");
		cli_sse_free(&s);
	}
}

static void test_sse_line_limit(void **state)
{
	struct sse_seen seen = { 0 };
	struct cli_sse s;
	char *big = xmalloc(64 * 1024);
	int r = 0;

	memset(big, 'x', 64 * 1024);
	cli_sse_init(&s, on_sse, &seen);
	for (int i = 0; i < 40 && r == 0; i++)
		r = cli_sse_feed(&s, big, 64 * 1024);
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(seen.n, 0);
	cli_sse_free(&s);
	free(big);
}

static void test_event_line(void **state)
{
	const char *doc = "{\"id\":5,\"time\":\"2026-11-21T04:25:36.123Z\",\"type\":\"vm.state\","
	                  "\"resource_kind\":\"vm\",\"resource_id\":\"r1\","
	                  "\"data\":{\"state\":\"running\"}}";
	json_t *ev = jparse(doc, strlen(doc), NULL, 0);
	char *line = cli_event_line(ev);

	assert_string_equal(line,
	                    "2026-11-21T04:25:36.123Z vm.state vm/r1 {\"state\":\"running\"}");
	free(line);
	json_decref(ev);
}

static void test_job_line(void **state)
{
	const char *doc = "{\"id\":\"1b2c3d4e-0000-4000-8000-000000000000\",\"type\":\"vm.create\","
	                  "\"state\":\"running\",\"progress\":40}";
	json_t *job = jparse(doc, strlen(doc), NULL, 0);
	char line[256];

	cli_job_line(job, true, line, sizeof(line));
	assert_string_equal(line, "job 1b2c3d4e\xe2\x80\xa6 vm.create running 40%");
	json_object_set_new(job, "state", json_string("succeeded"));
	cli_job_line(job, false, line, sizeof(line));
	assert_string_equal(line, "job 1b2c3d4e-0000-4000-8000-000000000000 vm.create succeeded");
	json_decref(job);
}

static void test_config_dir(void **state)
{
	char *d;

	setenv("KUMO_CONFIG_DIR", "/x/kumo-conf", 1);
	d = cli_config_dir();
	assert_string_equal(d, "/x/kumo-conf");
	free(d);
	unsetenv("KUMO_CONFIG_DIR");
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	d = cli_config_dir();
	assert_string_equal(d, "/xdg/kumo");
	free(d);
	setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, as the XDG spec says */
	setenv("HOME", "/home/u", 1);
	d = cli_config_dir();
	assert_string_equal(d, "/home/u/.config/kumo");
	free(d);
	unsetenv("XDG_CONFIG_HOME");
}

static void test_creds_roundtrip(void **state)
{
	char dir[] = "/tmp/kumo-test-creds-XXXXXX";
	char *sub, *path;
	struct cli_creds c = { 0 }, back;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	sub = xasprintf("%s/a/kumo", dir);
	path = xasprintf("%s/credentials", sub);

	/* nothing saved yet is not an error */
	assert_int_equal(cli_creds_load(sub, &back), 0);
	assert_null(back.token);

	c.url = (char *)"http://h:8080";
	c.token = (char *)"t0k3n";
	c.account = (char *)"acme";
	c.user = (char *)"bob";
	c.expires_at = (char *)"2099-01-01T00:00:00.000Z";
	assert_int_equal(cli_creds_save(sub, &c), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(cli_creds_load(sub, &back), 0);
	assert_string_equal(back.url, "http://h:8080");
	assert_string_equal(back.token, "t0k3n");
	assert_string_equal(back.account, "acme");
	assert_string_equal(back.user, "bob");
	assert_string_equal(back.expires_at, "2099-01-01T00:00:00.000Z");
	cli_creds_clear(&back);

	/* a broken file is reported */
	assert_int_equal(file_write_atomic(path, "nope", 4, 0600), 0);
	assert_int_equal(cli_creds_load(sub, &back), -EINVAL);

	unlink(path);
	rmdir(sub);
	free(sub);
	sub = xasprintf("%s/a", dir);
	rmdir(sub);
	rmdir(dir);
	free(sub);
	free(path);
}

static void test_password_file(void **state)
{
	char path[] = "/tmp/kumo-test-pw-XXXXXX";
	char *pw = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret pass\r\nsecond line\n", 25), 25);
	close(fd);
	assert_int_equal(cli_read_password(path, NULL, "x", false, &pw), 0);
	assert_string_equal(pw, "s3cret pass");
	free(pw);

	/* empty file: a usage error */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(cli_read_password(path, NULL, "x", false, &pw), CLI_EXIT_USAGE);
	unlink(path);

	/* the environment comes next */
	setenv("KUMO_TEST_PW", "from-env", 1);
	assert_int_equal(cli_read_password(NULL, "KUMO_TEST_PW", "x", false, &pw), 0);
	assert_string_equal(pw, "from-env");
	free(pw);
	unsetenv("KUMO_TEST_PW");
}

static void test_url_normalize(void **state)
{
	char *u = cli_url_normalize("http://h:8080///");

	assert_string_equal(u, "http://h:8080");
	free(u);
}

/* The table itself: every reference names a group, flags are unique per
 * verb, every verb has what its kind needs. */
static void test_table_consistency(void **state)
{
	int groups = 0;

	for (const struct cli_group *g = cli_groups; g->name; g++, groups++) {
		assert_non_null(g->summary);
		assert_non_null(g->verbs);
		if (g->id_group)
			assert_non_null(cli_group_find(g->id_group));
		for (const struct cli_verb *v = g->verbs; v->name; v++) {
			const struct cli_field *fields = cli_verb_fields(g, v);

			assert_non_null(v->args);
			if (v->kind == CV_CUSTOM)
				assert_non_null(v->run);
			else
				assert_non_null(g->plural);
			if (v->kind == CV_CREATE)
				assert_non_null(g->create);
			if (v->kind == CV_UPDATE)
				assert_non_null(g->update);
			if (v->kind == CV_ACTION)
				assert_non_null(v->action);
			if (v->kind == CV_LIST)
				assert_non_null(g->columns);
			for (const struct cli_field *f = fields; f && f->key; f++) {
				char flag[128];

				if (f->type == CF_REF || f->type == CF_REF_LIST) {
					assert_non_null(f->ref);
					if (!cli_group_find(f->ref) ||
					    !cli_group_find(f->ref)->plural)
						fail_msg("%s %s --%s: bad ref %s", g->name, v->name,
						         f->key, f->ref);
				}
				/* each flag finds its own field (no shadowing) */
				cli_flag_name(f->key, flag, sizeof(flag));
				if (f->type == CF_SECRET)
					strcat(flag, "-file");
				if (cli_field_find(fields, flag) != f)
					fail_msg("%s %s: --%s is shadowed", g->name, v->name, flag);
				if (f->alias && cli_field_find(fields, f->alias) != f)
					fail_msg("%s %s: --%s is shadowed", g->name, v->name,
					         f->alias);
				/* the verb's fixed options never hide a field */
				for (const struct cli_opt *o = cli_opts; o->name; o++)
					if ((o->mask & (v->opts | CO_GLOBAL)) &&
					    strcmp(o->name + 2, flag) == 0)
						fail_msg("%s %s: --%s is also a fixed option",
						         g->name, v->name, flag);
			}
		}
	}
	/* the groups the task names are all there */
	static const char *const want[] = { "zone", "cluster", "host",  "image",  "offering",
		                            "l2",   "l3",      "vm",    "volume", "account",
		                            "user", "apikey",  "quota", "job",    "event" };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_non_null(cli_group_find(want[i]));
	assert_true(groups >= (int)ARRAY_SIZE(want));
	assert_string_equal(cli_group_find("offering")->plural, "instance-offerings");
	assert_string_equal(cli_group_find("apikey")->plural, "api-keys");
	assert_string_equal(cli_group_find("quota")->id_group, "account");
}

static void test_help_lists_table(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cli_help_group(f, cli_group_find("vm"));
	fclose(f);
	/* every verb and a few flags, straight from the table */
	for (const struct cli_verb *v = cli_group_find("vm")->verbs; v->name; v++)
		assert_non_null(strstr(out, v->name));
	assert_non_null(strstr(out, "--memory-mb"));
	assert_non_null(strstr(out, "--l3"));
	assert_non_null(strstr(out, "--force"));
	free(out);
}

static void test_completion_matches_script(void **state)
{
	char *gen = cli_completion_bash(), *file = NULL;
	size_t len = 0;
	int r = file_read("scripts/kumo-completion.bash", 1024 * 1024, &file, &len);

	if (r < 0) /* run from the top of the tree (make unit) */
		fail_msg("cannot read scripts/kumo-completion.bash: %s", strerror(-r));
	if (strcmp(gen, file) != 0)
		fail_msg("scripts/kumo-completion.bash is stale: build/kumo completion bash > "
		         "scripts/kumo-completion.bash");
	/* and it completes what the table has */
	assert_non_null(strstr(gen, "\"vm create\")"));
	assert_non_null(strstr(gen, "--ha) words=\"none restart\""));
	assert_non_null(strstr(gen, "--image|--image-id) words=$(_kumo_names image)"));
	/* a token never goes on a command line the script builds */
	assert_null(strstr(gen, "_kumo_gopts+=(--token"));
	free(gen);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_vm_create_types),
		cmocka_unit_test(test_parse_bool_and_ranges),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_globals_and_positionals),
		cmocka_unit_test(test_build_body_data_merge),
		cmocka_unit_test(test_value_files),
		cmocka_unit_test(test_ref_is_id),
		cmocka_unit_test(test_resolve_refs),
		cmocka_unit_test(test_list_query),
		cmocka_unit_test(test_table_format),
		cmocka_unit_test(test_table_cut_and_clean),
		cmocka_unit_test(test_value_paths),
		cmocka_unit_test(test_print_object),
		cmocka_unit_test(test_format_error),
		cmocka_unit_test(test_sse_parser),
		cmocka_unit_test(test_sse_line_limit),
		cmocka_unit_test(test_event_line),
		cmocka_unit_test(test_job_line),
		cmocka_unit_test(test_config_dir),
		cmocka_unit_test(test_creds_roundtrip),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_url_normalize),
		cmocka_unit_test(test_table_consistency),
		cmocka_unit_test(test_help_lists_table),
		cmocka_unit_test(test_completion_matches_script),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
