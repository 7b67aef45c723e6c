/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue (virtio/queue.h): rings built in a fake guest the way a
 * driver builds them; pop and push of direct, chained and indirect chains; the
 * used ring; notification decisions with and without event index, across the
 * 16-bit wrap; suppression while the device polls; and every refusal of a malformed ring, with its
 * reason.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/queue.h"
#include "virtio_fixtures.h"

struct fixture {
	struct fake_vm vm;
	struct virtq q;
	struct virtq_elem e;
};

static int setup_size(void **state, uint16_t size, bool event_idx, bool indirect)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_vm_init(&f->vm, size);
	assert_int_equal(virtq_init(&f->q, &f->vm.m, size, FAKE_DESC_GPA, FAKE_AVAIL_GPA,
				    FAKE_USED_GPA, event_idx, indirect),
			 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_size(state, 8, false, true);
}

static int setup_event(void **state)
{
	return setup_size(state, 8, true, true);
}

static int setup_noindirect(void **state)
{
	return setup_size(state, 8, false, false);
}

static int setup_big(void **state)
{
	return setup_size(state, 2048, false, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtq_destroy(&f->q);
	fake_vm_free(&f->vm);
	free(f);
	return 0;
}

/* The pop must fail with err and a reason containing why, and not advance. */
static void expect_refusal(struct fixture *f, int err, const char *why)
{
	uint16_t before = f->q.last_avail_idx;
	int rc = virtq_pop(&f->q, &f->e);

	if (rc != err || !strstr(virtq_reason(&f->q), why))
		fail_msg("pop returned %d (%s), wanted %d with \"%s\"", rc, virtq_reason(&f->q),
			 err, why);
	assert_int_equal(f->q.last_avail_idx, before);
}

static void test_init_checks(void **state)
{
	struct fake_vm vm;
	struct virtq q;
	(void)state;

	fake_vm_init(&vm, 8);
	assert_int_equal(virtq_init(&q, &vm.m, 0, 0x1000, 0x2000, 0x3000, false, false), -EINVAL);
	assert_non_null(strstr(virtq_reason(&q), "power of 2"));
	assert_int_equal(virtq_init(&q, &vm.m, 24, 0x1000, 0x2000, 0x3000, false, false), -EINVAL);
	/* Alignment: descriptors 16, available 2, used 4. */
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1008, 0x2000, 0x3000, false, false), -EINVAL);
	assert_non_null(strstr(virtq_reason(&q), "misaligned"));
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, 0x2001, 0x3000, false, false), -EINVAL);
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, 0x2000, 0x3002, false, false), -EINVAL);
	/* Each part entirely inside one region: exactly at the end is fine, one more is not. */
	assert_int_equal(
	    virtq_init(&q, &vm.m, 8, FAKE_RAM_SIZE - 128, 0x2000, 0x3000, false, false), 0);
	virtq_destroy(&q);
	assert_int_equal(
	    virtq_init(&q, &vm.m, 8, FAKE_RAM_SIZE - 112, 0x2000, 0x3000, false, false), -EFAULT);
	assert_non_null(strstr(virtq_reason(&q), "descriptor ring"));
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, FAKE_RAM_SIZE - 22, 0x3000, false, false),
			 0);
	virtq_destroy(&q);
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, FAKE_RAM_SIZE - 20, 0x3000, false, false),
			 -EFAULT);
	assert_non_null(strstr(virtq_reason(&q), "available ring"));
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, 0x2000, FAKE_RAM_SIZE - 68, false, false),
			 -EFAULT);
	assert_non_null(strstr(virtq_reason(&q), "used ring"));
	assert_int_equal(virtq_init(&q, &vm.m, 8, 0x1000, 0x2000, 0x4000000, false, false),
			 -EFAULT);
	assert_int_equal(
	    virtq_init(&q, &vm.m, 8, 0xfffffffffffffff0ULL, 0x2000, 0x3000, false, false), -EFAULT);
	/* The largest queue: 512 KiB of descriptors. */
	assert_int_equal(virtq_init(&q, &vm.m, 32768, 0x80000, 0x1000, 0x30000, true, true), 0);
	virtq_destroy(&q);
	/* A queue that was never set up refuses to pop. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(virtq_pop(&q, &(struct virtq_elem){0}), -EINVAL);
	fake_vm_free(&vm);
}

static void test_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
}

static void test_direct_single(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 3, FAKE_BUF_GPA, 64, 0, 0);
	drv_avail(&f->vm, 3);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.head, 3);
	assert_int_equal(f->e.out_num, 1);
	assert_int_equal(f->e.in_num, 0);
	assert_int_equal(f->e.out_len, 64);
	assert_ptr_equal(f->e.iov[0].iov_base, f->vm.ram + FAKE_BUF_GPA);
	assert_int_equal(f->e.iov[0].iov_len, 64);
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);

	virtq_push(&f->q, &f->e, 0);
	assert_int_equal(drv_used_idx(&f->vm), 1);
	assert_int_equal(drv_used_id(&f->vm, 0), 3);
	assert_int_equal(drv_used_len(&f->vm, 0), 0);
}

static void test_chain_mixed(void **state)
{
	struct fixture *f = *state;

	/* 5 -> 1 -> 7 -> 2: two readable, two writable, in table order that is not sequential. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 5, FAKE_BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA + 0x100, 32, VIRTQ_DESC_F_NEXT, 7);
	drv_desc(&f->vm, FAKE_DESC_GPA, 7, FAKE_BUF_GPA + 0x200, 512,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	drv_desc(&f->vm, FAKE_DESC_GPA, 2, FAKE_BUF_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 6);
	drv_avail(&f->vm, 5);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.head, 5);
	assert_int_equal(f->e.out_num, 2);
	assert_int_equal(f->e.in_num, 2);
	assert_int_equal(f->e.out_len, 48);
	assert_int_equal(f->e.in_len, 513);
	assert_ptr_equal(f->e.iov[1].iov_base, f->vm.ram + FAKE_BUF_GPA + 0x100);
	assert_ptr_equal(f->e.iov[2].iov_base, f->vm.ram + FAKE_BUF_GPA + 0x200);
	assert_int_equal(f->e.iov[3].iov_len, 1);

	virtq_push(&f->q, &f->e, 100);
	assert_int_equal(drv_used_id(&f->vm, 0), 5);
	assert_int_equal(drv_used_len(&f->vm, 0), 100);
	/* A device that claims more than was offered is clamped. */
	drv_avail(&f->vm, 5);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	virtq_push(&f->q, &f->e, 1u << 30);
	assert_int_equal(drv_used_len(&f->vm, 1), 513);
	assert_int_equal(drv_used_idx(&f->vm), 2);
}

