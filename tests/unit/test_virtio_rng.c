/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio/rng.h) driven like a guest driver drives it, over a fake
 * transport: requests come back filled with random bytes and the right used
 * length, large requests are capped, a request with nothing writable puts the
 * device in NEEDS_RESET, and the state survives save/load.
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
#include "virtio/rng.h"
#include "virtio_fixtures.h"

struct fixture {
	struct fake_vm vm;
	struct virtio_rng *rng;
	struct virtio_dev *d;
	unsigned queue_irqs, config_irqs;
};

static void t_notify_queue(void *t, unsigned q, uint16_t vector)
{
	struct fixture *f = t;

	assert_int_equal(q, 0);
	assert_int_equal(vector, 1);
	f->queue_irqs++;
}

static void t_notify_config(void *t)
{
	((struct fixture *)t)->config_irqs++;
}

static const struct virtio_transport_ops t_ops = {
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
};

/* A Linux-like bring-up: status steps, all offered ring features, queue 0 at the fixture's rings.
 */
static void bring_up(struct fixture *f, uint64_t features)
{
	struct virtio_dev *d = f->d;

	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(d, 0, (uint32_t)features);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(features >> 32));
	virtio_dev_write_status(d, 11);
	assert_int_equal(virtio_dev_read_status(d), 11);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_SIZE, f->vm.size);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_DESC_LO, FAKE_DESC_GPA);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_DRIVER_LO, FAKE_AVAIL_GPA);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_DEVICE_LO, FAKE_USED_GPA);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_VECTOR, 1);
	virtio_dev_write_queue(d, 0, VIRTIO_QUEUE_ENABLE, 1);
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_vm_init(&f->vm, 16);
	f->rng = virtio_rng_create(&f->vm.m);
	assert_non_null(f->rng);
	f->d = virtio_rng_dev(f->rng);
	virtio_dev_set_transport(f->d, &t_ops, f);
	assert_int_equal(f->d->device_id, VIRTIO_ID_RNG);
	assert_int_equal(virtio_dev_read_queue(f->d, 0, VIRTIO_QUEUE_MAX_SIZE),
			 VIRTIO_RNG_QUEUE_SIZE);
	assert_int_equal(virtio_dev_read_queue(f->d, 1, VIRTIO_QUEUE_MAX_SIZE), 0);
	bring_up(f, VIRTIO_CORE_FEATURES);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_rng_destroy(f->rng);
	fake_vm_free(&f->vm);
	free(f);
	return 0;
}

/* Random-looking: not all one value, and many distinct byte values over a long run. */
static void assert_random(const uint8_t *p, size_t len)
{
	bool seen[256] = {false};
	unsigned distinct = 0;

	for (size_t i = 0; i < len; i++) {
		if (!seen[p[i]])
			distinct++;
		seen[p[i]] = true;
	}
	assert_true(distinct > (len >= 1024 ? 200u : len >= 64 ? 16u : 2u));
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_single_request(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->vm.ram + FAKE_BUF_GPA;

	drv_desc(&f->vm, FAKE_DESC_GPA, 3, FAKE_BUF_GPA, 4096, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 3);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_idx(&f->vm), 1);
	assert_int_equal(drv_used_id(&f->vm, 0), 3);
	assert_int_equal(drv_used_len(&f->vm, 0), 4096);
	assert_random(buf, 4096);
	assert_true(all_zero(buf + 4096, 64)); /* not a byte past the buffer */
	assert_int_equal(f->queue_irqs, 1);

	/* The next request gets different bytes. */
	{
		uint8_t first[64];

		memcpy(first, buf, sizeof(first));
		drv_avail(&f->vm, 3);
		virtio_dev_notify(f->d, 0);
		assert_int_equal(drv_used_len(&f->vm, 1), 4096);
		assert_memory_not_equal(first, buf, sizeof(first));
	}
}

