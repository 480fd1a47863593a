// SPDX-License-Identifier: MIT
/*
 * nftables scripts of a host's networks (net_nft.h), generated from its
 * spec (net.h). This file validates the spec fields it uses, then writes
 * text; it runs nothing (net.c loads the scripts with `nft -f`).
 *
 * Host netns:
 *  - bridge kumo_l2: a frame from a NIC port (ktp-*) passes only with the
 *    NIC's MAC and IPv4 address (sets keyed by port . MAC . address; DHCP
 *    from 0.0.0.0 and ARP probes aside); everything else from ktp-* is
 *    dropped, ports of unknown NICs included. On the uplink port of an L2
 *    that has a local service namespace (kvx-, kvl-, the flat interface),
 *    frames from or to a gateway MAC, ARP about a gateway address and DHCP
 *    are dropped both ways, so each host's namespace serves its own VMs.
 *  - bridge kumo_sg and kumo_flow: stateful security groups without
 *    conntrack (this kernel has none in the bridge family, and going
 *    through br_netfilter costs a fifth of the throughput). The sending
 *    NIC's port jumps to its egress chain, the receiving one's to its
 *    ingress chain, through verdict maps; kumo_flow (write_flow) recognises
 *    flows allowed before and remembers the new ones kumo_sg allows,
 *    passing marks between the two tables. Each security
 *    group and direction is ONE interval-concatenation set of
 *    address . protocol . port, so 1,000 rules are one lookup. The rules of
 *    a group may overlap (a port from anywhere, everything from a member)
 *    and the kernel refuses overlapping elements, so the set holds their
 *    union cut into disjoint boxes (sg_compile()).
 *  - netdev kumo_qos: a policer chain on the ingress of each limited port.
 * Service namespace of an L3: inet kumo_nat (EIPs, port forwards with an
 * allowed-source set, SNAT) and inet kumo_svc (what may reach and cross
 * the namespace).
 *
 * Identical specs give identical scripts: every list is sorted by id (or
 * address) before it is written. Not here: links, addresses, tc, sysctls.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/net_nft.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/util.h"

#define SCRIPT_MAX (512u << 20) /* bytes of one script */
#define LIST_MAX 4096           /* l2, l3, nics, groups, eips, forwards, a NIC's groups */
#define RULES_MAX 10000         /* rules of one security group */
#define MEMBERS_MAX 10000       /* remote_group_members of one rule */
#define BOXES_MAX 100000        /* rule boxes of one set, members expanded */
#define ELEMS_MAX 200000        /* disjoint elements of one set */
#define WORK_MAX 200000000ull   /* steps sg_compile() may take for one set */
#define PF_PORTS_MAX 1024       /* ports of one port forward */
#define KBPS_MAX 1000000000     /* 1 Tbit/s */

/* ---- errors and output ---------------------------------------------- */

struct ctx {
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A script being written; the first failed append is remembered and every
 * later one is skipped, so writers need not check each call. */
struct out {
	struct buf b;
	int r;
};

static void P(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void P(struct out *o, const char *fmt, ...)
{
	char small[1024];
	char *big = NULL;
	va_list ap;
	int n;

	if (o->r < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->r = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		o->r = buf_append(&o->b, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->r = -ENOMEM;
		return;
	}
	o->r = buf_append(&o->b, big, (size_t)n);
	free(big);
}

static char *out_finish(struct out *o, struct ctx *c)
{
	if (o->r < 0) {
		fail(c, "nftables script: %s", strerror(-o->r));
		buf_free(&o->b);
		return NULL;
	}
	return buf_steal(&o->b);
}

/* Opens the atomic replacement of a table: declare (so that delete cannot
 * fail), delete, define again. */
static void table_replace(struct out *o, const char *family, const char *name)
{
	P(o, "table %s %s {}\ndelete table %s %s\ntable %s %s {\n", family, name, family, name,
	  family, name);
}

/* ---- field parsers ------------------------------------------------------ */

static void ip_str(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static int ip_parse(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

/* "a.b.c.d/n"; host bits are cleared. */
static int cidr_parse(const char *s, uint32_t *ret_lo, uint32_t *ret_hi)
{
	char addr[16];
	const char *slash;
	uint32_t ip, mask;
	int len = 0;

	if (!s || !(slash = strchr(s, '/')) || slash - s >= (int)sizeof(addr) || !slash[1] ||
	    strlen(slash + 1) > 2)
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	for (const char *p = slash + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		len = len * 10 + (*p - '0');
	}
	if (len > 32 || (slash[1] == '0' && slash[2]) || ip_parse(addr, &ip) < 0)
		return -EINVAL;
	mask = len ? ~0u << (32 - len) : 0;
	*ret_lo = ip & mask;
	*ret_hi = (ip & mask) | ~mask;
	return 0;
}

/* Lower-case "xx:xx:xx:xx:xx:xx" into out. */
static int mac_parse(const char *s, char out[18])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -EINVAL;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[17] = '\0';
	return 0;
}

/* The first 8 hex digits of an id, as names use them. */
static int x8_parse(const char *id, char out[9])
{
	if (!id)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)id[i]))
			return -EINVAL;
	memcpy(out, id, 8);
	out[8] = '\0';
	return 0;
}

static bool ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* An array member of o, or NULL (jansson treats it as empty) when it is
 * absent or null. */
static int jarray(struct ctx *c, const json_t *o, const char *key, const char *path,
                  const json_t **ret)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_array(v))
		return fail(c, "%s.%s: not an array", path, key);
	if (json_array_size(v) > LIST_MAX)
		return fail(c, "%s.%s: more than %d entries", path, key, LIST_MAX);
	*ret = v;
	return 0;
}

static int jip(struct ctx *c, const json_t *o, const char *key, const char *path, uint32_t *ret)
{
	if (ip_parse(jstr(o, key), ret) < 0)
		return fail(c, "%s.%s: not an IPv4 address", path, key);
	return 0;
}

static int jport(struct ctx *c, const json_t *o, const char *key, const char *path, int min,
                 uint32_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > 65535)
		return fail(c, "%s.%s: not a port (%d-65535)", path, key, min);
	*ret = (uint32_t)json_integer_value(v);
	return 0;
}

/* ---- the host's objects ------------------------------------------------- */

struct l2 {
	const char *id; /* weak: the spec's */
	char x8[9];
	char bridge[16];
	char uplink[16]; /* "" when the L2 has none */
	bool has_ns;     /* a non-public L3 of it has a service namespace here */
	unsigned zone;
};

struct l3 {
	const char *id; /* weak */
	size_t l2;
	bool public;
	bool has_gw;
	uint32_t gw;
	char gwmac[18]; /* "" for public L3s without one */
};

struct nic {
	const char *id; /* weak */
	char x8[9];
	size_t l3;
	char mac[18];
	uint32_t ip;
	size_t *sgs; /* owned: indexes into host.sgs, sorted, unique */
	size_t nsgs;
	int64_t bw_out;
};

struct sg {
	const char *id; /* weak */
	char x8[9];
	const json_t *rules; /* weak; NULL: none */
	size_t idx;          /* position in the spec, for messages */
};

struct host {
	struct l2 *l2;
	size_t nl2;
	struct l3 *l3;
	size_t nl3;
	struct nic *nics;
	size_t nnics;
	struct sg *sgs;
	size_t nsgs;
};

