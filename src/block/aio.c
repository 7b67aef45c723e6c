/* SPDX-License-Identifier: MIT */
/*
 * The disk I/O engine; see aio.h. io_uring through liburing (io_uring_setup(2),
 * io_uring_enter(2)), or a pool of threads making the same system calls.
 *
 * Both share one bookkeeping scheme under a->lock: `inflight` counts
 * operations submitted whose callback has not yet returned (aio_destroy waits
 * for it to reach 0), and a FIFO of operations not yet handed over (to the
 * kernel's submission queue, or to a worker). With io_uring the FIFO is also
 * what keeps us from ever having more operations in the kernel than the
 * completion queue holds, so no completion can be lost to an overflow, and
 * where plugged submissions wait for aio_unplug.
 *
 * Both rings are only touched under a->lock (the reaper's blocking wait is a
 * bare io_uring_enter that reads neither). Completions are taken off the
 * completion queue by whichever thread finds them: the reaper, or a thread
 * in aio_unplug right after its submission. The second matters because a
 * buffered read of cached pages (and often a buffered write) completes inside
 * the submitting io_uring_enter: running it there saves two thread hand-offs
 * per request. For that to save anything the reaper must not be waiting on
 * the ring meanwhile (the kernel would wake it for each completion), so it
 * waits there only while `in_ring` says the kernel still has something; with
 * nothing in the kernel it sleeps on a condition variable, and whoever leaves
 * operations in the kernel wakes it (aio_uring_arm).
 */
#include "block/aio.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sandbox.h"

#define AIO_POOL_THREADS 4
/* Submission queue entries, and the completion queue (hence in-kernel operation) limit. */
#define AIO_SQ_ENTRIES 128u
#define AIO_CQ_ENTRIES 1024u
/*
 * How long the reaper sleeps without a completion before it re-checks the
 * submission queue: only matters if io_uring_enter refused a submission
 * (-EAGAIN, -EBUSY) while nothing else was in flight to wake it.
 */
#define AIO_REAPER_POLL_NS 200000000LL
/* The most buffers handed to one preadv/pwritev when continuing a short transfer. */
#define AIO_SYNC_WINDOW 64u
/* Completions taken off the ring under the lock at a time. */
#define AIO_REAP_BATCH 32u

struct aio {
	enum aio_engine engine; /* URING or THREADS */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight dropped to 0 */
	unsigned inflight;
	bool stopping;
	struct aio_op *head, *tail; /* not yet handed over */
	unsigned started;	    /* engine threads that installed their filter (or failed) */
	int start_rc;		    /* the first failure among them */

	/* io_uring */
	struct io_uring ring;
	unsigned in_ring; /* operations (and the stop NOP) the kernel has or will get */
	unsigned plugged; /* aio_plug depth: submissions wait in the FIFO */
	unsigned pollers; /* open aio_poll sessions: they reap, the reaper need not */
	bool armed;	  /* the reaper waits on the ring (or is about to) */
	/* Completed but for the rest of a short transfer, which needs the reaper's filter. */
	struct aio_op *short_head, *short_tail;
	pthread_t reaper;

	/*
	 * Thread pool: the FIFO got an operation, or stopping was set.
	 * io_uring: the reaper has something to wait for or finish.
	 */
	pthread_cond_t work;

	/* thread pool */
	pthread_t workers[AIO_POOL_THREADS];
	unsigned nworkers;
};

const char *aio_engine_name(enum aio_engine e)
{
	switch (e) {
	case AIO_ENGINE_AUTO:
		return "auto";
	case AIO_ENGINE_URING:
		return "io_uring";
	case AIO_ENGINE_THREADS:
		return "threads";
	}
	return "?";
}

int aio_engine_parse(const char *s, enum aio_engine *out)
{
	if (!strcmp(s, "auto"))
		*out = AIO_ENGINE_AUTO;
	else if (!strcmp(s, "uring") || !strcmp(s, "io_uring"))
		*out = AIO_ENGINE_URING;
	else if (!strcmp(s, "threads"))
		*out = AIO_ENGINE_THREADS;
	else
		return -EINVAL;
	return 0;
}

