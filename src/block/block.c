/* SPDX-License-Identifier: MIT */
/*
 * The generic disk layer; see block.h and block_internal.h. Everything a
 * request or an image file could get wrong is checked here once, so that the
 * formats only see requests that fit the disk: a guest (through a device) or
 * a crafted image must never make us read or write outside the image.
 *
 * Locking follows QEMU's reasoning: an OFD lock (fcntl(2) F_OFD_SETLK) belongs
 * to the open file description, so it is not lost when another descriptor of
 * the same file is closed (as a classic POSIX lock would be), it conflicts
 * between two opens in one process too, and the kernel drops it when the
 * process dies, SIGKILL included.
 */
#include "block/block_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

__attribute__((format(printf, 3, 4))) static void block_err(char *err, size_t errlen,
							    const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Returns 0, -EAGAIN when another open holds a conflicting lock, or another -errno. */
static int block_lock(struct block_dev *b)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = b->readonly ? F_RDLCK : F_WRLCK;
	fl.l_whence = SEEK_SET;
	/* l_start 0, l_len 0: the whole file, however large it grows. */
	if (!fcntl(b->fd, F_OFD_SETLK, &fl))
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

/* 64-bit mix (splitmix64's finaliser): spreads device and inode over the serial. */
static uint64_t block_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void block_make_serial(struct block_dev *b, const struct stat *st)
{
	uint64_t h;

	/* A device node's inode lives in /dev and changes across boots; its number does not. */
	if (b->is_blockdev)
		h = block_mix((uint64_t)st->st_rdev ^ 0x626c6b);
	else
		h = block_mix(block_mix((uint64_t)st->st_dev) ^ (uint64_t)st->st_ino);
	/* 48 bits as 12 hex digits: "kvmm-" and all fit in BLOCK_SERIAL_MAX. */
	snprintf(b->serial, sizeof(b->serial), "kvmm-%012" PRIx64, h >> 16);
}

/* Opens, checks and locks the file; fills fd, file_size, serial. */
static int block_open_file(struct block_dev *b, char *err, size_t errlen)
{
	struct stat st;
	int flags, rc;

	/*
	 * O_NONBLOCK so that a FIFO given as a disk cannot hang us in open(2);
	 * it is cleared again below, as io_uring would otherwise fail reads
	 * with -EAGAIN rather than wait for them.
	 */
	b->fd =
	    open(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (b->fd < 0) {
		rc = -errno;
		block_err(err, errlen, "disk %s: %s", b->path, strerror(-rc));
		return rc;
	}
	if (fstat(b->fd, &st)) {
		rc = -errno;
		block_err(err, errlen, "disk %s: %s", b->path, strerror(-rc));
		return rc;
	}
	b->is_blockdev = S_ISBLK(st.st_mode);
	if (!S_ISREG(st.st_mode) && !b->is_blockdev) {
		block_err(err, errlen, "disk %s: not a regular file or block device", b->path);
		return -EINVAL;
	}
	flags = fcntl(b->fd, F_GETFL);
	if (flags < 0 || fcntl(b->fd, F_SETFL, flags & ~O_NONBLOCK)) {
		rc = -errno;
		block_err(err, errlen, "disk %s: %s", b->path, strerror(-rc));
		return rc;
	}
	rc = block_lock(b);
	if (rc == -EAGAIN) {
		block_err(err, errlen,
			  "disk %s is locked by another process (in use by another VM?)", b->path);
		return -EBUSY;
	}
	if (rc) {
		/* Some network and FUSE file systems have no OFD locks: usable, but unguarded. */
		log_warn("block",
			 "disk %s: cannot lock the image (%s): another process could use "
			 "it at the same time",
			 b->path, strerror(-rc));
	}
	if (b->is_blockdev) {
		uint64_t bytes;

		if (ioctl(b->fd, BLKGETSIZE64, &bytes)) {
			rc = -errno;
			block_err(err, errlen, "disk %s: cannot get the device size: %s", b->path,
				  strerror(-rc));
			return rc;
		}
		b->file_size = bytes;
	} else {
		b->file_size = (uint64_t)st.st_size;
	}
	block_make_serial(b, &st);
	return 0;
}

static void block_free(struct block_dev *b)
{
	if (b->fd >= 0)
		close(b->fd);
	pthread_cond_destroy(&b->idle);
	pthread_mutex_destroy(&b->lock);
	free(b->zeros);
	free(b->path);
	free(b);
}

struct block_dev *block_open_engine(const char *path, bool readonly, enum aio_engine engine,
				    char *err, size_t errlen)
{
	struct block_dev *b = calloc(1, sizeof(*b));
	int rc = -ENOMEM;

	block_err(err, errlen, "disk %s: out of memory", path);
	if (!b)
		goto fail;
	b->fd = -1;
	b->readonly = readonly;
	b->drv = &block_raw_driver;
	if (pthread_mutex_init(&b->lock, NULL)) {
		free(b);
		goto fail;
	}
	if (pthread_cond_init(&b->idle, NULL)) {
		pthread_mutex_destroy(&b->lock);
		free(b);
		goto fail;
	}
	b->path = strdup(path);
	b->zeros = calloc(1, BLOCK_ZERO_BYTES);
	if (!b->path || !b->zeros)
		goto fail_free;
	rc = block_open_file(b, err, errlen);
	if (rc)
		goto fail_free;
	rc = b->drv->open(b, err, errlen);
	if (rc)
		goto fail_free;
	rc = aio_create(engine, &b->aio);
	if (rc) {
		block_err(err, errlen, "disk %s: cannot start the %s I/O engine: %s", path,
			  aio_engine_name(engine), strerror(-rc));
		if (b->drv->close)
			b->drv->close(b);
		goto fail_free;
	}
	return b;

fail_free:
	block_free(b);
fail:
	errno = -rc;
	return NULL;
}

struct block_dev *block_open(const char *path, bool readonly, char *err, size_t errlen)
{
	return block_open_engine(path, readonly, aio_engine_from_env(), err, errlen);
}

void block_drain(struct block_dev *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

void block_plug(struct block_dev *b)
{
	aio_plug(b->aio);
}

void block_unplug(struct block_dev *b)
{
	aio_unplug(b->aio);
}

void block_poll_begin(struct block_dev *b)
{
	aio_poll_begin(b->aio);
}

unsigned block_poll(struct block_dev *b)
{
	return aio_poll(b->aio);
}

unsigned block_poll_wait(struct block_dev *b, uint64_t timeout_ns)
{
	return aio_poll_wait(b->aio, timeout_ns);
}

void block_poll_end(struct block_dev *b)
{
	aio_poll_end(b->aio);
}

void block_close(struct block_dev *b)
{
	if (!b)
		return;
	block_drain(b);
	aio_destroy(b->aio);
	if (b->drv->close)
		b->drv->close(b);
	block_free(b);
}

/* r's own fields, against the disk: see block_submit in block.h. */
static int block_check(const struct block_dev *b, const struct block_req *r)
{
	uint64_t sum = 0;

	if (!r->done || r->op > BLOCK_OP_WRITE_ZEROES)
		return -EINVAL;
	if (r->op == BLOCK_OP_FLUSH)
		return 0;
	if (b->readonly && r->op != BLOCK_OP_READ)
		return -EROFS;
	if (!r->len || r->len % BLOCK_SECTOR_SIZE || r->offset % BLOCK_SECTOR_SIZE ||
	    r->offset > b->size || r->len > b->size - r->offset)
		return -EINVAL;
	if (r->op != BLOCK_OP_READ && r->op != BLOCK_OP_WRITE)
		return 0;
	if (!r->iov || !r->niov || r->niov > AIO_MAX_IOV)
		return -EINVAL;
	for (unsigned i = 0; i < r->niov; i++) {
		if (r->iov[i].iov_len > r->len - sum)
			return -EINVAL;
		sum += r->iov[i].iov_len;
	}
	return sum == r->len ? 0 : -EINVAL;
}

int block_submit(struct block_dev *b, struct block_req *r)
{
	int rc = block_check(b, r);

	if (rc)
		return rc;
	r->dev = b;
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	pthread_mutex_unlock(&b->lock);
	rc = b->drv->submit(b, r);
	if (rc) {
		pthread_mutex_lock(&b->lock);
		if (!--b->inflight)
			pthread_cond_broadcast(&b->idle);
		pthread_mutex_unlock(&b->lock);
	}
	return rc;
}

void block_complete(struct block_req *r, int64_t result)
{
	struct block_dev *b = r->dev;

	/* r may be gone once done returns: only b is used after it. */
	r->done(r, result);
	pthread_mutex_lock(&b->lock);
	if (!--b->inflight)
		pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
}

uint64_t block_size(const struct block_dev *b)
{
	return b->size;
}

bool block_readonly(const struct block_dev *b)
{
	return b->readonly;
}

const char *block_serial(const struct block_dev *b)
{
	return b->serial;
}

const char *block_path(const struct block_dev *b)
{
	return b->path;
}

const char *block_format(const struct block_dev *b)
{
	return b->drv->name;
}

enum aio_engine block_engine(const struct block_dev *b)
{
	return aio_engine_of(b->aio);
}
