// SPDX-License-Identifier: MIT
/*
 * Validation of the "telemetry" member of agent heartbeats (format in
 * docs/API.md, agent channel) into a struct tele_report, and the figures
 * derived from one report (coolant temperature, power). Pure: no store, no
 * locks, no logging; the caller decides what to do with a bad member
 * (telemetry.c drops it and logs once in a while).
 *
 * The member comes from an authenticated agent but is still untrusted
 * input: every string has a length limit and a character set, every
 * number a range, every array a size.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/telemetry.h"

#define VALUE_ABS_MAX 1e9       /* sensor readings */
#define HEADROOM_ABS_MAX 1000.0 /* degrees */
#define TS_MAX ((int64_t)1 << 53)

static const char *const status_names[] = {
	[TELE_STATUS_OK] = "ok",
	[TELE_STATUS_STUCK] = "stuck",
	[TELE_STATUS_MISSING] = "missing",
};
static const char *const severities[] = { "OK", "Warning", "Critical", NULL };

const char *tele_status_name(enum tele_status s)
{
	return (size_t)s < ARRAY_SIZE(status_names) ? status_names[s] : "ok";
}

static int __attribute__((format(printf, 3, 4))) bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Identifiers: [A-Za-z0-9._:-], 1..max bytes (they appear in URLs). */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* Free text: at most max bytes, no control characters (jansson already
 * guarantees UTF-8). */
static bool text_ok(const char *s, size_t max)
{
	if (strlen(s) > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* A string member: absent (NULL, ok unless required) or a string passing
 * check. Sets *ret to the string or NULL. */
static int get_str(const json_t *o, const char *key, bool required, bool ident, size_t max,
                   const char *where, const char **ret, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return bad(why, whylen, "%s.%s: missing", where, key);
		return 0;
	}
	if (!json_is_string(v))
		return bad(why, whylen, "%s.%s: not a string", where, key);
	if (ident ? !id_ok(json_string_value(v), max) : !text_ok(json_string_value(v), max))
		return bad(why, whylen, "%s.%s: %s, at most %zu bytes", where, key,
		           ident ? "letters, digits and ._:- only" : "no control characters", max);
	*ret = json_string_value(v);
	return 0;
}

/* A number member in [lo, hi]: absent or null leaves *has false. */
static int get_num(const json_t *o, const char *key, double lo, double hi, const char *where,
                   bool *has, double *ret, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, key);
	double d;

	*has = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return bad(why, whylen, "%s.%s: not a number", where, key);
	d = json_number_value(v);
	if (!isfinite(d) || d < lo || d > hi)
		return bad(why, whylen, "%s.%s: out of range", where, key);
	*has = true;
	*ret = d;
	return 0;
}

/* An integer member in [lo, hi], required. */
static int get_int(const json_t *o, const char *key, int64_t lo, int64_t hi, const char *where,
                   int64_t *ret, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, key);

	if (!v)
		return bad(why, whylen, "%s.%s: missing", where, key);
	if (!json_is_integer(v))
		return bad(why, whylen, "%s.%s: not an integer", where, key);
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return bad(why, whylen, "%s.%s: out of range", where, key);
	*ret = json_integer_value(v);
	return 0;
}

/* An array member of at most max items; absent or null gives NULL. */
static int get_array(const json_t *o, const char *key, size_t max, const json_t **ret, char *why,
                     size_t whylen)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return bad(why, whylen, "%s: not an array", key);
	if (json_array_size(v) > max)
		return bad(why, whylen, "%s: more than %zu items", key, max);
	*ret = v;
	return 0;
}

static void copy(char *dst, size_t size, const char *s)
{
	snprintf(dst, size, "%s", s ? s : "");
}

static int parse_sensor(const json_t *o, const char *where, struct tele_sensor *s, char *why,
                        size_t whylen)
{
	const char *id, *type, *unit, *context, *status;
	int r;

	if (!json_is_object(o))
		return bad(why, whylen, "%s: not an object", where);
	if ((r = get_str(o, "id", true, true, TELE_ID_MAX, where, &id, why, whylen)) < 0 ||
	    (r = get_str(o, "type", true, true, TELE_WORD_MAX, where, &type, why, whylen)) < 0 ||
	    (r = get_str(o, "unit", false, false, TELE_WORD_MAX, where, &unit, why, whylen)) < 0 ||
	    (r = get_str(o, "context", false, true, TELE_WORD_MAX, where, &context, why, whylen)) <
	        0 ||
	    (r = get_str(o, "status", false, true, TELE_WORD_MAX, where, &status, why, whylen)) < 0)
		return r;
	r = get_num(o, "value", -VALUE_ABS_MAX, VALUE_ABS_MAX, where, &s->has_value, &s->value, why,
	            whylen);
	if (r < 0)
		return r;
	s->status = TELE_STATUS_OK;
	if (status) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(status_names); i++)
			if (!strcmp(status, status_names[i]))
				break;
		if (i == ARRAY_SIZE(status_names))
			return bad(why, whylen, "%s.status: not ok, stuck or missing", where);
		s->status = (enum tele_status)i;
	}
	if (s->status == TELE_STATUS_MISSING)
		s->has_value = false; /* a missing sensor has no reading */
	copy(s->id, sizeof(s->id), id);
	copy(s->type, sizeof(s->type), type);
	copy(s->unit, sizeof(s->unit), unit);
	copy(s->context, sizeof(s->context), context);
	return 0;
}

