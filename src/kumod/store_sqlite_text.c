// SPDX-License-Identifier: MIT
/*
 * The SQLite store's answers as text: documents and lists of documents
 * written as JSON by SQLite itself (json_remove, json_group_array), for the
 * API's fast path, and the WAL checkpoint the monitor runs. The objects
 * table and its query builders are in store_sqlite.c.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "kumod/store.h"
#include "kumod/store_sqlite.h"

/* --- documents as text ------------------------------------------------ */

/* "json_remove(doc, '$.a', '$.b')", or "doc" when nothing is hidden. */
static int doc_expr(struct buf *b, const char *const *hidden)
{
	int r;

	if (!hidden || !hidden[0])
		return buf_puts(b, "doc");
	r = buf_puts(b, "json_remove(doc");
	for (int i = 0; r == 0 && hidden[i]; i++) {
		if (!sq_field_name_ok(hidden[i]))
			return -EINVAL;
		r = buf_printf(b, ", '$.%s'", hidden[i]);
	}
	return r == 0 ? buf_puts(b, ")") : r;
}

int store_get_text(const char *kind, const char *id, const char *account_id, bool include_public,
                   const char *const *hidden, char **ret)
{
	sqlite3_stmt *st = NULL;
	struct conn *c;
	struct buf b;
	int rc, r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	buf_init(&b, 4096);
	r = buf_puts(&b, "SELECT ");
	if (r == 0)
		r = doc_expr(&b, hidden);
	if (r == 0)
		r = buf_puts(&b, " FROM objects WHERE id = ?1 AND kind = ?2");
	if (r == 0 && account_id)
		r = buf_puts(&b, include_public ? " AND (account_id = ?3 OR " PUBLIC_SQL ")"
		                                : " AND account_id = ?3");
	if (r == 0)
		r = sq_stmt(c, b.data, &st);
	buf_free(&b);
	if (r == 0)
		r = sq_bind(c, st, account_id ? "sss" : "ss", id, kind, account_id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		*ret = xstrdup(t ? t : "null");
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(c, rc, "get");
	}
	sq_stmt_end(st);
	return r;
}

int store_list_text(const char *kind, const struct list_query *q, const char *const *hidden,
                    char **ret_items, int64_t *ret_total)
{
	sqlite3_stmt *st = NULL;
	struct conn *c;
	struct buf head;
	bool snapshot = false;
	int idx, rc, r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	r = sq_snapshot_begin(c, &snapshot);
	if (r < 0)
		return r;
	buf_init(&head, 4096);
	r = buf_puts(&head, "SELECT coalesce(json_group_array(json(d)), '[]') FROM (SELECT ");
	if (r == 0)
		r = doc_expr(&head, hidden);
	if (r == 0)
		r = buf_puts(&head, " AS d");
	if (r == 0)
		r = sq_list_stmt(c, head.data, kind, q, q->sort[0] ? q->sort : "created_at",
		                 q->sort_desc, ")", &st, &idx);
	buf_free(&head);
	if (r < 0)
		goto out;
	rc = sqlite3_bind_int64(st, ++idx, q->limit > 0 ? q->limit : -1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, ++idx, q->offset > 0 ? q->offset : 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		*ret_items = xstrdup(t ? t : "[]");
		r = 0;
	} else {
		r = sq_err(c, rc, "list");
	}
	sq_stmt_end(st);
	if (r == 0 && ret_total) {
		r = sq_aggregate(kind, q, NULL, ret_total);
		if (r < 0) {
			free(*ret_items);
			*ret_items = NULL;
		}
	}
out:
	sq_snapshot_end(c, snapshot);
	return r;
}

int store_list_fields(const char *kind, const struct list_query *q, const char *const *fields,
                      char **ret_rows)
{
	sqlite3_stmt *st = NULL;
	struct conn *c;
	struct buf head;
	int idx, rc, r;

	if (!fields || !fields[0])
		return -EINVAL;
	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	buf_init(&head, 4096);
	r = buf_puts(&head, "SELECT coalesce(json_group_array(json(d)), '[]') FROM (SELECT "
	                    "json_array(");
	for (int i = 0; r == 0 && fields[i]; i++) {
		if (!sq_field_name_ok(fields[i])) {
			r = -EINVAL;
			break;
		}
		r = buf_printf(&head, "%sjson_extract(doc, '$.%s')", i ? ", " : "", fields[i]);
	}
	if (r == 0)
		r = buf_puts(&head, ") AS d");
	if (r == 0)
		r = sq_list_stmt(c, head.data, kind, q, q->sort[0] ? q->sort : "created_at",
		                 q->sort_desc, ")", &st, &idx);
	buf_free(&head);
	if (r < 0)
		return r;
	rc = sqlite3_bind_int64(st, ++idx, q->limit > 0 ? q->limit : -1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, ++idx, q->offset > 0 ? q->offset : 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		*ret_rows = xstrdup(t ? t : "[]");
		r = 0;
	} else {
		r = sq_err(c, rc, "list");
	}
	sq_stmt_end(st);
	return r;
}

int store_checkpoint(void)
{
	int log = 0, done = 0, rc;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	if (sq_in_tx(c))
		return -EBUSY;
	rc = sqlite3_wal_checkpoint_v2(sq_db(c), NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return sq_err(c, rc, "checkpoint");
	return log > 0 ? log - done : 0;
}
