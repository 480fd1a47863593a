// SPDX-License-Identifier: MIT
/*
 * Router tests: literal segments beat parameters, parameters are decoded
 * and bounded, 404 vs 405 (with the Allow list), trailing slashes, bad
 * encodings; and the OpenAPI document generated from a route table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/http.h"
#include "common/json.h"

static void h_dummy(struct http_request *req, struct http_response *resp)
{
}

/* Each handler is told apart by the route it comes from. */
static const struct field vm_create_fields[] = {
	{ .name = "name", .type = FT_NAME, .flags = F_REQUIRED },
	{ .name = "vcpus", .type = FT_INT, .min = 1, .max = 256 },
	{ .name = "state", .type = FT_STRING, .flags = F_READONLY },
	{ 0 },
};
static const struct schema vm_create = { "VmCreate", vm_create_fields };

static const struct route vm_routes[] = {
	{ "GET", "/v1/vms", h_dummy, 1, NULL, HTTP_LIST, "List VMs", 0, "vms" },
	{ "POST", "/v1/vms", h_dummy, 2, &vm_create, HTTP_JOB, "Create VMs", 0, "vms" },
	{ "GET", "/v1/vms/{id}", h_dummy, 1, NULL, 0, "Get a VM", 0, "vms" },
	{ "PATCH", "/v1/vms/{id}", h_dummy, 2, &vm_create, 0, "Update a VM", 0, "vms" },
	{ "DELETE", "/v1/vms/{id}", h_dummy, 2, NULL, HTTP_JOB, "Destroy a VM", 0, "vms" },
	{ "GET", "/v1/vms/actions", h_dummy, 1, NULL, 0, "VM actions", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/start", h_dummy, 2, NULL, HTTP_JOB, "Start", 0, "vms" },
	{ "GET", "/v1/vms/{vm_id}/nics/{nic_id}", h_dummy, 1, NULL, 0, "Get a NIC", 0, "vms" },
	{ 0 },
};

static const struct route session_routes[] = {
	{ "POST", "/v1/sessions", h_dummy, 0, NULL, HTTP_RAW_BODY, "Log in", 0, "auth" },
	{ "GET", "/v1/sessions/{id}", h_dummy, 1, NULL, 0, NULL, 0, NULL },
	{ "DELETE", "/v1/sessions/current", h_dummy, 1, NULL, 0, "Log out", 0, "auth" },
	{ "GET", "/", h_dummy, 0, NULL, HTTP_HIDDEN, "Root", 0, NULL },
	{ "GET", "/v1/hidden", h_dummy, 0, NULL, HTTP_HIDDEN, "Hidden", 0, NULL },
	{ 0 },
};

static const struct route *const tables[] = { vm_routes, session_routes, NULL };

static const struct route *find(const char *method, const char *path)
{
	for (const struct route *const *t = tables; *t; t++)
		for (const struct route *r = *t; r->method; r++)
			if (!strcmp(r->method, method) && !strcmp(r->path, path))
				return r;
	return NULL;
}

/* Matches and returns the result; req gets the params (caller clears). */
static int match(const char *method, const char *path, struct http_request *req,
                 const struct route **route, char *allow, size_t allowlen)
{
	memset(req, 0, sizeof(*req));
	*route = NULL;
	return http_route_match(tables, method, path, req, route, allow, allowlen);
}

static void test_literal_beats_param(void **state)
{
	struct http_request req;
	const struct route *r;
	char allow[64];

	assert_int_equal(match("GET", "/v1/vms/actions", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms/actions"));
	assert_int_equal(req.nparams, 0);
	http_request_clear_params(&req);

	assert_int_equal(match("GET", "/v1/vms/abc", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms/{id}"));
	assert_ptr_equal(req.route, r);
	assert_int_equal(req.nparams, 1);
	assert_string_equal(http_param(&req, "id"), "abc");
	assert_null(http_param(&req, "i"));
	assert_null(http_param(&req, "idx"));
	http_request_clear_params(&req);
	assert_int_equal(req.nparams, 0);

	/* DELETE /v1/sessions/current is literal; GET falls to {id}. */
	assert_int_equal(match("DELETE", "/v1/sessions/current", &req, &r, allow, sizeof(allow)),
	                 0);
	assert_ptr_equal(r, find("DELETE", "/v1/sessions/current"));
	assert_int_equal(req.nparams, 0);
	assert_int_equal(match("GET", "/v1/sessions/current", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/sessions/{id}"));
	assert_string_equal(http_param(&req, "id"), "current");
	http_request_clear_params(&req);
}

static void test_params(void **state)
{
	struct http_request req;
	const struct route *r;
	char allow[64];

	assert_int_equal(
	    match("GET", "/v1/vms/a%2Db%20c/nics/n%C3%A9", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms/{vm_id}/nics/{nic_id}"));
	assert_int_equal(req.nparams, 2);
	assert_string_equal(http_param(&req, "vm_id"), "a-b c");
	assert_string_equal(http_param(&req, "nic_id"), "n\xc3\xa9");
	http_request_clear_params(&req);

	assert_int_equal(match("POST", "/v1/vms/x/actions/start", &req, &r, allow, sizeof(allow)),
	                 0);
	assert_ptr_equal(r, find("POST", "/v1/vms/{id}/actions/start"));
	assert_string_equal(http_param(&req, "id"), "x");
	http_request_clear_params(&req);

	/* A NULL req is allowed: only the route is wanted. */
	r = NULL;
	assert_int_equal(http_route_match(tables, "GET", "/v1/vms/zz", NULL, &r, NULL, 0), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms/{id}"));
}

static void test_bad_params(void **state)
{
	struct http_request req;
	const struct route *r;
	char allow[64];
	char path[1200];

	/* '/' after decoding, NUL, bad or short escapes: no such resource. */
	assert_int_equal(match("GET", "/v1/vms/a%2Fb", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1/vms/a%2fb", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1/vms/a%00b", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1/vms/a%zzb", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1/vms/ab%4", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1/vms/ab%", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_null(r);
	assert_int_equal(req.nparams, 0);

	/* 256 decoded bytes pass, 257 do not. */
	strcpy(path, "/v1/vms/");
	memset(path + 8, 'a', 256);
	path[8 + 256] = '\0';
	assert_int_equal(match("GET", path, &req, &r, allow, sizeof(allow)), 0);
	assert_int_equal(strlen(http_param(&req, "id")), 256);
	http_request_clear_params(&req);
	strcat(path, "a");
	assert_int_equal(match("GET", path, &req, &r, allow, sizeof(allow)), -ENOENT);
	/* 256 decoded bytes written as 768 encoded ones are fine. */
	strcpy(path, "/v1/vms/");
	for (int i = 0; i < 256; i++)
		strcat(path, "%41");
	assert_int_equal(match("GET", path, &req, &r, allow, sizeof(allow)), 0);
	assert_int_equal(strlen(http_param(&req, "id")), 256);
	assert_int_equal(http_param(&req, "id")[255], 'A');
	http_request_clear_params(&req);

	/* Empty segments never match a parameter. */
	assert_int_equal(match("GET", "/v1/vms//nics/x", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1//vms", &req, &r, allow, sizeof(allow)), -ENOENT);
	/* Literals compare raw: an encoded literal is another path. */
	assert_int_equal(match("GET", "/v1/%76ms", &req, &r, allow, sizeof(allow)), -ENOENT);
	/* Not a path at all. */
	assert_int_equal(match("GET", "*", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "", &req, &r, allow, sizeof(allow)), -ENOENT);
}

static void test_404_405(void **state)
{
	struct http_request req;
	const struct route *r;
	char allow[64];
	char small[16];

	assert_int_equal(match("GET", "/v1/nothing", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_string_equal(allow, "");
	assert_int_equal(match("GET", "/v1/vms/x/y", &req, &r, allow, sizeof(allow)), -ENOENT);
	assert_int_equal(match("GET", "/v1", &req, &r, allow, sizeof(allow)), -ENOENT);

	assert_int_equal(match("PUT", "/v1/vms", &req, &r, allow, sizeof(allow)), -EOPNOTSUPP);
	assert_string_equal(allow, "GET, POST");
	assert_null(r);
	assert_int_equal(match("POST", "/v1/vms/abc", &req, &r, allow, sizeof(allow)), -EOPNOTSUPP);
	assert_string_equal(allow, "GET, PATCH, DELETE");
	/* Every method that matches the path, whichever template. */
	assert_int_equal(match("PUT", "/v1/sessions/current", &req, &r, allow, sizeof(allow)),
	                 -EOPNOTSUPP);
	assert_string_equal(allow, "GET, DELETE");
	assert_int_equal(match("GET", "/v1/vms/abc/actions/start", &req, &r, allow, sizeof(allow)),
	                 -EOPNOTSUPP);
	assert_string_equal(allow, "POST");
	/* Methods are case-sensitive. */
	assert_int_equal(match("get", "/v1/vms", &req, &r, allow, sizeof(allow)), -EOPNOTSUPP);
	/* A short buffer keeps whole names only. */
	assert_int_equal(match("POST", "/v1/vms/abc", &req, &r, small, sizeof(small)), -EOPNOTSUPP);
	assert_string_equal(small, "GET, PATCH");
	/* No buffer at all still answers 405. */
	assert_int_equal(http_route_match(tables, "PUT", "/v1/vms", NULL, &r, NULL, 0),
	                 -EOPNOTSUPP);
}

static void test_trailing_slash(void **state)
{
	struct http_request req;
	const struct route *r;
	char allow[64];

	assert_int_equal(match("GET", "/v1/vms/", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms"));
	assert_int_equal(match("GET", "/v1/vms", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms"));
	assert_int_equal(match("GET", "/v1/vms/abc/", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/v1/vms/{id}"));
	assert_string_equal(http_param(&req, "id"), "abc");
	http_request_clear_params(&req);
	/* Only one slash is forgiven. */
	assert_int_equal(match("GET", "/v1/vms//", &req, &r, allow, sizeof(allow)), -ENOENT);
	/* The root. */
	assert_int_equal(match("GET", "/", &req, &r, allow, sizeof(allow)), 0);
	assert_ptr_equal(r, find("GET", "/"));
}

static json_t *op(json_t *doc, const char *path, const char *method)
{
	json_t *o = json_object_get(json_object_get(json_object_get(doc, "paths"), path), method);

	assert_non_null(o);
	return o;
}

/* Follows object keys: jget(o, "a", "b", NULL) is o.a.b, or NULL. */
static json_t *jget(json_t *o, ...)
{
	const char *k;
	va_list ap;

	va_start(ap, o);
	while (o && (k = va_arg(ap, const char *)))
		o = json_object_get(o, k);
	va_end(ap);
	return o;
}

static json_t *find_param(json_t *o, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(o, "parameters"), i, p)
	{
		if (!strcmp(jstr(p, "name"), name))
			return p;
	}
	return NULL;
}

static void test_openapi(void **state)
{
	json_t *doc = http_openapi(tables, "Kumo", "1.2.3");
	json_t *doc2 = http_openapi(tables, "Kumo", "1.2.3");
	json_t *o, *p, *paths;
	char *a, *b;

	/* Deterministic, byte for byte. */
	a = json_dumps(doc, JSON_COMPACT);
	b = json_dumps(doc2, JSON_COMPACT);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_decref(doc2);

	assert_string_equal(jstr(doc, "openapi"), "3.0.3");
	assert_string_equal(jstr(json_object_get(doc, "info"), "title"), "Kumo");
	assert_string_equal(jstr(json_object_get(doc, "info"), "version"), "1.2.3");

	paths = json_object_get(doc, "paths");
	/* Hidden routes are left out; paths appear in table order. */
	assert_null(json_object_get(paths, "/v1/hidden"));
	assert_null(json_object_get(paths, "/"));
	assert_string_equal(json_object_iter_key(json_object_iter(paths)), "/v1/vms");
	assert_int_equal(json_object_size(paths), 8);

	/* A list: query parameters, 200, bearer auth. */
	o = op(doc, "/v1/vms", "get");
	assert_string_equal(jstr(o, "summary"), "List VMs");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "tags"), 0)),
	                    "vms");
	assert_string_equal(jstr(o, "operationId"), "getV1Vms");
	for (const char *const *n =
	         (const char *const[]){ "limit", "offset", "sort", "fields", "q", NULL };
	     *n; n++)
		assert_non_null(find_param(o, *n));
	p = find_param(o, "q");
	assert_string_equal(jstr(p, "in"), "query");
	assert_string_equal(jstr(json_object_get(p, "schema"), "type"), "array");
	assert_true(jbool(p, "explode", false));
	assert_int_equal(jint(json_object_get(find_param(o, "limit"), "schema"), "maximum", 0),
	                 1000);
	assert_null(find_param(o, "wait"));
	assert_non_null(jget(o, "responses", "200", NULL));
	assert_string_equal(
	    jstr(jget(o, "responses", "default", "content", "application/json", "schema", NULL),
	         "$ref"),
	    "#/components/schemas/Error");
	assert_non_null(
	    json_object_get(json_array_get(json_object_get(o, "security"), 0), "bearerAuth"));

	/* A job: 202, ?wait, the body by reference. */
	o = op(doc, "/v1/vms", "post");
	assert_non_null(json_object_get(json_object_get(o, "responses"), "202"));
	assert_non_null(find_param(o, "wait"));
	assert_null(find_param(o, "limit"));
	assert_string_equal(
	    jstr(jget(o, "requestBody", "content", "application/json", "schema", NULL), "$ref"),
	    "#/components/schemas/VmCreate");
	assert_true(jbool(jget(o, "requestBody", NULL), "required", false));

	/* Path parameters. */
	o = op(doc, "/v1/vms/{vm_id}/nics/{nic_id}", "get");
	p = find_param(o, "vm_id");
	assert_non_null(p);
	assert_string_equal(jstr(p, "in"), "path");
	assert_true(jbool(p, "required", false));
	assert_non_null(find_param(o, "nic_id"));
	assert_string_equal(jstr(o, "operationId"), "getV1VmsVmIdNicsNicId");

	/* PATCH: the schema inline, nothing required. */
	o = op(doc, "/v1/vms/{id}", "patch");
	p = jget(o, "requestBody", "content", "application/json", "schema", NULL);
	assert_false(jbool(jget(o, "requestBody", NULL), "required", true));
	assert_non_null(p);
	assert_null(json_object_get(p, "required"));
	assert_non_null(json_object_get(json_object_get(p, "properties"), "vcpus"));

	/* DELETE without a job: 204; with a job: 202. */
	assert_non_null(json_object_get(
	    json_object_get(op(doc, "/v1/sessions/current", "delete"), "responses"), "204"));
	assert_non_null(json_object_get(
	    json_object_get(op(doc, "/v1/vms/{id}", "delete"), "responses"), "202"));
	/* A creating POST without a job: 201; an open route has no security. */
	o = op(doc, "/v1/sessions", "post");
	assert_non_null(json_object_get(json_object_get(o, "responses"), "201"));
	assert_null(json_object_get(o, "security"));
	/* No summary or tag: both derived. */
	o = op(doc, "/v1/sessions/{id}", "get");
	assert_string_equal(jstr(o, "summary"), "GET /v1/sessions/{id}");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "tags"), 0)),
	                    "sessions");

	/* Components. */
	o = json_object_get(doc, "components");
	assert_string_equal(
	    jstr(json_object_get(json_object_get(o, "securitySchemes"), "bearerAuth"), "scheme"),
	    "bearer");
	p = json_object_get(json_object_get(o, "schemas"), "VmCreate");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "required"), 0)),
	                    "name");
	assert_non_null(json_object_get(json_object_get(o, "schemas"), "Error"));
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_beats_param), cmocka_unit_test(test_params),
		cmocka_unit_test(test_bad_params),          cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_trailing_slash),      cmocka_unit_test(test_openapi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
