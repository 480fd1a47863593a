/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server (libmicrohttpd, one thread per connection so handlers may
 * block, e.g. long-polls and server-sent events) and its router.
 *
 * One route table per server: { method, path template, handler, min role,
 * body schema, flags, summary }. From it alone the server
 *   - matches requests: literal segments win over "{param}" segments;
 *     no path match is 404, a path match with another method is 405 with
 *     an Allow header;
 *   - reads the body with a size limit (1 MiB unless the route says
 *     otherwise) -> 413;
 *   - calls the server's auth hook with the route's min role (routes with
 *     min_role 0 are open) -> 401/403;
 *   - then parses the JSON -> 400 and validates it against the route's
 *     schema -> 400 (routes with HTTP_RAW_BODY get bytes instead), so
 *     callers without credentials learn nothing about the bodies;
 *   - produces the OpenAPI 3 document (http_openapi()).
 * Every response carries X-Request-Id (the client's if it sent a sane one,
 * else a new UUID). Error bodies: {"error":{"code","message","field"}}.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/schema.h"

#define HTTP_BODY_MAX (1024 * 1024)
#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_HEADERS 16

struct http_request;
struct http_response;
struct http_server;

typedef void (*http_handler_fn)(struct http_request *req, struct http_response *resp);

enum route_flags {
	HTTP_RAW_BODY = 1 << 0, /* body kept as bytes in req->raw, not parsed */
	HTTP_LIST = 1 << 1,     /* a list: OpenAPI gets limit/offset/sort/fields/q */
	HTTP_JOB = 1 << 2,      /* answers 202 + job: OpenAPI gets ?wait */
	HTTP_HIDDEN = 1 << 3,   /* not in the OpenAPI document */
	HTTP_STREAM = 1 << 4,   /* may answer text/event-stream */
};

struct route {
	const char *method; /* "GET", "POST", "PATCH", "DELETE", "PUT" */
	const char *path;   /* "/v1/vms/{id}/actions/start" */
	http_handler_fn handler;
	int min_role;              /* 0 = no authentication; else passed to the auth hook */
	const struct schema *body; /* weak; NULL = no body expected (a body is then 400) */
	unsigned flags;
	const char *summary;
	size_t body_max; /* 0 = HTTP_BODY_MAX */
	const char *tag; /* OpenAPI tag, e.g. "vms" */
};

struct http_request {
	const char *method;
	const char *path;                         /* without the query string */
	const struct route *route;                /* weak */
	const char *param_names[HTTP_MAX_PARAMS]; /* weak, into the template; ends at "}" */
	char *param_values[HTTP_MAX_PARAMS];      /* owned, URL-decoded */
	int nparams;
	json_t *body; /* owned; validated JSON object, or NULL */
	char *raw;    /* owned; the body bytes (always set when a body came) */
	size_t raw_len;
	char client_addr[64];
	char request_id[65]; /* 1..64 chars + NUL */
	void *conn;          /* weak; struct MHD_Connection */
	void *auth;          /* set by the auth hook; owned by it, freed by server->auth_free */
	void *server_data;   /* weak; http_server_config.data */
};

/* Path parameter by name ("id"); NULL if the template has none. */
const char *http_param(const struct http_request *req, const char *name);
/* First query argument with that key, or NULL. */
const char *http_query(const struct http_request *req, const char *key);
/* Calls fn for every query argument (repeated keys included, in order). */
void http_query_each(const struct http_request *req,
                     void (*fn)(void *cls, const char *key, const char *value), void *cls);
/* Request header (case-insensitive), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* Has the client closed its side of the connection? For handlers that block
 * (long-polls): an answer to a client that left is lost. */
bool http_peer_gone(const struct http_request *req);

/* Stream callback for long responses (SSE, logs): fill at most max bytes into
 * out; return bytes written, 0 to wait and be called again (it may block a
 * while), -1 to end the stream. Runs in the connection's thread. */
typedef ssize_t (*http_stream_fn)(void *cls, char *out, size_t max);

/* A JSON response; takes ownership of body (may be NULL for no body). */
void http_reply_json(struct http_response *resp, int status, json_t *body);
/* Raw bytes with a content type; data copied. */
void http_reply_raw(struct http_response *resp, int status, const char *content_type,
                    const void *data, size_t len);
/* Error from a negative errno; status and code from error.h's mapping. */
void http_reply_error(struct http_response *resp, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_reply_kerr(struct http_response *resp, const struct kerr *e);
/* Streams until fn returns -1; free_cls(cls) called at the end. */
void http_reply_stream(struct http_response *resp, int status, const char *content_type,
                       http_stream_fn fn, void *cls, void (*free_cls)(void *));
/* Adds a header (copied). At most HTTP_MAX_HEADERS. */
void http_set_header(struct http_response *resp, const char *name, const char *value);
int http_response_status(const struct http_response *resp);

/* Auth hook: return 0 to let the request through (setting req->auth), or a
 * negative errno (-EACCES -> 401, -EPERM -> 403, -EAGAIN -> 429) with e set. */
typedef int (*http_auth_fn)(struct http_request *req, int min_role, struct kerr *e);

struct http_server_config {
	const char *listen;                /* "127.0.0.1:8080", "[::1]:8080" or "0.0.0.0:8080" */
	const struct route *const *tables; /* NULL-terminated list of route tables, */
	                                   /* each terminated by a route with method NULL */
	http_auth_fn auth;
	void (*auth_free)(void *auth);
	/* Called at the end of each answered request (metrics, access log), in
	 * the connection's own thread, which then waits for the next request. */
	void (*on_done)(const struct http_request *req, int status, int64_t usec);
	void *data;               /* weak; given to handlers as req->server_data */
	unsigned max_connections; /* 0 = 4096 */
	const char *tls_cert_pem; /* optional, PEM text; NULL = plain HTTP */
	const char *tls_key_pem;
};

/* Starts listening; 0 or -errno. ret_port gets the bound port (for port 0). */
int http_server_start(const struct http_server_config *cfg, struct http_server **ret,
                      int *ret_port);
struct http_server *http_server_stop(struct http_server *s);

/* The OpenAPI 3.0 document of the route tables (new reference). */
json_t *http_openapi(const struct route *const *tables, const char *title, const char *version);

/* Router matching alone (used by the server and the unit tests): finds the
 * route for method+path. 0 and *ret_route set; -ENOENT (no path), or
 * -EOPNOTSUPP (path matches but not the method; allow gets "GET, POST"). */
int http_route_match(const struct route *const *tables, const char *method, const char *path,
                     struct http_request *req, const struct route **ret_route, char *allow,
                     size_t allowlen);
/* Frees what http_route_match stored in req (param values). */
void http_request_clear_params(struct http_request *req);
