/* SPDX-License-Identifier: MIT */
/*
 * The thermal side of a sealed immersion-cooled edge box: its physical
 * model, the controller that keeps its coolant in band, and the scenario
 * runner that plays the two together in accelerated time.
 *
 *   thermal_model.c  the box as physics: coolant heat balance, fins, fans,
 *                    heater, server heat, solar gain, sensors, faults.
 *   thermal_ctl.c    the controller: readings + the node's VMs in, fan
 *                    speeds, heater, CPU cap, VM shutdown/start, alarms and
 *                    log entries out; thermal_guard.c is its protection
 *                    part (lines, CPU cap, VM shutdown and restart).
 *   thermal_config.c the configs: defaults, checks, set by key.
 *   thermal_sim.c    named scenarios, thermal_sim_run() (no I/O) and
 *                    thermal_sim_main() (the `kumo-agent thermal-sim` tool).
 *
 * None of this does I/O, takes locks or keeps global state: a model and a
 * controller are plain structs owned by the caller, stepped by the caller
 * with whatever time it likes (simulated seconds in the runner, elapsed
 * real time times a time scale in the agent). A caller that shares one
 * between threads locks around every call. docs/THERMAL.md has the
 * equations, every threshold and why.
 *
 * Temperatures are in degrees Celsius, powers in W, conductances in W/K,
 * energies in J, times in seconds, fan speeds and CPU caps in percent.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define THERMAL_FANS_MAX 8
#define THERMAL_VMS_MAX 64    /* VMs one controller tracks */
#define THERMAL_ID_MAX 64     /* VM id, bytes with the NUL */
#define THERMAL_LOGS_MAX 16   /* log entries one controller step can return */
#define THERMAL_ALARMS_MAX 16 /* alarms active at once */
#define THERMAL_MSGID_MAX 96
#define THERMAL_NARGS_MAX 4
#define THERMAL_ARG_MAX 48
#define THERMAL_TEXT_MAX 400
#define THERMAL_ORIGIN_MAX 80

/* ---- The box: physical constants shared by the model (the truth) and the
 * controller (its calibrated belief about the box). */

struct thermal_box {
	double heat_capacity_j_per_k; /* coolant + tank + boards: 120 kJ/K */
	double g_natural_w_per_k;     /* natural convection through the fins: 15 W/K */
	int fans;                     /* fans on the heat exchanger: 4 */
	double fan_g_w_per_k;         /* extra conductance of one fan at 100%: 12 W/K */
	double fan_power_w;           /* electrical power of one fan at 100%: 12 W */
	double fan_rpm_max;           /* tachometer at 100%: 6000 RPM */
	double fan_heat_fraction;     /* share of fan power that heats the coolant: 0 */
	double heater_w;              /* heater power: 400 W */
	double server_idle_w;         /* server heat at 0% CPU: 120 W */
	double server_max_w;          /* server heat at 100% CPU: 600 W */
	double pkg_r_k_per_w;         /* CPU package above coolant per W of server heat: 0.03 */
};

void thermal_box_defaults(struct thermal_box *b);
/* 0, or -EINVAL with e naming the field that is out of range. */
int thermal_box_check(const struct thermal_box *b, struct kerr *e);
/* Sets one field by name ("fan_g_w_per_k", ...): 0; -ENOENT for an unknown
 * key (e untouched, so callers can try another table); -EINVAL for a bad
 * value. */
int thermal_box_set(struct thermal_box *b, const char *key, const char *value, struct kerr *e);

/* ---- Readings, VMs, log entries: what the model (or real sensors) gives
 * and what the controller reads and writes. */

enum thermal_severity {
	THERMAL_OK,
	THERMAL_WARNING,
	THERMAL_CRITICAL,
};

/* "OK", "Warning", "Critical" (Redfish MessageSeverity). */
const char *thermal_severity_name(enum thermal_severity s);

struct thermal_readings {
	double t; /* seconds, monotonic; the controller's clock */
	double coolant_c;
	bool coolant_valid; /* false: the reading is unavailable */
	double pkg_c;       /* the second, independent sensor: CPU package */
	bool pkg_valid;
	double ambient_c;
	bool ambient_valid;
	int fans;
	double fan_rpm[THERMAL_FANS_MAX]; /* tachometers */
	double fan_w[THERMAL_FANS_MAX];
	bool heater_on; /* the heater's relay as commanded */
	double heater_w;
	double server_w;
	double total_w; /* server + fans + heater */
};

