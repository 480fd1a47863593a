// SPDX-License-Identifier: MIT
/*
 * The sensors of the agent's Chassis: /redfish/v1/Chassis/box/Sensors and
 * each Sensor, and the one list of sensors every other Chassis resource is
 * built from (rf_chassis_int.h). Two sources:
 *
 *   - the box model and its controller (thermal_rt_view()): CoolantTemp,
 *     CPUPackageTemp, AmbientTemp, Fan1..FanN (tachometers, {rev}/min) and
 *     Fan1Percent..FanNPercent (the same fans in percent of their rated
 *     speed, what Fan.SpeedPercent points at), HeaterPower, ServerPower,
 *     TotalPower, CoolingPower (fans and heater), TotalEnergy and
 *     CoolingEnergy (kW.h since the agent started, in the model's time);
 *   - the host's own sensors (sensors.h: hwmon, RAPL, /proc, IPMI), by
 *     their configured or discovered ids; one whose id the model uses is
 *     left out while the model runs.
 *
 * A reading that is missing has Reading null and Status.State
 * UnavailableOffline; one that is stuck keeps its (frozen) Reading; both
 * have Health Warning and a Condition from the SensorEvent registry
 * (SensorDisconnected, SensorFailure) saying why. The coolant sensor's
 * faults are the controller's own verdict (its "sensor-coolant" alarm).
 * Not here: fans as Fan resources (rf_thermal.c), power (rf_power.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rf_chassis_int.h"
#include "common/json.h"
#include "common/util.h"

#define SENSOR_TYPE "#Sensor.v1_12_0.Sensor"
#define SEN_REG "SensorEvent.1.1.0."

/* ---- hashes (ETags) ---- */

