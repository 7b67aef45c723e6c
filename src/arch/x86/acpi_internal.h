/* SPDX-License-Identifier: MIT */
/*
 * The ACPI table builder behind both ways kvmm hands tables to a guest; not
 * part of the public interface in acpi.h.
 *
 * acpi_build (acpi.c) lays RSDP and tables out in one buffer at a fixed guest
 * address, for direct kernel boot. acpi_loader_build (acpi_loader.c) builds
 * the same tables into blobs that firmware places itself and links with
 * QEMU's BIOS linker/loader commands. Both drive the functions below; the
 * builder writes each pointer between tables and each checksum through a
 * struct acpi_blob, which records where they are so the loader can emit an
 * ADD_POINTER or ADD_CHECKSUM command for each.
 */
#ifndef KVMM_ARCH_X86_ACPI_INTERNAL_H
#define KVMM_ARCH_X86_ACPI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi.h"

/*
 * Pointers and checksums one blob can hold. The most is the direct-boot
 * buffer: 11 pointers (RSDP 2, RSDT 3, XSDT 3, FADT 3) and 8 checksums
 * (RSDP 2, RSDT, XSDT, FADT, MADT, MCFG, DSDT).
 */
#define ACPI_FIXUPS_MAX 16

/* A pointer field of size bytes at offset at, holding the address of a table. */
struct acpi_fixup_ptr {
	uint32_t at;
	uint8_t size;
};

/* The checksum byte at offset at makes bytes [start, start + len) sum to zero. */
struct acpi_fixup_csum {
	uint32_t at;
	uint32_t start;
	uint32_t len;
};

/*
 * A buffer being filled with tables: buf[0, len), whose first byte will live
 * at guest address base (0 for a blob the firmware places: every pointer is
 * then an offset). Alignment is of base + offset. Every pointer recorded in
 * ptr[] points into the blob that holds the RSDT and the tables after it.
 */
struct acpi_blob {
	uint8_t *buf;
	size_t len;
	uint64_t base;
	int err; /* -EOVERFLOW if more than ACPI_FIXUPS_MAX fixups were recorded */
	unsigned nptr, ncsum;
	struct acpi_fixup_ptr ptr[ACPI_FIXUPS_MAX];
	struct acpi_fixup_csum csum[ACPI_FIXUPS_MAX];
};

/* Offsets in the blob of what acpi_tables_build placed; end is one past the DSDT. */
struct acpi_tables {
	size_t rsdt, xsdt, end;
};

#define ACPI_RSDP_LEN 36

void acpi_blob_init(struct acpi_blob *b, uint8_t *buf, size_t len, uint64_t base);

/* 0, or -EINVAL for the config errors acpi.h lists under acpi_build. */
int acpi_config_check(const struct acpi_config *cfg);

/*
 * Places size bytes at the first offset from *cur whose address is
 * align-aligned and advances *cur past them; -ENOSPC if they do not fit.
 */
int acpi_blob_place(struct acpi_blob *b, size_t *cur, size_t size, size_t align, size_t *off);

/*
 * Lays out RSDT, XSDT, FADT, FACS, MADT, [MCFG] and DSDT from offset *cur on
 * (cfg already checked), fills them in, records their pointers and checksums
 * and advances *cur to their end. Returns 0, -ENOSPC, -EINVAL (tables would
 * end above 4 GiB) or b->err.
 */
int acpi_tables_build(struct acpi_blob *b, size_t *cur, const struct acpi_config *cfg,
		      struct acpi_tables *t);

/*
 * Writes the RSDP (ACPI_RSDP_LEN bytes, placed by the caller on a 16-byte
 * boundary) at offset at, pointing at the RSDT and XSDT at guest addresses
 * rsdt and xsdt, and records its two pointers and two checksums.
 */
void acpi_rsdp_build(struct acpi_blob *b, size_t at, uint64_t rsdt, uint64_t xsdt);

#endif
