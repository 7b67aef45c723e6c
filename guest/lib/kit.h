/* SPDX-License-Identifier: MIT */
/*
 * The guest kit's API for test guests. A guest defines test_main() (and, if it
 * starts APs, ap_main()); both run in ring 3 with interrupts enabled, where
 * PVM runs code natively. See guest/README.md.
 */
#ifndef KIT_H
#define KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

#define KIT_MAX_RANGES   64
#define KIT_MAX_MODULES  8
#define KIT_CMDLINE_MAX  1024

struct kit_mem_range {
	uint64_t addr;
	uint64_t len;
	uint32_t type; /* multiboot/e820: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 bad */
};

struct kit_module {
	uint64_t start, end; /* [start, end) */
	char string[64];
};

/* Everything the kit learnt at boot; the multiboot info is not used after this. */
struct boot_info {
	uint32_t mb_magic;      /* EAX at entry: 0x2badb002 */
	uint32_t mb_flags;      /* multiboot info flags (0 without a valid info) */
	uint32_t mem_lower_kib; /* flag bit 0 */
	uint32_t mem_upper_kib;
	char cmdline[KIT_CMDLINE_MAX]; /* flag bit 2: "<kernel path> <args>", else "" */
	const char *args;       /* cmdline after the first word */
	uint32_t nr_ranges;     /* flag bit 6: the memory map */
	struct kit_mem_range ranges[KIT_MAX_RANGES];
	uint32_t nr_modules;    /* flag bit 3 */
	struct kit_module modules[KIT_MAX_MODULES];
	uint32_t nr_cpus;       /* fw_cfg key 0x05, 1 without fw_cfg */
	bool has_fw_cfg;
	uint64_t image_start;   /* [image_start, image_end): the kit's image, stacks, */
	uint64_t image_end;     /* page tables: never overwrite */
	uint64_t mapped_end;    /* RAM is identity mapped (user, RW) below this */
};

/* Provided by the guest. Returning from test_main exits with code 0. */
void test_main(const struct boot_info *bi);
/* Run by each AP (cpu 1..n-1) started with kit_smp_start(); weak, default empty.
 * Returning parks the CPU (halted, in ring 0). */
void ap_main(unsigned int cpu);

/* ---- port I/O (ring 3: only ports open in the TSS I/O bitmap) ------------- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
/* Opens/closes ports [port, port + n) for ring 3 on every CPU (shared bitmap). */
void kit_io_allow(uint16_t port, unsigned int n);
void kit_io_deny(uint16_t port, unsigned int n);

/* ---- MMIO ----------------------------------------------------------------- */
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)(uintptr_t)addr = v; }

/* ---- CPU ------------------------------------------------------------------ */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | (uint64_t)hi << 32;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
/* Ring 3 CPUID returns the host's raw CPUID on PVM (docs: PLATFORM.md). */
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
/* Halts until the next interrupt: a ring-3 hlt, which #GPs into a ring-0
 * handler that does the hlt (entry.S: gp_entry). Use it only when an
 * interrupt is sure to come. */
static inline void kit_wait_irq(void) { __asm__ volatile("hlt" ::: "memory"); }
/* Halts this CPU for good (woken by an interrupt, it halts again). */
__attribute__((noreturn)) static inline void kit_park(void)
{
	for (;;)
		kit_wait_irq();
}

/* Interrupts taken per vector, all CPUs (incremented by the ring-0 stubs). */
extern volatile uint64_t kit_irq_count[256];

/* ---- serial console (COM1, polled) and formatting --------------------------- */
void kit_putc(char c);
void kit_write(const char *s, size_t n);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Writes code to the debug-exit port (the VMM exits with (code << 1) | 1). */
__attribute__((noreturn)) void exit(int code);

/* ---- strings, command line --------------------------------------------------- */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Value of the word "key=value" on the command line (length in *len), or NULL. */
const char *kit_arg(const struct boot_info *bi, const char *key, size_t *len);
/* Decimal (or 0x hex) value of key=N; false when absent or malformed. */
bool kit_arg_u64(const struct boot_info *bi, const char *key, uint64_t *val);

/* ---- time ---------------------------------------------------------------------- */
/* TSC frequency, measured once against PIT channel 2 (about 10 ms). */
uint64_t kit_tsc_khz(void);
void kit_udelay(uint64_t us);
static inline uint64_t kit_deadline_us(uint64_t us) { return rdtsc() + us * kit_tsc_khz() / 1000; }
static inline bool kit_expired(uint64_t deadline) { return (int64_t)(rdtsc() - deadline) >= 0; }

/* ---- fw_cfg (port 0x510 selector, 0x511 data) ----------------------------------- */
bool fw_cfg_present(void); /* signature "QEMU" at key 0x0000 */
void fw_cfg_read(uint16_t key, void *buf, size_t len);

/* ---- interrupt controllers (ring 3 through the user-mapped pages) -------------- */
#define LAPIC_BASE       0xfee00000ull
#define LAPIC_ID         0x020
#define LAPIC_EOI        0x0b0
#define LAPIC_SVR        0x0f0
#define LAPIC_ICR_LO     0x300
#define LAPIC_ICR_HI     0x310
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_LVT_LINT0  0x350
#define LAPIC_LVT_LINT1  0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define IOAPIC_BASE      0xfec00000ull

static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
static inline uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
/* Software-enables this CPU's LAPIC (spurious vector VEC_SPURIOUS). */
void lapic_enable(void);
/* Sends an IPI (ICR low word) to the xAPIC destination dest; false on a stuck ICR. */
bool lapic_send_ipi(uint32_t dest, uint32_t icr_lo);
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
/* Redirection entry of IOAPIC pin: fixed delivery, edge, physical destination. */
void ioapic_route(unsigned int pin, uint8_t vector, uint8_t dest_apic_id, bool masked);
/* Remaps the 8259 pair to VEC_PIC_MASTER/VEC_PIC_SLAVE; mask bit i masks IRQ i. */
void pic_init(uint16_t mask);
/* PIT channel 0, mode 2 (rate generator) at about hz. */
void pit_start_periodic(unsigned int hz);
void pit_stop(void);

/* ---- SMP --------------------------------------------------------------------- */
/*
 * Starts the APs with APIC IDs 0..n-1 (all but this CPU): INIT to all, then
 * SIPI (and a second SIPI if needed) to one AP at a time, waiting for each, so
 * indices follow APIC ID order. Each runs ap_main(index), index 1..n-1.
 * Returns how many APs entered ring 3 within timeout_us; the caller does its
 * own check-in.
 */
unsigned int kit_smp_start(unsigned int n, uint64_t timeout_us);
extern volatile uint32_t kit_aps_started;

/* ---- locks (ring 3) ------------------------------------------------------------ */
struct kit_lock {
	volatile uint32_t held;
};
static inline void kit_lock(struct kit_lock *l)
{
	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE))
		while (l->held)
			cpu_relax();
}
static inline void kit_unlock(struct kit_lock *l) { __atomic_store_n(&l->held, 0, __ATOMIC_RELEASE); }

#endif
