// SPDX-License-Identifier: MIT
/*
 * A host's networks (net.h): checks a spec, compares it with what the host
 * namespace holds (links, FDB entries, qdiscs, kumo-* namespaces, kumo_*
 * tables) and changes only what differs, in a few processes: one `ip
 * -batch` for every link, one `bridge -batch` for the FDB, one `tc -batch`
 * for the queues, one `nft -f` for the host's tables, so that applying the
 * network of 100 VMs takes well under the 2 s target. The service
 * namespaces' insides are net_svc.c's; ip/bridge/tc themselves are
 * net_link.c's. Also the saved spec (restore at agent start) and the
 * `kumo-agent net-apply` command used by the tests and benchmarks.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/net.h"
#include "agent/net_link.h"
#include "agent/net_meta.h"
#include "agent/net_nft.h"
#include "agent/net_svc.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define VXLAN_PORT 4789
#define VXLAN_OVERHEAD 50
#define DEFAULT_MTU 1500
#define ZERO_MAC "00:00:00:00:00:00"
#define ERRLEN 240
#define DEL_GROUP_BASE 0x4b4d0000u /* "KM": groups of links being deleted */

int net_fail(struct driver_err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (e->code)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

void net_tap_name(const char *nic_id, char out[16])
{
	nl_name("ktp-", nic_id, out);
}

/* --- the spec ------------------------------------------------------------ */

static const struct {
	const char *name;
	enum l2_type type;
	const char *dev_prefix;
} l2_types[] = {
	{ "flat", L2_FLAT, NULL },
	{ "vxlan", L2_VXLAN, "kvx-" },
	{ "vlan", L2_VLAN, "kvl-" },
};

static const struct {
	const char *name;
	unsigned bit;
} svc_names[] = {
	{ "dhcp", SVC_DHCP },          { "dns", SVC_DNS },
	{ "snat", SVC_SNAT },          { "eip", SVC_EIP },
	{ "port_forwarding", SVC_PF }, { "security_group", SVC_SG },
	{ "metadata", SVC_META },
};

/* The link prefixes this code owns in the host namespace. */
static const char *const link_prefixes[] = { "kbr-", "kvx-", "kvl-", "ktp-", "kns-", "kup-" };

static bool our_link(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(link_prefixes); i++)
		if (str_startswith(name, link_prefixes[i]))
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *net_host_interfaces(size_t max)
{
	json_t *list = json_array();
	struct if_nameindex *all = if_nameindex(); /* this namespace's, by netlink */
	char **names = xcalloc(max ? max : 1, sizeof(*names));
	size_t n = 0;

	for (struct if_nameindex *i = all; i && i->if_index && n < max; i++)
		if (strcmp(i->if_name, "lo") != 0 && !our_link(i->if_name))
			names[n++] = xstrdup(i->if_name);
	if (all)
		if_freenameindex(all);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(list, json_string(names[i]));
		free(names[i]);
	}
	free(names);
	return list;
}

static void nspec_free(struct nspec *s)
{
	json_decref(s->j);
	free(s->l2);
	free(s->l3);
	free(s->nic);
	memset(s, 0, sizeof(*s));
}

/* The 8 hex digits names carry must tell objects of one kind apart. */
static bool x8_same(const char *a, const char *b)
{
	return !strncasecmp(a, b, 8);
}

static struct nspec_l2 *l2_find(struct nspec *s, const char *id)
{
	for (size_t i = 0; id && i < s->nl2; i++)
		if (!strcasecmp(s->l2[i].id, id))
			return &s->l2[i];
	return NULL;
}

static struct nspec_l3 *l3_find(struct nspec *s, const char *id)
{
	for (size_t i = 0; id && i < s->nl3; i++)
		if (!strcasecmp(s->l3[i].id, id))
			return &s->l3[i];
	return NULL;
}

static bool ipv4_array_ok(const json_t *a, size_t max)
{
	size_t i;
	json_t *v;

	if (!a || json_is_null(a))
		return true;
	if (!json_is_array(a) || json_array_size(a) > max)
		return false;
	json_array_foreach(a, i, v)
	{
		if (!nl_ipv4_valid(json_string_value(v)))
			return false;
	}
	return true;
}

/* Fills err; returns -EINVAL. */
static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool isalnum_c(char c)
{
	return isalnum((unsigned char)c) != 0;
}

/* A DNS domain: labels of [A-Za-z0-9-], dots between. */
static bool domain_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum_c(s[i]) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static int parse_l2(struct nspec *s, const json_t *o, struct nspec_l2 *l, char *err, size_t len)
{
	const char *type = jstr(o, "type");
	size_t t;

	l->id = jstr(o, "id");
	if (!uuid_valid(l->id))
		return bad(err, len, "an L2 network has no valid id");
	for (t = 0; t < ARRAY_SIZE(l2_types); t++)
		if (type && !strcmp(type, l2_types[t].name))
			break;
	if (t == ARRAY_SIZE(l2_types))
		return bad(err, len, "L2 %s: type is not flat, vxlan or vlan", l->id);
	l->type = l2_types[t].type;
	l->phys = jstr(o, "physical_interface");
	if (l->phys && (!nl_ifname_valid(l->phys) || our_link(l->phys)))
		return bad(err, len, "L2 %s: physical_interface is not a valid interface name",
		           l->id);
	l->vni = jint(o, "vni", 0);
	l->vlan = jint(o, "vlan", 0);
	l->mtu_req = jint(o, "mtu", 0);
	l->peers = json_object_get(o, "peers");
	if (l->type == L2_VXLAN && (l->vni < 1 || l->vni > 16777215))
		return bad(err, len, "L2 %s: vni is not in 1..16777215", l->id);
	if (l->type == L2_VLAN && (l->vlan < 1 || l->vlan > 4094 || !l->phys))
		return bad(err, len, "L2 %s: a VLAN needs vlan 1..4094 and a physical_interface",
		           l->id);
	if (l->mtu_req && (l->mtu_req < 576 || l->mtu_req > 65535))
		return bad(err, len, "L2 %s: mtu is not in 576..65535", l->id);
	if (!ipv4_array_ok(l->peers, NET_PEERS_MAX))
		return bad(err, len, "L2 %s: peers must be IPv4 addresses", l->id);
	nl_name("kbr-", l->id, l->br);
	if (l2_types[t].dev_prefix)
		nl_name(l2_types[t].dev_prefix, l->id, l->dev);
	for (struct nspec_l2 *p = s->l2; p < l; p++)
		if (x8_same(p->id, l->id))
			return bad(err, len, "L2 %s and %s share their first 8 hex digits", p->id,
			           l->id);
	return 0;
}

