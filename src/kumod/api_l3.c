// SPDX-License-Identifier: MIT
/*
 * /v1/l3-networks: IPv4 subnets on an L2 network, with their address ranges
 * and services. Members create networks in their account; admins may mark a
 * network shared so every account can attach VMs to it, or public: one
 * that stands for the outside world, with EIPs (api_eip.c) and no services,
 * which private networks with snat, eip or port_forwarding name as their
 * uplink. Addresses are handed out by IPAM (ipam.c, store_ip_*) when VMs
 * and EIPs are created.
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/ipam.h"
#include "kumod/netapi.h"
#include "kumod/store.h"

static const char *const services[] = {
	"dhcp", "dns", "snat", "eip", "port_forwarding", "security_group", "metadata", NULL
};

static const struct field range_fields[] = {
	{ "start", FT_STRING, F_REQUIRED, 7, 15, NULL, NULL, "first address" },
	{ "end", FT_STRING, F_REQUIRED, 7, 15, NULL, NULL, "last address" },
	{ NULL },
};
static const struct schema range_schema = { "IpRange", range_fields };

static const struct field l3_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "l2_network_id", FT_UUID, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "cidr", FT_STRING, F_REQUIRED | F_FILTER, 9, 18, NULL, NULL, "e.g. 10.0.0.0/24" },
	{ "gateway", FT_STRING, F_FILTER, 7, 15, NULL, NULL, NULL },
	{ "dns", FT_STRING_ARRAY, 0, 0, 4, NULL, NULL, NULL },
	{ "ip_ranges", FT_OBJECT_ARRAY, 0, 0, IPAM_MAX_RANGES, NULL, &range_schema, NULL },
	{ "services", FT_STRING_ARRAY, 0, 0, 7, NULL, NULL, NULL },
	{ "shared", FT_BOOL, F_FILTER, 0, 0, NULL, NULL, "usable by every account" },
	{ "public", FT_BOOL, F_FILTER, 0, 0, NULL, NULL,
	  "stands for the outside world (EIPs, uplinks); no services" },
	{ "uplink_l3_network_id", FT_UUID, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "the public network that snat, eip and port_forwarding reach the outside through" },
	{ "ip_total", FT_INT, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "ip_used", FT_INT, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema l3_schema = { "L3Network", l3_fields };

static const struct field l3_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "l2_network_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "cidr", FT_STRING, F_REQUIRED, 9, 18, NULL, NULL, NULL },
	{ "gateway", FT_STRING, 0, 7, 15, NULL, NULL, NULL },
	{ "dns", FT_STRING_ARRAY, 0, 0, 4, NULL, NULL, NULL },
	{ "ip_ranges", FT_OBJECT_ARRAY, 0, 0, IPAM_MAX_RANGES, NULL, &range_schema, NULL },
	{ "services", FT_STRING_ARRAY, 0, 0, 7, NULL, NULL, NULL },
	{ "shared", FT_BOOL, 0, 0, 0, NULL, NULL, NULL },
	{ "public", FT_BOOL, 0, 0, 0, NULL, NULL, "admins only; default false" },
	{ "uplink_l3_network_id", FT_UUID, F_NULLABLE, 0, 0, NULL, NULL,
	  "a public L3 network; required with snat, eip or port_forwarding" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema l3_create_schema = { "L3NetworkCreate", l3_create_fields };

static const struct field l3_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "shared", FT_BOOL, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema l3_update_schema = { "L3NetworkUpdate", l3_update_fields };

static int check_services(const json_t *doc, struct kerr *e)
{
	json_t *list = json_object_get(doc, "services"), *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		bool ok = false;

		for (int k = 0; services[k]; k++)
			if (!strcmp(json_string_value(v), services[k]))
				ok = true;
		if (!ok)
			return kerr_set(e, -EINVAL, "services",
			                "unknown service \"%s\"; known: dhcp, dns, snat, eip, "
			                "port_forwarding, security_group, metadata",
			                json_string_value(v));
	}
	return 0;
}

/* A public network has no services and no uplink; a private one with snat,
 * eip or port_forwarding reaches the outside through a public network
 * (uplink_l3_network_id) in the same zone, and only those have one. */