enum aio_engine aio_engine_from_env(void)
{
	const char *s = getenv("KVMM_AIO");
	enum aio_engine e = AIO_ENGINE_AUTO;

	if (s && *s && aio_engine_parse(s, &e))
		log_warn("aio", "KVMM_AIO=%s is not auto, uring or threads: using auto", s);
	return e;
}

enum aio_engine aio_engine_of(const struct aio *a)
{
	return a->engine;
}

/* Lock held. */
static void aio_queue_push(struct aio *a, struct aio_op *op, bool front)
{
	if (front) {
		op->next = a->head;
		a->head = op;
		if (!a->tail)
			a->tail = op;
		return;
	}
	op->next = NULL;
	if (a->tail)
		a->tail->next = op;
	else
		a->head = op;
	a->tail = op;
}

/* Lock held. */
static struct aio_op *aio_queue_pop(struct aio *a)
{
	struct aio_op *op = a->head;

	if (op) {
		a->head = op->next;
		if (!a->head)
			a->tail = NULL;
	}
	return op;
}

/*
 * Reads or writes op's bytes from `done` on with blocking calls: the whole
 * operation for the pool, the rest of a short transfer for io_uring. Builds a
 * small window of iovecs so that the caller's array is never modified.
 */
static int64_t aio_rw_sync(const struct aio_op *op, uint64_t done)
{
	struct iovec win[AIO_SYNC_WINDOW];

	while (done < op->len) {
		uint64_t skip = done;
		unsigned i = 0, n = 0;
		ssize_t r;

		while (i < op->niov && skip >= op->iov[i].iov_len)
			skip -= op->iov[i++].iov_len;
		for (; i < op->niov && n < AIO_SYNC_WINDOW; i++) {
			win[n] = op->iov[i];
			if (!n) {
				win[0].iov_base = (uint8_t *)win[0].iov_base + skip;
				win[0].iov_len -= skip;
			}
			n++;
		}
		if (op->opcode == AIO_OP_READ)
			r = preadv(op->fd, win, (int)n, (off_t)(op->offset + done));
		else
			r = pwritev(op->fd, win, (int)n, (off_t)(op->offset + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		/* The file ended before the request did: it shrank under us. */
		if (r == 0)
			return -EIO;
		done += (uint64_t)r;
	}
	return (int64_t)done;
}

static int64_t aio_run_sync(const struct aio_op *op)
{
	switch (op->opcode) {
	case AIO_OP_READ:
	case AIO_OP_WRITE:
		return aio_rw_sync(op, 0);
	case AIO_OP_FDATASYNC:
		return fdatasync(op->fd) ? -errno : 0;
	case AIO_OP_FALLOCATE:
		return fallocate(op->fd, op->mode, (off_t)op->offset, (off_t)op->len) ? -errno : 0;
	}
	return -EINVAL;
}

/* Runs op's callback, then lets aio_destroy know when the last one is over. */
static void aio_finish(struct aio *a, struct aio_op *op, int64_t result)
{
	op->done(op, result);
	pthread_mutex_lock(&a->lock);
	if (!--a->inflight)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
}

/* --- io_uring --- */

static void aio_uring_prep(struct io_uring_sqe *sqe, struct aio_op *op)
{
	switch (op->opcode) {
	case AIO_OP_READ:
		io_uring_prep_readv(sqe, op->fd, op->iov, op->niov, op->offset);
		break;
	case AIO_OP_WRITE:
		io_uring_prep_writev(sqe, op->fd, op->iov, op->niov, op->offset);
		break;
	case AIO_OP_FDATASYNC:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	case AIO_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, op->fd, op->mode, (off_t)op->offset, (off_t)op->len);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

/*
 * Lock held. Moves queued operations into the submission queue while the
 * completion queue has room for them, and tells the kernel. A refused
 * io_uring_enter leaves the entries in the ring: the next call (from a
 * submitter, or the reaper after a completion or its poll timeout) retries.
 */
static void aio_uring_kick(struct aio *a)
{
	struct io_uring_sqe *sqe;
	int rc;

	while (a->head && a->in_ring < AIO_CQ_ENTRIES && (sqe = io_uring_get_sqe(&a->ring))) {
		aio_uring_prep(sqe, aio_queue_pop(a));
		a->in_ring++;
	}
	if (!io_uring_sq_ready(&a->ring))
		return;
	do
		rc = io_uring_submit(&a->ring);
	while (rc == -EINTR);
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
		log_err("aio", "io_uring_enter: %s", strerror(-rc));
}

/*
 * Lock held. Wakes the reaper if the kernel has operations nobody waits for
 * (no aio_poll session is open), or short transfers are waiting to be finished.
 */
static void aio_uring_arm(struct aio *a)
{
	if (a->armed || (!a->short_head && (!a->in_ring || a->pollers)))
		return;
	a->armed = true;
	pthread_cond_signal(&a->work);
}

/*
 * Lock held. A short transfer was queued for the reaper: wake it from its
 * idle sleep, or, if it may be waiting on the ring for completions that take
 * long (or already came), with a NOP; failing that, its poll timeout.
 */
static void aio_uring_wake_short(struct aio *a)
{
	struct io_uring_sqe *sqe;

	if (!a->armed) {
		aio_uring_arm(a);
		return;
	}
	if (a->in_ring >= AIO_CQ_ENTRIES || !(sqe = io_uring_get_sqe(&a->ring)))
		return;
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	a->in_ring++;
	io_uring_submit(&a->ring);
}

/* Lock held. Takes up to AIO_REAP_BATCH completions off the ring; returns how many. */
static unsigned aio_uring_take(struct aio *a, struct aio_op **ops, int *res)
{
	struct io_uring_cqe *cqes[AIO_REAP_BATCH];
	unsigned n = io_uring_peek_batch_cqe(&a->ring, cqes, AIO_REAP_BATCH);

	for (unsigned i = 0; i < n; i++) {
		ops[i] = io_uring_cqe_get_data(cqes[i]);
		res[i] = cqes[i]->res;
	}
	io_uring_cq_advance(&a->ring, n);
	a->in_ring -= n;
	return n;
}

/*
 * One completion, lock not held. The reaper finishes a short transfer itself;
 * another thread (whose system call filter has no preadv/pwritev) leaves it
 * to the reaper.
 */
static void aio_uring_complete(struct aio *a, struct aio_op *op, int res, bool reaper)
{
	int64_t result = res;

	/* A NULL op is aio_destroy's wake-up NOP. */
	if (!op)
		return;
	/* The kernel could not start it right now: nothing was done, so go again. */
	if (res == -EAGAIN || res == -EINTR) {
		pthread_mutex_lock(&a->lock);
		aio_queue_push(a, op, true);
		pthread_mutex_unlock(&a->lock);
		return;
	}
	/* Short transfers are rare (signals, a file being truncated): finish them blocking. */
	if ((op->opcode == AIO_OP_READ || op->opcode == AIO_OP_WRITE) && res >= 0 &&
	    (uint64_t)res < op->len) {
		if (!reaper) {
			/* The bytes done so far wait in mode, which READ/WRITE do not use. */
			op->mode = res;
			pthread_mutex_lock(&a->lock);
			op->next = NULL;
			if (a->short_tail)
				a->short_tail->next = op;
			else
				a->short_head = op;
			a->short_tail = op;
			aio_uring_wake_short(a);
			pthread_mutex_unlock(&a->lock);
			return;
		}
		result = aio_rw_sync(op, (uint64_t)res);
	}
	aio_finish(a, op, result);
}

/*
 * Lock held; returns with it held, having dropped it meanwhile. Runs the
 * callbacks of everything the ring holds now, then hands over what they (and
 * retries) queued, unless plugged. Returns how many completions it took.
 */
static unsigned aio_uring_reap(struct aio *a, bool reaper)
{
	struct aio_op *ops[AIO_REAP_BATCH];
	int res[AIO_REAP_BATCH];
	unsigned n, total = 0;

	while ((n = aio_uring_take(a, ops, res))) {
		pthread_mutex_unlock(&a->lock);
		for (unsigned i = 0; i < n; i++)
			aio_uring_complete(a, ops[i], res[i], reaper);
		pthread_mutex_lock(&a->lock);
		total += n;
		if (n < AIO_REAP_BATCH)
			break;
	}
	if (!a->plugged)
		aio_uring_kick(a);
	return total;
}

/*
 * An engine thread's first act: the disk role's system call filter (the
 * thread may have been created before the creating thread had one). The
 * creator waits for the outcome in aio_wait_started, so a thread that could
 * not be filtered never runs a request.
 */
static int aio_thread_enter(struct aio *a, const char *name)
{
	int rc;

	pthread_setname_np(pthread_self(), name);
	rc = sandbox_apply(SANDBOX_DISK);
	pthread_mutex_lock(&a->lock);
	a->started++;
	if (rc && !a->start_rc)
		a->start_rc = rc;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int aio_wait_started(struct aio *a, unsigned n)
{
	int rc;

	pthread_mutex_lock(&a->lock);
	while (a->started < n)
		pthread_cond_wait(&a->idle, &a->lock);
	rc = a->start_rc;
	a->started = 0;
	a->start_rc = 0;
	pthread_mutex_unlock(&a->lock);
	if (rc)
		log_err("aio", "cannot install the disk threads' system call filter: %s",
			strerror(-rc));
	return rc;
}

/* Lock held; returns with it held. Finishes the short transfers inline reaping left us. */
static void aio_uring_finish_short(struct aio *a)
{
	struct aio_op *op = a->short_head, *next;

	a->short_head = a->short_tail = NULL;
	pthread_mutex_unlock(&a->lock);
	for (; op; op = next) {
		next = op->next;
		aio_finish(a, op, aio_rw_sync(op, (uint64_t)op->mode));
	}
	pthread_mutex_lock(&a->lock);
}

static void *aio_uring_reaper(void *arg)
{
	struct aio *a = arg;

	if (aio_thread_enter(a, "disk-uring"))
		return NULL;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		struct io_uring_getevents_arg ext;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = AIO_REAPER_POLL_NS};
		int rc;

		/*
		 * Nothing in the kernel, or a poll session reaps it: off the
		 * ring, so that completions reaped elsewhere do not wake us.
		 */
		while ((!a->in_ring || a->pollers) && !a->short_head && !a->stopping) {
			a->armed = false;
			pthread_cond_wait(&a->work, &a->lock);
		}
		a->armed = true;
		if (a->short_head) {
			aio_uring_finish_short(a);
			continue;
		}
		if (a->stopping && !a->in_ring && !a->head)
			break;
		pthread_mutex_unlock(&a->lock);
		/*
		 * A bare wait: liburing's would peek at the completion queue
		 * outside the lock. The kernel returns at once if completions
		 * are there, and re-reads the head under its own lock.
		 */
		memset(&ext, 0, sizeof(ext));
		ext.ts = (uint64_t)(uintptr_t)&ts;
		rc = io_uring_enter2((unsigned)a->ring.ring_fd, 0, 1,
				     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				     (sigset_t *)&ext, sizeof(ext));
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			/* Not expected from a healthy ring: sleep so as not to spin. */
			log_err("aio", "io_uring wait: %s", strerror(-rc));
			usleep(AIO_REAPER_POLL_NS / 1000);
		}
		pthread_mutex_lock(&a->lock);
		aio_uring_reap(a, true);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* Whether the kernel has what we rely on; -EOPNOTSUPP (with a log line) if not. */
static int aio_uring_check(struct aio *a, const struct io_uring_params *p)
{
	static const struct {
		int op;
		const char *name;
	} need[] = {
	    {IORING_OP_NOP, "NOP"},
	    {IORING_OP_READV, "READV"},
	    {IORING_OP_WRITEV, "WRITEV"},
	    {IORING_OP_FSYNC, "FSYNC"},
	    {IORING_OP_FALLOCATE, "FALLOCATE"},
	};
	struct io_uring_probe *probe;
	int rc = 0;

	/*
	 * EXT_ARG: timed waits without a submission entry, so that the reaper
	 * never touches the submission queue outside the lock.
	 */
	if (!(p->features & IORING_FEAT_EXT_ARG)) {
		log_info("aio", "io_uring lacks IORING_FEAT_EXT_ARG (kernel older than 5.11)");
		return -EOPNOTSUPP;
	}
	probe = io_uring_get_probe_ring(&a->ring);
	if (!probe) {
		log_info("aio", "io_uring cannot be probed for its operations");
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]) && !rc; i++) {
		if (!io_uring_opcode_supported(probe, need[i].op)) {
			log_info("aio", "io_uring lacks IORING_OP_%s", need[i].name);
			rc = -EOPNOTSUPP;
		}
	}
	io_uring_free_probe(probe);
	return rc;
}

static int aio_uring_start(struct aio *a)
{
	struct io_uring_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = AIO_CQ_ENTRIES;
	rc = io_uring_queue_init_params(AIO_SQ_ENTRIES, &a->ring, &p);
	if (rc < 0)
		return rc;
	rc = aio_uring_check(a, &p);
	if (!rc)
		rc = -pthread_create(&a->reaper, NULL, aio_uring_reaper, a);
	if (!rc) {
		rc = aio_wait_started(a, 1);
		if (rc)
			pthread_join(a->reaper, NULL); /* it returned without running */
	}
	if (rc) {
		io_uring_queue_exit(&a->ring);
		return rc;
	}
	a->engine = AIO_ENGINE_URING;
	return 0;
}

/* --- thread pool --- */

static void *aio_pool_worker(void *arg)
{
	struct aio *a = arg;

	if (aio_thread_enter(a, "disk-worker"))
		return NULL;

	for (;;) {
		struct aio_op *op;

		pthread_mutex_lock(&a->lock);
		while (!a->head && !a->stopping)
			pthread_cond_wait(&a->work, &a->lock);
		op = aio_queue_pop(a);
		pthread_mutex_unlock(&a->lock);
		if (!op)
			return NULL;
		aio_finish(a, op, aio_run_sync(op));
	}
}

static void aio_pool_stop(struct aio *a)
{
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < a->nworkers; i++)
		pthread_join(a->workers[i], NULL);
	a->nworkers = 0;
}

