// SPDX-License-Identifier: MIT
/*
 * Migration for the qemu driver: the vm_migrate op (driver.h), one step at
 * a time as kumod's vm.migrate job asks for them (src/kumod/migrate.c).
 *
 * Live, local storage (every disk is a file of this host):
 *   prepare   destination: empty disks of the same sizes (the root an
 *             overlay on the same cached image), QEMU with the same devices
 *             and -incoming defer, an NBD server on the host's address
 *             exporting every disk writable, migrate-incoming on a free
 *             port. Answers {"uri","nbd":{"host","port","exports"}}.
 *   send      source: blockdev-mirror of every disk into the exports
 *             (root: sync top, its base image being the same on both
 *             sides; data volumes: full) in write-blocking mode; once all
 *             are ready, migrate with auto-converge and
 *             pause-before-switchover: at the switchover (guest stopped)
 *             the mirrors are cancelled, which for a ready mirror means
 *             "complete, the target is consistent", and the migration
 *             continues; the destination runs the guest as soon as the
 *             state is in. Then the source QEMU quits. On any failure or a
 *             cancel: migrate_cancel, the mirrors go, the guest runs on.
 *   finish    destination: nbd-server-stop, the guest running.
 *   cleanup   source: its QEMU and disks go (only now).
 *   abort     destination: the incoming QEMU and its disks go.
 *   cancel    (an RPC) tells a running send to give up.
 * With "shared_storage": true (both hosts see the same disk files) there is
 * no NBD and no mirror, and cleanup/abort leave the files alone.
 *
 * Cold (a stopped VM): export on the source serves each disk file's bytes
 * read-only with qemu-nbd on a free port of its address; import on the
 * destination copies them (qemu-img convert) and points the root overlay
 * at its own cached base image (qemu-img rebase -u); cleanup on the source
 * (unexport on a failure) ends the qemu-nbd processes.
 *
 * Not for: the job's order of steps and its bookkeeping (kumod).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/qemu_vm.h"
#include "agent/qmp.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define MIG_POLL_MS 10
#define MIG_DISKS_MAX 16
#define MIG_JOB_WAIT_MS 30000
#define MIG_FINISH_WAIT_MS 60000
#define UNDO_WAIT_MS 15000 /* for a cancel to settle, a guest to resume */
#define MIG_BANDWIDTH ((json_int_t)10 * 1024 * 1024 * 1024) /* bytes/s: no cap */
#define NBD_SPAWN_MS 15000
#define CONVERT_MS (30 * 60 * 1000)

/* One QMP command on a VM whose lock is held; events are applied after. */
static int qmpx(struct qvm *vm, const char *cmd, json_t *args, json_t **ret, char *err, size_t len)
{
	int r;

	if (!vm->q) {
		json_decref(args);
		snprintf(err, len, "QEMU is not running");
		return -EPIPE;
	}
	r = qmp_execute(vm->q, cmd, args, QMP_TIMEOUT_MS, ret, err, len);
	handle_events(vm);
	return r;
}

/* A free TCP port on addr (IPv4), or -errno. */
static int free_port(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, r;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	            getsockname(fd, (struct sockaddr *)&sa, &len) < 0
	        ? -errno
	        : ntohs(sa.sin_port);
	close(fd);
	return r;
}

static bool addr_ok(const char *addr)
{
	struct in_addr a;

	return addr && inet_pton(AF_INET, addr, &a) == 1;
}

/* The VM's disks as QEMU nodes: "root", then its data volumes in order.
 * ids[i] is the volume id (NULL for the root). Returns how many. */
static int disk_nodes(const struct qvm *vm, char nodes[][32], char ids[][40])
{
	json_t *vols = volumes_load(vm), *v;
	size_t i;
	int n = 0;

	snprintf(nodes[n], 32, "root");
	ids[n][0] = '\0';
	n++;
	json_array_foreach(vols, i, v)
	{
		if (n >= MIG_DISKS_MAX || !uuid_valid(jstr(v, "id")))
			continue;
		node_name(jstr(v, "id"), nodes[n]);
		snprintf(ids[n], 40, "%s", jstr(v, "id"));
		n++;
	}
	json_decref(vols);
	return n;
}

json_t *data_volumes(const json_t *spec)
{
	json_t *list = json_array(), *v;
	size_t i;

	json_array_foreach(json_object_get(spec, "attached_volumes"), i, v)
	{
		if (jstr(v, "kind") && strcmp(jstr(v, "kind"), "data") != 0)
			continue;
		if (uuid_valid(jstr(v, "id")))
			json_array_append_new(
			    list, json_pack("{s:s,s:I,s:s?,s:i}", "id", jstr(v, "id"), "size_gb",
			                    (json_int_t)jint(v, "size_gb", 1), "pool_path",
			                    pool_shared_path(v), "pci_slot", vol_slot(v)));
	}
	return list;
}

/* Removes a VM's files (disks included unless shared) and its record. */
static void vm_files_drop(struct driver_host *dh, struct qvm *vm, const char *id, bool shared)
{
	char *dir;

	if (vm) {
		pthread_mutex_lock(&vm->lock);
		qemu_kill(dh, vm);
		if (vm->dirfd >= 0) {
			close(vm->dirfd);
			vm->dirfd = -1;
		}
		pthread_mutex_unlock(&vm->lock);
	}
	dir = xasprintf("%s/vms/%s", dh->env->dir, id);
	if (!shared) {
		struct qvm tmp = { .dir = dir };
		json_t *vols = volumes_load(&tmp), *v;
		size_t i;

		json_array_foreach(vols, i, v)
		{
			if (!uuid_valid(jstr(v, "id")) || jstr(v, "pool_path"))
				continue;
			char *p = volume_path(dh, jstr(v, "id"));

			unlink(p);
			free(p);
		}
		json_decref(vols);
	}
	/* the VM's own directory goes either way; on a shared pool its disks
	 * are elsewhere (<pool>/vms/<id>) and stay, the other copy's now */
	if (uuid_valid(id))
		rm_rf(dir);
	free(dir);
	if (vm)
		qvm_remove(dh, vm);
}

