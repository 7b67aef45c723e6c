/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge: one PCI bus (bus 0) of up to 32 single-function devices,
 * reached through configuration mechanism #1 at ports 0xCF8/0xCFC (PCI Local Bus
 * 3.0, 3.2.2.3.2) and through the PCI Express ECAM window (PCIe Base 4.0, 7.2.2).
 * Slot 0 is the host bridge itself, which presents itself as QEMU's q35 does (Intel
 * 82G33/Q35 MCH, 8086:29c0), down to its PCIEXBAR register so that firmware written
 * for that chip can move the ECAM window. See pci_host.c, pci.c and pci_msix.c.
 *
 * What the layer does for its devices: the type 0 header (IDs, command, status,
 * BARs with sizing and relocation, interrupt line/pin), the capability list, MSI-X
 * (capability, table and PBA), and INTx routing to a GSI. A device brings its
 * identity, BAR handlers and, optionally, hooks for its own config registers.
 *
 * Locking: config accesses and BAR (re)mapping run under the host's config lock;
 * MSI-X and INTx state under a second, inner lock. Device hooks (pci_dev_ops) run
 * under the config lock and may call pci_dev_msix_notify() and pci_dev_set_intx();
 * pci_msi_ops and irq_sink callbacks run under the inner lock and must not call
 * back into this layer.
 */
#ifndef KVMM_HW_PCI_H
#define KVMM_HW_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/irq.h"

struct acpi_pm;
struct pci_host;
struct pci_dev;

#define PCI_CONFIG_ADDRESS_PORT 0xcf8 /* the host decodes 0xCF8..0xCFF */
#define PCI_CONFIG_PORT_LEN	8
#define PCI_MAX_SLOTS		32
#define PCI_NUM_BARS		6

/* ECAM: 4 KiB per function, 1 MiB per bus; 256 MiB for buses 0-255. */
#define PCI_ECAM_SIZE  (256ULL << 20)
#define PCI_ECAM_BUSES 256

/* The host bridge at 00:00.0: Intel 82G33/G31/P35/P31 (Q35) DRAM controller. */
#define PCI_HOST_VENDOR_ID 0x8086
#define PCI_HOST_DEVICE_ID 0x29c0

/* Capability IDs (PCI Code and ID Assignment spec, 2). */
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define PCI_MSIX_MAX_VECTORS 2048

/*
 * INTx routing. Pin p (1 = INTA# .. 4 = INTD#) of the device in slot s drives
 *     GSI = PCI_INTX_GSI_BASE + (s + p - 1) % PCI_INTX_GSI_COUNT
 * i.e. GSIs 16..23, the I/O APIC inputs above the ISA IRQs, rotated by slot the
 * way a PCI-to-PCI bridge swizzles (PCI-to-PCI Bridge spec 1.2, 9.1) so that
 * devices which only use INTA# spread over all eight. Lines are level-triggered
 * and shared: the host ORs the devices on one GSI. The level handed to the irq
 * sink is logical (1 = asserted): KVM's I/O APIC does not apply the polarity bit
 * to KVM_IRQ_LINE, so firmware tables may describe the lines as level, active
 * high (as QEMU's q35 DSDT does). The ACPI _PRT (one entry per slot and pin:
 * Address 0xSSSSFFFF, Pin p-1, Source 0, Source Index GSI) and MP table I/O
 * interrupt entries (source bus PCI 0, IRQ (s << 2) | (p - 1), dest I/O APIC
 * pin GSI) must use this same formula.
 */
#define PCI_INTX_GSI_BASE  16
#define PCI_INTX_GSI_COUNT 8

static inline uint32_t pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin - 1) % PCI_INTX_GSI_COUNT;
}

/* BAR flags for pci_dev_set_bar(). */
#define PCI_BAR_IO	 0x1u /* I/O space; otherwise 32-bit memory space */
#define PCI_BAR_MEM64	 0x2u /* 64-bit memory BAR: uses index bar and bar + 1 */
#define PCI_BAR_PREFETCH 0x4u /* memory BAR marked prefetchable */

