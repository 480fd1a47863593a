// SPDX-License-Identifier: MIT
/*
 * The node's log (nodelog.h): a ring of the newest entries in memory, a
 * JSON-lines file behind it, kumod's acknowledgement in a small file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/nodelog.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define FILE_MAX ((size_t)64 * 1024 * 1024)

struct listener {
	void (*fn)(void *cls, const json_t *entry);
	void *cls;
};

struct nodelog {
	pthread_mutex_t lock;
	char *path;     /* owned: the JSON-lines file */
	char *ack_path; /* owned */
	int fd;         /* appends; -1 when it cannot be written */
	json_t *ring[NODELOG_KEEP];
	size_t head, n; /* oldest at head */
	size_t lines;   /* in the file */
	int64_t seq;    /* the last one given */
	int64_t acked;
	struct listener listeners[4];
	unsigned nlisteners;
	unsigned calling;    /* nodelog_add()s calling listeners now */
	pthread_cond_t idle; /* signalled when calling drops to 0 */
};

static json_t *ring_at(const struct nodelog *l, size_t i)
{
	return l->ring[(l->head + i) % NODELOG_KEEP];
}

static void ring_push(struct nodelog *l, json_t *e)
{
	if (l->n == NODELOG_KEEP) {
		json_decref(l->ring[l->head]);
		l->ring[l->head] = e;
		l->head = (l->head + 1) % NODELOG_KEEP;
	} else {
		l->ring[(l->head + l->n) % NODELOG_KEEP] = e;
		l->n++;
	}
}

static bool entry_valid(const json_t *e)
{
	return json_is_object(e) && json_is_integer(json_object_get(e, "seq")) &&
	       jint(e, "seq", 0) > 0 && jstr(e, "severity") && jstr(e, "message");
}

static void load(struct nodelog *l)
{
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	size_t bad = 0;
	int r = file_read(l->path, FILE_MAX, &data, &len);

	if (r < 0) {
		if (r != -ENOENT)
			log_warn("nodelog: cannot read %s: %s", l->path, strerror(-r));
		return;
	}
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);

		if (!entry_valid(e) || jint(e, "seq", 0) <= l->seq) {
			json_decref(e);
			bad++;
			continue;
		}
		l->seq = jint(e, "seq", 0);
		ring_push(l, e);
		l->lines++;
	}
	free(data);
	if (bad)
		log_warn("nodelog: %zu unreadable entries in %s skipped", bad, l->path);
}

/* Rewrites the file with what the ring holds (called with the lock). */
static void compact(struct nodelog *l)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	int r;

	for (size_t i = 0; i < l->n; i++) {
		char *s = json_dumps(ring_at(l, i), JSON_COMPACT);
		size_t sl = strlen(s);

		while (len + sl + 2 > cap)
			buf = xrealloc(buf, cap *= 2);
		memcpy(buf + len, s, sl);
		len += sl;
		buf[len++] = '\n';
		free(s);
	}
	r = file_write_atomic(l->path, buf, len, 0600);
	free(buf);
	if (r < 0) {
		log_warn("nodelog: cannot rewrite %s: %s", l->path, strerror(-r));
		return;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	l->lines = l->n;
}

struct nodelog *nodelog_open(const char *dir)
{
	struct nodelog *l = xcalloc(1, sizeof(*l));
	char *data = NULL;
	size_t len;

	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	l->path = xasprintf("%s/nodelog.jsonl", dir);
	l->ack_path = xasprintf("%s/nodelog.ack", dir);
	load(l);
	if (file_read(l->ack_path, 64, &data, &len) == 0) {
		l->acked = strtoll(data, NULL, 10);
		if (l->acked < 0 || l->acked > l->seq)
			l->acked = l->seq;
		free(data);
	}
	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0)
		log_warn("nodelog: cannot open %s: %s (entries are kept in memory only)", l->path,
		         strerror(errno));
	return l;
}

struct nodelog *nodelog_free(struct nodelog *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		json_decref(ring_at(l, i));
	if (l->fd >= 0)
		close(l->fd);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l->path);
	free(l->ack_path);
	free(l);
	return NULL;
}

