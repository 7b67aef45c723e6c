/* SPDX-License-Identifier: MIT */
/*
 * A master boot record for the firmware-boot tests: what a PC BIOS loads from
 * the first sector of a disk to 0000:7c00 and jumps to, in real mode, with the
 * boot drive in DL (BIOS Boot Specification 1.01, 6.5.1). It proves the BIOS
 * path end to end through the firmware's own services:
 *   - int 10h AH=0Eh teletype output (SeaBIOS mirrors it to COM1: sercon),
 *   - int 13h AH=41h extensions check and AH=42h extended read of LBA 1
 *     (Phoenix EDD 3.0): the BIOS's virtio-blk driver reads our disk,
 *   - int 12h, the conventional memory size,
 *   - the ACPI RSDP the firmware installed from kvmm's table loader,
 * prints the disk's text on COM1 directly as well, and exits through the debug
 * exit port with 0x10 (kvmm exits with status 33) when all went well, 0x11
 * (35) when a disk read failed. LBA 1 holds a line of text that the test
 * wrote: the boot sector prints it.
 */
	.code16
	.section .text
	.globl _start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	sti
	movb	%dl, drive

	movw	$msg_hello, %si
	call	line_puts
	movw	$msg_serial, %si
	call	com1_line

	/* Boot drive. */
	movw	$msg_drive, %si
	call	line_puts
	movb	drive, %al
	call	both_hex8
	call	both_nl

	/* Conventional memory, KiB. */
	int	$0x12
	pushw	%ax
	movw	$msg_mem, %si
	call	line_puts
	popw	%ax
	movb	%ah, %al
	call	both_hex8
	int	$0x12
	call	both_hex8
	call	both_nl

	/* The ACPI RSDP: 16-byte aligned in the BIOS area 0xe0000-0xfffff
	 * (ACPI 6.5, 5.2.5.1); print its OEM ID (bytes 9-14). */
	movw	$msg_rsdp, %si
	call	line_puts
	movw	$0xe000, %ax
8:	movw	%ax, %es
	xorw	%di, %di
	movw	$sig_rsdp, %si
	movw	$8, %cx
	repe cmpsb
	je	9f
	movw	%es, %ax
	incw	%ax
	cmpw	$0x0000, %ax		/* wrapped past 0xffff: not found */
	jne	8b
	movw	$msg_none, %si
	call	both_puts
	jmp	10f
9:	movw	$6, %cx
	movw	$9, %di
11:	movb	%es:(%di), %al
	movb	$0x0e, %ah
	movw	$0x0007, %bx
	pushw	%cx
	pushw	%di
	int	$0x10
	popw	%di
	popw	%cx
	incw	%di
	loop	11b
10:	xorw	%ax, %ax
	movw	%ax, %es
	call	both_nl

	/* EDD present? */
	movb	$0x41, %ah
	movw	$0x55aa, %bx
	movb	drive, %dl
	int	$0x13
	jc	fail
	cmpw	$0xaa55, %bx
	jne	fail

	/* Read LBA 1 to 0x8000. */
	movw	$dap, %si
	movb	$0x42, %ah
	movb	drive, %dl
	int	$0x13
	jc	fail
	movw	$msg_read, %si
	call	line_puts
	movw	$0x8000, %si
	call	both_puts
	/* The same on COM1 directly. SeaBIOS's serial console sends what it
	 * holds from its timer interrupt: let it, then keep it quiet meanwhile. */
	call	flush
	cli
	movw	$msg_com1_read, %si
	call	com1_line
	movw	$0x8000, %si
	call	com1_puts
	movb	$0x10, %al
	outb	%al, $0xf4
1:	hlt
	jmp	1b

fail:
	movw	$msg_fail, %si
	call	line_puts
	call	flush
	cli
	movw	$msg_fail, %si
	call	com1_line
	movb	$0x11, %al
	outb	%al, $0xf4
2:	hlt
	jmp	2b

/* Keyboard polls (int 16h AH=01h) and timer ticks (18.2 Hz): SeaBIOS's serial console sends its output then. */
flush:
	movw	$3, %cx
7:	movb	$0x01, %ah
	pushw	%cx
	int	$0x16
	popw	%cx
	sti
	hlt
	loop	7b
	ret

/* The NUL-terminated string at SI through the BIOS (int 10h teletype). */
bios_puts:
	lodsb
	testb	%al, %al
	jz	3f
	movb	$0x0e, %ah
	movw	$0x0007, %bx
	int	$0x10
	jmp	bios_puts
3:	ret

/* The NUL-terminated string at SI on COM1, polled (16550: LSR bit 5 = THR empty). */
com1_puts:
	lodsb
	testb	%al, %al
	jz	5f
	call	com1_putc
	jmp	com1_puts
5:	ret

com1_putc:
	pushw	%ax
	movw	$0x3fd, %dx
4:	inb	%dx, %al
	testb	$0x20, %al
	jz	4b
	popw	%ax
	movw	$0x3f8, %dx
	outb	%al, %dx
	ret

/* Through the BIOS only: sercon already copies it to COM1. */
both_puts:
	jmp	bios_puts

/* "bootsector: " then the string at SI, through the BIOS / on COM1. */
line_puts:
	pushw	%si
	movw	$msg_prefix, %si
	call	bios_puts
	popw	%si
	jmp	bios_puts

com1_line:
	pushw	%si
	movw	$msg_prefix, %si
	call	com1_puts
	popw	%si
	jmp	com1_puts

both_nl:
	movw	$msg_nl, %si
	jmp	bios_puts

/* AL as two hex digits through the BIOS. */
both_hex8:
	pushw	%ax
	shrb	$4, %al
	call	hex_digit
	popw	%ax
	andb	$0x0f, %al
hex_digit:
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	6f
	addb	$('a' - '9' - 1), %al
6:	movb	$0x0e, %ah
	movw	$0x0007, %bx
	int	$0x10
	ret

	.section .data
drive:	.byte	0
	.balign	4
dap:	.byte	0x10, 0		/* size, reserved */
	.word	1		/* sectors */
	.word	0x8000, 0	/* buffer offset, segment */
	.quad	1		/* LBA */
msg_prefix:	.asciz "bootsector: "
msg_hello:	.asciz "hello through int 10h\r\n"
msg_serial:	.asciz "hello on COM1\r\n"
msg_drive:	.asciz "drive "
msg_mem:	.asciz "base memory KiB 0x"
msg_read:	.asciz "LBA 1: "
msg_com1_read:	.asciz "com1: LBA 1: "
msg_fail:	.asciz "disk read FAILED\r\n"
msg_nl:		.asciz "\r\n"
msg_rsdp:	.asciz "ACPI RSDP OEM "
msg_none:	.asciz "none"
sig_rsdp:	.ascii "RSD PTR "
