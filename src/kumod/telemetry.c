// SPDX-License-Identifier: MIT
/*
 * The latest telemetry report of every host, in memory (telemetry.h): what
 * a heartbeat's "telemetry" member does in kumod, what the host's "thermal"
 * summary and sensors list show, and what the scheduler sees. The history
 * is telemetry_hist.c's; validation is telemetry_parse.c's.
 *
 * The table is a hash of entries under one mutex, held only to copy in or
 * out of an entry, never across store calls. Thermal events are stored
 * once per (host, seq): the highest stored seq is kept in the store
 * (telemetry_hosts) and cached here, so a heartbeat that carries no new
 * event costs no store access at all.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/events.h"
#include "kumod/kumod.h"
#include "kumod/store.h"
#include "kumod/store_telemetry.h"
#include "kumod/telemetry.h"

#define TELE_BUCKETS 1024
#define BAD_LOG_EVERY_MS 60000 /* a host sending bad telemetry is logged once a minute */

struct entry {
	char id[UUID_LEN + 1];
	bool have;              /* rep holds a report */
	struct tele_report rep; /* owned */
	int64_t recv_ms;        /* wall clock when it came */
	int64_t recv_mono;
	int64_t sample_mono; /* when the last history sample was taken; 0 = never */
	int64_t event_seq;   /* highest event seq stored; valid when seq_known */
	bool seq_known;
	int64_t bad_log_mono; /* last "dropped" log line */
	struct entry *next;
};

static pthread_mutex_t tele_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *tele_table[TELE_BUCKETS];

void telemetry_config_default(struct telemetry_config *c)
{
	c->history_interval_ms = 60000;
	c->flush_interval_ms = 10000;
	c->raw_keep_ms = 86400LL * 1000;
	c->aggregate_interval_ms = 300000;
	c->aggregate_keep_ms = 30LL * 86400 * 1000;
	c->prune_interval_ms = 300000;
	c->stale_ms = 0;
}

static void clamp(int64_t *v, int64_t lo, int64_t hi)
{
	if (*v < lo)
		*v = lo;
	if (*v > hi)
		*v = hi;
}

void telemetry_config_check(struct telemetry_config *c)
{
	const int64_t year = 366LL * 86400 * 1000;

	clamp(&c->history_interval_ms, 1000, 86400LL * 1000);
	clamp(&c->flush_interval_ms, 1000, 3600LL * 1000);
	clamp(&c->aggregate_interval_ms, 1000, 86400LL * 1000);
	c->aggregate_interval_ms -= c->aggregate_interval_ms % 1000;
	clamp(&c->raw_keep_ms, 1000, year);
	clamp(&c->aggregate_keep_ms, c->aggregate_interval_ms, 10 * year);
	clamp(&c->prune_interval_ms, 1000, 86400LL * 1000);
	clamp(&c->stale_ms, 0, 86400LL * 1000);
}

static int64_t stale_ms(void)
{
	int64_t s = kumod_cfg.telemetry.stale_ms;

	if (s > 0)
		return s;
	s = 3 * kumod_cfg.heartbeat_interval_s * 1000;
	return s < 3000 ? 3000 : s;
}

static unsigned tele_hash(const char *id)
{
	unsigned h = 5381;

	for (; *id; id++)
		h = h * 33 + (unsigned char)*id;
	return h % TELE_BUCKETS;
}

/* Call with tele_lock held. */
static struct entry *entry_get(const char *id, bool create)
{
	unsigned h = tele_hash(id);
	struct entry *e;

	for (e = tele_table[h]; e; e = e->next)
		if (!strcmp(e->id, id))
			return e;
	if (!create)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->next = tele_table[h];
	tele_table[h] = e;
	return e;
}

static void entry_free(struct entry *e)
{
	tele_report_clear(&e->rep);
	free(e);
}

/* --- thermal events ------------------------------------------------------- */

/* The highest event seq stored for the host, from the cache or the store;
 * -1 when the store cannot say. */
static int64_t stored_seq(const char *host_id)
{
	struct entry *e;
	int64_t seq = -1;
	int r;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, false);
	if (e && e->seq_known)
		seq = e->event_seq;
	pthread_mutex_unlock(&tele_lock);
	if (seq >= 0)
		return seq;
	r = store_tele_host(host_id, false, NULL, &seq, NULL);
	if (r == -ENOENT)
		seq = 0;
	else if (r < 0)
		return -1;
	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, true);
	if (!e->seq_known || e->event_seq < seq) {
		e->event_seq = seq;
		e->seq_known = true;
	}
	seq = e->event_seq;
	pthread_mutex_unlock(&tele_lock);
	return seq;
}

