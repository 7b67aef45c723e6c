/* SPDX-License-Identifier: MIT */
/*
 * Disks (block/block.h) over temporary raw images, once with each I/O engine
 * (io_uring, skipped where the kernel refuses it, and the thread pool): open
 * checks and their messages, the image lock, read-only refusals, round trips
 * with scattered buffers, refusals before I/O, flush, discard punching holes,
 * write zeroes (and its fallback to writing zeros), batching with
 * block_plug/block_unplug, draining on close, and a
 * flushed write surviving the SIGKILL of the process that made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "block/block.h"

#define MiB (1024u * 1024)

struct group {
	enum aio_engine engine;
	bool usable;
	char dir[256];
};

struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	unsigned done;
	int64_t res;
	pthread_t thread;
};

static void waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
}

static void waiter_done(struct block_req *r, int64_t res)
{
	struct waiter *w = r->opaque;

	pthread_mutex_lock(&w->m);
	w->res = res;
	w->thread = pthread_self();
	w->done++;
	pthread_cond_broadcast(&w->c);
	pthread_mutex_unlock(&w->m);
}

static void waiter_wait(struct waiter *w, unsigned n)
{
	pthread_mutex_lock(&w->m);
	while (w->done < n)
		pthread_cond_wait(&w->c, &w->m);
	pthread_mutex_unlock(&w->m);
}

/* Submits r and waits for it: its result, or block_submit's refusal. */
static int64_t run_req(struct block_dev *b, struct block_req *r)
{
	struct waiter w;
	int rc;

	waiter_init(&w);
	r->done = waiter_done;
	r->opaque = &w;
	rc = block_submit(b, r);
	if (rc)
		return rc;
	waiter_wait(&w, 1);
	assert_int_equal(w.done, 1);
	return w.res;
}

static int64_t do_rw(struct block_dev *b, enum block_op op, uint64_t off, struct iovec *iov,
		     unsigned n)
{
	struct block_req r;
	uint64_t len = 0;

	for (unsigned i = 0; i < n; i++)
		len += iov[i].iov_len;
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.offset = off;
	r.iov = iov;
	r.niov = n;
	r.len = len;
	return run_req(b, &r);
}

static int64_t do_range(struct block_dev *b, enum block_op op, uint64_t off, uint64_t len,
			unsigned flags)
{
	struct block_req r;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.offset = off;
	r.len = len;
	r.flags = flags;
	return run_req(b, &r);
}

static char *img_path(const struct group *g, const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", g->dir, name);
	return path;
}

/* The byte filling sector s of an image made with seed: never 0, so zeroing shows. */
static uint8_t pat(uint64_t s, uint8_t seed)
{
	uint8_t v = (uint8_t)(s + seed);

	return v ? v : 0xa5;
}

