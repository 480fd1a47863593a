/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: which host spread and pack choose, overcommit arithmetic,
 * the zone/cluster/host filters, skipped hosts, all-or-nothing batches, the
 * wording of every "no capacity" answer, and no overbooking however many
 * VMs are placed; thermal state (hot hosts take nothing, headroom is a
 * bounded preference that never overrides capacity, no telemetry is
 * neutral).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kumod/scheduler.h"

static struct sched_host host(const char *id, const char *zone, const char *cluster, int64_t cpu,
                              int64_t mem, int64_t disk)
{
	struct sched_host h;

	memset(&h, 0, sizeof(h));
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.zone_id, sizeof(h.zone_id), "%s", zone);
	snprintf(h.cluster_id, sizeof(h.cluster_id), "%s", cluster);
	h.connected = h.enabled = true;
	h.cpu_total = cpu;
	h.memory_mb_total = mem;
	h.disk_gb_total = disk;
	return h;
}

static struct sched_request request(int64_t vcpus, int64_t mem, int64_t disk,
                                    enum sched_strategy strategy)
{
	struct sched_request r = {
		.vcpus = vcpus, .memory_mb = mem, .disk_gb = disk, .strategy = strategy
	};
	return r;
}

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)
#define assert_not_contains(hay, needle)                                                           \
	do {                                                                                       \
		if (strstr((hay), (needle)))                                                       \
			fail_msg("\"%s\" should not contain \"%s\"", (hay), (needle));             \
	} while (0)

/* Three equal hosts at different memory loads. */
static void three_hosts(struct sched_host h[3])
{
	h[0] = host("h1", "z1", "c1", 8, 16384, 100);
	h[1] = host("h2", "z1", "c1", 8, 16384, 100);
	h[2] = host("h3", "z1", "c1", 8, 16384, 100);
	h[0].memory_mb_allocated = 12288;
	h[1].memory_mb_allocated = 2048;
	h[2].memory_mb_allocated = 8192;
}

static void test_spread_and_pack(void **state)
{
	(void)state;
	struct sched_host h[3], before[3];
	struct sched_request req = request(1, 1024, 10, SCHED_SPREAD);
	struct kerr err;

	three_hosts(h);
	memcpy(before, h, sizeof(h));
	assert_int_equal(sched_place(h, 3, &req, NULL, &err), 1);
	/* Only the chosen host changed, by exactly the request. */
	assert_int_equal(h[1].cpu_allocated, 1);
	assert_int_equal(h[1].memory_mb_allocated, 2048 + 1024);
	assert_int_equal(h[1].disk_gb_allocated, 10);
	assert_int_equal(h[1].vm_count, 1);
	assert_memory_equal(&h[0], &before[0], sizeof(h[0]));
	assert_memory_equal(&h[2], &before[2], sizeof(h[2]));

	three_hosts(h);
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place(h, 3, &req, NULL, &err), 0);

	/* Pack takes the fullest host that still fits. */
	three_hosts(h);
	h[0].memory_mb_allocated = 16000;
	assert_int_equal(sched_place(h, 3, &req, NULL, &err), 2);
}

/* The share is the larger of the cpu and memory shares. */
static void test_spread_uses_max_share(void **state)
{
	(void)state;
	struct sched_host h[2];
	struct sched_request req = request(1, 1024, 1, SCHED_SPREAD);

	/* h1: memory nearly empty but cpu nearly full (14 of 4*4=16);
	 * h2: memory half full, cpu empty. */
	h[0] = host("h1", "z1", "c1", 4, 16384, 100);
	h[0].cpu_allocated = 14;
	h[1] = host("h2", "z1", "c1", 4, 16384, 100);
	h[1].memory_mb_allocated = 8192;
	assert_int_equal(sched_place(h, 2, &req, NULL, NULL), 1);
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place(h, 2, &req, NULL, NULL), 0);
}

