// SPDX-License-Identifier: MIT
/*
 * The thermal controller of the immersion-cooled edge box (thermal.h). One
 * call a second takes the readings and the node's VMs and decides the fan
 * speeds, the heater, the VM CPU cap and VM shutdowns and restarts; every
 * decision is also a log entry with a Redfish MessageId from the
 * Environmental, SensorEvent, ResourceEvent or Platform registry. This file
 * has steps 1 to 5 below, the step itself, the log, the alarms and the
 * status; thermal_guard.c has step 6; thermal_config.c the settings.
 *
 * A step, in order (docs/THERMAL.md says why for every number):
 *   1. sensors: missing after a grace time; the coolant sensor stuck when
 *      its reading has not changed for stuck_min_s while the package
 *      sensor or the heat balance (bounded by no sun and full sun) says
 *      the coolant moved by more than stuck_dev_c;
 *   2. the coolant value: the coolant sensor; else the package sensor minus
 *      its rise over the coolant (R_pkg P_server, offset learnt while both
 *      worked) with a margin; else the heat balance alone with a margin that
 *      grows with time. Cooling decisions use value + margin, heating ones
 *      value - margin: the safe side for each. A heat-balance observer
 *      runs all the time and estimates the heat nobody measures (sun);
 *   3. actuators' health: a fan whose tachometer stays near 0 or off its
 *      command is faulty, a heater that draws nothing when on has failed;
 *   4. fans: natural convection first; from fan_on_c the conductance the
 *      measured and estimated heat need at fan_target_c (feed-forward) plus
 *      a PI loop's correction, spread over as many healthy fans as can each
 *      turn at least fan_min_pct (cube law: n fans at part speed cost 1/n^2
 *      of one fan giving the same conductance), with a stop line, minimum
 *      on and off times per fan and a slew limit; every fan at full ahead
 *      of a peak the band cannot hold, until it has passed; faulty fans are
 *      made up for by the healthy ones, and probed so their recovery shows;
 *   5. heater: on at heater_on_c when the heat balance says the coolant is
 *      heading below the band (at the band's edge in any case), off at
 *      heater_off_c once the balance says the coolant left alone stays
 *      above heater_on_c for the heater's minimum off time; minimum on and
 *      off times;
 *   6. lines: above the band (warning state), the warning line (warning,
 *      VM CPU capped step by step), the critical line (VMs shut down,
 *      lowest priority first, one per shed_delay_s while it stays there
 *      and the balance does not promise relief), restart of those VMs,
 *      highest priority first, once the coolant has stayed below
 *      restart_c and the balance says the VM's heat fits.
 *
 * All state is in struct thermal_ctl. Nothing here allocates, does I/O or
 * needs kumod.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/thermal.h"
#include "agent/thermal_int.h"

#define FAN_AIR_DELTA_C 1.0 /* fans only when the coolant is this much above the air */
#define FAN_DEAD 0.05       /* a fan slower than this is not turning */
#define HEATER_SETTLE_S 2.0 /* relay and current sense */
#define SLOPE_TAU_S 120.0   /* filter of the coolant slope */
#define OFFSET_TAU_S 600.0  /* learning of the package offset */
#define OBS_L1 0.01         /* observer gains: both poles near 1/200 s */
#define OBS_L2_W_K_S 3.0
#define OBS_DT_MAX_S 5.0
#define OBS_SETTLE_S 900.0        /* the observer's learning time: no trend from it before */
#define FAN_ADD_MARGIN 1.1        /* a fan more when each can turn 10 % above the minimum */
#define TREND_TAU_S 1800.0        /* filter of the weather's trend */
#define LONG_GAP_S 600.0          /* a step this late restarts the watches and trends */
#define PRECOOL_HORIZON_S 14400.0 /* how far ahead the trend of the balance is followed */
#define FALLING_C_S (-1e-4)       /* slope below which the coolant counts as falling */
#define PRECOOL_RELEASE_C 0.5     /* precooling ends this far under the band's top */
#define FEED_MIN_DELTA_C 0.5      /* target this close to the air: every fan */

/* ---- Redfish messages ---- */

struct msg_def {
	const char *registry; /* the registry's Id */
	const char *key;
	enum thermal_severity severity;
	int nargs;
	const char *text; /* the registry's Message */
};

#define ENV "Environmental.1.4.0"
#define SEN "SensorEvent.1.1.0"
#define RES "ResourceEvent.1.4.3"
#define PLA "Platform.1.3.2"

/* Exactly as in ../shared/redfish/registries (tests/unit/test_thermal.c
 * compares them through thermal_ctl_message()). */
