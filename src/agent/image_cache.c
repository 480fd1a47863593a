// SPDX-License-Identifier: MIT
/*
 * The per-host image cache (image_cache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/image_cache.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define TAR_BLOCK 512
#define KERNEL_MEMBER_MAX ((int64_t)1 << 31) /* 2 GiB: more is not a kernel or initrd */

/* One fetch at a time: a second VM of the same image waits and then finds
 * it cached. */
static pthread_mutex_t fetch_lock = PTHREAD_MUTEX_INITIALIZER;

void image_files_clear(struct image_files *f)
{
	free(f->disk);
	free(f->kernel);
	free(f->initrd);
	free(f->cmdline);
	memset(f, 0, sizeof(*f));
}

int image_file_sha256(const char *path, char out[65])
{
	crypto_hash_sha256_state st;
	unsigned char md[crypto_hash_sha256_BYTES];
	unsigned char buf[64 * 1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	close(fd);
	crypto_hash_sha256_final(&st, md);
	sodium_bin2hex(out, 65, md, sizeof(md));
	return 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Octal field of a tar header. */
static int copy_out(int fd, int64_t size, const char *dest)
{
	char buf[64 * 1024];
	int out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (out < 0)
		return -errno;
	while (size > 0 && r == 0) {
		size_t want = size > (int64_t)sizeof(buf) ? sizeof(buf) : (size_t)size;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EPROTO;
			break;
		}
		if (write(out, buf, (size_t)n) != n)
			r = -EIO;
		size -= n;
	}
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

int image_untar_kernel(const char *path, const char *dir, struct driver_err *e)
{
	unsigned char h[TAR_BLOCK];
	bool have_kernel = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return driver_fail(e, "Internal", "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		char name[101];
		const char *base;
		int64_t size, padded;
		ssize_t n = read(fd, h, sizeof(h));
		unsigned sum = 0, want;

		if (n == 0)
			break; /* end without the two zero blocks: accepted */
		if (n != TAR_BLOCK) {
			r = driver_fail(e, "BadImage", "kernel image: truncated tar archive");
			break;
		}
		if (h[0] == '\0')
			break; /* end-of-archive block */
		for (int i = 0; i < TAR_BLOCK; i++)
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		want = (unsigned)parse_octal((const char *)h + 148, 8);
		if (sum != want) {
			r = driver_fail(e, "BadImage",
			                "kernel image: not a tar archive (bad header checksum)");
			break;
		}
		memcpy(name, h, 100);
		name[100] = '\0';
		size = parse_octal((const char *)h + 124, 12);
		if (size < 0 || size > KERNEL_MEMBER_MAX) {
			r = driver_fail(e, "BadImage", "kernel image: member %s has a bad size",
			                name);
			break;
		}
		padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		base = name;
		if (!strncmp(base, "./", 2))
			base += 2;
		if ((h[156] == '0' || h[156] == '\0') &&
		    (!strcmp(base, "kernel") || !strcmp(base, "initrd") ||
		     !strcmp(base, "cmdline"))) {
			char *dest = xasprintf("%s/%s", dir, base);

			r = copy_out(fd, size, dest);
			free(dest);
			if (r < 0) {
				driver_fail(e, r == -EPROTO ? "BadImage" : "Internal",
				            "kernel image: cannot unpack %s: %s", base,
				            r == -EPROTO ? "truncated" : strerror(-r));
				break;
			}
			if (padded > size && lseek(fd, padded - size, SEEK_CUR) < 0) {
				r = driver_fail(e, "Internal", "seek: %s", strerror(errno));
				break;
			}
			if (!strcmp(base, "kernel"))
				have_kernel = size > 0;
		} else if (lseek(fd, padded, SEEK_CUR) < 0) {
			r = driver_fail(e, "Internal", "seek: %s", strerror(errno));
			break;
		}
	}
	close(fd);
	if (r == 0 && !have_kernel)
		r = driver_fail(e, "BadImage", "the kernel image has no kernel");
	return r;
}

static int fill(const char *dir, const char *format, struct image_files *ret, struct driver_err *e)
{
	snprintf(ret->format, sizeof(ret->format), "%s", format);
	if (strcmp(format, "kernel") != 0) {
		ret->disk = xasprintf("%s/data", dir);
		return 0;
	}
	ret->kernel = xasprintf("%s/kernel", dir);
	ret->initrd = xasprintf("%s/initrd", dir);
	if (!exists(ret->initrd)) {
		free(ret->initrd);
		ret->initrd = NULL;
	}
	{
		char *p = xasprintf("%s/cmdline", dir), *data = NULL;
		size_t len = 0;

		if (file_read(p, IMAGE_CMDLINE_MAX, &data, &len) == 0) {
			/* one line; control characters would reach QEMU's argv */
			for (size_t i = 0; i < len; i++)
				if ((unsigned char)data[i] < 0x20)
					data[i] = ' ';
			while (len > 0 && data[len - 1] == ' ')
				data[--len] = '\0';
			ret->cmdline = data;
		} else {
			ret->cmdline = xstrdup("");
		}
		free(p);
	}
	return 0;
}

int image_cache_get(const struct driver_env *env, const json_t *img, struct image_files *ret,
                    struct driver_err *e)
{
	const char *id = jstr(img, "id"), *format = jstr(img, "format");
	const char *sha = jstr(img, "sha256"), *status = jstr(img, "status");
	char *dir = NULL, *ok = NULL, *data = NULL, *path = NULL, *kernel = NULL;
	char got[65];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!id || !format)
		return driver_fail(e, "InvalidArgument", "the vm names no image");
	if (!uuid_valid(id))
		return driver_fail(e, "InvalidArgument", "bad image id");
	if (strcmp(format, "qcow2") && strcmp(format, "raw") && strcmp(format, "kernel"))
		return driver_fail(e, "BadImage", "image %s has format %s, which cannot boot", id,
		                   format);
	if (status && strcmp(status, "active") != 0 && strcmp(status, "ready") != 0)
		return driver_fail(e, "ImageNotReady", "image %s is %s, not active", id, status);
	if (!sha || strlen(sha) != 64)
		return driver_fail(e, "ImageNotReady", "image %s has no sha256 yet", id);

	dir = xasprintf("%s/images/%s", env->dir, id);
	ok = xasprintf("%s/ok", dir);
	data = xasprintf("%s/data", dir);
	kernel = xasprintf("%s/kernel", dir);
	pthread_mutex_lock(&fetch_lock);
	{
		char *have = NULL;
		size_t len = 0;

		/* cached, and still there (a file removed under us is fetched again) */
		if (file_read(ok, 128, &have, &len) == 0 && len >= 64 && !strncmp(have, sha, 64) &&
		    exists(data) && (strcmp(format, "kernel") != 0 || exists(kernel))) {
			free(have);
			r = 0;
			goto done;
		}
		free(have);
	}
	r = mkdir_p(dir, 0700);
	if (r < 0) {
		driver_fail(e, "Internal", "cannot create %s: %s", dir, strerror(-r));
		goto done;
	}
	unlink(ok);
	path = xasprintf("/agent/v1/images/%s/data", id);
	log_info("fetching image %s (%s) from kumod", id, format);
	r = env->fetch(env->cls, path, data, e);
	if (r < 0)
		goto done;
	r = image_file_sha256(data, got);
	if (r < 0) {
		driver_fail(e, "Internal", "cannot read %s: %s", data, strerror(-r));
		goto done;
	}
	if (strcmp(got, sha) != 0) {
		unlink(data);
		r = driver_fail(e, "ChecksumMismatch",
		                "image %s: the bytes fetched have sha256 %s, the image says %s", id,
		                got, sha);
		goto done;
	}
	if (!strcmp(format, "kernel")) {
		r = image_untar_kernel(data, dir, e);
		if (r < 0)
			goto done;
	}
	r = file_write_atomic(ok, sha, 64, 0600);
	if (r < 0)
		driver_fail(e, "Internal", "cannot write %s: %s", ok, strerror(-r));
	else
		log_info("image %s cached in %s", id, dir);
done:
	pthread_mutex_unlock(&fetch_lock);
	if (r == 0)
		r = fill(dir, format, ret, e);
	free(path);
	free(kernel);
	free(data);
	free(ok);
	free(dir);
	return r;
}
