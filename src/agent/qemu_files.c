// SPDX-License-Identifier: MIT
/*
 * The files of the qemu driver's VMs (qemu_vm.h), under DIR/hosts/<i>/:
 *   volumes/<id>.qcow2    data volumes
 *   vms/<id>/disk.qcow2   the root disk: an overlay on the cached image (or
 *                         empty for kernel images), grown to root_disk_gb
 *   vms/<id>/seed.img     the NoCloud cidata seed (vfat): meta-data, user-data
 *   vms/<id>/volumes.json the data volumes attached, in order
 *   vms/<id>/console.log  the serial port (+ console.log.1, console.base)
 * and the small process helpers both halves of the driver use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/qemu_vm.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

/* The last line QEMU wrote to qemu.err, for error messages. */
void err_tail(const struct qvm *vm, char *out, size_t len)
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
int run_argv(char *const argv[], const char *dir, const char *errfile, int timeout_ms,
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

void arg(struct args *a, const char *fmt, ...)
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

void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

char *volume_path(struct driver_host *dh, const char *vol_id)
{
	return volume_path_in(dh, NULL, vol_id);
}

/* --- storage pools ------------------------------------------------------- */

char *volume_path_in(struct driver_host *dh, const char *pool_path, const char *vol_id)
{
	if (pool_path)
		return xasprintf("%s/volumes/%s.qcow2", pool_path, vol_id);
	return xasprintf("%s/volumes/%s.qcow2", dh->env->dir, vol_id);
}

char *root_disk_path(const struct qvm *vm)
{
	const char *pool = pool_shared_path(vm->spec);

	if (pool)
		return xasprintf("%s/vms/%s/disk.qcow2", pool, vm->id);
	return xasprintf("%s/disk.qcow2", vm->dir);
}

/* Where make_seed puts the seed. */
static char *seed_home(const struct qvm *vm)
{
	const char *pool = pool_shared_path(vm->spec);

	return pool ? xasprintf("%s/vms/%s/seed.img", pool, vm->id)
	            : xasprintf("%s/seed.img", vm->dir);
}

char *seed_path(const struct qvm *vm)
{
	char *p = seed_home(vm), *local;

	if (!pool_shared_path(vm->spec) || access(p, F_OK) == 0)
		return p;
	local = xasprintf("%s/seed.img", vm->dir);
	if (access(local, F_OK) == 0) {
		free(p); /* made before seeds went to the pool */
		return local;
	}
	free(local);
	return p;
}

int pool_check(const char *pool_path, const char *sub, struct driver_err *e)
{
	struct stat sb;
	char *dir;
	int r;

	if (stat(pool_path, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return driver_fail(e, "PoolUnavailable",
		                   "the shared pool %s is not mounted on this host", pool_path);
	if (access(pool_path, W_OK) < 0)
		return driver_fail(e, "PoolUnavailable", "the shared pool %s is not writable: %s",
		                   pool_path, strerror(errno));
	if (!sub)
		return 0;
	dir = xasprintf("%s/%s", pool_path, sub);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		driver_fail(e, "PoolUnavailable", "cannot create %s: %s", dir, strerror(-r));
	free(dir);
	return r < 0 ? -1 : 0;
}

int pool_has_vm(const char *pool_path, const char *vm_id, struct driver_err *e)
{
	char *disk;
	int r;

	if (!pool_path)
		return driver_fail(e, "InvalidArgument", "shared storage but no shared pool");
	if (pool_check(pool_path, NULL, e) < 0)
		return -1;
	disk = xasprintf("%s/vms/%s/disk.qcow2", pool_path, vm_id);
	r = access(disk, R_OK);
	free(disk);
	if (r < 0)
		return driver_fail(
		    e, "PoolUnavailable",
		    "the vm's disk is not on the shared pool %s on this host: is the "
		    "pool mounted here?",
		    pool_path);
	return 0;
}

/* The base image of a VM on a shared pool must be where every host of the
 * pool finds it at the same path: <pool>/images/<image id>.<format>, copied
 * once from this host's cache (under a lock, to a temporary name first, so
 * that two hosts never see half a file). */
static int shared_base(const char *pool, const json_t *image, const struct image_files *img,
                       char **ret, struct driver_err *e)
{
	const char *id = jstr(image, "id");
	char *dst, *tmp, *lockp;
	int fd, r = 0, st = 0;

	if (!id || !uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "the vm's image has no id");
	if (pool_check(pool, "images", e) < 0)
		return -1;
	dst = xasprintf("%s/images/%s.%s", pool, id, img->format);
	tmp = xasprintf("%s.part", dst);
	lockp = xasprintf("%s.lock", dst);
	fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		r = driver_fail(e, "PoolUnavailable", "cannot lock %s: %s", lockp, strerror(errno));
		goto out;
	}
	if (access(dst, R_OK) < 0) {
		char *cp[] = { "cp", "--sparse=always", "--", img->disk, tmp, NULL };

		unlink(tmp);
		r = run_argv(cp, NULL, NULL, 600000, &st);
		if (r == 0 && rename(tmp, dst) < 0)
			r = -errno;
		if (r < 0) {
			unlink(tmp);
			driver_fail(e, "PoolUnavailable", "cannot copy the image to the pool %s",
			            pool);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(lockp);
	free(tmp);
	if (r < 0) {
		free(dst);
		return -1;
	}
	*ret = dst;
	return 0;
}

/* --- attached volumes (volumes.json) ------------------------------------ */

json_t *volumes_load(const struct qvm *vm)
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

int volumes_save(const struct qvm *vm, const json_t *list)
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
int make_seed(struct driver_host *dh, struct qvm *vm, struct driver_err *e)
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
		char *seed = seed_home(vm);
		char *tmp = xasprintf("%s/seed.img.tmp", vm->dir);
		char *errf = xasprintf("%s/seed.err", vm->dir);

		r = file_write_atomic(mdp, md.data, md.len, 0600);
		if (r == 0)
			r = file_write_atomic(udp, ud.data ? ud.data : "", ud.len, 0600);
		if (r < 0) {
			driver_fail(e, "Internal", "cannot write the seed files: %s", strerror(-r));
		} else {
			char *mk[] = { "mkfs.vfat", "-C", "-n", "cidata", tmp, "1024", NULL };
			char *cp[] = { "mcopy", "-o", "-i", tmp, mdp, udp, "::", NULL };

			/* made aside and renamed over: a QEMU that has the old one
			 * open keeps it whole (on a shared pool, the seed is the
			 * VM's on every host) */
			unlink(tmp);
			r = run_argv(mk, NULL, errf, 30000, &st);
			if (r == 0)
				r = run_argv(cp, NULL, errf, 30000, &st);
			if (r < 0)
				driver_fail(e, "Internal",
				            "cannot make the cidata seed (mkfs.vfat/mcopy): %s",
				            r == -ECHILD ? "failed" : strerror(-r));
			else if (rename(tmp, seed) < 0)
				r = driver_fail(e, "Internal", "cannot put the seed at %s: %s",
				                seed, strerror(errno));
		}
		unlink(tmp);
		unlink(mdp);
		unlink(udp);
		unlink(errf);
		free(errf);
		free(tmp);
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
int qemu_img_create(const char *path, const char *backing_fmt, const char *backing,
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

int make_root_disk(struct driver_host *dh, struct qvm *vm, const struct image_files *img,
                   bool *ret_made, struct driver_err *e)
{
	int64_t gb = jint(vm->spec, "root_disk_gb", 0);
	const char *pool = pool_shared_path(vm->spec);
	char *disk = root_disk_path(vm), *base = NULL;
	char *errf = xasprintf("%s/qemu.err", vm->dir);
	char size[32], why[ERR_TAIL];
	int r;

	*ret_made = false;
	if (pool) {
		char *sub = xasprintf("vms/%s", vm->id);

		r = pool_check(pool, sub, e);
		free(sub);
		if (r < 0)
			goto out;
		if (access(disk, F_OK) == 0) {
			/* its disk is on the pool already: the VM is started here
			 * after its host was lost, or moved here */
			r = 0;
			goto out;
		}
		if (img->disk) {
			r = shared_base(pool, json_object_get(vm->spec, "image"), img, &base, e);
			if (r < 0)
				goto out;
		}
	}
	if (gb <= 0)
		gb = 1;
	snprintf(size, sizeof(size), "%lldG", (long long)gb);
	{
		const char *backing = base ? base : img->disk;

		r = qemu_img_create(disk, img->format, backing, size, errf);
		if (r < 0 && backing) /* an image larger than the root size: keep its size */
			r = qemu_img_create(disk, img->format, backing, NULL, errf);
	}
	if (r < 0) {
		err_tail(vm, why, sizeof(why));
		driver_fail(e, "DiskFailed", "cannot create the root disk: %s",
		            why[0] ? why : strerror(-r));
	} else {
		*ret_made = true;
	}
out:
	free(base);
	free(errf);
	free(disk);
	return r;
}

void remove_shared_disks(const struct qvm *vm)
{
	const char *pool = pool_shared_path(vm->spec);
	char *dir;

	if (!pool)
		return;
	dir = xasprintf("%s/vms/%s", pool, vm->id);
	if (rm_rf(dir) < 0)
		log_warn("vm %s: cannot remove %s", vm->id, dir);
	free(dir);
}

int rm_rf(const char *path)
{
	char *argv[] = { "rm", "-rf", "--one-file-system", (char *)path, NULL };

	return run_argv(argv, NULL, NULL, 60000, NULL);
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
void console_rotate(struct qvm *vm)
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
int qemu_vm_console(struct driver_host *dh, const struct journal_vm *jvm, int64_t offset,
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