struct thermal_vm {
	char id[THERMAL_ID_MAX];
	int priority; /* higher = more important: shut down last, started first */
	bool running; /* powered on (running, booting or shutting down) */
	double cpu;   /* CPU use now, fraction of the node's CPU, 0..1 */
	double share; /* its vCPUs as a fraction of the node's CPUs, 0..1; 0 = unknown */
};

/* Node CPU use of one VM with demand (0..1 of its own vCPUs) under a cap:
 * share * min(demand, cap). What cgroup cpu.max at cap percent gives. */
double thermal_vm_use(double demand, double share, int cap_pct);

struct thermal_log {
	double t; /* the readings' time */
	enum thermal_severity severity;
	/* "Environmental.1.4.0.FanFailed": registry prefix, version and key, as
	 * in ../shared/redfish/registries; args are its MessageArgs. */
	char message_id[THERMAL_MSGID_MAX];
	int nargs;
	char args[THERMAL_NARGS_MAX][THERMAL_ARG_MAX];
	char message[THERMAL_TEXT_MAX];  /* the decision, for people */
	char origin[THERMAL_ORIGIN_MAX]; /* "Fan2", "Heater", "Coolant", "VM <id>", ... */
};

/* {"t","severity","message_id","args":[],"message","origin"} (new reference). */
json_t *thermal_log_json(const struct thermal_log *l);

/* ---- The model. */

enum thermal_sensor {
	THERMAL_SENSOR_COOLANT,
	THERMAL_SENSOR_PKG,
	THERMAL_SENSOR_AMBIENT,
	THERMAL_SENSOR_COUNT,
};

enum thermal_sensor_fault {
	THERMAL_SENSOR_OK,
	THERMAL_SENSOR_STUCK,   /* keeps reporting its last value */
	THERMAL_SENSOR_MISSING, /* reading unavailable */
};

struct thermal_model_config {
	struct thermal_box box;     /* the real box */
	double solar_max_w;         /* solar gain at full sun: 150 W */
	double sensor_resolution_c; /* temperature readings are rounded to this: 0.01 */
	double step_s;              /* longest integration step: 1 s */
};

void thermal_model_config_defaults(struct thermal_model_config *c);
int thermal_model_config_check(const struct thermal_model_config *c, struct kerr *e);
/* Box keys and "solar_max_w", "sensor_resolution_c", "step_s"; as thermal_box_set. */
int thermal_model_config_set(struct thermal_model_config *c, const char *key, const char *value,
                             struct kerr *e);

struct thermal_model {
	struct thermal_model_config cfg;
	double t;         /* simulated seconds */
	double coolant_c; /* the true coolant temperature */
	/* inputs, set by the caller between steps */
	double ambient_c;
	double solar;                     /* 0..1 of solar_max_w */
	double cpu_use;                   /* node CPU use after any cap, 0..1 */
	double fan_cmd[THERMAL_FANS_MAX]; /* 0..1 */
	bool heater_cmd;
	/* faults */
	bool fan_stuck[THERMAL_FANS_MAX];
	double fan_stuck_speed[THERMAL_FANS_MAX]; /* 0..1; 0 = failed */
	bool heater_failed;
	enum thermal_sensor_fault sensor_fault[THERMAL_SENSOR_COUNT];
	double sensor_held[THERMAL_SENSOR_COUNT]; /* a stuck sensor's value */
	/* energy since init, J */
	double e_server_j, e_solar_j, e_heater_j, e_fan_j, e_fan_heat_j, e_out_j;
	double coolant0_c; /* coolant at init, for the balance */
};

/* Starts the model at coolant_c with ambient_c, everything off, no faults.
 * c must have passed thermal_model_config_check. */
void thermal_model_init(struct thermal_model *m, const struct thermal_model_config *c,
                        double coolant_c, double ambient_c);
/* Advances dt seconds (any dt >= 0: split into steps of cfg.step_s) with the
 * inputs and commands held constant. */
void thermal_model_step(struct thermal_model *m, double dt);
/* Fan speeds (percent) and heater from a controller's actions. */
void thermal_model_command(struct thermal_model *m, const double *fan_pct, int fans,
                           bool heater_on);
