// SPDX-License-Identifier: MIT
/*
 * The sensor history (telemetry.h): samples queued by heartbeats (at most
 * one per host per history_interval), written in one transaction per flush,
 * folded into min/avg/max buckets once they are older than raw_keep,
 * deleted once older than aggregate_keep, and read back one sensor at a
 * time for the API.
 *
 * Rows hold all of a host's sensors at one time in a blob of float32
 * values, one slot per sensor (store_telemetry.h): 30 sensors cost one row
 * of 120 bytes, not 30 rows. A host's slots are the sensor names kept in
 * its telemetry_hosts row, in the order they first appeared.
 *
 * The monitor thread flushes and prunes; API threads only read.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/kumod.h"
#include "kumod/store.h"
#include "kumod/store_telemetry.h"
#include "kumod/telemetry.h"

#define QUEUE_MAX 200000 /* samples waiting for the store; older ones are dropped past it */
#define AGG_VALS 3       /* min, avg, max */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tele_sample *q_head, *q_tail;
static int q_len;
static int64_t q_dropped;

/* --- blobs and downsampling (pure) -------------------------------------------- */

void tele_blob_set(uint8_t *blob, size_t i, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	for (int k = 0; k < 4; k++)
		blob[i * 4 + (size_t)k] = (uint8_t)(u >> (8 * k));
}

float tele_blob_get(const void *blob, size_t len, size_t i)
{
	const uint8_t *b = blob;
	uint32_t u = 0;
	float v;

	if (!b || (i + 1) * 4 > len)
		return NAN;
	for (int k = 0; k < 4; k++)
		u |= (uint32_t)b[i * 4 + (size_t)k] << (8 * k);
	memcpy(&v, &u, sizeof(v));
	return v;
}

static int64_t floor_to(int64_t t, int64_t step)
{
	int64_t q = t / step;

	if (t % step != 0 && t < 0)
		q--;
	return q * step;
}

int64_t tele_raw_cutoff(int64_t now, int64_t raw_keep_ms, int64_t bucket_ms)
{
	return floor_to(now - raw_keep_ms, bucket_ms > 0 ? bucket_ms : 1);
}

void tele_rows_free(struct tele_row *rows, int n)
{
	for (int i = 0; rows && i < n; i++)
		free(rows[i].vals);
	free(rows);
}

/* Folds raw[from..to) (one bucket) into one aggregate row. */
static struct tele_row fold(const struct tele_row *raw, int from, int to, int64_t bucket)
{
	struct tele_row out = { .ts = bucket, .n = to - from };
	size_t slots = 0;

	for (int k = from; k < to; k++)
		if (raw[k].len / 4 > slots)
			slots = raw[k].len / 4;
	out.len = slots * AGG_VALS * 4;
	out.vals = xcalloc(out.len + 1, 1);
	for (size_t s = 0; s < slots; s++) {
		double sum = 0, lo = INFINITY, hi = -INFINITY;
		int64_t cnt = 0;

		for (int k = from; k < to; k++) {
			float v = tele_blob_get(raw[k].vals, raw[k].len, s);

			if (isnan(v))
				continue;
			sum += v;
			lo = fmin(lo, v);
			hi = fmax(hi, v);
			cnt++;
		}
		tele_blob_set(out.vals, s * AGG_VALS, cnt ? (float)lo : NAN);
		tele_blob_set(out.vals, s * AGG_VALS + 1, cnt ? (float)(sum / (double)cnt) : NAN);
		tele_blob_set(out.vals, s * AGG_VALS + 2, cnt ? (float)hi : NAN);
	}
	return out;
}

