// SPDX-License-Identifier: MIT
/*
 * Unit tests for the SQLite store (kumod/store_sqlite*.c) on a real database
 * in a temporary directory: migrations, objects and account scoping, unique
 * names, list filters/sort/paging, transactions (nested, rolled back, from
 * several threads), the connection pool, idempotency keys, events, agent
 * commands (and their expiry) and IP allocations.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/json.h"
#include "common/util.h"
#include "kumod/query.h"
#include "kumod/store.h"
#include "kumod/store_sqlite.h"

static char tmpdir[64];
static char dbpath[128];

static const struct field item_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "vcpus", FT_INT, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "shared", FT_BOOL, F_FILTER, 0, 0, NULL, NULL, NULL },
	{ .name = NULL },
};
static const struct schema item_schema = { "Item", item_fields };

static void rm_db_files(void)
{
	static const char *const files[] = { "kumo.db", "kumo.db-wal", "kumo.db-shm", "newer.db" };
	char p[160];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
		unlink(p);
	}
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kumo-test-store-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/kumo.db", tmpdir);
	return store_open(dbpath) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	store_close();
	rm_db_files();
	rmdir(tmpdir);
	return 0;
}

/* A document of kind-agnostic shape; extra is merged in (may be NULL). */
static json_t *mkdoc(const char *id, const char *account, const char *name, const char *created,
                     const char *extra)
{
	json_t *doc = json_pack("{s:s,s:s?,s:s?,s:s,s:s}", "id", id, "account_id", account, "name",
	                        name, "created_at", created, "updated_at", created);

	assert_non_null(doc);
	if (extra) {
		json_t *x = json_loads(extra, 0, NULL);

		assert_non_null(x);
		json_object_update(doc, x);
		json_decref(x);
	}
	return doc;
}

static int insert(const char *kind, const char *id, const char *account, const char *name,
                  const char *created, const char *extra, bool unique)
{
	json_t *doc = mkdoc(id, account, name, created, extra);
	int r = store_insert(kind, doc, unique);

	json_decref(doc);
	return r;
}

/* The ids of a list, comma-joined, in order ("" when empty); static buffer. */
static const char *ids_of(const json_t *items)
{
	static char out[1024];
	const json_t *it;
	size_t i;

	out[0] = '\0';
	json_array_foreach(items, i, it)
	{
		if (i)
			strcat(out, ",");
		strcat(out, jstr(it, "id"));
	}
	return out;
}

/* Lists kind with the given filters (NULL-terminated q expressions). */
static const char *list_ids(const char *kind, const char *sort, int64_t *ret_total, ...)
{
	struct list_query q;
	json_t *items = NULL;
	const char *expr, *out;
	struct kerr e;
	va_list ap;

	list_query_init(&q);
	va_start(ap, ret_total);
	while ((expr = va_arg(ap, const char *)))
		assert_int_equal(query_parse_filter(&q, &item_schema, expr, &e), 0);
	va_end(ap);
	if (sort)
		assert_int_equal(query_parse_params(&q, &item_schema, NULL, NULL, sort, NULL, &e),
		                 0);
	assert_int_equal(store_list(kind, &q, &items, ret_total), 0);
	out = ids_of(items);
	json_decref(items);
	list_query_free(&q);
	return out;
}

static void test_migrations(void **state)
{
	char other[160];
	sqlite3 *db;
	sqlite3_stmt *st;
	json_t *doc = NULL;

	assert_int_equal(store_version(), store_nmigrations);
	assert_true(store_version() >= 1);
	assert_int_equal(insert("mig", "m1", NULL, "keep", "2026-01-01T00:00:00.000Z", NULL, true),
	                 0);

	/* Reopening runs no migration twice and keeps the data. */
	store_close();
	assert_int_equal(store_get("mig", "m1", NULL, false, &doc), -EIO); /* closed */
	assert_int_equal(store_open(dbpath), 0);
	assert_int_equal(store_version(), store_nmigrations);
	assert_int_equal(store_get("mig", "m1", NULL, false, &doc), 0);
	assert_string_equal(jstr(doc, "name"), "keep");
	json_decref(doc);
	assert_int_equal(store_open(dbpath), -EALREADY);

	/* The file is in WAL mode at the recorded version. */
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), store_nmigrations);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* A database from a newer kumod is refused. */
	store_close();
	snprintf(other, sizeof(other), "%s/newer.db", tmpdir);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(other), -EIO);
	unlink(other);
	assert_int_equal(store_open(dbpath), 0);
}

