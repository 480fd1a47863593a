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
#include "common/redfish_doc.h"

#define REDFISH_VERSION "1.15.0"

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

static void get_service_root(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *root;

	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "@odata.id", RF_ROOT "/",
	                 "@odata.type", "#" RF_SERVICE_ROOT_TYPE ".ServiceRoot", "Id",
	                 "RootService", "Name", "Kumo Redfish Service", "RedfishVersion",
	                 REDFISH_VERSION, "UUID", ctx->uuid, "Vendor", "Kumo", "Product",
	                 "kumo-agent", "ProtocolFeaturesSupported", rf_protocol_features());
	for (size_t i = 0; i < ARRAY_SIZE(root_links); i++)
		if (rf_service_has(call->svc, "GET", root_links[i].path))
			json_object_set_new(root, root_links[i].name, rf_link(root_links[i].path));
	if (rf_service_has(call->svc, "GET", RF_ROOT "/SessionService/Sessions"))
		json_object_set_new(
		    root, "Links",
		    json_pack("{s:o}", "Sessions", rf_link(RF_ROOT "/SessionService/Sessions")));
	rf_reply_resource(call, root);
}

static void get_metadata(struct rf_call *call)
{
	rf_doc_metadata(call, NULL);
}

static const struct rf_route routes[] = {
	{ "GET", "/redfish", rf_doc_versions, 0, RF_OPEN },
	{ "GET", RF_ROOT, get_service_root, 0, RF_OPEN },
	{ "GET", RF_ROOT "/odata", rf_doc_odata, 0, RF_OPEN },
	{ "GET", RF_ROOT "/$metadata", get_metadata, 0, RF_OPEN },
	{ 0 },
};

static const char *const schemas[] = { RF_SERVICE_ROOT_TYPE, "Message.v1_3_0", NULL };

const struct rf_module rf_root_module = { "ServiceRoot", routes, schemas };
