// SPDX-License-Identifier: MIT
/*
 * The query parameters of the Redfish core (DSP0266 "Query parameters"):
 * parsing the query string, then applying "only", $top/$skip (with
 * Members@odata.nextLink; Members@odata.count stays the total), $expand
 * ("*", "." and "~", with $levels up to RF_EXPAND_LEVELS_MAX, each
 * navigation property fetched with rf_get() as the same caller, and the
 * answer's ETag made to cover them: see "$expand" below) and $select to a
 * GET's answer.
 * Other "$" parameters ($filter, $orderby, ...) are refused with 501;
 * parameters without "$" that the core does not know ("excerpt", a
 * client's cache buster) are ignored, as the specification asks.
 * rf_protocol_features() in redfish.c advertises exactly this.
 */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/redfish.h"
#include "common/redfish_int.h"
#include "common/util.h"

#define QUERY_PARAMS_MAX 32
#define SELECT_MAX 1024
#define NEXTLINK_MAX 2048

void rf_query_free(struct rf_query *q)
{
	free(q->select);
	q->select = NULL;
}

static int refuse(json_t **ret_msgs, int status, json_t *msg)
{
	*ret_msgs = json_pack("[o]", msg);
	return status;
}

/* A count for $top/$skip: decimal digits only. */
static int parse_count(const char *v, long *ret)
{
	char *end;
	long n;

	if (!v || !isdigit((unsigned char)v[0]) || strlen(v) > 9)
		return -EINVAL;
	n = strtol(v, &end, 10);
	if (*end)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* "Name,Status/Health,Links/Chassis": names of letters, digits, '_',
 * '@', '.', '#', joined by '/'. */
static bool select_valid(const char *v)
{
	bool start = true;

	if (str_empty(v) || strlen(v) > SELECT_MAX)
		return false;
	for (const char *p = v; *p; p++) {
		char c = *p;

		if (c == ',' || c == '/') {
			if (start)
				return false;
			start = true;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '_' && c != '@' && c != '.' && c != '#')
			return false;
		start = false;
	}
	return !start;
}

/* "*", ".", "~", each with an optional "($levels=N)". */
static int parse_expand(const char *v, struct rf_query *q, json_t **ret_msgs)
{
	char range[32];
	long levels = 1;
	const char *rest;

	switch (v[0]) {
	case '*':
		q->expand = RF_EXPAND_ALL;
		break;
	case '.':
		q->expand = RF_EXPAND_SUBORDINATE;
		break;
	case '~':
		q->expand = RF_EXPAND_LINKS;
		break;
	default:
		goto bad;
	}
	rest = v + 1;
	if (*rest) {
		char num[16];
		size_t n;

		if (strncmp(rest, "($levels=", 9) != 0)
			goto bad;
		rest += 9;
		n = strcspn(rest, ")");
		if (n == 0 || n >= sizeof(num) || strcmp(rest + n, ")") != 0)
			goto bad;
		memcpy(num, rest, n);
		num[n] = '\0';
		if (parse_count(num, &levels) < 0)
			goto bad;
	}
	if (levels < 1 || levels > RF_EXPAND_LEVELS_MAX) {
		snprintf(range, sizeof(range), "1-%d", RF_EXPAND_LEVELS_MAX);
		return refuse(
		    ret_msgs, 400,
		    rf_msg(RF_MSG_QUERY_PARAMETER_OUT_OF_RANGE, v, "$expand", range, NULL));
	}
	q->levels = (int)levels;
	return 0;
bad:
	return refuse(ret_msgs, 400,
	              rf_msg(RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR, v, "$expand", NULL));
}

/* One parameter; 0 or a refusal. */
static int parse_one(const char *key, const char *val, struct rf_query *q, json_t **ret_msgs)
{
	const char *v = val ? val : "";
	char range[32];

	if (strcmp(key, "only") == 0) {
		q->only = true;
	} else if (strcmp(key, "$top") == 0 || strcmp(key, "$skip") == 0) {
		long n;

		if (parse_count(v, &n) < 0)
			return refuse(
			    ret_msgs, 400,
			    rf_msg(RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR, v, key, NULL));
		if (key[1] == 't' && n > RF_TOP_MAX) {
			snprintf(range, sizeof(range), "0-%d", RF_TOP_MAX);
			return refuse(
			    ret_msgs, 400,
			    rf_msg(RF_MSG_QUERY_PARAMETER_OUT_OF_RANGE, v, key, range, NULL));
		}
		*(key[1] == 't' ? &q->top : &q->skip) = n;
	} else if (strcmp(key, "$select") == 0) {
		if (!select_valid(v))
			return refuse(
			    ret_msgs, 400,
			    rf_msg(RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR, v, key, NULL));
		free(q->select);
		q->select = xstrdup(v);
	} else if (strcmp(key, "$expand") == 0) {
		int r = parse_expand(v, q, ret_msgs);

		if (r)
			return r;
	} else if (key[0] == '$') {
		*ret_msgs = json_pack("[o,o]", rf_msg(RF_MSG_QUERY_NOT_SUPPORTED, NULL),
		                      rf_msg(RF_MSG_QUERY_PARAMETER_UNSUPPORTED, key, NULL));
		return 501;
	} else {
		return 0; /* not ours: ignored */
	}
	q->any = true;
	return 0;
}

int rf_query_parse(const char *qs, bool get, struct rf_query *q, json_t **ret_msgs)
{
	const char *p = qs;
	int n = 0, r = 0;

	q->top = q->skip = -1;
	while (p && *p && r == 0) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *key = NULL, *val = NULL;

		if (len == 0)
			goto next;
		if (++n > QUERY_PARAMS_MAX) {
			r = refuse(ret_msgs, 400, rf_msg(RF_MSG_QUERY_COMBINATION_INVALID, NULL));
			break;
		}
		key = rf_pct_decode(p, klen, false);
		if (eq)
			val = rf_pct_decode(eq + 1, len - klen - 1, false);
		if (!key || (eq && !val)) {
			char *raw = strndup(p, len);

			r = refuse(ret_msgs, 400,
			           rf_msg(RF_MSG_QUERY_PARAMETER_VALUE_FORMAT_ERROR, raw ? raw : "",
			                  key ? key : "?", NULL));
			free(raw);
		} else {
			r = parse_one(key, val, q, ret_msgs);
		}
		free(key);
		free(val);
	next:
		p += len;
		if (*p == '&')
			p++;
	}
	if (r)
		return r;
	if (q->any && !get)
		return refuse(ret_msgs, 400, rf_msg(RF_MSG_QUERY_NOT_SUPPORTED_ON_OPERATION, NULL));
	if (q->only && (q->top >= 0 || q->skip >= 0 || q->select || q->expand))
		return refuse(ret_msgs, 400, rf_msg(RF_MSG_QUERY_COMBINATION_INVALID, NULL));
	return 0;
}

