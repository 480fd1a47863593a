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
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
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
	return fnv1a(h, p, n);
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

/* h as an ETag, 16 hex digits, quoted ("\"...\"", as the core shows it)
 * or not. */
static void hash_tag(uint64_t h, bool quoted, char out[19])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out + quoted;

	for (int i = 15; i >= 0; i--, h >>= 4)
		p[i] = hex[h & 0xf];
	if (quoted)
		out[0] = out[17] = '"';
	p[16 + quoted] = '\0';
}

void rf_set_hash_etag(struct rf_call *call, uint64_t h)
{
	char tag[19];

	hash_tag(h, false, tag);
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

/* pre, n in decimal (n >= 0), post into dst (size bytes), cut if need be:
 * the fans' ids and names, made for every request without printf. */
static void numbered(char *dst, size_t size, const char *pre, int n, const char *post)
{
	char num[12], *p = num + sizeof(num);
	size_t o = 0;

	const char *parts[3] = { pre, NULL, post };

	*--p = '\0';
	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	parts[1] = p;
	for (int k = 0; k < 3; k++)
		for (const char *c = parts[k]; *c && o + 1 < size; c++)
			dst[o++] = *c;
	dst[o] = '\0';
}

void rf_fan_sensor_id(int i, bool percent, char *out)
{
	numbered(out, SENSOR_ID_MAX, "Fan", i + 1, percent ? "Percent" : "");
}

void rf_sensor_path(const char *id, char *out)
{
	static const char base[] = RF_BOX_SENSORS "/";
	size_t n = strlen(id);

	if (n > RF_PATH_MAX - sizeof(base))
		n = RF_PATH_MAX - sizeof(base);
	memcpy(out, base, sizeof(base) - 1);
	memcpy(out + sizeof(base) - 1, id, n);
	out[sizeof(base) - 1 + n] = '\0';
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

/* src into dst (size bytes), cut if need be: snprintf("%s") without its
 * cost, on the path of every request. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Zeroes s but for its conditions (~2.6 KB, read up to ncond only): a
 * box has a few dozen sensors, loaded for every request. */
static void sensor_init(struct rf_sensor *s)
{
	memset(s, 0, offsetof(struct rf_sensor, cond));
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

	sensor_init(s);
	s->type = d->type;
	s->unit = d->unit;
	s->context = d->context;
	s->implementation = d->impl;
	s->state = RF_READING_OK;
	s->rpm = s->range_min = s->range_max = NAN;
	s->time_ms = v->read_ms;
	s->health = "OK";
	if (d->id) {
		copy_str(s->id, sizeof(s->id), d->id);
		copy_str(s->name, sizeof(s->name), d->name);
		copy_str(s->source, sizeof(s->source), d->source);
	} else {
		rf_fan_sensor_id(fan, d->kind == MS_FAN_PCT, s->id);
		numbered(s->name, sizeof(s->name), "Fan ", fan + 1,
		         d->kind == MS_FAN_PCT ? " speed (percent of rated)" : " tachometer");
		numbered(s->source, sizeof(s->source), "model:fan", fan + 1, "");
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
		numbered(key, sizeof(key), "fan", fan + 1, "");
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

	sensor_init(s);
	copy_str(s->id, sizeof(s->id), r->id);
	copy_str(s->name, sizeof(s->name), r->name[0] ? r->name : r->id);
	copy_str(s->source, sizeof(s->source), r->source);
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
	copy_str(s->reason, sizeof(s->reason), r->reason);
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
	b->s = xmalloc((cap ? cap : 1) * sizeof(*b->s)); /* each is sensor_init()ed */
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

static char box_key; /* its address names the request's box */

static void *box_make(struct rf_call *call)
{
	struct rf_box *b = xmalloc(sizeof(*b));

	rf_box_load(call->data, b);
	return b;
}

static void box_free(void *p)
{
	rf_box_clear(p);
	free(p);
}

const struct rf_box *rf_box_of(struct rf_call *call)
{
	return rf_call_memo(call, &box_key, box_make, box_free);
}

const struct rf_box *rf_box_loaded(struct rf_call *call)
{
	return rf_call_memo(call, &box_key, NULL, NULL);
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

#define SET(o, k, v) json_object_set_new_nocheck(o, k, v) /* k: an ASCII literal */

json_t *rf_number(double v)
{
	/* whole numbers as integers: shorter, and much cheaper to print */
	if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return isfinite(v) ? json_real(v) : json_null();
}

#define TIME_CACHE 8 /* a power of 2 */

/* RFC 3339 of ms. The last few each thread made are kept: a collection's
 * $expand shows the model's sensors, all read at the same tick, beside
 * the host's, each read at its own. */
static json_t *time_json(int64_t ms)
{
	static __thread int64_t last_ms[TIME_CACHE];
	static __thread char last[TIME_CACHE][TIME_LEN];
	size_t i = (size_t)ms & (TIME_CACHE - 1);

	if (ms != last_ms[i] || !last[i][0]) {
		time_format(ms, last[i]);
		last_ms[i] = ms;
	}
	return json_string_nocheck(last[i]);
}

/* s (a name, a reason: text from a configuration or a device) as a JSON
 * string: as it is when it is ASCII, the common case, else with what is
 * not UTF-8 replaced. */
static json_t *text_json(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p >= 0x80)
			return json_string_utf8_lossy(s, strlen(s));
	return json_stringn_nocheck(s, n);
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
	if (c->origin[0]) { /* as a link (bare: $expand leaves it), and as it was before */
		SET(o, "OriginOfCondition", rf_link(c->origin));
		SET(o, "Oem", json_pack("{s:{s:s}}", "Kumo", "OriginOfCondition", c->origin));
	}
	return o;
}

json_t *rf_status_json(const char *state, const char *health, const struct rf_cond *conds, size_t n)
{
	json_t *st = json_object();

	SET(st, "State", json_string(state));
	SET(st, "Health", json_string(health));

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

/* Built with json_object_set_new_nocheck() rather than json_pack(): this
 * is the hot path of GET .../Sensors/{id} and of the collection's $expand. */
json_t *rf_sensor_json(const struct rf_sensor *s)
{
	char path[RF_PATH_MAX];
	json_t *o = json_object(), *th = NULL, *oem = json_object();

	rf_sensor_path(s->id, path);
	SET(o, "@odata.id", text_json(path));
	SET(o, "@odata.type", json_string_nocheck(SENSOR_TYPE));
	SET(o, "Id", text_json(s->id));
	SET(o, "Name", text_json(s->name));
	if (s->type)
		SET(o, "ReadingType", json_string(s->type));
	if (s->unit)
		SET(o, "ReadingUnits", json_string(s->unit));
	if (s->context)
		SET(o, "PhysicalContext", json_string(s->context));
	SET(o, "Implementation", json_string(s->implementation));
	SET(o, "Reading", rf_number(s->reading));
	if (s->time_ms > 0)
		SET(o, "ReadingTime", time_json(s->time_ms));
	if (isfinite(s->rpm))
		SET(o, "SpeedRPM", rf_number(s->rpm));
	if (isfinite(s->range_min))
		SET(o, "ReadingRangeMin", rf_number(s->range_min));
	if (isfinite(s->range_max))
		SET(o, "ReadingRangeMax", rf_number(s->range_max));
	for (int i = 0; i < SENSOR_TH_COUNT; i++) {
		json_t *t;

		if (!s->th.set[i])
			continue;
		if (!th)
			th = json_object();
		t = json_object();
		SET(t, "Reading", rf_number(s->th.value[i]));
		SET(th, th_names[i], t);
	}
	if (th)
		SET(o, "Thresholds", th);
	if (s->reset_ms > 0)
		SET(o, "SensorResetTime", time_json(s->reset_ms));
	SET(o, "Status",
	    rf_status_json(s->state == RF_READING_MISSING ? "UnavailableOffline" : "Enabled",
	                   s->health, s->cond, (size_t)s->ncond));
	SET(oem, "Source", text_json(s->source));
	SET(oem, "ReadingStatus", json_string_nocheck(state_names[s->state]));
	if (s->reason[0])
		SET(oem, "Reason", text_json(s->reason));
	if (s->state != RF_READING_OK && s->has_last_good) {
		SET(oem, "LastGoodReading", rf_number(s->last_good));
		SET(oem, "LastGoodReadingTime", time_json(s->last_good_ms));
	}
	th = json_object();
	SET(th, "Kumo", oem);
	SET(o, "Oem", th);
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

/* ---- bodies kept from one request to the next ----
 *
 * A sensor's body changes at the node's ticks (the model's every second,
 * a host sensor's at its poll); between two, each GET of it and each
 * member of the collection's $expand would build the same ~20 values
 * again. The last body of each sensor, its "@odata.etag" in it, is kept
 * with the rf_sensor it was made from and answered again while the sensor
 * is the same, byte for byte (rf_sensor_json() depends on nothing else).
 * Kept bodies are never changed (the core changes a copy of a shared body,
 * redfish.h), and the core keeps their bytes (rf_body_keep()). Each thread
 * keeps its own, at most BODIES_MAX, in a table indexed by the id's hash
 * and freed when the thread ends: a jansson value is then never shared by
 * two threads (jansson's reference counts are atomic, but its decrement
 * is not the acquire-release that freeing a value another thread has read
 * needs), and no lock is taken.
 */

#define BODIES_MAX 64 /* a power of 2 */

struct kept_body {
	struct rf_sensor s; /* what body was made from */
	json_t *body;       /* owned; never changed once kept */
	char tag[19];       /* its ETag, rf_hash_sensor()'s, unquoted */
};

struct kept_table {
	struct kept_body *e[BODIES_MAX]; /* owned; NULL: free */
};

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void kept_body_free(struct kept_body *k)
{
	if (!k)
		return;
	rf_body_unkeep(k->body);
	json_decref(k->body);
	free(k);
}

static void kept_table_free(void *p)
{
	struct kept_table *t = p;

	for (size_t i = 0; i < BODIES_MAX; i++)
		kept_body_free(t->e[i]);
	free(t);
}

static void kept_key_make(void)
{
	if (pthread_key_create(&kept_key, kept_table_free) != 0)
		abort();
}

/* The calling thread's table. */
static struct kept_table *kept_table(void)
{
	struct kept_table *t;

	pthread_once(&kept_once, kept_key_make);
	t = pthread_getspecific(kept_key);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		if (pthread_setspecific(kept_key, t) != 0)
			abort();
	}
	return t;
}

static bool sensor_same(const struct rf_sensor *a, const struct rf_sensor *b)
{
	/* sensor_init() zeroed the padding; ncond is in the first part */
	return memcmp(a, b, offsetof(struct rf_sensor, cond)) == 0 &&
	       memcmp(a->cond, b->cond, (size_t)a->ncond * sizeof(a->cond[0])) == 0;
}

/* The slot of id in t: where it is, else the first free one on its probe,
 * else its home (replaced: there is never a hole to stop a probe early). */
static size_t kept_slot(const struct kept_table *t, const char *id)
{
	size_t home = (size_t)rf_hash_str(RF_HASH_INIT, id) & (BODIES_MAX - 1);

	for (size_t i = 0; i < BODIES_MAX; i++) {
		size_t k = (home + i) & (BODIES_MAX - 1);

		if (!t->e[k] || strcmp(t->e[k]->s.id, id) == 0)
			return k;
	}
	return home;
}

/* s's body with its "@odata.etag", kept: a new reference to a shared
 * value; its ETag (unquoted) in tag. */
static json_t *sensor_body(const struct rf_sensor *s, char tag[19])
{
	struct kept_table *t = kept_table();
	size_t slot = kept_slot(t, s->id);
	struct kept_body *k = t->e[slot];
	char quoted[19];
	uint64_t h;

	if (k && sensor_same(&k->s, s)) {
		memcpy(tag, k->tag, sizeof(k->tag));
		return json_incref(k->body);
	}
	kept_body_free(k);
	k = t->e[slot] = xmalloc(sizeof(*k));
	memcpy(k, s, offsetof(struct rf_sensor, cond) + (size_t)s->ncond * sizeof(s->cond[0]));
	h = rf_hash_sensor(RF_HASH_INIT, s);
	hash_tag(h, false, k->tag);
	hash_tag(h, true, quoted);
	memcpy(tag, k->tag, sizeof(k->tag));
	k->body = rf_sensor_json(s);
	json_object_set_new_nocheck(k->body, "@odata.etag", json_string_nocheck(quoted));
	rf_body_keep(k->body);
	return json_incref(k->body);
}

/* ---- handlers ---- */

/* The members, from the request's box: the members its $expand fetches
 * are then made from the same box, loaded once. The ETag is that of what
 * the body shows, the members' ids (the core makes the one of an answer
 * with the members expanded from theirs). */
void rf_sensors_list(struct rf_call *call)
{
	const struct rf_box *b = rf_box_of(call);
	json_t *paths = json_array();
	char path[RF_PATH_MAX];
	uint64_t h = RF_HASH_INIT;

	for (size_t i = 0; i < b->n; i++) {
		rf_sensor_path(b->s[i].id, path);
		json_array_append_new(paths, text_json(path));
		h = rf_hash_str(h, b->s[i].id);
	}
	rf_set_hash_etag(call, h);
	rf_reply_resource(call,
	                  rf_collection_new(RF_BOX_SENSORS, "SensorCollection", "Sensors", paths));
}

/* From the request's box when it has one (a member of the collection's
 * $expand), else only this sensor is read: the hot path of a single GET. */
void rf_sensor_get(struct rf_call *call)
{
	const struct rf_box *b = rf_box_loaded(call);
	const char *id = rf_param(call, "id");
	const struct rf_sensor *found = b ? rf_box_sensor(b, id) : NULL;
	struct rf_sensor s;
	char tag[19];
	json_t *body;

	if (!found) {
		if (rf_sensor_load(call->data, id, &s) < 0) {
			rf_reply_not_found(call);
			return;
		}
		found = &s;
	}
	body = sensor_body(found, tag);
	rf_set_etag(call, tag);
	rf_reply_resource(call, body);
}
