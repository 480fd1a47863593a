// SPDX-License-Identifier: MIT
/*
 * /v1/hosts: the machines that run VMs. Hosts are created by agent
 * registration (channel.c); admins list, rename, move, enable, disable and
 * delete them. A disabled host keeps its VMs but takes no new ones; a host
 * with VMs cannot be deleted.
 *
 * Each host also shows its "thermal" summary, and its sensors and their
 * history are sub-resources, all from the node telemetry its agent sends
 * (telemetry.h); like hosts themselves, they are for admins only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/maintenance.h"
#include "kumod/host.h"
#include "kumod/store.h"
#include "kumod/telemetry.h"

#define HISTORY_LIMIT_DEFAULT 10000
#define HISTORY_SPAN_DEFAULT_MS (86400LL * 1000)

static const char *const statuses[] = { "connecting", "connected", "disconnected", NULL };
static const char *const states[] = { "enabled", "disabled", "maintenance", NULL };

static const char *const thermal_states[] = {
	"ok", "warning", "alarm", "critical", "unknown", NULL
};

static const struct field alarm_fields[] = {
	{ "id", FT_STRING, F_READONLY, 0, 0, NULL, NULL, "FanFailed:Fan2" },
	{ "severity", FT_STRING, F_READONLY, 0, 0, NULL, NULL, "Warning or Critical (or OK)" },
	{ "message", FT_STRING, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema alarm_schema = { "HostThermalAlarm", alarm_fields };

static const struct field thermal_fields[] = {
	{ "state", FT_STRING, F_READONLY, 0, 0, thermal_states, NULL,
	  "as the agent's thermal controller reports it; unknown without one" },
	{ "stale", FT_BOOL, F_READONLY, 0, 0, NULL, NULL,
	  "older than [telemetry] stale_s: the scheduler ignores it" },
	{ "headroom_c", FT_NUMBER, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "degrees below the warning limit" },
	{ "cpu_cap_pct", FT_NUMBER, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "coolant_c", FT_NUMBER, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "Temperature sensor with context Coolant, else LiquidInlet" },
	{ "power_w", FT_NUMBER, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "Power sensor with context Total or Chassis, else the sum of those not CPU" },
	{ "alarms", FT_OBJECT_ARRAY, F_READONLY, 0, 0, NULL, &alarm_schema, NULL },
	{ "sensor_count", FT_INT, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "telemetry_at", FT_TIME, F_READONLY, 0, 0, NULL, NULL, "when kumod received it" },
	{ "measured_at", FT_TIME, F_READONLY, 0, 0, NULL, NULL, "the agent's clock" },
	{ NULL },
};
static const struct schema thermal_schema = { "HostThermal", thermal_fields };

static const struct field host_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "address", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "status", FT_STRING, F_READONLY | F_FILTER, 0, 0, statuses, NULL, NULL },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, states, NULL, NULL },
	{ "driver", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "accel", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "arch", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "version", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cpu_model", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL,
	  "the CPU its VMs get (the agent's [qemu] cpu_model); a running vm migrates only "
	  "between hosts where it is the same" },
	{ "interfaces", FT_STRING_ARRAY, F_READONLY, 0, 0, NULL, NULL,
	  "its network interfaces (not Kumo's own links), as its agent reports them" },
	{ "cpu_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cpu_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "memory_mb_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "memory_mb_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "disk_gb_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "disk_gb_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "vm_count", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "last_seen_at", FT_TIME, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "thermal", FT_OBJECT, F_READONLY | F_NULLABLE, 0, 0, NULL, &thermal_schema,
	  "from the host's telemetry; null before kumod has any" },
	{ NULL },
};
static const struct schema host_schema = { "Host", host_fields };

static const struct field host_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema host_update_schema = { "HostUpdate", host_update_fields };

static const struct field empty_fields[] = { { NULL } };
static const struct schema host_action_schema = { "HostAction", empty_fields };

static const char *const host_hidden[] = { "secret_hash", NULL };

static int host_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	json_t *cl = NULL;
	const char *cid = jstr(doc, "cluster_id");
	int r;

	if (!cid || (jstr(old, "cluster_id") && !strcmp(cid, jstr(old, "cluster_id"))))
		return 0;
	r = api_ref(&kind_cluster, req, cid, "cluster_id", &cl, e);
	if (r < 0)
		return r;
	if (jint(old, "vm_count", 0) > 0) {
		json_decref(cl);
		return kerr_set(e, -EBUSY, "cluster_id", "a host with VMs cannot change cluster");
	}
	jset_str(doc, "zone_id", jstr(cl, "zone_id"));
	json_decref(cl);
	return 0;
}

static int host_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = api_check_unused("vms", "host_id", jstr(doc, "id"), "VMs", e);

	if (r < 0)
		return r;
	store_cmd_delete_host(jstr(doc, "id"));
	host_forget(jstr(doc, "id"));
	r = telemetry_forget(jstr(doc, "id"));
	if (r < 0)
		return kerr_set(e, r, "", "cannot delete the host's telemetry");
	return 0;
}

/* The thermal summary is not stored: it comes from memory at each read. */
static void host_present(json_t *doc)
{
	json_t *t = jstr(doc, "id") ? telemetry_summary(jstr(doc, "id")) : NULL;

	json_object_set_new(doc, "thermal", t ? t : json_null());
}

const struct kind kind_host = {
	.name = "hosts",
	.singular = "host",
	.schema = &host_schema,
	.update = &host_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_update = host_on_update,
	.on_delete = host_on_delete,
	.hidden = host_hidden,
	.present = host_present,
};

static void host_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_host, req, resp);
}

static void host_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_host, req, resp);
}

static void host_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_host, req, resp);
}

