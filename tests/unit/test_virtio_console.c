/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio/console.h) driven like a guest driver drives it,
 * over a fake transport and fake guest RAM: transmit chains of one or many
 * buffers reach the output in order, a chain larger than the output buffer
 * streams through it, receive buffers fill across chains, backpressure when
 * the guest has posted none (and the event that ends it), the size in the
 * configuration space, reset, the NEEDS_RESET cases, and save/load with
 * chains held in both queues.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/buf.h"
#include "util/log.h"
#include "virtio/console.h"
#include "virtio_fixtures.h"

#define QSIZE 16u
#define F_ALL (VIRTIO_CORE_FEATURES | VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE))

/* The driver's side of one queue; the fixture header's helpers know only one ring. */
struct ring {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
};

struct fixture {
	struct fake_vm vm;
	struct virtio_console *c;
	struct virtio_dev *d;
	uint16_t qsize; /* of both queues */
	struct ring q[2];
	unsigned irqs[2], config_irqs;
};

static void t_notify_queue(void *t, unsigned q, uint16_t vector)
{
	struct fixture *f = t;

	assert_true(q < 2);
	assert_int_equal(vector, q + 1);
	f->irqs[q]++;
}

static void t_notify_config(void *t)
{
	((struct fixture *)t)->config_irqs++;
}

static const struct virtio_transport_ops t_ops = {
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
};

static void desc(struct fixture *f, unsigned q, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	drv_desc(&f->vm, f->q[q].desc, i, addr, len, flags, next);
}

static void avail(struct fixture *f, unsigned q, uint16_t head)
{
	struct ring *r = &f->q[q];

	fake_put(&f->vm, r->avail + 4 + 2 * (uint64_t)(r->avail_idx % f->qsize), head, 2);
	r->avail_idx++;
	fake_put(&f->vm, r->avail + 2, r->avail_idx, 2);
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	return (uint16_t)fake_get(&f->vm, f->q[q].used + 2, 2);
}

/* The next used element of queue q (which must be there): its id, and *len. */
static uint32_t next_used(struct fixture *f, unsigned q, uint32_t *len)
{
	struct ring *r = &f->q[q];
	uint64_t at = r->used + 4 + 8 * (uint64_t)(r->used_seen++ % f->qsize);

	assert_true((uint16_t)(used_idx(f, q) - r->used_seen) < 0x8000);
	*len = (uint32_t)fake_get(&f->vm, at + 4, 4);
	return (uint32_t)fake_get(&f->vm, at, 4);
}

static void bring_up(struct fixture *f, uint64_t features)
{
	struct virtio_dev *d = f->d;

	virtio_dev_write_status(d, 0);
	memset(f->vm.ram, 0, 0x10000); /* rings */
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(d, 0, (uint32_t)features);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(features >> 32));
	virtio_dev_write_status(d, 11);
	assert_int_equal(virtio_dev_read_status(d), 11);
	for (unsigned q = 0; q < 2; q++) {
		struct ring *r = &f->q[q];

		r->desc = 0x1000 + 0x4000 * (uint64_t)q;
		r->avail = r->desc + 0x1000;
		r->used = r->desc + 0x2000;
		r->avail_idx = r->used_seen = 0;
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_SIZE, f->qsize);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_LO, (uint32_t)r->desc);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DRIVER_LO, (uint32_t)r->avail);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DEVICE_LO, (uint32_t)r->used);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_VECTOR, q + 1);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_ENABLE, 1);
	}
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15);
}

