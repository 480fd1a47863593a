// SPDX-License-Identifier: MIT
/*
 * EventService of the agent's Redfish service: the service's settings
 * (ServiceEnabled, DeliveryRetryAttempts, DeliveryRetryIntervalSeconds),
 * the push subscriptions (EventDestination: create with its filters, show,
 * change Context and DeliveryRetryPolicy, delete, suspend and resume),
 * SubmitTestEvent and TestEventSubscription, and the SSE stream at
 * /redfish/v1/EventService/SSE. Events come from the node log (every new
 * entry, nodelog_listen()) and from the two test actions; metric reports
 * from rf_telemetry.c.
 *
 * Not here: queues, delivery, files and filters (rf_event_push.c, through
 * rf_event.h).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/nodelog.h"
#include "agent/redfish_agent.h"
#include "agent/rf_event.h"
#include "agent/thermal.h"
#include "common/json.h"
#include "common/log.h"

#define EVENT_SERVICE RF_ROOT "/EventService"
#define SUBSCRIPTIONS EVENT_SERVICE "/Subscriptions"
#define SSE_URI EVENT_SERVICE "/SSE"
#define SERVICE_TYPE "#EventService.v1_12_0.EventService"
#define DEST_TYPE "#EventDestination.v1_16_0.EventDestination"
#define SUBMIT_TEST "EventService.SubmitTestEvent"
#define TEST_SUBSCRIPTION "EventService.TestEventSubscription"
#define RESUME "EventDestination.ResumeSubscription"
#define SUSPEND "EventDestination.SuspendSubscription"
#define CHASSIS RF_ROOT "/Chassis/box"
#define IMMERSION_UNIT RF_ROOT "/ThermalEquipment/ImmersionUnits/1"
/* For node log entries without a MessageId of their own. */
#define GENERIC_MESSAGE_ID "ResourceEvent.1.4.3.ResourceChanged"
#define TEST_MESSAGE_ID "ResourceEvent.1.4.3.TestMessage"
#define DESTINATION_MAX 1024
#define CONTEXT_MAX 256
#define FILTER_MAX 32 /* members of a filter array */
#define TEXT_MAX 1024
#define KEEPALIVE_MS 15000

static const char *const severities[] = { "OK", "Warning", "Critical", NULL };
static const char *const policies[] = { "SuspendRetries", "TerminateAfterRetries", NULL };
static const char *const formats[] = { "Event", "MetricReport", NULL };
static const char *const protocols[] = { "Redfish", NULL };
static const char *const sub_types[] = { "RedfishEvent", NULL };
static const char *const event_types[] = { "StatusChange",  "ResourceUpdated",
	                                   "ResourceAdded", "ResourceRemoved",
	                                   "Alert",         "MetricReport",
	                                   "Other",         NULL };

/* The resource type of a path, from the collection it is in (or the
 * singleton it is): what ResourceTypes filters match. The types events
 * can have; EventService.ResourceTypes lists them. */
static const struct {
	const char *segment, *type;
	bool member; /* a member of the collection named segment */
} types[] = {
	{ "Chassis", "Chassis", true },
	{ "Systems", "ComputerSystem", true },
	{ "Managers", "Manager", true },
	{ "ImmersionUnits", "CoolingUnit", true },
	{ "Heaters", "Heater", true },
	{ "Controls", "Control", true },
	{ "Fans", "Fan", true },
	{ "Sensors", "Sensor", true },
	{ "LogServices", "LogService", true },
	{ "Entries", "LogEntry", true },
	{ "Subscriptions", "EventDestination", true },
	{ "MetricReports", "MetricReport", true },
	{ "MetricReportDefinitions", "MetricReportDefinition", true },
	{ "Accounts", "ManagerAccount", true },
	{ "Sessions", "Session", true },
	{ "EventService", "EventService", false },
	{ "TelemetryService", "TelemetryService", false },
	{ "ThermalSubsystem", "ThermalSubsystem", false },
	{ "PowerSubsystem", "PowerSubsystem", false },
	{ "EnvironmentMetrics", "EnvironmentMetrics", false },
	{ "AccountService", "AccountService", false },
	{ "SessionService", "SessionService", false },
};

static const char *type_of_path(const char *path)
{
	const char *last = strrchr(path, '/'), *prev;
	size_t n;

	if (!last || last == path)
		return NULL;
	for (prev = last - 1; prev > path && *prev != '/'; prev--)
		;
	prev++;
	n = (size_t)(last - prev);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (types[i].member && strlen(types[i].segment) == n &&
		    strncmp(prev, types[i].segment, n) == 0)
			return types[i].type;
		if (!types[i].member && strcmp(last + 1, types[i].segment) == 0)
			return types[i].type;
	}
	return NULL;
}

/* ---- durations (rf_event.h) ---- */

