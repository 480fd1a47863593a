// SPDX-License-Identifier: MIT
/*
 * The agent's journal (src/agent/journal.c): what it writes comes back the
 * same, a done command stays done across a reload, only the last
 * JOURNAL_DONE_MAX done commands are kept, and a damaged file gives an empty
 * journal and a warning, never a crash.
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

#include "agent/journal.h"
#include "common/json.h"
#include "common/util.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/journal.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static struct journal *open_ok(const char *path, struct kerr *warning)
{
	struct journal *j = NULL;
	struct kerr w;

	assert_int_equal(journal_open(path, &j, warning ? warning : &w), 0);
	assert_non_null(j);
	if (!warning)
		assert_int_equal(w.code, 0);
	return j;
}

static json_t *result_ok(const char *id, const char *state)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "command_id", id, "status", "succeeded", "data",
	                 "state", state);
}

static void write_file(const char *path, const char *data)
{
	assert_int_equal(file_write_atomic(path, data, strlen(data), 0600), 0);
}

static void collect_unsent(void *cls, const char *id, const char *result)
{
	json_t *ids = cls;

	json_array_append_new(ids, json_string(id));
}

static void collect_queued(void *cls, const char *id, const char *type, const json_t *payload)
{
	json_t *list = cls;

	json_array_append_new(
	    list, json_pack("{s:s, s:s, s:O}", "id", id, "type", type, "payload", payload));
}

static void collect_vm(void *cls, struct journal_vm *vm)
{
	json_t *ids = cls;

	json_array_append_new(ids, json_string(vm->id));
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	json_t *spec = json_pack("{s:s, s:s, s:i, s:[s]}", "id", "vm-b", "name", "web-1", "vcpus",
	                         2, "volumes", "vol-1");
	json_t *payload = json_pack("{s:s, s:b}", "vm_id", "vm-b", "force", 1);
	json_t *r1 = result_ok("cmd-1", "running"), *r2 = result_ok("cmd-2", "stopped");
	json_t *list, *got, *want;
	struct journal *j = open_ok(f->path, NULL);
	struct journal_vm *vm;
	const json_t *qpayload;
	const char *result, *type;
	struct stat st;
	bool sent;

	assert_int_equal(journal_dirty(j), JOURNAL_CLEAN);
	assert_non_null(journal_vm_add(j, "vm-b", "web-1", "running", spec));
	assert_non_null(journal_vm_add(j, "vm-a", "db-1", "paused", NULL));
	assert_null(journal_vm_add(j, "vm-a", "again", "running", NULL)); /* duplicate id */
	assert_int_equal(journal_cmd_queue(j, "cmd-3", "vm.stop", payload), 0);
	assert_int_equal(journal_cmd_queue(j, "cmd-1", "vm.create", NULL), 0);
	journal_cmd_done(j, "cmd-1", r1);
	journal_cmd_done(j, "cmd-2", r2);
	journal_cmd_set_sent(j, "cmd-1", true);
	assert_int_equal(journal_dirty(j), JOURNAL_URGENT);
	assert_int_equal(journal_save(j), 0);
	assert_int_equal(journal_dirty(j), JOURNAL_CLEAN);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	journal_free(j);

	j = open_ok(f->path, NULL);
	assert_int_equal(journal_dirty(j), JOURNAL_CLEAN);
	assert_int_equal(journal_vm_count(j), 2);
	vm = journal_vm_find(j, "vm-b");
	assert_non_null(vm);
	assert_string_equal(vm->name, "web-1");
	assert_string_equal(vm->state, "running");
	assert_true(json_equal(vm->spec, spec));
	vm = journal_vm_find(j, "vm-a");
	assert_non_null(vm);
	assert_string_equal(vm->name, "db-1");
	assert_string_equal(vm->state, "paused");
	assert_int_equal(json_object_size(vm->spec), 0);

	/* VMs come ordered by id */
	list = json_array();
	journal_vm_each(j, collect_vm, list);
	want = json_pack("[s,s]", "vm-a", "vm-b");
	assert_true(json_equal(list, want));
	json_decref(list);
	json_decref(want);

	/* the queued command, with its payload */
	assert_int_equal(journal_queued_count(j), 1);
	assert_int_equal(journal_cmd_lookup(j, "cmd-3", NULL, NULL), JCMD_QUEUED);
	assert_true(journal_cmd_queued_get(j, "cmd-3", &type, &qpayload));
	assert_string_equal(type, "vm.stop");
	assert_true(json_equal(qpayload, payload));
	list = json_array();
	journal_cmd_each_queued(j, collect_queued, list);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	/* done commands with their results and sent flags */
	assert_int_equal(journal_done_count(j), 2);
	assert_int_equal(journal_cmd_lookup(j, "cmd-1", &result, &sent), JCMD_DONE);
	assert_true(sent);
	got = jparse(result, strlen(result), NULL, 0);
	assert_true(json_equal(got, r1));
	json_decref(got);
	assert_int_equal(journal_cmd_lookup(j, "cmd-2", &result, &sent), JCMD_DONE);
	assert_false(sent);
	got = jparse(result, strlen(result), NULL, 0);
	assert_true(json_equal(got, r2));
	json_decref(got);
	list = json_array();
	journal_cmd_each_unsent(j, collect_unsent, list);
	want = json_pack("[s]", "cmd-2");
	assert_true(json_equal(list, want));
	json_decref(list);
	json_decref(want);
	assert_int_equal(journal_cmd_lookup(j, "cmd-9", NULL, NULL), JCMD_NEW);

	journal_free(j);
	json_decref(spec);
	json_decref(payload);
	json_decref(r1);
	json_decref(r2);
}