/*
 * Where pci_dev_set_bar() places BARs before the guest sees them: with no
 * firmware to assign addresses (direct kernel boot), the OS finds them already
 * programmed, as kvmtool and cloud hypervisors do. Firmware may move them. A
 * size of 0 leaves a window out; 64-bit BARs then go to the 32-bit window.
 */
struct pci_host_config {
	uint64_t ecam_base; /* initial PCIEXBAR: 256 MiB aligned, below 4 GiB; 0: ECAM off */
	uint64_t io_base, io_size;
	uint64_t mem32_base, mem32_size;
	uint64_t mem64_base, mem64_size;
};

/*
 * How MSI-X messages leave the host, so the machine can use KVM_SIGNAL_MSI now
 * and irqfd with GSI routes later. addr and data are whatever the guest wrote.
 */
struct pci_msi_ops {
	/*
	 * Vector vec of d changed: the guest wrote its table entry, or its masking
	 * changed. masked is the effective mask: the entry's mask bit, the function
	 * mask, or MSI-X being disabled. Returns 0 or -errno (logged, not fatal).
	 */
	int (*set_vector)(void *opaque, struct pci_dev *d, unsigned vec, uint64_t addr,
			  uint32_t data, bool masked);
	/* Sends one message now. */
	void (*notify)(void *opaque, uint64_t addr, uint32_t data);
};

/* A function's identity: the read-only fields of its type 0 header. */
struct pci_dev_info {
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint32_t class_code; /* base class << 16 | subclass << 8 | programming interface */
	uint8_t revision;
	uint8_t intx_pin; /* 0: no INTx, 1..4: INTA#..INTD# */
	const char *name; /* for logs and bus ranges; must outlive the device */
};

/*
 * Device callbacks, all optional; called under the host's config lock. cfg_read
 * and cfg_write see config accesses at offsets 0x40 and up (0x40..0xfff over ECAM)
 * that the layer does not own itself (the header and the MSI-X capability are its
 * own). An access never crosses a dword: off + len stays within off's dword, len
 * is 1, 2 or 4, val is little-endian in the low len bytes.
 */
struct pci_dev_ops {
	/* BAR bar is now decoded at addr (mapped) or no longer decoded (!mapped). */
	void (*bar_moved)(void *opaque, int bar, uint64_t addr, bool mapped);
	/* *val holds the stored bytes (capability bodies; 0 past 0xff); may change it. */
	void (*cfg_read)(void *opaque, uint32_t off, uint32_t len, uint32_t *val);
	/* Returns true to store val into the stored bytes (below 0x100 only). */
	bool (*cfg_write)(void *opaque, uint32_t off, uint32_t len, uint32_t val);
};

/*
 * Creates the host and the host bridge device at slot 0. bus must outlive it; irq,
 * msi and cfg are copied (msi's functions must outlive the host). Returns NULL with
 * errno set (EINVAL for a bad cfg).
 */
struct pci_host *pci_host_create(struct bus *bus, const struct pci_host_config *cfg,
				 const struct irq_sink *irq, const struct pci_msi_ops *msi,
				 void *msi_opaque);
/*
 * Registers ports 0xCF8-0xCFF and the ECAM window. The reset control register
 * shares 0xCF8's dword: single-byte accesses to 0xCF9 go to pm's reset register
 * (pm may be NULL: none). Returns 0 or -errno.
 */
int pci_host_attach(struct pci_host *h, struct acpi_pm *pm);
/* Unregisters everything the host registered and frees it and its devices. */
void pci_host_destroy(struct pci_host *h);

/*
 * Adds a device at slot (1..31; -1: the lowest free one). info, ops and opaque
 * are kept by reference and must outlive the host. The device is visible to the
 * guest at once, so set it up before the VM runs. Returns NULL with errno set
 * (EBUSY slot taken, ENOSPC bus full, EINVAL).
 */
struct pci_dev *pci_dev_create(struct pci_host *h, int slot, const struct pci_dev_info *info,
			       const struct pci_dev_ops *ops, void *opaque);
int pci_dev_slot(const struct pci_dev *d);

