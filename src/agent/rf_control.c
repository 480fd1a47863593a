// SPDX-License-Identifier: MIT
/*
 * The thermal controller's setpoints as Redfish Controls:
 * Chassis/box/Controls and one Control (ControlType Temperature, a single
 * SetPoint in Cel, ControlMode Automatic) per line of the controller that
 * an operator may move while it runs. From the coldest up they must stay in
 * the controller's order (thermal_ctl_config_check()):
 *
 *   CoolantBandLow < HeaterOn < HeaterOff < FanStop < FanTarget
 *                  <= FanStart <= CoolantBandHigh < (the warning line)
 *
 * A PATCH of SetPoint (ConfigureComponents: Operator or Administrator)
 * goes to thermal_rt_set(), which keeps it in DATA/redfish/setpoints.json
 * (so it outlives a restart of the agent) and which the controller reads
 * at its next step. DefaultSetPoint is the agent config's value: PATCHed
 * back to it, a Control follows the config again.
 * Outside the Control's AllowableMin..AllowableMax: PropertyValueOutOfRange;
 * past a neighbour in that order: PropertyValueResourceConflict naming the
 * neighbour's Control; any other property: PropertyNotWritable or
 * PropertyUnknown (the core's checks). A Control's ETag is a version of its
 * set point, not a hash of the body (its Sensor excerpt carries the coolant
 * reading, which moves all the time), so If-Match guards exactly the set
 * point. The warning and critical lines stay config-only ([thermal]
 * ctl.warning_c, ctl.critical_c): they protect the hardware.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rf_thermaleq.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

struct te_control {
	const char *id;
	const char *key; /* thermal_ctl_config_set()'s */
	size_t off;      /* the field in struct thermal_ctl_config */
	const char *name, *description;
	double min, max; /* AllowableMin, AllowableMax */
	bool heater;     /* the heater's: related to Heaters/1 */
};

#define OFF(f) offsetof(struct thermal_ctl_config, f)

/* In the controller's order, coldest first. */
static const struct te_control controls[] = {
	{ "CoolantBandLow", "band_lo_c", OFF(band_lo_c), "Coolant Band Lower Limit",
	  "Below it the coolant is out of its band: an alarm (critical with the heater failed)",
	  -20, 20, false },
	{ "HeaterOn", "heater_on_c", OFF(heater_on_c), "Heater On Point",
	  "The heater switches on when the coolant is below it and heading below the band", -20, 30,
	  true },
	{ "HeaterOff", "heater_off_c", OFF(heater_off_c), "Heater Off Point",
	  "The heater switches off when the coolant reaches it", -20, 35, true },
	{ "FanStop", "fan_off_c", OFF(fan_off_c), "Fan Stop Point",
	  "The fans stop below it once natural convection is enough", 0, 55, false },
	{ "FanTarget", "fan_target_c", OFF(fan_target_c), "Fan Target",
	  "The coolant temperature the fans' PI loop holds", 0, 55, false },
	{ "FanStart", "fan_on_c", OFF(fan_on_c), "Fan Start Point",
	  "The fans start when the coolant reaches it", 0, 55, false },
	{ "CoolantBandHigh", "band_hi_c", OFF(band_hi_c), "Coolant Band Upper Limit",
	  "Above it the coolant is out of its band (warning state); the fans run at full ahead "
	  "of a peak they cannot hold under it",
	  20, 60, false },
};

#define NCONTROLS ARRAY_SIZE(controls)

/* May control i sit exactly on control i + 1? (fan_target <= fan_on <= band_hi) */
static bool may_equal_next(size_t i)
{
	return !strcmp(controls[i].id, "FanTarget") || !strcmp(controls[i].id, "FanStart");
}

static double value_of(const struct thermal_ctl_config *c, size_t i)
{
	return *(const double *)((const char *)c + controls[i].off);
}

static const struct te_control *find(const char *id, size_t *ret_i)
{
	for (size_t i = 0; i < NCONTROLS; i++)
		if (!strcmp(controls[i].id, id)) {
			*ret_i = i;
			return &controls[i];
		}
	return NULL;
}

/* The top of a control's range: the band's top also stays under the
 * warning line, which is configured only at the agent's start. */
static double allowable_max(const struct thermal_rt_view *v, size_t i)
{
	if (i == NCONTROLS - 1 && v->ccfg.warning_c - 0.1 < controls[i].max)
		return v->ccfg.warning_c - 0.1;
	return controls[i].max;
}

void rf_te_list_controls(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *members = json_array();

	for (size_t i = 0; ctx->thermal && i < NCONTROLS; i++)
		json_array_append_new(members, json_sprintf("%s/%s", TE_CONTROLS, controls[i].id));
	rf_reply_resource(call, rf_collection_new(TE_CONTROLS, "ControlCollection",
	                                          "Controls Collection", members));
}