static const struct msg_def msgs[M_MAX] = {
	[M_TEMP_ABOVE_CAUTION] = { ENV, "TemperatureAboveUpperCautionThreshold", THERMAL_WARNING, 3,
	                           "Temperature '%1' reading of %2 degrees (C) is above the "
	                           "%3 upper caution threshold." },
	[M_TEMP_ABOVE_CRITICAL] = { ENV, "TemperatureAboveUpperCriticalThreshold", THERMAL_CRITICAL,
	                            3,
	                            "Temperature '%1' reading of %2 degrees (C) is above the "
	                            "%3 upper critical threshold." },
	[M_TEMP_BELOW_UPPER_CRITICAL] = { ENV, "TemperatureBelowUpperCriticalThreshold",
	                                  THERMAL_WARNING, 3,
	                                  "Temperature '%1' reading of %2 degrees (C) is now "
	                                  "below the %3 upper critical threshold but remains "
	                                  "outside of normal range." },
	[M_TEMP_BELOW_LOWER_CAUTION] = { ENV, "TemperatureBelowLowerCautionThreshold",
	                                 THERMAL_WARNING, 3,
	                                 "Temperature '%1' reading of %2 degrees (C) is below "
	                                 "the %3 lower caution threshold." },
	[M_TEMP_BELOW_LOWER_CRITICAL] = { ENV, "TemperatureBelowLowerCriticalThreshold",
	                                  THERMAL_CRITICAL, 3,
	                                  "Temperature '%1' reading of %2 degrees (C) is below "
	                                  "the %3 lower critical threshold." },
	[M_TEMP_NORMAL] = { ENV, "TemperatureNormal", THERMAL_OK, 2,
	                    "Temperature '%1' reading of %2 degrees (C) is within normal "
	                    "operating range." },
	[M_FAN_FAILED] = { ENV, "FanFailed", THERMAL_CRITICAL, 1, "Fan '%1' has failed." },
	[M_FAN_WARNING] = { ENV, "FanWarning", THERMAL_WARNING, 1,
	                    "Fan '%1' has a warning condition." },
	[M_FAN_RESTORED] = { ENV, "FanRestored", THERMAL_OK, 1, "Fan '%1' was restored." },
	[M_SENSOR_FAILURE] = { SEN, "SensorFailure", THERMAL_WARNING, 1, "Sensor '%1' failed." },
	[M_SENSOR_DISCONNECTED] = { SEN, "SensorDisconnected", THERMAL_WARNING, 1,
	                            "Sensor '%1' was disconnected." },
	[M_SENSOR_RESTORED] = { SEN, "SensorRestored", THERMAL_OK, 1, "Sensor '%1' was restored." },
	[M_STATUS_CRITICAL] = { RES, "ResourceStatusChangedCritical", THERMAL_CRITICAL, 2,
	                        "The health of resource '%1' has changed to %2." },
	[M_STATUS_OK] = { RES, "ResourceStatusChangedOK", THERMAL_OK, 2,
	                  "The health of resource '%1' has changed to %2." },
	[M_POWERED_ON] = { RES, "ResourcePoweredOn", THERMAL_OK, 1,
	                   "The resource '%1' has powered on." },
	[M_POWERED_OFF] = { RES, "ResourcePoweredOff", THERMAL_OK, 1,
	                    "The resource '%1' has powered off." },
	[M_POWERING_ON] = { RES, "ResourcePoweringOn", THERMAL_OK, 1,
	                    "The resource '%1' is powering on." },
	[M_POWERING_OFF] = { RES, "ResourcePoweringOff", THERMAL_OK, 1,
	                     "The resource '%1' is powering off." },
	[M_CHANGED] = { RES, "ResourceChanged", THERMAL_OK, 0,
	                "One or more resource properties have changed." },
	[M_WARN_EXCEEDED] = { RES, "ResourceWarningThresholdExceeded", THERMAL_WARNING, 2,
	                      "The resource property %1 has exceeded its warning threshold of "
	                      "value %2." },
	[M_WARN_CLEARED] = { RES, "ResourceWarningThresholdCleared", THERMAL_OK, 2,
	                     "The resource property %1 has cleared the warning threshold of "
	                     "value %2." },
	[M_POWER_BRAKE] = { PLA, "PowerBrake", THERMAL_WARNING, 1,
	                    "A power brake is applied to '%1'." },
};

int thermal_ctl_message(size_t i, const char **ret_registry, const char **ret_key,
                        enum thermal_severity *ret_severity, int *ret_nargs, const char **ret_text)
{
	if (i >= M_MAX)
		return -ENOENT;
	*ret_registry = msgs[i].registry;
	*ret_key = msgs[i].key;
	*ret_severity = msgs[i].severity;
	*ret_nargs = msgs[i].nargs;
	*ret_text = msgs[i].text;
	return 0;
}

/* Redfish sensor ids (the agent's Sensors collection) and alarm keys. */
static const char *const sensor_ids[THERMAL_SENSOR_COUNT] = { "CoolantTemp", "CPUPackageTemp",
	                                                      "AmbientTemp" };
static const char *const sensor_keys[THERMAL_SENSOR_COUNT] = { "sensor-coolant", "sensor-pkg",
	                                                       "sensor-ambient" };

void thermal_ctl_init(struct thermal_ctl *c, const struct thermal_ctl_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->cap_pct = 100;
	c->fans_at = c->heater_at = c->cap_at = T_NEVER;
	c->last_shed_at = c->last_start_at = c->below_restart_since = T_NEVER;
	c->heater_bad_since = c->heater_good_since = c->blind_since = c->obs_at = T_NEVER;
	for (int i = 0; i < THERMAL_FANS_MAX; i++)
		c->fan_at[i] = c->fan_bad_since[i] = c->fan_good_since[i] = T_NEVER;
	for (int s = 0; s < THERMAL_SENSOR_COUNT; s++)
		c->presence[s].bad_since = c->presence[s].good_since = T_NEVER;
}

/* ---- Helpers ---- */

/* Appends s to out (len bytes, *o used), truncating. */
static void append(char *out, size_t len, size_t *o, const char *s)
{
	while (*s && *o + 1 < len)
		out[(*o)++] = *s++;
	out[*o] = '\0';
}

/* The registry text with %1..%n replaced by args. */
static void render(char *out, size_t len, const char *text, const char args[][THERMAL_ARG_MAX],
                   int nargs)
{
	size_t o = 0;

	out[0] = '\0';
	for (const char *p = text; *p && o + 1 < len; p++) {
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && p[1] - '1' < nargs) {
			append(out, len, &o, args[p[1] - '1']);
			p++;
			continue;
		}
		out[o++] = *p;
		out[o] = '\0';
	}
}

/* One decision into a->logs: message m with args (at most its count, a
 * NULL ends them early), from origin; the text is the registry's message
 * followed by detail. sev < 0: the registry's severity. */
void tc_log(const struct thermal_ctl *c, struct thermal_actions *a, enum tc_msg m, int sev,
            const char *origin, const char *const *args, const char *fmt, ...)
{
	struct thermal_log *l;
	char detail[THERMAL_TEXT_MAX];
	size_t n;
	va_list ap;

	if (a->nlogs >= THERMAL_LOGS_MAX) {
		a->logs_dropped++;
		return;
	}
	l = &a->logs[a->nlogs++];
	memset(l, 0, sizeof(*l));
	l->t = c->t;
	l->severity = sev >= 0 ? (enum thermal_severity)sev : msgs[m].severity;
	snprintf(l->message_id, sizeof(l->message_id), "%s.%s", msgs[m].registry, msgs[m].key);
	for (int i = 0; i < msgs[m].nargs && i < THERMAL_NARGS_MAX && args && args[i]; i++) {
		snprintf(l->args[i], sizeof(l->args[i]), "%s", args[i]);
		l->nargs = i + 1;
	}
	snprintf(l->origin, sizeof(l->origin), "%s", origin);
	render(l->message, sizeof(l->message), msgs[m].text, l->args, l->nargs);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	n = strlen(l->message);
	if (detail[0]) {
		append(l->message, sizeof(l->message), &n, " ");
		append(l->message, sizeof(l->message), &n, detail);
	}
}

static struct thermal_alarm *alarm_find(struct thermal_ctl *c, const char *key)
{
	for (size_t i = 0; i < c->nalarms; i++)
		if (!strcmp(c->alarms[i].key, key))
			return &c->alarms[i];
	return NULL;
}

