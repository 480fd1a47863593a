// SPDX-License-Identifier: MIT
/*
 * /v1/vms: create (one, or a batch with count), list, get, actions and
 * destroy. A create is checked and placed synchronously inside one store
 * transaction (quota, image, networks, scheduler, IPAM), so every refusal is
 * an immediate 4xx and nothing is half-created; the hosts' work then runs
 * as jobs (vm.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/ipam.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/migrate.h"
#include "kumod/netapi.h"
#include "kumod/pool.h"
#include "kumod/quota.h"
#include "kumod/store.h"
#include "kumod/vm.h"

#define VM_BATCH_MAX 1000
#define VM_NICS_MAX 8

static const char *const vm_states[] = { "creating",  "starting",   "running",   "stopping",
	                                 "stopped",   "rebooting",  "pausing",   "paused",
	                                 "migrating", "destroying", "destroyed", "error",
	                                 "unknown",   NULL };
static const char *const ha_policies[] = { "none", "restart", NULL };
static const char *const strategies[] = { "spread", "pack", NULL };

static const struct field nic_fields[] = {
	{ "id", FT_UUID, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "l3_network_id", FT_UUID, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "ip", FT_STRING, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "mac", FT_STRING, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "security_group_ids", FT_UUID_ARRAY, F_READONLY, 0, NETAPI_NIC_SGS_MAX, NULL, NULL,
	  "changed with /v1/security-groups/{id}/actions/attach and detach" },
	{ "bandwidth_in_kbps", FT_INT, F_READONLY, 0, NETAPI_BW_MAX_KBPS, NULL, NULL,
	  "towards the VM; 0 = no limit" },
	{ "bandwidth_out_kbps", FT_INT, F_READONLY, 0, NETAPI_BW_MAX_KBPS, NULL, NULL,
	  "from the VM; 0 = no limit" },
	{ NULL },
};
static const struct schema nic_schema = { "Nic", nic_fields };

static const struct field vm_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, vm_states, NULL, NULL },
	{ "state_reason", FT_STRING, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "host_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "image_id", FT_UUID, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "instance_offering_id", FT_UUID, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "vcpus", FT_INT, F_FILTER, 1, 256, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, F_FILTER, 64, 4194304, NULL, NULL, NULL },
	{ "root_disk_gb", FT_INT, F_FILTER, 1, 65536, NULL, NULL, NULL },
	{ "pool_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "the storage pool of its disks" },
	{ "accel", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL,
	  "how it runs: kvm, tcg (its host's), sim" },
	{ "cpu_model", FT_STRING, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "the CPU it got when it last started (its host's cpu_model then)" },
	{ "nics", FT_OBJECT_ARRAY, F_READONLY, 0, VM_NICS_MAX, NULL, &nic_schema, NULL },
	{ "volumes", FT_UUID_ARRAY, F_READONLY, 0, 0, NULL, NULL, "volume ids, root first" },
	{ "user_data", FT_STRING, F_NULLABLE, 0, 65536, NULL, NULL, NULL },
	{ "ssh_keys", FT_STRING_ARRAY, 0, 0, 16, NULL, NULL, NULL },
	{ "ha", FT_STRING, F_FILTER, 0, 0, ha_policies, NULL, NULL },
	{ "priority", FT_INT, F_READONLY | F_FILTER, 0, 100, NULL, NULL,
	  "0..100, set at creation: a host sheds its lowest-priority VMs first when too hot" },
	{ "job_id", FT_UUID, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, "the running operation" },
	{ "source_vm_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "a clone: the VM it was cloned from" },
	{ "source_snapshot_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "a clone: the snapshot it was cloned from" },
	{ "linked_clone", FT_BOOL, F_READONLY | F_FILTER, 0, 0, NULL, NULL,
	  "its root disk is an overlay on source_snapshot_id" },
	{ NULL },
};
static const struct schema vm_schema = { "Vm", vm_fields };

static const struct field vm_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, "with count > 1: NAME-1 ... NAME-N" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "image_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "instance_offering_id", FT_UUID, 0, 0, 0, NULL, NULL, "or vcpus and memory_mb" },
	{ "vcpus", FT_INT, 0, 1, 256, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, 0, 64, 4194304, NULL, NULL, NULL },
	{ "root_disk_gb", FT_INT, 0, 1, 65536, NULL, NULL, NULL },
	{ "l3_network_ids", FT_UUID_ARRAY, 0, 0, VM_NICS_MAX, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ "pool_id", FT_UUID, 0, 0, 0, NULL, NULL,
	  "storage pool (its cluster's); default the cluster's local pool" },
	{ "host_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins only" },
	{ "user_data", FT_STRING, 0, 0, 65536, NULL, NULL, NULL },
	{ "ssh_keys", FT_STRING_ARRAY, 0, 0, 16, NULL, NULL, NULL },
	{ "ha", FT_STRING, 0, 0, 0, ha_policies, NULL, "default none" },
	{ "priority", FT_INT, 0, 0, 100, NULL, NULL,
	  "default 50; a host sheds its lowest-priority VMs first when too hot" },
	{ "strategy", FT_STRING, 0, 0, 0, strategies, NULL, "default spread" },
	{ "count", FT_INT, 0, 1, VM_BATCH_MAX, NULL, NULL, "default 1" },
	{ "security_group_ids", FT_UUID_ARRAY, 0, 0, NETAPI_NIC_SGS_MAX, NULL, NULL,
	  "on every NIC" },
	{ "bandwidth_in_kbps", FT_INT, 0, 0, NETAPI_BW_MAX_KBPS, NULL, NULL,
	  "every NIC; 0 = no limit" },
	{ "bandwidth_out_kbps", FT_INT, 0, 0, NETAPI_BW_MAX_KBPS, NULL, NULL,
	  "every NIC; 0 = no limit" },
	{ NULL },
};
static const struct schema vm_create_schema = { "VmCreate", vm_create_fields };

static const struct field vm_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "ha", FT_STRING, 0, 0, 0, ha_policies, NULL, NULL },
	{ NULL },
};
static const struct schema vm_update_schema = { "VmUpdate", vm_update_fields };

static const struct field stop_fields[] = {
	{ "force", FT_BOOL, 0, 0, 0, NULL, NULL, "skip the graceful shutdown" },
	{ NULL },
};
static const struct schema vm_stop_schema = { "VmStop", stop_fields };
static const struct field no_fields[] = { { NULL } };
static const struct schema vm_action_schema = { "VmAction", no_fields };
static const struct field bandwidth_fields[] = {
	{ "nic_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "in_kbps", FT_INT, 0, 0, NETAPI_BW_MAX_KBPS, NULL, NULL, "0 = no limit; default: as is" },
	{ "out_kbps", FT_INT, 0, 0, NETAPI_BW_MAX_KBPS, NULL, NULL,
	  "0 = no limit; default: as is" },
	{ NULL },
};
static const struct schema vm_bandwidth_schema = { "VmSetBandwidth", bandwidth_fields };

const struct kind kind_vm = {
	.name = "vms",
	.singular = "vm",
	.schema = &vm_schema,
	.create = &vm_create_schema,
	.update = &vm_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
	.hidden = vm_hidden_keys,
};

/* What a create asks for, resolved and checked before the transaction. */
struct vm_spec {
	int64_t vcpus, memory_mb, root_disk_gb, count;
	json_t *image;                              /* owned */
	json_t *l3s;                                /* owned: array of l3 docs */
	json_t *pool;                               /* owned: the pool asked for, or NULL */
	bool shared;                                /* pool is a shared one */
	const char *zone_id, *cluster_id, *host_id; /* weak: body or zone_buf */
	char zone_buf[UUID_LEN + 1];                /* the networks' zone */
	enum sched_strategy strategy;
};

