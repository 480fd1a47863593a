// SPDX-License-Identifier: MIT
/*
 * /v1/l2-networks: broadcast domains in a zone (flat bridge, VXLAN with a
 * VNI, or VLAN). Admins write, everyone reads. The hosts build them when
 * the network driver comes; here they are records with their checks: a VNI
 * or VLAN id is used once, and a network with L3 networks stays.
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/store.h"

static const char *const l2_types[] = { "flat", "vxlan", "vlan", NULL };

static const struct field l2_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "type", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, l2_types, NULL, NULL },
	{ "physical_interface", FT_STRING, F_FILTER, 1, 15, NULL, NULL, "host interface" },
	{ "vni", FT_INT, F_FILTER, 1, 16777215, NULL, NULL, "VXLAN network identifier" },
	{ "vlan", FT_INT, F_FILTER, 1, 4094, NULL, NULL, "802.1Q VLAN id" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema l2_schema = { "L2Network", l2_fields };

static const struct field l2_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "type", FT_STRING, F_REQUIRED, 0, 0, l2_types, NULL, NULL },
	{ "physical_interface", FT_STRING, 0, 1, 15, NULL, NULL, NULL },
	{ "vni", FT_INT, 0, 1, 16777215, NULL, NULL, NULL },
	{ "vlan", FT_INT, 0, 1, 4094, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema l2_create_schema = { "L2NetworkCreate", l2_create_fields };

static const struct field l2_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema l2_update_schema = { "L2NetworkUpdate", l2_update_fields };

static bool ifname_valid(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

static int l2_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *type = jstr(doc, "type");
	const char *ifname = jstr(doc, "physical_interface");
	const char *idfield = NULL;
	struct list_query q;
	int64_t n = 0;
	int r;

	r = api_ref(&kind_zone, req, jstr(doc, "zone_id"), "zone_id", NULL, e);
	if (r < 0)
		return r;
	if (ifname && !ifname_valid(ifname))
		return kerr_set(e, -EINVAL, "physical_interface",
		                "physical_interface may hold only letters, digits, '.', '-', '_'");
	if (!strcmp(type, "vxlan")) {
		idfield = "vni";
		if (json_object_get(doc, "vlan"))
			return kerr_set(e, -EINVAL, "vlan",
			                "a vxlan network has a vni, not a vlan");
	} else if (!strcmp(type, "vlan")) {
		idfield = "vlan";
		if (json_object_get(doc, "vni"))
			return kerr_set(e, -EINVAL, "vni", "a vlan network has a vlan, not a vni");
		if (!ifname)
			return kerr_set(e, -EINVAL, "physical_interface",
			                "a vlan network needs a physical_interface");
	} else if (json_object_get(doc, "vni") || json_object_get(doc, "vlan")) {
		return kerr_set(e, -EINVAL, json_object_get(doc, "vni") ? "vni" : "vlan",
		                "a flat network has neither vni nor vlan");
	}
	if (!idfield)
		return 0;
	if (!json_object_get(doc, idfield))
		return kerr_set(e, -EINVAL, idfield, "a %s network needs a %s", type, idfield);
	list_query_init(&q);
	query_add_eq(&q, "type", type);
	query_add_int_eq(&q, idfield, jint(doc, idfield, 0));
	if (!strcmp(type, "vlan"))
		query_add_eq(&q, "physical_interface", ifname);
	r = store_count("l2-networks", &q, &n);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot check the %s", idfield);
	if (n > 0)
		return kerr_set(e, -EEXIST, idfield, "%s %lld is already used by another network",
		                idfield, (long long)jint(doc, idfield, 0));
	return 0;
}

static int l2_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	return api_check_unused("l3-networks", "l2_network_id", jstr(doc, "id"), "L3 networks", e);
}

const struct kind kind_l2 = {
	.name = "l2-networks",
	.singular = "L2 network",
	.schema = &l2_schema,
	.create = &l2_create_schema,
	.update = &l2_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_create = l2_on_create,
	.on_delete = l2_on_delete,
};

API_CRUD_HANDLERS(l2, kind_l2)

const struct route api_l2_routes[] = {
	API_CRUD_ROUTES("l2-networks", "l2-networks", l2_list, l2_get, l2_create, l2_update,
	                l2_delete, ROLE_VIEWER, ROLE_ADMIN, &l2_create_schema, &l2_update_schema),
	{ NULL },
};