static void test_ties(void **state)
{
	(void)state;
	struct sched_host h[3];
	struct sched_request req = request(1, 1024, 1, SCHED_SPREAD);

	h[0] = host("b", "z1", "c1", 8, 8192, 100);
	h[1] = host("c", "z1", "c1", 8, 8192, 100);
	h[2] = host("a", "z1", "c1", 8, 8192, 100);
	/* Equal shares: fewer VMs wins, then the lower id. */
	h[0].vm_count = 1;
	h[1].vm_count = 2;
	h[2].vm_count = 2;
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 0);
	/* Now h[0] has a higher share; the others tie on share and VMs. */
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 2);
	/* Pack ties: more VMs first, then the lower id. */
	h[0] = host("b", "z1", "c1", 8, 8192, 100);
	h[1] = host("c", "z1", "c1", 8, 8192, 100);
	h[2] = host("a", "z1", "c1", 8, 8192, 100);
	h[1].vm_count = 3;
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 1);
	h[1].vm_count = 0;
	h[0].vm_count = 0;
	h[2].vm_count = 0;
	h[1].cpu_allocated = 0;
	h[1].memory_mb_allocated = 0;
	h[1].disk_gb_allocated = 0;
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 2);
}

static void test_config(void **state)
{
	(void)state;
	struct sched_config c = { 0, 0, 0, 0 };
	enum sched_strategy s = SCHED_PACK;

	sched_config_default(&c);
	assert_true(c.cpu_overcommit == 4.0);
	assert_true(c.mem_overcommit == 1.0);

	assert_int_equal(sched_strategy_parse("spread", &s), 0);
	assert_int_equal(s, SCHED_SPREAD);
	assert_int_equal(sched_strategy_parse("pack", &s), 0);
	assert_int_equal(s, SCHED_PACK);
	assert_int_equal(sched_strategy_parse("Spread", &s), -EINVAL);
	assert_int_equal(sched_strategy_parse("", &s), -EINVAL);
	assert_int_equal(sched_strategy_parse(NULL, &s), -EINVAL);
	assert_int_equal(s, SCHED_PACK);
}

/* Places single VMs until the first refusal; returns how many fitted. */
static int fill(struct sched_host *h, int n, const struct sched_request *req,
                const struct sched_config *cfg)
{
	int placed = 0;

	while (placed < 100000 && sched_place(h, n, req, cfg, NULL) >= 0)
		placed++;
	return placed;
}

static void test_overcommit(void **state)
{
	(void)state;
	struct sched_host h;
	struct sched_config cfg;
	struct sched_request one_cpu = request(1, 0, 0, SCHED_SPREAD);

	/* Default cpu overcommit 4.0: 4 cores hold 16 vCPUs. */
	h = host("h1", "z1", "c1", 4, 1024, 10);
	assert_int_equal(fill(&h, 1, &one_cpu, NULL), 16);
	assert_int_equal(h.cpu_allocated, 16);

	/* 1.5 on 3 cores: floor(4.5) = 4. */
	cfg.cpu_overcommit = 1.5;
	cfg.mem_overcommit = 1.0;
	h = host("h1", "z1", "c1", 3, 1024, 10);
	assert_int_equal(fill(&h, 1, &one_cpu, &cfg), 4);

	/* 100 * 1.15 is 115 even though the double product is 114.999... */
	cfg.cpu_overcommit = 1.15;
	h = host("h1", "z1", "c1", 100, 1024, 10);
	struct sched_request big = request(115, 0, 0, SCHED_SPREAD);
	assert_int_equal(sched_place(&h, 1, &big, &cfg, NULL), 0);
	h.cpu_allocated = 0;
	big.vcpus = 116;
	assert_int_equal(sched_place(&h, 1, &big, &cfg, NULL), -ENOSPC);

	/* Memory: default 1.0, then 1.5. */
	struct sched_request gig = request(1, 1024, 0, SCHED_SPREAD);
	h = host("h1", "z1", "c1", 64, 2048, 10);
	assert_int_equal(fill(&h, 1, &gig, NULL), 2);
	cfg.cpu_overcommit = 4.0;
	cfg.mem_overcommit = 1.5;
	h = host("h1", "z1", "c1", 64, 2048, 10);
	assert_int_equal(fill(&h, 1, &gig, &cfg), 3);

	/* Disk is never overcommitted. */
	cfg.mem_overcommit = 100;
	cfg.cpu_overcommit = 100;
	struct sched_request disk = request(1, 1, 60, SCHED_SPREAD);
	h = host("h1", "z1", "c1", 1, 1, 100);
	assert_int_equal(fill(&h, 1, &disk, &cfg), 1);

	/* Nonsense factors fall back to the defaults. */
	cfg.cpu_overcommit = 0;
	cfg.mem_overcommit = -1;
	h = host("h1", "z1", "c1", 4, 1024, 10);
	assert_int_equal(fill(&h, 1, &one_cpu, &cfg), 16);
}

