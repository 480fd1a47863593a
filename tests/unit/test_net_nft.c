// SPDX-License-Identifier: MIT
/*
 * nftables scripts of a host's networks (src/agent/net_nft.c): the key
 * fragments of the host and namespace scripts for a sample spec, identical
 * scripts for a reordered spec, every malformed field named in the error,
 * security group sets that hold exactly the union of their rules as
 * disjoint elements (random rules, checked point by point), and, as root,
 * the real parser and kernel: every script is checked with `nft -c -f`
 * inside a scratch network namespace (kt<pid>-nft) that the test creates
 * and deletes, so nothing on the host changes. The datapath itself is
 * tested in tests/e2e/test_nft.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/net_nft.h"

static const char SPEC[] =
    "{\"generation\": 1, \"host_id\": \"11111111-0000-0000-0000-000000000000\","
    " \"underlay_ip\": \"10.99.0.1\","
    " \"l2\": [{\"id\": \"2a2b3c4d-0000-0000-0000-000000000000\", \"type\": \"vxlan\", \"vni\": "
    "100,"
    "          \"peers\": [\"10.99.0.2\"]},"
    "        {\"id\": \"2b000000-0000-0000-0000-000000000000\", \"type\": \"flat\","
    "          \"physical_interface\": \"eth9\"}],"
    " \"l3\": [{\"id\": \"3a000000-0000-0000-0000-000000000000\","
    "          \"l2_id\": \"2a2b3c4d-0000-0000-0000-000000000000\", \"name\": \"priv\","
    "          \"cidr\": \"10.0.0.0/24\", \"gateway\": \"10.0.0.1\","
    "          \"gateway_mac\": \"FA:16:3E:00:00:01\", \"dns\": [], \"domain\": \"priv.kumo\","
    "          \"services\": [\"dhcp\",\"dns\",\"snat\",\"eip\",\"port_forwarding\","
    "                         \"security_group\",\"metadata\"],"
    "          \"public\": false, \"hosts\": [],"
    "          \"uplink\": {\"l3_id\": \"3b000000-0000-0000-0000-000000000000\","
    "                     \"l2_id\": \"2b000000-0000-0000-0000-000000000000\","
    "                     \"ip\": \"203.0.113.10\", \"prefix\": 24, \"gateway\": \"203.0.113.1\"},"
    "          \"eips\": [{\"ip\": \"203.0.113.50\", \"private_ip\": \"10.0.0.5\"}],"
    "          \"port_forwards\": ["
    "            {\"id\": \"p1\", \"public_ip\": \"203.0.113.51\", \"protocol\": \"tcp\","
    "             \"public_port_start\": 8080, \"public_port_end\": 8082,"
    "             \"private_ip\": \"10.0.0.6\", \"private_port_start\": 80,"
    "             \"allowed_cidr\": \"198.51.100.0/24\"},"
    "            {\"id\": \"p2\", \"public_ip\": \"203.0.113.51\", \"protocol\": \"udp\","
    "             \"public_port_start\": 5000, \"public_port_end\": 5010,"
    "             \"private_ip\": \"10.0.0.6\", \"private_port_start\": 5000,"
    "             \"allowed_cidr\": \"0.0.0.0/0\"}]},"
    "        {\"id\": \"3b000000-0000-0000-0000-000000000000\","
    "          \"l2_id\": \"2b000000-0000-0000-0000-000000000000\", \"name\": \"pub\","
    "          \"cidr\": \"203.0.113.0/24\", \"gateway\": \"203.0.113.1\", \"gateway_mac\": null,"
    "          \"public\": true, \"services\": [], \"uplink\": null}],"
    " \"nics\": [{\"id\": \"4a000000-0000-0000-0000-000000000000\", \"vm_id\": \"v1\","
    "            \"l3_id\": \"3a000000-0000-0000-0000-000000000000\","
    "            \"mac\": \"52:54:00:00:00:05\", \"ip\": \"10.0.0.5\","
    "            \"security_groups\": [\"5a000000-0000-0000-0000-000000000000\"],"
    "            \"bandwidth_out_kbps\": 8000, \"netns\": null},"
    "          {\"id\": \"4b000000-0000-0000-0000-000000000000\", \"vm_id\": \"v2\","
    "            \"l3_id\": \"3a000000-0000-0000-0000-000000000000\","
    "            \"mac\": \"52:54:00:00:00:06\", \"ip\": \"10.0.0.6\","
    "            \"security_groups\": [\"5a000000-0000-0000-0000-000000000000\","
    "                                  \"5b000000-0000-0000-0000-000000000000\"]},"
    "          {\"id\": \"4c000000-0000-0000-0000-000000000000\", \"vm_id\": \"v3\","
    "            \"l3_id\": \"3a000000-0000-0000-0000-000000000000\","
    "            \"mac\": \"52:54:00:00:00:07\", \"ip\": \"10.0.0.7\", \"security_groups\": []}],"
    " \"security_groups\": ["
    "   {\"id\": \"5a000000-0000-0000-0000-000000000000\", \"rules\": ["
    "      {\"direction\": \"ingress\", \"protocol\": \"all\", \"cidr\": null,"
    "       \"remote_group_members\": [\"10.0.0.5\", \"10.0.0.6\"]},"
    "      {\"direction\": \"ingress\", \"protocol\": \"tcp\", \"port_start\": 22, \"port_end\": "
    "22,"
    "       \"cidr\": \"0.0.0.0/0\"},"
    "      {\"direction\": \"ingress\", \"protocol\": \"tcp\", \"port_start\": 20, \"port_end\": "
    "30,"
    "       \"cidr\": \"10.0.0.0/24\"},"
    "      {\"direction\": \"ingress\", \"protocol\": \"icmp\", \"cidr\": \"10.0.0.0/8\"},"
    "      {\"direction\": \"egress\", \"protocol\": \"all\", \"cidr\": \"0.0.0.0/0\"}]},"
    "   {\"id\": \"5b000000-0000-0000-0000-000000000000\", \"rules\": []}]"
    "}";

static json_t *spec_load(void)
{
	json_error_t je;
	json_t *s = json_loads(SPEC, 0, &je);

	if (!s)
		fail_msg("sample spec: %s at %d", je.text, je.position);
	return s;
}

static char *host_script(const json_t *spec)
{
	char err[256] = "";
	char *s = nft_host_script(spec, err, sizeof(err));

	if (!s)
		fail_msg("nft_host_script: %s", err);
	return s;
}

static char *ns_script(const json_t *spec, size_t l3)
{
	char err[256] = "";
	char *s =
	    nft_ns_script(spec, json_array_get(json_object_get(spec, "l3"), l3), err, sizeof(err));

	if (!s)
		fail_msg("nft_ns_script: %s", err);
	return s;
}

static void assert_has(const char *s, const char *frag)
{
	if (!strstr(s, frag))
		fail_msg("script lacks \"%s\":\n%s", frag, s);
}

static void assert_lacks(const char *s, const char *frag)
{
	if (strstr(s, frag))
		fail_msg("script has \"%s\":\n%s", frag, s);
}

/* The text of one set or map definition ("\tset NAME {" to its "\t}\n"). */
static char *set_text(const char *script, const char *kind_name)
{
	char head[96];
	const char *p, *e;

	snprintf(head, sizeof(head), "\t%s {\n", kind_name);
	p = strstr(script, head);
	if (!p)
		fail_msg("no %s in:\n%s", kind_name, script);
	e = strstr(p, "\n\t}\n");
	assert_non_null(e);
	return strndup(p, (size_t)(e - p) + 4);
}

