/* SPDX-License-Identifier: MIT */
/*
 * virtio over PCI, modern interface (virtio 1.2, 4.1; layout in pci.h).
 *
 * Discovery (4.1.2, 4.1.4): IDs 1af4:1040+ID revision 1, and one vendor
 * capability (ID 09h) per structure: common, notify (with its multiplier),
 * ISR and device configuration (only with a configuration space) all in BAR
 * 4, plus the PCI configuration access capability (4.1.4.9), through which
 * firmware reaches BAR 4 with config cycles alone.
 *
 * Common configuration (4.1.4.3) is a view of the core's registers: feature
 * words through the two selectors, queue registers through queue_select.
 * Drivers must use each field's natural width (4.1.3.1); 64-bit fields may
 * also be written as two dwords or one qword. Reads of any shape are served
 * (reading has no side effects); writes of another shape are ignored. MSI-X
 * vectors beyond the table read back as VIRTIO_MSI_NO_VECTOR (4.1.4.3.1 /
 * 4.1.5.1.2: the device reports that it could not map them).
 *
 * Interrupts (4.1.5.3, 4.1.5.4): with MSI-X enabled, the vector the driver
 * chose (none: no interrupt); otherwise the ISR status bits and INTA#, which
 * stays asserted until the driver reads ISR (read-to-clear).
 *
 * Notifications (4.1.4.4): queue q's address is notify + 4 * q, the driver
 * writes the queue index there (we do not offer VIRTIO_F_NOTIFICATION_DATA,
 * so the value carries nothing else). Each queue has an eventfd that the
 * machine binds to that address with KVM_IOEVENTFD while BAR 4 is decoded
 * (bar_moved), read by the I/O thread. Any write that still exits is handled
 * the same way on the vCPU thread.
 *
 * State and locks: the register selectors are atomics (a driver serialises
 * its own select-then-access sequences); the ISR byte and the configuration
 * vector are under the device lock, because the core's transport callbacks
 * read them with it held; the notify addresses and the PCI configuration
 * access window are under the PCI config lock (bar_moved and the cfg hooks).
 * Lock order: PCI config lock, device lock, PCI irq lock.
 */
#include "virtio/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

#define VPCI_CAP_LEN	    16 /* struct virtio_pci_cap */
#define VPCI_NOTIFY_CAP_LEN 20 /* + notify_off_multiplier */
#define VPCI_CFG_CAP_LEN    20 /* + pci_cfg_data[4] */
#define VPCI_CFG_CAP_BAR    4  /* offsets inside struct virtio_pci_cfg_cap */
#define VPCI_CFG_CAP_OFFSET 8
#define VPCI_CFG_CAP_LENGTH 12
#define VPCI_CFG_CAP_DATA   16

struct virtio_pci_queue {
	struct virtio_pci *p;
	unsigned index;
	int fd;	       /* eventfd, -1: notifications of this queue exit */
	bool assigned; /* bound to addr by the machine (config lock) */
	uint64_t addr;
};

struct virtio_pci {
	struct virtio_dev *vdev;
	struct pci_dev *pdev;
	struct pci_dev_info info;
	unsigned nvec; /* MSI-X vectors: one per queue, one for configuration */
	const struct ioevent_ops *io;
	void *io_opaque;
	struct virtio_pci_queue *queues;

	_Atomic uint32_t dfselect, gfselect;
	_Atomic uint16_t queue_select;

	/* Device lock. */
	uint16_t config_vector;
	uint8_t isr;

	/* PCI config lock. */
	uint8_t cfg_cap; /* config offset of the PCI configuration access capability */
	uint8_t cfg_bar;
	uint32_t cfg_offset, cfg_length;
	bool warned_eventfd;

	atomic_bool warned_exit, warned_access;
};

/* ---- Interrupts (transport callbacks: device lock held) ---- */