static void five_hosts(struct sched_host h[5])
{
	h[0] = host("h1", "z1", "c1", 8, 8192, 100);
	h[1] = host("h2", "z1", "c2", 8, 8192, 100);
	h[2] = host("h3", "z2", "c3", 8, 8192, 100);
	h[3] = host("h4", "z2", "c3", 8, 8192, 100);
	h[4] = host("h5", "z2", "c4", 8, 8192, 100);
	/* The emptiest are h1 and h2; the filters must still win. */
	h[2].memory_mb_allocated = 4096;
	h[3].memory_mb_allocated = 6000;
	h[4].memory_mb_allocated = 7000;
}

static void test_filters(void **state)
{
	(void)state;
	struct sched_host h[5];
	struct sched_request req = request(1, 512, 1, SCHED_SPREAD);

	five_hosts(h);
	req.zone_id = "z2";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), 2);
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), 4);

	five_hosts(h);
	req.strategy = SCHED_SPREAD;
	req.zone_id = NULL;
	req.cluster_id = "c3";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), 2);
	req.cluster_id = "c4";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), 4);
	req.zone_id = "z1"; /* c4 is not in z1 */
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), -ENOSPC);

	five_hosts(h);
	req.zone_id = req.cluster_id = NULL;
	req.host_id = "h4";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), 3);
	req.host_id = "h4-not";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), -ENOSPC);
	req.host_id = "h";
	assert_int_equal(sched_place(h, 5, &req, NULL, NULL), -ENOSPC);
}

static void test_skips_unavailable(void **state)
{
	(void)state;
	struct sched_host h[3], before[3];
	struct sched_request req = request(1, 512, 1, SCHED_SPREAD);

	h[0] = host("h1", "z1", "c1", 8, 8192, 100);
	h[1] = host("h2", "z1", "c1", 8, 8192, 100);
	h[2] = host("h3", "z1", "c1", 8, 8192, 100);
	h[0].connected = false; /* emptiest, but gone */
	h[1].enabled = false;   /* next, but disabled */
	h[1].memory_mb_allocated = 1024;
	h[2].memory_mb_allocated = 4096;
	memcpy(before, h, sizeof(h));
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 2);
	assert_memory_equal(&h[0], &before[0], sizeof(h[0]));
	assert_memory_equal(&h[1], &before[1], sizeof(h[1]));
	req.strategy = SCHED_PACK;
	h[2].memory_mb_allocated = 8192; /* full */
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), -ENOSPC);
}