static int parse_l3(struct nspec *s, const char *hx8, const json_t *o, struct nspec_l3 *l,
                    char *err, size_t len)
{
	const json_t *svcs = json_object_get(o, "services"), *up = json_object_get(o, "uplink");
	char x8[IFNAMSIZ];
	size_t i;
	json_t *v;

	l->j = o;
	l->id = jstr(o, "id");
	if (!uuid_valid(l->id))
		return bad(err, len, "an L3 network has no valid id");
	l->l2 = l2_find(s, jstr(o, "l2_id"));
	if (!l->l2)
		return bad(err, len, "L3 %s: its l2_id is not in the spec's l2 list", l->id);
	if (nl_cidr_parse(jstr(o, "cidr"), l->net, l->mask, &l->prefix) < 0)
		return bad(err, len, "L3 %s: cidr is not an IPv4 CIDR", l->id);
	l->gw = jstr(o, "gateway");
	l->gw_mac = jstr(o, "gateway_mac");
	l->domain = jstr(o, "domain");
	if (l->gw && !nl_ipv4_valid(l->gw))
		return bad(err, len, "L3 %s: gateway is not an IPv4 address", l->id);
	if (l->gw_mac && !nl_mac_valid(l->gw_mac))
		return bad(err, len, "L3 %s: gateway_mac is not a MAC address", l->id);
	if (l->domain && !domain_valid(l->domain))
		return bad(err, len, "L3 %s: domain is not a DNS domain", l->id);
	l->dns = json_object_get(o, "dns");
	if (!ipv4_array_ok(l->dns, NET_DNS_MAX))
		return bad(err, len, "L3 %s: dns must be at most %d IPv4 addresses", l->id,
		           NET_DNS_MAX);
	json_array_foreach(svcs, i, v)
	{
		for (size_t k = 0; k < ARRAY_SIZE(svc_names); k++)
			if (json_is_string(v) && !strcmp(json_string_value(v), svc_names[k].name))
				l->svc |= svc_names[k].bit;
	}
	l->pub = jbool(o, "public", false);
	l->hosts = json_object_get(o, "hosts");
	l->eips = json_object_get(o, "eips");
	l->pfs = json_object_get(o, "port_forwards");
	if (json_array_size(l->hosts) > NET_HOSTS_MAX ||
	    json_array_size(l->eips) + json_array_size(l->pfs) > NET_ADDRS_MAX)
		return bad(err, len, "L3 %s: too many hosts, EIPs or port forwards", l->id);
	json_array_foreach(l->eips, i, v)
	{
		if (!nl_ipv4_valid(jstr(v, "ip")))
			return bad(err, len, "L3 %s: an EIP has no valid ip", l->id);
	}
	json_array_foreach(l->pfs, i, v)
	{
		if (!nl_ipv4_valid(jstr(v, "public_ip")))
			return bad(err, len, "L3 %s: a port forward has no valid public_ip", l->id);
	}
	if (json_is_object(up)) {
		l->up_l2 = l2_find(s, jstr(up, "l2_id"));
		l->up_ip = jstr(up, "ip");
		l->up_gw = jstr(up, "gateway");
		l->up_prefix = (int)jint(up, "prefix", -1);
		if (!l->up_l2 || !nl_ipv4_valid(l->up_ip) || l->up_prefix < 0 ||
		    l->up_prefix > 32 || (l->up_gw && !nl_ipv4_valid(l->up_gw)))
			return bad(err, len,
			           "L3 %s: uplink needs an l2_id of the spec, ip, prefix and "
			           "gateway",
			           l->id);
	}
	l->needs_ns = !l->pub && (l->svc & SVC_IN_NS);
	if (l->needs_ns && (!l->gw || !l->gw_mac))
		return bad(err, len, "L3 %s: its services need a gateway and gateway_mac", l->id);
	nl_name("", l->id, x8);
	snprintf(l->ns, sizeof(l->ns), "kumo-%s-%s", hx8, x8);
	nl_name("kns-", l->id, l->kns);
	nl_name("kup-", l->id, l->kup);
	for (struct nspec_l3 *p = s->l3; p < l; p++)
		if (x8_same(p->id, l->id))
			return bad(err, len, "L3 %s and %s share their first 8 hex digits", p->id,
			           l->id);
	return 0;
}

