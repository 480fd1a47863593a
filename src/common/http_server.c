// SPDX-License-Identifier: MIT
/*
 * The HTTP server on libmicrohttpd. Per request it routes, reads the body
 * under the route's limit, parses and validates it, calls the auth hook and
 * the handler, and turns the response the handler built into an MHD
 * response with X-Request-Id. Also the http_reply_* and request accessor
 * functions handlers use, streamed request bodies (HTTP_SINK routes), and
 * the server's start and stop.
 *
 * Not here: the worker threads and streamed responses (http_worker.c),
 * matching and the OpenAPI document (http_router.c), schemas (schema.c),
 * and what any route does.
 *
 * Threads. A pool of epoll threads (two per CPU) serves every connection:
 * reading, writing, routing, and the handlers of GET requests that cannot
 * block. Everything else may wait a long time (a long-poll, ?wait=S, a
 * write queueing for the store's single writer, a password hash), so it
 * runs on a worker thread (http_worker.c) while its connection is suspended
 * (MHD_suspend_connection): the worker runs auth, body checks and handler,
 * then resumes the connection, and the pool thread queues the answer. A
 * stream's callback runs on a worker for the stream's life (http_worker.c).
 *
 * Request life: MHD's URI log callback (called once per request, with the
 * raw URI before MHD percent-decodes it) allocates a struct http_ctx, which
 * MHD hands to every access-handler call for that request and to the
 * completion callback, which reports on_done and frees it. The router sees
 * the raw path so that "%2F" inside a parameter cannot split a segment.
 * While a worker holds the ctx, its connection is suspended, so MHD calls
 * neither the access handler nor the completion callback for it.
 *
 * Errors found before the body is read (404, 405, 413 by Content-Length, a
 * body on a route that takes none) are answered at once when a body is
 * announced, so it is never read (MHD then closes the connection), and at
 * the end of the request otherwise, which keeps the connection alive. A
 * chunked body that grows past the limit cannot be answered mid-upload
 * (MHD 0.9 refuses to queue a response then): the rest is discarded, up to
 * BODY_DRAIN_MAX more bytes, then answered 413; past that the connection
 * is closed without an answer.
 *
 * MHD closes a connection with no I/O for CONNECTION_TIMEOUT_S (not
 * counting time suspended), so long streams must send something (SSE
 * ": keepalive") well within that.
 *
 * A server may have a fallback handler (cfg.fallback: the Redfish service,
 * which routes, authenticates and formats errors on its own): a request no
 * route table matches goes to it through a placeholder route with a raw
 * body, instead of the 404 or 405 (with cfg.fallback_prefix, only a
 * request under that prefix). With cfg.error_body, the errors this
 * file makes (404, 405, 413, 503, 500) are formatted by that hook.
 *
 * http_server_stop() refuses new work for workers (503), ends streams at
 * their callback's next return, and waits for the handlers running on
 * workers: wake long-polls first. Then it stops MHD, which may not be
 * stopped while a connection is suspended.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/http_server_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define CONNECTIONS_DEFAULT 4096
#define CONNECTION_TIMEOUT_S 120
#define BODY_DRAIN_MAX (1024 * 1024)
#define REQUEST_ID_MAX 64
/* Pool threads per CPU. Two rather than one: when the kernel preempts a
 * pool thread (for the clients on the same machine, say), only the
 * connections of that thread wait; on 2 CPUs under wrk this served about a
 * third more requests a second than one thread per CPU. */
#define POOL_THREADS_PER_CPU 2
#define STOP_FLUSH_MS 2000 /* at stop, how long answers already made may take to leave */

struct http_response {
	int status; /* 0 = nothing queued yet */
	char *body; /* owned */
	size_t len;
	char *content_type; /* owned */
	http_stream_fn stream;
	void *stream_cls; /* owned through stream_free until queued */
	void (*stream_free)(void *);
	int nheaders;
	char *hname[HTTP_MAX_HEADERS];  /* owned */
	char *hvalue[HTTP_MAX_HEADERS]; /* owned */
	/* http_reply_fd: the bytes [fd_off, fd_off + fd_len) of fd (owned) */
	bool has_fd;
	int fd;
	uint64_t fd_off, fd_len;
};

