// SPDX-License-Identifier: MIT
/*
 * Requests answered at once by an agent (rpc.h). A short list under one
 * mutex: there are only ever as many as callers waiting.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/host.h"
#include "kumod/rpc.h"

#define RPC_MAX 4096 /* requests in flight; more are refused (-EBUSY) */

struct rpc {
	char id[UUID_LEN + 1];
	char host_id[UUID_LEN + 1];
	json_t *cmd;    /* {"id","type","payload","rpc":true}; NULL once sent */
	json_t *result; /* the answer, once it came */
	struct rpc *next;
};

static pthread_mutex_t rpc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rpc_cond;
static pthread_once_t rpc_once = PTHREAD_ONCE_INIT;
static struct rpc *rpcs;
static size_t nrpcs;

static void rpc_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&rpc_cond, &a);
	pthread_condattr_destroy(&a);
}

static void unlink_rpc(struct rpc *r)
{
	for (struct rpc **p = &rpcs; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			nrpcs--;
			return;
		}
	}
}

int rpc_call(const char *host_id, const char *type, json_t *payload, int64_t timeout_ms,
             json_t **ret_data, struct kerr *e)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct rpc *r;
	int ret = 0;

	pthread_once(&rpc_once, rpc_init);
	if (!host_connected(host_id)) {
		json_decref(payload);
		return kerr_set(e, -EHOSTDOWN, "", "the vm's host is not connected");
	}
	r = xcalloc(1, sizeof(*r));
	uuid_new(r->id);
	snprintf(r->host_id, sizeof(r->host_id), "%s", host_id);
	r->cmd = json_pack("{s:s,s:s,s:o,s:b}", "id", r->id, "type", type, "payload",
	                   payload ? payload : json_object(), "rpc", 1);
	pthread_mutex_lock(&rpc_lock);
	if (nrpcs >= RPC_MAX) {
		pthread_mutex_unlock(&rpc_lock);
		json_decref(r->cmd);
		free(r);
		return kerr_set(e, -EBUSY, "", "too many requests to hosts in flight; retry");
	}
	r->next = rpcs;
	rpcs = r;
	nrpcs++;
	pthread_mutex_unlock(&rpc_lock);
	host_wake(host_id);

	pthread_mutex_lock(&rpc_lock);
	while (!r->result && !host_stopping()) {
		struct timespec ts;
		int64_t left = deadline - mono_ms();

		if (left <= 0)
			break;
		deadline_mono(&ts, left < 500 ? left : 500);
		pthread_cond_timedwait(&rpc_cond, &rpc_lock, &ts);
	}
	unlink_rpc(r);
	pthread_mutex_unlock(&rpc_lock);

	if (!r->result) {
		ret = kerr_set(e, -ETIMEDOUT, "", "the host did not answer in %lld s",
		               (long long)(timeout_ms / 1000));
	} else if (strcmp(jstr(r->result, "status"), "succeeded") != 0) {
		const json_t *err = json_object_get(r->result, "error");
		const char *code = jstr(err, "code");

		ret = kerr_set(e,
		               code && !strcmp(code, "NotFound")       ? -ENOENT
		               : code && !strcmp(code, "NotSupported") ? -ENOSYS
		                                                       : -EIO,
		               "", "%s",
		               jstr(err, "message") ? jstr(err, "message") : "the host failed");
	} else {
		const json_t *d = json_object_get(r->result, "data");

		*ret_data = d ? json_incref((json_t *)d) : json_object();
	}
	json_decref(r->cmd);
	json_decref(r->result);
	free(r);
	return ret;
}

size_t rpc_take(const char *host_id, json_t *cmds)
{
	size_t n = 0;

	pthread_mutex_lock(&rpc_lock);
	for (struct rpc *r = rpcs; r; r = r->next) {
		if (r->cmd && !strcmp(r->host_id, host_id)) {
			json_array_append_new(cmds, r->cmd);
			r->cmd = NULL;
			n++;
		}
	}
	pthread_mutex_unlock(&rpc_lock);
	return n;
}

bool rpc_deliver(const char *host_id, const json_t *res)
{
	const char *id = jstr(res, "command_id");
	bool found = false;

	if (!id)
		return false;
	pthread_once(&rpc_once, rpc_init);
	pthread_mutex_lock(&rpc_lock);
	for (struct rpc *r = rpcs; r; r = r->next) {
		if (!strcmp(r->id, id) && !strcmp(r->host_id, host_id)) {
			if (!r->result)
				r->result = json_deep_copy(res);
			found = true;
			pthread_cond_broadcast(&rpc_cond);
			break;
		}
	}
	pthread_mutex_unlock(&rpc_lock);
	return found;
}