static void spec_free(struct vm_spec *s)
{
	json_decref(s->image);
	json_decref(s->l3s);
	json_decref(s->pool);
}

/* The VM goes where its networks are: every L3's L2 network belongs to a
 * zone; they must agree with each other and with a zone_id given. */
static int spec_network_zone(struct vm_spec *s, struct kerr *e)
{
	json_t *l3;
	size_t i;

	json_array_foreach(s->l3s, i, l3)
	{
		json_t *l2 = NULL;
		char field[40];

		snprintf(field, sizeof(field), "l3_network_ids[%zu]", i);
		if (store_get("l2-networks", jstr(l3, "l2_network_id"), NULL, false, &l2) < 0)
			return kerr_set(e, -EINVAL, field, "network %s has no L2 network",
			                jstr(l3, "name"));
		if (!s->zone_id) {
			s->zone_id = jstr(l2, "zone_id");
			snprintf(s->zone_buf, sizeof(s->zone_buf), "%s", s->zone_id);
			s->zone_id = s->zone_buf;
		} else if (strcmp(s->zone_id, jstr(l2, "zone_id")) != 0) {
			json_decref(l2);
			return kerr_set(e, -EINVAL, field,
			                "network %s is in another zone than the VM's (%s)",
			                jstr(l3, "name"), s->zone_id);
		}
		json_decref(l2);
	}
	return 0;
}

