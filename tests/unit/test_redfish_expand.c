// SPDX-License-Identifier: MIT
/*
 * Redfish core tests of its own machinery (split from test_redfish.c): the
 * route templates split once, the $expand rule (which references are
 * expanded, checked against ../shared/redfish/json-schema), ETags of
 * expanded answers, the per-request memo, bodies kept and shared, and the
 * JSON writer. The service under test is a small "Gadgets" module.
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

#include <cmocka.h>

#include "common/json.h"
#include "common/redfish.h"
#include "common/redfish_int.h"
#include "common/util.h"
#include "rf_req.h"

static const struct rf_principal admin = { "admin", "Administrator", 0x1f, "1", "" };

/* ---- the core's own machinery: routes, $expand, ETags, bodies ---- */

/* A second service: gadgets whose bodies hold every kind of reference the
 * $expand rule tells apart, parts they name, a body kept and shared
 * (rf_body_keep()), and a per-request memo. */
#define G RF_ROOT "/Gadgets"

static int gadget_level[2] = { 1, 2 };
static int memo_makes;
static json_t *kept_gadget; /* the body /Gadgets/Kept answers, shared */

static void *levels_make(struct rf_call *call)
{
	int *copy = xmalloc(sizeof(gadget_level));

	memcpy(copy, gadget_level, sizeof(gadget_level));
	memo_makes++;
	return copy;
}

static char levels_key;

/* The gadgets' levels as this request sees them (one snapshot per GET
 * request, one per call in a write). */
static const int *levels_of(struct rf_call *call)
{
	return rf_call_memo(call, &levels_key, levels_make, free);
}

static void list_gadgets(struct rf_call *call)
{
	levels_of(call);
	rf_reply_resource(call, rf_collection_new(G, "GadgetCollection", "Gadgets",
	                                          json_pack("[s,s,s]", G "/1", G "/2", G "/Kept")));
}

static json_t *part_link(int n)
{
	char path[64];

	snprintf(path, sizeof(path), G "/Parts/%d", n);
	return rf_link(path);
}

static void get_gadget(struct rf_call *call)
{
	const char *id = rf_param(call, "id");
	const int *lv = levels_of(call);
	int i = id && (!strcmp(id, "1") || !strcmp(id, "2")) ? id[0] - '1' : -1;
	char path[64];

	if (i < 0) {
		rf_reply_not_found(call);
		return;
	}
	snprintf(path, sizeof(path), G "/%s", id);
	rf_reply_resource(
	    call,
	    json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:[o], s:{s:[{s:s, s:o}]}, s:[{s:o}], "
	              "s:{s:o}, s:{s:o, s:o, s:[o]}}",
	              "@odata.id", path, "@odata.type", "#Gadget.v1_0_0.Gadget", "Id", id, "Name",
	              "gadget", "Level", lv[i], "Part", part_link(1), "Memory", part_link(2),
	              "RelatedItem", part_link(2), "Status", "Conditions", "MessageId", "x",
	              "OriginOfCondition", part_link(1), "InterleaveSet", "Memory", part_link(1),
	              "@Redfish.Settings", "SettingsObject", part_link(1), "Links", "Next",
	              part_link(2), "Owner", part_link(1), "Parts", part_link(1)));
}

static void get_part(struct rf_call *call)
{
	const char *id = rf_param(call, "id");
	char path[64];

	if (!id || (strcmp(id, "1") && strcmp(id, "2"))) {
		rf_reply_not_found(call);
		return;
	}
	snprintf(path, sizeof(path), G "/Parts/%s", id);
	rf_reply_resource(call,
	                  json_pack("{s:s, s:s, s:s, s:s, s:f}", "@odata.id", path, "@odata.type",
	                            "#Part.v1_0_0.Part", "Id", id, "Name", "part", "Weight", 28.6));
}

