// SPDX-License-Identifier: MIT
/*
 * /v1/snapshots: qcow2 internal snapshots of a volume, or of a whole VM (all
 * its volumes at one instant, also while it runs: one snapshot record per
 * volume sharing a group_id, the root volume's record being the group's id).
 * Create, delete and revert are jobs (snapshot.create, snapshot.delete,
 * snapshot.revert) carried out by the host that stores the volumes. A
 * snapshot that a linked clone uses (its root disk is an overlay on it) is
 * not deleted. Clones and resizes are in api_clone.c and api_resize.c.
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
#include "kumod/pool.h"
#include "kumod/resize.h"
#include "kumod/store.h"
#include "kumod/vm.h"

#define SNAP_GROUP_MAX 17 /* a root disk and 16 data volumes */

static const char *const snap_states[] = { "creating",  "ready", "deleting",
	                                   "reverting", "error", NULL };
static const char *const volume_kinds[] = { "root", "data", NULL };

static const struct field snapshot_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "volume_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, "the volume it is of" },
	{ "volume_kind", FT_STRING, F_READONLY | F_FILTER, 0, 0, volume_kinds, NULL, NULL },
	{ "vm_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "the VM whose snapshot it is part of (or its volume's VM)" },
	{ "group_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "a VM snapshot: the records taken together share it (the root's id)" },
	{ "host_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "size_gb", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL,
	  "the volume's size when taken" },
	{ "online", FT_BOOL, F_READONLY, 0, 0, NULL, NULL, "taken while the VM ran (QMP)" },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, snap_states, NULL, NULL },
	{ "job_id", FT_UUID, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema snapshot_schema = { "Snapshot", snapshot_fields };

static const struct field snapshot_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "volume_id", FT_UUID, 0, 0, 0, NULL, NULL, "a snapshot of this volume, or" },
	{ "vm_id", FT_UUID, 0, 0, 0, NULL, NULL, "of all the volumes of this VM at one instant" },
	{ NULL },
};
static const struct schema snapshot_create_schema = { "SnapshotCreate", snapshot_create_fields };

static const struct field snapshot_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema snapshot_update_schema = { "SnapshotUpdate", snapshot_update_fields };
static const struct field no_fields[] = { { NULL } };
static const struct schema snapshot_action_schema = { "SnapshotAction", no_fields };

const struct kind kind_snapshot = {
	.name = "snapshots",
	.singular = "snapshot",
	.schema = &snapshot_schema,
	.create = &snapshot_create_schema,
	.update = &snapshot_update_schema,
	.scope = SCOPE_ACCOUNT,
};

/* --- helpers ----------------------------------------------------------- */

int snapshot_group_load(const json_t *snap, json_t **ret)
{
	struct list_query q;
	json_t *items = NULL;
	int64_t total = 0;
	int r;

	if (!jstr(snap, "group_id")) {
		*ret = json_pack("[O]", snap);
		return 0;
	}
	list_query_init(&q);
	query_add_eq(&q, "group_id", jstr(snap, "group_id"));
	q.limit = SNAP_GROUP_MAX;
	r = store_list("snapshots", &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return r;
	*ret = items;
	return 0;
}

static json_t *ids_of(const json_t *docs)
{
	json_t *ids = json_array(), *d;
	size_t i;

	json_array_foreach(docs, i, d) json_array_append_new(ids, json_string(jstr(d, "id")));
	return ids;
}

/* What a snapshot holds: its volume's size when taken, the most its
 * copy-on-write clusters can grow to, counted where the volume itself is
 * (its pool for a root disk or a shared volume; the host too for a root
 * disk on a local pool). sign +1 takes it, with room checked when e is
 * given (-ENOSPC); -1 gives it back. */
static int snapshot_charge(const json_t *s, int sign, struct kerr *e)
{
	json_t *v = NULL;
	int64_t gb = jint(s, "size_gb", 0);
	int r;

	if (gb <= 0 || store_get("volumes", jstr(s, "volume_id"), NULL, false, &v) < 0)
		return 0; /* a volume gone took its snapshots' space with it */
	r = volume_charge(v, sign * gb, sign > 0 ? e : NULL);
	json_decref(v);
	return r;
}

void snapshot_forget_volume(const char *volume_id)
{
	struct list_query q;
	json_t *items = NULL, *it;
	int64_t total;
	size_t i;

	list_query_init(&q);
	query_add_eq(&q, "volume_id", volume_id);
	q.limit = 0;
	if (store_list("snapshots", &q, &items, &total) == 0) {
		json_array_foreach(items, i, it)
		{
			snapshot_charge(it, -1, NULL);
			store_delete("snapshots", jstr(it, "id"));
			event_emit("snapshot.deleted", "snapshots", jstr(it, "id"),
			           jstr(it, "account_id"), NULL);
		}
	}
	list_query_free(&q);
	json_decref(items);
}

/* -EBUSY naming the linked clones that use any of the snapshots. */
static int check_dependants(const json_t *docs, struct kerr *e)
{
	char names[512] = "";
	size_t len = 0, i, k;
	int64_t n = 0;
	json_t *d;

	json_array_foreach(docs, i, d)
	{
		struct list_query q;
		json_t *vms = NULL, *vm;
		int64_t total = 0;
		int r;

		list_query_init(&q);
		query_add_eq(&q, "source_snapshot_id", jstr(d, "id"));
		q.limit = 50;
		r = store_list("vms", &q, &vms, &total);
		list_query_free(&q);
		if (r < 0)
			return kerr_set(e, r, "", "cannot look for linked clones");
		json_array_foreach(vms, k, vm)
		{
			if (!jbool(vm, "linked_clone", false))
				continue;
			n++;
			if (len < sizeof(names) - 100)
				len += (size_t)snprintf(names + len, sizeof(names) - len,
				                        "%s%s (%s)", n > 1 ? ", " : "",
				                        jstr(vm, "name"), jstr(vm, "id"));
		}
		json_decref(vms);
	}
	if (n > 0)
		return kerr_set(e, -EBUSY, "",
		                "the snapshot has %lld linked clone%s that depend on it: %s; "
		                "destroy them first",
		                (long long)n, n > 1 ? "s" : "", names);
	return 0;
}

int snapshot_check_vm_destroy(const json_t *vm, struct kerr *e)
{
	struct list_query q;
	json_t *snaps = NULL;
	int64_t total = 0;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "vm_id", jstr(vm, "id"));
	q.limit = SNAP_GROUP_MAX * 8;
	r = store_list("snapshots", &q, &snaps, &total);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot look for the vm's snapshots");
	r = check_dependants(snaps, e);
	json_decref(snaps);
	return r;
}

int snapshot_check_vm_migrate(const json_t *vm, bool shared, struct kerr *e)
{
	const json_t *id;
	int64_t n = 0;
	size_t i;
	int r;

	if (jbool(vm, "linked_clone", false))
		return kerr_set(
		    e, -EBUSY, "",
		    "vm %s is a linked clone: its root disk is an overlay on a snapshot "
		    "export that stays on its host; make a full clone to move it",
		    jstr(vm, "name"));
	r = snapshot_check_vm_destroy(vm, e);
	if (r < 0 || shared)
		return r;
	json_array_foreach(json_object_get(vm, "volumes"), i, id)
	{
		struct list_query q;
		json_t *snaps = NULL;
		int64_t total = 0;

		list_query_init(&q);
		query_add_eq(&q, "volume_id", json_string_value(id));
		q.limit = 1;
		r = store_list("snapshots", &q, &snaps, &total);
		list_query_free(&q);
		json_decref(snaps);
		if (r < 0)
			return kerr_set(e, r, "", "cannot look for the vm's snapshots");
		n += total;
	}
	if (n > 0)
		return kerr_set(e, -EBUSY, "",
		                "vm %s has %lld snapshot%s, which a migration on local storage "
		                "does not carry (they live inside its disk files on this host): "
		                "delete them first",
		                jstr(vm, "name"), (long long)n, n > 1 ? "s" : "");
	return 0;
}

/* The VM a volume belongs to must be in a state where its disks hold
 * still (running, paused or stopped; for a revert: stopped). */
static int vm_check(struct http_request *req, const char *vm_id, bool need_stopped, json_t **ret,
                    struct kerr *e)
{
	json_t *vm = NULL;
	const char *st;
	int r;

	r = api_load(&kind_vm, req, vm_id, true, &vm, e);
	if (r < 0)
		return r;
	st = jstr(vm, "state");
	if (need_stopped && strcmp(st, "stopped") != 0)
		r = kerr_set(e, -EBUSY, "", "vm %s is %s: stop it before reverting a snapshot",
		             jstr(vm, "name"), st);
	else if (strcmp(st, "running") && strcmp(st, "stopped") && strcmp(st, "paused"))
		r = kerr_set(e, -EBUSY, "", "vm %s is %s: try again when it is running or stopped",
		             jstr(vm, "name"), st);
	if (r < 0 || !ret)
		json_decref(vm);
	else
		*ret = vm;
	return r;
}

/* --- jobs ---------------------------------------------------------------- */

/* The disks of the job's snapshots, for the host. */
static int snap_job_run(json_t *job, struct kerr *e)
{
	const json_t *p = json_object_get(job, "params"), *id;
	json_t *disks = json_array(), *payload;
	const char *vm_id = NULL;
	char vm_buf[UUID_LEN + 1] = "";
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(p, "ids"), i, id)
	{
		json_t *s = NULL, *v = NULL;

		if (store_get("snapshots", json_string_value(id), NULL, false, &s) < 0 ||
		    store_get("volumes", jstr(s, "volume_id"), NULL, false, &v) < 0) {
			json_decref(s);
			r = kerr_set(e, -ENOENT, "", "a snapshot or its volume no longer exists");
			break;
		}
		if (jstr(v, "vm_id") && !vm_id) {
			snprintf(vm_buf, sizeof(vm_buf), "%s", jstr(v, "vm_id"));
			vm_id = vm_buf;
		}
		json_array_append_new(
		    disks, json_pack("{s:s,s:s,s:s?,s:s,s:o?}", "volume_id", jstr(v, "id"), "kind",
		                     jstr(v, "kind"), "vm_id", jstr(v, "vm_id"), "snapshot",
		                     jstr(s, "id"), "pool", pool_payload(jstr(v, "pool_id"))));
		json_decref(s);
		json_decref(v);
	}
	if (r < 0) {
		json_decref(disks);
		return r;
	}
	payload = json_pack("{s:s?,s:o}", "vm_id", vm_id, "disks", disks);
	r = job_command(job, jstr(p, "host_id"), jstr(job, "type"), payload);
	json_decref(payload);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

/* A revert brings the volume back to its size when the snapshot was taken. */
static void revert_size(const json_t *s)
{
	json_t *v = NULL, *vm = NULL;
	int64_t old;

	if (store_get("volumes", jstr(s, "volume_id"), NULL, false, &v) < 0)
		return;
	old = jint(v, "size_gb", 0);
	if (jint(s, "size_gb", 0) > 0 && old != jint(s, "size_gb", 0)) {
		jset_int(v, "size_gb", jint(s, "size_gb", 0));
		store_update("volumes", v, false);
		volume_charge(v, jint(s, "size_gb", 0) - old, NULL);
		if (!strcmp(jstr(v, "kind"), "root") &&
		    store_get("vms", jstr(v, "vm_id"), NULL, false, &vm) == 0) {
			jset_int(vm, "root_disk_gb", jint(s, "size_gb", 0));
			store_update("vms", vm, false);
		}
	}
	json_decref(vm);
	json_decref(v);
}

static int snap_job_end(json_t *job, bool ok, const json_t *data, const char *code, const char *msg)
{
	const char *type = jstr(job, "type");
	const json_t *id;
	json_t *result = NULL;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(json_object_get(job, "params"), "ids"), i, id)
	{
		json_t *s = NULL;

		if (store_get("snapshots", json_string_value(id), NULL, false, &s) < 0)
			continue;
		json_object_del(s, "job_id");
		if ((!strcmp(type, "snapshot.create") && !ok) ||
		    (!strcmp(type, "snapshot.delete") && ok)) {
			/* nothing half-made stays: a failed create leaves no record */
			r = snapshot_charge(s, -1, NULL);
			if (r == 0)
				r = store_delete("snapshots", jstr(s, "id"));
			event_emit("snapshot.deleted", "snapshots", jstr(s, "id"),
			           jstr(s, "account_id"), NULL);
		} else {
			jset_str(s, "state", "ready");
			if (!strcmp(type, "snapshot.create"))
				jset_bool(s, "online", jbool(data, "online", false));
			if (!strcmp(type, "snapshot.revert") && ok)
				revert_size(s);
			r = store_update("snapshots", s, false);
			if (ok)
				event_emit(!strcmp(type, "snapshot.create") ? "snapshot.created"
				                                            : "snapshot.reverted",
				           "snapshots", jstr(s, "id"), jstr(s, "account_id"), NULL);
			if (i == 0 && ok)
				result = json_deep_copy(s);
		}
		json_decref(s);
		if (r < 0)
			break;
	}
	if (r < 0) {
		json_decref(result);
		return r;
	}
	if (ok && !result)
		result = json_pack("{s:s,s:s}", "id", jstr(job, "resource_id"), "state", "deleted");
	if (ok && json_array_size(json_object_get(json_object_get(job, "params"), "ids")) > 1)
		json_object_set(result, "snapshot_ids",
		                json_object_get(json_object_get(job, "params"), "ids"));
	return job_finish(job, ok, code, msg, ok ? result : NULL);
}

static int snap_job_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                           const json_t *error)
{
	(void)cmd;
	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", 0));
	return snap_job_end(job, !strcmp(status, "succeeded"), data,
	                    error ? jstr(error, "code") : "HostError",
	                    error && jstr(error, "message") ? jstr(error, "message")
	                                                    : "the host reported a failure");
}

