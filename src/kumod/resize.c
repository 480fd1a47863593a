// SPDX-License-Identifier: MIT
/*
 * Resize checks (resize.h): pure functions, no store, no HTTP.
 */
#include <errno.h>

#include "common/json.h"
#include "kumod/resize.h"

int resize_volume_check(int64_t cur_gb, int64_t want_gb, struct kerr *e)
{
	if (want_gb < 1 || want_gb > 65536)
		return kerr_set(e, -EINVAL, "size_gb", "size_gb must be 1..65536");
	if (want_gb < cur_gb)
		return kerr_set(e, -EINVAL, "size_gb",
		                "size_gb %lld is smaller than the volume's %lld GB: volumes only "
		                "grow (shrinking would cut the guest's filesystem)",
		                (long long)want_gb, (long long)cur_gb);
	return 0;
}

int resize_host_fits(const json_t *host, int64_t dvcpus, int64_t dmem_mb, int64_t ddisk_gb,
                     const struct sched_config *c, struct kerr *e)
{
	double cpu_cap = (double)jint(host, "cpu_total", 0) * c->cpu_overcommit;
	double mem_cap = (double)jint(host, "memory_mb_total", 0) * c->mem_overcommit;
	int64_t disk_cap = jint(host, "disk_gb_total", 0);

	if (dvcpus > 0 && (double)(jint(host, "cpu_allocated", 0) + dvcpus) > cpu_cap)
		return kerr_set(e, -ENOSPC, "vcpus",
		                "host %s has no room for %lld more vCPUs (%lld of %.0f allocated)",
		                jstr(host, "name"), (long long)dvcpus,
		                (long long)jint(host, "cpu_allocated", 0), cpu_cap);
	if (dmem_mb > 0 && (double)(jint(host, "memory_mb_allocated", 0) + dmem_mb) > mem_cap)
		return kerr_set(e, -ENOSPC, "memory_mb",
		                "host %s has no room for %lld MB more memory (%lld of %.0f MB "
		                "allocated)",
		                jstr(host, "name"), (long long)dmem_mb,
		                (long long)jint(host, "memory_mb_allocated", 0), mem_cap);
	if (ddisk_gb > 0 && jint(host, "disk_gb_allocated", 0) + ddisk_gb > disk_cap)
		return kerr_set(e, -ENOSPC, "size_gb",
		                "host %s has no room for %lld GB more disk (%lld of %lld GB "
		                "allocated)",
		                jstr(host, "name"), (long long)ddisk_gb,
		                (long long)jint(host, "disk_gb_allocated", 0), (long long)disk_cap);
	return 0;
}
