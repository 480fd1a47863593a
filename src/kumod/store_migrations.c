// SPDX-License-Identifier: MIT
/*
 * The SQLite store's schema, as an ordered list of migrations. The runner
 * (migrate() in store_sqlite.c) applies each one not yet applied in its own
 * transaction and sets PRAGMA user_version to the number applied, so a
 * database of any earlier version is brought up to date at start.
 *
 * Never edit a migration that has shipped: append a new one.
 */
#include "kumod/store_sqlite.h"

const char *const store_migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE objects ("
	"  id TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  account_id TEXT,"
	"  name TEXT,"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  doc TEXT NOT NULL,"
	"  PRIMARY KEY(kind, id));" /* store.h: keyed by (kind, id) */
	"CREATE INDEX objects_kind_account ON objects(kind, account_id, created_at);"
	"CREATE INDEX objects_kind_name ON objects(kind, name);"
	"CREATE INDEX objects_kind_created ON objects(kind, created_at);"

	"CREATE TABLE idempotency ("
	"  account_id TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  body TEXT,"
	"  location TEXT,"
	"  created_at INTEGER NOT NULL," /* ms since the epoch */
	"  PRIMARY KEY(account_id, key));"
	"CREATE INDEX idempotency_created ON idempotency(created_at);"

	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  resource_kind TEXT,"
	"  resource_id TEXT,"
	"  account_id TEXT,"
	"  data TEXT);"
	"CREATE INDEX events_account ON events(account_id, seq);"

	"CREATE TABLE commands ("
	"  id TEXT PRIMARY KEY,"
	"  host_id TEXT NOT NULL,"
	"  seq INTEGER NOT NULL," /* insertion order */
	"  type TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  job_id TEXT,"
	"  state TEXT NOT NULL DEFAULT 'queued' CHECK(state IN ('queued', 'sent', 'done')),"
	"  created_at TEXT NOT NULL,"
	"  sent_at INTEGER);" /* ms since the epoch */
	"CREATE INDEX commands_host_state ON commands(host_id, state);"
	"CREATE UNIQUE INDEX commands_seq ON commands(seq);"

	"CREATE TABLE ip_allocations ("
	"  l3_id TEXT NOT NULL,"
	"  ip INTEGER NOT NULL,"
	"  owner_id TEXT,"
	"  PRIMARY KEY(l3_id, ip));"
	"CREATE INDEX ip_allocations_owner ON ip_allocations(owner_id);",

	/* 2: indexes on the document fields that hot paths filter on: pending
	 * jobs (workers), VMs and volumes of a host or VM (heartbeats,
	 * reconciliation, destroy), connected hosts (scheduler, liveness),
	 * sessions and keys of a user. The expressions match the ones
	 * store_sqlite.c builds for filters, so SQLite uses them. */
	"CREATE INDEX objects_state ON objects(kind, json_extract(doc, '$.state'));"
	"CREATE INDEX objects_status ON objects(kind, json_extract(doc, '$.status'));"
	"CREATE INDEX objects_host ON objects(kind, json_extract(doc, '$.host_id'));"
	"CREATE INDEX objects_vm ON objects(kind, json_extract(doc, '$.vm_id'));"
	"CREATE INDEX objects_user ON objects(kind, json_extract(doc, '$.user_id'));",

	/* 3: when a command was done (ms since the epoch), so that done ones
	 * can be deleted after a while (store_cmd_expire); those done before
	 * this migration count from it. */
	"ALTER TABLE commands ADD COLUMN done_at INTEGER;"
	"UPDATE commands SET done_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000"
	"  WHERE state = 'done';"
	"CREATE INDEX commands_done ON commands(done_at);",

	/* 4: commands not done, oldest first (store_cmd_overdue). */
	"CREATE INDEX commands_open ON commands(state, created_at);",

	/* 5: node telemetry (store_telemetry.h): hosts that sent it, with the
	 * last thermal event seq stored and the sensor slots of their history
	 * rows; raw samples and their aggregates, one row per host and time
	 * with every sensor's values in a blob. WITHOUT ROWID: the primary
	 * key is the only index these tables need. */
	"CREATE TABLE telemetry_hosts ("
	"  key INTEGER PRIMARY KEY,"
	"  host_id TEXT NOT NULL UNIQUE,"
	"  event_seq INTEGER NOT NULL DEFAULT 0,"
	"  sensors TEXT NOT NULL DEFAULT '[]');"
	"CREATE TABLE telemetry_raw ("
	"  host_key INTEGER NOT NULL,"
	"  ts INTEGER NOT NULL," /* ms since the epoch */
	"  vals BLOB NOT NULL,"
	"  PRIMARY KEY(host_key, ts)) WITHOUT ROWID;"
	"CREATE TABLE telemetry_agg ("
	"  host_key INTEGER NOT NULL,"
	"  ts INTEGER NOT NULL," /* start of the bucket */
	"  n INTEGER NOT NULL,"  /* raw rows folded in */
	"  vals BLOB NOT NULL,"
	"  PRIMARY KEY(host_key, ts)) WITHOUT ROWID;",
};

const int store_nmigrations = (int)(sizeof(store_migrations) / sizeof(store_migrations[0]));
