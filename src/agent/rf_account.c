// SPDX-License-Identifier: MIT
/*
 * AccountService with its Accounts and Roles: the lockout policy, account
 * creation (201 + Location), changes (password, role, enabled, unlock; a
 * user without ConfigureUsers may change only their own password),
 * deletion, and the three predefined roles (read-only). The accounts
 * themselves are redfish_auth.c's; this file turns them into resources.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/redfish_agent.h"
#include "common/json.h"

#define ACCOUNT_SERVICE RF_ROOT "/AccountService"
#define ACCOUNTS ACCOUNT_SERVICE "/Accounts"
#define ROLES ACCOUNT_SERVICE "/Roles"

static const char *const role_ids[] = { "Administrator", "Operator", "ReadOnly", NULL };

/* ---- AccountService ---- */

static void get_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct rf_account_policy p;
	json_t *body;

	rf_auth_policy(ctx->auth, &p);
	body =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:s, s:i, s:i}", "@odata.id",
	              ACCOUNT_SERVICE, "@odata.type", "#AccountService.v1_18_1.AccountService",
	              "Id", "AccountService", "Name", "Account Service", "Description",
	              "Local accounts of this node's Redfish service", "Status", "State", "Enabled",
	              "Health", "OK", "ServiceEnabled", 1, "LocalAccountAuth", "Enabled",
	              "MinPasswordLength", RF_PASSWORD_MIN, "MaxPasswordLength", RF_PASSWORD_MAX);
	jset_int(body, "AccountLockoutThreshold", p.lockout_threshold);
	jset_int(body, "AccountLockoutDuration", p.lockout_duration_s);
	jset_int(body, "AccountLockoutCounterResetAfter", p.lockout_reset_s);
	jset_bool(body, "AccountLockoutCounterResetEnabled", true);
	json_object_set_new(body, "Accounts", rf_link(ACCOUNTS));
	json_object_set_new(body, "Roles", rf_link(ROLES));
	rf_reply_resource(call, body);
}

static const struct rf_prop service_props[] = {
	{ .name = "AccountLockoutThreshold", .type = RF_T_INT, .min = 0, .max = 1000 },
	{ .name = "AccountLockoutDuration", .type = RF_T_INT, .min = 0, .max = 86400 },
	{ .name = "AccountLockoutCounterResetAfter", .type = RF_T_INT, .min = 0, .max = 86400 },
	{ 0 },
};

static void patch_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct rf_account_policy p;
	json_t *changes, *msgs;
	int r;

	if (rf_patch_check(call, service_props, &changes, &msgs) < 0)
		return;
	rf_auth_policy(ctx->auth, &p);
	p.lockout_threshold = (int)jint(changes, "AccountLockoutThreshold", p.lockout_threshold);
	p.lockout_duration_s = (int)jint(changes, "AccountLockoutDuration", p.lockout_duration_s);
	p.lockout_reset_s =
	    (int)jint(changes, "AccountLockoutCounterResetAfter", p.lockout_reset_s);
	json_decref(changes);
	r = rf_auth_set_policy(ctx->auth, &p);
	if (r == -EINVAL) {
		json_decref(msgs);
		rf_reply_error(call, 400,
		               rf_msg(RF_MSG_PROPERTY_VALUE_CONFLICT,
		                      "AccountLockoutCounterResetAfter", "AccountLockoutDuration",
		                      NULL));
		return;
	}
	if (r < 0) {
		json_decref(msgs);
		rf_reply_internal(call);
		return;
	}
	rf_reply_patched(call, msgs);
}

/* ---- Accounts ---- */

static json_t *check_password(const char *name, const json_t *v)
{
	size_t n = json_string_length(v);

	if (n < RF_PASSWORD_MIN || n > RF_PASSWORD_MAX)
		return rf_msg(RF_MSG_PASSWORD_INCORRECT_LENGTH, NULL);
	return NULL;
}

static json_t *check_user(const char *name, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		            s[i]))
			return rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, s, name, NULL);
	return NULL;
}

static json_t *check_unlock(const char *name, const json_t *v)
{
	if (json_is_true(v))
		return rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, "true", name, NULL);
	return NULL;
}

/* Accounts here are Redfish accounts only. */
static json_t *check_account_types(const char *name, const json_t *v)
{
	json_t *msg;
	char *s;

	if (json_array_size(v) == 1 &&
	    strcmp(json_string_value(json_array_get(v, 0)) ?: "", "Redfish") == 0)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	msg = rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, s ? s : "", name, NULL);
	free(s);
	return msg;
}

