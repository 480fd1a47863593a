// SPDX-License-Identifier: MIT
/*
 * Keeping the hosts' networks in step with the store (netsync.h). A host's
 * spec (src/agent/net.h documents it) is built from its VMs' NICs: their
 * L3 and L2 networks, the other VMs of those L3s (DNS names, VXLAN peers),
 * security groups with the members of the groups their rules name, EIPs
 * and port forwardings, and the host's own leg on each public uplink
 * (an address from the public L3, owner "uplink:<host>:<l3>", taken here
 * when first needed and given back when the host no longer needs it).
 *
 * A pass builds the spec of every host that may need one and queues
 * net.apply where the spec's digest differs from the one sent last. Passes
 * run in a job (net.update, from API changes: it ends when the hosts have
 * applied it) or in the background after netsync_kick (VMs created or
 * removed, hosts back). One pass at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/host.h"
#include "kumod/ipam.h"
#include "kumod/jobs.h"
#include "kumod/netsync.h"
#include "kumod/store.h"

#define NETSYNC_DEBOUNCE_MS 50

static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t kick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kick_cond = PTHREAD_COND_INITIALIZER;
static bool kicked, stopping, started;
static pthread_t thread;
static json_t *sent; /* host id -> digest (string) of the spec sent last; pass_lock */
static _Atomic int64_t generation;

/* Caches of one pass: documents are read once however many hosts use them. */
struct pass {
	json_t *docs;     /* "kind/id" -> doc or null */
	json_t *members;  /* l3 id -> [{vm_id,name,host_id,ip,nic_id}] */
	json_t *acct_vms; /* account id -> [vm docs] */
	json_t *publics;  /* [public l3 docs], NULL until read */
	json_t *by_nic;   /* kind -> nic id -> [eips or port-forwardings], NULL until read */
};

static void pass_init(struct pass *p)
{
	p->docs = json_object();
	p->members = json_object();
	p->acct_vms = json_object();
	p->publics = NULL;
	p->by_nic = NULL;
}

static void pass_free(struct pass *p)
{
	json_decref(p->docs);
	json_decref(p->members);
	json_decref(p->acct_vms);
	json_decref(p->publics);
	json_decref(p->by_nic);
}

/* A document by kind and id through the pass's cache; NULL if missing. Borrowed. */
static json_t *doc(struct pass *p, const char *kind, const char *id)
{
	char key[160];
	json_t *d;

	if (!id)
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", kind, id);
	d = json_object_get(p->docs, key);
	if (d)
		return json_is_null(d) ? NULL : d;
	if (store_get(kind, id, NULL, false, &d) < 0)
		d = json_null();
	json_object_set_new(p->docs, key, d);
	return json_is_null(d) ? NULL : d;
}

static json_t *list_all(const char *kind, const char *field, const char *value)
{
	struct list_query q;
	json_t *items = NULL;
	int64_t total;

	list_query_init(&q);
	if (field)
		query_add_eq(&q, field, value);
	q.limit = 0;
	if (store_list(kind, &q, &items, &total) < 0)
		items = json_array();
	list_query_free(&q);
	return items;
}

static const json_t *vm_nic_on(const json_t *vm, const char *l3_id)
{
	const json_t *nic;
	size_t i;

	json_array_foreach(json_object_get(vm, "nics"), i, nic)
	{
		if (jstr(nic, "l3_network_id") && !strcmp(jstr(nic, "l3_network_id"), l3_id))
			return nic;
	}
	return NULL;
}

