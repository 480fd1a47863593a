/* SPDX-License-Identifier: MIT */
/*
 * The qemu driver's private interface, between driver_qemu.c (QEMU
 * processes: start, QMP, events, the driver ops) and qemu_files.c (a VM's
 * files: root disk, cidata seed, attached volumes, console log). Locking is
 * described in driver_qemu.c.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/accel.h"
#include "agent/driver.h"
#include "agent/fence.h"
#include "agent/image_cache.h"
#include "common/vmspec.h"

#define QMP_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 15000
#define SPAWN_TIMEOUT_MS 60000
#define DEFAULT_STOP_TIMEOUT_S 60
#define FORCE_WAIT_MS 5000
#define POWERDOWN_REPEAT_MS 5000
#define DETACH_TIMEOUT_MS 15000
#define CONSOLE_MAX ((off_t)1024 * 1024) /* console.log before it turns into .1 */
#define MONITOR_TICK_MS 1000
#define SEED_KB 1024
#define MIG_CHANNELS_MAX 16 /* multifd streams of a live migration */
/* The downtime QEMU may take to switch a live migration over: it starts at
 * MIG_DOWNTIME_FIRST_MS and doubles after every MIG_DOWNTIME_STEP_SYNCS
 * passes over the memory that did not converge, up to the cap
 * ([qemu] migration_downtime_ms, or the request's max_downtime_ms). */
#define MIG_DOWNTIME_FIRST_MS 50
#define MIG_DOWNTIME_STEP_SYNCS 3
#define MIG_DOWNTIME_DEFAULT_MS 300 /* QEMU's own default */
#define MIG_DOWNTIME_MIN_MS 10
#define MIG_DOWNTIME_MAX_MS 60000
#define ERR_TAIL 400

struct qvm {
	char *id;      /* owned */
	char *dir;     /* owned; env->dir/vms/<id> */
	int dirfd;     /* O_PATH of dir, for the short socket path; -1 when closed */
	unsigned refs; /* under dh->lock: the list holds one, the monitor one while polling */
	bool removed;  /* under dh->lock: destroyed, off the list */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* QEMU exited, a device went away */
	struct qmp *q;       /* NULL when no QEMU runs */
	pid_t pid;
	char state[16];       /* running, paused, stopped, error */
	char reason[160];     /* why, for error */
	bool expect_exit;     /* we asked QEMU to go (quit, power-down) */
	bool guest_shutdown;  /* the guest powered off (SHUTDOWN guest=true) */
	bool expect_stop;     /* we asked for a pause (STOP is ours) */
	char deleted_dev[64]; /* the last DEVICE_DELETED device id */
	char reported[16];    /* the state last told to the agent */
	json_t *spec;         /* owned; the VM as created */
	bool incoming;        /* a migration's destination (-incoming defer) */
	int mig_cancel;       /* atomic: cancel the outgoing migration (qemu_migrate.c) */
	char copy_error[160]; /* a migration's disk copy (job mig<n>) that ended in error */
	struct qvm *next;     /* under dh->lock */
};

struct driver_host {
	const struct driver_env *env; /* weak */
	char *binary;                 /* owned; qemu-system-x86_64 */
	char accel[8];
	char accel_reason[ACCEL_REASON_MAX];
	char cpu_model[72]; /* QEMU's -cpu: [qemu] cpu_model, else host (kvm), max (tcg) */
	char cpu_fact[200]; /* what the VMs' CPU is, for kumod to compare hosts by */
	int64_t stop_timeout_s;
	int mig_channels;        /* [qemu] migration_channels: multifd streams, 1 = one stream */
	int64_t mig_downtime_ms; /* [qemu] migration_downtime_ms: the switchover's cap */

	pthread_mutex_t lock;
	struct qvm *vms;
	bool stopping;
	int wake[2]; /* the monitor's self-pipe */
	pthread_t monitor;
	bool monitor_started;
};

/* A data volume's PCI slot (common/vmspec.h), or 0: QEMU places it. */
static inline int vol_slot(const json_t *v)
{
	json_int_t s = json_integer_value(json_object_get(v, "pci_slot"));

	return s >= VOL_SLOT_FIRST && s <= VOL_SLOT_LAST ? (int)s : 0;
}

/* argv builder */
struct args {
	char *v[128];
	int n;
};

/* driver_qemu.c */
struct qvm *vm_get(struct driver_host *dh, const struct journal_vm *jvm, struct driver_err *e);
/* The VM of that id, or NULL (dh->lock taken inside). */
struct qvm *qvm_find(struct driver_host *dh, const char *id);
/* A new VM record on the host's list (no files, no QEMU). */
struct qvm *qvm_new(struct driver_host *dh, const char *id, const json_t *spec);
/* Off the list; freed when the last reference goes. */
void qvm_remove(struct driver_host *dh, struct qvm *vm);
/* Starts QEMU (vm->lock held); with vm->incoming it waits for a migration
 * instead of running the guest. */
int qemu_start(struct driver_host *dh, struct qvm *vm, struct driver_err *e);
/* Ends QEMU now (vm->lock held). */
void qemu_kill(struct driver_host *dh, struct qvm *vm);
/* Applies the queued QMP events (vm->lock held). */
void handle_events(struct qvm *vm);
/* A QEMU node name (at most 31 characters) for a volume id. */
void node_name(const char *vol_id, char out[32]);

