// SPDX-License-Identifier: MIT
/*
 * VMs as kumod sees them: state changes through the one transition table,
 * the resources a VM holds and their release, and the job types that carry
 * VM operations to hosts and apply the hosts' answers. Nothing here speaks
 * HTTP; api_vm.c does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/netsync.h"
#include "kumod/pool.h"
#include "kumod/store.h"
#include "kumod/vm.h"

int vm_set_state(json_t *vm, enum vm_state s, const char *reason)
{
	/* a copy: jset_str below frees the string jstr() points into */
	char *old = jstr(vm, "state") ? xstrdup(jstr(vm, "state")) : NULL;
	bool changed = !old || strcmp(old, vm_state_name(s)) != 0;
	int r;

	jset_str(vm, "state", vm_state_name(s));
	jset_str(vm, "state_reason", reason);
	r = store_update("vms", vm, false);
	if (r < 0 || !changed) {
		free(old);
		return r;
	}
	{
		json_t *d = json_pack("{s:s,s:s?,s:s?}", "state", vm_state_name(s), "previous", old,
		                      "reason", reason);

		event_emit("vm.state", "vms", jstr(vm, "id"), jstr(vm, "account_id"), d);
		json_decref(d);
	}
	free(old);
	return 0;
}

const char *const vm_hidden_keys[] = { "released", "state_before_lost", NULL };

void vm_strip_internal(json_t *vm)
{
	for (int i = 0; vm_hidden_keys[i]; i++)
		json_object_del(vm, vm_hidden_keys[i]);
}

int vm_release(json_t *vm)
{
	int r;

	if (jbool(vm, "released", false))
		return 0;
	r = store_ip_release_owner(jstr(vm, "id"));
	if (r < 0)
		return r;
	if (json_array_size(json_object_get(vm, "nics")) > 0)
		netsync_kick(); /* its hosts' networks lose its NICs */
	{
		/* the addresses may go to other VMs now: stop showing them here */
		json_t *nic;
		size_t i;

		json_array_foreach(json_object_get(vm, "nics"), i, nic)
		    json_object_set_new(nic, "ip", json_null());
	}
	r = host_adjust(jstr(vm, "host_id"), -jint(vm, "vcpus", 0), -jint(vm, "memory_mb", 0),
	                pool_is_shared(jstr(vm, "pool_id")) ? 0 : -jint(vm, "root_disk_gb", 0), -1);
	if (r == 0)
		r = pool_adjust(jstr(vm, "pool_id"), -jint(vm, "root_disk_gb", 0));
	if (r < 0)
		return r;
	jset_bool(vm, "released", true);
	return 0;
}

/* A removed VM's EIPs stay (detached) and its port forwardings go. */
static int vm_unlink_net(const char *vm_id)
{
	static const char *const kinds[] = { "eips", "port-forwardings" };
	int r = 0;

	for (size_t k = 0; k < 2 && r == 0; k++) {
		struct list_query q;
		json_t *items = NULL, *it;
		int64_t total;
		size_t i;

		list_query_init(&q);
		query_add_eq(&q, "vm_id", vm_id);
		q.limit = 0;
		r = store_list(kinds[k], &q, &items, &total);
		list_query_free(&q);
		if (r < 0)
			return r;
		json_array_foreach(items, i, it)
		{
			if (k == 0) {
				json_object_set_new(it, "nic_id", json_null());
				json_object_set_new(it, "vm_id", json_null());
				json_object_set_new(it, "private_ip", json_null());
				r = store_update("eips", it, false);
			} else {
				r = store_delete("port-forwardings", jstr(it, "id"));
			}
			if (r < 0)
				break;
		}
		json_decref(items);
	}
	return r;
}