static void host_free(struct host *h)
{
	for (size_t i = 0; i < h->nnics; i++)
		free(h->nics[i].sgs);
	free(h->l2);
	free(h->l3);
	free(h->nics);
	free(h->sgs);
	memset(h, 0, sizeof(*h));
}

/* Every struct above starts with its id. */
static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void *find_id(void *base, size_t n, size_t size, const char *id)
{
	return id ? bsearch(&id, base, n, size, cmp_id) : NULL;
}

/* Sorts by id and refuses two ids with the same first 8 digits (their
 * names would collide); sorted ids put such pairs next to each other. */
static int sort_ids(struct ctx *c, void *base, size_t n, size_t size, const char *what)
{
	qsort(base, n, size, cmp_id);
	for (size_t i = 1; i < n; i++) {
		const char *a = *(const char *const *)((char *)base + (i - 1) * size);
		const char *b = *(const char *const *)((char *)base + i * size);
		if (!strncmp(a, b, 8))
			return fail(c, "%s: ids %s and %s share their first 8 digits", what, a, b);
	}
	return 0;
}

static int parse_l2(struct ctx *c, const json_t *spec, struct host *h)
{
	const json_t *arr, *o;
	char path[32];
	size_t i;
	int r;

	if ((r = jarray(c, spec, "l2", "spec", &arr)) < 0)
		return r;
	h->l2 = xcalloc(json_array_size(arr) + 1, sizeof(*h->l2));
	json_array_foreach(arr, i, o)
	{
		struct l2 *l = &h->l2[h->nl2++];
		const char *type = jstr(o, "type"), *phys = jstr(o, "physical_interface");

		snprintf(path, sizeof(path), "l2[%zu]", i);
		l->id = jstr(o, "id");
		if (!json_is_object(o) || x8_parse(l->id, l->x8) < 0)
			return fail(c, "%s.id: not an id", path);
		snprintf(l->bridge, sizeof(l->bridge), "kbr-%s", l->x8);
		if (type && !strcmp(type, "vxlan"))
			snprintf(l->uplink, sizeof(l->uplink), "kvx-%s", l->x8);
		else if (type && !strcmp(type, "vlan"))
			snprintf(l->uplink, sizeof(l->uplink), "kvl-%s", l->x8);
		else if (!type || strcmp(type, "flat"))
			return fail(c, "%s.type: not flat, vxlan or vlan", path);
		else if (phys && !ifname_valid(phys))
			return fail(c, "%s.physical_interface: not an interface name", path);
		else if (phys)
			snprintf(l->uplink, sizeof(l->uplink), "%s", phys);
	}
	if ((r = sort_ids(c, h->l2, h->nl2, sizeof(*h->l2), "l2")) < 0)
		return r;
	/* Conntrack zones: from the id, so that a bridge keeps its zone (and its
	 * connections) when other L2s come and go; collisions move up. */
	{
		uint8_t *used = xcalloc(65536 / 8, 1);
		for (size_t k = 0; k < h->nl2; k++) {
			char hex[5];
			unsigned z;
			memcpy(hex, h->l2[k].x8, 4);
			hex[4] = '\0';
			z = (unsigned)strtoul(hex, NULL, 16);
			while (z == 0 || used[z / 8] & (1u << (z % 8)))
				z = (z + 1) & 0xffff;
			used[z / 8] |= (uint8_t)(1u << (z % 8));
			h->l2[k].zone = z;
		}
		free(used);
	}
	return 0;
}

static int parse_l3(struct ctx *c, const json_t *spec, struct host *h)
{
	const json_t *arr, *o;
	char path[32];
	size_t i;
	int r;

	if ((r = jarray(c, spec, "l3", "spec", &arr)) < 0)
		return r;
	h->l3 = xcalloc(json_array_size(arr) + 1, sizeof(*h->l3));
	json_array_foreach(arr, i, o)
	{
		struct l3 *l = &h->l3[h->nl3++];
		struct l2 *l2;
		const char *gw = jstr(o, "gateway"), *gwmac = jstr(o, "gateway_mac");
		char x8[9];

		snprintf(path, sizeof(path), "l3[%zu]", i);
		l->id = jstr(o, "id");
		if (!json_is_object(o) || x8_parse(l->id, x8) < 0)
			return fail(c, "%s.id: not an id", path);
		if (!(l2 = find_id(h->l2, h->nl2, sizeof(*h->l2), jstr(o, "l2_id"))))
			return fail(c, "%s.l2_id: not an L2 of the spec", path);
		l->l2 = (size_t)(l2 - h->l2);
		l->public = jbool(o, "public", false);
		if (gw && ip_parse(gw, &l->gw) < 0)
			return fail(c, "%s.gateway: not an IPv4 address", path);
		l->has_gw = gw != NULL;
		if (gwmac ? mac_parse(gwmac, l->gwmac) < 0 : !l->public)
			return fail(c, "%s.gateway_mac: not a MAC address", path);
		if (!l->public)
			l2->has_ns = true;
	}
	return sort_ids(c, h->l3, h->nl3, sizeof(*h->l3), "l3");
}

