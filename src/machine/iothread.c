/* SPDX-License-Identifier: MIT */
/*
 * The VM's I/O thread; see iothread.h. One epoll instance (epoll(7)), level
 * triggered; each watch is a heap block whose address is the epoll cookie and
 * which lives until iothread_destroy, so a callback never sees freed memory.
 * A private eventfd (cookie NULL) tells the thread to stop; another (cookie
 * &t->pause_fd) to park between callbacks (iothread_pause).
 */
#include "machine/iothread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sandbox.h"

#define IOTHREAD_EVENTS 16
/* Rounds of ready callbacks a pause runs before parking: vCPUs are paused, so one or two do. */
#define IOTHREAD_PAUSE_ROUNDS 64
/* The first polling window once polling pays (see iothread.h). */
#define IOTHREAD_POLL_START_NS 4000

struct iothread_watch {
	struct iothread_watch *next;
	void (*fn)(void *arg);
	void *arg;
};

struct iothread {
	int epfd, stop_fd, pause_fd;
	pthread_t thread;
	bool started;
	/* Pause handshake, under lock: requested by iothread_pause, parked by the thread. */
	pthread_cond_t pause_cond;
	bool pause_requested, parked, stopping, exited;
	pthread_mutex_t lock; /* watches list; start handshake */
	pthread_cond_t cond;
	bool ready; /* the thread has filtered itself (or failed to) */
	int start_rc;
	struct iothread_watch *watches;
	uint64_t poll_max_ns; /* 0: never poll */
	/* Waits that ended while polling, and after sleeping (iothread_poll_stats). */
	atomic_uint_fast64_t polled, slept;
};

void iothread_set_poll_max(struct iothread *t, uint64_t max_ns)
{
	t->poll_max_ns = max_ns;
}

uint64_t iothread_poll_next(uint64_t cur_ns, uint64_t max_ns, uint64_t waited_ns)
{
	if (!max_ns || waited_ns > max_ns)
		return 0; /* idle, or the window would not have caught it: sleep at once */
	if (waited_ns <= cur_ns)
		return cur_ns; /* caught while polling: the window fits */
	cur_ns = cur_ns ? cur_ns * 2 : IOTHREAD_POLL_START_NS;
	return cur_ns < max_ns ? cur_ns : max_ns;
}

void iothread_poll_stats(struct iothread *t, uint64_t *polled, uint64_t *slept)
{
	*polled = atomic_load_explicit(&t->polled, memory_order_relaxed);
	*slept = atomic_load_explicit(&t->slept, memory_order_relaxed);
}

static uint64_t iothread_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Waits for events: first polls for up to *poll_ns, then sleeps; adapts
 * *poll_ns to how long the wait took (iothread_poll_next). As epoll_wait.
 */
static int iothread_wait(struct iothread *t, struct epoll_event *ev, uint64_t *poll_ns)
{
	uint64_t start, now;
	int n;

	if (!t->poll_max_ns)
		return epoll_wait(t->epfd, ev, IOTHREAD_EVENTS, -1);
	start = iothread_now_ns();
	now = start;
	n = 0;
	while (now - start < *poll_ns) {
		n = epoll_wait(t->epfd, ev, IOTHREAD_EVENTS, 0);
		if (n)
			break;
		sched_yield();
		now = iothread_now_ns();
	}
	if (n > 0) {
		atomic_fetch_add_explicit(&t->polled, 1, memory_order_relaxed);
	} else if (!n) {
		n = epoll_wait(t->epfd, ev, IOTHREAD_EVENTS, -1);
		atomic_fetch_add_explicit(&t->slept, 1, memory_order_relaxed);
	}
	if (n >= 0)
		*poll_ns = iothread_poll_next(*poll_ns, t->poll_max_ns, iothread_now_ns() - start);
	return n;
}

struct iothread *iothread_create(void)
{
	struct iothread *t = calloc(1, sizeof(*t));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct epoll_event pev = {.events = EPOLLIN};
	int err;

	if (!t)
		return NULL;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pev.data.ptr = &t->pause_fd;
	if (t->epfd < 0 || t->stop_fd < 0 || t->pause_fd < 0 ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev) ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->pause_fd, &pev)) {
		err = errno;
		if (t->epfd >= 0)
			close(t->epfd);
		if (t->stop_fd >= 0)
			close(t->stop_fd);
		if (t->pause_fd >= 0)
			close(t->pause_fd);
		free(t);
		errno = err;
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	pthread_cond_init(&t->pause_cond, NULL);
	return t;
}

int iothread_watch(struct iothread *t, int fd, void (*fn)(void *arg), void *arg)
{
	struct iothread_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = w;
	pthread_mutex_lock(&t->lock);
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int rc = -errno;

		pthread_mutex_unlock(&t->lock);
		free(w);
		return rc;
	}
	w->next = t->watches;
	t->watches = w;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Runs the callbacks of n events; false on the stop event. *pause: the pause event was among them.
 */
