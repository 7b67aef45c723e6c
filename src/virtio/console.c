/* SPDX-License-Identifier: MIT */
/*
 * virtio console device: virtio 1.2 section 5.3, a single port without
 * VIRTIO_CONSOLE_F_MULTIPORT (5.3.6: receiveq0 and transmitq0 only). For
 * output the driver places buffers with characters in the transmitq; for
 * input it places empty buffers in the receiveq and each used one carries the
 * input (5.3.6, steps 1-2).
 *
 * Transmit: the device-readable bytes of each chain, in order, go into the
 * output buffer (VIRTIO_CONSOLE_OUT_SIZE), and the chain is used with length
 * 0 once all of it is there. A chain longer than the room left is taken in
 * pieces: it stays held until the host has written enough to take the rest,
 * so one notification copies at most the buffer's size and a huge chain
 * streams at the host's pace. At most VIRTIO_CONSOLE_TX_BATCH chains are used
 * per pass (a guest could recycle empty chains as fast as we use them); the
 * host is woken to do the next pass from its own loop.
 *
 * Receive: the host's bytes fill the device-writable part of the next chain;
 * each chain written to is used with the count at once, so input reaches the
 * guest without waiting for more. rx_space holds the next chain (popped, not
 * used) so that it can promise its size; the promise holds until the next
 * input, which only the host makes.
 *
 * 5.3.6.1 forbids device-readable buffers in a receiveq and device-writable
 * ones in a transmitq. As in virtio-rng, the wrong-way parts are ignored
 * (they carry nothing we would use); a receive chain with no writable byte at
 * all could never be filled, so it sets DEVICE_NEEDS_RESET. Broken rings
 * (loops, buffers outside RAM) are the core's NEEDS_RESET (virtio/core.c).
 */
#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

#define CONSOLE_STATE_VERSION 1

struct virtio_console {
	struct virtio_dev vdev;
	int event_fd;
	/* Everything below is under the device lock. */
	uint16_t cols, rows;
	/* Output ring: out_len bytes from out_head, wrapping at VIRTIO_CONSOLE_OUT_SIZE. */
	uint32_t out_head, out_len;
	/* tx_elem is held (popped, not yet used) with its first tx_off readable bytes taken. */
	bool tx_held;
	uint32_t tx_off;
	/* Bytes of the next chain popped that were already taken (after a snapshot). */
	uint32_t tx_skip;
	/* A pass stopped before the transmitq was empty: the host's next peek goes on. */
	bool tx_stalled;
	bool rx_held;
	/* rx_space found nothing: wake the host when the driver posts receive buffers. */
	bool rx_waiting;
	/* virtio_console_save is between its halves: no chain is popped or used. */
	bool frozen;
	struct virtq_elem tx_elem, rx_elem;
	uint8_t out[VIRTIO_CONSOLE_OUT_SIZE];
};

