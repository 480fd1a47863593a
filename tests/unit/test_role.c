/* SPDX-License-Identifier: MIT */
/*
 * Role names: the four user roles parse and print; the internal markers
 * (none, agent) print but never parse from a request.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kumod/role.h"

static void test_roles(void **state)
{
	(void)state;
	static const struct {
		int role;
		const char *name;
	} users[] = {
		{ ROLE_VIEWER, "viewer" },
		{ ROLE_MEMBER, "member" },
		{ ROLE_OWNER, "owner" },
		{ ROLE_ADMIN, "admin" },
	};
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		assert_string_equal(role_name(users[i].role), users[i].name);
		assert_int_equal(role_parse(users[i].name), users[i].role);
	}
	assert_string_equal(role_name(ROLE_AGENT), "agent");
	assert_string_equal(role_name(ROLE_NONE), "none");
	assert_string_equal(role_name(42), "invalid");

	static const char *const bad[] = { "agent", "none", "", "Admin", "admin ", "root" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(role_parse(bad[i]), -EINVAL);
	assert_int_equal(role_parse(NULL), -EINVAL);
	/* Order matters to min_role checks. */
	assert_true(ROLE_VIEWER < ROLE_MEMBER && ROLE_MEMBER < ROLE_OWNER &&
	            ROLE_OWNER < ROLE_ADMIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
