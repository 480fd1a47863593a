/* SPDX-License-Identifier: MIT */
/*
 * What a VM is to kumod: its document, the state changes (all through
 * vm_state.c's table), the resources it holds (host capacity, addresses,
 * root volume) and the job types that run its operations on hosts. The
 * HTTP side is api_vm.c.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"
#include "common/vmspec.h"
#include "kumod/jobs.h"
#include "kumod/vm_state.h"

/* Sets a VM's state (and reason), stores it and emits vm.state. */
int vm_set_state(json_t *vm, enum vm_state s, const char *reason);
/* Drops kumod's own bookkeeping fields ("released", "state_before_lost")
 * from a copy of a VM document before it is shown (API answers, job
 * results). */
void vm_strip_internal(json_t *vm);
/* The keys vm_strip_internal removes (NULL-terminated). */
extern const char *const vm_hidden_keys[];
/* Releases what a VM holds: addresses, host allocation. */
int vm_release(json_t *vm);
/* Removes a destroyed VM: releases, deletes its root volume, detaches its
 * data volumes, deletes the document. */
int vm_remove(json_t *vm);
/* Starts an action: checks the transition, sets the transitional state,
 * creates the job (pending). *ret_job gets it. Inside a transaction. */
int vm_begin_action(json_t *vm, enum vm_action a, const json_t *params, json_t **ret_job,
                    struct kerr *e);

/* The payload of a vm.create command for the VM on its host: the VM (with
 * its pool), its volumes, its image, the host's network spec. */
json_t *vm_create_payload(json_t *vm);
/* The same for host_id (the destination of a migration). */
json_t *vm_payload_for(json_t *vm, const char *host_id);

/* At start, after jobs_recover(): no VM stays in a transitional state
 * without an operation that will end it. */
int vm_recover(void);

extern const struct job_type job_vm_create, job_vm_start, job_vm_stop, job_vm_reboot, job_vm_pause,
    job_vm_resume, job_vm_destroy, job_vm_batch;

/* POST /v1/vms with req->body (a VM create body) and the fields of extra
 * (borrowed) added to the new VM's document; extra's host_id places it on
 * that host (clones: api_clone.c). Answers resp. */
struct http_request;
struct http_response;
void vm_create_as(struct http_request *req, struct http_response *resp, const json_t *extra);
/* -EBUSY with e naming them when linked clones depend on snapshots of vm
 * (api_snapshot.c): it is not destroyed then. */
int snapshot_check_vm_destroy(const json_t *vm, struct kerr *e);
/* -EBUSY with e when vm cannot migrate for its snapshots: it is a linked
 * clone, linked clones depend on its snapshots (their exports stay on its
 * host), or, on local storage (!shared), its volumes have snapshots (qcow2
 * internal snapshots do not travel with a mirror or a copy). */
int snapshot_check_vm_migrate(const json_t *vm, bool shared, struct kerr *e);
/* The records of snap's group (or snap alone), in the store's order
 * (api_snapshot.c). */
int snapshot_group_load(const json_t *snap, json_t **ret);
/* The snapshots of a volume that is gone (api_snapshot.c): their records go. */
void snapshot_forget_volume(const char *volume_id);
