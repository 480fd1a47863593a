// SPDX-License-Identifier: MIT
/*
 * Redfish core tests: the Base messages against the registry file in
 * ../shared/redfish/registries, the router (404, 405 with Allow, trailing
 * slashes, HEAD), authentication and privileges, ETags and preconditions,
 * the PATCH, create and action checks, query parameters, error bodies,
 * accounts and sessions (redfish_auth.c), and the HTTP transport
 * (redfish_http.c: fallback and error hooks of the HTTP server) with real
 * requests through libcurl. The service under test is a small "Widgets"
 * module defined here.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "agent/redfish_agent.h"
#include "common/json.h"
#include "common/redfish.h"
#include "common/redfish_auth.h"
#include "common/redfish_http.h"
#include "common/redfish_int.h"
#include "common/util.h"
#include "rf_req.h"

#define W RF_ROOT "/Widgets"

/* ---- the module under test ---- */

struct widget {
	char id[8];
	char name[32];
	int speed;
	char mode[16];
	bool enabled;
};

static struct widget widgets[3] = {
	{ "1", "one", 10, "Auto", true },
	{ "2", "two", 20, "Manual", false },
	{ "3", "three", 30, "Auto", true },
};
static int pokes;
static char custom_etag[32];

static struct widget *widget_find(const char *id)
{
	for (size_t i = 0; i < ARRAY_SIZE(widgets); i++)
		if (id && strcmp(widgets[i].id, id) == 0)
			return &widgets[i];
	return NULL;
}

static void list_widgets(struct rf_call *call)
{
	json_t *ids = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(widgets); i++)
		json_array_append_new(ids, json_sprintf("%s/%s", W, widgets[i].id));
	rf_reply_resource(call, rf_collection_new(W, "WidgetCollection", "Widgets", ids));
}

static void get_widget(struct rf_call *call)
{
	struct widget *w = widget_find(rf_param(call, "id"));
	char *path, *next;

	if (!w) {
		rf_reply_not_found(call);
		return;
	}
	path = xasprintf("%s/%s", W, w->id);
	next = xasprintf("%s/%d", W, w->id[0] == '3' ? 1 : w->id[0] - '0' + 1);
	rf_reply_resource(call,
	                  json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:{s:s}, s:{s:o}, "
	                            "s:o}",
	                            "@odata.id", path, "@odata.type", "#Widget.v1_0_0.Widget", "Id",
	                            w->id, "Name", w->name, "Speed", w->speed, "Mode", w->mode,
	                            "Enabled", w->enabled, "Status", "State", "Enabled", "Links",
	                            "Next", rf_link(next), "Parent", rf_link(W)));
	if (custom_etag[0])
		rf_set_etag(call, custom_etag);
	free(path);
	free(next);
}

static const char *const modes[] = { "Auto", "Manual", NULL };

static json_t *check_not_bad(const char *name, const json_t *v)
{
	if (strcmp(json_string_value(v), "bad") == 0)
		return rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, "bad", name, NULL);
	return NULL;
}

static const struct rf_prop widget_props[] = {
	{ .name = "Name", .type = RF_T_STRING, .min = 1, .max = 8, .check = check_not_bad },
	{ .name = "Speed", .type = RF_T_INT, .min = 0, .max = 100 },
	{ .name = "Mode", .type = RF_T_STRING, .values = modes },
	{ .name = "Enabled", .type = RF_T_BOOL },
	{ .name = "Status/State", .type = RF_T_STRING, .flags = RF_P_READONLY },
	{ 0 },
};

static void patch_widget(struct rf_call *call)
{
	struct widget *w = widget_find(rf_param(call, "id"));
	json_t *changes, *msgs;

	if (!w) {
		rf_reply_not_found(call);
		return;
	}
	if (rf_patch_check(call, widget_props, &changes, &msgs) < 0)
		return;
	if (jstr(changes, "Name"))
		snprintf(w->name, sizeof(w->name), "%s", jstr(changes, "Name"));
	w->speed = (int)jint(changes, "Speed", w->speed);
	if (jstr(changes, "Mode"))
		snprintf(w->mode, sizeof(w->mode), "%s", jstr(changes, "Mode"));
	w->enabled = jbool(changes, "Enabled", w->enabled);
	json_decref(changes);
	rf_reply_patched(call, msgs);
}

static const struct rf_prop poke_props[] = {
	{ .name = "Times", .type = RF_T_INT, .flags = RF_P_REQUIRED, .min = 1, .max = 5 },
	{ 0 },
};

static void poke_widget(struct rf_call *call)
{
	json_t *params;

	if (rf_action_check(call, "Widget.Poke", poke_props, &params) < 0)
		return;
	pokes += (int)jint(params, "Times", 0);
	json_decref(params);
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static void open_thing(struct rf_call *call)
{
	rf_reply_resource(call, json_pack("{s:s, s:s}", "@odata.id", RF_ROOT "/Open", "@odata.type",
	                                  "#Open.v1_0_0.Open"));
}

static void relay_get(struct rf_call *call)
{
	rf_reply_json(call, 200,
	              json_pack("{s:s, s:s}", "host", rf_param(call, "host"), "rest",
	                        rf_param(call, "rest")));
}

static void relay_info(struct rf_call *call)
{
	rf_reply_json(call, 200, json_pack("{s:s}", "info", rf_param(call, "host")));
}

static void get_current(struct rf_call *call)
{
	rf_reply_json(call, 200, json_pack("{s:s}", "who", call->who.user));
}

static const struct rf_route widget_routes[] = {
	{ "GET", W, list_widgets, RF_PRIV_LOGIN, 0 },
	{ "GET", W "/{id}", get_widget, RF_PRIV_LOGIN, 0 },
	{ "GET", W "/special", get_current, RF_PRIV_LOGIN, 0 },
	{ "PATCH", W "/{id}", patch_widget, RF_PRIV_CONFIGURE_COMPONENTS, 0 },
	{ "POST", W "/{id}/Actions/Widget.Poke", poke_widget, RF_PRIV_CONFIGURE_COMPONENTS, 0 },
	{ "GET", RF_ROOT "/Open", open_thing, 0, RF_OPEN },
	{ "GET", RF_ROOT "/Relay/{host}/{*rest}", relay_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_ROOT "/Relay/{host}/Info", relay_info, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const char *const widget_schemas[] = { "Widget.v1_0_0", "WidgetCollection", NULL };
static const struct rf_module widget_module = { "Widgets", widget_routes, widget_schemas };
static const struct rf_module *const modules[] = { &widget_module, NULL };

static const struct rf_principal admin = { "admin", "Administrator", 0x1f, "1", "" };
static const struct rf_principal reader = { "ro", "ReadOnly",
	                                    RF_PRIV_LOGIN | RF_PRIV_CONFIGURE_SELF, "9", "" };

static struct rf_service *svc;

/* ---- requests ---- */

static int req(const char *method, const char *path, const char *query, const char *body,
               struct rf_response *resp)
{
	return req_full(svc, method, path, query, body, &admin, NULL, resp);
}

static const char *first_msg(const struct rf_response *resp)
{
	json_t *info =
	    json_object_get(json_object_get(resp->body, "error"), "@Message.ExtendedInfo");

	if (!info)
		info = json_object_get(resp->body, "@Message.ExtendedInfo");
	return json_string_value(json_object_get(json_array_get(info, 0), "MessageId"));
}

/* Does the answer's ExtendedInfo hold a message with that key? */
static bool has_msg(const struct rf_response *resp, const char *key)
{
	json_t *info =
	    json_object_get(json_object_get(resp->body, "error"), "@Message.ExtendedInfo");
	json_t *m;
	size_t i;

	if (!info)
		info = json_object_get(resp->body, "@Message.ExtendedInfo");
	json_array_foreach(info, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "MessageId"));
		const char *dot = id ? strrchr(id, '.') : NULL;

		if (dot && strcmp(dot + 1, key) == 0)
			return true;
	}
	return false;
}

static int setup(void **state)
{
	struct rf_service_config cfg = { .modules = modules, .realm = "Test" };

	return rf_service_new(&cfg, &svc);
}

static int teardown(void **state)
{
	svc = rf_service_free(svc);
	return 0;
}

/* ---- messages ---- */

static json_t *load_base_registry(void)
{
	const char *dir = getenv("KUMO_REDFISH_SHARED") ?: "../shared/redfish";
	char *pattern = xasprintf("%s/registries/Base.*.json", dir);
	glob_t g;
	json_t *reg = NULL;

	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1)
		reg = json_load_file(g.gl_pathv[0], 0, NULL);
	globfree(&g);
	free(pattern);
	return reg;
}

