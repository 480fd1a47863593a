// SPDX-License-Identifier: MIT
/*
 * Hosts as kumod sees them: allocations for the scheduler, and liveness.
 * The liveness table is in memory (last heartbeat, last VM report digest,
 * a condition variable for long-polls); the store holds the status that
 * the API shows. A host silent past host_timeout_ms becomes disconnected
 * and its VMs unknown.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/kumod.h"
#include "kumod/migrate.h"
#include "kumod/store.h"
#include "kumod/telemetry.h"
#include "kumod/vm_state.h"

#define LIVE_BUCKETS 4096

struct live {
	char id[UUID_LEN + 1];
	int64_t last_seen; /* mono ms */
	uint64_t digest;
	uint64_t gen;   /* bumped by host_wake */
	bool connected; /* as the store says, kept here for the liveness check */
	pthread_cond_t cond;
	struct live *next;
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live *live_table[LIVE_BUCKETS];
static bool live_stopping; /* under live_lock: kumod is stopping, waits end */

static unsigned live_hash(const char *id)
{
	unsigned h = 5381;

	for (; *id; id++)
		h = h * 33 + (unsigned char)*id;
	return h % LIVE_BUCKETS;
}

/* Call with live_lock held. */
static struct live *live_get(const char *id, bool create, bool *created)
{
	unsigned h = live_hash(id);
	struct live *l;

	for (l = live_table[h]; l; l = l->next)
		if (!strcmp(l->id, id))
			return l;
	if (!create)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", id);
	{
		pthread_condattr_t a;

		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&l->cond, &a);
		pthread_condattr_destroy(&a);
	}
	l->next = live_table[h];
	live_table[h] = l;
	if (created)
		*created = true;
	return l;
}

bool host_seen(const char *host_id)
{
	bool created = false;
	struct live *l;

	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, true, &created);
	l->last_seen = mono_ms();
	pthread_mutex_unlock(&live_lock);
	return created;
}

bool host_report_changed(const char *host_id, uint64_t digest)
{
	struct live *l;
	bool changed;

	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, true, NULL);
	changed = l->digest != digest;
	l->digest = digest;
	pthread_mutex_unlock(&live_lock);
	return changed;
}

void host_forget(const char *host_id)
{
	struct live *l;

	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, false, NULL);
	if (l) {
		l->digest = 0;
		l->last_seen = 0;
		l->connected = false;
		l->gen++;
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&live_lock);
}

bool host_connected(const char *host_id)
{
	struct live *l;
	bool yes;

	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, false, NULL);
	yes = l && l->connected;
	pthread_mutex_unlock(&live_lock);
	return yes;
}

void host_wake(const char *host_id)
{
	struct live *l;

	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, true, NULL);
	l->gen++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&live_lock);
}

void host_wake_all(void)
{
	pthread_mutex_lock(&live_lock);
	for (int i = 0; i < LIVE_BUCKETS; i++)
		for (struct live *l = live_table[i]; l; l = l->next) {
			l->gen++;
			pthread_cond_broadcast(&l->cond);
		}
	pthread_mutex_unlock(&live_lock);
}

void host_stop_waits(void)
{
	pthread_mutex_lock(&live_lock);
	live_stopping = true;
	pthread_mutex_unlock(&live_lock);
	host_wake_all();
}

bool host_stopping(void)
{
	bool s;

	pthread_mutex_lock(&live_lock);
	s = live_stopping;
	pthread_mutex_unlock(&live_lock);
	return s;
}

void host_wait(const char *host_id, uint64_t *gen, int64_t timeout_ms)
{
	struct timespec ts;
	struct live *l;

	deadline_mono(&ts, timeout_ms);
	pthread_mutex_lock(&live_lock);
	l = live_get(host_id, true, NULL);
	if (*gen == 0)
		*gen = l->gen;
	while (l->gen == *gen && !live_stopping) {
		if (pthread_cond_timedwait(&l->cond, &live_lock, &ts) != 0)
			break;
	}
	*gen = l->gen;
	pthread_mutex_unlock(&live_lock);
}

