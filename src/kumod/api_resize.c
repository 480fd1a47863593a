// SPDX-License-Identifier: MIT
/*
 * Resizes: POST /v1/volumes/{id}/actions/resize (a root or data volume
 * grows, online with QMP block_resize when its VM runs, else with
 * qemu-img) and POST /v1/vms/{id}/actions/resize (new vcpus and memory of
 * a stopped VM, used from its next start). The host's allocations are
 * reserved when the request is accepted and given back if the host fails;
 * the checks are resize.c's. Jobs: volume.resize, vm.resize.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/quota.h"
#include "kumod/resize.h"
#include "kumod/pool.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static const struct field volume_resize_fields[] = {
	{ "size_gb", FT_INT, F_REQUIRED, 1, 65536, NULL, NULL,
	  "the new size; never smaller than now" },
	{ NULL },
};
static const struct schema volume_resize_schema = { "VolumeResize", volume_resize_fields };

static const struct field vm_resize_fields[] = {
	{ "vcpus", FT_INT, 0, 1, 256, NULL, NULL, "default: as now" },
	{ "memory_mb", FT_INT, 0, 64, 4194304, NULL, NULL, "default: as now" },
	{ NULL },
};
static const struct schema vm_resize_schema = { "VmResize", vm_resize_fields };

/* --- jobs ---------------------------------------------------------------- */

