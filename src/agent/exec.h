/* SPDX-License-Identifier: MIT */
/*
 * What commands mean on a host: one table row per command type ("vm.create",
 * "vm.stop", "volume.attach", ...) that parses the payload, finds the VM in
 * the journal, calls the driver and records the new state.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "agent/driver.h"
#include "agent/journal.h"

struct net;

/* Runs command id of type on the host and returns its result (new
 * reference): {"command_id","status":"succeeded","data":{"state",...}} or
 * {"command_id","status":"failed","error":{"code","message"}}. Updates the
 * journal's VMs; does not record the command as done (the caller does). */
json_t *exec_command(const struct driver_ops *ops, struct driver_host *dh, struct journal *j,
                     const char *id, const char *type, const json_t *payload);

/* The same for a concurrent driver: held (locked by the caller, guarding j)
 * is released around every driver call (and around net_apply). net: the
 * host's networks (net.h) for net.apply and vm.create's "net", or NULL
 * (the sim driver: nothing to do). ret_interrupted (may be NULL): the
 * driver gave up because the agent is stopping (code "Interrupted"); the
 * command should stay queued. */
json_t *exec_command_unlocking(const struct driver_ops *ops, struct driver_host *dh,
                               struct journal *j, const char *id, const char *type,
                               const json_t *payload, pthread_mutex_t *held, struct net *net,
                               bool *ret_interrupted);

/* The VM a payload names: "vm_id", else the "vm" object's "id"; or NULL. */
const char *exec_vm_id(const json_t *payload);

/* Runs an RPC (a command kumod sends for an answer at once, not journaled:
 * "vm.console") and returns its result like exec_command. j is read only;
 * the caller holds the lock that guards it and the driver call runs with
 * it held (RPCs are quick reads). */
json_t *exec_rpc(const struct driver_ops *ops, struct driver_host *dh, const struct journal *j,
                 const char *id, const char *type, const json_t *payload);
