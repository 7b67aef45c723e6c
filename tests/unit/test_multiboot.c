/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1: header search, the a.out kludge and ELF32 loading, the
 * information structure (memory, command line, module, mmap, loader name),
 * and refusals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "boot_fixtures.h"

#define MB_MAGIC 0x1BADB002u
#define HOFF	 0x40 /* where test images carry their header */

struct mbh {
	uint32_t flags, header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* A flat image of size bytes with a multiboot header at offset hoff. */
static uint8_t *mb_image(size_t size, size_t hoff, const struct mbh *h)
{
	uint8_t *img = malloc(size);

	tfill(img, size, 11);
	put32(img + hoff, MB_MAGIC);
	put32(img + hoff + 4, h->flags);
	put32(img + hoff + 8, (uint32_t) - (MB_MAGIC + h->flags));
	put32(img + hoff + 12, h->header_addr);
	put32(img + hoff + 16, h->load_addr);
	put32(img + hoff + 20, h->load_end_addr);
	put32(img + hoff + 24, h->bss_end_addr);
	put32(img + hoff + 28, h->entry_addr);
	return img;
}

static const struct mbh kludge = {0x00010003, 0x100000 + HOFF, 0x100000, 0, 0x104000, 0x100080};

static void test_aout_kludge(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct e820_entry map[E820_MAX];
	const size_t size = 0x2000;
	uint8_t *img = mb_image(size, HOFF, &kludge), initrd[10000];
	struct boot_config cfg = tcfg(img, size, 32 * MiB);
	static const char want_cmd[] = "/boot/kernel console=ttyS0 quiet";
	int n;
	(void)state;

	tfill(initrd, sizeof(initrd), 4);
	cfg.cmdline = "console=ttyS0 quiet";
	cfg.initrd = initrd;
	cfg.initrd_size = sizeof(initrd);
	tguest_init(&g, 32 * MiB);
	memset(g.low + 0x100000, 0xcc, 0x8000);
	assert_true(multiboot_probe(img, size));
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_MULTIBOOT32);
	assert_int_equal(out.entry, 0x100080);
	assert_int_equal(out.eax, 0x2BADB002);
	assert_int_equal(out.ebx, LAYOUT_BOOTINFO);
	/* The whole file at load_addr, then bss to bss_end_addr, nothing more. */
	assert_memory_equal(tg_ptr(&g, 0x100000, size), img, size);
	for (uint64_t a = 0x100000 + size; a < 0x104000; a++)
		assert_int_equal(tg8(&g, a), 0);
	assert_int_equal(tg8(&g, 0x104000), 0xcc);

