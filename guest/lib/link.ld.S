/* SPDX-License-Identifier: MIT */
/*
 * Link map of a kit guest (preprocessed with layout.h). Linked as ELF64 at
 * 1 MiB, then converted to ELF32 for Multiboot loaders; one RWX segment, as
 * everything is identity mapped and user-writable anyway.
 */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)

PHDRS
{
	image PT_LOAD FLAGS(7);
}

SECTIONS
{
	. = KIT_LOAD_ADDR;
	__kit_image_start = .;
	.kit_boot : {
		KEEP(*(.kit_multiboot))   /* must be within the first 8 KiB of the file */
		*(.kit_boot)
	} :image
	ASSERT(. <= KIT_ISR_BASE, "boot code overlaps the ISR stubs")
	. = KIT_ISR_BASE;
	.kit_isr : { KEEP(*(.kit_isr)) }
	ASSERT(ADDR(.kit_isr) == KIT_ISR_BASE, "ISR stubs misplaced")
	ASSERT(SIZEOF(.kit_isr) == 256 * KIT_ISR_STRIDE, "ISR stubs size")
	. = KIT_TSS_BASE;
	.kit_tss : { KEEP(*(.kit_tss)) }
	ASSERT(ADDR(.kit_tss) == KIT_TSS_BASE, "TSS block misplaced")
	ASSERT(kit_io_bitmap == KIT_IOBM_BASE, "I/O bitmap misplaced")
	.text : { *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	.data : { *(.data .data.*) }
	.bss : {
		*(.bss .bss.* COMMON)
		. = ALIGN(4096);
		kit_kstacks = .;
		. += KIT_MAX_CPUS * KIT_KSTACK_SIZE;
		kit_fault_stack = .;
		. += KIT_FAULT_STACK;
		kit_ustack_bsp = .;
		. += KIT_USTACK_BSP;
		kit_ustack_ap = .;
		. += (KIT_MAX_CPUS - 1) * KIT_USTACK_AP;
	}
	. = ALIGN(4096);
	__kit_image_end = .;

	/DISCARD/ : { *(.note*) *(.comment) *(.eh_frame*) }
}
