/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "machine/bus.h"

struct fake {
	uint64_t last_off;
	uint32_t last_len;
	bool last_write;
	int calls;
};

static void fake_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct fake *f = opaque;
	f->last_off = off;
	f->last_len = len;
	f->last_write = is_write;
	f->calls++;
	if (!is_write)
		memset(data, 0x5a, len);
}

static void test_dispatch(void **state)
{
	struct bus bus;
	struct fake a = {0}, b = {0};
	uint8_t d[8];
	(void)state;
	assert_int_equal(bus_init(&bus), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f8, 8, fake_io, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x60, 1, fake_io, &b, "b"), 0);
	assert_true(bus_access(&bus, BUS_PIO, 0x3fd, d, 1, false));
	assert_int_equal(a.last_off, 5);
	assert_int_equal(d[0], 0x5a);
	assert_true(bus_access(&bus, BUS_PIO, 0x60, d, 1, true));
	assert_int_equal(b.calls, 1);
	assert_true(b.last_write);
	/* The same address in the other space is not the same device. */
	assert_false(bus_access(&bus, BUS_MMIO, 0x60, d, 1, true));
	bus_destroy(&bus);
}

static void test_unhandled(void **state)
{
	struct bus bus;
	struct fake a = {0};
	uint8_t d[4] = {0};
	(void)state;
	assert_int_equal(bus_init(&bus), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x60, 1, fake_io, &a, "a"), 0);
	assert_false(bus_access(&bus, BUS_PIO, 0x61, d, 4, false));
	assert_int_equal(d[0] & d[1] & d[2] & d[3], 0xff); /* open bus reads all ones */
	/* An access running past the end of a range is not handed to the device. */
	assert_false(bus_access(&bus, BUS_PIO, 0x60, d, 2, true));
	assert_int_equal(a.calls, 0);
	for (int i = 0; i < 1000; i++)
		bus_access(&bus, BUS_MMIO, 0xd0000000ULL + (uint64_t)i * 4, d, 4, true);
	assert_int_equal(bus_unhandled_count(&bus, BUS_PIO), 2);
	assert_int_equal(bus_unhandled_count(&bus, BUS_MMIO), 1000);
	bus_destroy(&bus);
}

static void test_register_rules(void **state)
{
	struct bus bus;
	struct fake a = {0};
	uint8_t d[1];
	(void)state;
	assert_int_equal(bus_init(&bus), 0);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x1000, 0x100, fake_io, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x10ff, 1, fake_io, &a, "b"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0xf00, 0x101, fake_io, &a, "c"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x0, 0, fake_io, &a, "d"), -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_MMIO, UINT64_MAX, 2, fake_io, &a, "e"), -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0xf00, 0x100, fake_io, &a, "f"), 0);
	/* Many ranges, registered out of order, are all found. */
	for (uint64_t i = 40; i > 0; i--)
		assert_int_equal(bus_register(&bus, BUS_PIO, i * 16, 8, fake_io, &a, "g"), 0);
	for (uint64_t i = 1; i <= 40; i++)
		assert_true(bus_access(&bus, BUS_PIO, i * 16 + 7, d, 1, false));
	assert_false(bus_access(&bus, BUS_PIO, 16 + 8, d, 1, false));
	assert_int_equal(bus_unregister(&bus, BUS_MMIO, 0x1000), 0);
	assert_int_equal(bus_unregister(&bus, BUS_MMIO, 0x1000), -ENOENT);
	assert_false(bus_access(&bus, BUS_MMIO, 0x1000, d, 1, false));
	assert_true(bus_access(&bus, BUS_MMIO, 0xfff, d, 1, false));
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unhandled),
		cmocka_unit_test(test_register_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
