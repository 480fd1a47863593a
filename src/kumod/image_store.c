// SPDX-License-Identifier: MIT
/*
 * Image bytes on the management node (see image_store.h): the store
 * directory and the removal of uploads cut off by a restart, streamed
 * writes with their sha256, the format checks (qemu-img for disks, the tar
 * layout of kernel images), copies of files already on the management node,
 * and opening and removing images.
 *
 * Not here: records, tenancy, HTTP (api_image.c). Nothing here logs above
 * debug but the one line at start about leftover uploads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/image_store.h"
#include "kumod/kumod.h"

#define WRITE_BUF_SIZE (256 * 1024)
#define COPY_BUF_SIZE (1024 * 1024)
#define TAR_BLOCK 512
#define KERNEL_MEMBER_MAX ((int64_t)1 << 31) /* the agent's limit too */
#define BZIMAGE_MAGIC_OFFSET 0x202
/* qemu-img: bounded in time, memory and output (it parses untrusted files). */
#define QEMU_IMG_TIMEOUT_MS 60000
#define QEMU_IMG_CPU_S 30
#define QEMU_IMG_AS_BYTES ((rlim_t)2 << 30)
#define QEMU_IMG_OUT_MAX (1024 * 1024)

struct image_writer {
	char *part;  /* owned */
	char *final; /* owned */
	int fd;
	uint64_t size;
	uint64_t max;
	crypto_hash_sha256_state sha;
	unsigned char *buf; /* owned, WRITE_BUF_SIZE; bytes not yet written */
	size_t blen;
};

/* --- the directory ------------------------------------------------------ */

static char *store_dir;
static pthread_once_t store_once = PTHREAD_ONCE_INIT;

/* Creates DATA/images and removes the .part files a previous run left: no
 * upload survives a restart (its connection is gone). */
