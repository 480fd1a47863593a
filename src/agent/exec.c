// SPDX-License-Identifier: MIT
/*
 * Command semantics, the same for every driver (see exec.h). The table
 * below is the list of command types the agent understands; a type that is
 * not in it fails with NotSupported. Payloads come from kumod and may carry
 * more fields than are read here; missing ones fail with InvalidArgument.
 *
 *   vm.create   {"vm":{"id","name",...}}  -> running (existing id: its state)
 *   vm.start    {"vm_id"}                 -> running
 *   vm.stop     {"vm_id","force"}         -> stopped
 *   vm.reboot   {"vm_id"}                 -> running
 *   vm.pause    {"vm_id"}                 -> paused
 *   vm.resume   {"vm_id"}                 -> running
 *   vm.destroy  {"vm_id"}                 -> removed, "destroyed" (unknown VM: ok)
 *   vm.forget   {"vm_id"}                 -> as destroy, but its disks on a shared
 *                                            pool stay (it runs elsewhere): "forgotten"
 *   volume.create/delete/attach/detach {"volume_id","vm_id"?}
 *                                         -> available/deleted/in_use/available
 *   net.apply   {"spec": SPEC}            -> "applied" (net.h; the sim driver
 *                                            has no networks: nothing to do)
 *   snapshot.create/delete/revert {"vm_id"?, "disks":[DISK, ...]}
 *                                         -> "ready"/"deleted"/"reverted"
 *   volume.resize {"vm_id"?, "disk": DISK, "size_gb"} -> "resized"
 *   vm.resize   {"vm_id","vcpus","memory_mb"} (stopped VM) -> "stopped"
 *   image.export {"vm_id"?, "disk": DISK, "image_id"} -> "uploaded": the disk
 *               (or its "snapshot") as a qcow2, POSTed to
 *               /agent/v1/images/<image_id>/upload
 * DISK is {"volume_id","kind":"root"|"data","vm_id"?,"snapshot"?}: a root
 * disk is its VM's disk, "snapshot" the qcow2 internal snapshot name; vm_id
 * names the VM the disks are attached to on this host (then the command runs
 * in turn with that VM's others, and a running VM is snapshotted over QMP).
 *   vm.migrate_prepare {"vm","image","volumes","address","net"?}
 *                                         -> an incoming copy ("incoming"):
 *                                            {"uri","nbd":{"host","port"}}
 *   vm.migrate_send    {"vm_id","uri","nbd"} -> "migrated" (its QEMU gone)
 *   vm.migrate_finish  {"vm_id"}          -> running (the destination)
 *   vm.migrate_cleanup {"vm_id"}          -> removed from the source
 *   vm.migrate_abort   {"vm_id"}          -> the incoming copy removed
 *   vm.migrate_export  {"vm_id","address"} -> disks served read-only (cold)
 *   vm.migrate_import  {"vm","image","volumes","nbd"} -> a stopped copy
 *   (RPC) vm.migrate_cancel {"vm_id"}     -> the running send gives up
 * vm.create may carry "net": SPEC, applied before the VM is made (its taps
 * must exist); when that fails, so does the vm.create.
 * A VM action on a VM this host does not have fails with NotFound.
 *
 * This file does not schedule, persist or send anything: channel.c does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/exec.h"
#include "agent/fence.h"
#include "agent/net.h"
#include "common/json.h"
#include "common/log.h"

struct exec_ctx {
	pthread_mutex_t *held;        /* weak; released around driver calls, or NULL */
	const struct driver_ops *ops; /* weak */
	struct driver_host *dh;       /* weak */
	struct journal *j;            /* weak */
	const json_t *payload;        /* weak */
	struct journal_vm *vm;        /* weak; the VM named by the payload, if any */
	const char *vm_id;            /* weak */
	struct net *net;              /* weak; the host's networks, or NULL */
};

struct exec_type {
	const char *type;
	/* Does it, fills data ({"state":...}); 0 or -1 with e filled. */
	int (*run)(struct exec_ctx *x, json_t *data, struct driver_err *e);
	/* The VM must exist on this host (else NotFound). */
	bool needs_vm;
	/* The state on success, for VM actions. */
	const char *state;
	/* The driver call of a simple VM action (run == NULL). */
	int (*call)(struct exec_ctx *x, struct driver_err *e);
};