static int spec_resolve(struct http_request *req, struct vm_spec *s, struct kerr *e)
{
	const json_t *b = req->body;
	json_t *off = NULL, *ids, *id;
	size_t i;
	int r;

	s->count = jint(b, "count", 1);
	r = api_ref(&kind_image, req, jstr(b, "image_id"), "image_id", &s->image, e);
	if (r < 0)
		return r;
	if (strcmp(jstr(s->image, "status"), "active") != 0)
		return kerr_set(e, -EBUSY, "image_id", "image %s is %s: only active images boot",
		                jstr(s->image, "name"), jstr(s->image, "status"));
	if (jstr(b, "instance_offering_id")) {
		r = api_ref(&kind_offering, req, jstr(b, "instance_offering_id"),
		            "instance_offering_id", &off, e);
		if (r < 0)
			return r;
		s->vcpus = jint(off, "vcpus", 1);
		s->memory_mb = jint(off, "memory_mb", 512);
		s->root_disk_gb = jint(off, "root_disk_gb", 10);
		json_decref(off);
	} else {
		s->root_disk_gb = 10;
		if (!json_object_get(b, "vcpus") || !json_object_get(b, "memory_mb"))
			return kerr_set(e, -EINVAL,
			                json_object_get(b, "vcpus") ? "memory_mb" : "vcpus",
			                "give instance_offering_id, or vcpus and memory_mb");
	}
	s->vcpus = jint(b, "vcpus", s->vcpus);
	s->memory_mb = jint(b, "memory_mb", s->memory_mb);
	s->root_disk_gb = jint(b, "root_disk_gb", s->root_disk_gb);
	s->l3s = json_array();
	ids = json_object_get(b, "l3_network_ids");
	json_array_foreach(ids, i, id)
	{
		json_t *l3 = NULL;
		char field[40];

		snprintf(field, sizeof(field), "l3_network_ids[%zu]", i);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(json_string_value(id),
			            json_string_value(json_array_get(ids, k))))
				return kerr_set(e, -EINVAL, field, "network %s is listed twice",
				                json_string_value(id));
		r = api_ref(&kind_l3, req, json_string_value(id), field, &l3, e);
		if (r < 0)
			return r;
		json_array_append_new(s->l3s, l3);
	}
	s->zone_id = jstr(b, "zone_id");
	r = spec_network_zone(s, e);
	if (r < 0)
		return r;
	s->cluster_id = jstr(b, "cluster_id");
	s->host_id = jstr(b, "host_id");
	if (jstr(b, "pool_id")) {
		r = pool_resolve(req, jstr(b, "pool_id"), "pool_id", &s->pool, e);
		if (r < 0)
			return r;
		if (s->cluster_id && strcmp(s->cluster_id, jstr(s->pool, "cluster_id")) != 0)
			return kerr_set(e, -EINVAL, "pool_id",
			                "storage pool %s belongs to another cluster",
			                jstr(s->pool, "name"));
		s->cluster_id = jstr(s->pool, "cluster_id");
		s->shared = !strcmp(jstr(s->pool, "type"), "shared");
	}
	if (s->zone_id && (r = api_ref(&kind_zone, req, s->zone_id, "zone_id", NULL, e)) < 0)
		return r;
	if (s->cluster_id &&
	    (r = api_ref(&kind_cluster, req, s->cluster_id, "cluster_id", NULL, e)) < 0)
		return r;
	if (s->host_id && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "host_id", "only admins may choose the host");
	if (s->host_id && (r = api_ref(&kind_host, req, s->host_id, "host_id", NULL, e)) < 0)
		return r;
	s->strategy = SCHED_SPREAD;
	if (jstr(b, "strategy"))
		sched_strategy_parse(jstr(b, "strategy"), &s->strategy);
	return 0;
}

