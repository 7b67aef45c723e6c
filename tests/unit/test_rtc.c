/* SPDX-License-Identifier: MIT */
/* MC146818 RTC: host time in BCD and binary, 12/24 hours, SET, UIP, CMOS memory bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hw/rtc.h"
#include "state/buf.h"

#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

static uint8_t rd(struct rtc *r, uint8_t reg)
{
	uint8_t v;

	rtc_io(r, 0, &reg, 1, true);
	rtc_io(r, 1, &v, 1, false);
	return v;
}

static void wr(struct rtc *r, uint8_t reg, uint8_t v)
{
	rtc_io(r, 0, &reg, 1, true);
	rtc_io(r, 1, &v, 1, true);
}

static int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 15);
}

static int setup(void **state)
{
	struct rtc *r = rtc_create(NULL, 512 * MIB, 1);

	assert_non_null(r);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	rtc_destroy(*state);
	return 0;
}

/* Reads the clock in BCD, 24-hour form as seconds since the epoch (UTC). */
static time_t read_clock(struct rtc *r)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = bcd(rd(r, 0));
	tm.tm_min = bcd(rd(r, 2));
	tm.tm_hour = bcd(rd(r, 4));
	tm.tm_mday = bcd(rd(r, 7));
	tm.tm_mon = bcd(rd(r, 8)) - 1;
	tm.tm_year = bcd(rd(r, 0x32)) * 100 + bcd(rd(r, 9)) - 1900;
	return timegm(&tm);
}

static void test_host_time(void **state)
{
	struct rtc *r = *state;
	time_t before, got, after;
	struct tm tm;
	bool ok = false;

	assert_int_equal(rd(r, 0x0b), 0x02); /* BCD, 24 hours */
	/* Fields are read one by one: retry if a minute turned over in between. */
	for (int i = 0; i < 3 && !ok; i++) {
		before = time(NULL);
		got = read_clock(r);
		after = time(NULL);
		ok = got >= before - 1 && got <= after + 1;
	}
	assert_true(ok);
	gmtime_r(&got, &tm);
	assert_int_equal(bcd(rd(r, 6)), tm.tm_wday + 1); /* Sunday = 1 */
	assert_int_equal(rd(r, 0x0d), 0x80);		 /* VRT */
	assert_int_equal(rd(r, 0x0c), 0);
	wr(r, 0x0c, 0xff); /* read-only */
	wr(r, 0x0d, 0x00);
	assert_int_equal(rd(r, 0x0c), 0);
	assert_int_equal(rd(r, 0x0d), 0x80);
}

static void set_time(struct rtc *r, uint8_t b, const uint8_t v[8])
{
	static const uint8_t regs[8] = {0, 2, 4, 6, 7, 8, 9, 0x32};

	wr(r, 0x0b, b | 0x80); /* SET: the clock stops while we write */
	for (int i = 0; i < 8; i++)
		wr(r, regs[i], v[i]);
	for (int i = 0; i < 8; i++)
		assert_int_equal(rd(r, regs[i]), v[i]); /* frozen */
	wr(r, 0x0b, b);
}

