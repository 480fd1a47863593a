// SPDX-License-Identifier: MIT
/*
 * HTTP server tests: a real server on 127.0.0.1 port 0 with a small route
 * table and a test auth hook, driven by real requests through libcurl.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/http.h"
#include "common/json.h"
#include "common/util.h"

static struct http_server *server;
static int port;
static atomic_int auth_allocs, auth_frees, done_count, last_done_status;
static atomic_int stream_frees, idle_calls;
static pthread_mutex_t block_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cond = PTHREAD_COND_INITIALIZER;
static bool block_released;
static bool gate_open; /* under block_lock, with block_cond */
static atomic_int idle_marked;
static __thread int handler_ran; /* set by h_mark, cleared by test_thread_idle */

/* ---- routes ---- */

static void collect_q(void *cls, const char *key, const char *value)
{
	if (!strcmp(key, "q"))
		json_array_append_new(cls, json_string(value));
}

static void h_echo(struct http_request *req, struct http_response *resp)
{
	json_t *q = json_array();
	const char *follow = http_query(req, "follow");

	http_query_each(req, collect_q, q);
	http_reply_json(resp, 200,
	                json_pack("{s:s, s:o, s:s?, s:s?, s:s, s:s, s:s?}", "id",
	                          http_param(req, "id"), "q", q, "follow", follow, "first_q",
	                          http_query(req, "q"), "client", req->client_addr, "path",
	                          req->path, "custom", http_header(req, "x-CUSTOM")));
}

static void h_list(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 200, json_pack("{s:[], s:i}", "items", "total", 0));
}

static void h_create(struct http_request *req, struct http_response *resp)
{
	/* Bodies arrive parsed, validated, and as raw bytes (or none). No
	 * cmocka asserts here: this runs in the server's thread. */
	if (!req->body || (req->raw && req->raw_len != strlen(req->raw))) {
		http_reply_error(resp, -EIO, NULL, "body not handed over");
		return;
	}
	http_set_header(resp, "Location", "/v1/things/1");
	http_reply_json(resp, 201, json_incref(req->body));
}

static void h_delete(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 204, NULL);
}

static void h_raw(struct http_request *req, struct http_response *resp)
{
	if (req->body) {
		http_reply_error(resp, -EIO, NULL, "raw body was parsed");
		return;
	}
	http_reply_raw(resp, 200, "application/octet-stream", req->raw, req->raw_len);
}

static void h_nobody(struct http_request *req, struct http_response *resp)
{
	if (req->raw || req->body) {
		http_reply_error(resp, -EIO, NULL, "unexpected body");
		return;
	}
	http_reply_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void h_whoami(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 200, json_pack("{s:s}", "user", (const char *)req->auth));
}

static void h_noreply(struct http_request *req, struct http_response *resp)
{
}

static void h_small(struct http_request *req, struct http_response *resp)
{
	http_reply_json(resp, 200, json_pack("{s:I}", "len", (json_int_t)req->raw_len));
}

struct stream_state {
	int next;
	int64_t idle_until; /* returns 0 (nothing yet) until then */
};

static ssize_t stream_fn(void *cls, char *out, size_t max)
{
	struct stream_state *st = cls;

	if (mono_ms() < st->idle_until) {
		atomic_fetch_add(&idle_calls, 1);
		return 0; /* at once: the server must not spin on this */
	}
	if (st->next == 5)
		return -1;
	return snprintf(out, max, "data: %d\n\n", st->next++);
}

static void stream_free_cls(void *cls)
{
	free(cls);
	atomic_fetch_add(&stream_frees, 1);
}

static void h_stream(struct http_request *req, struct http_response *resp)
{
	struct stream_state *st = calloc(1, sizeof(*st));

	st->idle_until = mono_ms() + (http_query(req, "idle") ? 300 : 0);
	if (http_query(req, "forever"))
		st->idle_until = INT64_MAX;
	http_reply_stream(resp, 200, "text/event-stream", stream_fn, st, stream_free_cls);
}

