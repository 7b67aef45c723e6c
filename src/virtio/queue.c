/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side: virtio 1.2 section 2.7. The layout of the three
 * parts and their alignment (2.7 table), descriptors and chains (2.7.5),
 * indirect tables (2.7.5.3: only at the end of a chain, never with NEXT, never
 * nested), the available ring (2.7.6), the used ring (2.7.8: len and the
 * element before idx), and notification suppression (2.7.7 flags and
 * used_event, 2.7.10 avail_event).
 *
 * Memory ordering: the driver writes descriptors and ring entries, then (after
 * a barrier) the available idx; we load that idx with acquire semantics before
 * reading anything it publishes. We write used elements, then store the used
 * idx with release semantics. Notification decisions need a full barrier
 * between our store and our load of the driver's suppression fields (and the
 * driver does the mirror image), or each side can miss the other's update.
 *
 * The guest shares all of this memory and can rewrite it while we read:
 * descriptors are copied out with single (volatile) loads and only the copy is
 * used; ring indices are loaded once, checked, and never re-read.
 */
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESC_SIZE 16u

/* A descriptor as read once from guest memory, in host byte order. */
struct virtq_desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

__attribute__((format(printf, 3, 4))) static int virtq_fail(struct virtq *q, int err,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
	va_end(ap);
	return err;
}

const char *virtq_reason(const struct virtq *q)
{
	return q->reason;
}

/* Ring fields are naturally aligned (virtq_init checked the part alignments). */
static uint16_t virtq_load16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static void virtq_store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

static void virtq_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * Copies one descriptor out of guest memory, each byte read exactly once, so a
 * concurrent guest write cannot make two uses of a field disagree. Indirect
 * tables need not be 8-byte aligned (the spec sets no alignment for them).
 */
static void virtq_read_desc(const uint8_t *p, struct virtq_desc_copy *d)
{
	uint64_t w[2];

	if (!((uintptr_t)p & 7)) {
		const volatile uint64_t *s = (const volatile uint64_t *)(const void *)p;

		w[0] = s[0];
		w[1] = s[1];
	} else {
		const volatile uint8_t *s = p;
		uint8_t b[DESC_SIZE];

		for (unsigned i = 0; i < DESC_SIZE; i++)
			b[i] = s[i];
		memcpy(w, b, sizeof(w));
	}
	w[0] = le64toh(w[0]);
	w[1] = le64toh(w[1]);
	d->addr = w[0];
	d->len = (uint32_t)w[1];
	d->flags = (uint16_t)(w[1] >> 32);
	d->next = (uint16_t)(w[1] >> 48);
}