	const uint64_t mbi = LAYOUT_BOOTINFO;
	assert_int_equal(tg32(&g, mbi + 0),
			 (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	assert_int_equal(tg32(&g, mbi + 4), 639); /* 0..0x9fc00 */
	assert_int_equal(tg32(&g, mbi + 8), (32 * MiB - MiB) / 1024);
	uint32_t cmd = tg32(&g, mbi + 16);
	assert_true(cmd >= LAYOUT_BOOTDATA && cmd < LAYOUT_BOOTDATA + LAYOUT_BOOTDATA_MAX);
	assert_string_equal((const char *)tg_ptr(&g, cmd, sizeof(want_cmd)), want_cmd);

	assert_int_equal(tg32(&g, mbi + 20), 1);
	uint32_t mod = tg32(&g, mbi + 24);
	uint32_t start = tg32(&g, mod), end = tg32(&g, mod + 4);
	assert_int_equal(start & 0xfff, 0);
	assert_true(start >= 0x104000);
	assert_int_equal(start, (32 * MiB - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(end - start, sizeof(initrd));
	assert_string_equal((const char *)tg_ptr(&g, tg32(&g, mod + 8), 7), "initrd");
	assert_int_equal(tg32(&g, mod + 12), 0);
	assert_memory_equal(tg_ptr(&g, start, sizeof(initrd)), initrd, sizeof(initrd));

	n = e820_build(32 * MiB, map);
	assert_int_equal(tg32(&g, mbi + 44), 24 * n);
	uint32_t mm = tg32(&g, mbi + 48);
	for (int i = 0; i < n; i++) {
		assert_int_equal(tg32(&g, mm + 24 * i), 20);
		assert_int_equal(tg64(&g, mm + 24 * i + 4), map[i].addr);
		assert_int_equal(tg64(&g, mm + 24 * i + 12), map[i].size);
		assert_int_equal(tg32(&g, mm + 24 * i + 20), map[i].type);
	}
	assert_string_equal((const char *)tg_ptr(&g, tg32(&g, mbi + 64), 5), "kvmm");
	/* Everything the loader wrote lies in its areas. */
	assert_true(mm >= LAYOUT_BOOTDATA && mm + 24 * n <= LAYOUT_BOOTDATA + LAYOUT_BOOTDATA_MAX);
	free(img);
	tguest_fini(&g);
}

/* Empty command line: just the kernel path; no initrd: no module; video bit is no error. */
static void test_minimal(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct mbh h = kludge;
	uint8_t *img;
	(void)state;

	h.flags |= 0x4; /* video mode wanted: ignored */
	h.load_end_addr = 0x100000 + 0x1000;
	h.bss_end_addr = 0;
	img = mb_image(0x1800, HOFF, &h);
	struct boot_config cfg = tcfg(img, 0x1800, 16 * MiB);
	tguest_init(&g, 16 * MiB);
	assert_int_equal(multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_string_equal((const char *)tg_ptr(&g, tg32(&g, LAYOUT_BOOTINFO + 16), 13),
			    "/boot/kernel");
	assert_int_equal(tg32(&g, LAYOUT_BOOTINFO + 20), 0);
	/* load_end_addr stops the copy at 0x1000 bytes. */
	assert_int_equal(tg8(&g, 0x100fff), img[0xfff]);
	assert_int_equal(tg8(&g, 0x101000), 0);
	free(img);
	tguest_fini(&g);
}

/* ELF32 multiboot kernels: segments at p_paddr, e_entry through a higher-half vaddr. */
static void test_elf32(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct telf e = {.cls = ELFCLASS32, .machine = EM_386, .entry = 0xc0100010, .nseg = 2};
	uint8_t text[0x200];
	uint64_t offs[8];
	size_t size;
	uint8_t *img;
	(void)state;

	tfill(text, sizeof(text), 2);
	put32(text, MB_MAGIC);
	put32(text + 4, 0x3);
	put32(text + 8, (uint32_t) - (MB_MAGIC + 3));
	e.seg[0] =
	    (struct tseg){PT_LOAD, 0xc0100000, 0x100000, text, sizeof(text), sizeof(text), 0x1000};
	e.seg[1] = (struct tseg){PT_LOAD, 0xc0200000, 0x200000, NULL, 0x80, 0x2000, 0x1000};
	img = telf_build(&e, &size, offs);
	struct boot_config cfg = tcfg(img, size, 16 * MiB);
	cfg.cmdline = "a=b";
	tguest_init(&g, 16 * MiB);
	memset(g.low + 0x200000, 0xee, 0x3000);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_MULTIBOOT32);
	assert_int_equal(out.entry, 0x100010);
	assert_memory_equal(tg_ptr(&g, 0x100000, sizeof(text)), text, sizeof(text));
	assert_memory_equal(tg_ptr(&g, 0x200000, 0x80), img + offs[1], 0x80);
	assert_int_equal(tg8(&g, 0x201fff), 0);
	assert_int_equal(tg8(&g, 0x202000), 0xee);
	assert_string_equal((const char *)tg_ptr(&g, tg32(&g, LAYOUT_BOOTINFO + 16), 17),
			    "/boot/kernel a=b");
	free(img);

	/* ELF64 without the address fields is refused. */
	e.cls = ELFCLASS64;
	e.machine = EM_X86_64;
	img = telf_build(&e, &size, NULL);
	cfg = tcfg(img, size, 16 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err,
			    "multiboot: 64-bit ELF without the address fields (flags bit 16); "
			    "multiboot v1 loads only 32-bit ELF");
	free(img);
	/* ELF32 for another machine. */
	e.cls = ELFCLASS32;
	e.machine = EM_ARM;
	img = telf_build(&e, &size, NULL);
	cfg = tcfg(img, size, 16 * MiB);
	assert_int_equal(multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err, "multiboot ELF: ELF machine 40 is not i386 (3)");
	free(img);
	tguest_fini(&g);
}

static void expect_refusal(const uint8_t *img, size_t size, uint64_t ram, int want_ret,
			   const char *want)
{
	struct tguest g;
	struct boot_entry out;
	struct boot_config cfg = tcfg(img, size, ram);
	int ret;

	tguest_init(&g, ram);
	ret = multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err));
	if (ret != want_ret || !strstr(g.err, want))
		print_error("got %d '%s', want %d '%s'\n", ret, g.err, want_ret, want);
	assert_int_equal(ret, want_ret);
	assert_non_null(strstr(g.err, want));
	tguest_fini(&g);
}

static void test_header_search(void **state)
{
	struct mbh h = kludge;
	uint8_t *img;
	(void)state;

	/* Bad checksum: no header. */
	img = mb_image(0x2000, HOFF, &h);
	put32(img + HOFF + 8, 0);
	assert_false(multiboot_probe(img, 0x2000));
	expect_refusal(img, 0x2000, 16 * MiB, -ENOEXEC,
		       "multiboot: no header (magic 0x1BADB002 with a valid checksum)");
	free(img);
	/* Misaligned. */
	img = mb_image(0x2000, HOFF + 2, &h);
	assert_false(multiboot_probe(img, 0x2000));
	free(img);
	/* Past the first 8192 bytes. */
	h.header_addr = 0x100000 + 0x2000;
	img = mb_image(0x3000, 0x2000, &h);
	assert_false(multiboot_probe(img, 0x3000));
	free(img);
	/* The magic fits but the address fields cross 8192 or the end of the file. */
	h.header_addr = 0x100000 + 0x1ff0;
	img = mb_image(0x3000, 0x1ff0, &h);
	assert_true(multiboot_probe(img, 0x3000));
	expect_refusal(img, 0x3000, 16 * MiB, -ENOEXEC,
		       "its address fields extend past the first 8192 bytes");
	expect_refusal(img, 0x2000, 16 * MiB, -ENOEXEC,
		       "its address fields extend past the end of the file");
	free(img);
}

static void test_refusals(void **state)
{
	const size_t size = 0x2000;
	struct mbh h;
	uint8_t *img;
	(void)state;

#define REFUSE(mutate, ram, ret, msg)                                                              \
	do {                                                                                       \
		h = kludge;                                                                        \
		mutate;                                                                            \
		img = mb_image(size, HOFF, &h);                                                    \
		expect_refusal(img, size, ram, ret, msg);                                          \
		free(img);                                                                         \
	} while (0)
	REFUSE(h.flags |= 0x8, 16 * MiB, -ENOEXEC,
	       "multiboot: header flags 0x0001000b require features kvmm does not provide "
	       "(bits 0x0008)");
	REFUSE(h.flags &= ~0x10000u, 16 * MiB, -ENOEXEC,
	       "multiboot: image is not ELF and its header lacks the address fields");
	REFUSE(h.load_addr = h.header_addr + 4, 16 * MiB, -ENOEXEC,
	       "load_addr 0x100044 is above header_addr 0x100040");
	REFUSE(h.load_addr = 0xff000, 16 * MiB, -ENOEXEC,
	       "is more than the header's file offset 0x40");
	REFUSE(h.load_end_addr = 0x100000 + size + 1, 16 * MiB, -ENOEXEC,
	       "load_end_addr 0x102001 asks for 0x2001 bytes from file offset 0x0, past end of "
	       "file (size 0x2000)");
	REFUSE(h.load_end_addr = 0xfffff, 16 * MiB, -ENOEXEC, "is below load_addr");
	REFUSE(h.bss_end_addr = 0x101000, 16 * MiB, -ENOEXEC,
	       "bss_end_addr 0x101000 is below the end of the loaded data 0x102000");
	REFUSE(h.entry_addr = 0x104000, 16 * MiB, -ENOEXEC,
	       "entry_addr 0x104000 is outside the loaded image 0x100000-0x103fff");
	REFUSE((h.header_addr = 0x80040, h.load_addr = 0x80000, h.bss_end_addr = 0x84000,
		h.entry_addr = 0x80080),
	       16 * MiB, -ENOEXEC,
	       "multiboot: segment at 0x80000 (size 0x4000) reaches below 1 MiB");
	REFUSE((h.header_addr = 0x2000040, h.load_addr = 0x2000000, h.bss_end_addr = 0x2004000,
		h.entry_addr = 0x2000080),
	       16 * MiB, -ENOMEM,
	       "multiboot: segment at 0x2000000 (size 0x4000) is outside guest RAM (16 MiB)");
	REFUSE((h.header_addr = 0xfffff040, h.load_addr = 0xfffff000, h.bss_end_addr = 0,
		h.entry_addr = 0xfffff080),
	       16 * MiB, -ENOEXEC, "extends past 4 GiB");
}

static void test_limits(void **state)
{
	struct tguest g;
	struct boot_entry out;
	const size_t size = 0x2000;
	uint8_t *img = mb_image(size, HOFF, &kludge);
	struct boot_config cfg = tcfg(img, size, 16 * MiB);
	char *longcmd = malloc(70000);
	static uint8_t rd[15 << 20];
	(void)state;

	memset(longcmd, 'y', 69999);
	longcmd[69999] = 0;
	cfg.cmdline = longcmd;
	tguest_init(&g, 16 * MiB);
	assert_int_equal(multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -EINVAL);
	assert_non_null(strstr(g.err, "multiboot: command line is 70012 bytes, at most"));
	cfg.cmdline = "";
	cfg.initrd = rd;
	cfg.initrd_size = sizeof(rd);
	assert_int_equal(multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_string_equal(g.err, "initrd (15 MiB) does not fit in guest RAM between the kernel's "
				   "end 0x104000 and 0x1000000 (guest RAM 16 MiB)");
	/* The largest that fits. */
	cfg.initrd_size = 16 * MiB - 0x104000;
	assert_int_equal(multiboot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg32(&g, tg32(&g, LAYOUT_BOOTINFO + 24)), 0x104000);
	free(longcmd);
	free(img);
	tguest_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aout_kludge), cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_elf32),	cmocka_unit_test(test_header_search),
	    cmocka_unit_test(test_refusals),	cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
