/* SPDX-License-Identifier: MIT */
/*
 * ELF kernels: 64-bit vmlinux via the Linux 64-bit protocol (synthesized zero
 * page), PVH (hvm_start_info), format dispatch, and refusals of malformed
 * headers and segments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/boot_internal.h"
#include "boot_fixtures.h"

#define KVIRT 0xffffffff80000000ULL

/* A vmlinux-like image: text at 16 MiB, data with bss, a percpu-like segment at vaddr 0. */
static struct telf vmlinux_like(void)
{
	struct telf e = {.cls = ELFCLASS64, .machine = EM_X86_64, .entry = 0x1000000, .nseg = 3};
	e.seg[0] =
	    (struct tseg){PT_LOAD, KVIRT + 0x1000000, 0x1000000, NULL, 0x3000, 0x3000, 0x200000};
	e.seg[1] = (struct tseg){PT_LOAD, 0, 0x1200000, NULL, 0x100, 0x100, 0x200000};
	e.seg[2] =
	    (struct tseg){PT_LOAD, KVIRT + 0x1400000, 0x1400000, NULL, 0x800, 0x5000, 0x200000};
	return e;
}

/* Adds a PT_NOTE segment holding a few notes, the PVH one among them. */
static void add_pvh_note(struct telf *e, uint8_t *buf, uint64_t entry, uint32_t descsz,
			 size_t align)
{
	size_t n = 0;
	uint32_t v32 = (uint32_t)entry, other = 0x1234;

	n += tnote(buf + n, "GNU", 3, "buildidbuildid!!", 16, align);
	n += tnote(buf + n, "Xen", 6, "linux", 6, align); /* XEN_ELFNOTE_GUEST_OS */
	if (descsz == 4)
		n += tnote(buf + n, "Xen", 18, &v32, 4, align);
	else
		n += tnote(buf + n, "Xen", 18, &entry, 8, align);
	n += tnote(buf + n, "Linux", 1, &other, 4, align);
	e->seg[e->nseg++] = (struct tseg){PT_NOTE, 0, 0, buf, n, n, align};
}

static void test_vmlinux_linux64(void **state)
{
	struct tguest g;
	struct telf e = vmlinux_like();
	struct boot_entry out;
	struct e820_entry map[E820_MAX];
	static const char cmdline[] = "console=ttyS0 root=/dev/vda";
	uint8_t initrd[5000];
	uint64_t offs[8];
	size_t size;
	uint8_t *img = telf_build(&e, &size, offs);
	struct boot_config cfg = tcfg(img, size, 256 * MiB);
	int n;
	(void)state;

	tguest_init(&g, 256 * MiB);
	memset(g.low + 0x1400000, 0xaa, 0x5000); /* bss must come back zeroed */
	tfill(initrd, sizeof(initrd), 9);
	cfg.cmdline = cmdline;
	cfg.initrd = initrd;
	cfg.initrd_size = sizeof(initrd);
	cfg.rsdp_addr = 0xe0000;
	assert_true(elf_probe(img, size));
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_LINUX64);
	assert_int_equal(out.entry, 0x1000000);
	assert_int_equal(out.rsi, LAYOUT_ZERO_PAGE);

	/* Segments at p_paddr, bss zeroed. */
	assert_memory_equal(tg_ptr(&g, 0x1000000, 0x3000), img + offs[0], 0x3000);
	assert_memory_equal(tg_ptr(&g, 0x1200000, 0x100), img + offs[1], 0x100);
	assert_memory_equal(tg_ptr(&g, 0x1400000, 0x800), img + offs[2], 0x800);
	for (uint64_t a = 0x1400800; a < 0x1405000; a++)
		assert_int_equal(tg8(&g, a), 0);

	/* The synthesized setup header. */
	const uint64_t zp = LAYOUT_ZERO_PAGE;
	assert_int_equal(tg16(&g, zp + 0x1fe), 0xaa55);
	assert_int_equal(tg32(&g, zp + 0x202), 0x53726448);
	assert_int_equal(tg16(&g, zp + 0x206), 0x020f);
	assert_int_equal(tg8(&g, zp + 0x210), 0xff);
	assert_int_equal(tg8(&g, zp + 0x211) & 0x80, 0x80);
	assert_int_equal(tg32(&g, zp + 0x230), 0x1000000);
	assert_int_equal(tg32(&g, zp + 0x238), 2048);
	assert_int_equal(tg16(&g, zp + 0x1fa), 0xffff);
	assert_int_equal(tg16(&g, zp + 0x224), 0xfe00);
	assert_int_equal(tg32(&g, zp + 0x228), LAYOUT_CMDLINE);
	assert_string_equal((const char *)tg_ptr(&g, LAYOUT_CMDLINE, sizeof(cmdline)), cmdline);
	assert_int_equal(tg64(&g, zp + 0x070), 0xe0000);

	/* initrd: highest page-aligned spot in low RAM, above the kernel. */
	uint32_t rd = tg32(&g, zp + 0x218);
	assert_int_equal(tg32(&g, zp + 0x21c), sizeof(initrd));
	assert_int_equal(rd, (256 * MiB - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(tg32(&g, zp + 0x0c0), 0);
	assert_int_equal(tg32(&g, zp + 0x0c4), 0);
	assert_memory_equal(tg_ptr(&g, rd, sizeof(initrd)), initrd, sizeof(initrd));

	/* e820 */
	n = e820_build(256 * MiB, map);
	assert_int_equal(tg8(&g, zp + 0x1e8), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(tg64(&g, zp + 0x2d0 + 20 * i), map[i].addr);
		assert_int_equal(tg64(&g, zp + 0x2d0 + 20 * i + 8), map[i].size);
		assert_int_equal(tg32(&g, zp + 0x2d0 + 20 * i + 16), map[i].type);
	}
	free(img);
	tguest_fini(&g);
}

/* e_entry given as a kernel virtual address is translated through its segment. */
static void test_virtual_entry(void **state)
{
	struct tguest g;
	struct telf e = vmlinux_like();
	struct boot_entry out;
	size_t size;
	uint8_t *img;
	(void)state;

	e.entry = KVIRT + 0x1000040;
	img = telf_build(&e, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 64 * MiB);
	tguest_init(&g, 64 * MiB);
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.entry, 0x1000040);
	assert_int_equal(tg32(&g, LAYOUT_ZERO_PAGE + 0x218), 0); /* no initrd */
	assert_int_equal(tg32(&g, LAYOUT_ZERO_PAGE + 0x21c), 0);
	free(img);
	tguest_fini(&g);
}

