/* SPDX-License-Identifier: MIT */
/*
 * virtio entropy device: virtio 1.2 section 5.4. Each request is a chain of
 * device-writable buffers (5.4.6.1); we fill them from getrandom(2), at most
 * VIRTIO_RNG_MAX_REQUEST bytes per request (5.4.6.2 lets the device use less
 * than the whole buffer: the used length tells the driver how much it got).
 *
 * A request with nothing the device may write is a driver error that would
 * otherwise be completed with zero bytes forever: NEEDS_RESET. Device-readable
 * buffers in a request (which 5.4.6.1 forbids) are ignored rather than fatal,
 * since they carry nothing we would read and other devices accept them.
 */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/log.h"

struct virtio_rng {
	struct virtio_dev vdev;
	/* Under the device lock: one request is handled at a time. */
	struct virtq_elem elem;
};

/* Fills the writable part of e with up to VIRTIO_RNG_MAX_REQUEST random bytes. */
static uint32_t virtio_rng_fill(struct virtio_dev *d, const struct virtq_elem *e)
{
	uint32_t done = 0;

	for (unsigned i = e->out_num; i < (unsigned)e->out_num + e->in_num; i++) {
		uint8_t *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len, off = 0;

		if (len > VIRTIO_RNG_MAX_REQUEST - done)
			len = VIRTIO_RNG_MAX_REQUEST - done;
		while (off < len) {
			/* Large reads may come back short or be interrupted: go on from there. */
			ssize_t n = getrandom(p + off, len - off, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				log_err(d->name, "getrandom failed: %s",
					n ? strerror(errno) : "no bytes");
				return done + (uint32_t)off;
			}
			off += (size_t)n;
		}
		done += (uint32_t)len;
		if (done == VIRTIO_RNG_MAX_REQUEST)
			break;
	}
	return done;
}

static void virtio_rng_handle_queue(struct virtio_dev *d, unsigned q)
{
	struct virtio_rng *r = d->opaque;
	bool pushed = false;

	while (virtio_dev_queue_pop(d, q, &r->elem) == 1) {
		if (!r->elem.in_len) {
			virtio_dev_set_needs_reset(d, "request %u has no device-writable buffer",
						   r->elem.head);
			break;
		}
		virtio_dev_queue_push(d, q, &r->elem, virtio_rng_fill(d, &r->elem));
		pushed = true;
	}
	/* One notification decision for the whole batch. */
	if (pushed)
		virtio_dev_queue_interrupt(d, q);
}

static const struct virtio_dev_ops virtio_rng_ops = {
    .handle_queue = virtio_rng_handle_queue,
};

struct virtio_rng *virtio_rng_create(const struct gmem *mem)
{
	static const struct virtio_dev_info info = {
	    .name = "virtio-rng",
	    .device_id = VIRTIO_ID_RNG,
	    .num_queues = 1,
	    .queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
	};
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return NULL;
	rc = virtio_dev_init(&r->vdev, &info, &virtio_rng_ops, r, mem);
	if (rc) {
		free(r);
		errno = -rc;
		return NULL;
	}
	return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_dev_destroy(&r->vdev);
	free(r);
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vdev;
}

int virtio_rng_save(struct virtio_rng *r, struct state_buf *b)
{
	return virtio_dev_save(&r->vdev, b);
}

int virtio_rng_load(struct virtio_rng *r, struct state_reader *rd)
{
	return virtio_dev_load(&r->vdev, rd);
}
