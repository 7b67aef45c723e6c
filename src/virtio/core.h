/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent part of a virtio device (virtio 1.2): device status
 * and its state machine (2.1, 3.1.1), feature negotiation (2.2, reserved bits in
 * 6), virtqueue configuration and the split rings behind it (2.7, queue.h),
 * the device configuration space and its generation (2.5), and
 * DEVICE_NEEDS_RESET (2.1.2) when the driver breaks the rules. See core.c.
 *
 * Three parties use a struct virtio_dev:
 *  - the transport (virtio/pci.c) forwards the guest's register accesses to the
 *    virtio_dev_read_* / virtio_dev_write_* / virtio_dev_notify functions and is
 *    called back through struct virtio_transport_ops to raise interrupts;
 *  - the device (virtio/rng.c, ...) embeds one, supplies struct virtio_dev_ops,
 *    and from handle_queue pops, pushes and interrupts;
 *  - snapshots, through virtio_dev_save / virtio_dev_load_*.
 *
 * Locking: one mutex per device. Transport-side functions take it. Device ops
 * (but after_handle) and transport callbacks run with it held, and the
 * device-side functions (marked "lock held") must be called with it held: from inside an op, or
 * between virtio_dev_lock and virtio_dev_unlock (completions from other threads).
 * Transport callbacks must not call back into a locking virtio_dev_* function.
 */
#ifndef KVMM_VIRTIO_CORE_H
#define KVMM_VIRTIO_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "machine/gmem.h"
#include "state/buf.h"
#include "virtio/queue.h"

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED	  128

/* Reserved feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_BIT(f)	       (1ULL << (f))

/* What the core itself offers on every device: a modern device whose rings do both. */
#define VIRTIO_CORE_FEATURES                                                                       \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |                     \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

/* "No MSI-X vector" (4.1.4.3, VIRTIO_MSI_NO_VECTOR); the core only stores vectors. */
#define VIRTIO_NO_VECTOR 0xffff

#define VIRTIO_DEV_MAX_QUEUES 256u
#define VIRTIO_DEV_REASON_LEN 256

/* Device IDs (5). */
#define VIRTIO_ID_RNG 4

struct virtio_dev;

/* Supplied by the device; every op but after_handle runs with the device lock held. */
struct virtio_dev_ops {
	/* Queue q was notified (or DRIVER_OK came): pop, process, push, interrupt. */
	void (*handle_queue)(struct virtio_dev *d, unsigned q);
	/*
	 * Without the lock: the core calls it on the same thread right after
	 * releasing the lock it called handle_queue under (a notification,
	 * DRIVER_OK), for work handle_queue set aside because it must not be
	 * done under the lock: virtio-blk hands its requests to the disk here,
	 * and the completions that are ready at once take the lock. iothread:
	 * called from virtio_dev_notify_iothread, so the device may poll its
	 * queues a little (on a vCPU thread that would only hold up the guest).
	 * May be NULL.
	 */
	void (*after_handle)(struct virtio_dev *d, bool iothread);
	/* Device-specific reset, after the core's (status 0 written). May be NULL. */
	void (*reset)(struct virtio_dev *d);
	/*
	 * Device-specific check of the driver's features when it sets FEATURES_OK
	 * (dependencies between bits); the core already checked they are a subset
	 * of the offer and include VERSION_1. NULL accepts them.
	 */
	bool (*features_ok)(struct virtio_dev *d, uint64_t features);
	/* Device configuration space; off and len are inside config_size. May be NULL. */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len);
};

/* Supplied by the transport; both run with the device lock held. */
struct virtio_transport_ops {
	/* Send the used buffer notification of queue q (vector: as the driver set it). */
	void (*notify_queue)(void *t, unsigned q, uint16_t vector);
	/* Send a configuration change notification. */
	void (*notify_config)(void *t);
};

