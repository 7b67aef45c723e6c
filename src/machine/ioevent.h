/* SPDX-License-Identifier: MIT */
/*
 * How a device gets guest writes and host events off the vCPU threads without
 * knowing about KVM (as irq.h is for interrupt lines): the machine hands each
 * device these ops, backed by KVM ioeventfds and the VM's I/O thread
 * (machine/iothread.c); unit tests hand fakes, or NULL for none.
 */
#ifndef KVMM_MACHINE_IOEVENT_H
#define KVMM_MACHINE_IOEVENT_H

#include <stdbool.h>
#include <stdint.h>

struct ioevent_ops {
	/*
	 * Guest writes of any length to MMIO address addr signal eventfd fd
	 * instead of leaving KVM_RUN (assign), or no longer do (!assign). Returns
	 * 0 or -errno; on failure the writes keep reaching the bus as exits, so
	 * a device must handle them there too.
	 */
	int (*mmio_eventfd)(void *opaque, int fd, uint64_t addr, bool assign);
	/*
	 * Runs fn(arg) on the VM's I/O thread whenever fd is readable (level
	 * triggered: fn must drain it). Watches last as long as the machine; fn
	 * runs until the I/O thread stops, which happens before devices are
	 * freed. Returns 0 or -errno.
	 */
	int (*watch)(void *opaque, int fd, void (*fn)(void *arg), void *arg);
};

#endif
