/* SPDX-License-Identifier: MIT */
/*
 * The store: every piece of SQL in kumod is behind this interface, so that a
 * PostgreSQL backend can be added without touching the API code. The SQLite
 * backend (store_sqlite.c) keeps a pool of connections: a thread takes one on
 * its first store call and holds it until store_release() or its exit. WAL
 * mode, busy timeout, versioned migrations run by store_open().
 *
 * Resources are JSON documents in one objects table, keyed by (kind, id),
 * with indexed columns for account_id, name and created_at; any other field
 * is reached through the document (json_extract), so filters and sort work on
 * every F_FILTER field of the kind's schema.
 *
 * Documents always carry "id", "account_id" (may be null for global
 * objects), "name" (may be null), "created_at", "updated_at".
 * Names are unique per (kind, account_id) when the kind asks for it
 * (store_insert returns -EEXIST).
 *
 * Errors: -ENOENT (no such object), -EEXIST (duplicate id or name),
 * -EBUSY (database busy past the timeout), -EIO (anything else).
 * Functions returning json_t* give a new reference the caller owns.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kumod/query.h"

int store_open(const char *path);
/* Closes every connection; no other thread may be using the store. */
void store_close(void);
/* Gives the calling thread's connection back to the pool, to be called
 * before the thread blocks or goes idle (a long-poll, between requests); its
 * next store call takes one again. A no-op when the thread holds none, and
 * inside a transaction (begin without its outermost commit or rollback),
 * which keeps its connection: release outside transactions. */
void store_release(void);
/* Copies the write-ahead log into the database without blocking writers
 * (SQLite's passive checkpoint); kumod's monitor calls it every second,
 * since commits never checkpoint themselves. Returns the frames left in the
 * log, or -errno. */
int store_checkpoint(void);
/* Schema version after migrations (for tests and /metrics). */
int store_version(void);

/* Transactions on the calling thread's connection. begin is "immediate"
 * (takes the write lock at once, so read-modify-write is atomic). They nest:
 * only the outermost begin/commit touch the database; rollback anywhere
 * rolls back the whole transaction. */
int store_begin(void);
int store_commit(void);
void store_rollback(void);
/* Called on the committing thread after its outermost transaction ended
 * (committed or not) and the write lock was released: the place to wake
 * whoever waits for what the transaction did. One hook, set at start. */
void store_set_tx_end_hook(void (*fn)(bool committed));

/* --- objects ----------------------------------------------------------- */
/* unique_name: enforce unique (kind, account_id, name). */
int store_insert(const char *kind, json_t *doc, bool unique_name);
/* Replaces the document (same id); sets updated_at. -ENOENT, -EEXIST (name). */
int store_update(const char *kind, json_t *doc, bool unique_name);
int store_delete(const char *kind, const char *id);
/* account_id NULL = any account. With include_public, a doc whose
 * "visibility" is "public" or "shared" is true matches any account. */
int store_get(const char *kind, const char *id, const char *account_id, bool include_public,
              json_t **ret);
/* By name within an account (NULL = any; first match). */
int store_get_by_name(const char *kind, const char *name, const char *account_id, json_t **ret);
/* Lists with filters, sort, paging; ret_items is a JSON array of full
 * documents (projection is the caller's). total ignores limit/offset. */
int store_list(const char *kind, const struct list_query *q, json_t **ret_items,
               int64_t *ret_total);
/* The same as store_get and store_list, but the store writes the JSON: the
 * documents without the keys in hidden (NULL-terminated, may be NULL), as
 * malloc'd text (*ret_items is a JSON array). The fast path for answers
 * that show documents as they are stored. */
int store_get_text(const char *kind, const char *id, const char *account_id, bool include_public,
                   const char *const *hidden, char **ret);
int store_list_text(const char *kind, const struct list_query *q, const char *const *hidden,
                    char **ret_items, int64_t *ret_total);