static void seq_set(const char *host_id, int64_t seq)
{
	struct entry *e;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, true);
	if (!e->seq_known || e->event_seq < seq) {
		e->event_seq = seq;
		e->seq_known = true;
	}
	pthread_mutex_unlock(&tele_lock);
}

static void emit_event(const char *host_id, const json_t *ev)
{
	const char *sev = jstr(ev, "severity");
	char at[TIME_LEN];
	json_t *d;

	time_format(jint(ev, "ts", 0), at);
	d = json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)jint(ev, "seq", 0), "severity",
	              sev, "message_id", jstr(ev, "message_id"), "message", jstr(ev, "message"),
	              "measured_at", at);
	event_emit("host.thermal", "hosts", host_id, NULL, d);
	json_decref(d);
	if (!strcmp(sev, "OK"))
		log_info("host %s: thermal: %s (%s)", host_id, jstr(ev, "message"),
		         jstr(ev, "message_id"));
	else
		log_warn("host %s: thermal %s: %s (%s)", host_id, sev, jstr(ev, "message"),
		         jstr(ev, "message_id"));
}

/* Stores the report's events kumod does not have yet, in one transaction.
 * The stored seq is read again inside it, so two heartbeats racing with
 * the same events store them once. Returns the highest seq stored, or -1. */
static int64_t events_store(const char *host_id, const struct tele_report *rep)
{
	int64_t have = stored_seq(host_id), key = 0, stored = 0;
	const json_t *ev;
	size_t i;
	int r;

	if (rep->max_seq == 0 || (have >= 0 && rep->max_seq <= have))
		return have;
	r = store_begin();
	if (r < 0)
		goto fail;
	r = store_tele_host(host_id, true, &key, &stored, NULL);
	if (r == 0 && rep->max_seq > stored) {
		json_array_foreach(rep->events, i, ev)
		{
			if (jint(ev, "seq", 0) > stored)
				emit_event(host_id, ev);
		}
		r = store_tele_set_event_seq(key, rep->max_seq);
		stored = rep->max_seq;
	}
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	if (r < 0)
		goto fail;
	seq_set(host_id, stored);
	return stored;
fail:
	log_warn("host %s: cannot store thermal events: %s", host_id, strerror(-r));
	return have;
}

/* --- reports -------------------------------------------------------------- */

static struct tele_sample *sample_of(const char *host_id, const struct tele_report *rep,
                                     int64_t now)
{
	struct tele_sample *s = xcalloc(1, sizeof(*s));

	snprintf(s->host_id, sizeof(s->host_id), "%s", host_id);
	s->ts = now;
	s->n = rep->nsensors;
	s->sensors = xcalloc((size_t)rep->nsensors + 1, sizeof(*s->sensors));
	memcpy(s->sensors, rep->sensors, (size_t)rep->nsensors * sizeof(*s->sensors));
	return s;
}

/* A bad member: logged once a while per host, answered every time. */
static void dropped(const char *host_id, const char *why, json_t *reply)
{
	int64_t now = mono_ms();
	struct entry *e;
	bool log;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, true);
	log = e->bad_log_mono == 0 || now - e->bad_log_mono >= BAD_LOG_EVERY_MS;
	if (log)
		e->bad_log_mono = now;
	pthread_mutex_unlock(&tele_lock);
	if (log)
		log_warn("host %s: telemetry dropped: %s", host_id, why);
	if (reply)
		json_object_set_new(reply, "telemetry_error", json_string(why));
}

void telemetry_ingest(const char *host_id, const json_t *t, json_t *reply)
{
	struct tele_report rep = { 0 }, old = { 0 };
	struct tele_sample *sample = NULL;
	int64_t seq, now = mono_ms();
	struct entry *e;
	char why[256];

	if (!t || !host_id)
		return;
	if (tele_parse(t, &rep, why, sizeof(why)) < 0) {
		dropped(host_id, why, reply);
		seq = stored_seq(host_id);
	} else {
		seq = events_store(host_id, &rep);
		json_array_clear(rep.events); /* stored: memory keeps only the rest */
		pthread_mutex_lock(&tele_lock);
		e = entry_get(host_id, true);
		if (e->sample_mono == 0 ||
		    now - e->sample_mono >= kumod_cfg.telemetry.history_interval_ms) {
			e->sample_mono = now;
			sample = sample_of(host_id, &rep, now_ms());
		}
		old = e->rep;
		e->rep = rep;
		e->have = true;
		e->recv_ms = now_ms();
		e->recv_mono = now;
		pthread_mutex_unlock(&tele_lock);
		tele_report_clear(&old);
		if (sample)
			tele_hist_queue(sample);
	}
	if (reply && seq >= 0)
		json_object_set_new(reply, "telemetry_seq", json_integer(seq));
}

static json_t *num_or_null(bool has, double v)
{
	return has ? json_real(v) : json_null();
}

