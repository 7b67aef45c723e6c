/* SPDX-License-Identifier: MIT */
/*
 * Static descriptor tables and page tables: the GDT, the IDT, one TSS per CPU
 * sharing one I/O permission bitmap, and an identity map of the first 4 GiB
 * with 2 MiB pages. Everything is computed by the assembler so that boot code
 * running in (interpreted, slow) ring 0 only has to load registers.
 * Intel SDM vol. 3A: 3.4.5 (segment descriptors), 6.14.1 (64-bit IDT gates),
 * 7.7 (64-bit TSS), 4.5 (4-level paging); vol. 1 19.5.2 (I/O permission bitmap).
 */
#include "layout.h"

/* Ports ring 3 may use (1 = allowed); kit_io_allow() can open more at run time. */
#define IO_ALLOWED(p) ( \
	(((p) >= 0x3f8) && ((p) <= 0x3ff)) || /* COM1 */ \
	((p) == 0xf4) ||                      /* debug exit */ \
	(((p) >= 0x510) && ((p) <= 0x51b)) || /* fw_cfg (selector, data, DMA) */ \
	(((p) >= 0x40) && ((p) <= 0x43)) ||   /* PIT */ \
	((p) == 0x61) ||                      /* PIT channel 2 gate / speaker */ \
	(((p) >= 0x20) && ((p) <= 0x21)) ||   /* PIC master */ \
	(((p) >= 0xa0) && ((p) <= 0xa1)) ||   /* PIC slave */ \
	(((p) >= 0x70) && ((p) <= 0x71)) ||   /* RTC/CMOS */ \
	(((p) >= 0x600) && ((p) <= 0x60b)) || /* ACPI PM block */ \
	((p) == 0x80) ||                      /* POST / delay port */ \
	(((p) >= 0xe0) && ((p) <= 0xef)))     /* test range */

	.section .data.kit_tables, "aw"

/* ---- GDT ---------------------------------------------------------------- */
	.balign 16
	.globl kit_gdt
kit_gdt:
	.quad 0                     /* null */
	.quad 0x00af9a000000ffff    /* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff    /* 0x10 kernel data */
	.quad 0x00cf9a000000ffff    /* 0x18 kernel code, 32-bit (boot, AP trampoline) */
	.quad 0x00cffa000000ffff    /* 0x20 user code, 32-bit (unused; sysret order) */
	.quad 0x00cff2000000ffff    /* 0x28 user data */
	.quad 0x00affa000000ffff    /* 0x30 user code, 64-bit */
	.set i, 0
	.rept KIT_MAX_CPUS          /* 0x38 + 16 * i: TSS of cpu i (available, 64-bit) */
	.set base, KIT_TSS_BASE + i * KIT_TSS_STRIDE
	.set limit, KIT_IOBM_BASE + KIT_IOBM_SIZE - base
	.word limit & 0xffff
	.word base & 0xffff
	.byte (base >> 16) & 0xff
	.byte 0x89
	.byte (limit >> 16) & 0x0f
	.byte (base >> 24) & 0xff
	.long 0
	.long 0
	.set i, i + 1
	.endr
kit_gdt_end:

	/* lgdt operand: the 32-bit entry reads limit + low 32 bits of the base. */
	.balign 16
	.word 0, 0, 0
	.globl kit_gdt_ptr
kit_gdt_ptr:
	.word kit_gdt_end - kit_gdt - 1
	.quad kit_gdt

/* ---- IDT ---------------------------------------------------------------- */
	.balign 16
	.globl kit_idt
kit_idt:
	.set v, 0
	.rept 256
	.set h, KIT_ISR_BASE + v * KIT_ISR_STRIDE
	.word h & 0xffff
	.word SEL_KCODE64
	.byte ((v == 8) || (v == 18))  /* IST1 (shared fault stack) for #DF, #MC */
	.byte 0x8e                  /* interrupt gate, DPL0 */
	.word (h >> 16) & 0xffff
	.long 0
	.long 0
	.set v, v + 1
	.endr
kit_idt_end:

	.balign 16
	.word 0, 0, 0
	.globl kit_idt_ptr
kit_idt_ptr:
	.word kit_idt_end - kit_idt - 1
	.quad kit_idt

/* ---- Page tables: identity map of [0, 4 GiB) with 2 MiB user pages -------- */
/* P | RW | US on every level; PS on the PDEs; PCD | PWT on the two pages holding
 * the IOAPIC (0xfec00000) and the LAPIC (0xfee00000). */
	.balign 4096
	.globl kit_pml4, kit_pdpt
kit_pml4:
	.quad kit_pdpt + 0x7
	.fill 511, 8, 0
kit_pdpt:
	.quad kit_pd4g + 0x0000 + 0x7
	.quad kit_pd4g + 0x1000 + 0x7
	.quad kit_pd4g + 0x2000 + 0x7
	.quad kit_pd4g + 0x3000 + 0x7
	.fill 508, 8, 0
kit_pd4g:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x87 | (((i == (0xfec00000 >> 21)) || (i == (0xfee00000 >> 21))) * 0x18)
	.set i, i + 1
	.endr

/* ---- TSSes and the I/O permission bitmap, at KIT_TSS_BASE ------------------ */
/* Every TSS points its I/O map base at the one shared bitmap after the array,
 * so a port opened with kit_io_allow() is open on every CPU at once. */
	.section .kit_tss, "aw"
	.globl kit_tss
kit_tss:
	.set i, 0
	.rept KIT_MAX_CPUS
	.long 0                                            /* reserved */
	.quad kit_kstacks + (i + 1) * KIT_KSTACK_SIZE      /* RSP0 */
	.quad 0, 0, 0                                      /* RSP1, RSP2, reserved */
	.quad kit_fault_stack + KIT_FAULT_STACK            /* IST1 */
	.fill 6, 8, 0                                      /* IST2-7 */
	.quad 0
	.word 0
	.word KIT_IOBM_BASE - (KIT_TSS_BASE + i * KIT_TSS_STRIDE) /* I/O map base */
	.fill KIT_TSS_STRIDE - 104, 1, 0
	.set i, i + 1
	.endr
	.globl kit_io_bitmap
kit_io_bitmap:
	.set b, 0
	.rept KIT_IOBM_SIZE
	.set val, 0
	.set bit, 0
	.rept 8
	.set val, val | (IO_ALLOWED(b * 8 + bit) << bit)
	.set bit, bit + 1
	.endr
	.byte 0xff & ~val
	.set b, b + 1
	.endr
	.byte 0xff                  /* the CPU reads two bytes; this ends the map */

	.section .note.GNU-stack, "", @progbits
