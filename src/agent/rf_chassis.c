// SPDX-License-Identifier: MIT
/*
 * Chassis of the agent's Redfish service: the collection (one member,
 * "box", the sealed immersion-cooled enclosure the host lives in) and
 * Chassis/box itself: its health from the thermal controller (ok -> OK,
 * warning -> Warning, alarm and critical -> Critical) with one Condition
 * per active alarm, HealthRollup over every sensor, and the links to the
 * host system, the agent's manager, the immersion unit and the box's
 * Sensors, ThermalSubsystem, PowerSubsystem, EnvironmentMetrics, Controls
 * and the deprecated Thermal and Power.
 *
 * This file also holds the module's one route table: the resources under
 * Chassis/box are rf_sensor.c's, rf_thermal.c's and rf_power.c's
 * (rf_chassis_int.h). Controls and Heaters are rf_thermaleq.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/rf_chassis_int.h"
#include "common/json.h"

#define CHASSIS_TYPE "#Chassis.v1_28_0.Chassis"

static void list_chassis(struct rf_call *call)
{
	rf_reply_resource(call, rf_collection_new(RF_CHASSIS, "ChassisCollection",
	                                          "Chassis Collection", json_pack("[s]", RF_BOX)));
}

static json_t *box_status(const struct rf_agent_ctx *ctx, const struct rf_box *b)
{
	const char *health = b->thermal ? rf_state_health(b->v.st.state) : "OK";
	const char *rollup = health;
	struct rf_cond *c = NULL;
	size_t n = 0;
	json_t *st;

	for (size_t i = 0; i < b->n; i++)
		rollup = rf_health_worse(rollup, b->s[i].health);
	if (b->thermal)
		c = rf_alarm_conds(ctx, &b->v, NULL, &n);
	st = rf_status_json("Enabled", health, c, n);
	json_object_set_new(st, "HealthRollup", json_string(rollup));
	free(c);
	return st;
}

static void get_box(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct rf_box *b = rf_box_of(call);
	json_t *o, *links;

	links = json_pack("{s:[o], s:[o], s:[o]}", "ComputerSystems", rf_link(RF_HOST_SYSTEM),
	                  "ManagedBy", rf_link(RF_AGENT_MANAGER), "ManagersInChassis",
	                  rf_link(RF_AGENT_MANAGER));
	if (b->thermal)
		json_object_set_new(links, "CoolingUnits",
		                    json_pack("[o]", rf_link(RF_IMMERSION_UNIT)));
	o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o}",
	    "@odata.id", RF_BOX, "@odata.type", CHASSIS_TYPE, "Id", "box", "Name",
	    "Immersion-cooled edge box", "Description",
	    json_sprintf("The sealed immersion-cooled enclosure of host %s", ctx->hostname),
	    "ChassisType", "ImmersionTank", "PowerState", "On", "Status", box_status(ctx, b),
	    "Sensors", rf_link(RF_BOX_SENSORS), "ThermalSubsystem", rf_link(RF_BOX_THERMAL_SUB),
	    "PowerSubsystem", rf_link(RF_BOX_POWER_SUB), "EnvironmentMetrics", rf_link(RF_BOX_ENV),
	    "Thermal", rf_link(RF_BOX_THERMAL), "Power", rf_link(RF_BOX_POWER), "Links", links);
	if (b->thermal)
		json_object_set_new(o, "Controls", rf_link(RF_BOX_CONTROLS));
	rf_set_hash_etag(call, rf_hash_str(rf_hash_box(RF_HASH_INIT, b), ctx->hostname));
	rf_reply_resource(call, o);
}

/* The module's one route table, every resource under /redfish/v1/Chassis
 * that this module serves. All are read-only: other methods get 405. */
static const struct rf_route routes[] = {
	{ "GET", RF_CHASSIS, list_chassis, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX, get_box, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_SENSORS, rf_sensors_list, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_SENSORS "/{id}", rf_sensor_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_THERMAL_SUB, rf_thermal_subsystem_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_FANS, rf_fans_list, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_FANS "/{id}", rf_fan_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_THERMAL_METRICS, rf_thermal_metrics_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_POWER_SUB, rf_power_subsystem_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_ENV, rf_environment_metrics_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_THERMAL, rf_thermal_get, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_BOX_POWER, rf_power_get, RF_PRIV_LOGIN, 0 },
	{ NULL },
};

static const char *const schemas[] = {
	"ChassisCollection",
	"Chassis.v1_28_0",
	"SensorCollection",
	"Sensor.v1_12_0",
	"ThermalSubsystem.v1_5_0",
	"FanCollection",
	"Fan.v1_6_0",
	"ThermalMetrics.v1_3_2",
	"PowerSubsystem.v1_1_3",
	"EnvironmentMetrics.v1_5_0",
	"Thermal.v1_7_3",
	"Power.v1_7_3",
	NULL,
};

const struct rf_module rf_chassis_module = { "Chassis", routes, schemas };