static void check_pvh(uint32_t descsz, size_t align, int with_initrd)
{
	struct tguest g;
	struct telf e = vmlinux_like();
	struct boot_entry out;
	struct e820_entry map[E820_MAX];
	uint8_t notes[256], initrd[3000];
	size_t size;
	uint8_t *img;
	uint32_t found;
	int n;

	add_pvh_note(&e, notes, 0x1000850, descsz, align);
	img = telf_build(&e, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 128 * MiB);
	cfg.cmdline = "console=hvc0";
	cfg.rsdp_addr = 0xe0000;
	if (with_initrd) {
		tfill(initrd, sizeof(initrd), 3);
		cfg.initrd = initrd;
		cfg.initrd_size = sizeof(initrd);
	}
	tguest_init(&g, 128 * MiB);
	assert_int_equal(elf_find_pvh_entry(img, size, &found), 1);
	assert_int_equal(found, 0x1000850);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_PVH32);
	assert_int_equal(out.entry, 0x1000850);
	assert_int_equal(out.ebx, LAYOUT_BOOTINFO);

	const uint64_t si = LAYOUT_BOOTINFO;
	assert_int_equal(tg32(&g, si + 0), 0x336ec578);
	assert_int_equal(tg32(&g, si + 4), 1);
	assert_int_equal(tg32(&g, si + 8), 0);
	assert_int_equal(tg64(&g, si + 24), LAYOUT_CMDLINE);
	assert_string_equal((const char *)tg_ptr(&g, LAYOUT_CMDLINE, 13), "console=hvc0");
	assert_int_equal(tg64(&g, si + 32), 0xe0000);
	assert_int_equal(tg64(&g, si + 40), LAYOUT_BOOTDATA);
	n = e820_build(128 * MiB, map);
	assert_int_equal(tg32(&g, si + 48), n);
	for (int i = 0; i < n; i++) {
		uint64_t ent = LAYOUT_BOOTDATA + 24 * (uint64_t)i;
		assert_int_equal(tg64(&g, ent), map[i].addr);
		assert_int_equal(tg64(&g, ent + 8), map[i].size);
		assert_int_equal(tg32(&g, ent + 16), map[i].type);
		assert_int_equal(tg32(&g, ent + 20), 0);
	}
	if (with_initrd) {
		uint64_t mod = tg64(&g, si + 16);
		assert_int_equal(tg32(&g, si + 12), 1);
		assert_true(mod >= LAYOUT_BOOTDATA &&
			    mod + 32 <= LAYOUT_BOOTDATA + LAYOUT_BOOTDATA_MAX);
		assert_int_equal(tg64(&g, mod), (128 * MiB - sizeof(initrd)) & ~0xfffULL);
		assert_int_equal(tg64(&g, mod + 8), sizeof(initrd));
		assert_int_equal(tg64(&g, mod + 16), 0);
		assert_memory_equal(tg_ptr(&g, tg64(&g, mod), sizeof(initrd)), initrd,
				    sizeof(initrd));
	} else {
		assert_int_equal(tg32(&g, si + 12), 0);
		assert_int_equal(tg64(&g, si + 16), 0);
	}
	free(img);
	tguest_fini(&g);
}

