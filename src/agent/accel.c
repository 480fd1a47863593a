// SPDX-License-Identifier: MIT
/*
 * Accelerator detection (see accel.h): KVM where it really works, TCG
 * otherwise. The checks run in order, cheapest first: the device opens, the
 * CPU advertises vmx or svm, a test guest runs. The test guest runs in a
 * forked child that only makes system calls and writes one fixed-size
 * message on a pipe; the parent kills it when it does not answer in time.
 *
 * This file decides; it does not start QEMU or report facts (the qemu
 * driver does both with the answer).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/accel.h"
#include "common/log.h"
#include "common/util.h"

#define KVM_API_VERSION_EXPECTED 12
#define CPUINFO_MAX ((size_t)16 * 1024 * 1024)
#define GUEST_ADDR 0x1000
#define GUEST_PORT 0x10
#define GUEST_BYTE 0x42
#define REAP_WAIT_MS 2000

/* The test guest, real mode (16-bit). The loop takes a few ms with hardware
 * virtualization; a KVM that emulates the guest instead (kvm-pvm on a host
 * without vmx/svm: about 4.6 s) misses the deadline. */
/* clang-format off */
static const uint8_t guest_code[] = {
	0x66, 0xb9, 0x40, 0x42, 0x0f, 0x00, /* mov ecx,1000000 */
	0x67, 0xe2, 0xfd,                   /* 1: a32 loop 1b */
	0xb0, GUEST_BYTE,                   /* mov al,0x42 */
	0xe6, GUEST_PORT,                   /* out 0x10,al */
	0xf4,                               /* hlt */
};
/* clang-format on */

/* Where the probe child stopped: the step that failed, or PROBE_OK. */
enum probe_step {
	PROBE_OK,
	PROBE_API_VERSION,
	PROBE_CREATE_VM,
	PROBE_GUEST_MEMORY,
	PROBE_SET_MEMORY,
	PROBE_CREATE_VCPU,
	PROBE_RUN_SIZE,
	PROBE_MAP_RUN,
	PROBE_SREGS,
	PROBE_REGS,
	PROBE_RUN_IO,
	PROBE_EXIT_IO,
	PROBE_RUN_HLT,
	PROBE_EXIT_HLT,
	PROBE_STEPS
};

static const char *const probe_step_names[PROBE_STEPS] = {
	[PROBE_OK] = "nothing",
	[PROBE_API_VERSION] = "KVM_GET_API_VERSION",
	[PROBE_CREATE_VM] = "KVM_CREATE_VM",
	[PROBE_GUEST_MEMORY] = "mmap of the guest memory",
	[PROBE_SET_MEMORY] = "KVM_SET_USER_MEMORY_REGION",
	[PROBE_CREATE_VCPU] = "KVM_CREATE_VCPU",
	[PROBE_RUN_SIZE] = "KVM_GET_VCPU_MMAP_SIZE",
	[PROBE_MAP_RUN] = "mmap of kvm_run",
	[PROBE_SREGS] = "KVM_GET_SREGS/KVM_SET_SREGS",
	[PROBE_REGS] = "KVM_SET_REGS",
	[PROBE_RUN_IO] = "the first KVM_RUN",
	[PROBE_EXIT_IO] = "the first exit",
	[PROBE_RUN_HLT] = "the second KVM_RUN",
	[PROBE_EXIT_HLT] = "the second exit",
};

/* What the child writes on the pipe: one of these, whole. */
struct probe_msg {
	int step;   /* enum probe_step */
	int err;    /* errno of the failed call, 0 if it returned a wrong value */
	int value;  /* the API version, or the exit reason */
	int port;   /* for a wrong KVM_EXIT_IO */
	int byte;   /* for a wrong KVM_EXIT_IO */
	int io_out; /* for a wrong KVM_EXIT_IO: 1 for out */
};

static void reason_set(char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason_set(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!reason || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, len, fmt, ap);
	va_end(ap);
}

/* Is word (a whole, blank-separated word) in the text from p up to the end
 * of its line? */
