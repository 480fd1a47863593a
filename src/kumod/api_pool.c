// SPDX-License-Identifier: MIT
/*
 * /v1/storage-pools: where VM disks and volumes live, per cluster.
 *   local   a directory on each host (the agent's data directory); every
 *           cluster has one, made when it is first needed
 *   shared  a directory every host of the cluster mounts at the same path
 *           (NFS, CephFS, any cluster filesystem): a VM on it can be
 *           restarted (HA) or moved (migration) without copying its disks
 * Capacity: allocated_gb is what the pool's disks were promised (root disks,
 * volumes and their snapshots); capacity_gb, when given, is a limit that
 * placements, volume and snapshot creates respect. Admins write, everyone
 * reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/host.h"
#include "kumod/kumod.h"
#include "kumod/pool.h"
#include "kumod/resize.h"
#include "kumod/store.h"

static const char *const types[] = { "local", "shared", NULL };
static const char *const states[] = { "enabled", "disabled", NULL };

static const struct field pool_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "type", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, types, NULL, NULL },
	{ "path", FT_STRING, F_NULLABLE, 0, POOL_PATH_MAX, NULL, NULL,
	  "shared: the mount point, the same on every host of the cluster" },
	{ "capacity_gb", FT_INT, F_NULLABLE, 1, 1 << 30, NULL, NULL,
	  "a limit for allocated_gb; none when null" },
	{ "allocated_gb", FT_INT, F_READONLY, 0, 0, NULL, NULL,
	  "root disks, volumes and their snapshots placed on it" },
	{ "available_gb", FT_INT, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "capacity_gb - allocated_gb" },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema pool_schema = { "StoragePool", pool_fields };

static const struct field pool_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "type", FT_STRING, F_REQUIRED, 0, 0, types, NULL, NULL },
	{ "path", FT_STRING, 0, 0, POOL_PATH_MAX, NULL, NULL, "required for shared" },
	{ "capacity_gb", FT_INT, 0, 1, 1 << 30, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema pool_create_schema = { "StoragePoolCreate", pool_create_fields };

static const struct field pool_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "capacity_gb", FT_INT, F_NULLABLE, 1, 1 << 30, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema pool_update_schema = { "StoragePoolUpdate", pool_update_fields };

bool pool_path_valid(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) < 2 || strlen(p) > POOL_PATH_MAX)
		return false;
	if (strstr(p, "/../") || strstr(p, "/./") || strstr(p, "//"))
		return false;
	for (const char *c = p; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') &&
		    !(*c >= '0' && *c <= '9') && !strchr("/._-", *c))
			return false;
	return true;
}

static int pool_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *type = jstr(doc, "type"), *path = jstr(doc, "path");
	int r;

	r = api_ref(&kind_cluster, req, jstr(doc, "cluster_id"), "cluster_id", NULL, e);
	if (r < 0)
		return r;
	if (!strcmp(type, "shared")) {
		if (!path)
			return kerr_set(e, -EINVAL, "path", "a shared pool needs its mount point");
		if (!pool_path_valid(path))
			return kerr_set(e, -EINVAL, "path",
			                "path must be absolute, of letters, digits and /._- only");
	} else {
		struct list_query q;
		int64_t n = 0;

		if (path)
			return kerr_set(e, -EINVAL, "path",
			                "a local pool is each host's own directory: no path");
		list_query_init(&q);
		query_add_eq(&q, "cluster_id", jstr(doc, "cluster_id"));
		query_add_eq(&q, "type", "local");
		r = store_count("storage-pools", &q, &n);
		list_query_free(&q);
		if (r < 0)
			return kerr_set(e, r, "", "cannot read the pools");
		if (n > 0)
			return kerr_set(e, -EEXIST, "type",
			                "the cluster has its local pool already");
	}
	if (!jstr(doc, "state"))
		jset_str(doc, "state", "enabled");
	jset_int(doc, "allocated_gb", 0);
	return 0;
}

static int pool_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = api_check_unused("vms", "pool_id", jstr(doc, "id"), "vms", e);

	if (r == 0)
		r = api_check_unused("volumes", "pool_id", jstr(doc, "id"), "volumes", e);
	return r;
}

static void pool_present(json_t *doc)
{
	const json_t *cap = json_object_get(doc, "capacity_gb");

	if (json_is_integer(cap))
		jset_int(doc, "available_gb",
		         json_integer_value(cap) - jint(doc, "allocated_gb", 0));
	else
		json_object_set_new(doc, "available_gb", json_null());
}

const struct kind kind_pool = {
	.name = "storage-pools",
	.singular = "storage_pool",
	.schema = &pool_schema,
	.create = &pool_create_schema,
	.update = &pool_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_create = pool_on_create,
	.on_delete = pool_on_delete,
	.present = pool_present,
};

API_CRUD_HANDLERS(pool, kind_pool)

const struct route api_pool_routes[] = {
	API_CRUD_ROUTES("storage-pools", "storage-pools", pool_list, pool_get, pool_create,
	                pool_update, pool_delete, ROLE_VIEWER, ROLE_ADMIN, &pool_create_schema,
	                &pool_update_schema),
	{ NULL },
};

/* --- for VMs and volumes ---------------------------------------------------- */