static void vpci_interrupt(struct virtio_pci *p, uint16_t vector, uint8_t isr_bit)
{
	if (vector != VIRTIO_NO_VECTOR) {
		if (pci_dev_msix_notify(p->pdev, vector) != -ENOENT)
			return; /* sent, or pending behind a mask */
	} else if (pci_dev_msix_enabled(p->pdev)) {
		return; /* the driver asked for no interrupt */
	}
	p->isr |= isr_bit;
	pci_dev_set_intx(p->pdev, 1);
}

static void vpci_notify_queue(void *t, unsigned q, uint16_t vector)
{
	(void)q;
	vpci_interrupt(t, vector, VIRTIO_PCI_ISR_QUEUE);
}

static void vpci_notify_config(void *t)
{
	struct virtio_pci *p = t;

	vpci_interrupt(p, p->config_vector, VIRTIO_PCI_ISR_CONFIG);
}

static const struct virtio_transport_ops vpci_transport_ops = {
    .notify_queue = vpci_notify_queue,
    .notify_config = vpci_notify_config,
};

static uint8_t vpci_isr_read(struct virtio_pci *p)
{
	uint8_t v;

	virtio_dev_lock(p->vdev);
	v = p->isr;
	p->isr = 0;
	pci_dev_set_intx(p->pdev, 0);
	virtio_dev_unlock(p->vdev);
	return v;
}

/* A vector the driver may use: one of ours, or none. */
static uint16_t vpci_vector(const struct virtio_pci *p, uint32_t v)
{
	return v < p->nvec ? (uint16_t)v : VIRTIO_NO_VECTOR;
}

/* ---- Common configuration ---- */

/* Fields of struct virtio_pci_common_cfg: offset and width. */
static const struct {
	uint8_t off, size;
} vpci_fields[] = {
    {VIRTIO_PCI_COMMON_DFSELECT, 4},  {VIRTIO_PCI_COMMON_DF, 4},
    {VIRTIO_PCI_COMMON_GFSELECT, 4},  {VIRTIO_PCI_COMMON_GF, 4},
    {VIRTIO_PCI_COMMON_MSIX, 2},      {VIRTIO_PCI_COMMON_NUMQ, 2},
    {VIRTIO_PCI_COMMON_STATUS, 1},    {VIRTIO_PCI_COMMON_CFGGEN, 1},
    {VIRTIO_PCI_COMMON_Q_SELECT, 2},  {VIRTIO_PCI_COMMON_Q_SIZE, 2},
    {VIRTIO_PCI_COMMON_Q_MSIX, 2},    {VIRTIO_PCI_COMMON_Q_ENABLE, 2},
    {VIRTIO_PCI_COMMON_Q_NOFF, 2},    {VIRTIO_PCI_COMMON_Q_DESCLO, 4},
    {VIRTIO_PCI_COMMON_Q_DESCHI, 4},  {VIRTIO_PCI_COMMON_Q_AVAILLO, 4},
    {VIRTIO_PCI_COMMON_Q_AVAILHI, 4}, {VIRTIO_PCI_COMMON_Q_USEDLO, 4},
    {VIRTIO_PCI_COMMON_Q_USEDHI, 4},
};
#define VPCI_NFIELDS (sizeof(vpci_fields) / sizeof(vpci_fields[0]))

/* The queue register behind a common configuration offset, or -1. */
static int vpci_queue_reg(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return VIRTIO_QUEUE_SIZE;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return VIRTIO_QUEUE_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return VIRTIO_QUEUE_ENABLE;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		return VIRTIO_QUEUE_DESC_LO;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		return VIRTIO_QUEUE_DESC_HI;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		return VIRTIO_QUEUE_DRIVER_LO;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		return VIRTIO_QUEUE_DRIVER_HI;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return VIRTIO_QUEUE_DEVICE_LO;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return VIRTIO_QUEUE_DEVICE_HI;
	default:
		return -1;
	}
}