/* qemu_disk.c: snapshots, resize, clone disks (driver ops of the same names) */
int qemu_snapshot_create(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e);
int qemu_snapshot_delete(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e);
int qemu_snapshot_revert(struct driver_host *dh, const struct journal_vm *jvm,
                         const json_t *payload, json_t *data, struct driver_err *e);
int qemu_volume_resize(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                       json_t *data, struct driver_err *e);
int qemu_image_export(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                      json_t *data, struct driver_err *e);
int qemu_vm_resize(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                   struct driver_err *e);
/* The disks of a clone, vm->lock held (let go for a moment when the
 * source runs) (spec "source_vm_id", "source_snapshot_id"?,
 * "linked_clone"; each attached volume with "source_volume_id",
 * "source_snapshot_id"?): the root a full copy of the source's root disk
 * (or of its snapshot), or an overlay on a flattened export of the
 * snapshot (vms/<source>/export-<snapshot>.qcow2); data volumes full
 * copies. A running source's disks are copied from internal snapshots
 * taken at one instant (removed after). */
bool clone_wanted(const struct qvm *vm);
int clone_disks(struct driver_host *dh, struct qvm *vm, struct driver_err *e);
/* qemu_migrate.c: the driver's vm_migrate op (driver.h) */
int qemu_vm_migrate(struct driver_host *dh, const char *step, const struct journal_vm *jvm,
                    const json_t *payload, json_t *data, struct driver_err *e);
/* The downtime limit (ms) for a migration at its syncs'th pass over the
 * memory (QEMU's dirty-sync-count), capped at cap. */
int64_t mig_downtime_at(int64_t cap, int64_t syncs);

/* qemu_files.c: running programs (argv, never a shell) */
void arg(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void args_free(struct args *a);
/* Runs argv with stdout and stderr into errfile (or /dev/null), in dir;
 * waits up to timeout_ms. 0 when it exited 0; -ETIMEDOUT (killed); -ECHILD
 * with *ret_status for other exits. */
int run_argv(char *const argv[], const char *dir, const char *errfile, int timeout_ms,
             int *ret_status);
int rm_rf(const char *path);
/* The last line QEMU wrote to the VM's qemu.err. */
void err_tail(const struct qvm *vm, char *out, size_t len);

/* qemu_files.c: disks */
int qemu_img_create(const char *path, const char *backing_fmt, const char *backing,
                    const char *size, const char *errf);
/* The root disk: vms/<id>/disk.qcow2 of the VM's directory, or of its
 * shared pool (see pool_shared_path). *ret_made: it was made now (false
 * when a shared pool had it already: a VM restarted or moved here). */
int make_root_disk(struct driver_host *dh, struct qvm *vm, const struct image_files *img,
                   bool *ret_made, struct driver_err *e);
/* Removes a VM's disks from its shared pool (nothing for local storage). */
void remove_shared_disks(const struct qvm *vm);
int make_seed(struct driver_host *dh, struct qvm *vm, struct driver_err *e);
/* The VM's seed: beside its disk on a shared pool (every host uses the
 * one file: a migration has nothing to make), else in its directory. */
char *seed_path(const struct qvm *vm);
/* The data volumes of a spec's attached_volumes (kind data, valid ids) as
 * volumes.json lists them: id, size_gb, pool_path, pci_slot
 * (qemu_migrate.c). */
json_t *data_volumes(const json_t *spec);
char *volume_path(struct driver_host *dh, const char *vol_id);

/* qemu_files.c: storage pools. A VM spec or a volume may carry
 * "pool": {"id","type","path"}; a shared pool's path is a directory every
 * host of the cluster mounts at the same place: <path>/vms/<id>/disk.qcow2,
 * <path>/volumes/<id>.qcow2, <path>/images/<image id>.<fmt> (bases),
 * <path>/heartbeat/<host id> (fence.c). */
/* A data volume's file: on the pool at pool_path, or local when NULL. */
char *volume_path_in(struct driver_host *dh, const char *pool_path, const char *vol_id);
/* The VM's root disk file (root_disk_path: absolute). */
char *root_disk_path(const struct qvm *vm);
/* The pool is there and writable (and <pool>/sub exists when sub):
 * 0, or -1 with e "PoolUnavailable". */
int pool_check(const char *pool_path, const char *sub, struct driver_err *e);
/* 0 when this host finds the disk of vm vm_id on the shared pool at
 * pool_path; -1 with e ("PoolUnavailable") when not: a pool that is not
 * mounted here often shows as an empty directory. */
int pool_has_vm(const char *pool_path, const char *vm_id, struct driver_err *e);
/* volumes.json: the data volumes attached, [{"id"}] in order */
json_t *volumes_load(const struct qvm *vm);
int volumes_save(const struct qvm *vm, const json_t *list);

/* qemu_files.c: the console log (vm->lock held for rotate) */
void console_rotate(struct qvm *vm);
int qemu_vm_console(struct driver_host *dh, const struct journal_vm *jvm, int64_t offset,
                    int64_t tail_lines, int64_t max, json_t *data, struct driver_err *e);
