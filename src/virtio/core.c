/* SPDX-License-Identifier: MIT */
/*
 * Device-independent virtio state; see core.h. Virtio 1.2: device status 2.1
 * (and 2.1.2: NEEDS_RESET, with a configuration change notification once
 * DRIVER_OK is set), feature bits 2.2 (2.2.1: a device that cannot accept the
 * driver's features fails FEATURES_OK), device initialization 3.1.1 (the order
 * of status bits, queues set up after FEATURES_OK), the configuration
 * generation 2.5, reserved feature bits 6 (VIRTIO_F_VERSION_1 is required: we
 * are a modern-only device, 7.2 "Legacy interface").
 *
 * A driver that breaks the protocol is told so through the device's state, not
 * by guessing: out-of-order status writes are ignored (and FEATURES_OK is not
 * kept), and a broken ring puts the device in NEEDS_RESET, after which it
 * uses no buffers until the driver resets it.
 */
#include "virtio/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define STATUS_DRIVER_BITS                                                                         \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |            \
	 VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED)

static bool virtio_size_ok(uint32_t size, uint32_t max)
{
	return size && !(size & (size - 1)) && size <= max;
}

/*
 * A register write the driver should not have made. Warn once per reset: a
 * guest that repeats it must not be able to flood the host's log.
 */
__attribute__((format(printf, 2, 3))) static void virtio_dev_refuse(struct virtio_dev *d,
								    const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->warned) {
		log_debug(d->name, "ignored: %s", msg);
		return;
	}
	d->warned = true;
	log_warn(d->name, "ignored: %s (more of these are logged at debug level)", msg);
}

static void virtio_queue_reset(struct virtio_dev *d, struct virtio_queue *vq)
{
	/*
	 * A reset that lands while the device polls (virtio-blk's I/O thread
	 * drops the lock between looks) must not leave the driver's rings
	 * saying "do not notify": a driver that reuses them unzeroed would
	 * never notify again.
	 */
	if (vq->vq.notify_off)
		virtq_enable_notify(&vq->vq);
	virtq_destroy(&vq->vq);
	vq->size = d->queue_max_size;
	vq->vector = VIRTIO_NO_VECTOR;
	vq->enabled = false;
	vq->desc = vq->driver = vq->device = 0;
}

static void virtio_dev_reset(struct virtio_dev *d)
{
	for (unsigned i = 0; i < d->num_queues; i++)
		virtio_queue_reset(d, &d->queues[i]);
	d->status = 0;
	d->driver_features = 0;
	d->warned = false;
	d->reason[0] = 0;
	if (d->ops->reset)
		d->ops->reset(d);
}

int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_info *info,
		    const struct virtio_dev_ops *ops, void *opaque, const struct gmem *mem)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (!info->name || !ops || !ops->handle_queue || !mem || !info->num_queues ||
	    info->num_queues > VIRTIO_DEV_MAX_QUEUES ||
	    !virtio_size_ok(info->queue_max_size, VIRTQ_MAX_SIZE))
		return -EINVAL;
	d->queues = calloc(info->num_queues, sizeof(*d->queues));
	if (!d->queues)
		return -ENOMEM;
	rc = pthread_mutex_init(&d->lock, NULL);
	if (rc) {
		free(d->queues);
		d->queues = NULL;
		return -rc;
	}
	d->name = info->name;
	d->device_id = info->device_id;
	d->queue_max_size = info->queue_max_size;
	d->config_size = info->config_size;
	d->num_queues = info->num_queues;
	d->device_features = info->features | VIRTIO_CORE_FEATURES;
	d->mem = mem;
	d->ops = ops;
	d->opaque = opaque;
	for (unsigned i = 0; i < d->num_queues; i++)
		virtio_queue_reset(d, &d->queues[i]);
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *d)
{
	if (!d->queues)
		return;
	for (unsigned i = 0; i < d->num_queues; i++)
		virtq_destroy(&d->queues[i].vq);
	free(d->queues);
	pthread_mutex_destroy(&d->lock);
	memset(d, 0, sizeof(*d));
}