static void test_bcd_binary_set(void **state)
{
	struct rtc *r = *state;
	/* 2024-02-29 12:34:56 (a Thursday: day of week 5), in BCD. */
	const uint8_t t[8] = {0x56, 0x34, 0x12, 0x05, 0x29, 0x02, 0x24, 0x20};

	set_time(r, 0x02, t);
	assert_true(bcd(rd(r, 0)) >= 56 && bcd(rd(r, 0)) <= 58);
	assert_int_equal(rd(r, 2), 0x34);
	assert_int_equal(rd(r, 4), 0x12);
	assert_int_equal(rd(r, 6), 0x05);
	assert_int_equal(rd(r, 7), 0x29);
	assert_int_equal(rd(r, 8), 0x02);
	assert_int_equal(rd(r, 9), 0x24);
	assert_int_equal(rd(r, 0x32), 0x20);
	/* The same time in binary. */
	wr(r, 0x0b, 0x06);
	assert_int_equal(rd(r, 2), 34);
	assert_int_equal(rd(r, 4), 12);
	assert_int_equal(rd(r, 7), 29);
	assert_int_equal(rd(r, 8), 2);
	assert_int_equal(rd(r, 9), 24);
	assert_int_equal(rd(r, 0x32), 20);
	/* 12-hour binary: 12:34 is 12 PM. */
	wr(r, 0x0b, 0x04);
	assert_int_equal(rd(r, 4), 0x80 | 12);
	/* Set 00:30 in binary 24-hour, read 12 AM; set 1 PM in BCD 12-hour, read 13 in 24-hour. */
	const uint8_t midnight[8] = {0, 30, 0, 5, 29, 2, 24, 20};
	set_time(r, 0x06, midnight);
	wr(r, 0x0b, 0x04);
	assert_int_equal(rd(r, 4), 12);
	const uint8_t one_pm[8] = {0x00, 0x00, 0x81, 0x05, 0x01, 0x03, 0x99, 0x19};
	set_time(r, 0x00, one_pm);
	wr(r, 0x0b, 0x02);
	assert_int_equal(rd(r, 4), 0x13);
	assert_int_equal(rd(r, 8), 0x03);
	assert_int_equal(rd(r, 9), 0x99);
	assert_int_equal(rd(r, 0x32), 0x19);
	assert_int_equal(rd(r, 6), 0x02); /* 1999-03-01 was a Monday */
}

static void test_write_running_clock(void **state)
{
	struct rtc *r = *state;

	/* Without SET a write changes that field and the clock keeps running. */
	wr(r, 0x32, 0x21);
	wr(r, 9, 0x50);
	assert_int_equal(rd(r, 9), 0x50);
	assert_int_equal(rd(r, 0x32), 0x21);
	wr(r, 8, 0x07);
	assert_int_equal(rd(r, 8), 0x07);
	assert_int_equal(rd(r, 9), 0x50);
}

static void test_hostile_values(void **state)
{
	struct rtc *r = *state;
	const uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	set_time(r, 0x02, junk);
	/* Clamped to a valid time: 2099-12-31 23:59:59, or a moment later 2100-01-01. */
	if (rd(r, 4) == 0x23) {
		assert_int_equal(rd(r, 2), 0x59);
		assert_int_equal(rd(r, 7), 0x31);
		assert_int_equal(rd(r, 8), 0x12);
		assert_int_equal(rd(r, 9), 0x99);
	} else {
		assert_int_equal(rd(r, 4), 0x00);
		assert_int_equal(rd(r, 8), 0x01);
	}
	set_time(r, 0x06, junk);
	assert_true(rd(r, 8) >= 1 && rd(r, 8) <= 12);
}

static void test_uip_never_stuck(void **state)
{
	struct rtc *r = *state;
	struct timespec start, now;
	bool seen0 = false, seen1 = false;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		uint8_t a = rd(r, 0x0a);

		assert_int_equal(a & 0x7f, 0x26);
		if (a & 0x80)
			seen1 = true;
		else
			seen0 = true;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (!(seen0 && seen1) && now.tv_sec - start.tv_sec < 3);
	assert_true(seen0);
	assert_true(seen1);
	/* With SET the chip does not update, so UIP stays clear. */
	wr(r, 0x0b, 0x82);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(rd(r, 0x0a) & 0x80, 0);
	wr(r, 0x0a, 0xff); /* UIP is read-only */
	wr(r, 0x0b, 0x02);
	assert_int_equal(rd(r, 0x0a) & 0x7f, 0x7f);
}

static void test_index_and_ram(void **state)
{
	struct rtc *r = *state;
	uint8_t v;

	/* NMI-mask bit set in the index: still register D. */
	rtc_io(r, 0, &(uint8_t){0x80 | 0x0d}, 1, true);
	rtc_io(r, 1, &v, 1, false);
	assert_int_equal(v, 0x80);
	rtc_io(r, 0, &v, 1, false);
	assert_int_equal(v, 0xff); /* index port is write-only */
	for (int i = 0x40; i < 0x80; i++)
		if (i != 0x5b && i != 0x5c && i != 0x5d && i != 0x5f)
			wr(r, (uint8_t)i, (uint8_t)(i ^ 0x5a));
	for (int i = 0x40; i < 0x80; i++)
		if (i != 0x5b && i != 0x5c && i != 0x5d && i != 0x5f)
			assert_int_equal(rd(r, (uint8_t)i), (uint8_t)(i ^ 0x5a));
	wr(r, 0x01, 0x42); /* alarm seconds: plain storage */
	assert_int_equal(rd(r, 0x01), 0x42);
}

