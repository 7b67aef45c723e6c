/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of a PCI function (pci.h "Snapshots"; the layout is in
 * docs/snapshot-format.md, "PCI function state"): what the guest wrote into
 * its type 0 header (PCI Local Bus 3.0, 6.2), the bytes stored past it, and
 * its MSI-X capability, table and PBA (PCIe Base 4.0, 7.7.2).
 *
 * The fixed parts (identity, BAR sizes and types, the capability list, the
 * MSI-X table size) are not restored but compared: a snapshot of another
 * device, or of this one configured differently, is refused. Every value the
 * guest could have written is checked to be one it could have written. A BAR
 * goes back wherever the guest had put it, as pci_bar_write lets a running
 * guest put it, inside the host's windows or not: a guest that moved one must
 * not get a snapshot that saves but cannot be restored. Where it would
 * overlap another range it stays unmapped, as it did live.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci.h"
#include "hw/pci_internal.h"
#include "state/buf.h"

#define PCI_STATE_VERSION 1
#define PCI_STORED_LEN	  (PCI_CFG_SIZE - PCI_CFG_CAP0) /* bytes 0x40..0xff */

struct pci_dev_loaded {
	uint16_t command, status;
	uint8_t cache_line, int_line;
	bool intx_level;
	uint64_t bar_addr[PCI_NUM_BARS];
	uint8_t stored[PCI_STORED_LEN];
	unsigned nvec;
	uint16_t msix_ctrl;
	struct pci_msix_entry *table;
	uint64_t *pba;
};

static unsigned pci_pba_words(unsigned nvec)
{
	return (nvec + 63) / 64;
}

int pci_dev_save(struct pci_dev *d, struct state_buf *b)
{
	struct pci_host *h = d->host;
	const struct pci_dev_info *info = d->info;
	struct pci_msix *m = d->msix;

	pthread_mutex_lock(&h->cfg_lock);
	state_put_u32(b, PCI_STATE_VERSION);
	state_put_u8(b, (uint8_t)d->slot);
	state_put_u16(b, info->vendor_id);
	state_put_u16(b, info->device_id);
	state_put_u16(b, info->subsys_vendor_id);
	state_put_u16(b, info->subsys_id);
	state_put_u32(b, info->class_code);
	state_put_u8(b, info->revision);
	state_put_u8(b, info->intx_pin);
	state_put_u16(b, d->command);
	state_put_u16(b, d->status);
	state_put_u8(b, d->cfg[PCI_CACHE_LINE]);
	state_put_u8(b, d->cfg[PCI_INTERRUPT_LINE]);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		state_put_u32(b, d->bar[i].flags);
		state_put_u64(b, d->bar[i].size);
		state_put_u64(b, d->bar[i].addr);
	}
	state_put_bytes(b, d->cfg + PCI_CFG_CAP0, PCI_STORED_LEN);
	pthread_mutex_lock(&h->irq_lock);
	state_put_u8(b, d->intx_level);
	state_put_u16(b, m ? (uint16_t)m->nvec : 0);
	if (m) {
		state_put_u16(b, m->ctrl);
		for (unsigned v = 0; v < m->nvec; v++)
			for (int w = 0; w < 4; w++)
				state_put_u32(b, m->table[v].w[w]);
		for (unsigned i = 0; i < pci_pba_words(m->nvec); i++)
			state_put_u64(b, m->pba[i]);
	}
	pthread_mutex_unlock(&h->irq_lock);
	pthread_mutex_unlock(&h->cfg_lock);
	return b->error;
}

void pci_dev_load_discard(struct pci_dev_loaded *s)
{
	if (!s)
		return;
	free(s->table);
	free(s->pba);
	free(s);
}

__attribute__((format(printf, 4, 5))) static int pci_refuse(struct state_reader *r, char *why,
							    size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (why && whylen)
		vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	state_reader_fail(r);
	return -EINVAL;
}

