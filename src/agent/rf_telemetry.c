// SPDX-License-Identifier: MIT
/*
 * TelemetryService of the agent's Redfish service: metric report
 * definitions (the built-in "NodeSensors", every sensor of the chassis
 * every 60 s, and periodic ones clients POST with a list of sensor URIs),
 * a thread that makes each definition's report when it is due from the
 * latest readings (the thermal model's, thermal_rt_view(), and the host's
 * sensors, sensors_snapshot()), the MetricReports collection with the
 * latest report of each definition (or its last AppendLimit values), and
 * the reports sent as events (ReportActions "RedfishEvent") to the
 * subscriptions that want MetricReports (rf_event.h). Definitions are
 * kept in DATA/redfish/metric-report-definitions.json (0600).
 *
 * Not here: the sensors themselves (rf_chassis.c shows them), history
 * (kumod keeps it).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/redfish_agent.h"
#include "agent/rf_event.h"
#include "agent/sensors.h"
#include "agent/thermal_rt.h"
#include "common/json.h"
#include "common/log.h"

#define TELEMETRY RF_ROOT "/TelemetryService"
#define DEFINITIONS TELEMETRY "/MetricReportDefinitions"
#define REPORTS TELEMETRY "/MetricReports"
#define SENSORS_URI RF_ROOT "/Chassis/box/Sensors/"
#define READING "#/Reading"
#define SERVICE_TYPE "#TelemetryService.v1_4_1.TelemetryService"
#define DEF_TYPE "#MetricReportDefinition.v1_4_7.MetricReportDefinition"
#define REPORT_TYPE "#MetricReport.v1_5_2.MetricReport"
#define CLEAR_REPORTS "TelemetryService.ClearMetricReports"
#define RESET_DEFS "TelemetryService.ResetMetricReportDefinitionsToDefaults"
#define DEFS_FILE "metric-report-definitions.json"
#define BUILTIN_ID "NodeSensors"
#define BUILTIN_INTERVAL_MS 60000
#define DEFS_MAX 16
#define PROPS_MAX 64     /* MetricProperties of a definition */
#define APPEND_LIMIT 256 /* MetricValues of an appending report */
#define INTERVAL_MIN_MS 1000
#define INTERVAL_MAX_MS (86400 * 1000)
#define FIRST_REPORT_MS 2000 /* after the start: the sensors have been read */
#define FILE_MAX (256 * 1024)

static const char *const def_types[] = { "Periodic", NULL };
static const char *const updates_values[] = { "Overwrite", "AppendWrapsWhenFull", NULL };
static const char *const actions_values[] = { "LogToMetricReportsCollection", "RedfishEvent",
	                                      NULL };

struct def {
	char id[64];
	char *name;      /* owned */
	bool builtin;    /* every sensor; cannot be deleted */
	json_t *props;   /* owned; MetricProperties (sensor URIs); NULL for the built-in */
	bool enabled;    /* MetricReportDefinitionEnabled */
	int64_t every;   /* Schedule.RecurrenceInterval, ms */
	bool log, event; /* ReportActions */
	bool append;     /* ReportUpdates AppendWrapsWhenFull (else Overwrite) */
	/* its report */
	int64_t next_ms; /* monotonic: when the next one is due */
	json_t *values;  /* owned; MetricValues, NULL before the first */
	char ts[TIME_LEN];
};

struct rf_telemetry {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rf_agent_ctx *ctx; /* weak */
	char *path;               /* owned; the definitions' file */
	struct def *defs[DEFS_MAX];
	size_t n;
	pthread_t thread;
	bool started, stop;
};

/* ---- readings ---- */

struct reading {
	char id[SENSOR_ID_MAX];
	double value;
	bool ok;
};

static void add_reading(struct reading *r, size_t *n, size_t max, const char *id, double v, bool ok)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(r[i].id, id))
			return; /* the model's come first */
	if (*n == max)
		return;
	snprintf(r[*n].id, sizeof(r[*n].id), "%s", id);
	r[*n].value = v;
	r[*n].ok = ok && isfinite(v);
	(*n)++;
}

/* Every sensor of the chassis now: the box model's (the ids the heartbeat
 * and the Sensors collection use) and the host's. *ret malloc'd. */
