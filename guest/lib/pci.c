/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 from ring 3 through the ECAM window (PCIe Base 4.0, 7.2.2: 4 KiB
 * of configuration space per function at bus << 20 | device << 15 | function
 * << 12), capability lists (PCI Local Bus 3.0, 6.7) and BARs (6.2.5.1), and
 * mapping MMIO above 4 GiB (where kvmm puts 64-bit BARs) into the kit's page
 * tables, which ring 3 may write like everything else.
 */
#include "internal.h"
#include "kit.h"

#define PCI_COMMAND  0x04
#define PCI_STATUS   0x06
#define PCI_BAR0     0x10
#define PCI_CAP_PTR  0x34
#define PCI_STS_CAPS 0x10

static uintptr_t ecam(unsigned int slot, unsigned int off)
{
	return (uintptr_t)(KIT_PCI_ECAM + ((uint64_t)(slot & 31) << 15) + (off & 0xfff));
}

uint8_t kit_pci_read8(unsigned int slot, unsigned int off)
{
	return *(volatile uint8_t *)ecam(slot, off);
}

uint16_t kit_pci_read16(unsigned int slot, unsigned int off)
{
	return *(volatile uint16_t *)ecam(slot, off);
}

uint32_t kit_pci_read32(unsigned int slot, unsigned int off)
{
	return *(volatile uint32_t *)ecam(slot, off);
}

void kit_pci_write8(unsigned int slot, unsigned int off, uint8_t v)
{
	*(volatile uint8_t *)ecam(slot, off) = v;
}

void kit_pci_write16(unsigned int slot, unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)ecam(slot, off) = v;
}

void kit_pci_write32(unsigned int slot, unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)ecam(slot, off) = v;
}

int kit_pci_find(uint16_t vendor, uint16_t device)
{
	for (unsigned int slot = 0; slot < 32; slot++) {
		uint32_t id = kit_pci_read32(slot, 0);

		if ((id & 0xffff) == vendor && id >> 16 == device)
			return (int)slot;
	}
	return -1;
}

uint8_t kit_pci_find_cap(unsigned int slot, uint8_t id, uint8_t after)
{
	uint8_t at;

	if (!(kit_pci_read16(slot, PCI_STATUS) & PCI_STS_CAPS))
		return 0;
	at = after ? kit_pci_read8(slot, after + 1u) : kit_pci_read8(slot, PCI_CAP_PTR);
	/* 48 capabilities fit in 192 bytes: a longer list loops. */
	for (int n = 0; at >= 0x40 && n < 48; n++) {
		if (kit_pci_read8(slot, at) == id)
			return at;
		at = kit_pci_read8(slot, at + 1u);
	}
	return 0;
}

uint64_t kit_pci_bar(unsigned int slot, unsigned int bar)
{
	uint32_t lo;

	if (bar > 5)
		return 0;
	lo = kit_pci_read32(slot, PCI_BAR0 + 4 * bar);
	if (lo & 1)
		return 0;
	if ((lo & 6) == 4 && bar < 5)
		return (lo & ~0xfull) | (uint64_t)kit_pci_read32(slot, PCI_BAR0 + 4 * (bar + 1))
					    << 32;
	return lo & ~0xfull;
}

/* Page directories for MMIO mappings above 4 GiB and above the RAM the kit mapped. */
#define MMIO_PDS 4
static uint64_t mmio_pd[MMIO_PDS][512] __attribute__((aligned(4096)));
static unsigned int mmio_pds_used;
static struct kit_lock mmio_lock;

bool kit_map_mmio(uint64_t addr, uint64_t len)
{
	uint64_t a = addr & ~((2ull << 20) - 1), end = addr + len;
	bool ok = true;

	kit_lock(&mmio_lock);
	for (; ok && a < end; a += 2ull << 20) {
		uint64_t g = a >> 30, *pd;

		if (g < 4)
			continue; /* the boot map: all of the first 4 GiB */
		if (g >= 512) {
			ok = false;
			break;
		}
		if (!kit_pdpt[g]) {
			if (mmio_pds_used == MMIO_PDS) {
				ok = false;
				break;
			}
			/* Not present to present: no TLB entry can be stale, no flush. */
			kit_pdpt[g] = (uint64_t)(uintptr_t)mmio_pd[mmio_pds_used++] | 0x7;
		}
		pd = (uint64_t *)(uintptr_t)(kit_pdpt[g] & ~0xfffull);
		if (!(pd[(a >> 21) & 511] & 1))
			pd[(a >> 21) & 511] = a | 0x87 | 0x18; /* P RW US PS, PCD PWT */
	}
	kit_unlock(&mmio_lock);
	return ok;
}
