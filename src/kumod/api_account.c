// SPDX-License-Identifier: MIT
/*
 * /v1/accounts: tenants. Admins create and delete them; an account's users
 * see their own account. Creating an account also creates its quota
 * (unlimited by default). An account that still owns VMs, volumes, images,
 * networks or users cannot be deleted; the admin account never can.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/store.h"

static const char *const states[] = { "enabled", "disabled", NULL };

static const struct field account_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema account_schema = { "Account", account_fields };

static const struct field account_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema account_create_schema = { "AccountCreate", account_create_fields };
static const struct schema account_update_schema = { "AccountUpdate", account_create_fields };

static int account_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	char *now = time_now_str();
	json_t *quota;
	int r;

	if (!jstr(doc, "state"))
		jset_str(doc, "state", "enabled");
	quota = json_pack("{s:s,s:s,s:n,s:i,s:i,s:i,s:s,s:s}", "id", jstr(doc, "id"), "account_id",
	                  jstr(doc, "id"), "name", "vm_count", -1, "vcpus", -1, "memory_mb", -1,
	                  "created_at", now, "updated_at", now);
	free(now);
	r = store_insert("quotas", quota, false);
	json_decref(quota);
	if (r < 0)
		return kerr_set(e, r, "", "cannot create the account's quota");
	return 0;
}

static int account_on_update(struct http_request *req, const json_t *old, json_t *doc,
                             struct kerr *e)
{
	if (!strcmp(jstr(old, "name"), "admin") && strcmp(jstr(doc, "name"), "admin") != 0)
		return kerr_set(e, -EINVAL, "name", "the admin account cannot be renamed");
	return 0;
}

static int account_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	static const char *const owned[][2] = {
		{ "vms", "VMs" },       { "volumes", "volumes" },
		{ "images", "images" }, { "l3-networks", "L3 networks" },
		{ "users", "users" },   { "api-keys", "API keys" },
	};
	const char *id = jstr(doc, "id");
	int r;

	if (!strcmp(jstr(doc, "name"), "admin"))
		return kerr_set(e, -EBUSY, "", "the admin account cannot be deleted");
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
		r = api_check_unused(owned[i][0], "account_id", id, owned[i][1], e);
		if (r < 0)
			return r;
	}
	store_delete("quotas", id);
	return 0;
}

const struct kind kind_account = {
	.name = "accounts",
	.singular = "account",
	.schema = &account_schema,
	.create = &account_create_schema,
	.update = &account_update_schema,
	.scope = SCOPE_SELF,
	.unique_name = true,
	.on_create = account_on_create,
	.on_update = account_on_update,
	.on_delete = account_on_delete,
};

static void account_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_account, req, resp);
}

static void account_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_account, req, resp);
}

static void account_create(struct http_request *req, struct http_response *resp)
{
	api_create(&kind_account, req, resp);
}

/* Changes and deletions of accounts drop the cached credentials: nothing
 * cached may outlive what it was checked against. */
static void account_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_account, req, resp);
	auth_cache_invalidate();
}

static void account_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_account, req, resp);
	auth_cache_invalidate();
}

const struct route api_account_routes[] = {
	API_CRUD_ROUTES("accounts", "accounts", account_list, account_get, account_create,
	                account_update, account_delete, ROLE_VIEWER, ROLE_ADMIN,
	                &account_create_schema, &account_update_schema),
	{ NULL },
};
