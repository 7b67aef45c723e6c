/* SPDX-License-Identifier: MIT */
/*
 * PCI host bridge: enumeration through 0xCF8/0xCFC and ECAM, BAR sizing and
 * relocation on a real bus, MSI-X table, masking and pending bits, INTx routing,
 * the 0xCF9 reset forwarding, hostile config/table accesses, and snapshots of a
 * function and of the host (round trips into a fresh host; refused states).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hw/acpi_pm.h"
#include "hw/pci.h"
#include "machine/bus.h"
#include "state/buf.h"

#define ECAM	0xe0000000ULL
#define MEM32	0xc0000000ULL
#define MEM64	0x200000000ULL
#define IOBASE	0xc000
#define MAXSENT 64

struct moved {
	int bar;
	uint64_t addr;
	bool mapped;
};

struct fix {
	struct bus bus;
	struct pci_host *h;
	int level[32], level_calls;
	/* MSI sink */
	int sv_calls, sv_rc;
	unsigned sv_vec;
	uint64_t sv_addr;
	uint32_t sv_data;
	bool sv_masked;
	int sent;
	uint64_t sent_addr[MAXSENT];
	uint32_t sent_data[MAXSENT];
	/* Device side */
	int io_calls;
	uint64_t io_off;
	uint32_t io_len;
	bool io_write;
	struct moved moves[64];
	int nmoves;
	int resets;
};

static struct fix *F;

static void fake_set_level(void *opaque, uint32_t gsi, int level)
{
	struct fix *f = opaque;

	assert_true(gsi < 32);
	f->level[gsi] = level;
	f->level_calls++;
}

static int fake_set_vector(void *opaque, struct pci_dev *d, unsigned vec, uint64_t addr,
			   uint32_t data, bool masked)
{
	struct fix *f = opaque;

	(void)d;
	f->sv_calls++;
	f->sv_vec = vec;
	f->sv_addr = addr;
	f->sv_data = data;
	f->sv_masked = masked;
	return f->sv_rc;
}

static void fake_notify(void *opaque, uint64_t addr, uint32_t data)
{
	struct fix *f = opaque;

	if (f->sent < MAXSENT) {
		f->sent_addr[f->sent] = addr;
		f->sent_data[f->sent] = data;
	}
	f->sent++;
}

static const struct pci_msi_ops msi_ops = {fake_set_vector, fake_notify};

static void dev_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct fix *f = opaque;

	f->io_calls++;
	f->io_off = off;
	f->io_len = len;
	f->io_write = is_write;
	if (!is_write)
		memset(data, 0xa5, len);
}

/* A second handler, so tests can tell two devices apart. */
static int other_calls;
static void other_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)off;
	other_calls++;
	if (!is_write)
		memset(data, 0x3c, len);
}

static void dev_bar_moved(void *opaque, int bar, uint64_t addr, bool mapped)
{
	struct fix *f = opaque;

	if (f->nmoves < 64)
		f->moves[f->nmoves++] = (struct moved){bar, addr, mapped};
}

static uint32_t cfg_hook_last_off, cfg_hook_last_val;
static int cfg_hook_writes;

static void dev_cfg_read(void *opaque, uint32_t off, uint32_t len, uint32_t *val)
{
	(void)opaque;
	(void)len;
	if (off >= 0x200 && off < 0x204)
		*val = 0x12345678u >> (8 * (off - 0x200));
}

static bool dev_cfg_write(void *opaque, uint32_t off, uint32_t len, uint32_t val)
{
	(void)opaque;
	(void)len;
	cfg_hook_writes++;
	cfg_hook_last_off = off;
	cfg_hook_last_val = val;
	return off >= 0x44 && off < 0x48; /* one writable dword in our vendor cap */
}

static const struct pci_dev_ops dev_ops = {dev_bar_moved, dev_cfg_read, dev_cfg_write};

static const struct pci_dev_info net_info = {
    .vendor_id = 0x1af4,
    .device_id = 0x1041,
    .subsys_vendor_id = 0x1af4,
    .subsys_id = 0x0001,
    .class_code = 0x020000,
    .revision = 1,
    .intx_pin = 1,
    .name = "test-net",
};

static const struct pci_dev_info blk_info = {
    .vendor_id = 0x1af4,
    .device_id = 0x1042,
    .class_code = 0x010000,
    .intx_pin = 1,
    .name = "test-blk",
};

static void fake_reset(void *opaque)
{
	((struct fix *)opaque)->resets++;
}

static void fake_poweroff(void *opaque)
{
	(void)opaque;
}

static const struct acpi_pm_ops pm_ops = {fake_poweroff, fake_reset};

static const struct pci_host_config host_cfg = {
    .ecam_base = ECAM,
    .io_base = IOBASE,
    .io_size = 0x4000,
    .mem32_base = MEM32,
    .mem32_size = 0x20000000,
    .mem64_base = MEM64,
    .mem64_size = 32ULL << 30,
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct irq_sink irq;

	assert_non_null(f);
	assert_int_equal(bus_init(&f->bus), 0);
	irq = (struct irq_sink){fake_set_level, f};
	f->h = pci_host_create(&f->bus, &host_cfg, &irq, &msi_ops, f);
	assert_non_null(f->h);
	assert_int_equal(pci_host_attach(f->h, NULL), 0);
	*state = f;
	F = f;
	other_calls = 0;
	cfg_hook_writes = 0;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	pci_host_destroy(f->h);
	/* Everything the host registered is gone. */
	assert_int_equal(f->bus.space[BUS_PIO].nr, 0);
	assert_int_equal(f->bus.space[BUS_MMIO].nr, 0);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

/* ---- access helpers ---- */

static uint32_t pio_in(struct fix *f, uint16_t port, uint32_t len)
{
	uint8_t b[4] = {0};

	bus_access(&f->bus, BUS_PIO, port, b, len, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void pio_out(struct fix *f, uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	bus_access(&f->bus, BUS_PIO, port, b, len, true);
}

static uint64_t mmio_in(struct fix *f, uint64_t addr, uint32_t len, bool *hit)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;
	bool h = bus_access(&f->bus, BUS_MMIO, addr, b, len, false);

	if (hit)
		*hit = h;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static bool mmio_out(struct fix *f, uint64_t addr, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return bus_access(&f->bus, BUS_MMIO, addr, b, len, true);
}

static uint32_t cf8(unsigned bus, unsigned slot, unsigned fn, unsigned off)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (off & 0xfc);
}

/* Type 1 config read/write of len bytes at off (within a dword). */
static uint32_t cfg_rd(struct fix *f, unsigned slot, unsigned off, uint32_t len)
{
	pio_out(f, 0xcf8, cf8(0, slot, 0, off), 4);
	return pio_in(f, (uint16_t)(0xcfc + (off & 3)), len);
}

static void cfg_wr(struct fix *f, unsigned slot, unsigned off, uint32_t v, uint32_t len)
{
	pio_out(f, 0xcf8, cf8(0, slot, 0, off), 4);
	pio_out(f, (uint16_t)(0xcfc + (off & 3)), v, len);
}

static uint64_t ecam(unsigned bus, unsigned slot, unsigned fn, unsigned off)
{
	return ECAM + ((uint64_t)bus << 20 | slot << 15 | fn << 12 | off);
}

static uint32_t ecam_rd(struct fix *f, unsigned slot, unsigned off, uint32_t len)
{
	return (uint32_t)mmio_in(f, ecam(0, slot, 0, off), len, NULL);
}

static void ecam_wr(struct fix *f, unsigned slot, unsigned off, uint32_t v, uint32_t len)
{
	mmio_out(f, ecam(0, slot, 0, off), v, len);
}

static uint8_t find_cap(struct fix *f, unsigned slot, uint8_t id)
{
	uint8_t p;
	int n = 0;

	if (!(cfg_rd(f, slot, 0x06, 2) & 0x10))
		return 0;
	for (p = (uint8_t)cfg_rd(f, slot, 0x34, 1); p && n < 48; n++) {
		if (cfg_rd(f, slot, p, 1) == id)
			return p;
		p = (uint8_t)cfg_rd(f, slot, p + 1u, 1);
	}
	return 0;
}

static struct pci_dev *add_dev(struct fix *f, int slot, const struct pci_dev_info *info)
{
	struct pci_dev *d = pci_dev_create(f->h, slot, info, &dev_ops, f);

	assert_non_null(d);
	return d;
}

/* ---- tests ---- */

static void test_enumerate(void **state)
{
	struct fix *f = *state;
	struct pci_dev *a = add_dev(f, -1, &net_info);
	struct pci_dev *b = add_dev(f, 5, &blk_info);

	assert_int_equal(pci_dev_slot(a), 1);
	assert_int_equal(pci_dev_slot(b), 5);
	/* What an OS does: vendor/device of every slot, function 0. */
	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = cfg_rd(f, s, 0, 4);

		assert_int_equal(id, ecam_rd(f, s, 0, 4));
		if (s == 0)
			assert_int_equal(id, 0x29c08086);
		else if (s == 1)
			assert_int_equal(id, 0x10411af4);
		else if (s == 5)
			assert_int_equal(id, 0x10421af4);
		else
			assert_int_equal(id, 0xffffffff);
		/* No multi-function devices: function 1 is absent everywhere. */
		assert_int_equal(cfg_rd(f, s, 0, 4) == 0xffffffff ? 0 : 1,
				 s == 0 || s == 1 || s == 5);
		pio_out(f, 0xcf8, cf8(0, s, 1, 0), 4);
		assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);
		assert_int_equal(mmio_in(f, ecam(0, s, 3, 0), 4, NULL), 0xffffffff);
	}
	/* Class codes, revision, header type 0 (single function), subsystem IDs. */
	assert_int_equal(cfg_rd(f, 0, 0x08, 4), 0x06000000);
	assert_int_equal(cfg_rd(f, 1, 0x08, 4), 0x02000001);
	assert_int_equal(cfg_rd(f, 1, 0x0b, 1), 0x02);
	assert_int_equal(cfg_rd(f, 1, 0x0e, 1), 0x00);
	assert_int_equal(cfg_rd(f, 1, 0x2c, 4), 0x00011af4);
	assert_int_equal(cfg_rd(f, 1, 0x02, 2), 0x1041);
	assert_int_equal(ecam_rd(f, 5, 0x0a, 2), 0x0100);
	/* Other buses are empty, over both mechanisms. */
	pio_out(f, 0xcf8, cf8(1, 0, 0, 0), 4);
	assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);
	assert_int_equal(mmio_in(f, ecam(1, 0, 0, 0), 4, NULL), 0xffffffff);
	assert_int_equal(mmio_in(f, ecam(255, 31, 7, 0xffc), 4, NULL), 0xffffffff);
}

