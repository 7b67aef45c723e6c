/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART, following the National/TI PC16550D datasheet ("PC16550D Universal
 * Asynchronous Receiver/Transmitter with FIFOs", June 1995), section 8.0
 * "Registers": Table II (summary of registers), Table IV (interrupt control
 * functions: priorities and what resets each source), and the descriptions of the
 * line status, FIFO control, interrupt identification and enable, modem control
 * and modem status registers.
 *
 * Transmission is immediate: a THR write hands the byte to the host at once, so
 * THR/TSR are empty again before the guest can look (LSR.THRE and TEMT stay set,
 * and the THRE interrupt is re-armed after every write, as the datasheet says it is
 * when a character moves out of THR). Reception goes through the 16-byte RX FIFO
 * (1 byte in 16450 mode) fed from a host-side backlog, so host input is never lost
 * to overrun; overrun only happens in loopback, where the guest feeds itself.
 *
 * The interrupt output reaches the PC's interrupt line only while MCR.OUT2 is set:
 * on PC boards OUT2 gates the UART's INTR pin, and drivers (Linux, SeaBIOS) rely on it.
 */
#include "hw/uart8250.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets (Table II). */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI	 0x01 /* received data available (and character timeout) */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI	 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT    0x01
#define IIR_RLS	      0x06
#define IIR_RDA	      0x04
#define IIR_TIMEOUT   0x0c
#define IIR_THRE      0x02
#define IIR_MS	      0x00
#define IIR_FIFO_BITS 0xc0

#define FCR_ENABLE     0x01
#define FCR_RX_RESET   0x02
#define FCR_TX_RESET   0x04
#define FCR_DMA_MODE   0x08
#define FCR_TRIG_SHIFT 6

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	     0x01
#define LSR_OE	     0x02
#define LSR_PE	     0x04
#define LSR_FE	     0x08
#define LSR_BI	     0x10
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define LSR_ERR_BITS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS	  0x10
#define MSR_DSR	  0x20
#define MSR_RI	  0x40
#define MSR_DCD	  0x80
#define MSR_DELTA 0x0f

struct uart {
	pthread_mutex_t lock;
	char name[32];
	struct irq_sink irq;
	uint32_t gsi;
	uart_tx_fn tx;
	void *tx_opaque;

	uint8_t ier, lcr, mcr, msr, scr, dll, dlm;
	uint8_t fcr;	   /* FCR_ENABLE | FCR_DMA_MODE | trigger bits, as last written */
	uint8_t lsr_err;   /* sticky error bits (OE) until LSR is read */
	bool thr_ipending; /* THRE interrupt armed; cleared by IIR read or THR write */
	int irq_level;

	uint8_t rx_fifo[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t backlog[UART_BACKLOG_SIZE];
	unsigned bl_head, bl_count;
};

static const unsigned uart_trigger_levels[4] = {1, 4, 8, 14};

static bool uart_fifo_enabled(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

/* In 16450 mode the receiver holds a single character (RBR). */
static unsigned uart_rx_capacity(const struct uart *u)
{
	return uart_fifo_enabled(u) ? UART_FIFO_SIZE : 1;
}

static bool uart_loopback(const struct uart *u)
{
	return u->mcr & MCR_LOOP;
}

static void uart_rx_push(struct uart *u, uint8_t c)
{
	u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
	u->rx_count++;
}

/* Moves backlog into the FIFO while the external line is connected (not in loopback). */
static void uart_refill(struct uart *u)
{
	while (!uart_loopback(u) && u->bl_count && u->rx_count < uart_rx_capacity(u)) {
		uart_rx_push(u, u->backlog[u->bl_head]);
		u->bl_head = (u->bl_head + 1) % UART_BACKLOG_SIZE;
		u->bl_count--;
	}
}

static uint8_t uart_lsr(const struct uart *u)
{
	return (u->rx_count ? LSR_DR : 0) | u->lsr_err | LSR_THRE | LSR_TEMT;
}

/* Highest-priority pending interrupt, in IIR bits 0-3 form (Table IV). */
static uint8_t uart_pending(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && (u->lsr_err & LSR_ERR_BITS))
		return IIR_RLS;
	if ((u->ier & IER_RDI) && u->rx_count) {
		/*
		 * Below the trigger level the datasheet reports a character timeout
		 * after four character times of silence. We have no timer, so it is
		 * reported at once: drivers read the FIFO dry on either indication,
		 * and input is never stranded below the trigger level.
		 */
		if (uart_fifo_enabled(u) &&
		    u->rx_count < uart_trigger_levels[u->fcr >> FCR_TRIG_SHIFT])
			return IIR_TIMEOUT;
		return IIR_RDA;
	}
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return IIR_THRE;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTA))
		return IIR_MS;
	return IIR_NO_INT;
}

