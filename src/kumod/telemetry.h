/* SPDX-License-Identifier: MIT */
/*
 * Node telemetry in kumod: the "telemetry" member of agent heartbeats
 * (sensor readings, thermal state, thermal events; docs/API.md, agent
 * channel) turned into the host's "thermal" summary, its current sensors,
 * a sensor history, host events and scheduler input.
 *
 *   telemetry_parse.c  validation of the member into a struct tele_report
 *                      (pure: no store, no locks);
 *   telemetry.c        the latest report of every host, in memory; the
 *                      summary, the sensors list, the thermal events (once
 *                      per (host, seq), across restarts) and the scheduler's
 *                      view;
 *   telemetry_hist.c   the history: samples taken at most every
 *                      history_interval per host, written in batches,
 *                      downsampled to min/avg/max buckets and pruned, and
 *                      read back for the API. The blob layout and the
 *                      downsampling are pure functions for the unit tests.
 *
 * A heartbeat never waits for a history write: the heartbeat only swaps
 * the host's report in memory (and, when the agent reports thermal events
 * kumod has not stored yet, stores them as events in one transaction).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kumod/scheduler.h"

#define TELE_SENSORS_MAX 128          /* sensors in one report */
#define TELE_ALARMS_MAX 64            /* thermal alarms in one report */
#define TELE_EVENTS_MAX 256           /* thermal events in one report */
#define TELE_HIST_SENSORS_MAX 256     /* sensor slots one host's history keeps */
#define TELE_HISTORY_LIMIT_MAX 100000 /* points in one history answer */
#define TELE_ID_MAX 64                /* sensor id, alarm id */
#define TELE_WORD_MAX 32              /* sensor type, unit, context */
#define TELE_MESSAGE_MAX 1024         /* alarm and event messages */

struct telemetry_config {
	int64_t history_interval_ms;   /* a history sample per host at most this often; 60 s */
	int64_t flush_interval_ms;     /* pending samples written together this often; 10 s */
	int64_t raw_keep_ms;           /* raw samples kept this long; 1 day */
	int64_t aggregate_interval_ms; /* one min/avg/max point per bucket this long; 5 min */
	int64_t aggregate_keep_ms;     /* aggregates kept this long; 30 days */
	int64_t prune_interval_ms;     /* downsampling and pruning run this often; 5 min */
	int64_t stale_ms;              /* a report older than this is unknown; 0 = 3 heartbeats */
};

void telemetry_config_default(struct telemetry_config *c);
/* Clamps to sane ranges (every interval at least 1 s, keeps at least one
 * bucket, aggregate interval a whole number of seconds). */
void telemetry_config_check(struct telemetry_config *c);

/* --- reports (telemetry_parse.c) ------------------------------------------ */

enum tele_status { TELE_STATUS_OK, TELE_STATUS_STUCK, TELE_STATUS_MISSING };

struct tele_sensor {
	char id[TELE_ID_MAX + 1];
	char type[TELE_WORD_MAX + 1];
	char unit[TELE_WORD_MAX + 1];    /* "" = none */
	char context[TELE_WORD_MAX + 1]; /* "" = none */
	bool has_value;
	double value;
	enum tele_status status;
};

/* One heartbeat's telemetry, validated. */
struct tele_report {
	int64_t ts; /* agent clock, ms since the epoch */
	bool has_thermal;
	enum sched_thermal state; /* SCHED_THERMAL_UNKNOWN without thermal */
	bool has_headroom, has_cap;
	double headroom_c, cpu_cap_pct;
	json_t *alarms;              /* owned; [{"id","severity","message"}], [] without thermal */
	struct tele_sensor *sensors; /* owned */
	int nsensors;
	json_t *events;  /* owned; [{"seq","ts","severity","message_id","message"}] by seq */
	int64_t max_seq; /* highest event seq in events, 0 when none */
};

/* Validates a heartbeat's telemetry member and converts it. Unknown members
 * are ignored (newer agents may send more); anything of the wrong type, out
 * of range, over a limit, or a state or status not in the lists makes the
 * whole member invalid: -EINVAL, and why names the first offending member
 * ("sensors[3].value: not a number"). ret is untouched on failure. */
int tele_parse(const json_t *t, struct tele_report *ret, char *why, size_t whylen);
void tele_report_clear(struct tele_report *r);
const char *tele_status_name(enum tele_status s);
/* A time parameter (since, until): RFC 3339, or a duration before now
 * ("90s", "15m", "1h", "2d", "1w"). 0 or -EINVAL. */
int tele_time_param(const char *s, int64_t now, int64_t *ret);
/* The coolant temperature: the first Temperature sensor with a value whose
 * context is "Coolant", else "LiquidInlet". false when there is none. */