/*
 * Implements BAR bar (0..5) of size bytes, a power of two (I/O: 4..256, memory:
 * 16 and up, below 4 GiB unless PCI_BAR_MEM64). The BAR gets an initial address
 * from the host's windows, but is decoded only while the guest has the command
 * register's I/O or memory enable set and the address is neither 0 nor the
 * sizing pattern. handler gets accesses at offsets from the BAR's base, except
 * those to an MSI-X table or PBA inside it; it may be NULL (such bytes read 0).
 * Returns 0, -EINVAL, -EBUSY (already implemented) or -ENOSPC (no window room).
 */
int pci_dev_set_bar(struct pci_dev *d, int bar, uint64_t size, unsigned flags,
		    bus_handler_fn handler, void *opaque);

/*
 * Appends a capability to the list (PCI 3.0, 6.7): id, the next pointer, then
 * len bytes of body. It is placed dword-aligned in 0x40..0xff; *offset (may be
 * NULL) receives its config offset. Returns 0, -EINVAL or -ENOSPC.
 */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, size_t len, uint8_t *offset);

/*
 * Gives the device nvec MSI-X vectors (1..2048) with its table at table_offset and
 * its PBA at pba_offset, both inside memory BAR bar (set up first), 8-byte aligned
 * and not overlapping. The layer emulates both; every vector starts masked.
 * Returns 0, -EINVAL, -EBUSY (already done) or -ENOSPC (no room for the cap).
 */
int pci_dev_init_msix(struct pci_dev *d, unsigned nvec, int bar, uint32_t table_offset,
		      uint32_t pba_offset);
/*
 * Signals vector vec: sends its message, or sets its pending bit when it is
 * masked (the message follows on unmask). Returns 0, -ENOENT when MSI-X is not
 * enabled (the device should use INTx), or -EINVAL for a bad vector.
 */
int pci_dev_msix_notify(struct pci_dev *d, unsigned vec);
/* Whether the guest has enabled MSI-X on d. */
bool pci_dev_msix_enabled(struct pci_dev *d);

/*
 * Drives the device's INTx pin (level 1 asserted, 0 deasserted). The status
 * register's interrupt bit follows level; the GSI only while the command
 * register's interrupt disable bit is clear and MSI-X is off.
 */
void pci_dev_set_intx(struct pci_dev *d, int level);

/*
 * Snapshots (pci_state.c; the byte layout is in docs/snapshot-format.md). The
 * VM must be paused: nothing else may access config space meanwhile.
 *
 * A function's state is what the guest programmed: command and status, cache
 * line size and interrupt line, every BAR as written, the stored bytes at
 * 0x40-0xff, the INTx level, and the MSI-X enable and function mask, table and
 * PBA. pci_dev_save appends it (format version 1) and returns 0 or b's error.
 *
 * Loading is two steps, so a caller can check what follows in the stream
 * before anything changes: _parse reads the state and checks it against d
 * (the same slot and identity, the same BAR sizes and types, the same
 * capability list and MSI-X table size, values the guest could have written,
 * BARs anywhere the guest could have put them) without changing d;
 * it returns 0 and a staged state, or -EINVAL with the reason in why (r
 * failed) or -ENOMEM. Then exactly one of _apply (takes effect, re-registers
 * the BARs where the guest had placed them, re-sends every MSI-X vector's
 * message and masking through pci_msi_ops.set_vector and drives INTx as
 * saved; frees s) or _discard.
 */
struct state_buf;
struct state_reader;
struct pci_dev_loaded;
int pci_dev_save(struct pci_dev *d, struct state_buf *b);
int pci_dev_load_parse(struct pci_dev *d, struct state_reader *r, struct pci_dev_loaded **out,
		       char *why, size_t whylen);
void pci_dev_load_apply(struct pci_dev *d, struct pci_dev_loaded *s);
void pci_dev_load_discard(struct pci_dev_loaded *s);

/*
 * The host's own state (format version 1): the 0xCF8 latch, PCIEXBAR (where the
 * ECAM window is) and the host bridge's function state as pci_dev_save writes
 * it. pci_host_load checks all of it, then applies it (r must hold exactly
 * this), or returns -EINVAL with the reason in why and changes nothing.
 */
int pci_host_save(struct pci_host *h, struct state_buf *b);
int pci_host_load(struct pci_host *h, struct state_reader *r, char *why, size_t whylen);

#endif