static bool line_has_word(const char *p, const char *word)
{
	size_t wlen = strlen(word);

	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n')
			return false;
		n = strcspn(p, " \t\n");
		if (n == wlen && !memcmp(p, word, wlen))
			return true;
		p += n;
	}
}

const char *accel_cpuinfo_virt_flag(const char *cpuinfo)
{
	static const char *const flags[] = { "vmx", "svm" };
	unsigned lines = 0, has[ARRAY_SIZE(flags)] = { 0 };
	const char *p = cpuinfo;

	if (!p)
		return NULL;
	while (*p) {
		const char *eol = strchrnul(p, '\n');
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		size_t klen;

		if (colon) {
			klen = (size_t)(colon - p);
			while (klen && (p[klen - 1] == ' ' || p[klen - 1] == '\t'))
				klen--;
			if (klen == 5 && !memcmp(p, "flags", 5)) {
				lines++;
				for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
					has[i] += line_has_word(colon + 1, flags[i]);
			}
		}
		p = *eol ? eol + 1 : eol;
	}
	for (size_t i = 0; lines && i < ARRAY_SIZE(flags); i++)
		if (has[i] == lines)
			return flags[i];
	return NULL;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

/* The probe child's work: system calls only (it was forked from a process
 * that may have threads). Fills m; the caller writes it. */
static void probe_guest(int kvm_fd, struct probe_msg *m)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int vm_fd, vcpu_fd, size;
	uint8_t *mem;

#define FAIL_IF(cond, s)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			m->step = (s);                                                             \
			m->err = errno;                                                            \
			return;                                                                    \
		}                                                                                  \
	} while (0)

	m->step = PROBE_API_VERSION;
	m->value = xioctl(kvm_fd, KVM_GET_API_VERSION, NULL);
	FAIL_IF(m->value < 0, PROBE_API_VERSION);
	if (m->value != KVM_API_VERSION_EXPECTED)
		return;
	vm_fd = xioctl(kvm_fd, KVM_CREATE_VM, NULL);
	FAIL_IF(vm_fd < 0, PROBE_CREATE_VM);
	mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FAIL_IF(mem == MAP_FAILED, PROBE_GUEST_MEMORY);
	memcpy(mem, guest_code, sizeof(guest_code));
	region.slot = 0;
	region.guest_phys_addr = GUEST_ADDR;
	region.memory_size = 0x1000;
	region.userspace_addr = (uintptr_t)mem;
	FAIL_IF(xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0, PROBE_SET_MEMORY);
	vcpu_fd = xioctl(vm_fd, KVM_CREATE_VCPU, NULL);
	FAIL_IF(vcpu_fd < 0, PROBE_CREATE_VCPU);
	size = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	FAIL_IF(size < 0, PROBE_RUN_SIZE);
	errno = EINVAL;
	FAIL_IF((size_t)size < sizeof(*run), PROBE_RUN_SIZE);
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	FAIL_IF(run == MAP_FAILED, PROBE_MAP_RUN);
	FAIL_IF(xioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0, PROBE_SREGS);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	FAIL_IF(xioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0, PROBE_SREGS);
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_ADDR;
	regs.rflags = 0x2;
	FAIL_IF(xioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0, PROBE_REGS);

	FAIL_IF(xioctl(vcpu_fd, KVM_RUN, NULL) < 0, PROBE_RUN_IO);
	m->step = PROBE_EXIT_IO;
	m->err = 0;
	m->value = (int)run->exit_reason;
	if (run->exit_reason != KVM_EXIT_IO)
		return;
	m->port = run->io.port;
	m->io_out = run->io.direction == KVM_EXIT_IO_OUT;
	m->byte = run->io.size == 1 && run->io.count == 1 && run->io.data_offset < (uint64_t)size
	              ? ((uint8_t *)run)[run->io.data_offset]
	              : -1;
	if (!m->io_out || m->port != GUEST_PORT || m->byte != GUEST_BYTE)
		return;

	FAIL_IF(xioctl(vcpu_fd, KVM_RUN, NULL) < 0, PROBE_RUN_HLT);
	m->step = PROBE_EXIT_HLT;
	m->err = 0;
	m->value = (int)run->exit_reason;
	if (run->exit_reason != KVM_EXIT_HLT)
		return;
	m->step = PROBE_OK;