static int parse_sgs(struct ctx *c, const json_t *spec, struct host *h)
{
	const json_t *arr, *o;
	char path[48];
	size_t i;
	int r;

	if ((r = jarray(c, spec, "security_groups", "spec", &arr)) < 0)
		return r;
	h->sgs = xcalloc(json_array_size(arr) + 1, sizeof(*h->sgs));
	json_array_foreach(arr, i, o)
	{
		struct sg *g = &h->sgs[h->nsgs++];
		const json_t *rules = json_object_get(o, "rules");

		snprintf(path, sizeof(path), "security_groups[%zu]", i);
		g->id = jstr(o, "id");
		g->idx = i;
		if (!json_is_object(o) || x8_parse(g->id, g->x8) < 0)
			return fail(c, "%s.id: not an id", path);
		if (rules && !json_is_null(rules) && !json_is_array(rules))
			return fail(c, "%s.rules: not an array", path);
		if (json_array_size(rules) > RULES_MAX)
			return fail(c, "%s.rules: more than %d rules", path, RULES_MAX);
		g->rules = json_is_array(rules) ? rules : NULL;
	}
	return sort_ids(c, h->sgs, h->nsgs, sizeof(*h->sgs), "security_groups");
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_nics(struct ctx *c, const json_t *spec, struct host *h)
{
	const json_t *arr, *o, *sgs, *v;
	char path[32];
	size_t i, k, m;
	int r;

	if ((r = jarray(c, spec, "nics", "spec", &arr)) < 0)
		return r;
	h->nics = xcalloc(json_array_size(arr) + 1, sizeof(*h->nics));
	json_array_foreach(arr, i, o)
	{
		struct nic *n = &h->nics[h->nnics++];
		struct l3 *l3;

		snprintf(path, sizeof(path), "nics[%zu]", i);
		n->id = jstr(o, "id");
		if (!json_is_object(o) || x8_parse(n->id, n->x8) < 0)
			return fail(c, "%s.id: not an id", path);
		if (!(l3 = find_id(h->l3, h->nl3, sizeof(*h->l3), jstr(o, "l3_id"))))
			return fail(c, "%s.l3_id: not an L3 of the spec", path);
		n->l3 = (size_t)(l3 - h->l3);
		if (mac_parse(jstr(o, "mac"), n->mac) < 0)
			return fail(c, "%s.mac: not a MAC address", path);
		if ((r = jip(c, o, "ip", path, &n->ip)) < 0)
			return r;
		v = json_object_get(o, "bandwidth_out_kbps");
		if (v && !json_is_null(v) &&
		    (!json_is_integer(v) || json_integer_value(v) < 0 ||
		     json_integer_value(v) > KBPS_MAX))
			return fail(c, "%s.bandwidth_out_kbps: not a rate (0-%d)", path, KBPS_MAX);
		n->bw_out = json_is_integer(v) ? json_integer_value(v) : 0;
		if ((r = jarray(c, o, "security_groups", path, &sgs)) < 0)
			return r;
		n->sgs = xcalloc(json_array_size(sgs) + 1, sizeof(*n->sgs));
		json_array_foreach(sgs, k, v)
		{
			struct sg *g =
			    find_id(h->sgs, h->nsgs, sizeof(*h->sgs), json_string_value(v));
			if (!g)
				return fail(
				    c, "%s.security_groups[%zu]: not a security group of the spec",
				    path, k);
			n->sgs[n->nsgs++] = (size_t)(g - h->sgs);
		}
		qsort(n->sgs, n->nsgs, sizeof(*n->sgs), cmp_size);
		for (k = 1, m = n->nsgs ? 1 : 0; k < n->nsgs; k++)
			if (n->sgs[k] != n->sgs[m - 1])
				n->sgs[m++] = n->sgs[k];
		n->nsgs = m;
	}
	if ((r = sort_ids(c, h->nics, h->nnics, sizeof(*h->nics), "nics")) < 0)
		return r;
	/* A NIC is known by (bridge, address) in kumo_sg: that pair must be unique. */
	for (i = 0; i < h->nnics; i++)
		for (k = i + 1; k < h->nnics; k++)
			if (h->nics[i].ip == h->nics[k].ip &&
			    h->l3[h->nics[i].l3].l2 == h->l3[h->nics[k].l3].l2) {
				char ip[16];
				ip_str(h->nics[i].ip, ip);
				return fail(c, "nics: %s and %s both have address %s on one L2",
				            h->nics[i].id, h->nics[k].id, ip);
			}
	return 0;
}

static int host_parse(struct ctx *c, const json_t *spec, struct host *h)
{
	int r;

	memset(h, 0, sizeof(*h));
	if (!json_is_object(spec))
		return fail(c, "spec: not an object");
	if ((r = parse_l2(c, spec, h)) < 0 || (r = parse_l3(c, spec, h)) < 0 ||
	    (r = parse_sgs(c, spec, h)) < 0 || (r = parse_nics(c, spec, h)) < 0)
		return r;
	return 0;
}

/* ---- security group sets ----------------------------------------------- */

/* address x protocol x port, all bounds inclusive. */
struct box {
	uint32_t a0, a1;
	uint32_t p0, p1;
	uint32_t t0, t1;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_box_a(const void *a, const void *b)
{
	const struct box *x = a, *y = b;
	return x->a0 < y->a0 ? -1 : x->a0 > y->a0 ? 1 : x->a1 < y->a1 ? -1 : x->a1 > y->a1;
}

static int cmp_box_t0(const void *a, const void *b)
{
	const struct box *x = a, *y = b;
	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/* Sorted unique breakpoints lo and hi + 1 of the given bounds. */
static size_t breakpoints(uint32_t *pts, size_t n)
{
	size_t k = 0;

	qsort(pts, n, sizeof(*pts), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!k || pts[i] != pts[k - 1])
			pts[k++] = pts[i];
	return k;
}

struct boxes {
	struct box *v;
	size_t n, cap;
};

static void boxes_push(struct boxes *b, const struct box *x)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	b->v[b->n++] = *x;
}

static bool same_rows(const struct box *a, const struct box *b, size_t n, bool with_ports)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].a0 != b[i].a0 || a[i].a1 != b[i].a1 ||
		    (with_ports && (a[i].t0 != b[i].t0 || a[i].t1 != b[i].t1)))
			return false;
	return true;
}

/*
 * The union of the boxes in, as disjoint boxes (out, appended): cut along
 * protocols, then ports, at every rule's bounds; in each cell, merge the
 * addresses; then join neighbouring cells whose addresses are the same.
 * Deterministic. -E2BIG when the union needs more than ELEMS_MAX elements
 * or WORK_MAX steps.
 */
static int sg_compile(struct box *in, size_t n, struct boxes *out)
{
	uint32_t *pp = xmalloc((2 * n + 1) * sizeof(*pp)), *tp = xmalloc((2 * n + 1) * sizeof(*tp));
	struct box *cls = xmalloc((n + 1) * sizeof(*cls)), *act = xmalloc((n + 1) * sizeof(*act));
	struct box *cell = xmalloc((n + 1) * sizeof(*cell));
	unsigned long long work = 0;
	size_t np, prev_cls = SIZE_MAX, prev_cls_n = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		pp[2 * i] = in[i].p0;
		pp[2 * i + 1] = in[i].p1 + 1;
	}
	np = breakpoints(pp, 2 * n);
	for (size_t pi = 0; pi + 1 < np && r == 0; pi++) {
		uint32_t P = pp[pi];
		size_t ncls = 0, nt, nact = 0, ci = 0, cls_start = out->n, prev_row = SIZE_MAX,
		       prev_row_n = 0;

		for (size_t i = 0; i < n; i++)
			if (in[i].p0 <= P && in[i].p1 >= P) {
				cls[ncls] = in[i];
				tp[2 * ncls] = in[i].t0;
				tp[2 * ncls + 1] = in[i].t1 + 1;
				ncls++;
			}
		work += n;
		if (!ncls)
			continue;
		qsort(cls, ncls, sizeof(*cls), cmp_box_t0);
		nt = breakpoints(tp, 2 * ncls);
		for (size_t ti = 0; ti + 1 < nt; ti++) {
			uint32_t T = tp[ti];
			size_t ncell = 0, k = 0, row_start = out->n;

			while (ci < ncls && cls[ci].t0 <= T)
				act[nact++] = cls[ci++];
			for (size_t j = 0; j < nact; j++)
				if (act[j].t1 >= T)
					act[k++] = act[j];
			nact = k;
			work += nact + 1;
			if (work > WORK_MAX) {
				r = -E2BIG;
				break;
			}
			memcpy(cell, act, nact * sizeof(*cell));
			qsort(cell, nact, sizeof(*cell), cmp_box_a);
			for (size_t j = 0; j < nact; j++) {
				if (ncell &&
				    (uint64_t)cell[j].a0 <= (uint64_t)cell[ncell - 1].a1 + 1) {
					if (cell[j].a1 > cell[ncell - 1].a1)
						cell[ncell - 1].a1 = cell[j].a1;
				} else {
					cell[ncell++] = cell[j];
				}
			}
			if (prev_row != SIZE_MAX && prev_row_n == ncell &&
			    same_rows(out->v + prev_row, cell, ncell, false)) {
				/* same addresses as the port range before: extend it */
				for (size_t j = 0; j < ncell; j++)
					out->v[prev_row + j].t1 = tp[ti + 1] - 1;
				continue;
			}
			if (out->n + ncell > ELEMS_MAX) {
				r = -E2BIG;
				break;
			}
			for (size_t j = 0; j < ncell; j++) {
				struct box e = { cell[j].a0,     cell[j].a1, P,
					         pp[pi + 1] - 1, T,          tp[ti + 1] - 1 };
				boxes_push(out, &e);
			}
			prev_row = ncell ? row_start : SIZE_MAX;
			prev_row_n = ncell;
		}
		/* same cells as the protocol range before: extend that one */
		if (r == 0 && prev_cls != SIZE_MAX && prev_cls_n == out->n - cls_start &&
		    prev_cls + prev_cls_n == cls_start &&
		    same_rows(out->v + prev_cls, out->v + cls_start, prev_cls_n, true)) {
			for (size_t j = 0; j < prev_cls_n; j++)
				out->v[prev_cls + j].p1 = pp[pi + 1] - 1;
			out->n = cls_start;
			continue;
		}
		prev_cls = cls_start;
		prev_cls_n = out->n - cls_start;
	}
	free(pp);
	free(tp);
	free(cls);
	free(act);
	free(cell);
	return r;
}

