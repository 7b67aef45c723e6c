/* SPDX-License-Identifier: MIT */
/* 16550A register model, driven through the bus handler as a guest would. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/uart8250.h"
#include "state/buf.h"

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define GSI 4

struct fake {
	int level;
	int changes;
	uint8_t tx[64];
	size_t ntx;
	struct uart *u;
};

static void fake_set_level(void *opaque, uint32_t gsi, int level)
{
	struct fake *f = opaque;

	assert_int_equal(gsi, GSI);
	f->level = level;
	f->changes++;
}

static void fake_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fake *f = opaque;

	assert_int_equal(len, 1);
	if (f->ntx < sizeof(f->tx))
		f->tx[f->ntx++] = buf[0];
	/* Called outside the device lock: poking the device must not deadlock. */
	uart_io(f->u, LSR, &(uint8_t){0}, 1, false);
}

static uint8_t rd(struct fake *f, unsigned reg)
{
	uint8_t v = 0;

	uart_io(f->u, reg, &v, 1, false);
	return v;
}

static void wr(struct fake *f, unsigned reg, uint8_t v)
{
	uart_io(f->u, reg, &v, 1, true);
}

static int setup(void **state)
{
	static struct fake f;
	struct irq_sink irq = {fake_set_level, &f};

	memset(&f, 0, sizeof(f));
	f.u = uart_create("ttyS0", &irq, GSI, fake_tx, &f);
	assert_non_null(f.u);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	uart_destroy(f->u);
	return 0;
}

static void test_reset_state(void **state)
{
	struct fake *f = *state;

	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(f, MSR), 0xb0); /* DCD | DSR | CTS, no deltas */
	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, MCR), 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 0);
	assert_int_equal(uart_rx_space(f->u), 1 + UART_BACKLOG_SIZE);
}

static void test_tx_immediate(void **state)
{
	struct fake *f = *state;

	wr(f, THR, 'h');
	wr(f, THR, 'i');
	assert_int_equal(f->ntx, 2);
	assert_memory_equal(f->tx, "hi", 2);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
}

