/* SPDX-License-Identifier: MIT */
/*
 * virtio block device: virtio 1.2 section 5.2 "Block Device". Each request is
 * a chain (5.2.6): a 16-byte device-readable header {le32 type, le32
 * reserved, le64 sector}, data (device-readable for OUT, DISCARD and
 * WRITE_ZEROES; device-writable for IN and GET_ID; none for FLUSH), and a
 * final device-writable status byte.
 *
 * Everything in a request is the guest's and may be wrong on purpose. The
 * header and segments are copied out once and checked; the status byte is the
 * last writable byte; data must sit on the side its type says, in whole
 * 512-byte sectors, inside the disk. A request that breaks these rules is
 * completed with VIRTIO_BLK_S_IOERR (unknown types and flags with
 * VIRTIO_BLK_S_UNSUPP, as 5.2.6.2 requires) and the device goes on. Only a
 * chain with no writable byte at all, where no status can be reported, puts
 * the device in DEVICE_NEEDS_RESET, as does a broken ring (virtio/core.c).
 *
 * Requests run asynchronously on the disk's I/O engine: handle_queue parses
 * them under the device lock and sets them aside; after_handle, with the lock
 * released, hands everything set aside to the disk in one batch (block_plug,
 * one io_uring_enter at block_unplug) and, still on the notifying thread,
 * runs the completions that were ready at once (cached reads, most buffered
 * writes). So the common request costs no thread hand-off and no contended
 * lock. A completion, there or on the engine's thread, takes the lock to
 * write the status byte, push the used element and decide on the interrupt.
 * Only one thread submits at a time (blk->submitting): requests set aside
 * meanwhile, by a completion that resumed a throttled queue or by another
 * thread's notification, are picked up by its next round, which also bounds
 * how deeply completions nest inside block_unplug.
 *
 * Polling: a guest that keeps a request or a few in flight usually has the
 * next one ready within microseconds of seeing a completion; waiting for its
 * notification instead costs it an exit (an ioeventfd write, ~6 us on PVM)
 * and us a sleep and a wake-up. So on the I/O thread, once a batch has
 * completed at once, virtio_blk_poll watches the rings for up to poll_ns
 * with notifications suppressed (queue.h). The window adapts as QEMU's
 * IOThread polling does, from how long the thread waited in all when a
 * window passed empty: under the window, fine; under VIRTIO_BLK_POLL_MAX_NS,
 * it doubles (from 0 to VIRTIO_BLK_POLL_MIN_NS); longer, it halves (to 0
 * below the minimum). A guest that is not busy costs at most a few short
 * windows, and a vCPU that shares our CPU (polls cannot succeed while we
 * spin) turns it off. A busy guest could keep the I/O thread here for
 * good, so after VIRTIO_BLK_POLL_BUDGET_NS it pops what is there with
 * notifications on, submits it and returns to its other devices; the
 * guest's next request then notifies as usual.
 *
 * A reset waits for requests in flight
 * (they may still write guest RAM the driver is about to reuse) with the lock
 * released so that their completions can run, and completions of requests
 * from before a reset touch nothing in the guest.
 *
 * Write caching (5.2.6.2): we offer VIRTIO_BLK_F_FLUSH and not CONFIG_WCE.
 * A driver that accepts FLUSH sees a writeback cache and sends FLUSH requests
 * (fdatasync); one that does not gets writethrough: every write, discard and
 * write zeroes is followed by a flush before it completes.
 */
#include "virtio/blk.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define VIRTIO_BLK_SECTOR 512u
/* Polling windows (see above); QEMU's IOThreads default to 32 us. The default
 * maximum; the machine sets its --io-poll-max (virtio_blk_set_poll_max). */
#define VIRTIO_BLK_POLL_MAX_NS 64000u
#define VIRTIO_BLK_POLL_MIN_NS 4000u
/* Spins between two looks at the rings, with the lock released. */
#define VIRTIO_BLK_POLL_SPINS 16
/* The longest the I/O thread stays with us before its other devices get a turn. */
#define VIRTIO_BLK_POLL_BUDGET_NS 500000u

struct virtio_blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
};