/* The boxes of one rule of direction dir, appended to b; 0 if the rule is
 * of the other direction. */
static int rule_boxes(struct ctx *c, const json_t *rule, const char *path, const char *dir,
                      struct boxes *b)
{
	const char *d = jstr(rule, "direction"), *proto = jstr(rule, "protocol");
	const json_t *members = json_object_get(rule, "remote_group_members");
	const char *cidr = jstr(rule, "cidr");
	struct box x = { 0, 0, 0, 255, 0, 65535 };
	size_t i;
	int r;

	if (!json_is_object(rule))
		return fail(c, "%s: not an object", path);
	if (!d || (strcmp(d, "ingress") && strcmp(d, "egress")))
		return fail(c, "%s.direction: not ingress or egress", path);
	if (!proto)
		return fail(c, "%s.protocol: not all, tcp, udp or icmp", path);
	if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
		x.p0 = x.p1 = proto[0] == 't' ? 6 : 17;
		if (json_is_integer(json_object_get(rule, "port_start")) ||
		    json_is_integer(json_object_get(rule, "port_end"))) {
			if ((r = jport(c, rule, "port_start", path, 1, &x.t0)) < 0 ||
			    (r = jport(c, rule, "port_end", path, 1, &x.t1)) < 0)
				return r;
			if (x.t1 < x.t0)
				return fail(c, "%s.port_end: below port_start", path);
		}
	} else if (!strcmp(proto, "icmp")) {
		x.p0 = x.p1 = 1;
	} else if (strcmp(proto, "all")) {
		return fail(c, "%s.protocol: not all, tcp, udp or icmp", path);
	}
	if (cidr) {
		if (cidr_parse(cidr, &x.a0, &x.a1) < 0)
			return fail(c, "%s.cidr: not an IPv4 CIDR", path);
		if (!strcmp(d, dir))
			boxes_push(b, &x);
		return 0;
	}
	if (!json_is_array(members))
		return fail(c, "%s: neither cidr nor remote_group_members", path);
	if (json_array_size(members) > MEMBERS_MAX)
		return fail(c, "%s.remote_group_members: more than %d addresses", path,
		            MEMBERS_MAX);
	for (i = 0; i < json_array_size(members); i++) {
		if (ip_parse(json_string_value(json_array_get(members, i)), &x.a0) < 0)
			return fail(c, "%s.remote_group_members[%zu]: not an IPv4 address", path,
			            i);
		x.a1 = x.a0;
		if (!strcmp(d, dir))
			boxes_push(b, &x);
	}
	return 0;
}

static void addr_elem(char *out, size_t n, uint32_t lo, uint32_t hi)
{
	char a[16], z[16];
	uint64_t size = (uint64_t)hi - lo + 1;
	int len = 32;

	ip_str(lo, a);
	ip_str(hi, z);
	while (len > 0 && ((uint64_t)1 << (32 - len)) < size)
		len--;
	if (lo == hi)
		snprintf(out, n, "%s", a);
	else if (((uint64_t)1 << (32 - len)) == size && (lo & (uint32_t)(size - 1)) == 0)
		snprintf(out, n, "%s/%d", a, len);
	else
		snprintf(out, n, "%s-%s", a, z);
}

static void range_elem(char *out, size_t n, uint32_t lo, uint32_t hi)
{
	if (lo == hi)
		snprintf(out, n, "%u", lo);
	else
		snprintf(out, n, "%u-%u", lo, hi);
}

/* set sg_<x8>_<in|out>: the group's rules of one direction, compiled. */
static int write_sg_set(struct ctx *c, struct out *o, const struct sg *g, bool ingress)
{
	struct boxes in = { 0 }, set = { 0 };
	char path[64];
	size_t i;
	int r = 0;

	for (i = 0; g->rules && i < json_array_size(g->rules); i++) {
		snprintf(path, sizeof(path), "security_groups[%zu].rules[%zu]", g->idx, i);
		if ((r = rule_boxes(c, json_array_get(g->rules, i), path,
		                    ingress ? "ingress" : "egress", &in)) < 0)
			goto out;
		if (in.n > BOXES_MAX) {
			r = fail(c, "security_groups[%zu].rules: more than %d addresses in all",
			         g->idx, BOXES_MAX);
			goto out;
		}
	}
	if (in.n && (r = sg_compile(in.v, in.n, &set)) < 0) {
		r = fail(c, "security_groups[%zu].rules: too many overlapping rules to compile",
		         g->idx);
		goto out;
	}
	P(o,
	  "\tset sg_%s_%s {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n",
	  g->x8, ingress ? "in" : "out");
	for (i = 0; i < set.n; i++) {
		char a[40], p[16], t[16];
		addr_elem(a, sizeof(a), set.v[i].a0, set.v[i].a1);
		range_elem(p, sizeof(p), set.v[i].p0, set.v[i].p1);
		range_elem(t, sizeof(t), set.v[i].t0, set.v[i].t1);
		P(o, "%s%s . %s . %s", i ? ",\n\t\t\t" : "\t\telements = { ", a, p, t);
	}
	P(o, "%s\t}\n", set.n ? " }\n" : "");
out:
	free(in.v);
	free(set.v);
	return r;
}

/* ---- host script -------------------------------------------------------- */