static int parse_nic(struct nspec *s, const json_t *o, struct nspec_nic *c, char *err, size_t len)
{
	c->j = o;
	c->id = jstr(o, "id");
	if (!uuid_valid(c->id))
		return bad(err, len, "a NIC has no valid id");
	c->l3 = l3_find(s, jstr(o, "l3_id"));
	c->mac = jstr(o, "mac");
	c->ip = jstr(o, "ip");
	c->netns = jstr(o, "netns");
	c->bw_in = jint(o, "bandwidth_in_kbps", 0);
	if (!c->l3)
		return bad(err, len, "NIC %s: its l3_id is not in the spec's l3 list", c->id);
	if (!nl_mac_valid(c->mac) || (c->ip && !nl_ipv4_valid(c->ip)))
		return bad(err, len, "NIC %s: mac or ip is not valid", c->id);
	if (c->netns && (!name_valid(c->netns) || str_startswith(c->netns, "kumo-")))
		return bad(err, len, "NIC %s: netns is not a valid namespace name", c->id);
	if (c->bw_in < 0 || c->bw_in > NET_BW_MAX)
		return bad(err, len, "NIC %s: bandwidth_in_kbps is not in 0..%d", c->id,
		           NET_BW_MAX);
	net_tap_name(c->id, c->tap);
	for (struct nspec_nic *p = s->nic; p < c; p++)
		if (x8_same(p->id, c->id))
			return bad(err, len, "NICs %s and %s share their first 8 hex digits", p->id,
			           c->id);
	return 0;
}

/* Checks spec (for host hx8) into s, which holds a reference to it. */
static int nspec_parse(const json_t *spec, const char *host_id, const char *hx8, struct nspec *s,
                       char *err, size_t len)
{
	const json_t *l2 = json_object_get(spec, "l2"), *l3 = json_object_get(spec, "l3");
	const json_t *nics = json_object_get(spec, "nics");
	size_t i;
	json_t *o;
	int r = 0;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(spec))
		return bad(err, len, "the spec is not an object");
	s->j = json_incref((json_t *)spec);
	s->gen = jint(spec, "generation", 0);
	s->host_id = jstr(spec, "host_id");
	s->underlay = jstr(spec, "underlay_ip");
	if (s->host_id && strcasecmp(s->host_id, host_id)) {
		snprintf(err, len, "the spec is for host %s, this is host %s", s->host_id, host_id);
		r = -EINVAL;
		goto fail;
	}
	if (s->underlay && !nl_ipv4_valid(s->underlay)) {
		snprintf(err, len, "underlay_ip is not an IPv4 address");
		r = -EINVAL;
		goto fail;
	}
	if ((l2 && !json_is_array(l2)) || (l3 && !json_is_array(l3)) ||
	    (nics && !json_is_array(nics)) || json_array_size(l2) > NET_L2_MAX ||
	    json_array_size(l3) > NET_L3_MAX || json_array_size(nics) > NET_NIC_MAX) {
		snprintf(err, len, "l2, l3 and nics must be arrays of at most %d, %d and %d",
		         NET_L2_MAX, NET_L3_MAX, NET_NIC_MAX);
		r = -EINVAL;
		goto fail;
	}
	s->l2 = xcalloc(json_array_size(l2) + 1, sizeof(*s->l2));
	s->l3 = xcalloc(json_array_size(l3) + 1, sizeof(*s->l3));
	s->nic = xcalloc(json_array_size(nics) + 1, sizeof(*s->nic));
	json_array_foreach(l2, i, o)
	{
		r = parse_l2(s, o, &s->l2[i], err, len);
		if (r < 0)
			goto fail;
		s->nl2 = i + 1;
	}
	json_array_foreach(l3, i, o)
	{
		r = parse_l3(s, hx8, o, &s->l3[i], err, len);
		if (r < 0)
			goto fail;
		s->nl3 = i + 1;
	}
	json_array_foreach(nics, i, o)
	{
		r = parse_nic(s, o, &s->nic[i], err, len);
		if (r < 0)
			goto fail;
		s->nnic = i + 1;
	}
	return 0;
fail:
	nspec_free(s);
	return r;
}

/* --- the host namespace -------------------------------------------------- */

/* One apply: the snapshot taken before, and the batches built from it. */
struct run {
	struct net *n;   /* weak */
	struct nspec *s; /* weak */
	struct driver_err *e;
	struct nl_link *links;
	size_t nlinks;
	json_t *wanted;                /* {"<link>": true}: our links the spec wants */
	json_t *fresh;                 /* {"<link>": true}: created in this run */
	struct nl_batch del, add, set; /* run in this order, as one `ip -batch` */
	unsigned group;                /* links to delete join it: one deletion */
	size_t ndel;
	bool changed; /* a link was made or remade */
};

static struct nl_link *link_get(struct run *r, const char *name)
{
	return nl_link_find(r->links, r->nlinks, name);
}

static void want(struct run *r, const char *name)
{
	json_object_set_new(r->wanted, name, json_true());
}

/* Deletes a link. They all join one interface group that is deleted in
 * one go: the kernel then waits for one RCU grace period, not one per link
 * (100 taps: 50 ms instead of 1.7 s). */
static void del_link(struct run *r, const char *name, const char *what)
{
	nl_batch_add(&r->del, what, "link set dev %s group %u", name, r->group);
	r->ndel++;
}

/* A group number no link has. */
static unsigned free_group(const struct run *r)
{
	unsigned g = DEL_GROUP_BASE + (unsigned)(mono_ms() & 0xffff);
	bool used = true;

	while (used) {
		used = false;
		for (size_t i = 0; i < r->nlinks && !used; i++)
			used = r->links[i].group == g;
		if (used)
			g = DEL_GROUP_BASE + ((g + 1) & 0xffff);
	}
	return g;
}

/* l exists but is not what it should be: deleted first, made again. */
static void remake(struct run *r, const char *name, const char *what)
{
	del_link(r, name, what);
}

static void created(struct run *r, const char *name)
{
	json_object_set_new(r->fresh, name, json_true());
	r->changed = true;
}