static bool event_ready(struct fixture *f)
{
	struct pollfd p = {.fd = virtio_console_event_fd(f->c), .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* Clears the event, as the host does before it looks. */
static void event_clear(struct fixture *f)
{
	uint64_t v;

	while (read(virtio_console_event_fd(f->c), &v, sizeof(v)) == sizeof(v))
		;
}

/* Everything the device has buffered, written out by the "host" into buf (up to max). */
static size_t drain(struct virtio_console *c, uint8_t *buf, size_t max)
{
	size_t got = 0, n;
	const uint8_t *p;

	while ((n = virtio_console_output_peek(c, &p)) > 0) {
		assert_true(got + n <= max);
		memcpy(buf + got, p, n);
		got += n;
		virtio_console_output_done(c, n);
	}
	return got;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(LOG_ERROR);
	fake_vm_init(&f->vm, QSIZE);
	f->qsize = QSIZE;
	f->c = virtio_console_create(&f->vm.m, 132, 43);
	assert_non_null(f->c);
	f->d = virtio_console_dev(f->c);
	virtio_dev_set_transport(f->d, &t_ops, f);
	bring_up(f, F_ALL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_console_destroy(f->c);
	fake_vm_free(&f->vm);
	free(f);
	return 0;
}

static void test_device_and_config(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0xffffffff;
	uint8_t gen;

	assert_int_equal(f->d->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(f->d->num_queues, 2);
	assert_int_equal(virtio_dev_read_queue(f->d, 0, VIRTIO_QUEUE_MAX_SIZE),
			 VIRTIO_CONSOLE_QUEUE_SIZE);
	assert_int_equal(virtio_dev_read_device_features(f->d, 0),
			 (uint32_t)(VIRTIO_CORE_FEATURES | VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE)));
	assert_false(
	    virtio_dev_read_device_features(f->d, 0) &
	    (VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT) | VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE)));
	virtio_dev_read_config(f->d, 0, &v, 4);
	assert_int_equal(v, 132 | 43u << 16);
	virtio_dev_read_config(f->d, VIRTIO_CONSOLE_CFG_ROWS, &v, 2);
	assert_int_equal(v & 0xffff, 43);
	/* max_nr_ports and emerg_wr read 0; nothing is writable; past the end is 0 too. */
	virtio_dev_read_config(f->d, 4, &v, 4);
	assert_int_equal(v, 0);
	virtio_dev_read_config(f->d, 8, &v, 4);
	assert_int_equal(v, 0);
	v = 0x41;
	virtio_dev_write_config(f->d, 8, &v, 4);
	virtio_dev_write_config(f->d, 0, &v, 2);
	virtio_dev_read_config(f->d, 0, &v, 4);
	assert_int_equal(v, 132 | 43u << 16);

	/* A resize is a configuration change; the same size again is not. */
	gen = virtio_dev_config_generation(f->d);
	virtio_console_set_size(f->c, 80, 25);
	assert_int_equal(f->config_irqs, 1);
	assert_int_equal(virtio_dev_config_generation(f->d), (uint8_t)(gen + 1));
	virtio_dev_read_config(f->d, 0, &v, 4);
	assert_int_equal(v, 80 | 25u << 16);
	virtio_console_set_size(f->c, 80, 25);
	assert_int_equal(f->config_irqs, 1);
}

static void test_tx_chains_in_order(void **state)
{
	struct fixture *f = *state;
	uint8_t out[256];
	uint32_t len;

	memcpy(f->vm.ram + 0x20000, "hello\n", 6);
	memcpy(f->vm.ram + 0x21000, "a", 1);
	memcpy(f->vm.ram + 0x22000, "bc", 2);
	memcpy(f->vm.ram + 0x23000, "def\n", 4);
	memcpy(f->vm.ram + 0x24000, "xyz", 3);
	/* One buffer; three (one of them zero-length); an indirect table of two. */
	desc(f, 1, 0, 0x20000, 6, 0, 0);
	desc(f, 1, 1, 0x21000, 1, VIRTQ_DESC_F_NEXT, 2);
	desc(f, 1, 2, 0x25000, 0, VIRTQ_DESC_F_NEXT, 3);
	desc(f, 1, 3, 0x22000, 2, VIRTQ_DESC_F_NEXT, 4);
	desc(f, 1, 4, 0x23000, 4, 0, 0);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, 0x24000, 2, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, 0x24002, 1, 0, 0);
	desc(f, 1, 5, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail(f, 1, 0);
	avail(f, 1, 1);
	avail(f, 1, 5);
	assert_false(event_ready(f));
	virtio_dev_notify(f->d, 1);
	assert_int_equal(used_idx(f, 1), 3);
	assert_int_equal(next_used(f, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(next_used(f, 1, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(next_used(f, 1, &len), 5);
	assert_int_equal(f->irqs[1], 1);
	assert_int_equal(f->irqs[0], 0);
	/* The host is told there is output, and gets it byte-exact. */
	assert_true(event_ready(f));
	event_clear(f);
	assert_int_equal(drain(f->c, out, sizeof(out)), 16);
	assert_memory_equal(out, "hello\nabcdef\nxyz", 16);

	/* A later notification appends after what the host already took. */
	desc(f, 1, 6, 0x20000, 5, 0, 0);
	avail(f, 1, 6);
	virtio_dev_notify(f->d, 1);
	assert_true(event_ready(f));
	assert_int_equal(drain(f->c, out, sizeof(out)), 5);
	assert_memory_equal(out, "hello", 5);
	/* Nothing new: no event, nothing to take. */
	event_clear(f);
	virtio_dev_notify(f->d, 1);
	assert_false(event_ready(f));
	assert_int_equal(used_idx(f, 1), 4);
}

static void test_tx_partial_take(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;
	size_t n;

	memcpy(f->vm.ram + 0x20000, "0123456789", 10);
	desc(f, 1, 0, 0x20000, 10, 0, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	/* The host writes 3, then the rest: the same bytes stay in place in between. */
	n = virtio_console_output_peek(f->c, &p);
	assert_int_equal(n, 10);
	virtio_console_output_done(f->c, 3);
	n = virtio_console_output_peek(f->c, &p);
	assert_int_equal(n, 7);
	assert_memory_equal(p, "3456789", 7);
	virtio_console_output_done(f->c, 100); /* more than there is: only what there is */
	assert_int_equal(virtio_console_output_peek(f->c, &p), 0);
}

static void test_tx_writable_parts_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t out[16];
	uint32_t len;

	/* 5.3.6.1 forbids them in a transmitq; the readable part is still output. */
	memcpy(f->vm.ram + 0x20000, "ok", 2);
	memset(f->vm.ram + 0x21000, 0x5a, 8);
	desc(f, 1, 0, 0x20000, 2, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, 1, 0x21000, 8, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 1, 2, 0x21000, 8, VIRTQ_DESC_F_WRITE, 0); /* nothing readable at all */
	avail(f, 1, 0);
	avail(f, 1, 2);
	virtio_dev_notify(f->d, 1);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(next_used(f, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(next_used(f, 1, &len), 2);
	assert_int_equal(len, 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(f->vm.ram[0x21000 + i], 0x5a);
	assert_int_equal(drain(f->c, out, sizeof(out)), 2);
	assert_memory_equal(out, "ok", 2);
	assert_int_equal(virtio_dev_read_status(f->d), 15);
}

/* Bytes of pattern k at offset i: tells every byte of a long stream apart from its neighbours. */
static uint8_t pat(unsigned k, size_t i)
{
	return (uint8_t)(i * 7 + i / 251 + k * 101);
}

static void test_tx_huge_chain_streams(void **state)
{
	struct fixture *f = *state;
	const uint32_t piece = 48 * 1024, total = 4 * piece; /* 192 KiB, 3x the buffer */
	uint8_t *got = malloc(total + 16);
	const uint8_t *p;
	size_t have = 0, n;
	uint32_t len;
	unsigned passes = 0;

	assert_non_null(got);
	for (unsigned i = 0; i < 4; i++) {
		for (uint32_t j = 0; j < piece; j++)
			f->vm.ram[0x20000 + i * piece + j] = pat(0, i * piece + j);
		desc(f, 1, i, 0x20000 + i * piece, piece, i < 3 ? VIRTQ_DESC_F_NEXT : 0,
		     (uint16_t)(i + 1));
	}
	memcpy(f->vm.ram + 0xf0000, "tail", 4);
	desc(f, 1, 4, 0xf0000, 4, 0, 0);
	avail(f, 1, 0);
	avail(f, 1, 4);
	virtio_dev_notify(f->d, 1);
	/* One notification takes one buffer's worth; the chain is held, not used. */
	assert_int_equal(used_idx(f, 1), 0);
	assert_int_equal(virtio_console_output_peek(f->c, &p), VIRTIO_CONSOLE_OUT_SIZE);
	/* A second notification takes nothing more while the buffer is full. */
	virtio_dev_notify(f->d, 1);
	assert_int_equal(used_idx(f, 1), 0);
	/* The host takes a little at a time, out of step with the buffer's size. */
	while ((n = virtio_console_output_peek(f->c, &p)) > 0) {
		if (n > 10000)
			n = 10000;
		assert_true(have + n <= total + 4);
		memcpy(got + have, p, n);
		have += n;
		virtio_console_output_done(f->c, n);
		passes++;
	}
	assert_int_equal(have, total + 4);
	for (size_t i = 0; i < total; i++)
		if (got[i] != pat(0, i))
			fail_msg("byte %zu is 0x%x, not 0x%x", i, got[i], pat(0, i));
	assert_memory_equal(got + total, "tail", 4);
	assert_true(passes >= total / 10000);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(next_used(f, 1, &len), 0);
	assert_int_equal(next_used(f, 1, &len), 4);
	free(got);
}

static void test_tx_batch_limit(void **state)
{
	struct fixture *f = *state;
	const unsigned total = 2 * VIRTIO_CONSOLE_TX_BATCH;
	uint8_t out[2 * VIRTIO_CONSOLE_TX_BATCH];
	unsigned passes = 0;
	size_t have = 0;

	/* A ring with more chains available at once than one pass uses. */
	_Static_assert(2 * VIRTIO_CONSOLE_TX_BATCH <= VIRTIO_CONSOLE_QUEUE_SIZE, "ring size");
	f->qsize = (uint16_t)total;
	bring_up(f, F_ALL);
	for (unsigned i = 0; i < total; i++) {
		f->vm.ram[0x30000 + i] = (uint8_t)('A' + i % 26);
		desc(f, 1, i, 0x30000 + i, 1, 0, 0);
		avail(f, 1, (uint16_t)i);
	}
	virtio_dev_notify(f->d, 1);
	/* One pass uses a batch, then wakes the host, whose next peek does the rest. */
	assert_int_equal(used_idx(f, 1), VIRTIO_CONSOLE_TX_BATCH);
	assert_true(event_ready(f));
	while (have < total && passes++ < 10) {
		const uint8_t *p;
		size_t n = virtio_console_output_peek(f->c, &p);

		memcpy(out + have, p, n);
		have += n;
		virtio_console_output_done(f->c, n);
	}
	assert_int_equal(have, total);
	assert_int_equal(passes, 1);
	assert_int_equal(used_idx(f, 1), total);
	for (unsigned i = 0; i < total; i++)
		assert_int_equal(out[i], 'A' + i % 26);
}

static void test_rx_fills_across_chains(void **state)
{
	struct fixture *f = *state;
	const char *in = "0123456789abcdefXYZ";
	uint8_t *ram = f->vm.ram;
	uint32_t len;

	desc(f, 0, 0, 0x40000, 8, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 0, 1, 0x41000, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(f, 0, 2, 0x42000, 4, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 0, 3, 0x43000, 16, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	avail(f, 0, 1);
	avail(f, 0, 3);
	virtio_dev_notify(f->d, 0);
	assert_int_equal(used_idx(f, 0), 0); /* posting buffers uses none */
	assert_int_equal(virtio_console_rx_space(f->c), 8);
	assert_int_equal(virtio_console_rx_space(f->c), 8); /* asking again holds the same one */
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)in, 19), 19);
	assert_int_equal(used_idx(f, 0), 3);
	assert_int_equal(next_used(f, 0, &len), 0);
	assert_int_equal(len, 8);
	assert_int_equal(next_used(f, 0, &len), 1);
	assert_int_equal(len, 8);
	assert_int_equal(next_used(f, 0, &len), 3);
	assert_int_equal(len, 3);
	assert_memory_equal(ram + 0x40000, "01234567", 8);
	assert_memory_equal(ram + 0x41000, "89ab", 4);
	assert_memory_equal(ram + 0x42000, "cdef", 4);
	assert_memory_equal(ram + 0x43000, "XYZ\0", 4);
	assert_int_equal(f->irqs[0], 1); /* one interrupt for the whole input */
	assert_int_equal(f->irqs[1], 0);
	assert_int_equal(virtio_console_rx_space(f->c), 0);
}

static void test_rx_backpressure(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	/* No buffers posted: nothing is taken, and the host is told when there are some. */
	assert_int_equal(virtio_console_rx_space(f->c), 0);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"abc", 3), 0);
	assert_false(event_ready(f));
	desc(f, 0, 0, 0x40000, 2, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	virtio_dev_notify(f->d, 0);
	assert_true(event_ready(f));
	event_clear(f);
	/* Input larger than the buffers: the rest stays with the caller. */
	assert_int_equal(virtio_console_rx_space(f->c), 2);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"abc", 3), 2);
	assert_int_equal(next_used(f, 0, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(f->vm.ram + 0x40000, "ab", 2);
	assert_false(event_ready(f));
	desc(f, 0, 1, 0x41000, 8, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 1);
	virtio_dev_notify(f->d, 0);
	assert_true(event_ready(f));
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"c", 1), 1);
	assert_int_equal(next_used(f, 0, &len), 1);
	assert_int_equal(len, 1);
	assert_int_equal(f->vm.ram[0x41000], 'c');
	/* Notifications while the host is not waiting do not wake it. */
	event_clear(f);
	desc(f, 0, 2, 0x42000, 8, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 2);
	virtio_dev_notify(f->d, 0);
	assert_false(event_ready(f));
}

static void test_rx_before_driver_ok(void **state)
{
	struct fixture *f = *state;

	virtio_dev_write_status(f->d, 0);
	assert_int_equal(virtio_console_rx_space(f->c), 0);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"x", 1), 0);
	/* The driver comes up with buffers posted: DRIVER_OK wakes the waiting host. */
	event_clear(f);
	virtio_dev_write_status(f->d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(f->d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(f->d, 1, 1);
	virtio_dev_write_status(f->d, 11);
	for (unsigned q = 0; q < 2; q++) {
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_SIZE, QSIZE);
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_DESC_LO, (uint32_t)f->q[q].desc);
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_DRIVER_LO, (uint32_t)f->q[q].avail);
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_DEVICE_LO, (uint32_t)f->q[q].used);
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_VECTOR, q + 1);
		virtio_dev_write_queue(f->d, q, VIRTIO_QUEUE_ENABLE, 1);
	}
	memset(f->vm.ram, 0, 0x10000);
	f->q[0].avail_idx = f->q[1].avail_idx = 0;
	desc(f, 0, 0, 0x40000, 4, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	assert_false(event_ready(f));
	virtio_dev_write_status(f->d, 15);
	assert_true(event_ready(f));
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"x", 1), 1);
	assert_int_equal(f->vm.ram[0x40000], 'x');
}

