/* SPDX-License-Identifier: MIT */
/*
 * The 16550A UART (hw/uart8250.h) driven through the bus as a guest and the
 * console would: the input is a sequence of register accesses (any width the
 * bus passes), host input and guest-style "read a byte if LSR says one is
 * there". Checked against what the datasheet and uart8250.h promise:
 *   - host input is never lost, duplicated or reordered: while the guest never
 *     turned loopback on or reset the RX FIFO, the bytes it reads are exactly
 *     the bytes uart_receive accepted, and LSR.DR is set exactly when one is due;
 *   - uart_receive accepts min(len, uart_rx_space());
 *   - LSR: THRE and TEMT always set, no parity/framing/break/FIFO errors;
 *   - IIR: a defined interrupt code, FIFO bits iff FIFOs are enabled, and the
 *     interrupt line is up exactly when IIR shows one and MCR.OUT2 is set;
 *   - the scratch register and the divisor latch read back what was written.
 * The transmit callback may feed bytes straight back through uart_receive, as
 * a console may, which must not deadlock.
 */
#include "fuzz.h"
#include "hw/uart8250.h"
#include "machine/bus.h"

#define BASE UART_COM1_BASE
#define GSI  UART_COM1_GSI

#define RBR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define QCAP 8192 /* more than the FIFO and the backlog hold */

struct fuzz_uart {
	struct bus bus;
	struct uart *u;
	int level;
	bool echo;	  /* the tx callback feeds bytes back as host input */
	bool model_valid; /* the guest has not yet disturbed the receive path */
	bool fifo_on;	  /* FCR bit 0 as last written */
	/* Bytes accepted from the host that the guest has not read yet. */
	uint8_t q[QCAP];
	size_t qhead, qlen;
};

static void set_level(void *opaque, uint32_t gsi, int level)
{
	struct fuzz_uart *f = opaque;

	FUZZ_CHECK(gsi == GSI);
	FUZZ_CHECK(level == 0 || level == 1);
	f->level = level;
}

static void model_push(struct fuzz_uart *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n && f->qlen < QCAP; i++)
		f->q[(f->qhead + f->qlen++) % QCAP] = b[i];
}

/* Host input: the console thread's uart_receive, checked against uart_rx_space. */
static void host_input(struct fuzz_uart *f, const uint8_t *b, size_t n)
{
	size_t space = uart_rx_space(f->u), got = uart_receive(f->u, b, n);

	FUZZ_CHECK(got == (n < space ? n : space));
	model_push(f, b, got);
}

static void tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fuzz_uart *f = opaque;

	FUZZ_CHECK(len == 1);
	if (f->echo)
		host_input(f, buf, len); /* outside the device lock, as uart8250.h says */
}

static void io(struct fuzz_uart *f, unsigned off, uint8_t *data, uint32_t len, bool write)
{
	bus_access(&f->bus, BUS_PIO, BASE + off, data, len, write);
}

static uint8_t rd(struct fuzz_uart *f, unsigned reg)
{
	uint8_t v = 0;

	io(f, reg, &v, 1, false);
	return v;
}

static void wr(struct fuzz_uart *f, unsigned reg, uint8_t v)
{
	io(f, reg, &v, 1, true);
}

/* What a write of data[0..len) at off does to the harness's view of the device. */
static void note_write(struct fuzz_uart *f, unsigned off, const uint8_t *data, uint32_t len)
{
	if (off + len > UART_NR_REGS)
		return; /* the bus refuses it */
	for (uint32_t i = 0; i < len; i++) {
		unsigned reg = off + i;

		if (reg == FCR) {
			if ((data[i] ^ (f->fifo_on ? 1 : 0)) & 1 || data[i] & 0x02)
				f->model_valid = false; /* the RX FIFO is cleared */
			f->fifo_on = data[i] & 1;
		}
		if (reg == MCR && data[i] & 0x10)
			f->model_valid = false; /* loopback */
	}
}

static void check_lsr(uint8_t lsr)
{
	FUZZ_CHECK((lsr & 0x60) == 0x60); /* THRE, TEMT: transmission is immediate */
	FUZZ_CHECK((lsr & 0x9c) == 0);	  /* no parity, framing, break or FIFO errors */
}

