// SPDX-License-Identifier: MIT
/*
 * The metadata service (net_meta.h): one thread, one epoll set, one
 * listening socket per L3 namespace, and a tiny HTTP/1.x GET/HEAD server
 * that answers a VM from the entry whose local_ipv4 is the peer's source
 * address. Every connection is non-blocking, has a bounded request head
 * (8 KiB), a deadline, and is closed after one answer; at most
 * META_MAX_CONNS are open at a time, more are accepted and closed at once.
 *
 * Not for: adding 169.254.169.254 to a namespace or steering traffic to
 * it (net.c does that), or validating the entries (kumod built them).
 *
 * Locking: m->lock guards the listener list and every listener's entries.
 * meta_set/meta_remove run in the agent's threads; the server thread takes
 * the lock only to look up a listener and build one whole answer, so an
 * answer is made either entirely from the old entries or the new ones.
 * Connections belong to the server thread alone.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/net_meta.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/util.h"

#define META_MAX_CONNS 256
#define META_HEAD_MAX 8192           /* request line + headers */
#define META_REPLY_MAX (1024 * 1024) /* headers + body of one answer */
#define META_READ_TIMEOUT_MS 5000    /* from accept to a complete head */
#define META_WRITE_TIMEOUT_MS 5000   /* without progress while answering */
#define META_DRAIN_TIMEOUT_MS 1000   /* reading what is left after answering */
#define META_SWEEP_MS 250

/* epoll tags: the event loop never holds pointers to listeners, which
 * other threads free; it looks them up by id under the lock. */
#define TAG_WAKE (1ULL << 63)
#define TAG_LISTENER (1ULL << 62)
#define TAG_CONN 0ULL
#define TAG_MASK (3ULL << 62)

struct listener {
	struct listener *next;
	char *l3_id;
	uint64_t id; /* never reused; epoll tag */
	int fd;
	uint16_t port;
	json_t *entries; /* own deep copy; read only under meta.lock */
};

enum conn_state { CONN_FREE, CONN_READING, CONN_WRITING, CONN_DRAINING };

struct conn {
	enum conn_state state;
	int fd;
	uint32_t gen;         /* bumped on every reuse of the slot; epoll tag */
	uint64_t listener_id; /* the listener it came through */
	struct in_addr peer;
	char *in; /* META_HEAD_MAX + 1 bytes while reading */
	size_t inlen;
	char *out; /* the whole answer */
	size_t outlen, outpos;
	int64_t deadline; /* mono_ms */
};

struct meta {
	pthread_t thread;
	int epfd;
	int wakefd;
	bool stop; /* under lock */
	pthread_mutex_t lock;
	struct listener *listeners;        /* under lock */
	uint64_t next_id;                  /* under lock */
	struct conn conns[META_MAX_CONNS]; /* server thread only */
	int nconns;                        /* server thread only */
};

/* ---- answers ---- */

struct reply {
	int status;
	const char *type;
	struct buf body;
};

struct req {
	const json_t *entry; /* weak: the VM asking */
	const char *rest;    /* what a PREFIX route did not match */
};

typedef void (*route_fn)(const struct req *q, struct reply *r);

enum { ROUTE_EXACT = 0, ROUTE_DIR = 1, ROUTE_PREFIX = 2 };

struct route {
	const char *path;
	unsigned flags; /* ROUTE_DIR: also matches with a trailing '/' */
	route_fn fn;
};

static const struct {
	int status;
	const char *reason;
} statuses[] = {
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
};

static const char *status_reason(int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
		if (statuses[i].status == status)
			return statuses[i].reason;
	return "Error";
}

static void reply_text(struct reply *r, int status, const char *text)
{
	r->status = status;
	r->type = "text/plain";
	buf_reset(&r->body);
	if (buf_puts(&r->body, text) < 0)
		r->status = 500;
}

static void reply_not_found(struct reply *r)
{
	reply_text(r, 404, "not found\n");
}

/* A string field of the entry as a text answer; 404 when absent/null. */
static void reply_field(const struct req *q, struct reply *r, const char *key)
{
	const char *v = jstr(q->entry, key);

	if (!v) {
		reply_not_found(r);
		return;
	}
	reply_text(r, 200, v);
}

