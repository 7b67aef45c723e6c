/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transport (virtio/pci.h) on a real PCI host and bus, driven
 * through ECAM and BAR accesses as a guest driver would: identity and
 * capabilities, the common configuration registers and their widths, vector
 * validation, ISR and INTx, MSI-X, ioeventfd binding as the BAR moves, the
 * PCI configuration access window, device configuration, several queues, a
 * whole virtio-rng request, and snapshots of the transport (saved, restored
 * into a fresh host, and refused when they do not fit).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hw/pci.h"
#include "machine/bus.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "virtio_fixtures.h"

#define ECAM   0xe0000000ULL
#define MEM32  0xc0000000ULL
#define MEM64  0x200000000ULL
#define NEWBAR 0xc8000000ULL
#define MAXEV  64

/* A made-up device with three queues and 8 bytes of configuration space. */
#define TOY_ID	     42
#define TOY_QUEUES   3
#define TOY_CFG_SIZE 8

struct evbind {
	int fd;
	uint64_t addr;
	bool assign;
};

struct fix {
	struct fake_vm vm;
	struct bus bus;
	struct pci_host *h;
	int level[32];
	int sent;
	uint64_t sent_addr[MAXEV];
	uint32_t sent_data[MAXEV];
	struct evbind ev[MAXEV];
	int nev, watches, eventfd_rc;
	void (*watch_fn[8])(void *);
	void *watch_arg[8];
	int watch_fd[8];
	/* the toy device */
	struct virtio_dev toy;
	uint8_t toy_cfg[TOY_CFG_SIZE];
	unsigned toy_handled[TOY_QUEUES];
	struct virtio_pci *p;
	struct virtio_rng *rng;
	unsigned slot;
	uint64_t bar; /* BAR 4 as kvmm placed it */
};

static void fake_set_level(void *opaque, uint32_t gsi, int level)
{
	struct fix *f = opaque;

	assert_true(gsi < 32);
	f->level[gsi] = level;
}

static void fake_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct fix *f = opaque;

	if (f->sent < MAXEV) {
		f->sent_addr[f->sent] = addr;
		f->sent_data[f->sent] = data;
	}
	f->sent++;
}

static const struct pci_msi_ops msi_ops = {.notify = fake_msi};

static int fake_mmio_eventfd(void *opaque, int fd, uint64_t addr, bool assign)
{
	struct fix *f = opaque;

	if (f->eventfd_rc)
		return f->eventfd_rc;
	assert_true(f->nev < MAXEV);
	f->ev[f->nev++] = (struct evbind){fd, addr, assign};
	return 0;
}

static int fake_watch(void *opaque, int fd, void (*fn)(void *), void *arg)
{
	struct fix *f = opaque;

	assert_true(f->watches < 8);
	f->watch_fd[f->watches] = fd;
	f->watch_fn[f->watches] = fn;
	f->watch_arg[f->watches++] = arg;
	return 0;
}

static const struct ioevent_ops io_ops = {fake_mmio_eventfd, fake_watch};

static void toy_handle(struct virtio_dev *d, unsigned q)
{
	struct fix *f = d->opaque;

	f->toy_handled[q]++;
}

static void toy_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fix *)d->opaque)->toy_cfg + off, len);
}

static void toy_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct fix *)d->opaque)->toy_cfg + off, buf, len);
}

static const struct virtio_dev_ops toy_ops = {
    .handle_queue = toy_handle,
    .config_read = toy_config_read,
    .config_write = toy_config_write,
};

static const struct pci_host_config host_cfg = {
    .ecam_base = ECAM,
    .mem32_base = MEM32,
    .mem32_size = 0x20000000,
    .mem64_base = MEM64,
    .mem64_size = 32ULL << 30,
};

/* ---- access helpers ---- */

static uint64_t rd(struct fix *f, uint64_t addr, uint32_t len)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;

	bus_access(&f->bus, BUS_MMIO, addr, b, len, false);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr(struct fix *f, uint64_t addr, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&f->bus, BUS_MMIO, addr, b, len, true);
}

static uint64_t cfg(struct fix *f, uint32_t off)
{
	return ECAM + ((uint64_t)f->slot << 15) + off;
}

static uint64_t common(struct fix *f, uint32_t off)
{
	return f->bar + VIRTIO_PCI_COMMON_OFF + off;
}

