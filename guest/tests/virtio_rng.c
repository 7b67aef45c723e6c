/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng over PCI (kvmm --device virtio-rng; virtio 1.2, 5.4 and 4.1),
 * driven from ring 3 by the kit's virtio driver. Command line (all optional):
 *   mode=read|stream|loop|badring|nowrite|all   (default read)
 *     read     reads 64 KiB of entropy in 16 requests (batches of 4, every
 *              other request split over two descriptors), checks each used
 *              length and that the bytes look random
 *     stream   rounds=N (default 20) rounds of a batch of 4 requests, each
 *              checked and waited for with its completion interrupt (MSI-X
 *              or INTx), printing "virtio-rng: round K ok, I interrupts",
 *              delay_us=D (default 100000) apart; at the end "virtio-rng:
 *              stream N rounds ok, I interrupts". Made to be snapshotted,
 *              killed and restored mid-run (timeouts are long: the TSC jumps
 *              across a restore)
 *     loop     posts a descriptor chain that loops; nowrite a request with no
 *              device-writable buffer; badring enables a queue whose rings
 *              are not in RAM. Each expects DEVICE_NEEDS_RESET (status bit
 *              0x40; with MSI-X also a configuration interrupt), then resets
 *              the device and reads again to show it recovered
 *     all      read, then the three hostile modes
 *   irq=msix|intx|none  (default msix) how completions interrupt: MSI-X
 *              vectors 0x50 (queue) and 0x51 (configuration) to the last CPU,
 *              or INTx through the I/O APIC (vector 0x52, ISR read after each
 *              request), or not at all (polling only)
 *   relocate=1 moves the virtio BAR to 0xc8000000 before using it (kvmm must
 *              move its ioeventfds along); relocate=ADDR (below 4 GiB, 16 KiB
 *              aligned) to ADDR instead, also outside the host's PCI windows
 *   cfgwin=1   notifies through the PCI configuration access capability
 *              instead of the notify address (kvmm handles it on the vCPU)
 *   reset=1    resets the machine through port 0xcf9 at the end instead of
 *              exiting (kvmm reboots: reboot tests)
 * With 2+ CPUs, CPU 1 reads the device's config space and common
 * configuration in a loop meanwhile. Prints "virtio-rng: N bytes ok, M
 * interrupts" and per hostile mode "virtio-rng: MODE: needs reset ok,
 * recovered". Exit 0; 3 with "virtio-rng: FAIL ..."; 6 on a bad argument.
 */
#include "kit.h"

#define EXIT_FAIL    3
#define EXIT_BAD_ARG 6

#define VIRTIO_ID_RNG	  4
#define VEC_QUEUE	  0x50
#define VEC_CONFIG	  0x51
#define VEC_INTX	  0x52
#define QSIZE		  64
#define REQS		  16
#define REQ_BYTES	  4096
#define TOTAL		  (REQS * REQ_BYTES)
#define BATCH		  4
#define TIMEOUT_US	  2000000
#define RELOCATE_TO	  0xc8000000u
#define STREAM_TIMEOUT_US 20000000

/* Common configuration offsets not in kit.h (virtio 1.2, 4.1.4.3). */
#define CC_MSIX	   0x10
#define CC_NUMQ	   0x12
#define CC_QSELECT 0x16
#define CC_QMSIX   0x1a
#define CC_QENABLE 0x1c
#define CC_QDESC   0x20
#define CC_QDRIVER 0x28
#define CC_QDEVICE 0x30

enum irq_mode { IRQ_MSIX, IRQ_INTX, IRQ_NONE };

static uint8_t ring_mem[KIT_VIRTQ_MEM(QSIZE)] __attribute__((aligned(4096)));
static uint8_t buf[TOTAL] __attribute__((aligned(4096)));
static struct kit_virtio dev;
static struct kit_virtq vq;
static enum irq_mode irq_mode = IRQ_MSIX;
static bool use_cfgwin;
static uint8_t msix_dest;
static volatile bool ap_ready, ap_stop, ap_failed;
static volatile uint64_t ap_reads;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("virtio-rng: FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	ap_stop = true;
	exit(EXIT_FAIL);
}

static bool arg_is(const struct boot_info *bi, const char *key, const char *val)
{
	size_t len;
	const char *s = kit_arg(bi, key, &len);

	return s && len == strlen(val) && !strncmp(s, val, len);
}