static int parse_sensors(const json_t *arr, struct tele_report *rep, char *why, size_t whylen)
{
	const json_t *o;
	size_t i;

	rep->sensors = xcalloc(json_array_size(arr) + 1, sizeof(*rep->sensors));
	json_array_foreach(arr, i, o)
	{
		char where[48];
		int r;

		snprintf(where, sizeof(where), "sensors[%zu]", i);
		r = parse_sensor(o, where, &rep->sensors[i], why, whylen);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(rep->sensors[k].id, rep->sensors[i].id))
				return bad(why, whylen, "%s.id: %s appears twice", where,
				           rep->sensors[i].id);
		rep->nsensors++;
	}
	return 0;
}

static int parse_alarms(const json_t *arr, json_t *out, char *why, size_t whylen)
{
	const json_t *o;
	size_t i;

	json_array_foreach(arr, i, o)
	{
		const char *id, *sev, *msg;
		char where[48];
		int r;

		snprintf(where, sizeof(where), "thermal.alarms[%zu]", i);
		if (!json_is_object(o))
			return bad(why, whylen, "%s: not an object", where);
		if ((r = get_str(o, "id", true, true, TELE_ID_MAX, where, &id, why, whylen)) < 0 ||
		    (r = get_str(o, "severity", true, true, TELE_WORD_MAX, where, &sev, why,
		                 whylen)) < 0 ||
		    (r = get_str(o, "message", false, false, TELE_MESSAGE_MAX, where, &msg, why,
		                 whylen)) < 0)
			return r;
		if (!in_list(sev, severities))
			return bad(why, whylen, "%s.severity: not OK, Warning or Critical", where);
		json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "id", id, "severity", sev,
		                                     "message", msg ? msg : ""));
	}
	return 0;
}

static int parse_thermal(const json_t *th, struct tele_report *rep, char *why, size_t whylen)
{
	const json_t *alarms;
	const char *state;
	int r;

	if (!json_is_object(th))
		return bad(why, whylen, "thermal: not an object");
	r = get_str(th, "state", true, true, TELE_WORD_MAX, "thermal", &state, why, whylen);
	if (r < 0)
		return r;
	if (sched_thermal_parse(state, &rep->state) < 0 || rep->state == SCHED_THERMAL_UNKNOWN)
		return bad(why, whylen, "thermal.state: not ok, warning, alarm or critical");
	if ((r = get_num(th, "headroom_c", -HEADROOM_ABS_MAX, HEADROOM_ABS_MAX, "thermal",
	                 &rep->has_headroom, &rep->headroom_c, why, whylen)) < 0 ||
	    (r = get_num(th, "cpu_cap_pct", 0, 100, "thermal", &rep->has_cap, &rep->cpu_cap_pct,
	                 why, whylen)) < 0)
		return r;
	r = get_array(th, "alarms", TELE_ALARMS_MAX, &alarms, why, whylen);
	if (r < 0)
		return bad(why, whylen, "thermal.alarms: not an array of at most %d",
		           TELE_ALARMS_MAX);
	rep->has_thermal = true;
	return alarms ? parse_alarms(alarms, rep->alarms, why, whylen) : 0;
}

static int seq_cmp(const void *a, const void *b)
{
	int64_t x = jint(*(json_t *const *)a, "seq", 0), y = jint(*(json_t *const *)b, "seq", 0);

	return x < y ? -1 : x > y;
}