#define P_USER                                                                                     \
	.name = "UserName", .type = RF_T_STRING, .min = 1, .max = RF_USER_MAX, .check = check_user
#define P_PASSWORD .name = "Password", .type = RF_T_STRING, .check = check_password
#define P_ROLE .name = "RoleId", .type = RF_T_STRING, .values = role_ids
#define P_TYPES .name = "AccountTypes", .type = RF_T_ARRAY, .check = check_account_types

static const struct rf_prop account_patch_props[] = {
	{ P_USER },
	{ P_PASSWORD, .flags = RF_P_SECRET },
	{ P_ROLE },
	{ .name = "Enabled", .type = RF_T_BOOL },
	{ .name = "Locked", .type = RF_T_BOOL, .check = check_unlock },
	{ P_TYPES },
	{ 0 },
};

static const struct rf_prop account_create_props[] = {
	{ P_USER, .flags = RF_P_REQUIRED },
	{ P_PASSWORD, .flags = RF_P_REQUIRED | RF_P_SECRET },
	{ P_ROLE, .flags = RF_P_REQUIRED },
	{ .name = "Enabled", .type = RF_T_BOOL },
	{ P_TYPES },
	{ 0 },
};

static bool own_account(const struct rf_call *call, const char *id)
{
	return call->authenticated && call->who.account_id[0] &&
	       strcmp(call->who.account_id, id) == 0;
}

static void list_accounts(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *ids = rf_account_ids(ctx->auth), *paths = json_array(), *v;
	size_t i;

	json_array_foreach(ids, i, v)
	{
		json_array_append_new(paths, json_sprintf("%s/%s", ACCOUNTS, json_string_value(v)));
	}
	json_decref(ids);
	rf_reply_resource(call, rf_collection_new(ACCOUNTS, "ManagerAccountCollection",
	                                          "Accounts Collection", paths));
}

static void get_account(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *id = rf_param(call, "id");
	json_t *a, *body;
	char *path, *role;

	if (!own_account(call, id) && !rf_has_privs(call, RF_PRIV_CONFIGURE_USERS)) {
		rf_reply_error(call, 403, rf_msg(RF_MSG_INSUFFICIENT_PRIVILEGE, NULL));
		return;
	}
	if (rf_account_get(ctx->auth, id, &a) < 0) {
		rf_reply_not_found(call);
		return;
	}
	path = xasprintf("%s/%s", ACCOUNTS, id);
	role = xasprintf("%s/%s", ROLES, jstr(a, "role"));
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:b, s:s, s:s, s:b, s:[s], s:{s:o}}",
	                 "@odata.id", path, "@odata.type", "#ManagerAccount.v1_14_1.ManagerAccount",
	                 "Id", id, "Name", "User Account", "Description", "A local user account",
	                 "Enabled", jbool(a, "enabled", false), "Password",
	                 "PasswordChangeRequired", 0, "UserName", jstr(a, "user"), "RoleId",
	                 jstr(a, "role"), "Locked", jbool(a, "locked", false), "AccountTypes",
	                 "Redfish", "Links", "Role", rf_link(role));
	free(path);
	free(role);
	json_decref(a);
	rf_reply_resource(call, body);
}

static void create_account(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	char id[RF_NAME_MAX], *path;
	json_t *vals, *body;
	struct kerr e;
	int r;

	if (rf_create_check(call, account_create_props, &vals) < 0)
		return;
	kerr_clear(&e);
	r = rf_account_create(ctx->auth, jstr(vals, "UserName"), jstr(vals, "Password"),
	                      jstr(vals, "RoleId"), jbool(vals, "Enabled", true), id, &e);
	if (r == -EEXIST) {
		rf_reply_error(call, 409,
		               rf_msg(RF_MSG_RESOURCE_ALREADY_EXISTS, "ManagerAccount", "UserName",
		                      jstr(vals, "UserName"), NULL));
	} else if (r == -ENOSPC) {
		rf_reply_error(call, 409, rf_msg(RF_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE, NULL));
	} else if (r == -EINVAL) {
		rf_reply_error(call, 400, rf_msg(RF_MSG_PROPERTY_VALUE_ERROR, e.field, NULL));
	} else if (r < 0) {
		rf_reply_internal(call);
	} else {
		path = xasprintf("%s/%s", ACCOUNTS, id);
		if (rf_get(call, path, &body) == 0)
			rf_reply_created(call, path, body);
		else
			rf_reply_internal(call);
		free(path);
	}
	json_decref(vals);
}

/* Without ConfigureUsers, a caller may only change their own password
 * (ConfigureSelf). */
