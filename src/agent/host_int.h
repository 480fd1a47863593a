/* SPDX-License-Identifier: MIT */
/*
 * The state of one host of the agent, shared by channel.c and
 * channel_exec.c (the channel to kumod: poller and executor threads) and
 * host_local.c (what the node itself asks of its VMs: the Redfish service
 * and the thermal controller). Private to those files; everyone else uses
 * channel.h.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/driver.h"
#include "agent/journal.h"

struct net;

struct pending {
	char *id;     /* owned */
	int64_t due;  /* mono_ms */
	uint64_t seq; /* arrival order among equal due times */
};

struct outbox_entry {
	uint64_t seq; /* the journal change that recorded it (0: on disk already) */
	char *id;     /* owned */
	char *result; /* owned; compact JSON */
	struct outbox_entry *next;
};

struct agent_host {
	struct agent *a; /* weak */
	unsigned index;
	char *name;          /* owned; the name registered */
	char *dir;           /* owned; DIR/hosts/<index> */
	char *identity_path; /* owned */
	pthread_t poller, executor;
	bool poller_started, executor_started;

	pthread_mutex_t lock;
	pthread_cond_t exec_cond; /* the executor waits on it */
	pthread_cond_t poll_cond; /* the poller's backoff sleeps */

	struct driver_host *dh; /* owned */
	struct journal *j;      /* owned */
	struct net *net;        /* owned; qemu driver, once the host has an id */

	/* Identity. gen changes when it is dropped (a 401); the poller's
	 * cancel hook reads it without the lock. */
	bool have_id;
	char *host_id; /* owned */
	char *secret;  /* owned */
	atomic_uint gen;
	int64_t heartbeat_s, poll_wait_s;

	/* Commands accepted by the poller, not yet given a due time. */
	char **incoming; /* owned ids */
	size_t nincoming, capincoming;
	/* Commands waiting for their due time: a min-heap. */
	struct pending **heap;
	size_t nheap, capheap;
	uint64_t seq;
	/* Results not yet acknowledged by kumod, oldest first. */
	struct outbox_entry *out_head, *out_tail;
	size_t nout;
	size_t post_single_left; /* after a refused batch: send one at a time */
	unsigned down;           /* under a->lock: enum call bits whose last try failed */

	/* Concurrent drivers: commands running on their own threads, and the
	 * VMs they name (a VM's next command waits for the one running). */
	unsigned nops;
	pthread_cond_t ops_cond; /* nops went down */
	char **busy_vms;         /* owned ids */
	size_t nbusy, capbusy;
	bool heartbeat_now;      /* a VM changed by itself: tell kumod at once */
	unsigned nlocal;         /* local VM actions running (host_local.c) */
	unsigned nrpcs;          /* node RPC threads running (host_local.c) */
	_Atomic int64_t last_up; /* mono ms of the last heartbeat kumod answered; 0 never */
	struct fence *fence;     /* owned; HA self-fencing (fence.c), concurrent drivers */
	struct driver_env env;
};

/* Is a command or local action running on this VM? Called with h->lock. */
bool host_vm_busy(const struct agent_host *h, const char *vm_id);
void host_vm_busy_set(struct agent_host *h, const char *vm_id, bool busy);

/* Answers a "node.*" RPC (cmd: {"id","type","payload"}) on a thread of its
 * own, through a->node_rpc, and posts the result to kumod. Called with
 * h->lock held; never blocks. */
void host_node_rpc(struct agent_host *h, const json_t *cmd);
