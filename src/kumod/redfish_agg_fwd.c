// SPDX-License-Identifier: MIT
/*
 * Requests on members of the merged collections, relayed to their agents:
 * /redfish/v1/<collection>/<host>_<id>[/anything] goes to the host's agent
 * over the agent channel (rpc_call(), "node.redfish") as
 * /redfish/v1/<collection>/<id>[/anything], with the method, the
 * request's If-Match, If-None-Match and Content-Type, its body (with this
 * host's prefixes taken off) and the caller kumod has authenticated as
 * "principal", which the agent trusts instead of credentials. The agent's
 * status, body and headers (ETag, Location, Allow, Link, Retry-After)
 * come back with every path of a member of an aggregated collection
 * prefixed again (redfish_agg_path.c).
 *
 * The query is not relayed: the aggregator's core applies $select,
 * $expand (members expanded through the same relay), $top/$skip and
 * "only" to the agent's answer, as for its own resources. The ETag is the
 * agent's, so If-Match works end to end.
 *
 * An unknown host prefix is 404 ResourceMissingAtURI; a host that is not
 * connected, or does not answer within [redfish] timeout_s (actions:
 * action_timeout_s), is 503 ServiceTemporarilyUnavailable naming the host.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/rpc.h"
#include "kumod/store.h"

#define RETRY_AFTER_S "10"

/* Request headers relayed, and answer headers taken back. */
static const char *const req_headers[] = { "If-Match", "If-None-Match", "Content-Type" };
static const char *const ans_headers[] = { "ETag", "Location", "Allow", "Link", "Retry-After" };

/* The collection of the route: the template's part before "/{id}". */
static const struct rfa_coll *route_coll(const struct rf_call *call)
{
	for (const struct rfa_coll *c = rfa_colls; c->path; c++) {
		size_t n = strlen(c->path);

		if (strncmp(call->route->path, c->path, n) == 0 &&
		    strncmp(call->route->path + n, "/{id}", 5) == 0)
			return c;
	}
	return NULL;
}

/* 503 for a host the relay could not reach; error.message names it. */
static void reply_unavailable(struct rf_call *call, const char *host, int r, const struct kerr *e,
                              int64_t timeout_ms)
{
	json_t *msgs =
	    json_pack("[o]", rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, RETRY_AFTER_S, NULL));
	char *source = xasprintf("%s/%s", RFA_SOURCES, host), *why;

	if (r == -EHOSTDOWN) {
		json_array_append_new(msgs,
		                      rf_msg(RF_MSG_COULD_NOT_ESTABLISH_CONNECTION, source, NULL));
		why = xasprintf("Host %s is not connected to kumod; retry later.", host);
	} else if (r == -ETIMEDOUT) {
		json_array_append_new(msgs, rf_msg(RF_MSG_OPERATION_TIMEOUT, NULL));
		why = xasprintf("Host %s did not answer within %lld s; retry later.", host,
		                (long long)(timeout_ms / 1000));
	} else {
		why = xasprintf("Host %s could not serve the request: %s", host,
		                e->message[0] ? e->message : strerror(-r));
	}
	rf_reply_errors(call, 503, msgs);
	json_object_set_new(json_object_get(call->resp->body, "error"), "message",
	                    json_string(why));
	rf_set_header(call, "Retry-After", RETRY_AFTER_S);
	free(source);
	free(why);
}

/* The request for the agent (new reference). */
static json_t *relay_request(struct rf_call *call, const struct rfa_coll *c, const char *host,
                             const char *member)
{
	const char *rest = rf_param(call, "rest");
	char *seg = rfa_pct_segment(member), *path;
	json_t *headers = json_object(), *body = json_null(), *req;

	path = rest ? xasprintf("%s/%s/%s", c->path, seg, rest) : xasprintf("%s/%s", c->path, seg);
	for (size_t i = 0; i < ARRAY_SIZE(req_headers); i++) {
		const char *v = rf_header(call, req_headers[i]);

		if (v)
			json_object_set_new(headers, req_headers[i], json_string(v));
	}
	if (call->body) {
		body = json_deep_copy(call->body);
		rfa_rewrite_json(body, host, false);
	}
	req = json_pack("{s:s, s:s, s:o, s:o, s:{s:s, s:s}}", "method", call->method, "path", path,
	                "headers", headers, "body", body, "principal", "user", call->who.user,
	                "role", call->who.role);
	free(seg);
	free(path);
	return req;
}

/* The agent's answer header name, whatever its case; NULL if absent. */
static const char *answer_header(const json_t *headers, const char *name)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)headers, key, v)
	{
		if (strcasecmp(key, name) == 0)
			return json_string_value(v);
	}
	return NULL;
}

/* Strips W/ and the quotes of an ETag: the core quotes it again. */
static void set_etag(struct rf_call *call, const char *etag)
{
	size_t n;

	if (strncmp(etag, "W/", 2) == 0)
		etag += 2;
	n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		char *bare = strndup(etag + 1, n - 2);

		if (bare)
			rf_set_etag(call, bare);
		free(bare);
	} else if (n) {
		rf_set_etag(call, etag);
	}
}

/* A member itself (its @odata.id is the request's path, one segment
 * below an aggregated collection) has the prefixed id as its Id too, as
 * its URI does: clients find members by Id. */
