// SPDX-License-Identifier: MIT
/*
 * /v1/security-groups: stateful filtering rules of an account, attached to
 * VM NICs. A group holds its rules (at most SG_RULES_MAX); a new one gets
 * two default rules unless the create lists its own: ingress of everything
 * from members of the group itself, egress of everything to 0.0.0.0/0.
 * Rule changes and attach/detach must reach the hosts: they answer 202
 * with a net.update job (netsync.h). Which NICs are in a group is kept in
 * the VM documents (nics[].security_group_ids). The hosts' side (nftables
 * on the taps) is the agent's; this file only keeps the records.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/ipam.h"
#include "kumod/netapi.h"
#include "kumod/store.h"

#define SG_RULES_MAX 1000
#define SG_ATTACH_MAX 64 /* NICs in one attach or detach */

static const char *const directions[] = { "ingress", "egress", NULL };
static const char *const protocols[] = { "all", "tcp", "udp", "icmp", NULL };

static const struct field rule_fields[] = {
	{ "id", FT_UUID, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "direction", FT_STRING, F_REQUIRED, 0, 0, directions, NULL, NULL },
	{ "protocol", FT_STRING, 0, 0, 0, protocols, NULL, "default all" },
	{ "port_start", FT_INT, F_NULLABLE, 1, 65535, NULL, NULL, "tcp/udp only; default 1" },
	{ "port_end", FT_INT, F_NULLABLE, 1, 65535, NULL, NULL,
	  "tcp/udp only; default port_start when given, else 65535" },
	{ "cidr", FT_STRING, F_NULLABLE, 9, 18, NULL, NULL,
	  "the other end: an IPv4 CIDR (0.0.0.0/0 = anywhere), or remote_group_id" },
	{ "remote_group_id", FT_UUID, F_NULLABLE, 0, 0, NULL, NULL,
	  "the other end: the members of this group of the same account" },
	{ "description", FT_STRING, F_NULLABLE, 0, 255, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema rule_schema = { "SecurityGroupRule", rule_fields };

static const struct field sg_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "rules", FT_OBJECT_ARRAY, F_READONLY, 0, SG_RULES_MAX, NULL, &rule_schema, NULL },
	{ NULL },
};
static const struct schema sg_schema = { "SecurityGroup", sg_fields };

static const struct field sg_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ "rules", FT_OBJECT_ARRAY, 0, 0, SG_RULES_MAX, NULL, &rule_schema,
	  "the group's rules; default: ingress from the group itself, egress to anywhere" },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ NULL },
};
static const struct schema sg_create_schema = { "SecurityGroupCreate", sg_create_fields };

static const struct field sg_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "description", FT_STRING, F_NULLABLE, 0, 1024, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema sg_update_schema = { "SecurityGroupUpdate", sg_update_fields };

static const struct field attach_fields[] = {
	{ "nic_ids", FT_UUID_ARRAY, F_REQUIRED, 0, SG_ATTACH_MAX, NULL, NULL, "VM NIC ids" },
	{ NULL },
};
static const struct schema sg_attach_schema = { "SecurityGroupAttach", attach_fields };

/* --- rules --------------------------------------------------------------- */

/* "rules[3].cidr" or "cidr" */
static const char *fname(char *buf, size_t len, const char *prefix, const char *key)
{
	if (prefix && *prefix)
		snprintf(buf, len, "%s.%s", prefix, key);
	else
		snprintf(buf, len, "%s", key);
	return buf;
}

static bool rule_same(const json_t *a, const json_t *b)
{
	static const char *const keys[] = { "direction", "protocol", "port_start",
		                            "port_end",  "cidr",     "remote_group_id" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);

		if (json_is_null(x))
			x = NULL;
		if (json_is_null(y))
			y = NULL;
		if (!x != !y || (x && !json_equal(x, y)))
			return false;
	}
	return true;
}

/* A stored rule (new reference) from a request rule, for the group sg
 * (whose id and account_id are set). prefix names the fields in errors. */
