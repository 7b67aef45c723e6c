/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 loader, per the Multiboot Specification version 0.6.96:
 *   - 3.1.1/3.1.2 "The layout/magic fields of Multiboot header": magic
 *     0x1BADB002, 32-bit aligned within the first 8192 bytes, magic + flags +
 *     checksum == 0; flags bits 0-15 are requirements a loader must refuse when
 *     it cannot meet them (bit 0 page-aligned modules and bit 1 memory
 *     information are met; bit 2, video mode, is a preference kvmm ignores).
 *   - 3.1.3 "The address fields": with flags bit 16 the image is loaded from
 *     the header_addr/load_addr/load_end_addr/bss_end_addr/entry_addr fields
 *     (the "a.out kludge"); otherwise it must be ELF (32-bit here).
 *   - 3.2 "Machine state": EAX = 0x2BADB002, EBX = the information structure,
 *     32-bit flat protected mode, paging off.
 *   - 3.3 "Boot information format": flags, mem_lower/mem_upper, cmdline,
 *     mods_count/mods_addr (mod_start, mod_end, string, reserved), mmap_length/
 *     mmap_addr (size, base_addr, length, type; size excludes itself),
 *     boot_loader_name.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_internal.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define MB_HEADER_MAGIC	    0x1BADB002u
#define MB_BOOTLOADER_MAGIC 0x2BADB002u
#define MB_SEARCH_END	    8192
#define MB_HEADER_MIN	    12 /* magic, flags, checksum */
#define MB_HEADER_AOUT	    32 /* ... and the five address fields */

#define MB_FLAG_PAGE_ALIGN 0x00000001u
#define MB_FLAG_MEMINFO	   0x00000002u
#define MB_FLAG_VIDEO	   0x00000004u
#define MB_FLAG_AOUT	   0x00010000u
#define MB_FLAGS_REQUIRED  0x0000ffffu

#define MBI_MEM		(1u << 0)
#define MBI_CMDLINE	(1u << 2)
#define MBI_MODS	(1u << 3)
#define MBI_MMAP	(1u << 6)
#define MBI_LOADER_NAME (1u << 9)

/* struct multiboot_info offsets (3.3) */
#define MBI_FLAGS	     0
#define MBI_MEM_LOWER	     4
#define MBI_MEM_UPPER	     8
#define MBI_CMDLINE_PTR	     16
#define MBI_MODS_COUNT	     20
#define MBI_MODS_ADDR	     24
#define MBI_MMAP_LENGTH	     44
#define MBI_MMAP_ADDR	     48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_SIZE	     116 /* through the framebuffer fields */

#define MB_MMAP_ENTRY  24 /* u32 size (= 20), u64 base_addr, u64 length, u32 type */
#define MB_MODULE_SIZE 16

#define MB_LOADER_NAME "kvmm"
#define MB_INITRD_NAME "initrd"

/* Offset of the first valid header, or -1. */
static long multiboot_find(const uint8_t *img, size_t size)
{
	size_t end = size < MB_SEARCH_END ? size : MB_SEARCH_END;

	for (size_t off = 0; off + MB_HEADER_MIN <= end; off += 4) {
		uint32_t magic = boot_get32(img + off);

		if (magic != MB_HEADER_MAGIC)
			continue;
		if ((uint32_t)(magic + boot_get32(img + off + 4) + boot_get32(img + off + 8)) == 0)
			return (long)off;
	}
	return -1;
}

int multiboot_probe(const uint8_t *img, size_t size)
{
	return multiboot_find(img, size) >= 0;
}

static int multiboot_range_fail(int ret, uint64_t addr, uint64_t size, uint64_t ram_size, char *err,
				size_t errlen)
{
	char ram[32];

	if (ret == -ENOEXEC)
		return boot_fail(err, errlen, ret,
				 "multiboot: segment at 0x%" PRIx64 " (size 0x%" PRIx64
				 ") reaches below 1 MiB, where kvmm keeps boot structures",
				 addr, size);
	return boot_fail(err, errlen, ret,
			 "multiboot: segment at 0x%" PRIx64 " (size 0x%" PRIx64
			 ") is outside guest RAM (%s)",
			 addr, size, boot_describe_size(ram_size, ram, sizeof(ram)));
}

