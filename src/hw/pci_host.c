/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge (see pci.h): how configuration cycles arrive, the ECAM
 * window's placement, and the host's life cycle.
 *
 * Configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2): a dword write to
 * 0xCF8 latches CONFIG_ADDRESS (bit 31 enable, bus 23:16, device 15:11, function
 * 10:8, register 7:2); an access of any width at 0xCFC+k then reaches the latched
 * dword's byte k. Byte and word accesses to 0xCF8-0xCFB are not configuration
 * cycles: they go on as ordinary I/O, which is how the PIIX/ICH reset control
 * register at 0xCF9 shares the dword (forwarded to acpi_pm).
 *
 * ECAM (PCIe Base 4.0, 7.2.2): a memory window of 1 MiB per bus, 4 KiB per
 * function, placed by the host bridge's PCIEXBAR register (Intel 3 Series/Q35
 * MCH datasheet, D0:F0 offset 60h: bit 0 enable, bits 2:1 length 256/128/64 MiB,
 * base in bits 35:26). An access may not cross a dword (7.2.2.2); an aligned
 * 8-byte access is taken as two dwords, anything else that crosses is dropped.
 *
 * Absent devices, functions other than 0 and buses other than 0 read all ones
 * and ignore writes, as a master abort does on a real bus (PCI 3.0, 6.1).
 */
#include "hw/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/acpi_pm.h"
#include "hw/pci_internal.h"
#include "state/buf.h"
#include "util/log.h"

#define CFG_ADDR_ENABLE 0x80000000u

/* Q35 MCH PCIEXBAR (D0:F0 60h-67h). */
#define MCH_PCIEXBAR	       0x60
#define MCH_PCIEXBAR_EN	       0x1ULL
#define MCH_PCIEXBAR_LEN       0x6ULL
#define MCH_PCIEXBAR_BASE      0xffc000000ULL /* bits 35:26 */
#define MCH_PCIEXBAR_LEN_SHIFT 1

static const struct pci_dev_info pci_host_bridge_info = {
    .vendor_id = PCI_HOST_VENDOR_ID,
    .device_id = PCI_HOST_DEVICE_ID,
    .class_code = 0x060000, /* bridge, host bridge */
    .name = "pci-host",
};

/* ---- ECAM window ---- */

static bool pci_ecam_wanted(const struct pci_host *h, uint64_t *base, uint64_t *len)
{
	unsigned code = (unsigned)((h->pciexbar & MCH_PCIEXBAR_LEN) >> MCH_PCIEXBAR_LEN_SHIFT);

	if (!h->attached || !(h->pciexbar & MCH_PCIEXBAR_EN) || code == 3)
		return false;
	*len = PCI_ECAM_SIZE >> code;
	*base = h->pciexbar & MCH_PCIEXBAR_BASE & ~(*len - 1);
	return true;
}

static void pci_ecam_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/*
 * Brings every bus registration in line with what the guest programmed. All
 * stale ranges go first, so a range one mapping leaves is free for another that
 * was refused (or is moving) in the same pass.
 */
void pci_host_remap(struct pci_host *h)
{
	uint64_t base = 0, len = 0;
	bool want;
	int rc;

	want = pci_ecam_wanted(h, &base, &len);
	if (h->ecam_mapped && (!want || base != h->ecam_addr || len != h->ecam_len)) {
		bus_unregister(h->bus, BUS_MMIO, h->ecam_addr);
		h->ecam_mapped = false;
	}
	for (int s = 0; s < PCI_MAX_SLOTS; s++)
		for (int i = 0; h->dev[s] && i < PCI_NUM_BARS; i++)
			pci_bar_unmap_stale(&h->dev[s]->bar[i]);

	if (want && !h->ecam_mapped) {
		rc = bus_register(h->bus, BUS_MMIO, base, len, pci_ecam_io, h, "pci-ecam");
		if (!rc) {
			h->ecam_mapped = true;
			h->ecam_addr = base;
			h->ecam_len = len;
			h->ecam_refused = 0;
		} else if (h->ecam_refused != base) {
			log_warn("pci",
				 "ECAM window at 0x%" PRIx64 " overlaps another range (%s); "
				 "left unmapped",
				 base, strerror(-rc));
			h->ecam_refused = base;
		}
	}
	for (int s = 0; s < PCI_MAX_SLOTS; s++)
		for (int i = 0; h->dev[s] && i < PCI_NUM_BARS; i++)
			pci_bar_map_wanted(&h->dev[s]->bar[i]);
}

/* ---- The two access mechanisms ---- */

/*
 * One configuration access from either mechanism; off + len within one dword
 * of a 4 KiB function space. Reads of nothing return all ones (master abort).
 */
static void pci_host_cfg_access(struct pci_host *h, uint32_t busno, uint32_t slot, uint32_t fn,
				uint32_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_dev *d;

	pthread_mutex_lock(&h->cfg_lock);
	d = (busno == 0 && fn == 0 && slot < PCI_MAX_SLOTS) ? h->dev[slot] : NULL;
	if (!d) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		pci_dev_cfg_write(d, off, len, pci_get_le(data, len));
	} else {
		pci_put_le(data, len, pci_dev_cfg_read(d, off, len));
	}
	pthread_mutex_unlock(&h->cfg_lock);
}

