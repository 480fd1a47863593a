// SPDX-License-Identifier: MIT
/*
 * Host maintenance: POST /v1/hosts/{id}/actions/maintenance puts the host in
 * state "maintenance" (the scheduler places nothing there: only "enabled"
 * hosts take VMs) and drains it with a host.maintenance job:
 *   - each running VM is live-migrated to another host of its cluster (a
 *     vm.migrate job of its own, the scheduler picks the destination);
 *   - a running VM that cannot be (no host with room, another operation on
 *     it, a migration that failed) is stopped, and the job says why;
 *   - VMs that are not running stay where they are (they use no CPU or
 *     memory) and the job lists them.
 * The job needs no host command of its own: maintenance_tick() (kumod's
 * main loop) follows its children and finishes it when they are all done,
 * with {"vms":[{"vm_id","name","outcome":"migrated|stopped|left",
 * "to_host_id"?,"reason"?}]}. It survives a restart of kumod: the children
 * are jobs in the store, and the tick picks up where it was.
 * POST /v1/hosts/{id}/actions/enable ends maintenance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/jobs.h"
#include "kumod/maintenance.h"
#include "kumod/migrate.h"
#include "kumod/netsync.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static json_t *vms_of(const char *host_id)
{
	struct list_query q;
	json_t *items = NULL;
	int64_t total = 0;

	list_query_init(&q);
	query_add_eq(&q, "host_id", host_id);
	q.limit = 0;
	if (store_list("vms", &q, &items, &total) < 0)
		items = json_array();
	list_query_free(&q);
	return items;
}

/* Stops vm (inside the transaction) and records why in row. */
static void stop_instead(json_t *vm, json_t *row, const char *why)
{
	struct kerr e = { 0 };
	json_t *job = NULL, *p = json_pack("{s:b}", "force", 0);

	jset_str(row, "outcome", "stopped");
	jset_str(row, "reason", why);
	if (vm_begin_action(vm, VMA_STOP, p, &job, &e) == 0) {
		jset_str(row, "job_id", jstr(job, "id"));
	} else {
		jset_str(row, "outcome", "left");
		json_object_set_new(row, "reason",
		                    json_sprintf("%s; cannot stop it either: %s", why, e.message));
	}
	json_decref(job);
	json_decref(p);
}

static int mnt_run(json_t *job, struct kerr *e)
{
	const char *host_id = jstr(job, "resource_id");
	json_t *vms = vms_of(host_id), *vm, *rows = json_array();
	size_t i;
	int r;

	json_array_foreach(vms, i, vm)
	{
		const char *st = jstr(vm, "state");
		json_t *row =
		    json_pack("{s:s,s:s}", "vm_id", jstr(vm, "id"), "name", jstr(vm, "name"));

		if (!strcmp(st, "running")) {
			struct kerr me = { 0 };
			json_t *mj = NULL;

			if (vm_migrate_begin(vm, NULL, NULL, &mj, &me) == 0) {
				jset_str(row, "outcome", "migrating");
				jset_str(row, "job_id", jstr(mj, "id"));
			} else {
				char why[600];

				snprintf(why, sizeof(why), "cannot be migrated: %s", me.message);
				stop_instead(vm, row, why);
			}
			json_decref(mj);
		} else {
			jset_str(row, "outcome", "left");
			json_object_set_new(row, "reason", json_sprintf("not running (%s)", st));
		}
		json_array_append_new(rows, row);
	}
	json_decref(vms);
	json_object_set_new(job, "result", json_pack("{s:o}", "vms", rows));
	r = job_set_running(job, 5);
	if (r < 0)
		return kerr_set(e, r, "", "cannot store the job");
	jobs_notify();
	return 0;
}

