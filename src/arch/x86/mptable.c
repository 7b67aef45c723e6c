/* SPDX-License-Identifier: MIT */
/*
 * MP table; see mptable.h. Section and table numbers are those of the Intel
 * MultiProcessor Specification 1.4 (May 1997), chapter 4.
 */
#include "arch/x86/mptable.h"

#include "arch/x86/fwtable.h"
#include "arch/x86/layout.h"

#include <errno.h>
#include <string.h>

#define MP_SPEC_REV 4 /* 1.4 */

#define MP_FPS_LEN   16 /* floating pointer structure, Table 4-1 */
#define MP_HDR_LEN   44 /* configuration table header, Table 4-2 */
#define MP_CPU_LEN   20 /* Table 4-4 */
#define MP_ENTRY_LEN 8	/* bus, I/O APIC, I/O and local interrupt entries */

/* Entry types, Table 4-3; entries must appear in this order. */
#define MP_ENTRY_CPU	  0
#define MP_ENTRY_BUS	  1
#define MP_ENTRY_IOAPIC	  2
#define MP_ENTRY_IOINT	  3
#define MP_ENTRY_LOCALINT 4

#define MP_CPU_EN 0x01 /* CPU flags, Table 4-5 */
#define MP_CPU_BP 0x02

/* Interrupt types, Table 4-10. */
#define MP_INT	  0
#define MP_NMI	  1
#define MP_EXTINT 3

/*
 * The local APIC and I/O APIC versions KVM's in-kernel chips report (0x14:
 * integrated APIC; 0x11: 82093AA-style I/O APIC), section 4.3.1 and 4.3.3.
 */
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11

/*
 * CPU signature and feature flags (4.3.1, Table 4-6): family 6 with the FPU
 * and on-chip APIC bits. Operating systems take the real values from CPUID;
 * these only have to be plausible.
 */
#define MP_CPU_SIGNATURE (6u << 8)
#define MP_CPU_FEATURES	 ((1u << 0) | (1u << 9))

#define MP_ISA_BUS_ID 0
#define MP_ISA_IRQS   16
#define MP_ALL_LAPICS 0xff

/* Table 4-11: I/O interrupt entry, default polarity/trigger (conforms to the bus). */
static uint8_t *mp_ioint(uint8_t *p, uint8_t type, uint8_t irq, uint8_t ioapic_id, uint8_t pin)
{
	p[0] = MP_ENTRY_IOINT;
	p[1] = type;
	fwtable_put16(p + 2, 0);
	p[4] = MP_ISA_BUS_ID;
	p[5] = irq;
	p[6] = ioapic_id;
	p[7] = pin;
	return p + MP_ENTRY_LEN;
}

/* Table 4-12: local interrupt entry. */
static uint8_t *mp_localint(uint8_t *p, uint8_t type, uint8_t lint)
{
	p[0] = MP_ENTRY_LOCALINT;
	p[1] = type;
	fwtable_put16(p + 2, 0);
	p[4] = MP_ISA_BUS_ID;
	p[5] = 0;
	p[6] = MP_ALL_LAPICS;
	p[7] = lint;
	return p + MP_ENTRY_LEN;
}

