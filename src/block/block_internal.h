/* SPDX-License-Identifier: MIT */
/*
 * Between the generic disk layer (block.c) and the image formats (raw.c, and
 * qcow2 later): block.c opens, checks and locks the file, starts the engine,
 * checks each request against the disk's size and mode, and counts requests
 * in flight; a format maps checked requests onto engine operations on the
 * file and reports each back through block_complete.
 */
#ifndef KVMM_BLOCK_INTERNAL_H
#define KVMM_BLOCK_INTERNAL_H

#include <pthread.h>
#include <sys/stat.h>

#include "block/block.h"

struct block_driver {
	const char *name;
	/*
	 * The file is open and locked and b->file_size known: check the image
	 * and set b->size. Returns 0, or -errno with a reason in err.
	 */
	int (*open)(struct block_dev *b, char *err, size_t errlen);
	/* A request block_submit accepted; 0 once queued, or -errno (no completion then). */
	int (*submit)(struct block_dev *b, struct block_req *r);
	/* After the last request completed. May be NULL. */
	void (*close)(struct block_dev *b);
};

extern const struct block_driver block_raw_driver;

struct block_dev {
	const struct block_driver *drv;
	char *path;
	int fd;
	bool readonly;
	bool is_blockdev;
	uint64_t file_size; /* of the file or block device */
	uint64_t size;	    /* of the disk the guest sees */
	char serial[BLOCK_SERIAL_MAX + 1];
	struct aio *aio;
	void *zeros; /* BLOCK_ZERO_BYTES of zeros, for writing zeros by hand */
	void *fmt;   /* the format's own state */

	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight reached 0 */
	unsigned inflight;
};

/* Bytes behind each of a request's zero_iov. */
#define BLOCK_ZERO_BYTES (64u * 1024)

/* A format finished r: run the caller's callback, then count it out. */
void block_complete(struct block_req *r, int64_t result);

#endif
