/* SPDX-License-Identifier: MIT */
/*
 * virtio-console over PCI (kvmm --console virtio; virtio 1.2, 5.3 and 4.1),
 * driven from ring 3 by the kit's virtio driver: port 0 only, receiveq0 =
 * queue 0, transmitq0 = queue 1, MSI-X vectors 0x50 (receive), 0x51
 * (transmit) and 0x52 (configuration changes) to the boot CPU, completions
 * polled. Command line: mode=STEP[,STEP...] (default text), run in order:
 *   text     writes TEXT (below) to hvc0 in four chains, three of them in
 *            one batch: one buffer; three buffers; four buffers with a
 *            zero-length one, bytes that are not ASCII and a line split
 *            across two; two lines split mid-line. Each chain must come back used with length 0
 *   echo     posts 8 receive buffers of 64 bytes and, for each input line,
 *            writes "echo: LINE\n" (three buffers) to hvc0, until the line
 *            "quit", answered "bye\n"
 *   big      one chain of 16 descriptors x 256 KiB = 4 MiB of BIG_LINE
 *            (64 bytes each): the device streams it through its buffer
 *   loop     a transmit chain that loops; nowrite a receive chain with no
 *            device-writable buffer (needs host input to be noticed). Each
 *            expects DEVICE_NEEDS_RESET and a configuration interrupt, then
 *            resets the device and writes "recovered after MODE\n" to hvc0
 *   resize   waits (20 s at most) for the configuration generation to
 *            change and prints the new size
 * reset=1 resets the machine through port 0xcf9 at the end instead of
 * exiting (kvmm reboots it: reboot tests).
 * On the serial port: "virtio-console: slot S, class C, features F, size
 * COLSxROWS" first, then per step a line after its hvc0 output has had
 * time to reach the host (so the two streams do not interleave mid-line):
 * "virtio-console: text ok", "virtio-console: echoed N lines", "virtio-
 * console: big: N bytes in T us", "virtio-console: MODE: needs reset ok,
 * recovered", "virtio-console: resized to COLSxROWS, N config interrupts".
 * Exit 0; 3 with "virtio-console: FAIL ..."; 6 on a bad argument.
 */
#include "kit.h"

#define EXIT_FAIL    3
#define EXIT_BAD_ARG 6

#define VIRTIO_ID_CONSOLE 3
#define F_SIZE		  (1ull << 0)
#define VEC_RX		  0x50
#define VEC_TX		  0x51
#define VEC_CONFIG	  0x52
#define QSIZE		  64
#define RX_BUFS		  8
#define RX_BUF_LEN	  64
#define LINE_MAX	  200
#define TIMEOUT_US	  5000000
#define ECHO_TIMEOUT_US	  30000000
#define RESIZE_TIMEOUT_US 20000000
#define SETTLE_US	  300000 /* hvc0 output reaches stdout before the next UART line */
#define BIG_PIECE	  (256u * 1024)
#define BIG_DESCS	  16u

/* Common configuration offsets (virtio 1.2, 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF	    0x04
#define CC_MSIX	    0x10
#define CC_NUMQ	    0x12
#define CC_CFGGEN   0x15

static const char TEXT_1[] = "virtio-console: hello from hvc0\n";
static const char TEXT_2A[] = "line two: ", TEXT_2B[] = "split over ",
		  TEXT_2C[] = "three buffers\n";
static const char TEXT_3A[] = "\tbytes \xc3\xa9\xc3\xb6 \x01\x7f\xfe\xff", TEXT_3B[] = " end\nline",
		  TEXT_3C[] = " three\n";
static const char TEXT_4A[] = "line fo", TEXT_4B[] = "ur\nlast line\n";
static const char BIG_LINE[] = "hvc0 big: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\n";
_Static_assert(sizeof(BIG_LINE) - 1 == 64, "BIG_PIECE holds whole lines");

static uint8_t rx_ring[KIT_VIRTQ_MEM(QSIZE)] __attribute__((aligned(4096)));
static uint8_t tx_ring[KIT_VIRTQ_MEM(QSIZE)] __attribute__((aligned(4096)));
static uint8_t rx_buf[RX_BUFS][RX_BUF_LEN];
static uint8_t big[BIG_PIECE] __attribute__((aligned(4096)));
static struct kit_virtio dev;
static struct kit_virtq rxq, txq;
static uint8_t cpu;
static uint8_t gen0; /* the configuration generation when the size was printed */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("virtio-console: FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(EXIT_FAIL);
}

