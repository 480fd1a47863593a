/* SPDX-License-Identifier: MIT */
/*
 * Per-account quotas: VM count, vCPUs and memory. Usage is computed from the
 * account's VMs inside the caller's transaction, so concurrent creates
 * cannot both slip under a limit.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"

/* -EDQUOT with e naming the quota when adding count VMs of the given size
 * would exceed the account's limits. */
int quota_check(const char *account_id, int64_t count, int64_t vcpus, int64_t memory_mb,
                struct kerr *e);
/* {"vm_count","vcpus","memory_mb"} in use by the account (new reference). */
json_t *quota_usage(const char *account_id);