static void test_messages_match_registry(void **state)
{
	json_t *reg = load_base_registry(), *msgs;

	assert_non_null(reg); /* run from the repository: ../shared must be there */
	assert_string_equal(json_string_value(json_object_get(reg, "Id")), rf_base_registry.id);
	assert_string_equal(json_string_value(json_object_get(reg, "RegistryPrefix")),
	                    rf_base_registry.prefix);
	msgs = json_object_get(reg, "Messages");
	assert_int_equal(rf_base_registry.n, RF_MSG_COUNT);
	for (size_t i = 0; i < rf_base_registry.n; i++) {
		const struct rf_message *m = &rf_base_registry.messages[i];
		json_t *r;

		assert_non_null(m->key); /* every enum value has its entry */
		r = json_object_get(msgs, m->key);
		if (!r)
			fail_msg("%s is not in the registry", m->key);
		assert_string_equal(m->message, json_string_value(json_object_get(r, "Message")));
		assert_string_equal(m->severity,
		                    json_string_value(json_object_get(r, "MessageSeverity")));
		assert_string_equal(m->resolution,
		                    json_string_value(json_object_get(r, "Resolution")));
		assert_int_equal(m->nargs, jint(r, "NumberOfArgs", 0));
	}
	json_decref(reg);
}

static void test_message_args(void **state)
{
	json_t *m = rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, "Blue", "Color", NULL);
	static const struct rf_message ev = { "Hot", "It is %1 degrees in %2.", "Warning", 2,
		                              "Cool it." };
	static const struct rf_registry evreg = { "Test.1.0.0", "Test", &ev, 1 };
	const char *args[] = { "90", "%1" };

	assert_string_equal(jstr(m, "MessageId"), "Base.1.22.1.PropertyValueNotInList");
	assert_string_equal(jstr(m, "Message"),
	                    "The value 'Blue' for the property Color is not in the list of "
	                    "acceptable values.");
	assert_int_equal(json_array_size(json_object_get(m, "MessageArgs")), 2);
	assert_string_equal(jstr(m, "MessageSeverity"), "Warning");
	assert_string_equal(jstr(m, "@odata.type"), RF_MESSAGE_TYPE);
	json_decref(m);

	/* Another registry: registered once, found by prefix; %n in an
	 * argument is not expanded again. */
	assert_int_equal(rf_registry_add(&evreg), 0);
	assert_int_equal(rf_registry_add(&evreg), 0);
	assert_ptr_equal(rf_registry_find("Test"), &evreg);
	assert_ptr_equal(rf_registry_find("Base"), &rf_base_registry);
	assert_null(rf_registry_find("Nope"));
	m = rf_msg_new(&evreg, rf_message_find(&evreg, "Hot"), args, 2);
	assert_string_equal(jstr(m, "MessageId"), "Test.1.0.0.Hot");
	assert_string_equal(jstr(m, "Message"), "It is 90 degrees in %1.");
	json_decref(m);
}

/* ---- routing ---- */

static void test_route_404_405(void **state)
{
	struct rf_response r;

	assert_int_equal(req("GET", W "/nope/deeper", NULL, NULL, &r), 404);
	assert_true(has_msg(&r, "ResourceMissingAtURI"));
	/* The error body's code is its first message. */
	assert_string_equal(jstr(json_object_get(r.body, "error"), "code"), first_msg(&r));
	rf_response_clear(&r);

	assert_int_equal(req("DELETE", W "/1", NULL, NULL, &r), 405);
	assert_true(has_msg(&r, "OperationNotAllowed"));
	assert_string_equal(rf_response_header(&r, "Allow"), "GET, HEAD, PATCH");
	rf_response_clear(&r);

	assert_int_equal(req("BREW", W "/1", NULL, NULL, &r), 405);
	rf_response_clear(&r);

	/* A literal segment wins over a parameter. */
	assert_int_equal(req("GET", W "/special", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "who"), "admin");
	rf_response_clear(&r);
}

static void test_route_tail(void **state)
{
	struct rf_response r;

	assert_int_equal(req("GET", RF_ROOT "/Relay/n%31/Systems/a%2Fb/", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "host"), "n1");
	assert_string_equal(jstr(r.body, "rest"), "Systems/a%2Fb");
	rf_response_clear(&r);
	/* The exact template wins over the tail at the same literal segments. */
	assert_int_equal(req("GET", RF_ROOT "/Relay/n1/Info", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "info"), "n1");
	rf_response_clear(&r);
	/* A tail is one segment or more. */
	assert_int_equal(req("GET", RF_ROOT "/Relay/n1", NULL, NULL, &r), 404);
	rf_response_clear(&r);
}

