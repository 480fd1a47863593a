// SPDX-License-Identifier: MIT
/*
 * The event engine of the agent's Redfish service (src/agent/rf_event.h):
 * the subscription filters, the Event body, ISO 8601 durations, the
 * settings and subscriptions kept across a reopen (0600 files), the bound
 * of a suspended subscription's queue, the SSE ring, a disabled service,
 * and nodelog_unlisten() (the EventService stops following the node log
 * before it is freed). Delivery itself is in tests/e2e/test_rf_events.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/nodelog.h"
#include "agent/rf_event.h"
#include "common/json.h"
#include "common/util.h"

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/kumo-rfevent-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(char *d)
{
	static const char *const files[] = { RF_EVENTS_SUBS_FILE, RF_EVENTS_SETTINGS_FILE,
		                             "nodelog.jsonl", "nodelog.ack" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = xasprintf("%s/%s", d, files[i]);

		unlink(p);
		free(p);
	}
	assert_int_equal(rmdir(d), 0);
	free(d);
}

static json_t *record(const char *mid, const char *sev, const char *origin)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "MessageId", mid, "MessageSeverity", sev,
	                 "OriginOfCondition", "@odata.id", origin);
}

static bool match(const char *sub_json, const json_t *rec, const char *type)
{
	json_t *sub = json_loads(sub_json, 0, NULL);
	bool r;

	assert_non_null(sub);
	r = rf_events_match(sub, rec, type);
	json_decref(sub);
	return r;
}

static void test_filters(void **state)
{
	json_t *fan = record("Environmental.1.4.0.FanFailed", "Critical",
	                     "/redfish/v1/Chassis/box/ThermalSubsystem/Fans/Fan2");
	json_t *test = record("ResourceEvent.1.4.3.TestMessage", "OK", "/redfish/v1/EventService");

	assert_true(match("{}", fan, "Fan"));
	assert_true(match("{\"RegistryPrefixes\": []}", fan, "Fan")); /* empty: no filter */
	assert_true(match("{\"RegistryPrefixes\": [\"Environmental\"]}", fan, "Fan"));
	assert_false(match("{\"RegistryPrefixes\": [\"Environmental\"]}", test, NULL));
	/* MessageIds: versions ignored, with or without them */
	assert_true(match("{\"MessageIds\": [\"Environmental.FanFailed\"]}", fan, NULL));
	assert_true(match("{\"MessageIds\": [\"Environmental.1.0.0.FanFailed\"]}", fan, NULL));
	assert_false(match("{\"MessageIds\": [\"Environmental.FanRestored\"]}", fan, NULL));
	assert_false(match("{\"MessageIds\": [\"SensorEvent.FanFailed\"]}", fan, NULL));
	/* either list may let it through */
	assert_true(match("{\"RegistryPrefixes\": [\"ResourceEvent\"], \"MessageIds\": "
	                  "[\"Environmental.FanFailed\"]}",
	                  fan, NULL));
	/* exclusions win */
	assert_false(match("{\"ExcludeRegistryPrefixes\": [\"Environmental\"]}", fan, NULL));
	assert_false(match("{\"ExcludeMessageIds\": [\"Environmental.FanFailed\"]}", fan, NULL));
	assert_true(match("{\"ExcludeMessageIds\": [\"Environmental.FanRestored\"]}", fan, NULL));
	/* severities and resource types */
	assert_true(match("{\"Severities\": [\"Warning\", \"Critical\"]}", fan, NULL));
	assert_false(match("{\"Severities\": [\"Warning\", \"Critical\"]}", test, NULL));
	assert_true(match("{\"ResourceTypes\": [\"Fan\"]}", fan, "Fan"));
	assert_false(match("{\"ResourceTypes\": [\"Chassis\"]}", fan, "Fan"));
	assert_false(match("{\"ResourceTypes\": [\"Fan\"]}", fan, NULL));
	/* origins, and below them with SubordinateResources */
	assert_false(match("{\"OriginResources\": [{\"@odata.id\": \"/redfish/v1/Chassis/box\"}]}",
	                   fan, NULL));
	assert_true(match("{\"OriginResources\": [{\"@odata.id\": \"/redfish/v1/Chassis/box\"}], "
	                  "\"SubordinateResources\": true}",
	                  fan, NULL));
	assert_false(match("{\"OriginResources\": [{\"@odata.id\": \"/redfish/v1/Chassis/bo\"}], "
	                   "\"SubordinateResources\": true}",
	                   fan, NULL));
	assert_true(match("{\"OriginResources\": [{\"@odata.id\": "
	                  "\"/redfish/v1/Chassis/box/ThermalSubsystem/Fans/Fan2\"}]}",
	                  fan, NULL));
	json_decref(fan);
	json_decref(test);
}

