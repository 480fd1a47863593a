// SPDX-License-Identifier: MIT
/*
 * The router: matching a method and a raw (still percent-encoded) request
 * path against the route tables, and the OpenAPI 3 document generated from
 * the same tables. No libmicrohttpd here; http_server.c drives it.
 *
 * Matching is on the hot path, so it allocates nothing but the decoded
 * parameter values of the route that won: both strings are walked segment
 * by segment in place. A "{name}" template segment matches any non-empty
 * path segment; when several templates match, the one whose first
 * differing segment is a literal wins (/v1/sessions/current beats
 * /v1/sessions/{id}). One trailing slash is ignored.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "common/util.h"

#define ROUTE_SEGS_MAX 64 /* segments in a path; more is a 404 */
#define PARAM_MAX 256     /* bytes of a decoded path parameter */
#define ALLOW_METHODS_MAX 16

struct seg {
	const char *p;
	size_t n;
};

/* Length of path without one trailing slash ("/" stays "/"). */
static size_t path_len(const char *path)
{
	size_t n = strlen(path);

	if (n > 1 && path[n - 1] == '/')
		n--;
	return n;
}

/* Next segment of [*pp, end), *pp pointing at a '/'. False at the end. */
static bool next_seg(const char **pp, const char *end, struct seg *s)
{
	const char *p = *pp, *q;

	if (p >= end)
		return false;
	p++; /* the '/' */
	q = memchr(p, '/', (size_t)(end - p));
	if (!q)
		q = end;
	s->p = p;
	s->n = (size_t)(q - p);
	*pp = q;
	return true;
}

