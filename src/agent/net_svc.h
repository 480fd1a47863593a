/* SPDX-License-Identifier: MIT */
/*
 * Internals of a host's networks (net.h), shared by net.c (the spec, the
 * host namespace's links, reconciliation) and net_svc.c (an L3's service
 * namespace: addresses, routes, dnsmasq, nftables, metadata). Nothing
 * outside these two files uses it, except main.c's `net-apply` command.
 */
#pragma once

#include <jansson.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/driver.h"

/* Limits on what a spec may hold (it comes from kumod, over the network). */
#define NET_L2_MAX 1024
#define NET_L3_MAX 1024
#define NET_NIC_MAX 4096
#define NET_PEERS_MAX 4096
#define NET_HOSTS_MAX 65536
#define NET_DNS_MAX 8
#define NET_ADDRS_MAX 4096 /* EIPs and port-forward addresses of one L3 */
#define NET_SPEC_MAX ((size_t)64 * 1024 * 1024)
#define NET_BW_MAX 100000000 /* kbit/s: 100 Gbit/s */

/* Services of an L3 ("services" in the spec), as bits. */
enum {
	SVC_DHCP = 1 << 0,
	SVC_DNS = 1 << 1,
	SVC_SNAT = 1 << 2,
	SVC_EIP = 1 << 3,
	SVC_PF = 1 << 4,
	SVC_SG = 1 << 5,
	SVC_META = 1 << 6,
};
/* The services that live in a service namespace. */
#define SVC_IN_NS (SVC_DHCP | SVC_DNS | SVC_META | SVC_SNAT | SVC_EIP | SVC_PF)

enum l2_type { L2_FLAT, L2_VXLAN, L2_VLAN };

/* The spec, checked and with the names derived; every pointer is weak,
 * into the spec's JSON. */
struct nspec_l2 {
	const char *id;
	enum l2_type type;
	const char *phys; /* or NULL */
	int64_t vni, vlan, mtu_req;
	const json_t *peers;
	char br[IFNAMSIZ];  /* kbr- */
	char dev[IFNAMSIZ]; /* kvx-/kvl-, or "" for flat */
	int mtu;
	bool broken; /* could not be built: what is on it is skipped */
};

struct nspec_l3 {
	const json_t *j;
	const char *id;
	struct nspec_l2 *l2;
	char net[16], mask[16];
	int prefix;
	const char *gw, *gw_mac, *domain;
	unsigned svc;
	bool pub;
	bool needs_ns; /* a service namespace on this host */
	const json_t *dns, *hosts, *eips, *pfs;
	struct nspec_l2 *up_l2; /* the uplink's L2, or NULL */
	const char *up_ip, *up_gw;
	int up_prefix;
	char ns[32];        /* kumo-<host x8>-<l3 x8> */
	char kns[IFNAMSIZ]; /* kns- */
	char kup[IFNAMSIZ]; /* kup- */
	bool broken;        /* its namespace could not be made */
};

struct nspec_nic {
	const json_t *j;
	const char *id, *mac, *ip, *netns;
	struct nspec_l3 *l3;
	int64_t bw_in;
	char tap[IFNAMSIZ];
};

struct nspec {
	json_t *j; /* owned ref */
	int64_t gen;
	const char *host_id, *underlay;
	struct nspec_l2 *l2;
	struct nspec_l3 *l3;
	struct nspec_nic *nic;
	size_t nl2, nl3, nnic;
};

struct meta;

struct net {
	pthread_mutex_t lock; /* one apply at a time */
	char *dir;            /* owned */
	char *host_id;        /* owned */
	char hx8[9];
	int64_t gen;       /* the last applied; -1: none */
	struct meta *meta; /* owned; started when an L3 has metadata */
	json_t *nft_done;  /* owned; {"<netns or "">": hash of the script applied} */
	json_t *meta_l3s;  /* owned; {"<l3 id>": true} served by meta */
};

/* First error wins: fills e unless it holds one already; returns -1. */
int net_fail(struct driver_err *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* net_svc.c: makes l3's service namespace (which exists, with its kgw0 and
 * kup0 links) hold its addresses, routes, sysctls, nftables, dnsmasq and
 * metadata. 0 or -1 with e filled. */
int svc_apply(struct net *n, const struct nspec *s, const struct nspec_l3 *l3,
              struct driver_err *e);
/* Stops what runs for a service namespace that is no longer wanted and
 * deletes it with its files (l3 dir and metadata found by the l3 x8 in its
 * name). */
int svc_remove(struct net *n, const char *ns, struct driver_err *e);
/* The sha256 of script, compared with the one applied last under key:
 * true when they are equal (nothing to do). */
bool svc_nft_same(struct net *n, const char *key, const char *script);
void svc_nft_done(struct net *n, const char *key, const char *script);
/* Runs an `nft -f -` script in netns (NULL: here) and deletes the kumo_*
 * tables of that namespace the script does not define. */
int svc_nft_run(const char *netns, const char *script, const char *what, struct driver_err *e);

/* net.c: everything of this host removed (links, namespaces, tables, the
 * saved spec), whatever the generation. */
int net_clear(struct net *n, struct driver_err *e);
/* `kumo-agent net-apply --host-id ID --dir DIR (SPEC.json | --clear)`:
 * argv[0] is "net-apply". The exit status. */
int net_cli_main(int argc, char **argv);