/* Made and kept at its first GET. */
static void get_kept(struct rf_call *call)
{
	if (!kept_gadget) {
		kept_gadget =
		    json_pack("{s:s, s:s, s:s, s:s, s:f, s:{s:s}, s:s}", "@odata.id", G "/Kept",
		              "@odata.type", "#Gadget.v1_0_0.Gadget", "Id", "Kept", "Name", "kept",
		              "Weight", 0.1, "Status", "Health", "OK", "@odata.etag", "\"k1\"");
		rf_body_keep(kept_gadget);
	}
	rf_set_etag(call, "k1");
	rf_reply_resource(call, json_incref(kept_gadget));
}

static const struct rf_prop gadget_props[] = {
	{ .name = "Level", .type = RF_T_INT, .min = 0, .max = 100 },
	{ 0 },
};

static void patch_gadget(struct rf_call *call)
{
	const char *id = rf_param(call, "id");
	json_t *changes, *msgs;

	if (!id || (strcmp(id, "1") && strcmp(id, "2"))) {
		rf_reply_not_found(call);
		return;
	}
	if (rf_patch_check(call, gadget_props, &changes, &msgs) < 0)
		return;
	gadget_level[id[0] - '1'] = (int)jint(changes, "Level", gadget_level[id[0] - '1']);
	json_decref(changes);
	rf_reply_patched(call, msgs);
}

static void get_rest(struct rf_call *call)
{
	rf_reply_json(call, 200, json_pack("{s:s}", "rest", rf_param(call, "rest")));
}

static void get_rest_info(struct rf_call *call)
{
	rf_reply_json(call, 200, json_pack("{s:s}", "info", "yes"));
}

static const struct rf_route gadget_routes[] = {
	{ "GET", G, list_gadgets, RF_PRIV_LOGIN, 0 },
	{ "GET", G "/{id}", get_gadget, RF_PRIV_LOGIN, 0 },
	{ "PATCH", G "/{id}", patch_gadget, RF_PRIV_CONFIGURE_COMPONENTS, 0 },
	{ "GET", G "/Kept", get_kept, RF_PRIV_LOGIN, 0 },
	{ "GET", G "/Parts/{id}", get_part, RF_PRIV_LOGIN, 0 },
	{ "GET", G "/Relay/{*rest}", get_rest, RF_PRIV_LOGIN, 0 },
	{ "GET", G "/Relay/{host}/Info", get_rest_info, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const struct rf_module gadget_module = { "Gadgets", gadget_routes, NULL };
static const struct rf_module *const gadget_modules[] = { &gadget_module, NULL };

static struct rf_service *gadgets_new(void)
{
	struct rf_service_config cfg = { .modules = gadget_modules };
	struct rf_service *s;

	assert_int_equal(rf_service_new(&cfg, &s), 0);
	return s;
}

static int greq(struct rf_service *s, const char *method, const char *path, const char *query,
                struct hdrs *h, struct rf_response *resp)
{
	return req_full(s, method, path, query, NULL, &admin, h, resp);
}

/* The templates are split once, when the service is made: matching still
 * prefers literal segments, then an exact template over a "{*rest}". */
static void test_routes_presplit(void **state)
{
	struct rf_service *s = gadgets_new();
	struct rf_response r;
	char deep[512] = G;

	assert_int_equal(greq(s, "GET", G "/Kept/", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "@odata.id"), G "/Kept");
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/2", NULL, NULL, &r), 200);
	assert_int_equal(jint(r.body, "Level", 0), 2);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Parts/1", NULL, NULL, &r), 200);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Relay/a%2Fb/c/d", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "rest"), "a%2Fb/c/d");
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Relay/n1/Info", NULL, NULL, &r), 200);
	assert_string_equal(jstr(r.body, "info"), "yes");
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Relay", NULL, NULL, &r), 404);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "DELETE", G "/1", NULL, NULL, &r), 405);
	assert_string_equal(rf_response_header(&r, "Allow"), "GET, HEAD, PATCH");
	rf_response_clear(&r);
	assert_int_equal(greq(s, "DELETE", G "/Kept", NULL, NULL, &r), 405);
	assert_string_equal(rf_response_header(&r, "Allow"), "GET, HEAD, PATCH");
	rf_response_clear(&r);
	/* more segments than any template can have */
	for (int i = 0; i < 40; i++)
		strcat(deep, "/x");
	assert_int_equal(greq(s, "GET", deep, NULL, NULL, &r), 404);
	rf_response_clear(&r);
	assert_true(rf_service_has(s, "GET", G "/Parts/7"));
	assert_true(rf_service_has(s, "PATCH", G "/9/"));
	assert_false(rf_service_has(s, "PATCH", G "/Parts/7"));
	assert_false(rf_service_has(s, "GET", RF_ROOT "/Widgets"));
	rf_service_free(s);
}

