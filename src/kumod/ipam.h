/* SPDX-License-Identifier: MIT */
/*
 * IPv4 address management for L3 networks: CIDR and range parsing and
 * checks, and picking free addresses. Pure logic; the allocations
 * themselves live in the store (store_ip_*), taken inside the caller's
 * transaction, so no address is given twice.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct ip_range {
	uint32_t start, end; /* host order, inclusive */
};

#define IPAM_MAX_RANGES 32

struct l3_plan {
	uint32_t network, prefix_len, netmask;
	uint32_t gateway; /* 0 = none */
	int nranges;
	struct ip_range ranges[IPAM_MAX_RANGES];
};

int ip_parse(const char *s, uint32_t *ret);
/* out must hold 16 bytes. */
void ip_format(uint32_t ip, char out[16]);
/* "10.0.0.0/24"; the address must be the network address. Prefix 8..30. */
int cidr_parse(const char *s, uint32_t *ret_net, uint32_t *ret_prefix);
bool cidr_overlap(uint32_t net_a, uint32_t pfx_a, uint32_t net_b, uint32_t pfx_b);

/* Checks an l3-network create body (cidr, gateway, ip_ranges, dns) and
 * builds its plan. Default gateway: first host address; default range:
 * every host address but the gateway. Errors name the field:
 * gateway outside the CIDR, ranges outside the CIDR or overlapping,
 * a range containing the gateway, network/broadcast addresses. */
int ipam_plan_from_json(const json_t *l3, struct l3_plan *ret, struct kerr *err);
/* Number of assignable addresses in the plan. */
int64_t ipam_plan_size(const struct l3_plan *p);
/* The lowest address in the ranges not in used[] (sorted ascending, n
 * entries). 0 and *ret set, or -ENOSPC. */
int ipam_pick(const struct l3_plan *p, const uint32_t *used, int n, uint32_t *ret);
/* A locally administered MAC "52:54:00:xx:xx:xx" derived from random bytes; out 18 bytes. */
void ipam_random_mac(char out[18]);