int64_t nodelog_add(struct nodelog *l, const char *severity, const char *message_id, json_t *args,
                    const char *fmt, ...)
{
	struct listener ls[4];
	unsigned nls;
	char msg[512];
	va_list ap;
	json_t *e;
	char *line;
	int64_t seq;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&l->lock);
	seq = ++l->seq;
	e = json_pack("{s:I, s:I, s:s, s:s?, s:o, s:s}", "seq", (json_int_t)seq, "ts",
	              (json_int_t)now_ms(), "severity", severity, "message_id", message_id, "args",
	              args ? args : json_array(), "message", msg);
	if (!e)
		abort();
	ring_push(l, e);
	line = json_dumps(e, JSON_COMPACT);
	if (l->fd >= 0) {
		size_t n = strlen(line);

		line[n] = '\n'; /* replaces the NUL; written with its length */
		if (write(l->fd, line, n + 1) != (ssize_t)(n + 1))
			log_warn("nodelog: cannot append to %s", l->path);
		l->lines++;
	}
	free(line);
	if (l->lines > 2 * NODELOG_KEEP)
		compact(l);
	json_incref(e);
	nls = l->nlisteners;
	memcpy(ls, l->listeners, sizeof(ls));
	l->calling++;
	pthread_mutex_unlock(&l->lock);
	for (unsigned i = 0; i < nls; i++)
		ls[i].fn(ls[i].cls, e);
	pthread_mutex_lock(&l->lock);
	if (--l->calling == 0)
		pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->lock);
	json_decref(e);
	return seq;
}

json_t *nodelog_since(struct nodelog *l, int64_t after, size_t max)
{
	json_t *out = json_array();

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n && json_array_size(out) < max; i++) {
		json_t *e = ring_at(l, i);

		if (jint(e, "seq", 0) > after)
			json_array_append(out, e);
	}
	pthread_mutex_unlock(&l->lock);
	return out;
}

json_t *nodelog_get(struct nodelog *l, int64_t seq)
{
	json_t *found = NULL;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n && !found; i++)
		if (jint(ring_at(l, i), "seq", 0) == seq)
			found = json_incref(ring_at(l, i));
	pthread_mutex_unlock(&l->lock);
	return found;
}

int64_t nodelog_last_seq(struct nodelog *l)
{
	int64_t s;

	pthread_mutex_lock(&l->lock);
	s = l->seq;
	pthread_mutex_unlock(&l->lock);
	return s;
}

void nodelog_clear(struct nodelog *l)
{
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->n; i++)
		json_decref(ring_at(l, i));
	l->n = l->head = 0;
	compact(l);
	pthread_mutex_unlock(&l->lock);
}

void nodelog_ack(struct nodelog *l, int64_t seq)
{
	char buf[32];
	int r;

	pthread_mutex_lock(&l->lock);
	if (seq > l->seq)
		seq = l->seq;
	if (seq <= l->acked) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	l->acked = seq;
	snprintf(buf, sizeof(buf), "%lld\n", (long long)seq);
	r = file_write_atomic(l->ack_path, buf, strlen(buf), 0600);
	pthread_mutex_unlock(&l->lock);
	if (r < 0)
		log_warn("nodelog: cannot write %s: %s", l->ack_path, strerror(-r));
}

json_t *nodelog_unsent(struct nodelog *l)
{
	int64_t acked;

	pthread_mutex_lock(&l->lock);
	acked = l->acked;
	pthread_mutex_unlock(&l->lock);
	return nodelog_since(l, acked, NODELOG_SEND_MAX);
}

int nodelog_listen(struct nodelog *l, void (*fn)(void *cls, const json_t *entry), void *cls)
{
	int r = 0;

	pthread_mutex_lock(&l->lock);
	if (l->nlisteners >= 4)
		r = -ENOSPC;
	else
		l->listeners[l->nlisteners++] = (struct listener){ fn, cls };
	pthread_mutex_unlock(&l->lock);
	return r;
}

void nodelog_unlisten(struct nodelog *l, void (*fn)(void *cls, const json_t *entry), void *cls)
{
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nlisteners; i++) {
		if (l->listeners[i].fn != fn || l->listeners[i].cls != cls)
			continue;
		memmove(&l->listeners[i], &l->listeners[i + 1],
		        (l->nlisteners - i - 1) * sizeof(l->listeners[0]));
		l->nlisteners--;
		break;
	}
	while (l->calling)
		pthread_cond_wait(&l->idle, &l->lock);
	pthread_mutex_unlock(&l->lock);
}
