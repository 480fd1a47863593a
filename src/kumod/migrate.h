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
/* Starts migrating vm (inside the caller's transaction): checks the state
 * and the destination (want, or the scheduler's pick in its cluster),
 * takes the destination's allocations, sets the vm migrating and queues the
 * vm.migrate job (*ret_job). opts: {"max_bandwidth_mbps"?} or NULL.
 * 0, or -errno with e (nothing changed then). */
int vm_migrate_begin(json_t *vm, const char *want, const json_t *opts, json_t **ret_job,
                     struct kerr *e);
/* Host host_id is lost (disconnected; inside the caller's transaction):
 * live migrations away from it that had not switched over are settled at
 * once instead of after command_timeout_s: while sending, the destination
 * is asked to finish (the vm runs there if it arrived, else the half-made
 * copy is removed and the vm stays, unknown, on its lost host). */
void migrate_host_lost(const char *host_id);
/* The cancel hook of vm.migrate (struct job_cancel). */
int vm_migrate_cancel(const char *job_id, struct kerr *e);