/* `link set` for what differs of master, mtu and up (nothing when all is right). */
static void link_fix(struct run *r, const struct nl_link *l, const char *name, const char *master,
                     int mtu, const char *what)
{
	char line[160];
	int k;

	k = snprintf(line, sizeof(line), "link set dev %s", name);
	if (master && (!l || strcmp(l->master, master) || json_object_get(r->fresh, master)))
		k += snprintf(line + k, sizeof(line) - (size_t)k, " master %s", master);
	if (mtu && (!l || l->mtu != mtu))
		k += snprintf(line + k, sizeof(line) - (size_t)k, " mtu %d", mtu);
	if (!l || !l->up)
		k += snprintf(line + k, sizeof(line) - (size_t)k, " up");
	if ((size_t)k > strlen(name) + 13)
		nl_batch_add(&r->set, what, "%s", line);
}

static int underlay_mtu(struct run *r)
{
	char pfx[32];

	if (!r->s->underlay)
		return DEFAULT_MTU;
	snprintf(pfx, sizeof(pfx), "%s/", r->s->underlay);
	for (size_t i = 0; i < r->nlinks; i++)
		for (size_t k = 0; k < r->links[i].naddrs; k++)
			if (str_startswith(r->links[i].addrs[k], pfx))
				return r->links[i].mtu;
	return DEFAULT_MTU;
}

/* Whether the kernel can make 802.1Q links (loading 8021q if it can). */
static bool have_8021q(void)
{
	char *argv[] = { "modprobe", "-q", "8021q", NULL };

	if (access("/proc/net/vlan/config", F_OK) == 0 || access("/sys/module/8021q", F_OK) == 0)
		return true;
	nl_run(argv, NULL, NULL, 0, NULL, NULL, NL_TIMEOUT_MS);
	return access("/proc/net/vlan/config", F_OK) == 0;
}

static void plan_l2(struct run *r, struct nspec_l2 *l2, int ul_mtu)
{
	struct nl_link *br = link_get(r, l2->br), *phys = NULL, *dev;
	char what[96];

	snprintf(what, sizeof(what), "L2 %s (bridge %s)", l2->id, l2->br);
	if (l2->phys) {
		phys = link_get(r, l2->phys);
		if (!phys) {
			net_fail(
			    r->e, "NetworkError",
			    "host cannot build L2 network %s: physical interface %s does not exist",
			    l2->id, l2->phys);
			l2->broken = true;
			return;
		}
	}
	if (l2->type == L2_VLAN &&
	    !(link_get(r, l2->dev) && !strcmp(link_get(r, l2->dev)->kind, "vlan")) &&
	    !have_8021q()) {
		net_fail(
		    r->e, "NotSupported",
		    "host cannot build VLAN L2 network %s: the kernel has no 802.1Q VLAN support "
		    "(module 8021q)",
		    l2->id);
		l2->broken = true;
		return;
	}
	if (l2->type == L2_VXLAN && !r->s->underlay) {
		net_fail(r->e, "NetworkError",
		         "host cannot build VXLAN L2 network %s: the spec has no underlay_ip",
		         l2->id);
		l2->broken = true;
		return;
	}
	if (l2->mtu_req)
		l2->mtu = (int)l2->mtu_req;
	else if (l2->type == L2_VXLAN)
		l2->mtu = ul_mtu - VXLAN_OVERHEAD;
	else
		l2->mtu = phys ? phys->mtu : DEFAULT_MTU;

	want(r, l2->br);
	if (br && strcmp(br->kind, "bridge")) {
		remake(r, l2->br, what);
		br = NULL;
	}
	if (!br) {
		nl_batch_add(&r->add, what,
		             "link add %s mtu %d type bridge stp_state 0 forward_delay 0", l2->br,
		             l2->mtu);
		created(r, l2->br);
	} else if (br->stp || br->forward_delay) {
		nl_batch_add(&r->set, what,
		             "link set dev %s type bridge stp_state 0 forward_delay 0", l2->br);
	}
	link_fix(r, br, l2->br, NULL, l2->mtu, what);

	if (l2->type == L2_FLAT && phys) {
		link_fix(r, phys, l2->phys, l2->br, 0, what);
		return;
	}
	if (l2->type == L2_FLAT)
		return;
	dev = link_get(r, l2->dev);
	want(r, l2->dev);
	if (l2->type == L2_VXLAN) {
		snprintf(what, sizeof(what), "L2 %s (VXLAN link %s)", l2->id, l2->dev);
		if (dev && (strcmp(dev->kind, "vxlan") || dev->id != l2->vni ||
		            strcmp(dev->local, r->s->underlay) || dev->port != VXLAN_PORT ||
		            dev->learning)) {
			remake(r, l2->dev, what);
			dev = NULL;
		}
		if (!dev) {
			nl_batch_add(
			    &r->add, what,
			    "link add %s mtu %d type vxlan id %lld local %s dstport %d nolearning",
			    l2->dev, l2->mtu, (long long)l2->vni, r->s->underlay, VXLAN_PORT);
			created(r, l2->dev);
		}
	} else {
		snprintf(what, sizeof(what), "L2 %s (VLAN link %s)", l2->id, l2->dev);
		link_fix(r, phys, l2->phys, NULL, 0, what);
		if (dev && (strcmp(dev->kind, "vlan") || dev->id != l2->vlan ||
		            strcmp(dev->lower, l2->phys))) {
			remake(r, l2->dev, what);
			dev = NULL;
		}
		if (!dev) {
			nl_batch_add(&r->add, what,
			             "link add link %s name %s mtu %d type vlan id %lld", l2->phys,
			             l2->dev, l2->mtu, (long long)l2->vlan);
			created(r, l2->dev);
		}
	}
	link_fix(r, dev, l2->dev, l2->br, l2->mtu, what);
}