int pool_local_ensure(const char *cluster_id, json_t **ret)
{
	struct list_query q;
	json_t *items = NULL, *doc;
	int64_t total = 0;
	char id[UUID_LEN + 1], name[64], *now;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "cluster_id", cluster_id);
	query_add_eq(&q, "type", "local");
	q.limit = 1;
	r = store_list("storage-pools", &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return r;
	if (json_array_size(items) > 0) {
		*ret = json_incref(json_array_get(items, 0));
		json_decref(items);
		return 0;
	}
	json_decref(items);
	uuid_new(id);
	snprintf(name, sizeof(name), "local-%.8s", cluster_id);
	now = time_now_str();
	doc = json_pack("{s:s,s:n,s:s,s:s,s:s,s:n,s:n,s:I,s:s,s:s,s:s,s:s}", "id", id, "account_id",
	                "name", name, "cluster_id", cluster_id, "type", "local", "path",
	                "capacity_gb", "allocated_gb", (json_int_t)0, "state", "enabled",
	                "description", "each host's own directory", "created_at", now, "updated_at",
	                now);
	free(now);
	r = store_insert("storage-pools", doc, false);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	*ret = doc;
	return 0;
}

int pool_resolve(struct http_request *req, const char *pool_id, const char *field, json_t **ret,
                 struct kerr *e)
{
	json_t *p = NULL;
	int r = api_ref(&kind_pool, req, pool_id, field, &p, e);

	if (r < 0)
		return r;
	if (strcmp(jstr(p, "state"), "enabled") != 0) {
		json_decref(p);
		return kerr_set(e, -EBUSY, field, "storage pool %s is disabled", pool_id);
	}
	*ret = p;
	return 0;
}

int pool_room(const json_t *pool, int64_t gb, const char *field, struct kerr *e)
{
	const json_t *cap = json_object_get(pool, "capacity_gb");

	if (!json_is_integer(cap) || gb <= 0)
		return 0;
	if (jint(pool, "allocated_gb", 0) + gb > json_integer_value(cap))
		return kerr_set(e, -ENOSPC, field,
		                "storage pool %s lacks capacity: %lld GB of %lld GB allocated, "
		                "%lld GB more asked",
		                jstr(pool, "name"), (long long)jint(pool, "allocated_gb", 0),
		                (long long)json_integer_value(cap), (long long)gb);
	return 0;
}

int pool_adjust(const char *pool_id, int64_t gb)
{
	json_t *p = NULL;
	int64_t v;
	int r;

	if (!pool_id || gb == 0)
		return 0;
	r = store_get("storage-pools", pool_id, NULL, false, &p);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	v = jint(p, "allocated_gb", 0) + gb;
	jset_int(p, "allocated_gb", v < 0 ? 0 : v);
	r = store_update("storage-pools", p, false);
	json_decref(p);
	return r;
}

/* A data volume on no pool is counted nowhere: never attached, or
 * attached before local data volumes were counted. */
static bool counted(const json_t *v)
{
	return jstr(v, "pool_id") || (jstr(v, "kind") && !strcmp(jstr(v, "kind"), "root"));
}

bool volume_on_host_disk(const json_t *v)
{
	return counted(v) && jstr(v, "host_id") && !pool_is_shared(jstr(v, "pool_id"));
}

int volume_charge_in(const json_t *v, int64_t gb, unsigned where, struct kerr *e)
{
	json_t *pool = NULL, *host = NULL;
	bool on_host;
	int r = 0;

	if (gb == 0 || !counted(v))
		return 0;
	on_host = (where & VC_HOST) && volume_on_host_disk(v);
	if ((where & VC_POOL) && jstr(v, "pool_id"))
		store_get("storage-pools", jstr(v, "pool_id"), NULL, false, &pool);
	if (on_host && gb > 0 && e &&
	    store_get("hosts", jstr(v, "host_id"), NULL, false, &host) == 0)
		r = resize_host_fits(host, 0, 0, gb, &kumod_cfg.sched, e);
	if (r == 0 && pool && gb > 0 && e)
		r = pool_room(pool, gb, "", e);
	if (r == 0 && pool)
		r = pool_adjust(jstr(pool, "id"), gb);
	if (r == 0 && on_host)
		r = host_adjust(jstr(v, "host_id"), 0, 0, gb, 0);
	if (r < 0 && e && !e->code)
		kerr_set(e, r, "", "cannot count the volume's space");
	json_decref(host);
	json_decref(pool);
	return r;
}

int volume_charge(const json_t *v, int64_t gb, struct kerr *e)
{
	return volume_charge_in(v, gb, VC_POOL | VC_HOST, e);
}

bool pool_is_shared(const char *pool_id)
{
	json_t *p = NULL;
	bool shared;

	if (!pool_id || store_get("storage-pools", pool_id, NULL, false, &p) < 0)
		return false;
	shared = !strcmp(jstr(p, "type"), "shared");
	json_decref(p);
	return shared;
}

json_t *pool_payload(const char *pool_id)
{
	json_t *p = NULL, *out;

	if (!pool_id || store_get("storage-pools", pool_id, NULL, false, &p) < 0)
		return NULL;
	out = json_pack("{s:s,s:s,s:s?}", "id", jstr(p, "id"), "type", jstr(p, "type"), "path",
	                jstr(p, "path"));
	json_decref(p);
	return out;
}
