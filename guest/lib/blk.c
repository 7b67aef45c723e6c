/* SPDX-License-Identifier: MIT */
/*
 * A ring-3 virtio-blk driver for test guests (virtio 1.2, 5.2): device
 * initialization with the block features (5.2.3), the configuration layout
 * (5.2.4), 1..KIT_BLK_MAX_QUEUES request queues (5.2.2, VIRTIO_BLK_F_MQ), and
 * requests (5.2.6) as chains built in several legal ways (the header split
 * in two, the data in many pieces of odd lengths, the status byte sharing
 * the last data buffer, an indirect table: the device must not assume any
 * framing, 2.6.4), completed in any order through kit_virtq_post/_get.
 * Completions are polled; interrupts (MSI-X) are only counted.
 */
#include "kit.h"

#define CC_MSIX	   0x10
#define CC_QSELECT 0x16
#define CC_QSIZE   0x18

static inline void fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool kit_blk_open(struct kit_blk *b, unsigned int slot)
{
	memset(b, 0, sizeof(*b));
	return kit_virtio_open(&b->v, slot);
}

static void blk_read_config(struct kit_blk *b)
{
	struct kit_virtio *v = &b->v;

	b->capacity = kit_virtio_cfg64(v, KIT_BLK_CFG_CAPACITY);
	b->seg_max =
	    v->features & KIT_BLK_F_SEG_MAX ? kit_virtio_cfg(v, KIT_BLK_CFG_SEG_MAX, 4) : 0;
	b->blk_size =
	    v->features & KIT_BLK_F_BLK_SIZE ? kit_virtio_cfg(v, KIT_BLK_CFG_BLK_SIZE, 4) : 512;
	b->num_queues =
	    v->features & KIT_BLK_F_MQ ? (uint16_t)kit_virtio_cfg(v, KIT_BLK_CFG_NUM_QUEUES, 2) : 1;
	if (v->features & KIT_BLK_F_DISCARD) {
		b->max_discard_sectors = kit_virtio_cfg(v, KIT_BLK_CFG_MAX_DISCARD_SECTORS, 4);
		b->max_discard_seg = kit_virtio_cfg(v, KIT_BLK_CFG_MAX_DISCARD_SEG, 4);
		b->discard_align = kit_virtio_cfg(v, KIT_BLK_CFG_DISCARD_ALIGN, 4);
	}
	if (v->features & KIT_BLK_F_WRITE_ZEROES) {
		b->max_wz_sectors = kit_virtio_cfg(v, KIT_BLK_CFG_MAX_WZ_SECTORS, 4);
		b->max_wz_seg = kit_virtio_cfg(v, KIT_BLK_CFG_MAX_WZ_SEG, 4);
		b->wz_may_unmap = (uint8_t)kit_virtio_cfg(v, KIT_BLK_CFG_WZ_MAY_UNMAP, 1);
	}
}