/* The field starting at off (a vpci_fields offset). */
static uint32_t vpci_common_field_read(struct virtio_pci *p, uint32_t off)
{
	struct virtio_dev *d = p->vdev;
	unsigned q = atomic_load(&p->queue_select);
	int reg = vpci_queue_reg(off);
	uint32_t v;

	if (reg >= 0)
		return virtio_dev_read_queue(d, q, (enum virtio_queue_reg)reg);
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return atomic_load(&p->dfselect);
	case VIRTIO_PCI_COMMON_DF:
		return virtio_dev_read_device_features(d, atomic_load(&p->dfselect));
	case VIRTIO_PCI_COMMON_GFSELECT:
		return atomic_load(&p->gfselect);
	case VIRTIO_PCI_COMMON_GF:
		return virtio_dev_read_driver_features(d, atomic_load(&p->gfselect));
	case VIRTIO_PCI_COMMON_MSIX:
		virtio_dev_lock(d);
		v = p->config_vector;
		virtio_dev_unlock(d);
		return v;
	case VIRTIO_PCI_COMMON_NUMQ:
		return d->num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return virtio_dev_read_status(d);
	case VIRTIO_PCI_COMMON_CFGGEN:
		return virtio_dev_config_generation(d);
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return q;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return q < d->num_queues ? q : 0;
	default:
		return 0;
	}
}

/* Any read inside the structure, composed byte by byte from the fields it covers. */
static uint64_t vpci_common_read(struct virtio_pci *p, uint32_t off, uint32_t len)
{
	uint64_t v = 0;

	for (size_t f = 0; f < VPCI_NFIELDS; f++) {
		uint32_t fo = vpci_fields[f].off, fs = vpci_fields[f].size, fv;

		if (fo + fs <= off || fo >= off + len)
			continue;
		fv = vpci_common_field_read(p, fo);
		for (uint32_t b = fo; b < fo + fs; b++)
			if (b >= off && b < off + len)
				v |= (uint64_t)((fv >> (8 * (b - fo))) & 0xff) << (8 * (b - off));
	}
	return v;
}

static void vpci_reset(struct virtio_pci *p)
{
	/* virtio_dev_write_status(0) reset the core; the transport's part follows. */
	virtio_dev_lock(p->vdev);
	p->isr = 0;
	p->config_vector = VIRTIO_NO_VECTOR;
	pci_dev_set_intx(p->pdev, 0);
	virtio_dev_unlock(p->vdev);
}

/* A write of the whole field at off. */
static void vpci_common_field_write(struct virtio_pci *p, uint32_t off, uint32_t val)
{
	struct virtio_dev *d = p->vdev;
	unsigned q = atomic_load(&p->queue_select);
	int reg = vpci_queue_reg(off);

	if (reg == VIRTIO_QUEUE_VECTOR)
		val = vpci_vector(p, val);
	if (reg >= 0) {
		virtio_dev_write_queue(d, q, (enum virtio_queue_reg)reg, val);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		atomic_store(&p->dfselect, val);
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		atomic_store(&p->gfselect, val);
		break;
	case VIRTIO_PCI_COMMON_GF:
		virtio_dev_write_driver_features(d, atomic_load(&p->gfselect), val);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		virtio_dev_lock(d);
		p->config_vector = vpci_vector(p, val);
		virtio_dev_unlock(d);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_dev_write_status(d, (uint8_t)val);
		if (!(uint8_t)val)
			vpci_reset(p);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		atomic_store(&p->queue_select, (uint16_t)val);
		break;
	default: /* device_feature, num_queues, config_generation, queue_notify_off */
		break;
	}
}