/* --- prepare (destination) ------------------------------------------------ */

static int make_target_disks(struct driver_host *dh, struct qvm *vm, json_t *vols,
                             struct driver_err *e)
{
	bool made = false;
	struct image_files img = { 0 };
	json_t *v;
	size_t i;
	int r;

	r = image_cache_get(dh->env, json_object_get(vm->spec, "image"), &img, e);
	if (r == 0)
		r = make_root_disk(dh, vm, &img, &made, e);
	image_files_clear(&img);
	json_array_foreach(vols, i, v)
	{
		char *p, size[32];

		if (r < 0)
			break;
		p = volume_path(dh, jstr(v, "id"));
		snprintf(size, sizeof(size), "%lldG", (long long)jint(v, "size_gb", 1));
		if (access(p, F_OK) == 0)
			r = driver_fail(e, "AlreadyExists", "volume %s exists on this host already",
			                jstr(v, "id"));
		else if (qemu_img_create(p, NULL, NULL, size, NULL) < 0)
			r = driver_fail(e, "DiskFailed", "cannot create volume %s", jstr(v, "id"));
		free(p);
	}
	return r;
}

static int start_nbd(struct qvm *vm, const char *addr, json_t *data, struct driver_err *e)
{
	char nodes[MIG_DISKS_MAX][32], ids[MIG_DISKS_MAX][40], port[16];
	int n = disk_nodes(vm, nodes, ids), p = free_port(addr);
	json_t *exports = json_array();

	if (p < 0) {
		json_decref(exports);
		return driver_fail(e, "NetworkError", "no free port on %s: %s", addr, strerror(-p));
	}
	snprintf(port, sizeof(port), "%d", p);
	if (qmpx(vm, "nbd-server-start",
	         json_pack("{s:{s:s,s:{s:s,s:s}}}", "addr", "type", "inet", "data", "host", addr,
	                   "port", port),
	         NULL, e->message, sizeof(e->message)) < 0) {
		json_decref(exports);
		e->code = "QemuFailed";
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (qmpx(vm, "block-export-add",
		         json_pack("{s:s,s:s,s:s,s:s,s:b}", "type", "nbd", "id", nodes[i],
		                   "node-name", nodes[i], "name", nodes[i], "writable", 1),
		         NULL, e->message, sizeof(e->message)) < 0) {
			json_decref(exports);
			e->code = "QemuFailed";
			return -1;
		}
		json_array_append_new(exports, json_string(nodes[i]));
	}
	json_object_set_new(
	    data, "nbd", json_pack("{s:s,s:i,s:o}", "host", addr, "port", p, "exports", exports));
	return 0;
}

struct seed_job {
	struct driver_host *dh;
	struct qvm *vm;
	struct driver_err e;
	int r;
};

static void *seed_main(void *arg)
{
	struct seed_job *s = arg;

	s->r = make_seed(s->dh, s->vm, &s->e);
	return NULL;
}

/* The migration capabilities both ends set (vm->lock held): auto-converge,
 * multifd with channels streams when channels > 1 (QEMU wants the same on
 * both ends), pause-before-switchover on a source with disk copies to
 * complete. 0, or -1 with e. */
static int mig_caps(struct qvm *vm, int channels, bool pause, struct driver_err *e)
{
	int r = qmpx(vm, "migrate-set-capabilities",
	             json_pack("{s:[{s:s,s:b},{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability",
	                       "auto-converge", "state", 1, "capability", "pause-before-switchover",
	                       "state", pause, "capability", "multifd", "state", channels > 1),
	             NULL, e->message, sizeof(e->message));

	if (r == 0 && channels > 1)
		r = qmpx(vm, "migrate-set-parameters",
		         json_pack("{s:i}", "multifd-channels", channels), NULL, e->message,
		         sizeof(e->message));
	if (r < 0)
		e->code = "QemuFailed";
	return r < 0 ? -1 : 0;
}

