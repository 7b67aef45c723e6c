/* SPDX-License-Identifier: MIT */
/*
 * The boot CPU's state at kernel entry, for each protocol in boot.h:
 *   BOOT_LINUX64: Linux Documentation/arch/x86/boot.rst, "64-bit Boot Protocol":
 *     long mode, paging on with an identity map of the loaded kernel, boot_params
 *     and command line; __BOOT_CS = 0x10, __BOOT_DS = 0x18; RSI = boot_params.
 *   BOOT_PVH32 / BOOT_MULTIBOOT32: 32-bit flat protected mode, paging off, A20
 *     on, interrupts off (Xen PVH start_info.h; Multiboot 0.6.96 section 3.2).
 * Pure: fills KVM register structures and writes the GDT and page tables into
 * guest memory, so it is unit-testable without /dev/kvm.
 */
#ifndef KVMM_ARCH_X86_BOOTCPU_H
#define KVMM_ARCH_X86_BOOTCPU_H

#include <linux/kvm.h>

#include "arch/x86/boot.h"
#include "machine/gmem.h"

/* Writes the boot GDT (and page tables for long mode) and fills regs/sregs. */
int bootcpu_setup(struct gmem *m, const struct boot_entry *e, struct kvm_regs *regs,
		  struct kvm_sregs *sregs);

/* FPU state at reset (FCW 0x37f, MXCSR 0x1f80), as after FNINIT. */
void bootcpu_fpu(struct kvm_fpu *fpu);

#endif
