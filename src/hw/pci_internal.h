/* SPDX-License-Identifier: MIT */
/*
 * State shared by pci.c (host, config space, BARs) and pci_msix.c (MSI-X and
 * INTx). Not for devices: they use pci.h.
 */
#ifndef KVMM_HW_PCI_INTERNAL_H
#define KVMM_HW_PCI_INTERNAL_H

#include <pthread.h>

#include "hw/pci.h"

/* Conventional config space (PCI 3.0, 6.1): what a function stores. */
#define PCI_CFG_SIZE 256
#define PCI_CFG_CAP0 0x40 /* first byte after the type 0 header */
/* Extended config space over ECAM (PCIe 4.0, 7.2.2). */
#define PCI_ECAM_FN_SIZE 4096

/* Type 0 header offsets (PCI 3.0, figure 6-1). */
#define PCI_VENDOR_ID	   0x00
#define PCI_COMMAND	   0x04
#define PCI_STATUS	   0x06
#define PCI_REVISION	   0x08
#define PCI_CACHE_LINE	   0x0c
#define PCI_HEADER_TYPE	   0x0e
#define PCI_BAR0	   0x10
#define PCI_SUBSYS_VENDOR  0x2c
#define PCI_ROM_BAR	   0x30
#define PCI_CAP_PTR	   0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN  0x3d

/* Command register (PCI 3.0, 6.2.2). */
#define PCI_CMD_IO	     0x0001
#define PCI_CMD_MEM	     0x0002
#define PCI_CMD_MASTER	     0x0004
#define PCI_CMD_PARITY	     0x0040
#define PCI_CMD_SERR	     0x0100
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_CMD_WRITABLE                                                                           \
	(PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_PARITY | PCI_CMD_SERR |               \
	 PCI_CMD_INTX_DISABLE)

/* Status register (PCI 3.0, 6.2.3). */
#define PCI_STS_INTX	 0x0008
#define PCI_STS_CAP_LIST 0x0010
#define PCI_STS_W1C	 0xf900 /* parity, target/master abort, SERR, detected parity */

/* BAR low bits (PCI 3.0, 6.2.5.1). */
#define PCI_BAR_SPACE_IO   0x1
#define PCI_BAR_TYPE_64	   0x4
#define PCI_BAR_PREFETCHED 0x8

/* MSI-X capability (PCIe 4.0, 7.7.2): Message Control bits and register offsets. */
#define PCI_MSIX_CAP_LEN     12
#define PCI_MSIX_CTRL	     2
#define PCI_MSIX_TABLE	     4
#define PCI_MSIX_PBA	     8
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_FMASK  0x4000
#define PCI_MSIX_ENTRY_SIZE  16
#define PCI_MSIX_ENTRY_MASK  0x1 /* Vector Control bit 0 */

struct pci_bar {
	struct pci_dev *dev;
	int index;
	uint64_t size;	/* 0: not implemented (or the upper half of a 64-bit BAR) */
	unsigned flags; /* PCI_BAR_* */
	uint64_t addr;	/* address bits as the guest programmed them */
	bool mapped;	/* registered on the bus at map_addr */
	uint64_t map_addr;
	uint64_t refused; /* address a registration last failed at: warn once per address */
	bus_handler_fn handler;
	void *opaque;
};

/* One table entry (PCIe 4.0, 7.7.2.6-9) as the four dwords the guest sees. */
enum { MSIX_ADDR_LO, MSIX_ADDR_HI, MSIX_DATA, MSIX_CTRL };
struct pci_msix_entry {
	uint32_t w[4];
};

/* Guarded by the host's irq_lock; the layout fields are fixed before the VM runs. */
struct pci_msix {
	unsigned nvec;
	int bar;
	uint32_t table_off, table_len, pba_off, pba_len;
	uint8_t cap;   /* config offset of the capability */
	uint16_t ctrl; /* PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FMASK as the guest set them */
	struct pci_msix_entry *table;
	uint64_t *pba;
	bool warned; /* set_vector failed once: say so once */
};

/* Refused BAR placements a device logs as warnings; later ones go to debug. */
#define PCI_OVERLAP_WARNINGS 8

struct pci_dev {
	struct pci_host *host;
	unsigned overlap_warnings; /* BAR placements refused and logged as warnings */
	int slot;
	const struct pci_dev_info *info;
	const struct pci_dev_ops *ops;
	void *opaque;

