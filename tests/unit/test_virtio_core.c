/* SPDX-License-Identifier: MIT */
/*
 * Virtio device core (virtio/core.h) with a test device and a fake transport:
 * the status state machine, feature negotiation and FEATURES_OK refusal, queue
 * registers and enabling, reset, DEVICE_NEEDS_RESET stopping all processing
 * until reset, interrupts, configuration space, and save/load (round trip,
 * and refusal of every corrupted or mismatched state).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/buf.h"
#include "virtio/core.h"
#include "virtio_fixtures.h"

#define TEST_FEATURE_A 0 /* needs B: the device's features_ok says so */
#define TEST_FEATURE_B 1
#define NQ	       2
#define QSIZE	       8

struct tdev {
	struct virtio_dev vdev;
	struct fake_vm vm;
	struct virtq_elem e;
	unsigned handled[NQ], resets, queue_irqs[NQ], config_irqs;
	uint16_t last_vector;
	uint8_t config[8];
};

static void tdev_handle_queue(struct virtio_dev *d, unsigned q)
{
	struct tdev *t = d->opaque;
	bool pushed = false;

	t->handled[q]++;
	while (virtio_dev_queue_pop(d, q, &t->e) == 1) {
		virtio_dev_queue_push(d, q, &t->e, t->e.in_len);
		pushed = true;
	}
	if (pushed)
		virtio_dev_queue_interrupt(d, q);
}

static void tdev_reset(struct virtio_dev *d)
{
	((struct tdev *)d->opaque)->resets++;
}

static bool tdev_features_ok(struct virtio_dev *d, uint64_t f)
{
	return !(f & VIRTIO_BIT(TEST_FEATURE_A)) || (f & VIRTIO_BIT(TEST_FEATURE_B));
}

static void tdev_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct tdev *)d->opaque)->config + off, len);
}

static void tdev_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct tdev *)d->opaque)->config + off, buf, len);
}

static const struct virtio_dev_ops tdev_ops = {
    .handle_queue = tdev_handle_queue,
    .reset = tdev_reset,
    .features_ok = tdev_features_ok,
    .config_read = tdev_config_read,
    .config_write = tdev_config_write,
};

static void t_notify_queue(void *t, unsigned q, uint16_t vector)
{
	struct tdev *td = t;

	td->queue_irqs[q]++;
	td->last_vector = vector;
}

static void t_notify_config(void *t)
{
	((struct tdev *)t)->config_irqs++;
}

static const struct virtio_transport_ops t_ops = {
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
};

static const struct virtio_dev_info tdev_info = {
    .name = "virtio-test",
    .device_id = 99,
    .features = VIRTIO_BIT(TEST_FEATURE_A) | VIRTIO_BIT(TEST_FEATURE_B),
    .num_queues = NQ,
    .queue_max_size = QSIZE,
    .config_size = 8,
};

static struct tdev *tdev_new(void)
{
	struct tdev *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	fake_vm_init(&t->vm, QSIZE);
	assert_int_equal(virtio_dev_init(&t->vdev, &tdev_info, &tdev_ops, t, &t->vm.m), 0);
	virtio_dev_set_transport(&t->vdev, &t_ops, t);
	return t;
}

static void tdev_free(struct tdev *t)
{
	virtio_dev_destroy(&t->vdev);
	fake_vm_free(&t->vm);
	free(t);
}

static int setup(void **state)
{
	*state = tdev_new();
	return 0;
}

static int teardown(void **state)
{
	tdev_free(*state);
	return 0;
}

static void write_features(struct virtio_dev *d, uint64_t f)
{
	virtio_dev_write_driver_features(d, 0, (uint32_t)f);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(f >> 32));
}

