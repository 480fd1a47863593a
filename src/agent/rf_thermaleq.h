/* SPDX-License-Identifier: MIT */
/*
 * Inside the ThermalEquipment module of the agent's Redfish service: what
 * rf_thermaleq.c (ThermalEquipment, the immersion unit, its environment
 * metrics and its fault-injection action), rf_heater.c (the box's heater
 * under Chassis/box/ThermalSubsystem/Heaters) and rf_control.c (the
 * controller's setpoints under Chassis/box/Controls) share. The module's one
 * route table is in rf_thermaleq.c; the other two files export their
 * handlers here. Nothing outside these three files includes this.
 *
 * Every handler reads the box through thermal_rt_view() (a consistent copy
 * taken under the runtime's lock) and writes only through thermal_rt_set()
 * and thermal_rt_inject(). Without a box (ctx->thermal NULL: `kumo-agent
 * redfish` alone, a simulated host) the collections are empty and their
 * members 404.
 */
#pragma once

#include <stdbool.h>

#include "agent/redfish_agent.h"
#include "agent/thermal_rt.h"

#define TE_PATH RF_ROOT "/ThermalEquipment"
#define TE_UNITS TE_PATH "/ImmersionUnits"
#define TE_UNIT TE_UNITS "/1"
#define TE_CHASSIS RF_ROOT "/Chassis/box"
#define TE_SENSORS TE_CHASSIS "/Sensors" /* served by rf_chassis.c */
#define TE_HEATERS TE_CHASSIS "/ThermalSubsystem/Heaters"
#define TE_HEATER TE_HEATERS "/1"
#define TE_CONTROLS TE_CHASSIS "/Controls"
#define TE_MANAGER RF_ROOT "/Managers/agent"

/* The box's view, or false (and a 404 answered) without a box. */
bool rf_te_view(struct rf_call *call, struct thermal_rt_view *ret);

/* "OK", "Warning", "Critical". */
const char *rf_te_health(enum thermal_severity s);
/* {"Reading": v rounded to 0.01 (null when !valid), "DataSourceUri":
 * TE_SENSORS "/" sensor_id} (no DataSourceUri when sensor_id is NULL). */
json_t *rf_te_excerpt(double v, bool valid, const char *sensor_id);
/* Status.Conditions: one Condition per active alarm of the controller
 * whose key starts with prefix ("" = every alarm), for the resource at
 * self (no OriginOfCondition for what self itself caused). New reference. */
json_t *rf_te_conditions(const struct thermal_rt_view *v, const char *prefix, const char *self);
/* The ETag of a body of readings: "r<simulated second>", a counter that
 * moves exactly when the readings may have. */
void rf_te_reading_etag(struct rf_call *call, const struct thermal_rt_view *v);

/* rf_heater.c */
void rf_te_list_heaters(struct rf_call *call);
void rf_te_get_heater(struct rf_call *call);
void rf_te_get_heater_metrics(struct rf_call *call);

/* rf_control.c */
void rf_te_list_controls(struct rf_call *call);
void rf_te_get_control(struct rf_call *call);
void rf_te_patch_control(struct rf_call *call);
