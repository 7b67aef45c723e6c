/* SPDX-License-Identifier: MIT */
/*
 * bzImage: header validation, host-side decompression of every payload format
 * into a loaded vmlinux, the fallback that loads the protected-mode kernel
 * whole, every boot_params field kvmm sets, and refusals.
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

#define HDRS 0x53726448u
#define ZP   LAYOUT_ZERO_PAGE

struct tbz {
	uint16_t version;
	uint8_t setup_sects, loadflags, relocatable, jump;
	uint16_t xlf;
	uint32_t cmdline_size, initrd_addr_max, kernel_alignment, init_size;
	uint64_t pref;
	const uint8_t *payload;
	size_t payload_len, payload_off, pm_len;
};

/* A current (2.15) relocatable 64-bit kernel's header values. */
static struct tbz tbz_default(void)
{
	return (struct tbz){.version = 0x020f,
			    .setup_sects = 4,
			    .loadflags = 0x01 | 0x20,
			    .relocatable = 1,
			    .jump = 0x6a,
			    .xlf = 0x7f,
			    .cmdline_size = 2047,
			    .initrd_addr_max = 0x7fffffff,
			    .kernel_alignment = 0x200000,
			    .init_size = 0x800000,
			    .pref = 0x1000000,
			    .payload_off = 0x3c0,
			    .pm_len = 0x1000};
}

static uint8_t *bz_build(const struct tbz *t, size_t *size)
{
	size_t sects = t->setup_sects ? t->setup_sects : 4, setup = (sects + 1) * 512;
	size_t pm = t->pm_len;
	uint8_t *img;

	if (t->payload && t->payload_off + t->payload_len > pm)
		pm = t->payload_off + t->payload_len;
	*size = setup + pm;
	img = malloc(*size);
	tfill(img, *size, 21);
	memset(img + 0x1f1, 0, 0x26c - 0x1f1);
	img[0x1f1] = t->setup_sects;
	put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = t->jump;
	put32(img + 0x202, HDRS);
	put16(img + 0x206, t->version);
	put32(img + 0x214, 0x100000); /* code32_start */
	img[0x211] = t->loadflags;
	put32(img + 0x22c, t->initrd_addr_max);
	put32(img + 0x230, t->kernel_alignment);
	img[0x234] = t->relocatable;
	put16(img + 0x236, t->xlf);
	put32(img + 0x238, t->cmdline_size);
	if (t->payload) {
		put32(img + 0x248, (uint32_t)t->payload_off);
		put32(img + 0x24c, (uint32_t)t->payload_len);
		memcpy(img + setup + t->payload_off, t->payload, t->payload_len);
	}
	put64(img + 0x250, 0xdeadbeef); /* setup_data: the loader's, never the image's */
	put64(img + 0x258, t->pref);
	put32(img + 0x260, t->init_size);
	return img;
}

/* The decompressed kernel: a vmlinux ELF followed by relocation data, as vmlinux.bin.all. */
static uint8_t *vmlinux_build(size_t *size, uint64_t *text_off)
{
	struct telf e = {.cls = ELFCLASS64, .machine = EM_X86_64, .entry = 0x1000000, .nseg = 2};
	uint64_t offs[8];
	size_t n;
	uint8_t *elf, *all;

	e.seg[0] = (struct tseg){PT_LOAD, 0xffffffff81000000ULL, 0x1000000, NULL, 0x2000, 0x2000,
				 0x200000};
	e.seg[1] =
	    (struct tseg){PT_LOAD, 0xffffffff81100000ULL, 0x1100000, NULL, 0x100, 0x3000, 0x200000};
	elf = telf_build(&e, &n, offs);
	all = malloc(n + 0x400);
	memcpy(all, elf, n);
	tfill(all + n, 0x400, 77); /* relocs */
	free(elf);
	*size = n + 0x400;
	if (text_off)
		*text_off = offs[0];
	return all;
}