/* A file of size bytes, each 512-byte sector filled with pat(sector, seed). */
static void make_image(const char *path, uint64_t size, uint8_t seed)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t sec[512];

	assert_true(fd >= 0);
	for (uint64_t s = 0; s < size / 512; s++) {
		memset(sec, pat(s, seed), sizeof(sec));
		assert_int_equal(pwrite(fd, sec, sizeof(sec), (off_t)(s * 512)), 512);
	}
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void read_file(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static struct block_dev *open_ok(const struct group *g, const char *path, bool ro)
{
	char err[256] = "";
	struct block_dev *b = block_open_engine(path, ro, g->engine, err, sizeof(err));

	if (!b)
		fail_msg("block_open %s: %s", path, err);
	assert_int_equal(block_engine(b), g->engine);
	return b;
}

static void open_fails(const struct group *g, const char *path, bool ro, int err_no,
		       const char *msg)
{
	char err[256] = "";
	struct block_dev *b = block_open_engine(path, ro, g->engine, err, sizeof(err));

	assert_null(b);
	assert_int_equal(errno, err_no);
	if (!strstr(err, msg))
		fail_msg("error '%s' lacks '%s'", err, msg);
	assert_non_null(strstr(err, path));
}

static int group_setup(void **state, enum aio_engine engine)
{
	struct group *g = calloc(1, sizeof(*g));
	const char *tmp = getenv("TMPDIR");
	struct aio *a;

	assert_non_null(g);
	g->engine = engine;
	snprintf(g->dir, sizeof(g->dir), "%s/kvmm-block-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(g->dir));
	g->usable = !aio_create(engine, &a);
	if (g->usable)
		aio_destroy(a);
	else
		print_message("%s engine unavailable here: its tests are skipped\n",
			      aio_engine_name(engine));
	*state = g;
	return 0;
}

static int group_setup_uring(void **state)
{
	return group_setup(state, AIO_ENGINE_URING);
}

static int group_setup_threads(void **state)
{
	return group_setup(state, AIO_ENGINE_THREADS);
}

static int group_teardown(void **state)
{
	struct group *g = *state;
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g->dir);
	assert_int_equal(system(cmd), 0);
	free(g);
	return 0;
}

#define NEED_ENGINE(g)                                                                             \
	do {                                                                                       \
		if (!(g)->usable)                                                                  \
			skip();                                                                    \
	} while (0)

static void test_open_basic(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "basic.img");
	struct block_dev *b;
	char serial[BLOCK_SERIAL_MAX + 1];

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	b = open_ok(g, p, false);
	assert_int_equal(block_size(b), MiB);
	assert_false(block_readonly(b));
	assert_string_equal(block_format(b), "raw");
	assert_string_equal(block_path(b), p);
	assert_true(strlen(block_serial(b)) > 5 && strlen(block_serial(b)) <= BLOCK_SERIAL_MAX);
	assert_memory_equal(block_serial(b), "kvmm-", 5);
	strcpy(serial, block_serial(b));
	block_close(b);
	/* Stable across opens of the same file; another file gets another one. */
	b = open_ok(g, p, true);
	assert_true(block_readonly(b));
	assert_string_equal(block_serial(b), serial);
	block_close(b);
	make_image(img_path(g, "other.img"), MiB, 0);
	b = open_ok(g, img_path(g, "other.img"), false);
	assert_string_not_equal(block_serial(b), serial);
	block_close(b);
}

static void test_lock(void **state)
{
	struct group *g = *state;
	char p[512];
	struct block_dev *a, *b;
	const char *msg = "is locked by another process (in use by another VM?)";

	NEED_ENGINE(g);
	strcpy(p, img_path(g, "lock.img"));
	make_image(p, MiB, 0);
	a = open_ok(g, p, false);
	/* A writer excludes a second writer and any reader, in this process too. */
	open_fails(g, p, false, EBUSY, msg);
	open_fails(g, p, true, EBUSY, msg);
	block_close(a);
	/* Readers share; a writer waits for all of them. */
	a = open_ok(g, p, true);
	b = open_ok(g, p, true);
	open_fails(g, p, false, EBUSY, msg);
	block_close(a);
	open_fails(g, p, false, EBUSY, msg);
	block_close(b);
	a = open_ok(g, p, false);
	block_close(a);
}

static void test_open_refusals(void **state)
{
	struct group *g = *state;
	char p[512];

	NEED_ENGINE(g);
	strcpy(p, img_path(g, "empty.img"));
	make_image(p, 0, 0);
	open_fails(g, p, false, EINVAL, "is empty");
	strcpy(p, img_path(g, "odd.img"));
	make_image(p, 1024, 0);
	assert_int_equal(truncate(p, 1000), 0);
	open_fails(g, p, false, EINVAL, "size 1000 is not a multiple of 512 bytes");
	open_fails(g, p, true, EINVAL, "size 1000 is not a multiple of 512 bytes");
	open_fails(g, g->dir, true, EINVAL, "not a regular file or block device");
	/* A FIFO is refused, without hanging in open(2). */
	strcpy(p, img_path(g, "fifo"));
	assert_int_equal(mkfifo(p, 0600), 0);
	open_fails(g, p, true, EINVAL, "not a regular file or block device");
	strcpy(p, img_path(g, "missing.img"));
	open_fails(g, p, false, ENOENT, strerror(ENOENT));
	/* A character device is not a disk either. */
	open_fails(g, "/dev/null", true, EINVAL, "not a regular file or block device");
}