uint64_t rf_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t rf_hash_str(uint64_t h, const char *s)
{
	return rf_hash_bytes(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t hash_num(uint64_t h, double v)
{
	return rf_hash_bytes(h, &v, sizeof(v));
}

static uint64_t hash_int(uint64_t h, int64_t v)
{
	return rf_hash_bytes(h, &v, sizeof(v));
}

uint64_t rf_hash_sensor(uint64_t h, const struct rf_sensor *s)
{
	h = rf_hash_str(h, s->id);
	h = hash_int(h, s->state);
	h = hash_num(h, s->reading);
	h = hash_num(h, s->rpm);
	h = hash_int(h, s->time_ms);
	h = rf_hash_str(h, s->health);
	h = rf_hash_str(h, s->reason);
	for (int i = 0; i < SENSOR_TH_COUNT; i++)
		h = hash_num(h, s->th.set[i] ? s->th.value[i] : NAN);
	for (int i = 0; i < s->ncond; i++) {
		h = rf_hash_str(h, s->cond[i].message_id);
		h = rf_hash_str(h, s->cond[i].message);
		h = hash_int(h, s->cond[i].time_ms);
	}
	return h;
}

uint64_t rf_hash_box(uint64_t h, const struct rf_box *b)
{
	for (size_t i = 0; i < b->n; i++)
		h = rf_hash_sensor(h, &b->s[i]);
	if (!b->thermal)
		return h;
	h = hash_int(h, b->v.st.state);
	for (size_t i = 0; i < b->v.st.nalarms; i++) {
		h = rf_hash_str(h, b->v.st.alarms[i].key);
		h = rf_hash_str(h, b->v.st.alarms[i].message);
		h = hash_num(h, b->v.st.alarms[i].since);
	}
	h = hash_num(h, b->v.st.coolant_c);
	for (int i = 0; i < THERMAL_FANS_MAX; i++)
		h = hash_num(h, b->v.fan_pct[i]);
	return hash_int(h, b->v.heater_on);
}

void rf_set_hash_etag(struct rf_call *call, uint64_t h)
{
	char tag[24];

	snprintf(tag, sizeof(tag), "%016llx", (unsigned long long)h);
	rf_set_etag(call, tag);
}

/* ---- health and conditions ---- */

static int health_rank(const char *h)
{
	if (!h)
		return -1;
	if (!strcmp(h, "Critical"))
		return 2;
	return !strcmp(h, "Warning") ? 1 : 0;
}

const char *rf_health_worse(const char *a, const char *b)
{
	return health_rank(b) > health_rank(a) ? b : a;
}

const char *rf_state_health(enum thermal_state st)
{
	switch (st) {
	case THERMAL_STATE_OK:
		return "OK";
	case THERMAL_STATE_WARNING:
		return "Warning";
	default:
		return "Critical";
	}
}

/* The text of a message with %1..%n replaced by the condition's args. */
static void cond_render(struct rf_cond *c, const char *text)
{
	size_t o = 0;

	c->message[0] = '\0';
	for (const char *p = text; *p && o + 1 < sizeof(c->message); p++) {
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && p[1] - '1' < c->nargs) {
			for (const char *a = c->args[p[1] - '1']; *a && o + 1 < sizeof(c->message);)
				c->message[o++] = *a++;
			p++;
			continue;
		}
		c->message[o++] = *p;
	}
	c->message[o] = '\0';
}

/* A condition of key (a SensorEvent message) with args, its text made
 * from the registry's text. */
static void cond_set(struct rf_cond *c, const char *key, const char *severity, int64_t time_ms,
                     const char *text, int nargs, ...)
{
	va_list ap;

	memset(c, 0, sizeof(*c));
	snprintf(c->message_id, sizeof(c->message_id), SEN_REG "%s", key);
	c->severity = severity;
	c->time_ms = time_ms;
	c->nargs = nargs;
	va_start(ap, nargs);
	for (int i = 0; i < nargs && i < THERMAL_NARGS_MAX; i++)
		snprintf(c->args[i], sizeof(c->args[i]), "%s", va_arg(ap, const char *));
	va_end(ap);
	cond_render(c, text);
}

/* Wall-clock time of the controller's time t (simulated seconds). */
static int64_t sim_wall_ms(const struct thermal_rt_view *v, double t)
{
	double scale = v->time_scale > 0 ? v->time_scale : 1;

	return v->read_ms - (int64_t)llround((v->sim_t - t) / scale * 1000);
}

/* The resource an alarm is about and its MessageArgs, by the alarm's key
 * (thermal_ctl.c, thermal_guard.c). */
static void alarm_cond(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                       const struct thermal_alarm *al, struct rf_cond *c)
{
	static const struct {
		const char *key, *sensor;
		int line; /* 1 warning_c, 2 critical_c, 3 band_lo_c, 4 band_hi_c */
	} temp[] = {
		{ "coolant-high", "CoolantTemp", 1 },
		{ "coolant-critical", "CoolantTemp", 2 },
		{ "coolant-low", "CoolantTemp", 3 },
		{ "coolant-cold", "CoolantTemp", 3 },
		{ "coolant-above-band", "CoolantTemp", 4 },
	};
	const char *k = al->key;
	int fan;

	memset(c, 0, sizeof(*c));
	snprintf(c->message_id, sizeof(c->message_id), "%s", al->message_id);
	snprintf(c->message, sizeof(c->message), "%s", al->message);
	c->severity = thermal_severity_name(al->severity);
	c->time_ms = sim_wall_ms(v, al->since);
	c->nargs = -1;
	if (sscanf(k, "fan%d", &fan) == 1) {
		c->nargs = 1;
		snprintf(c->args[0], sizeof(c->args[0]), "Fan%d", fan);
		snprintf(c->origin, sizeof(c->origin), RF_BOX_FANS "/Fan%d", fan);
	} else if (str_startswith(k, "sensor-")) {
		const char *id = !strcmp(k, "sensor-coolant") ? "CoolantTemp"
		                 : !strcmp(k, "sensor-pkg")   ? "CPUPackageTemp"
		                                              : "AmbientTemp";

		c->nargs = 1;
		snprintf(c->args[0], sizeof(c->args[0]), "%s", id);
		rf_sensor_path(id, c->origin);
	} else if (!strcmp(k, "heater")) {
		c->nargs = 2;
		snprintf(c->args[0], sizeof(c->args[0]), "Heater");
		snprintf(c->args[1], sizeof(c->args[1]), "Critical");
		rf_sensor_path("HeaterPower", c->origin);
	} else if (!strcmp(k, "coolant-blind")) {
		c->nargs = 2;
		snprintf(c->args[0], sizeof(c->args[0]), "CoolantTemp");
		snprintf(c->args[1], sizeof(c->args[1]), "Critical");
		rf_sensor_path("CoolantTemp", c->origin);
	} else if (!strcmp(k, "vms-shed")) {
		c->nargs = 1;
		snprintf(c->args[0], sizeof(c->args[0]), "%.47s", ctx->hostname);
		snprintf(c->origin, sizeof(c->origin), "%s", RF_HOST_SYSTEM);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(temp); i++) {
			const double lines[] = { 0, v->ccfg.warning_c, v->ccfg.critical_c,
				                 v->ccfg.band_lo_c, v->ccfg.band_hi_c };

			if (strcmp(k, temp[i].key) != 0)
				continue;
			rf_sensor_path(temp[i].sensor, c->origin);
			snprintf(c->args[0], sizeof(c->args[0]), "%s", temp[i].sensor);
			/* ResourceWarningThresholdExceeded: property, value */
			if (temp[i].line == 4) {
				c->nargs = 2;
				snprintf(c->args[1], sizeof(c->args[1]), "%g", lines[4]);
			} else {
				c->nargs = 3;
				snprintf(c->args[1], sizeof(c->args[1]), "%.2f", v->st.coolant_c);
				snprintf(c->args[2], sizeof(c->args[2]), "%g", lines[temp[i].line]);
			}
		}
	}
}