static void test_needs_reset_cases(void **state)
{
	struct fixture *f = *state;
	uint8_t out[16];

	/* A receive chain with nothing writable (readable parts alone are ignored). */
	desc(f, 0, 0, 0x40000, 4, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 0, 1, 0x41000, 4, VIRTQ_DESC_F_WRITE, 0);
	desc(f, 0, 2, 0x42000, 4, 0, 0);
	avail(f, 0, 0);
	avail(f, 0, 2);
	memset(f->vm.ram + 0x40000, 0x5a, 4);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"12345", 5), 4);
	assert_memory_equal(f->vm.ram + 0x41000, "1234", 4);
	assert_int_equal(f->vm.ram[0x40000], 0x5a);
	assert_int_equal(virtio_dev_read_status(f->d), 15 | VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(f->d->reason, "receiveq buffer 2 has no device-writable byte"));
	assert_int_equal(f->config_irqs, 1);
	assert_int_equal(virtio_console_rx_space(f->c), 0);

	/* A transmit chain that loops: the core's NEEDS_RESET, nothing output. */
	bring_up(f, F_ALL);
	memcpy(f->vm.ram + 0x20000, "loop", 4);
	desc(f, 1, 0, 0x20000, 4, VIRTQ_DESC_F_NEXT, 1);
	desc(f, 1, 1, 0x20000, 4, VIRTQ_DESC_F_NEXT, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(f->d->reason, "queue 1: "));
	assert_int_equal(drain(f->c, out, sizeof(out)), 0);
	assert_int_equal(used_idx(f, 1), 0);

	/* A transmit buffer outside RAM, after a good chain: that one is still output. */
	bring_up(f, F_ALL);
	memcpy(f->vm.ram + 0x20000, "good", 4);
	desc(f, 1, 0, 0x20000, 4, 0, 0);
	desc(f, 1, 1, 0x7fff0000, 4, 0, 0);
	avail(f, 1, 0);
	avail(f, 1, 1);
	virtio_dev_notify(f->d, 1);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(f->d->reason, "is not guest RAM"));
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(drain(f->c, out, sizeof(out)), 4);
	assert_memory_equal(out, "good", 4);
}