/* A veth pair: name here, peer in netns (with mac, if given). Checks the
 * peer through the namespace; remade when it is missing or not right. */
static void plan_veth(struct run *r, const char *name, const char *netns, const char *peer,
                      const char *mac, const char *master, int mtu, const char *what)
{
	struct nl_link *l = link_get(r, name);
	bool up;

	want(r, name);
	if (l && (strcmp(l->kind, "veth") || ns_if_up(netns, peer, mac, &up) < 0)) {
		remake(r, name, what);
		l = NULL;
	}
	if (!l) {
		if (mac)
			nl_batch_add(
			    &r->add, what,
			    "link add %s mtu %d type veth peer name %s mtu %d address %s netns %s",
			    name, mtu, peer, mtu, mac, netns);
		else
			nl_batch_add(&r->add, what,
			             "link add %s mtu %d type veth peer name %s mtu %d netns %s",
			             name, mtu, peer, mtu, netns);
		created(r, name);
	}
	link_fix(r, l, name, master, mtu, what);
}

static void plan_nic(struct run *r, struct nspec_nic *c)
{
	struct nspec_l2 *l2 = c->l3->l2;
	struct nl_link *l;
	char what[96];

	if (l2->broken)
		return;
	snprintf(what, sizeof(what), "NIC %s (%s)", c->id, c->tap);
	if (c->netns) {
		if (!ns_exists(c->netns)) {
			net_fail(r->e, "NetworkError", "NIC %s: namespace %s does not exist", c->id,
			         c->netns);
			return;
		}
		plan_veth(r, c->tap, c->netns, "eth0", c->mac, l2->br, l2->mtu, what);
		return;
	}
	l = link_get(r, c->tap);
	want(r, c->tap);
	if (l && !l->tap) {
		remake(r, c->tap, what);
		l = NULL;
	}
	if (!l) {
		nl_batch_add(&r->add, what, "tuntap add dev %s mode tap", c->tap);
		created(r, c->tap);
	}
	link_fix(r, l, c->tap, l2->br, l2->mtu, what);
}

static void plan_l3(struct run *r, struct nspec_l3 *l3)
{
	char what[96], err[ERRLEN];

	if (!l3->needs_ns || l3->l2->broken)
		return;
	if (ns_add(l3->ns, err, sizeof(err)) < 0) {
		net_fail(r->e, "NetworkError", "L3 %s: %s", l3->id, err);
		l3->broken = true;
		return;
	}
	snprintf(what, sizeof(what), "L3 %s (service link %s)", l3->id, l3->kns);
	plan_veth(r, l3->kns, l3->ns, "kgw0", l3->gw_mac, l3->l2->br, l3->l2->mtu, what);
	if (json_object_get(r->fresh, l3->kns))
		json_object_del(r->n->nft_done, l3->ns);
	if (!l3->up_l2)
		return;
	if (l3->up_l2->broken) {
		l3->broken = true;
		return;
	}
	snprintf(what, sizeof(what), "L3 %s (uplink %s)", l3->id, l3->kup);
	plan_veth(r, l3->kup, l3->ns, "kup0", NULL, l3->up_l2->br, l3->up_l2->mtu, what);
	if (json_object_get(r->fresh, l3->kup))
		json_object_del(r->n->nft_done, l3->ns);
}

/* Our links that nothing wants go; other links leave our bridges. */
static void plan_leftovers(struct run *r)
{
	for (size_t i = 0; i < r->nlinks; i++) {
		struct nl_link *l = &r->links[i];
		char what[64];

		snprintf(what, sizeof(what), "leftover link %s", l->name);
		if (our_link(l->name)) {
			if (!json_object_get(r->wanted, l->name))
				del_link(r, l->name, what);
		} else if (str_startswith(l->master, "kbr-") &&
		           !json_object_get(r->wanted, l->name)) {
			bool phys = false;

			for (size_t k = 0; k < r->s->nl2; k++)
				if (r->s->l2[k].phys && !strcmp(r->s->l2[k].phys, l->name))
					phys = true;
			if (!phys)
				nl_batch_add(&r->del, what, "link set dev %s nomaster", l->name);
		}
	}
}

