/* SPDX-License-Identifier: MIT */
/*
 * Storage pools (api_pool.c): what VMs and volumes need of them. All of
 * these run inside the caller's store transaction.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct http_request;

#define POOL_PATH_MAX 200

/* An absolute path of [A-Za-z0-9/._-], no "//", "/./" or "/../". */
bool pool_path_valid(const char *p);
/* The cluster's local pool, made now when it has none. */
int pool_local_ensure(const char *cluster_id, json_t **ret);
/* The pool pool_id as the caller may use it (enabled): 404/409 with e. */
int pool_resolve(struct http_request *req, const char *pool_id, const char *field, json_t **ret,
                 struct kerr *e);
/* -ENOSPC with e when gb more would pass the pool's capacity_gb. */
int pool_room(const json_t *pool, int64_t gb, const char *field, struct kerr *e);
/* allocated_gb += gb. */
int pool_adjust(const char *pool_id, int64_t gb);
/* Counts gb more (fewer when negative) of volume v where a volume is
 * counted: its pool's allocated_gb, and its host's disk_gb_allocated too
 * when the pool is a local one and the volume is on a host. A data volume
 * on no pool is counted nowhere (never attached, or attached before Kumo
 * counted data volumes on local storage; it takes its pool when next
 * attached). With e and gb > 0 the room is checked first (-ENOSPC or the
 * host's error with e), nothing counted then. Inside a store transaction. */
int volume_charge(const json_t *v, int64_t gb, struct kerr *e);
/* Whether volume v is counted on its host's disk too (volume_charge's
 * rule): counted at all, on a host, its pool not a shared one. */
bool volume_on_host_disk(const json_t *v);
/* The same, limited to where (VC_POOL, VC_HOST). */
#define VC_POOL 1u
#define VC_HOST 2u
int volume_charge_in(const json_t *v, int64_t gb, unsigned where, struct kerr *e);
bool pool_is_shared(const char *pool_id);
/* {"id","type","path"} for agent payloads, or NULL. */
json_t *pool_payload(const char *pool_id);