struct mem_case {
	uint64_t ram;
	int ncpus;
	uint16_t ext;	  /* 0x17/0x18 and 0x30/0x31 */
	uint16_t above16; /* 0x34/0x35 */
	uint32_t high;	  /* 0x5b-0x5d */
};

static void test_memory_bytes(void **state)
{
	static const struct mem_case cases[] = {
	    {8 * MIB, 1, 7 * 1024, 0, 0},
	    {32 * MIB, 2, 31 * 1024, 256, 0},
	    {128 * MIB, 4, 0xffff, 112 * 16, 0},
	    /* Low RAM ends at 2816 MiB (layout.h), the rest is above 4 GiB. */
	    {2816 * MIB, 8, 0xffff, (2816 - 16) * 16, 0},
	    {3 * GIB, 8, 0xffff, (2816 - 16) * 16, 256 * 16},
	    {4 * GIB, 16, 0xffff, (2816 - 16) * 16, (4096 - 2816) * 16},
	    {2816 * MIB + 64 * 1024, 1, 0xffff, (2816 - 16) * 16, 1},
	    {1024 * GIB, 255, 0xffff, (2816 - 16) * 16, (1024 * 1024 - 2816) * 16},
	    {4096 * GIB, 300, 0xffff, (2816 - 16) * 16, 0xffffff},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mem_case *c = &cases[i];
		struct rtc *r = rtc_create(NULL, c->ram, c->ncpus);

		assert_non_null(r);
		assert_int_equal(rd(r, 0x15) | rd(r, 0x16) << 8, 640);
		assert_int_equal(rd(r, 0x17) | rd(r, 0x18) << 8, c->ext);
		assert_int_equal(rd(r, 0x30) | rd(r, 0x31) << 8, c->ext);
		assert_int_equal(rd(r, 0x34) | rd(r, 0x35) << 8, c->above16);
		assert_int_equal(rd(r, 0x5b) | rd(r, 0x5c) << 8 | rd(r, 0x5d) << 16, c->high);
		assert_int_equal(rd(r, 0x5f), c->ncpus > 256 ? 255 : c->ncpus - 1);
		rtc_destroy(r);
	}
}

/* --- snapshots ----------------------------------------------------------- */

static int irq_calls;

static void count_irq(void *opaque, uint32_t gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
	irq_calls++;
}

static struct rtc *fresh(void)
{
	const struct irq_sink irq = {count_irq, NULL};
	struct rtc *r = rtc_create(&irq, 512 * MIB, 1);

	assert_non_null(r);
	return r;
}

static void save(struct rtc *r, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(rtc_save(r, b), 0);
}

static int load(struct rtc *r, const void *p, size_t n)
{
	struct state_reader rd;

	state_reader_init(&rd, p, n);
	return rtc_load(r, &rd);
}

/* Every register as the guest reads it, starting with the data port at the current index. */
static void read_all(struct rtc *r, uint8_t *t)
{
	rtc_io(r, 1, &t[0], 1, false);
	for (int i = 0; i < RTC_CMOS_SIZE; i++)
		t[1 + i] = rd(r, (uint8_t)i);
	t[1 + 0x0a] &= 0x7f; /* UIP depends on the instant of the read */
}

/* a and b read alike; the clock may tick between the two reads, so retry a little. */
static void assert_same_registers(struct rtc *a, struct rtc *b, uint8_t index)
{
	uint8_t ta[RTC_CMOS_SIZE + 1], tb[RTC_CMOS_SIZE + 1];
	bool same = false;

	for (int i = 0; i < 3 && !same; i++) {
		rtc_io(a, 0, &index, 1, true);
		rtc_io(b, 0, &index, 1, true);
		read_all(a, ta);
		read_all(b, tb);
		same = memcmp(ta, tb, sizeof(ta)) == 0;
	}
	assert_memory_equal(ta, tb, sizeof(ta));
}