static void snap_job_abort(json_t *job, const char *code, const char *message)
{
	snap_job_end(job, false, NULL, code, message);
}

const struct job_type job_snapshot_create = { "snapshot.create", snap_job_run, snap_job_result,
	                                      snap_job_abort };
const struct job_type job_snapshot_delete = { "snapshot.delete", snap_job_run, snap_job_result,
	                                      snap_job_abort };
const struct job_type job_snapshot_revert = { "snapshot.revert", snap_job_run, snap_job_result,
	                                      snap_job_abort };

/* A job over docs (all stored with its id and the given state). */
static int begin(const char *type, json_t *docs, const char *host_id, const char *state,
                 bool insert, json_t **ret_job, struct kerr *e)
{
	json_t *first = json_array_get(docs, 0), *p, *job, *d;
	size_t i;
	int r;

	p = json_pack("{s:o,s:s}", "ids", ids_of(docs), "host_id", host_id);
	job = job_new(type, "snapshots", jstr(first, "id"), jstr(first, "account_id"), p, NULL);
	json_decref(p);
	r = job_insert(job);
	json_array_foreach(docs, i, d)
	{
		if (r < 0)
			break;
		jset_str(d, "job_id", jstr(job, "id"));
		jset_str(d, "state", state);
		r = insert ? store_insert("snapshots", d, false)
		           : store_update("snapshots", d, false);
	}
	if (r < 0) {
		json_decref(job);
		return kerr_set(e, r, "", "cannot store the snapshot");
	}
	*ret_job = job;
	return 0;
}

