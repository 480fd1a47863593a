// SPDX-License-Identifier: MIT
/*
 * /v1/users: the people of an account. Owners manage their account's users,
 * admins everyone's. Passwords are write-only and stored as Argon2id hashes;
 * changing a user's password, role or state, or deleting it, revokes its
 * sessions and API keys (in the store, then in auth.c's cache).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/store.h"

static const char *const roles[] = { "admin", "owner", "member", "viewer", NULL };
static const char *const states[] = { "enabled", "disabled", NULL };

static const struct field user_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "password", FT_STRING, F_WRITEONLY, 8, 128, NULL, NULL, NULL },
	{ "role", FT_STRING, F_FILTER, 0, 0, roles, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema user_schema = { "User", user_fields };

static const struct field user_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "password", FT_STRING, F_REQUIRED | F_WRITEONLY, 8, 128, NULL, NULL, NULL },
	{ "role", FT_STRING, 0, 0, 0, roles, NULL, "default member" },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema user_create_schema = { "UserCreate", user_create_fields };

static const struct field user_update_fields[] = {
	{ "password", FT_STRING, F_WRITEONLY, 8, 128, NULL, NULL, NULL },
	{ "role", FT_STRING, 0, 0, 0, roles, NULL, NULL },
	{ "state", FT_STRING, 0, 0, 0, states, NULL, NULL },
	{ NULL },
};
static const struct schema user_update_schema = { "UserUpdate", user_update_fields };

static const char *const user_hidden[] = { "password_hash", NULL };

static int check_role(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *role = jstr(doc, "role");
	json_t *acct = NULL;
	bool admin_acct;
	int r;

	r = store_get("accounts", jstr(doc, "account_id"), NULL, false, &acct);
	if (r < 0)
		return kerr_set(e, -EINVAL, "account_id", "no account with id %s",
		                jstr(doc, "account_id"));
	admin_acct = !strcmp(jstr(acct, "name"), "admin");
	json_decref(acct);
	if (!strcmp(role, "admin") && !admin_acct)
		return kerr_set(e, -EINVAL, "role",
		                "the admin role exists only in the admin account");
	if (role_parse(role) > AUTH(req)->role)
		return kerr_set(e, -EPERM, "role", "you cannot grant a role above your own");
	return 0;
}

static int set_password(json_t *doc, struct kerr *e)
{
	const char *pw = jstr(doc, "password");
	char *hash;

	if (!pw)
		return 0;
	hash = auth_hash_password(pw);
	json_object_del(doc, "password");
	if (!hash)
		return kerr_set(e, -ENOMEM, "password", "cannot hash the password");
	jset_str(doc, "password_hash", hash);
	free(hash);
	return 0;
}

static int user_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *body_acct = jstr(req->body, "account_id");
	int r;

	if (body_acct && !IS_ADMIN(req) && strcmp(body_acct, AUTH(req)->account_id) != 0)
		return kerr_set(e, -EINVAL, "account_id", "no account with id %s", body_acct);
	if (!jstr(doc, "role"))
		jset_str(doc, "role", "member");
	if (!jstr(doc, "state"))
		jset_str(doc, "state", "enabled");
	r = check_role(req, doc, e);
	if (r < 0)
		return r;
	return set_password(doc, e);
}

static int user_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	int r = check_role(req, doc, e);

	if (r < 0)
		return r;
	r = set_password(doc, e);
	if (r < 0)
		return r;
	if (json_object_get(req->body, "password") || json_object_get(req->body, "role") ||
	    json_object_get(req->body, "state"))
		return auth_revoke_user(jstr(doc, "id"));
	return 0;
}

static int user_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	if (!strcmp(jstr(doc, "id"), AUTH(req)->user_id))
		return kerr_set(e, -EBUSY, "", "you cannot delete yourself");
	if (!strcmp(jstr(doc, "role"), "admin") && !strcmp(jstr(doc, "name"), "admin"))
		return kerr_set(e, -EBUSY, "", "the admin user cannot be deleted");
	return auth_revoke_user(jstr(doc, "id"));
}

const struct kind kind_user = {
	.name = "users",
	.singular = "user",
	.schema = &user_schema,
	.create = &user_create_schema,
	.update = &user_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
	.on_create = user_on_create,
	.on_update = user_on_update,
	.on_delete = user_on_delete,
	.hidden = user_hidden,
};

static void user_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_user, req, resp);
}

static void user_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_user, req, resp);
}

static void user_create(struct http_request *req, struct http_response *resp)
{
	api_create(&kind_user, req, resp);
}

/* A change of password, role or state revokes the user's sessions and
 * keys inside the update's transaction; once it is committed, cached
 * copies must go too. */
static void user_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_user, req, resp);
	auth_cache_invalidate();
}

static void user_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_user, req, resp);
	auth_cache_invalidate();
}

const struct route api_user_routes[] = {
	API_CRUD_ROUTES("users", "users", user_list, user_get, user_create, user_update,
	                user_delete, ROLE_VIEWER, ROLE_OWNER, &user_create_schema,
	                &user_update_schema),
	{ NULL },
};
