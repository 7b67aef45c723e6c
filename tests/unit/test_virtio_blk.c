/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio/blk.h) driven like a guest driver drives it, over a fake
 * transport and fake guest RAM, with a temporary raw image behind it, once
 * with each I/O engine: features and configuration space; IN, OUT, FLUSH,
 * GET_ID, DISCARD and WRITE_ZEROES through the ring with the disk checked
 * behind them; malformed requests answered with IOERR or UNSUPP while the
 * device keeps working; chains with no status byte and broken rings giving
 * NEEDS_RESET; read-only disks; writethrough; several queues; reset waiting
 * for requests in flight; save/load.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/buf.h"
#include "virtio/blk.h"
#include "virtio_fixtures.h"

#define DISK_SECTORS 2048u /* 1 MiB */
#define QSIZE	     64u
#define HDR_GPA	     0x30000u /* request headers, 32 bytes apart */
#define STATUS_GPA   0x38000u /* status bytes, 1 apart */
#define DATA_GPA     0x40000u /* data, up to FAKE_INDIRECT_GPA */
#define MAXQ	     4u

struct ring {
	uint64_t desc, avail, used;
	uint16_t avail_idx, next_desc, used_seen;
};

struct group {
	enum aio_engine engine;
	bool usable;
	char dir[256];
};

struct fixture {
	struct group *g;
	struct fake_vm vm;
	char path[300];
	struct block_dev *disk;
	struct virtio_blk *blk;
	struct virtio_dev *d;
	unsigned nq;
	struct ring ring[MAXQ];
	unsigned slot; /* next header / status slot */
	atomic_uint queue_irqs[MAXQ];
	atomic_uint config_irqs;
};

static void t_notify_queue(void *t, unsigned q, uint16_t vector)
{
	struct fixture *f = t;

	assert_true(q < f->nq);
	assert_int_equal(vector, q + 1);
	f->queue_irqs[q]++;
}

static void t_notify_config(void *t)
{
	((struct fixture *)t)->config_irqs++;
}

static const struct virtio_transport_ops t_ops = {
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
};

/* --- the driver's side of a ring, at any address --- */

static void ring_desc(struct fixture *f, struct ring *r, unsigned i, uint64_t addr, uint32_t len,
		      uint16_t flags, uint16_t next)
{
	drv_desc(&f->vm, r->desc, i, addr, len, flags, next);
}

static void ring_avail(struct fixture *f, struct ring *r, uint16_t head)
{
	fake_put(&f->vm, r->avail + 4 + 2 * (uint64_t)(r->avail_idx % QSIZE), head, 2);
	r->avail_idx++;
	fake_put(&f->vm, r->avail + 2, r->avail_idx, 2);
}

static uint16_t ring_used_idx(struct fixture *f, struct ring *r)
{
	return (uint16_t)fake_get(&f->vm, r->used + 2, 2);
}

static uint32_t ring_used_id(struct fixture *f, struct ring *r, uint16_t pos)
{
	return (uint32_t)fake_get(&f->vm, r->used + 4 + 8 * (uint64_t)(pos % QSIZE), 4);
}

static uint32_t ring_used_len(struct fixture *f, struct ring *r, uint16_t pos)
{
	return (uint32_t)fake_get(&f->vm, r->used + 8 + 8 * (uint64_t)(pos % QSIZE), 4);
}

