/* SPDX-License-Identifier: MIT */
/*
 * A minimal ring-3 virtio driver for test guests: the modern PCI transport
 * (virtio 1.2, 4.1: vendor capabilities 4.1.4, common configuration 4.1.4.3,
 * notifications 4.1.4.4, MSI-X 4.1.5.1.2), device initialization (3.1.1) and
 * the driver side of a split virtqueue (2.7). kit_virtq_add/_wait hand out
 * descriptors in ring order for drivers whose requests complete in order;
 * kit_virtq_post/_get keep a free list (completions in any order), can use
 * an indirect table (2.7.5.3) and the event index (2.7.7, 2.7.10) when
 * negotiated. Rings and buffers are guest-physical = virtual (identity map).
 */
#include "kit.h"

#define PCI_COMMAND    0x04
#define PCI_CMD_MEM    0x2
#define PCI_CMD_MASTER 0x4
#define MSIX_CTRL      2
#define MSIX_TABLE     4
#define MSIX_ENABLE    0x8000
#define MSIX_FMASK     0x4000

/* struct virtio_pci_cap (4.1.4) */
#define CAP_CFG_TYPE	3
#define CAP_BAR		4
#define CAP_OFFSET	8
#define CAP_LENGTH	12
#define CAP_NOTIFY_MULT 16

/* Common configuration (4.1.4.3) */
#define CC_DFSELECT 0x00
#define CC_DF	    0x04
#define CC_GFSELECT 0x08
#define CC_GF	    0x0c
#define CC_STATUS   0x14
#define CC_CFGGEN   0x15
#define CC_QSELECT  0x16
#define CC_QSIZE    0x18
#define CC_QMSIX    0x1a
#define CC_QENABLE  0x1c
#define CC_QNOFF    0x1e
#define CC_QDESC    0x20
#define CC_QDRIVER  0x28
#define CC_QDEVICE  0x30

static inline void fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint8_t kit_virtio_read8(struct kit_virtio *v, unsigned int off)
{
	return *(volatile uint8_t *)(v->common + off);
}

uint16_t kit_virtio_read16(struct kit_virtio *v, unsigned int off)
{
	return *(volatile uint16_t *)(v->common + off);
}

uint32_t kit_virtio_read32(struct kit_virtio *v, unsigned int off)
{
	return *(volatile uint32_t *)(v->common + off);
}

void kit_virtio_write8(struct kit_virtio *v, unsigned int off, uint8_t val)
{
	*(volatile uint8_t *)(v->common + off) = val;
}

void kit_virtio_write16(struct kit_virtio *v, unsigned int off, uint16_t val)
{
	*(volatile uint16_t *)(v->common + off) = val;
}

void kit_virtio_write32(struct kit_virtio *v, unsigned int off, uint32_t val)
{
	*(volatile uint32_t *)(v->common + off) = val;
}

uint8_t kit_virtio_status(struct kit_virtio *v)
{
	return kit_virtio_read8(v, CC_STATUS);
}

void kit_virtio_set_status(struct kit_virtio *v, uint8_t status)
{
	kit_virtio_write8(v, CC_STATUS, status);
}

/* Where the structure of the capability at cap lies, mapped; NULL if it cannot be. */
static volatile uint8_t *cap_addr(struct kit_virtio *v, uint8_t cap)
{
	uint8_t bar = kit_pci_read8((unsigned int)v->slot, cap + CAP_BAR);
	uint32_t off = kit_pci_read32((unsigned int)v->slot, cap + CAP_OFFSET);
	uint32_t len = kit_pci_read32((unsigned int)v->slot, cap + CAP_LENGTH);
	uint64_t base;

	if (bar > 5)
		return NULL;
	base = kit_pci_bar((unsigned int)v->slot, bar);
	if (!base || !kit_map_mmio(base + off, len ? len : 1))
		return NULL;
	v->bar_addr[bar] = base;
	return (volatile uint8_t *)(uintptr_t)(base + off);
}

