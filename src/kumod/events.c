// SPDX-License-Identifier: MIT
/*
 * The event log's write side and the wake-up of followers. The events
 * themselves live in the store; this file only adds them and signals.
 */
#include <pthread.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "kumod/events.h"
#include "kumod/store.h"

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond;
static pthread_once_t ev_once = PTHREAD_ONCE_INIT;
static int64_t ev_last; /* last seq known to this process */

static void ev_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&ev_cond, &a);
	pthread_condattr_destroy(&a);
}

void event_emit(const char *type, const char *resource_kind, const char *resource_id,
                const char *account_id, const json_t *data)
{
	int64_t seq = 0;
	int r;

	pthread_once(&ev_once, ev_init);
	r = store_event_add(type, resource_kind, resource_id, account_id, data, &seq);
	if (r < 0) {
		log_warn("event %s for %s %s lost: %d", type, resource_kind, resource_id, r);
		return;
	}
	pthread_mutex_lock(&ev_lock);
	if (seq > ev_last)
		ev_last = seq;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

void event_wait(int64_t seq, int64_t timeout_ms)
{
	struct timespec ts;

	pthread_once(&ev_once, ev_init);
	deadline_mono(&ts, timeout_ms);
	pthread_mutex_lock(&ev_lock);
	while (ev_last <= seq) {
		if (pthread_cond_timedwait(&ev_cond, &ev_lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&ev_lock);
}

void event_wake_all(void)
{
	pthread_once(&ev_once, ev_init);
	pthread_mutex_lock(&ev_lock);
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}
