// SPDX-License-Identifier: MIT
/*
 * The aggregator's SessionService. A Redfish session is a kumod session:
 * POST .../Sessions checks the name ("user" or "account/user") and
 * password as POST /v1/sessions does and stores the same kind of session
 * (marked "origin": "redfish", with the login name and client address),
 * so its X-Auth-Token is also a bearer token for /v1, it lives in the
 * store (another kumod on the same store knows it, a restart keeps it)
 * and it ends at kumod's session_ttl_s (an absolute lifetime, shown as
 * SessionTimeout and not writable here). Only kumod admins may open one:
 * other users get 403 and no session. The Session's Id is the store's id
 * of the session, the SHA-256 of its token, which does not give the token.
 * Sessions made through /v1 are not listed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/auth.h"
#include "kumod/kumod.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/role.h"
#include "kumod/store.h"

#define SESSION_SERVICE RF_ROOT "/SessionService"
#define SESSIONS SESSION_SERVICE "/Sessions"
#define SESSION_TYPE "#Session.v1_8_0.Session"
#define ORIGIN "redfish"
#define SESSION_ID_LEN 64 /* the token's SHA-256, hex */

static int64_t timeout_s(void)
{
	int64_t s = kumod_cfg.session_ttl_ms / 1000;

	return s < 30 ? 30 : s > 86400 ? 86400 : s;
}

static void get_service(struct rf_call *call)
{
	rf_reply_resource(
	    call,
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:I, s:o}", "@odata.id",
	              SESSION_SERVICE, "@odata.type", "#SessionService.v1_2_0.SessionService", "Id",
	              "SessionService", "Name", "Session Service", "Description",
	              "Sessions of kumod's Redfish aggregator: kumod sessions, which end "
	              "SessionTimeout seconds after login (kumod's session_ttl_s)",
	              "Status", "State", "Enabled", "Health", "OK", "ServiceEnabled", 1,
	              "SessionTimeout", (json_int_t)timeout_s(), "Sessions", rf_link(SESSIONS)));
}

/* A live Redfish session's document, by id: 0 and *ret, or -ENOENT. */
static int session_load(const char *id, json_t **ret)
{
	const char *exp;
	json_t *s = NULL;
	int64_t t;

	if (!id || strlen(id) != SESSION_ID_LEN || strspn(id, "0123456789abcdef") != SESSION_ID_LEN)
		return -ENOENT;
	if (store_get("sessions", id, NULL, false, &s) < 0)
		return -ENOENT;
	exp = jstr(s, "expires_at");
	if (strcmp(jstr(s, "origin") ? jstr(s, "origin") : "", ORIGIN) != 0 || !exp ||
	    time_parse(exp, &t) < 0 || t <= now_ms()) {
		json_decref(s);
		return -ENOENT;
	}
	*ret = s;
	return 0;
}

static json_t *session_body(const json_t *s)
{
	char *path = xasprintf("%s/%s", SESSIONS, jstr(s, "id"));
	json_t *body;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s}", "@odata.id", path,
	                 "@odata.type", SESSION_TYPE, "Id", jstr(s, "id"), "Name", "User Session",
	                 "Description", "A kumod session opened through Redfish", "UserName",
	                 jstr(s, "user_name") ? jstr(s, "user_name") : "", "CreatedTime",
	                 jstr(s, "created_at"), "ClientOriginIPAddress", jstr(s, "client_addr"),
	                 "SessionType", "Redfish");
	free(path);
	return body;
}

static void list_sessions(struct rf_call *call)
{
	struct list_query q;
	json_t *items = NULL, *paths = json_array(), *it;
	int64_t total, now = now_ms(), t;
	size_t i;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "origin", ORIGIN);
	q.limit = 0; /* all */
	r = store_list("sessions", &q, &items, &total);
	list_query_free(&q);
	if (r < 0) {
		json_decref(paths);
		rf_reply_internal(call);
		return;
	}
	json_array_foreach(items, i, it)
	{
		const char *exp = jstr(it, "expires_at");

		if (exp && time_parse(exp, &t) == 0 && t > now)
			json_array_append_new(paths,
			                      json_sprintf("%s/%s", SESSIONS, jstr(it, "id")));
	}
	json_decref(items);
	rf_reply_resource(
	    call, rf_collection_new(SESSIONS, "SessionCollection", "Session Collection", paths));
}

static void get_session(struct rf_call *call)
{
	json_t *s;

	if (session_load(rf_param(call, "id"), &s) < 0) {
		rf_reply_not_found(call);
		return;
	}
	rf_reply_resource(call, session_body(s));
	json_decref(s);
}