static int mig_prepare(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                       json_t *data, struct driver_err *e)
{
	struct seed_job seeder;
	pthread_t seed_thread;
	bool seeding, need_seed;
	const char *addr = jstr(payload, "address");
	bool shared = jbool(payload, "shared_storage", false);
	json_t *vols = NULL;
	struct qvm *vm;
	char uri[80];
	int64_t t0, t1, t2, t3;
	int r, port, channels;

	if (!uuid_valid(jvm->id))
		return driver_fail(e, "InvalidArgument", "bad vm id");
	if (!addr_ok(addr))
		return driver_fail(e, "InvalidArgument",
		                   "this host has no IPv4 address to migrate to (%s)",
		                   addr ? addr : "none");
	if (qvm_find(dh, jvm->id))
		return driver_fail(e, "AlreadyExists", "vm %s has files on this host already",
		                   jvm->id);
	if (shared && pool_has_vm(pool_shared_path(jvm->spec), jvm->id, e) < 0)
		return -1;
	vm = qvm_new(dh, jvm->id, jvm->spec);
	pthread_mutex_lock(&vm->lock);
	r = mkdir(vm->dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
	if (r < 0) {
		driver_fail(e, "Internal", "cannot create %s: %s", vm->dir, strerror(-r));
		goto fail;
	}
	vols = data_volumes(vm->spec);
	t0 = mono_ms();
	/* the seed is made beside the disks: both wait on programs. On a
	 * shared pool it is there already: the source's QEMU reads that one */
	seeder = (struct seed_job){ .dh = dh, .vm = vm, .e = { NULL, "" } };
	{
		char *seed = seed_path(vm);

		need_seed = !shared || access(seed, R_OK) < 0;
		free(seed);
	}
	seeding = need_seed && pthread_create(&seed_thread, NULL, seed_main, &seeder) == 0;
	r = shared ? 0 : make_target_disks(dh, vm, vols, e);
	t1 = mono_ms();
	if (r == 0 && (r = volumes_save(vm, vols)) < 0)
		driver_fail(e, "Internal", "cannot write volumes.json: %s", strerror(-r));
	if (seeding)
		pthread_join(seed_thread, NULL);
	else if (need_seed)
		seeder.r = make_seed(dh, vm, &seeder.e);
	if (r == 0 && seeder.r < 0) {
		r = -1;
		*e = seeder.e;
	}
	if (r < 0)
		goto fail;
	t2 = mono_ms();
	vm->incoming = true;
	r = qemu_start(dh, vm, e);
	t3 = mono_ms();
	if (r < 0)
		goto fail;
	if (!shared && (r = start_nbd(vm, addr, data, e)) < 0)
		goto fail;
	port = free_port(addr);
	if (port < 0) {
		r = driver_fail(e, "NetworkError", "no free port on %s", addr);
		goto fail;
	}
	snprintf(uri, sizeof(uri), "tcp:%s:%d", addr, port);
	/* the memory in parallel streams when kumod can tell the source so
	 * (it asks), and this host allows more than one; the source uses the
	 * count reported here */
	channels = jbool(payload, "multifd", false) ? dh->mig_channels : 1;
	r = mig_caps(vm, channels, false, e);
	if (r < 0)
		goto fail;
	if (channels > 1)
		jset_int(data, "multifd_channels", channels);
	r = qmpx(vm, "migrate-incoming", json_pack("{s:s}", "uri", uri), NULL, e->message,
	         sizeof(e->message));
	if (r < 0) {
		e->code = "QemuFailed";
		goto fail;
	}
	jset_str(data, "uri", uri);
	snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
	pthread_mutex_unlock(&vm->lock);
	json_decref(vols);
	log_info("vm %s: waiting for its migration on %s", vm->id, uri);
	log_debug("vm %s: prepared in %lld ms: disks %lld, seed after them %lld, QEMU %lld, "
	          "the rest %lld",
	          vm->id, (long long)(mono_ms() - t0), (long long)(t1 - t0), (long long)(t2 - t1),
	          (long long)(t3 - t2), (long long)(mono_ms() - t3));
	return 0;
fail:
	pthread_mutex_unlock(&vm->lock);
	json_decref(vols);
	vm_files_drop(dh, vm, jvm->id, shared);
	return -1;
}

/* --- send (source) --------------------------------------------------------- */

int64_t mig_downtime_at(int64_t cap, int64_t syncs)
{
	int64_t limit = MIG_DOWNTIME_FIRST_MS;

	for (int64_t s = syncs - 1; s >= MIG_DOWNTIME_STEP_SYNCS && limit < cap;
	     s -= MIG_DOWNTIME_STEP_SYNCS)
		limit *= 2;
	return limit < cap ? limit : cap;
}

/* Lets go of the VM's lock for a short while (cancel, events, console). */
static void mig_nap(struct qvm *vm, int ms)
{
	pthread_mutex_unlock(&vm->lock);
	usleep((useconds_t)ms * 1000);
	pthread_mutex_lock(&vm->lock);
}

static bool mig_cancelled(struct qvm *vm)
{
	return __atomic_load_n(&vm->mig_cancel, __ATOMIC_SEQ_CST) != 0;
}

/* Tells kumod how far the send is, once a second at most (vm->lock held;
 * let go around the call). */
static void mig_progress(struct driver_host *dh, struct qvm *vm, int64_t *next, int pct)
{
	if (!dh->env->progress || mono_ms() < *next)
		return;
	*next = mono_ms() + 1000;
	pthread_mutex_unlock(&vm->lock);
	dh->env->progress(dh->env->cls, vm->id, "vm.migrate_send", pct < 99 ? pct : 99);
	pthread_mutex_lock(&vm->lock);
}

/* How many of our jobs (mig0..mig<n-1>) exist; all_ready: every one is;
 * ret_done/ret_total (may be NULL): bytes copied and to copy. -1 with err
 * on a QMP failure or a job that failed. */
static int mirrors_state_bytes(struct qvm *vm, int n, bool *all_ready, int64_t *ret_done,
                               int64_t *ret_total, char *err, size_t len)
{
	json_t *jobs = NULL, *j;
	size_t i;
	int found = 0;
	int64_t done = 0, total = 0;

	*all_ready = true;
	if (qmpx(vm, "query-block-jobs", NULL, &jobs, err, len) < 0)
		return -1;
	json_array_foreach(jobs, i, j)
	{
		const char *dev = jstr(j, "device");

		if (!dev || strncmp(dev, "mig", 3) != 0 || atoi(dev + 3) >= n)
			continue;
		found++;
		if (jstr(j, "error")) {
			snprintf(err, len, "copying disk %s failed: %s", dev, jstr(j, "error"));
			json_decref(jobs);
			return -1;
		}
		if (!jbool(j, "ready", false))
			*all_ready = false;
		done += jint(j, "offset", 0);
		total += jint(j, "len", 0);
	}
	json_decref(jobs);
	if (ret_done)
		*ret_done = done;
	if (ret_total)
		*ret_total = total;
	return found;
}

/* How many of our jobs exist (see mirrors_state_bytes). */
static int mirrors_state(struct qvm *vm, int n, bool *all_ready, char *err, size_t len)
{
	return mirrors_state_bytes(vm, n, all_ready, NULL, NULL, err, len);
}

/* Cancels our mirrors and waits until they are gone (force: drop at once,
 * else a ready mirror completes its target first). */
static int mirrors_cancel(struct qvm *vm, int n, bool force, char *err, size_t len)
{
	int64_t deadline = mono_ms() + MIG_JOB_WAIT_MS;
	bool ready;
	int left;

	for (int i = 0; i < n; i++) {
		char job[16], ignore[256];

		snprintf(job, sizeof(job), "mig%d", i);
		qmpx(vm, "block-job-cancel", json_pack("{s:s,s:b}", "device", job, "force", force),
		     NULL, ignore, sizeof(ignore));
	}
	while ((left = mirrors_state(vm, n, &ready, err, len)) > 0 && mono_ms() < deadline) {
		pthread_mutex_unlock(&vm->lock);
		usleep(2000);
		pthread_mutex_lock(&vm->lock);
	}
	if (left > 0)
		snprintf(err, len, "%d disk copies did not end in time", left);
	return left == 0 ? 0 : -1;
}

/* Puts the source back as it was: no migration, no mirror, guest running. */
static void send_undo(struct qvm *vm, int njobs, int ntargets, bool was_running)
{
	char err[256], st[QMP_STATUS_MAX] = "", mig[24] = "";
	int64_t deadline;

	if (!vm->q)
		return;
	qmpx(vm, "migrate_cancel", NULL, NULL, err, sizeof(err));
	/* a loaded host may take a while to wind the stream down */
	deadline = mono_ms() + UNDO_WAIT_MS;
	while (vm->q && mono_ms() < deadline) {
		json_t *m = NULL;
		const char *s;
		bool active;

		if (qmpx(vm, "query-migrate", NULL, &m, err, sizeof(err)) < 0)
			break;
		s = jstr(m, "status");
		snprintf(mig, sizeof(mig), "%s", s ? s : "none");
		active =
		    s && (!strcmp(s, "active") || !strcmp(s, "setup") || !strcmp(s, "cancelling") ||
		          !strcmp(s, "pre-switchover") || !strcmp(s, "device"));
		json_decref(m);
		if (!active)
			break;
		mig_nap(vm, 20);
	}
	if (njobs > 0)
		mirrors_cancel(vm, njobs, true, err, sizeof(err));
	for (int i = 0; i < ntargets; i++) {
		char node[16];

		snprintf(node, sizeof(node), "t%d", i);
		qmpx(vm, "blockdev-del", json_pack("{s:s}", "node-name", node), NULL, err,
		     sizeof(err));
	}
	/* QEMU resumes a guest it stopped for the switchover itself once the
	 * migration is cancelled; make sure of it (a guest that did not get
	 * across is never left stopped): "postmigrate" counts only when the
	 * migration completed */
	deadline = mono_ms() + UNDO_WAIT_MS;
	while (vm->q && was_running &&
	       qmp_query_status(vm->q, QMP_TIMEOUT_MS, st, sizeof(st)) == 0 &&
	       strcmp(st, "running") != 0 &&
	       !(!strcmp(st, "postmigrate") && !strcmp(mig, "completed"))) {
		vm->expect_stop = false;
		if (qmpx(vm, "cont", NULL, NULL, err, sizeof(err)) == 0 || mono_ms() >= deadline)
			break;
		mig_nap(vm, 100);
	}
	if (vm->q) {
		log_info("vm %s: migration undone (migration %s, guest %s)", vm->id,
		         mig[0] ? mig : "unknown", st[0] ? st : "not asked");
		snprintf(vm->state, sizeof(vm->state), "%s", was_running ? "running" : "paused");
		snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
	}
}

/* Starts mirroring every disk into the destination's exports. */
static int mirrors_start(struct qvm *vm, const json_t *nbd, int n, char nodes[][32],
                         int *ret_targets, int *ret_jobs, struct driver_err *e)
{
	char port[16];

	snprintf(port, sizeof(port), "%lld", (long long)jint(nbd, "port", 0));
	if (!addr_ok(jstr(nbd, "host")) || jint(nbd, "port", 0) <= 0)
		return driver_fail(e, "InvalidArgument",
		                   "the destination's NBD address is missing");
	for (int i = 0; i < n; i++) {
		char t[16], job[16];

		snprintf(t, sizeof(t), "t%d", i);
		snprintf(job, sizeof(job), "mig%d", i);
		if (qmpx(vm, "blockdev-add",
		         json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s}", "driver", "nbd", "node-name", t,
		                   "server", "type", "inet", "host", jstr(nbd, "host"), "port",
		                   port, "export", nodes[i]),
		         NULL, e->message, sizeof(e->message)) < 0)
			return driver_fail(e, "MigrationFailed",
			                   "cannot reach the destination's disk %s: %.180s",
			                   nodes[i], e->message);
		(*ret_targets)++;
		if (qmpx(vm, "blockdev-mirror",
		         json_pack("{s:s,s:s,s:s,s:s,s:s}", "job-id", job, "device", nodes[i],
		                   "target", t, "sync", i == 0 ? "top" : "full", "copy-mode",
		                   "write-blocking"),
		         NULL, e->message, sizeof(e->message)) < 0)
			return driver_fail(e, "MigrationFailed", "cannot copy disk %s: %.200s",
			                   nodes[i], e->message);
		(*ret_jobs)++;
	}
	return 0;
}

