// SPDX-License-Identifier: MIT
/*
 * The Redfish core's dispatcher: from one request to one response, with
 * everything DSP0266 asks of every resource done here once (see
 * redfish.h): routing, authentication and privileges, bodies, ETags and
 * preconditions, the common headers, and the error bodies. Also the
 * handlers' reply functions and rf_get() (a GET through the same routes,
 * for $expand, If-Match and handlers).
 *
 * Not here: query parameters (redfish_query.c), request body checks
 * (redfish_patch.c), accounts and sessions (redfish_auth.c), messages
 * (redfish_msg.c), any transport (redfish_http.c), any resource.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/redfish.h"
#include "common/redfish_auth.h"
#include "common/redfish_int.h"
#include "common/util.h"

#define BASIC_MAX 256 /* decoded "user:password" */

struct rf_service {
	const struct rf_module *const *modules; /* weak */
	struct rf_auth *auth;                   /* weak */
	void *data;                             /* weak */
	char *challenge;                        /* Basic realm="..." */
	size_t body_max;
	pthread_mutex_t write_lock; /* one write at a time */
	struct rf_routes *routes;   /* owned */
};

/* ---- responses ---- */

void rf_response_init(struct rf_response *resp)
{
	memset(resp, 0, sizeof(*resp));
}

static void response_clear_body(struct rf_response *resp)
{
	json_decref(resp->body);
	resp->body = NULL;
	free(resp->raw);
	resp->raw = NULL;
	resp->raw_len = 0;
	free(resp->content_type);
	resp->content_type = NULL;
	if (resp->stream && resp->stream_free)
		resp->stream_free(resp->stream_cls);
	resp->stream = NULL;
	resp->stream_cls = NULL;
	resp->stream_free = NULL;
}

void rf_response_clear(struct rf_response *resp)
{
	if (!resp)
		return;
	response_clear_body(resp);
	for (int i = 0; i < resp->nheaders; i++) {
		free(resp->hname[i]);
		free(resp->hvalue[i]);
	}
	memset(resp, 0, sizeof(*resp));
}

const char *rf_response_header(const struct rf_response *resp, const char *name)
{
	for (int i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->hname[i], name) == 0)
			return resp->hvalue[i];
	return NULL;
}

static void response_del_header(struct rf_response *resp, const char *name)
{
	for (int i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->hname[i], name) != 0)
			continue;
		free(resp->hname[i]);
		free(resp->hvalue[i]);
		for (int j = i + 1; j < resp->nheaders; j++) {
			resp->hname[j - 1] = resp->hname[j];
			resp->hvalue[j - 1] = resp->hvalue[j];
		}
		resp->nheaders--;
		i--;
	}
}

void rf_response_set_header(struct rf_response *resp, const char *name, const char *value)
{
	if (!resp || str_empty(name) || !value || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
		return;
	response_del_header(resp, name);
	if (resp->nheaders >= RF_MAX_HEADERS)
		return;
	resp->hname[resp->nheaders] = xstrdup(name);
	resp->hvalue[resp->nheaders] = xstrdup(value);
	resp->nheaders++;
}

const char *rf_response_content_type(const struct rf_response *resp)
{
	if (resp->content_type)
		return resp->content_type;
	return resp->body ? "application/json; charset=utf-8" : NULL;
}

char *rf_response_bytes(const struct rf_response *resp, size_t *ret_len)
{
	char *s;

	if (resp->body) {
		s = rf_json_compact(resp->body, ret_len);
		if (s)
			return s;
		/* what the writer refuses (bad UTF-8, a cycle), as jansson does it */
		s = json_dumps(resp->body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s) {
			*ret_len = strlen(s);
			return s;
		}
	}
	if (resp->raw) {
		s = xmalloc(resp->raw_len + 1);
		memcpy(s, resp->raw, resp->raw_len);
		s[resp->raw_len] = '\0';
		*ret_len = resp->raw_len;
		return s;
	}
	*ret_len = 0;
	return xstrdup("");
}

void rf_response_common_headers(struct rf_response *resp)
{
	const char *ct = rf_response_content_type(resp);

	rf_response_set_header(resp, "OData-Version", "4.0");
	rf_response_set_header(resp, "Cache-Control", "no-cache");
	rf_response_set_header(resp, "X-Content-Type-Options", "nosniff");
	if (ct)
		rf_response_set_header(resp, "Content-Type", ct);
}

json_t *rf_error_body(json_t *msgs)
{
	json_t *first;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
		json_decref(msgs);
		msgs = json_pack("[o]", rf_msg(RF_MSG_GENERAL_ERROR, NULL));
	}
	first = json_array_get(msgs, 0);
	return json_pack("{s:{s:s, s:s, s:o}}", "error", "code",
	                 json_string_value(json_object_get(first, "MessageId")), "message",
	                 json_string_value(json_object_get(first, "Message")),
	                 "@Message.ExtendedInfo", msgs);
}

