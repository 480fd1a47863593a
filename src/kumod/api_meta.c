// SPDX-License-Identifier: MIT
/*
 * Endpoints about the API itself: the OpenAPI document (generated from the
 * route tables), the health check and the Prometheus metrics.
 */
#include <errno.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/kumod.h"
#include "kumod/metrics.h"

#define KUMO_VERSION "0.1.0"

static void openapi(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 200, http_openapi(api_tables, "Kumo API", KUMO_VERSION));
}

static void healthz(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 200, json_pack("{s:s,s:s}", "status", "ok", "version", KUMO_VERSION));
}

static bool loopback(const char *addr)
{
	return str_startswith(addr, "127.") || !strcmp(addr, "::1") ||
	       str_startswith(addr, "::ffff:127.");
}

static void metrics(struct http_request *req, struct http_response *resp)
{
	struct buf b;

	/* Open on loopback for a local Prometheus; elsewhere an admin token. */
	if (!(kumod_cfg.metrics_open_on_loopback && loopback(req->client_addr))) {
		struct kerr e = { 0 };
		int r = auth_hook(req, ROLE_ADMIN, &e);

		if (r < 0) {
			if (r == -EACCES)
				http_set_header(resp, "WWW-Authenticate", "Bearer");
			http_reply_kerr(resp, &e);
			return;
		}
	}
	buf_init(&b, 4 << 20);
	metrics_render(&b);
	http_reply_raw(resp, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
	buf_free(&b);
}

const struct route api_meta_routes[] = {
	{ "GET", "/v1/openapi.json", openapi, ROLE_NONE, NULL, 0, "This document", 0, "meta" },
	{ "GET", "/healthz", healthz, ROLE_NONE, NULL, 0, "Health check", 0, "meta" },
	{ "GET", "/metrics", metrics, ROLE_NONE, NULL, 0,
	  "Prometheus metrics (open on loopback, else admin)", 0, "meta" },
	{ NULL },
};