/* A few fields of every document q matches, as malloc'd JSON text: one
 * array per document with the values of fields (NULL-terminated; null for
 * a missing one) in that order, [["id-1","web"],...]. For answers that
 * need a few fields of many documents (the Redfish aggregator's
 * collections) without reading whole documents. */
int store_list_fields(const char *kind, const struct list_query *q, const char *const *fields,
                      char **ret_rows);
/* Count of objects matching q (limit ignored). */
int store_count(const char *kind, const struct list_query *q, int64_t *ret);
/* Sum of an integer field over objects matching q. */
int store_sum(const char *kind, const struct list_query *q, const char *field, int64_t *ret);

/* --- idempotency keys -------------------------------------------------- */
/* Looks up a stored response for (account, key). -ENOENT if none. The
 * stored method+path must match, else -EEXIST (key reused for another call). */
int store_idem_get(const char *account_id, const char *key, const char *method, const char *path,
                   int *ret_status, char **ret_body, char **ret_location);
int store_idem_put(const char *account_id, const char *key, const char *method, const char *path,
                   int status, const char *body, const char *location);
/* Drops keys older than max_age_ms. */
int store_idem_expire(int64_t max_age_ms);

/* --- events ------------------------------------------------------------ */
/* Appends an event; ret_seq (may be NULL) gets its sequence number. */
int store_event_add(const char *type, const char *resource_kind, const char *resource_id,
                    const char *account_id, const json_t *data, int64_t *ret_seq);
/* Events with seq > after_seq, oldest first, at most limit, for one
 * account (NULL = all). Each: {"id":seq,"time","type","resource_kind",
 * "resource_id","account_id","data"}. */
int store_event_list(int64_t after_seq, const char *account_id, int64_t limit, json_t **ret);
int64_t store_event_last_seq(void);
int store_event_expire(int64_t keep_last);

/* --- agent commands ---------------------------------------------------- */
/* Queues a command for a host. */
int store_cmd_add(const char *id, const char *host_id, const char *type, const json_t *payload,
                  const char *job_id);
/* Commands to deliver to host: queued ones, plus sent ones older than
 * resend_after_ms. Marks them sent now. Array of {"id","type","payload"}. */
int store_cmd_take(const char *host_id, int64_t resend_after_ms, int max, json_t **ret);
/* The command (with host_id, type, payload, job_id, state) or -ENOENT. */
int store_cmd_get(const char *id, json_t **ret);
/* Marks a command done (state "done"). */
int store_cmd_done(const char *id);
/* Commands not done, for one host (NULL = all): array of command objects. */
int store_cmd_pending(const char *host_id, json_t **ret);
int store_cmd_delete_host(const char *host_id);
/* Commands not done that were queued before `before` (an RFC 3339 time as
 * time_format writes it), oldest first, at most max: {"id","host_id",
 * "type","job_id","created_at"} without payloads. */
int store_cmd_overdue(const char *before, int max, json_t **ret);
/* Deletes commands done more than max_age_ms ago (a result repeated after
 * that finds no command and is ignored). */
int store_cmd_expire(int64_t max_age_ms);

/* --- IP allocations ---------------------------------------------------- */
/* Reserves ip (host order) on l3 for owner; -EEXIST if taken. */
int store_ip_take(const char *l3_id, uint32_t ip, const char *owner_id);
int store_ip_release(const char *l3_id, uint32_t ip);
int store_ip_release_owner(const char *owner_id);
/* Allocated addresses of an l3, ascending (caller frees *ret). */
int store_ip_list(const char *l3_id, uint32_t **ret, int *ret_n);
int store_ip_count(const char *l3_id, int64_t *ret);
/* Allocations of an l3 whose owner starts with owner_prefix (NULL or "" =
 * all), ascending: [{"ip": host-order int, "owner_id"}]. */
int store_ip_owners(const char *l3_id, const char *owner_prefix, json_t **ret);