/* The a.out kludge: flags bit 16 says where the file goes, wherever it came from. */
static int multiboot_load_aout(struct gmem *m, const struct boot_config *cfg, size_t hoff,
			       uint64_t *entry, uint64_t *kernel_end, char *err, size_t errlen)
{
	const uint8_t *img = cfg->kernel, *h = cfg->kernel + hoff;
	size_t size = cfg->kernel_size;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
	uint64_t file_off, load_size, mem_size;
	uint8_t *dst;
	int ret;

	if (hoff + MB_HEADER_AOUT > size || hoff + MB_HEADER_AOUT > MB_SEARCH_END)
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "multiboot: header at file offset 0x%zx has the address flag (bit 16) "
		    "but its address fields extend past %s",
		    hoff,
		    hoff + MB_HEADER_AOUT > size ? "the end of the file" : "the first 8192 bytes");
	header_addr = boot_get32(h + 12);
	load_addr = boot_get32(h + 16);
	load_end_addr = boot_get32(h + 20);
	bss_end_addr = boot_get32(h + 24);
	entry_addr = boot_get32(h + 28);

	if (load_addr > header_addr)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: load_addr 0x%" PRIx32
				 " is above header_addr 0x%" PRIx32,
				 load_addr, header_addr);
	if (header_addr - load_addr > hoff)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: header_addr 0x%" PRIx32 " - load_addr 0x%" PRIx32
				 " is more than the header's file offset 0x%zx",
				 header_addr, load_addr, hoff);
	file_off = hoff - (header_addr - load_addr);
	if (load_end_addr) {
		if (load_end_addr < load_addr)
			return boot_fail(err, errlen, -ENOEXEC,
					 "multiboot: load_end_addr 0x%" PRIx32
					 " is below load_addr 0x%" PRIx32,
					 load_end_addr, load_addr);
		load_size = load_end_addr - load_addr;
		if (load_size > size - file_off)
			return boot_fail(err, errlen, -ENOEXEC,
					 "multiboot: load_end_addr 0x%" PRIx32
					 " asks for 0x%" PRIx64 " bytes from file offset 0x%" PRIx64
					 ", past end of file (size 0x%zx)",
					 load_end_addr, load_size, file_off, size);
	} else {
		load_size = size - file_off;
	}
	mem_size = load_size;
	if (bss_end_addr) {
		if ((uint64_t)bss_end_addr < load_addr + load_size)
			return boot_fail(err, errlen, -ENOEXEC,
					 "multiboot: bss_end_addr 0x%" PRIx32
					 " is below the end of the loaded data 0x%" PRIx64,
					 bss_end_addr, load_addr + load_size);
		mem_size = bss_end_addr - load_addr;
	}
	if (!mem_size)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: the address fields load nothing");
	if (load_addr + mem_size > LAYOUT_4G)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: image at 0x%" PRIx32 " (size 0x%" PRIx64
				 ") extends past 4 GiB",
				 load_addr, mem_size);
	ret = boot_check_load(cfg->ram_size, load_addr, mem_size);
	if (ret)
		return multiboot_range_fail(ret, load_addr, mem_size, cfg->ram_size, err, errlen);
	if (entry_addr < load_addr || entry_addr - load_addr >= mem_size)
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: entry_addr 0x%" PRIx32 " is outside the loaded image "
				 "0x%" PRIx32 "-0x%" PRIx64,
				 entry_addr, load_addr, load_addr + mem_size - 1);
	dst = gmem_ptr(m, load_addr, mem_size);
	if (!dst)
		return boot_fail(err, errlen, -ENOMEM,
				 "multiboot: guest memory 0x%" PRIx32 "-0x%" PRIx64
				 " is not mapped",
				 load_addr, load_addr + mem_size - 1);
	memcpy(dst, img + file_off, load_size);
	memset(dst + load_size, 0, mem_size - load_size);
	*entry = entry_addr;
	*kernel_end = load_addr + mem_size;
	return 0;
}

