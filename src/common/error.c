// SPDX-License-Identifier: MIT
/*
 * Errors: the one place where a negative errno becomes an API error code and
 * an HTTP status (the table is in error.h), and the struct kerr helpers that
 * carry one failure's details to whoever reports it. Nothing here logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

struct errmap {
	int code; /* negative errno */
	int status;
	const char *name;
};

static const struct errmap errmap[] = {
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
};

static const struct errmap internal = { 0, 500, "Internal" };

static const struct errmap *errmap_find(int code)
{
	if (code > 0) /* tolerate a positive errno */
		code = -code;
	for (size_t i = 0; i < sizeof(errmap) / sizeof(errmap[0]); i++)
		if (errmap[i].code == code)
			return &errmap[i];
	return &internal;
}

int kerr_set(struct kerr *e, int code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return code;
}

void kerr_clear(struct kerr *e)
{
	if (!e)
		return;
	e->code = 0;
	e->field[0] = '\0';
	e->message[0] = '\0';
}

int error_http_status(int code)
{
	return errmap_find(code)->status;
}

const char *error_code_name(int code)
{
	return errmap_find(code)->name;
}
