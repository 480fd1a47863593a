/* SPDX-License-Identifier: MIT */
/*
 * VM placement (see scheduler.h): choosing a host for each VM from an array
 * of host capacities, and explaining in one sentence why nothing fits when
 * that is the answer. Pure logic: no store, no locks, no logging; the caller
 * loads the hosts and writes the new allocations back in one transaction.
 *
 * A placement is one pass over the candidate hosts (O(n)); a batch filters
 * the hosts once and then makes one pass per VM (O(count * n)).
 *
 * Thermal state filters like "disabled" does (warning and worse take no new
 * VMs), and thermal headroom only shifts the score hosts that fit are
 * ranked by (sched_thermal_penalty), so it can reorder them but never place
 * a VM where it does not fit.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kumod/scheduler.h"

#define DEFAULT_CPU_OVERCOMMIT 4.0
#define DEFAULT_MEM_OVERCOMMIT 1.0
#define DEFAULT_THERMAL_WEIGHT 0.2
#define DEFAULT_THERMAL_REF_C 20.0
#define THERMAL_WEIGHT_MAX 1.0
/* Requests above this are refused, so no sum below can overflow. */
#define REQ_MAX ((int64_t)1 << 40)
#define CAP_MAX ((int64_t)1 << 62)

void sched_config_default(struct sched_config *c)
{
	c->cpu_overcommit = DEFAULT_CPU_OVERCOMMIT;
	c->mem_overcommit = DEFAULT_MEM_OVERCOMMIT;
	c->thermal_weight = DEFAULT_THERMAL_WEIGHT;
	c->thermal_ref_c = DEFAULT_THERMAL_REF_C;
}

static const char *const strategy_names[] = {
	[SCHED_SPREAD] = "spread",
	[SCHED_PACK] = "pack",
};

int sched_strategy_parse(const char *s, enum sched_strategy *ret)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(strategy_names); i++)
		if (strcmp(s, strategy_names[i]) == 0) {
			*ret = (enum sched_strategy)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const thermal_names[] = {
	[SCHED_THERMAL_UNKNOWN] = "unknown",   [SCHED_THERMAL_OK] = "ok",
	[SCHED_THERMAL_WARNING] = "warning",   [SCHED_THERMAL_ALARM] = "alarm",
	[SCHED_THERMAL_CRITICAL] = "critical",
};

int sched_thermal_parse(const char *s, enum sched_thermal *ret)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(thermal_names); i++)
		if (strcmp(s, thermal_names[i]) == 0) {
			*ret = (enum sched_thermal)i;
			return 0;
		}
	return -EINVAL;
}

const char *sched_thermal_name(enum sched_thermal t)
{
	if ((size_t)t >= ARRAY_SIZE(thermal_names))
		return "unknown";
	return thermal_names[t];
}

/* Too hot for new VMs. */
static bool thermal_hot(const struct sched_host *h)
{
	return h->thermal >= SCHED_THERMAL_WARNING;
}

double sched_thermal_penalty(const struct sched_host *h, const struct sched_config *cfg)
{
	double w = DEFAULT_THERMAL_WEIGHT, ref = DEFAULT_THERMAL_REF_C;

	if (cfg && isfinite(cfg->thermal_weight) && cfg->thermal_weight >= 0)
		w = fmin(cfg->thermal_weight, THERMAL_WEIGHT_MAX);
	if (cfg && isfinite(cfg->thermal_ref_c) && cfg->thermal_ref_c > 0)
		ref = cfg->thermal_ref_c;
	if (h->thermal != SCHED_THERMAL_OK || !h->has_headroom || !isfinite(h->headroom_c) ||
	    h->headroom_c >= ref)
		return 0.0;
	if (h->headroom_c <= 0)
		return w;
	return w * (ref - h->headroom_c) / ref;
}

/* Overcommit factors actually used: the configured ones when they are
 * positive numbers, else the defaults. */
struct factors {
	double cpu, mem;
};

static struct factors factors_of(const struct sched_config *cfg)
{
	struct factors f = { DEFAULT_CPU_OVERCOMMIT, DEFAULT_MEM_OVERCOMMIT };

	if (cfg && cfg->cpu_overcommit > 0 && isfinite(cfg->cpu_overcommit))
		f.cpu = cfg->cpu_overcommit;
	if (cfg && cfg->mem_overcommit > 0 && isfinite(cfg->mem_overcommit))
		f.mem = cfg->mem_overcommit;
	return f;
}

/* floor(total * factor), with a little slack so that 100 * 1.15 counts as 115. */
static int64_t capacity(int64_t total, double factor)
{
	if (total <= 0)
		return 0;
	double c = floor((double)total * factor + 1e-6);
	if (c >= (double)CAP_MAX)
		return CAP_MAX;
	return (int64_t)c;
}