static int rule_build(const json_t *in, const json_t *sg, const char *prefix, json_t **ret,
                      struct kerr *e)
{
	const char *proto = jstr(in, "protocol") ? jstr(in, "protocol") : "all";
	const char *cidr = jstr(in, "cidr"), *remote = jstr(in, "remote_group_id");
	json_t *ps = json_object_get(in, "port_start"), *pe = json_object_get(in, "port_end");
	bool ports = !strcmp(proto, "tcp") || !strcmp(proto, "udp");
	char f[64], id[UUID_LEN + 1], norm[20];
	int64_t start = 1, end = 65535;
	json_t *rule;

	if (json_is_null(ps))
		ps = NULL;
	if (json_is_null(pe))
		pe = NULL;
	if (!ports && (ps || pe))
		return kerr_set(e, -EINVAL,
		                fname(f, sizeof(f), prefix, ps ? "port_start" : "port_end"),
		                "ports are for tcp and udp rules only, not %s", proto);
	if (ports) {
		if (pe && !ps)
			return kerr_set(e, -EINVAL, fname(f, sizeof(f), prefix, "port_start"),
			                "port_end needs port_start");
		if (ps)
			start = end = json_integer_value(ps);
		if (pe)
			end = json_integer_value(pe);
		if (end < start)
			return kerr_set(e, -EINVAL, fname(f, sizeof(f), prefix, "port_end"),
			                "port_end %lld is below port_start %lld", (long long)end,
			                (long long)start);
	}
	if (cidr && remote)
		return kerr_set(e, -EINVAL, fname(f, sizeof(f), prefix, "remote_group_id"),
		                "give cidr or remote_group_id, not both");
	if (!cidr && !remote)
		return kerr_set(e, -EINVAL, fname(f, sizeof(f), prefix, "cidr"),
		                "give cidr (0.0.0.0/0 for anywhere) or remote_group_id");
	if (cidr) {
		uint32_t net, pfx;

		if (netapi_cidr_parse(cidr, &net, &pfx) < 0)
			return kerr_set(
			    e, -EINVAL, fname(f, sizeof(f), prefix, "cidr"),
			    "\"%s\" is not an IPv4 CIDR with its host bits zero, such as "
			    "0.0.0.0/0 or 10.0.0.0/24",
			    cidr);
		ip_format(net, norm);
		snprintf(norm + strlen(norm), sizeof(norm) - strlen(norm), "/%u", pfx);
	}
	if (remote && strcmp(remote, jstr(sg, "id")) != 0) {
		json_t *other = NULL;
		int r = store_get("security-groups", remote, jstr(sg, "account_id"), false, &other);

		json_decref(other);
		if (r == -ENOENT)
			return kerr_set(e, -ENOENT, fname(f, sizeof(f), prefix, "remote_group_id"),
			                "remote_group_id: no security group with id %s in the "
			                "group's account",
			                remote);
		if (r < 0)
			return kerr_set(e, r, "", "cannot read the security groups");
	}
	uuid_new(id);
	rule = json_pack("{s:s,s:s,s:s}", "id", id, "direction", jstr(in, "direction"), "protocol",
	                 proto);
	if (ports) {
		jset_int(rule, "port_start", start);
		jset_int(rule, "port_end", end);
	} else {
		json_object_set_new(rule, "port_start", json_null());
		json_object_set_new(rule, "port_end", json_null());
	}
	jset_str(rule, "cidr", cidr ? norm : NULL);
	jset_str(rule, "remote_group_id", remote);
	jset_str(rule, "description", jstr(in, "description"));
	*ret = rule;
	return 0;
}

/* Appends rule (stolen) to the group's rules unless an identical one is
 * there (409 naming field). */
static int rule_append(json_t *sg, json_t *rule, const char *field, struct kerr *e)
{
	json_t *rules = json_object_get(sg, "rules"), *it;
	size_t i;

	if (!json_is_array(rules)) {
		rules = json_array();
		json_object_set_new(sg, "rules", rules);
	}
	json_array_foreach(rules, i, it)
	{
		if (rule_same(it, rule)) {
			json_decref(rule);
			return kerr_set(e, -EEXIST, field,
			                "the group has this rule already (rule %s)",
			                jstr(it, "id"));
		}
	}
	if (json_array_size(rules) >= SG_RULES_MAX) {
		json_decref(rule);
		return kerr_set(e, -ENOSPC, field, "a security group holds at most %d rules",
		                SG_RULES_MAX);
	}
	json_array_append_new(rules, rule);
	return 0;
}

