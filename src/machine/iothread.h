/* SPDX-License-Identifier: MIT */
/*
 * A VM's I/O thread ("virtio-io"): one epoll loop that runs device callbacks
 * for readable descriptors (queue notification eventfds, backend completions),
 * so that device work triggered through ioeventfds never runs on a vCPU.
 *
 * Adaptive polling (as QEMU's iothread poll-max-ns): waking a thread that
 * sleeps in epoll_wait costs tens of microseconds on a loaded or nested host,
 * often more than the request it serves. After each round of callbacks the
 * thread may therefore poll (epoll_wait with a zero timeout) for up to its
 * current window before it sleeps. The window starts at 0, so an idle guest
 * costs nothing: it grows (4 us, then doubling, up to the maximum) each time
 * the next event came within the maximum after the thread began to wait, and
 * drops to 0 when one came later than that.
 */
#ifndef KVMM_MACHINE_IOTHREAD_H
#define KVMM_MACHINE_IOTHREAD_H

#include <stdint.h>

struct iothread;

/* Creates the loop without starting it. Returns NULL with errno set. */
struct iothread *iothread_create(void);
/* The polling window's maximum in ns (0: never poll, the default); before iothread_start. */
void iothread_set_poll_max(struct iothread *t, uint64_t max_ns);
/* The adaptive rule above: the next window, given the current one, the maximum
 * and how long the last wait for an event took in all (polling included). */
uint64_t iothread_poll_next(uint64_t cur_ns, uint64_t max_ns, uint64_t waited_ns);
/* With polling on: how many waits ended while polling, and how many after sleeping. */
void iothread_poll_stats(struct iothread *t, uint64_t *polled, uint64_t *slept);
/*
 * Runs fn(arg) on the thread whenever fd is readable (level triggered), from
 * now until the thread stops. May be called before or after iothread_start,
 * from any thread. fd stays the caller's. Returns 0 or -errno.
 */
int iothread_watch(struct iothread *t, int fd, void (*fn)(void *arg), void *arg);
/*
 * Starts the thread, which installs its system call filter (sandbox role
 * "io") first; returns 0, or -errno when it could not start or filter itself.
 */
int iothread_start(struct iothread *t);
/*
 * Snapshots: runs the callbacks of what is ready now (notifications that
 * arrived before the vCPUs paused), then parks the thread between callbacks,
 * and returns once it is parked (at once if it is not running). No callback
 * runs until iothread_resume. Call both from one thread, not from a callback.
 */
void iothread_pause(struct iothread *t);
void iothread_resume(struct iothread *t);
/* Stops and joins the thread (if started): no callback runs after this returns. */
void iothread_stop(struct iothread *t);
/* Stops it, then frees it; NULL is fine. */
void iothread_destroy(struct iothread *t);

#endif