int host_load_sched(struct sched_host **ret, int *ret_n)
{
	struct sched_host *hs = NULL;
	int n = 0, cap = 0;
	int64_t offset = 0;

	for (;;) {
		struct list_query q;
		json_t *items = NULL, *h;
		int64_t total = 0;
		size_t i;
		int r;

		list_query_init(&q);
		query_add_eq(&q, "status", "connected");
		q.limit = QUERY_LIMIT_MAX;
		q.offset = offset;
		snprintf(q.sort, sizeof(q.sort), "id");
		r = store_list("hosts", &q, &items, &total);
		list_query_free(&q);
		if (r < 0) {
			free(hs);
			return r;
		}
		json_array_foreach(items, i, h)
		{
			struct sched_host *s;

			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				hs = xrealloc(hs, (size_t)cap * sizeof(*hs));
			}
			s = &hs[n++];
			memset(s, 0, sizeof(*s));
			snprintf(s->id, sizeof(s->id), "%s", jstr(h, "id"));
			snprintf(s->zone_id, sizeof(s->zone_id), "%s",
			         jstr(h, "zone_id") ? jstr(h, "zone_id") : "");
			snprintf(s->cluster_id, sizeof(s->cluster_id), "%s",
			         jstr(h, "cluster_id") ? jstr(h, "cluster_id") : "");
			s->connected = true;
			s->enabled = jstr(h, "state") && !strcmp(jstr(h, "state"), "enabled");
			s->cpu_total = jint(h, "cpu_total", 0);
			s->cpu_allocated = jint(h, "cpu_allocated", 0);
			s->memory_mb_total = jint(h, "memory_mb_total", 0);
			s->memory_mb_allocated = jint(h, "memory_mb_allocated", 0);
			s->disk_gb_total = jint(h, "disk_gb_total", 0);
			s->disk_gb_allocated = jint(h, "disk_gb_allocated", 0);
			s->vm_count = jint(h, "vm_count", 0);
			telemetry_sched_fill(s); /* thermal state, from memory */
		}
		offset += (int64_t)json_array_size(items);
		json_decref(items);
		if (offset >= total || total == 0)
			break;
	}
	*ret = hs;
	*ret_n = n;
	return 0;
}

int host_adjust(const char *host_id, int64_t vcpus, int64_t memory_mb, int64_t disk_gb, int64_t vms)
{
	json_t *h = NULL;
	int r;

	if (!host_id)
		return 0;
	r = store_get("hosts", host_id, NULL, false, &h);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
#define ADJ(f, d)                                                                                  \
	do {                                                                                       \
		int64_t v = jint(h, f, 0) + (d);                                                   \
		jset_int(h, f, v < 0 ? 0 : v);                                                     \
	} while (0)
	ADJ("cpu_allocated", vcpus);
	ADJ("memory_mb_allocated", memory_mb);
	ADJ("disk_gb_allocated", disk_gb);
	ADJ("vm_count", vms);
#undef ADJ
	r = store_update("hosts", h, false);
	json_decref(h);
	return r;
}

static void vms_unknown(const char *host_id)
{
	struct list_query q;
	json_t *items = NULL, *vm;
	int64_t total;
	size_t i;

	list_query_init(&q);
	query_add_eq(&q, "host_id", host_id);
	q.limit = 0; /* all */
	if (store_list("vms", &q, &items, &total) == 0) {
		json_array_foreach(items, i, vm)
		{
			const char *st = jstr(vm, "state");

			if (!st || !strcmp(st, "unknown") || !strcmp(st, "error") ||
			    !strcmp(st, "destroyed"))
				continue;
			jset_str(vm, "state_before_lost", st);
			jset_str(vm, "state", "unknown");
			jset_str(vm, "state_reason", "host disconnected");
			store_update("vms", vm, false);
			{
				json_t *d = json_pack("{s:s,s:s}", "state", "unknown", "reason",
				                      "host disconnected");

				event_emit("vm.state", "vms", jstr(vm, "id"),
				           jstr(vm, "account_id"), d);
				json_decref(d);
			}
		}
	}
	json_decref(items);
	list_query_free(&q);
}

