/* SPDX-License-Identifier: MIT */
/*
 * IPAM: strict address and CIDR parsing, every l3-network validation error
 * with the field it names, the default gateway and ranges, picking the
 * lowest free address (also in a nearly full /16), exhaustion, overlap and
 * MAC addresses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kumod/ipam.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static void test_ip_parse_good(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint32_t ip;
	} good[] = {
		{ "0.0.0.0", 0 },
		{ "255.255.255.255", 0xffffffffu },
		{ "10.0.0.1", IP(10, 0, 0, 1) },
		{ "192.168.1.20", IP(192, 168, 1, 20) },
		{ "172.16.254.3", IP(172, 16, 254, 3) },
		{ "1.0.10.100", IP(1, 0, 10, 100) },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t ip = 12345;
		char out[16];
		if (ip_parse(good[i].s, &ip) != 0 || ip != good[i].ip)
			fail_msg("ip_parse(\"%s\") = %08x", good[i].s, ip);
		ip_format(ip, out);
		assert_string_equal(out, good[i].s);
	}
}

static void test_ip_parse_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",           "1.2.3",    "1.2.3.4.5",       "256.1.1.1",        "1.2.3.256",
		"010.0.0.1",  "1.2.3.04", "1.2.3.00",        "1.2.3.4 ",         " 1.2.3.4",
		"1..2.3",     "1.2.3.-4", "a.b.c.d",         "1.2.3.4/24",       "1234.1.1.1",
		"0x1.2.3.4",  "1.2.3.",   ".1.2.3",          "1.2.3.4\n",        "+1.2.3.4",
		"1.2.3.0004", "1,2,3,4",  "999.999.999.999", "4294967297.0.0.1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t ip = 12345;
		if (ip_parse(bad[i], &ip) != -EINVAL)
			fail_msg("ip_parse(\"%s\") accepted", bad[i]);
		assert_int_equal(ip, 12345); /* untouched */
	}
	uint32_t ip = 7;
	assert_int_equal(ip_parse(NULL, &ip), -EINVAL);
	assert_int_equal(ip, 7);
}

static void test_cidr_parse(void **state)
{
	(void)state;
	uint32_t net = 1, pfx = 1;

	assert_int_equal(cidr_parse("10.0.0.0/24", &net, &pfx), 0);
	assert_int_equal(net, IP(10, 0, 0, 0));
	assert_int_equal(pfx, 24);
	assert_int_equal(cidr_parse("10.0.0.0/8", &net, &pfx), 0);
	assert_int_equal(pfx, 8);
	assert_int_equal(cidr_parse("192.168.7.4/30", &net, &pfx), 0);
	assert_int_equal(net, IP(192, 168, 7, 4));
	assert_int_equal(pfx, 30);

	static const char *const bad[] = {
		"10.0.0.5/24",  "10.0.0.0/7",  "10.0.0.0/31",  "10.0.0.0/32",  "10.0.0.0/0",
		"10.0.0.0",     "10.0.0.0/",   "10.0.0.0/024", "10.0.0.0/24x", "10.0.0.0/ 24",
		"10.0.0.0/-1",  "10.0.0/24",   "010.0.0.0/24", "10.0.0.0/100", "/24",
		"10.0.0.0//24", "10.1.0.0/15",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		net = pfx = 99;
		if (cidr_parse(bad[i], &net, &pfx) != -EINVAL)
			fail_msg("cidr_parse(\"%s\") accepted", bad[i]);
		assert_int_equal(net, 99);
		assert_int_equal(pfx, 99);
	}
	assert_int_equal(cidr_parse(NULL, &net, &pfx), -EINVAL);
}

static void test_cidr_overlap(void **state)
{
	(void)state;
	static const struct {
		uint32_t a, pa, b, pb;
		bool overlap;
	} cases[] = {
		{ IP(10, 0, 0, 0), 8, IP(10, 1, 0, 0), 16, true },
		{ IP(10, 0, 0, 0), 24, IP(10, 0, 1, 0), 24, false },
		{ IP(10, 0, 0, 0), 24, IP(10, 0, 0, 0), 24, true },
		{ IP(192, 168, 0, 0), 16, IP(10, 0, 0, 0), 8, false },
		{ IP(10, 0, 0, 0), 23, IP(10, 0, 1, 0), 24, true },
		{ IP(10, 0, 2, 0), 23, IP(10, 0, 1, 0), 24, false },
		{ IP(10, 0, 0, 0), 30, IP(10, 0, 0, 4), 30, false },
		{ IP(172, 16, 0, 0), 12, IP(172, 31, 255, 0), 24, true },
		{ IP(172, 16, 0, 0), 12, IP(172, 32, 0, 0), 24, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cidr_overlap(cases[i].a, cases[i].pa, cases[i].b, cases[i].pb) !=
		        cases[i].overlap ||
		    cidr_overlap(cases[i].b, cases[i].pb, cases[i].a, cases[i].pa) !=
		        cases[i].overlap)
			fail_msg("case %zu", i);
	}
}