/* ---- the service ---- */

int rf_service_new(const struct rf_service_config *cfg, struct rf_service **ret)
{
	struct rf_service *svc;

	if (!cfg || !cfg->modules)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	svc = xcalloc(1, sizeof(*svc));
	svc->modules = cfg->modules;
	svc->auth = cfg->auth;
	svc->data = cfg->data;
	svc->challenge = xasprintf("Basic realm=\"%s\"", cfg->realm ? cfg->realm : "Redfish");
	svc->body_max = cfg->body_max ? cfg->body_max : RF_BODY_MAX;
	pthread_mutex_init(&svc->write_lock, NULL);
	svc->routes = rf_routes_new(svc->modules);
	*ret = svc;
	return 0;
}

struct rf_service *rf_service_free(struct rf_service *svc)
{
	if (!svc)
		return NULL;
	pthread_mutex_destroy(&svc->write_lock);
	rf_routes_free(svc->routes);
	free(svc->challenge);
	free(svc);
	return NULL;
}

struct rf_auth *rf_service_auth(const struct rf_service *svc)
{
	return svc->auth;
}

size_t rf_service_body_max(const struct rf_service *svc)
{
	return svc->body_max;
}

const char *rf_service_challenge(const struct rf_service *svc)
{
	return svc->challenge;
}

void rf_service_schemas(const struct rf_service *svc, void (*fn)(void *cls, const char *ns),
                        void *cls)
{
	for (size_t m = 0; svc->modules[m]; m++)
		for (const char *const *s = svc->modules[m]->schemas; s && *s; s++) {
			bool seen = false;

			/* Quadratic, but over a few dozen names, once per $metadata. */
			for (size_t m2 = 0; m2 <= m && !seen; m2++)
				for (const char *const *s2 = svc->modules[m2]->schemas;
				     s2 && *s2 && s2 != s && !seen; s2++)
					seen = strcmp(*s2, *s) == 0;
			if (!seen)
				fn(cls, *s);
		}
}

/* ---- paths and routes ---- */

/* The path without trailing slashes ("/" stays), malloc'd; NULL when it
 * does not start with '/'. */
static char *path_normalize(const char *path)
{
	size_t n;

	if (!path || path[0] != '/')
		return NULL;
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	return strndup(path, n) ?: (abort(), NULL);
}

bool rf_service_has(const struct rf_service *svc, const char *method, const char *path)
{
	const struct rf_route *r;
	char allow[RF_ALLOW_MAX];
	char *p = path_normalize(path);
	bool found;

	if (!p)
		return false;
	found = rf_routes_match(svc->routes, method, p, &r, NULL, allow) == 0;
	free(p);
	return found;
}

const char *rf_param(const struct rf_call *call, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < call->priv->nparams; i++)
		if (call->priv->pname_len[i] == n && memcmp(call->priv->pname[i], name, n) == 0)
			return call->priv->pvalue[i];
	return NULL;
}

bool rf_has_privs(const struct rf_call *call, unsigned privs)
{
	return call->authenticated && (call->who.privs & privs) == privs;
}

const char *rf_header(const struct rf_call *call, const char *name)
{
	if (!call->req->header)
		return NULL;
	return call->req->header(call->req->header_cls, name);
}

/* ---- replies ---- */

void rf_set_header(struct rf_call *call, const char *name, const char *value)
{
	rf_response_set_header(call->resp, name, value);
}

void rf_reply_json(struct rf_call *call, int status, json_t *body)
{
	assert(status >= 100 && status <= 599);
	response_clear_body(call->resp);
	call->resp->status = status;
	call->resp->body = body;
}

void rf_reply_resource(struct rf_call *call, json_t *body)
{
	rf_reply_json(call, 200, body);
}