static uint64_t addr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static uint16_t cfg16(unsigned int off)
{
	return *(volatile uint16_t *)(dev.device + off);
}

/* Reset, features, MSI-X, both queues, DRIVER_OK. */
static void device_start(void)
{
	const uint8_t ok = VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			   VIRTIO_STATUS_DRIVER_OK;

	if (!kit_virtio_init(&dev, F_SIZE, F_SIZE))
		fail("feature negotiation (status 0x%x)", kit_virtio_status(&dev));
	if (!kit_virtio_msix(&dev, 0, VEC_RX, cpu) || !kit_virtio_msix(&dev, 1, VEC_TX, cpu) ||
	    !kit_virtio_msix(&dev, 2, VEC_CONFIG, cpu))
		fail("no MSI-X (%u vectors)", dev.msix_nvec);
	kit_virtio_write16(&dev, CC_MSIX, 2);
	if (!kit_virtq_setup(&dev, &rxq, 0, QSIZE, rx_ring, 0) ||
	    !kit_virtq_setup(&dev, &txq, 1, QSIZE, tx_ring, 1))
		fail("queues not enabled (status 0x%x)", kit_virtio_status(&dev));
	kit_virtio_set_status(&dev, ok);
	if (kit_virtio_status(&dev) != ok)
		fail("status 0x%x after DRIVER_OK", kit_virtio_status(&dev));
}

/* Waits for the transmit chain head to come back used, with nothing written. */
static void tx_done(uint16_t head)
{
	uint32_t id, len;

	if (!kit_virtq_wait(&txq, TIMEOUT_US, &id, &len))
		fail("transmit chain %u not used in %u ms (status 0x%x)", head, TIMEOUT_US / 1000,
		     kit_virtio_status(&dev));
	if (id != head || len != 0)
		fail("transmit used element id %u len %u, expected id %u len 0", id, len, head);
}

static void tx(const struct kit_virtq_buf *b, unsigned int n)
{
	uint16_t head = kit_virtq_add(&txq, b, n);

	kit_virtq_kick(&txq);
	tx_done(head);
}

/* A device-readable buffer holding string s (without its NUL). */
static struct kit_virtq_buf ro(const char *s)
{
	return (struct kit_virtq_buf){addr(s), (uint32_t)strlen(s), false};
}

static void tx_str(const char *s)
{
	struct kit_virtq_buf b = ro(s);

	tx(&b, 1);
}

static void step_text(void)
{
	const struct kit_virtq_buf two[] = {ro(TEXT_2A), ro(TEXT_2B), ro(TEXT_2C)};
	const struct kit_virtq_buf three[] = {
	    ro(TEXT_3A), {addr(TEXT_3B), 0, false}, ro(TEXT_3B), ro(TEXT_3C)};
	const struct kit_virtq_buf four[] = {ro(TEXT_4A), ro(TEXT_4B)};
	uint16_t h2, h3, h4;

	tx_str(TEXT_1);
	/* Three chains, one notification. */
	h2 = kit_virtq_add(&txq, two, 3);
	h3 = kit_virtq_add(&txq, three, 4);
	h4 = kit_virtq_add(&txq, four, 2);
	kit_virtq_kick(&txq);
	tx_done(h2);
	tx_done(h3);
	tx_done(h4);
	kit_udelay(SETTLE_US);
	printf("virtio-console: text ok\n");
}

static uint16_t rx_post(unsigned int i)
{
	struct kit_virtq_buf b = {addr(rx_buf[i]), RX_BUF_LEN, true};

	return kit_virtq_add(&rxq, &b, 1);
}