static json_t *js(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	return j;
}

/* Plans a body that must fail: -EINVAL, the field, a part of the message;
 * the plan stays as it was. */
static void expect_error(const char *body, const char *field, const char *msg_part)
{
	struct l3_plan plan, orig;
	struct kerr err;
	json_t *j = js(body);

	memset(&plan, 0xab, sizeof(plan));
	orig = plan;
	kerr_clear(&err);
	int r = ipam_plan_from_json(j, &plan, &err);
	if (r != -EINVAL)
		fail_msg("%s: got %d", body, r);
	assert_int_equal(err.code, -EINVAL);
	if (strcmp(err.field, field) != 0)
		fail_msg("%s: field \"%s\", want \"%s\" (%s)", body, err.field, field, err.message);
	if (!strstr(err.message, msg_part))
		fail_msg("%s: message \"%s\" lacks \"%s\"", body, err.message, msg_part);
	assert_memory_equal(&plan, &orig, sizeof(plan));
	json_decref(j);
}

static void test_plan_errors(void **state)
{
	(void)state;
	/* cidr */
	expect_error("{}", "cidr", "required");
	expect_error("{\"cidr\":null}", "cidr", "required");
	expect_error("{\"cidr\":24}", "cidr", "string");
	expect_error("{\"cidr\":\"10.0.0.5/24\"}", "cidr",
	             "10.0.0.5/24 is not a network address; did you mean 10.0.0.0/24?");
	expect_error("{\"cidr\":\"10.0.0.0/31\"}", "cidr", "/31 is outside /8../30");
	expect_error("{\"cidr\":\"10.0.0.0/7\"}", "cidr", "/7 is outside");
	expect_error("{\"cidr\":\"10.0.0.256/24\"}", "cidr", "is not an IPv4 CIDR");
	expect_error("{\"cidr\":\"10.0.0.0\"}", "cidr", "has no prefix length");
	expect_error("{\"cidr\":\"10.0.0.0/024\"}", "cidr", "malformed prefix length");

	/* gateway */
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.1.1\"}", "gateway",
	             "gateway 10.0.1.1 is outside 10.0.0.0/24");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.0\"}", "gateway",
	             "network address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.255\"}", "gateway",
	             "broadcast address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0\"}", "gateway",
	             "10.0.0 is not an IPv4 address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":7}", "gateway", "not an IPv4 address");

	/* ip_ranges: shape */
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":{}}", "ip_ranges", "array");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[]}", "ip_ranges", "empty");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[5]}", "ip_ranges[0]", "object");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\"}]}",
	             "ip_ranges[0].end", "required");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"end\":\"10.0.0.10\"}]}",
	             "ip_ranges[0].start", "required");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.20\",\"step\":1}]}",
	             "ip_ranges[0].step", "unknown field");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.20\"},{\"start\":\"10.0.0.30\",\"end\":\"10.0.0.x\"}]}",
	             "ip_ranges[1].end", "10.0.0.x is not an IPv4 address");

	/* ip_ranges: addresses */
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.1.10\","
	             "\"end\":\"10.0.0.20\"}]}",
	             "ip_ranges[0].start", "start 10.0.1.10 is outside 10.0.0.0/24");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.1.20\"}]}",
	             "ip_ranges[0].end", "end 10.0.1.20 is outside");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.0\","
	             "\"end\":\"10.0.0.20\"}]}",
	             "ip_ranges[0].start", "10.0.0.0 is the network address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.255\"}]}",
	             "ip_ranges[0].end", "10.0.0.255 is the broadcast address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.30\","
	             "\"end\":\"10.0.0.20\"}]}",
	             "ip_ranges[0]", "start 10.0.0.30 is after end 10.0.0.20");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.20\"},{\"start\":\"10.0.0.15\",\"end\":\"10.0.0.30\"}]}",
	             "ip_ranges[1]", "overlaps ip_ranges[0]");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.20\"},{\"start\":\"10.0.0.30\",\"end\":\"10.0.0.40\"},"
	             "{\"start\":\"10.0.0.40\",\"end\":\"10.0.0.40\"}]}",
	             "ip_ranges[2]", "overlaps ip_ranges[1]");
	/* A range inside another overlaps too. */
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.10\","
	             "\"end\":\"10.0.0.90\"},{\"start\":\"10.0.0.30\",\"end\":\"10.0.0.40\"}]}",
	             "ip_ranges[1]", "overlaps ip_ranges[0]");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":[{\"start\":\"10.0.0.1\","
	             "\"end\":\"10.0.0.20\"}]}",
	             "ip_ranges[0]", "contains the gateway 10.0.0.1 (the default gateway");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.15\",\"ip_ranges\":[{"
	             "\"start\":\"10.0.0.10\",\"end\":\"10.0.0.20\"}]}",
	             "ip_ranges[0]", "range 10.0.0.10-10.0.0.20 contains the gateway 10.0.0.15");

	/* More than IPAM_MAX_RANGES. */
	char body[4096];
	int len = snprintf(body, sizeof(body), "{\"cidr\":\"10.0.0.0/16\",\"ip_ranges\":[");
	for (int i = 0; i <= IPAM_MAX_RANGES; i++)
		len += snprintf(body + len, sizeof(body) - (size_t)len,
		                "%s{\"start\":\"10.0.%d.10\",\"end\":\"10.0.%d.20\"}", i ? "," : "",
		                i + 1, i + 1);
	snprintf(body + len, sizeof(body) - (size_t)len, "]}");
	expect_error(body, "ip_ranges", "at most 32");

	/* dns */
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"dns\":\"8.8.8.8\"}", "dns", "array");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"dns\":[\"8.8.8.8\",\"8.8.4\"]}", "dns[1]",
	             "8.8.4 is not an IPv4 address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"dns\":[1]}", "dns[0]", "not an IPv4 address");
	expect_error("{\"cidr\":\"10.0.0.0/24\",\"dns\":[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\","
	             "\"1.1.1.4\",\"1.1.1.5\",\"1.1.1.6\",\"1.1.1.7\",\"1.1.1.8\",\"1.1.1.9\"]}",
	             "dns", "at most 8");

	/* Not an object at all. */
	expect_error("[]", "", "object");
}

