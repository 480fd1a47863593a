// SPDX-License-Identifier: MIT
/*
 * ThermalEquipment of the agent's Redfish service: the node's sealed
 * immersion-cooled box as one CoolingUnit with EquipmentType
 * "ImmersionUnit" (ThermalEquipment/ImmersionUnits/1), its status from the
 * thermal controller (Health from the controller's state, one Condition per
 * active alarm), its EnvironmentMetrics (excerpts of the chassis sensors
 * that rf_chassis.c serves, with their DataSourceUri), and a simulation
 * control: the OEM action KumoImmersionUnit.InjectFault, which injects a
 * fault or changes the weather of the box model (thermal_rt_inject()).
 *
 * This file also holds the module's one route table, with the heater
 * (rf_heater.c) and the setpoint Controls (rf_control.c), and the helpers
 * the three share (rf_thermaleq.h). The box itself, the controller and
 * their locking are thermal_rt.c's; this file only shows and forwards.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rf_thermaleq.h"
#include "common/json.h"
#include "common/util.h"

#define INJECT_ACTION "KumoImmersionUnit.InjectFault"
#define INJECT_TARGET TE_UNIT "/Actions/Oem/" INJECT_ACTION
#define INJECT_INFO TE_UNIT "/InjectFaultActionInfo"

/* ---- shared helpers (rf_thermaleq.h) ---- */

bool rf_te_view(struct rf_call *call, struct thermal_rt_view *ret)
{
	const struct rf_agent_ctx *ctx = call->data;

	if (!ctx->thermal) {
		rf_reply_not_found(call);
		return false;
	}
	thermal_rt_view(ctx->thermal, ret);
	return true;
}

const char *rf_te_health(enum thermal_severity s)
{
	return s == THERMAL_OK ? "OK" : s == THERMAL_WARNING ? "Warning" : "Critical";
}

json_t *rf_te_excerpt(double v, bool valid, const char *sensor_id)
{
	json_t *o = json_object();

	json_object_set_new(o, "Reading",
	                    valid && isfinite(v) ? json_real(round(v * 100) / 100) : json_null());
	if (sensor_id)
		json_object_set_new(o, "DataSourceUri",
		                    json_sprintf("%s/%s", TE_SENSORS, sensor_id));
	return o;
}

/* The resource an alarm is about, and its MessageArgs where the message
 * has a fixed form (the temperature lines' messages carry readings: none). */
static char *alarm_origin(const char *key, json_t **ret_args)
{
	int n;

	*ret_args = NULL;
	if (!strcmp(key, "heater")) {
		*ret_args = json_pack("[s, s]", "Heater", "Critical");
		return xasprintf("%s", TE_HEATER);
	}
	if (sscanf(key, "fan%d", &n) == 1 && n > 0 && n <= THERMAL_FANS_MAX) {
		*ret_args = json_pack("[o]", json_sprintf("Fan%d", n));
		return xasprintf("%s/ThermalSubsystem/Fans/Fan%d", TE_CHASSIS, n);
	}
	if (!strcmp(key, "sensor-pkg")) {
		*ret_args = json_pack("[s]", "CPUPackageTemp");
		return xasprintf("%s/CPUPackageTemp", TE_SENSORS);
	}
	if (!strcmp(key, "sensor-ambient")) {
		*ret_args = json_pack("[s]", "AmbientTemp");
		return xasprintf("%s/AmbientTemp", TE_SENSORS);
	}
	if (!strcmp(key, "sensor-coolant"))
		*ret_args = json_pack("[s]", "CoolantTemp");
	else if (!strcmp(key, "coolant-blind"))
		*ret_args = json_pack("[s, s]", "CoolantTemp", "Critical");
	if (!strncmp(key, "sensor-coolant", 14) || !strncmp(key, "coolant-", 8))
		return xasprintf("%s/CoolantTemp", TE_SENSORS);
	return NULL;
}

json_t *rf_te_conditions(const struct thermal_rt_view *v, const char *prefix, const char *self)
{
	json_t *list = json_array();

	for (size_t i = 0; i < v->st.nalarms; i++) {
		const struct thermal_alarm *al = &v->st.alarms[i];
		json_t *c, *args;
		char *origin;

		if (strncmp(al->key, prefix, strlen(prefix)) != 0)
			continue;
		c = json_pack("{s:s, s:s, s:s}", "MessageId", al->message_id, "Message",
		              al->message, "Severity", rf_te_health(al->severity));
		origin = alarm_origin(al->key, &args);
		if (args)
			json_object_set_new(c, "MessageArgs", args);
		if (origin && strcmp(origin, self) != 0)
			json_object_set_new(c, "OriginOfCondition", rf_link(origin));
		free(origin);
		json_array_append_new(list, c);
	}
	return list;
}

