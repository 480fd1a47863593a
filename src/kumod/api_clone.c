// SPDX-License-Identifier: MIT
/*
 * POST /v1/vms/{id}/actions/clone: a new VM made from another one's root
 * disk, on the same host (local storage), through the ordinary create path
 * (api_vm.c: quota, capacity, IPAM, so it gets new NIC addresses on the
 * source's L3 networks). Its root disk is a full copy of the source's (of a
 * snapshot of it, or of its disk now: a running source gets a temporary
 * internal snapshot for the copy), or, linked, an overlay
 * on a flattened export of a snapshot, which then cannot be deleted while
 * the clone lives. Its data volumes are cloned too, always as full
 * copies: of the source's attached data volumes now, or of the data
 * volumes a VM snapshot holds (a root volume's own snapshot holds none).
 * The host's side is the vm.create command with source_vm_id,
 * source_snapshot_id, linked_clone in the VM's spec and source_volume_id,
 * source_snapshot_id in each cloned volume's record (agent/qemu_disk.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/pool.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static const struct field vm_clone_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, "the new VM's name" },
	{ "snapshot_id", FT_UUID, 0, 0, 0, NULL, NULL,
	  "a snapshot of the source (its root volume's, or a VM snapshot); default: its disk "
	  "now" },
	{ "linked", FT_BOOL, 0, 0, 0, NULL, NULL,
	  "an overlay on the snapshot instead of a full copy (needs snapshot_id)" },
	{ NULL },
};
static const struct schema vm_clone_schema = { "VmClone", vm_clone_fields };

/* The root volume's record of snapshot id (or of its group), of vm. */
static int root_snapshot(struct http_request *req, const json_t *vm, const char *id, json_t **ret,
                         struct kerr *e)
{
	json_t *s = NULL;
	int r;