const char *exec_vm_id(const json_t *payload)
{
	const char *id = jstr(payload, "vm_id");

	return id ? id : jstr(json_object_get(payload, "vm"), "id");
}

/* Driver calls go through these two around the call: a concurrent driver's
 * op runs without the host's lock. */
static void op_begin(struct exec_ctx *x)
{
	if (x->held)
		pthread_mutex_unlock(x->held);
}

static int op_end(struct exec_ctx *x, int r)
{
	if (x->held)
		pthread_mutex_lock(x->held);
	return r;
}

/* Applies a network spec (net.h); a driver without networks (sim) has
 * nothing to do. */
static int apply_net(struct exec_ctx *x, const json_t *spec, struct driver_err *e)
{
	if (!x->net && !strcmp(x->ops->name, "sim"))
		return 0;
	if (!x->net)
		return driver_fail(e, "NetworkError",
		                   "the networks of this host are not set up yet");
	if (!json_is_object(spec))
		return driver_fail(e, "InvalidArgument", "the network spec is not an object");
	op_begin(x);
	return op_end(x, net_apply(x->net, spec, e));
}

static int run_net_apply(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	if (apply_net(x, json_object_get(x->payload, "spec"), e) < 0)
		return -1;
	jset_str(data, "state", "applied");
	return 0;
}

static int run_vm_create(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	const json_t *spec = json_object_get(x->payload, "vm");
	struct journal_vm tmp = { 0 };
	const char *name;

	if (!json_is_object(spec))
		spec = x->payload; /* tolerate a flat payload */
	if (!x->vm_id)
		return driver_fail(e, "InvalidArgument", "vm.create: payload has no vm id");
	if (x->vm) {
		/* Created already (a retry under another command id). */
		jset_str(data, "state", x->vm->state);
		return 0;
	}
	if (json_object_get(x->payload, "net") &&
	    apply_net(x, json_object_get(x->payload, "net"), e) < 0)
		return -1;
	name = jstr(spec, "name");
	tmp.id = (char *)x->vm_id;
	tmp.name = (char *)(name ? name : x->vm_id);
	snprintf(tmp.state, sizeof(tmp.state), "creating");
	/* the spec a driver keeps: the vm, with its image and volumes */
	tmp.spec = json_deep_copy(spec);
	if (json_object_get(x->payload, "image"))
		json_object_set(tmp.spec, "image", json_object_get(x->payload, "image"));
	if (json_object_get(x->payload, "volumes"))
		json_object_set(tmp.spec, "attached_volumes",
		                json_object_get(x->payload, "volumes"));
	op_begin(x);
	if (op_end(x, x->ops->vm_create(x->dh, &tmp, e)) < 0) {
		json_decref(tmp.spec);
		return -1;
	}
	if (!journal_vm_add(x->j, tmp.id, tmp.name, "running", tmp.spec)) {
		json_decref(tmp.spec);
		return driver_fail(e, "Internal",
		                   "vm %s: the host's journal is full or the id invalid", x->vm_id);
	}
	json_decref(tmp.spec);
	jset_str(data, "state", "running");
	return 0;
}

static int call_start(struct exec_ctx *x, struct driver_err *e)
{
	return x->ops->vm_start(x->dh, x->vm, e);
}

static int call_stop(struct exec_ctx *x, struct driver_err *e)
{
	return x->ops->vm_stop(x->dh, x->vm, jbool(x->payload, "force", false), e);
}

static int call_reboot(struct exec_ctx *x, struct driver_err *e)
{
	return x->ops->vm_reboot(x->dh, x->vm, e);
}

static int call_pause(struct exec_ctx *x, struct driver_err *e)
{
	return x->ops->vm_pause(x->dh, x->vm, e);
}

static int call_resume(struct exec_ctx *x, struct driver_err *e)
{
	return x->ops->vm_resume(x->dh, x->vm, e);
}