static void virtio_console_wake(struct virtio_console *c)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the host will look anyway. */
	if (write(c->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(c->vdev.name, "cannot wake the host: %s", strerror(errno));
}

/*
 * Gives a held chain back to the ring: the driver may not reuse a chain
 * before it is used (2.7.13.1), so the next pop of queue q finds the same one.
 */
static void virtio_console_unpop(struct virtio_dev *d, unsigned q)
{
	d->queues[q].vq.last_avail_idx--;
}

/* Copies readable bytes [off, off + len) of e into the output ring. */
static void virtio_console_take(struct virtio_console *c, const struct virtq_elem *e, uint32_t off,
				uint32_t len)
{
	for (unsigned i = 0; i < e->out_num && len; i++) {
		const uint8_t *src = e->iov[i].iov_base;
		uint32_t n = (uint32_t)e->iov[i].iov_len;

		if (off >= n) {
			off -= n;
			continue;
		}
		src += off;
		n -= off;
		off = 0;
		if (n > len)
			n = len;
		len -= n;
		while (n) {
			uint32_t tail = (c->out_head + c->out_len) % VIRTIO_CONSOLE_OUT_SIZE;
			uint32_t piece = VIRTIO_CONSOLE_OUT_SIZE - tail;

			if (piece > n)
				piece = n;
			memcpy(c->out + tail, src, piece);
			c->out_len += piece;
			src += piece;
			n -= piece;
		}
	}
}

/* One pass over the transmitq (lock held): as much as the output ring has room for. */
static void virtio_console_tx(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;
	uint32_t had = c->out_len;
	unsigned used = 0;

	c->tx_stalled = false;
	if (c->frozen) {
		c->tx_stalled = true;
		return;
	}
	/* NEEDS_RESET since a chain was held: not another byte of it (2.1.2). */
	if (!virtio_dev_is_live(d)) {
		c->tx_held = false;
		return;
	}
	for (;;) {
		uint32_t room = VIRTIO_CONSOLE_OUT_SIZE - c->out_len, want;

		if (!c->tx_held) {
			if (used == VIRTIO_CONSOLE_TX_BATCH) {
				c->tx_stalled = true;
				break;
			}
			if (virtio_dev_queue_pop(d, VIRTIO_CONSOLE_TXQ, &c->tx_elem) != 1)
				break;
			c->tx_held = true;
			/* A hostile driver may have changed the chain since the snapshot. */
			c->tx_off =
			    c->tx_skip < c->tx_elem.out_len ? c->tx_skip : c->tx_elem.out_len;
			c->tx_skip = 0;
		}
		want = c->tx_elem.out_len - c->tx_off;
		if (want > room) {
			virtio_console_take(c, &c->tx_elem, c->tx_off, room);
			c->tx_off += room;
			c->tx_stalled = true;
			break;
		}
		virtio_console_take(c, &c->tx_elem, c->tx_off, want);
		/* Writable parts of a transmit chain (5.3.6.1 forbids them) get nothing: length 0.
		 */
		virtio_dev_queue_push(d, VIRTIO_CONSOLE_TXQ, &c->tx_elem, 0);
		c->tx_held = false;
		used++;
	}
	if (used)
		virtio_dev_queue_interrupt(d, VIRTIO_CONSOLE_TXQ);
	/* New output for an idle host, or a pass it has to continue. */
	if ((!had && c->out_len) || (c->tx_stalled && c->out_len < VIRTIO_CONSOLE_OUT_SIZE))
		virtio_console_wake(c);
}

/* Makes sure a receive chain is held (lock held); false when there is none to hold. */
static bool virtio_console_rx_hold(struct virtio_console *c)
{
	struct virtio_dev *d = &c->vdev;

	/* NEEDS_RESET since the hold: the chain is not ours to fill any more. */
	if (!virtio_dev_is_live(d))
		c->rx_held = false;
	if (c->rx_held)
		return true;
	if (c->frozen || virtio_dev_queue_pop(d, VIRTIO_CONSOLE_RXQ, &c->rx_elem) != 1)
		return false;
	if (!c->rx_elem.in_len) {
		virtio_dev_set_needs_reset(d, "receiveq buffer %u has no device-writable byte",
					   c->rx_elem.head);
		return false;
	}
	c->rx_held = true;
	return true;
}

static void virtio_console_handle_queue(struct virtio_dev *d, unsigned q)
{
	struct virtio_console *c = d->opaque;

	if (q == VIRTIO_CONSOLE_TXQ) {
		virtio_console_tx(c);
	} else if (c->rx_waiting) {
		/* Receive buffers are the host's to fill, from its thread: tell it they came. */
		c->rx_waiting = false;
		virtio_console_wake(c);
	}
}

static void virtio_console_reset(struct virtio_dev *d)
{
	struct virtio_console *c = d->opaque;

	/* The core has reset the rings: held chains are gone. Buffered output stays the host's. */
	c->tx_held = c->rx_held = c->tx_stalled = false;
	c->tx_off = c->tx_skip = 0;
}

static void virtio_console_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_console *c = d->opaque;
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = {
	    [VIRTIO_CONSOLE_CFG_COLS] = (uint8_t)c->cols,
	    [VIRTIO_CONSOLE_CFG_COLS + 1] = (uint8_t)(c->cols >> 8),
	    [VIRTIO_CONSOLE_CFG_ROWS] = (uint8_t)c->rows,
	    [VIRTIO_CONSOLE_CFG_ROWS + 1] = (uint8_t)(c->rows >> 8),
	};

	/* The core keeps off and len inside config_size; max_nr_ports and emerg_wr read 0. */
	memcpy(buf, cfg + off, len);
}

