/* SPDX-License-Identifier: MIT */
/* i8042: controller commands, keyboard ACKs, reset, and the IRQ1/IRQ12 lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/i8042.h"

#define OBF	0x01
#define SYS	0x04
#define CMD	0x08
#define AUXDATA 0x20
#define TIMEOUT 0x40

struct fake {
	int level[16];
	int changes[16];
	int resets;
	struct i8042 *k;
};

static void fake_set_level(void *opaque, uint32_t gsi, int level)
{
	struct fake *f = opaque;

	assert_true(gsi == 1 || gsi == 12);
	f->level[gsi] = level;
	f->changes[gsi]++;
}

static uint8_t status(struct fake *f)
{
	uint8_t v;

	i8042_io(f->k, I8042_OFF_COMMAND, &v, 1, false);
	return v;
}

static void fake_reset(void *opaque)
{
	struct fake *f = opaque;

	f->resets++;
	status(f); /* called outside the device lock */
}

static uint8_t data(struct fake *f)
{
	uint8_t v;

	i8042_io(f->k, I8042_OFF_DATA, &v, 1, false);
	return v;
}

static void cmd(struct fake *f, uint8_t c)
{
	i8042_io(f->k, I8042_OFF_COMMAND, &c, 1, true);
}

static void out(struct fake *f, uint8_t v)
{
	i8042_io(f->k, I8042_OFF_DATA, &v, 1, true);
}

/* Reads one byte, checking that the controller said it had one. */
static uint8_t expect(struct fake *f)
{
	assert_int_equal(status(f) & OBF, OBF);
	return data(f);
}

static void assert_empty(struct fake *f)
{
	assert_int_equal(status(f) & OBF, 0);
}

static int setup(void **state)
{
	static struct fake f;
	struct irq_sink irq = {fake_set_level, &f};

	memset(&f, 0, sizeof(f));
	f.k = i8042_create(&irq, fake_reset, &f);
	assert_non_null(f.k);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	i8042_destroy(f->k);
	return 0;
}

static void test_self_test_and_probe(void **state)
{
	struct fake *f = *state;

	assert_int_equal(status(f) & (OBF | 0x02 | SYS), SYS); /* IBF never set */
	cmd(f, 0xaa);
	assert_int_equal(status(f) & CMD, CMD);
	assert_int_equal(expect(f), 0x55);
	assert_empty(f);
	cmd(f, 0xab);
	assert_int_equal(expect(f), 0x00);
	cmd(f, 0xa9);
	assert_int_equal(expect(f), 0x00);
	assert_empty(f);
	assert_int_equal(f->resets, 0);
}

static void test_command_byte(void **state)
{
	struct fake *f = *state;

	cmd(f, 0x20);
	assert_int_equal(expect(f), 0x47);
	cmd(f, 0x60);
	out(f, 0x20); /* SYS clear, interrupts off, aux disabled */
	assert_int_equal(status(f) & (SYS | CMD), 0);
	cmd(f, 0x20);
	assert_int_equal(expect(f), 0x20);
	cmd(f, 0xae);
	cmd(f, 0xa8);
	cmd(f, 0x20);
	assert_int_equal(expect(f), 0x00);
	cmd(f, 0xad);
	cmd(f, 0xa7);
	cmd(f, 0x20);
	assert_int_equal(expect(f), 0x30);
	cmd(f, 0x60);
	out(f, 0x45);
	assert_int_equal(status(f) & SYS, SYS);
}

static void test_reset_pulse(void **state)
{
	struct fake *f = *state;

	cmd(f, 0xfe);
	assert_int_equal(f->resets, 1);
	cmd(f, 0xff); /* pulses nothing */
	assert_int_equal(f->resets, 1);
	cmd(f, 0xd0);
	assert_int_equal(expect(f), 0x03);
	cmd(f, 0xd1);
	out(f, 0x03); /* A20 on, reset line high: nothing happens */
	assert_int_equal(f->resets, 1);
	cmd(f, 0xd1);
	out(f, 0x02); /* reset line low */
	assert_int_equal(f->resets, 2);
	cmd(f, 0xd0);
	assert_int_equal(expect(f), 0x02);
}