struct rf_cond *rf_alarm_conds(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                               const char *prefix, size_t *ret_n)
{
	struct rf_cond *c = xcalloc(v->st.nalarms + 1, sizeof(*c));
	size_t n = 0;

	for (size_t i = 0; i < v->st.nalarms; i++)
		if (!prefix || str_startswith(v->st.alarms[i].key, prefix))
			alarm_cond(ctx, v, &v->st.alarms[i], &c[n++]);
	*ret_n = n;
	return c;
}

static void add_cond(struct rf_sensor *s, const struct rf_cond *c)
{
	if (s->ncond < RF_SENSOR_CONDS_MAX)
		s->cond[s->ncond++] = *c;
	s->health = rf_health_worse(s->health, c->severity);
}

/* Health from the thresholds, with a condition when one is crossed. */
static void thresholds_check(struct rf_sensor *s)
{
	static const struct {
		enum sensor_threshold th;
		bool upper;
		const char *key, *severity, *text;
	} lines[] = {
		{ SENSOR_TH_UPPER_CRITICAL, true, "ReadingAboveUpperCriticalThreshold", "Critical",
		  "Sensor '%1' reading of %2 (%3) is above the %4 upper critical threshold." },
		{ SENSOR_TH_LOWER_CRITICAL, false, "ReadingBelowLowerCriticalThreshold", "Critical",
		  "Sensor '%1' reading of %2 (%3) is below the %4 lower critical threshold." },
		{ SENSOR_TH_UPPER_CAUTION, true, "ReadingAboveUpperCautionThreshold", "Warning",
		  "Sensor '%1' reading of %2 (%3) is above the %4 upper caution threshold." },
		{ SENSOR_TH_LOWER_CAUTION, false, "ReadingBelowLowerCautionThreshold", "Warning",
		  "Sensor '%1' reading of %2 (%3) is below the %4 lower caution threshold." },
	};
	char val[32], th[32];

	if (!isfinite(s->reading))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		double t = s->th.value[lines[i].th];
		struct rf_cond c;

		if (!s->th.set[lines[i].th] || (lines[i].upper ? s->reading < t : s->reading > t))
			continue;
		snprintf(val, sizeof(val), "%g", s->reading);
		snprintf(th, sizeof(th), "%g", t);
		cond_set(&c, lines[i].key, lines[i].severity, 0, lines[i].text, 4, s->id, val,
		         s->unit ? s->unit : "", th);
		add_cond(s, &c);
		return; /* the worst line crossed says it all */
	}
}

/* ---- the model's sensors ---- */

enum msens {
	MS_COOLANT,
	MS_PKG,
	MS_AMBIENT,
	MS_FAN_RPM,
	MS_FAN_PCT,
	MS_HEATER_W,
	MS_SERVER_W,
	MS_TOTAL_W,
	MS_COOLING_W,
	MS_TOTAL_E,
	MS_COOLING_E,
};