void rf_te_get_control(struct rf_call *call)
{
	const struct te_control *ct;
	struct thermal_rt_view v;
	json_t *body, *related;
	char *path, etag[48];
	size_t i;

	if (!(ct = find(rf_param(call, "id"), &i))) {
		rf_reply_not_found(call);
		return;
	}
	if (!rf_te_view(call, &v))
		return;
	path = xasprintf("%s/%s", TE_CONTROLS, ct->id);
	related = json_pack("[o]", rf_link(TE_UNIT));
	if (ct->heater)
		json_array_append_new(related, rf_link(TE_HEATER));
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:f, s:f, s:f, "
	                 "s:o, s:s, s:I, s:o, s:{s:s, s:s}}",
	                 "@odata.id", path, "@odata.type", "#Control.v1_7_0.Control", "Id", ct->id,
	                 "Name", ct->name, "Description", ct->description, "ControlType",
	                 "Temperature", "SetPointType", "Single", "ControlMode", "Automatic",
	                 "Implementation", "Programmable", "SetPoint", value_of(&v.ccfg, i),
	                 "SetPointUnits", "Cel", "DefaultSetPoint", value_of(&v.ccfg_config, i),
	                 "AllowableMin", ct->min, "AllowableMax", allowable_max(&v, i), "Sensor",
	                 rf_te_excerpt(v.r.coolant_c, v.r.coolant_valid, "CoolantTemp"),
	                 "PhysicalContext", "CoolingSubsystem", "RelatedItem@odata.count",
	                 (json_int_t)json_array_size(related), "RelatedItem", related, "Status",
	                 "State", "Enabled", "Health", "OK");
	if (!strcmp(ct->id, "FanTarget"))
		json_object_set_new(body, "ControlLoop",
		                    json_pack("{s:f, s:f, s:f}", "Proportional", v.ccfg.kp_w_per_k2,
		                              "Integral", v.ccfg.kp_w_per_k2 / v.ccfg.ti_s,
		                              "Differential", 0.0));
	snprintf(etag, sizeof(etag), "sp-%.3f", value_of(&v.ccfg, i));
	rf_set_etag(call, etag);
	rf_reply_resource(call, body);
	free(path);
}

/* The neighbour that value would pass, or -1. */
static int neighbour_conflict(const struct thermal_ctl_config *c, size_t i, double value)
{
	if (i > 0) {
		double lo = value_of(c, i - 1);

		if (may_equal_next(i - 1) ? value < lo : value <= lo)
			return (int)i - 1;
	}
	if (i + 1 < NCONTROLS) {
		double hi = value_of(c, i + 1);

		if (may_equal_next(i) ? value > hi : value >= hi)
			return (int)i + 1;
	}
	return -1;
}

void rf_te_patch_control(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const struct te_control *ct;
	struct thermal_rt_view v;
	struct rf_prop props[2];
	json_t *changes = NULL, *msgs = NULL, *errs;
	char num[32], *other;
	double value, old;
	struct kerr e;
	size_t i;
	int n, r;

	if (!(ct = find(rf_param(call, "id"), &i))) {
		rf_reply_not_found(call);
		return;
	}
	if (!rf_te_view(call, &v))
		return;
	memset(props, 0, sizeof(props));
	props[0] = (struct rf_prop){
		.name = "SetPoint", .type = RF_T_NUMBER, .min = ct->min, .max = allowable_max(&v, i)
	};
	if (rf_patch_check(call, props, &changes, &msgs) < 0)
		return;
	value = jnum(changes, "SetPoint", NAN);
	old = value_of(&v.ccfg, i);
	snprintf(num, sizeof(num), "%g", value);
	if ((n = neighbour_conflict(&v.ccfg, i, value)) >= 0) {
		other = xasprintf("%s/%s", TE_CONTROLS, controls[n].id);
		errs =
		    json_pack("[o]", rf_msg_related(rf_msg(RF_MSG_PROPERTY_VALUE_RESOURCE_CONFLICT,
		                                           "SetPoint", num, other, NULL),
		                                    "#/SetPoint"));
		json_array_extend(errs, msgs);
		rf_reply_errors(call, 400, errs);
		free(other);
		goto out;
	}
	kerr_clear(&e);
	r = thermal_rt_set(ctx->thermal, ct->key, value, &e);
	if (r < 0 && r != -EINVAL) {
		log_warn("redfish: setpoint %s not changed: %s", ct->id, e.message);
		rf_reply_internal(call);
		goto out;
	}
	if (r < 0) {
		errs = json_pack("[o]", rf_msg_related(rf_msg(RF_MSG_PROPERTY_VALUE_INCORRECT,
		                                              "SetPoint", num, NULL),
		                                       "#/SetPoint"));
		json_array_extend(errs, msgs);
		rf_reply_errors(call, 400, errs);
		goto out;
	}
	if (ctx->log && value != old)
		nodelog_add(ctx->log, "OK", "ResourceEvent.1.4.3.ResourceChanged", NULL,
		            "Setpoint %s (%s) changed from %.2f C to %.2f C by %s over Redfish.",
		            ct->id, ct->key, old, value, call->who.user[0] ? call->who.user : "?");
	rf_reply_patched(call, msgs);
	msgs = NULL;
out:
	json_decref(changes);
	json_decref(msgs);
}