/* Queue q's rings at the fixture's addresses, shifted by q pages so queues do not overlap. */
static void setup_queue(struct virtio_dev *d, unsigned q)
{
	uint32_t shift = 0x100 * q;

	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_SIZE, QSIZE);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_LO, FAKE_DESC_GPA + shift);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_HI, 0);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DRIVER_LO, FAKE_AVAIL_GPA + shift);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DEVICE_LO, FAKE_USED_GPA + shift);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_VECTOR, 3 + q);
	virtio_dev_write_queue(d, q, VIRTIO_QUEUE_ENABLE, 1);
}

/* What a driver does (3.1.1): up to and including DRIVER_OK, with queue 0 set up. */
static void bring_up(struct virtio_dev *d, uint64_t features)
{
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(d, features);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(virtio_dev_read_status(d), 11);
	setup_queue(d, 0);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_ENABLE), 1);
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15);
}

/* One writable buffer on queue 0, made available. */
static void add_request(struct tdev *t, uint16_t head)
{
	drv_desc(&t->vm, FAKE_DESC_GPA, head, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&t->vm, head);
}

static void test_init_refuses_bad_info(void **state)
{
	struct virtio_dev d;
	struct fake_vm vm;
	struct virtio_dev_info info = tdev_info;
	(void)state;

	fake_vm_init(&vm, QSIZE);
	info.queue_max_size = 12;
	assert_int_equal(virtio_dev_init(&d, &info, &tdev_ops, NULL, &vm.m), -EINVAL);
	info = tdev_info;
	info.num_queues = 0;
	assert_int_equal(virtio_dev_init(&d, &info, &tdev_ops, NULL, &vm.m), -EINVAL);
	info.num_queues = VIRTIO_DEV_MAX_QUEUES + 1;
	assert_int_equal(virtio_dev_init(&d, &info, &tdev_ops, NULL, &vm.m), -EINVAL);
	fake_vm_free(&vm);
}

static void test_features_offer(void **state)
{
	struct tdev *t = *state;

	assert_int_equal(virtio_dev_read_device_features(&t->vdev, 0),
			 3u | 1u << VIRTIO_F_INDIRECT_DESC | 1u << VIRTIO_F_EVENT_IDX);
	assert_int_equal(virtio_dev_read_device_features(&t->vdev, 1), 1); /* VERSION_1 */
	assert_int_equal(virtio_dev_read_device_features(&t->vdev, 2), 0);
	write_features(&t->vdev, 0x100000003ULL);
	assert_int_equal(virtio_dev_read_driver_features(&t->vdev, 0), 3);
	assert_int_equal(virtio_dev_read_driver_features(&t->vdev, 1), 1);
	assert_int_equal(virtio_dev_read_driver_features(&t->vdev, 7), 0);
}

static void test_status_sequence(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	assert_int_equal(virtio_dev_read_status(d), 0);
	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(virtio_dev_features(d), VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* Features are fixed after FEATURES_OK. */
	write_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | 3);
	assert_int_equal(virtio_dev_read_driver_features(d, 0), 0);
	/* FAILED may come at any time. */
	virtio_dev_write_status(d, 15 | VIRTIO_STATUS_FAILED);
	assert_int_equal(virtio_dev_read_status(d), 15 | VIRTIO_STATUS_FAILED);
	/* A failed device uses no buffers. */
	assert_int_equal(t->handled[0], 1); /* once, at DRIVER_OK */
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->handled[0], 1);
	assert_int_equal(drv_used_idx(&t->vm), 0);
}

static void test_status_out_of_order(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	virtio_dev_write_status(d, VIRTIO_STATUS_DRIVER); /* without ACKNOWLEDGE */
	assert_int_equal(virtio_dev_read_status(d), 0);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(virtio_dev_read_status(d), 0);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | 0x10); /* undefined bit */
	assert_int_equal(virtio_dev_read_status(d), 0);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	assert_int_equal(virtio_dev_read_status(d), 3);
	write_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* DRIVER_OK before FEATURES_OK. */
	virtio_dev_write_status(d, 3 | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(virtio_dev_read_status(d), 3);
	/* Clearing a bit is only done by reset. */
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(virtio_dev_read_status(d), 3);
	/* FEATURES_OK and DRIVER_OK together are fine when the features are. */
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15);
}

