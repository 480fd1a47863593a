// SPDX-License-Identifier: MIT
/*
 * kumod's settings: the one global configuration, its defaults and its
 * loading from the INI file. Kept apart from main.c so that the unit tests
 * and fuzzers, which link every kumod object but main.o, see the same
 * defaults.
 */
#include "common/config.h"
#include "kumod/kumod.h"

struct kumod_config kumod_cfg = {
	.session_ttl_ms = 86400 * 1000LL,
	.host_timeout_ms = 15000,
	.ha_deadline_ms = 12000,
	.heartbeat_interval_s = 5,
	.poll_wait_s = 25,
	.command_resend_ms = 30000,
	.command_timeout_ms = 600000,
	.job_workers = 4,
	.login_max_failures = 10,
	.login_window_ms = 300000,
	.metrics_open_on_loopback = true,
	.image_max_bytes = (int64_t)64 << 30,
	.sched = { .cpu_overcommit = 4.0,
	           .mem_overcommit = 1.0,
	           .thermal_weight = 0.2,
	           .thermal_ref_c = 20.0 },
	.telemetry = { .history_interval_ms = 60000,
	               .flush_interval_ms = 10000,
	               .raw_keep_ms = 86400LL * 1000,
	               .aggregate_interval_ms = 300000,
	               .aggregate_keep_ms = 30LL * 86400 * 1000,
	               .prune_interval_ms = 300000 },
};

/* A [telemetry] duration in ms from a key in unit_ms units, clamped
 * before the multiplication so that no value overflows. */
static int64_t tele_ms(const struct config *c, const char *key, int64_t def_ms, int64_t unit_ms)
{
	int64_t v = config_int(c, "telemetry", key, def_ms / unit_ms);

	if (v < 0)
		v = 0;
	if (v > (int64_t)1 << 40)
		v = (int64_t)1 << 40;
	return v * unit_ms;
}

/* [telemetry]: the history and staleness of node telemetry (telemetry.h). */
static void telemetry_settings_load(const struct config *c)
{
	struct telemetry_config *t = &kumod_cfg.telemetry;

	telemetry_config_default(t);
	t->history_interval_ms = tele_ms(c, "history_interval_s", t->history_interval_ms, 1000);
	t->flush_interval_ms = tele_ms(c, "flush_interval_s", t->flush_interval_ms, 1000);
	t->raw_keep_ms = tele_ms(c, "raw_keep_s", t->raw_keep_ms, 1000);
	t->aggregate_interval_ms =
	    tele_ms(c, "aggregate_interval_s", t->aggregate_interval_ms, 1000);
	t->aggregate_keep_ms = tele_ms(c, "aggregate_keep_days", t->aggregate_keep_ms, 86400000);
	/* in seconds, for tests; wins over the days */
	t->aggregate_keep_ms = tele_ms(c, "aggregate_keep_s", t->aggregate_keep_ms, 1000);
	t->prune_interval_ms = tele_ms(c, "prune_interval_s", t->prune_interval_ms, 1000);
	t->stale_ms = tele_ms(c, "stale_s", 0, 1000);
	telemetry_config_check(t);
}

void kumod_settings_load(const struct config *c)
{
	kumod_cfg.session_ttl_ms = config_int(c, "kumod", "session_ttl_s", 86400) * 1000;
	kumod_cfg.host_timeout_ms = config_int(c, "kumod", "host_timeout_s", 15) * 1000;
	kumod_cfg.ha_deadline_ms = config_int(c, "kumod", "ha_deadline_s", 12) * 1000;
	kumod_cfg.heartbeat_interval_s = config_int(c, "kumod", "heartbeat_interval_s", 5);
	kumod_cfg.poll_wait_s = config_int(c, "kumod", "poll_wait_s", 25);
	kumod_cfg.command_resend_ms = config_int(c, "kumod", "command_resend_s", 30) * 1000;
	kumod_cfg.command_timeout_ms = config_int(c, "kumod", "command_timeout_s", 600) * 1000;
	kumod_cfg.job_workers = (int)config_int(c, "kumod", "job_workers", 4);
	kumod_cfg.login_max_failures = (int)config_int(c, "kumod", "login_max_failures", 10);
	kumod_cfg.login_window_ms = config_int(c, "kumod", "login_window_s", 300) * 1000;
	kumod_cfg.metrics_open_on_loopback =
	    config_bool(c, "kumod", "metrics_open_on_loopback", true);
	kumod_cfg.image_max_bytes = config_int(c, "kumod", "image_max_bytes", (int64_t)64 << 30);
	sched_config_default(&kumod_cfg.sched);
	kumod_cfg.sched.cpu_overcommit =
	    config_double(c, "scheduler", "cpu_overcommit", kumod_cfg.sched.cpu_overcommit);
	kumod_cfg.sched.mem_overcommit =
	    config_double(c, "scheduler", "mem_overcommit", kumod_cfg.sched.mem_overcommit);
	kumod_cfg.sched.thermal_weight =
	    config_double(c, "scheduler", "thermal_weight", kumod_cfg.sched.thermal_weight);
	kumod_cfg.sched.thermal_ref_c =
	    config_double(c, "scheduler", "thermal_headroom_c", kumod_cfg.sched.thermal_ref_c);
	telemetry_settings_load(c);
	if (kumod_cfg.job_workers < 1)
		kumod_cfg.job_workers = 1;
	if (kumod_cfg.job_workers > 64)
		kumod_cfg.job_workers = 64;
	if (kumod_cfg.host_timeout_ms < 1000)
		kumod_cfg.host_timeout_ms = 1000;
	if (kumod_cfg.ha_deadline_ms < 2000)
		kumod_cfg.ha_deadline_ms = 2000;
	if (kumod_cfg.poll_wait_s < 1)
		kumod_cfg.poll_wait_s = 1;
	if (kumod_cfg.image_max_bytes < 1)
		kumod_cfg.image_max_bytes = 1;
}