/* One pass over a running drain: 1 when it finished. */
static int mnt_step(json_t *job)
{
	json_t *rows = json_object_get(json_object_get(job, "result"), "vms"), *row;
	size_t i, done = 0, n = json_array_size(rows);
	bool changed = false;
	int migrated = 0, stopped = 0, left = 0;

	json_array_foreach(rows, i, row)
	{
		const char *out = jstr(row, "outcome");
		json_t *child = NULL;

		if (!strcmp(out, "migrating") && jstr(row, "job_id") &&
		    job_load(jstr(row, "job_id"), &child) == 0 &&
		    job_state_final(jstr(child, "state"))) {
			if (!strcmp(jstr(child, "state"), "succeeded")) {
				json_t *vm = NULL;

				jset_str(row, "outcome", "migrated");
				if (store_get("vms", jstr(row, "vm_id"), NULL, false, &vm) == 0)
					jset_str(row, "to_host_id", jstr(vm, "host_id"));
				json_decref(vm);
			} else {
				json_t *vm = NULL;
				char why[600];

				snprintf(why, sizeof(why), "its migration failed: %s",
				         jstr(json_object_get(child, "error"), "message")
				             ? jstr(json_object_get(child, "error"), "message")
				             : jstr(child, "state"));
				if (store_get("vms", jstr(row, "vm_id"), NULL, false, &vm) == 0 &&
				    !strcmp(jstr(vm, "host_id") ? jstr(vm, "host_id") : "",
				            jstr(job, "resource_id")) &&
				    !strcmp(jstr(vm, "state"), "running"))
					stop_instead(vm, row, why);
				else {
					jset_str(row, "outcome", "left");
					jset_str(row, "reason", why);
				}
				json_decref(vm);
			}
			changed = true;
		} else if (!strcmp(out, "migrating") && jstr(row, "job_id") && !child) {
			jset_str(row, "outcome", "left");
			jset_str(row, "reason", "its migration job is gone");
			changed = true;
		}
		json_decref(child);
		out = jstr(row, "outcome");
		if (strcmp(out, "migrating") != 0)
			done++;
		migrated += !strcmp(out, "migrated");
		stopped += !strcmp(out, "stopped");
		left += !strcmp(out, "left");
	}
	if (done < n) {
		int progress = 5 + (int)(90 * done / (n ? n : 1));

		if (changed || progress != jint(job, "progress", 0))
			job_set_running(job, progress);
		return 0;
	}
	{
		json_t *res = json_deep_copy(json_object_get(job, "result"));

		jset_int(res, "migrated", migrated);
		jset_int(res, "stopped", stopped);
		jset_int(res, "left", left);
		log_info("host %s drained: %d vm(s) migrated, %d stopped, %d left",
		         jstr(job, "resource_id"), migrated, stopped, left);
		job_finish(job, true, NULL, NULL, res);
	}
	return 1;
}

void maintenance_tick(void)
{
	struct list_query q;
	json_t *items = NULL, *job;
	int64_t total = 0;
	size_t i;

	list_query_init(&q);
	query_add_eq(&q, "state", "running");
	query_add_eq(&q, "type", "host.maintenance");
	q.limit = 100;
	if (store_list("jobs", &q, &items, &total) < 0) {
		list_query_free(&q);
		return;
	}
	list_query_free(&q);
	json_array_foreach(items, i, job)
	{
		if (store_begin() < 0)
			continue;
		mnt_step(job);
		if (store_commit() < 0) {
			store_rollback();
		} else {
			jobs_notify();
			netsync_kick(); /* migrations started by the drain: taps follow */
		}
	}
	json_decref(items);
}

static void mnt_abort(json_t *job, const char *code, const char *message)
{
	job_finish(job, false, code, message, NULL);
}

const struct job_type job_host_maintenance = { "host.maintenance", mnt_run, NULL, mnt_abort };

/* --- the route --------------------------------------------------------- */

void host_maintenance(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *h = NULL, *job = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_host, req, http_param(req, "id"), true, &h, &e);
	if (r == 0) {
		struct list_query q;
		json_t *items = NULL;
		int64_t total = 0;

		/* one drain at a time per host */
		for (int k = 0; k < 2 && r == 0; k++) {
			list_query_init(&q);
			query_add_eq(&q, "resource_id", jstr(h, "id"));
			query_add_eq(&q, "type", "host.maintenance");
			query_add_eq(&q, "state", k ? "running" : "pending");
			q.limit = 1;
			if (store_list("jobs", &q, &items, &total) == 0 &&
			    json_array_size(items) > 0)
				r = kerr_set(&e, -EBUSY, "",
				             "the host is being drained already (job %s)",
				             jstr(json_array_get(items, 0), "id"));
			list_query_free(&q);
			json_decref(items);
			items = NULL;
		}
	}
	if (r == 0) {
		jset_str(h, "state", "maintenance");
		r = store_update("hosts", h, true);
		if (r == 0) {
			json_t *d = json_pack("{s:s}", "state", "maintenance");

			event_emit("host.state", "hosts", jstr(h, "id"), NULL, d);
			json_decref(d);
			job = job_new("host.maintenance", "hosts", jstr(h, "id"), NULL, NULL, NULL);
			r = job_insert(job);
		}
	}
	api_commit_job(req, resp, job, r, &e, "maintenance");
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(h);
	json_decref(job);
}