/* Raises (or updates) alarm key; true when it is new. */
bool tc_alarm_raise(struct thermal_ctl *c, const char *key, enum tc_msg m, enum thermal_state state,
                    const char *fmt, ...)
{
	struct thermal_alarm *al = alarm_find(c, key);
	bool fresh = !al;
	va_list ap;

	if (!al) {
		if (c->nalarms >= THERMAL_ALARMS_MAX)
			return true; /* logged, but the list is full */
		al = &c->alarms[c->nalarms++];
		memset(al, 0, sizeof(*al));
		snprintf(al->key, sizeof(al->key), "%s", key);
		al->since = c->t;
	}
	al->severity = msgs[m].severity == THERMAL_OK ? THERMAL_WARNING : msgs[m].severity;
	al->state = state;
	snprintf(al->message_id, sizeof(al->message_id), "%s.%s", msgs[m].registry, msgs[m].key);
	va_start(ap, fmt);
	vsnprintf(al->message, sizeof(al->message), fmt, ap);
	va_end(ap);
	return fresh;
}

bool tc_alarm_clear(struct thermal_ctl *c, const char *key)
{
	struct thermal_alarm *al = alarm_find(c, key);

	if (!al)
		return false;
	*al = c->alarms[--c->nalarms];
	return true;
}

/* ---- Heat flows as the controller sees them ---- */

static double fan_actual(const struct thermal_ctl *c, const struct thermal_readings *r, int i)
{
	if (i < r->fans && isfinite(r->fan_rpm[i]) && r->fan_rpm[i] >= 0)
		return tc_clamp(r->fan_rpm[i] / c->cfg.box.fan_rpm_max, 0, 1);
	return c->fan_cmd[i];
}

/* Conductance to the air now (W/K), from the tachometers. */
static double g_now(const struct thermal_ctl *c, const struct thermal_readings *r)
{
	double g = c->cfg.box.g_natural_w_per_k;

	for (int i = 0; i < c->cfg.box.fans; i++)
		g += c->cfg.box.fan_g_w_per_k * fan_actual(c, r, i);
	return g;
}

/* Heat into the coolant that is measured: server, heater, fans' share. */
double tc_q_known(const struct thermal_ctl *c, const struct thermal_readings *r, bool with_heater)
{
	double q =
	    isfinite(r->server_w) && r->server_w >= 0 ? r->server_w : c->cfg.box.server_max_w;
	double fans = 0;

	for (int i = 0; i < r->fans && i < THERMAL_FANS_MAX; i++)
		fans += isfinite(r->fan_w[i]) ? r->fan_w[i] : 0;
	if (with_heater && isfinite(r->heater_w))
		q += r->heater_w;
	return q + c->cfg.box.fan_heat_fraction * fans;
}

/* The coolant after dt with heat q and conductance g, exactly. */
static double balance(const struct thermal_ctl *c, double t, double q, double g, double dt)
{
	double ss = c->ambient_c + q / g;

	return ss + (t - ss) * exp(-g * dt / c->cfg.box.heat_capacity_j_per_k);
}

/* Where the coolant settles with heat q (known + estimated unknown) and
 * conductance g; +inf without an ambient reading. */
double tc_settle(const struct thermal_ctl *c, double q, double g)
{
	return c->ambient_known ? c->ambient_c + q / g : INFINITY;
}

/* The most conductance the fans can give now: healthy ones at full speed,
 * faulty ones at what they turn. */
double tc_g_max(const struct thermal_ctl *c, const struct thermal_readings *r)
{
	double g = c->cfg.box.g_natural_w_per_k;

	for (int i = 0; i < c->cfg.box.fans; i++)
		g += c->cfg.box.fan_g_w_per_k *
		     (c->fan_failed[i] || c->fan_wrong[i] ? fan_actual(c, r, i) : 1.0);
	return g;
}

/* ---- Step 1: sensors ---- */

static bool reading_valid(const struct thermal_readings *r, int s)
{
	if (s == THERMAL_SENSOR_COOLANT)
		return r->coolant_valid && isfinite(r->coolant_c);
	if (s == THERMAL_SENSOR_PKG)
		return r->pkg_valid && isfinite(r->pkg_c);
	return r->ambient_valid && isfinite(r->ambient_c);
}

static void presence(struct thermal_ctl *c, struct thermal_actions *a,
                     const struct thermal_readings *r)
{
	static const char *const lost[THERMAL_SENSOR_COUNT] = {
		"No coolant reading: the coolant value comes from the CPU package sensor (or, "
		"without it, the heat balance), with a margin toward the safe side.",
		"No CPU package reading: there is no fallback for the coolant sensor now.",
		"No ambient reading: the last one is used.",
	};

	for (int s = 0; s < THERMAL_SENSOR_COUNT; s++) {
		struct thermal_presence *p = &c->presence[s];
		const char *args[] = { sensor_ids[s], NULL };

		if (!reading_valid(r, s)) {
			p->good_since = T_NEVER;
			if (p->bad_since <= T_NEVER / 2)
				p->bad_since = c->t;
			if (p->missing || !tc_held(c, p->bad_since, c->cfg.missing_grace_s))
				continue;
			p->missing = true;
			if (s == THERMAL_SENSOR_COOLANT && c->coolant_stuck)
				continue; /* already in alarm, already on the fallback */
			tc_alarm_raise(c, sensor_keys[s], M_SENSOR_DISCONNECTED,
			               THERMAL_STATE_ALARM, "%s gives no reading", sensor_ids[s]);
			tc_log(c, a, M_SENSOR_DISCONNECTED, -1, sensor_ids[s], args, "%s", lost[s]);
			continue;
		}
		p->bad_since = T_NEVER;
		if (!p->missing)
			continue;
		if (p->good_since <= T_NEVER / 2)
			p->good_since = c->t;
		if (!tc_held(c, p->good_since, c->cfg.missing_grace_s))
			continue;
		p->missing = false;
		if (s == THERMAL_SENSOR_COOLANT) {
			c->coolant_seen = false; /* its stuck watch starts afresh */
			c->coolant_stuck = false;
		}
		tc_alarm_clear(c, sensor_keys[s]);
		tc_log(c, a, M_SENSOR_RESTORED, -1, sensor_ids[s], args, "%s gives readings again.",
		       sensor_ids[s]);
	}
	if (reading_valid(r, THERMAL_SENSOR_AMBIENT)) {
		c->ambient_c = r->ambient_c;
		c->ambient_known = true;
	}
}

/* The package sensor's estimate of the coolant: package minus its rise
 * over the coolant, plus the offset learnt while both sensors worked. */
