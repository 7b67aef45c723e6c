/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU CPUID (arch/x86/cpuid.c). The AMD table is this project's
 * development machine's KVM_GET_SUPPORTED_CPUID (shared/platform/
 * supported-cpuid.txt), abridged; the Intel one is made up to exercise the
 * Intel-only leaves 04H and 1FH.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define E(fn, idx, fl, a, b, c, d)                                                                 \
	{                                                                                          \
		.function = (fn), .index = (idx), .flags = (fl), .eax = (a), .ebx = (b),           \
		.ecx = (c), .edx = (d)                                                             \
	}

static const struct kvm_cpuid_entry2 amd[] = {
    E(0x00000000, 0, 0, 0x00000010, 0x68747541, 0x444d4163, 0x69746e65),
    E(0x00000001, 0, 0, 0x00a00f11, 0x00020800, 0x81202000, 0x078bfbff),
    E(0x00000004, 0, SIG, 0, 0, 0, 0),
    E(0x00000007, 0, SIG, 0x00000000, 0x01800002, 0x00000004, 0xa8000000),
    E(0x0000000b, 0, SIG, 0, 0, 0, 0),
    E(0x0000000d, 0, SIG, 0x00000207, 0x00000988, 0x00000988, 0x00000000),
    E(0x0000000d, 1, SIG, 0, 0, 0, 0),
    E(0x80000000, 0, 0, 0x80000022, 0x68747541, 0x444d4163, 0x69746e65),
    E(0x80000001, 0, 0, 0x00a00f11, 0x40000000, 0x00400393, 0x23d3fbff),
    E(0x80000005, 0, 0, 0xff40ff40, 0xff40ff40, 0x20080140, 0x20080140),
    E(0x80000008, 0, 0, 0x00003030, 0x110ad205, 0x00007001, 0x00000000),
    E(0x8000001d, 0, SIG, 0x00000121, 0x01c0003f, 0x0000003f, 0x00000000),
    E(0x8000001d, 1, SIG, 0x00000122, 0x01c0003f, 0x0000003f, 0x00000000),
    E(0x8000001d, 2, SIG, 0x00000143, 0x01c0003f, 0x000003ff, 0x00000002),
    E(0x8000001d, 3, SIG, 0x00004163, 0x03c0003f, 0x00007fff, 0x00000001),
    E(0x8000001d, 4, SIG, 0, 0, 0, 0),
    E(0x8000001e, 0, 0, 0, 0, 0, 0),
    E(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d),
    E(0x40000001, 0, 0, 0x01007efb, 0, 0, 0),
};
#define NAMD ((int)(sizeof(amd) / sizeof(amd[0])))

/* "GenuineIntel", leaf 04H caches L1d, L1i, L2, L3, 0BH/1FH with host values. */
static const struct kvm_cpuid_entry2 intel[] = {
    E(0x00000000, 0, 0, 0x0000001f, 0x756e6547, 0x6c65746e, 0x49656e69),
    E(0x00000001, 0, 0, 0x000906ea, 0x00000800, 0x8ffa3203, 0x0f8bfbff),
    E(0x00000004, 0, SIG, 0x1c004121, 0x01c0003f, 0x0000003f, 0),
    E(0x00000004, 1, SIG, 0x1c004122, 0x01c0003f, 0x0000003f, 0),
    E(0x00000004, 2, SIG, 0x1c004143, 0x00c0003f, 0x000003ff, 0),
    E(0x00000004, 3, SIG, 0x1c03c163, 0x02c0003f, 0x00003fff, 6),
    E(0x00000004, 4, SIG, 0, 0, 0, 0),
    E(0x0000000b, 0, SIG, 0x00000001, 0x00000002, 0x00000100, 0x00000007),
    E(0x0000000b, 1, SIG, 0x00000004, 0x0000000c, 0x00000201, 0x00000007),
    E(0x0000001f, 0, SIG, 0x00000001, 0x00000002, 0x00000100, 0x00000007),
    E(0x0000001f, 1, SIG, 0x00000004, 0x0000000c, 0x00000201, 0x00000007),
    E(0x80000000, 0, 0, 0x80000008, 0, 0, 0),
    E(0x80000001, 0, 0, 0, 0, 0x00000121, 0x2c100800),
    E(0x80000008, 0, 0, 0x00003027, 0, 0, 0),
};
#define NINTEL ((int)(sizeof(intel) / sizeof(intel[0])))

#define OUT_MAX 64

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e, int n, uint32_t fn,
					   uint32_t idx)
{
	const struct kvm_cpuid_entry2 *hit = NULL;

	for (int i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx) {
			assert_null(hit); /* never duplicated */
			hit = &e[i];
		}
	return hit;
}

static int count_fn(const struct kvm_cpuid_entry2 *e, int n, uint32_t fn)
{
	int c = 0;

	for (int i = 0; i < n; i++)
		c += e[i].function == fn;
	return c;
}

