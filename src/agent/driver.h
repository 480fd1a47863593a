/* SPDX-License-Identifier: MIT */
/*
 * The compute-driver interface: what a host's hypervisor must do for the
 * agent. One ops table per driver (driver_sim.c now, driver_qemu.c later);
 * main.c names them all in one list and picks one with --driver.
 *
 * The generic side (exec.c) owns the meaning of commands: it parses
 * payloads, looks VMs up in the journal, answers NotFound, NotSupported and
 * idempotent destroys, and records the new state when an op succeeds. A
 * driver only makes the hypervisor do the thing, or explains why it could
 * not (struct driver_err).
 *
 * Threading: for a driver that is not `concurrent` (sim), a driver_host is
 * used by one executor thread at a time and every op is called with that
 * host's lock held, so ops must not block; the sim's operation time is
 * simulated through op_delay_ms(), which the executor honours without
 * sleeping. A `concurrent` driver (qemu) has ops that really take time
 * (starting QEMU, waiting for a guest to shut down): each command runs on a
 * thread of its own, without the host's lock, so ops of different VMs run
 * at the same time and must lock the driver's own state; commands naming
 * the same VM still run one at a time, in order.
 */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/journal.h"
#include "common/config.h"

/* Why an op failed, as it goes into the command's result:
 * {"code": code, "message": message}. */
struct driver_err {
	const char *code; /* static: "NotFound", "SimulatedFailure", "Internal", ... */
	char message[256];
};