int host_set_status(json_t *host, const char *status)
{
	/* a copy: jset_str below frees the string jstr() points into */
	char *old = jstr(host, "status") ? xstrdup(jstr(host, "status")) : NULL;
	char *now;
	int r;

	if (old && !strcmp(old, status)) {
		free(old);
		return 0;
	}
	now = time_now_str();
	jset_str(host, "status", status);
	jset_str(host, "last_seen_at", now);
	free(now);
	r = store_update("hosts", host, false);
	if (r < 0) {
		free(old);
		return r;
	}
	{
		json_t *d = json_pack("{s:s,s:s?}", "status", status, "previous", old);

		event_emit("host.status", "hosts", jstr(host, "id"), NULL, d);
		json_decref(d);
	}
	free(old);
	if (!strcmp(status, "disconnected")) {
		log_warn("host %s (%s) is disconnected: no heartbeat for %lld s",
		         jstr(host, "name"), jstr(host, "id"),
		         (long long)kumod_cfg.host_timeout_ms / 1000);
		migrate_host_lost(jstr(host, "id")); /* before its VMs become unknown */
		vms_unknown(jstr(host, "id"));
		host_forget(jstr(host, "id"));
	} else {
		struct live *l;

		pthread_mutex_lock(&live_lock);
		l = live_get(jstr(host, "id"), true, NULL);
		l->connected = !strcmp(status, "connected");
		l->last_seen = mono_ms();
		pthread_mutex_unlock(&live_lock);
		log_info("host %s (%s) is %s", jstr(host, "name"), jstr(host, "id"), status);
	}
	return 0;
}

void host_liveness_init(void)
{
	struct list_query q;
	json_t *items = NULL, *h;
	int64_t total = 0, now = mono_ms();
	size_t i;

	/* Hosts connected when kumod stopped get a full timeout from now to
	 * heartbeat again before they are declared lost. */
	list_query_init(&q);
	query_add_eq(&q, "status", "connected");
	q.limit = 0; /* all */
	if (store_list("hosts", &q, &items, &total) == 0) {
		pthread_mutex_lock(&live_lock);
		json_array_foreach(items, i, h)
		{
			struct live *l = live_get(jstr(h, "id"), true, NULL);

			l->connected = true;
			l->last_seen = now;
		}
		pthread_mutex_unlock(&live_lock);
	}
	json_decref(items);
	list_query_free(&q);
}

json_t *host_silent(int64_t min_ms)
{
	json_t *out = json_array();
	int64_t now = mono_ms();

	pthread_mutex_lock(&live_lock);
	for (int b = 0; b < LIVE_BUCKETS; b++)
		for (struct live *l = live_table[b]; l; l = l->next)
			if (l->connected && l->last_seen > 0 && now - l->last_seen >= min_ms)
				json_array_append_new(out, json_string(l->id));
	pthread_mutex_unlock(&live_lock);
	return out;
}

void host_check_liveness(void)
{
	char(*lost)[UUID_LEN + 1] = NULL;
	int64_t now = mono_ms();
	int n = 0, cap = 0;

	/* From memory: a quiet fleet costs no store reads. */
	pthread_mutex_lock(&live_lock);
	for (int b = 0; b < LIVE_BUCKETS; b++)
		for (struct live *l = live_table[b]; l; l = l->next) {
			if (!l->connected || now - l->last_seen < kumod_cfg.host_timeout_ms)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				lost = xrealloc(lost, (size_t)cap * sizeof(*lost));
			}
			snprintf(lost[n++], UUID_LEN + 1, "%s", l->id);
			l->connected = false; /* until the store says otherwise */
		}
	pthread_mutex_unlock(&live_lock);
	for (int k = 0; k < n; k++) {
		json_t *fresh = NULL;
		int r;

		if (store_begin() < 0)
			continue;
		r = store_get("hosts", lost[k], NULL, false, &fresh);
		if (r == 0 &&
		    !strcmp(jstr(fresh, "status") ? jstr(fresh, "status") : "", "connected"))
			r = host_set_status(fresh, "disconnected");
		if (r < 0 || store_commit() < 0)
			store_rollback();
		json_decref(fresh);
	}
	free(lost);
}