static void test_vm_changes(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f->path, NULL);
	struct journal_vm *vm;

	vm = journal_vm_add(j, "vm-1", NULL, "running", NULL);
	assert_non_null(vm);
	assert_string_equal(vm->name, "vm-1"); /* name defaults to the id */
	assert_int_equal(journal_save(j), 0);
	journal_vm_set_state(j, vm, "running");
	assert_int_equal(journal_dirty(j), JOURNAL_CLEAN); /* no change, nothing to write */
	journal_vm_set_state(j, vm, "stopped");
	assert_int_equal(journal_dirty(j), JOURNAL_URGENT);
	assert_non_null(journal_vm_add(j, "vm-2", "x", "running", NULL));
	journal_vm_remove(j, journal_vm_find(j, "vm-1"));
	assert_null(journal_vm_find(j, "vm-1"));
	assert_int_equal(journal_save(j), 0);
	journal_free(j);

	j = open_ok(f->path, NULL);
	assert_int_equal(journal_vm_count(j), 1);
	assert_null(journal_vm_find(j, "vm-1"));
	assert_string_equal(journal_vm_find(j, "vm-2")->state, "running");
	journal_free(j);
}

static void test_dirty_levels(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f->path, NULL);
	json_t *r = result_ok("c1", "running");
	uint64_t seq;

	assert_int_equal(journal_cmd_queue(j, "c1", "vm.start", NULL), 0);
	assert_int_equal(journal_dirty(j), JOURNAL_LAZY);
	seq = journal_seq(j);
	journal_cmd_done(j, "c1", r);
	assert_int_equal(journal_dirty(j), JOURNAL_URGENT);
	assert_true(journal_seq(j) > seq);
	assert_true(journal_saved_seq(j) < journal_seq(j));
	assert_int_equal(journal_save(j), 0);
	assert_int_equal(journal_saved_seq(j), journal_seq(j));
	journal_cmd_set_sent(j, "c1", true);
	assert_int_equal(journal_dirty(j), JOURNAL_LAZY);
	journal_free(j);
	json_decref(r);
}

