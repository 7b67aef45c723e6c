/* SPDX-License-Identifier: MIT */
/*
 * Disks: one interface over the image formats (raw now, qcow2 later), with
 * asynchronous requests run by the I/O engine (block/aio.h). See block.c.
 *
 * Opening a disk takes an open-file-description lock on the image (a write
 * lock read-write, a read lock read-only, as QEMU does) so that two kvmm
 * processes cannot both write one image, nor one write while another reads.
 *
 * Requests are asynchronous: block_submit checks a request and queues it, and
 * its `done` callback runs later on the engine's thread (the io_uring reaper
 * or a pool worker), or inside block_unplug, never from inside block_submit.
 * A callback may submit further requests to the same disk, but must not call
 * block_drain or block_close (they wait for the callback itself).
 */
#ifndef KVMM_BLOCK_BLOCK_H
#define KVMM_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/aio.h"

/* Offsets and lengths of every request are multiples of this; so is a disk's size. */
#define BLOCK_SECTOR_SIZE 512u
/* The longest serial block_serial returns (virtio-blk's VIRTIO_BLK_ID_BYTES). */
#define BLOCK_SERIAL_MAX 20u
/* Buffers per step when WRITE_ZEROES falls back to writing zeros (64 KiB each). */
#define BLOCK_ZERO_IOVS 16u

enum block_op {
	BLOCK_OP_READ,	       /* iov <- disk[offset, offset + len) */
	BLOCK_OP_WRITE,	       /* disk[offset, offset + len) <- iov */
	BLOCK_OP_FLUSH,	       /* completed writes reach stable storage (fdatasync) */
	BLOCK_OP_DISCARD,      /* the range may be deallocated; its contents become undefined */
	BLOCK_OP_WRITE_ZEROES, /* the range reads back as zeros */
};

/* WRITE_ZEROES may deallocate the range (punch a hole) rather than write zeros. */
#define BLOCK_REQ_MAY_UNMAP 1u

struct block_dev;

struct block_req {
	enum block_op op;
	unsigned flags;	 /* BLOCK_REQ_* */
	uint64_t offset; /* bytes; not used by FLUSH */
	/* READ/WRITE: the buffers, 1..AIO_MAX_IOV of them, valid until done runs. */
	const struct iovec *iov;
	unsigned niov;
	uint64_t len; /* bytes: READ/WRITE the sum of iov lengths; not used by FLUSH */
	/*
	 * On the engine's thread: result is len for a READ/WRITE, 0 for the
	 * others, or a negative errno. r may be reused or freed from inside done.
	 */
	void (*done)(struct block_req *r, int64_t result);
	void *opaque; /* the caller's */

	/* Private to the block layer. */
	struct block_dev *dev;
	struct aio_op aio;
	int stage;	   /* WRITE_ZEROES: which method is being tried */
	uint64_t zero_pos; /* WRITE_ZEROES written as zeros: bytes done */
	struct iovec zero_iov[BLOCK_ZERO_IOVS];
};

/*
 * Opens the image at path (raw), locks it, and starts an I/O engine for it:
 * AIO_ENGINE_AUTO unless the KVMM_AIO environment variable says otherwise.
 * Refused: files other than regular files and block devices, empty images,
 * sizes that are not a multiple of 512 bytes, images another process has
 * locked. Returns NULL with errno set and a one-line reason naming the file in
 * err (errlen bytes, NUL-terminated).
 */
struct block_dev *block_open(const char *path, bool readonly, char *err, size_t errlen);
/* The same with the engine chosen by the caller. */
struct block_dev *block_open_engine(const char *path, bool readonly, enum aio_engine engine,
				    char *err, size_t errlen);
/* Waits for in-flight requests, stops the engine, closes (and so unlocks) the image. */
void block_close(struct block_dev *b);

/*
 * Checks r and queues it. Refused before any I/O, with the callback not run:
 * -EINVAL for a range outside the disk, an offset or length that is not a
 * multiple of BLOCK_SECTOR_SIZE, a zero length (other than FLUSH), iov
 * lengths that do not add up to len or too many of them; -EROFS for WRITE,
 * DISCARD and WRITE_ZEROES on a read-only disk. Returns 0 once queued.
 */
int block_submit(struct block_dev *b, struct block_req *r);
/* Waits until every submitted request's callback has returned. */
void block_drain(struct block_dev *b);
/*
 * Batching (aio_plug/aio_unplug): requests submitted between block_plug and
 * block_unplug go to the kernel together at block_unplug, which then runs
 * the callbacks of requests that have already completed on the calling
 * thread: call it with no lock held that a callback takes. This is the one
 * place a callback runs outside the engine's threads.
 */
void block_plug(struct block_dev *b);
void block_unplug(struct block_dev *b);
/*
 * Polling for completions (aio_poll_begin/aio_poll/aio_poll_end): while a
 * session is open the caller reaps, by calling block_poll often (it runs the
 * callbacks of completed requests on the calling thread and returns how
 * many; block_poll_wait sleeps up to timeout_ns for one first);
 * block_poll_end hands the rest back to the engine's thread.
 */
void block_poll_begin(struct block_dev *b);
unsigned block_poll(struct block_dev *b);
unsigned block_poll_wait(struct block_dev *b, uint64_t timeout_ns);
void block_poll_end(struct block_dev *b);

uint64_t block_size(const struct block_dev *b); /* bytes, a multiple of 512 */
bool block_readonly(const struct block_dev *b);
/*
 * A default serial for the disk, stable while the image stays where it is:
 * derived from the file's device and inode (the device number for a block
 * device). At most BLOCK_SERIAL_MAX characters.
 */
const char *block_serial(const struct block_dev *b);
const char *block_path(const struct block_dev *b);
const char *block_format(const struct block_dev *b); /* "raw" */
enum aio_engine block_engine(const struct block_dev *b);

#endif
