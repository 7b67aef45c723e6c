/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 from ring 3: configuration space through the ECAM window the ACPI
 * MCFG table names (PCI Firmware 3.3, 4.1.2; PCIe Base 4.0, 7.2.2: 4 KiB per
 * function at bus << 20 | device << 15 | function << 12), else through
 * configuration mechanism #1 at ports 0xcf8/0xcfc (PCI Local Bus 3.0,
 * 3.2.2.3.2; the first 256 bytes only), else at KIT_PCI_ECAM. kvmm's MCFG
 * says 0xe0000000, QEMU q35's 0xb0000000; QEMU pc has no MCFG and uses the
 * ports. Then capability lists (PCI Local Bus 3.0, 6.7), BARs (6.2.5.1), and
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

#define PCI_CF8		  0xcf8
#define PCI_CFC		  0xcfc
#define PCI_CF8_ENABLE	  0x80000000u
#define ACPI_SCAN_START	  0xe0000u
#define ACPI_SCAN_END	  0x100000u
#define ACPI_HDR_LEN	  36u
#define ACPI_MCFG_ENTRIES 44u

enum pci_method { PCI_UNKNOWN, PCI_ECAM, PCI_PORTS };

static enum pci_method pci_method;
static uint64_t pci_ecam = KIT_PCI_ECAM;
/* Mechanism #1 is an address latch and a data window: one access at a time. */
static struct kit_lock pci_lock;

static bool acpi_sum_ok(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return !sum;
}

/* A table below 4 GiB (everything there is mapped) whose header and checksum hold up. */
static const uint8_t *acpi_table(uint64_t addr)
{
	const uint8_t *t = (const uint8_t *)(uintptr_t)addr;
	uint32_t len;

	if (!addr || addr >= (4ull << 30) - ACPI_HDR_LEN)
		return NULL;
	memcpy(&len, t + 4, 4);
	if (len < ACPI_HDR_LEN || len > (1u << 20) || addr + len > 4ull << 30 ||
	    !acpi_sum_ok(t, len))
		return NULL;
	return t;
}

/* ECAM base of segment 0, bus 0 from the MCFG table (ACPI 6.5, 5.2.5 for the RSDP), or 0. */
static uint64_t acpi_find_ecam(void)
{
	for (uint32_t a = ACPI_SCAN_START; a < ACPI_SCAN_END; a += 16) {
		const uint8_t *rsdp = (const uint8_t *)(uintptr_t)a, *root;
		uint32_t rsdt, entry_len, len;
		uint64_t xsdt = 0;

		if (memcmp(rsdp, "RSD PTR ", 8) || !acpi_sum_ok(rsdp, 20))
			continue;
		memcpy(&rsdt, rsdp + 16, 4);
		if (rsdp[15] >= 2)
			memcpy(&xsdt, rsdp + 24, 8);
		root = acpi_table(xsdt);
		entry_len = 8;
		if (!root) {
			root = acpi_table(rsdt);
			entry_len = 4;
		}
		if (!root)
			return 0;
		memcpy(&len, root + 4, 4);
		for (uint32_t i = ACPI_HDR_LEN; i + entry_len <= len; i += entry_len) {
			uint64_t addr = 0;
			const uint8_t *t;
			uint32_t tlen;

			memcpy(&addr, root + i, entry_len);
			t = acpi_table(addr);
			if (!t || memcmp(t, "MCFG", 4))
				continue;
			memcpy(&tlen, t + 4, 4);
			for (uint32_t e = ACPI_MCFG_ENTRIES; e + 16 <= tlen; e += 16) {
				uint64_t base;
				uint16_t seg;

				memcpy(&base, t + e, 8);
				memcpy(&seg, t + e + 8, 2);
				if (!seg && !t[e + 10])
					return base;
			}
		}
		return 0;
	}
	return 0;
}

static enum pci_method pci_probe(void)
{
	uint64_t base;
	uint32_t old;
	enum pci_method m = __atomic_load_n(&pci_method, __ATOMIC_ACQUIRE);

