/* SPDX-License-Identifier: MIT */
/*
 * The agent side of the agent channel (DESIGN.md section 5), for one host:
 * registration and its identity file, a poller thread that long-polls kumod
 * for commands, and an executor thread that runs them (in simulated time for
 * the sim driver), keeps the journal, posts results and heartbeats.
 */
#pragma once

#include "agent/agent.h"

struct agent_host;

/* Host number index of agent a: creates DIR/hosts/<index>/, loads its
 * identity and journal and the driver's state. Logs what it finds wrong.
 * 0 or -errno. */
int agent_host_new(struct agent *a, unsigned index, struct agent_host **ret);
/* Starts the host's two threads. 0 or -errno (nothing started then). */
int agent_host_start(struct agent_host *h);
/* Wakes the host's threads so they notice a->stop. */
void agent_host_wake(struct agent_host *h);
/* Joins the threads (set a->stop and wake first), saves the journal, frees. */
struct agent_host *agent_host_free(struct agent_host *h);
