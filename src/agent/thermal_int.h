/* SPDX-License-Identifier: MIT */
/*
 * Inside the thermal controller: what thermal_ctl.c (sensing, fans,
 * heater, the step) and thermal_guard.c (the temperature lines, the CPU
 * cap, VM shutdown and restart) share. Nothing outside those two files
 * includes this; the API is thermal.h.
 */
#pragma once

#include <stdbool.h>

#include "agent/thermal.h"

#define T_NEVER (-1e18) /* a time that never was: every "since" starts here */

/* The Redfish messages the controller logs (thermal_ctl.c has the table). */
enum tc_msg {
	M_TEMP_ABOVE_CAUTION,
	M_TEMP_ABOVE_CRITICAL,
	M_TEMP_BELOW_UPPER_CRITICAL,
	M_TEMP_BELOW_LOWER_CAUTION,
	M_TEMP_BELOW_LOWER_CRITICAL,
	M_TEMP_NORMAL,
	M_FAN_FAILED,
	M_FAN_WARNING,
	M_FAN_RESTORED,
	M_SENSOR_FAILURE,
	M_SENSOR_DISCONNECTED,
	M_SENSOR_RESTORED,
	M_STATUS_CRITICAL,
	M_STATUS_OK,
	M_POWERED_ON,
	M_POWERED_OFF,
	M_POWERING_ON,
	M_POWERING_OFF,
	M_CHANGED,
	M_WARN_EXCEEDED,
	M_WARN_CLEARED,
	M_POWER_BRAKE,
	M_MAX,
};

static inline double tc_clamp(double v, double lo, double hi)
{
	if (!(v >= lo)) /* also NaN */
		return lo;
	return v > hi ? hi : v;
}

/* since is a time (not T_NEVER) at least seconds ago. */
static inline bool tc_held(const struct thermal_ctl *c, double since, double seconds)
{
	return since > T_NEVER / 2 && c->t - since >= seconds - 1e-9;
}

/* since never was, or was at least seconds ago. */
static inline bool tc_never_or_held(const struct thermal_ctl *c, double since, double seconds)
{
	return since <= T_NEVER / 2 || c->t - since >= seconds - 1e-9;
}

/* One decision into a->logs: message m with args (at most its count; a
 * NULL ends them early), from origin; the text is the registry's message
 * followed by the detail. sev < 0: the registry's severity. */
void tc_log(const struct thermal_ctl *c, struct thermal_actions *a, enum tc_msg m, int sev,
            const char *origin, const char *const *args, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Raises (or updates) alarm key with message m; true when it is new. */
bool tc_alarm_raise(struct thermal_ctl *c, const char *key, enum tc_msg m, enum thermal_state state,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* true when it was raised. */
bool tc_alarm_clear(struct thermal_ctl *c, const char *key);

/* Heat into the coolant that is measured (W): server, fans' share and,
 * with_heater, the heater. */
double tc_q_known(const struct thermal_ctl *c, const struct thermal_readings *r, bool with_heater);
/* The most conductance to the air now (W/K): healthy fans at full speed,
 * faulty ones at what they turn. */
double tc_g_max(const struct thermal_ctl *c, const struct thermal_readings *r);
/* Where the coolant settles with heat q and conductance g; +inf without
 * an ambient reading. */
double tc_settle(const struct thermal_ctl *c, double q, double g);

/* thermal_guard.c: one step of each, after the fans and the heater. */
void tc_lines(struct thermal_ctl *c, struct thermal_actions *a);
void tc_cap(struct thermal_ctl *c, struct thermal_actions *a, const struct thermal_readings *r);
void tc_vms(struct thermal_ctl *c, struct thermal_actions *a, const struct thermal_readings *r,
            const struct thermal_vm *vms, size_t n);
