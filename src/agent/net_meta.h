/* SPDX-License-Identifier: MIT */
/*
 * The metadata service at 169.254.169.254 (net.h): one thread serving
 * every L3 namespace of the host, each through a listening socket created
 * inside that namespace. A request is answered from the entry whose
 * local_ipv4 is the request's source address (which kumo_l2's
 * anti-spoofing makes trustworthy), so a VM learns about itself only; an
 * unknown source gets 404. Paths: EC2 style (/latest/meta-data/...,
 * /latest/user-data, and the same under /2009-04-04/) and OpenStack style
 * (/openstack/latest/meta_data.json, /openstack/latest/user_data, and the
 * same under /openstack/2012-08-10/).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct meta;

/* Starts the server thread (nothing listens yet). */
int meta_start(struct meta **ret);
/* Makes the service of one L3 answer for entries (an array of NIC
 * "metadata" objects, net.h). netns: a namespace path such as
 * /run/netns/kumo-...; NULL = the caller's own namespace (tests). The
 * socket listens on addr:port (169.254.169.254:80 in use; the address is
 * added to the namespace's loopback by net.c). Called again with the
 * same l3_id it only swaps the entries. 0, or -errno with err filled. */
int meta_set(struct meta *m, const char *l3_id, const char *netns, const char *addr, uint16_t port,
             const json_t *entries, char *err, size_t errlen);
/* The port l3_id's socket is bound to (port 0 given to meta_set: the one
 * the kernel chose), or -ENOENT. */
int meta_port(struct meta *m, const char *l3_id);
/* Stops answering for l3_id (closes its socket). Unknown ids: nothing. */
void meta_remove(struct meta *m, const char *l3_id);
/* Stops the thread and closes every socket. NULL is fine. */
void meta_stop(struct meta *m);