static void test_thre_interrupt(void **state)
{
	struct fake *f = *state;

	wr(f, MCR, 0x08); /* OUT2 */
	wr(f, IER, 0x02); /* enabling ETBEI with THR empty interrupts at once */
	assert_int_equal(f->level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	/* Reading IIR with THRE as the source clears it. */
	assert_int_equal(f->level, 0);
	assert_int_equal(rd(f, IIR), 0x01);
	/* Each THR write empties at once and re-arms it. */
	wr(f, THR, 'x');
	assert_int_equal(f->level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(rd(f, IIR), 0x01);
	/* Disabling the source drops it. */
	wr(f, THR, 'y');
	assert_int_equal(f->level, 1);
	wr(f, IER, 0x00);
	assert_int_equal(f->level, 0);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_iir_priorities(void **state)
{
	struct fake *f = *state;

	/* 16450 mode (one-byte receiver), loopback with every interrupt enabled. */
	wr(f, MCR, 0x10 | 0x08 | 0x02); /* LOOP | OUT2 | RTS: DSR drops */
	wr(f, IER, 0x0f);
	wr(f, THR, 'a');
	wr(f, THR, 'b');	     /* receiver already full: overrun */
	assert_int_equal(f->ntx, 0); /* loopback sends nothing out */
	assert_int_equal(f->level, 1);

	assert_int_equal(rd(f, IIR), 0x06);	   /* line status first */
	assert_int_equal(rd(f, LSR), 0x63);	   /* DR | OE | THRE | TEMT */
	assert_int_equal(rd(f, LSR), 0x61);	   /* OE cleared by the read */
	assert_int_equal(rd(f, IIR), 0x04);	   /* then received data */
	assert_int_equal(rd(f, RBR), 'a');	   /* the overrun byte was lost */
	assert_int_equal(rd(f, IIR), 0x02);	   /* then THR empty, cleared by this read */
	assert_int_equal(rd(f, IIR), 0x00);	   /* then modem status */
	assert_int_equal(rd(f, MSR), 0x90 | 0x02); /* CTS DCD, delta DSR */
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(f->level, 0);
}

static void test_fifo_trigger_levels(void **state)
{
	struct fake *f = *state;
	static const struct {
		uint8_t fcr;
		unsigned trigger;
	} cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
	uint8_t buf[UART_FIFO_SIZE];

	memset(buf, 'z', sizeof(buf));
	wr(f, MCR, 0x08);
	wr(f, IER, 0x01);
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		wr(f, FCR, cases[c].fcr | 0x02); /* also reset the RX FIFO */
		assert_int_equal(rd(f, IIR), 0xc1);
		assert_int_equal(f->level, 0);
		for (unsigned n = 1; n <= UART_FIFO_SIZE; n++) {
			assert_int_equal(uart_receive(f->u, buf, 1), 1);
			/* Below the trigger: character timeout, reported at once. */
			assert_int_equal(rd(f, IIR), n >= cases[c].trigger ? 0xc4 : 0xcc);
			assert_int_equal(f->level, 1);
		}
		/* Reading drops below the trigger again. */
		while (rd(f, LSR) & 0x01)
			rd(f, RBR);
		assert_int_equal(rd(f, IIR), 0xc1);
		assert_int_equal(f->level, 0);
	}
}

static void test_overrun_fifo(void **state)
{
	struct fake *f = *state;

	wr(f, FCR, 0x07); /* FIFO on, both reset */
	wr(f, MCR, 0x10);
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		wr(f, THR, (uint8_t)i);
	assert_int_equal(rd(f, LSR) & 0x03, 0x03);
	assert_int_equal(rd(f, LSR) & 0x02, 0);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(rd(f, RBR), i);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
}

static void test_loopback_modem_lines(void **state)
{
	struct fake *f = *state;

	rd(f, MSR);
	wr(f, MCR, 0x10 | 0x0a); /* what Linux's autoconfig checks: expects 0x90 */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90);
	wr(f, MCR, 0x10 | 0x05); /* DTR and OUT1 -> DSR and RI */
	uint8_t msr = rd(f, MSR);
	assert_int_equal(msr & 0xf0, 0x60);
	wr(f, MCR, 0x10); /* RI falls: trailing-edge RI */
	assert_int_equal(rd(f, MSR) & 0x04, 0x04);
	assert_int_equal(rd(f, MSR) & 0x0f, 0); /* deltas clear on read */
	wr(f, THR, 0x42);
	assert_int_equal(f->ntx, 0);
	assert_int_equal(rd(f, RBR), 0x42);
	wr(f, MCR, 0x00);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
	wr(f, THR, 0x43);
	assert_int_equal(f->ntx, 1);
}

static void test_divisor_latch(void **state)
{
	struct fake *f = *state;
	uint8_t two[2] = {0x34, 0x12};

	wr(f, IER, 0x05);
	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x00);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x00);
	assert_int_equal(f->ntx, 0);	  /* DLL write is not a THR write */
	uart_io(f->u, DLL, two, 2, true); /* a 16-bit write is two byte cycles */
	assert_int_equal(rd(f, DLL), 0x34);
	assert_int_equal(rd(f, DLM), 0x12);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);
	assert_int_equal(rd(f, IER), 0x05);
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, SCR, 0x5a);
	assert_int_equal(rd(f, SCR), 0x5a);
}

static void test_out2_gates_irq(void **state)
{
	struct fake *f = *state;
	const uint8_t c = 'k';

	wr(f, IER, 0x01);
	uart_receive(f->u, &c, 1);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 0);
	wr(f, MCR, 0x08);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->changes, 1);
	wr(f, SCR, 1); /* unrelated access: no redundant line update */
	assert_int_equal(f->changes, 1);
	wr(f, MCR, 0x00);
	assert_int_equal(f->level, 0);
	wr(f, MCR, 0x08);
	assert_int_equal(rd(f, RBR), 'k');
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 4);
}