/* Every one of the n mirrors still there, ready, and none failed: 0, or -1
 * with e. */
static int mirror_check(struct qvm *vm, int n, struct driver_err *e)
{
	bool ready;
	int found = mirrors_state(vm, n, &ready, e->message, sizeof(e->message));

	if (found < 0)
		return driver_fail(e, "MigrationFailed", "%.240s", e->message);
	if (vm->copy_error[0])
		return driver_fail(e, "MigrationFailed", "%s", vm->copy_error);
	if (found < n)
		return driver_fail(e, "MigrationFailed",
		                   "%d of %d disk copies ended before the switchover", n - found,
		                   n);
	if (!ready)
		return driver_fail(e, "MigrationFailed",
		                   "a disk copy fell out of step before the switchover");
	return 0;
}

/* Waits until every mirror is ready (the bulk of the disks copied). */
static int mirrors_wait_ready(struct driver_host *dh, struct qvm *vm, int n, struct driver_err *e)
{
	int64_t next = mono_ms() + 1000;

	for (;;) {
		int64_t done = 0, total = 0;
		bool ready;
		int found = mirrors_state_bytes(vm, n, &ready, &done, &total, e->message,
		                                sizeof(e->message));

		if (found < 0)
			return driver_fail(e, "MigrationFailed", "%.240s", e->message);
		if (found < n)
			return driver_fail(e, "MigrationFailed", "%s",
			                   vm->copy_error[0] ? vm->copy_error
			                                     : "a disk copy ended early");
		if (ready)
			return 0;
		if (mig_cancelled(vm))
			return driver_fail(e, "Cancelled", "the migration was cancelled");
		if (dh->stopping)
			return driver_fail(e, "Interrupted", "the agent is stopping");
		/* disks: 10..40 of the job */
		mig_progress(dh, vm, &next, 10 + (int)(total > 0 ? 30 * done / total : 0));
		mig_nap(vm, MIG_POLL_MS);
	}
}