static uint8_t *bz_with(enum decompress_format fmt, struct tbz *t, size_t *size, uint8_t **vml)
{
	size_t vlen, clen;
	uint8_t *v = vmlinux_build(&vlen, NULL), *c, *img;

	c = tcompress(fmt, v, vlen, &clen, 1);
	t->payload = c;
	t->payload_len = clen;
	img = bz_build(t, size);
	free(c);
	t->payload = NULL;
	if (vml)
		*vml = v;
	else
		free(v);
	return img;
}

static void check_vmlinux_loaded(struct tguest *g, const uint8_t *vml)
{
	uint64_t off;
	size_t n;
	uint8_t *ref = vmlinux_build(&n, &off);

	(void)vml;
	assert_memory_equal(tg_ptr(g, 0x1000000, 0x2000), ref + off, 0x2000);
	for (uint64_t a = 0x1100100; a < 0x1103000; a++)
		assert_int_equal(tg8(g, a), 0);
	free(ref);
}

static void test_formats(void **state)
{
	static const enum decompress_format fmts[] = {DECOMPRESS_GZIP, DECOMPRESS_XZ,
						      DECOMPRESS_LZMA, DECOMPRESS_ZSTD,
						      DECOMPRESS_LZ4,  DECOMPRESS_BZIP2};
	(void)state;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tguest g;
		struct boot_entry out;
		struct tbz t = tbz_default();
		size_t size;
		uint8_t *vml, *img = bz_with(fmts[i], &t, &size, &vml);
		struct boot_config cfg = tcfg(img, size, 64 * MiB);

		tguest_init(&g, 64 * MiB);
		memset(g.low + 0x1100000, 0xaa, 0x3000);
		assert_true(bzimage_probe(img, size));
		if (boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)))
			print_error("%s: %s\n", decompress_name(fmts[i]), g.err);
		assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
		assert_int_equal(out.mode, BOOT_LINUX64);
		assert_int_equal(out.entry, 0x1000000);
		assert_int_equal(out.rsi, LAYOUT_ZERO_PAGE);
		check_vmlinux_loaded(&g, vml);
		assert_int_equal(tg32(&g, ZP + 0x202), HDRS);
		free(vml);
		free(img);
		tguest_fini(&g);
	}
}