static size_t entry_nkeys(const json_t *entry)
{
	const json_t *keys = json_object_get(entry, "public_keys");

	return json_is_array(keys) ? json_array_size(keys) : 0;
}

/* The i-th public key, NULL when there is none or it is not a string. */
static const char *entry_key(const json_t *entry, size_t i)
{
	return json_string_value(json_array_get(json_object_get(entry, "public_keys"), i));
}

static void ec2_versions(const struct req *q, struct reply *r)
{
	reply_text(r, 200, "latest\n");
}

static void ec2_index(const struct req *q, struct reply *r)
{
	reply_text(r, 200, "meta-data\nuser-data\n");
}

static void ec2_meta_index(const struct req *q, struct reply *r)
{
	reply_text(r, 200, "instance-id\nhostname\nlocal-hostname\nlocal-ipv4\n");
	if (jstr(q->entry, "public_ipv4") && buf_puts(&r->body, "public-ipv4\n") < 0)
		r->status = 500;
	if (entry_nkeys(q->entry) > 0 && buf_puts(&r->body, "public-keys/\n") < 0)
		r->status = 500;
}

static void ec2_instance_id(const struct req *q, struct reply *r)
{
	reply_field(q, r, "instance_id");
}

static void ec2_hostname(const struct req *q, struct reply *r)
{
	reply_field(q, r, "hostname");
}

static void ec2_local_ipv4(const struct req *q, struct reply *r)
{
	reply_field(q, r, "local_ipv4");
}

static void ec2_public_ipv4(const struct req *q, struct reply *r)
{
	reply_field(q, r, "public_ipv4");
}

/* "0=key0\n1=key1": EC2 names each key; ours have no names. */
static void ec2_keys_index(const struct req *q, struct reply *r)
{
	size_t n = entry_nkeys(q->entry);

	if (n == 0) {
		reply_not_found(r);
		return;
	}
	reply_text(r, 200, "");
	for (size_t i = 0; i < n; i++)
		if (buf_printf(&r->body, "%s%zu=key%zu", i ? "\n" : "", i, i) < 0)
			r->status = 500;
}

/* rest: "<i>", "<i>/" (the formats: "openssh-key") or "<i>/openssh-key". */
static void ec2_key(const struct req *q, struct reply *r)
{
	const char *s = q->rest, *key;
	size_t i = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		goto not_found;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (i > 100000)
			goto not_found;
		i = i * 10 + (size_t)(*s - '0');
	}
	key = entry_key(q->entry, i);
	if (!key)
		goto not_found;
	if (!strcmp(s, "") || !strcmp(s, "/")) {
		reply_text(r, 200, "openssh-key");
		return;
	}
	if (!strcmp(s, "/openssh-key")) {
		reply_text(r, 200, key);
		return;
	}
not_found:
	reply_not_found(r);
}

static void user_data(const struct req *q, struct reply *r)
{
	reply_field(q, r, "user_data");
	if (r->status == 200)
		r->type = "application/octet-stream";
}

static void os_versions(const struct req *q, struct reply *r)
{
	reply_text(r, 200, "latest\n2012-08-10\n");
}

static void os_index(const struct req *q, struct reply *r)
{
	reply_text(r, 200, "meta_data.json\nuser_data\n");
}

static void os_meta_data(const struct req *q, struct reply *r)
{
	const char *id = jstr(q->entry, "instance_id"), *host = jstr(q->entry, "hostname");
	json_t *o = json_object(), *keys = json_object();
	size_t n = entry_nkeys(q->entry);
	char *s;

	jset_str(o, "uuid", id ? id : "");
	jset_str(o, "name", host ? host : "");
	jset_str(o, "hostname", host ? host : "");
	jset_int(o, "launch_index", 0);
	for (size_t i = 0; i < n; i++) {
		const char *key = entry_key(q->entry, i);
		char name[32];

		if (!key)
			continue;
		snprintf(name, sizeof(name), "key-%zu", i);
		jset_str(keys, name, key);
	}
	json_object_set_new(o, "public_keys", keys);
	jset_str(o, "availability_zone", "kumo");
	s = jdump(o);
	json_decref(o);
	reply_text(r, 200, s);
	if (r->status == 200)
		r->type = "application/json";
	free(s);
}