void rf_reply_created(struct rf_call *call, const char *location, json_t *body)
{
	rf_reply_json(call, 201, body);
	rf_set_header(call, "Location", location);
}

void rf_reply_no_content(struct rf_call *call)
{
	rf_reply_json(call, 204, NULL);
}

void rf_reply_errors(struct rf_call *call, int status, json_t *msgs)
{
	assert(status >= 400);
	rf_reply_json(call, status, rf_error_body(msgs));
}

void rf_reply_error(struct rf_call *call, int status, json_t *msg)
{
	rf_reply_errors(call, status, json_pack("[o]", msg));
}

void rf_reply_not_found(struct rf_call *call)
{
	rf_reply_error(call, 404, rf_msg(RF_MSG_RESOURCE_MISSING_AT_URI, call->req->path, NULL));
}

void rf_reply_internal(struct rf_call *call)
{
	rf_reply_error(call, 500, rf_msg(RF_MSG_INTERNAL_ERROR, NULL));
}

void rf_reply_success(struct rf_call *call, json_t *msg)
{
	rf_reply_json(call, 200, json_pack("{s:[o]}", "@Message.ExtendedInfo", msg));
}

void rf_reply_raw(struct rf_call *call, int status, const char *content_type, const void *data,
                  size_t len)
{
	struct rf_response *resp = call->resp;

	response_clear_body(resp);
	resp->status = status;
	resp->raw = xmalloc(len + 1);
	memcpy(resp->raw, data, len);
	resp->raw[len] = '\0';
	resp->raw_len = len;
	resp->content_type = xstrdup(content_type);
}

void rf_reply_stream(struct rf_call *call, int status, const char *content_type, rf_stream_fn fn,
                     void *cls, void (*free_cls)(void *))
{
	struct rf_response *resp = call->resp;

	assert(fn);
	response_clear_body(resp);
	resp->status = status;
	resp->stream = fn;
	resp->stream_cls = cls;
	resp->stream_free = free_cls;
	resp->content_type = xstrdup(content_type);
}

void rf_set_etag(struct rf_call *call, const char *etag)
{
	char *out = call->priv->etag;
	size_t n = strnlen(etag, RF_ETAG_MAX - 3);

	out[0] = '"';
	memcpy(out + 1, etag, n);
	memcpy(out + 1 + n, "\"", 2);
}

json_t *rf_link(const char *path)
{
	json_t *o = json_object();

	json_object_set_new_nocheck(o, "@odata.id", json_string(path));
	return o;
}

json_t *rf_collection_new(const char *odata_id, const char *type, const char *name,
                          json_t *member_ids)
{
	json_t *members = json_array(), *v;
	char *t = xasprintf("#%s.%s", type, type);
	size_t i;

	json_array_foreach(member_ids, i, v)
	{
		json_t *link;

		if (!json_is_string(v))
			continue;
		link = json_object();
		json_object_set_nocheck(link, "@odata.id", v);
		json_array_append_new(members, link);
	}
	json_decref(member_ids);
	v = json_pack("{s:s, s:s, s:s, s:I, s:o}", "@odata.id", odata_id, "@odata.type", t, "Name",
	              name, "Members@odata.count", (json_int_t)json_array_size(members), "Members",
	              members);
	free(t);
	return v;
}

/* ---- ETags ---- */

/* A strong ETag from the body: the first 64 bits of the SHA-256 of its
 * compact serialisation with sorted keys, without "@odata.etag". */
