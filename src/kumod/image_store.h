/* SPDX-License-Identifier: MIT */
/*
 * The bytes of images on the management node, in DATA/images/:
 *   <id>       a complete image, checked (sha256, format), mode 0600
 *   <id>.part  an upload or a copy in progress; at most one per image
 *              (created with O_EXCL), removed when it fails and at start
 * Writers stream the bytes to the .part file while hashing them, then
 * finish: the sha256 and size are compared with what the record promised,
 * the format is checked, and the file is renamed into place.
 *
 * Format checks:
 *   qcow2   `qemu-img info -f qcow2` must succeed; no backing file, no
 *           external data file, not marked corrupt
 *   raw     `qemu-img info` (probing) must find raw: a file that qemu-img
 *           recognises as another format (qcow2, vmdk, ...) is refused
 *   kernel  a POSIX tar archive with a regular member "kernel" (a Linux
 *           bzImage: "HdrS" at offset 0x202) and optionally "initrd" and
 *           "cmdline" (at most 4096 bytes); "./" prefixes are allowed,
 *           other members are ignored (this is what the agent unpacks)
 * qemu-img runs without a shell, under CPU time and memory limits.
 *
 * Not here: image records, tenancy and HTTP (api_image.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define IMAGE_KERNEL_CMDLINE_MAX 4096

struct image_info {
	char sha256[65];
	uint64_t size;
	int64_t virtual_size; /* disks: from qemu-img; kernel images: -1 */
};

/* DATA/images/<id> (malloc'd). */
char *image_path(const char *id);

/* A streamed write of one image's bytes into <id>.part. */
struct image_writer;

/* Creates <id>.part (0600, O_EXCL: -EBUSY with e when an upload of this
 * image is already under way). max: the most bytes accepted. */
int image_writer_open(const char *id, uint64_t max, struct image_writer **ret, struct kerr *e);
/* Appends bytes: 0, -EMSGSIZE (past max) or -EIO with e. */
int image_writer_write(struct image_writer *w, const void *data, size_t len, struct kerr *e);
uint64_t image_writer_size(const struct image_writer *w);
/* Flushes and checks the bytes written: size (want_size < 0: any), sha256
 * (want_sha NULL: any) and format; then renames <id>.part to <id>. 0 and
 * ret filled, or -EINVAL (the bytes are refused) / -EIO with e. The part
 * file is gone and w freed either way. */
int image_writer_finish(struct image_writer *w, const char *format, const char *want_sha,
                        int64_t want_size, struct image_info *ret, struct kerr *e);
/* Removes <id>.part and frees w. NULL is fine. */
void image_writer_abort(struct image_writer *w);

/* Copies the regular file src (a path on the management node) into the
 * store as image id, with the same checks as an upload (reflinked when the
 * filesystem can, streamed otherwise). 0 and ret, or -errno with e. */
int image_import(const char *src, const char *id, const char *format, const char *want_sha,
                 int64_t want_size, uint64_t max, struct image_info *ret, struct kerr *e);

/* Checks the file at path against format. 0 (virtual size in
 * *ret_virtual_size, -1 for kernel images) or -EINVAL with e (-EIO when
 * qemu-img cannot be run). */
int image_check_format(const char *path, const char *format, int64_t *ret_virtual_size,
                       struct kerr *e);

/* Opens a complete image for reading: 0 with *ret_fd (O_CLOEXEC) and
 * *ret_size, or -ENOENT / -errno. */
int image_open(const char *id, int *ret_fd, uint64_t *ret_size);
/* Removes the image's bytes (complete and partial). 0 or -errno of the
 * first failure other than ENOENT. */
int image_remove(const char *id);
