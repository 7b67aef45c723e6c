/* SPDX-License-Identifier: MIT */
/*
 * Exit-path benchmark: from ring 3, does n writes that each leave the guest
 * and times them with the TSC, so the harness gets round trips per second
 * independent of start-up. Command line (all optional):
 *   mode=pio|mmio|ioeventfd|all   (default all)
 *   port=0xe0          an unhandled port for mode=pio (opened in the I/O bitmap)
 *   addr=0xd0000000    an unbacked address in the PCI hole for mode=mmio
 *   n=20000            writes per mode
 * mode=ioeventfd looks on PCI bus 0 for a legacy (transitional) virtio-pci
 * device, sets up its queue 0 and writes its queue-notify register, which
 * QEMU serves with an ioeventfd once the driver is ready (virtio 1.x, 4.1.4.8
 * legacy interface). Without such a device it says so and skips the mode.
 * Prints "exitloop: MODE begin" before and "exitloop: MODE N writes in T us
 * (C cycles, K tsc khz)" after each loop: the harness times the loop between
 * the two lines on the host, as the kit's TSC calibration (10 ms against the
 * PIT) is only a rough guide on some hosts.
 * Exit 0, or 6 on a bad argument.
 */
#include "kit.h"

#define EXIT_BAD_ARG 6

#define PCI_ADDR           0xcf8
#define PCI_DATA           0xcfc
#define VIRTIO_VENDOR      0x1af4
#define VIRTIO_LEGACY_MIN  0x1000 /* transitional device IDs 0x1000-0x103f */
#define VIRTIO_LEGACY_MAX  0x103f
/* Legacy virtio-pci registers in BAR0 (I/O), without MSI-X. */
#define VPCI_GUEST_FEATURES 0x04
#define VPCI_QUEUE_PFN      0x08
#define VPCI_QUEUE_NUM      0x0c
#define VPCI_QUEUE_SEL      0x0e
#define VPCI_QUEUE_NOTIFY   0x10
#define VPCI_STATUS         0x12
#define VSTAT_ACK           1
#define VSTAT_DRIVER        2
#define VSTAT_DRIVER_OK     4

static uint32_t pci_read32(unsigned int dev, unsigned int reg)
{
	outl(PCI_ADDR, 0x80000000u | dev << 11 | (reg & 0xfc));
	return inl(PCI_DATA);
}

static void pci_write32(unsigned int dev, unsigned int reg, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | dev << 11 | (reg & 0xfc));
	outl(PCI_DATA, v);
}

static void report(const char *mode, uint64_t n, uint64_t cycles)
{
	uint64_t khz = kit_tsc_khz();

	printf("exitloop: %s %lu writes in %lu us (%lu cycles, %lu tsc khz)\n", mode, n,
	       cycles * 1000 / khz, cycles, khz);
}

static void loop_pio(uint16_t port, uint64_t n)
{
	uint64_t t0;

	kit_io_allow(port, 1);
	printf("exitloop: pio begin\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		outb(port, (uint8_t)i);
	report("pio", n, rdtsc() - t0);
}

static void loop_mmio(uint64_t addr, uint64_t n)
{
	uint64_t t0;

	printf("exitloop: mmio begin\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		mmio_write32(addr, (uint32_t)i);
	report("mmio", n, rdtsc() - t0);
}

/* Returns the I/O base of a ready legacy virtio-pci device's BAR0, or 0. */
static uint16_t virtio_setup(const struct boot_info *bi)
{
	uint32_t id, bar;
	uint16_t io, num;
	unsigned int dev;
	uint64_t ring;

	kit_io_allow(PCI_ADDR, 8);
	for (dev = 0; dev < 32; dev++) {
		id = pci_read32(dev, 0);
		if ((id & 0xffff) == VIRTIO_VENDOR && id >> 16 >= VIRTIO_LEGACY_MIN &&
		    id >> 16 <= VIRTIO_LEGACY_MAX)
			break;
	}
	if (dev == 32)
		return 0;
	bar = pci_read32(dev, 0x10);
	if (!(bar & 1) || !(bar & ~3u)) /* not an I/O BAR, or firmware left it unassigned */
		return 0;
	io = (uint16_t)(bar & ~3u);
	pci_write32(dev, 0x04, pci_read32(dev, 0x04) | 0x5); /* I/O decode, bus master */
	kit_io_allow(io, 0x20);
	outb(io + VPCI_STATUS, 0); /* reset */
	outb(io + VPCI_STATUS, VSTAT_ACK);
	outb(io + VPCI_STATUS, VSTAT_ACK | VSTAT_DRIVER);
	outl(io + VPCI_GUEST_FEATURES, 0);
	outw(io + VPCI_QUEUE_SEL, 0);
	num = inw(io + VPCI_QUEUE_NUM);
	if (!num || num > 1024)
		return 0;
	/* An empty split ring (legacy layout, 4 KiB aligned) past the image: the
	 * device finds nothing to do on each notify. */
	ring = (bi->image_end + 0xffff) & ~0xffffull;
	memset((void *)(uintptr_t)ring, 0, 3 * 4096 + 16 * (size_t)num * 2);
	outl(io + VPCI_QUEUE_PFN, (uint32_t)(ring >> 12));
	outb(io + VPCI_STATUS, VSTAT_ACK | VSTAT_DRIVER | VSTAT_DRIVER_OK);
	printf("exitloop: virtio-pci device %04x at slot %u, io 0x%x, queue 0 size %u\n",
	       id >> 16, dev, io, num);
	return io;
}

static void loop_ioeventfd(const struct boot_info *bi, uint64_t n)
{
	uint16_t io = virtio_setup(bi);
	uint64_t t0;

	if (!io) {
		printf("exitloop: ioeventfd n/a: no legacy virtio-pci device\n");
		return;
	}
	printf("exitloop: ioeventfd begin\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		outw(io + VPCI_QUEUE_NOTIFY, 0);
	report("ioeventfd", n, rdtsc() - t0);
}

static bool mode_is(const char *m, size_t len, const char *want)
{
	return len == strlen(want) && !strncmp(m, want, len);
}

void test_main(const struct boot_info *bi)
{
	uint64_t port = 0xe0, addr = 0xd0000000, n = 20000;
	size_t len = 3;
	const char *mode = kit_arg(bi, "mode", &len);
	bool all;

	if ((kit_arg(bi, "port", NULL) && (!kit_arg_u64(bi, "port", &port) || port > 0xffff)) ||
	    (kit_arg(bi, "addr", NULL) && !kit_arg_u64(bi, "addr", &addr)) ||
	    (kit_arg(bi, "n", NULL) && !kit_arg_u64(bi, "n", &n))) {
		printf("exitloop: FAIL bad argument\n");
		exit(EXIT_BAD_ARG);
	}
	if (!mode)
		mode = "all";
	all = mode_is(mode, len, "all");
	if (!all && !mode_is(mode, len, "pio") && !mode_is(mode, len, "mmio") &&
	    !mode_is(mode, len, "ioeventfd")) {
		printf("exitloop: FAIL bad mode\n");
		exit(EXIT_BAD_ARG);
	}
	kit_tsc_khz(); /* calibrate before timing anything */
	if (all || mode_is(mode, len, "pio"))
		loop_pio((uint16_t)port, n);
	if (all || mode_is(mode, len, "mmio"))
		loop_mmio(addr, n);
	if (all || mode_is(mode, len, "ioeventfd"))
		loop_ioeventfd(bi, n);
	exit(0);
}
