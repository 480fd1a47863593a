// SPDX-License-Identifier: MIT
/*
 * kumod's Redfish aggregator as a whole: the list of its modules (the one
 * place where its resources are registered), its start and stop, and its
 * door on kumod's HTTP server: the server's fallback hook, limited to
 * paths under /redfish, turns each request into an rf_request with the
 * caller kumod has authenticated (redfish_agg_auth.c) as its principal,
 * runs the Redfish core (common/redfish.h) and copies the answer back.
 * Every other path keeps kumod's own 404 and 405, and the server's own
 * errors (413, 503) are Redfish errors under /redfish only.
 *
 * Not here: what any resource answers (redfish_agg_<resource>.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/redfish_doc.h"
#include "common/redfish_http.h"
#include "kumod/redfish_agg.h"
#include "kumod/redfish_agg_int.h"

#define UUID_FILE "redfish-uuid"
#define PREFIX "/redfish"
#define TIMEOUT_S_MAX 3600

/* Every module of the aggregator, in the order their routes are tried
 * when two match equally (they never do). */
static const struct rf_module *const modules[] = {
	&rfa_root_module, &rfa_session_module, &rfa_source_module,
	&rfa_coll_module, &rfa_fwd_module,     NULL,
};

static struct {
	bool enabled;
	struct rfa_ctx ctx;
	struct rf_service *svc;
} agg;

static int64_t timeout_ms(const struct config *cfg, const char *key, int64_t def_ms)
{
	int64_t s = cfg ? config_int(cfg, "redfish", key, def_ms / 1000) : def_ms / 1000;

	if (s < 1)
		s = 1;
	if (s > TIMEOUT_S_MAX)
		s = TIMEOUT_S_MAX;
	return s * 1000;
}

int redfish_agg_start(const char *data_dir, const struct config *cfg)
{
	struct rf_service_config sc = { 0 };
	char *uuid_path;
	int r;

	agg.enabled = cfg ? config_bool(cfg, "redfish", "enabled", true) : true;
	if (!agg.enabled)
		return 0;
	agg.ctx.timeout_ms = timeout_ms(cfg, "timeout_s", RFA_TIMEOUT_MS);
	agg.ctx.action_timeout_ms = timeout_ms(cfg, "action_timeout_s", RFA_ACTION_TIMEOUT_MS);
	uuid_path = xasprintf("%s/%s", data_dir, UUID_FILE);
	r = rf_uuid_load(uuid_path, agg.ctx.uuid);
	free(uuid_path);
	if (r < 0)
		return r;
	sc.modules = modules;
	sc.auth = NULL; /* every caller comes authenticated by kumod, as a principal */
	sc.data = &agg.ctx;
	sc.realm = "Kumo Redfish Aggregator";
	return rf_service_new(&sc, &agg.svc);
}

void redfish_agg_stop(void)
{
	agg.svc = rf_service_free(agg.svc);
}

static const char *header_of(void *cls, const char *name)
{
	return http_header(cls, name);
}

static void fallback(struct http_request *hreq, struct http_response *hresp)
{
	struct rf_request req = { .method = hreq->method,
		                  .path = hreq->path,
		                  .query = http_query_string(hreq),
		                  .header = header_of,
		                  .header_cls = hreq,
		                  .body = hreq->raw,
		                  .body_len = hreq->raw_len,
		                  .client_addr = hreq->client_addr };
	struct rf_principal who;
	struct rf_response resp;
	int r;

	rf_response_init(&resp);
	r = rfa_authenticate(header_of, hreq, hreq->client_addr, &who);
	if (r == -ENOTCONN) {
		/* Not a bad credential: the store could not tell. */
		resp.status = 503;
		resp.body = rf_error_body(
		    json_pack("[o]", rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL)));
		rf_response_common_headers(&resp);
		rf_response_set_header(&resp, "Retry-After", "1");
	} else {
		/* No or wrong credentials: the core answers 401 where they are needed. */
		req.principal = r == 0 ? &who : NULL;
		rf_handle(agg.svc, &req, &resp);
	}
	rf_http_reply(&resp, hresp);
}

/* The server's own errors: Redfish ones under /redfish, kumod's elsewhere
 * (leaving resp unanswered makes the server use its own format). */
static void error_body(const struct http_request *hreq, struct http_response *hresp, int code,
                       const char *message)
{
	const char *p = hreq->path ? hreq->path : "";

	if (strncmp(p, PREFIX, strlen(PREFIX)) == 0 &&
	    (p[strlen(PREFIX)] == '\0' || p[strlen(PREFIX)] == '/'))
		rf_http_error_body(hreq, hresp, code, message);
}

void redfish_agg_http_config(struct http_server_config *hc)
{
	if (!agg.enabled || !agg.svc)
		return;
	hc->fallback = fallback;
	hc->fallback_prefix = PREFIX;
	hc->fallback_flags = HTTP_BLOCKING;
	hc->fallback_body_max = rf_service_body_max(agg.svc);
	hc->error_body = error_body;
}