void rf_te_reading_etag(struct rf_call *call, const struct thermal_rt_view *v)
{
	char etag[32];

	snprintf(etag, sizeof(etag), "r%.0f", floor(v->sim_t));
	rf_set_etag(call, etag);
}

/* ---- ThermalEquipment and the unit ---- */

/* The unit's Health: the controller's state, as Chassis/box shows it (ok:
 * OK, warning: Warning, alarm and critical: Critical: a failed fan or
 * heater needs someone even when the others make up for it);
 * HealthRollup adds every alarm's own severity. */
static const char *state_health(enum thermal_state s)
{
	return s == THERMAL_STATE_OK ? "OK" : s == THERMAL_STATE_WARNING ? "Warning" : "Critical";
}

static enum thermal_severity rollup(const struct thermal_rt_view *v)
{
	enum thermal_severity s = v->st.state == THERMAL_STATE_OK        ? THERMAL_OK
	                          : v->st.state == THERMAL_STATE_WARNING ? THERMAL_WARNING
	                                                                 : THERMAL_CRITICAL;

	for (size_t i = 0; i < v->st.nalarms; i++)
		if (v->st.alarms[i].severity > s)
			s = v->st.alarms[i].severity;
	return s;
}

static void get_thermal_equipment(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct thermal_rt_view v;
	json_t *body, *status;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id", TE_PATH, "@odata.type",
	                 "#ThermalEquipment.v1_2_0.ThermalEquipment", "Id", "ThermalEquipment",
	                 "Name", "Thermal Equipment", "Description",
	                 "The node's cooling equipment: its immersion unit", "ImmersionUnits",
	                 rf_link(TE_UNITS));
	if (ctx->thermal) {
		thermal_rt_view(ctx->thermal, &v);
		status = json_pack("{s:s, s:s}", "State", "Enabled", "HealthRollup",
		                   rf_te_health(rollup(&v)));
	} else {
		status = json_pack("{s:s}", "State", "Absent");
	}
	json_object_set_new(body, "Status", status);
	rf_reply_resource(call, body);
}

static void list_units(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *members = json_array();

	if (ctx->thermal)
		json_array_append_new(members, json_string(TE_UNIT));
	rf_reply_resource(call, rf_collection_new(TE_UNITS, "CoolingUnitCollection",
	                                          "Immersion Units Collection", members));
}

static void get_unit(struct rf_call *call)
{
	struct thermal_rt_view v;
	json_t *body, *status, *oem;

	if (!rf_te_view(call, &v))
		return;
	status = json_pack("{s:s, s:s, s:s, s:o}", "State", "Enabled", "Health",
	                   state_health(v.st.state), "HealthRollup", rf_te_health(rollup(&v)),
	                   "Conditions", rf_te_conditions(&v, "", TE_UNIT));
	oem = json_pack("{s:{s:s, s:s, s:s, s:f, s:i, s:i, s:i, s:b}}", "Kumo", "Box",
	                "physical model (simulated)", "ControllerState",
	                thermal_state_name(v.st.state), "CoolantSource",
	                thermal_source_name(v.st.source), "TimeScale", v.time_scale,
	                "CPUCapPercent", v.st.cpu_cap_pct, "FansFailed", v.st.fans_failed,
	                "VMsShutDown", v.st.vms_shut_down, "HeaterFailed", v.st.heater_failed);
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:o, s:o, s:o, s:o, s:o}",
	    "@odata.id", TE_UNIT, "@odata.type", "#CoolingUnit.v1_5_0.CoolingUnit", "Id", "1",
	    "Name", "Immersion Unit", "Description",
	    "The sealed immersion-cooled box: coolant tank, fins, fans and heater, run by the "
	    "agent's thermal controller",
	    "EquipmentType", "ImmersionUnit", "Manufacturer", "Kumo", "Model",
	    "Immersion box (physical model)", "Coolant", "CoolantType", "Dielectric", "Status",
	    status, "EnvironmentMetrics", rf_link(TE_UNIT "/EnvironmentMetrics"), "Links",
	    json_pack("{s:[o], s:i, s:[o], s:i}", "Chassis", rf_link(TE_CHASSIS),
	              "Chassis@odata.count", 1, "ManagedBy", rf_link(TE_MANAGER),
	              "ManagedBy@odata.count", 1),
	    "Actions",
	    json_pack("{s:{s:{s:s, s:s}}}", "Oem", "#" INJECT_ACTION, "target", INJECT_TARGET,
	              "@Redfish.ActionInfo", INJECT_INFO),
	    "Oem", oem);
	rf_reply_resource(call, body);
}

