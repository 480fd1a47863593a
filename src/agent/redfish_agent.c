// SPDX-License-Identifier: MIT
/*
 * The agent's Redfish service as a whole: the list of its modules (the
 * one place where resources are registered), its start and stop (account
 * store, certificate, UUID, the HTTPS listener), the entry for requests
 * relayed by kumod over the channel, and `kumo-agent redfish` to run the
 * service alone. What each resource answers is in its rf_<resource>.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/redfish_agent.h"
#include "common/json.h"
#include "common/log.h"
#include "common/redfish_doc.h"
#include "common/redfish_http.h"
#include "common/tls_cert.h"

#define EXIT_USAGE 2
#define RELAY_BODY_MAX (1024 * 1024)

/* Every module of the agent's service. Later parts add theirs here, in
 * the order ServiceRoot lists them:
 *   &rf_system_module       Systems: the host, and one ComputerSystem per
 *                           VM with ComputerSystem.Reset (rf_system.c)
 *   &rf_chassis_module      Chassis with Sensors, ThermalSubsystem (Fans,
 *                           ThermalMetrics), PowerSubsystem,
 *                           EnvironmentMetrics, Thermal and Power
 *   &rf_manager_module      Managers: the agent, its LogService
 *   &rf_event_module        EventService: subscriptions, SSE
 *   &rf_telemetry_module    TelemetryService: metric definitions, reports
 *   &rf_thermal_eq_module   ThermalEquipment/ImmersionUnits, Heaters,
 *                           Controls (setpoints)
 * Their handlers find what they need in struct rf_agent_ctx (call->data). */
static const struct rf_module *const modules[] = {
	&rf_root_module,      &rf_session_module,
	&rf_account_module,   &rf_system_module,
	&rf_chassis_module,   &rf_manager_module,
	&rf_event_module,     &rf_telemetry_module,
	&rf_thermaleq_module, NULL,
};

/* Modules with state beyond a request (redfish_agent.h): started in this
 * order, stopped in the reverse one. The events first: telemetry sends
 * its reports through them. */
static const struct {
	int (*start)(struct rf_agent_ctx *ctx);
	void (*stop)(struct rf_agent_ctx *ctx);
} hooks[] = {
	{ rf_event_start, rf_event_stop },
	{ rf_telemetry_start, rf_telemetry_stop },
};

struct rf_agent {
	struct rf_agent_ctx ctx;
	struct rf_service *svc;
	struct rf_http *http;
	int port;
	char *url;
	char *password_file;
};

/* Is the host part of "HOST:PORT" a loopback address (or "localhost")? */
static bool listen_is_loopback(const char *listen)
{
	char host[128];
	const char *colon;
	struct in_addr a4;
	struct in6_addr a6;
	size_t n;

	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');

		if (!end)
			return false;
		n = (size_t)(end - listen - 1);
		if (n >= sizeof(host))
			return false;
		memcpy(host, listen + 1, n);
	} else {
		colon = strrchr(listen, ':');
		n = colon ? (size_t)(colon - listen) : strlen(listen);
		if (n >= sizeof(host))
			return false;
		memcpy(host, listen, n);
	}
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* "https://HOST:PORT/redfish/v1", HOST from the listen address. */
static char *make_url(const char *listen, bool tls, int port)
{
	const char *colon = strrchr(listen, ':');
	int n = colon ? (int)(colon - listen) : (int)strlen(listen);

	if (n == 0 || (n == 7 && strncmp(listen, "0.0.0.0", 7) == 0))
		return xasprintf("%s://127.0.0.1:%d" RF_ROOT, tls ? "https" : "http", port);
	return xasprintf("%s://%.*s:%d" RF_ROOT, tls ? "https" : "http", n, listen, port);
}

static int start_listener(struct rf_agent *a, const struct rf_agent_config *cfg)
{
	struct rf_http_config hc = { .listen = cfg->listen, .svc = a->svc };
	char *cert = NULL, *key = NULL;
	int r;

	if (!cfg->tls && !listen_is_loopback(cfg->listen))
		return -EPERM;
	if (cfg->tls) {
		r = tls_cert_load_or_create(a->ctx.rf_dir, a->ctx.hostname, &cert, &key);
		if (r < 0)
			return r;
		hc.tls_cert_pem = cert;
		hc.tls_key_pem = key;
	}
	r = rf_http_start(&hc, &a->http, &a->port);
	if (key)
		explicit_bzero(key, strlen(key));
	free(cert);
	free(key);
	if (r == 0)
		a->url = make_url(cfg->listen, cfg->tls, a->port);
	return r;
}

