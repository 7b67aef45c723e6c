/* SPDX-License-Identifier: MIT */
/*
 * MP table (arch/x86/mptable.c), read the way an OS does: find "_MP_" on a
 * 16-byte boundary, check its checksum, follow it to "PCMP", check that
 * checksum and walk the entries in their required order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define BUF_LEN 0x2000

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

struct seen {
	int ncpu, nbsp, nbus, nioapic, nioint, nlint;
	int cpu_id[256];
	int irq_pin[16]; /* -1: no entry */
	int extint_lint, nmi_lint;
};

static void check_table(int ncpus, uint64_t base)
{
	uint8_t *buf = malloc(BUF_LEN);
	const uint8_t *fp = NULL, *h, *p, *end;
	const uint8_t ioapic_id = (uint8_t)ncpus;
	size_t used = 0;
	struct seen s;
	int last_type = -1;

	assert_non_null(buf);
	memset(buf, 0xa5, BUF_LEN);
	assert_int_equal(mptable_build(buf, BUF_LEN, base, ncpus, ioapic_id, LAYOUT_IOAPIC, &used),
			 0);
	assert_true(used <= BUF_LEN);

	for (size_t off = 0; off + 16 <= used; off++)
		if (!memcmp(buf + off, "_MP_", 4)) {
			fp = buf + off;
			break;
		}
	assert_non_null(fp);
	assert_int_equal((base + (uint64_t)(fp - buf)) % 16, 0);
	assert_int_equal(sum8(fp, 16), 0);
	assert_int_equal(fp[8], 1);
	assert_int_equal(fp[9], 4);
	assert_int_equal(fp[11], 0); /* configuration table present */

	assert_true(get32(fp + 4) >= base);
	h = buf + (get32(fp + 4) - base);
	assert_true(h + 44 <= buf + used);
	assert_memory_equal(h, "PCMP", 4);
	assert_int_equal(h[6], 4);
	assert_true(h + get16(h + 4) <= buf + used);
	assert_int_equal(sum8(h, get16(h + 4)), 0);
	assert_memory_equal(h + 8, "KVMM    ", 8);
	assert_memory_equal(h + 16, "KVMM        ", 12);
	assert_int_equal(get32(h + 36), LAYOUT_LAPIC);
	assert_int_equal(get16(h + 40), 0); /* extended table length */
	assert_int_equal(h[42], 0);

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 16; i++)
		s.irq_pin[i] = -1;
	s.extint_lint = s.nmi_lint = -1;
	p = h + 44;
	end = h + get16(h + 4);
	for (int i = 0; i < get16(h + 34); i++) {
		assert_true(p < end);
		assert_true(p[0] >= last_type); /* sorted by type (4.3) */
		last_type = p[0];
		switch (p[0]) {
		case 0:
			assert_true(p[1] < ncpus);
			assert_int_equal(s.cpu_id[p[1]]++, 0);
			assert_true(p[3] & 1);
			if (p[3] & 2) {
				assert_int_equal(p[1], 0);
				s.nbsp++;
			}
			s.ncpu++;
			p += 20;
			break;
		case 1:
			assert_int_equal(p[1], 0);
			assert_memory_equal(p + 2, "ISA   ", 6);
			s.nbus++;
			p += 8;
			break;
		case 2:
			assert_int_equal(p[1], ioapic_id);
			assert_int_equal(p[2], 0x11);
			assert_int_equal(p[3], 1);
			assert_int_equal(get32(p + 4), LAYOUT_IOAPIC);
			s.nioapic++;
			p += 8;
			break;
		case 3:
			assert_int_equal(p[1], 0); /* INT */
			assert_int_equal(get16(p + 2), 0);
			assert_int_equal(p[4], 0);
			assert_true(p[5] < 16);
			assert_int_equal(p[6], ioapic_id);
			assert_int_equal(s.irq_pin[p[5]], -1);
			s.irq_pin[p[5]] = p[7];
			s.nioint++;
			p += 8;
			break;
		case 4:
			assert_int_equal(p[6], 0xff);
			if (p[1] == 3)
				s.extint_lint = p[7];
			else if (p[1] == 1)
				s.nmi_lint = p[7];
			else
				fail_msg("unexpected local interrupt type %u", p[1]);
			s.nlint++;
			p += 8;
			break;
		default:
			fail_msg("unexpected entry type %u", p[0]);
		}
	}
	assert_ptr_equal(p, end);
	assert_int_equal(s.ncpu, ncpus);
	assert_int_equal(s.nbsp, 1);
	assert_int_equal(s.nbus, 1);
	assert_int_equal(s.nioapic, 1);
	assert_int_equal(s.nioint, 15);
	assert_int_equal(s.irq_pin[0], 2);
	assert_int_equal(s.irq_pin[2], -1);
	for (int irq = 1; irq < 16; irq++)
		if (irq != 2)
			assert_int_equal(s.irq_pin[irq], irq);
	assert_int_equal(s.nlint, 2);
	assert_int_equal(s.extint_lint, 0);
	assert_int_equal(s.nmi_lint, 1);
	assert_int_equal((size_t)(end - buf), used);
	free(buf);
}

static void test_counts(void **state)
{
	static const int counts[] = {1, 2, 4, 64, MPTABLE_MAX_CPUS};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		check_table(counts[i], LAYOUT_MPTABLE);
}

static void test_unaligned(void **state)
{
	(void)state;
	check_table(3, LAYOUT_MPTABLE + 5);
}

static void test_enospc(void **state)
{
	uint8_t *buf = malloc(BUF_LEN);
	size_t used = 0, need;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 8, 8, LAYOUT_IOAPIC, &need),
			 0);
	for (size_t len = 0; len < need; len++)
		assert_int_equal(
		    mptable_build(buf, len, LAYOUT_MPTABLE, 8, 8, LAYOUT_IOAPIC, &used), -ENOSPC);
	assert_int_equal(mptable_build(buf, need, LAYOUT_MPTABLE, 8, 8, LAYOUT_IOAPIC, &used), 0);
	assert_int_equal(used, need);
	free(buf);
}

static void test_einval(void **state)
{
	static uint8_t buf[BUF_LEN];
	size_t used;

	(void)state;
	assert_int_equal(mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 0, 1, LAYOUT_IOAPIC, &used),
			 -EINVAL);
	assert_int_equal(
	    mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 255, 255, LAYOUT_IOAPIC, &used), -EINVAL);
	/* An I/O APIC ID that a CPU already has. */
	assert_int_equal(mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 4, 3, LAYOUT_IOAPIC, &used),
			 -EINVAL);
	assert_int_equal(mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 4, 0xff, LAYOUT_IOAPIC, &used),
			 -EINVAL);
	assert_int_equal(mptable_build(buf, BUF_LEN, LAYOUT_MPTABLE, 4, 4, 1ULL << 32, &used),
			 -EINVAL);
	assert_int_equal(mptable_build(buf, BUF_LEN, 0xfffffff0ULL, 4, 4, LAYOUT_IOAPIC, &used),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_unaligned),
	    cmocka_unit_test(test_enospc),
	    cmocka_unit_test(test_einval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