static void pci_host_port_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_host *h = opaque;
	uint32_t addr;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&h->cfg_lock);
		if (is_write)
			h->config_address = pci_get_le(data, 4) & ~3u; /* bits 1:0 read 0 */
		else
			pci_put_le(data, 4, h->config_address);
		pthread_mutex_unlock(&h->cfg_lock);
		return;
	}
	if (off == 1 && len == 1 && h->pm) {
		acpi_pm_reset_io(h->pm, 0, data, 1, is_write);
		return;
	}
	if (off < 4 || off + len > 8) {
		/* Other byte/word I/O in 0xCF8-0xCFB decodes to nothing. */
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&h->cfg_lock);
	addr = h->config_address;
	pthread_mutex_unlock(&h->cfg_lock);
	if (!(addr & CFG_ADDR_ENABLE)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	/* Bits 30:24 are reserved; register 7:2 plus the byte lane within CONFIG_DATA. */
	pci_host_cfg_access(h, (addr >> 16) & 0xff, (addr >> 11) & 0x1f, (addr >> 8) & 7,
			    (addr & 0xfc) + (uint32_t)(off - 4), data, len, is_write);
}

static void pci_ecam_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_host *h = opaque;
	uint32_t reg = (uint32_t)(off & (PCI_ECAM_FN_SIZE - 1));

	if (len == 8 && !(off & 7)) {
		pci_ecam_io(h, off, data, 4, is_write);
		pci_ecam_io(h, off + 4, data + 4, 4, is_write);
		return;
	}
	if (!len || len > 4 || (reg & 3) + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_host_cfg_access(h, (uint32_t)(off >> 20) & 0xff, (uint32_t)(off >> 15) & 0x1f,
			    (uint32_t)(off >> 12) & 7, reg, data, len, is_write);
}

/* ---- The host bridge's own registers ---- */

/*
 * PCIEXBAR moves the ECAM window; the rest of 0x40-0xff (PAM, SMRAM, ... on the
 * real chip) is plain storage, so firmware that programs those registers reads
 * back what it wrote. kvmm's RAM is always RAM, so nothing else needs decoding.
 */
static void pci_host_bridge_cfg_read(void *opaque, uint32_t off, uint32_t len, uint32_t *val)
{
	struct pci_host *h = opaque;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (o >= MCH_PCIEXBAR && o < MCH_PCIEXBAR + 8) {
			*val &= ~(0xffu << (8 * i));
			*val |= (uint32_t)(uint8_t)(h->pciexbar >> (8 * (o - MCH_PCIEXBAR)))
				<< (8 * i);
		}
	}
}

static bool pci_host_bridge_cfg_write(void *opaque, uint32_t off, uint32_t len, uint32_t val)
{
	struct pci_host *h = opaque;
	uint64_t bar = h->pciexbar, size;
	unsigned code;
	bool hit = false;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;

		if (o >= MCH_PCIEXBAR && o < MCH_PCIEXBAR + 8) {
			unsigned sh = 8 * (o - MCH_PCIEXBAR);

			bar = (bar & ~(0xffULL << sh)) | (uint64_t)(uint8_t)(val >> (8 * i)) << sh;
			hit = true;
		}
	}
	if (!hit)
		return true;
	/* Base bits below the chosen length are reserved and read 0. */
	code = (unsigned)((bar & MCH_PCIEXBAR_LEN) >> MCH_PCIEXBAR_LEN_SHIFT);
	size = PCI_ECAM_SIZE >> (code == 3 ? 0 : code);
	bar &= MCH_PCIEXBAR_EN | MCH_PCIEXBAR_LEN | (MCH_PCIEXBAR_BASE & ~(size - 1));
	if (bar != h->pciexbar) {
		h->pciexbar = bar;
		pci_host_remap(h);
	}
	return false; /* a dword at 0x60 or 0x64 lies wholly inside PCIEXBAR */
}

static const struct pci_dev_ops pci_host_bridge_ops = {
    .cfg_read = pci_host_bridge_cfg_read,
    .cfg_write = pci_host_bridge_cfg_write,
};

/* ---- The host ---- */

static bool pci_window_ok(uint64_t base, uint64_t size, uint64_t limit)
{
	return !size || (base && base <= limit && size <= limit - base + 1);
}