static void member_id(json_t *body, const char *path)
{
	const char *oid = jstr(body, "@odata.id"), *id = jstr(body, "Id");
	const char *last;
	size_t n;

	if (!oid || !id || !json_is_object(body))
		return;
	n = strlen(oid);
	while (n > 1 && oid[n - 1] == '/')
		n--;
	if (strncmp(oid, path, n) != 0 || path[n] != '\0')
		return;
	last = strrchr(path, '/');
	for (const struct rfa_coll *c = rfa_colls; c->path && last; c++) {
		if ((size_t)(last - path) == strlen(c->path) &&
		    strncmp(path, c->path, strlen(c->path)) == 0) {
			json_object_set_new(body, "Id", json_string(last + 1));
			return;
		}
	}
}

/* Turns the agent's answer into the call's. */
static void reply_answer(struct rf_call *call, const char *host, json_t *data)
{
	json_int_t status = jint(data, "status", 0);
	const json_t *headers = json_object_get(data, "headers");
	json_t *body = json_object_get(data, "body");
	const char *etag = answer_header(headers, "ETag");

	if (status < 100 || status > 599) {
		log_warn("redfish: host %s answered %s %s without a valid status", host,
		         call->method, call->path);
		rf_reply_internal(call);
		return;
	}
	if (json_is_string(body)) {
		const char *ct = answer_header(headers, "Content-Type");

		rf_reply_raw(call, (int)status, ct ? ct : "text/plain", json_string_value(body),
		             json_string_length(body));
	} else if (json_is_object(body) || json_is_array(body)) {
		json_incref(body);
		rfa_rewrite_json(body, host, true);
		member_id(body, call->path);
		rf_reply_json(call, (int)status, body);
	} else {
		rf_reply_json(call, (int)status, NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ans_headers); i++) {
		const char *v = answer_header(headers, ans_headers[i]);
		char *out;

		if (!v || strcmp(ans_headers[i], "ETag") == 0)
			continue;
		out = rfa_path_out(v, host);
		rf_set_header(call, ans_headers[i], out);
		free(out);
	}
	if (etag && (status == 200 || status == 201))
		set_etag(call, etag);
	else if (etag)
		rf_set_header(call, "ETag", etag);
}

/* Does the rest of the path hold a "." or ".." segment (maybe
 * percent-encoded)? Such paths are refused here rather than handed to an
 * agent, so nothing outside the member can be named through it. */
static bool has_dot_segment(const char *rest)
{
	const char *p = rest;

	while (p && *p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p), dots = 0, i = 0;

		while (i < n) {
			if (p[i] == '.') {
				i++;
			} else if (n - i >= 3 && p[i] == '%' && p[i + 1] == '2' &&
			           (p[i + 2] == 'e' || p[i + 2] == 'E')) {
				i += 3;
			} else {
				break;
			}
			dots++;
		}
		if (i == n && (dots == 1 || dots == 2))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static void forward(struct rf_call *call)
{
	const struct rfa_ctx *ctx = call->data;
	const struct rfa_coll *c = route_coll(call);
	const char *member = NULL;
	json_t *host = NULL, *data = NULL;
	struct kerr e = { 0 };
	int64_t timeout;
	const char *name;
	int r;

	if (!c) {
		rf_reply_internal(call);
		return;
	}
	if (rf_param(call, "rest") && has_dot_segment(rf_param(call, "rest"))) {
		rf_reply_not_found(call);
		return;
	}
	r = rfa_member_split(rf_param(call, "id"), &host, &member);
	if (r == -ENOENT) {
		rf_reply_not_found(call);
		return;
	}
	if (r < 0) {
		rf_reply_error(call, 503,
		               rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL));
		return;
	}
	name = jstr(host, "name");
	timeout = strcmp(call->method, "POST") == 0 && strstr(call->path, "/Actions/")
	              ? ctx->action_timeout_ms
	              : ctx->timeout_ms;
	store_release(); /* no store connection held while the agent works */
	r = rpc_call(jstr(host, "id"), "node.redfish", relay_request(call, c, name, member),
	             timeout, &data, &e);
	if (r < 0) {
		log_debug("redfish: %s %s on host %s: %s", call->method, call->path, name,
		          e.message);
		reply_unavailable(call, name, r, &e, timeout);
	} else {
		reply_answer(call, name, data);
	}
	json_decref(data);
	json_decref(host);
}

/* Every method on a member and under it, for each aggregated collection. */
#define MEMBER_ROUTES(coll)                                                                        \
	{ "GET", coll "/{id}", forward, RF_PRIV_LOGIN, 0 },                                        \
	    { "GET", coll "/{id}/{*rest}", forward, RF_PRIV_LOGIN, 0 },                            \
	    { "POST", coll "/{id}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                         \
	    { "POST", coll "/{id}/{*rest}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                 \
	    { "PATCH", coll "/{id}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                        \
	    { "PATCH", coll "/{id}/{*rest}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                \
	    { "PUT", coll "/{id}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                          \
	    { "PUT", coll "/{id}/{*rest}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                  \
	    { "DELETE", coll "/{id}", forward, RF_PRIV_LOGIN, RF_UNLOCKED },                       \
	{                                                                                          \
		"DELETE", coll "/{id}/{*rest}", forward, RF_PRIV_LOGIN, RF_UNLOCKED                \
	}

static const struct rf_route routes[] = {
	MEMBER_ROUTES(RF_ROOT "/Systems"),
	MEMBER_ROUTES(RF_ROOT "/Chassis"),
	MEMBER_ROUTES(RF_ROOT "/Managers"),
	MEMBER_ROUTES(RF_ROOT "/ThermalEquipment/ImmersionUnits"),
	{ 0 },
};

/* The members' schemas are the agents' ($metadata adds them). */
static const char *const schemas[] = { NULL };

const struct rf_module rfa_fwd_module = { "Members", routes, schemas };