static const struct route top_routes[] = {
	{ "", ROUTE_DIR, ec2_versions },
	{ "/openstack", ROUTE_DIR, os_versions },
};

static const struct route ec2_routes[] = {
	{ "", ROUTE_DIR, ec2_index },
	{ "/meta-data", ROUTE_DIR, ec2_meta_index },
	{ "/meta-data/instance-id", ROUTE_EXACT, ec2_instance_id },
	{ "/meta-data/hostname", ROUTE_EXACT, ec2_hostname },
	{ "/meta-data/local-hostname", ROUTE_EXACT, ec2_hostname },
	{ "/meta-data/local-ipv4", ROUTE_EXACT, ec2_local_ipv4 },
	{ "/meta-data/public-ipv4", ROUTE_EXACT, ec2_public_ipv4 },
	{ "/meta-data/public-keys", ROUTE_DIR, ec2_keys_index },
	{ "/meta-data/public-keys/", ROUTE_PREFIX, ec2_key },
	{ "/user-data", ROUTE_EXACT, user_data },
};

static const struct route os_routes[] = {
	{ "", ROUTE_DIR, os_index },
	{ "/meta_data.json", ROUTE_EXACT, os_meta_data },
	{ "/user_data", ROUTE_EXACT, user_data },
};

/* Version roots; the table below them answers for the rest of the path. */
static const struct {
	const char *prefix;
	const struct route *routes;
	size_t n;
} trees[] = {
	{ "/latest", ec2_routes, ARRAY_SIZE(ec2_routes) },
	{ "/2009-04-04", ec2_routes, ARRAY_SIZE(ec2_routes) },
	{ "/openstack/latest", os_routes, ARRAY_SIZE(os_routes) },
	{ "/openstack/2012-08-10", os_routes, ARRAY_SIZE(os_routes) },
	{ "", top_routes, ARRAY_SIZE(top_routes) },
};

/* The route for path (relative to its tree), with *ret_rest set for
 * ROUTE_PREFIX; NULL when none matches. */
static const struct route *route_find(const struct route *routes, size_t n, const char *path,
                                      const char **ret_rest)
{
	for (size_t i = 0; i < n; i++) {
		const struct route *rt = &routes[i];
		size_t len = strlen(rt->path);

		if (strncmp(path, rt->path, len) != 0)
			continue;
		if (rt->flags & ROUTE_PREFIX) {
			*ret_rest = path + len;
			return rt;
		}
		if (path[len] == '\0' || ((rt->flags & ROUTE_DIR) && !strcmp(path + len, "/")))
			return rt;
	}
	return NULL;
}

static void route(const json_t *entry, const char *path, struct reply *r)
{
	struct req q = { .entry = entry, .rest = "" };

	if (!entry) {
		reply_text(r, 404, "no instance with this source address\n");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(trees); i++) {
		size_t len = strlen(trees[i].prefix);
		const struct route *rt;

		if (strncmp(path, trees[i].prefix, len) != 0 || (path[len] && path[len] != '/'))
			continue;
		rt = route_find(trees[i].routes, trees[i].n, path + len, &q.rest);
		if (rt) {
			rt->fn(&q, r);
			return;
		}
		break;
	}
	reply_not_found(r);
}

/* ---- HTTP ---- */

