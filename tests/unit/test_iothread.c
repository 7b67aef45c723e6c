/* SPDX-License-Identifier: MIT */
/* The I/O thread's adaptive polling rule, and its loop with polling off and on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "machine/iothread.h"

#define US 1000u

static void test_poll_rule(void **state)
{
	(void)state;
	/* Off: never polls, whatever the waits. */
	assert_int_equal(iothread_poll_next(0, 0, 1 * US), 0);
	assert_int_equal(iothread_poll_next(50 * US, 0, 1 * US), 0);
	/* An event soon after the wait began: start at 4 us, then double, up to the maximum. */
	assert_int_equal(iothread_poll_next(0, 100 * US, 30 * US), 4 * US);
	assert_int_equal(iothread_poll_next(4 * US, 100 * US, 30 * US), 8 * US);
	assert_int_equal(iothread_poll_next(64 * US, 100 * US, 90 * US), 100 * US);
	assert_int_equal(iothread_poll_next(100 * US, 100 * US, 99 * US), 100 * US);
	/* Caught while polling: the window stays. */
	assert_int_equal(iothread_poll_next(32 * US, 100 * US, 10 * US), 32 * US);
	assert_int_equal(iothread_poll_next(32 * US, 100 * US, 32 * US), 32 * US);
	/* Later than the maximum: polling would not have caught it, back to sleeping at once. */
	assert_int_equal(iothread_poll_next(100 * US, 100 * US, 101 * US), 0);
	assert_int_equal(iothread_poll_next(0, 100 * US, 5000 * US), 0);
	/* A maximum below the first step. */
	assert_int_equal(iothread_poll_next(0, 2 * US, 1 * US), 2 * US);
}

struct counter {
	int fd;
	atomic_int calls;
};

static void on_event(void *arg)
{
	struct counter *c = arg;
	uint64_t v;

	if (read(c->fd, &v, sizeof(v)) == sizeof(v))
		atomic_fetch_add(&c->calls, (int)v);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins (a sleep would add the timer slack, tens of us) until want calls, 5 s at most. */
static void wait_calls(struct counter *c, int want)
{
	uint64_t end = now_ns() + 5000000000u;

	while (atomic_load(&c->calls) < want && now_ns() < end)
		;
	assert_int_equal(atomic_load(&c->calls), want);
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/* Events are seen with polling off and with it on, spaced so that the window
 * grows, and also once it has shrunk again after a long pause. */
static void run_loop(uint64_t poll_max_ns, uint64_t *polled, uint64_t *slept)
{
	struct iothread *t = iothread_create();
	struct counter c = {.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	struct timespec pause = {0, 5000000};
	uint64_t one = 1;

	assert_non_null(t);
	assert_true(c.fd >= 0);
	iothread_set_poll_max(t, poll_max_ns);
	assert_int_equal(iothread_watch(t, c.fd, on_event, &c), 0);
	assert_int_equal(iothread_start(t), 0);
	for (int i = 1; i <= 200; i++) {
		assert_int_equal(write(c.fd, &one, sizeof(one)), sizeof(one));
		wait_calls(&c, i);
		if (i % 50)
			spin_ns(20000);
		else
			nanosleep(&pause, NULL);
	}
	iothread_stop(t);
	iothread_poll_stats(t, polled, slept);
	iothread_destroy(t);
	close(c.fd);
}

static void test_loop_no_poll(void **state)
{
	uint64_t polled, slept;

	(void)state;
	run_loop(0, &polled, &slept);
	assert_int_equal(polled, 0);
	assert_int_equal(slept, 0); /* not counted when polling is off */
}

static void test_loop_poll(void **state)
{
	uint64_t polled, slept;

	(void)state;
	run_loop(200 * US, &polled, &slept);
	/* 20 us gaps (plus the test's own wake-ups) fall inside a 200 us window once it
	 * has grown; the 5 ms pauses do not. Some waits end each way. */
	assert_true(polled > 0);
	assert_true(slept >= 4);
	assert_true(polled + slept >= 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_rule),
		cmocka_unit_test(test_loop_no_poll),
		cmocka_unit_test(test_loop_poll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
