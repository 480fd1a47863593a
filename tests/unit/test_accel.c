// SPDX-License-Identifier: MIT
/*
 * Accelerator detection (src/agent/accel.c): the cpuinfo rule on sample
 * texts, each reason for TCG, the KUMO_ACCEL override, the test guest
 * against a fake KVM (right exits, wrong ones, a hang, a crash) and, on this
 * machine, an answer consistent with its /proc/cpuinfo.
 *
 * The fake KVM: this file defines ioctl(), which the test binary uses
 * instead of libc's. With fake_mode FAKE_OFF every call goes to the kernel;
 * otherwise KVM requests (type KVMIO) are answered here: the VM is a
 * /dev/null descriptor, the vCPU a memfd that the probe maps as its
 * kvm_run, and KVM_RUN checks the real-mode setup and the guest code before
 * it writes the exit the mode asks for. The probe runs in a forked child,
 * which inherits fake_mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/accel.h"
#include "common/util.h"

enum fake_mode {
	FAKE_OFF,       /* the real kernel */
	FAKE_OK,        /* out 0x42 to 0x10, then hlt */
	FAKE_API_11,    /* KVM_GET_API_VERSION says 11 */
	FAKE_NO_VM,     /* KVM_CREATE_VM fails with EPERM */
	FAKE_SHUTDOWN,  /* the first exit is KVM_EXIT_SHUTDOWN */
	FAKE_WRONG_OUT, /* out 0x43 */
	FAKE_NO_HLT,    /* the second exit is another KVM_EXIT_IO */
	FAKE_HANG,      /* KVM_RUN never returns */
	FAKE_CRASH,     /* the probe process is killed inside KVM_RUN */
};

#define FAKE_RUN_SIZE 4096
#define FAKE_DATA_OFFSET 3000

static enum fake_mode fake_mode;
static struct {
	uint64_t gpa, size;
	const uint8_t *hva;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int runs;
} fake;

/* The first exit: the guest's out, if it is set up as the probe must set
 * it up (real mode, rip at its code); else KVM_EXIT_FAIL_ENTRY. */
static void fake_first_exit(struct kvm_run *run)
{
	static const uint8_t code[] = {
		0x66, 0xb9, 0x40, 0x42, 0x0f, 0x00, /* mov ecx,1000000 */
		0x67, 0xe2, 0xfd,                   /* 1: a32 loop 1b */
		0xb0, 0x42,                         /* mov al,0x42 */
		0xe6, 0x10,                         /* out 0x10,al */
		0xf4,                               /* hlt */
	};
	uint8_t *data = (uint8_t *)run + FAKE_DATA_OFFSET;

	if (!fake.hva || fake.regs.rip < fake.gpa ||
	    fake.regs.rip + sizeof(code) > fake.gpa + fake.size ||
	    memcmp(fake.hva + (fake.regs.rip - fake.gpa), code, sizeof(code)) ||
	    fake.sregs.cs.base || fake.sregs.cs.selector || !(fake.regs.rflags & 2)) {
		run->exit_reason = KVM_EXIT_FAIL_ENTRY;
		return;
	}
	if (fake_mode == FAKE_SHUTDOWN) {
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		return;
	}
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = 0x10;
	run->io.count = 1;
	run->io.data_offset = FAKE_DATA_OFFSET;
	*data = fake_mode == FAKE_WRONG_OUT ? 0x43 : 0x42;
}

static int fake_run(int fd)
{
	struct kvm_run *run = mmap(NULL, FAKE_RUN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (run == MAP_FAILED)
		return -1;
	if (fake_mode == FAKE_HANG)
		for (;;)
			pause();
	if (fake_mode == FAKE_CRASH)
		kill(getpid(), SIGKILL);
	if (fake.runs++ == 0)
		fake_first_exit(run);
	else
		run->exit_reason = fake_mode == FAKE_NO_HLT ? KVM_EXIT_IO : KVM_EXIT_HLT;
	munmap(run, FAKE_RUN_SIZE);
	return 0;
}

static int fake_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	const struct kvm_userspace_memory_region *region = arg;
	int vcpu;

	switch (req) {
	case KVM_GET_API_VERSION:
		return fake_mode == FAKE_API_11 ? 11 : 12;
	case KVM_CREATE_VM:
		if (fake_mode == FAKE_NO_VM) {
			errno = EPERM;
			return -1;
		}
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case KVM_GET_VCPU_MMAP_SIZE:
		return FAKE_RUN_SIZE;
	case KVM_SET_USER_MEMORY_REGION:
		fake.gpa = region->guest_phys_addr;
		fake.size = region->memory_size;
		fake.hva = (const uint8_t *)(uintptr_t)region->userspace_addr;
		return 0;
	case KVM_CREATE_VCPU:
		vcpu = memfd_create("fake-vcpu", MFD_CLOEXEC);
		if (vcpu >= 0 && ftruncate(vcpu, FAKE_RUN_SIZE) < 0)
			return -1;
		return vcpu;
	case KVM_GET_SREGS:
		memcpy(arg, &fake.sregs, sizeof(fake.sregs));
		return 0;
	case KVM_SET_SREGS:
		memcpy(&fake.sregs, arg, sizeof(fake.sregs));
		return 0;
	case KVM_SET_REGS:
		memcpy(&fake.regs, arg, sizeof(fake.regs));
		return 0;
	case KVM_RUN:
		return fake_run(fd);
	default:
		errno = ENOTTY;
		return -1;
	}
}

