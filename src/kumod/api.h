/* SPDX-License-Identifier: MIT */
/*
 * The API layer's shared machinery: the authenticated caller, resource kind
 * descriptors and the generic list/get/create/update/delete handlers that
 * every api_<resource>.c builds on, idempotent POSTs, job answers with
 * ?wait, and the central list of route tables.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"
#include "common/http.h"
#include "common/schema.h"
#include "common/util.h"
#include "kumod/query.h"
#include "kumod/role.h"

/* The caller, set by the auth hook (auth.c). */
struct auth {
	char account_id[UUID_LEN + 1];
	char user_id[UUID_LEN + 1];
	char host_id[UUID_LEN + 1]; /* agent routes only */
	char token_id[80];          /* session id (token hash) or api key id */
	bool is_session;
	int role;
};

#define AUTH(req) ((struct auth *)(req)->auth)
#define IS_ADMIN(req) (AUTH(req) && AUTH(req)->role >= ROLE_ADMIN && AUTH(req)->role != ROLE_AGENT)

enum kind_scope {
	SCOPE_GLOBAL,         /* no account (zones, clusters, hosts...): everyone may read */
	SCOPE_ACCOUNT,        /* owned by an account: others get 404 */
	SCOPE_ACCOUNT_PUBLIC, /* owned, but public/shared ones readable by all */
	SCOPE_SELF,           /* the accounts kind itself: an account sees its own record */
};

struct kind {
	const char *name;            /* store kind and URL plural: "zones" */
	const char *singular;        /* event prefix: "zone" */
	const struct schema *schema; /* the resource as answered (filters, fields) */
	const struct schema *create; /* weak */
	const struct schema *update; /* weak */
	enum kind_scope scope;
	bool unique_name;
	/* Hooks, called inside the store transaction; return 0 or -errno with e. */
	int (*on_create)(struct http_request *req, json_t *doc, struct kerr *e);
	int (*on_update)(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e);
	int (*on_delete)(struct http_request *req, json_t *doc, struct kerr *e);
	/* Keys of the stored document that are never answered (secrets,
	 * bookkeeping); NULL-terminated, may be NULL. */
	const char *const *hidden;
	/* Adds computed fields to a document before it is answered; kinds
	 * without it are answered straight from the store (store_*_text). */
	void (*present)(json_t *doc);
	/* Narrower visibility inside an account (e.g. members see only their
	 * own API keys): adds filters to lists, and hides docs from loads. */
	void (*narrow)(struct http_request *req, struct list_query *q);
	bool (*visible)(struct http_request *req, const json_t *doc);
};

/* Generic handlers. */
void api_list(const struct kind *k, struct http_request *req, struct http_response *resp);
void api_get(const struct kind *k, struct http_request *req, struct http_response *resp);
void api_create(const struct kind *k, struct http_request *req, struct http_response *resp);
void api_update(const struct kind *k, struct http_request *req, struct http_response *resp);
void api_delete(const struct kind *k, struct http_request *req, struct http_response *resp);

/* Loads an object the caller may see (404 otherwise). for_write: public
 * objects of other accounts are not writable (404 too). */
int api_load(const struct kind *k, struct http_request *req, const char *id, bool for_write,
             json_t **ret, struct kerr *e);
/* Checks that a referenced object exists and is visible to the caller;
 * field names the body field for the error. */
int api_ref(const struct kind *k, struct http_request *req, const char *id, const char *field,
            json_t **ret, struct kerr *e);
/* A new document: id, created_at, updated_at, account_id per scope. */
json_t *api_new_doc(const struct kind *k, struct http_request *req, const json_t *body);
/* Applies a kind's present hook to a copy (new reference). */
json_t *api_present(const struct kind *k, const json_t *doc);
/* The account a new tenant object belongs to: the caller's, or for admins
 * body.account_id when given. */
const char *api_owner_account(struct http_request *req, const json_t *body);

/* Idempotency-Key support for POST handlers: call api_idem_replay() first
 * (true = the stored answer was sent, return at once); answer through
 * api_reply_created()/api_reply_job() inside the transaction so the answer
 * is stored with the change. */
bool api_idem_replay(struct http_request *req, struct http_response *resp);
int api_idem_save(struct http_request *req, int status, const json_t *body, const char *location);
/* Stores a 202 job answer under the Idempotency-Key (if any). */
int api_idem_save_job(struct http_request *req, const json_t *job);
/* Ends a request that queued job inside the caller's transaction (r: how
 * that went): saves the idempotency answer, commits, wakes the job workers
 * and answers 202 with the job (or 200 with ?wait). On failure rolls back
 * and returns -errno with e filled ("cannot store the <what>" unless set
 * already); the caller answers e. */
int api_commit_job(struct http_request *req, struct http_response *resp, const json_t *job, int r,
                   struct kerr *e, const char *what);

