/* SPDX-License-Identifier: MIT */
/*
 * The per-host image cache of the qemu driver. An image is fetched from
 * kumod once (GET /agent/v1/images/{id}/data, authenticated with the host
 * secret), its sha256 checked against the image record, and kept under
 * DIR/hosts/<i>/images/<id>/. VM root disks are qcow2 overlays on the cached
 * file, so a cached image is never written to.
 *
 * Formats (the image record's "format"):
 *   qcow2, raw  the bytes are the disk: images/<id>/data
 *   kernel      the bytes are a POSIX tar holding "kernel" (required),
 *               "initrd" and "cmdline" (optional); they are unpacked next
 *               to data and booted directly (-kernel/-initrd/-append)
 * A directory holds a complete image once its "ok" file exists (written
 * last, holding the sha256), so a fetch cut short is simply done again.
 */
#pragma once

#include <jansson.h>

#include "agent/driver.h"

#define IMAGE_CMDLINE_MAX 4096

struct image_files {
	char format[16];
	char *disk;    /* owned; qcow2 and raw: the cached bytes */
	char *kernel;  /* owned; kernel images */
	char *initrd;  /* owned; NULL when the image has none */
	char *cmdline; /* owned; "" when the image has none */
};

/* Makes the image described by img (the create payload's "image" object:
 * id, format, sha256, status) present in the cache of the host env belongs
 * to, fetching it when needed. 0, or -errno with e filled ("ImageNotReady",
 * "ChecksumMismatch", "BadImage", "FetchFailed", "Interrupted"). Safe to
 * call from several threads: one fetch per image at a time. */
int image_cache_get(const struct driver_env *env, const json_t *img, struct image_files *ret,
                    struct driver_err *e);
void image_files_clear(struct image_files *f);

/* Unpacks the members kernel, initrd and cmdline of the tar file at path
 * into dir (other members are ignored). 0, or -errno with e filled
 * ("BadImage" for a malformed archive or one without a kernel). */
int image_untar_kernel(const char *path, const char *dir, struct driver_err *e);

/* Hex sha256 of a file's bytes into out (65 bytes). 0 or -errno. */
int image_file_sha256(const char *path, char out[65]);