int rf_duration_parse(const char *s, int64_t *ret_ms)
{
	const char *p = s;
	double total = 0;
	bool time = false, any = false;
	char last = 0;

	if (!s || *p++ != 'P')
		return -EINVAL;
	while (*p) {
		static const char order[] = "DHMS";
		char *end;
		double v;

		if (*p == 'T' && !time) {
			time = true;
			last = 0;
			p++;
			if (!*p)
				return -EINVAL;
			continue;
		}
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = strtod(p, &end);
		if (end == p || strspn(p, "0123456789.") != (size_t)(end - p) ||
		    (!time && *end != 'D') || (time && !strchr("HMS", *end)) || !*end)
			return -EINVAL;
		if (strchr(p, '.') && strchr(p, '.') < end && *end != 'S')
			return -EINVAL;
		if (last && strchr(order, *end) <= strchr(order, last))
			return -EINVAL;
		last = *end;
		total += v * (*end == 'D' ? 86400 : *end == 'H' ? 3600 : *end == 'M' ? 60 : 1);
		any = true;
		p = end + 1;
	}
	if (!any || total > 366.0 * 86400)
		return -EINVAL;
	*ret_ms = (int64_t)(total * 1000 + 0.5);
	return 0;
}

void rf_duration_format(int64_t ms, char *out, size_t len)
{
	int64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	size_t o;

	o = (size_t)snprintf(out, len, "P");
	if (d && o < len)
		o += (size_t)snprintf(out + o, len - o, "%" PRId64 "D", d);
	if ((h || m || s % 60 || ms % 1000 || !d) && o < len)
		o += (size_t)snprintf(out + o, len - o, "T");
	if (h && o < len)
		o += (size_t)snprintf(out + o, len - o, "%" PRId64 "H", h);
	if (m && o < len)
		o += (size_t)snprintf(out + o, len - o, "%" PRId64 "M", m);
	if (ms % 1000 && o < len)
		snprintf(out + o, len - o, "%.3fS", (double)(ms % 60000) / 1000);
	else if ((s % 60 || ms < 1000 || (!d && !h && !m)) && o < len)
		snprintf(out + o, len - o, "%" PRId64 "S", s % 60);
}

/* ---- the EventService ---- */

/* The registry prefixes the node's events use (the controller's messages
 * and the generic ones): EventService.RegistryPrefixes. */
static json_t *registry_prefixes(void)
{
	json_t *list = json_array();
	const char *reg, *key, *text;
	enum thermal_severity sev;
	int nargs;

	json_array_append_new(list, json_string("ResourceEvent"));
	for (size_t i = 0; thermal_ctl_message(i, &reg, &key, &sev, &nargs, &text) == 0; i++) {
		size_t n = strcspn(reg, "."), k;
		bool seen = false;
		json_t *v;

		json_array_foreach(list, k, v)
		{
			seen = seen || (strlen(json_string_value(v)) == n &&
			                !strncmp(json_string_value(v), reg, n));
		}
		if (!seen)
			json_array_append_new(list, json_stringn(reg, n));
	}
	return list;
}

static json_t *resource_types(void)
{
	json_t *list = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		json_array_append_new(list, json_string(types[i].type));
	return list;
}

static json_t *string_list(const char *const *v)
{
	json_t *list = json_array();

	for (; *v; v++)
		json_array_append_new(list, json_string(*v));
	return list;
}

static bool service_ready(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;

	if (ctx->events)
		return true;
	rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL));
	return false;
}

static void get_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct rf_events_settings set;
	json_t *body;

	if (!service_ready(call))
		return;
	rf_events_settings(ctx->events, &set);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:i, s:i}", "@odata.id",
	                 EVENT_SERVICE, "@odata.type", SERVICE_TYPE, "Id", "EventService", "Name",
	                 "Event Service", "Description",
	                 "Events of this node: its thermal decisions and hardware events", "Status",
	                 "State", set.enabled ? "Enabled" : "Disabled", "Health", "OK",
	                 "ServiceEnabled", set.enabled, "DeliveryRetryAttempts", set.retry_attempts,
	                 "DeliveryRetryIntervalSeconds", set.retry_interval_s);
	json_object_set_new(body, "EventFormatTypes", string_list(formats));
	json_object_set_new(body, "RegistryPrefixes", registry_prefixes());
	json_object_set_new(body, "ResourceTypes", resource_types());
	json_object_set_new(body, "Severities", string_list(severities));
	jset_bool(body, "ExcludeMessageId", true);
	jset_bool(body, "ExcludeRegistryPrefix", true);
	jset_bool(body, "OriginResourcesSupported", true);
	jset_bool(body, "SubordinateResourcesSupported", true);
	jset_bool(body, "IncludeOriginOfConditionSupported", false);
	jset_str(body, "ServerSentEventUri", SSE_URI);
	json_object_set_new(body, "SSEFilterPropertiesSupported",
	                    json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "EventFormatType", 0,
	                              "MessageId", 0, "MetricReportDefinition", 0, "OriginResource",
	                              0, "RegistryPrefix", 0, "ResourceType", 0,
	                              "SubordinateResources", 0));
	json_object_set_new(body, "Subscriptions", rf_link(SUBSCRIPTIONS));
	json_object_set_new(body, "Actions",
	                    json_pack("{s:{s:s, s:o}, s:{s:s}}", "#" SUBMIT_TEST, "target",
	                              EVENT_SERVICE "/Actions/" SUBMIT_TEST,
	                              "MessageSeverity@Redfish.AllowableValues",
	                              string_list(severities), "#" TEST_SUBSCRIPTION, "target",
	                              EVENT_SERVICE "/Actions/" TEST_SUBSCRIPTION));
	rf_reply_resource(call, body);
}