struct http_ctx {
	struct task task;        /* when the handler runs on a worker */
	struct http_server *srv; /* weak */
	struct http_request req;
	struct http_response resp;
	struct buf body;
	char *raw_path;  /* owned; req.path points here */
	char *raw_query; /* owned; after the '?', NULL if none */
	int64_t start_us;
	int status; /* status queued to MHD, 0 = none */
	bool routed;
	bool offload;  /* the handler runs on a worker (see needs_worker) */
	bool handled;  /* the worker ran it; resp holds the answer */
	bool early;    /* an error answer waits in resp for the end of the request */
	bool overflow; /* the body went past its limit */
	size_t drained;
	/* HTTP_SINK routes (see http_sink_set) */
	bool sink_opening;
	http_sink_write_fn sink_write;
	void (*sink_abort)(void *state);
	void *sink_state; /* owned through sink_abort until taken */
};

/* ---- responses ---- */

static void response_clear_body(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	free(resp->content_type);
	resp->content_type = NULL;
	if (resp->stream && resp->stream_free)
		resp->stream_free(resp->stream_cls);
	resp->stream = NULL;
	resp->stream_cls = NULL;
	resp->stream_free = NULL;
	if (resp->has_fd)
		close(resp->fd);
	resp->has_fd = false;
}

static void response_free(struct http_response *resp)
{
	response_clear_body(resp);
	for (int i = 0; i < resp->nheaders; i++) {
		free(resp->hname[i]);
		free(resp->hvalue[i]);
	}
	resp->nheaders = 0;
}

static const char *response_header(const struct http_response *resp, const char *name)
{
	for (int i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->hname[i], name) == 0)
			return resp->hvalue[i];
	return NULL;
}

void http_set_header(struct http_response *resp, const char *name, const char *value)
{
	if (!resp || str_empty(name) || !value)
		return;
	if (strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n")) {
		log_debug("%s: refusing header %s with a line break", __func__, name);
		return;
	}
	if (resp->nheaders >= HTTP_MAX_HEADERS) {
		log_debug("%s: too many headers, %s dropped", __func__, name);
		return;
	}
	resp->hname[resp->nheaders] = xstrdup(name);
	resp->hvalue[resp->nheaders] = xstrdup(value);
	resp->nheaders++;
}

int http_response_status(const struct http_response *resp)
{
	return resp ? resp->status : 0;
}

void http_reply_raw(struct http_response *resp, int status, const char *content_type,
                    const void *data, size_t len)
{
	assert(status >= 100 && status <= 599);
	response_clear_body(resp);
	resp->status = status;
	if (len) {
		resp->body = xmalloc(len);
		memcpy(resp->body, data, len);
		resp->len = len;
	}
	if (content_type)
		resp->content_type = xstrdup(content_type);
}

void http_reply_json(struct http_response *resp, int status, json_t *body)
{
	char *s = NULL;
	size_t n;

	assert(status >= 100 && status <= 599);
	response_clear_body(resp);
	if (body && status != 204) {
		s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!s) {
			static const char internal[] =
			    "{\"error\":{\"code\":\"Internal\",\"message\":"
			    "\"the response could not be encoded\"}}\n";

			json_decref(body);
			http_reply_raw(resp, 500, "application/json", internal,
			               sizeof(internal) - 1);
			return;
		}
		n = strlen(s);
		s = xrealloc(s, n + 2);
		s[n] = '\n';
		s[n + 1] = '\0';
		resp->body = s;
		resp->len = n + 1;
		resp->content_type = xstrdup("application/json");
	}
	json_decref(body);
	resp->status = status;
}

