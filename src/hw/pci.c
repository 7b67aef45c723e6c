/* SPDX-License-Identifier: MIT */
/*
 * A PCI function's configuration space and BARs (see pci.h for the API; the host
 * bridge and the two ways config cycles arrive are in pci_host.c).
 *
 * The type 0 header (PCI Local Bus 3.0, 6.1-6.2): read-only IDs, class and
 * header type; the command register's I/O, memory, bus master, parity, SERR and
 * interrupt disable bits (6.2.2); status with its write-1-to-clear error bits,
 * the capability list bit and the interrupt status bit (6.2.3); interrupt line
 * (RW) and pin (RO) (6.2.4); no expansion ROM (6.2.5.2: a ROM BAR that reads 0 is
 * not there). Capabilities form a list from the pointer at 34h (6.7). Writes
 * honour byte enables: a byte or word write changes only the bytes it covers.
 *
 * BARs (6.2.5.1): the low bits are the type (I/O, 32/64-bit memory,
 * prefetchable); writing all ones and reading back gives the size as the
 * address bits that stay set. A BAR is registered on the bus only while its
 * space is enabled in the command register and it holds an address, neither 0
 * nor a sizing pattern. Moving it unregisters the old range before registering
 * the new one; a placement that overlaps another range stays unmapped with one
 * warning, and is retried whenever the guest changes any mapping, so a guest
 * that reshuffles BARs through an overlapping step ends up mapped.
 */
#include "hw/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci_internal.h"
#include "util/log.h"

/* ---- BARs ---- */

/* The upper dword of a 64-bit BAR is bar i of the BAR at i - 1. */
static bool pci_bar_is_upper(const struct pci_dev *d, int i)
{
	return i > 0 && d->bar[i - 1].size && (d->bar[i - 1].flags & PCI_BAR_MEM64);
}

static uint32_t pci_bar_read(const struct pci_dev *d, int i)
{
	const struct pci_bar *b = &d->bar[i];
	uint32_t v;

	if (pci_bar_is_upper(d, i))
		return (uint32_t)(d->bar[i - 1].addr >> 32);
	if (!b->size)
		return 0;
	if (b->flags & PCI_BAR_IO)
		return (uint32_t)b->addr | PCI_BAR_SPACE_IO;
	v = (uint32_t)b->addr;
	if (b->flags & PCI_BAR_MEM64)
		v |= PCI_BAR_TYPE_64;
	if (b->flags & PCI_BAR_PREFETCH)
		v |= PCI_BAR_PREFETCHED;
	return v;
}

/* Stores a whole register value; the bits below the size read back as zero. */
static void pci_bar_write(struct pci_dev *d, int i, uint32_t v)
{
	struct pci_bar *b = &d->bar[i];

	if (pci_bar_is_upper(d, i)) {
		b = &d->bar[i - 1];
		b->addr = ((uint64_t)v << 32 | (uint32_t)b->addr) & ~(b->size - 1);
		return;
	}
	if (!b->size)
		return;
	v &= (b->flags & PCI_BAR_IO) ? ~3u : ~15u;
	b->addr = ((b->addr & ~0xffffffffULL) | v) & ~(b->size - 1);
}

/*
 * Whether b should be decoded now, and where. A dword whose writable address bits
 * are all set is the sizing pattern (software writes all ones and reads back),
 * never a placement; decoding it would claim the top of the address space.
 */
bool pci_bar_addr_decodes(const struct pci_bar *b, uint64_t a)
{
	uint32_t lo_bits, hi_bits;

	if (!b->size || !a)
		return false;
	/* x86 port space ends at 0xffff; higher I/O addresses decode nothing. */
	if (b->flags & PCI_BAR_IO)
		return a <= 0x10000 - b->size;
	if (a + b->size - 1 < a)
		return false;
	lo_bits = (uint32_t) ~(b->size - 1) & ~15u;
	hi_bits = (b->flags & PCI_BAR_MEM64) ? (uint32_t)(~(b->size - 1) >> 32) : 0;
	if (lo_bits && ((uint32_t)a & lo_bits) == lo_bits)
		return false;
	return !(hi_bits && ((uint32_t)(a >> 32) & hi_bits) == hi_bits);
}

