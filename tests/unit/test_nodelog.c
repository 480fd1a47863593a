// SPDX-License-Identifier: MIT
/*
 * The node log (src/agent/nodelog.c): entries in order with growing seqs,
 * kept across a reopen (seq continues, kumod's ack too), unsent entries
 * after an ack, the ring keeping the newest NODELOG_KEEP and the file
 * compacted, damaged lines skipped, listeners called, clear.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "common/json.h"
#include "common/util.h"

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/kumo-nodelog-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void rmtree(char *d)
{
	char *p = xasprintf("%s/nodelog.jsonl", d);

	unlink(p);
	free(p);
	p = xasprintf("%s/nodelog.ack", d);
	unlink(p);
	free(p);
	assert_int_equal(rmdir(d), 0);
	free(d);
}

static void test_order_and_reopen(void **state)
{
	char *d = tmpdir();
	struct nodelog *l = nodelog_open(d);
	json_t *all, *un;

	assert_int_equal(nodelog_add(l, "Warning", "Environmental.1.0.0.FanFailed",
	                             json_pack("[s]", "Fan2"), "fan %d failed", 2),
	                 1);
	assert_int_equal(nodelog_add(l, "OK", NULL, NULL, "heater on"), 2);
	assert_int_equal(nodelog_add(l, "Critical", NULL, NULL, "shutting down vm-a"), 3);
	all = nodelog_since(l, 0, 100);
	assert_int_equal(json_array_size(all), 3);
	assert_string_equal(jstr(json_array_get(all, 0), "message"), "fan 2 failed");
	assert_string_equal(jstr(json_array_get(all, 0), "message_id"),
	                    "Environmental.1.0.0.FanFailed");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(json_array_get(all, 0), "args"), 0)),
	    "Fan2");
	json_decref(all);
	nodelog_ack(l, 2);
	nodelog_free(l);

	l = nodelog_open(d); /* a restart */
	assert_int_equal(nodelog_last_seq(l), 3);
	un = nodelog_unsent(l);
	assert_int_equal(json_array_size(un), 1);
	assert_int_equal(jint(json_array_get(un, 0), "seq", 0), 3);
	json_decref(un);
	assert_int_equal(nodelog_add(l, "OK", NULL, NULL, "after restart"), 4);
	nodelog_ack(l, 99); /* more than exists: capped */
	un = nodelog_unsent(l);
	assert_int_equal(json_array_size(un), 0);
	json_decref(un);
	nodelog_free(l);
	rmtree(d);
}

static void test_ring_and_compaction(void **state)
{
	char *d = tmpdir(), *p = xasprintf("%s/nodelog.jsonl", d), *data = NULL;
	struct nodelog *l = nodelog_open(d);
	size_t len = 0, lines = 0;
	json_t *all, *got;

	for (int i = 0; i < 3 * NODELOG_KEEP; i++)
		nodelog_add(l, "OK", NULL, NULL, "entry %d", i);
	all = nodelog_since(l, 0, 10 * NODELOG_KEEP);
	assert_int_equal(json_array_size(all), NODELOG_KEEP);
	assert_int_equal(jint(json_array_get(all, 0), "seq", 0), 2 * NODELOG_KEEP + 1);
	json_decref(all);
	assert_int_equal(file_read(p, 64 << 20, &data, &len), 0);
	for (size_t i = 0; i < len; i++)
		lines += data[i] == '\n';
	assert_true(lines <= 2 * NODELOG_KEEP + 1);
	free(data);
	got = nodelog_get(l, 3 * NODELOG_KEEP);
	assert_non_null(got);
	json_decref(got);
	assert_null(nodelog_get(l, 1)); /* gone from the ring */
	nodelog_clear(l);
	all = nodelog_since(l, 0, 10);
	assert_int_equal(json_array_size(all), 0);
	json_decref(all);
	assert_int_equal(nodelog_add(l, "OK", NULL, NULL, "x"), 3 * NODELOG_KEEP + 1);
	nodelog_free(l);
	free(p);
	rmtree(d);
}

static void test_damaged_lines(void **state)
{
	char *d = tmpdir(), *p = xasprintf("%s/nodelog.jsonl", d);
	const char *text = "{\"seq\":1,\"ts\":1,\"severity\":\"OK\",\"message\":\"a\"}\n"
	                   "garbage\n"
	                   "{\"seq\":\"x\"}\n"
	                   "{\"seq\":5,\"ts\":1,\"severity\":\"OK\",\"message\":\"b\"}\n";
	struct nodelog *l;
	json_t *all;

	assert_int_equal(file_write_atomic(p, text, strlen(text), 0600), 0);
	l = nodelog_open(d);
	all = nodelog_since(l, 0, 10);
	assert_int_equal(json_array_size(all), 2);
	json_decref(all);
	assert_int_equal(nodelog_add(l, "OK", NULL, NULL, "c"), 6);
	nodelog_free(l);
	free(p);
	rmtree(d);
}

static void count(void *cls, const json_t *e)
{
	(*(int *)cls)++;
	assert_non_null(jstr(e, "message"));
}

static void test_listeners(void **state)
{
	char *d = tmpdir();
	struct nodelog *l = nodelog_open(d);
	int n = 0;

	assert_int_equal(nodelog_listen(l, count, &n), 0);
	nodelog_add(l, "OK", NULL, NULL, "one");
	nodelog_add(l, "OK", NULL, NULL, "two");
	assert_int_equal(n, 2);
	for (int i = 1; i < 4; i++)
		assert_int_equal(nodelog_listen(l, count, &n), 0);
	assert_int_equal(nodelog_listen(l, count, &n), -ENOSPC);
	nodelog_free(l);
	rmtree(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_reopen),
		cmocka_unit_test(test_ring_and_compaction),
		cmocka_unit_test(test_damaged_lines),
		cmocka_unit_test(test_listeners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
