/* SPDX-License-Identifier: MIT */
/* ACPI fixed hardware: PM1 events and the SCI, sleep control, reset, PM timer, GPE0. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hw/acpi_pm.h"
#include "state/buf.h"

#define SCI 9

#define STS  (ACPI_PM1A_EVT_BLK - ACPI_PM_BASE)
#define EN   (STS + 2)
#define CNT  (ACPI_PM1A_CNT_BLK - ACPI_PM_BASE)
#define TMR  (ACPI_PM_TMR_BLK - ACPI_PM_BASE)
#define GSTS (ACPI_GPE0_BLK - ACPI_PM_BASE)
#define GEN  (GSTS + 2)

struct fake {
	int level, changes;
	int poweroffs, resets;
	struct acpi_pm *pm;
};

static void fake_set_level(void *opaque, uint32_t gsi, int level)
{
	struct fake *f = opaque;

	assert_int_equal(gsi, SCI);
	f->level = level;
	f->changes++;
}

static uint16_t rd16(struct acpi_pm *pm, unsigned off);

static void fake_poweroff(void *opaque)
{
	struct fake *f = opaque;

	f->poweroffs++;
	rd16(f->pm, CNT); /* outside the device lock: must not deadlock */
}

static void fake_reset(void *opaque)
{
	struct fake *f = opaque;

	f->resets++;
	rd16(f->pm, STS);
}

static const struct acpi_pm_ops ops = {fake_poweroff, fake_reset};

static uint16_t rd16(struct acpi_pm *pm, unsigned off)
{
	uint8_t d[2];

	acpi_pm_io(pm, off, d, 2, false);
	return (uint16_t)(d[0] | d[1] << 8);
}

static uint8_t rd8(struct acpi_pm *pm, unsigned off)
{
	uint8_t d;

	acpi_pm_io(pm, off, &d, 1, false);
	return d;
}