static void test_zero_length_skipped(void **state)
{
	struct fixture *f = *state;

	/* A zero-length descriptor's address is never looked at. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0xdead00000000ULL, 0, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, 0);
	assert_int_equal(f->e.in_num, 1);
	assert_int_equal(f->e.in_len, 8);
}

static void test_full_length_chain(void **state)
{
	struct fixture *f = *state;

	/* A chain through every descriptor is as long as a chain can be, and fine. */
	for (unsigned i = 0; i < 8; i++)
		drv_desc(&f->vm, FAKE_DESC_GPA, i, FAKE_BUF_GPA + 16 * i, 16,
			 i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)((i + 1) % 8));
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, 8);
	assert_int_equal(f->e.out_len, 128);
}

static void test_indirect(void **state)
{
	struct fixture *f = *state;

	/* A table of three: one readable, two writable; WRITE on the table's descriptor is ignored.
	 */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 2, FAKE_BUF_GPA + 0x100, 20,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 4, FAKE_INDIRECT_GPA, 48,
		 VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 4);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.head, 4);
	assert_int_equal(f->e.out_num, 1);
	assert_int_equal(f->e.in_num, 2);
	assert_int_equal(f->e.out_len, 10);
	assert_int_equal(f->e.in_len, 50);
	assert_ptr_equal(f->e.iov[2].iov_base, f->vm.ram + FAKE_BUF_GPA + 0x200);
	virtq_push(&f->q, &f->e, 50);
	assert_int_equal(drv_used_id(&f->vm, 0), 4);
	assert_int_equal(drv_used_len(&f->vm, 0), 50);

	/* 2.7.5.3.2: direct descriptors, then one indirect at the end of the chain. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA + 0x300, 5, VIRTQ_DESC_F_NEXT, 4);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 10, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 4, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, 1);
	assert_int_equal(f->e.in_num, 1);
	assert_int_equal(f->e.out_len, 5);
	assert_int_equal(f->e.in_len, 10);

	/* An unaligned table is read just the same. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA + 3, 0, FAKE_BUF_GPA, 7, VIRTQ_DESC_F_WRITE, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 6, FAKE_INDIRECT_GPA + 3, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 6);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.in_len, 7);
}

static void test_many_and_wrap(void **state)
{
	struct fixture *f = *state;

	/* Start both sides just below the 16-bit wrap, then go round it several times. */
	drv_set_avail_idx(&f->vm, 0xfff0);
	f->q.last_avail_idx = 0xfff0;
	f->q.used_idx = 0xfff0;
	for (unsigned i = 0; i < 8; i++)
		drv_desc(&f->vm, FAKE_DESC_GPA, i, FAKE_BUF_GPA + 64 * i, 64, VIRTQ_DESC_F_WRITE,
			 0);
	for (unsigned round = 0; round < 40; round++) {
		uint16_t base = drv_used_idx(&f->vm);

		if (round == 0)
			base = 0xfff0;
		for (unsigned i = 0; i < 8; i++)
			drv_avail(&f->vm, (uint16_t)((i + round) % 8));
		for (unsigned i = 0; i < 8; i++) {
			assert_int_equal(virtq_pop(&f->q, &f->e), 1);
			assert_int_equal(f->e.head, (i + round) % 8);
			virtq_push(&f->q, &f->e, i);
		}
		assert_int_equal(virtq_pop(&f->q, &f->e), 0);
		assert_int_equal(drv_used_idx(&f->vm), (uint16_t)(base + 8));
		for (unsigned i = 0; i < 8; i++) {
			assert_int_equal(drv_used_id(&f->vm, (uint16_t)(base + i)),
					 (i + round) % 8);
			assert_int_equal(drv_used_len(&f->vm, (uint16_t)(base + i)), i);
		}
	}
	assert_int_equal(f->q.last_avail_idx, (uint16_t)(0xfff0 + 320));
}

