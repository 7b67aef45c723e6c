/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transport, modern interface only (virtio 1.2, section 4.1):
 * puts a struct virtio_dev (virtio/core.h) on the PCI bus (hw/pci.h) as device
 * 1af4:1040+ID, revision 1. See pci.c for the layout the guest sees:
 *
 *   BAR 1  32-bit memory: the MSI-X table (at 0) and PBA, one vector per queue
 *          plus one for configuration changes
 *   BAR 4  64-bit prefetchable memory, 16 KiB, pointed to by the vendor
 *          capabilities: common configuration at 0x0000, ISR status at 0x1000,
 *          device configuration at 0x2000, notifications at 0x3000 (queue q at
 *          0x3000 + 4 * q: queue_notify_off = q, notify_off_multiplier = 4)
 *   INTA#  when MSI-X is off, with the ISR status register
 *
 * Queue notifications go to a KVM ioeventfd per queue while BAR 4 is mapped
 * and reach virtio_dev_notify() on the I/O thread; writes that still exit (no
 * ioeventfd, an odd access, the PCI configuration access capability) are
 * handled on the vCPU thread. Interrupts go through pci_dev_msix_notify() or
 * INTx; MSI-X messages leave through the machine's pci_msi_ops.
 */
#ifndef KVMM_VIRTIO_PCI_H
#define KVMM_VIRTIO_PCI_H

#include <stdint.h>

#include "hw/pci.h"
#include "machine/ioevent.h"
#include "virtio/core.h"

#define VIRTIO_PCI_VENDOR_ID	    0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE   0x1040 /* + virtio device ID (4.1.2.1) */
#define VIRTIO_PCI_SUBSYS_VENDOR_ID 0x1af4
#define VIRTIO_PCI_SUBSYS_ID	    0x1100 /* as QEMU's: "a QEMU/virtio device" */
#define VIRTIO_PCI_REVISION	    1	   /* non-transitional */

/* The layout of BAR 4 (VIRTIO_PCI_BAR). */
#define VIRTIO_PCI_BAR	       4
#define VIRTIO_PCI_BAR_SIZE    0x4000u
#define VIRTIO_PCI_COMMON_OFF  0x0000u
#define VIRTIO_PCI_ISR_OFF     0x1000u
#define VIRTIO_PCI_DEVICE_OFF  0x2000u
#define VIRTIO_PCI_NOTIFY_OFF  0x3000u
#define VIRTIO_PCI_NOTIFY_MULT 4u
#define VIRTIO_PCI_REGION_SIZE 0x1000u
#define VIRTIO_PCI_MSIX_BAR    1

/* Vendor capability types (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

/* struct virtio_pci_common_cfg (4.1.4.3): register offsets. */
#define VIRTIO_PCI_COMMON_DFSELECT  0x00
#define VIRTIO_PCI_COMMON_DF	    0x04
#define VIRTIO_PCI_COMMON_GFSELECT  0x08
#define VIRTIO_PCI_COMMON_GF	    0x0c
#define VIRTIO_PCI_COMMON_MSIX	    0x10
#define VIRTIO_PCI_COMMON_NUMQ	    0x12
#define VIRTIO_PCI_COMMON_STATUS    0x14
#define VIRTIO_PCI_COMMON_CFGGEN    0x15
#define VIRTIO_PCI_COMMON_Q_SELECT  0x16
#define VIRTIO_PCI_COMMON_Q_SIZE    0x18
#define VIRTIO_PCI_COMMON_Q_MSIX    0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE  0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF    0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO  0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI  0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO  0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI  0x34
#define VIRTIO_PCI_COMMON_SIZE	    0x38

/* ISR status bits (4.1.4.5). */
#define VIRTIO_PCI_ISR_QUEUE  0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

struct virtio_pci;

/*
 * Puts vdev on host h at slot (-1: the lowest free one) with PCI class
 * class_code (base << 16 | sub << 8 | interface), and connects itself as
 * vdev's transport. io (may be NULL: every notification is then an exit)
 * supplies ioeventfds and the I/O thread. vdev and io must outlive the
 * transport, and the transport must outlive h (pci_dev_create keeps our
 * identity and ops by reference): destroy it after pci_host_destroy. Returns
 * NULL with errno set.
 */
struct virtio_pci *virtio_pci_create(struct pci_host *h, int slot, struct virtio_dev *vdev,
				     uint32_t class_code, const struct ioevent_ops *io,
				     void *io_opaque);
/* Frees the transport (closes its eventfds); the VM must no longer run. */
void virtio_pci_destroy(struct virtio_pci *p);
struct pci_dev *virtio_pci_dev(struct virtio_pci *p);

/*
 * Snapshots, with the VM paused. virtio_pci_save appends the PCI function's
 * state (pci_dev_save) and then the transport's (version 1: feature and queue
 * selectors, the configuration vector, ISR, the PCI configuration access
 * window); the device's own save (core state first) follows it in the stream.
 *
 * Loading: _parse reads and checks both against p (the PCI checks of
 * pci_dev_load_parse; the same queue and MSI-X vector counts; a configuration
 * vector in range; ISR bits 0-1 only) without changing p: 0 and a staged
 * state, or -EINVAL with the reason in why (r failed) or -ENOMEM. The caller
 * then loads the device, which leaves the queue vectors it restored for
 * _check_queues (each one of ours or VIRTIO_NO_VECTOR: 0 or -EINVAL with the
 * reason), and then calls exactly one of _apply (takes effect, re-registers
 * BARs and eventfds where the guest had put BAR 4, MSI-X and INTx as saved;
 * frees s) or _discard.
 */
struct virtio_pci_loaded;
int virtio_pci_save(struct virtio_pci *p, struct state_buf *b);
int virtio_pci_load_parse(struct virtio_pci *p, struct state_reader *r,
			  struct virtio_pci_loaded **out, char *why, size_t whylen);
int virtio_pci_load_check_queues(struct virtio_pci *p, char *why, size_t whylen);
void virtio_pci_load_apply(struct virtio_pci *p, struct virtio_pci_loaded *s);
void virtio_pci_load_discard(struct virtio_pci_loaded *s);

#endif