static void test_many(void **state)
{
	(void)state;
	struct sched_host h[2], before[2];
	struct sched_request req = request(2, 1024, 10, SCHED_SPREAD);
	struct kerr err;
	int idx[8];

	/* Each host holds three such VMs (memory 3072 of 3072). */
	h[0] = host("a", "z1", "c1", 8, 3072, 100);
	h[1] = host("b", "z1", "c1", 8, 3072, 100);
	memcpy(before, h, sizeof(h));

	for (int i = 0; i < 8; i++)
		idx[i] = -7;
	kerr_clear(&err);
	assert_int_equal(sched_place_many(h, 2, &req, 7, NULL, idx, &err), -ENOSPC);
	assert_memory_equal(h, before, sizeof(h)); /* restored */
	for (int i = 0; i < 8; i++)
		assert_int_equal(idx[i], -7); /* untouched */
	assert_int_equal(err.code, -ENOSPC);
	assert_string_equal(err.field, "");
	assert_contains(err.message, "only 6 of 7 VMs fit");
	assert_contains(err.message, "the most free memory is 0 MB");

	/* Spread alternates VM by VM... */
	assert_int_equal(sched_place_many(h, 2, &req, 6, NULL, idx, &err), 0);
	static const int spread[] = { 0, 1, 0, 1, 0, 1 };
	assert_memory_equal(idx, spread, sizeof(spread));
	assert_int_equal(h[0].vm_count, 3);
	assert_int_equal(h[1].vm_count, 3);
	assert_int_equal(h[0].memory_mb_allocated, 3072);
	assert_int_equal(h[1].cpu_allocated, 6);
	assert_int_equal(idx[6], -7);

	/* ...pack fills one host first. */
	memcpy(h, before, sizeof(h));
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place_many(h, 2, &req, 6, NULL, idx, &err), 0);
	static const int pack[] = { 0, 0, 0, 1, 1, 1 };
	assert_memory_equal(idx, pack, sizeof(pack));

	/* A failed batch after earlier successes restores to the successes. */
	memcpy(before, h, sizeof(h));
	assert_int_equal(sched_place_many(h, 2, &req, 1, NULL, idx, &err), -ENOSPC);
	assert_memory_equal(h, before, sizeof(h));

	/* Bad counts and requests are argument errors. */
	memcpy(h, before, sizeof(h));
	assert_int_equal(sched_place_many(h, 2, &req, 0, NULL, idx, &err), -EINVAL);
	assert_string_equal(err.field, "count");
	req.vcpus = -1;
	assert_int_equal(sched_place(h, 2, &req, NULL, &err), -EINVAL);
	assert_string_equal(err.field, "vcpus");
	req.vcpus = 1;
	req.memory_mb = -5;
	assert_int_equal(sched_place(h, 2, &req, NULL, &err), -EINVAL);
	assert_string_equal(err.field, "memory_mb");
	assert_memory_equal(h, before, sizeof(h));
}

static void test_messages(void **state)
{
	(void)state;
	struct sched_host h[4];
	struct sched_request req = request(4, 8192, 20, SCHED_SPREAD);
	struct kerr err;

	/* vCPUs short: 4 cores * 4.0 = 16, at most 2 free. */
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "h%d", i + 1);
		h[i] = host(id, "z1", "c1", 4, 65536, 1000);
		h[i].cpu_allocated = 16 - i;
	}
	h[3] = host("h4", "z1", "c2", 64, 65536, 1000); /* other cluster: not counted */
	req.cluster_id = "c1";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_int_equal(err.code, -ENOSPC);
	assert_string_equal(err.field, "");
	assert_string_equal(err.message, "no host fits: need 4 vCPUs, 8192 MB memory, 20 GB disk; "
	                                 "3 hosts connected and enabled in cluster c1, "
	                                 "the most free vCPUs is 2 (overcommit 4.0)");

	/* Memory short. */
	for (int i = 0; i < 3; i++) {
		h[i].cpu_allocated = 0;
		h[i].memory_mb_allocated = 65536 - 2048 * i;
	}
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "the most free memory is 4096 MB");
	assert_not_contains(err.message, "vCPUs is");
	/* ...with memory overcommit named. */
	struct sched_config cfg = { 4.0, 1.0, 0.2, 20.0 };
	assert_int_equal(sched_place(h, 4, &req, &cfg, &err), -ENOSPC);
	assert_contains(err.message, "(overcommit 1.0)");

	/* Disk short. */
	for (int i = 0; i < 3; i++) {
		h[i].memory_mb_allocated = 0;
		h[i].disk_gb_allocated = 990;
	}
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "the most free disk is 10 GB");
	assert_not_contains(err.message, "memory is");

	/* Each resource free somewhere, never together. */
	h[0].disk_gb_allocated = 0; /* disk ok, cpu full */
	h[0].cpu_allocated = 16;
	h[1].disk_gb_allocated = 990; /* cpu ok, disk short */
	h[2].disk_gb_allocated = 990;
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "no single host has all of it free");
	assert_contains(err.message, "1 lack vCPUs, 0 lack memory, 2 lack disk");

	/* Nothing connected and enabled in the zone. */
	h[0].connected = false;
	h[1].enabled = false;
	h[2].connected = false;
	h[2].enabled = false;
	req.cluster_id = NULL;
	req.zone_id = "z1";
	h[3].connected = false;
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message, "no connected and enabled host in zone z1 "
	                                 "(4 hosts: 3 disconnected, 1 disabled)");
	req.zone_id = "z9";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message,
	                    "no connected and enabled host in zone z9: it has no hosts");
	req.zone_id = NULL;
	assert_int_equal(sched_place(h, 0, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "no connected and enabled host");

	/* A named host. */
	req.host_id = "h1";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message, "host h1 is disconnected");
	req.host_id = "h2";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message, "host h2 is disabled");
	req.host_id = "h7";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "host h7 is not");
	h[1].enabled = true;
	h[1].cpu_allocated = 14;
	h[1].disk_gb_allocated = 0;
	req.host_id = "h2";
	req.cluster_id = "c2";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message, "host h2 is not in cluster c2");
	req.cluster_id = NULL;
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_string_equal(err.message, "host h2 cannot fit the vm: need 4 vCPUs, 8192 MB memory, "
	                                 "20 GB disk; it has only 2 vCPUs free (overcommit 4.0)");
	/* Two fit on it as 1-vCPU VMs, the third not. */
	req.vcpus = 1;
	int idx[3];
	assert_int_equal(sched_place_many(h, 4, &req, 3, NULL, idx, &err), -ENOSPC);
	assert_contains(err.message, "host h2 fits only 2 of 3 VMs");
	assert_contains(err.message, "after 2 it has only 0 vCPUs free (overcommit 4.0)");
	assert_int_equal(h[1].cpu_allocated, 14);
}