static void test_event_body(void **state)
{
	json_t *rec = json_pack("{s:s, s:s, s:s}", "EventId", "42", "MessageId",
	                        "ResourceEvent.1.4.3.TestMessage", "MemberId", "0");
	json_t *b = rf_event_body(rec, "ctx");

	assert_string_equal(jstr(b, "@odata.type"), RF_EVENT_TYPE);
	assert_string_equal(jstr(b, "Id"), "42");
	assert_string_equal(jstr(b, "Context"), "ctx");
	assert_int_equal(jint(b, "Events@odata.count", 0), 1);
	assert_true(json_equal(json_array_get(json_object_get(b, "Events"), 0), rec));
	json_decref(b);
	b = rf_event_body(rec, NULL);
	assert_null(json_object_get(b, "Context"));
	json_decref(b);
	json_decref(rec);
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
		const char *back;
	} good[] = {
		{ "PT1S", 1000, "PT1S" },      { "PT60S", 60000, "PT1M" },
		{ "PT1M", 60000, "PT1M" },     { "PT1H30M", 5400000, "PT1H30M" },
		{ "P1D", 86400000, "P1D" },    { "P1DT1S", 86401000, "P1DT1S" },
		{ "PT0.5S", 500, "PT0.500S" }, { "PT2M3S", 123000, "PT2M3S" },
		{ "PT0S", 0, "PT0S" },
	};
	static const char *const bad[] = { "",      "P",    "PT",     "1S",   "PT1",   "PTS",
		                           "P1H",   "PT1D", "PT1S1M", "P1DT", "PT-1S", "PT1.5M",
		                           "P400D", "pt1s", "PT1S ",  NULL };
	char out[32];
	int64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(rf_duration_parse(good[i].s, &ms), 0);
		assert_int_equal(ms, good[i].ms);
		rf_duration_format(ms, out, sizeof(out));
		assert_string_equal(out, good[i].back);
		assert_int_equal(rf_duration_parse(out, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; bad[i]; i++) {
		ms = -7;
		assert_int_equal(rf_duration_parse(bad[i], &ms), -EINVAL);
		assert_int_equal(ms, -7);
	}
}

static void test_kept_across_reopen(void **state)
{
	struct rf_events_settings set;
	struct rf_events *ev;
	char id1[32], id2[32], *p;
	struct stat st;
	json_t *sub, *ids;
	char *d = tmpdir();

	assert_int_equal(rf_events_new(d, &ev), 0);
	rf_events_settings(ev, &set);
	assert_true(set.enabled);
	assert_int_equal(set.retry_attempts, 3);
	assert_int_equal(set.retry_interval_s, 30);
	set.retry_attempts = 5;
	set.retry_interval_s = 7;
	assert_int_equal(rf_events_set_settings(ev, &set), 0);
	assert_int_equal(
	    rf_events_sub_add(ev,
	                      json_pack("{s:s, s:s, s:s}", "Destination", "http://127.0.0.1:9/a",
	                                "Protocol", "Redfish", "Context", "one"),
	                      id1),
	    0);
	assert_int_equal(
	    rf_events_sub_add(ev,
	                      json_pack("{s:s, s:s, s:[s]}", "Destination", "http://127.0.0.1:9/b",
	                                "Protocol", "Redfish", "RegistryPrefixes", "Environmental"),
	                      id2),
	    0);
	assert_string_not_equal(id1, id2);
	sub = json_pack("{s:s}", "Context", "uno");
	assert_int_equal(rf_events_sub_update(ev, id1, sub, -1), 0);
	json_decref(sub);
	assert_int_equal(rf_events_sub_delete(ev, "nope"), -ENOENT);
	ev = rf_events_free(ev);

	p = xasprintf("%s/%s", d, RF_EVENTS_SUBS_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);
	p = xasprintf("%s/%s", d, RF_EVENTS_SETTINGS_FILE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);

	assert_int_equal(rf_events_new(d, &ev), 0);
	rf_events_settings(ev, &set);
	assert_int_equal(set.retry_attempts, 5);
	assert_int_equal(set.retry_interval_s, 7);
	ids = rf_events_sub_ids(ev);
	assert_int_equal(json_array_size(ids), 2);
	json_decref(ids);
	sub = rf_events_sub_get(ev, id1);
	assert_string_equal(jstr(sub, "Context"), "uno");
	assert_string_equal(jstr(sub, "State"), "Enabled");
	json_decref(sub);
	sub = rf_events_sub_get(ev, id2);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(sub, "RegistryPrefixes"), 0)),
	    "Environmental");
	json_decref(sub);
	/* Ids are not reused */
	assert_int_equal(rf_events_sub_delete(ev, id2), 0);
	assert_int_equal(rf_events_sub_add(ev,
	                                   json_pack("{s:s, s:s}", "Destination",
	                                             "http://127.0.0.1:9/c", "Protocol", "Redfish"),
	                                   id1),
	                 0);
	assert_string_not_equal(id1, id2);
	ev = rf_events_free(ev);
	rmtree(d);
}

