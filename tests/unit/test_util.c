// SPDX-License-Identifier: MIT
/*
 * common/util tests: fnv1a gives the published FNV-1a 64-bit values, folds
 * a buffer in pieces to the same hash as in one go (how the netsync and
 * heartbeat digests and the Redfish ETags use it), and mono_us agrees with
 * mono_ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"

static void test_fnv1a_vectors(void **state)
{
	/* the FNV reference's 64-bit FNV-1a values */
	static const struct {
		const char *in;
		uint64_t out;
	} v[] = {
		{ "", UINT64_C(0xcbf29ce484222325) },
		{ "a", UINT64_C(0xaf63dc4c8601ec8c) },
		{ "foobar", UINT64_C(0x85944171f73967e8) },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(fnv1a(FNV1A_INIT, v[i].in, strlen(v[i].in)) == v[i].out);
}

static void test_fnv1a_in_pieces(void **state)
{
	const char *s = "kumo-agent cpu flags: fpu vme de pse tsc msr pae";
	uint64_t whole = fnv1a(FNV1A_INIT, s, strlen(s)), h = FNV1A_INIT;

	(void)state;
	for (size_t i = 0; i < strlen(s); i += 7)
		h = fnv1a(h, s + i, strlen(s) - i < 7 ? strlen(s) - i : 7);
	assert_true(h == whole);
	/* one byte more changes it */
	assert_true(fnv1a(whole, "x", 1) != whole);
}

static void test_mono_clocks_agree(void **state)
{
	int64_t ms0 = mono_ms(), us0 = mono_us(), us1, ms1;

	(void)state;
	usleep(20000);
	us1 = mono_us();
	ms1 = mono_ms();
	assert_true(us1 - us0 >= 20000);
	/* the same clock: the two spans agree to within a millisecond or two */
	assert_true((us1 - us0) / 1000 <= ms1 - ms0 + 2);
	assert_true(ms1 - ms0 <= (us1 - us0) / 1000 + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv1a_vectors),
		cmocka_unit_test(test_fnv1a_in_pieces),
		cmocka_unit_test(test_mono_clocks_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
