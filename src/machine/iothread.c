/* SPDX-License-Identifier: MIT */
/*
 * The VM's I/O thread; see iothread.h. One epoll instance (epoll(7)), level
 * triggered; each watch is a heap block whose address is the epoll cookie and
 * which lives until iothread_destroy, so a callback never sees freed memory.
 * A private eventfd (cookie NULL) tells the thread to stop.
 */
#include "machine/iothread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sandbox.h"

#define IOTHREAD_EVENTS 16

struct iothread_watch {
	struct iothread_watch *next;
	void (*fn)(void *arg);
	void *arg;
};

struct iothread {
	int epfd, stop_fd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* watches list; start handshake */
	pthread_cond_t cond;
	bool ready; /* the thread has filtered itself (or failed to) */
	int start_rc;
	struct iothread_watch *watches;
};

struct iothread *iothread_create(void)
{
	struct iothread *t = calloc(1, sizeof(*t));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int err;

	if (!t)
		return NULL;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->stop_fd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev)) {
		err = errno;
		if (t->epfd >= 0)
			close(t->epfd);
		if (t->stop_fd >= 0)
			close(t->stop_fd);
		free(t);
		errno = err;
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
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

static void *iothread_main(void *arg)
{
	struct iothread *t = arg;
	struct epoll_event ev[IOTHREAD_EVENTS];
	int rc;

	pthread_setname_np(pthread_self(), "virtio-io");
	rc = sandbox_apply(SANDBOX_IO);
	pthread_mutex_lock(&t->lock);
	t->start_rc = rc;
	t->ready = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return NULL;
	for (;;) {
		int n = epoll_wait(t->epfd, ev, IOTHREAD_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("virtio-io", "epoll_wait: %s; device I/O stops", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct iothread_watch *w = ev[i].data.ptr;

			if (!w)
				return NULL; /* stop_fd: never drained, so a stop is never lost */
			w->fn(w->arg);
		}
	}
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
	if (write(t->stop_fd, &one, sizeof(one)) < 0)
		log_warn("virtio-io", "cannot signal stop: %s", strerror(errno));
	pthread_join(t->thread, NULL);
	t->started = false;
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
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