static void reply_error_msg(struct http_response *resp, int code, const char *field,
                            const char *msg)
{
	json_t *err;

	if (code == 0) /* not an error: a bug in the caller */
		code = -EIO;
	err = json_pack("{s:s, s:s}", "code", error_code_name(code), "message",
	                str_empty(msg) ? error_code_name(code) : msg);
	if (!str_empty(field))
		json_object_set_new(err, "field", json_string(field));
	http_reply_json(resp, error_http_status(code), json_pack("{s:o}", "error", err));
}

void http_reply_error(struct http_response *resp, int code, const char *field, const char *fmt, ...)
{
	char msg[KERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error_msg(resp, code, field, msg);
}

void http_reply_kerr(struct http_response *resp, const struct kerr *e)
{
	reply_error_msg(resp, e->code, e->field, e->message);
}

void http_reply_stream(struct http_response *resp, int status, const char *content_type,
                       http_stream_fn fn, void *cls, void (*free_cls)(void *))
{
	assert(status >= 100 && status <= 599);
	assert(fn);
	response_clear_body(resp);
	resp->status = status;
	resp->stream = fn;
	resp->stream_cls = cls;
	resp->stream_free = free_cls;
	if (content_type)
		resp->content_type = xstrdup(content_type);
}

/* ---- request accessors ---- */

const char *http_query(const struct http_request *req, const char *key)
{
	const char *v = NULL;
	size_t len = 0;

	if (!req || !req->conn || !key)
		return NULL;
	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
	                                  &len) != MHD_YES)
		return NULL;
	return v ? v : ""; /* "?follow" has a key and no value */
}

struct query_iter {
	void (*fn)(void *cls, const char *key, const char *value);
	void *cls;
};

static enum MHD_Result query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct query_iter *it = cls;

	it->fn(it->cls, key, value ? value : "");
	return MHD_YES;
}

void http_query_each(const struct http_request *req,
                     void (*fn)(void *cls, const char *key, const char *value), void *cls)
{
	struct query_iter it = { fn, cls };

	if (!req || !req->conn || !fn)
		return;
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_iter_cb, &it);
}