/* One request in flight: everything its completion needs, copied out of the chain. */
struct virtio_blk_req {
	struct virtio_blk *blk;
	unsigned q;
	uint16_t head;
	uint32_t in_len;  /* of the chain: the used length is clamped to it */
	uint32_t written; /* the used length when it succeeds */
	uint8_t *status;
	uint64_t generation; /* blk->generation when it was popped */
	bool writethrough;   /* flush before completing */
	bool flushing;
	unsigned nseg, seg; /* DISCARD / WRITE_ZEROES: segments, the one running */
	struct virtio_blk_seg *segs;
	struct virtio_blk_req *next; /* in blk->pending */
	struct block_req br;
	struct iovec iov[]; /* then the segments */
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct block_dev *disk;
	uint64_t capacity; /* sectors */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES]; /* NUL-padded */
	char name[48];
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];

	/* Under the device lock. */
	pthread_cond_t idle; /* inflight reached 0; waited on with vdev.lock */
	unsigned inflight;
	unsigned *queue_inflight;
	/* Queue q stopped popping at its in-flight limit: a completion resumes it. */
	bool *queue_throttled;
	/* Parsed, counted in flight, not yet submitted: for virtio_blk_kick. */
	struct virtio_blk_req *pending, **pending_tail;
	bool submitting;  /* a thread is in virtio_blk_kick's loop */
	uint64_t poll_ns; /* the polling window now; 0: not polling */
	uint64_t poll_max_ns; /* its limit (virtio_blk_set_poll_max); 0: never poll */
	uint64_t
	    poll_start;	  /* CLOCK_MONOTONIC ns: the start of the last window that passed empty */
	bool poll_missed; /* poll_start is set and not yet accounted for */
	/* Bumped by each reset: older requests' completions leave the guest alone. */
	uint64_t generation;
	bool warned_req, warned_io; /* since reset: further ones are logged at debug */
	/* Popped into under the lock; completions borrow head and in_len to push. */
	struct virtq_elem elem;
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Lock held. A malformed request: warn once per reset, so a guest cannot flood the log. */
__attribute__((format(printf, 2, 3))) static void virtio_blk_refuse(struct virtio_blk *blk,
								    const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (blk->warned_req) {
		log_debug(blk->name, "bad request: %s", msg);
		return;
	}
	blk->warned_req = true;
	log_warn(blk->name, "bad request: %s (more are logged at debug level)", msg);
}

/* Copies [off, off + len) of the readable part of e into buf; false if the part is shorter. */
static bool virtio_blk_copy_out(const struct virtq_elem *e, size_t off, void *buf, size_t len)
{
	uint8_t *dst = buf;

	for (unsigned i = 0; i < e->out_num && len; i++) {
		size_t l = e->iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = l - off < len ? l - off : len;
		memcpy(dst, (const uint8_t *)e->iov[i].iov_base + off, n);
		dst += n;
		len -= n;
		off = 0;
	}
	return !len;
}

