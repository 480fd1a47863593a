// SPDX-License-Identifier: MIT
/*
 * The HTTP client (src/common/http_client.c) against a tiny canned-response
 * server on loopback: requests as sent, JSON parsing, Location, keep-alive,
 * one-shot headers, errno mapping (refused, timeout, cancel), the nesting
 * limit, streaming and URL escaping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

/* One connection at a time; every request gets `response` after `delay_ms`. */
struct server {
	int fd;
	int port;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	char response[8192];
	int delay_ms;
	char last_request[8192]; /* head and body of the last request */
	int accepts, requests;
};

static int read_request(int fd, char *out, size_t outlen)
{
	size_t len = 0, need = 0;
	char *end = NULL;

	for (;;) {
		ssize_t n;

		if (len + 1 >= outlen)
			return -1;
		n = recv(fd, out + len, outlen - len - 1, 0);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		out[len] = '\0';
		if (!end) {
			end = strstr(out, "\r\n\r\n");
			if (end) {
				const char *cl = strcasestr(out, "Content-Length:");

				need = (size_t)(end + 4 - out) +
				       (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
			}
		}
		if (end && len >= need)
			return 0;
	}
}

static void serve_connection(struct server *s, int c)
{
	char req[8192], resp[8192];

	while (!atomic_load(&s->stop) && read_request(c, req, sizeof(req)) == 0) {
		int delay;

		pthread_mutex_lock(&s->lock);
		snprintf(s->last_request, sizeof(s->last_request), "%s", req);
		s->requests++;
		snprintf(resp, sizeof(resp), "%s", s->response);
		delay = s->delay_ms;
		pthread_mutex_unlock(&s->lock);
		for (int waited = 0; waited < delay && !atomic_load(&s->stop); waited += 10)
			usleep(10 * 1000);
		if (send(c, resp, strlen(resp), MSG_NOSIGNAL) < 0 ||
		    strstr(resp, "Connection: close"))
			break;
	}
	close(c);
}

static void *server_main(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		s->accepts++;
		pthread_mutex_unlock(&s->lock);
		serve_connection(s, c);
	}
	return NULL;
}