/* FDB: VXLAN peers (head-end replication) and the gateway MACs. */
static void apply_fdb(struct run *r)
{
	struct nl_fdb *f = NULL;
	struct nl_batch b;
	char err[ERRLEN], what[96];
	size_t nf = 0, i;
	bool need = false;

	for (i = 0; i < r->s->nl2; i++)
		need |= r->s->l2[i].type == L2_VXLAN;
	for (i = 0; i < r->s->nl3; i++)
		need |= r->s->l3[i].needs_ns;
	if (!need)
		return;
	if (nl_fdbs(NULL, &f, &nf, err, sizeof(err)) < 0) {
		net_fail(r->e, "NetworkError", "%s", err);
		return;
	}
	nl_batch_init(&b);
	for (i = 0; i < r->s->nl2; i++) {
		struct nspec_l2 *l2 = &r->s->l2[i];
		json_t *p;
		size_t k;

		if (l2->type != L2_VXLAN || l2->broken)
			continue;
		snprintf(what, sizeof(what), "L2 %s (VXLAN peers of %s)", l2->id, l2->dev);
		json_array_foreach(l2->peers, k, p)
		{
			const char *ip = json_string_value(p);
			bool have = false;

			if (!strcmp(ip, r->s->underlay))
				continue;
			for (size_t m = 0; m < nf && !have; m++)
				have = !strcmp(f[m].dev, l2->dev) && !strcmp(f[m].mac, ZERO_MAC) &&
				       !strcmp(f[m].dst, ip);
			if (!have)
				nl_batch_add(&b, what, "fdb append " ZERO_MAC " dev %s dst %s",
				             l2->dev, ip);
		}
		for (size_t m = 0; m < nf; m++) {
			bool keep = false;

			if (strcmp(f[m].dev, l2->dev) || strcmp(f[m].mac, ZERO_MAC) || !f[m].dst[0])
				continue;
			json_array_foreach(l2->peers, k, p)
			{
				keep |= !strcmp(json_string_value(p), f[m].dst) &&
				        strcmp(f[m].dst, r->s->underlay);
			}
			if (!keep)
				nl_batch_add(&b, what, "fdb del " ZERO_MAC " dev %s dst %s",
				             l2->dev, f[m].dst);
		}
	}
	for (i = 0; i < r->s->nl3; i++) {
		struct nspec_l3 *l3 = &r->s->l3[i];
		char mac[18];
		bool have = false;

		if (!l3->needs_ns || l3->broken || l3->l2->broken)
			continue;
		nl_mac_lower(l3->gw_mac, mac);
		for (size_t m = 0; m < nf && !have; m++)
			have = !strcmp(f[m].dev, l3->kns) && !strcmp(f[m].mac, mac) &&
			       f[m].master && f[m].is_static;
		snprintf(what, sizeof(what), "L3 %s (gateway MAC on %s)", l3->id, l3->kns);
		if (!have)
			nl_batch_add(&b, what, "fdb replace %s dev %s master static", mac, l3->kns);
	}
	if (nl_batch_run(&b, "bridge", NULL, err, sizeof(err)) < 0)
		net_fail(r->e, "NetworkError", "%s", err);
	nl_batch_free(&b);
	free(f);
}

/* tc: a token bucket on each tap with a receive limit. */
static void apply_tc(struct run *r)
{
	struct nl_qdisc *q = NULL;
	struct nl_batch b;
	size_t nq = 0;
	bool listed = false;
	char err[ERRLEN], what[96];

	nl_batch_init(&b);
	for (size_t i = 0; i < r->s->nnic; i++) {
		struct nspec_nic *c = &r->s->nic[i];
		struct nl_link *l = json_object_get(r->fresh, c->tap) ? NULL : link_get(r, c->tap);
		int64_t rate = c->bw_in * 1000 / 8, burst;
		bool ok = false;

		if (c->l3->l2->broken)
			continue;
		snprintf(what, sizeof(what), "NIC %s (bandwidth limit on %s)", c->id, c->tap);
		if (c->bw_in == 0) {
			if (l && !strcmp(l->qdisc, "tbf"))
				nl_batch_add(&b, what, "qdisc del dev %s root", c->tap);
			continue;
		}
		if (l && !strcmp(l->qdisc, "tbf")) {
			if (!listed && nl_qdiscs(NULL, &q, &nq, err, sizeof(err)) < 0) {
				net_fail(r->e, "NetworkError", "%s", err);
				break;
			}
			listed = true;
			for (size_t k = 0; k < nq; k++)
				ok |= !strcmp(q[k].dev, c->tap) && !strcmp(q[k].kind, "tbf") &&
				      q[k].rate == rate;
		}
		if (ok)
			continue;
		burst = rate / 50; /* 20 ms at full rate */
		if (burst < 16384)
			burst = 16384;
		nl_batch_add(&b, what,
		             "qdisc replace dev %s root tbf rate %lldkbit burst %lld latency 50ms",
		             c->tap, (long long)c->bw_in, (long long)burst);
	}
	if (nl_batch_run(&b, "tc", NULL, err, sizeof(err)) < 0)
		net_fail(r->e, "NetworkError", "%s", err);
	nl_batch_free(&b);
	free(q);
}

/* The VMs' ends of new veth pairs: up (the batch made them down). */
static void apply_vm_ends(struct run *r)
{
	for (size_t i = 0; i < r->s->nnic; i++) {
		struct nspec_nic *c = &r->s->nic[i];
		bool changed;
		int k;

		if (!c->netns || !json_object_get(r->fresh, c->tap))
			continue;
		k = ns_if_up(c->netns, "eth0", NULL, &changed);
		if (k < 0)
			net_fail(r->e, "NetworkError",
			         "NIC %s: cannot bring eth0 up in namespace %s: %s", c->id,
			         c->netns, strerror(-k));
	}
}

/* The host's nftables (kumo_l2, kumo_sg, kumo_flow, kumo_qos), or none
 * of them. No br_netfilter: the groups filter in the bridge family. */
static void apply_host_nft(struct run *r, bool clear)
{
	char err[ERRLEN];
	char *script = NULL;

	if (clear || (r->s->nl2 == 0 && r->s->nnic == 0)) {
		/* nothing to filter: no table of ours stays */
		json_object_del(r->n->nft_done, "");
		svc_nft_run(NULL, NULL, "host", r->e);
		return;
	}
	script = nft_host_script(r->s->j, err, sizeof(err));
	if (!script) {
		net_fail(r->e, "NetworkError", "host nftables: %s", err);
		return;
	}
	if (r->changed)
		json_object_del(r->n->nft_done, "");
	if (!svc_nft_same(r->n, "", script) && svc_nft_run(NULL, script, "host", r->e) == 0)
		svc_nft_done(r->n, "", script);
	free(script);
}

