/* SPDX-License-Identifier: MIT */
/*
 * The store's telemetry tables (part of the store interface, like store.h;
 * the SQL is in store_sqlite_telemetry.c):
 *
 *   telemetry_hosts  one row per host that sent telemetry: a small integer
 *                    key (history rows carry it instead of the host's
 *                    UUID), the highest thermal event seq stored, and the
 *                    names of the sensors whose values history blobs hold
 *                    (a JSON array; a sensor's index in it is its slot);
 *   telemetry_raw    one row per host and sample time: the values of all
 *                    its sensors as float32 (little-endian, NaN = none);
 *   telemetry_agg    one row per host and aggregation bucket: min, avg and
 *                    max per sensor as float32 triples, and how many raw
 *                    rows were folded into it.
 *
 * Times are ms since the epoch (kumod's clock). Errors as in store.h. Blob
 * writes run inside the caller's transaction, or in one of their own.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* The host's row: its key, event seq and sensor names (new reference; may
 * be NULL). With create, a missing row is made (seq 0, no sensors);
 * without, a missing row is -ENOENT. */
int store_tele_host(const char *host_id, bool create, int64_t *ret_key, int64_t *ret_event_seq,
                    json_t **ret_sensors);
int store_tele_set_event_seq(int64_t key, int64_t seq);
/* sensors: the JSON array of sensor descriptors ({"id","type","unit",
 * "context"}), in slot order. */
int store_tele_set_sensors(int64_t key, const json_t *sensors);
/* Every host key with its host id: ret_ids[i] (UUID_LEN + 1 bytes each) is
 * the host of ret_keys[i]. Both malloc'd. */
int store_tele_hosts(int64_t **ret_keys, char (**ret_ids)[UUID_LEN + 1], int *ret_n);
/* Deletes the host's row and all its history. */
int store_tele_delete_host(const char *host_id);

/* A history row: raw (agg false, n 1) or aggregate. Replaces a row of the
 * same host and time. */
int store_tele_put(bool agg, int64_t key, int64_t ts, int64_t n, const void *vals, size_t len);
/* Calls fn for every row of the host with since <= ts <= until (agg false:
 * raw rows, true: aggregates), oldest first, at most limit rows (0 = all).
 * fn's vals live until it returns; a nonzero return from fn stops the walk
 * and is returned. */
typedef int (*store_tele_row_fn)(void *cls, int64_t ts, int64_t n, const void *vals, size_t len);
int store_tele_rows(bool agg, int64_t key, int64_t since, int64_t until, int64_t limit,
                    store_tele_row_fn fn, void *cls);
/* Both walks of one history read (aggregates, then raw rows) in one read
 * snapshot, so that a prune running meanwhile shows neither twice nor not
 * at all. */
int store_tele_history(int64_t key, int64_t since, int64_t until, int64_t limit,
                       store_tele_row_fn agg_fn, store_tele_row_fn raw_fn, void *cls);
/* Deletes the host's rows older than before; ret_changes may be NULL. */
int store_tele_delete_before(bool agg, int64_t key, int64_t before, int64_t *ret_changes);
/* Rows and payload bytes (blobs) of a table over all hosts, for the size
 * figures in docs/OPERATIONS.md and the tests. */
int store_tele_size(bool agg, int64_t *ret_rows, int64_t *ret_bytes);