static void test_readonly(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "ro.img");
	uint8_t buf[1024], want[1024];
	struct iovec iov = {buf, sizeof(buf)};
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, MiB, 3);
	b = open_ok(g, p, true);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 512, &iov, 1), 1024);
	read_file(p, 512, want, sizeof(want));
	assert_memory_equal(buf, want, sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(do_rw(b, BLOCK_OP_WRITE, 0, &iov, 1), -EROFS);
	assert_int_equal(do_range(b, BLOCK_OP_DISCARD, 0, 4096, 0), -EROFS);
	assert_int_equal(do_range(b, BLOCK_OP_WRITE_ZEROES, 0, 4096, 0), -EROFS);
	assert_int_equal(do_range(b, BLOCK_OP_WRITE_ZEROES, 0, 4096, BLOCK_REQ_MAY_UNMAP), -EROFS);
	assert_int_equal(do_range(b, BLOCK_OP_FLUSH, 0, 0, 0), 0);
	block_close(b);
	read_file(p, 0, buf, sizeof(buf));
	assert_int_equal(buf[0], pat(0, 3));
	assert_int_equal(buf[600], pat(1, 3));
}

/* Writes a pattern split over uneven buffers and reads it back split differently. */
static void rw_at(struct block_dev *b, const char *path, uint64_t off, uint8_t seed)
{
	static uint8_t w[8192], r[8192], f[8192];
	struct iovec wi[4] = {{w, 512}, {w + 512, 1536}, {w + 2048, 100}, {w + 2148, 8192 - 2148}};
	struct iovec ri[3] = {{r, 4096}, {r + 4096, 7}, {r + 4103, 8192 - 4103}};

	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7 + seed);
	memset(r, 0, sizeof(r));
	assert_int_equal(do_rw(b, BLOCK_OP_WRITE, off, wi, 4), 8192);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, off, ri, 3), 8192);
	assert_memory_equal(r, w, sizeof(w));
	/* And it is in the file, for any other reader. */
	read_file(path, off, f, sizeof(f));
	assert_memory_equal(f, w, sizeof(w));
}

static void test_rw_roundtrip(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "rw.img");
	const uint64_t size = 4 * MiB;
	struct block_dev *b;
	uint8_t sec[512];

	NEED_ENGINE(g);
	make_image(p, size, 0);
	b = open_ok(g, p, false);
	rw_at(b, p, 0, 1);
	rw_at(b, p, 512, 2);
	rw_at(b, p, 3 * 4096 + 1536, 3);
	rw_at(b, p, size - 8192, 4); /* the very end */
	/* Neighbours of a write are untouched. */
	read_file(p, 3 * 4096 + 1024, sec, sizeof(sec));
	assert_int_equal(sec[0], pat((3 * 4096 + 1024) / 512, 0));
	read_file(p, 3 * 4096 + 1536 + 8192, sec, sizeof(sec));
	assert_int_equal(sec[0], pat((3 * 4096 + 1536 + 8192) / 512, 0));
	block_close(b);
}

#define NPAR 64
static void test_many_in_flight(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "par.img");
	static uint8_t bufs[NPAR][16384], back[16384];
	struct block_req reqs[NPAR];
	struct iovec iovs[NPAR][4];
	struct waiter w;
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, NPAR * 16384, 0);
	b = open_ok(g, p, false);
	waiter_init(&w);
	/* All queued at once; each 16 KiB in four buffers. */
	for (unsigned i = 0; i < NPAR; i++) {
		memset(bufs[i], (int)(i + 1), sizeof(bufs[i]));
		for (unsigned k = 0; k < 4; k++)
			iovs[i][k] = (struct iovec){bufs[i] + 4096 * k, 4096};
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].op = BLOCK_OP_WRITE;
		reqs[i].offset = (uint64_t)((i * 37) % NPAR) * 16384;
		reqs[i].iov = iovs[i];
		reqs[i].niov = 4;
		reqs[i].len = 16384;
		reqs[i].done = waiter_done;
		reqs[i].opaque = &w;
		assert_int_equal(block_submit(b, &reqs[i]), 0);
	}
	block_drain(b);
	assert_int_equal(w.done, NPAR);
	for (unsigned i = 0; i < NPAR; i++) {
		read_file(p, reqs[i].offset, back, sizeof(back));
		assert_memory_equal(back, bufs[i], sizeof(back));
	}
	/* A big one: 1 MiB in 256 buffers. */
	{
		uint8_t *big = malloc(MiB), *chk = malloc(MiB);
		struct iovec *iv = calloc(256, sizeof(*iv));

		assert_true(big && chk && iv);
		for (unsigned i = 0; i < MiB; i++)
			big[i] = (uint8_t)(i ^ (i >> 9));
		for (unsigned i = 0; i < 256; i++)
			iv[i] = (struct iovec){big + 4096 * i, 4096};
		assert_int_equal(do_rw(b, BLOCK_OP_WRITE, 0, iv, 256), MiB);
		memset(big, 0, MiB);
		assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, iv, 256), MiB);
		read_file(p, 0, chk, MiB);
		assert_memory_equal(big, chk, MiB);
		free(big);
		free(chk);
		free(iv);
	}
	block_close(b);
}

