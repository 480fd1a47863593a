// SPDX-License-Identifier: MIT
/*
 * CPU caps (src/agent/cpucap.c): CPU time from /proc/PID/stat, the mode
 * chosen for a directory with no controller, and, where this machine has a
 * writable cgroup CPU controller (v2 or v1), a real cap on a real busy
 * process: capped at 10% it gets about a tenth of a CPU, uncapped again it
 * gets much more, and the groups are gone after cpucap_free. Without a
 * controller that test is reported as skipped, never as passed.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cpucap.h"
#include "common/util.h"

static int spin_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		volatile unsigned long x = 0;

		alarm(30); /* never outlive a crashed test */
		for (;;)
			x++;
	}
	return pid;
}

static void reap(int pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static bool in_kumo_group(int pid)
{
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/kumo-unittest"))
			found = true;
	fclose(f);
	return found;
}

/* CPU shares of a and b over the same ms milliseconds. */
static void both_shares(int a, int b, int ms, double *sa, double *sb)
{
	int64_t a0 = cpucap_cpu_usec(a), b0 = cpucap_cpu_usec(b), t0 = mono_ms();
	double dt;

	usleep((useconds_t)ms * 1000);
	dt = (double)(mono_ms() - t0);
	*sa = (double)(cpucap_cpu_usec(a) - a0) / 1000.0 / dt;
	*sb = (double)(cpucap_cpu_usec(b) - b0) / 1000.0 / dt;
}

static void test_cpu_usec(void **state)
{
	int pid = spin_child();
	int64_t u0 = cpucap_cpu_usec(pid), deadline = mono_ms() + 5000;

	assert_true(u0 >= 0);
	/* a spinning process gains CPU time (however loaded the machine) */
	while (cpucap_cpu_usec(pid) < u0 + 50000 && mono_ms() < deadline)
		usleep(20000);
	assert_true(cpucap_cpu_usec(pid) >= u0 + 50000);
	reap(pid);
	assert_true(cpucap_cpu_usec(pid) < 0); /* gone */
	assert_true(cpucap_cpu_usec(getpid()) >= 0);
}

static void test_no_controller(void **state)
{
	char tmpl[] = "/tmp/kumo-cpucap-XXXXXX";
	const char *why = NULL;
	struct cpucap *c;

	assert_non_null(mkdtemp(tmpl));
	c = cpucap_new(tmpl, "t0000000");
	assert_int_equal(cpucap_mode(c, &why), CPUCAP_NONE);
	assert_non_null(strstr(why, "no writable cpu controller"));
	assert_int_equal(cpucap_set(c, "0123456789abcdef", getpid(), 1, 50), -ENOTSUP);
	cpucap_free(c);
	assert_int_equal(rmdir(tmpl), 0); /* nothing left in it */
}

static void test_real_cap(void **state)
{
	struct cpucap *c = cpucap_new("/sys/fs/cgroup", "unittest");
	const char *vm = "feedface-0000-4000-8000-000000000001";
	double capped, free_share;
	struct stat st;
	bool v2;
	int pid, twin;

	if (cpucap_mode(c, NULL) == CPUCAP_NONE) {
		cpucap_free(c);
		skip();
	}
	/* two spinners side by side, one capped: whatever else the machine
	 * does, the capped one gets about a tenth of a CPU and far less than
	 * its free twin */
	pid = spin_child();
	twin = spin_child();
	assert_int_equal(cpucap_set(c, vm, pid, 1, 10), 0);
	assert_true(in_kumo_group(pid));
	both_shares(pid, twin, 1000, &capped, &free_share);
	print_message("cpucap %s: capped at 10%%: %.2f CPU, its uncapped twin: %.2f CPU\n",
	              cpucap_mode_name(cpucap_mode(c, NULL)), capped, free_share);
	assert_true(capped < 0.2);
	assert_true(free_share > 2 * capped);
	reap(twin);
	assert_int_equal(cpucap_set(c, vm, pid, 1, 100), 0); /* the cap lifted */
	assert_int_equal(cpucap_set(c, vm, pid, 1, 0), 0);   /* clamped to 1% */
	v2 = cpucap_mode(c, NULL) == CPUCAP_V2;
	cpucap_free(c);
	/* the process is back where it was, the groups are gone */
	assert_int_equal(
	    stat(v2 ? "/sys/fs/cgroup/kumo-unittest" : "/sys/fs/cgroup/cpu/kumo-unittest", &st),
	    -1);
	assert_false(in_kumo_group(pid));
	reap(pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_usec),
		cmocka_unit_test(test_no_controller),
		cmocka_unit_test(test_real_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