static struct rtc *roundtrip(struct rtc *a)
{
	struct rtc *b = fresh();
	struct state_buf sa, sb;

	save(a, &sa);
	irq_calls = 0;
	assert_int_equal(load(b, sa.data, sa.len), 0);
	assert_int_equal(irq_calls, 0); /* no interrupt sources: IRQ8 stays low */
	save(b, &sb);
	assert_int_equal(sb.len, sa.len);
	assert_memory_equal(sb.data, sa.data, sa.len);
	state_buf_free(&sa);
	state_buf_free(&sb);
	return b;
}

/* A guest clock set far from host time, binary 12-hour format, RAM and alarm written. */
static void test_snapshot_running(void **state)
{
	struct rtc *a = *state, *b;
	/* 2024-02-29 12:34:56, BCD */
	const uint8_t t[8] = {0x56, 0x34, 0x12, 0x05, 0x29, 0x02, 0x24, 0x20};
	uint8_t index = 0x4f, v;

	set_time(a, 0x02, t);
	wr(a, 0x0b, 0x04 | 0x08); /* binary, 12-hour, SQWE */
	wr(a, 0x0a, 0x2f);
	wr(a, 0x01, 0x30); /* alarm seconds */
	for (int i = 0x40; i < 0x80; i++)
		if (i != 0x5b && i != 0x5c && i != 0x5d && i != 0x5f)
			wr(a, (uint8_t)i, (uint8_t)(i * 3));
	rtc_io(a, 0, &index, 1, true);
	b = roundtrip(a);
	/* The index survives: the data port reads register 4Fh with no index write. */
	rtc_io(b, 1, &v, 1, false);
	assert_int_equal(v, (uint8_t)(0x4f * 3));
	assert_same_registers(a, b, 0x4f);
	/* The guest clock runs on from where it was, not from host time. */
	wr(b, 0x0b, 0x02);
	assert_int_equal(rd(b, 0x32), 0x20);
	assert_int_equal(rd(b, 9), 0x24);
	assert_int_equal(rd(b, 8), 0x02);
	assert_int_equal(rd(b, 7), 0x29);
	assert_int_equal(rd(b, 4), 0x12);
	assert_int_equal(rd(b, 2), 0x34);
	/* Subsequent behaviour: writes to a running clock commit alike on both. */
	wr(a, 0x0b, 0x02);
	wr(a, 9, 0x30);
	wr(b, 9, 0x30);
	assert_same_registers(a, b, 0x0b);
	rtc_destroy(b);
}

/* Saved halfway through setting the clock under SET: the half-written time goes along. */
static void test_snapshot_set_in_progress(void **state)
{
	struct rtc *a = *state, *b;

	wr(a, 0x0b, 0x82);
	wr(a, 0x32, 0x19);
	wr(a, 9, 0x99);
	wr(a, 8, 0x12);
	wr(a, 7, 0x31);
	b = roundtrip(a);
	assert_same_registers(a, b, 0x0b);
	assert_int_equal(rd(b, 0x0a) & 0x80, 0); /* no UIP while SET */
	/* The guest finishes on each: both clocks then agree. */
	wr(a, 4, 0x23);
	wr(b, 4, 0x23);
	wr(a, 0x0b, 0x02);
	wr(b, 0x0b, 0x02);
	assert_same_registers(a, b, 0x0c);
	assert_int_equal(rd(b, 0x32), 0x19);
	assert_int_equal(rd(b, 9), 0x99);
	rtc_destroy(b);
}

/* Offset of the i64 guest-minus-host seconds in a version-1 stream. */
#define OFF_OFFSET (4 + 1 + RTC_CMOS_SIZE)

static void put_offset(uint8_t *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[OFF_OFFSET + i] = (uint8_t)((uint64_t)v >> (8 * i));
}

/* The offset is relative to host time, taken at restore: a year behind stays a year behind. */
static void test_snapshot_offset_from_host(void **state)
{
	struct rtc *a = *state, *b = fresh();
	struct state_buf s;
	time_t before, got, after;
	bool ok = false;

	save(a, &s);
	put_offset(s.data, -86400 * 365);
	assert_int_equal(load(b, s.data, s.len), 0);
	for (int i = 0; i < 3 && !ok; i++) {
		before = time(NULL);
		got = read_clock(b);
		after = time(NULL);
		ok = got >= before - 86400 * 365 - 1 && got <= after - 86400 * 365 + 1;
	}
	assert_true(ok);
	state_buf_free(&s);
	rtc_destroy(b);
}