/* start, stop, reboot, pause, resume: the driver call, then the new state. */
static int run_vm_action(struct exec_ctx *x, const struct exec_type *t, json_t *data,
                         struct driver_err *e)
{
	op_begin(x);
	if (op_end(x, t->call(x, e)) < 0)
		return -1;
	journal_vm_set_state(x->j, x->vm, t->state);
	jset_str(data, "state", t->state);
	return 0;
}

static int vm_remove(struct exec_ctx *x, bool forget, json_t *data, struct driver_err *e)
{
	if (!x->vm_id)
		return driver_fail(e, "InvalidArgument", "%s: payload has no vm_id",
		                   forget ? "vm.forget" : "vm.destroy");
	if (x->vm) {
		int (*op)(struct driver_host *, const struct journal_vm *, struct driver_err *) =
		    forget && x->ops->vm_forget ? x->ops->vm_forget : x->ops->vm_destroy;

		op_begin(x);
		if (op_end(x, op(x->dh, x->vm, e)) < 0)
			return -1;
		journal_vm_remove(x->j, x->vm);
		x->vm = NULL;
	}
	jset_str(data, "state", forget ? "forgotten" : "destroyed");
	return 0;
}

static int run_vm_destroy(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return vm_remove(x, false, data, e);
}

static int run_vm_forget(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return vm_remove(x, true, data, e);
}

/* --- migration (the driver's vm_migrate op does the work) --- */

static int migrate_call(struct exec_ctx *x, const char *step, const struct journal_vm *vm,
                        json_t *data, struct driver_err *e)
{
	if (!x->ops->vm_migrate)
		return driver_fail(e, "NotSupported", "the %s driver cannot migrate VMs",
		                   x->ops->name);
	op_begin(x);
	return op_end(x, x->ops->vm_migrate(x->dh, step, vm, x->payload, data, e));
}

/* prepare and import: a new VM on this host, journaled in state. */
static int migrate_new_vm(struct exec_ctx *x, const char *step, const char *state, json_t *data,
                          struct driver_err *e)
{
	const json_t *spec = json_object_get(x->payload, "vm");
	struct journal_vm tmp = { 0 };
	int r;

	if (!x->vm_id || !json_is_object(spec))
		return driver_fail(e, "InvalidArgument", "vm.migrate_%s: payload has no vm", step);
	if (x->vm)
		return driver_fail(e, "AlreadyExists", "vm %s is on this host already (%s)",
		                   x->vm_id, x->vm->state);
	if (json_object_get(x->payload, "net") &&
	    apply_net(x, json_object_get(x->payload, "net"), e) < 0)
		return -1;
	tmp.id = (char *)x->vm_id;
	tmp.name = (char *)(jstr(spec, "name") ? jstr(spec, "name") : x->vm_id);
	snprintf(tmp.state, sizeof(tmp.state), "%s", state);
	tmp.spec = json_deep_copy(spec);
	if (json_object_get(x->payload, "image"))
		json_object_set(tmp.spec, "image", json_object_get(x->payload, "image"));
	if (json_object_get(x->payload, "volumes"))
		json_object_set(tmp.spec, "attached_volumes",
		                json_object_get(x->payload, "volumes"));
	r = migrate_call(x, step, &tmp, data, e);
	if (r == 0 && !journal_vm_add(x->j, tmp.id, tmp.name, state, tmp.spec))
		r = driver_fail(e, "Internal", "vm %s: the host's journal is full", x->vm_id);
	json_decref(tmp.spec);
	if (r < 0)
		return -1;
	jset_str(data, "state", state);
	return 0;
}

static int run_migrate_prepare(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_new_vm(x, "prepare", "incoming", data, e);
}

static int run_migrate_import(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_new_vm(x, "import", "stopped", data, e);
}

/* send, finish, export: a step on a VM of this host, then its new state. */
static int migrate_step(struct exec_ctx *x, const char *step, const char *state, json_t *data,
                        struct driver_err *e)
{
	if (migrate_call(x, step, x->vm, data, e) < 0)
		return -1;
	if (state)
		journal_vm_set_state(x->j, x->vm, state);
	jset_str(data, "state", state ? state : x->vm->state);
	return 0;
}