static void test_trailing_slash_and_head(void **state)
{
	struct rf_response r;
	char *etag;

	assert_int_equal(req("GET", W "/1/", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "Id"), "1");
	etag = xstrdup(rf_response_header(&r, "ETag"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W "//", NULL, NULL, &r), 200);
	rf_response_clear(&r);

	assert_int_equal(req("HEAD", W "/1", NULL, NULL, &r), 200);
	assert_null(r.body);
	assert_string_equal(rf_response_header(&r, "ETag"), etag);
	assert_string_equal(rf_response_header(&r, "Content-Type"),
	                    "application/json; charset=utf-8");
	rf_response_clear(&r);
	free(etag);
}

static void test_common_headers(void **state)
{
	struct rf_response r;

	assert_int_equal(req("GET", W "/2", NULL, NULL, &r), 200);
	assert_string_equal(rf_response_header(&r, "OData-Version"), "4.0");
	assert_string_equal(rf_response_header(&r, "Cache-Control"), "no-cache");
	assert_string_equal(rf_response_header(&r, "Allow"), "GET, HEAD, PATCH");
	assert_string_equal(rf_response_header(&r, "Link"),
	                    "<" RF_SCHEMA_URI "Widget.v1_0_0.json>; rel=describedby");
	assert_string_equal(jstr(r.body, "@odata.etag"), rf_response_header(&r, "ETag"));
	rf_response_clear(&r);

	assert_int_equal(req("GET", W, NULL, NULL, &r), 200);
	assert_string_equal(rf_response_header(&r, "Link"),
	                    "<" RF_SCHEMA_URI "WidgetCollection.json>; rel=describedby");
	rf_response_clear(&r);
}

/* ---- authentication and privileges ---- */

static void test_privileges(void **state)
{
	struct rf_response r;

	/* No credentials (and no account store): 401 with a challenge. */
	assert_int_equal(req_full(svc, "GET", W, NULL, NULL, NULL, NULL, &r), 401);
	assert_string_equal(rf_response_header(&r, "WWW-Authenticate"), "Basic realm=\"Test\"");
	assert_true(has_msg(&r, "AccessUnauthorized"));
	rf_response_clear(&r);
	/* A 404 is not told apart from a 401 without credentials. */
	assert_int_equal(req_full(svc, "GET", RF_ROOT "/Nothing", NULL, NULL, NULL, NULL, &r), 401);
	rf_response_clear(&r);
	/* Open routes need none. */
	assert_int_equal(req_full(svc, "GET", RF_ROOT "/Open", NULL, NULL, NULL, NULL, &r), 200);
	rf_response_clear(&r);

	assert_int_equal(req_full(svc, "GET", W "/1", NULL, NULL, &reader, NULL, &r), 200);
	rf_response_clear(&r);
	assert_int_equal(req_full(svc, "PATCH", W "/1", NULL, "{\"Speed\": 1}", &reader, NULL, &r),
	                 403);
	assert_true(has_msg(&r, "InsufficientPrivilege"));
	rf_response_clear(&r);
	assert_int_equal(widgets[0].speed, 10);
}

/* ---- ETags ---- */

static void test_etags(void **state)
{
	struct rf_response r;
	char *etag;
	struct hdrs h = { { "If-None-Match" }, { NULL } };

	assert_int_equal(req("GET", W "/1", NULL, NULL, &r), 200);
	etag = xstrdup(rf_response_header(&r, "ETag"));
	assert_true(etag[0] == '"');
	rf_response_clear(&r);

	h.values[0] = etag;
	assert_int_equal(req_full(svc, "GET", W "/1", NULL, NULL, &admin, &h, &r), 304);
	assert_null(r.body);
	rf_response_clear(&r);

	/* A stale If-Match: 412, nothing changes. */
	h.names[0] = "If-Match";
	h.values[0] = "\"0000000000000000\"";
	assert_int_equal(req_full(svc, "PATCH", W "/1", NULL, "{\"Speed\": 55}", &admin, &h, &r),
	                 412);
	assert_true(has_msg(&r, "PreconditionFailed"));
	rf_response_clear(&r);
	assert_int_equal(widgets[0].speed, 10);
	/* The same in the body's @odata.etag. */
	assert_int_equal(
	    req("PATCH", W "/1", NULL, "{\"Speed\": 55, \"@odata.etag\": \"\\\"00\\\"\"}", &r),
	    412);
	rf_response_clear(&r);
	/* On an action too (the ETag is the widget's). */
	assert_int_equal(req_full(svc, "POST", W "/1/Actions/Widget.Poke", NULL, "{\"Times\": 1}",
	                          &admin, &h, &r),
	                 412);
	rf_response_clear(&r);
	assert_int_equal(pokes, 0);

	/* The right one: 200 and a new ETag. */
	h.values[0] = etag;
	assert_int_equal(req_full(svc, "PATCH", W "/1", NULL, "{\"Speed\": 55}", &admin, &h, &r),
	                 200);
	assert_int_equal(jint(r.body, "Speed", 0), 55);
	assert_string_not_equal(rf_response_header(&r, "ETag"), etag);
	rf_response_clear(&r);
	assert_int_equal(widgets[0].speed, 55);

	/* A handler's own ETag is used as is, quoted. */
	snprintf(custom_etag, sizeof(custom_etag), "v7");
	assert_int_equal(req("GET", W "/2", NULL, NULL, &r), 200);
	assert_string_equal(rf_response_header(&r, "ETag"), "\"v7\"");
	assert_string_equal(jstr(r.body, "@odata.etag"), "\"v7\"");
	rf_response_clear(&r);
	h.values[0] = "W/\"v7\"";
	assert_int_equal(req_full(svc, "PATCH", W "/2", NULL, "{\"Speed\": 21}", &admin, &h, &r),
	                 200);
	assert_string_equal(rf_response_header(&r, "ETag"), "\"v7\"");
	rf_response_clear(&r);
	custom_etag[0] = '\0';
	free(etag);
	widgets[0].speed = 10;
	widgets[1].speed = 20;
}

/* ---- bodies ---- */

