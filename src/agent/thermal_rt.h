/* SPDX-License-Identifier: MIT */
/*
 * The thermal controller at work in the agent: a thread that steps the box
 * (the physical model, thermal.h) by the real time elapsed times a time
 * scale, feeds the controller the readings and the host's real VMs (their
 * priorities and their CPU use, measured from their QEMU processes), and
 * carries out its decisions: fan speeds and the heater on the box, CPU caps
 * on the VMs' processes (cpucap.h), graceful shutdowns and restarts of VMs
 * (channel.h's local actions, which kumod learns at the next heartbeat),
 * and every decision into the node log (nodelog.h): the Manager's
 * LogService, Redfish events and kumod's events. It never needs kumod.
 *
 * Config, section [thermal] of the agent's file (docs/THERMAL.md):
 *   enabled      on|off (default on with the qemu driver, off with sim)
 *   time_scale   simulated seconds per real second (1; tests use 600)
 *   tick_ms      how often the thread runs (1000)
 *   scenario     a named scenario's inputs and faults (thermal-sim's
 *                list), played from the agent's start, or none
 *   ambient_c    ambient temperature without a scenario (20)
 *   solar        solar gain without a scenario, 0..1 (0)
 *   load         auto (the VMs' measured CPU use) or 0..1 (every VM's
 *                demand, as the scenarios give it) (auto)
 *   coolant0_c   coolant temperature at the start (the scenario's, or 25)
 *   model.*      physical constants (thermal_model_config_set keys)
 *   ctl.*        controller policy (thermal_ctl_config_set keys)
 *
 * Over ctl.*: the set points an operator changed while it ran
 * (thermal_rt_set(), the Redfish Controls), kept in a file that outlives a
 * restart (thermal_setpoints.c).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/channel.h"
#include "agent/nodelog.h"
#include "agent/thermal.h"
#include "common/config.h"
#include "common/error.h"

struct thermal_rt;

/* Reads [thermal] of cfg; *ret = NULL when disabled. 0 or -EINVAL with e
 * (a bad key or value: the agent refuses to start). Then the operator's
 * set points from setpoints_path (NULL: none are kept) over the config's
 * values; a file that does not fit them is logged and ignored, never
 * fatal. Starts the thread. */
int thermal_rt_start(const struct config *cfg, bool default_on, struct agent_host *h,
                     const char *setpoints_path, struct nodelog *log, struct thermal_rt **ret,
                     struct kerr *e);
/* Stops the thread, lifts the CPU caps. */
struct thermal_rt *thermal_rt_stop(struct thermal_rt *t);

/* The heartbeat's "telemetry" member (kumod's format, docs/API.md): the
 * state, the sensors and the log entries kumod has not acknowledged. */
json_t *thermal_rt_telemetry(struct thermal_rt *t);

/* A consistent copy of what the Redfish resources show. */
struct thermal_rt_view {
	double sim_t; /* simulated seconds since the start */
	double time_scale;
	struct thermal_readings r;
	struct thermal_status st;
	double fan_pct[THERMAL_FANS_MAX]; /* commanded */
	bool heater_on;                   /* commanded */
	bool heater_failed_injected;
	struct thermal_ctl_config ccfg;        /* with the operator's set points */
	struct thermal_ctl_config ccfg_config; /* the agent config's values */
	struct thermal_model_config mcfg;
	double ambient_c, solar, load;
	double fan_wh, heater_wh; /* energy since the start */
	double server_wh;         /* the server's energy since the start */
	int64_t read_ms;          /* wall clock of the readings (the last tick) */
};
void thermal_rt_view(struct thermal_rt *t, struct thermal_rt_view *ret);

/* Setpoints (Redfish Controls): one of thermal_setpoint_keys. Saved to
 * the set point file first (when there is one), then used from the
 * controller's next step. 0, -EINVAL with e (not a set point, out of
 * range, or the order of the lines would break), or another negative
 * errno with e (the file cannot be written: nothing changed). */
int thermal_rt_set(struct thermal_rt *t, const char *key, double value, struct kerr *e);

/* ---- the operator's set points, kept across restarts (thermal_setpoints.c) ---- */

#define THERMAL_SETPOINTS_FILE "setpoints.json" /* in DATA/redfish */

/* The keys an operator may move while the controller runs, coldest
 * first; ends with NULL. */
extern const char *const thermal_setpoint_keys[];
bool thermal_setpoint_key(const char *key);
/* Reads the set point file at path over *c (the config's values): 0 (c
 * has them), -ENOENT (no file), -EINVAL with e (it does not fit: not
 * JSON, not a set point file, an unknown key, a value out of range, the
 * lines out of order), or another negative errno with e (unreadable). c
 * is untouched on failure. */
int thermal_setpoints_load(const char *path, struct thermal_ctl_config *c, struct kerr *e);
/* The set points of c that differ from base: {"fan_target_c": 47, ...}.
 * New reference. */
json_t *thermal_setpoints_diff(const struct thermal_ctl_config *c,
                               const struct thermal_ctl_config *base);
/* Writes those (thermal_setpoints_diff()) to path, atomically, mode 0600.
 * 0 or a negative errno. */
int thermal_setpoints_save(const char *path, const struct thermal_ctl_config *c,
                           const struct thermal_ctl_config *base);

/* Fault injection on the model, for tests and demonstrations: "fan"
 * (index 1.., value = stuck speed percent, < 0 frees it), "heater" (value
 * != 0 fails it), "sensor" (index: 0 coolant, 1 package, 2 ambient; value:
 * 0 fine, 1 stuck, 2 missing), "ambient" (value °C), "solar" (0..1),
 * "load" (0..1, < 0 = auto). 0 or -EINVAL with e. */
int thermal_rt_inject(struct thermal_rt *t, const char *what, int index, double value,
                      struct kerr *e);
