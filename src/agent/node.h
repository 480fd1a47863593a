/* SPDX-License-Identifier: MIT */
/*
 * The node services of an agent that runs one real host (DESIGN.md section
 * 7): the node log, the thermal controller and the telemetry that goes up
 * with the heartbeats. An agent simulating many hosts (--driver sim
 * --hosts N) runs none of them.
 */
#pragma once

#include "agent/agent.h"
#include "agent/channel.h"

struct node;

/* Starts the services for host h (host number 0 of a). Sets a's telemetry
 * hooks. 0, or -EINVAL (a bad [thermal] setting, logged): the agent does
 * not start then. *ret is NULL when the agent runs no node services. */
int node_start(struct agent *a, struct agent_host *h, struct node **ret);
/* Stops them (before the host is freed). */
struct node *node_stop(struct node *n);
