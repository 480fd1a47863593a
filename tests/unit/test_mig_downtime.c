// SPDX-License-Identifier: MIT
/*
 * The downtime limit of a live migration (agent/qemu_migrate.c,
 * mig_downtime_at): 50 ms for the first passes over the memory, doubled
 * after every MIG_DOWNTIME_STEP_SYNCS passes that did not converge, never
 * above the cap, and the cap itself when it is under the first limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/qemu_vm.h"

static void test_first_passes_get_the_first_limit(void **state)
{
	(void)state;
	/* QEMU's count starts at the setup's sync; 0 before any */
	for (int64_t s = 0; s <= MIG_DOWNTIME_STEP_SYNCS; s++)
		assert_int_equal(mig_downtime_at(300, s), MIG_DOWNTIME_FIRST_MS);
}

static void test_doubles_while_not_converging_up_to_the_cap(void **state)
{
	(void)state;
	assert_int_equal(MIG_DOWNTIME_STEP_SYNCS, 3);
	assert_int_equal(mig_downtime_at(300, 4), 100);
	assert_int_equal(mig_downtime_at(300, 6), 100);
	assert_int_equal(mig_downtime_at(300, 7), 200);
	assert_int_equal(mig_downtime_at(300, 9), 200);
	assert_int_equal(mig_downtime_at(300, 10), 300); /* 400 capped */
	assert_int_equal(mig_downtime_at(300, 1000000), 300);
	assert_int_equal(mig_downtime_at(60000, 1000000), 60000);
	/* never lower for a later pass */
	for (int64_t s = 1, last = 0; s < 100; s++) {
		int64_t l = mig_downtime_at(1000, s);

		assert_true(l >= last && l <= 1000);
		last = l;
	}
}

static void test_a_cap_under_the_first_limit_is_kept(void **state)
{
	(void)state;
	assert_int_equal(mig_downtime_at(20, 0), 20);
	assert_int_equal(mig_downtime_at(20, 50), 20);
	assert_int_equal(mig_downtime_at(50, 50), 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_passes_get_the_first_limit),
		cmocka_unit_test(test_doubles_while_not_converging_up_to_the_cap),
		cmocka_unit_test(test_a_cap_under_the_first_limit_is_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