/* Copies len bytes to the start of the writable part of e (the caller checked its length). */
static void virtio_blk_copy_in(const struct virtq_elem *e, const void *buf, size_t len)
{
	const uint8_t *src = buf;

	for (unsigned i = e->out_num; i < (unsigned)e->out_num + e->in_num && len; i++) {
		size_t n = e->iov[i].iov_len < len ? e->iov[i].iov_len : len;

		memcpy(e->iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

/* The iovecs covering [off, off + len) of src[0, n) into dst; returns how many. */
static unsigned virtio_blk_slice(const struct iovec *src, unsigned n, size_t off, size_t len,
				 struct iovec *dst)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t l = src[i].iov_len, take;

		if (off >= l) {
			off -= l;
			continue;
		}
		take = l - off < len ? l - off : len;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	return k;
}

/* Whether [sector, sector + bytes / 512) lies inside the disk (bytes a multiple of 512). */
static bool virtio_blk_in_range(const struct virtio_blk *blk, uint64_t sector, uint64_t sectors)
{
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

/*
 * Lock held. Completes e now: status byte, used element (no interrupt: the
 * caller batches). Returns true, "pushed", for the request handlers.
 */
static bool virtio_blk_finish_now(struct virtio_blk *blk, unsigned q, const struct virtq_elem *e,
				  uint8_t *status, uint8_t value, uint32_t written)
{
	*status = value;
	virtio_dev_queue_push(&blk->vdev, q, e, value == VIRTIO_BLK_S_OK ? written : 1);
	return true;
}

static void virtio_blk_handle_queue(struct virtio_dev *d, unsigned q);
static void virtio_blk_kick_locked(struct virtio_blk *blk, bool iothread);

/*
 * Lock held. r is over: its status and used element (unless a reset came
 * since), the interrupt decision, the in-flight counts, and the queue it
 * throttled. Frees r. Returns true if the queue was resumed and so may have
 * set requests aside for virtio_blk_kick.
 */
static bool virtio_blk_complete(struct virtio_blk *blk, struct virtio_blk_req *r, uint8_t status)
{
	struct virtio_dev *d = &blk->vdev;
	unsigned q = r->q;
	bool resumed = false;

	if (r->generation == blk->generation) {
		*r->status = status;
		/* virtq_push reads only head and in_len of an element. */
		blk->elem.head = r->head;
		blk->elem.in_len = r->in_len;
		virtio_dev_queue_push(d, q, &blk->elem, status == VIRTIO_BLK_S_OK ? r->written : 1);
		virtio_dev_queue_interrupt(d, q);
	}
	blk->inflight--;
	blk->queue_inflight[q]--;
	if (!blk->inflight)
		pthread_cond_broadcast(&blk->idle);
	if (blk->queue_throttled[q]) {
		blk->queue_throttled[q] = false;
		virtio_blk_handle_queue(d, q);
		resumed = true;
	}
	free(r);
	return resumed;
}

/*
 * Engine thread. Starts r's next step if it has one: the next segment, or
 * the flush of a writethrough request. Returns 1 when one was submitted, 0
 * when r is finished, or a negative errno when a step was refused.
 */
static int virtio_blk_next_step(struct virtio_blk_req *r)
{
	struct block_req *br = &r->br;

	if (r->nseg && r->seg + 1 < r->nseg) {
		r->seg++;
		br->offset = r->segs[r->seg].sector * VIRTIO_BLK_SECTOR;
		br->len = (uint64_t)r->segs[r->seg].num_sectors * VIRTIO_BLK_SECTOR;
	} else if (r->writethrough && !r->flushing) {
		r->flushing = true;
		br->op = BLOCK_OP_FLUSH;
	} else {
		return 0;
	}
	return block_submit(r->blk->disk, br) ? -EIO : 1;
}

/* Engine thread: a step of r finished. */
static void virtio_blk_done(struct block_req *br, int64_t result)
{
	struct virtio_blk_req *r = br->opaque;
	struct virtio_blk *blk = r->blk;
	struct virtio_dev *d = &blk->vdev;
	uint8_t status;
	bool resumed;
	int rc;

	if (result >= 0) {
		rc = virtio_blk_next_step(r);
		if (rc > 0)
			return;
		if (rc < 0)
			result = rc;
	}
	status = result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;

	virtio_dev_lock(d);
	if (result < 0) {
		if (!blk->warned_io)
			log_warn(blk->name, "I/O error on %s: %s (more are logged at debug level)",
				 block_path(blk->disk), strerror((int)-result));
		else
			log_debug(blk->name, "I/O error on %s: %s", block_path(blk->disk),
				  strerror((int)-result));
		blk->warned_io = true;
	}
	resumed = virtio_blk_complete(blk, r, status);
	/*
	 * Without letting go of the lock: once inflight is 0 only `submitting`
	 * keeps virtio_blk_drain (and so destroy) waiting for us.
	 */
	if (resumed)
		virtio_blk_kick_locked(blk, false);
	else
		virtio_dev_unlock(d);
}

/* Lock held. A request with nr iovecs and nseg segments, filled in from e. */
static struct virtio_blk_req *virtio_blk_req_new(struct virtio_blk *blk, unsigned q,
						 const struct virtq_elem *e, uint8_t *status,
						 unsigned niov, unsigned nseg)
{
	struct virtio_blk_req *r;

	r = calloc(1,
		   sizeof(*r) + niov * sizeof(struct iovec) + nseg * sizeof(struct virtio_blk_seg));
	if (!r)
		return NULL;
	r->blk = blk;
	r->q = q;
	r->head = e->head;
	r->in_len = e->in_len;
	r->status = status;
	r->generation = blk->generation;
	r->segs = (struct virtio_blk_seg *)(r->iov + niov);
	r->br.iov = r->iov;
	r->br.done = virtio_blk_done;
	r->br.opaque = r;
	return r;
}

/*
 * Lock held. Sets r aside for virtio_blk_kick, which runs once the lock is
 * released (after_handle, or the completion that resumed the queue). Counted
 * in flight from here, so that a reset or a drain waits for it. Returns
 * false: nothing was pushed yet.
 */
static bool virtio_blk_submit(struct virtio_blk *blk, struct virtio_blk_req *r)
{
	blk->inflight++;
	blk->queue_inflight[r->q]++;
	r->next = NULL;
	*blk->pending_tail = r;
	blk->pending_tail = &r->next;
	return false;
}

static uint64_t virtio_blk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void virtio_blk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Lock held. Whether any queue has buffers not yet popped, or requests wait to be submitted. */
static bool virtio_blk_work(struct virtio_blk *blk)
{
	if (blk->pending)
		return true;
	for (unsigned q = 0; q < blk->vdev.num_queues; q++)
		if (!blk->queue_throttled[q] && virtio_dev_queue_has_avail(&blk->vdev, q))
			return true;
	return false;
}

/*
 * Lock held; dropped while spinning. The I/O thread's batch is over: watch
 * the rings for up to poll_ns with notifications off, and the disk's
 * completions too (block_poll: a write that io_uring gave to its worker
 * completes here, and the reaper is not woken for it; while the disk has
 * requests, the thread sleeps for them up to the deadline), and pop what
 * arrives. Leaves with notifications back on unless it returns true:
 * requests were set aside, and the caller's next round polls again. Past
 * the deadline it does not spin, and sets *last: the caller submits what
 * was popped and returns, since every request made after this pop notifies.
 */
static bool virtio_blk_poll(struct virtio_blk *blk, uint64_t deadline, bool *last)
{
	struct virtio_dev *d = &blk->vdev;
	/* Only io_uring can sleep until a completion; the pool's workers complete on their own. */
	bool sleep_ok = block_engine(blk->disk) == AIO_ENGINE_URING;
	uint64_t start = virtio_blk_now(), now = start;
	bool found = false, missed = false;

	*last = start >= deadline;
	if (!blk->poll_ns) {
		missed = !*last;
	} else if (!*last) {
		for (unsigned q = 0; q < d->num_queues; q++)
			virtio_dev_queue_disable_notify(d, q);
		while (!(found = virtio_blk_work(blk)) && virtio_dev_is_live(d) && now < deadline) {
			if (blk->inflight && sleep_ok) {
				/*
				 * The disk has requests: sleep until it completes
				 * one (they take the device lock themselves)
				 * rather than spin on a CPU io_uring's worker may
				 * need (ext4 buffered writes). The guest's window
				 * starts at the completion it has to see.
				 */
				virtio_dev_unlock(d);
				/* Timed out, or the reaper has it: do not hammer the lock. */
				if (!block_poll_wait(blk->disk, deadline - now))
					for (int i = 0; i < VIRTIO_BLK_POLL_SPINS; i++)
						virtio_blk_cpu_relax();
				virtio_dev_lock(d);
				start = now = virtio_blk_now();
				continue;
			}
			if (now - start >= blk->poll_ns) {
				missed = true;
				break;
			}
			virtio_dev_unlock(d);
			if (!block_poll(blk->disk))
				for (int i = 0; i < VIRTIO_BLK_POLL_SPINS; i++)
					virtio_blk_cpu_relax();
			virtio_dev_lock(d);
			now = virtio_blk_now();
		}
	}
	/* The next notification tells how long the guest really took. */
	blk->poll_start = start;
	blk->poll_missed = missed;
	if (found) {
		for (unsigned q = 0; q < d->num_queues; q++)
			virtio_blk_handle_queue(d, q);
		if (blk->pending)
			return true;
	}
	/* Done watching: notifications on, and one more look (one may have slipped past). */
	for (unsigned q = 0; q < d->num_queues; q++)
		if (virtio_dev_queue_enable_notify(d, q))
			virtio_blk_handle_queue(d, q);
	return blk->pending != NULL;
}

/*
 * Lock held, on the I/O thread, at a notification: if the last window passed
 * empty, how long did the guest really take (see the top of the file)?
 */
static void virtio_blk_poll_adapt(struct virtio_blk *blk)
{
	uint64_t waited, max;

	if (!blk->poll_missed)
		return;
	blk->poll_missed = false;
	waited = virtio_blk_now() - blk->poll_start;
	max = blk->poll_max_ns;
	if (waited > max)
		blk->poll_ns = blk->poll_ns / 2 < VIRTIO_BLK_POLL_MIN_NS ? 0 : blk->poll_ns / 2;
	else if (waited > blk->poll_ns)
		blk->poll_ns = !blk->poll_ns ? (VIRTIO_BLK_POLL_MIN_NS < max ? VIRTIO_BLK_POLL_MIN_NS : max)
			       : 2 * blk->poll_ns > max ? max
							: 2 * blk->poll_ns;
}

/*
 * Lock held; released on return. Hands the requests set aside to the disk,
 * one batch per round, until none is left; the completions that are ready at
 * once run inside block_unplug, on this thread. Another thread already in
 * the loop takes ours in its next round. On the I/O thread, polls between
 * rounds. blk is not touched once the lock is released for the last time:
 * `submitting` (with inflight) is what virtio_blk_drain waits for.
 */
static void virtio_blk_kick_locked(struct virtio_blk *blk, bool iothread)
{
	struct virtio_dev *d = &blk->vdev;
	struct virtio_blk_req *r, *next;
	uint64_t deadline = 0;
	bool last = false;
	int rc;

	if (blk->submitting) {
		virtio_dev_unlock(d);
		return;
	}
	blk->submitting = true;
	if (!blk->poll_max_ns)
		iothread = false; /* polling is off: submit and return, as from a vCPU */
	if (iothread) {
		virtio_blk_poll_adapt(blk);
		block_poll_begin(blk->disk);
		deadline = virtio_blk_now() + VIRTIO_BLK_POLL_BUDGET_NS;
	}
	for (;;) {
		if (!(r = blk->pending)) {
			if (!iothread || last || !virtio_blk_poll(blk, deadline, &last))
				break;
			continue;
		}
		blk->pending = NULL;
		blk->pending_tail = &blk->pending;
		virtio_dev_unlock(d);
		block_plug(blk->disk);
		for (; r; r = next) {
			/* Once submitted, r may complete and be freed on another thread. */
			next = r->next;
			rc = block_submit(blk->disk, &r->br);
			if (!rc)
				continue;
			/* Our checks should make this impossible. */
			virtio_dev_lock(d);
			log_err(blk->name, "disk refused a checked request: %s", strerror(-rc));
			virtio_blk_complete(blk, r, VIRTIO_BLK_S_IOERR);
			virtio_dev_unlock(d);
		}
		block_unplug(blk->disk);
		virtio_dev_lock(d);
	}
	if (iothread)
		block_poll_end(blk->disk);
	blk->submitting = false;
	if (!blk->inflight)
		pthread_cond_broadcast(&blk->idle);
	virtio_dev_unlock(d);
}

static void virtio_blk_after_handle(struct virtio_dev *d, bool iothread)
{
	virtio_dev_lock(d);
	virtio_blk_kick_locked(d->opaque, iothread);
}

/* Lock held. IN and OUT: data in whole sectors inside the disk, on the side the type says. */
static bool virtio_blk_rw(struct virtio_blk *blk, unsigned q, const struct virtq_elem *e,
			  uint8_t *status, bool write, uint64_t sector)
{
	uint64_t data = write ? e->out_len - VIRTIO_BLK_HDR_SIZE : e->in_len - 1u;
	uint64_t wrong = write ? e->in_len - 1u : e->out_len - VIRTIO_BLK_HDR_SIZE;
	struct virtio_blk_req *r;

	/* 5.2.6.2: IOERR, and no data written. */
	if (write && blk->readonly)
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	if (wrong || data % VIRTIO_BLK_SECTOR ||
	    !virtio_blk_in_range(blk, sector, data / VIRTIO_BLK_SECTOR)) {
		virtio_blk_refuse(blk,
				  "%s of %llu bytes at sector %llu (%llu bytes on the wrong side; "
				  "disk has %llu sectors)",
				  write ? "write" : "read", (unsigned long long)data,
				  (unsigned long long)sector, (unsigned long long)wrong,
				  (unsigned long long)blk->capacity);
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	}
	if (!data)
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_OK, 1);
	r = virtio_blk_req_new(blk, q, e, status, write ? e->out_num : e->in_num, 0);
	if (!r)
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	r->br.op = write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
	r->br.offset = sector * VIRTIO_BLK_SECTOR;
	r->br.len = data;
	if (write)
		r->br.niov =
		    virtio_blk_slice(e->iov, e->out_num, VIRTIO_BLK_HDR_SIZE, data, r->iov);
	else
		r->br.niov = virtio_blk_slice(e->iov + e->out_num, e->in_num, 0, data, r->iov);
	r->written = write ? 1 : (uint32_t)data + 1;
	r->writethrough =
	    write && !(virtio_dev_features(&blk->vdev) & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	return virtio_blk_submit(blk, r);
}

/*
 * Lock held. DISCARD and WRITE_ZEROES: 1..max segments after the header,
 * every flag known (UNSUPP otherwise, and for unmap on a discard), every
 * range inside the disk and within the per-segment maximum.
 */
static bool virtio_blk_ranges(struct virtio_blk *blk, unsigned q, const struct virtq_elem *e,
			      uint8_t *status, uint32_t type)
{
	bool zeroes = type == VIRTIO_BLK_T_WRITE_ZEROES;
	uint64_t feature = VIRTIO_BIT(zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD);
	uint32_t data = e->out_len - VIRTIO_BLK_HDR_SIZE, nseg = data / VIRTIO_BLK_SEG_SIZE;
	uint8_t raw[VIRTIO_BLK_MAX_DISCARD_SEG][VIRTIO_BLK_SEG_SIZE];
	bool unmap = true;
	struct virtio_blk_req *r;
	unsigned keep = 0;

	if (!(virtio_dev_features(&blk->vdev) & feature))
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_UNSUPP, 1);
	if (e->in_len != 1 || !nseg || data % VIRTIO_BLK_SEG_SIZE ||
	    nseg > VIRTIO_BLK_MAX_DISCARD_SEG) {
		virtio_blk_refuse(blk, "%s with %u bytes of segments and %u writable bytes",
				  zeroes ? "write zeroes" : "discard", data, e->in_len);
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	}
	/* One copy, checked and then used: the guest may rewrite its buffer meanwhile. */
	virtio_blk_copy_out(e, VIRTIO_BLK_HDR_SIZE, raw, (size_t)nseg * VIRTIO_BLK_SEG_SIZE);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t flags = (uint32_t)get_le(raw[i] + 12, 4);

		if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!zeroes && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))) {
			virtio_blk_refuse(blk, "%s segment %u has flags %#x",
					  zeroes ? "write zeroes" : "discard", i, flags);
			return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_UNSUPP, 1);
		}
		unmap &= (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
	}
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t sector = get_le(raw[i], 8);
		uint32_t num = (uint32_t)get_le(raw[i] + 8, 4);

		if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
		    !virtio_blk_in_range(blk, sector, num)) {
			virtio_blk_refuse(blk, "%s segment %u: %u sectors at %llu",
					  zeroes ? "write zeroes" : "discard", i, num,
					  (unsigned long long)sector);
			return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
		}
		if (num)
			keep++;
	}
	if (!keep)
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_OK, 1);
	r = virtio_blk_req_new(blk, q, e, status, 0, keep);
	if (!r)
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t num = (uint32_t)get_le(raw[i] + 8, 4);

		if (num) {
			r->segs[r->nseg].sector = get_le(raw[i], 8);
			r->segs[r->nseg].num_sectors = num;
			r->nseg++;
		}
	}
	r->br.op = zeroes ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_DISCARD;
	/* One unmap flag for the request: all segments must allow it (the safe reading). */
	r->br.flags = zeroes && unmap ? BLOCK_REQ_MAY_UNMAP : 0;
	r->br.iov = NULL;
	r->br.offset = r->segs[0].sector * VIRTIO_BLK_SECTOR;
	r->br.len = (uint64_t)r->segs[0].num_sectors * VIRTIO_BLK_SECTOR;
	r->written = 1;
	r->writethrough = !(virtio_dev_features(&blk->vdev) & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	return virtio_blk_submit(blk, r);
}