static void test_create_errors(void **state)
{
	struct fix *f = *state;
	struct pci_host_config bad = host_cfg;
	struct pci_dev *d;
	int n = 0;

	assert_null(pci_dev_create(f->h, 0, &net_info, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(pci_dev_create(f->h, 32, &net_info, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(pci_dev_create(f->h, -2, &net_info, NULL, NULL));
	assert_non_null(pci_dev_create(f->h, 7, &net_info, NULL, NULL));
	assert_null(pci_dev_create(f->h, 7, &net_info, NULL, NULL));
	assert_int_equal(errno, EBUSY);
	while ((d = pci_dev_create(f->h, -1, &blk_info, NULL, NULL)))
		n++;
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(n, 30); /* slots 1..31 less slot 7 */

	bad.ecam_base = ECAM + 0x100000; /* not 256 MiB aligned */
	assert_null(pci_host_create(&f->bus, &bad, NULL, NULL, NULL));
	bad = host_cfg;
	bad.io_base = 0xfff0;
	assert_null(pci_host_create(&f->bus, &bad, NULL, NULL, NULL));
	bad = host_cfg;
	bad.mem32_base = 0xf0000000;
	assert_null(pci_host_create(&f->bus, &bad, NULL, NULL, NULL));
	assert_null(pci_host_create(&f->bus, NULL, NULL, NULL, NULL));
}

static void test_config_address(void **state)
{
	struct fix *f = *state;

	/* Linux's pci_check_type1(): the latch reads back a dword write. */
	pio_out(f, 0xcf8, 0x80000000, 4);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80000000);
	pio_out(f, 0xcf8, 0x80fffffb, 4);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80fffff8); /* bits 1:0 read 0 */
	/* Byte and word I/O in 0xCF8-0xCFB is not the latch. */
	pio_out(f, 0xcf8, 0x80000000, 4);
	pio_out(f, 0xcfb, 0x01, 1);
	pio_out(f, 0xcf8, 0x00, 1);
	pio_out(f, 0xcfa, 0x1234, 2);
	assert_int_equal(pio_in(f, 0xcf8, 4), 0x80000000);
	assert_int_equal(pio_in(f, 0xcf8, 1), 0xff);
	assert_int_equal(pio_in(f, 0xcfa, 2), 0xffff);
	/* Data port: any width at 0xCFC+k reaches byte k of the latched dword. */
	pio_out(f, 0xcf8, cf8(0, 0, 0, 0), 4);
	assert_int_equal(pio_in(f, 0xcfc, 4), 0x29c08086);
	assert_int_equal(pio_in(f, 0xcfe, 2), 0x29c0);
	assert_int_equal(pio_in(f, 0xcfd, 1), 0x80);
	assert_int_equal(pio_in(f, 0xcfd, 2), 0xc080); /* inside the dword, unaligned */
	assert_int_equal(pio_in(f, 0xcff, 1), 0x29);
	/* Register bits 7:2 select the dword; the enable bit gates it all. */
	pio_out(f, 0xcf8, cf8(0, 0, 0, 0x08), 4);
	assert_int_equal(pio_in(f, 0xcfe, 2), 0x0600);
	pio_out(f, 0xcf8, cf8(0, 0, 0, 0) & ~0x80000000u, 4);
	assert_int_equal(pio_in(f, 0xcfc, 4), 0xffffffff);
}

static void test_reset_port(void **state)
{
	struct fix *f = *state;
	struct acpi_pm *pm = acpi_pm_create(NULL, 9, &pm_ops, f);
	struct pci_host *h;
	struct bus bus;

	assert_non_null(pm);
	assert_int_equal(bus_init(&bus), 0);
	/* The PM block no longer claims 0xCF9, so the host can take 0xCF8-0xCFF. */
	assert_int_equal(acpi_pm_attach(pm, &bus), 0);
	h = pci_host_create(&bus, &host_cfg, NULL, NULL, NULL);
	assert_non_null(h);
	assert_int_equal(pci_host_attach(h, pm), 0);
	assert_int_equal(pci_host_attach(h, pm), -EBUSY);

	/* A dword at 0xCF8 whose second byte is 6 is a config address, not a reset. */
	{
		uint8_t b[4] = {0x00, 0x06, 0x00, 0x80};

		bus_access(&bus, BUS_PIO, 0xcf8, b, 4, true);
		assert_int_equal(f->resets, 0);
	}
	bus_access(&bus, BUS_PIO, ACPI_PM_RESET_PORT, &(uint8_t){0x02}, 1, true);
	assert_int_equal(f->resets, 0);
	{
		uint8_t v = 0;

		bus_access(&bus, BUS_PIO, ACPI_PM_RESET_PORT, &v, 1, false);
		assert_int_equal(v, 0x02);
	}
	bus_access(&bus, BUS_PIO, ACPI_PM_RESET_PORT, &(uint8_t){ACPI_PM_RESET_VALUE}, 1, true);
	assert_int_equal(f->resets, 1);
	/* A word across 0xCF9 is not the byte register. */
	{
		uint8_t w[2] = {0x06, 0x06};

		bus_access(&bus, BUS_PIO, 0xcf8, w, 2, true);
		bus_access(&bus, BUS_PIO, 0xcf9, w, 2, true);
		assert_int_equal(f->resets, 1);
	}
	/* The config address latch survived all of it. */
	{
		uint8_t b[4];

		bus_access(&bus, BUS_PIO, 0xcf8, b, 4, false);
		assert_int_equal(b[3], 0x80);
		assert_int_equal(b[1], 0x06);
	}
	pci_host_destroy(h);
	acpi_pm_destroy(pm);
	bus_destroy(&bus);
}

static void test_header_registers(void **state)
{
	struct fix *f = *state;

	add_dev(f, 3, &net_info);
	/* Command: only IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE stick. */
	cfg_wr(f, 3, 0x04, 0xffff, 2);
	assert_int_equal(cfg_rd(f, 3, 0x04, 2), 0x0547);
	cfg_wr(f, 3, 0x05, 0x00, 1); /* byte write to the upper half */
	assert_int_equal(cfg_rd(f, 3, 0x04, 2), 0x0047);
	cfg_wr(f, 3, 0x04, 0, 2);
	/* Status: W1C error bits never set by writing; no capabilities yet. */
	cfg_wr(f, 3, 0x06, 0xffff, 2);
	assert_int_equal(cfg_rd(f, 3, 0x06, 2), 0x0000);
	/* IDs, class, header type, pin are read-only. */
	cfg_wr(f, 3, 0x00, 0xdeadbeef, 4);
	cfg_wr(f, 3, 0x08, 0xffffffff, 4);
	cfg_wr(f, 3, 0x0e, 0x80, 1);
	cfg_wr(f, 3, 0x3d, 0x04, 1);
	cfg_wr(f, 3, 0x2c, 0xffffffff, 4);
	cfg_wr(f, 3, 0x34, 0x80, 1);
	assert_int_equal(cfg_rd(f, 3, 0x00, 4), 0x10411af4);
	assert_int_equal(cfg_rd(f, 3, 0x08, 4), 0x02000001);
	assert_int_equal(cfg_rd(f, 3, 0x0e, 1), 0);
	assert_int_equal(cfg_rd(f, 3, 0x3d, 1), 1);
	assert_int_equal(cfg_rd(f, 3, 0x2c, 4), 0x00011af4);
	assert_int_equal(cfg_rd(f, 3, 0x34, 1), 0);
	/* Interrupt line: preset to the routed GSI, then read/write. */
	assert_int_equal(cfg_rd(f, 3, 0x3c, 1), pci_intx_gsi(3, 1));
	cfg_wr(f, 3, 0x3c, 0x0b, 1);
	assert_int_equal(cfg_rd(f, 3, 0x3c, 4), 0x0000010b);
	/* Cache line size is storage; latency timer and BIST read 0. */
	cfg_wr(f, 3, 0x0c, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, 3, 0x0c, 4), 0x000000ff);
	/* No expansion ROM: sizing reads 0. */
	cfg_wr(f, 3, 0x30, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, 3, 0x30, 4), 0);
	/* Unimplemented BARs read 0 even after sizing. */
	cfg_wr(f, 3, 0x10, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, 3, 0x10, 4), 0);
}

