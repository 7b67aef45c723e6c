/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "machine/gmem.h"

static uint8_t low[0x10000], high[0x1000];

static void setup_mem(struct gmem *m)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(gmem_add_region(m, 0, sizeof(low), low), 0);
	assert_int_equal(gmem_add_region(m, 0x100000000ULL, sizeof(high), high), 0);
}

static void test_ptr_bounds(void **state)
{
	struct gmem m;
	(void)state;
	setup_mem(&m);
	assert_ptr_equal(gmem_ptr(&m, 0, 1), low);
	assert_ptr_equal(gmem_ptr(&m, 0xffff, 1), low + 0xffff);
	assert_null(gmem_ptr(&m, 0xffff, 2));           /* crosses the end */
	assert_null(gmem_ptr(&m, 0x10000, 1));          /* just past */
	assert_null(gmem_ptr(&m, 0, 0));                /* zero length */
	assert_null(gmem_ptr(&m, 0x10, UINT64_MAX));    /* huge length */
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));       /* wraps */
	assert_ptr_equal(gmem_ptr(&m, 0x100000fffULL, 1), high + 0xfff);
	assert_null(gmem_ptr(&m, 0xfffffffffULL, 1));
	/* A range spanning two regions is refused even if both ends are RAM. */
	assert_null(gmem_ptr(&m, 0xfff0, 0x100000000ULL));
}

static void test_read_write(void **state)
{
	struct gmem m;
	uint8_t buf[4] = {1, 2, 3, 4}, back[4];
	(void)state;
	setup_mem(&m);
	assert_int_equal(gmem_write(&m, 0x100, buf, 4), 0);
	assert_int_equal(gmem_read(&m, 0x100, back, 4), 0);
	assert_memory_equal(buf, back, 4);
	assert_int_equal(gmem_write(&m, 0xfffe, buf, 4), -EFAULT);
	assert_int_equal(gmem_read(&m, 0x20000, back, 4), -EFAULT);
	assert_int_equal(gmem_read(&m, 0x20000, back, 0), 0);
	assert_int_equal(gmem_region_end(&m, 0x10), 0x10000);
	assert_int_equal(gmem_region_end(&m, 0x10000), 0);
}

static void test_add_region_rejects(void **state)
{
	struct gmem m;
	static uint8_t extra[16];
	(void)state;
	setup_mem(&m);
	assert_int_equal(gmem_add_region(&m, 0x8000, 16, extra), -EINVAL); /* overlap */
	assert_int_equal(gmem_add_region(&m, 0x200000, 0, extra), -EINVAL);
	assert_int_equal(gmem_add_region(&m, UINT64_MAX - 4, 16, extra), -EINVAL);
	assert_int_equal(gmem_add_region(&m, 0x200000, 16, extra), 0);
	assert_int_equal(gmem_add_region(&m, 0x300000, 16, extra), 0);
	assert_int_equal(gmem_add_region(&m, 0x400000, 16, extra), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_add_region_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