/* What came back of DIR/sessions.json (rf_auth_open()). */
static void log_restored_sessions(const struct rf_agent *a)
{
	int dropped = 0, n = rf_auth_sessions_restored(a->ctx.auth, &dropped);

	if (n < 0)
		log_warn("redfish: %s/%s ignored, no session restored: %s", a->ctx.rf_dir,
		         RF_SESSIONS_FILE, n == -EINVAL ? "not a session file" : strerror(-n));
	else if (n || dropped)
		log_info("redfish: %d session%s restored, %d ended (idle past the timeout, or "
		         "their account gone, disabled or with a new password)",
		         n, n == 1 ? "" : "s", dropped);
}

int redfish_agent_start(const struct rf_agent_config *cfg, struct rf_agent **ret)
{
	struct rf_auth_config ac = { 0 };
	struct rf_service_config sc = { 0 };
	struct rf_agent *a;
	char *uuid_path;
	int r;

	if (!cfg || str_empty(cfg->data_dir))
		return -EINVAL;
	a = xcalloc(1, sizeof(*a));
	a->ctx.data_dir = cfg->data_dir;
	a->ctx.rf_dir = xasprintf("%s/%s", cfg->data_dir, RF_AGENT_DIR);
	if (cfg->hostname)
		snprintf(a->ctx.hostname, sizeof(a->ctx.hostname), "%s", cfg->hostname);
	else if (gethostname(a->ctx.hostname, sizeof(a->ctx.hostname) - 1) < 0)
		snprintf(a->ctx.hostname, sizeof(a->ctx.hostname), "localhost");
	a->password_file = xasprintf("%s/%s", a->ctx.rf_dir, RF_ADMIN_PASSWORD_FILE);
	a->ctx.agent = cfg->agent;
	a->ctx.host = cfg->host;
	a->ctx.thermal = cfg->thermal;
	a->ctx.sensors = cfg->sensors;
	a->ctx.log = cfg->log;
	a->ctx.host_reset_command = cfg->host_reset_command;
	r = mkdir_p(a->ctx.rf_dir, 0700);
	if (r < 0)
		goto fail;
	if (!cfg->relay_only) {
		ac.dir = a->ctx.rf_dir;
		ac.session_timeout_s = cfg->session_timeout_s;
		r = rf_auth_open(&ac, &a->ctx.auth);
		if (r < 0)
			goto fail;
		log_restored_sessions(a);
	}
	uuid_path = xasprintf("%s/%s", a->ctx.rf_dir, RF_UUID_FILE);
	r = rf_uuid_load(uuid_path, a->ctx.uuid);
	free(uuid_path);
	if (r < 0)
		goto fail;
	sc.modules = modules;
	sc.auth = a->ctx.auth;
	sc.data = &a->ctx;
	sc.realm = "Kumo Redfish";
	r = rf_service_new(&sc, &a->svc);
	if (r < 0)
		goto fail;
	a->ctx.svc = a->svc;
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		r = hooks[i].start(&a->ctx);
		if (r < 0)
			goto fail;
	}
	if (cfg->listen && !cfg->relay_only) {
		r = start_listener(a, cfg);
		if (r < 0)
			goto fail;
	}
	*ret = a;
	return 0;
fail:
	redfish_agent_stop(a);
	return r;
}

struct rf_agent *redfish_agent_stop(struct rf_agent *a)
{
	if (!a)
		return NULL;
	rf_http_stop(a->http);
	for (size_t i = ARRAY_SIZE(hooks); i-- > 0;)
		hooks[i].stop(&a->ctx);
	rf_service_free(a->svc);
	rf_auth_free(a->ctx.auth);
	free(a->ctx.rf_dir);
	free(a->url);
	free(a->password_file);
	free(a);
	return NULL;
}

int redfish_agent_port(const struct rf_agent *a)
{
	return a->port;
}

const char *redfish_agent_url(const struct rf_agent *a)
{
	return a->url;
}

const char *redfish_agent_password_file(const struct rf_agent *a)
{
	return a->password_file;
}

/* ---- requests relayed over the channel ---- */

static const char *relay_header(void *cls, const char *name)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)cls, key, v)
	{
		if (strcasecmp(key, name) == 0)
			return json_string_value(v);
	}
	return NULL;
}