static void test_notify_flags(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	virtq_push(&f->q, &f->e, 8);
	assert_true(virtq_should_notify(&f->q));
	/* Nothing new since: no second notification. */
	assert_false(virtq_should_notify(&f->q));
	/* The driver asks for none. */
	drv_set_avail_flags(&f->vm, VIRTQ_AVAIL_F_NO_INTERRUPT);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	virtq_push(&f->q, &f->e, 8);
	assert_false(virtq_should_notify(&f->q));
	drv_set_avail_flags(&f->vm, 0);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	virtq_push(&f->q, &f->e, 8);
	assert_true(virtq_should_notify(&f->q));
	/* used_event means nothing without event index. */
	drv_set_used_event(&f->vm, 0x1234);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	virtq_push(&f->q, &f->e, 8);
	assert_true(virtq_should_notify(&f->q));
	/* Without event index no avail_event is ever written. */
	assert_int_equal(drv_avail_event(&f->vm), 0);
}

/* Pushes n completions of descriptor 0 (popped first, as a device would). */
static void push_n(struct fixture *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		drv_avail(&f->vm, 0);
		assert_int_equal(virtq_pop(&f->q, &f->e), 1);
		virtq_push(&f->q, &f->e, 1);
	}
}

static void test_event_idx(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint16_t event;
		bool notify;
	} cases[] = {
	    /* used idx goes 0xfffe -> 0x0002 across the wrap: entries fffe, ffff, 0, 1 */
	    {0xfffe, true},  {0xffff, true},  {0x0000, true},  {0x0001, true},
	    {0x0002, false}, {0xfffd, false}, {0x8000, false},
	};

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	/* Used idx 0 -> 1 steps over used_event 0 only. */
	drv_set_used_event(&f->vm, 100);
	push_n(f, 1);
	assert_false(virtq_should_notify(&f->q));
	f->q.used_idx = f->q.signalled_used = 0;
	drv_set_used_event(&f->vm, 0);
	push_n(f, 1);
	assert_true(virtq_should_notify(&f->q));
	/* No push since: nothing to say, whatever used_event is. */
	drv_set_used_event(&f->vm, 1);
	assert_false(virtq_should_notify(&f->q));
	/* NO_INTERRUPT means nothing with event index; used_event 1 is right ahead. */
	drv_set_avail_flags(&f->vm, VIRTQ_AVAIL_F_NO_INTERRUPT);
	drv_set_used_event(&f->vm, 1);
	push_n(f, 1);
	assert_true(virtq_should_notify(&f->q));
	drv_set_used_event(&f->vm, 5);
	push_n(f, 2); /* used idx 2 -> 4: entries 2 and 3 */
	assert_false(virtq_should_notify(&f->q));
	push_n(f, 2); /* 4 -> 6: entry 5 */
	assert_true(virtq_should_notify(&f->q));
	assert_false(virtq_should_notify(&f->q));

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->q.used_idx = 0xfffe;
		f->q.signalled_used = 0xfffe;
		drv_set_used_event(&f->vm, cases[i].event);
		push_n(f, 4);
		assert_int_equal(f->q.used_idx, 2);
		if (virtq_should_notify(&f->q) != cases[i].notify)
			fail_msg("used_event %#x: wanted %d", cases[i].event, cases[i].notify);
	}
}