static void test_bounds(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "bounds.img");
	static uint8_t buf[4096];
	struct iovec iov = {buf, 1024}, many[AIO_MAX_IOV + 1];
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	b = open_ok(g, p, false);
	/* Past the end, straddling it, wrapping around: refused before any I/O. */
	assert_int_equal(do_rw(b, BLOCK_OP_READ, MiB, &iov, 1), -EINVAL);
	assert_int_equal(do_rw(b, BLOCK_OP_WRITE, MiB - 512, &iov, 1), -EINVAL);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, UINT64_MAX - 511, &iov, 1), -EINVAL);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, MiB - 1024, &iov, 1), 1024);
	assert_int_equal(do_range(b, BLOCK_OP_DISCARD, MiB - 512, 1024, 0), -EINVAL);
	assert_int_equal(do_range(b, BLOCK_OP_WRITE_ZEROES, 512, UINT64_MAX - 511, 0), -EINVAL);
	/* Not whole sectors. */
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 100, &iov, 1), -EINVAL);
	iov.iov_len = 1000;
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, &iov, 1), -EINVAL);
	assert_int_equal(do_range(b, BLOCK_OP_DISCARD, 0, 100, 0), -EINVAL);
	/* Nothing to do is a caller's mistake too. */
	assert_int_equal(do_range(b, BLOCK_OP_DISCARD, 0, 0, 0), -EINVAL);
	iov.iov_len = 0;
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, &iov, 1), -EINVAL);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, &iov, 0), -EINVAL);
	/* len must be what the buffers hold; at most AIO_MAX_IOV buffers. */
	{
		struct block_req r;

		iov.iov_len = 1024;
		memset(&r, 0, sizeof(r));
		r.op = BLOCK_OP_READ;
		r.iov = &iov;
		r.niov = 1;
		r.len = 512;
		assert_int_equal(run_req(b, &r), -EINVAL);
		r.len = 2048;
		assert_int_equal(run_req(b, &r), -EINVAL);
		r.op = (enum block_op)99;
		r.len = 1024;
		assert_int_equal(run_req(b, &r), -EINVAL);
	}
	for (unsigned i = 0; i <= AIO_MAX_IOV; i++)
		many[i] = (struct iovec){buf, 512};
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, many, AIO_MAX_IOV + 1), -EINVAL);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 0, many, AIO_MAX_IOV), 512 * AIO_MAX_IOV);
	block_close(b);
}

/* Whether this file system punches holes (some, like overlay on old kernels, do not). */
static bool can_punch(const char *dir)
{
	char p[512];
	int fd;
	bool ok;

	snprintf(p, sizeof(p), "%s/punch-probe", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	ok = !ftruncate(fd, 65536) &&
	     !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 65536);
	close(fd);
	unlink(p);
	return ok;
}

static void test_flush_discard(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "discard.img");
	static uint8_t buf[MiB];
	struct iovec iov = {buf, sizeof(buf)};
	struct block_dev *b;
	struct stat before, after;

	NEED_ENGINE(g);
	make_image(p, 4 * MiB, 1);
	b = open_ok(g, p, false);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(do_rw(b, BLOCK_OP_WRITE, MiB, &iov, 1), MiB);
	assert_int_equal(do_range(b, BLOCK_OP_FLUSH, 0, 0, 0), 0);
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(do_range(b, BLOCK_OP_DISCARD, MiB, MiB, 0), 0);
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(after.st_size, 4 * MiB);
	if (can_punch(g->dir)) {
		/* A hole now: about 1 MiB (2048 blocks of 512) fewer allocated. */
		assert_true(after.st_blocks + 1900 <= before.st_blocks);
		memset(buf, 0xff, sizeof(buf));
		assert_int_equal(do_rw(b, BLOCK_OP_READ, MiB, &iov, 1), MiB);
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0);
	}
	/* The sectors on either side keep their data. */
	iov.iov_len = 512;
	assert_int_equal(do_rw(b, BLOCK_OP_READ, MiB - 512, &iov, 1), 512);
	assert_int_equal(buf[0], pat(MiB / 512 - 1, 1));
	assert_int_equal(do_rw(b, BLOCK_OP_READ, 2 * MiB, &iov, 1), 512);
	assert_int_equal(buf[0], pat(2 * MiB / 512, 1));
	block_close(b);
}

