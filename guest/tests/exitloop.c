/* SPDX-License-Identifier: MIT */
/*
 * Exit-path benchmark: from ring 3, does n writes that each leave the guest
 * and times them with the TSC, so the harness gets round trips per second
 * independent of start-up; and measures interrupt delivery latency. Command
 * line (all optional):
 *   mode=pio|mmio|ioeventfd|notify|irq|all   (default all)
 *   port=0xe0          an unhandled port for mode=pio (opened in the I/O bitmap)
 *   addr=0xd0000000    an unbacked address in the PCI hole for mode=mmio
 *   n=20000            writes per mode pio and mmio; mode=irq takes n / 10
 *                      interrupts
 *   nfast=5n           writes for mode=ioeventfd and notify, which cost a
 *                      fraction of an exit to user space, so that their loop
 *                      lasts long enough to time on the host too
 *
 * mode=ioeventfd looks on PCI bus 0 for a legacy (transitional) virtio-pci
 * device, sets up its queue 0 and writes its queue-notify register, a port,
 * which QEMU serves with an ioeventfd once the driver is ready (virtio 1.2,
 * 4.1.4.8 legacy interface). kvmm's devices are modern only.
 *
 * mode=notify does the same through a modern virtio-rng device (1af4:1044,
 * virtio 1.2 4.1.4.4): queue 0 set up empty, DRIVER_OK, then n 16-bit writes
 * of the queue index to its notification address in a memory BAR. Both kvmm
 * and QEMU bind that address to an ioeventfd (KVM_IOEVENTFD), so the write
 * completes in the kernel and the device thread wakes to find nothing to do.
 *
 * mode=irq: the same device, queue 0 with MSI-X vector 0 -> IDT vector 0x50
 * on this CPU. n / 10 times: publish one 8-byte device-writable buffer, read
 * the TSC, notify, and spin in ring 3 until the interrupt has been taken; the
 * latency is the TSC the ring-0 stub recorded on entry (kit_irq_tsc) minus
 * the TSC before the notify. It spans the notify exit, the device thread's
 * wake-up and request, the MSI (KVM_SIGNAL_MSI in both monitors for this
 * device) and its injection into the running vCPU. The first 16 are warm-up.
 * Prints "exitloop: irq N interrupts median M ns min A p90 B max C (K tsc khz)".
 *
 * Without such a device a mode says "MODE n/a: ..." and is skipped.
 * Prints "exitloop: MODE begin" before and "exitloop: MODE N writes in T us
 * (C cycles, K tsc khz)" after each write loop: the harness times the loop
 * between the two lines on the host, as the kit's TSC calibration (10 ms
 * against the PIT) is only a rough guide on some hosts.
 * Exit 0, or 6 on a bad argument, 7 when a virtio device misbehaves.
 */
#include "kit.h"

#define EXIT_BAD_ARG 6
#define EXIT_DEVICE  7

#define VIRTIO_ID_RNG 4
#define VEC_QUEUE     0x50
#define IRQ_WARMUP    16
#define IRQ_MAX       4096
#define IRQ_TIMEOUT_US 2000000

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

static struct kit_virtio rng;
static struct kit_virtq rngq;
static uint8_t rng_ring[KIT_VIRTQ_MEM(16)] __attribute__((aligned(4096)));
static uint8_t rng_buf[8];
static uint64_t irq_lat[IRQ_MAX];

static void device_fail(const char *what)
{
	printf("exitloop: FAIL virtio-rng: %s (status 0x%x)\n", what, kit_virtio_status(&rng));
	exit(EXIT_DEVICE);
}

