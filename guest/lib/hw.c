/* SPDX-License-Identifier: MIT */
/*
 * Ring-3 drivers for the platform devices the tests use: fw_cfg (QEMU
 * docs/specs/fw_cfg.rst), the local APIC and IOAPIC (Intel SDM vol. 3A ch. 10;
 * 82093AA datasheet), the 8259A PIC pair and the 8254 PIT, and TSC
 * calibration against PIT channel 2.
 */
#include "kit.h"

/* ---- fw_cfg -------------------------------------------------------------------- */
#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511

void fw_cfg_read(uint16_t key, void *buf, size_t len)
{
	uint8_t *p = buf;

	outw(FW_CFG_SEL, key);
	while (len--)
		*p++ = inb(FW_CFG_DATA);
}

bool fw_cfg_present(void)
{
	char sig[4];

	fw_cfg_read(0x0000, sig, sizeof(sig));
	return !memcmp(sig, "QEMU", 4);
}

/* ---- local APIC, IOAPIC ---------------------------------------------------------- */
void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
}

bool lapic_send_ipi(uint32_t dest, uint32_t icr_lo)
{
	uint64_t dl = kit_deadline_us(100000);

	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	while (lapic_read(LAPIC_ICR_LO) & (1u << 12)) { /* delivery status: pending */
		if (kit_expired(dl))
			return false;
		cpu_relax();
	}
	return true;
}

uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

void ioapic_route(unsigned int pin, uint8_t vector, uint8_t dest_apic_id, bool masked)
{
	ioapic_write(0x10 + 2 * pin, (1u << 16)); /* mask while changing */
	ioapic_write(0x11 + 2 * pin, (uint32_t)dest_apic_id << 24);
	ioapic_write(0x10 + 2 * pin, vector | (masked ? 1u << 16 : 0));
}

/* ---- 8259A pair ---------------------------------------------------------------------- */
void pic_init(uint16_t mask)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, VEC_PIC_MASTER); /* ICW2: vector base */
	outb(0xa1, VEC_PIC_SLAVE);
	outb(0x21, 0x04); /* ICW3: slave on IRQ2 */
	outb(0xa1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(0xa1, 0x01);
	outb(0x21, (uint8_t)mask);
	outb(0xa1, (uint8_t)(mask >> 8));
}

/* ---- 8254 PIT ------------------------------------------------------------------------- */
#define PIT_HZ 1193182u

void pit_start_periodic(unsigned int hz)
{
	uint32_t div = (PIT_HZ + hz / 2) / hz;

	if (div > 0xffff)
		div = 0xffff;
	if (div < 2)
		div = 2;
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
}

void pit_stop(void)
{
	outb(0x43, 0x30); /* channel 0, mode 0: one count, then OUT stays high */
	outb(0x40, 0);
	outb(0x40, 0);
}

/* ---- TSC ----------------------------------------------------------------------------- */
static uint64_t tsc_khz;

uint64_t kit_tsc_khz(void)
{
	uint64_t t0, t1, khz;
	uint8_t gate;

	if (tsc_khz)
		return tsc_khz;
	/* PIT channel 2, mode 0, 10 ms: OUT2 (port 0x61 bit 5) rises at terminal count. */
	gate = inb(0x61);
	outb(0x61, (gate & ~0x02) & ~0x01); /* gate low: channel 2 holds */
	outb(0x43, 0xb0);
	outb(0x42, (uint8_t)(PIT_HZ / 100));
	outb(0x42, (uint8_t)((PIT_HZ / 100) >> 8));
	outb(0x61, (gate & ~0x02) | 0x01); /* gate high: count starts, speaker off */
	t0 = rdtsc();
	while (!(inb(0x61) & 0x20) && rdtsc() - t0 < 2000000000ull)
		cpu_relax();
	t1 = rdtsc();
	outb(0x61, gate);
	khz = (t1 - t0) / 10;
	if (khz < 100000 || khz > 20000000) { /* no PIT, or nonsense: assume 2 GHz */
		printf("kit: TSC calibration failed (%lu kHz?), assuming 2 GHz\n", khz);
		khz = 2000000;
	}
	tsc_khz = khz;
	return khz;
}

void kit_udelay(uint64_t us)
{
	uint64_t dl = kit_deadline_us(us);

	while (!kit_expired(dl))
		cpu_relax();
}
