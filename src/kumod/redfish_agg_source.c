// SPDX-License-Identifier: MIT
/*
 * AggregationService and its AggregationSources: one source per kumod
 * host, read from the store on every request, so a source exists from the
 * moment its host registers until the host is deleted (DELETE
 * /v1/hosts/{id}). Its Id is the host's name, HostName the address the
 * agent registered from, Status follows the host's connection, and Links
 * name the host's resources in the merged collections. Sources hold no
 * credentials: kumod reaches agents over the agent channel, which the
 * agent dials itself, with the secret it got when it registered. Clients
 * cannot add or remove sources (405 with a message saying why).
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/store.h"

#define SOURCE_TYPE "#AggregationSource.v1_5_0.AggregationSource"
#define NO_CHANGES                                                                                 \
	"Aggregation sources are kumod's hosts: a host is added when its agent registers "         \
	"with kumod and removed with the host (DELETE /v1/hosts/{id} in kumod's API); they "       \
	"cannot be created, changed or deleted here"

static void get_service(struct rf_call *call)
{
	rf_reply_resource(
	    call, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}, s:o}", "@odata.id",
	                    RFA_AGG_SERVICE, "@odata.type",
	                    "#AggregationService.v1_0_3.AggregationService", "Id",
	                    "AggregationService", "Name", "Aggregation Service", "Description",
	                    "kumod aggregates the Redfish service of every host's agent",
	                    "ServiceEnabled", 1, "Status", "State", "Enabled", "Health", "OK",
	                    "AggregationSources", rf_link(RFA_SOURCES)));
}

/* 405 with the message of why sources are read-only. */
static void refuse(struct rf_call *call, bool delete)
{
	json_t *err;

	rf_reply_error(
	    call, 405,
	    rf_msg(delete ? RF_MSG_RESOURCE_CANNOT_BE_DELETED : RF_MSG_OPERATION_NOT_ALLOWED,
	           NULL));
	err = json_object_get(call->resp->body, "error");
	json_object_set_new(err, "message", json_string(NO_CHANGES));
	rf_set_header(call, "Allow", "GET, HEAD");
}

static void list_sources(struct rf_call *call)
{
	json_t *hosts = NULL, *paths = json_array(), *h, *coll;
	size_t i;

	if (rfa_hosts(&hosts) < 0) {
		json_decref(paths);
		rf_reply_internal(call);
		return;
	}
	json_array_foreach(hosts, i, h)
	{
		json_array_append_new(paths, json_sprintf("%s/%s", RFA_SOURCES, jstr(h, "name")));
	}
	json_decref(hosts);
	coll = rf_collection_new(RFA_SOURCES, "AggregationSourceCollection",
	                         "Aggregation Source Collection", paths);
	json_object_set_new(coll, "Description", json_string(NO_CHANGES));
	rf_reply_resource(call, coll);
	rf_set_header(call, "Allow", "GET, HEAD");
}

static void post_sources(struct rf_call *call)
{
	refuse(call, false);
}

static json_t *status_of(const char *status)
{
	if (status && strcmp(status, "connected") == 0)
		return json_pack("{s:s, s:s}", "State", "Enabled", "Health", "OK");
	if (status && strcmp(status, "connecting") == 0)
		return json_pack("{s:s, s:s}", "State", "Starting", "Health", "OK");
	return json_pack("{s:s, s:s}", "State", "UnavailableOffline", "Health", "Critical");
}

static json_t *source_body(const json_t *h)
{
	const char *name = jstr(h, "name");
	/* The host's members of the root collections (its VMs are Systems too). */
	static const char *const fixed[][2] = { { "Systems", "host" },
		                                { "Chassis", "box" },
		                                { "Managers", "agent" } };
	char *path = xasprintf("%s/%s", RFA_SOURCES, name);
	json_t *links = json_array(), *body;

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		char *p = xasprintf(RF_ROOT "/%s/%s_%s", fixed[i][0], name, fixed[i][1]);

		json_array_append_new(links, rf_link(p));
		free(p);
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:{s:I, s:o}}", "@odata.id",
	                 path, "@odata.type", SOURCE_TYPE, "Id", name, "Name", name, "Description",
	                 "A kumod host; kumod reaches its agent over the agent channel (no "
	                 "credentials are kept here)",
	                 "HostName", jstr(h, "address") ? jstr(h, "address") : "",
	                 "AggregationType", "Full", "Status", status_of(jstr(h, "status")), "Links",
	                 "ResourcesAccessed@odata.count", (json_int_t)json_array_size(links),
	                 "ResourcesAccessed", links);
	free(path);
	return body;
}

static void get_source(struct rf_call *call)
{
	json_t *h = NULL;
	int r = store_get_by_name("hosts", rf_param(call, "id"), NULL, &h);

	if (r == -ENOENT) {
		rf_reply_not_found(call);
		return;
	}
	if (r < 0) {
		rf_reply_internal(call);
		return;
	}
	rf_reply_resource(call, source_body(h));
	rf_set_header(call, "Allow", "GET, HEAD");
	json_decref(h);
}

static void change_source(struct rf_call *call)
{
	json_t *h = NULL;

	if (store_get_by_name("hosts", rf_param(call, "id"), NULL, &h) == -ENOENT) {
		rf_reply_not_found(call);
		return;
	}
	json_decref(h);
	refuse(call, strcmp(call->method, "DELETE") == 0);
}

static const struct rf_route routes[] = {
	{ "GET", RFA_AGG_SERVICE, get_service, RF_PRIV_LOGIN, 0 },
	{ "GET", RFA_SOURCES, list_sources, RF_PRIV_LOGIN, 0 },
	{ "POST", RFA_SOURCES, post_sources, RF_PRIV_LOGIN, RF_UNLOCKED },
	{ "GET", RFA_SOURCES "/{id}", get_source, RF_PRIV_LOGIN, 0 },
	{ "PATCH", RFA_SOURCES "/{id}", change_source, RF_PRIV_LOGIN, RF_UNLOCKED },
	{ "DELETE", RFA_SOURCES "/{id}", change_source, RF_PRIV_LOGIN, RF_UNLOCKED },
	{ 0 },
};

static const char *const schemas[] = { "AggregationService.v1_0_3", "AggregationSourceCollection",
	                               "AggregationSource.v1_5_0", NULL };

const struct rf_module rfa_source_module = { "AggregationService", routes, schemas };