/* Per-network IPAM state for the length of one create. */
struct net_alloc {
	struct l3_plan plan;
	uint32_t *used; /* sorted */
	int nused;
};

static int net_alloc_init(json_t *l3s, struct net_alloc **ret, struct kerr *e)
{
	size_t n = json_array_size(l3s);
	struct net_alloc *na = xcalloc(n ? n : 1, sizeof(*na));
	json_t *l3;
	size_t i;
	int r;

	json_array_foreach(l3s, i, l3)
	{
		r = ipam_plan_from_json(l3, &na[i].plan, e);
		if (r == 0)
			r = store_ip_list(jstr(l3, "id"), &na[i].used, &na[i].nused);
		if (r < 0) {
			for (size_t k = 0; k <= i; k++)
				free(na[k].used);
			free(na);
			return kerr_set(e, r < 0 ? r : -EIO, "l3_network_ids",
			                "cannot read the addresses of network %s",
			                jstr(l3, "name"));
		}
	}
	*ret = na;
	return 0;
}

static void net_alloc_free(struct net_alloc *na, size_t n)
{
	for (size_t i = 0; na && i < n; i++)
		free(na[i].used);
	free(na);
}

static int take_ip(struct net_alloc *a, const json_t *l3, const char *owner, uint32_t *ret,
                   struct kerr *e)
{
	uint32_t ip;
	int r, pos;

	r = ipam_pick(&a->plan, a->used, a->nused, &ip);
	if (r < 0)
		return kerr_set(e, -ENOSPC, "l3_network_ids",
		                "network %s has no free address left (%lld in use)",
		                jstr(l3, "name"), (long long)a->nused);
	r = store_ip_take(jstr(l3, "id"), ip, owner);
	if (r < 0)
		return kerr_set(e, r == -EEXIST ? -EBUSY : r, "l3_network_ids",
		                "address allocation on %s collided; retry", jstr(l3, "name"));
	/* keep used[] sorted */
	a->used = xrealloc(a->used, (size_t)(a->nused + 1) * sizeof(uint32_t));
	pos = a->nused;
	while (pos > 0 && a->used[pos - 1] > ip) {
		a->used[pos] = a->used[pos - 1];
		pos--;
	}
	a->used[pos] = ip;
	a->nused++;
	*ret = ip;
	return 0;
}

static json_t *new_vm_doc(struct http_request *req, const struct vm_spec *s,
                          const struct sched_host *h, const char *name)
{
	const json_t *b = req->body;
	json_t *vm = api_new_doc(&kind_vm, req, NULL), *keys;

	jset_str(vm, "name", name);
	jset_str(vm, "description", jstr(b, "description"));
	jset_str(vm, "state", "creating");
	json_object_set_new(vm, "state_reason", json_null());
	jset_str(vm, "host_id", h->id);
	jset_str(vm, "zone_id", h->zone_id);
	jset_str(vm, "cluster_id", h->cluster_id);
	jset_str(vm, "image_id", jstr(s->image, "id"));
	jset_str(vm, "instance_offering_id", jstr(b, "instance_offering_id"));
	jset_int(vm, "vcpus", s->vcpus);
	jset_int(vm, "memory_mb", s->memory_mb);
	jset_int(vm, "root_disk_gb", s->root_disk_gb);
	jset_str(vm, "user_data", jstr(b, "user_data"));
	keys = json_object_get(b, "ssh_keys");
	json_object_set_new(vm, "ssh_keys", keys ? json_deep_copy(keys) : json_array());
	jset_str(vm, "ha", jstr(b, "ha") ? jstr(b, "ha") : "none");
	jset_int(vm, "priority", jint(b, "priority", 50));
	json_object_set_new(vm, "nics", json_array());
	json_object_set_new(vm, "volumes", json_array());
	return vm;
}