static void test_receive_backlog(void **state)
{
	struct fake *f = *state;
	static uint8_t in[5000];
	size_t n;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	wr(f, FCR, 0x01);
	assert_int_equal(uart_rx_space(f->u), UART_FIFO_SIZE + UART_BACKLOG_SIZE);
	n = uart_receive(f->u, in, sizeof(in));
	assert_int_equal(n, UART_FIFO_SIZE + UART_BACKLOG_SIZE);
	assert_int_equal(uart_rx_space(f->u), 0);
	assert_int_equal(uart_receive(f->u, in + n, 1), 0);
	/* Reading refills from the backlog, in order, never overrunning. */
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(rd(f, RBR), in[i]);
	assert_int_equal(uart_rx_space(f->u), 100);
	assert_int_equal(uart_receive(f->u, in + n, sizeof(in) - n), 100);
	n += 100;
	for (size_t i = 100; i < n; i++) {
		assert_int_equal(rd(f, LSR) & 0x03, 0x01);
		assert_int_equal(rd(f, RBR), in[i]);
	}
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(uart_rx_space(f->u), UART_FIFO_SIZE + UART_BACKLOG_SIZE);
}

static void test_backlog_waits_during_loopback(void **state)
{
	struct fake *f = *state;
	const uint8_t in[3] = {1, 2, 3};

	wr(f, FCR, 0x01);
	wr(f, MCR, 0x10);
	/* The line is disconnected in loopback: host input waits in the backlog. */
	assert_int_equal(uart_receive(f->u, in, 3), 3);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	wr(f, THR, 9);
	assert_int_equal(rd(f, RBR), 9);
	wr(f, MCR, 0x00);
	assert_int_equal(rd(f, RBR), 1);
	assert_int_equal(rd(f, RBR), 2);
	assert_int_equal(rd(f, RBR), 3);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
}

static void test_out_of_range_offset(void **state)
{
	struct fake *f = *state;
	uint8_t v[2] = {0, 0};

	uart_io(f->u, 7, v, 2, false); /* SCR then past the end */
	assert_int_equal(v[1], 0xff);
	uart_io(f->u, 8, v, 1, true);
}

#define STRESS_N 20000

static void *stress_writer(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < STRESS_N; i++)
		wr(f, THR, 'w');
	return NULL;
}

static void *stress_feeder(void *arg)
{
	struct fake *f = arg;
	uint8_t c;

	for (int i = 0; i < STRESS_N;) {
		c = (uint8_t)i;
		i += (int)uart_receive(f->u, &c, 1);
	}
	return NULL;
}

static size_t stress_ntx;

static void count_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	__atomic_add_fetch(&stress_ntx, len, __ATOMIC_RELAXED);
}

/* vCPU threads and the console thread at once: nothing lost, nothing reordered. */
static void test_concurrent(void **state)
{
	struct fake *f = *state;
	struct irq_sink irq = {fake_set_level, f};
	pthread_t w1, w2, feeder;
	int got = 0;

	uart_destroy(f->u);
	f->u = uart_create("ttyS0", &irq, GSI, count_tx, NULL);
	assert_non_null(f->u);
	wr(f, FCR, 0x01);
	wr(f, MCR, 0x08);
	wr(f, IER, 0x03);
	assert_int_equal(pthread_create(&w1, NULL, stress_writer, f), 0);
	assert_int_equal(pthread_create(&w2, NULL, stress_writer, f), 0);
	assert_int_equal(pthread_create(&feeder, NULL, stress_feeder, f), 0);
	while (got < STRESS_N) {
		if (rd(f, LSR) & 0x01) {
			assert_int_equal(rd(f, RBR), (uint8_t)got);
			got++;
		}
	}
	pthread_join(w1, NULL);
	pthread_join(w2, NULL);
	pthread_join(feeder, NULL);
	assert_int_equal(__atomic_load_n(&stress_ntx, __ATOMIC_RELAXED), 2 * STRESS_N);
	assert_int_equal(rd(f, LSR) & 0x03, 0);
}

/* --- snapshots ----------------------------------------------------------- */