static void write_l2(struct out *o, const struct host *h)
{
	size_t i, k, n, nup;
	const char *sep;
	char ip[16];

	table_replace(o, "bridge", "kumo_l2");
	/* NIC ports: what each may send */
	P(o, "\tset nic_mac {\n\t\ttype ifname . ether_addr\n");
	for (i = 0, sep = "\t\telements = { "; i < h->nnics; i++, sep = ",\n\t\t\t")
		P(o, "%s\"ktp-%s\" . %s", sep, h->nics[i].x8, h->nics[i].mac);
	P(o, "%s\t}\n", h->nnics ? " }\n" : "");
	P(o, "\tset nic_ip {\n\t\ttype ifname . ether_addr . ipv4_addr\n");
	for (i = 0, sep = "\t\telements = { "; i < h->nnics; i++, sep = ",\n\t\t\t") {
		ip_str(h->nics[i].ip, ip);
		P(o, "%s\"ktp-%s\" . %s . %s", sep, h->nics[i].x8, h->nics[i].mac, ip);
	}
	P(o, "%s\t}\n", h->nnics ? " }\n" : "");
	/* ARP: ether source . sender MAC . sender address, the NIC's own or a probe's 0.0.0.0 */
	P(o, "\tset nic_arp {\n\t\ttype ifname . ether_addr . ether_addr . ipv4_addr\n");
	for (i = 0, sep = "\t\telements = { "; i < h->nnics; i++, sep = ",\n\t\t\t") {
		const struct nic *nc = &h->nics[i];
		ip_str(nc->ip, ip);
		P(o, "%s\"ktp-%s\" . %s . %s . %s,\n\t\t\t\"ktp-%s\" . %s . %s . 0.0.0.0", sep,
		  nc->x8, nc->mac, nc->mac, ip, nc->x8, nc->mac, nc->mac);
	}
	P(o, "%s\t}\n", h->nnics ? " }\n" : "");
	/* uplinks of L2s with a local service namespace: keep its answers here */
	P(o, "\tset uplinks {\n\t\ttype ifname\n");
	for (i = 0, n = 0; i < h->nl2; i++)
		if (h->l2[i].has_ns && h->l2[i].uplink[0])
			P(o, "%s\"%s\"", n++ ? ", " : "\t\telements = { ", h->l2[i].uplink);
	P(o, "%s\t}\n", n ? " }\n" : "");
	nup = n;
	P(o, "\tset guard_mac {\n\t\ttype ifname . ether_addr\n");
	for (i = 0, n = 0; i < h->nl3; i++) {
		const struct l3 *l = &h->l3[i];
		const struct l2 *l2 = &h->l2[l->l2];
		if (!l->public && l2->uplink[0])
			P(o, "%s\"%s\" . %s", n++ ? ",\n\t\t\t" : "\t\telements = { ", l2->uplink,
			  l->gwmac);
	}
	P(o, "%s\t}\n", n ? " }\n" : "");
	P(o, "\tset guard_ip {\n\t\ttype ifname . ipv4_addr\n");
	for (i = 0, n = 0; i < h->nl3; i++) {
		const struct l3 *l = &h->l3[i];
		const struct l2 *l2 = &h->l2[l->l2];
		if (l->public || !l2->uplink[0] || !l->has_gw)
			continue;
		/* two L3s of one L2 may share a gateway address: one element */
		for (k = 0; k < i; k++)
			if (!h->l3[k].public && h->l3[k].l2 == l->l2 && h->l3[k].has_gw &&
			    h->l3[k].gw == l->gw)
				break;
		if (k < i)
			continue;
		ip_str(l->gw, ip);
		P(o, "%s\"%s\" . %s", n++ ? ",\n\t\t\t" : "\t\telements = { ", l2->uplink, ip);
	}
	P(o, "%s\t}\n", n ? " }\n" : "");
	P(o,
	  "\tchain prerouting {\n"
	  "\t\ttype filter hook prerouting priority filter; policy accept;\n"
	  "\t\tiifname \"ktp-*\" jump nic_in\n"
	  "\t\tiifname @uplinks jump uplink_in\n"
	  "\t}\n"
	  "\tchain nic_in {\n"
	  "\t\tether type ip iifname . ether saddr . ip saddr @nic_ip accept\n"
	  "\t\tiifname . ether saddr @nic_mac ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept\n"
	  "\t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
	  "iifname . ether saddr . arp saddr ether . arp saddr ip @nic_arp accept\n"
	  "\t\tdrop\n"
	  "\t}\n"
	  "\tchain uplink_in {\n"
	  "\t\tiifname . ether saddr @guard_mac drop\n"
	  "\t\tiifname . ether daddr @guard_mac drop\n"
	  "\t\tiifname . arp saddr ip @guard_ip drop\n"
	  "\t\tiifname . arp daddr ip @guard_ip drop\n"
	  "\t\tudp dport { 67, 68 } drop\n"
	  "\t}\n");
	/* no hook on the way out where no frame could match (every frame
	 * the bridge forwards would pay for it) */
	if (nup)
		P(o, "\tchain forward {\n"
		     "\t\ttype filter hook forward priority filter; policy accept;\n"
		     "\t\toifname @uplinks jump uplink_out\n"
		     "\t}\n"
		     "\tchain output {\n"
		     "\t\ttype filter hook output priority filter; policy accept;\n"
		     "\t\toifname @uplinks jump uplink_out\n"
		     "\t}\n");
	P(o, "\tchain uplink_out {\n"
	     "\t\toifname . ether saddr @guard_mac drop\n"
	     "\t\toifname . ether daddr @guard_mac drop\n"
	     "\t\toifname . arp saddr ip @guard_ip drop\n"
	     "\t\toifname . arp daddr ip @guard_ip drop\n"
	     "\t\tudp dport { 67, 68 } drop\n"
	     "\t}\n"
	     "}\n");
}

/* Marks between kumo_flow and kumo_sg: bits 24..27 of the packet mark are
 * Kumo's on a bridged frame. kumo_flow clears them when the frame comes (so
 * that no one else's mark can pass for a known flow) and again before it
 * leaves; frames without them are not written to. */
#define M_EST "0x01000000"   /* a frame of a flow allowed before */
#define M_ALLOW "0x02000000" /* the groups allowed a new flow */
#define M_OURS "0x0f000000"
#define M_CLEAR "0xf0ffffff"
#define FLOW_TCP_S 3600
#define FLOW_UDP_S 180
#define FLOW_ICMP_S 30
#define FLOWS_MAX 262144

/* bridge kumo_flow: the flows the groups allowed. It is never replaced, so
 * that a rule change or a new VM does not forget the connections that are
 * open (what conntrack would keep; this kernel has no conntrack in the
 * bridge family): the script only declares it and rewrites its two chains,
 * which run just before and just after kumo_sg's (whose "filter" is -200
 * in this family).
 *
 * One entry per direction of a flow, keyed by what a frame of it carries:
 * the port it leaves by, its addresses and its ports (ids for ping). Both
 * entries are added when kumo_sg lets the flow's first frame through, so
 * that every later frame, either way, is one lookup in "pre" and skips the
 * groups. The sender is known by its address: kumo_l2 binds every NIC
 * port to its own. A set per protocol keeps keys at five fields, the most
 * nft 1.0.6 can list (a sixth, the ingress port, would make `nft list
 * ruleset` print nonsense). */
