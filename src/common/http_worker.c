// SPDX-License-Identifier: MIT
/*
 * The HTTP server's work off its pool threads: the worker threads that run
 * handlers which may block, and streamed responses (http_reply_stream),
 * whose callbacks run on those workers. Also http_peer_gone(), the hang-up
 * check streams use.
 *
 * Not here: requests, replies and the server's start and stop
 * (http_server.c), which reserves a worker for a request, suspends its
 * connection and queues it as a task here; streamed request bodies (sinks,
 * in http_server.c too: they run in the pool threads).
 *
 * Workers are kept in a pool that grows with the number of waiting
 * requests and shrinks when they have been idle for WORKER_IDLE_MS; a
 * waiting request costs a thread with a small stack, an idle keep-alive
 * connection only its socket. A task is reserved first (which may start a
 * thread, or fail: the server is stopping or no thread starts), then
 * queued; stopping refuses new reservations and waits for the tasks.
 *
 * A stream's callback runs on a worker for the stream's life; it fills one
 * buffer that the pool thread's content reader empties, and the connection
 * is suspended while that buffer is empty (a content reader that returns 0
 * would otherwise be called again at once, spinning). The stream is freed
 * by whichever of the two lets go last.
 *
 * A stream callback that has nothing to send should block a while (up to
 * ~1 s) and return 0; one that returns 0 at once is slept 20 ms before the
 * next call. While a stream is idle its client socket is checked for a
 * hang-up, so a client that leaves ends the stream (and free_cls runs)
 * without waiting for data. At a stop, a stream ends at its callback's next
 * return. MHD's idle timeout still applies (CONNECTION_TIMEOUT_S in
 * http_server.c): long streams must send something well within it.
 */
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/http_server_int.h"
#include "common/log.h"
#include "common/util.h"

#define WORKER_IDLE_MS 30000 /* an idle worker thread exits after this */
#define STREAM_BLOCK_SIZE (16 * 1024)
#define STREAM_IDLE_SLEEP_US 20000
#define STREAM_WAIT_MS 200 /* a stream worker waiting for its reader checks for a stop */

/* The stream of one response, shared by the MHD response (the content
 * reader, in a pool thread) and its worker (the callback); the last of the
 * two to let go frees it. The worker fills data while it is empty, the
 * reader empties it. */
struct stream {
	struct task task;
	struct http_server *srv;     /* weak */
	struct MHD_Connection *conn; /* weak; touched by the worker only while suspended */
	int fd;                      /* the client socket, for hang-up checks */
	http_stream_fn fn;
	void *cls; /* owned through free_cls */
	void (*free_cls)(void *);
	pthread_mutex_t lock;
	pthread_cond_t cond; /* data was taken, or closing (monotonic clock) */
	char *data;          /* owned, STREAM_BLOCK_SIZE */
	size_t len, off;     /* data[off, len) not yet read */
	bool eof;            /* the callback ended the stream */
	bool error;          /* the client left */
	bool suspended;      /* the reader suspended the connection for data */
	bool closing;        /* the MHD response is gone */
	int refs;
};

/* ---- workers ---- */