/* Replaces libc's for this test binary (see the top of the file). */
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fake_mode == FAKE_OFF || _IOC_TYPE(req) != KVMIO)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	return fake_kvm_ioctl(fd, req, arg);
}

#define CPUINFO_VMX                                                                                \
	"processor\t: 0\nvendor_id\t: GenuineIntel\n"                                              \
	"flags\t\t: fpu vme de pse tsc msr pae vmx smx est tm2 ssse3\n"                            \
	"vmx flags\t: vnmi preemption_timer invvpid ept_x_only\n"                                  \
	"bugs\t\t: spectre_v1\n\n"                                                                 \
	"processor\t: 1\nvendor_id\t: GenuineIntel\n"                                              \
	"flags\t\t: fpu vme de pse tsc msr pae vmx smx est tm2 ssse3\n"                            \
	"vmx flags\t: vnmi preemption_timer invvpid ept_x_only\n"
#define CPUINFO_SVM                                                                                \
	"processor\t: 0\nvendor_id\t: AuthenticAMD\n"                                              \
	"flags\t\t: fpu vme de pse tsc msr pae lm svm extapic cr8_legacy abm sse4a\n"
#define CPUINFO_NONE                                                                               \
	"processor\t: 0\nvendor_id\t: AuthenticAMD\n"                                              \
	"flags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm cmp_legacy vmmcall\n"

struct fixture {
	char dir[64];
	char cpu_vmx[128], cpu_none[128], missing[128];
	char *saved_env; /* owned; KUMO_ACCEL as it was, or NULL */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *env = getenv(ACCEL_ENV);

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_accel.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cpu_vmx, sizeof(f->cpu_vmx), "%s/cpuinfo-vmx", f->dir);
	snprintf(f->cpu_none, sizeof(f->cpu_none), "%s/cpuinfo-none", f->dir);
	snprintf(f->missing, sizeof(f->missing), "%s/no-such-file", f->dir);
	assert_int_equal(file_write_atomic(f->cpu_vmx, CPUINFO_VMX, strlen(CPUINFO_VMX), 0600), 0);
	assert_int_equal(file_write_atomic(f->cpu_none, CPUINFO_NONE, strlen(CPUINFO_NONE), 0600),
	                 0);
	f->saved_env = env ? xstrdup(env) : NULL;
	unsetenv(ACCEL_ENV);
	fake_mode = FAKE_OFF;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	fake_mode = FAKE_OFF;
	if (f->saved_env)
		setenv(ACCEL_ENV, f->saved_env, 1);
	else
		unsetenv(ACCEL_ENV);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->saved_env);
	free(f);
	return 0;
}

/* The flags part of the rule, on texts. */
static void test_cpuinfo_flags(void **state)
{
	assert_string_equal(accel_cpuinfo_virt_flag(CPUINFO_VMX), "vmx");
	assert_string_equal(accel_cpuinfo_virt_flag(CPUINFO_SVM), "svm");
	assert_null(accel_cpuinfo_virt_flag(CPUINFO_NONE));
	assert_null(accel_cpuinfo_virt_flag(NULL)); /* the file could not be read */
	assert_null(accel_cpuinfo_virt_flag(""));
	assert_null(accel_cpuinfo_virt_flag("processor\t: 0\nmodel name\t: vmx svm\n"));
	/* Only a "flags" line counts, and only whole words in it. */
	assert_null(accel_cpuinfo_virt_flag("vmx flags\t: vmx svm\nflags\t: fpu\n"));
	assert_null(accel_cpuinfo_virt_flag("flags\t\t: fpu vmxe xsvm svm_lock\n"));
	assert_null(accel_cpuinfo_virt_flag("flags vmx svm\n")); /* no colon */
	/* First word, last word, no final newline, CRLF-free spacing. */
	assert_string_equal(accel_cpuinfo_virt_flag("flags:vmx fpu"), "vmx");
	assert_string_equal(accel_cpuinfo_virt_flag("flags  \t: fpu\tsvm"), "svm");
	/* Every CPU must have it. */
	assert_null(accel_cpuinfo_virt_flag("flags\t: fpu vmx\nflags\t: fpu\n"));
	assert_null(accel_cpuinfo_virt_flag("flags\t: vmx\nflags\t: svm\n"));
}