/* Write zeroes over [off, off + len) of an image full of non-zero sectors, and check. */
static void zeroes_check(struct block_dev *b, const char *p, uint64_t off, uint64_t len,
			 unsigned flags)
{
	uint8_t *buf = malloc(len + 1024);
	struct iovec iov = {buf, len + 1024};

	assert_non_null(buf);
	assert_int_equal(do_range(b, BLOCK_OP_WRITE_ZEROES, off, len, flags), 0);
	assert_int_equal(do_rw(b, BLOCK_OP_READ, off - 512, &iov, 1), (int64_t)(len + 1024));
	assert_int_not_equal(buf[0], 0);
	assert_int_not_equal(buf[len + 512], 0);
	for (uint64_t i = 512; i < len + 512; i++)
		if (buf[i])
			fail_msg("byte %llu of the zeroed range is %#x",
				 (unsigned long long)(i - 512), buf[i]);
	read_file(p, off, buf, len);
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(buf[i], 0);
	free(buf);
}

static void test_write_zeroes(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "zeroes.img");
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, 8 * MiB, 1);
	b = open_ok(g, p, false);
	zeroes_check(b, p, 4096, 8192, 0);
	zeroes_check(b, p, MiB + 512, 3 * MiB + 1536, 0);
	make_image(p, 8 * MiB, 1); /* same inode: b sees the new contents */
	zeroes_check(b, p, 512, 4096, BLOCK_REQ_MAY_UNMAP);
	zeroes_check(b, p, MiB, 2 * MiB, BLOCK_REQ_MAY_UNMAP);
	block_close(b);
}

/*
 * On tmpfs (a memfd here) FALLOC_FL_ZERO_RANGE is not supported: write zeroes
 * without unmap falls back to writing zeros, over several steps when large.
 */
static void test_write_zeroes_fallback(void **state)
{
	struct group *g = *state;
	char p[64];
	int fd = memfd_create("kvmm-test-zeroes", 0);
	uint8_t sec[512];
	struct block_dev *b;

	NEED_ENGINE(g);
	assert_true(fd >= 0);
	for (unsigned s = 0; s < 8 * MiB / 512; s++) {
		memset(sec, (uint8_t)(s | 1), sizeof(sec));
		assert_int_equal(pwrite(fd, sec, sizeof(sec), (off_t)s * 512), 512);
	}
	assert_int_not_equal(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 512), 0);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	b = open_ok(g, p, false);
	zeroes_check(b, p, 512, 512, 0);
	zeroes_check(b, p, MiB + 512, 3 * MiB + 1536, 0); /* more than one step of writes */
	zeroes_check(b, p, 6 * MiB, MiB, BLOCK_REQ_MAY_UNMAP);
	block_close(b);
	close(fd);
}

static void test_callback_thread(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "thread.img");
	uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct block_req r;
	struct waiter w;
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	b = open_ok(g, p, false);
	waiter_init(&w);
	memset(&r, 0, sizeof(r));
	r.op = BLOCK_OP_READ;
	r.iov = &iov;
	r.niov = 1;
	r.len = 512;
	r.done = waiter_done;
	r.opaque = &w;
	assert_int_equal(block_submit(b, &r), 0);
	waiter_wait(&w, 1);
	/* Documented: completions run on the engine's thread, never the submitter's. */
	assert_false(pthread_equal(w.thread, pthread_self()));
	block_close(b);
}

struct plugged {
	pthread_mutex_t m;
	unsigned done, inline_done, chained;
	pthread_t unplugger;
	struct block_dev *b;
	uint8_t seed;
};

