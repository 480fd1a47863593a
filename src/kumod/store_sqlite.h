/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite backend of the store (store_sqlite*.c,
 * store_migrations.c): the calling thread's pooled connection and the
 * statement helpers the backend's files share. Nothing else includes this
 * (but the store's unit tests); the rest of kumod sees only store.h.
 *
 * Statement discipline: a statement from sq_stmt() is used, then reset with
 * sq_stmt_end() (or by the helper that stepped it) before the same thread
 * asks for another one, so the cache may recycle idle statements. Bound
 * strings are not copied: they must live until the statement is reset.
 */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "kumod/query.h"

struct conn;

#define SQ_POOL_MAX 64      /* connections open at once, held or idle */
#define SQ_POOL_IDLE_MAX 32 /* idle connections kept for reuse; more are closed */

/* Migrations in order; the schema version is how many have been applied. */
extern const char *const store_migrations[];
extern const int store_nmigrations;

/* The calling thread's connection for a data operation: -EIO while its
 * transaction has been rolled back but not yet ended, or when the store is
 * not open. */
int sq_conn_use(struct conn **ret);
sqlite3 *sq_db(struct conn *c);
/* True inside a transaction (store_begin or an automatic one). */
bool sq_in_tx(const struct conn *c);
/* The pool, for tests: connections open now (held or idle), idle ones, and
 * how many were opened since store_open. */
void sq_pool_stats(int *ret_open, int *ret_idle, int64_t *ret_opened);

/* Maps a SQLite result code to -EEXIST (primary key or unique), -EBUSY
 * (busy, locked) or -EIO, and logs it at debug with what and the message. */
int sq_err(struct conn *c, int rc, const char *what);

/* The connection's prepared statement for sql (cached by its text). */
int sq_stmt(struct conn *c, const char *sql, sqlite3_stmt **ret);
void sq_stmt_end(sqlite3_stmt *st);
/* Binds parameters 1..n by types: 's' const char * (NULL binds null),
 * 'i' int64_t (pass int64_t, never int). Resets st on failure. */
int sq_bind(struct conn *c, sqlite3_stmt *st, const char *types, ...);
/* Prepares, binds and steps a statement that returns no rows, and resets it.
 * ret_changes (may be NULL) gets the number of rows changed. */
int sq_exec(struct conn *c, const char *sql, int64_t *ret_changes, const char *types, ...);
/* Steps st for a single row holding one integer, and resets it. */
int sq_query_int(struct conn *c, sqlite3_stmt *st, int64_t *ret);

const char *sq_col_text(sqlite3_stmt *st, int i);
/* The column parsed as JSON (any value; SQL NULL gives json null), or NULL
 * when it does not parse. */
json_t *sq_col_json(sqlite3_stmt *st, int i);
/* The column as a JSON string, or json null. */
json_t *sq_col_str(sqlite3_stmt *st, int i);

/* A transaction around one store call when the caller has none open:
 * sq_auto_begin sets *own; sq_auto_end(c, own, r) commits (r == 0) or rolls
 * back what sq_auto_begin opened and returns the final result. */
int sq_auto_begin(struct conn *c, bool *own);
int sq_auto_end(struct conn *c, bool own, int r);

/* The filter that makes a document visible to every account. */
#define PUBLIC_SQL                                                                                 \
	"json_extract(doc, '$.visibility') = 'public' OR json_extract(doc, '$.shared') = 1"

/* True for a document field name that may go into SQL text: [a-z0-9_]{1,63}. */
bool sq_field_name_ok(const char *field);
/* Builds "<head> FROM objects WHERE <kind and q> [ORDER BY sort_field LIMIT ?
 * OFFSET ?]<tail>", prepares and binds it up to the WHERE clause; *ret_idx
 * is the last parameter bound. */
int sq_list_stmt(struct conn *c, const char *head, const char *kind, const struct list_query *q,
                 const char *sort_field, bool desc, const char *tail, sqlite3_stmt **ret,
                 int *ret_idx);
/* COUNT(*) (field NULL) or SUM(field) of the objects matching q. */
int sq_aggregate(const char *kind, const struct list_query *q, const char *field, int64_t *ret);
/* A read snapshot for several statements, when no transaction is open
 * (*own says whether one was begun); sq_snapshot_end ends what it began. */
int sq_snapshot_begin(struct conn *c, bool *own);
void sq_snapshot_end(struct conn *c, bool own);