static void test_pvh(void **state)
{
	(void)state;
	check_pvh(4, 4, 1);
	check_pvh(8, 4, 0); /* Linux 6.1 emits an 8-byte value */
	check_pvh(4, 8, 1); /* notes padded to 8 when the segment says so */
}

/* Runs elf_load on img and checks the errno and that err contains want. */
static void expect_refusal(const uint8_t *img, size_t size, uint64_t ram, int want_ret,
			   const char *want)
{
	struct tguest g;
	struct boot_entry out;
	struct boot_config cfg = tcfg(img, size, ram);
	int ret;

	tguest_init(&g, ram);
	ret = elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err));
	if (ret != want_ret || !strstr(g.err, want))
		print_error("got %d '%s', want %d '%s'\n", ret, g.err, want_ret, want);
	assert_int_equal(ret, want_ret);
	assert_non_null(strstr(g.err, want));
	tguest_fini(&g);
}

static void test_refuse_headers(void **state)
{
	struct telf e = vmlinux_like();
	uint64_t offs[8];
	size_t size;
	uint8_t *img = telf_build(&e, &size, offs), *copy = malloc(size);
	char want[160];
	(void)state;

	/* Truncated: shorter than the ELF header, then cutting the phdr table. */
	expect_refusal(img, 40, 64 * MiB, -ENOEXEC, "shorter than the ELF header");
	expect_refusal(img, 64 + 56 + 10, 64 * MiB, -ENOEXEC,
		       "program header table (offset 0x40, 3 entries) extends past end of file");
	/* A segment's bytes past the end of the file. */
	snprintf(want, sizeof(want),
		 "ELF: program header 2 (offset 0x%llx, size 0x800) extends past end of file "
		 "(size 0x%zx)",
		 (unsigned long long)offs[2], size - 1);
	expect_refusal(img, size - 1, 64 * MiB, -ENOEXEC, want);

#define MUTATE(field_off, type, value, ret, msg)                                                   \
	do {                                                                                       \
		type v_ = (value);                                                                 \
		memcpy(copy, img, size);                                                           \
		memcpy(copy + (field_off), &v_, sizeof(v_));                                       \
		expect_refusal(copy, size, 64 * MiB, ret, msg);                                    \
	} while (0)
	const size_t ph0 = sizeof(Elf64_Ehdr), ph1 = ph0 + sizeof(Elf64_Phdr),
		     ph2 = ph1 + sizeof(Elf64_Phdr);
	MUTATE(offsetof(Elf64_Ehdr, e_type), uint16_t, ET_DYN, -ENOEXEC,
	       "ELF type 3 is not an executable");
	MUTATE(offsetof(Elf64_Ehdr, e_machine), uint16_t, EM_AARCH64, -ENOEXEC,
	       "ELF machine 183 is not x86-64");
	MUTATE(offsetof(Elf64_Ehdr, e_phentsize), uint16_t, 40, -ENOEXEC,
	       "program header entry size 40");
	MUTATE(offsetof(Elf64_Ehdr, e_phnum), uint16_t, 0, -ENOEXEC, "no program headers");
	MUTATE(offsetof(Elf64_Ehdr, e_phnum), uint16_t, 0xffff, -ENOEXEC, "65535 program headers");
	MUTATE(offsetof(Elf64_Ehdr, e_phoff), uint64_t, UINT64_MAX - 8, -ENOEXEC,
	       "program header table");
	MUTATE(EI_DATA, uint8_t, ELFDATA2MSB, -ENOEXEC, "not a little-endian ELF");
	MUTATE(offsetof(Elf64_Ehdr, e_entry), uint64_t, 0x2000000, -ENOEXEC,
	       "entry point 0x2000000 is not inside any loaded segment");
	/* Offsets that overflow when added. */
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_offset), uint64_t, UINT64_MAX - 0x10, -ENOEXEC,
	       "program header 1 (offset 0xffffffffffffffef, size 0x100) extends past end of file");
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_filesz), uint64_t, 0x200, -ENOEXEC,
	       "program header 1: file size 0x200 exceeds memory size 0x100");
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_paddr), uint64_t, UINT64_MAX - 0x10, -ENOEXEC,
	       "segment 1 at 0xffffffffffffffef (size 0x100) wraps around");
	/* Segments: low megabyte, beyond RAM, overlapping each other. */
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_paddr), uint64_t, 0x9000, -ENOEXEC,
	       "segment 1 at 0x9000 (size 0x100) reaches below 1 MiB");
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_paddr), uint64_t, 0xfff80, -ENOEXEC,
	       "reaches below 1 MiB");
	MUTATE(ph2 + offsetof(Elf64_Phdr, p_memsz), uint64_t, 64 * MiB, -ENOMEM,
	       "segment 2 at 0x1400000 (size 0x4000000) is outside guest RAM (64 MiB)");
	MUTATE(ph1 + offsetof(Elf64_Phdr, p_paddr), uint64_t, 0x1002000, -ENOEXEC,
	       "segments 0 and 1 overlap");
	MUTATE(ph0 + offsetof(Elf64_Phdr, p_type), uint32_t, PT_NOTE, -ENOEXEC,
	       "has a name of"); /* text bytes read as notes make no sense */
	free(copy);
	free(img);
}