static struct l3_plan plan_of(const char *body)
{
	struct l3_plan p;
	struct kerr err;
	json_t *j = js(body);

	kerr_clear(&err);
	if (ipam_plan_from_json(j, &p, &err) != 0)
		fail_msg("%s: %s (%s)", body, err.message, err.field);
	json_decref(j);
	return p;
}

static void assert_range(const struct ip_range *r, uint32_t start, uint32_t end)
{
	char a[16], b[16];
	if (r->start != start || r->end != end) {
		ip_format(r->start, a);
		ip_format(r->end, b);
		fail_msg("range %s-%s", a, b);
	}
}

static void test_plan_defaults(void **state)
{
	(void)state;
	struct l3_plan p;

	p = plan_of("{\"cidr\":\"10.0.0.0/24\"}");
	assert_int_equal(p.network, IP(10, 0, 0, 0));
	assert_int_equal(p.prefix_len, 24);
	assert_int_equal(p.netmask, 0xffffff00u);
	assert_int_equal(p.gateway, IP(10, 0, 0, 1));
	assert_int_equal(p.nranges, 1);
	assert_range(&p.ranges[0], IP(10, 0, 0, 2), IP(10, 0, 0, 254));
	assert_int_equal(ipam_plan_size(&p), 253);

	/* A gateway in the middle splits the default range around it. */
	p = plan_of("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.100\"}");
	assert_int_equal(p.gateway, IP(10, 0, 0, 100));
	assert_int_equal(p.nranges, 2);
	assert_range(&p.ranges[0], IP(10, 0, 0, 1), IP(10, 0, 0, 99));
	assert_range(&p.ranges[1], IP(10, 0, 0, 101), IP(10, 0, 0, 254));
	assert_int_equal(ipam_plan_size(&p), 253);

	/* At the top end: one range below it. */
	p = plan_of("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.254\"}");
	assert_int_equal(p.nranges, 1);
	assert_range(&p.ranges[0], IP(10, 0, 0, 1), IP(10, 0, 0, 253));

	/* Null means "use the default". */
	p = plan_of("{\"cidr\":\"10.0.0.0/24\",\"gateway\":null,\"ip_ranges\":null,\"dns\":null}");
	assert_int_equal(p.gateway, IP(10, 0, 0, 1));
	assert_int_equal(p.nranges, 1);

	/* The smallest network: two host addresses. */
	p = plan_of("{\"cidr\":\"192.168.7.4/30\"}");
	assert_int_equal(p.gateway, IP(192, 168, 7, 5));
	assert_int_equal(p.nranges, 1);
	assert_range(&p.ranges[0], IP(192, 168, 7, 6), IP(192, 168, 7, 6));
	assert_int_equal(ipam_plan_size(&p), 1);
	p = plan_of("{\"cidr\":\"192.168.7.4/30\",\"gateway\":\"192.168.7.6\"}");
	assert_int_equal(p.nranges, 1);
	assert_range(&p.ranges[0], IP(192, 168, 7, 5), IP(192, 168, 7, 5));

	p = plan_of("{\"cidr\":\"10.0.0.0/8\"}");
	assert_int_equal(p.netmask, 0xff000000u);
	assert_int_equal(ipam_plan_size(&p), (1 << 24) - 3);
}

