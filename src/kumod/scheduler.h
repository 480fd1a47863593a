/* SPDX-License-Identifier: MIT */
/*
 * VM placement. Pure logic over an array of host capacities: the caller
 * loads the candidate hosts inside a store transaction, asks for a
 * placement, writes the new allocations back in the same transaction, so
 * concurrent creates never overbook a host.
 *
 * A host fits when it is connected and enabled, matches zone/cluster (if
 * given), and after the VM:
 *   cpu_allocated + vcpus        <= cpu_total * cpu_overcommit
 *   memory_mb_allocated + memory <= memory_mb_total * mem_overcommit
 *   disk_gb_allocated + disk     <= disk_gb_total
 * Strategies: SCHED_SPREAD picks the host with the lowest allocated share
 * (max of cpu and memory share after placement; ties: fewer VMs, then id);
 * SCHED_PACK the highest that still fits.
 *
 * Thermal state (from the hosts' telemetry, telemetry.c): a host in
 * "warning", "alarm" or "critical" takes no new VMs. Among the hosts that
 * fit, one with less thermal headroom than thermal_ref_c looks fuller than
 * it is: its share is raised (spread) or lowered (pack) by up to
 * thermal_weight, in proportion to the missing headroom. The weight only
 * orders hosts that fit; it never makes a host fit. A host without fresh
 * telemetry (SCHED_THERMAL_UNKNOWN) is neutral: no exclusion, no weight.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/util.h"

enum sched_strategy { SCHED_SPREAD = 0, SCHED_PACK = 1 };

/* Ordered: every state from WARNING up takes no new VMs. */
enum sched_thermal {
	SCHED_THERMAL_UNKNOWN = 0, /* no telemetry, or too old: neutral */
	SCHED_THERMAL_OK,
	SCHED_THERMAL_WARNING,
	SCHED_THERMAL_ALARM,
	SCHED_THERMAL_CRITICAL,
};

struct sched_host {
	char id[UUID_LEN + 1];
	char zone_id[UUID_LEN + 1];
	char cluster_id[UUID_LEN + 1];
	bool connected, enabled;
	int64_t cpu_total, cpu_allocated;
	int64_t memory_mb_total, memory_mb_allocated;
	int64_t disk_gb_total, disk_gb_allocated;
	int64_t vm_count;
	enum sched_thermal thermal;
	bool has_headroom; /* headroom_c is known */
	double headroom_c; /* degrees below the host's warning limit */
};

struct sched_request {
	const char *zone_id;    /* NULL = any */
	const char *cluster_id; /* NULL = any */
	const char *host_id;    /* NULL = any; else only this host */
	int64_t vcpus, memory_mb, disk_gb;
	enum sched_strategy strategy;
};

struct sched_config {
	double cpu_overcommit; /* default 4.0 */
	double mem_overcommit; /* default 1.0 */
	double thermal_weight; /* default 0.2 (0 turns the preference off) */
	double thermal_ref_c;  /* default 20: headroom from which a host counts as cool */
};

void sched_config_default(struct sched_config *c);
int sched_strategy_parse(const char *s, enum sched_strategy *ret);
/* "ok", "warning", "alarm", "critical" (and "unknown") -> the enum;
 * -EINVAL for anything else. */
int sched_thermal_parse(const char *s, enum sched_thermal *ret);
const char *sched_thermal_name(enum sched_thermal t);
/* How much fuller a host looks for its thermal headroom: 0 for hosts
 * without a known headroom or with at least ref_c of it, rising linearly
 * to weight at 0 headroom or less. */
double sched_thermal_penalty(const struct sched_host *h, const struct sched_config *cfg);

/* Picks a host for one VM and adds the VM to its allocations in hosts[].
 * Returns the index, or -ENOSPC with err naming the shortfall
 * ("no connected and enabled host in cluster X", "not enough vCPUs: need 4,
 * largest free is 2", ...). */
int sched_place(struct sched_host *hosts, int n, const struct sched_request *req,
                const struct sched_config *cfg, struct kerr *err);
/* Places count VMs one after another; ret_idx[i] is the host of VM i. All or
 * nothing: on failure hosts[] is restored and -ENOSPC returned. */
int sched_place_many(struct sched_host *hosts, int n, const struct sched_request *req, int count,
                     const struct sched_config *cfg, int *ret_idx, struct kerr *err);
