// SPDX-License-Identifier: MIT
/*
 * The QMP client (see qmp.h). Bytes from the socket are cut into lines in a
 * bounded buffer; each complete line is parsed and is either the reply a
 * caller waits for, an event for the queue, or something to discard (the
 * late reply of a command that timed out). Anything that is not JSON, not
 * an object, or longer than QMP_LINE_MAX ends the connection: it is not
 * QEMU talking, or the stream is no longer trustworthy.
 *
 * This file speaks the protocol only; which commands to send, when, and
 * what the events mean for a VM is the qemu driver's business.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/qmp.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define READ_CHUNK 16384
#define READS_PER_CALL 64         /* qmp_read_events() reads at most this many chunks */
#define LINE_KEEP ((size_t)65536) /* line buffers bigger than this are freed after use */
#define RETRY_MIN_MS 5
#define RETRY_MAX_MS 50

struct qmp {
	int fd;                         /* -1 once the connection ended */
	int dead;                       /* 0, or the error every call fails with once it ended */
	char why[160];                  /* why it ended, for messages */
	char *path;                     /* owned; for debug logs */
	json_int_t next_id;             /* of the next command */
	struct buf line;                /* the message being read, at most QMP_LINE_MAX */
	json_t *events[QMP_EVENTS_MAX]; /* owned; a ring of ev_count from ev_head */
	unsigned ev_head, ev_count;
	unsigned long ev_lost;
};

/* What a reader waits for while it reads. */
struct waiter {
	bool greeting; /* the greeting, else the reply with this id */
	json_int_t id;
	json_t *reply; /* owned; the message waited for, once it came */
};

static void err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Ends the connection (once) with error code, keeping q->why; returns the
 * error it ended with. */
static int end_conn(struct qmp *q, int code)
{
	if (q->dead)
		return q->dead;
	q->dead = code;
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	buf_free(&q->line);
	log_debug("qmp %s: connection ended: %s", q->path, q->why);
	return code;
}

