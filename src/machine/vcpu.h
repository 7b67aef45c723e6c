/* SPDX-License-Identifier: MIT */
/* One vCPU: its KVM fd, kvm_run mapping, thread, and the exit-dispatch loop. */
#ifndef KVMM_MACHINE_VCPU_H
#define KVMM_MACHINE_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kvm/kvm.h"

struct machine;

struct vcpu {
	struct machine *m;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	pid_t tid; /* for query-cpus-fast */
	/* Work handed to the parked vCPU thread (machine.pause_lock protects). */
	int (*work)(struct vcpu *v, void *arg);
	void *work_arg;
	int work_rc;
};

/* Creates vCPU id with its CPUID, MSRs and LAPIC set up; NULL + errno on failure. */
struct vcpu *vcpu_create(struct machine *m, unsigned id);
void vcpu_destroy(struct vcpu *v);
int vcpu_start(struct vcpu *v);
/* Makes the vCPU leave KVM_RUN soon (immediate_exit + signal). */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Prints registers and the instruction bytes at RIP to stderr. */
void vcpu_dump(struct vcpu *v, const char *why);
/*
 * Runs fn on the vCPU's own thread, which must be parked (machine_pause);
 * returns fn's result. KVM wants vCPU ioctls from the thread that runs it.
 */
int vcpu_run_on(struct vcpu *v, int (*fn)(struct vcpu *v, void *arg), void *arg);
/* Installs the no-op handler for the kick signal; once per process. */
int vcpu_init_signals(void);

#endif