static void test_features_refused(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;
	static const uint64_t bad[] = {
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5),		 /* not offered */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(40),		 /* not offered */
	    VIRTIO_BIT(TEST_FEATURE_B),					 /* legacy: no VERSION_1 */
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(TEST_FEATURE_A), /* device refuses */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		virtio_dev_write_status(d, 0);
		virtio_dev_write_status(d, 3);
		write_features(d, bad[i]);
		virtio_dev_write_status(d, 11);
		if (virtio_dev_read_status(d) != 3)
			fail_msg("features %#llx accepted", (unsigned long long)bad[i]);
		/* DRIVER_OK cannot follow, and a queue cannot be enabled. */
		virtio_dev_write_status(d, 15);
		assert_int_equal(virtio_dev_read_status(d), 3);
	}
	/* The driver may try again with fewer features. */
	write_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | 3);
	virtio_dev_write_status(d, 11);
	assert_int_equal(virtio_dev_read_status(d), 11);
	assert_int_equal(virtio_dev_features(d), VIRTIO_BIT(VIRTIO_F_VERSION_1) | 3);
}

static void test_queue_registers(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_SIZE), QSIZE);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_MAX_SIZE), QSIZE);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_VECTOR), VIRTIO_NO_VECTOR);
	assert_int_equal(virtio_dev_read_queue(d, NQ, VIRTIO_QUEUE_SIZE), 0);
	virtio_dev_write_queue(d, NQ, VIRTIO_QUEUE_SIZE, 4); /* no such queue: ignored */
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, 4);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_SIZE), 4);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, 6);  /* not a power of 2 */
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, 16); /* above the maximum */
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, 0);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_SIZE), 4);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DESC_LO, 0x89abcdef);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DESC_HI, 0x01234567);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DRIVER_HI, 5);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DEVICE_LO, 6);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_DESC_LO), 0x89abcdef);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_DESC_HI), 0x01234567);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_DRIVER_HI), 5);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_DRIVER_LO), 0);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_DEVICE_LO), 6);
	assert_int_equal(d->queues[1].desc, 0x0123456789abcdefULL);

	/* Once enabled, the rings stay where they were checked. */
	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_DESC_LO, 0x5000);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, 2);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_DESC_LO), FAKE_DESC_GPA);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_SIZE), QSIZE);
	/* Writing 0 to enable is not a queue reset (no VIRTIO_F_RING_RESET). */
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_ENABLE, 0);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_ENABLE), 1);
	/* The vector may move at any time. */
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_VECTOR, VIRTIO_NO_VECTOR);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_VECTOR), VIRTIO_NO_VECTOR);
}

static void test_notify_and_interrupt(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	/* Buffers made available before DRIVER_OK wait for it (2.1.2). */
	virtio_dev_write_status(d, 3);
	write_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_dev_write_status(d, 11);
	setup_queue(d, 0);
	add_request(t, 2);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->handled[0], 0);
	assert_int_equal(drv_used_idx(&t->vm), 0);
	virtio_dev_write_status(d, 15);
	assert_int_equal(t->handled[0], 1);
	assert_int_equal(drv_used_idx(&t->vm), 1);
	assert_int_equal(drv_used_id(&t->vm, 0), 2);
	assert_int_equal(drv_used_len(&t->vm, 0), 16);
	assert_int_equal(t->queue_irqs[0], 1);
	assert_int_equal(t->last_vector, 3);

	add_request(t, 1);
	virtio_dev_notify(d, 0);
	assert_int_equal(drv_used_idx(&t->vm), 2);
	assert_int_equal(t->queue_irqs[0], 2);
	/* The driver suppresses interrupts. */
	drv_set_avail_flags(&t->vm, VIRTQ_AVAIL_F_NO_INTERRUPT);
	add_request(t, 1);
	virtio_dev_notify(d, 0);
	assert_int_equal(drv_used_idx(&t->vm), 3);
	assert_int_equal(t->queue_irqs[0], 2);
	/* Queue 1 is not enabled, and there is no queue 2. */
	virtio_dev_notify(d, 1);
	virtio_dev_notify(d, NQ);
	assert_int_equal(t->handled[1], 0);
	assert_int_equal(t->config_irqs, 0);
}