static void test_zero_page(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct tbz t = tbz_default();
	struct e820_entry map[E820_MAX];
	static const char cmdline[] = "console=ttyS0 root=/dev/vda1 rw";
	uint8_t initrd[20000];
	size_t size;
	uint8_t *img;
	int n;
	(void)state;

	t.initrd_addr_max = 0x37ffffff;
	img = bz_with(DECOMPRESS_GZIP, &t, &size, NULL);
	memset(img + 0x26c, 0x77, 0x20); /* past the header: not copied */
	struct boot_config cfg = tcfg(img, size, 1024 * MiB);
	cfg.cmdline = cmdline;
	cfg.initrd = initrd;
	cfg.initrd_size = sizeof(initrd);
	cfg.rsdp_addr = 0xe0000;
	tfill(initrd, sizeof(initrd), 5);
	tguest_init(&g, 1024 * MiB);
	memset(g.low + ZP, 0x55, 0x1000); /* the page is zeroed first */
	assert_int_equal(bzimage_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);

	/* Untouched header fields come from the image. */
	assert_int_equal(tg8(&g, ZP + 0x1f1), 4);
	assert_int_equal(tg16(&g, ZP + 0x1fe), 0xaa55);
	assert_int_equal(tg16(&g, ZP + 0x206), 0x020f);
	assert_int_equal(tg32(&g, ZP + 0x214), 0x100000);
	assert_int_equal(tg32(&g, ZP + 0x230), 0x200000);
	assert_int_equal(tg8(&g, ZP + 0x234), 1);
	assert_int_equal(tg16(&g, ZP + 0x236), 0x7f);
	assert_int_equal(tg32(&g, ZP + 0x238), 2047);
	assert_int_equal(tg64(&g, ZP + 0x258), 0x1000000);
	assert_int_equal(tg32(&g, ZP + 0x260), 0x800000);
	/* What the loader sets. */
	assert_int_equal(tg8(&g, ZP + 0x210), 0xff);
	assert_int_equal(tg8(&g, ZP + 0x211), 0x81); /* LOADED_HIGH | CAN_USE_HEAP, QUIET cleared */
	assert_int_equal(tg16(&g, ZP + 0x224), 0xfe00);
	assert_int_equal(tg16(&g, ZP + 0x1fa), 0xffff);
	assert_int_equal(tg32(&g, ZP + 0x228), LAYOUT_CMDLINE);
	assert_int_equal(tg32(&g, ZP + 0x0c8), 0);
	assert_string_equal((const char *)tg_ptr(&g, LAYOUT_CMDLINE, sizeof(cmdline)), cmdline);
	assert_int_equal(tg64(&g, ZP + 0x250), 0);
	assert_int_equal(tg64(&g, ZP + 0x070), 0xe0000);
	/* initrd: below initrd_addr_max, page-aligned, as high as it goes. */
	uint32_t rd = tg32(&g, ZP + 0x218);
	assert_int_equal(rd, (0x38000000 - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(tg32(&g, ZP + 0x21c), sizeof(initrd));
	assert_int_equal(tg32(&g, ZP + 0x0c0), 0);
	assert_int_equal(tg32(&g, ZP + 0x0c4), 0);
	assert_memory_equal(tg_ptr(&g, rd, sizeof(initrd)), initrd, sizeof(initrd));
	/* e820 */
	n = e820_build(1024 * MiB, map);
	assert_int_equal(n, 4);
	assert_int_equal(tg8(&g, ZP + 0x1e8), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(tg64(&g, ZP + 0x2d0 + 20 * i), map[i].addr);
		assert_int_equal(tg64(&g, ZP + 0x2d0 + 20 * i + 8), map[i].size);
		assert_int_equal(tg32(&g, ZP + 0x2d0 + 20 * i + 16), map[i].type);
	}
	/* Everything else is zero: before the header, after it, after the table. */
	for (uint64_t o = 0; o < 0x1f1; o++)
		if (o != 0x070 && o != 0x1e8 && !(o > 0x070 && o < 0x078))
			assert_int_equal(tg8(&g, ZP + o), 0);
	for (uint64_t o = 0x26c; o < 0x2d0; o++)
		assert_int_equal(tg8(&g, ZP + o), 0);
	for (uint64_t o = 0x2d0 + 20 * (uint64_t)n; o < 0x1000; o++)
		assert_int_equal(tg8(&g, ZP + o), 0);
	free(img);
	tguest_fini(&g);
}

/* The header copy follows the jump byte, clamped to the header's room in boot_params. */
static void test_header_length(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct tbz t = tbz_default();
	size_t size;
	uint8_t *img;
	(void)state;

	t.jump = 0xff; /* header "ends" at 0x301 */
	img = bz_with(DECOMPRESS_ZSTD, &t, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 64 * MiB);
	tguest_init(&g, 64 * MiB);
	assert_int_equal(bzimage_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg8(&g, ZP + 0x280), img[0x280]);
	assert_int_equal(tg8(&g, ZP + 0x28f), img[0x28f]);
	assert_int_equal(tg8(&g, ZP + 0x290), 0);
	free(img);
	tguest_fini(&g);
}

/* More than 3 GiB: five e820 entries; the initrd stays below initrd_addr_max. */
static void test_large_guest(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct tbz t = tbz_default();
	uint8_t initrd[8192];
	size_t size;
	uint8_t *img = bz_with(DECOMPRESS_LZ4, &t, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 6144 * MiB);
	(void)state;

	cfg.initrd = initrd;
	cfg.initrd_size = sizeof(initrd);
	memset(initrd, 1, sizeof(initrd));
	tguest_init(&g, 6144 * MiB);
	assert_int_equal(bzimage_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg8(&g, ZP + 0x1e8), 5);
	assert_int_equal(tg64(&g, ZP + 0x2d0 + 3 * 20 + 8), LAYOUT_MMIO_HOLE - LAYOUT_HIMEM);
	assert_int_equal(tg64(&g, ZP + 0x2d0 + 4 * 20), LAYOUT_4G);
	assert_int_equal(tg64(&g, ZP + 0x2d0 + 4 * 20 + 8), 6144 * MiB - LAYOUT_MMIO_HOLE);
	assert_int_equal(tg32(&g, ZP + 0x2d0 + 4 * 20 + 16), E820_RAM);
	assert_int_equal(tg32(&g, ZP + 0x218), 0x80000000 - sizeof(initrd));
	assert_int_equal(tg32(&g, ZP + 0x0c0), 0);
	free(img);
	tguest_fini(&g);
}

/* Unknown compression (LZO) or no payload: load the protected-mode kernel whole. */
static void test_fallback(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct tbz t = tbz_default();
	static const uint8_t lzo[] = "\x89LZO\0\r\n\x1a\n somebytes";
	size_t size, setup;
	uint8_t *img;
	(void)state;

	t.payload = lzo;
	t.payload_len = sizeof(lzo);
	img = bz_build(&t, &size);
	setup = 5 * 512;
	struct boot_config cfg = tcfg(img, size, 64 * MiB);
	tguest_init(&g, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.mode, BOOT_LINUX64);
	assert_int_equal(out.entry, 0x1000200);
	assert_int_equal(out.rsi, LAYOUT_ZERO_PAGE);
	assert_memory_equal(tg_ptr(&g, 0x1000000, size - setup), img + setup, size - setup);
	/* The initrd stays clear of init_size. */
	static uint8_t rd[64 * 1024];
	cfg.initrd = rd;
	cfg.initrd_size = sizeof(rd);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_true(tg32(&g, ZP + 0x218) >= 0x1000000 + 0x800000);
	free(img);

	/* Not relocatable: at 1 MiB. */
	t.relocatable = 0;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.entry, 0x100200);
	assert_memory_equal(tg_ptr(&g, 0x100000, size - setup), img + setup, size - setup);
	free(img);

	/* A relocatable kernel whose pref_address is misaligned goes to 16 MiB. */
	t.relocatable = 1;
	t.pref = 0x1234567;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.entry, 0x1000200);
	free(img);

	/* No payload fields at all. */
	t = tbz_default();
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.entry, 0x1000200);
	free(img);

	/* init_size beyond RAM. */
	t.init_size = 0x4000000;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_string_equal(g.err, "bzImage: kernel at 0x1000000 needs 0x4000000 bytes (init_size "
				   "0x4000000), more than guest RAM (64 MiB) holds");
	free(img);

	/* Found by fuzz_boot: a protected-mode kernel that ends before its entry point. */
	t = tbz_default();
	t.pm_len = 0x200;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err, "bzImage: protected-mode kernel (0x200 bytes) ends before its "
				   "64-bit entry point at offset 0x200");
	free(img);
	t.pm_len = 0x201;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(out.entry, 0x1000200);
	free(img);

	/* Before 2.12 there is no 64-bit entry to fall back on. */
	t = tbz_default();
	t.version = 0x020a;
	img = bz_build(&t, &size);
	cfg = tcfg(img, size, 64 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err, "bzImage: protocol 2.10 kernel without a payload kvmm can "
				   "decompress has no 64-bit entry point (needs 2.12+ with "
				   "XLF_KERNEL_64)");
	free(img);
	tguest_fini(&g);
}