static json_t *member(const json_t *body, size_t i)
{
	return json_array_get(json_object_get(body, "Members"), i);
}

/* $expand replaces navigation properties only: not the references the
 * schemas type as bare (RelatedItem, OriginOfCondition, Links.Owner,
 * InterleaveSet[].Memory), not what is in annotations. */
static void test_expand_rule(void **state)
{
	struct rf_service *s = gadgets_new();
	struct rf_response r;
	const json_t *g, *links;

	assert_int_equal(greq(s, "GET", G "/1", "$expand=.", NULL, &r), 200);
	g = r.body;
	assert_string_equal(jstr(json_object_get(g, "Part"), "Name"), "part");
	assert_string_equal(jstr(json_object_get(g, "Memory"), "Id"), "2");
	assert_int_equal(json_object_size(json_array_get(json_object_get(g, "RelatedItem"), 0)), 1);
	assert_int_equal(
	    json_object_size(json_object_get(
	        json_array_get(json_object_get(json_object_get(g, "Status"), "Conditions"), 0),
	        "OriginOfCondition")),
	    1);
	assert_int_equal(json_object_size(json_object_get(
	                     json_array_get(json_object_get(g, "InterleaveSet"), 0), "Memory")),
	                 1);
	assert_int_equal(json_object_size(json_object_get(json_object_get(g, "@Redfish.Settings"),
	                                                  "SettingsObject")),
	                 1);
	links = json_object_get(g, "Links");
	assert_int_equal(json_object_size(json_object_get(links, "Next")), 1);
	rf_response_clear(&r);

	/* "~": in Links only, and there too not the bare Owner */
	assert_int_equal(greq(s, "GET", G "/1", "$expand=~", NULL, &r), 200);
	links = json_object_get(r.body, "Links");
	assert_string_equal(jstr(json_object_get(links, "Next"), "Name"), "part");
	assert_string_equal(jstr(json_array_get(json_object_get(links, "Parts"), 0), "Name"),
	                    "part");
	assert_int_equal(json_object_size(json_object_get(links, "Owner")), 1);
	assert_int_equal(json_object_size(json_object_get(r.body, "Part")), 1);
	rf_response_clear(&r);

	/* "*" with two levels: the members, then what they name */
	assert_int_equal(greq(s, "GET", G, "$expand=*($levels=2)", NULL, &r), 200);
	g = member(r.body, 0);
	assert_string_equal(jstr(g, "Id"), "1");
	assert_string_equal(jstr(json_object_get(g, "Part"), "Name"), "part");
	assert_string_equal(jstr(json_object_get(json_object_get(g, "Links"), "Next"), "Name"),
	                    "part");
	assert_int_equal(json_object_size(json_array_get(json_object_get(g, "RelatedItem"), 0)), 1);
	rf_response_clear(&r);

	/* the rule's names */
	assert_true(rf_expand_bare_ref(NULL, "RelatedItem"));
	assert_true(rf_expand_bare_ref("Status", "OriginOfCondition"));
	assert_true(rf_expand_bare_ref("InterleaveSet", "Memory"));
	assert_false(rf_expand_bare_ref(NULL, "Memory"));
	assert_false(rf_expand_bare_ref("Links", "Memory"));
	assert_false(rf_expand_bare_ref(NULL, "Members"));
	assert_false(rf_expand_bare_ref("Links", "Chassis"));
	rf_service_free(s);
}