bool kit_virtio_remap(struct kit_virtio *v)
{
	unsigned int slot = (unsigned int)v->slot;

	v->common = cap_addr(v, v->cap_common);
	v->isr = cap_addr(v, v->cap_isr);
	v->notify = cap_addr(v, v->cap_notify);
	v->device = v->cap_device ? cap_addr(v, v->cap_device) : NULL;
	if (!v->common || !v->isr || !v->notify || (v->cap_device && !v->device)) {
		printf("virtio: slot %u: a structure's BAR is not assigned or not mappable\n",
		       slot);
		return false;
	}
	if (v->msix_cap) {
		uint32_t t = kit_pci_read32(slot, v->msix_cap + MSIX_TABLE);
		uint64_t base = kit_pci_bar(slot, t & 7);

		if (!base || !kit_map_mmio(base + (t & ~7u), v->msix_nvec * 16u)) {
			printf("virtio: slot %u: the MSI-X table's BAR is not usable\n", slot);
			return false;
		}
		v->msix_table = (volatile uint32_t *)(uintptr_t)(base + (t & ~7u));
	}
	return true;
}

bool kit_virtio_find(struct kit_virtio *v, uint16_t device_id)
{
	int slot = kit_pci_find(0x1af4, (uint16_t)(0x1040 + device_id));

	memset(v, 0, sizeof(*v));
	v->slot = -1;
	return slot >= 0 && kit_virtio_open(v, (unsigned int)slot);
}

bool kit_virtio_open(struct kit_virtio *v, unsigned int slot)
{
	uint8_t cap = 0;

	memset(v, 0, sizeof(*v));
	v->slot = (int)slot;
	while ((cap = kit_pci_find_cap(slot, PCI_CAP_VNDR, cap))) {
		switch (kit_pci_read8(slot, cap + CAP_CFG_TYPE)) {
		case 1:
			v->cap_common = v->cap_common ? v->cap_common : cap;
			break;
		case 2:
			if (!v->cap_notify) {
				v->cap_notify = cap;
				v->notify_mult = kit_pci_read32(slot, cap + CAP_NOTIFY_MULT);
			}
			break;
		case 3:
			v->cap_isr = v->cap_isr ? v->cap_isr : cap;
			break;
		case 4:
			v->cap_device = v->cap_device ? v->cap_device : cap;
			break;
		case 5:
			v->cap_pcicfg = v->cap_pcicfg ? v->cap_pcicfg : cap;
			break;
		}
	}
	if (!v->cap_common || !v->cap_notify || !v->cap_isr) {
		printf("virtio: slot %u: a required capability is missing\n", slot);
		return false;
	}
	v->msix_cap = kit_pci_find_cap(slot, PCI_CAP_MSIX, 0);
	if (v->msix_cap)
		v->msix_nvec =
		    (uint16_t)((kit_pci_read16(slot, v->msix_cap + MSIX_CTRL) & 0x7ff) + 1);
	kit_pci_write16(slot, PCI_COMMAND,
			kit_pci_read16(slot, PCI_COMMAND) | PCI_CMD_MEM | PCI_CMD_MASTER);
	return kit_virtio_remap(v);
}