static int64_t free_of(int64_t cap, int64_t allocated)
{
	return allocated >= cap ? 0 : cap - allocated;
}

static bool id_eq(const char *field, size_t size, const char *want)
{
	return strncmp(field, want, size) == 0;
}

#define ID_EQ(arr, want) id_eq((arr), sizeof(arr), (want))

static bool given(const char *s)
{
	return s && *s;
}

/* Zone, cluster and host filters only (not status). */
static bool in_scope(const struct sched_host *h, const struct sched_request *req)
{
	if (given(req->zone_id) && !ID_EQ(h->zone_id, req->zone_id))
		return false;
	if (given(req->cluster_id) && !ID_EQ(h->cluster_id, req->cluster_id))
		return false;
	if (given(req->host_id) && !ID_EQ(h->id, req->host_id))
		return false;
	return true;
}

struct cand {
	int idx;
	int64_t cpu_cap, mem_cap;
	double penalty; /* sched_thermal_penalty */
};

/* The share of the host's (overcommitted) capacity in use after the VM. */
static double share(int64_t used, int64_t cap)
{
	if (cap <= 0)
		return used > 0 ? INFINITY : 0.0;
	return (double)used / (double)cap;
}

/* True when a should be preferred over b (both fit). Spread: lower share,
 * then fewer VMs; pack: higher share, then more VMs; then the lower id. */
static bool better(const struct sched_host *a, double sa, const struct sched_host *b, double sb,
                   enum sched_strategy strategy)
{
	if (sa != sb)
		return strategy == SCHED_PACK ? sa > sb : sa < sb;
	if (a->vm_count != b->vm_count)
		return strategy == SCHED_PACK ? a->vm_count > b->vm_count
		                              : a->vm_count < b->vm_count;
	return strncmp(a->id, b->id, sizeof(a->id)) < 0;
}

/* The host index for one VM among the candidates, or -1. */
static int pick(const struct sched_host *hosts, const struct cand *cands, int ncands,
                const struct sched_request *req)
{
	int best = -1;
	double best_share = 0;

	for (int i = 0; i < ncands; i++) {
		const struct cand *c = &cands[i];
		const struct sched_host *h = &hosts[c->idx];
		int64_t cpu = h->cpu_allocated + req->vcpus;
		int64_t mem = h->memory_mb_allocated + req->memory_mb;

		if (cpu > c->cpu_cap || mem > c->mem_cap ||
		    h->disk_gb_allocated + req->disk_gb > h->disk_gb_total)
			continue;
		double s = fmax(share(cpu, c->cpu_cap), share(mem, c->mem_cap));
		s += req->strategy == SCHED_PACK ? -c->penalty : c->penalty;
		if (best < 0 || better(h, s, &hosts[best], best_share, req->strategy)) {
			best = c->idx;
			best_share = s;
		}
	}
	return best;
}

static void add_vm(struct sched_host *h, const struct sched_request *req, int sign)
{
	h->cpu_allocated += sign * req->vcpus;
	h->memory_mb_allocated += sign * req->memory_mb;
	h->disk_gb_allocated += sign * req->disk_gb;
	h->vm_count += sign;
}

/* A message assembled piece by piece, silently truncated at KERR_MSG_MAX. */
struct msg {
	char s[KERR_MSG_MAX];
	size_t len;
};

static void __attribute__((format(printf, 2, 3))) msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;

	if (m->len >= sizeof(m->s) - 1)
		return;
	va_start(ap, fmt);
	int r = vsnprintf(m->s + m->len, sizeof(m->s) - m->len, fmt, ap);
	va_end(ap);
	if (r > 0)
		m->len = m->len + (size_t)r < sizeof(m->s) ? m->len + (size_t)r : sizeof(m->s) - 1;
}

/* Overcommit factors as "4.0", "1.5", "1.25". */
static void fmt_factor(double f, char out[32])
{
	if (fabs(f * 10 - round(f * 10)) < 1e-9)
		snprintf(out, 32, "%.1f", f);
	else
		snprintf(out, 32, "%g", f);
}

static void msg_need(struct msg *m, const struct sched_request *req)
{
	msg_add(m, "%" PRId64 " vCPU%s, %" PRId64 " MB memory, %" PRId64 " GB disk", req->vcpus,
	        req->vcpus == 1 ? "" : "s", req->memory_mb, req->disk_gb);
}

static void msg_scope(struct msg *m, const struct sched_request *req)
{
	if (given(req->cluster_id))
		msg_add(m, " in cluster %s", req->cluster_id);
	if (given(req->zone_id))
		msg_add(m, given(req->cluster_id) ? " of zone %s" : " in zone %s", req->zone_id);
}

/* Free resources of one host, or the largest free amounts over several. */
struct freeview {
	int64_t cpu, mem, disk;
};