int virtq_init(struct virtq *q, const struct gmem *mem, uint16_t size, uint64_t desc,
	       uint64_t avail, uint64_t used, bool event_idx, bool indirect)
{
	memset(q, 0, sizeof(*q));
	if (!size || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return virtq_fail(q, -EINVAL, "queue size %u is not a power of 2 in 1..%u", size,
				  VIRTQ_MAX_SIZE);
	if ((desc & 15) || (avail & 1) || (used & 3))
		return virtq_fail(q, -EINVAL,
				  "misaligned rings: descriptors %#llx (16), available %#llx (2), "
				  "used %#llx (4)",
				  (unsigned long long)desc, (unsigned long long)avail,
				  (unsigned long long)used);
	/* The event index fields are counted whether or not they are negotiated (2.7 table). */
	q->desc = gmem_ptr(mem, desc, DESC_SIZE * (uint64_t)size);
	q->avail = gmem_ptr(mem, avail, 6 + 2 * (uint64_t)size);
	q->used = gmem_ptr(mem, used, 6 + 8 * (uint64_t)size);
	if (!q->desc || !q->avail || !q->used) {
		int err = virtq_fail(q, -EFAULT, "%s ring at %#llx is not inside one RAM region",
				     !q->desc	 ? "descriptor"
				     : !q->avail ? "available"
						 : "used",
				     (unsigned long long)(!q->desc    ? desc
							  : !q->avail ? avail
								      : used));
		q->desc = q->avail = q->used = NULL;
		return err;
	}
	q->seen = calloc((size_t)size + VIRTQ_MAX_INDIRECT, sizeof(*q->seen));
	if (!q->seen) {
		q->desc = q->avail = q->used = NULL;
		return virtq_fail(q, -ENOMEM, "out of memory");
	}
	q->mem = mem;
	q->size = size;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->desc_gpa = desc;
	q->avail_gpa = avail;
	q->used_gpa = used;
	return 0;
}

void virtq_destroy(struct virtq *q)
{
	free(q->seen);
	memset(q, 0, sizeof(*q));
}

/* Host pointer for a buffer, or a failure that says how the range is wrong. */
static int virtq_map(struct virtq *q, const char *what, unsigned idx, uint64_t addr, uint32_t len,
		     void **out)
{
	*out = gmem_ptr(q->mem, addr, len);
	if (*out)
		return 0;
	if (addr + len - 1 < addr)
		return virtq_fail(q, -EFAULT, "%s %u: %#llx+%#x wraps around the address space",
				  what, idx, (unsigned long long)addr, len);
	if (!gmem_region_end(q->mem, addr))
		return virtq_fail(q, -EFAULT, "%s %u: %#llx+%#x is not guest RAM", what, idx,
				  (unsigned long long)addr, len);
	return virtq_fail(q, -EFAULT, "%s %u: %#llx+%#x crosses the end of its RAM region", what,
			  idx, (unsigned long long)addr, len);
}

/* Descriptor idx of the queue's table refers to an indirect table (2.7.5.3): map it. */
static int virtq_check_indirect(struct virtq *q, uint32_t idx, const struct virtq_desc_copy *d,
				void **table)
{
	if (!q->indirect)
		return virtq_fail(q, -EINVAL,
				  "descriptor %u: indirect, but VIRTIO_F_INDIRECT_DESC was not "
				  "negotiated",
				  idx);
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return virtq_fail(q, -EINVAL, "descriptor %u: indirect with the NEXT flag", idx);
	if (!d->len || d->len % DESC_SIZE)
		return virtq_fail(q, -EINVAL,
				  "descriptor %u: indirect table length %u is not a non-zero "
				  "multiple of 16",
				  idx, d->len);
	if (d->len / DESC_SIZE > VIRTQ_MAX_INDIRECT)
		return virtq_fail(q, -E2BIG,
				  "descriptor %u: indirect table of %u entries, more than %u", idx,
				  d->len / DESC_SIZE, VIRTQ_MAX_INDIRECT);
	return virtq_map(q, "indirect table of descriptor", idx, d->addr, d->len, table);
}

/* Walks the chain at head (already range-checked) into e. */
static int virtq_walk(struct virtq *q, struct virtq_elem *e, uint16_t head)
{
	const uint8_t *table = q->desc;
	uint16_t *seen = q->seen;
	uint32_t n = q->size, idx = head, steps = 0;
	const char *what = "descriptor";
	uint64_t total = 0;
	bool writable = false;

	e->head = head;
	e->out_num = e->in_num = 0;
	e->out_len = e->in_len = 0;
	/* A new stamp per pop clears every seen mark at once; wipe them when it wraps. */
	if (++q->stamp == 0) {
		memset(q->seen, 0, ((size_t)q->size + VIRTQ_MAX_INDIRECT) * sizeof(*q->seen));
		q->stamp = 1;
	}
	for (;;) {
		struct virtq_desc_copy d;
		void *p;
		int rc;

		/*
		 * Both bounds stop any loop: a revisit is reported as one, and a
		 * chain cannot have more steps than its table has entries.
		 */
		if (seen[idx] == q->stamp)
			return virtq_fail(q, -ELOOP, "%s %u visited twice: the chain loops", what,
					  idx);
		if (++steps > n)
			return virtq_fail(q, -ELOOP, "chain longer than its table (%u entries)", n);
		seen[idx] = q->stamp;
		virtq_read_desc(table + DESC_SIZE * idx, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (table != q->desc)
				return virtq_fail(q, -EINVAL, "%s %u: nested indirect descriptor",
						  what, idx);
			rc = virtq_check_indirect(q, idx, &d, &p);
			if (rc)
				return rc;
			/* The table replaces the rest of the chain (NEXT is refused). */
			table = p;
			seen = q->seen + q->size;
			n = d.len / DESC_SIZE;
			idx = 0;
			steps = 0;
			what = "indirect descriptor";
			continue;
		}

		if (d.flags & VIRTQ_DESC_F_WRITE)
			writable = true;
		else if (writable)
			return virtq_fail(q, -EINVAL,
					  "%s %u is device-readable after a device-writable one",
					  what, idx);
		total += d.len;
		if (total > UINT32_MAX)
			return virtq_fail(q, -E2BIG, "chain longer than 4 GiB in total");
		/* Zero-length buffers carry nothing; there is no address to check. */
		if (d.len) {
			if (e->out_num + e->in_num >= VIRTQ_MAX_IOV)
				return virtq_fail(q, -E2BIG, "chain of more than %u buffers",
						  VIRTQ_MAX_IOV);
			rc = virtq_map(q, what, idx, d.addr, d.len, &p);
			if (rc)
				return rc;
			e->iov[e->out_num + e->in_num] = (struct iovec){p, d.len};
			if (writable) {
				e->in_num++;
				e->in_len += d.len;
			} else {
				e->out_num++;
				e->out_len += d.len;
			}
		}

		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return virtq_fail(q, -EINVAL, "%s %u: next %u is out of range (%u entries)",
					  what, idx, d.next, n);
		idx = d.next;
	}
}

/* used->ring[size].avail_event and avail->ring[size].used_event (2.7.7, 2.7.10). */
static uint8_t *virtq_avail_event(struct virtq *q)
{
	return q->used + 4 + 8 * (uint32_t)q->size;
}

static const uint8_t *virtq_used_event(struct virtq *q)
{
	return q->avail + 4 + 2 * (uint32_t)q->size;
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
	uint16_t avail_idx, pending, head;
	int rc;

	if (!q->seen)
		return virtq_fail(q, -EINVAL, "queue is not set up");
	avail_idx = virtq_load16(q->avail + 2, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - q->last_avail_idx);
	if (!pending && q->event_idx && !q->notify_off) {
		/*
		 * Ask for a notification at the next buffer, then look again: a
		 * buffer added before the driver could see avail_event would
		 * otherwise sit in the ring with no notification coming.
		 */
		virtq_store16(virtq_avail_event(q), q->last_avail_idx, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = virtq_load16(q->avail + 2, __ATOMIC_ACQUIRE);
		pending = (uint16_t)(avail_idx - q->last_avail_idx);
	}
	if (!pending)
		return 0;
	/* The ring holds at most size entries; more means idx is garbage. */
	if (pending > q->size)
		return virtq_fail(q, -EINVAL,
				  "available idx %u is %u entries ahead of the device's %u "
				  "(queue size %u)",
				  avail_idx, pending, q->last_avail_idx, q->size);
	head =
	    virtq_load16(q->avail + 4 + 2 * (q->last_avail_idx & (q->size - 1u)), __ATOMIC_RELAXED);
	if (head >= q->size)
		return virtq_fail(q, -EINVAL,
				  "available ring entry %u: head descriptor %u is out of range "
				  "(queue size %u)",
				  q->last_avail_idx, head, q->size);
	rc = virtq_walk(q, e, head);
	if (rc)
		return rc;
	q->last_avail_idx++;
	/*
	 * Notifications for buffers we will pop anyway are wasted exits; only
	 * the buffer after the last one we took is worth one (2.7.10).
	 */
	if (q->event_idx)
		virtq_store16(virtq_avail_event(q),
			      (uint16_t)(q->last_avail_idx - (q->notify_off ? 1u : 0u)),
			      __ATOMIC_RELAXED);
	return 1;
}

void virtq_disable_notify(struct virtq *q)
{
	if (!q->seen)
		return;
	q->notify_off = true;
	/*
	 * The driver notifies when its new idx steps over avail_event (2.7.10):
	 * one behind our next entry, every index it can reach lies past it.
	 */
	if (q->event_idx)
		virtq_store16(virtq_avail_event(q), (uint16_t)(q->last_avail_idx - 1u),
			      __ATOMIC_RELAXED);
	else
		virtq_store16(q->used, VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->seen)
		return false;
	q->notify_off = false;
	if (q->event_idx)
		virtq_store16(virtq_avail_event(q), q->last_avail_idx, __ATOMIC_RELAXED);
	else
		virtq_store16(q->used, 0, __ATOMIC_RELAXED);
	/* Our store before the driver's idx, as in virtq_pop: one side sees the other's. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_avail(q);
}

bool virtq_has_avail(const struct virtq *q)
{
	return q->seen && virtq_load16(q->avail + 2, __ATOMIC_ACQUIRE) != q->last_avail_idx;
}

void virtq_push(struct virtq *q, const struct virtq_elem *e, uint32_t written)
{
	uint8_t *slot;

	if (!q->seen)
		return;
	slot = q->used + 4 + 8 * (q->used_idx & (q->size - 1u));
	/* Never claim more than the driver offered: it may trust len (2.7.8). */
	if (written > e->in_len)
		written = e->in_len;
	virtq_store32(slot, e->head);
	virtq_store32(slot + 4, written);
	q->used_idx++;
	/* Release: the element and the bytes written to the buffers before the idx. */
	virtq_store16(q->used + 2, q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx, event;

	if (!q->seen)
		return false;
	q->signalled_used = now;
	/*
	 * Our used idx store before the driver's suppression fields: the driver
	 * re-enables notifications and then re-reads used idx, and one side has
	 * to see the other's write.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (old == now)
		return false; /* nothing new since the last notification decision */
	if (!q->event_idx)
		return !(virtq_load16(q->avail, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	event = virtq_load16(virtq_used_event(q), __ATOMIC_RELAXED);
	/* Did used idx step over used_event on its way from old to now? (2.7.10) */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