int vm_remove(json_t *vm)
{
	struct list_query q;
	json_t *vols = NULL, *v;
	int64_t total;
	size_t i;
	int r;

	r = vm_release(vm);
	if (r < 0)
		return r;
	list_query_init(&q);
	query_add_eq(&q, "vm_id", jstr(vm, "id"));
	q.limit = 0; /* all */
	r = store_list("volumes", &q, &vols, &total);
	list_query_free(&q);
	if (r < 0)
		return r;
	json_array_foreach(vols, i, v)
	{
		if (jstr(v, "kind") && !strcmp(jstr(v, "kind"), "root")) {
			snapshot_forget_volume(jstr(v, "id"));
			store_delete("volumes", jstr(v, "id"));
			event_emit("volume.deleted", "volumes", jstr(v, "id"),
			           jstr(v, "account_id"), NULL);
		} else {
			json_object_set_new(v, "vm_id", json_null());
			json_object_del(v, "pci_slot");
			jset_str(v, "state", "available");
			store_update("volumes", v, false);
		}
	}
	json_decref(vols);
	r = vm_unlink_net(jstr(vm, "id"));
	if (r < 0)
		return r;
	r = store_delete("vms", jstr(vm, "id"));
	if (r < 0)
		return r;
	{
		json_t *d = json_pack("{s:s}", "state", "destroyed");

		event_emit("vm.state", "vms", jstr(vm, "id"), jstr(vm, "account_id"), d);
		json_decref(d);
	}
	return 0;
}

static const char *const action_types[VMA_MAX] = {
	[VMA_CREATE] = "vm.create",   [VMA_START] = "vm.start",     [VMA_STOP] = "vm.stop",
	[VMA_REBOOT] = "vm.reboot",   [VMA_PAUSE] = "vm.pause",     [VMA_RESUME] = "vm.resume",
	[VMA_DESTROY] = "vm.destroy", [VMA_FORCE_STOP] = "vm.stop",
};

int vm_begin_action(json_t *vm, enum vm_action a, const json_t *params, json_t **ret_job,
                    struct kerr *e)
{
	int from = vm_state_parse(jstr(vm, "state"));
	enum vm_state via;
	const char *msg = NULL;
	json_t *p, *job;
	int r;

	if (from < 0)
		return kerr_set(e, -EIO, "", "vm %s has an unknown state", jstr(vm, "id"));
	r = vm_transition((enum vm_state)from, a, &via, &msg);
	if (r < 0)
		return kerr_set(e, r, "", "%s", msg ? msg : "not allowed in this state");
	p = params ? json_deep_copy(params) : json_object();
	jset_str(p, "action", vm_action_name(a));
	jset_str(p, "from", vm_state_name((enum vm_state)from));
	job = job_new(action_types[a], "vms", jstr(vm, "id"), jstr(vm, "account_id"), p, NULL);
	json_decref(p);
	r = job_insert(job);
	if (r < 0) {
		json_decref(job);
		return kerr_set(e, r, "", "cannot store the job");
	}
	jset_str(vm, "job_id", jstr(job, "id"));
	r = vm_set_state(vm, via, NULL);
	if (r < 0) {
		json_decref(job);
		return kerr_set(e, r, "", "cannot store the vm");
	}
	*ret_job = job;
	return 0;
}

static int load_vm(json_t *job, json_t **ret)
{
	return store_get("vms", jstr(job, "resource_id"), NULL, false, ret);
}

json_t *vm_create_payload(json_t *vm)
{
	return vm_payload_for(vm, jstr(vm, "host_id"));
}

