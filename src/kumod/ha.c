// SPDX-License-Identifier: MIT
/*
 * VM HA: a VM with "ha": "restart" whose disks are on a shared pool is
 * started on another host of its cluster when its host is lost, once, and
 * never while the lost host could still run it.
 *
 * Once a second (a thread of its own: it waits for hosts' answers), for
 * every host that has such VMs wanting to run and has been silent for
 * ha_deadline_s (12 s; disconnected ones too, as after a restart of kumod):
 *  1. another connected host of the cluster is asked how old the lost
 *     host's heartbeat file on the pool is ("pool.heartbeat_age", answered
 *     by the agent at once, see agent/fence.c);
 *  2. only when it is older than ha_deadline_s (12 s; or missing) are its
 *     VMs restarted: a host that lost kumod and that heartbeat both has
 *     killed its HA VMs after fence_after_ms (8 s) by then. A fresh
 *     heartbeat means the host is alive and only cut off from kumod: its
 *     VMs stay where they are.
 *  3. each VM moves in one transaction (placement in its cluster, the lost
 *     host's allocations to the new one, host_id, state starting) with a
 *     vm.ha_restart job that sends the new host a vm.create: the agent
 *     finds the disk on the pool and boots it.
 * When the lost host comes back and reports the VM, kumod tells it to
 * forget it (vm.forget: its QEMU and local files go, the pool's disks
 * stay: channel.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/events.h"
#include "kumod/ha.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/netsync.h"
#include "kumod/pool.h"
#include "kumod/rpc.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static pthread_t thread;
static bool started;
static atomic_bool stopping;

/* Does the VM want to run (the user did not stop it)? */
static bool wants_to_run(const json_t *vm)
{
	const char *st = jstr(vm, "state");

	if (!strcmp(st, "unknown"))
		st = jstr(vm, "state_before_lost") ? jstr(vm, "state_before_lost") : "";
	return !strcmp(st, "running") || !strcmp(st, "paused") || !strcmp(st, "starting") ||
	       !strcmp(st, "rebooting") || !strcmp(st, "pausing");
}

static json_t *list_eq(const char *kind, const char *f1, const char *v1, const char *f2,
                       const char *v2)
{
	struct list_query q;
	json_t *items = NULL;
	int64_t total = 0;

	list_query_init(&q);
	query_add_eq(&q, f1, v1);
	if (f2)
		query_add_eq(&q, f2, v2);
	q.limit = 0;
	if (store_list(kind, &q, &items, &total) < 0)
		items = NULL;
	list_query_free(&q);
	return items;
}

/* Whether every data volume of vm is on a shared pool too (a volume on the
 * lost host's own disk cannot follow it). */
static bool volumes_shared(const json_t *vm)
{
	const json_t *id;
	size_t i;

	json_array_foreach(json_object_get(vm, "volumes"), i, id)
	{
		json_t *v = NULL;
		bool ok = store_get("volumes", json_string_value(id), NULL, false, &v) == 0 &&
		          (!strcmp(jstr(v, "kind"), "root") || pool_is_shared(jstr(v, "pool_id")));

		json_decref(v);
		if (!ok)
			return false;
	}
	return true;
}

/* Of a host's HA VMs (vms), those that want to run and can move (all
 * their disks on shared pools), each with its pool (a host may have VMs on
 * several pools: each is checked on its own). [{"vm": doc, "pool": doc}] */
static json_t *ha_vms(const json_t *vms)
{
	json_t *vm, *out;
	size_t i;

	out = json_array();
	json_array_foreach(vms, i, vm)
	{
		json_t *pool = NULL;

		if (!wants_to_run(vm) || !jstr(vm, "pool_id"))
			continue;
		if (jstr(vm, "job_id")) {
			json_t *job = NULL;
			bool busy = store_get("jobs", jstr(vm, "job_id"), NULL, false, &job) == 0 &&
			            !job_state_final(jstr(job, "state"));

			json_decref(job);
			if (busy)
				continue; /* its operation ends first (or times out) */
		}
		if (store_get("storage-pools", jstr(vm, "pool_id"), NULL, false, &pool) < 0)
			continue;
		if (strcmp(jstr(pool, "type"), "shared") != 0 || !volumes_shared(vm)) {
			json_decref(pool);
			continue;
		}
		json_array_append_new(out, json_pack("{s:O,s:o}", "vm", vm, "pool", pool));
	}
	return out;
}

/* The HA VMs ("ha": "restart") of the cloud by host id: one query a round,
 * however many hosts are silent. {host id: [vm doc, ...]} */
static json_t *ha_vms_by_host(void)
{
	json_t *all = list_eq("vms", "ha", "restart", NULL, NULL), *by = json_object(), *vm;
	size_t i;

	json_array_foreach(all, i, vm)
	{
		const char *host_id = jstr(vm, "host_id");
		json_t *list;

		if (!host_id)
			continue;
		list = json_object_get(by, host_id);
		if (!list) {
			list = json_array();
			json_object_set_new(by, host_id, list);
		}
		json_array_append(list, vm);
	}
	json_decref(all);
	return by;
}

