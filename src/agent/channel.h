/* SPDX-License-Identifier: MIT */
/*
 * The agent side of the agent channel (DESIGN.md section 5), for one host:
 * registration and its identity file, a poller thread that long-polls kumod
 * for commands, and an executor thread that runs them (in simulated time for
 * the sim driver), keeps the journal, posts results and heartbeats.
 */
#pragma once

#include "agent/agent.h"

struct agent_host;

/* Host number index of agent a: creates DIR/hosts/<index>/, loads its
 * identity and journal and the driver's state. Logs what it finds wrong.
 * 0 or -errno. */
int agent_host_new(struct agent *a, unsigned index, struct agent_host **ret);
/* Starts the host's two threads. 0 or -errno (nothing started then). */
int agent_host_start(struct agent_host *h);
/* Wakes the host's threads so they notice a->stop. */
void agent_host_wake(struct agent_host *h);
/* Joins the threads (set a->stop and wake first) and waits for the
 * commands and node requests running on threads of their own; the host
 * can still be asked for local actions. Idempotent. */
void agent_host_join(struct agent_host *h);
/* Joins (as above), saves the journal, frees. */
struct agent_host *agent_host_free(struct agent_host *h);

/* --- What the node itself asks of its VMs (host_local.c) ----------------
 * The Redfish service (ComputerSystem.Reset) and the thermal controller
 * (shedding and restarting VMs) act on VMs outside kumod's commands. Their
 * actions take their turn with kumod's commands for the same VM (never two
 * at once), record the new state in the journal and tell kumod at the next
 * heartbeat, sent at once, as when a guest shuts itself down. */

/* The host's id as kumod knows it (NULL before registration; copied to
 * out, size outlen), and its name. */
const char *agent_host_id(struct agent_host *h, char *out, size_t outlen);
const char *agent_host_name(const struct agent_host *h);
struct driver_host *agent_host_driver(struct agent_host *h);

/* The VMs of the host: [{"id","name","state","vcpus","memory_mb",
 * "priority","pid"}] (pid 0 when no process runs or the driver has none;
 * priority from the VM's spec, 0 when it has none). New reference. */
json_t *agent_host_vms(struct agent_host *h);

/* When kumod last answered a heartbeat of the host (mono_ms; 0 never). */
int64_t agent_host_last_up(struct agent_host *h);

/* Runs type ("vm.start", "vm.stop", "vm.reboot", "vm.pause", "vm.resume")
 * on vm_id, waiting up to wait_ms for a command or action already running
 * on it. force: vm.stop without waiting for the guest. why goes to the log.
 * 0, or -1 with e filled ("NotFound", "Busy", "Conflict", "Interrupted", or
 * the driver's error). Blocks as long as the driver takes. */
int agent_host_vm_action(struct agent_host *h, const char *vm_id, const char *type, bool force,
                         int64_t wait_ms, const char *why, struct driver_err *e);
