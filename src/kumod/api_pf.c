// SPDX-License-Identifier: MIT
/*
 * /v1/port-forwardings: a range of ports of an (unattached) EIP's public
 * address forwarded to the same number of ports of a VM NIC, for one
 * protocol and the sources in allowed_cidr. Creating and deleting one must
 * reach the hosts: both answer 202 with a net.update job (netsync.h).
 * Ranges on one EIP and protocol never overlap; an EIP with forwardings is
 * not attached to a NIC itself (api_eip.c).
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

#define PF_RANGE_MAX 1024 /* ports in one forwarding */
#define PF_PER_EIP_MAX 256

static const char *const pf_protocols[] = { "tcp", "udp", NULL };

static const struct field pf_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "eip_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, "the public address" },
	{ "protocol", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, pf_protocols, NULL, NULL },
	{ "public_port_start", FT_INT, F_REQUIRED | F_FILTER, 1, 65535, NULL, NULL, NULL },
	{ "public_port_end", FT_INT, F_FILTER, 1, 65535, NULL, NULL, NULL },
	{ "private_port_start", FT_INT, 0, 1, 65535, NULL, NULL, NULL },
	{ "private_port_end", FT_INT, F_READONLY, 1, 65535, NULL, NULL, NULL },
	{ "nic_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "vm_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, "the VM of nic_id" },
	{ "allowed_cidr", FT_STRING, 0, 9, 18, NULL, NULL, "sources allowed" },
	{ "public_ip", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, "the EIP's address" },
	{ "private_ip", FT_STRING, F_READONLY, 0, 0, NULL, NULL, "the NIC's address" },
	{ NULL },
};
static const struct schema pf_schema = { "PortForwarding", pf_fields };

static const struct field pf_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "eip_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, "an EIP not attached to a NIC" },
	{ "protocol", FT_STRING, F_REQUIRED, 0, 0, pf_protocols, NULL, NULL },
	{ "public_port_start", FT_INT, F_REQUIRED, 1, 65535, NULL, NULL, NULL },
	{ "public_port_end", FT_INT, 0, 1, 65535, NULL, NULL,
	  "default public_port_start; at most 1024 ports" },
	{ "private_port_start", FT_INT, 0, 1, 65535, NULL, NULL, "default public_port_start" },
	{ "nic_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL,
	  "a NIC on an L3 network with port_forwarding whose uplink is the EIP's network" },
	{ "allowed_cidr", FT_STRING, 0, 9, 18, NULL, NULL, "default 0.0.0.0/0" },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema pf_create_schema = { "PortForwardingCreate", pf_create_fields };

static const struct field pf_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema pf_update_schema = { "PortForwardingUpdate", pf_update_fields };

const struct kind kind_pf = {
	.name = "port-forwardings",
	.singular = "port forwarding",
	.schema = &pf_schema,
	.create = &pf_create_schema,
	.update = &pf_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
};

/* Port ranges and the source CIDR: defaults filled, 400s naming fields. */
static int check_ports(json_t *pf, struct kerr *e)
{
	int64_t ps = jint(pf, "public_port_start", 1);
	int64_t pe = jint(pf, "public_port_end", ps);
	int64_t qs = jint(pf, "private_port_start", ps);
	const char *cidr = jstr(pf, "allowed_cidr") ? jstr(pf, "allowed_cidr") : "0.0.0.0/0";
	uint32_t net, pfx;
	char norm[20];

	if (pe < ps)
		return kerr_set(e, -EINVAL, "public_port_end",
		                "public_port_end %lld is below public_port_start %lld",
		                (long long)pe, (long long)ps);
	if (pe - ps + 1 > PF_RANGE_MAX)
		return kerr_set(e, -EINVAL, "public_port_end",
		                "a forwarding covers at most %d ports, not %lld", PF_RANGE_MAX,
		                (long long)(pe - ps + 1));
	if (qs + (pe - ps) > 65535)
		return kerr_set(e, -EINVAL, "private_port_start",
		                "private ports %lld-%lld go past 65535", (long long)qs,
		                (long long)(qs + pe - ps));
	if (netapi_cidr_parse(cidr, &net, &pfx) < 0)
		return kerr_set(e, -EINVAL, "allowed_cidr",
		                "\"%s\" is not an IPv4 CIDR with its host bits zero, such as "
		                "0.0.0.0/0 or 192.0.2.0/24",
		                cidr);
	ip_format(net, norm);
	snprintf(norm + strlen(norm), sizeof(norm) - strlen(norm), "/%u", pfx);
	jset_int(pf, "public_port_end", pe);
	jset_int(pf, "private_port_start", qs);
	jset_int(pf, "private_port_end", qs + (pe - ps));
	jset_str(pf, "allowed_cidr", norm);
	return 0;
}