static void test_suspended_queue_is_bounded(void **state)
{
	struct rf_events_settings set;
	struct rf_events *ev;
	char id[32], *text = NULL;
	uint64_t first = 0, got = 0;
	json_t *sub, *body;
	char *d = tmpdir();

	assert_int_equal(rf_events_new(d, &ev), 0);
	assert_int_equal(rf_events_sub_add(ev,
	                                   json_pack("{s:s, s:s}", "Destination",
	                                             "http://127.0.0.1:9/a", "Protocol", "Redfish"),
	                                   id),
	                 0);
	sub = json_pack("{s:s}", "State", "Disabled");
	assert_int_equal(rf_events_sub_update(ev, id, sub, -1), 0);
	json_decref(sub);
	for (int i = 0; i < RF_EVENTS_QUEUE_MAX + 10; i++) {
		uint64_t e =
		    rf_events_publish(ev,
		                      json_pack("{s:s, s:s}", "MessageId",
		                                "ResourceEvent.1.4.3.TestMessage", "Message", "t"),
		                      NULL);

		assert_true(e > 0);
		if (!first)
			first = e;
	}
	sub = rf_events_sub_get(ev, id);
	assert_int_equal(jint(sub, "Queued", -1), RF_EVENTS_QUEUE_MAX);
	json_decref(sub);
	/* the SSE ring has the newest RF_EVENTS_RING */
	assert_int_equal(rf_events_next(ev, 0, 0, &got, &text), 1);
	assert_int_equal(got, first + RF_EVENTS_QUEUE_MAX + 10 - RF_EVENTS_RING);
	body = json_loads(text, 0, NULL);
	assert_string_equal(jstr(body, "@odata.type"), RF_EVENT_TYPE);
	json_decref(body);
	free(text);
	assert_int_equal(rf_events_next(ev, rf_events_last_id(ev), 10, &got, &text), 0);
	/* a disabled service drops events and ends streams */
	rf_events_settings(ev, &set);
	set.enabled = false;
	assert_int_equal(rf_events_set_settings(ev, &set), 0);
	assert_int_equal(rf_events_publish(ev, json_pack("{s:s}", "MessageId", "A.1.0.B"), NULL),
	                 0);
	assert_int_equal(rf_events_next(ev, 0, 10, &got, &text), -ESHUTDOWN);
	ev = rf_events_free(ev);
	rmtree(d);
}

static int calls;

static void count(void *cls, const json_t *e)
{
	calls++;
}

static void test_nodelog_unlisten(void **state)
{
	char *d = tmpdir();
	struct nodelog *l = nodelog_open(d);

	assert_int_equal(nodelog_listen(l, count, NULL), 0);
	nodelog_add(l, "OK", NULL, NULL, "one");
	assert_int_equal(calls, 1);
	nodelog_unlisten(l, count, NULL);
	nodelog_add(l, "OK", NULL, NULL, "two");
	assert_int_equal(calls, 1);
	nodelog_unlisten(l, count, NULL); /* not there: nothing */
	for (int i = 0; i < 4; i++)
		assert_int_equal(nodelog_listen(l, count, NULL), 0);
	assert_int_equal(nodelog_listen(l, count, NULL), -ENOSPC);
	nodelog_unlisten(l, count, NULL);
	assert_int_equal(nodelog_listen(l, count, NULL), 0); /* room again */
	nodelog_free(l);
	rmtree(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_event_body),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_kept_across_reopen),
		cmocka_unit_test(test_suspended_queue_is_bounded),
		cmocka_unit_test(test_nodelog_unlisten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