/* Faults: a fan stuck at speed_pct (0 = failed; its tachometer shows it),
 * or free again; the heater failed (draws nothing, adds no heat) or not; a
 * sensor stuck at its current reading, missing, or fine. */
void thermal_model_fan_fault(struct thermal_model *m, int fan, bool stuck, double speed_pct);
void thermal_model_heater_fault(struct thermal_model *m, bool failed);
void thermal_model_sensor_fault(struct thermal_model *m, enum thermal_sensor s,
                                enum thermal_sensor_fault f);
/* The readings at m->t, as real sensors would give them. */
void thermal_model_read(const struct thermal_model *m, struct thermal_readings *ret);
/* Instantaneous powers and conductance (true values). */
double thermal_model_fan_speed(const struct thermal_model *m, int fan); /* 0..1, real */
double thermal_model_server_w(const struct thermal_model *m);
double thermal_model_heater_w(const struct thermal_model *m);
double thermal_model_fans_w(const struct thermal_model *m);
double thermal_model_conductance(const struct thermal_model *m); /* W/K to ambient */
/* Coolant temperature the box settles at with the present inputs. */
double thermal_model_steady_c(const struct thermal_model *m);
/* Heat stored minus heat that came in and went out since init (J); ~0. */
double thermal_model_energy_error_j(const struct thermal_model *m);

/* ---- The controller. */

struct thermal_ctl_config {
	struct thermal_box box; /* what the controller believes about the box */
	/* the band and the lines above it */
	double band_lo_c;    /* 5: below it is an alarm */
	double band_hi_c;    /* 50: the top of the band */
	double warning_c;    /* 55: warning, VM CPU capped */
	double critical_c;   /* 60: VMs shut down, lowest priority first */
	double restart_c;    /* 50: shut-down VMs start again below this */
	double alarm_hyst_c; /* 2: a temperature alarm clears this far inside its line */
	/* fans */
	double fan_on_c;          /* 49: fans start at this coolant temperature */
	double fan_target_c;      /* 49: what the fans hold the coolant at */
	double fan_off_c;         /* 45: fans stop below this when not needed */
	double fan_min_pct;       /* 20: slowest useful speed */
	double fan_slew_pct_s;    /* 2: speed change per second, below the warning line */
	double fan_min_on_s;      /* 60: a fan stage runs at least this long */
	double fan_min_off_s;     /* 60: and stays off at least this long */
	double fan_log_pct;       /* 20: a speed change this big is logged */
	double kp_w_per_k2;       /* 10: W/K of conductance per K of error */
	double ti_s;              /* 900: integral time */
	double fan_fault_s;       /* 15: tachometer off for this long = fan fault */
	double fan_fault_tol_pct; /* 20: tachometer off by more than this (of max) */
	/* heater */
	double heater_on_c;      /* 5.2: heater on below this when falling */
	double heater_off_c;     /* 5.5: heater off above this (and not before the
	                          * coolant left alone stays above heater_on_c
	                          * for heater_min_off_s) */
	double heater_min_on_s;  /* 120 */
	double heater_min_off_s; /* 120 */
	double heater_fault_s;   /* 10: on but drawing < 10% for this long = failed */
	/* CPU cap */
	double cap_step_pct;  /* 10 */
	double cap_min_pct;   /* 20 */
	double cap_step_s;    /* 60: time between two cap reductions */
	double cap_release_s; /* 120: time between two cap increases */
	/* VM shutdown and start */
	double shed_delay_s;       /* 120: between two shutdowns */
	double shutdown_timeout_s; /* 180: a graceful shutdown not done by then is forced */
	double restart_hold_s;     /* 600: coolant below restart_c this long first */
	double restart_delay_s;    /* 300: between two starts */
	/* sensors */
	double missing_grace_s;    /* 5: a reading absent this long is a fault */
	double stuck_min_s;        /* 300: a reading unchanged this long may be stuck */
	double stuck_dev_c;        /* 1: ...if the other evidence moved this much */
	double fallback_margin_c;  /* 3: safety margin on the package-sensor estimate */
	double blind_margin_c;     /* 3: margin on the model-only estimate, growing */
	double blind_growth_c_h;   /* 3: ...this many K per hour */
	double blind_margin_max_c; /* 10 */
	double max_gap_s;          /* 30: longest dt integrated at once by the PI */
	double unknown_max_w;      /* 150: most heat the controller cannot measure (sun) */
};