static int add_root_volume(json_t *vm, struct kerr *e)
{
	char id[UUID_LEN + 1], name[80];
	json_t *v;
	int r;

	uuid_new(id);
	snprintf(name, sizeof(name), "%s-root", jstr(vm, "name"));
	v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:I,s:s,s:s,s:s,s:s}", "id", id, "account_id",
	              jstr(vm, "account_id"), "name", name, "vm_id", jstr(vm, "id"), "host_id",
	              jstr(vm, "host_id"), "pool_id", jstr(vm, "pool_id"), "kind", "root",
	              "size_gb", (json_int_t)jint(vm, "root_disk_gb", 10), "format", "qcow2",
	              "state", "creating", "created_at", jstr(vm, "created_at"), "updated_at",
	              jstr(vm, "created_at"));
	r = store_insert("volumes", v, false);
	json_decref(v);
	if (r < 0)
		return kerr_set(e, r, "", "cannot store the root volume");
	json_array_append_new(json_object_get(vm, "volumes"), json_string(id));
	return 0;
}

/* A clone's data volumes (api_clone.c lists them in the vm's
 * clone_volumes, which goes): new records on the vm's host and their
 * source's pool (a source on no pool: the local pool), counted there, their
 * source named for the host to copy. */
static int add_clone_volumes(json_t *vm, struct kerr *e)
{
	json_t *list = json_incref(json_object_get(vm, "clone_volumes")), *c;
	size_t i;
	int r = 0;

	json_object_del(vm, "clone_volumes");
	json_array_foreach(list, i, c)
	{
		char id[UUID_LEN + 1], name[80];
		json_t *v;

		uuid_new(id);
		snprintf(name, sizeof(name), "%s-data%zu", jstr(vm, "name"), i + 1);
		v = json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s?}", "id", id,
		    "account_id", jstr(vm, "account_id"), "name", name, "vm_id", jstr(vm, "id"),
		    "host_id", jstr(vm, "host_id"), "pool_id", jstr(c, "pool_id"), "kind", "data",
		    "size_gb", (json_int_t)jint(c, "size_gb", 1), "format", "qcow2", "state",
		    "creating", "created_at", jstr(vm, "created_at"), "updated_at",
		    jstr(vm, "created_at"), "source_volume_id", jstr(c, "source_volume_id"),
		    "source_snapshot_id", jstr(c, "source_snapshot_id"));
		jset_int(v, "pci_slot", VOL_SLOT_FIRST + (int64_t)i);
		if (!jstr(c, "pool_id")) { /* a source on no pool: local storage */
			json_t *pool = NULL;

			r = pool_local_ensure(jstr(vm, "cluster_id"), &pool);
			if (r < 0)
				kerr_set(e, r, "",
				         "cannot find the local pool of the vm's cluster");
			else
				jset_str(v, "pool_id", jstr(pool, "id"));
			json_decref(pool);
		}
		if (r == 0)
			r = volume_charge(v, jint(v, "size_gb", 0), e);
		if (r == 0) {
			r = store_insert("volumes", v, true);
			if (r == -EEXIST)
				kerr_set(e, r, "name", "a volume named \"%s\" already exists",
				         name);
			else if (r < 0)
				kerr_set(e, r, "", "cannot store the clone's volume");
		}
		json_decref(v);
		if (r < 0)
			break;
		json_array_append_new(json_object_get(vm, "volumes"), json_string(id));
	}
	json_decref(list);
	return r;
}

static int sched_error(struct kerr *e)
{
	return e->code ? e->code : -ENOSPC;
}

