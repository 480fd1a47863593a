/* SPDX-License-Identifier: MIT */
/*
 * Node telemetry in kumod, the pure parts: validation of the heartbeat's
 * telemetry member (what is accepted, what drops the member, what is
 * ignored), the coolant and power figures, the history's time parameters,
 * the float32 blob layout, downsampling into min/avg/max buckets, merging
 * aggregates, and the cutoff that decides what is folded.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "kumod/telemetry.h"

#define GOOD                                                                                       \
	"{\"ts\": 1763700000123,"                                                                  \
	" \"thermal\": {\"state\": \"warning\", \"headroom_c\": 2.5, \"cpu_cap_pct\": 80,"         \
	"   \"alarms\": [{\"id\": \"FanFailed:Fan2\", \"severity\": \"Warning\","                  \
	"                \"message\": \"fan 2\"}]},"                                               \
	" \"sensors\": ["                                                                          \
	"   {\"id\": \"CoolantTemp\", \"type\": \"Temperature\", \"unit\": \"Cel\","               \
	"    \"value\": 52.5, \"status\": \"ok\", \"context\": \"LiquidInlet\"},"                  \
	"   {\"id\": \"Board\", \"type\": \"Power\", \"unit\": \"W\", \"value\": 200,"             \
	"    \"context\": \"SystemBoard\"},"                                                       \
	"   {\"id\": \"Cpu\", \"type\": \"Power\", \"unit\": \"W\", \"value\": 80,"                \
	"    \"context\": \"CPU\"},"                                                               \
	"   {\"id\": \"Fans\", \"type\": \"Power\", \"unit\": \"W\", \"value\": 12.5,"             \
	"    \"context\": \"Fan\"},"                                                               \
	"   {\"id\": \"Fan2\", \"type\": \"Fan\", \"unit\": \"RPM\", \"value\": 0,"                \
	"    \"status\": \"missing\"}],"                                                           \
	" \"events\": ["                                                                           \
	"   {\"ts\": 1, \"severity\": \"Critical\", \"message_id\": \"E.1.0.B\", \"seq\": 9},"     \
	"   {\"ts\": 1, \"severity\": \"OK\", \"message\": \"back\", \"seq\": 7},"                 \
	"   {\"ts\": 1, \"severity\": \"Warning\", \"seq\": 9}]}"

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	if (!j)
		fail_msg("bad test JSON at %d: %s", je.position, je.text);
	return j;
}

static void test_parse_good(void **state)
{
	(void)state;
	json_t *t = load(GOOD);
	struct tele_report r;
	char why[128] = "";
	double v = 0;

	assert_int_equal(tele_parse(t, &r, why, sizeof(why)), 0);
	assert_true(r.ts == 1763700000123LL);
	assert_true(r.has_thermal && r.state == SCHED_THERMAL_WARNING);
	assert_true(r.has_headroom && r.headroom_c == 2.5);
	assert_true(r.has_cap && r.cpu_cap_pct == 80);
	assert_int_equal(json_array_size(r.alarms), 1);
	assert_string_equal(jstr(json_array_get(r.alarms, 0), "id"), "FanFailed:Fan2");
	assert_int_equal(r.nsensors, 5);
	assert_string_equal(r.sensors[0].context, "LiquidInlet");
	assert_int_equal(r.sensors[1].status, TELE_STATUS_OK); /* status may be left out */
	assert_int_equal(r.sensors[4].status, TELE_STATUS_MISSING);
	assert_false(r.sensors[4].has_value); /* a missing sensor has no reading */
	/* events in seq order, a seq given twice kept once */
	assert_int_equal(json_array_size(r.events), 2);
	assert_int_equal(jint(json_array_get(r.events, 0), "seq", 0), 7);
	assert_int_equal(jint(json_array_get(r.events, 1), "seq", 0), 9);
	assert_true(r.max_seq == 9);
	assert_true(tele_coolant(&r, &v) && v == 52.5);
	/* no Total sensor: the Power sensors but the CPU's */
	assert_true(tele_power(&r, &v) && v == 212.5);
	tele_report_clear(&r);
	json_decref(t);
}