/* Where no L2 has an uplink to guard, kumo_l2 hooks nothing on the way out. */
static void test_no_uplink_no_outbound_hooks(void **state)
{
	json_t *spec = spec_load(), *l2 = json_array_get(json_object_get(spec, "l2"), 0);
	char *s;

	(void)state;
	json_object_set_new(l2, "type", json_string("flat"));
	json_object_del(l2, "vni");
	json_object_del(l2, "peers");
	s = host_script(spec);
	assert_lacks(s, "oifname @uplinks jump uplink_out");
	assert_lacks(s, "hook output");
	assert_has(s, "\tchain uplink_out {\n");
	free(s);
	json_decref(spec);
}

static void test_host_fragments(void **state)
{
	json_t *spec = spec_load();
	char *s = host_script(spec), *t;

	(void)state;
	/* atomic replacement of the three tables, in one script */
	assert_has(
	    s, "table bridge kumo_l2 {}\ndelete table bridge kumo_l2\ntable bridge kumo_l2 {\n");
	assert_has(
	    s, "table bridge kumo_sg {}\ndelete table bridge kumo_sg\ntable bridge kumo_sg {\n");
	/* the flows are never replaced: declared, then their chains rewritten;
	 * the layout before 2026-11-22 is declared and deleted */
	assert_lacks(s, "delete table bridge kumo_flow");
	assert_has(s, "flush chain bridge kumo_flow pre\nflush chain bridge kumo_flow post\n"
	              "flush chain bridge kumo_flow track\ndelete chain bridge kumo_flow track\n"
	              "delete set bridge kumo_flow flows\ndelete set bridge kumo_flow echoes\n"
	              "delete set bridge kumo_flow ports\n");
	/* a frame of a known flow: one lookup, either way */
	assert_has(s, "add rule bridge kumo_flow pre meta mark & 0x0f000000 != 0 "
	              "meta mark set meta mark & 0xf0ffffff\n"
	              "add rule bridge kumo_flow pre ether type != ip return\n");
	assert_has(s, "meta oif . ip saddr . ip daddr . tcp sport . tcp dport @flows_tcp "
	              "update @flows_tcp { meta oif . ip saddr . ip daddr . tcp sport . tcp dport "
	              "timeout 3600s } meta mark set meta mark | 0x01000000 return\n");
	assert_has(s, "icmp id @flows_echo meta mark set meta mark | 0x01000000\n");
	/* a new flow the groups allowed: both directions' entries */
	assert_has(s, "add rule bridge kumo_flow post meta mark & 0x0f000000 == 0 return\n"
	              "add rule bridge kumo_flow post meta mark & 0x02000000 == 0 "
	              "meta mark set meta mark & 0xf0ffffff return\n");
	assert_has(s, "add @flows_udp { meta oif . ip saddr . ip daddr . udp sport . udp dport "
	              "timeout 180s } add @flows_udp { meta iif . ip daddr . ip saddr . udp dport "
	              ". udp sport timeout 180s }\n");
	assert_has(s, "icmp type echo-request add @flows_echo { meta iif . ip daddr . ip saddr . "
	              "icmp id timeout 30s }\n");
	assert_has(s, "add rule bridge kumo_flow post meta mark set meta mark & 0xf0ffffff\n");
	assert_has(s, "table netdev kumo_qos {}\ndelete table netdev kumo_qos\ntable netdev "
	              "kumo_qos {\n");
	/* anti-spoofing: sets keyed by port . MAC . address, everything else dropped */
	assert_has(s, "\"ktp-4a000000\" . 52:54:00:00:00:05 . 10.0.0.5");
	assert_has(s, "\"ktp-4c000000\" . 52:54:00:00:00:07 . 52:54:00:00:00:07 . 0.0.0.0");
	assert_has(s, "iifname \"ktp-*\" jump nic_in");
	assert_has(s, "ether type ip iifname . ether saddr . ip saddr @nic_ip accept");
	assert_has(s, "ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept");
	assert_has(s, "\t\tdrop\n\t}\n\tchain uplink_in");
	/* guards on the VXLAN uplink of the private L3 (MAC lowered), none for the
	 * flat L2 that carries only the public L3 */
	t = set_text(s, "set uplinks");
	assert_has(t, "elements = { \"kvx-2a2b3c4d\" }");
	free(t);
	assert_has(s, "\"kvx-2a2b3c4d\" . fa:16:3e:00:00:01");
	assert_has(s, "\"kvx-2a2b3c4d\" . 10.0.0.1");
	assert_lacks(s, "eth9");
	assert_has(s, "oifname @uplinks jump uplink_out");
	assert_has(s, "udp dport { 67, 68 } drop");
	/* security groups: verdict maps by port, one set per group and direction */
	assert_lacks(s, "ct ");
	assert_has(s, "\t\tmeta mark & 0x01000000 == 0x01000000 return\n"
	              "\t\tether type != ip return\n"
	              "\t\tiifname vmap @nic_out\n\t\toifname vmap @nic_in\n");
	assert_has(s, "\"ktp-4a000000\" : jump nic_4a000000_out");
	assert_has(s, "\"ktp-4b000000\" : jump nic_4b000000_in");
	assert_lacks(s, "nic_4c000000"); /* no groups: not filtered */
	assert_has(s, "\tchain nic_4b000000_in {\n"
	              "\t\tip frag-off & 0x1fff != 0 accept\n"
	              "\t\tudp sport 67 udp dport 68 accept\n"
	              "\t\tip saddr . meta l4proto . th dport @sg_5a000000_in "
	              "meta mark set meta mark | 0x02000000 accept\n"
	              "\t\tip saddr . meta l4proto . th dport @sg_5b000000_in "
	              "meta mark set meta mark | 0x02000000 accept\n\t\tdrop\n");
	assert_has(s, "ip daddr . meta l4proto . th dport @sg_5a000000_out "
	              "meta mark set meta mark | 0x02000000 return\n");
	t = set_text(s, "set sg_5a000000_in");
	assert_has(t, "0.0.0.0/0 . 6 . 22,");             /* the port open to all */
	assert_has(t, "10.0.0.0/24 . 6 . 23-30,");        /* the rest of 20-30 */
	assert_has(t, "10.0.0.0/8 . 1 . 0-65535,");       /* icmp */
	assert_has(t, "10.0.0.5-10.0.0.6 . 0 . 0-65535"); /* members, all protocols */
	free(t);
	t = set_text(s, "set sg_5a000000_out");
	assert_has(t, "elements = { 0.0.0.0/0 . 0-255 . 0-65535 }");
	free(t);
	t = set_text(s, "set sg_5b000000_in");
	assert_lacks(t, "elements"); /* no rules: denied */
	free(t);
	/* send limit of the one limited NIC: 8000 kbit/s = 1,000,000 bytes/s */
	assert_has(s, "chain q_4a000000 {\n\t\ttype filter hook ingress device \"ktp-4a000000\" "
	              "priority 0; policy accept;\n"
	              "\t\tlimit rate over 1000000 bytes/second burst 125000 bytes drop\n");
	assert_lacks(s, "q_4b000000");
	free(s);
	json_decref(spec);
}