/* --- the kind ------------------------------------------------------------ */

static int sg_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	json_t *in = json_object_get(doc, "rules"), *it;
	size_t i;
	int r;

	(void)req;
	json_incref(in);
	json_object_set_new(doc, "rules", json_array());
	if (!json_object_get(doc, "description"))
		json_object_set_new(doc, "description", json_null());
	if (!in) {
		json_t *a = json_pack("{s:s,s:s,s:s}", "direction", "ingress", "protocol", "all",
		                      "remote_group_id", jstr(doc, "id"));
		json_t *b = json_pack("{s:s,s:s,s:s}", "direction", "egress", "protocol", "all",
		                      "cidr", "0.0.0.0/0");
		json_t *rule = NULL;

		r = rule_build(a, doc, "rules", &rule, e);
		if (r == 0)
			r = rule_append(doc, rule, "rules", e);
		if (r == 0)
			r = rule_build(b, doc, "rules", &rule, e);
		if (r == 0)
			r = rule_append(doc, rule, "rules", e);
		json_decref(a);
		json_decref(b);
		return r;
	}
	r = 0;
	json_array_foreach(in, i, it)
	{
		char prefix[32];
		json_t *rule = NULL;

		snprintf(prefix, sizeof(prefix), "rules[%zu]", i);
		r = rule_build(it, doc, prefix, &rule, e);
		if (r == 0)
			r = rule_append(doc, rule, prefix, e);
		if (r < 0)
			break;
	}
	json_decref(in);
	return r;
}

/* The VMs of the group's account with a NIC in group id: how many NICs,
 * and the VMs' names in out. */
static int sg_members(const json_t *sg, char *out, size_t outlen, int64_t *ret_nics)
{
	json_t *items = NULL, *vm, *nic, *v;
	int64_t nics = 0;
	size_t i, k, j, n = 0;
	char *pat;
	int r;

	out[0] = '\0';
	pat = xasprintf("%%\"%s\"%%", jstr(sg, "id"));
	r = netapi_list_like("vms", jstr(sg, "account_id"), "nics", pat, &items);
	free(pat);
	if (r < 0)
		return r;
	json_array_foreach(items, i, vm)
	{
		bool named = false;

		json_array_foreach(json_object_get(vm, "nics"), k, nic)
		{
			json_array_foreach(json_object_get(nic, "security_group_ids"), j, v)
			{
				if (!json_string_value(v) ||
				    strcmp(json_string_value(v), jstr(sg, "id")) != 0)
					continue;
				nics++;
				if (!named && n < outlen)
					n += (size_t)snprintf(out + n, outlen - n, "%s%s",
					                      n ? ", " : "", jstr(vm, "name"));
				named = true;
			}
		}
	}
	json_decref(items);
	*ret_nics = nics;
	return 0;
}

/* Other groups of the account with a rule naming group id. */
static int sg_referrers(const json_t *sg, char *out, size_t outlen, int64_t *ret_n)
{
	json_t *items = NULL, *it;
	int64_t cnt = 0;
	size_t i, n = 0;
	char *pat;
	int r;

	out[0] = '\0';
	pat = xasprintf("%%\"remote_group_id\":\"%s\"%%", jstr(sg, "id"));
	r = netapi_list_like("security-groups", jstr(sg, "account_id"), "rules", pat, &items);
	free(pat);
	if (r < 0)
		return r;
	json_array_foreach(items, i, it)
	{
		if (!strcmp(jstr(it, "id"), jstr(sg, "id")))
			continue;
		cnt++;
		if (n < outlen)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? ", " : "",
			                      jstr(it, "name"));
	}
	json_decref(items);
	*ret_n = cnt;
	return 0;
}

static int sg_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	char names[256];
	int64_t n = 0;
	int r;

	(void)req;
	r = sg_members(doc, names, sizeof(names), &n);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the VMs");
	if (n > 0)
		return kerr_set(e, -EBUSY, "",
		                "in use: attached to %lld NICs (VMs %s); detach it first",
		                (long long)n, names);
	r = sg_referrers(doc, names, sizeof(names), &n);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read the security groups");
	if (n > 0)
		return kerr_set(e, -EBUSY, "",
		                "in use: rules of security groups %s name it as remote_group_id",
		                names);
	return 0;
}