void virtio_dev_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *tops,
			      void *t)
{
	pthread_mutex_lock(&d->lock);
	d->tops = tops;
	d->transport = t;
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_lock(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
}

void virtio_dev_unlock(struct virtio_dev *d)
{
	pthread_mutex_unlock(&d->lock);
}

bool virtio_dev_is_live(const struct virtio_dev *d)
{
	return (d->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET |
			     VIRTIO_STATUS_FAILED)) == VIRTIO_STATUS_DRIVER_OK;
}

uint64_t virtio_dev_features(const struct virtio_dev *d)
{
	return d->driver_features;
}

/* Whether the driver's features can be accepted (2.2.1); if not, why in why[]. */
static bool virtio_dev_check_features(struct virtio_dev *d, uint64_t f, char *why, size_t len)
{
	if (f & ~d->device_features) {
		snprintf(why, len, "driver accepted features %#llx that were not offered",
			 (unsigned long long)(f & ~d->device_features));
		return false;
	}
	if (!(f & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		snprintf(why, len,
			 "driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are "
			 "not supported)");
		return false;
	}
	if (d->ops->features_ok && !d->ops->features_ok(d, f)) {
		snprintf(why, len, "device refused features %#llx", (unsigned long long)f);
		return false;
	}
	return true;
}

uint32_t virtio_dev_read_device_features(struct virtio_dev *d, uint32_t sel)
{
	/* Fixed at init: no lock needed. */
	return sel < 2 ? (uint32_t)(d->device_features >> (32 * sel)) : 0;
}

uint32_t virtio_dev_read_driver_features(struct virtio_dev *d, uint32_t sel)
{
	uint32_t v;

	pthread_mutex_lock(&d->lock);
	v = sel < 2 ? (uint32_t)(d->driver_features >> (32 * sel)) : 0;
	pthread_mutex_unlock(&d->lock);
	return v;
}

void virtio_dev_write_driver_features(struct virtio_dev *d, uint32_t sel, uint32_t val)
{
	uint64_t mask;

	pthread_mutex_lock(&d->lock);
	if (d->status & VIRTIO_STATUS_FEATURES_OK) {
		virtio_dev_refuse(d, "driver features written after FEATURES_OK");
	} else if (sel < 2) {
		mask = 0xffffffffULL << (32 * sel);
		d->driver_features = (d->driver_features & ~mask) | ((uint64_t)val << (32 * sel));
	}
	/* Bits beyond 63 are never offered; writes there only matter as 0. */
	pthread_mutex_unlock(&d->lock);
}

uint8_t virtio_dev_read_status(struct virtio_dev *d)
{
	uint8_t s;

	pthread_mutex_lock(&d->lock);
	s = d->status;
	pthread_mutex_unlock(&d->lock);
	return s;
}

/* The status write's order check (3.1.1); NULL if fine, else why not. */
static const char *virtio_status_order(uint8_t old, uint8_t want)
{
	if (old & ~want)
		return "clears status bits (only a reset may)";
	if (want & ~STATUS_DRIVER_BITS)
		return "sets undefined status bits";
	if ((want & VIRTIO_STATUS_DRIVER) && !(want & VIRTIO_STATUS_ACKNOWLEDGE))
		return "sets DRIVER without ACKNOWLEDGE";
	if ((want & VIRTIO_STATUS_FEATURES_OK) && !(want & VIRTIO_STATUS_DRIVER))
		return "sets FEATURES_OK without DRIVER";
	if ((want & VIRTIO_STATUS_DRIVER_OK) && !(want & VIRTIO_STATUS_FEATURES_OK))
		return "sets DRIVER_OK without FEATURES_OK";
	return NULL;
}

void virtio_dev_write_status(struct virtio_dev *d, uint8_t status)
{
	uint8_t old, want, add;
	bool handled = false;
	const char *bad;
	char why[128];

	pthread_mutex_lock(&d->lock);
	if (!status) {
		virtio_dev_reset(d);
		goto out;
	}
	/* Drivers write back what they read, NEEDS_RESET included: it stays ours. */
	old = d->status & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
	want = status & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
	add = want & (uint8_t)~old;
	bad = virtio_status_order(old, want);
	if (bad) {
		virtio_dev_refuse(d, "status %#x over %#x %s", status, d->status, bad);
		goto out;
	}
	if ((add & VIRTIO_STATUS_FEATURES_OK) &&
	    !virtio_dev_check_features(d, d->driver_features, why, sizeof(why))) {
		/* 2.2.1: the driver re-reads status and sees FEATURES_OK missing. */
		log_info(d->name, "features not accepted: %s", why);
		want &= (uint8_t) ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
		add &= (uint8_t) ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	}
	d->status = want | (d->status & VIRTIO_STATUS_NEEDS_RESET);
	/*
	 * Buffers made available before DRIVER_OK were not ours to use then, and
	 * their notifications were dropped: look at every queue now.
	 */
	if ((add & VIRTIO_STATUS_DRIVER_OK) && virtio_dev_is_live(d)) {
		for (unsigned i = 0; i < d->num_queues && virtio_dev_is_live(d); i++) {
			if (d->queues[i].enabled) {
				d->ops->handle_queue(d, i);
				handled = true;
			}
		}
	}
out:
	pthread_mutex_unlock(&d->lock);
	if (handled && d->ops->after_handle)
		d->ops->after_handle(d, false);
}

uint8_t virtio_dev_config_generation(struct virtio_dev *d)
{
	uint8_t g;

	pthread_mutex_lock(&d->lock);
	g = d->config_generation;
	pthread_mutex_unlock(&d->lock);
	return g;
}

static bool virtio_config_in_range(const struct virtio_dev *d, uint32_t off, uint32_t len)
{
	return off <= d->config_size && len <= d->config_size - off;
}

void virtio_dev_read_config(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	memset(buf, 0, len);
	pthread_mutex_lock(&d->lock);
	if (len && virtio_config_in_range(d, off, len) && d->ops->config_read)
		d->ops->config_read(d, off, buf, len);
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_write_config(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	pthread_mutex_lock(&d->lock);
	if (len && virtio_config_in_range(d, off, len) && d->ops->config_write)
		d->ops->config_write(d, off, buf, len);
	pthread_mutex_unlock(&d->lock);
}

uint32_t virtio_dev_read_queue(struct virtio_dev *d, unsigned q, enum virtio_queue_reg reg)
{
	const struct virtio_queue *vq;
	uint32_t v = 0;

	if (q >= d->num_queues)
		return 0;
	vq = &d->queues[q];
	pthread_mutex_lock(&d->lock);
	switch (reg) {
	case VIRTIO_QUEUE_SIZE:
		v = vq->size;
		break;
	case VIRTIO_QUEUE_MAX_SIZE:
		v = d->queue_max_size;
		break;
	case VIRTIO_QUEUE_VECTOR:
		v = vq->vector;
		break;
	case VIRTIO_QUEUE_ENABLE:
		v = vq->enabled;
		break;
	case VIRTIO_QUEUE_DESC_LO:
		v = (uint32_t)vq->desc;
		break;
	case VIRTIO_QUEUE_DESC_HI:
		v = (uint32_t)(vq->desc >> 32);
		break;
	case VIRTIO_QUEUE_DRIVER_LO:
		v = (uint32_t)vq->driver;
		break;
	case VIRTIO_QUEUE_DRIVER_HI:
		v = (uint32_t)(vq->driver >> 32);
		break;
	case VIRTIO_QUEUE_DEVICE_LO:
		v = (uint32_t)vq->device;
		break;
	case VIRTIO_QUEUE_DEVICE_HI:
		v = (uint32_t)(vq->device >> 32);
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void virtio_set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
	else
		*v = (*v & ~0xffffffffULL) | val;
}

/* The driver enables queue q: the rings are checked here, once (3.1.1 step 7). */
static void virtio_queue_enable(struct virtio_dev *d, unsigned q)
{
	struct virtio_queue *vq = &d->queues[q];
	int rc;

	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	/* The ring layout depends on EVENT_IDX, so the features must be settled. */
	if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_dev_set_needs_reset(d, "queue %u enabled before FEATURES_OK", q);
		return;
	}
	rc = virtq_init(&vq->vq, d->mem, vq->size, vq->desc, vq->driver, vq->device,
			d->driver_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
			d->driver_features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	if (rc) {
		virtio_dev_set_needs_reset(d, "queue %u: %s", q, virtq_reason(&vq->vq));
		virtq_destroy(&vq->vq);
		return;
	}
	vq->enabled = true;
}

void virtio_dev_write_queue(struct virtio_dev *d, unsigned q, enum virtio_queue_reg reg,
			    uint32_t val)
{
	struct virtio_queue *vq;

	if (q >= d->num_queues)
		return;
	vq = &d->queues[q];
	pthread_mutex_lock(&d->lock);
	if (reg == VIRTIO_QUEUE_ENABLE) {
		/* Writing 0 is not allowed without VIRTIO_F_RING_RESET (4.1.4.3.2): ignore it. */
		if (val == 1 && !vq->enabled)
			virtio_queue_enable(d, q);
		goto out;
	}
	/* The vector only routes interrupts: drivers move it (to NO_VECTOR) at any time. */
	if (reg == VIRTIO_QUEUE_VECTOR) {
		vq->vector = (uint16_t)val;
		goto out;
	}
	/* The rings were checked when the queue was enabled: they stay as they were. */
	if (vq->enabled) {
		virtio_dev_refuse(d, "queue %u register %d written while the queue is enabled", q,
				  (int)reg);
		goto out;
	}
	switch (reg) {
	case VIRTIO_QUEUE_SIZE:
		if (virtio_size_ok(val, d->queue_max_size))
			vq->size = (uint16_t)val;
		else
			virtio_dev_refuse(d, "queue %u size %u is not a power of 2 in 1..%u", q,
					  val, d->queue_max_size);
		break;
	case VIRTIO_QUEUE_DESC_LO:
	case VIRTIO_QUEUE_DESC_HI:
		virtio_set_half(&vq->desc, reg == VIRTIO_QUEUE_DESC_HI, val);
		break;
	case VIRTIO_QUEUE_DRIVER_LO:
	case VIRTIO_QUEUE_DRIVER_HI:
		virtio_set_half(&vq->driver, reg == VIRTIO_QUEUE_DRIVER_HI, val);
		break;
	case VIRTIO_QUEUE_DEVICE_LO:
	case VIRTIO_QUEUE_DEVICE_HI:
		virtio_set_half(&vq->device, reg == VIRTIO_QUEUE_DEVICE_HI, val);
		break;
	default: /* read-only */
		break;
	}
out:
	pthread_mutex_unlock(&d->lock);
}

static void virtio_dev_notify_from(struct virtio_dev *d, unsigned q, bool iothread)
{
	bool handled = false;

	if (q >= d->num_queues)
		return;
	pthread_mutex_lock(&d->lock);
	/* 2.1.2: nothing is used before DRIVER_OK; nothing at all once broken. */
	if (virtio_dev_is_live(d) && d->queues[q].enabled) {
		d->ops->handle_queue(d, q);
		handled = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (handled && d->ops->after_handle)
		d->ops->after_handle(d, iothread);
}

void virtio_dev_notify(struct virtio_dev *d, unsigned q)
{
	virtio_dev_notify_from(d, q, false);
}

void virtio_dev_notify_iothread(struct virtio_dev *d, unsigned q)
{
	virtio_dev_notify_from(d, q, true);
}

int virtio_dev_queue_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e)
{
	int rc;

	if (q >= d->num_queues || !virtio_dev_is_live(d) || !d->queues[q].enabled)
		return 0;
	rc = virtq_pop(&d->queues[q].vq, e);
	if (rc < 0)
		virtio_dev_set_needs_reset(d, "queue %u: %s", q, virtq_reason(&d->queues[q].vq));
	return rc;
}

void virtio_dev_queue_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e,
			   uint32_t written)
{
	if (q >= d->num_queues || !virtio_dev_is_live(d) || !d->queues[q].enabled)
		return;
	virtq_push(&d->queues[q].vq, e, written);
}

void virtio_dev_queue_interrupt(struct virtio_dev *d, unsigned q)
{
	struct virtio_queue *vq;

	/*
	 * Not is_live: buffers used before a NEEDS_RESET in the same batch are
	 * the driver's, and it should hear of them. Nothing is pushed after it,
	 * so this sends at most one more notification.
	 */
	if (q >= d->num_queues || !(d->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	vq = &d->queues[q];
	if (vq->enabled && virtq_should_notify(&vq->vq) && d->tops && d->tops->notify_queue)
		d->tops->notify_queue(d->transport, q, vq->vector);
}

static bool virtio_dev_queue_usable(const struct virtio_dev *d, unsigned q)
{
	return q < d->num_queues && virtio_dev_is_live(d) && d->queues[q].enabled;
}

void virtio_dev_queue_disable_notify(struct virtio_dev *d, unsigned q)
{
	if (virtio_dev_queue_usable(d, q))
		virtq_disable_notify(&d->queues[q].vq);
}

bool virtio_dev_queue_enable_notify(struct virtio_dev *d, unsigned q)
{
	/* A queue that went away took its suppression with it (virtq_destroy). */
	return virtio_dev_queue_usable(d, q) && virtq_enable_notify(&d->queues[q].vq);
}

bool virtio_dev_queue_has_avail(struct virtio_dev *d, unsigned q)
{
	return virtio_dev_queue_usable(d, q) && virtq_has_avail(&d->queues[q].vq);
}

void virtio_dev_set_needs_reset(struct virtio_dev *d, const char *fmt, ...)
{
	va_list ap;

	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
	log_warn(d->name, "driver error, device needs reset: %s", d->reason);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->tops && d->tops->notify_config)
		d->tops->notify_config(d->transport);
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
	d->config_generation++;
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->tops && d->tops->notify_config)
		d->tops->notify_config(d->transport);
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; u16 device id;
 * u16 number of queues; u64 device features; u64 driver features; u8 status;
 * u8 config generation; then per queue: u16 size; u16 vector; u8 enabled;
 * u64 descriptor, driver and device area addresses; u16 last_avail_idx;
 * u16 used_idx; u16 signalled_used (the last three 0 for a disabled queue).
 * Any signalled_used is harmless: at worst one notification too many or too
 * few, which drivers must cope with anyway. The NEEDS_RESET reason is not kept.
 */
#define VIRTIO_STATE_VERSION 1

int virtio_dev_save(struct virtio_dev *d, struct state_buf *b)
{
	pthread_mutex_lock(&d->lock);
	state_put_u32(b, VIRTIO_STATE_VERSION);
	state_put_u16(b, d->device_id);
	state_put_u16(b, (uint16_t)d->num_queues);
	state_put_u64(b, d->device_features);
	state_put_u64(b, d->driver_features);
	state_put_u8(b, d->status);
	state_put_u8(b, d->config_generation);
	for (unsigned i = 0; i < d->num_queues; i++) {
		const struct virtio_queue *vq = &d->queues[i];

		state_put_u16(b, vq->size);
		state_put_u16(b, vq->vector);
		state_put_u8(b, vq->enabled);
		state_put_u64(b, vq->desc);
		state_put_u64(b, vq->driver);
		state_put_u64(b, vq->device);
		state_put_u16(b, vq->enabled ? vq->vq.last_avail_idx : 0);
		state_put_u16(b, vq->enabled ? vq->vq.used_idx : 0);
		state_put_u16(b, vq->enabled ? vq->vq.signalled_used : 0);
	}
	pthread_mutex_unlock(&d->lock);
	return b->error;
}

struct virtio_dev_loaded {
	uint64_t driver_features;
	uint8_t status, config_generation;
	unsigned num_queues;
	struct virtio_queue queues[];
};

void virtio_dev_load_discard(struct virtio_dev_loaded *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->num_queues; i++)
		virtq_destroy(&s->queues[i].vq);
	free(s);
}

/* One queue's saved state into vq, checked; false if it cannot be restored. */
static bool virtio_load_queue(struct virtio_dev *d, struct state_reader *r, uint64_t features,
			      uint8_t status, struct virtio_queue *vq)
{
	uint16_t last_avail, used, signalled;
	uint8_t enabled;

	vq->size = state_get_u16(r);
	vq->vector = state_get_u16(r);
	enabled = state_get_u8(r);
	vq->desc = state_get_u64(r);
	vq->driver = state_get_u64(r);
	vq->device = state_get_u64(r);
	last_avail = state_get_u16(r);
	used = state_get_u16(r);
	signalled = state_get_u16(r);
	if (r->error || !virtio_size_ok(vq->size, d->queue_max_size) || enabled > 1)
		return false;
	if (!enabled)
		return !last_avail && !used && !signalled;
	/* As virtio_queue_enable would have: only after FEATURES_OK, rings in RAM. */
	if (!(status & VIRTIO_STATUS_FEATURES_OK) ||
	    virtq_init(&vq->vq, d->mem, vq->size, vq->desc, vq->driver, vq->device,
		       features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
		       features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))
		return false;
	vq->enabled = true;
	/* Popped but not yet pushed: never more than the ring holds. */
	if ((uint16_t)(last_avail - used) > vq->size)
		return false;
	vq->vq.last_avail_idx = last_avail;
	vq->vq.used_idx = used;
	vq->vq.signalled_used = signalled;
	return true;
}

int virtio_dev_load_parse(struct virtio_dev *d, struct state_reader *r,
			  struct virtio_dev_loaded **out)
{
	struct virtio_dev_loaded *s;
	uint16_t id, nq;
	uint64_t dev_features;
	char why[128];
	bool ok;

	*out = NULL;
	if (state_get_u32(r) != VIRTIO_STATE_VERSION)
		state_reader_fail(r);
	id = state_get_u16(r);
	nq = state_get_u16(r);
	dev_features = state_get_u64(r);
	/* A snapshot of another device, or of this one configured differently. */
	if (id != d->device_id || nq != d->num_queues || dev_features != d->device_features)
		state_reader_fail(r);
	if (r->error)
		return -EINVAL;
	s = calloc(1, sizeof(*s) + d->num_queues * sizeof(s->queues[0]));
	if (!s)
		return -ENOMEM;
	s->num_queues = d->num_queues;
	s->driver_features = state_get_u64(r);
	s->status = state_get_u8(r);
	s->config_generation = state_get_u8(r);
	pthread_mutex_lock(&d->lock); /* features_ok is an op: ops run under the lock */
	/*
	 * As the live device: the driver may write any feature bits; only
	 * FEATURES_OK checks them (virtio_dev_check_features, which refuses bits
	 * that were not offered), so only then must the saved ones pass.
	 */
	ok = !r->error &&
	     !virtio_status_order(0, s->status & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET) &&
	     (!(s->status & VIRTIO_STATUS_FEATURES_OK) ||
	      virtio_dev_check_features(d, s->driver_features, why, sizeof(why)));
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; ok && i < s->num_queues; i++)
		ok = virtio_load_queue(d, r, s->driver_features, s->status, &s->queues[i]);
	if (!ok || r->error) {
		state_reader_fail(r);
		virtio_dev_load_discard(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

void virtio_dev_load_apply(struct virtio_dev *d, struct virtio_dev_loaded *s)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->num_queues; i++) {
		virtq_destroy(&d->queues[i].vq);
		/* The staged virtq (and its seen array) moves over. */
		d->queues[i] = s->queues[i];
	}
	d->driver_features = s->driver_features;
	d->status = s->status;
	d->config_generation = s->config_generation;
	d->warned = false;
	snprintf(d->reason, sizeof(d->reason), "%s",
		 (s->status & VIRTIO_STATUS_NEEDS_RESET) ? "needed a reset when saved" : "");
	pthread_mutex_unlock(&d->lock);
	free(s);
}

int virtio_dev_load(struct virtio_dev *d, struct state_reader *r)
{
	struct virtio_dev_loaded *s;
	int rc = virtio_dev_load_parse(d, r, &s);

	if (rc)
		return rc;
	if (state_reader_finish(r)) {
		virtio_dev_load_discard(s);
		return -EINVAL;
	}
	virtio_dev_load_apply(d, s);
	return 0;
}
