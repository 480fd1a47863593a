/* SPDX-License-Identifier: MIT */
/*
 * The VM state machine (see vm_state.h for the table it implements). The
 * rules are data: one row per action naming the states it may start from,
 * the states in which it has nothing to do, and the transitional, success
 * and failure states. vm_transition() and vm_transition_done() only look
 * rows up. All refusal messages are compile-time string literals, so the
 * pointers handed out in ret_msg stay valid forever and need no locking.
 *
 * This file knows nothing about the store, jobs or hosts; callers load the
 * VM, ask here, and write the result back in their own transaction.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/util.h"
#include "kumod/vm_state.h"

/* Expands to one string literal per state, in enum vm_state order:
 * pre "<state>" post. The single place that spells the state names. */
#define PER_STATE(pre, post)                                                                       \
	{                                                                                          \
		pre "creating" post, pre "starting" post, pre "running" post, pre "stopping" post, \
		    pre "stopped" post, pre "rebooting" post, pre "pausing" post,                  \
		    pre "paused" post, pre "migrating" post, pre "destroying" post,                \
		    pre "destroyed" post, pre "error" post, pre "unknown" post,                    \
	}

static const char *const state_names[] = PER_STATE("", "");
_Static_assert(ARRAY_SIZE(state_names) == VM_STATE_MAX, "one name per vm state");

static const char *const busy_msg[VM_STATE_MAX] =
    PER_STATE("another operation is in progress (state ", ")");
static const char *const already_msg[VM_STATE_MAX] = PER_STATE("vm is already ", "");

/* "cannot <verb> a vm in state <state>", one row per action. */
static const char *const refuse_msg[VMA_MAX][VM_STATE_MAX] = {
	[VMA_CREATE] = PER_STATE("cannot create a vm in state ", ""),
	[VMA_START] = PER_STATE("cannot start a vm in state ", ""),
	[VMA_STOP] = PER_STATE("cannot stop a vm in state ", ""),
	[VMA_REBOOT] = PER_STATE("cannot reboot a vm in state ", ""),
	[VMA_PAUSE] = PER_STATE("cannot pause a vm in state ", ""),
	[VMA_RESUME] = PER_STATE("cannot resume a vm in state ", ""),
	[VMA_DESTROY] = PER_STATE("cannot destroy a vm in state ", ""),
	[VMA_FORCE_STOP] = PER_STATE("cannot stop a vm in state ", ""),
};

#define S(s) (1u << (s))
#define ALL_STATES ((1u << VM_STATE_MAX) - 1)
/* In the failed column: back to the state the VM was in before the action. */
#define BACK VM_STATE_MAX

_Static_assert(VM_STATE_MAX <= 32, "state masks are 32 bits");

#define TRANSITIONAL                                                                               \
	(S(VM_CREATING) | S(VM_STARTING) | S(VM_STOPPING) | S(VM_REBOOTING) | S(VM_PAUSING) |      \
	 S(VM_MIGRATING) | S(VM_DESTROYING))

static const struct vm_rule {
	const char *name;              /* vm_action_name() */
	unsigned from;                 /* states the action may start from */
	unsigned already;              /* states where it has nothing to do: -EALREADY */
	const char *already_msg;       /* NULL: "vm is already <state>" */
	enum vm_state via, ok, failed; /* failed may be BACK */
} rules[VMA_MAX] = {
	/* A new VM is inserted in state creating; there is no state to start
	 * a create from, so every existing VM refuses it. */
	[VMA_CREATE] = { "create", 0, ALL_STATES, "vm already exists", VM_CREATING, VM_RUNNING,
	                 VM_ERROR },
	[VMA_START] = { "start", S(VM_STOPPED), S(VM_RUNNING), NULL, VM_STARTING, VM_RUNNING,
	                VM_STOPPED },
	[VMA_STOP] = { "stop", S(VM_RUNNING) | S(VM_PAUSED), S(VM_STOPPED), NULL, VM_STOPPING,
	               VM_STOPPED, BACK },
	[VMA_REBOOT] = { "reboot", S(VM_RUNNING), 0, NULL, VM_REBOOTING, VM_RUNNING, VM_RUNNING },
	[VMA_PAUSE] = { "pause", S(VM_RUNNING), S(VM_PAUSED), NULL, VM_PAUSING, VM_PAUSED,
	                VM_RUNNING },
	[VMA_RESUME] = { "resume", S(VM_PAUSED), S(VM_RUNNING), NULL, VM_STARTING, VM_RUNNING,
	                 VM_PAUSED },
	[VMA_DESTROY] = { "destroy",
	                  S(VM_RUNNING) | S(VM_STOPPED) | S(VM_PAUSED) | S(VM_ERROR) |
	                      S(VM_UNKNOWN),
	                  S(VM_DESTROYED), NULL, VM_DESTROYING, VM_DESTROYED, VM_ERROR },
	[VMA_FORCE_STOP] = { "force_stop",
	                     S(VM_RUNNING) | S(VM_PAUSED) | S(VM_ERROR) | S(VM_UNKNOWN),
	                     S(VM_STOPPED), NULL, VM_STOPPING, VM_STOPPED, BACK },
};

const char *vm_state_name(enum vm_state s)
{
	if ((unsigned)s >= VM_STATE_MAX)
		return "invalid";
	return state_names[s];
}

int vm_state_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < VM_STATE_MAX; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *vm_action_name(enum vm_action a)
{
	if ((unsigned)a >= VMA_MAX)
		return "invalid";
	return rules[a].name;
}

int vm_action_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < VMA_MAX; i++)
		if (strcmp(s, rules[i].name) == 0)
			return i;
	return -EINVAL;
}

bool vm_state_transitional(enum vm_state s)
{
	return (unsigned)s < VM_STATE_MAX && (TRANSITIONAL & S(s));
}

int vm_transition(enum vm_state from, enum vm_action a, enum vm_state *ret_via,
                  const char **ret_msg)
{
	assert((unsigned)from < VM_STATE_MAX);
	assert((unsigned)a < VMA_MAX);
	const struct vm_rule *r = &rules[a];
	const char *msg;
	int code;

	if (r->from & S(from)) {
		if (ret_via)
			*ret_via = r->via;
		return 0;
	}
	if (r->already & S(from)) {
		code = -EALREADY;
		msg = r->already_msg ? r->already_msg : already_msg[from];
	} else if (TRANSITIONAL & S(from)) {
		code = -EBUSY;
		msg = busy_msg[from];
	} else {
		code = -ESTALE;
		msg = refuse_msg[a][from];
	}
	if (ret_msg)
		*ret_msg = msg;
	return code;
}

enum vm_state vm_transition_done(enum vm_state from, enum vm_action a, bool ok)
{
	assert((unsigned)from < VM_STATE_MAX);
	assert((unsigned)a < VMA_MAX);
	const struct vm_rule *r = &rules[a];

	if (ok)
		return r->ok;
	return r->failed == BACK ? from : r->failed;
}