static void test_patch_errors(void **state)
{
	struct rf_response r;

	/* Only bad properties: 400 with every message, nothing changes. */
	assert_int_equal(req("PATCH", W "/3", NULL,
	                     "{\"Color\": \"red\", \"Id\": \"9\", \"Speed\": \"fast\", "
	                     "\"Mode\": \"Turbo\", \"Name\": \"much too long\", "
	                     "\"Status\": {\"State\": \"Absent\"}, \"Enabled\": 3}",
	                     &r),
	                 400);
	assert_true(has_msg(&r, "PropertyUnknown"));
	assert_true(has_msg(&r, "PropertyNotWritable"));
	assert_true(has_msg(&r, "PropertyValueTypeError"));
	assert_true(has_msg(&r, "PropertyValueNotInList"));
	assert_true(has_msg(&r, "StringValueTooLong"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r.body, "error"),
	                                                 "@Message.ExtendedInfo")),
	                 7);
	rf_response_clear(&r);
	assert_int_equal(widgets[2].speed, 30);
	assert_string_equal(widgets[2].mode, "Auto");

	assert_int_equal(req("PATCH", W "/3", NULL, "{\"Speed\": 101}", &r), 400);
	assert_true(has_msg(&r, "PropertyValueOutOfRange"));
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/3", NULL, "{\"Name\": \"bad\"}", &r), 400);
	assert_true(has_msg(&r, "PropertyValueFormatError"));
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/3", NULL, "{}", &r), 400);
	assert_true(has_msg(&r, "EmptyJSON"));
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/3", NULL, "{\"Speed\": ", &r), 400);
	assert_true(has_msg(&r, "MalformedJSON"));
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/3", NULL, "[1]", &r), 400);
	assert_true(has_msg(&r, "MalformedJSON"));
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/9", NULL, "{\"Speed\": 1}", &r), 404);
	rf_response_clear(&r);

	/* Some good, some bad: the good ones applied, 200 with the messages. */
	assert_int_equal(req("PATCH", W "/3", NULL, "{\"Speed\": 33, \"Color\": \"red\"}", &r),
	                 200);
	assert_int_equal(jint(r.body, "Speed", 0), 33);
	assert_true(has_msg(&r, "PropertyUnknown"));
	rf_response_clear(&r);
	assert_int_equal(widgets[2].speed, 33);
	widgets[2].speed = 30;
}

static void test_body_limit(void **state)
{
	struct rf_response r;
	char *big = xmalloc(RF_BODY_MAX + 100);

	memset(big, ' ', RF_BODY_MAX + 99);
	big[0] = '{';
	big[RF_BODY_MAX + 98] = '}';
	big[RF_BODY_MAX + 99] = '\0';
	assert_int_equal(req("PATCH", W "/3", NULL, big, &r), 413);
	assert_true(has_msg(&r, "PayloadTooLarge"));
	rf_response_clear(&r);
	free(big);
}

static void test_action_check(void **state)
{
	struct rf_response r;

	assert_int_equal(req("POST", W "/1/Actions/Widget.Poke", NULL, "{}", &r), 400);
	assert_true(has_msg(&r, "ActionParameterMissing"));
	rf_response_clear(&r);
	assert_int_equal(
	    req("POST", W "/1/Actions/Widget.Poke", NULL, "{\"Times\": 9, \"How\": 1}", &r), 400);
	assert_true(has_msg(&r, "ActionParameterValueOutOfRange"));
	assert_true(has_msg(&r, "ActionParameterUnknown"));
	rf_response_clear(&r);
	assert_int_equal(pokes, 0);
	assert_int_equal(req("POST", W "/1/Actions/Widget.Poke", NULL, "{\"Times\": 2}", &r), 200);
	assert_true(has_msg(&r, "Success"));
	rf_response_clear(&r);
	assert_int_equal(pokes, 2);
	pokes = 0;
}

/* ---- queries ---- */