static void test_bar_sizing(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = add_dev(f, 2, &net_info);
	static const uint32_t sized[6] = {0xffffffe1, 0xfffff000, 0xfff00008,
					  0x0000000c, 0xfffffffe, 0};
	uint32_t orig[6];

	assert_int_equal(pci_dev_set_bar(d, 0, 32, PCI_BAR_IO, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 1, 4096, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 2, 1 << 20, PCI_BAR_PREFETCH, dev_io, f), 0);
	assert_int_equal(
	    pci_dev_set_bar(d, 3, 8ULL << 30, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, dev_io, f), 0);
	/* The pre-assigned addresses come from the windows, size-aligned, with type bits. */
	assert_int_equal(cfg_rd(f, 2, 0x10, 4), IOBASE | 1);
	assert_int_equal(cfg_rd(f, 2, 0x14, 4), MEM32);
	assert_int_equal(cfg_rd(f, 2, 0x18, 4), (MEM32 + (1 << 20)) | 0x8);
	assert_int_equal(cfg_rd(f, 2, 0x1c, 4), 0x0000000c);
	assert_int_equal(cfg_rd(f, 2, 0x20, 4), MEM64 >> 32);
	for (int i = 0; i < 6; i++)
		orig[i] = cfg_rd(f, 2, 0x10 + 4u * (unsigned)i, 4);
	/* Size each BAR the way an OS does: all ones, read back, restore. */
	for (int i = 0; i < 6; i++) {
		unsigned off = 0x10 + 4u * (unsigned)i;

		cfg_wr(f, 2, off, 0xffffffff, 4);
		assert_int_equal(cfg_rd(f, 2, off, 4), sized[i]);
		assert_int_equal(ecam_rd(f, 2, off, 4), sized[i]);
		cfg_wr(f, 2, off, orig[i], 4);
		assert_int_equal(cfg_rd(f, 2, off, 4), orig[i]);
	}
	/* Byte writes merge into the BAR; low bits below the size stay 0. */
	cfg_wr(f, 2, 0x16, 0xab, 1);
	assert_int_equal(cfg_rd(f, 2, 0x14, 4), 0xc0ab0000);
	cfg_wr(f, 2, 0x14, 0xc0000fff, 4);
	assert_int_equal(cfg_rd(f, 2, 0x14, 4), 0xc0000000);
	/* Bad arguments. */
	assert_int_equal(pci_dev_set_bar(d, 1, 4096, 0, dev_io, f), -EBUSY);
	assert_int_equal(pci_dev_set_bar(d, 4, 4096, 0, dev_io, f), -EBUSY); /* upper half */
	assert_int_equal(pci_dev_set_bar(d, 5, 4096, PCI_BAR_MEM64, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 3000, 0, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 512, PCI_BAR_IO, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 16, PCI_BAR_IO | PCI_BAR_PREFETCH, dev_io, f),
			 -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 8, 0, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 6, 4096, 0, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 1ULL << 32, 0, dev_io, f), -EINVAL);
	assert_int_equal(pci_dev_set_bar(d, 5, 1ULL << 30, 0, dev_io, f), -ENOSPC);
	assert_int_equal(pci_dev_set_bar(d, 5, 4096, 0x80, dev_io, f), -EINVAL);
}

static void test_bar_mapping(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = add_dev(f, 4, &net_info);
	bool hit;

	assert_int_equal(pci_dev_set_bar(d, 0, 4096, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 1, 64, PCI_BAR_IO, dev_io, f), 0);
	/* Decoding is off until the guest sets MEM/IO in the command register. */
	mmio_in(f, MEM32 + 8, 4, &hit);
	assert_false(hit);
	assert_int_equal(f->nmoves, 0);
	cfg_wr(f, 4, 0x04, 0x0002, 2);
	assert_int_equal(mmio_in(f, MEM32 + 8, 4, &hit), 0xa5a5a5a5);
	assert_true(hit);
	assert_int_equal(f->io_off, 8);
	assert_int_equal(f->io_len, 4);
	assert_int_equal(f->nmoves, 1);
	assert_int_equal(f->moves[0].bar, 0);
	assert_int_equal(f->moves[0].addr, MEM32);
	assert_true(f->moves[0].mapped);
	/* The I/O BAR needs COMMAND.IO. */
	pio_in(f, IOBASE + 4, 2);
	assert_int_equal(f->io_calls, 1);
	cfg_wr(f, 4, 0x04, 0x0003, 2);
	assert_int_equal(pio_in(f, IOBASE + 4, 2), 0xa5a5);
	assert_int_equal(f->io_calls, 2);
	assert_int_equal(f->io_off, 4);

	/* Relocation: the old address goes dead, the new one reaches the handler. */
	cfg_wr(f, 4, 0x10, 0xd0000000, 4);
	mmio_in(f, MEM32 + 8, 4, &hit);
	assert_false(hit);
	mmio_out(f, 0xd0000010, 0x11223344, 4);
	assert_true(f->io_write);
	assert_int_equal(f->io_off, 0x10);
	assert_int_equal(f->moves[f->nmoves - 2].mapped, false);
	assert_int_equal(f->moves[f->nmoves - 2].addr, MEM32);
	assert_int_equal(f->moves[f->nmoves - 1].addr, 0xd0000000);
	assert_true(f->moves[f->nmoves - 1].mapped);
	cfg_wr(f, 4, 0x14, 0xe000, 4);
	pio_in(f, IOBASE + 4, 2);
	assert_int_equal(f->io_off, 0x10); /* the old I/O range reached nothing */
	assert_int_equal(pio_in(f, 0xe004, 2), 0xa5a5);
	assert_int_equal(f->io_off, 4);

	/* Sizing with decoding on: the all-ones pattern is not mapped, restoring is. */
	cfg_wr(f, 4, 0x10, 0xffffffff, 4);
	mmio_in(f, 0xd0000000, 4, &hit);
	assert_false(hit);
	mmio_in(f, 0xfffff000, 4, &hit);
	assert_false(hit);
	cfg_wr(f, 4, 0x10, 0xd0000000, 4);
	mmio_in(f, 0xd0000000, 4, &hit);
	assert_true(hit);
	/* Address 0 is "unassigned": not decoded. */
	cfg_wr(f, 4, 0x10, 0, 4);
	mmio_in(f, 0, 4, &hit);
	assert_false(hit);
	cfg_wr(f, 4, 0x10, 0xd0000000, 4);
	/* An I/O BAR beyond 64 KiB decodes nothing. */
	cfg_wr(f, 4, 0x14, 0x10000, 4);
	assert_int_equal(cfg_rd(f, 4, 0x14, 4), 0x10001);
	cfg_wr(f, 4, 0x14, 0xffc0, 4);
	assert_int_equal(pio_in(f, 0xffc0, 4), 0xa5a5a5a5);
	/* Clearing MEM unmaps; setting it maps again at the same place. */
	cfg_wr(f, 4, 0x04, 0x0001, 2);
	mmio_in(f, 0xd0000000, 4, &hit);
	assert_false(hit);
	assert_false(f->moves[f->nmoves - 1].mapped);
	cfg_wr(f, 4, 0x04, 0x0003, 2);
	mmio_in(f, 0xd0000000, 4, &hit);
	assert_true(hit);
	/* A big access straddling the BAR's end is the bus's to refuse. */
	mmio_in(f, 0xd0000ffc, 8, &hit);
	assert_false(hit);
}

