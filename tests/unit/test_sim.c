// SPDX-License-Identifier: MIT
/*
 * Command semantics on a sim host (src/agent/exec.c with driver_sim.c):
 * every command type's result and state change, NotFound, NotSupported,
 * idempotent destroy, injected failures, the simulated delay and the
 * driver's option checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/driver.h"
#include "agent/exec.h"
#include "agent/journal.h"
#include "common/config.h"
#include "common/json.h"
#include "common/util.h"

struct host {
	struct config *cfg;
	struct driver_host *dh;
	struct journal *j;
	struct kerr warning;
	unsigned ncmd;
};

static struct host *host_new(const char *const *kv)
{
	struct host *h = xcalloc(1, sizeof(*h));

	h->cfg = config_new();
	config_set(h->cfg, "sim", "delay_ms", "0");
	for (; kv && kv[0]; kv += 2)
		config_set(h->cfg, "sim", kv[0], kv[1]);
	assert_int_equal(driver_sim_ops.host_new(h->cfg, 0, NULL, &h->dh), 0);
	/* never saved: a path that cannot exist */
	assert_int_equal(journal_open("/nonexistent-dir/journal.json", &h->j, &h->warning), 0);
	return h;
}

static void host_free(struct host *h)
{
	journal_free(h->j);
	driver_sim_ops.host_free(h->dh);
	config_free(h->cfg);
	free(h);
}

/* Runs a command; returns its result (caller frees). */
static json_t *run(struct host *h, const char *type, json_t *payload)
{
	char id[32];
	json_t *res;

	snprintf(id, sizeof(id), "cmd-%u", ++h->ncmd);
	res = exec_command(&driver_sim_ops, h->dh, h->j, id, type, payload);
	assert_non_null(res);
	assert_string_equal(jstr(res, "command_id"), id);
	json_decref(payload);
	return res;
}

static void assert_ok(json_t *res, const char *state)
{
	json_t *data = json_object_get(res, "data");

	assert_string_equal(jstr(res, "status"), "succeeded");
	assert_null(json_object_get(res, "error"));
	assert_true(json_is_object(data));
	assert_int_equal(json_object_size(data), 1);
	assert_string_equal(jstr(data, "state"), state);
	json_decref(res);
}

static void assert_failed(json_t *res, const char *code)
{
	json_t *err = json_object_get(res, "error");

	assert_string_equal(jstr(res, "status"), "failed");
	assert_null(json_object_get(res, "data"));
	assert_string_equal(jstr(err, "code"), code);
	assert_true(strlen(jstr(err, "message")) > 0);
	json_decref(res);
}

static json_t *create_payload(const char *id, const char *name)
{
	return json_pack("{s:{s:s, s:s, s:i, s:i, s:i, s:[], s:[], s:s}}", "vm", "id", id, "name",
	                 name, "vcpus", 2, "memory_mb", 512, "root_disk_gb", 10, "nics", "volumes",
	                 "extra", "ignored");
}

static const char *state_of(struct host *h, const char *id)
{
	struct journal_vm *vm = journal_vm_find(h->j, id);

	return vm ? vm->state : NULL;
}

static void test_lifecycle(void **state)
{
	struct host *h = host_new(NULL);
	struct journal_vm *vm;

	assert_ok(run(h, "vm.create", create_payload("v1", "web-1")), "running");
	vm = journal_vm_find(h->j, "v1");
	assert_non_null(vm);
	assert_string_equal(vm->name, "web-1");
	assert_int_equal(jint(vm->spec, "vcpus", 0), 2);
	assert_string_equal(vm->state, "running");

	assert_ok(run(h, "vm.stop", json_pack("{s:s, s:b}", "vm_id", "v1", "force", 0)), "stopped");
	assert_string_equal(state_of(h, "v1"), "stopped");
	assert_ok(run(h, "vm.start", json_pack("{s:s}", "vm_id", "v1")), "running");
	assert_ok(run(h, "vm.pause", json_pack("{s:s}", "vm_id", "v1")), "paused");
	assert_string_equal(state_of(h, "v1"), "paused");
	assert_ok(run(h, "vm.resume", json_pack("{s:s}", "vm_id", "v1")), "running");
	assert_ok(run(h, "vm.reboot", json_pack("{s:s}", "vm_id", "v1")), "running");
	assert_ok(run(h, "vm.stop", json_pack("{s:s, s:b}", "vm_id", "v1", "force", 1)), "stopped");

	/* a create retried under another command id: no second VM */
	assert_ok(run(h, "vm.create", create_payload("v1", "web-1")), "stopped");
	assert_int_equal(journal_vm_count(h->j), 1);

	assert_ok(run(h, "vm.destroy", json_pack("{s:s}", "vm_id", "v1")), "destroyed");
	assert_null(journal_vm_find(h->j, "v1"));
	/* destroy is idempotent */
	assert_ok(run(h, "vm.destroy", json_pack("{s:s}", "vm_id", "v1")), "destroyed");
	assert_int_equal(journal_vm_count(h->j), 0);
	host_free(h);
}

