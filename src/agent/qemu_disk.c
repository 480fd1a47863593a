// SPDX-License-Identifier: MIT
/*
 * The qemu driver's disk operations beyond create/attach (qemu_vm.h):
 * qcow2 internal snapshots (create, delete, revert), growing a disk, new
 * vcpus/memory of a stopped VM, and the root disk of a clone. A running VM
 * is handled over QMP (one "transaction" of blockdev-snapshot-internal-sync
 * actions, so all its disks are snapshotted at one instant; block_resize),
 * a stopped one with qemu-img. Disk paths come from disk_path() alone, so
 * storage pools can be plugged in there.
 *
 * Files, under the host's directory (env->dir):
 *   vms/<vm>/export-<snapshot>.qcow2  a snapshot of the VM's root disk
 *                              flattened into a standalone image: the
 *                              backing file of its linked clones (it goes
 *                              with the snapshot, or with the VM's files)
 *   exports/image-<id>.qcow2   an image being made (image.export)
 *
 * Every snapshot name and id is a UUID (checked), and programs run with
 * argv (run_argv), never a shell.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/qemu_vm.h"
#include "agent/qmp.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define QEMU_IMG_TIMEOUT_MS (10 * 60 * 1000)

/* A VM's root disk (its directory holds it). */
static char *local_root_path(struct driver_host *dh, const char *vm_id)
{
	return xasprintf("%s/vms/%s/disk.qcow2", dh->env->dir, vm_id);
}

/* Where a disk lives: a root disk in its VM's directory, a data volume in
 * volumes/. NULL (e filled) for a bad descriptor. */
static char *disk_path(struct driver_host *dh, const json_t *payload, const json_t *d,
                       struct driver_err *e)
{
	const char *id = jstr(d, "volume_id"), *kind = jstr(d, "kind");
	const char *vm_id = jstr(d, "vm_id") ? jstr(d, "vm_id") : jstr(payload, "vm_id");

	if (!uuid_valid(id)) {
		driver_fail(e, "InvalidArgument", "a disk has a bad volume_id");
		return NULL;
	}
	const char *pool = pool_shared_path(d);

	if (kind && !strcmp(kind, "root")) {
		if (!uuid_valid(vm_id)) {
			driver_fail(e, "InvalidArgument", "root disk %s: no vm_id", id);
			return NULL;
		}
		if (pool)
			return xasprintf("%s/vms/%s/disk.qcow2", pool, vm_id);
		return local_root_path(dh, vm_id);
	}
	return volume_path_in(dh, pool, id);
}

static void disk_node(const json_t *d, char out[32])
{
	if (jstr(d, "kind") && !strcmp(jstr(d, "kind"), "root"))
		snprintf(out, 32, "root");
	else
		node_name(jstr(d, "volume_id"), out);
}

/* The flattened copy of snapshot snap of vm_id's root disk. */
static char *export_path(struct driver_host *dh, const char *vm_id, const char *snap)
{
	return xasprintf("%s/vms/%s/export-%s.qcow2", dh->env->dir, vm_id, snap);
}

/* Runs qemu-img with the given arguments; the last line it printed goes
 * into e on failure. */
static int qemu_img(struct driver_host *dh, struct args *a, const char *what, struct driver_err *e)
{
	char *errf = xasprintf("%s/qemu-img.%d.err", dh->env->dir, (int)gettid());
	char *data = NULL;
	size_t n = 0;
	int r, st = 0;

	r = run_argv(a->v, NULL, errf, QEMU_IMG_TIMEOUT_MS, &st);
	if (r < 0) {
		const char *line = "";

		if (file_read(errf, 64 * 1024, &data, &n) == 0 && n > 0) {
			while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
				data[--n] = '\0';
			line = strrchr(data, '\n') ? strrchr(data, '\n') + 1 : data;
			if (!strncmp(line, "qemu-img: ", 10))
				line += 10;
		}
		driver_fail(e, "DiskFailed", "%s: %s", what,
		            line[0] ? line : (r == -ETIMEDOUT ? "timed out" : "qemu-img failed"));
	}
	unlink(errf);
	free(errf);
	free(data);
	return r;
}