static void test_top_skip(void **state)
{
	struct rf_response r;
	json_t *m;

	assert_int_equal(req("GET", W, "$top=1&$skip=1", NULL, &r), 200);
	m = json_object_get(r.body, "Members");
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(jstr(json_array_get(m, 0), "@odata.id"), W "/2");
	assert_int_equal(jint(r.body, "Members@odata.count", 0), 3);
	assert_string_equal(jstr(r.body, "Members@odata.nextLink"), W "?$skip=2&$top=1");
	rf_response_clear(&r);

	assert_int_equal(req("GET", W, "%24skip=2", NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "Members")), 1);
	assert_null(json_object_get(r.body, "Members@odata.nextLink"));
	rf_response_clear(&r);

	assert_int_equal(req("GET", W, "$top=abc", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryParameterValueFormatError"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$top=-1", NULL, &r), 400);
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$top=5000", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryParameterOutOfRange"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$skip=3", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryParameterOutOfRange"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W "/1", NULL, NULL, &r), 200);
	rf_response_clear(&r);
	assert_int_equal(req("GET", W "/1", "$top=1", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryNotSupportedOnResource"));
	rf_response_clear(&r);
}

static void test_query_refusals(void **state)
{
	struct rf_response r;

	assert_int_equal(req("GET", W, "$filter=Id%20eq%201", NULL, &r), 501);
	assert_true(has_msg(&r, "QueryNotSupported"));
	assert_true(has_msg(&r, "QueryParameterUnsupported"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$orderby=Id", NULL, &r), 501);
	rf_response_clear(&r);
	/* Unknown parameters without "$" are ignored. */
	assert_int_equal(req("GET", W, "foo=bar&excerpt&_=123", NULL, &r), 200);
	rf_response_clear(&r);
	assert_int_equal(req("PATCH", W "/1", "$select=Name", "{\"Speed\": 1}", &r), 400);
	assert_true(has_msg(&r, "QueryNotSupportedOnOperation"));
	rf_response_clear(&r);
	assert_int_equal(widgets[0].speed, 10);
	assert_int_equal(req("GET", W, "only&$top=1", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryCombinationInvalid"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$select=Na,,me", NULL, &r), 400);
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$expand=*($levels=4)", NULL, &r), 400);
	assert_true(has_msg(&r, "QueryParameterOutOfRange"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$expand=x", NULL, &r), 400);
	rf_response_clear(&r);
	assert_int_equal(req("GET", W, "$top=%zz", NULL, &r), 400);
	rf_response_clear(&r);
}

static void test_expand_select_only(void **state)
{
	struct rf_response r;
	json_t *m, *w;

	/* ".": the members, not what is under Links. */
	assert_int_equal(req("GET", W, "$expand=.", NULL, &r), 200);
	m = json_object_get(r.body, "Members");
	assert_int_equal(json_array_size(m), 3);
	w = json_array_get(m, 1);
	assert_string_equal(jstr(w, "Name"), "two");
	assert_null(jstr(json_object_get(json_object_get(w, "Links"), "Next"), "Name"));
	rf_response_clear(&r);

	/* "~" on a widget: only its Links. */
	assert_int_equal(req("GET", W "/1", "$expand=~", NULL, &r), 200);
	w = json_object_get(json_object_get(r.body, "Links"), "Next");
	assert_string_equal(jstr(w, "Name"), "two");
	rf_response_clear(&r);

	/* "*" with two levels: the members and their links. */
	assert_int_equal(req("GET", W, "$expand=*($levels=2)", NULL, &r), 200);
	w = json_array_get(json_object_get(r.body, "Members"), 0);
	assert_string_equal(jstr(json_object_get(json_object_get(w, "Links"), "Next"), "Name"),
	                    "two");
	rf_response_clear(&r);

	assert_int_equal(req("GET", W "/1", "$select=Name,Status/State", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "Name"), "one");
	assert_string_equal(jstr(json_object_get(r.body, "Status"), "State"), "Enabled");
	assert_non_null(jstr(r.body, "@odata.id"));
	assert_null(json_object_get(r.body, "Speed"));
	rf_response_clear(&r);

	/* only: a collection of three stays one. */
	assert_int_equal(req("GET", W, "only", NULL, &r), 200);
	assert_non_null(json_object_get(r.body, "Members"));
	rf_response_clear(&r);
	assert_int_equal(req("GET", W "/1", "only", NULL, &r), 400);
	rf_response_clear(&r);
}

static void test_protocol_features(void **state)
{
	json_t *f = rf_protocol_features();

	/* What is advertised is what the tests above exercise. */
	assert_true(jbool(f, "SelectQuery", false));
	assert_true(jbool(f, "OnlyMemberQuery", false));
	assert_true(jbool(f, "TopSkipQuery", false));
	assert_false(jbool(f, "FilterQuery", true));
	assert_false(jbool(f, "ExcerptQuery", true));
	assert_int_equal(jint(json_object_get(f, "ExpandQuery"), "MaxLevels", 0),
	                 RF_EXPAND_LEVELS_MAX);
	json_decref(f);
}

/* ---- accounts and sessions ---- */

static char *tmpdir_new(void)
{
	char *d = xstrdup("/tmp/kumo-test-redfish-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_rf(const char *d)
{
	char *p;

	for (const char *const *f = (const char *const[]){ RF_ACCOUNTS_FILE, RF_ADMIN_PASSWORD_FILE,
	                                                   RF_SESSIONS_FILE, NULL };
	     *f; f++) {
		p = xasprintf("%s/%s", d, *f);
		unlink(p);
		free(p);
	}
	rmdir(d);
}

/* Removes an agent data dir made by redfish_agent_start(). */
static void rm_rf_agent(const char *d)
{
	char *rf = xasprintf("%s/%s", d, RF_AGENT_DIR);
	char *uuid = xasprintf("%s/%s", rf, RF_UUID_FILE);

	unlink(uuid);
	rm_rf(rf);
	rmdir(d);
	free(uuid);
	free(rf);
}

static char *read_password(const char *d)
{
	char *p = xasprintf("%s/%s", d, RF_ADMIN_PASSWORD_FILE), *pw = NULL;

	assert_int_equal(file_read(p, 1024, &pw, NULL), 0);
	free(p);
	return str_rstrip(pw);
}

static void test_auth_bootstrap_and_basic(void **state)
{
	struct rf_auth_config cfg = { 0 };
	struct rf_principal who;
	struct rf_auth *a;
	struct stat st;
	char *d = tmpdir_new(), *pw, *p;
	int64_t t0, t1, t2;

	cfg.dir = d;
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_true(rf_auth_bootstrapped(a));
	p = xasprintf("%s/%s", d, RF_ADMIN_PASSWORD_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);
	p = xasprintf("%s/%s", d, RF_ACCOUNTS_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);
	pw = read_password(d);

	t0 = mono_ms();
	assert_int_equal(rf_auth_basic(a, "admin", pw, "198.51.100.1", &who), 0);
	t1 = mono_ms();
	assert_string_equal(who.role, "Administrator");
	assert_int_equal(who.privs, rf_role_find("Administrator")->privs);
	/* The second time comes from the cache: no Argon2id. */
	assert_int_equal(rf_auth_basic(a, "admin", pw, "198.51.100.1", &who), 0);
	t2 = mono_ms();
	assert_true(t2 - t1 <= (t1 - t0) / 4 + 1);
	assert_int_equal(rf_auth_basic(a, "admin", "wrong-password", "198.51.100.1", &who),
	                 -EACCES);
	assert_int_equal(rf_auth_basic(a, "nobody", pw, "198.51.100.1", &who), -EACCES);

	/* Reopened: the same account, no new password. */
	rf_auth_free(a);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_false(rf_auth_bootstrapped(a));
	assert_int_equal(rf_auth_basic(a, "admin", pw, "198.51.100.1", &who), 0);
	rf_auth_free(a);
	free(pw);
	rm_rf(d);
	free(d);
}

static void test_auth_lockout(void **state)
{
	struct rf_auth_config cfg = { 0 };
	struct rf_account_policy pol = { 3, 60, 60 };
	struct rf_principal who;
	char id[RF_NAME_MAX];
	struct rf_auth *a;
	struct kerr e;
	json_t *acct;
	char *d = tmpdir_new();

	cfg.dir = d;
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_auth_set_policy(a, &pol), 0);
	assert_int_equal(rf_account_create(a, "bob", "bob-password", "Operator", true, id, &e), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rf_auth_basic(a, "bob", "nope-nope", "198.51.100.2", &who),
		                 -EACCES);
	/* Locked: the right password is refused too. */
	assert_int_equal(rf_auth_basic(a, "bob", "bob-password", "198.51.100.2", &who), -EACCES);
	assert_int_equal(rf_account_get(a, id, &acct), 0);
	assert_true(jbool(acct, "locked", false));
	json_decref(acct);
	/* An administrator unlocks it. */
	acct = json_pack("{s:b}", "Locked", 0);
	assert_int_equal(rf_account_update(a, id, acct, NULL, &e), 0);
	json_decref(acct);
	assert_int_equal(rf_auth_basic(a, "bob", "bob-password", "198.51.100.2", &who), 0);
	assert_string_equal(who.role, "Operator");

	/* Too many failures from one address: refused for a while. */
	for (int i = 0; i < RF_ADDR_FAILURES_MAX; i++)
		rf_auth_basic(a, "ghost", "nope-nope", "198.51.100.3", &who);
	assert_int_equal(rf_auth_basic(a, "bob", "bob-password", "198.51.100.3", &who), -EAGAIN);
	assert_int_equal(rf_auth_basic(a, "bob", "bob-password", "198.51.100.4", &who), 0);
	rf_auth_free(a);
	rm_rf(d);
	free(d);
}

static void test_accounts(void **state)
{
	struct rf_auth_config cfg = { 0 };
	struct rf_principal who;
	char id[RF_NAME_MAX], admin_id[RF_NAME_MAX];
	struct rf_auth *a;
	struct kerr e;
	json_t *ch, *ids;
	char *d = tmpdir_new();

	cfg.dir = d;
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_account_find(a, "admin", admin_id), 0);
	assert_int_equal(rf_account_create(a, "carol", "short", "ReadOnly", true, id, &e), -EINVAL);
	assert_string_equal(e.field, "Password");
	assert_int_equal(rf_account_create(a, "bad name", "long-enough", "ReadOnly", true, id, &e),
	                 -EINVAL);
	assert_int_equal(rf_account_create(a, "carol", "long-enough", "King", true, id, &e),
	                 -EINVAL);
	assert_int_equal(rf_account_create(a, "carol", "long-enough", "ReadOnly", true, id, &e), 0);
	assert_int_equal(rf_account_create(a, "carol", "long-enough", "ReadOnly", true, id, &e),
	                 -EEXIST);
	ids = rf_account_ids(a);
	assert_int_equal(json_array_size(ids), 2);
	json_decref(ids);

	/* The last enabled Administrator cannot go. */
	assert_int_equal(rf_account_delete(a, admin_id), -EBUSY);
	ch = json_pack("{s:s}", "RoleId", "Operator");
	assert_int_equal(rf_account_update(a, admin_id, ch, NULL, &e), -EBUSY);
	json_decref(ch);
	ch = json_pack("{s:b}", "Enabled", 0);
	assert_int_equal(rf_account_update(a, admin_id, ch, NULL, &e), -EBUSY);
	json_decref(ch);

	/* A rename keeps the password; a disabled account cannot log in. */
	ch = json_pack("{s:s, s:s}", "UserName", "caroline", "RoleId", "Operator");
	assert_int_equal(rf_account_update(a, id, ch, NULL, &e), 0);
	json_decref(ch);
	assert_int_equal(rf_auth_basic(a, "caroline", "long-enough", "x", &who), 0);
	assert_string_equal(who.role, "Operator");
	ch = json_pack("{s:b}", "Enabled", 0);
	assert_int_equal(rf_account_update(a, id, ch, NULL, &e), 0);
	json_decref(ch);
	assert_int_equal(rf_auth_basic(a, "caroline", "long-enough", "x", &who), -EACCES);
	assert_int_equal(rf_account_delete(a, id), 0);
	assert_int_equal(rf_account_delete(a, id), -ENOENT);
	rf_auth_free(a);
	rm_rf(d);
	free(d);
}

static void test_sessions(void **state)
{
	struct rf_auth_config cfg = { 0 };
	struct rf_principal who;
	char id[RF_NAME_MAX], id2[RF_NAME_MAX], acct[RF_NAME_MAX];
	char *tok = NULL, *tok2 = NULL, *d = tmpdir_new();
	struct rf_auth *a;
	struct kerr e;
	json_t *s, *ch;

	cfg.dir = d;
	cfg.session_timeout_s = 45;
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_session_timeout(a), 45);
	assert_int_equal(rf_account_create(a, "dave", "dave-password", "ReadOnly", true, acct, &e),
	                 0);
	assert_int_equal(rf_session_create(a, "dave", "wrong-password", "x", &tok, id), -EACCES);
	assert_int_equal(rf_session_create(a, "dave", "dave-password", "x", &tok, id), 0);
	assert_int_equal(rf_session_create(a, "dave", "dave-password", "x", &tok2, id2), 0);
	assert_int_equal(strlen(tok), 64);
	assert_int_equal(rf_auth_token(a, tok, &who), 0);
	assert_string_equal(who.user, "dave");
	assert_string_equal(who.session_id, id);
	assert_int_equal(rf_session_get(a, id, &s), 0);
	assert_string_equal(jstr(s, "user"), "dave");
	json_decref(s);

	/* A new password ends the account's other sessions. */
	ch = json_pack("{s:s}", "Password", "dave-password-2");
	assert_int_equal(rf_account_update(a, acct, ch, id, &e), 0);
	json_decref(ch);
	assert_int_equal(rf_auth_token(a, tok, &who), 0);
	assert_int_equal(rf_auth_token(a, tok2, &who), -EACCES);

	assert_int_equal(rf_session_delete(a, id), 0);
	assert_int_equal(rf_auth_token(a, tok, &who), -EACCES);
	assert_int_equal(rf_session_delete(a, id), -ENOENT);
	assert_int_equal(rf_auth_token(a, "not-a-token", &who), -EACCES);

	assert_int_equal(rf_session_set_timeout(a, 5), -EINVAL);
	assert_int_equal(rf_session_set_timeout(a, 600), 0);
	rf_auth_free(a);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_session_timeout(a), 600); /* saved */
	rf_auth_free(a);
	free(tok);
	free(tok2);
	rm_rf(d);
	free(d);
}

/* Changes account acct (changes NULL: deletes it) and restarts *a with
 * the session file as it was before the change (the agent stopped before
 * writing it): the session of tok, the file's only one, must not come
 * back. */
static void change_then_stop(struct rf_auth **a, const struct rf_auth_config *cfg, const char *acct,
                             const json_t *changes, const char *tok)
{
	char *path = xasprintf("%s/%s", cfg->dir, RF_SESSIONS_FILE), *old = NULL;
	struct rf_principal who;
	struct kerr e;
	size_t len;
	int dropped;

	assert_int_equal(file_read(path, 1 << 20, &old, &len), 0);
	if (changes)
		assert_int_equal(rf_account_update(*a, acct, changes, NULL, &e), 0);
	else
		assert_int_equal(rf_account_delete(*a, acct), 0);
	rf_auth_free(*a);
	assert_int_equal(file_write_atomic(path, old, len, 0600), 0);
	assert_int_equal(rf_auth_open(cfg, a), 0);
	assert_int_equal(rf_auth_sessions_restored(*a, &dropped), 0);
	assert_int_equal(dropped, 1);
	assert_int_equal(rf_auth_token(*a, tok, &who), -EACCES);
	free(old);
	free(path);
}

/* DIR/sessions.json: sessions come back after a restart, unless deleted,
 * idle past the timeout, or their account is gone, disabled or has a new
 * password (also when the file was not written after the change); the file
 * has no token; a file that is not a session file is ignored. */
static void test_sessions_file(void **state)
{
	struct rf_auth_config cfg = { 0 };
	struct rf_principal who;
	char id[RF_NAME_MAX], id2[RF_NAME_MAX], acct[RF_NAME_MAX], hex[65];
	unsigned char h[32];
	char *tok = NULL, *tok2 = NULL, *d = tmpdir_new(), *path, *text = NULL;
	struct rf_auth *a;
	struct kerr e;
	struct stat st;
	json_t *ch, *doc;
	size_t len;
	int dropped;

	cfg.dir = d;
	cfg.session_timeout_s = 60;
	path = xasprintf("%s/%s", d, RF_SESSIONS_FILE);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_account_create(a, "erin", "erin-password", "Operator", true, acct, &e),
	                 0);
	assert_int_equal(rf_session_create(a, "erin", "erin-password", "x", &tok, id), 0);
	assert_int_equal(rf_session_create(a, "erin", "erin-password", "x", &tok2, id2), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(file_read(path, 1 << 20, &text, &len), 0);
	crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	assert_null(strstr(text, tok));
	assert_non_null(strstr(text, hex));
	free(text);
	assert_int_equal(rf_session_delete(a, id2), 0);

	/* Restarted: the first is back, the deleted one is not. */
	rf_auth_free(a);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_auth_sessions_restored(a, &dropped), 1);
	assert_int_equal(dropped, 0);
	assert_int_equal(rf_auth_token(a, tok, &who), 0);
	assert_string_equal(who.user, "erin");
	assert_string_equal(who.session_id, id);
	assert_int_equal(rf_auth_token(a, tok2, &who), -EACCES);

	/* A new password: the session stays away. */
	ch = json_pack("{s:s}", "Password", "erin-password-2");
	change_then_stop(&a, &cfg, acct, ch, tok);
	json_decref(ch);

	/* Idle past the timeout while the agent was down: ended. */
	free(tok);
	assert_int_equal(rf_session_create(a, "erin", "erin-password-2", "x", &tok, id), 0);
	rf_auth_free(a);
	doc = json_load_file(path, 0, NULL);
	assert_non_null(doc);
	jset_int(json_array_get(json_object_get(doc, "sessions"), 0), "last_ms",
	         now_ms() - 61 * 1000);
	assert_int_equal(json_dump_file(doc, path, 0), 0);
	json_decref(doc);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_auth_sessions_restored(a, &dropped), 0);
	assert_int_equal(dropped, 1);
	assert_int_equal(rf_auth_token(a, tok, &who), -EACCES);

	/* A disabled account's sessions stay away. */
	free(tok);
	assert_int_equal(rf_session_create(a, "erin", "erin-password-2", "x", &tok, id), 0);
	ch = json_pack("{s:b}", "Enabled", 0);
	change_then_stop(&a, &cfg, acct, ch, tok);
	json_decref(ch);
	/* ... and a deleted one's. */
	ch = json_pack("{s:b}", "Enabled", 1);
	assert_int_equal(rf_account_update(a, acct, ch, NULL, &e), 0);
	json_decref(ch);
	free(tok);
	assert_int_equal(rf_session_create(a, "erin", "erin-password-2", "x", &tok, id), 0);
	change_then_stop(&a, &cfg, acct, NULL, tok);
	rf_auth_free(a);

	/* Not a session file: ignored, the service starts. */
	assert_int_equal(file_write_atomic(path, "{\"sessions\": 7", 14, 0600), 0);
	assert_int_equal(rf_auth_open(&cfg, &a), 0);
	assert_int_equal(rf_auth_sessions_restored(a, &dropped), -EINVAL);
	rf_auth_free(a);

	free(tok);
	free(tok2);
	free(path);
	rm_rf(d);
	free(d);
}

/* The core with an account store: Basic and X-Auth-Token headers. */
static void test_service_credentials(void **state)
{
	struct rf_auth_config acfg = { 0 };
	struct rf_service_config cfg = { .modules = modules };
	struct rf_service *s;
	struct rf_response r;
	struct rf_auth *a;
	char *d = tmpdir_new(), *pw, *up, *basic, id[RF_NAME_MAX], *tok = NULL;
	char b64[256];
	struct hdrs h = { { "Authorization" }, { NULL } };

	acfg.dir = d;
	assert_int_equal(rf_auth_open(&acfg, &a), 0);
	cfg.auth = a;
	assert_int_equal(rf_service_new(&cfg, &s), 0);
	pw = read_password(d);
	up = xasprintf("admin:%s", pw);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)up, strlen(up),
	                  sodium_base64_VARIANT_ORIGINAL);
	basic = xasprintf("Basic %s", b64);
	h.values[0] = basic;
	assert_int_equal(req_full(s, "GET", W "/special", NULL, NULL, NULL, &h, &r), 200);
	assert_string_equal(jstr(r.body, "who"), "admin");
	rf_response_clear(&r);
	h.values[0] = "Basic !!!";
	assert_int_equal(req_full(s, "GET", W "/special", NULL, NULL, NULL, &h, &r), 401);
	rf_response_clear(&r);

	assert_int_equal(rf_session_create(a, "admin", pw, "x", &tok, id), 0);
	h.names[0] = "X-Auth-Token";
	h.values[0] = tok;
	assert_int_equal(req_full(s, "GET", W "/special", NULL, NULL, NULL, &h, &r), 200);
	rf_response_clear(&r);
	rf_session_delete(a, id);
	assert_int_equal(req_full(s, "GET", W "/special", NULL, NULL, NULL, &h, &r), 401);
	rf_response_clear(&r);
	/* OData-Version other than 4.0 is refused. */
	h.names[0] = "OData-Version";
	h.values[0] = "3.0";
	assert_int_equal(req_full(s, "GET", W "/1", NULL, NULL, &admin, &h, &r), 412);
	rf_response_clear(&r);

	rf_service_free(s);
	rf_auth_free(a);
	free(tok);
	free(up);
	free(basic);
	free(pw);
	rm_rf(d);
	free(d);
}