/* A command done before a restart is still done after it, with the same
 * result, and cannot be queued again. */
static void test_dedup_across_reload(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f->path, NULL);
	json_t *r = json_pack("{s:s, s:s, s:{s:s, s:s}}", "command_id", "cmd-x", "status", "failed",
	                      "error", "code", "NotFound", "message", "vm v is not on this host");
	const char *result;
	json_t *got;
	bool sent = true;

	assert_int_equal(journal_cmd_queue(j, "cmd-x", "vm.start", NULL), 0);
	assert_int_equal(journal_cmd_queue(j, "cmd-x", "vm.start", NULL), -EEXIST);
	journal_cmd_done(j, "cmd-x", r);
	assert_int_equal(journal_queued_count(j), 0);
	assert_int_equal(journal_cmd_queue(j, "cmd-x", "vm.start", NULL), -EEXIST);
	assert_int_equal(journal_save(j), 0);
	journal_free(j);

	j = open_ok(f->path, NULL);
	assert_int_equal(journal_cmd_lookup(j, "cmd-x", &result, &sent), JCMD_DONE);
	assert_false(sent);
	got = jparse(result, strlen(result), NULL, 0);
	assert_true(json_equal(got, r));
	json_decref(got);
	assert_int_equal(journal_cmd_queue(j, "cmd-x", "vm.start", NULL), -EEXIST);
	assert_int_equal(journal_queued_count(j), 0);
	journal_free(j);
	json_decref(r);
}

static void test_bad_input_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f->path, NULL);
	char long_id[JOURNAL_ID_MAX + 2];

	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(journal_cmd_queue(j, NULL, "vm.start", NULL), -EINVAL);
	assert_int_equal(journal_cmd_queue(j, "", "vm.start", NULL), -EINVAL);
	assert_int_equal(journal_cmd_queue(j, long_id, "vm.start", NULL), -EINVAL);
	assert_int_equal(journal_cmd_queue(j, "bad\nid", "vm.start", NULL), -EINVAL);
	assert_int_equal(journal_cmd_queue(j, "ok", NULL, NULL), -EINVAL);
	assert_int_equal(journal_cmd_queue(j, "ok", "", NULL), -EINVAL);
	assert_null(journal_vm_add(j, long_id, "n", "running", NULL));
	assert_int_equal(journal_cmd_lookup(j, NULL, NULL, NULL), JCMD_NEW);
	assert_null(journal_vm_find(j, NULL));
	journal_free(j);
}

static void test_done_bound(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f->path, NULL);
	const size_t extra = 50, total = JOURNAL_DONE_MAX + extra;
	char id[32];
	json_t *r;

	for (size_t i = 0; i < total; i++) {
		snprintf(id, sizeof(id), "cmd-%zu", i);
		r = result_ok(id, "running");
		journal_cmd_done(j, id, r);
		json_decref(r);
	}
	assert_int_equal(journal_done_count(j), JOURNAL_DONE_MAX);
	/* the oldest ones are forgotten, the newest kept */
	for (size_t i = 0; i < extra; i++) {
		snprintf(id, sizeof(id), "cmd-%zu", i);
		assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_NEW);
	}
	snprintf(id, sizeof(id), "cmd-%zu", extra);
	assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_DONE);
	snprintf(id, sizeof(id), "cmd-%zu", total - 1);
	assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_DONE);
	assert_int_equal(journal_save(j), 0);
	journal_free(j);

	j = open_ok(f->path, NULL);
	assert_int_equal(journal_done_count(j), JOURNAL_DONE_MAX);
	snprintf(id, sizeof(id), "cmd-%zu", extra - 1);
	assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_NEW);
	snprintf(id, sizeof(id), "cmd-%zu", extra);
	assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_DONE);
	/* and the ring keeps going after a reload: one more evicts cmd-<extra> */
	r = result_ok("one-more", "running");
	journal_cmd_done(j, "one-more", r);
	json_decref(r);
	assert_int_equal(journal_done_count(j), JOURNAL_DONE_MAX);
	assert_int_equal(journal_cmd_lookup(j, id, NULL, NULL), JCMD_NEW);
	assert_int_equal(journal_cmd_lookup(j, "one-more", NULL, NULL), JCMD_DONE);
	journal_free(j);
}