static void step_echo(void)
{
	static const char prefix[] = "echo: ", nl[] = "\n";
	uint16_t head[RX_BUFS];
	char line[LINE_MAX];
	unsigned int len = 0, lines = 0;

	for (unsigned int i = 0; i < RX_BUFS; i++)
		head[i] = rx_post(i);
	kit_virtq_kick(&rxq);
	for (;;) {
		uint32_t id, got;
		unsigned int i;

		if (!kit_virtq_wait(&rxq, ECHO_TIMEOUT_US, &id, &got))
			fail("echo: no input for %u s after %u lines", ECHO_TIMEOUT_US / 1000000,
			     lines);
		for (i = 0; i < RX_BUFS && head[i] != id; i++)
			;
		if (i == RX_BUFS || got == 0 || got > RX_BUF_LEN)
			fail("echo: receive used element id %u len %u", id, got);
		for (uint32_t k = 0; k < got; k++) {
			char c = (char)rx_buf[i][k];
			struct kit_virtq_buf b[3] = {ro(prefix), {addr(line), len, false}, ro(nl)};

			if (c != '\n') {
				if (len == LINE_MAX)
					fail("echo: line longer than %u bytes", LINE_MAX);
				line[len++] = c;
				continue;
			}
			if (len == 4 && !memcmp(line, "quit", 4)) {
				tx_str("bye\n");
				kit_udelay(SETTLE_US);
				printf("virtio-console: echoed %u lines\n", lines);
				return;
			}
			b[1].len = len;
			tx(b, 3);
			lines++;
			len = 0;
		}
		head[i] = rx_post(i);
		kit_virtq_kick(&rxq);
	}
}

static void step_big(void)
{
	struct kit_virtq_buf b[BIG_DESCS];
	uint64_t t0, us;
	uint16_t head;

	for (unsigned int i = 0; i < BIG_PIECE; i++)
		big[i] = (uint8_t)BIG_LINE[i % (sizeof(BIG_LINE) - 1)];
	for (unsigned int i = 0; i < BIG_DESCS; i++)
		b[i] = (struct kit_virtq_buf){addr(big), BIG_PIECE, false};
	t0 = rdtsc();
	head = kit_virtq_add(&txq, b, BIG_DESCS);
	kit_virtq_kick(&txq);
	tx_done(head);
	us = (rdtsc() - t0) * 1000 / kit_tsc_khz();
	kit_udelay(SETTLE_US);
	printf("virtio-console: big: %u bytes in %lu us\n", BIG_PIECE * BIG_DESCS, us);
}

/* Waits until the device reports NEEDS_RESET with a configuration interrupt; then recovers. */
static void expect_needs_reset(const char *mode, uint64_t cfg_before)
{
	uint64_t deadline = kit_deadline_us(TIMEOUT_US);
	char msg[64];

	while (!(kit_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET))
		if (kit_expired(deadline))
			fail("%s: no DEVICE_NEEDS_RESET (status 0x%x)", mode,
			     kit_virtio_status(&dev));
	while (kit_irq_count[VEC_CONFIG] == cfg_before)
		if (kit_expired(deadline))
			fail("%s: no configuration interrupt for NEEDS_RESET", mode);
	device_start();
	snprintf(msg, sizeof(msg), "recovered after %s\n", mode);
	tx_str(msg);
	kit_udelay(SETTLE_US);
	printf("virtio-console: %s: needs reset ok, recovered\n", mode);
}

static void step_loop(void)
{
	uint64_t cfg_before = kit_irq_count[VEC_CONFIG];
	uint16_t d = txq.next_desc, e = (uint16_t)((d + 1) % txq.size);

	/* Two readable descriptors pointing at each other: a chain without end. */
	txq.desc[d] = (struct virtq_desc){addr(TEXT_1), 4, VIRTQ_DESC_F_NEXT, e};
	txq.desc[e] = (struct virtq_desc){addr(TEXT_1), 4, VIRTQ_DESC_F_NEXT, d};
	txq.avail[2 + txq.avail_idx % txq.size] = d;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	txq.avail[1] = ++txq.avail_idx;
	kit_virtq_kick(&txq);
	expect_needs_reset("loop", cfg_before);
}

static void step_nowrite(void)
{
	uint64_t cfg_before = kit_irq_count[VEC_CONFIG];
	struct kit_virtq_buf b = {addr(rx_buf[0]), RX_BUF_LEN, false}; /* 5.3.6.1 forbids it */

	kit_virtq_add(&rxq, &b, 1);
	kit_virtq_kick(&rxq);
	expect_needs_reset("nowrite", cfg_before);
}