static void vpci_common_write(struct virtio_pci *p, uint32_t off, uint32_t len, uint64_t val)
{
	for (size_t f = 0; f < VPCI_NFIELDS; f++) {
		uint32_t fo = vpci_fields[f].off, fs = vpci_fields[f].size;

		if (fo == off && fs == len) {
			vpci_common_field_write(p, off, (uint32_t)val);
			return;
		}
	}
	/* A 64-bit field (queue_desc, queue_driver, queue_device) in one qword. */
	if (len == 8 && (off == VIRTIO_PCI_COMMON_Q_DESCLO || off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
			 off == VIRTIO_PCI_COMMON_Q_USEDLO)) {
		vpci_common_field_write(p, off, (uint32_t)val);
		vpci_common_field_write(p, off + 4, (uint32_t)(val >> 32));
		return;
	}
	if (!atomic_exchange(&p->warned_access, true))
		log_warn(p->vdev->name,
			 "ignored: common configuration write of %u bytes at 0x%x is not a "
			 "field's natural width (4.1.3.1); further ones are not logged",
			 len, off);
}

/* ---- BAR 4 ---- */

static uint64_t vpci_get_le(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static void vpci_put_le(uint8_t *data, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void vpci_notify(struct virtio_pci *p, unsigned q)
{
	if (q >= p->vdev->num_queues)
		return;
	if (!atomic_exchange(&p->warned_exit, true))
		log_debug(p->vdev->name,
			  "queue %u notified by an MMIO exit (no ioeventfd took the write)", q);
	virtio_dev_notify(p->vdev, q);
}

static void vpci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *p = opaque;
	uint32_t region = (uint32_t)(off / VIRTIO_PCI_REGION_SIZE);
	uint32_t roff = (uint32_t)(off % VIRTIO_PCI_REGION_SIZE);

	if (!is_write)
		memset(data, 0, len);
	/* Every structure lies inside one region; an access across two touches nothing. */
	if (!len || len > 8 || roff + len > VIRTIO_PCI_REGION_SIZE)
		return;
	switch (region * VIRTIO_PCI_REGION_SIZE) {
	case VIRTIO_PCI_COMMON_OFF:
		if (roff >= VIRTIO_PCI_COMMON_SIZE)
			break;
		if (is_write)
			vpci_common_write(p, roff, len, vpci_get_le(data, len));
		else
			vpci_put_le(data, len, vpci_common_read(p, roff, len));
		break;
	case VIRTIO_PCI_ISR_OFF:
		if (!is_write && roff == 0)
			data[0] = vpci_isr_read(p);
		break;
	case VIRTIO_PCI_DEVICE_OFF:
		if (is_write)
			virtio_dev_write_config(p->vdev, roff, data, len);
		else
			virtio_dev_read_config(p->vdev, roff, data, len);
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		if (is_write)
			vpci_notify(p, roff / VIRTIO_PCI_NOTIFY_MULT);
		break;
	default:
		break;
	}
}

/* ---- Queue notification eventfds ---- */

/* On the I/O thread: a write to queue q's notify address. */
static void vpci_eventfd_ready(void *arg)
{
	struct virtio_pci_queue *vq = arg;
	uint64_t n;

	/* Another read may have drained it already (level-triggered epoll). */
	if (read(vq->fd, &n, sizeof(n)) == sizeof(n))
		virtio_dev_notify_iothread(vq->p->vdev, vq->index);
}

/* BAR 4 was decoded at base, or no longer is (config lock held). */
static void vpci_bind_eventfds(struct virtio_pci *p, uint64_t base, bool mapped)
{
	for (unsigned q = 0; q < p->vdev->num_queues; q++) {
		struct virtio_pci_queue *vq = &p->queues[q];
		int rc;

		if (vq->fd < 0)
			continue;
		if (!mapped) {
			if (vq->assigned)
				p->io->mmio_eventfd(p->io_opaque, vq->fd, vq->addr, false);
			vq->assigned = false;
			continue;
		}
		vq->addr = base + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
		rc = p->io->mmio_eventfd(p->io_opaque, vq->fd, vq->addr, true);
		vq->assigned = !rc;
		if (!rc)
			log_debug(p->vdev->name, "queue %u notify at 0x%" PRIx64 " via ioeventfd",
				  q, vq->addr);
		else if (!p->warned_eventfd)
			log_info(p->vdev->name,
				 "no ioeventfd for queue notifications (%s): they exit to kvmm",
				 strerror(-rc));
		p->warned_eventfd |= rc != 0;
	}
}

/* ---- PCI hooks (config lock held) ---- */

static void vpci_bar_moved(void *opaque, int bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *p = opaque;

	if (bar == VIRTIO_PCI_BAR)
		vpci_bind_eventfds(p, addr, mapped);
}

/* The access the PCI configuration access capability describes (4.1.4.9). */
static bool vpci_cfg_window(struct virtio_pci *p, uint8_t *buf, bool is_write)
{
	uint32_t len = p->cfg_length, off = p->cfg_offset;

	if (p->cfg_bar != VIRTIO_PCI_BAR || (len != 1 && len != 2 && len != 4) || off % len ||
	    off > VIRTIO_PCI_BAR_SIZE - len)
		return false;
	vpci_bar_io(p, off, buf, len, is_write);
	return true;
}

/* Byte off of the capability (relative offset rel) as the driver sees it. */
static bool vpci_cfg_cap_byte(struct virtio_pci *p, uint32_t rel, uint8_t *out)
{
	if (rel == VPCI_CFG_CAP_BAR)
		*out = p->cfg_bar;
	else if (rel >= VPCI_CFG_CAP_OFFSET && rel < VPCI_CFG_CAP_OFFSET + 4)
		*out = (uint8_t)(p->cfg_offset >> (8 * (rel - VPCI_CFG_CAP_OFFSET)));
	else if (rel >= VPCI_CFG_CAP_LENGTH && rel < VPCI_CFG_CAP_LENGTH + 4)
		*out = (uint8_t)(p->cfg_length >> (8 * (rel - VPCI_CFG_CAP_LENGTH)));
	else
		return false;
	return true;
}

static void vpci_cfg_read(void *opaque, uint32_t off, uint32_t len, uint32_t *val)
{
	struct virtio_pci *p = opaque;
	uint8_t data[4] = {0}, b;
	bool fetched = false;

	if (off + len <= p->cfg_cap || off >= p->cfg_cap + (uint32_t)VPCI_CFG_CAP_LEN)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t rel = off + i - p->cfg_cap;

		if (rel >= VPCI_CFG_CAP_DATA && rel < VPCI_CFG_CAP_LEN) {
			if (!fetched)
				vpci_cfg_window(p, data, false); /* invalid: reads 0 */
			fetched = true;
			b = data[rel - VPCI_CFG_CAP_DATA];
		} else if (!vpci_cfg_cap_byte(p, rel, &b)) {
			continue; /* the stored bytes: ID, next, length, type, padding */
		}
		*val = (*val & ~(0xffu << (8 * i))) | (uint32_t)b << (8 * i);
	}
}