static void test_reset_drops_held_chains(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;
	uint8_t *big = f->vm.ram + 0x20000;
	uint32_t len;

	/* A transmit chain bigger than the buffer is held; a receive chain too. */
	memset(big, 'z', 0x20000);
	desc(f, 1, 0, 0x20000, 0x20000, 0, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	desc(f, 0, 0, 0x40000, 4, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	assert_int_equal(virtio_console_rx_space(f->c), 4);
	/* The driver resets: what was buffered is still the host's; the held chains are gone. */
	virtio_dev_write_status(f->d, 0);
	assert_int_equal(virtio_console_rx_space(f->c), 0);
	assert_int_equal(virtio_console_output_peek(f->c, &p), VIRTIO_CONSOLE_OUT_SIZE);
	virtio_console_output_done(f->c, VIRTIO_CONSOLE_OUT_SIZE);
	assert_int_equal(virtio_console_output_peek(f->c, &p), 0);
	/* Fresh rings after the reset work from their first entry. */
	bring_up(f, F_ALL);
	memcpy(f->vm.ram + 0x50000, "new", 3);
	desc(f, 1, 0, 0x50000, 3, 0, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	assert_int_equal(virtio_console_output_peek(f->c, &p), 3);
	assert_memory_equal(p, "new", 3);
	assert_int_equal(next_used(f, 1, &len), 0);
	desc(f, 0, 0, 0x40000, 4, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"in", 2), 2);
	assert_int_equal(next_used(f, 0, &len), 0);
	assert_int_equal(len, 2);
}

static void test_needs_reset_stops_held_chain(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	/* A transmit chain larger than the buffer is held when a bad receive chain breaks the
	 * device: what was buffered still goes out, but nothing more of the chain. */
	memset(f->vm.ram + 0x20000, 'h', 0x20000);
	desc(f, 1, 0, 0x20000, 0x20000, 0, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	desc(f, 0, 0, 0x40000, 4, 0, 0);
	avail(f, 0, 0);
	assert_int_equal(virtio_console_rx_space(f->c), 0);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(virtio_console_output_peek(f->c, &p), VIRTIO_CONSOLE_OUT_SIZE);
	virtio_console_output_done(f->c, VIRTIO_CONSOLE_OUT_SIZE);
	assert_int_equal(virtio_console_output_peek(f->c, &p), 0);
	assert_int_equal(used_idx(f, 1), 0);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	const uint32_t total = 0x18000; /* 96 KiB: more than the output buffer */
	struct virtio_console *other = virtio_console_create(&f->vm.m, 1, 1);
	struct state_buf b;
	struct state_reader r;
	uint8_t *got = malloc(total), *ram_copy = malloc(FAKE_RAM_SIZE);
	const uint8_t *p;
	size_t n, have;
	uint32_t len;

	assert_non_null(other);
	assert_non_null(got);
	assert_non_null(ram_copy);
	for (uint32_t i = 0; i < total; i++)
		f->vm.ram[0x20000 + i] = pat(1, i);
	desc(f, 1, 0, 0x20000, total, 0, 0);
	avail(f, 1, 0);
	virtio_dev_notify(f->d, 1);
	/* The host has written 100 bytes; the rest of the buffer and the chain are pending. */
	n = virtio_console_output_peek(f->c, &p);
	assert_int_equal(n, VIRTIO_CONSOLE_OUT_SIZE);
	memcpy(got, p, 100);
	virtio_console_output_done(f->c, 100);
	desc(f, 0, 0, 0x40000, 8, VIRTQ_DESC_F_WRITE, 0);
	avail(f, 0, 0);
	assert_int_equal(virtio_console_rx_space(f->c), 8);

	state_buf_init(&b);
	assert_int_equal(virtio_console_save(f->c, &b), 0);
	memcpy(ram_copy, f->vm.ram, FAKE_RAM_SIZE);
	/* Bad versions, truncation and trailing bytes are refused and change nothing. */
	{
		struct state_buf bad;

		state_buf_init(&bad);
		state_put_bytes(&bad, b.data, b.len);
		bad.data[b.len - (VIRTIO_CONSOLE_OUT_SIZE - 100) - 12] ^= 0x40; /* our version */
		state_reader_init(&r, bad.data, bad.len);
		assert_int_equal(virtio_console_load(other, &r), -EINVAL);
		state_buf_free(&bad);
	}
	state_reader_init(&r, b.data, b.len - 1);
	assert_int_equal(virtio_console_load(other, &r), -EINVAL);
	state_put_u8(&b, 0);
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_console_load(other, &r), -EINVAL);
	assert_int_equal(virtio_dev_read_status(virtio_console_dev(other)), 0);
	assert_int_equal(virtio_console_output_peek(other, &p), 0);
	state_reader_init(&r, b.data, b.len - 1);
	assert_int_equal(virtio_console_load(other, &r), 0);
	state_buf_free(&b);
	virtio_dev_set_transport(virtio_console_dev(other), &t_ops, f);
	assert_int_equal(virtio_dev_read_status(virtio_console_dev(other)), 15);

	/* The restored device goes on exactly where the saved one was. */
	have = 100;
	while ((n = virtio_console_output_peek(other, &p)) > 0) {
		assert_true(have + n <= total);
		memcpy(got + have, p, n);
		have += n;
		virtio_console_output_done(other, n);
	}
	assert_int_equal(have, total);
	for (uint32_t i = 0; i < total; i++)
		if (got[i] != pat(1, i))
			fail_msg("restored: byte %u is 0x%x, not 0x%x", i, got[i], pat(1, i));
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(next_used(f, 1, &len), 0);
	assert_int_equal(virtio_console_rx_space(other), 8);
	assert_int_equal(virtio_console_input(other, (const uint8_t *)"restored", 8), 8);
	assert_memory_equal(f->vm.ram + 0x40000, "restored", 8);

	/* And so does the saved one, on its copy of the guest. */
	memcpy(f->vm.ram, ram_copy, FAKE_RAM_SIZE);
	f->q[1].used_seen = 0;
	have = 100;
	while ((n = virtio_console_output_peek(f->c, &p)) > 0) {
		assert_true(have + n <= total);
		memcpy(got + have, p, n);
		have += n;
		virtio_console_output_done(f->c, n);
	}
	assert_int_equal(have, total);
	for (uint32_t i = 0; i < total; i++)
		assert_int_equal(got[i], pat(1, i));
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"original", 8), 8);
	assert_memory_equal(f->vm.ram + 0x40000, "original", 8);
	virtio_console_destroy(other);
	free(got);
	free(ram_copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_device_and_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_chains_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_partial_take, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_writable_parts_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_huge_chain_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_batch_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_fills_across_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_before_driver_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_needs_reset_cases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_drops_held_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_needs_reset_stops_held_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