/* Tiny deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

static void test_no_overbooking(void **state)
{
	(void)state;
	enum { N = 40 };
	struct sched_host h[N];
	struct sched_config cfg = { 2.5, 1.2, 0.2, 20.0 };
	int64_t want_cpu = 0, want_mem = 0, want_disk = 0, want_vms = 0;
	int placed = 0, refused = 0;

	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "host-%02d", i);
		h[i] = host(id, i % 2 ? "z1" : "z2", i % 4 < 2 ? "c1" : "c2", 1 + (int64_t)rnd(32),
		            1024 + 1024 * (int64_t)rnd(64), 20 + (int64_t)rnd(500));
		h[i].connected = rnd(10) != 0;
		h[i].enabled = rnd(10) != 0;
	}
	for (int round = 0; round < 3000; round++) {
		struct sched_request req =
		    request(1 + (int64_t)rnd(8), 256 * (1 + (int64_t)rnd(16)), (int64_t)rnd(40),
		            (enum sched_strategy)rnd(2));
		int count = 1 + (int)rnd(5);
		int idx[5];

		req.zone_id = rnd(3) == 0 ? "z1" : NULL;
		req.cluster_id = rnd(3) == 0 ? "c2" : NULL;
		if (sched_place_many(h, N, &req, count, &cfg, idx, NULL) < 0) {
			refused++;
			continue;
		}
		for (int k = 0; k < count; k++) {
			const struct sched_host *p = &h[idx[k]];
			assert_true(p->connected && p->enabled);
			if (req.zone_id)
				assert_string_equal(p->zone_id, req.zone_id);
			if (req.cluster_id)
				assert_string_equal(p->cluster_id, req.cluster_id);
		}
		placed += count;
		want_cpu += count * req.vcpus;
		want_mem += count * req.memory_mb;
		want_disk += count * req.disk_gb;
		want_vms += count;
	}
	int64_t cpu = 0, mem = 0, disk = 0, vms = 0;
	for (int i = 0; i < N; i++) {
		assert_true(h[i].cpu_allocated * 10 <= h[i].cpu_total * 25);
		assert_true(h[i].memory_mb_allocated * 10 <= h[i].memory_mb_total * 12);
		assert_true(h[i].disk_gb_allocated <= h[i].disk_gb_total);
		if (!h[i].connected || !h[i].enabled)
			assert_int_equal(h[i].vm_count, 0);
		cpu += h[i].cpu_allocated;
		mem += h[i].memory_mb_allocated;
		disk += h[i].disk_gb_allocated;
		vms += h[i].vm_count;
	}
	/* Every placed VM is accounted for, every refused batch left nothing. */
	assert_int_equal(cpu, want_cpu);
	assert_int_equal(mem, want_mem);
	assert_int_equal(disk, want_disk);
	assert_int_equal(vms, want_vms);
	/* The run exercised both outcomes. */
	assert_true(placed > 100);
	assert_true(refused > 100);
}

