/* SPDX-License-Identifier: MIT */
/*
 * A host's networks (issue 4; docs/ARCHITECTURE.md "Networking"): the
 * agent is given the whole desired network state of its host, a "spec",
 * and makes the host match it: links, namespaces, dnsmasq, nftables, tc,
 * the metadata server. Applying is idempotent; what the spec no longer
 * names is removed. The last applied spec is saved (0600) in
 * <host dir>/net/spec.json and applied again at agent start, which both
 * repairs what drifted and removes leftovers of deleted objects.
 *
 * Where specs come from: kumod (src/kumod/netsync.c) sends
 *   net.apply  {"spec": SPEC}
 * whenever the host's part of the network changes, and vm.create carries
 * {"net": SPEC} too, applied before the VM starts (its taps must exist).
 * A spec whose generation is lower than the one applied last is stale and
 * ignored (answered as succeeded).
 *
 * SPEC (every id is a UUID; names below use the first 8 hex digits, "<x8>"):
 * {
 *   "generation": 1700000000123456,       kumod's counter, increasing
 *   "host_id": "...",
 *   "underlay_ip": "10.99.0.1",           this host's address for VXLAN
 *   "l2": [ {                             every L2 this host carries
 *       "id", "type": "flat"|"vxlan"|"vlan",
 *       "physical_interface": "eth1"|null,   flat/vlan uplink (enslaved)
 *       "vni": 100|null, "vlan": 5|null,
 *       "mtu": 1500|null,                    null: underlay MTU (- 50 for vxlan)
 *       "peers": ["10.99.0.2", ...]          vxlan: the other hosts carrying it
 *   } ],
 *   "l3": [ {                             every L3 with a NIC on this host
 *       "id", "l2_id", "name",
 *       "cidr": "10.0.0.0/24", "gateway": "10.0.0.1"|null,
 *       "gateway_mac": "fa:16:3e:xx:xx:xx",  the same on every host
 *       "dns": ["192.0.2.53"],               upstream/offered resolvers
 *       "domain": "<l3 name>.kumo",          DNS domain of the VMs' names
 *       "services": ["dhcp","dns","snat","eip","port_forwarding",
 *                    "security_group","metadata"],
 *       "public": false,                     stands for the outside world:
 *                                            no service namespace of its own
 *       "hosts": [ {"name": "vm1", "ip": "10.0.0.5"} ],
 *                                            DNS: every VM NIC of the L3,
 *                                            on every host
 *       "uplink": {                          snat/eip/port_forwarding: this
 *           "l3_id", "l2_id",                host's leg on the public L3
 *           "ip": "203.0.113.10", "prefix": 24,
 *           "gateway": "203.0.113.1"
 *       } | null,
 *       "eips": [ {"ip": "203.0.113.50", "private_ip": "10.0.0.5"} ],
 *                                            EIPs of NICs on this host only
 *       "port_forwards": [ {
 *           "id", "public_ip": "203.0.113.51", "protocol": "tcp"|"udp",
 *           "public_port_start": 8080, "public_port_end": 8080,
 *           "private_ip": "10.0.0.5", "private_port_start": 80,
 *           "allowed_cidr": "0.0.0.0/0"
 *       } ]                                  those of NICs on this host only
 *   } ],
 *   "nics": [ {                           NICs of VMs on this host
 *       "id", "vm_id", "l3_id", "mac", "ip",
 *       "security_groups": ["sg id", ...],   [] = not filtered (anti-spoofing
 *                                            still applies)
 *       "bandwidth_in_kbps": 0,              to the guest; 0 = unlimited
 *       "bandwidth_out_kbps": 0,             from the guest; 0 = unlimited
 *       "netns": "name"|null,                set: the NIC is a veth pair into
 *                                            this existing namespace (its end
 *                                            there named eth0, with the MAC)
 *                                            instead of a tap: a namespace
 *                                            stands in for a VM, attached as
 *                                            a tap is (benchmarks, tests)
 *       "metadata": {                        what 169.254.169.254 answers
 *           "instance_id", "hostname", "local_ipv4", "public_ipv4"|null,
 *           "public_keys": ["ssh-ed25519 ..."], "user_data": "..."|null
 *       }
 *   } ],
 *   "security_groups": [ {                every group a local NIC is in
 *       "id",
 *       "rules": [ {
 *           "direction": "ingress"|"egress",
 *           "protocol": "all"|"tcp"|"udp"|"icmp",
 *           "port_start": 1, "port_end": 65535,   tcp/udp only
 *           "cidr": "0.0.0.0/0"|null,            or:
 *           "remote_group_members": ["10.0.0.7", ...]|null
 *                                            addresses of the NICs in the
 *                                            rule's remote group (all hosts)
 *       } ]
 *   } ]
 * }
 *
 * Names (Linux's 15-character limit): bridges kbr-<l2 x8>, VXLAN links
 * kvx-<l2 x8>, VLAN links kvl-<l2 x8>, taps ktp-<nic x8>, a service
 * namespace's veth pair kns-<l3 x8> (bridge side) / kgw0 (inside), its
 * uplink pair kup-<l3 x8> (on the public L2's bridge) / kup0 (inside).
 * Namespaces: kumo-<host x8>-<l3 x8> (the host's part keeps two agents on
 * one machine, as in the tests, apart). nftables tables: kumo_l2 (bridge:
 * anti-spoofing, keeping service answers off the overlay), kumo_sg and
 * kumo_flow (bridge: security groups and the flows they allowed),
 * kumo_qos (netdev, the guests' send limits); in each namespace kumo_nat
 * and kumo_svc (inet).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/driver.h"

struct net;

/* dir: this host's network state directory (created 0700); host_id: the
 * registered host's id. Nothing is changed on the host yet. */
int net_new(const char *dir, const char *host_id, struct net **ret, struct driver_err *e);
/* At agent start: applies the saved spec again (repairs drift, removes
 * leftovers of this host: k* links, kumo-<host x8>-* namespaces, kumo_*
 * tables that the spec does not want). No saved spec: removes all of them. */
int net_restore(struct net *n, struct driver_err *e);
/* Makes the host match spec; stale generations are ignored (0). On
 * failure e names what could not be done ("the kernel has no 802.1Q VLAN
 * support (module 8021q)", "dnsmasq failed to start: ..."), and what could
 * be applied is. Thread-safe (one apply at a time). */
int net_apply(struct net *n, const json_t *spec, struct driver_err *e);
/* net_new and net_restore for a host of the agent, its state in
 * <host_dir>/net: the saved spec is applied again (before the VMs are
 * restored, so that their taps exist). Failures are logged, not returned:
 * kumod's next spec retries. NULL only when the state cannot be made. */
struct net *net_open(const char *host_dir, const char *host_id, const char *host_name);
/* Stops the metadata server's thread; leaves the datapath as it is (VMs
 * keep their network while the agent is down). */
void net_free(struct net *n);

/* "ktp-" + the first 8 hex digits of the NIC's id; out holds 16 bytes. */
void net_tap_name(const char *nic_id, char out[16]);

/* The host's own network links (/sys/class/net of the agent's namespace)
 * an L2 may sit on: not lo, not Kumo's; sorted, at most max. For the
 * host's facts (kumod checks a migration's destination against them). */
#define HOST_IFACES_MAX 64
json_t *net_host_interfaces(size_t max);
