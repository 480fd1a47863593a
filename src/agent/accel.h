/* SPDX-License-Identifier: MIT */
/*
 * Which accelerator QEMU should use on this host: "kvm" where KVM really
 * works, "tcg" otherwise. KVM really works when
 *   1. the KVM device (/dev/kvm) opens O_RDWR,
 *   2. every "flags" line of /proc/cpuinfo lists vmx or svm, and
 *   3. a test guest runs on it at hardware speed: a few bytes of real-mode
 *      code (a loop of a million iterations, then mov al,0x42; out 0x10,al;
 *      hlt) must exit with KVM_EXIT_IO (port 0x10, byte 0x42) and then
 *      KVM_EXIT_HLT within the probe timeout (1 s; the loop takes a few ms
 *      with vmx/svm).
 * The test guest runs in a forked child that is killed if it does not
 * finish, because some hosts have a /dev/kvm that opens but hangs guests.
 * One such host is a VM whose kernel runs kvm-pvm: no vmx/svm, /dev/kvm
 * opens and runs the test guest correctly but about 1000x too slowly
 * (the million iterations take ~4.6 s; SeaBIOS never gets to boot), so
 * rule 2 rejects it and so would rule 3 alone.
 *
 * The environment variable KUMO_ACCEL forces the answer: "kvm" or "tcg"
 * (no checks, no probe; forcing kvm where it does not work makes QEMU fail
 * to start). "auto" or empty means detect.
 *
 * Detection forks and can take up to the probe timeout (1 s): call it once
 * when the agent starts and keep the answer. Nothing here keeps state; it is
 * thread-safe. Nothing is logged above debug: the reason says why.
 */
#pragma once

#include <stddef.h>

#define ACCEL_ENV "KUMO_ACCEL"
#define ACCEL_KVM_DEV "/dev/kvm"
#define ACCEL_CPUINFO "/proc/cpuinfo"
#define ACCEL_PROBE_TIMEOUT_MS 1000
#define ACCEL_REASON_MAX 256 /* enough for any reason written here */

/* Where detection looks; for tests. A NULL field takes the default above
 * (probe_timeout_ms <= 0: ACCEL_PROBE_TIMEOUT_MS). */
struct accel_paths {
	const char *kvm_dev;
	const char *cpuinfo;
	int probe_timeout_ms;
};

/* "kvm" or "tcg" (static strings, never NULL), honouring KUMO_ACCEL, with a
 * human reason in reason ("tcg: /dev/kvm present but the CPU advertises
 * neither vmx nor svm"). A KUMO_ACCEL that is not kvm, tcg or auto is
 * ignored and the reason says so. reason may be NULL. */
const char *accel_detect(char *reason, size_t len);

/* The same with the override given (a config option, say) instead of read
 * from the environment: force is NULL, "" or "auto" to detect, "kvm" or
 * "tcg" to force. Any other force gives NULL with the reason saying why.
 * paths may be NULL for the defaults. */
const char *accel_choose(const char *force, const struct accel_paths *paths, char *reason,
                         size_t len);

/* The CPU part of the decision, on the text of /proc/cpuinfo: "vmx" or
 * "svm" when there is at least one "flags" line and every one lists that
 * flag (as a whole word); NULL otherwise (no text, no flags line, a CPU
 * without either flag). */
const char *accel_cpuinfo_virt_flag(const char *cpuinfo);

/* Runs the test guest on kvm_fd (an open KVM device; not closed here) in a
 * forked child, waiting at most timeout_ms for it. 0 when it ran as
 * expected; -ETIMEDOUT when it hung; -EPROTO when it exited the wrong way;
 * another -errno when a KVM call failed. reason (may be NULL) says what
 * happened, without a "kvm:"/"tcg:" prefix. */
int accel_kvm_probe(int kvm_fd, int timeout_ms, char *reason, size_t len);