static void test_chained_and_batched(void **state)
{
	struct fixture *f = *state;

	/* Three writable pieces in one chain, and a one-byte request after it, one notification. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 100,
		 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA + 0x1000, 100,
		 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	drv_desc(&f->vm, FAKE_DESC_GPA, 2, FAKE_BUF_GPA + 0x2000, 100, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 5, FAKE_BUF_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	drv_avail(&f->vm, 5);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_idx(&f->vm), 2);
	assert_int_equal(drv_used_id(&f->vm, 0), 0);
	assert_int_equal(drv_used_len(&f->vm, 0), 300);
	assert_int_equal(drv_used_id(&f->vm, 1), 5);
	assert_int_equal(drv_used_len(&f->vm, 1), 1);
	for (unsigned i = 0; i < 3; i++)
		assert_random(f->vm.ram + FAKE_BUF_GPA + 0x1000 * i, 100);
	assert_int_equal(f->queue_irqs, 1);
}

static void test_indirect_request(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 2000,
		 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA + 0x1000, 48, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_len(&f->vm, 0), 2048);
	assert_random(f->vm.ram + FAKE_BUF_GPA, 2000);
	assert_random(f->vm.ram + FAKE_BUF_GPA + 0x1000, 48);
}

static void test_large_request_capped(void **state)
{
	struct fixture *f = *state;
	const uint32_t piece = 48 * 1024;
	uint8_t *second = f->vm.ram + FAKE_BUF_GPA + piece;

	/* Two 48 KiB pieces: the cap fills the first and a third of the second. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, piece,
		 VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA + piece, piece, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_len(&f->vm, 0), VIRTIO_RNG_MAX_REQUEST);
	assert_random(f->vm.ram + FAKE_BUF_GPA, piece);
	assert_random(second, VIRTIO_RNG_MAX_REQUEST - piece);
	assert_true(all_zero(second + (VIRTIO_RNG_MAX_REQUEST - piece),
			     2 * piece - VIRTIO_RNG_MAX_REQUEST));
}

static void test_readable_parts_ignored(void **state)
{
	struct fixture *f = *state;

	/* 5.4.6.1 forbids them, but they do no harm: only the writable part is used. */
	memset(f->vm.ram + FAKE_BUF_GPA, 0x5a, 16);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_len(&f->vm, 0), 64);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(f->vm.ram[FAKE_BUF_GPA + i], 0x5a);
	assert_int_equal(virtio_dev_read_status(f->d), 15);
}

static void test_read_only_request(void **state)
{
	struct fixture *f = *state;

	/* First a good request, then one with nothing writable, then another good one. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA + 0x100, 16, 0, 0);
	drv_avail(&f->vm, 0);
	drv_avail(&f->vm, 1);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(virtio_dev_read_status(f->d), 15 | VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(f->d->reason, "request 1 has no device-writable buffer"));
	assert_int_equal(f->config_irqs, 1);
	/* The good request before it completed; nothing after it did. */
	assert_int_equal(drv_used_idx(&f->vm), 1);
	assert_int_equal(f->queue_irqs, 1);
	assert_true(all_zero(f->vm.ram + FAKE_BUF_GPA + 0x100, 16));
	virtio_dev_notify(f->d, 0);
	assert_int_equal(drv_used_idx(&f->vm), 1);

	/* Only writable descriptors of length 0 are nothing writable too. */
	virtio_dev_write_status(f->d, 0);
	memset(f->vm.ram, 0, FAKE_RAM_SIZE);
	f->vm.avail_idx = 0;
	bring_up(f, VIRTIO_CORE_FEATURES);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 0, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(drv_used_idx(&f->vm), 0);
}

static void test_broken_ring(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0x7fff0000, 16, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(
	    strstr(f->d->reason, "queue 0: descriptor 0: 0x7fff0000+0x10 is not guest RAM"));
	assert_int_equal(drv_used_idx(&f->vm), 0);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_rng *other = virtio_rng_create(&f->vm.m);
	struct state_buf b;
	struct state_reader r;

	assert_non_null(other);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 32, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(f->d, 0);
	state_buf_init(&b);
	assert_int_equal(virtio_rng_save(f->rng, &b), 0);
	/* The other device takes over the same guest. */
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_rng_load(other, &r), 0);
	virtio_dev_set_transport(virtio_rng_dev(other), &t_ops, f);
	assert_int_equal(virtio_dev_read_status(virtio_rng_dev(other)), 15);
	drv_avail(&f->vm, 0);
	virtio_dev_notify(virtio_rng_dev(other), 0);
	assert_int_equal(drv_used_idx(&f->vm), 2);
	assert_int_equal(drv_used_len(&f->vm, 1), 32);
	/* Truncated state and trailing bytes are refused. */
	state_reader_init(&r, b.data, b.len - 1);
	assert_int_equal(virtio_rng_load(other, &r), -EINVAL);
	state_put_u8(&b, 0);
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_rng_load(other, &r), -EINVAL);
	state_buf_free(&b);
	virtio_rng_destroy(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_single_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chained_and_batched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_request_capped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readable_parts_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