static void test_event_idx_interrupts(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->queue_irqs[0], 1); /* used idx 0 -> 1 passes used_event 0 */
	drv_set_used_event(&t->vm, 1);
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->queue_irqs[0], 2); /* used idx stepped over used_event 1 */
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->queue_irqs[0], 2); /* used_event still 1 */
	assert_int_equal(drv_avail_event(&t->vm), 3);
}

static void test_needs_reset(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* A self-looping chain. */
	drv_desc(&t->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
	drv_avail(&t->vm, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(virtio_dev_read_status(d), 15 | VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(d->reason, "queue 0: descriptor 0 visited twice"));
	assert_int_equal(t->config_irqs, 1);
	assert_int_equal(drv_used_idx(&t->vm), 0);
	assert_int_equal(t->queue_irqs[0], 0);

	/* Fixed ring or not, nothing is processed until reset. */
	drv_desc(&t->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->handled[0], 2); /* DRIVER_OK, then the first notification */
	assert_int_equal(drv_used_idx(&t->vm), 0);
	/* A driver writing back what it read does not clear NEEDS_RESET. */
	virtio_dev_write_status(d, 15 | VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(virtio_dev_read_status(d), 15 | VIRTIO_STATUS_NEEDS_RESET);
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15 | VIRTIO_STATUS_NEEDS_RESET);
	/* A device-side push of an earlier element is dropped too. */
	virtio_dev_lock(d);
	virtio_dev_queue_push(d, 0, &t->e, 1);
	virtio_dev_queue_interrupt(d, 0);
	/* Later errors do not replace the first reason or notify again. */
	virtio_dev_set_needs_reset(d, "second");
	virtio_dev_unlock(d);
	assert_int_equal(drv_used_idx(&t->vm), 0);
	assert_int_equal(t->config_irqs, 1);
	assert_null(strstr(d->reason, "second"));

	/* Reset, and the driver starts over on a fresh ring. */
	virtio_dev_write_status(d, 0);
	assert_int_equal(virtio_dev_read_status(d), 0);
	drv_set_avail_idx(&t->vm, 0);
	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(drv_used_idx(&t->vm), 1);
	assert_int_equal(t->queue_irqs[0], 1);
}

static void test_enable_refusals(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	/* Before FEATURES_OK, the ring layout is not known yet. */
	virtio_dev_write_status(d, 3);
	setup_queue(d, 0);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_ENABLE), 0);
	assert_true(virtio_dev_read_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(d->reason, "before FEATURES_OK"));
	assert_int_equal(t->config_irqs, 0); /* no DRIVER_OK yet: no notification */

	/* Rings outside guest RAM. */
	virtio_dev_write_status(d, 0);
	virtio_dev_write_status(d, 3);
	write_features(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_dev_write_status(d, 11);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DEVICE_HI, 1);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_ENABLE, 1);
	assert_int_equal(virtio_dev_read_queue(d, 1, VIRTIO_QUEUE_ENABLE), 0);
	assert_true(virtio_dev_read_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(d->reason, "queue 1: used ring at 0x100000000"));
	/* Nothing more is set up while the device needs a reset. */
	setup_queue(d, 0);
	assert_int_equal(virtio_dev_read_queue(d, 0, VIRTIO_QUEUE_ENABLE), 0);
}

