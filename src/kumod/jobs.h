/* SPDX-License-Identifier: MIT */
/*
 * The job engine. A job is a document of kind "jobs" in the store:
 *   {id, account_id, type, resource_kind, resource_id, state, progress,
 *    error{code,message}, result, params, parent_id, children_total,
 *    children_done, children_failed, created_at, started_at, finished_at}
 * States: pending -> running -> succeeded | failed | cancelled.
 *
 * Worker threads take pending jobs, oldest first, never two at once on the
 * same resource, and call their type's run function, which usually queues a
 * command for a host and leaves the job running; the host's result (see
 * channel.c) calls the type's on_result, which finishes it. Everything that
 * changes a job happens inside a store transaction together with the change
 * it describes, so a crash leaves nothing half-done: at start, pending jobs
 * are simply run again and running ones wait for their host's result or
 * time out.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct job_type {
	const char *type; /* "vm.create" */
	/* Runs in a worker inside a transaction; job is the doc (update it
	 * through job_* functions). Return 0, or -errno with e to fail the job. */
	int (*run)(json_t *job, struct kerr *e);
	/* A host's result for a command of this job, inside a transaction.
	 * status: "succeeded", "failed" or "running" (progress). */
	int (*on_result)(json_t *job, const json_t *cmd, const char *status, const json_t *data,
	                 const json_t *error);
	/* The job failed without a host answer (timeout, host deleted). */
	void (*on_abort)(json_t *job, const char *code, const char *message);
};

/* Types of jobs that run on without a host command of their own (a tick of
 * their type moves them on): a restart of kumod leaves them running.
 * NULL-terminated (registry.c). */
extern const char *const job_resumables[];

/* Job types that can be cancelled (POST /v1/jobs/{id}/actions/cancel): the
 * hook runs outside any transaction and asks the work to stop; the job
 * ends "cancelled" once it has. 0, or -errno with e. A type not listed
 * cannot be cancelled (409). Kept beside struct job_type rather than in
 * it, so that the positional job_type initializers stay as they are. */
struct job_cancel {
	const char *type;
	int (*on_cancel)(const char *job_id, struct kerr *e);
};
extern const struct job_cancel job_cancels[];
const struct job_cancel *job_cancel_find(const char *type);

/* A new pending job doc (not stored). params borrowed. */
json_t *job_new(const char *type, const char *resource_kind, const char *resource_id,
                const char *account_id, const json_t *params, const char *parent_id);
/* Stores a new job (inside the caller's transaction). */
int job_insert(json_t *job);
/* Stores a parent job of `children` jobs, running at once; its counters
 * live in a "job-progress" document (see job_progress_get). */
int job_insert_parent(json_t *parent, int64_t children);
/* The counters of a parent job: {"total","done","failed","errors"}. */
int job_progress_get(const char *parent_id, json_t **ret);
/* Wakes the workers; call after the commit that added pending jobs. */
void jobs_notify(void);

int job_set_running(json_t *job, int progress);
/* Finishes a job: state, error (when !ok), result (stolen, may be NULL);
 * updates the parent's counters and finishes the parent with the last child. */
int job_finish(json_t *job, bool ok, const char *err_code, const char *err_msg, json_t *result);
/* Loads a job by id (any account). */
int job_load(const char *id, json_t **ret);
bool job_state_final(const char *state);
/* Blocks until the job is final or timeout_ms passes; ret gets the latest doc. */
int job_wait(const char *id, int64_t timeout_ms, json_t **ret);
/* Queues a command for a host for this job (inside the transaction); job
 * NULL: a command of no job. */
int job_command(json_t *job, const char *host_id, const char *cmd_type, const json_t *payload);

/* Wakes the long-polls of hosts that got commands in the transaction just
 * committed (or rolled back) on this thread. */
void jobs_after_commit(void);

int jobs_start(int workers);
void jobs_stop(void);
/* At start: repairs what a crash may have cut off. */
void jobs_recover(void);
/* Periodic: fails jobs whose commands got no answer in time. */
void jobs_check_timeouts(void);

extern const struct job_type *const job_types[];
extern const struct job_type *const job_types_disk[]; /* snapshots, resizes */
const struct job_type *job_type_find(const char *type);
