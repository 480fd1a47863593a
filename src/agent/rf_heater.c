// SPDX-License-Identifier: MIT
/*
 * The immersion box's heater in the agent's Redfish service:
 * Chassis/box/ThermalSubsystem/Heaters (a collection of one), Heaters/1
 * (Status Health Critical while the thermal controller says the heater
 * has failed, with the controller's alarm as a Condition) and
 * Heaters/1/Metrics (its power now, the coolant temperature it heats, and
 * how long it has heated). rf_chassis.c serves Chassis/box and its
 * ThermalSubsystem and links here; this file serves this subtree only. The
 * routes are in rf_thermaleq.c's table.
 */
#include <math.h>

#include "agent/rf_thermaleq.h"
#include "common/json.h"

void rf_te_list_heaters(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *members = json_array();

	if (ctx->thermal)
		json_array_append_new(members, json_string(TE_HEATER));
	rf_reply_resource(
	    call, rf_collection_new(TE_HEATERS, "HeaterCollection", "Heater Collection", members));
}

void rf_te_get_heater(struct rf_call *call)
{
	struct thermal_rt_view v;
	json_t *body, *status;

	if (!rf_te_view(call, &v))
		return;
	status = json_pack("{s:s, s:s, s:o}", "State", "Enabled", "Health",
	                   v.st.heater_failed ? "Critical" : "OK", "Conditions",
	                   rf_te_conditions(&v, "heater", TE_HEATER));
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:{s:{s:b, s:f}}}", "@odata.id",
	    TE_HEATER, "@odata.type", "#Heater.v1_0_2.Heater", "Id", "1", "Name", "Coolant Heater",
	    "Description",
	    "The heater in the coolant tank; the thermal controller switches it on "
	    "and off to keep the coolant above the band's lower limit",
	    "PhysicalContext", "CoolingSubsystem", "HotPluggable", 0, "Status", status, "Metrics",
	    rf_link(TE_HEATER "/Metrics"), "Links",
	    json_pack("{s:[o], s:i}", "Managers", rf_link(TE_MANAGER), "Managers@odata.count", 1),
	    "Oem", "Kumo", "On", v.heater_on, "RatedWatts", v.mcfg.box.heater_w);
	rf_reply_resource(call, body);
}

void rf_te_get_heater_metrics(struct rf_call *call)
{
	struct thermal_rt_view v;
	json_t *body, *temps;
	double heated_s;

	if (!rf_te_view(call, &v))
		return;
	temps = json_pack("[o]", rf_te_excerpt(v.r.coolant_c, v.r.coolant_valid, "CoolantTemp"));
	json_object_set_new(json_array_get(temps, 0), "DeviceName", json_string("Coolant"));
	json_object_set_new(json_array_get(temps, 0), "PhysicalContext",
	                    json_string("LiquidInlet"));
	/* the heater is on/off at its rated power: time heated = energy / power
	 * (a failed heater draws nothing and heats nothing) */
	heated_s = v.mcfg.box.heater_w > 0 ? v.heater_wh * 3600 / v.mcfg.box.heater_w : 0;
	body =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:I}", "@odata.id",
	              TE_HEATER "/Metrics", "@odata.type", "#HeaterMetrics.v1_0_2.HeaterMetrics",
	              "Id", "Metrics", "Name", "Coolant Heater Metrics", "Description",
	              "The heater's power now, the coolant it heats, and its heating time "
	              "since the agent started (simulated seconds with the box model)",
	              "PowerWatts", rf_te_excerpt(v.r.heater_w, true, "HeaterPower"),
	              "TemperatureReadingsCelsius", temps, "TemperatureReadingsCelsius@odata.count",
	              1, "RuntimeHeatingTimeSeconds", (json_int_t)llround(heated_s));
	rf_te_reading_etag(call, &v);
	rf_reply_resource(call, body);
}
