// SPDX-License-Identifier: MIT
/*
 * Managers of the agent's Redfish service: one Manager, "agent", the
 * kumo-agent process itself (a software service managing the node: its
 * systems and its chassis), with Manager.Reset restarting the agent, and
 * its LogService "Log": the node log (nodelog.h) of thermal decisions and
 * hardware events, as LogEntry resources, with LogService.ClearLog.
 *
 * Not here: the log itself (nodelog.c keeps, trims and persists it) and
 * the restart (agent_restart(): the agent stops cleanly and starts again).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/nodelog.h"
#include "agent/redfish_agent.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define MANAGERS RF_ROOT "/Managers"
#define AGENT_ID "agent"
#define MANAGER MANAGERS "/" AGENT_ID
#define MANAGER_VERSION "Manager.v1_24_0"
#define RESET_ACTION "Manager.Reset"
#define LOG_SERVICES MANAGER "/LogServices"
#define LOG_ID "Log"
#define LOG_SERVICE LOG_SERVICES "/" LOG_ID
#define LOG_SERVICE_VERSION "LogService.v1_9_0"
#define ENTRIES LOG_SERVICE "/Entries"
#define LOG_ENTRY_VERSION "LogEntry.v1_21_0"
#define CLEAR_ACTION "LogService.ClearLog"
#define SYSTEMS RF_ROOT "/Systems"
#define CHASSIS_BOX RF_ROOT "/Chassis/box"
/* The answer goes out before the agent stops. */
#define RESTART_DELAY_MS 300
#define SEQ_DIGITS_MAX 18

/* When this process image started: Manager.LastResetTime (a Manager reset
 * execs the agent again, so this is reset too). */
static int64_t started_ms;
/* One Manager reset per process image: a second one is refused. */
static atomic_bool restarting;

__attribute__((constructor)) static void note_start(void)
{
	started_ms = now_ms();
}

/* The ETag of a body whose "DateTime" moves by itself: a hash of the rest,
 * so that If-Match works across seconds. */
static void set_etag_without_time(struct rf_call *call, json_t *body)
{
	json_t *t = json_incref(json_object_get(body, "DateTime"));
	char *s, *h;

	json_object_del(body, "DateTime");
	s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (t)
		json_object_set_new(body, "DateTime", t);
	h = sha256_hex(s ? s : "", s ? strlen(s) : 0);
	h[16] = '\0';
	rf_set_etag(call, h);
	free(h);
	free(s);
}

/* DateTime and DateTimeLocalOffset (UTC) into body. */
static void set_now(json_t *body)
{
	char now[TIME_LEN];

	time_format(now_ms(), now);
	jset_str(body, "DateTime", now);
	jset_str(body, "DateTimeLocalOffset", "+00:00");
}

/* ---- Managers and the agent --------------------------------------------------- */

static void list_managers(struct rf_call *call)
{
	rf_reply_resource(call, rf_collection_new(MANAGERS, "ManagerCollection",
	                                          "Manager Collection", json_pack("[s]", MANAGER)));
}

static const char *const reset_types[] = { "GracefulRestart", "ForceRestart", NULL };

/* Links: the systems (as the Systems collection lists them) and the box. */
static json_t *manager_links(struct rf_call *call)
{
	json_t *links = json_object(), *systems = NULL, *members;

	if (rf_get(call, SYSTEMS, &systems) == 0) {
		members = json_object_get(systems, "Members");
		json_object_set(links, "ManagerForServers", members ? members : json_array());
		json_decref(systems);
	}
	if (rf_service_has(call->svc, "GET", CHASSIS_BOX)) {
		json_object_set_new(links, "ManagerForChassis",
		                    json_pack("[o]", rf_link(CHASSIS_BOX)));
		json_object_set_new(links, "ManagerInChassis", rf_link(CHASSIS_BOX));
	}
	return links;
}

static void get_manager(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	char started[TIME_LEN];
	json_t *body, *values, *v;

	time_format(started_ms, started);
	body =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
	              "s:{s:s, s:s}, s:o}",
	              "@odata.id", MANAGER, "@odata.type", "#" MANAGER_VERSION ".Manager", "Id",
	              AGENT_ID, "Name", "Kumo agent", "Description",
	              "The kumo-agent of this node: its systems, chassis and cooling",
	              "ManagerType", "Service", "Manufacturer", "Kumo", "Model", "kumo-agent",
	              "FirmwareVersion", AGENT_VERSION, "UUID", ctx->uuid, "ServiceEntryPointUUID",
	              ctx->uuid, "LastResetTime", started, "PowerState", "On", "Status", "State",
	              "Enabled", "Health", "OK", "Links", manager_links(call));
	set_now(body);
	if (ctx->log)
		json_object_set_new(body, "LogServices", rf_link(LOG_SERVICES));
	if (ctx->agent) {
		values = json_array();
		for (const char *const *t = reset_types; *t; t++)
			json_array_append_new(values, json_string(*t));
		v = json_pack("{s:{s:s, s:o}}", "#" RESET_ACTION, "target",
		              MANAGER "/Actions/" RESET_ACTION, "ResetType@Redfish.AllowableValues",
		              values);
	} else {
		v = json_object(); /* `kumo-agent redfish` alone: nothing to restart */
	}
	json_object_set_new(body, "Actions", v);
	set_etag_without_time(call, body);
	rf_reply_resource(call, body);
}

