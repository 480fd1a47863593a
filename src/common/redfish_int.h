/* SPDX-License-Identifier: MIT */
/*
 * What the files of the Redfish core share and nobody else uses:
 * redfish.c (dispatch), redfish_route.c (routes), redfish_query.c (query
 * parameters), redfish_patch.c (request bodies) and redfish_json.c (the
 * bodies' bytes).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "common/redfish.h"

#define RF_DEPTH_MAX 8 /* nested rf_get()s */

enum rf_expand {
	RF_EXPAND_NONE = 0,
	RF_EXPAND_ALL,         /* "*" */
	RF_EXPAND_SUBORDINATE, /* "." : not what is under "Links" */
	RF_EXPAND_LINKS,       /* "~" : only what is under "Links" */
};

struct rf_query {
	bool any; /* a parameter the core handles was given */
	bool only;
	long top;     /* -1 = none */
	long skip;    /* -1 = none */
	char *select; /* owned; "Name,Status/Health", NULL = none */
	enum rf_expand expand;
	int levels;
};

#define RF_MEMOS_MAX 8 /* rf_call_memo() kinds a request may hold */

struct rf_memo {
	const void *key; /* weak */
	void *value;     /* owned through free_fn */
	void (*free_fn)(void *value);
};

struct rf_memos {
	int n;
	struct rf_memo m[RF_MEMOS_MAX];
};

struct rf_call_priv {
	int nparams;
	const char *pname[RF_MAX_PARAMS]; /* weak, into the template after '{' */
	size_t pname_len[RF_MAX_PARAMS];
	char *pvalue[RF_MAX_PARAMS]; /* owned, decoded */
	char etag[RF_ETAG_MAX];      /* rf_set_etag(), quoted; "" = from the body */
	int depth;                   /* of nested GETs */
	bool current_done;
	int current_status;
	json_t *current; /* owned; see rf_call_current() */
	char current_etag[RF_ETAG_MAX];
	const char *if_match; /* weak; If-Match, or the PATCH body's @odata.etag */
	struct rf_memos own_memos;
	struct rf_memos *memos; /* weak: own_memos, or the request's (a GET's) */
	bool memo_shared;       /* the GETs this call makes share *memos */
};

/* rf_get() that also gives the resource's ETag (quoted). */
int rf_get_etag(struct rf_call *call, const char *path, json_t **ret_body, char etag[RF_ETAG_MAX]);

/* ---- redfish_route.c ---- */

#define RF_ALLOW_MAX 96

/* Percent-decodes s[0, n): NULL when an escape is bad, or the result would
 * hold a NUL (or a '/', for a path segment). malloc'd. */
char *rf_pct_decode(const char *s, size_t n, bool segment);

/* The route tables of modules (weak, NULL-terminated; they must not
 * change), their templates split once. */
struct rf_routes *rf_routes_new(const struct rf_module *const *modules);
struct rf_routes *rf_routes_free(struct rf_routes *rt);
/* Finds the route of method on the normalised path. 0 (params in priv when
 * it is not NULL), -ENOENT (no route has that path) or -EOPNOTSUPP (others
 * have: allow lists their methods). allow is filled in every case. */
int rf_routes_match(const struct rf_routes *rt, const char *method, const char *path,
                    const struct rf_route **ret, struct rf_call_priv *priv,
                    char allow[RF_ALLOW_MAX]);

/* Parses a query string. 0, or the HTTP status of the refusal (400, 501)
 * with *ret_msgs (new reference). get: the request is a GET or HEAD (other
 * methods take no query parameter the core knows). */
int rf_query_parse(const char *qs, bool get, struct rf_query *q, json_t **ret_msgs);
void rf_query_free(struct rf_query *q);
/* "only": replaces *body by its single member when it is a collection of
 * one (and the call's ETag by the member's). 0, or a status with *ret_msgs. */
int rf_query_only(struct rf_call *call, const struct rf_query *q, json_t **body, json_t **ret_msgs);
/* $top/$skip, $expand, $select on a 200 answer's body (in place). etag:
 * the resource's (quoted, "" for none); when $expand put resources in the
 * body, it becomes the answer's own, made from the resource's and theirs,
 * in etag and in the body's "@odata.etag". 0, or a status with *ret_msgs. */
int rf_query_apply(struct rf_call *call, const struct rf_query *q, json_t *body,
                   char etag[RF_ETAG_MAX], json_t **ret_msgs);

/* Is name (a property of an object under the property parent; NULL for a
 * resource's own) one the DMTF schemas type as a bare reference, that
 * $expand leaves as it is? */
bool rf_expand_bare_ref(const char *parent, const char *name);
/* The names of those, one by one from 0; NULL after the last. */
const char *rf_expand_bare_ref_name(size_t i);

/* ---- redfish_json.c ---- */

#define RF_JSON_REAL_LEN 40

/* v as compact JSON, json_dumps(JSON_COMPACT | JSON_ENCODE_ANY)'s bytes
 * except for reals (see rf_json_real()); malloc'd, *ret_len its length.
 * NULL for what json_dumps() may handle otherwise: bad UTF-8 in a string,
 * a cycle or an absurd depth. */
char *rf_json_compact(const json_t *v, size_t *ret_len);
/* A real as JSON: the fewest digits that read back as v (15 to 17), with
 * a '.' or an exponent; its length, 0 when v is not finite. */
size_t rf_json_real(double v, char out[RF_JSON_REAL_LEN]);

/* Bodies a handler shares (redfish.h, rf_reply_resource()): is v
 * referenced elsewhere too? The core changes no shared value: it changes
 * rf_json_own(v), v itself when v is not shared, else a copy of its top
 * level over the same values (v released); rf_json_own_deep() copies all
 * of it, for $expand, which may change values at any depth. */
bool rf_json_shared(const json_t *v);
json_t *rf_json_own(json_t *v);
json_t *rf_json_own_deep(json_t *v);
