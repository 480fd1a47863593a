// SPDX-License-Identifier: MIT
/*
 * The metadata server (src/agent/net_meta.c) on loopback: two VMs told
 * apart by source address (127.0.0.1 and 127.0.0.2), every EC2 and
 * OpenStack path, HEAD, errors (400, 404, 405, 431), swapping entries,
 * removing a listener, slow and idle clients, the connection limit,
 * stopping with connections open, and (as root) a listener inside a
 * network namespace that the root namespace cannot reach.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/net_meta.h"
#include "common/json.h"
#include "common/util.h"

#define VM_A "127.0.0.1"
#define VM_B "127.0.0.2"
#define NOBODY "127.0.0.3"

static struct meta *meta;
static int port;

/* ---- client ---- */

struct resp {
	int status;
	char type[128];
	long content_length; /* -1: none */
	char *body;          /* NUL-terminated, malloc'd */
	size_t body_len;
};

static void resp_free(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* A TCP connection from src to 127.0.0.1:p, or -errno. */
static int connect_from(const char *src, int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (src) {
		struct sockaddr_in me = { .sin_family = AF_INET };

		assert_int_equal(inet_pton(AF_INET, src, &me.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	}
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

/* Reads the whole answer until the server closes and parses it. */
static void read_resp(int fd, struct resp *r)
{
	size_t len = 0, cap = 4096;
	char *all = xmalloc(cap), *end, *h;

	memset(r, 0, sizeof(*r));
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			cap *= 2;
			all = xrealloc(all, cap);
		}
		n = recv(fd, all + len, cap - len - 1, 0);
		if (n < 0 && errno == ECONNRESET && len > 0)
			break;
		assert_true(n >= 0); /* not a timeout */
		if (n == 0)
			break;
		len += (size_t)n;
	}
	all[len] = '\0';
	end = strstr(all, "\r\n\r\n");
	assert_non_null(end);
	assert_int_equal(sscanf(all, "HTTP/1.1 %d ", &r->status), 1);
	r->content_length = -1;
	h = strcasestr(all, "\r\nContent-Length: ");
	if (h && h < end)
		r->content_length = strtol(h + 18, NULL, 10);
	h = strcasestr(all, "\r\nContent-Type: ");
	if (h && h < end)
		sscanf(h + 16, "%127[^\r]", r->type);
	assert_non_null(strcasestr(all, "\r\nConnection: close\r\n"));
	r->body_len = len - (size_t)(end + 4 - all);
	r->body = xmalloc(r->body_len + 1);
	memcpy(r->body, end + 4, r->body_len);
	r->body[r->body_len] = '\0';
	free(all);
}

static void raw(const char *src, const char *req, size_t reqlen, struct resp *r)
{
	int fd = connect_from(src, port);

	assert_true(fd >= 0);
	send_all(fd, req, reqlen);
	read_resp(fd, r);
	close(fd);
}

static void get(const char *src, const char *path, struct resp *r)
{
	char req[2048];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", path);
	raw(src, req, strlen(req), r);
	assert_int_equal(r->content_length, (long)r->body_len);
}

/* GET path from src: status and body as expected, text/plain for 200s. */
static void expect(const char *src, const char *path, int status, const char *body)
{
	struct resp r;

	get(src, path, &r);
	if (r.status != status || (body && strcmp(r.body, body) != 0))
		print_error("%s from %s: %d '%s'\n", path, src, r.status, r.body);
	assert_int_equal(r.status, status);
	if (body)
		assert_string_equal(r.body, body);
	if (status == 200 && !strstr(path, "user") && !strstr(path, ".json"))
		assert_string_equal(r.type, "text/plain");
	resp_free(&r);
}

/* ---- fixture ---- */

static json_t *entries_v1(void)
{
	return json_pack("[{s:s, s:s, s:s, s:s, s:[s,s], s:s}, {s:s, s:s, s:s, s:n, s:[], s:s}]",
	                 "instance_id", "i-aaaa", "hostname", "vm-a", "local_ipv4", VM_A,
	                 "public_ipv4", "203.0.113.5", "public_keys", "ssh-ed25519 AAAAa a@x",
	                 "ssh-rsa BBBBb b@y", "user_data", "#cloud-config\nhostname: vm-a\n",
	                 "instance_id", "i-bbbb", "hostname", "vm-b", "local_ipv4", VM_B,
	                 "public_ipv4", "public_keys", "user_data", "secret-of-b");
}

static int setup(void **state)
{
	json_t *e = entries_v1();
	char err[256] = "";

	assert_int_equal(meta_start(&meta), 0);
	assert_int_equal(meta_set(meta, "l3a", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	port = meta_port(meta, "l3a");
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	meta_stop(meta);
	meta = NULL;
	return 0;
}

/* ---- tests ---- */

static void test_ec2_paths(void **state)
{
	static const char *const prefixes[] = { "/latest", "/2009-04-04" };
	struct resp r;

	expect(VM_A, "/", 200, "latest\n");
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		char p[256];
#define P(s) (snprintf(p, sizeof(p), "%s%s", prefixes[i], s), p)
		expect(VM_A, P(""), 200, "meta-data\nuser-data\n");
		expect(VM_A, P("/"), 200, "meta-data\nuser-data\n");
		expect(VM_A, P("/meta-data/"), 200,
		       "instance-id\nhostname\nlocal-hostname\nlocal-ipv4\npublic-ipv4\n"
		       "public-keys/\n");
		expect(VM_A, P("/meta-data"), 200,
		       "instance-id\nhostname\nlocal-hostname\nlocal-ipv4\npublic-ipv4\n"
		       "public-keys/\n");
		expect(VM_A, P("/meta-data/instance-id"), 200, "i-aaaa");
		expect(VM_A, P("/meta-data/hostname"), 200, "vm-a");
		expect(VM_A, P("/meta-data/local-hostname"), 200, "vm-a");
		expect(VM_A, P("/meta-data/local-ipv4"), 200, VM_A);
		expect(VM_A, P("/meta-data/public-ipv4"), 200, "203.0.113.5");
		expect(VM_A, P("/meta-data/public-keys/"), 200, "0=key0\n1=key1");
		expect(VM_A, P("/meta-data/public-keys"), 200, "0=key0\n1=key1");
		expect(VM_A, P("/meta-data/public-keys/0/"), 200, "openssh-key");
		expect(VM_A, P("/meta-data/public-keys/1"), 200, "openssh-key");
		expect(VM_A, P("/meta-data/public-keys/0/openssh-key"), 200,
		       "ssh-ed25519 AAAAa a@x");
		expect(VM_A, P("/meta-data/public-keys/1/openssh-key"), 200, "ssh-rsa BBBBb b@y");
		expect(VM_A, P("/meta-data/public-keys/2/openssh-key"), 404, NULL);
		expect(VM_A, P("/meta-data/public-keys/01/openssh-key"), 404, NULL);
		expect(VM_A, P("/meta-data/public-keys/0/other"), 404, NULL);
		expect(VM_A, P("/meta-data/public-keys/x"), 404, NULL);
		expect(VM_A, P("/meta-data/public-keys/99999999999999999999999"), 404, NULL);
		expect(VM_A, P("/meta-data/nope"), 404, NULL);
		expect(VM_A, P("/meta-data/instance-id/"), 404, NULL);
		get(VM_A, P("/user-data"), &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.type, "application/octet-stream");
		assert_string_equal(r.body, "#cloud-config\nhostname: vm-a\n");
		resp_free(&r);
#undef P
	}
	/* a query string does not change the answer */
	expect(VM_A, "/latest/meta-data/instance-id?x=1", 200, "i-aaaa");
}

static void test_openstack_paths(void **state)
{
	static const char *const prefixes[] = { "/openstack/latest", "/openstack/2012-08-10" };
	struct resp r;

	expect(VM_A, "/openstack", 200, "latest\n2012-08-10\n");
	expect(VM_A, "/openstack/", 200, "latest\n2012-08-10\n");
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		char p[256];
		json_t *j, *keys;

		snprintf(p, sizeof(p), "%s/", prefixes[i]);
		expect(VM_A, p, 200, "meta_data.json\nuser_data\n");
		snprintf(p, sizeof(p), "%s/meta_data.json", prefixes[i]);
		get(VM_A, p, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.type, "application/json");
		j = jparse(r.body, r.body_len, NULL, 0);
		assert_non_null(j);
		assert_string_equal(jstr(j, "uuid"), "i-aaaa");
		assert_string_equal(jstr(j, "name"), "vm-a");
		assert_string_equal(jstr(j, "hostname"), "vm-a");
		assert_int_equal(jint(j, "launch_index", -1), 0);
		assert_string_equal(jstr(j, "availability_zone"), "kumo");
		keys = json_object_get(j, "public_keys");
		assert_int_equal(json_object_size(keys), 2);
		assert_string_equal(jstr(keys, "key-0"), "ssh-ed25519 AAAAa a@x");
		assert_string_equal(jstr(keys, "key-1"), "ssh-rsa BBBBb b@y");
		json_decref(j);
		resp_free(&r);
		snprintf(p, sizeof(p), "%s/user_data", prefixes[i]);
		get(VM_A, p, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.type, "application/octet-stream");
		assert_string_equal(r.body, "#cloud-config\nhostname: vm-a\n");
		resp_free(&r);
	}
	expect(VM_A, "/openstack/2099-01-01/meta_data.json", 404, NULL);
	expect(VM_A, "/openstack/latest/vendor_data.json", 404, NULL);
}

/* Each VM sees itself only; an unknown source sees nothing. */
static void test_source_identifies_vm(void **state)
{
	static const char *const a_paths[] = {
		"/latest/meta-data/",
		"/latest/meta-data/instance-id",
		"/latest/meta-data/hostname",
		"/latest/meta-data/local-ipv4",
		"/latest/meta-data/public-ipv4",
		"/latest/meta-data/public-keys/",
		"/latest/user-data",
		"/openstack/latest/meta_data.json",
		"/openstack/latest/user_data",
	};
	struct resp r;
	json_t *j;

	expect(VM_B, "/latest/meta-data/instance-id", 200, "i-bbbb");
	expect(VM_B, "/latest/meta-data/hostname", 200, "vm-b");
	expect(VM_B, "/latest/meta-data/local-ipv4", 200, VM_B);
	expect(VM_B, "/latest/meta-data/", 200,
	       "instance-id\nhostname\nlocal-hostname\nlocal-ipv4\n");
	expect(VM_B, "/latest/meta-data/public-ipv4", 404, NULL);
	expect(VM_B, "/latest/meta-data/public-keys/", 404, NULL);
	expect(VM_B, "/latest/meta-data/public-keys/0/openssh-key", 404, NULL);
	get(VM_B, "/latest/user-data", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "secret-of-b");
	resp_free(&r);
	get(VM_B, "/openstack/latest/meta_data.json", &r);
	j = jparse(r.body, r.body_len, NULL, 0);
	assert_non_null(j);
	assert_string_equal(jstr(j, "uuid"), "i-bbbb");
	assert_int_equal(json_object_size(json_object_get(j, "public_keys")), 0);
	json_decref(j);
	resp_free(&r);

	for (size_t i = 0; i < ARRAY_SIZE(a_paths); i++) {
		get(VM_A, a_paths[i], &r);
		assert_int_equal(r.status, 200);
		assert_null(strstr(r.body, "secret-of-b"));
		assert_null(strstr(r.body, "bbbb"));
		assert_null(strstr(r.body, VM_B));
		resp_free(&r);
		/* a source no entry has: 404 on every path, nothing leaks */
		get(NOBODY, a_paths[i], &r);
		assert_int_equal(r.status, 404);
		assert_null(strstr(r.body, "aaaa"));
		assert_null(strstr(r.body, "secret"));
		resp_free(&r);
	}
	expect(NOBODY, "/", 404, NULL);
}

static void test_head(void **state)
{
	static const char *const paths[] = { "/latest/meta-data/instance-id", "/latest/user-data",
		                             "/openstack/latest/meta_data.json", "/nope" };

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		struct resp g, h;
		char req[256];

		get(VM_A, paths[i], &g);
		snprintf(req, sizeof(req), "HEAD %s HTTP/1.0\r\n\r\n", paths[i]);
		raw(VM_A, req, strlen(req), &h);
		assert_int_equal(h.status, g.status);
		assert_int_equal(h.content_length, (long)g.body_len);
		assert_int_equal(h.body_len, 0);
		assert_string_equal(h.type, g.type);
		resp_free(&g);
		resp_free(&h);
	}
}

static void test_errors(void **state)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "POST /latest/user-data HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405 },
		{ "DELETE / HTTP/1.1\r\n\r\n", 405 },
		{ "get / HTTP/1.1\r\n\r\n", 405 }, /* methods are case-sensitive */
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET /\r\n\r\n", 400 }, /* HTTP/0.9 */
		{ "GET / HTTP/2.0\r\n\r\n", 400 },
		{ "GET / HTTP/1.1 extra\r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\n\r\n", 400 },
		{ "GET latest HTTP/1.1\r\n\r\n", 400 },
		{ "GET http://169.254.169.254/ HTTP/1.1\r\n\r\n", 400 },
		{ "G(T / HTTP/1.1\r\n\r\n", 400 },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
		{ "GET /latest/meta-data/instance-id HTTP/1.0\n\n", 200 }, /* bare LF */
		{ "GET /nothing/here HTTP/1.1\r\n\r\n", 404 },
		{ "GET /latestx HTTP/1.1\r\n\r\n", 404 },
		{ "GET /latest/meta-data/../user-data HTTP/1.1\r\n\r\n", 404 },
	};
	static const char nul_req[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
	struct resp r;
	char *big;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		raw(VM_A, cases[i].req, strlen(cases[i].req), &r);
		if (r.status != cases[i].status)
			print_error("case %zu: %d\n", i, r.status);
		assert_int_equal(r.status, cases[i].status);
		assert_int_equal(r.content_length, (long)r.body_len);
		resp_free(&r);
	}
	raw(VM_A, nul_req, sizeof(nul_req) - 1, &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);

	/* 405 names the allowed methods */
	{
		int fd = connect_from(VM_A, port);
		char all[1024];
		ssize_t n;
		size_t len = 0;
		const char *req = "PUT / HTTP/1.1\r\n\r\n";

		send_all(fd, req, strlen(req));
		while ((n = recv(fd, all + len, sizeof(all) - 1 - len, 0)) > 0)
			len += (size_t)n;
		all[len] = '\0';
		assert_non_null(strstr(all, "\r\nAllow: GET, HEAD\r\n"));
		close(fd);
	}

	/* a head over 8 KiB: 431, even though the client keeps sending */
	big = xmalloc(20000);
	strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', 19000);
	big[19000] = '\0';
	raw(VM_A, big, strlen(big), &r);
	assert_int_equal(r.status, 431);
	resp_free(&r);
	/* just under the limit is fine */
	memset(big, 0, 20000);
	strcpy(big, "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', 8192 - strlen(big) - 4);
	strcat(big, "\r\n\r\n");
	assert_int_equal(strlen(big), 8192);
	raw(VM_A, big, strlen(big), &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "i-aaaa");
	resp_free(&r);
	free(big);

	/* the server is still fine after all that */
	expect(VM_A, "/latest/meta-data/instance-id", 200, "i-aaaa");
}

