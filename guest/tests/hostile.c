/* SPDX-License-Identifier: MIT */
/*
 * A malicious guest: it does what a buggy or hostile kernel may do to the
 * devices kvmm emulates, to check that kvmm keeps running (or stops the VM with
 * a clear guest-crash report) and never crashes. tests/integration/test_hostile.py
 * runs each mode. Command line:
 *   mode=ports|fwcfg|mmio|mmioinsn|uart|race|resetloop|sipi|pci|all
 *                 (all = ports fwcfg mmio uart, in that order)
 *   seed=N        random seed (default 1: runs are reproducible)
 *   passes=N      ports: patterns per port in the sweep of all 65536 ports (default 1)
 *   stride=N      mmio: stride of the sweep of the MMIO hole (default 0x10000)
 *   insn=NAME     mmioinsn: only this step (rmw string sse stack fxsave cmpxchg16b exec)
 *   uart_kb=N     uart: bytes the flood must get to the host's stdout, in KiB
 *                 (default 10240; on PVM each byte is an exit of about 30 us)
 *   ms=N          race: how long every CPU hits the devices (default 3000)
 *   reset=8042|cf9|outport|mixed   resetloop: how to reset (default mixed)
 *   aps=1         resetloop: start the APs and keep them on the devices while resetting
 *   sipi=K        sipi: the bad INIT/SIPI sequence K (1..13, see sipi_cases[]); 2+ CPUs
 *
 * Every mode that finishes prints "hostile: MODE done ..." and exits 0; a wrong
 * answer from a device (not a crash: kvmm is still up) prints "hostile: FAIL ..."
 * and exits 3; a bad argument exits 6. resetloop never ends by itself; some
 * sipi and mmioinsn cases end with kvmm stopping the VM (guest crash, status 2).
 *
 * mode=pci (run it with PCI devices: --device virtio-rng, --disk ...): for every
 * device on bus 0, programs each memory BAR over RAM (address 0 and the image
 * at 1 MiB), over the I/O APIC and the LAPIC, over the ECAM window, over
 * another device's BAR, at the top of 4 GiB and (64-bit BARs) far above any
 * RAM, with decoding enabled, touching each placement; writes every
 * configuration dword with random values and puts them back; then checks that
 * RAM, the LAPIC and the devices (vendor ID, the virtio common configuration's
 * num_queues) read as before. Bad descriptors per virtio device are in the
 * virtio_rng and virtio_blk guests' hostile modes.
 *
 * New hostile modes go into the modes[] table at the bottom: one function each.
 *
 * Accesses the port sweep leaves out or tames, because they would end the run
 * legitimately rather than test anything (all other ports and values are hit):
 *   - 0xf4-0xf7 (the debug-exit port, 4 bytes wide in kvmm): every access that
 *     overlaps it, since any write there ends the run.
 *   - 0x64 (i8042 command): values F0h-FEh with bit 0 clear pulse the CPU reset
 *     line (0xFE is the classic reboot): bit 0 is set instead. D1h (write output
 *     port) is replaced by D0h, as its data byte at 0x60 could clear the reset bit.
 *   - 0xcf9 (reset control): bit 2 (RST_CPU) is cleared in accesses that start
 *     at 0xcf9 (a dword at 0xcf8 is PCI CONFIG_ADDRESS and stays as it is).
 *   - 0x604/0x605 (ACPI PM1a control): the byte at 0x605 with SLP_EN (bit 5) and
 *     SLP_TYP = 5 (kvmm's S5) powers off: SLP_EN is cleared in that case only,
 *     so SLP_EN with other sleep types (which wake at once) is still hit.
 *   - 0x92 (port A, fast reset on many chipsets; not emulated yet): bit 0 cleared.
 *   - PCI configuration writes (0xcfc-0xcff while our last dword at 0xcf8 enabled
 *     a cycle on bus 0, where the devices are): skipped, and mode=mmio only reads
 *     the ECAM window. Programming BARs and config registers is mode=pci's;
 *     other buses and disabled cycles are hit.
 *   - fw_cfg DMA (dword writes to 0x518, with the high half from 0x514): a write
 *     whose descriptor address would lie in guest RAM is skipped, as kvmm would
 *     legitimately write into the guest's own memory; mode=fwcfg feeds it bad
 *     descriptors on purpose.
 * Devices that the sweep leaves armed are disarmed right after their ports:
 * both 8259s are reinitialised, fully masked, after each access to 0x20/0x21,
 * 0xa0/0xa1 and 0x4d0/0x4d1 (ELCR); PIT channel 0 is stopped after each access to
 * 0x40-0x43 and 0x61; the UART gets a sane configuration back after 0x3f8-0x3ff;
 * the i8042 output buffer is drained after 0x60-0x64. The console may print
 * binary noise while the UART is hit.
 */
#include "kit.h"

#define EXIT_FAIL    3
#define EXIT_BAD_ARG 6

#define COM1 0x3f8

static const struct boot_info *g_bi;
static uint64_t rng = 1;
static bool failed;

/* xorshift64*: fast, good enough to pick values and registers. */
static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static uint64_t ms_since(uint64_t t0)
{
	return (rdtsc() - t0) / kit_tsc_khz();
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		printf("hostile: FAIL " __VA_ARGS__);                                               \
		failed = true;                                                                     \
	} while (0)

/* Does [addr, addr + len) touch RAM (e820 type 1)? */
static bool touches_ram(uint64_t addr, uint64_t len)
{
	for (uint32_t i = 0; i < g_bi->nr_ranges; i++) {
		const struct kit_mem_range *r = &g_bi->ranges[i];

		if (r->type == 1 && addr < r->addr + r->len && r->addr < addr + len)
			return true;
	}
	return false;
}

/* End of the RAM range that contains 1 MiB (where the image and the modules live). */
static uint64_t low_ram_end(void)
{
	uint64_t end = 0;

	for (uint32_t i = 0; i < g_bi->nr_ranges; i++) {
		const struct kit_mem_range *r = &g_bi->ranges[i];

		if (r->type == 1 && r->addr + r->len <= 0x100000000ull && r->addr + r->len > end)
			end = r->addr + r->len;
	}
	return end;
}