static void test_crud(void **state)
{
	json_t *doc, *got = NULL;
	const char *t1 = "2000-01-01T00:00:00.000Z";

	doc = mkdoc("c1", "acct-a", "one", t1, "{\"vcpus\":2,\"nested\":{\"x\":[1,true,null]}}");
	assert_int_equal(store_insert("crud", doc, true), 0);
	assert_int_equal(store_get("crud", "c1", NULL, false, &got), 0);
	assert_true(json_equal(doc, got));
	json_decref(got);

	/* Same id, same kind: a conflict; same id in another kind is another object. */
	assert_int_equal(store_insert("crud", doc, false), -EEXIST);
	assert_int_equal(store_insert("crud-other", doc, false), 0);
	assert_int_equal(store_get("crud-other", "c1", NULL, false, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("nokind", "c1", NULL, false, &got), -ENOENT);

	/* Update replaces the document and sets updated_at. */
	jset_int(doc, "vcpus", 4);
	assert_int_equal(store_update("crud", doc, true), 0);
	assert_string_not_equal(jstr(doc, "updated_at"), t1);
	assert_string_equal(jstr(doc, "created_at"), t1);
	assert_int_equal(store_get("crud", "c1", NULL, false, &got), 0);
	assert_int_equal(jint(got, "vcpus", 0), 4);
	assert_string_equal(jstr(got, "updated_at"), jstr(doc, "updated_at"));
	json_decref(got);
	assert_int_equal(store_get("crud-other", "c1", NULL, false, &got), 0);
	assert_int_equal(jint(got, "vcpus", 0), 2); /* the other kind's copy is untouched */
	json_decref(got);

	/* Delete, then everything is -ENOENT. */
	assert_int_equal(store_delete("crud", "c1"), 0);
	assert_int_equal(store_get("crud", "c1", NULL, false, &got), -ENOENT);
	assert_int_equal(store_delete("crud", "c1"), -ENOENT);
	assert_int_equal(store_update("crud", doc, false), -ENOENT);
	json_decref(doc);

	/* Missing timestamps are filled in; a doc without an id is refused. */
	doc = json_pack("{s:s,s:n,s:n}", "id", "c2", "account_id", "name");
	assert_int_equal(store_insert("crud", doc, true), 0);
	assert_non_null(jstr(doc, "created_at"));
	assert_string_equal(jstr(doc, "created_at"), jstr(doc, "updated_at"));
	json_decref(doc);
	doc = json_pack("{s:s}", "name", "noid");
	assert_int_equal(store_insert("crud", doc, false), -EINVAL);
	json_decref(doc);
}

static void test_account_scope(void **state)
{
	json_t *got = NULL;
	int64_t total = -1;
	struct list_query q;
	json_t *items;

	assert_int_equal(insert("scope", "a1", "A", "a1", "2026-01-01T00:00:01Z", NULL, true), 0);
	assert_int_equal(insert("scope", "b1", "B", "b1", "2026-01-01T00:00:02Z", NULL, true), 0);
	assert_int_equal(insert("scope", "b2", "B", "b2", "2026-01-01T00:00:03Z",
	                        "{\"visibility\":\"public\"}", true),
	                 0);
	assert_int_equal(
	    insert("scope", "b3", "B", "b3", "2026-01-01T00:00:04Z", "{\"shared\":true}", true), 0);
	assert_int_equal(insert("scope", "b4", "B", "b4", "2026-01-01T00:00:05Z",
	                        "{\"shared\":false,\"visibility\":\"private\"}", true),
	                 0);

	assert_int_equal(store_get("scope", "b1", "A", false, &got), -ENOENT);
	assert_int_equal(store_get("scope", "b1", "A", true, &got), -ENOENT);
	assert_int_equal(store_get("scope", "b2", "A", false, &got), -ENOENT);
	assert_int_equal(store_get("scope", "b2", "A", true, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("scope", "b3", "A", true, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("scope", "b4", "A", true, &got), -ENOENT);
	assert_int_equal(store_get("scope", "b1", "B", false, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("scope", "b1", NULL, false, &got), 0);
	json_decref(got);

	list_query_init(&q);
	q.account_id = "A";
	assert_int_equal(store_list("scope", &q, &items, &total), 0);
	assert_string_equal(ids_of(items), "a1");
	assert_int_equal(total, 1);
	json_decref(items);
	q.include_public = true;
	assert_int_equal(store_list("scope", &q, &items, &total), 0);
	assert_string_equal(ids_of(items), "a1,b2,b3");
	assert_int_equal(total, 3);
	json_decref(items);
	q.account_id = "B";
	assert_int_equal(store_list("scope", &q, &items, &total), 0);
	assert_string_equal(ids_of(items), "b1,b2,b3,b4");
	json_decref(items);
	q.account_id = NULL;
	q.include_public = false;
	assert_int_equal(store_list("scope", &q, &items, &total), 0);
	assert_int_equal(total, 5);
	json_decref(items);
	assert_int_equal(store_count("scope", &q, &total), 0);
	assert_int_equal(total, 5);
	list_query_free(&q);
	/* q may be NULL: everything of the kind. */
	assert_int_equal(store_list("scope", NULL, &items, NULL), 0);
	assert_int_equal(json_array_size(items), 5);
	json_decref(items);
}

static void test_unique_names(void **state)
{
	const char *t = "2026-01-01T00:00:00.000Z";
	json_t *doc, *got = NULL;

	assert_int_equal(insert("uniq", "u1", "A", "web", t, NULL, true), 0);
	assert_int_equal(insert("uniq", "u2", "A", "web", t, NULL, true), -EEXIST);
	assert_int_equal(insert("uniq", "u3", "B", "web", t, NULL, true), 0);
	assert_int_equal(insert("uniq-other", "u4", "A", "web", t, NULL, true), 0);
	assert_int_equal(insert("uniq", "u5", "A", "web", t, NULL, false), 0); /* not asked */
	/* Global objects (account null) are unique among themselves. */
	assert_int_equal(insert("uniq", "g1", NULL, "zone", t, NULL, true), 0);
	assert_int_equal(insert("uniq", "g2", NULL, "zone", t, NULL, true), -EEXIST);
	/* Null names are never checked. */
	assert_int_equal(insert("uniq", "n1", "A", NULL, t, NULL, true), 0);
	assert_int_equal(insert("uniq", "n2", "A", NULL, t, NULL, true), 0);
	/* The failed inserts left nothing behind. */
	assert_int_equal(store_get("uniq", "u2", NULL, false, &got), -ENOENT);
	assert_int_equal(store_get("uniq", "g2", NULL, false, &got), -ENOENT);

	/* Updates: keeping one's own name is fine, taking another's is not. */
	assert_int_equal(insert("uniq", "u6", "A", "db", t, NULL, true), 0);
	assert_int_equal(store_get("uniq", "u6", NULL, false, &doc), 0);
	jset_str(doc, "state", "x");
	assert_int_equal(store_update("uniq", doc, true), 0);
	jset_str(doc, "name", "web");
	assert_int_equal(store_update("uniq", doc, true), -EEXIST);
	json_decref(doc);
	assert_int_equal(store_get("uniq", "u6", NULL, false, &got), 0);
	assert_string_equal(jstr(got, "name"), "db");
	json_decref(got);

	/* By name: first match by creation, scoped by account when given. */
	assert_int_equal(store_get_by_name("uniq", "web", "B", &got), 0);
	assert_string_equal(jstr(got, "id"), "u3");
	json_decref(got);
	assert_int_equal(store_get_by_name("uniq", "db", "B", &got), -ENOENT);
	assert_int_equal(store_get_by_name("uniq", "zone", NULL, &got), 0);
	assert_string_equal(jstr(got, "id"), "g1");
	json_decref(got);
	assert_int_equal(store_get_by_name("uniq", "nope", NULL, &got), -ENOENT);
}

/* Five items with distinct creation times (ids in creation order). */
static void fill_list_kind(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	assert_int_equal(insert("lst", "i1", "A", "alpha", "2026-01-01T00:00:01.000Z",
	                        "{\"state\":\"running\",\"vcpus\":1,\"shared\":true}", false),
	                 0);
	assert_int_equal(insert("lst", "i2", "A", "beta", "2026-01-01T00:00:02.000Z",
	                        "{\"state\":\"stopped\",\"vcpus\":2,\"shared\":false}", false),
	                 0);
	assert_int_equal(insert("lst", "i3", "B", "gamma", "2026-01-01T00:00:03.000Z",
	                        "{\"state\":\"running\",\"vcpus\":4}", false),
	                 0);
	assert_int_equal(insert("lst", "i4", "B", "alphabet", "2026-01-01T00:00:04.000Z",
	                        "{\"state\":\"paused\",\"vcpus\":8,\"shared\":true}", false),
	                 0);
	assert_int_equal(insert("lst", "i5", NULL, "delta_x", "2026-01-01T00:00:05.000Z",
	                        "{\"vcpus\":16}", false),
	                 0);
}

static void test_list_filters(void **state)
{
	int64_t total = -1;

	fill_list_kind();
	assert_string_equal(list_ids("lst", NULL, &total, NULL), "i1,i2,i3,i4,i5");
	assert_int_equal(total, 5);

	/* Column fields. */
	assert_string_equal(list_ids("lst", NULL, NULL, "name=beta", NULL), "i2");
	assert_string_equal(list_ids("lst", NULL, NULL, "name!=beta", NULL), "i1,i3,i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "name>beta", NULL), "i3,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "name<beta", NULL), "i1,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "name>=beta", NULL), "i2,i3,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "name<=beta", NULL), "i1,i2,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "name~=alpha%", NULL), "i1,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "name~=%ta%", NULL), "i2,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "name~=delta_x", NULL), "i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "name?=gamma,beta,zzz", NULL), "i2,i3");
	assert_string_equal(list_ids("lst", NULL, NULL, "account_id=B", NULL), "i3,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "id?=i5,i1", NULL), "i1,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "created_at>=2026-01-01T00:00:04", NULL),
	                    "i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "updated_at<2026-01-01T00:00:02", NULL),
	                    "i1");

	/* Document fields: strings. NE also matches documents without the field. */
	assert_string_equal(list_ids("lst", NULL, NULL, "state=running", NULL), "i1,i3");
	assert_string_equal(list_ids("lst", NULL, NULL, "state!=running", NULL), "i2,i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "state~=%p%", NULL), "i2,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "state?=paused,stopped", NULL), "i2,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "state>r", NULL), "i1,i2,i3");

	/* Document fields: integers compare as numbers (2 < 16, unlike "2" > "16"). */
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus=4", NULL), "i3");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus!=4", NULL), "i1,i2,i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus>2", NULL), "i3,i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus<8", NULL), "i1,i2,i3");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus>=8", NULL), "i4,i5");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus<=2", NULL), "i1,i2");
	assert_string_equal(list_ids("lst", NULL, NULL, "vcpus?=16,1,3", NULL), "i1,i5");

	/* Booleans. */
	assert_string_equal(list_ids("lst", NULL, NULL, "shared=true", NULL), "i1,i4");
	assert_string_equal(list_ids("lst", NULL, NULL, "shared=false", NULL), "i2");
	assert_string_equal(list_ids("lst", NULL, NULL, "shared!=true", NULL), "i2,i3,i5");

	/* Filters are ANDed. */
	assert_string_equal(
	    list_ids("lst", NULL, &total, "vcpus>1", "state?=running,paused", "name~=%a%", NULL),
	    "i3,i4");
	assert_int_equal(total, 2);
	assert_string_equal(list_ids("lst", NULL, &total, "vcpus>100", NULL), "");
	assert_int_equal(total, 0);
}