static void expect_refusal(const uint8_t *img, size_t size, uint64_t ram, const char *cmdline,
			   int want_ret, const char *want)
{
	struct tguest g;
	struct boot_entry out;
	struct boot_config cfg = tcfg(img, size, ram);
	int ret;

	cfg.cmdline = cmdline;
	tguest_init(&g, ram);
	ret = boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err));
	if (ret != want_ret || !strstr(g.err, want))
		print_error("got %d '%s', want %d '%s'\n", ret, g.err, want_ret, want);
	assert_int_equal(ret, want_ret);
	assert_non_null(strstr(g.err, want));
	tguest_fini(&g);
}

static void test_refuse_header(void **state)
{
	struct tbz t = tbz_default();
	size_t size;
	uint8_t *img = bz_with(DECOMPRESS_GZIP, &t, &size, NULL), *copy = malloc(size);
	char want[200];
	(void)state;

	assert_true(bzimage_probe(img, 0x206));
	assert_false(bzimage_probe(img, 0x205));
	/* Too short for the header: not even recognised as a bzImage by boot_load. */
	struct tguest g;
	struct boot_entry out;
	struct boot_config cfg = tcfg(img, 1000, 64 * MiB);
	tguest_init(&g, 64 * MiB);
	assert_int_equal(bzimage_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOEXEC);
	assert_string_equal(g.err,
			    "bzImage: file is 1000 bytes, shorter than its 1024-byte header");
	tguest_fini(&g);

#define MUTATE(stmt, ret, msg)                                                                     \
	do {                                                                                       \
		memcpy(copy, img, size);                                                           \
		stmt;                                                                              \
		expect_refusal(copy, size, 64 * MiB, "", ret, msg);                                \
	} while (0)
	MUTATE(put16(copy + 0x1fe, 0x1234), -ENOEXEC,
	       "bzImage: boot_flag at 0x1fe is 0x1234 (expected 0xaa55)");
	MUTATE(put16(copy + 0x206, 0x0204), -ENOEXEC,
	       "bzImage: protocol version 2.04 is too old (need 2.06)");
	snprintf(want, sizeof(want),
		 "bzImage: setup_sects 200 (102912 bytes of setup) leaves no protected-mode kernel "
		 "in a %zu-byte file",
		 size);
	MUTATE(copy[0x1f1] = 200, -ENOEXEC, want);
	MUTATE(copy[0x211] = 0, -ENOEXEC, "bzImage: LOADED_HIGH is not set in loadflags (0x00)");
	MUTATE(put16(copy + 0x236, 0x2), -ENOEXEC,
	       "bzImage: not a 64-bit kernel (xloadflags 0x0002 lacks XLF_KERNEL_64)");
	snprintf(want, sizeof(want),
		 "bzImage: payload (offset 0x3c0, length 0x%x) extends past the protected-mode "
		 "kernel (0x%zx bytes)",
		 0xfffff000u, size - 0xa00);
	MUTATE(put32(copy + 0x24c, 0xfffff000u), -ENOEXEC, want);
	/* A corrupt payload is an error, not a reason to fall back. */
	MUTATE(memset(copy + 0xa00 + 0x3c0 + 20, 0, 64), -ENOEXEC, "bzImage: payload: gzip: ");
	free(copy);

	/* Command line longer than cmdline_size. */
	t.cmdline_size = 16;
	free(img);
	img = bz_with(DECOMPRESS_GZIP, &t, &size, NULL);
	expect_refusal(img, size, 64 * MiB, "0123456789abcdefg", -EINVAL,
		       "command line is 17 bytes, kernel accepts 16");
	free(img);
}