static void test_plan_given_ranges(void **state)
{
	(void)state;
	struct l3_plan p;

	/* Given out of order; the plan keeps them sorted. */
	p = plan_of("{\"cidr\":\"10.0.0.0/24\",\"dns\":[\"10.0.0.1\",\"8.8.8.8\"],"
	            "\"ip_ranges\":[{\"start\":\"10.0.0.100\",\"end\":\"10.0.0.110\"},"
	            "{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.20\"},"
	            "{\"start\":\"10.0.0.50\",\"end\":\"10.0.0.50\"}]}");
	assert_int_equal(p.gateway, IP(10, 0, 0, 1));
	assert_int_equal(p.nranges, 3);
	assert_range(&p.ranges[0], IP(10, 0, 0, 10), IP(10, 0, 0, 20));
	assert_range(&p.ranges[1], IP(10, 0, 0, 50), IP(10, 0, 0, 50));
	assert_range(&p.ranges[2], IP(10, 0, 0, 100), IP(10, 0, 0, 110));
	assert_int_equal(ipam_plan_size(&p), 11 + 1 + 11);

	/* Adjacent ranges do not overlap; a given gateway may sit between. */
	p = plan_of("{\"cidr\":\"10.0.0.0/24\",\"gateway\":\"10.0.0.254\",\"ip_ranges\":["
	            "{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.9\"},"
	            "{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.253\"}]}");
	assert_int_equal(p.gateway, IP(10, 0, 0, 254));
	assert_int_equal(ipam_plan_size(&p), 253);

	/* Exactly IPAM_MAX_RANGES is fine. */
	char body[4096];
	int len = snprintf(body, sizeof(body), "{\"cidr\":\"10.0.0.0/16\",\"ip_ranges\":[");
	for (int i = 0; i < IPAM_MAX_RANGES; i++)
		len += snprintf(body + len, sizeof(body) - (size_t)len,
		                "%s{\"start\":\"10.0.%d.10\",\"end\":\"10.0.%d.20\"}", i ? "," : "",
		                i + 1, i + 1);
	snprintf(body + len, sizeof(body) - (size_t)len, "]}");
	p = plan_of(body);
	assert_int_equal(p.nranges, IPAM_MAX_RANGES);
	assert_int_equal(ipam_plan_size(&p), 11 * IPAM_MAX_RANGES);
}