/* Fills e; returns -1 so ops can "return driver_fail(e, ...)". */
static inline int driver_fail(struct driver_err *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int driver_fail(struct driver_err *e, const char *code, const char *fmt, ...)
{
	char msg[sizeof(e->message)]; /* the arguments may be e->message itself */
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(e->message, msg, sizeof(msg));
	return -1;
}

struct driver_host; /* a driver's state for one host; opaque */

/* What the agent gives a driver for one host (host_new); valid until
 * host_free. The callbacks may be called from any thread, but never with a
 * lock held that an op of the driver may wait for. */
struct driver_env {
	const char *dir; /* the host's own directory, DATA/hosts/<index>; exists, 0700 */
	/* A VM changed state by itself (its guest shut down, QEMU died,
	 * the guest paused on an I/O error): the agent records it and tells
	 * kumod at once. reason may be NULL. */
	void (*vm_changed)(void *cls, const char *vm_id, const char *state, const char *reason);
	/* Downloads path ("/agent/v1/...") from kumod, authenticated as this
	 * host, into the file dest (created 0600, replaced whole). 0, or -errno
	 * with e filled. Blocks; call it without locks held. */
	int (*fetch)(void *cls, const char *path, const char *dest, struct driver_err *e);
	/* POSTs the file src to path ("/agent/v1/...") on kumod as this host.
	 * 0, or -1 with e filled. Blocks; call it without locks held. */
	int (*upload)(void *cls, const char *path, const char *src, struct driver_err *e);
	/* Progress (0-100) of the command of type cmd_type now running on
	 * vm_id, sent to kumod at once as a "running" result (best effort: not
	 * journaled). May be NULL; call it without locks held. */
	void (*progress)(void *cls, const char *vm_id, const char *cmd_type, int progress);
	void *cls;
};

struct driver_ops {
	const char *name; /* "sim": the --driver value and the config section */
	bool concurrent;  /* ops take real time: see Threading above */

	/* Checks the driver's options (config section [<name>]) once, before
	 * any host exists. 0, or -EINVAL with e->message saying what is wrong. */
	int (*check_config)(const struct config *cfg, struct driver_err *e);
	/* State for host number index (0-based) of this process. */
	int (*host_new)(const struct config *cfg, unsigned index, const struct driver_env *env,
	                struct driver_host **ret);
	/* The agent is stopping: ops waiting for something slow (a guest's
	 * shutdown) give up at once with code "Interrupted"; such a command
	 * stays queued and runs again after the restart. Optional. */
	void (*host_stop)(struct driver_host *dh);
	struct driver_host *(*host_free)(struct driver_host *dh);
	/* Adds the host's facts: cpus, memory_mb, disk_gb, arch, accel, driver. */
	void (*facts)(struct driver_host *dh, json_t *facts);
	/* How long a command of this type takes in simulated time, in ms; 0 for
	 * drivers whose ops take real time. */
	int64_t (*op_delay_ms)(struct driver_host *dh, const char *type);
	/* The journal was loaded: VMs that were there before a restart. A real
	 * driver reattaches to them (or starts those that should run); it may
	 * change vm->state to what it finds. Optional. */
	void (*vm_restore)(struct driver_host *dh, struct journal_vm *vm);
	/* The VM's actual state for a heartbeat, or NULL to report the journal's.
	 * Optional. */
	const char *(*vm_state)(struct driver_host *dh, const struct journal_vm *vm);

	/* The process running the VM (its QEMU), for CPU accounting and CPU
	 * caps; 0 when none runs. Optional (drivers without processes). */
	int (*vm_pid)(struct driver_host *dh, const char *vm_id);
	/* Serial console output (an RPC, answered at once): from byte position
	 * offset, or with offset < 0 the last tail_lines lines; at most max
	 * bytes. Fills data with {"output","offset","next","truncated"}.
	 * Optional (NotSupported without it). */
	int (*vm_console)(struct driver_host *dh, const struct journal_vm *vm, int64_t offset,
	                  int64_t tail_lines, int64_t max, json_t *data, struct driver_err *e);

	/* VM lifecycle: 0 or -1 with e filled. vm is the journal's record; for
	 * create it is not in the journal yet (spec: the payload's vm object). */
	int (*vm_create)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);
	int (*vm_start)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);
	int (*vm_stop)(struct driver_host *dh, const struct journal_vm *vm, bool force,
	               struct driver_err *e);
	int (*vm_reboot)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);
	int (*vm_pause)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);
	int (*vm_resume)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);
	int (*vm_destroy)(struct driver_host *dh, const struct journal_vm *vm,
	                  struct driver_err *e);
	/* The VM runs on another host now: stop it here and drop its files,
	 * but keep its disks on a shared pool. Optional (vm_destroy without). */
	int (*vm_forget)(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e);

	/* Migration (qemu_migrate.c; see exec.c for the steps): step is
	 * "prepare" (destination; jvm is not journaled yet), "send" (source),
	 * "finish" (destination), "cleanup" (source), "abort" (destination),
	 * "cancel" (source, an RPC: quick), "export"/"unexport" (source of a
	 * cold migration), "import" (its destination). data gets the step's
	 * answer. Optional (NotSupported without it). */
	int (*vm_migrate)(struct driver_host *dh, const char *step, const struct journal_vm *jvm,
	                  const json_t *payload, json_t *data, struct driver_err *e);

	/* Volumes: payload is the command's ({"volume_id", "vm_id"?, ...}); vm
	 * is the VM it names, or NULL. */
	int (*volume_create)(struct driver_host *dh, const json_t *payload, struct driver_err *e);
	int (*volume_delete)(struct driver_host *dh, const json_t *payload, struct driver_err *e);
	int (*volume_attach)(struct driver_host *dh, const struct journal_vm *vm,
	                     const json_t *payload, struct driver_err *e);
	int (*volume_detach)(struct driver_host *dh, const struct journal_vm *vm,
	                     const json_t *payload, struct driver_err *e);

	/* Disks (exec.c documents the payloads): qcow2 internal snapshots of
	 * one or more disks at one instant (running VM: one QMP transaction),
	 * their deletion, revert (VM stopped), and growing a disk (online
	 * with block_resize). vm is the VM the disks belong to here, or NULL.
	 * All optional: NotSupported without them. */
	int (*snapshot_create)(struct driver_host *dh, const struct journal_vm *vm,
	                       const json_t *payload, json_t *data, struct driver_err *e);
	int (*snapshot_delete)(struct driver_host *dh, const struct journal_vm *vm,
	                       const json_t *payload, json_t *data, struct driver_err *e);
	int (*snapshot_revert)(struct driver_host *dh, const struct journal_vm *vm,
	                       const json_t *payload, json_t *data, struct driver_err *e);
	int (*volume_resize)(struct driver_host *dh, const struct journal_vm *vm,
	                     const json_t *payload, json_t *data, struct driver_err *e);
	/* A disk (or its snapshot) as a standalone qcow2, uploaded to kumod. */
	int (*image_export)(struct driver_host *dh, const struct journal_vm *vm,
	                    const json_t *payload, json_t *data, struct driver_err *e);
	/* New vcpus/memory_mb of a stopped VM (payload {"vcpus","memory_mb"}),
	 * used from its next start; the journal's spec is updated by exec.c.
	 * Optional: drivers that read the journal's spec need nothing. */
	int (*vm_resize)(struct driver_host *dh, const struct journal_vm *vm, const json_t *payload,
	                 struct driver_err *e);
};

extern const struct driver_ops driver_sim_ops;
extern const struct driver_ops driver_qemu_ops;
