/* SPDX-License-Identifier: MIT */
/*
 * Inside one host's channel to kumod: what channel.c (registration and
 * identity, the poller, the driver's callbacks, the host's lifecycle) and
 * channel_exec.c (the executor: due times, command threads, the journal's
 * writes, results and heartbeats) share. Nothing outside those two files
 * includes this; the API is channel.h, the host's state host_int.h.
 *
 * Locking is as in channel.c: "called with h->lock" means the caller holds
 * it; a->lock is taken inside where it is needed.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "agent/host_int.h"

struct http_result;

#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define AGENT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang */
#define AGENT_ASAN 1
#endif
#endif
#if defined(AGENT_ASAN)
#define HOST_THREAD_STACK (1024 * 1024) /* ASan's redzones need room */
#else
#define HOST_THREAD_STACK (256 * 1024)
#endif
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 5000
#define CALL_TIMEOUT_S 15 /* register, results, heartbeat */

/* The kinds of calls to kumod, for reachability. A host is "down" from a
 * failure until it is undone: a transport failure (kumod unreachable) by any
 * answer from kumod, an error status (kumod answers 5xx to one kind of call)
 * only by a success of that kind, so that a half-working kumod is not
 * logged as going away and back at every retry. */
enum call {
	CALL_REGISTER = 1 << 0,
	CALL_POLL = 1 << 1,
	CALL_RESULTS = 1 << 2,
	CALL_HEARTBEAT = 1 << 3,
	CALL_TRANSPORT = 1 << 4, /* not a call: the "unreachable" bit */
};

/* --- small helpers ------------------------------------------------------ */

static inline bool stopping(const struct agent *a)
{
	return atomic_load(&a->stop);
}

static inline void ms_to_timespec(int64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

static inline int64_t backoff_next(int64_t cur)
{
	if (cur < BACKOFF_MIN_MS)
		return BACKOFF_MIN_MS;
	return cur * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cur * 2;
}

/* An http_client cancel hook (cls: the struct agent): true when stopping. */
static inline int stop_cancelled(void *cls)
{
	return stopping(cls);
}

/* --- channel.c ------------------------------------------------------------ */

/* A short, single-line excerpt of an HTTP body for a log line. */
void chan_body_excerpt(const struct http_result *res, char *out, size_t outlen);

/* Reachability of kumod, process-wide and logged once per outage (they
 * take a->lock). chan_note_up: kumod answered a call of kind what.
 * chan_note_failure: it failed, by transport (r < 0, why in res->error) or
 * with a status in res that means "try again later". */
void chan_note_up(struct agent_host *h, enum call what);
void chan_note_failure(struct agent_host *h, enum call what, int r, const struct http_result *res);

/* kumod answered 401 to a call made with identity generation gen: forget
 * the identity (once), so that the poller registers again. Called with
 * h->lock held. */
void chan_identity_invalidate(struct agent_host *h, unsigned gen);

/* Facts for register and heartbeat. Called with h->lock held. New
 * reference. */
json_t *chan_host_facts(struct agent_host *h);

/* --- channel_exec.c ------------------------------------------------------- */

/* Appends a result (compact JSON, copied) for command id to the outbox;
 * seq: the journal change that recorded it (0: on disk already). Called
 * with h->lock held (or before the threads start). */
void chan_outbox_push(struct agent_host *h, const char *id, const char *result, uint64_t seq);
/* Removes the first entry, if any; sent: mark it acknowledged in the
 * journal. Called with h->lock held (or after the threads are joined). */
void chan_outbox_pop(struct agent_host *h, bool sent);

/* The executor thread of host h (arg); returns when a->stop is set, after
 * a last write of the journal. */
void *chan_executor_main(void *arg);