/* Checks the sector read, notes where it ran, and once re-submits itself from the callback. */
static void plugged_done(struct block_req *r, int64_t res)
{
	struct plugged *pl = r->opaque;
	const uint8_t *buf = r->iov[0].iov_base;
	bool again;

	assert_int_equal(res, 512);
	assert_int_equal(buf[0], pat(r->offset / 512, pl->seed));
	assert_int_equal(buf[511], pat(r->offset / 512, pl->seed));
	pthread_mutex_lock(&pl->m);
	pl->done++;
	if (pthread_equal(pthread_self(), pl->unplugger))
		pl->inline_done++;
	again = r->flags == 0;
	if (again)
		pl->chained++;
	pthread_mutex_unlock(&pl->m);
	if (again) {
		/* A submission from a callback run inside block_unplug: not plugged any more. */
		r->flags = 1;
		r->offset += 512;
		assert_int_equal(block_submit(pl->b, r), 0);
	}
}

struct plug_submitter {
	struct plugged *pl;
	struct block_req r;
	struct iovec iov;
	uint8_t buf[512];
};

static void *plug_submit_thread(void *arg)
{
	struct plug_submitter *s = arg;

	assert_int_equal(block_submit(s->pl->b, &s->r), 0);
	return NULL;
}

#define NPLUG 24
/*
 * block_plug/block_unplug: everything submitted in between, from this
 * thread and another, completes; callbacks run on the engine's thread or on
 * the unplugging one (with io_uring, cached reads usually finish inside the
 * submission, so mostly the latter), never inside block_submit; a callback
 * run by block_unplug may submit again. Plugs nest.
 */
static void test_plug(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "plug.img");
	static uint8_t bufs[NPLUG][512];
	struct block_req reqs[NPLUG];
	struct iovec iovs[NPLUG];
	struct plug_submitter other;
	struct plugged pl;
	pthread_t t;

	NEED_ENGINE(g);
	make_image(p, MiB, 7);
	memset(&pl, 0, sizeof(pl));
	pthread_mutex_init(&pl.m, NULL);
	pl.b = open_ok(g, p, true);
	pl.seed = 7;
	pl.unplugger = pthread_self();
	block_plug(pl.b);
	block_plug(pl.b);
	for (unsigned i = 0; i < NPLUG; i++) {
		iovs[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].op = BLOCK_OP_READ;
		reqs[i].offset = (uint64_t)i * 4096;
		reqs[i].iov = &iovs[i];
		reqs[i].niov = 1;
		reqs[i].len = 512;
		reqs[i].done = plugged_done;
		reqs[i].opaque = &pl;
		/* Only the first half chains a second read. */
		reqs[i].flags = i < NPLUG / 2 ? 0 : 1;
		assert_int_equal(block_submit(pl.b, &reqs[i]), 0);
	}
	memset(&other, 0, sizeof(other));
	other.pl = &pl;
	other.iov = (struct iovec){other.buf, sizeof(other.buf)};
	other.r = (struct block_req){.op = BLOCK_OP_READ,
				     .offset = 200 * 512,
				     .iov = &other.iov,
				     .niov = 1,
				     .len = 512,
				     .flags = 1,
				     .done = plugged_done,
				     .opaque = &pl};
	assert_int_equal(pthread_create(&t, NULL, plug_submit_thread, &other), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* Nothing has run on this thread yet: block_submit never runs a callback. */
	pthread_mutex_lock(&pl.m);
	assert_int_equal(pl.inline_done, 0);
	pthread_mutex_unlock(&pl.m);
	block_unplug(pl.b); /* still plugged once */
	block_unplug(pl.b);
	block_drain(pl.b);
	assert_int_equal(pl.done, NPLUG + 1 + NPLUG / 2);
	assert_int_equal(pl.chained, NPLUG / 2);
	print_message("%u of %u callbacks ran inside block_unplug\n", pl.inline_done, pl.done);
	if (block_engine(pl.b) == AIO_ENGINE_THREADS)
		assert_int_equal(pl.inline_done, 0);
	block_close(pl.b);
	pthread_mutex_destroy(&pl.m);
}

/*
 * A poll session: requests left in the kernel complete through block_poll /
 * block_poll_wait on this thread, not on the engine's (with io_uring; the
 * thread pool's workers run them as always); block_poll_end hands back what
 * is left.
 */
