/* SPDX-License-Identifier: MIT */
/*
 * kumod's process-wide settings, read once at start from the command line
 * and the config file, and read-only afterwards.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kumod/scheduler.h"
#include "kumod/telemetry.h"

struct kumod_config {
	char *listen; /* "127.0.0.1:8080" */
	char *data_dir;
	char *db_path;
	char *join_token_hash;         /* sha256 hex of the join token */
	int64_t session_ttl_ms;        /* default 24 h */
	int64_t host_timeout_ms;       /* silent host -> disconnected; default 15 s */
	int64_t ha_deadline_ms;        /* lost host's pool heartbeat age before HA; 12 s */
	int64_t heartbeat_interval_s;  /* told to agents; default 5 */
	int64_t poll_wait_s;           /* long-poll cap; default 25 */
	int64_t command_resend_ms;     /* re-deliver commands without result; default 30 s */
	int64_t command_timeout_ms;    /* fail a job whose host never answered; default 10 min */
	int job_workers;               /* default 4 */
	int login_max_failures;        /* per account and per address in the window; default 10 */
	int64_t login_window_ms;       /* default 5 min */
	bool metrics_open_on_loopback; /* /metrics without token from 127.0.0.1 */
	int64_t image_max_bytes;       /* largest image upload or import; default 64 GiB */
	struct sched_config sched;
	struct telemetry_config telemetry; /* [telemetry] */
};

extern struct kumod_config kumod_cfg;

struct config;
/* Fills kumod_cfg from the [kumod], [scheduler] and [telemetry] sections
 * (defaults for what is missing), clamping values to sane ranges. */
void kumod_settings_load(const struct config *c);
