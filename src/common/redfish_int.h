/* SPDX-License-Identifier: MIT */
/*
 * What the files of the Redfish core share and nobody else uses:
 * redfish.c (dispatch), redfish_query.c (query parameters) and
 * redfish_patch.c (request bodies).
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
};

/* rf_get() that also gives the resource's ETag (quoted). */
int rf_get_etag(struct rf_call *call, const char *path, json_t **ret_body, char etag[RF_ETAG_MAX]);

/* Percent-decodes s[0, n): NULL when an escape is bad, or the result would
 * hold a NUL (or a '/', for a path segment). malloc'd. */
char *rf_pct_decode(const char *s, size_t n, bool segment);

/* Parses a query string. 0, or the HTTP status of the refusal (400, 501)
 * with *ret_msgs (new reference). get: the request is a GET or HEAD (other
 * methods take no query parameter the core knows). */
int rf_query_parse(const char *qs, bool get, struct rf_query *q, json_t **ret_msgs);
void rf_query_free(struct rf_query *q);
/* "only": replaces *body by its single member when it is a collection of
 * one (and the call's ETag by the member's). 0, or a status with *ret_msgs. */
int rf_query_only(struct rf_call *call, const struct rf_query *q, json_t **body, json_t **ret_msgs);
/* $top/$skip, $expand, $select on a 200 answer's body (in place). 0, or a
 * status with *ret_msgs. */
int rf_query_apply(struct rf_call *call, const struct rf_query *q, json_t *body, json_t **ret_msgs);