const struct kind kind_sg = {
	.name = "security-groups",
	.singular = "security group",
	.schema = &sg_schema,
	.create = &sg_create_schema,
	.update = &sg_update_schema,
	.scope = SCOPE_ACCOUNT,
	.unique_name = true,
	.on_create = sg_on_create,
	.on_delete = sg_on_delete,
};

API_CRUD_HANDLERS(sg, kind_sg)

/* --- rule and attach handlers -------------------------------------------- */

/* Starts a change of a group: checks ?wait, replays an Idempotency-Key,
 * begins the transaction and loads the group for writing. 1 = answered. */
static int sg_begin(struct http_request *req, struct http_response *resp, json_t **ret_sg,
                    struct kerr *e)
{
	int r;

	if (api_check_wait(req, e) < 0) {
		http_reply_kerr(resp, e);
		return 1;
	}
	if (api_idem_replay(req, resp))
		return 1;
	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return 1;
	}
	r = api_load(&kind_sg, req, http_param(req, "id"), true, ret_sg, e);
	if (r < 0) {
		store_rollback();
		http_reply_kerr(resp, e);
		return 1;
	}
	return 0;
}

static void sg_emit(const json_t *sg, const char *what, json_t *data)
{
	char type[64];

	snprintf(type, sizeof(type), "security_group.%s", what);
	event_emit(type, "security-groups", jstr(sg, "id"), jstr(sg, "account_id"), data);
	json_decref(data);
}

static void sg_rule_add(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *sg = NULL, *rule = NULL, *params = NULL;
	int r;

	if (sg_begin(req, resp, &sg, &e))
		return;
	r = rule_build(req->body, sg, "", &rule, &e);
	if (r == 0) {
		params = json_pack("{s:s}", "rule_id", jstr(rule, "id"));
		r = rule_append(sg, rule, "", &e);
	}
	if (r == 0) {
		r = store_update("security-groups", sg, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot store the security group");
	}
	if (r == 0)
		sg_emit(sg, "rule_added", json_incref(params));
	netapi_finish(req, resp, "security-groups", jstr(sg, "id"), jstr(sg, "account_id"), r, &e);
	json_decref(params);
	json_decref(sg);
}

static void sg_rule_delete(struct http_request *req, struct http_response *resp)
{
	const char *rule_id = http_param(req, "rule_id");
	struct kerr e = { 0 };
	json_t *sg = NULL, *rules, *it, *params = NULL;
	size_t i;
	int r;

	if (sg_begin(req, resp, &sg, &e))
		return;
	r = kerr_set(&e, -ENOENT, "", "no rule %s in security group %s", rule_id ? rule_id : "",
	             jstr(sg, "name"));
	rules = json_object_get(sg, "rules");
	json_array_foreach(rules, i, it)
	{
		if (rule_id && jstr(it, "id") && !strcmp(jstr(it, "id"), rule_id)) {
			json_array_remove(rules, i);
			kerr_clear(&e);
			r = 0;
			break;
		}
	}
	if (r == 0) {
		r = store_update("security-groups", sg, true);
		if (r < 0)
			kerr_set(&e, r, "", "cannot store the security group");
	}
	if (r == 0) {
		params = json_pack("{s:s}", "rule_id", rule_id);
		sg_emit(sg, "rule_deleted", json_incref(params));
	}
	netapi_finish(req, resp, "security-groups", jstr(sg, "id"), jstr(sg, "account_id"), r, &e);
	json_decref(params);
	json_decref(sg);
}

/* Adds or removes group sg on one NIC (stored at once in its VM). */
static int nic_edit(const json_t *sg, const char *nic_id, const char *field, bool attach,
                    struct kerr *e)
{
	const char *sg_id = jstr(sg, "id");
	json_t *vm = NULL, *nic = NULL, *list, *v;
	size_t i;
	int r, at = -1;

	r = netapi_nic_find(jstr(sg, "account_id"), nic_id, field, &vm, &nic, e);
	if (r < 0)
		return r;
	list = json_object_get(nic, "security_group_ids");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(nic, "security_group_ids", list);
	}
	json_array_foreach(list, i, v)
	{
		if (json_string_value(v) && !strcmp(json_string_value(v), sg_id))
			at = (int)i;
	}
	if (attach) {
		r = netapi_nic_l3(nic, "security_group", field, NULL, e);
		if (r == 0 && at >= 0)
			r = kerr_set(e, -EEXIST, field,
			             "NIC %s (vm %s) is in security group %s already", nic_id,
			             jstr(vm, "name"), jstr(sg, "name"));
		if (r == 0 && json_array_size(list) >= NETAPI_NIC_SGS_MAX)
			r = kerr_set(e, -ENOSPC, field, "NIC %s is in %d security groups already",
			             nic_id, NETAPI_NIC_SGS_MAX);
		if (r == 0)
			json_array_append_new(list, json_string(sg_id));
	} else {
		if (at < 0)
			r = kerr_set(e, -EBUSY, field, "NIC %s (vm %s) is not in security group %s",
			             nic_id, jstr(vm, "name"), jstr(sg, "name"));
		else
			json_array_remove(list, (size_t)at);
	}
	if (r == 0) {
		r = store_update("vms", vm, false);
		if (r < 0)
			kerr_set(e, r, "", "cannot store the vm");
	}
	json_decref(vm);
	return r;
}