/* Appends the resources of f that fall short of the request, as "the most
 * free vCPUs is 2 (overcommit 4.0)" for the best over several hosts (best)
 * or "2 vCPUs free (overcommit 4.0)" for one host. Returns how many. */
static int msg_short(struct msg *m, const struct freeview *f, const struct sched_request *req,
                     const struct factors *fac, bool best)
{
	char ocpu[32], omem[32];
	int nshort = 0;

	fmt_factor(fac->cpu, ocpu);
	fmt_factor(fac->mem, omem);
	if (f->cpu < req->vcpus)
		msg_add(m,
		        best ? "%sthe most free vCPUs is %" PRId64 " (overcommit %s)"
		             : "%s%" PRId64 " vCPUs free (overcommit %s)",
		        nshort++ ? ", " : "", f->cpu, ocpu);
	if (f->mem < req->memory_mb)
		msg_add(m,
		        best ? "%sthe most free memory is %" PRId64 " MB (overcommit %s)"
		             : "%s%" PRId64 " MB memory free (overcommit %s)",
		        nshort++ ? ", " : "", f->mem, omem);
	if (f->disk < req->disk_gb)
		msg_add(m,
		        best ? "%sthe most free disk is %" PRId64 " GB"
		             : "%s%" PRId64 " GB disk free",
		        nshort++ ? ", " : "", f->disk);
	return nshort;
}

static struct freeview host_free(const struct sched_host *h, const struct factors *fac)
{
	struct freeview f = {
		.cpu = free_of(capacity(h->cpu_total, fac->cpu), h->cpu_allocated),
		.mem = free_of(capacity(h->memory_mb_total, fac->mem), h->memory_mb_allocated),
		.disk = free_of(h->disk_gb_total, h->disk_gb_allocated),
	};
	return f;
}

/* The request named a host: say what is wrong with that one. */
static void explain_host(struct msg *m, const struct sched_host *hosts, int n,
                         const struct sched_request *req, const struct factors *fac, int placed,
                         int count)
{
	const struct sched_host *h = NULL;

	for (int i = 0; i < n && !h; i++)
		if (ID_EQ(hosts[i].id, req->host_id))
			h = &hosts[i];
	if (!h) {
		msg_add(m, "host %s is not a known host", req->host_id);
		return;
	}
	if (given(req->cluster_id) && !ID_EQ(h->cluster_id, req->cluster_id)) {
		msg_add(m, "host %s is not in cluster %s", req->host_id, req->cluster_id);
		return;
	}
	if (given(req->zone_id) && !ID_EQ(h->zone_id, req->zone_id)) {
		msg_add(m, "host %s is not in zone %s", req->host_id, req->zone_id);
		return;
	}
	if (!h->connected) {
		msg_add(m, "host %s is disconnected", req->host_id);
		return;
	}
	if (!h->enabled) {
		msg_add(m, "host %s is disabled", req->host_id);
		return;
	}
	if (thermal_hot(h)) {
		msg_add(m, "host %s is in thermal state %s: it takes no new VMs", req->host_id,
		        sched_thermal_name(h->thermal));
		return;
	}
	struct freeview f = host_free(h, fac);
	if (placed > 0) {
		msg_add(m, "host %s fits only %d of %d VMs: each needs ", req->host_id, placed,
		        count);
		msg_need(m, req);
		msg_add(m, "; after %d it has only ", placed);
	} else {
		msg_add(m, "host %s cannot fit the vm: need ", req->host_id);
		msg_need(m, req);
		msg_add(m, "; it has only ");
	}
	msg_short(m, &f, req, fac, false);
}