/* Brings up the modern virtio-rng device once; false if there is none. */
static bool rng_setup(void)
{
	static int state; /* 0 not tried, 1 ready, -1 absent */

	if (state)
		return state > 0;
	state = -1;
	if (!kit_virtio_find(&rng, VIRTIO_ID_RNG))
		return false;
	if (!kit_virtio_init(&rng, 0, 0))
		device_fail("feature negotiation");
	lapic_enable();
	if (!kit_virtio_msix(&rng, 0, VEC_QUEUE, (uint8_t)lapic_id()))
		device_fail("no MSI-X");
	if (!kit_virtq_setup(&rng, &rngq, 0, 16, rng_ring, 0))
		device_fail("queue 0 not enabled");
	kit_virtio_set_status(&rng, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
					 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	printf("exitloop: virtio-rng at slot %d, notify at 0x%lx, %u MSI-X vectors\n", rng.slot,
	       (uint64_t)(uintptr_t)rngq.notify, rng.msix_nvec);
	state = 1;
	return true;
}

static void loop_notify(uint64_t n)
{
	uint64_t t0;

	if (!rng_setup()) {
		printf("exitloop: notify n/a: no modern virtio-rng device\n");
		return;
	}
	printf("exitloop: notify begin\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < n; i++)
		kit_virtq_kick(&rngq); /* the queue is empty: nothing to do each time */
	report("notify", n, rdtsc() - t0);
}

static void sort_u64(uint64_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) { /* insertion sort: n is at most IRQ_MAX */
		uint64_t v = a[i];
		size_t j = i;

		for (; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

static uint64_t cycles_ns(uint64_t cycles)
{
	return cycles * 1000000 / kit_tsc_khz();
}

static void loop_irq(uint64_t n)
{
	struct kit_virtq_buf b = {(uint64_t)(uintptr_t)rng_buf, sizeof(rng_buf), true};
	uint64_t count = n / 10, total = count + IRQ_WARMUP, seen, t0, deadline;
	uint32_t id, len;

	if (count > IRQ_MAX)
		count = IRQ_MAX, total = count + IRQ_WARMUP;
	if (count < 1)
		count = 1, total = 1 + IRQ_WARMUP;
	if (!rng_setup()) {
		printf("exitloop: irq n/a: no modern virtio-rng device\n");
		return;
	}
	printf("exitloop: irq begin\n");
	for (uint64_t i = 0; i < total; i++) {
		seen = kit_irq_count[VEC_QUEUE];
		kit_virtq_add(&rngq, &b, 1);
		t0 = rdtsc();
		kit_virtq_kick(&rngq);
		deadline = kit_deadline_us(IRQ_TIMEOUT_US);
		while (kit_irq_count[VEC_QUEUE] == seen)
			if (kit_expired(deadline))
				device_fail("no interrupt within 2 s of a request");
		if (i >= IRQ_WARMUP)
			irq_lat[i - IRQ_WARMUP] = kit_irq_tsc[VEC_QUEUE] - t0;
		if (!kit_virtq_wait(&rngq, IRQ_TIMEOUT_US, &id, &len) || len == 0)
			device_fail("interrupt without a used buffer");
	}
	sort_u64(irq_lat, count);
	printf("exitloop: irq %lu interrupts median %lu ns min %lu p90 %lu max %lu (%lu tsc khz)\n",
	       count, cycles_ns(irq_lat[count / 2]), cycles_ns(irq_lat[0]),
	       cycles_ns(irq_lat[count * 9 / 10]), cycles_ns(irq_lat[count - 1]), kit_tsc_khz());
}

static bool mode_is(const char *m, size_t len, const char *want)
{
	return len == strlen(want) && !strncmp(m, want, len);
}

void test_main(const struct boot_info *bi)
{
	uint64_t port = 0xe0, addr = 0xd0000000, n = 20000, nfast = 0;
	size_t len = 3;
	const char *mode = kit_arg(bi, "mode", &len);
	bool all;

	if ((kit_arg(bi, "port", NULL) && (!kit_arg_u64(bi, "port", &port) || port > 0xffff)) ||
	    (kit_arg(bi, "addr", NULL) && !kit_arg_u64(bi, "addr", &addr)) ||
	    (kit_arg(bi, "n", NULL) && !kit_arg_u64(bi, "n", &n)) ||
	    (kit_arg(bi, "nfast", NULL) && !kit_arg_u64(bi, "nfast", &nfast))) {
		printf("exitloop: FAIL bad argument\n");
		exit(EXIT_BAD_ARG);
	}
	if (!kit_arg(bi, "nfast", NULL))
		nfast = 5 * n;
	if (!mode)
		mode = "all";
	all = mode_is(mode, len, "all");
	if (!all && !mode_is(mode, len, "pio") && !mode_is(mode, len, "mmio") &&
	    !mode_is(mode, len, "ioeventfd") && !mode_is(mode, len, "notify") &&
	    !mode_is(mode, len, "irq")) {
		printf("exitloop: FAIL bad mode\n");
		exit(EXIT_BAD_ARG);
	}
	kit_tsc_khz(); /* calibrate before timing anything */
	if (all || mode_is(mode, len, "pio"))
		loop_pio((uint16_t)port, n);
	if (all || mode_is(mode, len, "mmio"))
		loop_mmio(addr, n);
	if (all || mode_is(mode, len, "ioeventfd"))
		loop_ioeventfd(bi, nfast);
	if (all || mode_is(mode, len, "notify"))
		loop_notify(nfast);
	if (all || mode_is(mode, len, "irq"))
		loop_irq(n);
	exit(0);
}
