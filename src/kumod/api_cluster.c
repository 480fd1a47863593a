// SPDX-License-Identifier: MIT
/*
 * /v1/clusters: groups of hosts of one hypervisor inside a zone. Admins
 * write, everyone reads. A cluster with hosts cannot be deleted.
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/store.h"

static const char *const hypervisors[] = { "qemu", "sim", NULL };
static const char *const arches[] = { "x86_64", "aarch64", NULL };
static const char *const states[] = { "enabled", "disabled", NULL };

static const struct field cluster_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "hypervisor", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, hypervisors, NULL, NULL },
	{ "arch", FT_STRING, F_FILTER, 0, 0, arches, NULL, "default x86_64" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema cluster_schema = { "Cluster", cluster_fields };

static const struct field cluster_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "hypervisor", FT_STRING, F_REQUIRED, 0, 0, hypervisors, NULL, NULL },
	{ "arch", FT_STRING, 0, 0, 0, arches, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema cluster_create_schema = { "ClusterCreate", cluster_create_fields };

static const struct field cluster_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema cluster_update_schema = { "ClusterUpdate", cluster_update_fields };

static int cluster_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = api_ref(&kind_zone, req, jstr(doc, "zone_id"), "zone_id", NULL, e);

	if (r < 0)
		return r;
	if (!jstr(doc, "arch"))
		jset_str(doc, "arch", "x86_64");
	if (!jstr(doc, "state"))
		jset_str(doc, "state", "enabled");
	return 0;
}

static int cluster_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	return api_check_unused("hosts", "cluster_id", jstr(doc, "id"), "hosts", e);
}

const struct kind kind_cluster = {
	.name = "clusters",
	.singular = "cluster",
	.schema = &cluster_schema,
	.create = &cluster_create_schema,
	.update = &cluster_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_create = cluster_on_create,
	.on_delete = cluster_on_delete,
};

API_CRUD_HANDLERS(cluster, kind_cluster)

const struct route api_cluster_routes[] = {
	API_CRUD_ROUTES("clusters", "clusters", cluster_list, cluster_get, cluster_create,
	                cluster_update, cluster_delete, ROLE_VIEWER, ROLE_ADMIN,
	                &cluster_create_schema, &cluster_update_schema),
	{ NULL },
};
