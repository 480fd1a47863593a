// SPDX-License-Identifier: MIT
/*
 * /v1/eips: elastic IPs, addresses of a public L3 network held by an
 * account and mapped 1:1 (NAT) to one VM NIC at a time. The address is
 * taken from the public network's IPAM (owner: the EIP) when the EIP is
 * made and given back when it is deleted. Attach and detach must reach the
 * hosts: they answer 202 with a net.update job (netsync.h); a create
 * without a NIC needs no host and answers 201. An EIP that port
 * forwardings use (api_pf.c) is not attached to a NIC itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/ipam.h"
#include "kumod/netapi.h"
#include "kumod/store.h"

static const struct field eip_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "l3_network_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL,
	  "the public L3 network the address is on" },
	{ "ip", FT_STRING, F_FILTER, 7, 15, NULL, NULL, "the public address" },
	{ "nic_id", FT_UUID, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, "the VM NIC it maps to" },
	{ "vm_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "the VM of nic_id" },
	{ "private_ip", FT_STRING, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "the address of nic_id" },
	{ NULL },
};
static const struct schema eip_schema = { "Eip", eip_fields };

static const struct field eip_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "l3_network_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, "a public L3 network" },
	{ "ip", FT_STRING, 0, 7, 15, NULL, NULL,
	  "a free address of its ranges; default: IPAM picks" },
	{ "nic_id", FT_UUID, F_NULLABLE, 0, 0, NULL, NULL, "attach at once (202 + job)" },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema eip_create_schema = { "EipCreate", eip_create_fields };

static const struct field eip_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema eip_update_schema = { "EipUpdate", eip_update_fields };

static const struct field attach_fields[] = {
	{ "nic_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema eip_attach_schema = { "EipAttach", attach_fields };
static const struct field no_fields[] = { { NULL } };
static const struct schema eip_action_schema = { "EipAction", no_fields };

/* Takes the EIP's address on its public network: ip when given (a free
 * address of the network's ranges), else the lowest free one. */
static int take_address(struct http_request *req, json_t *eip, struct kerr *e)
{
	const char *want = jstr(eip, "ip");
	struct l3_plan plan;
	json_t *l3 = NULL;
	uint32_t ip = 0, *used = NULL;
	char ip_s[16];
	int nused = 0, r;

	r = api_ref(&kind_l3, req, jstr(eip, "l3_network_id"), "l3_network_id", &l3, e);
	if (r < 0)
		return r;
	if (!jbool(l3, "public", false)) {
		r = kerr_set(e, -EINVAL, "l3_network_id",
		             "L3 network %s is not public: EIPs are addresses of a public network",
		             jstr(l3, "name"));
		goto out;
	}
	r = ipam_plan_from_json(l3, &plan, e);
	if (r < 0)
		goto out;
	if (want) {
		bool in = false;

		if (ip_parse(want, &ip) < 0) {
			r = kerr_set(e, -EINVAL, "ip", "\"%s\" is not an IPv4 address", want);
			goto out;
		}
		for (int i = 0; i < plan.nranges; i++)
			if (ip >= plan.ranges[i].start && ip <= plan.ranges[i].end)
				in = true;
		if (!in) {
			r = kerr_set(e, -EINVAL, "ip",
			             "%s is not in the ip_ranges of L3 network %s", want,
			             jstr(l3, "name"));
			goto out;
		}
	} else {
		r = store_ip_list(jstr(l3, "id"), &used, &nused);
		if (r < 0) {
			kerr_set(e, r, "", "cannot read the addresses of L3 network %s",
			         jstr(l3, "name"));
			goto out;
		}
		r = ipam_pick(&plan, used, nused, &ip);
		if (r < 0) {
			r = kerr_set(e, -ENOSPC, "l3_network_id",
			             "L3 network %s has no free address left (%d in use)",
			             jstr(l3, "name"), nused);
			goto out;
		}
	}
	r = store_ip_take(jstr(l3, "id"), ip, jstr(eip, "id"));
	if (r == -EEXIST) {
		r = kerr_set(e, -EEXIST, want ? "ip" : "l3_network_id", "%s is in use already",
		             want ? want : "the address IPAM picked");
		goto out;
	}
	if (r < 0) {
		kerr_set(e, r, "", "cannot store the address");
		goto out;
	}
	ip_format(ip, ip_s);
	jset_str(eip, "ip", ip_s);
out:
	free(used);
	json_decref(l3);
	return r;
}

