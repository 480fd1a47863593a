/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemons and the CLI: one line per message on stderr,
 * "time level ident: message". Library code logs at debug only; callers
 * that decide what to do log once, with context.
 */
#pragma once

#include <stdarg.h>

enum log_level { KLOG_DEBUG = 0, KLOG_INFO, KLOG_WARN, KLOG_ERR };

/* ident: program name; min: lowest level printed. Thread-safe after this. */
void log_init(const char *ident, enum log_level min);
void log_set_level(enum log_level min);
/* Parses "debug", "info", "warn", "error"; returns -EINVAL on anything else. */
int log_level_parse(const char *s, enum log_level *ret);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(KLOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(KLOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(KLOG_WARN, __VA_ARGS__)
#define log_err(...) log_msg(KLOG_ERR, __VA_ARGS__)
