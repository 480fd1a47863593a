// SPDX-License-Identifier: MIT
/*
 * ThermalEquipment of the agent's Redfish service (to be written: see
 * redfish_agent.c's module list).
 */
#include "agent/redfish_agent.h"

static const struct rf_route routes[] = {
	{ NULL },
};

static const char *const schemas[] = { NULL };

const struct rf_module rf_thermaleq_module = { "ThermalEquipment", routes, schemas };