static void *restart_main(void *arg)
{
	struct agent *a = arg;

	usleep(RESTART_DELAY_MS * 1000);
	agent_restart(a);
	return NULL;
}

static const struct rf_prop reset_props[] = {
	{ .name = "ResetType", .type = RF_T_STRING, .flags = RF_P_REQUIRED, .values = reset_types },
	{ 0 },
};

/* GracefulRestart and ForceRestart both stop the agent cleanly and start
 * it again (VMs keep running; the qemu driver reattaches to them). The
 * answer is sent first: the restart comes RESTART_DELAY_MS later. */
static void reset_manager(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	pthread_attr_t attr;
	json_t *params;
	pthread_t t;
	int r;

	if (!ctx->agent) {
		rf_reply_error(call, 400, rf_msg(RF_MSG_ACTION_NOT_SUPPORTED, RESET_ACTION, NULL));
		return;
	}
	if (rf_action_check(call, RESET_ACTION, reset_props, &params) < 0)
		return;
	if (atomic_exchange(&restarting, true)) {
		json_decref(params);
		rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_SHUTTING_DOWN, NULL));
		return;
	}
	log_warn("redfish: %s %s asked by %s: restarting the agent", RESET_ACTION,
	         jstr(params, "ResetType"), call->who.user[0] ? call->who.user : "?");
	json_decref(params);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, restart_main, ctx->agent);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_store(&restarting, false);
		log_warn("redfish: cannot start the restart thread: %s", strerror(r));
		rf_reply_internal(call);
		return;
	}
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

/* ---- the LogService ----------------------------------------------------------- */

static void list_log_services(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;

	rf_reply_resource(
	    call, rf_collection_new(LOG_SERVICES, "LogServiceCollection", "Log Service Collection",
	                            ctx->log ? json_pack("[s]", LOG_SERVICE) : json_array()));
}

static void get_log_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *body;

	if (!ctx->log) {
		rf_reply_not_found(call);
		return;
	}
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:b, s:{s:s, s:s}, s:o, s:{s:{s:s}}}",
	    "@odata.id", LOG_SERVICE, "@odata.type", "#" LOG_SERVICE_VERSION ".LogService", "Id",
	    LOG_ID, "Name", "Node Log", "Description",
	    "Thermal decisions and hardware events of this node", "ServiceEnabled", 1,
	    "LogEntryType", "Event", "OverWritePolicy", "WrapsWhenFull", "MaxNumberOfRecords",
	    NODELOG_KEEP, "Persistency", 1, "Status", "State", "Enabled", "Health", "OK", "Entries",
	    rf_link(ENTRIES), "Actions", "#" CLEAR_ACTION, "target",
	    LOG_SERVICE "/Actions/" CLEAR_ACTION);
	set_now(body);
	set_etag_without_time(call, body);
	rf_reply_resource(call, body);
}

/* Oldest first, as the log keeps them: pages of $top/$skip stay put while
 * entries are added (until the oldest are dropped past NODELOG_KEEP). */
static json_t *entry_body(const json_t *e);

static void list_entries(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *entries, *paths, *e, *coll, *members;
	size_t i;

	if (!ctx->log) {
		rf_reply_not_found(call);
		return;
	}
	entries = nodelog_since(ctx->log, 0, NODELOG_KEEP);
	paths = json_array();
	json_array_foreach(entries, i, e)
	{
		json_array_append_new(
		    paths, json_sprintf("%s/%lld", ENTRIES, (long long)jint(e, "seq", 0)));
	}
	coll = rf_collection_new(ENTRIES, "LogEntryCollection", "Log Entry Collection", paths);
	/* LogEntryCollection's Members are auto-expanded (OData.AutoExpand in
	 * its CSDL): each member is the whole entry, not a link */
	members = json_array();
	json_array_foreach(entries, i, e) json_array_append_new(members, entry_body(e));
	json_object_set_new(coll, "Members", members);
	json_decref(entries);
	rf_reply_resource(call, coll);
}