/* Identity, header registers and BARs; config lock held. */
static int pci_parse_header(struct pci_dev *d, struct state_reader *r, struct pci_dev_loaded *s,
			    char *why, size_t whylen)
{
	const struct pci_dev_info *info = d->info;
	uint8_t slot = state_get_u8(r);
	uint16_t vendor = state_get_u16(r), device = state_get_u16(r);
	uint16_t svendor = state_get_u16(r), sid = state_get_u16(r);
	uint32_t class_code = state_get_u32(r);
	uint8_t revision = state_get_u8(r), pin = state_get_u8(r);

	if (r->error)
		return pci_refuse(r, why, whylen, "truncated");
	if (slot != d->slot || vendor != info->vendor_id || device != info->device_id ||
	    svendor != info->subsys_vendor_id || sid != info->subsys_id ||
	    class_code != info->class_code || revision != info->revision || pin != info->intx_pin)
		return pci_refuse(r, why, whylen,
				  "slot %u holds %04x:%04x (class %06x) in the snapshot, but this "
				  "machine has %04x:%04x (class %06x) in slot %d",
				  slot, vendor, device, class_code, info->vendor_id,
				  info->device_id, info->class_code, d->slot);
	s->command = state_get_u16(r);
	s->status = state_get_u16(r);
	s->cache_line = state_get_u8(r);
	s->int_line = state_get_u8(r);
	if (r->error)
		return pci_refuse(r, why, whylen, "truncated");
	if ((s->command & ~PCI_CMD_WRITABLE) || (s->status & ~PCI_STS_W1C))
		return pci_refuse(r, why, whylen,
				  "command 0x%04x or status 0x%04x has bits no guest can set",
				  s->command, s->status);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *b = &d->bar[i];
		uint32_t flags = state_get_u32(r);
		uint64_t size = state_get_u64(r), a = state_get_u64(r);

		if (r->error)
			return pci_refuse(r, why, whylen, "truncated");
		if (flags != b->flags || size != b->size)
			return pci_refuse(r, why, whylen,
					  "BAR%d is %" PRIu64
					  " bytes (flags 0x%x) in the snapshot, "
					  "%" PRIu64 " bytes (flags 0x%x) here",
					  i, size, flags, b->size, b->flags);
		/* What pci_bar_write can leave: aligned, and within the register's width. */
		if ((!size && a) || (size && (a & (size - 1))) ||
		    (size && !(flags & PCI_BAR_MEM64) && a > 0xffffffffULL))
			return pci_refuse(r, why, whylen,
					  "BAR%d holds 0x%" PRIx64 ", which the BAR cannot hold", i,
					  a);
		s->bar_addr[i] = a;
	}
	return 0;
}

/*
 * The stored bytes at 0x40-0xff: the capability list (every capability's ID
 * and next pointer, and the MSI-X capability's table and PBA locations) is the
 * device's and must match; the rest is what it stored. The MSI-X table size
 * is compared with the table itself.
 */
static int pci_parse_stored(struct pci_dev *d, struct state_reader *r, struct pci_dev_loaded *s,
			    char *why, size_t whylen)
{
	const uint8_t *ours = d->cfg + PCI_CFG_CAP0;
	unsigned n = 0;

	state_get_bytes(r, s->stored, PCI_STORED_LEN);
	if (r->error)
		return pci_refuse(r, why, whylen, "truncated");
	for (unsigned at = d->cfg[PCI_CAP_PTR]; at >= PCI_CFG_CAP0 && n < 48; n++) {
		const uint8_t *a = s->stored + at - PCI_CFG_CAP0, *b = ours + at - PCI_CFG_CAP0;
		bool msix = d->msix && at == d->msix->cap;

		/* MSI-X: ID, next, table and PBA offsets; the table size is pci_parse_msix's. */
		if (memcmp(a, b, 2) || (msix && memcmp(a + PCI_MSIX_TABLE, b + PCI_MSIX_TABLE,
						       PCI_MSIX_CAP_LEN - PCI_MSIX_TABLE)))
			return pci_refuse(r, why, whylen,
					  "the capability at 0x%02x differs from this machine's",
					  at);
		at = d->cfg[at + 1];
	}
	return 0;
}