static void test_avail_event(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	/* An empty pop asks to be told about the next buffer. */
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	assert_int_equal(drv_avail_event(&f->vm), 0);
	drv_avail(&f->vm, 0);
	drv_avail(&f->vm, 0);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(drv_avail_event(&f->vm), 1);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(drv_avail_event(&f->vm), 3);
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	assert_int_equal(drv_avail_event(&f->vm), 3);
	/* Across the wrap. */
	drv_set_avail_idx(&f->vm, 0xffff);
	f->q.last_avail_idx = 0xffff;
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(drv_avail_event(&f->vm), 0);
}

/* The driver's notification rule with event index (2.7.10): does new_idx step over avail_event? */
static bool drv_would_notify(struct fixture *f, uint16_t old_idx, uint16_t new_idx)
{
	uint16_t event = drv_avail_event(&f->vm);

	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Suppression while the device polls: no index the driver reaches notifies; enable re-checks. */
static void test_poll_suppress_event(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	assert_false(virtq_has_avail(&f->q));
	virtq_disable_notify(&f->q);
	assert_true(f->q.notify_off);
	assert_false(drv_would_notify(f, 0, 1));
	/* An empty pop does not turn notifications back on. */
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	assert_false(drv_would_notify(f, 0, 1));
	drv_avail(&f->vm, 0);
	drv_avail(&f->vm, 0);
	assert_true(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	/* Nor does a pop: the driver's next additions still do not notify. */
	assert_false(drv_would_notify(f, 2, 3));
	assert_false(drv_would_notify(f, 2, 9));
	/* Enabling asks for the next one, and reports the one still waiting. */
	assert_true(virtq_enable_notify(&f->q));
	assert_false(f->q.notify_off);
	assert_int_equal(drv_avail_event(&f->vm), 1);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_false(virtq_enable_notify(&f->q));
	assert_true(drv_would_notify(f, 2, 3));
	/* Across the wrap. */
	drv_set_avail_idx(&f->vm, 0);
	f->q.last_avail_idx = 0;
	virtq_disable_notify(&f->q);
	assert_int_equal(drv_avail_event(&f->vm), 0xffff);
	assert_false(drv_would_notify(f, 0, 1));
	assert_false(virtq_enable_notify(&f->q));
	assert_int_equal(drv_avail_event(&f->vm), 0);
}

/* Without event index: VIRTQ_USED_F_NO_NOTIFY in the used ring's flags (2.7.7). */
static void test_poll_suppress_flags(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	virtq_disable_notify(&f->q);
	assert_int_equal(fake_get(&f->vm, FAKE_USED_GPA, 2), VIRTQ_USED_F_NO_NOTIFY);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(fake_get(&f->vm, FAKE_USED_GPA, 2), VIRTQ_USED_F_NO_NOTIFY);
	drv_avail(&f->vm, 0);
	assert_true(virtq_enable_notify(&f->q));
	assert_int_equal(fake_get(&f->vm, FAKE_USED_GPA, 2), 0);
	assert_int_equal(drv_avail_event(&f->vm), 0);
}

/* --- Refusals. --- */

static void test_refuse_self_loop(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 2, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	drv_avail(&f->vm, 2);
	expect_refusal(f, -ELOOP, "descriptor 2 visited twice");
}

static void test_refuse_loop(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 6);
	drv_desc(&f->vm, FAKE_DESC_GPA, 6, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_avail(&f->vm, 1);
	expect_refusal(f, -ELOOP, "descriptor 1 visited twice");
	/* The same loop again, on a later pop: the marks of earlier pops do not count. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 6, FAKE_BUF_GPA, 8, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, 2);
}

static void test_refuse_loop_late(void **state)
{
	struct fixture *f = *state;

	/* 0 -> 1 -> ... -> 7 -> 3: the loop closes after a long prefix. */
	for (unsigned i = 0; i < 8; i++)
		drv_desc(&f->vm, FAKE_DESC_GPA, i, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_NEXT,
			 (uint16_t)(i < 7 ? i + 1 : 3));
	drv_avail(&f->vm, 0);
	expect_refusal(f, -ELOOP, "descriptor 3 visited twice");
}

static void test_refuse_next_out_of_range(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 8);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EINVAL, "descriptor 0: next 8 is out of range (8 entries)");
}

