// SPDX-License-Identifier: MIT
/*
 * Logging to stderr, one line per message with a UTC timestamp, level and
 * program name. Not a syslog client: the daemons run under systemd or a
 * terminal, both of which collect stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

static const char *log_ident = "kumo";
static enum log_level log_min = KLOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *ident, enum log_level min)
{
	log_ident = ident;
	log_min = min;
}

void log_set_level(enum log_level min)
{
	log_min = min;
}

int log_level_parse(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*ret = KLOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char t[TIME_LEN];
	va_list ap;

	if (lvl < log_min)
		return;
	time_format(now_ms(), t);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %-5s %s: ", t, level_names[lvl], log_ident);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}
