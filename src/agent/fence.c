// SPDX-License-Identifier: MIT
/*
 * Self-fencing for VM HA on shared storage (docs/OPERATIONS.md, "VM HA").
 *
 * Every heartbeat_interval_ms the host writes <pool>/heartbeat/<host id>
 * on each shared pool its VMs use (a small JSON document, written to a
 * temporary name and renamed, so readers never see half of it). kumod,
 * when the host falls silent, asks another host of the cluster how old
 * that file is (exec_rpc "pool.heartbeat_age") and restarts the host's HA
 * VMs elsewhere only once it is older than its deadline.
 *
 * The other half is here: a host that has lost kumod (no heartbeat
 * answered) and cannot write a pool's heartbeat either, both for
 * fence_after_ms, kills its own HA VMs on that pool: from then on nobody
 * can be writing their disks when kumod starts them elsewhere. kumod waits
 * until both the host's silence and its heartbeat's age pass
 * ha_deadline_s (12 s), longer than fence_after_ms (8 s) plus one interval
 * (2 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/fence.h"
#include "agent/host_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define POOLS_MAX 16

struct pool_beat {
	char *path;      /* owned */
	int64_t last_ok; /* mono ms of the last heartbeat written; 0 never */
	bool failing;    /* the last write failed (logged once) */
	bool fenced;     /* fenced since the last good write (logged once) */
};

struct fence {
	struct agent_host *h; /* weak */
	int64_t interval_ms, fence_after_ms;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int64_t seq;
	struct pool_beat pools[POOLS_MAX];
	size_t npools;
};

const char *pool_shared_path(const json_t *obj)
{
	const json_t *pool = json_object_get(obj, "pool");
	const char *path = jstr(pool, "path");

	if (!pool || !jstr(pool, "type") || strcmp(jstr(pool, "type"), "shared") != 0)
		return NULL;
	if (!path || path[0] != '/' || strstr(path, "..") || strchr(path, ','))
		return NULL;
	return path;
}

bool spec_ha_restart(const json_t *spec)
{
	return jstr(spec, "ha") && !strcmp(jstr(spec, "ha"), "restart");
}

struct walk {
	json_t *pools; /* object: path -> [ha vm ids] */
};

static void collect(void *cls, struct journal_vm *vm)
{
	struct walk *w = cls;
	const char *path = pool_shared_path(vm->spec);
	json_t *ids;

	if (!path)
		return;
	ids = json_object_get(w->pools, path);
	if (!ids) {
		ids = json_array();
		json_object_set_new(w->pools, path, ids);
	}
	if (spec_ha_restart(vm->spec))
		json_array_append_new(ids, json_string(vm->id));
}

static struct pool_beat *beat_of(struct fence *f, const char *path)
{
	for (size_t i = 0; i < f->npools; i++)
		if (!strcmp(f->pools[i].path, path))
			return &f->pools[i];
	if (f->npools == POOLS_MAX)
		return NULL;
	f->pools[f->npools] = (struct pool_beat){ .path = xstrdup(path) };
	return &f->pools[f->npools++];
}

/* <pool>/heartbeat/<host id>: 0 or -errno. */
static int beat_write(struct fence *f, const char *pool, const char *host_id)
{
	char *dir = xasprintf("%s/heartbeat", pool);
	char *file = xasprintf("%s/%s", dir, host_id);
	char *body;
	int r;

	r = mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
	if (r == 0) {
		body = xasprintf("{\"host_id\":\"%s\",\"seq\":%lld,\"time_ms\":%lld}\n", host_id,
		                 (long long)++f->seq, (long long)now_ms());
		r = file_write_atomic(file, body, strlen(body), 0600);
		free(body);
	}
	free(file);
	free(dir);
	return r;
}

/* Kills an HA VM at once (SIGKILL: no graceful quit, which a QEMU stuck
 * on lost storage may never finish), then lets the driver notice and
 * record it stopped. */
static void fence_vm(struct fence *f, const char *vm_id, int pid, const char *pool)
{
	struct agent_host *h = f->h;
	struct driver_err e = { NULL, "" };

	log_warn("vm %s: fenced: kumod unreachable and the heartbeat on %s cannot be written; "
	         "killing it before kumod starts it elsewhere",
	         vm_id, pool);
	kill(pid, SIGKILL);
	if (agent_host_vm_action(h, vm_id, "vm.stop", true, 500, "fenced", &e) < 0)
		log_info("vm %s: after the fence: %s", vm_id, e.message);
}