static const struct virtio_dev_ops virtio_console_ops = {
    .handle_queue = virtio_console_handle_queue,
    .reset = virtio_console_reset,
    .config_read = virtio_console_config_read,
    /* No config_write: every field we offer is read-only for the driver. */
};

struct virtio_console *virtio_console_create(const struct gmem *mem, uint16_t cols, uint16_t rows)
{
	static const struct virtio_dev_info info = {
	    .name = "virtio-console",
	    .device_id = VIRTIO_ID_CONSOLE,
	    .features = VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE),
	    .num_queues = 2,
	    .queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
	    .config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
	};
	struct virtio_console *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return NULL;
	c->cols = cols;
	c->rows = rows;
	c->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->event_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = virtio_dev_init(&c->vdev, &info, &virtio_console_ops, c, mem);
	if (rc)
		goto fail;
	return c;
fail:
	if (c->event_fd >= 0)
		close(c->event_fd);
	free(c);
	errno = -rc;
	return NULL;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	virtio_dev_destroy(&c->vdev);
	close(c->event_fd);
	free(c);
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vdev;
}

int virtio_console_event_fd(struct virtio_console *c)
{
	return c->event_fd;
}

size_t virtio_console_output_peek(struct virtio_console *c, const uint8_t **p)
{
	size_t n;

	virtio_dev_lock(&c->vdev);
	if (c->tx_stalled)
		virtio_console_tx(c);
	*p = c->out + c->out_head;
	n = c->out_len;
	if (n > VIRTIO_CONSOLE_OUT_SIZE - c->out_head)
		n = VIRTIO_CONSOLE_OUT_SIZE - c->out_head;
	virtio_dev_unlock(&c->vdev);
	return n;
}