static int check_public_uplink(struct http_request *req, const json_t *doc, struct kerr *e)
{
	const char *up_id = jstr(doc, "uplink_l3_network_id");
	json_t *up = NULL, *l2 = NULL, *up_l2 = NULL;
	bool needs = netapi_l3_has(doc, "snat") || netapi_l3_has(doc, "eip") ||
	             netapi_l3_has(doc, "port_forwarding");
	int r = 0;

	if (jbool(doc, "public", false)) {
		if (json_array_size(json_object_get(doc, "services")) > 0)
			return kerr_set(e, -EINVAL, "services",
			                "a public network stands for the outside world and has no "
			                "services");
		if (up_id)
			return kerr_set(e, -EINVAL, "uplink_l3_network_id",
			                "a public network has no uplink");
		return 0;
	}
	if (!up_id) {
		if (needs)
			return kerr_set(
			    e, -EINVAL, "uplink_l3_network_id",
			    "snat, eip and port_forwarding need uplink_l3_network_id: the "
			    "public network to reach the outside through");
		return 0;
	}
	if (!needs)
		return kerr_set(e, -EINVAL, "uplink_l3_network_id",
		                "only networks with snat, eip or port_forwarding have an uplink");
	r = api_ref(&kind_l3, req, up_id, "uplink_l3_network_id", &up, e);
	if (r < 0)
		return r;
	if (!jbool(up, "public", false)) {
		r = kerr_set(e, -EINVAL, "uplink_l3_network_id", "L3 network %s is not public",
		             jstr(up, "name"));
		goto out;
	}
	if (store_get("l2-networks", jstr(doc, "l2_network_id"), NULL, false, &l2) == 0 &&
	    store_get("l2-networks", jstr(up, "l2_network_id"), NULL, false, &up_l2) == 0 &&
	    jstr(l2, "zone_id") && jstr(up_l2, "zone_id") &&
	    strcmp(jstr(l2, "zone_id"), jstr(up_l2, "zone_id")) != 0)
		r = kerr_set(e, -EINVAL, "uplink_l3_network_id",
		             "the uplink %s is in another zone than this network",
		             jstr(up, "name"));
out:
	json_decref(up_l2);
	json_decref(l2);
	json_decref(up);
	return r;
}

static int check_overlap(struct http_request *req, const json_t *doc, const struct l3_plan *p,
                         struct kerr *e)
{
	struct list_query q;
	json_t *items = NULL, *it;
	int64_t total;
	size_t i;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "l2_network_id", jstr(doc, "l2_network_id"));
	q.limit = 0; /* all */
	r = store_list("l3-networks", &q, &items, &total);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the L2 network's L3 networks");
	r = 0;
	json_array_foreach(items, i, it)
	{
		uint32_t net, pfx;

		if (cidr_parse(jstr(it, "cidr"), &net, &pfx) < 0)
			continue;
		if (!cidr_overlap(net, pfx, p->network, p->prefix_len))
			continue;
		/* Name the other network only to those who may see it. */
		if (IS_ADMIN(req) || jbool(it, "shared", false) ||
		    (jstr(it, "account_id") &&
		     !strcmp(jstr(it, "account_id"), AUTH(req)->account_id)))
			r = kerr_set(e, -EEXIST, "cidr",
			             "%s overlaps %s of L3 network %s on the same L2 network",
			             jstr(doc, "cidr"), jstr(it, "cidr"), jstr(it, "name"));
		else
			r = kerr_set(e, -EEXIST, "cidr",
			             "%s overlaps another account's network on the same L2 network",
			             jstr(doc, "cidr"));
		break;
	}
	json_decref(items);
	return r;
}

static int l3_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	struct l3_plan p;
	json_t *ranges;
	char a[16], b[16];
	int r;

	r = api_ref(&kind_l2, req, jstr(doc, "l2_network_id"), "l2_network_id", NULL, e);
	if (r < 0)
		return r;
	if (jbool(doc, "shared", false) && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "shared", "only admins may share a network");
	if (jbool(doc, "public", false) && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "public", "only admins may make a public network");
	r = check_services(doc, e);
	if (r < 0)
		return r;
	r = check_public_uplink(req, doc, e);
	if (r < 0)
		return r;
	r = ipam_plan_from_json(doc, &p, e);
	if (r < 0)
		return r;
	r = check_overlap(req, doc, &p, e);
	if (r < 0)
		return r;
	/* Store the plan as resolved, so that defaults are visible. */
	if (p.gateway) {
		ip_format(p.gateway, a);
		jset_str(doc, "gateway", a);
	}
	ranges = json_array();
	for (int i = 0; i < p.nranges; i++) {
		ip_format(p.ranges[i].start, a);
		ip_format(p.ranges[i].end, b);
		json_array_append_new(ranges, json_pack("{s:s,s:s}", "start", a, "end", b));
	}
	json_object_set_new(doc, "ip_ranges", ranges);
	if (!json_object_get(doc, "services"))
		json_object_set_new(
		    doc, "services",
		    jbool(doc, "public", false) ? json_array() : json_pack("[s,s]", "dhcp", "dns"));
	if (!json_object_get(doc, "public"))
		jset_bool(doc, "public", false);
	if (!json_object_get(doc, "uplink_l3_network_id"))
		json_object_set_new(doc, "uplink_l3_network_id", json_null());
	if (!json_object_get(doc, "dns"))
		json_object_set_new(doc, "dns", json_array());
	if (!json_object_get(doc, "shared"))
		jset_bool(doc, "shared", false);
	jset_int(doc, "ip_total", ipam_plan_size(&p));
	return 0;
}