static bool vpci_cfg_write(void *opaque, uint32_t off, uint32_t len, uint32_t val)
{
	struct virtio_pci *p = opaque;
	uint8_t data[4] = {0};
	bool data_written = false;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t rel;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (off + i < p->cfg_cap || off + i - p->cfg_cap >= VPCI_CFG_CAP_LEN)
			continue;
		rel = off + i - p->cfg_cap;
		if (rel == VPCI_CFG_CAP_BAR) {
			p->cfg_bar = b;
		} else if (rel >= VPCI_CFG_CAP_OFFSET && rel < VPCI_CFG_CAP_OFFSET + 4) {
			unsigned sh = 8 * (rel - VPCI_CFG_CAP_OFFSET);

			p->cfg_offset = (p->cfg_offset & ~(0xffu << sh)) | (uint32_t)b << sh;
		} else if (rel >= VPCI_CFG_CAP_LENGTH && rel < VPCI_CFG_CAP_LENGTH + 4) {
			unsigned sh = 8 * (rel - VPCI_CFG_CAP_LENGTH);

			p->cfg_length = (p->cfg_length & ~(0xffu << sh)) | (uint32_t)b << sh;
		} else if (rel >= VPCI_CFG_CAP_DATA) {
			data[rel - VPCI_CFG_CAP_DATA] = b;
			data_written = true;
		}
	}
	if (data_written)
		vpci_cfg_window(p, data, true);
	return false; /* everything else in our capabilities is read-only */
}

