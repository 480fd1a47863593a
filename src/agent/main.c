// SPDX-License-Identifier: MIT
/*
 * kumo-agent: command line and config file, the list of compute drivers,
 * and the process lifecycle (start the hosts, wait for SIGINT/SIGTERM, stop
 * them cleanly). Everything a host does is in channel.c.
 *
 *   kumo-agent --server URL --join-token-file FILE --data-dir DIR
 *              --driver sim|qemu [--hosts N] [--config FILE] [--name NAME]
 *              [--cluster ID] [--log-level debug|info|warn|error]
 *              [--heartbeat-interval S] [--sim-* ...]
 *   kumo-agent net-apply --host-id ID --dir DIR (SPEC.json | --restore | --clear)
 *   kumo-agent thermal-sim [SCENARIO] [OPTIONS]   (docs/THERMAL.md)
 *   kumo-agent sensors --config FILE [--json] [--watch N]   (docs/SENSORS.md)
 *   kumo-agent redfish --data-dir DIR --listen ADDR [--no-tls]   (docs/REDFISH.md)
 *
 * Every option can also come from the INI file ([agent] and [sim]
 * sections); the command line wins. Bad arguments: usage, exit 2. Runtime
 * failures at start: exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/channel.h"
#include "agent/net_svc.h"
#include "agent/node.h"
#include "agent/redfish_agent.h"
#include "agent/sensors.h"
#include "agent/thermal.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#define EXIT_USAGE 2

/* The compute drivers, by --driver name. */
static const struct {
	const char *name;
	const struct driver_ops *ops; /* NULL: not built yet */
	const char *why_not;
} drivers[] = {
	{ "sim", &driver_sim_ops, NULL },
	{ "qemu", &driver_qemu_ops, NULL },
};

/* Options that map to config keys; the command line overrides the file. */
static const struct {
	const char *opt;
	const char *section, *key;
} option_keys[] = {
	{ "server", "agent", "server" },
	{ "join-token-file", "agent", "join_token_file" },
	{ "data-dir", "agent", "data_dir" },
	{ "driver", "agent", "driver" },
	{ "hosts", "agent", "hosts" },
	{ "name", "agent", "name" },
	{ "cluster", "agent", "cluster" },
	{ "address", "agent", "address" },
	{ "log-level", "agent", "log_level" },
	{ "heartbeat-interval", "agent", "heartbeat_interval" },
	{ "redfish-listen", "redfish", "listen" },
	{ "redfish-tls", "redfish", "tls" },
	{ "sim-delay-ms", "sim", "delay_ms" },
	{ "sim-fail-rate", "sim", "fail_rate" },
	{ "sim-fail-match", "sim", "fail_match" },
	{ "sim-cpus", "sim", "cpus" },
	{ "sim-memory-mb", "sim", "memory_mb" },
	{ "sim-disk-gb", "sim", "disk_gb" },
};