static size_t read_all(const struct rf_agent_ctx *ctx, struct reading **ret)
{
	size_t n = 0, max = 16 + THERMAL_FANS_MAX;
	struct sensor_reading *snap = NULL;
	size_t nsnap = 0;
	struct reading *r;

	if (ctx->sensors && sensors_snapshot(ctx->sensors, &snap, &nsnap) == 0)
		max += nsnap;
	r = xcalloc(max, sizeof(*r));
	if (ctx->thermal) {
		struct thermal_rt_view v;

		thermal_rt_view(ctx->thermal, &v);
		add_reading(r, &n, max, "CoolantTemp", v.r.coolant_c, v.r.coolant_valid);
		add_reading(r, &n, max, "CPUPackageTemp", v.r.pkg_c, v.r.pkg_valid);
		add_reading(r, &n, max, "AmbientTemp", v.r.ambient_c, v.r.ambient_valid);
		for (int f = 0; f < v.r.fans && f < THERMAL_FANS_MAX; f++) {
			char id[16];

			snprintf(id, sizeof(id), "Fan%d", f + 1);
			add_reading(r, &n, max, id, v.r.fan_rpm[f], true);
		}
		add_reading(r, &n, max, "HeaterPower", v.r.heater_w, true);
		add_reading(r, &n, max, "ServerPower", v.r.server_w, true);
		add_reading(r, &n, max, "TotalPower", v.r.total_w, true);
	}
	for (size_t i = 0; i < nsnap; i++)
		add_reading(r, &n, max, snap[i].id, snap[i].value,
		            snap[i].status != SENSOR_MISSING);
	free(snap);
	*ret = r;
	return n;
}

/* "CoolantTemp" of "/redfish/v1/Chassis/box/Sensors/CoolantTemp[#/Reading]"
 * into id; false when prop is not a sensor's URI. */
static bool sensor_of(const char *prop, char *id, size_t len)
{
	size_t n;

	if (!str_startswith(prop, SENSORS_URI))
		return false;
	prop += strlen(SENSORS_URI);
	n = strcspn(prop, "#");
	if (n == 0 || n >= len || (prop[n] && strcmp(prop + n, READING) != 0) ||
	    strcspn(prop, "/?") < n)
		return false;
	snprintf(id, len, "%.*s", (int)n, prop);
	return true;
}

static json_t *metric_value(const struct reading *r, const char *ts)
{
	char num[32], *prop = xasprintf(SENSORS_URI "%s" READING, r->id);
	json_t *v;

	if (r->ok) {
		char *e;

		snprintf(num, sizeof(num), "%.2f", r->value);
		e = num + strlen(num) - 1;
		while (*e == '0')
			*e-- = '\0';
		if (*e == '.')
			*e = '\0';
		if (!strcmp(num, "-0"))
			strcpy(num, "0");
	}
	v = json_pack("{s:s, s:o, s:s, s:s}", "MetricId", r->id, "MetricValue",
	              r->ok ? json_string(num) : json_null(), "Timestamp", ts, "MetricProperty",
	              prop);
	free(prop);
	return v;
}

/* The values of d's report now (new reference). */
static json_t *sample(const struct rf_agent_ctx *ctx, const struct def *d, const char *ts)
{
	struct reading *r;
	size_t n = read_all(ctx, &r), i;
	json_t *values = json_array(), *p;

	if (d->builtin) {
		for (i = 0; i < n; i++)
			json_array_append_new(values, metric_value(&r[i], ts));
	} else {
		json_array_foreach(d->props, i, p)
		{
			struct reading missing = { .ok = false };
			const struct reading *found = NULL;

			if (!sensor_of(json_string_value(p), missing.id, sizeof(missing.id)))
				continue;
			for (size_t k = 0; k < n && !found; k++)
				if (!strcmp(r[k].id, missing.id))
					found = &r[k];
			json_array_append_new(values, metric_value(found ? found : &missing, ts));
		}
	}
	free(r);
	return values;
}

/* ---- definitions ---- */

static struct def *def_free(struct def *d)
{
	if (!d)
		return NULL;
	free(d->name);
	json_decref(d->props);
	json_decref(d->values);
	free(d);
	return NULL;
}