static void expect_refused(struct rtc *r, const uint8_t *p, size_t n)
{
	struct state_buf before, after;

	save(r, &before);
	irq_calls = 0;
	assert_int_equal(load(r, p, n), -EINVAL);
	assert_int_equal(irq_calls, 0);
	save(r, &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, before.len);
	state_buf_free(&before);
	state_buf_free(&after);
}

static void refuse_patched(struct rtc *r, const struct state_buf *good, size_t off, uint8_t v)
{
	uint8_t p[OFF_OFFSET + 8];

	assert_int_equal(good->len, sizeof(p));
	memcpy(p, good->data, sizeof(p));
	p[off] = v;
	expect_refused(r, p, sizeof(p));
}

static void refuse_offset(struct rtc *r, const struct state_buf *good, int64_t v)
{
	uint8_t p[OFF_OFFSET + 8];

	memcpy(p, good->data, sizeof(p));
	put_offset(p, v);
	expect_refused(r, p, sizeof(p));
}

static void test_snapshot_refused(void **state)
{
	struct rtc *r = fresh(), *g = *state;
	const uint8_t t[8] = {0, 0, 8, 2, 1, 1, 1, 20};
	struct state_buf good;
	uint8_t p[OFF_OFFSET + 9], index = 0x41;

	set_time(r, 0x06, t);
	wr(r, 0x41, 0x77);
	rtc_io(r, 0, &index, 1, true);
	save(g, &good); /* another device's valid state */

	for (size_t n = 0; n < good.len; n++)
		expect_refused(r, good.data, n);
	expect_refused(r, NULL, 0);
	memcpy(p, good.data, good.len);
	p[good.len] = 0;
	expect_refused(r, p, good.len + 1); /* trailing byte */

	refuse_patched(r, &good, 0, 2); /* version */
	refuse_patched(r, &good, 0, 0);
	refuse_patched(r, &good, 3, 1);
	refuse_patched(r, &good, 4, 0x80); /* index 128 */
	refuse_patched(r, &good, 4, 0xff);
	refuse_patched(r, &good, 5 + 0x0a, 0xa6); /* UIP stored in register A */
	refuse_patched(r, &good, 5 + 0x0c, 0x80); /* a flag in C with no interrupt source */
	refuse_patched(r, &good, 5 + 0x0c, 0x01); /* C's reserved bits */
	refuse_patched(r, &good, 5 + 0x0d, 0x00); /* D without VRT */
	refuse_patched(r, &good, 5 + 0x0d, 0x81);
	refuse_offset(r, &good, ((int64_t)1 << 40) + 1);
	refuse_offset(r, &good, -((int64_t)1 << 40) - 1);
	refuse_offset(r, &good, INT64_MAX);
	refuse_offset(r, &good, INT64_MIN);

	/* The limits themselves load, and the clock reads clamped values, not garbage. */
	memcpy(p, good.data, good.len);
	put_offset(p, (int64_t)1 << 40);
	assert_int_equal(load(g, p, good.len), 0);
	assert_int_equal(rd(g, 0x32), 0x99);
	put_offset(p, -((int64_t)1 << 40));
	assert_int_equal(load(g, p, good.len), 0);
	assert_int_equal(rd(g, 0x32), 0x00);

	/* r is as it was: index, RAM and its own clock (2001-01-01 08:00, binary). */
	rtc_io(r, 1, &index, 1, false);
	assert_int_equal(index, 0x77);
	assert_int_equal(rd(r, 0x32), 20);
	assert_int_equal(rd(r, 9), 1);
	assert_int_equal(rd(r, 8), 1);
	state_buf_free(&good);
	rtc_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_host_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bcd_binary_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_running_clock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uip_never_stuck, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_and_ram, setup, teardown),
	    cmocka_unit_test(test_memory_bytes),
	    cmocka_unit_test_setup_teardown(test_snapshot_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_set_in_progress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_offset_from_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