void vm_create_as(struct http_request *req, struct http_response *resp, const json_t *extra)
{
	struct kerr e = { 0 };
	struct vm_spec s = { 0 };
	struct sched_host *hosts = NULL;
	struct net_alloc *na = NULL;
	struct sched_request sr;
	json_t *parent = NULL, *reply_job = NULL;
	int *placed = NULL, nhosts = 0, r;
	bool in_tx = false;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = spec_resolve(req, &s, &e);
	if (r < 0)
		goto out;
	if (extra && jstr(extra, "host_id"))
		s.host_id = jstr(extra, "host_id"); /* a clone: its source's host */
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	in_tx = true;
	r = quota_check(api_owner_account(req, NULL), s.count, s.vcpus, s.memory_mb, &e);
	if (r < 0)
		goto out;
	r = netapi_vm_sgs_check(api_owner_account(req, NULL),
	                        json_object_get(req->body, "security_group_ids"), s.l3s, &e);
	if (r < 0)
		goto out;
	r = host_load_sched(&hosts, &nhosts);
	if (r < 0) {
		kerr_set(&e, r, "", "cannot read hosts");
		goto out;
	}
	sr = (struct sched_request){ .zone_id = s.zone_id,
		                     .cluster_id = s.cluster_id,
		                     .host_id = s.host_id,
		                     .vcpus = s.vcpus,
		                     .memory_mb = s.memory_mb,
		                     .disk_gb = s.shared ? 0 : s.root_disk_gb,
		                     .strategy = s.strategy };
	if (s.pool) {
		r = pool_room(s.pool, s.root_disk_gb * s.count, "pool_id", &e);
		if (r < 0)
			goto out;
	}
	placed = xcalloc((size_t)s.count, sizeof(int));
	r = sched_place_many(hosts, nhosts, &sr, (int)s.count, &kumod_cfg.sched, placed, &e);
	if (r < 0) {
		r = sched_error(&e);
		goto out;
	}
	r = net_alloc_init(s.l3s, &na, &e);
	if (r < 0)
		goto out;
	if (s.count > 1) {
		parent = job_new("vm.create_batch", "vms", NULL, api_owner_account(req, NULL), NULL,
		                 NULL);
		json_object_set_new(parent, "result", json_pack("{s:[]}", "vm_ids"));
		r = job_insert_parent(parent, s.count);
		if (r < 0) {
			kerr_set(&e, r, "", "cannot store the job");
			goto out;
		}
	}
	for (int64_t i = 0; i < s.count; i++) {
		struct sched_host *h = &hosts[placed[i]];
		const json_t *sgs = json_object_get(req->body, "security_group_ids");
		char name[80];
		json_t *vm, *job, *l3;
		size_t k;

		if (s.count > 1)
			snprintf(name, sizeof(name), "%s-%lld", jstr(req->body, "name"),
			         (long long)i + 1);
		else
			snprintf(name, sizeof(name), "%s", jstr(req->body, "name"));
		if (strlen(name) > 63) {
			r = kerr_set(&e, -EINVAL, "name", "name %s is too long (max 63)", name);
			goto out;
		}
		vm = new_vm_doc(req, &s, h, name);
		{
			json_t *pool = s.pool ? json_incref(s.pool) : NULL;

			if (!pool && pool_local_ensure(h->cluster_id, &pool) < 0) {
				json_decref(vm);
				r = kerr_set(&e, -EIO, "", "cannot store the cluster's local pool");
				goto out;
			}
			jset_str(vm, "pool_id", jstr(pool, "id"));
			json_decref(pool);
		}
		if (extra)
			json_object_update(vm, (json_t *)extra);
		json_array_foreach(s.l3s, k, l3)
		{
			char nic_id[UUID_LEN + 1], mac[18], ip_s[16];
			uint32_t ip = 0;

			r = take_ip(&na[k], l3, jstr(vm, "id"), &ip, &e);
			if (r < 0) {
				json_decref(vm);
				goto out;
			}
			uuid_new(nic_id);
			ipam_random_mac(mac);
			ip_format(ip, ip_s);
			json_array_append_new(
			    json_object_get(vm, "nics"),
			    json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:I}", "id", nic_id,
			              "l3_network_id", jstr(l3, "id"), "ip", ip_s, "mac", mac,
			              "security_group_ids",
			              sgs ? json_deep_copy(sgs) : json_array(), "bandwidth_in_kbps",
			              (json_int_t)jint(req->body, "bandwidth_in_kbps", 0),
			              "bandwidth_out_kbps",
			              (json_int_t)jint(req->body, "bandwidth_out_kbps", 0)));
		}
		/* the vm's own disk is counted first: a clone's data volumes are
		 * checked for room beside it */
		r = host_adjust(h->id, s.vcpus, s.memory_mb, s.shared ? 0 : s.root_disk_gb, 1);
		if (r == 0)
			r = pool_adjust(jstr(vm, "pool_id"), s.root_disk_gb);
		if (r < 0)
			kerr_set(&e, r, "", "cannot update the host");
		if (r == 0)
			r = add_root_volume(vm, &e);
		if (r == 0 && json_object_get(vm, "clone_volumes"))
			r = add_clone_volumes(vm, &e);
		if (r < 0) {
			json_decref(vm);
			goto out;
		}
		{
			json_t *p = json_pack("{s:s,s:s}", "action", "create", "from", "creating");

			job = job_new("vm.create", "vms", jstr(vm, "id"), jstr(vm, "account_id"), p,
			              parent ? jstr(parent, "id") : NULL);
			json_decref(p);
		}
		jset_str(vm, "job_id", jstr(job, "id"));
		r = store_insert("vms", vm, true);
		if (r == -EEXIST)
			kerr_set(&e, -EEXIST, "name", "a vm named \"%s\" already exists", name);
		else if (r < 0)
			kerr_set(&e, r, "", "cannot store the vm");
		if (r == 0) {
			r = job_insert(job);
			if (r < 0)
				kerr_set(&e, r, "", "cannot store the job");
		}
		if (r == 0) {
			json_t *d = json_pack("{s:s}", "state", "creating");

			event_emit("vm.state", "vms", jstr(vm, "id"), jstr(vm, "account_id"), d);
			json_decref(d);
			if (parent)
				json_array_append_new(
				    json_object_get(json_object_get(parent, "result"), "vm_ids"),
				    json_string(jstr(vm, "id")));
			else
				reply_job = json_incref(job);
		}
		json_decref(vm);
		json_decref(job);
		if (r < 0)
			goto out;
	}
	if (parent) {
		r = store_update("jobs", parent, false);
		if (r < 0) {
			kerr_set(&e, r, "", "cannot store the job");
			goto out;
		}
		reply_job = json_incref(parent);
	}
	r = api_idem_save_job(req, reply_job);
	if (r == 0)
		r = store_commit();
	in_tx = false;
	if (r < 0) {
		store_rollback();
		kerr_set(&e, r, "", "cannot store the vm");
		goto out;
	}
	jobs_notify();
	api_reply_job(req, resp, reply_job);
