// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the heartbeat telemetry parser (kumod/
 * telemetry_parse.c): the input is parsed as JSON and, when it is JSON,
 * validated as a telemetry member. Whatever comes in, the parser either
 * refuses it with a reason or gives a report that keeps every promise of
 * telemetry.h: limits, unique and well-formed sensor ids, events in strictly
 * rising seq order with max_seq the last, and finite figures. The input is
 * also tried as a history time parameter.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/telemetry.h"

static void check_id(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") != n)
		__builtin_trap();
}

static void check(const struct tele_report *r)
{
	int64_t last = 0;
	double v;
	size_t i;
	json_t *e;

	if (r->ts < 1 || r->nsensors < 0 || r->nsensors > TELE_SENSORS_MAX)
		__builtin_trap();
	for (int k = 0; k < r->nsensors; k++) {
		const struct tele_sensor *s = &r->sensors[k];

		check_id(s->id, TELE_ID_MAX);
		check_id(s->type, TELE_WORD_MAX);
		if (s->has_value && (!isfinite(s->value) || fabs(s->value) > 1e9))
			__builtin_trap();
		if (s->status == TELE_STATUS_MISSING && s->has_value)
			__builtin_trap();
		for (int j = 0; j < k; j++)
			if (!strcmp(r->sensors[j].id, s->id))
				__builtin_trap();
	}
	if (!json_is_array(r->alarms) || json_array_size(r->alarms) > TELE_ALARMS_MAX)
		__builtin_trap();
	if (!json_is_array(r->events) || json_array_size(r->events) > TELE_EVENTS_MAX)
		__builtin_trap();
	json_array_foreach(r->events, i, e)
	{
		int64_t seq = jint(e, "seq", 0);

		if (seq <= last || !jstr(e, "severity"))
			__builtin_trap();
		last = seq;
	}
	if (r->max_seq != last)
		__builtin_trap();
	if (r->has_thermal && (r->state < SCHED_THERMAL_OK || r->state > SCHED_THERMAL_CRITICAL ||
	                       (r->has_cap && (r->cpu_cap_pct < 0 || r->cpu_cap_pct > 100))))
		__builtin_trap();
	if (tele_coolant(r, &v) && !isfinite(v))
		__builtin_trap();
	if (tele_power(r, &v) && !isfinite(v))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], *s = malloc(size + 1);
	struct tele_report r;
	json_t *j;
	int64_t t;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	tele_time_param(s, 1763700000000LL, &t);
	free(s);
	j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!j)
		return 0;
	why[0] = '\0';
	if (tele_parse(j, &r, why, sizeof(why)) == 0) {
		check(&r);
		tele_report_clear(&r);
	} else if (!why[0]) {
		__builtin_trap();
	}
	json_decref(j);
	return 0;
}