static int mig_send(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                    json_t *data, struct driver_err *e)
{
	bool shared = jbool(payload, "shared_storage", false), was_running, cut, switched = false;
	const char *uri = jstr(payload, "uri");
	char nodes[MIG_DISKS_MAX][32], ids[MIG_DISKS_MAX][40];
	int n = 0, ntargets = 0, njobs = 0, r = 0;
	int64_t t0 = mono_ms(), next = 0, cap = MIG_DOWNTIME_DEFAULT_MS, limit = 0;
	struct qvm *vm = vm_get(dh, jvm, e);
	json_t *m = NULL;

	if (!vm)
		return -1;
	if (!uri || strncmp(uri, "tcp:", 4) != 0 || strlen(uri) > 64)
		return driver_fail(e, "InvalidArgument", "vm.migrate_send: bad uri");
	pthread_mutex_lock(&vm->lock);
	if (!vm->q) {
		pthread_mutex_unlock(&vm->lock);
		return driver_fail(e, "InvalidState", "vm %s is not running (%s)", vm->id,
		                   vm->state);
	}
	was_running = strcmp(vm->state, "paused") != 0;
	/* an earlier send cut off by an agent restart: undo what it left, or
	 * if it went through meanwhile (no mirrors to wait for), that is it */
	if (qmpx(vm, "query-migrate", NULL, &m, e->message, sizeof(e->message)) == 0 &&
	    jstr(m, "status") && !strcmp(jstr(m, "status"), "completed")) {
		/* (a QEMU that came in by migration says "completed" too: only
		 * a source that went through stays in postmigrate) */
		char rs[QMP_STATUS_MAX];

		if (qmp_query_status(vm->q, QMP_TIMEOUT_MS, rs, sizeof(rs)) == 0 &&
		    !strcmp(rs, "postmigrate"))
			goto done;
	}
	{
		bool ready;

		cut = mirrors_state(vm, MIG_DISKS_MAX, &ready, e->message, sizeof(e->message)) > 0;
	}
	if (cut || (jstr(m, "status") && (!strcmp(jstr(m, "status"), "active") ||
	                                  !strcmp(jstr(m, "status"), "pre-switchover") ||
	                                  !strcmp(jstr(m, "status"), "setup")))) {
		log_warn("vm %s: an earlier send was cut off (migration %s, %s): undoing it",
		         vm->id, jstr(m, "status") ? jstr(m, "status") : "none",
		         cut ? "disk copies running" : "no disk copies");
		send_undo(vm, MIG_DISKS_MAX, MIG_DISKS_MAX, true);
		json_decref(m);
		pthread_mutex_unlock(&vm->lock);
		return driver_fail(e, "MigrationFailed",
		                   "an earlier migration of this vm was cut off; it was undone");
	}
	json_decref(m);
	m = NULL;
	{
		/* targets a cut-off run added before its mirrors started */
		json_t *list = NULL, *b;
		char ignore[256];
		size_t i;

		if (qmpx(vm, "query-named-block-nodes", json_pack("{s:b}", "flat", 1), &list,
		         ignore, sizeof(ignore)) == 0)
			json_array_foreach(list, i, b)
			{
				const char *node = jstr(b, "node-name");

				if (node && node[0] == 't' && strlen(node) <= 3 &&
				    strspn(node + 1, "0123456789") == strlen(node + 1))
					qmpx(vm, "blockdev-del",
					     json_pack("{s:s}", "node-name", node), NULL, ignore,
					     sizeof(ignore));
			}
		json_decref(list);
	}
	if (!shared) {
		vm->copy_error[0] = '\0';
		n = disk_nodes(vm, nodes, ids);
		r = mirrors_start(vm, json_object_get(payload, "nbd"), n, nodes, &ntargets, &njobs,
		                  e);
		if (r == 0)
			r = mirrors_wait_ready(dh, vm, n, e);
		if (r < 0)
			goto fail;
	}
	jset_int(data, "disks_ready_ms", mono_ms() - t0);
	{
		json_int_t ch = jint(payload, "multifd_channels", 1);

		/* as many streams as the destination set itself up for (a QEMU
		 * that came in by migration still has its capabilities: always
		 * say it) */
		ch = ch >= 2 && ch <= MIG_CHANNELS_MAX ? ch : 1;
		r = mig_caps(vm, (int)ch, n > 0, e);
		jset_int(data, "channels", ch);
	}
	cap = jint(payload, "downtime_limit_ms", 0);
	if (cap < MIG_DOWNTIME_MIN_MS || cap > MIG_DOWNTIME_MAX_MS)
		cap = dh->mig_downtime_ms;
	limit = mig_downtime_at(cap, 0);
	if (r == 0)
		r = qmpx(vm, "migrate-set-parameters",
		         json_pack("{s:I,s:I}", "max-bandwidth",
		                   jint(payload, "max_bandwidth", 0) > 0
		                       ? (json_int_t)jint(payload, "max_bandwidth", 0)
		                       : MIG_BANDWIDTH,
		                   "downtime-limit", (json_int_t)limit),
		         NULL, e->message, sizeof(e->message));
	if (r == 0)
		r = qmpx(vm, "migrate", json_pack("{s:s}", "uri", uri), NULL, e->message,
		         sizeof(e->message));
	if (r < 0) {
		driver_fail(e, "MigrationFailed", "QEMU refused the migration: %.200s", e->message);
		goto fail;
	}
	vm->expect_stop = true; /* the switchover stops the guest here */
	next = mono_ms() + 1000;
	for (;;) {
		const char *st;

		json_decref(m);
		m = NULL;
		if (qmpx(vm, "query-migrate", NULL, &m, e->message, sizeof(e->message)) < 0) {
			r = driver_fail(e, "MigrationFailed",
			                "lost QEMU during the migration: %.180s", e->message);
			goto fail;
		}
		st = jstr(m, "status") ? jstr(m, "status") : "";
		if (!strcmp(st, "completed"))
			break;
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			r = driver_fail(e, "MigrationFailed", "the migration %s: %.200s", st,
			                jstr(m, "error-desc") ? jstr(m, "error-desc")
			                                      : "no reason given");
			goto fail;
		}
		if (mig_cancelled(vm)) {
			r = driver_fail(e, "Cancelled", "the migration was cancelled");
			goto fail;
		}
		if (!strcmp(st, "pre-switchover") && switched) {
			/* QEMU's migration thread has not moved on yet */
			mig_nap(vm, 1);
			continue;
		}
		if (!strcmp(st, "pre-switchover")) {
			/* the guest is stopped: the mirrors complete, then the state
			 * goes; only if every copy is there and in step, and ends
			 * well (else the destination's disks would miss writes) */
			if ((r = mirror_check(vm, n, e)) < 0)
				goto fail;
			if (mirrors_cancel(vm, n, false, e->message, sizeof(e->message)) < 0) {
				r = driver_fail(e, "MigrationFailed", "%.240s", e->message);
				goto fail;
			}
			if (vm->copy_error[0]) {
				r = driver_fail(e, "MigrationFailed", "%s", vm->copy_error);
				goto fail;
			}
			njobs = 0;
			if (qmpx(vm, "migrate-continue",
			         json_pack("{s:s}", "state", "pre-switchover"), NULL, e->message,
			         sizeof(e->message)) < 0) {
				r = driver_fail(e, "MigrationFailed", "cannot switch over: %.200s",
				                e->message);
				goto fail;
			}
			switched = true; /* once: a second one races QEMU's own step */
			continue;
		}
		if (dh->stopping) {
			r = driver_fail(e, "Interrupted", "the agent is stopping");
			goto fail;
		}
		{
			/* memory: 40..79 of the job */
			const json_t *ram = json_object_get(m, "ram");
			int64_t total = jint(ram, "total", 0), left = jint(ram, "remaining", 0);
			int64_t want = mig_downtime_at(cap, jint(ram, "dirty-sync-count", 0));
			char ignore[128];

			if (!strcmp(st, "active") && total > 0 && left <= total)
				mig_progress(dh, vm, &next,
				             40 + (int)(39 * (total - left) / total));
			/* not converging: a longer switchover is allowed */
			if (!strcmp(st, "active") && want != limit &&
			    qmpx(vm, "migrate-set-parameters",
			         json_pack("{s:I}", "downtime-limit", (json_int_t)want), NULL,
			         ignore, sizeof(ignore)) == 0) {
				log_info("vm %s: migration not converging after %lld passes: "
				         "downtime limit %lld ms",
				         vm->id, (long long)jint(ram, "dirty-sync-count", 0),
				         (long long)want);
				limit = want;
			}
		}
		mig_nap(vm, MIG_POLL_MS);
	}
