/* SPDX-License-Identifier: MIT */
/* Guest e820 map from the RAM size and layout.h; see e820.h. */
#include "arch/x86/e820.h"

#include "arch/x86/layout.h"

uint64_t e820_lowmem(uint64_t ram_size)
{
	return ram_size < LAYOUT_MMIO_HOLE ? ram_size : LAYOUT_MMIO_HOLE;
}

uint64_t e820_highmem(uint64_t ram_size)
{
	return ram_size > LAYOUT_MMIO_HOLE ? ram_size - LAYOUT_MMIO_HOLE : 0;
}

int e820_build(uint64_t ram_size, struct e820_entry *map)
{
	uint64_t low = e820_lowmem(ram_size), high = e820_highmem(ram_size);
	int n = 0;

	map[n++] = (struct e820_entry){0, LAYOUT_EBDA, E820_RAM};
	map[n++] = (struct e820_entry){LAYOUT_EBDA, LAYOUT_VGA_HOLE - LAYOUT_EBDA, E820_RESERVED};
	/* ACPI tables and the MP table live in the BIOS area; keep it reserved. */
	map[n++] = (struct e820_entry){LAYOUT_ACPI, LAYOUT_HIMEM - LAYOUT_ACPI, E820_RESERVED};
	if (low > LAYOUT_HIMEM)
		map[n++] = (struct e820_entry){LAYOUT_HIMEM, low - LAYOUT_HIMEM, E820_RAM};
	if (high)
		map[n++] = (struct e820_entry){LAYOUT_4G, high, E820_RAM};
	return n;
}