int tele_downsample(const struct tele_row *raw, int nraw, int64_t bucket_ms, struct tele_row **ret,
                    int *ret_n)
{
	struct tele_row *out;
	int n = 0, i = 0;

	if (bucket_ms <= 0 || nraw < 0)
		return -EINVAL;
	out = xcalloc((size_t)nraw + 1, sizeof(*out));
	while (i < nraw) {
		int64_t b = floor_to(raw[i].ts, bucket_ms);
		int j = i;

		while (j < nraw && floor_to(raw[j].ts, bucket_ms) == b)
			j++;
		out[n++] = fold(raw, i, j, b);
		i = j;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

void tele_agg_merge(struct tele_row *a, const struct tele_row *b)
{
	size_t slots = (a->len > b->len ? a->len : b->len) / (AGG_VALS * 4);
	size_t len = slots * AGG_VALS * 4;
	uint8_t *v = xcalloc(len + 1, 1);
	int64_t n = a->n + b->n;

	for (size_t s = 0; s < slots; s++) {
		float amin = tele_blob_get(a->vals, a->len, s * AGG_VALS),
		      aavg = tele_blob_get(a->vals, a->len, s * AGG_VALS + 1),
		      amax = tele_blob_get(a->vals, a->len, s * AGG_VALS + 2),
		      bmin = tele_blob_get(b->vals, b->len, s * AGG_VALS),
		      bavg = tele_blob_get(b->vals, b->len, s * AGG_VALS + 1),
		      bmax = tele_blob_get(b->vals, b->len, s * AGG_VALS + 2);
		float lo = amin, avg = aavg, hi = amax;

		if (isnan(aavg)) {
			lo = bmin;
			avg = bavg;
			hi = bmax;
		} else if (!isnan(bavg)) {
			double wa = a->n > 0 ? (double)a->n : 1, wb = b->n > 0 ? (double)b->n : 1;

			lo = fminf(amin, bmin);
			hi = fmaxf(amax, bmax);
			avg = (float)(((double)aavg * wa + (double)bavg * wb) / (wa + wb));
		}
		tele_blob_set(v, s * AGG_VALS, lo);
		tele_blob_set(v, s * AGG_VALS + 1, avg);
		tele_blob_set(v, s * AGG_VALS + 2, hi);
	}
	free(a->vals);
	a->vals = v;
	a->len = len;
	a->n = n;
}

/* float32 as the shortest double that prints back to it: 31.2, not
 * 31.200000762939453. */
static double f2d(float f)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.7g", (double)f);
	return strtod(buf, NULL);
}

/* --- the queue ------------------------------------------------------------------ */

static void sample_free(struct tele_sample *s)
{
	if (s) {
		free(s->sensors);
		free(s);
	}
}

void tele_hist_queue(struct tele_sample *s)
{
	struct tele_sample *drop = NULL;

	s->next = NULL;
	pthread_mutex_lock(&q_lock);
	if (q_tail)
		q_tail->next = s;
	else
		q_head = s;
	q_tail = s;
	if (++q_len > QUEUE_MAX) {
		drop = q_head;
		q_head = drop->next;
		q_len--;
		q_dropped++;
	}
	pthread_mutex_unlock(&q_lock);
	sample_free(drop);
}

/* Puts a list taken by flush back in front of what came meanwhile. */
static void requeue(struct tele_sample *head)
{
	struct tele_sample *tail = head;
	int n = 1;

	if (!head)
		return;
	while (tail->next) {
		tail = tail->next;
		n++;
	}
	pthread_mutex_lock(&q_lock);
	tail->next = q_head;
	q_head = head;
	if (!q_tail)
		q_tail = tail;
	q_len += n;
	while (q_len > QUEUE_MAX) {
		struct tele_sample *d = q_head;

		q_head = d->next;
		q_len--;
		q_dropped++;
		sample_free(d);
	}
	if (!q_head)
		q_tail = NULL;
	pthread_mutex_unlock(&q_lock);
}

void tele_hist_forget(const char *host_id)
{
	struct tele_sample **p, *gone = NULL;

	pthread_mutex_lock(&q_lock);
	q_tail = NULL;
	for (p = &q_head; *p;) {
		struct tele_sample *s = *p;

		if (!strcmp(s->host_id, host_id)) {
			*p = s->next;
			s->next = gone;
			gone = s;
			q_len--;
		} else {
			q_tail = s;
			p = &s->next;
		}
	}
	pthread_mutex_unlock(&q_lock);
	while (gone) {
		struct tele_sample *s = gone;

		gone = s->next;
		sample_free(s);
	}
}

/* --- writing samples --------------------------------------------------------------- */

/* The slot of a sensor in the host's slot list, adding it (or updating its
 * descriptor) when needed; -1 when the list is full. */
static int slot_of(json_t *slots, const struct tele_sensor *s, bool *changed)
{
	json_t *d;
	size_t i;

	json_array_foreach(slots, i, d)
	{
		if (strcmp(jstr(d, "id") ? jstr(d, "id") : "", s->id) != 0)
			continue;
		if (strcmp(jstr(d, "type") ? jstr(d, "type") : "", s->type) != 0 ||
		    strcmp(jstr(d, "unit") ? jstr(d, "unit") : "", s->unit) != 0) {
			jset_str(d, "type", s->type);
			jset_str(d, "unit", s->unit);
			*changed = true;
		}
		return (int)i;
	}
	if (json_array_size(slots) >= TELE_HIST_SENSORS_MAX)
		return -1;
	json_array_append_new(slots, json_pack("{s:s,s:s,s:s,s:s}", "id", s->id, "type", s->type,
	                                       "unit", s->unit, "context", s->context));
	*changed = true;
	return (int)json_array_size(slots) - 1;
}

static int write_sample(const struct tele_sample *s)
{
	json_t *slots = NULL;
	int *idx = xcalloc((size_t)s->n + 1, sizeof(int));
	int64_t key = 0;
	bool changed = false;
	uint8_t *blob = NULL;
	size_t nslots = 0;
	int r;

	r = store_tele_host(s->host_id, true, &key, NULL, &slots);
	if (r < 0)
		goto out;
	for (int i = 0; i < s->n; i++) {
		idx[i] = slot_of(slots, &s->sensors[i], &changed);
		if (idx[i] >= 0 && (size_t)idx[i] + 1 > nslots)
			nslots = (size_t)idx[i] + 1;
	}
	blob = xcalloc(nslots * 4 + 1, 1);
	for (size_t k = 0; k < nslots; k++)
		tele_blob_set(blob, k, NAN);
	for (int i = 0; i < s->n; i++)
		if (idx[i] >= 0 && s->sensors[i].has_value)
			tele_blob_set(blob, (size_t)idx[i], (float)s->sensors[i].value);
	if (changed)
		r = store_tele_set_sensors(key, slots);
	if (r == 0)
		r = store_tele_put(false, key, s->ts, 1, blob, nslots * 4);
out:
	json_decref(slots);
	free(blob);
	free(idx);
	return r;
}

int tele_hist_flush(void)
{
	struct tele_sample *list, *s;
	int64_t dropped;
	int n, r;

	pthread_mutex_lock(&q_lock);
	list = q_head;
	n = q_len;
	dropped = q_dropped;
	q_head = q_tail = NULL;
	q_len = 0;
	q_dropped = 0;
	pthread_mutex_unlock(&q_lock);
	if (dropped)
		log_warn("telemetry history: %lld samples dropped: the store did not keep up",
		         (long long)dropped);
	if (!list)
		return 0;
	r = store_begin();
	if (r == 0) {
		for (s = list; s && r == 0; s = s->next)
			r = write_sample(s);
		if (r == 0)
			r = store_commit();
		else
			store_rollback();
	}
	if (r < 0) {
		log_warn("telemetry history: cannot write %d samples: %s; trying again later", n,
		         strerror(-r));
		requeue(list);
		return r;
	}
	while (list) {
		s = list;
		list = s->next;
		sample_free(s);
	}
	return 0;
}

/* --- downsampling and pruning ---------------------------------------------------- */

struct rows {
	struct tele_row *v;
	int n, cap;
};

static int collect(void *cls, int64_t ts, int64_t n, const void *vals, size_t len)
{
	struct rows *rs = cls;

	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->v = xrealloc(rs->v, (size_t)rs->cap * sizeof(*rs->v));
	}
	rs->v[rs->n].ts = ts;
	rs->v[rs->n].n = n;
	rs->v[rs->n].len = len;
	rs->v[rs->n].vals = xmalloc(len + 1);
	memcpy(rs->v[rs->n].vals, vals, len);
	rs->n++;
	return 0;
}