/* The guest's receive loop: LSR, then RBR if DR says a byte is there. */
static void guest_read_byte(struct fuzz_uart *f)
{
	uint8_t lcr = rd(f, LCR), lsr, v;

	if (lcr & 0x80)
		wr(f, LCR, lcr & 0x7f); /* RBR needs DLAB clear */
	lsr = rd(f, LSR);
	check_lsr(lsr);
	if (f->model_valid)
		FUZZ_CHECK(!!(lsr & 1) == (f->qlen > 0));
	if (lsr & 1) {
		v = rd(f, RBR);
		if (f->model_valid) {
			FUZZ_CHECK(v == f->q[f->qhead]);
			f->qhead = (f->qhead + 1) % QCAP;
			f->qlen--;
		}
	}
	if (lcr & 0x80)
		wr(f, LCR, lcr);
}

static void check_iir(struct fuzz_uart *f)
{
	uint8_t mcr = rd(f, MCR);
	int level = f->level;
	uint8_t iir = rd(f, IIR), code = iir & 0x0f;

	FUZZ_CHECK(code == 0x01 || code == 0x06 || code == 0x04 || code == 0x0c || code == 0x02 ||
		   code == 0x00);
	FUZZ_CHECK((iir & 0x30) == 0);
	FUZZ_CHECK((iir & 0xc0) == (f->fifo_on ? 0xc0 : 0));
	FUZZ_CHECK(level == (code != 0x01 && (mcr & 0x08)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	struct fuzz_uart *f = calloc(1, sizeof(*f));
	struct irq_sink irq;
	uint8_t buf[64];

	if (!f)
		return 0;
	irq = (struct irq_sink){set_level, f};
	f->echo = fuzz_u8(&in) & 1;
	f->model_valid = true;
	f->u = uart_create("ttyS0", &irq, GSI, tx, f);
	if (!f->u || bus_init(&f->bus) || uart_attach(f->u, &f->bus, BASE))
		abort();

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in), v;
		unsigned off;
		uint32_t len;
		size_t n;

		switch (op % 8) {
		case 0: /* a write of any width */
			off = fuzz_u8(&in) % (UART_NR_REGS + 1);
			len = fuzz_width(&in);
			fuzz_bytes(&in, buf, len);
			note_write(f, off, buf, len);
			io(f, off, buf, len, true);
			break;
		case 1: /* a read of any width */
			off = fuzz_u8(&in) % (UART_NR_REGS + 1);
			len = fuzz_width(&in);
			io(f, off, buf, len, false);
			/* A read that consumed a byte the model expected: stop checking data. */
			if (off == RBR)
				f->model_valid = false;
			break;
		case 2: /* host input */
			n = fuzz_u8(&in);
			n = fuzz_bytes(&in, buf, n > sizeof(buf) ? sizeof(buf) : n);
			host_input(f, buf, n);
			break;
		case 3: /* a burst of host input: fills the backlog */
			memset(buf, fuzz_u8(&in), sizeof(buf));
			for (int i = 0; i < 70; i++)
				host_input(f, buf, sizeof(buf));
			break;
		case 4:
			for (n = fuzz_u8(&in) % 32 + 1; n; n--)
				guest_read_byte(f);
			break;
		case 5:
			check_iir(f);
			break;
		case 6: /* scratch and divisor latch hold what is written */
			v = fuzz_u8(&in);
			wr(f, SCR, v);
			FUZZ_CHECK(rd(f, SCR) == v);
			off = rd(f, LCR);
			wr(f, LCR, (uint8_t)(off | 0x80));
			wr(f, 0, v);
			wr(f, 1, (uint8_t)~v);
			FUZZ_CHECK(rd(f, 0) == v && rd(f, 1) == (uint8_t)~v);
			wr(f, LCR, (uint8_t)off);
			break;
		case 7:
			check_lsr(rd(f, LSR));
			v = rd(f, MSR);
			if (!(rd(f, MCR) & 0x10))
				FUZZ_CHECK((v & 0xb0) ==
					   0xb0); /* CTS, DSR, DCD: a console is there */
			break;
		}
	}
	uart_destroy(f->u);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}