static const struct pci_dev_ops vpci_pci_ops = {
    .bar_moved = vpci_bar_moved,
    .cfg_read = vpci_cfg_read,
    .cfg_write = vpci_cfg_write,
};

/* ---- Set-up ---- */

/* struct virtio_pci_cap after its ID and next pointer (4.1.4), plus extra bytes. */
static int vpci_add_cap(struct virtio_pci *p, uint8_t type, uint8_t bar, uint32_t off, uint32_t len,
			const uint8_t *extra, size_t extra_len, uint8_t *at)
{
	uint8_t body[VPCI_CFG_CAP_LEN - 2] = {0};

	body[0] = (uint8_t)(VPCI_CAP_LEN + extra_len); /* cap_len */
	body[1] = type;
	body[2] = bar;
	for (int i = 0; i < 4; i++) {
		body[6 + i] = (uint8_t)(off >> (8 * i));
		body[10 + i] = (uint8_t)(len >> (8 * i));
	}
	if (extra_len)
		memcpy(body + 14, extra, extra_len);
	return pci_dev_add_cap(p->pdev, PCI_CAP_ID_VNDR, body, 14 + extra_len, at);
}

static uint32_t vpci_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static int vpci_setup(struct virtio_pci *p)
{
	struct virtio_dev *d = p->vdev;
	uint8_t mult[4] = {VIRTIO_PCI_NOTIFY_MULT, 0, 0, 0}, zero[4] = {0};
	/* Table at 0, PBA in the upper half: at least a page, as drivers map pages. */
	uint32_t table = p->nvec * 16, msix_size = vpci_pow2(2 * table);
	int rc;

	if (msix_size < 4096)
		msix_size = 4096;
	rc = pci_dev_set_bar(p->pdev, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE,
			     PCI_BAR_MEM64 | PCI_BAR_PREFETCH, vpci_bar_io, p);
	if (!rc)
		rc = pci_dev_set_bar(p->pdev, VIRTIO_PCI_MSIX_BAR, msix_size, 0, NULL, NULL);
	if (!rc)
		rc = pci_dev_init_msix(p->pdev, p->nvec, VIRTIO_PCI_MSIX_BAR, 0, msix_size / 2);
	if (!rc)
		rc = vpci_add_cap(p, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_BAR,
				  VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE, NULL, 0, NULL);
	if (!rc)
		rc = vpci_add_cap(p, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_BAR,
				  VIRTIO_PCI_NOTIFY_OFF, d->num_queues * VIRTIO_PCI_NOTIFY_MULT,
				  mult, sizeof(mult), NULL);
	if (!rc)
		rc = vpci_add_cap(p, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_BAR, VIRTIO_PCI_ISR_OFF, 1,
				  NULL, 0, NULL);
	if (!rc && d->config_size)
		rc = vpci_add_cap(p, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_BAR,
				  VIRTIO_PCI_DEVICE_OFF, d->config_size, NULL, 0, NULL);
	if (!rc)
		rc = vpci_add_cap(p, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, zero, sizeof(zero),
				  &p->cfg_cap);
	return rc;
}

/* One eventfd per queue, watched by the I/O thread; a queue without one uses exits. */
static void vpci_setup_eventfds(struct virtio_pci *p)
{
	for (unsigned q = 0; q < p->vdev->num_queues; q++) {
		struct virtio_pci_queue *vq = &p->queues[q];
		int rc;

		vq->p = p;
		vq->index = q;
		vq->fd = -1;
		if (!p->io || !p->io->mmio_eventfd || !p->io->watch)
			continue;
		vq->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		rc = vq->fd < 0 ? -errno
				: p->io->watch(p->io_opaque, vq->fd, vpci_eventfd_ready, vq);
		if (rc) {
			log_warn(p->vdev->name,
				 "queue %u: no notification eventfd (%s): using exits", q,
				 strerror(-rc));
			if (vq->fd >= 0)
				close(vq->fd);
			vq->fd = -1;
		}
	}
}

