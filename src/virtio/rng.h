/* SPDX-License-Identifier: MIT */
/*
 * virtio entropy device (virtio 1.2, section 5.4; device ID 4): one request
 * queue whose device-writable buffers are filled from the host's getrandom(2).
 * No feature bits and no configuration space of its own. See rng.c.
 */
#ifndef KVMM_VIRTIO_RNG_H
#define KVMM_VIRTIO_RNG_H

#include "machine/gmem.h"
#include "state/buf.h"
#include "virtio/core.h"

/* Bytes given per request at most: a driver asking for more gets a short count (5.4.6.2). */
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024)
#define VIRTIO_RNG_QUEUE_SIZE  256u

struct virtio_rng;

/* A device over guest RAM mem, named "virtio-rng" in logs. Returns NULL with errno set. */
struct virtio_rng *virtio_rng_create(const struct gmem *mem);
void virtio_rng_destroy(struct virtio_rng *r);
/* The virtio core state, for the transport to attach to. */
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

/*
 * Snapshot state: only the virtio core's (virtio_dev_save); requests are
 * completed before a notification returns, so none is in flight. Load checks
 * everything and applies all of it or returns -EINVAL and changes nothing.
 */
int virtio_rng_save(struct virtio_rng *r, struct state_buf *b);
int virtio_rng_load(struct virtio_rng *r, struct state_reader *rd);

#endif
