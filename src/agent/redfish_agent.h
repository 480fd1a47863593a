/* SPDX-License-Identifier: MIT */
/*
 * The agent's Redfish service: the node's resources (one rf_<resource>.c
 * per resource, each exporting one struct rf_module), served on their own
 * HTTPS listener and to kumod's aggregator over the agent channel
 * (redfish_agent_call()). Files live in DATA/redfish/: accounts.json,
 * sessions.json, admin-password, tls-cert.pem, tls-key.pem, uuid, the
 * EventService's and TelemetryService's subscriptions.json,
 * eventservice.json and metric-report-definitions.json, and the thermal
 * controller's setpoints.json (thermal_rt.h, written by thermal_rt_set()
 * for rf_control.c).
 *
 * Adding a resource: write rf_<resource>.c with its routes and schemas,
 * declare its module below, list it in redfish_agent.c's modules[], and
 * put what its handlers need into struct rf_agent_ctx.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "common/redfish.h"
#include "common/redfish_auth.h"
#include "common/util.h"

#define RF_AGENT_DIR "redfish" /* under the agent's data dir */
#define RF_UUID_FILE "uuid"

/* What every handler of the agent's service gets as call->data. Set up by
 * redfish_agent_start(); read-only while the service runs (its pointees
 * do their own locking). */
struct agent;
struct agent_host;
struct thermal_rt;
struct sensors;
struct nodelog;
struct rf_events;    /* rf_event_push.c */
struct rf_telemetry; /* rf_telemetry.c */

struct rf_agent_ctx {
	const char *data_dir;    /* weak; the agent's data dir */
	char *rf_dir;            /* owned; DATA/redfish */
	struct rf_auth *auth;    /* owned by struct rf_agent; NULL for a relay-only service */
	char uuid[UUID_LEN + 1]; /* ServiceRoot.UUID, kept in DATA/redfish/uuid */
	char hostname[64];       /* this host's name */
	struct rf_service *svc;  /* weak; the service these handlers are in */
	/* The node (node.c sets them through rf_agent_config). Each may be
	 * NULL: `kumo-agent redfish` alone has none of them, a simulated host
	 * of a many-host agent has only agent and host. */
	struct agent *agent;            /* weak; agent_restart() for Manager.Reset */
	struct agent_host *host;        /* weak; its VMs and their actions (channel.h) */
	struct thermal_rt *thermal;     /* weak; the box and its controller (thermal_rt.h) */
	struct sensors *sensors;        /* weak; the host's own sensors (sensors.h) */
	struct nodelog *log;            /* weak; the Manager's LogService, events (nodelog.h) */
	const char *host_reset_command; /* weak; [redfish] host_reset_command, NULL = refused */
	/* State of modules that outlives a request (threads, files), made by
	 * their start hook (below) before the service serves and freed by
	 * their stop hook once it has stopped; NULL before and after. */
	struct rf_events *events;       /* owned; rf_event.c (rf_event.h) */
	struct rf_telemetry *telemetry; /* owned; rf_telemetry.c */
};

struct rf_agent_config {
	const char *data_dir;  /* required */
	const char *listen;    /* "0.0.0.0:8443"; NULL = no listener (kumod's channel only) */
	bool tls;              /* false is refused unless listen is a loopback address */
	int session_timeout_s; /* [redfish] session_timeout; 0 = RF_SESSION_TIMEOUT_DEFAULT */
	const char *hostname;  /* NULL = gethostname() */
	bool relay_only;       /* no accounts and no listener: kumod's relay only */
	/* The node, copied into struct rf_agent_ctx (see there). */
	struct agent *agent;
	struct agent_host *host;
	struct thermal_rt *thermal;
	struct sensors *sensors;
	struct nodelog *log;
	const char *host_reset_command;
};

/* The modules of the agent's service (rf_root.c, rf_session.c,
 * rf_account.c; the others are listed in redfish_agent.c). */
extern const struct rf_module rf_root_module;
extern const struct rf_module rf_session_module;
extern const struct rf_module rf_account_module;
extern const struct rf_module rf_system_module;    /* rf_system.c */
extern const struct rf_module rf_chassis_module;   /* rf_chassis.c (+ rf_sensor.c, rf_power.c) */
extern const struct rf_module rf_manager_module;   /* rf_manager.c */
extern const struct rf_module rf_event_module;     /* rf_event.c */
extern const struct rf_module rf_telemetry_module; /* rf_telemetry.c */
extern const struct rf_module rf_thermaleq_module; /* rf_thermaleq.c */

/* Start and stop hooks of the modules with state (redfish_agent.c's
 * hooks[]): start runs, in order, once the service is built and before it
 * serves (0, or a negative errno that fails redfish_agent_start()); stop
 * runs, in the reverse order, once the listener is down, also after a
 * failed start (with ctx's field still NULL when its start never ran). */
int rf_event_start(struct rf_agent_ctx *ctx);
void rf_event_stop(struct rf_agent_ctx *ctx);
int rf_telemetry_start(struct rf_agent_ctx *ctx);
void rf_telemetry_stop(struct rf_agent_ctx *ctx);

struct rf_agent;

/* Opens DATA/redfish (accounts, certificate, UUID: made at first start),
 * builds the service and, with cfg->listen, starts its listener. 0 or a
 * negative errno: -EPERM for plain HTTP on an address that is not
 * loopback, -EADDRINUSE, -EINVAL (bad listen address or account file). */
int redfish_agent_start(const struct rf_agent_config *cfg, struct rf_agent **ret);
/* Stops the listener and frees everything; returns NULL. */
struct rf_agent *redfish_agent_stop(struct rf_agent *a);
/* The listener's port (0 without one). */
int redfish_agent_port(const struct rf_agent *a);
/* "https://127.0.0.1:8443/redfish/v1" (NULL without a listener). */
const char *redfish_agent_url(const struct rf_agent *a);
/* Path of the bootstrap admin password file (it may have been removed). */
const char *redfish_agent_password_file(const struct rf_agent *a);

/* A request relayed by kumod over the channel:
 *   {"method": "GET", "path": "/redfish/v1/Systems", "query": "$top=2",
 *    "headers": {"If-Match": "..."}, "body": {...} or "raw text",
 *    "principal": {"user": "alice", "role": "Administrator"}}
 * "principal" is the caller kumod has authenticated; without it the
 * headers must carry X-Auth-Token or Basic credentials of this agent.
 * Answers {"status": 200, "headers": {...}, "body": {...} or "text" or
 * null}. Streams (SSE) are not relayed: 501. New reference; never NULL. */
json_t *redfish_agent_call(struct rf_agent *a, const json_t *request);

/* `kumo-agent redfish --data-dir DIR --listen ADDR [--no-tls]
 * [--session-timeout S] [--hostname NAME] [--log-level L]`: the service
 * alone, until SIGINT or SIGTERM. Prints "url URL" and "password-file
 * PATH" on stdout. argv[0] is the subcommand's name ("redfish"), options
 * follow. Returns the exit status (2: bad usage, 1: cannot start). */
int redfish_agent_main(int argc, char **argv);