static void test_bar64(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = add_dev(f, 6, &blk_info);
	bool hit;

	assert_int_equal(
	    pci_dev_set_bar(d, 2, 1 << 20, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, dev_io, f), 0);
	assert_int_equal(cfg_rd(f, 6, 0x18, 4), 0x0000000c);
	assert_int_equal(cfg_rd(f, 6, 0x1c, 4), 2);
	cfg_wr(f, 6, 0x04, 0x0002, 2);
	mmio_in(f, MEM64 + 0x40, 8, &hit);
	assert_true(hit);
	assert_int_equal(f->io_len, 8);
	/* Move it the way Linux does, low dword then high dword. */
	cfg_wr(f, 6, 0x18, 0x40000000, 4);
	mmio_in(f, 0x240000000ULL, 4, &hit);
	assert_true(hit);
	cfg_wr(f, 6, 0x1c, 0x10, 4);
	mmio_in(f, 0x240000000ULL, 4, &hit);
	assert_false(hit);
	mmio_in(f, 0x1040000000ULL + 0x10, 4, &hit);
	assert_true(hit);
	assert_int_equal(f->io_off, 0x10);
	assert_int_equal(f->moves[f->nmoves - 1].bar, 2);
	assert_int_equal(f->moves[f->nmoves - 1].addr, 0x1040000000ULL);
	/* Sizing the high dword alone is not a placement either. */
	cfg_wr(f, 6, 0x1c, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, 6, 0x1c, 4), 0xffffffff);
	mmio_in(f, 0x1040000000ULL, 4, &hit);
	assert_false(hit);
	cfg_wr(f, 6, 0x1c, 0x10, 4);
	mmio_in(f, 0x1040000000ULL, 4, &hit);
	assert_true(hit);
	/* Below 4 GiB is fine for a 64-bit BAR too. */
	cfg_wr(f, 6, 0x1c, 0, 4);
	mmio_in(f, 0x40000000ULL, 4, &hit);
	assert_true(hit);
}

static void test_bar_overlap(void **state)
{
	struct fix *f = *state;
	struct pci_dev *a = add_dev(f, 1, &net_info), *b;
	static const struct pci_dev_ops plain = {0};
	bool hit;

	b = pci_dev_create(f->h, 2, &blk_info, &plain, NULL);
	assert_non_null(b);
	assert_int_equal(pci_dev_set_bar(a, 0, 4096, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(b, 0, 4096, 0, other_io, NULL), 0);
	cfg_wr(f, 1, 0x04, 2, 2);
	cfg_wr(f, 2, 0x04, 2, 2);
	/* b moves onto a: refused, b stays unmapped, a still answers. */
	cfg_wr(f, 2, 0x10, (uint32_t)MEM32, 4);
	assert_int_equal(mmio_in(f, MEM32, 4, &hit), 0xa5a5a5a5);
	assert_int_equal(other_calls, 0);
	mmio_in(f, MEM32 + 0x1000, 4, &hit);
	assert_false(hit);
	/* Also partly overlapping ECAM or a larger BAR. */
	cfg_wr(f, 2, 0x10, (uint32_t)ECAM + 0x2000, 4);
	assert_int_equal(mmio_in(f, ECAM, 4, NULL), 0x29c08086);
	/* a moves away: b's wish is granted on the next change. */
	cfg_wr(f, 2, 0x10, (uint32_t)MEM32, 4);
	cfg_wr(f, 1, 0x10, 0xd0000000, 4);
	assert_int_equal(mmio_in(f, MEM32, 4, &hit), 0x3c3c3c3c);
	assert_true(hit);
	assert_int_equal(other_calls, 1);
	assert_int_equal(mmio_in(f, 0xd0000000, 4, &hit), 0xa5a5a5a5);
	/* Swap them back through an overlapping step, in one order. */
	cfg_wr(f, 1, 0x10, (uint32_t)MEM32, 4); /* refused: b is there */
	cfg_wr(f, 2, 0x10, 0xd0000000, 4);	/* b takes a's old spot; a gets MEM32 */
	assert_int_equal(mmio_in(f, MEM32, 4, NULL), 0xa5a5a5a5);
	assert_int_equal(mmio_in(f, 0xd0000000, 4, NULL), 0x3c3c3c3c);
}

static void test_capabilities(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = add_dev(f, 9, &net_info);
	uint8_t body[6] = {0x0a, 1, 2, 3, 4, 5}, big[250] = {0}, o1 = 0, o2 = 0;

	assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, body, 6, &o1), 0);
	assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, body, 3, &o2), 0);
	assert_int_equal(o1, 0x40);
	assert_int_equal(o2, 0x48);
	assert_int_equal(cfg_rd(f, 9, 0x06, 2) & 0x10, 0x10);
	assert_int_equal(cfg_rd(f, 9, 0x34, 1), 0x40);
	assert_int_equal(cfg_rd(f, 9, 0x40, 4), 0x010a4809);
	assert_int_equal(cfg_rd(f, 9, 0x49, 1), 0x00); /* end of list */
	assert_int_equal(find_cap(f, 9, PCI_CAP_ID_VNDR), 0x40);
	assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, big, sizeof(big), NULL), -ENOSPC);
	assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, NULL, 4, NULL), -EINVAL);
	/* Device hooks: writes go to cfg_write, which decides what is stored. */
	cfg_wr(f, 9, 0x44, 0xcafef00d, 4);
	assert_int_equal(cfg_hook_writes, 1);
	assert_int_equal(cfg_hook_last_off, 0x44);
	assert_int_equal(cfg_rd(f, 9, 0x44, 4), 0xcafef00d);
	cfg_wr(f, 9, 0x40, 0xffffffff, 4); /* refused by the hook: chain intact */
	assert_int_equal(cfg_rd(f, 9, 0x40, 4), 0x010a4809);
	cfg_wr(f, 9, 0x47, 0x11, 1);
	assert_int_equal(cfg_rd(f, 9, 0x47, 1), 0x11);
	/* Extended config space over ECAM: the hook may answer, the rest reads 0. */
	assert_int_equal(ecam_rd(f, 9, 0x200, 4), 0x12345678);
	assert_int_equal(ecam_rd(f, 9, 0x202, 2), 0x1234);
	assert_int_equal(ecam_rd(f, 9, 0x100, 4), 0);
	assert_int_equal(ecam_rd(f, 9, 0xffc, 4), 0);
	ecam_wr(f, 9, 0xffc, 0xffffffff, 4);
	assert_int_equal(cfg_hook_last_off, 0xffc);
	assert_int_equal(ecam_rd(f, 9, 0xffc, 4), 0);
	/* Type 1 cannot reach past 0xff. */
	assert_int_equal(cfg_rd(f, 9, 0xfc, 4), 0);
}

