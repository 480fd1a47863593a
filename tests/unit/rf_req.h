/* SPDX-License-Identifier: MIT */
/*
 * Requests to a Redfish service in unit tests (test_redfish*.c): one call
 * of rf_handle() with a method, path, query, body, principal and headers.
 */
#pragma once

#include <string.h>
#include <strings.h>

#include "common/redfish.h"

struct hdrs {
	const char *names[4];
	const char *values[4];
};

static inline const char *hdr_lookup(void *cls, const char *name)
{
	struct hdrs *h = cls;

	for (int i = 0; i < 4 && h->names[i]; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return h->values[i];
	return NULL;
}

/* One request; resp must be cleared by the caller. h may be NULL. */
static inline int req_full(struct rf_service *s, const char *method, const char *path, const char *query,
                    const char *body, const struct rf_principal *who, struct hdrs *h,
                    struct rf_response *resp)
{
	struct rf_request req = { .method = method,
		                  .path = path,
		                  .query = query,
		                  .header = h ? hdr_lookup : NULL,
		                  .header_cls = h,
		                  .body = body,
		                  .body_len = body ? strlen(body) : 0,
		                  .client_addr = "192.0.2.1",
		                  .principal = who };

	rf_response_init(resp);
	rf_handle(s, &req, resp);
	return resp->status;
}