static void fake_init(struct fake *f)
{
	struct irq_sink irq = {fake_set_level, f};

	memset(f, 0, sizeof(*f));
	f->u = uart_create("ttyS0", &irq, GSI, fake_tx, f);
	assert_non_null(f->u);
}

static void save(struct fake *f, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(uart_save(f->u, b), 0);
}

static int load(struct fake *f, const void *p, size_t n)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	return uart_load(f->u, &r);
}

/*
 * What a guest sees from here on, reading destructively: every register, the
 * line level after each step, the rest of the FIFO, then (leaving loopback) the
 * backlog, then a transmit. Two devices in the same state give the same trace.
 */
static size_t trace(struct fake *f, uint8_t *t)
{
	size_t n = 0;
	uint8_t lcr, mcr;

	t[n++] = rd(f, IER);
	t[n++] = lcr = rd(f, LCR);
	t[n++] = mcr = rd(f, MCR);
	t[n++] = rd(f, SCR);
	t[n++] = (uint8_t)f->level;
	wr(f, LCR, lcr | 0x80);
	t[n++] = rd(f, DLL);
	t[n++] = rd(f, DLM);
	wr(f, LCR, lcr & 0x7f);
	for (int i = 0; i < 3; i++) {
		t[n++] = rd(f, IIR);
		t[n++] = rd(f, LSR);
		t[n++] = rd(f, MSR);
		t[n++] = (uint8_t)f->level;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < UART_FIFO_SIZE + 8; i++) {
			t[n++] = rd(f, IIR);
			t[n++] = rd(f, LSR);
			t[n++] = rd(f, RBR);
			t[n++] = (uint8_t)f->level;
		}
		wr(f, MCR, mcr & 0x0f); /* out of loopback: the backlog flows in */
	}
	wr(f, THR, 'z');
	t[n++] = (uint8_t)f->ntx;
	t[n++] = rd(f, IIR);
	t[n++] = (uint8_t)f->level;
	return n;
}

/* Saves a, loads into a fresh device, and checks that both go on identically. */
static void check_roundtrip(struct fake *a)
{
	struct fake b;
	struct state_buf sa, sb;
	uint8_t ta[512], tb[512];
	size_t na, nb;

	save(a, &sa);
	fake_init(&b);
	assert_int_equal(load(&b, sa.data, sa.len), 0);
	/* The line is driven to the saved level, and only by the load. */
	assert_int_equal(b.level, a->level);
	assert_int_equal(b.changes, 1);
	assert_int_equal(b.ntx, 0);
	save(&b, &sb);
	assert_int_equal(sb.len, sa.len);
	assert_memory_equal(sb.data, sa.data, sa.len);
	assert_int_equal(uart_rx_space(b.u), uart_rx_space(a->u));
	na = trace(a, ta);
	nb = trace(&b, tb);
	assert_int_equal(na, nb);
	assert_memory_equal(ta, tb, na);
	assert_int_equal(b.ntx, 1);
	uart_destroy(b.u);
	state_buf_free(&sa);
	state_buf_free(&sb);
}

/* Loopback with a partly read FIFO, an overrun, modem deltas and host input waiting. */
static void test_snapshot_loopback(void **state)
{
	struct fake *f = *state;
	const uint8_t in[5] = {'h', 'o', 's', 't', '!'};

	wr(f, FCR, 0x89); /* FIFO, DMA mode, trigger 8 */
	wr(f, LCR, 0x9b); /* DLAB, 8E1... */
	wr(f, DLL, 0x34);
	wr(f, DLM, 0x12);
	wr(f, LCR, 0x1b);
	wr(f, SCR, 0xa5);
	wr(f, MCR, 0x10 | 0x08 | 0x02); /* LOOP | OUT2 | RTS: DSR drops, a delta */
	wr(f, IER, 0x0f);
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		wr(f, THR, (uint8_t)(0x40 + i)); /* the 17th overruns */
	for (int i = 0; i < 10; i++)
		rd(f, RBR);
	assert_int_equal(uart_receive(f->u, in, sizeof(in)), sizeof(in));
	assert_int_equal(f->level, 1);
	check_roundtrip(f);
}