/* ---- port I/O helpers --------------------------------------------------------------- */
static inline void outsb(uint16_t port, const void *buf, size_t n)
{
	__asm__ volatile("rep outsb" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void outsw(uint16_t port, const void *buf, size_t n)
{
	__asm__ volatile("rep outsw" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void outsl(uint16_t port, const void *buf, size_t n)
{
	__asm__ volatile("rep outsl" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void insb(uint16_t port, void *buf, size_t n)
{
	__asm__ volatile("rep insb" : "+D"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void insw(uint16_t port, void *buf, size_t n)
{
	__asm__ volatile("rep insw" : "+D"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void insl(uint16_t port, void *buf, size_t n)
{
	__asm__ volatile("rep insl" : "+D"(buf), "+c"(n) : "d"(port) : "memory");
}

static void port_out(uint16_t port, unsigned width, uint32_t v)
{
	if (width == 1)
		outb(port, (uint8_t)v);
	else if (width == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

static uint32_t port_in(uint16_t port, unsigned width)
{
	return width == 1 ? inb(port) : width == 2 ? inw(port) : inl(port);
}

static uint32_t bswap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

/* kvmm's fw_cfg DMA address high half, as our own writes to 0x514 set it. */
static uint32_t fwcfg_dma_high;
/* PCI CONFIG_ADDRESS as our own dword writes to 0xcf8 latched it. */
static uint32_t pci_config_address;
/* mode=race: several CPUs at once, so no state of ours may track kvmm's. */
static volatile bool racing;

/*
 * Makes a write of v (width bytes at port) safe to do (see the header comment):
 * returns false to skip it, else the value to write in *v.
 */
static bool port_tame(uint32_t port, unsigned width, uint32_t *v)
{
	if (port < 0xf8 && port + width > 0xf4)
		return false; /* the debug-exit port */
	for (unsigned i = 0; i < width; i++) {
		uint32_t b = (*v >> (8 * i)) & 0xff;

		switch (port + i) {
		case 0x64:
			if (b == 0xd1)
				b = 0xd0;
			if (b >= 0xf0 && !(b & 1))
				b |= 1;
			break;
		case 0x92:
			b &= ~1u;
			break;
		case 0xcf9:
			if (i == 0) /* only an access that starts there reaches the register */
				b &= ~0x04u;
			break;
		case 0x605:
			if ((b & 0x20) && ((b >> 2) & 7) == 5)
				b &= ~0x20u;
			break;
		}
		*v = (*v & ~(0xffu << (8 * i))) | b << (8 * i);
	}
	if (width == 4 && port == 0xcf8) {
		if (racing)
			*v &= ~0x80000000u; /* shared by all CPUs: never enable config cycles */
		pci_config_address = *v;
	} else if (port >= 0xcfc && port <= 0xcff && (pci_config_address & 0x80000000u) &&
		   !(pci_config_address & 0x00ff0000u)) {
		return false; /* config writes to bus 0, where devices are: mode=pci's */
	}
	if (width == 4 && port == 0x514) {
		if (racing)
			return false; /* the high half is shared by all CPUs: leave it 0 */
		fwcfg_dma_high = bswap32(*v);
	} else if (width == 4 && port == 0x518) {
		uint64_t desc = (uint64_t)fwcfg_dma_high << 32 | bswap32(*v);

		if (touches_ram(desc, 16))
			return false;
		if (!racing)
			fwcfg_dma_high = 0; /* kvmm clears it after each transfer */
	}
	return true;
}

/* One write, tamed (reads need no taming). */
static void port_hit(uint16_t port, unsigned width, uint32_t v)
{
	if (port_tame(port, width, &v))
		port_out(port, width, v);
}

/* Puts back what a hostile access to these ports may have left armed. */
static void pic_restore(void)
{
	pic_init(0xffff);
	outb(0x4d0, 0); /* ELCR: every IRQ edge-triggered */
	outb(0x4d1, 0);
}

static void uart_sane(void)
{
	outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 2, 0x07); /* FCR: FIFOs on and cleared */
	outb(COM1 + 4, 0x03); /* MCR: DTR, RTS; no loopback, OUT2 off */
	for (int i = 0; i < 64 && (inb(COM1 + 5) & 1); i++)
		inb(COM1);
	inb(COM1 + 5); /* clears sticky errors */
	inb(COM1 + 6);
}

static void i8042_drain(void)
{
	for (int i = 0; i < 64 && (inb(0x64) & 1); i++)
		inb(0x60);
}

/* Puts the chip whose port was just hit back in a quiet state. */
static void port_disarm(uint32_t port)
{
	switch (port) {
	case 0x20:
	case 0x21:
	case 0xa0:
	case 0xa1:
	case 0x4d0:
	case 0x4d1:
		pic_restore();
		break;
	case 0x40:
	case 0x41:
	case 0x42:
	case 0x43:
	case 0x61:
		pit_stop();
		outb(0x61, 0); /* channel 2 gate and speaker off */
		break;
	}
	if (port >= 0x60 && port <= 0x64)
		i8042_drain();
	if (port >= COM1 && port <= COM1 + 7)
		uart_sane();
}

/* Ports where kvmm (or KVM) has a device today, and their neighbours. */
static const struct {
	uint16_t first, last;
} device_ports[] = {
	{0x20, 0x21},   {0x40, 0x43},   {0x60, 0x64},   {0x70, 0x71},   {0x80, 0x80},
	{0x92, 0x92},   {0xa0, 0xa1},   {0xf0, 0xf3},   {0xf8, 0xff},   {0x3f8, 0x3ff},
	{0x4d0, 0x4d1}, {0x510, 0x51b}, {0x600, 0x63f}, {0xcf8, 0xcff},
};

static uint32_t pattern(unsigned k)
{
	static const uint32_t fixed[] = {0x00000000, 0xffffffff, 0xaaaaaaaa, 0x55555555};

	return k < 4 ? fixed[k] : rnd();
}

static uint32_t strbuf[256];

/* Every width, every pattern, reads, writes and string I/O at one port. */
static uint64_t port_deep(uint16_t port)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < 4 + 16; k++) {
		for (unsigned w = 1; w <= 4; w *= 2) {
			port_hit(port, w, pattern(k));
			port_in(port, w);
			port_disarm(port);
			n += 2;
		}
	}
	/* String I/O: KVM hands kvmm count items in one exit. */
	for (unsigned w = 1; w <= 4; w *= 2) {
		unsigned cnt = 64;
		bool ok = true;

		for (unsigned i = 0; i < cnt; i++) {
			uint32_t v = rnd();

			if (!port_tame(port, w, &v))
				ok = false;
			if (w == 1)
				((uint8_t *)strbuf)[i] = (uint8_t)v;
			else if (w == 2)
				((uint16_t *)strbuf)[i] = (uint16_t)v;
			else
				strbuf[i] = v;
		}
		if (ok) {
			if (w == 1)
				outsb(port, strbuf, cnt);
			else if (w == 2)
				outsw(port, strbuf, cnt);
			else
				outsl(port, strbuf, cnt);
		}
		port_disarm(port);
		if (w == 1)
			insb(port, strbuf, cnt);
		else if (w == 2)
			insw(port, strbuf, cnt);
		else
			insl(port, strbuf, cnt);
		port_disarm(port);
		n += 2;
	}
	return n;
}

static bool is_device_port(uint32_t p)
{
	for (size_t i = 0; i < sizeof(device_ports) / sizeof(device_ports[0]); i++)
		if (p >= device_ports[i].first && p <= device_ports[i].last)
			return true;
	return false;
}

static bool check_fw_cfg(void)
{
	if (!fw_cfg_present()) {
		FAIL("fw_cfg no longer answers QEMU\n");
		return false;
	}
	return true;
}

static void mode_ports(void)
{
	uint64_t passes = 1, t0 = rdtsc(), n = 0;

	kit_arg_u64(g_bi, "passes", &passes);
	kit_io_allow(0, 0x10000);
	printf("hostile: ports begin (%lu passes)\n", passes);
	/* Every port: each width written (a pattern) and read, per pass. */
	for (uint32_t p = 0; p < 0x10000; p++) {
		bool dev = is_device_port(p);

		for (uint64_t pass = 0; pass < passes; pass++) {
			uint32_t v = pattern((unsigned)((p + pass) % 5));

			/* An access past port 0xffff is a #GP (the bitmap's end byte). */
			for (unsigned w = 1; w <= 4 && p + w <= 0x10000; w *= 2) {
				port_hit((uint16_t)p, w, v);
				port_in((uint16_t)p, w);
				if (dev)
					port_disarm(p);
				n += 2;
			}
		}
		if (dev)
			n += port_deep((uint16_t)p);
	}
	uart_sane();
	printf("hostile: ports done: %lu accesses in %lu ms\n", n, ms_since(t0));
	if (check_fw_cfg())
		printf("hostile: fw_cfg still answers QEMU\n");
}

/* ---- fw_cfg: DMA with bad descriptors, every selector ------------------------------- */
#define FW_CTL_ERROR  0x01
#define FW_CTL_READ   0x02
#define FW_CTL_SKIP   0x04
#define FW_CTL_SELECT 0x08
#define FW_CTL_WRITE  0x10

struct fw_dma {
	uint32_t control, length; /* big-endian */
	uint64_t address;
};

static struct fw_dma dma_desc __attribute__((aligned(4096)));
static uint8_t dma_buf[8192] __attribute__((aligned(4096)));

static void fw_dma_start(uint64_t desc)
{
	outl(0x514, bswap32((uint32_t)(desc >> 32)));
	outl(0x518, bswap32((uint32_t)desc));
}

/* Runs one DMA through our own descriptor; returns the control word kvmm left. */
static uint32_t fw_dma(uint32_t control, uint32_t length, uint64_t address)
{
	dma_desc.control = bswap32(control);
	dma_desc.length = bswap32(length);
	dma_desc.address = __builtin_bswap64(address);
	fw_dma_start((uintptr_t)&dma_desc);
	return bswap32(*(volatile uint32_t *)&dma_desc.control);
}

static void mode_fwcfg(void)
{
	uint64_t top = low_ram_end(), t0 = rdtsc();
	uint64_t bad_desc[] = {top, top - 8, top - 1, 0xa0000, 0xfec00000, 0xfee00000,
			       0xfffffff8, 0xffffffff, 0x100000000ull, 0xfffffffffffffff8ull,
			       0x8000000000000000ull};
	struct {
		uint32_t control, length;
		uint64_t address;
	} bad[] = {
		{FW_CTL_SELECT | FW_CTL_READ, 4, top},
		{FW_CTL_SELECT | FW_CTL_READ, 16, top - 8},
		{FW_CTL_SELECT | FW_CTL_READ, 0xffffffff, (uintptr_t)dma_buf},
		{FW_CTL_SELECT | FW_CTL_READ, 0x2000, 0xfffffffffffff000ull},
		{FW_CTL_SELECT | FW_CTL_READ, 0x10, 0xfee00000},
		{FW_CTL_SELECT | FW_CTL_READ, 4, 0xfffffffffffffffeull},
		{FW_CTL_SELECT | FW_CTL_WRITE, 4, (uintptr_t)dma_buf},
		{0x00190000 | FW_CTL_SELECT | FW_CTL_WRITE, 4, (uintptr_t)dma_buf},
	};
	uint32_t c;

	kit_io_allow(0x510, 12);
	printf("hostile: fwcfg begin (RAM below 4G ends at 0x%lx)\n", top);
	/* Sanity first: a good DMA read of the signature. */
	memset(dma_buf, 0, sizeof(dma_buf));
	c = fw_dma(FW_CTL_SELECT | FW_CTL_READ, 4, (uintptr_t)dma_buf);
	if (c != 0 || memcmp(dma_buf, "QEMU", 4))
		FAIL("fwcfg good DMA: control 0x%x data %02x%02x%02x%02x\n", c, dma_buf[0],
		     dma_buf[1], dma_buf[2], dma_buf[3]);
	/* Descriptors outside RAM: nothing to read, nowhere to report; must not crash. */
	for (size_t i = 0; i < sizeof(bad_desc) / sizeof(bad_desc[0]); i++)
		fw_dma_start(bad_desc[i]);
	/* A descriptor in the last bytes of RAM (half of it beyond). */
	fw_dma_start(top - 12);
	/* Transfers to bad places must fail with the error bit, and touch nothing. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(dma_buf, 0x5a, 64);
		c = fw_dma(bad[i].control, bad[i].length, bad[i].address);
		if (!(c & FW_CTL_ERROR))
			FAIL("fwcfg bad DMA %zu (control 0x%x len 0x%x addr 0x%lx): control 0x%x\n", i,
			     bad[i].control, bad[i].length, bad[i].address, c);
		if (dma_buf[0] != 0x5a)
			FAIL("fwcfg bad DMA %zu wrote to the buffer\n", i);
	}
	/* A read onto the descriptor itself, skips past the end, unknown keys, all bits. */
	fw_dma(FW_CTL_SELECT | FW_CTL_READ, 16, (uintptr_t)&dma_desc);
	fw_dma(FW_CTL_SELECT | FW_CTL_SKIP, 0xffffffff, 0);
	c = fw_dma(FW_CTL_READ, 8, (uintptr_t)dma_buf);
	if (c != 0)
		FAIL("fwcfg read after skipping past the end: control 0x%x\n", c);
	fw_dma(0xffff0000 | FW_CTL_SELECT | FW_CTL_READ, 64, (uintptr_t)dma_buf);
	fw_dma(0x3fff0000 | FW_CTL_SELECT | FW_CTL_READ, 64, (uintptr_t)dma_buf);
	fw_dma(0xc0000000 | FW_CTL_SELECT | FW_CTL_READ, 64, (uintptr_t)dma_buf);
	fw_dma(0xffffffff, 0xffffffff, 0xffffffffffffffffull);
	fw_dma(0, 0, 0);
	for (int i = 0; i < 256; i++)
		fw_dma(rnd(), rnd() & 0x1fff, (uintptr_t)dma_buf + (rnd() & 0xfff));
	/* Every selector, a few bytes each; data-port writes and odd widths. */
	for (uint32_t key = 0; key < 0x10000; key++) {
		outw(0x510, (uint16_t)key);
		inb(0x511);
	}
	for (uint32_t key = 0; key < 0x40; key++) {
		outw(0x510, (uint16_t)key);
		outb(0x511, (uint8_t)rnd());
		outw(0x511, (uint16_t)rnd());
		outl(0x511, rnd());
		inl(0x511);
		insb(0x511, dma_buf, sizeof(dma_buf));
		outb(0x510, (uint8_t)rnd());
		outl(0x510, rnd());
		outw(0x518, (uint16_t)rnd());
		outb(0x51b, (uint8_t)rnd());
		inl(0x514);
		inl(0x518);
	}
	outl(0x514, 0); /* leave the DMA high half clear */
	check_fw_cfg();
	memset(dma_buf, 0, 8);
	c = fw_dma(FW_CTL_SELECT | FW_CTL_READ, 4, (uintptr_t)dma_buf);
	if (c != 0 || memcmp(dma_buf, "QEMU", 4))
		FAIL("fwcfg good DMA afterwards: control 0x%x\n", c);
	printf("hostile: fwcfg done in %lu ms\n", ms_since(t0));
}

/* ---- MMIO: the hole below 4 GiB ------------------------------------------------------- */
static void mmio_out(uint64_t a, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		*(volatile uint8_t *)a = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)a = (uint16_t)v;
		break;
	case 4:
		*(volatile uint32_t *)a = (uint32_t)v;
		break;
	default:
		*(volatile uint64_t *)a = v;
		break;
	}
}

static uint64_t mmio_in(uint64_t a, unsigned width)
{
	switch (width) {
	case 1:
		return *(volatile uint8_t *)a;
	case 2:
		return *(volatile uint16_t *)a;
	case 4:
		return *(volatile uint32_t *)a;
	default:
		return *(volatile uint64_t *)a;
	}
}

static uint64_t pattern64(unsigned k)
{
	return k < 4 ? (uint64_t)pattern(k) << 32 | pattern(k) : (uint64_t)rnd() << 32 | rnd();
}

/* Every width read and written at a; returns the number of accesses. */
static uint64_t mmio_hit(uint64_t a, unsigned k)
{
	for (unsigned w = 1; w <= 8; w *= 2) {
		mmio_out(a, w, pattern64(k));
		mmio_in(a, w);
	}
	return 8;
}

#define PAGE_SIZE     4096ull
/* kvmm's PCI ECAM window (arch/x86/layout.h; q35 has it at 0xb0000000): read only here. */
#define ECAM_BASE     0xe0000000ull
#define ECAM_SIZE     0x10000000ull
#define IOAPIC_PAGE   0xfec00000ull
#define LAPIC_PAGE    0xfee00000ull

static bool in_apic_page(uint64_t a)
{
	return (a & ~(PAGE_SIZE - 1)) == IOAPIC_PAGE || (a & ~(PAGE_SIZE - 1)) == LAPIC_PAGE;
}

/* The IOAPIC (in KVM): every register read, selector and window abused, pins kept masked. */
static uint64_t mmio_ioapic(void)
{
	uint32_t id = ioapic_read(0), nr_pins = ((ioapic_read(1) >> 16) & 0xff) + 1;
	uint64_t n = 0;

	for (uint64_t off = 0; off < PAGE_SIZE; off += 4, n++)
		mmio_in(IOAPIC_PAGE + off, 4);
	for (unsigned i = 0; i < 512; i++, n += 2) {
		mmio_write32(IOAPIC_PAGE, rnd()); /* any selector, then read the window */
		mmio_read32(IOAPIC_PAGE + 0x10);
	}
	for (unsigned reg = 0; reg < 0x10 + 2 * nr_pins + 8; reg++, n += 4) {
		uint32_t v = rnd();

		if (reg >= 0x10 && !(reg & 1))
			v |= 1u << 16; /* a redirection entry: keep it masked */
		ioapic_write(reg, v);
	}
	for (unsigned w = 1; w <= 8; w *= 2, n += 4) {
		mmio_out(IOAPIC_PAGE, w, pattern64(4) & ~0xffull); /* selector 0: the ID */
		mmio_in(IOAPIC_PAGE + 0x10, w);
		mmio_out(IOAPIC_PAGE + 0x10, w, pattern64(4));
		mmio_in(IOAPIC_PAGE + 0x3, w);
	}
	/* Back to quiet: ID as it was, every pin masked. */
	ioapic_write(0, id);
	for (unsigned pin = 0; pin < nr_pins; pin++) {
		ioapic_write(0x10 + 2 * pin, 1u << 16);
		ioapic_write(0x11 + 2 * pin, 0);
	}
	return n;
}

/*
 * The LAPIC (in KVM): every register read at every width; random writes to the
 * registers that cannot send an IPI or reset this CPU (ICR low is mode=sipi's),
 * with the LVTs masked; then everything put back.
 */
static uint64_t mmio_lapic(void)
{
	static const uint32_t regs[] = {0x000, 0x010, 0x020, 0x030, 0x040, 0x080, 0x090, 0x0a0,
					0x0b0, 0x0c0, 0x0d0, 0x0e0, 0x0f0, 0x100, 0x180, 0x200,
					0x270, 0x280, 0x2f0, 0x310, 0x320, 0x330, 0x340, 0x350,
					0x360, 0x370, 0x380, 0x390, 0x3a0, 0x3e0, 0x3f0, 0xff0};
	uint32_t saved[0x40];
	uint64_t n = 0;

	for (uint32_t r = 0; r < 0x40; r++)
		saved[r] = lapic_read(r << 4);
	for (uint64_t off = 0; off < PAGE_SIZE; off += 4, n++)
		mmio_in(LAPIC_PAGE + off, 4);
	for (uint64_t off = 0; off < 0x400; off += 16, n += 4) {
		mmio_in(LAPIC_PAGE + off, 1);
		mmio_in(LAPIC_PAGE + off + 1, 2);
		mmio_in(LAPIC_PAGE + off + 2, 4);
		mmio_in(LAPIC_PAGE + off, 8);
	}
	for (unsigned k = 0; k < 64; k++) {
		for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++, n++) {
			uint32_t r = regs[i], v = rnd();

			if (r >= 0x320 && r <= 0x370)
				v |= 1u << 16; /* LVT: masked */
			if (r == 0x380)
				v &= 0xffff; /* a short timer count: it is masked anyway */
			if (r == 0x0f0)
				v |= 0x100; /* SVR: keep the APIC on... */
			lapic_write(r, v);
		}
		/* Odd widths and misaligned accesses, which the xAPIC ignores. */
		mmio_out(LAPIC_PAGE + 0x80, 1, rnd());
		mmio_out(LAPIC_PAGE + 0x81, 2, rnd());
		mmio_out(LAPIC_PAGE + 0x82, 4, rnd());
		mmio_out(LAPIC_PAGE + 0x80, 8, pattern64(4) & ~0xffull);
		mmio_out(LAPIC_PAGE + 0x300, 1, 0); /* a byte of ICR low: must not send */
		n += 5;
	}
	lapic_write(0x0f0, 0x0ff); /* ...then software-disable it once, and back */
	lapic_read(0x0f0);
	/* Restore: ID first (KVM's xAPIC allows writing it), LVTs, then TPR and SVR. */
	lapic_write(0x020, saved[0x02]);
	lapic_write(0x0d0, saved[0x0d]);
	lapic_write(0x0e0, saved[0x0e]);
	for (uint32_t r = 0x32; r <= 0x37; r++)
		lapic_write(r << 4, saved[r]);
	lapic_write(0x380, 0);
	lapic_write(0x3e0, saved[0x3e]);
	lapic_write(0x310, saved[0x31]);
	lapic_write(0x080, saved[0x08]);
	lapic_write(0x280, 0);
	lapic_write(0x0f0, saved[0x0f] | 0x100);
	if (lapic_id() != saved[0x02] >> 24)
		FAIL("lapic id 0x%x after restore, was 0x%x\n", lapic_read(0x020), saved[0x02]);
	return n;
}

static void mode_mmio(void)
{
	uint64_t stride = 0x10000, t0 = rdtsc(), n = 0, top = low_ram_end(), a;
	volatile uint8_t *ram_edge;
	uint32_t before, after;

	kit_arg_u64(g_bi, "stride", &stride);
	if (stride < 8 || (stride & 7)) {
		printf("hostile: bad stride %lu\n", stride);
		exit(EXIT_BAD_ARG);
	}
	printf("hostile: mmio begin (stride 0x%lx, RAM below 4G ends at 0x%lx)\n", stride, top);
	/* Between the end of RAM and the hole (an ECAM window would be here): 1 MiB steps. */
	for (a = top; a < 0xc0000000ull; a += 0x100000)
		n += mmio_hit(a, (unsigned)(n % 5));
	n += mmio_hit(0xb0000000, 4) + mmio_hit(0xb0000ff8, 4) + mmio_hit(0xbffffff8, 4);
	/* ECAM: read (only) every function of bus 0. */
	for (a = ECAM_BASE; a < ECAM_BASE + 0x100000; a += PAGE_SIZE) {
		for (uint64_t off = 0; off < 0x40; off += 4, n++)
			mmio_in(a + off, 4);
		mmio_in(a + 0xffc, 4);
		mmio_in(a + 0x100, 8);
		mmio_in(a + 0x3, 1);
		n += 3;
	}
	/* The hole, at the stride, at a moving offset in each page. */
	for (a = 0xc0000000ull; a < 0x100000000ull; a += stride) {
		uint64_t at = a + ((n * 8) & (PAGE_SIZE - 8) & (stride - 1));

		if (at >= ECAM_BASE && at < ECAM_BASE + ECAM_SIZE) {
			mmio_in(at, 4); /* config space is mode=pci's to write */
			n++;
		} else if (!in_apic_page(at)) {
			n += mmio_hit(at, (unsigned)(n % 5));
		}
	}
	/* First and last bytes of each page around the APICs, and the top of 4 GiB. */
	static const uint64_t edges[] = {0xfebff000, 0xfec01000, 0xfedff000, 0xfee01000,
					 0xfffff000, 0xc0000000};
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		n += mmio_hit(edges[i], 4);
		n += mmio_hit(edges[i] + PAGE_SIZE - 8, 4);
	}
	mmio_out(0xffffffff, 1, 0xff);
	mmio_in(0xffffffff, 1);
	/* Misaligned and page-crossing: KVM splits them into two exits. */
	mmio_out(0xc0000001, 4, rnd());
	mmio_in(0xc0000003, 8);
	mmio_out(0xc0000ffe, 4, rnd());
	mmio_in(0xc0000ffc, 8);
	mmio_out(0xfebffffc, 8, pattern64(4)); /* unbacked, then the IOAPIC */
	mmio_in(0xfebffffc, 8);
	mmio_out(0xfee00ffc, 8, pattern64(4) & 0xffffffff); /* LAPIC, then unbacked */
	mmio_in(0xfee00ffc, 8);
	n += 8;
	/* Half RAM, half hole: the RAM half must be written, the rest goes to kvmm. */
	if (top && top < 0xc0000000ull) {
		ram_edge = (volatile uint8_t *)(uintptr_t)(top - 4);
		before = *(volatile uint32_t *)ram_edge;
		*(volatile uint64_t *)ram_edge = 0xdeadbeef12345678ull;
		after = *(volatile uint32_t *)ram_edge;
		(void)*(volatile uint64_t *)ram_edge;
		if (after != 0x12345678)
			printf("hostile: note: RAM half of a RAM/MMIO straddling write: 0x%x (was 0x%x)\n",
			       after, before);
		n += 4;
	}
	n += mmio_ioapic();
	n += mmio_lapic();
	printf("hostile: mmio done: %lu accesses in %lu ms\n", n, ms_since(t0));
	check_fw_cfg();
}

/*
 * Instructions the host must emulate on MMIO (locked RMW, string moves, 16-byte
 * SSE, fxsave, a stack in MMIO) and, last, an instruction fetch from MMIO: a
 * separate mode, because the platform's instruction emulator may refuse some
 * (PVM: cmpxchg16b), which kvmm legitimately reports as a guest crash.
 * insn=NAME runs only that step.
 */
#define MMIO_SCRATCH 0xd0000000ull

static void insn_rmw(void)
{
	volatile uint64_t *p = (volatile uint64_t *)MMIO_SCRATCH;
	uint64_t v = 0x1122334455667788ull, expect = 0, desired = 5;

	__asm__ volatile("xchg %0, %1" : "+r"(v), "+m"(*p)::"memory");
	__asm__ volatile("lock xaddq %0, %1" : "+r"(v), "+m"(*p)::"memory");
	__asm__ volatile("lock orq $1, %0" : "+m"(*p)::"memory");
	__asm__ volatile("lock cmpxchgq %2, %1" : "+a"(expect), "+m"(*p) : "r"(desired) : "memory");
	__asm__ volatile("movnti %1, %0" : "=m"(*p) : "r"(v) : "memory");
}

static void insn_string(void)
{
	static uint8_t buf[64];
	void *dst = buf;
	const void *src = (const void *)MMIO_SCRATCH;
	size_t cnt = sizeof(buf);

	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(cnt)::"memory");
	dst = (void *)MMIO_SCRATCH, cnt = 64;
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(cnt) : "a"(0xab) : "memory");
	dst = (void *)MMIO_SCRATCH, cnt = 8;
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(cnt) : "a"(0xab) : "memory");
	dst = (void *)MMIO_SCRATCH, src = buf, cnt = sizeof(buf);
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(cnt)::"memory");
	dst = (void *)MMIO_SCRATCH, src = (const void *)(MMIO_SCRATCH + 0x1000), cnt = 16;
	__asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(cnt)::"memory");
}

