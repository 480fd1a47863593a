// SPDX-License-Identifier: MIT
/*
 * The qemu compute driver: one QEMU process per VM, controlled over QMP
 * (qmp.c), KVM where it really works and TCG otherwise (accel.c).
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

#include "agent/accel.h"
#include "agent/driver.h"
#include "agent/image_cache.h"
#include "agent/qmp.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

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
	struct qvm *next;     /* under dh->lock */
};

struct driver_host {
	const struct driver_env *env; /* weak */
	char *binary;                 /* owned; qemu-system-x86_64 */
	char accel[8];
	char accel_reason[ACCEL_REASON_MAX];
	int64_t stop_timeout_s;

	pthread_mutex_t lock;
	struct qvm *vms;
	bool stopping;
	int wake[2]; /* the monitor's self-pipe */
	pthread_t monitor;
	bool monitor_started;
};

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

static struct qvm *qvm_find(struct driver_host *dh, const char *id)
{
	struct qvm *vm;

	pthread_mutex_lock(&dh->lock);
	for (vm = dh->vms; vm; vm = vm->next)
		if (!strcmp(vm->id, id))
			break;
	pthread_mutex_unlock(&dh->lock);
	return vm; /* ops of one VM never run at once: it stays until its destroy */
}

static struct qvm *vm_get(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	struct qvm *vm = qvm_find(dh, jvm->id);

	if (!vm)
		driver_fail(e, "NotFound", "vm %s has no files on this host", jvm->id);
	return vm;
}

static struct qvm *qvm_new(struct driver_host *dh, const char *id, const json_t *spec)
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

static void qvm_remove(struct driver_host *dh, struct qvm *vm)
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

/* The last line QEMU wrote to qemu.err, for error messages. */
static void err_tail(const struct qvm *vm, char *out, size_t len)
{
	char *p = xasprintf("%s/qemu.err", vm->dir), *data = NULL;
	size_t n = 0;

	out[0] = '\0';
	if (file_read(p, 64 * 1024, &data, &n) == 0 && n > 0) {
		while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
			data[--n] = '\0';
		char *line = strrchr(data, '\n');

		line = line ? line + 1 : data;
		if (!strncmp(line, "qemu-system-x86_64: ", 20))
			line += 20;
		snprintf(out, len, "%s", line);
	}
	free(data);
	free(p);
}

/* Runs argv (no shell), stdout and stderr into errfile (or /dev/null), in
 * dir; waits up to timeout_ms. 0 when it exited 0; -ETIMEDOUT (killed);
 * -ECHILD with *status for other exits. */
static int run_argv(char *const argv[], const char *dir, const char *errfile, int timeout_ms,
                    int *ret_status)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int status = 0;
	pid_t pid, w;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		int out = errfile ? open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600) : fd;
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (fd < 0 || out < 0 || (dir && chdir(dir) < 0))
			_exit(126);
		dup2(fd, 0);
		dup2(out, 1);
		dup2(out, 2);
		for (int i = 3; i < 1024; i++)
			close(i);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
	if (ret_status)
		*ret_status = status;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* argv builder */
struct args {
	char *v[128];
	int n;
};

static void arg(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct args *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->n >= (int)ARRAY_SIZE(a->v) - 1)
		abort(); /* a bug: the argv of a VM is bounded */
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* A QEMU node name (at most 31 characters) for a volume id. */
static void node_name(const char *vol_id, char out[32])
{
	size_t n = 0;

	out[n++] = 'v';
	for (const char *p = vol_id; *p && n < 31; p++)
		if (*p != '-')
			out[n++] = *p;
	out[n] = '\0';
}

static char *volume_path(struct driver_host *dh, const char *vol_id)
{
	return xasprintf("%s/volumes/%s.qcow2", dh->env->dir, vol_id);
}

/* --- attached volumes (volumes.json) ------------------------------------ */