/* src (or its internal snapshot snap) as a new qcow2 file dst; -U: src
 * may be open in a running QEMU (snapshots do not change under it). */
static int convert_disk(struct driver_host *dh, const char *src, const char *snap, const char *dst,
                        const char *what, struct driver_err *e)
{
	struct args a = { 0 };
	int r;

	arg(&a, "qemu-img");
	arg(&a, "convert");
	arg(&a, "-U");
	arg(&a, "-O");
	arg(&a, "qcow2");
	if (snap) {
		arg(&a, "-l");
		arg(&a, "snapshot.name=%s", snap);
	}
	arg(&a, "%s", src);
	arg(&a, "%s", dst);
	r = qemu_img(dh, &a, what, e);
	args_free(&a);
	return r;
}

/* qemu-img snapshot -<op> name path */
static int img_snapshot(struct driver_host *dh, const char *op, const char *name, const char *path,
                        struct driver_err *e)
{
	struct args a = { 0 };
	int r;

	arg(&a, "qemu-img");
	arg(&a, "snapshot");
	arg(&a, "-%s", op);
	arg(&a, "%s", name);
	arg(&a, "%s", path);
	r = qemu_img(dh, &a, "qemu-img snapshot", e);
	args_free(&a);
	return r;
}

/* Whether the image at path has an internal snapshot called name. */
static bool img_has_snapshot(struct driver_host *dh, const char *path, const char *name)
{
	char *out = xasprintf("%s/qemu-img.%d.list", dh->env->dir, (int)gettid()), *data = NULL;
	char *argv[] = { "qemu-img", "snapshot", "-U", "-l", (char *)path, NULL };
	size_t n = 0;
	bool yes = false;

	if (run_argv(argv, NULL, out, 60000, NULL) == 0 &&
	    file_read(out, 1024 * 1024, &data, &n) == 0)
		yes = strstr(data, name) != NULL;
	unlink(out);
	free(out);
	free(data);
	return yes;
}

/* The QEMU of the VM, locked, when it runs; NULL otherwise (unlocked).
 * Call it with no vm->lock held (it takes dh->lock first). */
static struct qvm *running_locked(struct driver_host *dh, const struct journal_vm *jvm)
{
	struct driver_err ignore = { NULL, "" };
	struct qvm *vm = jvm ? vm_get(dh, jvm, &ignore) : NULL;