static void enable_mem(struct fix *f)
{
	wr(f, cfg(f, 4), rd(f, cfg(f, 4), 2) | 0x6, 2);
}

/* Builds the host and the device: the toy one, or virtio-rng over the fake VM's RAM. */
static struct fix *fix_new(bool rng, const struct ioevent_ops *io)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct irq_sink irq;
	struct virtio_dev *d;
	static const struct virtio_dev_info toy_info = {
	    .name = "toy",
	    .device_id = TOY_ID,
	    .num_queues = TOY_QUEUES,
	    .queue_max_size = 128,
	    .config_size = TOY_CFG_SIZE,
	};

	assert_non_null(f);
	fake_vm_init(&f->vm, 16);
	assert_int_equal(bus_init(&f->bus), 0);
	irq = (struct irq_sink){fake_set_level, f};
	f->h = pci_host_create(&f->bus, &host_cfg, &irq, &msi_ops, f);
	assert_non_null(f->h);
	assert_int_equal(pci_host_attach(f->h, NULL), 0);
	if (rng) {
		f->rng = virtio_rng_create(&f->vm.m);
		assert_non_null(f->rng);
		d = virtio_rng_dev(f->rng);
	} else {
		assert_int_equal(virtio_dev_init(&f->toy, &toy_info, &toy_ops, f, &f->vm.m), 0);
		d = &f->toy;
	}
	f->p = virtio_pci_create(f->h, -1, d, 0x00ff00, io, f);
	assert_non_null(f->p);
	f->slot = (unsigned)pci_dev_slot(virtio_pci_dev(f->p));
	f->bar = (rd(f, cfg(f, 0x10 + 4 * VIRTIO_PCI_BAR), 4) & ~0xfULL) |
		 rd(f, cfg(f, 0x14 + 4 * VIRTIO_PCI_BAR), 4) << 32;
	return f;
}

static void fix_free(struct fix *f)
{
	pci_host_destroy(f->h);
	virtio_pci_destroy(f->p);
	if (f->rng)
		virtio_rng_destroy(f->rng);
	else
		virtio_dev_destroy(&f->toy);
	bus_destroy(&f->bus);
	fake_vm_free(&f->vm);
	free(f);
}

/* Offset of the next vendor capability of cfg_type type (after `after`), or 0. */
static uint32_t find_vcap(struct fix *f, uint8_t type)
{
	uint32_t at = (uint32_t)rd(f, cfg(f, 0x34), 1);

	for (int n = 0; at && n < 48; n++) {
		if (rd(f, cfg(f, at), 1) == PCI_CAP_ID_VNDR && rd(f, cfg(f, at + 3), 1) == type)
			return at;
		at = (uint32_t)rd(f, cfg(f, at + 1), 1);
	}
	return 0;
}

/* ---- tests ---- */

static void test_identity_and_caps(void **state)
{
	struct fix *f = fix_new(false, NULL);
	struct {
		uint8_t type;
		uint32_t off, len, cap_len;
	} want[] = {
	    {VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE, 16},
	    {VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, TOY_QUEUES * 4, 20},
	    {VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, 16},
	    {VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, TOY_CFG_SIZE, 16},
	};
	uint32_t at, msix;

	(void)state;
	assert_int_equal(rd(f, cfg(f, 0), 4), 0x1af4u | (0x1040u + TOY_ID) << 16);
	assert_int_equal(rd(f, cfg(f, 8), 4), 0x00ff0001u); /* class, revision 1 */
	assert_int_equal(rd(f, cfg(f, 0x2c), 4), 0x1af4u | 0x1100u << 16);
	assert_int_equal(rd(f, cfg(f, 0x3d), 1), 1); /* INTA# */
	/* BAR 4: 64-bit prefetchable 16 KiB in the 64-bit window; sizing works. */
	assert_int_equal(rd(f, cfg(f, 0x20), 4) & 0xf, 0xc);
	assert_true(f->bar >= MEM64);
	wr(f, cfg(f, 0x20), 0xffffffff, 4);
	assert_int_equal(rd(f, cfg(f, 0x20), 4), 0xffffc00cu);
	wr(f, cfg(f, 0x20), (uint32_t)f->bar, 4);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		at = find_vcap(f, want[i].type);
		assert_true(at >= 0x40);
		assert_int_equal(rd(f, cfg(f, at + 2), 1), want[i].cap_len);
		assert_int_equal(rd(f, cfg(f, at + 4), 1), VIRTIO_PCI_BAR);
		assert_int_equal(rd(f, cfg(f, at + 8), 4), want[i].off);
		assert_int_equal(rd(f, cfg(f, at + 12), 4), want[i].len);
	}
	at = find_vcap(f, VIRTIO_PCI_CAP_NOTIFY_CFG);
	assert_int_equal(rd(f, cfg(f, at + 16), 4), VIRTIO_PCI_NOTIFY_MULT);
	assert_true(find_vcap(f, VIRTIO_PCI_CAP_PCI_CFG) >= 0x40);
	/* MSI-X: one vector per queue plus configuration, table in BAR 1. */
	for (msix = (uint32_t)rd(f, cfg(f, 0x34), 1); msix && rd(f, cfg(f, msix), 1) != 0x11;)
		msix = (uint32_t)rd(f, cfg(f, msix + 1), 1);
	assert_true(msix);
	assert_int_equal(rd(f, cfg(f, msix + 2), 2) & 0x7ff, TOY_QUEUES);
	assert_int_equal(rd(f, cfg(f, msix + 4), 4), VIRTIO_PCI_MSIX_BAR);
	fix_free(f);
}

