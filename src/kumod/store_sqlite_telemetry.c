// SPDX-License-Identifier: MIT
/*
 * The SQLite store's telemetry tables (store_telemetry.h): the per-host
 * row with its key, event seq and sensor slots, and the raw and aggregate
 * history rows. Only SQL lives here; what the rows mean (the blob layout,
 * downsampling, pruning) is telemetry_hist.c's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/store_sqlite.h"
#include "kumod/store_telemetry.h"

/* Reads the host's row into the out-parameters; -ENOENT when missing. */
static int host_read(struct conn *c, const char *host_id, int64_t *ret_key, int64_t *ret_seq,
                     json_t **ret_sensors)
{
	static const char sql[] =
	    "SELECT key, event_seq, sensors FROM telemetry_hosts WHERE host_id = ?1";
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "s", host_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = sq_err(c, rc, "telemetry host");
	} else {
		if (ret_key)
			*ret_key = sqlite3_column_int64(st, 0);
		if (ret_seq)
			*ret_seq = sqlite3_column_int64(st, 1);
		if (ret_sensors) {
			json_t *s = sq_col_json(st, 2);

			if (!json_is_array(s)) {
				json_decref(s);
				s = json_array();
			}
			*ret_sensors = s;
		}
	}
	sq_stmt_end(st);
	return r;
}

int store_tele_host(const char *host_id, bool create, int64_t *ret_key, int64_t *ret_event_seq,
                    json_t **ret_sensors)
{
	static const char ins[] = "INSERT OR IGNORE INTO telemetry_hosts (host_id) VALUES (?1)";
	struct conn *c;
	bool own = false;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	r = host_read(c, host_id, ret_key, ret_event_seq, ret_sensors);
	if (r != -ENOENT || !create)
		return r;
	r = sq_auto_begin(c, &own);
	if (r == 0)
		r = sq_exec(c, ins, NULL, "s", host_id);
	if (r == 0)
		r = host_read(c, host_id, ret_key, ret_event_seq, ret_sensors);
	return sq_auto_end(c, own, r);
}

int store_tele_set_event_seq(int64_t key, int64_t seq)
{
	static const char sql[] = "UPDATE telemetry_hosts SET event_seq = ?2 WHERE key = ?1";
	struct conn *c;
	int64_t n = 0;
	int r = sq_conn_use(&c);

	if (r == 0)
		r = sq_exec(c, sql, &n, "ii", key, seq);
	return r < 0 ? r : n == 1 ? 0 : -ENOENT;
}

int store_tele_set_sensors(int64_t key, const json_t *sensors)
{
	static const char sql[] = "UPDATE telemetry_hosts SET sensors = ?2 WHERE key = ?1";
	struct conn *c;
	char *text;
	int64_t n = 0;
	int r = sq_conn_use(&c);

	if (r < 0)
		return r;
	text = jdump(sensors);
	r = sq_exec(c, sql, &n, "is", key, text);
	free(text);
	return r < 0 ? r : n == 1 ? 0 : -ENOENT;
}

int store_tele_hosts(int64_t **ret_keys, char (**ret_ids)[UUID_LEN + 1], int *ret_n)
{
	static const char sql[] = "SELECT key, host_id FROM telemetry_hosts ORDER BY key";
	char(*ids)[UUID_LEN + 1] = NULL;
	int64_t *keys = NULL;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int n = 0, cap = 0, rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = sq_col_text(st, 1);

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			keys = xrealloc(keys, (size_t)cap * sizeof(*keys));
			ids = xrealloc(ids, (size_t)cap * sizeof(*ids));
		}
		keys[n] = sqlite3_column_int64(st, 0);
		snprintf(ids[n], sizeof(ids[n]), "%s", id ? id : "");
		n++;
	}
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "telemetry hosts");
	sq_stmt_end(st);
	if (r < 0) {
		free(keys);
		free(ids);
		return r;
	}
	*ret_keys = keys;
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