static bool pkg_estimate(const struct thermal_ctl *c, const struct thermal_readings *r, double *ret)
{
	double server = isfinite(r->server_w) ? r->server_w : c->cfg.box.server_max_w;

	if (!reading_valid(r, THERMAL_SENSOR_PKG) || c->presence[THERMAL_SENSOR_PKG].missing)
		return false;
	*ret =
	    r->pkg_c - c->cfg.box.pkg_r_k_per_w * server + (c->pkg_offset_ok ? c->pkg_offset_c : 0);
	return true;
}

static void stuck_raise(struct thermal_ctl *c, struct thermal_actions *a, const char *why)
{
	const char *args[] = { sensor_ids[THERMAL_SENSOR_COOLANT], NULL };

	c->coolant_stuck = true;
	tc_alarm_raise(c, sensor_keys[THERMAL_SENSOR_COOLANT], M_SENSOR_FAILURE,
	               THERMAL_STATE_ALARM, "CoolantTemp stuck at %.2f C", c->last_value);
	tc_log(c, a, M_SENSOR_FAILURE, -1, sensor_ids[THERMAL_SENSOR_COOLANT], args,
	       "Stuck: %.2f C for %.0f s while %s; the coolant value now comes from the CPU "
	       "package sensor with a %.0f C margin toward the safe side.",
	       c->last_value, c->t - c->last_change_t, why, c->cfg.fallback_margin_c);
}

/* Stuck: unchanged for stuck_min_s while the package sensor, or the heat
 * balance even with the sun at its most favourable, says it moved by more
 * than stuck_dev_c. */
static void coolant_watch(struct thermal_ctl *c, struct thermal_actions *a,
                          const struct thermal_readings *r, double dt, bool gap)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const char *args[] = { sensor_ids[THERMAL_SENSOR_COOLANT], NULL };
	double v = r->coolant_c, pkg, g, q;
	char why[120];

	if (!reading_valid(r, THERMAL_SENSOR_COOLANT) ||
	    c->presence[THERMAL_SENSOR_COOLANT].missing)
		return;
	if (!c->coolant_seen || v != c->last_value || gap) {
		if (c->coolant_seen && v != c->last_value && c->coolant_stuck) {
			c->coolant_stuck = false;
			tc_alarm_clear(c, sensor_keys[THERMAL_SENSOR_COOLANT]);
			tc_log(
			    c, a, M_SENSOR_RESTORED, -1, sensor_ids[THERMAL_SENSOR_COOLANT], args,
			    "The coolant reading moves again (%.2f C); back on the coolant sensor.",
			    v);
		}
		c->coolant_seen = true;
		c->last_value = v;
		c->last_change_t = c->t;
		c->freeze_pkg_ok = pkg_estimate(c, r, &c->freeze_pkg_c);
		c->freeze_lo_c = c->freeze_hi_c = v;
		return;
	}
	if (c->ambient_known) {
		g = g_now(c, r);
		q = tc_q_known(c, r, true);
		c->freeze_lo_c = balance(c, c->freeze_lo_c, q, g, dt);
		c->freeze_hi_c = balance(c, c->freeze_hi_c, q + cfg->unknown_max_w, g, dt);
	}
	if (c->coolant_stuck || !tc_held(c, c->last_change_t, cfg->stuck_min_s))
		return;
	if (c->freeze_pkg_ok && pkg_estimate(c, r, &pkg) &&
	    fabs(pkg - c->freeze_pkg_c) > cfg->stuck_dev_c) {
		snprintf(why, sizeof(why), "the CPU package sensor says the coolant moved %.1f C",
		         pkg - c->freeze_pkg_c);
		stuck_raise(c, a, why);
	} else if (c->ambient_known && (c->freeze_lo_c > v + cfg->stuck_dev_c ||
	                                c->freeze_hi_c < v - cfg->stuck_dev_c)) {
		snprintf(why, sizeof(why), "the heat balance says the coolant %s at least %.1f C",
		         c->freeze_lo_c > v ? "rose" : "fell",
		         c->freeze_lo_c > v ? c->freeze_lo_c - v : v - c->freeze_hi_c);
		stuck_raise(c, a, why);
	}
}

/* ---- Step 2: the coolant value ---- */

/* The heat-balance observer: the coolant integrated from the measured
 * flows plus an estimate of the unmeasured heat (sun), corrected toward the
 * coolant value when there is one (measured). The unmeasured heat learns
 * only from a value that moves (learn): a reading frozen for minutes may be
 * a stuck sensor, and a frozen one teaches nothing in a steady state. */
static void observer(struct thermal_ctl *c, const struct thermal_readings *r, double dt,
                     bool measured, bool learn, bool gap)
{
	double q = tc_q_known(c, r, true), g = g_now(c, r), e, h;

	if (!c->obs_ok || (gap && measured)) {
		if (!measured && !c->obs_ok)
			return;
		c->obs_c = c->est_c;
		c->obs_ok = true;
		c->obs_at = c->t;
		return;
	}
	if (c->ambient_known)
		c->obs_c = balance(c, c->obs_c, q + c->obs_p_w, g, dt);
	if (!measured)
		return;
	h = dt < OBS_DT_MAX_S ? dt : OBS_DT_MAX_S;
	e = c->est_c - c->obs_c;
	c->obs_c += OBS_L1 * e * h;
	if (learn)
		c->obs_p_w = tc_clamp(c->obs_p_w + OBS_L2_W_K_S * e * h, -c->cfg.unknown_max_w,
		                      2 * c->cfg.unknown_max_w);
}