/* The end of the request head in in[0..len), or 0 while incomplete. */
static size_t head_end(const char *in, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (in[i] != '\n')
			continue;
		if (in[i + 1] == '\n')
			return i + 2;
		if (in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parses "METHOD SP TARGET SP HTTP/1.x" in the NUL-terminated head. On
 * success path is the target without its query, in the caller's path
 * buffer (META_HEAD_MAX + 1 bytes). Returns the HTTP status to answer
 * with when it is not a request to serve (400, 405), else 0. */
static int parse_request(const char *head, size_t len, bool *ret_head, char *path)
{
	const char *sp1, *sp2, *eol, *t;
	size_t mlen, plen;

	if (memchr(head, '\0', len))
		return 400;
	eol = strchr(head, '\n');
	assert(eol); /* head_end found one */
	if (eol > head && eol[-1] == '\r')
		eol--;
	sp1 = memchr(head, ' ', (size_t)(eol - head));
	if (!sp1 || sp1 == head)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	if (eol - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' ||
	    sp2[8] > '9')
		return 400;
	for (t = head; t < sp1; t++)
		if (!is_tchar(*t))
			return 400;
	if (sp1[1] != '/')
		return 400;
	for (t = sp1 + 1; t < sp2; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return 400;
	mlen = (size_t)(sp1 - head);
	if (mlen == 3 && !strncmp(head, "GET", 3))
		*ret_head = false;
	else if (mlen == 4 && !strncmp(head, "HEAD", 4))
		*ret_head = true;
	else
		return 405;
	plen = strcspn(sp1 + 1, "?# ");
	if (plen > (size_t)(sp2 - sp1 - 1))
		plen = (size_t)(sp2 - sp1 - 1);
	memcpy(path, sp1 + 1, plen);
	path[plen] = '\0';
	return 0;
}

/* Status line, headers and (unless head_only) body, malloc'd. NULL when
 * the answer would exceed META_REPLY_MAX. */
static char *reply_format(struct reply *r, bool head_only, size_t *ret_len)
{
	struct buf out;
	int e;

	buf_init(&out, META_REPLY_MAX);
	e = buf_printf(&out,
	               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	               "%sConnection: close\r\n\r\n",
	               r->status, status_reason(r->status), r->type, r->body.len,
	               r->status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (e == 0 && !head_only && r->body.len)
		e = buf_append(&out, r->body.data, r->body.len);
	if (e < 0) {
		buf_free(&out);
		return NULL;
	}
	*ret_len = out.len;
	return buf_steal(&out);
}

static const json_t *entry_for(const json_t *entries, struct in_addr peer)
{
	size_t i;
	const json_t *e;

	json_array_foreach(entries, i, e)
	{
		const char *ip = jstr(e, "local_ipv4");
		struct in_addr a;

		if (ip && inet_pton(AF_INET, ip, &a) == 1 && a.s_addr == peer.s_addr)
			return e;
	}
	return NULL;
}

static struct listener *listener_by_id(struct meta *m, uint64_t id)
{
	for (struct listener *l = m->listeners; l; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static struct listener *listener_by_l3(struct meta *m, const char *l3_id)
{
	for (struct listener *l = m->listeners; l; l = l->next)
		if (!strcmp(l->l3_id, l3_id))
			return l;
	return NULL;
}

/* ---- connections (server thread) ---- */

static uint64_t conn_tag(const struct meta *m, const struct conn *c)
{
	return TAG_CONN | ((uint64_t)c->gen << 16) | (uint64_t)(c - m->conns);
}

static void conn_close(struct meta *m, struct conn *c)
{
	assert(c->state != CONN_FREE);
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->state = CONN_FREE;
	c->gen++;
	m->nconns--;
}

static void conn_watch(struct meta *m, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = conn_tag(m, c) };

	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		conn_close(m, c);
}

/* After the answer went out: no more writing, read what the client still
 * sends until it closes, so that closing does not reset the connection
 * before it read the answer. */
static void conn_drain(struct meta *m, struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->state = CONN_DRAINING;
	c->deadline = mono_ms() + META_DRAIN_TIMEOUT_MS;
	conn_watch(m, c, EPOLLIN);
}

static void conn_write(struct meta *m, struct conn *c)
{
	while (c->outpos < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outpos, c->outlen - c->outpos,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->state != CONN_WRITING) {
				c->state = CONN_WRITING;
				conn_watch(m, c, EPOLLOUT);
			}
			return;
		}
		if (n <= 0) {
			conn_close(m, c);
			return;
		}
		c->outpos += (size_t)n;
		c->deadline = mono_ms() + META_WRITE_TIMEOUT_MS;
	}
	conn_drain(m, c);
}

/* Builds the answer to a complete head (or an error status) and starts
 * sending it. The listener is looked up again: it may be gone. */
static void conn_answer(struct meta *m, struct conn *c, size_t headlen, int status)
{
	struct reply r = { .status = 200, .type = "text/plain" };
	char *path = NULL;
	bool head_only = false;
	struct listener *l;

	buf_init(&r.body, META_REPLY_MAX);
	if (status == 0) {
		path = xmalloc(META_HEAD_MAX + 1);
		c->in[headlen] = '\0';
		status = parse_request(c->in, headlen, &head_only, path);
	}
	pthread_mutex_lock(&m->lock);
	l = listener_by_id(m, c->listener_id);
	if (!l) {
		pthread_mutex_unlock(&m->lock);
		conn_close(m, c);
		goto out;
	}
	if (status == 0)
		route(entry_for(l->entries, c->peer), path, &r);
	pthread_mutex_unlock(&m->lock);
	if (status == 400)
		reply_text(&r, 400, "bad request\n");
	else if (status == 405)
		reply_text(&r, 405, "method not allowed\n");
	else if (status == 431)
		reply_text(&r, 431, "request head too large\n");
	c->out = reply_format(&r, head_only, &c->outlen);
	if (!c->out) {
		reply_text(&r, 500, "answer too large\n");
		c->out = reply_format(&r, head_only, &c->outlen);
		assert(c->out);
	}
	free(c->in);
	c->in = NULL;
	c->outpos = 0;
	c->deadline = mono_ms() + META_WRITE_TIMEOUT_MS;
	conn_write(m, c);
out:
	free(path);
	buf_free(&r.body);
}

static void conn_read(struct meta *m, struct conn *c)
{
	for (;;) {
		char sink[4096];
		size_t end, from;
		ssize_t n;

		if (c->state == CONN_DRAINING) {
			/* one read per event: a client that keeps sending does
			 * not hold the thread; the deadline ends it */
			n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 ||
			    (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
				conn_close(m, c);
			return;
		}
		assert(c->state == CONN_READING);
		n = recv(c->fd, c->in + c->inlen, META_HEAD_MAX - c->inlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) { /* closed or reset before a whole head: nothing to answer */
			conn_close(m, c);
			return;
		}
		/* look for the end only where the new bytes could complete it */
		from = c->inlen > 2 ? c->inlen - 2 : 0;
		c->inlen += (size_t)n;
		end = head_end(c->in + from, c->inlen - from);
		if (end) {
			conn_answer(m, c, from + end, 0);
			return;
		}
		if (c->inlen == META_HEAD_MAX) {
			conn_answer(m, c, 0, 431);
			return;
		}
	}
}

static void accept_all(struct meta *m, uint64_t listener_id)
{
	struct listener *l;
	int lfd;

	/* The fd may be closed by meta_remove as soon as the lock is let go;
	 * accept under the lock (it does not block: the socket is non-blocking). */
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		struct conn *c = NULL;
		struct epoll_event ev;
		int fd;

		pthread_mutex_lock(&m->lock);
		l = listener_by_id(m, listener_id);
		lfd = l ? l->fd : -1;
		fd = lfd < 0 ? -1
		             : accept4(lfd, (struct sockaddr *)&peer, &plen,
		                       SOCK_NONBLOCK | SOCK_CLOEXEC);
		pthread_mutex_unlock(&m->lock);
		if (fd < 0)
			return; /* EAGAIN, or gone, or out of fds: epoll tells again */
		if (m->nconns >= META_MAX_CONNS || plen != sizeof(peer) ||
		    peer.sin_family != AF_INET) {
			close(fd);
			continue;
		}
		for (size_t i = 0; i < META_MAX_CONNS; i++)
			if (m->conns[i].state == CONN_FREE) {
				c = &m->conns[i];
				break;
			}
		assert(c);
		c->fd = fd;
		c->listener_id = listener_id;
		c->peer = peer.sin_addr;
		c->in = xmalloc(META_HEAD_MAX + 1);
		c->inlen = 0;
		c->out = NULL;
		c->outlen = c->outpos = 0;
		c->deadline = mono_ms() + META_READ_TIMEOUT_MS;
		c->state = CONN_READING;
		m->nconns++;
		ev.events = EPOLLIN;
		ev.data.u64 = conn_tag(m, c);
		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(m, c);
	}
}

static void sweep(struct meta *m)
{
	int64_t now = mono_ms();

	for (size_t i = 0; i < META_MAX_CONNS; i++)
		if (m->conns[i].state != CONN_FREE && now >= m->conns[i].deadline)
			conn_close(m, &m->conns[i]);
}

static void *meta_main(void *arg)
{
	struct meta *m = arg;
	int64_t next_sweep = mono_ms() + META_SWEEP_MS;

	for (;;) {
		struct epoll_event evs[64];
		bool stop;
		int n;

		n = epoll_wait(m->epfd, evs, (int)ARRAY_SIZE(evs), META_SWEEP_MS);
		pthread_mutex_lock(&m->lock);
		stop = m->stop;
		pthread_mutex_unlock(&m->lock);
		if (stop)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			struct conn *c;

			if ((tag & TAG_MASK) == TAG_WAKE) {
				uint64_t v;

				if (read(m->wakefd, &v, sizeof(v)) < 0) {
					/* nothing to do: level-triggered, stop is checked above */
				}
				continue;
			}
			if ((tag & TAG_MASK) == TAG_LISTENER) {
				accept_all(m, tag & ~TAG_MASK);
				continue;
			}
			c = &m->conns[tag & 0xffff];
			if (c->state == CONN_FREE || c->gen != (uint32_t)(tag >> 16))
				continue; /* closed earlier in this batch */
			if (c->state == CONN_WRITING)
				conn_write(m, c);
			else
				conn_read(m, c);
		}
		if (mono_ms() >= next_sweep) {
			sweep(m);
			next_sweep = mono_ms() + META_SWEEP_MS;
		}
	}
	return NULL;
}

/* ---- listening sockets ---- */

static int listen_here(const struct sockaddr_in *sa, int *ret_fd, char *err, size_t errlen)
{
	int fd, one = 1, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0) {
		r = -errno;
		snprintf(err, errlen, "setsockopt: %s", strerror(-r));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		char a[INET_ADDRSTRLEN];

		r = -errno;
		inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
		snprintf(err, errlen, "bind %s:%u: %s", a, ntohs(sa->sin_port), strerror(-r));
		goto fail;
	}
	if (listen(fd, 128) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen: %s", strerror(-r));
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

struct ns_job {
	const char *netns;
	const struct sockaddr_in *sa;
	char *err;
	size_t errlen;
	int fd;
	int r;
};

/* A thread of its own enters the namespace, so the caller's stays as it
 * was; the socket keeps the namespace it was made in after the thread exits. */
static void *ns_listen_main(void *arg)
{
	struct ns_job *j = arg;
	int nsfd;

	nsfd = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		j->r = -errno;
		snprintf(j->err, j->errlen, "open %s: %s", j->netns, strerror(-j->r));
		return NULL;
	}
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		j->r = -errno;
		snprintf(j->err, j->errlen, "setns %s: %s", j->netns, strerror(-j->r));
		close(nsfd);
		return NULL;
	}
	close(nsfd);
	j->r = listen_here(j->sa, &j->fd, j->err, j->errlen);
	return NULL;
}

static int listen_in(const char *netns, const struct sockaddr_in *sa, int *ret_fd, char *err,
                     size_t errlen)
{
	struct ns_job j = { .netns = netns, .sa = sa, .err = err, .errlen = errlen, .fd = -1 };
	pthread_t t;
	int r;

	if (!netns)
		return listen_here(sa, ret_fd, err, errlen);
	r = pthread_create(&t, NULL, ns_listen_main, &j);
	if (r) {
		snprintf(err, errlen, "pthread_create: %s", strerror(r));
		return -r;
	}
	pthread_join(t, NULL);
	if (j.r == 0)
		*ret_fd = j.fd;
	return j.r;
}

static struct listener *listener_free(struct listener *l)
{
	if (!l)
		return NULL;
	if (l->fd >= 0)
		close(l->fd);
	json_decref(l->entries);
	free(l->l3_id);
	free(l);
	return NULL;
}

/* ---- public ---- */

int meta_start(struct meta **ret)
{
	struct meta *m = xcalloc(1, sizeof(*m));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_WAKE };
	int r;

	assert(ret);
	m->epfd = m->wakefd = -1;
	pthread_mutex_init(&m->lock, NULL);
	m->next_id = 1;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		goto fail_errno;
	m->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->wakefd < 0)
		goto fail_errno;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wakefd, &ev) < 0)
		goto fail_errno;
	r = pthread_create(&m->thread, NULL, meta_main, m);
	if (r) {
		r = -r;
		goto fail;
	}
	*ret = m;
	return 0;