static void test_unknown_vm_and_type(void **state)
{
	static const char *const actions[] = { "vm.start", "vm.stop", "vm.reboot", "vm.pause",
		                               "vm.resume" };
	struct host *h = host_new(NULL);
	json_t *res;

	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		assert_failed(run(h, actions[i], json_pack("{s:s}", "vm_id", "nope")), "NotFound");
	assert_failed(run(h, "vm.start", json_object()), "InvalidArgument");
	assert_failed(run(h, "vm.create", json_pack("{s:{s:s}}", "vm", "name", "no-id")),
	              "InvalidArgument");

	res = run(h, "vm.teleport", json_pack("{s:s}", "vm_id", "x"));
	assert_string_equal(jstr(json_object_get(res, "error"), "message"),
	                    "unknown command type vm.teleport");
	assert_failed(res, "NotSupported");
	assert_int_equal(journal_vm_count(h->j), 0);
	host_free(h);
}

static void test_volumes(void **state)
{
	struct host *h = host_new(NULL);

	assert_ok(run(h, "vm.create", create_payload("v1", "db")), "running");
	assert_ok(
	    run(h, "volume.create", json_pack("{s:s, s:i}", "volume_id", "vol", "size_gb", 5)),
	    "available");
	assert_ok(
	    run(h, "volume.attach", json_pack("{s:s, s:s}", "volume_id", "vol", "vm_id", "v1")),
	    "in_use");
	assert_failed(
	    run(h, "volume.attach", json_pack("{s:s, s:s}", "volume_id", "vol", "vm_id", "nope")),
	    "NotFound");
	assert_ok(
	    run(h, "volume.detach", json_pack("{s:s, s:s}", "volume_id", "vol", "vm_id", "v1")),
	    "available");
	assert_ok(run(h, "volume.delete", json_pack("{s:s}", "volume_id", "vol")), "deleted");
	assert_failed(run(h, "volume.create", json_object()), "InvalidArgument");
	host_free(h);
}

/* Snapshots, resize: the sim says yes; vm.resize changes the journal's spec
 * (what a start and a restart read) and only while the VM is stopped. */
static void test_disk_ops_and_resize(void **state)
{
	static const char id[] = "00000000-0000-4000-8000-0000000000d1";
	struct host *h = host_new(NULL);
	struct journal_vm *vm;

	(void)state;
	assert_ok(run(h, "vm.create", create_payload(id, "d1")), "running");
	assert_ok(run(h, "snapshot.create",
	              json_pack("{s:s,s:[{s:s,s:s,s:s}]}", "vm_id", id, "disks", "volume_id", id,
	                        "kind", "root", "snapshot", id)),
	          "ready");
	assert_ok(run(h, "volume.resize",
	              json_pack("{s:s,s:{s:s},s:i}", "vm_id", id, "disk", "volume_id", id,
	                        "size_gb", 20)),
	          "resized");
	assert_failed(run(h, "vm.resize",
	                  json_pack("{s:s,s:i,s:i}", "vm_id", id, "vcpus", 4, "memory_mb", 1024)),
	              "InvalidState");
	assert_ok(run(h, "vm.stop", json_pack("{s:s}", "vm_id", id)), "stopped");
	assert_failed(run(h, "vm.resize",
	                  json_pack("{s:s,s:i,s:i}", "vm_id", id, "vcpus", 0, "memory_mb", 1024)),
	              "InvalidArgument");
	assert_ok(run(h, "vm.resize",
	              json_pack("{s:s,s:i,s:i}", "vm_id", id, "vcpus", 4, "memory_mb", 1024)),
	          "stopped");
	vm = journal_vm_find(h->j, id);
	assert_non_null(vm);
	assert_int_equal(jint(vm->spec, "vcpus", 0), 4);
	assert_int_equal(jint(vm->spec, "memory_mb", 0), 1024);
	assert_failed(
	    run(h, "vm.resize",
	        json_pack("{s:s,s:i,s:i}", "vm_id", "00000000-0000-4000-8000-0000000000d2", "vcpus",
	                  1, "memory_mb", 64)),
	    "NotFound");
	/* the sim has no image export */
	assert_failed(run(h, "image.export", json_pack("{s:s}", "image_id", id)), "NotSupported");
	host_free(h);
}

static void test_fail_match(void **state)
{
	const char *const kv[] = { "fail_match", "doomed", NULL };
	struct host *h = host_new(kv);

	assert_failed(run(h, "vm.create", create_payload("v1", "web-doomed-3")),
	              "SimulatedFailure");
	assert_null(journal_vm_find(h->j, "v1"));
	assert_ok(run(h, "vm.create", create_payload("v2", "web-fine")), "running");
	/* only creates fail */
	assert_ok(run(h, "vm.stop", json_pack("{s:s}", "vm_id", "v2")), "stopped");
	host_free(h);
}