/* What a device is, fixed at virtio_dev_init. */
struct virtio_dev_info {
	const char *name;	 /* log source, e.g. "virtio-rng"; must outlive the device */
	uint16_t device_id;	 /* 5: VIRTIO_ID_* */
	uint64_t features;	 /* device-specific offer; VIRTIO_CORE_FEATURES are added */
	unsigned num_queues;	 /* 1..VIRTIO_DEV_MAX_QUEUES */
	uint16_t queue_max_size; /* power of 2, 1..VIRTQ_MAX_SIZE, for every queue */
	uint32_t config_size;	 /* bytes of device configuration space */
};

/* A queue's driver-visible registers, as the transports have them (4.1.4.3, 4.2.2). */
enum virtio_queue_reg {
	VIRTIO_QUEUE_SIZE,     /* rw: starts at the maximum; a power of 2 up to it */
	VIRTIO_QUEUE_MAX_SIZE, /* ro */
	VIRTIO_QUEUE_VECTOR,   /* rw: stored for the transport, not interpreted */
	VIRTIO_QUEUE_ENABLE,   /* rw: writing 1 checks the rings and starts the queue */
	VIRTIO_QUEUE_DESC_LO,
	VIRTIO_QUEUE_DESC_HI,
	VIRTIO_QUEUE_DRIVER_LO, /* available ring */
	VIRTIO_QUEUE_DRIVER_HI,
	VIRTIO_QUEUE_DEVICE_LO, /* used ring */
	VIRTIO_QUEUE_DEVICE_HI,
};

struct virtio_queue {
	uint16_t size, vector;
	bool enabled;
	uint64_t desc, driver, device;
	struct virtq vq; /* set up while enabled */
};

struct virtio_dev {
	pthread_mutex_t lock;
	/* Fixed at init. */
	const char *name;
	uint16_t device_id;
	uint16_t queue_max_size;
	uint32_t config_size;
	unsigned num_queues;
	uint64_t device_features;
	const struct gmem *mem;
	const struct virtio_dev_ops *ops;
	void *opaque; /* the device's own state */
	const struct virtio_transport_ops *tops;
	void *transport;
	/* Guest-driven, under lock. */
	uint64_t driver_features;
	uint8_t status;
	uint8_t config_generation;
	/* A refused register write was logged as a warning since reset: log more at debug. */
	bool warned;
	struct virtio_queue *queues;
	char reason[VIRTIO_DEV_REASON_LEN]; /* why NEEDS_RESET was set */
};

/*
 * Sets d up as a freshly reset device. mem is the guest RAM that rings and
 * buffers must lie in; opaque is for the ops. Returns 0, -EINVAL (bad info) or
 * -ENOMEM.
 */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_info *info,
		    const struct virtio_dev_ops *ops, void *opaque, const struct gmem *mem);
void virtio_dev_destroy(struct virtio_dev *d);
/* Connects the transport before the guest runs. */
void virtio_dev_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *tops,
			      void *t);

/* --- Transport side: take the lock. --- */

/* 32-bit words of the 64-bit feature sets (sel 0: bits 0-31, 1: 32-63, else 0). */
uint32_t virtio_dev_read_device_features(struct virtio_dev *d, uint32_t sel);
uint32_t virtio_dev_read_driver_features(struct virtio_dev *d, uint32_t sel);
/* Ignored once FEATURES_OK is set (the features are fixed then: 3.1.1). */
void virtio_dev_write_driver_features(struct virtio_dev *d, uint32_t sel, uint32_t val);
uint8_t virtio_dev_read_status(struct virtio_dev *d);
/*
 * 0 resets the device. Otherwise the driver may only add bits, in the order of
 * 3.1.1 (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK; FAILED at any time); an
 * out-of-order write is ignored. FEATURES_OK is kept only if the features are
 * acceptable. NEEDS_RESET is the device's: the driver's copy of it is ignored.
 */
