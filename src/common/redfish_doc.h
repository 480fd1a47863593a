/* SPDX-License-Identifier: MIT */
/*
 * What every Redfish service of Kumo serves the same way, the agent's
 * (src/agent/rf_root.c) and kumod's aggregator (src/kumod/redfish_agg_root.c):
 * the versions document at /redfish, the OData service document, the
 * $metadata document built from the schemas the service's modules use, and
 * the service's UUID kept in a file.
 */
#pragma once

#include <jansson.h>

#include "common/redfish.h"
#include "common/util.h"

#define RF_SERVICE_ROOT_TYPE "ServiceRoot.v1_20_0"

/* GET /redfish: {"v1": "/redfish/v1/"}. */
void rf_doc_versions(struct rf_call *call);
/* GET /redfish/v1/odata: the service root and each of its top-level links. */
void rf_doc_odata(struct rf_call *call);
/* GET /redfish/v1/$metadata: one reference per schema file the service's
 * modules use, plus the namespaces in extra (an array of strings, may be
 * NULL: kumod adds those its agents use). */
void rf_doc_metadata(struct rf_call *call, const json_t *extra);
/* The UUID kept in path: read, or made and written (0644) the first time.
 * 0, or a negative errno when it cannot be written. */
int rf_uuid_load(const char *path, char out[UUID_LEN + 1]);
