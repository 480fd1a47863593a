/* SPDX-License-Identifier: MIT */
/*
 * The resize checks (kumod/resize.h): a volume only grows, and a host's
 * room for a VM's growth under the overcommit ratios, each limit at its
 * edge.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
#include "kumod/resize.h"

static void test_volume_only_grows(void **state)
{
	struct kerr e = { 0 };

	(void)state;
	assert_int_equal(resize_volume_check(10, 11, &e), 0);
	assert_int_equal(resize_volume_check(10, 10, &e), 0);
	assert_int_equal(resize_volume_check(10, 9, &e), -EINVAL);
	assert_string_equal(e.field, "size_gb");
	assert_non_null(strstr(e.message, "smaller than the volume's 10 GB"));
	kerr_clear(&e);
	assert_int_equal(resize_volume_check(1, 0, &e), -EINVAL);
	kerr_clear(&e);
	assert_int_equal(resize_volume_check(1, 65537, &e), -EINVAL);
	kerr_clear(&e);
	assert_int_equal(resize_volume_check(1, 65536, &e), 0);
}

static json_t *host(void)
{
	return json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i}", "name", "h1", "cpu_total", 4,
	                 "cpu_allocated", 14, "memory_mb_total", 8192, "memory_mb_allocated", 7000,
	                 "disk_gb_total", 100, "disk_gb_allocated", 90);
}

static void test_host_room(void **state)
{
	struct sched_config c;
	struct kerr e = { 0 };
	json_t *h = host();

	(void)state;
	sched_config_default(&c); /* cpu x4, memory x1 */
	/* 16 vCPUs of room (4 x 4), 14 taken: 2 more fit, 3 do not */
	assert_int_equal(resize_host_fits(h, 2, 0, 0, &c, &e), 0);
	assert_int_equal(resize_host_fits(h, 3, 0, 0, &c, &e), -ENOSPC);
	assert_string_equal(e.field, "vcpus");
	kerr_clear(&e);
	assert_int_equal(resize_host_fits(h, 0, 1192, 0, &c, &e), 0);
	assert_int_equal(resize_host_fits(h, 0, 1193, 0, &c, &e), -ENOSPC);
	assert_string_equal(e.field, "memory_mb");
	kerr_clear(&e);
	assert_int_equal(resize_host_fits(h, 0, 0, 10, &c, &e), 0);
	assert_int_equal(resize_host_fits(h, 0, 0, 11, &c, &e), -ENOSPC);
	assert_string_equal(e.field, "size_gb");
	kerr_clear(&e);
	/* shrinking always fits, even on a host that is over */
	jset_int(h, "cpu_allocated", 100);
	assert_int_equal(resize_host_fits(h, -1, -64, 0, &c, &e), 0);
	json_decref(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_volume_only_grows),
		cmocka_unit_test(test_host_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