json_t *vm_payload_for(json_t *vm, const char *host_id)
{
	json_t *p = json_pack("{s:o}", "vm", json_deep_copy(vm)), *vols = json_array(), *img = NULL;
	json_t *ids = json_object_get(vm, "volumes"), *id;
	size_t i;

	json_array_foreach(ids, i, id)
	{
		json_t *v = NULL;

		if (store_get("volumes", json_string_value(id), NULL, false, &v) == 0) {
			json_t *pool = pool_payload(jstr(v, "pool_id"));

			if (pool)
				json_object_set_new(v, "pool", pool);
			json_array_append_new(vols, v);
		}
	}
	json_object_set_new(p, "volumes", vols);
	{
		json_t *pool = pool_payload(jstr(vm, "pool_id"));

		if (pool) /* p holds vm: its spec for the agent */
			json_object_set_new(json_object_get(p, "vm"), "pool", pool);
	}
	if (store_get("images", jstr(vm, "image_id"), NULL, false, &img) == 0)
		json_object_set_new(p, "image", img);
	if (json_array_size(json_object_get(vm, "nics")) > 0) {
		/* its taps must exist before it starts: the host's network
		 * comes with it; other hosts learn of it (DNS, peers) soon */
		json_t *spec = NULL;

		if (netsync_spec(host_id, &spec) == 0)
			json_object_set_new(p, "net", spec);
		netsync_kick();
	}
	return p;
}

static int vm_job_run(json_t *job, struct kerr *e)
{
	const char *action = jstr(json_object_get(job, "params"), "action");
	int a = vm_action_parse(action ? action : "create");
	json_t *vm = NULL, *payload;
	int r;

	r = load_vm(job, &vm);
	if (r < 0)
		return kerr_set(e, -ENOENT, "", "the vm no longer exists");
	if (!jstr(vm, "host_id")) {
		/* Never placed on a host (its create failed): nothing to ask a host. */
		if (a == VMA_DESTROY) {
			r = vm_remove(vm);
			if (r == 0)
				r = job_finish(job, true, NULL, NULL,
				               json_pack("{s:s,s:s}", "id", jstr(vm, "id"), "state",
				                         "destroyed"));
		} else {
			r = kerr_set(e, -EBUSY, "", "the vm is on no host");
		}
		json_decref(vm);
		return r;
	}
	if (a == VMA_CREATE) {
		payload = vm_create_payload(vm);
	} else {
		payload = json_pack("{s:s,s:b}", "vm_id", jstr(vm, "id"), "force",
		                    jbool(json_object_get(job, "params"), "force", false));
	}
	r = job_command(job, jstr(vm, "host_id"), action_types[a], payload);
	json_decref(payload);
	json_decref(vm);
	if (r < 0)
		return kerr_set(e, r, "", "cannot queue the command");
	return 0;
}

/* Applies the end of an action to the vm, success or not. */
static int vm_job_end(json_t *job, json_t *vm, bool ok, const char *code, const char *msg)
{
	json_t *params = json_object_get(job, "params");
	int a = vm_action_parse(jstr(params, "action") ? jstr(params, "action") : "create");
	int from = vm_state_parse(jstr(params, "from") ? jstr(params, "from") : "creating");
	enum vm_state to;
	int r;

	if (a < 0)
		a = VMA_CREATE;
	if (from < 0)
		from = VM_CREATING;
	if (a == VMA_DESTROY && ok) {
		r = vm_remove(vm);
		if (r < 0)
			return r;
		return job_finish(
		    job, true, NULL, NULL,
		    json_pack("{s:s,s:s}", "id", jstr(vm, "id"), "state", "destroyed"));
	}
	to = vm_transition_done((enum vm_state)from, (enum vm_action)a, ok);
	if (a == VMA_CREATE && !ok) {
		r = vm_release(vm);
		if (r < 0)
			return r;
		json_object_set_new(vm, "host_id", json_null());
	}
	json_object_del(vm, "job_id");
	if ((a == VMA_CREATE || a == VMA_START) && ok) {
		/* how it runs (kvm, tcg, sim): its host's acceleration; the
		 * CPU its QEMU got (a live migration keeps to it) */
		json_t *host = NULL;

		if (jstr(vm, "host_id") &&
		    store_get("hosts", jstr(vm, "host_id"), NULL, false, &host) == 0) {
			if (a == VMA_CREATE)
				jset_str(vm, "accel", jstr(host, "accel"));
			if (jstr(host, "cpu_model"))
				jset_str(vm, "cpu_model", jstr(host, "cpu_model"));
		}
		json_decref(host);
	}
	r = vm_set_state(vm, to, ok ? NULL : msg);
	if (r < 0)
		return r;
	if (a == VMA_CREATE) {
		json_t *ids = json_object_get(vm, "volumes"), *id;
		size_t i;

		json_array_foreach(ids, i, id)
		{
			json_t *v = NULL;

			if (store_get("volumes", json_string_value(id), NULL, false, &v) == 0) {
				jset_str(v, "state", ok ? "in_use" : "error");
				store_update("volumes", v, false);
				json_decref(v);
			}
		}
	}
	if (!ok)
		log_info("vm %s: %s failed: %s", jstr(vm, "id"), vm_action_name(a), msg);
	if (ok) {
		json_t *shown = json_deep_copy(vm);

		vm_strip_internal(shown);
		return job_finish(job, true, code, msg, shown);
	}
	return job_finish(job, false, code, msg, NULL);
}