static struct def *builtin_new(void)
{
	struct def *d = xcalloc(1, sizeof(*d));

	snprintf(d->id, sizeof(d->id), "%s", BUILTIN_ID);
	d->name = xstrdup("Readings of every sensor of the node");
	d->builtin = true;
	d->enabled = true;
	d->every = BUILTIN_INTERVAL_MS;
	d->log = true;
	return d;
}

static size_t def_index(struct rf_telemetry *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->defs[i]->id, id))
			return i;
	return SIZE_MAX;
}

static json_t *actions_json(const struct def *d)
{
	json_t *a = json_array();

	if (d->log)
		json_array_append_new(a, json_string("LogToMetricReportsCollection"));
	if (d->event)
		json_array_append_new(a, json_string("RedfishEvent"));
	return a;
}

static void actions_set(struct def *d, const json_t *a)
{
	size_t i;
	json_t *v;

	d->log = d->event = false;
	json_array_foreach(a, i, v)
	{
		d->log =
		    d->log || !strcmp(json_string_value(v) ?: "", "LogToMetricReportsCollection");
		d->event = d->event || !strcmp(json_string_value(v) ?: "", "RedfishEvent");
	}
}

/* A definition as the file keeps it. */
static json_t *def_saved(const struct def *d)
{
	char every[32];
	json_t *o;

	rf_duration_format(d->every, every, sizeof(every));
	o = json_pack("{s:s, s:s, s:b, s:s, s:o, s:s}", "Id", d->id, "Name", d->name, "Enabled",
	              d->enabled, "RecurrenceInterval", every, "ReportActions", actions_json(d),
	              "ReportUpdates", d->append ? "AppendWrapsWhenFull" : "Overwrite");
	if (d->props)
		json_object_set(o, "MetricProperties", d->props);
	return o;
}

/* Fills d from a saved or created definition; false when it is not one. */
static bool def_load(struct def *d, const json_t *o)
{
	const char *name = jstr(o, "Name"), *every = jstr(o, "RecurrenceInterval");
	const json_t *props = json_object_get(o, "MetricProperties");
	int64_t ms;

	if (every &&
	    (rf_duration_parse(every, &ms) < 0 || ms < INTERVAL_MIN_MS || ms > INTERVAL_MAX_MS))
		return false;
	if (!d->builtin && (!json_is_array(props) || json_array_size(props) > PROPS_MAX))
		return false;
	if (every)
		d->every = ms;
	if (name) {
		free(d->name);
		d->name = xstrdup(name);
	}
	d->enabled = jbool(o, "Enabled", d->enabled);
	if (json_is_array(json_object_get(o, "ReportActions")))
		actions_set(d, json_object_get(o, "ReportActions"));
	if (jstr(o, "ReportUpdates"))
		d->append = !strcmp(jstr(o, "ReportUpdates"), "AppendWrapsWhenFull");
	if (!d->builtin) {
		json_decref(d->props);
		d->props = json_deep_copy(props);
	}
	return true;
}

/* Writes the definitions. Called with t->lock (writes are rare: creates,
 * changes and deletes, which the service runs one at a time). */
static int save_locked(struct rf_telemetry *t)
{
	json_t *list = json_array(), *doc;
	char *text;
	int r;

	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(list, def_saved(t->defs[i]));
	doc = json_pack("{s:o}", "definitions", list);
	text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	r = file_write_atomic(t->path, text, strlen(text), 0600);
	free(text);
	if (r < 0)
		log_warn("redfish telemetry: cannot write %s: %s", t->path, strerror(-r));
	return r;
}

