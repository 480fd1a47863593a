/* SPDX-License-Identifier: MIT */
/*
 * The node services of the agent's hosts (DESIGN.md section 7).
 *
 * An agent that runs one real host (the qemu driver, or a single simulated
 * host) runs all of them for it: the node log, the host's sensors, the
 * thermal controller, the Redfish service on its own listener, and the
 * telemetry that goes up with the heartbeats. An agent simulating many
 * hosts gives each only a Redfish service without listener or accounts,
 * answering kumod's aggregator for that host's VMs.
 *
 * Config ([redfish] of the agent's file; docs/REDFISH.md):
 *   listen              ADDR:PORT of the HTTPS listener (0.0.0.0:8443;
 *                       "off": none, the aggregator's relay only)
 *   tls                 true; false only on a loopback address (tests)
 *   session_timeout     seconds (1800)
 *   host_reset_command  the command ComputerSystem.Reset of the host runs
 *                       (argv split on spaces, no shell); unset: refused
 */
#pragma once

#include "agent/agent.h"
#include "agent/channel.h"

struct nodes;

/* Starts the services of every host of a (hosts[0..n)). Sets a's
 * telemetry and node RPC hooks. 0, or a negative errno (logged: a bad
 * [thermal] or [redfish] setting, a Redfish port in use): the agent does
 * not start then. */
int nodes_start(struct agent *a, struct agent_host **hosts, unsigned n, struct nodes **ret);
/* Stops them (before the hosts are freed). */
struct nodes *nodes_stop(struct nodes *ns);
