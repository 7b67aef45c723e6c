/* SPDX-License-Identifier: MIT */
/* ACPI fixed hardware: PM1 events and the SCI, sleep control, reset, PM timer, GPE0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hw/acpi_pm.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_byte_access, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sleep_control, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gpe0, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