static void load(struct rf_telemetry *t)
{
	char *text = NULL;
	json_t *doc, *v;
	size_t len, i;
	int r;

	t->defs[t->n++] = builtin_new();
	r = file_read(t->path, FILE_MAX, &text, &len);
	if (r == -ENOENT)
		return;
	doc = r == 0 ? json_loadb(text, len, 0, NULL) : NULL;
	free(text);
	if (!json_is_object(doc)) {
		log_warn("redfish telemetry: cannot read %s: the built-in definition only",
		         t->path);
		json_decref(doc);
		return;
	}
	json_array_foreach(json_object_get(doc, "definitions"), i, v)
	{
		const char *id = jstr(v, "Id");
		struct def *d;

		if (id && !strcmp(id, BUILTIN_ID)) {
			def_load(t->defs[0], v);
			continue;
		}
		if (!id || !name_valid(id) || strlen(id) >= sizeof(d->id) ||
		    def_index(t, id) != SIZE_MAX || t->n == DEFS_MAX) {
			log_warn("redfish telemetry: %s: definition %zu left out", t->path, i);
			continue;
		}
		d = xcalloc(1, sizeof(*d));
		snprintf(d->id, sizeof(d->id), "%s", id);
		d->name = xstrdup(id);
		d->enabled = true;
		d->every = BUILTIN_INTERVAL_MS;
		d->log = true;
		if (!def_load(d, v)) {
			log_warn("redfish telemetry: %s: definition %s is not valid: left out",
			         t->path, id);
			def_free(d);
			continue;
		}
		t->defs[t->n++] = d;
	}
	json_decref(doc);
}

/* ---- reports ---- */

static json_t *report_body(const struct def *d, const json_t *values, const char *ts)
{
	char *path = xasprintf(REPORTS "/%s", d->id), *def = xasprintf(DEFINITIONS "/%s", d->id);
	json_t *body;

	body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:O}", "@odata.id", path, "@odata.type",
	                 REPORT_TYPE, "Id", d->id, "Name", d->name, "MetricReportDefinition",
	                 rf_link(def), "Timestamp", ts, "MetricValues", values);
	free(path);
	free(def);
	return body;
}

/* Makes d's report now. Called with t->lock. */
static void make_report(struct rf_telemetry *t, struct def *d)
{
	json_t *values;

	time_format(now_ms(), d->ts);
	values = sample(t->ctx, d, d->ts);
	if (d->event && t->ctx->events) {
		char *def = xasprintf(DEFINITIONS "/%s", d->id);
		json_t *body = report_body(d, values, d->ts);

		rf_events_publish_report(t->ctx->events, def, body);
		json_decref(body);
		free(def);
	}
	if (d->append && d->values) {
		json_array_extend(d->values, values);
		while (json_array_size(d->values) > APPEND_LIMIT)
			json_array_remove(d->values, 0);
		json_decref(values);
	} else {
		json_decref(d->values);
		d->values = values;
	}
}

static void *report_main(void *arg)
{
	struct rf_telemetry *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		int64_t now = mono_ms(), wait = 1000;
		struct timespec ts;

		for (size_t i = 0; i < t->n; i++) {
			struct def *d = t->defs[i];

			if (!d->enabled)
				continue;
			if (now >= d->next_ms) {
				make_report(t, d);
				d->next_ms += d->every;
				if (d->next_ms <= now) /* late: keep the period from now */
					d->next_ms = now + d->every;
			}
			if (d->next_ms - now < wait)
				wait = d->next_ms - now;
		}
		deadline_mono(&ts, wait > 0 ? wait : 1);
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- resources ---- */

static struct rf_telemetry *ready(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;

	if (!ctx->telemetry)
		rf_reply_error(call, 503,
		               rf_msg(RF_MSG_SERVICE_TEMPORARILY_UNAVAILABLE, "1", NULL));
	return ctx->telemetry;
}

static void get_service(struct rf_call *call)
{
	char min[32];

	if (!ready(call))
		return;
	rf_duration_format(INTERVAL_MIN_MS, min, sizeof(min));
	rf_reply_resource(
	    call, json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:b, s:i, s:s, s:o, s:o, "
	                    "s:{s:{s:s}, s:{s:s}}}",
	                    "@odata.id", TELEMETRY, "@odata.type", SERVICE_TYPE, "Id",
	                    "TelemetryService", "Name", "Telemetry Service", "Description",
	                    "Metric reports of this node's sensors", "Status", "State", "Enabled",
	                    "Health", "OK", "ServiceEnabled", 1, "MaxReports", DEFS_MAX,
	                    "MinCollectionInterval", min, "MetricReportDefinitions",
	                    rf_link(DEFINITIONS), "MetricReports", rf_link(REPORTS), "Actions",
	                    "#" CLEAR_REPORTS, "target", TELEMETRY "/Actions/" CLEAR_REPORTS,
	                    "#" RESET_DEFS, "target", TELEMETRY "/Actions/" RESET_DEFS));
}