static const struct mdef {
	enum msens kind;
	const char *id, *name, *source, *type, *unit, *context, *impl;
} mdefs[] = {
	{ MS_COOLANT, "CoolantTemp", "Coolant temperature", "model:coolant", "Temperature", "Cel",
	  "LiquidInlet", "Reported" },
	{ MS_PKG, "CPUPackageTemp", "CPU package temperature", "model:pkg", "Temperature", "Cel",
	  "CPU", "Reported" },
	{ MS_AMBIENT, "AmbientTemp", "Ambient temperature", "model:ambient", "Temperature", "Cel",
	  "Intake", "Reported" },
	{ MS_FAN_RPM, NULL, NULL, NULL, "Rotational", "{rev}/min", "Fan", "Reported" },
	{ MS_FAN_PCT, NULL, NULL, NULL, "Percent", "%", "Fan", "Synthesized" },
	{ MS_HEATER_W, "HeaterPower", "Heater power", "model:heater_w", "Power", "W",
	  "CoolingSubsystem", "Reported" },
	{ MS_SERVER_W, "ServerPower", "Server power", "model:server_w", "Power", "W", "SystemBoard",
	  "Reported" },
	{ MS_TOTAL_W, "TotalPower", "Total power of the box", "model:total_w", "Power", "W",
	  "Chassis", "Synthesized" },
	{ MS_COOLING_W, "CoolingPower", "Power of the fans and the heater", "model:fans+heater",
	  "Power", "W", "CoolingSubsystem", "Synthesized" },
	{ MS_TOTAL_E, "TotalEnergy", "Energy used by the box since the agent started",
	  "model:energy", "EnergykWh", "kW.h", "Chassis", "Synthesized" },
	{ MS_COOLING_E, "CoolingEnergy",
	  "Energy used by the fans and the heater since the agent started", "model:cooling_energy",
	  "EnergykWh", "kW.h", "CoolingSubsystem", "Synthesized" },
};

void rf_fan_sensor_id(int i, bool percent, char *out)
{
	snprintf(out, SENSOR_ID_MAX, "Fan%d%s", i + 1, percent ? "Percent" : "");
}

void rf_sensor_path(const char *id, char *out)
{
	snprintf(out, RF_PATH_MAX, RF_BOX_SENSORS "/%s", id);
}

/* v rounded to step (0.1, 0.01, ...): the nearest double to the decimal. */
static double round_to(double v, double step)
{
	double scale = round(1 / step);

	return round(v * scale) / scale;
}

static const struct thermal_alarm *alarm_by_key(const struct thermal_rt_view *v, const char *key)
{
	for (size_t i = 0; i < v->st.nalarms; i++)
		if (!strcmp(v->st.alarms[i].key, key))
			return &v->st.alarms[i];
	return NULL;
}

/* A temperature the model reads, with the controller's verdict on its
 * sensor (alarm key). */
static void model_temp(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                       struct rf_sensor *s, double value, bool valid, const char *key)
{
	const struct thermal_alarm *al = alarm_by_key(v, key);
	struct rf_cond c;

	s->reading = valid ? round_to(value, 0.01) : NAN;
	if (!valid) {
		s->state = RF_READING_MISSING;
		snprintf(s->reason, sizeof(s->reason), "%s gives no reading", s->id);
	} else if (al && str_startswith(strrchr(al->message_id, '.') ?: "", ".SensorFailure")) {
		s->state = RF_READING_STUCK;
		snprintf(s->reason, sizeof(s->reason), "%.255s", al->message);
	}
	if (al) {
		alarm_cond(ctx, v, al, &c);
		c.origin[0] = '\0';
		add_cond(s, &c);
	} else if (!valid) {
		cond_set(&c, "SensorDisconnected", "Warning", 0, "Sensor '%1' was disconnected.", 1,
		         s->id);
		add_cond(s, &c);
	}
}