	if (!vm)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	if (vm->q)
		return vm;
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

static const json_t *disks_of(const json_t *payload, struct driver_err *e)
{
	const json_t *disks = json_object_get(payload, "disks"), *d;
	size_t i;

	if (!json_is_array(disks) || json_array_size(disks) == 0 || json_array_size(disks) > 32) {
		driver_fail(e, "InvalidArgument", "the payload has no disks (1..32)");
		return NULL;
	}
	json_array_foreach(disks, i, d)
	{
		if (!uuid_valid(jstr(d, "snapshot")) || !uuid_valid(jstr(d, "volume_id"))) {
			driver_fail(e, "InvalidArgument", "disk %zu has no valid snapshot name", i);
			return NULL;
		}
	}
	return disks;
}

int qemu_snapshot_create(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e)
{
	const json_t *disks = disks_of(payload, e), *d;
	struct qvm *vm;
	size_t i, done = 0;
	int r = 0;

	if (!disks)
		return -1;
	vm = running_locked(dh, jvm);
	if (vm) {
		json_t *actions = json_array();

		json_array_foreach(disks, i, d)
		{
			char node[32];

			disk_node(d, node);
			json_array_append_new(actions, json_pack("{s:s,s:{s:s,s:s}}", "type",
			                                         "blockdev-snapshot-internal-sync",
			                                         "data", "device", node, "name",
			                                         jstr(d, "snapshot")));
		}
		r = qmp_execute(vm->q, "transaction", json_pack("{s:o}", "actions", actions),
		                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
		if (r < 0)
			e->code = "QemuFailed";
		handle_events(vm);
		pthread_mutex_unlock(&vm->lock);
		jset_bool(data, "online", true);
		return r < 0 ? -1 : 0;
	}
	json_array_foreach(disks, i, d)
	{
		char *path = disk_path(dh, payload, d, e);

		if (!path) {
			r = -1;
			break;
		}
		if (!img_has_snapshot(dh, path, jstr(d, "snapshot")))
			r = img_snapshot(dh, "c", jstr(d, "snapshot"), path, e);
		free(path);
		if (r < 0)
			break;
		done++;
	}
	if (r < 0) {
		/* all or nothing: take back the ones made */
		struct driver_err ignore = { NULL, "" };

		for (i = 0; i < done; i++) {
			char *path;

			d = json_array_get(disks, i);
			path = disk_path(dh, payload, d, &ignore);
			if (path)
				img_snapshot(dh, "d", jstr(d, "snapshot"), path, &ignore);
			free(path);
		}
		return -1;
	}
	jset_bool(data, "online", false);
	return 0;
}

int qemu_snapshot_delete(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e)
{
	const json_t *disks = disks_of(payload, e), *d;
	struct qvm *vm;
	size_t i;
	int r = 0;

	if (!disks)
		return -1;
	vm = running_locked(dh, jvm);
	json_array_foreach(disks, i, d)
	{
		const char *vm_id = jstr(d, "vm_id") ? jstr(d, "vm_id") : jstr(payload, "vm_id");
		char *exp = jstr(d, "kind") && !strcmp(jstr(d, "kind"), "root") && uuid_valid(vm_id)
		                ? export_path(dh, vm_id, jstr(d, "snapshot"))
		                : NULL;

		if (vm) {
			char node[32];

			disk_node(d, node);
			r = qmp_execute(
			    vm->q, "blockdev-snapshot-delete-internal-sync",
			    json_pack("{s:s,s:s}", "device", node, "name", jstr(d, "snapshot")),
			    QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
			if (r < 0 && strstr(e->message, "does not exist"))
				r = 0; /* gone already (a retry) */
			if (r < 0)
				e->code = "QemuFailed";
		} else {
			char *path = disk_path(dh, payload, d, e);

			if (!path)
				r = -1;
			else if (access(path, F_OK) == 0 &&
			         img_has_snapshot(dh, path, jstr(d, "snapshot")))
				r = img_snapshot(dh, "d", jstr(d, "snapshot"), path, e);
			free(path);
		}
		if (r == 0 && exp)
			unlink(exp);
		free(exp);
		if (r < 0)
			break;
	}
	if (vm) {
		handle_events(vm);
		pthread_mutex_unlock(&vm->lock);
	}
	(void)data;
	return r < 0 ? -1 : 0;
}

int qemu_snapshot_revert(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e)
{
	const json_t *disks = disks_of(payload, e), *d;
	struct qvm *vm;
	size_t i;
	int r = 0;

	if (!disks)
		return -1;
	vm = running_locked(dh, jvm);
	if (vm) {
		pthread_mutex_unlock(&vm->lock);
		return driver_fail(e, "InvalidState", "vm %s is running: stop it first", jvm->id);
	}
	json_array_foreach(disks, i, d)
	{
		char *path = disk_path(dh, payload, d, e);

		r = path ? img_snapshot(dh, "a", jstr(d, "snapshot"), path, e) : -1;
		free(path);
		if (r < 0)
			break;
	}
	(void)data;
	return r < 0 ? -1 : 0;
}

int qemu_volume_resize(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                       json_t *data, struct driver_err *e)
{
	const json_t *d = json_object_get(payload, "disk");
	int64_t gb = jint(payload, "size_gb", 0);
	struct qvm *vm;
	char *path;
	int r;

	if (gb < 1 || gb > 65536)
		return driver_fail(e, "InvalidArgument", "volume.resize: bad size_gb");
	path = disk_path(dh, payload, d, e);
	if (!path)
		return -1;
	vm = running_locked(dh, jvm);
	if (vm) {
		char node[32];

		disk_node(d, node);
		r = qmp_execute(vm->q, "block_resize",
		                json_pack("{s:s,s:I}", "node-name", node, "size",
		                          (json_int_t)gb * 1024 * 1024 * 1024),
		                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
		if (r < 0)
			e->code = "QemuFailed";
		handle_events(vm);
		pthread_mutex_unlock(&vm->lock);
		jset_bool(data, "online", true);
	} else if (access(path, F_OK) < 0) {
		r = 0; /* not made yet: it will be made at its new size */
	} else {
		struct args a = { 0 };

		arg(&a, "qemu-img");
		arg(&a, "resize");
		arg(&a, "-q");
		arg(&a, "%s", path);
		arg(&a, "%lldG", (long long)gb);
		r = qemu_img(dh, &a, "qemu-img resize", e);
		args_free(&a);
		jset_bool(data, "online", false);
	}
	free(path);
	return r < 0 ? -1 : 0;
}

int qemu_image_export(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                      json_t *data, struct driver_err *e)
{
	const json_t *d = json_object_get(payload, "disk");
	const char *img = jstr(payload, "image_id"), *snap = jstr(d, "snapshot");
	char *src = NULL, *dir = NULL, *tmp = NULL, *path = NULL;
	struct stat sb;
	struct qvm *vm;
	int r;

	if (!uuid_valid(img) || (snap && !uuid_valid(snap)))
		return driver_fail(e, "InvalidArgument", "image.export: bad image_id or snapshot");
	if (!dh->env->upload)
		return driver_fail(e, "NotSupported", "this agent cannot upload to kumod");
	src = disk_path(dh, payload, d, e);
	if (!src)
		return -1;
	vm = running_locked(dh, jvm);
	if (vm) {
		pthread_mutex_unlock(&vm->lock);
		if (!snap) {
			r = driver_fail(e, "InvalidState",
			                "the disk is in use by a running vm: export a snapshot");
			goto out;
		}
	}
	dir = xasprintf("%s/exports", dh->env->dir);
	tmp = xasprintf("%s/image-%s.qcow2", dir, img);
	path = xasprintf("/agent/v1/images/%s/upload", img);
	r = mkdir_p(dir, 0700);
	if (r < 0) {
		driver_fail(e, "Internal", "cannot create %s: %s", dir, strerror(-r));
		goto out;
	}
	r = convert_disk(dh, src, snap, tmp, "cannot convert the disk", e);
	if (r == 0 && stat(tmp, &sb) == 0)
		jset_int(data, "size", (int64_t)sb.st_size);
	if (r == 0)
		r = dh->env->upload(dh->env->cls, path, tmp, e);
	unlink(tmp);
out:
	free(path);
	free(tmp);
	free(dir);
	free(src);
	return r < 0 ? -1 : 0;
}

int qemu_vm_resize(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                   struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	int r = 0;

	if (!vm)
		return -1;
	pthread_mutex_lock(&vm->lock);
	if (vm->q) {
		r = driver_fail(e, "InvalidState", "vm %s is running: stop it first", jvm->id);
	} else {
		jset_int(vm->spec, "vcpus", jint(payload, "vcpus", 1));
		jset_int(vm->spec, "memory_mb", jint(payload, "memory_mb", 256));
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* --- clones ---------------------------------------------------------------- */

bool clone_wanted(const struct qvm *vm)
{
	return jstr(vm->spec, "source_vm_id") != NULL;
}

/* The snapshot snap of src (vm_id's root disk) flattened (made once). */
static char *export_snapshot(struct driver_host *dh, const char *vm_id, const char *src,
                             const char *snap, struct driver_err *e)
{
	char *exp = export_path(dh, vm_id, snap);
	char *tmp = xasprintf("%s.tmp", exp);
	int r = 0;

	if (access(exp, F_OK) == 0)
		goto out;
	r = convert_disk(dh, src, snap, tmp, "cannot export the snapshot", e);
	if (r == 0 && rename(tmp, exp) < 0)
		r = driver_fail(e, "Internal", "cannot rename %s: %s", tmp, strerror(errno));
	if (r < 0)
		unlink(tmp);
out:
	free(tmp);
	if (r < 0) {
		free(exp);
		return NULL;
	}
	return exp;
}

/* One disk of a clone: copied from src (its internal snapshot snap, or
 * as it is now), the source's QEMU node being node. */
struct clone_disk {
	char *src, *dst;
	const char *snap;
	char node[32];
	bool made; /* dst is ours (removed when the clone fails) */
};

/* Takes (make) or removes (!make) the internal snapshot name of every
 * disk of VM src_vm over QMP when it runs, all at one instant (one
 * transaction); removes them with qemu-img when it does not. 1 when
 * snapshots were made, 0 when none were needed (the source does not run),
 * -1 with e. */
static int temp_snapshots(struct driver_host *dh, const char *src_vm, struct clone_disk *d,
                          size_t n, const char *name, bool make, struct driver_err *e)
{
	struct journal_vm sj = { .id = (char *)src_vm };
	struct qvm *sv = running_locked(dh, &sj);
	json_t *actions;
	int r = 0;

	if (!sv) {
		for (size_t i = 0; i < n && !make; i++)
			if (img_has_snapshot(dh, d[i].src, name) &&
			    img_snapshot(dh, "d", name, d[i].src, e) < 0)
				r = -1;
		return r;
	}
	if (make) {
		actions = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(actions,
			                      json_pack("{s:s,s:{s:s,s:s}}", "type",
			                                "blockdev-snapshot-internal-sync", "data",
			                                "device", d[i].node, "name", name));
		r = qmp_execute(sv->q, "transaction", json_pack("{s:o}", "actions", actions),
		                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
	} else {
		for (size_t i = 0; i < n; i++)
			if (qmp_execute(sv->q, "blockdev-snapshot-delete-internal-sync",
			                json_pack("{s:s,s:s}", "device", d[i].node, "name", name),
			                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message)) < 0)
				r = -1;
	}
	if (r < 0)
		e->code = "QemuFailed";
	handle_events(sv);
	pthread_mutex_unlock(&sv->lock);
	return r < 0 ? -1 : make ? 1 : 0;
}

/* The disks of a clone: its root (d[0]), then each of its data volumes
 * whose record names a source_volume_id. Returns how many (0: bad). */
static size_t clone_plan(struct driver_host *dh, struct qvm *vm, struct clone_disk *d, size_t max,
                         struct driver_err *e)
{
	const char *src_vm = jstr(vm->spec, "source_vm_id");
	const json_t *v;
	size_t i, n = 1;

	{
		/* the source's root disk: where its own spec (in this host's
		 * records) says, else the host's directory */
		struct qvm *sv = qvm_find(dh, src_vm);

		d[0].src = sv ? root_disk_path(sv) : local_root_path(dh, src_vm);
	}
	d[0].dst = root_disk_path(vm); /* on its pool when shared */
	d[0].snap = jstr(vm->spec, "source_snapshot_id");
	snprintf(d[0].node, sizeof(d[0].node), "root");
	json_array_foreach(json_object_get(vm->spec, "attached_volumes"), i, v)
	{
		const char *from = jstr(v, "source_volume_id"),
		           *snap = jstr(v, "source_snapshot_id");

		if (!from)
			continue;
		if (n == max || !uuid_valid(from) || !uuid_valid(jstr(v, "id")) ||
		    (snap && !uuid_valid(snap))) {
			driver_fail(e, "InvalidArgument", "bad clone source of volume %zu", i);
			while (n-- > 0) {
				free(d[n].src);
				free(d[n].dst);
			}
			return 0;
		}
		d[n].src = volume_path_in(dh, pool_shared_path(v), from);
		d[n].dst = volume_path_in(dh, pool_shared_path(v), jstr(v, "id"));
		d[n].snap = snap;
		node_name(from, d[n].node);
		n++;
	}
	return n;
}

int clone_disks(struct driver_host *dh, struct qvm *vm, struct driver_err *e)
{
	const json_t *c = vm->spec;
	const char *src_vm = jstr(c, "source_vm_id"), *snap = jstr(c, "source_snapshot_id");
	bool linked = jbool(c, "linked_clone", false), tmp_snap = false;
	struct clone_disk d[33] = { 0 };
	size_t n = 0, i;
	int r = -1;

	if (!uuid_valid(src_vm) || (snap && !uuid_valid(snap))) {
		driver_fail(e, "InvalidArgument", "bad clone source");
		goto out;
	}
	if (linked && !snap) {
		driver_fail(e, "InvalidArgument", "a linked clone needs a snapshot");
		goto out;
	}
	n = clone_plan(dh, vm, d, sizeof(d) / sizeof(d[0]), e);
	if (n == 0)
		goto out;
	if (pool_shared_path(vm->spec)) {
		char *sub = xasprintf("vms/%s", vm->id);

		r = pool_check(pool_shared_path(vm->spec), sub, e);
		free(sub);
		if (r < 0)
			goto out;
	}
	r = 0;
	for (i = 0; i < n && r == 0; i++)
		if (access(d[i].src, R_OK) < 0)
			r = driver_fail(e, "NotFound", "the source's %s is not on this host",
			                i ? "data volume" : "disk");
	if (r < 0)
		goto out;
	if (!snap) {
		/* a running source: snapshots of this instant, gone after. The
		 * lock order is dh->lock, then a vm->lock: finding the source
		 * takes dh->lock, so ours is let go meanwhile (no one else uses
		 * this VM before its create returns; the monitor must not report
		 * its state meanwhile). */
		snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
		pthread_mutex_unlock(&vm->lock);
		r = temp_snapshots(dh, src_vm, d, n, vm->id, true, e);
		pthread_mutex_lock(&vm->lock);
		if (r < 0)
			goto out;
		if (r == 1) {
			tmp_snap = true;
			for (i = 0; i < n; i++)
				d[i].snap = vm->id;
		}
		r = 0;
	}
	for (i = 0; i < n && r == 0; i++) {
		if (access(d[i].dst, F_OK) == 0)
			continue; /* copied already (a retry: copies are renamed in whole) */
		d[i].made = true;
		if (i == 0 && linked) {
			/* the root: an overlay on the snapshot, flattened once */
			char *exp = export_snapshot(dh, src_vm, d[0].src, snap, e);

			if (!exp) {
				r = -1;
				break;
			}
			r = qemu_img_create(d[0].dst, "qcow2", exp, NULL, NULL);
			if (r < 0)
				driver_fail(e, "DiskFailed",
				            "cannot create the clone's disk over %s", exp);
			free(exp);
		} else {
			char *part = xasprintf("%s.part", d[i].dst);

			r = convert_disk(
			    dh, d[i].src, d[i].snap, part,
			    i ? "cannot copy a data volume" : "cannot copy the source's disk", e);
			if (r == 0 && rename(part, d[i].dst) < 0)
				r = driver_fail(e, "Internal", "cannot rename %s: %s", part,
				                strerror(errno));
			if (r < 0)
				unlink(part);
			free(part);
		}
	}
	if (tmp_snap) {
		struct driver_err ignore = { NULL, "" };

		pthread_mutex_unlock(&vm->lock);
		temp_snapshots(dh, src_vm, d, n, vm->id, false, &ignore);
		pthread_mutex_lock(&vm->lock);
	}
	if (r == 0)
		log_info("vm %s: disks cloned from vm %s%s%s (%s, %zu data volume%s)", vm->id,
		         src_vm, snap ? " snapshot " : "", snap ? snap : "",
		         linked ? "linked" : "full copy", n - 1, n == 2 ? "" : "s");
out:
	for (i = 0; i < n; i++) {
		if (r < 0 && d[i].made)
			unlink(d[i].dst);
		free(d[i].src);
		free(d[i].dst);
	}
	return r < 0 ? -1 : 0;
}
