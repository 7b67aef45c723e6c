/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue, device side (virtio 1.2, section 2.7 "Split Virtqueues"):
 * walking descriptor chains (2.7.5, indirect tables 2.7.5.3) from the available
 * ring (2.7.6) into host iovecs, returning them through the used ring (2.7.8),
 * and notification suppression both ways (2.7.7, 2.7.10). See queue.c.
 *
 * Every ring field is written by a guest that may be hostile and may change it
 * while we look: each value is read once into a local and checked there, every
 * loop is bounded, and a malformed ring makes virtq_pop fail with a reason
 * rather than guess. The caller (virtio/core.c) then puts the device into
 * DEVICE_NEEDS_RESET. A virtq is not locked: its owner serialises calls.
 */
#ifndef KVMM_VIRTIO_QUEUE_H
#define KVMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "machine/gmem.h"

/* 2.7: the largest power of 2 a 16-bit index can tell full from empty with. */
#define VIRTQ_MAX_SIZE 32768u
/*
 * Our "reasonable limit of descriptors in a chain" (2.7.4.1), direct and
 * indirect together: the host's IOV_MAX, like other devices use.
 */
#define VIRTQ_MAX_IOV 1024u
/* Entries in one indirect table: no valid chain can use more than VIRTQ_MAX_IOV. */
#define VIRTQ_MAX_INDIRECT VIRTQ_MAX_IOV

#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Longest reason string virtq_pop/virtq_init leave behind, with the NUL. */
#define VIRTQ_REASON_LEN 128

/*
 * One popped descriptor chain: iov[0, out_num) are device-readable buffers,
 * iov[out_num, out_num + in_num) device-writable ones (2.7.4.2 puts every
 * writable buffer after every readable one). Zero-length descriptors are
 * skipped. The host pointers stay valid for the VM's life (guest RAM is never
 * unmapped), but the guest may rewrite the bytes at any time.
 */
struct virtq_elem {
	uint16_t head; /* descriptor table index to return in the used ring */
	uint16_t out_num, in_num;
	uint32_t out_len, in_len; /* byte totals of each part */
	struct iovec iov[VIRTQ_MAX_IOV];
};

struct virtq {
	const struct gmem *mem;
	uint16_t size;	/* power of 2, 1..VIRTQ_MAX_SIZE */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Host mappings of the three parts, checked once by virtq_init. */
	uint8_t *desc, *avail, *used;

	/* The device's own progress: saved in snapshots, never read back from the guest. */
	uint16_t last_avail_idx; /* next available ring entry to pop */
	uint16_t used_idx;	 /* next used ring entry to fill */
	/*
	 * used_idx when virtq_should_notify last ran: the driver has been told
	 * about everything before it (starts at 0 with used_idx: nothing to tell).
	 */
	uint16_t signalled_used;
	/* Between virtq_disable_notify and virtq_enable_notify: the device polls the ring. */
	bool notify_off;

	/*
	 * Loop detection: seen[i] == stamp when descriptor i (or, from index size
	 * on, entry i of the indirect table) was already visited by this pop.
	 */
	uint16_t stamp;
	uint16_t *seen;
	char reason[VIRTQ_REASON_LEN];
};

/*
 * Sets up q (which must be zeroed or virtq_destroy'ed) over the guest's rings:
 * checks the size is a power of 2 no larger than VIRTQ_MAX_SIZE, each part is
 * aligned (16, 2, 4) and lies whole inside one RAM region (16 * size,
 * 6 + 2 * size and 6 + 8 * size bytes), and caches host pointers. Indices start
 * at 0. Returns 0, -EINVAL or -EFAULT with virtq_reason(q) saying why, or -ENOMEM.
 */
int virtq_init(struct virtq *q, const struct gmem *mem, uint16_t size, uint64_t desc,
	       uint64_t avail, uint64_t used, bool event_idx, bool indirect);
void virtq_destroy(struct virtq *q);

/*
 * Takes the next available chain into e. Returns 1 when one was popped, 0 when
 * the ring is empty, or a negative errno when the ring is broken (-EINVAL
 * malformed, -ELOOP a loop or over-long chain, -E2BIG too many buffers or
 * bytes, -EFAULT a buffer outside guest RAM), with virtq_reason(q) saying why;
 * q is then unusable until reset. With event index, it also publishes
 * avail_event so the driver notifies us for the next buffer, and re-checks the
 * ring after doing so, so that "pop until 0" never misses a buffer.
 */
int virtq_pop(struct virtq *q, struct virtq_elem *e);

/*
 * Notification suppression while the device polls the available ring itself
 * (2.7.7, 2.7.10): virtq_disable_notify asks the driver not to notify (with
 * event index, avail_event one behind the next entry to pop, which the
 * driver's next index cannot step over; without, VIRTQ_USED_F_NO_NOTIFY), and
 * virtq_pop keeps it so. virtq_enable_notify asks for notifications again,
 * then looks at the ring once more: true when buffers are waiting, which no
 * notification will announce, so pop them. Either is only a hint the driver
 * may read late: a notification may still come, and drivers must cope.
 */
void virtq_disable_notify(struct virtq *q);
bool virtq_enable_notify(struct virtq *q);
/* Whether the driver has made buffers available that are not popped yet (or the idx is bad). */
bool virtq_has_avail(const struct virtq *q);

/*
 * Returns e to the driver with `written` bytes written to its device-writable
 * part (clamped to e->in_len): the used element, then (release) the used idx.
 */
void virtq_push(struct virtq *q, const struct virtq_elem *e, uint32_t written);

/*
 * Whether the driver wants a used buffer notification for what was pushed
 * since the last call: VIRTQ_AVAIL_F_NO_INTERRUPT, or with event index whether
 * used idx passed used_event (2.7.10). Call after a batch of pushes.
 */
bool virtq_should_notify(struct virtq *q);

/* Why the last virtq_init or virtq_pop failed ("" if none did). */
const char *virtq_reason(const struct virtq *q);

#endif