void thermal_ctl_config_defaults(struct thermal_ctl_config *c);
/* Checks ranges and order (band_lo < heater_on < heater_off < fan_off <
 * fan_on <= band_hi < warning < critical, ...). */
int thermal_ctl_config_check(const struct thermal_ctl_config *c, struct kerr *e);
/* Box keys and every policy field by its name; as thermal_box_set. */
int thermal_ctl_config_set(struct thermal_ctl_config *c, const char *key, const char *value,
                           struct kerr *e);
/* A policy field by its name (not the box's): 0 and *ret, or -ENOENT. */
int thermal_ctl_config_get(const struct thermal_ctl_config *c, const char *key, double *ret);

enum thermal_state {
	THERMAL_STATE_OK,
	THERMAL_STATE_WARNING,  /* coolant above the warning line or out of band */
	THERMAL_STATE_ALARM,    /* a fan, the heater or a sensor has failed */
	THERMAL_STATE_CRITICAL, /* at the critical line, or cold with no heater */
};

/* "ok", "warning", "alarm", "critical". */
const char *thermal_state_name(enum thermal_state s);

/* Where the controller's coolant temperature comes from. */
enum thermal_source {
	THERMAL_SRC_COOLANT,  /* the coolant sensor */
	THERMAL_SRC_FALLBACK, /* package sensor minus the server's heat, with a margin */
	THERMAL_SRC_MODEL,    /* the heat-balance estimate only, with a growing margin */
};

const char *thermal_source_name(enum thermal_source s);

struct thermal_alarm {
	char key[32]; /* stable: "fan2", "heater", "sensor-coolant", "coolant-high", ... */
	enum thermal_severity severity;
	enum thermal_state state; /* what it makes the box's state at least */
	char message_id[THERMAL_MSGID_MAX];
	char message[THERMAL_TEXT_MAX];
	double since;
};

struct thermal_actions {
	int fans;
	double fan_pct[THERMAL_FANS_MAX];
	bool heater_on;
	int cpu_cap_pct; /* 100 = no cap; applied to every VM (cgroup cpu.max) */
	/* at most one of each per step; "" = none */
	char shutdown_vm[THERMAL_ID_MAX];
	bool shutdown_force; /* graceful shutdown timed out: power it off */
	char start_vm[THERMAL_ID_MAX];
	size_t nlogs;
	struct thermal_log logs[THERMAL_LOGS_MAX];
	size_t logs_dropped;
};

struct thermal_status {
	enum thermal_state state;
	size_t nalarms;
	struct thermal_alarm alarms[THERMAL_ALARMS_MAX];
	int cpu_cap_pct;
	double coolant_c;  /* the controller's coolant temperature (best estimate) */
	double headroom_c; /* warning_c minus the coolant (cooling side); < 0 above it */
	enum thermal_source source;
	int fans_failed;
	bool heater_failed;
	int vms_shut_down; /* by the controller, waiting to start again */
};

struct thermal_shed {
	char id[THERMAL_ID_MAX];
	int priority;
	double heat_w; /* its heat when it ran, uncapped, for the restart check */
	double at;     /* when the shutdown was asked */
	bool stopped;  /* seen not running since */
	bool forced;
};

/* A sensor that gives no reading: declared missing after missing_grace_s
 * without one, back after missing_grace_s with readings again. */
struct thermal_presence {
	bool missing;
	double bad_since, good_since; /* < 0: not */
};

/* The controller. Plain data owned by the caller: thermal_ctl_init() fills
 * it, thermal_ctl_step() moves it on; the fields below cfg are private. */