static uint32_t order(uint32_t n)
{
	uint32_t s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

/* Leaf 0BH or 1FH: SMT level, core level, then an invalid level. */
static void check_topo_leaf(const struct kvm_cpuid_entry2 *out, int n, uint32_t fn, int vcpu,
			    int ncpus)
{
	const struct kvm_cpuid_entry2 *l0 = find(out, n, fn, 0);
	const struct kvm_cpuid_entry2 *l1 = find(out, n, fn, 1);
	const struct kvm_cpuid_entry2 *l2 = find(out, n, fn, 2);

	assert_int_equal(count_fn(out, n, fn), 3);
	assert_non_null(l0);
	assert_non_null(l1);
	assert_non_null(l2);
	assert_true(l0->flags & SIG);
	assert_int_equal(l0->eax & 0x1f, 0);
	assert_int_equal(l0->ebx & 0xffff, 1);
	assert_int_equal(l0->ecx & 0xff, 0);
	assert_int_equal((l0->ecx >> 8) & 0xff, 1);
	assert_int_equal(l0->edx, vcpu);
	assert_int_equal(l1->eax & 0x1f, order((uint32_t)ncpus));
	assert_int_equal(l1->ebx & 0xffff, ncpus);
	assert_int_equal(l1->ecx & 0xff, 1);
	assert_int_equal((l1->ecx >> 8) & 0xff, 2);
	assert_int_equal(l1->edx, vcpu);
	assert_int_equal(l2->eax, 0);
	assert_int_equal(l2->ebx, 0);
	assert_int_equal(l2->ecx, 2);
	assert_int_equal(l2->edx, vcpu);
	/* The core-level shift must cover every APIC ID in the package. */
	assert_true((uint32_t)(ncpus - 1) >> (l1->eax & 0x1f) == 0);
}

static void check_amd(int vcpu, int ncpus)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	const struct kvm_cpuid_entry2 *e;
	int n = cpuid_build(amd, NAMD, vcpu, ncpus, out, OUT_MAX);

	/* 0BH's single entry becomes three subleaves; nothing else is added. */
	assert_int_equal(n, NAMD + 2);

	e = find(out, n, 1, 0);
	assert_non_null(e);
	assert_int_equal(e->ebx >> 24, vcpu & 0xff);
	assert_int_equal((e->ebx >> 16) & 0xff, ncpus < 255 ? ncpus : 255);
	assert_int_equal((e->ebx >> 8) & 0xff, 8);
	assert_int_equal(e->eax, 0x00a00f11);
	assert_int_equal(!!(e->edx & (1u << 28)), ncpus > 1);
	assert_true(e->ecx & (1u << 31));
	assert_false(e->ecx & (1u << 27));
	assert_true(e->ecx & (1u << 21)); /* x2APIC passes through */

	check_topo_leaf(out, n, 0xb, vcpu, ncpus);

	e = find(out, n, 0x80000001, 0);
	assert_non_null(e);
	assert_int_equal(!!(e->ecx & 2), ncpus > 1);
	assert_int_equal(e->ecx & ~2u, 0x00400393 & ~2u);

	e = find(out, n, 0x80000008, 0);
	assert_non_null(e);
	assert_int_equal(e->ecx & 0xff, ncpus - 1 < 255 ? ncpus - 1 : 255);
	assert_int_equal((e->ecx >> 12) & 0xf, order((uint32_t)ncpus));
	assert_int_equal(e->eax, 0x00003030); /* address sizes untouched */

	e = find(out, n, 0x8000001e, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, vcpu);
	assert_int_equal(e->ebx & 0xff, vcpu & 0xff);
	assert_int_equal((e->ebx >> 8) & 0xff, 0);
	assert_int_equal(e->ecx & 0x7ff, 0);

	/* Fn8000_001D: L1/L2 private, L3 shared by all; the rest untouched. */
	for (uint32_t i = 0; i < 3; i++) {
		e = find(out, n, 0x8000001d, i);
		assert_non_null(e);
		assert_int_equal((e->eax >> 14) & 0xfff, 0);
		assert_int_equal(e->ebx, amd[11 + i].ebx);
	}
	e = find(out, n, 0x8000001d, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, ncpus - 1);
	assert_int_equal(e->eax & 0x3fff, 0x163);
	e = find(out, n, 0x8000001d, 4);
	assert_int_equal(e->eax, 0);

	/* Paravirt and other leaves pass through unchanged. */
	for (int i = 0; i < NAMD; i++) {
		uint32_t fn = amd[i].function;

		if (fn == 0x40000000 || fn == 0x40000001 || fn == 0xd || fn == 0x80000005 ||
		    fn == 0x80000000 || fn == 0) {
			e = find(out, n, fn, amd[i].index);
			assert_non_null(e);
			assert_memory_equal(e, &amd[i], sizeof(*e));
		}
	}
	e = find(out, n, 0x40000000, 0);
	assert_memory_equal(&e->ebx, "KVMKVMKVM\0\0\0", 12);

	e = find(out, n, 7, 0);
	assert_false(e->ecx & (1u << 4)); /* OSPKE */
}

static void test_amd_topology(void **state)
{
	static const int counts[] = {1, 2, 3, 4, 64, 255, 256, 300, CPUID_MAX_CPUS};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int nc = counts[i];

		check_amd(0, nc);
		check_amd(nc - 1, nc);
		check_amd(nc / 2, nc);
	}
}

