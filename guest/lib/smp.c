/* SPDX-License-Identifier: MIT */
/*
 * AP startup from ring 3 through the user-mapped LAPIC: copy the trampoline
 * (entry.S) below 1 MiB, then INIT, SIPI, SIPI (Intel SDM vol. 3A 8.4.4.1).
 * The VMM uses 0x6000-0x7fff and 0x9000-0xefff at boot; the trampoline page
 * is 0x8000 (SIPI vector 0x08), and the multiboot info was copied before.
 */
#include "internal.h"
#include "kit.h"

#define ICR_INIT   0x00004500 /* INIT, level assert */
#define ICR_SIPI   0x00004600 /* start-up, level assert; vector = page number */

volatile uint32_t kit_aps_started;

/* Waits until AP number `want` (1-based) has taken its index in ring 0. */
static bool wait_arrived(uint32_t want, uint64_t dl)
{
	while (kit_ap_next <= want)
		if (kit_expired(dl))
			return false;
		else
			cpu_relax();
	return true;
}

unsigned int kit_smp_start(unsigned int n, uint64_t timeout_us)
{
	uint64_t dl = kit_deadline_us(timeout_us);
	uint32_t self = lapic_id();
	uint32_t sent = 0;

	if (n > KIT_MAX_CPUS) {
		printf("kit: %u CPUs, the kit supports %u\n", n, KIT_MAX_CPUS);
		n = KIT_MAX_CPUS;
	}
	memcpy((void *)KIT_TRAMP_BASE, kit_tramp_start, (size_t)(kit_tramp_end - kit_tramp_start));
	lapic_enable();
	for (uint32_t id = 0; id < n; id++)
		if (id != self)
			lapic_send_ipi(id, ICR_INIT);
	kit_udelay(10000);
	/*
	 * One AP at a time, each waited for: APs then take indices in APIC ID
	 * order, so cpu k is the AP with APIC ID k when the IDs are 0..n-1.
	 */
	for (uint32_t id = 0; id < n; id++) {
		if (id == self)
			continue;
		sent++;
		lapic_send_ipi(id, ICR_SIPI | (KIT_TRAMP_BASE >> 12));
		if (wait_arrived(sent, kit_deadline_us(10000)))
			continue;
		lapic_send_ipi(id, ICR_SIPI | (KIT_TRAMP_BASE >> 12));
		if (!wait_arrived(sent, dl)) {
			printf("kit: AP with APIC ID %u did not start\n", id);
			break;
		}
	}
	/* Then until all of them run in ring 3. */
	while (kit_aps_started < kit_ap_next - 1 && !kit_expired(dl))
		cpu_relax();
	return kit_aps_started;
}