static int pci_parse_msix(struct pci_dev *d, struct state_reader *r, struct pci_dev_loaded *s,
			  char *why, size_t whylen)
{
	unsigned want = d->msix ? d->msix->nvec : 0;
	bool fn_masked;

	s->nvec = state_get_u16(r);
	if (r->error)
		return pci_refuse(r, why, whylen, "truncated");
	if (s->nvec != want)
		return pci_refuse(r, why, whylen,
				  "%u MSI-X vectors in the snapshot, %u on this machine's device",
				  s->nvec, want);
	if (!s->nvec)
		return 0;
	s->table = calloc(s->nvec, sizeof(*s->table));
	s->pba = calloc(pci_pba_words(s->nvec), sizeof(*s->pba));
	if (!s->table || !s->pba)
		return -ENOMEM;
	s->msix_ctrl = state_get_u16(r);
	for (unsigned v = 0; v < s->nvec; v++)
		for (int w = 0; w < 4; w++)
			s->table[v].w[w] = state_get_u32(r);
	for (unsigned i = 0; i < pci_pba_words(s->nvec); i++)
		s->pba[i] = state_get_u64(r);
	if (r->error)
		return pci_refuse(r, why, whylen, "truncated");
	if (s->msix_ctrl & ~(PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FMASK))
		return pci_refuse(r, why, whylen, "MSI-X control 0x%04x has read-only bits set",
				  s->msix_ctrl);
	fn_masked = !(s->msix_ctrl & PCI_MSIX_CTRL_ENABLE) || (s->msix_ctrl & PCI_MSIX_CTRL_FMASK);
	for (unsigned v = 0; v < s->nvec; v++) {
		const struct pci_msix_entry *e = &s->table[v];
		bool pending = s->pba[v / 64] >> (v % 64) & 1;

		if ((e->w[MSIX_ADDR_LO] & 3) || (e->w[MSIX_CTRL] & ~PCI_MSIX_ENTRY_MASK))
			return pci_refuse(r, why, whylen, "MSI-X vector %u has reserved bits set",
					  v);
		/* A pending message is sent the moment its vector is unmasked. */
		if (pending && !fn_masked && !(e->w[MSIX_CTRL] & PCI_MSIX_ENTRY_MASK))
			return pci_refuse(r, why, whylen, "MSI-X vector %u is pending but unmasked",
					  v);
	}
	for (unsigned v = s->nvec; v < pci_pba_words(s->nvec) * 64; v++)
		if (s->pba[v / 64] >> (v % 64) & 1)
			return pci_refuse(r, why, whylen, "pending bit %u is past the table", v);
	return 0;
}

int pci_dev_load_parse(struct pci_dev *d, struct state_reader *r, struct pci_dev_loaded **out,
		       char *why, size_t whylen)
{
	struct pci_host *h = d->host;
	struct pci_dev_loaded *s = calloc(1, sizeof(*s));
	uint8_t level;
	int rc;

	*out = NULL;
	if (why && whylen)
		why[0] = '\0';
	if (!s)
		return -ENOMEM;
	if (state_get_u32(r) != PCI_STATE_VERSION) {
		pci_dev_load_discard(s);
		return pci_refuse(r, why, whylen, "not PCI function state version %d",
				  PCI_STATE_VERSION);
	}
	pthread_mutex_lock(&h->cfg_lock);
	rc = pci_parse_header(d, r, s, why, whylen);
	if (!rc)
		rc = pci_parse_stored(d, r, s, why, whylen);
	pthread_mutex_unlock(&h->cfg_lock);
	if (!rc) {
		level = state_get_u8(r);
		if (r->error || level > 1 || (level && !d->info->intx_pin))
			rc = pci_refuse(r, why, whylen, "bad INTx level %u", level);
		s->intx_level = level;
	}
	if (!rc)
		rc = pci_parse_msix(d, r, s, why, whylen);
	if (rc) {
		state_reader_fail(r);
		pci_dev_load_discard(s);
		return rc;
	}
	*out = s;
	return 0;
}

void pci_dev_load_apply(struct pci_dev *d, struct pci_dev_loaded *s)
{
	struct pci_host *h = d->host;
	struct pci_msix *m = d->msix;

	pthread_mutex_lock(&h->cfg_lock);
	d->command = s->command;
	d->status = s->status;
	d->cfg[PCI_CACHE_LINE] = s->cache_line;
	d->cfg[PCI_INTERRUPT_LINE] = s->int_line;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		d->bar[i].addr = s->bar_addr[i];
	memcpy(d->cfg + PCI_CFG_CAP0, s->stored, PCI_STORED_LEN);
	pthread_mutex_lock(&h->irq_lock);
	if (m) {
		m->ctrl = s->msix_ctrl;
		memcpy(m->table, s->table, m->nvec * sizeof(*m->table));
		memcpy(m->pba, s->pba, pci_pba_words(m->nvec) * sizeof(*m->pba));
	}
	d->intx_level = s->intx_level;
	d->intx_disabled = s->command & PCI_CMD_INTX_DISABLE;
	pci_msix_resync(d);
	pthread_mutex_unlock(&h->irq_lock);
	/* BAR traps (and through bar_moved, a device's ioeventfds) where the guest put them. */
	pci_host_remap(h);
	pthread_mutex_unlock(&h->cfg_lock);
	pci_dev_load_discard(s);
}
