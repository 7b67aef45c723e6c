/* SPDX-License-Identifier: MIT */
/*
 * KVM-held state of a VM, for snapshots: each vCPU (registers, system registers,
 * FPU/XSAVE, XCRs, MSRs, LAPIC, pending events, MP state, debug registers) and
 * the VM (PIC, IOAPIC, PIT, kvmclock). Encoded into state_buf sections; loading
 * checks every length before an ioctl sees it.
 * api.rst 4.x: KVM_GET/SET_REGS, SREGS2, FPU, XSAVE2, XCRS, MSRS, LAPIC,
 * VCPU_EVENTS, MP_STATE, DEBUGREGS, IRQCHIP, PIT2, CLOCK; and section 5's note
 * that a vCPU's state is only consistent after KVM_RUN with immediate_exit.
 */
#ifndef KVMM_STATE_VMSTATE_H
#define KVMM_STATE_VMSTATE_H

#include "kvm/kvm.h"
#include "state/buf.h"

/* Must run on the vCPU's own thread while it is parked (vcpu_run_on). */
int vmstate_save_vcpu(const struct kvm *k, int vcpu_fd, struct state_buf *b);
int vmstate_load_vcpu(const struct kvm *k, int vcpu_fd, struct state_reader *r);

int vmstate_save_vm(int vm_fd, struct state_buf *b);
int vmstate_load_vm(int vm_fd, struct state_reader *r);

#endif
