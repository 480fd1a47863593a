// SPDX-License-Identifier: MIT
/*
 * The network spec checks of src/agent/net.c and the small parsers of
 * net_link.c, without touching the host: every spec here is refused (or
 * stale) before anything is changed, which the tests also check (no saved
 * spec appears). The datapath itself is tested end to end in
 * tests/e2e/test_netdp.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/net.h"
#include "agent/net_link.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/util.h"

#define HOST "0a1b2c3d-0000-4000-8000-000000000001"
#define L2 "1a1b2c3d-0000-4000-8000-000000000001"
#define L3 "2a1b2c3d-0000-4000-8000-000000000001"
#define NIC "3a1b2c3d-0000-4000-8000-000000000001"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/kumo-test-net-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char *p = xasprintf("%s/spec.json", dir);

	unlink(p);
	free(p);
	rmdir(dir);
	return 0;
}

static json_t *good_spec(void)
{
	static const char text[] =
	    ("{\"generation\": 7, \"host_id\": \"" HOST "\", \"underlay_ip\": null,"
	     " \"l2\": [{\"id\": \"" L2 "\", \"type\": \"flat\"}],"
	     " \"l3\": [{\"id\": \"" L3 "\", \"l2_id\": \"" L2 "\","
	     "   \"cidr\": \"10.0.0.0/24\", \"gateway\": \"10.0.0.1\","
	     "   \"gateway_mac\": \"fa:16:3e:00:00:01\", \"services\": [\"dhcp\"]}],"
	     " \"nics\": [{\"id\": \"" NIC "\", \"l3_id\": \"" L3 "\","
	     "   \"mac\": \"52:54:00:00:00:01\", \"ip\": \"10.0.0.5\"}]}");
	json_t *s = jparse(text, strlen(text), NULL, 0);

	assert_non_null(s);
	return s;
}

/* Applies spec (with one field replaced by the JSON text value at path
 * "l3.0.cidr"); expects a refusal naming what. */
static void refused(const char *path, const char *value, const char *what)
{
	struct driver_err e = { NULL, "" };
	json_t *s = good_spec(), *o = s;
	char *copy = xstrdup(path), *save = NULL, *key, *next;
	struct net *n = NULL;
	char *saved = xasprintf("%s/spec.json", dir);

	for (key = strtok_r(copy, ".", &save); (next = strtok_r(NULL, ".", &save)); key = next)
		o = json_is_array(o) ? json_array_get(o, strtoul(key, NULL, 10))
		                     : json_object_get(o, key);
	if (json_is_array(o))
		json_array_insert_new(o, strtoul(key, NULL, 10),
		                      jparse(value, strlen(value), NULL, 0));
	else
		json_object_set_new(o, key, jparse(value, strlen(value), NULL, 0));
	assert_int_equal(net_new(dir, HOST, &n, &e), 0);
	assert_int_equal(net_apply(n, s, &e), -1);
	assert_string_equal(e.code, "InvalidArgument");
	if (!strstr(e.message, what))
		fail_msg("%s = %s: \"%s\" does not name %s", path, value, e.message, what);
	assert_int_not_equal(access(saved, F_OK), 0);
	net_free(n);
	json_decref(s);
	free(copy);
	free(saved);
}

static void test_refused_specs(void **state)
{
	refused("host_id", "\"" L3 "\"", "is for host");
	refused("underlay_ip", "\"10.0.0\"", "underlay_ip");
	refused("l2.0.type", "\"token-ring\"", "type");
	refused("l2.0.id", "\"x\"", "valid id");
	refused("l2.0.physical_interface", "\"eth0; reboot\"", "physical_interface");
	refused("l2.0.physical_interface", "\"kbr-00000000\"", "physical_interface");
	refused("l2.0.type", "\"vxlan\"", "vni");
	refused("l2.0.mtu", "70000", "mtu");
	refused("l2.0.peers", "[\"10.0.0.1\", \"evil\"]", "peers");
	refused("l3.0.l2_id", "\"" NIC "\"", "l2_id");
	refused("l3.0.cidr", "\"10.0.0.0/33\"", "cidr");
	refused("l3.0.gateway", "\"10.0.0.1\\ninterface=eth0\"", "gateway");
	refused("l3.0.gateway_mac", "\"fa:16:3e:00:00\"", "gateway_mac");
	refused("l3.0.gateway", "null", "gateway");
	refused("l3.0.domain", "\"a b\"", "domain");
	refused("l3.0.dns",
	        "[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\",\"1.1.1.5\","
	        "\"1.1.1.6\",\"1.1.1.7\",\"1.1.1.8\",\"1.1.1.9\"]",
	        "dns");
	refused("l3.0.uplink", "{\"l2_id\": \"" L3 "\", \"ip\": \"1.2.3.4\", \"prefix\": 24}",
	        "uplink");
	refused("l3.0.eips", "[{\"ip\": \"1.2.3\"}]", "EIP");
	refused("nics.0.l3_id", "\"" L2 "\"", "l3_id");
	refused("nics.0.mac", "\"52:54:00:00:00:0g\"", "mac");
	refused("nics.0.netns", "\"../../etc\"", "netns");
	refused("nics.0.netns", "\"kumo-0a1b2c3d-2a1b2c3d\"", "netns");
	refused("nics.0.bandwidth_in_kbps", "-1", "bandwidth");
	/* names carry 8 hex digits: two NICs that share them are refused */
	refused("nics.1",
	        "{\"id\": \"3a1b2c3d-1111-4000-8000-000000000002\", \"l3_id\": \"" L3
	        "\", \"mac\": \"52:54:00:00:00:02\"}",
	        "first 8 hex digits");
}