out:
	if (in_tx)
		store_rollback();
	if (e.code)
		http_reply_kerr(resp, &e);
	net_alloc_free(na, s.l3s ? json_array_size(s.l3s) : 0);
	free(hosts);
	free(placed);
	json_decref(parent);
	json_decref(reply_job);
	spec_free(&s);
}

static void vm_create(struct http_request *req, struct http_response *resp)
{
	vm_create_as(req, resp, NULL);
}

static void vm_action(struct http_request *req, struct http_response *resp, enum vm_action a)
{
	struct kerr e = { 0 };
	json_t *vm = NULL, *job = NULL, *params = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), true, &vm, &e);
	if (r == 0) {
		params = json_pack("{s:b}", "force", req->body && jbool(req->body, "force", false));
		/* A forced stop also rescues VMs stuck in error or unknown. */
		if (a == VMA_STOP && jbool(params, "force", false))
			a = VMA_FORCE_STOP;
		if (a == VMA_DESTROY)
			r = snapshot_check_vm_destroy(vm, &e);
		if (r == 0)
			r = vm_begin_action(vm, a, params, &job, &e);
	}
	api_commit_job(req, resp, job, r, &e, "vm");
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(vm);
	json_decref(job);
	json_decref(params);
}

#define ACTION(verb, act)                                                                          \
	static void vm_##verb(struct http_request *req, struct http_response *resp)                \
	{                                                                                          \
		vm_action(req, resp, act);                                                         \
	}