static json_t *relay_answer(struct rf_response *resp)
{
	json_t *headers = json_object(), *body = json_null();

	for (int i = 0; i < resp->nheaders; i++)
		json_object_set_new(headers, resp->hname[i], json_string(resp->hvalue[i]));
	if (resp->body)
		body = json_incref(resp->body);
	else if (resp->raw)
		body = json_stringn(resp->raw, resp->raw_len) ?: json_null();
	return json_pack("{s:i, s:o, s:o}", "status", resp->status, "headers", headers, "body",
	                 body);
}

json_t *redfish_agent_call(struct rf_agent *a, const json_t *request)
{
	const json_t *jbody = json_object_get(request, "body");
	const json_t *jprin = json_object_get(request, "principal");
	json_t *headers = json_object_get(request, "headers");
	struct rf_principal who = { 0 };
	struct rf_request req = { 0 };
	struct rf_response resp;
	char *body = NULL;
	json_t *ans;

	req.method = jstr(request, "method");
	req.path = jstr(request, "path");
	req.query = jstr(request, "query");
	req.client_addr = "kumod";
	if (json_is_object(headers)) {
		req.header = relay_header;
		req.header_cls = headers;
	}
	if (json_is_string(jbody)) {
		req.body = json_string_value(jbody);
		req.body_len = json_string_length(jbody);
	} else if (jbody && !json_is_null(jbody)) {
		body = json_dumps(jbody, JSON_COMPACT | JSON_ENCODE_ANY);
		req.body = body;
		req.body_len = body ? strlen(body) : 0;
	}
	if (json_is_object(jprin)) {
		const struct rf_role *role = rf_role_find(jstr(jprin, "role"));

		snprintf(who.user, sizeof(who.user), "%s", jstr(jprin, "user") ?: "");
		snprintf(who.role, sizeof(who.role), "%s", role ? role->id : "");
		who.privs = role ? role->privs : 0;
		req.principal = &who;
	}
	rf_response_init(&resp);
	rf_handle(a->svc, &req, &resp);
	if (resp.stream) {
		/* The channel carries whole answers only. */
		rf_response_clear(&resp);
		resp.status = 501;
		resp.body = rf_error_body(json_pack("[o]", rf_msg(RF_MSG_GENERAL_ERROR, NULL)));
		rf_response_common_headers(&resp);
	}
	ans = relay_answer(&resp);
	rf_response_clear(&resp);
	free(body);
	return ans;
}

/* ---- kumo-agent redfish ---- */

static void main_usage(FILE *f)
{
	fputs("usage: kumo-agent redfish --data-dir DIR --listen ADDR:PORT [--no-tls]\n"
	      "                          [--session-timeout S] [--hostname NAME]\n"
	      "                          [--log-level debug|info|warn|error]\n"
	      "Serves this node's Redfish service alone until SIGINT or SIGTERM. Plain HTTP\n"
	      "(--no-tls) only on a loopback address.\n",
	      f);
}

int redfish_agent_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "no-tls", no_argument, NULL, 'n' },
		{ "session-timeout", required_argument, NULL, 't' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rf_agent_config cfg = { .tls = true };
	enum log_level level = KLOG_INFO;
	struct rf_agent *a = NULL;
	sigset_t set;
	int c, sig, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'l':
			cfg.listen = optarg;
			break;
		case 'n':
			cfg.tls = false;
			break;
		case 't':
			cfg.session_timeout_s = atoi(optarg);
			if (cfg.session_timeout_s < RF_SESSION_TIMEOUT_MIN ||
			    cfg.session_timeout_s > RF_SESSION_TIMEOUT_MAX) {
				fprintf(stderr, "--session-timeout: %d to %d seconds\n",
				        RF_SESSION_TIMEOUT_MIN, RF_SESSION_TIMEOUT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'H':
			cfg.hostname = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg, &level) < 0) {
				main_usage(stderr);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || str_empty(cfg.data_dir) || str_empty(cfg.listen)) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	log_init("kumo-agent", level);
	/* Signals are taken by sigwait() below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = redfish_agent_start(&cfg, &a);
	if (r == -EPERM) {
		log_err("plain HTTP is only allowed on a loopback address, not %s", cfg.listen);
		return 1;
	}
	if (r < 0) {
		log_err("cannot start the Redfish service on %s: %s", cfg.listen, strerror(-r));
		return 1;
	}
	log_info("Redfish service at %s", redfish_agent_url(a));
	printf("url %s\npassword-file %s\n", redfish_agent_url(a), redfish_agent_password_file(a));
	fflush(stdout);
	do {
		r = sigwait(&set, &sig);
	} while (r == 0 && sig != SIGINT && sig != SIGTERM);
	log_info("stopping the Redfish service");
	redfish_agent_stop(a);
	return 0;
}
