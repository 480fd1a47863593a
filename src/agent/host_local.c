// SPDX-License-Identifier: MIT
/*
 * What the node itself asks of its VMs (channel.h, "What the node itself
 * asks"): the Redfish service's ComputerSystem.Reset and the thermal
 * controller's shedding act on VMs without a command from kumod. An action
 * marks its VM busy exactly as a command of a concurrent driver does, so a
 * command of kumod for the same VM waits for it (and it for the command),
 * runs through exec.c like a command (same checks, same journal update),
 * and asks for a heartbeat at once so that kumod learns the new state as it
 * does when a guest powers itself off. Nothing of it goes to the outbox:
 * kumod never sent it, so it has no result to wait for.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "agent/channel.h"
#include "agent/exec.h"
#include "agent/host_int.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

static const char *const local_types[] = { "vm.start", "vm.stop", "vm.reboot", "vm.pause",
	                                   "vm.resume" };

const char *agent_host_id(struct agent_host *h, char *out, size_t outlen)
{
	const char *r = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->have_id && h->host_id) {
		snprintf(out, outlen, "%s", h->host_id);
		r = out;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

const char *agent_host_name(const struct agent_host *h)
{
	return h->name;
}

struct driver_host *agent_host_driver(struct agent_host *h)
{
	return h->dh;
}

struct vms_walk {
	struct agent_host *h; /* weak */
	json_t *out;          /* weak */
};

static void vm_row(void *cls, struct journal_vm *vm)
{
	struct vms_walk *w = cls;
	const struct driver_ops *ops = w->h->a->driver;
	const char *state = ops->vm_state ? ops->vm_state(w->h->dh, vm) : NULL;
	int pid = ops->vm_pid ? ops->vm_pid(w->h->dh, vm->id) : 0;
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:i}", "id", vm->id, "name",
	                      vm->name ? vm->name : vm->id, "state", state ? state : vm->state,
	                      "vcpus", (json_int_t)jint(vm->spec, "vcpus", 1), "memory_mb",
	                      (json_int_t)jint(vm->spec, "memory_mb", 0), "priority",
	                      (json_int_t)jint(vm->spec, "priority", 0), "pid", pid);

	if (!o)
		abort();
	json_array_append_new(w->out, o);
}

json_t *agent_host_vms(struct agent_host *h)
{
	struct vms_walk w = { h, json_array() };

	pthread_mutex_lock(&h->lock);
	journal_vm_each(h->j, vm_row, &w);
	pthread_mutex_unlock(&h->lock);
	return w.out;
}

static bool local_type_ok(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(local_types); i++)
		if (!strcmp(local_types[i], type))
			return true;
	return false;
}

/* Waits (h->lock held) until vm_id is free, the agent stops or deadline
 * (mono_ms) passes. true when free. */
static bool wait_free(struct agent_host *h, const char *vm_id, int64_t deadline)
{
	while (host_vm_busy(h, vm_id)) {
		struct timespec ts;
		int64_t now = mono_ms();

		if (atomic_load(&h->a->stop) || now >= deadline)
			return false;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (deadline - now) / 1000;
		ts.tv_nsec += (long)((deadline - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->ops_cond, &h->lock, &ts);
	}
	return true;
}

int agent_host_vm_action(struct agent_host *h, const char *vm_id, const char *type, bool force,
                         int64_t wait_ms, const char *why, struct driver_err *e)
{
	const struct driver_ops *ops = h->a->driver;
	char id[64];
	json_t *payload, *res;
	int r = 0;

	if (!local_type_ok(type))
		return driver_fail(e, "InvalidArgument", "%s is not an action on a VM", type);
	if (!vm_id || !journal_id_valid(vm_id))
		return driver_fail(e, "InvalidArgument", "no valid VM id");
	payload = json_pack("{s:s, s:b}", "vm_id", vm_id, "force", force);
	snprintf(id, sizeof(id), "local-%lld", (long long)mono_ms());

	pthread_mutex_lock(&h->lock);
	if (atomic_load(&h->a->stop)) {
		r = driver_fail(e, "Interrupted", "the agent is stopping");
		goto out;
	}
	if (!journal_vm_find(h->j, vm_id)) {
		r = driver_fail(e, "NotFound", "vm %s is not on this host", vm_id);
		goto out;
	}
	if (!wait_free(h, vm_id, mono_ms() + wait_ms)) {
		r = driver_fail(e, "Busy", "another operation on vm %s is in progress", vm_id);
		goto out;
	}
	host_vm_busy_set(h, vm_id, true);
	h->nlocal++;
	res = ops->concurrent ? exec_command_unlocking(ops, h->dh, h->j, id, type, payload,
	                                               &h->lock, h->net, NULL)
	                      : exec_command(ops, h->dh, h->j, id, type, payload);
	host_vm_busy_set(h, vm_id, false);
	h->nlocal--;
	if (strcmp(jstr(res, "status") ? jstr(res, "status") : "", "succeeded") != 0) {
		const json_t *err = json_object_get(res, "error");
		const char *code = jstr(err, "code");

		/* exec.c's codes are string literals of its own; keep ours static */
		r = driver_fail(e, code && !strcmp(code, "NotFound") ? "NotFound" : "Conflict",
		                "%s", jstr(err, "message") ? jstr(err, "message") : "failed");
	} else {
		log_info("host %s: vm %s: %s%s%s%s", h->name, vm_id, type, why ? " (" : "",
		         why ? why : "", why ? ")" : "");
	}
	json_decref(res);
	/* tell kumod now; wake commands waiting for this VM */
	h->heartbeat_now = true;
	pthread_cond_broadcast(&h->ops_cond);
	pthread_cond_broadcast(&h->exec_cond);
out:
	pthread_mutex_unlock(&h->lock);
	json_decref(payload);
	return r;
}

/* ---- node RPCs ------------------------------------------------------------- */

#define NODE_RPCS_MAX 16
#define NODE_RPC_POST_TIMEOUT_S 15
#if defined(__SANITIZE_ADDRESS__)
#define NODE_RPC_STACK (1024 * 1024)
#else
#define NODE_RPC_STACK (512 * 1024)
#endif

struct node_rpc {
	struct agent_host *h; /* weak */
	json_t *cmd;          /* owned */
};

static json_t *rpc_failed(const char *id, const char *code, const char *message)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}}", "command_id", id, "status", "failed", "error",
	                 "code", code, "message", message);
}