/* Model sensor (def, fan index) from the view. */
static void model_sensor(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                         const struct mdef *d, int fan, struct rf_sensor *s)
{
	const struct thermal_readings *r = &v->r;
	double rpm_max = v->mcfg.box.fan_rpm_max > 0 ? v->mcfg.box.fan_rpm_max : 1;
	double scale = v->time_scale > 0 ? v->time_scale : 1;
	const struct thermal_alarm *al;
	struct rf_cond c;
	char key[16];

	memset(s, 0, sizeof(*s));
	s->type = d->type;
	s->unit = d->unit;
	s->context = d->context;
	s->implementation = d->impl;
	s->state = RF_READING_OK;
	s->rpm = s->range_min = s->range_max = NAN;
	s->time_ms = v->read_ms;
	s->health = "OK";
	if (d->id) {
		snprintf(s->id, sizeof(s->id), "%s", d->id);
		snprintf(s->name, sizeof(s->name), "%s", d->name);
		snprintf(s->source, sizeof(s->source), "%s", d->source);
	} else {
		rf_fan_sensor_id(fan, d->kind == MS_FAN_PCT, s->id);
		snprintf(s->name, sizeof(s->name), "Fan %d %s", fan + 1,
		         d->kind == MS_FAN_PCT ? "speed (percent of rated)" : "tachometer");
		snprintf(s->source, sizeof(s->source), "model:fan%d", fan + 1);
	}
	switch (d->kind) {
	case MS_COOLANT:
		s->th.value[SENSOR_TH_UPPER_CRITICAL] = v->ccfg.critical_c;
		s->th.value[SENSOR_TH_UPPER_CAUTION] = v->ccfg.warning_c;
		s->th.value[SENSOR_TH_LOWER_CAUTION] = v->ccfg.band_lo_c;
		s->th.set[SENSOR_TH_UPPER_CRITICAL] = s->th.set[SENSOR_TH_UPPER_CAUTION] =
		    s->th.set[SENSOR_TH_LOWER_CAUTION] = true;
		model_temp(ctx, v, s, r->coolant_c, r->coolant_valid, "sensor-coolant");
		break;
	case MS_PKG:
		model_temp(ctx, v, s, r->pkg_c, r->pkg_valid, "sensor-pkg");
		break;
	case MS_AMBIENT:
		model_temp(ctx, v, s, r->ambient_c, r->ambient_valid, "sensor-ambient");
		break;
	case MS_FAN_RPM:
	case MS_FAN_PCT:
		s->rpm = fan < r->fans ? round(r->fan_rpm[fan]) : NAN;
		s->range_min = 0;
		s->range_max = d->kind == MS_FAN_PCT ? 100 : rpm_max;
		s->reading = d->kind == MS_FAN_PCT ? round_to(s->rpm / rpm_max * 100, 0.1) : s->rpm;
		snprintf(key, sizeof(key), "fan%d", fan + 1);
		if ((al = alarm_by_key(v, key))) {
			alarm_cond(ctx, v, al, &c);
			c.origin[0] = '\0';
			add_cond(s, &c);
		}
		break;
	case MS_HEATER_W:
		s->reading = round_to(r->heater_w, 0.01);
		if ((al = alarm_by_key(v, "heater"))) {
			alarm_cond(ctx, v, al, &c);
			c.origin[0] = '\0';
			add_cond(s, &c);
		}
		break;
	case MS_SERVER_W:
		s->reading = round_to(r->server_w, 0.01);
		break;
	case MS_TOTAL_W:
		s->reading = round_to(r->total_w, 0.01);
		break;
	case MS_COOLING_W: {
		double w = r->heater_w;

		for (int i = 0; i < r->fans && i < THERMAL_FANS_MAX; i++)
			w += r->fan_w[i];
		s->reading = round_to(w, 0.01);
		break;
	}
	case MS_TOTAL_E:
	case MS_COOLING_E: {
		double wh = v->fan_wh + v->heater_wh + (d->kind == MS_TOTAL_E ? v->server_wh : 0);

		s->reading = round_to(wh / 1000, 1e-6);
		s->reset_ms = v->read_ms - (int64_t)llround(v->sim_t / scale * 1000);
		break;
	}
	}
	thresholds_check(s);
	if (s->state != RF_READING_OK)
		s->health = rf_health_worse(s->health, "Warning");
}

static int model_fans(const struct thermal_rt_view *v)
{
	int n = v->r.fans;

	return n < 0 ? 0 : n > THERMAL_FANS_MAX ? THERMAL_FANS_MAX : n;
}

/* Every model sensor from v into out (room for model_count()). */
static size_t model_all(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                        struct rf_sensor *out)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(mdefs); i++) {
		if (mdefs[i].id) {
			model_sensor(ctx, v, &mdefs[i], 0, &out[n++]);
			continue;
		}
		for (int f = 0; f < model_fans(v); f++)
			model_sensor(ctx, v, &mdefs[i], f, &out[n++]);
	}
	return n;
}

static size_t model_count(const struct thermal_rt_view *v)
{
	return ARRAY_SIZE(mdefs) - 2 + 2 * (size_t)model_fans(v);
}

static const struct mdef *mdef_of(enum msens kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(mdefs); i++)
		if (mdefs[i].kind == kind)
			return &mdefs[i];
	return NULL;
}

