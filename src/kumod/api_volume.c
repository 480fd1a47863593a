// SPDX-License-Identifier: MIT
/*
 * /v1/volumes: root volumes (made with their VM) and data volumes, which
 * are created, attached to a VM, detached and deleted. A data volume lives
 * on the host of the VM it was first attached to (local storage); host work
 * runs as jobs (volume.attach, volume.detach, volume.delete).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/jobs.h"
#include "kumod/pool.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static const char *const kinds[] = { "root", "data", NULL };
static const char *const states[] = {
	"creating", "available", "in_use", "deleting", "error", NULL
};

static const struct field volume_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "size_gb", FT_INT, F_REQUIRED | F_FILTER, 1, 65536, NULL, NULL, NULL },
	{ "vm_id", FT_UUID, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "host_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "pool_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "its storage pool; null until a volume made without one is first attached: "
	  "then the local pool of its vm's cluster" },
	{ "kind", FT_STRING, F_READONLY | F_FILTER, 0, 0, kinds, NULL, NULL },
	{ "format", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, states, NULL, NULL },
	{ "job_id", FT_UUID, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "pci_slot", FT_INT, F_READONLY, 0, 0, NULL, NULL,
	  "an attached data volume's slot on its VM's PCI bus (the same after restarts and "
	  "migrations)" },
	{ "source_volume_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "a clone's data volume: the volume it was copied from" },
	{ "source_snapshot_id", FT_UUID, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "a clone's data volume: the snapshot of that volume it was copied from" },
	{ NULL },
};
static const struct schema volume_schema = { "Volume", volume_fields };

static const struct field volume_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "size_gb", FT_INT, F_REQUIRED, 1, 65536, NULL, NULL, NULL },
	{ "vm_id", FT_UUID, 0, 0, 0, NULL, NULL, "attach to this VM at once" },
	{ "pool_id", FT_UUID, 0, 0, 0, NULL, NULL,
	  "its pool (shared or local); default: the local pool of the "
	  "cluster of the vm it is first attached to" },
	{ NULL },
};
static const struct schema volume_create_schema = { "VolumeCreate", volume_create_fields };

static const struct field volume_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema volume_update_schema = { "VolumeUpdate", volume_update_fields };

static const struct field attach_fields[] = {
	{ "vm_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema volume_attach_schema = { "VolumeAttach", attach_fields };
static const struct field no_fields[] = { { NULL } };
static const struct schema volume_action_schema = { "VolumeAction", no_fields };

const struct kind kind_volume = {
	.name = "volumes",
	.singular = "volume",
	.schema = &volume_schema,
	.create = &volume_create_schema,
	.update = &volume_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
};

/* --- jobs ---------------------------------------------------------------- */

/* A data volume's place on its VM's PCI bus, kept while it is attached:
 * the guest sees it at the same address after a restart or a migration
 * (QEMU's own choice would depend on the order devices came in). The
 * lowest of VOL_SLOT_FIRST..VOL_SLOT_LAST no other volume of the vm
 * holds; stored on the volume. */
static int pci_slot_take(const char *vm_id, json_t *v)
{
	json_t *vm = NULL, *id;
	bool used[VOL_SLOT_LAST + 1] = { false };
	size_t i;
	int r, slot;

	if (!vm_id || store_get("vms", vm_id, NULL, false, &vm) < 0)
		return -ENOENT;
	json_array_foreach(json_object_get(vm, "volumes"), i, id)
	{
		json_t *o = NULL;
		int64_t s;

		if (!strcmp(json_string_value(id), jstr(v, "id")) ||
		    store_get("volumes", json_string_value(id), NULL, false, &o) < 0)
			continue;
		s = jint(o, "pci_slot", 0);
		if (s >= VOL_SLOT_FIRST && s <= VOL_SLOT_LAST)
			used[s] = true;
		json_decref(o);
	}
	json_decref(vm);
	for (slot = VOL_SLOT_FIRST; slot <= VOL_SLOT_LAST && used[slot]; slot++)
		;
	if (slot > VOL_SLOT_LAST)
		return -ENOSPC;
	jset_int(v, "pci_slot", slot);
	r = store_update("volumes", v, false);
	return r < 0 ? r : 0;
}

