/* SPDX-License-Identifier: MIT */
/*
 * The CPUID table one vCPU gets through KVM_SET_CPUID2: what
 * KVM_GET_SUPPORTED_CPUID offers, with the topology a guest derives from CPUID
 * made to describe this VM (one package, ncpus cores, one thread per core).
 * References: Intel SDM vol. 2A, CPUID instruction (leaves 01H, 04H, 0BH, 1FH);
 * AMD64 APM vol. 3, appendix E.3/E.4 (Fn8000_0001, Fn8000_0008, Fn8000_001D,
 * Fn8000_001E); Linux Documentation/virt/kvm/x86/cpuid.rst (0x40000000+).
 *
 * Pure: no /dev/kvm, the same inputs always give the same table.
 */
#ifndef KVMM_ARCH_X86_CPUID_H
#define KVMM_ARCH_X86_CPUID_H

#include <linux/kvm.h>

/* Largest vCPU count the topology leaves are built for (KVM's vCPU ID limit). */
#define CPUID_MAX_CPUS 4096

/*
 * Fills out with the table for vCPU vcpu_index (0..ncpus-1, also its APIC ID)
 * and returns the number of entries, -ENOSPC when max_out is too small, or
 * -EINVAL for bad arguments. Entries KVM does not report are not invented,
 * except the extended topology leaf 0BH, which is added when the maximum basic
 * leaf covers it.
 */
int cpuid_build(const struct kvm_cpuid_entry2 *supported, int nr_supported, int vcpu_index,
		int ncpus, struct kvm_cpuid_entry2 *out, int max_out);

#endif
