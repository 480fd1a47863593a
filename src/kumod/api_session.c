// SPDX-License-Identifier: MIT
/*
 * /v1/sessions: log in with account, user and password for a bearer token;
 * log out; who am I. Failed logins are limited per account and per source
 * address, and every failure answers the same message so that it does not
 * tell which of the three was wrong.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/kumod.h"
#include "kumod/store.h"

static const struct field session_create_fields[] = {
	{ "account", FT_STRING, F_REQUIRED, 1, 63, NULL, NULL, "account name" },
	{ "user", FT_STRING, F_REQUIRED, 1, 63, NULL, NULL, "user name" },
	{ "password", FT_STRING, F_REQUIRED | F_WRITEONLY, 1, 128, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema session_create_schema = { "SessionCreate", session_create_fields };

static const struct field session_fields[] = {
	{ "token", FT_STRING, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "expires_at", FT_TIME, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema session_schema = { "Session", session_fields };

const struct kind kind_session = {
	.name = "sessions",
	.singular = "session",
	.schema = &session_schema,
	.scope = SCOPE_ACCOUNT,
};

static void session_create(struct http_request *req, struct http_response *resp)
{
	const char *account = jstr(req->body, "account");
	const char *user = jstr(req->body, "user");
	const char *pw = jstr(req->body, "password");
	json_t *acct = NULL, *u = NULL, *s = NULL;
	char *rnd = NULL, *token = NULL, *hash = NULL, *now = NULL;
	char exp[TIME_LEN];
	bool ok = false;
	int r;

	if (auth_login_allowed(account, req->client_addr) < 0) {
		http_set_header(resp, "Retry-After", "300");
		http_reply_error(resp, -EAGAIN, "", "too many failed logins; try again later");
		return;
	}
	if (store_get_by_name("accounts", account, NULL, &acct) == 0 &&
	    strcmp(jstr(acct, "state") ? jstr(acct, "state") : "enabled", "enabled") == 0 &&
	    store_get_by_name("users", user, jstr(acct, "id"), &u) == 0 &&
	    strcmp(jstr(u, "state") ? jstr(u, "state") : "enabled", "enabled") == 0)
		ok = auth_check_password(jstr(u, "password_hash"), pw);
	else
		auth_check_dummy(pw); /* same time for unknown users */
	if (!ok) {
		auth_login_failed(account, req->client_addr);
		log_info("failed login for %s/%s from %s", account, user, req->client_addr);
		http_reply_error(resp, -EACCES, "", "wrong account, user or password");
		goto out;
	}
	auth_login_succeeded(account, req->client_addr);
	rnd = random_hex(32);
	token = xasprintf("kst_%s", rnd);
	hash = sha256_hex(token, strlen(token));
	now = time_now_str();
	time_format(now_ms() + kumod_cfg.session_ttl_ms, exp);
	s = json_pack("{s:s,s:s,s:n,s:s,s:s,s:i,s:s,s:s,s:s}", "id", hash, "account_id",
	              jstr(acct, "id"), "name", "user_id", jstr(u, "id"), "role", jstr(u, "role"),
	              "role_level", role_parse(jstr(u, "role")), "expires_at", exp, "created_at",
	              now, "updated_at", now);
	r = store_insert("sessions", s, false);
	if (r < 0) {
		http_reply_error(resp, r, "", "cannot store the session");
		goto out;
	}
	http_reply_json(resp, 201,
	                json_pack("{s:s,s:s,s:s,s:s,s:s}", "token", token, "expires_at", exp,
	                          "account_id", jstr(acct, "id"), "user_id", jstr(u, "id"), "role",
	                          jstr(u, "role")));
out:
	free(rnd);
	free(token);
	free(hash);
	free(now);
	json_decref(acct);
	json_decref(u);
	json_decref(s);
}

static void session_delete(struct http_request *req, struct http_response *resp)
{
	struct auth *a = AUTH(req);
	int r;

	if (!a->is_session) {
		http_reply_error(
		    resp, -EINVAL, "",
		    "this token is an API key; revoke it with DELETE /v1/api-keys/{id}");
		return;
	}
	r = store_delete("sessions", a->token_id);
	/* Revoked for every thread from here on: no cached copy answers. */
	auth_cache_invalidate();
	if (r < 0 && r != -ENOENT) {
		http_reply_error(resp, r, "", "cannot revoke the session; retry");
		return;
	}
	http_reply_json(resp, 204, NULL);
}

static void whoami(struct http_request *req, struct http_response *resp)
{
	struct auth *a = AUTH(req);
	json_t *acct = NULL, *u = NULL;

	store_get("accounts", a->account_id, NULL, false, &acct);
	store_get("users", a->user_id, NULL, false, &u);
	http_reply_json(resp, 200,
	                json_pack("{s:s,s:s?,s:s,s:s?,s:s,s:s}", "account_id", a->account_id,
	                          "account", jstr(acct, "name"), "user_id", a->user_id, "user",
	                          jstr(u, "name"), "role", role_name(a->role), "auth",
	                          a->is_session ? "session" : "api_key"));
	json_decref(acct);
	json_decref(u);
}

const struct route api_session_routes[] = {
	{ "POST", "/v1/sessions", session_create, ROLE_NONE, &session_create_schema, 0,
	  "Log in: answers a bearer token", 0, "auth" },
	{ "DELETE", "/v1/sessions/current", session_delete, ROLE_VIEWER, NULL, 0,
	  "Log out: revokes the token used", 0, "auth" },
	{ "GET", "/v1/whoami", whoami, ROLE_VIEWER, NULL, 0, "The caller", 0, "auth" },
	{ NULL },
};