/* The reasons for TCG before any guest runs: no device, no readable
 * cpuinfo, no flag (the case of this kind of machine). None runs the probe:
 * it would hang here. */
static void test_tcg_reasons(void **state)
{
	struct fixture *f = *state;
	struct accel_paths p = { .kvm_dev = "/dev/null", .probe_timeout_ms = 5000 };
	char reason[ACCEL_REASON_MAX];
	int64_t t0 = mono_ms();

	fake_mode = FAKE_HANG;
	p.cpuinfo = f->cpu_vmx;
	p.kvm_dev = f->missing;
	assert_string_equal(accel_choose(NULL, &p, reason, sizeof(reason)), "tcg");
	assert_true(str_startswith(reason, "tcg: cannot open "));
	assert_non_null(strstr(reason, "No such file"));

	p.kvm_dev = "/dev/null";
	p.cpuinfo = f->missing;
	assert_string_equal(accel_choose("auto", &p, reason, sizeof(reason)), "tcg");
	assert_true(str_startswith(reason, "tcg: /dev/null present but "));
	assert_non_null(strstr(reason, "cannot be read"));

	p.cpuinfo = f->cpu_none;
	assert_string_equal(accel_choose("", &p, reason, sizeof(reason)), "tcg");
	assert_string_equal(reason,
	                    "tcg: /dev/null present but the CPU advertises neither vmx nor svm");
	assert_true(mono_ms() - t0 < 4000); /* no probe ran (it would take 5 s) */
}

/* The test guest against the fake KVM: each way it can go. */
static void test_probe_outcomes(void **state)
{
	static const struct {
		enum fake_mode mode;
		int r;
		const char *reason; /* a part of it */
	} cases[] = {
		{ FAKE_OK, 0, "a test guest ran" },
		{ FAKE_API_11, -EPROTO, "KVM_GET_API_VERSION is 11, not 12" },
		{ FAKE_NO_VM, -EPERM, "KVM_CREATE_VM failed: Operation not permitted" },
		{ FAKE_SHUTDOWN, -EPROTO, "exit reason 8, not KVM_EXIT_IO" },
		{ FAKE_WRONG_OUT, -EPROTO, "did out 0x43 on port 0x10, not out 0x42 on 0x10" },
		{ FAKE_NO_HLT, -EPROTO, "exit reason 2 after its out, not KVM_EXIT_HLT" },
		{ FAKE_CRASH, -EPROTO, "died of signal 9" },
	};
	char reason[ACCEL_REASON_MAX];
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), status;

	assert_true(fd >= 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		fake_mode = cases[i].mode;
		reason[0] = '\0';
		assert_int_equal(accel_kvm_probe(fd, 2000, reason, sizeof(reason)), cases[i].r);
		if (!strstr(reason, cases[i].reason))
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, reason,
			         cases[i].reason);
	}
	fake_mode = FAKE_OFF;
	/* The descriptor is the caller's, and every probe process was reaped. */
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A /dev/kvm that hangs the guest: the probe gives up at its timeout, kills
 * the child and reaps it; detection says tcg. */
static void test_probe_hang(void **state)
{
	struct fixture *f = *state;
	struct accel_paths p = { .kvm_dev = "/dev/null", .probe_timeout_ms = 300 };
	char reason[ACCEL_REASON_MAX];
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), status;
	int64_t t0, took;

	assert_true(fd >= 0);
	fake_mode = FAKE_HANG;
	t0 = mono_ms();
	assert_int_equal(accel_kvm_probe(fd, 300, reason, sizeof(reason)), -ETIMEDOUT);
	took = mono_ms() - t0;
	assert_true(took >= 290 && took < 300 + 2500); /* the timeout, and the reap */
	assert_string_equal(reason, "the test guest did not finish within 300 ms");
	close(fd);

	p.cpuinfo = f->cpu_vmx;
	assert_string_equal(accel_choose(NULL, &p, reason, sizeof(reason)), "tcg");
	assert_string_equal(reason, "tcg: /dev/null present and the CPU advertises vmx, but the "
	                            "test guest did not finish within 300 ms");
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	fake_mode = FAKE_OK;
	assert_string_equal(accel_choose(NULL, &p, reason, sizeof(reason)), "kvm");
	assert_string_equal(reason,
	                    "kvm: /dev/null usable, the CPU advertises vmx and a test guest ran");
}