static void test_ns_fragments(void **state)
{
	json_t *spec = spec_load(), *l3 = json_array_get(json_object_get(spec, "l3"), 0);
	char *s = ns_script(spec, 0);
	char err[256] = "";

	(void)state;
	assert_has(s,
	           "table inet kumo_nat {}\ndelete table inet kumo_nat\ntable inet kumo_nat {\n");
	assert_has(s,
	           "table inet kumo_svc {}\ndelete table inet kumo_svc\ntable inet kumo_svc {\n");
	assert_has(s, "elements = { 203.0.113.50 : 10.0.0.5 }");
	assert_has(s, "elements = { 10.0.0.5 : 203.0.113.50 }");
	/* moved ports: one element per port; kept ports: one interval */
	assert_has(s, "203.0.113.51 . 6 . 8081 : 10.0.0.6 . 81");
	assert_has(s, "203.0.113.51 . 17 . 5000-5010 : 10.0.0.6");
	assert_has(s, "198.51.100.0/24 . 203.0.113.51 . 6 . 8080-8082");
	assert_has(s, "ip saddr . ip daddr . meta l4proto . th dport != @pf_allow drop");
	assert_has(s, "snat ip to ip saddr map @eip_out\n\t\tip saddr 10.0.0.0/24 snat ip to "
	              "203.0.113.10\n");
	assert_has(s, "iifname \"kup0\" oifname \"kgw0\" ct status dnat accept");
	assert_has(s, "iifname \"kgw0\" oifname \"kup0\" ip saddr 10.0.0.0/24 accept");
	assert_has(s, "udp dport 67 accept\n\t\tmeta l4proto { tcp, udp } th dport 53 accept\n"
	              "\t\tip daddr 169.254.169.254 tcp dport 80 accept\n"
	              "\t\tip daddr 10.0.0.1 icmp type echo-request accept\n");
	free(s);
	/* services off: no SNAT, no forwarding of the CIDR, no DHCP, no forwards */
	json_object_set_new(l3, "services", json_pack("[s]", "eip"));
	s = ns_script(spec, 0);
	assert_lacks(s, "snat ip to 203.0.113.10");
	assert_lacks(s, "ip saddr 10.0.0.0/24 accept");
	assert_lacks(s, "udp dport 67 accept");
	assert_lacks(s, "8081");
	assert_has(s, "iifname \"kgw0\" oifname \"kup0\" ip saddr @eip_src accept");
	free(s);
	/* a public L3 has no namespace */
	assert_null(
	    nft_ns_script(spec, json_array_get(json_object_get(spec, "l3"), 1), err, sizeof(err)));
	assert_non_null(strstr(err, "l3[1].public"));
	json_decref(spec);
}