static const struct rf_prop service_props[] = {
	{ .name = "ServiceEnabled", .type = RF_T_BOOL },
	{ .name = "DeliveryRetryAttempts",
	  .type = RF_T_INT,
	  .min = 0,
	  .max = RF_EVENTS_RETRY_ATTEMPTS_MAX },
	{ .name = "DeliveryRetryIntervalSeconds",
	  .type = RF_T_INT,
	  .min = 1,
	  .max = RF_EVENTS_RETRY_INTERVAL_MAX },
	{ 0 },
};

static void patch_service(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct rf_events_settings set;
	json_t *changes, *msgs;
	int r;

	if (!service_ready(call) || rf_patch_check(call, service_props, &changes, &msgs) < 0)
		return;
	rf_events_settings(ctx->events, &set);
	set.enabled = jbool(changes, "ServiceEnabled", set.enabled);
	set.retry_attempts = (int)jint(changes, "DeliveryRetryAttempts", set.retry_attempts);
	set.retry_interval_s =
	    (int)jint(changes, "DeliveryRetryIntervalSeconds", set.retry_interval_s);
	json_decref(changes);
	r = rf_events_set_settings(ctx->events, &set);
	if (r < 0) {
		log_warn("redfish: cannot save the EventService settings: %s", strerror(-r));
		json_decref(msgs);
		rf_reply_internal(call);
		return;
	}
	rf_reply_patched(call, msgs);
}

/* ---- events from the node log ---- */

static bool is_thermal_sensor(const char *s)
{
	return !strcmp(s, "CoolantTemp") || !strcmp(s, "CPUPackageTemp") ||
	       !strcmp(s, "AmbientTemp");
}

/* The first of the candidate paths the service routes, else the chassis. */
static char *first_routed(const struct rf_agent_ctx *ctx, char *const *cands, size_t n)
{
	char *found = NULL;

	for (size_t i = 0; i < n && !found; i++)
		if (cands[i] && rf_service_has(ctx->svc, "GET", cands[i]))
			found = xstrdup(cands[i]);
	for (size_t i = 0; i < n; i++)
		free(cands[i]);
	return found ? found : xstrdup(CHASSIS);
}

/* OriginOfCondition of a node log entry, from its message and first
 * argument: the fan, sensor, VM (ComputerSystem) or heater it is about
 * when the service has that resource, else the immersion unit or the
 * chassis. malloc'd. */
static char *origin_of(const struct rf_agent_ctx *ctx, const char *mid, const json_t *args)
{
	const char *a0 = json_string_value(json_array_get(args, 0)), *key;
	char *c[3] = { NULL, NULL, NULL };
	char prefix[64];

	if (!mid) { /* a VM action that failed: its first argument is the VM */
		if (a0 && !strchr(a0, '/'))
			c[0] = xasprintf(RF_ROOT "/Systems/%s", a0);
		return first_routed(ctx, c, ARRAY_SIZE(c));
	}
	snprintf(prefix, sizeof(prefix), "%.*s", (int)strcspn(mid, "."), mid);
	key = strrchr(mid, '.') ? strrchr(mid, '.') + 1 : mid;
	if (a0 && strchr(a0, '/'))
		a0 = NULL; /* never a path segment */
	if (a0 && !strncmp(key, "Fan", 3)) {
		c[0] = xasprintf(CHASSIS "/ThermalSubsystem/Fans/%s", a0);
	} else if (a0 && (!strcmp(prefix, "SensorEvent") || is_thermal_sensor(a0))) {
		c[0] = xasprintf(CHASSIS "/Sensors/%s", a0);
		if (!strcmp(a0, "CoolantTemp"))
			c[1] = xstrdup(IMMERSION_UNIT);
	} else if (a0 && !strcmp(a0, "Heater")) {
		c[0] = xstrdup(CHASSIS "/ThermalSubsystem/Heaters/1");
		c[1] = xstrdup(IMMERSION_UNIT);
	} else if (a0 && !strncmp(key, "ResourcePower", 13)) {
		c[0] = xasprintf(RF_ROOT "/Systems/%s", a0);
	} else {
		c[0] = xstrdup(IMMERSION_UNIT);
	}
	return first_routed(ctx, c, ARRAY_SIZE(c));
}

static const char *severity_of(const char *s)
{
	for (size_t i = 0; s && severities[i]; i++)
		if (!strcmp(s, severities[i]))
			return severities[i];
	return "OK";
}

/* nodelog_listen()'s callback, in the thread that appended: builds the
 * event and queues it, never waiting for a destination. */