static void host_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_host, req, resp);
}

static void host_set_state(struct http_request *req, struct http_response *resp, const char *state)
{
	struct kerr e = { 0 };
	json_t *h = NULL;
	int r;

	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = api_load(&kind_host, req, http_param(req, "id"), true, &h, &e);
	if (r == 0) {
		jset_str(h, "state", state);
		r = store_update("hosts", h, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot update the host");
	}
	if (r == 0) {
		json_t *d = json_pack("{s:s}", "state", state);

		event_emit("host.state", "hosts", jstr(h, "id"), NULL, d);
		json_decref(d);
		r = store_commit();
		if (r < 0)
			kerr_set(&e, r, "", "cannot update the host");
	} else {
		store_rollback();
	}
	if (r < 0)
		http_reply_kerr(resp, &e);
	else
		http_reply_json(resp, 200, api_present(&kind_host, h));
	json_decref(h);
}

static void host_enable(struct http_request *req, struct http_response *resp)
{
	host_set_state(req, resp, "enabled");
}

static void host_disable(struct http_request *req, struct http_response *resp)
{
	host_set_state(req, resp, "disabled");
}

/* --- sensors ----------------------------------------------------------------- */

static void host_sensors(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *h = NULL;

	if (api_load(&kind_host, req, http_param(req, "id"), false, &h, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	http_reply_json(resp, 200, telemetry_sensors(jstr(h, "id")));
	json_decref(h);
}

/* ?since=&until=&limit= of a history request: 0 or -EINVAL with e. */
static int history_params(struct http_request *req, int64_t *since, int64_t *until, int64_t *limit,
                          struct kerr *e)
{
	const char *s = http_query(req, "since"), *u = http_query(req, "until");
	const char *l = http_query(req, "limit");
	int64_t now = now_ms();
	char *end = NULL;

	*until = now;
	if (u && tele_time_param(u, now, until) < 0)
		return kerr_set(e, -EINVAL, "until",
		                "until must be an RFC 3339 time or a duration like 1h");
	*since = *until - HISTORY_SPAN_DEFAULT_MS;
	if (s && tele_time_param(s, now, since) < 0)
		return kerr_set(e, -EINVAL, "since",
		                "since must be an RFC 3339 time or a duration like 1h");
	if (*since > *until)
		return kerr_set(e, -EINVAL, "since", "since is after until");
	*limit = HISTORY_LIMIT_DEFAULT;
	if (l) {
		long long v = strtoll(l, &end, 10);

		if (!*l || *end || v < 1 || v > TELE_HISTORY_LIMIT_MAX)
			return kerr_set(e, -EINVAL, "limit", "limit must be between 1 and %d",
			                TELE_HISTORY_LIMIT_MAX);
		*limit = v;
	}
	return 0;
}

static void host_sensor_history(struct http_request *req, struct http_response *resp)
{
	const char *sid = http_param(req, "sensor_id");
	int64_t since, until, limit;
	struct kerr e = { 0 };
	json_t *h = NULL, *out = NULL;
	int r;

	r = api_load(&kind_host, req, http_param(req, "id"), false, &h, &e);
	if (r < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	r = history_params(req, &since, &until, &limit, &e);
	if (r == 0)
		r = tele_hist_query(jstr(h, "id"), sid, since, until, limit, &out, &e);
	if (r == -ENOENT && telemetry_has_sensor(jstr(h, "id"), sid)) {
		/* reported, but no sample written yet */
		r = 0;
		out = json_pack("{s:s,s:s,s:[],s:i,s:b}", "host_id", jstr(h, "id"), "sensor_id",
		                sid, "items", "total", 0, "truncated", 0);
	}
	if (r < 0)
		http_reply_kerr(resp, &e);
	else
		http_reply_json(resp, 200, out);
	json_decref(h);
}

const struct route api_host_routes[] = {
	{ "GET", "/v1/hosts", host_list, ROLE_ADMIN, NULL, HTTP_LIST, "List hosts", 0, "hosts" },
	{ "GET", "/v1/hosts/{id}", host_get, ROLE_ADMIN, NULL, 0, "Get a host", 0, "hosts" },
	{ "PATCH", "/v1/hosts/{id}", host_update, ROLE_ADMIN, &host_update_schema, 0,
	  "Rename a host or move it to another cluster", 0, "hosts" },
	{ "DELETE", "/v1/hosts/{id}", host_delete, ROLE_ADMIN, NULL, 0, "Delete a host without VMs",
	  0, "hosts" },
	{ "POST", "/v1/hosts/{id}/actions/enable", host_enable, ROLE_ADMIN, &host_action_schema, 0,
	  "Let the host take new VMs", 0, "hosts" },
	{ "POST", "/v1/hosts/{id}/actions/disable", host_disable, ROLE_ADMIN, &host_action_schema,
	  0, "Stop placing new VMs on the host", 0, "hosts" },
	{ "POST", "/v1/hosts/{id}/actions/maintenance", host_maintenance, ROLE_ADMIN,
	  &host_action_schema, HTTP_JOB,
	  "Maintenance: no new VMs; running VMs live-migrate away (those that cannot are "
	  "stopped); enable ends it",
	  0, "hosts" },
	{ "GET", "/v1/hosts/{id}/sensors", host_sensors, ROLE_ADMIN, NULL, 0,
	  "The host's sensors as last reported, with its thermal summary", 0, "hosts" },
	{ "GET", "/v1/hosts/{id}/sensors/{sensor_id}/history", host_sensor_history, ROLE_ADMIN,
	  NULL, 0, "A sensor's history (?since=&until=&limit=): raw, then 5-minute aggregates", 0,
	  "hosts" },
	{ NULL },
};