/* Each of these files is not a journal: the open succeeds with an empty
 * journal and a warning, and the file is moved aside. */
static void test_corrupt_files(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"{\"version\":1, \"vms\": [garbage",
		"{\"version\":1,\"vms\":[{\"id\":\"a\",\"name\":\"a\",\"state\":\"running\"}",
		"[1,2,3]",
		"\"just a string\"",
		"{\"version\":99,\"vms\":[]}",
		"{\"vms\":[]}",
		"{\"version\":1,\"version\":1}",
		"\x01\x02\x03\xff\xfe",
	};
	struct fixture *f = *state;
	char *aside = xasprintf("%s.corrupt", f->path);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct journal *j;
		struct kerr w;

		unlink(aside);
		write_file(f->path, bad[i]);
		j = open_ok(f->path, &w);
		assert_int_equal(w.code, -EBADMSG);
		assert_true(strlen(w.message) > 0);
		assert_int_equal(journal_vm_count(j), 0);
		assert_int_equal(journal_done_count(j), 0);
		assert_int_equal(journal_queued_count(j), 0);
		assert_int_equal(access(aside, F_OK), 0);
		/* and it can be written afresh */
		assert_int_not_equal(journal_dirty(j), JOURNAL_CLEAN);
		assert_int_equal(journal_save(j), 0);
		journal_free(j);
		j = open_ok(f->path, NULL);
		journal_free(j);
	}
	free(aside);
}

/* Entries that make no sense are skipped with a warning; the good ones load. */
static void test_invalid_entries_skipped(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	struct kerr w;

	write_file(
	    f->path,
	    "{\"version\":1,\"vms\":["
	    "{\"id\":\"good\",\"name\":\"g\",\"state\":\"running\",\"spec\":{}},"
	    "{\"name\":\"no-id\",\"state\":\"running\"},"
	    "{\"id\":\"no-state\"},"
	    "{\"id\":\"bad-spec\",\"state\":\"running\",\"spec\":[1]},"
	    "{\"id\":\"long-state\",\"state\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},"
	    "42],"
	    "\"queued\":[{\"id\":\"q1\",\"type\":\"vm.start\",\"payload\":{}},{\"id\":\"q2\"}],"
	    "\"done\":[{\"sent\":true,\"result\":{\"command_id\":\"d1\",\"status\":\"succeeded\"}},"
	    "{\"sent\":true,\"result\":{\"status\":\"succeeded\"}},{\"result\":5}]}");
	j = open_ok(f->path, &w);
	assert_int_equal(w.code, -EBADMSG);
	assert_non_null(strstr(w.message, "skipped 8"));
	assert_int_equal(journal_vm_count(j), 1);
	assert_non_null(journal_vm_find(j, "good"));
	assert_int_equal(journal_queued_count(j), 1);
	assert_int_equal(journal_cmd_lookup(j, "q1", NULL, NULL), JCMD_QUEUED);
	assert_int_equal(journal_done_count(j), 1);
	assert_int_equal(journal_cmd_lookup(j, "d1", NULL, NULL), JCMD_DONE);
	journal_free(j);
}

static void test_missing_dir_is_an_error(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/no/such/dir/journal.json", f->dir);
	struct journal *j = open_ok(path, NULL); /* missing file: empty journal */

	assert_non_null(journal_vm_add(j, "vm", "vm", "running", NULL));
	assert_int_equal(journal_save(j), -ENOENT); /* but it cannot be written there */
	journal_free(j);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_across_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_entries_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_is_an_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