struct part {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* A chain of parts made available on ring r; returns its head. */
static uint16_t ring_chain(struct fixture *f, struct ring *r, const struct part *p, unsigned n)
{
	uint16_t head;

	if (r->next_desc + n > QSIZE)
		r->next_desc = 0;
	head = r->next_desc;
	for (unsigned i = 0; i < n; i++)
		ring_desc(f, r, head + i, p[i].gpa, p[i].len,
			  (uint16_t)((p[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				     (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			  (uint16_t)(head + i + 1));
	r->next_desc = (uint16_t)(head + n);
	ring_avail(f, r, head);
	return head;
}

/* A header in its own slot; returns its address. */
static uint64_t put_header(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_GPA + 32 * (uint64_t)(f->slot % 256);

	fake_put(&f->vm, gpa, type, 4);
	fake_put(&f->vm, gpa + 4, 0, 4);
	fake_put(&f->vm, gpa + 8, sector, 8);
	return gpa;
}

static uint64_t next_status(struct fixture *f)
{
	uint64_t gpa = STATUS_GPA + (f->slot++ % 256);

	fake_put(&f->vm, gpa, 0xff, 1);
	return gpa;
}

/*
 * Sends the chain parts on queue q, waits for it, and returns its status
 * byte; the used length in *used_len. The chain must end in the status byte.
 */
static uint8_t run_chain(struct fixture *f, unsigned q, const struct part *p, unsigned n,
			 uint32_t *used_len)
{
	struct ring *r = &f->ring[q];
	uint16_t head = ring_chain(f, r, p, n);

	virtio_dev_notify(f->d, q);
	virtio_blk_drain(f->blk);
	assert_int_equal(ring_used_idx(f, r), (uint16_t)(r->used_seen + 1));
	assert_int_equal(ring_used_id(f, r, r->used_seen), head);
	if (used_len)
		*used_len = ring_used_len(f, r, r->used_seen);
	r->used_seen++;
	return (uint8_t)fake_get(&f->vm, p[n - 1].gpa + p[n - 1].len - 1, 1);
}

/* The usual three-part request: header, data (if any) on the side its type uses, status. */
static uint8_t blk_req(struct fixture *f, unsigned q, uint32_t type, uint64_t sector, uint64_t data,
		       uint32_t len, bool data_write, uint32_t *used_len)
{
	struct part p[3];
	unsigned n = 0;

	p[n++] = (struct part){put_header(f, type, sector), 16, false};
	if (len)
		p[n++] = (struct part){data, len, data_write};
	p[n++] = (struct part){next_status(f), 1, true};
	return run_chain(f, q, p, n, used_len);
}

/* One discard / write zeroes segment at gpa. */
static void put_seg(struct fixture *f, uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
	fake_put(&f->vm, gpa, sector, 8);
	fake_put(&f->vm, gpa + 8, num, 4);
	fake_put(&f->vm, gpa + 12, flags, 4);
}

/* --- the disk --- */

static uint8_t pat(uint64_t sector)
{
	uint8_t v = (uint8_t)(sector * 3 + 1);

	return v ? v : 0x5a;
}

static void make_image(const char *path, unsigned sectors)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t sec[512];

	assert_true(fd >= 0);
	for (unsigned s = 0; s < sectors; s++) {
		memset(sec, pat(s), sizeof(sec));
		assert_int_equal(pwrite(fd, sec, sizeof(sec), (off_t)s * 512), 512);
	}
	close(fd);
}

static void disk_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool disk_sector_is(struct fixture *f, uint64_t sector, uint8_t v)
{
	uint8_t sec[512];

	disk_read(f, sector * 512, sec, sizeof(sec));
	for (unsigned i = 0; i < sizeof(sec); i++)
		if (sec[i] != v)
			return false;
	return true;
}

/* --- bring-up --- */

static uint64_t dev_features(struct fixture *f)
{
	return virtio_dev_read_device_features(f->d, 0) |
	       (uint64_t)virtio_dev_read_device_features(f->d, 1) << 32;
}

/* A Linux-like bring-up of every queue, accepting the offer masked by `mask`. */
static void bring_up(struct fixture *f, uint64_t mask)
{
	struct virtio_dev *d = f->d;
	uint64_t features = dev_features(f) & mask;

	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(d, 0, (uint32_t)features);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(features >> 32));
	virtio_dev_write_status(d, 11);
	assert_int_equal(virtio_dev_read_status(d), 11);
	for (unsigned q = 0; q < f->nq; q++) {
		struct ring *r = &f->ring[q];

		memset(r, 0, sizeof(*r));
		r->desc = q ? 0x90000 + 0x10000 * (uint64_t)(q - 1) : FAKE_DESC_GPA;
		r->avail = q ? r->desc + 0x2000 : FAKE_AVAIL_GPA;
		r->used = q ? r->desc + 0x4000 : FAKE_USED_GPA;
		fake_put(&f->vm, r->avail + 2, 0, 2);
		fake_put(&f->vm, r->used + 2, 0, 2);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_SIZE, QSIZE);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_LO, (uint32_t)r->desc);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DRIVER_LO, (uint32_t)r->avail);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DEVICE_LO, (uint32_t)r->used);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_VECTOR, q + 1);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_ENABLE, 1);
	}
	virtio_dev_write_status(d, 15);
	assert_int_equal(virtio_dev_read_status(d), 15);
}

/* A device over a fresh 1 MiB image with nq queues, brought up with the offer masked by mask. */
static void start(struct fixture *f, unsigned nq, bool ro, const char *serial, uint64_t mask)
{
	char err[256];

	if (!f->g->usable)
		skip();
	f->nq = nq;
	f->disk = block_open_engine(f->path, ro, f->g->engine, err, sizeof(err));
	if (!f->disk)
		fail_msg("%s", err);
	f->blk = virtio_blk_create(&f->vm.m, f->disk, serial, nq);
	assert_non_null(f->blk);
	f->d = virtio_blk_dev(f->blk);
	virtio_dev_set_transport(f->d, &t_ops, f);
	assert_int_equal(f->d->device_id, VIRTIO_ID_BLOCK);
	bring_up(f, mask);
}

static void stop(struct fixture *f)
{
	if (f->blk)
		virtio_blk_destroy(f->blk);
	if (f->disk)
		block_close(f->disk);
	f->blk = NULL;
	f->disk = NULL;
}

static int setup(void **state)
{
	struct group *g = *state;
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->g = g;
	fake_vm_init(&f->vm, QSIZE);
	snprintf(f->path, sizeof(f->path), "%s/disk.img", g->dir);
	make_image(f->path, DISK_SECTORS);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stop(f);
	fake_vm_free(&f->vm);
	unlink(f->path);
	free(f);
	return 0;
}