static void test_large_user_data(void **state)
{
	char err[256] = "";
	char *ud = xmalloc(2 * 1024 * 1024 + 1);
	json_t *e;
	struct resp r;

	memset(ud, 'u', 900 * 1024);
	ud[900 * 1024] = '\0';
	e = json_pack("[{s:s, s:s, s:s, s:s}]", "instance_id", "i-big", "hostname", "big",
	              "local_ipv4", VM_A, "user_data", ud);
	assert_int_equal(meta_set(meta, "l3a", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	get(VM_A, "/latest/user-data", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 900 * 1024);
	assert_string_equal(r.body, ud);
	resp_free(&r);

	/* past the answer limit: a clean 500, not a truncated answer */
	memset(ud, 'u', 2 * 1024 * 1024);
	ud[2 * 1024 * 1024] = '\0';
	e = json_pack("[{s:s, s:s, s:s, s:s}]", "instance_id", "i-big", "hostname", "big",
	              "local_ipv4", VM_A, "user_data", ud);
	assert_int_equal(meta_set(meta, "l3a", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	get(VM_A, "/latest/user-data", &r);
	assert_int_equal(r.status, 500);
	resp_free(&r);
	free(ud);
}

static void test_swap_entries(void **state)
{
	char err[256] = "";
	json_t *e = json_pack("[{s:s, s:s, s:s, s:[]}]", "instance_id", "i-new", "hostname",
	                      "vm-new", "local_ipv4", VM_A, "public_keys");
	int before_fd, after_fd;
	struct resp r;

	/* a request whose head is half sent when the entries change */
	before_fd = connect_from(VM_A, port);
	send_all(before_fd, "GET /latest/meta-data/instance-id HTTP/1.1\r\n", 44);
	usleep(50 * 1000);

	/* addr and port of a second call are ignored: only the entries change */
	assert_int_equal(meta_set(meta, "l3a", NULL, "127.0.0.1", 1, e, err, sizeof(err)), 0);
	json_decref(e);
	assert_int_equal(meta_port(meta, "l3a"), port);
	expect(VM_A, "/latest/meta-data/instance-id", 200, "i-new");
	expect(VM_A, "/latest/meta-data/public-keys/", 404, NULL);
	expect(VM_A, "/latest/user-data", 404, NULL);
	expect(VM_A, "/openstack/latest/user_data", 404, NULL);
	/* B is not in the new entries */
	expect(VM_B, "/latest/meta-data/instance-id", 404, NULL);

	/* the half-sent request is answered from the entries at its end */
	send_all(before_fd, "\r\n", 2);
	read_resp(before_fd, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "i-new");
	resp_free(&r);
	close(before_fd);

	/* and back */
	e = entries_v1();
	assert_int_equal(meta_set(meta, "l3a", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	expect(VM_B, "/latest/user-data", 200, "secret-of-b");
	after_fd = connect_from(VM_A, port);
	assert_true(after_fd >= 0);
	close(after_fd);
}

static void test_remove(void **state)
{
	char err[256] = "";
	json_t *e = entries_v1();
	int fd, p2;

	/* a second L3 on another port, removed while the first stays */
	assert_int_equal(meta_set(meta, "l3b", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	p2 = meta_port(meta, "l3b");
	assert_true(p2 > 0 && p2 != port);
	fd = connect_from(VM_B, p2);
	assert_true(fd >= 0);
	close(fd);

	/* a connection open at removal is closed without an answer */
	fd = connect_from(VM_B, p2);
	assert_true(fd >= 0);
	send_all(fd, "GET / HTTP/1.1\r\n", 16);
	usleep(50 * 1000);
	meta_remove(meta, "l3b");
	send_all(fd, "\r\n", 2);
	{
		char c;

		assert_true(recv(fd, &c, 1, 0) <= 0);
	}
	close(fd);

	assert_int_equal(connect_from(VM_B, p2), -ECONNREFUSED);
	assert_int_equal(meta_port(meta, "l3b"), -ENOENT);
	meta_remove(meta, "l3b");     /* twice: nothing */
	meta_remove(meta, "unknown"); /* never set: nothing */
	expect(VM_B, "/latest/meta-data/instance-id", 200, "i-bbbb");

	meta_remove(meta, "l3a");
	assert_int_equal(connect_from(VM_A, port), -ECONNREFUSED);
}

static void test_set_errors(void **state)
{
	char err[256] = "";
	json_t *e = entries_v1(), *o = json_object();

	assert_int_equal(meta_set(meta, "x", NULL, "nope", 0, e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(meta_set(meta, "x", NULL, "::1", 0, e, err, sizeof(err)), -EINVAL);
	assert_int_equal(meta_set(meta, "x", NULL, NULL, 0, e, err, sizeof(err)), -EINVAL);
	assert_int_equal(meta_set(meta, "x", NULL, "127.0.0.1", 0, o, err, sizeof(err)), -EINVAL);
	/* the port l3a holds */
	err[0] = '\0';
	assert_int_equal(
	    meta_set(meta, "x", NULL, "127.0.0.1", (uint16_t)port, e, err, sizeof(err)),
	    -EADDRINUSE);
	assert_non_null(strstr(err, "bind"));
	err[0] = '\0';
	assert_int_equal(
	    meta_set(meta, "x", "/nonexistent/netns", "127.0.0.1", 0, e, err, sizeof(err)),
	    -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/netns"));
	assert_int_equal(meta_port(meta, "x"), -ENOENT);
	json_decref(e);
	json_decref(o);
	/* the address does not have to exist on the host (IP_FREEBIND) */
	e = entries_v1();
	assert_int_equal(meta_set(meta, "free", NULL, "169.254.169.254", 0, e, err, sizeof(err)),
	                 0);
	json_decref(e);
	assert_true(meta_port(meta, "free") > 0);
}

static int64_t ms_since(int64_t t0)
{
	return mono_ms() - t0;
}

/* Clients that send half a request and wait do not delay another one. */
static void test_slow_clients(void **state)
{
	enum { NSLOW = 100 };
	int slow[NSLOW];
	int64_t t0;
	struct resp r;

	for (int i = 0; i < NSLOW; i++) {
		slow[i] = connect_from(i % 2 ? VM_A : VM_B, port);
		assert_true(slow[i] >= 0);
		send_all(slow[i], "GET /latest/meta-da", 19);
	}
	usleep(100 * 1000);
	t0 = mono_ms();
	for (int i = 0; i < 10; i++) {
		get(VM_A, "/latest/meta-data/instance-id", &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
	assert_true(ms_since(t0) < 1000);
	/* the slow ones are still served once they finish */
	for (int i = 0; i < NSLOW; i++) {
		send_all(slow[i], "ta/local-ipv4 HTTP/1.1\r\n\r\n", 26);
		read_resp(slow[i], &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, i % 2 ? VM_A : VM_B);
		resp_free(&r);
		close(slow[i]);
	}
}

/* Past 256 open connections new ones are accepted and closed at once;
 * once they go, service is back. */
static void test_connection_limit(void **state)
{
	enum { N = 300 };
	int fds[N], closed = 0;
	int64_t t0;
	struct resp r;

	for (int i = 0; i < N; i++) {
		fds[i] = connect_from(VM_A, port);
		assert_true(fds[i] >= 0);
	}
	t0 = mono_ms();
	while (ms_since(t0) < 2000 && closed < N - 256) {
		closed = 0;
		for (int i = 0; i < N; i++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };

			if (poll(&p, 1, 0) == 1)
				closed++;
		}
		usleep(20 * 1000);
	}
	assert_int_equal(closed, N - 256);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* the server notices the closes; then a client is answered again */
	t0 = mono_ms();
	for (;;) {
		int fd = connect_from(VM_A, port);
		char c;

		assert_true(fd >= 0);
		send_all(fd, "GET / HTTP/1.1\r\n\r\n", 18);
		if (recv(fd, &c, 1, MSG_PEEK) == 1) {
			read_resp(fd, &r);
			close(fd);
			break;
		}
		close(fd);
		assert_true(ms_since(t0) < 2000);
		usleep(50 * 1000);
	}
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

/* A client that sends nothing is closed after about 5 s. */
static void test_idle_timeout(void **state)
{
	int fd = connect_from(VM_A, port), half = connect_from(VM_A, port);
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = half, .events = POLLIN } };
	int64_t t0 = mono_ms(), el;
	char c;

	assert_true(fd >= 0 && half >= 0);
	send_all(half, "GET / HTTP/1.1\r\nX-Slow", 22);
	assert_int_equal(poll(&p[0], 1, 9000), 1);
	assert_int_equal(poll(&p[1], 1, 2000), 1);
	el = ms_since(t0);
	assert_true(el >= 4500 && el < 7000);
	assert_true(p[0].revents & (POLLIN | POLLHUP));
	assert_true(p[1].revents & (POLLIN | POLLHUP));
	assert_true(recv(fd, &c, 1, 0) <= 0);
	assert_true(recv(half, &c, 1, 0) <= 0);
	close(fd);
	close(half);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* meta_stop with connections in every state closes all of them (and ASan
 * sees no leak). */
static void test_stop_with_connections(void **state)
{
	struct meta *m;
	char err[256] = "";
	char *ud = xmalloc(800 * 1024 + 1);
	json_t *e;
	int fds_before, p, c[4], small = 2048;
	char ch;

	memset(ud, 'x', 800 * 1024);
	ud[800 * 1024] = '\0';
	e = json_pack("[{s:s, s:s, s:s, s:s}]", "instance_id", "i-s", "hostname", "s", "local_ipv4",
	              VM_A, "user_data", ud);
	free(ud);
	meta_stop(NULL);
	fds_before = count_fds();
	assert_int_equal(meta_start(&m), 0);
	assert_int_equal(meta_set(m, "s1", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	assert_int_equal(meta_set(m, "s2", NULL, "127.0.0.1", 0, e, err, sizeof(err)), 0);
	json_decref(e);
	p = meta_port(m, "s1");
	c[0] = connect_from(VM_A, p); /* idle */
	c[1] = connect_from(VM_A, p); /* half a request */
	send_all(c[1], "GET /lat", 8);
	/* a big answer the client does not read (writing, if it blocks) */
	c[2] = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c[2], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };

		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		assert_int_equal(connect(c[2], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	send_all(c[2], "GET /latest/user-data HTTP/1.1\r\n\r\n", 34);
	c[3] = connect_from(VM_A, meta_port(m, "s2"));
	usleep(200 * 1000);
	meta_stop(m);
	for (int i = 0; i < 4; i++) {
		assert_true(c[i] >= 0);
		/* the server's side is gone: EOF or reset, after any data */
		while (recv(c[i], &ch, 1, 0) == 1)
			;
		close(c[i]);
	}
	assert_int_equal(count_fds(), fds_before);
}

/* ---- a real namespace (root only) ---- */

static char ns_name[64], ns_path[128];

static int ns_setup(void **state)
{
	char cmd[256];

	if (geteuid() != 0 || (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0))
		return setup(state);
	snprintf(ns_name, sizeof(ns_name), "kt%d-meta", (int)getpid());
	snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", ns_name);
	snprintf(cmd, sizeof(cmd), "ip netns add %s && ip -n %s link set lo up", ns_name, ns_name);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_name);
		if (system(cmd) != 0) {
			/* nothing was made */
		}
		ns_name[0] = '\0';
	}
	return setup(state);
}

static int ns_teardown(void **state)
{
	char cmd[128];

	teardown(state);
	if (ns_name[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns del %s", ns_name);
		if (system(cmd) != 0)
			print_error("could not delete namespace %s\n", ns_name);
		ns_name[0] = '\0';
	}
	return 0;
}

struct ns_client {
	int r; /* 0, or -errno of the step that failed */
	char answer[4096];
};

static void *ns_client_main(void *arg)
{
	struct ns_client *nc = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(8775) };
	struct timeval tv = { .tv_sec = 10 };
	const char *req = "GET /latest/meta-data/instance-id HTTP/1.1\r\n\r\n";
	size_t len = 0;
	ssize_t n;
	int nsfd, fd;

	nsfd = open(ns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		nc->r = -errno;
		return NULL;
	}
	close(nsfd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		nc->r = -errno;
		close(fd);
		return NULL;
	}
	while ((n = recv(fd, nc->answer + len, sizeof(nc->answer) - 1 - len, 0)) > 0)
		len += (size_t)n;
	nc->answer[len] = '\0';
	close(fd);
	return NULL;
}

static void test_netns(void **state)
{
	struct ns_client nc = { 0 };
	char err[256] = "";
	json_t *e;
	pthread_t t;
	int fd;

	if (!ns_name[0]) {
		print_message("skipped: needs root and ip(8) to make a network namespace\n");
		skip();
	}
	e = json_pack("[{s:s, s:s, s:s}]", "instance_id", "i-ns", "hostname", "ns", "local_ipv4",
	              "127.0.0.1");
	/* an address the namespace does not have yet (net.c adds it later) */
	assert_int_equal(
	    meta_set(meta, "ns-free", ns_path, "169.254.169.254", 80, e, err, sizeof(err)), 0);
	assert_int_equal(meta_set(meta, "ns", ns_path, "127.0.0.1", 8775, e, err, sizeof(err)), 0);
	json_decref(e);
	assert_int_equal(meta_port(meta, "ns"), 8775);

	assert_int_equal(pthread_create(&t, NULL, ns_client_main, &nc), 0);
	pthread_join(t, NULL);
	assert_int_equal(nc.r, 0);
	assert_non_null(strstr(nc.answer, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(nc.answer, "\r\n\r\ni-ns"));

	/* the root namespace's 127.0.0.1:8775 is someone else (nobody) */
	fd = connect_from(NULL, 8775);
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -ECONNREFUSED);
	/* the caller's own namespace is unchanged: the loopback server works */
	expect(VM_A, "/latest/meta-data/instance-id", 200, "i-aaaa");

	meta_remove(meta, "ns");
	memset(&nc, 0, sizeof(nc));
	assert_int_equal(pthread_create(&t, NULL, ns_client_main, &nc), 0);
	pthread_join(t, NULL);
	assert_int_equal(nc.r, -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ec2_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_openstack_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_identifies_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_user_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test(test_stop_with_connections),
		cmocka_unit_test_setup_teardown(test_netns, ns_setup, ns_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