	if (m != PCI_UNKNOWN)
		return m;
	base = acpi_find_ecam();
	if (base && base < (4ull << 30)) {
		pci_ecam = base;
		__atomic_store_n(&pci_method, PCI_ECAM, __ATOMIC_RELEASE);
		return PCI_ECAM;
	}
	kit_io_allow(PCI_CF8, 8);
	kit_lock(&pci_lock);
	old = inl(PCI_CF8);
	outl(PCI_CF8, PCI_CF8_ENABLE);
	m = inl(PCI_CF8) == PCI_CF8_ENABLE ? PCI_PORTS : PCI_ECAM;
	outl(PCI_CF8, old);
	kit_unlock(&pci_lock);
	if (m == PCI_ECAM)
		kit_io_deny(PCI_CF8, 8);
	__atomic_store_n(&pci_method, m, __ATOMIC_RELEASE);
	return m;
}

const char *kit_pci_method(uint64_t *ecam_base)
{
	bool ports = pci_probe() == PCI_PORTS;

	if (ecam_base)
		*ecam_base = ports ? 0 : pci_ecam;
	return ports ? "ports 0xcf8/0xcfc" : "ECAM";
}

static uintptr_t ecam(unsigned int slot, unsigned int off)
{
	return (uintptr_t)(pci_ecam + ((uint64_t)(slot & 31) << 15) + (off & 0xfff));
}

/* Mechanism #1: width bytes at off (within one dword); all ones past byte 255. */
static uint32_t cf8_read(unsigned int slot, unsigned int off, unsigned int width)
{
	uint16_t port = (uint16_t)(PCI_CFC + (off & 3));
	uint32_t v;

	if (off > 0xff)
		return 0xffffffffu;
	kit_lock(&pci_lock);
	outl(PCI_CF8, PCI_CF8_ENABLE | (slot & 31) << 11 | (off & 0xfc));
	v = width == 1 ? inb(port) : width == 2 ? inw(port) : inl(port);
	kit_unlock(&pci_lock);
	return v;
}

static void cf8_write(unsigned int slot, unsigned int off, unsigned int width, uint32_t v)
{
	uint16_t port = (uint16_t)(PCI_CFC + (off & 3));

	if (off > 0xff)
		return;
	kit_lock(&pci_lock);
	outl(PCI_CF8, PCI_CF8_ENABLE | (slot & 31) << 11 | (off & 0xfc));
	if (width == 1)
		outb(port, (uint8_t)v);
	else if (width == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
	kit_unlock(&pci_lock);
}

uint8_t kit_pci_read8(unsigned int slot, unsigned int off)
{
	if (pci_probe() == PCI_PORTS)
		return (uint8_t)cf8_read(slot, off, 1);
	return *(volatile uint8_t *)ecam(slot, off);
}

uint16_t kit_pci_read16(unsigned int slot, unsigned int off)
{
	if (pci_probe() == PCI_PORTS)
		return (uint16_t)cf8_read(slot, off, 2);
	return *(volatile uint16_t *)ecam(slot, off);
}

uint32_t kit_pci_read32(unsigned int slot, unsigned int off)
{
	if (pci_probe() == PCI_PORTS)
		return cf8_read(slot, off, 4);
	return *(volatile uint32_t *)ecam(slot, off);
}

void kit_pci_write8(unsigned int slot, unsigned int off, uint8_t v)
{
	if (pci_probe() == PCI_PORTS)
		cf8_write(slot, off, 1, v);
	else
		*(volatile uint8_t *)ecam(slot, off) = v;
}

void kit_pci_write16(unsigned int slot, unsigned int off, uint16_t v)
{
	if (pci_probe() == PCI_PORTS)
		cf8_write(slot, off, 2, v);
	else
		*(volatile uint16_t *)ecam(slot, off) = v;
}

void kit_pci_write32(unsigned int slot, unsigned int off, uint32_t v)
{
	if (pci_probe() == PCI_PORTS)
		cf8_write(slot, off, 4, v);
	else
		*(volatile uint32_t *)ecam(slot, off) = v;
}

int kit_pci_find(uint16_t vendor, uint16_t device)
{
	return kit_pci_find_next(vendor, device, 0);
}

int kit_pci_find_next(uint16_t vendor, uint16_t device, unsigned int from)
{
	for (unsigned int slot = from; slot < 32; slot++) {
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
