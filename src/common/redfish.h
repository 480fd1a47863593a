/* SPDX-License-Identifier: MIT */
/*
 * The core of a Redfish service (DSP0266), independent of the transport:
 * kumo-agent serves one over HTTPS (redfish_http.c) and over kumod's
 * channel, kumod's aggregator will serve one of its own. A service is a
 * list of modules (one per resource: its route table and the schemas its
 * bodies use), an account and session store (redfish_auth.h) and the
 * caller's data. rf_handle() takes one request and fills one response;
 * for every request, before and after the handler, it does what DSP0266
 * asks of all resources:
 *
 *   - routing: "{param}" segments (and a last "{*tail}"), literal segments
 *     win; "/redfish/v1" and "/redfish/v1/" (any trailing slash) are the
 *     same; no route: 404
 *     ResourceMissingAtURI; a route with other methods only: 405
 *     OperationNotAllowed with Allow; HEAD is GET without the body;
 *   - authentication (X-Auth-Token sessions, HTTP Basic, or a principal
 *     the transport vouches for) unless the route is RF_OPEN: 401
 *     AccessUnauthorized with WWW-Authenticate; then the route's
 *     privileges: 403 InsufficientPrivilege;
 *   - query parameters on GET: only, $select, $top/$skip on collections,
 *     $expand (*, ., ~; $levels up to RF_EXPAND_LEVELS_MAX; navigation
 *     properties only, see redfish_query.c); other "$"
 *     parameters 501 QueryNotSupported; bad values 400
 *     QueryParameterValueFormatError / QueryParameterOutOfRange; unknown
 *     parameters without "$" ignored. rf_protocol_features() says exactly
 *     this for ServiceRoot.ProtocolFeaturesSupported;
 *   - request bodies: at most the service's body_max (413 PayloadTooLarge),
 *     a JSON object (400 MalformedJSON) for POST, PATCH and PUT;
 *   - ETags: a resource's ETag is the handler's (rf_set_etag) or a hash of
 *     its body; answers carry it in ETag and "@odata.etag" (with $expand,
 *     a hash of it and the ETags of what was expanded). If-Match (or
 *     "@odata.etag" in a PATCH body) that does not match on PATCH, PUT,
 *     DELETE or POST: 412 PreconditionFailed, checked against a fresh GET
 *     of the resource (of the resource an action belongs to); If-None-Match
 *     that matches on GET: 304;
 *   - headers: OData-Version: 4.0, Cache-Control: no-cache, Content-Type
 *     (application/json; charset=utf-8 unless the handler answers raw
 *     bytes), and on GET and HEAD Allow and Link: <schema>; rel=describedby;
 *   - writes (POST, PATCH, PUT, DELETE) run one at a time per service
 *     (routes flagged RF_UNLOCKED excepted), so an If-Match check and the
 *     change it guards cannot interleave with another write.
 *
 * Handlers are small: they read call->data (the service's context),
 * rf_param(), call->body and call->who, and answer with an rf_reply_*()
 * function. Errors are Base registry messages (redfish_msg.h). PATCH,
 * create and action bodies are checked against a table of properties
 * (rf_patch_check() and friends) that produces the right messages.
 *
 * Thread safety: rf_handle() may run in many threads at once; handlers
 * must be thread-safe for GETs.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/redfish_msg.h"

#define RF_BODY_MAX (64 * 1024) /* default request body limit */
#define RF_MAX_PARAMS 8
#define RF_MAX_HEADERS 16
#define RF_NAME_MAX 64
#define RF_ETAG_MAX 72 /* with the quotes and NUL */
#define RF_EXPAND_LEVELS_MAX 3
#define RF_TOP_MAX 1000 /* the largest $top */
#define RF_ROOT "/redfish/v1"
#define RF_SCHEMA_URI "http://redfish.dmtf.org/schemas/v1/"

/* Privileges (the Privileges schema's PrivilegeType). */
enum rf_priv {
	RF_PRIV_LOGIN = 1u << 0,
	RF_PRIV_CONFIGURE_MANAGER = 1u << 1,
	RF_PRIV_CONFIGURE_USERS = 1u << 2,
	RF_PRIV_CONFIGURE_COMPONENTS = 1u << 3,
	RF_PRIV_CONFIGURE_SELF = 1u << 4,
};

/* Who is calling. */
struct rf_principal {
	char user[RF_NAME_MAX];       /* UserName */
	char role[RF_NAME_MAX];       /* RoleId: "Administrator", "Operator", "ReadOnly" */
	unsigned privs;               /* RF_PRIV_* */
	char account_id[RF_NAME_MAX]; /* the local account's Id; "" for a relayed caller */
	char session_id[RF_NAME_MAX]; /* the session's Id; "" with Basic auth or relayed */
};