static void test_batch_speed(void **state)
{
	(void)state;
	enum { HOSTS = 1000, VMS = 10000 };
	static struct sched_host h[HOSTS];
	static int idx[VMS];
	struct sched_request req = request(2, 2048, 10, SCHED_SPREAD);
	struct timespec t0, t1;
	struct kerr err;

	for (int i = 0; i < HOSTS; i++) {
		char id[16];
		snprintf(id, sizeof(id), "h%04d", i);
		h[i] = host(id, "z1", i % 2 ? "c1" : "c2", 64, 262144, 4000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sched_place_many(h, HOSTS, &req, VMS, NULL, idx, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("placed %d VMs on %d hosts in %.3f s\n", VMS, HOSTS, secs);
	/* Well under a second in a normal build; generous for sanitizers. */
	assert_true(secs < 5.0);
	/* Spread over equal hosts: exactly ten each. */
	for (int i = 0; i < HOSTS; i++)
		assert_int_equal(h[i].vm_count, VMS / HOSTS);
}

/* --- thermal ------------------------------------------------------------------ */

static struct sched_host thermal_host(const char *id, enum sched_thermal t, double headroom)
{
	struct sched_host h = host(id, "z1", "c1", 16, 65536, 1000);

	h.thermal = t;
	h.has_headroom = true;
	h.headroom_c = headroom;
	return h;
}

static void test_thermal_config_and_names(void **state)
{
	(void)state;
	struct sched_config c;
	enum sched_thermal t = SCHED_THERMAL_OK;

	sched_config_default(&c);
	assert_true(c.thermal_weight == 0.2);
	assert_true(c.thermal_ref_c == 20.0);
	assert_int_equal(sched_thermal_parse("warning", &t), 0);
	assert_int_equal(t, SCHED_THERMAL_WARNING);
	assert_int_equal(sched_thermal_parse("critical", &t), 0);
	assert_int_equal(t, SCHED_THERMAL_CRITICAL);
	assert_int_equal(sched_thermal_parse("Warning", &t), -EINVAL);
	assert_int_equal(sched_thermal_parse("hot", &t), -EINVAL);
	assert_int_equal(sched_thermal_parse(NULL, &t), -EINVAL);
	assert_int_equal(t, SCHED_THERMAL_CRITICAL);
	assert_string_equal(sched_thermal_name(SCHED_THERMAL_ALARM), "alarm");
	assert_string_equal(sched_thermal_name((enum sched_thermal)99), "unknown");
}

static void test_thermal_penalty(void **state)
{
	(void)state;
	struct sched_config c;
	struct sched_host h = thermal_host("h", SCHED_THERMAL_OK, 10.0);

	sched_config_default(&c);
	/* linear from the weight at 0 headroom to nothing at thermal_ref_c */
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.1, 1e-9);
	h.headroom_c = 0;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.2, 1e-9);
	h.headroom_c = -15;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.2, 1e-9);
	h.headroom_c = 20;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.0, 1e-9);
	h.headroom_c = 45;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.0, 1e-9);
	/* neutral without telemetry or without a headroom figure */
	h.headroom_c = 0;
	h.has_headroom = false;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.0, 1e-9);
	h.has_headroom = true;
	h.thermal = SCHED_THERMAL_UNKNOWN;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.0, 1e-9);
	/* configurable; 0 turns it off; NULL config uses the defaults */
	h.thermal = SCHED_THERMAL_OK;
	c.thermal_weight = 0;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.0, 1e-9);
	c.thermal_weight = 0.5;
	c.thermal_ref_c = 10;
	h.headroom_c = 5;
	assert_float_equal(sched_thermal_penalty(&h, &c), 0.25, 1e-9);
	assert_float_equal(sched_thermal_penalty(&h, NULL), 0.15, 1e-9);
}