const char *http_header(const struct http_request *req, const char *name)
{
	if (!req || !req->conn || !name)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
/* ---- file responses and streamed request bodies ---- */

static enum MHD_Result queue(struct http_ctx *c, struct MHD_Connection *conn);

void http_reply_fd(struct http_response *resp, int status, const char *content_type, int fd,
                   uint64_t offset, uint64_t len)
{
	assert(status >= 100 && status <= 599);
	assert(fd >= 0);
	response_clear_body(resp);
	resp->status = status;
	resp->has_fd = true;
	resp->fd = fd;
	resp->fd_off = offset;
	resp->fd_len = len;
	if (content_type)
		resp->content_type = xstrdup(content_type);
}

/* The MHD response of http_reply_fd; MHD owns the fd from here on. */
static struct MHD_Response *file_response(struct http_response *rs)
{
	struct MHD_Response *mr;

	mr = MHD_create_response_from_fd_at_offset64(rs->fd_len, rs->fd, rs->fd_off);
	if (mr)
		rs->has_fd = false;
	return mr;
}

static struct http_ctx *req_ctx(const struct http_request *req)
{
	return (struct http_ctx *)((const char *)req - offsetof(struct http_ctx, req));
}

const char *http_query_string(const struct http_request *req)
{
	return req && req->conn ? req_ctx(req)->raw_query : NULL;
}

/* An error the server makes itself (not a handler's): in the format of
 * cfg.error_body when the server has one, else Kumo's. */
static void server_error(struct http_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void server_error(struct http_ctx *c, int code, const char *fmt, ...)
{
	char msg[KERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->srv->cfg.error_body) {
		c->srv->cfg.error_body(&c->req, &c->resp, code, msg);
		if (c->resp.status != 0)
			return;
	}
	http_reply_error(&c->resp, code, NULL, "%s", msg);
}

bool http_sink_opening(const struct http_request *req)
{
	return req_ctx(req)->sink_opening;
}

void http_sink_set(struct http_request *req, http_sink_write_fn write, void (*abort)(void *state),
                   void *state)
{
	struct http_ctx *c = req_ctx(req);

	assert(c->sink_opening && write && abort);
	c->sink_write = write;
	c->sink_abort = abort;
	c->sink_state = state;
}

void *http_sink_take(struct http_request *req)
{
	struct http_ctx *c = req_ctx(req);
	void *state = c->sink_state;

	c->sink_state = NULL;
	c->sink_write = NULL;
	c->sink_abort = NULL;
	return state;
}

/* Frees a sink state nobody took. */
static void sink_drop(struct http_ctx *c)
{
	void (*abort_fn)(void *state) = c->sink_abort;
	void *state = http_sink_take(&c->req);

	if (abort_fn)
		abort_fn(state);
}

/* First call of an HTTP_SINK request (headers in, no body read): the
 * caller is authenticated and the handler opens the sink, here in the pool
 * thread, so that a refusal is answered before the body is read. The
 * handler is authenticated again when it runs at the end of the body. */
static enum MHD_Result sink_open(struct http_ctx *c, struct MHD_Connection *conn, bool announced)
{
	struct http_server *s = c->srv;
	struct http_request *req = &c->req;
	struct kerr e;
	int r = 0;

	if (req->route->min_role != 0) {
		kerr_clear(&e);
		if (!s->cfg.auth) {
			kerr_set(&e, -EIO, NULL, "no authentication is configured");
			r = -EIO;
		} else {
			r = s->cfg.auth(req, req->route->min_role, &e);
		}
		if (r != 0) {
			if (e.code == 0)
				kerr_set(&e, r < 0 ? r : -EACCES, NULL, "authentication required");
			http_reply_kerr(&c->resp, &e);
		}
	}
	if (r == 0) {
		c->sink_opening = true;
		req->route->handler(req, &c->resp);
		c->sink_opening = false;
	}
	if (s->cfg.on_thread_idle) /* the auth hook may have taken something too */
		s->cfg.on_thread_idle();
	if (req->auth && s->cfg.auth_free)
		s->cfg.auth_free(req->auth);
	req->auth = NULL;
	if (c->resp.status == 0 && c->sink_write)
		return MHD_YES;
	sink_drop(c);
	if (c->resp.status == 0)
		http_reply_error(&c->resp, -EIO, NULL, "the handler did not accept the body");
	c->early = true;
	if (!announced)
		return MHD_YES; /* answered at the end: the connection stays usable */
	return queue(c, conn);
}

/* A piece of an HTTP_SINK body. A refusal is answered at the end of the
 * body (MHD cannot queue an answer in the middle of one). */
static enum MHD_Result sink_write(struct http_ctx *c, const char *data, size_t n)
{
	struct kerr e;

	kerr_clear(&e);
	if (c->sink_write(c->sink_state, data, n, &e) == 0)
		return MHD_YES;
	if (e.code == 0)
		kerr_set(&e, -EIO, NULL, "the upload failed");
	sink_drop(c);
	http_reply_kerr(&c->resp, &e);
	c->early = true;
	c->drained = 0;
	return MHD_YES;
}

/* ---- the request ---- */

static bool request_id_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= REQUEST_ID_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* A new request id: a random (v4) UUID from a per-thread xorshift128+
 * generator seeded once from the kernel. Request ids must be unique, not
 * secret, and libuuid reads the kernel's random source for every one. */
static void request_id_new(char out[UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	static __thread uint64_t st[2];
	unsigned char b[16];
	int o = 0;

	if (st[0] == 0 && st[1] == 0) {
		if (getrandom(st, sizeof(st), 0) != (ssize_t)sizeof(st) || (st[0] | st[1]) == 0) {
			st[0] = (uint64_t)mono_us() ^ (uint64_t)(uintptr_t)&st;
			st[1] = (uint64_t)now_ms() | 1;
		}
	}
	for (int k = 0; k < 2; k++) {
		uint64_t x = st[0], y = st[1], r;

		st[0] = y;
		x ^= x << 23;
		st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
		r = st[1] + y;
		memcpy(b + 8 * k, &r, sizeof(r));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, outlen, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, outlen);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) /* dual stack: show 10.0.0.1, not ::ffff:10.0.0.1 */
			inet_ntop(AF_INET, &a->s6_addr[12], out, outlen);
		else
			inet_ntop(AF_INET6, a, out, outlen);
	}
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_ctx *c = xcalloc(1, sizeof(*c));
	size_t n = strcspn(uri, "?#");

	c->srv = cls;
	atomic_fetch_add(&c->srv->nrequests, 1);
	c->start_us = mono_us();
	c->raw_path = xmalloc(n + 1);
	memcpy(c->raw_path, uri, n);
	c->raw_path[n] = '\0';
	if (uri[n] == '?') {
		size_t q = strcspn(uri + n + 1, "#");

		c->raw_query = xmalloc(q + 1);
		memcpy(c->raw_query, uri + n + 1, q);
		c->raw_query[q] = '\0';
	}
	return c;
}

static void ctx_free(struct http_ctx *c)
{
	sink_drop(c);
	http_request_clear_params(&c->req);
	json_decref(c->req.body);
	free(c->req.raw);
	if (c->req.auth && c->srv->cfg.auth_free)
		c->srv->cfg.auth_free(c->req.auth);
	response_free(&c->resp);
	buf_free(&c->body);
	free(c->raw_path);
	free(c->raw_query);
	free(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_ctx *c = *con_cls;

	if (!c)
		return;
	if (c->status && s->cfg.on_done)
		s->cfg.on_done(&c->req, c->status, mono_us() - c->start_us);
	ctx_free(c);
	*con_cls = NULL;
	atomic_fetch_sub(&s->nrequests, 1);
}

static bool add_header(struct MHD_Response *mr, const char *name, const char *value)
{
	if (MHD_add_response_header(mr, name, value) != MHD_YES) {
		log_debug("http: header %s refused by libmicrohttpd", name);
		return false;
	}
	return true;
}

/* Turns c->resp into an MHD response and queues it. */
static enum MHD_Result queue(struct http_ctx *c, struct MHD_Connection *conn)
{
	struct http_response *rs = &c->resp;
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (rs->stream) {
		mr =
		    http_stream_response(c->srv, conn, rs->stream, rs->stream_cls, rs->stream_free);
		rs->stream = NULL; /* the stream owns them now */
		rs->stream_cls = NULL;
		rs->stream_free = NULL;
		if (!mr)
			return MHD_NO;
		if (!response_header(rs, "Cache-Control"))
			add_header(mr, "Cache-Control", "no-cache");
	} else if (rs->has_fd) {
		mr = file_response(rs);
		if (!mr)
			return MHD_NO;
	} else if (rs->len) {
		mr = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
		if (!mr)
			return MHD_NO;
		rs->body = NULL; /* MHD frees it */
		rs->len = 0;
	} else {
		mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!mr)
			return MHD_NO;
	}
	if (rs->content_type && !response_header(rs, "Content-Type"))
		add_header(mr, "Content-Type", rs->content_type);
	add_header(mr, "X-Request-Id", c->req.request_id);
	if (rs->status == 401 && !response_header(rs, "WWW-Authenticate"))
		add_header(mr, "WWW-Authenticate", "Bearer");
	for (int i = 0; i < rs->nheaders; i++)
		add_header(mr, rs->hname[i], rs->hvalue[i]);
	ret = MHD_queue_response(conn, (unsigned)rs->status, mr);
	MHD_destroy_response(mr);
	if (ret == MHD_YES)
		c->status = rs->status;
	return ret;
}

/* Content-Length (when present) and whether a body is announced at all. */
static bool body_announced(struct MHD_Connection *conn, bool *ret_has_len, uint64_t *ret_len)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
	char *end;

	*ret_has_len = false;
	*ret_len = 0;
	if (cl) {
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (end != cl) {
			*ret_has_len = true;
			*ret_len = errno == ERANGE ? UINT64_MAX : v;
		}
		if (*ret_len > 0)
			return true;
	}
	return te != NULL;
}

