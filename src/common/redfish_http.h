/* SPDX-License-Identifier: MIT */
/*
 * A Redfish service (redfish.h) served over HTTP or HTTPS by Kumo's HTTP
 * server (http.h): every request goes to rf_handle() through the server's
 * fallback hook, and the server's own errors (body too large, busy) are
 * answered as Redfish errors.
 */
#pragma once

#include "common/redfish.h"

struct rf_http;

struct rf_http_config {
	const char *listen;       /* "0.0.0.0:8443", "127.0.0.1:0", "[::]:443" */
	struct rf_service *svc;   /* weak; must outlive the server */
	const char *tls_cert_pem; /* PEM texts; NULL = plain HTTP */
	const char *tls_key_pem;
	unsigned threads; /* 0 = the server's default */
};

/* Starts serving; 0 or a negative errno. ret_port gets the bound port. */
int rf_http_start(const struct rf_http_config *cfg, struct rf_http **ret, int *ret_port);
/* Stops (waits for requests in flight); returns NULL. */
struct rf_http *rf_http_stop(struct rf_http *h);

/* For a server that serves Redfish beside other things through its own
 * fallback handler (kumod's aggregator). */
struct http_request;
struct http_response;
/* Copies an rf_response into the server's response; resp is emptied. */
void rf_http_reply(struct rf_response *resp, struct http_response *hresp);
/* The server's own errors (413, 503, ...) as Redfish errors: an
 * http_server_config.error_body. */
void rf_http_error_body(const struct http_request *hreq, struct http_response *hresp, int code,
                        const char *message);