/* 201 + Location + body (stolen); stores it under the Idempotency-Key. */
int api_reply_created(struct http_request *req, struct http_response *resp, const char *plural,
                      json_t *body);
/* 202 + Location: /v1/jobs/{id} + the job (or, with ?wait=S, 200 when it
 * finishes within S seconds). job is borrowed. Call after commit. */
void api_reply_job(struct http_request *req, struct http_response *resp, const json_t *job);
void api_reply_error(struct http_response *resp, const struct kerr *e);

/* Route tables, one per api_<resource>.c, all named in api_tables[]. */
extern const struct route api_session_routes[];
extern const struct route api_zone_routes[];
extern const struct route api_cluster_routes[];
extern const struct route api_host_routes[];
extern const struct route api_image_routes[];
extern const struct route api_offering_routes[];
extern const struct route api_l2_routes[];
extern const struct route api_l3_routes[];
extern const struct route api_vm_routes[];
extern const struct route api_console_routes[];
extern const struct route api_volume_routes[];
extern const struct route api_pool_routes[];
extern const struct route api_snapshot_routes[]; /* api_snapshot.c */
extern const struct route api_resize_routes[];   /* api_resize.c */
extern const struct route api_clone_routes[];    /* api_clone.c */
extern const struct route api_export_routes[];   /* api_export.c */
extern const struct route api_sg_routes[];
extern const struct route api_eip_routes[];
extern const struct route api_pf_routes[];
extern const struct route api_account_routes[];
extern const struct route api_user_routes[];
extern const struct route api_apikey_routes[];
extern const struct route api_quota_routes[];
extern const struct route api_job_routes[];
extern const struct route api_event_routes[];
extern const struct route api_meta_routes[];
extern const struct route channel_routes[];
extern const struct route *const api_tables[];

/* Kinds shared between files. */
extern const struct kind kind_zone, kind_cluster, kind_host, kind_image, kind_offering, kind_l2,
    kind_l3, kind_vm, kind_volume, kind_account, kind_user, kind_apikey, kind_quota, kind_job,
    kind_session, kind_sg, kind_eip, kind_pf, kind_pool, kind_snapshot;

/* Fields every resource has, read-only; for the resource schemas. */
#define API_COMMON_FIELDS                                                                          \
	{ "id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, "the resource's id" },           \
	    { "account_id", FT_UUID,         F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL,       \
	      NULL,         "owning account" },                                                    \
	    { "created_at", FT_TIME, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },              \
	{                                                                                          \
		"updated_at", FT_TIME, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL               \
	}

/* Validates ?wait before any work is done: 0 or -EINVAL with e. */
int api_check_wait(struct http_request *req, struct kerr *e);
/* Standard route rows for a kind: list, get, create, patch, delete. */
#define API_CRUD_ROUTES(plural, tag, list_fn, get_fn, create_fn, update_fn, delete_fn, rrole,        \
                        wrole, create_schema, update_schema)                                         \
	{ "GET", "/v1/" plural, list_fn, rrole, NULL, HTTP_LIST, "List " tag, 0, tag },              \
	    { "GET", "/v1/" plural "/{id}", get_fn, rrole, NULL, 0, "Get one of " tag, 0, tag },     \
	    { "POST", "/v1/" plural, create_fn, wrole, create_schema, 0, "Create in " tag, 0, tag }, \
	    { "PATCH", "/v1/" plural "/{id}", update_fn, wrole, update_schema,                       \
	      0,       "Update one of " tag,  0,         tag },                                      \
	{                                                                                            \
		"DELETE", "/v1/" plural "/{id}", delete_fn, wrole, NULL, 0, "Delete one of " tag,    \
		    0, tag                                                                           \
	}
/* Handler wrappers binding the generic handlers to a kind. */
#define API_CRUD_HANDLERS(prefix, kindvar)                                                         \
	static void prefix##_list(struct http_request *req, struct http_response *resp)            \
	{                                                                                          \
		api_list(&kindvar, req, resp);                                                     \
	}                                                                                          \
	static void prefix##_get(struct http_request *req, struct http_response *resp)             \
	{                                                                                          \
		api_get(&kindvar, req, resp);                                                      \
	}                                                                                          \
	static void prefix##_create(struct http_request *req, struct http_response *resp)          \
	{                                                                                          \
		api_create(&kindvar, req, resp);                                                   \
	}                                                                                          \
	static void prefix##_update(struct http_request *req, struct http_response *resp)          \
	{                                                                                          \
		api_update(&kindvar, req, resp);                                                   \
	}                                                                                          \
	static void prefix##_delete(struct http_request *req, struct http_response *resp)          \
	{                                                                                          \
		api_delete(&kindvar, req, resp);                                                   \
	}
/* -EBUSY with e ("in use by N <what>") when any object of kind has field == id. */
int api_check_unused(const char *kind, const char *field, const char *id, const char *what,
                     struct kerr *e);