static int vol_job_run(json_t *job, struct kerr *e)
{
	const json_t *p = json_object_get(job, "params");
	json_t *v = NULL, *payload;
	int r;

	r = store_get("volumes", jstr(job, "resource_id"), NULL, false, &v);
	if (r < 0)
		return kerr_set(e, -ENOENT, "", "the volume no longer exists");
	if (!strcmp(jstr(job, "type"), "volume.attach") && !jint(v, "pci_slot", 0)) {
		r = pci_slot_take(jstr(p, "vm_id"), v);
		if (r < 0) {
			json_decref(v);
			return kerr_set(e, r, "", "the vm has no free PCI slot for a volume");
		}
	}
	{
		json_t *pool = pool_payload(jstr(v, "pool_id"));

		if (pool)
			json_object_set_new(v, "pool", pool);
	}
	payload = json_pack("{s:s,s:O,s:s?}", "volume_id", jstr(v, "id"), "volume", v, "vm_id",
	                    jstr(p, "vm_id"));
	r = job_command(job, jstr(p, "host_id"), jstr(job, "type"), payload);
	json_decref(payload);
	json_decref(v);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

static void vm_volumes_edit(const char *vm_id, const char *vol_id, bool add)
{
	json_t *vm = NULL, *list, *it;
	size_t i;

	if (!vm_id || store_get("vms", vm_id, NULL, false, &vm) < 0)
		return;
	list = json_object_get(vm, "volumes");
	if (!list) {
		list = json_array();
		json_object_set_new(vm, "volumes", list);
	}
	json_array_foreach(list, i, it)
	{
		if (!strcmp(json_string_value(it), vol_id)) {
			json_array_remove(list, i);
			break;
		}
	}
	if (add)
		json_array_append_new(list, json_string(vol_id));
	store_update("vms", vm, false);
	json_decref(vm);
}

/* The space of volume id's snapshots (snapshot records hold the volume's
 * size when taken), or -errno. */
static int64_t snapshots_gb(const char *id)
{
	struct list_query q;
	json_t *items = NULL, *s;
	int64_t total = 0, gb = 0;
	size_t i;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "volume_id", id);
	q.limit = 0;
	r = store_list("snapshots", &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return r;
	json_array_foreach(items, i, s)
	{
		gb += jint(s, "size_gb", 0);
	}
	json_decref(items);
	return gb;
}

/* What data volume v takes when it is attached to vm: a volume on no pool
 * takes the local pool of the vm's cluster, counted there with its
 * snapshots (and on the host it is on already, if any); a volume of a
 * local pool on no host yet takes the vm's host, counted on its disk.
 * -ENOSPC with e when the pool or the host lacks the room (v is then
 * half changed: the caller rolls back). *ret says what was taken, for
 * attach_unplace; NULL when nothing was. */
static int attach_place(json_t *v, const json_t *vm, json_t **ret, struct kerr *e)
{
	bool pool_taken = false, host_taken = false;
	unsigned where = 0;
	int64_t gb;
	int r;

	*ret = NULL;
	gb = jint(v, "size_gb", 0);
	if (!jstr(v, "pool_id")) {
		json_t *pool = NULL;
		int64_t snaps = snapshots_gb(jstr(v, "id")); /* only one from before */

		if (snaps < 0)
			return kerr_set(e, (int)snaps, "", "cannot read the volume's snapshots");
		gb += snaps;
		r = pool_local_ensure(jstr(vm, "cluster_id"), &pool);
		if (r < 0)
			return kerr_set(e, r, "", "cannot find the local pool of the vm's cluster");
		jset_str(v, "pool_id", jstr(pool, "id"));
		json_decref(pool);
		pool_taken = true;
		where = VC_POOL | VC_HOST;
	}
	if (!pool_is_shared(jstr(v, "pool_id")) && !jstr(v, "host_id")) {
		jset_str(v, "host_id", jstr(vm, "host_id"));
		host_taken = true;
		where |= VC_HOST;
	}
	r = where ? volume_charge_in(v, gb, where, e) : 0;
	if (r < 0)
		return r; /* the caller's transaction goes, v with it */
	if (where)
		*ret = json_pack("{s:I,s:i,s:b,s:b}", "gb", (json_int_t)gb, "where", (int)where,
		                 "pool", pool_taken, "host", host_taken);
	return 0;
}

/* Gives back what attach_place took (placed, from the job's params). */
static void attach_unplace(json_t *v, const json_t *placed)
{
	if (!json_is_object(placed))
		return;
	volume_charge_in(v, -jint(placed, "gb", 0), (unsigned)jint(placed, "where", 0), NULL);
	if (jbool(placed, "pool", false))
		json_object_set_new(v, "pool_id", json_null());
	if (jbool(placed, "host", false))
		json_object_set_new(v, "host_id", json_null());
}

static int vol_job_end(json_t *job, bool ok, const char *code, const char *msg)
{
	const json_t *p = json_object_get(job, "params");
	const char *type = jstr(job, "type");
	json_t *v = NULL;
	int r;

	r = store_get("volumes", jstr(job, "resource_id"), NULL, false, &v);
	if (r < 0)
		return job_finish(job, false, "NotFound", "the volume no longer exists", NULL);
	json_object_del(v, "job_id");
	if (!strcmp(type, "volume.delete")) {
		if (ok) {
			volume_charge(v, -jint(v, "size_gb", 0), NULL);
			snapshot_forget_volume(jstr(v, "id"));
			store_delete("volumes", jstr(v, "id"));
			event_emit("volume.deleted", "volumes", jstr(v, "id"),
			           jstr(v, "account_id"), NULL);
			json_decref(v);
			return job_finish(job, true, NULL, NULL,
			                  json_pack("{s:s,s:s}", "id", jstr(job, "resource_id"),
			                            "state", "deleted"));
		}
		jset_str(v, "state", "available");
	} else if (!strcmp(type, "volume.attach")) {
		if (ok) {
			jset_str(v, "vm_id", jstr(p, "vm_id"));
			jset_str(v, "host_id", jstr(p, "host_id"));
			jset_str(v, "state", "in_use");
			vm_volumes_edit(jstr(p, "vm_id"), jstr(v, "id"), true);
		} else {
			attach_unplace(v, json_object_get(p, "placed"));
			jset_str(v, "state", "available");
			json_object_del(v, "pci_slot");
		}
	} else if (!strcmp(type, "volume.detach")) {
		if (ok) {
			vm_volumes_edit(jstr(v, "vm_id"), jstr(v, "id"), false);
			json_object_set_new(v, "vm_id", json_null());
			json_object_del(v, "pci_slot");
			jset_str(v, "state", "available");
		}
	}
	r = store_update("volumes", v, false);
	if (r == 0) {
		json_t *d = json_pack("{s:s}", "state", jstr(v, "state"));

		event_emit("volume.state", "volumes", jstr(v, "id"), jstr(v, "account_id"), d);
		json_decref(d);
		r = job_finish(job, ok, code, msg, ok ? json_deep_copy(v) : NULL);
	}
	json_decref(v);
	return r;
}

static int vol_job_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                          const json_t *error)
{
	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", 0));
	return vol_job_end(job, !strcmp(status, "succeeded"),
	                   error ? jstr(error, "code") : "HostError",
	                   error && jstr(error, "message") ? jstr(error, "message")
	                                                   : "the host reported a failure");
}

