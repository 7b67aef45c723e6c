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
/* The TSC when the ring-0 stub of a local APIC vector (0x30 up, not the PIC's)
 * was entered last, written before kit_irq_count is incremented: a ring-3
 * poller that sees the count change reads the time its interrupt arrived. */
extern volatile uint64_t kit_irq_tsc[256];

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

/* ---- PCI: bus 0 (lib/pci.c) ------------------------------------------------------ */
/*
 * Configuration space goes through the ECAM window of the ACPI MCFG table
 * (kvmm: 0xe0000000, QEMU q35: 0xb0000000), else through mechanism #1 at
 * ports 0xcf8/0xcfc (QEMU pc; opened in the I/O bitmap; offsets below 256),
 * else through KIT_PCI_ECAM. Chosen at the first access.
 */
#define KIT_PCI_ECAM 0xe0000000ull
#define PCI_CAP_VNDR 0x09
#define PCI_CAP_MSIX 0x11
/* Config space of function 0 of slot on bus 0; off + width within one dword. */
uint8_t kit_pci_read8(unsigned int slot, unsigned int off);
uint16_t kit_pci_read16(unsigned int slot, unsigned int off);
uint32_t kit_pci_read32(unsigned int slot, unsigned int off);
void kit_pci_write8(unsigned int slot, unsigned int off, uint8_t v);
void kit_pci_write16(unsigned int slot, unsigned int off, uint16_t v);
void kit_pci_write32(unsigned int slot, unsigned int off, uint32_t v);
/* The first slot on bus 0 with vendor:device, or -1. */
int kit_pci_find(uint16_t vendor, uint16_t device);
/* The same from slot from on. */
int kit_pci_find_next(uint16_t vendor, uint16_t device, unsigned int from);
/* "ECAM" (base in *ecam_base) or "ports 0xcf8/0xcfc" (*ecam_base 0): how config space is reached. */
const char *kit_pci_method(uint64_t *ecam_base);
/* Config offset of the first capability with id after offset after (0: from the start), or 0. */
uint8_t kit_pci_find_cap(unsigned int slot, uint8_t id, uint8_t after);
/* Address of memory BAR bar (both halves of a 64-bit BAR); 0 for I/O or none. */
uint64_t kit_pci_bar(unsigned int slot, unsigned int bar);
/* Identity-maps [addr, addr + len) uncached (2 MiB pages), for MMIO above 4 GiB;
 * below 4 GiB everything is mapped already. False beyond 512 GiB or out of tables. */
bool kit_map_mmio(uint64_t addr, uint64_t len);

/* ---- virtio over PCI, modern interface (lib/virtio.c; virtio 1.2, 4.1) ------------- */
#define VIRTIO_STATUS_ACK         1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128
#define VIRTIO_F_INDIRECT_DESC    (1ull << 28)
#define VIRTIO_F_EVENT_IDX        (1ull << 29)
#define VIRTIO_F_VERSION_1        (1ull << 32)
#define VIRTIO_NO_VECTOR          0xffff
#define VIRTQ_DESC_F_NEXT         1
#define VIRTQ_DESC_F_WRITE        2
#define VIRTQ_DESC_F_INDIRECT     4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY    1

struct kit_virtio {
	int slot;
	uint64_t bar_addr[6];         /* memory BARs the capabilities use, as found */
	volatile uint8_t *common;     /* struct virtio_pci_common_cfg */
	volatile uint8_t *isr;
	volatile uint8_t *device;     /* device configuration, NULL if none */
	volatile uint8_t *notify;     /* queue q at notify + q's notify_off * notify_mult */
	uint32_t notify_mult;
	uint8_t cap_common, cap_notify, cap_isr, cap_device, cap_pcicfg; /* config offsets */
	uint8_t msix_cap;             /* 0: no MSI-X */
	uint16_t msix_nvec;
	volatile uint32_t *msix_table;
	uint64_t offered, features;   /* by the device; negotiated (kit_virtio_init) */
};

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct kit_virtq {
	uint16_t index, size;
	volatile struct virtq_desc *desc;
	volatile uint16_t *avail;     /* flags, idx, ring[size], used_event */
	volatile uint32_t *used;      /* flags | idx << 16, then {id, len} pairs */
	uint16_t avail_idx, last_used, next_desc;
	volatile uint16_t *notify;
	/* kit_virtq_post/_get/_notify/_irq */
	uint16_t free_head, num_free; /* the free list, linked through desc[].next */
	uint16_t kicked_idx;          /* avail_idx at the last kit_virtq_notify */
	bool event_idx;               /* VIRTIO_F_EVENT_IDX negotiated */
	bool irq_off;                 /* no used-buffer notifications wanted */
};

struct kit_virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool writable;                /* device-writable */
};

/* Bytes kit_virtq_setup needs for a queue of size entries (4 KiB aligned). */
#define KIT_VIRTQ_MEM(size) \
	((((size) * 18u + 6u + 4095u) & ~4095u) + (((size) * 8u + 6u + 4095u) & ~4095u))

