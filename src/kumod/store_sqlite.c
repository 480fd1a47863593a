// SPDX-License-Identifier: MIT
/*
 * The SQLite backend of the store (store.h): connections, transactions, the
 * migration runner, the objects table and the SQL built for lists. The
 * other tables (idempotency, events, commands, IP allocations) are in
 * store_sqlite_tables.c, the schema in store_migrations.c; nothing outside
 * these files speaks SQL. The store does not know what a VM or a host is:
 * resources are JSON documents of a kind, and filters arrive already
 * checked by query.c (field names are checked again here, as they become
 * SQL text).
 *
 * Connections come from a pool (WAL mode, so readers never wait for the
 * writer). A thread takes one on its first store call, from the idle list or
 * newly opened from the path given to store_open(), and holds it until
 * store_release() or its exit, which put it back; at most SQ_POOL_IDLE_MAX idle
 * ones are kept, the rest are closed. So kumod, with a thread per HTTP
 * connection and most of them waiting in long-polls, holds about as many
 * connections as it has threads doing store work at once, not one per
 * client; and never more than SQ_POOL_MAX: past that a thread waits for one to
 * come back (up to the busy timeout, then -EBUSY). A burst of requests (a
 * thousand hosts registering at once, each queueing for the writer) then
 * costs no more memory than a few dozen. Waiting is safe because a thread
 * holds at most one connection and nothing waits for a thread that has none
 * while holding one: callers release before blocking (long-polls, job and
 * event waits). store_close() closes them all. The path must name a file:
 * ":memory:" would give every connection a database of its own.
 *
 * A connection keeps its prepared statements, also while idle in the pool:
 * the objects table's fixed ones in an array indexed by enum sql_id
 * (store_get is the hot path: one cached statement, one JSON parse), every
 * other SQL text in a small hash table (sq_stmt).
 * A statement is always reset and its bindings cleared before the function
 * that used it returns, so bound strings may point at the caller's memory.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/store.h"
#include "kumod/store_sqlite.h"

#define BUSY_TIMEOUT_MS 10000
#define STR_(x) #x
#define STR(x) STR_(x)
#define STMT_BUCKETS 64
#define STMT_CACHE_MAX 128 /* statements kept in the hash table per connection */
#define SQL_MAX (64 * 1024)

/* The fixed statements, prepared once per connection on first use. */
enum sql_id {
	S_BEGIN,
	S_BEGIN_READ,
	S_COMMIT,
	S_ROLLBACK,
	S_GET,
	S_GET_ACCOUNT,
	S_GET_PUBLIC,
	S_GET_NAME,
	S_GET_NAME_ACCOUNT,
	S_NAME_TAKEN,
	S_INSERT,
	S_UPDATE,
	S_DELETE,
	S__MAX
};

static const char *const sql_text[S__MAX] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_GET] = "SELECT doc FROM objects WHERE id = ?1 AND kind = ?2",
	[S_GET_ACCOUNT] = "SELECT doc FROM objects WHERE id = ?1 AND kind = ?2 AND account_id = ?3",
	[S_GET_PUBLIC] = "SELECT doc FROM objects WHERE id = ?1 AND kind = ?2"
	                 " AND (account_id = ?3 OR " PUBLIC_SQL ")",
	[S_GET_NAME] = "SELECT doc FROM objects WHERE kind = ?1 AND name = ?2"
	               " ORDER BY created_at, id LIMIT 1",
	[S_GET_NAME_ACCOUNT] = "SELECT doc FROM objects WHERE kind = ?1 AND name = ?2"
	                       " AND account_id = ?3 ORDER BY created_at, id LIMIT 1",
	[S_NAME_TAKEN] = "SELECT 1 FROM objects WHERE kind = ?1 AND account_id IS ?2"
	                 " AND name = ?3 AND id <> ?4 LIMIT 1",
	[S_INSERT] = "INSERT INTO objects (id, kind, account_id, name, created_at, updated_at, doc)"
	             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_UPDATE] = "UPDATE objects SET account_id = ?3, name = ?4, updated_at = ?5, doc = ?6"
	             " WHERE id = ?1 AND kind = ?2",
	[S_DELETE] = "DELETE FROM objects WHERE id = ?1 AND kind = ?2",
};

struct stmt_entry {
	struct stmt_entry *next;
	uint32_t hash;
	char *sql;        /* owned */
	sqlite3_stmt *st; /* owned */
};

struct conn {
	sqlite3 *db;                 /* owned */
	int depth;                   /* store_begin nesting; 0 = no transaction */
	bool failed;                 /* rolled back below the outermost level */
	sqlite3_stmt *fixed[S__MAX]; /* owned, prepared on first use */
	struct stmt_entry *buckets[STMT_BUCKETS];
	int ncached;
	struct conn *prev, *next; /* registry of open connections */
	struct conn *next_idle;   /* weak: the pool's idle list */
};

/* Process-wide state. path and key are written by store_open/store_close
 * only, while no other thread uses the store. A connection is in conns from
 * its opening to its closing; it is either held by one thread (the value of
 * key there) or on the idle list, never both. */
