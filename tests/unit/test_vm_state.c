/* SPDX-License-Identifier: MIT */
/*
 * The VM state machine against the table in vm_state.h, written out again
 * here cell by cell: every action from every state, the message of every
 * refusal, and the final state after the host's result.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kumod/vm_state.h"

/* A cell: allowed (code 0, via state) or refused (negative errno). */
struct cell {
	int code;
	enum vm_state via;
};

/* clang-format off */
#define V(s) { 0, VM_##s }
#define B    { -EBUSY, 0 }
#define A    { -EALREADY, 0 }
#define X    { -ESTALE, 0 }

/* The table of vm_state.h, cell by cell: V(via) allowed, B busy (transitional
 * state), A already there, X not allowed from this state. */
static const struct cell expected[VMA_MAX][VM_STATE_MAX] = {
	/*                 creating starting running        stopping stopped         rebooting pausing paused          migrating destroying destroyed error           unknown */
	[VMA_CREATE]     = { A,     A,       A,             A,       A,              A,        A,      A,              A,        A,         A,        A,              A },
	[VMA_START]      = { B,     B,       A,             B,       V(STARTING),    B,        B,      X,              B,        B,         X,        X,              X },
	[VMA_STOP]       = { B,     B,       V(STOPPING),   B,       A,              B,        B,      V(STOPPING),    B,        B,         X,        X,              X },
	[VMA_REBOOT]     = { B,     B,       V(REBOOTING),  B,       X,              B,        B,      X,              B,        B,         X,        X,              X },
	[VMA_PAUSE]      = { B,     B,       V(PAUSING),    B,       X,              B,        B,      A,              B,        B,         X,        X,              X },
	[VMA_RESUME]     = { B,     B,       A,             B,       X,              B,        B,      V(STARTING),    B,        B,         X,        X,              X },
	[VMA_DESTROY]    = { B,     B,       V(DESTROYING), B,       V(DESTROYING),  B,        B,      V(DESTROYING),  B,        B,         A,        V(DESTROYING),  V(DESTROYING) },
	[VMA_FORCE_STOP] = { B,     B,       V(STOPPING),   B,       A,              B,        B,      V(STOPPING),    B,        B,         X,        V(STOPPING),    V(STOPPING) },
};
/* clang-format on */

static const char *const state_names[VM_STATE_MAX] = {
	"creating", "starting",  "running",    "stopping",  "stopped", "rebooting", "pausing",
	"paused",   "migrating", "destroying", "destroyed", "error",   "unknown",
};

static const char *const action_names[VMA_MAX] = {
	"create", "start", "stop", "reboot", "pause", "resume", "destroy", "force_stop",
};

/* The verb a user typed: a forced stop is still "stop". */
static const char *const verbs[VMA_MAX] = {
	"create", "start", "stop", "reboot", "pause", "resume", "destroy", "stop",
};

static void test_every_cell(void **state)
{
	(void)state;
	int allowed = 0, refused = 0;

	for (int a = 0; a < VMA_MAX; a++) {
		for (int s = 0; s < VM_STATE_MAX; s++) {
			const struct cell *want = &expected[a][s];
			enum vm_state via = VM_STATE_MAX; /* sentinel: must stay on refusal */
			const char *msg = "untouched";
			char line[128], buf[128];

			snprintf(line, sizeof(line), "%s from %s", action_names[a], state_names[s]);
			int r = vm_transition((enum vm_state)s, (enum vm_action)a, &via, &msg);
			if (r != want->code)
				fail_msg("%s: got %d, want %d", line, r, want->code);
			if (want->code == 0) {
				allowed++;
				if (via != want->via)
					fail_msg("%s: via %d, want %d", line, via, want->via);
				assert_string_equal(msg, "untouched");
				continue;
			}
			refused++;
			assert_int_equal(via, VM_STATE_MAX);
			assert_non_null(msg);
			if (want->code == -EBUSY)
				snprintf(buf, sizeof(buf),
				         "another operation is in progress (state %s)",
				         state_names[s]);
			else if (want->code == -EALREADY && a == VMA_CREATE)
				snprintf(buf, sizeof(buf), "vm already exists");
			else if (want->code == -EALREADY)
				snprintf(buf, sizeof(buf), "vm is already %s", state_names[s]);
			else
				snprintf(buf, sizeof(buf), "cannot %s a vm in state %s", verbs[a],
				         state_names[s]);
			if (strcmp(msg, buf) != 0)
				fail_msg("%s: message \"%s\", want \"%s\"", line, msg, buf);
		}
	}
	/* The table has 15 allowed cells; everything else is refused. */
	assert_int_equal(allowed, 15);
	assert_int_equal(refused, VMA_MAX * VM_STATE_MAX - 15);
}

static void test_null_out_params(void **state)
{
	(void)state;
	assert_int_equal(vm_transition(VM_STOPPED, VMA_START, NULL, NULL), 0);
	assert_int_equal(vm_transition(VM_RUNNING, VMA_START, NULL, NULL), -EALREADY);
}

