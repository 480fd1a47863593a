// SPDX-License-Identifier: MIT
/*
 * The SQLite store's tables beside the objects: idempotency keys, the event
 * log, the agent command queue and IP allocations (store.h, second half).
 * Connections, transactions and the objects table are in store_sqlite.c;
 * this file only holds the SQL of these four small tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/store.h"
#include "kumod/store_sqlite.h"

#define CMD_COLS "id, host_id, type, payload, job_id, state"

/* --- idempotency keys ------------------------------------------------- */

int store_idem_get(const char *account_id, const char *key, const char *method, const char *path,
                   int *ret_status, char **ret_body, char **ret_location)
{
	static const char sql[] = "SELECT method, path, status, body, location FROM idempotency "
	                          "WHERE account_id = ?1 AND key = ?2";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "ss", account_id ? account_id : "", key);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = sq_err(c, rc, "idempotency get");
	} else if (strcmp(sq_col_text(st, 0), method) != 0 ||
	           strcmp(sq_col_text(st, 1), path) != 0) {
		r = -EEXIST;
	} else {
		const char *body = sq_col_text(st, 3), *loc = sq_col_text(st, 4);

		if (ret_status)
			*ret_status = sqlite3_column_int(st, 2);
		if (ret_body)
			*ret_body = xstrdup(body ? body : "");
		if (ret_location)
			*ret_location = loc ? xstrdup(loc) : NULL;
	}
	sq_stmt_end(st);
	return r;
}

int store_idem_put(const char *account_id, const char *key, const char *method, const char *path,
                   int status, const char *body, const char *location)
{
	static const char sql[] =
	    "INSERT INTO idempotency (account_id, key, method, path, status, body, location, "
	    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	struct conn *c;
	int r = sq_conn_use(&c);

	if (r < 0)
		return r;
	return sq_exec(c, sql, NULL, "ssssissi", account_id ? account_id : "", key, method, path,
	               (int64_t)status, body, location, now_ms());
}

int store_idem_expire(int64_t max_age_ms)
{
	static const char sql[] = "DELETE FROM idempotency WHERE created_at < ?1";
	struct conn *c;
	int r = sq_conn_use(&c);

	if (r < 0)
		return r;
	return sq_exec(c, sql, NULL, "i", now_ms() - max_age_ms);
}

/* --- events ----------------------------------------------------------- */

int store_event_add(const char *type, const char *resource_kind, const char *resource_id,
                    const char *account_id, const json_t *data, int64_t *ret_seq)
{
	static const char sql[] = "INSERT INTO events (time, type, resource_kind, resource_id, "
	                          "account_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	char *now, *text = NULL;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	if (data) {
		text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return -EINVAL;
	}
	now = time_now_str();
	r = sq_exec(c, sql, NULL, "ssssss", now, type, resource_kind, resource_id, account_id,
	            text);
	if (r == 0 && ret_seq)
		*ret_seq = sqlite3_last_insert_rowid(sq_db(c));
	free(now);
	free(text);
	return r;
}

int store_event_list(int64_t after_seq, const char *account_id, int64_t limit, json_t **ret)
{
	static const char sql_all[] =
	    "SELECT seq, time, type, resource_kind, resource_id, account_id, data FROM events "
	    "WHERE seq > ?1 ORDER BY seq LIMIT ?2";
	static const char sql_account[] =
	    "SELECT seq, time, type, resource_kind, resource_id, account_id, data FROM events "
	    "WHERE seq > ?1 AND account_id = ?3 ORDER BY seq LIMIT ?2";
	json_t *list = NULL;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, account_id ? sql_account : sql_all, &st);
	if (r == 0)
		r = sq_bind(c, st, account_id ? "iis" : "ii", after_seq, limit > 0 ? limit : -1,
		            account_id);
	if (r < 0)
		return r;
	list = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *ev = json_object(), *data = sq_col_json(st, 6);

		json_object_set_new(ev, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(ev, "time", sq_col_str(st, 1));
		json_object_set_new(ev, "type", sq_col_str(st, 2));
		json_object_set_new(ev, "resource_kind", sq_col_str(st, 3));
		json_object_set_new(ev, "resource_id", sq_col_str(st, 4));
		json_object_set_new(ev, "account_id", sq_col_str(st, 5));
		json_object_set_new(ev, "data", data ? data : json_null());
		json_array_append_new(list, ev);
	}
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "event list");
	sq_stmt_end(st);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

/* The last event's sequence number, 0 when there is none, or -errno. */
int64_t store_event_last_seq(void)
{
	static const char sql[] = "SELECT COALESCE(MAX(seq), 0) FROM events";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int64_t seq = 0;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_query_int(c, st, &seq);
	return r < 0 ? r : seq;
}

int store_event_expire(int64_t keep_last)
{
	static const char sql[] =
	    "DELETE FROM events WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM events) - ?1";
	struct conn *c;
	int r = sq_conn_use(&c);

	if (r < 0)
		return r;
	return sq_exec(c, sql, NULL, "i", keep_last > 0 ? keep_last : (int64_t)0);
}

