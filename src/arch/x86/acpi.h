/* SPDX-License-Identifier: MIT */
/*
 * The guest's ACPI tables (ACPI 6.5 chapter 5, "ACPI Software Programming
 * Model"): RSDP (5.2.5), RSDT (5.2.7), XSDT (5.2.8), FADT revision 6 (5.2.9),
 * FACS (5.2.10), DSDT (5.2.11.1, AML per chapter 20), MADT (5.2.12) and, when
 * PCI ECAM is configured, MCFG (PCI Firmware Specification 3.3, 4.1.2).
 *
 * acpi_build is pure: it lays the tables out in a host buffer that the caller
 * copies to guest physical address gpa_base (layout.h: LAYOUT_ACPI), with every
 * pointer between tables already set to its guest physical address.
 */
#ifndef KVMM_ARCH_X86_ACPI_H
#define KVMM_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* LAPIC IDs and processor UIDs run 0..ncpus-1; the DSDT names them C000..CFFF. */
#define ACPI_MAX_CPUS 4096

struct acpi_config {
	int ncpus;		/* LAPIC IDs 0..ncpus-1, processor UIDs 0..ncpus-1 */
	uint32_t sci_gsi;	/* SCI interrupt (9); must fit FADT.SCI_INT (16 bits) */
	uint16_t pm1a_evt_port; /* PM1a event block, 4 bytes */
	uint16_t pm1a_cnt_port; /* PM1a control block, 2 bytes */
	uint16_t pm_tmr_port;	/* PM timer, 4 bytes, 32-bit counter */
	uint16_t gpe0_port;	/* GPE0 block, 4 bytes (2 status + 2 enable) */
	uint16_t reset_port;	/* reset register (0xcf9) */
	uint8_t reset_value;	/* value written to reset_port to reset (0x06) */
	uint8_t s5_typ;		/* PM1_CNT.SLP_TYP for soft-off (\_S5) */
	uint64_t ioapic_addr;	/* I/O APIC base, GSI base 0, ID acpi_ioapic_id() */
	uint64_t lapic_addr;	/* local APIC base */
	uint64_t mcfg_base;	/* PCI ECAM base for bus 0; 0 = no MCFG table */
	uint8_t mcfg_end_bus;	/* last bus the ECAM window decodes (1 MiB per bus) */
};

/*
 * The I/O APIC's ID in the MADT: ncpus, so it does not collide with a LAPIC
 * ID, while the 8-bit xAPIC ID space lasts (up to 254 CPUs); past that every
 * value collides and ACPI OSes key I/O APICs by GSI base anyway, so 0. Use the
 * same value for the MP table and the in-kernel IOAPIC (whose ID register
 * keeps only 4 bits under KVM).
 */
uint8_t acpi_ioapic_id(int ncpus);

/*
 * Builds all tables into buf[0, len), which will live at guest physical
 * gpa_base. On success returns 0, sets *used to the bytes to copy and
 * *rsdp_gpa to the RSDP's guest address (gpa_base rounded up to 16 bytes).
 * Returns -ENOSPC when len is too small, -EINVAL for a bad config (ncpus out of
 * 1..ACPI_MAX_CPUS, an address that does not fit its 32-bit field, or tables
 * that would end above 4 GiB where the RSDT and FADT cannot point). On error
 * buf's contents are unspecified.
 */
int acpi_build(uint8_t *buf, size_t len, uint64_t gpa_base, const struct acpi_config *cfg,
	       size_t *used, uint64_t *rsdp_gpa);

#endif
