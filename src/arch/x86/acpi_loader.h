/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for firmware that places them itself: QEMU's BIOS
 * linker/loader ("table-loader") interface, as QEMU defines it in
 * hw/acpi/bios-linker-loader.c and SeaBIOS executes it in
 * src/fw/romfile_loader.c.
 *
 * The firmware reads three fw_cfg files (QEMU docs/specs/fw_cfg.rst):
 *   "etc/acpi/tables"  every table but the RSDP, pointers as blob offsets
 *   "etc/acpi/rsdp"    the RSDP, its pointers as offsets into the tables blob
 *   "etc/table-loader" 128-byte commands: ALLOCATE each blob in memory of the
 *                      zone asked for, ADD_POINTER (add the address of a blob
 *                      to a 1/2/4/8-byte little-endian field of another),
 *                      ADD_CHECKSUM (subtract the 8-bit sum of a range from
 *                      one byte in it, so the range sums to zero)
 * Every integer in a command is little endian; file names are NUL-terminated
 * in 56 bytes (ACPI_LOADER_NAME_LEN). Commands run in order: a file is
 * allocated before anything refers to it, and a table's checksum comes after
 * its pointers are patched.
 *
 * The encoder below keeps to what SeaBIOS 1.16 accepts (romfile_loader.c
 * drops a bad command with a warning and goes on, which would leave broken
 * tables): names that fit, power-of-two alignments, a known zone, each file
 * allocated once with a non-zero size, pointer and checksum ranges inside the
 * file, and a checksum byte inside the range it covers.
 */
#ifndef KVMM_ARCH_X86_ACPI_LOADER_H
#define KVMM_ARCH_X86_ACPI_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi.h"

#define ACPI_LOADER_FILE_TABLES	  "etc/acpi/tables"
#define ACPI_LOADER_FILE_RSDP	  "etc/acpi/rsdp"
#define ACPI_LOADER_FILE_COMMANDS "etc/table-loader"

#define ACPI_LOADER_CMD_LEN   128
#define ACPI_LOADER_NAME_LEN  56 /* with the terminating NUL */
#define ACPI_LOADER_FILES_MAX 8

/* Command codes and allocation zones (bios-linker-loader.c). */
#define ACPI_LOADER_ALLOCATE	 1
#define ACPI_LOADER_ADD_POINTER	 2
#define ACPI_LOADER_ADD_CHECKSUM 3

enum acpi_loader_zone {
	ACPI_LOADER_ZONE_HIGH = 1, /* anywhere in 32-bit RAM */
	ACPI_LOADER_ZONE_FSEG = 2, /* the BIOS F segment, 0xf0000-0xfffff (the RSDP) */
};

/*
 * A command file being written into buf[0, cap). Errors are sticky, as in
 * aml.h: the first one is kept in err, later calls do nothing, and each call
 * returns err.
 */
struct acpi_loader {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	int nfiles;
	struct {
		char name[ACPI_LOADER_NAME_LEN];
		uint32_t size;
	} files[ACPI_LOADER_FILES_MAX];
};

void acpi_loader_init(struct acpi_loader *l, uint8_t *buf, size_t cap);

/*
 * ALLOCATE file (size bytes, as the fw_cfg file will be) aligned to align (a
 * power of two) in zone. -EINVAL for a name that is empty or too long, a bad
 * align or zone, size 0 or a file already allocated; -ENOSPC when buf is full
 * or ACPI_LOADER_FILES_MAX files are allocated.
 */
int acpi_loader_allocate(struct acpi_loader *l, const char *file, uint32_t size, uint32_t align,
			 enum acpi_loader_zone zone);

/*
 * ADD_POINTER: adds the address of src_file to the size-byte field (1, 2, 4 or
 * 8) at offset of dest_file. -EINVAL unless both files are allocated and the
 * field lies inside dest_file; -ENOSPC when buf is full.
 */
int acpi_loader_add_pointer(struct acpi_loader *l, const char *dest_file, uint32_t offset,
			    uint8_t size, const char *src_file);

/*
 * ADD_CHECKSUM: makes file's bytes [start, start + length) sum to zero by
 * adjusting the byte at offset, which must lie in that range. -EINVAL unless
 * file is allocated and the range lies inside it; -ENOSPC when buf is full.
 */
int acpi_loader_add_checksum(struct acpi_loader *l, const char *file, uint32_t offset,
			     uint32_t start, uint32_t length);

/*
 * The three fw_cfg files, in heap buffers owned by the struct. The
 * machine adds each under its name and then frees them (fw_cfg copies).
 */
struct acpi_loader_blobs {
	uint8_t *tables; /* ACPI_LOADER_FILE_TABLES */
	size_t tables_len;
	uint8_t *rsdp; /* ACPI_LOADER_FILE_RSDP */
	size_t rsdp_len;
	uint8_t *commands; /* ACPI_LOADER_FILE_COMMANDS */
	size_t commands_len;
};

/*
 * Builds the tables acpi_build builds for cfg (the same bytes once firmware
 * has placed and linked them) as the three blobs. The tables blob is
 * allocated 64-byte aligned in the HIGH zone (the FACS inside it is at a
 * 64-byte offset), the RSDP 16-byte aligned in the FSEG zone, where SeaBIOS
 * looks for it. Returns 0, -EINVAL for a bad cfg (as acpi_build), or -ENOMEM;
 * on error out is all NULL/0.
 */
int acpi_loader_build(const struct acpi_config *cfg, struct acpi_loader_blobs *out);

/* Frees the blobs and zeroes out; safe on a zeroed or already freed struct. */
void acpi_loader_blobs_free(struct acpi_loader_blobs *b);

#endif