static void test_reset_clears(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_SIZE, 2);
	add_request(t, 0);
	virtio_dev_notify(d, 0);
	assert_int_equal(d->queues[0].vq.last_avail_idx, 1);
	virtio_dev_write_status(d, 0);
	assert_int_equal(t->resets, 1);
	assert_int_equal(virtio_dev_read_status(d), 0);
	assert_int_equal(virtio_dev_read_driver_features(d, 0), 0);
	assert_int_equal(virtio_dev_read_driver_features(d, 1), 0);
	for (unsigned q = 0; q < NQ; q++) {
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_ENABLE), 0);
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_SIZE), QSIZE);
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_VECTOR),
				 VIRTIO_NO_VECTOR);
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_DESC_LO), 0);
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_DRIVER_LO), 0);
		assert_int_equal(virtio_dev_read_queue(d, q, VIRTIO_QUEUE_DEVICE_LO), 0);
		assert_null(d->queues[q].vq.seen);
	}
	/* Notifications after reset do nothing. */
	assert_int_equal(t->handled[0], 2);
	virtio_dev_notify(d, 0);
	assert_int_equal(t->handled[0], 2);
}

/* A reset while the device polls with notifications off turns them back on in the rings. */
static void test_reset_during_poll(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_dev_lock(d);
	virtio_dev_queue_disable_notify(d, 0);
	assert_false(virtio_dev_queue_has_avail(d, 0));
	virtio_dev_unlock(d);
	assert_int_equal(fake_get(&t->vm, FAKE_USED_GPA, 2), VIRTQ_USED_F_NO_NOTIFY);
	virtio_dev_write_status(d, 0);
	assert_int_equal(fake_get(&t->vm, FAKE_USED_GPA, 2), 0);
	/* Gone with the queue: nothing to enable, nothing pending. */
	virtio_dev_lock(d);
	assert_false(virtio_dev_queue_enable_notify(d, 0));
	virtio_dev_unlock(d);

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	add_request(t, 0);
	virtio_dev_lock(d);
	virtio_dev_queue_disable_notify(d, 0);
	assert_true(virtio_dev_queue_has_avail(d, 0));
	virtio_dev_unlock(d);
	assert_int_equal(drv_avail_event(&t->vm), 0xffff);
	virtio_dev_write_status(d, 0);
	assert_int_equal(drv_avail_event(&t->vm), 0);
}

static void test_config_space(void **state)
{
	struct tdev *t = *state;
	struct virtio_dev *d = &t->vdev;
	uint8_t buf[8], want[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	memcpy(t->config, want, 8);
	virtio_dev_read_config(d, 0, buf, 8);
	assert_memory_equal(buf, want, 8);
	virtio_dev_read_config(d, 6, buf, 2);
	assert_int_equal(buf[0], 7);
	assert_int_equal(buf[1], 8);
	/* Out of range: zeros, and no write. */
	memset(buf, 0xaa, sizeof(buf));
	virtio_dev_read_config(d, 7, buf, 2);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0);
	virtio_dev_read_config(d, 0xfffffffe, buf, 4);
	assert_int_equal(buf[3], 0);
	virtio_dev_write_config(d, 7, buf, 2);
	virtio_dev_write_config(d, 0xffffffff, buf, 2);
	assert_memory_equal(t->config, want, 8);
	virtio_dev_write_config(d, 2, "\x42", 1);
	assert_int_equal(t->config[2], 0x42);

	assert_int_equal(virtio_dev_config_generation(d), 0);
	virtio_dev_lock(d);
	virtio_dev_config_changed(d);
	virtio_dev_unlock(d);
	assert_int_equal(virtio_dev_config_generation(d), 1);
	assert_int_equal(t->config_irqs, 0); /* before DRIVER_OK nobody is told */
	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_dev_lock(d);
	virtio_dev_config_changed(d);
	virtio_dev_unlock(d);
	assert_int_equal(virtio_dev_config_generation(d), 2);
	assert_int_equal(t->config_irqs, 1);
}

