// SPDX-License-Identifier: MIT
/*
 * The box's power as Redfish shows it: PowerSubsystem (no power supplies:
 * the box has none the agent can see, so none are invented; its Allocation
 * is the box's design maximum from the model's constants: the server at
 * full load, every fan at full speed and the heater), EnvironmentMetrics
 * (coolant and ambient temperature, total power, energy since the agent
 * started, fan speeds, each an excerpt of a Sensor) and the deprecated
 * Power resource (PowerControl[] with PowerConsumedWatts) for older
 * clients, made from the same sensors. Without the box model, the host's
 * own temperature and power sensors stand in where they can.
 * Not here: the sensors themselves (rf_sensor.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rf_chassis_int.h"
#include "common/json.h"
#include "common/util.h"

#define POWER_SUB_TYPE "#PowerSubsystem.v1_1_3.PowerSubsystem"
#define ENV_TYPE "#EnvironmentMetrics.v1_5_0.EnvironmentMetrics"
#define POWER_TYPE "#Power.v1_7_3.Power"

/* What the box can draw at most (W): server at full load, fans, heater. */
static double box_max_w(const struct rf_box *b)
{
	const struct thermal_box *x = &b->v.mcfg.box;

	return x->server_max_w + x->fans * x->fan_power_w + x->heater_w;
}

/* The first sensor of a type: the model's, else the host's first. */
static const struct rf_sensor *first_of(const struct rf_box *b, const char *model_id,
                                        const char *type)
{
	const struct rf_sensor *s = rf_box_sensor(b, model_id);

	if (s && s->type && !strcmp(s->type, type))
		return s;
	for (size_t i = 0; i < b->n; i++)
		if (b->s[i].type && !strcmp(b->s[i].type, type))
			return &b->s[i];
	return NULL;
}

void rf_power_subsystem_get(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "@odata.id", RF_BOX_POWER_SUB, "@odata.type",
	              POWER_SUB_TYPE, "Id", "PowerSubsystem", "Name", "Power subsystem of the box",
	              "Status", rf_status_json("Enabled", "OK", NULL, 0));
	if (b->thermal) {
		double w = round(box_max_w(b) * 100) / 100;

		json_object_set_new(o, "Allocation",
		                    json_pack("{s:o, s:o}", "RequestedWatts", rf_number(w),
		                              "AllocatedWatts", rf_number(w)));
	}
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}

void rf_environment_metrics_get(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	const struct rf_sensor *s;
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s}", "@odata.id", RF_BOX_ENV, "@odata.type", ENV_TYPE,
	              "Id", "EnvironmentMetrics", "Name", "Environment metrics of the box");
	if ((s = first_of(b, "CoolantTemp", "Temperature")))
		json_object_set_new(o, "TemperatureCelsius", rf_sensor_excerpt(s, false, false));
	if (b->thermal && (s = rf_box_sensor(b, "AmbientTemp")))
		json_object_set_new(o, "AmbientTemperatureCelsius",
		                    rf_sensor_excerpt(s, false, false));
	if ((s = first_of(b, "TotalPower", "Power")))
		json_object_set_new(o, "PowerWatts", rf_sensor_excerpt(s, false, false));
	if (b->thermal && (s = rf_box_sensor(b, "TotalEnergy"))) {
		json_t *e = rf_sensor_excerpt(s, false, false);
		char t[TIME_LEN];

		time_format(s->reset_ms, t);
		json_object_set_new(e, "SensorResetTime", json_string(t));
		json_object_set_new(o, "EnergykWh", e);
	}
	if (b->thermal) {
		json_t *fans = json_array();
		char id[SENSOR_ID_MAX];

		for (int i = 0; i < b->v.r.fans && i < THERMAL_FANS_MAX; i++) {
			rf_fan_sensor_id(i, true, id);
			if ((s = rf_box_sensor(b, id)))
				json_array_append_new(fans, rf_sensor_excerpt(s, true, true));
		}
		json_object_set_new(o, "FanSpeedsPercent@odata.count",
		                    json_integer((json_int_t)json_array_size(fans)));
		json_object_set_new(o, "FanSpeedsPercent", fans);
	}
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}

/* ---- the deprecated Power ---- */

static json_t *power_control(size_t i, const char *name, const struct rf_sensor *s,
                             const char *context)
{
	json_t *o = json_pack(
	    "{s:o, s:o, s:o, s:o, s:o}", "@odata.id",
	    json_sprintf(RF_BOX_POWER "#/PowerControl/%zu", i), "MemberId", json_sprintf("%zu", i),
	    "Name", json_string_utf8_lossy(name, strlen(name)), "PowerConsumedWatts",
	    rf_number(s->reading), "Status",
	    rf_status_json(s->state == RF_READING_MISSING ? "UnavailableOffline" : "Enabled",
	                   s->health, NULL, 0));

	if (context)
		json_object_set_new(o, "PhysicalContext", json_string(context));
	return o;
}

void rf_power_get(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	const struct rf_sensor *s;
	json_t *o, *pc = json_array();

	if (b->thermal && (s = rf_box_sensor(b, "TotalPower"))) {
		/* the whole box: what EnvironmentMetrics.PowerWatts says */
		json_t *c = power_control(0, "Power of the box", s, "Chassis");
		double w = round(box_max_w(b) * 100) / 100;

		json_object_set_new(c, "PowerRequestedWatts", rf_number(w));
		json_object_set_new(c, "PowerAllocatedWatts", rf_number(w));
		json_array_append_new(pc, c);
	} else {
		/* no model: the host's own power sensors */
		for (size_t i = 0; i < b->n; i++) {
			if (!b->s[i].type || strcmp(b->s[i].type, "Power") != 0)
				continue;
			json_array_append_new(pc, power_control(json_array_size(pc), b->s[i].name,
			                                        &b->s[i], b->s[i].context));
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "@odata.id", RF_BOX_POWER, "@odata.type",
	              POWER_TYPE, "Id", "Power", "Name", "Power", "PowerControl", pc,
	              "PowerControl@odata.count", (json_int_t)json_array_size(pc));
	rf_set_hash_etag(call, rf_hash_box(RF_HASH_INIT, b));
	rf_reply_resource(call, o);
}