static void test_poll_session(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "poll.img");
	static uint8_t bufs[NPLUG][512];
	struct block_req reqs[NPLUG];
	struct iovec iovs[NPLUG];
	struct plugged pl;
	struct timespec t0, t;

	NEED_ENGINE(g);
	make_image(p, MiB, 3);
	memset(&pl, 0, sizeof(pl));
	pthread_mutex_init(&pl.m, NULL);
	pl.b = open_ok(g, p, false);
	pl.seed = 3;
	pl.unplugger = pthread_self();
	block_poll_begin(pl.b);
	/* Nothing in flight: returns at once. */
	assert_int_equal(block_poll_wait(pl.b, 1000000000u), 0);
	for (unsigned i = 0; i < NPLUG; i++) {
		memset(bufs[i], pat((uint64_t)i * 8, 3), sizeof(bufs[i]));
		iovs[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		memset(&reqs[i], 0, sizeof(reqs[i]));
		/* Writes of what is there, so that plugged_done's check holds. */
		reqs[i].op = BLOCK_OP_WRITE;
		reqs[i].offset = (uint64_t)i * 4096;
		reqs[i].iov = &iovs[i];
		reqs[i].niov = 1;
		reqs[i].len = 512;
		reqs[i].flags = 1;
		reqs[i].done = plugged_done;
		reqs[i].opaque = &pl;
		assert_int_equal(block_submit(pl.b, &reqs[i]), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pthread_mutex_lock(&pl.m);
		if (pl.done == NPLUG) {
			pthread_mutex_unlock(&pl.m);
			break;
		}
		pthread_mutex_unlock(&pl.m);
		block_poll_wait(pl.b, 10000000u);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 10);
	}
	block_poll_end(pl.b);
	block_drain(pl.b);
	print_message("%u of %u callbacks ran in the poll session\n", pl.inline_done, pl.done);
	if (block_engine(pl.b) == AIO_ENGINE_THREADS)
		assert_int_equal(pl.inline_done, 0);
	else
		assert_int_equal(pl.inline_done, NPLUG);
	block_close(pl.b);
	pthread_mutex_destroy(&pl.m);
}

/*
 * The image shrinks under an open disk: a read across the new end comes back
 * short, the engine continues it, finds the end and fails it with -EIO. With
 * io_uring the short part is always the reaper's (the submitting thread's
 * filter has no preadv), also when the read completed inside block_unplug
 * or a poll session.
 */
static void test_shrunk_file(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "shrink.img");
	static uint8_t buf[8192];
	struct iovec iov = {buf, sizeof(buf)};
	struct block_req r;
	struct waiter w;
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	b = open_ok(g, p, false);
	assert_int_equal(truncate(p, 512 * 1024 + 512), 0);
	for (int how = 0; how < 3; how++) {
		waiter_init(&w);
		memset(&r, 0, sizeof(r));
		r.op = BLOCK_OP_READ;
		r.offset = 512 * 1024;
		r.iov = &iov;
		r.niov = 1;
		r.len = sizeof(buf);
		r.done = waiter_done;
		r.opaque = &w;
		if (how == 1)
			block_plug(b);
		if (how == 2)
			block_poll_begin(b);
		assert_int_equal(block_submit(b, &r), 0);
		if (how == 1)
			block_unplug(b);
		if (how == 2) {
			block_poll_wait(b, 100000000u);
			block_poll_end(b);
		}
		waiter_wait(&w, 1);
		assert_int_equal(w.res, -EIO);
		if (block_engine(b) == AIO_ENGINE_URING)
			assert_false(pthread_equal(w.thread, pthread_self()));
	}
	block_close(b);
}

struct chain {
	struct block_dev *b;
	struct block_req r;
	struct iovec iov;
	uint8_t buf[512];
	unsigned left, done;
};

/* A callback that submits the next request itself, as virtio-blk's multi-segment ones do. */
static void chain_done(struct block_req *r, int64_t res)
{
	struct chain *c = r->opaque;

	assert_int_equal(res, 512);
	c->done++;
	if (c->left) {
		c->left--;
		r->offset += 512;
		assert_int_equal(block_submit(c->b, r), 0);
	}
}

static void test_close_drains(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "drain.img");
	static struct chain c[16];

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	for (int round = 0; round < 2; round++) {
		struct block_dev *b = open_ok(g, p, false);

		for (unsigned i = 0; i < 16; i++) {
			memset(&c[i], 0, sizeof(c[i]));
			c[i].b = b;
			c[i].left = 7;
			c[i].iov = (struct iovec){c[i].buf, 512};
			c[i].r.op = round ? BLOCK_OP_WRITE : BLOCK_OP_READ;
			c[i].r.offset = i * 8 * 512;
			c[i].r.iov = &c[i].iov;
			c[i].r.niov = 1;
			c[i].r.len = 512;
			c[i].r.done = chain_done;
			c[i].r.opaque = &c[i];
			assert_int_equal(block_submit(b, &c[i].r), 0);
		}
		/* Close waits for all 16 x 8, chained ones included. */
		block_close(b);
		for (unsigned i = 0; i < 16; i++)
			assert_int_equal(c[i].done, 8);
	}
}

