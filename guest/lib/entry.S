/* SPDX-License-Identifier: MIT */
/*
 * Boot path of every kit guest: the Multiboot v1 header, the 32-bit entry, the
 * switch to long mode, the drop to ring 3, the AP trampoline and the interrupt
 * stubs. Multiboot Specification 0.6.96, 3.1 (header) and 3.2 (machine state);
 * Intel SDM vol. 3A 10.8.5 (long mode), 8.4.4 (INIT-SIPI-SIPI startup).
 *
 * All of this runs in ring 0, which PVM interprets at about 0.7 us per
 * instruction and where x87/SSE/int3/popcnt... do not exist: keep it short and
 * general-register-only. The tables it loads are static (tables.S).
 */
#include "layout.h"

/* ap_long scales by shifts. */
#if KIT_KSTACK_SIZE != (1 << 12) || KIT_USTACK_AP != (1 << 14)
#error "update the shifts in ap_long"
#endif
/* The I/O map base field of a TSS is 16 bits. */
#if KIT_MAX_CPUS * KIT_TSS_STRIDE > 0xffff
#error "too many TSSes in front of the I/O bitmap"
#endif

#define MB_MAGIC   0x1badb002
#define MB_FLAGS   0x00000003 /* bit 0: page-aligned modules, bit 1: memory info */

#define CR0_LM     0x80010023 /* PG | WP | NE | MP | PE */
#define CR4_LM     0x00000620 /* OSXMMEXCPT | OSFXSR | PAE */
#define MSR_EFER   0xc0000080
#define EFER_LME   0x00000100

/* ---- Multiboot header: first thing in the image (linker script) -------------- */
	.section .kit_multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

/* EAX/EBX from the loader: read by boot code (ring 0) and start.c (ring 3). */
	.section .data
	.balign 8
	.globl kit_mb_magic, kit_mb_info, kit_ap_next
kit_mb_magic:  .long 0
kit_mb_info:   .long 0
kit_ap_next:   .long 1 /* next AP index; the BSP is cpu 0 */

/* Shared by the BSP and the APs: protected mode (paging off) -> long mode. */
.macro ENTER_LONG_MODE target
	movl $CR4_LM, %eax
	movl %eax, %cr4
	movl $kit_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl $CR0_LM, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $\target
.endm

	.section .kit_boot, "ax"
	.code32
	.globl _start
_start:
	/* Multiboot state: flat 32-bit protected mode, paging and interrupts off. */
	movl %eax, kit_mb_magic
	movl %ebx, kit_mb_info
	lgdt kit_gdt_ptr
	ENTER_LONG_MODE bsp_long

	/* AP, from the trampoline: protected mode with our GDT, CS = SEL_KCODE32. */
	.globl kit_ap_entry32
kit_ap_entry32:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	ENTER_LONG_MODE ap_long

	.code64
bsp_long:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	lidt kit_idt_ptr
	movl $SEL_TSS0, %eax
	ltr %ax
	movq $kit_kstacks + KIT_KSTACK_SIZE, %rsp
	call kit_map_high           /* cpl0.c: map RAM above 4 GiB */
	/* Firmware may leave the 8259s at vector 0x08 with IRQs live (SeaBIOS runs
	 * the PIT at 18.2 Hz): move them to VEC_PIC_MASTER/SLAVE, all masked, before
	 * ring 3 runs with IF=1. PIO costs less from ring 0 here than from ring 3. */
	movb $0x11, %al             /* ICW1: edge, cascade, ICW4 */
	outb %al, $0x20
	outb %al, $0xa0
	movb $VEC_PIC_MASTER, %al   /* ICW2 */
	outb %al, $0x21
	movb $VEC_PIC_SLAVE, %al
	outb %al, $0xa1
	movb $0x04, %al             /* ICW3 */
	outb %al, $0x21
	movb $0x02, %al
	outb %al, $0xa1
	movb $0x01, %al             /* ICW4: 8086 mode */
	outb %al, $0x21
	outb %al, $0xa1
	movb $0xff, %al             /* OCW1: mask everything */
	outb %al, $0x21
	outb %al, $0xa1
	pushq $SEL_UDATA            /* iretq frame: SS, RSP, RFLAGS (IF), CS, RIP */
	pushq $kit_ustack_bsp + KIT_USTACK_BSP
	pushq $0x202
	pushq $SEL_UCODE64
	pushq $bsp_user
	iretq

ap_long:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	lidt kit_idt_ptr
	movl $1, %edi
	lock xaddl %edi, kit_ap_next /* edi = this AP's cpu index */
	cmpl $KIT_MAX_CPUS, %edi
	jae 2f
	movl %edi, %eax
	shll $4, %eax
	addl $SEL_TSS0, %eax
	ltr %ax
	movl %edi, %eax
	incl %eax
	shll $12, %eax              /* KIT_KSTACK_SIZE */
	leaq kit_kstacks(%rax), %rsp
	movl %edi, %eax
	shll $14, %eax              /* KIT_USTACK_AP; AP i (i >= 1) uses slot i - 1 */
	leaq kit_ustack_ap(%rax), %rax
	pushq $SEL_UDATA
	pushq %rax
	pushq $0x202
	pushq $SEL_UCODE64
	pushq $ap_user
	iretq
