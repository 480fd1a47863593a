// SPDX-License-Identifier: MIT
/*
 * The box's cooling as Redfish shows it: ThermalSubsystem with its Fans
 * (each fan of the box model: speed in percent of its rated speed from
 * its tachometer, the controller's verdict as Status: a failed fan is
 * Critical, one at a wrong speed Warning), ThermalMetrics (temperatures
 * as excerpts of the Sensors, the cooling's power and energy), a link to
 * the Heaters that rf_thermaleq.c serves, and the deprecated Thermal
 * resource (Temperatures[] and Fans[], no Redundancy) for older clients,
 * made from the same sensors so that both always agree.
 * Not here: the sensors themselves (rf_sensor.c), setpoints (Controls,
 * rf_thermaleq.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rf_chassis_int.h"
#include "common/json.h"
#include "common/util.h"

#define THERMAL_SUB_TYPE "#ThermalSubsystem.v1_5_0.ThermalSubsystem"
#define FAN_TYPE "#Fan.v1_6_0.Fan"
#define THERMAL_METRICS_TYPE "#ThermalMetrics.v1_3_2.ThermalMetrics"
#define THERMAL_TYPE "#Thermal.v1_7_3.Thermal"

static int box_fans(const struct rf_box *b)
{
	if (!b->thermal || b->v.r.fans < 0)
		return 0;
	return b->v.r.fans > THERMAL_FANS_MAX ? THERMAL_FANS_MAX : b->v.r.fans;
}

/* The status of the whole cooling: the controller's state and alarms. */
static json_t *cooling_status(const struct rf_agent_ctx *ctx, const struct rf_box *b)
{
	struct rf_cond *c;
	size_t n;
	json_t *st;

	if (!b->thermal)
		return rf_status_json("Enabled", "OK", NULL, 0);
	c = rf_alarm_conds(ctx, &b->v, NULL, &n);
	st = rf_status_json("Enabled", rf_state_health(b->v.st.state), c, n);
	free(c);
	return st;
}

void rf_thermal_subsystem_get(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct rf_box *b = rf_box_of(call);
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "@odata.id", RF_BOX_THERMAL_SUB,
	              "@odata.type", THERMAL_SUB_TYPE, "Id", "ThermalSubsystem", "Name",
	              "Thermal subsystem of the box", "Description",
	              "Natural convection through the fins, fans on the heat exchanger and a "
	              "heater, run by the agent's thermal controller",
	              "Fans", rf_link(RF_BOX_FANS), "ThermalMetrics",
	              rf_link(RF_BOX_THERMAL_METRICS), "Status", cooling_status(ctx, b));
	if (b->thermal)
		json_object_set_new(o, "Heaters", rf_link(RF_BOX_HEATERS));
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}

void rf_fans_list(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	json_t *paths = json_array();

	for (int i = 0; i < box_fans(b); i++)
		json_array_append_new(paths, json_sprintf(RF_BOX_FANS "/Fan%d", i + 1));
	rf_reply_resource(call, rf_collection_new(RF_BOX_FANS, "FanCollection", "Fans", paths));
}

/* Fan i (0-based) of the box: 0, or -ENOENT. */
static int fan_index(const char *id, int fans)
{
	const char *p = id + 3;
	int f = 0;

	if (strncmp(id, "Fan", 3) != 0 || *p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9' && f <= THERMAL_FANS_MAX)
		f = f * 10 + (*p++ - '0');
	return *p || f > fans ? -1 : f - 1;
}

static json_t *fan_json(const struct rf_agent_ctx *ctx, const struct rf_box *b, int i)
{
	char id[SENSOR_ID_MAX], key[16], path[RF_PATH_MAX];
	const struct rf_sensor *pct;
	const char *health = "OK";
	struct rf_cond *c;
	size_t n;
	json_t *o;

	rf_fan_sensor_id(i, true, id);
	pct = rf_box_sensor(b, id);
	snprintf(path, sizeof(path), RF_BOX_FANS "/Fan%d", i + 1);
	snprintf(key, sizeof(key), "fan%d", i + 1);
	c = rf_alarm_conds(ctx, &b->v, key, &n);
	for (size_t k = 0; k < n; k++)
		c[k].origin[0] = '\0'; /* this fan */
	o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:o, s:{s:[o]}}", "@odata.id", path,
	              "@odata.type", FAN_TYPE, "Id", path + strlen(RF_BOX_FANS "/"), "Name",
	              json_sprintf("Heat exchanger fan %d", i + 1), "PhysicalContext",
	              "CoolingSubsystem", "RatedSpeedRPM", (int)lround(b->v.mcfg.box.fan_rpm_max),
	              "PowerWatts",
	              json_pack("{s:o}", "Reading", rf_number(round(b->v.r.fan_w[i] * 100) / 100)),
	              "Links", "CoolingChassis", rf_link(RF_BOX));
	if (pct)
		json_object_set_new(o, "SpeedPercent", rf_sensor_excerpt(pct, true, false));
	for (size_t k = 0; k < n; k++)
		health = rf_health_worse(health, c[k].severity);
	json_object_set_new(o, "Status", rf_status_json("Enabled", health, c, n));
	json_object_set_new(o, "Oem",
	                    json_pack("{s:{s:o}}", "Kumo", "CommandedSpeedPercent",
	                              rf_number(round(b->v.fan_pct[i] * 10) / 10)));
	free(c);
	return o;
}

void rf_fan_get(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct rf_box *b = rf_box_of(call);
	int i;

	i = fan_index(rf_param(call, "id"), box_fans(b));
	if (i < 0) {
		rf_reply_not_found(call);
		return;
	}
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, fan_json(ctx, b, i));
}