static bool seg_is_param(const struct seg *s)
{
	return s->n >= 3 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/* Does the template match the path? *ret_score gets one bit per literal
 * segment, the first segment highest, so a larger score is the more
 * literal match. */
static bool template_match(const char *tpl, const char *path, size_t plen, uint64_t *ret_score)
{
	const char *t = tpl, *tend;
	const char *p = path, *pend = path + plen;
	struct seg ts, ps;
	uint64_t score = 0;
	int i = 0;

	if (tpl[0] != '/')
		return false;
	/* Most templates differ from the path in their literal start
	 * ("/v1/zones" against "/v1/vms/..."): whole literal segments up to the
	 * first parameter, which the path must hold byte for byte. */
	for (size_t k = 0; tpl[k] && tpl[k] != '{'; k++)
		if (k >= plen || tpl[k] != path[k])
			return false;
	tend = tpl + path_len(tpl);
	for (;;) {
		bool ht = next_seg(&t, tend, &ts);
		bool hp = next_seg(&p, pend, &ps);

		if (!ht || !hp) {
			if (ht != hp)
				return false;
			*ret_score = score;
			return true;
		}
		if (i >= ROUTE_SEGS_MAX)
			return false;
		if (seg_is_param(&ts)) {
			if (ps.n == 0)
				return false;
		} else {
			if (ts.n != ps.n || memcmp(ts.p, ps.p, ts.n) != 0)
				return false;
			score |= UINT64_C(1) << (ROUTE_SEGS_MAX - 1 - i);
		}
		i++;
	}
}

/* Percent-decodes one path segment. NULL when the encoding is bad, or the
 * value holds a '/' or NUL, or is over PARAM_MAX bytes. */
static char *param_decode(const char *s, size_t n)
{
	char *out;

	if (n > 3 * PARAM_MAX)
		return NULL;
	out = pct_decode(s, n, true);
	if (out && strlen(out) > PARAM_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

/* Stores the decoded parameters of path (matched by tpl) in req. */
static int params_extract(const char *tpl, const char *path, size_t plen, struct http_request *req)
{
	const char *t = tpl, *tend = tpl + path_len(tpl);
	const char *p = path, *pend = path + plen;
	const char *names[HTTP_MAX_PARAMS];
	char *values[HTTP_MAX_PARAMS];
	struct seg ts, ps;
	int n = 0;

	while (next_seg(&t, tend, &ts) && next_seg(&p, pend, &ps)) {
		char *v;

		if (!seg_is_param(&ts))
			continue;
		/* A template with more parameters is a bug in the table. */
		assert(n < HTTP_MAX_PARAMS);
		v = param_decode(ps.p, ps.n);
		if (!v)
			goto fail;
		/* The name points into the template just after '{' and
		 * ends at its '}' (see http_param()). */
		names[n] = ts.p + 1;
		values[n] = v;
		n++;
	}
	if (req) {
		for (int i = 0; i < n; i++) {
			req->param_names[i] = names[i];
			req->param_values[i] = values[i];
		}
		req->nparams = n;
	} else {
		for (int i = 0; i < n; i++)
			free(values[i]);
	}
	return 0;
fail:
	for (int i = 0; i < n; i++)
		free(values[i]);
	return -ENOENT;
}

static bool allow_add(const char **seen, int *nseen, const char *method)
{
	for (int i = 0; i < *nseen; i++)
		if (strcmp(seen[i], method) == 0)
			return false;
	if (*nseen >= ALLOW_METHODS_MAX)
		return false;
	seen[(*nseen)++] = method;
	return true;
}

int http_route_match(const struct route *const *tables, const char *method, const char *path,
                     struct http_request *req, const struct route **ret_route, char *allow,
                     size_t allowlen)
{
	const struct route *best = NULL;
	uint64_t best_score = 0, score;
	const char *seen[ALLOW_METHODS_MAX];
	int nseen = 0;
	size_t plen, alen = 0;
	bool full = !allow || allowlen == 0;

	if (!full)
		allow[0] = '\0';
	if (!tables || !method || !path || path[0] != '/')
		return -ENOENT;
	plen = path_len(path);

	for (size_t t = 0; tables[t]; t++)
		for (const struct route *r = tables[t]; r->method; r++) {
			if (r->method[0] != method[0] || strcmp(r->method, method) != 0)
				continue;
			if (!template_match(r->path, path, plen, &score))
				continue;
			if (!best || score > best_score) {
				best = r;
				best_score = score;
			}
		}

	if (best) {
		if (params_extract(best->path, path, plen, req) < 0)
			return -ENOENT;
		if (req)
			req->route = best;
		if (ret_route)
			*ret_route = best;
		return 0;
	}

	/* No route for this method: 405 if the path exists with others. */
	for (size_t t = 0; tables[t]; t++)
		for (const struct route *r = tables[t]; r->method; r++) {
			int w;

			if (!template_match(r->path, path, plen, &score))
				continue;
			if (!allow_add(seen, &nseen, r->method) || full)
				continue;
			w = snprintf(allow + alen, allowlen - alen, "%s%s", alen ? ", " : "",
			             r->method);
			if (w < 0 || (size_t)w >= allowlen - alen) {
				allow[alen] = '\0'; /* no room: keep whole names only */
				full = true;
				continue;
			}
			alen += (size_t)w;
		}
	return nseen ? -EOPNOTSUPP : -ENOENT;
}

void http_request_clear_params(struct http_request *req)
{
	if (!req)
		return;
	for (int i = 0; i < req->nparams && i < HTTP_MAX_PARAMS; i++) {
		free(req->param_values[i]);
		req->param_values[i] = NULL;
		req->param_names[i] = NULL;
	}
	req->nparams = 0;
}

/* A parameter name is stored as a pointer into the template just after the
 * '{'; it ends at the '}'. */
const char *http_param(const struct http_request *req, const char *name)
{
	size_t n;

	if (!req || !name)
		return NULL;
	n = strlen(name);
	for (int i = 0; i < req->nparams && i < HTTP_MAX_PARAMS; i++) {
		const char *pn = req->param_names[i];

		if (pn && strncmp(pn, name, n) == 0 && pn[n] == '}')
			return req->param_values[i];
	}
	return NULL;
}

/* ---- OpenAPI ---- */

static json_t *error_schema(void)
{
	return json_pack("{s:s, s:[s], s:{s:{s:s, s:[s,s], s:{s:{s:s}, s:{s:s}, s:{s:s}}}}}",
	                 "type", "object", "required", "error", "properties", "error", "type",
	                 "object", "required", "code", "message", "properties", "code", "type",
	                 "string", "message", "type", "string", "field", "type", "string");
}

/* "getV1VmsIdActionsStart" from GET /v1/vms/{id}/actions/start. */
static json_t *operation_id(const char *method, const char *path)
{
	char out[512];
	size_t o = 0;
	bool up = false;

	for (const char *m = method; *m && o < sizeof(out) - 1; m++)
		out[o++] = (char)tolower((unsigned char)*m);
	for (const char *p = path; *p && o < sizeof(out) - 1; p++) {
		if (!isalnum((unsigned char)*p)) {
			up = true;
			continue;
		}
		out[o++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	out[o] = '\0';
	return json_string(out);
}

static json_t *param_obj(const char *name, const char *in, bool required, json_t *schema,
                         const char *desc)
{
	json_t *p = json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", in, "required", required,
	                      "schema", schema);

	if (desc)
		json_object_set_new(p, "description", json_string(desc));
	return p;
}

static json_t *operation_params(const struct route *r)
{
	json_t *params = json_array();
	const char *t = r->path, *tend = r->path + path_len(r->path);
	struct seg ts;

	while (next_seg(&t, tend, &ts)) {
		char name[128];

		if (!seg_is_param(&ts))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(ts.n - 2), ts.p + 1);
		json_array_append_new(
		    params,
		    param_obj(name, "path", true, json_pack("{s:s}", "type", "string"), NULL));
	}
	if (r->flags & HTTP_LIST) {
		json_array_append_new(
		    params, param_obj("limit", "query", false,
		                      json_pack("{s:s, s:i, s:i, s:i}", "type", "integer",
		                                "minimum", 1, "maximum", 1000, "default", 100),
		                      "Maximum number of items to return."));
		json_array_append_new(params,
		                      param_obj("offset", "query", false,
		                                json_pack("{s:s, s:i, s:i}", "type", "integer",
		                                          "minimum", 0, "default", 0),
		                                "Number of items to skip."));
		json_array_append_new(
		    params, param_obj("sort", "query", false, json_pack("{s:s}", "type", "string"),
		                      "Sort field, '-' prefix for descending (-created_at)."));
		json_array_append_new(params,
		                      param_obj("fields", "query", false,
		                                json_pack("{s:s}", "type", "string"),
		                                "Comma-separated fields to return (id,name)."));
		json_t *q = param_obj(
		    "q", "query", false,
		    json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string"),
		    "Filters <field><op><value>, ops = != > < >= <= ~= ?=; ANDed.");
		json_object_set_new(q, "style", json_string("form"));
		json_object_set_new(q, "explode", json_true());
		json_array_append_new(params, q);
	}
	if (r->flags & HTTP_JOB)
		json_array_append_new(params,
		                      param_obj("wait", "query", false,
		                                json_pack("{s:s, s:i, s:i}", "type", "integer",
		                                          "minimum", 0, "maximum", 300),
		                                "Seconds to wait for the job to finish."));
	return params;
}

/* Is this a POST that creates (its last segment a literal, not an action)? */
static bool is_create(const struct route *r)
{
	const char *t = r->path, *tend = r->path + path_len(r->path);
	struct seg ts, last = { 0 }, prev = { 0 };

	if (strcmp(r->method, "POST") != 0)
		return false;
	while (next_seg(&t, tend, &ts)) {
		prev = last;
		last = ts;
	}
	if (!last.p || seg_is_param(&last))
		return false;
	return !(prev.p && prev.n == 7 && memcmp(prev.p, "actions", 7) == 0);
}

static json_t *json_content(bool stream)
{
	json_t *c = json_pack("{s:{s:{s:s}}}", "application/json", "schema", "type", "object");

	if (stream)
		json_object_set_new(c, "text/event-stream",
		                    json_pack("{s:{s:s}}", "schema", "type", "string"));
	return c;
}

static json_t *operation_responses(const struct route *r)
{
	json_t *resp = json_object();
	bool stream = r->flags & HTTP_STREAM;

	if (r->flags & HTTP_JOB) {
		json_object_set_new(resp, "200",
		                    json_pack("{s:s, s:o}", "description",
		                              "The job finished within ?wait.", "content",
		                              json_content(false)));
		json_object_set_new(resp, "202",
		                    json_pack("{s:s, s:o}", "description",
		                              "Accepted: the job (Location: /v1/jobs/{id}).",
		                              "content", json_content(false)));
	} else if (is_create(r)) {
		json_object_set_new(resp, "201",
		                    json_pack("{s:s, s:o}", "description", "Created.", "content",
		                              json_content(stream)));
	} else if (strcmp(r->method, "DELETE") == 0) {
		json_object_set_new(resp, "204", json_pack("{s:s}", "description", "Deleted."));
	} else {
		json_object_set_new(
		    resp, "200",
		    json_pack("{s:s, s:o}", "description", "OK.", "content", json_content(stream)));
	}
	json_object_set_new(resp, "default",
	                    json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "Error.", "content",
	                              "application/json", "schema", "$ref",
	                              "#/components/schemas/Error"));
	return resp;
}

/* Tag: the route's, else the first path segment after a "v1". */
static json_t *operation_tags(const struct route *r)
{
	const char *t = r->path, *tend = r->path + path_len(r->path);
	struct seg ts;
	char tag[128] = "default";

	if (r->tag)
		return json_pack("[s]", r->tag);
	while (next_seg(&t, tend, &ts)) {
		if (ts.n == 0 || seg_is_param(&ts) || (ts.n == 2 && memcmp(ts.p, "v1", 2) == 0))
			continue;
		snprintf(tag, sizeof(tag), "%.*s", (int)ts.n, ts.p);
		break;
	}
	return json_pack("[s]", tag);
}

static bool body_required(const struct route *r)
{
	if (strcmp(r->method, "PATCH") == 0 || !r->body->fields)
		return false;
	for (const struct field *f = r->body->fields; f->name; f++)
		if ((f->flags & F_REQUIRED) && !(f->flags & F_READONLY))
			return true;
	return false;
}

static json_t *request_body(const struct route *r)
{
	json_t *schema;

	if (r->flags & HTTP_RAW_BODY)
		return json_pack("{s:{s:{s:{s:s, s:s}}}}", "content", "application/octet-stream",
		                 "schema", "type", "string", "format", "binary");
	if (!r->body)
		return NULL;
	if (strcmp(r->method, "PATCH") == 0) {
		/* PATCH is partial: the same schema, nothing required. */
		schema = schema_openapi(r->body, false);
		json_object_del(schema, "required");
	} else if (r->body->name) {
		schema = json_pack("{s:s+}", "$ref", "#/components/schemas/", r->body->name);
	} else {
		schema = schema_openapi(r->body, false);
	}
	/* The body may be left out when nothing in it is required. */
	return json_pack("{s:b, s:{s:{s:o}}}", "required", body_required(r), "content",
	                 "application/json", "schema", schema);
}

static json_t *operation(const struct route *r)
{
	json_t *op = json_object();
	json_t *params = operation_params(r);
	json_t *body = request_body(r);
	char summary[512];

	if (!r->summary)
		snprintf(summary, sizeof(summary), "%s %s", r->method, r->path);
	json_object_set_new(op, "summary", json_string(r->summary ? r->summary : summary));
	json_object_set_new(op, "tags", operation_tags(r));
	json_object_set_new(op, "operationId", operation_id(r->method, r->path));
	if (json_array_size(params))
		json_object_set_new(op, "parameters", params);
	else
		json_decref(params);
	if (body)
		json_object_set_new(op, "requestBody", body);
	json_object_set_new(op, "responses", operation_responses(r));
	if (r->min_role != 0)
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearerAuth"));
	return op;
}

json_t *http_openapi(const struct route *const *tables, const char *title, const char *version)
{
	json_t *doc, *paths, *schemas;

	paths = json_object();
	schemas = json_object();
	json_object_set_new(schemas, "Error", error_schema());
	for (size_t t = 0; tables && tables[t]; t++)
		for (const struct route *r = tables[t]; r->method; r++) {
			json_t *item;
			char method[16];
			size_t i;

			if (r->flags & HTTP_HIDDEN)
				continue;
			item = json_object_get(paths, r->path);
			if (!item) {
				item = json_object();
				json_object_set_new(paths, r->path, item);
			}
			for (i = 0; r->method[i] && i < sizeof(method) - 1; i++)
				method[i] = (char)tolower((unsigned char)r->method[i]);
			method[i] = '\0';
			json_object_set_new(item, method, operation(r));
			if (r->body && r->body->name && !json_object_get(schemas, r->body->name))
				json_object_set_new(schemas, r->body->name,
				                    schema_openapi(r->body, false));
		}

	doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}}, s:o}}", "openapi", "3.0.3",
	                "info", "title", title ? title : "Kumo API", "version",
	                version ? version : "0", "paths", paths, "components", "securitySchemes",
	                "bearerAuth", "type", "http", "scheme", "bearer", "schemas", schemas);
	return doc;
}
