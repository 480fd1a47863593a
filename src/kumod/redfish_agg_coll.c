// SPDX-License-Identifier: MIT
/*
 * The merged collections, made from kumod's store without asking any
 * agent, so that listing the fleet costs one read of the hosts (and of
 * the VMs for Systems) however many hosts there are:
 *
 *   Systems                         "<host>_host" and "<host>_<vm id>"
 *                                   for each VM kumod has placed there
 *   Chassis                         "<host>_box"
 *   Managers                        "<host>_agent"
 *   ThermalEquipment/ImmersionUnits "<host>_1" for hosts whose telemetry
 *                                   shows a thermal controller
 *
 * ThermalEquipment itself is the aggregator's own resource. Hosts are in
 * name order, each host's VMs in creation order. Disconnected hosts stay
 * listed (their AggregationSource says they are offline, and requests on
 * their members answer 503), so the inventory does not change with a
 * flaky link. Requests on members are redfish_agg_fwd.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/store.h"
#include "kumod/telemetry.h"

#define THERMAL_EQUIPMENT RF_ROOT "/ThermalEquipment"
#define IMMERSION_UNITS THERMAL_EQUIPMENT "/ImmersionUnits"

/* A few fields of every document of kind, in sort order (NULL: creation
 * order), as a JSON array of arrays; a negative errno. Only the fields are
 * read: whole documents (of thousands of VMs) would cost far more to
 * parse than the answer is worth. */
static int list_fields(const char *kind, const char *sort, const char *const *fields, json_t **ret)
{
	struct list_query q;
	char *text = NULL;
	json_t *rows;
	int r;

	list_query_init(&q);
	if (sort)
		snprintf(q.sort, sizeof(q.sort), "%s", sort);
	q.limit = 0; /* all */
	r = store_list_fields(kind, &q, fields, &text);
	list_query_free(&q);
	if (r < 0)
		return r;
	rows = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(rows)) {
		json_decref(rows);
		return -EIO;
	}
	*ret = rows;
	return 0;
}

int rfa_hosts(json_t **ret)
{
	static const char *const fields[] = { "id", "name", "status", "address", NULL };
	json_t *rows = NULL, *hosts, *row;
	size_t i;
	int r;

	r = list_fields("hosts", "name", fields, &rows);
	if (r < 0)
		return r;
	hosts = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *h = json_object();

		for (size_t f = 0; fields[f]; f++)
			if (json_is_string(json_array_get(row, f)))
				json_object_set(h, fields[f], json_array_get(row, f));
		json_array_append_new(hosts, h);
	}
	json_decref(rows);
	*ret = hosts;
	return 0;
}

bool rfa_host_has_thermal(const char *host_id)
{
	json_t *t = telemetry_summary(host_id);
	const char *state = jstr(t, "state");
	bool yes = state && strcmp(state, "unknown") != 0;

	json_decref(t);
	return yes;
}

/* {host_id: [vm id, ...]} of the VMs placed on hosts, but destroyed ones. */
static int vms_by_host(json_t **ret)
{
	static const char *const fields[] = { "id", "host_id", "state", NULL };
	json_t *rows = NULL, *by, *row;
	size_t i;
	int r;

	r = list_fields("vms", NULL, fields, &rows); /* oldest first */
	if (r < 0)
		return r;
	by = json_object();
	json_array_foreach(rows, i, row)
	{
		json_t *id = json_array_get(row, 0), *list;
		const char *host = json_string_value(json_array_get(row, 1));
		const char *state = json_string_value(json_array_get(row, 2));

		if (!host || !json_is_string(id) || (state && strcmp(state, "destroyed") == 0))
			continue;
		list = json_object_get(by, host);
		if (!list) {
			list = json_array();
			json_object_set_new(by, host, list);
		}
		json_array_append(list, id);
	}
	json_decref(rows);
	*ret = by;
	return 0;
}

/* Answers the collection at coll: for each host (those that keep() when it
 * is not NULL), "<host>_<fixed>", then its VMs when vms is given. */
static void reply_members(struct rf_call *call, const char *coll, const char *fixed,
                          bool (*keep)(const json_t *host), const json_t *vms)
{
	const struct rfa_coll *c = rfa_colls;
	json_t *hosts = NULL, *paths = json_array(), *h, *v;
	size_t i, j;

	while (c->path && strcmp(c->path, coll) != 0)
		c++;
	if (!c->path || rfa_hosts(&hosts) < 0) {
		json_decref(paths);
		rf_reply_internal(call);
		return;
	}
	json_array_foreach(hosts, i, h)
	{
		const char *name = jstr(h, "name");

		if (!name || (keep && !keep(h)))
			continue;
		json_array_append_new(paths, json_sprintf("%s/%s_%s", coll, name, fixed));
		json_array_foreach(json_object_get(vms, jstr(h, "id")), j, v)
		{
			json_array_append_new(
			    paths, json_sprintf("%s/%s_%s", coll, name, json_string_value(v)));
		}
	}
	json_decref(hosts);
	rf_reply_resource(call, rf_collection_new(coll, c->type, c->name, paths));
}

static void list_systems(struct rf_call *call)
{
	json_t *vms = NULL;

	if (vms_by_host(&vms) < 0) {
		rf_reply_internal(call);
		return;
	}
	reply_members(call, RF_ROOT "/Systems", "host", NULL, vms);
	json_decref(vms);
}

static void list_chassis(struct rf_call *call)
{
	reply_members(call, RF_ROOT "/Chassis", "box", NULL, NULL);
}

static void list_managers(struct rf_call *call)
{
	reply_members(call, RF_ROOT "/Managers", "agent", NULL, NULL);
}

static bool has_thermal(const json_t *host)
{
	return rfa_host_has_thermal(jstr(host, "id"));
}

static void list_immersion_units(struct rf_call *call)
{
	reply_members(call, IMMERSION_UNITS, "1", has_thermal, NULL);
}

static void get_thermal_equipment(struct rf_call *call)
{
	rf_reply_resource(call,
	                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "@odata.id",
	                            THERMAL_EQUIPMENT, "@odata.type",
	                            "#ThermalEquipment.v1_2_0.ThermalEquipment", "Id",
	                            "ThermalEquipment", "Name", "Cooling Equipment", "Description",
	                            "The immersion units of every host with a thermal controller",
	                            "Status", "State", "Enabled", "Health", "OK", "ImmersionUnits",
	                            rf_link(IMMERSION_UNITS)));
}

static const struct rf_route routes[] = {
	{ "GET", RF_ROOT "/Systems", list_systems, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_ROOT "/Chassis", list_chassis, RF_PRIV_LOGIN, 0 },
	{ "GET", RF_ROOT "/Managers", list_managers, RF_PRIV_LOGIN, 0 },
	{ "GET", THERMAL_EQUIPMENT, get_thermal_equipment, RF_PRIV_LOGIN, 0 },
	{ "GET", IMMERSION_UNITS, list_immersion_units, RF_PRIV_LOGIN, 0 },
	{ 0 },
};

static const char *const schemas[] = { "ComputerSystemCollection", "ChassisCollection",
	                               "ManagerCollection",        "ThermalEquipment.v1_2_0",
	                               "CoolingUnitCollection",    NULL };

const struct rf_module rfa_coll_module = { "Collections", routes, schemas };
