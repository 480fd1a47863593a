// SPDX-License-Identifier: MIT
/*
 * SessionService and its Sessions: log in (POST Sessions, open: 201 with
 * X-Auth-Token and Location), list and show sessions, log out (DELETE:
 * one's own with ConfigureSelf, anyone's with ConfigureManager), and the
 * SessionTimeout setting. The sessions themselves, and their file that
 * lets them outlive a restart, are redfish_auth.c's.
 */
#include <errno.h>
#include <string.h>

#include "agent/redfish_agent.h"
#include "common/json.h"
#include "common/log.h"

#define SESSION_SERVICE RF_ROOT "/SessionService"
#define SESSIONS SESSION_SERVICE "/Sessions"
#define SESSION_TYPE "#Session.v1_8_0.Session"

static void get_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;

	rf_reply_resource(
	    call, json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:i, s:o}", "@odata.id",
	                    SESSION_SERVICE, "@odata.type", "#SessionService.v1_2_0.SessionService",
	                    "Id", "SessionService", "Name", "Session Service", "Description",
	                    "Sessions of this node's Redfish service", "Status", "State", "Enabled",
	                    "Health", "OK", "ServiceEnabled", 1, "SessionTimeout",
	                    rf_session_timeout(ctx->auth), "Sessions", rf_link(SESSIONS)));
}

static const struct rf_prop service_props[] = {
	{ .name = "SessionTimeout",
	  .type = RF_T_INT,
	  .min = RF_SESSION_TIMEOUT_MIN,
	  .max = RF_SESSION_TIMEOUT_MAX },
	{ 0 },
};

static void patch_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *changes, *msgs;
	int r;

	if (rf_patch_check(call, service_props, &changes, &msgs) < 0)
		return;
	r = rf_session_set_timeout(ctx->auth, (int)jint(changes, "SessionTimeout", 0));
	json_decref(changes);
	if (r < 0) {
		json_decref(msgs);
		rf_reply_internal(call);
		return;
	}
	rf_reply_patched(call, msgs);
}

static void list_sessions(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *ids = rf_session_ids(ctx->auth), *paths = json_array(), *v;
	size_t i;

	json_array_foreach(ids, i, v)
	{
		json_array_append_new(paths, json_sprintf("%s/%s", SESSIONS, json_string_value(v)));
	}
	json_decref(ids);
	rf_reply_resource(
	    call, rf_collection_new(SESSIONS, "SessionCollection", "Session Collection", paths));
}

/* The Session resource of id; NULL when there is none. */
static json_t *session_body(const struct rf_agent_ctx *ctx, const char *id)
{
	char created[TIME_LEN];
	json_t *s, *body;
	char *path;

	if (rf_session_get(ctx->auth, id, &s) < 0)
		return NULL;
	time_format(jint(s, "created_ms", 0), created);
	path = xasprintf("%s/%s", SESSIONS, id);
	body =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.id", path,
	              "@odata.type", SESSION_TYPE, "Id", id, "Name", "User Session", "Description",
	              "Manager User Session", "UserName", jstr(s, "user"), "CreatedTime", created,
	              "ClientOriginIPAddress", jstr(s, "addr"), "SessionType", "Redfish");
	free(path);
	json_decref(s);
	return body;
}

static void get_session(struct rf_call *call)
{
	json_t *body = session_body(call->data, rf_param(call, "id"));

	if (!body) {
		rf_reply_not_found(call);
		return;
	}
	rf_reply_resource(call, body);
}

static const struct rf_prop login_props[] = {
	{ .name = "UserName", .type = RF_T_STRING, .flags = RF_P_REQUIRED },
	{ .name = "Password", .type = RF_T_STRING, .flags = RF_P_REQUIRED | RF_P_SECRET },
	{ 0 },
};

static void login(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	char id[RF_NAME_MAX], *token = NULL, *path;
	json_t *vals, *body;
	int r;

	if (rf_create_check(call, login_props, &vals) < 0)
		return;
	r = rf_session_create(ctx->auth, jstr(vals, "UserName"), jstr(vals, "Password"),
	                      call->req->client_addr, &token, id);
	json_decref(vals);
	if (r == -ENOSPC) {
		rf_reply_error(call, 503, rf_msg(RF_MSG_SESSION_LIMIT_EXCEEDED, NULL));
		return;
	}
	if (r < 0 && r != -EACCES && r != -EAGAIN) {
		log_warn("redfish: cannot save a new session: %s", strerror(-r));
		rf_reply_internal(call);
		return;
	}
	if (r < 0) {
		/* Wrong, unknown, disabled, locked or too many failures: one answer. */
		rf_reply_error(call, 401, rf_msg(RF_MSG_ACCESS_UNAUTHORIZED, NULL));
		return;
	}
	body = session_body(ctx, id);
	if (!body) {
		free(token);
		rf_reply_internal(call);
		return;
	}
	path = xasprintf("%s/%s", SESSIONS, id);
	rf_reply_created(call, path, body);
	rf_set_header(call, "X-Auth-Token", token);
	free(path);
	explicit_bzero(token, strlen(token));
	free(token);
}

static void logout(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *id = rf_param(call, "id");
	bool own = strcmp(id, call->who.session_id) == 0;
	json_t *s;
	int r;

	if (rf_session_get(ctx->auth, id, &s) < 0) {
		rf_reply_not_found(call);
		return;
	}
	json_decref(s);
	if (!rf_has_privs(call, own ? RF_PRIV_CONFIGURE_SELF : RF_PRIV_CONFIGURE_MANAGER)) {
		rf_reply_error(call, 403, rf_msg(RF_MSG_INSUFFICIENT_PRIVILEGE, NULL));
		return;
	}
	r = rf_session_delete(ctx->auth, id);
	if (r == -ENOENT) {
		rf_reply_not_found(call);
		return;
	}
	if (r < 0) {
		log_warn("redfish: cannot save the end of session %s: %s", id, strerror(-r));
		rf_reply_internal(call);
		return;
	}
	rf_reply_no_content(call);
}

static const struct rf_route routes[] = {
	{ "GET", SESSION_SERVICE, get_service, RF_PRIV_LOGIN, 0 },
	{ "PATCH", SESSION_SERVICE, patch_service, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", SESSIONS, list_sessions, RF_PRIV_LOGIN, 0 },
	{ "POST", SESSIONS, login, 0, RF_OPEN },
	{ "GET", SESSIONS "/{id}", get_session, RF_PRIV_LOGIN, 0 },
	{ "DELETE", SESSIONS "/{id}", logout, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const char *const schemas[] = { "SessionService.v1_2_0", "SessionCollection",
	                               "Session.v1_8_0", NULL };

const struct rf_module rf_session_module = { "SessionService", routes, schemas };