int mptable_build(uint8_t *buf, size_t len, uint64_t gpa_base, int ncpus, uint8_t ioapic_id,
		  uint64_t ioapic_addr, size_t *used)
{
	/* ISA IRQ 2 is the 8259 cascade and reaches no I/O APIC pin. */
	const int nioint = MP_ISA_IRQS - 1;
	const int nentries = ncpus + 1 + 1 + nioint + 2;
	size_t fps, cfg, cfg_len, pad;
	uint8_t *p, *h;

	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS || ioapic_id < ncpus || ioapic_id == 0xff ||
	    ioapic_addr > 0xffffffffULL)
		return -EINVAL;
	cfg_len =
	    MP_HDR_LEN + (size_t)ncpus * MP_CPU_LEN + (size_t)(nentries - ncpus) * MP_ENTRY_LEN;
	/* The floating pointer must be 16-byte aligned (4.1). */
	pad = (size_t)((16 - gpa_base % 16) % 16);
	if (pad + MP_FPS_LEN + cfg_len > len)
		return -ENOSPC;
	/* The floating pointer and table are found through 32-bit addresses. */
	if (gpa_base + pad + MP_FPS_LEN + cfg_len > (1ULL << 32))
		return -EINVAL;
	fps = pad;
	cfg = fps + MP_FPS_LEN;
	memset(buf, 0, cfg + cfg_len);

	/* Configuration table header, 4.2, Table 4-2. */
	h = buf + cfg;
	memcpy(h, "PCMP", 4);
	fwtable_put16(h + 4, (uint16_t)cfg_len);
	h[6] = MP_SPEC_REV;
	memcpy(h + 8, "KVMM    ", 8);	    /* OEM ID, space padded */
	memcpy(h + 16, "KVMM        ", 12); /* product ID */
	fwtable_put32(h + 28, 0);	    /* no OEM table */
	fwtable_put16(h + 32, 0);
	fwtable_put16(h + 34, (uint16_t)nentries);
	fwtable_put32(h + 36, (uint32_t)LAYOUT_LAPIC); /* local APIC address */
	fwtable_put16(h + 40, 0);		       /* no extended table: length 0, checksum 0 */
	h[42] = 0;

	p = h + MP_HDR_LEN;
	for (int i = 0; i < ncpus; i++) {
		p[0] = MP_ENTRY_CPU;
		p[1] = (uint8_t)i;
		p[2] = MP_LAPIC_VERSION;
		p[3] = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0);
		fwtable_put32(p + 4, MP_CPU_SIGNATURE);
		fwtable_put32(p + 8, MP_CPU_FEATURES);
		p += MP_CPU_LEN;
	}

	/* Bus entry, Table 4-8; the type string is from Table 4-9. */
	p[0] = MP_ENTRY_BUS;
	p[1] = MP_ISA_BUS_ID;
	memcpy(p + 2, "ISA   ", 6);
	p += MP_ENTRY_LEN;

	/* I/O APIC entry, Table 4-10. */
	p[0] = MP_ENTRY_IOAPIC;
	p[1] = ioapic_id;
	p[2] = MP_IOAPIC_VERSION;
	p[3] = 0x01; /* EN */
	fwtable_put32(p + 4, (uint32_t)ioapic_addr);
	p += MP_ENTRY_LEN;

	/*
	 * ISA IRQs on I/O APIC pins; the PIT's IRQ0 is wired to pin 2 as in the
	 * default configurations of chapter 5 (Table 5-1) and the MADT override.
	 */
	for (int irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == 2)
			continue;
		p = mp_ioint(p, MP_INT, (uint8_t)irq, ioapic_id, (uint8_t)(irq == 0 ? 2 : irq));
	}

	/* Virtual wire mode through LINT0 (3.6.2.2) and NMI on LINT1, every CPU. */
	p = mp_localint(p, MP_EXTINT, 0);
	mp_localint(p, MP_NMI, 1);

	h[7] = fwtable_checksum(h, cfg_len);

	/* Floating pointer structure, 4.1, Table 4-1. */
	p = buf + fps;
	memcpy(p, "_MP_", 4);
	fwtable_put32(p + 4, (uint32_t)(gpa_base + cfg));
	p[8] = 1; /* length in 16-byte paragraphs */
	p[9] = MP_SPEC_REV;
	p[11] = 0; /* feature byte 1: 0 = a configuration table is present */
	p[12] = 0; /* IMCRP clear: virtual wire mode, no IMCR */
	p[10] = fwtable_checksum(p, MP_FPS_LEN);

	*used = cfg + cfg_len;
	return 0;
}
