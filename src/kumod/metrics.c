// SPDX-License-Identifier: MIT
/*
 * /metrics in Prometheus text format: HTTP requests by status class and a
 * latency histogram (atomics, no lock on the request path), plus hosts, VMs
 * and jobs by state counted from the store when scraped.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "kumod/metrics.h"
#include "kumod/query.h"
#include "kumod/store.h"
#include "kumod/vm_state.h"

static const int64_t buckets_us[] = { 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000 };
#define NBUCKETS (sizeof(buckets_us) / sizeof(buckets_us[0]))

static atomic_uint_fast64_t req_by_class[6];
static atomic_uint_fast64_t lat_bucket[NBUCKETS + 1];
static atomic_uint_fast64_t lat_sum_us;
static int64_t started_ms;

void metrics_on_done(const struct http_request *req, int status, int64_t usec)
{
	int cls = status / 100;
	size_t b = 0;

	if (!started_ms)
		started_ms = mono_ms();
	if (cls < 1 || cls > 5)
		cls = 0;
	atomic_fetch_add(&req_by_class[cls], 1);
	while (b < NBUCKETS && usec > buckets_us[b])
		b++;
	atomic_fetch_add(&lat_bucket[b], 1);
	atomic_fetch_add(&lat_sum_us, (uint_fast64_t)(usec > 0 ? usec : 0));
}

static void count_by(struct buf *b, const char *metric, const char *kind, const char *field,
                     const char *const *values, int nvalues)
{
	for (int i = 0; i < nvalues; i++) {
		struct list_query q;
		int64_t n = 0;

		list_query_init(&q);
		query_add_eq(&q, field, values[i]);
		store_count(kind, &q, &n);
		list_query_free(&q);
		buf_printf(b, "%s{%s=\"%s\"} %lld\n", metric, field, values[i], (long long)n);
	}
}

void metrics_render(struct buf *b)
{
	static const char *const host_status[] = { "connecting", "connected", "disconnected" };
	static const char *const job_states[] = { "pending", "running", "succeeded", "failed" };
	const char *vm_states[VM_STATE_MAX];
	uint64_t cum = 0, total = 0;
	char line[256];

	for (int i = 0; i < VM_STATE_MAX; i++)
		vm_states[i] = vm_state_name((enum vm_state)i);
	buf_puts(b, "# HELP kumo_http_requests_total HTTP requests answered, by status class.\n"
	            "# TYPE kumo_http_requests_total counter\n");
	for (int c = 1; c <= 5; c++) {
		buf_printf(b, "kumo_http_requests_total{class=\"%dxx\"} %llu\n", c,
		           (unsigned long long)atomic_load(&req_by_class[c]));
		total += atomic_load(&req_by_class[c]);
	}
	buf_puts(b, "# HELP kumo_http_request_duration_seconds Time to answer a request.\n"
	            "# TYPE kumo_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += atomic_load(&lat_bucket[i]);
		buf_printf(b, "kumo_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
		           (double)buckets_us[i] / 1e6, (unsigned long long)cum);
	}
	cum += atomic_load(&lat_bucket[NBUCKETS]);
	buf_printf(b, "kumo_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	           (unsigned long long)cum);
	buf_printf(b, "kumo_http_request_duration_seconds_sum %g\n",
	           (double)atomic_load(&lat_sum_us) / 1e6);
	buf_printf(b, "kumo_http_request_duration_seconds_count %llu\n", (unsigned long long)cum);
	buf_puts(b, "# HELP kumo_hosts Hosts by connection status.\n# TYPE kumo_hosts gauge\n");
	count_by(b, "kumo_hosts", "hosts", "status", host_status, 3);
	buf_puts(b, "# HELP kumo_vms VMs by state.\n# TYPE kumo_vms gauge\n");
	count_by(b, "kumo_vms", "vms", "state", vm_states, VM_STATE_MAX);
	buf_puts(b, "# HELP kumo_jobs Jobs by state.\n# TYPE kumo_jobs gauge\n");
	count_by(b, "kumo_jobs", "jobs", "state", job_states, 4);
	snprintf(line, sizeof(line),
	         "# HELP kumo_store_schema_version Store schema version.\n"
	         "# TYPE kumo_store_schema_version gauge\nkumo_store_schema_version %d\n",
	         store_version());
	buf_puts(b, line);
	buf_printf(b, "# TYPE kumo_uptime_seconds gauge\nkumo_uptime_seconds %lld\n",
	           (long long)(started_ms ? (mono_ms() - started_ms) / 1000 : 0));
	(void)total;
}