/* Through the PCI configuration access capability (4.1.4.9): BAR 4 bytes by config cycles. */
static void cfgwin_setup(uint32_t bar_off, uint32_t len)
{
	unsigned int slot = (unsigned int)dev.slot;
	uint8_t cap = dev.cap_pcicfg;

	kit_pci_write8(slot, cap + 4, kit_pci_read8(slot, dev.cap_notify + 4)); /* the BAR */
	kit_pci_write32(slot, cap + 8, bar_off);
	kit_pci_write32(slot, cap + 12, len);
}

static void kick(void)
{
	uint32_t noff;

	if (!use_cfgwin) {
		kit_virtq_kick(&vq);
		return;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	noff = (uint32_t)((uintptr_t)vq.notify - (uintptr_t)dev.notify);
	cfgwin_setup(kit_pci_read32((unsigned int)dev.slot, dev.cap_notify + 8) + noff, 2);
	kit_pci_write16((unsigned int)dev.slot, dev.cap_pcicfg + 16, vq.index);
}

static uint64_t irq_count(void)
{
	switch (irq_mode) {
	case IRQ_MSIX:
		return kit_irq_count[VEC_QUEUE];
	case IRQ_INTX:
		return kit_irq_count[VEC_INTX];
	default:
		return 0;
	}
}

/* Reset, features, interrupts, queue 0, DRIVER_OK. */
static void device_start(void)
{
	uint16_t qvec = VIRTIO_NO_VECTOR;

	if (!kit_virtio_init(&dev, 0, 0))
		fail("feature negotiation (status 0x%x)", kit_virtio_status(&dev));
	if (irq_mode == IRQ_MSIX) {
		if (!kit_virtio_msix(&dev, 0, VEC_QUEUE, msix_dest) ||
		    !kit_virtio_msix(&dev, 1, VEC_CONFIG, msix_dest))
			fail("no MSI-X (%u vectors)", dev.msix_nvec);
		/* Vectors past the table are refused: they read back as NO_VECTOR. */
		kit_virtio_write16(&dev, CC_MSIX, dev.msix_nvec);
		if (kit_virtio_read16(&dev, CC_MSIX) != VIRTIO_NO_VECTOR)
			fail("config_msix_vector %u accepted with %u vectors", dev.msix_nvec,
			     dev.msix_nvec);
		kit_virtio_write16(&dev, CC_MSIX, 1);
		if (kit_virtio_read16(&dev, CC_MSIX) != 1)
			fail("config_msix_vector 1 not kept");
		qvec = 0;
	}
	if (!kit_virtq_setup(&dev, &vq, 0, QSIZE, ring_mem, qvec))
		fail("queue 0 not enabled (status 0x%x)", kit_virtio_status(&dev));
	if (kit_virtio_read16(&dev, CC_QMSIX) != qvec)
		fail("queue_msix_vector reads 0x%x, not 0x%x", kit_virtio_read16(&dev, CC_QMSIX),
		     qvec);
	kit_virtio_set_status(&dev, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
					VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	if (kit_virtio_status(&dev) != (VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
					VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))
		fail("status 0x%x after DRIVER_OK", kit_virtio_status(&dev));
}

/* Waits for the completion of head, which should have filled want bytes. */
static void complete(uint16_t head, uint32_t want)
{
	uint32_t id, len;

	if (!kit_virtq_wait(&vq, TIMEOUT_US, &id, &len))
		fail("request %u not completed in %u ms (status 0x%x)", head, TIMEOUT_US / 1000,
		     kit_virtio_status(&dev));
	if (id != head || len != want)
		fail("used element id %u len %u, expected id %u len %u", id, len, head, want);
}

/* After a batch: with INTx, ISR says why and reading it lowers the line (4.1.4.5). */
static void check_isr(void)
{
	uint8_t isr;

	if (irq_mode != IRQ_INTX)
		return;
	isr = *dev.isr;
	if (!(isr & 1))
		fail("ISR 0x%x has no queue interrupt after completions", isr);
	if (*dev.isr)
		fail("ISR was not cleared by reading it");
}

static void read_entropy(void)
{
	unsigned int zeros = 0, distinct = 0;
	bool seen[256] = {false};

	memset(buf, 0, sizeof(buf));
	for (unsigned int r = 0; r < REQS; r += BATCH) {
		uint16_t heads[BATCH];

		for (unsigned int i = 0; i < BATCH; i++) {
			uint64_t a = (uint64_t)(uintptr_t)buf + (uint64_t)(r + i) * REQ_BYTES;
			struct kit_virtq_buf b[2] = {{a, REQ_BYTES, true}, {0, 0, true}};

			if ((r + i) % 2) { /* a chain of two writable buffers */
				b[0].len = 1000;
				b[1] = (struct kit_virtq_buf){a + 1000, REQ_BYTES - 1000, true};
			}
			heads[i] = kit_virtq_add(&vq, b, (r + i) % 2 ? 2 : 1);
		}
		kick();
		for (unsigned int i = 0; i < BATCH; i++)
			complete(heads[i], REQ_BYTES);
		check_isr();
	}
	for (unsigned int i = 0; i < TOTAL; i++) {
		zeros += !buf[i];
		if (!seen[buf[i]]) {
			seen[buf[i]] = true;
			distinct++;
		}
	}
	/* Random bytes: about 256 zeros, every value present; no 256-byte run left at 0. */
	for (unsigned int i = 0; i < TOTAL; i += 256) {
		bool any = false;

		for (unsigned int j = 0; j < 256; j++)
			any |= buf[i + j] != 0;
		if (!any)
			fail("bytes 0x%x-0x%x were not written", i, i + 255);
	}
	if (zeros > TOTAL / 64 || distinct < 250)
		fail("entropy looks wrong: %u zero bytes, %u distinct values", zeros, distinct);
}

/* Waits until the device reports NEEDS_RESET; then a reset and a good request. */
static void expect_needs_reset(const char *mode, uint64_t cfg_irqs_before, bool cfg_irq)
{
	uint64_t deadline = kit_deadline_us(TIMEOUT_US);
	struct kit_virtq_buf b = {(uint64_t)(uintptr_t)buf, REQ_BYTES, true};
	uint32_t id, len;
	uint16_t head;

	while (!(kit_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET))
		if (kit_expired(deadline))
			fail("%s: no DEVICE_NEEDS_RESET (status 0x%x)", mode,
			     kit_virtio_status(&dev));
	/* 2.1.2: with DRIVER_OK set the device also sends a configuration change. */
	while (cfg_irq && irq_mode == IRQ_MSIX && kit_irq_count[VEC_CONFIG] == cfg_irqs_before)
		if (kit_expired(deadline))
			fail("%s: no configuration interrupt for NEEDS_RESET", mode);
	if (kit_virtq_wait(&vq, 0, &id, &len))
		fail("%s: the device used a buffer of a broken ring (id %u len %u)", mode, id, len);
	device_start();
	head = kit_virtq_add(&vq, &b, 1);
	kick();
	complete(head, REQ_BYTES);
	check_isr();
	printf("virtio-rng: %s: needs reset ok, recovered\n", mode);
}

static void hostile(const char *mode)
{
	uint64_t cfg_before = kit_irq_count[VEC_CONFIG];
	struct kit_virtq_buf b = {(uint64_t)(uintptr_t)buf, 16, true};

	device_start();
	if (!strcmp(mode, "badring")) {
		/* Reset, then a queue whose descriptor table is in the MMIO hole. */
		if (!kit_virtio_init(&dev, 0, 0))
			fail("badring: feature negotiation");
		kit_virtio_write16(&dev, CC_QSELECT, 0);
		kit_virtio_write32(&dev, CC_QDESC, 0xd0000000u);
		kit_virtio_write32(&dev, CC_QDESC + 4, 0);
		kit_virtio_write32(&dev, CC_QDRIVER, (uint32_t)(uintptr_t)ring_mem);
		kit_virtio_write32(&dev, CC_QDEVICE, (uint32_t)(uintptr_t)ring_mem + 2048);
		kit_virtio_write16(&dev, CC_QENABLE, 1);
		if (kit_virtio_read16(&dev, CC_QENABLE))
			fail("badring: a queue outside RAM was enabled");
		expect_needs_reset(mode, cfg_before, false);
		return;
	}
	if (!strcmp(mode, "loop")) {
		/* Two writable descriptors pointing at each other: a chain without end. */
		vq.desc[0] =
		    (struct virtq_desc){b.addr, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1};
		vq.desc[1] =
		    (struct virtq_desc){b.addr + 16, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0};
		vq.avail[2] = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		vq.avail[1] = ++vq.avail_idx;
	} else {
		b.writable = false; /* nothing the device may write: 5.4.6.1 */
		kit_virtq_add(&vq, &b, 1);
	}
	kick();
	expect_needs_reset(mode, cfg_before, true);
}

/* One round of the stream: BATCH requests, their bytes, and an interrupt for them. */
static void stream_round(unsigned int round)
{
	uint64_t irqs = irq_count(), deadline;
	uint16_t heads[BATCH];
	uint32_t id, len;

	memset(buf, 0, BATCH * REQ_BYTES);
	for (unsigned int i = 0; i < BATCH; i++) {
		struct kit_virtq_buf b = {(uint64_t)(uintptr_t)buf + (uint64_t)i * REQ_BYTES,
					  REQ_BYTES, true};

		heads[i] = kit_virtq_add(&vq, &b, 1);
	}
	kick();
	for (unsigned int i = 0; i < BATCH; i++) {
		if (!kit_virtq_wait(&vq, STREAM_TIMEOUT_US, &id, &len))
			fail("round %u: request %u not completed (status 0x%x)", round, heads[i],
			     kit_virtio_status(&dev));
		if (id != heads[i] || len != REQ_BYTES)
			fail("round %u: used id %u len %u, expected id %u len %u", round, id, len,
			     heads[i], REQ_BYTES);
	}
	for (unsigned int i = 0; i < BATCH * REQ_BYTES; i += 256) {
		bool any = false;

		for (unsigned int j = 0; j < 256; j++)
			any |= buf[i + j] != 0;
		if (!any)
			fail("round %u: bytes 0x%x-0x%x were not written", round, i, i + 255);
	}
	check_isr();
	deadline = kit_deadline_us(STREAM_TIMEOUT_US);
	while (irq_mode != IRQ_NONE && irq_count() == irqs)
		if (kit_expired(deadline))
			fail("round %u: no completion interrupt", round);
	printf("virtio-rng: round %u ok, %lu interrupts\n", round, irq_count());
}

static void stream(const struct boot_info *bi)
{
	uint64_t rounds = 20, delay = 100000;

	kit_arg_u64(bi, "rounds", &rounds);
	kit_arg_u64(bi, "delay_us", &delay);
	device_start();
	for (unsigned int r = 0; r < rounds; r++) {
		stream_round(r);
		kit_udelay(delay);
	}
	printf("virtio-rng: stream %lu rounds ok, %lu interrupts\n", rounds, irq_count());
}

static void relocate(uint32_t to)
{
	unsigned int slot = (unsigned int)dev.slot;
	uint8_t bar = kit_pci_read8(slot, dev.cap_common + 4);
	uint16_t cmd = kit_pci_read16(slot, 0x04);

	/* Decoding off while both halves change, as an OS does. */
	kit_pci_write16(slot, 0x04, cmd & ~2);
	kit_pci_write32(slot, 0x10 + 4 * bar, to);
	kit_pci_write32(slot, 0x10 + 4 * (bar + 1u), 0);
	kit_pci_write16(slot, 0x04, cmd);
	if (kit_pci_bar(slot, bar) != to || !kit_virtio_remap(&dev))
		fail("BAR %u did not move to 0x%x", bar, to);
	printf("virtio-rng: BAR %u moved to 0x%x\n", bar, to);
}

void ap_main(unsigned int cpu)
{
	uint32_t id = kit_pci_read32((unsigned int)dev.slot, 0);

	if (cpu != 1)
		return;
	lapic_enable();
	ap_ready = true;
	while (!ap_stop) {
		if (kit_pci_read32((unsigned int)dev.slot, 0) != id ||
		    kit_virtio_read16(&dev, CC_NUMQ) != 1)
			ap_failed = true;
		ap_reads++;
	}
}

void test_main(const struct boot_info *bi)
{
	size_t len;
	const char *mode = kit_arg(bi, "mode", &len);
	uint64_t v, irqs, deadline;
	bool all = arg_is(bi, "mode", "all");
	unsigned int slot;

	if (mode && !all && !arg_is(bi, "mode", "read") && !arg_is(bi, "mode", "loop") &&
	    !arg_is(bi, "mode", "stream") && !arg_is(bi, "mode", "badring") &&
	    !arg_is(bi, "mode", "nowrite")) {
		printf("virtio-rng: bad mode\n");
		exit(EXIT_BAD_ARG);
	}
	if (arg_is(bi, "irq", "intx"))
		irq_mode = IRQ_INTX;
	else if (arg_is(bi, "irq", "none"))
		irq_mode = IRQ_NONE;
	else if (kit_arg(bi, "irq", NULL) && !arg_is(bi, "irq", "msix"))
		exit(EXIT_BAD_ARG);
	use_cfgwin = kit_arg_u64(bi, "cfgwin", &v) && v;

	if (!kit_virtio_find(&dev, VIRTIO_ID_RNG))
		fail("no virtio-rng device on PCI bus 0");
	slot = (unsigned int)dev.slot;
	printf("virtio-rng: slot %u, revision %u, class 0x%06x, BAR 0x%lx, %u MSI-X vectors\n",
	       slot, kit_pci_read8(slot, 8), kit_pci_read32(slot, 8) >> 8,
	       kit_pci_bar(slot, kit_pci_read8(slot, dev.cap_common + 4)), dev.msix_nvec);
	if (kit_pci_read8(slot, 8) < 1 || !dev.cap_pcicfg || dev.notify_mult == 0)
		fail("not a modern device (revision, PCI_CFG capability, notify multiplier)");
	if (kit_virtio_read16(&dev, CC_NUMQ) != 1)
		fail("num_queues %u", kit_virtio_read16(&dev, CC_NUMQ));
	if (kit_arg_u64(bi, "relocate", &v) && v) {
		if (v != 1 && (v > 0xffffc000u || (v & 0x3fff)))
			exit(EXIT_BAD_ARG);
		relocate(v == 1 ? RELOCATE_TO : (uint32_t)v);
	}
	if (use_cfgwin) {
		cfgwin_setup(kit_pci_read32(slot, dev.cap_common + 8) + CC_NUMQ, 2);
		if (kit_pci_read16(slot, dev.cap_pcicfg + 16) != 1)
			fail("num_queues through the PCI configuration access capability");
	}

	lapic_enable();
	msix_dest = (uint8_t)lapic_id();
	if (bi->nr_cpus >= 2) {
		kit_smp_start(bi->nr_cpus, 1000000);
		deadline = kit_deadline_us(TIMEOUT_US);
		while (!ap_ready)
			if (kit_expired(deadline))
				fail("cpu 1 did not start");
		msix_dest = 1; /* interrupts land on the CPU that is busy elsewhere */
	}
	if (irq_mode == IRQ_INTX) {
		uint8_t gsi = kit_pci_read8(slot, 0x3c);

		if (gsi < 16 || gsi > 23)
			fail("interrupt line %u is not a PCI GSI", gsi);
		ioapic_route(gsi, VEC_INTX, (uint8_t)lapic_id(), false);
	}

	if (all || arg_is(bi, "mode", "read") || !mode) {
		device_start();
		read_entropy();
		/*
		 * Interrupts arrive asynchronously, at most one per batch; on another
		 * CPU one still pending in its IRR absorbs the next of the same vector.
		 */
		deadline = kit_deadline_us(TIMEOUT_US);
		while (irq_mode != IRQ_NONE && !irq_count() && !kit_expired(deadline))
			cpu_relax();
		kit_udelay(1000);
		irqs = irq_count();
		if (irq_mode != IRQ_NONE && !irqs)
			fail("no completion interrupts");
		printf("virtio-rng: %u bytes ok, %lu interrupts\n", TOTAL, irqs);
	}
	if (arg_is(bi, "mode", "stream"))
		stream(bi);
	if (all || arg_is(bi, "mode", "loop"))
		hostile("loop");
	if (all || arg_is(bi, "mode", "nowrite"))
		hostile("nowrite");
	if (all || arg_is(bi, "mode", "badring"))
		hostile("badring");
	kit_virtio_set_status(&dev, 0);
	ap_stop = true;
	if (bi->nr_cpus >= 2) {
		if (ap_failed)
			fail("cpu 1 read a wrong ID or queue count");
		printf("virtio-rng: cpu 1 made %lu config reads\n", ap_reads);
	}
	if (kit_arg_u64(bi, "reset", &v) && v) {
		printf("virtio-rng: resetting\n");
		kit_io_allow(0xcf9, 1);
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06); /* RST_CPU: reset control register (PIIX/ICH) */
		kit_park();
	}
	exit(0);
}
