// SPDX-License-Identifier: MIT
/*
 * /v1/quotas: one quota per account (its id is the account id) with limits
 * on VM count, vCPUs and memory; -1 means unlimited. Admins set them;
 * accounts read their own, with the usage beside the limits.
 */
#include <errno.h>
#include <stdio.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/quota.h"
#include "kumod/store.h"

static const struct field quota_fields[] = {
	API_COMMON_FIELDS,
	{ "vm_count", FT_INT, F_FILTER, -1, 1000000, NULL, NULL, "-1 = unlimited" },
	{ "vcpus", FT_INT, F_FILTER, -1, 100000000, NULL, NULL, "-1 = unlimited" },
	{ "memory_mb", FT_INT, F_FILTER, -1, INT64_MAX, NULL, NULL, "-1 = unlimited" },
	{ "used", FT_OBJECT, F_READONLY, 0, 0, NULL, NULL, "usage now" },
	{ NULL },
};
static const struct schema quota_schema = { "Quota", quota_fields };

static const struct field quota_update_fields[] = {
	{ "vm_count", FT_INT, 0, -1, 1000000, NULL, NULL, NULL },
	{ "vcpus", FT_INT, 0, -1, 100000000, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, 0, -1, INT64_MAX, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema quota_update_schema = { "QuotaUpdate", quota_update_fields };

json_t *quota_usage(const char *account_id)
{
	struct list_query q;
	int64_t n = 0, cpus = 0, mem = 0;

	list_query_init(&q);
	q.account_id = account_id;
	store_count("vms", &q, &n);
	store_sum("vms", &q, "vcpus", &cpus);
	store_sum("vms", &q, "memory_mb", &mem);
	list_query_free(&q);
	return json_pack("{s:I,s:I,s:I}", "vm_count", (json_int_t)n, "vcpus", (json_int_t)cpus,
	                 "memory_mb", (json_int_t)mem);
}

int quota_check(const char *account_id, int64_t count, int64_t vcpus, int64_t memory_mb,
                struct kerr *e)
{
	static const char *const names[] = { "vm_count", "vcpus", "memory_mb" };
	json_t *quota = NULL, *used;
	int64_t add[3] = { count, vcpus * count, memory_mb * count };
	int r = 0;

	if (store_get("quotas", account_id, NULL, false, &quota) < 0)
		return 0; /* no quota record: unlimited */
	used = quota_usage(account_id);
	for (int i = 0; i < 3; i++) {
		int64_t limit = jint(quota, names[i], -1);
		int64_t u = jint(used, names[i], 0);

		if (limit >= 0 && u + add[i] > limit) {
			r = kerr_set(e, -EDQUOT, "",
			             "quota %s exceeded: limit %lld, in use %lld, requested %lld",
			             names[i], (long long)limit, (long long)u, (long long)add[i]);
			break;
		}
	}
	json_decref(used);
	json_decref(quota);
	return r;
}

static void quota_present(json_t *doc)
{
	json_object_set_new(doc, "used", quota_usage(jstr(doc, "account_id")));
	json_object_del(doc, "name");
}

const struct kind kind_quota = {
	.name = "quotas",
	.singular = "quota",
	.schema = &quota_schema,
	.update = &quota_update_schema,
	.scope = SCOPE_ACCOUNT,
	.present = quota_present,
};

static void quota_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_quota, req, resp);
}

static void quota_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_quota, req, resp);
}

static void quota_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_quota, req, resp);
}

const struct route api_quota_routes[] = {
	{ "GET", "/v1/quotas", quota_list, ROLE_VIEWER, NULL, HTTP_LIST, "List quotas", 0,
	  "quotas" },
	{ "GET", "/v1/quotas/{id}", quota_get, ROLE_VIEWER, NULL, 0,
	  "Get an account's quota and usage (id = account id)", 0, "quotas" },
	{ "PATCH", "/v1/quotas/{id}", quota_update, ROLE_ADMIN, &quota_update_schema, 0,
	  "Set an account's quota", 0, "quotas" },
	{ NULL },
};