static void get_unit_metrics(struct rf_call *call)
{
	struct thermal_rt_view v;
	json_t *body, *fans = json_array(), *power, *energy;
	double own_w;

	if (!rf_te_view(call, &v))
		return;
	for (int i = 0; i < v.r.fans && i < THERMAL_FANS_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "Fan%d", i + 1);
		json_array_append_new(
		    fans, json_pack("{s:s, s:s, s:f, s:f, s:s+}", "DeviceName", name,
		                    "PhysicalContext", "Fan", "Reading",
		                    round(v.r.fan_rpm[i] / v.mcfg.box.fan_rpm_max * 1000) / 10,
		                    "SpeedRPM", round(v.r.fan_rpm[i]), "DataSourceUri",
		                    TE_SENSORS "/", name));
	}
	own_w = v.r.heater_w;
	for (int i = 0; i < v.r.fans && i < THERMAL_FANS_MAX; i++)
		own_w += v.r.fan_w[i];
	power = rf_te_excerpt(own_w, true, NULL);
	energy = rf_te_excerpt((v.fan_wh + v.heater_wh) / 1000, true, NULL);
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "@odata.id",
	    TE_UNIT "/EnvironmentMetrics", "@odata.type",
	    "#EnvironmentMetrics.v1_5_0.EnvironmentMetrics", "Id", "EnvironmentMetrics", "Name",
	    "Immersion Unit Environment Metrics", "Description",
	    "Coolant and air temperatures, fan speeds, and the power and energy of "
	    "the unit's fans and heater since the agent started",
	    "TemperatureCelsius", rf_te_excerpt(v.r.coolant_c, v.r.coolant_valid, "CoolantTemp"),
	    "AmbientTemperatureCelsius",
	    rf_te_excerpt(v.r.ambient_c, v.r.ambient_valid, "AmbientTemp"), "FanSpeedsPercent",
	    fans, "PowerWatts", power, "EnergykWh", energy);
	rf_te_reading_etag(call, &v);
	rf_reply_resource(call, body);
}

/* ---- the fault-injection action (a simulation control) ---- */

static const char *const fault_names[] = { "Fan",   "Heater", "Sensor", "Ambient",
	                                   "Solar", "Load",   NULL };

static const struct rf_prop inject_props[] = {
	{ .name = "Fault", .type = RF_T_STRING, .flags = RF_P_REQUIRED, .values = fault_names },
	{ .name = "Index", .type = RF_T_INT, .min = 0, .max = THERMAL_FANS_MAX },
	{ .name = "Value", .type = RF_T_NUMBER, .min = -100, .max = 100 },
	{ 0 },
};

/* What each fault takes: its Index range (none when lo > hi), the Value's
 * range and the Value when none is given (NAN: required). */
static const struct fault_rule {
	const char *name, *what; /* the action's name, thermal_rt_inject()'s */
	int index_lo, index_hi;  /* index_hi 0 for Fan: the box's number of fans */
	double value_lo, value_hi, value_default;
	bool value_integral;
} fault_rules[] = {
	{ "Fan", "fan", 1, 0, -100, 100, 0, false },
	{ "Heater", "heater", 1, -1, 0, 1, 1, true },
	{ "Sensor", "sensor", 0, THERMAL_SENSOR_COUNT - 1, 0, 2, 1, true },
	{ "Ambient", "ambient", 1, -1, -60, 80, NAN, false },
	{ "Solar", "solar", 1, -1, 0, 1, NAN, false },
	{ "Load", "load", 1, -1, -100, 1, NAN, false },
};

static json_t *param_range(const json_t *v, const char *param)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	json_t *m = rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_OUT_OF_RANGE, s ? s : "?", param,
	                   INJECT_ACTION, NULL);

	free(s);
	return m;
}

static void inject_fault(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct fault_rule *rule = NULL;
	struct thermal_rt_view v;
	json_t *p, *idx, *val;
	struct kerr e;
	double value;
	int index = 0, hi;

	/* thermal_rt always runs the box model, so the action is there
	 * whenever the unit is; a box of real hardware would answer
	 * ActionNotSupported here */
	if (!rf_te_view(call, &v))
		return;
	if (rf_action_check(call, INJECT_ACTION, inject_props, &p) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(fault_rules); i++)
		if (!strcmp(fault_rules[i].name, jstr(p, "Fault")))
			rule = &fault_rules[i];
	assert(rule); /* the values list above */
	idx = json_object_get(p, "Index");
	val = json_object_get(p, "Value");
	hi = rule->index_hi ? rule->index_hi : v.mcfg.box.fans;
	if (rule->index_lo <= hi) {
		if (!idx) {
			rf_reply_error(
			    call, 400,
			    rf_msg(RF_MSG_ACTION_PARAMETER_MISSING, INJECT_ACTION, "Index", NULL));
			goto out;
		}
		index = (int)json_integer_value(idx);
		if (index < rule->index_lo || index > hi) {
			rf_reply_error(call, 400, param_range(idx, "Index"));
			goto out;
		}
	}
	if (!val && isnan(rule->value_default)) {
		rf_reply_error(
		    call, 400,
		    rf_msg(RF_MSG_ACTION_PARAMETER_MISSING, INJECT_ACTION, "Value", NULL));
		goto out;
	}
	value = val ? json_number_value(val) : rule->value_default;
	if (value < rule->value_lo || value > rule->value_hi ||
	    (rule->value_integral && value != floor(value))) {
		rf_reply_error(call, 400, param_range(val, "Value"));
		goto out;
	}
	kerr_clear(&e);
	if (thermal_rt_inject(ctx->thermal, rule->what, index, value, &e) < 0) {
		rf_reply_error(call, 400,
		               rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_ERROR,
		                      !strcmp(e.field, "index") ? "Index" : "Value", INJECT_ACTION,
		                      NULL));
		goto out;
	}
	if (ctx->log)
		nodelog_add(ctx->log, "Warning", "ResourceEvent.1.4.3.ResourceChanged", NULL,
		            "Simulation: %s fault injected into the box model (index %d, value %g) "
		            "by %s over Redfish.",
		            rule->name, index, value, call->who.user[0] ? call->who.user : "?");
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
out:
	json_decref(p);
}