/* Warning, alarm and critical hosts take no VMs, whatever their capacity. */
static void test_thermal_hot_hosts_take_nothing(void **state)
{
	(void)state;
	struct sched_host h[4];
	struct sched_request req = request(1, 1024, 10, SCHED_SPREAD);
	struct kerr err;

	h[0] = thermal_host("warn", SCHED_THERMAL_WARNING, 5);
	h[1] = thermal_host("alarm", SCHED_THERMAL_ALARM, -1);
	h[2] = thermal_host("crit", SCHED_THERMAL_CRITICAL, -5);
	h[3] = thermal_host("busy", SCHED_THERMAL_OK, 30);
	h[3].memory_mb_allocated = 61000; /* room for 4 more, but the only one allowed */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sched_place(h, 4, &req, NULL, &err), 3);
		req.strategy = i % 2 ? SCHED_SPREAD : SCHED_PACK;
	}
	assert_int_equal(h[0].vm_count + h[1].vm_count + h[2].vm_count, 0);
	/* once the allowed host is full, the answer says why the others are out */
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "(and 3 in thermal warning or worse, which take no new VMs)");
	/* with only hot hosts left */
	assert_int_equal(sched_place(h, 3, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "no connected and enabled host below its thermal limits");
	assert_contains(err.message, "(3 hosts: 0 disconnected, 0 disabled, 3 in thermal warning, "
	                             "alarm or critical)");
	/* a host asked for by id */
	req.host_id = "crit";
	assert_int_equal(sched_place(h, 4, &req, NULL, &err), -ENOSPC);
	assert_contains(err.message, "host crit is in thermal state critical");
	/* an ok host with no thermal figures and an unknown one are fine */
	req.host_id = NULL;
	h[1].thermal = SCHED_THERMAL_UNKNOWN;
	h[2].thermal = SCHED_THERMAL_OK;
	h[2].has_headroom = false;
	assert_true(sched_place(h, 4, &req, NULL, &err) >= 1);
}

/* Among hosts that fit, more headroom wins, for spread and pack alike;
 * no telemetry is neutral: it ranks like ample headroom. */
static void test_thermal_headroom_is_preferred(void **state)
{
	(void)state;
	struct sched_host h[3];
	struct sched_request req = request(1, 1024, 10, SCHED_SPREAD);

	h[0] = thermal_host("a", SCHED_THERMAL_OK, 2);
	h[1] = thermal_host("b", SCHED_THERMAL_OK, 25);
	h[2] = thermal_host("c", SCHED_THERMAL_OK, 9);
	/* spread: the coolest takes VMs until its load outweighs the others' heat */
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 1);
	h[1].vm_count = 0;
	h[1].memory_mb_allocated = 0;
	h[1].cpu_allocated = 0;
	h[1].disk_gb_allocated = 0;
	req.strategy = SCHED_PACK;
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 1);
	/* equal headroom: the usual order (spread: the emptier; ties by id) */
	req.strategy = SCHED_SPREAD;
	h[0].headroom_c = h[1].headroom_c = h[2].headroom_c = 25;
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 0);
	/* unknown is neutral: it beats a host with little headroom, ties with
	 * one with plenty */
	h[0] = thermal_host("a", SCHED_THERMAL_OK, 1);
	h[1] = thermal_host("b", SCHED_THERMAL_UNKNOWN, 0);
	h[1].has_headroom = false;
	h[2] = thermal_host("c", SCHED_THERMAL_OK, 1);
	assert_int_equal(sched_place(h, 3, &req, NULL, NULL), 1);
	/* the weight can be turned off: then ids break the tie */
	struct sched_config off = { 4.0, 1.0, 0.0, 20.0 };
	h[0] = thermal_host("a", SCHED_THERMAL_OK, 0);
	h[1] = thermal_host("b", SCHED_THERMAL_OK, 40);
	assert_int_equal(sched_place(h, 2, &req, &off, NULL), 0);
}