/*
 * Lock held. Parses the popped chain e and submits it, or completes it at
 * once; returns true if it pushed a used element.
 */
static bool virtio_blk_request(struct virtio_blk *blk, unsigned q, const struct virtq_elem *e)
{
	const struct iovec *last;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE], *status;
	uint32_t type;
	uint64_t sector;
	struct virtio_blk_req *r;

	if (!e->in_len) {
		virtio_dev_set_needs_reset(&blk->vdev, "queue %u: request %u has no status byte", q,
					   e->head);
		return false;
	}
	/* virtq_pop skips zero-length buffers: the last one holds at least the status byte. */
	last = &e->iov[e->out_num + e->in_num - 1];
	status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (!virtio_blk_copy_out(e, 0, hdr, sizeof(hdr))) {
		virtio_blk_refuse(blk, "request %u: header of %u bytes", e->head, e->out_len);
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
	}
	type = (uint32_t)get_le(hdr, 4);
	sector = get_le(hdr + 8, 8);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return virtio_blk_rw(blk, q, e, status, type == VIRTIO_BLK_T_OUT, sector);
	case VIRTIO_BLK_T_FLUSH:
		if (e->out_len != VIRTIO_BLK_HDR_SIZE || e->in_len != 1) {
			virtio_blk_refuse(blk, "flush with data");
			return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
		}
		r = virtio_blk_req_new(blk, q, e, status, 0, 0);
		if (!r)
			return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
		r->br.op = BLOCK_OP_FLUSH;
		r->br.iov = NULL;
		r->written = 1;
		return virtio_blk_submit(blk, r);
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = e->in_len - 1;

		if (e->out_len != VIRTIO_BLK_HDR_SIZE || !n) {
			virtio_blk_refuse(blk, "get id with %u readable and %u writable data bytes",
					  e->out_len - VIRTIO_BLK_HDR_SIZE, n);
			return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_IOERR, 1);
		}
		/* A shorter buffer gets the start of the ID (which needs no terminator). */
		if (n > VIRTIO_BLK_ID_BYTES)
			n = VIRTIO_BLK_ID_BYTES;
		virtio_blk_copy_in(e, blk->serial, n);
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_OK, n + 1);
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return virtio_blk_ranges(blk, q, e, status, type);
	default:
		virtio_blk_refuse(blk, "request type %u is not supported", type);
		return virtio_blk_finish_now(blk, q, e, status, VIRTIO_BLK_S_UNSUPP, 1);
	}
}