/* The information structure at LAYOUT_BOOTINFO and its data in LAYOUT_BOOTDATA. */
static int multiboot_build_info(struct gmem *m, const struct boot_config *cfg, uint64_t kernel_end,
				char *err, size_t errlen)
{
	const char *path = cfg->kernel_path ? cfg->kernel_path : "";
	size_t path_len = strlen(path), cmd_len = strlen(cfg->cmdline), str_len;
	uint8_t mbi[MBI_SIZE], mmap[E820_MAX * MB_MMAP_ENTRY], mod[MB_MODULE_SIZE];
	struct e820_entry map[E820_MAX];
	uint64_t mmap_at, mod_at, str_at, initrd_name_at, loader_at, end, initrd;
	uint32_t mem_lower = 0, mem_upper = 0;
	int n, ret;

	n = e820_build(cfg->ram_size, map);
	memset(mmap, 0, sizeof(mmap));
	for (int i = 0; i < n; i++) {
		uint8_t *e = mmap + i * MB_MMAP_ENTRY;

		boot_put32(e, MB_MMAP_ENTRY - 4);
		boot_put64(e + 4, map[i].addr);
		boot_put64(e + 12, map[i].size);
		boot_put32(e + 20, map[i].type);
		if (map[i].type != E820_RAM)
			continue;
		if (map[i].addr == 0)
			mem_lower = (uint32_t)(map[i].size >> 10);
		if (map[i].addr == LAYOUT_HIMEM)
			mem_upper =
			    (uint32_t)((map[i].size >> 10) > UINT32_MAX ? UINT32_MAX
									: map[i].size >> 10);
	}
	if (mem_lower > 640)
		mem_lower = 640;

	/* "<kernel path> <command line>", as boot loaders pass it. */
	str_len = path_len + (path_len && cmd_len ? 1 : 0) + cmd_len + 1;
	mmap_at = LAYOUT_BOOTDATA;
	mod_at = mmap_at + (uint64_t)n * MB_MMAP_ENTRY;
	initrd_name_at = mod_at + MB_MODULE_SIZE;
	loader_at = initrd_name_at + sizeof(MB_INITRD_NAME);
	str_at = loader_at + sizeof(MB_LOADER_NAME);
	end = str_at + str_len;
	if (end > LAYOUT_BOOTDATA + LAYOUT_BOOTDATA_MAX)
		return boot_fail(
		    err, errlen, -EINVAL, "multiboot: command line is %zu bytes, at most %llu fit",
		    str_len - 1,
		    (unsigned long long)(LAYOUT_BOOTDATA + LAYOUT_BOOTDATA_MAX - str_at - 1));

	ret = boot_place_initrd(m, cfg, kernel_end, UINT64_MAX, &initrd, err, errlen);
	if (ret)
		return ret;
	memset(mod, 0, sizeof(mod));
	boot_put32(mod, (uint32_t)initrd);
	boot_put32(mod + 4, (uint32_t)(initrd + cfg->initrd_size)); /* exclusive end, as GRUB */
	boot_put32(mod + 8, (uint32_t)initrd_name_at);

	if (gmem_write(m, mmap_at, mmap, (uint64_t)n * MB_MMAP_ENTRY) ||
	    gmem_write(m, mod_at, mod, sizeof(mod)) ||
	    gmem_write(m, initrd_name_at, MB_INITRD_NAME, sizeof(MB_INITRD_NAME)) ||
	    gmem_write(m, loader_at, MB_LOADER_NAME, sizeof(MB_LOADER_NAME)) ||
	    gmem_write(m, str_at, path, path_len) ||
	    gmem_write(m, str_at + path_len, " ", path_len && cmd_len ? 1 : 0) ||
	    gmem_write(m, end - 1 - cmd_len, cfg->cmdline, cmd_len + 1))
		return boot_fail(err, errlen, -ENOMEM,
				 "multiboot: guest RAM does not cover the boot data at 0x%llx",
				 LAYOUT_BOOTDATA);

	memset(mbi, 0, sizeof(mbi));
	boot_put32(mbi + MBI_FLAGS, MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
	boot_put32(mbi + MBI_MEM_LOWER, mem_lower);
	boot_put32(mbi + MBI_MEM_UPPER, mem_upper);
	boot_put32(mbi + MBI_CMDLINE_PTR, (uint32_t)str_at);
	boot_put32(mbi + MBI_MODS_COUNT, initrd ? 1 : 0);
	boot_put32(mbi + MBI_MODS_ADDR, (uint32_t)mod_at);
	boot_put32(mbi + MBI_MMAP_LENGTH, (uint32_t)(n * MB_MMAP_ENTRY));
	boot_put32(mbi + MBI_MMAP_ADDR, (uint32_t)mmap_at);
	boot_put32(mbi + MBI_BOOT_LOADER_NAME, (uint32_t)loader_at);
	_Static_assert(MBI_SIZE <= LAYOUT_ZERO_PAGE - LAYOUT_BOOTINFO, "multiboot info area");
	if (gmem_write(m, LAYOUT_BOOTINFO, mbi, sizeof(mbi)))
		return boot_fail(err, errlen, -ENOMEM,
				 "multiboot: guest RAM does not cover the information structure at "
				 "0x%llx",
				 LAYOUT_BOOTINFO);
	return 0;
}

int multiboot_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
		   size_t errlen)
{
	const uint8_t *img = cfg->kernel;
	size_t size = cfg->kernel_size;
	uint64_t entry = 0, kernel_end = 0;
	uint32_t flags;
	long hoff;
	int ret, cls;

	ret = boot_check_config(cfg, err, errlen);
	if (ret)
		return ret;
	hoff = multiboot_find(img, size);
	if (hoff < 0)
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "multiboot: no header (magic 0x1BADB002 with a valid checksum) in the "
		    "first 8192 bytes");
	flags = boot_get32(img + hoff + 4);
	if (flags & MB_FLAGS_REQUIRED & ~(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO))
		return boot_fail(err, errlen, -ENOEXEC,
				 "multiboot: header flags 0x%08" PRIx32
				 " require features kvmm does not provide (bits 0x%04" PRIx32 ")",
				 flags,
				 flags & MB_FLAGS_REQUIRED &
				     ~(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_VIDEO));

	if (flags & MB_FLAG_AOUT) {
		ret = multiboot_load_aout(m, cfg, (size_t)hoff, &entry, &kernel_end, err, errlen);
	} else {
		struct elf_loaded elf;

		cls = elf_ident_class(img, size);
		if (!cls)
			return boot_fail(
			    err, errlen, -ENOEXEC,
			    "multiboot: image is not ELF and its header lacks the address "
			    "fields (flags bit 16)");
		if (cls == ELFCLASS64)
			return boot_fail(
			    err, errlen, -ENOEXEC,
			    "multiboot: 64-bit ELF without the address fields (flags bit "
			    "16); multiboot v1 loads only 32-bit ELF");
		ret = elf_load_image(m, cfg->ram_size, img, size, ELFCLASS32, EM_386,
				     "multiboot ELF", &elf, err, errlen);
		entry = elf.entry;
		kernel_end = elf.hi;
	}
	if (ret)
		return ret;
	ret = multiboot_build_info(m, cfg, kernel_end, err, errlen);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->mode = BOOT_MULTIBOOT32;
	out->entry = entry;
	out->eax = MB_BOOTLOADER_MAGIC;
	out->ebx = (uint32_t)LAYOUT_BOOTINFO;
	return 0;
}
