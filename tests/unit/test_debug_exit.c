/* SPDX-License-Identifier: MIT */
/* debug_exit: the status a guest write turns into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hw/debug_exit.h"

struct fake {
	int calls, status;
};

static void fake_exit(void *opaque, int status)
{
	struct fake *f = opaque;

	f->calls++;
	f->status = status;
}

static void test_status(void **state)
{
	struct fake f = {0, 0};
	struct debug_exit *d = debug_exit_create(fake_exit, &f);
	uint8_t v4[4] = {0x78, 0x56, 0x34, 0x12}, r[4] = {1, 2, 3, 4};

	(void)state;
	assert_non_null(d);
	debug_exit_io(d, 0, &(uint8_t){0x10}, 1, true);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.status, 0x21);
	debug_exit_io(d, 0, &(uint8_t){0x00}, 1, true);
	assert_int_equal(f.status, 1); /* a guest cannot produce status 0 */
	debug_exit_io(d, 0, (uint8_t[2]){0x34, 0x12}, 2, true);
	assert_int_equal(f.status, 0x2469);
	debug_exit_io(d, 0, v4, 4, true);
	assert_int_equal(f.status, 0x2468acf1);
	/* The top bit falls off so the status stays a non-negative int; low byte intact. */
	debug_exit_io(d, 0, (uint8_t[4]){0xff, 0xff, 0xff, 0xff}, 4, true);
	assert_true(f.status >= 0);
	assert_int_equal(f.status & 0xff, 0xff);
	assert_int_equal(f.calls, 5);
	debug_exit_io(d, 0, r, 4, false);
	assert_int_equal(r[0] | r[1] | r[2] | r[3], 0);
	assert_int_equal(f.calls, 5);
	debug_exit_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