int store_tele_delete_host(const char *host_id)
{
	static const char del_raw[] = "DELETE FROM telemetry_raw WHERE host_key = ?1";
	static const char del_agg[] = "DELETE FROM telemetry_agg WHERE host_key = ?1";
	static const char del_host[] = "DELETE FROM telemetry_hosts WHERE key = ?1";
	struct conn *c;
	int64_t key = 0;
	bool own = false;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	r = host_read(c, host_id, &key, NULL, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = sq_auto_begin(c, &own);
	if (r == 0)
		r = sq_exec(c, del_raw, NULL, "i", key);
	if (r == 0)
		r = sq_exec(c, del_agg, NULL, "i", key);
	if (r == 0)
		r = sq_exec(c, del_host, NULL, "i", key);
	return sq_auto_end(c, own, r);
}

int store_tele_put(bool agg, int64_t key, int64_t ts, int64_t n, const void *vals, size_t len)
{
	static const char sql_raw[] =
	    "INSERT OR REPLACE INTO telemetry_raw (host_key, ts, vals) VALUES (?1, ?2, ?3)";
	static const char sql_agg[] =
	    "INSERT OR REPLACE INTO telemetry_agg (host_key, ts, vals, n) VALUES (?1, ?2, ?3, ?4)";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	bool own = false;
	int rc, r;

	if (len > (1 << 20))
		return -E2BIG;
	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_auto_begin(c, &own); /* the write lock for the blob bind below */
	if (r < 0)
		return r;
	r = sq_stmt(c, agg ? sql_agg : sql_raw, &st);
	if (r == 0)
		r = sq_bind(c, st, "ii", key, ts);
	if (r == 0) {
		rc = sqlite3_bind_blob(st, 3, vals, (int)len, SQLITE_TRANSIENT);
		if (rc == SQLITE_OK && agg)
			rc = sqlite3_bind_int64(st, 4, n);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "telemetry put");
		sq_stmt_end(st);
	}
	return sq_auto_end(c, own, r);
}

int store_tele_rows(bool agg, int64_t key, int64_t since, int64_t until, int64_t limit,
                    store_tele_row_fn fn, void *cls)
{
	static const char sql_raw[] = "SELECT ts, 1, vals FROM telemetry_raw WHERE host_key = ?1 "
	                              "AND ts >= ?2 AND ts <= ?3 ORDER BY ts LIMIT ?4";
	static const char sql_agg[] = "SELECT ts, n, vals FROM telemetry_agg WHERE host_key = ?1 "
	                              "AND ts >= ?2 AND ts <= ?3 ORDER BY ts LIMIT ?4";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, agg ? sql_agg : sql_raw, &st);
	if (r == 0)
		r = sq_bind(c, st, "iiii", key, since, until, limit > 0 ? limit : (int64_t)-1);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *v = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);

		r = fn(cls, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), v,
		       len > 0 ? (size_t)len : 0);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_err(c, rc, "telemetry rows");
	sq_stmt_end(st);
	return r;
}

int store_tele_history(int64_t key, int64_t since, int64_t until, int64_t limit,
                       store_tele_row_fn agg_fn, store_tele_row_fn raw_fn, void *cls)
{
	struct conn *c;
	bool own = false;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_snapshot_begin(c, &own);
	if (r < 0)
		return r;
	r = store_tele_rows(true, key, since, until, limit, agg_fn, cls);
	if (r == 0)
		r = store_tele_rows(false, key, since, until, limit, raw_fn, cls);
	sq_snapshot_end(c, own);
	return r;
}

int store_tele_delete_before(bool agg, int64_t key, int64_t before, int64_t *ret_changes)
{
	static const char sql_raw[] = "DELETE FROM telemetry_raw WHERE host_key = ?1 AND ts < ?2";
	static const char sql_agg[] = "DELETE FROM telemetry_agg WHERE host_key = ?1 AND ts < ?2";
	struct conn *c;
	int r = sq_conn_use(&c);

	if (r < 0)
		return r;
	return sq_exec(c, agg ? sql_agg : sql_raw, ret_changes, "ii", key, before);
}

int store_tele_size(bool agg, int64_t *ret_rows, int64_t *ret_bytes)
{
	static const char sql_raw[] =
	    "SELECT COUNT(*), COALESCE(SUM(LENGTH(vals)), 0) FROM telemetry_raw";
	static const char sql_agg[] =
	    "SELECT COUNT(*), COALESCE(SUM(LENGTH(vals)), 0) FROM telemetry_agg";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, agg ? sql_agg : sql_raw, &st);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret_rows = sqlite3_column_int64(st, 0);
		*ret_bytes = sqlite3_column_int64(st, 1);
		r = 0;
	} else {
		r = sq_err(c, rc, "telemetry size");
	}
	sq_stmt_end(st);
	return r;
}