static void test_parse_minimal_and_unknown_members(void **state)
{
	(void)state;
	json_t *t = load("{\"ts\": 5, \"firmware\": \"2.1\", \"sensors\": [{\"id\": \"T\","
	                 " \"type\": \"Power\", \"value\": 410, \"context\": \"Total\","
	                 " \"reading_range\": [0, 900]},"
	                 " {\"id\": \"B\", \"type\": \"Power\", \"value\": 5}]}");
	struct tele_report r;
	double v = 0;

	assert_int_equal(tele_parse(t, &r, NULL, 0), 0);
	assert_false(r.has_thermal);
	assert_int_equal(r.state, SCHED_THERMAL_UNKNOWN);
	assert_int_equal(json_array_size(r.alarms), 0);
	assert_int_equal(json_array_size(r.events), 0);
	assert_true(r.max_seq == 0);
	assert_false(tele_coolant(&r, &v));
	/* a Total sensor wins over the sum */
	assert_true(tele_power(&r, &v) && v == 410);
	tele_report_clear(&r);
	json_decref(t);
}

/* Each of these drops the whole member, naming the offender. */
static void test_parse_bad(void **state)
{
	(void)state;
	static const struct {
		const char *json, *why;
	} bad[] = {
		{ "[]", "telemetry: not an object" },
		{ "{}", "telemetry.ts: missing" },
		{ "{\"ts\": \"now\"}", "telemetry.ts: not an integer" },
		{ "{\"ts\": 0}", "telemetry.ts: out of range" },
		{ "{\"ts\": 1, \"sensors\": {}}", "sensors: not an array" },
		{ "{\"ts\": 1, \"sensors\": [7]}", "sensors[0]: not an object" },
		{ "{\"ts\": 1, \"sensors\": [{\"type\": \"Fan\"}]}", "sensors[0].id: missing" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a b\", \"type\": \"Fan\"}]}",
		  "sensors[0].id" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a\", \"type\": \"Fan\", \"value\": "
		  "\"3\"}]}",
		  "sensors[0].value: not a number" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a\", \"type\": \"Fan\", \"value\": 1e12}]}",
		  "sensors[0].value: out of range" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a\", \"type\": \"Fan\", \"status\": "
		  "\"bad\"}]}",
		  "sensors[0].status" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a\", \"type\": \"Fan\", \"unit\": "
		  "\"\\u0007\"}]}",
		  "sensors[0].unit" },
		{ "{\"ts\": 1, \"sensors\": [{\"id\": \"a\", \"type\": \"Fan\"},"
		  " {\"id\": \"a\", \"type\": \"Fan\"}]}",
		  "sensors[1].id: a appears twice" },
		{ "{\"ts\": 1, \"thermal\": 3}", "thermal: not an object" },
		{ "{\"ts\": 1, \"thermal\": {}}", "thermal.state: missing" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"unknown\"}}", "thermal.state" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"OK\"}}", "thermal.state" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"ok\", \"headroom_c\": true}}",
		  "thermal.headroom_c: not a number" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"ok\", \"cpu_cap_pct\": -1}}",
		  "thermal.cpu_cap_pct: out of range" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"ok\", \"alarms\": [{\"id\": \"x\"}]}}",
		  "thermal.alarms[0].severity: missing" },
		{ "{\"ts\": 1, \"thermal\": {\"state\": \"ok\", \"alarms\": [{\"id\": \"x\","
		  " \"severity\": \"Info\"}]}}",
		  "thermal.alarms[0].severity" },
		{ "{\"ts\": 1, \"events\": [{\"ts\": 1, \"severity\": \"OK\"}]}",
		  "events[0].seq: missing" },
		{ "{\"ts\": 1, \"events\": [{\"ts\": 1, \"severity\": \"OK\", \"seq\": 0}]}",
		  "events[0].seq: out of range" },
		{ "{\"ts\": 1, \"events\": [{\"ts\": 1, \"severity\": \"Info\", \"seq\": 1}]}",
		  "events[0].severity" },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *t = load(bad[i].json);
		struct tele_report r = { .ts = 42 };

		why[0] = '\0';
		assert_int_equal(tele_parse(t, &r, why, sizeof(why)), -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].json, why, bad[i].why);
		assert_true(r.ts == 42); /* untouched */
		json_decref(t);
	}
}

