/* SPDX-License-Identifier: MIT */
/*
 * Keeping the hosts' networks in step with the store (issue 4). For each
 * host, the whole desired network state ("spec", src/agent/net.h) is
 * computed from the store; a host whose spec changed gets a net.apply
 * command. Specs are remembered by digest, so a change reaches only the
 * hosts it concerns.
 */
#pragma once

#include <jansson.h>

#include "common/error.h"

/* In the caller's transaction: a job of type "net.update" on (kind, id)
 * for account_id, to be answered 202. When it runs it pushes the new state
 * to every connected host whose spec changed and finishes when they have
 * all applied it (at once when none had to). ret_job: owned by the caller. */
int netsync_job(const char *kind, const char *id, const char *account_id, json_t **ret_job,
                struct kerr *e);
/* The spec of one host as it is in the store now (for vm.create's "net"). */
int netsync_spec(const char *host_id, json_t **ret);
/* Something changed that may concern any host (a VM with NICs created or
 * removed, a host back): a background pass pushes what changed, soon. */
void netsync_kick(void);
/* Forgets what host_id was sent, so the next pass sends it again. */
void netsync_forget(const char *host_id);
int netsync_start(void);
void netsync_stop(void);