static int volume_resize_run(json_t *job, struct kerr *e)
{
	const json_t *p = json_object_get(job, "params");
	json_t *v = NULL, *payload;
	int r;

	if (store_get("volumes", jstr(job, "resource_id"), NULL, false, &v) < 0)
		return kerr_set(e, -ENOENT, "", "the volume no longer exists");
	payload = json_pack("{s:s?,s:{s:s,s:s,s:s?,s:o?},s:I}", "vm_id", jstr(v, "vm_id"), "disk",
	                    "volume_id", jstr(v, "id"), "kind", jstr(v, "kind"), "vm_id",
	                    jstr(v, "vm_id"), "pool", pool_payload(jstr(v, "pool_id")), "size_gb",
	                    (json_int_t)jint(p, "size_gb", 0));
	r = job_command(job, jstr(v, "host_id"), "volume.resize", payload);
	json_decref(payload);
	json_decref(v);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

static int volume_resize_end(json_t *job, bool ok, const json_t *data, const char *code,
                             const char *msg)
{
	const json_t *p = json_object_get(job, "params");
	int64_t gb = jint(p, "size_gb", 0), old = jint(p, "old_gb", 0);
	json_t *v = NULL, *vm = NULL, *result = NULL;
	bool root;
	int r;

	r = store_get("volumes", jstr(job, "resource_id"), NULL, false, &v);
	if (r < 0)
		return job_finish(job, false, "NotFound", "the volume no longer exists", NULL);
	root = !strcmp(jstr(v, "kind"), "root");
	json_object_del(v, "job_id");
	if (ok)
		jset_int(v, "size_gb", gb);
	r = store_update("volumes", v, false);
	if (r == 0 && !ok)
		r = volume_charge(v, old - gb, NULL); /* the reservation goes back */
	if (r == 0 && ok && root && store_get("vms", jstr(v, "vm_id"), NULL, false, &vm) == 0) {
		jset_int(vm, "root_disk_gb", gb);
		r = store_update("vms", vm, false);
	}
	if (r == 0 && ok) {
		json_t *d = json_pack("{s:I,s:I,s:b}", "size_gb", (json_int_t)gb, "previous_gb",
		                      (json_int_t)old, "online", jbool(data, "online", false));

		event_emit("volume.resized", "volumes", jstr(v, "id"), jstr(v, "account_id"), d);
		json_decref(d);
		result = json_deep_copy(v);
		json_object_set_new(result, "online", json_boolean(jbool(data, "online", false)));
	}
	json_decref(vm);
	json_decref(v);
	if (r < 0) {
		json_decref(result);
		return r;
	}
	return job_finish(job, ok, code, msg, result);
}

static int vm_resize_run(json_t *job, struct kerr *e)
{
	const json_t *p = json_object_get(job, "params");
	json_t *vm = NULL, *payload;
	int r;

	if (store_get("vms", jstr(job, "resource_id"), NULL, false, &vm) < 0)
		return kerr_set(e, -ENOENT, "", "the vm no longer exists");
	payload = json_pack("{s:s,s:I,s:I}", "vm_id", jstr(vm, "id"), "vcpus",
	                    (json_int_t)jint(p, "vcpus", 1), "memory_mb",
	                    (json_int_t)jint(p, "memory_mb", 256));
	r = job_command(job, jstr(vm, "host_id"), "vm.resize", payload);
	json_decref(payload);
	json_decref(vm);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

static int vm_resize_end(json_t *job, bool ok, const json_t *data, const char *code,
                         const char *msg)
{
	const json_t *p = json_object_get(job, "params");
	int64_t dv = jint(p, "vcpus", 0) - jint(p, "old_vcpus", 0);
	int64_t dm = jint(p, "memory_mb", 0) - jint(p, "old_memory_mb", 0);
	json_t *vm = NULL, *result = NULL;
	int r;

	(void)data;
	r = store_get("vms", jstr(job, "resource_id"), NULL, false, &vm);
	if (r < 0)
		return job_finish(job, false, "NotFound", "the vm no longer exists", NULL);
	if (ok) {
		jset_int(vm, "vcpus", jint(p, "vcpus", 0));
		jset_int(vm, "memory_mb", jint(p, "memory_mb", 0));
		json_object_set_new(vm, "instance_offering_id", json_null());
		r = store_update("vms", vm, false);
		if (r == 0) {
			json_t *d = json_pack("{s:I,s:I}", "vcpus", (json_int_t)jint(p, "vcpus", 0),
			                      "memory_mb", (json_int_t)jint(p, "memory_mb", 0));

			event_emit("vm.resized", "vms", jstr(vm, "id"), jstr(vm, "account_id"), d);
			json_decref(d);
			result = json_deep_copy(vm);
			vm_strip_internal(result);
		}
	} else {
		r = host_adjust(jstr(vm, "host_id"), -dv, -dm, 0, 0);
	}
	json_decref(vm);
	if (r < 0) {
		json_decref(result);
		return r;
	}
	return job_finish(job, ok, code, msg, result);
}

static int resize_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	bool vol = !strcmp(jstr(job, "type"), "volume.resize");
	bool ok = !strcmp(status, "succeeded");
	const char *code = error ? jstr(error, "code") : "HostError";
	const char *msg = error && jstr(error, "message") ? jstr(error, "message")
	                                                  : "the host reported a failure";

	(void)cmd;
	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", 0));
	return vol ? volume_resize_end(job, ok, data, code, msg)
	           : vm_resize_end(job, ok, data, code, msg);
}

static void resize_abort(json_t *job, const char *code, const char *message)
{
	if (!strcmp(jstr(job, "type"), "volume.resize"))
		volume_resize_end(job, false, NULL, code, message);
	else
		vm_resize_end(job, false, NULL, code, message);
}

const struct job_type job_volume_resize = { "volume.resize", volume_resize_run, resize_result,
	                                    resize_abort };
const struct job_type job_vm_resize = { "vm.resize", vm_resize_run, resize_result, resize_abort };

/* --- handlers ------------------------------------------------------------ */

static int host_room(const char *host_id, int64_t dv, int64_t dm, struct kerr *e)
{
	json_t *h = NULL;
	int r;

	if (!host_id)
		return 0;
	if (store_get("hosts", host_id, NULL, false, &h) < 0)
		return kerr_set(e, -EBUSY, "", "the host is gone");
	r = resize_host_fits(h, dv, dm, 0, &kumod_cfg.sched, e);
	if (r == 0)
		r = host_adjust(host_id, dv, dm, 0, 0);
	json_decref(h);
	return r;
}

/* The account's quota for dvcpus more vCPUs and dmem_mb more memory
 * (quota_check counts whole new VMs). */
static int quota_growth(const char *account_id, int64_t dvcpus, int64_t dmem_mb, struct kerr *e)
{
	static const char *const names[] = { "vcpus", "memory_mb" };
	const int64_t add[] = { dvcpus, dmem_mb };
	json_t *quota = NULL, *used;
	int r = 0;

	if (store_get("quotas", account_id, NULL, false, &quota) < 0)
		return 0; /* no quota record: unlimited */
	used = quota_usage(account_id);
	for (int i = 0; i < 2 && r == 0; i++) {
		int64_t limit = jint(quota, names[i], -1), u = jint(used, names[i], 0);

		if (add[i] > 0 && limit >= 0 && u + add[i] > limit)
			r = kerr_set(
			    e, -EDQUOT, names[i],
			    "quota %s exceeded: limit %lld, in use %lld, requested %lld more",
			    names[i], (long long)limit, (long long)u, (long long)add[i]);
	}
	json_decref(used);
	json_decref(quota);
	return r;
}

static void reply(struct http_request *req, struct http_response *resp, json_t *job, int r,
                  struct kerr *e)
{
	if (api_commit_job(req, resp, job, r, e, "request") < 0)
		http_reply_kerr(resp, e);
}

static void volume_resize(struct http_request *req, struct http_response *resp)
{
	int64_t gb = jint(req->body, "size_gb", 0), old = 0;
	struct kerr e = { 0 };
	json_t *v = NULL, *vm = NULL, *job = NULL, *p;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_volume, req, http_param(req, "id"), true, &v, &e);
	if (r == 0) {
		old = jint(v, "size_gb", 0);
		r = resize_volume_check(old, gb, &e);
	}
	if (r == 0 && jstr(v, "job_id"))
		r = kerr_set(&e, -EBUSY, "", "volume %s has an operation in progress",
		             jstr(v, "name"));
	if (r == 0 && jstr(v, "vm_id")) {
		r = api_load(&kind_vm, req, jstr(v, "vm_id"), true, &vm, &e);
		if (r == 0 && strcmp(jstr(vm, "state"), "running") &&
		    strcmp(jstr(vm, "state"), "stopped") && strcmp(jstr(vm, "state"), "paused"))
			r = kerr_set(&e, -EBUSY, "",
			             "vm %s is %s: try again when it is running or "
			             "stopped",
			             jstr(vm, "name"), jstr(vm, "state"));
	}
	if (r == 0)
		r = volume_charge(v, gb - old, &e); /* where the volume is counted */
	if (r == 0 && !jstr(v, "host_id")) {
		/* on no host yet: its file is made at the new size */
		jset_int(v, "size_gb", gb);
		r = store_update("volumes", v, true);
		if (r == 0)
			r = store_commit();
		else
			store_rollback();
		if (r < 0)
			http_reply_error(resp, r, "", "cannot store the volume");
		else
			http_reply_json(resp, 200, api_present(&kind_volume, v));
		goto out;
	}
	if (r == 0) {
		p = json_pack("{s:I,s:I}", "size_gb", (json_int_t)gb, "old_gb", (json_int_t)old);
		job = job_new("volume.resize", "volumes", jstr(v, "id"), jstr(v, "account_id"), p,
		              NULL);
		json_decref(p);
		r = job_insert(job);
		if (r == 0) {
			jset_str(v, "job_id", jstr(job, "id"));
			r = store_update("volumes", v, false);
		}
	}
	reply(req, resp, job, r, &e);
	kerr_clear(&e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(v);
	json_decref(vm);
	json_decref(job);
}

static void vm_resize(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *vm = NULL, *job = NULL, *p;
	int64_t vcpus = 0, mem = 0, ov = 0, om = 0;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	if (!json_object_get(req->body, "vcpus") && !json_object_get(req->body, "memory_mb")) {
		kerr_set(&e, -EINVAL, "vcpus", "give vcpus, memory_mb or both");
		goto out;
	}
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), true, &vm, &e);
	if (r == 0 && strcmp(jstr(vm, "state"), "stopped") != 0)
		r = kerr_set(&e, -EBUSY, "",
		             "vm %s is %s: vcpus and memory change only while it is stopped",
		             jstr(vm, "name"), jstr(vm, "state"));
	if (r == 0) {
		ov = jint(vm, "vcpus", 1);
		om = jint(vm, "memory_mb", 256);
		vcpus = jint(req->body, "vcpus", ov);
		mem = jint(req->body, "memory_mb", om);
		r = quota_growth(jstr(vm, "account_id"), vcpus - ov, mem - om, &e);
	}
	if (r == 0)
		r = host_room(jstr(vm, "host_id"), vcpus - ov, mem - om, &e);
	if (r == 0) {
		p = json_pack("{s:I,s:I,s:I,s:I}", "vcpus", (json_int_t)vcpus, "memory_mb",
		              (json_int_t)mem, "old_vcpus", (json_int_t)ov, "old_memory_mb",
		              (json_int_t)om);
		job = job_new("vm.resize", "vms", jstr(vm, "id"), jstr(vm, "account_id"), p, NULL);
		json_decref(p);
		r = job_insert(job);
	}
	reply(req, resp, job, r, &e);
	kerr_clear(&e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(vm);
	json_decref(job);
}

const struct route api_resize_routes[] = {
	{ "POST", "/v1/volumes/{id}/actions/resize", volume_resize, ROLE_MEMBER,
	  &volume_resize_schema, HTTP_JOB,
	  "Grow a root or data volume (online when its VM runs); 200 for a volume on no host yet",
	  0, "volumes" },
	{ "POST", "/v1/vms/{id}/actions/resize", vm_resize, ROLE_MEMBER, &vm_resize_schema,
	  HTTP_JOB, "New vcpus and memory_mb of a stopped VM, from its next start", 0, "vms" },
	{ NULL },
};
