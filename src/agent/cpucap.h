/* SPDX-License-Identifier: MIT */
/*
 * CPU caps on VM processes, for the thermal controller's load shedding, and
 * the CPU time they use. A capped VM's QEMU process goes into a cgroup of
 * its own, <root>/kumo-<host8>/vm-<id8>, whose CPU bandwidth is limited:
 * cpu.max on cgroup v2 (when the unified hierarchy has the cpu
 * controller), else cpu.cfs_quota_us on the v1 cpu controller. A host with
 * neither has no caps ("none"): the thermal controller then only counts the
 * cap in its model. CPU use is read from /proc/PID/stat, which works
 * everywhere.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum cpucap_mode {
	CPUCAP_NONE, /* no CPU controller this process may use */
	CPUCAP_V2,   /* cgroup v2 cpu.max */
	CPUCAP_V1,   /* cgroup v1 cpu.cfs_quota_us */
};

struct cpucap;

/* Finds the CPU controller under root ("/sys/fs/cgroup"; tests may point
 * elsewhere) and makes <root>/kumo-<tag> for this host's VMs. Never fails:
 * without a usable controller the mode is CPUCAP_NONE and why says why. */
struct cpucap *cpucap_new(const char *root, const char *tag);
/* Moves capped processes back to the parent group, removes the groups. */
struct cpucap *cpucap_free(struct cpucap *c);
enum cpucap_mode cpucap_mode(const struct cpucap *c, const char **why);
const char *cpucap_mode_name(enum cpucap_mode m);

/* Caps VM vm_id (process pid, vcpus virtual CPUs) at pct percent of its
 * vCPUs (1..100; 100 = no cap). The process is moved into the VM's group
 * the first time. 0, or -errno (-ENOTSUP in CPUCAP_NONE). */
int cpucap_set(struct cpucap *c, const char *vm_id, int pid, int vcpus, int pct);
/* The VM's cap is gone (its process exited or it was destroyed). */
void cpucap_forget(struct cpucap *c, const char *vm_id);

/* CPU time of process pid (all its threads) in microseconds, from
 * /proc/PID/stat (utime + stime); -errno when it is gone. */
int64_t cpucap_cpu_usec(int pid);