static void vol_job_abort(json_t *job, const char *code, const char *message)
{
	vol_job_end(job, false, code, message);
}

const struct job_type job_volume_attach = { "volume.attach", vol_job_run, vol_job_result,
	                                    vol_job_abort };
const struct job_type job_volume_detach = { "volume.detach", vol_job_run, vol_job_result,
	                                    vol_job_abort };
const struct job_type job_volume_delete = { "volume.delete", vol_job_run, vol_job_result,
	                                    vol_job_abort };

/* --- handlers ------------------------------------------------------------ */

/* Starts a job on a volume inside the caller's transaction; vm is the vm
 * of an attach (its host and pool are taken first: attach_place). */
static int vol_begin(struct http_request *req, json_t *v, const char *type, const json_t *vm,
                     const char *host_id, json_t **ret_job, struct kerr *e)
{
	const char *vm_id = vm ? jstr(vm, "id") : jstr(v, "vm_id");
	json_t *p, *job, *placed = NULL;
	int r;

	if (jstr(v, "job_id"))
		return kerr_set(e, -EBUSY, "", "another operation on this volume is in progress");
	if (!strcmp(type, "volume.attach") && (r = attach_place(v, vm, &placed, e)) < 0)
		return r;
	p = json_pack("{s:s?,s:s?,s:o?}", "vm_id", vm_id, "host_id", host_id, "placed", placed);
	job = job_new(type, "volumes", jstr(v, "id"), jstr(v, "account_id"), p, NULL);
	json_decref(p);
	r = job_insert(job);
	if (r == 0) {
		jset_str(v, "job_id", jstr(job, "id"));
		if (!strcmp(type, "volume.delete"))
			jset_str(v, "state", "deleting");
		r = store_update("volumes", v, false);
	}
	if (r < 0) {
		json_decref(job);
		return kerr_set(e, r, "", "cannot store the job");
	}
	*ret_job = job;
	return 0;
}

