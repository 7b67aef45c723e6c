/* SPDX-License-Identifier: MIT */
/*
 * virtio block device (virtio 1.2, section 5.2 "Block Device"; device ID 2):
 * 1..N request queues over one disk (block/block.h), requests completed
 * asynchronously by the disk's I/O engine. See blk.c.
 */
#ifndef KVMM_VIRTIO_BLK_H
#define KVMM_VIRTIO_BLK_H

#include "block/block.h"
#include "machine/gmem.h"
#include "state/buf.h"
#include "virtio/core.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

/* The status byte (5.2.6). */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* Discard / write zeroes segment flags (5.2.6). */
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

#define VIRTIO_BLK_ID_BYTES   20u /* GET_ID: NUL-padded, no NUL when 20 long */
#define VIRTIO_BLK_HDR_SIZE   16u /* type, reserved, sector */
#define VIRTIO_BLK_SEG_SIZE   16u /* sector, num_sectors, flags */
#define VIRTIO_BLK_QUEUE_SIZE 256u
/* Data buffers per request we advertise: a queue's worth less header and status. */
#define VIRTIO_BLK_SEG_MAX (VIRTIO_BLK_QUEUE_SIZE - 2)
/* Per discard / write zeroes segment and request: 2 GiB, 32 segments. */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)
#define VIRTIO_BLK_MAX_DISCARD_SEG     32u
/* Bytes of configuration space: through unused1 (no secure erase, no zones). */
#define VIRTIO_BLK_CONFIG_SIZE 60u

/* Configuration space offsets (5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY			0
#define VIRTIO_BLK_CFG_SEG_MAX			12
#define VIRTIO_BLK_CFG_BLK_SIZE			20
#define VIRTIO_BLK_CFG_NUM_QUEUES		34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS	36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG		40
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT	44
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG	52
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP	56

struct virtio_blk;

/*
 * A device over guest RAM mem serving disk (which the caller keeps open until
 * after virtio_blk_destroy) with nqueues request queues (1..VIRTIO_DEV_MAX_QUEUES;
 * VIRTIO_BLK_F_MQ is offered when more than 1). serial is what GET_ID
 * returns (at most VIRTIO_BLK_ID_BYTES characters); NULL takes the disk's
 * block_serial. Returns NULL with errno set (EINVAL, ENOMEM).
 */
struct virtio_blk *virtio_blk_create(const struct gmem *mem, struct block_dev *disk,
				     const char *serial, unsigned nqueues);
/* Waits for in-flight requests, then frees the device (not the disk). */
void virtio_blk_destroy(struct virtio_blk *blk);
/* The longest polling window on the I/O thread (blk.c, "Polling"); 0 never
 * polls. Default 64 us; the machine passes --io-poll-max. */
void virtio_blk_set_poll_max(struct virtio_blk *blk, uint64_t max_ns);
/* The virtio core state, for the transport to attach to. */
struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk);

/*
 * Waits until no request is in flight and no thread is handing requests to
 * the disk or polling the queues. For snapshots, with the vCPUs paused
 * so that no new request arrives. Must not be called with the device lock
 * held or from the disk's engine thread.
 */
void virtio_blk_drain(struct virtio_blk *blk);

/*
 * Snapshot state: only the virtio core's (virtio_dev_save). The device must be
 * quiesced first (virtio_blk_drain with the VM paused): -EBUSY while a request
 * is in flight, since its completion could not be carried over. Load checks
 * everything and applies all of it or returns -EINVAL and changes nothing
 * (-EBUSY if requests are in flight on this device).
 */
int virtio_blk_save(struct virtio_blk *blk, struct state_buf *b);
int virtio_blk_load(struct virtio_blk *blk, struct state_reader *rd);

#endif
