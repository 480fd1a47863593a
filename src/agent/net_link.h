/* SPDX-License-Identifier: MIT */
/*
 * The kernel side of a host's networks (net.h), through iproute2: running
 * `ip`/`bridge`/`tc`/`nft` with argv (never a shell), batches of commands
 * in one process (`ip -batch -`), snapshots of links, FDB entries and
 * qdiscs parsed from their JSON output, and the few things done directly
 * in a namespace through setns(2): interface flags, sysctls, processes.
 * Knows nothing about specs: net.c and net_svc.c decide what to change.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define NL_OUT_MAX ((size_t)64 * 1024 * 1024) /* what a listing may print */
#define NL_TIMEOUT_MS 30000
#define NL_ADDR_LEN 64 /* "a.b.c.d/nn" and IPv6 */

/* Runs argv inside the namespace /run/netns/<netns> (NULL: the caller's),
 * input on its stdin (may be NULL), stdout into out and stderr into err
 * (either may be NULL: discarded; bounded to NL_OUT_MAX). 0 when it exited
 * 0; -ECHILD when it exited otherwise (err says why), -ENOENT when the
 * program or namespace does not exist, -ETIMEDOUT (killed). */
int nl_run(char *const argv[], const char *netns, const char *input, size_t inlen, struct buf *out,
           struct buf *err, int timeout_ms);
/* The last non-empty line of err that is not ip's "Command failed",
 * without "Error: ", into out. */
void nl_err_line(const struct buf *err, char *out, size_t outlen);

/* A batch of commands for one `ip`/`bridge`/`tc` -batch run; each line
 * carries what it is about, for the error message. */
struct nl_batch {
	struct buf text;
	char **what; /* owned; one per line */
	size_t n, cap;
};

void nl_batch_init(struct nl_batch *b);
void nl_batch_add(struct nl_batch *b, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs the batch with tool ("ip", "bridge", "tc") in netns (NULL: here),
 * going on past failed lines (-force). 0, or -1 with "what: reason" of the
 * first failed line in err. An empty batch runs nothing. */
int nl_batch_run(struct nl_batch *b, const char *tool, const char *netns, char *err, size_t errlen);
void nl_batch_free(struct nl_batch *b);
/* Moves src's lines to the end of dst; src is empty afterwards. */
void nl_batch_cat(struct nl_batch *dst, struct nl_batch *src);

/* One link of `ip -d -j addr show`. */
struct nl_link {
	char name[IFNAMSIZ];
	char kind[16]; /* info_kind: bridge, vxlan, vlan, veth, tun, "" */
	char master[IFNAMSIZ];
	char mac[18];
	char lower[IFNAMSIZ]; /* vlan: the link it is on */
	int mtu;
	unsigned group; /* interface group, 0: default */
	bool up;        /* administratively */
	bool stp;
	int64_t forward_delay; /* bridge, centiseconds */
	int64_t id;            /* vxlan VNI, vlan id */
	int64_t port;          /* vxlan dstport */
	bool learning;         /* vxlan */
	char local[NL_ADDR_LEN];
	char qdisc[16];             /* the root qdisc's kind */
	bool tap;                   /* tun of type tap */
	char (*addrs)[NL_ADDR_LEN]; /* owned; IPv4 "a.b.c.d/p" */
	size_t naddrs;
};

/* Snapshot of netns' links (NULL: here). 0 or -errno with err filled. */
int nl_links(const char *netns, struct nl_link **ret, size_t *ret_n, char *err, size_t errlen);
void nl_links_free(struct nl_link *l, size_t n);
struct nl_link *nl_link_find(struct nl_link *l, size_t n, const char *name);
bool nl_link_has_addr(const struct nl_link *l, const char *cidr);

/* One entry of `bridge -j fdb show`. */
struct nl_fdb {
	char mac[18];
	char dev[IFNAMSIZ];
	char dst[NL_ADDR_LEN]; /* vxlan remote, or "" */
	bool is_static;        /* state "static" (or permanent, for self entries) */
	bool master;           /* an entry of the bridge (not the port's own) */
};

int nl_fdbs(const char *netns, struct nl_fdb **ret, size_t *ret_n, char *err, size_t errlen);

/* The root qdisc of each device (`tc -j qdisc show`). */
struct nl_qdisc {
	char dev[IFNAMSIZ];
	char kind[16];
	int64_t rate; /* tbf: bytes per second */
};

int nl_qdiscs(const char *netns, struct nl_qdisc **ret, size_t *ret_n, char *err, size_t errlen);

/* The default IPv4 route's gateway in netns ("" when none). */
int nl_default_gw(const char *netns, char *out, size_t outlen, char *err, size_t errlen);

/* --- namespaces ---------------------------------------------------------- */

/* Names in /run/netns starting with prefix, malloc'd, into *ret. */
int ns_list(const char *prefix, char ***ret, size_t *ret_n);
void ns_list_free(char **v, size_t n);
bool ns_exists(const char *name);
/* `ip netns add` (nothing when it exists). 0 or -1 with err filled. */
int ns_add(const char *name, char *err, size_t errlen);
/* Kills every process in the namespace (TERM, then KILL), then `ip netns
 * del`. Missing: 0. */
int ns_del(const char *name, char *err, size_t errlen);
/* Runs the calling thread in /run/netns/<name> (NULL: stays); *ret_old is
 * what ns_leave needs to come back. 0 or -errno. */
int ns_enter(const char *name, int *ret_old);
void ns_leave(int old);
/* Sets interface ifname of namespace netns administratively up and checks
 * its MAC (mac may be NULL). -ENODEV when it does not exist, -EADDRINUSE
 * when its MAC differs, 0 when it is (now) up; *ret_changed when it was
 * brought up. */
int ns_if_up(const char *netns, const char *ifname, const char *mac, bool *ret_changed);
/* Sends a gratuitous ARP request for ip (IPv4) from ifname of netns:
 * "ip is at my MAC". Best effort: 0 or -errno. */
int ns_garp(const char *netns, const char *ifname, const char *ip);
/* Writes value to /proc/sys/<key> (dots or slashes) in netns unless it
 * holds it already. -ENOENT when the key does not exist. */
int ns_sysctl(const char *netns, const char *key, const char *value);

/* --- small checks -------------------------------------------------------- */

/* "kbr-" + first 8 hex digits of id; out has IFNAMSIZ bytes. */
void nl_name(const char *prefix, const char *id, char out[IFNAMSIZ]);
bool nl_ifname_valid(const char *s);
bool nl_mac_valid(const char *s);
bool nl_ipv4_valid(const char *s);
/* "a.b.c.d/p" into a network address, netmask and prefix. -EINVAL. */
int nl_cidr_parse(const char *cidr, char net[16], char mask[16], int *ret_prefix);
/* The MAC in canonical lower case, out has 18 bytes. */
void nl_mac_lower(const char *mac, char out[18]);