static void test_fail_rate(void **state)
{
	const char *const always[] = { "fail_rate", "1", NULL };
	const char *const never[] = { "fail_rate", "0", NULL };
	struct host *h = host_new(always);
	struct journal_vm *vm;

	assert_failed(run(h, "vm.create", create_payload("v1", "a")), "SimulatedFailure");
	assert_failed(run(h, "volume.create", json_pack("{s:s}", "volume_id", "x")),
	              "SimulatedFailure");
	/* a failed action leaves the VM as it was */
	vm = journal_vm_add(h->j, "v2", "b", "running", NULL);
	assert_non_null(vm);
	assert_failed(run(h, "vm.stop", json_pack("{s:s}", "vm_id", "v2")), "SimulatedFailure");
	assert_string_equal(state_of(h, "v2"), "running");
	assert_failed(run(h, "vm.destroy", json_pack("{s:s}", "vm_id", "v2")), "SimulatedFailure");
	assert_non_null(journal_vm_find(h->j, "v2"));
	host_free(h);

	h = host_new(never);
	for (int i = 0; i < 100; i++) {
		char id[16];

		snprintf(id, sizeof(id), "v%d", i);
		assert_ok(run(h, "vm.create", create_payload(id, id)), "running");
	}
	host_free(h);
}

static void test_delay_and_facts(void **state)
{
	const char *const kv[] = { "delay_ms", "200",     "cpus", "8", "memory_mb",
		                   "4096",     "disk_gb", "100",  NULL };
	struct host *h = host_new(kv);
	json_t *facts = json_object(), *want;
	int64_t lo = INT64_MAX, hi = 0;

	for (int i = 0; i < 1000; i++) {
		int64_t d = driver_sim_ops.op_delay_ms(h->dh, "vm.create");

		assert_true(d >= 100 && d < 300);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 120 && hi > 280); /* it is jittered over the whole range */

	driver_sim_ops.facts(h->dh, facts);
	want = json_pack("{s:i, s:i, s:i, s:s, s:s, s:s}", "cpus", 8, "memory_mb", 4096, "disk_gb",
	                 100, "arch", "x86_64", "accel", "sim", "driver", "sim");
	assert_true(json_equal(facts, want));
	json_decref(facts);
	json_decref(want);
	host_free(h);

	h = host_new(NULL); /* delay 0 */
	assert_int_equal(driver_sim_ops.op_delay_ms(h->dh, "vm.create"), 0);
	host_free(h);
}

static void test_defaults(void **state)
{
	struct config *cfg = config_new();
	struct driver_host *dh;
	json_t *facts = json_object();
	int64_t d;

	assert_int_equal(driver_sim_ops.host_new(cfg, 3, NULL, &dh), 0);
	driver_sim_ops.facts(dh, facts);
	assert_int_equal(jint(facts, "cpus", 0), 32);
	assert_int_equal(jint(facts, "memory_mb", 0), 131072);
	assert_int_equal(jint(facts, "disk_gb", 0), 2000);
	d = driver_sim_ops.op_delay_ms(dh, "vm.start");
	assert_true(d >= 100 && d < 300);
	json_decref(facts);
	driver_sim_ops.host_free(dh);
	config_free(cfg);
}

static void test_check_config(void **state)
{
	static const char *const bad[][2] = {
		{ "delay_ms", "-1" },    { "delay_ms", "abc" }, { "fail_rate", "1.5" },
		{ "fail_rate", "-0.1" }, { "fail_rate", "x" },  { "fail_rate", "nan" },
		{ "cpus", "0" },         { "memory_mb", "" },   { "disk_gb", "12GB" },
	};
	struct driver_err e;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct config *cfg = config_new();

		config_set(cfg, "sim", bad[i][0], bad[i][1]);
		e.message[0] = '\0';
		assert_int_equal(driver_sim_ops.check_config(cfg, &e), -EINVAL);
		assert_non_null(strstr(e.message, bad[i][0]));
		config_free(cfg);
	}
	{
		struct config *cfg = config_new();

		config_set(cfg, "sim", "fail_rate", "0.25");
		config_set(cfg, "sim", "delay_ms", "0");
		assert_int_equal(driver_sim_ops.check_config(cfg, &e), 0);
		config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_unknown_vm_and_type),
		cmocka_unit_test(test_volumes),
		cmocka_unit_test(test_fail_match),
		cmocka_unit_test(test_fail_rate),
		cmocka_unit_test(test_delay_and_facts),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_check_config),
		cmocka_unit_test(test_disk_ops_and_resize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
