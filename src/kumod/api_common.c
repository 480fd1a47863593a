// SPDX-License-Identifier: MIT
/*
 * The generic handlers every resource file builds on: list (filters, sort,
 * fields, pages), get, create, update (PATCH) and delete, with tenancy
 * (another account's object is a 404), Idempotency-Key replay and job
 * answers with ?wait. Resource files add only what is particular to them
 * through the hooks of struct kind.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/jobs.h"
#include "kumod/store.h"

#define WAIT_MAX_S 300

void api_reply_error(struct http_response *resp, const struct kerr *e)
{
	http_reply_kerr(resp, e);
}

static const char *scope_account(const struct kind *k, struct http_request *req)
{
	if (IS_ADMIN(req) || k->scope == SCOPE_GLOBAL)
		return NULL;
	return AUTH(req)->account_id;
}

const char *api_owner_account(struct http_request *req, const json_t *body)
{
	const char *a = body ? jstr(body, "account_id") : NULL;

	if (a && IS_ADMIN(req))
		return a;
	return AUTH(req)->account_id;
}

json_t *api_new_doc(const struct kind *k, struct http_request *req, const json_t *body)
{
	json_t *doc = body ? json_deep_copy(body) : json_object();
	char id[UUID_LEN + 1];
	char *now = time_now_str();

	uuid_new(id);
	jset_str(doc, "id", id);
	if (k->scope == SCOPE_GLOBAL || k->scope == SCOPE_SELF)
		json_object_set_new(doc, "account_id", json_null());
	else
		jset_str(doc, "account_id", api_owner_account(req, body));
	if (!json_object_get(doc, "name"))
		json_object_set_new(doc, "name", json_null());
	jset_str(doc, "created_at", now);
	jset_str(doc, "updated_at", now);
	free(now);
	return doc;
}

json_t *api_present(const struct kind *k, const json_t *doc)
{
	json_t *out = json_deep_copy(doc);

	for (int i = 0; k->hidden && k->hidden[i]; i++)
		json_object_del(out, k->hidden[i]);
	if (k->present)
		k->present(out);
	for (const struct field *f = k->schema->fields; f->name; f++)
		if (f->flags & F_WRITEONLY)
			json_object_del(out, f->name);
	return out;
}

int api_load(const struct kind *k, struct http_request *req, const char *id, bool for_write,
             json_t **ret, struct kerr *e)
{
	const char *acct = scope_account(k, req);
	bool pub = k->scope == SCOPE_ACCOUNT_PUBLIC && !for_write;
	int r;

	if (!id || !uuid_valid(id))
		return kerr_set(e, -ENOENT, "", "no %s with id %s", k->singular, id ? id : "");
	if (k->scope == SCOPE_SELF && acct) {
		if (strcmp(id, acct) != 0)
			return kerr_set(e, -ENOENT, "", "no %s with id %s", k->singular, id);
		acct = NULL;
	}
	r = store_get(k->name, id, acct, pub, ret);
	if (r == 0 && k->visible && !k->visible(req, *ret)) {
		json_decref(*ret);
		*ret = NULL;
		r = -ENOENT;
	}
	if (r == -ENOENT)
		return kerr_set(e, -ENOENT, "", "no %s with id %s", k->singular, id);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read %s %s", k->singular, id);
	return 0;
}

int api_ref(const struct kind *k, struct http_request *req, const char *id, const char *field,
            json_t **ret, struct kerr *e)
{
	json_t *doc = NULL;
	int r;

	r = api_load(k, req, id, false, &doc, e);
	if (r == -ENOENT) {
		kerr_set(e, -EINVAL, field, "%s: no %s with id %s", field, k->singular,
		         id ? id : "");
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (ret)
		*ret = doc;
	else
		json_decref(doc);
	return 0;
}

struct q_collect {
	struct list_query *q;
	const struct schema *s;
	struct kerr *e;
	int r;
};

static void collect_q(void *cls, const char *key, const char *value)
{
	struct q_collect *c = cls;

	if (c->r < 0 || strcmp(key, "q") != 0)
		return;
	c->r = query_parse_filter(c->q, c->s, value ? value : "", c->e);
}

/* Event type for a kind: "<singular>.<what>", with the singular in
 * snake_case ("L2 network" -> "l2_network.created"). */
static void event_type(const struct kind *k, const char *what, char *out, size_t outlen)
{
	size_t n = 0;

	for (const char *p = k->singular; *p && n + 1 < outlen; p++)
		out[n++] = *p == ' ' ? '_' : (char)tolower((unsigned char)*p);
	snprintf(out + n, outlen - n, ".%s", what);
}

/* The changed fields of a PATCH for its event, without write-only ones
 * (a new password must not land in the event log). New reference. */