static void test_refuse_payload(void **state)
{
	struct tbz t = tbz_default();
	size_t size, clen, vlen;
	uint8_t *img, *c, *big;
	(void)state;

	/* Decompresses to more than guest RAM. */
	big = calloc(1, 5 * MiB);
	memcpy(big, ELFMAG, 4);
	c = tcompress(DECOMPRESS_GZIP, big, 5 * MiB, &clen, 1);
	t.payload = c;
	t.payload_len = clen;
	img = bz_build(&t, &size);
	expect_refusal(
	    img, size, 4 * MiB, "", -ENOMEM,
	    "bzImage: gzip payload decompresses to more than 4 MiB (the limit is guest RAM "
	    "or 512 MiB)");
	free(img);
	free(c);
	/* Not an ELF inside. */
	c = tcompress(DECOMPRESS_XZ, big + 4096, 4096, &clen, 1);
	t.payload = c;
	t.payload_len = clen;
	img = bz_build(&t, &size);
	expect_refusal(img, size, 64 * MiB, "", -ENOEXEC, "bzImage: vmlinux: not an ELF file");
	free(img);
	free(c);
	free(big);
	/* A 32-bit kernel inside. */
	struct telf e32 = {.cls = ELFCLASS32, .machine = EM_386, .entry = 0x1000000, .nseg = 1};
	e32.seg[0] = (struct tseg){PT_LOAD, 0xc1000000, 0x1000000, NULL, 0x100, 0x100, 0x1000};
	uint8_t *v = telf_build(&e32, &vlen, NULL);
	c = tcompress(DECOMPRESS_ZSTD, v, vlen, &clen, 1);
	t.payload = c;
	t.payload_len = clen;
	img = bz_build(&t, &size);
	expect_refusal(img, size, 64 * MiB, "", -ENOEXEC,
		       "bzImage: vmlinux: 32-bit ELF where a 64-bit one is needed");
	free(img);
	free(c);
	free(v);
	/* The vmlinux does not fit in a small guest. */
	t.payload = NULL;
	img = bz_with(DECOMPRESS_LZMA, &t, &size, NULL);
	expect_refusal(
	    img, size, 8 * MiB, "", -ENOMEM,
	    "bzImage: vmlinux: segment 0 at 0x1000000 (size 0x2000) is outside guest RAM "
	    "(8 MiB)");
	free(img);
}