static bool pci_bar_wanted(const struct pci_bar *b, uint64_t *addr)
{
	const struct pci_dev *d = b->dev;
	uint16_t enable = (b->flags & PCI_BAR_IO) ? PCI_CMD_IO : PCI_CMD_MEM;

	if (!d->host->attached || !(d->command & enable) || !pci_bar_addr_decodes(b, b->addr))
		return false;
	*addr = b->addr;
	return true;
}

enum bus_space pci_bar_space(const struct pci_bar *b)
{
	return (b->flags & PCI_BAR_IO) ? BUS_PIO : BUS_MMIO;
}

static void pci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bar *b = opaque;

	if (pci_msix_bar_access(b->dev, b->index, off, data, len, is_write))
		return;
	if (b->handler)
		b->handler(b->opaque, off, data, len, is_write);
	else if (!is_write)
		memset(data, 0, len);
}

void pci_bar_unmap_stale(struct pci_bar *b)
{
	struct pci_dev *d = b->dev;
	uint64_t addr;

	if (!b->mapped || (pci_bar_wanted(b, &addr) && addr == b->map_addr))
		return;
	bus_unregister(d->host->bus, pci_bar_space(b), b->map_addr);
	b->mapped = false;
	if (d->ops && d->ops->bar_moved)
		d->ops->bar_moved(d->opaque, b->index, b->map_addr, false);
}

void pci_bar_map_wanted(struct pci_bar *b)
{
	struct pci_dev *d = b->dev;
	uint64_t addr;
	int rc;

	if (b->mapped || !pci_bar_wanted(b, &addr))
		return;
	rc = bus_register(d->host->bus, pci_bar_space(b), addr, b->size, pci_bar_io, b,
			  d->info->name);
	if (rc) {
		/* A guest that keeps moving BARs onto other ranges must not flood the log. */
		if (b->refused != addr) {
			enum log_level lvl = d->overlap_warnings < PCI_OVERLAP_WARNINGS ? LOG_WARN
											 : LOG_DEBUG;
			log_msg(lvl, "pci",
				"%s (slot %d): BAR%d at 0x%" PRIx64 " (%" PRIu64
				" bytes) overlaps another range (%s); left unmapped%s",
				d->info->name, d->slot, b->index, addr, b->size, strerror(-rc),
				++d->overlap_warnings == PCI_OVERLAP_WARNINGS
					? " (further overlaps of this device: debug level)"
					: "");
		}
		b->refused = addr;
		return;
	}
	b->refused = 0;
	b->mapped = true;
	b->map_addr = addr;
	if (d->ops && d->ops->bar_moved)
		d->ops->bar_moved(d->opaque, b->index, addr, true);
}

/* ---- Configuration space of one function ---- */

static uint16_t pci_status(struct pci_dev *d)
{
	uint16_t st = d->status;

	if (d->cap_last)
		st |= PCI_STS_CAP_LIST;
	if (pci_intx_status(d))
		st |= PCI_STS_INTX;
	return st;
}

/* One dword of the header (reg < 0x40, dword aligned). */
static uint32_t pci_header_read(struct pci_dev *d, uint32_t reg)
{
	if (reg == PCI_COMMAND)
		return d->command | (uint32_t)pci_status(d) << 16;
	if (reg >= PCI_BAR0 && reg < PCI_BAR0 + 4 * PCI_NUM_BARS)
		return pci_bar_read(d, (int)(reg - PCI_BAR0) / 4);
	if (reg == PCI_ROM_BAR)
		return 0;
	return pci_get_le(d->cfg + reg, 4);
}

