/* SPDX-License-Identifier: MIT */
/*
 * What the network API files (api_sg.c, api_eip.c, api_pf.c and the NIC
 * options of api_vm.c) share: NICs found by id in the VM documents, the
 * services of a NIC's L3 network, CIDRs of any prefix (rules), and the end
 * of a handler whose change must reach the hosts: a net.update job
 * (netsync.h) answered 202.
 *
 * Where network objects live in the store (for netsync.c):
 *   vms[].nics[]       {id, l3_network_id, ip, mac, security_group_ids[],
 *                       bandwidth_in_kbps, bandwidth_out_kbps} (0 = no limit)
 *   security-groups    {name, description, rules[{id, direction, protocol,
 *                       port_start, port_end, cidr|null, remote_group_id|null,
 *                       description}]}
 *   eips               {name, l3_network_id (public), ip, nic_id|null,
 *                       vm_id|null, private_ip|null}
 *   port-forwardings   {name, eip_id, public_ip, protocol, public_port_start,
 *                       public_port_end, private_port_start, private_port_end,
 *                       nic_id, vm_id, private_ip, allowed_cidr}
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/http.h"

#define NETAPI_BW_MAX_KBPS 100000000 /* 100 Gbit/s */
#define NETAPI_NIC_SGS_MAX 16        /* security groups on one NIC */

/* The NIC nic_id of a VM of account_id (NULL = any account). *ret_vm gets
 * the VM document (owned), *ret_nic the NIC inside it (weak). A VM being
 * destroyed has no usable NICs. 404 naming field when there is none. */
int netapi_nic_find(const char *account_id, const char *nic_id, const char *field, json_t **ret_vm,
                    json_t **ret_nic, struct kerr *e);
/* Every object of kind in account_id (NULL = all) whose field, as stored
 * JSON text, matches the SQL LIKE pattern (callers check exactly). */
int netapi_list_like(const char *kind, const char *account_id, const char *field,
                     const char *pattern, json_t **ret);
bool netapi_l3_has(const json_t *l3, const char *service);
/* The L3 network of a NIC (owned), which must offer service: 409 naming
 * field, the NIC and the network otherwise. */
int netapi_nic_l3(const json_t *nic, const char *service, const char *field, json_t **ret_l3,
                  struct kerr *e);
/* An IPv4 CIDR with any prefix 0..32 whose host bits are zero. */
int netapi_cidr_parse(const char *s, uint32_t *ret_net, uint32_t *ret_prefix);
/* Up to 5 names (or ids) of the objects of kind whose field is value, as
 * "a, b, c (and 2 more)" in out; *ret_n gets how many there are. */
int netapi_users(const char *kind, const char *field, const char *value, char *out, size_t outlen,
                 int64_t *ret_n);
/* Ends a handler's transaction with a net.update job on (kind, id): when
 * r == 0, creates the job, stores the Idempotency-Key answer, commits and
 * answers 202 with the job (?wait honoured); otherwise, or when any of that
 * fails, rolls back and answers e. */
void netapi_finish(struct http_request *req, struct http_response *resp, const char *kind,
                   const char *id, const char *account_id, int r, struct kerr *e);
/* For a VM create: each of sg_ids (a JSON array, may be NULL) is a security
 * group of account_id (404 naming security_group_ids[i]) and every L3 in
 * l3s offers the security_group service (409). */
int netapi_vm_sgs_check(const char *account_id, const json_t *sg_ids, const json_t *l3s,
                        struct kerr *e);