static int aio_pool_start(struct aio *a)
{
	int rc;

	for (unsigned i = 0; i < AIO_POOL_THREADS; i++) {
		rc = pthread_create(&a->workers[i], NULL, aio_pool_worker, a);
		if (rc) {
			aio_pool_stop(a);
			return -rc;
		}
		a->nworkers++;
	}
	rc = aio_wait_started(a, a->nworkers);
	if (rc) {
		aio_pool_stop(a);
		return rc;
	}
	a->engine = AIO_ENGINE_THREADS;
	return 0;
}

/* --- interface --- */

int aio_create(enum aio_engine engine, struct aio **out)
{
	struct aio *a = calloc(1, sizeof(*a));
	int rc = -ENOMEM;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	if (pthread_mutex_init(&a->lock, NULL))
		goto fail_free;
	if (pthread_cond_init(&a->idle, NULL))
		goto fail_mutex;
	if (pthread_cond_init(&a->work, NULL))
		goto fail_idle;
	rc = -EINVAL;
	if (engine == AIO_ENGINE_URING || engine == AIO_ENGINE_AUTO) {
		rc = aio_uring_start(a);
		if (rc && engine == AIO_ENGINE_AUTO)
			log_info("aio", "io_uring unavailable (%s): using a pool of %d threads",
				 strerror(-rc), AIO_POOL_THREADS);
	}
	if (engine == AIO_ENGINE_THREADS || (rc && engine == AIO_ENGINE_AUTO))
		rc = aio_pool_start(a);
	if (rc)
		goto fail_work;
	*out = a;
	return 0;

fail_work:
	pthread_cond_destroy(&a->work);
fail_idle:
	pthread_cond_destroy(&a->idle);
fail_mutex:
	pthread_mutex_destroy(&a->lock);
fail_free:
	free(a);
	return rc;
}

