/* SPDX-License-Identifier: MIT */
/*
 * The VM state machine as one table. Every VM state change in kumod goes
 * through vm_transition(): an action moves a VM from a stable state into a
 * transitional one; the host's result moves it to the final state on
 * success or back (or to error) on failure.
 *
 *   action   from                          via         ok        failed
 *   create   (new)                         creating    running   error
 *   start    stopped                       starting    running   stopped
 *   stop     running, paused               stopping    stopped   (from)
 *   reboot   running                       rebooting   running   running
 *   pause    running                       pausing     paused    running
 *   resume   paused                        starting    running   paused
 *   destroy  running, stopped, paused,     destroying  destroyed error
 *            error, unknown
 * A forced stop (VMA_STOP with force) is also allowed from error and unknown.
 * Host lost: any state -> unknown (remembered), host back: the reported state.
 */
#pragma once

#include <stdbool.h>

enum vm_state {
	VM_CREATING,
	VM_STARTING,
	VM_RUNNING,
	VM_STOPPING,
	VM_STOPPED,
	VM_REBOOTING,
	VM_PAUSING,
	VM_PAUSED,
	VM_MIGRATING,
	VM_DESTROYING,
	VM_DESTROYED,
	VM_ERROR,
	VM_UNKNOWN,
	VM_STATE_MAX,
};

enum vm_action {
	VMA_CREATE,
	VMA_START,
	VMA_STOP,
	VMA_REBOOT,
	VMA_PAUSE,
	VMA_RESUME,
	VMA_DESTROY,
	VMA_FORCE_STOP, /* stop with {"force":true}: also from error and unknown */
	VMA_MAX,
};

const char *vm_state_name(enum vm_state s);
int vm_state_parse(const char *s); /* enum value or -EINVAL */
const char *vm_action_name(enum vm_action a);
int vm_action_parse(const char *s); /* enum value or -EINVAL */
bool vm_state_transitional(enum vm_state s);

/* The state a VM enters when action starts from `from`; -EBUSY (transitional
 * state: another operation is running) or -EALREADY/-EINVAL... as negative
 * errno -> 409 in the API, with a message in ret_msg (static string). */
int vm_transition(enum vm_state from, enum vm_action a, enum vm_state *ret_via,
                  const char **ret_msg);
/* Final state after the host's result. from: the state before the action. */
enum vm_state vm_transition_done(enum vm_state from, enum vm_action a, bool ok);