static void test_common_registers(void **state)
{
	struct fix *f = fix_new(false, NULL);

	(void)state;
	enable_mem(f);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_NUMQ), 2), TOY_QUEUES);
	wr(f, common(f, VIRTIO_PCI_COMMON_DFSELECT), 1, 4);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_DFSELECT), 4), 1);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_DF), 4) & 1, 1); /* VERSION_1 */
	/* Each queue through queue_select: its own size, notify offset and rings. */
	for (unsigned q = 0; q < TOY_QUEUES; q++) {
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), q, 2);
		assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 2), 128);
		assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_NOFF), 2), q);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 16u << q, 2);
		/* queue_desc as one qword, queue_driver as two dwords. */
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_DESCLO), 0x123456789000ULL + q, 8);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_AVAILLO), 0x2000 + q, 4);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_AVAILHI), 0x7, 4);
	}
	for (unsigned q = 0; q < TOY_QUEUES; q++) {
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), q, 2);
		assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 2), 16u << q);
		assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_DESCLO), 8),
				 0x123456789000ULL + q);
		assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_AVAILLO), 8),
				 0x700002000ULL + q);
	}
	/* A queue that does not exist reads size 0 (4.1.4.3). */
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), TOY_QUEUES, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
	/* A write that is not a field's natural width is ignored; reads of any shape work. */
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), 0, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 0x0202, 4);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 2), 16);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_NUMQ), 4), TOY_QUEUES); /* + status 0 */
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_NUMQ + 1), 1), 0);
	/* Beyond the structure and across regions: nothing. */
	assert_int_equal(rd(f, common(f, 0x40), 4), 0);
	assert_int_equal(rd(f, f->bar + 0xffe, 4), 0);
	/* Status through the register; device configuration in its window. */
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1), VIRTIO_STATUS_ACKNOWLEDGE);
	memcpy(f->toy_cfg, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_DEVICE_OFF, 8), 0x8877665544332211ULL);
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_DEVICE_OFF + 6, 4), 0); /* past the end */
	wr(f, f->bar + VIRTIO_PCI_DEVICE_OFF + 2, 0xbeef, 2);
	assert_int_equal(f->toy_cfg[2], 0xef);
	assert_int_equal(f->toy_cfg[3], 0xbe);
	fix_free(f);
}

/* Offset in config space of the MSI-X capability. */
static uint32_t msix_cap(struct fix *f)
{
	uint32_t at = (uint32_t)rd(f, cfg(f, 0x34), 1);

	while (at && rd(f, cfg(f, at), 1) != 0x11)
		at = (uint32_t)rd(f, cfg(f, at + 1), 1);
	return at;
}

static uint64_t msix_table(struct fix *f)
{
	return rd(f, cfg(f, 0x10 + 4 * VIRTIO_PCI_MSIX_BAR), 4) & ~0xfULL;
}