static json_t *event_changes(const struct kind *k, const json_t *body)
{
	const struct schema *schemas[] = { k->schema, k->update };
	json_t *d = json_deep_copy(body);

	for (size_t i = 0; i < ARRAY_SIZE(schemas); i++)
		for (const struct field *f = schemas[i] ? schemas[i]->fields : NULL; f && f->name;
		     f++)
			if (f->flags & F_WRITEONLY)
				json_object_del(d, f->name);
	return d;
}

/* The keys never answered for k: its hidden ones and its write-only fields. */
static void hidden_keys(const struct kind *k, const char **out, size_t max)
{
	size_t n = 0;

	for (int i = 0; k->hidden && k->hidden[i] && n + 1 < max; i++)
		out[n++] = k->hidden[i];
	for (const struct field *f = k->schema->fields; f->name && n + 1 < max; f++)
		if (f->flags & F_WRITEONLY)
			out[n++] = f->name;
	out[n] = NULL;
}

/* Lists of kinds without a present hook: the store writes the JSON. */
static int list_text(const struct kind *k, const struct list_query *q, struct http_response *resp,
                     struct kerr *e)
{
	const char *hidden[16];
	char *items = NULL, *body;
	int64_t total = 0;
	int r;

	hidden_keys(k, hidden, ARRAY_SIZE(hidden));
	r = store_list_text(k->name, q, hidden, &items, &total);
	if (r < 0)
		return kerr_set(e, r, "", "cannot list %s", k->name);
	body = xasprintf("{\"items\":%s,\"total\":%lld}\n", items, (long long)total);
	http_reply_raw(resp, 200, "application/json", body, strlen(body));
	free(body);
	free(items);
	return 0;
}

/* GET of kinds without present or visible hooks: the store writes the JSON. */
static bool get_text(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	const char *id = http_param(req, "id");
	const char *hidden[16];
	struct kerr e = { 0 };
	char *doc = NULL;
	int r;

	if (k->present || k->visible || k->scope == SCOPE_SELF)
		return false;
	if (!id || !uuid_valid(id)) {
		kerr_set(&e, -ENOENT, "", "no %s with id %s", k->singular, id ? id : "");
		api_reply_error(resp, &e);
		return true;
	}
	hidden_keys(k, hidden, ARRAY_SIZE(hidden));
	r = store_get_text(k->name, id, scope_account(k, req), k->scope == SCOPE_ACCOUNT_PUBLIC,
	                   hidden, &doc);
	if (r < 0) {
		if (r == -ENOENT)
			kerr_set(&e, r, "", "no %s with id %s", k->singular, id);
		else
			kerr_set(&e, r, "", "cannot read %s %s", k->singular, id);
		api_reply_error(resp, &e);
		return true;
	}
	http_reply_raw(resp, 200, "application/json", doc, strlen(doc));
	free(doc);
	return true;
}

void api_list(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	struct list_query q;
	struct kerr e = { 0 };
	struct q_collect qc = { &q, k->schema, &e, 0 };
	json_t *items = NULL, *out, *it;
	int64_t total = 0;
	size_t i;
	int r;

	list_query_init(&q);
	r = query_parse_params(&q, k->schema, http_query(req, "limit"), http_query(req, "offset"),
	                       http_query(req, "sort"), http_query(req, "fields"), &e);
	if (r < 0)
		goto fail;
	http_query_each(req, collect_q, &qc);
	if (qc.r < 0) {
		r = qc.r;
		goto fail;
	}
	q.account_id = scope_account(k, req);
	q.include_public = k->scope == SCOPE_ACCOUNT_PUBLIC;
	if (k->scope == SCOPE_SELF && q.account_id) {
		query_add_eq(&q, "id", q.account_id);
		q.account_id = NULL;
	}
	if (k->narrow)
		k->narrow(req, &q);
	if (!k->present && !q.fields) {
		r = list_text(k, &q, resp, &e);
		list_query_free(&q);
		if (r < 0)
			api_reply_error(resp, &e);
		return;
	}
	r = store_list(k->name, &q, &items, &total);
	if (r < 0) {
		kerr_set(&e, r, "", "cannot list %s", k->name);
		goto fail;
	}
	out = json_array();
	json_array_foreach(items, i, it)
	{
		json_t *p = api_present(k, it);

		if (q.fields) {
			json_t *pr = jproject(p, q.fields);

			json_decref(p);
			p = pr;
		}
		json_array_append_new(out, p);
	}
	json_decref(items);
	http_reply_json(resp, 200,
	                json_pack("{s:o,s:I}", "items", out, "total", (json_int_t)total));
	list_query_free(&q);
	return;
fail:
	list_query_free(&q);
	api_reply_error(resp, &e);
}