static const struct rf_prop login_props[] = {
	{ .name = "UserName", .type = RF_T_STRING, .flags = RF_P_REQUIRED, .min = 1, .max = 127 },
	{ .name = "Password",
	  .type = RF_T_STRING,
	  .flags = RF_P_REQUIRED | RF_P_SECRET,
	  .min = 1,
	  .max = 128 },
	{ 0 },
};

/* Stores a kumod session for the user: 0 and *ret_token (malloc'd) and
 * *ret_doc, or a negative errno. */
static int session_store(const json_t *acct, const json_t *u, const char *login, const char *addr,
                         char **ret_token, json_t **ret_doc)
{
	char *rnd = random_hex(32), *token = xasprintf("kst_%s", rnd);
	char *hash = sha256_hex(token, strlen(token)), *now = time_now_str();
	char exp[TIME_LEN];
	json_t *s;
	int r;

	time_format(now_ms() + kumod_cfg.session_ttl_ms, exp);
	s = json_pack("{s:s,s:s,s:n,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "id", hash, "account_id",
	              jstr(acct, "id"), "name", "user_id", jstr(u, "id"), "role", jstr(u, "role"),
	              "role_level", role_parse(jstr(u, "role")), "expires_at", exp, "created_at",
	              now, "updated_at", now, "origin", ORIGIN, "user_name", login, "client_addr",
	              addr);
	r = store_insert("sessions", s, false);
	free(rnd);
	free(hash);
	free(now);
	if (r < 0) {
		json_decref(s);
		explicit_bzero(token, strlen(token));
		free(token);
		return r;
	}
	*ret_token = token;
	*ret_doc = s;
	return 0;
}

static void login(struct rf_call *call)
{
	const char *addr = call->req->client_addr ? call->req->client_addr : "unknown";
	json_t *vals, *acct = NULL, *u = NULL, *s = NULL;
	struct rf_principal who;
	char *token = NULL, *path;
	int r;

	if (rf_create_check(call, login_props, &vals) < 0)
		return;
	r = rfa_check_password(jstr(vals, "UserName"), jstr(vals, "Password"), addr, &acct, &u);
	if (r < 0) {
		/* Wrong, unknown, disabled or too many failures: one answer. */
		rf_reply_error(call, 401, rf_msg(RF_MSG_ACCESS_UNAUTHORIZED, NULL));
		goto out;
	}
	rfa_principal_of(u, &who);
	if (!(who.privs & RF_PRIV_LOGIN)) {
		rf_reply_error(call, 403, rf_msg(RF_MSG_INSUFFICIENT_PRIVILEGE, NULL));
		goto out;
	}
	r = session_store(acct, u, jstr(vals, "UserName"), addr, &token, &s);
	if (r < 0) {
		log_warn("redfish: cannot store a session: %s", strerror(-r));
		rf_reply_error(call, 503,
		               rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL));
		goto out;
	}
	path = xasprintf("%s/%s", SESSIONS, jstr(s, "id"));
	rf_reply_created(call, path, session_body(s));
	rf_set_header(call, "X-Auth-Token", token);
	free(path);
	explicit_bzero(token, strlen(token));
	free(token);
out:
	json_decref(vals);
	json_decref(acct);
	json_decref(u);
	json_decref(s);
}

static void logout(struct rf_call *call)
{
	json_t *s;
	int r;

	if (session_load(rf_param(call, "id"), &s) < 0) {
		rf_reply_not_found(call);
		return;
	}
	r = store_delete("sessions", jstr(s, "id"));
	json_decref(s);
	/* Revoked for every thread from here on: no cached copy answers. */
	auth_cache_invalidate();
	if (r < 0 && r != -ENOENT) {
		rf_reply_error(call, 503,
		               rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL));
		return;
	}
	rf_reply_no_content(call);
}

static const struct rf_route routes[] = {
	{ "GET", SESSION_SERVICE, get_service, RF_PRIV_LOGIN, 0 },
	{ "GET", SESSIONS, list_sessions, RF_PRIV_LOGIN, 0 },
	{ "POST", SESSIONS, login, 0, RF_OPEN | RF_UNLOCKED },
	{ "GET", SESSIONS "/{id}", get_session, RF_PRIV_LOGIN, 0 },
	{ "DELETE", SESSIONS "/{id}", logout, RF_PRIV_LOGIN, RF_UNLOCKED },
	{ 0 },
};

static const char *const schemas[] = { "SessionService.v1_2_0", "SessionCollection",
	                               "Session.v1_8_0", NULL };

const struct rf_module rfa_session_module = { "SessionService", routes, schemas };