static struct {
	pthread_mutex_t lock; /* guards conns, idle and the counts */
	pthread_cond_t freed; /* a connection went idle or was closed (monotonic) */
	bool open;
	char *path; /* owned */
	pthread_key_t key;
	int version;
	struct conn *conns; /* owned: every open connection */
	struct conn *idle;  /* weak: the ones no thread holds */
	int nconns;         /* open, or being opened */
	int nidle;
	int nqueued;     /* held by threads queueing for the writer: not counted in the cap */
	int64_t nopened; /* connections opened since store_open */
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* SQLite has one writer at a time. Threads of this process queue for it
 * on a mutex instead of in SQLite's busy handler, which sleeps in steps of
 * up to 100 ms and would throttle a busy kumod to a few hundred commits a
 * second. (Other processes on the same file still meet the busy timeout.)
 * Held from the outermost store_begin to its commit or rollback, and around
 * each write made outside a transaction. */
static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes the writer lock. A thread that must queue for it while holding a
 * pooled connection lends the connection's place under the cap meanwhile,
 * so that readers are not starved of connections by queued writers. */
static void writer_lock_take(void)
{
	if (pthread_mutex_trylock(&writer_lock) == 0)
		return;
	pthread_mutex_lock(&g.lock);
	g.nqueued++;
	pthread_cond_broadcast(&g.freed);
	pthread_mutex_unlock(&g.lock);
	pthread_mutex_lock(&writer_lock);
	pthread_mutex_lock(&g.lock);
	g.nqueued--;
	pthread_mutex_unlock(&g.lock);
}

/* --- errors and statements ------------------------------------------- */

int sq_err(struct conn *c, int rc, const char *what)
{
	int r;

	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		r = -EEXIST;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		r = -EBUSY;
	else
		r = -EIO;
	log_debug("store: %s: %s (%d)", what, c && c->db ? sqlite3_errmsg(c->db) : "?", rc);
	return r;
}

void sq_stmt_end(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int stmt_fixed(struct conn *c, enum sql_id id, sqlite3_stmt **ret)
{
	int rc;

	if (!c->fixed[id]) {
		rc = sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
		                        &c->fixed[id], NULL);
		if (rc != SQLITE_OK)
			return sq_err(c, rc, sql_text[id]);
	}
	*ret = c->fixed[id];
	return 0;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Drops cached statements that are not in use. */
static void stmt_cache_trim(struct conn *c, bool all)
{
	for (int i = 0; i < STMT_BUCKETS; i++) {
		struct stmt_entry **pp = &c->buckets[i];

		while (*pp) {
			struct stmt_entry *e = *pp;

			if (!all && sqlite3_stmt_busy(e->st)) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			sqlite3_finalize(e->st);
			free(e->sql);
			free(e);
			c->ncached--;
		}
	}
}

int sq_stmt(struct conn *c, const char *sql, sqlite3_stmt **ret)
{
	uint32_t h = hash_str(sql);
	struct stmt_entry *e;
	sqlite3_stmt *st = NULL;
	int rc;

	for (e = c->buckets[h % STMT_BUCKETS]; e; e = e->next) {
		if (e->hash == h && strcmp(e->sql, sql) == 0) {
			*ret = e->st;
			return 0;
		}
	}
	if (c->ncached >= STMT_CACHE_MAX)
		stmt_cache_trim(c, false);
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, sql);
	e = xmalloc(sizeof(*e));
	e->hash = h;
	e->sql = xstrdup(sql);
	e->st = st;
	e->next = c->buckets[h % STMT_BUCKETS];
	c->buckets[h % STMT_BUCKETS] = e;
	c->ncached++;
	*ret = st;
	return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int vbind(struct conn *c, sqlite3_stmt *st, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 0; types[i] && rc == SQLITE_OK; i++) {
		if (types[i] == 's')
			rc = bind_text(st, i + 1, va_arg(ap, const char *));
		else if (types[i] == 'i')
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			assert(!"bad bind type");
	}
	if (rc != SQLITE_OK) {
		sq_stmt_end(st);
		return sq_err(c, rc, "bind");
	}
	return 0;
}

int sq_bind(struct conn *c, sqlite3_stmt *st, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vbind(c, st, types, ap);
	va_end(ap);
	return r;
}

/* Steps a statement that returns no rows, then resets it. */
static int step_done(struct conn *c, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sq_err(c, rc, what);

	sq_stmt_end(st);
	return r;
}

/* Binds, steps a statement that returns no rows, and resets it. */
static int exec_stmt(struct conn *c, sqlite3_stmt *st, const char *what, int64_t *ret_changes,
                     const char *types, va_list ap)
{
	bool lock = c->depth == 0 && !sqlite3_stmt_readonly(st);
	int r = vbind(c, st, types, ap);

	if (r < 0)
		return r;
	if (lock)
		writer_lock_take();
	r = step_done(c, st, what);
	if (r == 0 && ret_changes)
		*ret_changes = sqlite3_changes64(c->db);
	if (lock)
		pthread_mutex_unlock(&writer_lock);
	return r;
}

static int exec_fixed(struct conn *c, enum sql_id id, int64_t *ret_changes, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int r;

	r = stmt_fixed(c, id, &st);
	if (r < 0)
		return r;
	va_start(ap, types);
	r = exec_stmt(c, st, sql_text[id], ret_changes, types, ap);
	va_end(ap);
	return r;
}

int sq_exec(struct conn *c, const char *sql, int64_t *ret_changes, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int r;

	r = sq_stmt(c, sql, &st);
	if (r < 0)
		return r;
	va_start(ap, types);
	r = exec_stmt(c, st, sql, ret_changes, types, ap);
	va_end(ap);
	return r;
}

const char *sq_col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

json_t *sq_col_json(sqlite3_stmt *st, int i)
{
	const char *s = sq_col_text(st, i);
	json_error_t jerr;
	json_t *v;

	if (!s)
		return json_null();
	v = json_loadb(s, (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, &jerr);
	if (!v)
		log_debug("store: bad JSON in the database: %s", jerr.text);
	return v;
}

json_t *sq_col_str(sqlite3_stmt *st, int i)
{
	const char *s = sq_col_text(st, i);

	return s ? json_string(s) : json_null();
}

/* --- connections ------------------------------------------------------ */

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	stmt_cache_trim(c, true);
	for (int i = 0; i < S__MAX; i++)
		sqlite3_finalize(c->fixed[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

static void tx_abort(struct conn *c);

/* Gives a connection no thread holds any more (outside a transaction) back
 * to the pool, or closes it when the pool has enough idle ones. */
static void conn_put(struct conn *c)
{
	bool keep;

	assert(c->depth == 0);
	pthread_mutex_lock(&g.lock);
	keep = g.nidle < SQ_POOL_IDLE_MAX;
	if (keep) {
		c->next_idle = g.idle;
		g.idle = c;
		g.nidle++;
	} else {
		if (c->prev)
			c->prev->next = c->next;
		else
			g.conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		g.nconns--;
	}
	pthread_cond_signal(&g.freed);
	pthread_mutex_unlock(&g.lock);
	if (!keep)
		conn_free(c);
}

/* pthread_key destructor: the thread exits, its connection goes back to the
 * pool. Runs in the exiting thread, which may own the writer mutex. */
static void conn_thread_exit(void *p)
{
	struct conn *c = p;

	if (c->depth > 0) {
		/* A transaction left open by the exiting thread: roll it back
		 * rather than leave every other writer waiting for it. */
		log_debug("store: thread exits inside a transaction; rolled back");
		tx_abort(c);
		c->depth = 0;
		c->failed = false;
		pthread_mutex_unlock(&writer_lock);
	}
	conn_put(c);
}

static int conn_exec(struct conn *c, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		int r = sq_err(c, rc, sql);

		sqlite3_free(msg);
		return r;
	}
	return 0;
}

/* Opens a connection; the caller has counted it in g.nconns. */
static int conn_open(struct conn **ret)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int rc, r;

	rc = sqlite3_open_v2(
	    g.path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = sq_err(c, rc, g.path);
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	r = conn_exec(c, "PRAGMA journal_mode = WAL;"
	                 "PRAGMA synchronous = NORMAL;"
	                 "PRAGMA foreign_keys = ON;"
	                 /* reads through the OS page cache, shared by every
	                  * connection, instead of a private copy per thread */
	                 "PRAGMA mmap_size = 1073741824;"
	                 /* no checkpoints inside commits (they fsync while the
	                  * writer lock is held): store_checkpoint() runs them */
	                 "PRAGMA wal_autocheckpoint = 0;"
	                 "PRAGMA cache_size = -8192;"
	                 "PRAGMA busy_timeout = " STR(BUSY_TIMEOUT_MS) ";");
	if (r < 0)
		goto fail;

	pthread_mutex_lock(&g.lock);
	c->next = g.conns;
	if (g.conns)
		g.conns->prev = c;
	g.conns = c;
	g.nopened++;
	pthread_mutex_unlock(&g.lock);
	*ret = c;
	return 0;
fail:
	conn_free(c);
	return r;
}

sqlite3 *sq_db(struct conn *c)
{
	return c->db;
}

/* An idle connection from the pool, else a new one while there are fewer
 * than SQ_POOL_MAX, else waits for one up to the busy timeout (-EBUSY).
 * over_cap: open one even past the cap (for the holder of the writer
 * lock, which must never wait for a connection: the threads holding them
 * may be queueing for the writer). */
static int conn_take(struct conn **ret, bool over_cap)
{
	struct timespec ts;
	struct conn *c;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += BUSY_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&g.lock);
	/* queued writers lend their places, up to a second pool's worth: readers
	 * keep going while writers queue, and connections stay bounded */
	while (!g.idle &&
	       g.nconns - (g.nqueued < SQ_POOL_MAX ? g.nqueued : SQ_POOL_MAX) >= SQ_POOL_MAX &&
	       !over_cap) {
		if (pthread_cond_timedwait(&g.freed, &g.lock, &ts) == ETIMEDOUT) {
			r = -EBUSY;
			break;
		}
	}
	c = g.idle;
	if (c) {
		g.idle = c->next_idle;
		c->next_idle = NULL;
		g.nidle--;
	} else if (r == 0) {
		g.nconns++; /* this thread opens it */
	}
	pthread_mutex_unlock(&g.lock);
	if (c || r < 0) {
		if (r < 0)
			log_debug("store: no connection free after %d ms", BUSY_TIMEOUT_MS);
		*ret = c;
		return r;
	}
	r = conn_open(&c);
	if (r < 0) {
		pthread_mutex_lock(&g.lock);
		g.nconns--;
		pthread_cond_signal(&g.freed);
		pthread_mutex_unlock(&g.lock);
		return r;
	}
	*ret = c;
	return 0;
}

/* The calling thread's connection, taken from the pool on its first call
 * (or the first since store_release). */
static int conn_get_cap(struct conn **ret, bool over_cap)
{
	struct conn *c;
	int r;

	if (!g.open)
		return -EIO;
	c = pthread_getspecific(g.key);
	if (!c) {
		r = conn_take(&c, over_cap);
		if (r < 0)
			return r;
		if (pthread_setspecific(g.key, c) != 0) {
			conn_put(c);
			return -EIO;
		}
	}
	*ret = c;
	return 0;
}

static int conn_get(struct conn **ret)
{
	return conn_get_cap(ret, false);
}

void store_release(void)
{
	struct conn *c;

	if (!g.open)
		return;
	c = pthread_getspecific(g.key);
	if (!c || c->depth > 0)
		return;
	if (!sqlite3_get_autocommit(c->db)) {
		/* not expected at depth 0 (store_list ends its snapshot) */
		log_debug("store: released a connection inside a transaction; rolled back");
		tx_abort(c);
	}
	pthread_setspecific(g.key, NULL);
	conn_put(c);
}

void sq_pool_stats(int *ret_open, int *ret_idle, int64_t *ret_opened)
{
	pthread_mutex_lock(&g.lock);
	*ret_open = g.nconns;
	*ret_idle = g.nidle;
	*ret_opened = g.nopened;
	pthread_mutex_unlock(&g.lock);
}

int sq_conn_use(struct conn **ret)
{
	struct conn *c;
	int r = conn_get(&c);

	if (r < 0)
		return r;
	if (c->depth > 0 && !c->failed && sqlite3_get_autocommit(c->db)) {
		/* SQLite rolled the transaction back by itself (I/O error, full disk). */
		log_debug("store: transaction lost: %s", sqlite3_errmsg(c->db));
		c->failed = true;
	}
	if (c->failed)
		return -EIO;
	*ret = c;
	return 0;
}

bool sq_in_tx(const struct conn *c)
{
	return c->depth > 0;
}

/* --- transactions ----------------------------------------------------- */

/* BEGIN IMMEDIATE on c at depth 0, the writer lock already held (it is
 * released on failure). */
static int tx_begin_locked(struct conn *c)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = stmt_fixed(c, S_BEGIN, &st);
	if (r == 0)
		r = step_done(c, st, "begin");
	if (r < 0) {
		pthread_mutex_unlock(&writer_lock);
		return r;
	}
	c->depth = 1;
	c->failed = false;
	return 0;
}

static int tx_begin(struct conn *c)
{
	if (c->depth > 0) {
		if (c->failed)
			return -EIO;
		c->depth++;
		return 0;
	}
	writer_lock_take();
	return tx_begin_locked(c);
}

static void tx_abort(struct conn *c)
{
	sqlite3_stmt *st = NULL;

	if (!sqlite3_get_autocommit(c->db) && stmt_fixed(c, S_ROLLBACK, &st) == 0)
		step_done(c, st, "rollback");
}

static void (*tx_end_hook)(bool committed);

void store_set_tx_end_hook(void (*fn)(bool committed))
{
	tx_end_hook = fn;
}

static void tx_ended(bool committed)
{
	if (tx_end_hook)
		tx_end_hook(committed);
}

static void tx_rollback(struct conn *c)
{
	if (c->depth == 0) {
		log_debug("store: rollback without a transaction");
		return;
	}
	if (!c->failed) {
		tx_abort(c);
		c->failed = true;
	}
	if (--c->depth == 0) {
		c->failed = false;
		pthread_mutex_unlock(&writer_lock);
		tx_ended(false);
	}
}

static int tx_commit(struct conn *c)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (c->depth == 0) {
		log_debug("store: commit without a transaction");
		return -EIO;
	}
	if (c->failed) {
		if (--c->depth == 0) {
			c->failed = false;
			pthread_mutex_unlock(&writer_lock);
			tx_ended(false);
		}
		return -EIO;
	}
	if (c->depth > 1) {
		c->depth--;
		return 0;
	}
	c->depth = 0;
	r = stmt_fixed(c, S_COMMIT, &st);
	if (r == 0)
		r = step_done(c, st, "commit");
	if (r < 0)
		tx_abort(c);
	pthread_mutex_unlock(&writer_lock);
	tx_ended(r == 0);
	return r;
}