static int run_migrate_send(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_step(x, "send", "migrated", data, e);
}

static int run_migrate_finish(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_step(x, "finish", "running", data, e);
}

static int run_migrate_export(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_step(x, "export", NULL, data, e);
}

/* cleanup, abort, unexport: idempotent; the VM may be gone already. */
static int migrate_drop(struct exec_ctx *x, const char *step, bool remove, json_t *data,
                        struct driver_err *e)
{
	struct journal_vm tmp = { 0 };

	if (!x->vm_id)
		return driver_fail(e, "InvalidArgument", "vm.migrate_%s: payload has no vm_id",
		                   step);
	tmp.id = (char *)x->vm_id;
	tmp.name = (char *)x->vm_id;
	snprintf(tmp.state, sizeof(tmp.state), "unknown");
	if (migrate_call(x, step, x->vm ? x->vm : &tmp, data, e) < 0)
		return -1;
	if (remove && x->vm) {
		journal_vm_remove(x->j, x->vm);
		x->vm = NULL;
	}
	jset_str(data, "state", remove ? "removed" : "stopped");
	return 0;
}

static int run_migrate_cleanup(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_drop(x, "cleanup", true, data, e);
}

static int run_migrate_abort(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_drop(x, "abort", true, data, e);
}

static int run_migrate_unexport(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return migrate_drop(x, "unexport", false, data, e);
}

/* Volumes: volume_id required; a vm_id, when given, must name a VM here. */
static int volume_check(struct exec_ctx *x, const char *type, struct driver_err *e)
{
	if (!jstr(x->payload, "volume_id"))
		return driver_fail(e, "InvalidArgument", "%s: payload has no volume_id", type);
	if (x->vm_id && !x->vm)
		return driver_fail(e, "NotFound", "vm %s is not on this host", x->vm_id);
	return 0;
}

static int run_volume_create(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	if (volume_check(x, "volume.create", e) < 0)
		return -1;
	op_begin(x);
	if (op_end(x, x->ops->volume_create(x->dh, x->payload, e)) < 0)
		return -1;
	jset_str(data, "state", "available");
	return 0;
}

static int run_volume_delete(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	if (!jstr(x->payload, "volume_id"))
		return driver_fail(e, "InvalidArgument", "volume.delete: payload has no volume_id");
	op_begin(x);
	if (op_end(x, x->ops->volume_delete(x->dh, x->payload, e)) < 0)
		return -1;
	jset_str(data, "state", "deleted");
	return 0;
}

static int run_volume_attach(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	if (volume_check(x, "volume.attach", e) < 0)
		return -1;
	if (!x->vm)
		return driver_fail(e, "InvalidArgument", "volume.attach: payload has no vm_id");
	op_begin(x);
	if (op_end(x, x->ops->volume_attach(x->dh, x->vm, x->payload, e)) < 0)
		return -1;
	jset_str(data, "state", "in_use");
	return 0;
}

static int run_volume_detach(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	if (volume_check(x, "volume.detach", e) < 0)
		return -1;
	op_begin(x);
	if (op_end(x, x->ops->volume_detach(x->dh, x->vm, x->payload, e)) < 0)
		return -1;
	jset_str(data, "state", "available");
	return 0;
}

typedef int (*disk_op)(struct driver_host *dh, const struct journal_vm *vm, const json_t *payload,
                       json_t *data, struct driver_err *e);

/* Snapshots and resize: the optional driver op, then the state. */
static int run_disk(struct exec_ctx *x, disk_op op, const char *type, const char *state,
                    json_t *data, struct driver_err *e)
{
	if (x->vm_id && !x->vm)
		return driver_fail(e, "NotFound", "vm %s is not on this host", x->vm_id);
	if (!op)
		return driver_fail(e, "NotSupported", "the %s driver cannot do %s", x->ops->name,
		                   type);
	op_begin(x);
	if (op_end(x, op(x->dh, x->vm, x->payload, data, e)) < 0)
		return -1;
	jset_str(data, "state", state);
	return 0;
}