static void test_env_engine(void **state)
{
	struct group *g = *state;
	const char *p = img_path(g, "env.img");
	enum aio_engine e;
	char err[256];
	struct block_dev *b;

	NEED_ENGINE(g);
	make_image(p, MiB, 0);
	setenv("KVMM_AIO", g->engine == AIO_ENGINE_URING ? "uring" : "threads", 1);
	b = block_open(p, false, err, sizeof(err));
	unsetenv("KVMM_AIO");
	assert_non_null(b);
	assert_int_equal(block_engine(b), g->engine);
	block_close(b);
	assert_int_equal(aio_engine_parse("io_uring", &e), 0);
	assert_int_equal(e, AIO_ENGINE_URING);
	assert_int_equal(aio_engine_parse("auto", &e), 0);
	assert_int_equal(e, AIO_ENGINE_AUTO);
	assert_int_equal(aio_engine_parse("uring2", &e), -EINVAL);
	/* Auto takes io_uring when it can, else the pool: either way, one that runs. */
	b = block_open_engine(p, false, AIO_ENGINE_AUTO, err, sizeof(err));
	assert_non_null(b);
	assert_int_not_equal(block_engine(b), AIO_ENGINE_AUTO);
	block_close(b);
}

/*
 * A write followed by a completed FLUSH is in the file even when the process
 * that made it dies by SIGKILL right after (no exit handlers, no close), and
 * the image lock dies with it.
 */
static void test_flush_survives_sigkill(void **state)
{
	struct group *g = *state;
	char p[512];
	int pipefd[2];
	pid_t pid;
	uint8_t buf[65536], back[65536];
	char c;

	NEED_ENGINE(g);
	strcpy(p, img_path(g, "durable.img"));
	make_image(p, 4 * MiB, 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct iovec iov = {buf, sizeof(buf)};
		char err[256];
		struct block_dev *b = block_open_engine(p, false, g->engine, err, sizeof(err));

		close(pipefd[0]);
		if (!b || do_rw(b, BLOCK_OP_WRITE, MiB, &iov, 1) != (int64_t)sizeof(buf) ||
		    do_range(b, BLOCK_OP_FLUSH, 0, 0, 0) != 0)
			_exit(1);
		/* Flushed: tell the parent, then wait to be killed with the disk open. */
		if (write(pipefd[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	/* The child holds the lock until it dies. */
	open_fails(g, p, false, EBUSY, "is locked by another process");
	assert_int_equal(kill(pid, SIGKILL), 0);
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	read_file(p, MiB, back, sizeof(back));
	assert_memory_equal(back, buf, sizeof(buf));
	{
		struct block_dev *b = open_ok(g, p, false);

		block_close(b);
	}
}

/* The same list for each engine, under names that say which. */
#define T(fn, engine) ((struct CMUnitTest){#fn "_" engine, fn, NULL, NULL, NULL})
#define BLOCK_TESTS(e)                                                                             \
	T(test_open_basic, e), T(test_lock, e), T(test_open_refusals, e), T(test_readonly, e),     \
	    T(test_rw_roundtrip, e), T(test_many_in_flight, e), T(test_bounds, e),                 \
	    T(test_flush_discard, e), T(test_write_zeroes, e), T(test_write_zeroes_fallback, e),   \
	    T(test_callback_thread, e), T(test_plug, e), T(test_poll_session, e),                  \
	    T(test_shrunk_file, e), T(test_close_drains, e), T(test_env_engine, e),                \
	    T(test_flush_survives_sigkill, e)

int main(void)
{
	const struct CMUnitTest uring[] = {BLOCK_TESTS("uring")};
	const struct CMUnitTest threads[] = {BLOCK_TESTS("threads")};
	int rc;

	rc =
	    cmocka_run_group_tests_name("block_io_uring", uring, group_setup_uring, group_teardown);
	rc |= cmocka_run_group_tests_name("block_threads", threads, group_setup_threads,
					  group_teardown);
	return rc;
}