static void get_inject_info(struct rf_call *call)
{
	struct thermal_rt_view v;
	json_t *params;

	if (!rf_te_view(call, &v))
		return;
	params = json_pack(
	    "[{s:s, s:b, s:s, s:[s,s,s,s,s,s], s:[s,s,s,s,s,s]},"
	    " {s:s, s:b, s:s, s:i, s:i},"
	    " {s:s, s:b, s:s, s:i, s:i}]",
	    "Name", "Fault", "Required", 1, "DataType", "String", "AllowableValues", "Fan",
	    "Heater", "Sensor", "Ambient", "Solar", "Load", "AllowableValueDescriptions",
	    "A fan stuck: Index 1.. (the fan), Value its speed in percent (0: failed, "
	    "default), a negative Value frees it",
	    "The heater: Value 1 fails it (default), 0 repairs it",
	    "A temperature sensor: Index 0 coolant, 1 CPU package, 2 ambient; Value 0 fine, 1 "
	    "stuck (default), 2 missing",
	    "The ambient air: Value in degrees C (-60..80), from now on instead of the scenario's",
	    "The sun: Value 0..1 of the model's full solar gain",
	    "Every VM's CPU demand: Value 0..1, a negative Value goes back to the measured use",
	    "Name", "Index", "Required", 0, "DataType", "Number", "MinimumValue", 0, "MaximumValue",
	    v.mcfg.box.fans, "Name", "Value", "Required", 0, "DataType", "Number", "MinimumValue",
	    -100, "MaximumValue", 100);
	rf_reply_resource(call,
	                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id", INJECT_INFO,
	                            "@odata.type", "#ActionInfo.v1_5_0.ActionInfo", "Id",
	                            "InjectFaultActionInfo", "Name", "InjectFault Action Info",
	                            "Description",
	                            "A simulation control for tests and demonstrations: injects a "
	                            "fault into the immersion box's physical model, or sets its "
	                            "weather. It changes the model, never real hardware.",
	                            "Parameters", params));
}

static const struct rf_route routes[] = {
	{ "GET", TE_PATH, get_thermal_equipment, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_UNITS, list_units, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_UNIT, get_unit, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_UNIT "/EnvironmentMetrics", get_unit_metrics, RF_PRIV_LOGIN, 0 },
	{ "GET", INJECT_INFO, get_inject_info, RF_PRIV_LOGIN, 0 },
	{ "POST", INJECT_TARGET, inject_fault, RF_PRIV_CONFIGURE_MANAGER, 0 },
	{ "GET", TE_HEATERS, rf_te_list_heaters, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_HEATER, rf_te_get_heater, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_HEATER "/Metrics", rf_te_get_heater_metrics, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_CONTROLS, rf_te_list_controls, RF_PRIV_LOGIN, 0 },
	{ "GET", TE_CONTROLS "/{id}", rf_te_get_control, RF_PRIV_LOGIN, 0 },
	{ "PATCH", TE_CONTROLS "/{id}", rf_te_patch_control, RF_PRIV_CONFIGURE_COMPONENTS, 0 },
	{ NULL },
};

static const char *const schemas[] = {
	"ThermalEquipment.v1_2_0",
	"CoolingUnitCollection",
	"CoolingUnit.v1_5_0",
	"EnvironmentMetrics.v1_5_0",
	"ActionInfo.v1_5_0",
	"HeaterCollection",
	"Heater.v1_0_2",
	"HeaterMetrics.v1_0_2",
	"ControlCollection",
	"Control.v1_7_0",
	NULL,
};

const struct rf_module rf_thermaleq_module = { "ThermalEquipment", routes, schemas };