static int listen_any(int *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static void set_response(struct server *s, int delay_ms, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	va_start(ap, fmt);
	vsnprintf(s->response, sizeof(s->response), fmt, ap);
	va_end(ap);
	s->delay_ms = delay_ms;
	pthread_mutex_unlock(&s->lock);
}

/* A response with a JSON (or any) body. */
static void set_body(struct server *s, int status, const char *ctype, const char *body)
{
	set_response(s, 0, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
	             status, ctype, strlen(body), body);
}

static int setup(void **state)
{
	struct server *s = xcalloc(1, sizeof(*s));

	s->fd = listen_any(&s->port);
	pthread_mutex_init(&s->lock, NULL);
	set_body(s, 200, "application/json", "{}");
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;

	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return 0;
}

static struct http_client *client(struct server *s)
{
	char *url = xasprintf("http://127.0.0.1:%d/", s->port);
	struct http_client *c = http_client_new(url);

	free(url);
	assert_non_null(c);
	return c;
}

static void test_json_request_and_response(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	json_t *body = json_pack("{s:s, s:i}", "name", "web", "vcpus", 2);
	struct http_result res;

	set_response(
	    s, 0,
	    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
	    "location:  /v1/jobs/42 \r\nContent-Length: 20\r\n\r\n{\"id\":\"x\",\"n\":[1,2]}");
	http_client_set_token(c, "s3cret");
	assert_int_equal(http_client_request(c, "POST", "/v1/vms?wait=1", body, 0, &res), 0);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.location, "/v1/jobs/42");
	assert_non_null(res.json);
	assert_string_equal(jstr(res.json, "id"), "x");
	assert_int_equal(res.body_len, 20);
	assert_string_equal(res.error, "");
	http_result_clear(&res);

	pthread_mutex_lock(&s->lock);
	assert_true(str_startswith(s->last_request, "POST /v1/vms?wait=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s->last_request, "Authorization: Bearer s3cret\r\n"));
	assert_non_null(strstr(s->last_request, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(s->last_request, "\r\n\r\n{\"name\":\"web\",\"vcpus\":2}"));
	assert_null(strstr(s->last_request, "Expect:"));
	pthread_mutex_unlock(&s->lock);

	/* no token after clearing it; GET has no body */
	http_client_set_token(c, NULL);
	assert_int_equal(http_client_request(c, "GET", "v1/zones", NULL, 0, &res), 0);
	http_result_clear(&res);
	pthread_mutex_lock(&s->lock);
	assert_true(str_startswith(s->last_request, "GET /v1/zones HTTP/1.1\r\n"));
	assert_null(strstr(s->last_request, "Authorization:"));
	assert_null(strstr(s->last_request, "Content-Type:"));
	pthread_mutex_unlock(&s->lock);

	json_decref(body);
	http_client_free(c);
}

static void test_methods(void **state)
{
	static const char *const methods[] = { "PUT", "PATCH", "DELETE" };
	struct server *s = *state;
	struct http_client *c = client(s);
	struct http_result res;

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		char want[64];

		assert_int_equal(
		    http_client_request_raw(c, methods[i], "/x", "text/plain", "abc", 3, 0, &res),
		    0);
		http_result_clear(&res);
		snprintf(want, sizeof(want), "%s /x HTTP/1.1\r\n", methods[i]);
		pthread_mutex_lock(&s->lock);
		assert_true(str_startswith(s->last_request, want));
		assert_non_null(strstr(s->last_request, "Content-Type: text/plain\r\n"));
		assert_non_null(strstr(s->last_request, "\r\n\r\nabc"));
		pthread_mutex_unlock(&s->lock);
	}
	/* a DELETE without a body */
	assert_int_equal(http_client_request(c, "DELETE", "/y", NULL, 0, &res), 0);
	http_result_clear(&res);
	pthread_mutex_lock(&s->lock);
	assert_true(str_startswith(s->last_request, "DELETE /y HTTP/1.1\r\n"));
	assert_null(strstr(s->last_request, "Content-Length: 3"));
	pthread_mutex_unlock(&s->lock);
	http_client_free(c);
}

static void test_body_kinds(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	struct http_result res;
	char deep[300];

	/* JSON without a JSON content type is still parsed */
	set_body(s, 200, "text/plain", "  [1,2,3]");
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	assert_true(json_is_array(res.json));
	http_result_clear(&res);

	/* text stays text */
	set_body(s, 404, "text/html", "<h1>no</h1>");
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	assert_int_equal(res.status, 404);
	assert_null(res.json);
	assert_string_equal(res.body, "<h1>no</h1>");
	http_result_clear(&res);

	/* broken JSON: the body, no json */
	set_body(s, 500, "application/json", "{\"a\":");
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	assert_null(res.json);
	assert_string_equal(res.body, "{\"a\":");
	http_result_clear(&res);

	/* empty body */
	set_response(s, 0, "HTTP/1.1 204 No Content\r\n\r\n");
	assert_int_equal(http_client_request(c, "DELETE", "/", NULL, 0, &res), 0);
	assert_int_equal(res.status, 204);
	assert_string_equal(res.body, "");
	assert_null(res.json);
	assert_null(res.location);
	http_result_clear(&res);

	/* nested deeper than the limit: not parsed; strings do not count */
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	deep[200] = '\0';
	set_body(s, 200, "application/json", deep);
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	assert_null(res.json);
	assert_int_equal(res.body_len, 200);
	http_result_clear(&res);
	snprintf(deep, sizeof(deep), "{\"s\":\"%s\"}",
	         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	         "[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[[");
	set_body(s, 200, "application/json", deep);
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	assert_non_null(res.json);
	http_result_clear(&res);
	http_client_free(c);
}

static void test_keepalive_and_once_header(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	struct http_result res;

	http_client_add_header(c, "Idempotency-Key: k1");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_client_request(c, "POST", "/a", NULL, 0, &res), 0);
		assert_int_equal(res.status, 200);
		http_result_clear(&res);
		pthread_mutex_lock(&s->lock);
		if (i == 0)
			assert_non_null(strstr(s->last_request, "Idempotency-Key: k1\r\n"));
		else
			assert_null(strstr(s->last_request, "Idempotency-Key"));
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->requests, 3);
	assert_int_equal(s->accepts, 1); /* one connection for all three */
	pthread_mutex_unlock(&s->lock);
	http_client_free(c);
}