static void usage(FILE *f)
{
	fputs(
	    "usage: kumo-agent --server URL --join-token-file FILE --data-dir DIR\n"
	    "                  --driver sim|qemu [--hosts N] [--config FILE] [--name NAME]\n"
	    "                  [--cluster ID] [--log-level debug|info|warn|error]\n"
	    "                  [--heartbeat-interval S] [--address IP]\n"
	    "                  [--redfish-listen ADDR:PORT|off] [--redfish-tls true|false]\n"
	    "  sim driver:     [--sim-delay-ms MS] [--sim-fail-rate P] [--sim-fail-match SUBSTR]\n"
	    "                  [--sim-cpus N] [--sim-memory-mb N] [--sim-disk-gb N]\n"
	    "Options may also be set in the config file: [agent] server, join_token_file,\n"
	    "data_dir, driver, hosts, name, cluster, address (this host's address for\n"
	    "VXLAN overlays, 127.0.0.1), log_level, heartbeat_interval;\n"
	    "[sim] delay_ms, fail_rate, fail_match, cpus, memory_mb, disk_gb;\n"
	    "[qemu] binary (qemu-system-x86_64), accel (auto|kvm|tcg; also KUMO_ACCEL),\n"
	    "stop_timeout_s (60: ACPI shutdown before the VM is forced off), cpu_model\n"
	    "(QEMU's -cpu for the VMs: host with kvm, max with tcg; name one, e.g.\n"
	    "Skylake-Server, to live-migrate between hosts of different CPUs);\n"
	    "[redfish] listen (0.0.0.0:8443 with qemu, off with sim), tls, session_timeout,\n"
	    "host_reset_command (docs/REDFISH.md); [thermal] (docs/THERMAL.md);\n"
	    "[sensor ID], [sensors], [ipmi] (docs/SENSORS.md).\n",
	    f);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("kumo-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(EXIT_USAGE);
}

/* A whole number in min..max from the config, or def when unset. */
static int64_t cfg_int(const struct config *cfg, const char *section, const char *key, int64_t def,
                       int64_t min, int64_t max)
{
	const char *s = config_str(cfg, section, key, NULL);
	char *end;
	long long v;

	if (!s)
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die_usage("%s %s: \"%s\" is not a whole number in %lld..%lld", section, key, s,
		          (long long)min, (long long)max);
	return v;
}

/* Reads the command line into cfg (after loading --config, which it names). */
static struct config *parse_args(int argc, char **argv)
{
	struct option longopts[ARRAY_SIZE(option_keys) + 3];
	const char *config_path = NULL;
	char **values = xcalloc(ARRAY_SIZE(option_keys), sizeof(char *));
	struct config *cfg = NULL;
	size_t i;
	int c, r;

	for (i = 0; i < ARRAY_SIZE(option_keys); i++)
		longopts[i] =
		    (struct option){ option_keys[i].opt, required_argument, NULL, (int)i };
	longopts[i++] = (struct option){ "config", required_argument, NULL, 1000 };
	longopts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c >= 0 && (size_t)c < ARRAY_SIZE(option_keys)) {
			values[c] = optarg;
		} else if (c == 1000) {
			config_path = optarg;
		} else if (c == 'h') {
			usage(stdout);
			exit(0);
		} else if (c == ':') {
			die_usage("option %s needs a value", argv[optind - 1]);
		} else {
			die_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument %s", argv[optind]);

	if (config_path) {
		r = config_load(config_path, &cfg);
		if (r == -ENOENT)
			die_usage("cannot read config file %s", config_path);
		if (r < 0)
			die_usage("config file %s is not valid INI", config_path);
	} else {
		cfg = config_new();
	}
	for (i = 0; i < ARRAY_SIZE(option_keys); i++)
		if (values[i])
			config_set(cfg, option_keys[i].section, option_keys[i].key, values[i]);
	free(values);
	return cfg;
}

/* The machine's host name, reduced to what names allow ([A-Za-z0-9._-]). */
static void sanitized_hostname(char *out, size_t outlen)
{
	char name[256] = "";
	size_t n = 0;

	if (gethostname(name, sizeof(name) - 1) < 0 || !name[0])
		snprintf(name, sizeof(name), "host");
	for (size_t i = 0; name[i] && n + 1 < outlen && n < 40; i++) {
		char ch = name[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';

		out[n++] = ok ? ch : '-';
	}
	out[n] = '\0';
	if (!n || !((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= 'A' && out[0] <= 'Z') ||
	            (out[0] >= '0' && out[0] <= '9')))
		snprintf(out, outlen, "host");
}

/* Per host: two connections, each with libcurl's internal wakeup socket
 * pair, and a journal file now and then. Raises the soft limit to the hard
 * one when that is not enough. */
static void raise_fd_limit(unsigned nhosts)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nhosts * 8 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		log_warn("open files limit %llu may be too low for %u hosts (want %llu)",
		         (unsigned long long)rl.rlim_cur, nhosts, (unsigned long long)want);
}

static void settings(struct agent *a, const struct config *cfg)
{
	const char *driver, *level;
	enum log_level lvl;
	size_t i;

	driver = config_str(cfg, "agent", "driver", NULL);
	if (!driver)
		die_usage("--driver is required");
	for (i = 0; i < ARRAY_SIZE(drivers); i++)
		if (strcmp(drivers[i].name, driver) == 0)
			break;
	if (i == ARRAY_SIZE(drivers))
		die_usage("unknown driver \"%s\" (sim or qemu)", driver);
	if (!drivers[i].ops) {
		fprintf(stderr, "kumo-agent: %s\n", drivers[i].why_not);
		exit(EXIT_USAGE);
	}
	a->driver = drivers[i].ops;

	a->server = config_str(cfg, "agent", "server", NULL);
	a->token_file = config_str(cfg, "agent", "join_token_file", NULL);
	a->data_dir = config_str(cfg, "agent", "data_dir", NULL);
	if (str_empty(a->server))
		die_usage("--server is required");
	if (!str_startswith(a->server, "http://") && !str_startswith(a->server, "https://"))
		die_usage("--server must be an http:// or https:// URL");
	if (str_empty(a->token_file))
		die_usage("--join-token-file is required");
	if (str_empty(a->data_dir))
		die_usage("--data-dir is required");

	a->nhosts = (unsigned)cfg_int(cfg, "agent", "hosts", 1, 1, AGENT_HOSTS_MAX);
	a->heartbeat_override_s = cfg_int(cfg, "agent", "heartbeat_interval", 0, 1, 3600);
	a->name = config_str(cfg, "agent", "name", NULL);
	if (a->name && (!name_valid(a->name) || strlen(a->name) > 50))
		die_usage("--name: \"%s\" is not a valid name (1-50 characters of "
		          "[A-Za-z0-9._-], starting with a letter or digit)",
		          a->name);
	a->cluster_id = config_str(cfg, "agent", "cluster", NULL);
	if (str_empty(a->cluster_id))
		a->cluster_id = NULL;
	if (a->cluster_id && !uuid_valid(a->cluster_id))
		die_usage("--cluster: \"%s\" is not a cluster id (a UUID)", a->cluster_id);
	a->address = config_str(cfg, "agent", "address", "127.0.0.1");
	level = config_str(cfg, "agent", "log_level", "info");
	if (log_level_parse(level, &lvl) < 0)
		die_usage("--log-level: \"%s\" is not debug, info, warn or error", level);
	log_set_level(lvl);

	if (a->driver->check_config) {
		struct driver_err e = { NULL, "" };

		if (a->driver->check_config(cfg, &e) < 0)
			die_usage("%s", e.message);
	}
	a->cfg = cfg;
	sanitized_hostname(a->hostname, sizeof(a->hostname));
}

int main(int argc, char **argv)
{
	struct agent a = { 0 };
	struct agent_host **hosts;
	struct nodes *nodes = NULL;
	struct config *cfg;
	char *dir, *token;
	sigset_t sigs;
	unsigned started = 0;
	int r, sig, ret = 1;

	if (argc > 1 && !strcmp(argv[1], "net-apply"))
		return net_cli_main(argc - 1, argv + 1); /* one network spec, for tests */
	if (argc > 1 && !strcmp(argv[1], "thermal-sim"))
		return thermal_sim_main(argc - 1, argv + 1); /* the box in accelerated time */
	if (argc > 1 && !strcmp(argv[1], "sensors"))
		return sensors_cli_main(argc - 1, argv + 1); /* the configured sensors, read */
	if (argc > 1 && !strcmp(argv[1], "redfish"))
		return redfish_agent_main(argc - 1, argv + 1); /* the Redfish service alone */
	log_init("kumo-agent", KLOG_INFO);
	cfg = parse_args(argc, argv);
	settings(&a, cfg);
	pthread_mutex_init(&a.lock, NULL);
	atomic_init(&a.stop, false);
	atomic_init(&a.restart, false);

	r = file_read(a.token_file, 4096, &token, NULL);
	if (r < 0) {
		log_err("cannot read the join token file %s: %s", a.token_file, strerror(-r));
		goto out_cfg;
	}
	explicit_bzero(token, strlen(token));
	free(token);
	dir = xasprintf("%s/hosts", a.data_dir);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		log_err("cannot create %s: %s", dir, strerror(-r));
	free(dir);
	if (r < 0)
		goto out_cfg;
	raise_fd_limit(a.nhosts);

	/* Only the main thread takes the stop signals; the host threads inherit the mask. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	hosts = xcalloc(a.nhosts, sizeof(*hosts));
	for (unsigned i = 0; i < a.nhosts; i++) {
		r = agent_host_new(&a, i, &hosts[i]);
		if (r < 0)
			goto stop;
	}
	r = nodes_start(&a, hosts, a.nhosts, &nodes);
	if (r < 0)
		goto stop;
	for (; started < a.nhosts; started++) {
		r = agent_host_start(hosts[started]);
		if (r < 0) {
			log_err("cannot start the threads of host %u: %s", started, strerror(-r));
			started++; /* it may have one thread running */
			goto stop;
		}
	}
	log_info("kumo-agent %s: %u %s host%s, server %s, data in %s", AGENT_VERSION, a.nhosts,
	         a.driver->name, a.nhosts == 1 ? "" : "s", a.server, a.data_dir);

	do {
		r = sigwait(&sigs, &sig);
	} while (r != 0);
	log_info("%s: stopping", strsignal(sig));
	ret = 0;
stop:
	atomic_store(&a.stop, true);
	for (unsigned i = 0; i < started; i++)
		agent_host_wake(hosts[i]);
	if (nodes) {
		/* the hosts' threads first (heartbeats and relayed requests use
		 * the node services), then the services (the thermal controller
		 * may still be waiting for a VM's shutdown: the driver cuts it
		 * short), then the hosts */
		for (unsigned i = 0; i < started; i++)
			agent_host_join(hosts[i]);
		nodes_stop(nodes);
	}
	for (unsigned i = 0; i < a.nhosts; i++)
		agent_host_free(hosts[i]);
	free(hosts);
	if (ret == 0)
		log_info("stopped");
out_cfg:
	pthread_mutex_destroy(&a.lock);
	config_free(cfg);
	if (ret == 0 && atomic_load(&a.restart)) {
		sigprocmask(SIG_UNBLOCK, &sigs, NULL);
		log_info("starting again (Manager reset)");
		execv("/proc/self/exe", argv);
		log_err("cannot start again: %s", strerror(errno));
		return 1;
	}
	return ret;
}