static void test_delete_script(void **state)
{
	char *s = nft_host_delete_script();

	(void)state;
	assert_string_equal(s, "table bridge kumo_l2 {}\ndelete table bridge kumo_l2\n"
	                       "table bridge kumo_sg {}\ndelete table bridge kumo_sg\n"
	                       "table bridge kumo_flow {}\ndelete table bridge kumo_flow\n"
	                       "table netdev kumo_qos {}\ndelete table netdev kumo_qos\n");
	free(s);
}

static void reverse_array(json_t *a)
{
	size_t n = json_array_size(a);

	for (size_t i = 0; i < n / 2; i++) {
		json_t *x = json_incref(json_array_get(a, i));
		json_array_set(a, i, json_array_get(a, n - 1 - i));
		json_array_set_new(a, n - 1 - i, x);
	}
}

static void test_deterministic(void **state)
{
	json_t *spec = spec_load(), *v;
	char *a = host_script(spec), *b = host_script(spec), *c, *n1 = ns_script(spec, 0), *n2;
	size_t i;

	(void)state;
	assert_string_equal(a, b);
	/* the same spec in another order gives the same script */
	reverse_array(json_object_get(spec, "l2"));
	reverse_array(json_object_get(spec, "l3"));
	reverse_array(json_object_get(spec, "nics"));
	reverse_array(json_object_get(spec, "security_groups"));
	json_array_foreach(json_object_get(spec, "security_groups"), i, v)
	    reverse_array(json_object_get(v, "rules"));
	json_array_foreach(json_object_get(spec, "nics"), i, v)
	    reverse_array(json_object_get(v, "security_groups"));
	v = json_array_get(json_object_get(spec, "l3"), 1);
	reverse_array(json_object_get(v, "port_forwards"));
	c = host_script(spec);
	assert_string_equal(a, c);
	n2 = ns_script(spec, 1);
	assert_string_equal(n1, n2);
	free(a);
	free(b);
	free(c);
	free(n1);
	free(n2);
	json_decref(spec);
}