static int run_snapshot_create(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return run_disk(x, x->ops->snapshot_create, "snapshot.create", "ready", data, e);
}

static int run_snapshot_delete(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return run_disk(x, x->ops->snapshot_delete, "snapshot.delete", "deleted", data, e);
}

static int run_snapshot_revert(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return run_disk(x, x->ops->snapshot_revert, "snapshot.revert", "reverted", data, e);
}

static int run_volume_resize(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return run_disk(x, x->ops->volume_resize, "volume.resize", "resized", data, e);
}

static int run_image_export(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	return run_disk(x, x->ops->image_export, "image.export", "uploaded", data, e);
}

/* New vcpus/memory of a stopped VM: the journal's spec (what a restart
 * and the driver read), and the driver's copy if it keeps one. */
static int run_vm_resize(struct exec_ctx *x, json_t *data, struct driver_err *e)
{
	int64_t vcpus = jint(x->payload, "vcpus", 0), mem = jint(x->payload, "memory_mb", 0);

	if (vcpus < 1 || vcpus > 256 || mem < 16 || mem > 4194304)
		return driver_fail(e, "InvalidArgument", "vm.resize: bad vcpus or memory_mb");
	if (strcmp(x->vm->state, "stopped") != 0)
		return driver_fail(e, "InvalidState", "vm %s is %s: stop it first", x->vm_id,
		                   x->vm->state);
	if (x->ops->vm_resize) {
		op_begin(x);
		if (op_end(x, x->ops->vm_resize(x->dh, x->vm, x->payload, e)) < 0)
			return -1;
	}
	jset_int(x->vm->spec, "vcpus", vcpus);
	jset_int(x->vm->spec, "memory_mb", mem);
	journal_vm_spec_changed(x->j, x->vm);
	jset_str(data, "state", "stopped");
	return 0;
}

static const struct exec_type exec_types[] = {
	{ .type = "vm.create", .run = run_vm_create },
	{ .type = "vm.start", .needs_vm = true, .state = "running", .call = call_start },
	{ .type = "vm.stop", .needs_vm = true, .state = "stopped", .call = call_stop },
	{ .type = "vm.reboot", .needs_vm = true, .state = "running", .call = call_reboot },
	{ .type = "vm.pause", .needs_vm = true, .state = "paused", .call = call_pause },
	{ .type = "vm.resume", .needs_vm = true, .state = "running", .call = call_resume },
	{ .type = "vm.destroy", .run = run_vm_destroy },
	{ .type = "vm.forget", .run = run_vm_forget },
	{ .type = "volume.create", .run = run_volume_create },
	{ .type = "volume.delete", .run = run_volume_delete },
	{ .type = "volume.attach", .run = run_volume_attach },
	{ .type = "volume.detach", .run = run_volume_detach },
	{ .type = "net.apply", .run = run_net_apply },
	{ .type = "snapshot.create", .run = run_snapshot_create },
	{ .type = "snapshot.delete", .run = run_snapshot_delete },
	{ .type = "snapshot.revert", .run = run_snapshot_revert },
	{ .type = "volume.resize", .run = run_volume_resize },
	{ .type = "image.export", .run = run_image_export },
	{ .type = "vm.resize", .needs_vm = true, .run = run_vm_resize },
	{ .type = "vm.migrate_prepare", .run = run_migrate_prepare },
	{ .type = "vm.migrate_send", .needs_vm = true, .run = run_migrate_send },
	{ .type = "vm.migrate_finish", .needs_vm = true, .run = run_migrate_finish },
	{ .type = "vm.migrate_cleanup", .run = run_migrate_cleanup },
	{ .type = "vm.migrate_abort", .run = run_migrate_abort },
	{ .type = "vm.migrate_export", .needs_vm = true, .run = run_migrate_export },
	{ .type = "vm.migrate_unexport", .run = run_migrate_unexport },
	{ .type = "vm.migrate_import", .run = run_migrate_import },
};