bool tele_coolant(const struct tele_report *r, double *ret);
/* The node's power draw in W: a Power sensor with context "Total" or
 * "Chassis" if there is one (the first), else the sum of the Power sensors
 * whose context is not "CPU" (the CPU's draw is part of the board's).
 * Only sensors with a value count. false when there is no Power sensor. */
bool tele_power(const struct tele_report *r, double *ret);

/* --- the latest report per host (telemetry.c) ------------------------------- */

/* A heartbeat's telemetry member (may be NULL: nothing to do). Keeps the
 * report, queues a history sample when one is due, stores new thermal
 * events as host events, and adds to reply "telemetry_seq" (the highest
 * event seq stored for the host) and, when the member was dropped,
 * "telemetry_error". Never fails the heartbeat. */
void telemetry_ingest(const char *host_id, const json_t *t, json_t *reply);
/* The host's "thermal" summary (new reference), or NULL when kumod has no
 * report of it. */
json_t *telemetry_summary(const char *host_id);
/* {"items":[sensor...],"total":N,"thermal":summary} of the latest report;
 * items are empty and thermal null without one. New reference. */
json_t *telemetry_sensors(const char *host_id);
/* Whether the latest report (if any) names this sensor. */
bool telemetry_has_sensor(const char *host_id, const char *sensor_id);
/* Sets h->thermal and headroom from a fresh report (UNKNOWN otherwise). */
void telemetry_sched_fill(struct sched_host *h);
/* A host was deleted: drops its report and (inside the caller's
 * transaction, if any) its stored history and event seq. */
int telemetry_forget(const char *host_id);
/* Monitor thread: writes due history samples, downsamples and prunes when
 * due. */
void telemetry_tick(void);
/* Writes every pending sample now (at shutdown). */
void telemetry_flush(void);
/* For tests: forgets every report in memory. */
void telemetry_reset(void);

/* --- history (telemetry_hist.c) ------------------------------------------------ */

/* A sample as the heartbeat queues it: kumod's time and the values (NaN for
 * none) of the sensors of the report, by id. */
struct tele_sample {
	char host_id[37];
	int64_t ts;
	int n;
	struct tele_sensor *sensors; /* owned; values, ids and descriptors */
	struct tele_sample *next;
};

/* Queues a sample (takes it); the queue is written by tele_hist_flush. */
void tele_hist_queue(struct tele_sample *s);
/* Writes the queued samples in one transaction; on a store failure they
 * stay queued (up to a limit) for the next call. */
int tele_hist_flush(void);
/* Drops the queued samples of a host. */
void tele_hist_forget(const char *host_id);
/* Downsamples raw rows older than the raw keep into aggregates and deletes
 * aggregates older than the aggregate keep, for every host; also drops the
 * history of hosts that no longer exist. */
int tele_hist_prune(int64_t now);
/* The history of one sensor in [since, until] (ms), oldest first, at most
 * limit points: {"host_id","sensor_id","type","unit","items":[points],
 * "total":N,"truncated":bool}. A raw point is {"time","value"}; an
 * aggregate {"time","value" (the average),"min","max","count","interval_s"}.
 * -ENOENT with e when the host has no history of that sensor. */
int tele_hist_query(const char *host_id, const char *sensor_id, int64_t since, int64_t until,
                    int64_t limit, json_t **ret, struct kerr *e);

/* Pure parts, for the unit tests. Values are float32 little-endian; a raw
 * blob holds one per slot, an aggregate blob three (min, avg, max). */
void tele_blob_set(uint8_t *blob, size_t i, float v);
float tele_blob_get(const void *blob, size_t len, size_t i); /* NaN past the end */
struct tele_row {
	int64_t ts, n;
	uint8_t *vals; /* owned by whoever made the row */
	size_t len;
};
/* Folds raw rows (sorted by ts) into one aggregate row per bucket of
 * bucket_ms (aligned to the epoch): per slot the min, mean and max of the
 * values that are not NaN (NaN triples where a slot had none), n the rows
 * folded. *ret is malloc'd (its rows' vals too: tele_rows_free). */
int tele_downsample(const struct tele_row *raw, int nraw, int64_t bucket_ms, struct tele_row **ret,
                    int *ret_n);
/* Merges aggregate b into a (same bucket): min of mins, max of maxes,
 * means weighted by n. a->vals is replaced. */
void tele_agg_merge(struct tele_row *a, const struct tele_row *b);
void tele_rows_free(struct tele_row *rows, int n);
/* The time before which raw rows are downsampled: now - raw_keep, aligned
 * down to a bucket, so only whole buckets are folded. */
int64_t tele_raw_cutoff(int64_t now, int64_t raw_keep_ms, int64_t bucket_ms);