static void test_refuse_head_out_of_range(void **state)
{
	struct fixture *f = *state;

	drv_avail(&f->vm, 8);
	expect_refusal(f, -EINVAL, "head descriptor 8 is out of range");
	drv_set_avail_idx(&f->vm, 0);
	drv_avail(&f->vm, 0xffff);
	expect_refusal(f, -EINVAL, "head descriptor 65535");
}

static void test_refuse_avail_jump(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, 0, 0);
	/* size entries ahead is a full ring and fine; one more is not. */
	drv_set_avail_idx(&f->vm, 8);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	f->q.last_avail_idx = 0;
	drv_set_avail_idx(&f->vm, 9);
	expect_refusal(f, -EINVAL, "available idx 9 is 9 entries ahead");
	/* Going backwards looks like a jump of almost 65536. */
	f->q.last_avail_idx = 5;
	drv_set_avail_idx(&f->vm, 4);
	expect_refusal(f, -EINVAL, "65535 entries ahead");
}

static void test_refuse_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;

	/* In the hole above both regions. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0x200000, 8, 0, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EFAULT, "descriptor 0: 0x200000+0x8 is not guest RAM");
	/* Starts in RAM, ends beyond it. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_RAM2_GPA + FAKE_RAM2_SIZE - 4, 8, 0, 0);
	expect_refusal(f, -EFAULT, "crosses the end of its RAM region");
	/* Both ends are RAM, but in two regions: not one mapping. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_RAM_SIZE - 4, 8, 0, 0);
	expect_refusal(f, -EFAULT, "crosses the end of its RAM region");
	/* Wraps around 2^64. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0xffffffffffffff00ULL, 0x1000, 0, 0);
	expect_refusal(f, -EFAULT, "wraps around the address space");
	/* The largest length at the start of RAM. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0, 0xffffffff, 0, 0);
	expect_refusal(f, -EFAULT, "crosses the end");
	/* A bad buffer later in a chain. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
	drv_desc(&f->vm, FAKE_DESC_GPA, 5, 0x40000000, 8, VIRTQ_DESC_F_WRITE, 0);
	expect_refusal(f, -EFAULT, "descriptor 5: 0x40000000+0x8 is not guest RAM");
}

static void test_refuse_readable_after_writable(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		 2);
	drv_desc(&f->vm, FAKE_DESC_GPA, 2, FAKE_BUF_GPA, 8, 0, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EINVAL, "descriptor 2 is device-readable after a device-writable one");
	/* Inside an indirect table as well. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 8, 0, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_refusal(f, -EINVAL, "indirect descriptor 1 is device-readable after");
	/* Writable direct descriptors, then an indirect table starting readable. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 3, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		 0);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, 0, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_set_avail_idx(&f->vm, 0);
	drv_avail(&f->vm, 3);
	expect_refusal(f, -EINVAL, "indirect descriptor 0 is device-readable after");
}

static void test_refuse_oversize(void **state)
{
	struct fixture *f = *state;

	/* More than 4 GiB in total: checked before the second buffer is even looked up. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 0x1000, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 0xffffffff, 0, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -E2BIG, "longer than 4 GiB");
	/* Exactly 2^32 bytes is one too many; 2^32 - 1 passes this check (but is not RAM). */
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 0xfffff000, 0, 0);
	expect_refusal(f, -E2BIG, "longer than 4 GiB");
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 0xffffefff, 0, 0);
	expect_refusal(f, -EFAULT, "descriptor 1: 0x20000+0xffffefff crosses the end");
}