/* Service namespaces of this host that no L3 of the spec wants. */
static void remove_namespaces(struct run *r)
{
	char prefix[32], **v = NULL;
	size_t nv = 0;

	snprintf(prefix, sizeof(prefix), "kumo-%s-", r->n->hx8);
	if (ns_list(prefix, &v, &nv) < 0)
		return;
	for (size_t i = 0; i < nv; i++) {
		bool keep = false;

		for (size_t k = 0; k < r->s->nl3 && !keep; k++)
			keep = r->s->l3[k].needs_ns && !strcmp(r->s->l3[k].ns, v[i]);
		if (!keep)
			svc_remove(r->n, v[i], r->e);
	}
	ns_list_free(v, nv);
}

/* Makes the host match s. 0, or -1 with e filled (the rest still applied). */
static int reconcile(struct net *n, struct nspec *s, bool clear, struct driver_err *e)
{
	struct run r = { .n = n, .s = s, .e = e };
	char err[ERRLEN];
	int ul_mtu;

	if (nl_links(NULL, &r.links, &r.nlinks, err, sizeof(err)) < 0)
		return net_fail(e, "NetworkError", "%s", err);
	r.group = free_group(&r);
	r.wanted = json_object();
	r.fresh = json_object();
	nl_batch_init(&r.del);
	nl_batch_init(&r.add);
	nl_batch_init(&r.set);
	ul_mtu = underlay_mtu(&r);
	for (size_t i = 0; i < s->nl2; i++)
		plan_l2(&r, &s->l2[i], ul_mtu);
	for (size_t i = 0; i < s->nl3; i++)
		plan_l3(&r, &s->l3[i]);
	for (size_t i = 0; i < s->nnic; i++)
		plan_nic(&r, &s->nic[i]);
	plan_leftovers(&r);
	if (r.ndel)
		nl_batch_add(&r.del, "deleting links", "link del group %u", r.group);
	nl_batch_cat(&r.del, &r.add);
	nl_batch_cat(&r.del, &r.set);
	if (nl_batch_run(&r.del, "ip", NULL, err, sizeof(err)) < 0)
		net_fail(e, "NetworkError", "%s", err);
	apply_vm_ends(&r);
	apply_fdb(&r);
	apply_tc(&r);
	for (size_t i = 0; i < s->nl3; i++) {
		struct nspec_l3 *l3 = &s->l3[i];

		if (l3->needs_ns && !l3->broken && !l3->l2->broken)
			svc_apply(n, s, l3, e);
	}
	remove_namespaces(&r);
	apply_host_nft(&r, clear);

	nl_batch_free(&r.del);
	nl_batch_free(&r.add);
	nl_batch_free(&r.set);
	json_decref(r.wanted);
	json_decref(r.fresh);
	nl_links_free(r.links, r.nlinks);
	return e->code ? -1 : 0;
}

/* --- the object ---------------------------------------------------------- */

static char *spec_path(const struct net *n)
{
	return xasprintf("%s/spec.json", n->dir);
}

static json_t *spec_load(const struct net *n, int *ret_r)
{
	char *p = spec_path(n), *data = NULL;
	json_t *v = NULL;
	size_t len = 0;
	int r;

	r = file_read(p, NET_SPEC_MAX, &data, &len);
	if (r == 0) {
		v = jparse(data, len, NULL, 0);
		if (!v)
			r = -EBADMSG;
	}
	free(data);
	free(p);
	*ret_r = r;
	return v;
}

int net_new(const char *dir, const char *host_id, struct net **ret, struct driver_err *e)
{
	struct net *n;
	json_t *saved;
	int r;

	if (!uuid_valid(host_id))
		return driver_fail(e, "InvalidArgument", "host id %s is not a UUID",
		                   host_id ? host_id : "(none)");
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return driver_fail(e, "Internal", "cannot create %s: %s", dir, strerror(-r));
	n = xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->lock, NULL);
	n->dir = xstrdup(dir);
	n->host_id = xstrdup(host_id);
	{
		char x8[IFNAMSIZ];

		nl_name("", host_id, x8);
		memcpy(n->hx8, x8, sizeof(n->hx8) - 1);
	}
	n->nft_done = json_object();
	n->meta_l3s = json_object();
	n->gen = -1;
	saved = spec_load(n, &r);
	if (saved)
		n->gen = jint(saved, "generation", -1);
	json_decref(saved);
	*ret = n;
	return 0;
}

static int apply_locked(struct net *n, const json_t *spec, bool force, bool clear,
                        struct driver_err *e)
{
	struct nspec s;
	char err[ERRLEN], *p;
	int r;

	r = nspec_parse(spec, n->host_id, n->hx8, &s, err, sizeof(err));
	if (r < 0)
		return driver_fail(e, "InvalidArgument", "network spec: %s", err);
	if (!force && s.gen < n->gen) {
		log_debug("network spec generation %lld < %lld applied: ignored", (long long)s.gen,
		          (long long)n->gen);
		nspec_free(&s);
		return 0;
	}
	r = reconcile(n, &s, clear, e);
	p = spec_path(n);
	if (r == 0 && clear) {
		unlink(p);
		n->gen = -1;
	} else if (r == 0) {
		char *data = jdump(spec);
		int w = file_write_atomic(p, data, strlen(data), 0600);

		free(data);
		if (w < 0)
			r = driver_fail(e, "Internal", "cannot save the network spec to %s: %s", p,
			                strerror(-w));
		else if (s.gen > n->gen)
			n->gen = s.gen;
	}
	free(p);
	nspec_free(&s);
	return r;
}

int net_apply(struct net *n, const json_t *spec, struct driver_err *e)
{
	int r;

	pthread_mutex_lock(&n->lock);
	r = apply_locked(n, spec, false, false, e);
	pthread_mutex_unlock(&n->lock);
	return r;
}

