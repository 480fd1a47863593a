// SPDX-License-Identifier: MIT
/*
 * /v1/api-keys: long-lived tokens for scripts. A key acts as the user who
 * made it, with that user's role at the time. The secret is answered once
 * at creation and stored only as a hash. Members see their own keys,
 * owners their account's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/events.h"
#include "kumod/store.h"

static const struct field apikey_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "user_id", FT_UUID, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "prefix", FT_STRING, F_READONLY, 0, 0, NULL, NULL, "first characters of the key" },
	{ "key", FT_STRING, F_READONLY, 0, 0, NULL, NULL, "the secret; answered only at creation" },
	{ "expires_at", FT_TIME, F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema apikey_schema = { "ApiKey", apikey_fields };

static const struct field apikey_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "expires_at", FT_TIME, F_NULLABLE, 0, 0, NULL, NULL, "default: never" },
	{ NULL },
};
static const struct schema apikey_create_schema = { "ApiKeyCreate", apikey_create_fields };

static const char *const apikey_hidden[] = { "secret_hash", "role_level", NULL };

static bool apikey_visible(struct http_request *req, const json_t *doc);
static void apikey_narrow(struct http_request *req, struct list_query *q);

const struct kind kind_apikey = {
	.name = "api-keys",
	.singular = "API key",
	.schema = &apikey_schema,
	.create = &apikey_create_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = false,
	.hidden = apikey_hidden,
	.narrow = apikey_narrow,
	.visible = apikey_visible,
};

static bool sees_all(struct http_request *req)
{
	return AUTH(req)->role >= ROLE_OWNER;
}

static bool apikey_visible(struct http_request *req, const json_t *doc)
{
	return sees_all(req) || !strcmp(jstr(doc, "user_id"), AUTH(req)->user_id);
}

static void apikey_narrow(struct http_request *req, struct list_query *q)
{
	if (!sees_all(req))
		query_add_eq(q, "user_id", AUTH(req)->user_id);
}

static void apikey_create(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	const char *exp = jstr(req->body, "expires_at");
	json_t *doc, *out;
	char hex[33], *secret, *hash, *key;
	const char *id;
	int64_t t;
	int r, j = 0;

	if (api_idem_replay(req, resp))
		return;
	if (exp && (time_parse(exp, &t) < 0 || t <= now_ms())) {
		http_reply_error(resp, -EINVAL, "expires_at", "expires_at must be in the future");
		return;
	}
	doc = api_new_doc(&kind_apikey, req, req->body);
	id = jstr(doc, "id");
	for (const char *p = id; *p; p++)
		if (*p != '-')
			hex[j++] = *p;
	hex[j] = '\0';
	secret = random_hex(32);
	hash = sha256_hex(secret, strlen(secret));
	key = xasprintf("kak_%s_%s", hex, secret);
	jset_str(doc, "user_id", AUTH(req)->user_id);
	jset_str(doc, "secret_hash", hash);
	jset_int(doc, "role_level", AUTH(req)->role);
	{
		char prefix[13];

		snprintf(prefix, sizeof(prefix), "%.12s", key);
		jset_str(doc, "prefix", prefix);
	}
	if (!exp)
		json_object_set_new(doc, "expires_at", json_null());
	r = store_begin();
	if (r == 0)
		r = store_insert("api-keys", doc, false);
	if (r < 0) {
		store_rollback();
		kerr_set(&e, r, "", "cannot store the API key");
		goto out;
	}
	event_emit("api_key.created", "api-keys", id, jstr(doc, "account_id"), NULL);
	out = api_present(&kind_apikey, doc);
	jset_str(out, "key", key);
	r = api_reply_created(req, resp, "api-keys", out);
	if (r < 0)
		kerr_set(&e, r, "", "cannot store the API key");
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	free(secret);
	free(hash);
	free(key);
	json_decref(doc);
}

static void apikey_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_apikey, req, resp);
}

static void apikey_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_apikey, req, resp);
}

static void apikey_delete(struct http_request *req, struct http_response *resp)
{
	api_delete(&kind_apikey, req, resp);
	auth_cache_invalidate(); /* committed (or not): no cached copy of the key answers */
}

const struct route api_apikey_routes[] = {
	{ "GET", "/v1/api-keys", apikey_list, ROLE_VIEWER, NULL, HTTP_LIST, "List API keys", 0,
	  "api-keys" },
	{ "GET", "/v1/api-keys/{id}", apikey_get, ROLE_VIEWER, NULL, 0, "Get an API key", 0,
	  "api-keys" },
	{ "POST", "/v1/api-keys", apikey_create, ROLE_VIEWER, &apikey_create_schema, 0,
	  "Create an API key (the key is answered once)", 0, "api-keys" },
	{ "DELETE", "/v1/api-keys/{id}", apikey_delete, ROLE_VIEWER, NULL, 0, "Revoke an API key",
	  0, "api-keys" },
	{ NULL },
};
