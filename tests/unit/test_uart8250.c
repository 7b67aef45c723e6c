/* SPDX-License-Identifier: MIT */
/* 16550A register model, driven through the bus handler as a guest would. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/uart8250.h"

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
