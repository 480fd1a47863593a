// SPDX-License-Identifier: MIT
/*
 * The fixed URIs of the agent's Redfish service, all open without
 * authentication: /redfish (the versions), /redfish/v1/ (ServiceRoot,
 * linking to every top-level service that has a route), /redfish/v1/odata
 * (the OData service document, made from ServiceRoot's links) and
 * /redfish/v1/$metadata (the CSDL references of every schema the modules
 * declare). Adding a module makes it appear in all three by itself.
 */
#include <string.h>

#include "agent/redfish_agent.h"
#include "common/buf.h"

#define SERVICE_ROOT_TYPE "ServiceRoot.v1_20_0"
#define REDFISH_VERSION "1.15.0"
#define METADATA_MAX (256 * 1024)

/* ServiceRoot's links, shown when the service has a GET route there. */
static const struct {
	const char *name, *path;
} root_links[] = {
	{ "Systems", RF_ROOT "/Systems" },
	{ "Chassis", RF_ROOT "/Chassis" },
	{ "Managers", RF_ROOT "/Managers" },
	{ "ThermalEquipment", RF_ROOT "/ThermalEquipment" },
	{ "TelemetryService", RF_ROOT "/TelemetryService" },
	{ "EventService", RF_ROOT "/EventService" },
	{ "Tasks", RF_ROOT "/TaskService" },
	{ "AggregationService", RF_ROOT "/AggregationService" },
	{ "UpdateService", RF_ROOT "/UpdateService" },
	{ "CertificateService", RF_ROOT "/CertificateService" },
	{ "Registries", RF_ROOT "/Registries" },
	{ "JsonSchemas", RF_ROOT "/JsonSchemas" },
	{ "SessionService", RF_ROOT "/SessionService" },
	{ "AccountService", RF_ROOT "/AccountService" },
};

static void get_versions(struct rf_call *call)
{
	rf_reply_resource(call, json_pack("{s:s}", "v1", RF_ROOT "/"));
}

static void get_service_root(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *root;

	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id", RF_ROOT "/",
	                 "@odata.type", "#" SERVICE_ROOT_TYPE ".ServiceRoot", "Id", "RootService",
	                 "Name", "Kumo Redfish Service", "RedfishVersion", REDFISH_VERSION, "UUID",
	                 ctx->uuid, "Vendor", "Kumo", "Product", "kumo-agent",
	                 "ProtocolFeaturesSupported", rf_protocol_features());
	for (size_t i = 0; i < ARRAY_SIZE(root_links); i++)
		if (rf_service_has(call->svc, "GET", root_links[i].path))
			json_object_set_new(root, root_links[i].name, rf_link(root_links[i].path));
	if (rf_service_has(call->svc, "GET", RF_ROOT "/SessionService/Sessions"))
		json_object_set_new(
		    root, "Links",
		    json_pack("{s:o}", "Sessions", rf_link(RF_ROOT "/SessionService/Sessions")));
	rf_reply_resource(call, root);
}

static void get_odata(struct rf_call *call)
{
	json_t *root = NULL, *value, *v;
	const char *key;

	if (rf_get(call, RF_ROOT, &root) != 0) {
		rf_reply_internal(call);
		return;
	}
	value = json_pack("[{s:s, s:s, s:s}]", "name", "Service", "kind", "Singleton", "url",
	                  RF_ROOT "/");
	json_object_foreach(root, key, v)
	{
		const char *url = json_string_value(json_object_get(v, "@odata.id"));

		if (url && json_object_size(v) == 1)
			json_array_append_new(value, json_pack("{s:s, s:s, s:s}", "name", key,
			                                       "kind", "Singleton", "url", url));
	}
	json_decref(root);
	rf_reply_json(
	    call, 200,
	    json_pack("{s:s, s:o}", "@odata.context", RF_ROOT "/$metadata", "value", value));
}

struct metadata {
	json_t *names; /* the schema namespaces, in order */
};

static void collect(void *cls, const char *ns)
{
	json_array_append_new(((struct metadata *)cls)->names, json_string(ns));
}

/* "Session" for "Session.v1_8_0" and for "Session". */
static size_t base_len(const char *ns)
{
	const char *dot = strchr(ns, '.');

	return dot ? (size_t)(dot - ns) : strlen(ns);
}

/* One <edmx:Reference> per schema file, including the unversioned
 * namespace and each versioned one the modules use. */
static void metadata_refs(struct buf *b, json_t *names)
{
	json_t *v, *w;
	size_t i, j;

	json_array_foreach(names, i, v)
	{
		const char *ns = json_string_value(v);
		size_t n = base_len(ns);
		bool seen = false;

		for (j = 0; j < i && !seen; j++) {
			const char *prev = json_string_value(json_array_get(names, j));

			seen = base_len(prev) == n && strncmp(prev, ns, n) == 0;
		}
		if (seen)
			continue;
		buf_printf(b,
		           "  <edmx:Reference Uri=\"" RF_SCHEMA_URI "%.*s_v1.xml\">\n"
		           "    <edmx:Include Namespace=\"%.*s\"/>\n",
		           (int)n, ns, (int)n, ns);
		json_array_foreach(names, j, w)
		{
			const char *other = json_string_value(w);

			if (base_len(other) == n && strncmp(other, ns, n) == 0 && other[n] == '.')
				buf_printf(b, "    <edmx:Include Namespace=\"%s\"/>\n", other);
		}
		buf_puts(b, "  </edmx:Reference>\n");
	}
}

static void get_metadata(struct rf_call *call)
{
	struct metadata md = { .names = json_array() };
	struct buf b;
	char *xml;
	size_t len;

	rf_service_schemas(call->svc, collect, &md);
	buf_init(&b, METADATA_MAX);
	buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" "
	             "Version=\"4.0\">\n");
	metadata_refs(&b, md.names);
	buf_puts(&b,
	         "  <edmx:Reference Uri=\"" RF_SCHEMA_URI "RedfishExtensions_v1.xml\">\n"
	         "    <edmx:Include Namespace=\"RedfishExtensions.v1_0_0\" Alias=\"Redfish\"/>\n"
	         "  </edmx:Reference>\n"
	         "  <edmx:DataServices>\n"
	         "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" "
	         "Namespace=\"Service\">\n"
	         "      <EntityContainer Name=\"Service\" Extends=\"" SERVICE_ROOT_TYPE
	         ".ServiceContainer\"/>\n"
	         "    </Schema>\n"
	         "  </edmx:DataServices>\n"
	         "</edmx:Edmx>\n");
	json_decref(md.names);
	len = b.len;
	xml = buf_steal(&b);
	rf_reply_raw(call, 200, "application/xml", xml, len);
	free(xml);
}

static const struct rf_route routes[] = {
	{ "GET", "/redfish", get_versions, 0, RF_OPEN },
	{ "GET", RF_ROOT, get_service_root, 0, RF_OPEN },
	{ "GET", RF_ROOT "/odata", get_odata, 0, RF_OPEN },
	{ "GET", RF_ROOT "/$metadata", get_metadata, 0, RF_OPEN },
	{ 0 },
};

static const char *const schemas[] = { SERVICE_ROOT_TYPE, "Message.v1_3_0", NULL };

const struct rf_module rf_root_module = { "ServiceRoot", routes, schemas };