/* Finds 1af4:(1040 + device_id) on bus 0, reads its capabilities, maps its BARs
 * where kvmm or firmware left them and enables memory decoding and bus
 * mastering. False if absent or malformed (printed). */
bool kit_virtio_find(struct kit_virtio *v, uint16_t device_id);
/* The same for the virtio device in slot (several of a kind: kit_pci_find_next). */
bool kit_virtio_open(struct kit_virtio *v, unsigned int slot);
/* Re-reads the BARs and the structure addresses after the guest moved a BAR. */
bool kit_virtio_remap(struct kit_virtio *v);
/* Common configuration registers by offset (virtio 1.2, 4.1.4.3), natural widths. */
uint8_t kit_virtio_read8(struct kit_virtio *v, unsigned int off);
uint16_t kit_virtio_read16(struct kit_virtio *v, unsigned int off);
uint32_t kit_virtio_read32(struct kit_virtio *v, unsigned int off);
void kit_virtio_write8(struct kit_virtio *v, unsigned int off, uint8_t val);
void kit_virtio_write16(struct kit_virtio *v, unsigned int off, uint16_t val);
void kit_virtio_write32(struct kit_virtio *v, unsigned int off, uint32_t val);
uint8_t kit_virtio_status(struct kit_virtio *v);
void kit_virtio_set_status(struct kit_virtio *v, uint8_t status);
/* Reset, ACKNOWLEDGE, DRIVER, features (offered & wanted), FEATURES_OK; false if
 * the device offers less than required or refuses FEATURES_OK. Leaves the
 * offer in v->offered and what was accepted in v->features. */
bool kit_virtio_init(struct kit_virtio *v, uint64_t wanted, uint64_t required);
/* Device configuration at off, width 1, 2 or 4 bytes / 8 bytes, consistent per
 * config_generation; 0 without a device configuration structure. */
uint32_t kit_virtio_cfg(struct kit_virtio *v, unsigned int off, unsigned int width);
uint64_t kit_virtio_cfg64(struct kit_virtio *v, unsigned int off);
/* Enables MSI-X and points table entry `entry` at vector on APIC ID dest (unmasked). */
bool kit_virtio_msix(struct kit_virtio *v, unsigned int entry, uint8_t vector, uint8_t dest);
/* Sets up queue index with size entries (0: the device's maximum) in mem
 * (KIT_VIRTQ_MEM(size) bytes, 4 KiB aligned, zeroed here) and MSI-X vector
 * msix_vector, and enables it. False if the device refused. */
bool kit_virtq_setup(struct kit_virtio *v, struct kit_virtq *q, uint16_t index, uint16_t size,
		     void *mem, uint16_t msix_vector);
/* Posts one chain of n buffers and publishes it; returns its head. The caller
 * keeps at most size descriptors outstanding. */
uint16_t kit_virtq_add(struct kit_virtq *q, const struct kit_virtq_buf *bufs, unsigned int n);
/* Notifies the device (a 16-bit write of the queue index to its notify address). */
void kit_virtq_kick(struct kit_virtq *q);
/* Takes the next used element, polling until timeout_us; false on timeout. */
bool kit_virtq_wait(struct kit_virtq *q, uint64_t timeout_us, uint32_t *id, uint32_t *len);

/*
 * The other way to drive a queue (do not mix it with _add/_wait on one queue
 * between setups): descriptors from a free list, so requests may complete in
 * any order. kit_virtq_post publishes a chain of n buffers, as one indirect
 * descriptor pointing at table (n entries, 16-byte aligned, the caller's
 * until the chain is used; needs VIRTIO_F_INDIRECT_DESC) when table is not
 * NULL; returns the head, or -1 without enough free descriptors. It does not
 * notify: kit_virtq_notify does, unless the device suppressed notifications
 * (VIRTQ_USED_F_NO_NOTIFY, or avail_event with the event index), and says
 * whether it did. kit_virtq_get takes the next used element without waiting
 * and frees its descriptors. kit_virtq_irq asks for used-buffer
 * notifications or not (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event).
 */
int kit_virtq_post(struct kit_virtq *q, const struct kit_virtq_buf *bufs, unsigned int n,
		   volatile struct virtq_desc *table);
bool kit_virtq_notify(struct kit_virtq *q);
bool kit_virtq_get(struct kit_virtq *q, uint32_t *id, uint32_t *len);
void kit_virtq_irq(struct kit_virtq *q, bool on);

