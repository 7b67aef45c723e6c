/* SPDX-License-Identifier: MIT */
/*
 * SMBIOS tables for firmware, in the form QEMU passes them over fw_cfg
 * (hw/smbios/smbios.c): the structure table as "etc/smbios/smbios-tables"
 * and an entry point as "etc/smbios/smbios-anchor". Section numbers are of
 * the SMBIOS Reference Specification, DMTF DSP0134 3.x:
 *   5.2.1 SMBIOS 2.1 (32-bit) entry point "_SM_" (31 bytes)
 *   5.2.2 SMBIOS 3.0 (64-bit) entry point "_SM3_" (24 bytes)
 *   6.1.2 structure header, 6.1.3 text strings
 *   7.1 BIOS (type 0), 7.2 system (1), 7.4 enclosure (3), 7.5 processor (4),
 *   7.17 physical memory array (16), 7.18 memory device (17), 7.20 memory
 *   array mapped address (19), 7.33 system boot (32), 7.46 end of table (127)
 * The structures are those of version 3.0, which the entry point declares.
 *
 * SeaBIOS 1.16 (src/fw/biostables.c, smbios_romfile_setup) takes either
 * entry point, requires the tables file to be exactly the length the entry
 * point gives, copies the tables into its own memory, writes their address
 * and recomputes the checksums, and copies the entry point to the F segment.
 * If the tables hold no type 0 it puts its own ("SeaBIOS", its version) in
 * front; it never replaces one it is given. The anchor built here carries
 * table address 0, for the firmware to fill in, and checksums valid as it is.
 *
 * Pure: the same config always gives the same bytes.
 */
#ifndef KVMM_ARCH_X86_SMBIOS_H
#define KVMM_ARCH_X86_SMBIOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMBIOS_FILE_TABLES "etc/smbios/smbios-tables"
#define SMBIOS_FILE_ANCHOR "etc/smbios/smbios-anchor"

#define SMBIOS_MAX_CPUS	    4096
#define SMBIOS_ANCHOR32_LEN 31
#define SMBIOS_ANCHOR64_LEN 24
#define SMBIOS_STRING_MAX   64 /* longest caller string accepted */

/* Memory device (type 17) size: RAM is described as DIMMs of at most this. */
#define SMBIOS_DIMM_MAX (16ULL << 30)
/* At most this many DIMMs: 64 TiB of RAM. */
#define SMBIOS_DIMMS_MAX 4096

enum smbios_entry_point {
	SMBIOS_ENTRY_AUTO = 0, /* 32-bit if the tables fit its 16-bit length, else 64-bit */
	SMBIOS_ENTRY_32,       /* "_SM_": tables up to 65535 bytes below 4 GiB */
	SMBIOS_ENTRY_64,       /* "_SM3_" */
};

struct smbios_config {
	int ncpus; /* 1..SMBIOS_MAX_CPUS */
	/*
	 * Processor packages, one type 4 each, ncpus / sockets cores of one
	 * thread; must divide ncpus. 0 = 1, the topology cpuid.h gives vCPUs.
	 */
	int sockets;
	uint64_t low_ram;    /* RAM bytes mapped from address 0 (below the MMIO hole), > 0 */
	uint64_t high_ram;   /* RAM bytes mapped from 4 GiB; 0 = none */
	const uint8_t *uuid; /* 16 bytes in RFC 4122 (big-endian) order, or NULL */
	const char *version; /* kvmm's version: type 0 BIOS version, type 1 version; or NULL */
	/* Type 0: false leaves it to the firmware (SeaBIOS adds its own). */
	bool bios_info;
	const char *bios_date;	  /* type 0 release date "mm/dd/yyyy", or NULL */
	uint32_t cpuid_signature; /* type 4 processor ID: CPUID.01H:EAX ... */
	uint32_t cpuid_features;  /* ... and CPUID.01H:EDX; 0 = unknown */
	enum smbios_entry_point entry;
};

/* What smbios_build makes. tables is a heap buffer; anchor is inline. */
struct smbios_blobs {
	uint8_t *tables; /* SMBIOS_FILE_TABLES */
	size_t tables_len;
	uint8_t anchor[SMBIOS_ANCHOR32_LEN]; /* SMBIOS_FILE_ANCHOR */
	size_t anchor_len;		     /* SMBIOS_ANCHOR32_LEN or SMBIOS_ANCHOR64_LEN */
};

/*
 * Builds the structure table and its entry point for cfg: types 0 (if
 * bios_info), 1, 3, one 4 per socket, 16, one 17 per DIMM of at most
 * SMBIOS_DIMM_MAX over low_ram + high_ram, 19 for each RAM range, 32, 127.
 * Handles are assigned in order from 0 (type 0; the first handle is 1 without
 * it, leaving 0 to the firmware's type 0). Returns 0, -EINVAL for a bad
 * config (ncpus out of range, sockets not dividing ncpus, no low RAM, low
 * RAM past 4 GiB, more than SMBIOS_DIMMS_MAX DIMMs, a string that is empty,
 * longer than SMBIOS_STRING_MAX or not printable ASCII, a date not in
 * mm/dd/yyyy form, an unknown entry point), -ENOSPC when SMBIOS_ENTRY_32 is
 * asked for and the tables do not fit it, or -ENOMEM. On error out is
 * zeroed.
 */
int smbios_build(const struct smbios_config *cfg, struct smbios_blobs *out);

/* Frees the tables and zeroes b; safe on a zeroed or already freed struct. */
void smbios_blobs_free(struct smbios_blobs *b);

#endif