static void coolant_value(struct thermal_ctl *c, struct thermal_actions *a,
                          const struct thermal_readings *r, double dt, bool gap)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	bool coolant_ok = reading_valid(r, THERMAL_SENSOR_COOLANT) &&
	                  !c->presence[THERMAL_SENSOR_COOLANT].missing && !c->coolant_stuck;
	const char *args[] = { sensor_ids[THERMAL_SENSOR_COOLANT], "Critical", NULL };
	const char *args_ok[] = { sensor_ids[THERMAL_SENSOR_COOLANT], "OK", NULL };
	double pkg, prev = c->est_c;
	bool fresh;

	/* a reading that has not moved for a while may be stuck: it is used,
	 * but nothing is learnt from it */
	fresh = coolant_ok && c->t - c->last_change_t <= cfg->stuck_min_s / 2;
	if (coolant_ok) {
		c->source = THERMAL_SRC_COOLANT;
		c->est_c = r->coolant_c;
		c->margin_c = 0;
		c->blind_since = T_NEVER;
		if (fresh &&
		    pkg_estimate(c, r, &pkg)) { /* learn how far off the package estimate is */
			double off =
			    r->coolant_c - (pkg - (c->pkg_offset_ok ? c->pkg_offset_c : 0));

			if (!c->pkg_offset_ok)
				c->pkg_offset_c = off;
			else
				c->pkg_offset_c +=
				    (off - c->pkg_offset_c) * (1 - exp(-dt / OFFSET_TAU_S));
			c->pkg_offset_ok = true;
		}
	} else if (pkg_estimate(c, r, &pkg)) {
		c->source = THERMAL_SRC_FALLBACK;
		c->est_c = pkg;
		c->margin_c = cfg->fallback_margin_c;
		c->blind_since = T_NEVER;
	} else {
		if (c->source != THERMAL_SRC_MODEL || c->blind_since <= T_NEVER / 2)
			c->blind_since = c->t;
		c->source = THERMAL_SRC_MODEL;
		if (c->obs_ok)
			c->est_c = c->obs_c;
		else if (c->ambient_known) /* nothing ever: assume it has settled */
			c->est_c = tc_settle(c, tc_q_known(c, r, true), g_now(c, r));
		else
			c->est_c = cfg->band_hi_c; /* no sensor at all: assume it is warm */
		c->margin_c = fmin(cfg->blind_margin_c +
		                       cfg->blind_growth_c_h * (c->t - c->blind_since) / 3600,
		                   cfg->blind_margin_max_c);
	}
	observer(c, r, dt, c->source != THERMAL_SRC_MODEL,
	         c->source == THERMAL_SRC_FALLBACK || fresh, gap);
	if (c->source == THERMAL_SRC_MODEL && c->obs_ok)
		c->est_c = c->obs_c;
	c->t_cool_c = c->est_c + c->margin_c;
	c->t_heat_c = c->est_c - c->margin_c;
	if (!c->started || gap || dt <= 0)
		c->slope_c_s = c->started && !gap ? c->slope_c_s : 0;
	else
		c->slope_c_s +=
		    ((c->est_c - prev) / dt - c->slope_c_s) * (1 - exp(-dt / SLOPE_TAU_S));

	if (c->source == THERMAL_SRC_MODEL &&
	    (c->presence[THERMAL_SENSOR_COOLANT].missing || c->coolant_stuck) &&
	    c->presence[THERMAL_SENSOR_PKG].missing) {
		if (tc_alarm_raise(
		        c, "coolant-blind", M_STATUS_CRITICAL, THERMAL_STATE_CRITICAL,
		        "no coolant or CPU package temperature: running on the heat balance"))
			tc_log(
			    c, a, M_STATUS_CRITICAL, -1, "CoolantTemp", args,
			    "Neither the coolant nor the CPU package sensor works: the coolant is "
			    "estimated from the heat balance (%.1f C, +-%.0f C, growing %.0f "
			    "C/h); fans act on the high side, the heater on the low side, no VM "
			    "is restarted.",
			    c->est_c, c->margin_c, cfg->blind_growth_c_h);
	} else if (c->source != THERMAL_SRC_MODEL && tc_alarm_clear(c, "coolant-blind")) {
		tc_log(c, a, M_STATUS_OK, -1, "CoolantTemp", args_ok,
		       "A coolant temperature is available again (%s).",
		       thermal_source_name(c->source));
	}
}

/* ---- Step 3: actuators' health ---- */

static void fans_health(struct thermal_ctl *c, struct thermal_actions *a,
                        const struct thermal_readings *r)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	double tol = cfg->fan_fault_tol_pct / 100;

	for (int i = 0; i < cfg->box.fans; i++) {
		char name[16], key[16];
		const char *args[] = { name, NULL };
		double s, rpm;
		bool dead, off;

		if (i >= r->fans || !isfinite(r->fan_rpm[i]) || r->fan_rpm[i] < 0)
			continue; /* no tachometer: nothing to judge */
		s = fan_actual(c, r, i);
		rpm = s * cfg->box.fan_rpm_max;
		dead = c->fan_cmd[i] >= FAN_DEAD && s < FAN_DEAD;
		off = fabs(s - c->fan_cmd[i]) > tol;
		snprintf(name, sizeof(name), "Fan%d", i + 1);
		snprintf(key, sizeof(key), "fan%d", i + 1);
		if (dead || off) {
			c->fan_good_since[i] = T_NEVER;
			if (c->fan_bad_since[i] <= T_NEVER / 2)
				c->fan_bad_since[i] = c->t;
			if (c->fan_failed[i] || c->fan_wrong[i] ||
			    !tc_held(c, c->fan_bad_since[i], cfg->fan_fault_s))
				continue;
			c->fan_failed[i] = dead;
			c->fan_wrong[i] = !dead;
			c->fan_wrong_speed[i] = s;
			tc_alarm_raise(c, key, dead ? M_FAN_FAILED : M_FAN_WARNING,
			               THERMAL_STATE_ALARM,
			               "%s %s: %.0f RPM while commanded %.0f%%", name,
			               dead ? "has failed" : "turns at a wrong speed", rpm,
			               c->fan_cmd[i] * 100);
			tc_log(c, a, dead ? M_FAN_FAILED : M_FAN_WARNING, -1, name, args,
			       "Tachometer %.0f RPM while commanded %.0f%% for %.0f s; the "
			       "other fans make up for it.",
			       rpm, c->fan_cmd[i] * 100, cfg->fan_fault_s);
			continue;
		}
		c->fan_bad_since[i] = T_NEVER;
		if (!c->fan_failed[i] && !c->fan_wrong[i])
			continue;
		if (c->fan_good_since[i] <= T_NEVER / 2)
			c->fan_good_since[i] = c->t;
		if (!tc_held(c, c->fan_good_since[i], cfg->fan_fault_s))
			continue;
		c->fan_failed[i] = c->fan_wrong[i] = false;
		tc_alarm_clear(c, key);
		tc_log(c, a, M_FAN_RESTORED, -1, name, args,
		       "It follows its command again (%.0f RPM).", rpm);
	}
}

static void heater_health(struct thermal_ctl *c, struct thermal_actions *a,
                          const struct thermal_readings *r)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const char *args[] = { "Heater", "Critical", NULL };
	const char *args_ok[] = { "Heater", "OK", NULL };
	double w = r->heater_w;

	if (!c->heater_on || !isfinite(w) || !tc_held(c, c->heater_at, HEATER_SETTLE_S))
		return;
	if (w < 0.1 * cfg->box.heater_w) {
		c->heater_good_since = T_NEVER;
		if (c->heater_bad_since <= T_NEVER / 2)
			c->heater_bad_since = c->t;
		if (c->heater_failed || !tc_held(c, c->heater_bad_since, cfg->heater_fault_s))
			return;
		c->heater_failed = true;
		tc_alarm_raise(c, "heater", M_STATUS_CRITICAL, THERMAL_STATE_ALARM,
		               "Heater draws %.0f W while on: failed", w);
		tc_log(c, a, M_STATUS_CRITICAL, -1, "Heater", args,
		       "The heater draws %.0f W while switched on (%.0f W expected): failed.", w,
		       cfg->box.heater_w);
		return;
	}
	c->heater_bad_since = T_NEVER;
	if (!c->heater_failed || w < 0.5 * cfg->box.heater_w)
		return;
	if (c->heater_good_since <= T_NEVER / 2)
		c->heater_good_since = c->t;
	if (!tc_held(c, c->heater_good_since, cfg->heater_fault_s))
		return;
	c->heater_failed = false;
	tc_alarm_clear(c, "heater");
	tc_log(c, a, M_STATUS_OK, -1, "Heater", args_ok, "The heater draws %.0f W again.", w);
}