static void on_log_entry(void *cls, const json_t *e)
{
	struct rf_agent_ctx *ctx = cls;
	const char *mid = jstr(e, "message_id");
	const json_t *args = json_object_get(e, "args");
	char ts[TIME_LEN], *origin;
	json_t *rec;

	time_format(jint(e, "ts", now_ms()), ts);
	origin = origin_of(ctx, mid, args);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:o}", "MessageId", mid ? mid : GENERIC_MESSAGE_ID,
	                "Message", jstr(e, "message") ?: "", "MessageSeverity",
	                severity_of(jstr(e, "severity")), "EventTimestamp", ts, "OriginOfCondition",
	                rf_link(origin));
	json_object_set_new(rec, "MessageArgs",
	                    mid && json_is_array(args) ? json_deep_copy(args) : json_array());
	rf_events_publish(ctx->events, rec, type_of_path(origin));
	free(origin);
}

/* ---- the test actions ---- */

/* Characters of a registry prefix or message key. */
static size_t span_word(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
}

/* A MessageId: "Prefix.Major.Minor.Key" or "Prefix.Major.Minor.Errata.Key"
 * (the pattern of Event's MessageId, ^[A-Za-z0-9]+\.\d+\.\d+\.[A-Za-z0-9.]+$). */
static bool message_id_valid(const char *s)
{
	size_t n = span_word(s);

	if (n == 0 || s[n] != '.' || strlen(s) > 128)
		return false;
	s += n + 1;
	for (int i = 0; i < 2; i++) {
		n = strspn(s, "0123456789");
		if (n == 0 || s[n] != '.')
			return false;
		s += n + 1;
	}
	if (!*s)
		return false;
	while (*s) {
		n = span_word(s);
		if (n == 0 || (s[n] != '.' && s[n] != '\0'))
			return false;
		s += n + (s[n] == '.');
		if (s[-1] == '.' && !*s)
			return false;
	}
	return true;
}

static json_t *check_message_id(const char *name, const json_t *v)
{
	if (message_id_valid(json_string_value(v)))
		return NULL;
	return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR, json_string_value(v), name,
	              SUBMIT_TEST, NULL);
}

static json_t *check_args(const char *name, const json_t *v)
{
	size_t i;
	json_t *x;

	if (json_array_size(v) > 16)
		return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_ERROR, name, SUBMIT_TEST, NULL);
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x) || json_string_length(x) > 256)
			return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_ERROR, name, SUBMIT_TEST, NULL);
	}
	return NULL;
}

static json_t *check_origin_param(const char *name, const json_t *v)
{
	const char *s = json_string_value(v);

	if (str_startswith(s, RF_ROOT "/") && !strpbrk(s, " \t\r\n\"#?"))
		return NULL;
	return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR, s, name, SUBMIT_TEST, NULL);
}

static json_t *check_time_param(const char *name, const json_t *v)
{
	int64_t ms;

	if (time_parse(json_string_value(v), &ms) == 0)
		return NULL;
	return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR, json_string_value(v), name,
	              SUBMIT_TEST, NULL);
}

#define NULLABLE_STRING(n, m) .name = n, .type = RF_T_STRING, .flags = RF_P_NULLABLE, .max = m

static const struct rf_prop submit_props[] = {
	{ .name = "MessageId",
	  .type = RF_T_STRING,
	  .flags = RF_P_REQUIRED,
	  .check = check_message_id },
	{ .name = "MessageArgs", .type = RF_T_ARRAY, .flags = RF_P_NULLABLE, .check = check_args },
	{ NULLABLE_STRING("Message", TEXT_MAX) },
	{ .name = "MessageSeverity",
	  .type = RF_T_STRING,
	  .flags = RF_P_NULLABLE,
	  .values = severities },
	{ NULLABLE_STRING("Severity", 64) },
	{ NULLABLE_STRING("OriginOfCondition", 512), .check = check_origin_param },
	{ NULLABLE_STRING("EventId", 64) }, /* ignored: the service gives its own */
	{ NULLABLE_STRING("EventTimestamp", 64), .check = check_time_param },
	{ .name = "EventType", .type = RF_T_STRING, .flags = RF_P_NULLABLE, .values = event_types },
	{ .name = "EventGroupId", .type = RF_T_INT, .flags = RF_P_NULLABLE },
	{ 0 },
};

/* The resource type of a test event's origin: its @odata.type when the
 * caller may read it, else from the path. */
static char *type_of_origin(struct rf_call *call, const char *origin)
{
	const char *t;
	json_t *body;
	char *type = NULL;

	if (rf_get(call, origin, &body) == 0) {
		t = jstr(body, "@odata.type");
		if (t && t[0] == '#')
			type = xasprintf("%.*s", (int)strcspn(t + 1, "."), t + 1);
		json_decref(body);
	}
	if (!type && type_of_path(origin))
		type = xstrdup(type_of_path(origin));
	return type;
}