int sq_auto_begin(struct conn *c, bool *own)
{
	int r = 0;

	*own = c->depth == 0;
	if (*own)
		r = tx_begin(c);
	return r;
}

int sq_auto_end(struct conn *c, bool own, int r)
{
	if (!own)
		return r;
	if (r < 0) {
		tx_rollback(c);
		return r;
	}
	return tx_commit(c);
}

int store_begin(void)
{
	struct conn *c = g.open ? pthread_getspecific(g.key) : NULL;
	int r;

	if (c && c->depth > 0)
		return tx_begin(c);
	/* Queue for the writer without holding a pooled connection, then take
	 * one even past the cap: under load, threads holding connections while
	 * they queue would otherwise starve everyone of connections. */
	if (pthread_mutex_trylock(&writer_lock) != 0) {
		store_release();
		pthread_mutex_lock(&writer_lock);
	}
	r = conn_get_cap(&c, true);
	if (r < 0) {
		pthread_mutex_unlock(&writer_lock);
		return r;
	}
	return tx_begin_locked(c);
}

int store_commit(void)
{
	struct conn *c;
	int r = conn_get(&c);

	return r < 0 ? r : tx_commit(c);
}

void store_rollback(void)
{
	struct conn *c;

	if (conn_get(&c) == 0)
		tx_rollback(c);
}