static void virtio_blk_handle_queue(struct virtio_dev *d, unsigned q)
{
	struct virtio_blk *blk = d->opaque;
	bool pushed = false;

	for (;;) {
		/*
		 * A driver cannot have more requests outstanding than the queue
		 * has entries; one that pretends to (reusing heads still in
		 * flight) is not allowed to make us allocate without bound.
		 */
		if (blk->queue_inflight[q] >= d->queues[q].size) {
			blk->queue_throttled[q] = true;
			break;
		}
		if (virtio_dev_queue_pop(d, q, &blk->elem) != 1)
			break;
		pushed |= virtio_blk_request(blk, q, &blk->elem);
	}
	/* One notification decision for what completed at once. */
	if (pushed)
		virtio_dev_queue_interrupt(d, q);
}

static void virtio_blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *blk = d->opaque;

	blk->generation++;
	/*
	 * Reads in flight still write guest RAM that is the driver's again
	 * once the reset returns: wait for them. cond_wait releases the device
	 * lock, which their completions take; the core has already reset its
	 * own state, so nothing sees a half-reset device meanwhile.
	 */
	while (blk->inflight)
		pthread_cond_wait(&blk->idle, &d->lock);
	for (unsigned q = 0; q < d->num_queues; q++)
		blk->queue_throttled[q] = false;
	blk->warned_req = blk->warned_io = false;
}

