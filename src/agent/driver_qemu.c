// SPDX-License-Identifier: MIT
/*
 * The qemu compute driver: one QEMU process per VM, controlled over QMP
 * (qmp.c), KVM where it really works and TCG otherwise (accel.c). The VMs'
 * files (disks, seed, volumes.json, console log) are made and read by
 * qemu_files.c; qemu_vm.h is what the two share.
 *
 * Files, per host (env->dir):
 *   images/<id>/          the image cache (image_cache.c)
 *   volumes/<id>.qcow2    data volumes
 *   vms/<id>/             one directory per VM:
 *     disk.qcow2          root disk: an overlay on the cached image (or empty
 *                         for kernel images), grown to root_disk_gb
 *     seed.img            the NoCloud cidata seed (vfat): meta-data, user-data
 *     volumes.json        the data volumes attached, in order
 *     qmp.sock            QMP; console.log (+ console.log.1) the serial port
 *     qemu.pid, qemu.err  QEMU's pid and what it printed while starting
 *
 * QEMU is started with -daemonize (so it is never the agent's child and an
 * agent restart leaves it running) and -S: the agent connects QMP, then
 * says "cont", so no console byte is lost. Every argument is built from
 * validated fields and passed as argv; paths on QEMU's command line are
 * relative to the VM's directory (QEMU's working directory), which also
 * keeps the QMP socket path short; the agent reaches the socket through
 * /proc/self/fd/<the VM directory>/qmp.sock for the same reason.
 *
 * A monitor thread polls every VM's QMP socket: a guest that powers off
 * (SHUTDOWN with guest=true, then QEMU exits) is "stopped"; a QEMU that
 * goes away without that is "error"; STOP/RESUME that nobody asked for
 * (an I/O error pause) are reported too, each through env->vm_changed so
 * kumod hears at once. The same thread keeps console logs bounded.
 *
 * Locking: dh->lock guards the VM list and reference counts; vm->lock guards
 * a VM's QMP handle and state. Ops hold vm->lock while they talk to QEMU,
 * never while they wait for a guest (they wait on vm->cond, which releases
 * it). env->vm_changed is called with no lock held.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/net.h"
#include "agent/qemu_vm.h"
#include "agent/qmp.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

/* --- small helpers ---------------------------------------------------- */

static void qvm_unref_locked(struct driver_host *dh, struct qvm *vm)
{
	if (--vm->refs > 0)
		return;
	qmp_close(vm->q);
	if (vm->dirfd >= 0)
		close(vm->dirfd);
	json_decref(vm->spec);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm->dir);
	free(vm->id);
	free(vm);
}

struct qvm *qvm_find(struct driver_host *dh, const char *id)
{
	struct qvm *vm;

	pthread_mutex_lock(&dh->lock);
	for (vm = dh->vms; vm; vm = vm->next)
		if (!strcmp(vm->id, id))
			break;
	pthread_mutex_unlock(&dh->lock);
	return vm; /* ops of one VM never run at once: it stays until its destroy */
}

struct qvm *vm_get(struct driver_host *dh, const struct journal_vm *jvm, struct driver_err *e)
{
	struct qvm *vm = qvm_find(dh, jvm->id);

	if (!vm)
		driver_fail(e, "NotFound", "vm %s has no files on this host", jvm->id);
	return vm;
}

struct qvm *qvm_new(struct driver_host *dh, const char *id, const json_t *spec)
{
	struct qvm *vm = xcalloc(1, sizeof(*vm));
	pthread_condattr_t ca;

	vm->id = xstrdup(id);
	vm->dir = xasprintf("%s/vms/%s", dh->env->dir, id);
	vm->dirfd = -1;
	vm->refs = 1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(vm->state, sizeof(vm->state), "stopped");
	vm->spec = spec ? json_deep_copy(spec) : json_object();
	pthread_mutex_lock(&dh->lock);
	vm->next = dh->vms;
	dh->vms = vm;
	pthread_mutex_unlock(&dh->lock);
	return vm;
}

void qvm_remove(struct driver_host *dh, struct qvm *vm)
{
	pthread_mutex_lock(&dh->lock);
	for (struct qvm **p = &dh->vms; *p; p = &(*p)->next) {
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	}
	vm->removed = true;
	qvm_unref_locked(dh, vm);
	pthread_mutex_unlock(&dh->lock);
}