/* ACKNOWLEDGE, DRIVER, VERSION_1, FEATURES_OK; queue q at the fixture's rings. */
static void bring_up_queue(struct fix *f, unsigned q)
{
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1, 1);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 3, 1);
	wr(f, common(f, VIRTIO_PCI_COMMON_GFSELECT), 1, 4);
	wr(f, common(f, VIRTIO_PCI_COMMON_GF), 1, 4);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 11, 1);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1), 11);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), q, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 16, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_DESCLO), FAKE_DESC_GPA, 8);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_AVAILLO), FAKE_AVAIL_GPA, 8);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_USEDLO), FAKE_USED_GPA, 8);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_ENABLE), 1, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_ENABLE), 2), 1);
}

static void test_rng_request_msix(void **state)
{
	struct fix *f = fix_new(true, NULL);
	uint32_t mc = 0;
	uint8_t *p;
	bool nonzero = false;

	(void)state;
	enable_mem(f);
	mc = msix_cap(f);
	/* Vector 0 -> 0xfee01000 / 0x45; vector 1 -> 0xfee00000 / 0x46; MSI-X on. */
	wr(f, msix_table(f) + 0, 0xfee01000, 4);
	wr(f, msix_table(f) + 8, 0x45, 4);
	wr(f, msix_table(f) + 12, 0, 4);
	wr(f, msix_table(f) + 16, 0xfee00000, 4);
	wr(f, msix_table(f) + 24, 0x46, 4);
	wr(f, msix_table(f) + 28, 0, 4);
	wr(f, cfg(f, mc + 3), 0x80, 1);
	bring_up_queue(f, 0);
	/* Vectors: beyond the two we have reads back NO_VECTOR (4.1.5.1.2). */
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 2, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 0, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 2), 0);
	wr(f, common(f, VIRTIO_PCI_COMMON_MSIX), 0x7ff, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);
	wr(f, common(f, VIRTIO_PCI_COMMON_MSIX), 1, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 15, 1);
	/* One 512-byte request, notified through the notify address (an exit here). */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 512, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(drv_used_idx(&f->vm), 1);
	assert_int_equal(drv_used_len(&f->vm, 0), 512);
	p = fake_ptr(&f->vm, FAKE_BUF_GPA);
	for (int i = 0; i < 512; i++)
		nonzero |= p[i] != 0;
	assert_true(nonzero);
	assert_int_equal(f->sent, 1);
	assert_int_equal(f->sent_addr[0], 0xfee01000);
	assert_int_equal(f->sent_data[0], 0x45);
	/* MSI-X on: no ISR bit, no INTx. */
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_ISR_OFF, 1), 0);
	assert_int_equal(f->level[pci_intx_gsi(f->slot, 1)], 0);
	/* A broken request: NEEDS_RESET and a configuration interrupt on vector 1. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 16, 0, 0);
	drv_avail(&f->vm, 1);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1) & 0x40, 0x40);
	assert_int_equal(f->sent, 2);
	assert_int_equal(f->sent_data[1], 0x46);
	/* Reset: status 0, vectors back to NO_VECTOR. */
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 0, 1);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1), 0);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_NO_VECTOR);
	assert_int_equal(rd(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_NO_VECTOR);
	fix_free(f);
}

