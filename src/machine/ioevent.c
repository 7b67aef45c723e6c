/* SPDX-License-Identifier: MIT */
/*
 * The machine's side of the device fast paths: MSI-X messages as
 * KVM_SIGNAL_MSI (struct pci_msi_ops) and queue notifications as KVM
 * ioeventfds read by the VM's I/O thread (struct ioevent_ops). opaque is the
 * struct machine in both.
 *
 * Messages are sent with KVM_SIGNAL_MSI rather than irqfd + GSI routes: from
 * a user-space device both cost one system call per interrupt, and the
 * routes would have to be rebuilt (KVM_SET_GSI_ROUTING replaces the whole
 * table) every time the guest reprograms or masks a vector. set_vector is
 * therefore not needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "hw/pci.h"
#include "machine/ioevent.h"
#include "machine/iothread.h"
#include "machine/machine.h"
#include "util/log.h"

static void machine_msi_notify(void *opaque, uint64_t addr, uint32_t data)
{
	struct machine *m = opaque;
	int rc = kvm_vm_signal_msi(m->vm_fd, addr, data);

	/* 0 (blocked) is the guest's business: it pointed the message nowhere. */
	if (rc < 0 && !atomic_exchange(&m->msi_warned, true))
		log_warn("msi", "KVM_SIGNAL_MSI address 0x%" PRIx64 " data 0x%x: %s", addr, data,
			 strerror(-rc));
}

const struct pci_msi_ops machine_msi_ops = {
    .notify = machine_msi_notify,
};

static int machine_mmio_eventfd(void *opaque, int fd, uint64_t addr, bool assign)
{
	struct machine *m = opaque;

	if (m->ioeventfd_len < 0)
		return -ENOSYS;
	return kvm_vm_ioeventfd(m->vm_fd, fd, addr, (uint32_t)m->ioeventfd_len, assign);
}

static int machine_watch(void *opaque, int fd, void (*fn)(void *arg), void *arg)
{
	struct machine *m = opaque;

	return m->io ? iothread_watch(m->io, fd, fn, arg) : -ENOSYS;
}

const struct ioevent_ops machine_ioevent_ops = {
    .mmio_eventfd = machine_mmio_eventfd,
    .watch = machine_watch,
};