static void monitor_wake(struct driver_host *dh)
{
	char c = 1;

	if (dh->wake[1] >= 0 && write(dh->wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_debug("qemu: cannot wake the monitor: %s", strerror(errno));
}

/* The path QMP is reached by: short whatever the data dir is. */
static void qmp_path(const struct qvm *vm, char *out, size_t len)
{
	if (vm->dirfd >= 0)
		snprintf(out, len, "/proc/self/fd/%d/qmp.sock", vm->dirfd);
	else
		snprintf(out, len, "%s/qmp.sock", vm->dir);
}

/* Alive, and not a zombie (an exited QEMU whose parent has not reaped it
 * yet: the agent, as subreaper, reaps its own in reap(); a QEMU left by an
 * earlier agent belongs to init). */
static bool pid_alive(pid_t pid)
{
	char path[64], buf[256];
	const char *p;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Collects the exit of a QEMU that is the agent's child (subreaper). */
static void reap(pid_t pid)
{
	if (pid > 0)
		waitpid(pid, NULL, WNOHANG);
}

static pid_t read_pid(const struct qvm *vm)
{
	char *p = xasprintf("%s/qemu.pid", vm->dir), *data = NULL;
	size_t len = 0;
	long v = 0;

	if (file_read(p, 64, &data, &len) == 0)
		v = strtol(data, NULL, 10);
	free(data);
	free(p);
	return v > 0 ? (pid_t)v : 0;
}

/* Whether pid is the QEMU of this VM (its command line names the id). */
static bool pid_is_vm(pid_t pid, const struct qvm *vm)
{
	char path[64], *data = NULL;
	size_t len = 0;
	bool yes = false;

	if (!pid_alive(pid))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (file_read(path, 64 * 1024, &data, &len) == 0) {
		for (size_t i = 0; i + strlen(vm->id) <= len; i++) {
			if (!memcmp(data + i, vm->id, strlen(vm->id))) {
				yes = true;
				break;
			}
		}
	}
	free(data);
	return yes;
}

/* A QEMU node name (at most 31 characters) for a volume id. */
void node_name(const char *vol_id, char out[32])
{
	size_t n = 0;

	out[n++] = 'v';
	for (const char *p = vol_id; *p && n < 31; p++)
		if (*p != '-')
			out[n++] = *p;
	out[n] = '\0';
}

/* --- QEMU -------------------------------------------------------------- */

static bool mac_valid(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static void build_argv(struct driver_host *dh, struct qvm *vm, const struct image_files *img,
                       const json_t *vols, struct args *a)
{
	const json_t *v;
	size_t i;

	arg(a, "%s", dh->binary);
	arg(a, "-name");
	arg(a, "kumo-%s", vm->id);
	arg(a, "-uuid");
	arg(a, "%s", vm->id);
	arg(a, "-nodefaults");
	arg(a, "-no-user-config");
	arg(a, "-machine");
	arg(a, "pc,accel=%s", dh->accel);
	arg(a, "-cpu");
	arg(a, "%s", dh->cpu_model);
	arg(a, "-smp");
	arg(a, "%lld", (long long)jint(vm->spec, "vcpus", 1));
	arg(a, "-m");
	if (!strcmp(dh->accel, "tcg"))
		/* QEMU before 9.0 loses guest writes in a TCG migration when
		 * the RAM's length is a multiple of 256 KiB: that dirty bitmap
		 * sync's fast path leaves the TLB's dirty state as it was (upstream
		 * "physmem: Fix migration dirty bitmap coherency with TCG memory
		 * access"), and the destination gets stale pages. 8 KiB more RAM
		 * keeps it on the exact path; every TCG host does the same, so
		 * source and destination agree. */
		arg(a, "%lldk", (long long)jint(vm->spec, "memory_mb", 256) * 1024 + 8);
	else
		arg(a, "%lld", (long long)jint(vm->spec, "memory_mb", 256));
	arg(a, "-display");
	arg(a, "none");
	if (vm->incoming) {
		/* a migration's destination: runs as soon as the state is in */
		arg(a, "-incoming");
		arg(a, "defer");
	} else {
		arg(a, "-S");
	}
	arg(a, "-daemonize");
	arg(a, "-pidfile");
	arg(a, "qemu.pid");
	arg(a, "-qmp");
	arg(a, "unix:qmp.sock,server=on,wait=off");
	arg(a, "-chardev");
	arg(a, "file,id=console,path=console.log,append=on");
	arg(a, "-serial");
	arg(a, "chardev:console");
	if (img->kernel) {
		arg(a, "-kernel");
		arg(a, "%s", img->kernel);
		if (img->initrd) {
			arg(a, "-initrd");
			arg(a, "%s", img->initrd);
		}
		if (img->cmdline && img->cmdline[0]) {
			arg(a, "-append");
			arg(a, "%s", img->cmdline);
		}
	}
	{
		char *disk = root_disk_path(vm); /* pool paths have no ',' */

		arg(a, "-blockdev");
		arg(a, "driver=qcow2,node-name=root,file.driver=file,file.filename=%s", disk);
		free(disk);
	}
	arg(a, "-device");
	arg(a, "virtio-blk-pci,drive=root,id=root%s", img->kernel ? "" : ",bootindex=0");
	{
		char *seed = seed_path(vm); /* pool paths have no ',' */

		arg(a, "-blockdev");
		arg(a, "driver=raw,node-name=seed,read-only=on,file.driver=file,file.filename=%s",
		    seed);
		free(seed);
	}
	arg(a, "-device");
	arg(a, "virtio-blk-pci,drive=seed,id=seed");
	json_array_foreach(vols, i, v)
	{
		char node[32];

		node_name(jstr(v, "id"), node);
		arg(a, "-blockdev");
		arg(a, "driver=qcow2,node-name=%s,file.driver=file,file.filename=%s", node,
		    jstr(v, "path"));
		arg(a, "-device");
		if (vol_slot(v))
			arg(a, "virtio-blk-pci,drive=%s,id=%s,addr=0x%x", node, node, vol_slot(v));
		else
			arg(a, "virtio-blk-pci,drive=%s,id=%s", node, node);
	}
	/* NICs: taps the network side (net.c) made and bridged before */
	json_array_foreach(json_object_get(vm->spec, "nics"), i, v)
	{
		char tap[16];

		if (!jstr(v, "id") || !mac_valid(jstr(v, "mac")))
			continue; /* kumod makes them; never let one into -device */
		net_tap_name(jstr(v, "id"), tap);
		arg(a, "-netdev");
		arg(a, "tap,id=net%zu,ifname=%s,script=no,downscript=no", i, tap);
		arg(a, "-device");
		arg(a, "virtio-net-pci,netdev=net%zu,mac=%s,id=nic%zu", i, jstr(v, "mac"), i);
	}
}

/* Starts QEMU for vm (vm->lock held): spawn, connect, cont. */
int qemu_start(struct driver_host *dh, struct qvm *vm, struct driver_err *e)
{
	struct image_files img = { 0 };
	struct args a = { 0 };
	json_t *vols = NULL;
	char path[128], why[ERR_TAIL], *errf = NULL, *pidf = NULL;
	int r, st = 0;

	r = image_cache_get(dh->env, json_object_get(vm->spec, "image"), &img, e);
	if (r < 0)
		return r;
	if (vm->dirfd < 0)
		vm->dirfd = open(vm->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	errf = xasprintf("%s/qemu.err", vm->dir);
	pidf = xasprintf("%s/qemu.pid", vm->dir);
	unlink(pidf);
	{
		char *sock = xasprintf("%s/qmp.sock", vm->dir);

		unlink(sock);
		free(sock);
	}
	vols = volumes_load(vm);
	{
		/* volumes are referred to by absolute path (they live outside) */
		json_t *v;
		size_t i;

		json_array_foreach(vols, i, v)
		{
			char *p = volume_path_in(dh, jstr(v, "pool_path"), jstr(v, "id"));

			jset_str(v, "path", p);
			free(p);
		}
	}
	build_argv(dh, vm, &img, vols, &a);
	r = run_argv(a.v, vm->dir, errf, SPAWN_TIMEOUT_MS, &st);
	if (r < 0) {
		err_tail(vm, why, sizeof(why));
		driver_fail(e, "QemuFailed", "QEMU did not start: %s",
		            why[0] ? why : (r == -ETIMEDOUT ? "timed out" : "it failed"));
		goto fail;
	}
	vm->pid = read_pid(vm);
	qmp_path(vm, path, sizeof(path));
	r = qmp_connect(path, CONNECT_TIMEOUT_MS, &vm->q);
	if (r < 0) {
		driver_fail(e, "QemuFailed", "cannot reach QEMU's QMP socket: %s", strerror(-r));
		goto fail;
	}
	vm->expect_exit = false;
	vm->guest_shutdown = false;
	vm->expect_stop = false;
	if (vm->incoming) {
		/* qemu_migrate.c starts the migration and watches it */
		vm->expect_stop = true;
		snprintf(vm->state, sizeof(vm->state), "paused");
		vm->reason[0] = '\0';
		monitor_wake(dh);
		goto out;
	}
	r = qmp_simple(vm->q, "cont", QMP_TIMEOUT_MS, e->message, sizeof(e->message));
	if (r < 0) {
		e->code = "QemuFailed";
		goto fail;
	}
	handle_events(vm);
	snprintf(vm->state, sizeof(vm->state), "running");
	vm->reason[0] = '\0';
	log_info("vm %s: QEMU %d started (%s, %lld vCPU, %lld MiB)", vm->id, (int)vm->pid,
	         dh->accel, (long long)jint(vm->spec, "vcpus", 1),
	         (long long)jint(vm->spec, "memory_mb", 256));
	monitor_wake(dh);
	goto out;
fail:
	vm->q = qmp_close(vm->q);
	if (vm->pid > 0 && pid_is_vm(vm->pid, vm))
		kill(vm->pid, SIGKILL);
	vm->pid = 0;
	r = r < 0 ? r : -EIO;
out:
	args_free(&a);
	json_decref(vols);
	image_files_clear(&img);
	free(errf);
	free(pidf);
	return r;
}

/* QEMU went away (vm->lock held): what state that leaves the VM in. */
static void qemu_gone(struct qvm *vm)
{
	vm->q = qmp_close(vm->q);
	if (vm->pid > 0 && pid_is_vm(vm->pid, vm)) {
		/* the socket closed but the process lingers: end it */
		kill(vm->pid, SIGKILL);
		for (int i = 0; i < 100 && pid_is_vm(vm->pid, vm); i++)
			usleep(10000);
	}
	reap(vm->pid);
	vm->pid = 0;
	if (vm->expect_exit || vm->guest_shutdown) {
		snprintf(vm->state, sizeof(vm->state), "stopped");
		snprintf(vm->reason, sizeof(vm->reason), "%s",
		         vm->guest_shutdown && !vm->expect_exit ? "the guest shut down" : "");
	} else {
		snprintf(vm->state, sizeof(vm->state), "error");
		snprintf(vm->reason, sizeof(vm->reason), "QEMU exited unexpectedly");
	}
	pthread_cond_broadcast(&vm->cond);
}

/* Applies the queued QMP events (vm->lock held). */
void handle_events(struct qvm *vm)
{
	json_t *ev;

	while (vm->q && (ev = qmp_next_event(vm->q))) {
		const char *name = jstr(ev, "event");
		const json_t *data = json_object_get(ev, "data");

		if (!strcmp(name, "SHUTDOWN")) {
			if (json_is_true(json_object_get(data, "guest")))
				vm->guest_shutdown = true;
		} else if (!strcmp(name, "STOP")) {
			if (!vm->expect_stop && !vm->expect_exit && !vm->guest_shutdown &&
			    !strcmp(vm->state, "running")) {
				snprintf(vm->state, sizeof(vm->state), "paused");
				snprintf(vm->reason, sizeof(vm->reason), "QEMU paused the guest");
			}
		} else if (!strcmp(name, "RESUME")) {
			if (!strcmp(vm->state, "paused")) {
				snprintf(vm->state, sizeof(vm->state), "running");
				vm->reason[0] = '\0';
			}
		} else if (!strcmp(name, "DEVICE_DELETED")) {
			const char *dev = jstr(data, "device");

			snprintf(vm->deleted_dev, sizeof(vm->deleted_dev), "%s", dev ? dev : "");
			pthread_cond_broadcast(&vm->cond);
		} else if (!strcmp(name, "BLOCK_JOB_COMPLETED") && jstr(data, "error") &&
		           jstr(data, "device") && !strncmp(jstr(data, "device"), "mig", 3)) {
			/* a migration's disk copy failed: once gone from
			 * query-block-jobs, this is all that says so */
			snprintf(vm->copy_error, sizeof(vm->copy_error),
			         "copying disk %s failed: %s", jstr(data, "device"),
			         jstr(data, "error"));
		} else if (!strcmp(name, "RESET")) {
			log_debug("vm %s: reset", vm->id);
		}
		json_decref(ev);
	}
	if (vm->q && qmp_closed(vm->q))
		qemu_gone(vm);
}

/* Waits (vm->lock held) until QEMU is gone or timeout_ms passed. */
static bool wait_gone(struct driver_host *dh, struct qvm *vm, int64_t timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	while (vm->q && !dh->stopping) {
		struct timespec ts;
		int64_t left = deadline - mono_ms();

		if (left <= 0)
			return false;
		deadline_mono(&ts, left < 200 ? left : 200);
		pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
		/* the monitor normally notices; look too, in case it sleeps */
		if (vm->q) {
			qmp_read_events(vm->q, 0);
			handle_events(vm);
		}
		if (vm->q && vm->pid > 0 && !pid_alive(vm->pid))
			qemu_gone(vm);
	}
	return !vm->q;
}

/* Ends QEMU now (vm->lock held): quit, then SIGKILL. */
void qemu_kill(struct driver_host *dh, struct qvm *vm)
{
	char err[256];

	if (!vm->q)
		return;
	vm->expect_exit = true;
	if (qmp_simple(vm->q, "quit", QMP_TIMEOUT_MS, err, sizeof(err)) == 0)
		handle_events(vm);
	if (!wait_gone(dh, vm, FORCE_WAIT_MS) && vm->q) {
		if (vm->pid > 0 && pid_is_vm(vm->pid, vm))
			kill(vm->pid, SIGKILL);
		wait_gone(dh, vm, FORCE_WAIT_MS);
		if (vm->q)
			qemu_gone(vm);
	}
}

/* Tells the agent when a VM's state changed behind an op's back. */
static void report_changes(struct driver_host *dh)
{
	struct change {
		char id[64], state[16], reason[160];
	} ch[64];
	size_t n = 0;

	pthread_mutex_lock(&dh->lock);
	for (struct qvm *vm = dh->vms; vm && n < ARRAY_SIZE(ch); vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		if (strcmp(vm->state, vm->reported) != 0) {
			snprintf(ch[n].id, sizeof(ch[n].id), "%s", vm->id);
			snprintf(ch[n].state, sizeof(ch[n].state), "%s", vm->state);
			snprintf(ch[n].reason, sizeof(ch[n].reason), "%s", vm->reason);
			snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
			n++;
		}
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&dh->lock);
	for (size_t i = 0; i < n; i++)
		dh->env->vm_changed(dh->env->cls, ch[i].id, ch[i].state,
		                    ch[i].reason[0] ? ch[i].reason : NULL);
}

static void *monitor_main(void *arg)
{
	struct driver_host *dh = arg;
	int64_t next_tick = mono_ms() + MONITOR_TICK_MS;

	for (;;) {
		struct pollfd fds[257];
		struct qvm *polled[256];
		nfds_t n = 1;
		int64_t now;
		int r;

		pthread_mutex_lock(&dh->lock);
		if (dh->stopping) {
			pthread_mutex_unlock(&dh->lock);
			break;
		}
		fds[0] = (struct pollfd){ dh->wake[0], POLLIN, 0 };
		for (struct qvm *vm = dh->vms; vm && n < ARRAY_SIZE(fds); vm = vm->next) {
			int fd;

			pthread_mutex_lock(&vm->lock);
			fd = vm->q ? qmp_fd(vm->q) : -1;
			pthread_mutex_unlock(&vm->lock);
			if (fd < 0)
				continue;
			vm->refs++;
			polled[n - 1] = vm;
			fds[n++] = (struct pollfd){ fd, POLLIN, 0 };
		}
		pthread_mutex_unlock(&dh->lock);

		now = mono_ms();
		r = poll(fds, n, (int)(next_tick > now ? next_tick - now : 0));
		if (r > 0 && (fds[0].revents & POLLIN)) {
			char buf[64];

			while (read(dh->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		now = mono_ms();
		for (nfds_t i = 1; i < n; i++) {
			struct qvm *vm = polled[i - 1];
			bool tick = now >= next_tick;

			if ((r > 0 && fds[i].revents) || tick) {
				pthread_mutex_lock(&vm->lock);
				if (vm->q) {
					qmp_read_events(vm->q, 0);
					handle_events(vm);
				}
				if (vm->q && vm->pid > 0 && !pid_alive(vm->pid))
					qemu_gone(vm);
				if (tick)
					console_rotate(vm);
				pthread_mutex_unlock(&vm->lock);
			}
		}
		pthread_mutex_lock(&dh->lock);
		for (nfds_t i = 1; i < n; i++)
			qvm_unref_locked(dh, polled[i - 1]);
		pthread_mutex_unlock(&dh->lock);
		if (now >= next_tick)
			next_tick = now + MONITOR_TICK_MS;
		report_changes(dh);
	}
	return NULL;
}

/* --- ops --------------------------------------------------------------- */

static int64_t host_memory_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb / 1024;
}

static void qemu_facts(struct driver_host *dh, json_t *facts)
{
	struct statvfs sv;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int64_t disk_gb = 0;

	if (statvfs(dh->env->dir, &sv) == 0)
		disk_gb = (int64_t)((unsigned long long)sv.f_blocks * sv.f_frsize >> 30);
	jset_int(facts, "cpus", cpus > 0 ? cpus : 1);
	jset_int(facts, "memory_mb", host_memory_mb());
	jset_int(facts, "disk_gb", disk_gb);
	jset_str(facts, "arch", "x86_64");
	jset_str(facts, "accel", dh->accel);
	jset_str(facts, "driver", "qemu");
	json_object_set_new(facts, "interfaces", net_host_interfaces(HOST_IFACES_MAX));
	jset_str(facts, "cpu_model", dh->cpu_fact);
}

/* A -cpu value: a model name with optional ,feature or ,+flag parts. */
static bool cpu_model_ok(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n >= sizeof(((struct driver_host *)0)->cpu_model) ||
	    !isalnum((unsigned char)m[0]))
		return false;
	return strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,=+-") ==
	       n;
}

/* What a guest's CPU is on this host, as kumod compares hosts for live
 * migration: a named model is the same everywhere (QEMU keeps it stable);
 * "host" is this machine's CPU (its model name and its flags, hashed);
 * "max" under TCG is what this QEMU emulates. */
static void cpu_fact(struct driver_host *dh)
{
	char *text = NULL, model[96] = "?";
	uint64_t h = FNV1A_INIT;
	const char *p;

	if (strcmp(dh->cpu_model, "host") != 0) {
		snprintf(dh->cpu_fact, sizeof(dh->cpu_fact), "%s%s", dh->cpu_model,
		         strcmp(dh->cpu_model, "max") ? ""
		         : strcmp(dh->accel, "kvm")   ? " (tcg)"
		                                      : " (kvm)");
		return;
	}
	if (file_read("/proc/cpuinfo", 1 << 20, &text, NULL) == 0) {
		if ((p = strstr(text, "\nmodel name")) && (p = strchr(p, ':')))
			sscanf(p + 1, " %95[^\n]", model);
		if ((p = strstr(text, "\nflags")) && (p = strchr(p, ':')))
			h = fnv1a(h, p + 1, strcspn(p + 1, "\n"));
	}
	free(text);
	snprintf(dh->cpu_fact, sizeof(dh->cpu_fact), "host: %s (flags %016llx)", model,
	         (unsigned long long)h);
}

static int64_t qemu_op_delay_ms(struct driver_host *dh, const char *type)
{
	return 0;
}

static int qemu_check_config(const struct config *cfg, struct driver_err *e)
{
	const char *t = config_str(cfg, "qemu", "stop_timeout_s", NULL);
	char *end;

	const char *acc = config_str(cfg, "qemu", "accel", NULL);
	const char *ch = config_str(cfg, "qemu", "migration_channels", NULL);
	const char *dt = config_str(cfg, "qemu", "migration_downtime_ms", NULL);
	long n;

	if (t && (strtol(t, &end, 10) < 1 || *end))
		return driver_fail(e, "InvalidArgument",
		                   "qemu stop_timeout_s: \"%s\" is not a number of seconds", t);
	if (ch && ((n = strtol(ch, &end, 10)) < 1 || n > MIG_CHANNELS_MAX || *end || end == ch))
		return driver_fail(e, "InvalidArgument",
		                   "qemu migration_channels: \"%s\" is not a number from 1 to %d",
		                   ch, MIG_CHANNELS_MAX);
	if (dt && ((n = strtol(dt, &end, 10)) < MIG_DOWNTIME_MIN_MS || n > MIG_DOWNTIME_MAX_MS ||
	           *end || end == dt))
		return driver_fail(e, "InvalidArgument",
		                   "qemu migration_downtime_ms: \"%s\" is not a number of "
		                   "milliseconds from %d to %d",
		                   dt, MIG_DOWNTIME_MIN_MS, MIG_DOWNTIME_MAX_MS);
	if (acc && *acc && strcmp(acc, "auto") && strcmp(acc, "kvm") && strcmp(acc, "tcg"))
		return driver_fail(e, "InvalidArgument",
		                   "qemu accel: \"%s\" is not auto, kvm or tcg", acc);
	acc = config_str(cfg, "qemu", "cpu_model", NULL);
	if (acc && *acc && !cpu_model_ok(acc))
		return driver_fail(
		    e, "InvalidArgument",
		    "qemu cpu_model: \"%s\" is not a QEMU CPU model (letters, digits, "
		    "_.,=+- only, at most 71)",
		    acc);
	return 0;
}

static int qemu_host_new(const struct config *cfg, unsigned index, const struct driver_env *env,
                         struct driver_host **ret)
{
	struct driver_host *dh = xcalloc(1, sizeof(*dh));
	const char *a;
	char *vms;
	int r;

	dh->env = env;
	/* QEMU daemonizes: its process becomes the agent's child, so that its
	 * exit is collected here and not left to whatever init does */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_debug("qemu: cannot become a subreaper: %s", strerror(errno));
	dh->binary = xstrdup(config_str(cfg, "qemu", "binary", "qemu-system-x86_64"));
	dh->stop_timeout_s = strtol(config_str(cfg, "qemu", "stop_timeout_s", "60"), NULL, 10);
	if (dh->stop_timeout_s < 1)
		dh->stop_timeout_s = DEFAULT_STOP_TIMEOUT_S;
	dh->mig_channels =
	    (int)strtol(config_str(cfg, "qemu", "migration_channels", "1"), NULL, 10);
	if (dh->mig_channels < 1 || dh->mig_channels > MIG_CHANNELS_MAX)
		dh->mig_channels = 1;
	dh->mig_downtime_ms =
	    strtol(config_str(cfg, "qemu", "migration_downtime_ms", "300"), NULL, 10);
	if (dh->mig_downtime_ms < MIG_DOWNTIME_MIN_MS || dh->mig_downtime_ms > MIG_DOWNTIME_MAX_MS)
		dh->mig_downtime_ms = MIG_DOWNTIME_DEFAULT_MS;
	a = accel_choose(config_str(cfg, "qemu", "accel", getenv(ACCEL_ENV)), NULL,
	                 dh->accel_reason, sizeof(dh->accel_reason));
	snprintf(dh->accel, sizeof(dh->accel), "%s", a ? a : "tcg");
	log_info("qemu: %s", dh->accel_reason);
	a = config_str(cfg, "qemu", "cpu_model", NULL);
	snprintf(dh->cpu_model, sizeof(dh->cpu_model), "%s",
	         a && *a && cpu_model_ok(a) ? a
	         : strcmp(dh->accel, "kvm") ? "max"
	                                    : "host");
	cpu_fact(dh);
	log_info("qemu: vms get cpu model %s", dh->cpu_fact);
	pthread_mutex_init(&dh->lock, NULL);
	dh->wake[0] = dh->wake[1] = -1;
	vms = xasprintf("%s/vms", env->dir);
	r = mkdir_p(vms, 0700);
	free(vms);
	if (r == 0) {
		char *v = xasprintf("%s/volumes", env->dir);

		r = mkdir_p(v, 0700);
		free(v);
	}
	if (r == 0 && pipe2(dh->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		r = -errno;
	if (r == 0) {
		r = -pthread_create(&dh->monitor, NULL, monitor_main, dh);
		dh->monitor_started = r == 0;
	}
	if (r < 0) {
		log_err("qemu: cannot set up the host: %s", strerror(-r));
		free(dh->binary);
		free(dh);
		return r;
	}
	*ret = dh;
	return 0;
}

static void qemu_host_stop(struct driver_host *dh)
{
	pthread_mutex_lock(&dh->lock);
	dh->stopping = true;
	for (struct qvm *vm = dh->vms; vm; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
	}
	pthread_mutex_unlock(&dh->lock);
	monitor_wake(dh);
}

/* Leaves every QEMU running: the agent's restart reattaches to them. */
static struct driver_host *qemu_host_free(struct driver_host *dh)
{
	if (!dh)
		return NULL;
	qemu_host_stop(dh);
	if (dh->monitor_started)
		pthread_join(dh->monitor, NULL);
	pthread_mutex_lock(&dh->lock);
	while (dh->vms) {
		struct qvm *vm = dh->vms;

		dh->vms = vm->next;
		qvm_unref_locked(dh, vm);
	}
	pthread_mutex_unlock(&dh->lock);
	if (dh->wake[0] >= 0)
		close(dh->wake[0]);
	if (dh->wake[1] >= 0)
		close(dh->wake[1]);
	pthread_mutex_destroy(&dh->lock);
	free(dh->binary);
	free(dh);
	return NULL;
}

static int qemu_vm_create(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	struct image_files img = { 0 };
	struct qvm *vm;
	bool made = false;
	int r;

	if (!uuid_valid(jvm->id))
		return driver_fail(e, "InvalidArgument", "bad vm id");
	if (jint(jvm->spec, "memory_mb", 0) < 16 || jint(jvm->spec, "vcpus", 0) < 1)
		return driver_fail(e, "InvalidArgument", "the vm needs vcpus and memory_mb");
	vm = qvm_find(dh, jvm->id);
	if (vm)
		return 0; /* made already (a retry) */
	vm = qvm_new(dh, jvm->id, jvm->spec);
	pthread_mutex_lock(&vm->lock);
	r = mkdir(vm->dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
	if (r < 0) {
		driver_fail(e, "Internal", "cannot create %s: %s", vm->dir, strerror(-r));
		goto fail;
	}
	r = image_cache_get(dh->env, json_object_get(vm->spec, "image"), &img, e);
	if (r == 0)
		r = clone_wanted(vm) ? clone_disks(dh, vm, e)
		                     : make_root_disk(dh, vm, &img, &made, e);
	if (r == 0)
		r = make_seed(dh, vm, e);
	if (r == 0) {
		/* data volumes named at create time */
		json_t *list = data_volumes(vm->spec);

		r = volumes_save(vm, list);
		json_decref(list);
		if (r < 0)
			driver_fail(e, "Internal", "cannot write volumes.json: %s", strerror(-r));
	}
	image_files_clear(&img);
	if (r == 0)
		r = qemu_start(dh, vm, e);
	if (r < 0)
		goto fail;
	snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
	pthread_mutex_unlock(&vm->lock);
	return 0;
fail:
	/* nothing half-made stays behind */
	if (vm->dirfd >= 0) {
		close(vm->dirfd);
		vm->dirfd = -1;
	}
	pthread_mutex_unlock(&vm->lock);
	rm_rf(vm->dir);
	if (made) /* never a disk that was on the pool before */
		remove_shared_disks(vm);
	qvm_remove(dh, vm);
	return -1;
}

static int qemu_vm_start(struct driver_host *dh, const struct journal_vm *jvm, struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	int r = 0;

	if (!vm)
		return -1;
	pthread_mutex_lock(&vm->lock);
	if (vm->q && !strcmp(vm->state, "paused")) {
		vm->expect_stop = false;
		r = qmp_simple(vm->q, "cont", QMP_TIMEOUT_MS, e->message, sizeof(e->message));
		if (r == 0)
			snprintf(vm->state, sizeof(vm->state), "running");
	} else if (!vm->q) {
		r = qemu_start(dh, vm, e);
	}
	if (r < 0 && !e->code)
		e->code = "QemuFailed";
	if (r == 0)
		snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
	pthread_mutex_unlock(&vm->lock);
	return r < 0 ? -1 : 0;
}

static int qemu_vm_stop(struct driver_host *dh, const struct journal_vm *jvm, bool force,
                        struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	int r = 0;

	if (!vm)
		return -1;
	pthread_mutex_lock(&vm->lock);
	if (vm->q && !force) {
		char err[256];

		vm->expect_exit = true;
		if (!strcmp(vm->state, "paused"))
			qmp_simple(vm->q, "cont", QMP_TIMEOUT_MS, err, sizeof(err));
		int64_t deadline = mono_ms() + dh->stop_timeout_s * 1000;
		bool gone = false;

		/* the power button again every few seconds: a guest still booting
		 * (no ACPI handler yet) misses the first press */
		while (!gone && vm->q && !dh->stopping && mono_ms() < deadline) {
			int64_t left = deadline - mono_ms();

			r = qmp_simple(vm->q, "system_powerdown", QMP_TIMEOUT_MS, err, sizeof(err));
			if (r == 0)
				handle_events(vm);
			gone = wait_gone(dh, vm,
			                 left < POWERDOWN_REPEAT_MS ? left : POWERDOWN_REPEAT_MS);
		}
		if (!gone && vm->q) {
			if (dh->stopping) {
				pthread_mutex_unlock(&vm->lock);
				return driver_fail(e, "Interrupted", "the agent is stopping");
			}
			log_info("vm %s: the guest did not shut down in %lld s; forcing it off",
			         vm->id, (long long)dh->stop_timeout_s);
		}
	}
	qemu_kill(dh, vm);
	snprintf(vm->state, sizeof(vm->state), "stopped");
	vm->reason[0] = '\0';
	snprintf(vm->reported, sizeof(vm->reported), "stopped");
	pthread_mutex_unlock(&vm->lock);
	return r < 0 && vm->q ? -1 : 0;
}

static int qemu_vm_simple(struct driver_host *dh, const struct journal_vm *jvm, const char *cmd,
                          const char *state, struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	int r;

	if (!vm)
		return -1;
	pthread_mutex_lock(&vm->lock);
	if (!vm->q) {
		pthread_mutex_unlock(&vm->lock);
		return driver_fail(e, "InvalidState", "vm %s is not running (%s)", jvm->id,
		                   vm->state);
	}
	vm->expect_stop = !strcmp(cmd, "stop");
	r = qmp_simple(vm->q, cmd, QMP_TIMEOUT_MS, e->message, sizeof(e->message));
	if (r < 0) {
		e->code = "QemuFailed";
	} else {
		handle_events(vm);
		snprintf(vm->state, sizeof(vm->state), "%s", state);
		snprintf(vm->reported, sizeof(vm->reported), "%s", state);
	}
	pthread_mutex_unlock(&vm->lock);
	return r < 0 ? -1 : 0;
}

static int qemu_vm_reboot(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	return qemu_vm_simple(dh, jvm, "system_reset", "running", e);
}

static int qemu_vm_pause(struct driver_host *dh, const struct journal_vm *jvm, struct driver_err *e)
{
	return qemu_vm_simple(dh, jvm, "stop", "paused", e);
}

static int qemu_vm_resume(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	return qemu_vm_simple(dh, jvm, "cont", "running", e);
}

static int vm_remove_here(struct driver_host *dh, const struct journal_vm *jvm, bool forget,
                          struct driver_err *e)
{
	struct qvm *vm = qvm_find(dh, jvm->id);
	char *dir;

	if (!vm) {
		/* no record (an agent that lost it): still remove its files */
		dir = xasprintf("%s/vms/%s", dh->env->dir, jvm->id);
		if (uuid_valid(jvm->id))
			rm_rf(dir);
		free(dir);
		return 0;
	}
	pthread_mutex_lock(&vm->lock);
	qemu_kill(dh, vm);
	if (vm->dirfd >= 0) {
		close(vm->dirfd);
		vm->dirfd = -1;
	}
	pthread_mutex_unlock(&vm->lock);
	if (rm_rf(vm->dir) < 0)
		log_warn("vm %s: cannot remove %s", vm->id, vm->dir);
	if (!forget)
		remove_shared_disks(vm);
	qvm_remove(dh, vm);
	return 0;
}

static int qemu_vm_destroy(struct driver_host *dh, const struct journal_vm *jvm,
                           struct driver_err *e)
{
	return vm_remove_here(dh, jvm, false, e);
}

/* The VM runs elsewhere now (restarted there after this host was lost):
 * its QEMU here goes, and its files here, but not its disks on a shared
 * pool, which are the other copy's. */
static int qemu_vm_forget(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	return vm_remove_here(dh, jvm, true, e);
}

/* --- volumes ----------------------------------------------------------- */

static int qemu_volume_create(struct driver_host *dh, const json_t *payload, struct driver_err *e)
{
	const char *id = jstr(payload, "volume_id");
	const json_t *vol = json_object_get(payload, "volume");
	const char *pool = pool_shared_path(vol);
	int64_t gb = jint(vol, "size_gb", 0);
	char *path, size[32];
	int r;

	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	if (gb < 1)
		return driver_fail(e, "InvalidArgument", "the volume has no size_gb");
	if (pool && pool_check(pool, "volumes", e) < 0)
		return -1;
	path = volume_path_in(dh, pool, id);
	if (access(path, F_OK) == 0) {
		free(path);
		return 0; /* made already */
	}
	snprintf(size, sizeof(size), "%lldG", (long long)gb);
	r = qemu_img_create(path, NULL, NULL, size, NULL);
	if (r < 0) {
		unlink(path);
		driver_fail(e, "DiskFailed", "qemu-img cannot create the volume");
	}
	free(path);
	return r < 0 ? -1 : 0;
}

static int qemu_volume_delete(struct driver_host *dh, const json_t *payload, struct driver_err *e)
{
	const char *id = jstr(payload, "volume_id");
	char *path;

	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	path = volume_path_in(dh, pool_shared_path(json_object_get(payload, "volume")), id);
	if (unlink(path) < 0 && errno != ENOENT) {
		driver_fail(e, "Internal", "cannot remove %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static int qemu_volume_attach(struct driver_host *dh, const struct journal_vm *jvm,
                              const json_t *payload, struct driver_err *e)
{
	const char *id = jstr(payload, "volume_id");
	struct qvm *vm = vm_get(dh, jvm, e);
	const char *pool;
	json_t *list, *v;
	char node[32], *path;
	size_t i;
	int r = 0, slot;

	if (!vm)
		return -1;
	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	pool = pool_shared_path(json_object_get(payload, "volume"));
	slot = vol_slot(json_object_get(payload, "volume"));
	path = volume_path_in(dh, pool, id);
	if (access(path, R_OK) < 0 && qemu_volume_create(dh, payload, e) < 0) {
		free(path); /* a volume gets its file on the host it is first attached to */
		return -1;
	}
	node_name(id, node);
	pthread_mutex_lock(&vm->lock);
	list = volumes_load(vm);
	json_array_foreach(list, i, v)
	{
		if (!strcmp(jstr(v, "id"), id))
			goto out; /* attached already */
	}
	if (vm->q) {
		r = qmp_execute(vm->q, "blockdev-add",
		                json_pack("{s:s,s:s,s:{s:s,s:s}}", "driver", "qcow2", "node-name",
		                          node, "file", "driver", "file", "filename", path),
		                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
		if (r == 0) {
			json_t *dev = json_pack("{s:s,s:s,s:s}", "driver", "virtio-blk-pci",
			                        "drive", node, "id", node);
			char addr[8];

			if (slot) {
				snprintf(addr, sizeof(addr), "0x%x", slot);
				jset_str(dev, "addr", addr);
			}
			r = qmp_execute(vm->q, "device_add", dev, QMP_TIMEOUT_MS, NULL, e->message,
			                sizeof(e->message));
			if (r < 0) {
				char err[256];

				qmp_execute(vm->q, "blockdev-del",
				            json_pack("{s:s}", "node-name", node), QMP_TIMEOUT_MS,
				            NULL, err, sizeof(err));
			}
		}
		handle_events(vm);
		if (r < 0) {
			e->code = "QemuFailed";
			goto out;
		}
	}
	json_array_append_new(
	    list, json_pack("{s:s,s:s?,s:i}", "id", id, "pool_path", pool, "pci_slot", slot));
	r = volumes_save(vm, list);
	if (r < 0)
		driver_fail(e, "Internal", "cannot write volumes.json: %s", strerror(-r));
out:
	pthread_mutex_unlock(&vm->lock);
	json_decref(list);
	free(path);
	return r < 0 ? -1 : 0;
}

static int qemu_volume_detach(struct driver_host *dh, const struct journal_vm *jvm,
                              const json_t *payload, struct driver_err *e)
{
	const char *id = jstr(payload, "volume_id");
	struct qvm *vm;
	json_t *list, *keep, *v;
	char node[32];
	bool found = false;
	size_t i;
	int r = 0;

	if (!jvm)
		return 0; /* attached to no VM here */
	vm = vm_get(dh, jvm, e);
	if (!vm)
		return -1;
	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	node_name(id, node);
	pthread_mutex_lock(&vm->lock);
	list = volumes_load(vm);
	keep = json_array();
	json_array_foreach(list, i, v)
	{
		if (!strcmp(jstr(v, "id"), id))
			found = true;
		else
			json_array_append(keep, v);
	}
	if (!found)
		goto out;
	if (vm->q) {
		int64_t deadline = mono_ms() + DETACH_TIMEOUT_MS;

		vm->deleted_dev[0] = '\0';
		r = qmp_execute(vm->q, "device_del", json_pack("{s:s}", "id", node), QMP_TIMEOUT_MS,
		                NULL, e->message, sizeof(e->message));
		if (r < 0) {
			e->code = "QemuFailed";
			goto out;
		}
		handle_events(vm);
		/* the guest lets go of the device (ACPI hot-unplug) */
		while (vm->q && strcmp(vm->deleted_dev, node) != 0 && !dh->stopping) {
			struct timespec ts;
			int64_t left = deadline - mono_ms();

			if (left <= 0) {
				r = driver_fail(e, "Timeout",
				                "the guest did not release volume %s in %d s", id,
				                DETACH_TIMEOUT_MS / 1000);
				goto out;
			}
			deadline_mono(&ts, left < 200 ? left : 200);
			pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
			if (vm->q) {
				qmp_read_events(vm->q, 0);
				handle_events(vm);
			}
		}
		if (vm->q) {
			char err[256];

			qmp_execute(vm->q, "blockdev-del", json_pack("{s:s}", "node-name", node),
			            QMP_TIMEOUT_MS, NULL, err, sizeof(err));
			handle_events(vm);
		}
	}
	r = volumes_save(vm, keep);
	if (r < 0)
		driver_fail(e, "Internal", "cannot write volumes.json: %s", strerror(-r));
out:
	pthread_mutex_unlock(&vm->lock);
	json_decref(list);
	json_decref(keep);
	return r < 0 ? -1 : 0;
}

/* --- restart ------------------------------------------------------------ */

/* After an agent restart: reattach to the VM's QEMU if it runs; after a
 * power loss (no QEMU), start again what was running or paused. */
static void qemu_vm_restore(struct driver_host *dh, struct journal_vm *jvm)
{
	struct driver_err e = { NULL, "" };
	struct qvm *vm;
	char path[128];
	pid_t pid;

	if (!uuid_valid(jvm->id))
		return;
	vm = qvm_new(dh, jvm->id, jvm->spec);
	pthread_mutex_lock(&vm->lock);
	if (access(vm->dir, F_OK) < 0) {
		snprintf(vm->state, sizeof(vm->state), "error");
		snprintf(vm->reason, sizeof(vm->reason), "its files are gone from this host");
		goto out;
	}
	vm->dirfd = open(vm->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	pid = read_pid(vm);
	if (!strcmp(jvm->state, "incoming")) {
		/* a migration's destination when the agent stopped: a guest that
		 * arrived runs here now (the source's QEMU is gone); a half-made
		 * copy goes (kumod's abort removes its files) */
		char status[QMP_STATUS_MAX] = "";

		if (pid > 0 && pid_is_vm(pid, vm)) {
			qmp_path(vm, path, sizeof(path));
			vm->pid = pid;
			if (qmp_connect(path, 5000, &vm->q) == 0 &&
			    qmp_query_status(vm->q, QMP_TIMEOUT_MS, status, sizeof(status)) == 0 &&
			    strcmp(status, "inmigrate") != 0) {
				snprintf(vm->state, sizeof(vm->state), "%s",
				         !strcmp(status, "paused") ? "paused" : "running");
				log_info("vm %s: reattached to QEMU %d, arrived by migration (%s)",
				         vm->id, (int)pid, status);
				goto out;
			}
			vm->q = qmp_close(vm->q);
			kill(pid, SIGKILL);
			vm->pid = 0;
		}
		snprintf(vm->state, sizeof(vm->state), "error");
		snprintf(vm->reason, sizeof(vm->reason), "incoming migration interrupted");
		goto out;
	}
	if (pid > 0 && pid_is_vm(pid, vm)) {
		char status[QMP_STATUS_MAX];

		qmp_path(vm, path, sizeof(path));
		vm->pid = pid;
		if (qmp_connect(path, 5000, &vm->q) == 0 &&
		    qmp_query_status(vm->q, QMP_TIMEOUT_MS, status, sizeof(status)) == 0) {
			snprintf(vm->state, sizeof(vm->state), "%s",
			         !strcmp(status, "paused") ? "paused" : "running");
			if (!strcmp(status, "paused"))
				vm->expect_stop = true;
			log_info("vm %s: reattached to QEMU %d (%s)", vm->id, (int)pid, status);
			goto out;
		}
		log_warn("vm %s: QEMU %d runs but does not answer QMP; restarting it", vm->id,
		         (int)pid);
		vm->q = qmp_close(vm->q);
		kill(pid, SIGKILL);
		vm->pid = 0;
	}
	if ((!strcmp(jvm->state, "running") || !strcmp(jvm->state, "paused")) &&
	    pool_shared_path(vm->spec) && spec_ha_restart(vm->spec)) {
		/* an HA VM on a shared pool may run on another host by now
		 * (kumod restarted it there while this host was lost): never
		 * start a second copy; kumod starts it here again if it is
		 * still this host's (see ha.c) */
		log_info("vm %s: HA on a shared pool and its QEMU is gone: left stopped for "
		         "kumod to decide",
		         vm->id);
		snprintf(vm->state, sizeof(vm->state), "stopped");
		snprintf(vm->reason, sizeof(vm->reason), "its host was lost (fenced)");
	} else if (!strcmp(jvm->state, "running") || !strcmp(jvm->state, "paused")) {
		log_info("vm %s: was %s and its QEMU is gone (power loss?): starting it", vm->id,
		         jvm->state);
		if (qemu_start(dh, vm, &e) < 0) {
			snprintf(vm->state, sizeof(vm->state), "error");
			snprintf(vm->reason, sizeof(vm->reason), "%s", e.message);
			log_warn("vm %s: cannot start it again: %s", vm->id, e.message);
		}
	} else {
		snprintf(vm->state, sizeof(vm->state), "%s", jvm->state);
	}
out:
	snprintf(jvm->state, sizeof(jvm->state), "%s", vm->state);
	snprintf(jvm->reason, sizeof(jvm->reason), "%s", vm->reason);
	snprintf(vm->reported, sizeof(vm->reported), "%s", vm->state);
	pthread_mutex_unlock(&vm->lock);
}

/* The live state, for heartbeats: what QEMU is doing now. */
static const char *qemu_vm_state(struct driver_host *dh, const struct journal_vm *jvm)
{
	static __thread char buf[16];
	struct qvm *vm = qvm_find(dh, jvm->id);

	if (!vm)
		return NULL;
	pthread_mutex_lock(&vm->lock);
	snprintf(buf, sizeof(buf), "%s", vm->state);
	pthread_mutex_unlock(&vm->lock);
	return buf;
}

/* The QEMU process of a VM, for CPU accounting and caps. */
static int qemu_vm_pid(struct driver_host *dh, const char *vm_id)
{
	struct qvm *vm = qvm_find(dh, vm_id);
	int pid = 0;

	if (!vm)
		return 0;
	pthread_mutex_lock(&vm->lock);
	if (vm->q && vm->pid > 0)
		pid = (int)vm->pid;
	pthread_mutex_unlock(&vm->lock);
	return pid;
}

const struct driver_ops driver_qemu_ops = {
	.name = "qemu",
	.concurrent = true,
	.check_config = qemu_check_config,
	.host_new = qemu_host_new,
	.host_stop = qemu_host_stop,
	.host_free = qemu_host_free,
	.facts = qemu_facts,
	.op_delay_ms = qemu_op_delay_ms,
	.vm_restore = qemu_vm_restore,
	.vm_state = qemu_vm_state,
	.vm_pid = qemu_vm_pid,
	.vm_console = qemu_vm_console,
	.vm_create = qemu_vm_create,
	.vm_start = qemu_vm_start,
	.vm_stop = qemu_vm_stop,
	.vm_reboot = qemu_vm_reboot,
	.vm_pause = qemu_vm_pause,
	.vm_resume = qemu_vm_resume,
	.vm_destroy = qemu_vm_destroy,
	.vm_forget = qemu_vm_forget,
	.vm_migrate = qemu_vm_migrate,
	.volume_create = qemu_volume_create,
	.volume_delete = qemu_volume_delete,
	.volume_attach = qemu_volume_attach,
	.volume_detach = qemu_volume_detach,
	.snapshot_create = qemu_snapshot_create,
	.snapshot_delete = qemu_snapshot_delete,
	.snapshot_revert = qemu_snapshot_revert,
	.volume_resize = qemu_volume_resize,
	.image_export = qemu_image_export,
	.vm_resize = qemu_vm_resize,
};