static bool is_collection(const json_t *body)
{
	return json_is_array(json_object_get(body, "Members"));
}

int rf_query_only(struct rf_call *call, const struct rf_query *q, json_t **body, json_t **ret_msgs)
{
	json_t *members = json_object_get(*body, "Members"), *m;
	char etag[RF_ETAG_MAX];
	const char *id;

	if (!is_collection(*body))
		return refuse(ret_msgs, 400, rf_msg(RF_MSG_QUERY_NOT_SUPPORTED_ON_RESOURCE, NULL));
	if (json_array_size(members) != 1)
		return 0; /* the collection itself, as the specification says */
	id = json_string_value(json_object_get(json_array_get(members, 0), "@odata.id"));
	if (!id || rf_get_etag(call, id, &m, etag) != 0)
		return 0;
	json_decref(*body);
	*body = m;
	snprintf(call->priv->etag, sizeof(call->priv->etag), "%s", etag);
	return 0;
}

/* The query string with $skip set to skip: for Members@odata.nextLink. */
static char *next_link(const struct rf_call *call, long skip)
{
	const char *p = call->req->query;
	struct buf b;

	buf_init(&b, NEXTLINK_MAX);
	buf_puts(&b, call->path);
	buf_printf(&b, "?$skip=%ld", skip);
	while (p && *p) {
		size_t len = strcspn(p, "&");

		if (len && strncmp(p, "$skip=", 6) != 0 && strncmp(p, "%24skip=", 8) != 0) {
			buf_puts(&b, "&");
			buf_append(&b, p, len);
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return buf_steal(&b);
}

static int top_skip(struct rf_call *call, const struct rf_query *q, json_t *body, json_t **ret_msgs)
{
	json_t *members = json_object_get(body, "Members"), *page;
	size_t total, start, end;
	char num[24], range[48];

	if (!is_collection(body))
		return refuse(ret_msgs, 400, rf_msg(RF_MSG_QUERY_NOT_SUPPORTED_ON_RESOURCE, NULL));
	total = json_array_size(members);
	start = q->skip > 0 ? (size_t)q->skip : 0;
	if (start > 0 && start >= total) {
		snprintf(num, sizeof(num), "%ld", q->skip);
		snprintf(range, sizeof(range), "0-%zu", total ? total - 1 : 0);
		return refuse(
		    ret_msgs, 400,
		    rf_msg(RF_MSG_QUERY_PARAMETER_OUT_OF_RANGE, num, "$skip", range, NULL));
	}
	end = q->top >= 0 && start + (size_t)q->top < total ? start + (size_t)q->top : total;
	page = json_array();
	for (size_t i = start; i < end; i++)
		json_array_append(page, json_array_get(members, i));
	json_object_set_new(body, "Members", page);
	json_object_set_new(body, "Members@odata.count", json_integer((json_int_t)total));
	json_object_del(body, "Members@odata.nextLink");
	if (end < total) {
		char *link = next_link(call, (long)end);

		json_object_set_new(body, "Members@odata.nextLink", json_string(link));
		free(link);
	}
	return 0;
}

/* ---- $expand ----
 *
 * Which hyperlinks $expand puts in-line (DSP0266, "$expand"): "." those
 * that are not in a Links property, "~" only those that are, "*" both,
 * as deep as $levels, each fetched with a GET as the same caller (one that
 * fails stays a hyperlink). A hyperlink is an object whose only property
 * is "@odata.id": the value of a navigation property (Chassis.Sensors), or
 * an element of a navigation property's array (a collection's Members,
 * Links.ComputerSystems). The specification expands navigation properties,
 * and the schemas say which are: a property typed as a bare reference
 * (RelatedItem, OriginOfCondition, ... listed below, the same in every
 * schema that has them) names a resource of any type and allows the
 * reference only, so it is never expanded: the whole resource there would
 * not be valid. Annotations ("@odata.*", "@Redfish.Settings",
 * "Members@odata.nextLink") are not looked into: the service sends none
 * that holds a navigation property (@Redfish.Settings' SettingsObject and
 * @Redfish.CollectionCapabilities' references are bare ones). "Links" is
 * a Links property at any depth of a resource; an expanded resource
 * starts anew.
 *
 * The answer's ETag then covers what was put in it: the resource's own
 * and, in order, the ETag of each resource expanded into it (the status
 * of each that was not), hashed. Without a resource expanded it stays the
 * resource's.
 */

/* The DMTF schemas' bare references (json-schema/, publication 2025.4):
 * every property whose type (or whose array's items' type) is
 * odata-v4.json's idRef, or one of Resource.json's abstract Item,
 * Resource, ResourceCollection or ReferenceableMember (these allow the
 * reference, or an object without a concrete resource's properties).
 * "Memory" is one only in MemoryChunks.InterleaveSet; elsewhere it is a
 * navigation property. tests/unit/test_redfish.c compares this list with
 * the schemas. */
static const struct {
	const char *parent; /* NULL: anywhere */
	const char *name;
} bare_refs[] = {
	{ NULL, "ActiveRedundancyGroup" },
	{ NULL, "ActiveRedundancySet" },
	{ NULL, "ActiveTargets" },
	{ NULL, "AuthorizedDevices" },
	{ NULL, "CapabilitiesObject" },
	{ NULL, "ComponentsProtected" },
	{ NULL, "CooledBy" },
	{ NULL, "CreatedResources" },
	{ NULL, "DownstreamResources" },
	{ NULL, "Elements" },
	{ NULL, "EntityLink" },
	{ NULL, "IntegratedInto" },
	{ NULL, "JournalingMedia" },
	{ NULL, "MaintenanceWindowResource" },
	{ "InterleaveSet", "Memory" },
	{ NULL, "OriginOfCondition" },
	{ NULL, "OriginResources" },
	{ NULL, "Owner" },
	{ NULL, "PoweredBy" },
	{ NULL, "RedundancyGroup" },
	{ NULL, "RedundancySet" },
	{ NULL, "RelatedItem" },
	{ NULL, "ReplicaTargets" },
	{ NULL, "Requester" },
	{ NULL, "ResourcesAccessed" },
	{ NULL, "SettingsObject" },
	{ NULL, "StagedTargets" },
	{ NULL, "TargetCollection" },
	{ NULL, "UpstreamResources" },
};

bool rf_expand_bare_ref(const char *parent, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(bare_refs); i++) {
		if (strcmp(bare_refs[i].name, name) != 0)
			continue;
		if (!bare_refs[i].parent || (parent && strcmp(bare_refs[i].parent, parent) == 0))
			return true;
	}
	return false;
}

const char *rf_expand_bare_ref_name(size_t i)
{
	return i < ARRAY_SIZE(bare_refs) ? bare_refs[i].name : NULL;
}

struct expansion {
	struct rf_call *call; /* weak */
	enum rf_expand mode;
	crypto_generichash_state hash; /* of the ETags of what was expanded */
	bool expanded;                 /* a resource was put in-line */
};

/* Is node a hyperlink, {"@odata.id": "..."} and nothing else? */
static const char *reference(const json_t *node)
{
	if (!json_is_object(node) || json_object_size(node) != 1)
		return NULL;
	return json_string_value(json_object_get(node, "@odata.id"));
}

static void hash_str(struct expansion *x, const char *s)
{
	crypto_generichash_update(&x->hash, (const unsigned char *)s, strlen(s) + 1);
}

static void expand_props(struct expansion *x, json_t *obj, int levels, bool in_links,
                         const char *parent);

/* The resource v names when v is a hyperlink $expand replaces (under the
 * property name of the object parent), else NULL. New reference. */
static json_t *expand_ref(struct expansion *x, const json_t *v, int levels, bool in_links,
                          const char *parent, const char *name)
{
	char etag[RF_ETAG_MAX], num[16];
	const char *id = reference(v);
	json_t *child;
	int status;

	if (!id || (x->mode == RF_EXPAND_SUBORDINATE && in_links) ||
	    (x->mode == RF_EXPAND_LINKS && !in_links) || rf_expand_bare_ref(parent, name))
		return NULL;
	hash_str(x, id);
	status = rf_get_etag(x->call, id, &child, etag);
	if (status != 0) {
		snprintf(num, sizeof(num), "%d", status);
		hash_str(x, num); /* left as a reference */
		return NULL;
	}
	if (!etag[0]) { /* a body without an ETag: what it holds */
		size_t len;
		char *bytes = rf_json_compact(child, &len);

		hash_str(x, bytes ? bytes : "");
		free(bytes);
	}
	hash_str(x, etag);
	x->expanded = true;
	if (levels > 1) { /* changed inside: not a body its handler keeps */
		child = rf_json_own_deep(child);
		expand_props(x, child, levels - 1, false, NULL);
	}
	return child;
}

/* The hyperlinks below v, the value of the property name of an object
 * under parent. */
static void expand_value(struct expansion *x, json_t *v, int levels, bool in_links,
                         const char *parent, const char *name)
{
	if (json_is_object(v)) {
		expand_props(x, v, levels, in_links, name);
	} else if (json_is_array(v)) {
		size_t n = json_array_size(v);

		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(v, i);
			json_t *child = expand_ref(x, e, levels, in_links, parent, name);

			if (child)
				json_array_set_new(v, i, child);
			else
				expand_value(x, e, levels, in_links, parent, name);
		}
	}
}