/* The result of command id: its data (stolen) when r == 0, else e. */
static json_t *result_of(const char *id, int r, json_t *data, const struct driver_err *e)
{
	json_t *res;

	if (r == 0) {
		res = json_pack("{s:s, s:s, s:o}", "command_id", id, "status", "succeeded", "data",
		                data);
	} else {
		json_decref(data);
		res = json_pack("{s:s, s:s, s:{s:s, s:s}}", "command_id", id, "status", "failed",
		                "error", "code", e->code ? e->code : "Internal", "message",
		                e->message);
	}
	if (!res)
		abort();
	return res;
}

json_t *exec_command(const struct driver_ops *ops, struct driver_host *dh, struct journal *j,
                     const char *id, const char *type, const json_t *payload)
{
	return exec_command_unlocking(ops, dh, j, id, type, payload, NULL, NULL, NULL);
}

json_t *exec_command_unlocking(const struct driver_ops *ops, struct driver_host *dh,
                               struct journal *j, const char *id, const char *type,
                               const json_t *payload, pthread_mutex_t *held, struct net *net,
                               bool *ret_interrupted)
{
	struct exec_ctx x = { held, ops, dh, j, payload, NULL, NULL, net };
	const struct exec_type *t = NULL;
	struct driver_err e = { NULL, "" };
	json_t *res, *data = json_object();
	int r;

	for (size_t i = 0; i < sizeof(exec_types) / sizeof(exec_types[0]); i++)
		if (strcmp(exec_types[i].type, type) == 0)
			t = &exec_types[i];
	x.vm_id = exec_vm_id(payload);
	x.vm = journal_vm_find(j, x.vm_id);
	if (!t) {
		r = driver_fail(&e, "NotSupported", "unknown command type %s", type);
	} else if (t->needs_vm && !x.vm_id) {
		r = driver_fail(&e, "InvalidArgument", "%s: payload has no vm_id", type);
	} else if (t->needs_vm && !x.vm) {
		r = driver_fail(&e, "NotFound", "vm %s is not on this host", x.vm_id);
	} else if (t->run) {
		r = t->run(&x, data, &e);
	} else {
		r = run_vm_action(&x, t, data, &e);
	}

	if (ret_interrupted)
		*ret_interrupted = r < 0 && e.code && !strcmp(e.code, "Interrupted");
	res = result_of(id, r, data, &e);
	log_debug("command %s %s%s%s: %s%s%s", id, type, x.vm_id ? " vm " : "",
	          x.vm_id ? x.vm_id : "", r == 0 ? "succeeded" : "failed", r == 0 ? "" : ": ",
	          r == 0 ? "" : e.message);
	return res;
}

json_t *exec_rpc(const struct driver_ops *ops, struct driver_host *dh, const struct journal *j,
                 const char *id, const char *type, const json_t *payload)
{
	struct driver_err e = { NULL, "" };
	const char *vm_id = exec_vm_id(payload);
	struct journal_vm *vm = vm_id ? journal_vm_find(j, vm_id) : NULL;
	json_t *data = json_object();
	int r;

	if (!strcmp(type, "pool.heartbeat_age"))
		r = fence_heartbeat_age(jstr(payload, "path"), jstr(payload, "host_id"), data, &e);
	else if (!strcmp(type, "vm.migrate_cancel") && vm && ops->vm_migrate)
		r = ops->vm_migrate(dh, "cancel", vm, payload, data, &e);
	else if (!strcmp(type, "vm.migrate_cancel") && vm)
		r = driver_fail(&e, "NotSupported", "the %s driver cannot migrate VMs", ops->name);
	else if (strcmp(type, "vm.console") != 0 && strcmp(type, "vm.migrate_cancel") != 0)
		r = driver_fail(&e, "NotSupported", "unknown request type %s", type);
	else if (!vm)
		r = driver_fail(&e, "NotFound", "vm %s is not on this host", vm_id ? vm_id : "");
	else if (!ops->vm_console)
		r = driver_fail(&e, "NotSupported", "the %s driver has no serial console",
		                ops->name);
	else
		r = ops->vm_console(dh, vm, jint(payload, "offset", -1), jint(payload, "tail", 0),
		                    jint(payload, "max_bytes", 65536), data, &e);
	return result_of(id, r, data, &e);
}