static json_t *def_body(const struct def *d, const struct rf_agent_ctx *ctx)
{
	char every[32], *path = xasprintf(DEFINITIONS "/%s", d->id);
	json_t *body, *props;

	rf_duration_format(d->every, every, sizeof(every));
	if (d->builtin) {
		struct reading *r;
		size_t n = read_all(ctx, &r);
		json_t *ids = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(ids, json_string(r[i].id));
		free(r);
		props = json_pack("[s]", SENSORS_URI "{SensorId}" READING);
		body =
		    json_pack("{s:[{s:s, s:o}]}", "Wildcards", "Name", "SensorId", "Values", ids);
	} else {
		props = json_deep_copy(d->props);
		body = json_object();
	}
	json_object_update_missing_new(
	    body, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s}, s:o, s:s, s:i, s:o, s:{s:s, "
	                    "s:s}}",
	                    "@odata.id", path, "@odata.type", DEF_TYPE, "Id", d->id, "Name",
	                    d->name, "MetricReportDefinitionType", "Periodic",
	                    "MetricReportDefinitionEnabled", d->enabled, "Schedule",
	                    "RecurrenceInterval", every, "ReportActions", actions_json(d),
	                    "ReportUpdates", d->append ? "AppendWrapsWhenFull" : "Overwrite",
	                    "AppendLimit", APPEND_LIMIT, "MetricProperties", props, "Status",
	                    "State", d->enabled ? "Enabled" : "Disabled", "Health", "OK"));
	if (d->values && d->log) {
		char *rep = xasprintf(REPORTS "/%s", d->id);

		json_object_set_new(body, "MetricReport", rf_link(rep));
		free(rep);
	}
	free(path);
	return body;
}

static void list_defs(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *paths;

	if (!t)
		return;
	paths = json_array();
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(paths, json_sprintf(DEFINITIONS "/%s", t->defs[i]->id));
	pthread_mutex_unlock(&t->lock);
	rf_reply_resource(call, rf_collection_new(DEFINITIONS, "MetricReportDefinitionCollection",
	                                          "Metric Report Definitions", paths));
}

static void get_def(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *body = NULL;
	size_t i;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	i = def_index(t, rf_param(call, "id"));
	if (i != SIZE_MAX)
		body = def_body(t->defs[i], call->data);
	pthread_mutex_unlock(&t->lock);
	if (!body)
		rf_reply_not_found(call);
	else
		rf_reply_resource(call, body);
}

static json_t *check_interval(const char *name, const json_t *v)
{
	int64_t ms;

	if (rf_duration_parse(json_string_value(v), &ms) < 0)
		return rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, json_string_value(v), name, NULL);
	if (ms < INTERVAL_MIN_MS || ms > INTERVAL_MAX_MS)
		return rf_msg(RF_MSG_PROPERTY_VALUE_OUT_OF_RANGE, json_string_value(v), name, NULL);
	return NULL;
}

static json_t *check_actions(const char *name, const json_t *v)
{
	size_t i, k;
	json_t *x;

	json_array_foreach(v, i, x)
	{
		bool ok = false;

		for (k = 0; actions_values[k]; k++)
			ok = ok || (json_is_string(x) &&
			            !strcmp(json_string_value(x), actions_values[k]));
		if (!ok) {
			char *s = json_dumps(x, JSON_ENCODE_ANY);
			json_t *m =
			    rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, s ? s : "", name, NULL);

			free(s);
			return m;
		}
	}
	return NULL;
}

static json_t *check_props(const char *name, const json_t *v)
{
	char id[SENSOR_ID_MAX], num[16];
	size_t i;
	json_t *x;

	if (json_array_size(v) == 0)
		return rf_msg(RF_MSG_ARRAY_SIZE_TOO_SHORT, name, "1", NULL);
	if (json_array_size(v) > PROPS_MAX) {
		snprintf(num, sizeof(num), "%d", PROPS_MAX);
		return rf_msg(RF_MSG_ARRAY_SIZE_TOO_LONG, name, num, NULL);
	}
	json_array_foreach(v, i, x)
	{
		if (!json_is_string(x) || !sensor_of(json_string_value(x), id, sizeof(id))) {
			char *s = json_dumps(x, JSON_ENCODE_ANY);
			json_t *m =
			    rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, s ? s : "", name, NULL);

			free(s);
			return m;
		}
	}
	return NULL;
}