static void etag_of(const json_t *body, char out[RF_ETAG_MAX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char *s;

	if (json_object_get(body, "@odata.etag")) { /* body may be shared: a copy without */
		json_t *c = json_copy((json_t *)body);

		json_object_del(c, "@odata.etag");
		s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(c);
	} else {
		s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	}
	crypto_hash_sha256(h, (const unsigned char *)(s ? s : ""), s ? strlen(s) : 0);
	free(s);
	snprintf(out, RF_ETAG_MAX, "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", h[0], h[1], h[2], h[3],
	         h[4], h[5], h[6], h[7]);
}

/* Does the If-Match / If-None-Match list hold etag? "*" matches anything;
 * the weak prefix W/ is ignored. */
static bool etag_list_has(const char *list, const char *etag)
{
	const char *p = list;
	size_t n = strlen(etag);

	while (*p) {
		const char *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == n && memcmp(p, etag, n) == 0)
			return true;
		p = e;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/* A 200/201 resource answer gets its ETag: the handler's or the body's,
 * also in "@odata.etag" (already there in a body a handler keeps). */
static void add_etag(struct rf_call *call, char out[RF_ETAG_MAX])
{
	json_t *body = call->resp->body;
	const char *had;

	out[0] = '\0';
	if (!json_is_object(body) || !json_object_get(body, "@odata.id"))
		return;
	if (call->priv->etag[0])
		memcpy(out, call->priv->etag, RF_ETAG_MAX);
	else
		etag_of(body, out);
	had = json_string_value(json_object_get(body, "@odata.etag"));
	if (had && strcmp(had, out) == 0)
		return;
	body = call->resp->body = rf_json_own(body);
	json_object_set_new(body, "@odata.etag", json_string(out));
}

/* ---- authentication ---- */

static int auth_basic(struct rf_call *call, const char *h)
{
	char buf[BASIC_MAX + 1], *colon;
	size_t len = 0;
	int r;

	h += 6;
	while (*h == ' ')
		h++;
	if (sodium_base642bin((unsigned char *)buf, BASIC_MAX, h, strlen(h), NULL, &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EACCES;
	buf[len] = '\0';
	colon = strchr(buf, ':');
	if (!colon || strlen(buf) != len) {
		sodium_memzero(buf, sizeof(buf));
		return -EACCES;
	}
	*colon = '\0';
	r = rf_auth_basic(call->svc->auth, buf, colon + 1,
	                  call->req->client_addr ? call->req->client_addr : "unknown", &call->who);
	sodium_memzero(buf, sizeof(buf));
	return r;
}

/* Who is calling: the transport's principal, a session token, or Basic
 * credentials. 0 or -EACCES / -EAGAIN. */
static int authenticate(struct rf_call *call)
{
	const char *tok, *h;
	int r = -EACCES;

	if (call->req->principal) {
		call->who = *call->req->principal;
		r = 0;
	} else if (call->svc->auth) {
		tok = rf_header(call, "X-Auth-Token");
		h = rf_header(call, "Authorization");
		if (!str_empty(tok))
			r = rf_auth_token(call->svc->auth, tok, &call->who);
		else if (h && strncasecmp(h, "Basic ", 6) == 0)
			r = auth_basic(call, h);
	}
	if (r == 0)
		call->authenticated = true;
	else
		memset(&call->who, 0, sizeof(call->who));
	return r;
}

static void reply_unauthorized(struct rf_call *call)
{
	rf_reply_error(call, 401, rf_msg(RF_MSG_ACCESS_UNAUTHORIZED, NULL));
	rf_set_header(call, "WWW-Authenticate", call->svc->challenge);
}

/* ---- GETs inside a request ---- */

static void serve(struct rf_service *svc, const struct rf_request *req, struct rf_response *resp,
                  int depth, bool internal, struct rf_memos *memos, char etag_out[RF_ETAG_MAX]);

/* A GET of path as who (NULL: unauthenticated); the body on a 200 (new
 * reference) and its ETag, else the status. Within a GET it shares the
 * request's memos (rf_call_memo()). */
static int internal_get(struct rf_call *call, const char *path, json_t **ret_body,
                        char etag[RF_ETAG_MAX])
{
	struct rf_request req = { .method = "GET",
		                  .path = path,
		                  .client_addr = call->req->client_addr,
		                  .principal = call->authenticated ? &call->who : NULL };
	struct rf_response resp;
	char tag[RF_ETAG_MAX];
	int status;

	if (call->priv->depth + 1 > RF_DEPTH_MAX)
		return 500;
	rf_response_init(&resp);
	serve(call->svc, &req, &resp, call->priv->depth + 1, true,
	      call->priv->memo_shared ? call->priv->memos : NULL, tag);
	status = resp.status;
	if (status == 200 && resp.body) {
		*ret_body = json_incref(resp.body);
		if (etag)
			memcpy(etag, tag, RF_ETAG_MAX);
		status = 0;
	} else if (status == 200) {
		status = 500;
	}
	rf_response_clear(&resp);
	return status;
}

int rf_get(struct rf_call *call, const char *path, json_t **ret_body)
{
	json_t *body;
	int status = internal_get(call, path, &body, NULL);

	if (status == 0)
		*ret_body = rf_json_own(body);
	return status;
}

int rf_get_etag(struct rf_call *call, const char *path, json_t **ret_body, char etag[RF_ETAG_MAX])
{
	return internal_get(call, path, ret_body, etag);
}

void *rf_call_memo(struct rf_call *call, const void *key, void *(*make)(struct rf_call *call),
                   void (*free_fn)(void *value))
{
	struct rf_memos *m = call->priv->memos;
	void *v;

	assert(key);
	for (int i = 0; i < m->n; i++)
		if (m->m[i].key == key)
			return m->m[i].value;
	if (!make)
		return NULL;
	v = make(call);
	if (m->n >= RF_MEMOS_MAX) /* the request's are full: the call's own */
		m = &call->priv->own_memos;
	assert(m->n < RF_MEMOS_MAX); /* more kinds than a request needs: a bug */
	m->m[m->n].key = key;
	m->m[m->n].value = v;
	m->m[m->n].free_fn = free_fn;
	m->n++;
	return v;
}

static void memos_free(struct rf_memos *m)
{
	for (int i = 0; i < m->n; i++)
		if (m->m[i].free_fn)
			m->m[i].free_fn(m->m[i].value);
	m->n = 0;
}

/* The path of the resource a write is about: an action's resource is the
 * path before "/Actions/". malloc'd. */
static char *resource_path(const struct rf_call *call)
{
	const char *a = strstr(call->path, "/Actions/");

	if (a && strcmp(call->method, "POST") == 0)
		return strndup(call->path, (size_t)(a - call->path)) ?: (abort(), NULL);
	return xstrdup(call->path);
}

int rf_call_current(struct rf_call *call, const json_t **ret)
{
	struct rf_call_priv *p = call->priv;

	if (!p->current_done) {
		char *path = resource_path(call);

		p->current_status = internal_get(call, path, &p->current, p->current_etag);
		p->current_done = true;
		free(path);
	}
	if (p->current_status == 0)
		*ret = p->current;
	return p->current_status;
}

/* ---- the request ---- */

static bool is_write(const char *method)
{
	return strcmp(method, "GET") != 0;
}

static bool has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0 ||
	       strcmp(method, "PUT") == 0;
}

/* Parses the body of POST, PATCH, PUT into call->body (an object; {} when
 * none came). 0 or an answer already made. */
static int take_body(struct rf_call *call)
{
	const struct rf_request *req = call->req;
	json_error_t e;
	json_t *v;

	if (req->body_len > call->svc->body_max) {
		rf_reply_error(call, 413, rf_msg(RF_MSG_PAYLOAD_TOO_LARGE, NULL));
		return -EMSGSIZE;
	}
	if (!has_body(call->method) || (call->route->flags & RF_RAW_BODY))
		return 0;
	if (!req->body || req->body_len == 0) {
		call->body = json_object();
		return 0;
	}
	v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(v)) {
		json_decref(v);
		rf_reply_error(call, 400, rf_msg(RF_MSG_MALFORMED_JSON, NULL));
		return -EINVAL;
	}
	call->body = v;
	return 0;
}

/* If-Match (or a PATCH body's "@odata.etag") on a write: the resource as
 * it is now must have that ETag. 0 or an answer already made. */
static int check_precondition(struct rf_call *call)
{
	struct rf_call_priv *p = call->priv;
	const json_t *cur;
	int status;

	p->if_match = rf_header(call, "If-Match");
	if (!p->if_match && strcmp(call->method, "PATCH") == 0)
		p->if_match = json_string_value(json_object_get(call->body, "@odata.etag"));
	if (str_empty(p->if_match))
		return 0;
	status = rf_call_current(call, &cur);
	if (status == 404) {
		rf_reply_not_found(call);
		return -ENOENT;
	}
	if (status != 0 || !etag_list_has(p->if_match, p->current_etag)) {
		rf_reply_error(call, 412, rf_msg(RF_MSG_PRECONDITION_FAILED, NULL));
		return -ESTALE;
	}
	return 0;
}

/* "OData-Version", when a client sends it, must be 4.0. */
static int check_odata_version(struct rf_call *call)
{
	const char *v = rf_header(call, "OData-Version");

	if (!v || strcmp(v, "4.0") == 0)
		return 0;
	rf_reply_error(call, 412, rf_msg(RF_MSG_HEADER_INVALID, "OData-Version", NULL));
	return -EINVAL;
}

/* The JSON schema of a body, from its @odata.type: "ServiceRoot.v1_20_0"
 * for "#ServiceRoot.v1_20_0.ServiceRoot". */
static void describedby(struct rf_call *call)
{
	const char *t = json_string_value(json_object_get(call->resp->body, "@odata.type"));
	const char *dot;
	char *link;

	if (!t || t[0] != '#')
		return;
	dot = strrchr(t, '.');
	if (!dot || dot == t + 1)
		return;
	link =
	    xasprintf("<%s%.*s.json>; rel=describedby", RF_SCHEMA_URI, (int)(dot - t - 1), t + 1);
	rf_set_header(call, "Link", link);
	free(link);
}

static void reply_msgs(struct rf_call *call, int status, json_t *msgs)
{
	rf_reply_errors(call, status, msgs);
}

/* Sets the ETag header; with If-None-Match holding it, answers 304. */
static bool not_modified(struct rf_call *call, const char *inm, const char *etag)
{
	if (!etag[0])
		return false;
	rf_set_header(call, "ETag", etag);
	if (!inm || !etag_list_has(inm, etag))
		return false;
	describedby(call);
	response_clear_body(call->resp);
	call->resp->status = 304;
	return true;
}

/* After a GET's handler answered 200: "only", If-None-Match, the other
 * query parameters. */
static void finish_get(struct rf_call *call, const struct rf_query *q, char etag[RF_ETAG_MAX])
{
	struct rf_response *resp = call->resp;
	const char *inm;
	json_t *msgs = NULL;
	int status;

	if (q->only) {
		status = rf_query_only(call, q, &resp->body, &msgs);
		if (status) {
			reply_msgs(call, status, msgs);
			return;
		}
	}
	add_etag(call, etag);
	inm = rf_header(call, "If-None-Match");
	/* Without $expand the answer's ETag is the resource's, known before
	 * the other queries run; with it, it covers the resources put in the
	 * answer too (rf_query_apply() makes it), so that a member that
	 * changed is not answered 304. */
	if (!q->expand && not_modified(call, inm, etag))
		return;
	if (q->expand) /* the queries below change the body: not a shared one */
		resp->body = rf_json_own_deep(resp->body);
	else if (q->top >= 0 || q->skip >= 0 || q->select)
		resp->body = rf_json_own(resp->body);
	status = rf_query_apply(call, q, resp->body, etag, &msgs);
	if (status) {
		reply_msgs(call, status, msgs);
		return;
	}
	if (q->expand)
		not_modified(call, inm, etag);
}

/* Runs the checks and the handler of one request; resp has the answer. */
static void dispatch(struct rf_call *call, struct rf_query *q, bool internal,
                     char etag[RF_ETAG_MAX])
{
	struct rf_service *svc = call->svc;
	char allow[RF_ALLOW_MAX];
	json_t *msgs = NULL;
	bool locked = false;
	int r, status;

	r = rf_routes_match(svc->routes, call->method, call->path, &call->route, call->priv, allow);
	if (!(r == 0 && (call->route->flags & RF_OPEN)) && authenticate(call) < 0) {
		reply_unauthorized(call);
		return;
	}
	if (allow[0] && !internal)
		rf_set_header(call, "Allow", allow);
	if (r == -EOPNOTSUPP) {
		rf_reply_error(call, 405, rf_msg(RF_MSG_OPERATION_NOT_ALLOWED, NULL));
		return;
	}
	if (r < 0) {
		rf_reply_not_found(call);
		return;
	}
	if ((call->route->privs & call->who.privs) != call->route->privs) {
		rf_reply_error(call, 403, rf_msg(RF_MSG_INSUFFICIENT_PRIVILEGE, NULL));
		return;
	}
	if (!internal && check_odata_version(call) < 0)
		return;
	if (!internal && !(call->route->flags & RF_STREAM)) {
		status = rf_query_parse(call->req->query, !is_write(call->method), q, &msgs);
		if (status) {
			reply_msgs(call, status, msgs);
			return;
		}
	}
	if (take_body(call) < 0)
		return;
	if (is_write(call->method) && !(call->route->flags & RF_UNLOCKED)) {
		pthread_mutex_lock(&svc->write_lock);
		locked = true;
	}
	if (!is_write(call->method) || check_precondition(call) == 0)
		call->route->handler(call);
	if (locked)
		pthread_mutex_unlock(&svc->write_lock);
	if (call->resp->status == 0)
		rf_reply_internal(call);

	if (call->resp->stream || !json_is_object(call->resp->body))
		return;
	if (call->resp->status == 200 && !is_write(call->method) && !internal) {
		finish_get(call, q, etag);
	} else if (call->resp->status == 200 || call->resp->status == 201) {
		add_etag(call, etag);
		if (etag[0] && !internal)
			rf_set_header(call, "ETag", etag);
	}
}

/* memos: the request's, shared by its GETs; NULL: this call's own, and
 * shared with the GETs it makes when it is a GET itself. */
static void serve(struct rf_service *svc, const struct rf_request *req, struct rf_response *resp,
                  int depth, bool internal, struct rf_memos *memos, char etag_out[RF_ETAG_MAX])
{
	struct rf_call_priv priv = { .depth = depth };
	struct rf_call call = {
		.svc = svc, .req = req, .resp = resp, .data = svc->data, .priv = &priv
	};
	struct rf_query q = { .top = -1, .skip = -1 };
	char etag[RF_ETAG_MAX] = "";
	bool head = strcmp(req->method, "HEAD") == 0;
	char *path = path_normalize(req->path);

	response_clear_body(resp);
	resp->status = 0;
	call.method = head ? "GET" : req->method;
	/* The GETs of a GET share what their handlers load; a write's GETs
	 * do not: each must see the changes made before it. */
	priv.memos = memos ? memos : &priv.own_memos;
	priv.memo_shared = memos || strcmp(call.method, "GET") == 0;
	call.path = path;
	if (!path) {
		rf_reply_error(&call, 404, rf_msg(RF_MSG_INVALID_URI, req->path, NULL));
		goto out;
	}
	dispatch(&call, &q, internal, etag);
	if (!internal) {
		bool get = strcmp(call.method, "GET") == 0;

		if (get && (resp->status == 200 || resp->status == 304) && resp->body)
			describedby(&call);
		if (head && !resp->stream) {
			char *ct = resp->body || resp->raw ? xstrdup(rf_response_content_type(resp))
			                                   : NULL;

			response_clear_body(resp);
			resp->content_type = ct;
		}
		rf_response_common_headers(resp);
	}
out:
	if (etag_out)
		memcpy(etag_out, etag, RF_ETAG_MAX);
	rf_query_free(&q);
	json_decref(call.body);
	json_decref(priv.current);
	memos_free(&priv.own_memos);
	for (int i = 0; i < priv.nparams; i++)
		free(priv.pvalue[i]);
	free(path);
}

int rf_handle(struct rf_service *svc, const struct rf_request *req, struct rf_response *resp)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PATCH", "PUT", "DELETE" };
	bool known = false;

	assert(svc && req && resp);
	for (size_t i = 0; req->method && i < ARRAY_SIZE(methods); i++)
		known = known || strcmp(req->method, methods[i]) == 0;
	if (!req->path || !req->method) {
		rf_response_clear(resp);
		resp->status = 400;
		resp->body = rf_error_body(json_pack("[o]", rf_msg(RF_MSG_GENERAL_ERROR, NULL)));
		rf_response_common_headers(resp);
		return -EINVAL;
	}
	if (!known) {
		struct rf_request r2 = *req;

		/* An unknown method is refused like a known one on a path that
		 * lacks it, after authentication: 405 with Allow. */
		r2.method = "OPTIONS";
		serve(svc, &r2, resp, 0, false, NULL, NULL);
		return 0;
	}
	serve(svc, req, resp, 0, false, NULL, NULL);
	return 0;
}

json_t *rf_protocol_features(void)
{
	return json_pack("{s:{s:b, s:b, s:b, s:b, s:i}, s:b, s:b, s:b, s:b, s:b, s:b}",
	                 "ExpandQuery", "ExpandAll", 1, "Levels", 1, "Links", 1, "NoLinks", 1,
	                 "MaxLevels", RF_EXPAND_LEVELS_MAX, "SelectQuery", 1, "FilterQuery", 0,
	                 "OnlyMemberQuery", 1, "TopSkipQuery", 1, "ExcerptQuery", 0,
	                 "MultipleHTTPRequests", 1);
}