static void finish(struct http_request *req, struct http_response *resp, json_t *job, int r,
                   struct kerr *e)
{
	if (api_commit_job(req, resp, job, r, e, "snapshot") < 0)
		http_reply_kerr(resp, e);
}

/* --- handlers ------------------------------------------------------------ */

static json_t *new_snap(struct http_request *req, const json_t *v, const char *vm_id)
{
	json_t *s = api_new_doc(&kind_snapshot, req, NULL);

	jset_str(s, "account_id", jstr(v, "account_id"));
	jset_str(s, "name", jstr(req->body, "name"));
	jset_str(s, "volume_id", jstr(v, "id"));
	jset_str(s, "volume_kind", jstr(v, "kind"));
	json_object_set_new(s, "vm_id", vm_id ? json_string(vm_id) : json_null());
	json_object_set_new(s, "group_id", json_null());
	jset_str(s, "host_id", jstr(v, "host_id"));
	jset_int(s, "size_gb", jint(v, "size_gb", 0));
	jset_bool(s, "online", false);
	return s;
}

static void snapshot_create(struct http_request *req, struct http_response *resp)
{
	const char *vol_id = jstr(req->body, "volume_id"), *vm_id = jstr(req->body, "vm_id");
	struct kerr e = { 0 };
	json_t *docs = json_array(), *vm = NULL, *v = NULL, *job = NULL;
	const char *host_id = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	if (!vol_id == !vm_id) {
		kerr_set(&e, -EINVAL, vol_id ? "vm_id" : "volume_id",
		         "give either volume_id or vm_id");
		goto out;
	}
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	if (vm_id) {
		const json_t *id;
		size_t i;

		r = vm_check(req, vm_id, false, &vm, &e);
		host_id = jstr(vm, "host_id");
		json_array_foreach(json_object_get(vm, "volumes"), i, id)
		{
			json_t *vol = NULL, *s;

			if (r < 0)
				break;
			r = store_get("volumes", json_string_value(id), NULL, false, &vol);
			if (r < 0) {
				kerr_set(&e, r, "", "cannot read volume %s", json_string_value(id));
				break;
			}
			if (jstr(vol, "job_id"))
				r = kerr_set(&e, -EBUSY, "",
				             "volume %s has an operation in progress; try again",
				             jstr(vol, "name"));
			s = new_snap(req, vol, vm_id);
			json_decref(vol);
			json_object_set(
			    s, "group_id",
			    json_object_get(i == 0 ? s : json_array_get(docs, 0), "id"));
			json_array_append_new(docs, s);
		}
		if (r == 0 && json_array_size(docs) == 0)
			r = kerr_set(&e, -EBUSY, "", "vm %s has no volumes", jstr(vm, "name"));
	} else {
		r = api_load(&kind_volume, req, vol_id, true, &v, &e);
		if (r == 0 && !jstr(v, "host_id"))
			r = kerr_set(&e, -EBUSY, "volume_id",
			             "volume %s was never attached: it holds no data yet",
			             jstr(v, "name"));
		if (r == 0 && jstr(v, "job_id"))
			r = kerr_set(&e, -EBUSY, "volume_id",
			             "volume %s has an operation in progress; try again",
			             jstr(v, "name"));
		if (r == 0 && jstr(v, "vm_id"))
			r = vm_check(req, jstr(v, "vm_id"), false, NULL, &e);
		if (r == 0) {
			host_id = jstr(v, "host_id");
			json_array_append_new(docs, new_snap(req, v, jstr(v, "vm_id")));
		}
	}
	if (r == 0 && !host_id)
		r = kerr_set(&e, -EBUSY, "", "the vm is on no host");
	{
		json_t *d;
		size_t i;

		json_array_foreach(docs, i, d)
		{
			if (r < 0)
				break;
			r = snapshot_charge(d, +1, &e);
		}
	}
	if (r == 0)
		r = begin("snapshot.create", docs, host_id, "creating", true, &job, &e);
	if (r == 0)
		event_emit("snapshot.creating", "snapshots", jstr(job, "resource_id"),
		           jstr(job, "account_id"), NULL);
	finish(req, resp, job, r, &e);
	kerr_clear(&e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(docs);
	json_decref(vm);
	json_decref(v);
	json_decref(job);
}

/* Delete and revert: the whole group, checked. */
static void snapshot_act(struct http_request *req, struct http_response *resp, const char *type)
{
	bool revert = !strcmp(type, "snapshot.revert");
	struct kerr e = { 0 };
	json_t *s = NULL, *docs = NULL, *job = NULL, *d;
	size_t i;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_snapshot, req, http_param(req, "id"), true, &s, &e);
	if (r == 0)
		r = snapshot_group_load(s, &docs);
	json_array_foreach(docs, i, d)
	{
		json_t *v = NULL;

		if (r < 0)
			break;
		if (jstr(d, "job_id") || strcmp(jstr(d, "state"), "ready") != 0) {
			r = kerr_set(&e, -EBUSY, "", "snapshot %s is %s", jstr(d, "name"),
			             jstr(d, "state"));
			break;
		}
		if (store_get("volumes", jstr(d, "volume_id"), NULL, false, &v) < 0)
			continue; /* its volume is gone: nothing on a host to touch */
		if (jstr(v, "job_id"))
			r = kerr_set(&e, -EBUSY, "", "volume %s has an operation in progress",
			             jstr(v, "name"));
		if (r == 0 && jstr(v, "vm_id"))
			r = vm_check(req, jstr(v, "vm_id"), revert, NULL, &e);
		json_decref(v);
	}
	if (r == 0 && !revert)
		r = check_dependants(docs, &e);
	if (r == 0)
		r = begin(type, docs, jstr(s, "host_id"), revert ? "reverting" : "deleting", false,
		          &job, &e);
	finish(req, resp, job, r, &e);
	kerr_clear(&e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(s);
	json_decref(docs);
	json_decref(job);
}

static void snapshot_delete(struct http_request *req, struct http_response *resp)
{
	snapshot_act(req, resp, "snapshot.delete");
}

static void snapshot_revert(struct http_request *req, struct http_response *resp)
{
	snapshot_act(req, resp, "snapshot.revert");
}

static void snapshot_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_snapshot, req, resp);
}

