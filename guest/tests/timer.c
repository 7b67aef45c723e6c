/* SPDX-License-Identifier: MIT */
/*
 * Runs the LAPIC timer (periodic, divide by 16, vector VEC_LAPIC_TIMER) and
 * PIT channel 0 (mode 2, 1 kHz) at once and waits, in ring 3, for at least 10
 * interrupts from each. The PIT goes through the 8259 (IRQ0, LVT LINT0 in
 * ExtINT mode) by default, or through IOAPIC pin 2 (GSI 2, where the MADT's
 * override puts IRQ0) with pit=ioapic on the command line. Exit 0, or 4.
 */
#include "kit.h"

#define EXIT_TIMER_FAIL 4
#define WANT            10
#define VEC_PIT_IOAPIC  (VEC_APIC_BASE + 2)

void test_main(const struct boot_info *bi)
{
	size_t len;
	const char *route = kit_arg(bi, "pit", &len);
	bool ioapic = route && len == 6 && !strncmp(route, "ioapic", 6);
	unsigned int pit_vec = ioapic ? VEC_PIT_IOAPIC : VEC_PIC_MASTER;
	uint64_t lapic0, pit0, lapic_n, pit_n, t0, dl, ms;
	bool fail = false;

	kit_tsc_khz(); /* calibrate (PIT channel 2) before channel 0 runs */
	lapic_enable();
	if (ioapic) {
		lapic_write(LAPIC_LVT_LINT0, 1u << 16); /* masked: no 8259 path */
		pic_init(0xffff);
		ioapic_route(2, VEC_PIT_IOAPIC, (uint8_t)lapic_id(), false);
	} else {
		lapic_write(LAPIC_LVT_LINT0, 0x700); /* ExtINT, unmasked: virtual wire */
		pic_init(0xfffe);                  /* IRQ0 only */
	}
	printf("timer: pit via %s\n", ioapic ? "ioapic pin 2" : "8259 irq 0");

	lapic0 = kit_irq_count[VEC_LAPIC_TIMER];
	pit0 = kit_irq_count[pit_vec];
	t0 = rdtsc();
	lapic_write(LAPIC_TIMER_DIV, 0x3);                  /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, (1u << 17) | VEC_LAPIC_TIMER); /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 62500);               /* 1 ms with a 1 GHz APIC clock */
	pit_start_periodic(1000);

	dl = kit_deadline_us(5000000);
	do {
		lapic_n = kit_irq_count[VEC_LAPIC_TIMER] - lapic0;
		pit_n = kit_irq_count[pit_vec] - pit0;
		cpu_relax();
	} while ((lapic_n < WANT || pit_n < WANT) && !kit_expired(dl));
	ms = (rdtsc() - t0) / kit_tsc_khz();

	lapic_write(LAPIC_LVT_TIMER, 1u << 16);
	lapic_write(LAPIC_TIMER_INIT, 0);
	pit_stop();
	if (ioapic)
		ioapic_route(2, VEC_PIT_IOAPIC, 0, true);
	else
		pic_init(0xffff);

	if (lapic_n >= WANT) {
		printf("timer: lapic %lu ok\n", lapic_n);
	} else {
		printf("timer: FAIL lapic %lu interrupts in %lu ms\n", lapic_n, ms);
		fail = true;
	}
	if (pit_n >= WANT) {
		printf("timer: pit %lu ok\n", pit_n);
	} else {
		printf("timer: FAIL pit %lu interrupts in %lu ms\n", pit_n, ms);
		fail = true;
	}
	printf("timer: waited %lu ms\n", ms);
	exit(fail ? EXIT_TIMER_FAIL : 0);
}