static int attach_check(struct http_request *req, json_t *v, const char *vm_id, json_t **ret_vm,
                        struct kerr *e)
{
	json_t *vm = NULL;
	const char *st;
	int r;

	r = api_ref(&kind_vm, req, vm_id, "vm_id", &vm, e);
	if (r < 0)
		return r;
	st = jstr(vm, "state");
	if (strcmp(st, "running") && strcmp(st, "stopped") && strcmp(st, "paused")) {
		json_decref(vm);
		return kerr_set(e, -EBUSY, "vm_id", "cannot attach to a vm in state %s", st);
	}
	if (strcmp(jstr(vm, "account_id"), jstr(v, "account_id")) != 0) {
		json_decref(vm);
		return kerr_set(e, -EINVAL, "vm_id",
		                "the vm and the volume are in different accounts");
	}
	if (jstr(v, "pool_id")) {
		json_t *pool = NULL;
		bool same =
		    store_get("storage-pools", jstr(v, "pool_id"), NULL, false, &pool) == 0 &&
		    jstr(vm, "cluster_id") &&
		    !strcmp(jstr(pool, "cluster_id"), jstr(vm, "cluster_id"));
		bool shared = pool && !strcmp(jstr(pool, "type"), "shared");

		json_decref(pool);
		if (!same) {
			json_decref(vm);
			return kerr_set(e, -EBUSY, "vm_id",
			                shared ? "the volume's shared pool is not mounted in the "
			                         "vm's cluster"
			                       : "the volume's local pool is of another cluster "
			                         "than the vm's");
		}
	}
	if (!pool_is_shared(jstr(v, "pool_id")) && jstr(v, "host_id") &&
	    strcmp(jstr(v, "host_id"), jstr(vm, "host_id")) != 0) {
		json_decref(vm);
		return kerr_set(e, -EBUSY, "vm_id",
		                "the volume is stored on another host than the vm's");
	}
	if (json_array_size(json_object_get(vm, "volumes")) >= 16) {
		json_decref(vm);
		return kerr_set(e, -EBUSY, "vm_id", "the vm has 16 volumes already");
	}
	*ret_vm = vm;
	return 0;
}

static void finish(struct http_request *req, struct http_response *resp, json_t *job, int r,
                   struct kerr *e)
{
	if (api_commit_job(req, resp, job, r, e, "volume") < 0)
		http_reply_kerr(resp, e);
}

