/* SPDX-License-Identifier: MIT */
/*
 * Bounded growable byte buffers. Every buffer has a maximum size; appends
 * past it fail with -EMSGSIZE and leave the buffer as it was (curl's dynbuf).
 * The data is always NUL-terminated.
 */
#pragma once

#include <stddef.h>

struct buf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* 0, -EMSGSIZE (over max) or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Copies at most max bytes of b from *pos into out and advances *pos; the
 * number copied (0 once all of b was taken). For stream callbacks. */
size_t buf_drain(const struct buf *b, size_t *pos, char *out, size_t max);
/* Returns the data (never NULL: "" for an empty buffer) and empties b. Caller frees. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