static json_t *check_id(const char *name, const json_t *v)
{
	if (name_valid(json_string_value(v)) && !strchr(json_string_value(v), '.'))
		return NULL;
	return rf_msg(RF_MSG_PROPERTY_VALUE_FORMAT_ERROR, json_string_value(v), name, NULL);
}

#define P_ENABLED .name = "MetricReportDefinitionEnabled", .type = RF_T_BOOL
#define P_INTERVAL                                                                                 \
	.name = "Schedule/RecurrenceInterval", .type = RF_T_STRING, .check = check_interval
#define P_ACTIONS .name = "ReportActions", .type = RF_T_ARRAY, .check = check_actions
#define P_UPDATES .name = "ReportUpdates", .type = RF_T_STRING, .values = updates_values

static const struct rf_prop create_props[] = {
	{ .name = "Id", .type = RF_T_STRING, .max = 63, .check = check_id },
	{ .name = "Name", .type = RF_T_STRING, .min = 1, .max = 128 },
	{ .name = "MetricReportDefinitionType", .type = RF_T_STRING, .values = def_types },
	{ P_INTERVAL, .flags = RF_P_REQUIRED },
	{ .name = "MetricProperties",
	  .type = RF_T_ARRAY,
	  .flags = RF_P_REQUIRED,
	  .check = check_props },
	{ P_ACTIONS },
	{ P_UPDATES },
	{ P_ENABLED },
	{ 0 },
};

static const struct rf_prop patch_props[] = {
	{ P_ENABLED }, { P_INTERVAL }, { P_ACTIONS }, { P_UPDATES }, { 0 },
};

/* Are all of the sensors in props there now? NULL, or the message of the
 * first that is not. */
static json_t *unknown_sensor(const struct rf_agent_ctx *ctx, const json_t *props)
{
	struct reading *r;
	size_t n = read_all(ctx, &r), i;
	json_t *x, *msg = NULL;

	json_array_foreach(props, i, x)
	{
		char id[SENSOR_ID_MAX];
		bool found = false;

		sensor_of(json_string_value(x), id, sizeof(id));
		for (size_t k = 0; k < n && !found; k++)
			found = !strcmp(r[k].id, id);
		if (!found && !msg)
			msg = rf_msg_related(rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST,
			                            json_string_value(x), "MetricProperties", NULL),
			                     "#/MetricProperties");
	}
	free(r);
	return msg;
}

/* The values of a created or changed definition as the file keeps them. */
static json_t *saved_form(const json_t *vals)
{
	json_t *o = json_object();
	const char *every = jstr(json_object_get(vals, "Schedule"), "RecurrenceInterval");

	if (every)
		jset_str(o, "RecurrenceInterval", every);
	if (json_object_get(vals, "MetricReportDefinitionEnabled"))
		jset_bool(o, "Enabled", jbool(vals, "MetricReportDefinitionEnabled", true));
	if (json_object_get(vals, "ReportActions"))
		json_object_set(o, "ReportActions", json_object_get(vals, "ReportActions"));
	if (jstr(vals, "ReportUpdates"))
		jset_str(o, "ReportUpdates", jstr(vals, "ReportUpdates"));
	if (json_object_get(vals, "MetricProperties"))
		json_object_set(o, "MetricProperties", json_object_get(vals, "MetricProperties"));
	if (jstr(vals, "Name"))
		jset_str(o, "Name", jstr(vals, "Name"));
	return o;
}