static void write_flow(struct out *o)
{
	static const char *const proto[] = { "tcp", "udp" };
	static const int timeout[] = { FLOW_TCP_S, FLOW_UDP_S };

	/* the layout before 2026-11-22 (sets flows, echoes, ports, chain
	 * track): declared, so that deleting it cannot fail */
	P(o,
	  "table bridge kumo_flow {\n"
	  "\tset flows {\n\t\ttypeof iifname . ip daddr . meta l4proto . th sport . th dport\n"
	  "\t\tsize %d\n\t\tflags dynamic,timeout\n\t}\n"
	  "\tset echoes {\n\t\ttypeof iifname . ip daddr . icmp id\n\t\tsize %d\n"
	  "\t\tflags dynamic,timeout\n\t}\n"
	  "\tset ports {\n\t\ttype ifname\n\t}\n"
	  "\tchain track {\n\t}\n",
	  FLOWS_MAX, FLOWS_MAX / 4);
	for (int i = 0; i < 2; i++)
		P(o,
		  "\tset flows_%s {\n"
		  "\t\ttypeof meta oif . ip saddr . ip daddr . %s sport . %s dport\n"
		  "\t\tsize %d\n\t\tflags dynamic,timeout\n\t}\n",
		  proto[i], proto[i], proto[i], FLOWS_MAX);
	P(o,
	  "\tset flows_echo {\n\t\ttypeof meta oif . ip saddr . ip daddr . icmp id\n\t\tsize %d\n"
	  "\t\tflags dynamic,timeout\n\t}\n"
	  "\tchain pre {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n\t}\n"
	  "\tchain post {\n\t\ttype filter hook forward priority filter + 10; policy accept;\n\t}\n"
	  "}\n"
	  "flush chain bridge kumo_flow pre\n"
	  "flush chain bridge kumo_flow post\n"
	  "flush chain bridge kumo_flow track\n"
	  "delete chain bridge kumo_flow track\n"
	  "delete set bridge kumo_flow flows\n"
	  "delete set bridge kumo_flow echoes\n"
	  "delete set bridge kumo_flow ports\n",
	  FLOWS_MAX / 4);
	/* a frame of a known flow: refresh its entry, skip the groups */
	P(o, "add rule bridge kumo_flow pre meta mark & " M_OURS " != 0 "
	     "meta mark set meta mark & " M_CLEAR "\n"
	     "add rule bridge kumo_flow pre ether type != ip return\n");
	for (int i = 0; i < 2; i++)
		P(o,
		  "add rule bridge kumo_flow pre meta l4proto %s "
		  "meta oif . ip saddr . ip daddr . %s sport . %s dport @flows_%s "
		  "update @flows_%s { meta oif . ip saddr . ip daddr . %s sport . %s dport "
		  "timeout %ds } "
		  "meta mark set meta mark | " M_EST " return\n",
		  proto[i], proto[i], proto[i], proto[i], proto[i], proto[i], proto[i], timeout[i]);
	P(o, "add rule bridge kumo_flow pre icmp type echo-reply "
	     "meta oif . ip saddr . ip daddr . icmp id @flows_echo "
	     "meta mark set meta mark | " M_EST "\n");
	/* a new flow the groups allowed: both directions */
	P(o, "add rule bridge kumo_flow post meta mark & " M_OURS " == 0 return\n"
	     "add rule bridge kumo_flow post meta mark & " M_ALLOW " == 0 "
	     "meta mark set meta mark & " M_CLEAR " return\n");
	for (int i = 0; i < 2; i++)
		P(o,
		  "add rule bridge kumo_flow post meta l4proto %s "
		  "add @flows_%s { meta oif . ip saddr . ip daddr . %s sport . %s dport "
		  "timeout %ds } "
		  "add @flows_%s { meta iif . ip daddr . ip saddr . %s dport . %s sport "
		  "timeout %ds }\n",
		  proto[i], proto[i], proto[i], proto[i], timeout[i], proto[i], proto[i], proto[i],
		  timeout[i]);
	P(o,
	  "add rule bridge kumo_flow post icmp type echo-request "
	  "add @flows_echo { meta iif . ip daddr . ip saddr . icmp id timeout %ds }\n"
	  "add rule bridge kumo_flow post meta mark set meta mark & " M_CLEAR "\n",
	  FLOW_ICMP_S);
}

static int write_sg(struct ctx *c, struct out *o, const struct host *h)
{
	size_t i, k, n;
	int r;

	write_flow(o);
	table_replace(o, "bridge", "kumo_sg");
	for (i = 0; i < h->nsgs; i++)
		if ((r = write_sg_set(c, o, &h->sgs[i], true)) < 0 ||
		    (r = write_sg_set(c, o, &h->sgs[i], false)) < 0)
			return r;
	for (int dir = 0; dir < 2; dir++) {
		P(o, "\tmap nic_%s {\n\t\ttype ifname : verdict\n", dir ? "in" : "out");
		for (i = 0, n = 0; i < h->nnics; i++) {
			if (!h->nics[i].nsgs)
				continue;
			P(o, "%s\"ktp-%s\" : jump nic_%s_%s",
			  n++ ? ",\n\t\t\t" : "\t\telements = { ", h->nics[i].x8, h->nics[i].x8,
			  dir ? "in" : "out");
		}
		P(o, "%s\t}\n", n ? " }\n" : "");
	}
	/* A NIC is its bridge port here: the sender's egress chain returns
	 * when allowed, so that a local receiver's ingress is checked too. */
	P(o, "\tchain forward {\n"
	     "\t\ttype filter hook forward priority filter; policy accept;\n"
	     "\t\tmeta mark & " M_EST " == " M_EST " return\n"
	     "\t\tether type != ip return\n"
	     "\t\tiifname vmap @nic_out\n"
	     "\t\toifname vmap @nic_in\n"
	     "\t}\n");
	for (i = 0; i < h->nnics; i++) {
		const struct nic *nc = &h->nics[i];
		if (!nc->nsgs)
			continue;
		P(o,
		  "\tchain nic_%s_out {\n"
		  "\t\tip frag-off & 0x1fff != 0 return\n"
		  "\t\tudp sport 68 udp dport 67 return\n",
		  nc->x8);
		for (k = 0; k < nc->nsgs; k++)
			P(o,
			  "\t\tip daddr . meta l4proto . th dport @sg_%s_out "
			  "meta mark set meta mark | " M_ALLOW " return\n",
			  h->sgs[nc->sgs[k]].x8);
		P(o, "\t\tdrop\n\t}\n");
		P(o,
		  "\tchain nic_%s_in {\n"
		  "\t\tip frag-off & 0x1fff != 0 accept\n"
		  "\t\tudp sport 67 udp dport 68 accept\n",
		  nc->x8);
		for (k = 0; k < nc->nsgs; k++)
			P(o,
			  "\t\tip saddr . meta l4proto . th dport @sg_%s_in "
			  "meta mark set meta mark | " M_ALLOW " accept\n",
			  h->sgs[nc->sgs[k]].x8);
		P(o, "\t\tdrop\n\t}\n");
	}
	P(o, "}\n");
	return 0;
}

static void write_qos(struct out *o, const struct host *h)
{
	table_replace(o, "netdev", "kumo_qos");
	for (size_t i = 0; i < h->nnics; i++) {
		const struct nic *nc = &h->nics[i];
		uint64_t rate = (uint64_t)nc->bw_out * 1000 / 8, burst = rate / 8;

		if (!nc->bw_out)
			continue;
		if (burst < 16384)
			burst = 16384;
		P(o,
		  "\tchain q_%s {\n"
		  "\t\ttype filter hook ingress device \"ktp-%s\" priority 0; policy accept;\n"
		  "\t\tlimit rate over %llu bytes/second burst %llu bytes drop\n"
		  "\t}\n",
		  nc->x8, nc->x8, (unsigned long long)rate, (unsigned long long)burst);
	}
	P(o, "}\n");
}

char *nft_host_script(const json_t *spec, char *err, size_t errlen)
{
	struct ctx c = { err, errlen };
	struct out o = { .r = 0 };
	struct host h;
	char *s = NULL;

	buf_init(&o.b, SCRIPT_MAX);
	if (host_parse(&c, spec, &h) < 0)
		goto out;
	write_l2(&o, &h);
	if (write_sg(&c, &o, &h) < 0)
		goto out;
	write_qos(&o, &h);
	s = out_finish(&o, &c);
out:
	buf_free(&o.b);
	host_free(&h);
	return s;
}

