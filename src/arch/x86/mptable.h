/* SPDX-License-Identifier: MIT */
/*
 * The Intel MultiProcessor Specification 1.4 table (chapter 4, "MP
 * Configuration Table"): the MP floating pointer structure (4.1) followed by
 * the MP configuration table (4.2) describing the CPUs, the ISA bus, the I/O
 * APIC and the ISA interrupt wiring. Guests booted without ACPI (acpi=off,
 * old kernels) find the CPUs here.
 *
 * Pure: builds into a host buffer that the caller copies to guest physical
 * address gpa_base (layout.h: LAYOUT_MPTABLE, inside the BIOS area
 * 0xf0000-0xfffff where 4.1 tells the OS to search).
 */
#ifndef KVMM_ARCH_X86_MPTABLE_H
#define KVMM_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

/* APIC IDs 0..253 for CPUs leave 254 for the I/O APIC; 255 is the broadcast ID. */
#define MPTABLE_MAX_CPUS 254

/*
 * Builds the floating pointer (at gpa_base rounded up to 16 bytes) and the
 * configuration table right after it; sets *used to the bytes to copy.
 * ncpus 1..MPTABLE_MAX_CPUS get APIC IDs 0..ncpus-1 (CPU 0 is the BSP);
 * ioapic_id must not be one of them nor 0xff, ioapic_addr must fit 32 bits.
 * Returns 0, -ENOSPC when len is too small, or -EINVAL.
 */
int mptable_build(uint8_t *buf, size_t len, uint64_t gpa_base, int ncpus, uint8_t ioapic_id,
		  uint64_t ioapic_addr, size_t *used);

#endif