/* ---- requests and responses ---- */

typedef const char *(*rf_header_fn)(void *cls, const char *name);
/* An SSE stream, as http_stream_fn: fill at most max bytes into out and
 * return how many, 0 to be called again (it may block up to ~1 s), -1 at
 * the end. */
typedef ssize_t (*rf_stream_fn)(void *cls, char *out, size_t max);

struct rf_request {
	const char *method;  /* "GET", "HEAD", "POST", "PATCH", "PUT", "DELETE" */
	const char *path;    /* as received (percent-encoded), without the query */
	const char *query;   /* the raw query string without '?'; NULL or "" = none */
	rf_header_fn header; /* a request header by name, case-insensitive; may be NULL */
	void *header_cls;
	const char *body; /* the body bytes (need not end in NUL); NULL = none */
	size_t body_len;
	const char *client_addr; /* for the failed-login limiter; NULL = "unknown" */
	/* A caller the transport has authenticated itself (kumod's aggregator
	 * relaying a request with its own users): used as is, no credentials
	 * are looked at. NULL = authenticate from the headers. */
	const struct rf_principal *principal;
};

struct rf_response {
	int status;
	json_t *body; /* owned; a JSON body, or NULL */
	char *raw;    /* owned; a body that is not JSON ($metadata's XML) */
	size_t raw_len;
	char *content_type;  /* owned; of raw, or of the stream */
	rf_stream_fn stream; /* a stream answer (SSE): see rf_reply_stream() */
	void *stream_cls;    /* owned through stream_free until the transport takes it */
	void (*stream_free)(void *cls);
	int nheaders;
	char *hname[RF_MAX_HEADERS];  /* owned */
	char *hvalue[RF_MAX_HEADERS]; /* owned */
};

/* Zeroes resp (call before rf_handle()). */
void rf_response_init(struct rf_response *resp);
/* Frees what resp holds (a stream not taken included); resp is then empty. */
void rf_response_clear(struct rf_response *resp);
const char *rf_response_header(const struct rf_response *resp, const char *name);
/* Adds a header to resp (copied); at most RF_MAX_HEADERS, line breaks refused. */
void rf_response_set_header(struct rf_response *resp, const char *name, const char *value);
/* The body as bytes: the JSON serialised compactly, or raw. malloc'd (""
 * for none); *ret_len its length. */
char *rf_response_bytes(const struct rf_response *resp, size_t *ret_len);
/* The Content-Type of resp's body, or NULL when it has none. */
const char *rf_response_content_type(const struct rf_response *resp);

/* ---- routes and modules ---- */

struct rf_call;
typedef void (*rf_handler_fn)(struct rf_call *call);

enum rf_route_flags {
	RF_OPEN = 1 << 0,     /* no authentication needed (ServiceRoot, $metadata, login) */
	RF_STREAM = 1 << 1,   /* a GET that may answer a stream: no ETag, no queries */
	RF_UNLOCKED = 1 << 2, /* a write that runs beside others (long actions) */
	RF_RAW_BODY = 1 << 3, /* the body is not parsed: read call->req->body */
};

struct rf_route {
	const char *method; /* "GET", "POST", "PATCH", "PUT", "DELETE"; NULL ends a table */
	/* "/redfish/v1/AccountService/Accounts/{id}", no trailing '/'. A last
	 * segment "{*rest}" takes the rest of the path, one segment or more,
	 * as received (still percent-encoded): for an aggregator forwarding
	 * whole subtrees. Parameters are otherwise decoded. */
	const char *path;
	rf_handler_fn handler;
	unsigned privs; /* every RF_PRIV_* needed; 0 with RF_OPEN */
	unsigned flags;
};

/* One resource's part of a service. */
struct rf_module {
	const char *name;              /* "AccountService" */
	const struct rf_route *routes; /* weak; ends with { NULL } */
	/* The schema namespaces of its bodies, for $metadata: versioned ones
	 * ("AccountService.v1_18_1") and collections ("RoleCollection");
	 * NULL-terminated. */
	const char *const *schemas;
};

/* ---- the service ---- */

struct rf_service;
struct rf_auth;

struct rf_service_config {
	const struct rf_module *const *modules; /* weak; NULL-terminated */
	struct rf_auth *auth; /* weak; accounts and sessions; NULL = relayed callers only */
	void *data;           /* weak; given to handlers as call->data */
	const char *realm;    /* of WWW-Authenticate: Basic realm="..."; NULL = "Redfish" */
	size_t body_max;      /* 0 = RF_BODY_MAX */
};