/* With more than 3 GiB, the hole below 4 GiB is not RAM; above 4 GiB is. */
static void test_mmio_hole(void **state)
{
	struct telf e = vmlinux_like();
	struct tguest g;
	struct boot_entry out;
	size_t size;
	uint8_t *img;
	(void)state;

	e.seg[2].paddr = LAYOUT_MMIO_HOLE + 0x1000;
	img = telf_build(&e, &size, NULL);
	expect_refusal(img, size, 4096 * MiB, -ENOMEM, "is outside guest RAM (4096 MiB)");
	free(img);

	e.seg[2].paddr = LAYOUT_4G + 0x1000;
	img = telf_build(&e, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 4096 * MiB);
	tguest_init(&g, 4096 * MiB);
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg8(&g, LAYOUT_4G + 0x1000 + 0x800), 0);
	assert_int_equal(tg8(&g, LAYOUT_ZERO_PAGE + 0x1e8), 5);
	assert_int_equal(tg64(&g, LAYOUT_ZERO_PAGE + 0x2d0 + 4 * 20), LAYOUT_4G);
	assert_int_equal(tg64(&g, LAYOUT_ZERO_PAGE + 0x2d0 + 4 * 20 + 8),
			 4096 * MiB - LAYOUT_MMIO_HOLE);
	free(img);
	tguest_fini(&g);
}

static void test_refuse_pvh_notes(void **state)
{
	struct telf e = vmlinux_like();
	uint8_t notes[256];
	size_t size, n;
	uint8_t *img;
	uint32_t v = 0x1000850;
	uint64_t high = 0x100000000ULL;
	(void)state;

	/* A 2-byte value. */
	n = tnote(notes, "Xen", 18, &v, 2, 4);
	e.seg[e.nseg++] = (struct tseg){PT_NOTE, 0, 0, notes, n, n, 4};
	img = telf_build(&e, &size, NULL);
	expect_refusal(img, size, 64 * MiB, -ENOEXEC, "PVH entry note has a 2-byte value");
	free(img);
	/* Above 4 GiB. */
	n = tnote(notes, "Xen", 18, &high, 8, 4);
	e.seg[e.nseg - 1] = (struct tseg){PT_NOTE, 0, 0, notes, n, n, 4};
	img = telf_build(&e, &size, NULL);
	expect_refusal(img, size, 64 * MiB, -ENOEXEC, "PVH entry point 0x100000000 is above 4 GiB");
	free(img);
	/* Outside every segment. */
	v = 0x1100000;
	n = tnote(notes, "Xen", 18, &v, 4, 4);
	e.seg[e.nseg - 1] = (struct tseg){PT_NOTE, 0, 0, notes, n, n, 4};
	img = telf_build(&e, &size, NULL);
	expect_refusal(img, size, 64 * MiB, -ENOEXEC,
		       "PVH entry point 0x1100000 is not inside any loaded segment");
	free(img);
	/* A note whose descriptor runs past its segment. */
	v = 0x1000850;
	n = tnote(notes, "Xen", 18, &v, 4, 4);
	put32(notes + 4, 400);
	e.seg[e.nseg - 1] = (struct tseg){PT_NOTE, 0, 0, notes, n, n, 4};
	img = telf_build(&e, &size, NULL);
	expect_refusal(img, size, 64 * MiB, -ENOEXEC,
		       "has a descriptor of 400 bytes past the end of its segment");
	free(img);
	/* "Xen" type 18 must be named exactly; other names are ignored. */
	n = tnote(notes, "XenX", 18, &v, 4, 4);
	e.seg[e.nseg - 1] = (struct tseg){PT_NOTE, 0, 0, notes, n, n, 4};
	img = telf_build(&e, &size, NULL);
	assert_int_equal(elf_find_pvh_entry(img, size, &v), 0);
	free(img);
}

