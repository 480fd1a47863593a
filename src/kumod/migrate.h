/* SPDX-License-Identifier: MIT */
/*
 * VM migration (migrate.c): the route POST /v1/vms/{id}/actions/migrate
 * and the job type vm.migrate that drives the hosts' migration steps.
 */
#pragma once

#include "common/http.h"
#include "kumod/jobs.h"

extern const struct route api_migrate_routes[];
extern const struct job_type job_vm_migrate;
/* The cancel hook of vm.migrate (struct job_cancel). */
int vm_migrate_cancel(const char *job_id, struct kerr *e);