static void submit_test_event(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	static const char *const copied[] = { "MessageId",    "Message",    "MessageSeverity",
		                              "Severity",     "EventType",  "EventTimestamp",
		                              "EventGroupId", "MessageArgs" };
	const char *origin;
	char *type = NULL;
	json_t *params, *rec;

	if (!service_ready(call) || rf_action_check(call, SUBMIT_TEST, submit_props, &params) < 0)
		return;
	rec = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++) {
		json_t *v = json_object_get(params, copied[i]);

		if (v && !json_is_null(v))
			json_object_set(rec, copied[i], v);
	}
	origin = jstr(params, "OriginOfCondition");
	if (origin) {
		json_object_set_new(rec, "OriginOfCondition", rf_link(origin));
		type = type_of_origin(call, origin);
	}
	json_decref(params);
	if (!rf_events_publish(ctx->events, rec, type)) {
		free(type);
		rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_DISABLED, EVENT_SERVICE, NULL));
		return;
	}
	free(type);
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static void test_event_subscription(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *rec;

	if (!service_ready(call))
		return;
	if (call->body && json_object_size(call->body)) {
		const char *key = json_object_iter_key(json_object_iter(call->body));

		rf_reply_error(
		    call, 400,
		    rf_msg(RF_MSG_ACTION_PARAMETER_UNKNOWN, TEST_SUBSCRIPTION, key, NULL));
		return;
	}
	rec = json_pack("{s:s, s:s, s:s, s:[], s:o}", "MessageId", TEST_MESSAGE_ID, "Message",
	                "Test message.", "MessageSeverity", "OK", "MessageArgs",
	                "OriginOfCondition", rf_link(EVENT_SERVICE));
	if (!rf_events_publish(ctx->events, rec, "EventService")) {
		rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_DISABLED, EVENT_SERVICE, NULL));
		return;
	}
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

/* ---- SSE ---- */

struct sse {
	struct rf_events *ev; /* weak: it outlives the listener's streams */
	uint64_t last;        /* the last EventId sent */
	char *buf;            /* owned; what is left to send from off */
	size_t len, off;
	int64_t quiet_ms; /* monotonic: when something was last sent */
};

static ssize_t sse_read(void *cls, char *out, size_t max)
{
	struct sse *st = cls;
	uint64_t id;
	char *text;
	size_t n;
	int r;

	if (st->off >= st->len) {
		free(st->buf);
		st->buf = NULL;
		st->len = st->off = 0;
		r = rf_events_next(st->ev, st->last, 1000, &id, &text);
		if (r < 0)
			return -1;
		if (r == 1) {
			st->buf = xasprintf("id: %" PRIu64 "\ndata: %s\n\n", id, text);
			st->last = id;
			free(text);
		} else if (mono_ms() - st->quiet_ms >= KEEPALIVE_MS) {
			st->buf = xstrdup(": keepalive\n\n");
		} else {
			return 0;
		}
		st->len = strlen(st->buf);
		st->quiet_ms = mono_ms();
	}
	n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(out, st->buf + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *st = cls;

	rf_events_stream_close(st->ev);
	free(st->buf);
	free(st);
}

/* Is there a "$" query parameter (the SSE stream supports none)? */
static bool has_dollar_param(const char *query)
{
	for (const char *p = query; p && *p; p++)
		if ((p == query || p[-1] == '&') && (*p == '$' || !strncmp(p, "%24", 3)))
			return true;
	return false;
}

static void get_sse(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *last = rf_header(call, "Last-Event-ID");
	struct rf_events_settings set;
	struct sse *st;
	char *end;

	if (!service_ready(call))
		return;
	if (strcmp(call->req->method, "HEAD") == 0) { /* the headers only, no stream */
		rf_reply_raw(call, 200, "text/event-stream", "", 0);
		return;
	}
	if (has_dollar_param(call->req->query)) {
		rf_reply_error(call, 501, rf_msg(RF_MSG_QUERY_NOT_SUPPORTED, NULL));
		return;
	}
	rf_events_settings(ctx->events, &set);
	if (!set.enabled) {
		rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_DISABLED, EVENT_SERVICE, NULL));
		return;
	}
	if (!rf_events_stream_open(ctx->events)) {
		rf_reply_error(call, 503, rf_msg(RF_MSG_EVENT_SUBSCRIPTION_LIMIT_EXCEEDED, NULL));
		return;
	}
	st = xcalloc(1, sizeof(*st));
	st->ev = ctx->events;
	st->last = rf_events_last_id(ctx->events);
	if (last && *last) {
		unsigned long long v = strtoull(last, &end, 10);

		if (!*end && v < st->last)
			st->last = v;
	}
	/* A comment first, so that the client has the headers at once. */
	st->buf = xstrdup(": Kumo Redfish event stream\n\n");
	st->len = strlen(st->buf);
	st->quiet_ms = mono_ms();
	rf_reply_stream(call, 200, "text/event-stream", sse_read, st, sse_free);
}

/* ---- subscriptions ---- */

static json_t *msg_not_in_list(const char *name, const json_t *v)
{
	char *s = json_is_string(v) ? xstrdup(json_string_value(v))
	                            : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *m = rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, s ? s : "", name, NULL);

	free(s);
	return m;
}

