// SPDX-License-Identifier: MIT
/*
 * /v1/instance-offerings: named VM sizes (vCPUs, memory, root disk). Admins
 * write, everyone reads. Changing an offering does not resize VMs made
 * from it: each VM keeps its own copy of the sizes.
 */
#include "common/json.h"
#include "kumod/api.h"

static const struct field offering_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "vcpus", FT_INT, F_REQUIRED | F_FILTER, 1, 256, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, F_REQUIRED | F_FILTER, 64, 4194304, NULL, NULL, NULL },
	{ "root_disk_gb", FT_INT, F_FILTER, 1, 65536, NULL, NULL, "default 10" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema offering_schema = { "InstanceOffering", offering_fields };

static const struct field offering_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "vcpus", FT_INT, F_REQUIRED, 1, 256, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, F_REQUIRED, 64, 4194304, NULL, NULL, NULL },
	{ "root_disk_gb", FT_INT, 0, 1, 65536, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema offering_create_schema = { "InstanceOfferingCreate",
	                                              offering_create_fields };
static const struct schema offering_update_schema = { "InstanceOfferingUpdate",
	                                              offering_create_fields };

static int offering_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	if (!json_object_get(doc, "root_disk_gb"))
		jset_int(doc, "root_disk_gb", 10);
	return 0;
}

const struct kind kind_offering = {
	.name = "instance-offerings",
	.singular = "instance offering",
	.schema = &offering_schema,
	.create = &offering_create_schema,
	.update = &offering_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_create = offering_on_create,
};

API_CRUD_HANDLERS(offering, kind_offering)

const struct route api_offering_routes[] = {
	API_CRUD_ROUTES("instance-offerings", "instance-offerings", offering_list, offering_get,
	                offering_create, offering_update, offering_delete, ROLE_VIEWER, ROLE_ADMIN,
	                &offering_create_schema, &offering_update_schema),
	{ NULL },
};