int rf_service_new(const struct rf_service_config *cfg, struct rf_service **ret);
struct rf_service *rf_service_free(struct rf_service *svc);
struct rf_auth *rf_service_auth(const struct rf_service *svc);
size_t rf_service_body_max(const struct rf_service *svc);
/* Is there a route for method on path (a concrete path, "/redfish/v1/Systems")? */
bool rf_service_has(const struct rf_service *svc, const char *method, const char *path);
/* Calls fn once for each distinct schema namespace of the modules, in order. */
void rf_service_schemas(const struct rf_service *svc, void (*fn)(void *cls, const char *ns),
                        void *cls);

/* Serves one request: resp (initialised) gets the answer, always. 0, or
 * -EINVAL when req is not a request at all (no method or path: then resp
 * holds a 400). */
int rf_handle(struct rf_service *svc, const struct rf_request *req, struct rf_response *resp);

/* ServiceRoot.ProtocolFeaturesSupported: what rf_handle() implements. New
 * reference. */
json_t *rf_protocol_features(void);
/* {"error": {"code", "message", "@Message.ExtendedInfo": msgs}}, code and
 * message from the first message. Takes msgs (an array). */
json_t *rf_error_body(json_t *msgs);
/* The WWW-Authenticate value for svc: Basic realm="...". */
const char *rf_service_challenge(const struct rf_service *svc);
/* Adds the headers every answer carries (OData-Version, Cache-Control) to
 * an answer made outside rf_handle() (a transport's own errors). */
void rf_response_common_headers(struct rf_response *resp);

/* ---- handlers ---- */

struct rf_call_priv;

/* What a handler gets. Everything is the core's: read, do not free. */
struct rf_call {
	struct rf_service *svc;       /* weak */
	const struct rf_request *req; /* weak */
	struct rf_response *resp;     /* weak */
	const struct rf_route *route; /* weak */
	void *data;                   /* weak; rf_service_config.data */
	const char *path;   /* the normalised path: no trailing '/', "/redfish/v1" for the root */
	const char *method; /* "GET" for HEAD requests too */
	struct rf_principal who;   /* the caller; all empty on RF_OPEN routes */
	bool authenticated;        /* who is valid */
	json_t *body;              /* the request's JSON object (POST, PATCH, PUT), or NULL */
	struct rf_call_priv *priv; /* the core's */
};

/* A path parameter by name ("id"), decoded; NULL if the template has none. */
const char *rf_param(const struct rf_call *call, const char *name);
/* Does the caller hold every privilege in privs? */
bool rf_has_privs(const struct rf_call *call, unsigned privs);
/* A request header, or NULL. */
const char *rf_header(const struct rf_call *call, const char *name);

/* Answers. Each replaces an earlier answer. Bodies are taken (owned). A
 * body may be shared with the handler's own store of bodies (its
 * reference count above 1) when no one changes it any more: the core then
 * changes a copy of what it changes ("@odata.etag" when it is not the
 * resource's already, $select, $top/$skip, $expand). */
void rf_reply_json(struct rf_call *call, int status, json_t *body);
/* 200 with a resource or collection (its ETag is added by the core). */
void rf_reply_resource(struct rf_call *call, json_t *body);
/* 201, Location: location, the new resource as body. */
void rf_reply_created(struct rf_call *call, const char *location, json_t *body);
void rf_reply_no_content(struct rf_call *call);
/* An error (status >= 400) with one message (taken). */
void rf_reply_error(struct rf_call *call, int status, json_t *msg);
/* An error with several messages (an array, taken); the first is the code. */
void rf_reply_errors(struct rf_call *call, int status, json_t *msgs);
/* 404 ResourceMissingAtURI for the request's path. */
void rf_reply_not_found(struct rf_call *call);
/* 500 InternalError. */
void rf_reply_internal(struct rf_call *call);
/* 200 or 204 with a success message (taken) in @Message.ExtendedInfo. */
void rf_reply_success(struct rf_call *call, json_t *msg);
/* Raw bytes (copied) with a content type ($metadata). */
void rf_reply_raw(struct rf_call *call, int status, const char *content_type, const void *data,
                  size_t len);
/* A stream (routes with RF_STREAM): fn is called until it returns -1, then
 * free_cls(cls). Over transports that cannot stream (kumod's channel) the
 * answer is 501 and free_cls runs at once. */
void rf_reply_stream(struct rf_call *call, int status, const char *content_type, rf_stream_fn fn,
                     void *cls, void (*free_cls)(void *));
void rf_set_header(struct rf_call *call, const char *name, const char *value);
/* A body a handler keeps and answers again (json_incref()) while what it
 * shows is the same (a sensor between two readings): the core remembers
 * its bytes and writes them instead of walking it, where it is answered
 * and where $expand puts it. It must not change while kept (the core
 * never changes a shared body); rf_body_unkeep() before the keeper drops
 * it. Each takes, then drops, a reference of the core's own. */