static void test_cmdline_limit(void **state)
{
	struct telf e = vmlinux_like();
	struct tguest g;
	struct boot_entry out;
	char *longcmd = malloc(2050);
	size_t size;
	uint8_t *img = telf_build(&e, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 64 * MiB);
	(void)state;

	memset(longcmd, 'x', 2049);
	longcmd[2049] = 0;
	cfg.cmdline = longcmd;
	tguest_init(&g, 64 * MiB);
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -EINVAL);
	assert_string_equal(g.err, "command line is 2049 bytes, kernel accepts 2048");
	longcmd[2048] = 0;
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg8(&g, LAYOUT_CMDLINE + 2047), 'x');
	assert_int_equal(tg8(&g, LAYOUT_CMDLINE + 2048), 0);
	/* initrd too big for what is left above the kernel. */
	static uint8_t rd[60 << 20];
	cfg.initrd = rd;
	cfg.initrd_size = sizeof(rd);
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_non_null(strstr(g.err, "initrd (60 MiB) does not fit in guest RAM"));
	cfg.initrd_size = 0;
	assert_int_equal(elf_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -EINVAL);
	assert_string_equal(g.err, "initrd is empty");
	free(longcmd);
	free(img);
	tguest_fini(&g);
}

/* boot_load's choice among formats. */
static void test_dispatch(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct telf e32 = {.cls = ELFCLASS32, .machine = EM_386, .entry = 0x100000, .nseg = 1};
	struct telf e64 = vmlinux_like();
	uint8_t junk[9000], notes[256];
	size_t size;
	uint8_t *img;
	(void)state;

	tguest_init(&g, 64 * MiB);
	memset(junk, 0x90, sizeof(junk));
	struct boot_config cfg = tcfg(junk, sizeof(junk), 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err, "not a bzImage, ELF or multiboot kernel");
	cfg.kernel_size = 0;
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	cfg.kernel_size = sizeof(junk);
	cfg.ram_size = MiB;
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_string_equal(g.err, "guest RAM (1 MiB) is below the minimum of 2 MiB");

	e32.seg[0] = (struct tseg){PT_LOAD, 0x100000, 0x100000, NULL, 0x100, 0x100, 0x1000};
	img = telf_build(&e32, &size, NULL);
	cfg = tcfg(img, size, 64 * MiB);
	assert_false(elf_probe(img, size));
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err, "32-bit ELF without a multiboot header");
	free(img);

	/*
	 * An ELF64 carrying a multiboot header (a.out kludge) and no PVH note boots
	 * by multiboot; with a PVH note, PVH wins.
	 */
	uint8_t mb[32] = {0};
	uint64_t offs[8];
	put32(mb, 0x1BADB002);
	put32(mb + 4, 0x00010000);
	put32(mb + 8, (uint32_t) - (0x1BADB002u + 0x00010000u));
	img = telf_build(&e64, &size, offs);
	/* The header opens the text segment, which lands at 0x1000000; load the whole file. */
	memcpy(img + offs[0], mb, 12);
	put32(img + offs[0] + 12, 0x1000000);			    /* header_addr */
	put32(img + offs[0] + 16, (uint32_t)(0x1000000 - offs[0])); /* load_addr */
	put32(img + offs[0] + 20, 0);				    /* load_end_addr */
	put32(img + offs[0] + 24, 0);				    /* bss_end_addr */
	put32(img + offs[0] + 28, 0x1000000);			    /* entry_addr */
	cfg = tcfg(img, size, 64 * MiB);
	assert_true(multiboot_probe(img, size));
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_MULTIBOOT32);
	free(img);

	add_pvh_note(&e64, notes, 0x1000850, 4, 4);
	img = telf_build(&e64, &size, offs);
	memcpy(img + offs[0], mb, sizeof(mb));
	cfg = tcfg(img, size, 64 * MiB);
	assert_true(multiboot_probe(img, size));
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_PVH32);
	free(img);
	tguest_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vmlinux_linux64),
	    cmocka_unit_test(test_virtual_entry),
	    cmocka_unit_test(test_pvh),
	    cmocka_unit_test(test_refuse_headers),
	    cmocka_unit_test(test_mmio_hole),
	    cmocka_unit_test(test_refuse_pvh_notes),
	    cmocka_unit_test(test_cmdline_limit),
	    cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
