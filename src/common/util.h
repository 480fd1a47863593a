/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by all programs: allocation that aborts on OOM,
 * time, UUIDs, random tokens, files with safe modes, string checks.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UUID_LEN 36
#define TIME_LEN 32

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* FNV-1a, 64 bits: h (FNV1A_INIT to start) folded with the n bytes at p. */
#define FNV1A_INIT UINT64_C(0xcbf29ce484222325)
uint64_t fnv1a(uint64_t h, const void *p, size_t n);

/* Wall clock and monotonic clock in milliseconds; monotonic in µs. */
int64_t now_ms(void);
int64_t mono_ms(void);
int64_t mono_us(void);
/* ts = now + ms on CLOCK_MONOTONIC, for pthread_cond_timedwait on
 * condition variables made with pthread_condattr_setclock(MONOTONIC). */
struct timespec;
void deadline_mono(struct timespec *ts, int64_t ms);
/* RFC 3339 UTC with milliseconds: "2026-11-21T04:25:36.123Z". out has TIME_LEN bytes. */
void time_format(int64_t ms, char out[TIME_LEN]);
/* Parses RFC 3339 ("...Z" or "+hh:mm", optional fraction). 0 or -EINVAL. */
int time_parse(const char *s, int64_t *ret_ms);
/* Current time as a malloc'd RFC 3339 string. */
char *time_now_str(void);

/* A new random (v4) UUID, lower case, out has UUID_LEN+1 bytes. */
void uuid_new(char out[UUID_LEN + 1]);
bool uuid_valid(const char *s);

/* nbytes random bytes from libsodium, hex-encoded into a malloc'd string. */
char *random_hex(size_t nbytes);
/* Hex SHA-256 (via libsodium) of s, malloc'd. */
char *sha256_hex(const void *data, size_t len);
/* Constant-time string compare; false when lengths differ. */
bool str_eq_ct(const char *a, const char *b);

/* Writes data to path atomically (tmp + rename) with the given mode. 0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file up to max bytes into a NUL-terminated malloc'd string. */
int file_read(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* mkdir -p with mode. 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);

bool str_empty(const char *s);
bool str_startswith(const char *s, const char *prefix);
/* Trims trailing whitespace/newlines in place. */
char *str_rstrip(char *s);
/* Names of things: 1..63 chars of [A-Za-z0-9._-], starting alphanumeric. */
bool name_valid(const char *s);
/* Percent-decodes s[0..n) into a new string. NULL when an escape is bad or
 * the result would hold a NUL, or (segment) a '/'. */
char *pct_decode(const char *s, size_t n, bool segment);

/* The number in an octal field of n bytes (tar headers): leading spaces and
 * NULs skipped, stops at the first non-octal byte; -1 on overflow. */
int64_t parse_octal(const void *field, size_t n);