static void test_stale_generation(void **state)
{
	struct driver_err e = { NULL, "" };
	char *saved = xasprintf("%s/spec.json", dir);
	const char *newer = "{\"generation\": 100, \"host_id\": \"" HOST "\"}";
	json_t *s = good_spec();
	struct net *n = NULL;
	char *data = NULL;

	assert_int_equal(file_write_atomic(saved, newer, strlen(newer), 0600), 0);
	assert_int_equal(net_new(dir, HOST, &n, &e), 0);
	assert_int_equal(net_apply(n, s, &e), 0); /* 7 < 100: ignored */
	assert_null(e.code);
	assert_int_equal(file_read(saved, 4096, &data, NULL), 0);
	assert_string_equal(data, newer);
	free(data);
	net_free(n);
	json_decref(s);
	free(saved);
}

static void test_new_refuses_bad_host_id(void **state)
{
	struct driver_err e = { NULL, "" };
	struct net *n = NULL;

	assert_int_equal(net_new(dir, "not-a-uuid", &n, &e), -1);
	assert_null(n);
	assert_string_equal(e.code, "InvalidArgument");
}

static void test_names_and_parsers(void **state)
{
	char name[16], net[16], mask[16], mac[18], line[64];
	struct buf b;
	int prefix = -1;

	net_tap_name("3A1B2C3D-0000-4000-8000-000000000001", name);
	assert_string_equal(name, "ktp-3a1b2c3d");
	nl_name("kbr-", L2, name);
	assert_string_equal(name, "kbr-1a1b2c3d");
	assert_int_equal(nl_cidr_parse("10.1.2.3/23", net, mask, &prefix), 0);
	assert_string_equal(net, "10.1.2.0");
	assert_string_equal(mask, "255.255.254.0");
	assert_int_equal(prefix, 23);
	assert_int_equal(nl_cidr_parse("10.1.2.3", net, mask, &prefix), -EINVAL);
	assert_int_equal(nl_cidr_parse("10.1.2.3/", net, mask, &prefix), -EINVAL);
	assert_int_equal(nl_cidr_parse("10.1.2/8", net, mask, &prefix), -EINVAL);
	assert_true(nl_mac_valid("FA:16:3e:00:00:01"));
	assert_false(nl_mac_valid("fa-16-3e-00-00-01"));
	assert_false(nl_mac_valid("fa:16:3e:00:00:01:"));
	nl_mac_lower("FA:16:3E:0A:00:01", mac);
	assert_string_equal(mac, "fa:16:3e:0a:00:01");
	assert_true(nl_ifname_valid("eth1.5"));
	assert_false(nl_ifname_valid("a-name-of-16-chr"));
	assert_false(nl_ifname_valid("eth 1"));
	assert_false(nl_ifname_valid(".."));
	assert_true(nl_ipv4_valid("192.0.2.1"));
	assert_false(nl_ipv4_valid("192.0.2.1 "));

	buf_init(&b, 4096);
	buf_puts(&b, "RTNETLINK answers: File exists\nError: Unknown device type.\n"
	             "Command failed -:3\n");
	nl_err_line(&b, line, sizeof(line));
	assert_string_equal(line, "Unknown device type");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refused_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_refuses_bad_host_id, setup, teardown),
		cmocka_unit_test(test_names_and_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
