/* SPDX-License-Identifier: MIT */
/*
 * A PCI function's interrupts: MSI-X and INTx (see pci.h).
 *
 * MSI-X (PCIe Base 4.0, 6.1.4 and 7.7.2; PCI Local Bus 3.0, 6.8.2): the
 * capability's Message Control holds the table size (N-1, read-only), Function
 * Mask and MSI-X Enable; Table and PBA Offset/BIR say where in which BAR the
 * table (16 bytes per vector: address low/high, data, vector control with its
 * mask bit) and the pending bit array live. Both are emulated here, inside the
 * BAR, before the device's own BAR handler is consulted, so a device never sees
 * those bytes. Software should use aligned dword or qword accesses (7.7.2); any
 * other access is served byte by byte rather than refused, as that costs nothing.
 * Address bits 1:0 and the reserved vector control bits read 0; the PBA is
 * read-only.
 *
 * A vector is masked while its mask bit or the function mask is set or MSI-X is
 * disabled; a message for a masked vector sets its pending bit and is sent when
 * the vector becomes unmasked (6.1.4.5). The machine hears of every change to a
 * vector's message or masking through pci_msi_ops.set_vector, so it can keep
 * KVM GSI routes and irqfds in step, and sends messages through notify.
 *
 * INTx (PCI 3.0, 2.2.6 and 6.2.4): level-sensitive, shared. A function drives its
 * pin only while Interrupt Disable is clear and MSI-X is off (6.8.2: a function
 * with MSI-X enabled must not use INTx); its status bit 3 follows the pin
 * regardless. The GSI of each slot and pin is fixed (pci_intx_gsi()); the host
 * ORs all functions on a GSI, since the irq sink keeps one level per GSI.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci.h"
#include "hw/pci_internal.h"
#include "util/log.h"

/* ---- INTx ---- */

/* irq_lock held. */
static void pci_intx_sync(struct pci_dev *d)
{
	struct pci_host *h = d->host;
	unsigned pin = d->info->intx_pin, idx;
	bool drive = pin && d->intx_level && !d->intx_disabled &&
		     !(d->msix && (d->msix->ctrl & PCI_MSIX_CTRL_ENABLE));
	uint32_t gsi, before;

	if (drive == d->intx_driven)
		return;
	d->intx_driven = drive;
	gsi = pci_intx_gsi((unsigned)d->slot, pin);
	idx = gsi - PCI_INTX_GSI_BASE;
	before = h->intx_slots[idx];
	if (drive)
		h->intx_slots[idx] |= 1u << d->slot;
	else
		h->intx_slots[idx] &= ~(1u << d->slot);
	if (!before != !h->intx_slots[idx])
		irq_set_level(&h->irq, gsi, h->intx_slots[idx] ? 1 : 0);
}

void pci_dev_set_intx(struct pci_dev *d, int level)
{
	pthread_mutex_lock(&d->host->irq_lock);
	d->intx_level = level != 0;
	pci_intx_sync(d);
	pthread_mutex_unlock(&d->host->irq_lock);
}

void pci_intx_command(struct pci_dev *d, uint16_t command)
{
	pthread_mutex_lock(&d->host->irq_lock);
	d->intx_disabled = command & PCI_CMD_INTX_DISABLE;
	pci_intx_sync(d);
	pthread_mutex_unlock(&d->host->irq_lock);
}

bool pci_intx_status(struct pci_dev *d)
{
	bool level;

	pthread_mutex_lock(&d->host->irq_lock);
	level = d->intx_level;
	pthread_mutex_unlock(&d->host->irq_lock);
	return level;
}

/* ---- MSI-X vectors (irq_lock held) ---- */

static bool pci_msix_masked(const struct pci_msix *m, unsigned v)
{
	return !(m->ctrl & PCI_MSIX_CTRL_ENABLE) || (m->ctrl & PCI_MSIX_CTRL_FMASK) ||
	       (m->table[v].w[MSIX_CTRL] & PCI_MSIX_ENTRY_MASK);
}

static uint64_t pci_msix_addr(const struct pci_msix *m, unsigned v)
{
	return (uint64_t)m->table[v].w[MSIX_ADDR_HI] << 32 | m->table[v].w[MSIX_ADDR_LO];
}

static void pci_msix_send(struct pci_dev *d, unsigned v)
{
	struct pci_host *h = d->host;

	if (h->msi && h->msi->notify)
		h->msi->notify(h->msi_opaque, pci_msix_addr(d->msix, v),
			       d->msix->table[v].w[MSIX_DATA]);
}

/* Vector v's message or masking changed: tell the machine, flush a pending message. */
static void pci_msix_vector_changed(struct pci_dev *d, unsigned v)
{
	struct pci_host *h = d->host;
	struct pci_msix *m = d->msix;
	bool masked = pci_msix_masked(m, v);
	uint64_t bit = 1ULL << (v % 64);
	int rc;

	if (h->msi && h->msi->set_vector) {
		rc = h->msi->set_vector(h->msi_opaque, d, v, pci_msix_addr(m, v),
					m->table[v].w[MSIX_DATA], masked);
		if (rc && !m->warned) {
			log_warn("pci", "%s (slot %d): cannot route MSI-X vector %u: %s",
				 d->info->name, d->slot, v, strerror(-rc));
			m->warned = true;
		}
	}
	if (!masked && (m->pba[v / 64] & bit)) {
		m->pba[v / 64] &= ~bit;
		pci_msix_send(d, v);
	}
}

