// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the router: the input is a request path (raw,
 * percent-encoded, as a client sends it) matched against a route table
 * with literal and parameter segments. Matching must never crash, and a
 * match must hand out decoded parameters that hold no '/' and fit the
 * limit.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"

static void h(struct http_request *req, struct http_response *resp)
{
}

static const struct route routes[] = {
	{ "GET", "/v1/vms", h, 1, NULL, HTTP_LIST, NULL, 0, NULL },
	{ "GET", "/v1/vms/{id}", h, 1, NULL, 0, NULL, 0, NULL },
	{ "DELETE", "/v1/vms/{id}", h, 1, NULL, 0, NULL, 0, NULL },
	{ "GET", "/v1/vms/actions", h, 1, NULL, 0, NULL, 0, NULL },
	{ "POST", "/v1/vms/{id}/actions/start", h, 1, NULL, 0, NULL, 0, NULL },
	{ "GET", "/v1/vms/{vm}/nics/{nic}", h, 1, NULL, 0, NULL, 0, NULL },
	{ "GET", "/v1/sessions/{id}", h, 1, NULL, 0, NULL, 0, NULL },
	{ "DELETE", "/v1/sessions/current", h, 1, NULL, 0, NULL, 0, NULL },
	{ "GET", "/", h, 0, NULL, 0, NULL, 0, NULL },
	{ 0 },
};
static const struct route *const tables[] = { routes, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "DELETE", "PUT" };
	struct http_request req;
	const struct route *route = NULL;
	char allow[64];
	char *path;
	int r;

	if (size < 1)
		return 0;
	path = malloc(size);
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	memset(&req, 0, sizeof(req));
	r = http_route_match(tables, methods[data[0] % 4], path, &req, &route, allow,
	                     sizeof(allow));
	if (r == 0) {
		if (!route || req.route != route || req.nparams < 0 ||
		    req.nparams > HTTP_MAX_PARAMS)
			abort();
		for (int i = 0; i < req.nparams; i++)
			if (strchr(req.param_values[i], '/') || strlen(req.param_values[i]) > 256 ||
			    req.param_values[i][0] == '\0')
				abort();
	} else if (r == -EOPNOTSUPP) {
		if (allow[0] == '\0')
			abort();
	} else if (r != -ENOENT) {
		abort();
	}
	http_request_clear_params(&req);
	free(path);
	return 0;
}