/* Why no host in scope fits the next VM; hosts[] holds the placements so far. */
static void explain(struct msg *m, const struct sched_host *hosts, int n,
                    const struct sched_request *req, const struct factors *fac, int placed,
                    int count)
{
	int total = 0, disconnected = 0, disabled = 0, hot = 0, eligible = 0;
	int lack_cpu = 0, lack_mem = 0, lack_disk = 0;
	struct freeview best = { 0, 0, 0 };

	if (given(req->host_id)) {
		explain_host(m, hosts, n, req, fac, placed, count);
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct sched_host *h = &hosts[i];

		if (!in_scope(h, req))
			continue;
		total++;
		if (!h->connected) {
			disconnected++;
			continue;
		}
		if (!h->enabled) {
			disabled++;
			continue;
		}
		if (thermal_hot(h)) {
			hot++;
			continue;
		}
		eligible++;
		struct freeview f = host_free(h, fac);
		best.cpu = f.cpu > best.cpu ? f.cpu : best.cpu;
		best.mem = f.mem > best.mem ? f.mem : best.mem;
		best.disk = f.disk > best.disk ? f.disk : best.disk;
		lack_cpu += f.cpu < req->vcpus;
		lack_mem += f.mem < req->memory_mb;
		lack_disk += f.disk < req->disk_gb;
	}

	if (eligible == 0) {
		msg_add(m, hot ? "no connected and enabled host below its thermal limits"
		               : "no connected and enabled host");
		msg_scope(m, req);
		if (total == 0 && (given(req->cluster_id) || given(req->zone_id)))
			msg_add(m, ": it has no hosts");
		else if (total == 0)
			msg_add(m, ": no host has registered");
		else if (hot)
			msg_add(m,
			        " (%d host%s: %d disconnected, %d disabled, %d in thermal "
			        "warning, alarm or critical)",
			        total, total == 1 ? "" : "s", disconnected, disabled, hot);
		else
			msg_add(m, " (%d host%s: %d disconnected, %d disabled)", total,
			        total == 1 ? "" : "s", disconnected, disabled);
		return;
	}

	if (placed > 0) {
		msg_add(m, "only %d of %d VMs fit: each needs ", placed, count);
	} else {
		msg_add(m, "no host fits: need ");
	}
	msg_need(m, req);
	msg_add(m, "; %d host%s connected and enabled", eligible, eligible == 1 ? "" : "s");
	msg_scope(m, req);
	if (hot)
		msg_add(m, " (and %d in thermal warning or worse, which take no new VMs)", hot);
	if (placed > 0)
		msg_add(m, ", after placing %d", placed);
	msg_add(m, ", ");
	if (msg_short(m, &best, req, fac, true) == 0)
		msg_add(m,
		        "no single host has all of it free (%d lack vCPUs, %d lack memory, "
		        "%d lack disk)",
		        lack_cpu, lack_mem, lack_disk);
}

static int check_request(const struct sched_request *req, int count, struct kerr *err)
{
	static const struct {
		const char *field;
		size_t off;
	} fields[] = {
		{ "vcpus", offsetof(struct sched_request, vcpus) },
		{ "memory_mb", offsetof(struct sched_request, memory_mb) },
		{ "disk_gb", offsetof(struct sched_request, disk_gb) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int64_t v = *(const int64_t *)((const char *)req + fields[i].off);
		if (v < 0 || v > REQ_MAX) {
			if (err)
				kerr_set(err, -EINVAL, fields[i].field, "%s is out of range",
				         fields[i].field);
			return -EINVAL;
		}
	}
	if (req->strategy != SCHED_SPREAD && req->strategy != SCHED_PACK) {
		if (err)
			kerr_set(err, -EINVAL, "strategy", "unknown placement strategy");
		return -EINVAL;
	}
	if (count < 1) {
		if (err)
			kerr_set(err, -EINVAL, "count", "count must be at least 1");
		return -EINVAL;
	}
	return 0;
}

int sched_place_many(struct sched_host *hosts, int n, const struct sched_request *req, int count,
                     const struct sched_config *cfg, int *ret_idx, struct kerr *err)
{
	assert(n >= 0);
	assert(hosts || n == 0);
	assert(req);
	assert(ret_idx);
	struct factors fac = factors_of(cfg);
	struct cand *cands = NULL;
	int *placed = NULL;
	int ncands = 0, r;

	r = check_request(req, count, err);
	if (r < 0)
		return r;

	cands = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*cands));
	placed = xcalloc((size_t)count, sizeof(*placed));
	for (int i = 0; i < n; i++) {
		const struct sched_host *h = &hosts[i];
		if (!h->connected || !h->enabled || thermal_hot(h) || !in_scope(h, req))
			continue;
		cands[ncands++] = (struct cand){
			.idx = i,
			.cpu_cap = capacity(h->cpu_total, fac.cpu),
			.mem_cap = capacity(h->memory_mb_total, fac.mem),
			.penalty = sched_thermal_penalty(h, cfg),
		};
	}

	for (int k = 0; k < count; k++) {
		int idx = pick(hosts, cands, ncands, req);
		if (idx < 0) {
			struct msg m = { .len = 0 };
			m.s[0] = '\0';
			explain(&m, hosts, n, req, &fac, k, count);
			while (k-- > 0)
				add_vm(&hosts[placed[k]], req, -1);
			if (err)
				kerr_set(err, -ENOSPC, "", "%s", m.s);
			r = -ENOSPC;
			goto out;
		}
		add_vm(&hosts[idx], req, +1);
		placed[k] = idx;
	}
	memcpy(ret_idx, placed, (size_t)count * sizeof(*placed));
	r = 0;
out:
	free(cands);
	free(placed);
	return r;
}

int sched_place(struct sched_host *hosts, int n, const struct sched_request *req,
                const struct sched_config *cfg, struct kerr *err)
{
	int idx, r;

	r = sched_place_many(hosts, n, req, 1, cfg, &idx, err);
	return r < 0 ? r : idx;
}