static void insn_sse(void)
{
	__asm__ volatile("movdqu %0, %%xmm0\n\tmovdqu %%xmm0, %0"
			 : "+m"(*(volatile char(*)[16])MMIO_SCRATCH)::"xmm0", "memory");
}

static void insn_stack(void)
{
	__asm__ volatile("pushq %0\n\tpopq %0" : "+m"(*(volatile uint64_t *)MMIO_SCRATCH)::"memory");
}

static void insn_fxsave(void)
{
	static uint8_t fx[512] __attribute__((aligned(16)));

	__asm__ volatile("fxsave %0" : "=m"(fx));
	__asm__ volatile("fxsave %0" : "=m"(*(volatile char(*)[512])(MMIO_SCRATCH + 0x2000))::"memory");
	__asm__ volatile("fxrstor %0" ::"m"(fx));
}

static void insn_cmpxchg16b(void)
{
	uint64_t lo = 0, hi = 0;

	__asm__ volatile("lock cmpxchg16b %2"
			 : "+a"(lo), "+d"(hi), "+m"(*(volatile char(*)[16])MMIO_SCRATCH)
			 : "b"(1ull), "c"(2ull)
			 : "memory");
}

static void insn_exec(void)
{
	/* No instruction can be fetched from the hole: kvmm reports a guest crash. */
	((void (*)(void))(MMIO_SCRATCH + 0x3000))();
}