/* A seq from a path segment: digits only. 0 or -EINVAL. */
static int parse_seq(const char *s, int64_t *ret)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SEQ_DIGITS_MAX || strspn(s, "0123456789") != n)
		return -EINVAL;
	*ret = strtoll(s, NULL, 10);
	return 0;
}

static bool severity_ok(const char *s)
{
	return s && (!strcmp(s, "OK") || !strcmp(s, "Warning") || !strcmp(s, "Critical"));
}

static json_t *entry_body(const json_t *e)
{
	long long seq = (long long)jint(e, "seq", 0);
	char *path = xasprintf("%s/%lld", ENTRIES, seq), *id = xasprintf("%lld", seq);
	char *name = xasprintf("Log Entry %lld", seq), created[TIME_LEN];
	json_t *body, *args = json_array(), *v;
	size_t i;

	time_format(jint(e, "ts", 0), created);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.id", path, "@odata.type",
	                 "#" LOG_ENTRY_VERSION ".LogEntry", "Id", id, "Name", name, "EntryType",
	                 "Event", "Created", created, "Message",
	                 jstr(e, "message") ? jstr(e, "message") : "");
	if (severity_ok(jstr(e, "severity")))
		jset_str(body, "Severity", jstr(e, "severity"));
	if (!str_empty(jstr(e, "message_id")))
		jset_str(body, "MessageId", jstr(e, "message_id"));
	json_array_foreach(json_object_get(e, "args"), i, v)
	{
		if (json_is_string(v))
			json_array_append(args, v);
	}
	json_object_set_new(body, "MessageArgs", args);
	free(path);
	free(id);
	free(name);
	return body;
}

static void get_entry(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *e = NULL;
	int64_t seq;

	if (ctx->log && parse_seq(rf_param(call, "seq"), &seq) == 0)
		e = nodelog_get(ctx->log, seq);
	if (!e) {
		rf_reply_not_found(call);
		return;
	}
	rf_reply_resource(call, entry_body(e));
	json_decref(e);
}

static const struct rf_prop clear_props[] = {
	{ .name = "LogEntriesETag", .type = RF_T_STRING },
	{ 0 },
};

/* An ETag without W/ and quotes: into out. */
static void etag_bare(const char *s, char *out, size_t outlen)
{
	size_t n;

	if (!strncmp(s, "W/", 2))
		s += 2;
	if (*s == '"')
		s++;
	n = strlen(s);
	if (n && s[n - 1] == '"')
		n--;
	snprintf(out, outlen, "%.*s", (int)n, s);
}

/* With LogEntriesETag, the log is cleared only if the Entries collection
 * is still what the client saw (else 428, as the schema asks). */
static void clear_log(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	char want[RF_ETAG_MAX], have[RF_ETAG_MAX] = "";
	json_t *params, *entries = NULL;

	if (!ctx->log) {
		rf_reply_not_found(call);
		return;
	}
	if (rf_action_check(call, CLEAR_ACTION, clear_props, &params) < 0)
		return;
	if (jstr(params, "LogEntriesETag")) {
		etag_bare(jstr(params, "LogEntriesETag"), want, sizeof(want));
		if (rf_get(call, ENTRIES, &entries) == 0 && jstr(entries, "@odata.etag"))
			etag_bare(jstr(entries, "@odata.etag"), have, sizeof(have));
		json_decref(entries);
		if (strcmp(want, have) != 0) {
			json_decref(params);
			rf_reply_error(call, 428, rf_msg(RF_MSG_PRECONDITION_FAILED, NULL));
			return;
		}
	}
	json_decref(params);
	nodelog_clear(ctx->log);
	log_info("redfish: the node log was cleared by %s",
	         call->who.user[0] ? call->who.user : "?");
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static const struct rf_route routes[] = {
	{ "GET", MANAGERS, list_managers, RF_PRIV_LOGIN, 0 },
	{ "GET", MANAGER, get_manager, RF_PRIV_LOGIN, 0 },
	{ "POST", MANAGER "/Actions/" RESET_ACTION, reset_manager, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", LOG_SERVICES, list_log_services, RF_PRIV_LOGIN, 0 },
	{ "GET", LOG_SERVICE, get_log_service, RF_PRIV_LOGIN, 0 },
	{ "GET", ENTRIES, list_entries, RF_PRIV_LOGIN, 0 },
	{ "GET", ENTRIES "/{seq}", get_entry, RF_PRIV_LOGIN, 0 },
	{ "POST", LOG_SERVICE "/Actions/" CLEAR_ACTION, clear_log, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ 0 },
};

static const char *const schemas[] = {
	MANAGER_VERSION,
	"ManagerCollection",
	LOG_SERVICE_VERSION,
	"LogServiceCollection",
	LOG_ENTRY_VERSION,
	"LogEntryCollection",
	NULL,
};

const struct rf_module rf_manager_module = { "Managers", routes, schemas };
