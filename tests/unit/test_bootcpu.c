/* SPDX-License-Identifier: MIT */
/* Entry state of the boot CPU and the e820 map it is handed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/bootcpu.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define RAM (32u << 20)

static struct gmem *fake_ram(void)
{
	static struct gmem m;
	static uint8_t *ram;
	if (!ram)
		ram = calloc(1, RAM);
	memset(&m, 0, sizeof(m));
	assert_int_equal(gmem_add_region(&m, 0, RAM, ram), 0);
	return &m;
}

static void test_linux64(void **state)
{
	struct gmem *m = fake_ram();
	struct boot_entry e = {.mode = BOOT_LINUX64, .entry = 0x1000000, .rsi = LAYOUT_ZERO_PAGE};
	struct kvm_regs r;
	struct kvm_sregs s = {0};
	uint64_t pml4, pdpt, pd511;
	(void)state;
	assert_int_equal(bootcpu_setup(m, &e, &r, &s), 0);
	assert_int_equal(r.rip, 0x1000000);
	assert_int_equal(r.rsi, LAYOUT_ZERO_PAGE);
	assert_int_equal(r.rflags, 2);
	/* boot.rst: __BOOT_CS is 0x10 and __BOOT_DS 0x18, flat, 64-bit code. */
	assert_int_equal(s.cs.selector, 0x10);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.ds.selector, 0x18);
	assert_int_equal(s.ss.selector, 0x18);
	assert_int_equal(s.ds.limit, 0xffffffff);
	assert_true(s.cr0 & 0x80000001);
	assert_int_equal(s.cr4 & 0x20, 0x20);
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.cr3, LAYOUT_PML4);
	/* The identity map covers 4 GiB with 2 MiB pages. */
	assert_int_equal(gmem_read(m, LAYOUT_PML4, &pml4, 8), 0);
	assert_int_equal(pml4 & ~0xfffULL, LAYOUT_PDPT);
	assert_int_equal(gmem_read(m, LAYOUT_PDPT + 3 * 8, &pdpt, 8), 0);
	assert_int_equal(pdpt & ~0xfffULL, LAYOUT_PD + 3 * 4096);
	assert_int_equal(gmem_read(m, LAYOUT_PD + 3 * 4096 + 511 * 8, &pd511, 8), 0);
	assert_int_equal(pd511, (4ULL << 30) - (2ULL << 20) + 0x83);
}

static void test_multiboot32(void **state)
{
	struct gmem *m = fake_ram();
	struct boot_entry e = {.mode = BOOT_MULTIBOOT32, .entry = 0x100020, .eax = 0x2badb002,
			       .ebx = LAYOUT_BOOTINFO};
	struct kvm_regs r;
	struct kvm_sregs s = {0};
	uint64_t gdt[6];
	(void)state;
	assert_int_equal(bootcpu_setup(m, &e, &r, &s), 0);
	assert_int_equal(r.rax, 0x2badb002);
	assert_int_equal(r.rbx, LAYOUT_BOOTINFO);
	assert_int_equal(r.rip, 0x100020);
	/* Multiboot 3.2: flat 32-bit protected mode, paging off. */
	assert_int_equal(s.cr0 & 0x80000001, 1);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.base, 0);
	assert_int_equal(s.cs.limit, 0xffffffff);
	/* The selector the CPU holds matches a descriptor the guest can reload. */
	assert_int_equal(gmem_read(m, LAYOUT_GDT, gdt, sizeof(gdt)), 0);
	assert_int_equal((gdt[s.cs.selector / 8] >> 40) & 0xff, 0x9b);
	assert_int_equal((gdt[s.ds.selector / 8] >> 40) & 0xff, 0x93);
}

static void test_e820(void **state)
{
	struct e820_entry map[E820_MAX];
	int n;
	(void)state;
	n = e820_build(64ULL << 20, map);
	assert_int_equal(n, 4);
	assert_int_equal(map[0].addr, 0);
	assert_int_equal(map[0].size, LAYOUT_EBDA);
	assert_int_equal(map[0].type, E820_RAM);
	assert_int_equal(map[3].addr, LAYOUT_HIMEM);
	assert_int_equal(map[3].size, (64ULL << 20) - LAYOUT_HIMEM);
	/* More than 3 GiB: the rest moves above 4 GiB, around the MMIO hole. */
	n = e820_build(5ULL << 30, map);
	assert_int_equal(n, 5);
	assert_int_equal(map[3].addr + map[3].size, LAYOUT_MMIO_HOLE);
	assert_int_equal(map[4].addr, LAYOUT_4G);
	assert_int_equal(map[4].size, (5ULL << 30) - LAYOUT_MMIO_HOLE);
	assert_int_equal(e820_lowmem(5ULL << 30) + e820_highmem(5ULL << 30), 5ULL << 30);
}

static void test_fpu(void **state)
{
	struct kvm_fpu f;
	(void)state;
	bootcpu_fpu(&f);
	assert_int_equal(f.fcw, 0x37f);
	assert_int_equal(f.mxcsr, 0x1f80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux64),
		cmocka_unit_test(test_multiboot32),
		cmocka_unit_test(test_e820),
		cmocka_unit_test(test_fpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