static const struct {
	const char *name;
	void (*fn)(void);
} insn_steps[] = {
	{"rmw", insn_rmw},       {"string", insn_string},         {"sse", insn_sse},
	{"stack", insn_stack},   {"fxsave", insn_fxsave},         {"cmpxchg16b", insn_cmpxchg16b},
	{"exec", insn_exec},
};

static void mode_mmioinsn(void)
{
	size_t len = 0;
	const char *only = kit_arg(g_bi, "insn", &len);
	bool ran = false;

	printf("hostile: mmioinsn begin\n");
	for (size_t i = 0; i < sizeof(insn_steps) / sizeof(insn_steps[0]); i++) {
		if (only && (strlen(insn_steps[i].name) != len || strncmp(insn_steps[i].name, only, len)))
			continue;
		printf("hostile: mmioinsn %s\n", insn_steps[i].name);
		insn_steps[i].fn();
		printf("hostile: mmioinsn %s ok\n", insn_steps[i].name);
		ran = true;
	}
	if (!ran) {
		printf("hostile: unknown insn=...\n");
		exit(EXIT_BAD_ARG);
	}
	printf("hostile: mmioinsn done\n");
}

/* ---- UART: a flood with register abuse in between ---------------------------------- */
static uint8_t flood_buf[4096];