/* ---- the agent's service, through the channel entry ---- */

static json_t *relay(struct rf_agent *a, const char *fmt, ...)
{
	json_t *req, *ans;
	va_list ap;

	va_start(ap, fmt);
	req = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	assert_non_null(req);
	ans = redfish_agent_call(a, req);
	json_decref(req);
	return ans;
}

static void test_agent_relay(void **state)
{
	struct rf_agent_config cfg = { 0 };
	struct rf_agent *a;
	char *d = tmpdir_new(), *pw, *rfdir;
	const char *tok;
	json_t *ans, *login;

	cfg.data_dir = d;
	assert_int_equal(redfish_agent_start(&cfg, &a), 0);
	assert_int_equal(redfish_agent_port(a), 0); /* no listener */
	assert_null(redfish_agent_url(a));

	/* A caller kumod vouches for. */
	ans =
	    relay(a, "{s:s, s:s, s:{s:s, s:s}}", "method", "GET", "path", RF_ROOT "/AccountService",
	          "principal", "user", "alice", "role", "Administrator");
	assert_int_equal(jint(ans, "status", 0), 200);
	assert_string_equal(jstr(json_object_get(ans, "body"), "Id"), "AccountService");
	assert_non_null(jstr(json_object_get(ans, "headers"), "ETag"));
	json_decref(ans);
	ans = relay(a, "{s:s, s:s, s:{s:i}, s:{s:s, s:s}}", "method", "PATCH", "path",
	            RF_ROOT "/SessionService", "body", "SessionTimeout", 300, "principal", "user",
	            "bob", "role", "ReadOnly");
	assert_int_equal(jint(ans, "status", 0), 403);
	json_decref(ans);
	/* No principal and no credentials: 401. */
	ans = relay(a, "{s:s, s:s}", "method", "GET", "path", RF_ROOT "/SessionService");
	assert_int_equal(jint(ans, "status", 0), 401);
	json_decref(ans);
	/* A session of the agent's own, then its token in the headers. */
	rfdir = xasprintf("%s/%s", d, RF_AGENT_DIR);
	pw = read_password(rfdir);
	login =
	    relay(a, "{s:s, s:s, s:{s:s, s:s}}", "method", "POST", "path",
	          RF_ROOT "/SessionService/Sessions", "body", "UserName", "admin", "Password", pw);
	assert_int_equal(jint(login, "status", 0), 201);
	tok = jstr(json_object_get(login, "headers"), "X-Auth-Token");
	assert_non_null(tok);
	ans = relay(a, "{s:s, s:s, s:s, s:{s:s}}", "method", "GET", "path", RF_ROOT "/Roles",
	            "query", "", "headers", "x-auth-token", tok);
	assert_int_equal(jint(ans, "status", 0), 404);
	json_decref(ans);
	ans = relay(a, "{s:s, s:s, s:s, s:{s:s}}", "method", "GET", "path",
	            RF_ROOT "/AccountService/Roles", "query", "$top=1", "headers", "X-Auth-Token",
	            tok);
	assert_int_equal(jint(ans, "status", 0), 200);
	assert_int_equal(json_array_size(json_object_get(json_object_get(ans, "body"), "Members")),
	                 1);
	json_decref(ans);
	json_decref(login);
	/* A raw body ($metadata) comes back as a string. */
	ans = relay(a, "{s:s, s:s}", "method", "GET", "path", RF_ROOT "/$metadata");
	assert_int_equal(jint(ans, "status", 0), 200);
	assert_non_null(strstr(jstr(ans, "body"), "ServiceRoot.v1_20_0"));
	json_decref(ans);

	redfish_agent_stop(a);
	free(pw);
	rm_rf_agent(d);
	free(rfdir);
	free(d);
}