/* ---- Step 4: fans ---- */

static bool fan_ok(const struct thermal_ctl *c, int i)
{
	return !c->fan_failed[i] && !c->fan_wrong[i];
}

/* Where the balance settles the coolant with every fan at full now, and
 * PRECOOL_HORIZON_S ahead if the weather (ambient, unmeasured heat) keeps
 * its trend (rising parts only; filtered over TREND_TAU_S). Steps of the
 * box's own making (load, fans) are not a trend: only the weather is. */
static void settle_track(struct thermal_ctl *c, const struct thermal_readings *r, double dt,
                         bool gap)
{
	double q = tc_q_known(c, r, true), g = tc_g_max(c, r), a;

	if (!c->ambient_known || !c->obs_ok) {
		c->trend_ok = false;
		c->settle_c = c->future_c = -INFINITY;
		return;
	}
	if (!c->trend_ok || gap) {
		c->amb_slope_c_s = c->unk_slope_w_s = 0;
	} else if (dt > 0) {
		a = 1 - exp(-dt / TREND_TAU_S);
		c->amb_slope_c_s += ((c->ambient_c - c->trend_amb_c) / dt - c->amb_slope_c_s) * a;
		c->unk_slope_w_s += ((c->obs_p_w - c->trend_unk_w) / dt - c->unk_slope_w_s) * a;
	}
	/* while the observer is still learning the unmeasured heat (after a
	 * start or a gap), its estimate moves by itself: that is no trend */
	if (!tc_held(c, c->obs_at, OBS_SETTLE_S))
		c->unk_slope_w_s = 0;
	c->trend_amb_c = c->ambient_c;
	c->trend_unk_w = c->obs_p_w;
	c->trend_ok = true;
	c->settle_c = c->ambient_c + (q + c->obs_p_w) / g;
	c->future_c = c->ambient_c + fmax(c->amb_slope_c_s, 0) * PRECOOL_HORIZON_S +
	              (q + c->obs_p_w + fmax(c->unk_slope_w_s, 0) * PRECOOL_HORIZON_S) / g;
}

/* The fan conductance the heat needs at the target (W/K, all fans
 * together): the measured heat and the observer's estimate of the rest
 * over (target - air), less natural convection. The PI loop adds to it, so
 * a load step (measured at once in the server's power) is met at once, not
 * after the coolant has risen: that is what lets the target sit close to
 * the band's top. */
static double fans_feed(const struct thermal_ctl *c, const struct thermal_readings *r, double g_all)
{
	double q = tc_q_known(c, r, true) + (c->obs_ok ? c->obs_p_w : 0);
	double d = c->cfg.fan_target_c - c->ambient_c;

	if (!c->ambient_known)
		return 0;
	if (d < FEED_MIN_DELTA_C)
		return g_all;
	return tc_clamp(q / d - c->cfg.box.g_natural_w_per_k, 0, g_all);
}

/* Precooling may end before the weather has turned far enough for the
 * trend's figure: the coolant is back under the band's top by a margin,
 * every fan at full would settle it there too, and neither the air nor the
 * unmeasured heat is rising any more. The PI loop takes over from there. */
static bool precool_over(const struct thermal_ctl *c)
{
	const struct thermal_ctl_config *cfg = &c->cfg;

	if (c->future_c < cfg->band_hi_c - cfg->alarm_hyst_c)
		return true;
	return c->t_cool_c < cfg->band_hi_c - PRECOOL_RELEASE_C &&
	       c->settle_c < cfg->band_hi_c - PRECOOL_RELEASE_C && c->amb_slope_c_s <= 0 &&
	       c->unk_slope_w_s <= 0 && c->slope_c_s < 0;
}

/* The PI loop around the feed-forward: the fan conductance asked for (W/K,
 * all fans together). */
static void fans_demand(struct thermal_ctl *c, const struct thermal_readings *r, double dt,
                        double g_all)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	double e = c->t_cool_c - cfg->fan_target_c, ki = cfg->kp_w_per_k2 / cfg->ti_s, future;
	bool air = !c->ambient_known || c->t_cool_c - c->ambient_c >= FAN_AIR_DELTA_C;
	bool all_min_on = true;
	double ff = fans_feed(c, r, g_all);

	if (!c->fans_on) {
		c->g_req_w_k = 0;
		if (!air || c->t_cool_c < cfg->fan_on_c ||
		    !tc_never_or_held(c, c->fans_at, cfg->fan_min_off_s))
			return;
		c->fans_on = true;
		c->fans_at = c->t;
		c->integ_w_k = 0;
		/* without an ambient reading the feed-forward is blind: start
		 * from what the measured heat needs at the coolant's own level */
		if (!c->ambient_known)
			c->integ_w_k = tc_clamp(tc_q_known(c, r, true) / FEED_MIN_DELTA_C -
			                            cfg->box.g_natural_w_per_k,
			                        0, g_all);
	} else {
		double h = dt < cfg->max_gap_s ? dt : cfg->max_gap_s;
		double p = ff + cfg->kp_w_per_k2 * e, di = ki * e * h;

		/* anti-windup: no integration into a saturated output */
		if (!((p + c->integ_w_k >= g_all && di > 0) || (p + c->integ_w_k <= 0 && di < 0)))
			c->integ_w_k = tc_clamp(c->integ_w_k + di, -g_all, g_all);
	}
	c->g_req_w_k = tc_clamp(ff + cfg->kp_w_per_k2 * e + c->integ_w_k, 0, g_all);
	/* past the warning line, or when every fan at full will not hold the
	 * band within PRECOOL_HORIZON_S (the balance settles above it, or
	 * will at its present trend): everything, so that the heat capacity
	 * rides out the peak from as low as it can. Off again once the peak
	 * has passed (precool_over()), after fan_min_on_s. */
	future = c->future_c;
	if (!c->precool && c->fans_on && future > cfg->band_hi_c) {
		c->precool = true;
		c->precool_at = c->t;
	} else if (c->precool && (!c->fans_on || (precool_over(c) &&
	                                          tc_held(c, c->precool_at, cfg->fan_min_on_s)))) {
		c->precool = false;
	}
	if (c->t_cool_c >= cfg->warning_c || c->precool)
		c->g_req_w_k = g_all;
	for (int i = 0; i < cfg->box.fans; i++)
		if (c->fan_run[i] && fan_ok(c, i) && !tc_held(c, c->fan_at[i], cfg->fan_min_on_s))
			all_min_on = false;
	if (tc_held(c, c->fans_at, cfg->fan_min_on_s) && all_min_on &&
	    (!air || (c->g_req_w_k <= 0 && c->t_cool_c < cfg->fan_off_c))) {
		c->fans_on = false;
		c->fans_at = c->t;
		c->integ_w_k = 0;
		c->g_req_w_k = 0;
	}
}