static void mode_uart(void)
{
	uint64_t kb = 10240, target, delivered = 0, written = 0, t0, ms;
	uint8_t lcr = 0x03, mcr = 0x03;

	kit_arg_u64(g_bi, "uart_kb", &kb);
	target = kb * 1024;
	kit_io_allow(COM1, 8);
	for (size_t i = 0; i < sizeof(flood_buf); i++)
		flood_buf[i] = (uint8_t)rnd();
	uart_sane();
	printf("hostile: uart flood of %lu bytes begins after this line\n", target);
	t0 = rdtsc();
	while (delivered < target) {
		bool through = !(lcr & 0x80) && !(mcr & 0x10);
		size_t off = rnd() % 64, n = 1 + rnd() % (sizeof(flood_buf) - off);

		if (through && n > target - delivered)
			n = (size_t)(target - delivered);
		outsb(COM1, flood_buf + off, n);
		written += n;
		if (through)
			delivered += n;
		/* Now and then, abuse the other registers (and never print meanwhile). */
		switch (rnd() % 8) {
		case 0: { /* any register, any value */
			unsigned reg = 1 + rnd() % 7;
			uint8_t v = (uint8_t)rnd();

			outb((uint16_t)(COM1 + reg), v);
			if (reg == 3)
				lcr = v;
			if (reg == 4)
				mcr = v & 0x1f;
			break;
		}
		case 1: /* DLAB on, divisor, DLAB off */
			outb(COM1 + 3, lcr | 0x80);
			outb(COM1, (uint8_t)rnd());
			outb(COM1 + 1, (uint8_t)rnd());
			outb(COM1 + 3, lcr & 0x7f);
			lcr &= 0x7f;
			break;
		case 2: /* loopback with interrupts, reading back */
			outb(COM1 + 4, 0x1f);
			outb(COM1 + 1, 0x0f);
			outb(COM1, (uint8_t)rnd());
			insb(COM1, flood_buf + 4000, 32);
			inb(COM1 + 2);
			inb(COM1 + 5);
			inb(COM1 + 6);
			outb(COM1 + 4, mcr);
			break;
		case 3: /* FIFO games, status reads */
			outb(COM1 + 2, (uint8_t)rnd());
			insb(COM1 + 2, flood_buf + 4000, 16);
			insb(COM1 + 5, flood_buf + 4000, 16);
			break;
		default: /* mostly: back to a configuration that reaches the host */
			if (lcr & 0x80) {
				lcr = 0x03;
				outb(COM1 + 3, lcr);
			}
			if (mcr & 0x10) {
				mcr = 0x03;
				outb(COM1 + 4, mcr);
			}
			break;
		}
	}
	ms = ms_since(t0);
	uart_sane();
	printf("\nhostile: uart flood end: %lu bytes reached the host, %lu written, in %lu ms\n",
	       delivered, written, ms);
	printf("hostile: uart done\n");
}

/* ---- resetloop ---------------------------------------------------------------------- */
static volatile bool aps_go, ap_hammer;

static void hammer_devices(void)
{
	for (;;) {
		outb(COM1 + 7, (uint8_t)rdtsc()); /* UART scratch */
		inb(COM1 + 5);
		inl(0x608); /* PM timer */
		outb(0x70, 0x0a);
		inb(0x71);
		outw(0x510, 0);
		inb(0x511);
		inb(0x64);
	}
}

static void reset_now(const char *how)
{
	if (!strcmp(how, "8042")) {
		outb(0x64, 0xfe);
	} else if (!strcmp(how, "cf9")) {
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
	} else { /* outport: i8042 "write output port" with the reset bit low */
		outb(0x64, 0xd1);
		outb(0x60, 0x00);
	}
}

static void mode_resetloop(void)
{
	static const char *const ways[] = {"8042", "cf9", "outport"};
	const char *how = "mixed";
	char want[16];
	size_t len;
	uint64_t aps = 0;

	if ((how = kit_arg(g_bi, "reset", &len)) && len < sizeof(want)) {
		memcpy(want, how, len);
		want[len] = 0;
		how = want;
	} else {
		how = "mixed";
	}
	if (strcmp(how, "mixed") && strcmp(how, "8042") && strcmp(how, "cf9") &&
	    strcmp(how, "outport")) {
		printf("hostile: bad reset=%s\n", how);
		exit(EXIT_BAD_ARG);
	}
	if (!strcmp(how, "mixed"))
		how = ways[(rdtsc() >> 8) % 3];
	kit_arg_u64(g_bi, "aps", &aps);
	kit_io_allow(0, 0x10000);
	if (aps && g_bi->nr_cpus > 1) {
		ap_hammer = true;
		kit_smp_start(g_bi->nr_cpus, 2000000);
		aps_go = true;
	}
	printf("hostile: resetloop boot, reset via %s, %u aps busy\n", how,
	       aps_go ? kit_aps_started : 0);
	reset_now(how);
	kit_udelay(2000000);
	printf("hostile: FAIL reset via %s did not happen\n", how);
	exit(EXIT_FAIL);
}

static void race_cpu(unsigned int cpu);

void ap_main(unsigned int cpu)
{
	if (ap_hammer)
		hammer_devices(); /* until the reset takes the machine away */
	if (racing)
		race_cpu(cpu);
}

/* ---- sipi: bad INIT/SIPI sequences from the BSP ---------------------------------------- */
#define ICR_FIXED     0x000
#define ICR_LOWEST    0x100
#define ICR_SMI       0x200
#define ICR_RESERVED3 0x300
#define ICR_NMI       0x400
#define ICR_INIT      0x500
#define ICR_SIPI      0x600
#define ICR_EXTINT    0x700
#define ICR_LOGICAL   0x800
#define ICR_ASSERT    0x4000
#define ICR_LEVEL     0x8000
#define ICR_SELF      0x40000
#define ICR_ALL       0x80000
#define ICR_OTHERS    0xc0000

#define PAGE_FF   0x10000 /* SIPI vector 0x10: a page of 0xff */
#define PAGE_HLT  0x11000 /* 0x11: cli; hlt; jmp back */
#define PAGE_TF   0x12000 /* 0x12: real-mode code that triple-faults */
#define PAGE_ZERO 0x13000 /* 0x13: zeros (add [bx+si], al forever) */

static unsigned nr_cpus;

static void ipi(uint32_t dest, uint32_t lo)
{
	lapic_send_ipi(dest, lo);
}

