/* SPDX-License-Identifier: MIT */
/*
 * nftables rulesets of a host's networks (net.h), generated from its spec
 * as `nft -f` scripts. Pure text generation, no system calls: net.c runs
 * them. Each script replaces its tables atomically (one transaction:
 * declare, delete, define again), so a failed script changes nothing.
 * Lookups go through sets, maps and concatenations, so that 1,000 rules
 * cost set lookups, not a walk through 1,000 rules.
 */
#pragma once

#include <jansson.h>

/* The host netns' tables kumo_l2, kumo_sg (bridge), kumo_flow (bridge;
 * declared, never replaced: it keeps the open flows across reloads) and
 * kumo_qos (netdev; one chain per NIC with a send limit). Returns a malloc'd
 * script, or NULL with err filled when the spec is malformed. */
char *nft_host_script(const json_t *spec, char *err, size_t errlen);
/* The same tables, only deleted (used when the spec is empty). */
char *nft_host_delete_script(void);
/* The tables kumo_nat and kumo_svc (inet) inside the service namespace of
 * l3 (an element of spec "l3"). */
char *nft_ns_script(const json_t *spec, const json_t *l3, char *err, size_t errlen);