static int group_setup(void **state, enum aio_engine engine)
{
	struct group *g = calloc(1, sizeof(*g));
	const char *tmp = getenv("TMPDIR");
	struct aio *a;

	assert_non_null(g);
	g->engine = engine;
	snprintf(g->dir, sizeof(g->dir), "%s/kvmm-vblk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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

	rmdir(g->dir);
	free(g);
	return 0;
}

#define ALL UINT64_MAX

static uint32_t cfg32(struct fixture *f, uint32_t off)
{
	uint32_t v;

	virtio_dev_read_config(f->d, off, &v, 4);
	return v;
}

/* --- tests --- */

static void test_features_config(void **state)
{
	struct fixture *f = *state;
	uint64_t cap = 0, want;
	uint16_t nq;
	uint8_t b;

	start(f, 1, false, NULL, ALL);
	want = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
	       VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
	       VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) | VIRTIO_CORE_FEATURES;
	assert_int_equal(dev_features(f), want);
	virtio_dev_read_config(f->d, VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
	assert_int_equal(cap, DISK_SECTORS);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_SEG_MAX), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_BLK_SIZE), 512);
	virtio_dev_read_config(f->d, VIRTIO_BLK_CFG_NUM_QUEUES, &nq, 2);
	assert_int_equal(nq, 1);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS),
			 VIRTIO_BLK_MAX_DISCARD_SECTORS);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_DISCARD_SEG), VIRTIO_BLK_MAX_DISCARD_SEG);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_DISCARD_ALIGNMENT), 1);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS),
			 VIRTIO_BLK_MAX_DISCARD_SECTORS);
	assert_int_equal(cfg32(f, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG), VIRTIO_BLK_MAX_DISCARD_SEG);
	virtio_dev_read_config(f->d, VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, &b, 1);
	assert_int_equal(b, 1);
	/* writeback (no CONFIG_WCE) and the padding read as 0. */
	virtio_dev_read_config(f->d, 32, &b, 1);
	assert_int_equal(b, 0);
	virtio_dev_read_config(f->d, 33, &b, 1);
	assert_int_equal(b, 0);
	assert_int_equal(virtio_dev_read_queue(f->d, 0, VIRTIO_QUEUE_MAX_SIZE),
			 VIRTIO_BLK_QUEUE_SIZE);
	stop(f);

	/* Read-only: RO, and nothing to discard or zero. Several queues: MQ. */
	start(f, 3, true, NULL, ALL);
	want = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
	       VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |
	       VIRTIO_BIT(VIRTIO_BLK_F_MQ) | VIRTIO_CORE_FEATURES;
	assert_int_equal(dev_features(f), want);
	virtio_dev_read_config(f->d, VIRTIO_BLK_CFG_NUM_QUEUES, &nq, 2);
	assert_int_equal(nq, 3);
	stop(f);

	/* Bad arguments. */
	errno = 0;
	assert_null(virtio_blk_create(&f->vm.m, NULL, "x", 1));
	assert_int_equal(errno, EINVAL);
	{
		char err[256];
		struct block_dev *disk =
		    block_open_engine(f->path, false, f->g->engine, err, sizeof(err));

		assert_non_null(disk);
		assert_null(virtio_blk_create(&f->vm.m, disk, "x", 0));
		assert_null(virtio_blk_create(&f->vm.m, disk, "x", VIRTIO_DEV_MAX_QUEUES + 1));
		assert_null(virtio_blk_create(&f->vm.m, disk, "123456789012345678901", 1));
		block_close(disk);
	}
}