static void *worker_main(void *arg)
{
	struct http_server *s = arg;
	struct timespec ts;
	struct task *t;

	pthread_mutex_lock(&s->wlock);
	for (;;) {
		while (!s->whead) {
			if (s->wstop && s->npending == 0)
				goto out;
			deadline_mono(&ts, WORKER_IDLE_MS);
			if (pthread_cond_timedwait(&s->wcond, &s->wlock, &ts) == ETIMEDOUT &&
			    !s->whead && s->npending < s->nfree)
				goto out; /* idle, and not counted on by a reservation */
		}
		t = s->whead;
		s->whead = t->next;
		if (!s->whead)
			s->wtail = NULL;
		s->npending--;
		s->nfree--;
		pthread_mutex_unlock(&s->wlock);
		t->run(t); /* t may be gone after this */
		pthread_mutex_lock(&s->wlock);
		s->nfree++;
		s->ninflight--;
		pthread_cond_broadcast(&s->wdone);
	}
out:
	s->nfree--;
	s->nthreads--;
	pthread_cond_broadcast(&s->wdone);
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

int http_worker_reserve(struct http_server *s)
{
	int r = 0;

	pthread_mutex_lock(&s->wlock);
	if (s->wstop) {
		r = -ESHUTDOWN;
		goto out;
	}
	if (s->npending >= s->nfree) {
		pthread_t t;

		r = -pthread_create(&t, &s->wattr, worker_main, s);
		if (r < 0) {
			log_debug("http: cannot start a worker thread: %s", strerror(-r));
			goto out;
		}
		s->nthreads++;
		s->nfree++;
	}
	s->npending++;
	s->ninflight++;
out:
	pthread_mutex_unlock(&s->wlock);
	return r;
}

void http_worker_queue(struct http_server *s, struct task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&s->wlock);
	if (s->wtail)
		s->wtail->next = t;
	else
		s->whead = t;
	s->wtail = t;
	pthread_cond_signal(&s->wcond);
	pthread_mutex_unlock(&s->wlock);
}

int http_workers_init(struct http_server *s)
{
	pthread_condattr_t ca;
	int r;

	r = -pthread_attr_init(&s->wattr);
	if (r < 0)
		return r;
	pthread_attr_setdetachstate(&s->wattr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&s->wattr, THREAD_STACK_SIZE);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->wdone, NULL);
	s->wready = true;
	return 0;
}

void http_workers_drain(struct http_server *s)
{
	pthread_mutex_lock(&s->wlock);
	s->wstop = true;
	pthread_cond_broadcast(&s->wcond);
	while (s->ninflight > 0)
		pthread_cond_wait(&s->wdone, &s->wlock);
	pthread_mutex_unlock(&s->wlock);
}

void http_workers_free(struct http_server *s)
{
	if (!s->wready)
		return;
	pthread_mutex_lock(&s->wlock);
	s->wstop = true;
	pthread_cond_broadcast(&s->wcond);
	while (s->nthreads > 0)
		pthread_cond_wait(&s->wdone, &s->wlock);
	pthread_mutex_unlock(&s->wlock);
	pthread_cond_destroy(&s->wcond);
	pthread_cond_destroy(&s->wdone);
	pthread_mutex_destroy(&s->wlock);
	pthread_attr_destroy(&s->wattr);
	s->wready = false;
}

/* ---- streams ---- */

/* Has the client closed its side? MHD only notices when it writes, and an
 * idle or suspended connection writes nothing, so look at the socket. */
static bool fd_peer_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

	if (fd < 0 || poll(&pfd, 1, 0) != 1)
		return false;
	return pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL);
}

static int conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

bool http_peer_gone(const struct http_request *req)
{
	return req && req->conn && fd_peer_gone(conn_fd(req->conn));
}

static void stream_destroy(struct stream *st)
{
	if (st->free_cls)
		st->free_cls(st->cls);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st->data);
	free(st);
}

static struct stream *stream_new(struct http_server *srv, struct MHD_Connection *conn,
                                 http_stream_fn fn, void *cls, void (*free_cls)(void *))
{
	struct stream *st = xcalloc(1, sizeof(*st));
	pthread_condattr_t ca;

	st->srv = srv;
	st->conn = conn;
	st->fd = conn_fd(conn);
	st->fn = fn;
	st->cls = cls;
	st->free_cls = free_cls;
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	st->data = xmalloc(STREAM_BLOCK_SIZE);
	st->refs = 1; /* the MHD response's */
	return st;
}

/* Called with st->lock held: lets the reader see new data or the end. The
 * connection is resumed with the lock released (the reader holds it while
 * it suspends); it stays suspended, so alive, until then. */
static void stream_wake(struct stream *st)
{
	if (!st->suspended)
		return;
	st->suspended = false;
	pthread_mutex_unlock(&st->lock);
	MHD_resume_connection(st->conn);
	pthread_mutex_lock(&st->lock);
}