struct virtio_pci *virtio_pci_create(struct pci_host *h, int slot, struct virtio_dev *vdev,
				     uint32_t class_code, const struct ioevent_ops *io,
				     void *io_opaque)
{
	struct virtio_pci *p;
	int rc;

	if (!h || !vdev || !vdev->num_queues || vdev->config_size > VIRTIO_PCI_REGION_SIZE ||
	    vdev->num_queues * VIRTIO_PCI_NOTIFY_MULT > VIRTIO_PCI_REGION_SIZE ||
	    class_code > 0xffffff) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->queues = calloc(vdev->num_queues, sizeof(*p->queues));
	if (!p || !p->queues) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->vdev = vdev;
	p->nvec = vdev->num_queues + 1;
	p->io = io;
	p->io_opaque = io_opaque;
	p->config_vector = VIRTIO_NO_VECTOR;
	p->info = (struct pci_dev_info){
	    .vendor_id = VIRTIO_PCI_VENDOR_ID,
	    .device_id = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + vdev->device_id),
	    .subsys_vendor_id = VIRTIO_PCI_SUBSYS_VENDOR_ID,
	    .subsys_id = VIRTIO_PCI_SUBSYS_ID,
	    .class_code = class_code,
	    .revision = VIRTIO_PCI_REVISION,
	    .intx_pin = 1,
	    .name = vdev->name,
	};
	vpci_setup_eventfds(p);
	p->pdev = pci_dev_create(h, slot, &p->info, &vpci_pci_ops, p);
	if (!p->pdev) {
		rc = -errno;
		goto fail;
	}
	/*
	 * Failing from here on leaves a half-made function in the slot (the PCI
	 * layer cannot remove one): the caller tears the whole host down.
	 */
	rc = vpci_setup(p);
	if (rc)
		goto fail;
	virtio_dev_set_transport(vdev, &vpci_transport_ops, p);
	return p;
fail:
	virtio_pci_destroy(p);
	errno = -rc;
	return NULL;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	if (!p)
		return;
	/* KVM drops its ioeventfds with the VM; the eventfds just close. */
	for (unsigned q = 0; q < p->vdev->num_queues; q++)
		if (p->queues[q].fd >= 0)
			close(p->queues[q].fd);
	free(p->queues);
	free(p);
}

struct pci_dev *virtio_pci_dev(struct virtio_pci *p)
{
	return p->pdev;
}

/* ---- Snapshots ---- */

/*
 * Transport state, version 1 (after the PCI function's, little-endian): u32
 * version; u16 queues; u16 MSI-X vectors; u32 device_feature_select; u32
 * driver_feature_select; u16 queue_select; u16 config_msix_vector; u8 ISR; the
 * PCI configuration access capability's u8 bar, u32 offset, u32 length. The
 * queue notification addresses are not saved: they follow BAR 4, which the
 * PCI state restores (bar_moved binds the eventfds there again).
 */
#define VPCI_STATE_VERSION 1

struct virtio_pci_loaded {
	struct pci_dev_loaded *pci;
	uint32_t dfselect, gfselect, cfg_offset, cfg_length;
	uint16_t queue_select, config_vector;
	uint8_t isr, cfg_bar;
};

