// SPDX-License-Identifier: MIT
/*
 * The aggregator's naming: which collections are aggregated, how a
 * prefixed member id ("edge-1_host") splits into a host and the agent's
 * own id, and the rewriting of paths between an agent's view
 * ("/redfish/v1/Systems/host") and the aggregator's
 * ("/redfish/v1/Systems/edge-1_host"), in any string of a body or a
 * header. Pure string work apart from the host lookup; no HTTP here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/store.h"

#define SPLIT_TRIES_MAX 8 /* '_' positions tried in one member id */
#define TEXT_MAX (16 * 1024 * 1024)

const struct rfa_coll rfa_colls[] = {
	{ RF_ROOT "/Systems", "ComputerSystemCollection", "Computer System Collection" },
	{ RF_ROOT "/Chassis", "ChassisCollection", "Chassis Collection" },
	{ RF_ROOT "/Managers", "ManagerCollection", "Manager Collection" },
	{ RF_ROOT "/ThermalEquipment/ImmersionUnits", "CoolingUnitCollection",
	  "Immersion Unit Collection" },
	{ NULL },
};

int rfa_member_split(const char *id, json_t **ret_host, const char **ret_member)
{
	size_t n = strlen(id);
	int tries = 0;

	for (size_t i = n; i > 0 && tries < SPLIT_TRIES_MAX; i--) {
		char name[RFA_HOST_NAME_MAX + 1];
		json_t *host = NULL;
		int r;

		if (id[i - 1] != '_')
			continue;
		tries++;
		if (i - 1 == 0 || i == n || i - 1 > RFA_HOST_NAME_MAX)
			continue;
		memcpy(name, id, i - 1);
		name[i - 1] = '\0';
		r = store_get_by_name("hosts", name, NULL, &host);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return -EIO;
		*ret_host = host;
		*ret_member = id + i;
		return 0;
	}
	return -ENOENT;
}

/* Characters that end a path segment inside a text. */
static bool seg_end(char c)
{
	return c == '\0' || strchr("/#?\"' <>,;)", c) != NULL;
}

/* The aggregated collection whose member path starts at p ("<coll>/x"):
 * its path length, or 0. */
static size_t coll_at(const char *p)
{
	for (const struct rfa_coll *c = rfa_colls; c->path; c++) {
		size_t n = strlen(c->path);

		if (strncmp(p, c->path, n) == 0 && p[n] == '/' && !seg_end(p[n + 1]))
			return n;
	}
	return 0;
}

char *rfa_path_out(const char *s, const char *host)
{
	const char *p = s, *hit;
	struct buf b;

	if (!strstr(s, RF_ROOT "/"))
		return xstrdup(s);
	buf_init(&b, TEXT_MAX);
	while ((hit = strstr(p, RF_ROOT "/"))) {
		size_t n = coll_at(hit);

		if (!n) {
			buf_append(&b, p, (size_t)(hit - p) + 1);
			p = hit + 1;
			continue;
		}
		buf_append(&b, p, (size_t)(hit - p) + n + 1);
		buf_printf(&b, "%s_", host);
		p = hit + n + 1;
	}
	buf_puts(&b, p);
	return buf_steal(&b);
}

char *rfa_path_in(const char *s, const char *host)
{
	size_t hl = strlen(host);
	const char *p = s, *hit;
	struct buf b;

	if (!strstr(s, RF_ROOT "/"))
		return xstrdup(s);
	buf_init(&b, TEXT_MAX);
	while ((hit = strstr(p, RF_ROOT "/"))) {
		size_t n = coll_at(hit);
		const char *seg = hit + n + 1;

		if (!n || strncmp(seg, host, hl) != 0 || seg[hl] != '_' || seg_end(seg[hl + 1])) {
			buf_append(&b, p, (size_t)(hit - p) + 1);
			p = hit + 1;
			continue;
		}
		buf_append(&b, p, (size_t)(seg - p));
		p = seg + hl + 1;
	}
	buf_puts(&b, p);
	return buf_steal(&b);
}

void rfa_rewrite_json(json_t *v, const char *host, bool out)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, x)
		{
			if (json_is_string(x)) {
				char *s = out ? rfa_path_out(json_string_value(x), host)
				              : rfa_path_in(json_string_value(x), host);

				if (strcmp(s, json_string_value(x)) != 0)
					json_object_set_new(v, key, json_string(s));
				free(s);
			} else {
				rfa_rewrite_json(x, host, out);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (json_is_string(x)) {
				char *s = out ? rfa_path_out(json_string_value(x), host)
				              : rfa_path_in(json_string_value(x), host);

				if (strcmp(s, json_string_value(x)) != 0)
					json_array_set_new(v, i, json_string(s));
				free(s);
			} else {
				rfa_rewrite_json(x, host, out);
			}
		}
	}
}

char *rfa_pct_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;

	buf_init(&b, TEXT_MAX);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr("-._~", *p);

		if (keep)
			buf_append(&b, (const char *)p, 1);
		else
			buf_printf(&b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
	return buf_steal(&b);
}