/* The worker: calls the callback whenever the buffer is empty, until the
 * callback ends the stream, the client leaves, the server stops or the
 * response is gone. */
static void stream_run(struct task *t)
{
	struct stream *st = (struct stream *)t;
	struct http_server *s = st->srv;
	struct MHD_Connection *conn = st->conn;
	struct timespec ts;
	bool resume = false, last;

	pthread_mutex_lock(&st->lock);
	while (!st->closing && !st->eof && !st->error) {
		int64_t t0;
		bool gone = false;
		ssize_t n;

		if (atomic_load(&s->stopping)) {
			st->eof = true;
			break;
		}
		if (st->len > 0) { /* the reader has not taken it all yet */
			deadline_mono(&ts, STREAM_WAIT_MS);
			pthread_cond_timedwait(&st->cond, &st->lock, &ts);
			continue;
		}
		/* The buffer is empty and the reader touches it only when len
		 * is not 0: fill it without the lock. */
		pthread_mutex_unlock(&st->lock);
		t0 = mono_us();
		n = st->fn(st->cls, st->data, STREAM_BLOCK_SIZE);
		if (n == 0) {
			gone = fd_peer_gone(st->fd);
			if (!gone && mono_us() - t0 < STREAM_IDLE_SLEEP_US / 2)
				usleep(STREAM_IDLE_SLEEP_US); /* never let a quick 0 spin */
		}
		pthread_mutex_lock(&st->lock);
		if (n < 0) {
			st->eof = true;
		} else if (n > 0) {
			st->len = (size_t)n > STREAM_BLOCK_SIZE ? STREAM_BLOCK_SIZE : (size_t)n;
			st->off = 0;
			stream_wake(st);
		} else if (gone) {
			st->error = true;
		}
	}
	if (st->suspended && !st->closing) {
		st->suspended = false;
		resume = true;
	}
	last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (s->cfg.on_thread_idle)
		s->cfg.on_thread_idle();
	if (resume) /* the reader answers the end; st may be freed from now on */
		MHD_resume_connection(conn);
	if (last)
		stream_destroy(st);
}

/* MHD's content reader, in a pool thread. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *st = cls;
	ssize_t r;

	pthread_mutex_lock(&st->lock);
	if (st->off < st->len) {
		size_t n = st->len - st->off;

		if (n > max)
			n = max;
		memcpy(out, st->data + st->off, n);
		st->off += n;
		if (st->off == st->len) {
			st->off = st->len = 0;
			pthread_cond_signal(&st->cond);
		}
		r = (ssize_t)n;
	} else if (st->error) {
		r = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (st->eof || atomic_load(&st->srv->stopping)) {
		r = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Nothing yet: out of the event loop until the worker has some. */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
		r = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* MHD's free callback for the response: the reader's side lets go. */
static void stream_free(void *cls)
{
	struct stream *st = cls;
	bool last;

	pthread_mutex_lock(&st->lock);
	st->closing = true;
	st->suspended = false;
	pthread_cond_signal(&st->cond);
	last = --st->refs == 0;
	pthread_mutex_unlock(&st->lock);
	if (last)
		stream_destroy(st);
}

struct MHD_Response *http_stream_response(struct http_server *s, struct MHD_Connection *conn,
                                          http_stream_fn fn, void *cls, void (*free_cls)(void *))
{
	struct stream *st = stream_new(s, conn, fn, cls, free_cls);
	struct MHD_Response *mr;

	mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_SIZE, stream_read, st,
	                                       stream_free);
	if (!mr) {
		stream_free(st);
		return NULL;
	}
	if (http_worker_reserve(s) == 0) {
		st->refs++; /* the worker's */
		st->task.run = stream_run;
		http_worker_queue(s, &st->task);
	} else {
		st->eof = true; /* stopping, or no thread: an empty stream */
	}
	return mr;
}
