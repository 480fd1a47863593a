/* SPDX-License-Identifier: MIT */
/*
 * What a host is to kumod: its capacity and allocations, its connection
 * status, and the in-memory liveness table fed by heartbeats. Status
 * changes (connected, disconnected) go through here so that the host's VMs
 * follow (unknown while it is gone, reconciled when it returns).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kumod/scheduler.h"

/* Loads every host as scheduler input (inside the caller's transaction).
 * *ret is malloc'd; *ret_n its length. */
int host_load_sched(struct sched_host **ret, int *ret_n);
/* Ids of the hosts still connected in the store whose last word is at
 * least min_ms old (from memory; new reference). */
json_t *host_silent(int64_t min_ms);
/* Adds (or with negative values removes) a VM's resources to a host's
 * allocations. */
int host_adjust(const char *host_id, int64_t vcpus, int64_t memory_mb, int64_t disk_gb,
                int64_t vms);

/* Liveness: called on every authenticated agent request. Returns true when
 * the host was not marked connected in this process before (so the caller
 * reconciles). */
bool host_seen(const char *host_id);
/* Remembers the digest of the last VM report; true when it changed. */
bool host_report_changed(const char *host_id, uint64_t digest);
/* Marks a host connected / disconnected in the store (with events and the
 * VMs' unknown state on disconnect). Inside a transaction. */
int host_set_status(json_t *host, const char *status);
/* At start: hosts the store says are connected get a full timeout. */
void host_liveness_init(void);
/* Periodic: marks hosts silent past the timeout disconnected. */
void host_check_liveness(void);
void host_forget(const char *host_id);
/* Wakes the long-poll of a host (new commands). */
/* Whether the host is connected now (from memory). */
bool host_connected(const char *host_id);
void host_wake(const char *host_id);
void host_wake_all(void);
/* kumod is stopping: every host_wait returns at once from now on, and
 * long-polls answer (host_stopping() is true) so the HTTP server can stop. */
void host_stop_waits(void);
bool host_stopping(void);
/* Waits until host_wake or timeout; returns immediately if woken since gen. */
void host_wait(const char *host_id, uint64_t *gen, int64_t timeout_ms);