/* Sets the member at path ("nics.0.mac") to the JSON text val; "-" removes it. */
static void spec_set(json_t *spec, const char *path, const char *val)
{
	char *p = strdup(path), *save = NULL, *tok, *next;
	json_t *o = spec, *v = NULL;

	tok = strtok_r(p, ".", &save);
	while ((next = strtok_r(NULL, ".", &save))) {
		o = json_is_array(o) ? json_array_get(o, strtoul(tok, NULL, 10))
		                     : json_object_get(o, tok);
		assert_non_null(o);
		tok = next;
	}
	if (strcmp(val, "-")) {
		v = json_loads(val, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
	}
	if (json_is_array(o))
		assert_int_equal(json_array_set_new(o, strtoul(tok, NULL, 10), v), 0);
	else if (v)
		assert_int_equal(json_object_set_new(o, tok, v), 0);
	else
		json_object_del(o, tok);
	free(p);
}

static void test_malformed(void **state)
{
	static const struct {
		bool ns; /* nft_ns_script of l3[0], else nft_host_script */
		const char *path[3], *val[3], *want;
	} cases[] = {
		{ false, { "nics.0.mac" }, { "\"52:54:00:00:00\"" }, "nics[0].mac" },
		{ false, { "nics.0.ip" }, { "\"10.0.0.256\"" }, "nics[0].ip" },
		{ false, { "nics.0.ip" }, { "\"10.0.0.05\"" }, "nics[0].ip" },
		{ false, { "nics.1.l3_id" }, { "\"nope\"" }, "nics[1].l3_id" },
		{ false, { "nics.0.id" }, { "\"xyz\"" }, "nics[0].id" },
		{ false,
		  { "nics.0.security_groups" },
		  { "[\"5c\"]" },
		  "nics[0].security_groups[0]" },
		{ false, { "nics.0.bandwidth_out_kbps" }, { "-1" }, "nics[0].bandwidth_out_kbps" },
		{ false, { "nics.2.ip" }, { "\"10.0.0.5\"" }, "address 10.0.0.5" },
		{ false, { "nics.2.id" }, { "\"4a000000-ffff\"" }, "first 8 digits" },
		{ false, { "nics" }, { "{}" }, "spec.nics" },
		{ false, { "l2.0.type" }, { "\"gre\"" }, "l2[0].type" },
		{ false,
		  { "l2.1.physical_interface" },
		  { "\"eth0\\\" drop\"" },
		  "l2[1].physical_interface" },
		{ false, { "l3.0.l2_id" }, { "\"x\"" }, "l3[0].l2_id" },
		{ false, { "l3.0.gateway_mac" }, { "null" }, "l3[0].gateway_mac" },
		{ false, { "l3.0.gateway" }, { "\"10.0.0\"" }, "l3[0].gateway" },
		{ false,
		  { "security_groups.0.rules.1.protocol" },
		  { "\"gre\"" },
		  "security_groups[0].rules[1].protocol" },
		{ false,
		  { "security_groups.0.rules.1.direction" },
		  { "-" },
		  "security_groups[0].rules[1].direction" },
		{ false,
		  { "security_groups.0.rules.1.port_end" },
		  { "10" },
		  "security_groups[0].rules[1].port_end" },
		{ false,
		  { "security_groups.0.rules.1.port_start" },
		  { "65536" },
		  "security_groups[0].rules[1].port_start" },
		{ false,
		  { "security_groups.0.rules.2.cidr" },
		  { "\"10.0.0.0/33\"" },
		  "security_groups[0].rules[2].cidr" },
		{ false,
		  { "security_groups.0.rules.2.cidr" },
		  { "null" },
		  "security_groups[0].rules[2]: neither" },
		{ false,
		  { "security_groups.0.rules.0.remote_group_members" },
		  { "[\"a\"]" },
		  "security_groups[0].rules[0].remote_group_members[0]" },
		{ false, { "security_groups.1.rules" }, { "7" }, "security_groups[1].rules" },
		{ true, { "l3.0.cidr" }, { "\"10.0.0.0\"" }, "l3[0].cidr" },
		{ true, { "l3.0.uplink.ip" }, { "\"x\"" }, "l3[0].uplink.ip" },
		{ true,
		  { "l3.0.eips.0.private_ip" },
		  { "\"192.168.0.1\"" },
		  "l3[0].eips[0].private_ip" },
		{ true,
		  { "l3.0.port_forwards.0.public_port_end" },
		  { "9200" },
		  "l3[0].port_forwards[0].public_port_end" },
		{ true,
		  { "l3.0.port_forwards.0.private_port_start" },
		  { "65534" },
		  "l3[0].port_forwards[0].private_port_start" },
		{ true,
		  { "l3.0.port_forwards.0.allowed_cidr" },
		  { "\"1.2.3.4/x\"" },
		  "l3[0].port_forwards[0].allowed_cidr" },
		{ true,
		  { "l3.0.port_forwards.0.protocol" },
		  { "\"icmp\"" },
		  "l3[0].port_forwards[0].protocol" },
		{ true,
		  { "l3.0.port_forwards.1.protocol", "l3.0.port_forwards.1.public_port_start",
		    "l3.0.port_forwards.1.public_port_end" },
		  { "\"tcp\"", "8082", "8090" },
		  "port_forwards[1]: its public ports overlap" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *spec = spec_load();
		char err[256] = "";
		char *s;

		for (int k = 0; k < 3 && cases[i].path[k]; k++)
			spec_set(spec, cases[i].path[k], cases[i].val[k]);
		if (cases[i].ns)
			s = nft_ns_script(spec, json_array_get(json_object_get(spec, "l3"), 0), err,
			                  sizeof(err));
		else
			s = nft_host_script(spec, err, sizeof(err));
		if (s || !strstr(err, cases[i].want))
			fail_msg("case %zu (%s): script %s, error \"%s\", wanted \"%s\"", i,
			         cases[i].path[0], s ? "made" : "refused", err, cases[i].want);
		json_decref(spec);
	}
}

/* ---- security group sets: exactly the union, as disjoint elements -------- */

struct box {
	uint32_t a0, a1, p0, p1, t0, t1;
};

static uint32_t ip_of(const char *s)
{
	unsigned a, b, c, d;

	if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
		fail_msg("bad address %s", s);
	return a << 24 | b << 16 | c << 8 | d;
}

/* "x", "x/len" or "x-y" */
static void parse_addr(const char *s, uint32_t *lo, uint32_t *hi)
{
	const char *slash = strchr(s, '/'), *dash = strchr(s, '-');

	*lo = ip_of(s);
	*hi = *lo;
	if (slash) {
		int len = atoi(slash + 1);
		*hi = *lo | (len ? (uint32_t)((1ull << (32 - len)) - 1) : 0xffffffffu);
	} else if (dash) {
		*hi = ip_of(dash + 1);
	}
}

static void parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	char *e;

	*lo = (uint32_t)strtoul(s, &e, 10);
	*hi = *e == '-' ? (uint32_t)strtoul(e + 1, NULL, 10) : *lo;
}

/* The elements of set name in script. */
static size_t set_elements(const char *script, const char *name, struct box **ret)
{
	char *t = set_text(script, name), *p = strstr(t, "elements = { "), *save = NULL, *tok;
	struct box *v = NULL;
	size_t n = 0;

	if (p) {
		p += strlen("elements = { ");
		*strstr(p, " }") = '\0';
		for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char a[40], pr[16], po[16];
			while (*tok == '\n' || *tok == '\t')
				tok++;
			if (sscanf(tok, "%39s . %15s . %15s", a, pr, po) != 3)
				fail_msg("element \"%s\"", tok);
			v = realloc(v, (n + 1) * sizeof(*v));
			parse_addr(a, &v[n].a0, &v[n].a1);
			parse_range(pr, &v[n].p0, &v[n].p1);
			parse_range(po, &v[n].t0, &v[n].t1);
			n++;
		}
	}
	free(t);
	*ret = v;
	return n;
}