static json_t *volumes_load(const struct qvm *vm)
{
	char *p = xasprintf("%s/volumes.json", vm->dir);
	json_t *v = json_load_file(p, 0, NULL);

	free(p);
	if (!json_is_array(v)) {
		json_decref(v);
		v = json_array();
	}
	return v;
}

static int volumes_save(const struct qvm *vm, const json_t *list)
{
	char *p = xasprintf("%s/volumes.json", vm->dir);
	char *s = json_dumps(list, JSON_COMPACT);
	int r = file_write_atomic(p, s, strlen(s), 0600);

	free(s);
	free(p);
	return r;
}

/* --- the seed ------------------------------------------------------------ */

static bool seed_text_ok(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

/* Writes seed.img: a vfat with label cidata holding meta-data and
 * user-data (NoCloud). ssh keys go into both meta-data (public-keys) and,
 * when there is no user_data of the user's own, a #cloud-config. */
static int make_seed(struct driver_host *dh, struct qvm *vm, struct driver_err *e)
{
	const json_t *spec = vm->spec;
	const char *user_data = jstr(spec, "user_data");
	const json_t *keys = json_object_get(spec, "ssh_keys"), *k;
	const char *hostname = jstr(spec, "name");
	struct buf md, ud;
	size_t i;
	int r, st = 0;

	buf_init(&md, 256 * 1024);
	buf_init(&ud, 256 * 1024);
	r = buf_printf(&md, "instance-id: %s\nlocal-hostname: %s\n", vm->id,
	               hostname && seed_text_ok(hostname) ? hostname : vm->id);
	if (json_array_size(keys) > 0) {
		r = r ? r : buf_puts(&md, "public-keys:\n");
		json_array_foreach(keys, i, k)
		{
			if (!json_is_string(k) || !seed_text_ok(json_string_value(k))) {
				r = driver_fail(e, "InvalidArgument", "ssh key %zu is not one line",
				                i);
				goto out;
			}
			r = r ? r : buf_printf(&md, "  - %s\n", json_string_value(k));
		}
	}
	if (user_data) {
		r = r ? r : buf_puts(&ud, user_data);
	} else {
		r = r ? r
		      : buf_printf(&ud, "#cloud-config\nhostname: %s\n",
		                   hostname && seed_text_ok(hostname) ? hostname : vm->id);
		if (json_array_size(keys) > 0) {
			r = r ? r : buf_puts(&ud, "ssh_authorized_keys:\n");
			json_array_foreach(keys, i, k)
			{
				r = r ? r : buf_printf(&ud, "  - %s\n", json_string_value(k));
			}
		}
	}
	if (r < 0) {
		r = driver_fail(e, "InvalidArgument", "user_data and ssh keys are too large");
		goto out;
	}
	{
		char *mdp = xasprintf("%s/meta-data", vm->dir);
		char *udp = xasprintf("%s/user-data", vm->dir);
		char *seed = xasprintf("%s/seed.img", vm->dir);
		char *errf = xasprintf("%s/seed.err", vm->dir);

		r = file_write_atomic(mdp, md.data, md.len, 0600);
		if (r == 0)
			r = file_write_atomic(udp, ud.data ? ud.data : "", ud.len, 0600);
		if (r < 0) {
			driver_fail(e, "Internal", "cannot write the seed files: %s", strerror(-r));
		} else {
			char *mk[] = { "mkfs.vfat", "-C", "-n", "cidata", seed, "1024", NULL };
			char *cp[] = { "mcopy", "-o", "-i", seed, mdp, udp, "::", NULL };

			unlink(seed);
			r = run_argv(mk, NULL, errf, 30000, &st);
			if (r == 0)
				r = run_argv(cp, NULL, errf, 30000, &st);
			if (r < 0)
				driver_fail(e, "Internal",
				            "cannot make the cidata seed (mkfs.vfat/mcopy): %s",
				            r == -ECHILD ? "failed" : strerror(-r));
		}
		unlink(mdp);
		unlink(udp);
		unlink(errf);
		free(errf);
		free(seed);
		free(udp);
		free(mdp);
	}
out:
	buf_free(&md);
	buf_free(&ud);
	return r;
}

/* --- disks ---------------------------------------------------------------- */

/* disk.qcow2 for a new VM: an overlay on the cached image, grown to
 * root_disk_gb (never shrunk below the image), or an empty disk of that
 * size for kernel images. */
/* qemu-img create -f qcow2 [-F backing_fmt -b backing] path [size]. */
static int qemu_img_create(const char *path, const char *backing_fmt, const char *backing,
                           const char *size, const char *errf)
{
	struct args a = { 0 };
	int r, st = 0;

	arg(&a, "qemu-img");
	arg(&a, "create");
	arg(&a, "-q");
	arg(&a, "-f");
	arg(&a, "qcow2");
	if (backing) {
		arg(&a, "-F");
		arg(&a, "%s", backing_fmt);
		arg(&a, "-b");
		arg(&a, "%s", backing);
	}
	arg(&a, "%s", path);
	if (size)
		arg(&a, "%s", size);
	r = run_argv(a.v, NULL, errf, 60000, &st);
	args_free(&a);
	return r;
}

static int make_root_disk(struct driver_host *dh, struct qvm *vm, const struct image_files *img,
                          struct driver_err *e)
{
	int64_t gb = jint(vm->spec, "root_disk_gb", 0);
	char *disk = xasprintf("%s/disk.qcow2", vm->dir);
	char *errf = xasprintf("%s/qemu.err", vm->dir);
	char size[32], why[ERR_TAIL];
	int r;

	if (gb <= 0)
		gb = 1;
	snprintf(size, sizeof(size), "%lldG", (long long)gb);
	r = qemu_img_create(disk, img->format, img->disk, size, errf);
	if (r < 0 && img->disk) /* an image larger than the root size: keep its size */
		r = qemu_img_create(disk, img->format, img->disk, NULL, errf);
	if (r < 0) {
		err_tail(vm, why, sizeof(why));
		driver_fail(e, "DiskFailed", "cannot create the root disk: %s",
		            why[0] ? why : strerror(-r));
	}
	free(errf);
	free(disk);
	return r;
}

/* --- QEMU -------------------------------------------------------------- */

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
	arg(a, "%s", strcmp(dh->accel, "kvm") ? "max" : "host");
	arg(a, "-smp");
	arg(a, "%lld", (long long)jint(vm->spec, "vcpus", 1));
	arg(a, "-m");
	arg(a, "%lld", (long long)jint(vm->spec, "memory_mb", 256));
	arg(a, "-display");
	arg(a, "none");
	arg(a, "-S");
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
	arg(a, "-blockdev");
	arg(a, "driver=qcow2,node-name=root,file.driver=file,file.filename=disk.qcow2");
	arg(a, "-device");
	arg(a, "virtio-blk-pci,drive=root,id=root%s", img->kernel ? "" : ",bootindex=0");
	arg(a, "-blockdev");
	arg(a, "driver=raw,node-name=seed,read-only=on,file.driver=file,file.filename=seed.img");
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
		arg(a, "virtio-blk-pci,drive=%s,id=%s", node, node);
	}
}

