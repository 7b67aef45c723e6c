/* SPDX-License-Identifier: MIT */
/* i8042: controller commands, keyboard ACKs, reset, and the IRQ1/IRQ12 lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hw/i8042.h"
#include "state/buf.h"

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

/* --- snapshots ----------------------------------------------------------- */

static void fake_init(struct fake *f)
{
	struct irq_sink irq = {fake_set_level, f};

	memset(f, 0, sizeof(*f));
	f->k = i8042_create(&irq, fake_reset, f);
	assert_non_null(f->k);
}

static void save(struct fake *f, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(i8042_save(f->k, b), 0);
}

static int load(struct fake *f, const void *p, size_t n)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	return i8042_load(f->k, &r);
}

static void levels(struct fake *f, uint8_t *t, size_t *n)
{
	t[(*n)++] = (uint8_t)f->level[1];
	t[(*n)++] = (uint8_t)f->level[12];
}

/*
 * What a guest sees from here on: status and lines, the rest of the queue, the
 * byte the pending commands take next, the controller RAM and output port.
 */
static size_t trace(struct fake *f, uint8_t *t)
{
	size_t n = 0;

	t[n++] = status(f);
	levels(f, t, &n);
	for (int i = 0; i < 20; i++) {
		t[n++] = status(f);
		t[n++] = data(f);
		levels(f, t, &n);
	}
	out(f, 0x00); /* taken by whatever command was pending */
	for (int i = 0; i < 4; i++) {
		t[n++] = status(f);
		t[n++] = data(f);
		levels(f, t, &n);
	}
	out(f, 0x00); /* and the keyboard parameter, if one was pending */
	t[n++] = status(f);
	t[n++] = data(f);
	for (uint8_t c = 0x20; c < 0x40; c++) {
		cmd(f, c);
		t[n++] = data(f);
	}
	cmd(f, 0xd0);
	t[n++] = data(f);
	t[n++] = status(f);
	t[n++] = (uint8_t)f->resets;
	return n;
}

static void check_roundtrip(struct fake *a)
{
	struct fake b;
	struct state_buf sa, sb;
	uint8_t ta[512], tb[512];
	size_t na, nb;

	save(a, &sa);
	fake_init(&b);
	assert_int_equal(load(&b, sa.data, sa.len), 0);
	assert_int_equal(b.level[1], a->level[1]);
	assert_int_equal(b.level[12], a->level[12]);
	assert_int_equal(b.changes[1], 1); /* both lines driven, once, by the load */
	assert_int_equal(b.changes[12], 1);
	save(&b, &sb);
	assert_int_equal(sb.len, sa.len);
	assert_memory_equal(sb.data, sa.data, sa.len);
	na = trace(a, ta);
	nb = trace(&b, tb);
	assert_int_equal(na, nb);
	assert_memory_equal(ta, tb, na);
	i8042_destroy(b.k);
	state_buf_free(&sa);
	state_buf_free(&sb);
}

/* Keyboard bytes queued with IRQ1 up, a controller command waiting for its data byte. */
static void test_snapshot_keyboard(void **state)
{
	struct fake *f = *state;

	cmd(f, 0x60);
	out(f, 0x65); /* command byte: XLATE, AUXDIS... KBDINT */
	cmd(f, 0x7f);
	out(f, 0x99); /* controller RAM byte 31 */
	out(f, 0xf2); /* identify: FA AB 83 */
	out(f, 0xff); /* reset: FA AA */
	assert_int_equal(data(f), 0xfa);
	out(f, 0xed); /* LEDs: parameter pending */
	cmd(f, 0xd1); /* write output port: data byte pending, last write a command */
	assert_int_equal(status(f) & (OBF | CMD), OBF | CMD);
	assert_int_equal(f->level[1], 1);
	check_roundtrip(f);
	/* The pending D1h took 0x00 as the output port: the trace saw the reset pulse. */
	assert_int_equal(f->resets, 1);
}

/* Aux data at the head with IRQ12 up, a timeout behind it, keyboard data behind that. */
static void test_snapshot_aux(void **state)
{
	struct fake *f = *state;

	cmd(f, 0xd1);
	out(f, 0xdd); /* output port: reset line high, A20 off, the rest set */
	cmd(f, 0xd3);
	out(f, 0x5a);
	cmd(f, 0xd4);
	out(f, 0xf2);
	cmd(f, 0xd2);
	out(f, 0x1c);
	cmd(f, 0xaa);
	assert_int_equal(f->level[12], 1);
	assert_int_equal(f->level[1], 0);
	check_roundtrip(f);
}