static void post_result(struct agent_host *h, json_t *res)
{
	struct http_client *c = http_client_new(h->a->server);
	struct http_result hr;
	char path[256], token[1024] = "";
	json_t *body = json_pack("{s:[o]}", "results", res);
	int r;

	pthread_mutex_lock(&h->lock);
	snprintf(path, sizeof(path), "/agent/v1/hosts/%s/results", h->host_id ? h->host_id : "");
	snprintf(token, sizeof(token), "%s", h->secret ? h->secret : "");
	pthread_mutex_unlock(&h->lock);
	if (!c) {
		json_decref(body);
		return;
	}
	http_client_set_token(c, token);
	explicit_bzero(token, sizeof(token));
	r = http_client_request(c, "POST", path, body, NODE_RPC_POST_TIMEOUT_S, &hr);
	if (r < 0 || hr.status >= 300)
		log_debug("host %s: cannot answer a node request: %s", h->name,
		          r < 0 ? strerror(-r) : "refused");
	http_result_clear(&hr);
	http_client_free(c);
	json_decref(body);
}

static void *node_rpc_main(void *arg)
{
	struct node_rpc *n = arg;
	struct agent_host *h = n->h;
	struct driver_err e = { NULL, "" };
	const char *id = jstr(n->cmd, "id");
	json_t *data = NULL, *res;

	if (h->a->node_rpc)
		data = h->a->node_rpc(h->a->node_rpc_cls, h->index, jstr(n->cmd, "type"),
		                      json_object_get(n->cmd, "payload"), &e);
	else
		driver_fail(&e, "NotSupported", "this agent runs no node services");
	if (data)
		res = json_pack("{s:s, s:s, s:o}", "command_id", id, "status", "succeeded", "data",
		                data);
	else
		res = rpc_failed(id, e.code ? e.code : "Internal", e.message);
	post_result(h, res);
	json_decref(n->cmd);
	free(n);
	pthread_mutex_lock(&h->lock);
	h->nrpcs--;
	pthread_cond_broadcast(&h->ops_cond);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void host_node_rpc(struct agent_host *h, const json_t *cmd)
{
	struct node_rpc *n;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (h->nrpcs >= NODE_RPCS_MAX || atomic_load(&h->a->stop)) {
		/* not answered (posting here would block under the lock) */
		log_warn("host %s: %u node requests running: request %s refused", h->name, h->nrpcs,
		         jstr(cmd, "id"));
		return; /* kumod's caller times out */
	}
	n = xcalloc(1, sizeof(*n));
	n->h = h;
	n->cmd = json_deep_copy(cmd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, NODE_RPC_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, node_rpc_main, n);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_warn("host %s: cannot start a thread for a node request: %s", h->name,
		         strerror(r));
		json_decref(n->cmd);
		free(n);
		return;
	}
	h->nrpcs++;
}