/* end_conn() with the reason given. */
static int qmp_end(struct qmp *q, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int qmp_end(struct qmp *q, int code, const char *fmt, ...)
{
	va_list ap;

	if (q->dead)
		return q->dead;
	va_start(ap, fmt);
	vsnprintf(q->why, sizeof(q->why), fmt, ap);
	va_end(ap);
	return end_conn(q, code);
}

static void event_push(struct qmp *q, json_t *ev)
{
	if (q->ev_count == QMP_EVENTS_MAX) {
		json_t *old = q->events[q->ev_head];

		log_debug("qmp %s: event queue full, dropping %s", q->path, jstr(old, "event"));
		json_decref(old);
		q->ev_head = (q->ev_head + 1) % QMP_EVENTS_MAX;
		q->ev_count--;
		q->ev_lost++;
	}
	q->events[(q->ev_head + q->ev_count) % QMP_EVENTS_MAX] = ev;
	q->ev_count++;
}

/* The start of a message, printable, for messages about it. */
static void preview(char out[48], const char *data, size_t len)
{
	size_t n = len < 40 ? len : 40, i;

	for (i = 0; i < n; i++)
		out[i] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?';
	memcpy(out + i, len > n ? "..." : "", len > n ? 4 : 1);
}

/* One complete line (without its newline). 0, or -EPROTO with q->why set
 * (the caller ends the connection). */
static int handle_line(struct qmp *q, const char *data, size_t len, struct waiter *w)
{
	const json_t *id;
	char start[48];
	json_t *msg;

	while (len && (data[len - 1] == '\r' || data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	if (!len)
		return 0;
	msg = json_loadb(data, len, 0, NULL);
	if (!msg || !json_is_object(msg)) {
		preview(start, data, len);
		snprintf(q->why, sizeof(q->why), "QEMU sent %s: %s",
		         msg ? "JSON that is not an object" : "a line that is not JSON", start);
		json_decref(msg);
		return -EPROTO;
	}
	if (w && w->greeting) {
		if (!json_is_object(json_object_get(msg, "QMP"))) {
			preview(start, data, len);
			snprintf(q->why, sizeof(q->why), "QEMU sent no QMP greeting: %s", start);
			json_decref(msg);
			return -EPROTO;
		}
		w->reply = msg;
		return 0;
	}
	if (json_object_get(msg, "event")) {
		if (json_is_string(json_object_get(msg, "event"))) {
			event_push(q, msg);
			return 0;
		}
		log_debug("qmp %s: event without a name ignored", q->path);
		json_decref(msg);
		return 0;
	}
	if (json_object_get(msg, "return") || json_object_get(msg, "error")) {
		/* QEMU echoes the id; it only omits it for a command it could not
		 * read at all, which can only be the one in flight. */
		id = json_object_get(msg, "id");
		if (w && !w->reply &&
		    (!id || (json_is_integer(id) && json_integer_value(id) == w->id))) {
			w->reply = msg;
			return 0;
		}
		log_debug("qmp %s: reply with id %" JSON_INTEGER_FORMAT " discarded (late)",
		          q->path, json_is_integer(id) ? json_integer_value(id) : (json_int_t)-1);
		json_decref(msg);
		return 0;
	}
	log_debug("qmp %s: message of unknown shape ignored", q->path);
	json_decref(msg);
	return 0;
}

/* Cuts n bytes into lines and handles the complete ones; a partial line
 * stays in q->line. 0 or -errno (the caller ends the connection). */
static int feed(struct qmp *q, const char *p, size_t n, struct waiter *w)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		int r = buf_append(&q->line, p, take);

		if (r == -EMSGSIZE) {
			snprintf(q->why, sizeof(q->why), "QEMU sent a message over %zu bytes",
			         QMP_LINE_MAX);
			return -EPROTO;
		}
		if (r < 0) {
			snprintf(q->why, sizeof(q->why), "out of memory");
			return r;
		}
		if (!nl)
			break;
		r = handle_line(q, q->line.data ? q->line.data : "", q->line.len, w);
		if (q->line.cap > LINE_KEEP)
			buf_free(&q->line);
		else
			buf_reset(&q->line);
		if (r < 0)
			return r;
		p = nl + 1;
		n -= take + 1;
	}
	return 0;
}

/* Reads once, without waiting, and handles what came. 1 if something was
 * read, 0 if nothing was there, or the error the connection ended with. */
static int read_once(struct qmp *q, struct waiter *w)
{
	char chunk[READ_CHUNK];
	ssize_t n;
	int r;

	if (q->dead)
		return q->dead;
	do
		n = recv(q->fd, chunk, sizeof(chunk), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0 && errno == ECONNRESET)
		return qmp_end(q, -EPIPE, "QEMU closed the connection (reset)");
	if (n < 0)
		return qmp_end(q, -errno, "reading: %s", strerror(errno));
	if (n == 0)
		return qmp_end(q, -EPIPE, "QEMU closed the connection");
	r = feed(q, chunk, (size_t)n, w);
	if (r < 0)
		return end_conn(q, r); /* feed() said why */
	return 1;
}

/* Milliseconds left until deadline for poll(): -1 for no deadline (< 0). */
static int ms_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - mono_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits until fd is ready for events or deadline (< 0: none). 0 when ready
 * (or hung up: the next read or write says how), or -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Reads until w has its message or deadline. 0 or -errno. A message that
 * came before the connection ended in the same read still counts. */
static int wait_for(struct qmp *q, struct waiter *w, int64_t deadline)
{
	while (!w->reply) {
		int r = read_once(q, w);

		if (r < 0)
			return w->reply ? 0 : r;
		if (r > 0 && !w->reply && deadline >= 0 && mono_ms() >= deadline)
			return -ETIMEDOUT; /* a stream of events, but not our reply */
		if (r > 0)
			continue;
		r = wait_fd(q->fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The peer went away while we wrote: keep what it sent before (a SHUTDOWN
 * event, say), then end. */
static int end_after_drain(struct qmp *q, int code, const char *why)
{
	for (int i = 0; i < READS_PER_CALL && !q->dead; i++)
		if (read_once(q, NULL) <= 0)
			break;
	return qmp_end(q, code, "%s", why);
}

/* Writes all of data before deadline. 0 or -errno; a command left half
 * written ends the connection. */
static int send_all(struct qmp *q, const char *data, size_t len, int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(q->fd, data + off, len - off, MSG_NOSIGNAL);
		int r;

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return end_after_drain(q, -EPIPE, "QEMU closed the connection");
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return qmp_end(q, -errno, "writing: %s", strerror(errno));
		r = wait_fd(q->fd, POLLOUT, deadline);
		if (r < 0 && off)
			return qmp_end(q, r, "a command was left half written: %s", strerror(-r));
		if (r < 0)
			return r;
	}
	return 0;
}

static int execute_until(struct qmp *q, const char *cmd, json_t *args, int64_t deadline,
                         json_t **ret_result, char *err, size_t errlen)
{
	struct waiter w = { 0 };
	const json_t *error;
	char *text, *line;
	json_t *msg;
	int r;

	assert(q && cmd);
	assert(!args || json_is_object(args));
	err_set(err, errlen, "%s", "");
	if (q->dead) {
		json_decref(args);
		err_set(err, errlen, "%s", q->why);
		return q->dead;
	}
	w.id = q->next_id++;
	msg = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)w.id);
	if (!msg) {
		json_decref(args);
		err_set(err, errlen, "command name is not valid UTF-8");
		return -EINVAL;
	}
	if (args)
		json_object_set_new(msg, "arguments", args);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text) {
		err_set(err, errlen, "cannot serialize the command");
		return -EINVAL;
	}
	line = xasprintf("%s\n", text);
	free(text);
	r = send_all(q, line, strlen(line), deadline);
	free(line);
	if (r == 0)
		r = wait_for(q, &w, deadline);
	if (r == -ETIMEDOUT) {
		err_set(err, errlen, "no reply to %s in time", cmd);
		return r;
	}
	if (r < 0) {
		err_set(err, errlen, "%s", q->dead ? q->why : strerror(-r));
		return r;
	}
	error = json_object_get(w.reply, "error");
	if (error) {
		const char *cls = jstr(error, "class"), *desc = jstr(error, "desc");

		err_set(err, errlen, "%s: %s", cls ? cls : "Error",
		        desc ? desc : "(no description)");
		log_debug("qmp %s: %s failed: %s: %s", q->path, cmd, cls ? cls : "Error",
		          desc ? desc : "");
		r = -EREMOTEIO;
	} else if (ret_result) {
		*ret_result = json_incref(json_object_get(w.reply, "return"));
	}
	json_decref(w.reply);
	return r;
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret_result,
                char *err, size_t errlen)
{
	assert(timeout_ms >= 0);
	return execute_until(q, cmd, args, mono_ms() + timeout_ms, ret_result, err, errlen);
}