static int l3_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	if (jbool(doc, "shared", false) != jbool(old, "shared", false) && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "shared", "only admins may share a network");
	return 0;
}

/* Releases the hosts' uplink addresses on public L3 pub: those serving
 * private L3 l3_id, or all when l3_id is NULL. */
static int release_uplinks(const char *pub, const char *l3_id)
{
	json_t *owners = NULL, *o;
	size_t i, n = l3_id ? strlen(l3_id) : 0;
	int r;

	r = store_ip_owners(pub, "uplink:", &owners);
	if (r < 0)
		return r;
	json_array_foreach(owners, i, o)
	{
		const char *own = jstr(o, "owner_id");
		size_t len = own ? strlen(own) : 0;

		if (l3_id && (len <= n || strcmp(own + len - n, l3_id) != 0))
			continue;
		r = store_ip_release(pub, (uint32_t)jint(o, "ip", 0));
		if (r < 0)
			break;
	}
	json_decref(owners);
	return r;
}

static int l3_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	char names[256];
	int64_t n = 0;

	(void)req;
	if (netapi_users("l3-networks", "uplink_l3_network_id", jstr(doc, "id"), names,
	                 sizeof(names), &n) < 0)
		return kerr_set(e, -EIO, "", "cannot read the L3 networks");
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "in use: the uplink of L3 networks %s", names);
	if (netapi_users("eips", "l3_network_id", jstr(doc, "id"), names, sizeof(names), &n) < 0)
		return kerr_set(e, -EIO, "", "cannot read the EIPs");
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "in use: it holds EIPs %s", names);
	/* hosts' legs (netsync.c, owners "uplink:<host>:<l3>") go with the
	 * network they serve: no private L3 names this one as uplink now */
	if (release_uplinks(jstr(doc, "id"), NULL) < 0 ||
	    (jstr(doc, "uplink_l3_network_id") &&
	     release_uplinks(jstr(doc, "uplink_l3_network_id"), jstr(doc, "id")) < 0))
		return kerr_set(e, -EIO, "", "cannot release the hosts' uplink addresses");
	if (store_ip_count(jstr(doc, "id"), &n) < 0)
		return kerr_set(e, -EIO, "", "cannot read the network's addresses");
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "in use: %lld addresses are allocated to VMs",
		                (long long)n);
	return 0;
}

static void l3_present(json_t *doc)
{
	int64_t n = 0;

	store_ip_count(jstr(doc, "id"), &n);
	jset_int(doc, "ip_used", n);
	/* networks made before issue 4 */
	if (!json_object_get(doc, "public"))
		jset_bool(doc, "public", false);
	if (!json_object_get(doc, "uplink_l3_network_id"))
		json_object_set_new(doc, "uplink_l3_network_id", json_null());
}

const struct kind kind_l3 = {
	.name = "l3-networks",
	.singular = "L3 network",
	.schema = &l3_schema,
	.create = &l3_create_schema,
	.update = &l3_update_schema,
	.scope = SCOPE_ACCOUNT_PUBLIC,
	.unique_name = true,
	.on_create = l3_on_create,
	.on_update = l3_on_update,
	.on_delete = l3_on_delete,
	.present = l3_present,
};

API_CRUD_HANDLERS(l3, kind_l3)

const struct route api_l3_routes[] = {
	API_CRUD_ROUTES("l3-networks", "l3-networks", l3_list, l3_get, l3_create, l3_update,
	                l3_delete, ROLE_VIEWER, ROLE_MEMBER, &l3_create_schema, &l3_update_schema),
	{ NULL },
};