static json_t *msg_format(const char *name, const json_t *v)
{
	char *s = json_is_string(v) ? xstrdup(json_string_value(v))
	                            : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *m = rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, s ? s : "", name, NULL);

	free(s);
	return m;
}

static json_t *check_destination(const char *name, const json_t *v)
{
	const char *s = json_string_value(v);
	char *scheme = NULL, *host = NULL, *user = NULL;
	json_t *msg = NULL;
	CURLU *u;

	if (json_string_length(v) > DESTINATION_MAX || strpbrk(s, " \t\r\n"))
		return msg_format(name, v);
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0] ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0) ||
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) /* no credentials: shown */
		msg = msg_format(name, v);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return msg;
}

/* Each member of v a string of allowed (NULL: any, or, with
 * message_ids, a MessageId of one of those registries). */
static json_t *check_strings(const char *name, const json_t *v, const json_t *allowed,
                             bool message_ids)
{
	size_t i, k;
	json_t *x, *a;

	if (json_array_size(v) > FILTER_MAX) {
		char num[16];

		snprintf(num, sizeof(num), "%d", FILTER_MAX);
		return rf_msg(RF_MSG_ARRAY_SIZE_TOO_LONG, name, num, NULL);
	}
	json_array_foreach(v, i, x)
	{
		const char *s = json_string_value(x);
		char prefix[64];
		bool ok = false;

		if (!s)
			return rf_msg(RF_MSG_PROPERTY_VALUE_TYPE_ERROR, "", name, NULL);
		if (message_ids) {
			int dots = 0;

			for (const char *p = s; *p; p++)
				dots += *p == '.';
			if ((dots != 1 && dots != 4) || s[0] == '.' || s[strlen(s) - 1] == '.')
				return msg_format(name, x);
		}
		snprintf(prefix, sizeof(prefix), "%.*s", (int)strcspn(s, "."), s);
		json_array_foreach(allowed, k, a) ok = ok || !strcmp(json_string_value(a), prefix);
		if (!ok)
			return msg_not_in_list(name, x);
	}
	return NULL;
}

static json_t *check_prefixes(const char *name, const json_t *v)
{
	json_t *allowed = registry_prefixes(), *m = check_strings(name, v, allowed, false);

	json_decref(allowed);
	return m;
}

static json_t *check_message_ids(const char *name, const json_t *v)
{
	json_t *allowed = registry_prefixes(), *m = check_strings(name, v, allowed, true);

	json_decref(allowed);
	return m;
}

static json_t *check_types(const char *name, const json_t *v)
{
	json_t *allowed = resource_types(), *m = check_strings(name, v, allowed, false);

	json_decref(allowed);
	return m;
}

static json_t *check_severities(const char *name, const json_t *v)
{
	json_t *allowed = string_list(severities), *m = check_strings(name, v, allowed, false);

	json_decref(allowed);
	return m;
}

/* [{"@odata.id": path}] with every path under under. */
static json_t *check_links(const char *name, const json_t *v, const char *under)
{
	size_t i;
	json_t *x;

	if (json_array_size(v) > FILTER_MAX) {
		char num[16];

		snprintf(num, sizeof(num), "%d", FILTER_MAX);
		return rf_msg(RF_MSG_ARRAY_SIZE_TOO_LONG, name, num, NULL);
	}
	json_array_foreach(v, i, x)
	{
		const char *p = jstr(x, "@odata.id");

		if (!json_is_object(x) || json_object_size(x) != 1 || !p ||
		    !str_startswith(p, under) || strlen(p) > 512 || strpbrk(p, " \t\r\n#?"))
			return msg_format(name, x);
	}
	return NULL;
}

static json_t *check_origins(const char *name, const json_t *v)
{
	return check_links(name, v, RF_ROOT "/");
}

static json_t *check_definitions(const char *name, const json_t *v)
{
	return check_links(name, v, RF_ROOT "/TelemetryService/MetricReportDefinitions/");
}

#define P_CONTEXT .name = "Context", .type = RF_T_STRING, .flags = RF_P_NULLABLE, .max = CONTEXT_MAX
#define P_POLICY .name = "DeliveryRetryPolicy", .type = RF_T_STRING, .values = policies
#define P_FILTER(n, fn) .name = n, .type = RF_T_ARRAY, .check = fn

static const struct rf_prop create_props[] = {
	{ .name = "Destination",
	  .type = RF_T_STRING,
	  .flags = RF_P_REQUIRED,
	  .check = check_destination },
	{ .name = "Protocol", .type = RF_T_STRING, .flags = RF_P_REQUIRED, .values = protocols },
	{ P_CONTEXT },
	{ .name = "SubscriptionType", .type = RF_T_STRING, .values = sub_types },
	{ .name = "EventFormatType", .type = RF_T_STRING, .values = formats },
	{ P_FILTER("RegistryPrefixes", check_prefixes) },
	{ P_FILTER("MessageIds", check_message_ids) },
	{ P_FILTER("ExcludeRegistryPrefixes", check_prefixes) },
	{ P_FILTER("ExcludeMessageIds", check_message_ids) },
	{ P_FILTER("ResourceTypes", check_types) },
	{ P_FILTER("Severities", check_severities) },
	{ P_FILTER("OriginResources", check_origins) },
	{ .name = "SubordinateResources", .type = RF_T_BOOL },
	{ P_FILTER("MetricReportDefinitions", check_definitions) },
	{ P_POLICY },
	{ .name = "VerifyCertificate", .type = RF_T_BOOL },
	{ 0 },
};