static void test_refused(void **state)
{
	struct http_result res;
	struct http_client *c;
	char *url;
	int port, fd = listen_any(&port);

	close(fd); /* nothing listens there now */
	url = xasprintf("http://127.0.0.1:%d", port);
	c = http_client_new(url);
	free(url);
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), -ECONNREFUSED);
	assert_int_equal(res.status, 0);
	assert_true(strlen(res.error) > 0);
	assert_string_equal(res.body, "");
	assert_null(res.json);
	http_result_clear(&res);
	http_client_free(c);
}

static void test_timeout(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	struct http_result res;
	int64_t t0 = mono_ms();

	set_response(s, 5000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http_client_request(c, "GET", "/slow", NULL, 1, &res), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 3000);
	assert_int_equal(res.status, 0);
	http_result_clear(&res);
	http_client_free(c);
}

static atomic_int cancel_flag;

static int cancelled_cb(void *cls)
{
	return atomic_load((atomic_int *)cls);
}

static void *cancel_later(void *arg)
{
	usleep(300 * 1000);
	atomic_store(&cancel_flag, 1);
	return NULL;
}

static void test_cancel(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	struct http_result res;
	pthread_t t;
	int64_t t0, dt;

	atomic_store(&cancel_flag, 0);
	http_client_set_cancel(c, cancelled_cb, &cancel_flag);
	/* not cancelled: requests go through */
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), 0);
	http_result_clear(&res);

	/* cancelled from another thread while blocked in a slow request */
	set_response(s, 5000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	t0 = mono_ms();
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	assert_int_equal(http_client_request(c, "GET", "/poll", NULL, 30, &res), -ECANCELED);
	dt = mono_ms() - t0;
	pthread_join(t, NULL);
	assert_true(dt >= 250 && dt < 2500);
	assert_string_equal(res.error, "request cancelled");
	http_result_clear(&res);
	/* and later requests end at once */
	assert_int_equal(http_client_request(c, "GET", "/", NULL, 0, &res), -ECANCELED);
	http_result_clear(&res);
	http_client_set_cancel(c, NULL, NULL);
	http_client_free(c);
}

struct chunks {
	char data[256];
	size_t len;
	int calls, stop_after;
};

static int on_data(void *cls, const char *data, size_t len)
{
	struct chunks *ch = cls;

	if (ch->len + len < sizeof(ch->data)) {
		memcpy(ch->data + ch->len, data, len);
		ch->len += len;
		ch->data[ch->len] = '\0';
	}
	return ++ch->calls == ch->stop_after;
}

static void test_stream(void **state)
{
	struct server *s = *state;
	struct http_client *c = client(s);
	struct chunks ch = { .stop_after = 0 };

	set_response(
	    s, 0,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
	    "id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n");
	assert_int_equal(http_client_stream(c, "/v1/events?follow=1", on_data, &ch), 0);
	assert_string_equal(ch.data, "id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n");
	pthread_mutex_lock(&s->lock);
	assert_true(str_startswith(s->last_request, "GET /v1/events?follow=1 HTTP/1.1\r\n"));
	pthread_mutex_unlock(&s->lock);

	/* the callback ends it */
	memset(&ch, 0, sizeof(ch));
	ch.stop_after = 1;
	assert_int_equal(http_client_stream(c, "/e", on_data, &ch), 0);
	assert_int_equal(ch.calls, 1);

	/* an error status: an errno, and no data for the callback */
	memset(&ch, 0, sizeof(ch));
	set_body(s, 401, "application/json", "{\"error\":{\"code\":\"Unauthenticated\"}}");
	assert_int_equal(http_client_stream(c, "/e", on_data, &ch), -EACCES);
	assert_int_equal(ch.calls, 0);
	set_body(s, 404, "application/json", "{}");
	assert_int_equal(http_client_stream(c, "/e", on_data, &ch), -ENOENT);
	http_client_free(c);
}

static void test_escape(void **state)
{
	char *e = http_escape("a b/c?d=e&f~g.h_i-j%k\xc3\xa9");

	assert_string_equal(e, "a%20b%2Fc%3Fd%3De%26f~g.h_i-j%25k%C3%A9");
	free(e);
	e = http_escape("");
	assert_string_equal(e, "");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_request_and_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_and_once_header, setup, teardown),
		cmocka_unit_test(test_refused),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