	r = api_ref(&kind_snapshot, req, id, "snapshot_id", &s, e);
	if (r < 0)
		return r;
	if (strcmp(jstr(s, "volume_kind"), "root") != 0 && jstr(s, "group_id")) {
		json_t *g = NULL;

		/* a VM snapshot named by a data volume's record: its root's */
		r = store_get("snapshots", jstr(s, "group_id"), NULL, false, &g);
		json_decref(s);
		s = r == 0 ? g : NULL;
		if (r < 0)
			return kerr_set(e, -EINVAL, "snapshot_id", "the snapshot's group is gone");
	}
	if (strcmp(jstr(s, "volume_kind"), "root") != 0 || !jstr(s, "vm_id") ||
	    strcmp(jstr(s, "vm_id"), jstr(vm, "id")) != 0)
		r = kerr_set(e, -EINVAL, "snapshot_id", "snapshot %s is not of vm %s's root volume",
		             jstr(s, "name"), jstr(vm, "name"));
	else if (strcmp(jstr(s, "state"), "ready") != 0)
		r = kerr_set(e, -EBUSY, "snapshot_id", "snapshot %s is %s", jstr(s, "name"),
		             jstr(s, "state"));
	if (r < 0) {
		json_decref(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Appends to list the clone of data volume vol_id: of its snapshot s, or
 * (NULL) of its content now. It must be on the source vm's host; a root
 * volume is skipped (the clone's own root is made apart). */
static int clone_volume(const json_t *vm, const char *vol_id, const json_t *s, json_t *list,
                        struct kerr *e)
{
	json_t *v = NULL;
	int r = 0;

	if (store_get("volumes", vol_id, NULL, false, &v) < 0)
		return kerr_set(e, -ENOENT, "", "volume %s is gone", vol_id);
	if (strcmp(jstr(v, "kind"), "data") != 0)
		r = 0;
	else if (!jstr(v, "host_id") || strcmp(jstr(v, "host_id"), jstr(vm, "host_id")))
		r = kerr_set(e, -EBUSY, "", "volume %s is not on vm %s's host", jstr(v, "name"),
		             jstr(vm, "name"));
	else if (s && strcmp(jstr(s, "state"), "ready"))
		r = kerr_set(e, -EBUSY, "", "the snapshot of volume %s is %s", jstr(v, "name"),
		             jstr(s, "state"));
	else
		json_array_append_new(list,
		                      json_pack("{s:s,s:s?,s:I,s:s?}", "source_volume_id", vol_id,
		                                "pool_id", jstr(v, "pool_id"), "size_gb",
		                                (json_int_t)jint(s ? s : v, "size_gb", 1),
		                                "source_snapshot_id", s ? jstr(s, "id") : NULL));
	json_decref(v);
	return r;
}

/* The data volumes the clone gets (vm_create_as makes their records): the
 * source's attached ones now, or those the snapshot snap's group holds. */
static int clone_volumes(const json_t *vm, const json_t *snap, json_t **ret, struct kerr *e)
{
	json_t *list = json_array(), *members = NULL, *m;
	size_t i;
	int r = 0;

	if (snap) {
		r = snapshot_group_load(snap, &members);
		if (r < 0)
			r = kerr_set(e, r, "", "cannot read the snapshot's group");
		json_array_foreach(members, i, m)
		{
			if (!strcmp(jstr(m, "volume_kind"), "data") &&
			    (r = clone_volume(vm, jstr(m, "volume_id"), m, list, e)) < 0)
				break;
		}
		json_decref(members);
	} else {
		json_array_foreach(json_object_get(vm, "volumes"), i, m)
		{
			if ((r = clone_volume(vm, json_string_value(m), NULL, list, e)) < 0)
				break;
		}
	}
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

static void vm_clone(struct http_request *req, struct http_response *resp)
{
	const char *snap_id = jstr(req->body, "snapshot_id");
	bool linked = jbool(req->body, "linked", false);
	struct kerr e = { 0 };
	json_t *vm = NULL, *snap = NULL, *body = NULL, *extra = NULL, *vols = NULL, *saved, *l3s,
	       *nic;
	size_t i;
	int r;

	if (linked && !snap_id) {
		kerr_set(&e, -EINVAL, "linked", "a linked clone needs snapshot_id");
		goto out;
	}
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), true, &vm, &e);
	if (r == 0 && snap_id)
		r = root_snapshot(req, vm, snap_id, &snap, &e);
	if (r == 0 && !jstr(vm, "host_id"))
		r = kerr_set(&e, -EBUSY, "", "vm %s is on no host", jstr(vm, "name"));
	if (r == 0 && !snap && strcmp(jstr(vm, "state"), "stopped") &&
	    strcmp(jstr(vm, "state"), "running") && strcmp(jstr(vm, "state"), "paused"))
		r = kerr_set(&e, -EBUSY, "", "vm %s is %s: try again when it is running or stopped",
		             jstr(vm, "name"), jstr(vm, "state"));
	if (r == 0)
		r = clone_volumes(vm, snap, &vols, &e);
	store_rollback(); /* read only; the create has its own transaction */
	if (r < 0)
		goto out;
	l3s = json_array();
	json_array_foreach(json_object_get(vm, "nics"), i, nic)
	    json_array_append_new(l3s, json_string(jstr(nic, "l3_network_id")));
	body =
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:o,s:O?,s:O?}", "name", jstr(req->body, "name"),
	              "image_id", jstr(vm, "image_id"), "vcpus", (json_int_t)jint(vm, "vcpus", 1),
	              "memory_mb", (json_int_t)jint(vm, "memory_mb", 256), "root_disk_gb",
	              (json_int_t)(snap ? jint(snap, "size_gb", 1) : jint(vm, "root_disk_gb", 1)),
	              "l3_network_ids", l3s, "user_data", json_object_get(vm, "user_data"),
	              "ssh_keys", json_object_get(vm, "ssh_keys"));
	if (json_is_null(json_object_get(body, "user_data")))
		json_object_del(body, "user_data");
	if (pool_is_shared(jstr(vm, "pool_id"))) /* the clone's disk beside its source's */
		jset_str(body, "pool_id", jstr(vm, "pool_id"));
	extra = json_pack("{s:s,s:s,s:s?,s:b,s:O}", "host_id", jstr(vm, "host_id"), "source_vm_id",
	                  jstr(vm, "id"), "source_snapshot_id", snap ? jstr(snap, "id") : NULL,
	                  "linked_clone", linked, "clone_volumes", vols);
	if (!body || !extra) {
		kerr_set(&e, -EINVAL, "", "cannot build the clone's request");
		goto out;
	}
	/* the ordinary create, with this body, as the caller */
	saved = req->body;
	req->body = body;
	vm_create_as(req, resp, extra);
	req->body = saved;
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(vm);
	json_decref(snap);
	json_decref(body);
	json_decref(extra);
	json_decref(vols);
}

const struct route api_clone_routes[] = {
	{ "POST", "/v1/vms/{id}/actions/clone", vm_clone, ROLE_MEMBER, &vm_clone_schema, HTTP_JOB,
	  "Clone a VM on its host: full copy, or linked to a snapshot; new NIC addresses "
	  "(202 + vm.create job of the clone)",
	  0, "vms" },
	{ NULL },
};