void virtio_console_output_done(struct virtio_console *c, size_t n)
{
	virtio_dev_lock(&c->vdev);
	if (n > c->out_len)
		n = c->out_len;
	c->out_head = (uint32_t)((c->out_head + n) % VIRTIO_CONSOLE_OUT_SIZE);
	c->out_len -= (uint32_t)n;
	if (!c->out_len)
		c->out_head = 0; /* keeps the next peek in one piece */
	virtio_dev_unlock(&c->vdev);
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	struct virtio_dev *d = &c->vdev;
	size_t done = 0;
	bool pushed = false;

	virtio_dev_lock(d);
	while (done < len && virtio_console_rx_hold(c)) {
		const struct virtq_elem *e = &c->rx_elem;
		uint32_t wrote = 0;

		for (unsigned i = e->out_num; i < (unsigned)e->out_num + e->in_num && done < len;
		     i++) {
			size_t n = e->iov[i].iov_len;

			if (n > len - done)
				n = len - done;
			memcpy(e->iov[i].iov_base, buf + done, n);
			done += n;
			wrote += (uint32_t)n;
		}
		virtio_dev_queue_push(d, VIRTIO_CONSOLE_RXQ, e, wrote);
		c->rx_held = false;
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_interrupt(d, VIRTIO_CONSOLE_RXQ);
	if (done < len)
		c->rx_waiting = true;
	virtio_dev_unlock(d);
	return done;
}

size_t virtio_console_rx_space(struct virtio_console *c)
{
	size_t n = 0;

	virtio_dev_lock(&c->vdev);
	if (virtio_console_rx_hold(c))
		n = c->rx_elem.in_len;
	else
		c->rx_waiting = true;
	virtio_dev_unlock(&c->vdev);
	return n;
}

void virtio_console_set_size(struct virtio_console *c, uint16_t cols, uint16_t rows)
{
	virtio_dev_lock(&c->vdev);
	if (cols != c->cols || rows != c->rows) {
		c->cols = cols;
		c->rows = rows;
		virtio_dev_config_changed(&c->vdev);
	}
	virtio_dev_unlock(&c->vdev);
}

/*
 * Device state, version 1 (little-endian, after the core's): u32 version;
 * u32 tx_skip, readable bytes of the transmitq's next chain already in the
 * output; u32 n, then n bytes of buffered output (n <= VIRTIO_CONSOLE_OUT_SIZE).
 */
int virtio_console_save(struct virtio_console *c, struct state_buf *b)
{
	struct virtio_dev *d = &c->vdev;
	struct state_buf mine;
	bool was_frozen;
	int rc;

	state_buf_init(&mine);
	virtio_dev_lock(d);
	was_frozen = c->frozen;
	/* Held chains go back to the ring; the core state then counts them as not popped. */
	if (c->rx_held) {
		virtio_console_unpop(d, VIRTIO_CONSOLE_RXQ);
		c->rx_held = false;
	}
	if (c->tx_held) {
		virtio_console_unpop(d, VIRTIO_CONSOLE_TXQ);
		c->tx_held = false;
		c->tx_skip = c->tx_off;
	}
	state_put_u32(&mine, CONSOLE_STATE_VERSION);
	state_put_u32(&mine, c->tx_skip);
	state_put_u32(&mine, c->out_len);
	for (uint32_t done = 0; done < c->out_len;) {
		uint32_t at = (c->out_head + done) % VIRTIO_CONSOLE_OUT_SIZE;
		uint32_t piece = VIRTIO_CONSOLE_OUT_SIZE - at;

		if (piece > c->out_len - done)
			piece = c->out_len - done;
		state_put_bytes(&mine, c->out + at, piece);
		done += piece;
	}
	/* Until the core state is taken too, nothing may be popped or used. */
	c->frozen = true;
	virtio_dev_unlock(d);

	rc = virtio_dev_save(d, b);
	if (!rc && mine.error)
		rc = mine.error;
	if (!rc) {
		state_put_bytes(b, mine.data, mine.len);
		rc = b->error;
	}
	state_buf_free(&mine);

	virtio_dev_lock(d);
	c->frozen = was_frozen;
	/* Held back meanwhile, or given back above: the host's next peek goes on. */
	c->tx_stalled = true;
	if (!was_frozen)
		virtio_console_wake(c);
	virtio_dev_unlock(d);
	return rc;
}

void virtio_console_freeze(struct virtio_console *c, bool frozen)
{
	virtio_dev_lock(&c->vdev);
	c->frozen = frozen;
	if (!frozen) {
		/* What was held back meanwhile goes on from the host's next peek. */
		c->tx_stalled = true;
		virtio_console_wake(c);
	}
	virtio_dev_unlock(&c->vdev);
}

int virtio_console_load(struct virtio_console *c, struct state_reader *rd)
{
	struct virtio_dev *d = &c->vdev;
	struct virtio_dev_loaded *s;
	uint32_t skip, n;
	uint8_t *out;
	int rc = virtio_dev_load_parse(d, rd, &s);

	if (rc)
		return rc;
	if (state_get_u32(rd) != CONSOLE_STATE_VERSION)
		state_reader_fail(rd);
	skip = state_get_u32(rd);
	n = state_get_u32(rd);
	if (n > VIRTIO_CONSOLE_OUT_SIZE) {
		state_reader_fail(rd);
		n = 0;
	}
	out = malloc(n ? n : 1);
	if (!out) {
		virtio_dev_load_discard(s);
		return -ENOMEM;
	}
	state_get_bytes(rd, out, n);
	if (state_reader_finish(rd)) {
		free(out);
		virtio_dev_load_discard(s);
		return -EINVAL;
	}
	virtio_dev_load_apply(d, s);
	virtio_dev_lock(d);
	memcpy(c->out, out, n);
	c->out_head = 0;
	c->out_len = n;
	c->tx_held = c->rx_held = false;
	c->tx_off = 0;
	c->tx_skip = skip;
	c->tx_stalled = true;
	virtio_console_wake(c);
	virtio_dev_unlock(d);
	free(out);
	return 0;
}