static bool in_box(const struct box *b, uint32_t a, uint32_t p, uint32_t t)
{
	return a >= b->a0 && a <= b->a1 && p >= b->p0 && p <= b->p1 && t >= b->t0 && t <= b->t1;
}

static bool boxes_meet(const struct box *x, const struct box *y)
{
	return x->a0 <= y->a1 && y->a0 <= x->a1 && x->p0 <= y->p1 && y->p0 <= x->p1 &&
	       x->t0 <= y->t1 && y->t0 <= x->t1;
}

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)random() % n;
}

/* A spec with one NIC in one group of n random ingress rules (their boxes
 * in ret_rules): narrow and wide ports, all four protocols, CIDRs and
 * members of few distinct prefixes so that they overlap a lot. */
static json_t *random_spec(unsigned seed, size_t n, struct box *rules)
{
	static const char *const protos[] = { "tcp", "udp", "icmp", "all" };
	json_t *spec = spec_load(),
	       *g = json_array_get(json_object_get(spec, "security_groups"), 0);
	json_t *list = json_array();

	srandom(seed);
	for (size_t i = 0; i < n; i++) {
		const char *proto = protos[rnd(4)];
		uint32_t base = 0x0a000000u | rnd(4) << 16 | rnd(4) << 8, len = 16 + rnd(17);
		uint32_t t0 = rnd(3) ? 1 + rnd(100) : 1 + rnd(65535),
		         t1 = t0 + (rnd(2) ? 0 : rnd(50));
		struct box *b = &rules[i];
		char cidr[32];
		json_t *r;

		if (t1 > 65535)
			t1 = 65535;
		base &= len ? ~0u << (32 - len) : 0;
		b->a0 = base;
		b->a1 = base | (len == 32 ? 0 : (uint32_t)((1ull << (32 - len)) - 1));
		snprintf(cidr, sizeof(cidr), "%u.%u.%u.%u/%u", base >> 24, (base >> 16) & 255,
		         (base >> 8) & 255, base & 255, len);
		r = json_pack("{s:s, s:s}", "direction", "ingress", "protocol", proto);
		if (rnd(5))
			json_object_set_new(r, "cidr", json_string(cidr));
		else {
			b->a0 = b->a1 = base | 7;
			snprintf(cidr, sizeof(cidr), "%u.%u.%u.7", base >> 24, (base >> 16) & 255,
			         (base >> 8) & 255);
			json_object_set_new(r, "remote_group_members", json_pack("[s]", cidr));
		}
		b->p0 = 0, b->p1 = 255, b->t0 = 0, b->t1 = 65535;
		if (!strcmp(proto, "icmp"))
			b->p0 = b->p1 = 1;
		if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
			b->p0 = b->p1 = proto[0] == 't' ? 6 : 17;
			b->t0 = t0, b->t1 = t1;
			json_object_set_new(r, "port_start", json_integer(t0));
			json_object_set_new(r, "port_end", json_integer(t1));
		}
		json_array_append_new(list, r);
	}
	json_object_set_new(g, "rules", list);
	return spec;
}