static void tick(struct fence *f)
{
	struct agent_host *h = f->h;
	struct walk w = { json_object() };
	char host_id[64];
	const char *path;
	json_t *ids;
	int64_t now = mono_ms(), up;

	if (!agent_host_id(h, host_id, sizeof(host_id))) {
		json_decref(w.pools);
		return;
	}
	pthread_mutex_lock(&h->lock);
	journal_vm_each(h->j, collect, &w);
	pthread_mutex_unlock(&h->lock);
	up = agent_host_last_up(h);
	json_object_foreach(w.pools, path, ids)
	{
		struct pool_beat *b = beat_of(f, path);
		int r;

		if (!b)
			continue;
		r = beat_write(f, path, host_id);
		if (r == 0) {
			if (b->failing)
				log_info("the heartbeat on pool %s is written again", path);
			b->last_ok = now;
			b->failing = b->fenced = false;
			continue;
		}
		if (!b->failing)
			log_warn("cannot write the heartbeat on pool %s: %s", path, strerror(-r));
		b->failing = true;
		if (b->last_ok == 0)
			b->last_ok = now; /* counts from the first try */
		if (now - b->last_ok < f->fence_after_ms || now - up < f->fence_after_ms)
			continue;
		{
			json_t *id;
			size_t i;

			json_array_foreach(ids, i, id)
			{
				const char *vm_id = json_string_value(id);
				int pid =
				    h->a->driver->vm_pid ? h->a->driver->vm_pid(h->dh, vm_id) : 0;

				if (pid > 0)
					fence_vm(f, vm_id, pid, path);
			}
			if (!b->fenced && json_array_size(ids) > 0)
				log_warn("pool %s: %zu HA vm(s) fenced", path,
				         json_array_size(ids));
			b->fenced = true;
		}
	}
	json_decref(w.pools);
}

static void *fence_main(void *arg)
{
	struct fence *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&f->lock);
		tick(f);
		pthread_mutex_lock(&f->lock);
		if (f->stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += f->interval_ms / 1000;
		ts.tv_nsec += (long)(f->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fence_start(struct agent_host *h, const struct config *cfg, struct fence **ret)
{
	struct fence *f = xcalloc(1, sizeof(*f));
	pthread_condattr_t ca;
	int r;

	f->h = h;
	f->interval_ms = config_int(cfg, "ha", "heartbeat_interval_ms", FENCE_INTERVAL_MS);
	f->fence_after_ms = config_int(cfg, "ha", "fence_after_ms", FENCE_AFTER_MS);
	if (f->interval_ms < 100)
		f->interval_ms = 100;
	if (f->fence_after_ms < 2 * f->interval_ms)
		f->fence_after_ms = 2 * f->interval_ms;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&f->thread, NULL, fence_main, f);
	if (r != 0) {
		fence_stop(f);
		return -r;
	}
	f->started = true;
	*ret = f;
	return 0;
}

struct fence *fence_stop(struct fence *f)
{
	if (!f)
		return NULL;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->started)
		pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->npools; i++)
		free(f->pools[i].path);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return NULL;
}

int fence_heartbeat_age(const char *pool, const char *host_id, json_t *data, struct driver_err *e)
{
	struct stat sb;
	char *file;
	int64_t age;

	if (!pool || pool[0] != '/' || strstr(pool, "..") || !host_id || !uuid_valid(host_id))
		return driver_fail(e, "InvalidArgument",
		                   "pool.heartbeat_age needs path and host_id");
	if (stat(pool, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return driver_fail(e, "PoolUnavailable",
		                   "the shared pool %s is not mounted on this host", pool);
	file = xasprintf("%s/heartbeat/%s", pool, host_id);
	if (stat(file, &sb) < 0) {
		int err = errno;

		free(file);
		if (err != ENOENT)
			return driver_fail(e, "PoolUnavailable", "cannot read the heartbeat: %s",
			                   strerror(err));
		jset_bool(data, "exists", false);
		return 0;
	}
	free(file);
	age = now_ms() - ((int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000);
	jset_bool(data, "exists", true);
	jset_int(data, "age_ms", age < 0 ? 0 : age);
	return 0;
}