/* No other forwarding of the EIP and protocol overlaps pf's ports. */
static int check_overlap(const json_t *pf, struct kerr *e)
{
	struct list_query q;
	json_t *items = NULL, *it;
	int64_t total = 0, ps = jint(pf, "public_port_start", 0),
	        pe = jint(pf, "public_port_end", 0);
	size_t i;
	int r;

	list_query_init(&q);
	q.limit = 0;
	r = query_add_eq(&q, "eip_id", jstr(pf, "eip_id"));
	if (r == 0)
		r = store_list("port-forwardings", &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the port forwardings");
	if (total >= PF_PER_EIP_MAX)
		r = kerr_set(e, -ENOSPC, "eip_id", "an EIP carries at most %d port forwardings",
		             PF_PER_EIP_MAX);
	json_array_foreach(items, i, it)
	{
		if (r < 0)
			break;
		if (strcmp(jstr(it, "protocol"), jstr(pf, "protocol")) != 0)
			continue;
		if (jint(it, "public_port_end", 0) < ps || jint(it, "public_port_start", 0) > pe)
			continue;
		r = kerr_set(
		    e, -EEXIST, "public_port_start",
		    "%s ports %lld-%lld overlap port forwarding %s (%lld-%lld) on the same "
		    "EIP",
		    jstr(pf, "protocol"), (long long)ps, (long long)pe, jstr(it, "name"),
		    (long long)jint(it, "public_port_start", 0),
		    (long long)jint(it, "public_port_end", 0));
	}
	json_decref(items);
	return r;
}

static int pf_prepare(json_t *pf, struct kerr *e)
{
	json_t *eip = NULL, *vm = NULL, *nic = NULL, *l3 = NULL;
	const char *uplink;
	int r;

	r = check_ports(pf, e);
	if (r < 0)
		return r;
	r = store_get("eips", jstr(pf, "eip_id"), jstr(pf, "account_id"), false, &eip);
	if (r == -ENOENT)
		return kerr_set(e, -ENOENT, "eip_id", "eip_id: no EIP with id %s",
		                jstr(pf, "eip_id"));
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the EIP");
	if (jstr(eip, "nic_id")) {
		r = kerr_set(e, -EBUSY, "eip_id",
		             "EIP %s is attached to NIC %s: forwardings need an unattached EIP",
		             jstr(eip, "name"), jstr(eip, "nic_id"));
		goto out;
	}
	r = netapi_nic_find(jstr(pf, "account_id"), jstr(pf, "nic_id"), "nic_id", &vm, &nic, e);
	if (r == 0)
		r = netapi_nic_l3(nic, "port_forwarding", "nic_id", &l3, e);
	if (r < 0)
		goto out;
	uplink = jstr(l3, "uplink_l3_network_id");
	if (!uplink || strcmp(uplink, jstr(eip, "l3_network_id")) != 0) {
		r = kerr_set(e, -EBUSY, "nic_id",
		             "NIC %s is on L3 network %s, whose uplink is not the public network "
		             "of EIP %s",
		             jstr(nic, "id"), jstr(l3, "name"), jstr(eip, "name"));
		goto out;
	}
	r = check_overlap(pf, e);
	if (r < 0)
		goto out;
	jset_str(pf, "public_ip", jstr(eip, "ip"));
	jset_str(pf, "vm_id", jstr(vm, "id"));
	jset_str(pf, "private_ip", jstr(nic, "ip"));
out:
	json_decref(l3);
	json_decref(vm);
	json_decref(eip);
	return r;
}

static void pf_emit(const json_t *pf, const char *what)
{
	char type[40];

	snprintf(type, sizeof(type), "port_forwarding.%s", what);
	event_emit(type, "port-forwardings", jstr(pf, "id"), jstr(pf, "account_id"), NULL);
}

static void pf_create(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *pf;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (api_idem_replay(req, resp))
		return;
	pf = api_new_doc(&kind_pf, req, req->body);
	if (!json_object_get(pf, "description"))
		json_object_set_new(pf, "description", json_null());
	r = store_begin();
	if (r < 0) {
		json_decref(pf);
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = pf_prepare(pf, &e);
	if (r == 0) {
		r = store_insert("port-forwardings", pf, true);
		if (r == -EEXIST)
			kerr_set(&e, r, "name", "a port forwarding named \"%s\" already exists",
			         jstr(pf, "name"));
		else if (r < 0)
			kerr_set(&e, r, "", "cannot store the port forwarding");
	}
	if (r == 0)
		pf_emit(pf, "created");
	netapi_finish(req, resp, "port-forwardings", jstr(pf, "id"), jstr(pf, "account_id"), r, &e);
	json_decref(pf);
}

static void pf_delete(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *pf = NULL;
	int r;

	if (api_check_wait(req, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = api_load(&kind_pf, req, http_param(req, "id"), true, &pf, &e);
	if (r < 0) {
		store_rollback();
		http_reply_kerr(resp, &e);
		return;
	}
	r = store_delete("port-forwardings", jstr(pf, "id"));
	if (r < 0)
		kerr_set(&e, r, "", "cannot delete the port forwarding");
	else
		pf_emit(pf, "deleted");
	netapi_finish(req, resp, "port-forwardings", jstr(pf, "id"), jstr(pf, "account_id"), r, &e);
	json_decref(pf);
}

static void pf_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_pf, req, resp);
}

static void pf_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_pf, req, resp);
}

static void pf_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_pf, req, resp);
}

const struct route api_pf_routes[] = {
	{ "GET", "/v1/port-forwardings", pf_list, ROLE_VIEWER, NULL, HTTP_LIST,
	  "List port forwardings", 0, "port-forwardings" },
	{ "POST", "/v1/port-forwardings", pf_create, ROLE_MEMBER, &pf_create_schema, HTTP_JOB,
	  "Create a port forwarding (202 + net.update job)", 0, "port-forwardings" },
	{ "GET", "/v1/port-forwardings/{id}", pf_get, ROLE_VIEWER, NULL, 0, "Get a port forwarding",
	  0, "port-forwardings" },
	{ "PATCH", "/v1/port-forwardings/{id}", pf_update, ROLE_MEMBER, &pf_update_schema, 0,
	  "Rename a port forwarding", 0, "port-forwardings" },
	{ "DELETE", "/v1/port-forwardings/{id}", pf_delete, ROLE_MEMBER, NULL, HTTP_JOB,
	  "Delete a port forwarding (202 + net.update job)", 0, "port-forwardings" },
	{ NULL },
};