ACTION(start, VMA_START)
ACTION(stop, VMA_STOP)
ACTION(reboot, VMA_REBOOT)
ACTION(pause, VMA_PAUSE)
ACTION(resume, VMA_RESUME)
ACTION(destroy, VMA_DESTROY)

/* Not a state change: new limits on one NIC, pushed to its host by a
 * net.update job (netsync.h). */
static void vm_set_bandwidth(struct http_request *req, struct http_response *resp)
{
	const char *nic_id = jstr(req->body, "nic_id");
	struct kerr e = { 0 };
	json_t *vm = NULL, *nic, *it;
	size_t i;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), true, &vm, &e);
	if (r == 0) {
		r = kerr_set(&e, -ENOENT, "nic_id", "nic_id: vm %s has no NIC %s", jstr(vm, "name"),
		             nic_id);
		json_array_foreach(json_object_get(vm, "nics"), i, it)
		{
			if (jstr(it, "id") && !strcmp(jstr(it, "id"), nic_id)) {
				nic = it;
				kerr_clear(&e);
				r = 0;
				jset_int(
				    nic, "bandwidth_in_kbps",
				    jint(req->body, "in_kbps", jint(nic, "bandwidth_in_kbps", 0)));
				jset_int(nic, "bandwidth_out_kbps",
				         jint(req->body, "out_kbps",
				              jint(nic, "bandwidth_out_kbps", 0)));
				break;
			}
		}
	}
	if (r == 0 && !strcmp(jstr(vm, "state"), "destroying"))
		r = kerr_set(&e, -EBUSY, "", "vm %s is being destroyed", jstr(vm, "name"));
	if (r == 0) {
		r = store_update("vms", vm, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot store the vm");
	}
	netapi_finish(req, resp, "vms", jstr(vm, "id"), jstr(vm, "account_id"), r, &e);
	kerr_clear(&e); /* answered */
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(vm);
}

static void vm_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_vm, req, resp);
}

static void vm_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_vm, req, resp);
}

static void vm_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_vm, req, resp);
}

const struct route api_vm_routes[] = {
	{ "GET", "/v1/vms", vm_list, ROLE_VIEWER, NULL, HTTP_LIST, "List VMs", 0, "vms" },
	{ "POST", "/v1/vms", vm_create, ROLE_MEMBER, &vm_create_schema, HTTP_JOB,
	  "Create one VM, or count VMs", 0, "vms" },
	{ "GET", "/v1/vms/{id}", vm_get, ROLE_VIEWER, NULL, 0, "Get a VM", 0, "vms" },
	{ "PATCH", "/v1/vms/{id}", vm_update, ROLE_MEMBER, &vm_update_schema, 0,
	  "Rename a VM or change its HA policy", 0, "vms" },
	{ "DELETE", "/v1/vms/{id}", vm_destroy, ROLE_MEMBER, NULL, HTTP_JOB, "Destroy a VM", 0,
	  "vms" },
	{ "POST", "/v1/vms/{id}/actions/start", vm_start, ROLE_MEMBER, &vm_action_schema, HTTP_JOB,
	  "Start a stopped VM", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/stop", vm_stop, ROLE_MEMBER, &vm_stop_schema, HTTP_JOB,
	  "Stop a VM (force: no graceful shutdown)", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/reboot", vm_reboot, ROLE_MEMBER, &vm_action_schema,
	  HTTP_JOB, "Reboot a running VM", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/pause", vm_pause, ROLE_MEMBER, &vm_action_schema, HTTP_JOB,
	  "Pause a running VM", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/resume", vm_resume, ROLE_MEMBER, &vm_action_schema,
	  HTTP_JOB, "Resume a paused VM", 0, "vms" },
	{ "POST", "/v1/vms/{id}/actions/set_bandwidth", vm_set_bandwidth, ROLE_MEMBER,
	  &vm_bandwidth_schema, HTTP_JOB, "Limit a NIC's bandwidth (202 + net.update job)", 0,
	  "vms" },
	{ "POST", "/v1/vms/{id}/actions/migrate", vm_migrate, ROLE_ADMIN, &vm_migrate_schema,
	  HTTP_JOB, "Migrate a VM to another host of its cluster (admin; migrate.c)", 0, "vms" },
	{ NULL },
};