/* Arrays over their limits, and strings over theirs. */
static void test_parse_limits(void **state)
{
	(void)state;
	json_t *t = json_pack("{s:I,s:[]}", "ts", (json_int_t)1, "sensors");
	json_t *arr = json_object_get(t, "sensors");
	struct tele_report r;
	char why[256], id[16];

	for (int i = 0; i < TELE_SENSORS_MAX; i++) {
		snprintf(id, sizeof(id), "S%d", i);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:f}", "id", id, "type",
		                                     "Temperature", "value", 20.0 + i));
	}
	assert_int_equal(tele_parse(t, &r, why, sizeof(why)), 0);
	assert_int_equal(r.nsensors, TELE_SENSORS_MAX);
	tele_report_clear(&r);
	json_array_append_new(arr, json_pack("{s:s,s:s}", "id", "one-more", "type", "Fan"));
	assert_int_equal(tele_parse(t, &r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "sensors: more than 128 items"));
	json_decref(t);

	char *long_msg = calloc(TELE_MESSAGE_MAX + 2, 1);
	memset(long_msg, 'x', TELE_MESSAGE_MAX + 1);
	t = json_pack("{s:I,s:[{s:I,s:I,s:s,s:s}]}", "ts", (json_int_t)1, "events", "seq",
	              (json_int_t)1, "ts", (json_int_t)1, "severity", "OK", "message", long_msg);
	assert_int_equal(tele_parse(t, &r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "events[0].message"));
	json_decref(t);
	long_msg[TELE_MESSAGE_MAX] = '\0';
	t = json_pack("{s:I,s:[{s:I,s:I,s:s,s:s}]}", "ts", (json_int_t)1, "events", "seq",
	              (json_int_t)1, "ts", (json_int_t)1, "severity", "OK", "message", long_msg);
	assert_int_equal(tele_parse(t, &r, why, sizeof(why)), 0);
	tele_report_clear(&r);
	json_decref(t);
	free(long_msg);
}

static void test_time_param(void **state)
{
	(void)state;
	const int64_t now = 1763700000000LL;
	int64_t t = 0;

	assert_int_equal(tele_time_param("1h", now, &t), 0);
	assert_true(t == now - 3600000);
	assert_int_equal(tele_time_param("90s", now, &t), 0);
	assert_true(t == now - 90000);
	assert_int_equal(tele_time_param("2d", now, &t), 0);
	assert_true(t == now - 2 * 86400000LL);
	assert_int_equal(tele_time_param("0m", now, &t), 0);
	assert_true(t == now);
	assert_int_equal(tele_time_param("2025-11-21T04:25:36.123Z", now, &t), 0);
	assert_true(t == 1763699136123LL);
	static const char *const bad[] = { "",         "h",   "1",    "1y",
		                           "-1h",      "1h2", "1.5h", "999999999999h",
		                           "yesterday" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tele_time_param(bad[i], now, &t), -EINVAL);
	assert_int_equal(tele_time_param(NULL, now, &t), -EINVAL);
}

static void test_blob(void **state)
{
	(void)state;
	uint8_t b[12];

	tele_blob_set(b, 0, 31.2f);
	tele_blob_set(b, 1, NAN);
	tele_blob_set(b, 2, -40.5f);
	/* little-endian float32 whatever the host */
	assert_int_equal(b[8], 0x00);
	assert_int_equal(b[9], 0x00);
	assert_int_equal(b[10], 0x22);
	assert_int_equal(b[11], 0xc2);
	assert_true(tele_blob_get(b, sizeof(b), 0) == 31.2f);
	assert_true(isnan(tele_blob_get(b, sizeof(b), 1)));
	assert_true(tele_blob_get(b, sizeof(b), 2) == -40.5f);
	assert_true(isnan(tele_blob_get(b, sizeof(b), 3))); /* past the end */
	assert_true(isnan(tele_blob_get(b, 7, 1)));         /* a short blob */
	assert_true(isnan(tele_blob_get(NULL, 0, 0)));
}

static struct tele_row raw_row(int64_t ts, int n, const float *v)
{
	struct tele_row r = { .ts = ts, .n = 1, .len = (size_t)n * 4 };

	r.vals = malloc(r.len + 1);
	for (int i = 0; i < n; i++)
		tele_blob_set(r.vals, (size_t)i, v[i]);
	return r;
}