/* Port forwardings on the EIP: 409 naming them. */
static int check_no_forwardings(const json_t *eip, const char *what, struct kerr *e)
{
	char names[256];
	int64_t n = 0;
	int r;

	r = netapi_users("port-forwardings", "eip_id", jstr(eip, "id"), names, sizeof(names), &n);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the port forwardings");
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "EIP %s is used by port forwardings %s: %s",
		                jstr(eip, "name"), names, what);
	return 0;
}

/* Maps the EIP to NIC nic_id: sets nic_id, vm_id and private_ip. */
static int eip_bind(json_t *eip, const char *nic_id, const char *field, struct kerr *e)
{
	json_t *vm = NULL, *nic = NULL, *l3 = NULL;
	const char *uplink;
	char names[256];
	int64_t n = 0;
	int r;

	r = netapi_nic_find(jstr(eip, "account_id"), nic_id, field, &vm, &nic, e);
	if (r < 0)
		return r;
	r = netapi_nic_l3(nic, "eip", field, &l3, e);
	if (r < 0)
		goto out;
	uplink = jstr(l3, "uplink_l3_network_id");
	if (!uplink || strcmp(uplink, jstr(eip, "l3_network_id")) != 0) {
		r = kerr_set(e, -EBUSY, field,
		             "NIC %s is on L3 network %s, whose uplink is not the EIP's public "
		             "network (%s)",
		             nic_id, jstr(l3, "name"), jstr(eip, "l3_network_id"));
		goto out;
	}
	r = netapi_users("eips", "nic_id", nic_id, names, sizeof(names), &n);
	if (r < 0) {
		kerr_set(e, r, "", "cannot read the EIPs");
		goto out;
	}
	if (n > 0) {
		r = kerr_set(e, -EBUSY, field, "NIC %s has an EIP already (%s)", nic_id, names);
		goto out;
	}
	jset_str(eip, "nic_id", nic_id);
	jset_str(eip, "vm_id", jstr(vm, "id"));
	jset_str(eip, "private_ip", jstr(nic, "ip"));
out:
	json_decref(l3);
	json_decref(vm);
	return r;
}

static void unbind(json_t *eip)
{
	json_object_set_new(eip, "nic_id", json_null());
	json_object_set_new(eip, "vm_id", json_null());
	json_object_set_new(eip, "private_ip", json_null());
}

static int eip_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	uint32_t ip;
	int r;

	(void)req;
	if (jstr(doc, "nic_id"))
		return kerr_set(e, -EBUSY, "", "EIP %s is attached to NIC %s; detach it first",
		                jstr(doc, "name"), jstr(doc, "nic_id"));
	r = check_no_forwardings(doc, "delete them first", e);
	if (r < 0)
		return r;
	if (jstr(doc, "ip") && ip_parse(jstr(doc, "ip"), &ip) == 0) {
		r = store_ip_release(jstr(doc, "l3_network_id"), ip);
		if (r < 0 && r != -ENOENT)
			return kerr_set(e, r, "", "cannot release the address");
	}
	return 0;
}

const struct kind kind_eip = {
	.name = "eips",
	.singular = "EIP",
	.schema = &eip_schema,
	.create = &eip_create_schema,
	.update = &eip_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
	.on_delete = eip_on_delete,
};

static void eip_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_eip, req, resp);
}

static void eip_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_eip, req, resp);
}

static void eip_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_eip, req, resp);
}

static void eip_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_eip, req, resp);
}

static void eip_emit(const json_t *eip, const char *what)
{
	json_t *d = json_pack("{s:O?,s:O?}", "nic_id", json_object_get(eip, "nic_id"), "ip",
	                      json_object_get(eip, "ip"));
	char type[32];

	snprintf(type, sizeof(type), "eip.%s", what);
	event_emit(type, "eips", jstr(eip, "id"), jstr(eip, "account_id"), d);
	json_decref(d);
}