static bool is_temperature(const struct rf_sensor *s)
{
	return s->type && !strcmp(s->type, "Temperature");
}

void rf_thermal_metrics_get(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	const struct rf_sensor *s;
	json_t *o, *summary = json_object(), *temps = json_array();

	o = json_pack("{s:s, s:s, s:s, s:s}", "@odata.id", RF_BOX_THERMAL_METRICS, "@odata.type",
	              THERMAL_METRICS_TYPE, "Id", "ThermalMetrics", "Name",
	              "Thermal metrics of the box");
	if ((s = rf_box_sensor(b, "CoolantTemp")) && is_temperature(s))
		json_object_set_new(summary, "Internal", rf_sensor_excerpt(s, false, false));
	if ((s = rf_box_sensor(b, "AmbientTemp")) && is_temperature(s))
		json_object_set_new(summary, "Ambient", rf_sensor_excerpt(s, false, false));
	for (size_t i = 0; i < b->n; i++)
		if (is_temperature(&b->s[i]))
			json_array_append_new(temps, rf_sensor_excerpt(&b->s[i], false, true));
	json_object_set_new(o, "TemperatureSummaryCelsius", summary);
	json_object_set_new(o, "TemperatureReadingsCelsius@odata.count",
	                    json_integer((json_int_t)json_array_size(temps)));
	json_object_set_new(o, "TemperatureReadingsCelsius", temps);
	if (b->thermal) {
		if ((s = rf_box_sensor(b, "CoolingPower")))
			json_object_set_new(o, "PowerWatts", rf_sensor_excerpt(s, false, false));
		if ((s = rf_box_sensor(b, "CoolingEnergy"))) {
			json_t *e = rf_sensor_excerpt(s, false, false);
			char t[TIME_LEN];

			time_format(s->reset_ms, t);
			json_object_set_new(e, "SensorResetTime", json_string(t));
			json_object_set_new(o, "EnergykWh", e);
		}
	}
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}

/* ---- the deprecated Thermal ---- */

static void set_threshold(json_t *o, const char *name, const struct rf_sensor *s,
                          enum sensor_threshold th)
{
	if (s->th.set[th])
		json_object_set_new(o, name, rf_number(s->th.value[th]));
}

static json_t *old_temperature(const struct rf_sensor *s, size_t i)
{
	json_t *o = json_pack(
	    "{s:o, s:o, s:o, s:o, s:o}", "@odata.id",
	    json_sprintf(RF_BOX_THERMAL "#/Temperatures/%zu", i), "MemberId",
	    json_sprintf("%zu", i), "Name", json_string_utf8_lossy(s->name, strlen(s->name)),
	    "ReadingCelsius", rf_number(s->reading), "Status",
	    rf_status_json(s->state == RF_READING_MISSING ? "UnavailableOffline" : "Enabled",
	                   s->health, NULL, 0));

	if (s->context)
		json_object_set_new(o, "PhysicalContext", json_string(s->context));
	set_threshold(o, "UpperThresholdCritical", s, SENSOR_TH_UPPER_CRITICAL);
	set_threshold(o, "UpperThresholdNonCritical", s, SENSOR_TH_UPPER_CAUTION);
	set_threshold(o, "LowerThresholdNonCritical", s, SENSOR_TH_LOWER_CAUTION);
	set_threshold(o, "LowerThresholdCritical", s, SENSOR_TH_LOWER_CRITICAL);
	return o;
}

static json_t *old_fan(const struct rf_agent_ctx *ctx, const struct rf_box *b, int i)
{
	json_t *fan = fan_json(ctx, b, i), *st = json_object_get(fan, "Status");
	const struct rf_sensor *rpm;
	char id[SENSOR_ID_MAX];
	json_t *o;

	rf_fan_sensor_id(i, false, id);
	rpm = rf_box_sensor(b, id);
	o = json_pack("{s:o, s:o, s:o, s:s, s:s, s:i, s:i, s:{s:O, s:O}}", "@odata.id",
	              json_sprintf(RF_BOX_THERMAL "#/Fans/%d", i), "MemberId",
	              json_sprintf("%d", i), "Name", json_sprintf("Fan %d", i + 1),
	              "PhysicalContext", "CoolingSubsystem", "ReadingUnits", "RPM",
	              "MinReadingRange", 0, "MaxReadingRange",
	              (int)lround(b->v.mcfg.box.fan_rpm_max), "Status", "State",
	              json_object_get(st, "State"), "Health", json_object_get(st, "Health"));
	json_object_set_new(o, "Reading",
	                    rpm && isfinite(rpm->reading) ? json_integer(lround(rpm->reading))
	                                                  : json_null());
	json_decref(fan);
	return o;
}

void rf_thermal_get(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct rf_box *b = rf_box_of(call);
	json_t *o, *temps = json_array(), *fans = json_array();
	size_t k = 0;

	for (size_t i = 0; i < b->n; i++)
		if (is_temperature(&b->s[i]) && b->s[i].context)
			json_array_append_new(temps, old_temperature(&b->s[i], k++));
	for (int i = 0; i < box_fans(b); i++)
		json_array_append_new(fans, old_fan(ctx, b, i));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:o, s:I}", "@odata.id", RF_BOX_THERMAL,
	              "@odata.type", THERMAL_TYPE, "Id", "Thermal", "Name", "Thermal",
	              "Temperatures", temps, "Temperatures@odata.count",
	              (json_int_t)json_array_size(temps), "Fans", fans, "Fans@odata.count",
	              (json_int_t)json_array_size(fans));
	json_object_set_new(o, "Status", cooling_status(ctx, b));
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}