struct pci_host *pci_host_create(struct bus *bus, const struct pci_host_config *cfg,
				 const struct irq_sink *irq, const struct pci_msi_ops *msi,
				 void *msi_opaque)
{
	struct pci_host *h;

	if (!bus || !cfg || (cfg->ecam_base & (PCI_ECAM_SIZE - 1)) ||
	    (cfg->ecam_base & ~MCH_PCIEXBAR_BASE) ||
	    !pci_window_ok(cfg->io_base, cfg->io_size, 0xffff) ||
	    !pci_window_ok(cfg->mem32_base, cfg->mem32_size, 0xffffffffULL) ||
	    !pci_window_ok(cfg->mem64_base, cfg->mem64_size, UINT64_MAX)) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->cfg_lock, NULL)) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_mutex_init(&h->irq_lock, NULL)) {
		pthread_mutex_destroy(&h->cfg_lock);
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	h->bus = bus;
	if (irq)
		h->irq = *irq;
	h->msi = msi;
	h->msi_opaque = msi_opaque;
	h->cfg = *cfg;
	h->next_io = cfg->io_base;
	h->next_mem32 = cfg->mem32_base;
	h->next_mem64 = cfg->mem64_base;
	/* 256 MiB (length code 0), enabled, as firmware leaves it for the OS. */
	h->pciexbar = cfg->ecam_base ? cfg->ecam_base | MCH_PCIEXBAR_EN : 0;
	if (!pci_dev_new(h, 0, &pci_host_bridge_info, &pci_host_bridge_ops, h)) {
		pci_host_destroy(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

int pci_host_attach(struct pci_host *h, struct acpi_pm *pm)
{
	int rc;

	pthread_mutex_lock(&h->cfg_lock);
	rc = h->attached ? -EBUSY : 0;
	if (!rc)
		rc = bus_register(h->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_PORT_LEN,
				  pci_host_port_io, h, "pci-host");
	if (!rc) {
		h->pm = pm;
		h->attached = true;
		pci_host_remap(h);
		/* An ECAM window that overlaps at start is a machine layout bug. */
		if ((h->pciexbar & MCH_PCIEXBAR_EN) && !h->ecam_mapped) {
			h->attached = false;
			pci_host_remap(h);
			bus_unregister(h->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT);
			rc = -EEXIST;
		}
	}
	pthread_mutex_unlock(&h->cfg_lock);
	return rc;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	/* Devices may be gone already: unregister without telling them (no bar_moved). */
	if (h->attached)
		bus_unregister(h->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT);
	if (h->ecam_mapped)
		bus_unregister(h->bus, BUS_MMIO, h->ecam_addr);
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_dev *d = h->dev[s];

		for (int i = 0; d && i < PCI_NUM_BARS; i++)
			if (d->bar[i].mapped)
				bus_unregister(h->bus, pci_bar_space(&d->bar[i]),
					       d->bar[i].map_addr);
		if (d) {
			pci_msix_free(d->msix);
			free(d);
		}
	}
	pthread_mutex_destroy(&h->irq_lock);
	pthread_mutex_destroy(&h->cfg_lock);
	free(h);
}

/* ---- Snapshots ---- */

#define PCI_HOST_STATE_VERSION 1

int pci_host_save(struct pci_host *h, struct state_buf *b)
{
	pthread_mutex_lock(&h->cfg_lock);
	state_put_u32(b, PCI_HOST_STATE_VERSION);
	state_put_u32(b, h->config_address);
	state_put_u64(b, h->pciexbar);
	pthread_mutex_unlock(&h->cfg_lock);
	return pci_dev_save(h->dev[0], b);
}

int pci_host_load(struct pci_host *h, struct state_reader *r, char *why, size_t whylen)
{
	struct pci_dev_loaded *s;
	uint32_t addr, version = state_get_u32(r);
	uint64_t bar, size;
	unsigned code;
	bool bad = true;
	int rc;

	addr = state_get_u32(r);
	bar = state_get_u64(r);
	code = (unsigned)((bar & MCH_PCIEXBAR_LEN) >> MCH_PCIEXBAR_LEN_SHIFT);
	size = PCI_ECAM_SIZE >> (code == 3 ? 0 : code);
	if (r->error || version != PCI_HOST_STATE_VERSION)
		snprintf(why, whylen, "not host bridge state version %d", PCI_HOST_STATE_VERSION);
	else if (addr & 3)
		snprintf(why, whylen, "CONFIG_ADDRESS 0x%08x has bits 1:0 set", addr);
	else if (bar !=
		 (bar & (MCH_PCIEXBAR_EN | MCH_PCIEXBAR_LEN | (MCH_PCIEXBAR_BASE & ~(size - 1)))))
		snprintf(why, whylen, "PCIEXBAR 0x%" PRIx64 " has bits no guest can set", bar);
	else
		bad = false;
	if (bad) {
		state_reader_fail(r);
		return -EINVAL;
	}
	rc = pci_dev_load_parse(h->dev[0], r, &s, why, whylen);
	if (rc)
		return rc;
	if (state_reader_finish(r)) {
		snprintf(why, whylen, "%zu bytes too many", r->len - r->pos);
		pci_dev_load_discard(s);
		return -EINVAL;
	}
	pthread_mutex_lock(&h->cfg_lock);
	h->config_address = addr;
	h->pciexbar = bar;
	pthread_mutex_unlock(&h->cfg_lock);
	pci_dev_load_apply(h->dev[0], s); /* remaps the ECAM window too */
	return 0;
}
