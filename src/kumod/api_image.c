// SPDX-License-Identifier: MIT
/*
 * /v1/images: image records (format, size, sha256, architecture). Members
 * create private images in their account; admins may make images public.
 * The bytes arrive with the qemu driver; until then an image is a record.
 * An image used by a VM cannot be deleted.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/store.h"

static const char *const formats[] = { "qcow2", "raw", "kernel", NULL };
static const char *const arches[] = { "x86_64", "aarch64", NULL };
static const char *const visibilities[] = { "private", "public", NULL };
static const char *const statuses[] = { "ready", "uploading", "error", NULL };

static const struct field image_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "format", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, formats, NULL, NULL },
	{ "size", FT_INT, F_FILTER, 0, INT64_MAX, NULL, NULL, "bytes" },
	{ "sha256", FT_STRING, F_FILTER, 64, 64, NULL, NULL, "hex SHA-256 of the bytes" },
	{ "arch", FT_STRING, F_FILTER, 0, 0, arches, NULL, NULL },
	{ "visibility", FT_STRING, F_FILTER, 0, 0, visibilities, NULL, NULL },
	{ "status", FT_STRING, F_READONLY | F_FILTER, 0, 0, statuses, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema image_schema = { "Image", image_fields };

static const struct field image_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "format", FT_STRING, F_REQUIRED, 0, 0, formats, NULL, NULL },
	{ "size", FT_INT, 0, 0, INT64_MAX, NULL, NULL, NULL },
	{ "sha256", FT_STRING, 0, 64, 64, NULL, NULL, NULL },
	{ "arch", FT_STRING, 0, 0, 0, arches, NULL, NULL },
	{ "visibility", FT_STRING, 0, 0, 0, visibilities, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema image_create_schema = { "ImageCreate", image_create_fields };

static const struct field image_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "visibility", FT_STRING, 0, 0, 0, visibilities, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema image_update_schema = { "ImageUpdate", image_update_fields };

static int image_check(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *sha = jstr(doc, "sha256");
	const char *vis = jstr(doc, "visibility");

	if (sha) {
		for (const char *p = sha; *p; p++)
			if (!isxdigit((unsigned char)*p))
				return kerr_set(e, -EINVAL, "sha256",
				                "sha256 must be 64 hexadecimal digits");
	}
	if (vis && !strcmp(vis, "public") && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "visibility", "only admins may make an image public");
	return 0;
}

static int image_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = image_check(req, doc, e);

	if (r < 0)
		return r;
	if (!jstr(doc, "arch"))
		jset_str(doc, "arch", "x86_64");
	if (!jstr(doc, "visibility"))
		jset_str(doc, "visibility", "private");
	if (!json_object_get(doc, "size"))
		jset_int(doc, "size", 0);
	if (!json_object_get(doc, "sha256"))
		json_object_set_new(doc, "sha256", json_null());
	jset_str(doc, "status", "ready");
	return 0;
}

static int image_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	return image_check(req, doc, e);
}

static int image_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	return api_check_unused("vms", "image_id", jstr(doc, "id"), "VMs", e);
}

const struct kind kind_image = {
	.name = "images",
	.singular = "image",
	.schema = &image_schema,
	.create = &image_create_schema,
	.update = &image_update_schema,
	.scope = SCOPE_ACCOUNT_PUBLIC,
	.unique_name = true,
	.on_create = image_on_create,
	.on_update = image_on_update,
	.on_delete = image_on_delete,
};

API_CRUD_HANDLERS(image, kind_image)

const struct route api_image_routes[] = {
	API_CRUD_ROUTES("images", "images", image_list, image_get, image_create, image_update,
	                image_delete, ROLE_VIEWER, ROLE_MEMBER, &image_create_schema,
	                &image_update_schema),
	{ NULL },
};