/* The properties of obj (a resource, or an object in one under parent). */
static void expand_props(struct expansion *x, json_t *obj, int levels, bool in_links,
                         const char *parent)
{
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		json_t *v = json_object_iter_value(it), *child;
		bool links = in_links || strcmp(key, "Links") == 0;

		if (strchr(key, '@'))
			continue; /* an annotation */
		child = expand_ref(x, v, levels, links, parent, key);
		if (child)
			json_object_iter_set_new(obj, it, child);
		else
			expand_value(x, v, levels, links, parent, key);
	}
}

static void expand(struct rf_call *call, const struct rf_query *q, json_t *body,
                   char etag[RF_ETAG_MAX])
{
	struct expansion x = { .call = call, .mode = q->expand };
	unsigned char h[8];

	crypto_generichash_init(&x.hash, NULL, 0, sizeof(h));
	hash_str(&x, etag);
	expand_props(&x, body, q->levels, false, NULL);
	if (!x.expanded || !etag[0])
		return;
	crypto_generichash_final(&x.hash, h, sizeof(h));
	snprintf(etag, RF_ETAG_MAX, "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", h[0], h[1], h[2], h[3],
	         h[4], h[5], h[6], h[7]);
	if (json_object_get(body, "@odata.etag"))
		json_object_set_new(body, "@odata.etag", json_string(etag));
}