struct thermal_ctl {
	struct thermal_ctl_config cfg;
	bool started;
	double t; /* time of the last step */
	struct thermal_presence presence[THERMAL_SENSOR_COUNT];
	double ambient_c; /* the last ambient reading */
	bool ambient_known;
	/* coolant estimate */
	enum thermal_source source;
	double est_c;     /* best estimate of the coolant */
	double margin_c;  /* what the estimate may be off by */
	double t_cool_c;  /* used for cooling decisions (estimate + margin) */
	double t_heat_c;  /* used for heating decisions (estimate - margin) */
	double slope_c_s; /* filtered d(estimate)/dt */
	double settle_c;  /* where every fan at full settles the coolant now */
	double future_c;  /* ... and PRECOOL_HORIZON_S ahead at the weather's trend */
	double amb_slope_c_s, unk_slope_w_s; /* trends of the ambient and the unknown heat */
	double trend_amb_c, trend_unk_w;     /* their values at the last step */
	bool trend_ok;
	bool precool; /* every fan at full ahead of a peak the band cannot hold */
	double precool_at;
	double obs_c, obs_p_w; /* heat-balance observer: coolant and unknown heat */
	bool obs_ok;
	double obs_at;       /* when the observer (re)started: its first minutes are learning */
	double pkg_offset_c; /* learnt: coolant - (package - R P_server) */
	bool pkg_offset_ok;
	double blind_since;
	/* coolant sensor: stuck detection */
	bool coolant_seen, coolant_stuck;
	double last_value, last_change_t;
	double freeze_pkg_c; /* the package estimate when the reading froze */
	bool freeze_pkg_ok;
	double freeze_lo_c, freeze_hi_c; /* heat balance since then: no sun, full sun */
	/* fans */
	bool fans_on;
	double fans_at;
	int stage;                        /* healthy fans running */
	double fan_speed;                 /* 0..1, what the running healthy fans are asked */
	double fan_cmd[THERMAL_FANS_MAX]; /* 0..1, as last commanded */
	bool fan_run[THERMAL_FANS_MAX];
	double fan_at[THERMAL_FANS_MAX]; /* fan_run last changed */
	double integ_w_k, g_req_w_k;
	double logged_speed;
	int logged_stage;
	bool fan_failed[THERMAL_FANS_MAX];
	bool fan_wrong[THERMAL_FANS_MAX]; /* failed at a wrong speed (not stopped) */
	double fan_wrong_speed[THERMAL_FANS_MAX];
	double fan_bad_since[THERMAL_FANS_MAX];
	double fan_good_since[THERMAL_FANS_MAX];
	/* heater */
	bool heater_on;
	double heater_at;
	bool heater_failed;
	double heater_bad_since, heater_good_since;
	/* temperature lines */
	bool above_warning, above_critical, above_band, below_band, cold;
	/* CPU cap */
	int cap_pct;
	double cap_at, cap_at_c;
	/* VMs */
	size_t nshed;
	struct thermal_shed shed[THERMAL_VMS_MAX];
	double last_shed_at, last_start_at, below_restart_since;
	/* alarms */
	size_t nalarms;
	struct thermal_alarm alarms[THERMAL_ALARMS_MAX];
};

/* c must have passed thermal_ctl_config_check. */
void thermal_ctl_init(struct thermal_ctl *c, const struct thermal_ctl_config *cfg);
/* One control step: readings r (r->t must not go backwards; any gap is
 * fine) and the node's VMs. Fills ret with the complete set of commands for
 * now and the log entries of this step's decisions. VMs past
 * THERMAL_VMS_MAX are ignored. */
void thermal_ctl_step(struct thermal_ctl *c, const struct thermal_readings *r,
                      const struct thermal_vm *vms, size_t nvms, struct thermal_actions *ret);
void thermal_ctl_status(const struct thermal_ctl *c, struct thermal_status *ret);
/* {"state","alarms":[{"id","severity","message_id","message","since"}],
 *  "cpu_cap_pct","coolant_c","headroom_c","source",...} (new reference). */
json_t *thermal_status_json(const struct thermal_status *s);
/* The Redfish messages the controller logs, for checks against the
 * registries: i = 0, 1, ... until -ENOENT. registry is the registry's Id
 * ("Environmental.1.4.0"), text its Message with %1.. for the args. */
int thermal_ctl_message(size_t i, const char **ret_registry, const char **ret_key,
                        enum thermal_severity *ret_severity, int *ret_nargs, const char **ret_text);

/* ---- The scenario runner (thermal_sim.c). */

#define THERMAL_PROFILE_MAX 16
#define THERMAL_EVENTS_MAX 16
#define THERMAL_SIM_VMS_MAX 16

/* Inputs at time t; linear between points, held after the last. */
struct thermal_point {
	double t, ambient_c, solar, load; /* load: CPU demand of every VM, 0..1 */
};

