/* SPDX-License-Identifier: MIT */
/*
 * System call filters (seccomp) per thread role: once a thread has been set
 * up, it may make only the system calls its role needs, and a forbidden call
 * kills the process with a log line naming the thread and the call. The
 * allow lists, and why each entry is there, are in sandbox.c and
 * docs/security.md (a unit test keeps the two equal).
 */
#ifndef KVMM_UTIL_SANDBOX_H
#define KVMM_UTIL_SANDBOX_H

#include <stddef.h>
#include <stdio.h>

enum sandbox_role {
	SANDBOX_MAIN,	 /* builds machines (also after a guest reset), console, signals */
	SANDBOX_VCPU,	 /* KVM_RUN loop and the devices it calls; snapshot work while parked */
	SANDBOX_CONTROL, /* the QMP server and its commands (pause, snapshot-save) */
	SANDBOX_IO,	 /* the VM's I/O thread: queue notifications, device completions */
	SANDBOX_DISK,	 /* a disk's I/O engine threads: file I/O, request completions */
	SANDBOX_NR_ROLES
};

/*
 * Prepares the filters of every role and installs the SIGSYS handler that
 * reports a forbidden call. Call once, on the main thread, before any other
 * thread exists. on_fatal (may be NULL) runs in that handler before the
 * process dies, so it must be async-signal-safe (the console's terminal
 * restore). Returns 0, or a negative errno with a message in err; until it
 * succeeds, sandbox_apply() does nothing.
 *
 * Test only: KVMM_SANDBOX_SELFTEST=<role name> in the environment makes the
 * first thread of that role call socket(2), which no role allows, right after
 * its filter is installed (tests/integration/test_sandbox.py).
 */
int sandbox_init(void (*on_fatal)(void), char *err, size_t errlen);

/*
 * Installs role's filter on the calling thread only (other threads keep
 * theirs; threads it creates later inherit it). Returns 0 (also when
 * sandbox_init was never called: the sandbox is off) or a negative errno.
 */
int sandbox_apply(enum sandbox_role role);

/* "main", "vcpu", "control", "io", "disk". */
const char *sandbox_role_name(enum sandbox_role role);

/* How many system calls role may make, and how many ioctl requests among them. */
void sandbox_count(enum sandbox_role role, unsigned *syscalls, unsigned *ioctls);

/* Writes every role's allow list as the Markdown that docs/security.md carries. */
void sandbox_print_lists(FILE *f);

#endif
