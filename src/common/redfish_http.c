// SPDX-License-Identifier: MIT
/*
 * The HTTP transport of a Redfish service: a Kumo HTTP server with no
 * route table of its own and a fallback handler that turns each request
 * into an rf_request (method, raw path and query, header lookups, body
 * bytes, client address), runs rf_handle() and copies the rf_response
 * back (status, headers, JSON or raw body, or a stream for SSE). GETs run
 * in the server's pool threads, writes on its workers (see http.h). The
 * server's own errors get Redfish bodies through its error_body hook.
 * Not here: anything Redfish decides (redfish.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/http.h"
#include "common/redfish_http.h"
#include "common/util.h"

struct rf_http {
	struct http_server *server;
	struct rf_service *svc; /* weak */
};

static const struct route *const no_tables[] = { NULL };

static const char *header_of(void *cls, const char *name)
{
	return http_header(cls, name);
}

void rf_http_reply(struct rf_response *resp, struct http_response *hresp)
{
	const char *ct = rf_response_content_type(resp);

	if (resp->stream) {
		http_reply_stream(hresp, resp->status, ct, resp->stream, resp->stream_cls,
		                  resp->stream_free);
		resp->stream = NULL; /* the server's now */
		resp->stream_cls = NULL;
		resp->stream_free = NULL;
	} else {
		size_t len;
		char *bytes = rf_response_bytes(resp, &len);

		http_reply_raw(hresp, resp->status, ct, bytes, len);
		free(bytes);
	}
	for (int i = 0; i < resp->nheaders; i++)
		http_set_header(hresp, resp->hname[i], resp->hvalue[i]);
	rf_response_clear(resp);
}

static void fallback(struct http_request *hreq, struct http_response *hresp)
{
	struct rf_http *h = hreq->server_data;
	struct rf_request req = { .method = hreq->method,
		                  .path = hreq->path,
		                  .query = http_query_string(hreq),
		                  .header = header_of,
		                  .header_cls = hreq,
		                  .body = hreq->raw,
		                  .body_len = hreq->raw_len,
		                  .client_addr = hreq->client_addr };
	struct rf_response resp;

	rf_response_init(&resp);
	rf_handle(h->svc, &req, &resp);
	rf_http_reply(&resp, hresp);
}

void rf_http_error_body(const struct http_request *hreq, struct http_response *hresp, int code,
                        const char *message)
{
	int status = error_http_status(code);
	struct rf_response resp;
	json_t *msg;

	switch (status) {
	case 404:
		msg = rf_msg(RF_MSG_RESOURCE_MISSING_AT_URI, hreq->path ? hreq->path : "", NULL);
		break;
	case 405:
		msg = rf_msg(RF_MSG_OPERATION_NOT_ALLOWED, NULL);
		break;
	case 413:
		msg = rf_msg(RF_MSG_PAYLOAD_TOO_LARGE, NULL);
		break;
	case 503:
		msg = code == -ESHUTDOWN
		          ? rf_msg(RF_MSG_SERVICE_SHUTTING_DOWN, NULL)
		          : rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL);
		break;
	case 500:
		msg = rf_msg(RF_MSG_INTERNAL_ERROR, NULL);
		break;
	default:
		msg = rf_msg(RF_MSG_GENERAL_ERROR, NULL);
		break;
	}
	rf_response_init(&resp);
	resp.status = status;
	resp.body = rf_error_body(json_pack("[o]", msg));
	rf_response_common_headers(&resp);
	if (status == 503)
		rf_response_set_header(&resp, "Retry-After", "1");
	rf_http_reply(&resp, hresp);
}

int rf_http_start(const struct rf_http_config *cfg, struct rf_http **ret, int *ret_port)
{
	struct http_server_config hc = { 0 };
	struct rf_http *h;
	int r;

	if (!cfg || !cfg->svc || str_empty(cfg->listen))
		return -EINVAL;
	h = xcalloc(1, sizeof(*h));
	h->svc = cfg->svc;
	hc.listen = cfg->listen;
	hc.tables = no_tables;
	hc.data = h;
	hc.threads = cfg->threads;
	hc.tls_cert_pem = cfg->tls_cert_pem;
	hc.tls_key_pem = cfg->tls_key_pem;
	hc.fallback = fallback;
	hc.fallback_body_max = rf_service_body_max(cfg->svc);
	hc.error_body = rf_http_error_body;
	r = http_server_start(&hc, &h->server, ret_port);
	if (r < 0) {
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

struct rf_http *rf_http_stop(struct rf_http *h)
{
	if (!h)
		return NULL;
	http_server_stop(h->server);
	free(h);
	return NULL;
}