static int parse_events(const json_t *arr, struct tele_report *rep, char *why, size_t whylen)
{
	json_t **evs = xcalloc(json_array_size(arr) + 1, sizeof(*evs));
	const json_t *o;
	size_t i, n = 0;
	int r = 0;

	json_array_foreach(arr, i, o)
	{
		const char *sev, *mid, *msg;
		int64_t seq = 0, ts = 0;
		char where[48];

		snprintf(where, sizeof(where), "events[%zu]", i);
		if (!json_is_object(o)) {
			r = bad(why, whylen, "%s: not an object", where);
			break;
		}
		if ((r = get_int(o, "seq", 1, TS_MAX, where, &seq, why, whylen)) < 0 ||
		    (r = get_int(o, "ts", 0, TS_MAX, where, &ts, why, whylen)) < 0 ||
		    (r = get_str(o, "severity", true, true, TELE_WORD_MAX, where, &sev, why,
		                 whylen)) < 0 ||
		    (r = get_str(o, "message_id", false, true, 128, where, &mid, why, whylen)) <
		        0 ||
		    (r = get_str(o, "message", false, false, TELE_MESSAGE_MAX, where, &msg, why,
		                 whylen)) < 0)
			break;
		if (!in_list(sev, severities)) {
			r = bad(why, whylen, "%s.severity: not OK, Warning or Critical", where);
			break;
		}
		evs[n++] = json_pack("{s:I,s:I,s:s,s:s,s:s}", "seq", (json_int_t)seq, "ts",
		                     (json_int_t)ts, "severity", sev, "message_id", mid ? mid : "",
		                     "message", msg ? msg : "");
	}
	if (r == 0) {
		qsort(evs, n, sizeof(*evs), seq_cmp);
		for (i = 0; i < n; i++) {
			int64_t seq = jint(evs[i], "seq", 0);

			if (seq == rep->max_seq) /* resent twice in one report: once */
				continue;
			json_array_append(rep->events, evs[i]);
			rep->max_seq = seq;
		}
	}
	for (i = 0; i < n; i++)
		json_decref(evs[i]);
	free(evs);
	return r;
}

int tele_parse(const json_t *t, struct tele_report *ret, char *why, size_t whylen)
{
	struct tele_report rep = { 0 };
	const json_t *sensors, *events, *th;
	int r;

	if (!json_is_object(t))
		return bad(why, whylen, "telemetry: not an object");
	rep.alarms = json_array();
	rep.events = json_array();
	r = get_int(t, "ts", 1, TS_MAX, "telemetry", &rep.ts, why, whylen);
	if (r < 0)
		goto fail;
	r = get_array(t, "sensors", TELE_SENSORS_MAX, &sensors, why, whylen);
	if (r == 0 && sensors)
		r = parse_sensors(sensors, &rep, why, whylen);
	if (r < 0)
		goto fail;
	th = json_object_get(t, "thermal");
	if (th && !json_is_null(th)) {
		r = parse_thermal(th, &rep, why, whylen);
		if (r < 0)
			goto fail;
	}
	r = get_array(t, "events", TELE_EVENTS_MAX, &events, why, whylen);
	if (r == 0 && events)
		r = parse_events(events, &rep, why, whylen);
	if (r < 0)
		goto fail;
	*ret = rep;
	return 0;
fail:
	tele_report_clear(&rep);
	return r;
}

void tele_report_clear(struct tele_report *r)
{
	if (!r)
		return;
	json_decref(r->alarms);
	json_decref(r->events);
	free(r->sensors);
	memset(r, 0, sizeof(*r));
}

bool tele_coolant(const struct tele_report *r, double *ret)
{
	static const char *const contexts[] = { "Coolant", "LiquidInlet" };

	for (size_t c = 0; c < ARRAY_SIZE(contexts); c++)
		for (int i = 0; i < r->nsensors; i++) {
			const struct tele_sensor *s = &r->sensors[i];

			if (s->has_value && !strcmp(s->type, "Temperature") &&
			    !strcmp(s->context, contexts[c])) {
				*ret = s->value;
				return true;
			}
		}
	return false;
}

bool tele_power(const struct tele_report *r, double *ret)
{
	double sum = 0;
	bool any = false;

	for (int i = 0; i < r->nsensors; i++) {
		const struct tele_sensor *s = &r->sensors[i];

		if (s->has_value && !strcmp(s->type, "Power") &&
		    (!strcmp(s->context, "Total") || !strcmp(s->context, "Chassis"))) {
			*ret = s->value;
			return true;
		}
	}
	for (int i = 0; i < r->nsensors; i++) {
		const struct tele_sensor *s = &r->sensors[i];

		if (s->has_value && !strcmp(s->type, "Power") && strcmp(s->context, "CPU") != 0) {
			sum += s->value;
			any = true;
		}
	}
	if (any)
		*ret = sum;
	return any;
}

int tele_time_param(const char *s, int64_t now, int64_t *ret)
{
	static const struct {
		char unit;
		int64_t ms;
	} units[] = { { 's', 1000 },
		      { 'm', 60000 },
		      { 'h', 3600000 },
		      { 'd', 86400000 },
		      { 'w', 7 * 86400000LL } };
	int64_t v = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (time_parse(s, ret) == 0)
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 100000000) /* no duration above ~3 years of weeks overflows below */
			return -EINVAL;
	}
	if (p == s || !p[0] || p[1])
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (*p == units[i].unit) {
			*ret = now - v * units[i].ms;
			return 0;
		}
	return -EINVAL;
}