static void sg_attach_detach(struct http_request *req, struct http_response *resp, bool attach)
{
	const json_t *ids = json_object_get(req->body, "nic_ids");
	struct kerr e = { 0 };
	json_t *sg = NULL, *id;
	size_t i;
	int r = 0;

	if (sg_begin(req, resp, &sg, &e))
		return;
	if (json_array_size(ids) == 0)
		r = kerr_set(&e, -EINVAL, "nic_ids", "nic_ids lists no NIC");
	json_array_foreach(ids, i, id)
	{
		char field[32];

		if (r < 0)
			break;
		snprintf(field, sizeof(field), "nic_ids[%zu]", i);
		for (size_t k = 0; k < i && r == 0; k++)
			if (!strcmp(json_string_value(id),
			            json_string_value(json_array_get(ids, k))))
				r = kerr_set(&e, -EINVAL, field, "NIC %s is listed twice",
				             json_string_value(id));
		if (r == 0)
			r = nic_edit(sg, json_string_value(id), field, attach, &e);
	}
	if (r == 0)
		sg_emit(sg, attach ? "attached" : "detached", json_pack("{s:O}", "nic_ids", ids));
	netapi_finish(req, resp, "security-groups", jstr(sg, "id"), jstr(sg, "account_id"), r, &e);
	json_decref(sg);
}

static void sg_attach(struct http_request *req, struct http_response *resp)
{
	sg_attach_detach(req, resp, true);
}

static void sg_detach(struct http_request *req, struct http_response *resp)
{
	sg_attach_detach(req, resp, false);
}

const struct route api_sg_routes[] = {
	API_CRUD_ROUTES("security-groups", "security-groups", sg_list, sg_get, sg_create, sg_update,
	                sg_delete, ROLE_VIEWER, ROLE_MEMBER, &sg_create_schema, &sg_update_schema),
	{ "POST", "/v1/security-groups/{id}/rules", sg_rule_add, ROLE_MEMBER, &rule_schema,
	  HTTP_JOB, "Add a rule (202 + net.update job; params.rule_id names it)", 0,
	  "security-groups" },
	{ "DELETE", "/v1/security-groups/{id}/rules/{rule_id}", sg_rule_delete, ROLE_MEMBER, NULL,
	  HTTP_JOB, "Delete a rule (202 + net.update job)", 0, "security-groups" },
	{ "POST", "/v1/security-groups/{id}/actions/attach", sg_attach, ROLE_MEMBER,
	  &sg_attach_schema, HTTP_JOB, "Attach to VM NICs (202 + net.update job)", 0,
	  "security-groups" },
	{ "POST", "/v1/security-groups/{id}/actions/detach", sg_detach, ROLE_MEMBER,
	  &sg_attach_schema, HTTP_JOB, "Detach from VM NICs (202 + net.update job)", 0,
	  "security-groups" },
	{ NULL },
};