static void test_pick(void **state)
{
	(void)state;
	struct l3_plan p = plan_of("{\"cidr\":\"10.0.0.0/24\"}");
	uint32_t ip = 0;

	assert_int_equal(ipam_pick(&p, NULL, 0, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 2));

	/* Holes are filled lowest first; the gateway and addresses outside the
	 * ranges in used[] do not matter; duplicates are harmless. */
	const uint32_t used1[] = { IP(9, 9, 9, 9),  IP(10, 0, 0, 1), IP(10, 0, 0, 2),
		                   IP(10, 0, 0, 2), IP(10, 0, 0, 3), IP(10, 0, 0, 5) };
	assert_int_equal(ipam_pick(&p, used1, 6, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 4));

	/* First range full: the start of the next. */
	struct l3_plan q = plan_of("{\"cidr\":\"10.0.0.0/24\",\"ip_ranges\":["
	                           "{\"start\":\"10.0.0.200\",\"end\":\"10.0.0.201\"},"
	                           "{\"start\":\"10.0.0.10\",\"end\":\"10.0.0.11\"}]}");
	const uint32_t used2[] = { IP(10, 0, 0, 10), IP(10, 0, 0, 11), IP(10, 0, 0, 12) };
	assert_int_equal(ipam_pick(&q, used2, 3, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 200));

	/* Exhaustion: -ENOSPC and *ret untouched. */
	const uint32_t used3[] = { IP(10, 0, 0, 10), IP(10, 0, 0, 11), IP(10, 0, 0, 200),
		                   IP(10, 0, 0, 201) };
	ip = 42;
	assert_int_equal(ipam_pick(&q, used3, 4, &ip), -ENOSPC);
	assert_int_equal(ip, 42);
	struct l3_plan tiny = plan_of("{\"cidr\":\"192.168.7.4/30\"}");
	const uint32_t used4[] = { IP(192, 168, 7, 6) };
	assert_int_equal(ipam_pick(&tiny, used4, 1, &ip), -ENOSPC);
	assert_int_equal(ipam_pick(&tiny, used4, 0, &ip), 0);
	assert_int_equal(ip, IP(192, 168, 7, 6));

	/* A hand-built plan with unsorted ranges still gets the lowest. */
	struct l3_plan h = q;
	h.ranges[0] = q.ranges[1];
	h.ranges[1] = q.ranges[0];
	assert_int_equal(ipam_pick(&h, NULL, 0, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 10));

	/* Picking until full hands out every address once, in order. */
	uint32_t all[253];
	int n = 0;
	while (ipam_pick(&p, all, n, &ip) == 0) {
		assert_true(n < 253);
		assert_int_equal(ip, IP(10, 0, 0, 2 + n));
		all[n++] = ip;
	}
	assert_int_equal(n, ipam_plan_size(&p));
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_pick_big(void **state)
{
	(void)state;
	struct l3_plan p = plan_of("{\"cidr\":\"10.1.0.0/16\"}");
	enum { USED = 60000, HOLE = 45000 };
	uint32_t *used = calloc(USED, sizeof(*used));
	uint32_t ip = 0;
	struct timespec t0;

	assert_non_null(used);
	assert_int_equal(ipam_plan_size(&p), 65536 - 3);
	/* 60,000 taken from the first address on, with one hole. */
	for (int i = 0; i < USED; i++)
		used[i] = IP(10, 1, 0, 2) + (uint32_t)i + (i >= HOLE);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < 1000; k++) {
		assert_int_equal(ipam_pick(&p, used, USED, &ip), 0);
		assert_int_equal(ip, IP(10, 1, 0, 2) + HOLE);
	}
	double secs = seconds_since(&t0);
	print_message("1000 picks in a /16 with %d used: %.3f s\n", USED, secs);
	assert_true(secs < 5.0);

	/* Without the hole: the first address after the block. */
	for (int i = 0; i < USED; i++)
		used[i] = IP(10, 1, 0, 2) + (uint32_t)i;
	assert_int_equal(ipam_pick(&p, used, USED, &ip), 0);
	assert_int_equal(ip, IP(10, 1, 0, 2) + USED);
	free(used);
}

static void test_mac(void **state)
{
	(void)state;
	char macs[8][18];
	int distinct = 0;

	for (int i = 0; i < 8; i++) {
		memset(macs[i], 'Z', sizeof(macs[i]));
		ipam_random_mac(macs[i]);
		assert_int_equal(strlen(macs[i]), 17);
		assert_memory_equal(macs[i], "52:54:00:", 9);
		for (int c = 9; c < 17; c++) {
			if (c % 3 == 2)
				assert_int_equal(macs[i][c], ':');
			else if (!strchr("0123456789abcdef", macs[i][c]))
				fail_msg("bad mac %s", macs[i]);
		}
		distinct += i == 0 || strcmp(macs[i], macs[i - 1]) != 0;
	}
	/* 24 random bits: eight equal in a row would be a broken generator. */
	assert_true(distinct > 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_parse_good),     cmocka_unit_test(test_ip_parse_bad),
		cmocka_unit_test(test_cidr_parse),        cmocka_unit_test(test_cidr_overlap),
		cmocka_unit_test(test_plan_errors),       cmocka_unit_test(test_plan_defaults),
		cmocka_unit_test(test_plan_given_ranges), cmocka_unit_test(test_pick),
		cmocka_unit_test(test_pick_big),          cmocka_unit_test(test_mac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