static void create_def(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *vals, *msg, *saved, *body;
	struct def *d;
	char *path;
	int r;

	if (!t || rf_create_check(call, create_props, &vals) < 0)
		return;
	msg = unknown_sensor(call->data, json_object_get(vals, "MetricProperties"));
	if (msg) {
		json_decref(vals);
		rf_reply_error(call, 400, msg);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->enabled = true;
	d->log = true;
	saved = saved_form(vals);
	pthread_mutex_lock(&t->lock);
	if (jstr(vals, "Id")) {
		snprintf(d->id, sizeof(d->id), "%s", jstr(vals, "Id"));
	} else {
		for (int k = 1; k < 1000 && !d->id[0]; k++) {
			snprintf(d->id, sizeof(d->id), "Report%d", k);
			if (def_index(t, d->id) != SIZE_MAX)
				d->id[0] = '\0';
		}
	}
	d->name = xstrdup(jstr(vals, "Name") ?: d->id);
	def_load(d, saved);
	if (def_index(t, d->id) != SIZE_MAX) {
		pthread_mutex_unlock(&t->lock);
		rf_reply_error(call, 409,
		               rf_msg(RF_MSG_RESOURCE_ALREADY_EXISTS, "MetricReportDefinition",
		                      "Id", d->id, NULL));
		goto out;
	}
	if (t->n == DEFS_MAX) {
		pthread_mutex_unlock(&t->lock);
		rf_reply_error(call, 409, rf_msg(RF_MSG_CREATE_LIMIT_REACHED_FOR_RESOURCE, NULL));
		goto out;
	}
	t->defs[t->n++] = d;
	d->next_ms = mono_ms() + d->every; /* its first report one period from now */
	r = save_locked(t);
	if (r < 0) {
		t->defs[--t->n] = NULL;
		pthread_mutex_unlock(&t->lock);
		rf_reply_internal(call);
		goto out;
	}
	body = def_body(d, call->data);
	path = xasprintf(DEFINITIONS "/%s", d->id);
	d = NULL; /* t's now */
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	rf_reply_created(call, path, body);
	free(path);
out:
	def_free(d);
	json_decref(saved);
	json_decref(vals);
}

static void patch_def(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *changes, *msgs, *saved;
	struct def backup;
	struct def *d;
	size_t i;
	int r;

	if (!t || rf_patch_check(call, patch_props, &changes, &msgs) < 0)
		return;
	saved = saved_form(changes);
	json_decref(changes);
	pthread_mutex_lock(&t->lock);
	i = def_index(t, rf_param(call, "id"));
	if (i == SIZE_MAX) {
		pthread_mutex_unlock(&t->lock);
		json_decref(saved);
		json_decref(msgs);
		rf_reply_not_found(call);
		return;
	}
	d = t->defs[i];
	backup = *d;
	def_load(d, saved);
	if (d->every != backup.every || (d->enabled && !backup.enabled))
		d->next_ms = mono_ms() + d->every;
	r = save_locked(t);
	if (r < 0) {
		d->every = backup.every;
		d->enabled = backup.enabled;
		d->log = backup.log;
		d->event = backup.event;
		d->append = backup.append;
		d->next_ms = backup.next_ms;
	}
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	json_decref(saved);
	if (r < 0) {
		json_decref(msgs);
		rf_reply_internal(call);
		return;
	}
	rf_reply_patched(call, msgs);
}

static void delete_def(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	struct def *d;
	size_t i;
	int r;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	i = def_index(t, rf_param(call, "id"));
	if (i == SIZE_MAX) {
		pthread_mutex_unlock(&t->lock);
		rf_reply_not_found(call);
		return;
	}
	d = t->defs[i];
	if (d->builtin) {
		pthread_mutex_unlock(&t->lock);
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_CANNOT_BE_DELETED, NULL));
		return;
	}
	memmove(&t->defs[i], &t->defs[i + 1], (t->n - i - 1) * sizeof(t->defs[0]));
	t->defs[--t->n] = NULL;
	r = save_locked(t);
	if (r < 0) { /* put it back where it was */
		memmove(&t->defs[i + 1], &t->defs[i], (t->n - i) * sizeof(t->defs[0]));
		t->defs[i] = d;
		t->n++;
		pthread_mutex_unlock(&t->lock);
		rf_reply_internal(call);
		return;
	}
	pthread_mutex_unlock(&t->lock);
	def_free(d);
	rf_reply_no_content(call);
}

