/* SPDX-License-Identifier: MIT */
/*
 * Requests to an agent that want an answer at once, not a job: reads such
 * as a VM's serial console (and, later, the Redfish relay). The request
 * rides in the host's next long-poll answer marked "rpc": true; the agent
 * answers it through /results without journaling it. Requests live in
 * memory only: a kumod restart forgets them and their callers get an
 * error, which is right for reads.
 */
#pragma once

#include <jansson.h>

#include "common/error.h"

#define RPC_TIMEOUT_MS 10000

/* Sends type/payload (payload stolen) to the host and waits up to
 * timeout_ms for the answer. 0 with *ret_data (the result's data), or
 * -ETIMEDOUT (the host did not answer), -EHOSTDOWN (it is not connected),
 * or the host's error (e filled: NotFound -> -ENOENT, else -EIO). */
int rpc_call(const char *host_id, const char *type, json_t *payload, int64_t timeout_ms,
             json_t **ret_data, struct kerr *e);
/* For the long-poll: appends the host's waiting requests to cmds. */
size_t rpc_take(const char *host_id, json_t *cmds);
/* For /results: hands res to the request it answers; false when it is not
 * an RPC's answer (then it is a command's). */
bool rpc_deliver(const char *host_id, const json_t *res);
