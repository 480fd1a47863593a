// SPDX-License-Identifier: MIT
/*
 * /v1/zones: the top of the physical hierarchy. Admins write, everyone reads.
 * A zone in use by clusters or L2 networks cannot be deleted.
 */
#include <errno.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/store.h"

static const char *const zone_states[] = { "enabled", "disabled", NULL };

static const struct field zone_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, "unique zone name" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, zone_states, NULL, "default enabled" },
	{ NULL },
};
static const struct schema zone_schema = { "Zone", zone_fields };

static const struct field zone_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, zone_states, NULL, NULL },
	{ NULL },
};
static const struct schema zone_create_schema = { "ZoneCreate", zone_create_fields };
static const struct schema zone_update_schema = { "ZoneUpdate", zone_create_fields };

static int zone_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	if (!jstr(doc, "state"))
		jset_str(doc, "state", "enabled");
	return 0;
}

static int zone_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = api_check_unused("clusters", "zone_id", jstr(doc, "id"), "clusters", e);

	if (r == 0)
		r = api_check_unused("l2-networks", "zone_id", jstr(doc, "id"), "L2 networks", e);
	return r;
}

const struct kind kind_zone = {
	.name = "zones",
	.singular = "zone",
	.schema = &zone_schema,
	.create = &zone_create_schema,
	.update = &zone_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_create = zone_on_create,
	.on_delete = zone_on_delete,
};

API_CRUD_HANDLERS(zone, kind_zone)

const struct route api_zone_routes[] = {
	API_CRUD_ROUTES("zones", "zones", zone_list, zone_get, zone_create, zone_update,
	                zone_delete, ROLE_VIEWER, ROLE_ADMIN, &zone_create_schema,
	                &zone_update_schema),
	{ NULL },
};