void rf_body_keep(json_t *body);
void rf_body_unkeep(json_t *body);
/* The resource's ETag, instead of a hash of its body: for resources whose
 * body changes without a change a client could make (sensor readings), a
 * version counter. Quoted by the core ("\"v42\""). */
void rf_set_etag(struct rf_call *call, const char *etag);

/* GETs path as the same caller, through the routes (privileges
 * included): 0 and *ret_body (new reference; its top level the caller's
 * to change) on a 200; otherwise the status it answered (> 0), *ret_body
 * untouched. For $expand, "only", If-Match, and handlers that show another
 * resource. */
int rf_get(struct rf_call *call, const char *path, json_t **ret_body);
/* The resource this write is about, as a GET of it answers now (for
 * PATCH, PUT and DELETE the request's path; for an action, the resource
 * before "/Actions/"): 0 and *ret (borrowed, the call keeps it), or the
 * GET's status. */
int rf_call_current(struct rf_call *call, const json_t **ret);
/* What one request loads once for all its GETs: the handler's own and
 * those its $expand, "only" and rf_get() make (a Sensors collection's 20
 * members read the same snapshot of the node). The value an earlier GET of
 * this request memoised under key (the address of a static of the
 * caller's), or else make(call)'s, memoised (make NULL: NULL). Borrowed:
 * valid until the request ends; free_fn (may be NULL) frees it then. In a
 * write each call makes its own: its GETs must see what it changed. */
void *rf_call_memo(struct rf_call *call, const void *key, void *(*make)(struct rf_call *call),
                   void (*free_fn)(void *value));

/* ---- collections ---- */

/* {"@odata.id", "@odata.type": "#<type>.<type>", "Name", "Members": [{"@odata.id"}...],
 * "Members@odata.count"}; member_ids: an array of paths (strings), taken.
 * $top/$skip/$expand/only are then applied by the core. New reference. */
json_t *rf_collection_new(const char *odata_id, const char *type, const char *name,
                          json_t *member_ids);
/* {"@odata.id": path}. New reference. */
json_t *rf_link(const char *path);

/* ---- request bodies ---- */

enum rf_ptype {
	RF_T_STRING = 1,
	RF_T_BOOL,
	RF_T_INT,
	RF_T_NUMBER,
	RF_T_OBJECT,
	RF_T_ARRAY,
};

enum rf_prop_flags {
	RF_P_READONLY = 1 << 0, /* present in the resource, never written */
	RF_P_REQUIRED = 1 << 1, /* creates and actions: must be present */
	RF_P_NULLABLE = 1 << 2, /* null is a value */
	RF_P_SECRET = 1 << 3,   /* never echoed in messages (passwords) */
};

/* One property (or action parameter) a body may hold. */
struct rf_prop {
	const char *name; /* "SessionTimeout"; nested: "SMTP/Port" */
	enum rf_ptype type;
	unsigned flags;
	/* Numbers: the range [min, max] when min < max (PropertyValueOutOfRange).
	 * Strings: the length range (StringValueTooShort / StringValueTooLong). */
	double min, max;
	const char *const *values; /* strings: the allowed values, NULL-terminated */
	/* Another check: NULL when value is fine, else a new message. */
	json_t *(*check)(const char *name, const json_t *value);
};

/* PATCH: checks call->body against props (ends with { NULL }). Properties
 * not in props are PropertyNotWritable when the resource has them (see
 * rf_call_current()), else PropertyUnknown; "@odata.etag" is taken as a
 * precondition, not a property. When no property is good, answers 400
 * with every message (EmptyJSON for {}) and returns -EINVAL. Otherwise 0:
 * *ret_changes the good properties (as nested as the body), *ret_msgs
 * the messages of the bad ones (maybe empty); both new references.
 * Apply the changes, then rf_reply_patched(). */
int rf_patch_check(struct rf_call *call, const struct rf_prop *props, json_t **ret_changes,
                   json_t **ret_msgs);
/* After a PATCH: 200 with the resource as a GET shows it now, and msgs
 * (taken; NULL or empty for none) in its @Message.ExtendedInfo. */
void rf_reply_patched(struct rf_call *call, json_t *msgs);
/* POST to a collection: every property known, writable, of its type and
 * in range, the required ones present, else 400 with all the messages and
 * -EINVAL. 0 and *ret_vals (new reference). */
int rf_create_check(struct rf_call *call, const struct rf_prop *props, json_t **ret_vals);
/* An action's parameters, with the ActionParameter* messages (action:
 * "ComputerSystem.Reset"); as rf_create_check() otherwise. */
int rf_action_check(struct rf_call *call, const char *action, const struct rf_prop *props,
                    json_t **ret_params);