char *nft_host_delete_script(void)
{
	static const char *const t[][2] = {
		{ "bridge", "kumo_l2" },
		{ "bridge", "kumo_sg" },
		{ "bridge", "kumo_flow" },
		{ "netdev", "kumo_qos" },
	};
	struct buf b;

	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (buf_printf(&b, "table %s %s {}\ndelete table %s %s\n", t[i][0], t[i][1],
		               t[i][0], t[i][1]) < 0)
			abort(); /* a few hundred bytes of constants */
	return buf_steal(&b);
}

/* ---- service namespace -------------------------------------------------- */

struct eip {
	uint32_t ip, priv;
};

struct pf {
	uint32_t pub, priv, proto, p0, p1, priv0;
	uint32_t a0, a1; /* allowed sources */
	size_t idx;
};

static int cmp_eip(const void *a, const void *b)
{
	const struct eip *x = a, *y = b;
	return x->ip < y->ip ? -1 : x->ip > y->ip;
}

static int cmp_pf(const void *a, const void *b)
{
	const struct pf *x = a, *y = b;
	if (x->pub != y->pub)
		return x->pub < y->pub ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->p0 < y->p0 ? -1 : x->p0 > y->p0;
}

static bool has_service(const json_t *l3, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(l3, "services"), i,
	                   v) if (json_is_string(v) &&
	                          !strcmp(json_string_value(v), name)) return true;
	return false;
}

static int parse_eips(struct ctx *c, const json_t *l3, const char *path, uint32_t net0,
                      uint32_t net1, struct eip **ret, size_t *ret_n)
{
	const json_t *arr, *o;
	struct eip *v;
	char p[64];
	size_t i, n = 0;
	int r;

	if ((r = jarray(c, l3, "eips", path, &arr)) < 0)
		return r;
	v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
	json_array_foreach(arr, i, o)
	{
		snprintf(p, sizeof(p), "%s.eips[%zu]", path, i);
		if ((r = jip(c, o, "ip", p, &v[n].ip)) < 0 ||
		    (r = jip(c, o, "private_ip", p, &v[n].priv)) < 0)
			goto fail;
		if (v[n].priv < net0 || v[n].priv > net1) {
			r = fail(c, "%s.private_ip: outside the L3's cidr", p);
			goto fail;
		}
		for (size_t k = 0; k < n; k++)
			if (v[k].ip == v[n].ip || v[k].priv == v[n].priv) {
				r = fail(c, "%s: same address as %s.eips[%zu]", p, path, k);
				goto fail;
			}
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_eip);
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free(v);
	return r;
}