static void eip_create_handler(struct http_request *req, struct http_response *resp)
{
	const char *nic_id = jstr(req->body, "nic_id");
	struct kerr e = { 0 };
	json_t *eip;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (api_idem_replay(req, resp))
		return;
	eip = api_new_doc(&kind_eip, req, req->body);
	unbind(eip);
	if (!json_object_get(eip, "description"))
		json_object_set_new(eip, "description", json_null());
	r = store_begin();
	if (r < 0) {
		json_decref(eip);
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = take_address(req, eip, &e);
	if (r == 0 && nic_id)
		r = eip_bind(eip, nic_id, "nic_id", &e);
	if (r == 0) {
		r = store_insert("eips", eip, true);
		if (r == -EEXIST)
			kerr_set(&e, r, "name", "an EIP named \"%s\" already exists",
			         jstr(eip, "name"));
		else if (r < 0)
			kerr_set(&e, r, "", "cannot store the EIP");
	}
	if (r == 0) {
		eip_emit(eip, "created");
		if (!nic_id) {
			r = api_reply_created(req, resp, "eips", api_present(&kind_eip, eip));
			if (r < 0)
				http_reply_error(resp, r, "", "cannot store the EIP");
			json_decref(eip);
			return;
		}
	}
	netapi_finish(req, resp, "eips", jstr(eip, "id"), jstr(eip, "account_id"), r, &e);
	json_decref(eip);
}

static void eip_attach_detach(struct http_request *req, struct http_response *resp, bool attach)
{
	struct kerr e = { 0 };
	json_t *eip = NULL;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (api_idem_replay(req, resp))
		return;
	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = api_load(&kind_eip, req, http_param(req, "id"), true, &eip, &e);
	if (r < 0) {
		store_rollback();
		http_reply_kerr(resp, &e);
		return;
	}
	if (attach) {
		if (jstr(eip, "nic_id"))
			r = kerr_set(&e, -EBUSY, "",
			             "EIP %s is attached to NIC %s; detach it first",
			             jstr(eip, "name"), jstr(eip, "nic_id"));
		if (r == 0)
			r = check_no_forwardings(
			    eip, "an EIP with port forwardings is not attached", &e);
		if (r == 0)
			r = eip_bind(eip, jstr(req->body, "nic_id"), "nic_id", &e);
	} else if (!jstr(eip, "nic_id")) {
		r = kerr_set(&e, -EBUSY, "", "EIP %s is not attached", jstr(eip, "name"));
	} else {
		unbind(eip);
	}
	if (r == 0) {
		r = store_update("eips", eip, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot store the EIP");
	}
	if (r == 0)
		eip_emit(eip, attach ? "attached" : "detached");
	netapi_finish(req, resp, "eips", jstr(eip, "id"), jstr(eip, "account_id"), r, &e);
	json_decref(eip);
}

static void eip_attach(struct http_request *req, struct http_response *resp)
{
	eip_attach_detach(req, resp, true);
}

static void eip_detach(struct http_request *req, struct http_response *resp)
{
	eip_attach_detach(req, resp, false);
}

const struct route api_eip_routes[] = {
	{ "GET", "/v1/eips", eip_list, ROLE_VIEWER, NULL, HTTP_LIST, "List EIPs", 0, "eips" },
	{ "POST", "/v1/eips", eip_create_handler, ROLE_MEMBER, &eip_create_schema, HTTP_JOB,
	  "Create an EIP (201), or create and attach it to nic_id (202 + net.update job)", 0,
	  "eips" },
	{ "GET", "/v1/eips/{id}", eip_get, ROLE_VIEWER, NULL, 0, "Get an EIP", 0, "eips" },
	{ "PATCH", "/v1/eips/{id}", eip_update, ROLE_MEMBER, &eip_update_schema, 0, "Rename an EIP",
	  0, "eips" },
	{ "DELETE", "/v1/eips/{id}", eip_delete, ROLE_MEMBER, NULL, 0,
	  "Delete a detached EIP, releasing its address", 0, "eips" },
	{ "POST", "/v1/eips/{id}/actions/attach", eip_attach, ROLE_MEMBER, &eip_attach_schema,
	  HTTP_JOB, "Map to a VM NIC (202 + net.update job)", 0, "eips" },
	{ "POST", "/v1/eips/{id}/actions/detach", eip_detach, ROLE_MEMBER, &eip_action_schema,
	  HTTP_JOB, "Unmap from its NIC (202 + net.update job)", 0, "eips" },
	{ NULL },
};