static const struct rf_prop patch_props[] = {
	{ P_CONTEXT },
	{ P_POLICY },
	{ .name = "VerifyCertificate", .type = RF_T_BOOL },
	{ 0 },
};

static void list_subscriptions(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *ids, *paths = json_array(), *v;
	size_t i;

	if (!service_ready(call)) {
		json_decref(paths);
		return;
	}
	ids = rf_events_sub_ids(ctx->events);
	json_array_foreach(ids, i, v)
	{
		json_array_append_new(paths,
		                      json_sprintf("%s/%s", SUBSCRIPTIONS, json_string_value(v)));
	}
	json_decref(ids);
	rf_reply_resource(call, rf_collection_new(SUBSCRIPTIONS, "EventDestinationCollection",
	                                          "Event Subscriptions", paths));
}

static json_t *array_or_empty(const json_t *sub, const char *key)
{
	const json_t *v = json_object_get(sub, key);

	return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/* The EventDestination resource of a subscription. */
static json_t *subscription_body(const json_t *sub)
{
	static const char *const arrays[] = {
		"RegistryPrefixes",        "MessageIds",
		"ExcludeRegistryPrefixes", "ExcludeMessageIds",
		"ResourceTypes",           "Severities",
		"OriginResources",         "MetricReportDefinitions"
	};
	const char *id = jstr(sub, "Id") ?: "";
	const char *ctx = jstr(sub, "Context");
	bool enabled = strcmp(jstr(sub, "State") ?: "Enabled", "Enabled") == 0;
	char *path = xasprintf("%s/%s", SUBSCRIPTIONS, id), *name;
	json_t *body;

	name = xasprintf("Event Subscription %s", id);
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:b, s:b, s:{s:s, s:s}}",
	    "@odata.id", path, "@odata.type", DEST_TYPE, "Id", id, "Name", name, "Destination",
	    jstr(sub, "Destination") ?: "", "Context", ctx ? json_string(ctx) : json_null(),
	    "Protocol", "Redfish", "SubscriptionType", "RedfishEvent", "EventFormatType",
	    jstr(sub, "EventFormatType") ?: "Event", "DeliveryRetryPolicy",
	    jstr(sub, "DeliveryRetryPolicy") ?: "SuspendRetries", "SubordinateResources",
	    jbool(sub, "SubordinateResources", false), "VerifyCertificate",
	    jbool(sub, "VerifyCertificate", true), "Status", "State",
	    enabled ? "Enabled" : "Disabled", "Health", enabled ? "OK" : "Warning");
	for (size_t i = 0; i < ARRAY_SIZE(arrays); i++)
		json_object_set_new(body, arrays[i], array_or_empty(sub, arrays[i]));
	json_object_set_new(body, "Actions",
	                    json_pack("{s:{s:s++}, s:{s:s++}}", "#" RESUME, "target", path,
	                              "/Actions/", RESUME, "#" SUSPEND, "target", path, "/Actions/",
	                              SUSPEND));
	free(name);
	free(path);
	return body;
}

static void get_subscription(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *sub;

	if (!service_ready(call))
		return;
	sub = rf_events_sub_get(ctx->events, rf_param(call, "id"));
	if (!sub) {
		rf_reply_not_found(call);
		return;
	}
	rf_reply_resource(call, subscription_body(sub));
	json_decref(sub);
}

static void create_subscription(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	char id[32], *path;
	json_t *vals, *body, *sub;
	int r;

	if (!service_ready(call) || rf_create_check(call, create_props, &vals) < 0)
		return;
	json_object_del(vals, "SubscriptionType"); /* always RedfishEvent */
	if (json_is_null(json_object_get(vals, "Context")))
		json_object_del(vals, "Context");
	r = rf_events_sub_add(ctx->events, vals, id);
	if (r == -ENOSPC) {
		rf_reply_error(call, 409, rf_msg(RF_MSG_EVENT_SUBSCRIPTION_LIMIT_EXCEEDED, NULL));
		return;
	}
	if (r < 0) {
		log_warn("redfish: cannot save a new event subscription: %s", strerror(-r));
		rf_reply_internal(call);
		return;
	}
	sub = rf_events_sub_get(ctx->events, id);
	if (!sub) { /* deleted meanwhile */
		rf_reply_internal(call);
		return;
	}
	body = subscription_body(sub);
	json_decref(sub);
	path = xasprintf("%s/%s", SUBSCRIPTIONS, id);
	rf_reply_created(call, path, body);
	free(path);
}

