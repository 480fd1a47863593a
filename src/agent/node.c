// SPDX-License-Identifier: MIT
/*
 * The node services of the agent's hosts (node.h). They are started after
 * the hosts are set up and before their channel threads, so the first
 * heartbeat already carries telemetry, and stopped before the hosts are
 * freed. One thread polls the sensors of the full nodes every second.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/node.h"
#include "agent/nodelog.h"
#include "agent/redfish_agent.h"
#include "agent/sensors.h"
#include "agent/thermal_rt.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define SENSOR_POLL_MS 1000
#define DEFAULT_LISTEN "0.0.0.0:8443"

struct node {
	struct agent *a;      /* weak */
	struct agent_host *h; /* weak */
	unsigned index;
	bool full;           /* all the services, not only the relay */
	char *dir;           /* owned; DATA/hosts/<index> */
	struct nodelog *log; /* full nodes */
	struct sensors *sensors;
	struct thermal_rt *thermal;
	struct rf_agent *rf;
};

struct nodes {
	struct agent *a; /* weak */
	unsigned n;
	struct node *v;
	pthread_t poller;
	bool poller_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

void agent_restart(struct agent *a)
{
	atomic_store(&a->restart, true);
	kill(getpid(), SIGTERM); /* main.c's sigwait takes it and starts again at the end */
}

/* ---- the model as a sensor source ("model:coolant", ...) ---------------- */

static double model_read(void *cls, const char *name, bool *ok)
{
	struct node *n = cls;
	struct thermal_rt_view v;
	int fan;

	*ok = false;
	if (!n->thermal)
		return 0;
	thermal_rt_view(n->thermal, &v);
	*ok = true;
	if (!strcmp(name, "coolant"))
		return *ok = v.r.coolant_valid, v.r.coolant_c;
	if (!strcmp(name, "pkg"))
		return *ok = v.r.pkg_valid, v.r.pkg_c;
	if (!strcmp(name, "ambient"))
		return *ok = v.r.ambient_valid, v.r.ambient_c;
	if (!strcmp(name, "heater_w"))
		return v.r.heater_w;
	if (!strcmp(name, "server_w"))
		return v.r.server_w;
	if (!strcmp(name, "total_w"))
		return v.r.total_w;
	if (sscanf(name, "fan%d", &fan) == 1 && fan >= 1 && fan <= v.r.fans)
		return v.r.fan_rpm[fan - 1];
	*ok = false;
	return 0;
}

/* ---- hooks of struct agent ------------------------------------------------ */

/* A sensor of the sensors module in the heartbeat's format. */
static json_t *telemetry_sensor(const json_t *s)
{
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?}", "id", jstr(s, "id"), "type",
	                      jstr(s, "type"), "unit", jstr(s, "unit"), "status", jstr(s, "status"),
	                      "context", jstr(s, "context"));
	const json_t *v = json_object_get(s, "value");

	json_object_set_new(o, "value",
	                    json_is_number(v) ? json_real(round(json_number_value(v) * 100) / 100)
	                                      : json_null());
	return o;
}

static json_t *node_telemetry(void *cls, unsigned index)
{
	struct nodes *ns = cls;
	struct node *n = index < ns->n ? &ns->v[index] : NULL;
	json_t *t, *list, *s;
	size_t i;

	if (!n || !n->full)
		return NULL;
	if (n->thermal) {
		t = thermal_rt_telemetry(n->thermal);
	} else {
		json_t *events = json_array(), *un = nodelog_unsent(n->log), *x;

		json_array_foreach(un, i, x) json_array_append_new(
		    events,
		    json_pack("{s:I, s:s, s:s?, s:s, s:I}", "ts", (json_int_t)jint(x, "ts", 0),
		              "severity", jstr(x, "severity"), "message_id", jstr(x, "message_id"),
		              "message", jstr(x, "message"), "seq", (json_int_t)jint(x, "seq", 0)));
		json_decref(un);
		t = json_pack("{s:I, s:[], s:o}", "ts", (json_int_t)now_ms(), "sensors", "events",
		              events);
	}
	if (n->sensors) {
		json_t *out = json_object_get(t, "sensors");

		list = sensors_json(n->sensors);
		json_array_foreach(list, i, s)
		{
			if (json_array_size(out) >= 120)
				break;
			/* the model's are in already; kumod takes typed readings only
			 * (a load average has no Redfish reading type) */
			if (!str_startswith(jstr(s, "source") ? jstr(s, "source") : "", "model:") &&
			    jstr(s, "type") && jstr(s, "unit") && jstr(s, "context"))
				json_array_append_new(out, telemetry_sensor(s));
		}
		json_decref(list);
	}
	return t;
}

static void node_telemetry_ack(void *cls, unsigned index, int64_t seq)
{
	struct nodes *ns = cls;

	if (index < ns->n && ns->v[index].log)
		nodelog_ack(ns->v[index].log, seq);
}

static json_t *node_rpc(void *cls, unsigned index, const char *type, const json_t *payload,
                        struct driver_err *e)
{
	struct nodes *ns = cls;
	struct node *n = index < ns->n ? &ns->v[index] : NULL;

	if (!n || !n->rf) {
		driver_fail(e, "NotSupported", "this host runs no Redfish service");
		return NULL;
	}
	if (strcmp(type, "node.redfish") != 0) {
		driver_fail(e, "NotSupported", "unknown node request %s", type);
		return NULL;
	}
	if (!json_is_object(payload) || !jstr(payload, "method") || !jstr(payload, "path")) {
		driver_fail(e, "InvalidArgument", "node.redfish: payload needs method and path");
		return NULL;
	}
	return redfish_agent_call(n->rf, payload);
}