void api_get(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *doc = NULL, *out;
	const char *fields = http_query(req, "fields");
	struct list_query q;
	int r;

	if (!fields && get_text(k, req, resp))
		return;
	/* The same fields check as lists: an unknown field is a 400. */
	list_query_init(&q);
	r = query_parse_params(&q, k->schema, NULL, NULL, NULL, fields, &e);
	list_query_free(&q);
	if (r < 0 || api_load(k, req, http_param(req, "id"), false, &doc, &e) < 0) {
		api_reply_error(resp, &e);
		return;
	}
	out = api_present(k, doc);
	json_decref(doc);
	if (fields) {
		json_t *p = jproject(out, fields);

		json_decref(out);
		out = p;
	}
	http_reply_json(resp, 200, out);
}

static int insert_error(const struct kind *k, int r, const json_t *doc, struct kerr *e)
{
	if (r == -EEXIST)
		return kerr_set(e, -EEXIST, "name", "a %s named \"%s\" already exists", k->singular,
		                jstr(doc, "name") ? jstr(doc, "name") : "");
	return kerr_set(e, r, "", "cannot store the %s", k->singular);
}

void api_create(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *doc;
	int r;

	if (api_idem_replay(req, resp))
		return;
	doc = api_new_doc(k, req, req->body);
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto fail;
	}
	if (k->on_create) {
		r = k->on_create(req, doc, &e);
		if (r < 0)
			goto rollback;
	}
	r = store_insert(k->name, doc, k->unique_name);
	if (r < 0) {
		insert_error(k, r, doc, &e);
		goto rollback;
	}
	{
		char type[64];

		event_type(k, "created", type, sizeof(type));
		event_emit(type, k->name, jstr(doc, "id"), jstr(doc, "account_id"), NULL);
	}
	r = api_reply_created(req, resp, k->name, api_present(k, doc));
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the %s", k->singular);
		goto fail;
	}
	json_decref(doc);
	return;
rollback:
	store_rollback();
fail:
	json_decref(doc);
	api_reply_error(resp, &e);
}

void api_update(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *old = NULL, *doc;
	const char *key;
	json_t *v;
	int r;

	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		api_reply_error(resp, &e);
		return;
	}
	r = api_load(k, req, http_param(req, "id"), true, &old, &e);
	if (r < 0)
		goto fail;
	doc = json_deep_copy(old);
	json_object_foreach(req->body, key, v) json_object_set(doc, key, v);
	if (k->on_update) {
		r = k->on_update(req, old, doc, &e);
		if (r < 0) {
			json_decref(doc);
			goto fail;
		}
	}
	r = store_update(k->name, doc, k->unique_name);
	if (r < 0) {
		insert_error(k, r, doc, &e);
		json_decref(doc);
		goto fail;
	}
	{
		char type[64];

		json_t *changes = event_changes(k, req->body);

		event_type(k, "updated", type, sizeof(type));
		event_emit(type, k->name, jstr(doc, "id"), jstr(doc, "account_id"), changes);
		json_decref(changes);
	}
	r = store_commit();
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the %s", k->singular);
		json_decref(doc);
		json_decref(old);
		api_reply_error(resp, &e);
		return;
	}
	http_reply_json(resp, 200, api_present(k, doc));
	json_decref(doc);
	json_decref(old);
	return;
fail:
	store_rollback();
	json_decref(old);
	api_reply_error(resp, &e);
}

void api_delete(const struct kind *k, struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *doc = NULL;
	int r;

	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		api_reply_error(resp, &e);
		return;
	}
	r = api_load(k, req, http_param(req, "id"), true, &doc, &e);
	if (r < 0)
		goto fail;
	if (k->on_delete) {
		r = k->on_delete(req, doc, &e);
		if (r < 0)
			goto fail;
	}
	r = store_delete(k->name, jstr(doc, "id"));
	if (r < 0) {
		kerr_set(&e, r, "", "cannot delete the %s", k->singular);
		goto fail;
	}
	{
		char type[64];

		event_type(k, "deleted", type, sizeof(type));
		event_emit(type, k->name, jstr(doc, "id"), jstr(doc, "account_id"), NULL);
	}
	r = store_commit();
	if (r < 0) {
		kerr_set(&e, r, "", "cannot delete the %s", k->singular);
		json_decref(doc);
		api_reply_error(resp, &e);
		return;
	}
	json_decref(doc);
	http_reply_json(resp, 204, NULL);
	return;
fail:
	store_rollback();
	json_decref(doc);
	api_reply_error(resp, &e);
}

/* --- idempotency ---------------------------------------------------------- */

static const char *idem_key(const struct http_request *req)
{
	const char *k = http_header(req, "Idempotency-Key");

	if (!k || !*k || strlen(k) > 128 || strcmp(req->method, "POST") != 0 || !req->auth)
		return NULL;
	return k;
}