bool kit_virtio_init(struct kit_virtio *v, uint64_t wanted, uint64_t required)
{
	uint64_t offered;

	kit_virtio_set_status(v, 0);
	/* 4.1.4.3.2: the reset is done when status reads 0. */
	for (int i = 0; i < 1000000 && kit_virtio_status(v); i++)
		cpu_relax();
	kit_virtio_set_status(v, VIRTIO_STATUS_ACK);
	kit_virtio_set_status(v, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	kit_virtio_write32(v, CC_DFSELECT, 0);
	offered = kit_virtio_read32(v, CC_DF);
	kit_virtio_write32(v, CC_DFSELECT, 1);
	offered |= (uint64_t)kit_virtio_read32(v, CC_DF) << 32;
	required |= VIRTIO_F_VERSION_1;
	if ((offered & required) != required) {
		printf("virtio: device offers features 0x%lx, need 0x%lx\n", offered, required);
		return false;
	}
	wanted = (wanted | required) & offered;
	kit_virtio_write32(v, CC_GFSELECT, 0);
	kit_virtio_write32(v, CC_GF, (uint32_t)wanted);
	kit_virtio_write32(v, CC_GFSELECT, 1);
	kit_virtio_write32(v, CC_GF, (uint32_t)(wanted >> 32));
	kit_virtio_set_status(v,
			      VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	v->offered = offered;
	v->features = wanted;
	return kit_virtio_status(v) & VIRTIO_STATUS_FEATURES_OK;
}

/* Device configuration reads, retried until config_generation holds still (4.1.4.3.1). */
uint32_t kit_virtio_cfg(struct kit_virtio *v, unsigned int off, unsigned int width)
{
	uint32_t val;
	uint8_t gen;

	if (!v->device)
		return 0;
	do {
		gen = kit_virtio_read8(v, CC_CFGGEN);
		val = width == 1   ? *(volatile uint8_t *)(v->device + off)
		      : width == 2 ? *(volatile uint16_t *)(v->device + off)
				   : *(volatile uint32_t *)(v->device + off);
	} while (kit_virtio_read8(v, CC_CFGGEN) != gen);
	return val;
}

uint64_t kit_virtio_cfg64(struct kit_virtio *v, unsigned int off)
{
	uint32_t lo, hi;
	uint8_t gen;

	if (!v->device)
		return 0;
	do {
		gen = kit_virtio_read8(v, CC_CFGGEN);
		lo = *(volatile uint32_t *)(v->device + off);
		hi = *(volatile uint32_t *)(v->device + off + 4);
	} while (kit_virtio_read8(v, CC_CFGGEN) != gen);
	return lo | (uint64_t)hi << 32;
}

bool kit_virtio_msix(struct kit_virtio *v, unsigned int entry, uint8_t vector, uint8_t dest)
{
	volatile uint32_t *e;
	unsigned int slot = (unsigned int)v->slot;

	if (!v->msix_cap || entry >= v->msix_nvec)
		return false;
	e = v->msix_table + 4 * entry;
	e[0] = 0xfee00000u | (uint32_t)dest << 12; /* physical destination, no redirection hint */
	e[1] = 0;
	e[2] = vector; /* fixed delivery, edge */
	e[3] = 0;      /* unmasked */
	kit_pci_write16(slot, v->msix_cap + MSIX_CTRL,
			(uint16_t)((kit_pci_read16(slot, v->msix_cap + MSIX_CTRL) | MSIX_ENABLE) &
				   ~MSIX_FMASK));
	return true;
}

bool kit_virtq_setup(struct kit_virtio *v, struct kit_virtq *q, uint16_t index, uint16_t size,
		     void *mem, uint16_t msix_vector)
{
	uint16_t max, noff;
	uint8_t *m = mem;

	kit_virtio_write16(v, CC_QSELECT, index);
	max = kit_virtio_read16(v, CC_QSIZE);
	if (!max)
		return false;
	if (!size || size > max)
		size = max;
	memset(q, 0, sizeof(*q));
	memset(mem, 0, KIT_VIRTQ_MEM(size));
	q->index = index;
	q->size = size;
	q->desc = (volatile struct virtq_desc *)m;
	q->avail = (volatile uint16_t *)(m + 16u * size);
	q->used = (volatile uint32_t *)(m + ((size * 18u + 6u + 4095u) & ~4095u));
	q->event_idx = (v->features & VIRTIO_F_EVENT_IDX) != 0;
	q->num_free = size;
	for (uint16_t i = 0; i < size; i++)
		q->desc[i].next = (uint16_t)(i + 1u);
	noff = kit_virtio_read16(v, CC_QNOFF);
	q->notify = (volatile uint16_t *)(v->notify + (uint32_t)noff * v->notify_mult);
	kit_virtio_write16(v, CC_QSIZE, size);
	kit_virtio_write16(v, CC_QMSIX, msix_vector);
	kit_virtio_write32(v, CC_QDESC, (uint32_t)(uintptr_t)q->desc);
	kit_virtio_write32(v, CC_QDESC + 4, (uint32_t)((uintptr_t)q->desc >> 32));
	kit_virtio_write32(v, CC_QDRIVER, (uint32_t)(uintptr_t)q->avail);
	kit_virtio_write32(v, CC_QDRIVER + 4, (uint32_t)((uintptr_t)q->avail >> 32));
	kit_virtio_write32(v, CC_QDEVICE, (uint32_t)(uintptr_t)q->used);
	kit_virtio_write32(v, CC_QDEVICE + 4, (uint32_t)((uintptr_t)q->used >> 32));
	kit_virtio_write16(v, CC_QENABLE, 1);
	return kit_virtio_read16(v, CC_QENABLE) == 1;
}

uint16_t kit_virtq_add(struct kit_virtq *q, const struct kit_virtq_buf *bufs, unsigned int n)
{
	uint16_t head = q->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % q->size);

		q->desc[d].addr = bufs[i].addr;
		q->desc[d].len = bufs[i].len;
		q->desc[d].flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					      (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		q->desc[d].next = (uint16_t)((d + 1) % q->size);
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	q->avail[2 + q->avail_idx % q->size] = head;
	fence(); /* the entry before the index (2.7.13) */
	q->avail[1] = ++q->avail_idx;
	return head;
}

void kit_virtq_kick(struct kit_virtq *q)
{
	fence(); /* the index before the notification (2.7.13.4) */
	*q->notify = q->index;
}

bool kit_virtq_wait(struct kit_virtq *q, uint64_t timeout_us, uint32_t *id, uint32_t *len)
{
	uint64_t deadline = kit_deadline_us(timeout_us);
	unsigned int slot;

	while ((uint16_t)(q->used[0] >> 16) == q->last_used) {
		if (kit_expired(deadline))
			return false;
		cpu_relax();
	}
	fence(); /* the index before the element */
	slot = q->last_used++ % q->size;
	*id = q->used[1 + 2 * slot];
	*len = q->used[2 + 2 * slot];
	return true;
}

/* used->ring[size].avail_event and avail->ring[size].used_event (2.7.7, 2.7.10). */
static volatile uint16_t *avail_event(struct kit_virtq *q)
{
	return (volatile uint16_t *)q->used + 2 + 4 * (unsigned int)q->size;
}

static volatile uint16_t *used_event(struct kit_virtq *q)
{
	return q->avail + 2 + q->size;
}

int kit_virtq_post(struct kit_virtq *q, const struct kit_virtq_buf *bufs, unsigned int n,
		   volatile struct virtq_desc *table)
{
	unsigned int need = table ? 1 : n;
	uint16_t head = q->free_head, d = head, last = head;

	if (!n || need > q->num_free)
		return -1;
	if (table) {
		for (unsigned int i = 0; i < n; i++) {
			table[i].addr = bufs[i].addr;
			table[i].len = bufs[i].len;
			table[i].flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			table[i].next = (uint16_t)(i + 1);
		}
		q->desc[head].addr = (uint64_t)(uintptr_t)table;
		q->desc[head].len = 16u * n;
		q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	} else {
		/* The free list is linked through next: a chain taken off it is linked already. */
		for (unsigned int i = 0; i < n; i++) {
			last = d;
			q->desc[d].addr = bufs[i].addr;
			q->desc[d].len = bufs[i].len;
			q->desc[d].flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						      (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			d = q->desc[d].next;
		}
	}
	q->free_head = q->desc[last].next;
	q->num_free = (uint16_t)(q->num_free - need);
	q->avail[2 + q->avail_idx % q->size] = head;
	fence(); /* the entry before the index (2.7.13) */
	q->avail[1] = ++q->avail_idx;
	return head;
}

bool kit_virtq_get(struct kit_virtq *q, uint32_t *id, uint32_t *len)
{
	unsigned int slot;
	uint16_t d, n = 1;

	if ((uint16_t)(q->used[0] >> 16) == q->last_used)
		return false;
	fence(); /* the index before the element */
	slot = q->last_used++ % q->size;
	*id = q->used[1 + 2 * slot];
	*len = q->used[2 + 2 * slot];
	/* With the event index: the next interrupt at the next element, or half the ring away. */
	if (q->event_idx)
		*used_event(q) = (uint16_t)(q->last_used + (q->irq_off ? 0x7fffu : 0u));
	if (*id >= q->size)
		return true; /* not ours: nothing to free */
	for (d = (uint16_t)*id; q->desc[d].flags & VIRTQ_DESC_F_NEXT; d = q->desc[d].next)
		n++;
	q->desc[d].next = q->free_head;
	q->free_head = (uint16_t)*id;
	q->num_free = (uint16_t)(q->num_free + n);
	return true;
}

void kit_virtq_irq(struct kit_virtq *q, bool on)
{
	q->irq_off = !on;
	if (q->event_idx)
		*used_event(q) = (uint16_t)(q->last_used + (on ? 0u : 0x7fffu));
	else
		q->avail[0] = on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
	fence();
}

bool kit_virtq_notify(struct kit_virtq *q)
{
	uint16_t old = q->kicked_idx, now = q->avail_idx;
	bool kick;

	fence(); /* the avail idx before reading the device's suppression fields */
	if (q->event_idx)
		kick = (uint16_t)(now - *avail_event(q) - 1u) < (uint16_t)(now - old);
	else
		kick = !(q->used[0] & VIRTQ_USED_F_NO_NOTIFY);
	q->kicked_idx = now;
	if (kick)
		*q->notify = q->index;
	return kick;
}
