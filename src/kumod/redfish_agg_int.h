/* SPDX-License-Identifier: MIT */
/*
 * What the files of kumod's Redfish aggregator share (redfish_agg.h is
 * the rest of kumod's view of it):
 *
 *   redfish_agg.c          the service: its modules, start and stop, the
 *                          HTTP fallback that authenticates and serves;
 *   redfish_agg_auth.c     kumod users as Redfish callers (Basic, tokens);
 *   redfish_agg_session.c  SessionService: Redfish sessions are kumod
 *                          sessions;
 *   redfish_agg_root.c     /redfish, ServiceRoot, odata, $metadata;
 *   redfish_agg_source.c   AggregationService and its AggregationSources;
 *   redfish_agg_coll.c     the merged collections, from kumod's store;
 *   redfish_agg_fwd.c      requests on members, relayed to agents;
 *   redfish_agg_path.c     member ids and the rewriting of agents' paths.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/redfish.h"
#include "common/util.h"

#define RFA_AGG_SERVICE RF_ROOT "/AggregationService"
#define RFA_SOURCES RFA_AGG_SERVICE "/AggregationSources"
#define RFA_TIMEOUT_MS 10000         /* a relayed request */
#define RFA_ACTION_TIMEOUT_MS 120000 /* a relayed action: a graceful shutdown takes a while */
#define RFA_HOST_NAME_MAX 64

/* call->data of every handler; set at start, read-only afterwards. */
struct rfa_ctx {
	char uuid[UUID_LEN + 1];   /* ServiceRoot.UUID, kept in DATA/redfish-uuid */
	int64_t timeout_ms;        /* [redfish] timeout_s */
	int64_t action_timeout_ms; /* [redfish] action_timeout_s */
};

extern const struct rf_module rfa_root_module;    /* redfish_agg_root.c */
extern const struct rf_module rfa_session_module; /* redfish_agg_session.c */
extern const struct rf_module rfa_source_module;  /* redfish_agg_source.c */
extern const struct rf_module rfa_coll_module;    /* redfish_agg_coll.c */
extern const struct rf_module rfa_fwd_module;     /* redfish_agg_fwd.c */

/* ---- callers (redfish_agg_auth.c) ---- */

/* Who is calling, from the request's headers: X-Auth-Token or
 * "Authorization: Bearer" (a kumod session token or API key), or HTTP
 * Basic with "user" (of the admin account) or "account/user". 0 and
 * *ret; -ENOENT (no credentials), -EACCES (wrong ones, or the failed-login
 * limit), -ENOTCONN (the store is busy). */
int rfa_authenticate(rf_header_fn header, void *cls, const char *addr, struct rf_principal *ret);
/* A login name ("user" or "account/user") and password, checked as POST
 * /v1/sessions checks them (failed-login limit, same time for unknown
 * users): 0 with the account's and the user's documents (new
 * references), -EACCES or -EAGAIN (over the limit). */
int rfa_check_password(const char *login, const char *password, const char *addr,
                       json_t **ret_account, json_t **ret_user);
/* The Redfish caller a kumod user is: Administrator for kumod admins, a
 * caller without privileges (403 everywhere) for every other user. */
void rfa_principal_of(const json_t *user, struct rf_principal *ret);

/* ---- member ids and paths (redfish_agg_path.c) ---- */

/* An aggregated collection: the agents' members appear in the
 * aggregator's collection at the same path, their ids prefixed with
 * "<host name>_". */
struct rfa_coll {
	const char *path; /* RF_ROOT "/Systems" */
	const char *type; /* "ComputerSystemCollection" */
	const char *name; /* "Computer System Collection" */
};

/* Systems, Chassis, Managers, ThermalEquipment/ImmersionUnits; ends with
 * { NULL }. */
extern const struct rfa_coll rfa_colls[];

/* "<host>_<member>" -> the host's document (new reference) and the
 * member's id (a pointer into id). Host names may hold '_', member ids do
 * not: the last '_' that leaves a known host splits. 0, -ENOENT (no host
 * of that name), -EIO (the store failed). */
int rfa_member_split(const char *id, json_t **ret_host, const char **ret_member);
/* An agent's text as the aggregator shows it: every path of a member of
 * an aggregated collection ("/redfish/v1/Chassis/box/Sensors/t1") gets the
 * host's prefix ("/redfish/v1/Chassis/edge-1_box/Sensors/t1"), wherever
 * it is in s (links, Location, messages). malloc'd. */
char *rfa_path_out(const char *s, const char *host);
/* The reverse, for what a client sends to an agent: only this host's
 * prefix is taken off. malloc'd. */
char *rfa_path_in(const char *s, const char *host);
/* Applies rfa_path_out() (out) or rfa_path_in() to every string in v, in
 * place (object keys are left alone). */
void rfa_rewrite_json(json_t *v, const char *host, bool out);
/* Percent-encodes a path segment (RFC 3986 unreserved characters stay). malloc'd. */
char *rfa_pct_segment(const char *s);

/* ---- hosts ---- */

/* Every host, sorted by name, as {"id", "name", "status", "address"}
 * (only these fields are read); 0 and *ret (new reference) or a negative
 * errno. redfish_agg_coll.c. */
int rfa_hosts(json_t **ret);
/* Does the host show a thermal controller (and so an immersion unit) in
 * its latest telemetry? redfish_agg_coll.c. */
bool rfa_host_has_thermal(const char *host_id);