static void list_reports(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *paths;

	if (!t)
		return;
	paths = json_array();
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (t->defs[i]->values && t->defs[i]->log)
			json_array_append_new(paths, json_sprintf(REPORTS "/%s", t->defs[i]->id));
	pthread_mutex_unlock(&t->lock);
	rf_reply_resource(
	    call, rf_collection_new(REPORTS, "MetricReportCollection", "Metric Reports", paths));
}

static void get_report(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *body = NULL;
	size_t i;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	i = def_index(t, rf_param(call, "id"));
	if (i != SIZE_MAX && t->defs[i]->values && t->defs[i]->log)
		body = report_body(t->defs[i], t->defs[i]->values, t->defs[i]->ts);
	pthread_mutex_unlock(&t->lock);
	if (!body)
		rf_reply_not_found(call);
	else
		rf_reply_resource(call, body);
}

static const struct rf_prop no_params[] = { { 0 } };

static void clear_reports(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *params;

	if (!t || rf_action_check(call, CLEAR_REPORTS, no_params, &params) < 0)
		return;
	json_decref(params);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		json_decref(t->defs[i]->values);
		t->defs[i]->values = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static void reset_defs(struct rf_call *call)
{
	struct rf_telemetry *t = ready(call);
	json_t *params;
	int r;

	if (!t || rf_action_check(call, RESET_DEFS, no_params, &params) < 0)
		return;
	json_decref(params);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		t->defs[i] = def_free(t->defs[i]);
	t->n = 0;
	t->defs[t->n++] = builtin_new();
	t->defs[0]->next_ms = mono_ms();
	r = save_locked(t);
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (r < 0)
		rf_reply_internal(call);
	else
		rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

/* ---- the module ---- */

int rf_telemetry_start(struct rf_agent_ctx *ctx)
{
	struct rf_telemetry *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t ca;
	int64_t now = mono_ms();
	int r;

	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	t->ctx = ctx;
	t->path = xasprintf("%s/%s", ctx->rf_dir, DEFS_FILE);
	load(t);
	for (size_t i = 0; i < t->n; i++)
		t->defs[i]->next_ms = now + FIRST_REPORT_MS;
	ctx->telemetry = t;
	/* A relayed simulated host has no sensors: no reports, no thread. */
	if (!ctx->auth && !ctx->thermal && !ctx->sensors)
		return 0;
	r = pthread_create(&t->thread, NULL, report_main, t);
	if (r) {
		log_err("redfish: cannot start the TelemetryService: %s", strerror(r));
		rf_telemetry_stop(ctx);
		return -r;
	}
	t->started = true;
	return 0;
}

void rf_telemetry_stop(struct rf_agent_ctx *ctx)
{
	struct rf_telemetry *t = ctx->telemetry;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (t->started)
		pthread_join(t->thread, NULL);
	for (size_t i = 0; i < t->n; i++)
		def_free(t->defs[i]);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t->path);
	free(t);
	ctx->telemetry = NULL;
}

static const struct rf_route routes[] = {
	{ "GET", TELEMETRY, get_service, RF_PRIV_LOGIN, 0 },
	{ "POST", TELEMETRY "/Actions/" CLEAR_REPORTS, clear_reports, RF_PRIV_CONFIGURE_MANAGER,
	  0 },
	{ "POST", TELEMETRY "/Actions/" RESET_DEFS, reset_defs, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", DEFINITIONS, list_defs, RF_PRIV_LOGIN, 0 },
	{ "POST", DEFINITIONS, create_def, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", DEFINITIONS "/{id}", get_def, RF_PRIV_LOGIN, 0 },
	{ "PATCH", DEFINITIONS "/{id}", patch_def, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "DELETE", DEFINITIONS "/{id}", delete_def, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", REPORTS, list_reports, RF_PRIV_LOGIN, 0 },
	{ "GET", REPORTS "/{id}", get_report, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const char *const schemas[] = { "TelemetryService.v1_4_1",
	                               "MetricReportDefinitionCollection",
	                               "MetricReportDefinition.v1_4_7",
	                               "MetricReportCollection",
	                               "MetricReport.v1_5_2",
	                               "Schedule.v1_2_5",
	                               NULL };

const struct rf_module rf_telemetry_module = { "TelemetryService", routes, schemas };