/* The names in the core's list are exactly the DMTF JSON schemas'
 * properties typed as bare references (idRef, or Resource.json's abstract
 * Item, Resource, ResourceCollection, ReferenceableMember). */
static bool schema_ref_bare(const json_t *p)
{
	static const char *const bare[] = {
		"odata-v4.json#/definitions/idRef",
		"Resource.json#/definitions/Item",
		"Resource.json#/definitions/Resource",
		"Resource.json#/definitions/ResourceCollection",
		"Resource.json#/definitions/ReferenceableMember",
	};
	const json_t *s = json_object_get(p, "items") ?: p, *any = json_object_get(s, "anyOf");
	const char *refs[16];
	size_t n = 0, i;
	json_t *a;

	refs[n++] = jstr(s, "$ref");
	json_array_foreach(any, i, a)
	{
		if (n < ARRAY_SIZE(refs))
			refs[n++] = jstr(a, "$ref");
	}
	for (i = 0; i < n; i++)
		for (size_t k = 0; refs[i] && k < ARRAY_SIZE(bare); k++)
			if (str_startswith(refs[i], RF_SCHEMA_URI) &&
			    !strcmp(refs[i] + strlen(RF_SCHEMA_URI), bare[k]))
				return true;
	return false;
}

static void test_expand_rule_matches_schemas(void **state)
{
	const char *dir = getenv("KUMO_REDFISH_SHARED") ?: "../shared/redfish";
	char *pattern = xasprintf("%s/json-schema/*.json", dir);
	json_t *bare = json_object(), *other = json_object();
	const char *name;
	json_t *v;
	glob_t g;

	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc > 100);
	for (size_t f = 0; f < g.gl_pathc; f++) {
		json_t *doc = json_load_file(g.gl_pathv[f], 0, NULL), *def;
		const char *dn;

		json_object_foreach(json_object_get(doc, "definitions"), dn, def)
		{
			const char *pn;
			json_t *p;

			json_object_foreach(json_object_get(def, "properties"), pn, p)
			{
				json_object_set_new(schema_ref_bare(p) ? bare : other, pn,
				                    json_true());
			}
		}
		json_decref(doc);
	}
	globfree(&g);
	free(pattern);
	assert_true(json_object_size(bare) >= 20);
	/* every bare one is in the list: anywhere, or where it is bare only */
	json_object_foreach(bare, name, v)
	{
		if (json_object_get(other, name))
			assert_false(rf_expand_bare_ref(NULL, name)); /* Memory */
		else if (!rf_expand_bare_ref(NULL, name))
			fail_msg("%s is a bare reference in the schemas, not in the core's list",
			         name);
	}
	assert_true(rf_expand_bare_ref("InterleaveSet", "Memory"));
	/* and nothing else is */
	for (size_t i = 0; (name = rf_expand_bare_ref_name(i)); i++)
		if (!json_object_get(bare, name))
			fail_msg("%s is in the core's list, not a bare reference in the schemas",
			         name);
	json_decref(bare);
	json_decref(other);
}

/* An answer with resources expanded in it has an ETag of its own, made
 * from the resource's and theirs: a member that changed is no 304. */