/* Call with tele_lock held; e->have. */
static json_t *summary_of(const struct entry *e, int64_t now_mono)
{
	const struct tele_report *r = &e->rep;
	char at[TIME_LEN], measured[TIME_LEN];
	double coolant = 0, power = 0;
	bool has_coolant = tele_coolant(r, &coolant), has_power = tele_power(r, &power);

	time_format(e->recv_ms, at);
	time_format(r->ts, measured);
	return json_pack(
	    "{s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:I,s:s,s:s}", "state", sched_thermal_name(r->state),
	    "stale", now_mono - e->recv_mono > stale_ms(), "headroom_c",
	    num_or_null(r->has_headroom, r->headroom_c), "cpu_cap_pct",
	    num_or_null(r->has_cap, r->cpu_cap_pct), "coolant_c", num_or_null(has_coolant, coolant),
	    "power_w", num_or_null(has_power, power), "alarms", json_deep_copy(r->alarms),
	    "sensor_count", (json_int_t)r->nsensors, "telemetry_at", at, "measured_at", measured);
}

json_t *telemetry_summary(const char *host_id)
{
	json_t *out = NULL;
	struct entry *e;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, false);
	if (e && e->have)
		out = summary_of(e, mono_ms());
	pthread_mutex_unlock(&tele_lock);
	return out;
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *sensor_json(const struct tele_sensor *s)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:s,s:o}", "id", s->id, "type", s->type, "unit",
	                 str_or_null(s->unit), "value", num_or_null(s->has_value, s->value),
	                 "status", tele_status_name(s->status), "context", str_or_null(s->context));
}

json_t *telemetry_sensors(const char *host_id)
{
	json_t *items = json_array(), *thermal = NULL;
	struct entry *e;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, false);
	if (e && e->have) {
		for (int i = 0; i < e->rep.nsensors; i++)
			json_array_append_new(items, sensor_json(&e->rep.sensors[i]));
		thermal = summary_of(e, mono_ms());
	}
	pthread_mutex_unlock(&tele_lock);
	return json_pack("{s:o,s:I,s:o}", "items", items, "total",
	                 (json_int_t)json_array_size(items), "thermal",
	                 thermal ? thermal : json_null());
}

bool telemetry_has_sensor(const char *host_id, const char *sensor_id)
{
	struct entry *e;
	bool yes = false;

	pthread_mutex_lock(&tele_lock);
	e = entry_get(host_id, false);
	for (int i = 0; e && e->have && i < e->rep.nsensors && !yes; i++)
		yes = !strcmp(e->rep.sensors[i].id, sensor_id);
	pthread_mutex_unlock(&tele_lock);
	return yes;
}

void telemetry_sched_fill(struct sched_host *h)
{
	int64_t now = mono_ms();
	struct entry *e;

	h->thermal = SCHED_THERMAL_UNKNOWN;
	h->has_headroom = false;
	h->headroom_c = 0;
	pthread_mutex_lock(&tele_lock);
	e = entry_get(h->id, false);
	if (e && e->have && e->rep.has_thermal && now - e->recv_mono <= stale_ms()) {
		h->thermal = e->rep.state;
		h->has_headroom = e->rep.has_headroom;
		h->headroom_c = e->rep.headroom_c;
	}
	pthread_mutex_unlock(&tele_lock);
}

int telemetry_forget(const char *host_id)
{
	unsigned h = tele_hash(host_id);
	struct entry **p, *e;

	pthread_mutex_lock(&tele_lock);
	for (p = &tele_table[h]; *p; p = &(*p)->next)
		if (!strcmp((*p)->id, host_id)) {
			e = *p;
			*p = e->next;
			entry_free(e);
			break;
		}
	pthread_mutex_unlock(&tele_lock);
	tele_hist_forget(host_id);
	return store_tele_delete_host(host_id);
}

void telemetry_reset(void)
{
	pthread_mutex_lock(&tele_lock);
	for (int i = 0; i < TELE_BUCKETS; i++) {
		while (tele_table[i]) {
			struct entry *e = tele_table[i];

			tele_table[i] = e->next;
			entry_free(e);
		}
	}
	pthread_mutex_unlock(&tele_lock);
}

/* --- periodic work -------------------------------------------------------- */

void telemetry_tick(void)
{
	static int64_t last_flush, last_prune;
	int64_t now = mono_ms();

	if (now - last_flush >= kumod_cfg.telemetry.flush_interval_ms) {
		last_flush = now;
		tele_hist_flush();
	}
	if (last_prune == 0 || now - last_prune >= kumod_cfg.telemetry.prune_interval_ms) {
		last_prune = now;
		tele_hist_prune(now_ms());
	}
}

void telemetry_flush(void)
{
	tele_hist_flush();
}