static void h_block(struct http_request *req, struct http_response *resp)
{
	pthread_mutex_lock(&block_lock);
	while (!block_released)
		pthread_cond_wait(&block_cond, &block_lock);
	pthread_mutex_unlock(&block_lock);
	http_reply_json(resp, 200, json_pack("{s:s}", "waited", "yes"));
}

/* Waits for the gate to open (at most 10 s): a handler that blocks without
 * its route saying so (a POST, or a GET with ?wait). */
static void h_gate(struct http_request *req, struct http_response *resp)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&block_lock);
	while (!gate_open && pthread_cond_timedwait(&block_cond, &block_lock, &ts) == 0)
		;
	pthread_mutex_unlock(&block_lock);
	http_reply_json(resp, 200, json_pack("{s:b}", "opened", gate_open));
}

static void h_mark(struct http_request *req, struct http_response *resp)
{
	handler_ran = 1;
	http_reply_json(resp, 200, json_object());
}

static void h_release(struct http_request *req, struct http_response *resp)
{
	pthread_mutex_lock(&block_lock);
	block_released = true;
	pthread_cond_broadcast(&block_cond);
	pthread_mutex_unlock(&block_lock);
	http_reply_json(resp, 200, json_object());
}

static const struct field thing_fields[] = {
	{ .name = "name", .type = FT_NAME, .flags = F_REQUIRED },
	{ .name = "size", .type = FT_INT, .min = 1, .max = 10 },
	{ 0 },
};
static const struct schema thing_schema = { "Thing", thing_fields };

static const struct route routes[] = {
	{ "GET", "/v1/echo/{id}", h_echo, 0, NULL, 0, "Echo", 0, NULL },
	{ "GET", "/v1/things", h_list, 1, NULL, HTTP_LIST, "List", 0, NULL },
	{ "POST", "/v1/things", h_create, 1, &thing_schema, 0, "Create", 0, NULL },
	{ "PATCH", "/v1/things/{id}", h_create, 1, &thing_schema, 0, "Update", 0, NULL },
	{ "DELETE", "/v1/things/{id}", h_delete, 1, NULL, 0, "Delete", 0, NULL },
	{ "POST", "/v1/raw", h_raw, 0, NULL, HTTP_RAW_BODY, "Raw", 0, NULL },
	{ "POST", "/v1/nobody", h_nobody, 0, NULL, 0, "No body", 0, NULL },
	{ "POST", "/v1/small", h_small, 0, NULL, HTTP_RAW_BODY, "Small", 16, NULL },
	{ "GET", "/v1/whoami", h_whoami, 1, NULL, 0, "Who", 0, NULL },
	{ "GET", "/v1/admin", h_whoami, 2, NULL, 0, "Admin", 0, NULL },
	{ "GET", "/v1/noreply", h_noreply, 0, NULL, 0, "Broken", 0, NULL },
	{ "GET", "/v1/stream", h_stream, 0, NULL, HTTP_STREAM, "Stream", 0, NULL },
	{ "GET", "/v1/block", h_block, 0, NULL, HTTP_BLOCKING, "Block", 0, NULL },
	{ "GET", "/v1/release", h_release, 0, NULL, 0, "Release", 0, NULL },
	{ "GET", "/v1/gate", h_gate, 0, NULL, 0, "Gate", 0, NULL },
	{ "POST", "/v1/gate", h_gate, 0, NULL, HTTP_RAW_BODY, "Gate", 0, NULL },
	{ "GET", "/v1/mark", h_mark, 0, NULL, 0, "Mark", 0, NULL },
	{ "POST", "/v1/mark", h_mark, 0, NULL, HTTP_RAW_BODY, "Mark", 0, NULL },
	{ 0 },
};
static const struct route *const tables[] = { routes, NULL };

/* Role 1 needs "Bearer good"; role 2 is refused to it. */
static int test_auth(struct http_request *req, int min_role, struct kerr *e)
{
	const char *h = http_header(req, "Authorization");

	if (!h || strcmp(h, "Bearer good") != 0)
		return kerr_set(e, -EACCES, NULL, "missing or bad token");
	if (min_role > 1)
		return kerr_set(e, -EPERM, NULL, "admin only");
	req->auth = strdup("alice");
	atomic_fetch_add(&auth_allocs, 1);
	return 0;
}