static void virtio_blk_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *blk = d->opaque;

	memcpy(buf, blk->config + off, len);
}

static const struct virtio_dev_ops virtio_blk_ops = {
    .handle_queue = virtio_blk_handle_queue,
    .after_handle = virtio_blk_after_handle,
    .reset = virtio_blk_reset,
    .config_read = virtio_blk_config_read,
};

static void virtio_blk_build_config(struct virtio_blk *blk, unsigned nqueues)
{
	uint8_t *c = blk->config;

	put_le(c + VIRTIO_BLK_CFG_CAPACITY, blk->capacity, 8);
	put_le(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX, 4);
	put_le(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR, 4);
	put_le(c + VIRTIO_BLK_CFG_NUM_QUEUES, nqueues, 2);
	put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	put_le(c + VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, 1, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	/* A write zeroes with unmap may punch a hole. */
	c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

struct virtio_blk *virtio_blk_create(const struct gmem *mem, struct block_dev *disk,
				     const char *serial, unsigned nqueues)
{
	struct virtio_dev_info info = {
	    .device_id = VIRTIO_ID_BLOCK,
	    .num_queues = nqueues,
	    .queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	    .config_size = VIRTIO_BLK_CONFIG_SIZE,
	};
	struct virtio_blk *blk;
	int rc;

	if (!serial && disk)
		serial = block_serial(disk);
	if (!mem || !disk || !nqueues || nqueues > VIRTIO_DEV_MAX_QUEUES ||
	    strlen(serial) > VIRTIO_BLK_ID_BYTES) {
		errno = EINVAL;
		return NULL;
	}
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return NULL;
	blk->poll_max_ns = VIRTIO_BLK_POLL_MAX_NS;
	blk->queue_inflight = calloc(nqueues, sizeof(*blk->queue_inflight));
	blk->queue_throttled = calloc(nqueues, sizeof(*blk->queue_throttled));
	if (!blk->queue_inflight || !blk->queue_throttled) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_cond_init(&blk->idle, NULL);
	if (rc)
		goto fail;
	blk->disk = disk;
	blk->pending_tail = &blk->pending;
	blk->readonly = block_readonly(disk);
	blk->capacity = block_size(disk) / VIRTIO_BLK_SECTOR;
	memcpy(blk->serial, serial, strlen(serial)); /* NUL-padded by calloc */
	snprintf(blk->name, sizeof(blk->name), "virtio-blk%s%s", *serial ? ":" : "", serial);
	virtio_blk_build_config(blk, nqueues);
	info.name = blk->name;
	info.features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (nqueues > 1)
		info.features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	/* A read-only disk has nothing to discard or zero. */
	if (blk->readonly)
		info.features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		info.features |=
		    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	rc = virtio_dev_init(&blk->vdev, &info, &virtio_blk_ops, blk, mem);
	if (rc) {
		pthread_cond_destroy(&blk->idle);
		goto fail;
	}
	return blk;

fail:
	free(blk->queue_inflight);
	free(blk->queue_throttled);
	free(blk);
	errno = -rc;
	return NULL;
}

void virtio_blk_drain(struct virtio_blk *blk)
{
	virtio_dev_lock(&blk->vdev);
	while (blk->inflight || blk->submitting)
		pthread_cond_wait(&blk->idle, &blk->vdev.lock);
	virtio_dev_unlock(&blk->vdev);
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_blk_drain(blk);
	virtio_dev_destroy(&blk->vdev);
	pthread_cond_destroy(&blk->idle);
	free(blk->queue_inflight);
	free(blk->queue_throttled);
	free(blk);
}

void virtio_blk_set_poll_max(struct virtio_blk *blk, uint64_t max_ns)
{
	virtio_dev_lock(&blk->vdev);
	blk->poll_max_ns = max_ns;
	if (!max_ns)
		blk->poll_ns = 0;
	virtio_dev_unlock(&blk->vdev);
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk)
{
	return &blk->vdev;
}

static bool virtio_blk_busy(struct virtio_blk *blk)
{
	bool busy;

	virtio_dev_lock(&blk->vdev);
	busy = blk->inflight || blk->submitting;
	virtio_dev_unlock(&blk->vdev);
	return busy;
}

int virtio_blk_save(struct virtio_blk *blk, struct state_buf *b)
{
	if (virtio_blk_busy(blk))
		return -EBUSY;
	return virtio_dev_save(&blk->vdev, b);
}

int virtio_blk_load(struct virtio_blk *blk, struct state_reader *rd)
{
	int rc;

	if (virtio_blk_busy(blk))
		return -EBUSY;
	rc = virtio_dev_load(&blk->vdev, rd);
	if (!rc) {
		virtio_dev_lock(&blk->vdev);
		blk->generation++;
		for (unsigned q = 0; q < blk->vdev.num_queues; q++)
			blk->queue_throttled[q] = false;
		virtio_dev_unlock(&blk->vdev);
	}
	return rc;
}