/* The ok and failed columns, for every allowed starting state. */
static void test_done(void **state)
{
	(void)state;
	static const struct {
		enum vm_action a;
		enum vm_state from, ok, failed;
	} rows[] = {
		{ VMA_CREATE, VM_CREATING, VM_RUNNING, VM_ERROR },
		{ VMA_START, VM_STOPPED, VM_RUNNING, VM_STOPPED },
		{ VMA_STOP, VM_RUNNING, VM_STOPPED, VM_RUNNING },
		{ VMA_STOP, VM_PAUSED, VM_STOPPED, VM_PAUSED },
		{ VMA_REBOOT, VM_RUNNING, VM_RUNNING, VM_RUNNING },
		{ VMA_PAUSE, VM_RUNNING, VM_PAUSED, VM_RUNNING },
		{ VMA_RESUME, VM_PAUSED, VM_RUNNING, VM_PAUSED },
		{ VMA_DESTROY, VM_RUNNING, VM_DESTROYED, VM_ERROR },
		{ VMA_DESTROY, VM_STOPPED, VM_DESTROYED, VM_ERROR },
		{ VMA_DESTROY, VM_PAUSED, VM_DESTROYED, VM_ERROR },
		{ VMA_DESTROY, VM_ERROR, VM_DESTROYED, VM_ERROR },
		{ VMA_DESTROY, VM_UNKNOWN, VM_DESTROYED, VM_ERROR },
		{ VMA_FORCE_STOP, VM_RUNNING, VM_STOPPED, VM_RUNNING },
		{ VMA_FORCE_STOP, VM_PAUSED, VM_STOPPED, VM_PAUSED },
		{ VMA_FORCE_STOP, VM_ERROR, VM_STOPPED, VM_ERROR },
		{ VMA_FORCE_STOP, VM_UNKNOWN, VM_STOPPED, VM_UNKNOWN },
	};
	int covered[VMA_MAX][VM_STATE_MAX] = { { 0 } };

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (vm_transition_done(rows[i].from, rows[i].a, true) != rows[i].ok)
			fail_msg("%s from %s ok: got %s", action_names[rows[i].a],
			         state_names[rows[i].from],
			         vm_state_name(vm_transition_done(rows[i].from, rows[i].a, true)));
		if (vm_transition_done(rows[i].from, rows[i].a, false) != rows[i].failed)
			fail_msg("%s from %s failed: got %s", action_names[rows[i].a],
			         state_names[rows[i].from],
			         vm_state_name(vm_transition_done(rows[i].from, rows[i].a, false)));
		covered[rows[i].a][rows[i].from] = 1;
	}
	/* Every allowed cell of the matrix has a row above (create aside,
	 * which starts from no state). */
	for (int a = 0; a < VMA_MAX; a++)
		for (int s = 0; s < VM_STATE_MAX; s++)
			if (expected[a][s].code == 0 && !covered[a][s])
				fail_msg("no done row for %s from %s", action_names[a],
				         state_names[s]);
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < VM_STATE_MAX; s++) {
		assert_string_equal(vm_state_name((enum vm_state)s), state_names[s]);
		assert_int_equal(vm_state_parse(state_names[s]), s);
	}
	for (int a = 0; a < VMA_MAX; a++) {
		assert_string_equal(vm_action_name((enum vm_action)a), action_names[a]);
		assert_int_equal(vm_action_parse(action_names[a]), a);
	}
	static const char *const bad[] = { "", "Running", "runnin", "running ", "new", "stop!" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vm_state_parse(bad[i]), -EINVAL);
		assert_int_equal(vm_action_parse(bad[i]), -EINVAL);
	}
	assert_int_equal(vm_state_parse(NULL), -EINVAL);
	assert_int_equal(vm_action_parse(NULL), -EINVAL);
	assert_string_equal(vm_state_name(VM_STATE_MAX), "invalid");
	assert_string_equal(vm_action_name(VMA_MAX), "invalid");
}

static void test_transitional(void **state)
{
	(void)state;
	static const bool want[VM_STATE_MAX] = {
		[VM_CREATING] = true,   [VM_STARTING] = true, [VM_STOPPING] = true,
		[VM_REBOOTING] = true,  [VM_PAUSING] = true,  [VM_MIGRATING] = true,
		[VM_DESTROYING] = true,
	};
	for (int s = 0; s < VM_STATE_MAX; s++)
		if (vm_state_transitional((enum vm_state)s) != want[s])
			fail_msg("transitional(%s) is wrong", state_names[s]);
	assert_false(vm_state_transitional(VM_STATE_MAX));
}

/* A whole life: create, pause, stop from paused, start, destroy. */
static void test_lifecycle(void **state)
{
	(void)state;
	enum vm_state s, via;

	s = vm_transition_done(VM_CREATING, VMA_CREATE, true);
	assert_int_equal(s, VM_RUNNING);
	assert_int_equal(vm_transition(s, VMA_PAUSE, &via, NULL), 0);
	assert_int_equal(vm_transition(via, VMA_STOP, NULL, NULL), -EBUSY);
	s = vm_transition_done(s, VMA_PAUSE, true);
	assert_int_equal(s, VM_PAUSED);
	assert_int_equal(vm_transition(s, VMA_STOP, &via, NULL), 0);
	assert_int_equal(via, VM_STOPPING);
	s = vm_transition_done(s, VMA_STOP, false);
	assert_int_equal(s, VM_PAUSED);
	s = vm_transition_done(s, VMA_STOP, true);
	assert_int_equal(s, VM_STOPPED);
	assert_int_equal(vm_transition(s, VMA_START, &via, NULL), 0);
	s = vm_transition_done(s, VMA_START, true);
	assert_int_equal(vm_transition(s, VMA_DESTROY, &via, NULL), 0);
	assert_int_equal(via, VM_DESTROYING);
	s = vm_transition_done(s, VMA_DESTROY, true);
	assert_int_equal(s, VM_DESTROYED);
	assert_int_equal(vm_transition(s, VMA_DESTROY, NULL, NULL), -EALREADY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell),   cmocka_unit_test(test_null_out_params),
		cmocka_unit_test(test_done),         cmocka_unit_test(test_names),
		cmocka_unit_test(test_transitional), cmocka_unit_test(test_lifecycle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