/* Folds the host's raw rows before cutoff into aggregates (merging into a
 * bucket already aggregated) and deletes them. Inside a transaction. */
static int downsample_host(int64_t key, int64_t cutoff, int64_t bucket_ms)
{
	struct rows raw = { 0 };
	struct tele_row *aggs = NULL;
	int nagg = 0, r;

	r = store_tele_rows(false, key, INT64_MIN, cutoff - 1, 0, collect, &raw);
	if (r < 0 || raw.n == 0)
		goto out;
	r = tele_downsample(raw.v, raw.n, bucket_ms, &aggs, &nagg);
	for (int i = 0; r == 0 && i < nagg; i++) {
		struct rows old = { 0 };

		r = store_tele_rows(true, key, aggs[i].ts, aggs[i].ts, 1, collect, &old);
		if (r == 0 && old.n == 1) {
			tele_agg_merge(&old.v[0], &aggs[i]);
			r = store_tele_put(true, key, old.v[0].ts, old.v[0].n, old.v[0].vals,
			                   old.v[0].len);
		} else if (r == 0) {
			r = store_tele_put(true, key, aggs[i].ts, aggs[i].n, aggs[i].vals,
			                   aggs[i].len);
		}
		tele_rows_free(old.v, old.n);
	}
	if (r == 0)
		r = store_tele_delete_before(false, key, cutoff, NULL);
out:
	tele_rows_free(raw.v, raw.n);
	tele_rows_free(aggs, nagg);
	return r;
}