/* Copies the value at path ("Status/Health") from src into dst, making
 * the objects on the way. */
static void select_copy(json_t *dst, const json_t *src, const char *path)
{
	const char *slash = strchr(path, '/');
	char *name = slash ? strndup(path, (size_t)(slash - path)) : xstrdup(path);
	json_t *v = json_object_get(src, name);

	if (v && !slash) {
		json_object_set(dst, name, v);
	} else if (json_is_object(v)) {
		json_t *sub = json_object_get(dst, name);

		if (sub == v) /* all of it is there already; v may be shared: not changed */
			goto out;
		if (!json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(dst, name, sub);
		}
		select_copy(sub, v, slash + 1);
	}
out:
	free(name);
}

static void select_apply(json_t *body, const char *select)
{
	/* Kept whatever is selected: the annotations, and Id and Name, which
	 * every resource schema requires. */
	static const char *const always[] = { "@odata.id",      "@odata.type", "@odata.etag",
		                              "@odata.context", "Id",          "Name" };
	json_t *out = json_object();
	char *list = xstrdup(select), *save = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(always); i++) {
		json_t *v = json_object_get(body, always[i]);

		if (v)
			json_object_set(out, always[i], v);
	}
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);
		const char *key;
		json_t *v;

		select_copy(out, body, tok);
		/* Its annotations too: Members@odata.count with Members. */
		json_object_foreach(body, key, v)
		{
			if (strncmp(key, tok, n) == 0 && key[n] == '@')
				json_object_set(out, key, v);
		}
	}
	json_object_clear(body);
	json_object_update(body, out);
	json_decref(out);
	free(list);
}

int rf_query_apply(struct rf_call *call, const struct rf_query *q, json_t *body,
                   char etag[RF_ETAG_MAX], json_t **ret_msgs)
{
	int r;

	if (!q->any || !json_is_object(body))
		return 0;
	if (q->top >= 0 || q->skip >= 0) {
		r = top_skip(call, q, body, ret_msgs);
		if (r)
			return r;
	}
	if (q->expand)
		expand(call, q, body, etag);
	if (q->select)
		select_apply(body, q->select);
	return 0;
}
