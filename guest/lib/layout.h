/* SPDX-License-Identifier: MIT */
/*
 * Fixed layout of the guest kit, shared by the assembler files, the C files and
 * the linker script (link.ld.S is run through cpp with this header).
 *
 * The IDT, GDT and TSSes are static data in the image (tables.S), built by the
 * assembler, so booting runs only a few dozen ring-0 instructions. Splitting a
 * handler address into IDT gate fields or a TSS address into a descriptor
 * needs assemble-time constants, hence the ISR stubs and the TSS block sit at
 * the fixed addresses below (the linker script asserts them).
 */
#ifndef KIT_LAYOUT_H
#define KIT_LAYOUT_H

#define KIT_LOAD_ADDR   0x100000 /* the image is linked and loaded at 1 MiB */
#define KIT_ISR_BASE    0x101000 /* 256 interrupt stubs, one per vector */
#define KIT_ISR_STRIDE  16
#define KIT_TSS_BASE    0x102000 /* KIT_MAX_CPUS TSSes, then the shared I/O bitmap */
#define KIT_TSS_STRIDE  128
#define KIT_MAX_CPUS    64
#define KIT_IOBM_BASE   (KIT_TSS_BASE + KIT_MAX_CPUS * KIT_TSS_STRIDE)
#define KIT_IOBM_SIZE   8192     /* one bit per port 0..0xffff, then one 0xff byte */

#define KIT_TRAMP_BASE  0x8000   /* AP trampoline (SIPI vector 0x08) */

/* Stacks (in the image's .bss). */
#define KIT_KSTACK_SIZE    4096  /* per CPU, ring 0: interrupts and exceptions */
#define KIT_USTACK_BSP     65536 /* ring 3, boot CPU */
#define KIT_USTACK_AP      16384 /* ring 3, each AP */
#define KIT_FAULT_STACK    4096  /* IST1: #DF, #MC (shared, both fatal) */

/* RAM above 4 GiB is mapped at boot up to this address (page-directory pool). */
#define KIT_MAX_RAM_GIB    64

/* GDT selectors. */
#define SEL_KCODE64 0x08
#define SEL_KDATA   0x10
#define SEL_KCODE32 0x18
#define SEL_UCODE32 0x23
#define SEL_UDATA   0x2b
#define SEL_UCODE64 0x33
#define SEL_TSS0    0x38 /* cpu i uses SEL_TSS0 + 16 * i */

/* Interrupt vectors. */
#define VEC_PIC_MASTER  0x20 /* 0x20-0x27: legacy PIC IRQ 0-7 (handler EOIs the PIC) */
#define VEC_PIC_SLAVE   0x28 /* 0x28-0x2f: legacy PIC IRQ 8-15 */
#define VEC_APIC_BASE   0x30 /* 0x30-0xfe: LAPIC/IOAPIC/MSI vectors (handler EOIs the LAPIC) */
#define VEC_LAPIC_TIMER 0x40
#define VEC_SPURIOUS    0xff /* LAPIC spurious vector: counted, no EOI */

/* Debug-exit codes used by the kit itself (the VMM exits with (code << 1) | 1). */
#define KIT_EXIT_FAIL      1 /* generic failure */
#define KIT_EXIT_EXCEPTION 2 /* unexpected CPU exception, reported on serial */

#define KIT_PORT_DEBUG_EXIT 0xf4

#endif
