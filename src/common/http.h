/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server (libmicrohttpd: a small pool of epoll threads, two per
 * CPU, serves every connection) and its router.
 *
 * Handlers run in a pool thread only when they cannot block: GET requests
 * on routes without HTTP_BLOCKING and without a "wait" query argument. Every
 * other request (writes, which queue for the store's single writer and may
 * hash passwords; long-polls; ?wait=S) runs on a worker thread of its own
 * while its connection is suspended, so a waiting request never holds up
 * the others. Stream callbacks (http_reply_stream) run on a worker too.
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
	HTTP_BLOCKING = 1 << 5, /* a GET whose handler may block: runs on a worker */
	HTTP_SINK = 1 << 8,     /* streamed body (uploads): see http_sink_set() */
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
/* The raw query string, still percent-encoded and without the '?', or
 * NULL when the URI had none. */
const char *http_query_string(const struct http_request *req);
/* Request header (case-insensitive), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* Has the client closed its side of the connection? For handlers that block
 * (long-polls): an answer to a client that left is lost. Safe to call from
 * the handler's thread at any time. */
bool http_peer_gone(const struct http_request *req);

/* Stream callback for long responses (SSE, logs): fill at most max bytes into
 * out; return bytes written, 0 to wait and be called again (it may block a
 * while, up to ~1 s), -1 to end the stream. Runs on a worker thread of its
 * own, never in a pool thread; the connection is suspended while the client
 * has received everything and the callback has nothing new. */
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
/* Adds a header (copied). At most HTTP_MAX_HEADERS. A 401 answer gets
 * "WWW-Authenticate: Bearer" unless a WWW-Authenticate header was set. */
void http_set_header(struct http_response *resp, const char *name, const char *value);
int http_response_status(const struct http_response *resp);
/* The bytes fd[offset, offset + len) of a regular file, sent without being
 * read into memory (sendfile where it can). Takes fd: it is closed when
 * the response is gone (also when another reply replaces this one). */
void http_reply_fd(struct http_response *resp, int status, const char *content_type, int fd,
                   uint64_t offset, uint64_t len);

/* Streamed request bodies, for routes flagged HTTP_SINK (with HTTP_RAW_BODY
 * and a large body_max: the handler enforces its own limit). The body is
 * never kept in memory. The route's handler is called twice:
 *   1. "opening": once the headers are in and the caller is authenticated
 *      (the route's min role), before any byte of the body is read, in a
 *      pool thread, so it must not block long (read the store, open a
 *      file). http_sink_opening() is true. It either calls http_sink_set()
 *      or answers an error, which is sent at once: the body is not read.
 *   2. when the whole body has gone to write, as any handler (on a worker
 *      for POSTs; the caller is authenticated again). It takes the state
 *      with http_sink_take() and answers.
 * write gets the body's bytes in order, in a pool thread; it returns 0, or
 * a negative errno with e: then abort runs, the rest of the body is
 * discarded (up to 1 MiB, past that the connection is closed) and e is the
 * answer. abort frees a state nobody took: the client left before the end
 * of the body, a write failed, or the handler did not take it. */
typedef int (*http_sink_write_fn)(void *state, const void *data, size_t len, struct kerr *e);
bool http_sink_opening(const struct http_request *req);
void http_sink_set(struct http_request *req, http_sink_write_fn write, void (*abort)(void *state),
                   void *state);
/* The state given to http_sink_set(), now the caller's (NULL if none). */
void *http_sink_take(struct http_request *req);

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
	 * a pool thread, which then serves other connections. */
	void (*on_done)(const struct http_request *req, int status, int64_t usec);
	/* Called in a thread that ran a handler (or a stream callback) when that
	 * work is done, before the thread serves anything else: gives back what
	 * the thread holds for it (kumod: its store connection). May be NULL. */
	void (*on_thread_idle)(void);
	void *data;               /* weak; given to handlers as req->server_data */
	unsigned max_connections; /* 0 = 4096 */
	unsigned threads;         /* pool threads; 0 = two per online CPU */
	const char *tls_cert_pem; /* optional, PEM text; NULL = plain HTTP */
	const char *tls_key_pem;
	/* Called for every request that no route table matches, instead of
	 * the 404 or 405: no authentication (the handler does its own), the
	 * body as bytes in req->raw (at most fallback_body_max, else 413),
	 * req->route a placeholder with path "*". GET and HEAD run in a pool
	 * thread, so they must not block long; other methods run on a
	 * worker. NULL = the usual 404 and 405. (Redfish: redfish_http.c.) */
	http_handler_fn fallback;
	size_t fallback_body_max; /* 0 = HTTP_BODY_MAX */
	/* Only paths equal to this prefix or going on with '/' after it go
	 * to the fallback; the others get the usual 404 and 405 (kumod:
	 * "/redfish"). NULL = every path. */
	const char *fallback_prefix;
	/* More route flags for the fallback's placeholder route:
	 * HTTP_BLOCKING runs its GETs on workers too, for handlers that wait
	 * on other machines (kumod's Redfish aggregator). */
	unsigned fallback_flags;
	/* Answers the errors the server makes itself (413 body too large,
	 * 503 busy or stopping, 500 no answer) in another format than
	 * Kumo's {"error":{...}}: it must reply into resp. code is a
	 * negative errno (error.h), message says what happened. NULL =
	 * Kumo's format. Handlers' own errors do not pass here. */
	void (*error_body)(const struct http_request *req, struct http_response *resp, int code,
	                   const char *message);
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