static void test_expand_etag(void **state)
{
	struct rf_service *s = gadgets_new();
	struct hdrs h = { { "If-None-Match" }, { NULL } };
	struct rf_response r;
	char *plain, *expanded, *again;

	assert_int_equal(greq(s, "GET", G, NULL, NULL, &r), 200);
	plain = xstrdup(rf_response_header(&r, "ETag"));
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G, "$expand=.", NULL, &r), 200);
	expanded = xstrdup(rf_response_header(&r, "ETag"));
	assert_string_equal(jstr(r.body, "@odata.etag"), expanded);
	assert_string_not_equal(expanded, plain);
	/* each member keeps its own */
	assert_non_null(jstr(member(r.body, 0), "@odata.etag"));
	rf_response_clear(&r);
	/* the same members: the same ETag, and 304 */
	h.values[0] = expanded;
	assert_int_equal(greq(s, "GET", G, "$expand=.", &h, &r), 304);
	assert_string_equal(rf_response_header(&r, "ETag"), expanded);
	rf_response_clear(&r);

	/* a member changes: the collection's own ETag does not, the
	 * expanded answer's does, and the old one is no match */
	gadget_level[1] = 7;
	assert_int_equal(greq(s, "GET", G, NULL, NULL, &r), 200);
	assert_string_equal(rf_response_header(&r, "ETag"), plain);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G, "$expand=.", &h, &r), 200);
	again = xstrdup(rf_response_header(&r, "ETag"));
	assert_string_not_equal(again, expanded);
	assert_int_equal(jint(member(r.body, 1), "Level", 0), 7);
	rf_response_clear(&r);
	h.values[0] = again;
	assert_int_equal(greq(s, "GET", G, "$expand=.", &h, &r), 304);
	rf_response_clear(&r);
	/* with nothing to expand, the resource's own */
	assert_int_equal(greq(s, "GET", G "/Parts/1", NULL, NULL, &r), 200);
	free(plain);
	plain = xstrdup(rf_response_header(&r, "ETag"));
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Parts/1", "$expand=*", NULL, &r), 200);
	assert_string_equal(rf_response_header(&r, "ETag"), plain);
	rf_response_clear(&r);
	gadget_level[1] = 2;
	free(plain);
	free(expanded);
	free(again);
	rf_service_free(s);
}

/* One snapshot per GET request, shared by the GETs its $expand makes;
 * in a write each GET makes its own, so the answer shows the change. */
static void test_call_memo(void **state)
{
	struct rf_service *s = gadgets_new();
	struct hdrs h = { { "If-Match" }, { NULL } };
	struct rf_response r;
	char *etag;

	memo_makes = 0;
	assert_int_equal(greq(s, "GET", G, "$expand=.", NULL, &r), 200);
	assert_int_equal(memo_makes, 1);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/1", NULL, NULL, &r), 200);
	assert_int_equal(memo_makes, 2);
	etag = xstrdup(rf_response_header(&r, "ETag"));
	rf_response_clear(&r);
	/* If-Match: a GET before the change, one after */
	h.values[0] = etag;
	assert_int_equal(req_full(s, "PATCH", G "/1", NULL, "{\"Level\": 9}", &admin, &h, &r), 200);
	assert_int_equal(jint(r.body, "Level", 0), 9);
	assert_int_equal(memo_makes, 4);
	rf_response_clear(&r);
	gadget_level[0] = 1;
	free(etag);
	rf_service_free(s);
}

/* A body a handler keeps and shares: answered, expanded and selected
 * without being changed, its bytes written as kept. */