static void pci_msix_set_ctrl(struct pci_dev *d, uint16_t ctrl)
{
	struct pci_msix *m = d->msix;
	bool fn_before = !(m->ctrl & PCI_MSIX_CTRL_ENABLE) || (m->ctrl & PCI_MSIX_CTRL_FMASK);
	bool fn_after = !(ctrl & PCI_MSIX_CTRL_ENABLE) || (ctrl & PCI_MSIX_CTRL_FMASK);

	m->ctrl = ctrl;
	/* Vectors masked on their own stay masked either way. */
	if (fn_before != fn_after)
		for (unsigned v = 0; v < m->nvec; v++)
			if (!(m->table[v].w[MSIX_CTRL] & PCI_MSIX_ENTRY_MASK))
				pci_msix_vector_changed(d, v);
	pci_intx_sync(d);
}

void pci_msix_resync(struct pci_dev *d)
{
	for (unsigned v = 0; d->msix && v < d->msix->nvec; v++)
		pci_msix_vector_changed(d, v);
	pci_intx_sync(d);
}

int pci_dev_msix_notify(struct pci_dev *d, unsigned vec)
{
	struct pci_msix *m = d->msix;
	int rc = 0;

	if (!m)
		return -ENOENT;
	if (vec >= m->nvec)
		return -EINVAL;
	pthread_mutex_lock(&d->host->irq_lock);
	if (!(m->ctrl & PCI_MSIX_CTRL_ENABLE))
		rc = -ENOENT;
	else if (pci_msix_masked(m, vec))
		m->pba[vec / 64] |= 1ULL << (vec % 64);
	else
		pci_msix_send(d, vec);
	pthread_mutex_unlock(&d->host->irq_lock);
	return rc;
}

bool pci_dev_msix_enabled(struct pci_dev *d)
{
	bool on;

	if (!d->msix)
		return false;
	pthread_mutex_lock(&d->host->irq_lock);
	on = d->msix->ctrl & PCI_MSIX_CTRL_ENABLE;
	pthread_mutex_unlock(&d->host->irq_lock);
	return on;
}

/* ---- The table and PBA inside the BAR ---- */

static bool pci_range_hit(uint64_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < (uint64_t)start + n && off + len > start;
}

static uint8_t pci_msix_read_byte(const struct pci_msix *m, uint64_t o)
{
	if (o >= m->table_off && o - m->table_off < m->table_len) {
		uint64_t t = o - m->table_off;

		return (uint8_t)(m->table[t / 16].w[(t % 16) / 4] >> (8 * (t % 4)));
	}
	if (o >= m->pba_off && o - m->pba_off < m->pba_len) {
		uint64_t p = o - m->pba_off;

		return (uint8_t)(m->pba[p / 8] >> (8 * (p % 8)));
	}
	return 0;
}

bool pci_msix_bar_access(struct pci_dev *d, int bar, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct pci_msix *m = d->msix;

	/* The layout is fixed before the VM runs, so it is read without the lock. */
	if (!m || m->bar != bar ||
	    (!pci_range_hit(off, len, m->table_off, m->table_len) &&
	     !pci_range_hit(off, len, m->pba_off, m->pba_len)))
		return false;
	pthread_mutex_lock(&d->host->irq_lock);
	if (!is_write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = pci_msix_read_byte(m, off + i);
		pthread_mutex_unlock(&d->host->irq_lock);
		return true;
	}
	for (uint32_t i = 0; i < len;) {
		uint64_t t = off + i - m->table_off;
		struct pci_msix_entry old;
		unsigned v;

		if (off + i < m->table_off || t >= m->table_len) {
			i++; /* PBA and the gap around it: read-only */
			continue;
		}
		/* Every byte of this access that falls into vector v's entry. */
		v = (unsigned)(t / PCI_MSIX_ENTRY_SIZE);
		old = m->table[v];
		for (; i < len && t < m->table_len && t / PCI_MSIX_ENTRY_SIZE == v; i++, t++) {
			uint32_t *w = &m->table[v].w[(t % 16) / 4];
			unsigned sh = 8 * (t % 4);

			*w = (*w & ~(0xffu << sh)) | (uint32_t)data[i] << sh;
		}
		m->table[v].w[MSIX_ADDR_LO] &= ~3u;
		m->table[v].w[MSIX_CTRL] &= PCI_MSIX_ENTRY_MASK;
		if (memcmp(&old, &m->table[v], sizeof(old)))
			pci_msix_vector_changed(d, v);
	}
	pthread_mutex_unlock(&d->host->irq_lock);
	return true;
}

/* ---- The capability in config space (config lock held) ---- */