static void store_init(void)
{
	const char *data = kumod_cfg.data_dir ? kumod_cfg.data_dir : ".";
	struct dirent *de;
	int n = 0, r;
	DIR *d;

	store_dir = xasprintf("%s/images", data);
	r = mkdir_p(store_dir, 0700);
	if (r < 0) {
		log_warn("cannot create %s: %s", store_dir, strerror(-r));
		return;
	}
	d = opendir(store_dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len > 5 && !strcmp(de->d_name + len - 5, ".part") &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("removed %d unfinished image upload(s) from %s", n, store_dir);
}

static const char *dir(void)
{
	pthread_once(&store_once, store_init);
	return store_dir;
}

char *image_path(const char *id)
{
	return xasprintf("%s/%s", dir(), id);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void sync_dir(void)
{
	int fd = open(dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* A failure of kumod's own disk: a 500 without kumod's paths in it (never
 * the errno itself: -EACCES would be a 401, -ENOSPC a 409). */
static int io_error(struct kerr *e, int r, const char *what, const char *path)
{
	log_debug("image store: cannot %s %s: %s", what, path, strerror(-r));
	return kerr_set(e, -EIO, "", "cannot %s the image's bytes: %s", what, strerror(-r));
}

/* --- writers ------------------------------------------------------------ */

int image_writer_open(const char *id, uint64_t max, struct image_writer **ret, struct kerr *e)
{
	struct image_writer *w = xcalloc(1, sizeof(*w));

	w->final = image_path(id);
	w->part = xasprintf("%s.part", w->final);
	w->fd = open(w->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		int r = -errno;

		free(w->part);
		free(w->final);
		free(w);
		if (r == -EEXIST)
			return kerr_set(e, -EBUSY, "", "an upload of image %s is already under way",
			                id);
		return kerr_set(e, -EIO, "", "cannot create the image file: %s", strerror(-r));
	}
	w->max = max;
	w->buf = xmalloc(WRITE_BUF_SIZE);
	crypto_hash_sha256_init(&w->sha);
	*ret = w;
	return 0;
}

static int writer_flush(struct image_writer *w, struct kerr *e)
{
	int r;

	if (w->blen == 0)
		return 0;
	r = write_all(w->fd, w->buf, w->blen);
	if (r < 0)
		return io_error(e, r, "write", w->part);
	w->blen = 0;
	return 0;
}

int image_writer_write(struct image_writer *w, const void *data, size_t len, struct kerr *e)
{
	const unsigned char *p = data;
	int r;

	if (len > w->max - w->size)
		return kerr_set(e, -EMSGSIZE, "", "the image is over the limit of %llu bytes",
		                (unsigned long long)w->max);
	crypto_hash_sha256_update(&w->sha, p, len);
	w->size += len;
	while (len > 0) {
		size_t n = WRITE_BUF_SIZE - w->blen;

		if (n > len)
			n = len;
		memcpy(w->buf + w->blen, p, n);
		w->blen += n;
		p += n;
		len -= n;
		if (w->blen == WRITE_BUF_SIZE) {
			r = writer_flush(w, e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

uint64_t image_writer_size(const struct image_writer *w)
{
	return w->size;
}

static void writer_free(struct image_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w->part);
	free(w->final);
	free(w);
}

void image_writer_abort(struct image_writer *w)
{
	if (!w)
		return;
	unlink(w->part);
	writer_free(w);
}

int image_writer_finish(struct image_writer *w, const char *format, const char *want_sha,
                        int64_t want_size, struct image_info *ret, struct kerr *e)
{
	unsigned char md[crypto_hash_sha256_BYTES];
	struct image_info info = { .virtual_size = -1 };
	int r;

	r = writer_flush(w, e);
	if (r == 0 && fsync(w->fd) < 0)
		r = io_error(e, -errno, "sync", w->part);
	if (r == 0 && close(w->fd) < 0)
		r = io_error(e, -errno, "close", w->part);
	w->fd = -1;
	if (r < 0)
		goto fail;
	crypto_hash_sha256_final(&w->sha, md);
	sodium_bin2hex(info.sha256, sizeof(info.sha256), md, sizeof(md));
	info.size = w->size;
	if (w->size == 0) {
		r = kerr_set(e, -EINVAL, "", "the image is empty");
		goto fail;
	}
	if (want_size > 0 && (uint64_t)want_size != w->size) {
		r = kerr_set(e, -EINVAL, "size",
		             "size mismatch: the image record says %lld bytes, %llu came",
		             (long long)want_size, (unsigned long long)w->size);
		goto fail;
	}
	if (want_sha && strcasecmp(want_sha, info.sha256) != 0) {
		r = kerr_set(e, -EINVAL, "sha256",
		             "sha256 mismatch: the image record says %s, the bytes have %s",
		             want_sha, info.sha256);
		goto fail;
	}
	r = image_check_format(w->part, format, &info.virtual_size, e);
	if (r < 0)
		goto fail;
	if (rename(w->part, w->final) < 0) {
		r = io_error(e, -errno, "rename", w->part);
		goto fail;
	}
	sync_dir(); /* the rename survives a crash before the record says active */
	writer_free(w);
	*ret = info;
	return 0;
fail:
	image_writer_abort(w);
	return r;
}

/* --- import of a file on the management node --------------------------- */

/* Reads fd to its end into the writer: copied (and hashed), or, after a
 * reflink put the bytes there already, only hashed. */
static int read_fd(struct image_writer *w, int fd, bool copy, struct kerr *e)
{
	unsigned char *buf = xmalloc(COPY_BUF_SIZE);
	int r = 0;

	for (;;) {
		ssize_t n = read(fd, buf, COPY_BUF_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = kerr_set(e, -EIO, "source_path", "cannot read the file: %s",
			             strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (copy) {
			r = image_writer_write(w, buf, (size_t)n, e);
			if (r < 0)
				break;
			continue;
		}
		if ((uint64_t)n > w->max - w->size) {
			r = kerr_set(e, -EMSGSIZE, "source_path",
			             "the image is over the limit of %llu bytes",
			             (unsigned long long)w->max);
			break;
		}
		crypto_hash_sha256_update(&w->sha, buf, (size_t)n);
		w->size += (uint64_t)n;
	}
	free(buf);
	return r;
}

int image_import(const char *src, const char *id, const char *format, const char *want_sha,
                 int64_t want_size, uint64_t max, struct image_info *ret, struct kerr *e)
{
	struct image_writer *w = NULL;
	struct stat st;
	int fd, r;

	if (src[0] != '/')
		return kerr_set(e, -EINVAL, "source_path", "source_path must be an absolute path");
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return kerr_set(e, -EINVAL, "source_path", "cannot open %s: %s", src,
		                strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kerr_set(e, -EINVAL, "source_path", "%s is not a regular file", src);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return kerr_set(e, -EMSGSIZE, "source_path",
		                "%s is over the image limit of %llu bytes", src,
		                (unsigned long long)max);
	}
	r = image_writer_open(id, max, &w, e);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (ioctl(w->fd, FICLONE, fd) == 0)
		r = read_fd(w, fd, false, e);
	else
		r = read_fd(w, fd, true, e);
	close(fd);
	if (r < 0) {
		image_writer_abort(w);
		return r;
	}
	return image_writer_finish(w, format, want_sha, want_size, ret, e);
}

/* --- qemu-img ------------------------------------------------------------ */

/* The absolute path of qemu-img in PATH (found before fork: the child only
 * calls async-signal-safe functions). malloc'd or NULL. */
static char *find_qemu_img(void)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *found = NULL;

	if (str_empty(path))
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	copy = xstrdup(path);
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/qemu-img", d);

		if (d[0] == '/' && access(p, X_OK) == 0) {
			found = p;
			break;
		}
		free(p);
	}
	free(copy);
	return found;
}

static void drain_pipe(int fd, struct buf *b, bool *open_)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*open_ = false;
		return;
	}
	if (b->len + (size_t)n <= b->max)
		buf_append(b, tmp, (size_t)n);
}

/* Runs qemu-img with args (argv[0] is replaced), stdin from /dev/null;
 * collects stdout and stderr. 0 and *ret_status (the exit status, or -1
 * when killed), or -errno when it could not be run. */
static int run_qemu_img(const char *const args[], struct buf *out, struct buf *err, int *ret_status)
{
	char *prog = find_qemu_img();
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	bool oopen = true, eopen = true;
	int64_t deadline = mono_ms() + QEMU_IMG_TIMEOUT_MS;
	int status = 0, r = 0;
	pid_t pid;

	if (!prog)
		return -ENOENT;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		struct rlimit cpu = { QEMU_IMG_CPU_S, QEMU_IMG_CPU_S };
		struct rlimit as = { QEMU_IMG_AS_BYTES, QEMU_IMG_AS_BYTES };
		int nul = open("/dev/null", O_RDONLY);

		if (nul < 0 || dup2(nul, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		setrlimit(RLIMIT_CPU, &cpu);
		setrlimit(RLIMIT_AS, &as);
		execv(prog, (char *const *)args);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	while (oopen || eopen) {
		struct pollfd pfd[2] = { { oopen ? po[0] : -1, POLLIN, 0 },
			                 { eopen ? pe[0] : -1, POLLIN, 0 } };
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = poll(pfd, 2, (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pfd[0].revents)
			drain_pipe(po[0], out, &oopen);
		if (pfd[1].revents)
			drain_pipe(pe[0], err, &eopen);
	}
	if (oopen || eopen)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(prog);
	return r;
}

/* The first line of qemu-img's complaint, without the file's path (kumod's
 * data directory is nobody's business): "qemu-img: Could not open
 * '/x/y.part': Image is not in qcow2 format" -> "Image is not in qcow2
 * format". */
static void first_line(struct buf *b, char *out, size_t outlen)
{
	const char *s = b->data ? b->data : "", *p, *last = NULL;
	size_t n = strcspn(s, "\n");

	for (p = strstr(s, "': "); p && p < s + n; p = strstr(p + 3, "': "))
		last = p;
	if (last) {
		n -= (size_t)(last + 3 - s);
		s = last + 3;
	}
	if (str_startswith(s, "qemu-img: ")) {
		s += 10;
		n -= 10;
	}
	snprintf(out, outlen, "%.*s", (int)(n > 300 ? 300 : n), s);
	if (!out[0])
		snprintf(out, outlen, "qemu-img cannot read it");
}

static int check_disk(const char *path, const char *format, int64_t *ret_vsize, struct kerr *e)
{
	bool raw = !strcmp(format, "raw");
	/* raw: let qemu-img probe, so that another format in disguise shows */
	const char *args_raw[] = { "qemu-img", "info", "--output=json", path, NULL };
	const char *args_fmt[] = { "qemu-img", "info", "--output=json", "-f", format, path, NULL };
	struct buf out, err;
	json_t *info = NULL, *data;
	const char *got;
	char why[320];
	int status = 0, r;

	buf_init(&out, QEMU_IMG_OUT_MAX);
	buf_init(&err, QEMU_IMG_OUT_MAX);
	r = run_qemu_img(raw ? args_raw : args_fmt, &out, &err, &status);
	if (r < 0) {
		r = kerr_set(e, -EIO, "", "cannot run qemu-img: %s", strerror(-r));
		goto out;
	}
	if (status != 0) {
		first_line(&err, why, sizeof(why));
		r = kerr_set(e, -EINVAL, "format", "not a valid %s image: %s", format,
		             status < 0 ? "qemu-img took too long or too much memory" : why);
		goto out;
	}
	info = jparse(out.data ? out.data : "", out.len, NULL, 0);
	got = jstr(info, "format");
	if (!got) {
		r = kerr_set(e, -EIO, "", "qemu-img answered no format");
		goto out;
	}
	if (strcmp(got, format) != 0) {
		r = kerr_set(e, -EINVAL, "format",
		             "the image was declared %s but its bytes are a %s image", format, got);
		goto out;
	}
	if (jstr(info, "backing-filename") || jstr(info, "full-backing-filename")) {
		r = kerr_set(e, -EINVAL, "format",
		             "the image has a backing file (%.200s): only self-contained images "
		             "are accepted",
		             jstr(info, "backing-filename") ? jstr(info, "backing-filename")
		                                            : jstr(info, "full-backing-filename"));
		goto out;
	}
	data = json_object_get(json_object_get(info, "format-specific"), "data");
	if (jstr(data, "data-file")) {
		r = kerr_set(e, -EINVAL, "format",
		             "the image has an external data file: only self-contained images "
		             "are accepted");
		goto out;
	}
	if (jbool(data, "corrupt", false)) {
		r = kerr_set(e, -EINVAL, "format", "the qcow2 image is marked corrupt");
		goto out;
	}
	if (jint(info, "virtual-size", -1) < 0) {
		r = kerr_set(e, -EINVAL, "format", "the image has no virtual size");
		goto out;
	}
	*ret_vsize = jint(info, "virtual-size", -1);
	r = 0;
out:
	json_decref(info);
	buf_free(&out);
	buf_free(&err);
	return r;
}

/* --- kernel images ---------------------------------------------------- */

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EPROTO;
}

/* Walks the archive the way the agent unpacks it (agent/image_cache.c). */
static int check_kernel(const char *path, struct kerr *e)
{
	static const char *const members[] = { "kernel", "initrd", "cmdline" };
	bool seen[3] = { false, false, false };
	unsigned char h[TAR_BLOCK];
	struct stat st;
	off_t off = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kerr_set(e, -EIO, "", "cannot open the image: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = kerr_set(e, -EIO, "", "cannot stat the image: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		char name[101];
		const char *base;
		int64_t size, padded;
		unsigned sum = 0;
		int m = -1;

		if (off == st.st_size)
			break; /* no end-of-archive blocks: the agent accepts that too */
		if (off + TAR_BLOCK > st.st_size || read_at(fd, h, TAR_BLOCK, off) < 0) {
			r = kerr_set(e, -EINVAL, "format", "kernel image: truncated tar archive");
			goto out;
		}
		if (h[0] == '\0') { /* end-of-archive: a block of zeros */
			for (int i = 0; i < TAR_BLOCK; i++)
				if (h[i]) {
					r = kerr_set(e, -EINVAL, "format",
					             "kernel image: not a POSIX tar archive");
					goto out;
				}
			break;
		}
		for (int i = 0; i < TAR_BLOCK; i++)
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		if (memcmp(h + 257, "ustar", 5) != 0 || (int64_t)sum != parse_octal(h + 148, 8)) {
			r = kerr_set(e, -EINVAL, "format",
			             "kernel image: not a POSIX tar archive%s",
			             off ? " (a bad header inside)" : "");
			goto out;
		}
		memcpy(name, h, 100);
		name[100] = '\0';
		/* names reach error messages: printable only */
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		size = parse_octal(h + 124, 12);
		if (size < 0 || size > KERNEL_MEMBER_MAX) {
			r = kerr_set(e, -EINVAL, "format", "kernel image: member %s has a bad size",
			             name);
			goto out;
		}
		padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		if (off + TAR_BLOCK + size > st.st_size) {
			r = kerr_set(e, -EINVAL, "format",
			             "kernel image: truncated tar archive (member %s)", name);
			goto out;
		}
		base = !strncmp(name, "./", 2) ? name + 2 : name;
		for (int i = 0; i < 3; i++)
			if (!strcmp(base, members[i]))
				m = i;
		if (m >= 0 && h[156] != '0' && h[156] != '\0') {
			r = kerr_set(e, -EINVAL, "format",
			             "kernel image: member %s is not a regular file", base);
			goto out;
		}
		if (m >= 0 && seen[m]) {
			r = kerr_set(e, -EINVAL, "format", "kernel image: member %s appears twice",
			             base);
			goto out;
		}
		if (m == 0) {
			unsigned char magic[4];

			if (size < BZIMAGE_MAGIC_OFFSET + 4 ||
			    read_at(fd, magic, 4, off + TAR_BLOCK + BZIMAGE_MAGIC_OFFSET) < 0 ||
			    memcmp(magic, "HdrS", 4) != 0) {
				r = kerr_set(e, -EINVAL, "format",
				             "kernel image: member kernel is not a Linux kernel "
				             "(no bzImage header)");
				goto out;
			}
		}
		if (m == 2 && size > IMAGE_KERNEL_CMDLINE_MAX) {
			r = kerr_set(e, -EINVAL, "format", "kernel image: cmdline is over %d bytes",
			             IMAGE_KERNEL_CMDLINE_MAX);
			goto out;
		}
		if (m >= 0)
			seen[m] = true;
		off += TAR_BLOCK + padded;
		if (off > st.st_size)
			off = st.st_size; /* the last member's padding may be cut */
	}
	if (!seen[0])
		r = kerr_set(e, -EINVAL, "format",
		             "kernel image: the archive has no member named kernel");
out:
	close(fd);
	return r;
}

int image_check_format(const char *path, const char *format, int64_t *ret_virtual_size,
                       struct kerr *e)
{
	int64_t vsize = -1;
	int r;

	if (!strcmp(format, "kernel"))
		r = check_kernel(path, e);
	else if (!strcmp(format, "qcow2") || !strcmp(format, "raw"))
		r = check_disk(path, format, &vsize, e);
	else
		r = kerr_set(e, -EINVAL, "format", "unknown image format %s", format);
	if (r == 0)
		*ret_virtual_size = vsize;
	return r;
}

/* --- reading and removing ---------------------------------------------- */

int image_open(const char *id, int *ret_fd, uint64_t *ret_size)
{
	char *p = image_path(id);
	struct stat st;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	free(p);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int image_remove(const char *id)
{
	char *p = image_path(id), *part = xasprintf("%s.part", p);
	int r = 0;

	if (unlink(p) < 0 && errno != ENOENT)
		r = -errno;
	if (unlink(part) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	free(part);
	free(p);
	return r;
}