void virtio_dev_write_status(struct virtio_dev *d, uint8_t status);
uint8_t virtio_dev_config_generation(struct virtio_dev *d);
/* Outside config_size reads zeros and ignores writes. */
void virtio_dev_read_config(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len);
void virtio_dev_write_config(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len);
/* Queue registers; q out of range reads 0 and ignores writes. */
uint32_t virtio_dev_read_queue(struct virtio_dev *d, unsigned q, enum virtio_queue_reg reg);
void virtio_dev_write_queue(struct virtio_dev *d, unsigned q, enum virtio_queue_reg reg,
			    uint32_t val);
/* Available buffer notification: runs handle_queue if the device is live. */
void virtio_dev_notify(struct virtio_dev *d, unsigned q);
/*
 * The same from the VM's I/O thread (a queue's ioeventfd), where the device
 * may go on watching its queues for a while before returning (after_handle).
 */
void virtio_dev_notify_iothread(struct virtio_dev *d, unsigned q);

/* --- Device side: lock held. --- */

void virtio_dev_lock(struct virtio_dev *d);
void virtio_dev_unlock(struct virtio_dev *d);
/* DRIVER_OK set, and neither FAILED nor NEEDS_RESET: buffers may be used. */
bool virtio_dev_is_live(const struct virtio_dev *d);
/* The negotiated features (valid once FEATURES_OK is set). */
uint64_t virtio_dev_features(const struct virtio_dev *d);
/*
 * virtq_pop on queue q when the device is live and q enabled (else 0). A broken
 * ring sets NEEDS_RESET with virtq's reason and returns its negative errno.
 */
int virtio_dev_queue_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e);
/* virtq_push; dropped when the device is no longer live (reset or NEEDS_RESET). */
void virtio_dev_queue_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e,
			   uint32_t written);
/*
 * After a batch of pushes: a used buffer notification unless the driver
 * suppressed it or nothing was pushed since the last one. Still sent after
 * NEEDS_RESET, for what was pushed before it.
 */
void virtio_dev_queue_interrupt(struct virtio_dev *d, unsigned q);
/*
 * For a device that polls queue q for a while instead of waiting for
 * notifications: virtq_disable_notify / virtq_enable_notify / virtq_has_avail
 * (queue.h) when the device is live and q enabled; otherwise nothing, false.
 */
void virtio_dev_queue_disable_notify(struct virtio_dev *d, unsigned q);
bool virtio_dev_queue_enable_notify(struct virtio_dev *d, unsigned q);
bool virtio_dev_queue_has_avail(struct virtio_dev *d, unsigned q);
/*
 * The driver broke the rules: log the reason (warning, with the device name),
 * set DEVICE_NEEDS_RESET, and send a configuration change notification if
 * DRIVER_OK is set (2.1.2). The device then uses no buffers until reset. Only
 * the first reason is kept.
 */
void virtio_dev_set_needs_reset(struct virtio_dev *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The device changed its configuration space: new generation, and tell the driver. */
void virtio_dev_config_changed(struct virtio_dev *d);

/* --- Snapshots. --- */

/*
 * The core state, format version 1: status, features, config generation and
 * every queue's registers and ring progress. The device appends its own state
 * after it. Returns 0 or b's error.
 */
int virtio_dev_save(struct virtio_dev *d, struct state_buf *b);

/*
 * Loading in two steps, so a device can check its own state (which follows the
 * core's in the stream) before anything changes: _parse reads and checks the
 * core state against d (same device, features, queues; a consistent status;
 * rings inside guest RAM) without changing d, returning 0 and a staged state,
 * or -EINVAL (r failed) / -ENOMEM. Then exactly one of _apply (takes effect,
 * frees) or _discard (frees).
 */
struct virtio_dev_loaded;
int virtio_dev_load_parse(struct virtio_dev *d, struct state_reader *r,
			  struct virtio_dev_loaded **out);
void virtio_dev_load_apply(struct virtio_dev *d, struct virtio_dev_loaded *s);
void virtio_dev_load_discard(struct virtio_dev_loaded *s);
/* Both steps for a device with no state of its own: r must hold exactly the core state. */
int virtio_dev_load(struct virtio_dev *d, struct state_reader *r);

#endif