	/* Under the config lock. */
	uint8_t cfg[PCI_CFG_SIZE]; /* fixed header fields and capability bodies */
	uint16_t command, status;  /* status: only the W1C error bits */
	uint8_t cap_last, cap_end; /* last capability's offset (0: none); next free byte */
	struct pci_bar bar[PCI_NUM_BARS];

	/* Under the irq lock. */
	struct pci_msix *msix;
	bool intx_level, intx_driven, intx_disabled;
};

struct pci_host {
	pthread_mutex_t cfg_lock; /* config space, BAR and ECAM mappings */
	pthread_mutex_t irq_lock; /* MSI-X and INTx; taken inside cfg_lock, never around it */
	struct bus *bus;
	struct irq_sink irq;
	const struct pci_msi_ops *msi;
	void *msi_opaque;
	struct acpi_pm *pm;
	bool attached;
	struct pci_host_config cfg;
	uint64_t next_io, next_mem32, next_mem64; /* allocation cursors in the windows */

	uint32_t config_address; /* 0xCF8 latch */
	uint64_t pciexbar;	 /* host bridge PCIEXBAR as the guest set it */
	bool ecam_mapped;
	uint64_t ecam_addr, ecam_len, ecam_refused;

	struct pci_dev *dev[PCI_MAX_SLOTS];
	uint32_t intx_slots[PCI_INTX_GSI_COUNT]; /* per GSI: slots driving it (wired OR) */
};

static inline uint32_t pci_len_mask(uint32_t len)
{
	return len >= 4 ? 0xffffffffu : (1u << (len * 8)) - 1;
}

/* Little-endian bytes of a config register (len up to 4). */
static inline uint32_t pci_get_le(const uint8_t *p, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

/* Bytes past the fourth read as all ones (an 8-byte read of 4 bytes of register). */
static inline void pci_put_le(uint8_t *p, uint32_t len, uint32_t v)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0xff;
}

/* pci.c, for pci_host.c; config lock held. */
struct pci_dev *pci_dev_new(struct pci_host *h, int slot, const struct pci_dev_info *info,
			    const struct pci_dev_ops *ops, void *opaque);
/* len bytes at off, within one dword of the function's 4 KiB. */
uint32_t pci_dev_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len);
void pci_dev_cfg_write(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val);
enum bus_space pci_bar_space(const struct pci_bar *b);
/*
 * Whether b would be decoded at a once its space is enabled: a is not 0, not the
 * sizing pattern and inside the space. Anything else is not a placement.
 */
bool pci_bar_addr_decodes(const struct pci_bar *b, uint64_t a);
/* Unregisters b if the guest moved or disabled it (tells the device). */
void pci_bar_unmap_stale(struct pci_bar *b);
/* Registers b if the guest wants it decoded and it is not (tells the device). */
void pci_bar_map_wanted(struct pci_bar *b);

/* pci_host.c, for pci.c: brings every BAR and the ECAM window in line (config lock held). */
void pci_host_remap(struct pci_host *h);

/* pci_msix.c, for pci.c. All but pci_msix_free with the config lock held. */
bool pci_msix_owns(const struct pci_dev *d, uint32_t off);
uint32_t pci_msix_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len);
void pci_msix_cfg_write(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val);
/* Handles an access to BAR bar at off if it touches the MSI-X table or PBA. */
bool pci_msix_bar_access(struct pci_dev *d, int bar, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write);
void pci_msix_free(struct pci_msix *m);
/* The command register changed: INTX_DISABLE may gate the line. */
void pci_intx_command(struct pci_dev *d, uint16_t command);
/* Status register bit 3, the device's INTx level. */
bool pci_intx_status(struct pci_dev *d);
/*
 * After a restore wrote the MSI-X and INTx state directly (irq lock held): tells
 * the machine every vector's message and masking, and drives the INTx line as
 * the restored state says.
 */
void pci_msix_resync(struct pci_dev *d);

/* pci.c, for pci_msix.c: appends a capability (config lock held or not yet running). */
int pci_dev_add_cap_locked(struct pci_dev *d, uint8_t id, const void *body, size_t len,
			   uint8_t *offset);

#endif