static void test_keyboard_commands(void **state)
{
	struct fake *f = *state;

	out(f, 0xff);
	assert_int_equal(expect(f), 0xfa);
	assert_int_equal(expect(f), 0xaa);
	out(f, 0xf2);
	assert_int_equal(expect(f), 0xfa);
	assert_int_equal(expect(f), 0xab);
	assert_int_equal(expect(f), 0x83);
	assert_empty(f);
	out(f, 0xed); /* set LEDs takes a parameter, ACKed too */
	assert_int_equal(expect(f), 0xfa);
	out(f, 0x07);
	assert_int_equal(expect(f), 0xfa);
	assert_empty(f);
	out(f, 0xf0);
	out(f, 0x00);
	assert_int_equal(expect(f), 0xfa);
	assert_int_equal(expect(f), 0xfa);
	assert_int_equal(expect(f), 0x02);
	out(f, 0xf4);
	assert_int_equal(expect(f), 0xfa);
	out(f, 0xee);
	assert_int_equal(expect(f), 0xee);
	assert_empty(f);
	assert_int_equal(data(f), 0xee); /* an empty buffer keeps its last byte */
	assert_int_equal(status(f) & AUXDATA, 0);
}

static void test_irq1_edges(void **state)
{
	struct fake *f = *state;

	out(f, 0xf2);
	assert_int_equal(f->level[1], 1);
	assert_int_equal(f->changes[1], 1);
	data(f);
	assert_int_equal(f->level[1], 1); /* dropped and raised again for the next byte */
	assert_int_equal(f->changes[1], 3);
	data(f);
	data(f);
	assert_int_equal(f->level[1], 0);
	assert_int_equal(f->changes[1], 6);
	assert_int_equal(f->changes[12], 0);
	/* Interrupts disabled in the command byte: OBF without IRQ1. */
	cmd(f, 0x60);
	out(f, 0x44);
	out(f, 0xff);
	assert_int_equal(status(f) & OBF, OBF);
	assert_int_equal(f->level[1], 0);
	/* Enabling them with data waiting raises the line. */
	cmd(f, 0x60);
	out(f, 0x45);
	assert_int_equal(f->level[1], 1);
}

static void test_aux_port(void **state)
{
	struct fake *f = *state;

	/* Loopback through the aux output buffer, as Linux probes IRQ12 with. */
	cmd(f, 0xd3);
	out(f, 0x5a);
	assert_int_equal(status(f) & (OBF | AUXDATA), OBF | AUXDATA);
	assert_int_equal(f->level[12], 1);
	assert_int_equal(f->level[1], 0);
	assert_int_equal(data(f), 0x5a);
	assert_int_equal(f->level[12], 0);
	/* No mouse: commands to it time out. */
	cmd(f, 0xd4);
	out(f, 0xf2);
	assert_int_equal(status(f) & (OBF | AUXDATA | TIMEOUT), OBF | AUXDATA | TIMEOUT);
	assert_int_equal(data(f), 0xfe);
	assert_int_equal(status(f) & (OBF | TIMEOUT), 0);
	/* Keyboard output buffer write. */
	cmd(f, 0xd2);
	out(f, 0x1c);
	assert_int_equal(status(f) & (OBF | AUXDATA), OBF);
	assert_int_equal(data(f), 0x1c);
}

static void test_queue_full(void **state)
{
	struct fake *f = *state;

	for (int i = 0; i < 100; i++)
		out(f, 0xf4);
	for (int i = 0; i < 16; i++)
		assert_int_equal(expect(f), 0xfa);
	assert_empty(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_self_test_and_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_irq1_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aux_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