/* ---- virtio-blk driver (lib/blk.c; virtio 1.2, 5.2) ------------------------------ */
#define VIRTIO_ID_BLOCK           2
#define KIT_BLK_F_SEG_MAX         (1ull << 2)
#define KIT_BLK_F_RO              (1ull << 5)
#define KIT_BLK_F_BLK_SIZE        (1ull << 6)
#define KIT_BLK_F_FLUSH           (1ull << 9)
#define KIT_BLK_F_MQ              (1ull << 12)
#define KIT_BLK_F_DISCARD         (1ull << 13)
#define KIT_BLK_F_WRITE_ZEROES    (1ull << 14)
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_ID_BYTES       20
#define VIRTIO_BLK_FLAG_UNMAP     1u /* discard / write zeroes segment flags */
/* Configuration space offsets (5.2.4). */
#define KIT_BLK_CFG_CAPACITY          0
#define KIT_BLK_CFG_SEG_MAX           12
#define KIT_BLK_CFG_BLK_SIZE          20
#define KIT_BLK_CFG_NUM_QUEUES        34
#define KIT_BLK_CFG_MAX_DISCARD_SECTORS 36
#define KIT_BLK_CFG_MAX_DISCARD_SEG   40
#define KIT_BLK_CFG_DISCARD_ALIGN     44
#define KIT_BLK_CFG_MAX_WZ_SECTORS    48
#define KIT_BLK_CFG_MAX_WZ_SEG        52
#define KIT_BLK_CFG_WZ_MAY_UNMAP      56

#define KIT_BLK_MAX_QUEUES 4
#define KIT_BLK_QSIZE      256 /* entries asked for per queue (less if the device says so) */
#define KIT_BLK_MAX_PIECES 64  /* data descriptors per request */
/* Bytes of ring memory kit_blk_start needs per queue (4 KiB aligned). */
#define KIT_BLK_RING_MEM   KIT_VIRTQ_MEM(KIT_BLK_QSIZE)

struct kit_blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

struct kit_blk_seg { /* DISCARD / WRITE_ZEROES data */
	uint64_t sector;
	uint32_t num_sectors, flags;
};

/* One request: the caller fills the first part and keeps it in RAM until done. */
struct kit_blk_req {
	uint32_t type;          /* VIRTIO_BLK_T_* */
	uint64_t sector;
	uint8_t *data;          /* IN/OUT/GET_ID data, DISCARD/WRITE_ZEROES segments */
	uint32_t bytes;         /* 0: none (FLUSH) */
	unsigned int pieces;    /* data descriptors, 1..KIT_BLK_MAX_PIECES, of uneven lengths */
	bool split_header;      /* the header as two 8-byte descriptors */
	bool status_in_data;    /* IN/GET_ID: the status byte is data[bytes], in the last data buffer */
	bool indirect;          /* the chain in table (needs VIRTIO_F_INDIRECT_DESC) */
	uint64_t tag;           /* the caller's */
	/* Set by the driver. */
	volatile bool done;
	volatile uint8_t status;
	uint32_t used_len;
	struct kit_blk_hdr hdr;
	volatile struct virtq_desc table[KIT_BLK_MAX_PIECES + 3] __attribute__((aligned(16)));
};

struct kit_blk_queue {
	struct kit_virtq vq;
	struct kit_blk_req *by_head[KIT_BLK_QSIZE];
	unsigned int inflight;
	uint64_t posted, kicks; /* requests posted, notifications sent */
};

struct kit_blk {
	struct kit_virtio v;
	uint64_t capacity;      /* 512-byte sectors */
	uint32_t seg_max, blk_size;
	uint16_t num_queues;    /* the device's (1 without VIRTIO_BLK_F_MQ) */
	uint32_t max_discard_sectors, max_discard_seg, discard_align;
	uint32_t max_wz_sectors, max_wz_seg;
	uint8_t wz_may_unmap;
	unsigned int nq;        /* queues set up */
	bool irq;               /* MSI-X used-buffer notifications asked for */
	struct kit_blk_queue q[KIT_BLK_MAX_QUEUES];
};

/* kit_virtio_open for the device in slot. */
bool kit_blk_open(struct kit_blk *b, unsigned int slot);
/*
 * Resets the device, negotiates wanted (& offered), reads the configuration,
 * sets up nq queues (0 or more than the device has: all, at most
 * KIT_BLK_MAX_QUEUES) in ring_mem (nq * KIT_BLK_RING_MEM bytes, 4 KiB
 * aligned), with MSI-X (queue i on vector msix_vector + i, configuration on
 * msix_vector + nq, to APIC ID dest) or no interrupts (msix_vector < 0), then
 * DRIVER_OK. False with the reason printed.
 */
bool kit_blk_start(struct kit_blk *b, uint64_t wanted, unsigned int nq, void *ring_mem,
		   int msix_vector, uint8_t dest);
/* Publishes r on queue qi (no notification); false when the ring is too full for it. */
bool kit_blk_post(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r);
/* Notifies the device of what was posted on qi, unless it suppressed notifications. */
void kit_blk_kick(struct kit_blk *b, unsigned int qi);
/* Marks the requests the device completed on qi done; returns how many. */
unsigned int kit_blk_reap(struct kit_blk *b, unsigned int qi);
/* Reaps until r is done; false after timeout_us. */
bool kit_blk_wait(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r, uint64_t timeout_us);
/* Posts, kicks and waits: r's status byte, or -1 on a timeout. */
int kit_blk_sync(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r, uint64_t timeout_us);

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