done : {
	const json_t *ram = json_object_get(m, "ram");

	jset_int(data, "total_time_ms", jint(m, "total-time", 0));
	jset_int(data, "downtime_ms", jint(m, "downtime", 0));
	jset_int(data, "downtime_limit_ms", limit);
	jset_int(data, "setup_time_ms", jint(m, "setup-time", 0));
	jset_int(data, "ram_transferred", jint(ram, "transferred", 0));
	jset_int(data, "ram_total", jint(ram, "total", 0));
	jset_int(data, "elapsed_ms", mono_ms() - t0);
}
	json_decref(m);
	/* the destination runs it now: this QEMU goes, its files stay until
	 * the cleanup step */
	qemu_kill(dh, vm);
	snprintf(vm->state, sizeof(vm->state), "migrated");
	snprintf(vm->reported, sizeof(vm->reported), "migrated");
	__atomic_store_n(&vm->mig_cancel, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	log_info("vm %s: migrated to %s", vm->id, uri);
	return 0;
fail:
	json_decref(m);
	log_warn("vm %s: migration to %s failed: %s", vm->id, uri, e->message);
	vm->expect_stop = false;
	send_undo(vm, njobs, ntargets, was_running);
	__atomic_store_n(&vm->mig_cancel, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vm->lock);
	return -1;
}

