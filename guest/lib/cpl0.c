/* SPDX-License-Identifier: MIT */
/*
 * The only C code that runs in ring 0: mapping RAM above 4 GiB at boot and the
 * fatal-exception reporter. Built with -mgeneral-regs-only (see Makefile)
 * because ring 0 is interpreted on PVM and has no x87/SSE; keep it small.
 */
#include <stdint.h>

#include "internal.h"
#include "layout.h"

#define MB_BOOTLOADER_MAGIC 0x2badb002
#define MB_INFO_MMAP        (1u << 6)
#define GIB                 (1ull << 30)

/* Page directories for RAM above 4 GiB (one per GiB; zeroed by the loader). */
static uint64_t kit_pd_pool[KIT_MAX_RAM_GIB - 4][512] __attribute__((aligned(4096), section(".bss.kit_pgpool")));

/* Identity map covers [0, kit_mapped_end); read by start.c. */
uint64_t kit_mapped_end = 4 * GIB;

/*
 * Maps [4 GiB, end of the highest RAM range) with 2 MiB user pages. Entries
 * go from not-present to present, so no TLB flush is needed.
 */
void kit_map_high(void)
{
	const volatile uint32_t *mbi = (const volatile uint32_t *)(uintptr_t)kit_mb_info;
	uint64_t p, end, top = 0;

	if (kit_mb_magic != MB_BOOTLOADER_MAGIC || !(mbi[0] & MB_INFO_MMAP))
		return;
	p = mbi[12];
	end = p + mbi[11];
	while (p + 24 <= end) {
		const volatile uint32_t *e = (const volatile uint32_t *)(uintptr_t)p;
		uint64_t addr = e[1] | (uint64_t)e[2] << 32;
		uint64_t len = e[3] | (uint64_t)e[4] << 32;

		if (e[5] == 1 && addr + len > top)
			top = addr + len;
		p += e[0] + 4;
	}
	if (top > (uint64_t)KIT_MAX_RAM_GIB * GIB)
		top = (uint64_t)KIT_MAX_RAM_GIB * GIB;
	top = (top + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
	for (uint64_t g = 4; g * GIB < top; g++) {
		uint64_t *pd = kit_pd_pool[g - 4];
		uint64_t a = g * GIB;

		for (int i = 0; i < 512; i++, a += 2u << 20)
			pd[i] = a < top ? a | 0x87 : 0;
		kit_pdpt[g] = (uint64_t)(uintptr_t)pd | 0x7;
	}
	if (top > kit_mapped_end)
		kit_mapped_end = top;
}

/* ---- Fatal exception report (serial, polled, then debug exit) ------------- */

static inline void out8(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t in8(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc0(char c)
{
	for (int i = 0; i < 100000 && !(in8(0x3fd) & 0x20); i++)
		;
	out8(0x3f8, (uint8_t)c);
}

static void puts0(const char *s)
{
	while (*s)
		putc0(*s++);
}

static void hex0(const char *name, uint64_t v)
{
	puts0(name);
	puts0("=0x");
	for (int sh = 60; sh >= 0; sh -= 4)
		putc0("0123456789abcdef"[(v >> sh) & 0xf]);
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
	"#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "?22", "?23",
	"?24", "?25", "?26", "?27", "#HV", "#VC", "#SX", "?31",
};

/* frame: r15 ... rax (15 GPRs), vector, error code, rip, cs, rflags, rsp, ss. */
void kit_exception(const uint64_t *frame)
{
	static const char *const gpr[15] = {
		"r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8",
		"rbp", "rdi", "rsi", "rdx", "rcx", "rbx", "rax",
	};
	uint64_t vec = frame[15], cr2;
	volatile uint32_t *lapic_id = (volatile uint32_t *)0xfee00020;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	puts0("\nkit: FATAL exception ");
	putc0((char)('0' + vec / 10));
	putc0((char)('0' + vec % 10));
	putc0(' ');
	puts0(exc_names[vec & 31]);
	hex0(" err", frame[16]);
	hex0(" rip", frame[17]);
	hex0(" cr2", cr2);
	hex0(" apic_id", *lapic_id >> 24);
	puts0("\nkit: ");
	hex0("cs", frame[18]);
	hex0(" rflags", frame[19]);
	hex0(" rsp", frame[20]);
	hex0(" ss", frame[21]);
	for (int i = 14; i >= 0; i--) {
		puts0((14 - i) % 4 == 0 ? "\nkit: " : " ");
		hex0(gpr[i], frame[i]);
	}
	putc0('\n');
	out8(KIT_PORT_DEBUG_EXIT, KIT_EXIT_EXCEPTION);
}
