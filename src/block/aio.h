/* SPDX-License-Identifier: MIT */
/*
 * The disk I/O engine: asynchronous preadv/pwritev/fdatasync/fallocate on a
 * file descriptor, each finished by a callback on the engine's own thread.
 * Two implementations behind one interface:
 *
 *  - io_uring (liburing, io_uring_setup(2)): the submitting thread hands the
 *    operation to the kernel and returns; one reaper thread per engine waits
 *    for completions and runs the callbacks (but see aio_unplug).
 *  - a thread pool, for hosts where io_uring cannot be had: io_uring_setup
 *    fails with ENOSYS on old kernels and with EPERM under seccomp filters,
 *    in containers, or with kernel.io_uring_disabled set. Each worker runs the
 *    ordinary blocking system call, then the callback.
 *
 * AIO_ENGINE_AUTO tries io_uring and falls back to the pool; tests and users
 * pick one with the KVMM_AIO environment variable ("uring", "threads",
 * "auto") through aio_engine_from_env, or by passing the engine explicitly.
 *
 * Threads: aio_submit may be called from any thread, including from inside a
 * callback (that is how multi-step operations chain), and never blocks on
 * I/O. Callbacks run on an engine thread with no engine lock held, so they may
 * take the caller's own locks; they must not call aio_destroy. The one
 * exception is aio_unplug: with io_uring it also runs, on its caller's
 * thread, the callbacks of operations that are already complete (a buffered
 * read of cached pages completes inside the system call that submits it),
 * which saves a wake-up of the engine thread and a lock hand-off each.
 */
#ifndef KVMM_BLOCK_AIO_H
#define KVMM_BLOCK_AIO_H

#include <stdint.h>
#include <sys/uio.h>

enum aio_engine {
	AIO_ENGINE_AUTO,    /* io_uring if the kernel lets us, else the thread pool */
	AIO_ENGINE_URING,   /* io_uring or fail */
	AIO_ENGINE_THREADS, /* the thread pool */
};

enum aio_opcode {
	AIO_OP_READ,	  /* preadv(fd, iov, niov, offset): len bytes */
	AIO_OP_WRITE,	  /* pwritev(fd, iov, niov, offset): len bytes */
	AIO_OP_FDATASYNC, /* fdatasync(fd) */
	AIO_OP_FALLOCATE, /* fallocate(fd, mode, offset, len) */
};

struct aio_op {
	enum aio_opcode opcode;
	int fd;
	const struct iovec *iov; /* READ/WRITE: must stay valid until done runs */
	unsigned niov;		 /* READ/WRITE: at most AIO_MAX_IOV */
	uint64_t offset;
	uint64_t len; /* READ/WRITE: the sum of the iov lengths; FALLOCATE: the range */
	int mode;     /* FALLOCATE */
	/*
	 * Called once, on an engine thread: result is the byte count for a
	 * READ/WRITE (always len: short transfers are continued by the engine;
	 * a file that ends early gives -EIO), 0 for the others, or a negative
	 * errno. op may be reused or freed from inside done.
	 */
	void (*done)(struct aio_op *op, int64_t result);
	/* Engine-private. */
	struct aio_op *next;
};

/* The kernel's UIO_MAXIOV: the most buffers one preadv/pwritev takes. */
#define AIO_MAX_IOV 1024u

struct aio;

/*
 * Starts an engine. AIO_ENGINE_URING fails with the reason io_uring is not
 * usable (-ENOSYS, -EPERM, -EOPNOTSUPP when the kernel lacks an operation we
 * need, ...); AUTO then uses the thread pool instead. Returns 0 or -errno.
 */
int aio_create(enum aio_engine engine, struct aio **out);
/* Waits for every submitted operation's callback to return, then stops. */
void aio_destroy(struct aio *a);
/*
 * Queues op; its callback runs later on an engine thread, never from inside
 * this call. Returns 0, or -EINVAL (bad op: the callback will not run).
 */
int aio_submit(struct aio *a, struct aio_op *op);

/*
 * Batching, for a caller about to submit several operations (a virtio queue
 * handing over what one notification brought): between aio_plug and
 * aio_unplug, aio_submit only queues (from any thread: the engine's
 * submissions wait for the last aio_unplug), and aio_unplug hands everything
 * queued to the kernel in one io_uring_enter, then runs the callbacks of
 * whatever has completed by then, this batch's and others', on the calling
 * thread. So call aio_unplug with no lock held that a callback takes. From
 * inside a callback it runs further callbacks nested in that one: a caller
 * that plugs there must bound the depth itself. Plugs nest. The thread pool
 * hands each operation to a worker at once, so for it both calls do nothing.
 */
void aio_plug(struct aio *a);
void aio_unplug(struct aio *a);

/*
 * Polling, for a caller that will watch for completions itself for a short
 * while (virtio-blk's I/O thread, waiting for a buffered write that io_uring
 * handed to its own worker): while a session is open, operations left in the
 * kernel do not wake the reaper; aio_poll runs the callbacks of what has
 * completed, on the calling thread (the same rules as aio_unplug), and
 * returns how many; aio_poll_wait first sleeps until something completes or
 * timeout_ns pass (when the kernel has operations: a spinning caller would
 * take the CPU from the worker doing them); aio_poll_end hands what is
 * still in the kernel back to the reaper. Keep sessions short
 * (microseconds): nothing else reaps for them. For the thread pool they do
 * nothing and aio_poll/aio_poll_wait return 0 at once.
 */
void aio_poll_begin(struct aio *a);
unsigned aio_poll(struct aio *a);
unsigned aio_poll_wait(struct aio *a, uint64_t timeout_ns);
void aio_poll_end(struct aio *a);

/* The engine actually running: AIO_ENGINE_URING or AIO_ENGINE_THREADS. */
enum aio_engine aio_engine_of(const struct aio *a);
const char *aio_engine_name(enum aio_engine e);
/* "auto", "uring" (or "io_uring"), "threads"; returns 0 or -EINVAL. */
int aio_engine_parse(const char *s, enum aio_engine *out);
/* The KVMM_AIO environment variable, parsed; AUTO when unset or unknown. */
enum aio_engine aio_engine_from_env(void);

#endif