static uint8_t setup_msix(struct fix *f, struct pci_dev **out)
{
	struct pci_dev *d = add_dev(f, 8, &net_info);
	uint8_t cap;

	assert_int_equal(pci_dev_set_bar(d, 1, 0x4000, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_init_msix(d, 70, 1, 0x2000, 0x3000), 0);
	cap = find_cap(f, 8, PCI_CAP_ID_MSIX);
	assert_int_not_equal(cap, 0);
	cfg_wr(f, 8, 0x14, 0xd0000000, 4);
	cfg_wr(f, 8, 0x04, 0x0006, 2);
	*out = d;
	return cap;
}

#define TBL(v, o) (0xd0002000ULL + 16u * (v) + (o))
#define PBA(q)	  (0xd0003000ULL + 8u * (q))

static void test_msix(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d;
	uint8_t cap = setup_msix(f, &d);
	bool hit;

	/* The capability: table size N-1, BIR and offsets, disabled and unmasked. */
	assert_int_equal(cfg_rd(f, 8, cap + 2u, 2), 69);
	assert_int_equal(cfg_rd(f, 8, cap + 4u, 4), 0x2001);
	assert_int_equal(cfg_rd(f, 8, cap + 8u, 4), 0x3001);
	assert_int_equal(ecam_rd(f, 8, cap, 4), (69u << 16) | cfg_rd(f, 8, cap, 2));
	/* Table size and offsets are read-only; reserved control bits too. */
	cfg_wr(f, 8, cap + 2u, 0x3fff, 2);
	cfg_wr(f, 8, cap + 4u, 0, 4);
	assert_int_equal(cfg_rd(f, 8, cap + 2u, 2), 69);
	assert_int_equal(cfg_rd(f, 8, cap + 4u, 4), 0x2001);
	/* Every vector starts masked; the table is the layer's, not the device's. */
	assert_int_equal(mmio_in(f, TBL(5, 12), 4, &hit), 1);
	assert_true(hit);
	assert_int_equal(f->io_calls, 0);
	mmio_in(f, 0xd0000100, 4, NULL);
	assert_int_equal(f->io_calls, 1);
	assert_int_equal(f->io_off, 0x100);

	/* Programming entry 3 (qword address, then data) reaches set_vector, masked. */
	mmio_out(f, TBL(3, 0), 0x00000000fee01004ULL, 8);
	assert_int_equal(f->sv_vec, 3);
	assert_int_equal(f->sv_addr, 0xfee01004);
	assert_true(f->sv_masked);
	mmio_out(f, TBL(3, 8), 0x4041, 4);
	assert_int_equal(f->sv_data, 0x4041);
	assert_int_equal(mmio_in(f, TBL(3, 0), 8, NULL), 0xfee01004);
	/* Address bits 1:0 are hardwired 0; vector control keeps only the mask bit. */
	mmio_out(f, TBL(3, 0), 0xfee01007, 4);
	assert_int_equal(mmio_in(f, TBL(3, 0), 4, NULL), 0xfee01004);
	mmio_out(f, TBL(3, 12), 0xfffffffe, 4);
	assert_int_equal(mmio_in(f, TBL(3, 12), 4, NULL), 0);
	assert_true(f->sv_masked); /* unmasked entry, but MSI-X is still disabled */
	assert_int_equal(pci_dev_msix_notify(d, 3), -ENOENT);
	assert_false(pci_dev_msix_enabled(d));

	/* Enable: vector 3 becomes live. */
	f->sv_calls = 0;
	cfg_wr(f, 8, cap + 3u, 0x80, 1);
	assert_true(pci_dev_msix_enabled(d));
	assert_int_equal(cfg_rd(f, 8, cap + 2u, 2), 0x8000 | 69);
	assert_int_equal(f->sv_calls, 1);
	assert_int_equal(f->sv_vec, 3);
	assert_false(f->sv_masked);
	assert_int_equal(pci_dev_msix_notify(d, 3), 0);
	assert_int_equal(f->sent, 1);
	assert_int_equal(f->sent_addr[0], 0xfee01004);
	assert_int_equal(f->sent_data[0], 0x4041);
	assert_int_equal(pci_dev_msix_notify(d, 70), -EINVAL);

	/* A masked vector goes pending and fires on unmask. */
	assert_int_equal(pci_dev_msix_notify(d, 65), 0);
	assert_int_equal(f->sent, 1);
	assert_int_equal(mmio_in(f, PBA(1), 8, NULL), 2);
	mmio_out(f, TBL(65, 0), 0xfee00000, 4);
	mmio_out(f, TBL(65, 8), 0x31, 4);
	assert_int_equal(f->sent, 1);
	mmio_out(f, TBL(65, 12), 0, 4);
	assert_false(f->sv_masked);
	assert_int_equal(f->sent, 2);
	assert_int_equal(f->sent_data[1], 0x31);
	assert_int_equal(mmio_in(f, PBA(1), 8, NULL), 0);
	/* The PBA is read-only. */
	mmio_out(f, PBA(0), ~0ULL, 8);
	assert_int_equal(mmio_in(f, PBA(0), 8, NULL), 0);

	/* Function mask: everything pends, clearing it delivers. */
	cfg_wr(f, 8, cap + 2u, 0xc000, 2);
	assert_true(f->sv_masked);
	assert_int_equal(pci_dev_msix_notify(d, 3), 0);
	assert_int_equal(pci_dev_msix_notify(d, 3), 0); /* one pending bit, one message */
	assert_int_equal(pci_dev_msix_notify(d, 65), 0);
	assert_int_equal(f->sent, 2);
	assert_int_equal(mmio_in(f, PBA(0), 8, NULL), 1ULL << 3);
	cfg_wr(f, 8, cap + 2u, 0x8000, 2);
	assert_int_equal(f->sent, 4);
	assert_int_equal(mmio_in(f, PBA(0), 8, NULL), 0);
	assert_int_equal(mmio_in(f, PBA(1), 8, NULL), 0);
	/* Masking one entry again. */
	mmio_out(f, TBL(3, 12), 1, 4);
	assert_true(f->sv_masked);
	pci_dev_msix_notify(d, 3);
	assert_int_equal(f->sent, 4);
	/* Disabling keeps the pending bit; re-enabling with the entry masked keeps it. */
	cfg_wr(f, 8, cap + 2u, 0, 2);
	cfg_wr(f, 8, cap + 2u, 0x8000, 2);
	assert_int_equal(mmio_in(f, PBA(0), 8, NULL), 1ULL << 3);
	mmio_out(f, TBL(3, 12), 0, 4);
	assert_int_equal(f->sent, 5);

	/* set_vector failing is logged, not fatal. */
	f->sv_rc = -ENOSPC;
	mmio_out(f, TBL(4, 8), 1, 4);
	mmio_out(f, TBL(4, 8), 2, 4);
	f->sv_rc = 0;

	/* Bad setups. */
	assert_int_equal(pci_dev_init_msix(d, 4, 1, 0, 0x100), -EBUSY);
}

static void test_msix_args(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = add_dev(f, 10, &net_info);

	assert_int_equal(pci_dev_set_bar(d, 0, 0x1000, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 1, 0x100, PCI_BAR_IO, dev_io, f), 0);
	assert_int_equal(pci_dev_init_msix(d, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pci_dev_init_msix(d, 2049, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pci_dev_init_msix(d, 4, 2, 0, 0x800), -EINVAL); /* no BAR 2 */
	assert_int_equal(pci_dev_init_msix(d, 4, 1, 0, 0x80), -EINVAL);	 /* I/O BAR */
	assert_int_equal(pci_dev_init_msix(d, 4, 0, 4, 0x800), -EINVAL); /* misaligned */
	assert_int_equal(pci_dev_init_msix(d, 4, 0, 0, 0x808 + 4), -EINVAL);
	assert_int_equal(pci_dev_init_msix(d, 4, 0, 0, 0x38), -EINVAL);	   /* overlap */
	assert_int_equal(pci_dev_init_msix(d, 256, 0, 0, 0xff8), -EINVAL); /* too big */
	assert_int_equal(pci_dev_init_msix(d, 4, 0, 0xff8, 0), -EINVAL);
	assert_int_equal(pci_dev_init_msix(d, 4, 6, 0, 0x800), -EINVAL);
	assert_int_equal(pci_dev_init_msix(d, 4, 0, 0, 0xff8), 0);
	/* A BAR with only MSI-X in it and no handler reads 0 elsewhere. */
	{
		struct pci_dev *e = add_dev(f, 11, &blk_info);

		assert_int_equal(pci_dev_set_bar(e, 0, 0x1000, 0, NULL, NULL), 0);
		assert_int_equal(pci_dev_init_msix(e, 1, 0, 0, 0x800), 0);
		cfg_wr(f, 11, 0x10, 0xd1000000, 4);
		cfg_wr(f, 11, 0x04, 2, 2);
		assert_int_equal(mmio_in(f, 0xd1000400, 4, NULL), 0);
		assert_int_equal(mmio_in(f, 0xd100000c, 4, NULL), 1);
	}
}

static void test_intx(void **state)
{
	struct fix *f = *state;
	struct pci_dev *a = add_dev(f, 3, &net_info), *b = add_dev(f, 11, &blk_info), *c;
	static const struct pci_dev_info nopin = {.vendor_id = 1, .name = "nopin"};
	uint32_t gsi = pci_intx_gsi(3, 1);

	assert_int_equal(gsi, 19);
	assert_int_equal(pci_intx_gsi(11, 1), 19); /* same line: shared */
	assert_int_equal(pci_intx_gsi(0, 1), 16);
	assert_int_equal(pci_intx_gsi(31, 4), 16 + (31 + 3) % 8);
	pci_dev_set_intx(a, 1);
	assert_int_equal(f->level[gsi], 1);
	assert_int_equal(cfg_rd(f, 3, 0x06, 2) & 0x08, 0x08);
	/* Wired OR: b asserting and a deasserting keeps the line up. */
	pci_dev_set_intx(b, 1);
	pci_dev_set_intx(a, 0);
	assert_int_equal(f->level[gsi], 1);
	assert_int_equal(cfg_rd(f, 3, 0x06, 2) & 0x08, 0);
	pci_dev_set_intx(b, 0);
	assert_int_equal(f->level[gsi], 0);
	/* Interrupt Disable gates the pin, not the status bit. */
	cfg_wr(f, 3, 0x04, 0x0400, 2);
	pci_dev_set_intx(a, 1);
	assert_int_equal(f->level[gsi], 0);
	assert_int_equal(cfg_rd(f, 3, 0x06, 2) & 0x08, 0x08);
	cfg_wr(f, 3, 0x04, 0, 2);
	assert_int_equal(f->level[gsi], 1);
	cfg_wr(f, 3, 0x04, 0x0400, 2);
	assert_int_equal(f->level[gsi], 0);
	cfg_wr(f, 3, 0x04, 0, 2);
	/* Repeating a level changes nothing on the line. */
	{
		int calls = f->level_calls;

		pci_dev_set_intx(a, 1);
		assert_int_equal(f->level_calls, calls);
	}
	pci_dev_set_intx(a, 0);
	/* MSI-X enabled: no INTx. */
	assert_int_equal(pci_dev_set_bar(a, 0, 0x1000, 0, dev_io, f), 0);
	assert_int_equal(pci_dev_init_msix(a, 2, 0, 0, 0x800), 0);
	pci_dev_set_intx(a, 1);
	assert_int_equal(f->level[gsi], 1);
	cfg_wr(f, 3, find_cap(f, 3, PCI_CAP_ID_MSIX) + 3u, 0x80, 1);
	assert_int_equal(f->level[gsi], 0);
	cfg_wr(f, 3, find_cap(f, 3, PCI_CAP_ID_MSIX) + 3u, 0x00, 1);
	assert_int_equal(f->level[gsi], 1);
	pci_dev_set_intx(a, 0);
	/* A device without a pin never drives anything. */
	c = pci_dev_create(f->h, 12, &nopin, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(cfg_rd(f, 12, 0x3c, 2), 0);
	f->level_calls = 0;
	pci_dev_set_intx(c, 1);
	assert_int_equal(f->level_calls, 0);
}

static void test_pciexbar(void **state)
{
	struct fix *f = *state;
	bool hit;

	/* Firmware-style: enabled, 256 MiB, at the configured base. */
	assert_int_equal(cfg_rd(f, 0, 0x60, 4), (uint32_t)ECAM | 1);
	assert_int_equal(cfg_rd(f, 0, 0x64, 4), 0);
	/* SeaBIOS's sequence: disable, upper dword, lower dword with enable. */
	cfg_wr(f, 0, 0x60, 0, 4);
	mmio_in(f, ECAM, 4, &hit);
	assert_false(hit);
	cfg_wr(f, 0, 0x64, 0, 4);
	cfg_wr(f, 0, 0x60, 0xb0000001, 4);
	assert_int_equal(mmio_in(f, 0xb0000000, 4, &hit), 0x29c08086);
	assert_true(hit);
	mmio_in(f, ECAM, 4, &hit);
	assert_false(hit);
	/* 64 MiB (length 10b): base bits 35:26, the window shrinks. */
	cfg_wr(f, 0, 0x60, 0xb4000005, 4);
	assert_int_equal(cfg_rd(f, 0, 0x60, 4), 0xb4000005);
	assert_int_equal(mmio_in(f, 0xb4000000, 4, NULL), 0x29c08086);
	mmio_in(f, 0xb4000000 + (64 << 20), 4, &hit);
	assert_false(hit);
	/* Reserved bits read 0; a 256 MiB window ignores base bits 27:26. */
	cfg_wr(f, 0, 0x60, 0xffffffff & ~6u, 4);
	assert_int_equal(cfg_rd(f, 0, 0x60, 4), 0xf0000001);
	cfg_wr(f, 0, 0x64, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, 0, 0x64, 4), 0xf);
	assert_int_equal(mmio_in(f, 0xff0000000ULL, 4, NULL), 0x29c08086);
	/* Length 11b is reserved: nothing decoded. */
	cfg_wr(f, 0, 0x60, 0xe0000007, 4);
	cfg_wr(f, 0, 0x64, 0, 4);
	mmio_in(f, ECAM, 4, &hit);
	assert_false(hit);
	/* Byte writes work too; back home. */
	cfg_wr(f, 0, 0x60, 0x01, 1);
	cfg_wr(f, 0, 0x63, 0xe0, 1);
	assert_int_equal(mmio_in(f, ECAM, 4, NULL), 0x29c08086);
	/* Other host bridge registers (PAM, SMRAM on the real chip) are storage. */
	cfg_wr(f, 0, 0x90, 0x33333330, 4);
	assert_int_equal(cfg_rd(f, 0, 0x90, 4), 0x33333330);
	/* An ECAM move onto a BAR stays unmapped, and maps once the BAR leaves. */
	{
		struct pci_dev *d = add_dev(f, 1, &net_info);

		assert_int_equal(pci_dev_set_bar(d, 0, 4096, 0, dev_io, f), 0);
		cfg_wr(f, 1, 0x10, 0xd0000000, 4);
		cfg_wr(f, 1, 0x04, 2, 2);
		cfg_wr(f, 0, 0x60, 0xd0000001, 4);
		assert_int_equal(mmio_in(f, 0xd0000000, 4, NULL), 0xa5a5a5a5);
		cfg_wr(f, 1, 0x10, 0xc0000000, 4);
		assert_int_equal(mmio_in(f, 0xd0000000, 4, NULL), 0x29c08086);
	}
}

/* A small deterministic generator for the hostile tests. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_hostile(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d;
	static const uint32_t lens[] = {1, 2, 3, 4, 8};

	setup_msix(f, &d);
	assert_int_equal(pci_dev_set_bar(d, 2, 64, PCI_BAR_IO, dev_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 3, 1 << 20, PCI_BAR_MEM64, dev_io, f), 0);
	add_dev(f, 20, &blk_info);

	/* Every offset and width of the device's 4 KiB over ECAM, misaligned included. */
	for (unsigned off = 0; off < 0x1000; off++) {
		for (unsigned i = 0; i < 5; i++) {
			uint64_t v = rng();

			if (off == 0x04 || off == 0x05)
				v &= ~0x3ULL; /* keep I/O/memory decoding off for the rest */
			mmio_in(f, ecam(0, 8, 0, off), lens[i], NULL);
			mmio_out(f, ecam(0, 8, 0, off), v, lens[i]);
			mmio_in(f, ecam(0, 20, 0, off), lens[i], NULL);
			mmio_out(f, ecam(0, 20, 0, off), ~0ULL, lens[i]);
		}
	}
	/* Past the window's end and just before it. */
	mmio_in(f, ECAM + (256 << 20) - 4, 8, NULL);
	mmio_out(f, ECAM + (256 << 20) - 2, ~0ULL, 4);
	/* Type 1 with random addresses (never touching slot 0's PCIEXBAR) and widths. */
	for (int n = 0; n < 20000; n++) {
		uint32_t a = (uint32_t)rng();
		uint16_t port = (uint16_t)(0xcf8 + rng() % 8);
		uint32_t len = lens[rng() % 4];

		if (((a >> 11) & 0x1f) == 0)
			a |= 1u << 11;
		pio_out(f, 0xcf8, a, 4);
		if (port + len <= 0xd00 && !(port == 0xcf8 && len == 4) && port != 0xcf9) {
			pio_out(f, port, (uint32_t)rng(), len);
			pio_in(f, port, len);
		}
	}
	/* Enable everything, then hammer the MSI-X table and the BAR with odd widths. */
	cfg_wr(f, 8, 0x14, 0xd0000000, 4);
	cfg_wr(f, 8, 0x04, 0x0007, 2);
	for (int n = 0; n < 20000; n++) {
		uint64_t off = rng() % 0x4008;

		mmio_out(f, 0xd0000000 + off, rng(), lens[rng() % 5]);
		mmio_in(f, 0xd0000000 + off, lens[rng() % 5], NULL);
		if (n % 64 == 0)
			cfg_wr(f, 8, find_cap(f, 8, PCI_CAP_ID_MSIX) + 2u, (uint32_t)rng(), 2);
		if (n % 16 == 0)
			pci_dev_msix_notify(d, (unsigned)(rng() % 80));
	}
	/* The identity survived, and the host still enumerates. */
	assert_int_equal(cfg_rd(f, 8, 0, 4), 0x10411af4);
	assert_int_equal(cfg_rd(f, 20, 0, 4), 0x10421af4);
	assert_int_equal(cfg_rd(f, 0, 0, 4), 0x29c08086);
	assert_int_equal(cfg_rd(f, 8, 0x08, 4), 0x02000001);
}

/*
 * vCPU threads and a device thread at once: config writes that move and toggle
 * the BAR, table writes through the BAR, notifications and INTx from the side.
 * Nothing may deadlock, and each access lands somewhere sane.
 */
struct race {
	struct fix *f;
	struct pci_dev *d;
	uint8_t cap;
	int id;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	struct fix *f = r->f;

	for (int n = 0; n < 3000; n++) {
		switch (r->id) {
		case 0: /* moves the MSI-X BAR between two places, toggling MEM */
			ecam_wr(f, 8, 0x14, n & 1 ? 0xd0000000 : 0xd8000000, 4);
			ecam_wr(f, 8, 0x04, n % 3 ? 0x0006 : 0x0004, 2);
			break;
		case 1: /* masks and unmasks vector 0 wherever the BAR is */
			mmio_out(f, (n & 2 ? 0xd0002000 : 0xd8002000) + 12, n & 1, 4);
			break;
		case 2: /* the device */
			pci_dev_msix_notify(r->d, (unsigned)n % 70);
			pci_dev_set_intx(r->d, n & 1);
			break;
		default: /* an OS reading config and flipping MSI-X */
			assert_int_equal(ecam_rd(f, 8, 0, 4), 0x10411af4);
			ecam_wr(f, 8, r->cap + 2u, n & 4 ? 0x8000 : 0xc000, 2);
			ecam_rd(f, 8, 0x06, 2);
			break;
		}
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d;
	uint8_t cap = setup_msix(f, &d);
	struct race r[4];
	pthread_t t[4];

	mmio_out(f, TBL(0, 0), 0xfee00000, 4);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){f, d, cap, i};
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(cfg_rd(f, 8, 0, 4), 0x10411af4);
}

/* ---- snapshots ---- */

/* Offsets in a function's saved state (docs/snapshot-format.md, "PCI function state"). */
#define PS_DEVICE_ID 7
#define PS_COMMAND   19
#define PS_BAR(i)    (25 + 20 * (i)) /* u32 flags, u64 size, u64 address */
#define PS_STORED    145
#define PS_INTX	     337
#define PS_NVEC	     338
#define PS_CTRL	     340
#define PS_TABLE     342
#define STATE_NVEC   70

/* The device the snapshot tests use, built the same way on every host. */
static struct pci_dev *state_dev(struct fix *f, int slot, const struct pci_dev_info *info,
				 uint64_t bar1, unsigned nvec, bool vendor_cap)
{
	static const uint8_t body[6] = {1, 2, 3, 4, 5, 6};
	struct pci_dev *d = add_dev(f, slot, info);

	if (vendor_cap)
		assert_int_equal(pci_dev_add_cap(d, PCI_CAP_ID_VNDR, body, sizeof(body), NULL), 0);
	assert_int_equal(pci_dev_set_bar(d, 0, 32, PCI_BAR_IO, other_io, f), 0);
	assert_int_equal(pci_dev_set_bar(d, 1, bar1, 0, dev_io, f), 0);
	assert_int_equal(
	    pci_dev_set_bar(d, 2, 1 << 20, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, dev_io, f), 0);
	assert_int_equal(pci_dev_init_msix(d, nvec, 1, 0x2000, 0x3000), 0);
	return d;
}

/* What a guest driver leaves behind: moved BARs, decoding on, MSI-X on with a pending vector. */
static void state_program(struct fix *f, struct pci_dev *d)
{
	uint8_t cap = find_cap(f, 8, PCI_CAP_ID_MSIX);

	cfg_wr(f, 8, 0x10, IOBASE + 0x100, 4);
	cfg_wr(f, 8, 0x14, 0xd0000000, 4);
	cfg_wr(f, 8, 0x18, 0xd8000000, 4); /* the 64-bit BAR below 4 GiB, in the 32-bit window */
	cfg_wr(f, 8, 0x1c, 0, 4);
	cfg_wr(f, 8, 0x0c, 0x10, 1);
	cfg_wr(f, 8, 0x3c, 0x0b, 1);
	cfg_wr(f, 8, 0x44, 0xdeadbeef, 4); /* the device stores this dword of its vendor cap */
	cfg_wr(f, 8, 0x04, 0x0007, 2);
	mmio_out(f, TBL(3, 0), 0xfee00000, 4);
	mmio_out(f, TBL(3, 8), 0x33, 4);
	mmio_out(f, TBL(3, 12), 0, 4);
	mmio_out(f, TBL(5, 0), 0xfee01000, 4);
	mmio_out(f, TBL(5, 8), 0x55, 4);
	cfg_wr(f, 8, cap + 3u, 0x80, 1);		/* MSI-X enable */
	assert_int_equal(pci_dev_msix_notify(d, 5), 0); /* masked: pending */
	pci_dev_set_intx(d, 1);				/* status bit 3; no line with MSI-X on */
}

static void cfg_dump(struct fix *f, unsigned slot, uint32_t out[64])
{
	for (unsigned i = 0; i < 64; i++)
		out[i] = cfg_rd(f, slot, 4 * i, 4);
}

static void state_save(struct pci_dev *d, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(pci_dev_save(d, b), 0);
}

/* parse + apply, as a restore does; returns parse's result (why: the reason). */
static int state_load(struct pci_dev *d, const void *data, size_t len, char *why, size_t n)
{
	struct pci_dev_loaded *s;
	struct state_reader r;
	int rc;

	state_reader_init(&r, data, len);
	rc = pci_dev_load_parse(d, &r, &s, why, n);
	if (rc)
		return rc;
	assert_int_equal(state_reader_finish(&r), 0);
	pci_dev_load_apply(d, s);
	return 0;
}

static void test_state_round_trip(void **state)
{
	struct fix *f = *state, *g;
	void *gs;
	struct pci_dev *d = state_dev(f, 8, &net_info, 0x4000, STATE_NVEC, true), *e;
	struct state_buf b, b2;
	uint32_t want[64], got[64];
	char why[256] = "";
	uint32_t gsi = pci_intx_gsi(8, 1);
	int sent;

	state_program(f, d);
	cfg_dump(f, 8, want);
	state_save(d, &b);
	assert_int_equal(b.len, PS_TABLE + 16 * STATE_NVEC + 8 * 2);

	setup(&gs);
	g = gs;
	e = state_dev(g, 8, &net_info, 0x4000, STATE_NVEC, true);
	if (state_load(e, b.data, b.len, why, sizeof(why)))
		fail_msg("refused: %s", why);
	/* Config space reads the same, and saving again gives the same bytes. */
	cfg_dump(g, 8, got);
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(cfg_rd(g, 8, 0x44, 4), 0xdeadbeef);
	state_save(e, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	/* The BARs decode where the guest had put them. */
	assert_int_equal(pio_in(g, IOBASE + 0x100, 1), 0x3c);
	assert_int_equal(mmio_in(g, 0xd0000004, 4, NULL), 0xa5a5a5a5);
	assert_int_equal(mmio_in(g, 0xd8000000, 4, NULL), 0xa5a5a5a5);
	/* MSI-X: the table, the pending bit, every vector told to the machine. */
	assert_int_equal(mmio_in(g, TBL(3, 8), 4, NULL), 0x33);
	assert_int_equal(mmio_in(g, TBL(3, 12), 4, NULL), 0);
	assert_int_equal(mmio_in(g, PBA(0), 8, NULL), 1u << 5);
	assert_true(g->sv_calls >= STATE_NVEC);
	sent = g->sent;
	assert_int_equal(pci_dev_msix_notify(e, 3), 0);
	assert_int_equal(g->sent, sent + 1);
	assert_int_equal(g->sent_data[sent], 0x33);
	/* Unmasking vector 5 sends the message that was pending when saved. */
	mmio_out(g, TBL(5, 12), 0, 4);
	assert_int_equal(g->sent, sent + 2);
	assert_int_equal(g->sent_data[sent + 1], 0x55);
	/* INTx: asserted when saved, so the line comes up once MSI-X is off. */
	assert_int_equal(g->level[gsi], 0);
	assert_int_equal(cfg_rd(g, 8, 0x06, 2) & 0x8, 0x8);
	cfg_wr(g, 8, find_cap(g, 8, PCI_CAP_ID_MSIX) + 3u, 0, 1);
	assert_int_equal(g->level[gsi], 1);
	state_buf_free(&b);
	state_buf_free(&b2);
	teardown(&gs);
	F = f;
}

/* A copy of b with len bytes of v (little-endian) at off. */
static uint8_t *patched(const struct state_buf *b, size_t off, uint64_t v, unsigned len)
{
	uint8_t *p = malloc(b->len);

	assert_non_null(p);
	memcpy(p, b->data, b->len);
	for (unsigned i = 0; i < len; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
	return p;
}

/* Each refusal leaves e as it was: nothing decoded, command 0. */
static void expect_refused(struct fix *g, struct pci_dev *e, const void *data, size_t len,
			   const char *reason)
{
	char why[256] = "";
	int mmio = g->bus.space[BUS_MMIO].nr, pio = g->bus.space[BUS_PIO].nr;

	if (state_load(e, data, len, why, sizeof(why)) != -EINVAL)
		fail_msg("accepted, expected a refusal saying '%s' (%zu bytes)", reason, len);
	if (!strstr(why, reason))
		fail_msg("reason '%s' does not say '%s'", why, reason);
	assert_int_equal(cfg_rd(g, 8, 0x04, 2), 0);
	assert_int_equal(g->bus.space[BUS_MMIO].nr, mmio);
	assert_int_equal(g->bus.space[BUS_PIO].nr, pio);
}

static void test_state_refused(void **state)
{
	struct fix *f = *state, *g;
	void *gs;
	struct pci_dev *d = state_dev(f, 8, &net_info, 0x4000, STATE_NVEC, true), *e;
	struct state_buf b;
	uint8_t *p;
	uint8_t cap = find_cap(f, 8, PCI_CAP_ID_MSIX);

	state_program(f, d);
	state_save(d, &b);
	setup(&gs);
	g = gs;
	e = state_dev(g, 8, &net_info, 0x4000, STATE_NVEC, true);
	/* Cut anywhere: refused. */
	for (size_t n = 0; n < b.len; n += 7)
		expect_refused(g, e, b.data, n, "");
	/* Another device in the slot. */
	p = patched(&b, PS_DEVICE_ID, 0x1042, 2);
	expect_refused(g, e, p, b.len, "slot 8 holds 1af4:1042");
	free(p);
	/* BARs: misaligned, a 32-bit BAR above 4 GiB (outside the windows: test_state_bars_anywhere). */
	p = patched(&b, PS_BAR(1) + 12, 0xd0000100, 8);
	expect_refused(g, e, p, b.len, "cannot hold");
	free(p);
	p = patched(&b, PS_BAR(1) + 12, 0x1d0000000ULL, 8);
	expect_refused(g, e, p, b.len, "cannot hold");
	free(p);
	/* A BAR of another size. */
	p = patched(&b, PS_BAR(1) + 4, 0x8000, 8);
	expect_refused(g, e, p, b.len, "BAR1 is 32768 bytes");
	free(p);
	/* Bits no guest can set: command, MSI-X control, a table entry's reserved bits. */
	p = patched(&b, PS_COMMAND, 0x0008, 2);
	expect_refused(g, e, p, b.len, "command 0x0008");
	free(p);
	p = patched(&b, PS_CTRL, 0x8001, 2);
	expect_refused(g, e, p, b.len, "MSI-X control");
	free(p);
	p = patched(&b, PS_TABLE + 16 * 3 + 12, 0x2, 4);
	expect_refused(g, e, p, b.len, "vector 3 has reserved bits");
	free(p);
	/* A pending bit on an unmasked vector, or past the table. */
	p = patched(&b, PS_TABLE + 16 * STATE_NVEC, 1u << 3 | 1u << 5, 8);
	expect_refused(g, e, p, b.len, "vector 3 is pending but unmasked");
	free(p);
	p = patched(&b, PS_TABLE + 16 * STATE_NVEC + 8, 1ULL << 63, 8);
	expect_refused(g, e, p, b.len, "pending bit 127");
	free(p);
	/* The capability list is the device's: the vendor capability's ID changed. */
	p = patched(&b, PS_STORED, 0x05, 1);
	expect_refused(g, e, p, b.len, "capability at 0x40");
	free(p);
	p = patched(&b, PS_STORED + cap - 0x40 + 4, 0x1000, 2); /* the MSI-X table's offset */
	expect_refused(g, e, p, b.len, "capability at 0x");
	free(p);
	p = patched(&b, PS_INTX, 2, 1);
	expect_refused(g, e, p, b.len, "INTx");
	free(p);
	p = patched(&b, 0, 2, 4);
	expect_refused(g, e, p, b.len, "version");
	free(p);
	teardown(&gs);

	/* Machines that differ from the saved one: identity, slot, table size, capabilities. */
	{
		struct {
			int slot;
			const struct pci_dev_info *info;
			uint64_t bar1;
			unsigned nvec;
			bool vcap;
			const char *reason;
		} other[] = {
		    {8, &blk_info, 0x4000, STATE_NVEC, true, "this machine has 1af4:1042"},
		    {9, &net_info, 0x4000, STATE_NVEC, true, "in slot 9"},
		    {8, &net_info, 0x8000, STATE_NVEC, true, "BAR1 is 16384 bytes"},
		    {8, &net_info, 0x4000, 16, true, "70 MSI-X vectors in the snapshot, 16"},
		    {8, &net_info, 0x4000, STATE_NVEC, false, "capability at 0x40"},
		};

		for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
			char why[256] = "";

			setup(&gs);
			g = gs;
			e = state_dev(g, other[i].slot, other[i].info, other[i].bar1, other[i].nvec,
				      other[i].vcap);
			assert_int_equal(state_load(e, b.data, b.len, why, sizeof(why)), -EINVAL);
			if (!strstr(why, other[i].reason))
				fail_msg("reason '%s' does not say '%s'", why, other[i].reason);
			teardown(&gs);
		}
	}
	state_buf_free(&b);
	F = f;
}

/*
 * A running guest may put a BAR anywhere it decodes, inside the host's windows
 * or not (pci_bar_write); a snapshot of it restores with the BAR where it was,
 * not refused: outside every window (an unused hole below 4 GiB), a 64-bit BAR
 * past its window, an I/O BAR below the I/O window.
 */
static void test_state_bars_anywhere(void **state)
{
	struct fix *f = *state;
	struct pci_dev *d = state_dev(f, 8, &net_info, 0x4000, STATE_NVEC, true);
	static const struct {
		size_t off;
		uint64_t addr;
		unsigned reg;
	} where[] = {
	    {PS_BAR(1) + 12, 0xf0000000, 0x14},
	    {PS_BAR(2) + 12, 0xb00000000ULL, 0x18},
	    {PS_BAR(0) + 12, 0x100, 0x10},
	};
	struct state_buf b;

	state_program(f, d);
	state_save(d, &b);
	for (unsigned i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		uint8_t *p = patched(&b, where[i].off, where[i].addr, 8);
		char why[256] = "";
		struct pci_dev *e;
		struct fix *g;
		void *gs;

		setup(&gs);
		g = gs;
		e = state_dev(g, 8, &net_info, 0x4000, STATE_NVEC, true);
		if (state_load(e, p, b.len, why, sizeof(why)))
			fail_msg("BAR at 0x%llx refused: %s", (unsigned long long)where[i].addr, why);
		assert_int_equal(cfg_rd(g, 8, where[i].reg, 4) & ~0xfu, (uint32_t)where[i].addr);
		if (where[i].addr >> 32)
			assert_int_equal(cfg_rd(g, 8, where[i].reg + 4, 4), where[i].addr >> 32);
		free(p);
		teardown(&gs);
	}
	state_buf_free(&b);
	F = f;
}

static void test_host_state(void **state)
{
	struct fix *f = *state, *g;
	void *gs;
	struct state_buf b;
	struct state_reader r;
	char why[256] = "";
	bool hit;
	uint8_t *p;

	/* ECAM moved and shrunk, host bridge storage written, a latch left in 0xCF8. */
	cfg_wr(f, 0, 0x60, 0xb4000005, 4);
	cfg_wr(f, 0, 0x90, 0x33333330, 4);
	pio_out(f, 0xcf8, 0x80004010, 4);
	state_buf_init(&b);
	assert_int_equal(pci_host_save(f->h, &b), 0);

	setup(&gs);
	g = gs;
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(pci_host_load(g->h, &r, why, sizeof(why)), 0);
	assert_int_equal(pio_in(g, 0xcf8, 4), 0x80004010);
	assert_int_equal(mmio_in(g, 0xb4000000, 4, &hit), 0x29c08086);
	assert_true(hit);
	mmio_in(g, ECAM, 4, &hit);
	assert_false(hit);
	assert_int_equal(cfg_rd(g, 0, 0x90, 4), 0x33333330); /* 0xCF8 works anywhere */
	teardown(&gs);

	/* Reserved PCIEXBAR bits, a latch with bits 1:0, trailing bytes: refused, nothing moves. */
	for (int i = 0; i < 3; i++) {
		const char *reason[] = {"PCIEXBAR", "CONFIG_ADDRESS", "too many"};
		size_t len = b.len + (i == 2);

		p = calloc(1, len);
		assert_non_null(p);
		memcpy(p, b.data, b.len);
		if (i == 0)
			p[8] |= 0x08;
		else if (i == 1)
			p[4] |= 0x01;
		setup(&gs);
		g = gs;
		state_reader_init(&r, p, len);
		assert_int_equal(pci_host_load(g->h, &r, why, sizeof(why)), -EINVAL);
		if (!strstr(why, reason[i]))
			fail_msg("reason '%s' does not say '%s'", why, reason[i]);
		assert_int_equal(mmio_in(g, ECAM, 4, &hit), 0x29c08086);
		assert_true(hit);
		teardown(&gs);
		free(p);
	}
	state_buf_free(&b);
	F = f;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enumerate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_mapping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar64, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_overlap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pciexbar, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_bars_anywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_state, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