static void test_shared_body(void **state)
{
	struct rf_service *s = gadgets_new();
	struct rf_response r;
	char *before, *bytes;
	size_t len, n;
	json_t *copy;

	assert_int_equal(greq(s, "GET", G "/Kept", NULL, NULL, &r), 200);
	before = json_dumps(kept_gadget, JSON_COMPACT);
	assert_ptr_equal(r.body, kept_gadget); /* its own ETag already: not copied */
	bytes = rf_response_bytes(&r, &len);
	assert_string_equal(bytes,
	                    "{\"@odata.id\":\"" G "/Kept\",\"@odata.type\":\"#Gadget.v1_0_0."
	                    "Gadget\",\"Id\":\"Kept\",\"Name\":\"kept\",\"Weight\":0.1,"
	                    "\"Status\":{\"Health\":\"OK\"},\"@odata.etag\":\"\\\"k1\\\"\"}");
	assert_int_equal(len, strlen(bytes));
	free(bytes);
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G "/Kept", "$select=Weight", NULL, &r), 200);
	assert_null(json_object_get(r.body, "Status"));
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G, "$expand=.($levels=2)", NULL, &r), 200);
	assert_string_equal(jstr(member(r.body, 2), "Name"), "kept");
	rf_response_clear(&r);
	assert_int_equal(greq(s, "GET", G, "$expand=.", NULL, &r), 200);
	assert_ptr_equal(member(r.body, 2), kept_gadget);
	bytes = rf_response_bytes(&r, &len);
	assert_non_null(strstr(bytes, "\"Weight\":0.1,"));
	free(bytes);
	rf_response_clear(&r);
	/* rf_get(): a top level of the caller's own */
	copy = rf_json_own(json_incref(kept_gadget));
	assert_ptr_not_equal(copy, kept_gadget);
	json_object_set_new(copy, "Name", json_string("changed"));
	json_decref(copy);
	/* nothing above changed it */
	bytes = json_dumps(kept_gadget, JSON_COMPACT);
	assert_string_equal(bytes, before);
	free(bytes);
	free(before);
	n = kept_gadget->refcount;
	rf_body_unkeep(kept_gadget);
	assert_int_equal(kept_gadget->refcount, n - 1);
	json_decref(kept_gadget);
	kept_gadget = NULL;
	rf_service_free(s);
}

/* The writer gives json_dumps()'s bytes, but reals in the fewest digits
 * that read back the same. */
static void test_json_writer(void **state)
{
	static const struct {
		double v;
		const char *text;
	} reals[] = {
		{ 28.6, "28.6" },
		{ 25.0, "25.0" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ -3.25, "-3.25" },
		{ 1e20, "1e20" },
		{ 1e-5, "1e-5" },
		{ -0.0, "-0.0" },
		{ 0.05, "0.05" },
		{ 123456.789, "123456.789" },
		{ 2.5e-7, "2.5e-7" },
		{ 1.0 / 3, "0.3333333333333333" },
	};
	json_t *v = json_pack("{s:s, s:i, s:I, s:b, s:n, s:[s, s, {}], s:{}, s:s}", "a\"\\\n\t/",
	                      "h\xc3\xa9\x01\x1f\x7f", "n", -5, "big", (json_int_t)INT64_MIN, "t",
	                      1, "z", "arr", "", "\xf0\x9f\x98\x80", "o", "k", "\b\f\r");
	struct rf_response r;
	char buf[RF_JSON_REAL_LEN], *mine, *theirs;
	size_t len;

	mine = rf_json_compact(v, &len);
	theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_string_equal(mine, theirs);
	assert_int_equal(len, strlen(theirs));
	free(mine);
	free(theirs);
	json_decref(v);
	for (size_t i = 0; i < ARRAY_SIZE(reals); i++) {
		json_t *j = json_real(reals[i].v);

		assert_int_equal(rf_json_real(reals[i].v, buf), strlen(reals[i].text));
		assert_string_equal(buf, reals[i].text);
		assert_true(strtod(buf, NULL) == reals[i].v);
		mine = rf_json_compact(j, &len);
		assert_string_equal(mine, reals[i].text);
		free(mine);
		json_decref(j);
	}
	/* bad UTF-8 is left to jansson, which refuses it too: no body */
	v = json_stringn_nocheck("a\xff", 2);
	assert_null(rf_json_compact(v, &len));
	rf_response_init(&r);
	r.body = v;
	mine = rf_response_bytes(&r, &len);
	assert_int_equal(len, 0);
	free(mine);
	rf_response_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_presplit),
		cmocka_unit_test(test_expand_rule),
		cmocka_unit_test(test_expand_rule_matches_schemas),
		cmocka_unit_test(test_expand_etag),
		cmocka_unit_test(test_call_memo),
		cmocka_unit_test(test_shared_body),
		cmocka_unit_test(test_json_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