/* Every VM NIC on an L3, on every host, from its address allocations. Borrowed. */
static json_t *l3_members(struct pass *p, const char *l3_id)
{
	json_t *m = json_object_get(p->members, l3_id), *owners = NULL, *o;
	size_t i;

	if (m)
		return m;
	m = json_array();
	if (store_ip_owners(l3_id, NULL, &owners) == 0) {
		json_array_foreach(owners, i, o)
		{
			json_t *vm = doc(p, "vms", jstr(o, "owner_id"));
			const json_t *nic = vm ? vm_nic_on(vm, l3_id) : NULL;

			if (!nic || !jstr(nic, "ip") || !jstr(vm, "host_id"))
				continue;
			json_array_append_new(
			    m, json_pack("{s:s,s:s,s:s,s:s,s:s}", "vm_id", jstr(vm, "id"), "name",
			                 jstr(vm, "name"), "host_id", jstr(vm, "host_id"), "ip",
			                 jstr(nic, "ip"), "nic_id", jstr(nic, "id")));
		}
	}
	json_decref(owners);
	json_object_set_new(p->members, l3_id, m);
	return m;
}

static bool str_in(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
	{
		if (json_string_value(v) && !strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

static void add_unique(json_t *arr, const char *s)
{
	if (s && !str_in(arr, s))
		json_array_append_new(arr, json_string(s));
}

/* Addresses of the NICs in a security group: its account's VMs' NICs. */
static json_t *sg_members(struct pass *p, const json_t *sg)
{
	const char *acct = jstr(sg, "account_id");
	json_t *vms, *ips = json_array(), *vm;
	size_t i;

	if (!acct)
		return ips;
	vms = json_object_get(p->acct_vms, acct);
	if (!vms) {
		vms = list_all("vms", "account_id", acct);
		json_object_set_new(p->acct_vms, acct, vms);
	}
	json_array_foreach(vms, i, vm)
	{
		const json_t *nic;
		size_t k;

		json_array_foreach(json_object_get(vm, "nics"), k, nic)
		{
			if (jstr(nic, "ip") &&
			    str_in(json_object_get(nic, "security_group_ids"), jstr(sg, "id")))
				add_unique(ips, jstr(nic, "ip"));
		}
	}
	return ips;
}

static json_t *sg_spec(struct pass *p, const json_t *sg)
{
	json_t *rules = json_array(), *rule;
	size_t i;

	json_array_foreach(json_object_get(sg, "rules"), i, rule)
	{
		const char *proto = jstr(rule, "protocol") ? jstr(rule, "protocol") : "all";
		bool ports = !strcmp(proto, "tcp") || !strcmp(proto, "udp");
		json_t *r = json_pack(
		    "{s:s,s:s,s:I,s:I}", "direction",
		    jstr(rule, "direction") ? jstr(rule, "direction") : "ingress", "protocol",
		    proto, "port_start", (json_int_t)(ports ? jint(rule, "port_start", 1) : 0),
		    "port_end", (json_int_t)(ports ? jint(rule, "port_end", 65535) : 65535));

		if (jstr(rule, "remote_group_id")) {
			json_t *g = doc(p, "security-groups", jstr(rule, "remote_group_id"));

			json_object_set_new(r, "cidr", json_null());
			json_object_set_new(r, "remote_group_members",
			                    g ? sg_members(p, g) : json_array());
		} else {
			jset_str(r, "cidr", jstr(rule, "cidr") ? jstr(rule, "cidr") : "0.0.0.0/0");
			json_object_set_new(r, "remote_group_members", json_null());
		}
		json_array_append_new(rules, r);
	}
	return json_pack("{s:s,s:o}", "id", jstr(sg, "id"), "rules", rules);
}

/* "02:" and five bytes of the L3's id: the same gateway MAC on every host. */
static void gateway_mac(const char *l3_id, char out[18])
{
	unsigned b[5] = { 0 };
	char hex[11];
	int n = 0;

	for (const char *s = l3_id; *s && n < 10; s++)
		if (*s != '-')
			hex[n++] = *s;
	hex[n] = '\0';
	for (int i = 0; i < 5 && 2 * i + 1 < n; i++)
		sscanf(hex + 2 * i, "%2x", &b[i]);
	snprintf(out, 18, "02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]);
}

/* A DNS label from a name: lower case, [a-z0-9-], at most 63. */
static void dns_label(const char *name, char *out, size_t outlen)
{
	size_t n = 0;

	for (const char *s = name; *s && n + 1 < outlen && n < 63; s++) {
		char c = *s;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		out[n++] = c;
	}
	out[n] = '\0';
	if (!n)
		snprintf(out, outlen, "net");
}

static bool has_service(const json_t *l3, const char *svc)
{
	return str_in(json_object_get(l3, "services"), svc);
}

static json_t *public_l3s(struct pass *p)
{
	json_t *all, *l3;
	size_t i;

	if (p->publics)
		return p->publics;
	p->publics = json_array();
	all = list_all("l3-networks", NULL, NULL);
	json_array_foreach(all, i, l3)
	{
		if (jbool(l3, "public", false))
			json_array_append(p->publics, l3);
	}
	json_decref(all);
	return p->publics;
}

/* This host's address on the public L3 for a private L3's namespace:
 * kept, or taken from the public L3's ranges. */
static int uplink_ip(const json_t *pub, const char *host_id, const char *l3_id, uint32_t *ret,
                     struct kerr *e)
{
	char owner[128];
	json_t *owners = NULL;
	struct l3_plan plan;
	uint32_t *used = NULL, ip;
	int nused = 0, r;

	snprintf(owner, sizeof(owner), "uplink:%s:%s", host_id, l3_id);
	r = store_ip_owners(jstr(pub, "id"), owner, &owners);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the addresses of %s", jstr(pub, "name"));
	if (json_array_size(owners) > 0) {
		*ret = (uint32_t)jint(json_array_get(owners, 0), "ip", 0);
		json_decref(owners);
		return 0;
	}
	json_decref(owners);
	r = ipam_plan_from_json(pub, &plan, e);
	if (r < 0)
		return r;
	r = store_ip_list(jstr(pub, "id"), &used, &nused);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the addresses of %s", jstr(pub, "name"));
	r = ipam_pick(&plan, used, nused, &ip);
	free(used);
	if (r < 0)
		return kerr_set(e, -ENOSPC, "", "public network %s has no free address for host %s",
		                jstr(pub, "name"), host_id);
	r = store_ip_take(jstr(pub, "id"), ip, owner);
	if (r < 0)
		return kerr_set(e, r, "", "cannot take an address on %s", jstr(pub, "name"));
	*ret = ip;
	return 0;
}

/* Gives back this host's uplink addresses for L3s it no longer serves. */
static void uplinks_sweep(struct pass *p, const char *host_id, const json_t *l3_ids)
{
	json_t *pubs = public_l3s(p), *pub;
	char prefix[80];
	size_t i;

	snprintf(prefix, sizeof(prefix), "uplink:%s:", host_id);
	json_array_foreach(pubs, i, pub)
	{
		json_t *owners = NULL, *o;
		size_t k;

		if (store_ip_owners(jstr(pub, "id"), prefix, &owners) < 0)
			continue;
		json_array_foreach(owners, k, o)
		{
			const char *l3 = jstr(o, "owner_id") + strlen(prefix);

			if (!str_in(l3_ids, l3))
				store_ip_release(jstr(pub, "id"), (uint32_t)jint(o, "ip", 0));
		}
		json_decref(owners);
	}
}

static json_t *l2_spec(struct pass *p, const json_t *l2, const char *host_id)
{
	json_t *s = json_pack("{s:s,s:s,s:O,s:O,s:O,s:n,s:[]}", "id", jstr(l2, "id"), "type",
	                      jstr(l2, "type"), "physical_interface",
	                      json_object_get(l2, "physical_interface") ?: json_null(), "vni",
	                      json_object_get(l2, "vni") ?: json_null(), "vlan",
	                      json_object_get(l2, "vlan") ?: json_null(), "mtu", "peers");

	if (!strcmp(jstr(l2, "type"), "vxlan")) {
		json_t *l3s = list_all("l3-networks", "l2_network_id", jstr(l2, "id")), *l3;
		json_t *peers = json_object_get(s, "peers");
		size_t i;

		json_array_foreach(l3s, i, l3)
		{
			json_t *m = l3_members(p, jstr(l3, "id")), *v;
			size_t k;

			json_array_foreach(m, k, v)
			{
				json_t *h;

				if (!strcmp(jstr(v, "host_id"), host_id))
					continue;
				h = doc(p, "hosts", jstr(v, "host_id"));
				if (h && jstr(h, "address"))
					add_unique(peers, jstr(h, "address"));
			}
		}
		json_decref(l3s);
	}
	return s;
}

static json_t *nic_metadata(const json_t *vm, const json_t *nic, const char *public_ip)
{
	json_t *keys = json_object_get(vm, "ssh_keys");

	return json_pack("{s:s,s:s,s:s,s:s?,s:O,s:O}", "instance_id", jstr(vm, "id"), "hostname",
	                 jstr(vm, "name"), "local_ipv4", jstr(nic, "ip"), "public_ipv4", public_ip,
	                 "public_keys", keys ? keys : json_array(), "user_data",
	                 json_object_get(vm, "user_data") ?: json_null());
}

/* The EIPs or port forwardings (kind) of a NIC: every one of the kind is
 * read once per pass, not once per NIC. Borrowed; NULL when none. */
static json_t *of_nic(struct pass *p, const char *kind, const char *nic_id)
{
	json_t *idx, *all, *v;
	size_t i;

	if (!p->by_nic)
		p->by_nic = json_object();
	idx = json_object_get(p->by_nic, kind);
	if (!idx) {
		idx = json_object();
		json_object_set_new(p->by_nic, kind, idx);
		all = list_all(kind, NULL, NULL);
		json_array_foreach(all, i, v)
		{
			const char *n = jstr(v, "nic_id");

			if (!n)
				continue;
			if (!json_object_get(idx, n))
				json_object_set_new(idx, n, json_array());
			json_array_append(json_object_get(idx, n), v);
		}
		json_decref(all);
	}
	return json_object_get(idx, nic_id);
}

/* Adds what one local NIC brings to its L3's spec: EIPs and port forwards. */
static const char *nic_nat(struct pass *p, const json_t *nic, json_t *l3s)
{
	json_t *eips = of_nic(p, "eips", jstr(nic, "id"));
	json_t *pfs = of_nic(p, "port-forwardings", jstr(nic, "id")), *v;
	json_t *l3 = json_object_get(l3s, jstr(nic, "l3_network_id"));
	static __thread char pub[16];
	const char *ret = NULL;
	size_t i;

	json_array_foreach(eips, i, v)
	{
		if (!jstr(v, "ip"))
			continue;
		json_array_append_new(
		    json_object_get(l3, "eips"),
		    json_pack("{s:s,s:s}", "ip", jstr(v, "ip"), "private_ip", jstr(nic, "ip")));
		snprintf(pub, sizeof(pub), "%s", jstr(v, "ip"));
		ret = pub;
	}
	json_array_foreach(pfs, i, v)
	{
		const char *pip = jstr(v, "public_ip");
		int64_t start = jint(v, "public_port_start", 0);

		if (!pip)
			continue;
		json_array_append_new(
		    json_object_get(l3, "port_forwards"),
		    json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:I,s:s}", "id", jstr(v, "id"), "public_ip",
		              pip, "protocol", jstr(v, "protocol") ? jstr(v, "protocol") : "tcp",
		              "public_port_start", (json_int_t)start, "public_port_end",
		              (json_int_t)jint(v, "public_port_end", start), "private_ip",
		              jstr(nic, "ip"), "private_port_start",
		              (json_int_t)jint(v, "private_port_start", start), "allowed_cidr",
		              jstr(v, "allowed_cidr") ? jstr(v, "allowed_cidr") : "0.0.0.0/0"));
	}
	return ret;
}

static int l3_spec(struct pass *p, const json_t *l3, const char *host_id, json_t *l2s, json_t **ret,
                   struct kerr *e)
{
	char mac[18], label[64], domain[80];
	json_t *s, *hosts = json_array(), *m, *v, *l2;
	size_t i;

	gateway_mac(jstr(l3, "id"), mac);
	dns_label(jstr(l3, "name"), label, sizeof(label));
	snprintf(domain, sizeof(domain), "%s.kumo", label);
	m = l3_members(p, jstr(l3, "id"));
	json_array_foreach(m, i, v)
	{
		char name[64];

		dns_label(jstr(v, "name"), name, sizeof(name));
		json_array_append_new(hosts,
		                      json_pack("{s:s,s:s}", "name", name, "ip", jstr(v, "ip")));
	}
	s = json_pack(
	    "{s:s,s:s,s:s,s:s,s:O,s:s,s:O,s:s,s:O,s:b,s:o,s:n,s:[],s:[]}", "id", jstr(l3, "id"),
	    "l2_id", jstr(l3, "l2_network_id"), "name", jstr(l3, "name"), "cidr", jstr(l3, "cidr"),
	    "gateway", json_object_get(l3, "gateway") ?: json_null(), "gateway_mac", mac, "dns",
	    json_object_get(l3, "dns") ?: json_array(), "domain", domain, "services",
	    json_object_get(l3, "services") ?: json_array(), "public", jbool(l3, "public", false),
	    "hosts", hosts, "uplink", "eips", "port_forwards");
	l2 = doc(p, "l2-networks", jstr(l3, "l2_network_id"));
	if (!l2) {
		json_decref(s);
		return kerr_set(e, -ENOENT, "", "L2 network of %s is gone", jstr(l3, "name"));
	}
	if (!json_object_get(l2s, jstr(l2, "id")))
		json_object_set_new(l2s, jstr(l2, "id"), l2_spec(p, l2, host_id));
	if (!jbool(l3, "public", false) && jstr(l3, "uplink_l3_network_id") &&
	    (has_service(l3, "snat") || has_service(l3, "eip") ||
	     has_service(l3, "port_forwarding"))) {
		const json_t *pub = doc(p, "l3-networks", jstr(l3, "uplink_l3_network_id"));
		const json_t *pl2 = pub ? doc(p, "l2-networks", jstr(pub, "l2_network_id")) : NULL;
		uint32_t net, pfx, ip = 0;
		char ips[16];
		int r;

		if (!pl2 || cidr_parse(jstr(pub, "cidr"), &net, &pfx) < 0) {
			json_decref(s);
			return kerr_set(e, -ENOENT, "", "the uplink of %s is gone",
			                jstr(l3, "name"));
		}
		r = uplink_ip(pub, host_id, jstr(l3, "id"), &ip, e);
		if (r < 0) {
			json_decref(s);
			return r;
		}
		ip_format(ip, ips);
		json_object_set_new(s, "uplink",
		                    json_pack("{s:s,s:s,s:s,s:I,s:O}", "l3_id", jstr(pub, "id"),
		                              "l2_id", jstr(pl2, "id"), "ip", ips, "prefix",
		                              (json_int_t)pfx, "gateway",
		                              json_object_get(pub, "gateway") ?: json_null()));
		if (!json_object_get(l2s, jstr(pl2, "id")))
			json_object_set_new(l2s, jstr(pl2, "id"), l2_spec(p, pl2, host_id));
	}
	*ret = s;
	return 0;
}

static void host_vms_sorted(const char *host_id, json_t **ret)
{
	/* a VM migrating here needs its taps here before it arrives */
	json_t *in = list_all("vms", "migrating_to", host_id), *v;
	size_t i;

	*ret = list_all("vms", "host_id", host_id);
	json_array_foreach(in, i, v) json_array_append(*ret, v);
	json_decref(in);
}

static int build_spec(struct pass *p, const json_t *host, json_t **ret, struct kerr *e)
{
	const char *host_id = jstr(host, "id");
	json_t *vms, *vm, *l3s = json_object(), *l2s = json_object(), *nics = json_array();
	json_t *sgs = json_object(), *l3_ids = json_array(), *spec, *arr, *v;
	const char *key;
	size_t i;
	int r = 0;

	host_vms_sorted(host_id, &vms);
	json_array_foreach(vms, i, vm)
	{
		json_t *nic;
		size_t k;

		json_array_foreach(json_object_get(vm, "nics"), k, nic)
		{
			const char *l3_id = jstr(nic, "l3_network_id"), *pub;
			json_t *l3 = doc(p, "l3-networks", l3_id), *sg;
			size_t g;

			if (!l3 || !jstr(nic, "ip"))
				continue;
			if (!json_object_get(l3s, l3_id)) {
				json_t *s = NULL;

				r = l3_spec(p, l3, host_id, l2s, &s, e);
				if (r < 0)
					goto out;
				json_object_set_new(l3s, l3_id, s);
				add_unique(l3_ids, l3_id);
			}
			pub = nic_nat(p, nic, l3s);
			json_array_foreach(json_object_get(nic, "security_group_ids"), g, sg)
			{
				const char *sg_id = json_string_value(sg);
				json_t *d = doc(p, "security-groups", sg_id);

				if (d && !json_object_get(sgs, sg_id))
					json_object_set_new(sgs, sg_id, sg_spec(p, d));
			}
			json_array_append_new(
			    nics,
			    json_pack(
			        "{s:s,s:s,s:s,s:s,s:s,s:O,s:I,s:I,s:n,s:o}", "id", jstr(nic, "id"),
			        "vm_id", jstr(vm, "id"), "l3_id", l3_id, "mac", jstr(nic, "mac"),
			        "ip", jstr(nic, "ip"), "security_groups",
			        json_object_get(nic, "security_group_ids") ?: json_array(),
			        "bandwidth_in_kbps", (json_int_t)jint(nic, "bandwidth_in_kbps", 0),
			        "bandwidth_out_kbps",
			        (json_int_t)jint(nic, "bandwidth_out_kbps", 0), "netns", "metadata",
			        nic_metadata(vm, nic, pub)));
		}
	}
	uplinks_sweep(p, host_id, l3_ids);
	spec = json_pack("{s:I,s:s,s:s?,s:[],s:[],s:o,s:[]}", "generation", (json_int_t)0,
	                 "host_id", host_id, "underlay_ip", jstr(host, "address"), "l2", "l3",
	                 "nics", nics, "security_groups");
	nics = NULL;
	/* objects in a stable order, so that equal states have equal digests */
	arr = json_object_get(spec, "l2");
	json_object_foreach(l2s, key, v) json_array_append(arr, v);
	arr = json_object_get(spec, "l3");
	json_object_foreach(l3s, key, v) json_array_append(arr, v);
	arr = json_object_get(spec, "security_groups");
	json_object_foreach(sgs, key, v) json_array_append(arr, v);
	*ret = spec;
out:
	json_decref(vms);
	json_decref(l3s);
	json_decref(l2s);
	json_decref(nics);
	json_decref(sgs);
	json_decref(l3_ids);
	return r;
}

/* FNV-1a of the spec's canonical text, as 16 hex digits. */
static void digest(const json_t *spec, char out[17])
{
	char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = fnv1a(FNV1A_INIT, text ? text : "", text ? strlen(text) : 0);

	free(text);
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void stamp(json_t *spec)
{
	jset_int(spec, "generation", atomic_fetch_add(&generation, 1) + 1);
}

static bool host_wants_net(const json_t *host, const json_t *spec)
{
	const char *driver = jstr(json_object_get(host, "facts"), "driver");

	if (json_array_size(json_object_get(spec, "nics")) > 0)
		return true;
	/* a qemu host with nothing: an empty spec removes what it had */
	return driver && !strcmp(driver, "qemu");
}

/* One pass over the hosts. job: the net.update job the commands belong to,
 * or NULL. Inside the caller's transaction. *ret_n: commands queued. */
static int pass_run(json_t *job, int *ret_n, struct kerr *e)
{
	json_t *hosts = list_all("hosts", NULL, NULL), *h;
	struct pass p;
	size_t i;
	int n = 0, r = 0;

	pass_init(&p);
	pthread_mutex_lock(&pass_lock);
	if (!sent)
		sent = json_object();
	json_array_foreach(hosts, i, h)
	{
		const char *id = jstr(h, "id");
		json_t *spec = NULL, *payload;
		char d[17];

		if (!host_connected(id)) {
			json_object_del(sent, id);
			continue;
		}
		r = build_spec(&p, h, &spec, e);
		if (r < 0)
			break;
		if (!host_wants_net(h, spec) && !json_object_get(sent, id)) {
			json_decref(spec);
			continue;
		}
		digest(spec, d);
		if (jstr(sent, id) && !strcmp(jstr(sent, id), d)) {
			json_decref(spec);
			continue;
		}
		stamp(spec);
		payload = json_pack("{s:o}", "spec", spec);
		r = job_command(job, id, "net.apply", payload); /* job NULL: none */
		json_decref(payload);
		if (r < 0) {
			kerr_set(e, r, "", "cannot queue the network change for host %s", id);
			break;
		}
		json_object_set_new(sent, id, json_string(d));
		n++;
	}
	if (r < 0)
		json_object_clear(sent); /* unsure what reached the store: resend all next time */
	pthread_mutex_unlock(&pass_lock);
	pass_free(&p);
	json_decref(hosts);
	*ret_n = n;
	return r;
}

int netsync_spec(const char *host_id, json_t **ret)
{
	struct kerr e = { 0 };
	json_t *host = NULL, *spec = NULL;
	struct pass p;
	char d[17];
	int r;

	r = store_get("hosts", host_id, NULL, false, &host);
	if (r < 0)
		return r;
	pass_init(&p);
	pthread_mutex_lock(&pass_lock);
	if (!sent)
		sent = json_object();
	r = build_spec(&p, host, &spec, &e);
	if (r == 0) {
		digest(spec, d);
		json_object_set_new(sent, host_id, json_string(d));
		stamp(spec);
		*ret = spec;
	} else {
		log_warn("network spec of host %s: %s", host_id, e.message);
	}
	pthread_mutex_unlock(&pass_lock);
	pass_free(&p);
	json_decref(host);
	return r;
}

void netsync_forget(const char *host_id)
{
	pthread_mutex_lock(&pass_lock);
	if (sent)
		json_object_del(sent, host_id);
	pthread_mutex_unlock(&pass_lock);
}

/* --- the net.update job ------------------------------------------------- */

int netsync_job(const char *kind, const char *id, const char *account_id, json_t **ret_job,
                struct kerr *e)
{
	json_t *job = job_new("net.update", kind, id, account_id, NULL, NULL);
	int r = job_insert(job);

	if (r < 0) {
		json_decref(job);
		return kerr_set(e, r, "", "cannot store the job");
	}
	*ret_job = job;
	return 0;
}

/* What a finished net.update job shows: its resource as it is now (a
 * deleted one as {"id", "deleted": true}), as every job's result does. */
static json_t *update_resource(const json_t *job)
{
	const char *kind = jstr(job, "resource_kind"), *id = jstr(job, "resource_id");
	json_t *d = NULL;

	if (kind && id && store_get(kind, id, NULL, false, &d) == 0)
		return d;
	return json_pack("{s:s?,s:b}", "id", id, "deleted", true);
}

static int update_run(json_t *job, struct kerr *e)
{
	int n = 0, r;

	r = pass_run(job, &n, e);
	if (r < 0)
		return r;
	if (n == 0)
		return job_finish(job, true, NULL, NULL, update_resource(job));
	{
		/* counters beside what the API put in params */
		json_t *params = json_object_get(job, "params");

		if (!json_is_object(params)) {
			params = json_object();
			json_object_set_new(job, "params", params);
		}
		jset_int(params, "hosts", n);
		jset_int(params, "pending", n);
		json_object_set_new(params, "errors", json_array());
	}
	return job_set_running(job, 0);
}

static int update_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	json_t *params = json_object_get(job, "params"), *errors;
	int64_t hosts = jint(params, "hosts", 1), pending = jint(params, "pending", 1) - 1;

	(void)data;
	if (!strcmp(status, "running"))
		return 0;
	errors = json_object_get(params, "errors");
	if (strcmp(status, "succeeded") != 0 && errors)
		json_array_append_new(
		    errors,
		    json_pack("{s:s,s:s}", "host_id", jstr(cmd, "host_id"), "message",
		              error && jstr(error, "message") ? jstr(error, "message") : "failed"));
	jset_int(params, "pending", pending);
	if (pending > 0)
		return job_set_running(job, (int)((hosts - pending) * 100 / (hosts ? hosts : 1)));
	if (json_array_size(errors) > 0) {
		const json_t *first = json_array_get(errors, 0);
		char msg[512];

		snprintf(msg, sizeof(msg), "host %s: %s%s", jstr(first, "host_id"),
		         jstr(first, "message"),
		         json_array_size(errors) > 1 ? " (and other hosts)" : "");
		return job_finish(job, false, "NetworkError", msg, NULL);
	}
	return job_finish(job, true, NULL, NULL, update_resource(job));
}

const struct job_type job_net_update = { "net.update", update_run, update_result, NULL };

/* --- background passes ----------------------------------------------------- */

void netsync_kick(void)
{
	pthread_mutex_lock(&kick_lock);
	kicked = true;
	pthread_cond_signal(&kick_cond);
	pthread_mutex_unlock(&kick_lock);
}

static void background_pass(void)
{
	struct kerr e = { 0 };
	int n = 0, r;

	r = store_begin();
	if (r < 0) {
		log_warn("network sync: store unavailable: %s", strerror(-r));
		return;
	}
	r = pass_run(NULL, &n, &e);
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	if (r < 0) {
		log_warn("network sync: %s", e.message[0] ? e.message : strerror(-r));
		netsync_kick(); /* try again */
	} else if (n > 0) {
		log_debug("network sync: %d host%s updated", n, n == 1 ? "" : "s");
	}
}

static void *main_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&kick_lock);
	while (!stopping) {
		while (!kicked && !stopping)
			pthread_cond_wait(&kick_cond, &kick_lock);
		if (stopping)
			break;
		kicked = false;
		pthread_mutex_unlock(&kick_lock);
		usleep(NETSYNC_DEBOUNCE_MS * 1000);
		background_pass();
		pthread_mutex_lock(&kick_lock);
	}
	pthread_mutex_unlock(&kick_lock);
	return NULL;
}

int netsync_start(void)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store(&generation, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	r = pthread_create(&thread, NULL, main_loop, NULL);
	if (r != 0)
		return -r;
	started = true;
	netsync_kick(); /* hosts that are back get their state */
	return 0;
}

void netsync_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&kick_lock);
	stopping = true;
	pthread_cond_broadcast(&kick_cond);
	pthread_mutex_unlock(&kick_lock);
	pthread_join(thread, NULL);
	started = false;
	pthread_mutex_lock(&pass_lock);
	json_decref(sent);
	sent = NULL;
	pthread_mutex_unlock(&pass_lock);
}