static void test_list_sort_page(void **state)
{
	struct list_query q;
	json_t *items;
	int64_t total = -1;
	struct kerr e;

	fill_list_kind();
	assert_string_equal(list_ids("lst", "-created_at", NULL, NULL), "i5,i4,i3,i2,i1");
	assert_string_equal(list_ids("lst", "name", NULL, NULL), "i1,i4,i2,i5,i3");
	assert_string_equal(list_ids("lst", "-name", NULL, NULL), "i3,i5,i2,i4,i1");
	assert_string_equal(list_ids("lst", "vcpus", NULL, NULL), "i1,i2,i3,i4,i5");
	assert_string_equal(list_ids("lst", "-vcpus", NULL, NULL), "i5,i4,i3,i2,i1");
	/* Missing values (NULL) sort first ascending; ties keep insertion order. */
	assert_string_equal(list_ids("lst", "state", NULL, NULL), "i5,i4,i1,i3,i2");
	assert_string_equal(list_ids("lst", "-state", NULL, NULL), "i2,i3,i1,i4,i5");
	assert_int_equal(insert("tie", "t2", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false), 0);
	assert_int_equal(insert("tie", "t1", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false), 0);
	assert_int_equal(insert("tie", "t3", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false), 0);
	/* equal sort keys keep insertion order (not id order) */
	assert_string_equal(list_ids("tie", NULL, NULL, NULL), "t2,t1,t3");
	assert_string_equal(list_ids("tie", "-created_at", NULL, NULL), "t3,t1,t2");

	/* limit/offset page; total ignores them. */
	list_query_init(&q);
	assert_int_equal(query_parse_params(&q, &item_schema, "2", "1", "vcpus", NULL, &e), 0);
	assert_int_equal(store_list("lst", &q, &items, &total), 0);
	assert_string_equal(ids_of(items), "i2,i3");
	assert_int_equal(total, 5);
	json_decref(items);
	assert_int_equal(query_parse_params(&q, &item_schema, "2", "4", NULL, NULL, &e), 0);
	assert_int_equal(store_list("lst", &q, &items, &total), 0);
	assert_string_equal(ids_of(items), "i5");
	json_decref(items);
	assert_int_equal(query_parse_params(&q, &item_schema, NULL, "10", NULL, NULL, &e), 0);
	assert_int_equal(store_list("lst", &q, &items, &total), 0);
	assert_int_equal(json_array_size(items), 0);
	assert_int_equal(total, 5);
	json_decref(items);
	/* limit <= 0 from code means no limit. */
	q.limit = 0;
	q.offset = 0;
	assert_int_equal(store_list("lst", &q, &items, NULL), 0);
	assert_int_equal(json_array_size(items), 5);
	json_decref(items);
	list_query_free(&q);
}