/* How old host_id's heartbeat on pool is, asked of another connected host
 * of the cluster: 0 with *ret_age_ms (INT64_MAX when there is none), or
 * -errno when nobody could tell. */
static int heartbeat_age(const char *host_id, const char *cluster_id, const json_t *pool,
                         int64_t *ret_age_ms, char *checker, size_t checker_len)
{
	json_t *hosts = list_eq("hosts", "cluster_id", cluster_id, "status", "connected"), *h;
	size_t i;
	int r = -EHOSTDOWN;

	json_array_foreach(hosts, i, h)
	{
		struct kerr e = { 0 };
		json_t *data = NULL;

		if (!strcmp(jstr(h, "id"), host_id))
			continue;
		r = rpc_call(jstr(h, "id"), "pool.heartbeat_age",
		             json_pack("{s:s,s:s}", "path", jstr(pool, "path"), "host_id", host_id),
		             5000, &data, &e);
		if (r < 0) {
			log_debug("ha: host %s cannot read heartbeats of pool %s: %s",
			          jstr(h, "id"), jstr(pool, "name"),
			          e.message[0] ? e.message : strerror(-r));
			continue;
		}
		*ret_age_ms = jbool(data, "exists", false) ? jint(data, "age_ms", 0) : INT64_MAX;
		snprintf(checker, checker_len, "%s", jstr(h, "name"));
		json_decref(data);
		break;
	}
	json_decref(hosts);
	return r;
}

/* Moves one VM off the lost host, in a transaction. */
static int restart_elsewhere(const char *vm_id, const char *lost_host)
{
	struct sched_host *hosts = NULL;
	struct sched_request sr;
	struct kerr e = { 0 };
	json_t *vm = NULL, *job = NULL, *p;
	int n = 0, idx, r;

	r = store_begin();
	if (r < 0)
		return r;
	r = store_get("vms", vm_id, NULL, false, &vm);
	if (r < 0 || !jstr(vm, "host_id") || strcmp(jstr(vm, "host_id"), lost_host) != 0 ||
	    !wants_to_run(vm)) {
		store_rollback();
		json_decref(vm);
		return 0; /* moved or stopped meanwhile */
	}
	r = host_load_sched(&hosts, &n);
	if (r < 0)
		goto fail;
	sr = (struct sched_request){ .cluster_id = jstr(vm, "cluster_id"),
		                     .vcpus = jint(vm, "vcpus", 1),
		                     .memory_mb = jint(vm, "memory_mb", 0),
		                     .disk_gb = 0,
		                     .strategy = SCHED_SPREAD };
	idx = sched_place(hosts, n, &sr, &kumod_cfg.sched, &e);
	if (idx < 0) {
		log_warn("ha: vm %s (%s) cannot be restarted: %s", jstr(vm, "name"), vm_id,
		         e.message);
		r = idx;
		goto fail;
	}
	r = host_adjust(lost_host, -jint(vm, "vcpus", 0), -jint(vm, "memory_mb", 0), 0, -1);
	if (r == 0)
		r = host_adjust(hosts[idx].id, jint(vm, "vcpus", 0), jint(vm, "memory_mb", 0), 0,
		                1);
	if (r < 0)
		goto fail;
	p = json_pack("{s:s,s:s}", "from_host_id", lost_host, "to_host_id", hosts[idx].id);
	job = job_new("vm.ha_restart", "vms", vm_id, jstr(vm, "account_id"), p, NULL);
	json_decref(p);
	r = job_insert(job);
	if (r < 0)
		goto fail;
	jset_str(vm, "host_id", hosts[idx].id);
	jset_str(vm, "job_id", jstr(job, "id"));
	json_object_del(vm, "state_before_lost");
	r = vm_set_state(vm, VM_STARTING, "HA: restarting after its host was lost");
	if (r < 0)
		goto fail;
	{
		json_t *d =
		    json_pack("{s:s,s:s}", "from_host_id", lost_host, "to_host_id", hosts[idx].id);

		event_emit("vm.ha_restart", "vms", vm_id, jstr(vm, "account_id"), d);
		json_decref(d);
	}
	r = store_commit();
	if (r < 0)
		goto fail_nocommit;
	log_warn("ha: vm %s (%s): its host %s is lost and fenced; restarting it on %s",
	         jstr(vm, "name"), vm_id, lost_host, hosts[idx].id);
	jobs_notify();
	netsync_kick();
	free(hosts);
	json_decref(job);
	json_decref(vm);
	return 1;
fail:
	store_rollback();
fail_nocommit:
	free(hosts);
	json_decref(job);
	json_decref(vm);
	return r;
}