/* --- open, migrations, close ------------------------------------------ */

static int user_version(struct conn *c, int *ret)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(c, rc, "user_version");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int r = sq_err(c, rc, "user_version");

		sqlite3_finalize(st);
		return r;
	}
	*ret = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int migrate(struct conn *c)
{
	const int n = store_nmigrations;
	int v, r;

	for (;;) {
		char set[64];

		r = user_version(c, &v);
		if (r < 0)
			return r;
		if (v > n) {
			log_debug("store: database schema %d is newer than this kumod (%d)", v, n);
			return -EIO;
		}
		if (v == n)
			break;
		r = tx_begin(c);
		if (r < 0)
			return r;
		/* Another process may have migrated while we waited for the lock. */
		r = user_version(c, &v);
		if (r == 0 && v < n) {
			snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
			r = conn_exec(c, store_migrations[v]);
			if (r == 0)
				r = conn_exec(c, set);
			if (r == 0)
				log_debug("store: migrated to schema %d", v + 1);
		}
		if (r < 0) {
			tx_rollback(c);
			return r;
		}
		r = tx_commit(c);
		if (r < 0)
			return r;
	}
	g.version = v;
	return 0;
}

int store_open(const char *path)
{
	pthread_condattr_t ca;
	struct conn *c;
	int r;

	if (g.open)
		return -EALREADY;
	/* No global allocation statistics: they take a global mutex on every
	 * malloc. Refused (harmlessly) once SQLite is initialized. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (pthread_key_create(&g.key, conn_thread_exit) != 0)
		return -EAGAIN;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g.freed, &ca);
	pthread_condattr_destroy(&ca);
	g.path = xstrdup(path);
	g.open = true;
	r = conn_get(&c);
	if (r == 0)
		r = migrate(c);
	if (r < 0)
		store_close();
	return r;
}

void store_close(void)
{
	struct conn *list;

	if (!g.open)
		return;
	pthread_mutex_lock(&g.lock);
	list = g.conns;
	g.conns = NULL;
	g.idle = NULL;
	g.nconns = g.nidle = 0;
	g.nopened = 0;
	g.open = false;
	pthread_key_delete(g.key);
	pthread_mutex_unlock(&g.lock);
	pthread_cond_destroy(&g.freed);
	while (list) {
		struct conn *next = list->next;

		conn_free(list);
		list = next;
	}
	free(g.path);
	g.path = NULL;
	g.version = 0;
}

int store_version(void)
{
	return g.version;
}

/* --- objects ---------------------------------------------------------- */

struct doc_cols {
	const char *id, *account_id, *name, *created_at, *updated_at; /* weak, in the doc */
};

static int doc_cols(const json_t *doc, struct doc_cols *ret)
{
	const char *id = json_string_value(json_object_get(doc, "id"));

	if (!json_is_object(doc) || str_empty(id))
		return -EINVAL;
	ret->id = id;
	ret->account_id = json_string_value(json_object_get(doc, "account_id"));
	ret->name = json_string_value(json_object_get(doc, "name"));
	ret->created_at = json_string_value(json_object_get(doc, "created_at"));
	ret->updated_at = json_string_value(json_object_get(doc, "updated_at"));
	return 0;
}

static char *doc_dump(const json_t *doc)
{
	return json_dumps(doc, JSON_COMPACT);
}

static int name_check(struct conn *c, const char *kind, const struct doc_cols *d)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (!d->name)
		return 0;
	r = stmt_fixed(c, S_NAME_TAKEN, &st);
	if (r == 0)
		r = sq_bind(c, st, "ssss", kind, d->account_id, d->name, d->id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? -EEXIST : rc == SQLITE_DONE ? 0 : sq_err(c, rc, "name check");
	sq_stmt_end(st);
	return r;
}

int store_insert(const char *kind, json_t *doc, bool unique_name)
{
	struct doc_cols d;
	struct conn *c;
	char *text = NULL;
	bool own;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	r = doc_cols(doc, &d);
	if (r < 0)
		return r;
	if (!d.created_at) {
		char *now = time_now_str();

		json_object_set_new(doc, "created_at", json_string(now));
		free(now);
	}
	if (!d.updated_at)
		json_object_set(doc, "updated_at", json_object_get(doc, "created_at"));
	r = doc_cols(doc, &d);
	if (r < 0)
		return r;
	text = doc_dump(doc);
	if (!text)
		return -EINVAL;

	r = sq_auto_begin(c, &own);
	if (r < 0)
		goto out;
	if (unique_name)
		r = name_check(c, kind, &d);
	if (r == 0)
		r = exec_fixed(c, S_INSERT, NULL, "sssssss", d.id, kind, d.account_id, d.name,
		               d.created_at, d.updated_at, text);
	r = sq_auto_end(c, own, r);
out:
	free(text);
	return r;
}

int store_update(const char *kind, json_t *doc, bool unique_name)
{
	struct doc_cols d;
	struct conn *c;
	char *text = NULL, *now;
	int64_t changed = 0;
	bool own;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	if (doc_cols(doc, &d) < 0)
		return -EINVAL;
	now = time_now_str();
	json_object_set_new(doc, "updated_at", json_string(now));
	free(now);
	r = doc_cols(doc, &d);
	if (r < 0)
		return r;
	text = doc_dump(doc);
	if (!text)
		return -EINVAL;

	r = sq_auto_begin(c, &own);
	if (r < 0)
		goto out;
	if (unique_name)
		r = name_check(c, kind, &d);
	if (r == 0)
		r = exec_fixed(c, S_UPDATE, &changed, "ssssss", d.id, kind, d.account_id, d.name,
		               d.updated_at, text);
	if (r == 0 && changed == 0)
		r = -ENOENT;
	r = sq_auto_end(c, own, r);
out:
	free(text);
	return r;
}

int store_delete(const char *kind, const char *id)
{
	int64_t changed = 0;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	r = exec_fixed(c, S_DELETE, &changed, "ss", id, kind);
	if (r == 0 && changed == 0)
		r = -ENOENT;
	return r;
}

/* Steps st for one row whose column 0 is a document. */
static int fetch_doc(struct conn *c, sqlite3_stmt *st, json_t **ret)
{
	int rc = sqlite3_step(st);
	json_t *doc;
	int r;

	if (rc == SQLITE_ROW) {
		doc = sq_col_json(st, 0);
		r = doc ? 0 : -EIO;
		if (doc)
			*ret = doc;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sq_err(c, rc, "get");
	}
	sq_stmt_end(st);
	return r;
}

int store_get(const char *kind, const char *id, const char *account_id, bool include_public,
              json_t **ret)
{
	enum sql_id sid = !account_id ? S_GET : include_public ? S_GET_PUBLIC : S_GET_ACCOUNT;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = stmt_fixed(c, sid, &st);
	if (r == 0)
		r = sq_bind(c, st, account_id ? "sss" : "ss", id, kind, account_id);
	if (r < 0)
		return r;
	return fetch_doc(c, st, ret);
}

int store_get_by_name(const char *kind, const char *name, const char *account_id, json_t **ret)
{
	sqlite3_stmt *st = NULL;
	struct conn *c;
	int r;

	r = sq_conn_use(&c);
	if (r == 0)
		r = stmt_fixed(c, account_id ? S_GET_NAME_ACCOUNT : S_GET_NAME, &st);
	if (r == 0)
		r = sq_bind(c, st, account_id ? "sss" : "ss", kind, name, account_id);
	if (r < 0)
		return r;
	return fetch_doc(c, st, ret);
}

/* --- lists ------------------------------------------------------------ */

static bool is_column(const char *field)
{
	static const char *const cols[] = { "id", "account_id", "name", "created_at",
		                            "updated_at" };

	for (size_t i = 0; i < ARRAY_SIZE(cols); i++)
		if (strcmp(field, cols[i]) == 0)
			return true;
	return false;
}

/* The SQL expression of a field: its column, or its place in the doc. The
 * name goes into the SQL text, so it must be [a-z0-9_]+ whatever the
 * caller checked before. The expression's text must stay the same as in the
 * expression indexes of store_migrations.c, or SQLite will not use them. */
bool sq_field_name_ok(const char *field)
{
	size_t n = strspn(field, "abcdefghijklmnopqrstuvwxyz0123456789_");

	return n > 0 && field[n] == '\0' && n <= 63;
}

static int field_sql(struct buf *b, const char *field)
{
	if (!sq_field_name_ok(field)) {
		log_debug("store: refused field name \"%.64s\"", field);
		return -EINVAL;
	}
	if (is_column(field))
		return buf_puts(b, field);
	return buf_printf(b, "json_extract(doc, '$.%s')", field);
}

static const char *const op_sql[] = {
	[OP_EQ] = " = ?",  [OP_NE] = " IS NOT ?", [OP_GT] = " > ?",      [OP_LT] = " < ?",
	[OP_GE] = " >= ?", [OP_LE] = " <= ?",     [OP_LIKE] = " LIKE ?", [OP_IN] = " IN (",
};

/* Appends " WHERE ..." for kind and q; where_bind binds the same way. */
static int where_sql(struct buf *b, const struct list_query *q)
{
	int r = buf_puts(b, " WHERE kind = ?");

	if (r == 0 && q->account_id)
		r = buf_puts(b, q->include_public ? " AND (account_id = ? OR " PUBLIC_SQL ")"
		                                  : " AND account_id = ?");
	if (q->nfilters < 0 || q->nfilters > QUERY_MAX_FILTERS)
		return -EINVAL;
	for (int i = 0; i < q->nfilters && r == 0; i++) {
		const struct filter *f = &q->filters[i];

		if ((unsigned)f->op >= ARRAY_SIZE(op_sql) || f->nvalues < 1 ||
		    f->nvalues > QUERY_MAX_IN || (f->op != OP_IN && f->nvalues != 1))
			return -EINVAL;
		r = buf_puts(b, " AND ");
		if (r == 0)
			r = field_sql(b, f->field);
		if (r == 0)
			r = buf_puts(b, op_sql[f->op]);
		if (r == 0 && f->op == OP_IN) {
			for (int j = 0; j < f->nvalues && r == 0; j++)
				r = buf_puts(b, j ? ", ?" : "?");
			if (r == 0)
				r = buf_puts(b, ")");
		}
	}
	return r;
}

static int where_bind(sqlite3_stmt *st, const char *kind, const struct list_query *q, int *idx)
{
	int rc = bind_text(st, ++*idx, kind);

	if (rc == SQLITE_OK && q->account_id)
		rc = bind_text(st, ++*idx, q->account_id);
	for (int i = 0; i < q->nfilters && rc == SQLITE_OK; i++) {
		const struct filter *f = &q->filters[i];

		for (int j = 0; j < f->nvalues && rc == SQLITE_OK; j++) {
			if (f->vtype == FV_INT || f->vtype == FV_BOOL)
				rc = sqlite3_bind_int64(st, ++*idx, f->ivalues[j]);
			else if (f->values[j])
				rc = bind_text(st, ++*idx, f->values[j]);
			else
				return -EINVAL;
		}
	}
	return rc == SQLITE_OK ? 0 : -EIO;
}

/* Fields whose expression index (store_migrations.c) picks out a few rows.
 * Without statistics SQLite prefers the created_at index for the ORDER BY
 * and scans every row of the kind, which made each heartbeat's "VMs of
 * this host" read all 10,000 VMs; an equality on one of these fields
 * always narrows more than the sort saves. */
static const struct {
	const char *field, *index;
} selective[] = {
	{ "host_id", "objects_host" },  { "vm_id", "objects_vm" },
	{ "user_id", "objects_user" },  { "state", "objects_state" }, /* only with q->selective */
	{ "status", "objects_status" },                               /* only with q->selective */
};
#define ALWAYS_SELECTIVE 3

static const char *selective_index(const struct list_query *q)
{
	for (int i = 0; i < q->nfilters; i++) {
		const struct filter *f = &q->filters[i];

		if (f->op != OP_EQ && f->op != OP_IN)
			continue;
		for (size_t j = 0; j < (q->selective ? ARRAY_SIZE(selective) : ALWAYS_SELECTIVE);
		     j++)
			if (!strcmp(f->field, selective[j].field))
				return selective[j].index;
	}
	return NULL;
}

/* Builds "<head> FROM objects WHERE ...<tail>" and gets its statement,
 * bound up to the WHERE clause; *ret_idx is the last parameter bound. */

static int list_stmt(struct conn *c, const char *head, const char *kind, const struct list_query *q,
                     const char *sort_field, bool desc, sqlite3_stmt **ret, int *ret_idx)
{
	return sq_list_stmt(c, head, kind, q, sort_field, desc, NULL, ret, ret_idx);
}

/* list_stmt with text appended after LIMIT/OFFSET (to close a subquery). */
int sq_list_stmt(struct conn *c, const char *head, const char *kind, const struct list_query *q,
                 const char *sort_field, bool desc, const char *tail, sqlite3_stmt **ret,
                 int *ret_idx)
{
	sqlite3_stmt *st = NULL;
	struct buf b;
	int idx = 0, r;

	buf_init(&b, SQL_MAX);
	r = buf_puts(&b, head);
	if (r == 0)
		r = buf_puts(&b, " FROM objects");
	if (r == 0 && selective_index(q))
		r = buf_printf(&b, " INDEXED BY %s", selective_index(q));
	if (r == 0)
		r = where_sql(&b, q);
	if (r == 0 && sort_field) {
		r = buf_puts(&b, " ORDER BY ");
		if (r == 0)
			r = field_sql(&b, sort_field);
		if (r == 0)
			/* ties in insertion order (rowid: updates keep it),
			 * so items made in the same millisecond page stably */
			r = buf_puts(&b, desc ? " DESC, rowid DESC LIMIT ? OFFSET ?"
			                      : " ASC, rowid ASC LIMIT ? OFFSET ?");
	}
	if (r == 0 && tail)
		r = buf_puts(&b, tail);
	if (r < 0)
		goto out;
	r = sq_stmt(c, b.data, &st);
	if (r < 0)
		goto out;
	r = where_bind(st, kind, q, &idx);
	if (r < 0) {
		sq_stmt_end(st);
		goto out;
	}
	*ret = st;
	*ret_idx = idx;
out:
	buf_free(&b);
	return r == -EMSGSIZE ? -EINVAL : r;
}

/* Runs a query whose single row holds one integer. */
int sq_query_int(struct conn *c, sqlite3_stmt *st, int64_t *ret)
{
	int rc = sqlite3_step(st);
	int r = 0;

	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else
		r = sq_err(c, rc, "aggregate");
	sq_stmt_end(st);
	return r;
}

int sq_aggregate(const char *kind, const struct list_query *q, const char *field, int64_t *ret)
{
	struct list_query empty;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	struct buf head;
	int idx, r;

	if (!q) {
		list_query_init(&empty);
		q = &empty;
	}
	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	buf_init(&head, 256);
	if (field) {
		r = buf_puts(&head, "SELECT COALESCE(SUM(");
		if (r == 0)
			r = field_sql(&head, field);
		if (r == 0)
			r = buf_puts(&head, "), 0)");
	} else {
		r = buf_puts(&head, "SELECT COUNT(*)");
	}
	if (r == 0)
		r = list_stmt(c, head.data, kind, q, NULL, false, &st, &idx);
	buf_free(&head);
	if (r < 0)
		return r;
	return sq_query_int(c, st, ret);
}

int store_list(const char *kind, const struct list_query *q, json_t **ret_items, int64_t *ret_total)
{
	struct list_query empty;
	json_t *items = NULL;
	int64_t total = 0;
	sqlite3_stmt *st = NULL;
	struct conn *c;
	bool snapshot = false;
	int idx, rc, r;

	if (!q) {
		list_query_init(&empty);
		q = &empty;
	}
	r = sq_conn_use(&c);
	if (r < 0)
		return r;
	/* Items and total from one snapshot when the caller has no transaction. */
	if (ret_total) {
		r = sq_snapshot_begin(c, &snapshot);
		if (r < 0)
			return r;
	}

	r = list_stmt(c, "SELECT doc", kind, q, q->sort[0] ? q->sort : "created_at", q->sort_desc,
	              &st, &idx);
	if (r < 0)
		goto out;
	rc = sqlite3_bind_int64(st, ++idx, q->limit > 0 ? q->limit : -1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, ++idx, q->offset > 0 ? q->offset : 0);
	if (rc != SQLITE_OK) {
		sq_stmt_end(st);
		r = sq_err(c, rc, "bind");
		goto out;
	}
	items = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *doc = sq_col_json(st, 0);

		if (!doc) {
			rc = SQLITE_CORRUPT;
			break;
		}
		json_array_append_new(items, doc);
	}
	if (rc != SQLITE_DONE)
		r = sq_err(c, rc, "list");
	sq_stmt_end(st);
	if (r == 0 && ret_total) {
		r = list_stmt(c, "SELECT COUNT(*)", kind, q, NULL, false, &st, &idx);
		if (r == 0)
			r = sq_query_int(c, st, &total);
	}
out:
	sq_snapshot_end(c, snapshot);
	if (r < 0) {
		json_decref(items);
		return r;
	}
	*ret_items = items;
	if (ret_total)
		*ret_total = total;
	return 0;
}

int sq_snapshot_begin(struct conn *c, bool *own)
{
	sqlite3_stmt *st = NULL;
	int r;

	*own = false;
	if (c->depth > 0)
		return 0;
	r = stmt_fixed(c, S_BEGIN_READ, &st);
	if (r == 0)
		r = step_done(c, st, "begin");
	if (r == 0)
		*own = true;
	return r;
}

void sq_snapshot_end(struct conn *c, bool own)
{
	if (own)
		tx_abort(c); /* read-only: nothing to commit */
}

int store_count(const char *kind, const struct list_query *q, int64_t *ret)
{
	return sq_aggregate(kind, q, NULL, ret);
}

int store_sum(const char *kind, const struct list_query *q, const char *field, int64_t *ret)
{
	if (!field)
		return -EINVAL;
	return sq_aggregate(kind, q, field, ret);
}