/* ---- over HTTP ---- */

struct got {
	long status;
	char body[8192];
	size_t len;
	char headers[4096];
	size_t hlen;
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct got *g = cls;
	size_t len = size * n, room = sizeof(g->body) - 1 - g->len;

	memcpy(g->body + g->len, p, len < room ? len : room);
	g->len += len < room ? len : room;
	g->body[g->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct got *g = cls;
	size_t len = size * n, room = sizeof(g->headers) - 1 - g->hlen;

	memcpy(g->headers + g->hlen, p, len < room ? len : room);
	g->hlen += len < room ? len : room;
	g->headers[g->hlen] = '\0';
	return len;
}

static void http_do(const char *url, const char *method, const char *body, size_t len, bool chunked,
                    struct got *g)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;

	memset(g, 0, sizeof(*g));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
	curl_easy_setopt(c, CURLOPT_USERPWD, "admin:wrong-password");
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	if (chunked) {
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

static void test_http_transport(void **state)
{
	struct rf_http_config hc = { .listen = "127.0.0.1:0", .svc = svc };
	struct rf_http *h;
	struct got g;
	json_t *v;
	char url[256];
	char *big;
	int port = 0;

	assert_int_equal(rf_http_start(&hc, &h, &port), 0);
	assert_true(port > 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d" RF_ROOT "/Open?$top=1", port);
	http_do(url, "GET", NULL, 0, false, &g);
	/* The query reached the core: $top on a resource is refused. */
	assert_int_equal(g.status, 400);
	assert_non_null(strcasestr(g.headers, "OData-Version: 4.0"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d" RF_ROOT "/Open", port);
	http_do(url, "GET", NULL, 0, false, &g);
	assert_int_equal(g.status, 200);
	assert_non_null(strcasestr(g.headers, "Content-Type: application/json; charset=utf-8"));
	/* A wrong password over Basic: 401 with the service's challenge. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d" W, port);
	http_do(url, "GET", NULL, 0, false, &g);
	assert_int_equal(g.status, 401);
	assert_non_null(strcasestr(g.headers, "WWW-Authenticate: Basic realm=\"Test\""));

	/* The server's own 413s (by Content-Length, and chunked) are Redfish errors. */
	big = xmalloc(RF_BODY_MAX + 10);
	memset(big, 'x', RF_BODY_MAX + 10);
	for (int chunked = 0; chunked < 2; chunked++) {
		http_do(url, "PATCH", big, RF_BODY_MAX + 10, chunked, &g);
		assert_int_equal(g.status, 413);
		v = json_loads(g.body, 0, NULL);
		assert_non_null(v);
		assert_string_equal(jstr(json_object_get(v, "error"), "code"),
		                    "Base.1.22.1.PayloadTooLarge");
		json_decref(v);
		assert_non_null(strcasestr(g.headers, "OData-Version: 4.0"));
	}
	free(big);
	rf_http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages_match_registry),
		cmocka_unit_test(test_message_args),
		cmocka_unit_test(test_route_404_405),
		cmocka_unit_test(test_route_tail),
		cmocka_unit_test(test_trailing_slash_and_head),
		cmocka_unit_test(test_common_headers),
		cmocka_unit_test(test_privileges),
		cmocka_unit_test(test_etags),
		cmocka_unit_test(test_patch_errors),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_action_check),
		cmocka_unit_test(test_top_skip),
		cmocka_unit_test(test_query_refusals),
		cmocka_unit_test(test_expand_select_only),
		cmocka_unit_test(test_protocol_features),
		cmocka_unit_test(test_auth_bootstrap_and_basic),
		cmocka_unit_test(test_auth_lockout),
		cmocka_unit_test(test_accounts),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_sessions_file),
		cmocka_unit_test(test_service_credentials),
		cmocka_unit_test(test_agent_relay),
		cmocka_unit_test(test_http_transport),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
