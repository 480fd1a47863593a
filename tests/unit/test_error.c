// SPDX-License-Identifier: MIT
/*
 * Error mapping tests: every errno in error.h's table gives its HTTP status
 * and code name, anything else is 500 Internal; kerr_set/kerr_clear.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"

static void test_mapping(void **state)
{
	static const struct {
		int code;
		int status;
		const char *name;
	} table[] = {
		{ -EINVAL, 400, "InvalidArgument" },
		{ -EACCES, 401, "Unauthenticated" },
		{ -EPERM, 403, "PermissionDenied" },
		{ -ENOENT, 404, "NotFound" },
		{ -EOPNOTSUPP, 405, "MethodNotAllowed" },
		{ -EEXIST, 409, "Conflict" },
		{ -EBUSY, 409, "Conflict" },
		{ -ENOSPC, 409, "Conflict" },
		{ -EDQUOT, 409, "Conflict" },
		{ -EALREADY, 409, "Conflict" },
		{ -ESTALE, 409, "Conflict" },
		{ -EMSGSIZE, 413, "PayloadTooLarge" },
		{ -E2BIG, 413, "PayloadTooLarge" },
		{ -EAGAIN, 429, "TooManyRequests" },
		{ -ENOTCONN, 503, "Unavailable" },
		{ -ESHUTDOWN, 503, "Unavailable" },
		{ -ETIMEDOUT, 503, "Unavailable" },
		{ -EHOSTDOWN, 503, "Unavailable" },
		{ -ENOSYS, 501, "NotImplemented" },
		{ -EIO, 500, "Internal" },
		{ -ENOMEM, 500, "Internal" },
		{ 0, 500, "Internal" },
		{ -99999, 500, "Internal" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(error_http_status(table[i].code), table[i].status);
		assert_string_equal(error_code_name(table[i].code), table[i].name);
	}
	/* A positive errno by mistake maps the same. */
	assert_int_equal(error_http_status(ENOENT), 404);
}

static void test_kerr(void **state)
{
	struct kerr e;
	char longmsg[2000];

	assert_int_equal(kerr_set(&e, -EINVAL, "vcpus", "field \"%s\" is bad (%d)", "vcpus", 7),
	                 -EINVAL);
	assert_int_equal(e.code, -EINVAL);
	assert_string_equal(e.field, "vcpus");
	assert_string_equal(e.message, "field \"vcpus\" is bad (7)");
	kerr_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.field, "");
	assert_string_equal(e.message, "");
	/* NULL field; long messages are cut, not overflowed. */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(kerr_set(&e, -ENOENT, NULL, "%s", longmsg), -ENOENT);
	assert_string_equal(e.field, "");
	assert_int_equal(strlen(e.message), KERR_MSG_MAX - 1);
	/* A NULL kerr is allowed: only the code comes back. */
	assert_int_equal(kerr_set(NULL, -EPERM, NULL, "x"), -EPERM);
	kerr_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_kerr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