static void test_intel(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	const struct kvm_cpuid_entry2 *e;
	int n;

	(void)state;
	n = cpuid_build(intel, NINTEL, 5, 8, out, OUT_MAX);
	/* 0BH and 1FH: two entries each become three. */
	assert_int_equal(n, NINTEL + 2);
	check_topo_leaf(out, n, 0xb, 5, 8);
	check_topo_leaf(out, n, 0x1f, 5, 8);

	for (uint32_t i = 0; i < 4; i++) {
		e = find(out, n, 4, i);
		assert_non_null(e);
		assert_int_equal(e->eax >> 26, 7); /* cores per package - 1 */
		assert_int_equal((e->eax >> 14) & 0xfff, i < 3 ? 0 : 7);
		assert_int_equal(e->eax & 0x3fff, intel[2 + i].eax & 0x3fff);
		assert_int_equal(e->ebx, intel[2 + i].ebx);
		assert_int_equal(e->edx, intel[2 + i].edx);
	}
	e = find(out, n, 4, 4);
	assert_int_equal(e->eax, 0); /* no cache: left alone */

	/* AMD-only fields stay as KVM gave them. */
	e = find(out, n, 0x80000001, 0);
	assert_int_equal(e->ecx, 0x121);
	e = find(out, n, 0x80000008, 0);
	assert_int_equal(e->ecx, 0);

	e = find(out, n, 1, 0);
	assert_int_equal(e->ebx >> 24, 5);
	assert_int_equal((e->ebx >> 16) & 0xff, 8);
	assert_int_equal((e->ebx >> 8) & 0xff, 8);

	/* 64 cores: EAX[31:26] saturates at 63. */
	n = cpuid_build(intel, NINTEL, 0, 100, out, OUT_MAX);
	e = find(out, n, 4, 0);
	assert_int_equal(e->eax >> 26, 63);
}

/* KVM left 0BH out: it is added when leaf 0 says it exists, not otherwise. */
static void test_synthesize_0b(void **state)
{
	struct kvm_cpuid_entry2 in[NAMD], out[OUT_MAX];
	int nin = 0, n;

	(void)state;
	for (int i = 0; i < NAMD; i++)
		if (amd[i].function != 0xb)
			in[nin++] = amd[i];
	n = cpuid_build(in, nin, 3, 4, out, OUT_MAX);
	assert_int_equal(n, nin + 3);
	check_topo_leaf(out, n, 0xb, 3, 4);

	in[0].eax = 0xa; /* maximum basic leaf below 0BH */
	n = cpuid_build(in, nin, 3, 4, out, OUT_MAX);
	assert_int_equal(n, nin);
	assert_int_equal(count_fn(out, n, 0xb), 0);
}

/* The same inputs give the same bytes, and the input table is not touched. */
static void test_deterministic(void **state)
{
	struct kvm_cpuid_entry2 a[OUT_MAX], b[OUT_MAX], copy[NAMD];
	int na, nb;

	(void)state;
	memcpy(copy, amd, sizeof(amd));
	memset(a, 0x5a, sizeof(a));
	memset(b, 0xa5, sizeof(b));
	na = cpuid_build(copy, NAMD, 7, 16, a, OUT_MAX);
	nb = cpuid_build(copy, NAMD, 7, 16, b, OUT_MAX);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, sizeof(a[0]) * (size_t)na);
	assert_memory_equal(copy, amd, sizeof(amd));
	/* Different vCPUs differ only in their IDs. */
	nb = cpuid_build(copy, NAMD, 8, 16, b, OUT_MAX);
	assert_int_equal(na, nb);
	assert_memory_not_equal(a, b, sizeof(a[0]) * (size_t)na);
}

static void test_enospc(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	int need;

	(void)state;
	need = cpuid_build(amd, NAMD, 0, 2, out, OUT_MAX);
	assert_true(need > 0);
	for (int max = 0; max < need; max++)
		assert_int_equal(cpuid_build(amd, NAMD, 0, 2, out, max), -ENOSPC);
	assert_int_equal(cpuid_build(amd, NAMD, 0, 2, out, need), need);
}

static void test_einval(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];

	(void)state;
	assert_int_equal(cpuid_build(amd, NAMD, 0, 0, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(amd, NAMD, 2, 2, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(amd, NAMD, -1, 2, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(amd, NAMD, 0, CPUID_MAX_CPUS + 1, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(amd, -1, 0, 1, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(NULL, 3, 0, 1, out, OUT_MAX), -EINVAL);
	assert_int_equal(cpuid_build(amd, NAMD, 0, 1, NULL, OUT_MAX), -EINVAL);
	/* An empty supported table is valid and yields nothing. */
	assert_int_equal(cpuid_build(NULL, 0, 0, 1, out, OUT_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_amd_topology),  cmocka_unit_test(test_intel),
	    cmocka_unit_test(test_synthesize_0b), cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_enospc),	  cmocka_unit_test(test_einval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
