/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "machine/console.h"

static void test_passthrough(void **state)
{
	struct console_esc st = {0};
	uint8_t out[16];
	size_t n = 0, used;
	(void)state;
	assert_int_equal(console_esc_feed(&st, (const uint8_t *)"ls\r", 3, out, &n, &used),
			 CONSOLE_NONE);
	assert_int_equal(n, 3);
	assert_int_equal(used, 3);
	assert_memory_equal(out, "ls\r", 3);
}

static void test_quit_and_literal(void **state)
{
	struct console_esc st = {0};
	const uint8_t in[] = {'a', 1, 1, 'b', 1, 'x', 'c'};
	uint8_t out[16];
	size_t n = 0, used;
	(void)state;
	assert_int_equal(console_esc_feed(&st, in, sizeof(in), out, &n, &used), CONSOLE_QUIT);
	assert_int_equal(used, 6);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "a\001b", 3);
}

static void test_split_escape(void **state)
{
	struct console_esc st = {0};
	uint8_t out[16];
	size_t n = 0, used;
	const uint8_t a[] = {1}, b[] = {'h'}, c[] = {1, 'q', 'z'};
	(void)state;
	/* The escape character and its command may arrive in different reads. */
	assert_int_equal(console_esc_feed(&st, a, 1, out, &n, &used), CONSOLE_NONE);
	assert_int_equal(n, 0);
	assert_int_equal(console_esc_feed(&st, b, 1, out, &n, &used), CONSOLE_HELP);
	/* An unknown escape is dropped with its escape character. */
	assert_int_equal(console_esc_feed(&st, c, 3, out, &n, &used), CONSOLE_NONE);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_quit_and_literal),
		cmocka_unit_test(test_split_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