static void fan_switch(struct thermal_ctl *c, int i, bool on)
{
	if (c->fan_run[i] != on) {
		c->fan_run[i] = on;
		c->fan_at[i] = c->t;
	}
}

/* Which healthy fans run and how fast: as many as can each turn at least
 * fan_min_pct (one more only with FAN_ADD_MARGIN to spare, one fewer only
 * when they would drop under it), minimum on and off times per fan, all at
 * one speed. */
static void fans_allocate(struct thermal_ctl *c, double g_ctrl, int n_ok)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const struct thermal_box *b = &cfg->box;
	double smin = cfg->fan_min_pct / 100, g_min = b->fan_g_w_per_k * smin;
	int k_cur = 0, k_fit, k_up, k, on = 0;

	for (int i = 0; i < b->fans; i++)
		k_cur += c->fan_run[i] && fan_ok(c, i);
	k_fit = g_min > 0 ? (int)floor(g_ctrl / g_min) : n_ok;
	k_up = g_min > 0 ? (int)floor(g_ctrl / (FAN_ADD_MARGIN * g_min)) : n_ok;
	k_fit = k_fit < 1 ? 1 : k_fit > n_ok ? n_ok : k_fit;
	k_up = k_up < 1 ? 1 : k_up > n_ok ? n_ok : k_up;
	k = k_up > k_cur ? k_up : k_cur > k_fit ? k_fit : k_cur;
	if (!c->fans_on || n_ok == 0)
		k = 0;
	for (int i = 0; i < b->fans; i++) {
		if (!fan_ok(c, i) || !c->fan_run[i])
			continue;
		if (on < k || (c->fans_on && !tc_held(c, c->fan_at[i], cfg->fan_min_on_s)))
			on++; /* wanted, or too early to stop it */
		else
			fan_switch(c, i, false);
	}
	for (int i = 0; i < b->fans && on < k; i++) {
		if (fan_ok(c, i) && !c->fan_run[i] &&
		    tc_never_or_held(c, c->fan_at[i], cfg->fan_min_off_s)) {
			fan_switch(c, i, true);
			on++;
		}
	}
	c->stage = on;
	c->fan_speed = on ? tc_clamp(g_ctrl / (on * b->fan_g_w_per_k), smin, 1) : 0;
}

static void fans_log(struct thermal_ctl *c, struct thermal_actions *a)
{
	const struct thermal_box *b = &c->cfg.box;
	char speeds[THERMAL_FANS_MAX * 14] = "";
	size_t o = 0;
	double w = 0;

	if (c->stage == c->logged_stage &&
	    fabs(c->fan_speed - c->logged_speed) * 100 < c->cfg.fan_log_pct)
		return;
	for (int i = 0; i < b->fans; i++) {
		double s = fan_ok(c, i) ? (c->fan_run[i] ? c->fan_speed : 0) : -1;
		int n;

		if (s > 0)
			w += b->fan_power_w * s * s * s;
		n = s < 0 ? snprintf(speeds + o, sizeof(speeds) - o, "%sfaulty", i ? " " : "")
		          : snprintf(speeds + o, sizeof(speeds) - o, "%s%.0f%%", i ? " " : "",
		                     s * 100);
		o = n < 0                             ? o
		    : o + (size_t)n >= sizeof(speeds) ? sizeof(speeds) - 1
		                                      : o + (size_t)n;
	}
	if (c->stage == 0)
		tc_log(c, a, M_CHANGED, -1, "Fans", NULL,
		       "Fans stopped: natural convection is enough (coolant %.1f C).", c->t_cool_c);
	else if (c->precool && c->t_cool_c < c->cfg.warning_c)
		tc_log(c, a, M_CHANGED, -1, "Fans", NULL,
		       "Fans %s: coolant %.1f C; every fan at full ahead of a peak the band cannot "
		       "hold (with every fan at full it heads for %.1f C now, %.1f C in %.0f h at "
		       "the weather's trend).",
		       speeds, c->t_cool_c, c->settle_c, c->future_c, PRECOOL_HORIZON_S / 3600);
	else
		tc_log(c, a, M_CHANGED, -1, "Fans", NULL,
		       "Fans %s: coolant %.1f C, target %.1f C, %.1f W/K of fan conductance asked, "
		       "%.1f W.",
		       speeds, c->t_cool_c, c->cfg.fan_target_c, c->g_req_w_k, w);
	c->logged_stage = c->stage;
	c->logged_speed = c->fan_speed;
}

static void fans_control(struct thermal_ctl *c, struct thermal_actions *a,
                         const struct thermal_readings *r, double dt, bool gap)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const struct thermal_box *b = &cfg->box;
	double g_faulty = 0, g_all, g_ctrl, smin = cfg->fan_min_pct / 100;
	double max_move = cfg->fan_slew_pct_s / 100 * (dt > 1 ? dt : 1);
	bool was[THERMAL_FANS_MAX];
	int n_ok = 0;

	if (c->t_cool_c >= cfg->warning_c)
		max_move = 1; /* no slew limit past the warning line */
	for (int i = 0; i < b->fans; i++) {
		was[i] = c->fan_run[i];
		if (fan_ok(c, i))
			n_ok++;
		else
			g_faulty += b->fan_g_w_per_k * fan_actual(c, r, i);
	}
	g_all = n_ok * b->fan_g_w_per_k + g_faulty;
	settle_track(c, r, dt, gap);
	fans_demand(c, r, dt, g_all);
	g_ctrl = fmax(c->g_req_w_k - g_faulty, b->fan_g_w_per_k * smin);
	fans_allocate(c, g_ctrl, n_ok);
	for (int i = 0; i < b->fans; i++) {
		if (fan_ok(c, i)) {
			double target = c->fan_run[i] ? c->fan_speed : 0;

			if (!c->fan_run[i])
				c->fan_cmd[i] = 0;
			else if (!was[i])
				c->fan_cmd[i] = fmax(smin, fmin(target, smin + max_move));
			else
				c->fan_cmd[i] +=
				    tc_clamp(target - c->fan_cmd[i], -max_move, max_move);
		} else {
			/* probe far from where it is stuck: its recovery shows */
			c->fan_cmd[i] = c->fans_on ? (c->fan_wrong_speed[i] >= 0.5 ? 0 : 1) : 0;
			fan_switch(c, i, c->fan_cmd[i] > 0);
		}
		a->fan_pct[i] = round(c->fan_cmd[i] * 1000) / 10;
	}
	fans_log(c, a);
}