static int vm_job_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	json_t *vm = NULL;
	int r;

	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", jint(job, "progress", 0)));
	r = load_vm(job, &vm);
	if (r < 0)
		return job_finish(job, false, "NotFound", "the vm no longer exists", NULL);
	r = vm_job_end(job, vm, !strcmp(status, "succeeded"),
	               error ? jstr(error, "code") : "HostError",
	               error && jstr(error, "message") ? jstr(error, "message")
	                                               : "the host reported a failure");
	json_decref(vm);
	return r;
}

static void vm_job_abort(json_t *job, const char *code, const char *message)
{
	json_t *vm = NULL;

	if (load_vm(job, &vm) < 0)
		return;
	vm_job_end(job, vm, false, code, message);
	json_decref(vm);
}

const struct job_type job_vm_create = { "vm.create", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_start = { "vm.start", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_stop = { "vm.stop", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_reboot = { "vm.reboot", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_pause = { "vm.pause", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_resume = { "vm.resume", vm_job_run, vm_job_result, vm_job_abort };
const struct job_type job_vm_destroy = { "vm.destroy", vm_job_run, vm_job_result, vm_job_abort };
/* A batch create's parent: its children do the work. */
const struct job_type job_vm_batch = { "vm.create_batch", NULL, NULL, NULL };

int vm_recover(void)
{
	static const char *const transitional[] = { "creating",  "starting", "stopping",
		                                    "rebooting", "pausing",  "migrating",
		                                    "destroying" };
	int fixed = 0;

	/* Every VM in a transitional state has a job that will move it on.
	 * One whose job is gone or already final was cut off by something this
	 * code did not foresee: give it a clear state rather than leave it
	 * hanging. */
	for (size_t k = 0; k < sizeof(transitional) / sizeof(transitional[0]); k++) {
		struct list_query q;
		json_t *items = NULL, *vm;
		int64_t total = 0;
		size_t i;

		list_query_init(&q);
		query_add_eq(&q, "state", transitional[k]);
		q.limit = 0; /* all */
		if (store_list("vms", &q, &items, &total) < 0) {
			list_query_free(&q);
			return -EIO;
		}
		list_query_free(&q);
		json_array_foreach(items, i, vm)
		{
			json_t *job = NULL;
			bool stuck = !jstr(vm, "job_id") ||
			             store_get("jobs", jstr(vm, "job_id"), NULL, false, &job) < 0 ||
			             job_state_final(jstr(job, "state"));

			json_decref(job);
			if (!stuck)
				continue;
			if (store_begin() < 0)
				continue;
			json_object_del(vm, "job_id");
			if (vm_set_state(vm, VM_ERROR, "interrupted: its operation was lost") < 0 ||
			    store_commit() < 0)
				store_rollback();
			else
				fixed++;
		}
		json_decref(items);
	}
	if (fixed)
		log_warn("%d VMs were left in a transitional state without an operation; "
		         "they are in error now",
		         fixed);
	return 0;
}
