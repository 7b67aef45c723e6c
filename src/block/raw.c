/* SPDX-License-Identifier: MIT */
/*
 * Raw images: the disk is the file, byte for byte. Requests map one to one
 * onto engine operations: READ/WRITE onto preadv/pwritev, FLUSH onto
 * fdatasync(2) (data and the metadata needed to read it back: enough for a
 * disk whose size never changes), DISCARD onto punching a hole, WRITE_ZEROES
 * onto fallocate(2) zeroing, with fallbacks where the file system or device
 * cannot (see raw_zeroes_step).
 */
#include "block/block_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include <fcntl.h>

/* Hole punching and zeroing always keep the size: a disk never grows or shrinks. */
#define RAW_PUNCH (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define RAW_ZERO  (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

/* How WRITE_ZEROES is being attempted, best first. */
enum raw_zero_stage {
	RAW_ZERO_PUNCH,	 /* deallocate: only with BLOCK_REQ_MAY_UNMAP */
	RAW_ZERO_RANGE,	 /* FALLOC_FL_ZERO_RANGE: allocated, reads as zeros */
	RAW_ZERO_WRITES, /* plain writes from a buffer of zeros */
};

static struct block_req *raw_req(struct aio_op *op)
{
	return (struct block_req *)((char *)op - offsetof(struct block_req, aio));
}

/* The file system or device does not do this fallocate mode (EOPNOTSUPP, or ENOSYS when old). */
static bool raw_unsupported(int64_t result)
{
	return result == -EOPNOTSUPP || result == -ENOSYS;
}

static int raw_zeroes_step(struct block_req *r);

static void raw_done(struct aio_op *op, int64_t result)
{
	struct block_req *r = raw_req(op);
	int rc;

	switch (r->op) {
	case BLOCK_OP_DISCARD:
		/* A hint the guest cannot rely on: where holes cannot be punched, do nothing. */
		if (raw_unsupported(result))
			result = 0;
		break;
	case BLOCK_OP_WRITE_ZEROES:
		if (r->stage == RAW_ZERO_WRITES && result >= 0) {
			r->zero_pos += (uint64_t)result;
			if (r->zero_pos == r->len)
				result = 0;
		} else if (r->stage != RAW_ZERO_WRITES && raw_unsupported(result)) {
			r->stage++;
			result = 1; /* not finished: go on */
		}
		if (result > 0) {
			rc = raw_zeroes_step(r);
			if (!rc)
				return;
			result = rc;
		}
		break;
	default:
		break;
	}
	block_complete(r, result);
}

/* Issues the next operation of a WRITE_ZEROES at r->stage. */
static int raw_zeroes_step(struct block_req *r)
{
	struct block_dev *b = r->dev;
	struct aio_op *op = &r->aio;
	uint64_t left = r->len - r->zero_pos;

	op->fd = b->fd;
	op->done = raw_done;
	op->offset = r->offset;
	op->len = r->len;
	switch (r->stage) {
	case RAW_ZERO_PUNCH:
		op->opcode = AIO_OP_FALLOCATE;
		op->mode = RAW_PUNCH;
		break;
	case RAW_ZERO_RANGE:
		op->opcode = AIO_OP_FALLOCATE;
		op->mode = RAW_ZERO;
		break;
	default:
		op->opcode = AIO_OP_WRITE;
		op->offset = r->offset + r->zero_pos;
		op->len = 0;
		op->niov = 0;
		while (op->niov < BLOCK_ZERO_IOVS && op->len < left) {
			uint64_t n =
			    left - op->len < BLOCK_ZERO_BYTES ? left - op->len : BLOCK_ZERO_BYTES;

			r->zero_iov[op->niov].iov_base = b->zeros;
			r->zero_iov[op->niov].iov_len = (size_t)n;
			op->niov++;
			op->len += n;
		}
		op->iov = r->zero_iov;
		break;
	}
	return aio_submit(b->aio, op);
}

static int raw_submit(struct block_dev *b, struct block_req *r)
{
	struct aio_op *op = &r->aio;

	op->fd = b->fd;
	op->done = raw_done;
	op->offset = r->offset;
	op->len = r->len;
	op->iov = r->iov;
	op->niov = r->niov;
	switch (r->op) {
	case BLOCK_OP_READ:
		op->opcode = AIO_OP_READ;
		break;
	case BLOCK_OP_WRITE:
		op->opcode = AIO_OP_WRITE;
		break;
	case BLOCK_OP_FLUSH:
		op->opcode = AIO_OP_FDATASYNC;
		break;
	case BLOCK_OP_DISCARD:
		op->opcode = AIO_OP_FALLOCATE;
		op->mode = RAW_PUNCH;
		break;
	case BLOCK_OP_WRITE_ZEROES:
		r->zero_pos = 0;
		r->stage = (r->flags & BLOCK_REQ_MAY_UNMAP) ? RAW_ZERO_PUNCH : RAW_ZERO_RANGE;
		return raw_zeroes_step(r);
	}
	return aio_submit(b->aio, op);
}

static int raw_open(struct block_dev *b, char *err, size_t errlen)
{
	if (!b->file_size) {
		snprintf(err, errlen, "disk %s is empty", b->path);
		return -EINVAL;
	}
	/* The guest addresses 512-byte sectors: a partial one at the end could not be used. */
	if (b->file_size % BLOCK_SECTOR_SIZE) {
		snprintf(err, errlen, "disk %s: size %" PRIu64 " is not a multiple of 512 bytes",
			 b->path, b->file_size);
		return -EINVAL;
	}
	b->size = b->file_size;
	return 0;
}

const struct block_driver block_raw_driver = {
    .name = "raw",
    .open = raw_open,
    .submit = raw_submit,
};
