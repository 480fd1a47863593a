// SPDX-License-Identifier: MIT
/*
 * Helpers of the network API files (netapi.h): finding NICs in the VM
 * documents, service checks on their L3 networks, rule CIDRs, "in use by"
 * messages and the 202 answer with a net.update job. No routes here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/ipam.h"
#include "kumod/jobs.h"
#include "kumod/netapi.h"
#include "kumod/netsync.h"
#include "kumod/store.h"

int netapi_list_like(const char *kind, const char *account_id, const char *field,
                     const char *pattern, json_t **ret)
{
	struct list_query q;
	int64_t total = 0;
	int r;

	list_query_init(&q);
	q.account_id = account_id;
	q.limit = 0;
	r = query_add_eq(&q, field, pattern);
	if (r == 0) {
		q.filters[q.nfilters - 1].op = OP_LIKE;
		r = store_list(kind, &q, ret, &total);
	}
	list_query_free(&q);
	return r;
}

int netapi_nic_find(const char *account_id, const char *nic_id, const char *field, json_t **ret_vm,
                    json_t **ret_nic, struct kerr *e)
{
	json_t *items = NULL, *vm, *nic;
	size_t i, k;
	char *pat;
	int r;

	if (!nic_id || !uuid_valid(nic_id))
		return kerr_set(e, -ENOENT, field, "%s: no NIC with id %s", field,
		                nic_id ? nic_id : "");
	/* The NIC list of a VM is stored as JSON text: LIKE finds the few
	 * VMs that can hold it (ids are hex and '-', no wildcards), and the
	 * loop below checks exactly. */
	pat = xasprintf("%%\"id\":\"%s\"%%", nic_id);
	r = netapi_list_like("vms", account_id, "nics", pat, &items);
	free(pat);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the VMs");
	r = -ENOENT;
	json_array_foreach(items, i, vm)
	{
		const char *st = jstr(vm, "state");

		if (st && (!strcmp(st, "destroying") || !strcmp(st, "destroyed")))
			continue;
		json_array_foreach(json_object_get(vm, "nics"), k, nic)
		{
			if (!jstr(nic, "id") || strcmp(jstr(nic, "id"), nic_id) != 0)
				continue;
			*ret_vm = json_incref(vm);
			*ret_nic = nic;
			r = 0;
			break;
		}
		if (r == 0)
			break;
	}
	json_decref(items);
	if (r < 0)
		return kerr_set(e, -ENOENT, field, "%s: no NIC with id %s", field, nic_id);
	return 0;
}

bool netapi_l3_has(const json_t *l3, const char *service)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(l3, "services"), i, v)
	{
		if (json_string_value(v) && !strcmp(json_string_value(v), service))
			return true;
	}
	return false;
}

int netapi_nic_l3(const json_t *nic, const char *service, const char *field, json_t **ret_l3,
                  struct kerr *e)
{
	json_t *l3 = NULL;
	int r;

	r = store_get("l3-networks", jstr(nic, "l3_network_id"), NULL, false, &l3);
	if (r < 0)
		return kerr_set(e, r == -ENOENT ? -EBUSY : r, field,
		                "the L3 network of NIC %s is gone", jstr(nic, "id"));
	if (!netapi_l3_has(l3, service)) {
		r = kerr_set(e, -EBUSY, field,
		             "NIC %s is on L3 network %s, which does not offer the %s service",
		             jstr(nic, "id"), jstr(l3, "name"), service);
		json_decref(l3);
		return r;
	}
	if (ret_l3)
		*ret_l3 = l3;
	else
		json_decref(l3);
	return 0;
}

int netapi_cidr_parse(const char *s, uint32_t *ret_net, uint32_t *ret_prefix)
{
	char buf[32], *slash, *end;
	uint32_t ip, mask;
	long pfx;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	*slash = '\0';
	pfx = strtol(slash + 1, &end, 10);
	if (*end || pfx < 0 || pfx > 32 || (slash[1] == '0' && slash[2]))
		return -EINVAL;
	if (ip_parse(buf, &ip) < 0)
		return -EINVAL;
	mask = pfx == 0 ? 0 : 0xffffffffu << (32 - pfx);
	if (ip & ~mask)
		return -EINVAL;
	*ret_net = ip;
	*ret_prefix = (uint32_t)pfx;
	return 0;
}

int netapi_users(const char *kind, const char *field, const char *value, char *out, size_t outlen,
                 int64_t *ret_n)
{
	struct list_query q;
	json_t *items = NULL, *it;
	int64_t total = 0;
	size_t i, n = 0;
	int r;

	out[0] = '\0';
	list_query_init(&q);
	q.limit = 5;
	r = query_add_eq(&q, field, value);
	if (r == 0)
		r = store_list(kind, &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return r;
	json_array_foreach(items, i, it)
	{
		const char *name = jstr(it, "name") ? jstr(it, "name") : jstr(it, "id");

		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", i ? ", " : "",
		                      name);
	}
	if (total > (int64_t)json_array_size(items) && n < outlen)
		snprintf(out + n, outlen - n, " (and %lld more)",
		         (long long)(total - (int64_t)json_array_size(items)));
	json_decref(items);
	*ret_n = total;
	return 0;
}

void netapi_finish(struct http_request *req, struct http_response *resp, const char *kind,
                   const char *id, const char *account_id, int r, struct kerr *e)
{
	json_t *job = NULL;

	if (r == 0)
		r = netsync_job(kind, id, account_id, &job, e);
	if (api_commit_job(req, resp, job, r, e, "change") < 0)
		http_reply_kerr(resp, e);
	json_decref(job);
}

int netapi_vm_sgs_check(const char *account_id, const json_t *sg_ids, const json_t *l3s,
                        struct kerr *e)
{
	json_t *id, *l3;
	size_t i, k;
	int r;

	json_array_foreach(sg_ids, i, id)
	{
		char field[48];
		json_t *sg = NULL;

		snprintf(field, sizeof(field), "security_group_ids[%zu]", i);
		for (k = 0; k < i; k++)
			if (!strcmp(json_string_value(id),
			            json_string_value(json_array_get(sg_ids, k))))
				return kerr_set(e, -EINVAL, field,
				                "security group %s is listed twice",
				                json_string_value(id));
		r = store_get("security-groups", json_string_value(id), account_id, false, &sg);
		if (r == -ENOENT)
			return kerr_set(e, -ENOENT, field, "%s: no security group with id %s",
			                field, json_string_value(id));
		if (r < 0)
			return kerr_set(e, r, field, "cannot read the security groups");
		json_decref(sg);
	}
	if (json_array_size(sg_ids) == 0)
		return 0;
	json_array_foreach(l3s, k, l3)
	{
		if (!netapi_l3_has(l3, "security_group"))
			return kerr_set(e, -EBUSY, "security_group_ids",
			                "L3 network %s does not offer the security_group service",
			                jstr(l3, "name"));
	}
	return 0;
}