/* Is id one of the model's (with fans fans)? Its def and fan index. */
static const struct mdef *model_find(const char *id, int fans, int *ret_fan)
{
	const char *p = id + 3;
	long f = 0;

	for (size_t i = 0; i < ARRAY_SIZE(mdefs); i++)
		if (mdefs[i].id && !strcmp(mdefs[i].id, id))
			return &mdefs[i];
	if (strncmp(id, "Fan", 3) != 0 || *p < '1' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9' && f <= THERMAL_FANS_MAX)
		f = f * 10 + (*p++ - '0');
	if (f > fans)
		return NULL;
	*ret_fan = (int)f - 1;
	if (*p == '\0')
		return mdef_of(MS_FAN_RPM);
	if (!strcmp(p, "Percent"))
		return mdef_of(MS_FAN_PCT);
	return NULL;
}

/* ---- the host's sensors ---- */

static const char *implementation_of(const char *source)
{
	if (str_startswith(source, "proc:"))
		return "Synthesized";
	if (str_startswith(source, "model:"))
		return "Reported";
	return "PhysicalSensor"; /* hwmon, RAPL, a BMC's sensors */
}

static void host_sensor(const struct sensor_reading *r, struct rf_sensor *s)
{
	struct rf_cond c;

	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", r->id);
	snprintf(s->name, sizeof(s->name), "%s", r->name[0] ? r->name : r->id);
	snprintf(s->source, sizeof(s->source), "%s", r->source);
	s->type = r->type;
	s->unit = r->unit;
	s->context = r->context;
	s->implementation = implementation_of(r->source);
	s->reading = r->status == SENSOR_MISSING ? NAN : r->value;
	s->rpm = s->range_min = s->range_max = NAN;
	if (s->type && !strcmp(s->type, "Rotational"))
		s->rpm = s->reading;
	s->th = r->th;
	s->time_ms = r->time_ms;
	s->health = "OK";
	s->has_last_good = r->has_last_good;
	s->last_good = r->last_good;
	s->last_good_ms = r->last_good_ms;
	snprintf(s->reason, sizeof(s->reason), "%s", r->reason);
	switch (r->status) {
	case SENSOR_OK:
		s->state = RF_READING_OK;
		break;
	case SENSOR_STUCK:
		s->state = RF_READING_STUCK;
		cond_set(&c, "SensorFailure", "Warning", 0, "Sensor '%1' failed.", 1, s->id);
		add_cond(s, &c);
		break;
	default:
		s->state = RF_READING_MISSING;
		cond_set(&c, "SensorDisconnected", "Warning", 0, "Sensor '%1' was disconnected.", 1,
		         s->id);
		add_cond(s, &c);
		break;
	}
	if (s->state != RF_READING_OK && r->reason[0]) { /* "...failed: <the reason>." */
		char *m = s->cond[0].message;
		size_t o = strlen(m);

		if (o && m[o - 1] == '.')
			o--;
		snprintf(m + o, sizeof(s->cond[0].message) - o, ": %s.", r->reason);
	}
	thresholds_check(s);
}

/* ---- the box ---- */

void rf_box_load(const struct rf_agent_ctx *ctx, struct rf_box *b)
{
	struct sensor_reading *hr = NULL;
	size_t nh = 0, cap;
	int fans = 0;

	memset(b, 0, sizeof(*b));
	if (ctx->thermal) {
		thermal_rt_view(ctx->thermal, &b->v);
		b->thermal = true;
		fans = model_fans(&b->v);
	}
	if (ctx->sensors && sensors_snapshot(ctx->sensors, &hr, &nh) < 0)
		nh = 0;
	cap = (b->thermal ? model_count(&b->v) : 0) + nh;
	b->s = xcalloc(cap ? cap : 1, sizeof(*b->s));
	if (b->thermal)
		b->n = model_all(ctx, &b->v, b->s);
	for (size_t i = 0; i < nh; i++) {
		int f;

		if (b->thermal && model_find(hr[i].id, fans, &f))
			continue;
		host_sensor(&hr[i], &b->s[b->n++]);
	}
	free(hr);
}

void rf_box_clear(struct rf_box *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

const struct rf_sensor *rf_box_sensor(const struct rf_box *b, const char *id)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->s[i].id, id))
			return &b->s[i];
	return NULL;
}

int rf_sensor_load(const struct rf_agent_ctx *ctx, const char *id, struct rf_sensor *ret)
{
	struct sensor_reading r;
	const struct mdef *d;
	int fan = 0;

	if (ctx->thermal) {
		/* the view only when the id can be the model's: the hot path */
		struct thermal_rt_view *v = NULL;

		if (model_find(id, THERMAL_FANS_MAX, &fan)) {
			v = xmalloc(sizeof(*v));
			thermal_rt_view(ctx->thermal, v);
			d = model_find(id, model_fans(v), &fan);
			if (d)
				model_sensor(ctx, v, d, fan, ret);
			free(v);
			if (d)
				return 0;
		}
	}
	if (!ctx->sensors || sensors_get(ctx->sensors, id, &r) < 0)
		return -ENOENT;
	host_sensor(&r, ret);
	return 0;
}

/* ---- JSON ---- */