/* Line connected: FIFO full, backlog behind it, THRE pending, character timeout. */
static void test_snapshot_backlog(void **state)
{
	struct fake *f = *state;
	static uint8_t in[300];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13);
	wr(f, FCR, 0xc1);
	wr(f, MCR, 0x08 | 0x01);
	wr(f, IER, 0x02); /* THRE interrupt armed */
	assert_int_equal(uart_receive(f->u, in, sizeof(in)), sizeof(in));
	assert_int_equal(f->level, 1);
	check_roundtrip(f);
}

/* 16450 mode, one byte held, no interrupts enabled; and the power-on state. */
static void test_snapshot_16450(void **state)
{
	struct fake *f = *state;
	struct fake g;

	fake_init(&g);
	check_roundtrip(&g);
	uart_destroy(g.u);
	uart_receive(f->u, (const uint8_t *)"ab", 2);
	wr(f, LCR, 0x03);
	check_roundtrip(f);
}

/* A load drives the line even when the device thinks it is already there. */
static void test_snapshot_redrives_line(void **state)
{
	struct fake *f = *state;
	struct fake g;
	struct state_buf b;

	fake_init(&g);
	save(&g, &b); /* quiet: line low */
	wr(f, MCR, 0x08);
	wr(f, IER, 0x02);
	assert_int_equal(f->level, 1);
	assert_int_equal(load(f, b.data, b.len), 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(rd(f, IIR), 0x01);
	f->changes = 0;
	assert_int_equal(load(f, b.data, b.len), 0);
	assert_int_equal(f->changes, 1); /* driven again, low */
	assert_int_equal(f->level, 0);
	uart_destroy(g.u);
	state_buf_free(&b);
}

/* Fields of a version-1 UART state, for building streams by hand. */
struct ustate {
	uint32_t version;
	uint8_t ier, lcr, mcr, msr, scr, dll, dlm, fcr, lsr_err, thr;
	unsigned rx_count, bl_count;
	bool extra;
};

static void ustate_put(struct state_buf *b, const struct ustate *s)
{
	state_buf_init(b);
	state_put_u32(b, s->version);
	state_put_u8(b, s->ier);
	state_put_u8(b, s->lcr);
	state_put_u8(b, s->mcr);
	state_put_u8(b, s->msr);
	state_put_u8(b, s->scr);
	state_put_u8(b, s->dll);
	state_put_u8(b, s->dlm);
	state_put_u8(b, s->fcr);
	state_put_u8(b, s->lsr_err);
	state_put_u8(b, s->thr);
	state_put_u8(b, (uint8_t)s->rx_count);
	for (unsigned i = 0; i < s->rx_count; i++)
		state_put_u8(b, (uint8_t)i);
	state_put_u16(b, (uint16_t)s->bl_count);
	for (unsigned i = 0; i < s->bl_count; i++)
		state_put_u8(b, (uint8_t)i);
	if (s->extra)
		state_put_u8(b, 0);
	assert_int_equal(b->error, 0);
}

/* Refused with -EINVAL, leaving f exactly as it was (state and line). */
static void expect_refused(struct fake *f, const uint8_t *p, size_t n)
{
	struct state_buf before, after;
	int changes = f->changes;

	save(f, &before);
	assert_int_equal(load(f, p, n), -EINVAL);
	save(f, &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, before.len);
	assert_int_equal(f->changes, changes);
	state_buf_free(&before);
	state_buf_free(&after);
}

static void test_snapshot_refused(void **state)
{
	struct fake *f = *state;
	/* Loopback, FIFO on, OUT2|RTS: MSR lines CTS|DCD. */
	const struct ustate good = {1, 0x0f, 0x03, 0x1a, 0x92,		 0, 12,
				    0, 0xc1, 0x02, 1,	 UART_FIFO_SIZE, 5, false};
	struct ustate s;
	struct state_buf b;
	struct fake g;

	/* Something to lose: FIFO contents, backlog, registers, the line up. */
	wr(f, FCR, 0x41);
	wr(f, MCR, 0x08);
	wr(f, IER, 0x01);
	uart_receive(f->u, (const uint8_t *)"0123456789abcdefXYZ", 19);
	rd(f, RBR);
	wr(f, SCR, 0x77);
	assert_int_equal(f->level, 1);

	/* The hand-built stream is valid as it stands. */
	fake_init(&g);
	ustate_put(&b, &good);
	assert_int_equal(load(&g, b.data, b.len), 0);
	assert_int_equal(rd(&g, MCR), 0x1a);
	assert_int_equal(rd(&g, IIR), 0xc6); /* the OE loaded is the first source */
	uart_destroy(g.u);

	/* Every truncation of it, and of a real save. */
	for (size_t n = 0; n < b.len; n++)
		expect_refused(f, b.data, n);
	state_buf_free(&b);
	save(f, &b);
	for (size_t n = 0; n < b.len; n++)
		expect_refused(f, b.data, n);
	expect_refused(f, NULL, 0);
	state_buf_free(&b);

#define REFUSE(field, value)                                                                       \
	do {                                                                                       \
		s = good;                                                                          \
		s.field = value;                                                                   \
		ustate_put(&b, &s);                                                                \
		expect_refused(f, b.data, b.len);                                                  \
		state_buf_free(&b);                                                                \
	} while (0)
	REFUSE(version, 0);
	REFUSE(version, 2);
	REFUSE(version, 0x01000000);
	REFUSE(ier, 0x10);
	REFUSE(mcr, 0x3a);
	REFUSE(msr, 0xf2);     /* DSR is not wired to anything set in MCR */
	REFUSE(msr, 0x02);     /* nor are CTS and DCD missing */
	REFUSE(fcr, 0xc3);     /* reset bits are never kept */
	REFUSE(fcr, 0x21);     /* reserved bit */
	REFUSE(lsr_err, 0x01); /* DR follows the FIFO; it is not an error bit */
	REFUSE(lsr_err, 0x20);
	REFUSE(thr, 2);
	REFUSE(rx_count, UART_FIFO_SIZE + 1);
	REFUSE(rx_count, 255);
	REFUSE(bl_count, UART_BACKLOG_SIZE + 1);
	REFUSE(bl_count, 0xffff);
	REFUSE(extra, true); /* trailing bytes */
	/* A trigger level with the FIFO off (one character held, so only FCR is wrong). */
	s = good;
	s.fcr = 0x40;
	s.rx_count = 1;
	ustate_put(&b, &s);
	expect_refused(f, b.data, b.len);
	state_buf_free(&b);
	s.fcr = 0;
	ustate_put(&b, &s);
	fake_init(&g);
	assert_int_equal(load(&g, b.data, b.len), 0); /* the same with FCR 0 is fine */
	uart_destroy(g.u);
	state_buf_free(&b);
	/* 16450 mode holds one character. */
	s = good;
	s.fcr = 0;
	s.rx_count = 2;
	ustate_put(&b, &s);
	expect_refused(f, b.data, b.len);
	state_buf_free(&b);
	/* Connected line: backlog waiting behind a FIFO that is not full. */
	s = good;
	s.mcr = 0x08;
	s.msr = 0xb0;
	s.rx_count = 3;
	ustate_put(&b, &s);
	expect_refused(f, b.data, b.len);
	state_buf_free(&b);
	s.rx_count = UART_FIFO_SIZE; /* full: fine */
	ustate_put(&b, &s);
	fake_init(&g);
	assert_int_equal(load(&g, b.data, b.len), 0);
	uart_destroy(g.u);
	state_buf_free(&b);
#undef REFUSE

	/* After all that, f still reads as before. */
	assert_int_equal(rd(f, SCR), 0x77);
	assert_int_equal(f->level, 1);
	for (int i = 1; i < 19; i++)
		assert_int_equal(rd(f, RBR), "0123456789abcdefXYZ"[i]);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_immediate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_trigger_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overrun_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out2_gates_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receive_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backlog_waits_during_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_range_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_16450, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_redrives_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