static uint32_t rd32(struct acpi_pm *pm, unsigned off)
{
	uint8_t d[4];

	acpi_pm_io(pm, off, d, 4, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr16(struct acpi_pm *pm, unsigned off, uint16_t v)
{
	uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	acpi_pm_io(pm, off, d, 2, true);
}

static void wr8(struct acpi_pm *pm, unsigned off, uint8_t v)
{
	acpi_pm_io(pm, off, &v, 1, true);
}

static int setup(void **state)
{
	static struct fake f;
	struct irq_sink irq = {fake_set_level, &f};

	memset(&f, 0, sizeof(f));
	f.pm = acpi_pm_create(&irq, SCI, &ops, &f);
	assert_non_null(f.pm);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	acpi_pm_destroy(f->pm);
	return 0;
}

static void test_power_button_sci(void **state)
{
	struct fake *f = *state;

	assert_int_equal(rd16(f->pm, STS), 0);
	acpi_pm_press_power_button(f->pm);
	/* Status is set regardless; the SCI needs the enable bit. */
	assert_int_equal(rd16(f->pm, STS), ACPI_PM1_PWRBTN);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 0);
	wr16(f->pm, EN, ACPI_PM1_PWRBTN);
	assert_int_equal(rd16(f->pm, EN), ACPI_PM1_PWRBTN);
	assert_int_equal(f->level, 1);
	/* Writing 0 clears nothing; writing 1 clears. */
	wr16(f->pm, STS, 0);
	assert_int_equal(f->level, 1);
	wr16(f->pm, STS, ACPI_PM1_PWRBTN);
	assert_int_equal(rd16(f->pm, STS), 0);
	assert_int_equal(f->level, 0);
	/* Pressed while enabled: straight to the SCI. */
	acpi_pm_press_power_button(f->pm);
	assert_int_equal(f->level, 1);
	wr16(f->pm, EN, 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 4);
}

static void test_byte_access(void **state)
{
	struct fake *f = *state;

	acpi_pm_press_power_button(f->pm);
	wr8(f->pm, EN + 1, ACPI_PM1_PWRBTN >> 8); /* the high byte of PM1_EN alone */
	assert_int_equal(rd16(f->pm, EN), ACPI_PM1_PWRBTN);
	assert_int_equal(rd8(f->pm, EN), 0);
	assert_int_equal(rd8(f->pm, EN + 1), 0x01);
	assert_int_equal(f->level, 1);
	/* Clearing the low byte's bits leaves PWRBTN_STS (high byte) alone. */
	wr8(f->pm, STS, 0xff);
	assert_int_equal(rd8(f->pm, STS + 1), 0x01);
	assert_int_equal(f->level, 1);
	wr8(f->pm, STS + 1, 0x01);
	assert_int_equal(rd16(f->pm, STS), 0);
	assert_int_equal(f->level, 0);
	/* A 32-bit write across STS and EN. */
	acpi_pm_press_power_button(f->pm);
	uint8_t d[4] = {0x00, 0x01, 0x00, 0x00}; /* clear PWRBTN_STS, disable everything */
	acpi_pm_io(f->pm, STS, d, 4, true);
	assert_int_equal(rd16(f->pm, STS), 0);
	assert_int_equal(rd16(f->pm, EN), 0);
	/* Undefined enable bits do not stick. */
	wr16(f->pm, EN, 0xffff);
	assert_int_equal(rd16(f->pm, EN), 0x4721);
	/* Holes in the block read as zero and ignore writes. */
	wr16(f->pm, 0x10, 0xffff);
	assert_int_equal(rd16(f->pm, 0x10), 0);
}

static void test_sleep_control(void **state)
{
	struct fake *f = *state;

	/* Hardware-only ACPI: SCI_EN always reads 1. */
	assert_int_equal(rd16(f->pm, CNT) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
	wr16(f->pm, CNT, 0);
	assert_int_equal(rd16(f->pm, CNT) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
	/* SLP_TYP alone (as ACPICA writes it first) does nothing. */
	wr16(f->pm, CNT, ACPI_PM_S5_TYP << ACPI_PM1_SLP_TYP_SHIFT);
	assert_int_equal(f->poweroffs, 0);
	assert_int_equal(rd16(f->pm, CNT), ACPI_PM_S5_TYP << ACPI_PM1_SLP_TYP_SHIFT | 1);
	/* SLP_EN with S5 powers off; SLP_EN is write-only. */
	wr16(f->pm, CNT, ACPI_PM_S5_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(f->poweroffs, 1);
	assert_int_equal(rd16(f->pm, CNT) & ACPI_PM1_SLP_EN, 0);
	/* The same through the high byte alone, SLP_TYP taken from the byte. */
	wr16(f->pm, CNT, 0);
	wr8(f->pm, CNT + 1, (ACPI_PM_S5_TYP << 2) | 0x20);
	assert_int_equal(f->poweroffs, 2);
	/* Another sleep type: no power-off, and the guest wakes at once. */
	wr16(f->pm, CNT, 1 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(f->poweroffs, 2);
	assert_int_equal(rd16(f->pm, STS) & ACPI_PM1_WAK_STS, ACPI_PM1_WAK_STS);
	assert_int_equal(f->level, 0); /* WAK_STS does not raise the SCI */
	assert_int_equal(f->resets, 0);
}

static void test_reset_register(void **state)
{
	struct fake *f = *state;
	uint8_t v;

	acpi_pm_reset_io(f->pm, 0, &(uint8_t){0x02}, 1, true);
	assert_int_equal(f->resets, 0);
	acpi_pm_reset_io(f->pm, 0, &v, 1, false);
	assert_int_equal(v, 0x02);
	acpi_pm_reset_io(f->pm, 0, &(uint8_t){ACPI_PM_RESET_VALUE}, 1, true);
	assert_int_equal(f->resets, 1);
	acpi_pm_reset_io(f->pm, 0, &v, 1, false);
	assert_int_equal(v & 0x04, 0); /* RST_CPU clears itself */
	acpi_pm_reset_io(f->pm, 0, &(uint8_t){0x0e}, 1, true);
	assert_int_equal(f->resets, 2);
	assert_int_equal(f->poweroffs, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_pm_timer(void **state)
{
	struct fake *f = *state;
	uint32_t prev = rd32(f->pm, TMR), t0, t1;
	uint64_t n0, n1;

	for (int i = 0; i < 1000; i++) {
		uint32_t t = rd32(f->pm, TMR);

		assert_true(t >= prev); /* starts near 0: no wrap within the test */
		prev = t;
	}
	n0 = now_ns();
	t0 = rd32(f->pm, TMR);
	nanosleep(&(struct timespec){0, 100000000}, NULL);
	t1 = rd32(f->pm, TMR);
	n1 = now_ns();
	/* 3.579545 MHz: ticks over the measured interval, within 1% either way. */
	double expect = (double)(n1 - n0) * ACPI_PM_TIMER_HZ / 1e9;
	assert_true((double)(t1 - t0) <= expect * 1.01 + 2);
	assert_true((double)(t1 - t0) >= expect * 0.99 - 2000); /* reads are not instant */
	/* Read-only, and byte reads agree with the 32-bit value. */
	uint8_t d[4] = {0xff, 0xff, 0xff, 0xff};
	acpi_pm_io(f->pm, TMR, d, 4, true);
	assert_true(rd32(f->pm, TMR) >= t1);
	assert_true(rd8(f->pm, TMR + 3) == (uint8_t)(rd32(f->pm, TMR) >> 24));
}

static void test_gpe0(void **state)
{
	struct fake *f = *state;

	assert_int_equal(rd16(f->pm, GSTS), 0);
	wr16(f->pm, GEN, 0x8001);
	assert_int_equal(rd16(f->pm, GEN), 0x8001);
	wr8(f->pm, GEN + 1, 0x00);
	assert_int_equal(rd16(f->pm, GEN), 0x0001);
	wr16(f->pm, GSTS, 0xffff); /* W1C of nothing */
	assert_int_equal(rd16(f->pm, GSTS), 0);
	assert_int_equal(f->level, 0);
}

/* --- snapshots ----------------------------------------------------------- */

/* Byte offsets in a version-1 stream. */
#define S_STS  4
#define S_EN   6
#define S_CNT  8
#define S_GSTS 10
#define S_GEN  12
#define S_RCR  14
#define S_TMR  15
#define S_LEN  19

static void fake_init(struct fake *f)
{
	struct irq_sink irq = {fake_set_level, f};

	memset(f, 0, sizeof(*f));
	f->pm = acpi_pm_create(&irq, SCI, &ops, f);
	assert_non_null(f->pm);
}

static void save(struct fake *f, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(acpi_pm_save(f->pm, b), 0);
	assert_int_equal(b->len, S_LEN);
}

static int load(struct fake *f, const void *p, size_t n)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	return acpi_pm_load(f->pm, &r);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint8_t rd_reset(struct fake *f)
{
	uint8_t v;

	acpi_pm_reset_io(f->pm, 0, &v, 1, false);
	return v;
}

/* 50 ms of 3.579545 MHz ticks: slack for reads that are not instant. */
#define TICKS_50MS (ACPI_PM_TIMER_HZ / 20)

static void test_snapshot_roundtrip(void **state)
{
	struct fake *a = *state, b;
	struct state_buf sa, sb;
	uint32_t saved, ta, tb;

	acpi_pm_press_power_button(a->pm);
	wr16(a->pm, EN, ACPI_PM1_PWRBTN | ACPI_PM1_GBL | ACPI_PM1_TMR);
	wr16(a->pm, CNT, 1 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN); /* wakes: WAK_STS */
	wr16(a->pm, CNT, 3 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_BM_RLD);
	wr16(a->pm, GEN, 0x8001);
	acpi_pm_reset_io(a->pm, 0, &(uint8_t){0x0a}, 1, true);
	nanosleep(&(struct timespec){0, 20000000}, NULL); /* let the timer leave 0 */
	assert_int_equal(a->level, 1);

	save(a, &sa);
	saved = get32(sa.data + S_TMR);
	fake_init(&b);
	assert_int_equal(load(&b, sa.data, sa.len), 0);
	/* The timer continues from the saved count: never behind it, not far ahead. */
	tb = rd32(b.pm, TMR);
	assert_true(tb - saved < TICKS_50MS);
	assert_true(saved >= ACPI_PM_TIMER_HZ / 100); /* the sleep showed up in the count */
	assert_int_equal(b.level, 1);
	assert_int_equal(b.changes, 1);
	save(&b, &sb);
	assert_memory_equal(sb.data, sa.data, S_TMR);
	assert_true(get32(sb.data + S_TMR) - saved < TICKS_50MS);

	/* Every register reads the same, and the timers agree. */
	for (unsigned off = 0; off < ACPI_PM_LEN; off += 2)
		if (off != TMR && off != TMR + 2)
			assert_int_equal(rd16(b.pm, off), rd16(a->pm, off));
	assert_int_equal(rd16(b.pm, CNT), 3 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_BM_RLD | 1);
	assert_int_equal(rd16(b.pm, STS), ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS);
	assert_int_equal(rd_reset(&b), rd_reset(a));
	ta = rd32(a->pm, TMR);
	tb = rd32(b.pm, TMR);
	assert_true(tb - ta < TICKS_50MS || ta - tb < TICKS_50MS);

	/* And behave the same: clearing PWRBTN_STS drops the SCI, S5 powers off. */
	wr16(a->pm, STS, ACPI_PM1_PWRBTN);
	wr16(b.pm, STS, ACPI_PM1_PWRBTN);
	assert_int_equal(b.level, 0);
	assert_int_equal(a->level, 0);
	assert_int_equal(rd16(b.pm, STS), rd16(a->pm, STS));
	wr8(b.pm, CNT + 1, (ACPI_PM_S5_TYP << 2) | 0x20);
	assert_int_equal(b.poweroffs, 1);
	acpi_pm_destroy(b.pm);
	state_buf_free(&sa);
	state_buf_free(&sb);
}

/* Saved counts anywhere in the 32-bit range carry on from there, across the wrap too. */
static void test_snapshot_timer_rebase(void **state)
{
	struct fake *f = *state;
	static const uint32_t counts[] = {0, 0x12345678, 0x7fffffff, 0xffffffff - 1000};
	struct state_buf s;
	uint32_t t, prev;

	save(f, &s);
	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		put32(s.data + S_TMR, counts[i]);
		assert_int_equal(load(f, s.data, s.len), 0);
		prev = counts[i];
		for (int j = 0; j < 2000; j++) {
			t = rd32(f->pm, TMR);
			assert_true(t - prev < TICKS_50MS); /* forward only (modulo 2^32) */
			prev = t;
		}
		assert_true(prev - counts[i] < TICKS_50MS);
	}
	state_buf_free(&s);
}

/* The SCI follows the loaded state, GPE0 included, and is driven even if it seems unchanged. */
static void test_snapshot_sci(void **state)
{
	struct fake *f = *state;
	struct state_buf s;

	save(f, &s);
	put16(s.data + S_GSTS, 0xffff);
	put16(s.data + S_GEN, 0x0100);
	assert_int_equal(load(f, s.data, s.len), 0);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->changes, 1);
	wr16(f->pm, GSTS, 0x0100);
	assert_int_equal(f->level, 0);
	assert_int_equal(rd16(f->pm, GSTS), 0xfeff);
	put16(s.data + S_GEN, 0);
	put16(s.data + S_STS, ACPI_PM1_PWRBTN); /* status without enable: no SCI */
	assert_int_equal(load(f, s.data, s.len), 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 3);
	assert_int_equal(rd16(f->pm, STS), ACPI_PM1_PWRBTN);
	state_buf_free(&s);
}

static void expect_refused(struct fake *f, const uint8_t *p, size_t n)
{
	struct state_buf before, after;
	int changes = f->changes;

	save(f, &before);
	assert_int_equal(load(f, p, n), -EINVAL);
	save(f, &after);
	assert_memory_equal(after.data, before.data, S_TMR);
	/* The timer did not take the stream's count (far ahead of this young device). */
	assert_true(get32(after.data + S_TMR) - get32(before.data + S_TMR) < TICKS_50MS);
	assert_int_equal(f->changes, changes);
	state_buf_free(&before);
	state_buf_free(&after);
}

static void refuse16(struct fake *f, const struct state_buf *good, unsigned off, uint16_t v)
{
	uint8_t p[S_LEN];

	memcpy(p, good->data, S_LEN);
	put16(p + off, v);
	expect_refused(f, p, S_LEN);
}

static void test_snapshot_refused(void **state)
{
	struct fake *f = *state, g;
	struct state_buf good;
	uint8_t p[S_LEN + 1];
	static const uint16_t bad_sts[] = {0x0002, 0x0004, 0x0008, 0x0040,
					   0x0080, 0x0800, 0x1000, 0x2000};
	static const uint16_t bad_en[] = {0x0002, 0x0010, 0x0080, 0x0800, 0x8000};
	static const uint16_t bad_cnt[] = {0x0001, 0x0004, 0x0008, 0x0100, 0x2000, 0x4000, 0x8000};

	/* Something to lose: PWRBTN with its SCI, GPE enables, SLP_TYP, the reset register. */
	acpi_pm_press_power_button(f->pm);
	wr16(f->pm, EN, ACPI_PM1_PWRBTN);
	wr16(f->pm, GEN, 0x0f0f);
	wr16(f->pm, CNT, 5 << ACPI_PM1_SLP_TYP_SHIFT);
	acpi_pm_reset_io(f->pm, 0, &(uint8_t){0x08}, 1, true);
	assert_int_equal(f->level, 1);

	/* A valid stream from another device, with everything set that may be. */
	fake_init(&g);
	save(&g, &good);
	put16(good.data + S_STS, 0xc731);
	put16(good.data + S_EN, 0x4721);
	put16(good.data + S_CNT, 0x1c02);
	put16(good.data + S_GSTS, 0xffff);
	put16(good.data + S_GEN, 0xffff);
	good.data[S_RCR] = 0x0a;
	put32(good.data + S_TMR, 0x80000000);
	assert_int_equal(load(&g, good.data, good.len), 0);
	assert_int_equal(rd16(g.pm, STS), 0xc731);
	assert_int_equal(rd16(g.pm, CNT), 0x1c03);
	acpi_pm_destroy(g.pm);

	for (size_t n = 0; n < S_LEN; n++)
		expect_refused(f, good.data, n);
	expect_refused(f, NULL, 0);
	memcpy(p, good.data, S_LEN);
	p[S_LEN] = 0;
	expect_refused(f, p, S_LEN + 1);
	refuse16(f, &good, 0, 2); /* version */
	refuse16(f, &good, 0, 0);
	refuse16(f, &good, 2, 1);
	for (unsigned i = 0; i < sizeof(bad_sts) / sizeof(bad_sts[0]); i++)
		refuse16(f, &good, S_STS, bad_sts[i]);
	for (unsigned i = 0; i < sizeof(bad_en) / sizeof(bad_en[0]); i++)
		refuse16(f, &good, S_EN, bad_en[i]);
	for (unsigned i = 0; i < sizeof(bad_cnt) / sizeof(bad_cnt[0]); i++)
		refuse16(f, &good, S_CNT, bad_cnt[i]);
	for (unsigned v = 0; v < 256; v++) {
		if (v & ~0x0au) {
			memcpy(p, good.data, S_LEN);
			p[S_RCR] = (uint8_t)v; /* RST_CPU (bit 2) is never kept */
			expect_refused(f, p, S_LEN);
		}
	}

	/* f is as it was. */
	assert_int_equal(rd16(f->pm, STS), ACPI_PM1_PWRBTN);
	assert_int_equal(rd16(f->pm, GEN), 0x0f0f);
	assert_int_equal(rd16(f->pm, CNT), 5 << ACPI_PM1_SLP_TYP_SHIFT | 1);
	assert_int_equal(rd_reset(f), 0x08);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->resets + f->poweroffs, 0);
	state_buf_free(&good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_byte_access, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sleep_control, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gpe0, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_timer_rebase, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