static void others(uint32_t lo)
{
	for (uint32_t id = 1; id < nr_cpus; id++)
		ipi(id, lo);
}

static void init_then_sipi(uint32_t dest, uint32_t page)
{
	ipi(dest, ICR_INIT | ICR_ASSERT);
	kit_udelay(10000);
	ipi(dest, ICR_SIPI | ICR_ASSERT | (page >> 12));
	kit_udelay(200);
	ipi(dest, ICR_SIPI | ICR_ASSERT | (page >> 12));
}

/* Code an AP runs in real mode from CS = page >> 4, IP = 0. Each starts with
 * "mov byte cs:[0xff0], 0x42": a marker that the AP got there. */
#define MARK_OFF 0xff0
#define MARK     0x42
static void setup_sipi_pages(void)
{
	static const uint8_t mark[] = {0x2e, 0xc6, 0x06, MARK_OFF & 0xff, MARK_OFF >> 8, MARK};
	static const uint8_t hlt[] = {0xfa, 0xf4, 0xeb, 0xfd}; /* cli; 1: hlt; jmp 1b */
	/*
	 * lidt cs:[0x20] (limit 0); set CR0.PE; xor ax, ax; div ax; jmp $: a #DE in
	 * protected mode with an empty IDT, so #GP, #DF and a triple fault. (Real mode
	 * would not do: KVM's real-mode interrupt emulation ignores the IDT limit.)
	 */
	static const uint8_t tf[] = {0x2e, 0x0f, 0x01, 0x1e, 0x20, 0x00, /* lidt */
				     0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0,
				     0x31, 0xc0, 0xf7, 0xf0, 0xeb, 0xfe};

	memset((void *)PAGE_FF, 0xff, PAGE_SIZE);
	memset((void *)PAGE_HLT, 0, PAGE_SIZE);
	memcpy((uint8_t *)PAGE_HLT, mark, sizeof(mark));
	memcpy((uint8_t *)PAGE_HLT + sizeof(mark), hlt, sizeof(hlt));
	memset((void *)PAGE_TF, 0, PAGE_SIZE);
	memcpy((void *)PAGE_TF, mark, sizeof(mark));
	memcpy((uint8_t *)PAGE_TF + sizeof(mark), tf, sizeof(tf));
	memset((void *)PAGE_ZERO, 0, PAGE_SIZE);
}

/* Whether an AP ran the code at page (and clears the marker). */
static bool page_ran(uint32_t page)
{
	volatile uint8_t *m = (volatile uint8_t *)(uintptr_t)(page + MARK_OFF);
	bool ran = *m == MARK;

	*m = 0;
	return ran;
}

