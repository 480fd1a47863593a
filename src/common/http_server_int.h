/* SPDX-License-Identifier: MIT */
/*
 * What the two files of the HTTP server share and nobody else uses:
 * http_server.c (requests, replies, the server's start and stop) and
 * http_worker.c (the worker threads and streamed responses). The public
 * interface is http.h.
 */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"

/* Stack of pool and worker threads: handlers run SQLite and jansson, which
 * need tens of KiB; only the pages touched count against RSS. */
#define THREAD_STACK_SIZE (512 * 1024)

/* Work for a worker thread: a request handler or a stream's callback. run
 * ends the task; it may free the memory the task lives in. */
struct task {
	struct task *next;
	void (*run)(struct task *t);
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_config cfg; /* its pointers are weak */
	atomic_bool stopping;
	atomic_int nrequests; /* begun (URI seen) and not yet completed */
	char *tls_cert;       /* owned copies */
	char *tls_key;
	struct route fallback; /* the placeholder route of cfg.fallback's requests */

	/* Workers. A task is reserved (npending, ninflight), its connection
	 * suspended, then queued; a free thread takes it. nfree counts the
	 * threads not running a task (waiting, or starting), so a reservation
	 * starts a thread when npending would exceed it. */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;       /* a task was queued, or stop (monotonic clock) */
	pthread_cond_t wdone;       /* a task ended or a thread exited */
	pthread_attr_t wattr;       /* detached, THREAD_STACK_SIZE */
	bool wready;                /* the above are initialised */
	struct task *whead, *wtail; /* weak: tasks live in their ctx or stream */
	int npending;               /* reserved or queued, not yet taken */
	int ninflight;              /* reserved and not yet ended */
	int nthreads;
	int nfree;
	bool wstop; /* no new reservations */
};

/* ---- http_worker.c ---- */

int http_workers_init(struct http_server *s);
/* Reserves a worker for one task, starting a thread when none is free.
 * 0, -ESHUTDOWN (the server is stopping) or -EAGAIN (no thread). Every
 * reservation must be followed by http_worker_queue(). */
int http_worker_reserve(struct http_server *s);
void http_worker_queue(struct http_server *s, struct task *t);
/* Refuses new tasks and waits until every task has ended (so no connection
 * is suspended any more). */
void http_workers_drain(struct http_server *s);
/* After http_workers_drain() and MHD's stop: waits for the threads to exit. */
void http_workers_free(struct http_server *s);

/* The MHD response of a stream (http_reply_stream) on conn, its callback
 * queued on a worker (none when the server is stopping or no thread
 * starts: then the stream is empty). Takes cls: free_cls(cls) runs when
 * the stream ends, or at once when there is no response (NULL). */
struct MHD_Response *http_stream_response(struct http_server *s, struct MHD_Connection *conn,
                                          http_stream_fn fn, void *cls, void (*free_cls)(void *));