/* A device with some history: queue 0 used, queue 1 configured but off. */
static void make_history(struct tdev *t)
{
	struct virtio_dev *d = &t->vdev;

	bring_up(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | 3);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_SIZE, 4);
	virtio_dev_write_queue(d, 1, VIRTIO_QUEUE_DESC_LO, 0x7000);
	for (unsigned i = 0; i < 5; i++) {
		add_request(t, (uint16_t)i);
		virtio_dev_notify(d, 0);
	}
	virtio_dev_lock(d);
	virtio_dev_config_changed(d);
	virtio_dev_unlock(d);
}

static void save(struct tdev *t, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(virtio_dev_save(&t->vdev, b), 0);
}

static void test_save_load(void **state)
{
	struct tdev *t = *state, *u = tdev_new();
	struct state_buf b;
	struct state_reader r;

	make_history(t);
	save(t, &b);
	/* Into a fresh device over the same guest memory contents. */
	memcpy(u->vm.ram, t->vm.ram, FAKE_RAM_SIZE);
	u->vm.avail_idx = t->vm.avail_idx;
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_dev_load(&u->vdev, &r), 0);
	assert_int_equal(virtio_dev_read_status(&u->vdev), 15);
	assert_int_equal(virtio_dev_features(&u->vdev), virtio_dev_features(&t->vdev));
	assert_int_equal(virtio_dev_config_generation(&u->vdev), 1);
	for (unsigned q = 0; q < NQ; q++)
		for (int reg = VIRTIO_QUEUE_SIZE; reg <= VIRTIO_QUEUE_DEVICE_HI; reg++)
			assert_int_equal(virtio_dev_read_queue(&u->vdev, q, reg),
					 virtio_dev_read_queue(&t->vdev, q, reg));
	assert_int_equal(u->vdev.queues[0].vq.last_avail_idx, 5);
	assert_int_equal(u->vdev.queues[0].vq.used_idx, 5);
	assert_true(u->vdev.queues[0].vq.event_idx);
	/* It carries on where the other left off. */
	add_request(u, 6);
	virtio_dev_notify(&u->vdev, 0);
	assert_int_equal(drv_used_idx(&u->vm), 6);
	assert_int_equal(drv_used_id(&u->vm, 5), 6);
	/* And saves the same bytes as a device with the same history. */
	add_request(t, 6);
	virtio_dev_notify(&t->vdev, 0);
	{
		struct state_buf b2, b3;

		save(t, &b2);
		save(u, &b3);
		assert_int_equal(b2.len, b3.len);
		assert_memory_equal(b2.data, b3.data, b2.len);
		state_buf_free(&b2);
		state_buf_free(&b3);
	}
	state_buf_free(&b);
	tdev_free(u);
}

/* Feature bits the driver wrote but FEATURES_OK never checked (the driver may
 * write anything until then) are saved and restored as they are. */
static void test_save_load_unchecked_features(void **state)
{
	struct tdev *t = *state, *u = tdev_new();
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(7) | VIRTIO_BIT(40);
	struct state_buf b, b2;
	struct state_reader r;

	virtio_dev_write_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(&t->vdev, f);
	assert_int_equal(virtio_dev_read_status(&t->vdev), 3);
	save(t, &b);
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_dev_load(&u->vdev, &r), 0);
	assert_int_equal(virtio_dev_features(&u->vdev), f);
	save(u, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	/* FEATURES_OK still refuses them after the restore. */
	virtio_dev_write_status(&u->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						  VIRTIO_STATUS_FEATURES_OK);
	assert_false(virtio_dev_read_status(&u->vdev) & VIRTIO_STATUS_FEATURES_OK);
	state_buf_free(&b);
	state_buf_free(&b2);
	tdev_free(u);
}