static void check_union(const char *script, const struct box *rules, size_t n)
{
	struct box *e;
	size_t ne = set_elements(script, "set sg_5a000000_in", &e);

	for (size_t i = 0; i < ne; i++)
		for (size_t k = i + 1; k < ne; k++)
			if (boxes_meet(&e[i], &e[k]))
				fail_msg("elements %zu and %zu overlap", i, k);
	/* every corner of every rule and its neighbours, and random points */
	for (size_t i = 0; i < n * 8 + 2000; i++) {
		const struct box *r = &rules[i % n];
		uint32_t a = i < n * 8 ? ((i / n) & 1 ? r->a1 + 1 : r->a0 - ((i / n) & 2 ? 1 : 0))
		                       : 0x0a000000u | rnd(1 << 18);
		uint32_t p = i < n * 8 ? ((i / n) & 4 ? r->p1 : r->p0) : rnd(20);
		uint32_t t = i < n * 8 ? ((i / n) & 2 ? r->t1 : r->t0) : rnd(200);
		bool want = false, got = false;

		for (size_t k = 0; k < n; k++)
			want = want || in_box(&rules[k], a, p, t);
		for (size_t k = 0; k < ne; k++)
			got = got || in_box(&e[k], a, p, t);
		if (want != got)
			fail_msg("point %08x . %u . %u: rules %d, set %d", a, p, t, want, got);
	}
	free(e);
}