#undef FAIL_IF
}

/* Closes every descriptor from 3 up except keep1 and keep2, so that a child
 * that hangs in the kernel holds nothing of its parent's. */
static void close_others(int keep1, int keep2)
{
	int lo = keep1 < keep2 ? keep1 : keep2, hi = keep1 < keep2 ? keep2 : keep1;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

static void __attribute__((noreturn)) probe_child(int kvm_fd, int out_fd, int timeout_ms)
{
	struct probe_msg m = { 0 };
	sigset_t set;
	ssize_t n;

	/* Die with the parent, and by itself a little after the parent gives up. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	alarm((unsigned)(timeout_ms / 1000 + 2));
	close_others(kvm_fd, out_fd);
	probe_guest(kvm_fd, &m);
	do
		n = write(out_fd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	_exit(0);
}

/* Reads the child's message, waiting until deadline. 0, -ETIMEDOUT, or
 * -EPIPE when the child went away without writing it. */
static int probe_read(int fd, int64_t deadline, struct probe_msg *m)
{
	size_t got = 0;

	while (got < sizeof(*m)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)m + got, sizeof(*m) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

/* Waits up to REAP_WAIT_MS for pid; false if it could not be reaped (a
 * child stuck in the kernel ignores even SIGKILL for a while; it then stays
 * a zombie). */
static bool probe_reap(pid_t pid, int *ret_status)
{
	int64_t deadline = mono_ms() + REAP_WAIT_MS;

	for (;;) {
		pid_t r = waitpid(pid, ret_status, WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (mono_ms() >= deadline)
			return false;
		usleep(5000);
	}
}

/* The reason and error for a message the child wrote. */
static int probe_explain(const struct probe_msg *m, char *reason, size_t len)
{
	const char *step = m->step > 0 && m->step < PROBE_STEPS ? probe_step_names[m->step] : "?";

	if (m->step == PROBE_OK) {
		reason_set(reason, len, "a test guest ran");
		return 0;
	}
	if (m->err) {
		reason_set(reason, len, "%s failed: %s", step, strerror(m->err));
		return -m->err;
	}
	switch (m->step) {
	case PROBE_API_VERSION:
		reason_set(reason, len, "KVM_GET_API_VERSION is %d, not %d", m->value,
		           KVM_API_VERSION_EXPECTED);
		break;
	case PROBE_EXIT_IO:
		if (m->value != KVM_EXIT_IO)
			reason_set(reason, len,
			           "the test guest stopped with exit reason %d, not KVM_EXIT_IO",
			           m->value);
		else
			reason_set(reason, len,
			           "the test guest did %s 0x%x on port 0x%x, not out 0x%x on 0x%x",
			           m->io_out ? "out" : "in", (unsigned)m->byte, (unsigned)m->port,
			           GUEST_BYTE, GUEST_PORT);
		break;
	case PROBE_EXIT_HLT:
		reason_set(reason, len,
		           "the test guest stopped with exit reason %d after its out, not "
		           "KVM_EXIT_HLT",
		           m->value);
		break;
	default:
		reason_set(reason, len, "%s failed", step);
		break;
	}
	return -EPROTO;
}

int accel_kvm_probe(int kvm_fd, int timeout_ms, char *reason, size_t len)
{
	struct probe_msg m = { 0 };
	int p[2], r, status = 0;
	int64_t deadline;
	bool reaped;
	pid_t pid;

	if (timeout_ms <= 0)
		timeout_ms = ACCEL_PROBE_TIMEOUT_MS;
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		reason_set(reason, len, "pipe failed: %s", strerror(-r));
		return r;
	}
	deadline = mono_ms() + timeout_ms;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		reason_set(reason, len, "fork failed: %s", strerror(-r));
		return r;
	}
	if (pid == 0)
		probe_child(kvm_fd, p[1], timeout_ms);
	close(p[1]);
	r = probe_read(p[0], deadline, &m);
	close(p[0]);
	if (r == -ETIMEDOUT)
		kill(pid, SIGKILL);
	reaped = probe_reap(pid, &status);
	if (!reaped) {
		kill(pid, SIGKILL);
		log_debug("accel: probe process %d did not exit; left behind", (int)pid);
	}
	if (r == -ETIMEDOUT) {
		reason_set(reason, len, "the test guest did not finish within %d ms", timeout_ms);
		return r;
	}
	if (r < 0) {
		if (reaped && WIFSIGNALED(status))
			reason_set(reason, len, "the probe process died of signal %d",
			           WTERMSIG(status));
		else
			reason_set(reason, len, "the probe process exited without an answer");
		return -EPROTO;
	}
	return probe_explain(&m, reason, len);
}

/* force_src: how the override was given, for the reason ("KUMO_ACCEL"), or
 * NULL. */
static const char *choose(const char *force, const char *force_src, const struct accel_paths *paths,
                          char *reason, size_t len)
{
	const char *dev = paths && paths->kvm_dev ? paths->kvm_dev : ACCEL_KVM_DEV;
	const char *cpuinfo = paths && paths->cpuinfo ? paths->cpuinfo : ACCEL_CPUINFO;
	int timeout_ms =
	    paths && paths->probe_timeout_ms > 0 ? paths->probe_timeout_ms : ACCEL_PROBE_TIMEOUT_MS;
	const char *flag, *answer = "tcg";
	char why[ACCEL_REASON_MAX];
	char *text = NULL;
	int fd, r;

	if (force && (!strcmp(force, "kvm") || !strcmp(force, "tcg"))) {
		force = !strcmp(force, "kvm") ? "kvm" : "tcg";
		if (force_src)
			reason_set(reason, len, "%s: forced by %s=%s", force, force_src, force);
		else
			reason_set(reason, len, "%s: forced", force);
		return force;
	}
	if (force && *force && strcmp(force, "auto")) {
		reason_set(reason, len, "accelerator \"%.32s\" is not kvm, tcg or auto", force);
		return NULL;
	}

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		reason_set(reason, len, "tcg: cannot open %s read-write: %s", dev, strerror(errno));
		return "tcg";
	}
	r = file_read(cpuinfo, CPUINFO_MAX, &text, NULL);
	if (r < 0) {
		reason_set(reason, len, "tcg: %s present but %s cannot be read: %s", dev, cpuinfo,
		           strerror(-r));
		goto out;
	}
	flag = accel_cpuinfo_virt_flag(text);
	if (!flag) {
		reason_set(reason, len,
		           "tcg: %s present but the CPU advertises neither vmx nor svm", dev);
		goto out;
	}
	r = accel_kvm_probe(fd, timeout_ms, why, sizeof(why));
	if (r < 0) {
		reason_set(reason, len, "tcg: %s present and the CPU advertises %s, but %s", dev,
		           flag, why);
		goto out;
	}
	reason_set(reason, len, "kvm: %s usable, the CPU advertises %s and a test guest ran", dev,
	           flag);
	answer = "kvm";
out:
	free(text);
	close(fd);
	return answer;
}

const char *accel_choose(const char *force, const struct accel_paths *paths, char *reason,
                         size_t len)
{
	return choose(force, NULL, paths, reason, len);
}

const char *accel_detect(char *reason, size_t len)
{
	const char *env = getenv(ACCEL_ENV);
	char detected[ACCEL_REASON_MAX];
	const char *answer;

	answer = choose(env, ACCEL_ENV, NULL, reason, len);
	if (answer)
		return answer;
	/* An invalid override: detect, and say it was ignored. */
	answer = choose(NULL, NULL, NULL, detected, sizeof(detected));
	reason_set(reason, len, "%s (%s=\"%.32s\" ignored)", detected, ACCEL_ENV, env);
	return answer;
}
