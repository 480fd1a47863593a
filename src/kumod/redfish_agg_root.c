// SPDX-License-Identifier: MIT
/*
 * The aggregator's fixed URIs, all open: /redfish (the versions),
 * /redfish/v1/ (ServiceRoot: the aggregator's own services and merged
 * collections), /redfish/v1/odata and /redfish/v1/$metadata.
 *
 * $metadata must name the schema of every body served, and the members'
 * bodies are the agents': their namespaces are read from an agent's own
 * $metadata (over the channel, from a connected host, at most once every
 * AGENT_NS_TTL_MS) and added to the aggregator's. Without a connected host
 * it lists the aggregator's own schemas only.
 */
#include <pthread.h>
#include <string.h>

#include "common/redfish_doc.h"
#include "common/json.h"
#include "common/log.h"
#include "kumod/redfish_agg_int.h"
#include "kumod/rpc.h"
#include "kumod/store.h"

#define REDFISH_VERSION "1.15.0"
#define AGENT_NS_TTL_MS 60000
#define AGENT_NS_RETRY_MS 5000 /* after a failed read */
#define AGENT_NS_TIMEOUT_MS 5000
#define AGENT_NS_MAX 256

/* ServiceRoot's links, shown when the service has a GET route there. */
static const struct {
	const char *name, *path;
} root_links[] = {
	{ "Systems", RF_ROOT "/Systems" },
	{ "Chassis", RF_ROOT "/Chassis" },
	{ "Managers", RF_ROOT "/Managers" },
	{ "ThermalEquipment", RF_ROOT "/ThermalEquipment" },
	{ "AggregationService", RFA_AGG_SERVICE },
	{ "SessionService", RF_ROOT "/SessionService" },
};

static void get_service_root(struct rf_call *call)
{
	const struct rfa_ctx *ctx = call->data;
	json_t *root;

	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id",
	                 RF_ROOT "/", "@odata.type", "#" RF_SERVICE_ROOT_TYPE ".ServiceRoot", "Id",
	                 "RootService", "Name", "Kumo Redfish Aggregator", "Description",
	                 "Every host of this Kumo cloud, aggregated by kumod", "RedfishVersion",
	                 REDFISH_VERSION, "UUID", ctx->uuid, "Vendor", "Kumo", "Product", "kumod",
	                 "ProtocolFeaturesSupported", rf_protocol_features());
	for (size_t i = 0; i < ARRAY_SIZE(root_links); i++)
		if (rf_service_has(call->svc, "GET", root_links[i].path))
			json_object_set_new(root, root_links[i].name, rf_link(root_links[i].path));
	json_object_set_new(
	    root, "Links",
	    json_pack("{s:o}", "Sessions", rf_link(RF_ROOT "/SessionService/Sessions")));
	rf_reply_resource(call, root);
}

/* ---- the agents' namespaces ---- */

static struct {
	pthread_mutex_t lock;
	json_t *names;   /* owned; the agents' namespaces, or NULL */
	int64_t next_ms; /* when to read them again; 0 = at once */
	bool loading;
} agent_ns = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Every Namespace="..." of a $metadata document, but the service's own. */
static json_t *namespaces_of(const char *xml)
{
	static const char attr[] = "Namespace=\"";
	json_t *names = json_array();
	const char *p = xml;

	while ((p = strstr(p, attr)) && json_array_size(names) < AGENT_NS_MAX) {
		const char *end;

		p += sizeof(attr) - 1;
		end = strchr(p, '"');
		if (!end)
			break;
		if (end > p && end - p < RF_NAME_MAX && strncmp(p, "RedfishExtensions.", 18) != 0 &&
		    strncmp(p, "Service\"", 8) != 0 &&
		    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._") ==
		        (size_t)(end - p))
			json_array_append_new(names, json_stringn(p, (size_t)(end - p)));
		p = end + 1;
	}
	return names;
}

/* Asks one connected host for its $metadata: its namespaces, or NULL. */
static json_t *fetch_agent_namespaces(void)
{
	struct list_query q;
	json_t *hosts = NULL, *data = NULL, *names = NULL, *req;
	struct kerr e = { 0 };
	int64_t total;
	const char *body;

	list_query_init(&q);
	query_add_eq(&q, "status", "connected");
	q.limit = 1;
	if (store_list("hosts", &q, &hosts, &total) < 0 || json_array_size(hosts) == 0)
		goto out;
	req = json_pack("{s:s, s:s}", "method", "GET", "path", RF_ROOT "/$metadata");
	store_release(); /* no store connection held while the agent works */
	if (rpc_call(jstr(json_array_get(hosts, 0), "id"), "node.redfish", req, AGENT_NS_TIMEOUT_MS,
	             &data, &e) < 0) {
		log_debug("redfish: $metadata of host %s: %s",
		          jstr(json_array_get(hosts, 0), "name"), e.message);
		goto out;
	}
	body = jstr(data, "body");
	if (jint(data, "status", 0) == 200 && body)
		names = namespaces_of(body);
out:
	list_query_free(&q);
	json_decref(hosts);
	json_decref(data);
	return names;
}

/* The agents' namespaces (new reference, maybe empty). */
static json_t *agent_namespaces(void)
{
	int64_t now = mono_ms();
	bool fetch = false;
	json_t *names;

	pthread_mutex_lock(&agent_ns.lock);
	if (!agent_ns.loading && now >= agent_ns.next_ms) {
		agent_ns.loading = true;
		fetch = true;
	}
	pthread_mutex_unlock(&agent_ns.lock);
	if (fetch) {
		json_t *got = fetch_agent_namespaces();

		pthread_mutex_lock(&agent_ns.lock);
		if (got) {
			json_decref(agent_ns.names);
			agent_ns.names = got;
		}
		agent_ns.next_ms = mono_ms() + (got ? AGENT_NS_TTL_MS : AGENT_NS_RETRY_MS);
		agent_ns.loading = false;
		pthread_mutex_unlock(&agent_ns.lock);
	}
	pthread_mutex_lock(&agent_ns.lock);
	names = agent_ns.names ? json_copy(agent_ns.names) : json_array();
	pthread_mutex_unlock(&agent_ns.lock);
	return names;
}

/* ---- $metadata ---- */

/* kumod's own schemas and those its agents use. */
static void get_metadata(struct rf_call *call)
{
	json_t *agents = agent_namespaces();

	rf_doc_metadata(call, agents);
	json_decref(agents);
}

static const struct rf_route routes[] = {
	{ "GET", "/redfish", rf_doc_versions, 0, RF_OPEN },
	{ "GET", RF_ROOT, get_service_root, 0, RF_OPEN },
	{ "GET", RF_ROOT "/odata", rf_doc_odata, 0, RF_OPEN },
	{ "GET", RF_ROOT "/$metadata", get_metadata, 0, RF_OPEN },
	{ 0 },
};

static const char *const schemas[] = { RF_SERVICE_ROOT_TYPE, "Message.v1_3_0", NULL };

const struct rf_module rfa_root_module = { "ServiceRoot", routes, schemas };
