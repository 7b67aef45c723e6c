/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/size.h"

static void test_suffixes(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(size_parse("512M", 1, &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(size_parse("2g", 1, &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(size_parse("64K", 1, &v), 0);
	assert_int_equal(v, 64ULL << 10);
	assert_int_equal(size_parse("1T", 1, &v), 0);
	assert_int_equal(v, 1ULL << 40);
	assert_int_equal(size_parse("3MiB", 1, &v), 0);
	assert_int_equal(v, 3ULL << 20);
	assert_int_equal(size_parse("3MB", 1, &v), 0);
	assert_int_equal(v, 3ULL << 20);
	assert_int_equal(size_parse("4096B", 1 << 20, &v), 0);
	assert_int_equal(v, 4096);
}

static void test_default_unit(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(size_parse("128", 1ULL << 20, &v), 0);
	assert_int_equal(v, 128ULL << 20);
	assert_int_equal(size_parse("128", 1, &v), 0);
	assert_int_equal(v, 128);
}

static void test_rejects(void **state)
{
	uint64_t v = 42;
	(void)state;
	assert_int_equal(size_parse("", 1, &v), -EINVAL);
	assert_int_equal(size_parse("M", 1, &v), -EINVAL);
	assert_int_equal(size_parse("-1M", 1, &v), -EINVAL);
	assert_int_equal(size_parse("12Q", 1, &v), -EINVAL);
	assert_int_equal(size_parse("12Mx", 1, &v), -EINVAL);
	assert_int_equal(size_parse(" 12M", 1, &v), -EINVAL);
	assert_int_equal(size_parse("1.5G", 1, &v), -EINVAL);
	assert_int_equal(size_parse(NULL, 1, &v), -EINVAL);
	assert_int_equal(size_parse("99999999999999999999", 1, &v), -ERANGE);
	assert_int_equal(size_parse("17179869184G", 1, &v), -ERANGE);
	/* Found by fuzz_size: a "B" suffix took a second "B" or "iB" after it. */
	assert_int_equal(size_parse("11bb", 1, &v), -EINVAL);
	assert_int_equal(size_parse("5BiB", 1 << 20, &v), -EINVAL);
	assert_int_equal(size_parse("5Bb", 1, &v), -EINVAL);
	assert_int_equal(v, 42); /* untouched on error */
}

static void test_uint(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(size_parse_uint("4", 1, 254, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(size_parse_uint("0", 1, 254, &v), -ERANGE);
	assert_int_equal(size_parse_uint("255", 1, 254, &v), -ERANGE);
	assert_int_equal(size_parse_uint("4x", 1, 254, &v), -EINVAL);
	assert_int_equal(size_parse_uint("", 1, 254, &v), -EINVAL);
	assert_int_equal(size_parse_uint("+4", 1, 254, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_default_unit),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_uint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