static void handle_events(struct qvm *vm);

/* Starts QEMU for vm (vm->lock held): spawn, connect, cont. */
static int qemu_start(struct driver_host *dh, struct qvm *vm, struct driver_err *e)
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
			char *p = volume_path(dh, jstr(v, "id"));

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
static void handle_events(struct qvm *vm)
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
static void qemu_kill(struct driver_host *dh, struct qvm *vm)
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

/* The console's byte positions are counted from the VM's first byte of
 * output: console.base holds the position of console.log's first byte, and
 * console.log.1 ends where console.log starts. */
static int64_t console_base(const struct qvm *vm)
{
	char *p = xasprintf("%s/console.base", vm->dir), *data = NULL;
	size_t len = 0;
	int64_t v = 0;

	if (file_read(p, 64, &data, &len) == 0)
		v = strtoll(data, NULL, 10);
	free(data);
	free(p);
	return v > 0 ? v : 0;
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Keeps console.log under CONSOLE_MAX (vm->lock held): it becomes .1 and
 * starts again. QEMU appends (O_APPEND), so truncating it is safe; a line
 * written between the copy and the truncation can be lost. */
static void console_rotate(struct qvm *vm)
{
	char *log = xasprintf("%s/console.log", vm->dir);
	char *old = xasprintf("%s/console.log.1", vm->dir);
	char *basep = xasprintf("%s/console.base", vm->dir);
	off_t size = file_size(log);

	if (size > CONSOLE_MAX) {
		char *data = NULL, num[32];
		size_t len = 0;

		if (file_read(log, (size_t)size + 65536, &data, &len) == 0 &&
		    file_write_atomic(old, data, len, 0600) == 0) {
			snprintf(num, sizeof(num), "%lld",
			         (long long)(console_base(vm) + (int64_t)len));
			if (file_write_atomic(basep, num, strlen(num), 0600) < 0 ||
			    truncate(log, 0) < 0)
				log_debug("vm %s: cannot rotate its console log: %s", vm->id,
				          strerror(errno));
		}
		free(data);
	}
	free(basep);
	free(old);
	free(log);
}

/* Appends bytes [from, to) of file path (positions relative to the file). */
static int read_range(const char *path, int64_t from, int64_t to, struct buf *out)
{
	char chunk[65536];
	int fd;

	if (to <= from)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (from < to) {
		size_t want =
		    to - from > (int64_t)sizeof(chunk) ? sizeof(chunk) : (size_t)(to - from);
		ssize_t n = pread(fd, chunk, want, from);

		if (n <= 0)
			break;
		buf_append(out, chunk, (size_t)n);
		from += n;
	}
	close(fd);
	return 0;
}

/* Console output as JSON: from position offset (or, with offset < 0, the
 * last tail_lines lines), at most max bytes: {"output", "offset", "next",
 * "truncated"}. Invalid UTF-8 becomes U+FFFD. */
static int qemu_vm_console(struct driver_host *dh, const struct journal_vm *jvm, int64_t offset,
                           int64_t tail_lines, int64_t max, json_t *data, struct driver_err *e)
{
	struct qvm *vm = vm_get(dh, jvm, e);
	char *log, *old;
	int64_t base, start1, end, from, to;
	bool truncated = false;
	struct buf b;

	if (!vm)
		return -1;
	if (max <= 0 || max > 1024 * 1024)
		max = 1024 * 1024;
	log = xasprintf("%s/console.log", vm->dir);
	old = xasprintf("%s/console.log.1", vm->dir);
	buf_init(&b, (size_t)max + 16);
	pthread_mutex_lock(&vm->lock);
	base = console_base(vm);
	start1 = base - (int64_t)file_size(old);
	if (start1 < 0)
		start1 = 0;
	end = base + (int64_t)file_size(log);
	if (offset < 0) {
		from = end - max < start1 ? start1 : end - max;
	} else {
		from = offset;
		if (from < start1) {
			truncated = from < start1;
			from = start1;
		}
		if (from > end)
			from = end;
	}
	to = from + max < end ? from + max : end;
	if (from < base)
		read_range(old, from - start1, (to < base ? to : base) - start1, &b);
	if (to > base)
		read_range(log, (from > base ? from : base) - base, to - base, &b);
	pthread_mutex_unlock(&vm->lock);
	if (offset < 0 && tail_lines > 0) {
		/* keep the last tail_lines lines */
		size_t cut = 0;
		int64_t lines = 0;

		for (size_t i = b.len; i > 0; i--) {
			if (b.data[i - 1] == '\n' && i != b.len && ++lines >= tail_lines) {
				cut = i;
				break;
			}
		}
		if (cut > 0) {
			from += (int64_t)cut;
			memmove(b.data, b.data + cut, b.len - cut);
			b.len -= cut;
		}
	}
	json_object_set_new(data, "output", json_string_utf8_lossy(b.data ? b.data : "", b.len));
	jset_int(data, "offset", from);
	jset_int(data, "next", from + (int64_t)b.len);
	json_object_set_new(data, "truncated", json_boolean(truncated));
	buf_free(&b);
	free(old);
	free(log);
	return 0;
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

	if (t && (strtol(t, &end, 10) < 1 || *end))
		return driver_fail(e, "InvalidArgument",
		                   "qemu stop_timeout_s: \"%s\" is not a number of seconds", t);
	if (acc && *acc && strcmp(acc, "auto") && strcmp(acc, "kvm") && strcmp(acc, "tcg"))
		return driver_fail(e, "InvalidArgument",
		                   "qemu accel: \"%s\" is not auto, kvm or tcg", acc);
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
	a = accel_choose(config_str(cfg, "qemu", "accel", getenv(ACCEL_ENV)), NULL,
	                 dh->accel_reason, sizeof(dh->accel_reason));
	snprintf(dh->accel, sizeof(dh->accel), "%s", a ? a : "tcg");
	log_info("qemu: %s", dh->accel_reason);
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

static int rm_rf(const char *path)
{
	char *argv[] = { "rm", "-rf", "--one-file-system", (char *)path, NULL };

	return run_argv(argv, NULL, NULL, 60000, NULL);
}

static int qemu_vm_create(struct driver_host *dh, const struct journal_vm *jvm,
                          struct driver_err *e)
{
	struct image_files img = { 0 };
	struct qvm *vm;
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
		r = make_root_disk(dh, vm, &img, e);
	if (r == 0)
		r = make_seed(dh, vm, e);
	if (r == 0) {
		/* data volumes named at create time */
		json_t *list = json_array(), *v;
		size_t i;

		json_array_foreach(json_object_get(vm->spec, "attached_volumes"), i, v)
		{
			if (jstr(v, "kind") && strcmp(jstr(v, "kind"), "data") != 0)
				continue;
			if (uuid_valid(jstr(v, "id")))
				json_array_append_new(list,
				                      json_pack("{s:s}", "id", jstr(v, "id")));
		}
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

static int qemu_vm_destroy(struct driver_host *dh, const struct journal_vm *jvm,
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
	qvm_remove(dh, vm);
	return 0;
}

/* --- volumes ----------------------------------------------------------- */

static int qemu_volume_create(struct driver_host *dh, const json_t *payload, struct driver_err *e)
{
	const char *id = jstr(payload, "volume_id");
	int64_t gb = jint(json_object_get(payload, "volume"), "size_gb", 0);
	char *path, size[32];
	int r;

	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	if (gb < 1)
		return driver_fail(e, "InvalidArgument", "the volume has no size_gb");
	path = volume_path(dh, id);
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
	path = volume_path(dh, id);
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
	json_t *list, *v;
	char node[32], *path;
	size_t i;
	int r = 0;

	if (!vm)
		return -1;
	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad volume id");
	path = volume_path(dh, id);
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
			r = qmp_execute(vm->q, "device_add",
			                json_pack("{s:s,s:s,s:s}", "driver", "virtio-blk-pci",
			                          "drive", node, "id", node),
			                QMP_TIMEOUT_MS, NULL, e->message, sizeof(e->message));
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
	json_array_append_new(list, json_pack("{s:s}", "id", id));
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
	if (!strcmp(jvm->state, "running") || !strcmp(jvm->state, "paused")) {
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
	.vm_console = qemu_vm_console,
	.vm_create = qemu_vm_create,
	.vm_start = qemu_vm_start,
	.vm_stop = qemu_vm_stop,
	.vm_reboot = qemu_vm_reboot,
	.vm_pause = qemu_vm_pause,
	.vm_resume = qemu_vm_resume,
	.vm_destroy = qemu_vm_destroy,
	.volume_create = qemu_volume_create,
	.volume_delete = qemu_volume_delete,
	.volume_attach = qemu_volume_attach,
	.volume_detach = qemu_volume_detach,
};