static void test_auth_free(void *auth)
{
	free(auth);
	atomic_fetch_add(&auth_frees, 1);
}

/* Must run in the thread that ran the handler, after it. */
static void test_thread_idle(void)
{
	if (handler_ran)
		atomic_fetch_add(&idle_marked, 1);
	handler_ran = 0;
}

static void test_on_done(const struct http_request *req, int status, int64_t usec)
{
	if (usec < 0)
		abort();
	atomic_store(&last_done_status, status);
	atomic_fetch_add(&done_count, 1);
}

/* ---- client ---- */

struct reply {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char headers[8192];
	size_t hlen;
	long connects;
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;

	r->body = realloc(r->body, r->len + size * n + 1);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t k = size * n;

	/* Keep only the last response's headers (not a 100 Continue's). */
	if (k > 5 && !strncmp(p, "HTTP/", 5))
		r->hlen = 0;
	if (r->hlen + k < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

/* Value of a response header (static buffer), or NULL. */
static const char *hdr(const struct reply *r, const char *name)
{
	static char val[512];
	size_t n = strlen(name);

	for (const char *l = r->headers; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *v = l + n + 1;
			size_t k;

			while (*v == ' ')
				v++;
			k = strcspn(v, "\r\n");
			snprintf(val, sizeof(val), "%.*s", (int)k, v);
			return val;
		}
	return NULL;
}

struct upload {
	size_t left;
};

static size_t on_read(char *out, size_t size, size_t n, void *cls)
{
	struct upload *u = cls;
	size_t k = size * n < u->left ? size * n : u->left;

	memset(out, 'x', k);
	u->left -= k;
	return k;
}

/* One request. chunked_len > 0 sends that many bytes chunked instead of body. */
static void request_on(CURL *c, const char *method, const char *path, const char *body, size_t len,
                       const char *const *headers, size_t chunked_len, struct reply *r)
{
	struct curl_slist *hl = NULL;
	struct upload up = { chunked_len };
	char url[2048];

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	if (chunked_len) {
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
	curl_slist_free_all(hl);
}

static void request(const char *method, const char *path, const char *body,
                    const char *const *headers, struct reply *r)
{
	CURL *c = curl_easy_init();

	request_on(c, method, path, body, body ? strlen(body) : 0, headers, 0, r);
	curl_easy_cleanup(c);
}

static json_t *reply_json(const struct reply *r)
{
	char err[200];
	json_t *v;

	assert_non_null(r->body);
	v = jparse(r->body, r->len, err, sizeof(err));
	if (!v)
		fail_msg("not JSON: %s: %s", err, r->body);
	return v;
}

/* Checks an error reply: status, code, field ("" = none) and message prefix. */
static void expect_error(const struct reply *r, long status, const char *code, const char *field,
                         const char *msg_prefix)
{
	json_t *v, *e;

	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, status);
	assert_string_equal(hdr(r, "Content-Type"), "application/json");
	assert_non_null(hdr(r, "X-Request-Id"));
	v = reply_json(r);
	e = json_object_get(v, "error");
	assert_non_null(e);
	assert_string_equal(jstr(e, "code"), code);
	if (field[0])
		assert_string_equal(jstr(e, "field"), field);
	else
		assert_null(json_object_get(e, "field"));
	if (strncmp(jstr(e, "message"), msg_prefix, strlen(msg_prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", jstr(e, "message"),
		         msg_prefix);
	json_decref(v);
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	struct http_server_config cfg = {
		.listen = "127.0.0.1:0",
		.tables = tables,
		.auth = test_auth,
		.auth_free = test_auth_free,
		.on_done = test_on_done,
		.on_thread_idle = test_thread_idle,
		.max_connections = 64,
		.threads = 1, /* a handler blocking the pool thread would stall every test */
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (http_server_start(&cfg, &server, &port) != 0)
		return -1;
	return port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	server = http_server_stop(server);
	curl_global_cleanup();
	return 0;
}

/* ---- tests ---- */

static void test_json_200(void **state)
{
	const char *h[] = { "X-Custom: hello", NULL };
	struct reply r;
	json_t *v;

	request("GET", "/v1/echo/a%20b?x=1", NULL, h, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "Content-Type"), "application/json");
	/* Compact, one line, newline-terminated. */
	assert_true(r.len > 1 && r.body[r.len - 1] == '\n');
	assert_null(strstr(r.body, "\": "));
	assert_null(strchr(r.body, '\n') + 1 < r.body + r.len ? r.body : NULL);
	v = reply_json(&r);
	assert_string_equal(jstr(v, "id"), "a b");
	assert_string_equal(jstr(v, "client"), "127.0.0.1");
	assert_string_equal(jstr(v, "path"), "/v1/echo/a%20b");
	assert_string_equal(jstr(v, "custom"), "hello");
	assert_true(json_is_null(json_object_get(v, "follow")));
	json_decref(v);
	reply_free(&r);
}

static void test_query_args(void **state)
{
	struct reply r;
	json_t *v, *q;

	request("GET",
	        "/v1/echo/x?q=state%3Drunning&sort=name&q=vcpus%3E%3D2&q=name~%3Dweb+1&follow",
	        NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	v = reply_json(&r);
	q = json_object_get(v, "q");
	assert_int_equal(json_array_size(q), 3);
	assert_string_equal(json_string_value(json_array_get(q, 0)), "state=running");
	assert_string_equal(json_string_value(json_array_get(q, 1)), "vcpus>=2");
	assert_string_equal(json_string_value(json_array_get(q, 2)), "name~=web 1");
	assert_string_equal(jstr(v, "first_q"), "state=running");
	/* A key without a value is present and empty. */
	assert_string_equal(jstr(v, "follow"), "");
	json_decref(v);
	reply_free(&r);
}

static void test_404(void **state)
{
	struct reply r;

	request("GET", "/v1/nothing/here", NULL, NULL, &r);
	expect_error(&r, 404, "NotFound", "", "no such path");
	reply_free(&r);
	/* A parameter that decodes to '/' is no resource either. */
	request("GET", "/v1/echo/a%2Fb", NULL, NULL, &r);
	expect_error(&r, 404, "NotFound", "", "");
	reply_free(&r);
	/* With a body, 404 comes without reading it. */
	request("POST", "/v1/nothing", "{\"a\":1}", NULL, &r);
	expect_error(&r, 404, "NotFound", "", "");
	reply_free(&r);
}

static void test_keepalive_after_404(void **state)
{
	CURL *c = curl_easy_init();
	struct reply r;

	request_on(c, "GET", "/v1/nothing", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request_on(c, "GET", "/v1/echo/x", NULL, 0, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.connects, 0); /* the connection was reused */
	reply_free(&r);
	curl_easy_cleanup(c);
}

static void test_405(void **state)
{
	struct reply r;

	request("PUT", "/v1/things", "{}", NULL, &r);
	expect_error(&r, 405, "MethodNotAllowed", "", "method PUT is not allowed");
	assert_string_equal(hdr(&r, "Allow"), "GET, POST");
	reply_free(&r);
	request("GET", "/v1/things/7", NULL, NULL, &r);
	expect_error(&r, 405, "MethodNotAllowed", "", "");
	assert_string_equal(hdr(&r, "Allow"), "PATCH, DELETE");
	reply_free(&r);
}

static void test_413(void **state)
{
	const char *h[] = { "Authorization: Bearer good", NULL };
	size_t n = 2 * 1024 * 1024;
	char *big = malloc(n + 1);
	CURL *c = curl_easy_init();
	struct reply r;

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	request("POST", "/v1/things", big, h, &r);
	expect_error(&r, 413, "PayloadTooLarge", "", "request body is over 1048576 bytes");
	reply_free(&r);
	/* The route's own limit. */
	request("POST", "/v1/small", "0123456789abcdefX", NULL, &r);
	expect_error(&r, 413, "PayloadTooLarge", "", "request body is over 16 bytes");
	reply_free(&r);
	request("POST", "/v1/small", "0123456789abcdef", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	/* Chunked: no Content-Length to refuse early; answered at the end. */
	request_on(c, "POST", "/v1/small", NULL, 0, NULL, 100000, &r);
	expect_error(&r, 413, "PayloadTooLarge", "", "request body is over 16 bytes");
	reply_free(&r);
	request_on(c, "POST", "/v1/small", NULL, 0, NULL, 10, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	/* Far past the limit the connection is cut without an answer. */
	request_on(c, "POST", "/v1/small", NULL, 0, NULL, 8 * 1024 * 1024, &r);
	assert_true(r.rc != CURLE_OK || r.status == 0);
	reply_free(&r);
	curl_easy_cleanup(c);
	free(big);
}

static void test_400_body(void **state)
{
	const char *h[] = { "Authorization: Bearer good", NULL };
	struct reply r;

	request("POST", "/v1/things", "{\"name\": \"a\"", h, &r);
	expect_error(&r, 400, "InvalidArgument", "", "malformed JSON: ");
	reply_free(&r);
	request("POST", "/v1/things", "{\"name\":\"a\",\"foo\":1}", h, &r);
	expect_error(&r, 400, "InvalidArgument", "foo", "unknown field \"foo\"");
	reply_free(&r);
	request("POST", "/v1/things", "{\"name\":\"a\",\"size\":11}", h, &r);
	expect_error(&r, 400, "InvalidArgument", "size", "field \"size\" must be between 1 and 10");
	reply_free(&r);
	request("POST", "/v1/things", "[1]", h, &r);
	expect_error(&r, 400, "InvalidArgument", "", "body must be a JSON object");
	reply_free(&r);
	/* No body at all on a route with a schema: as if {} came. */
	request("POST", "/v1/things", NULL, h, &r);
	expect_error(&r, 400, "InvalidArgument", "name", "field \"name\" is required");
	reply_free(&r);
	/* PATCH is partial. */
	request("PATCH", "/v1/things/1", "{\"size\":2}", h, &r);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	/* A route without a body schema refuses a body. */
	request("POST", "/v1/nobody", "{}", NULL, &r);
	expect_error(&r, 400, "InvalidArgument", "", "POST /v1/nobody takes no request body");
	reply_free(&r);
	request("POST", "/v1/nobody", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

static void test_create_201(void **state)
{
	const char *h[] = { "Authorization: Bearer good", NULL };
	struct reply r;

	request("POST", "/v1/things", "{ \"name\" : \"widget\", \"size\" : 3 }", h, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 201);
	assert_string_equal(hdr(&r, "Location"), "/v1/things/1");
	assert_string_equal(r.body, "{\"name\":\"widget\",\"size\":3}\n");
	reply_free(&r);

	request("DELETE", "/v1/things/1", NULL, h, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	reply_free(&r);
}

static void test_raw_body(void **state)
{
	static const char bytes[] = { 'a', 0, 'b', (char)0xff, '\n' };
	CURL *c = curl_easy_init();
	struct reply r;

	request_on(c, "POST", "/v1/raw", bytes, sizeof(bytes), NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "Content-Type"), "application/octet-stream");
	assert_int_equal(r.len, sizeof(bytes));
	assert_memory_equal(r.body, bytes, sizeof(bytes));
	reply_free(&r);
	curl_easy_cleanup(c);
}

static void test_auth_hook(void **state)
{
	const char *good[] = { "Authorization: Bearer good", NULL };
	const char *bad[] = { "Authorization: Bearer nope", NULL };
	struct reply r;
	json_t *v;

	request("GET", "/v1/whoami", NULL, NULL, &r);
	expect_error(&r, 401, "Unauthenticated", "", "missing or bad token");
	assert_string_equal(hdr(&r, "WWW-Authenticate"), "Bearer");
	reply_free(&r);
	request("GET", "/v1/whoami", NULL, bad, &r);
	expect_error(&r, 401, "Unauthenticated", "", "missing or bad token");
	reply_free(&r);
	request("GET", "/v1/admin", NULL, good, &r);
	expect_error(&r, 403, "PermissionDenied", "", "admin only");
	assert_null(hdr(&r, "WWW-Authenticate"));
	reply_free(&r);
	request("GET", "/v1/whoami", NULL, good, &r);
	assert_int_equal(r.status, 200);
	v = reply_json(&r);
	assert_string_equal(jstr(v, "user"), "alice");
	json_decref(v);
	reply_free(&r);
	/* Open routes do not call the hook. */
	int before = atomic_load(&auth_allocs);

	request("GET", "/v1/echo/x", NULL, good, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&auth_allocs), before);
	reply_free(&r);
}

static void test_request_id(void **state)
{
	const char *mine[] = { "X-Request-Id: abc.DEF_1-2", NULL };
	const char *bad[] = { "X-Request-Id: not ok!", NULL };
	char h64[100], h65[100];
	const char *long64[] = { h64, NULL }, *long65[] = { h65, NULL };
	struct reply r;

	strcpy(h64, "X-Request-Id: ");
	memset(h64 + strlen(h64), 'r', 64);
	h64[14 + 64] = '\0';
	strcpy(h65, h64);
	strcat(h65, "r");

	request("GET", "/v1/echo/x", NULL, mine, &r);
	assert_string_equal(hdr(&r, "X-Request-Id"), "abc.DEF_1-2");
	reply_free(&r);
	request("GET", "/v1/echo/x", NULL, long64, &r);
	assert_string_equal(hdr(&r, "X-Request-Id"), h64 + 14);
	reply_free(&r);
	request("GET", "/v1/echo/x", NULL, long65, &r);
	assert_true(uuid_valid(hdr(&r, "X-Request-Id")));
	reply_free(&r);
	request("GET", "/v1/echo/x", NULL, bad, &r);
	assert_true(uuid_valid(hdr(&r, "X-Request-Id")));
	reply_free(&r);
	request("GET", "/v1/echo/x", NULL, NULL, &r);
	assert_true(uuid_valid(hdr(&r, "X-Request-Id")));
	reply_free(&r);
	/* On errors too. */
	request("GET", "/v1/nothing", NULL, mine, &r);
	assert_string_equal(hdr(&r, "X-Request-Id"), "abc.DEF_1-2");
	reply_free(&r);
	request("DELETE", "/v1/echo/x", NULL, mine, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(hdr(&r, "X-Request-Id"), "abc.DEF_1-2");
	reply_free(&r);
}

static void test_no_reply_500(void **state)
{
	struct reply r;

	request("GET", "/v1/noreply", NULL, NULL, &r);
	expect_error(&r, 500, "Internal", "", "");
	reply_free(&r);
}

static bool wait_for(atomic_int *v, int want, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(10000);
	}
	return atomic_load(v) >= want;
}

static void test_stream(void **state)
{
	int frees = atomic_load(&stream_frees);
	struct reply r;

	request("GET", "/v1/stream", NULL, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "Content-Type"), "text/event-stream");
	assert_string_equal(hdr(&r, "Cache-Control"), "no-cache");
	assert_non_null(hdr(&r, "X-Request-Id"));
	assert_string_equal(r.body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
	reply_free(&r);
	assert_true(wait_for(&stream_frees, frees + 1, 2000));

	/* A stream with nothing to say for 300 ms does not spin. */
	atomic_store(&idle_calls, 0);
	request("GET", "/v1/stream?idle=1", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
	assert_true(atomic_load(&idle_calls) >= 3);
	assert_true(atomic_load(&idle_calls) <= 40);
	reply_free(&r);
	assert_true(wait_for(&stream_frees, frees + 2, 2000));
}

/* A raw GET that gives up after ms; the status it saw, 0 if none. */
static long get_with_timeout(int to_port, const char *path, long ms)
{
	CURL *c = curl_easy_init();
	char url[256];
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", to_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	struct reply r = { 0 };

	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	free(r.body);
	return status;
}

static void test_stream_client_gone(void **state)
{
	int frees = atomic_load(&stream_frees);

	/* The client leaves while the stream has nothing to send: the
	 * server notices and frees the stream without waiting for data. */
	assert_int_equal(get_with_timeout(port, "/v1/stream?forever=1", 300), 200);
	assert_true(wait_for(&stream_frees, frees + 1, 3000));
}

struct stop_client {
	int port;
	long status;
};

static void *stop_client_main(void *arg)
{
	struct stop_client *sc = arg;

	sc->status = get_with_timeout(sc->port, "/v1/stream?forever=1", 10000);
	return NULL;
}

static void test_stop_while_streaming(void **state)
{
	struct http_server_config cfg = { .listen = "127.0.0.1:0", .tables = tables };
	int frees = atomic_load(&stream_frees);
	struct stop_client sc = { 0 };
	struct http_server *s;
	pthread_t t;
	int64_t t0;

	assert_int_equal(http_server_start(&cfg, &s, &sc.port), 0);
	pthread_create(&t, NULL, stop_client_main, &sc);
	usleep(300000);
	t0 = mono_ms();
	s = http_server_stop(s);
	assert_null(s);
	assert_true(mono_ms() - t0 < 2000);
	pthread_join(t, NULL);
	assert_int_equal(sc.status, 200);
	assert_int_equal(atomic_load(&stream_frees), frees + 1);
}

static void *blocked_request(void *arg)
{
	struct reply *r = arg;

	request("GET", "/v1/block", NULL, NULL, r);
	return NULL;
}

static void test_blocking_handler(void **state)
{
	struct reply blocked, r;
	pthread_t t;

	/* One handler blocks; other connections are served meanwhile. */
	pthread_create(&t, NULL, blocked_request, &blocked);
	usleep(100000);
	request("GET", "/v1/echo/x", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("GET", "/v1/release", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	pthread_join(t, NULL);
	assert_int_equal(blocked.status, 200);
	assert_string_equal(blocked.body, "{\"waited\":\"yes\"}\n");
	reply_free(&blocked);
}

static void gate_set(bool open)
{
	pthread_mutex_lock(&block_lock);
	gate_open = open;
	pthread_cond_broadcast(&block_cond);
	pthread_mutex_unlock(&block_lock);
}

struct gate_client {
	pthread_t t;
	const char *method;
	const char *path;
	struct reply r;
};

static void *gate_client_main(void *arg)
{
	struct gate_client *g = arg;

	request(g->method, g->path, strcmp(g->method, "POST") ? NULL : "x", NULL, &g->r);
	return NULL;
}

static void test_waits_and_writes_run_on_workers(void **state)
{
	struct gate_client g[6];
	struct reply r;
	int64_t t0;

	/* POSTs, and GETs with ?wait, may block without their route saying
	 * so: they must not hold the (single) pool thread. */
	gate_set(false);
	for (int i = 0; i < 6; i++) {
		g[i] = (struct gate_client){ .method = i % 2 ? "POST" : "GET",
			                     .path = i % 2 ? "/v1/gate" : "/v1/gate?wait=5" };
		pthread_create(&g[i].t, NULL, gate_client_main, &g[i]);
	}
	usleep(300000);
	t0 = mono_ms();
	request("GET", "/v1/echo/free", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	request("POST", "/v1/mark", "x", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_true(mono_ms() - t0 < 2000);
	gate_set(true);
	for (int i = 0; i < 6; i++) {
		pthread_join(g[i].t, NULL);
		assert_int_equal(g[i].r.status, 200);
		assert_string_equal(g[i].r.body, "{\"opened\":true}\n");
		reply_free(&g[i].r);
	}
	gate_set(false);
}

static void test_thread_idle_runs_where_the_handler_ran(void **state)
{
	int before = atomic_load(&idle_marked);
	struct reply r;

	/* In the pool thread (GET) and on a worker (POST) alike. */
	for (int i = 0; i < 4; i++) {
		request("GET", "/v1/mark", NULL, NULL, &r);
		assert_int_equal(r.status, 200);
		reply_free(&r);
		request("POST", "/v1/mark", "x", NULL, &r);
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	assert_int_equal(atomic_load(&idle_marked), before + 8);
}

struct stopper {
	struct http_server *s;
	atomic_bool done;
};

static void *stopper_main(void *arg)
{
	struct stopper *st = arg;

	st->s = http_server_stop(st->s);
	atomic_store(&st->done, true);
	return NULL;
}

static void test_stop_waits_for_workers_and_sends_their_answers(void **state)
{
	struct http_server_config cfg = { .listen = "127.0.0.1:0", .tables = tables, .threads = 1 };
	struct gate_client g = { .method = "POST", .path = "/v1/gate" };
	struct stopper st = { 0 };
	pthread_t t;
	int saved = port;

	gate_set(false);
	/* request() goes to the global port: this server's until the end */
	assert_int_equal(http_server_start(&cfg, &st.s, &port), 0);
	pthread_create(&g.t, NULL, gate_client_main, &g);
	usleep(200000);
	pthread_create(&t, NULL, stopper_main, &st);
	usleep(300000);
	assert_false(atomic_load(&st.done)); /* the handler still runs */
	gate_set(true);
	pthread_join(t, NULL);
	assert_null(st.s);
	pthread_join(g.t, NULL);
	port = saved;
	assert_int_equal(g.r.rc, CURLE_OK);
	assert_int_equal(g.r.status, 200); /* answered before the server closed */
	reply_free(&g.r);
	gate_set(false);
}

static void test_on_done_and_auth_free(void **state)
{
	int before = atomic_load(&done_count);
	struct reply r;

	request("GET", "/v1/nothing", NULL, NULL, &r);
	reply_free(&r);
	assert_true(wait_for(&done_count, before + 1, 2000));
	assert_int_equal(atomic_load(&last_done_status), 404);
	request("GET", "/v1/echo/x", NULL, NULL, &r);
	reply_free(&r);
	assert_true(wait_for(&done_count, before + 2, 2000));
	assert_int_equal(atomic_load(&last_done_status), 200);
	/* Every auth the hook set has been freed by now. */
	assert_true(atomic_load(&auth_allocs) > 0);
	assert_true(wait_for(&auth_frees, atomic_load(&auth_allocs), 2000));
	assert_int_equal(atomic_load(&auth_frees), atomic_load(&auth_allocs));
}

static void test_start_errors(void **state)
{
	struct http_server_config cfg = { .tables = tables };
	struct http_server *s = NULL, *s6 = NULL;
	int p = -1, r;
	char listen[64];

	cfg.listen = "nonsense";
	assert_int_equal(http_server_start(&cfg, &s, &p), -EINVAL);
	cfg.listen = "127.0.0.1:70000";
	assert_int_equal(http_server_start(&cfg, &s, &p), -EINVAL);
	cfg.listen = "[::1:80";
	assert_int_equal(http_server_start(&cfg, &s, &p), -EINVAL);
	assert_null(s);
	assert_int_equal(p, -1);
	/* The port in use. */
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	cfg.listen = listen;
	assert_true(http_server_start(&cfg, &s, &p) < 0);
	assert_null(s);
	/* IPv6 loopback, where the machine has it. */
	cfg.listen = "[::1]:0";
	r = http_server_start(&cfg, &s6, &p);
	if (r == 0) {
		assert_true(p > 0);
		s6 = http_server_stop(s6);
	}
	assert_null(s6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_200),
		cmocka_unit_test(test_query_args),
		cmocka_unit_test(test_404),
		cmocka_unit_test(test_keepalive_after_404),
		cmocka_unit_test(test_405),
		cmocka_unit_test(test_413),
		cmocka_unit_test(test_400_body),
		cmocka_unit_test(test_create_201),
		cmocka_unit_test(test_raw_body),
		cmocka_unit_test(test_auth_hook),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_no_reply_500),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_client_gone),
		cmocka_unit_test(test_stop_while_streaming),
		cmocka_unit_test(test_blocking_handler),
		cmocka_unit_test(test_waits_and_writes_run_on_workers),
		cmocka_unit_test(test_thread_idle_runs_where_the_handler_ran),
		cmocka_unit_test(test_stop_waits_for_workers_and_sends_their_answers),
		cmocka_unit_test(test_on_done_and_auth_free),
		cmocka_unit_test(test_start_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