static void test_sg_union(void **state)
{
	struct box rules[200];

	(void)state;
	for (unsigned seed = 1; seed <= 20; seed++) {
		size_t n = seed < 10 ? seed * 3 : 200;
		json_t *spec = random_spec(seed, n, rules);
		char *s = host_script(spec);

		check_union(s, rules, n);
		free(s);
		json_decref(spec);
	}
}

/* 1,000 rules of one group stay one set: every NIC chain does one lookup per group. */
static json_t *big_spec(void)
{
	json_t *spec = spec_load(),
	       *g = json_array_get(json_object_get(spec, "security_groups"), 0);
	json_t *list = json_object_get(g, "rules");

	for (int i = 0; i < 1000; i++) {
		char cidr[32];
		snprintf(cidr, sizeof(cidr), "172.%d.%d.0/24", 16 + i % 16, i / 16);
		json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:s}", "direction",
		                                      "ingress", "protocol", i % 3 ? "tcp" : "udp",
		                                      "port_start", 1000 + i, "port_end",
		                                      1000 + i + i % 40, "cidr", cidr));
	}
	return spec;
}

static void test_sg_big(void **state)
{
	json_t *spec = big_spec();
	struct timespec t0, t1;
	char *s;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = host_script(spec);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	assert_has(s, "172.16.0.0/24 . 17 . 1000");
	/* still one lookup per group in the NIC chains */
	assert_has(s, "\t\tudp sport 67 udp dport 68 accept\n"
	              "\t\tip saddr . meta l4proto . th dport @sg_5a000000_in "
	              "meta mark set meta mark | 0x02000000 accept\n\t\tdrop\n");
	free(s);
	json_decref(spec);
}

/* ---- the real parser, in a scratch namespace ------------------------------ */

static char netns[32];

static int run(const char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int netns_setup(void **state)
{
	(void)state;
	snprintf(netns, sizeof(netns), "kt%d-nft", (int)getpid());
	return 0;
}

static int netns_teardown(void **state)
{
	const char *const del[] = { "ip", "netns", "del", netns, NULL };

	(void)state;
	if (geteuid() == 0)
		run(del);
	return 0;
}

static void nft_check(const char *what, const char *script)
{
	char path[] = "/tmp/kumo-nft-XXXXXX";
	int fd = mkstemp(path), r;
	const char *const argv[] = { "ip", "netns", "exec", netns, "nft", "-c", "-f", path, NULL };
	size_t len = strlen(script);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, len), (ssize_t)len);
	close(fd);
	r = run(argv);
	unlink(path);
	if (r != 0)
		fail_msg("nft -c rejected the %s script (exit %d)", what, r);
}

static void test_nft_accepts(void **state)
{
	const char *const add[] = { "ip", "netns", "add", netns, NULL };
	json_t *spec;
	struct box rules[200];
	char *s;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP nft -c checks: they need root (a scratch network namespace)\n");
		skip();
	}
	if (access("/usr/sbin/nft", X_OK) != 0 && access("/sbin/nft", X_OK) != 0)
		fail_msg("nft is not installed (scripts/deps.sh installs it)");
	assert_int_equal(run(add), 0);

	spec = spec_load();
	s = host_script(spec);
	nft_check("host", s);
	free(s);
	s = ns_script(spec, 0);
	nft_check("namespace", s);
	free(s);
	json_decref(spec);

	s = nft_host_delete_script();
	nft_check("delete", s);
	free(s);

	/* overlapping rules: the kernel refuses overlapping interval elements */
	spec = random_spec(77, 200, rules);
	s = host_script(spec);
	nft_check("random rules", s);
	free(s);
	json_decref(spec);

	spec = big_spec();
	s = host_script(spec);
	nft_check("1,000 rules", s);
	free(s);
	json_decref(spec);

	/* an empty host: empty sets and maps, no QoS chains */
	spec = json_pack("{s:i}", "generation", 1);
	s = host_script(spec);
	nft_check("empty host", s);
	free(s);
	json_decref(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_fragments),
		cmocka_unit_test(test_no_uplink_no_outbound_hooks),
		cmocka_unit_test(test_ns_fragments),
		cmocka_unit_test(test_delete_script),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_sg_union),
		cmocka_unit_test(test_sg_big),
		cmocka_unit_test_setup_teardown(test_nft_accepts, netns_setup, netns_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