static void test_rng_intx_isr(void **state)
{
	struct fix *f = fix_new(true, NULL);
	uint32_t gsi;

	(void)state;
	enable_mem(f);
	gsi = (uint32_t)rd(f, cfg(f, 0x3c), 1);
	assert_int_equal(gsi, pci_intx_gsi(f->slot, 1));
	bring_up_queue(f, 0);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 15, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 4); /* any width reaches the queue */
	assert_int_equal(drv_used_idx(&f->vm), 1);
	assert_int_equal(f->level[gsi], 1);
	assert_int_equal(rd(f, cfg(f, 6), 2) & 0x8, 0x8); /* status: interrupt pending */
	/* Read-to-clear: the line drops, a second read sees nothing. */
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(f->level[gsi], 0);
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_ISR_OFF, 1), 0);
	/* Interrupt disable in the command register gates the line, not ISR. */
	wr(f, cfg(f, 4), rd(f, cfg(f, 4), 2) | 0x400, 2);
	drv_avail(&f->vm, 0);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(f->level[gsi], 0);
	assert_int_equal(rd(f, f->bar + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(f->sent, 0);
	fix_free(f);
}

static void test_eventfds_follow_bar(void **state)
{
	struct fix *f = fix_new(false, &io_ops);
	uint64_t one = 1;

	(void)state;
	/* One watched eventfd per queue, none bound while the BAR is not decoded. */
	assert_int_equal(f->watches, TOY_QUEUES);
	assert_int_equal(f->nev, 0);
	enable_mem(f);
	assert_int_equal(f->nev, TOY_QUEUES);
	for (int q = 0; q < TOY_QUEUES; q++) {
		assert_true(f->ev[q].assign);
		assert_int_equal(f->ev[q].fd, f->watch_fd[q]);
		assert_int_equal(f->ev[q].addr, f->bar + VIRTIO_PCI_NOTIFY_OFF + 4 * q);
	}
	/* Moving the BAR unbinds at the old address and binds at the new one. */
	wr(f, cfg(f, 0x20), (uint32_t)NEWBAR, 4);
	wr(f, cfg(f, 0x24), 0, 4);
	/* Unbind, bind with only the low dword moved, unbind, bind. */
	assert_int_equal(f->nev, 5 * TOY_QUEUES);
	for (int q = 0; q < TOY_QUEUES; q++) {
		struct evbind *e = &f->ev[4 * TOY_QUEUES + q];

		assert_true(e->assign);
		assert_int_equal(e->addr, NEWBAR + VIRTIO_PCI_NOTIFY_OFF + 4 * q);
	}
	/* Memory decoding off: everything unbound. */
	wr(f, cfg(f, 4), 0, 2);
	assert_int_equal(f->nev, 6 * TOY_QUEUES);
	for (int q = 0; q < TOY_QUEUES; q++)
		assert_false(f->ev[5 * TOY_QUEUES + q].assign);
	/* The I/O thread's callback: an eventfd write notifies its queue once it is live. */
	f->bar = NEWBAR;
	enable_mem(f);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 1, 1);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 3, 1);
	wr(f, common(f, VIRTIO_PCI_COMMON_GFSELECT), 1, 4);
	wr(f, common(f, VIRTIO_PCI_COMMON_GF), 1, 4);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 11, 1);
	for (unsigned q = 0; q < TOY_QUEUES; q++) {
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_SELECT), q, 2);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_SIZE), 16, 2);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_DESCLO), FAKE_DESC_GPA, 8);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_AVAILLO), FAKE_AVAIL_GPA, 8);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_USEDLO), FAKE_USED_GPA, 8);
		wr(f, common(f, VIRTIO_PCI_COMMON_Q_ENABLE), 1, 2);
	}
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 15, 1);
	memset(f->toy_handled, 0, sizeof(f->toy_handled));
	assert_int_equal(write(f->watch_fd[2], &one, sizeof(one)), (ssize_t)sizeof(one));
	f->watch_fn[2](f->watch_arg[2]);
	f->watch_fn[2](f->watch_arg[2]); /* drained: a spurious wake-up does nothing */
	assert_int_equal(f->toy_handled[2], 1);
	assert_int_equal(f->toy_handled[0] + f->toy_handled[1], 0);
	/* The exit path reaches the same queues; beyond the last queue, nothing. */
	wr(f, NEWBAR + VIRTIO_PCI_NOTIFY_OFF + 4, 1, 2);
	wr(f, NEWBAR + VIRTIO_PCI_NOTIFY_OFF + 4 * TOY_QUEUES, TOY_QUEUES, 2);
	assert_int_equal(f->toy_handled[1], 1);
	fix_free(f);
}

static void test_eventfd_refused(void **state)
{
	struct fix *f = fix_new(false, &io_ops);

	(void)state;
	f->eventfd_rc = -ENOSYS; /* no ioeventfd: writes keep exiting, which works */
	enable_mem(f);
	assert_int_equal(f->nev, 0);
	wr(f, cfg(f, 4), 0, 2); /* nothing bound: nothing to unbind */
	assert_int_equal(f->nev, 0);
	fix_free(f);
}