int virtio_pci_save(struct virtio_pci *p, struct state_buf *b)
{
	int rc = pci_dev_save(p->pdev, b);

	if (rc)
		return rc;
	state_put_u32(b, VPCI_STATE_VERSION);
	state_put_u16(b, (uint16_t)p->vdev->num_queues);
	state_put_u16(b, (uint16_t)p->nvec);
	state_put_u32(b, atomic_load(&p->dfselect));
	state_put_u32(b, atomic_load(&p->gfselect));
	state_put_u16(b, atomic_load(&p->queue_select));
	virtio_dev_lock(p->vdev);
	state_put_u16(b, p->config_vector);
	state_put_u8(b, p->isr);
	virtio_dev_unlock(p->vdev);
	/* Config-lock fields: the VM is paused, so no config cycle runs meanwhile. */
	state_put_u8(b, p->cfg_bar);
	state_put_u32(b, p->cfg_offset);
	state_put_u32(b, p->cfg_length);
	return b->error;
}

void virtio_pci_load_discard(struct virtio_pci_loaded *s)
{
	if (!s)
		return;
	pci_dev_load_discard(s->pci);
	free(s);
}

int virtio_pci_load_parse(struct virtio_pci *p, struct state_reader *r,
			  struct virtio_pci_loaded **out, char *why, size_t whylen)
{
	struct virtio_pci_loaded *s = calloc(1, sizeof(*s));
	uint32_t version;
	uint16_t nq, nvec;
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	rc = pci_dev_load_parse(p->pdev, r, &s->pci, why, whylen);
	if (rc) {
		free(s);
		return rc;
	}
	version = state_get_u32(r);
	nq = state_get_u16(r);
	nvec = state_get_u16(r);
	s->dfselect = state_get_u32(r);
	s->gfselect = state_get_u32(r);
	s->queue_select = state_get_u16(r);
	s->config_vector = state_get_u16(r);
	s->isr = state_get_u8(r);
	s->cfg_bar = state_get_u8(r);
	s->cfg_offset = state_get_u32(r);
	s->cfg_length = state_get_u32(r);
	if (r->error || version != VPCI_STATE_VERSION)
		snprintf(why, whylen, "no virtio-pci transport state version %d",
			 VPCI_STATE_VERSION);
	else if (nq != p->vdev->num_queues || nvec != p->nvec)
		snprintf(why, whylen,
			 "%u queues and %u MSI-X vectors in the snapshot, %u and %u here", nq, nvec,
			 p->vdev->num_queues, p->nvec);
	else if (s->config_vector != VIRTIO_NO_VECTOR && s->config_vector >= p->nvec)
		snprintf(why, whylen, "configuration vector %u is past the %u MSI-X vectors",
			 s->config_vector, p->nvec);
	else if (s->isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG))
		snprintf(why, whylen, "ISR 0x%02x has undefined bits set", s->isr);
	else {
		*out = s;
		return 0;
	}
	state_reader_fail(r);
	virtio_pci_load_discard(s);
	return -EINVAL;
}

int virtio_pci_load_check_queues(struct virtio_pci *p, char *why, size_t whylen)
{
	for (unsigned q = 0; q < p->vdev->num_queues; q++) {
		uint32_t v = virtio_dev_read_queue(p->vdev, q, VIRTIO_QUEUE_VECTOR);

		if (v != VIRTIO_NO_VECTOR && v >= p->nvec) {
			snprintf(why, whylen, "queue %u's vector %u is past the %u MSI-X vectors",
				 q, v, p->nvec);
			return -EINVAL;
		}
	}
	return 0;
}

void virtio_pci_load_apply(struct virtio_pci *p, struct virtio_pci_loaded *s)
{
	atomic_store(&p->dfselect, s->dfselect);
	atomic_store(&p->gfselect, s->gfselect);
	atomic_store(&p->queue_select, s->queue_select);
	p->cfg_bar = s->cfg_bar;
	p->cfg_offset = s->cfg_offset;
	p->cfg_length = s->cfg_length;
	virtio_dev_lock(p->vdev);
	p->config_vector = s->config_vector;
	p->isr = s->isr;
	virtio_dev_unlock(p->vdev);
	/* BARs, MSI-X and the INTx level (which follows ISR); binds the eventfds to BAR 4. */
	pci_dev_load_apply(p->pdev, s->pci);
	free(s);
}