static void step_resize(void)
{
	uint64_t deadline = kit_deadline_us(RESIZE_TIMEOUT_US);
	uint16_t cols, rows;
	uint8_t g;

	/* Against the size the host saw printed: a resize right after it is not missed. */
	while (kit_virtio_read8(&dev, CC_CFGGEN) == gen0)
		if (kit_expired(deadline))
			fail("resize: the configuration did not change in %u s",
			     RESIZE_TIMEOUT_US / 1000000);
	/* 4.1.4.3.1: read until the generation is stable around the fields. */
	do {
		g = kit_virtio_read8(&dev, CC_CFGGEN);
		cols = cfg16(0);
		rows = cfg16(2);
	} while (kit_virtio_read8(&dev, CC_CFGGEN) != g);
	deadline = kit_deadline_us(TIMEOUT_US);
	while (!kit_irq_count[VEC_CONFIG])
		if (kit_expired(deadline))
			fail("resize: no configuration interrupt");
	printf("virtio-console: resized to %ux%u, %lu config interrupts\n", cols, rows,
	       kit_irq_count[VEC_CONFIG]);
}

static bool token_is(const char *s, size_t len, const char *name)
{
	return len == strlen(name) && !strncmp(s, name, len);
}

void test_main(const struct boot_info *bi)
{
	static const char *const steps[] = {"text", "echo", "big", "loop", "nowrite", "resize"};
	static void (*const run[])(void) = {step_text, step_echo,    step_big,
					    step_loop, step_nowrite, step_resize};
	size_t len = 0;
	const char *mode = kit_arg(bi, "mode", &len);
	unsigned int slot;
	uint32_t features;
	uint16_t cols, rows;
	uint64_t v;

	if (!mode) {
		mode = "text";
		len = 4;
	}
	/* Check every step name before doing anything. */
	for (size_t at = 0; at < len;) {
		size_t n = 0;
		bool known = false;

		while (at + n < len && mode[at + n] != ',')
			n++;
		for (unsigned int i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			known |= token_is(mode + at, n, steps[i]);
		if (!known) {
			printf("virtio-console: bad mode\n");
			exit(EXIT_BAD_ARG);
		}
		at += n + 1;
	}

	if (!kit_virtio_find(&dev, VIRTIO_ID_CONSOLE))
		fail("no virtio-console device on PCI bus 0");
	slot = (unsigned int)dev.slot;
	if (!dev.device)
		fail("no device configuration structure");
	if (kit_virtio_read16(&dev, CC_NUMQ) != 2)
		fail("num_queues %u, not 2 (one port, no MULTIPORT)",
		     kit_virtio_read16(&dev, CC_NUMQ));
	lapic_enable();
	cpu = (uint8_t)lapic_id();
	device_start();
	kit_virtio_write32(&dev, CC_DFSELECT, 0);
	features = kit_virtio_read32(&dev, CC_DF);
	do {
		gen0 = kit_virtio_read8(&dev, CC_CFGGEN);
		cols = cfg16(0);
		rows = cfg16(2);
	} while (kit_virtio_read8(&dev, CC_CFGGEN) != gen0);
	printf("virtio-console: slot %u, class 0x%06x, features 0x%x, size %ux%u\n", slot,
	       kit_pci_read32(slot, 8) >> 8, features, cols, rows);
	if (!(features & F_SIZE) || (features & 6))
		fail("features 0x%x: want SIZE, not MULTIPORT or EMERG_WRITE", features);

	for (size_t at = 0; at < len;) {
		size_t n = 0;

		while (at + n < len && mode[at + n] != ',')
			n++;
		for (unsigned int i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			if (token_is(mode + at, n, steps[i]))
				run[i]();
		at += n + 1;
	}
	kit_virtio_set_status(&dev, 0);
	if (kit_arg_u64(bi, "reset", &v) && v) {
		printf("virtio-console: resetting\n");
		kit_io_allow(0xcf9, 1);
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06); /* RST_CPU: reset control register (PIIX/ICH) */
		kit_park();
	}
	exit(0);
}