2:	cli                         /* more CPUs than the kit supports: park */
	hlt
	jmp 2b

/* ---- Ring 3 entry: stacks are 16-byte aligned, so `call` gives the ABI's alignment */
	.text
bsp_user:
	call kit_start_bsp          /* start.c; does not return */
ap_user:
	call kit_start_ap           /* edi = cpu index; parks when done */

/* ---- Interrupt stubs: vector v at KIT_ISR_BASE + 16 * v (the IDT is static) ---- */
	.section .kit_isr, "ax"
	.globl kit_isr_table
kit_isr_table:
	.set v, 0
	.rept 256
	.org v * KIT_ISR_STRIDE
	.if v == 13
	jmp gp_entry                /* #GP: maybe a ring-3 hlt, see gp_entry */
	.elseif v == 2
	pushq %rax                  /* NMI: counted (tests may inject them), no EOI */
	movl $v, %eax
	jmp irq_no_eoi
	.elseif v < 32
	.if !((v == 8) || ((v >= 10) && (v <= 14)) || (v == 17) || (v == 21) || (v == 29) || (v == 30))
	pushq $0                    /* no CPU error code: push a dummy */
	.endif
	pushq $v
	jmp exc_common
	.else
	pushq %rax
	movl $v, %eax
	.if v < VEC_PIC_SLAVE
	jmp irq_pic_master
	.elseif v < VEC_APIC_BASE
	jmp irq_pic_slave
	.elseif v == VEC_SPURIOUS
	jmp irq_no_eoi
	.else
	jmp irq_lapic
	.endif
	.endif
	.set v, v + 1
	.endr
	.org 256 * KIT_ISR_STRIDE

	.text
irq_lapic:
	pushq %rcx                  /* the TSC at entry, for latency measurements */
	pushq %rdx
	movl %eax, %ecx
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, kit_irq_tsc(, %rcx, 8)
	movl %ecx, %eax
	popq %rdx
	popq %rcx
	lock incq kit_irq_count(, %rax, 8)
	xorl %eax, %eax
	movabs %eax, 0xfee000b0    /* LAPIC EOI */
	popq %rax
	iretq
irq_pic_slave:
	lock incq kit_irq_count(, %rax, 8)
	movb $0x20, %al
	outb %al, $0xa0             /* non-specific EOI, slave then master */
	outb %al, $0x20
	popq %rax
	iretq
irq_pic_master:
	lock incq kit_irq_count(, %rax, 8)
	movb $0x20, %al
	outb %al, $0x20
	popq %rax
	iretq
irq_no_eoi:
	lock incq kit_irq_count(, %rax, 8)
	popq %rax
	iretq

	/*
	 * #GP. A hlt in ring 3 faults with error code 0; it is how ring 3 waits for
	 * an interrupt (kit_wait_irq, kit_park), since `int n` from ring 3 raises
	 * #UD on PVM. Do the hlt here, with interrupts on, and resume after it.
	 */
gp_entry:
	cmpq $0, (%rsp)             /* error code */
	jne 1f
	testb $3, 16(%rsp)          /* CS of the faulting code: ring 3? */
	jz 1f
	pushq %rax
	movq 16(%rsp), %rax         /* RIP */
	cmpb $0xf4, (%rax)          /* hlt opcode */
	popq %rax
	jne 1f
	incq 8(%rsp)                /* resume after the hlt */
	addq $8, %rsp               /* drop the error code */
	sti                         /* the sti shadow covers hlt: no lost wakeup */
	hlt
	iretq                       /* after the interrupt's handler ran */
1:	pushq $13
	jmp exc_common

	/* Stack: vector, error code, then the CPU's frame. Fatal: never returns. */
exc_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	andq $-16, %rsp
	call kit_exception          /* cpl0.c */
1:	cli
	hlt
	jmp 1b

/* ---- AP trampoline: copied to KIT_TRAMP_BASE by kit_smp_start() (ring 3) ---- */
/* Real mode, CS = KIT_TRAMP_BASE >> 4, IP = 0: load the kit's GDT, enter
 * protected mode and jump to kit_ap_entry32 in the image. */
	.section .rodata
	.code16
	.globl kit_tramp_start, kit_tramp_end
kit_tramp_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_ptr - kit_tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $kit_ap_entry32
	.balign 4
	.word 0
tramp_gdt_ptr:
	.word SEL_TSS0 + 16 * KIT_MAX_CPUS - 1 /* = kit_gdt_ptr's limit */
	.long kit_gdt
kit_tramp_end:
	.code64

	.section .note.GNU-stack, "", @progbits