/* --- finish (destination) -------------------------------------------------- */

static int mig_finish(struct driver_host *dh, const struct journal_vm *jvm, bool shared,
                      struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	int64_t deadline = mono_ms() + MIG_FINISH_WAIT_MS;
	char st[QMP_STATUS_MAX] = "", err[256];

	if (!vm)
		return -1;
	pthread_mutex_lock(&vm->lock);
	if (!shared) /* the disks' exports (a shared pool has none) */
		qmpx(vm, "nbd-server-stop", NULL, NULL, err, sizeof(err));
	while (vm->q && mono_ms() < deadline) {
		if (qmp_query_status(vm->q, QMP_TIMEOUT_MS, st, sizeof(st)) < 0)
			break;
		if (strcmp(st, "inmigrate") != 0)
			break;
		mig_nap(vm, 20);
	}
	if (!vm->q || !st[0] || !strcmp(st, "inmigrate")) {
		pthread_mutex_unlock(&vm->lock);
		return driver_fail(e, "MigrationFailed", "the incoming vm did not arrive (%s)",
		                   st[0] ? st : "QEMU is gone");
	}
	vm->incoming = false;
	vm->expect_stop = false;
	if (strcmp(st, "running") != 0 &&
	    qmpx(vm, "cont", NULL, NULL, e->message, sizeof(e->message)) < 0) {
		pthread_mutex_unlock(&vm->lock);
		e->code = "QemuFailed";
		return -1;
	}
	snprintf(vm->state, sizeof(vm->state), "running");
	vm->reason[0] = '\0';
	snprintf(vm->reported, sizeof(vm->reported), "running");
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* --- cold: export (source), import (destination) ---------------------------- */

/* Ends the qemu-nbd servers an export started (their pid files). */
static void nbd_stop_all(const char *dir)
{
	for (int i = 0; i < MIG_DISKS_MAX; i++) {
		char *pf = xasprintf("%s/nbd-%d.pid", dir, i), *data = NULL, cl[64];
		size_t len = 0;
		long pid = 0;

		if (file_read(pf, 64, &data, &len) == 0)
			pid = strtol(data, NULL, 10);
		free(data);
		data = NULL;
		snprintf(cl, sizeof(cl), "/proc/%ld/cmdline", pid);
		if (pid > 0 && file_read(cl, 4096, &data, &len) == 0 && len > 0 &&
		    strstr(data, "qemu-nbd"))
			kill((pid_t)pid, SIGTERM);
		free(data);
		unlink(pf);
		free(pf);
	}
}

static int mig_export(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                      json_t *data, struct driver_err *e)
{
	const char *addr = jstr(payload, "address");
	char nodes[MIG_DISKS_MAX][32], ids[MIG_DISKS_MAX][40];
	struct qvm *vm = vm_get(dh, jvm, e);
	json_t *disks = json_array();
	int n, r = 0;

	if (!vm) {
		json_decref(disks);
		return -1;
	}
	if (!addr_ok(addr)) {
		json_decref(disks);
		return driver_fail(e, "InvalidArgument", "the source host has no IPv4 address");
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->q) {
		pthread_mutex_unlock(&vm->lock);
		json_decref(disks);
		return driver_fail(e, "InvalidState", "vm %s runs: stop it for a cold migration",
		                   vm->id);
	}
	nbd_stop_all(vm->dir);
	n = disk_nodes(vm, nodes, ids);
	for (int i = 0; i < n && r == 0; i++) {
		char *file = i == 0 ? xasprintf("%s/disk.qcow2", vm->dir) : volume_path(dh, ids[i]);
		char *pidf = xasprintf("nbd-%d.pid", i), *errf = xasprintf("%s/qemu.err", vm->dir);
		int port = free_port(addr);
		struct args a = { 0 };

		if (port < 0) {
			r = driver_fail(e, "NetworkError", "no free port on %s", addr);
		} else {
			arg(&a, "qemu-nbd");
			arg(&a, "--read-only");
			arg(&a, "--persistent");
			arg(&a, "--shared=4");
			arg(&a, "--format=raw");
			arg(&a, "--bind=%s", addr);
			arg(&a, "--port=%d", port);
			arg(&a, "--pid-file=%s", pidf);
			arg(&a, "--fork");
			arg(&a, "%s", file);
			if (run_argv(a.v, vm->dir, errf, NBD_SPAWN_MS, NULL) < 0)
				r = driver_fail(e, "DiskFailed", "qemu-nbd cannot serve %s", file);
			else
				json_array_append_new(
				    disks, json_pack("{s:s,s:s?,s:i}", "node", nodes[i],
				                     "volume_id", i ? ids[i] : NULL, "port", port));
			args_free(&a);
		}
		free(file);
		free(pidf);
		free(errf);
	}
	if (r < 0)
		nbd_stop_all(vm->dir);
	pthread_mutex_unlock(&vm->lock);
	if (r < 0) {
		json_decref(disks);
		return -1;
	}
	json_object_set_new(data, "nbd", json_pack("{s:s,s:o}", "host", addr, "disks", disks));
	return 0;
}

/* qemu-img convert of an exported file's bytes into dest. */
static int pull_file(const char *host, int64_t port, const char *dest, const char *errf)
{
	struct args a = { 0 };
	int r;

	arg(&a, "qemu-img");
	arg(&a, "convert");
	arg(&a, "-q");
	arg(&a, "-f");
	arg(&a, "raw");
	arg(&a, "-O");
	arg(&a, "raw");
	arg(&a, "nbd://%s:%lld", host, (long long)port);
	arg(&a, "%s", dest);
	r = run_argv(a.v, NULL, errf, CONVERT_MS, NULL);
	args_free(&a);
	return r;
}

static int mig_import(struct driver_host *dh, const struct journal_vm *jvm, const json_t *payload,
                      struct driver_err *e)
{
	const json_t *nbd = json_object_get(payload, "nbd"), *d;
	bool shared = jbool(payload, "shared_storage", false);
	struct image_files img = { 0 };
	json_t *vols = NULL;
	struct qvm *vm;
	char *errf = NULL;
	size_t i;
	int r;

	if (!uuid_valid(jvm->id))
		return driver_fail(e, "InvalidArgument", "bad vm id");
	if (shared) {
		/* its disks are on the shared pool: nothing to copy */
		if (pool_has_vm(pool_shared_path(jvm->spec), jvm->id, e) < 0)
			return -1;
		nbd = NULL;
	} else if (!addr_ok(jstr(nbd, "host")) || !json_is_array(json_object_get(nbd, "disks")))
		return driver_fail(e, "InvalidArgument", "vm.migrate_import: no source disks");
	if (qvm_find(dh, jvm->id))
		return driver_fail(e, "AlreadyExists", "vm %s has files on this host already",
		                   jvm->id);
	vm = qvm_new(dh, jvm->id, jvm->spec);
	pthread_mutex_lock(&vm->lock);
	r = mkdir(vm->dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
	if (r < 0) {
		driver_fail(e, "Internal", "cannot create %s: %s", vm->dir, strerror(-r));
		goto fail;
	}
	errf = xasprintf("%s/qemu.err", vm->dir);
	vols = data_volumes(vm->spec);
	r = volumes_save(vm, vols);
	if (r == 0)
		r = image_cache_get(dh->env, json_object_get(vm->spec, "image"), &img, e);
	json_array_foreach(json_object_get(nbd, "disks"), i, d)
	{
		const char *vid = jstr(d, "volume_id");
		char *dest;

		if (r < 0)
			break;
		if (vid && !uuid_valid(vid)) {
			r = driver_fail(e, "InvalidArgument", "bad volume id");
			break;
		}
		dest = vid ? volume_path(dh, vid) : xasprintf("%s/disk.qcow2", vm->dir);
		if (vid && access(dest, F_OK) == 0)
			r = driver_fail(e, "AlreadyExists", "volume %s exists on this host already",
			                vid);
		else if (pull_file(jstr(nbd, "host"), jint(d, "port", 0), dest, errf) < 0)
			r = driver_fail(e, "DiskFailed", "cannot copy %s from the source host",
			                vid ? vid : "the root disk");
		if (r == 0 && !vid && img.disk) {
			/* the overlay's base: this host's copy of the image */
			struct args a = { 0 };

			arg(&a, "qemu-img");
			arg(&a, "rebase");
			arg(&a, "-u");
			arg(&a, "-F");
			arg(&a, "%s", img.format);
			arg(&a, "-b");
			arg(&a, "%s", img.disk);
			arg(&a, "%s", dest);
			if (run_argv(a.v, NULL, errf, 60000, NULL) < 0)
				r = driver_fail(e, "DiskFailed", "cannot rebase the root disk");
			args_free(&a);
		}
		free(dest);
	}
	image_files_clear(&img);
	if (r == 0)
		r = make_seed(dh, vm, e);
	if (r < 0)
		goto fail;
	snprintf(vm->state, sizeof(vm->state), "stopped");
	snprintf(vm->reported, sizeof(vm->reported), "stopped");
	pthread_mutex_unlock(&vm->lock);
	json_decref(vols);
	free(errf);
	return 0;
fail:
	pthread_mutex_unlock(&vm->lock);
	json_decref(vols);
	free(errf);
	vm_files_drop(dh, vm, jvm->id, false);
	return -1;
}

/* --- the op ----------------------------------------------------------------- */

int qemu_vm_migrate(struct driver_host *dh, const char *step, const struct journal_vm *jvm,
                    const json_t *payload, json_t *data, struct driver_err *e)
{
	bool shared = jbool(payload, "shared_storage", false);

	if (!strcmp(step, "prepare"))
		return mig_prepare(dh, jvm, payload, data, e);
	if (!strcmp(step, "send"))
		return mig_send(dh, jvm, payload, data, e);
	if (!strcmp(step, "finish"))
		return mig_finish(dh, jvm, jbool(payload, "shared_storage", false), e);
	if (!strcmp(step, "export"))
		return mig_export(dh, jvm, payload, data, e);
	if (!strcmp(step, "import"))
		return mig_import(dh, jvm, payload, e);
	if (!strcmp(step, "cancel")) {
		struct qvm *vm = vm_get(dh, jvm, e);

		if (!vm)
			return -1;
		__atomic_store_n(&vm->mig_cancel, 1, __ATOMIC_SEQ_CST);
		jset_bool(data, "cancelling", true);
		return 0;
	}
	if (!strcmp(step, "unexport")) {
		char *dir = xasprintf("%s/vms/%s", dh->env->dir, jvm->id);

		if (uuid_valid(jvm->id))
			nbd_stop_all(dir);
		free(dir);
		return 0;
	}
	if (!strcmp(step, "cleanup") || !strcmp(step, "abort")) {
		char *dir = xasprintf("%s/vms/%s", dh->env->dir, jvm->id);

		if (!uuid_valid(jvm->id)) {
			free(dir);
			return driver_fail(e, "InvalidArgument", "bad vm id");
		}
		nbd_stop_all(dir);
		free(dir);
		vm_files_drop(dh, qvm_find(dh, jvm->id), jvm->id, shared);
		return 0;
	}
	return driver_fail(e, "NotSupported", "unknown migration step %s", step);
}