static void test_read_write(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = fake_ptr(&f->vm, DATA_GPA), want[8192];
	uint32_t used;
	struct part p[4];

	start(f, 1, false, NULL, ALL);
	/* A write of 8 sectors at sector 8, its data split over two buffers. */
	for (unsigned i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 5 + 3);
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_OUT, 8), 16, false};
	p[1] = (struct part){DATA_GPA, 1000, false};
	p[2] = (struct part){DATA_GPA + 1000, 3096, false};
	p[3] = (struct part){next_status(f), 1, true};
	assert_int_equal(run_chain(f, 0, p, 4, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	disk_read(f, 8 * 512, want, 4096);
	assert_memory_equal(want, data, 4096);
	assert_true(disk_sector_is(f, 7, pat(7)));
	assert_true(disk_sector_is(f, 16, pat(16)));
	assert_true(f->queue_irqs[0] >= 1);

	/* A read of 16 sectors from sector 6 into three buffers. */
	memset(fake_ptr(&f->vm, DATA_GPA + 0x10000), 0, 8192);
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_IN, 6), 16, false};
	p[1] = (struct part){DATA_GPA + 0x10000, 512, true};
	p[2] = (struct part){DATA_GPA + 0x10000 + 512, 7680, true};
	p[3] = (struct part){next_status(f), 1, true};
	assert_int_equal(run_chain(f, 0, p, 4, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 8192 + 1);
	disk_read(f, 6 * 512, want, 8192);
	assert_memory_equal(fake_ptr(&f->vm, DATA_GPA + 0x10000), want, 8192);

	/* The status byte may share the last data buffer. */
	memset(fake_ptr(&f->vm, DATA_GPA + 0x20000), 0xee, 1024);
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_IN, 0), 16, false};
	p[1] = (struct part){DATA_GPA + 0x20000, 513, true};
	assert_int_equal(run_chain(f, 0, p, 2, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 513);
	assert_int_equal(fake_get(&f->vm, DATA_GPA + 0x20000 + 511, 1), pat(0));
	/* The very last sector of the disk. */
	assert_int_equal(
	    blk_req(f, 0, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, DATA_GPA, 512, true, &used),
	    VIRTIO_BLK_S_OK);
	assert_int_equal(fake_get(&f->vm, DATA_GPA + 100, 1), pat(DISK_SECTORS - 1));
	/* A zero-length read or write does nothing, successfully. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 3, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(virtio_dev_read_status(f->d), 15);
}

static void test_indirect(void **state)
{
	struct fixture *f = *state;
	uint8_t want[1024];
	uint32_t used;
	uint64_t status;

	start(f, 1, false, NULL, ALL);
	status = next_status(f);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 0, put_header(f, VIRTIO_BLK_T_IN, 100), 16,
		 VIRTQ_DESC_F_NEXT, 1);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 1, DATA_GPA, 1024,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	drv_desc(&f->vm, FAKE_INDIRECT_GPA, 2, status, 1, VIRTQ_DESC_F_WRITE, 0);
	ring_desc(f, &f->ring[0], 5, FAKE_INDIRECT_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	ring_avail(f, &f->ring[0], 5);
	virtio_dev_notify(f->d, 0);
	virtio_blk_drain(f->blk);
	assert_int_equal(ring_used_idx(f, &f->ring[0]), 1);
	assert_int_equal(ring_used_id(f, &f->ring[0], 0), 5);
	used = ring_used_len(f, &f->ring[0], 0);
	assert_int_equal(used, 1025);
	assert_int_equal(fake_get(&f->vm, status, 1), VIRTIO_BLK_S_OK);
	disk_read(f, 100 * 512, want, sizeof(want));
	assert_memory_equal(fake_ptr(&f->vm, DATA_GPA), want, sizeof(want));
}

static void test_flush_get_id(void **state)
{
	struct fixture *f = *state;
	uint8_t *id = fake_ptr(&f->vm, DATA_GPA);
	uint32_t used;

	start(f, 1, false, "test-serial", ALL);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	memset(id, 0xaa, 32);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 20, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(id, "test-serial\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(id[20], 0xaa);
	/* A short buffer gets the start of it. */
	memset(id, 0xaa, 32);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 4, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 5);
	assert_memory_equal(id, "test\xaa", 5);
	stop(f);

	/* No serial given: the disk's; a 20-character one has no NUL. */
	start(f, 1, false, NULL, ALL);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 20, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_string_equal((char *)id, block_serial(f->disk));
	stop(f);
	start(f, 1, false, "01234567890123456789", ALL);
	memset(id, 0xaa, 32);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 32, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(id, "01234567890123456789\xaa", 21);
}

/* A DISCARD / WRITE_ZEROES with nseg segments already at DATA_GPA. */
static uint8_t ranges_req(struct fixture *f, uint32_t type, unsigned nseg)
{
	return blk_req(f, 0, type, 0, DATA_GPA, 16 * nseg, false, NULL);
}

