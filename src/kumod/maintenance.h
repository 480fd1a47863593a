/* SPDX-License-Identifier: MIT */
/*
 * Host maintenance (maintenance.c): draining a host by live migration.
 */
#pragma once

#include "common/http.h"
#include "kumod/jobs.h"

/* POST /v1/hosts/{id}/actions/maintenance (api_host.c's table). */
void host_maintenance(struct http_request *req, struct http_response *resp);
/* From kumod's main loop: moves running drains on, finishes done ones. */
void maintenance_tick(void);

extern const struct job_type job_host_maintenance;
