/* SPDX-License-Identifier: MIT */
/*
 * VM migration (migrate.c): the route POST /v1/vms/{id}/actions/migrate
 * and the job type vm.migrate that drives the hosts' migration steps.
 */
#pragma once

#include "common/http.h"
#include "kumod/jobs.h"

/* The route's handler and body (api_vm.c's table names them). */
void vm_migrate(struct http_request *req, struct http_response *resp);
extern const struct schema vm_migrate_schema;
extern const struct job_type job_vm_migrate;
/* The cancel hook of vm.migrate (struct job_cancel). */
int vm_migrate_cancel(const char *job_id, struct kerr *e);