enum thermal_event_kind {
	THERMAL_EV_FAN_STUCK, /* index, value = speed percent */
	THERMAL_EV_FAN_FREE,  /* index */
	THERMAL_EV_HEATER_FAIL,
	THERMAL_EV_HEATER_FIX,
	THERMAL_EV_SENSOR_STUCK,   /* index = enum thermal_sensor */
	THERMAL_EV_SENSOR_MISSING, /* index = enum thermal_sensor */
	THERMAL_EV_SENSOR_FIX,     /* index = enum thermal_sensor */
};

struct thermal_event {
	double t;
	enum thermal_event_kind kind;
	int index;
	double value;
};

struct thermal_sim_vm {
	char id[THERMAL_ID_MAX];
	int priority;
	double share; /* fraction of the node's CPU */
};

/* What drives the fans and the heater in a run: the controller, or the
 * plain on/off thermostat it is measured against (all fans at 100% above
 * 45 °C until below 40 °C; heater on below 5 °C until above 10 °C; no CPU
 * cap, no VM shutdown, no alarms). */
enum thermal_policy {
	THERMAL_POLICY_CTL,
	THERMAL_POLICY_THERMOSTAT,
};

struct thermal_scenario {
	char name[32];
	char description[160];
	double duration_s;
	double coolant0_c;
	size_t npoints;
	struct thermal_point points[THERMAL_PROFILE_MAX];
	size_t nevents;
	struct thermal_event events[THERMAL_EVENTS_MAX];
	size_t nvms;
	struct thermal_sim_vm vms[THERMAL_SIM_VMS_MAX];
	enum thermal_policy policy;
};

/* The named scenarios: winter-night, desert-noon, fan-failure,
 * heater-failure, stuck-sensor, sensor-lost, steady, and the 24-hour
 * profiles desert-day, alpine-winter, temperate-day. */
size_t thermal_scenario_count(void);
const struct thermal_scenario *thermal_scenario_at(size_t i);
/* Copies the named scenario into ret: 0 or -ENOENT. */
int thermal_scenario_get(const char *name, struct thermal_scenario *ret);

struct thermal_sample {
	double t;
	double ambient_c, solar, load;
	double coolant_c;                 /* true */
	const struct thermal_readings *r; /* weak: valid during the hook only */
	const struct thermal_actions *a;  /* weak: this step's, likewise */
	int vms_running;
	enum thermal_state state;
};

struct thermal_vm_event {
	char id[THERMAL_ID_MAX];
	double t;
	int priority;
};

struct thermal_sim_result {
	double coolant_min_c, coolant_max_c;
	double fan_wh, heater_wh, server_wh;
	double above_band_s, below_band_s, above_warning_s, above_critical_s;
	int heater_switches; /* heater on/off transitions */
	int fan_switches;    /* fan stage on/off transitions (off<->on) */
	int fan_stage_changes;
	int cap_min_pct;
	double first_warning_t, first_cap_t, first_critical_t; /* -1 = never */
	int max_fans_failed;
	enum thermal_state worst_state;
	size_t nlogs;
	size_t nshutdowns, nstarts;
	struct thermal_vm_event shutdowns[THERMAL_SIM_VMS_MAX * 4];
	struct thermal_vm_event starts[THERMAL_SIM_VMS_MAX * 4];
	int vms_running_end;
	/* MessageIds logged at Warning or Critical at least once, "a,b,c" */
	char alarms_seen[1024];
	double fallback_s; /* time the controller ran without its coolant sensor */
};

struct thermal_sim_hooks {
	double sample_every_s; /* 0 = no samples */
	void (*sample)(void *cls, const struct thermal_sample *s);
	void (*log)(void *cls, const struct thermal_log *l);
	void *cls;
};

/* Runs scenario sc with the model mc and controller cc in 1 s steps of
 * simulated time. hooks may be NULL. 0, or -EINVAL (bad scenario or config,
 * e says why). Pure: no I/O. */
int thermal_sim_run(const struct thermal_scenario *sc, const struct thermal_model_config *mc,
                    const struct thermal_ctl_config *cc, const struct thermal_sim_hooks *hooks,
                    struct thermal_sim_result *ret, struct kerr *e);
/* {"coolant_min_c",...} (new reference). */
json_t *thermal_sim_result_json(const struct thermal_sim_result *r);

/* `kumo-agent thermal-sim [SCENARIO] [OPTIONS]`: prints a time series, the
 * log and a summary. 0 on success, 2 on bad usage. */
int thermal_sim_main(int argc, char **argv);