bool pci_msix_owns(const struct pci_dev *d, uint32_t off)
{
	return d->msix && off >= d->msix->cap && off < d->msix->cap + (uint32_t)PCI_MSIX_CAP_LEN;
}

static void pci_msix_cap_bytes(struct pci_dev *d, uint8_t out[PCI_MSIX_CAP_LEN])
{
	struct pci_msix *m = d->msix;
	uint16_t ctrl;

	pthread_mutex_lock(&d->host->irq_lock);
	ctrl = (uint16_t)((m->nvec - 1) | m->ctrl);
	pthread_mutex_unlock(&d->host->irq_lock);
	/* ID, next pointer and the two offset registers are as pci_dev_init_msix stored them. */
	memcpy(out, d->cfg + m->cap, PCI_MSIX_CAP_LEN);
	out[PCI_MSIX_CTRL] = (uint8_t)ctrl;
	out[PCI_MSIX_CTRL + 1] = (uint8_t)(ctrl >> 8);
}

uint32_t pci_msix_cfg_read(struct pci_dev *d, uint32_t off, uint32_t len)
{
	uint8_t cap[PCI_MSIX_CAP_LEN];
	uint32_t v = 0;

	pci_msix_cap_bytes(d, cap);
	for (uint32_t i = 0; i < len && off + i - d->msix->cap < PCI_MSIX_CAP_LEN; i++)
		v |= (uint32_t)cap[off + i - d->msix->cap] << (8 * i);
	return v;
}

void pci_msix_cfg_write(struct pci_dev *d, uint32_t off, uint32_t len, uint32_t val)
{
	struct pci_msix *m = d->msix;
	uint32_t hi = m->cap + PCI_MSIX_CTRL + 1;
	uint16_t ctrl;

	/* Only Message Control's upper byte has writable bits: enable and function mask. */
	if (off > hi || off + len <= hi)
		return;
	ctrl = (uint16_t)(((val >> (8 * (hi - off))) & 0xff) << 8) &
	       (PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FMASK);
	pthread_mutex_lock(&d->host->irq_lock);
	if (ctrl != m->ctrl)
		pci_msix_set_ctrl(d, ctrl);
	pthread_mutex_unlock(&d->host->irq_lock);
}

void pci_msix_free(struct pci_msix *m)
{
	if (!m)
		return;
	free(m->table);
	free(m->pba);
	free(m);
}

int pci_dev_init_msix(struct pci_dev *d, unsigned nvec, int bar, uint32_t table_offset,
		      uint32_t pba_offset)
{
	struct pci_host *h = d->host;
	struct pci_msix *m;
	uint8_t body[PCI_MSIX_CAP_LEN - 2];
	uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, plen = ((uint64_t)nvec + 63) / 64 * 8;
	uint64_t size;
	int rc;

	if (nvec < 1 || nvec > PCI_MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_NUM_BARS ||
	    (table_offset & 7) || (pba_offset & 7))
		return -EINVAL;
	pthread_mutex_lock(&h->cfg_lock);
	size = d->bar[bar].size;
	rc = d->msix ? -EBUSY : 0;
	if (!rc && (!size || (d->bar[bar].flags & PCI_BAR_IO) || table_offset > size ||
		    tlen > size - table_offset || pba_offset > size || plen > size - pba_offset ||
		    pci_range_hit(table_offset, (uint32_t)tlen, pba_offset, (uint32_t)plen)))
		rc = -EINVAL;
	if (rc)
		goto out;
	m = calloc(1, sizeof(*m));
	if (m) {
		m->table = calloc(nvec, sizeof(*m->table));
		m->pba = calloc((size_t)(plen / 8), sizeof(*m->pba));
	}
	if (!m || !m->table || !m->pba) {
		pci_msix_free(m);
		rc = -ENOMEM;
		goto out;
	}
	m->nvec = nvec;
	m->bar = bar;
	m->table_off = table_offset;
	m->table_len = (uint32_t)tlen;
	m->pba_off = pba_offset;
	m->pba_len = (uint32_t)plen;
	for (unsigned v = 0; v < nvec; v++)
		m->table[v].w[MSIX_CTRL] = PCI_MSIX_ENTRY_MASK; /* masked at reset (7.7.2.9) */
	/* Message Control, then Table and PBA Offset/BIR (offset bits 31:3, BIR 2:0). */
	body[0] = (uint8_t)(nvec - 1);
	body[1] = (uint8_t)((nvec - 1) >> 8);
	for (int i = 0; i < 4; i++) {
		body[2 + i] = (uint8_t)((table_offset | (uint32_t)bar) >> (8 * i));
		body[6 + i] = (uint8_t)((pba_offset | (uint32_t)bar) >> (8 * i));
	}
	rc = pci_dev_add_cap_locked(d, PCI_CAP_ID_MSIX, body, sizeof(body), &m->cap);
	if (rc) {
		pci_msix_free(m);
		goto out;
	}
	pthread_mutex_lock(&h->irq_lock);
	d->msix = m;
	pthread_mutex_unlock(&h->irq_lock);
out:
	pthread_mutex_unlock(&h->cfg_lock);
	return rc;
}