static int parse_pfs(struct ctx *c, const json_t *l3, const char *path, uint32_t net0,
                     uint32_t net1, struct pf **ret, size_t *ret_n)
{
	const json_t *arr, *o;
	struct pf *v;
	char p[64];
	size_t i, n = 0;
	int r;

	if ((r = jarray(c, l3, "port_forwards", path, &arr)) < 0)
		return r;
	v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
	json_array_foreach(arr, i, o)
	{
		struct pf *f = &v[n];
		const char *proto = jstr(o, "protocol"), *allowed = jstr(o, "allowed_cidr");

		snprintf(p, sizeof(p), "%s.port_forwards[%zu]", path, i);
		f->idx = i;
		if (!proto || (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
			r = fail(c, "%s.protocol: not tcp or udp", p);
			goto fail;
		}
		f->proto = proto[0] == 't' ? 6 : 17;
		if ((r = jip(c, o, "public_ip", p, &f->pub)) < 0 ||
		    (r = jip(c, o, "private_ip", p, &f->priv)) < 0 ||
		    (r = jport(c, o, "public_port_start", p, 1, &f->p0)) < 0 ||
		    (r = jport(c, o, "public_port_end", p, 1, &f->p1)) < 0 ||
		    (r = jport(c, o, "private_port_start", p, 1, &f->priv0)) < 0)
			goto fail;
		if (f->priv < net0 || f->priv > net1) {
			r = fail(c, "%s.private_ip: outside the L3's cidr", p);
			goto fail;
		}
		if (f->p1 < f->p0 || f->p1 - f->p0 >= PF_PORTS_MAX) {
			r = fail(c,
			         "%s.public_port_end: not within %d ports above public_port_start",
			         p, PF_PORTS_MAX);
			goto fail;
		}
		if (f->priv0 + (f->p1 - f->p0) > 65535) {
			r = fail(c, "%s.private_port_start: the range passes 65535", p);
			goto fail;
		}
		if (!allowed)
			f->a0 = 0, f->a1 = UINT32_MAX;
		else if (cidr_parse(allowed, &f->a0, &f->a1) < 0) {
			r = fail(c, "%s.allowed_cidr: not an IPv4 CIDR", p);
			goto fail;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_pf);
	for (i = 1; i < n; i++)
		if (v[i].pub == v[i - 1].pub && v[i].proto == v[i - 1].proto &&
		    v[i].p0 <= v[i - 1].p1) {
			r = fail(
			    c, "%s.port_forwards[%zu]: its public ports overlap port_forwards[%zu]",
			    path, v[i].idx, v[i - 1].idx);
			goto fail;
		}
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	free(v);
	return r;
}

static void write_nat(struct out *o, const struct eip *eips, size_t neip, const struct pf *pfs,
                      size_t npf, const char *cidr, bool snat, bool has_uplink, uint32_t uplink)
{
	char a[40], b[16];
	size_t i, n;

	table_replace(o, "inet", "kumo_nat");
	for (int dir = 0; dir < 2; dir++) {
		P(o, "\tmap eip_%s {\n\t\ttype ipv4_addr : ipv4_addr\n", dir ? "out" : "in");
		for (i = 0; i < neip; i++) {
			ip_str(dir ? eips[i].priv : eips[i].ip, a);
			ip_str(dir ? eips[i].ip : eips[i].priv, b);
			P(o, "%s%s : %s", i ? ",\n\t\t\t" : "\t\telements = { ", a, b);
		}
		P(o, "%s\t}\n", neip ? " }\n" : "");
	}
	/* public address . protocol . port of every forward */
	P(o,
	  "\tset pf_dst {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n");
	for (i = 0; i < npf; i++) {
		ip_str(pfs[i].pub, a);
		P(o, "%s%s . %u . %u-%u", i ? ",\n\t\t\t" : "\t\telements = { ", a, pfs[i].proto,
		  pfs[i].p0, pfs[i].p1);
	}
	P(o, "%s\t}\n", npf ? " }\n" : "");
	P(o, "\tset pf_allow {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
	     "\t\tflags interval\n");
	for (i = 0; i < npf; i++) {
		addr_elem(a, sizeof(a), pfs[i].a0, pfs[i].a1);
		ip_str(pfs[i].pub, b);
		P(o, "%s%s . %s . %u . %u-%u", i ? ",\n\t\t\t" : "\t\telements = { ", a, b,
		  pfs[i].proto, pfs[i].p0, pfs[i].p1);
	}
	P(o, "%s\t}\n", npf ? " }\n" : "");
	/* ports kept as they are: one interval element; moved: one element per port */
	P(o, "\tmap pf_addr {\n\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr\n"
	     "\t\tflags interval\n");
	for (i = 0, n = 0; i < npf; i++) {
		if (pfs[i].priv0 != pfs[i].p0)
			continue;
		ip_str(pfs[i].pub, a);
		ip_str(pfs[i].priv, b);
		P(o, "%s%s . %u . %u-%u : %s", n++ ? ",\n\t\t\t" : "\t\telements = { ", a,
		  pfs[i].proto, pfs[i].p0, pfs[i].p1, b);
	}
	P(o, "%s\t}\n", n ? " }\n" : "");
	P(o, "\tmap pf_port {\n\t\ttype ipv4_addr . inet_proto . inet_service : "
	     "ipv4_addr . inet_service\n");
	for (i = 0, n = 0; i < npf; i++) {
		if (pfs[i].priv0 == pfs[i].p0)
			continue;
		ip_str(pfs[i].pub, a);
		ip_str(pfs[i].priv, b);
		for (uint32_t port = pfs[i].p0; port <= pfs[i].p1; port++)
			P(o, "%s%s . %u . %u : %s . %u", n++ ? ",\n\t\t\t" : "\t\telements = { ", a,
			  pfs[i].proto, port, b, pfs[i].priv0 + (port - pfs[i].p0));
	}
	P(o, "%s\t}\n", n ? " }\n" : "");
	P(o, "\tchain prerouting {\n"
	     "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	     "\t\tiifname != \"kup0\" return\n"
	     "\t\tip daddr . meta l4proto . th dport @pf_dst jump port_forward\n"
	     "\t\tdnat ip to ip daddr map @eip_in\n"
	     "\t}\n"
	     "\tchain port_forward {\n"
	     "\t\tip saddr . ip daddr . meta l4proto . th dport != @pf_allow drop\n"
	     "\t\tdnat ip to ip daddr . meta l4proto . th dport map @pf_port\n"
	     "\t\tdnat ip to ip daddr . meta l4proto . th dport map @pf_addr\n"
	     "\t}\n"
	     "\tchain postrouting {\n"
	     "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	     "\t\toifname != \"kup0\" return\n"
	     "\t\tsnat ip to ip saddr map @eip_out\n");
	if (snat && has_uplink) {
		ip_str(uplink, b);
		P(o, "\t\tip saddr %s snat ip to %s\n", cidr, b);
	}
	P(o, "\t}\n}\n");
}

static void write_svc(struct out *o, const json_t *l3, const struct eip *eips, size_t neip,
                      const char *cidr, bool has_gw, uint32_t gw)
{
	char a[16];

	table_replace(o, "inet", "kumo_svc");
	P(o, "\tset eip_src {\n\t\ttype ipv4_addr\n");
	for (size_t i = 0; i < neip; i++) {
		ip_str(eips[i].priv, a);
		P(o, "%s%s", i ? ", " : "\t\telements = { ", a);
	}
	P(o, "%s\t}\n", neip ? " }\n" : "");
	P(o, "\tchain input {\n"
	     "\t\ttype filter hook input priority filter; policy drop;\n"
	     "\t\tiifname \"lo\" accept\n"
	     "\t\tct state established,related accept\n"
	     "\t\tct state invalid drop\n"
	     "\t\tiifname \"kgw0\" jump from_vm\n"
	     "\t}\n"
	     "\tchain from_vm {\n");
	if (has_service(l3, "dhcp"))
		P(o, "\t\tudp dport 67 accept\n");
	if (has_service(l3, "dns"))
		P(o, "\t\tmeta l4proto { tcp, udp } th dport 53 accept\n");
	if (has_service(l3, "metadata"))
		P(o, "\t\tip daddr 169.254.169.254 tcp dport 80 accept\n");
	if (has_gw) {
		ip_str(gw, a);
		P(o, "\t\tip daddr %s icmp type echo-request accept\n", a);
	}
	P(o, "\t}\n"
	     "\tchain forward {\n"
	     "\t\ttype filter hook forward priority filter; policy drop;\n"
	     "\t\tct state established,related accept\n"
	     "\t\tct state invalid drop\n"
	     "\t\tiifname \"kup0\" oifname \"kgw0\" ct status dnat accept\n"
	     "\t\tiifname \"kgw0\" oifname \"kup0\" ip saddr @eip_src accept\n");
	if (has_service(l3, "snat"))
		P(o, "\t\tiifname \"kgw0\" oifname \"kup0\" ip saddr %s accept\n", cidr);
	P(o, "\t}\n}\n");
}

char *nft_ns_script(const json_t *spec, const json_t *l3, char *err, size_t errlen)
{
	struct ctx c = { err, errlen };
	struct out o = { .r = 0 };
	const json_t *uplink = json_object_get(l3, "uplink"), *services;
	struct eip *eips = NULL;
	struct pf *pfs = NULL;
	size_t neip = 0, npf = 0, i;
	uint32_t net0, net1, gw = 0, up = 0;
	char path[32] = "l3", cidr[40], x8[9];
	bool has_up = false;
	char *s = NULL;

	buf_init(&o.b, SCRIPT_MAX);
	/* name the L3 by its place in the spec when it is one of its elements */
	for (i = 0; i < json_array_size(json_object_get(spec, "l3")); i++)
		if (json_array_get(json_object_get(spec, "l3"), i) == l3)
			snprintf(path, sizeof(path), "l3[%zu]", i);
	if (!json_is_object(l3)) {
		fail(&c, "%s: not an object", path);
		goto out;
	}
	if (x8_parse(jstr(l3, "id"), x8) < 0) {
		fail(&c, "%s.id: not an id", path);
		goto out;
	}
	if (jbool(l3, "public", false)) {
		fail(&c, "%s.public: a public L3 has no service namespace", path);
		goto out;
	}
	if (cidr_parse(jstr(l3, "cidr"), &net0, &net1) < 0) {
		fail(&c, "%s.cidr: not an IPv4 CIDR", path);
		goto out;
	}
	addr_elem(cidr, sizeof(cidr), net0, net1);
	if (jstr(l3, "gateway") && ip_parse(jstr(l3, "gateway"), &gw) < 0) {
		fail(&c, "%s.gateway: not an IPv4 address", path);
		goto out;
	}
	services = json_object_get(l3, "services");
	if (services && !json_is_null(services) && !json_is_array(services)) {
		fail(&c, "%s.services: not an array", path);
		goto out;
	}
	if (uplink && !json_is_null(uplink)) {
		char p[48];
		snprintf(p, sizeof(p), "%s.uplink", path);
		if (!json_is_object(uplink)) {
			fail(&c, "%s: not an object", p);
			goto out;
		}
		if (jip(&c, uplink, "ip", p, &up) < 0)
			goto out;
		has_up = true;
	}
	if (has_service(l3, "eip") && parse_eips(&c, l3, path, net0, net1, &eips, &neip) < 0)
		goto out;
	if (has_service(l3, "port_forwarding") &&
	    parse_pfs(&c, l3, path, net0, net1, &pfs, &npf) < 0)
		goto out;
	write_nat(&o, eips, neip, pfs, npf, cidr, has_service(l3, "snat"), has_up, up);
	write_svc(&o, l3, eips, neip, cidr, jstr(l3, "gateway") != NULL, gw);
	s = out_finish(&o, &c);
out:
	buf_free(&o.b);
	free(eips);
	free(pfs);
	return s;
}