/* --- agent commands --------------------------------------------------- */

int store_cmd_add(const char *id, const char *host_id, const char *type, const json_t *payload,
                  const char *job_id)
{
	static const char sql[] =
	    "INSERT INTO commands (id, host_id, seq, type, payload, job_id, state, created_at) "
	    "VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM commands), ?3, ?4, ?5, "
	    "'queued', ?6)";
	char *text, *now;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("null");
	if (!text)
		return -EINVAL;
	now = time_now_str();
	r = sq_exec(c, sql, NULL, "ssssss", id, host_id, type, text, job_id, now);
	free(now);
	free(text);
	return r;
}

int store_cmd_take(const char *host_id, int64_t resend_after_ms, int max, json_t **ret)
{
	static const char sql_due[] =
	    "SELECT id, type, payload FROM commands WHERE host_id = ?1 AND (state = 'queued' OR "
	    "(state = 'sent' AND ?2 AND sent_at <= ?3)) ORDER BY seq LIMIT ?4";
	static const char sql_mark_sent[] =
	    "UPDATE commands SET state = 'sent', sent_at = ?2 WHERE id = ?1";
	static const char sql_any[] =
	    "SELECT 1 FROM commands WHERE host_id = ?1 AND (state = 'queued' OR "
	    "(state = 'sent' AND ?2 AND sent_at <= ?3)) LIMIT 1";
	json_t *list = json_array(), *cmd;
	int64_t now = now_ms();
	sqlite3_stmt *st = NULL;
	struct conn *c;
	size_t i;
	bool own = false;
	int rc, r;

	r = sq_conn_use(&c);
	if (r < 0)
		goto out;
	if (max <= 0)
		goto out;
	if (!sq_in_tx(c)) {
		/* Most long-poll rounds find nothing: find that out with a read,
		 * without queueing for the writer lock. */
		r = sq_stmt(c, sql_any, &st);
		if (r == 0)
			r = sq_bind(c, st, "sii", host_id, (int64_t)(resend_after_ms >= 0),
			            resend_after_ms >= 0 ? now - resend_after_ms : now);
		if (r < 0)
			goto out;
		rc = sqlite3_step(st);
		sq_stmt_end(st);
		st = NULL;
		if (rc == SQLITE_DONE)
			goto out;
		if (rc != SQLITE_ROW) {
			r = sq_err(c, rc, "command take");
			goto out;
		}
		/* store_begin queues for the writer without holding the
		 * connection: a thousand long-polls woken at once must not
		 * take every pooled connection while they queue */
		r = store_begin();
		if (r < 0)
			goto out;
		own = true;
		r = sq_conn_use(&c);
		if (r < 0)
			goto end;
	}
	r = sq_stmt(c, sql_due, &st);
	if (r == 0)
		r = sq_bind(c, st, "siii", host_id, (int64_t)(resend_after_ms >= 0),
		            resend_after_ms >= 0 ? now - resend_after_ms : now, (int64_t)max);
	if (r < 0)
		goto end;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *payload = sq_col_json(st, 2);

		cmd = json_object();
		json_object_set_new(cmd, "id", sq_col_str(st, 0));
		json_object_set_new(cmd, "type", sq_col_str(st, 1));
		json_object_set_new(cmd, "payload", payload ? payload : json_null());
		json_array_append_new(list, cmd);
	}
	if (rc != SQLITE_DONE)
		r = sq_err(c, rc, "command take");
	sq_stmt_end(st);
	json_array_foreach(list, i, cmd)
	{
		if (r < 0)
			break;
		r = sq_exec(c, sql_mark_sent, NULL, "si", jstr(cmd, "id"), now);
	}
end:
	if (own && r == 0)
		r = store_commit();
	else if (own)
		store_rollback();
out:
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

static json_t *row_to_cmd(sqlite3_stmt *st)
{
	json_t *cmd = json_object(), *payload = sq_col_json(st, 3);

	json_object_set_new(cmd, "id", sq_col_str(st, 0));
	json_object_set_new(cmd, "host_id", sq_col_str(st, 1));
	json_object_set_new(cmd, "type", sq_col_str(st, 2));
	json_object_set_new(cmd, "payload", payload ? payload : json_null());
	json_object_set_new(cmd, "job_id", sq_col_str(st, 4));
	json_object_set_new(cmd, "state", sq_col_str(st, 5));
	return cmd;
}

int store_cmd_get(const char *id, json_t **ret)
{
	static const char sql[] = "SELECT " CMD_COLS " FROM commands WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "s", id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = row_to_cmd(st);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(c, rc, "command get");
	sq_stmt_end(st);
	return r;
}

int store_cmd_done(const char *id)
{
	static const char sql[] =
	    "UPDATE commands SET state = 'done', done_at = COALESCE(done_at, ?2) WHERE id = ?1";
	int64_t changed = 0;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_exec(c, sql, &changed, "si", id, now_ms());
	if (r == 0 && changed == 0)
		r = -ENOENT;
	return r;
}