/* KUMO_ACCEL and the force argument. */
static void test_override(void **state)
{
	struct fixture *f = *state;
	struct accel_paths p = { .kvm_dev = f->missing, .cpuinfo = f->missing };
	char reason[ACCEL_REASON_MAX], detected[ACCEL_REASON_MAX];
	const char *auto_answer;

	assert_string_equal(accel_choose("kvm", &p, reason, sizeof(reason)), "kvm");
	assert_string_equal(reason, "kvm: forced");
	assert_string_equal(accel_choose("tcg", &p, reason, sizeof(reason)), "tcg");
	assert_string_equal(reason, "tcg: forced");
	assert_null(accel_choose("qemu", &p, reason, sizeof(reason)));
	assert_non_null(strstr(reason, "\"qemu\" is not kvm, tcg or auto"));
	assert_string_equal(accel_choose("kvm", NULL, NULL, 0), "kvm"); /* reason optional */

	auto_answer = accel_detect(detected, sizeof(detected));
	setenv(ACCEL_ENV, "kvm", 1);
	assert_string_equal(accel_detect(reason, sizeof(reason)), "kvm");
	assert_string_equal(reason, "kvm: forced by KUMO_ACCEL=kvm");
	setenv(ACCEL_ENV, "tcg", 1);
	assert_string_equal(accel_detect(reason, sizeof(reason)), "tcg");
	assert_string_equal(reason, "tcg: forced by KUMO_ACCEL=tcg");
	setenv(ACCEL_ENV, "auto", 1);
	assert_string_equal(accel_detect(reason, sizeof(reason)), auto_answer);
	assert_string_equal(reason, detected);
	setenv(ACCEL_ENV, "KVM!", 1);
	assert_string_equal(accel_detect(reason, sizeof(reason)), auto_answer);
	assert_true(str_startswith(reason, detected));
	assert_non_null(strstr(reason, "(KUMO_ACCEL=\"KVM!\" ignored)"));
}

/* This machine: the answer agrees with its /proc/cpuinfo. Without vmx/svm
 * it must be tcg even though /dev/kvm may open. */
static void test_detect_here(void **state)
{
	char reason[ACCEL_REASON_MAX];
	const char *answer, *flag;
	char *text = NULL;
	bool kvm_opens;
	int fd;

	if (file_read("/proc/cpuinfo", (size_t)16 << 20, &text, NULL) < 0)
		text = NULL;
	flag = accel_cpuinfo_virt_flag(text);
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	kvm_opens = fd >= 0;
	if (fd >= 0)
		close(fd);

	answer = accel_detect(reason, sizeof(reason));
	print_message("accel_detect: %s\n", reason);
	assert_non_null(answer);
	assert_true(str_startswith(reason, answer));
	assert_int_equal(reason[strlen(answer)], ':');
	if (!kvm_opens) {
		assert_string_equal(answer, "tcg");
		assert_non_null(strstr(reason, "cannot open /dev/kvm"));
	} else if (!flag) {
		assert_string_equal(answer, "tcg");
		assert_string_equal(
		    reason, "tcg: /dev/kvm present but the CPU advertises neither vmx nor svm");
	} else {
		assert_non_null(strstr(reason, flag));
	}
	free(text);
}

/* The real test guest on this machine's /dev/kvm, when it opens: it must
 * answer within its timeout, and its reason must match its result. */
static void test_probe_real_device(void **state)
{
	char reason[ACCEL_REASON_MAX] = "";
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), r, status;
	int64_t t0;

	if (fd < 0) {
		print_message("no usable /dev/kvm here: %s\n", strerror(errno));
		skip();
	}
	t0 = mono_ms();
	r = accel_kvm_probe(fd, ACCEL_PROBE_TIMEOUT_MS, reason, sizeof(reason));
	close(fd);
	print_message("probe on /dev/kvm: %d (%s)\n", r, reason);
	assert_true(mono_ms() - t0 < ACCEL_PROBE_TIMEOUT_MS + 2500);
	assert_int_equal(r == 0, !strcmp(reason, "a test guest ran"));
	assert_true(r <= 0);
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1); /* reaped, even when killed */
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuinfo_flags),
		cmocka_unit_test_setup_teardown(test_tcg_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detect_here, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_real_device, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