static void sipi_no_init(void)
{
	for (int i = 0; i < 3; i++)
		others(ICR_SIPI | ICR_ASSERT | (PAGE_HLT >> 12));
	others(ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
	kit_udelay(10000);
	/* An AP that never had an INIT must ignore SIPIs (SDM 8.4.4.1, 10.6.1). */
	if (page_ran(PAGE_HLT))
		printf("hostile: note: an AP ran a SIPI without INIT\n");
}

static void sipi_page_zero(void)
{
	for (uint32_t id = 1; id < nr_cpus; id++)
		init_then_sipi(id, PAGE_ZERO);
	kit_udelay(300000); /* let them run through the zeros for a while */
}

static void sipi_page_ff(void)
{
	for (uint32_t id = 1; id < nr_cpus; id++)
		init_then_sipi(id, PAGE_FF);
	kit_udelay(300000);
}

static void sipi_triple_fault(void)
{
	for (uint32_t id = 1; id < nr_cpus; id++)
		init_then_sipi(id, PAGE_TF);
	kit_udelay(300000);
	printf("hostile: sipi an AP %s the triple-fault code\n", page_ran(PAGE_TF) ? "ran" : "did not run");
}

static void sipi_init_storm(void)
{
	for (int i = 0; i < 300; i++) {
		others(ICR_INIT | ICR_ASSERT | ICR_LEVEL);
		others(ICR_INIT | ICR_LEVEL); /* level de-assert */
		if (i % 3 == 0)
			others(ICR_SIPI | ICR_ASSERT | (PAGE_HLT >> 12));
		if (i % 7 == 0)
			others(ICR_INIT | ICR_ASSERT);
	}
}

static void sipi_bad_dest(void)
{
	/* 0xff is the broadcast address, physical and logical: not "nonexistent". */
	for (uint32_t id = nr_cpus; id < 0xff; id++) {
		ipi(id, ICR_INIT | ICR_ASSERT);
		ipi(id, ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
		ipi(id, ICR_NMI | ICR_ASSERT);
		ipi(id, ICR_FIXED | ICR_ASSERT | 0x31);
	}
	/* Logical destinations nobody has, lowest priority to nobody, vectors < 16. */
	for (uint32_t m = 0; m < 0xff; m += 0x11) {
		ipi(m, ICR_LOGICAL | ICR_INIT | ICR_ASSERT);
		ipi(m, ICR_LOGICAL | ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
		ipi(m, ICR_LOGICAL | ICR_LOWEST | ICR_ASSERT | 0x32);
	}
	others(ICR_FIXED | ICR_ASSERT | 0x01); /* illegal vectors: an APIC error */
	others(ICR_FIXED | ICR_ASSERT | 0x0f);
}

static void sipi_broadcast(void)
{
	for (int i = 0; i < 3; i++) {
		ipi(0, ICR_OTHERS | ICR_INIT | ICR_ASSERT);
		kit_udelay(10000);
		ipi(0, ICR_OTHERS | ICR_SIPI | ICR_ASSERT | (PAGE_HLT >> 12));
		ipi(0, ICR_OTHERS | ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
		ipi(0xff, ICR_SIPI | ICR_ASSERT | (PAGE_HLT >> 12)); /* broadcast, self too */
	}
	kit_udelay(100000);
	printf("hostile: sipi APs %s the broadcast SIPI's code\n", page_ran(PAGE_HLT) ? "ran" : "did not run");
}

static void sipi_init_self(void)
{
	printf("hostile: sipi INIT to self (the BSP may reset to nothing)\n");
	ipi(0, ICR_SELF | ICR_INIT | ICR_ASSERT);
	kit_udelay(100000);
	printf("hostile: sipi still alive after INIT to self; INIT to all\n");
	ipi(0, ICR_ALL | ICR_INIT | ICR_ASSERT);
	kit_udelay(100000);
	printf("hostile: sipi still alive after INIT to all; INIT to own id\n");
	ipi(lapic_id(), ICR_INIT | ICR_ASSERT);
	kit_udelay(100000);
	printf("hostile: sipi still alive after INIT to own id; INIT to 0xff\n");
	ipi(0xff, ICR_INIT | ICR_ASSERT);
	kit_udelay(100000);
	ipi(0, ICR_SELF | ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
	kit_udelay(100000);
}

static void sipi_nmi(void)
{
	uint64_t before = kit_irq_count[2];

	others(ICR_NMI | ICR_ASSERT); /* to APs that have not started */
	for (int i = 0; i < 200; i++)
		ipi(0, ICR_SELF | ICR_NMI | ICR_ASSERT);
	kit_udelay(10000);
	if (kit_irq_count[2] == before)
		printf("hostile: note: NMI to self not seen\n");
	printf("hostile: sipi %lu NMIs to self taken\n", kit_irq_count[2] - before);
}

static void sipi_nmi_running(void)
{
	uint64_t before = kit_irq_count[2], dl;

	for (int i = 0; i < 1000; i++)
		ipi(0, ICR_OTHERS | ICR_NMI | ICR_ASSERT);
	dl = kit_deadline_us(1000000);
	while (kit_irq_count[2] - before < 1000 && !kit_expired(dl))
		cpu_relax();
	printf("hostile: sipi %lu NMIs taken by running APs\n", kit_irq_count[2] - before);
}

static void sipi_restart_running(void)
{
	uint32_t before = kit_aps_started;

	/* INIT + SIPI to the kit's trampoline again: the AP rejoins with a new index. */
	for (uint32_t id = 1; id < nr_cpus; id++)
		init_then_sipi(id, KIT_TRAMP_BASE);
	kit_udelay(200000);
	printf("hostile: sipi %u APs restarted\n", kit_aps_started - before);
	if (kit_aps_started - before != nr_cpus - 1)
		printf("hostile: note: not every restarted AP came back\n");
	/* And a SIPI to a running AP, which it must ignore. */
	others(ICR_SIPI | ICR_ASSERT | (PAGE_FF >> 12));
	kit_udelay(10000);
}

static void sipi_smi_nmi_modes(void)
{
	/* Reserved and odd delivery modes to the APs (not to ourselves). */
	others(ICR_RESERVED3 | ICR_ASSERT | 0x40);
	others(ICR_EXTINT | ICR_ASSERT | 0x40);
	others(ICR_SMI | ICR_ASSERT);
	kit_udelay(10000);
}

static void sipi_smi_self(void)
{
	printf("hostile: sipi SMI to self\n");
	ipi(0, ICR_SELF | ICR_SMI | ICR_ASSERT);
	kit_udelay(100000);
	printf("hostile: sipi still alive after SMI to self\n");
}

static const struct {
	const char *name;
	void (*fn)(void);
	bool after_start; /* the APs are started (kit_smp_start) before the case */
} sipi_cases[] = {
	{"sipi-without-init", sipi_no_init, false},
	{"sipi-to-page-of-zeros", sipi_page_zero, false},
	{"sipi-to-page-of-ff", sipi_page_ff, false},
	{"sipi-to-triple-fault", sipi_triple_fault, false},
	{"init-storm", sipi_init_storm, false},
	{"nonexistent-destinations", sipi_bad_dest, false},
	{"broadcast-init-sipi", sipi_broadcast, false},
	{"init-to-self", sipi_init_self, false},
	{"nmi-before-start", sipi_nmi, false},
	{"nmi-to-running", sipi_nmi_running, true},
	{"restart-running-ap", sipi_restart_running, true},
	{"odd-delivery-modes", sipi_smi_nmi_modes, false},
	{"smi-to-self", sipi_smi_self, false},
};
#define SIPI_CASES (sizeof(sipi_cases) / sizeof(sipi_cases[0]))

static void mode_sipi(void)
{
	uint64_t k = 0;
	unsigned online;

	nr_cpus = g_bi->nr_cpus;
	if (!kit_arg_u64(g_bi, "sipi", &k) || k < 1 || k > SIPI_CASES) {
		printf("hostile: sipi=K needs K in 1..%zu\n", SIPI_CASES);
		exit(EXIT_BAD_ARG);
	}
	if (nr_cpus < 2 || nr_cpus > KIT_MAX_CPUS) {
		printf("hostile: sipi needs 2..%u cpus, have %u\n", KIT_MAX_CPUS, nr_cpus);
		exit(EXIT_BAD_ARG);
	}
	setup_sipi_pages();
	lapic_enable();
	printf("hostile: sipi %lu %s begin (%u cpus)\n", k, sipi_cases[k - 1].name, nr_cpus);
	if (sipi_cases[k - 1].after_start) {
		online = kit_smp_start(nr_cpus, 5000000);
		printf("hostile: sipi %u/%u APs started first\n", online, nr_cpus - 1);
	}
	sipi_cases[k - 1].fn();
	printf("hostile: sipi %lu survived, bsp apic id %u\n", k, lapic_id());
	if (!sipi_cases[k - 1].after_start) {
		/* The APs must still start the proper way afterwards. */
		online = kit_smp_start(nr_cpus, 5000000);
		printf("hostile: sipi %u/%u APs online afterwards\n", online, nr_cpus - 1);
		if (online != nr_cpus - 1)
			printf("hostile: note: not every AP came online after %s\n",
			       sipi_cases[k - 1].name);
	}
	printf("hostile: sipi done\n");
}

/* ---- race: every CPU at kvmm's devices at once -------------------------------------- */
/*
 * kvmm's own devices (not KVM's PIC and PIT, which a concurrent reprogramming
 * could aim at exception vectors) and the unhandled ports around them, hit
 * from every CPU for ms= milliseconds (default 3000) with tamed random values.
 */
static const struct {
	uint16_t first, last;
} race_ports[] = {
	{0x60, 0x60}, {0x64, 0x64}, {0x70, 0x71}, {0x80, 0x80}, {0x3f8, 0x3ff},
	{0x510, 0x51b}, {0x600, 0x63f}, {0xcf8, 0xcff},
};
static volatile uint64_t race_deadline;
static volatile uint32_t race_finished;
static volatile uint64_t race_accesses;

static void race_cpu(unsigned int cpu)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (cpu + 1), n = 0;
	uint32_t total = 0;

	for (size_t i = 0; i < sizeof(race_ports) / sizeof(race_ports[0]); i++)
		total += race_ports[i].last - race_ports[i].first + 1u;
	while (!kit_expired(race_deadline)) {
		uint32_t pick, v;
		unsigned w;
		uint16_t port = 0;

		x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
		v = (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
		pick = (uint32_t)(x % total);
		for (size_t i = 0; i < sizeof(race_ports) / sizeof(race_ports[0]); i++) {
			uint32_t len = race_ports[i].last - race_ports[i].first + 1u;

			if (pick < len) {
				port = (uint16_t)(race_ports[i].first + pick);
				break;
			}
			pick -= len;
		}
		w = 1u << ((x >> 40) % 3);
		if ((x >> 50) & 1)
			port_in(port, w);
		else
			port_hit(port, w, v);
		n++;
	}
	__atomic_add_fetch(&race_accesses, n, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&race_finished, 1, __ATOMIC_SEQ_CST);
}

static void mode_race(void)
{
	uint64_t ms = 3000, dl;
	unsigned int n = g_bi->nr_cpus, started = 0;

	kit_arg_u64(g_bi, "ms", &ms);
	kit_io_allow(0, 0x10000);
	printf("hostile: race begin (%u cpus, %lu ms)\n", n, ms);
	race_deadline = kit_deadline_us(ms * 1000 + 500000);
	racing = true;
	if (n > 1)
		started = kit_smp_start(n, 5000000);
	race_cpu(0);
	dl = kit_deadline_us(5000000);
	while (race_finished < started + 1 && !kit_expired(dl))
		cpu_relax();
	racing = false;
	uart_sane();
	i8042_drain();
	printf("hostile: race done: %u cpus, %lu accesses\n", race_finished, race_accesses);
	if (race_finished != n)
		FAIL("race: only %u of %u cpus finished\n", race_finished, n);
	check_fw_cfg();
}

/* ---- PCI: BARs where they must not be ------------------------------------------------- */
#define PCI_COMMAND	0x04
#define PCI_CMD_MEMORY	0x2
#define PCI_BAR0	0x10
#define PCI_BAR_MEM64	0x4
#define PCI_BAR_IO	0x1
#define PCI_MAX_SLOT	32

struct pci_fn {
	unsigned int slot;
	uint32_t saved[64]; /* config dwords 0x00-0xff as found */
	uint64_t bar_size[6];
	bool bar64[6];
	uint64_t probe_addr; /* a BAR to read through afterwards (BAR 4 on virtio), or 0 */
	uint16_t probe_val;
};

static struct pci_fn pci_fns[PCI_MAX_SLOT];

/* A RAM read the compiler cannot see through (address 0 is RAM here, not NULL). */
static uint64_t peek64(uint64_t addr)
{
	uint64_t v;
	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}
static unsigned int pci_nfns;

static uint64_t bar_get(unsigned int slot, unsigned int bar, bool is64)
{
	uint64_t v = kit_pci_read32(slot, PCI_BAR0 + 4 * bar) & ~0xfull;
	if (is64)
		v |= (uint64_t)kit_pci_read32(slot, PCI_BAR0 + 4 * bar + 4) << 32;
	return v;
}

static void bar_set(unsigned int slot, unsigned int bar, bool is64, uint64_t addr)
{
	kit_pci_write32(slot, PCI_BAR0 + 4 * bar, (uint32_t)addr);
	if (is64)
		kit_pci_write32(slot, PCI_BAR0 + 4 * bar + 4, (uint32_t)(addr >> 32));
}

/* Sizes every memory BAR the way firmware does (all ones, read back), decoding off. */
static void pci_scan(void)
{
	for (unsigned int slot = 1; slot < PCI_MAX_SLOT; slot++) {
		struct pci_fn *f = &pci_fns[pci_nfns];

		if (kit_pci_read16(slot, 0) == 0xffff)
			continue;
		f->slot = slot;
		for (unsigned int i = 0; i < 64; i++)
			f->saved[i] = kit_pci_read32(slot, 4 * i);
		kit_pci_write16(slot, PCI_COMMAND, (uint16_t)(f->saved[1] & ~3u));
		for (unsigned int b = 0; b < 6; b++) {
			uint32_t lo = f->saved[4 + b];
			uint64_t mask;

			if (lo & PCI_BAR_IO)
				continue;
			f->bar64[b] = lo & PCI_BAR_MEM64;
			bar_set(slot, b, f->bar64[b], ~0ull);
			mask = bar_get(slot, b, f->bar64[b]);
			/* An unimplemented BAR reads back 0 (PCI 3.0, 6.2.5.1). */
			if (!f->bar64[b] && mask)
				mask |= 0xffffffff00000000ull;
			f->bar_size[b] = mask ? ~mask + 1 : 0;
			bar_set(slot, b, f->bar64[b],
				(uint64_t)f->saved[4 + b] | (f->bar64[b] ? (uint64_t)f->saved[5 + b] << 32 : 0));
			if (f->bar64[b])
				b++;
		}
		kit_pci_write16(slot, PCI_COMMAND, (uint16_t)f->saved[1]);
		/* virtio: num_queues in the common configuration, BAR 4 offset 0x12 (kvmm's layout). */
		if ((f->saved[0] & 0xffff) == 0x1af4 && f->bar_size[4]) {
			f->probe_addr = bar_get(slot, 4, f->bar64[4]);
			if (f->probe_addr && f->probe_addr + 0x14 <= 0x100000000ull) {
				kit_pci_write16(slot, PCI_COMMAND, (uint16_t)(f->saved[1] | PCI_CMD_MEMORY));
				f->probe_val = *(volatile uint16_t *)(uintptr_t)(f->probe_addr + 0x12);
			} else {
				f->probe_addr = 0;
			}
		}
		printf("hostile: pci slot %u id %04x:%04x bars", slot, f->saved[0] & 0xffff,
		       f->saved[0] >> 16);
		for (unsigned int b = 0; b < 6; b++)
			if (f->bar_size[b])
				printf(" %u:0x%lx", b, f->bar_size[b]);
		printf("\n");
		pci_nfns++;
	}
}

/* Reads (and where it is not RAM or an APIC, writes) a few places of a BAR at addr. */
static unsigned int bar_touch(uint64_t addr, uint64_t size, bool writes)
{
	unsigned int n = 0;

	if (addr >= 0x100000000ull && !kit_map_mmio(addr & ~0x1fffffull, 0x400000))
		return 0;
	for (uint64_t off = 0; off < size && off < 0x4000; off += 0x1000, n++) {
		volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)(addr + off);

		(void)peek64(addr + off);
		if (writes)
			*p = rnd();
	}
	return n;
}

static void mode_pci(void)
{
	uint64_t t0 = rdtsc(), lapic_before = lapic_read(LAPIC_ID), ram_before[2];
	unsigned int placed = 0, touched = 0, cfg_writes = 0;
	uint64_t low = low_ram_end();

	pci_scan();
	if (!pci_nfns) {
		printf("hostile: FAIL pci: no device on bus 0 (run with --device/--disk)\n");
		failed = true;
		return;
	}
	ram_before[0] = peek64(0);
	ram_before[1] = peek64(0x100000);
	for (unsigned int i = 0; i < pci_nfns; i++) {
		struct pci_fn *f = &pci_fns[i];

		for (unsigned int b = 0; b < 6; b++) {
			uint64_t size = f->bar_size[b], other = 0;

			if (!size)
				continue;
			/* Another device's (or this one's other) BAR, as found. */
			for (unsigned int j = 0; j < pci_nfns && !other; j++)
				for (unsigned int ob = 0; ob < 6 && !other; ob++)
					if ((j != i || ob != b) && pci_fns[j].bar_size[ob])
						other = bar_get(pci_fns[j].slot, ob, pci_fns[j].bar64[ob]);
			const struct {
				uint64_t addr;
				bool writes; /* not over RAM or an APIC */
			} where[] = {
				{0, false},
				{0x100000, false},
				{(low - size) & ~(size - 1), false},
				{0xfec00000, false},
				{0xfee00000, false},
				{ECAM_BASE, false},
				{other & ~(size - 1), true},
				{(0x100000000ull - size), true},
				{0xd0000000, true},
				{f->bar64[b] ? 0x7f00000000ull : 0xc8000000, true},
			};
			for (size_t k = 0; k < sizeof(where) / sizeof(where[0]); k++) {
				if (!f->bar64[b] && where[k].addr >= 0x100000000ull)
					continue;
				kit_pci_write16(f->slot, PCI_COMMAND, (uint16_t)(f->saved[1] & ~3u));
				bar_set(f->slot, b, f->bar64[b], where[k].addr);
				kit_pci_write16(f->slot, PCI_COMMAND,
						(uint16_t)(f->saved[1] | PCI_CMD_MEMORY));
				touched += bar_touch(where[k].addr, size, where[k].writes);
				placed++;
			}
			if (f->bar64[b])
				b++;
		}
		/* Every dword of configuration space, random values, decoding on and off. */
		for (unsigned int off = 0; off < 0x100; off += 4, cfg_writes++)
			kit_pci_write32(f->slot, off, rnd());
		kit_pci_write16(f->slot, PCI_COMMAND, 0);
		for (unsigned int off = 0x3c; off >= 0x10; off -= 4)
			kit_pci_write32(f->slot, off, f->saved[off / 4]);
		for (unsigned int off = 0x40; off < 0x100; off += 4)
			kit_pci_write32(f->slot, off, f->saved[off / 4]);
		kit_pci_write32(f->slot, PCI_COMMAND, f->saved[1]);
	}
	/* What the guest could not have changed through PCI must read as before. */
	if (peek64(0) != ram_before[0] || peek64(0x100000) != ram_before[1]) {
		printf("hostile: FAIL pci: RAM under a BAR changed\n");
		failed = true;
	}
	if (lapic_read(LAPIC_ID) != lapic_before) {
		printf("hostile: FAIL pci: the LAPIC under a BAR changed\n");
		failed = true;
	}
	for (unsigned int i = 0; i < pci_nfns; i++) {
		struct pci_fn *f = &pci_fns[i];
		uint16_t v;

		if (kit_pci_read32(f->slot, 0) != f->saved[0]) {
			printf("hostile: FAIL pci: slot %u changed identity\n", f->slot);
			failed = true;
		}
		if (!f->probe_addr)
			continue;
		v = *(volatile uint16_t *)(uintptr_t)(f->probe_addr + 0x12);
		if (v != f->probe_val) {
			printf("hostile: FAIL pci: slot %u num_queues 0x%x, was 0x%x\n", f->slot, v,
			       f->probe_val);
			failed = true;
		}
	}
	printf("hostile: pci done (%u devices, %u placements, %u BAR pages touched, %u config "
	       "writes, %lu ms)\n",
	       pci_nfns, placed, touched, cfg_writes, ms_since(t0));
}

/* ---- modes ------------------------------------------------------------------------------ */
static const struct {
	const char *name;
	void (*fn)(void);
	bool in_all;
} modes[] = {
	{"ports", mode_ports, true},
	{"fwcfg", mode_fwcfg, true},
	{"mmio", mode_mmio, true},
	{"uart", mode_uart, true},
	{"mmioinsn", mode_mmioinsn, false},
	{"resetloop", mode_resetloop, false},
	{"sipi", mode_sipi, false},
	{"race", mode_race, false},
	{"pci", mode_pci, false},
};
#define NR_MODES (sizeof(modes) / sizeof(modes[0]))

/* The host's files must not change whatever the guest does with its copies. */
static void scribble_modules(void)
{
	for (uint32_t i = 0; i < g_bi->nr_modules; i++) {
		const struct kit_module *m = &g_bi->modules[i];

		memset((void *)(uintptr_t)m->start, 0xff, (size_t)(m->end - m->start));
		printf("hostile: scribbled over module %u (%lu bytes)\n", i, m->end - m->start);
	}
}

void test_main(const struct boot_info *bi)
{
	const char *mode;
	size_t len;
	bool all, ran = false;

	g_bi = bi;
	kit_arg_u64(bi, "seed", &rng);
	if (!rng)
		rng = 1;
	kit_tsc_khz(); /* calibrate before anything touches the PIT */
	mode = kit_arg(bi, "mode", &len);
	if (!mode) {
		printf("hostile: mode=... is required\n");
		exit(EXIT_BAD_ARG);
	}
	all = len == 3 && !strncmp(mode, "all", 3);
	scribble_modules();
	for (size_t i = 0; i < NR_MODES; i++) {
		if (all ? !modes[i].in_all
			: strlen(modes[i].name) != len || strncmp(modes[i].name, mode, len))
			continue;
		modes[i].fn();
		ran = true;
	}
	if (!ran) {
		char name[32];

		if (len >= sizeof(name))
			len = sizeof(name) - 1;
		memcpy(name, mode, len);
		name[len] = 0;
		printf("hostile: unknown mode %s\n", name);
		exit(EXIT_BAD_ARG);
	}
	printf("hostile: %s\n", failed ? "FAILED" : "all done");
	exit(failed ? EXIT_FAIL : 0);
}