/* v holds the written bytes in their dword positions; bytes = their byte lanes. */
static void pci_header_write(struct pci_dev *d, uint32_t reg, uint32_t v, uint32_t bytes)
{
	uint16_t cmd;

	switch (reg) {
	case PCI_COMMAND:
		cmd = (uint16_t)((d->command & ~bytes) | (v & bytes)) & PCI_CMD_WRITABLE;
		d->status &= (uint16_t) ~((v & bytes) >> 16 & PCI_STS_W1C);
		if (cmd != d->command) {
			d->command = cmd;
			pci_intx_command(d, cmd);
			pci_host_remap(d->host);
		}
		break;
	case PCI_CACHE_LINE:
		/* Cache line size is read/write storage; latency timer, BIST: 0. */
		if (bytes & 0xff)
			d->cfg[PCI_CACHE_LINE] = (uint8_t)v;
		break;
	case PCI_INTERRUPT_LINE:
		if (bytes & 0xff)
			d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)v;
		break;
	default:
		if (reg >= PCI_BAR0 && reg < PCI_BAR0 + 4 * PCI_NUM_BARS) {
			int i = (int)(reg - PCI_BAR0) / 4;

			pci_bar_write(d, i, (pci_bar_read(d, i) & ~bytes) | (v & bytes));
			pci_host_remap(d->host);
		}
		/* IDs, class, header type, subsystem, capability pointer, pin: read-only. */
		break;
	}
}

/* len bytes at off, within one dword; config lock held. */
uint32_t pci_dev_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len)
{
	uint32_t val = 0;

	if (off < PCI_CFG_CAP0)
		return (pci_header_read(d, off & ~3u) >> ((off & 3) * 8)) & pci_len_mask(len);
	if (pci_msix_owns(d, off))
		return pci_msix_cfg_read(d, off, len);
	if (off < PCI_CFG_SIZE)
		val = pci_get_le(d->cfg + off, len);
	if (d->ops && d->ops->cfg_read)
		d->ops->cfg_read(d->opaque, off, len, &val);
	return val & pci_len_mask(len);
}

void pci_dev_cfg_write(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val)
{
	uint32_t shift = (off & 3) * 8;

	val &= pci_len_mask(len);
	if (off < PCI_CFG_CAP0) {
		pci_header_write(d, off & ~3u, val << shift, pci_len_mask(len) << shift);
		return;
	}
	if (pci_msix_owns(d, off)) {
		pci_msix_cfg_write(d, off, len, val);
		return;
	}
	if (d->ops && d->ops->cfg_write && d->ops->cfg_write(d->opaque, off, len, val) &&
	    off + len <= PCI_CFG_SIZE)
		pci_put_le(d->cfg + off, len, val);
}

/* ---- Devices ---- */

struct pci_dev *pci_dev_new(struct pci_host *h, int slot, const struct pci_dev_info *info,
			    const struct pci_dev_ops *ops, void *opaque)
{
	struct pci_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->host = h;
	d->slot = slot;
	d->info = info;
	d->ops = ops;
	d->opaque = opaque;
	pci_put_le(d->cfg + PCI_VENDOR_ID, 2, info->vendor_id);
	pci_put_le(d->cfg + PCI_VENDOR_ID + 2, 2, info->device_id);
	pci_put_le(d->cfg + PCI_REVISION, 4, (uint32_t)info->revision | info->class_code << 8);
	pci_put_le(d->cfg + PCI_SUBSYS_VENDOR, 2, info->subsys_vendor_id);
	pci_put_le(d->cfg + PCI_SUBSYS_VENDOR + 2, 2, info->subsys_id);
	d->cfg[PCI_INTERRUPT_PIN] = info->intx_pin;
	/* As firmware would report the routing; 0 when there is no pin. */
	d->cfg[PCI_INTERRUPT_LINE] =
	    info->intx_pin ? (uint8_t)pci_intx_gsi((unsigned)slot, info->intx_pin) : 0;
	d->cap_end = PCI_CFG_CAP0;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		d->bar[i].dev = d;
		d->bar[i].index = i;
	}
	h->dev[slot] = d;
	return d;
}

struct pci_dev *pci_dev_create(struct pci_host *h, int slot, const struct pci_dev_info *info,
			       const struct pci_dev_ops *ops, void *opaque)
{
	struct pci_dev *d = NULL;

	if (!h || !info || !info->name || info->intx_pin > 4 || slot == 0 || slot < -1 ||
	    slot >= PCI_MAX_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&h->cfg_lock);
	if (slot < 0)
		for (slot = 1; slot < PCI_MAX_SLOTS && h->dev[slot]; slot++)
			;
	if (slot >= PCI_MAX_SLOTS)
		errno = ENOSPC;
	else if (h->dev[slot])
		errno = EBUSY;
	else
		d = pci_dev_new(h, slot, info, ops, opaque);
	pthread_mutex_unlock(&h->cfg_lock);
	return d;
}