int qmp_simple(struct qmp *q, const char *cmd, int timeout_ms, char *err, size_t errlen)
{
	return qmp_execute(q, cmd, NULL, timeout_ms, NULL, err, errlen);
}

int qmp_query_status(struct qmp *q, int timeout_ms, char *ret_status, size_t len)
{
	json_t *result = NULL;
	const char *status;
	int r;

	r = qmp_execute(q, "query-status", NULL, timeout_ms, &result, NULL, 0);
	if (r < 0)
		return r;
	status = jstr(result, "status");
	if (!status)
		r = -EPROTO;
	else if (strlen(status) >= len)
		r = -ENOBUFS;
	else
		memcpy(ret_status, status, strlen(status) + 1);
	json_decref(result);
	return r;
}

/* One connection attempt: the connected socket, or -errno. */
static int connect_once(const struct sockaddr_un *sa, int64_t deadline)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t sl = sizeof(int);
	int r, soerr = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return fd;
	r = -errno;
	if (r == -EINPROGRESS) {
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			r = -errno;
		else if (r == 0 && soerr)
			r = -soerr;
		if (r == 0)
			return fd;
	}
	close(fd);
	return r;
}

int qmp_connect(const char *path, int timeout_ms, struct qmp **ret_q)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline, delay = RETRY_MIN_MS;
	struct waiter w = { .greeting = true };
	char err[256];
	struct qmp *q;
	int fd, r;

	assert(path && ret_q && timeout_ms >= 0);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	deadline = mono_ms() + timeout_ms;
	for (;;) {
		int64_t left;

		fd = connect_once(&sa, deadline);
		if (fd >= 0)
			break;
		if (fd != -ENOENT && fd != -ECONNREFUSED && fd != -EAGAIN) {
			log_debug("qmp %s: connect: %s", path, strerror(-fd));
			return fd;
		}
		left = deadline - mono_ms();
		if (left <= 0) {
			log_debug("qmp %s: no connection within %d ms: %s", path, timeout_ms,
			          strerror(-fd));
			return fd == -ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT;
		}
		usleep((useconds_t)(delay < left ? delay : left) * 1000);
		delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
	}

	q = xcalloc(1, sizeof(*q));
	q->fd = fd;
	q->path = xstrdup(path);
	q->next_id = 1;
	buf_init(&q->line, QMP_LINE_MAX);
	r = wait_for(q, &w, deadline);
	if (r < 0) {
		log_debug("qmp %s: no greeting: %s", path, q->dead ? q->why : strerror(-r));
		goto fail;
	}
	json_decref(w.reply);
	r = execute_until(q, "qmp_capabilities", NULL, deadline, NULL, err, sizeof(err));
	if (r < 0) {
		log_debug("qmp %s: qmp_capabilities: %s", path, err);
		if (r == -EREMOTEIO)
			r = -EPROTO;
		goto fail;
	}
	*ret_q = q;
	return 0;
fail:
	qmp_close(q);
	return r;
}

struct qmp *qmp_close(struct qmp *q)
{
	if (!q)
		return NULL;
	if (q->fd >= 0)
		close(q->fd);
	while (q->ev_count)
		json_decref(qmp_next_event(q));
	buf_free(&q->line);
	free(q->path);
	free(q);
	return NULL;
}

int qmp_fd(const struct qmp *q)
{
	return q->fd;
}

bool qmp_closed(const struct qmp *q)
{
	return q->dead != 0;
}

unsigned long qmp_events_lost(const struct qmp *q)
{
	return q->ev_lost;
}

int qmp_read_events(struct qmp *q, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;

	for (int reads = 0; reads < READS_PER_CALL;) {
		int r = read_once(q, NULL);

		if (r < 0)
			return r;
		if (r > 0) {
			reads++;
			continue;
		}
		/* Nothing more there: done if something came or was queued. */
		if (reads || q->ev_count)
			break;
		r = wait_fd(q->fd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			return r;
	}
	return (int)q->ev_count;
}

json_t *qmp_next_event(struct qmp *q)
{
	json_t *ev;

	if (!q->ev_count)
		return NULL;
	ev = q->events[q->ev_head];
	q->events[q->ev_head] = NULL;
	q->ev_head = (q->ev_head + 1) % QMP_EVENTS_MAX;
	q->ev_count--;
	return ev;
}