static void test_discard_write_zeroes(void **state)
{
	struct fixture *f = *state;

	start(f, 1, false, NULL, ALL);
	/* Write zeroes, three segments (one empty), with and without unmap. */
	put_seg(f, DATA_GPA, 10, 2, 0);
	put_seg(f, DATA_GPA + 16, 100, 0, 0);
	put_seg(f, DATA_GPA + 32, 200, 50, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 3), VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, 9, pat(9)));
	assert_true(disk_sector_is(f, 10, 0));
	assert_true(disk_sector_is(f, 11, 0));
	assert_true(disk_sector_is(f, 12, pat(12)));
	assert_true(disk_sector_is(f, 100, pat(100)));
	assert_true(disk_sector_is(f, 200, 0));
	assert_true(disk_sector_is(f, 249, 0));
	assert_true(disk_sector_is(f, 250, pat(250)));
	put_seg(f, DATA_GPA, 1000, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1), VIRTIO_BLK_S_OK);
	for (unsigned s = 1000; s < 1016; s++)
		assert_true(disk_sector_is(f, s, 0));
	assert_true(disk_sector_is(f, 1016, pat(1016)));
	/* Discard: OK, neighbours intact (the range itself is undefined). */
	put_seg(f, DATA_GPA, 1500, 8, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, 1499, pat(1499)));
	assert_true(disk_sector_is(f, 1508, pat(1508)));
	/* The last sector; then a sector past the end, and a segment straddling it: IOERR. */
	put_seg(f, DATA_GPA, DISK_SECTORS - 1, 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1), VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, DISK_SECTORS - 1, 0));
	put_seg(f, DATA_GPA, 5, 1, 0);
	put_seg(f, DATA_GPA + 16, DISK_SECTORS - 1, 2, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 2), VIRTIO_BLK_S_IOERR);
	assert_true(disk_sector_is(f, 5, pat(5))); /* checked before any of it ran */
	put_seg(f, DATA_GPA, UINT64_MAX, 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_IOERR);
	put_seg(f, DATA_GPA, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_IOERR);
	/* Unknown flags, and unmap on a discard: UNSUPP (5.2.6.2), even with a bad range too. */
	put_seg(f, DATA_GPA, 5, 1, 2);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1), VIRTIO_BLK_S_UNSUPP);
	put_seg(f, DATA_GPA, 5, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_UNSUPP);
	put_seg(f, DATA_GPA, UINT64_MAX, 1, 0);
	put_seg(f, DATA_GPA + 16, 5, 1, 0x80000000u);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 2), VIRTIO_BLK_S_UNSUPP);
	assert_true(disk_sector_is(f, 5, pat(5)));
	/* Segment counts: none, too many, not whole. */
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 0), VIRTIO_BLK_S_IOERR);
	for (unsigned i = 0; i <= VIRTIO_BLK_MAX_DISCARD_SEG; i++)
		put_seg(f, DATA_GPA + 16 * i, i, 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_MAX_DISCARD_SEG + 1),
			 VIRTIO_BLK_S_IOERR);
	assert_true(disk_sector_is(f, 0, pat(0)));
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_MAX_DISCARD_SEG),
			 VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, 0, 0));
	assert_true(disk_sector_is(f, VIRTIO_BLK_MAX_DISCARD_SEG - 1, 0));
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 24, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(virtio_dev_read_status(f->d), 15);
	stop(f);

	/* Not negotiated: UNSUPP. */
	start(f, 1, false, NULL,
	      ~(VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
	put_seg(f, DATA_GPA, 40, 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_UNSUPP);
	assert_true(disk_sector_is(f, 40, pat(40)));
}

/* Discard on a file system that punches holes really deallocates. */
static void test_discard_punches(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;

	start(f, 1, false, NULL, ALL);
	assert_int_equal(stat(f->path, &before), 0);
	put_seg(f, DATA_GPA, 512, 1024, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(stat(f->path, &after), 0);
	assert_int_equal(after.st_size, DISK_SECTORS * 512);
	if (after.st_blocks >= before.st_blocks)
		print_message("no hole punched here (file system without PUNCH_HOLE?)\n");
	else
		assert_true(after.st_blocks + 1000 <= before.st_blocks);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	uint8_t before[4096], after[4096];
	struct part p[4];
	uint32_t used;

	start(f, 1, false, NULL, ALL);
	disk_read(f, 0, before, sizeof(before));
	/* Header too short; header bytes running into the data (not whole sectors then). */
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_OUT, 0), 15, false};
	p[1] = (struct part){next_status(f), 1, true};
	assert_int_equal(run_chain(f, 0, p, 2, &used), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_OUT, 0), 8, false};
	p[1] = (struct part){DATA_GPA, 512, false};
	p[2] = (struct part){next_status(f), 1, true};
	assert_int_equal(run_chain(f, 0, p, 3, &used), VIRTIO_BLK_S_IOERR);
	/* A header split over two buffers is fine. */
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_IN, 0), 3, false};
	p[1] = (struct part){p[0].gpa + 3, 13, false};
	p[2] = (struct part){DATA_GPA, 512, true};
	p[3] = (struct part){next_status(f), 1, true};
	assert_int_equal(run_chain(f, 0, p, 4, NULL), VIRTIO_BLK_S_OK);
	/* Not whole sectors. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, 0, DATA_GPA, 500, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 513, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Beyond the end, straddling it, and a sector that overflows when multiplied. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, DISK_SECTORS, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(
	    blk_req(f, 0, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, DATA_GPA, 1024, false, NULL),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(
	    blk_req(f, 0, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, DATA_GPA, 512, false, NULL),
	    VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, UINT64_MAX, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Data on the wrong side: a read with readable data, a write with writable data. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 512, true, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	/* Flush and get-id with the wrong data. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 20, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Unknown and unsupported types. */
	assert_int_equal(blk_req(f, 0, 77, 0, DATA_GPA, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_GET_LIFETIME, 0, DATA_GPA, 8, true, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_SECURE_ERASE, 0, DATA_GPA, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(blk_req(f, 0, 0x80000001u, 0, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* None of it touched the disk, and the device still works. */
	disk_read(f, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(virtio_dev_read_status(f->d), 15);
	assert_int_equal(f->config_irqs, 0);
	memset(fake_ptr(&f->vm, DATA_GPA), 0x77, 512);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 1, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, 1, 0x77));
}

static void test_no_status_byte(void **state)
{
	struct fixture *f = *state;
	struct part p[2];
	uint16_t head;

	start(f, 1, false, NULL, ALL);
	/* Nothing writable: no way to report anything. */
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_OUT, 0), 16, false};
	p[1] = (struct part){DATA_GPA, 512, false};
	head = ring_chain(f, &f->ring[0], p, 2);
	virtio_dev_notify(f->d, 0);
	virtio_blk_drain(f->blk);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	{
		char want[64];

		snprintf(want, sizeof(want), "request %u has no status byte", head);
		assert_non_null(strstr(f->d->reason, want));
	}
	assert_int_equal(f->config_irqs, 1);
	assert_int_equal(ring_used_idx(f, &f->ring[0]), 0);
	assert_true(disk_sector_is(f, 0, pat(0)));

	/* After a reset it works again. */
	virtio_dev_write_status(f->d, 0);
	f->slot = 0;
	bring_up(f, ALL);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

static void test_broken_ring(void **state)
{
	struct fixture *f = *state;
	struct part p[3];

	start(f, 1, false, NULL, ALL);
	/* A data buffer outside guest RAM: the core's ring check, NEEDS_RESET. */
	p[0] = (struct part){put_header(f, VIRTIO_BLK_T_IN, 0), 16, false};
	p[1] = (struct part){0x7fff0000, 512, true};
	p[2] = (struct part){next_status(f), 1, true};
	ring_chain(f, &f->ring[0], p, 3);
	virtio_dev_notify(f->d, 0);
	virtio_blk_drain(f->blk);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_non_null(strstr(f->d->reason, "is not guest RAM"));
	assert_int_equal(ring_used_idx(f, &f->ring[0]), 0);
	/* A loop in the chain too. */
	virtio_dev_write_status(f->d, 0);
	bring_up(f, ALL);
	ring_desc(f, &f->ring[0], 0, put_header(f, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
	ring_desc(f, &f->ring[0], 1, next_status(f), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	ring_avail(f, &f->ring[0], 0);
	virtio_dev_notify(f->d, 0);
	virtio_blk_drain(f->blk);
	assert_true(virtio_dev_read_status(f->d) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_readonly_disk(void **state)
{
	struct fixture *f = *state;
	uint32_t used;

	start(f, 1, true, NULL, ALL);
	memset(fake_ptr(&f->vm, DATA_GPA), 0x11, 512);
	/* 5.2.6.2: IOERR and not a byte written. */
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 4, DATA_GPA, 512, false, &used),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(used, 1);
	assert_true(disk_sector_is(f, 4, pat(4)));
	put_seg(f, DATA_GPA, 4, 1, 0);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(ranges_req(f, VIRTIO_BLK_T_DISCARD, 1), VIRTIO_BLK_S_UNSUPP);
	assert_true(disk_sector_is(f, 4, pat(4)));
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, 4, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(fake_get(&f->vm, DATA_GPA, 1), pat(4));
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

/* Without FLUSH negotiated the cache is writethrough: writes still complete (after a flush). */
static void test_writethrough(void **state)
{
	struct fixture *f = *state;

	start(f, 1, false, NULL, ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_false(virtio_dev_features(f->d) & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	memset(fake_ptr(&f->vm, DATA_GPA), 0x42, 2048);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_OUT, 20, DATA_GPA, 2048, false, NULL),
			 VIRTIO_BLK_S_OK);
	for (unsigned s = 20; s < 24; s++)
		assert_true(disk_sector_is(f, s, 0x42));
	put_seg(f, DATA_GPA + 4096, 20, 2, 0);
	assert_int_equal(
	    blk_req(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA + 4096, 16, false, NULL),
	    VIRTIO_BLK_S_OK);
	assert_true(disk_sector_is(f, 21, 0));
	assert_true(disk_sector_is(f, 22, 0x42));
}

static void test_multiqueue(void **state)
{
	struct fixture *f = *state;
	uint16_t heads[MAXQ];

	start(f, MAXQ, false, NULL, ALL);
	assert_true(virtio_dev_features(f->d) & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	/* One write per queue, all in flight together, then each queue's own completion. */
	for (unsigned q = 0; q < MAXQ; q++) {
		struct part p[3];

		memset(fake_ptr(&f->vm, DATA_GPA + 0x1000 * q), 0x60 + (int)q, 4096);
		p[0] = (struct part){put_header(f, VIRTIO_BLK_T_OUT, 64 * q), 16, false};
		p[1] = (struct part){DATA_GPA + 0x1000 * q, 4096, false};
		p[2] = (struct part){next_status(f), 1, true};
		heads[q] = ring_chain(f, &f->ring[q], p, 3);
	}
	for (unsigned q = MAXQ; q-- > 0;)
		virtio_dev_notify(f->d, q);
	virtio_blk_drain(f->blk);
	for (unsigned q = 0; q < MAXQ; q++) {
		assert_int_equal(ring_used_idx(f, &f->ring[q]), 1);
		assert_int_equal(ring_used_id(f, &f->ring[q], 0), heads[q]);
		assert_int_equal(fake_get(&f->vm, STATUS_GPA + q, 1), VIRTIO_BLK_S_OK);
		assert_true(f->queue_irqs[q] >= 1);
		for (unsigned s = 0; s < 8; s++)
			assert_true(disk_sector_is(f, 64 * q + s, (uint8_t)(0x60 + q)));
		f->ring[q].used_seen = 1;
	}
	/* Reads back through other queues. */
	for (unsigned q = 0; q < MAXQ; q++) {
		unsigned from = (q + 1) % MAXQ;

		assert_int_equal(
		    blk_req(f, q, VIRTIO_BLK_T_IN, 64 * from, DATA_GPA + 0x10000, 512, true, NULL),
		    VIRTIO_BLK_S_OK);
		assert_int_equal(fake_get(&f->vm, DATA_GPA + 0x10000 + 300, 1), 0x60 + from);
	}
	/* A bad request on one queue leaves the others alone. */
	assert_int_equal(blk_req(f, 2, 99, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(blk_req(f, 1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
}

/* Many requests at once: all complete, one used element each. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 20;
	struct ring *r;

	start(f, 1, false, NULL, ALL);
	r = &f->ring[0];
	for (unsigned i = 0; i < n; i++) {
		struct part p[3];

		p[0] = (struct part){
		    put_header(f, i % 2 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, 8 * i), 16, false};
		p[1] = (struct part){DATA_GPA + 0x1000 * i, 4096, i % 2 != 0};
		p[2] = (struct part){next_status(f), 1, true};
		ring_chain(f, r, p, 3);
	}
	virtio_dev_notify(f->d, 0);
	virtio_blk_drain(f->blk);
	assert_int_equal(ring_used_idx(f, r), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(fake_get(&f->vm, STATUS_GPA + i, 1), VIRTIO_BLK_S_OK);
	assert_true(f->queue_irqs[0] >= 1);
}

/* A reset with requests in flight returns only once they are over, and touches nothing after. */
static void test_reset_waits(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 16;
	uint8_t *snap = malloc(FAKE_RAM_SIZE);

	assert_non_null(snap);
	start(f, 1, false, NULL, ALL);
	for (unsigned i = 0; i < n; i++) {
		struct part p[3];

		p[0] = (struct part){put_header(f, VIRTIO_BLK_T_IN, 0), 16, false};
		p[1] = (struct part){DATA_GPA + 0x4000 * i, 0x4000, true};
		p[2] = (struct part){next_status(f), 1, true};
		ring_chain(f, &f->ring[0], p, 3);
	}
	virtio_dev_notify(f->d, 0);
	virtio_dev_write_status(f->d, 0);
	memcpy(snap, f->vm.ram, FAKE_RAM_SIZE);
	usleep(20000);
	virtio_blk_drain(f->blk);
	assert_memory_equal(snap, f->vm.ram, FAKE_RAM_SIZE);
	assert_int_equal(virtio_dev_read_status(f->d), 0);
	/* And the device comes back. */
	f->slot = 0;
	bring_up(f, ALL);
	assert_int_equal(blk_req(f, 0, VIRTIO_BLK_T_IN, 3, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(fake_get(&f->vm, DATA_GPA, 1), pat(3));
	free(snap);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk *other;
	struct state_buf b;
	struct state_reader r;

	start(f, 2, false, NULL, ALL);
	assert_int_equal(blk_req(f, 1, VIRTIO_BLK_T_IN, 3, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	virtio_blk_drain(f->blk);
	state_buf_init(&b);
	assert_int_equal(virtio_blk_save(f->blk, &b), 0);
	/* Another device takes over the same guest and disk. */
	virtio_blk_destroy(f->blk);
	f->blk = virtio_blk_create(&f->vm.m, f->disk, NULL, 2);
	assert_non_null(f->blk);
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_blk_load(f->blk, &r), 0);
	f->d = virtio_blk_dev(f->blk);
	virtio_dev_set_transport(f->d, &t_ops, f);
	assert_int_equal(virtio_dev_read_status(f->d), 15);
	assert_int_equal(blk_req(f, 1, VIRTIO_BLK_T_IN, 5, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(ring_used_idx(f, &f->ring[1]), 2);
	assert_int_equal(fake_get(&f->vm, DATA_GPA, 1), pat(5));
	/* A device with another queue count refuses it; truncated state too. */
	other = virtio_blk_create(&f->vm.m, f->disk, NULL, 1);
	assert_non_null(other);
	state_reader_init(&r, b.data, b.len);
	assert_int_equal(virtio_blk_load(other, &r), -EINVAL);
	virtio_blk_destroy(other);
	state_reader_init(&r, b.data, b.len - 1);
	assert_int_equal(virtio_blk_load(f->blk, &r), -EINVAL);
	state_buf_free(&b);
}

/*
 * A driver like the bench guest's, on its own thread: one read at a time,
 * waiting for each by polling the used ring, and notifying only when the
 * device asks for it (event index, or VIRTQ_USED_F_NO_NOTIFY without). The
 * test thread plays the I/O thread: virtio_dev_notify_iothread for each
 * notification. A notification the device wrongly suppressed would hang the
 * driver (a deadline fails the test instead); with polling most requests
 * need none.
 */
#define POLLED_N 3000u

struct polled {
	struct fixture *f;
	bool event_idx;
	atomic_uint kicks_sent, kicks_taken;
	atomic_bool done, stuck;
};

static uint16_t polled_load16(struct fixture *f, uint64_t gpa)
{
	return __atomic_load_n((uint16_t *)(void *)fake_ptr(&f->vm, gpa), __ATOMIC_ACQUIRE);
}

static void *polled_driver(void *arg)
{
	struct polled *pd = arg;
	struct fixture *f = pd->f;
	struct ring *r = &f->ring[0];

	for (unsigned i = 0; i < POLLED_N; i++) {
		uint16_t head = (uint16_t)(3 * (i % (QSIZE / 3))), old = r->avail_idx;
		uint64_t sector = (i * 7) % DISK_SECTORS,
			 data = DATA_GPA + 512 * (uint64_t)(i % 64);
		uint64_t hdr = HDR_GPA + 32 * (uint64_t)(i % 256), status = STATUS_GPA + i % 256;
		struct timespec t0, t;
		bool notify;

		fake_put(&f->vm, hdr, VIRTIO_BLK_T_IN, 4);
		fake_put(&f->vm, hdr + 4, 0, 4);
		fake_put(&f->vm, hdr + 8, sector, 8);
		fake_put(&f->vm, status, 0xff, 1);
		fake_put(&f->vm, data, 0, 1);
		ring_desc(f, r, head, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
		ring_desc(f, r, head + 1u, data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
			  (uint16_t)(head + 2));
		ring_desc(f, r, head + 2u, status, 1, VIRTQ_DESC_F_WRITE, 0);
		fake_put(&f->vm, r->avail + 4 + 2 * (uint64_t)(old % QSIZE), head, 2);
		r->avail_idx++;
		__atomic_store_n((uint16_t *)(void *)fake_ptr(&f->vm, r->avail + 2), r->avail_idx,
				 __ATOMIC_RELEASE);
		/* The idx before the device's suppression fields, as Linux's virtio_mb. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (pd->event_idx) {
			uint16_t event = polled_load16(f, r->used + 4 + 8 * (uint64_t)QSIZE);

			notify =
			    (uint16_t)(r->avail_idx - event - 1) < (uint16_t)(r->avail_idx - old);
		} else {
			notify = !(polled_load16(f, r->used) & VIRTQ_USED_F_NO_NOTIFY);
		}
		if (notify)
			pd->kicks_sent++;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (polled_load16(f, r->used + 2) != (uint16_t)(i + 1)) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec > 10) {
				pd->stuck = true;
				pd->done = true;
				return NULL;
			}
		}
		if (fake_get(&f->vm, status, 1) != VIRTIO_BLK_S_OK ||
		    fake_get(&f->vm, data, 1) != pat(sector)) {
			pd->stuck = true;
			break;
		}
	}
	pd->done = true;
	return NULL;
}

static void polled_run(struct fixture *f, bool event_idx)
{
	struct polled pd = {.f = f, .event_idx = event_idx};
	pthread_t t;

	start(f, 1, false, NULL, event_idx ? ALL : ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	assert_int_equal(pthread_create(&t, NULL, polled_driver, &pd), 0);
	while (!pd.done) {
		if (pd.kicks_taken != pd.kicks_sent) {
			pd.kicks_taken++;
			virtio_dev_notify_iothread(f->d, 0);
		}
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	virtio_blk_drain(f->blk);
	assert_false(pd.stuck);
	assert_int_equal(ring_used_idx(f, &f->ring[0]), POLLED_N);
	print_message("%s: %u notifications for %u requests\n", event_idx ? "event index" : "flags",
		      (unsigned)pd.kicks_sent, POLLED_N);
	/* Suppression is off again once the device stopped watching. */
	if (event_idx)
		assert_int_equal(drv_avail_event(&f->vm), POLLED_N);
	else
		assert_int_equal(fake_get(&f->vm, f->ring[0].used, 2), 0);
	stop(f);
}

static void test_polled_driver(void **state)
{
	struct fixture *f = *state;

	polled_run(f, true);
	polled_run(f, false);
}

/* The same list for each engine, under names that say which. */
#define T(fn, engine) ((struct CMUnitTest){#fn "_" engine, fn, setup, teardown, NULL})
#define BLK_TESTS(e)                                                                               \
	T(test_features_config, e), T(test_read_write, e), T(test_indirect, e),                    \
	    T(test_flush_get_id, e), T(test_discard_write_zeroes, e), T(test_discard_punches, e),  \
	    T(test_malformed, e), T(test_no_status_byte, e), T(test_broken_ring, e),               \
	    T(test_readonly_disk, e), T(test_writethrough, e), T(test_multiqueue, e),              \
	    T(test_batch, e), T(test_reset_waits, e), T(test_save_load, e),                        \
	    T(test_polled_driver, e)

int main(void)
{
	const struct CMUnitTest uring[] = {BLK_TESTS("uring")};
	const struct CMUnitTest threads[] = {BLK_TESTS("threads")};
	int rc;

	rc = cmocka_run_group_tests_name("virtio_blk_io_uring", uring, group_setup_uring,
					 group_teardown);
	rc |= cmocka_run_group_tests_name("virtio_blk_threads", threads, group_setup_threads,
					  group_teardown);
	return rc;
}