static bool iothread_dispatch(struct iothread *t, const struct epoll_event *ev, int n, bool *pause)
{
	for (int i = 0; i < n; i++) {
		struct iothread_watch *w = ev[i].data.ptr;

		if (!w)
			return false; /* stop_fd: never drained, so a stop is never lost */
		if ((void *)w == &t->pause_fd)
			*pause = true;
		else
			w->fn(w->arg);
	}
	return true;
}

/*
 * A pause was asked for: first whatever else is ready now (notifications the
 * guest sent before its vCPUs stopped), so that nothing waits unseen in an
 * eventfd while the machine is saved; then park until iothread_resume.
 * Returns false when the thread should stop.
 */
static bool iothread_park(struct iothread *t)
{
	struct epoll_event ev[IOTHREAD_EVENTS];

	for (int round = 0; round < IOTHREAD_PAUSE_ROUNDS; round++) {
		bool pause = false;
		int n = epoll_wait(t->epfd, ev, IOTHREAD_EVENTS, 0);

		if (n < 0 && errno == EINTR)
			continue;
		/* The pause fd stays readable until resume: n == 1 is it alone. */
		if (n <= 1)
			break;
		if (!iothread_dispatch(t, ev, n, &pause))
			return false;
	}
	pthread_mutex_lock(&t->lock);
	if (t->pause_requested) {
		t->parked = true;
		pthread_cond_broadcast(&t->pause_cond);
		while (t->pause_requested && !t->stopping)
			pthread_cond_wait(&t->pause_cond, &t->lock);
		t->parked = false;
	}
	pthread_mutex_unlock(&t->lock);
	return true;
}

static void iothread_loop(struct iothread *t)
{
	struct epoll_event ev[IOTHREAD_EVENTS];
	uint64_t poll_ns = 0;
	bool pause;
	int rc;

	pthread_setname_np(pthread_self(), "virtio-io");
	rc = sandbox_apply(SANDBOX_IO);
	pthread_mutex_lock(&t->lock);
	t->start_rc = rc;
	t->ready = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return;
	for (;;) {
		int n = iothread_wait(t, ev, &poll_ns);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-io", "epoll_wait: %s; device I/O stops", strerror(errno));
			return;
		}
		pause = false;
		if (!iothread_dispatch(t, ev, n, &pause) || (pause && !iothread_park(t)))
			return;
	}
}

static void *iothread_main(void *arg)
{
	struct iothread *t = arg;

	iothread_loop(t);
	/* Whoever waits for a pause must not wait for a thread that is gone. */
	pthread_mutex_lock(&t->lock);
	t->exited = true;
	pthread_cond_broadcast(&t->pause_cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int iothread_start(struct iothread *t)
{
	int rc = pthread_create(&t->thread, NULL, iothread_main, t);

	if (rc)
		return -rc;
	t->started = true;
	pthread_mutex_lock(&t->lock);
	while (!t->ready)
		pthread_cond_wait(&t->cond, &t->lock);
	rc = t->start_rc;
	pthread_mutex_unlock(&t->lock);
	if (rc)
		log_err("virtio-io", "cannot install the sandbox's system call filter: %s",
			strerror(-rc));
	return rc;
}

void iothread_stop(struct iothread *t)
{
	uint64_t one = 1;

	if (!t->started)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true; /* a parked thread wakes up and sees the stop */
	pthread_cond_broadcast(&t->pause_cond);
	pthread_mutex_unlock(&t->lock);
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		log_warn("virtio-io", "cannot signal stop: %s", strerror(errno));
	pthread_join(t->thread, NULL);
	t->started = false;
	t->stopping = t->exited = false;
}

void iothread_pause(struct iothread *t)
{
	uint64_t one = 1;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->started && !t->exited && !t->pause_requested) {
		t->pause_requested = true;
		if (write(t->pause_fd, &one, sizeof(one)) < 0)
			log_warn("virtio-io", "cannot signal a pause: %s", strerror(errno));
		else
			while (!t->parked && !t->stopping && !t->exited)
				pthread_cond_wait(&t->pause_cond, &t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}

void iothread_resume(struct iothread *t)
{
	uint64_t v;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->pause_requested) {
		/* Drained before the thread wakes: it does not see the old request again. */
		if (read(t->pause_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn("virtio-io", "cannot clear a pause: %s", strerror(errno));
		t->pause_requested = false;
		pthread_cond_broadcast(&t->pause_cond);
	}
	pthread_mutex_unlock(&t->lock);
}

void iothread_destroy(struct iothread *t)
{
	if (!t)
		return;
	iothread_stop(t);
	while (t->watches) {
		struct iothread_watch *w = t->watches;

		t->watches = w->next;
		free(w);
	}
	close(t->epfd);
	close(t->stop_fd);
	close(t->pause_fd);
	pthread_cond_destroy(&t->pause_cond);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