int tele_hist_prune(int64_t now)
{
	const struct telemetry_config *c = &kumod_cfg.telemetry;
	int64_t cutoff = tele_raw_cutoff(now, c->raw_keep_ms, c->aggregate_interval_ms);
	int64_t *keys = NULL;
	char(*ids)[UUID_LEN + 1] = NULL;
	int n = 0, fails = 0, r;

	r = store_tele_hosts(&keys, &ids, &n);
	if (r < 0) {
		log_warn("telemetry history: cannot list hosts to prune: %s", strerror(-r));
		return r;
	}
	for (int i = 0; i < n; i++) {
		json_t *host = NULL;

		r = store_get("hosts", ids[i], NULL, false, &host);
		json_decref(host);
		if (r == -ENOENT) {
			/* the host was deleted: its history goes with it */
			r = store_tele_delete_host(ids[i]);
			fails += r < 0;
			continue;
		}
		r = store_begin();
		if (r == 0)
			r = downsample_host(keys[i], cutoff, c->aggregate_interval_ms);
		if (r == 0)
			r = store_tele_delete_before(true, keys[i], now - c->aggregate_keep_ms,
			                             NULL);
		if (r == 0)
			r = store_commit();
		else
			store_rollback();
		fails += r < 0;
		store_release();
	}
	if (fails)
		log_warn("telemetry history: pruning failed for %d of %d hosts", fails, n);
	free(keys);
	free(ids);
	return fails ? -EIO : 0;
}

/* --- reading ---------------------------------------------------------------------- */

struct walk {
	size_t slot;
	int64_t interval_s;
	json_t *agg, *raw; /* points of each table, oldest first */
};

