/* SPDX-License-Identifier: MIT */
/*
 * Errors. Functions return 0 or a negative errno; this file is the one place
 * where an errno becomes an API error code and an HTTP status:
 *
 *   -EINVAL                       400 InvalidArgument
 *   -EACCES                       401 Unauthenticated
 *   -EPERM                        403 PermissionDenied
 *   -ENOENT                       404 NotFound
 *   -EOPNOTSUPP                   405 MethodNotAllowed
 *   -EEXIST -EBUSY -ENOSPC -EDQUOT
 *   -EALREADY -ESTALE             409 Conflict
 *   -EMSGSIZE -E2BIG              413 PayloadTooLarge
 *   -EAGAIN                       429 TooManyRequests
 *   -ENOTCONN -ESHUTDOWN -ETIMEDOUT -EHOSTDOWN   503 Unavailable
 *   -ENOSYS                       501 NotImplemented
 *   anything else                 500 Internal
 *
 * A struct kerr carries the details of one failure to whoever reports it.
 */
#pragma once

#include <stddef.h>

#define KERR_MSG_MAX 512
#define KERR_FIELD_MAX 128

struct kerr {
	int code;                   /* negative errno, 0 = no error */
	char field[KERR_FIELD_MAX]; /* offending field, "" if none */
	char message[KERR_MSG_MAX];
};

/* Fills e and returns code (negative errno) so callers can "return kerr_set(...)". */
int kerr_set(struct kerr *e, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kerr_clear(struct kerr *e);

int error_http_status(int code);
/* "InvalidArgument", "NotFound", ... */
const char *error_code_name(int code);