/* May the handler block? Then it runs on a worker (see the top of the file).
 * Only GETs on routes not marked HTTP_BLOCKING and without a "wait" query
 * argument (the API's way to ask for a held answer: ?wait=S on jobs and the
 * agent long-poll) run in the pool thread. */
static bool needs_worker(const struct http_request *req, struct MHD_Connection *conn)
{
	bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

	if (!get || (req->route->flags & HTTP_BLOCKING))
		return true;
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "wait") != NULL;
}

/* Does the fallback take this path (see cfg.fallback_prefix)? */
static bool fallback_takes(const struct http_server *s, const char *path)
{
	const char *p = s->cfg.fallback_prefix;
	size_t n = p ? strlen(p) : 0;

	return !p || (strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* First call of a request: headers are in, no body read yet. */
static enum MHD_Result first_call(struct http_ctx *c, struct MHD_Connection *conn,
                                  const char *method)
{
	struct http_server *s = c->srv;
	struct http_request *req = &c->req;
	const struct route *route = NULL;
	const char *rid;
	char allow[128];
	bool has_len, announced;
	uint64_t clen;
	size_t max;
	int r;

	c->routed = true;
	req->method = method;
	req->path = c->raw_path;
	req->conn = conn;
	req->server_data = s->cfg.data;
	client_addr(conn, req->client_addr, sizeof(req->client_addr));
	rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (request_id_valid(rid))
		snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
	else
		request_id_new(req->request_id);

	announced = body_announced(conn, &has_len, &clen);
	r = http_route_match(s->cfg.tables, method, c->raw_path, req, &route, allow, sizeof(allow));
	if (r < 0 && s->cfg.fallback && fallback_takes(s, c->raw_path)) {
		route = &s->fallback;
		req->route = route;
		r = 0;
	}
	if (r == -EOPNOTSUPP) {
		server_error(c, r, "method %s is not allowed on %s", method, c->raw_path);
		http_set_header(&c->resp, "Allow", allow);
		goto early;
	}
	if (r < 0) {
		server_error(c, -ENOENT, "no such path: %s", c->raw_path);
		goto early;
	}
	max = route->body_max ? route->body_max : HTTP_BODY_MAX;
	buf_init(&c->body, max);
	if (has_len && clen > max) {
		server_error(c, -EMSGSIZE, "request body is over %zu bytes", max);
		goto early;
	}
	if (has_len && clen > 0 && !route->body && !(route->flags & HTTP_RAW_BODY)) {
		http_reply_error(&c->resp, -EINVAL, NULL, "%s %s takes no request body", method,
		                 route->path);
		goto early;
	}
	c->offload = needs_worker(req, conn);
	if (route->flags & HTTP_SINK)
		return sink_open(c, conn, announced);
	return MHD_YES;

early:
	c->early = true;
	if (!announced)
		return MHD_YES; /* answered at the end: the connection stays usable */
	return queue(c, conn);
}

/* Parses and validates the body into req; 0 or an error already in resp. */
static int take_body(struct http_ctx *c)
{
	struct http_request *req = &c->req;
	const struct route *route = req->route;
	bool partial = strcmp(req->method, "PATCH") == 0;
	char perr[200];
	struct kerr e;
	json_t *v;

	if (c->body.data) {
		req->raw_len = c->body.len;
		req->raw = buf_steal(&c->body);
	}
	if (route->flags & HTTP_RAW_BODY)
		return 0;
	if (req->raw_len == 0) {
		if (!route->body)
			return 0;
		/* No body: as if {} came, so required fields are reported. */
		v = json_object();
	} else {
		if (!route->body) {
			http_reply_error(&c->resp, -EINVAL, NULL, "%s %s takes no request body",
			                 req->method, route->path);
			return -EINVAL;
		}
		v = jparse(req->raw, req->raw_len, perr, sizeof(perr));
		if (!v) {
			http_reply_error(&c->resp, -EINVAL, NULL, "malformed JSON: %s", perr);
			return -EINVAL;
		}
	}
	kerr_clear(&e);
	if (schema_validate(route->body, v, partial, &e) < 0) {
		json_decref(v);
		if (e.code == 0)
			kerr_set(&e, -EINVAL, NULL, "invalid request body");
		http_reply_kerr(&c->resp, &e);
		return -EINVAL;
	}
	req->body = v;
	return 0;
}

/* Authenticates (routes with a min role), then reads and validates the
 * body, then runs the handler: a caller without credentials learns nothing
 * about the body a route expects. */
static void check_and_handle(struct http_ctx *c)
{
	struct http_server *s = c->srv;
	struct http_request *req = &c->req;
	const struct route *route = req->route;
	struct kerr e;
	int r;

	if (route->min_role != 0) {
		kerr_clear(&e);
		if (!s->cfg.auth) {
			http_reply_error(&c->resp, -EIO, NULL, "no authentication is configured");
			return;
		}
		r = s->cfg.auth(req, route->min_role, &e);
		if (r != 0) {
			if (e.code == 0)
				kerr_set(&e, r < 0 ? r : -EACCES, NULL, "authentication required");
			http_reply_kerr(&c->resp, &e);
			return;
		}
	}
	if (take_body(c) < 0)
		return;
	route->handler(req, &c->resp);
	if (c->resp.status == 0)
		server_error(c, -EIO, "the handler gave no answer");
}

/* check_and_handle(), then the thread lets go of what the auth hook or the
 * handler took (whichever of them ran). */
static void run_handler(struct http_ctx *c)
{
	check_and_handle(c);
	if (c->srv->cfg.on_thread_idle)
		c->srv->cfg.on_thread_idle();
}

/* The worker's side of an offloaded request; its connection is suspended. */
static void request_run(struct task *t)
{
	struct http_ctx *c = (struct http_ctx *)t;
	struct MHD_Connection *conn = c->req.conn;

	run_handler(c);
	c->handled = true;
	/* The pool thread queues the answer; c may be freed from now on. */
	MHD_resume_connection(conn);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
	struct http_ctx *c = *con_cls;
	int r;

	if (!c) /* not seen in practice: the URI callback runs first */
		*con_cls = c = on_uri(cls, url, conn);
	if (c->status) { /* already answered */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!c->routed)
		return first_call(c, conn, method);

	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (c->early || c->overflow) {
			c->drained += n;
			return c->drained > BODY_DRAIN_MAX ? MHD_NO : MHD_YES;
		}
		if (c->sink_write)
			return sink_write(c, upload_data, n);
		r = buf_append(&c->body, upload_data, n);
		if (r == -EMSGSIZE) {
			c->overflow = true;
			c->drained = n;
			buf_free(&c->body);
		} else if (r < 0) {
			return MHD_NO;
		}
		return MHD_YES;
	}

	/* The whole request is in. */
	if (c->early)
		return queue(c, conn);
	if (c->overflow) {
		server_error(c, -EMSGSIZE, "request body is over %zu bytes", c->body.max);
		return queue(c, conn);
	}
	if (c->handled) /* a worker ran it and resumed the connection */
		return queue(c, conn);
	if (c->offload) {
		r = http_worker_reserve(c->srv);
		if (r == 0) {
			/* Suspended before the worker can see it: the worker's
			 * resume always finds the connection suspended. */
			MHD_suspend_connection(conn);
			c->task.run = request_run;
			http_worker_queue(c->srv, &c->task);
			return MHD_YES;
		}
		server_error(c, r == -ESHUTDOWN ? r : -ENOTCONN, "%s",
		             r == -ESHUTDOWN ? "the server is stopping"
		                             : "the server is too busy; retry");
		return queue(c, conn);
	}
	run_handler(c);
	return queue(c, conn);
}

/* ---- the server ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0", ":8080", "localhost:8080". */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *ret_any6)
{
	char host[256];
	const char *colon, *hs, *he;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	*ret_any6 = false;
	if (str_empty(listen))
		return -EINVAL;
	if (listen[0] == '[') {
		hs = listen + 1;
		he = strchr(hs, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		colon = he + 1;
	} else {
		hs = listen;
		colon = strrchr(listen, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;

	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*ret_any6 = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
		return 0;
	}

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *ai = NULL;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
		return -EADDRNOTAVAIL;
	if (ai->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(ai);
		return -EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (ss->ss_family == AF_INET)
		sin->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		sin6->sin6_port = htons((uint16_t)port);
	else
		return -EAFNOSUPPORT;
	return 0;
}

int http_server_start(const struct http_server_config *cfg, struct http_server **ret, int *ret_port)
{
	struct sockaddr_storage ss;
	struct MHD_OptionItem opts[16];
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	unsigned flags, threads;
	bool any6;
	int n = 0, r;

	assert(cfg && ret);
	r = parse_listen(cfg->listen, &ss, &any6);
	if (r < 0)
		return r;
	if (!cfg->tables)
		return -EINVAL;
	if (!!cfg->tls_cert_pem != !!cfg->tls_key_pem)
		return -EINVAL;

	s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->fallback = (struct route){ .method = "*",
		                      .path = "*",
		                      .handler = cfg->fallback,
		                      .flags = HTTP_RAW_BODY | HTTP_HIDDEN | cfg->fallback_flags,
		                      .body_max = cfg->fallback_body_max };
	atomic_init(&s->stopping, false);
	atomic_init(&s->nrequests, 0);
	r = http_workers_init(s);
	if (r < 0) {
		free(s);
		return r;
	}
	threads = cfg->threads;
	if (threads == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		threads = POOL_THREADS_PER_CPU * (ncpu > 0 ? (unsigned)ncpu : 1);
	}
	/* epoll where there is one; poll otherwise (select() stops at fd 1024). */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
	        MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= any6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &ss };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
		                             cfg->max_connections ? cfg->max_connections
		                                                  : CONNECTIONS_DEFAULT,
		                             NULL };
	if (threads > 1)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
	opts[n++] =
	    (struct MHD_OptionItem){ MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK_SIZE, NULL };
	opts[n++] =
	    (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, NULL };
	/* Per-connection buffer for the request line, headers and upload chunks
	 * (bodies are collected in our own bounded buffer). 16 KiB instead of
	 * MHD's 32: a thousand agents' connections cost half the memory. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s };
	opts[n++] =
	    (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s };
	if (cfg->tls_cert_pem) {
		flags |= MHD_USE_TLS;
		s->tls_cert = xstrdup(cfg->tls_cert_pem);
		s->tls_key = xstrdup(cfg->tls_key_pem);
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	assert((size_t)n <= ARRAY_SIZE(opts));

	errno = 0;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts,
	                             MHD_OPTION_END);
	if (!s->daemon) {
		r = errno ? -errno : -EIO;
		http_server_stop(s);
		return r;
	}
	if (ret_port) {
		info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
		*ret_port = info ? info->port : 0;
	}
	*ret = s;
	return 0;
}

struct http_server *http_server_stop(struct http_server *s)
{
	if (!s)
		return NULL;
	/* Streams end at their callback's next return; handlers on workers
	 * (long-polls) are waited for, so wake them before stopping. MHD may
	 * only stop once no connection is suspended. */
	atomic_store(&s->stopping, true);
	if (s->wready)
		http_workers_drain(s);
	/* Answers just made (long-polls woken for the stop, ended streams)
	 * get a moment to reach their clients before MHD closes everything. */
	for (int64_t t0 = mono_ms();
	     s->daemon && atomic_load(&s->nrequests) > 0 && mono_ms() - t0 < STOP_FLUSH_MS;)
		usleep(10000);
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	http_workers_free(s);
	free(s->tls_cert);
	free(s->tls_key);
	free(s);
	return NULL;
}
