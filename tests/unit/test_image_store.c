// SPDX-License-Identifier: MIT
/*
 * kumod's image store (src/kumod/image_store.c): a writer's bytes land in
 * DATA/images/<id> only when their size, sha256 and format pass, and
 * nothing is left behind otherwise; one writer per image at a time; the
 * kernel tar layout is checked the way the agent unpacks it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "kumod/image_store.h"
#include "kumod/kumod.h"

#define ID "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
/* sha256("hello") */
#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_image_store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	kumod_cfg.data_dir = dir; /* the store lives in dir/images */
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static bool exists(const char *name)
{
	char *p = xasprintf("%s/images/%s", dir, name);
	bool r = access(p, F_OK) == 0;

	free(p);
	return r;
}

/* Everything in dir/images is removed between tests. */
static void clean(void)
{
	char *cmd = xasprintf("rm -f '%s'/images/*", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int write_bytes(const void *data, size_t len, uint64_t max, struct image_writer **ret)
{
	struct kerr e = { 0 };
	int r = image_writer_open(ID, max, ret, &e);

	if (r == 0)
		r = image_writer_write(*ret, data, len, &e);
	return r;
}

static void test_writer_checks_size_and_sha(void **state)
{
	struct image_writer *w = NULL;
	struct image_info info;
	struct kerr e = { 0 };

	/* a wrong sha256: refused, nothing left */
	assert_int_equal(write_bytes("hello", 5, 100, &w), 0);
	assert_int_equal(image_writer_size(w), 5);
	assert_int_equal(image_writer_finish(w, "raw", "00", -1, &info, &e), -EINVAL);
	assert_string_equal(e.field, "sha256");
	assert_non_null(strstr(e.message, HELLO_SHA));
	assert_false(exists(ID));
	assert_false(exists(ID ".part"));
	/* a wrong size: refused */
	assert_int_equal(write_bytes("hello", 5, 100, &w), 0);
	assert_int_equal(image_writer_finish(w, "raw", NULL, 6, &info, &e), -EINVAL);
	assert_string_equal(e.field, "size");
	assert_false(exists(ID ".part"));
	/* over the limit: the write fails; abort removes the part */
	assert_int_equal(write_bytes("hello", 5, 4, &w), -EMSGSIZE);
	image_writer_abort(w);
	assert_false(exists(ID ".part"));
	/* empty: refused */
	assert_int_equal(write_bytes("", 0, 4, &w), 0);
	assert_int_equal(image_writer_finish(w, "raw", NULL, -1, &info, &e), -EINVAL);
	clean();
}

static void test_writer_one_at_a_time(void **state)
{
	struct image_writer *w = NULL, *w2 = NULL;
	struct kerr e = { 0 };

	assert_int_equal(image_writer_open(ID, 100, &w, &e), 0);
	assert_true(exists(ID ".part"));
	assert_int_equal(image_writer_open(ID, 100, &w2, &e), -EBUSY);
	assert_null(w2);
	image_writer_abort(w);
	assert_false(exists(ID ".part"));
	image_writer_abort(NULL);
	clean();
}

/* --- kernel tars ---------------------------------------------------------- */

struct tar {
	unsigned char *data;
	size_t len;
};

static void tar_add(struct tar *t, const char *name, char type, const void *data, size_t len,
                    bool ustar)
{
	size_t padded = (len + 511) / 512 * 512;
	unsigned char *h;
	unsigned sum = 0;

	t->data = xrealloc(t->data, t->len + 512 + padded);
	h = t->data + t->len;
	memset(h, 0, 512 + padded);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "0000644");
	snprintf((char *)h + 124, 12, "%011zo", len);
	h[156] = (unsigned char)type;
	if (ustar)
		memcpy(h + 257,
		       "ustar\0"
		       "00",
		       8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	memcpy(h + 512, data, len);
	t->len += 512 + padded;
}

static void tar_end(struct tar *t)
{
	t->data = xrealloc(t->data, t->len + 1024);
	memset(t->data + t->len, 0, 1024);
	t->len += 1024;
}

static unsigned char kernel_bytes[0x300];

static int check_tar(struct tar *t, struct kerr *e)
{
	char *p = xasprintf("%s/k.tar", dir);
	int64_t vsize = 0;
	int r;

	assert_int_equal(file_write_atomic(p, t->data, t->len, 0600), 0);
	r = image_check_format(p, "kernel", &vsize, e);
	if (r == 0)
		assert_int_equal(vsize, -1);
	unlink(p);
	free(p);
	free(t->data);
	memset(t, 0, sizeof(*t));
	return r;
}

static void test_kernel_layout(void **state)
{
	char cmdline[5000];
	struct kerr e = { 0 };
	struct tar t = { 0 };

	memset(kernel_bytes, 0, sizeof(kernel_bytes));
	memcpy(kernel_bytes + 0x202, "HdrS", 4);
	memset(cmdline, 'x', sizeof(cmdline));

	/* kernel, initrd, cmdline (with ./ prefixes and another member) */
	tar_add(&t, "./kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_add(&t, "README", '0', "hi", 2, true);
	tar_add(&t, "./initrd", '0', "initrd", 6, true);
	tar_add(&t, "cmdline", '0', "console=ttyS0", 13, true);
	tar_end(&t);
	assert_int_equal(check_tar(&t, &e), 0);
	/* the kernel alone, no end blocks */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	assert_int_equal(check_tar(&t, &e), 0);

	/* no kernel */
	tar_add(&t, "initrd", '0', "initrd", 6, true);
	tar_end(&t);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "no member named kernel"));
	/* a kernel without the bzImage header */
	tar_add(&t, "kernel", '0', "MZ", 2, true);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a Linux kernel"));
	/* a kernel that is a symlink, a directory named initrd */
	tar_add(&t, "kernel", '2', "", 0, true);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a regular file"));
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_add(&t, "initrd", '5', "", 0, true);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	/* twice the kernel */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_add(&t, "./kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "twice"));
	/* a long cmdline */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_add(&t, "cmdline", '0', cmdline, sizeof(cmdline), true);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "cmdline is over"));
	/* not ustar (a v7 header), a bad checksum */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), false);
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a POSIX tar"));
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	t.data[0] = 'K';
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	/* cut inside the kernel, cut inside a header */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	t.len = 512 + 100;
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "truncated"));
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_add(&t, "initrd", '0', "initrd", 6, true);
	t.len -= 512 + 300;
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	/* a block that starts with a zero byte but is not all zeros */
	tar_add(&t, "x", '0', "", 0, true);
	t.data[0] = 0;
	assert_int_equal(check_tar(&t, &e), -EINVAL);
	assert_non_null(strstr(e.message, "not a POSIX tar"));
	/* an unknown format */
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	{
		char *p = xasprintf("%s/k.tar", dir);
		int64_t vsize;

		assert_int_equal(file_write_atomic(p, t.data, t.len, 0600), 0);
		assert_int_equal(image_check_format(p, "vmdk", &vsize, &e), -EINVAL);
		unlink(p);
		free(p);
		free(t.data);
	}
}

