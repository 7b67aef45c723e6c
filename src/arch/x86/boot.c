/* SPDX-License-Identifier: MIT */
/*
 * Kernel format detection and the helpers every x86 loader shares (see boot.h
 * and boot_internal.h). The format comes from the image's bytes:
 *   - "HdrS" at 0x202: Linux bzImage (Documentation/arch/x86/boot.rst, "The
 *     Real-Mode Kernel Header")
 *   - an ELF header: a 64-bit vmlinux (elf.c), unless it carries a Multiboot
 *     header and no PVH note; a 32-bit ELF must be Multiboot
 *   - a Multiboot header in the first 8192 bytes (Multiboot 0.6.96, 3.1.1
 *     "The layout of Multiboot header")
 */
#include "arch/x86/boot.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/boot_internal.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

int boot_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int boot_check_config(const struct boot_config *cfg, char *err, size_t errlen)
{
	char sz[32];

	if (!cfg->kernel || !cfg->kernel_size)
		return boot_fail(err, errlen, -ENOEXEC, "kernel image is empty");
	if (!cfg->cmdline)
		return boot_fail(err, errlen, -EINVAL, "no command line given");
	if (cfg->ram_size < LAYOUT_MIN_RAM)
		return boot_fail(err, errlen, -ENOMEM, "guest RAM (%s) is below the minimum of %s",
				 boot_describe_size(cfg->ram_size, sz, sizeof(sz)), "2 MiB");
	return 0;
}

const char *boot_describe_size(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= (1ULL << 20) && !(bytes & ((1ULL << 20) - 1)))
		snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
	else if (bytes >= (1ULL << 20))
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
	else if (bytes >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	return buf;
}

int boot_check_load(uint64_t ram_size, uint64_t addr, uint64_t size)
{
	struct e820_entry map[E820_MAX];
	int n;

	if (!size)
		return 0;
	if (addr + size < addr)
		return -ENOEXEC;
	if (addr < LAYOUT_HIMEM)
		return -ENOEXEC;
	n = e820_build(ram_size, map);
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM)
			continue;
		if (addr >= map[i].addr && addr - map[i].addr < map[i].size &&
		    size <= map[i].size - (addr - map[i].addr))
			return 0;
	}
	return -ENOMEM;
}

int boot_place_initrd(struct gmem *m, const struct boot_config *cfg, uint64_t lo, uint64_t hi,
		      uint64_t *addr, char *err, size_t errlen)
{
	uint64_t size = cfg->initrd_size, lowmem = e820_lowmem(cfg->ram_size), at;
	char sz[32], ram[32];

	*addr = 0;
	if (!cfg->initrd)
		return 0;
	if (!size)
		return boot_fail(err, errlen, -EINVAL, "initrd is empty");
	if (hi > lowmem)
		hi = lowmem;
	if (lo < LAYOUT_HIMEM)
		lo = LAYOUT_HIMEM;
	if (lo > UINT64_MAX - BOOT_PAGE_SIZE)
		lo = UINT64_MAX - BOOT_PAGE_SIZE;
	lo = (lo + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	if (size > hi || ((hi - size) & ~(BOOT_PAGE_SIZE - 1)) < lo)
		return boot_fail(err, errlen, -ENOMEM,
				 "initrd (%s) does not fit in guest RAM between the kernel's end "
				 "0x%" PRIx64 " and 0x%" PRIx64 " (guest RAM %s)",
				 boot_describe_size(size, sz, sizeof(sz)), lo, hi,
				 boot_describe_size(cfg->ram_size, ram, sizeof(ram)));
	at = (hi - size) & ~(BOOT_PAGE_SIZE - 1);
	if (gmem_write(m, at, cfg->initrd, size))
		return boot_fail(err, errlen, -ENOMEM,
				 "initrd: guest memory 0x%" PRIx64 "-0x%" PRIx64 " is not mapped",
				 at, at + size - 1);
	*addr = at;
	return 0;
}

int boot_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
	      size_t errlen)
{
	const uint8_t *img = cfg->kernel;
	size_t size = cfg->kernel_size;
	uint32_t pvh;
	int cls, ret;

	ret = boot_check_config(cfg, err, errlen);
	if (ret)
		return ret;
	if (bzimage_probe(img, size))
		return bzimage_load(m, cfg, out, err, errlen);
	cls = elf_ident_class(img, size);
	if (cls) {
		/*
		 * A Multiboot header inside an ELF says how the kernel wants to be
		 * booted, unless a PVH note offers the better path.
		 */
		if (multiboot_probe(img, size) && elf_find_pvh_entry(img, size, &pvh) <= 0)
			return multiboot_load(m, cfg, out, err, errlen);
		if (cls == ELFCLASS64)
			return elf_load(m, cfg, out, err, errlen);
		return boot_fail(err, errlen, -ENOEXEC, "32-bit ELF without a multiboot header");
	}
	if (multiboot_probe(img, size))
		return multiboot_load(m, cfg, out, err, errlen);
	return boot_fail(err, errlen, -ENOEXEC, "not a bzImage, ELF or multiboot kernel");
}