static void update_reply(struct rf_call *call, int r, json_t *msgs)
{
	if (r == -ENOENT) {
		json_decref(msgs);
		rf_reply_not_found(call);
	} else if (r < 0) {
		log_warn("redfish: cannot save event subscription %s: %s", rf_param(call, "id"),
		         strerror(-r));
		json_decref(msgs);
		rf_reply_internal(call);
	} else {
		rf_reply_patched(call, msgs);
	}
}

static void patch_subscription(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *changes, *msgs;
	int r;

	if (!service_ready(call) || rf_patch_check(call, patch_props, &changes, &msgs) < 0)
		return;
	r = rf_events_sub_update(ctx->events, rf_param(call, "id"), changes, -1);
	json_decref(changes);
	update_reply(call, r, msgs);
}

static void delete_subscription(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	int r;

	if (!service_ready(call))
		return;
	r = rf_events_sub_delete(ctx->events, rf_param(call, "id"));
	if (r == -ENOENT) {
		rf_reply_not_found(call);
	} else if (r < 0) {
		log_warn("redfish: cannot save the event subscriptions: %s", strerror(-r));
		rf_reply_internal(call);
	} else {
		rf_reply_no_content(call);
	}
}

static json_t *check_duration(const char *name, const json_t *v)
{
	int64_t ms;

	if (rf_duration_parse(json_string_value(v), &ms) == 0)
		return NULL;
	return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_FORMAT_ERROR, json_string_value(v), name,
	              RESUME, NULL);
}

static const struct rf_prop resume_props[] = {
	{ .name = "DeliverBufferedEventDuration", .type = RF_T_STRING, .check = check_duration },
	{ 0 },
};

static const struct rf_prop no_props[] = { { 0 } };

/* ResumeSubscription and SuspendSubscription. */
static void set_state(struct rf_call *call, bool resume)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *params, *changes;
	int64_t max_age = -1;
	int r;

	if (!service_ready(call))
		return;
	if (rf_action_check(call, resume ? RESUME : SUSPEND, resume ? resume_props : no_props,
	                    &params) < 0)
		return;
	if (jstr(params, "DeliverBufferedEventDuration"))
		rf_duration_parse(jstr(params, "DeliverBufferedEventDuration"), &max_age);
	json_decref(params);
	changes = json_pack("{s:s}", "State", resume ? "Enabled" : "Disabled");
	r = rf_events_sub_update(ctx->events, rf_param(call, "id"), changes, max_age);
	json_decref(changes);
	if (r == -ENOENT)
		rf_reply_not_found(call);
	else if (r < 0)
		rf_reply_internal(call);
	else
		rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static void resume_subscription(struct rf_call *call)
{
	set_state(call, true);
}

static void suspend_subscription(struct rf_call *call)
{
	set_state(call, false);
}

/* ---- the module ---- */

int rf_event_start(struct rf_agent_ctx *ctx)
{
	int r;

	r = rf_events_new(ctx->rf_dir, &ctx->events);
	if (r < 0) {
		log_err("redfish: cannot start the EventService: %s", strerror(-r));
		return r;
	}
	if (ctx->log) {
		r = nodelog_listen(ctx->log, on_log_entry, ctx);
		if (r < 0) {
			log_err("redfish: the EventService cannot follow the node log: %s",
			        strerror(-r));
			ctx->events = rf_events_free(ctx->events);
			return r;
		}
	}
	return 0;
}

void rf_event_stop(struct rf_agent_ctx *ctx)
{
	if (!ctx->events)
		return;
	if (ctx->log)
		nodelog_unlisten(ctx->log, on_log_entry, ctx);
	ctx->events = rf_events_free(ctx->events);
}

static const struct rf_route routes[] = {
	{ "GET", EVENT_SERVICE, get_service, RF_PRIV_LOGIN, 0 },
	{ "PATCH", EVENT_SERVICE, patch_service, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "POST", EVENT_SERVICE "/Actions/" SUBMIT_TEST, submit_test_event,
	  RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "POST", EVENT_SERVICE "/Actions/" TEST_SUBSCRIPTION, test_event_subscription,
	  RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", SSE_URI, get_sse, RF_PRIV_LOGIN, RF_STREAM },
	{ "GET", SUBSCRIPTIONS, list_subscriptions, RF_PRIV_LOGIN, 0 },
	{ "POST", SUBSCRIPTIONS, create_subscription, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", SUBSCRIPTIONS "/{id}", get_subscription, RF_PRIV_LOGIN, 0 },
	{ "PATCH", SUBSCRIPTIONS "/{id}", patch_subscription, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "DELETE", SUBSCRIPTIONS "/{id}", delete_subscription, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "POST", SUBSCRIPTIONS "/{id}/Actions/" RESUME, resume_subscription,
	  RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "POST", SUBSCRIPTIONS "/{id}/Actions/" SUSPEND, suspend_subscription,
	  RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ 0 },
};

static const char *const schemas[] = { "EventService.v1_12_0", "EventDestinationCollection",
	                               "EventDestination.v1_16_0", "Event.v1_13_0", NULL };

const struct rf_module rf_event_module = { "EventService", routes, schemas };