static void assert_triple(const struct tele_row *a, size_t slot, float lo, float avg, float hi)
{
	float got_lo = tele_blob_get(a->vals, a->len, slot * 3),
	      got_avg = tele_blob_get(a->vals, a->len, slot * 3 + 1),
	      got_hi = tele_blob_get(a->vals, a->len, slot * 3 + 2);

	if (isnan(avg)) {
		assert_true(isnan(got_lo) && isnan(got_avg) && isnan(got_hi));
		return;
	}
	assert_float_equal(got_lo, lo, 1e-5);
	assert_float_equal(got_avg, avg, 1e-5);
	assert_float_equal(got_hi, hi, 1e-5);
}

static void test_downsample(void **state)
{
	(void)state;
	const int64_t B = 300000; /* 5 minutes */
	struct tele_row raw[6], *agg = NULL;
	int n = 0;

	/* bucket 0: three rows, slot 1 missing once, slot 2 only in the last
	 * (a sensor that appeared); bucket 1: one row; bucket 3 (2 is empty):
	 * two rows where slot 0 is never there */
	raw[0] = raw_row(B * 10 + 0, 2, (float[]){ 10, 1 });
	raw[1] = raw_row(B * 10 + 60000, 2, (float[]){ 20, NAN });
	raw[2] = raw_row(B * 10 + 299999, 3, (float[]){ 60, 3, 7 });
	raw[3] = raw_row(B * 11 + 5, 1, (float[]){ -4 });
	raw[4] = raw_row(B * 13, 2, (float[]){ NAN, 8 });
	raw[5] = raw_row(B * 13 + 1000, 2, (float[]){ NAN, 9 });
	assert_int_equal(tele_downsample(raw, 6, B, &agg, &n), 0);
	assert_int_equal(n, 3);
	assert_true(agg[0].ts == B * 10 && agg[0].n == 3 && agg[0].len == 3 * 12);
	assert_triple(&agg[0], 0, 10, 30, 60);
	assert_triple(&agg[0], 1, 1, 2, 3);
	assert_triple(&agg[0], 2, 7, 7, 7);
	assert_true(agg[1].ts == B * 11 && agg[1].n == 1 && agg[1].len == 12);
	assert_triple(&agg[1], 0, -4, -4, -4);
	assert_true(agg[2].ts == B * 13 && agg[2].n == 2);
	assert_triple(&agg[2], 0, NAN, NAN, NAN);
	assert_triple(&agg[2], 1, 8, 8.5f, 9);

	/* merging a later fold into an aggregate of the same bucket */
	struct tele_row more[1] = { raw_row(B * 10 + 1, 2, (float[]){ 0, 5 }) }, *m = NULL;
	int nm = 0;
	assert_int_equal(tele_downsample(more, 1, B, &m, &nm), 0);
	tele_agg_merge(&agg[0], &m[0]);
	assert_true(agg[0].n == 4 && agg[0].len == 3 * 12);
	assert_triple(&agg[0], 0, 0, (10 + 20 + 60 + 0) / 4.0f, 60); /* weighted by rows */
	assert_triple(&agg[0], 1, 1, (2 * 3 + 5) / 4.0f, 5);
	assert_triple(&agg[0], 2, 7, 7, 7); /* nothing new for slot 2: unchanged */
	/* merging into a NaN slot takes the other side's values */
	tele_agg_merge(&agg[2], &agg[1]);
	assert_triple(&agg[2], 0, -4, -4, -4);

	/* nothing to fold, bad bucket */
	tele_rows_free(m, nm);
	assert_int_equal(tele_downsample(raw, 0, B, &m, &nm), 0);
	assert_int_equal(nm, 0);
	tele_rows_free(m, nm);
	assert_int_equal(tele_downsample(raw, 6, 0, &m, &nm), -EINVAL);
	tele_rows_free(agg, n);
	for (int i = 0; i < 6; i++)
		free(raw[i].vals);
	free(more[0].vals);
}

/* Only whole buckets older than the raw keep are folded. */
static void test_cutoff(void **state)
{
	(void)state;
	const int64_t B = 300000, day = 86400000;
	const int64_t now = 1763700123456LL;
	int64_t c = tele_raw_cutoff(now, day, B);

	assert_true(c % B == 0);
	assert_true(c <= now - day && c > now - day - B);
	assert_true(tele_raw_cutoff(B * 100, 0, B) == B * 100);
	assert_true(tele_raw_cutoff(B * 100 + 1, 0, B) == B * 100);
	assert_true(tele_raw_cutoff(5, 10, 4) == -8); /* floors below zero too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_minimal_and_unknown_members),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_time_param),
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_downsample),
		cmocka_unit_test(test_cutoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
