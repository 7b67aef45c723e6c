/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the x86 kernel loaders (boot.c, bzimage.c, elf.c,
 * multiboot.c, linux_zeropage.c); not part of the public loader interface in
 * boot.h. Every image is untrusted: readers here take explicit offsets that the
 * caller has already checked against the image size.
 */
#ifndef KVMM_ARCH_X86_BOOT_INTERNAL_H
#define KVMM_ARCH_X86_BOOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the x86 loaders assume a little-endian host"
#endif

/* Little-endian field access into byte buffers (no alignment assumed). */
static inline uint16_t boot_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t boot_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t boot_get64(const uint8_t *p)
{
	return (uint64_t)boot_get32(p) | (uint64_t)boot_get32(p + 4) << 32;
}

static inline void boot_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void boot_put32(uint8_t *p, uint32_t v)
{
	boot_put16(p, (uint16_t)v);
	boot_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void boot_put64(uint8_t *p, uint64_t v)
{
	boot_put32(p, (uint32_t)v);
	boot_put32(p + 4, (uint32_t)(v >> 32));
}

#define BOOT_PAGE_SIZE 0x1000ULL

/* Formats a reason into err (when there is one) and returns ret. */
int boot_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Validates the parts of cfg every loader relies on (RAM size, pointers). */
int boot_check_config(const struct boot_config *cfg, char *err, size_t errlen);

/*
 * Whether [addr, addr+size) may receive kernel bytes: it must lie inside one
 * e820 RAM entry of a guest with ram_size bytes and not below LAYOUT_HIMEM,
 * where kvmm keeps its boot structures. Returns 0, -ENOEXEC when the range
 * reaches into the low megabyte (the image is wrong for this machine), or
 * -ENOMEM when it is beyond guest RAM (the guest is too small).
 */
int boot_check_load(uint64_t ram_size, uint64_t addr, uint64_t size);

/* "<n> MiB"-style description of a RAM size for messages, into buf. */
const char *boot_describe_size(uint64_t bytes, char *buf, size_t len);

/*
 * Copies cfg's initrd, if any, to the highest page-aligned guest address where
 * it fits in RAM inside [lo, hi); hi is clamped to the end of low RAM. *addr is
 * 0 when there is no initrd. Returns 0, -EINVAL for an empty initrd, or
 * -ENOMEM when it does not fit.
 */
int boot_place_initrd(struct gmem *m, const struct boot_config *cfg, uint64_t lo, uint64_t hi,
		      uint64_t *addr, char *err, size_t errlen);

/* What elf_load_image found and loaded. */
struct elf_loaded {
	uint64_t entry;	    /* physical entry point (e_entry translated through its segment) */
	uint64_t lo, hi;    /* lowest loaded byte and end (exclusive) of the highest */
	int has_pvh;	    /* a "Xen" XEN_ELFNOTE_PHYS32_ENTRY note was found */
	uint32_t pvh_entry; /* its value, checked to lie in a loaded segment */
};

/* ELFCLASS32 or ELFCLASS64 for an image that starts with the ELF magic, else 0. */
int elf_ident_class(const uint8_t *img, size_t size);

/*
 * Validates an ET_EXEC image of the given class and machine (every header and
 * program header, against the file and guest RAM) and loads its PT_LOAD
 * segments at p_paddr, zeroing their bss. what prefixes error messages ("ELF",
 * "multiboot ELF", "bzImage vmlinux").
 */
int elf_load_image(struct gmem *m, uint64_t ram_size, const uint8_t *img, size_t size,
		   int elf_class, int machine, const char *what, struct elf_loaded *out, char *err,
		   size_t errlen);

/*
 * Looks for the PVH entry note without loading anything: 1 and *entry when
 * present, 0 when absent, negative errno when the image is malformed.
 */
int elf_find_pvh_entry(const uint8_t *img, size_t size, uint32_t *entry);

#endif