int pci_dev_slot(const struct pci_dev *d)
{
	return d->slot;
}

static bool pci_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Next size-aligned address in the window for this kind of BAR. */
static int pci_host_alloc(struct pci_host *h, unsigned flags, uint64_t size, uint64_t *addr)
{
	uint64_t *cur = &h->next_mem32, base = h->cfg.mem32_base, wsize = h->cfg.mem32_size, a;

	if (flags & PCI_BAR_IO) {
		cur = &h->next_io;
		base = h->cfg.io_base;
		wsize = h->cfg.io_size;
	} else if ((flags & PCI_BAR_MEM64) && h->cfg.mem64_size) {
		cur = &h->next_mem64;
		base = h->cfg.mem64_base;
		wsize = h->cfg.mem64_size;
	}
	a = (*cur + size - 1) & ~(size - 1);
	if (a < *cur || a - base > wsize || size > wsize - (a - base))
		return -ENOSPC;
	*cur = a + size;
	*addr = a;
	return 0;
}

int pci_dev_set_bar(struct pci_dev *d, int bar, uint64_t size, unsigned flags,
		    bus_handler_fn handler, void *opaque)
{
	struct pci_host *h = d->host;
	struct pci_bar *b;
	uint64_t addr;
	int rc;

	if (bar < 0 || bar >= PCI_NUM_BARS || !pci_is_pow2(size) ||
	    (flags & ~(PCI_BAR_IO | PCI_BAR_MEM64 | PCI_BAR_PREFETCH)))
		return -EINVAL;
	if (flags & PCI_BAR_IO) {
		if ((flags & ~PCI_BAR_IO) || size < 4 || size > 256)
			return -EINVAL;
	} else if (size < 16 || ((flags & PCI_BAR_MEM64) ? size > (1ULL << 62) || bar == 5
							 : size > (1ULL << 31))) {
		return -EINVAL;
	}
	pthread_mutex_lock(&h->cfg_lock);
	b = &d->bar[bar];
	if (b->size || pci_bar_is_upper(d, bar) ||
	    ((flags & PCI_BAR_MEM64) && d->bar[bar + 1].size)) {
		rc = -EBUSY;
		goto out;
	}
	rc = pci_host_alloc(h, flags, size, &addr);
	if (rc)
		goto out;
	b->size = size;
	b->flags = flags;
	b->addr = addr;
	b->handler = handler;
	b->opaque = opaque;
	pci_host_remap(h);
out:
	pthread_mutex_unlock(&h->cfg_lock);
	return rc;
}

int pci_dev_add_cap_locked(struct pci_dev *d, uint8_t id, const void *body, size_t len,
			   uint8_t *offset)
{
	size_t at = d->cap_end;

	if (len > PCI_CFG_SIZE || (len && !body))
		return -EINVAL;
	if (at + 2 + len > PCI_CFG_SIZE)
		return -ENOSPC;
	d->cfg[at] = id;
	d->cfg[at + 1] = 0;
	if (len)
		memcpy(d->cfg + at + 2, body, len);
	if (d->cap_last)
		d->cfg[d->cap_last + 1] = (uint8_t)at;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)at;
	d->cap_last = (uint8_t)at;
	/* Capabilities are dword aligned (6.7); the last one may end at 0x100. */
	d->cap_end = (uint8_t)((at + 2 + len + 3) & ~(size_t)3 & 0xff);
	if (!d->cap_end)
		d->cap_end = 0xfc; /* full: the next add fails the size check */
	if (offset)
		*offset = (uint8_t)at;
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, size_t len, uint8_t *offset)
{
	int rc;

	pthread_mutex_lock(&d->host->cfg_lock);
	rc = pci_dev_add_cap_locked(d, id, body, len, offset);
	pthread_mutex_unlock(&d->host->cfg_lock);
	return rc;
}