void aio_destroy(struct aio *a)
{
	struct io_uring_sqe *sqe;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	while (a->inflight)
		pthread_cond_wait(&a->idle, &a->lock);
	if (a->engine == AIO_ENGINE_THREADS) {
		pthread_mutex_unlock(&a->lock);
		aio_pool_stop(a);
	} else {
		/*
		 * Wake the reaper: off the ring through the condition variable,
		 * on it with a NOP; failing both, its poll timeout sees `stopping`.
		 */
		a->stopping = true;
		pthread_cond_signal(&a->work);
		sqe = io_uring_get_sqe(&a->ring);
		if (sqe) {
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data(sqe, NULL);
			a->in_ring++;
			aio_uring_kick(a);
		}
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->reaper, NULL);
		io_uring_queue_exit(&a->ring);
	}
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int aio_submit(struct aio *a, struct aio_op *op)
{
	if (!op->done || op->opcode > AIO_OP_FALLOCATE ||
	    ((op->opcode == AIO_OP_READ || op->opcode == AIO_OP_WRITE) &&
	     (!op->niov || op->niov > AIO_MAX_IOV)))
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	a->inflight++;
	aio_queue_push(a, op, false);
	if (a->engine == AIO_ENGINE_THREADS) {
		pthread_cond_signal(&a->work);
	} else if (!a->plugged) {
		aio_uring_kick(a);
		aio_uring_arm(a);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

void aio_plug(struct aio *a)
{
	if (a->engine != AIO_ENGINE_URING)
		return;
	pthread_mutex_lock(&a->lock);
	a->plugged++;
	pthread_mutex_unlock(&a->lock);
}

void aio_unplug(struct aio *a)
{
	if (a->engine != AIO_ENGINE_URING)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->plugged && !--a->plugged) {
		aio_uring_kick(a);
		aio_uring_reap(a, false);
		/* What did not complete inside io_uring_enter is the reaper's to wait for. */
		aio_uring_arm(a);
	}
	pthread_mutex_unlock(&a->lock);
}

void aio_poll_begin(struct aio *a)
{
	if (a->engine != AIO_ENGINE_URING)
		return;
	pthread_mutex_lock(&a->lock);
	a->pollers++;
	pthread_mutex_unlock(&a->lock);
}

unsigned aio_poll(struct aio *a)
{
	unsigned n;

	if (a->engine != AIO_ENGINE_URING)
		return 0;
	pthread_mutex_lock(&a->lock);
	n = aio_uring_reap(a, false);
	pthread_mutex_unlock(&a->lock);
	return n;
}

unsigned aio_poll_wait(struct aio *a, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = {.tv_sec = (long long)(timeout_ns / 1000000000u),
				       .tv_nsec = (long long)(timeout_ns % 1000000000u)};
	struct io_uring_getevents_arg ext;
	bool wait;

	if (a->engine != AIO_ENGINE_URING)
		return 0;
	pthread_mutex_lock(&a->lock);
	/* Nothing in the kernel would mean sleeping the whole timeout for nothing. */
	wait = a->in_ring && !io_uring_cq_ready(&a->ring);
	pthread_mutex_unlock(&a->lock);
	if (wait) {
		/* As the reaper waits (a bare wait); the reaper itself is not armed meanwhile. */
		memset(&ext, 0, sizeof(ext));
		ext.ts = (uint64_t)(uintptr_t)&ts;
		io_uring_enter2((unsigned)a->ring.ring_fd, 0, 1,
				IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *)&ext,
				sizeof(ext));
	}
	return aio_poll(a);
}

void aio_poll_end(struct aio *a)
{
	if (a->engine != AIO_ENGINE_URING)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->pollers)
		a->pollers--;
	aio_uring_arm(a);
	pthread_mutex_unlock(&a->lock);
}