/* ---- start and stop ----------------------------------------------------------- */

static void *poll_main(void *arg)
{
	struct nodes *ns = arg;

	pthread_mutex_lock(&ns->lock);
	while (!ns->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&ns->lock);
		for (unsigned i = 0; i < ns->n; i++)
			if (ns->v[i].sensors)
				sensors_poll(ns->v[i].sensors);
		pthread_mutex_lock(&ns->lock);
		deadline_mono(&ts, SENSOR_POLL_MS);
		if (!ns->stop)
			pthread_cond_timedwait(&ns->cond, &ns->lock, &ts);
	}
	pthread_mutex_unlock(&ns->lock);
	return NULL;
}

static int start_redfish(struct node *n, const struct config *cfg)
{
	struct rf_agent_config rc = { 0 };
	const char *listen = config_str(cfg, "redfish", "listen", NULL);
	int r;

	rc.agent = n->a;
	rc.host = n->h;
	rc.thermal = n->thermal;
	rc.sensors = n->sensors;
	rc.log = n->log;
	rc.hostname = agent_host_name(n->h);
	if (!n->full) {
		rc.data_dir = n->dir;
		rc.relay_only = true;
	} else {
		if (!listen)
			listen = strcmp(n->a->driver->name, "qemu") == 0 ? DEFAULT_LISTEN : "off";
		rc.data_dir = n->a->data_dir;
		rc.listen = strcmp(listen, "off") != 0 ? listen : NULL;
		rc.tls = config_bool(cfg, "redfish", "tls", true);
		rc.session_timeout_s = (int)config_int(cfg, "redfish", "session_timeout", 0);
		rc.host_reset_command = config_str(cfg, "redfish", "host_reset_command", NULL);
	}
	r = redfish_agent_start(&rc, &n->rf);
	if (r < 0) {
		log_err("redfish: cannot start the service%s%s: %s", rc.listen ? " on " : "",
		        rc.listen ? rc.listen : "",
		        r == -EPERM ? "plain HTTP (tls = false) only on a loopback address"
		                    : strerror(-r));
		return r;
	}
	if (n->full && redfish_agent_url(n->rf))
		log_info("redfish: %s (accounts: %s)", redfish_agent_url(n->rf),
		         redfish_agent_password_file(n->rf));
	return 0;
}

static int node_start(struct nodes *ns, struct node *n, struct agent_host *h, unsigned index)
{
	const struct config *cfg = ns->a->cfg;
	struct kerr e = { 0 };
	char *setpoints;
	int r;

	n->a = ns->a;
	n->h = h;
	n->index = index;
	n->full = ns->n == 1;
	n->dir = xasprintf("%s/hosts/%u", ns->a->data_dir, index);
	if (n->full) {
		n->log = nodelog_open(n->dir);
		r = sensors_new(cfg, &n->sensors, &e);
		if (r < 0) {
			log_err("sensors: %s", e.message);
			return r;
		}
		sensors_set_model_source(n->sensors, model_read, n);
		/* the operator's set points, beside the Redfish service's other state */
		setpoints =
		    xasprintf("%s/%s/%s", ns->a->data_dir, RF_AGENT_DIR, THERMAL_SETPOINTS_FILE);
		r = thermal_rt_start(cfg, !strcmp(ns->a->driver->name, "qemu"), h, setpoints,
		                     n->log, &n->thermal, &e);
		free(setpoints);
		if (r < 0) {
			log_err("thermal: %s", e.message);
			return r;
		}
	}
	return start_redfish(n, cfg);
}

static void node_stop(struct node *n)
{
	redfish_agent_stop(n->rf);
	thermal_rt_stop(n->thermal);
	sensors_free(n->sensors);
	nodelog_free(n->log);
	free(n->dir);
}

int nodes_start(struct agent *a, struct agent_host **hosts, unsigned n, struct nodes **ret)
{
	struct nodes *ns = xcalloc(1, sizeof(*ns));
	int r = 0;

	*ret = NULL;
	ns->a = a;
	ns->n = n;
	ns->v = xcalloc(n, sizeof(*ns->v));
	pthread_mutex_init(&ns->lock, NULL);
	{ /* waited on with deadline_mono(): the monotonic clock */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ns->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	for (unsigned i = 0; i < n && r == 0; i++)
		r = node_start(ns, &ns->v[i], hosts[i], i);
	if (r == 0 && n == 1 && (r = -pthread_create(&ns->poller, NULL, poll_main, ns)) == 0)
		ns->poller_started = true;
	if (r < 0) {
		nodes_stop(ns);
		return r;
	}
	a->telemetry = node_telemetry;
	a->telemetry_ack = node_telemetry_ack;
	a->telemetry_cls = ns;
	a->node_rpc = node_rpc;
	a->node_rpc_cls = ns;
	*ret = ns;
	return 0;
}

struct nodes *nodes_stop(struct nodes *ns)
{
	if (!ns)
		return NULL;
	if (ns->a->telemetry_cls == ns) {
		ns->a->telemetry = NULL;
		ns->a->telemetry_ack = NULL;
		ns->a->telemetry_cls = NULL;
		ns->a->node_rpc = NULL;
		ns->a->node_rpc_cls = NULL;
	}
	pthread_mutex_lock(&ns->lock);
	ns->stop = true;
	pthread_cond_broadcast(&ns->cond);
	pthread_mutex_unlock(&ns->lock);
	if (ns->poller_started)
		pthread_join(ns->poller, NULL);
	for (unsigned i = 0; i < ns->n; i++)
		node_stop(&ns->v[i]);
	pthread_cond_destroy(&ns->cond);
	pthread_mutex_destroy(&ns->lock);
	free(ns->v);
	free(ns);
	return NULL;
}