/* The INTR pin reaches the interrupt line only through OUT2. */
static int uart_line_level(const struct uart *u)
{
	return uart_pending(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);
}

/*
 * Drives the line to its current level. Called with the lock held so that level
 * changes from concurrent vCPUs reach the irqchip in the order they were decided;
 * the sink is a leaf (an irqchip ioctl) and never calls back into the device.
 */
static void uart_update_irq(struct uart *u)
{
	int level = uart_line_level(u);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set_level(&u->irq, u->gsi, level);
	}
}

/* Modem status inputs: wired to our own MCR outputs in loopback (MCR bit 4). */
static uint8_t uart_modem_lines(const struct uart *u)
{
	if (!uart_loopback(u))
		return MSR_CTS | MSR_DSR | MSR_DCD; /* a console that is always there */
	return ((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
	       ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0);
}

static void uart_set_modem_lines(struct uart *u)
{
	uint8_t old = u->msr, now = uart_modem_lines(u), delta = 0;

	if ((old ^ now) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI)) /* trailing edge only */
		delta |= MSR_TERI;
	if ((old ^ now) & MSR_DCD)
		delta |= MSR_DDCD;
	u->msr = now | (old & MSR_DELTA) | delta;
}

static void uart_write_fcr(struct uart *u, uint8_t val)
{
	/* Changing FIFO enable clears both FIFOs (FCR bit 0). */
	if ((val ^ u->fcr) & FCR_ENABLE)
		val |= FCR_RX_RESET | FCR_TX_RESET;
	if (val & FCR_RX_RESET) {
		u->rx_head = u->rx_count = 0;
		u->lsr_err &= (uint8_t)~LSR_OE;
	}
	if (val & FCR_TX_RESET)
		u->thr_ipending = true; /* the (already empty) transmitter is empty */
	u->fcr = val & (FCR_ENABLE | FCR_DMA_MODE | (3u << FCR_TRIG_SHIFT));
	if (!(u->fcr & FCR_ENABLE))
		u->fcr = 0;
	uart_refill(u);
}

/* Returns true when a byte was put in *txc for the host. */
static bool uart_write_reg(struct uart *u, unsigned reg, uint8_t val, uint8_t *txc)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab) {
			u->dll = val;
			break;
		}
		/* Writing THR clears the THRE interrupt; it leaves at once, re-arming it. */
		u->thr_ipending = true;
		if (uart_loopback(u)) {
			if (u->rx_count < uart_rx_capacity(u))
				uart_rx_push(u, val);
			else
				u->lsr_err |= LSR_OE; /* the new character is lost */
			break;
		}
		*txc = val;
		return true;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
			break;
		}
		/* Enabling ETBEI with THR empty interrupts at once: drivers kick TX so. */
		if ((val & IER_THRI) && !(u->ier & IER_THRI))
			u->thr_ipending = true;
		else if (!(val & IER_THRI))
			u->thr_ipending = false;
		u->ier = val & IER_MASK;
		break;
	case UART_FCR:
		uart_write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & MCR_MASK;
		uart_set_modem_lines(u);
		uart_refill(u); /* leaving loopback reconnects the line */
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR writes are factory test only */
		break;
	}
	return false;
}

static uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			return u->dll;
		if (!u->rx_count)
			return 0;
		v = u->rx_fifo[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
		u->rx_count--;
		uart_refill(u);
		return v;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_pending(u);
		if (v == IIR_THRE) /* reading IIR clears THRE when it is the source */
			u->thr_ipending = false;
		return v | (uart_fifo_enabled(u) ? IIR_FIFO_BITS : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = uart_lsr(u);
		u->lsr_err = 0;
		return v;
	case UART_MSR:
		v = u->msr;
		u->msr &= (uint8_t)~MSR_DELTA;
		return v;
	default:
		return u->scr;
	}
}

void uart_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct uart *u = opaque;
	uint8_t txbuf[UART_NR_REGS];
	size_t ntx = 0;

	pthread_mutex_lock(&u->lock);
	/* The registers are bytes; a wide access is that many byte cycles in a row. */
	for (uint32_t i = 0; i < len; i++) {
		uint64_t reg = offset + i;

		if (reg >= UART_NR_REGS) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write) {
			if (uart_write_reg(u, (unsigned)reg, data[i], &txbuf[ntx]))
				ntx++;
		} else {
			data[i] = uart_read_reg(u, (unsigned)reg);
		}
		uart_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	/* Outside the lock: the console may block, or feed input straight back. */
	for (size_t i = 0; i < ntx; i++)
		if (u->tx)
			u->tx(u->tx_opaque, &txbuf[i], 1);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* Straight into the FIFO only when nothing older waits in the backlog. */
	while (n < len && !uart_loopback(u) && !u->bl_count && u->rx_count < uart_rx_capacity(u))
		uart_rx_push(u, buf[n++]);
	while (n < len && u->bl_count < UART_BACKLOG_SIZE) {
		u->backlog[(u->bl_head + u->bl_count) % UART_BACKLOG_SIZE] = buf[n++];
		u->bl_count++;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart_rx_space(struct uart *u)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	if (!uart_loopback(u) && !u->bl_count)
		n = uart_rx_capacity(u) - u->rx_count;
	n += UART_BACKLOG_SIZE - u->bl_count;
	pthread_mutex_unlock(&u->lock);
	return n;
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; u8 IER, LCR, MCR, MSR
 * (with its delta bits), SCR, DLL, DLM, FCR (as kept: enable, DMA mode, trigger),
 * the sticky LSR error bits and the THRE-interrupt flag (0/1); u8 RX count and
 * that many bytes, oldest first; u16 backlog count and that many bytes, oldest
 * first. LSR.DR/THRE/TEMT, IIR and the line level follow from these.
 */
#define UART_STATE_VERSION 1

int uart_save(struct uart *u, struct state_buf *b)
{
	pthread_mutex_lock(&u->lock);
	state_put_u32(b, UART_STATE_VERSION);
	state_put_u8(b, u->ier);
	state_put_u8(b, u->lcr);
	state_put_u8(b, u->mcr);
	state_put_u8(b, u->msr);
	state_put_u8(b, u->scr);
	state_put_u8(b, u->dll);
	state_put_u8(b, u->dlm);
	state_put_u8(b, u->fcr);
	state_put_u8(b, u->lsr_err);
	state_put_u8(b, u->thr_ipending);
	state_put_u8(b, (uint8_t)u->rx_count);
	for (unsigned i = 0; i < u->rx_count; i++)
		state_put_u8(b, u->rx_fifo[(u->rx_head + i) % UART_FIFO_SIZE]);
	state_put_u16(b, (uint16_t)u->bl_count);
	for (unsigned i = 0; i < u->bl_count; i++)
		state_put_u8(b, u->backlog[(u->bl_head + i) % UART_BACKLOG_SIZE]);
	pthread_mutex_unlock(&u->lock);
	return b->error;
}

/* Reads and checks the fields into t; the reader's error says whether they are usable. */
static void uart_read_state(struct uart *t, struct state_reader *r)
{
	uint8_t thr;

	if (state_get_u32(r) != UART_STATE_VERSION)
		state_reader_fail(r);
	t->ier = state_get_u8(r);
	t->lcr = state_get_u8(r);
	t->mcr = state_get_u8(r);
	t->msr = state_get_u8(r);
	t->scr = state_get_u8(r);
	t->dll = state_get_u8(r);
	t->dlm = state_get_u8(r);
	t->fcr = state_get_u8(r);
	t->lsr_err = state_get_u8(r);
	thr = state_get_u8(r);
	t->thr_ipending = thr;
	if ((t->ier & ~IER_MASK) || (t->mcr & ~MCR_MASK) || (t->lsr_err & ~LSR_ERR_BITS) || thr > 1)
		state_reader_fail(r);
	/* What uart_write_fcr can leave: 0, or enabled with DMA mode and a trigger level. */
	if ((t->fcr & ~(FCR_ENABLE | FCR_DMA_MODE | (3u << FCR_TRIG_SHIFT))) ||
	    (t->fcr && !(t->fcr & FCR_ENABLE)))
		state_reader_fail(r);
	/* The MSR's line bits always mirror the inputs (MCR in loopback); deltas are free. */
	if ((t->msr & (uint8_t)~MSR_DELTA) != uart_modem_lines(t))
		state_reader_fail(r);

	t->rx_head = 0;
	t->rx_count = state_get_u8(r);
	if (t->rx_count > uart_rx_capacity(t)) {
		state_reader_fail(r);
		return;
	}
	state_get_bytes(r, t->rx_fifo, t->rx_count);
	t->bl_head = 0;
	t->bl_count = state_get_u16(r);
	if (t->bl_count > UART_BACKLOG_SIZE) {
		state_reader_fail(r);
		return;
	}
	state_get_bytes(r, t->backlog, t->bl_count);
	/* With the line connected the backlog only waits behind a full receiver. */
	if (!uart_loopback(t) && t->bl_count && t->rx_count < uart_rx_capacity(t))
		state_reader_fail(r);
}

int uart_load(struct uart *u, struct state_reader *r)
{
	struct uart tmp = {0}, *t = &tmp; /* only the state fields of the copy are used */

	uart_read_state(t, r);
	if (state_reader_finish(r))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->ier = t->ier;
	u->lcr = t->lcr;
	u->mcr = t->mcr;
	u->msr = t->msr;
	u->scr = t->scr;
	u->dll = t->dll;
	u->dlm = t->dlm;
	u->fcr = t->fcr;
	u->lsr_err = t->lsr_err;
	u->thr_ipending = t->thr_ipending;
	memcpy(u->rx_fifo, t->rx_fifo, sizeof(u->rx_fifo));
	u->rx_head = t->rx_head;
	u->rx_count = t->rx_count;
	memcpy(u->backlog, t->backlog, sizeof(u->backlog));
	u->bl_head = t->bl_head;
	u->bl_count = t->bl_count;
	/* The new machine's line may be anywhere: drive it, even if it seems unchanged. */
	u->irq_level = uart_line_level(u);
	irq_set_level(&u->irq, u->gsi, u->irq_level);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

struct uart *uart_create(const char *name, const struct irq_sink *irq, uint32_t gsi, uart_tx_fn tx,
			 void *tx_opaque)
{
	struct uart *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return NULL;
	rc = pthread_mutex_init(&u->lock, NULL);
	if (rc) {
		free(u);
		errno = rc;
		return NULL;
	}
	snprintf(u->name, sizeof(u->name), "%s", name ? name : "uart");
	if (irq)
		u->irq = *irq;
	u->gsi = gsi;
	u->tx = tx;
	u->tx_opaque = tx_opaque;
	u->dll = 12; /* 9600 baud from 1.8432 MHz, what a BIOS leaves */
	u->msr = uart_modem_lines(u);
	return u;
}

int uart_attach(struct uart *u, struct bus *bus, uint16_t base)
{
	return bus_register(bus, BUS_PIO, base, UART_NR_REGS, uart_io, u, u->name);
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}
