/* SPDX-License-Identifier: MIT */
/*
 * A VM's I/O thread ("virtio-io"): one epoll loop that runs device callbacks
 * for readable descriptors (queue notification eventfds, backend completions),
 * so that device work triggered through ioeventfds never runs on a vCPU.
 */
#ifndef KVMM_MACHINE_IOTHREAD_H
#define KVMM_MACHINE_IOTHREAD_H

struct iothread;

/* Creates the loop without starting it. Returns NULL with errno set. */
struct iothread *iothread_create(void);
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