/* Field offsets in the version 1 format (core.c). */
#define OFF_VERSION  0
#define OFF_ID	     4
#define OFF_NQ	     6
#define OFF_DEVFEAT  8
#define OFF_DRVFEAT  16
#define OFF_STATUS   24
#define OFF_GEN	     25
#define OFF_Q0	     26
#define Q_SIZE	     0
#define Q_ENABLED    4
#define Q_DESC	     5
#define Q_DEVICE     21
#define Q_LAST_AVAIL 29
#define Q_USED	     31
#define Q_LEN	     35

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_load_refusals(void **state)
{
	struct tdev *t = *state, *u = tdev_new();
	struct state_buf b, mine;
	struct state_reader r;
	struct virtio_dev_loaded *s;
	static const struct {
		unsigned off, n;
		uint64_t val;
		const char *what;
	} bad[] = {
	    {OFF_VERSION, 4, 2, "version"},
	    {OFF_ID, 2, 4, "another device"},
	    {OFF_NQ, 2, 3, "queue count"},
	    {OFF_DEVFEAT, 8, VIRTIO_CORE_FEATURES, "device features"},
	    {OFF_DRVFEAT, 8, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(7), "not offered"},
	    {OFF_DRVFEAT, 8, VIRTIO_BIT(VIRTIO_F_VERSION_1) | 1, "device refuses"},
	    {OFF_DRVFEAT, 8, 3, "no VERSION_1"},
	    {OFF_STATUS, 1, 0x1f, "undefined status bit"},
	    {OFF_STATUS, 1, 0x0e, "DRIVER without ACKNOWLEDGE"},
	    {OFF_STATUS, 1, 0x07, "DRIVER_OK without FEATURES_OK, queue enabled"},
	    {OFF_Q0 + Q_SIZE, 2, 6, "size not a power of 2"},
	    {OFF_Q0 + Q_SIZE, 2, 16, "size above the maximum"},
	    {OFF_Q0 + Q_ENABLED, 1, 2, "enabled not a bool"},
	    {OFF_Q0 + Q_DESC, 8, 0x1008, "misaligned ring"},
	    {OFF_Q0 + Q_DEVICE, 8, 0x200000, "ring outside RAM"},
	    {OFF_Q0 + Q_LAST_AVAIL, 2, 14, "more in flight than the ring holds"},
	    {OFF_Q0 + Q_LEN + Q_LAST_AVAIL, 2, 1, "progress on a disabled queue"},
	};

	make_history(t);
	save(t, &b);
	assert_int_equal(b.len, OFF_Q0 + NQ * Q_LEN);
	bring_up(&u->vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	save(u, &mine);

	/* Every truncation. */
	for (size_t len = 0; len < b.len; len++) {
		state_reader_init(&r, b.data, len);
		assert_int_equal(virtio_dev_load(&u->vdev, &r), -EINVAL);
	}
	/* A trailing byte. */
	{
		uint8_t *longer = malloc(b.len + 1);

		assert_non_null(longer);
		memcpy(longer, b.data, b.len);
		longer[b.len] = 0;
		state_reader_init(&r, longer, b.len + 1);
		assert_int_equal(virtio_dev_load(&u->vdev, &r), -EINVAL);
		/* The two-step load leaves the rest to the device. */
		state_reader_init(&r, longer, b.len + 1);
		assert_int_equal(virtio_dev_load_parse(&u->vdev, &r, &s), 0);
		virtio_dev_load_discard(s);
		free(longer);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *copy = malloc(b.len);

		assert_non_null(copy);
		memcpy(copy, b.data, b.len);
		put_le(copy + bad[i].off, bad[i].val, bad[i].n);
		state_reader_init(&r, copy, b.len);
		if (virtio_dev_load(&u->vdev, &r) != -EINVAL)
			fail_msg("loaded with %s", bad[i].what);
		free(copy);
	}
	/* Nothing of it stuck: u saves exactly what it did before. */
	{
		struct state_buf again;

		save(u, &again);
		assert_int_equal(again.len, mine.len);
		assert_memory_equal(again.data, mine.data, mine.len);
		state_buf_free(&again);
	}
	state_buf_free(&b);
	state_buf_free(&mine);
	tdev_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_refuses_bad_info),
	    cmocka_unit_test_setup_teardown(test_features_offer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_and_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enable_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_clears, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_during_poll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load_unchecked_features, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