int net_clear(struct net *n, struct driver_err *e)
{
	json_t *empty = json_pack("{s:s}", "host_id", n->host_id);
	int r;

	pthread_mutex_lock(&n->lock);
	r = apply_locked(n, empty, true, true, e);
	pthread_mutex_unlock(&n->lock);
	json_decref(empty);
	return r;
}

int net_restore(struct net *n, struct driver_err *e)
{
	json_t *saved;
	int r;

	pthread_mutex_lock(&n->lock);
	saved = spec_load(n, &r);
	pthread_mutex_unlock(&n->lock);
	if (!saved) {
		if (r != -ENOENT)
			log_warn("%s/spec.json: %s; removing this host's networks", n->dir,
			         strerror(-r));
		return net_clear(n, e);
	}
	pthread_mutex_lock(&n->lock);
	r = apply_locked(n, saved, true, false, e);
	pthread_mutex_unlock(&n->lock);
	json_decref(saved);
	return r;
}

void net_free(struct net *n)
{
	if (!n)
		return;
	meta_stop(n->meta);
	json_decref(n->nft_done);
	json_decref(n->meta_l3s);
	pthread_mutex_destroy(&n->lock);
	free(n->dir);
	free(n->host_id);
	free(n);
}

/* --- kumo-agent net-apply ------------------------------------------------ */

static int cli_usage(void)
{
	fputs("usage: kumo-agent net-apply --host-id ID --dir DIR SPEC.json\n"
	      "       kumo-agent net-apply --host-id ID --dir DIR (--restore | --clear)\n"
	      "Makes this network namespace match the network spec SPEC.json (docs: src/agent/\n"
	      "net.h), or the spec saved in DIR as at agent start (--restore), or removes\n"
	      "every network of host ID (--clear). DIR holds the state.\n",
	      stderr);
	return 2;
}

/* `ip netns exec NS kumo-agent net-apply` runs it in a private mount
 * namespace: the service namespaces made here (bind mounts on
 * /run/netns/<name>) would vanish with the process, leaving namespaces no
 * one can enter. Only the network namespace is meant to differ, so go back
 * to the mount namespace of the process that ran `ip netns exec` (ip
 * execs its command without forking: that is our parent), else init's.
 * The process is single-threaded here, as setns(CLONE_NEWNS) requires. */
static void cli_mount_ns(void)
{
	char path[2][64];
	struct stat self, other;
	int fd;

	snprintf(path[0], sizeof(path[0]), "/proc/%d/ns/mnt", (int)getppid());
	snprintf(path[1], sizeof(path[1]), "/proc/1/ns/mnt");
	if (stat("/proc/self/ns/mnt", &self) < 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (stat(path[i], &other) < 0 || other.st_ino == self.st_ino)
			continue;
		fd = open(path[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && setns(fd, CLONE_NEWNS) == 0) {
			close(fd);
			return;
		}
		if (fd >= 0)
			close(fd);
	}
	if (stat(path[0], &other) == 0 && other.st_ino != self.st_ino)
		log_warn("cannot leave this private mount namespace: the namespaces made now "
		         "vanish with this process; run net-apply with nsenter --net");
}

int net_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host-id", required_argument, NULL, 'i' },
		{ "dir", required_argument, NULL, 'd' },
		{ "clear", no_argument, NULL, 'c' },
		{ "restore", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct driver_err e = { NULL, "" };
	const char *host_id = NULL, *dir = NULL;
	char *absdir = NULL;
	struct net *n = NULL;
	json_t *spec = NULL;
	char *data = NULL, perr[200];
	bool clear = false, restore = false;
	size_t len = 0;
	int c, r;

	log_init("kumo-agent", KLOG_WARN);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'i')
			host_id = optarg;
		else if (c == 'd')
			dir = optarg;
		else if (c == 'c')
			clear = true;
		else if (c == 'r')
			restore = true;
		else
			return cli_usage();
	}
	if (!host_id || !dir || (clear && restore) ||
	    (clear || restore ? optind != argc : optind != argc - 1))
		return cli_usage();
	if (!clear && !restore) {
		r = file_read(argv[optind], NET_SPEC_MAX, &data, &len);
		if (r < 0) {
			fprintf(stderr, "kumo-agent net-apply: cannot read %s: %s\n", argv[optind],
			        strerror(-r));
			return 1;
		}
		spec = jparse(data, len, perr, sizeof(perr));
		free(data);
		if (!spec) {
			fprintf(stderr, "kumo-agent net-apply: %s is not JSON: %s\n", argv[optind],
			        perr);
			return 1;
		}
	}
	if (dir[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "kumo-agent net-apply: getcwd: %s\n", strerror(errno));
			json_decref(spec);
			return 1;
		}
		dir = absdir = xasprintf("%s/%s", cwd, dir);
	}
	cli_mount_ns(); /* moves to "/": paths are absolute from here on */
	r = net_new(dir, host_id, &n, &e);
	if (r == 0)
		r = clear     ? net_clear(n, &e)
		    : restore ? net_restore(n, &e)
		              : net_apply(n, spec, &e);
	if (r < 0)
		fprintf(stderr, "kumo-agent net-apply: %s: %s\n", e.code ? e.code : "Internal",
		        e.message);
	net_free(n);
	json_decref(spec);
	free(absdir);
	return r < 0 ? 1 : 0;
}

struct net *net_open(const char *host_dir, const char *host_id, const char *host_name)
{
	struct driver_err e = { NULL, "" };
	struct net *n = NULL;
	char *dir = xasprintf("%s/net", host_dir);

	if (net_new(dir, host_id, &n, &e) < 0)
		log_err("host %s: networks: %s", host_name, e.message);
	else if (net_restore(n, &e) < 0)
		log_warn("host %s: restoring its networks: %s: %s", host_name, e.code, e.message);
	free(dir);
	return n;
}