static void test_refuse_too_many_buffers(void **state)
{
	struct fixture *f = *state;

	/* A 2048-entry queue, and a chain of VIRTQ_MAX_IOV + 1 one-byte buffers. */
	for (unsigned i = 0; i <= VIRTQ_MAX_IOV; i++)
		drv_desc(&f->vm, FAKE_DESC_GPA, i, FAKE_BUF_GPA + i, 1,
			 i < VIRTQ_MAX_IOV ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	drv_avail(&f->vm, 0);
	expect_refusal(f, -E2BIG, "chain of more than 1024 buffers");
	/* Exactly the cap is fine. */
	drv_desc(&f->vm, FAKE_DESC_GPA, VIRTQ_MAX_IOV - 1, FAKE_BUF_GPA, 1, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, VIRTQ_MAX_IOV);
	/* Zero-length descriptors do not use up the cap. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0, 0, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, VIRTQ_MAX_IOV - 1, FAKE_BUF_GPA, 1, VIRTQ_DESC_F_NEXT,
		 VIRTQ_MAX_IOV);
	drv_avail(&f->vm, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.out_num, VIRTQ_MAX_IOV);
}

static void test_refuse_indirect_not_negotiated(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, 0, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EINVAL, "VIRTIO_F_INDIRECT_DESC was not negotiated");
}

static void test_refuse_nested_indirect(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EINVAL, "indirect descriptor 1: nested indirect descriptor");
}

static void test_refuse_indirect_next(void **state)
{
	struct fixture *f = *state;

	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, 0, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 16,
		 VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, 0, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -EINVAL, "descriptor 0: indirect with the NEXT flag");
}

static void test_refuse_indirect_length(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad[] = {0, 8, 24, 17, 0xfffffff0};

	drv_avail(&f->vm, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, bad[i], VIRTQ_DESC_F_INDIRECT,
			 0);
		if (bad[i] % 16 || !bad[i])
			expect_refusal(f, -EINVAL, "is not a non-zero multiple of 16");
		else
			expect_refusal(f, -E2BIG, "more than 1024");
	}
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 16 * (VIRTQ_MAX_INDIRECT + 1),
		 VIRTQ_DESC_F_INDIRECT, 0);
	expect_refusal(f, -E2BIG, "indirect table of 1025 entries, more than 1024");
	/* The table itself must be RAM. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_refusal(f, -EFAULT, "indirect table of descriptor 0");
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, 0x70000000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_refusal(f, -EFAULT, "not guest RAM");
}

static void test_refuse_indirect_chain(void **state)
{
	struct fixture *f = *state;

	/* Loops and out-of-range next inside the table. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -ELOOP, "indirect descriptor 0 visited twice");
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	expect_refusal(f, -ELOOP, "indirect descriptor 1 visited twice");
	/* next 2 would be inside the queue's table but is outside this 2-entry one. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	expect_refusal(f, -EINVAL, "indirect descriptor 1: next 2 is out of range (2 entries)");
	/* A bad buffer inside the table. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, 0x300000, 8, 0, 0);
	expect_refusal(f, -EFAULT, "indirect descriptor 1: 0x300000+0x8 is not guest RAM");
	/* Fixed, it pops. */
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, FAKE_BUF_GPA, 8, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
}

static void test_stamp_wrap(void **state)
{
	struct fixture *f = *state;

	/* Loop detection stays right when the per-pop stamp wraps around. */
	drv_desc(&f->vm, FAKE_DESC_GPA, 0, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, 0, 0);
	for (unsigned i = 0; i < 70000; i++) {
		drv_avail(&f->vm, 0);
		assert_int_equal(virtq_pop(&f->q, &f->e), 1);
		virtq_push(&f->q, &f->e, 0);
	}
	drv_desc(&f->vm, FAKE_DESC_GPA, 1, FAKE_BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	drv_avail(&f->vm, 0);
	expect_refusal(f, -ELOOP, "visited twice");
}

/* --- A driver on another thread, as a guest vCPU would be. --- */

#define STRESS_N 20000u

struct stress {
	struct fixture *f;
	unsigned bad_used; /* used elements the driver did not expect */
};

/* Waiting for the other side: spin a little first, the handoff is usually quick. */
static void stress_wait(unsigned *spins)
{
	if (++*spins % 256 == 0)
		sched_yield();
}

static uint16_t *ring16(struct fixture *f, uint64_t gpa)
{
	return (uint16_t *)(void *)fake_ptr(&f->vm, gpa);
}

/* Adds STRESS_N requests as fast as the ring allows and checks each completion in order. */
static void *stress_driver(void *arg)
{
	struct stress *s = arg;
	struct fixture *f = s->f;
	uint16_t *avail_idx = ring16(f, FAKE_AVAIL_GPA + 2),
		 *used_idx = ring16(f, FAKE_USED_GPA + 2);
	uint16_t size = f->vm.size, seen = 0;
	unsigned added = 0, done = 0, spins = 0;

	while (done < STRESS_N) {
		uint16_t used = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);

		for (; seen != used; seen++, done++)
			if (drv_used_id(&f->vm, seen) != done % size ||
			    drv_used_len(&f->vm, seen) != 8)
				s->bad_used++;
		if (added < STRESS_N && (uint16_t)(added - done) < size) {
			__atomic_store_n(ring16(f, FAKE_AVAIL_GPA + 4 + 2 * (added % size)),
					 (uint16_t)(added % size), __ATOMIC_RELAXED);
			added++;
			__atomic_store_n(avail_idx, (uint16_t)added, __ATOMIC_RELEASE);
		} else {
			stress_wait(&spins);
		}
	}
	return NULL;
}

static void test_concurrent_driver(void **state)
{
	struct fixture *f = *state;
	struct stress s = {f, 0};
	pthread_t t;
	unsigned popped = 0, spins = 0;

	for (unsigned i = 0; i < f->vm.size; i++)
		drv_desc(&f->vm, FAKE_DESC_GPA, i, FAKE_BUF_GPA + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(pthread_create(&t, NULL, stress_driver, &s), 0);
	while (popped < STRESS_N) {
		int rc = virtq_pop(&f->q, &f->e);

		if (rc < 0)
			fail_msg("pop failed: %s", virtq_reason(&f->q));
		if (!rc) {
			stress_wait(&spins);
			continue;
		}
		assert_int_equal(f->e.head, popped % f->vm.size);
		virtq_push(&f->q, &f->e, 8);
		popped++;
	}
	pthread_join(t, NULL);
	assert_int_equal(s.bad_used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_checks),
	    cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_direct_single, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_mixed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_length_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_and_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_and_wrap, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_avail_event, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_poll_suppress_event, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_poll_suppress_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_self_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_loop_late, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_next_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_head_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_avail_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_avail_jump, setup_event, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_buffer_outside_ram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_readable_after_writable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_oversize, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_too_many_buffers, setup_big, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_indirect_not_negotiated, setup_noindirect,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_nested_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_indirect_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_indirect_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_indirect_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stamp_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_driver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_driver, setup_event, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