/* The weight is bounded: a much emptier host still wins over a cooler
 * one, and it never places a VM where it does not fit. */
static void test_thermal_weight_never_overrides_capacity(void **state)
{
	(void)state;
	struct sched_host h[2];
	struct sched_request req = request(2, 4096, 10, SCHED_SPREAD);
	struct kerr err;

	/* warm: 10% used, headroom 0 (share + 0.2 = 0.3); cool: 50% used */
	h[0] = thermal_host("warm", SCHED_THERMAL_OK, 0);
	h[0].memory_mb_allocated = 65536 / 10 - 4096;
	h[1] = thermal_host("cool", SCHED_THERMAL_OK, 30);
	h[1].memory_mb_allocated = 65536 / 2 - 4096;
	assert_int_equal(sched_place(h, 2, &req, NULL, &err), 0);
	/* the cool host is full: the warm one takes it */
	h[0] = thermal_host("warm", SCHED_THERMAL_OK, 0);
	h[1] = thermal_host("cool", SCHED_THERMAL_OK, 30);
	h[1].memory_mb_allocated = 65536 - 2048;
	assert_int_equal(sched_place(h, 2, &req, NULL, &err), 0);
	/* fill both: every VM fits where it lands, the cool host is never
	 * overbooked, and the warm one is used only for what it can hold */
	h[0] = thermal_host("warm", SCHED_THERMAL_OK, 0);
	h[1] = thermal_host("cool", SCHED_THERMAL_OK, 30);
	int n = 0;
	while (sched_place(h, 2, &req, NULL, &err) >= 0)
		n++;
	assert_int_equal(n, 2 * (65536 / 4096));
	assert_true(h[0].memory_mb_allocated <= 65536 && h[1].memory_mb_allocated <= 65536);
	assert_int_equal(h[0].vm_count, 16);
	assert_int_equal(h[1].vm_count, 16);
}

/* Random fleets with random thermal states: no VM ever lands on a hot
 * host, and every batch is all or nothing. */
static void test_thermal_random(void **state)
{
	(void)state;
	enum { N = 40 };
	struct sched_host h[N];
	unsigned seed = 7;

	for (int i = 0; i < N; i++) {
		char id[16];

		seed = seed * 1103515245u + 12345u;
		snprintf(id, sizeof(id), "t%02d", i);
		h[i] = thermal_host(id, (enum sched_thermal)((seed >> 16) % 5),
		                    (double)((seed >> 8) % 50) - 10);
		h[i].has_headroom = (seed >> 4) % 3 != 0;
	}
	for (int round = 0; round < 2000; round++) {
		struct sched_request req = request(1 + round % 4, 512 * (1 + round % 8), 5,
		                                   (enum sched_strategy)(round % 2));
		int idx[4], count = 1 + round % 4;

		if (sched_place_many(h, N, &req, count, NULL, idx, NULL) < 0)
			continue;
		for (int k = 0; k < count; k++)
			assert_true(h[idx[k]].thermal < SCHED_THERMAL_WARNING);
	}
	for (int i = 0; i < N; i++) {
		if (h[i].thermal >= SCHED_THERMAL_WARNING)
			assert_int_equal(h[i].vm_count, 0);
		assert_true(h[i].memory_mb_allocated <= h[i].memory_mb_total);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spread_and_pack),
		cmocka_unit_test(test_spread_uses_max_share),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_overcommit),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_skips_unavailable),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_no_overbooking),
		cmocka_unit_test(test_batch_speed),
		cmocka_unit_test(test_thermal_config_and_names),
		cmocka_unit_test(test_thermal_penalty),
		cmocka_unit_test(test_thermal_hot_hosts_take_nothing),
		cmocka_unit_test(test_thermal_headroom_is_preferred),
		cmocka_unit_test(test_thermal_weight_never_overrides_capacity),
		cmocka_unit_test(test_thermal_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
