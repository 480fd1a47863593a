/* SPDX-License-Identifier: MIT */
/*
 * The agent process: its settings (from the command line and the [agent]
 * section of the config file) and what all its hosts share. One process
 * runs one host (--driver qemu, later) or many simulated ones (--driver sim
 * --hosts N); each host has its own identity, journal, channel threads and
 * connections (channel.c).
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/driver.h"
#include "common/config.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_HOSTS_MAX 10000

struct agent_host;
struct agent;

/* Stops the agent cleanly, as SIGTERM does, and starts it again with the
 * same command line (Redfish Manager.Reset). Returns at once. */
void agent_restart(struct agent *a);

struct agent {
	/* Settings: set by main.c before any host starts, read-only after. */
	const char *server;     /* weak; kumod's base URL, "http://127.0.0.1:8080" */
	const char *token_file; /* weak; re-read at every registration */
	const char *data_dir;   /* weak */
	const char *name;       /* weak; NULL = "<hostname>-<driver>-<i+1>" */
	const char *cluster_id; /* weak; NULL = kumod chooses */
	const char *address;    /* weak; the address registered for the hosts */
	char hostname[64];      /* sanitized for names */
	unsigned nhosts;
	int64_t heartbeat_override_s;    /* 0 = what kumod answers */
	const struct driver_ops *driver; /* weak */
	const struct config *cfg;        /* weak */

	atomic_bool stop;    /* set once, on SIGINT/SIGTERM */
	atomic_bool restart; /* Manager.Reset: start again after stopping (agent_restart()) */

	/* The node's telemetry for heartbeats (the thermal runtime, when it
	 * runs; NULL otherwise). telemetry gives the "telemetry" member of host
	 * number index's next heartbeat (new reference, or NULL); telemetry_ack
	 * hands back the "telemetry_seq" kumod answered (the events it has).
	 * Called by the executor without any host lock held. */
	json_t *(*telemetry)(void *cls, unsigned index);
	void (*telemetry_ack)(void *cls, unsigned index, int64_t seq);
	void *telemetry_cls;
	/* Requests kumod relays to the node services ("node.*" RPCs, such as
	 * the Redfish aggregator's "node.redfish"): the data of the answer
	 * (new reference), or NULL with e filled. Runs on a thread of its own
	 * per request, without any host lock; may block. NULL: refused. */
	json_t *(*node_rpc)(void *cls, unsigned index, const char *type, const json_t *payload,
	                    struct driver_err *e);
	void *node_rpc_cls;

	/* Reachability of kumod across all hosts, so that an outage is logged
	 * once for the process, not once per host and retry. */
	pthread_mutex_t lock;
	unsigned hosts_down; /* hosts whose last call to kumod failed */
	bool outage_logged;
	bool refusal_logged; /* a registration was refused (bad join token) */
};