static int add_raw(void *cls, int64_t ts, int64_t n, const void *vals, size_t len)
{
	struct walk *w = cls;
	float v = tele_blob_get(vals, len, w->slot);
	char at[TIME_LEN];

	if (isnan(v))
		return 0;
	time_format(ts, at);
	json_array_append_new(
	    w->raw, json_pack("{s:s,s:f,s:I}", "time", at, "value", f2d(v), "ts", (json_int_t)ts));
	return 0;
}

static int add_agg(void *cls, int64_t ts, int64_t n, const void *vals, size_t len)
{
	struct walk *w = cls;
	float v = tele_blob_get(vals, len, w->slot * AGG_VALS + 1);
	char at[TIME_LEN];

	if (isnan(v))
		return 0;
	time_format(ts, at);
	json_array_append_new(
	    w->agg,
	    json_pack("{s:s,s:f,s:f,s:f,s:I,s:I,s:I}", "time", at, "value", f2d(v), "min",
	              f2d(tele_blob_get(vals, len, w->slot * AGG_VALS)), "max",
	              f2d(tele_blob_get(vals, len, w->slot * AGG_VALS + 2)), "count", (json_int_t)n,
	              "interval_s", (json_int_t)w->interval_s, "ts", (json_int_t)ts));
	return 0;
}

/* Merges two lists sorted by "ts" into one (new reference), at most limit
 * points, dropping the helper "ts" key; *truncated when points were left. */
static json_t *merge_points(json_t *a, json_t *b, int64_t limit, bool *truncated)
{
	json_t *out = json_array();
	size_t i = 0, j = 0;

	while (i < json_array_size(a) || j < json_array_size(b)) {
		json_t *pa = json_array_get(a, i), *pb = json_array_get(b, j), *p;

		if ((int64_t)json_array_size(out) >= limit) {
			*truncated = true;
			break;
		}
		if (pa && (!pb || jint(pa, "ts", 0) <= jint(pb, "ts", 0))) {
			p = pa;
			i++;
		} else {
			p = pb;
			j++;
		}
		p = json_deep_copy(p);
		json_object_del(p, "ts");
		json_array_append_new(out, p);
	}
	return out;
}

int tele_hist_query(const char *host_id, const char *sensor_id, int64_t since, int64_t until,
                    int64_t limit, json_t **ret, struct kerr *e)
{
	struct walk w = { 0 };
	json_t *slots = NULL, *d = NULL, *items = NULL;
	bool truncated = false;
	int64_t key = 0;
	size_t i;
	int r;

	r = store_tele_host(host_id, false, &key, NULL, &slots);
	if (r == -ENOENT)
		return kerr_set(e, r, "", "host %s has no sensor history", host_id);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the sensor history");
	json_array_foreach(slots, i, d)
	{
		if (jstr(d, "id") && !strcmp(jstr(d, "id"), sensor_id))
			break;
	}
	if (i == json_array_size(slots)) {
		json_decref(slots);
		return kerr_set(e, -ENOENT, "", "host %s has no history of sensor %s", host_id,
		                sensor_id);
	}
	w.slot = i;
	w.interval_s = kumod_cfg.telemetry.aggregate_interval_ms / 1000;
	w.agg = json_array();
	w.raw = json_array();
	/* one more than the limit from each table tells whether points were left */
	r = store_tele_history(key, since, until, limit + 1, add_agg, add_raw, &w);
	if (r == 0) {
		items = merge_points(w.agg, w.raw, limit, &truncated);
		*ret = json_pack("{s:s,s:s,s:s?,s:s?,s:o,s:I,s:b}", "host_id", host_id, "sensor_id",
		                 sensor_id, "type", jstr(d, "type"), "unit",
		                 jstr(d, "unit") && *jstr(d, "unit") ? jstr(d, "unit") : NULL,
		                 "items", items, "total", (json_int_t)json_array_size(items),
		                 "truncated", truncated);
	} else {
		kerr_set(e, r, "", "cannot read the sensor history");
	}
	json_decref(w.agg);
	json_decref(w.raw);
	json_decref(slots);
	return r;
}