static void volume_create(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	const char *vm_id = jstr(req->body, "vm_id");
	json_t *v, *vm = NULL, *job = NULL;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (api_idem_replay(req, resp))
		return;
	v = api_new_doc(&kind_volume, req, req->body);
	json_object_del(v, "vm_id");
	json_object_set_new(v, "vm_id", json_null());
	json_object_set_new(v, "host_id", json_null());
	jset_str(v, "kind", "data");
	jset_str(v, "format", "qcow2");
	jset_str(v, "state", "available");
	json_object_set_new(v, "pool_id", json_null());
	r = store_begin();
	if (r < 0) {
		json_decref(v);
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	if (jstr(req->body, "pool_id")) {
		json_t *pool = NULL;

		/* counted on the pool now, on a host when first attached */
		r = pool_resolve(req, jstr(req->body, "pool_id"), "pool_id", &pool, &e);
		if (r == 0) {
			jset_str(v, "pool_id", jstr(pool, "id"));
			r = volume_charge(v, jint(v, "size_gb", 0), &e);
		}
		json_decref(pool);
	}
	if (r == 0 && vm_id)
		r = attach_check(req, v, vm_id, &vm, &e);
	if (r == 0) {
		r = store_insert("volumes", v, true);
		if (r == -EEXIST)
			kerr_set(&e, r, "name", "a volume named \"%s\" already exists",
			         jstr(v, "name"));
		else if (r < 0)
			kerr_set(&e, r, "", "cannot store the volume");
	}
	if (r == 0)
		event_emit("volume.created", "volumes", jstr(v, "id"), jstr(v, "account_id"), NULL);
	if (r == 0 && !vm_id) {
		api_reply_created(req, resp, "volumes", api_present(&kind_volume, v));
		json_decref(v);
		return;
	}
	if (r == 0)
		r = vol_begin(req, v, "volume.attach", vm, jstr(vm, "host_id"), &job, &e);
	finish(req, resp, job, r, &e);
	json_decref(v);
	json_decref(vm);
	json_decref(job);
}

static void volume_act(struct http_request *req, struct http_response *resp, const char *type)
{
	struct kerr e = { 0 };
	json_t *v = NULL, *vm = NULL, *job = NULL;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (api_idem_replay(req, resp))
		return;
	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = api_load(&kind_volume, req, http_param(req, "id"), true, &v, &e);
	if (r == 0 && !strcmp(jstr(v, "kind"), "root"))
		r = kerr_set(&e, -EBUSY, "", "a root volume goes with its vm");
	if (r == 0 && !strcmp(type, "volume.attach")) {
		if (jstr(v, "vm_id"))
			r = kerr_set(&e, -EBUSY, "", "the volume is attached already");
		if (r == 0)
			r = attach_check(req, v, jstr(req->body, "vm_id"), &vm, &e);
		if (r == 0)
			r = vol_begin(req, v, type, vm, jstr(vm, "host_id"), &job, &e);
	} else if (r == 0 && !strcmp(type, "volume.detach")) {
		if (!jstr(v, "vm_id"))
			r = kerr_set(&e, -EBUSY, "", "the volume is not attached");
		if (r == 0)
			r = vol_begin(req, v, type, NULL, jstr(v, "host_id"), &job, &e);
	} else if (r == 0) { /* delete */
		if (jstr(v, "vm_id"))
			r = kerr_set(&e, -EBUSY, "", "the volume is attached; detach it first");
		else if (!jstr(v, "host_id")) {
			/* never on a host: nothing to remove but the record */
			r = volume_charge(v, -jint(v, "size_gb", 0), NULL);
			if (r == 0)
				r = store_delete("volumes", jstr(v, "id"));
			if (r == 0)
				event_emit("volume.deleted", "volumes", jstr(v, "id"),
				           jstr(v, "account_id"), NULL);
			if (r == 0)
				r = store_commit();
			if (r < 0) {
				store_rollback();
				http_reply_error(resp, r, "", "cannot delete the volume");
			} else {
				http_reply_json(resp, 204, NULL);
			}
			json_decref(v);
			return;
		} else {
			r = vol_begin(req, v, type, NULL, jstr(v, "host_id"), &job, &e);
		}
	}
	finish(req, resp, job, r, &e);
	json_decref(v);
	json_decref(vm);
	json_decref(job);
}

static void volume_attach(struct http_request *req, struct http_response *resp)
{
	volume_act(req, resp, "volume.attach");
}

static void volume_detach(struct http_request *req, struct http_response *resp)
{
	volume_act(req, resp, "volume.detach");
}

static void volume_delete(struct http_request *req, struct http_response *resp)
{
	volume_act(req, resp, "volume.delete");
}

static void volume_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_volume, req, resp);
}

static void volume_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_volume, req, resp);
}

static void volume_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_volume, req, resp);
}

const struct route api_volume_routes[] = {
	{ "GET", "/v1/volumes", volume_list, ROLE_VIEWER, NULL, HTTP_LIST, "List volumes", 0,
	  "volumes" },
	{ "POST", "/v1/volumes", volume_create, ROLE_MEMBER, &volume_create_schema, HTTP_JOB,
	  "Create a data volume (201), or create and attach it (202 + job)", 0, "volumes" },
	{ "GET", "/v1/volumes/{id}", volume_get, ROLE_VIEWER, NULL, 0, "Get a volume", 0,
	  "volumes" },
	{ "PATCH", "/v1/volumes/{id}", volume_update, ROLE_MEMBER, &volume_update_schema, 0,
	  "Rename a volume", 0, "volumes" },
	{ "DELETE", "/v1/volumes/{id}", volume_delete, ROLE_MEMBER, NULL, HTTP_JOB,
	  "Delete a detached data volume", 0, "volumes" },
	{ "POST", "/v1/volumes/{id}/actions/attach", volume_attach, ROLE_MEMBER,
	  &volume_attach_schema, HTTP_JOB, "Attach to a VM (hot on running VMs)", 0, "volumes" },
	{ "POST", "/v1/volumes/{id}/actions/detach", volume_detach, ROLE_MEMBER,
	  &volume_action_schema, HTTP_JOB, "Detach from its VM", 0, "volumes" },
	{ NULL },
};
