/* SPDX-License-Identifier: MIT */
/*
 * Self-fencing for VM HA on shared pools (fence.c): the host's heartbeat
 * file on each shared pool its VMs use, and the killing of its own HA VMs
 * when it has lost both kumod and that heartbeat.
 * Config [ha]: heartbeat_interval_ms (2000), fence_after_ms (8000).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "agent/driver.h"
#include "common/config.h"

#define FENCE_INTERVAL_MS 2000
#define FENCE_AFTER_MS 8000

struct agent_host;
struct fence;

/* The shared pool's path of obj (a VM spec or a volume: its "pool"
 * {"type":"shared","path"}), or NULL: local storage, or a path that is not
 * absolute or holds ".." or ',' (QEMU's option separator). */
const char *pool_shared_path(const json_t *obj);
/* The VM (spec) is to be restarted elsewhere when its host is lost. */
bool spec_ha_restart(const json_t *spec);

/* Starts the host's fencing thread. 0 or -errno. */
int fence_start(struct agent_host *h, const struct config *cfg, struct fence **ret);
/* Stops and frees it; NULL. */
struct fence *fence_stop(struct fence *f);
/* For kumod's "pool.heartbeat_age" request: how old host_id's heartbeat
 * on the pool at path is, as this host sees it: data {"exists", "age_ms"}.
 * 0, or -1 with e ("InvalidArgument", "PoolUnavailable"). */
int fence_heartbeat_age(const char *pool, const char *host_id, json_t *data, struct driver_err *e);