static void check_host(const json_t *host, const json_t *vms)
{
	static int64_t last_fresh_log;
	const char *host_id = jstr(host, "id");
	json_t *list = ha_vms(vms), *it;
	json_t *ages = json_object(); /* pool id -> age or refusal */
	size_t i;

	json_array_foreach(list, i, it)
	{
		const json_t *vm = json_object_get(it, "vm"), *pool = json_object_get(it, "pool");
		json_t *age = json_object_get(ages, jstr(pool, "id"));
		char checker[80] = "";
		int64_t age_ms = 0;

		if (!age) {
			int r = heartbeat_age(host_id, jstr(host, "cluster_id"), pool, &age_ms,
			                      checker, sizeof(checker));

			age = json_integer(r < 0 ? -1 : age_ms);
			json_object_set_new(ages, jstr(pool, "id"), age);
			if (r < 0) {
				log_warn(
				    "ha: host %s is lost but no other host of its cluster can read "
				    "its heartbeat on pool %s: its HA VMs wait",
				    jstr(host, "name"), jstr(pool, "name"));
			} else if (age_ms < kumod_cfg.ha_deadline_ms &&
			           mono_ms() - last_fresh_log > 30000) {
				last_fresh_log = mono_ms();
				log_warn("ha: host %s is silent but its heartbeat on pool %s is "
				         "%lld ms old "
				         "(read by %s): it still runs, its VMs stay",
				         jstr(host, "name"), jstr(pool, "name"), (long long)age_ms,
				         checker);
			}
		}
		age_ms = json_integer_value(age);
		if (age_ms < kumod_cfg.ha_deadline_ms)
			continue;
		restart_elsewhere(jstr(vm, "id"), host_id);
	}
	json_decref(ages);
	json_decref(list);
}

static void *ha_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&stopping)) {
		json_t *hosts = list_eq("hosts", "status", "disconnected", NULL, NULL), *h;
		json_t *silent = host_silent(kumod_cfg.ha_deadline_ms), *id;
		size_t i;

		/* silent for the deadline already, though not yet declared
		 * disconnected (host_timeout_s): as lost for HA */
		json_array_foreach(silent, i, id)
		{
			if (store_get("hosts", json_string_value(id), NULL, false, &h) == 0)
				json_array_append_new(hosts, h);
		}
		json_decref(silent);
		if (json_array_size(hosts) > 0) {
			json_t *by_host = ha_vms_by_host();

			json_array_foreach(hosts, i, h)
			{
				const json_t *vms = json_object_get(by_host, jstr(h, "id"));

				if (atomic_load(&stopping))
					break;
				if (json_array_size(vms) > 0)
					check_host(h, vms);
			}
			json_decref(by_host);
		}
		json_decref(hosts);
		store_release();
		for (int k = 0; k < 10 && !atomic_load(&stopping); k++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int ha_start(void)
{
	int r = pthread_create(&thread, NULL, ha_main, NULL);

	if (r != 0)
		return -r;
	started = true;
	return 0;
}

void ha_stop(void)
{
	if (!started)
		return;
	atomic_store(&stopping, true);
	pthread_join(thread, NULL);
	started = false;
}

/* --- the job ------------------------------------------------------------- */

static int ha_job_run(json_t *job, struct kerr *e)
{
	json_t *vm = NULL, *payload;
	int r;

	r = store_get("vms", jstr(job, "resource_id"), NULL, false, &vm);
	if (r < 0)
		return kerr_set(e, -ENOENT, "", "the vm no longer exists");
	payload = vm_create_payload(vm);
	r = job_command(job, jstr(vm, "host_id"), "vm.create", payload);
	json_decref(payload);
	json_decref(vm);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

static int ha_job_end(json_t *job, bool ok, const char *code, const char *msg)
{
	json_t *vm = NULL, *host = NULL;
	int r;

	r = store_get("vms", jstr(job, "resource_id"), NULL, false, &vm);
	if (r < 0)
		return job_finish(job, false, "NotFound", "the vm no longer exists", NULL);
	json_object_del(vm, "job_id");
	if (ok && store_get("hosts", jstr(vm, "host_id"), NULL, false, &host) == 0)
		jset_str(vm, "accel", jstr(host, "accel"));
	json_decref(host);
	r = vm_set_state(vm, ok ? VM_RUNNING : VM_ERROR,
	                 ok ? "HA: restarted after its host was lost" : msg);
	if (r == 0) {
		json_t *shown = json_deep_copy(vm);

		vm_strip_internal(shown);
		r = ok ? job_finish(job, true, NULL, NULL, shown)
		       : (json_decref(shown), job_finish(job, false, code, msg, NULL));
	}
	json_decref(vm);
	return r;
}

static int ha_job_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	(void)cmd;
	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", jint(job, "progress", 0)));
	return ha_job_end(job, !strcmp(status, "succeeded"),
	                  error ? jstr(error, "code") : "HostError",
	                  error && jstr(error, "message") ? jstr(error, "message")
	                                                  : "the host reported a failure");
}

static void ha_job_abort(json_t *job, const char *code, const char *message)
{
	ha_job_end(job, false, code, message);
}

const struct job_type job_vm_ha_restart = { "vm.ha_restart", ha_job_run, ha_job_result,
	                                    ha_job_abort };