static void test_count_sum(void **state)
{
	struct list_query q;
	int64_t n = -1;
	struct kerr e;

	fill_list_kind();
	list_query_init(&q);
	assert_int_equal(store_count("lst", &q, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(store_sum("lst", &q, "vcpus", &n), 0);
	assert_int_equal(n, 31);
	q.account_id = "B";
	assert_int_equal(store_sum("lst", &q, "vcpus", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(query_parse_filter(&q, &item_schema, "state=running", &e), 0);
	assert_int_equal(store_count("lst", &q, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_sum("lst", &q, "vcpus", &n), 0);
	assert_int_equal(n, 4);
	list_query_free(&q);
	assert_int_equal(store_sum("nothing-here", NULL, "vcpus", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_count("nothing-here", NULL, &n), 0);
	assert_int_equal(n, 0);
	/* A field name that is not [a-z0-9_]+ never reaches the SQL. */
	assert_int_equal(store_sum("lst", NULL, "vcpus') --", &n), -EINVAL);
	assert_int_equal(store_sum("lst", NULL, "", &n), -EINVAL);
}

static void test_list_bad_fields(void **state)
{
	struct list_query q;
	json_t *items = NULL;
	int64_t n;

	fill_list_kind();
	list_query_init(&q);
	assert_int_equal(query_add_eq(&q, "state", "running"), 0);
	assert_int_equal(store_list("lst", &q, &items, NULL), 0);
	assert_string_equal(ids_of(items), "i1,i3");
	json_decref(items);
	items = NULL;
	list_query_free(&q);

	list_query_init(&q);
	assert_int_equal(query_add_eq(&q, "x' OR 1=1 --", "v"), 0);
	assert_int_equal(store_list("lst", &q, &items, &n), -EINVAL);
	assert_null(items);
	assert_int_equal(store_count("lst", &q, &n), -EINVAL);
	list_query_free(&q);

	list_query_init(&q);
	assert_int_equal(query_add_eq(&q, "State", "running"), 0);
	assert_int_equal(store_list("lst", &q, &items, NULL), -EINVAL);
	list_query_free(&q);

	list_query_init(&q);
	snprintf(q.sort, sizeof(q.sort), "vcpus desc; --");
	assert_int_equal(store_list("lst", &q, &items, NULL), -EINVAL);
	list_query_free(&q);
}

/* Many distinct list statements: the per-connection cache recycles them. */
static void test_statement_cache(void **state)
{
	char expr[512];
	struct list_query q;
	json_t *items;
	struct kerr e;

	fill_list_kind();
	for (int n = 1; n <= QUERY_MAX_IN; n++) {
		for (int desc = 0; desc < 2; desc++) {
			char *p = expr + sprintf(expr, "vcpus?=");

			for (int i = 0; i < n; i++)
				p += sprintf(p, i ? ",%d" : "%d", 1 << (i % 5));
			list_query_init(&q);
			assert_int_equal(query_parse_filter(&q, &item_schema, expr, &e), 0);
			assert_int_equal(query_parse_params(&q, &item_schema, NULL, NULL,
			                                    desc ? "-vcpus" : "vcpus", NULL, &e),
			                 0);
			assert_int_equal(store_list("lst", &q, &items, NULL), 0);
			assert_string_equal(ids_of(items),
			                    n >= 5   ? (desc ? "i5,i4,i3,i2,i1" : "i1,i2,i3,i4,i5")
			                    : n == 1 ? "i1"
			                    : n == 2 ? (desc ? "i2,i1" : "i1,i2")
			                    : n == 3 ? (desc ? "i3,i2,i1" : "i1,i2,i3")
			                             : (desc ? "i4,i3,i2,i1" : "i1,i2,i3,i4"));
			json_decref(items);
			list_query_free(&q);
		}
	}
}

static void test_transactions(void **state)
{
	const char *t = "2026-01-01T00:00:00Z";
	json_t *got = NULL;
	int64_t n;

	/* Nested commits: only the outermost one writes. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "a", NULL, "a", t, NULL, true), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "b", NULL, "b", t, NULL, true), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_count("tx", NULL, &n), 0);
	assert_int_equal(n, 2);

	/* An inner rollback dooms the whole transaction. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "c", NULL, "c", t, NULL, true), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "d", NULL, "d", t, NULL, true), 0);
	store_rollback();
	/* Until the outer level ends, the store refuses work. */
	assert_int_equal(insert("tx", "e", NULL, "e", t, NULL, true), -EIO);
	assert_int_equal(store_get("tx", "a", NULL, false, &got), -EIO);
	assert_int_equal(store_begin(), -EIO);
	assert_int_equal(store_commit(), -EIO);
	assert_int_equal(store_count("tx", NULL, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_get("tx", "c", NULL, false, &got), -ENOENT);
	assert_int_equal(store_get("tx", "e", NULL, false, &got), -ENOENT);

	/* The same, ended by an outer rollback; then a fresh transaction works. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "f", NULL, "f", t, NULL, true), 0);
	store_rollback();
	store_rollback();
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "g", NULL, "g", t, NULL, true), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_get("tx", "g", NULL, false, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("tx", "f", NULL, false, &got), -ENOENT);

	/* A failed insert inside a transaction leaves the transaction usable. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("tx", "h", NULL, "a", t, NULL, true), -EEXIST);
	assert_int_equal(insert("tx", "i", NULL, "i", t, NULL, true), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_count("tx", NULL, &n), 0);
	assert_int_equal(n, 4); /* a b g i */

	/* A plain rollback discards; unbalanced calls are harmless. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_delete("tx", "a"), 0);
	store_rollback();
	assert_int_equal(store_get("tx", "a", NULL, false, &got), 0);
	json_decref(got);
	store_rollback();
	assert_int_equal(store_commit(), -EIO);
	assert_int_equal(insert("tx", "j", NULL, "j", t, NULL, true), 0);
}

#define NTHREADS 4
#define PER_THREAD 100

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg, fails = 0;
	char id[32];

	for (int i = 0; i < PER_THREAD; i++) {
		json_t *counter = NULL;
		int r;

		snprintf(id, sizeof(id), "t%d-%d", t, i);
		r = store_begin();
		if (r == 0)
			r = insert("thr", id, NULL, id, "2026-01-01T00:00:00Z", NULL, true);
		/* Read-modify-write of one counter: lost updates would show. */
		if (r == 0)
			r = store_get("ctr", "counter", NULL, false, &counter);
		if (r == 0) {
			jset_int(counter, "n", jint(counter, "n", 0) + 1);
			r = store_update("ctr", counter, false);
			json_decref(counter);
		}
		if (r == 0)
			r = store_commit();
		else
			store_rollback();
		/* A write outside any transaction, racing the others. */
		if (r == 0)
			r = store_event_add("thr", "thr", id, NULL, NULL, NULL);
		if (r < 0)
			fails++;
	}
	/* A transaction left open at thread exit must not block the others. */
	if (t == 0)
		store_begin();
	return (void *)(intptr_t)fails;
}

static void test_threads(void **state)
{
	pthread_t th[NTHREADS];
	json_t *counter, *evs;
	int64_t n;

	assert_int_equal(
	    insert("ctr", "counter", NULL, NULL, "2026-01-01T00:00:00Z", "{\"n\":0}", false), 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *fails;

		assert_int_equal(pthread_join(th[i], &fails), 0);
		assert_int_equal((intptr_t)fails, 0);
	}
	assert_int_equal(store_count("thr", NULL, &n), 0);
	assert_int_equal(n, NTHREADS * PER_THREAD);
	assert_int_equal(store_get("ctr", "counter", NULL, false, &counter), 0);
	assert_int_equal(jint(counter, "n", -1), NTHREADS * PER_THREAD);
	json_decref(counter);
	assert_int_equal(store_event_list(0, NULL, 0, &evs), 0);
	assert_int_equal(json_array_size(evs), NTHREADS * PER_THREAD);
	json_decref(evs);
	assert_int_equal(store_event_expire(0), 0);
	/* Writers are not stuck behind the abandoned transaction. */
	assert_int_equal(insert("thr", "after", NULL, "after", "2026-01-01T00:00:00Z", NULL, true),
	                 0);
}

static void test_idempotency(void **state)
{
	char *body = NULL, *loc = NULL;
	int status = 0;

	assert_int_equal(store_idem_get("A", "k1", "POST", "/v1/vms", &status, &body, &loc),
	                 -ENOENT);
	assert_int_equal(
	    store_idem_put("A", "k1", "POST", "/v1/vms", 201, "{\"id\":\"x\"}", "/v1/vms/x"), 0);
	assert_int_equal(store_idem_put("A", "k2", "POST", "/v1/zones", 400, "{}", NULL), 0);
	assert_int_equal(store_idem_get("A", "k1", "POST", "/v1/vms", &status, &body, &loc), 0);
	assert_int_equal(status, 201);
	assert_string_equal(body, "{\"id\":\"x\"}");
	assert_string_equal(loc, "/v1/vms/x");
	free(body);
	free(loc);
	assert_int_equal(store_idem_get("A", "k2", "POST", "/v1/zones", &status, &body, &loc), 0);
	assert_int_equal(status, 400);
	assert_null(loc);
	free(body);

	/* The key reused for another call; another account's key space. */
	body = loc = NULL;
	status = 0;
	assert_int_equal(store_idem_get("A", "k1", "POST", "/v1/zones", &status, &body, &loc),
	                 -EEXIST);
	assert_int_equal(store_idem_get("A", "k1", "DELETE", "/v1/vms", &status, &body, &loc),
	                 -EEXIST);
	assert_null(body);
	assert_int_equal(status, 0);
	assert_int_equal(store_idem_get("B", "k1", "POST", "/v1/vms", &status, &body, &loc),
	                 -ENOENT);
	assert_int_equal(store_idem_put("A", "k1", "POST", "/v1/vms", 201, "{}", NULL), -EEXIST);
	assert_int_equal(store_idem_put(NULL, "k1", "POST", "/v1/vms", 201, "{}", NULL), 0);

	/* Expiry by age. */
	assert_int_equal(store_idem_expire(60 * 1000), 0);
	assert_int_equal(store_idem_get("A", "k1", "POST", "/v1/vms", NULL, NULL, NULL), 0);
	usleep(5000);
	assert_int_equal(store_idem_expire(1), 0);
	assert_int_equal(store_idem_get("A", "k1", "POST", "/v1/vms", NULL, NULL, NULL), -ENOENT);
	assert_int_equal(store_idem_get(NULL, "k1", "POST", "/v1/vms", NULL, NULL, NULL), -ENOENT);
}

static void test_events(void **state)
{
	int64_t s1 = 0, s2 = 0, s3 = 0, s4 = 0;
	json_t *data = json_pack("{s:s,s:i}", "state", "running", "n", 3), *list, *ev;

	assert_int_equal(store_event_last_seq(), 0);
	assert_int_equal(store_event_add("vm.state", "vms", "v1", "A", data, &s1), 0);
	assert_int_equal(store_event_add("vm.state", "vms", "v2", "B", NULL, &s2), 0);
	assert_int_equal(store_event_add("host.status", "hosts", "h1", NULL, data, &s3), 0);
	assert_true(s1 > 0 && s2 > s1 && s3 > s2);
	assert_int_equal(store_event_last_seq(), s3);

	assert_int_equal(store_event_list(0, NULL, 100, &list), 0);
	assert_int_equal(json_array_size(list), 3);
	ev = json_array_get(list, 0);
	assert_int_equal(jint(ev, "id", 0), s1);
	assert_non_null(jstr(ev, "time"));
	assert_string_equal(jstr(ev, "type"), "vm.state");
	assert_string_equal(jstr(ev, "resource_kind"), "vms");
	assert_string_equal(jstr(ev, "resource_id"), "v1");
	assert_string_equal(jstr(ev, "account_id"), "A");
	assert_true(json_equal(json_object_get(ev, "data"), data));
	ev = json_array_get(list, 1);
	assert_true(json_is_null(json_object_get(ev, "data")));
	ev = json_array_get(list, 2);
	assert_true(json_is_null(json_object_get(ev, "account_id")));
	json_decref(list);

	assert_int_equal(store_event_list(s1, NULL, 100, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(jint(json_array_get(list, 0), "id", 0), s2);
	json_decref(list);
	assert_int_equal(store_event_list(0, NULL, 1, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(store_event_list(0, "B", 100, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(jint(json_array_get(list, 0), "id", 0), s2);
	json_decref(list);
	assert_int_equal(store_event_list(s3, NULL, 100, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	/* Expiry keeps the newest; sequence numbers are never reused. */
	assert_int_equal(store_event_expire(1), 0);
	assert_int_equal(store_event_list(0, NULL, 100, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(jint(json_array_get(list, 0), "id", 0), s3);
	json_decref(list);
	assert_int_equal(store_event_expire(0), 0);
	assert_int_equal(store_event_add("x", NULL, NULL, NULL, NULL, &s4), 0);
	assert_true(s4 > s3);
	json_decref(data);
}

static void test_commands(void **state)
{
	json_t *p1 = json_pack("{s:s}", "vm", "v1"), *list, *cmd;

	assert_int_equal(store_cmd_add("c1", "h1", "vm.start", p1, "j1"), 0);
	assert_int_equal(store_cmd_add("c2", "h1", "vm.stop", NULL, NULL), 0);
	assert_int_equal(store_cmd_add("c3", "h2", "vm.start", p1, NULL), 0);
	assert_int_equal(store_cmd_add("c1", "h1", "again", p1, NULL), -EEXIST);

	/* Queued commands come in order, once. */
	assert_int_equal(store_cmd_take("h1", 60000, 10, &list), 0);
	assert_string_equal(ids_of(list), "c1,c2");
	cmd = json_array_get(list, 0);
	assert_string_equal(jstr(cmd, "type"), "vm.start");
	assert_true(json_equal(json_object_get(cmd, "payload"), p1));
	assert_true(json_is_null(json_object_get(json_array_get(list, 1), "payload")));
	json_decref(list);
	assert_int_equal(store_cmd_take("h1", 60000, 10, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(store_cmd_take("h1", -1, 10, &list), 0); /* never resend */
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	/* Sent but unanswered past resend_after_ms: delivered again, max at a time. */
	usleep(3000);
	assert_int_equal(store_cmd_take("h1", 1, 1, &list), 0);
	assert_string_equal(ids_of(list), "c1");
	json_decref(list);
	assert_int_equal(store_cmd_take("h1", 60000, 0, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	assert_int_equal(store_cmd_get("c1", &cmd), 0);
	assert_string_equal(jstr(cmd, "id"), "c1");
	assert_string_equal(jstr(cmd, "host_id"), "h1");
	assert_string_equal(jstr(cmd, "type"), "vm.start");
	assert_string_equal(jstr(cmd, "job_id"), "j1");
	assert_string_equal(jstr(cmd, "state"), "sent");
	assert_true(json_equal(json_object_get(cmd, "payload"), p1));
	json_decref(cmd);
	assert_int_equal(store_cmd_get("c3", &cmd), 0);
	assert_string_equal(jstr(cmd, "state"), "queued");
	assert_true(json_is_null(json_object_get(cmd, "job_id")));
	json_decref(cmd);
	assert_int_equal(store_cmd_get("nope", &cmd), -ENOENT);

	/* Done commands are neither pending nor resent. */
	assert_int_equal(store_cmd_done("c1"), 0);
	assert_int_equal(store_cmd_done("nope"), -ENOENT);
	assert_int_equal(store_cmd_get("c1", &cmd), 0);
	assert_string_equal(jstr(cmd, "state"), "done");
	json_decref(cmd);
	assert_int_equal(store_cmd_pending("h1", &list), 0);
	assert_string_equal(ids_of(list), "c2");
	json_decref(list);
	assert_int_equal(store_cmd_pending(NULL, &list), 0);
	assert_string_equal(ids_of(list), "c2,c3");
	json_decref(list);
	usleep(3000);
	assert_int_equal(store_cmd_take("h1", 1, 10, &list), 0);
	assert_string_equal(ids_of(list), "c2");
	json_decref(list);

	/* New commands queue behind older ones. */
	assert_int_equal(store_cmd_add("c0", "h2", "later", NULL, NULL), 0);
	assert_int_equal(store_cmd_take("h2", 60000, 10, &list), 0);
	assert_string_equal(ids_of(list), "c3,c0");
	json_decref(list);

	assert_int_equal(store_cmd_delete_host("h1"), 0);
	assert_int_equal(store_cmd_pending("h1", &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(store_cmd_get("c1", &cmd), -ENOENT);
	assert_int_equal(store_cmd_get("c3", &cmd), 0);
	json_decref(cmd);
	json_decref(p1);
}

/* The SQLite handle of the calling thread's connection. */
static sqlite3 *my_db(void)
{
	struct conn *c = NULL;

	assert_int_equal(sq_conn_use(&c), 0);
	return sq_db(c);
}

struct pool_thread {
	pthread_barrier_t *barrier; /* weak; may be NULL */
	int waits;                  /* at the barrier (0 = once) */
	bool release_first;         /* store_release before the barrier */
	bool release;               /* store_release before exiting */
	bool leave_tx;              /* exit inside a transaction */
	sqlite3 *db;                /* out: the connection it used */
	int r;                      /* out: the store calls' result */
	atomic_bool done;           /* out: its store calls are over */
};

static void *pool_worker(void *arg)
{
	struct pool_thread *t = arg;
	int64_t n;

	t->r = store_count("pool", NULL, &n);
	t->db = my_db();
	if (t->leave_tx && store_begin() == 0)
		t->r = insert("pool", "left", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false);
	atomic_store(&t->done, true);
	if (t->release_first)
		store_release();
	for (int i = 0; t->barrier && i < (t->waits ? t->waits : 1); i++)
		pthread_barrier_wait(t->barrier);
	if (t->release)
		store_release();
	return NULL;
}

static void run_pool_threads(struct pool_thread *t, int n)
{
	pthread_t th[64];

	assert_true(n <= 64);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &t[i]), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(t[i].r, 0);
}

/* Threads that release their connection hand it on: 50 threads, five at a
 * time, open no more than five connections; and the pool keeps a bounded
 * number idle after a burst. */
static void test_pool_reuse(void **state)
{
	struct pool_thread t[40];
	pthread_barrier_t barrier;
	int open, idle, open0, idle0;
	int64_t opened, opened0;
	pthread_t th;

	my_db();
	store_release();
	store_release(); /* holding none: a no-op */
	sq_pool_stats(&open0, &idle0, &opened0);
	assert_int_equal(open0, idle0); /* nobody holds one */

	/* A thread that released gets on without its connection, which the
	 * next thread takes. */
	memset(t, 0, sizeof(t));
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
	t[0].barrier = &barrier;
	t[0].waits = 2;
	t[0].release_first = true;
	t[1].release = true;
	assert_int_equal(pthread_create(&th, NULL, pool_worker, &t[0]), 0);
	pthread_barrier_wait(&barrier); /* t[0] has released, and lives on */
	run_pool_threads(&t[1], 1);
	pthread_barrier_wait(&barrier);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&barrier);
	assert_int_equal(t[0].r, 0);
	assert_ptr_equal(t[0].db, t[1].db);

	assert_int_equal(pthread_barrier_init(&barrier, NULL, 5), 0);
	for (int batch = 0; batch < 10; batch++) {
		memset(t, 0, sizeof(t));
		for (int i = 0; i < 5; i++) {
			t[i].barrier = &barrier; /* all five hold one at once */
			t[i].release = true;
		}
		run_pool_threads(t, 5);
		for (int i = 1; i < 5; i++)
			for (int j = 0; j < i; j++)
				assert_ptr_not_equal(t[i].db, t[j].db);
	}
	pthread_barrier_destroy(&barrier);
	sq_pool_stats(&open, &idle, &opened);
	assert_true(opened - opened0 <= 5);
	assert_int_equal(open, idle);

	/* A burst of 40 at once: the extras past the idle cap are closed. */
	sq_pool_stats(&open0, &idle0, &opened0);
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 40), 0);
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 40; i++) {
		t[i].barrier = &barrier;
		t[i].release = true;
	}
	run_pool_threads(t, 40);
	pthread_barrier_destroy(&barrier);
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(opened - opened0, 40 - (idle0 < 40 ? idle0 : 40));
	assert_int_equal(open, idle);
	assert_true(idle > 0 && idle <= SQ_POOL_IDLE_MAX);

	/* The main thread takes one again on its next call. */
	assert_int_equal(insert("pool", "p2", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false), 0);
	sq_pool_stats(&open, &idle0, &opened0);
	assert_int_equal(idle0, idle - 1);
	assert_int_equal(opened0, opened);
}

/* No more than SQ_POOL_MAX connections are open: a thread past that waits
 * for one to come back. */
static void test_pool_cap(void **state)
{
	struct pool_thread t[SQ_POOL_MAX + 1];
	pthread_t th[SQ_POOL_MAX + 1];
	pthread_barrier_t barrier;
	int open, idle;
	int64_t opened;
	bool reused = false;

	store_release();
	memset(t, 0, sizeof(t));
	assert_int_equal(pthread_barrier_init(&barrier, NULL, SQ_POOL_MAX + 1), 0);
	for (int i = 0; i < SQ_POOL_MAX; i++) {
		t[i].barrier = &barrier;
		t[i].waits = 2;
		t[i].release = true;
		assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &t[i]), 0);
	}
	pthread_barrier_wait(&barrier); /* every one holds a connection */
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(open, SQ_POOL_MAX);
	assert_int_equal(idle, 0);

	assert_int_equal(pthread_create(&th[SQ_POOL_MAX], NULL, pool_worker, &t[SQ_POOL_MAX]), 0);
	usleep(200 * 1000);
	assert_false(atomic_load(&t[SQ_POOL_MAX].done)); /* waits for a connection */
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(open, SQ_POOL_MAX);

	pthread_barrier_wait(&barrier); /* the holders release theirs and exit */
	for (int i = 0; i <= SQ_POOL_MAX; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&barrier);
	for (int i = 0; i <= SQ_POOL_MAX; i++)
		assert_int_equal(t[i].r, 0);
	for (int i = 0; i < SQ_POOL_MAX; i++)
		reused = reused || t[i].db == t[SQ_POOL_MAX].db;
	assert_true(reused);
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(open, idle);
	assert_true(idle <= SQ_POOL_IDLE_MAX);
}

/* store_release inside a transaction keeps the connection: the transaction
 * goes on and commits. */
static void test_pool_release_in_tx(void **state)
{
	const char *t = "2026-01-01T00:00:00Z";
	int open, idle, open0, idle0;
	int64_t opened, opened0;
	json_t *got = NULL;
	sqlite3 *db;

	db = my_db();
	sq_pool_stats(&open0, &idle0, &opened0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("ptx", "a", NULL, "a", t, NULL, true), 0);
	store_release();
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("ptx", "b", NULL, "b", t, NULL, true), 0);
	store_release(); /* nested: still a no-op */
	assert_int_equal(store_commit(), 0);
	store_release(); /* outer level still open */
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(idle, idle0);
	assert_int_equal(opened, opened0);
	assert_ptr_equal(my_db(), db);
	assert_false(sqlite3_get_autocommit(db)); /* the transaction is still open */
	assert_int_equal(store_commit(), 0);
	assert_true(sqlite3_get_autocommit(db));

	/* Committed, and now the release gives the connection back. */
	store_release();
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(idle, idle0 + 1);
	assert_int_equal(store_get("ptx", "a", NULL, false, &got), 0);
	json_decref(got);
	assert_int_equal(store_get("ptx", "b", NULL, false, &got), 0);
	json_decref(got);

	/* A rolled-back transaction: release waits for its outermost end too. */
	db = my_db();
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_begin(), 0);
	assert_int_equal(insert("ptx", "c", NULL, "c", t, NULL, true), 0);
	store_rollback();
	store_release();
	store_rollback();
	store_release();
	assert_int_equal(store_get("ptx", "c", NULL, false, &got), -ENOENT);
	assert_ptr_equal(my_db(), db); /* the same one, back from the pool */
}

/* A thread that exits holding a connection gives it back to the pool, also
 * from inside a transaction, which is rolled back. */
static void test_pool_thread_exit(void **state)
{
	struct pool_thread t[2];
	int open, idle, open0, idle0;
	int64_t opened, opened0;
	json_t *got = NULL;

	my_db();
	store_release();
	sq_pool_stats(&open0, &idle0, &opened0);
	assert_true(idle0 >= 1);

	memset(t, 0, sizeof(t));
	run_pool_threads(&t[0], 1); /* no store_release */
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(idle, idle0);
	assert_int_equal(opened, opened0);

	t[1].leave_tx = true;
	run_pool_threads(&t[1], 1);
	assert_ptr_equal(t[1].db, t[0].db);
	sq_pool_stats(&open, &idle, &opened);
	assert_int_equal(idle, idle0);
	assert_int_equal(opened, opened0);

	/* Its transaction was rolled back and the writer lock let go. */
	assert_ptr_equal(my_db(), t[0].db);
	assert_true(sqlite3_get_autocommit(my_db()));
	assert_int_equal(store_get("pool", "left", NULL, false, &got), -ENOENT);
	assert_int_equal(insert("pool", "after", NULL, NULL, "2026-01-01T00:00:00Z", NULL, false),
	                 0);
}

/* Done commands older than the limit go; newer ones, and undone ones of any
 * age, stay. */
static void test_cmd_expire(void **state)
{
	json_t *cmd = NULL;
	char *err = NULL;

	assert_int_equal(store_cmd_add("x-old", "hx", "vm.start", NULL, NULL), 0);
	assert_int_equal(store_cmd_add("x-new", "hx", "vm.start", NULL, NULL), 0);
	assert_int_equal(store_cmd_add("x-sent", "hx", "vm.start", NULL, NULL), 0);
	assert_int_equal(store_cmd_add("x-queued", "hx", "vm.start", NULL, NULL), 0);
	assert_int_equal(store_cmd_take("hx", 60000, 3, &cmd), 0);
	json_decref(cmd);
	assert_int_equal(store_cmd_done("x-old"), 0);
	assert_int_equal(store_cmd_done("x-new"), 0);
	/* Two hours pass for x-old's result, and for the others' creation. */
	assert_int_equal(sqlite3_exec(my_db(),
	                              "UPDATE commands SET done_at = done_at - 7200000 "
	                              "WHERE id = 'x-old';"
	                              "UPDATE commands SET sent_at = sent_at - 7200000, "
	                              "created_at = '2000-01-01T00:00:00.000Z' WHERE id <> 'x-new'",
	                              NULL, NULL, &err),
	                 SQLITE_OK);
	sqlite3_free(err);

	assert_int_equal(store_cmd_expire(3600LL * 1000), 0);
	assert_int_equal(store_cmd_get("x-old", &cmd), -ENOENT);
	assert_int_equal(store_cmd_get("x-new", &cmd), 0);
	assert_string_equal(jstr(cmd, "state"), "done");
	json_decref(cmd);
	assert_int_equal(store_cmd_get("x-sent", &cmd), 0);
	assert_string_equal(jstr(cmd, "state"), "sent");
	json_decref(cmd);
	assert_int_equal(store_cmd_get("x-queued", &cmd), 0);
	assert_string_equal(jstr(cmd, "state"), "queued");
	json_decref(cmd);

	/* With no age limit every done one goes. */
	usleep(2000);
	assert_int_equal(store_cmd_expire(0), 0);
	assert_int_equal(store_cmd_get("x-new", &cmd), -ENOENT);
	assert_int_equal(store_cmd_get("x-sent", &cmd), 0);
	json_decref(cmd);
}

static void test_ips(void **state)
{
	uint32_t *ips = NULL;
	int64_t n = -1;
	int nips = -1;

	assert_int_equal(store_ip_take("l3a", 0x0a00000a, "vm1"), 0);
	assert_int_equal(store_ip_take("l3a", 0x0a00000a, "vm2"), -EEXIST);
	assert_int_equal(store_ip_take("l3a", 0x0a00000b, "vm1"), 0);
	assert_int_equal(store_ip_take("l3a", 0x0a000005, "vm2"), 0);
	assert_int_equal(store_ip_take("l3a", 0xfffffffe, "vm3"), 0);
	assert_int_equal(store_ip_take("l3b", 0x0a00000a, "vm2"), 0); /* another network */

	assert_int_equal(store_ip_list("l3a", &ips, &nips), 0);
	assert_int_equal(nips, 4);
	assert_int_equal(ips[0], 0x0a000005);
	assert_int_equal(ips[1], 0x0a00000a);
	assert_int_equal(ips[2], 0x0a00000b);
	assert_int_equal(ips[3], 0xfffffffe);
	free(ips);
	assert_int_equal(store_ip_count("l3a", &n), 0);
	assert_int_equal(n, 4);

	assert_int_equal(store_ip_release("l3a", 0x0a00000a), 0);
	assert_int_equal(store_ip_release("l3a", 0x0a00000a), -ENOENT);
	assert_int_equal(store_ip_take("l3a", 0x0a00000a, "vm2"), 0); /* free again */
	assert_int_equal(store_ip_release_owner("vm1"), 0);
	assert_int_equal(store_ip_list("l3a", &ips, &nips), 0);
	assert_int_equal(nips, 3);
	assert_int_equal(ips[0], 0x0a000005);
	assert_int_equal(ips[1], 0x0a00000a);
	free(ips);
	assert_int_equal(store_ip_release_owner("vm2"), 0);
	assert_int_equal(store_ip_count("l3b", &n), 0);
	assert_int_equal(n, 0);

	/* Inside a rolled-back transaction a take leaves nothing. */
	assert_int_equal(store_begin(), 0);
	assert_int_equal(store_ip_take("l3c", 1, "vm9"), 0);
	store_rollback();
	assert_int_equal(store_ip_count("l3c", &n), 0);
	assert_int_equal(n, 0);
	ips = (uint32_t *)&n; /* must be replaced */
	assert_int_equal(store_ip_list("l3c", &ips, &nips), 0);
	assert_int_equal(nips, 0);
	free(ips);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrations),       cmocka_unit_test(test_crud),
		cmocka_unit_test(test_account_scope),    cmocka_unit_test(test_unique_names),
		cmocka_unit_test(test_list_filters),     cmocka_unit_test(test_list_sort_page),
		cmocka_unit_test(test_count_sum),        cmocka_unit_test(test_list_bad_fields),
		cmocka_unit_test(test_statement_cache),  cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_threads),          cmocka_unit_test(test_idempotency),
		cmocka_unit_test(test_events),           cmocka_unit_test(test_commands),
		cmocka_unit_test(test_cmd_expire),       cmocka_unit_test(test_pool_reuse),
		cmocka_unit_test(test_pool_cap),         cmocka_unit_test(test_pool_release_in_tx),
		cmocka_unit_test(test_pool_thread_exit), cmocka_unit_test(test_ips),
	};

	return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
