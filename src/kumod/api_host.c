// SPDX-License-Identifier: MIT
/*
 * /v1/hosts: the machines that run VMs. Hosts are created by agent
 * registration (channel.c); admins list, rename, move, enable, disable and
 * delete them. A disabled host keeps its VMs but takes no new ones; a host
 * with VMs cannot be deleted.
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/store.h"

static const char *const statuses[] = { "connecting", "connected", "disconnected", NULL };
static const char *const states[] = { "enabled", "disabled", "maintenance", NULL };

static const struct field host_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "zone_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "address", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "status", FT_STRING, F_READONLY | F_FILTER, 0, 0, statuses, NULL, NULL },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, states, NULL, NULL },
	{ "driver", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "accel", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "arch", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "version", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cpu_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cpu_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "memory_mb_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "memory_mb_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "disk_gb_total", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "disk_gb_allocated", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "vm_count", FT_INT, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "last_seen_at", FT_TIME, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema host_schema = { "Host", host_fields };

static const struct field host_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema host_update_schema = { "HostUpdate", host_update_fields };

static const struct field empty_fields[] = { { NULL } };
static const struct schema host_action_schema = { "HostAction", empty_fields };

static const char *const host_hidden[] = { "secret_hash", NULL };

static int host_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	json_t *cl = NULL;
	const char *cid = jstr(doc, "cluster_id");
	int r;

	if (!cid || (jstr(old, "cluster_id") && !strcmp(cid, jstr(old, "cluster_id"))))
		return 0;
	r = api_ref(&kind_cluster, req, cid, "cluster_id", &cl, e);
	if (r < 0)
		return r;
	if (jint(old, "vm_count", 0) > 0) {
		json_decref(cl);
		return kerr_set(e, -EBUSY, "cluster_id", "a host with VMs cannot change cluster");
	}
	jset_str(doc, "zone_id", jstr(cl, "zone_id"));
	json_decref(cl);
	return 0;
}

static int host_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = api_check_unused("vms", "host_id", jstr(doc, "id"), "VMs", e);

	if (r < 0)
		return r;
	store_cmd_delete_host(jstr(doc, "id"));
	host_forget(jstr(doc, "id"));
	return 0;
}

const struct kind kind_host = {
	.name = "hosts",
	.singular = "host",
	.schema = &host_schema,
	.update = &host_update_schema,
	.scope = SCOPE_GLOBAL,
	.unique_name = true,
	.on_update = host_on_update,
	.on_delete = host_on_delete,
	.hidden = host_hidden,
};

static void host_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_host, req, resp);
}

static void host_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_host, req, resp);
}

static void host_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_host, req, resp);
}

static void host_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_host, req, resp);
}

static void host_set_state(struct http_request *req, struct http_response *resp, const char *state)
{
	struct kerr e = { 0 };
	json_t *h = NULL;
	int r;

	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = api_load(&kind_host, req, http_param(req, "id"), true, &h, &e);
	if (r == 0) {
		jset_str(h, "state", state);
		r = store_update("hosts", h, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot update the host");
	}
	if (r == 0) {
		json_t *d = json_pack("{s:s}", "state", state);

		event_emit("host.state", "hosts", jstr(h, "id"), NULL, d);
		json_decref(d);
		r = store_commit();
		if (r < 0)
			kerr_set(&e, r, "", "cannot update the host");
	} else {
		store_rollback();
	}
	if (r < 0)
		http_reply_kerr(resp, &e);
	else
		http_reply_json(resp, 200, api_present(&kind_host, h));
	json_decref(h);
}

static void host_enable(struct http_request *req, struct http_response *resp)
{
	host_set_state(req, resp, "enabled");
}

static void host_disable(struct http_request *req, struct http_response *resp)
{
	host_set_state(req, resp, "disabled");
}

const struct route api_host_routes[] = {
	{ "GET", "/v1/hosts", host_list, ROLE_ADMIN, NULL, HTTP_LIST, "List hosts", 0, "hosts" },
	{ "GET", "/v1/hosts/{id}", host_get, ROLE_ADMIN, NULL, 0, "Get a host", 0, "hosts" },
	{ "PATCH", "/v1/hosts/{id}", host_update, ROLE_ADMIN, &host_update_schema, 0,
	  "Rename a host or move it to another cluster", 0, "hosts" },
	{ "DELETE", "/v1/hosts/{id}", host_delete, ROLE_ADMIN, NULL, 0, "Delete a host without VMs",
	  0, "hosts" },
	{ "POST", "/v1/hosts/{id}/actions/enable", host_enable, ROLE_ADMIN, &host_action_schema, 0,
	  "Let the host take new VMs", 0, "hosts" },
	{ "POST", "/v1/hosts/{id}/actions/disable", host_disable, ROLE_ADMIN, &host_action_schema,
	  0, "Stop placing new VMs on the host", 0, "hosts" },
	{ NULL },
};