bool api_idem_replay(struct http_request *req, struct http_response *resp)
{
	const char *key = idem_key(req), *raw = http_header(req, "Idempotency-Key");
	char *body = NULL, *loc = NULL;
	int status = 0, r;

	/* A key that cannot be kept must not be ignored quietly: the client
	 * would retry believing it safe. */
	if (!key && raw && !strcmp(req->method, "POST") && (!*raw || strlen(raw) > 128)) {
		http_reply_error(resp, -EINVAL, "Idempotency-Key",
		                 "Idempotency-Key must be 1 to 128 characters");
		return true;
	}
	if (!key)
		return false;
	r = store_idem_get(AUTH(req)->account_id, key, req->method, req->path, &status, &body,
	                   &loc);
	if (r == -ENOENT)
		return false;
	if (r == -EEXIST) {
		http_reply_error(resp, -EEXIST, "Idempotency-Key",
		                 "this Idempotency-Key was used for another request");
		return true;
	}
	if (r < 0)
		return false;
	if (loc)
		http_set_header(resp, "Location", loc);
	http_set_header(resp, "Idempotent-Replayed", "true");
	http_reply_raw(resp, status, "application/json", body, strlen(body));
	free(body);
	free(loc);
	return true;
}

int api_idem_save(struct http_request *req, int status, const json_t *body, const char *location)
{
	const char *key = idem_key(req);
	char *s;
	int r;

	if (!key)
		return 0;
	s = jdump(body);
	r = store_idem_put(AUTH(req)->account_id, key, req->method, req->path, status, s, location);
	free(s);
	return r;
}

int api_reply_created(struct http_request *req, struct http_response *resp, const char *plural,
                      json_t *body)
{
	char *loc = xasprintf("/v1/%s/%s", plural, jstr(body, "id"));
	int r;

	r = api_idem_save(req, 201, body, loc);
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	if (r < 0) {
		free(loc);
		json_decref(body);
		return r;
	}
	http_set_header(resp, "Location", loc);
	http_reply_json(resp, 201, body);
	free(loc);
	return 0;
}

void api_reply_job(struct http_request *req, struct http_response *resp, const json_t *job)
{
	const char *w = http_query(req, "wait");
	char *loc = xasprintf("/v1/jobs/%s", jstr(job, "id"));
	json_t *latest = NULL;
	char *end = NULL;
	long secs = 0;

	if (w) {
		secs = strtol(w, &end, 10);
		if (*w == '\0' || *end || secs < 0 || secs > WAIT_MAX_S) {
			free(loc);
			http_reply_error(resp, -EINVAL, "wait",
			                 "wait must be an integer between 0 and %d seconds",
			                 WAIT_MAX_S);
			return;
		}
	}
	if (secs > 0 && job_wait(jstr(job, "id"), secs * 1000, &latest) == 0)
		job = latest;
	http_set_header(resp, "Location", loc);
	/* Presented like GET /v1/jobs/{id} (and like an Idempotency-Key replay). */
	http_reply_json(resp, job_state_final(jstr(job, "state")) ? 200 : 202,
	                api_present(&kind_job, job));
	json_decref(latest);
	free(loc);
}

int api_check_wait(struct http_request *req, struct kerr *e)
{
	const char *w = http_query(req, "wait");
	char *end = NULL;
	long secs;

	if (!w)
		return 0;
	secs = strtol(w, &end, 10);
	if (*w == '\0' || *end || secs < 0 || secs > WAIT_MAX_S)
		return kerr_set(e, -EINVAL, "wait",
		                "wait must be an integer between 0 and %d seconds", WAIT_MAX_S);
	return 0;
}

int api_check_unused(const char *kind, const char *field, const char *id, const char *what,
                     struct kerr *e)
{
	struct list_query q;
	int64_t n = 0;
	int r;

	list_query_init(&q);
	query_add_eq(&q, field, id);
	r = store_count(kind, &q, &n);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot check whether it is in use");
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "in use by %lld %s", (long long)n, what);
	return 0;
}

int api_commit_job(struct http_request *req, struct http_response *resp, const json_t *job, int r,
                   struct kerr *e, const char *what)
{
	if (r == 0 && job)
		r = api_idem_save_job(req, job);
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	if (r < 0) {
		if (!e->code)
			kerr_set(e, r, "", "cannot store the %s", what);
		return r;
	}
	jobs_notify();
	api_reply_job(req, resp, job);
	return 0;
}

int api_idem_save_job(struct http_request *req, const json_t *job)
{
	char *loc = xasprintf("/v1/jobs/%s", jstr(job, "id"));
	json_t *p = api_present(&kind_job, job);
	int r;

	r = api_idem_save(req, 202, p, loc);
	json_decref(p);
	free(loc);
	return r;
}