/* A full queue, wrapped in the ring, last byte read kept; and the power-on state. */
static void test_snapshot_full(void **state)
{
	struct fake *f = *state;
	struct fake g;

	fake_init(&g);
	check_roundtrip(&g);
	i8042_destroy(g.k);
	for (int i = 0; i < 5; i++)
		out(f, 0xee);
	for (int i = 0; i < 5; i++)
		data(f);
	cmd(f, 0x60);
	out(f, 0x00); /* no interrupts, SYS clear */
	for (int i = 0; i < 20; i++)
		out(f, 0xee);
	assert_int_equal(f->level[1], 0);
	check_roundtrip(f);
}

static void expect_refused(struct fake *f, const uint8_t *p, size_t n)
{
	struct state_buf before, after;
	int c1 = f->changes[1], c12 = f->changes[12];

	save(f, &before);
	assert_int_equal(load(f, p, n), -EINVAL);
	save(f, &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, before.len);
	assert_int_equal(f->changes[1], c1);
	assert_int_equal(f->changes[12], c12);
	state_buf_free(&before);
	state_buf_free(&after);
}

/* Fields of a version-1 i8042 state, for building streams by hand. */
struct kstate {
	uint32_t version;
	uint8_t outport, sys, last_was_cmd, pending_cmd, kbd_pending, last_read;
	unsigned count;
	uint8_t sts; /* of every queued byte */
	bool extra;
};

static void kstate_put(struct state_buf *b, const struct kstate *s)
{
	uint8_t ram[32];

	for (int i = 0; i < 32; i++)
		ram[i] = (uint8_t)(0xc0 + i);
	state_buf_init(b);
	state_put_u32(b, s->version);
	state_put_bytes(b, ram, sizeof(ram));
	state_put_u8(b, s->outport);
	state_put_u8(b, s->sys);
	state_put_u8(b, s->last_was_cmd);
	state_put_u8(b, s->pending_cmd);
	state_put_u8(b, s->kbd_pending);
	state_put_u8(b, s->last_read);
	state_put_u8(b, (uint8_t)s->count);
	for (unsigned i = 0; i < s->count; i++) {
		state_put_u8(b, (uint8_t)(0x10 + i));
		state_put_u8(b, s->sts);
	}
	if (s->extra)
		state_put_u8(b, 0);
	assert_int_equal(b->error, 0);
}

static void test_snapshot_refused(void **state)
{
	struct fake *f = *state;
	const struct kstate good = {1, 0x03, 1, 1, 0xd4, 0xf3, 0x42, 16, 0x60, false};
	struct kstate s;
	struct state_buf b;
	struct fake g;

	out(f, 0xf2);
	cmd(f, 0x60);
	assert_int_equal(f->level[1], 1);

	/* The hand-built stream is valid: command byte C0h (aux data, no interrupts). */
	fake_init(&g);
	kstate_put(&b, &good);
	assert_int_equal(load(&g, b.data, b.len), 0);
	assert_int_equal(status(&g), OBF | SYS | CMD | 0x10 | AUXDATA | TIMEOUT);
	assert_int_equal(g.level[12], 0);
	assert_int_equal(data(&g), 0x10);
	i8042_destroy(g.k);

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
		kstate_put(&b, &s);                                                                \
		expect_refused(f, b.data, b.len);                                                  \
		state_buf_free(&b);                                                                \
	} while (0)
	REFUSE(version, 0);
	REFUSE(version, 2);
	REFUSE(sys, 2);
	REFUSE(last_was_cmd, 0xff);
	REFUSE(pending_cmd, 0x20);
	REFUSE(pending_cmd, 0x5f);
	REFUSE(pending_cmd, 0x80);
	REFUSE(pending_cmd, 0xd0);
	REFUSE(pending_cmd, 0xd5);
	REFUSE(pending_cmd, 0xfe);
	REFUSE(kbd_pending, 0xee);
	REFUSE(kbd_pending, 0x01);
	REFUSE(count, 17);
	REFUSE(count, 255);
	REFUSE(sts, 0x01); /* OBF follows the queue */
	REFUSE(sts, 0x04);
	REFUSE(sts, 0x80);
	REFUSE(extra, true);
#undef REFUSE

	/* f is as it was: its queue, and the 60h command still waiting for its byte. */
	assert_int_equal(expect(f), 0xfa);
	assert_int_equal(expect(f), 0xab);
	assert_int_equal(expect(f), 0x83);
	out(f, 0x44);
	cmd(f, 0x20);
	assert_int_equal(expect(f), 0x44);
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
	    cmocka_unit_test_setup_teardown(test_snapshot_keyboard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_aux, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