int store_cmd_pending(const char *host_id, json_t **ret)
{
	static const char sql_all[] =
	    "SELECT " CMD_COLS " FROM commands WHERE state <> 'done' ORDER BY seq";
	static const char sql_host[] =
	    "SELECT " CMD_COLS " FROM commands WHERE host_id = ?1 AND state <> 'done' ORDER BY seq";
	json_t *list;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, host_id ? sql_host : sql_all, &st);
	if (r == 0 && host_id)
		r = sq_bind(c, st, "s", host_id);
	if (r < 0)
		return r;
	list = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(list, row_to_cmd(st));
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "command pending");
	sq_stmt_end(st);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

int store_cmd_overdue(const char *before, int max, json_t **ret)
{
	static const char sql[] = "SELECT id, host_id, type, job_id, created_at FROM commands"
	                          " WHERE state IN ('queued', 'sent') AND created_at < ?1"
	                          " ORDER BY created_at LIMIT ?2";
	sqlite3_stmt *st = NULL;
	json_t *list;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "si", before, (int64_t)max);
	if (r < 0)
		return r;
	list = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *cmd = json_object();

		json_object_set_new(cmd, "id", sq_col_str(st, 0));
		json_object_set_new(cmd, "host_id", sq_col_str(st, 1));
		json_object_set_new(cmd, "type", sq_col_str(st, 2));
		json_object_set_new(cmd, "job_id", sq_col_str(st, 3));
		json_object_set_new(cmd, "created_at", sq_col_str(st, 4));
		json_array_append_new(list, cmd);
	}
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "command overdue");
	sq_stmt_end(st);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

int store_cmd_delete_host(const char *host_id)
{
	static const char sql[] = "DELETE FROM commands WHERE host_id = ?1";
	struct conn *c;
	int r = sq_conn_use(&c);

	return r < 0 ? r : sq_exec(c, sql, NULL, "s", host_id);
}

int store_cmd_expire(int64_t max_age_ms)
{
	static const char sql[] = "DELETE FROM commands WHERE state = 'done' AND done_at < ?1";
	struct conn *c;
	int r = sq_conn_use(&c);

	return r < 0 ? r : sq_exec(c, sql, NULL, "i", now_ms() - max_age_ms);
}

/* --- IP allocations --------------------------------------------------- */

int store_ip_take(const char *l3_id, uint32_t ip, const char *owner_id)
{
	static const char sql[] =
	    "INSERT INTO ip_allocations (l3_id, ip, owner_id) VALUES (?1, ?2, ?3)";
	struct conn *c;
	int r = sq_conn_use(&c);

	return r < 0 ? r : sq_exec(c, sql, NULL, "sis", l3_id, (int64_t)ip, owner_id);
}

int store_ip_release(const char *l3_id, uint32_t ip)
{
	static const char sql[] = "DELETE FROM ip_allocations WHERE l3_id = ?1 AND ip = ?2";
	int64_t changed = 0;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_exec(c, sql, &changed, "si", l3_id, (int64_t)ip);
	if (r == 0 && changed == 0)
		r = -ENOENT;
	return r;
}

int store_ip_release_owner(const char *owner_id)
{
	static const char sql[] = "DELETE FROM ip_allocations WHERE owner_id = ?1";
	struct conn *c;
	int r = sq_conn_use(&c);

	return r < 0 ? r : sq_exec(c, sql, NULL, "s", owner_id);
}

int store_ip_list(const char *l3_id, uint32_t **ret, int *ret_n)
{
	static const char sql[] = "SELECT ip FROM ip_allocations WHERE l3_id = ?1 ORDER BY ip";
	uint32_t *ips = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "s", l3_id);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ips = xrealloc(ips, cap * sizeof(*ips));
		}
		ips[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "ip list");
	sq_stmt_end(st);
	if (r < 0 || n > INT32_MAX) {
		free(ips);
		return r < 0 ? r : -EIO;
	}
	*ret = ips;
	*ret_n = (int)n;
	return 0;
}

int store_ip_owners(const char *l3_id, const char *owner_prefix, json_t **ret)
{
	static const char sql[] = "SELECT ip, owner_id FROM ip_allocations WHERE l3_id = ?1 "
	                          "AND (?2 = '' OR substr(owner_id, 1, length(?2)) = ?2) "
	                          "ORDER BY ip";
	sqlite3_stmt *st = NULL;
	json_t *list;
	struct conn *c;
	int rc, r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "ss", l3_id, owner_prefix ? owner_prefix : "");
	if (r < 0)
		return r;
	list = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 1);

		json_array_append_new(list, json_pack("{s:I,s:s?}", "ip",
		                                      (json_int_t)sqlite3_column_int64(st, 0),
		                                      "owner_id", o));
	}
	r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, "ip owners");
	sq_stmt_end(st);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*ret = list;
	return 0;
}

int store_ip_count(const char *l3_id, int64_t *ret)
{
	static const char sql[] = "SELECT COUNT(*) FROM ip_allocations WHERE l3_id = ?1";
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = sq_stmt(c, sql, &st);
	if (r == 0)
		r = sq_bind(c, st, "s", l3_id);
	if (r < 0)
		return r;
	return sq_query_int(c, st, ret);
}