static bool may_patch(const struct rf_call *call, const char *id)
{
	const char *key;
	json_t *v;

	if (rf_has_privs(call, RF_PRIV_CONFIGURE_USERS))
		return true;
	if (!own_account(call, id) || !rf_has_privs(call, RF_PRIV_CONFIGURE_SELF))
		return false;
	json_object_foreach(call->body, key, v)
	{
		if (strcmp(key, "Password") != 0 && strcmp(key, "@odata.etag") != 0)
			return false;
	}
	return true;
}

static void patch_account(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *id = rf_param(call, "id");
	json_t *changes, *msgs;
	struct kerr e;
	int r;

	if (!may_patch(call, id)) {
		rf_reply_error(call, 403, rf_msg(RF_MSG_INSUFFICIENT_PRIVILEGE, NULL));
		return;
	}
	if (rf_patch_check(call, account_patch_props, &changes, &msgs) < 0)
		return;
	kerr_clear(&e);
	r = rf_account_update(ctx->auth, id, changes, call->who.session_id, &e);
	if (r == 0) {
		rf_reply_patched(call, msgs);
		msgs = NULL;
	} else if (r == -ENOENT) {
		rf_reply_not_found(call);
	} else if (r == -EEXIST) {
		rf_reply_error(call, 409,
		               rf_msg(RF_MSG_RESOURCE_ALREADY_EXISTS, "ManagerAccount", "UserName",
		                      jstr(changes, "UserName"), NULL));
	} else if (r == -EBUSY) {
		/* It would leave no enabled Administrator. */
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_IN_USE, NULL));
	} else if (r == -EINVAL) {
		rf_reply_error(call, 400, rf_msg(RF_MSG_PROPERTY_VALUE_ERROR, e.field, NULL));
	} else {
		rf_reply_internal(call);
	}
	json_decref(changes);
	json_decref(msgs);
}

static void delete_account(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	int r = rf_account_delete(ctx->auth, rf_param(call, "id"));

	if (r == -ENOENT)
		rf_reply_not_found(call);
	else if (r == -EBUSY) /* the last enabled Administrator */
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_CANNOT_BE_DELETED, NULL));
	else if (r < 0)
		rf_reply_internal(call);
	else
		rf_reply_no_content(call);
}

/* ---- Roles ---- */

static void list_roles(struct rf_call *call)
{
	json_t *paths = json_array();

	for (const struct rf_role *r = rf_roles; r->id; r++)
		json_array_append_new(paths, json_sprintf("%s/%s", ROLES, r->id));
	rf_reply_resource(call,
	                  rf_collection_new(ROLES, "RoleCollection", "Roles Collection", paths));
}

static void get_role(struct rf_call *call)
{
	const struct rf_role *r = rf_role_find(rf_param(call, "id"));
	char *path;

	if (!r) {
		rf_reply_not_found(call);
		return;
	}
	path = xasprintf("%s/%s", ROLES, r->id);
	rf_reply_resource(
	    call, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:[]}", "@odata.id", path,
	                    "@odata.type", "#Role.v1_3_3.Role", "Id", r->id, "Name", "User Role",
	                    "Description", r->description, "IsPredefined", 1, "RoleId", r->id,
	                    "AssignedPrivileges", rf_privs_json(r->privs), "OemPrivileges"));
	free(path);
}

static const struct rf_route routes[] = {
	{ "GET", ACCOUNT_SERVICE, get_service, RF_PRIV_LOGIN, 0 },
	{ "PATCH", ACCOUNT_SERVICE, patch_service, RF_PRIV_CONFIGURE_USERS, 0 },
	{ "GET", ACCOUNTS, list_accounts, RF_PRIV_LOGIN, 0 },
	{ "POST", ACCOUNTS, create_account, RF_PRIV_CONFIGURE_USERS, 0 },
	{ "GET", ACCOUNTS "/{id}", get_account, RF_PRIV_LOGIN, 0 },
	{ "PATCH", ACCOUNTS "/{id}", patch_account, RF_PRIV_LOGIN, 0 },
	{ "DELETE", ACCOUNTS "/{id}", delete_account, RF_PRIV_CONFIGURE_USERS, 0 },
	{ "GET", ROLES, list_roles, RF_PRIV_LOGIN, 0 },
	{ "GET", ROLES "/{id}", get_role, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const char *const schemas[] = { "AccountService.v1_18_1",
	                               "ManagerAccountCollection",
	                               "ManagerAccount.v1_14_1",
	                               "RoleCollection",
	                               "Role.v1_3_3",
	                               NULL };

const struct rf_module rf_account_module = { "AccountService", routes, schemas };