json_t *rf_number(double v)
{
	/* whole numbers as integers: shorter, and much cheaper to print */
	if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return isfinite(v) ? json_real(v) : json_null();
}

/* RFC 3339 of ms. The last one each thread made is kept: a collection's
 * $expand shows the model's sensors, all read at the same tick. */
static json_t *time_json(int64_t ms)
{
	static __thread int64_t last_ms = -1;
	static __thread char last[TIME_LEN];

	if (ms != last_ms) {
		time_format(ms, last);
		last_ms = ms;
	}
	return json_string(last);
}

json_t *rf_cond_json(const struct rf_cond *c)
{
	json_t *o = json_pack("{s:s, s:o, s:s}", "MessageId", c->message_id, "Message",
	                      json_string_utf8_lossy(c->message, strlen(c->message)), "Severity",
	                      c->severity ? c->severity : "Warning");

	if (c->nargs >= 0) {
		json_t *a = json_array();

		for (int i = 0; i < c->nargs && i < THERMAL_NARGS_MAX; i++)
			json_array_append_new(
			    a, json_string_utf8_lossy(c->args[i], strlen(c->args[i])));
		json_object_set_new(o, "MessageArgs", a);
	}
	if (c->time_ms > 0)
		json_object_set_new(o, "Timestamp", time_json(c->time_ms));
	if (c->origin[0])
		json_object_set_new(o, "Oem",
		                    json_pack("{s:{s:s}}", "Kumo", "OriginOfCondition", c->origin));
	return o;
}

json_t *rf_status_json(const char *state, const char *health, const struct rf_cond *conds, size_t n)
{
	json_t *st = json_object();

	json_object_set_new(st, "State", json_string(state));
	json_object_set_new(st, "Health", json_string(health));

	if (n) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, rf_cond_json(&conds[i]));
		json_object_set_new(st, "Conditions", a);
	}
	return st;
}

static const char *const th_names[SENSOR_TH_COUNT] = {
	[SENSOR_TH_UPPER_CRITICAL] = "UpperCritical",
	[SENSOR_TH_UPPER_CAUTION] = "UpperCaution",
	[SENSOR_TH_LOWER_CAUTION] = "LowerCaution",
	[SENSOR_TH_LOWER_CRITICAL] = "LowerCritical",
};

static const char *const state_names[] = { "ok", "stuck", "missing" };

/* Built with json_object_set_new() rather than json_pack(): this is the
 * hot path of GET .../Sensors/{id} and of the collection's $expand. */
json_t *rf_sensor_json(const struct rf_sensor *s)
{
	char path[RF_PATH_MAX];
	json_t *o = json_object(), *th = NULL, *oem = json_object();

	rf_sensor_path(s->id, path);
	json_object_set_new(o, "@odata.id", json_string(path));
	json_object_set_new(o, "@odata.type", json_string(SENSOR_TYPE));
	json_object_set_new(o, "Id", json_string(s->id));
	json_object_set_new(o, "Name", json_string_utf8_lossy(s->name, strlen(s->name)));
	if (s->type)
		json_object_set_new(o, "ReadingType", json_string(s->type));
	if (s->unit)
		json_object_set_new(o, "ReadingUnits", json_string(s->unit));
	if (s->context)
		json_object_set_new(o, "PhysicalContext", json_string(s->context));
	json_object_set_new(o, "Implementation", json_string(s->implementation));
	json_object_set_new(o, "Reading", rf_number(s->reading));
	if (s->time_ms > 0)
		json_object_set_new(o, "ReadingTime", time_json(s->time_ms));
	if (isfinite(s->rpm))
		json_object_set_new(o, "SpeedRPM", rf_number(s->rpm));
	if (isfinite(s->range_min))
		json_object_set_new(o, "ReadingRangeMin", rf_number(s->range_min));
	if (isfinite(s->range_max))
		json_object_set_new(o, "ReadingRangeMax", rf_number(s->range_max));
	for (int i = 0; i < SENSOR_TH_COUNT; i++) {
		json_t *t;

		if (!s->th.set[i])
			continue;
		if (!th)
			th = json_object();
		t = json_object();
		json_object_set_new(t, "Reading", rf_number(s->th.value[i]));
		json_object_set_new(th, th_names[i], t);
	}
	if (th)
		json_object_set_new(o, "Thresholds", th);
	if (s->reset_ms > 0)
		json_object_set_new(o, "SensorResetTime", time_json(s->reset_ms));
	json_object_set_new(
	    o, "Status",
	    rf_status_json(s->state == RF_READING_MISSING ? "UnavailableOffline" : "Enabled",
	                   s->health, s->cond, (size_t)s->ncond));
	json_object_set_new(oem, "Source", json_string_utf8_lossy(s->source, strlen(s->source)));
	json_object_set_new(oem, "ReadingStatus", json_string(state_names[s->state]));
	if (s->reason[0])
		json_object_set_new(oem, "Reason",
		                    json_string_utf8_lossy(s->reason, strlen(s->reason)));
	if (s->state != RF_READING_OK && s->has_last_good) {
		json_object_set_new(oem, "LastGoodReading", rf_number(s->last_good));
		json_object_set_new(oem, "LastGoodReadingTime", time_json(s->last_good_ms));
	}
	th = json_object();
	json_object_set_new(th, "Kumo", oem);
	json_object_set_new(o, "Oem", th);
	return o;
}