static void test_pci_cfg_window(void **state)
{
	struct fix *f = fix_new(false, NULL);
	uint32_t c;

	(void)state;
	c = find_vcap(f, VIRTIO_PCI_CAP_PCI_CFG);
	assert_true(c);
	/* No BAR decoding needed: the window is config cycles only. */
	wr(f, cfg(f, c + 4), VIRTIO_PCI_BAR, 1);
	wr(f, cfg(f, c + 8), VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_NUMQ, 4);
	wr(f, cfg(f, c + 12), 2, 4);
	assert_int_equal(rd(f, cfg(f, c + 4), 1), VIRTIO_PCI_BAR);
	assert_int_equal(rd(f, cfg(f, c + 8), 4), VIRTIO_PCI_COMMON_NUMQ);
	assert_int_equal(rd(f, cfg(f, c + 12), 4), 2);
	assert_int_equal(rd(f, cfg(f, c + 16), 4), TOY_QUEUES);
	/* A write: status through the window. */
	wr(f, cfg(f, c + 8), VIRTIO_PCI_COMMON_STATUS, 4);
	wr(f, cfg(f, c + 12), 1, 4);
	wr(f, cfg(f, c + 16), VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_int_equal(virtio_dev_read_status(&f->toy), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Bad windows read 0 and write nothing: other BAR, odd length, misaligned, past the end. */
	wr(f, cfg(f, c + 12), 3, 4);
	assert_int_equal(rd(f, cfg(f, c + 16), 4), 0);
	wr(f, cfg(f, c + 12), 4, 4);
	wr(f, cfg(f, c + 8), VIRTIO_PCI_BAR_SIZE - 2, 4);
	assert_int_equal(rd(f, cfg(f, c + 16), 4), 0);
	wr(f, cfg(f, c + 8), VIRTIO_PCI_COMMON_NUMQ + 1, 4);
	assert_int_equal(rd(f, cfg(f, c + 16), 4), 0);
	wr(f, cfg(f, c + 4), 0, 1);
	wr(f, cfg(f, c + 8), VIRTIO_PCI_COMMON_STATUS, 4);
	wr(f, cfg(f, c + 12), 1, 4);
	assert_int_equal(rd(f, cfg(f, c + 16), 4), 0);
	/* The capability's fixed bytes are read-only. */
	wr(f, cfg(f, c), 0xffffffff, 4);
	assert_int_equal(rd(f, cfg(f, c), 1), PCI_CAP_ID_VNDR);
	assert_int_equal(rd(f, cfg(f, c + 2), 2), 20 | VIRTIO_PCI_CAP_PCI_CFG << 8);
	fix_free(f);
}

static void test_bad_create(void **state)
{
	struct fix *f = fix_new(false, NULL);

	(void)state;
	assert_null(virtio_pci_create(NULL, -1, &f->toy, 0, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(virtio_pci_create(f->h, -1, &f->toy, 0x1000000, NULL, NULL));
	/* Slot taken. */
	assert_null(virtio_pci_create(f->h, (int)f->slot, &f->toy, 0, NULL, NULL));
	assert_int_equal(errno, EBUSY);
	fix_free(f);
}

/* ---- snapshots ---- */

/* Where the transport's state starts in a save of virtio-rng (2 vectors: PCI state, then ours). */
#define RNG_PCI_LEN   (342 + 16 * 2 + 8)
#define TS_NVEC	      (RNG_PCI_LEN + 6)
#define TS_CFG_VECTOR (RNG_PCI_LEN + 18)
#define TS_ISR	      (RNG_PCI_LEN + 20)
#define TS_Q0_VECTOR  (RNG_PCI_LEN + 30 + 26 + 2) /* in the core state after it */
#define PS_BAR4_ADDR  (25 + 20 * 4 + 12)

static void save_rng(struct fix *f, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(virtio_pci_save(f->p, b), 0);
	assert_int_equal(virtio_rng_save(f->rng, b), 0);
}

/* As vmsnap loads a virtio section: transport parsed, device loaded, vectors checked, applied. */
static int load_rng(struct fix *g, const void *data, size_t len, char *why, size_t n)
{
	struct virtio_pci_loaded *t;
	struct state_reader r;
	int rc;

	state_reader_init(&r, data, len);
	rc = virtio_pci_load_parse(g->p, &r, &t, why, n);
	if (rc)
		return rc;
	rc = virtio_rng_load(g->rng, &r);
	if (!rc)
		rc = virtio_pci_load_check_queues(g->p, why, n);
	if (rc) {
		virtio_pci_load_discard(t);
		return rc;
	}
	virtio_pci_load_apply(g->p, t);
	return 0;
}

/* A driver's work: BAR 4 moved, MSI-X on, the queue live, a request done, selectors set. */
static void rng_drive(struct fix *f)
{
	uint32_t c = find_vcap(f, VIRTIO_PCI_CAP_PCI_CFG);

	wr(f, cfg(f, 0x20), (uint32_t)NEWBAR, 4);
	wr(f, cfg(f, 0x24), 0, 4);
	f->bar = NEWBAR;
	enable_mem(f);
	wr(f, msix_table(f) + 0, 0xfee01000, 4);
	wr(f, msix_table(f) + 8, 0x45, 4);
	wr(f, msix_table(f) + 12, 0, 4);
	wr(f, cfg(f, msix_cap(f) + 3), 0x80, 1);
	bring_up_queue(f, 0);
	wr(f, common(f, VIRTIO_PCI_COMMON_Q_MSIX), 0, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_MSIX), 1, 2);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 15, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 512, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(drv_used_idx(&f->vm), 1);
	wr(f, common(f, VIRTIO_PCI_COMMON_DFSELECT), 1, 4);
	wr(f, common(f, VIRTIO_PCI_COMMON_GFSELECT), 0, 4);
	wr(f, cfg(f, c + 4), VIRTIO_PCI_BAR, 1);
	wr(f, cfg(f, c + 8), VIRTIO_PCI_COMMON_NUMQ, 4);
	wr(f, cfg(f, c + 12), 2, 4);
}

static void test_snapshot_round_trip(void **state)
{
	struct fix *f = fix_new(true, &io_ops), *g = fix_new(true, &io_ops);
	struct state_buf b, b2;
	char why[256] = "";
	uint32_t c;

	(void)state;
	rng_drive(f);
	save_rng(f, &b);
	/* The restored VM maps the same RAM (a snapshot's memory sections). */
	memcpy(g->vm.ram, f->vm.ram, FAKE_RAM_SIZE);
	memcpy(g->vm.ram2, f->vm.ram2, FAKE_RAM2_SIZE);
	g->vm.avail_idx = f->vm.avail_idx;
	assert_int_equal(g->nev, 0);
	if (load_rng(g, b.data, b.len, why, sizeof(why)))
		fail_msg("refused: %s", why);
	g->bar = NEWBAR;
	/* The queue's eventfd is bound where the guest had put BAR 4. */
	assert_int_equal(g->nev, 1);
	assert_true(g->ev[0].assign);
	assert_int_equal(g->ev[0].addr, NEWBAR + VIRTIO_PCI_NOTIFY_OFF);
	/* Registers and selectors read back as they were. */
	assert_int_equal(rd(g, common(g, VIRTIO_PCI_COMMON_DFSELECT), 4), 1);
	assert_int_equal(rd(g, common(g, VIRTIO_PCI_COMMON_MSIX), 2), 1);
	assert_int_equal(rd(g, common(g, VIRTIO_PCI_COMMON_Q_MSIX), 2), 0);
	assert_int_equal(rd(g, common(g, VIRTIO_PCI_COMMON_STATUS), 1), 15);
	c = find_vcap(g, VIRTIO_PCI_CAP_PCI_CFG);
	assert_int_equal(rd(g, cfg(g, c + 16), 2), 1); /* the window still points at num_queues */
	/* Saving again gives the same bytes. */
	save_rng(g, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	/* The next request completes, with its MSI-X message as the guest programmed it. */
	drv_desc(&g->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&g->vm, 1);
	wr(g, g->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(drv_used_idx(&g->vm), 2);
	assert_int_equal(drv_used_len(&g->vm, 1), 64);
	assert_int_equal(g->sent, 1);
	assert_int_equal(g->sent_addr[0], 0xfee01000);
	assert_int_equal(g->sent_data[0], 0x45);
	state_buf_free(&b);
	state_buf_free(&b2);
	fix_free(f);
	fix_free(g);
}

/* INTx: ISR and the line level come back, and reading ISR lowers the line as before. */
static void test_snapshot_intx(void **state)
{
	struct fix *f = fix_new(true, NULL), *g = fix_new(true, NULL);
	uint32_t gsi = pci_intx_gsi(f->slot, 1);
	struct state_buf b;
	char why[256] = "";

	(void)state;
	enable_mem(f);
	bring_up_queue(f, 0);
	wr(f, common(f, VIRTIO_PCI_COMMON_STATUS), 15, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	wr(f, f->bar + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(f->level[gsi], 1);
	save_rng(f, &b);
	memcpy(g->vm.ram, f->vm.ram, FAKE_RAM_SIZE);
	assert_int_equal(g->level[gsi], 0);
	if (load_rng(g, b.data, b.len, why, sizeof(why)))
		fail_msg("refused: %s", why);
	assert_int_equal(g->level[gsi], 1);
	assert_int_equal(rd(g, g->bar + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(g->level[gsi], 0);
	state_buf_free(&b);
	fix_free(f);
	fix_free(g);
}

static void test_snapshot_refused(void **state)
{
	struct fix *f = fix_new(true, &io_ops), *toy = fix_new(false, &io_ops);
	struct state_buf b;
	struct virtio_pci_loaded *t;
	struct state_reader r;
	char why[256];
	struct {
		size_t off;
		uint64_t val;
		unsigned len;
		const char *reason;
	} cases[] = {
	    {TS_NVEC, 5, 2, "1 queues and 5 MSI-X vectors in the snapshot, 1 and 2 here"},
	    {TS_CFG_VECTOR, 2, 2, "configuration vector 2 is past the 2 MSI-X vectors"},
	    {TS_ISR, 0x04, 1, "ISR 0x04"},
	    {TS_Q0_VECTOR, 9, 2, "queue 0's vector 9 is past the 2 MSI-X vectors"},
	    {PS_BAR4_ADDR, 0xc8001000, 8, "BAR4 holds 0xc8001000, which the BAR cannot hold"},
	    {RNG_PCI_LEN, 2, 4, "transport state version"},
	};

	(void)state;
	rng_drive(f);
	save_rng(f, &b);
	/* Another device in the slot: the toy one (1af4:106a). */
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_pci_load_parse(toy->p, &r, &t, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "holds 1af4:1044"));
	assert_non_null(strstr(why, "this machine has 1af4:106a"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fix *g = fix_new(true, &io_ops);
		uint8_t *p = malloc(b.len);

		assert_non_null(p);
		memcpy(p, b.data, b.len);
		for (unsigned k = 0; k < cases[i].len; k++)
			p[cases[i].off + k] = (uint8_t)(cases[i].val >> (8 * k));
		memcpy(g->vm.ram, f->vm.ram, FAKE_RAM_SIZE);
		why[0] = '\0';
		assert_int_equal(load_rng(g, p, b.len, why, sizeof(why)), -EINVAL);
		if (!strstr(why, cases[i].reason))
			fail_msg("case %zu: reason '%s' does not say '%s'", i, why,
				 cases[i].reason);
		/* Neither PCI nor the transport took effect: nothing decodes, nothing is bound. */
		assert_int_equal(rd(g, cfg(g, 4), 2), 0);
		assert_int_equal(g->nev, 0);
		free(p);
		fix_free(g);
	}
	/* Cut anywhere: refused. */
	for (size_t n = 0; n < b.len; n += 5) {
		struct fix *g = fix_new(true, &io_ops);

		memcpy(g->vm.ram, f->vm.ram, FAKE_RAM_SIZE);
		assert_int_equal(load_rng(g, b.data, n, why, sizeof(why)), -EINVAL);
		assert_int_equal(g->nev, 0);
		fix_free(g);
	}
	state_buf_free(&b);
	fix_free(f);
	fix_free(toy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity_and_caps),	cmocka_unit_test(test_common_registers),
	    cmocka_unit_test(test_rng_request_msix),	cmocka_unit_test(test_rng_intx_isr),
	    cmocka_unit_test(test_eventfds_follow_bar), cmocka_unit_test(test_eventfd_refused),
	    cmocka_unit_test(test_pci_cfg_window),	cmocka_unit_test(test_bad_create),
	    cmocka_unit_test(test_snapshot_round_trip), cmocka_unit_test(test_snapshot_intx),
	    cmocka_unit_test(test_snapshot_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