static void test_writer_finishes_a_kernel_image(void **state)
{
	struct image_writer *w = NULL;
	struct image_info info;
	struct kerr e = { 0 };
	struct tar t = { 0 };

	memset(kernel_bytes, 0, sizeof(kernel_bytes));
	memcpy(kernel_bytes + 0x202, "HdrS", 4);
	tar_add(&t, "kernel", '0', kernel_bytes, sizeof(kernel_bytes), true);
	tar_end(&t);
	assert_int_equal(write_bytes(t.data, t.len, 1 << 20, &w), 0);
	assert_int_equal(image_writer_finish(w, "kernel", NULL, (int64_t)t.len, &info, &e), 0);
	assert_int_equal(info.size, t.len);
	assert_int_equal(info.virtual_size, -1);
	assert_int_equal(strlen(info.sha256), 64);
	assert_true(exists(ID));
	assert_false(exists(ID ".part"));
	/* image_open gives it back; image_remove takes it away */
	{
		uint64_t size = 0;
		int fd = -1;

		assert_int_equal(image_open(ID, &fd, &size), 0);
		assert_int_equal(size, t.len);
		close(fd);
	}
	assert_int_equal(image_remove(ID), 0);
	assert_false(exists(ID));
	assert_int_equal(image_remove(ID), 0);
	free(t.data);
	clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_checks_size_and_sha),
		cmocka_unit_test(test_writer_one_at_a_time),
		cmocka_unit_test(test_kernel_layout),
		cmocka_unit_test(test_writer_finishes_a_kernel_image),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