json_t *rf_sensor_excerpt(const struct rf_sensor *s, bool rpm, bool array)
{
	char path[RF_PATH_MAX];
	json_t *o;

	rf_sensor_path(s->id, path);
	o = json_pack("{s:o, s:s}", "Reading", rf_number(s->reading), "DataSourceUri", path);
	if (rpm)
		json_object_set_new(o, "SpeedRPM", rf_number(s->rpm));
	if (array) {
		json_object_set_new(o, "DeviceName",
		                    json_string_utf8_lossy(s->name, strlen(s->name)));
		if (s->context)
			json_object_set_new(o, "PhysicalContext", json_string(s->context));
	}
	return o;
}

/* ---- handlers ---- */

/* The members and an ETag that changes with their readings (the
 * collection's $expand shows them), without making every Sensor: the
 * model's readings change at its ticks (read_ms), their health with the
 * alarms and the setpoints; the host's with each poll. */
void rf_sensors_list(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct thermal_rt_view *v = NULL;
	struct sensor_reading *hr = NULL;
	json_t *paths = json_array();
	char path[RF_PATH_MAX], id[SENSOR_ID_MAX];
	uint64_t h = RF_HASH_INIT;
	size_t nh = 0;
	int fans = 0;

	if (ctx->thermal) {
		v = xmalloc(sizeof(*v));
		thermal_rt_view(ctx->thermal, v);
		fans = model_fans(v);
		for (size_t i = 0; i < ARRAY_SIZE(mdefs); i++)
			for (int f = 0; f < (mdefs[i].id ? 1 : fans); f++) {
				if (mdefs[i].id)
					snprintf(id, sizeof(id), "%s", mdefs[i].id);
				else
					rf_fan_sensor_id(f, mdefs[i].kind == MS_FAN_PCT, id);
				rf_sensor_path(id, path);
				json_array_append_new(paths, json_string(path));
			}
		h = hash_int(h, v->read_ms);
		h = hash_num(h, v->ccfg.warning_c);
		h = hash_num(h, v->ccfg.critical_c);
		h = hash_num(h, v->ccfg.band_lo_c);
		h = hash_num(h, v->st.coolant_c);
		for (size_t i = 0; i < v->st.nalarms; i++) {
			h = rf_hash_str(h, v->st.alarms[i].key);
			h = rf_hash_str(h, v->st.alarms[i].message);
		}
	}
	if (ctx->sensors && sensors_snapshot(ctx->sensors, &hr, &nh) < 0)
		nh = 0;
	for (size_t i = 0; i < nh; i++) {
		int f;

		if (v && model_find(hr[i].id, fans, &f))
			continue;
		rf_sensor_path(hr[i].id, path);
		json_array_append_new(paths, json_string(path));
		h = rf_hash_str(h, hr[i].id);
		h = hash_int(h, hr[i].time_ms);
		h = hash_int(h, hr[i].status);
		h = hash_num(h, hr[i].value);
		h = rf_hash_str(h, hr[i].reason);
	}
	free(hr);
	free(v);
	rf_set_hash_etag(call, h);
	rf_reply_resource(call,
	                  rf_collection_new(RF_BOX_SENSORS, "SensorCollection", "Sensors", paths));
}

void rf_sensor_get(struct rf_call *call)
{
	struct rf_sensor s;

	if (rf_sensor_load(call->data, rf_param(call, "id"), &s) < 0) {
		rf_reply_not_found(call);
		return;
	}
	rf_set_hash_etag(call, rf_hash_sensor(RF_HASH_INIT, &s));
	rf_reply_resource(call, rf_sensor_json(&s));
}