fail_errno:
	r = -errno;
fail:
	if (m->wakefd >= 0)
		close(m->wakefd);
	if (m->epfd >= 0)
		close(m->epfd);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return r;
}

int meta_set(struct meta *m, const char *l3_id, const char *netns, const char *addr, uint16_t port,
             const json_t *entries, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct listener *l, *nl = NULL;
	json_t *copy, *old = NULL;
	struct sockaddr_in bound;
	socklen_t blen = sizeof(bound);
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = -1, r;

	assert(m && l3_id);
	if (!addr || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "metadata address %s is not IPv4", addr ? addr : "(null)");
		return -EINVAL;
	}
	if (!json_is_array(entries)) {
		snprintf(err, errlen, "metadata entries are not an array");
		return -EINVAL;
	}
	copy = json_deep_copy(entries);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	pthread_mutex_lock(&m->lock);
	l = listener_by_l3(m, l3_id);
	if (l) {
		old = l->entries;
		l->entries = copy;
	}
	pthread_mutex_unlock(&m->lock);
	if (l) {
		json_decref(old);
		return 0;
	}

	r = listen_in(netns, &sa, &fd, err, errlen);
	if (r < 0) {
		json_decref(copy);
		return r;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
		r = -errno;
		snprintf(err, errlen, "getsockname: %s", strerror(-r));
		close(fd);
		json_decref(copy);
		return r;
	}
	nl = xcalloc(1, sizeof(*nl));
	nl->l3_id = xstrdup(l3_id);
	nl->fd = fd;
	nl->port = ntohs(bound.sin_port);
	nl->entries = copy;

	pthread_mutex_lock(&m->lock);
	l = listener_by_l3(m, l3_id);
	if (l) { /* another meta_set made it meanwhile: only swap */
		old = l->entries;
		l->entries = nl->entries;
		nl->entries = old;
		pthread_mutex_unlock(&m->lock);
		listener_free(nl);
		return 0;
	}
	nl->id = m->next_id++;
	ev.data.u64 = TAG_LISTENER | nl->id;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, nl->fd, &ev) < 0) {
		r = -errno;
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "epoll_ctl: %s", strerror(-r));
		listener_free(nl);
		return r;
	}
	nl->next = m->listeners;
	m->listeners = nl;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int meta_port(struct meta *m, const char *l3_id)
{
	struct listener *l;
	int port;

	assert(m && l3_id);
	pthread_mutex_lock(&m->lock);
	l = listener_by_l3(m, l3_id);
	port = l ? l->port : -ENOENT;
	pthread_mutex_unlock(&m->lock);
	return port;
}

void meta_remove(struct meta *m, const char *l3_id)
{
	struct listener **p, *l = NULL;

	assert(m && l3_id);
	pthread_mutex_lock(&m->lock);
	for (p = &m->listeners; *p; p = &(*p)->next)
		if (!strcmp((*p)->l3_id, l3_id)) {
			l = *p;
			*p = l->next;
			break;
		}
	if (l) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, l->fd, NULL);
		/* closed under the lock: accept_all uses the fd under it */
		close(l->fd);
		l->fd = -1;
	}
	pthread_mutex_unlock(&m->lock);
	listener_free(l);
}

void meta_stop(struct meta *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_mutex_unlock(&m->lock);
	if (write(m->wakefd, &one, sizeof(one)) < 0) {
		/* the thread sees stop within META_SWEEP_MS anyway */
	}
	pthread_join(m->thread, NULL);
	for (size_t i = 0; i < META_MAX_CONNS; i++)
		if (m->conns[i].state != CONN_FREE)
			conn_close(m, &m->conns[i]);
	while (m->listeners) {
		struct listener *l = m->listeners;

		m->listeners = l->next;
		listener_free(l);
	}
	close(m->wakefd);
	close(m->epfd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