static void snapshot_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_snapshot, req, resp);
}

static void snapshot_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_snapshot, req, resp);
}

const struct route api_snapshot_routes[] = {
	{ "GET", "/v1/snapshots", snapshot_list, ROLE_VIEWER, NULL, HTTP_LIST, "List snapshots", 0,
	  "snapshots" },
	{ "POST", "/v1/snapshots", snapshot_create, ROLE_MEMBER, &snapshot_create_schema, HTTP_JOB,
	  "Snapshot a volume, or all the volumes of a VM at one instant (202 + job)", 0,
	  "snapshots" },
	{ "GET", "/v1/snapshots/{id}", snapshot_get, ROLE_VIEWER, NULL, 0, "Get a snapshot", 0,
	  "snapshots" },
	{ "PATCH", "/v1/snapshots/{id}", snapshot_update, ROLE_MEMBER, &snapshot_update_schema, 0,
	  "Rename a snapshot", 0, "snapshots" },
	{ "DELETE", "/v1/snapshots/{id}", snapshot_delete, ROLE_MEMBER, NULL, HTTP_JOB,
	  "Delete a snapshot (a VM snapshot: all its records); 409 while linked clones use it", 0,
	  "snapshots" },
	{ "POST", "/v1/snapshots/{id}/actions/revert", snapshot_revert, ROLE_MEMBER,
	  &snapshot_action_schema, HTTP_JOB,
	  "Bring the volume (a VM snapshot: all the VM's volumes) back to the snapshot; the VM "
	  "must be stopped",
	  0, "snapshots" },
	{ NULL },
};
