// SPDX-License-Identifier: MIT
/*
 * kumod: the management node. Parses the command line and config, opens the
 * store, bootstraps the first start, starts the job workers, the HTTP
 * server and the monitor (host liveness, command timeouts, housekeeping),
 * and stops them cleanly on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/auth.h"
#include "kumod/events.h"
#include "kumod/ha.h"
#include "kumod/maintenance.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/metrics.h"
#include "kumod/netsync.h"
#include "kumod/redfish_agg.h"
#include "kumod/store.h"
#include "kumod/telemetry.h"
#include "kumod/vm.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kumod --listen ADDR:PORT --data-dir DIR [--config FILE]\n"
	           "             [--log-level debug|info|warn|error]\n"
	           "\n"
	           "Config file (INI), all optional:\n"
	           "  [kumod] listen, data_dir, log_level, session_ttl_s (86400),\n"
	           "          host_timeout_s (15), heartbeat_interval_s (5), poll_wait_s (25),\n"
	           "          ha_deadline_s (12),\n"
	           "          command_resend_s (30), command_timeout_s (600), job_workers (4),\n"
	           "          login_max_failures (10), login_window_s (300),\n"
	           "          metrics_open_on_loopback (true)\n"
	           "  [redfish] enabled (true), timeout_s (10), action_timeout_s (120)\n"
	           "  [scheduler] cpu_overcommit (4.0), mem_overcommit (1.0),\n"
	           "          thermal_weight (0.2), thermal_headroom_c (20)\n"
	           "  [telemetry] history_interval_s (60), flush_interval_s (10),\n"
	           "          raw_keep_s (86400), aggregate_interval_s (300),\n"
	           "          aggregate_keep_days (30), prune_interval_s (300), stale_s (0 = 3\n"
	           "          heartbeats)\n");
}

static void housekeeping(int64_t *last)
{
	int64_t now = mono_ms();

	if (now - *last < 60000)
		return;
	*last = now;
	store_idem_expire(24LL * 3600 * 1000);
	store_event_expire(100000);
	store_cmd_expire(3600LL * 1000);
}

/* The end of an HTTP request: count it. */
static void on_request_done(const struct http_request *req, int status, int64_t usec)
{
	metrics_on_done(req, status, usec);
}

/* Each agent host keeps two HTTP connections (long-poll and heartbeats), each
 * a socket here: 1,000 hosts need more than the usual soft limit of 1,024
 * open files. Raise it to the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open files limit to %llu: %s",
		         (unsigned long long)rl.rlim_max, strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *data_dir = NULL, *config_path = NULL, *level = NULL;
	struct http_server_config hc = { 0 };
	struct http_server *srv = NULL;
	struct config *cfg = NULL;
	enum log_level lvl = KLOG_INFO;
	int64_t last_house = 0;
	int opt, port = 0, r;

	log_init("kumod", KLOG_INFO);
	umask(077); /* the store and the secret files are for kumod alone */
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'L':
			level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kumod: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config_path) {
		r = config_load(config_path, &cfg);
		if (r < 0) {
			fprintf(stderr, "kumod: cannot read config %s: %s\n", config_path,
			        r == -ENOENT ? "no such file" : "syntax error");
			return 2;
		}
	} else {
		cfg = config_new();
	}
	listen = listen ? listen : config_str(cfg, "kumod", "listen", "127.0.0.1:8080");
	data_dir = data_dir ? data_dir : config_str(cfg, "kumod", "data_dir", NULL);
	level = level ? level : config_str(cfg, "kumod", "log_level", "info");
	if (!data_dir) {
		fprintf(stderr, "kumod: --data-dir is required\n");
		usage(stderr);
		config_free(cfg);
		return 2;
	}
	if (log_level_parse(level, &lvl) < 0) {
		fprintf(stderr, "kumod: unknown log level %s\n", level);
		config_free(cfg);
		return 2;
	}
	log_set_level(lvl);
	kumod_settings_load(cfg);
	kumod_cfg.listen = xstrdup(listen);
	kumod_cfg.data_dir = xstrdup(data_dir);
	kumod_cfg.db_path = xasprintf("%s/kumo.db", data_dir);

	r = mkdir_p(data_dir, 0700);
	if (r < 0) {
		log_err("cannot create %s: %s", data_dir, strerror(-r));
		return 1;
	}
	r = store_open(kumod_cfg.db_path);
	if (r < 0) {
		log_err("cannot open the store %s: %s", kumod_cfg.db_path, strerror(-r));
		return 1;
	}
	r = auth_bootstrap(data_dir);
	if (r < 0) {
		log_err("first-start setup failed: %s", strerror(-r));
		return 1;
	}
	r = redfish_agg_start(data_dir, cfg);
	if (r < 0) {
		log_err("cannot start the Redfish aggregator: %s", strerror(-r));
		return 1;
	}
	jobs_recover();
	host_liveness_init();
	vm_recover();

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	raise_fd_limit();

	r = jobs_start(kumod_cfg.job_workers);
	if (r < 0) {
		log_err("cannot start job workers: %s", strerror(-r));
		return 1;
	}
	r = netsync_start();
	if (r < 0) {
		log_err("cannot start the network sync: %s", strerror(-r));
		jobs_stop();
		return 1;
	}
	r = ha_start();
	if (r < 0) {
		log_err("cannot start VM HA: %s", strerror(-r));
		netsync_stop();
		jobs_stop();
		return 1;
	}
	hc.listen = listen;
	hc.tables = api_tables;
	hc.auth = auth_hook;
	hc.auth_free = auth_free;
	hc.on_done = on_request_done;
	/* a thread that ran a handler holds no store connection while idle */
	hc.on_thread_idle = store_release;
	redfish_agg_http_config(&hc); /* /redfish: the aggregator */
	r = http_server_start(&hc, &srv, &port);
	if (r < 0) {
		log_err("cannot listen on %s: %s", listen, strerror(-r));
		ha_stop();
		netsync_stop();
		jobs_stop();
		return 1;
	}
	log_info("kumod listening on %s (port %d), data in %s, store schema v%d", listen, port,
	         data_dir, store_version());

	while (!stopping) {
		usleep(500 * 1000);
		host_check_liveness();
		jobs_check_timeouts();
		maintenance_tick();
		store_checkpoint();
		store_release();
		housekeeping(&last_house);
		telemetry_tick(); /* sensor history: batched writes, downsampling */
	}
	log_info("stopping");
	host_stop_waits();
	event_wake_all();
	host_stop_waits(); /* long-polls answer now, or the server waits for them */
	http_server_stop(srv);
	redfish_agg_stop();
	ha_stop();
	telemetry_flush();
	netsync_stop();
	jobs_stop();
	store_close();
	config_free(cfg);
	return 0;
}
