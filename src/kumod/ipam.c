/* SPDX-License-Identifier: MIT */
/*
 * IPv4 address management (see ipam.h): strict address and CIDR parsing,
 * the checks of an l3-network body and the plan built from it (network,
 * gateway, sorted address ranges), and picking the lowest free address.
 *
 * Pure logic. Which addresses are taken is the store's business; the caller
 * passes them in, sorted, from inside its transaction.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kumod/ipam.h"

#define PREFIX_MIN 8
#define PREFIX_MAX 30
/* DHCP option 6 carries a list; resolvers use the first three. */
#define IPAM_MAX_DNS 8
/* How much of a client's string is echoed back in a message. */
#define ECHO "%.64s"

static int __attribute__((format(printf, 3, 4)))
fail(struct kerr *err, const char *field, const char *fmt, ...)
{
	char m[KERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return kerr_set(err, -EINVAL, field, "%s", m);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Dotted quad at s; *end set past it. No leading zeros, 0..255 per octet. */
static int parse_quad(const char *s, const char **end, uint32_t *ret)
{
	uint32_t ip = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = 0;
		int nd = 0;

		if (i > 0 && *s++ != '.')
			return -EINVAL;
		if (!is_digit(*s) || (*s == '0' && is_digit(s[1])))
			return -EINVAL;
		while (is_digit(*s)) {
			if (++nd > 3)
				return -EINVAL;
			v = v * 10 + (unsigned)(*s++ - '0');
		}
		if (v > 255)
			return -EINVAL;
		ip = ip << 8 | v;
	}
	*end = s;
	*ret = ip;
	return 0;
}

int ip_parse(const char *s, uint32_t *ret)
{
	const char *end;
	uint32_t ip;

	if (!s || parse_quad(s, &end, &ip) < 0 || *end)
		return -EINVAL;
	*ret = ip;
	return 0;
}

void ip_format(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

static uint32_t prefix_mask(uint32_t pfx)
{
	if (pfx == 0)
		return 0;
	if (pfx >= 32)
		return 0xffffffffu;
	return 0xffffffffu << (32 - pfx);
}

/* cidr_parse() with messages for a body field. */
static int cidr_check(const char *s, uint32_t *ret_net, uint32_t *ret_prefix, struct kerr *err,
                      const char *field)
{
	const char *p;
	uint32_t ip, pfx = 0;
	char a[16], b[16];

	if (!s)
		return fail(err, field, "a CIDR such as 10.0.0.0/24 is required");
	if (parse_quad(s, &p, &ip) < 0 || (*p != '/' && *p != '\0'))
		return fail(err, field, "\"" ECHO "\" is not an IPv4 CIDR such as 10.0.0.0/24", s);
	if (*p == '\0')
		return fail(err, field, ECHO " has no prefix length; for example " ECHO "/24", s,
		            s);
	p++;
	if (!is_digit(p[0]) || (p[0] == '0' && p[1]) || (p[1] && !is_digit(p[1])) || (p[1] && p[2]))
		return fail(err, field, "\"" ECHO "\" has a malformed prefix length", s);
	for (; *p; p++)
		pfx = pfx * 10 + (uint32_t)(*p - '0');
	if (pfx < PREFIX_MIN || pfx > PREFIX_MAX)
		return fail(err, field, "prefix length /%u is outside /%d../%d", pfx, PREFIX_MIN,
		            PREFIX_MAX);
	if ((ip & prefix_mask(pfx)) != ip) {
		ip_format(ip, a);
		ip_format(ip & prefix_mask(pfx), b);
		return fail(err, field, "%s/%u is not a network address; did you mean %s/%u?", a,
		            pfx, b, pfx);
	}
	*ret_net = ip;
	*ret_prefix = pfx;
	return 0;
}

int cidr_parse(const char *s, uint32_t *ret_net, uint32_t *ret_prefix)
{
	return cidr_check(s, ret_net, ret_prefix, NULL, NULL);
}

bool cidr_overlap(uint32_t net_a, uint32_t pfx_a, uint32_t net_b, uint32_t pfx_b)
{
	uint32_t m = prefix_mask(pfx_a < pfx_b ? pfx_a : pfx_b);

	return (net_a & m) == (net_b & m);
}

/* An address field of the body; absent or null leaves *ret alone, returns 0. */
static int get_ip(const json_t *o, const char *key, const char *field, uint32_t *ret,
                  bool *ret_present, struct kerr *err)
{
	const json_t *v = json_object_get(o, key);

	*ret_present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || ip_parse(json_string_value(v), ret) < 0)
		return fail(err, field, ECHO " is not an IPv4 address such as 10.0.0.1",
		            json_is_string(v) ? json_string_value(v) : "the value");
	*ret_present = true;
	return 0;
}

struct net {
	uint32_t network, broadcast;
	char cidr[24]; /* for messages */
};

static bool in_net(const struct net *n, uint32_t ip)
{
	return ip >= n->network && ip <= n->broadcast;
}

/* An address that a range or gateway must not be: outside, network, broadcast. */
static int check_host_addr(const struct net *n, uint32_t ip, const char *what, const char *field,
                           struct kerr *err)
{
	char a[16];

	ip_format(ip, a);
	if (!in_net(n, ip))
		return fail(err, field, "%s %s is outside %s", what, a, n->cidr);
	if (ip == n->network)
		return fail(err, field, "%s %s is the network address of %s", what, a, n->cidr);
	if (ip == n->broadcast)
		return fail(err, field, "%s %s is the broadcast address of %s", what, a, n->cidr);
	return 0;
}

static int parse_range(const json_t *el, int i, const struct net *n, struct ip_range *ret,
                       struct kerr *err)
{
	char field[KERR_FIELD_MAX], a[16], b[16];
	const char *key;
	const json_t *v;
	uint32_t start = 0, end = 0;
	bool has_start, has_end;
	int r;

	snprintf(field, sizeof(field), "ip_ranges[%d]", i);
	if (!json_is_object(el))
		return fail(err, field, "each range must be an object {\"start\", \"end\"}");
	json_object_foreach((json_t *)el, key, v)
	{
		if (strcmp(key, "start") != 0 && strcmp(key, "end") != 0) {
			snprintf(field, sizeof(field), "ip_ranges[%d]." ECHO, i, key);
			return fail(err, field, "unknown field");
		}
	}

	snprintf(field, sizeof(field), "ip_ranges[%d].start", i);
	r = get_ip(el, "start", field, &start, &has_start, err);
	if (r < 0)
		return r;
	if (!has_start)
		return fail(err, field, "start is required");
	r = check_host_addr(n, start, "start", field, err);
	if (r < 0)
		return r;

	snprintf(field, sizeof(field), "ip_ranges[%d].end", i);
	r = get_ip(el, "end", field, &end, &has_end, err);
	if (r < 0)
		return r;
	if (!has_end)
		return fail(err, field, "end is required");
	r = check_host_addr(n, end, "end", field, err);
	if (r < 0)
		return r;

	if (start > end) {
		ip_format(start, a);
		ip_format(end, b);
		snprintf(field, sizeof(field), "ip_ranges[%d]", i);
		return fail(err, field, "start %s is after end %s", a, b);
	}
	ret->start = start;
	ret->end = end;
	return 0;
}

static void sort_ranges(struct ip_range *r, int n)
{
	for (int i = 1; i < n; i++) {
		struct ip_range x = r[i];
		int j = i;
		while (j > 0 && r[j - 1].start > x.start) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

static int parse_ranges(const json_t *arr, const struct net *n, uint32_t gateway,
                        bool gateway_given, struct l3_plan *p, struct kerr *err)
{
	char field[KERR_FIELD_MAX], a[16], b[16], g[16];
	size_t count = json_array_size(arr);
	int r;

	if (!json_is_array(arr))
		return fail(err, "ip_ranges", "ip_ranges must be an array of {\"start\", \"end\"}");
	if (count == 0)
		return fail(err, "ip_ranges",
		            "ip_ranges is empty; leave it out to use every host address");
	if (count > IPAM_MAX_RANGES)
		return fail(err, "ip_ranges", "ip_ranges has %zu ranges; at most %d are allowed",
		            count, IPAM_MAX_RANGES);

	for (int i = 0; i < (int)count; i++) {
		struct ip_range *cur = &p->ranges[i];

		r = parse_range(json_array_get(arr, (size_t)i), i, n, cur, err);
		if (r < 0)
			return r;
		snprintf(field, sizeof(field), "ip_ranges[%d]", i);
		ip_format(cur->start, a);
		ip_format(cur->end, b);
		if (gateway >= cur->start && gateway <= cur->end) {
			ip_format(gateway, g);
			return fail(err, field, "range %s-%s contains the gateway %s%s", a, b, g,
			            gateway_given ? ""
			                          : " (the default gateway; set \"gateway\" to "
			                            "place it elsewhere)");
		}
		for (int j = 0; j < i; j++) {
			const struct ip_range *o = &p->ranges[j];
			if (cur->start <= o->end && o->start <= cur->end)
				return fail(err, field, "range %s-%s overlaps ip_ranges[%d]", a, b,
				            j);
		}
	}
	p->nranges = (int)count;
	sort_ranges(p->ranges, p->nranges);
	return 0;
}

/* Every host address but the gateway: one range, or two around the gateway. */
static void default_ranges(const struct net *n, uint32_t gateway, struct l3_plan *p)
{
	uint32_t first = n->network + 1, last = n->broadcast - 1;

	p->nranges = 0;
	if (gateway > first)
		p->ranges[p->nranges++] = (struct ip_range){ first, gateway - 1 };
	if (gateway < last)
		p->ranges[p->nranges++] = (struct ip_range){ gateway + 1, last };
}

static int check_dns(const json_t *arr, struct kerr *err)
{
	char field[KERR_FIELD_MAX];
	const json_t *v;
	uint32_t ip;
	size_t i;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return fail(err, "dns", "dns must be an array of IPv4 addresses");
	if (json_array_size(arr) > IPAM_MAX_DNS)
		return fail(err, "dns", "dns has %zu servers; at most %d are allowed",
		            json_array_size(arr), IPAM_MAX_DNS);
	json_array_foreach(arr, i, v)
	{
		snprintf(field, sizeof(field), "dns[%zu]", i);
		if (!json_is_string(v) || ip_parse(json_string_value(v), &ip) < 0)
			return fail(err, field, ECHO " is not an IPv4 address such as 10.0.0.1",
			            json_is_string(v) ? json_string_value(v) : "the value");
	}
	return 0;
}

int ipam_plan_from_json(const json_t *l3, struct l3_plan *ret, struct kerr *err)
{
	struct l3_plan p;
	struct net n;
	const json_t *v;
	uint32_t gateway = 0;
	bool gateway_given;
	int r;

	memset(&p, 0, sizeof(p));
	if (!json_is_object(l3))
		return fail(err, "", "the l3 network must be a JSON object");

	v = json_object_get(l3, "cidr");
	if (!v || json_is_null(v))
		return fail(err, "cidr", "cidr is required, for example 10.0.0.0/24");
	if (!json_is_string(v))
		return fail(err, "cidr", "cidr must be a string such as 10.0.0.0/24");
	r = cidr_check(json_string_value(v), &p.network, &p.prefix_len, err, "cidr");
	if (r < 0)
		return r;
	p.netmask = prefix_mask(p.prefix_len);
	n.network = p.network;
	n.broadcast = p.network | ~p.netmask;
	ip_format(p.network, n.cidr);
	snprintf(n.cidr + strlen(n.cidr), sizeof(n.cidr) - strlen(n.cidr), "/%u", p.prefix_len);

	r = get_ip(l3, "gateway", "gateway", &gateway, &gateway_given, err);
	if (r < 0)
		return r;
	if (gateway_given) {
		r = check_host_addr(&n, gateway, "gateway", "gateway", err);
		if (r < 0)
			return r;
	} else {
		gateway = n.network + 1;
	}
	p.gateway = gateway;

	v = json_object_get(l3, "ip_ranges");
	if (v && !json_is_null(v)) {
		r = parse_ranges(v, &n, gateway, gateway_given, &p, err);
		if (r < 0)
			return r;
	} else {
		default_ranges(&n, gateway, &p);
	}

	r = check_dns(json_object_get(l3, "dns"), err);
	if (r < 0)
		return r;

	*ret = p;
	return 0;
}

int64_t ipam_plan_size(const struct l3_plan *p)
{
	int64_t size = 0;

	for (int i = 0; i < p->nranges; i++)
		if (p->ranges[i].end >= p->ranges[i].start)
			size += (int64_t)p->ranges[i].end - p->ranges[i].start + 1;
	return size;
}

/* Index of the first used[] entry >= ip. */
static int lower_bound(const uint32_t *used, int n, uint32_t ip)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (used[mid] < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The lowest free address of one range: a binary search to its start, then
 * a walk over the run of taken addresses there (duplicates in used[] are
 * harmless). */
static bool range_pick(const struct ip_range *rg, const uint32_t *used, int n, uint32_t *ret)
{
	uint64_t cand = rg->start;

	for (int k = lower_bound(used, n, rg->start); k < n && used[k] <= cand; k++)
		if (used[k] == cand)
			cand++;
	if (cand > rg->end)
		return false;
	*ret = (uint32_t)cand;
	return true;
}

int ipam_pick(const struct l3_plan *p, const uint32_t *used, int n, uint32_t *ret)
{
	bool found = false;
	uint32_t best = 0;

	assert(n >= 0);
	assert(used || n == 0);
	/* Plans from ipam_plan_from_json() have sorted ranges, so the first hit
	 * is the lowest; others are searched whole. */
	for (int i = 0; i < p->nranges; i++) {
		uint32_t ip;
		if (found && p->ranges[i].start > best)
			continue;
		if (range_pick(&p->ranges[i], used, n, &ip) && (!found || ip < best)) {
			best = ip;
			found = true;
		}
	}
	if (!found)
		return -ENOSPC;
	*ret = best;
	return 0;
}

void ipam_random_mac(char out[18])
{
	unsigned char b[3];

	if (sodium_init() < 0)
		abort();
	randombytes_buf(b, sizeof(b));
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}
