/* SPDX-License-Identifier: MIT */
/*
 * The guest's physical memory map, in BIOS e820 form (ACPI 6.5 section 15,
 * "System Address Map Interfaces"). Every boot protocol and fw_cfg report this
 * same map, built from the RAM size and layout.h.
 */
#ifndef KVMM_ARCH_X86_E820_H
#define KVMM_ARCH_X86_E820_H

#include <stdint.h>

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_NVS      4

#define E820_MAX 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* Bytes of RAM below the MMIO hole and above 4 GiB for a guest of ram_size bytes. */
uint64_t e820_lowmem(uint64_t ram_size);
uint64_t e820_highmem(uint64_t ram_size);

/*
 * Fills map (room for E820_MAX) for a guest of ram_size bytes
 * (>= LAYOUT_MIN_RAM) and returns the number of entries.
 */
int e820_build(uint64_t ram_size, struct e820_entry *map);

#endif