/* ---- Step 5: heater ---- */

static void heater_control(struct thermal_ctl *c, struct thermal_actions *a,
                           const struct thermal_readings *r)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const char *args[] = { "Heater", NULL };
	double ss, low;

	if (!c->heater_on) {
		/* heading below the band: without the heater and the fans, the
		 * measured and the estimated heat settle the coolant below it */
		ss = tc_settle(c, tc_q_known(c, r, false) + c->obs_p_w, cfg->box.g_natural_w_per_k);
		if (c->fans_on || c->t_heat_c > cfg->heater_on_c ||
		    !tc_never_or_held(c, c->heater_at, cfg->heater_min_off_s))
			return;
		if (c->t_heat_c > cfg->band_lo_c && ss >= cfg->heater_on_c &&
		    c->slope_c_s >= FALLING_C_S)
			return;
		c->heater_on = true;
		c->heater_at = c->t;
		c->heater_bad_since = c->heater_good_since = T_NEVER;
		tc_log(c, a, M_POWERED_ON, -1, "Heater", args,
		       "Coolant %.1f C is heading below the %.0f C band edge (it would settle at "
		       "%.1f C); heater on until %.1f C.",
		       c->t_heat_c, cfg->band_lo_c, ss, cfg->heater_off_c);
		return;
	}
	if (c->t_heat_c < cfg->heater_off_c || !tc_held(c, c->heater_at, cfg->heater_min_on_s))
		return;
	/* not before the coolant, left to itself for heater_min_off_s (the
	 * least the heater then stays off), stays above heater_on_c: a cycle
	 * never dips under its own on point, however close to the band's
	 * edge that is */
	low = balance(c, c->t_heat_c, tc_q_known(c, r, false) + (c->obs_ok ? c->obs_p_w : 0),
	              cfg->box.g_natural_w_per_k, cfg->heater_min_off_s);
	if (c->ambient_known && low < cfg->heater_on_c)
		return;
	c->heater_on = false;
	c->heater_at = c->t;
	tc_log(c, a, M_POWERED_OFF, -1, "Heater", args,
	       "Coolant %.1f C reached %.1f C; heater off.", c->t_heat_c, cfg->heater_off_c);
}

/* ---- The step ---- */

void thermal_ctl_step(struct thermal_ctl *c, const struct thermal_readings *r,
                      const struct thermal_vm *vms, size_t nvms, struct thermal_actions *ret)
{
	double dt = 0;
	bool gap = false;

	memset(ret, 0, sizeof(*ret));
	if (nvms > THERMAL_VMS_MAX)
		nvms = THERMAL_VMS_MAX;
	if (c->started && r->t > c->t) {
		dt = r->t - c->t;
		gap = dt > LONG_GAP_S;
	}
	if (!c->started || r->t > c->t)
		c->t = r->t; /* a clock that goes back changes nothing */

	presence(c, ret, r);
	coolant_watch(c, ret, r, dt, gap);
	coolant_value(c, ret, r, dt, gap);
	c->started = true;
	fans_health(c, ret, r);
	heater_health(c, ret, r);
	fans_control(c, ret, r, dt, gap);
	heater_control(c, ret, r);
	tc_lines(c, ret);
	tc_cap(c, ret, r);
	tc_vms(c, ret, r, vms, nvms);

	ret->fans = c->cfg.box.fans;
	ret->heater_on = c->heater_on;
	ret->cpu_cap_pct = c->cap_pct;
}

/* ---- Status and JSON ---- */

void thermal_ctl_status(const struct thermal_ctl *c, struct thermal_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->state = THERMAL_STATE_OK;
	ret->nalarms = c->nalarms;
	for (size_t i = 0; i < c->nalarms; i++) {
		ret->alarms[i] = c->alarms[i];
		if (c->alarms[i].state > ret->state)
			ret->state = c->alarms[i].state;
	}
	ret->cpu_cap_pct = c->cap_pct;
	ret->coolant_c = c->est_c;
	ret->headroom_c = c->cfg.warning_c - c->t_cool_c;
	ret->source = c->source;
	for (int i = 0; i < c->cfg.box.fans; i++)
		ret->fans_failed += !fan_ok(c, i);
	ret->heater_failed = c->heater_failed;
	ret->vms_shut_down = (int)c->nshed;
}

json_t *thermal_log_json(const struct thermal_log *l)
{
	json_t *args = json_array();

	for (int i = 0; args && i < l->nargs; i++)
		json_array_append_new(args, json_string(l->args[i]));
	return json_pack("{s:f, s:s, s:s, s:o, s:s, s:s}", "t", l->t, "severity",
	                 thermal_severity_name(l->severity), "message_id", l->message_id, "args",
	                 args ? args : json_array(), "message", l->message, "origin", l->origin);
}

json_t *thermal_status_json(const struct thermal_status *s)
{
	json_t *alarms = json_array();

	for (size_t i = 0; alarms && i < s->nalarms; i++)
		json_array_append_new(
		    alarms, json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", s->alarms[i].key,
		                      "severity", thermal_severity_name(s->alarms[i].severity),
		                      "message_id", s->alarms[i].message_id, "message",
		                      s->alarms[i].message, "since", s->alarms[i].since));
	return json_pack(
	    "{s:s, s:o, s:i, s:f, s:f, s:s, s:i, s:b, s:i}", "state", thermal_state_name(s->state),
	    "alarms", alarms ? alarms : json_array(), "cpu_cap_pct", s->cpu_cap_pct, "coolant_c",
	    round(s->coolant_c * 100) / 100, "headroom_c", round(s->headroom_c * 100) / 100,
	    "source", thermal_source_name(s->source), "fans_failed", s->fans_failed,
	    "heater_failed", s->heater_failed, "vms_shut_down", s->vms_shut_down);
}
