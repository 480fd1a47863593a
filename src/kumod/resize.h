/* SPDX-License-Identifier: MIT */
/*
 * The checks of resizes, pure logic over documents (no store): whether a
 * volume's new size is allowed, and whether a host has room for a VM's
 * growth under the scheduler's overcommit ratios (scheduler.h). Used by
 * api_resize.c and api_clone.c; unit-tested in tests/unit/test_resize.c.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "kumod/scheduler.h"

/* 0 when want_gb is a valid new size of a volume of cur_gb (it only grows;
 * equal is allowed, nothing to do); -EINVAL with e (field "size_gb"). */
int resize_volume_check(int64_t cur_gb, int64_t want_gb, struct kerr *e);
/* 0 when host (a hosts document) can take dvcpus more vCPUs, dmem_mb more
 * memory and ddisk_gb more disk (negative deltas always fit); -ENOSPC with
 * e naming what is short. */
int resize_host_fits(const json_t *host, int64_t dvcpus, int64_t dmem_mb, int64_t ddisk_gb,
                     const struct sched_config *c, struct kerr *e);