bool kit_blk_start(struct kit_blk *b, uint64_t wanted, unsigned int nq, void *ring_mem,
		   int msix_vector, uint8_t dest)
{
	struct kit_virtio *v = &b->v;
	uint8_t *mem = ring_mem;

	if (!kit_virtio_init(v, wanted, 0)) {
		printf("virtio-blk: features not accepted (status 0x%x)\n", kit_virtio_status(v));
		return false;
	}
	blk_read_config(b);
	if (!nq || nq > b->num_queues)
		nq = b->num_queues;
	if (nq > KIT_BLK_MAX_QUEUES)
		nq = KIT_BLK_MAX_QUEUES;
	b->nq = nq;
	b->irq = msix_vector >= 0;
	if (b->irq) {
		/* Entry q: queue q; entry nq: configuration changes. */
		for (unsigned int i = 0; i <= nq; i++)
			if (!kit_virtio_msix(v, i, (uint8_t)(msix_vector + (int)i), dest)) {
				printf("virtio-blk: no MSI-X entry %u (%u vectors)\n", i,
				       v->msix_nvec);
				return false;
			}
		kit_virtio_write16(v, CC_MSIX, (uint16_t)nq);
	}
	for (unsigned int i = 0; i < nq; i++) {
		struct kit_blk_queue *q = &b->q[i];

		memset(q, 0, sizeof(*q));
		if (!kit_virtq_setup(v, &q->vq, (uint16_t)i, KIT_BLK_QSIZE,
				     mem + (size_t)i * KIT_VIRTQ_MEM(KIT_BLK_QSIZE),
				     b->irq ? (uint16_t)i : VIRTIO_NO_VECTOR)) {
			printf("virtio-blk: queue %u not enabled (status 0x%x)\n", i,
			       kit_virtio_status(v));
			return false;
		}
		kit_virtq_irq(&q->vq, b->irq);
	}
	kit_virtio_set_status(v, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
				     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	if (kit_virtio_status(v) & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		printf("virtio-blk: status 0x%x after DRIVER_OK\n", kit_virtio_status(v));
		return false;
	}
	return true;
}

/* Lengths of pieces that add up to total, uneven on purpose (none empty). */
static uint32_t piece_len(uint32_t total, unsigned int pieces, unsigned int i, uint32_t done)
{
	uint32_t base = total / pieces, wobble = base / 3 < 77 ? base / 3 : 77;

	if (i + 1 == pieces)
		return total - done;
	return i & 1 ? base - wobble : base + wobble;
}

bool kit_blk_post(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r)
{
	struct kit_blk_queue *q = &b->q[qi];
	struct kit_virtq_buf bufs[KIT_BLK_MAX_PIECES + 3];
	bool in = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID;
	unsigned int n = 0, pieces = r->pieces ? r->pieces : 1;
	uint32_t done = 0;
	int head;

	if (pieces > KIT_BLK_MAX_PIECES)
		pieces = KIT_BLK_MAX_PIECES;
	if (pieces > r->bytes)
		pieces = r->bytes ? r->bytes : 1;
	r->hdr.type = r->type;
	r->hdr.reserved = 0;
	r->hdr.sector = r->sector;
	r->status = 0xff;
	r->done = false;
	if (r->split_header) {
		bufs[n++] = (struct kit_virtq_buf){(uint64_t)(uintptr_t)&r->hdr, 8, false};
		bufs[n++] = (struct kit_virtq_buf){(uint64_t)(uintptr_t)&r->hdr + 8, 8, false};
	} else {
		bufs[n++] = (struct kit_virtq_buf){(uint64_t)(uintptr_t)&r->hdr, 16, false};
	}
	for (unsigned int i = 0; r->bytes && i < pieces; i++) {
		uint32_t len = piece_len(r->bytes, pieces, i, done);

		bufs[n++] = (struct kit_virtq_buf){(uint64_t)(uintptr_t)r->data + done, len, in};
		done += len;
	}
	if (in && r->status_in_data && r->bytes) {
		r->data[r->bytes] = 0xff;
		bufs[n - 1].len++; /* the status byte follows the data in the same buffer */
	} else {
		bufs[n++] = (struct kit_virtq_buf){(uint64_t)(uintptr_t)&r->status, 1, true};
	}
	head = kit_virtq_post(&q->vq, bufs, n, r->indirect ? r->table : NULL);
	if (head < 0)
		return false;
	q->by_head[head] = r;
	q->inflight++;
	q->posted++;
	return true;
}

void kit_blk_kick(struct kit_blk *b, unsigned int qi)
{
	if (kit_virtq_notify(&b->q[qi].vq))
		b->q[qi].kicks++;
}

unsigned int kit_blk_reap(struct kit_blk *b, unsigned int qi)
{
	struct kit_blk_queue *q = &b->q[qi];
	unsigned int n = 0;
	uint32_t id, len;

	while (kit_virtq_get(&q->vq, &id, &len)) {
		struct kit_blk_req *r = id < KIT_BLK_QSIZE ? q->by_head[id] : NULL;

		if (!r) {
			printf("virtio-blk: FAIL queue %u: used id %u is no request of ours\n", qi,
			       id);
			exit(3);
		}
		q->by_head[id] = NULL;
		q->inflight--;
		fence();
		if (r->status_in_data && r->bytes &&
		    (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID))
			r->status = r->data[r->bytes];
		r->used_len = len;
		r->done = true;
		n++;
	}
	return n;
}

bool kit_blk_wait(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r, uint64_t timeout_us)
{
	uint64_t deadline = kit_deadline_us(timeout_us);

	while (!r->done) {
		if (!kit_blk_reap(b, qi)) {
			if (kit_expired(deadline))
				return false;
			cpu_relax();
		}
	}
	return true;
}

int kit_blk_sync(struct kit_blk *b, unsigned int qi, struct kit_blk_req *r, uint64_t timeout_us)
{
	uint64_t deadline = kit_deadline_us(timeout_us);

	while (!kit_blk_post(b, qi, r)) {
		kit_blk_kick(b, qi);
		if (!kit_blk_reap(b, qi) && kit_expired(deadline))
			return -1;
	}
	kit_blk_kick(b, qi);
	if (!kit_blk_wait(b, qi, r, timeout_us))
		return -1;
	return r->status;
}