static void test_initrd_refused(void **state)
{
	struct tguest g;
	struct boot_entry out;
	struct tbz t = tbz_default();
	size_t size;
	uint8_t *img = bz_with(DECOMPRESS_BZIP2, &t, &size, NULL);
	struct boot_config cfg = tcfg(img, size, 32 * MiB);
	static uint8_t rd[16 * MiB];
	(void)state;

	cfg.initrd = rd;
	cfg.initrd_size = sizeof(rd);
	tguest_init(&g, 32 * MiB);
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_string_equal(g.err, "initrd (16 MiB) does not fit in guest RAM between the kernel's "
				   "end 0x1103000 and 0x2000000 (guest RAM 32 MiB)");
	/* The largest initrd that fits sits right above the kernel. */
	cfg.initrd_size = 0x2000000 - 0x1103000;
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), 0);
	assert_int_equal(tg32(&g, ZP + 0x218), 0x1103000);
	/* initrd_addr_max below the kernel leaves no room. */
	free(img);
	t.initrd_addr_max = 0xffffff;
	img = bz_with(DECOMPRESS_BZIP2, &t, &size, NULL);
	cfg = tcfg(img, size, 32 * MiB);
	cfg.initrd = rd;
	cfg.initrd_size = 4096;
	assert_int_equal(boot_load(&g.m, &cfg, &out, g.err, sizeof(g.err)), -ENOMEM);
	assert_non_null(strstr(g.err, "between the kernel's end 0x1103000 and 0x1000000"));
	free(img);
	tguest_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_formats),	   cmocka_unit_test(test_zero_page),
	    cmocka_unit_test(test_header_length),  cmocka_unit_test(test_large_guest),
	    cmocka_unit_test(test_fallback),	   cmocka_unit_test(test_refuse_header),
	    cmocka_unit_test(test_refuse_payload), cmocka_unit_test(test_initrd_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
