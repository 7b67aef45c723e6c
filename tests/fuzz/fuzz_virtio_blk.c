/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request parsing (virtio/blk.c) against a hostile driver: the
 * input builds requests in fake guest RAM (headers of any type and sector,
 * split or short; data in up to three pieces on either side, of any length;
 * discard / write zeroes segments with any ranges and flags; the status byte
 * alone, inside the data, or missing; direct or indirect), plus raw writes to
 * RAM and rings, and the device serves them from a 1 MiB raw disk (a memfd,
 * so the host's disk is never touched) through the real I/O engine
 * (KVMM_AIO picks which).
 *
 * Checked beyond "no crash, no hang, no leak", for every structured request
 * while no raw write has muddied the rings (after one, requests are still
 * sent, unchecked, until the next reset): a model of 5.2.6 predicts the
 * status byte and used length exactly, and NEEDS_RESET only for a chain with
 * nothing writable; nothing in guest RAM changes but the request's writable
 * buffers and the used ring; a successful read returns what a shadow of the
 * disk says (successful writes and write zeroes update it, discards make
 * their sectors unknown); GET_ID returns the serial; and at the end the disk
 * matches the shadow and has not grown.
 *
 * Input: byte 0 = bit 0 EVENT_IDX, 1 INDIRECT_DESC, 2 FLUSH, 3 DISCARD and
 * WRITE_ZEROES negotiated, 4 requests on queue 1; then operations, one byte
 * each (value % 4: 0 request, 1 raw RAM write, 2 raw descriptor made
 * available, 3 reset with a new configuration byte) plus arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/log.h"
#include "virtio/blk.h"

#define RAM_SIZE   0x100000u
#define SECTORS	   2048u
#define DISK_BYTES (SECTORS * 512u)
#define QSIZE	   16u
#define IND_GPA	   0x6000u
#define HDR_GPA	   0x7000u
#define STATUS_GPA 0x7f00u
#define ARENA_GPA  0x8000u
#define ARENA_END  0xf0000u
#define MAX_PARTS  8u
#define STREAM_MAX 0x10000u
#define SERIAL	   "fuzz-serial"

struct part {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct fuzz_blk {
	int fd;
	struct block_dev *disk;
	struct virtio_blk *blk;
	struct virtio_dev *d;
	struct gmem m;
	uint8_t *ram, *before;
	uint8_t shadow[DISK_BYTES];
	bool known[SECTORS];
	uint64_t features;
	unsigned q;
	uint16_t avail_idx[2], used_seen[2];
	uint16_t next_desc[2];
	bool broken;  /* NEEDS_RESET: nothing more is served until a reset */
	bool tainted; /* raw writes happened: only weak checks until a reset */
	uint8_t stream[STREAM_MAX];
};

static struct fuzz_blk *F;
static bool verbose; /* KVMM_FUZZ_VERBOSE=1: say what each request was (for seeds and crashes) */

static uint64_t ring_base(unsigned q)
{
	return 0x3000 * (uint64_t)q; /* desc at +0, avail at +0x1000, used at +0x2000 */
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	uint8_t *p = F->ram + table + 16 * (uint64_t)i;

	put_le(p, addr, 8);
	put_le(p + 8, len, 4);
	put_le(p + 12, flags, 2);
	put_le(p + 14, next, 2);
}

static void make_avail(unsigned q, uint16_t head)
{
	uint64_t avail = ring_base(q) + 0x1000;

	put_le(F->ram + avail + 4 + 2 * (F->avail_idx[q] % QSIZE), head, 2);
	F->avail_idx[q]++;
	put_le(F->ram + avail + 2, F->avail_idx[q], 2);
}

static uint16_t used_idx(unsigned q)
{
	return (uint16_t)get_le(F->ram + ring_base(q) + 0x2000 + 2, 2);
}

static void bring_up(uint8_t cfg)
{
	struct virtio_dev *d = F->d;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		     VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_MQ);

	if (cfg & 1)
		f |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (cfg & 2)
		f |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (cfg & 4)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (cfg & 8)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	virtio_dev_write_status(d, 0);
	memset(F->ram, 0, ARENA_GPA);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(d, 0, (uint32_t)f);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(f >> 32));
	virtio_dev_write_status(d, 11);
	FUZZ_CHECK(virtio_dev_read_status(d) == 11);
	for (unsigned q = 0; q < 2; q++) {
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_SIZE, QSIZE);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_LO, (uint32_t)ring_base(q));
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DRIVER_LO,
				       (uint32_t)ring_base(q) + 0x1000);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DEVICE_LO,
				       (uint32_t)ring_base(q) + 0x2000);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_ENABLE, 1);
		F->avail_idx[q] = F->used_seen[q] = F->next_desc[q] = 0;
	}
	virtio_dev_write_status(d, 15);
	FUZZ_CHECK(virtio_dev_read_status(d) == 15);
	F->features = f;
	F->q = (cfg >> 4) & 1;
	F->broken = F->tainted = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64], err[256];

	(void)argc;
	(void)argv;
	verbose = getenv("KVMM_FUZZ_VERBOSE") != NULL;
	/* Every bad request is logged (at most once per reset): noise that slows the fuzzer. */
	if (!verbose)
		log_set_level(LOG_ERROR);
	F = calloc(1, sizeof(*F));
	if (!F)
		abort();
	F->ram = calloc(1, RAM_SIZE);
	F->before = malloc(RAM_SIZE);
	F->fd = memfd_create("fuzz-virtio-blk", 0);
	if (!F->ram || !F->before || F->fd < 0 || ftruncate(F->fd, DISK_BYTES) ||
	    gmem_add_region(&F->m, 0, RAM_SIZE, F->ram))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", F->fd);
	F->disk = block_open(path, false, err, sizeof(err));
	if (!F->disk) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	F->blk = virtio_blk_create(&F->m, F->disk, SERIAL, 2);
	if (!F->blk)
		abort();
	F->d = virtio_blk_dev(F->blk);
	return 0;
}

/* Concatenates the readable (write false) or writable parts, zero-length ones skipped. */
static uint32_t gather(const struct part *p, unsigned n, bool write, uint8_t *out, uint32_t max)
{
	uint32_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t take;

		if (p[i].write != write)
			continue;
		take = p[i].len < max - len ? p[i].len : max - len;
		if (out)
			memcpy(out + len, F->ram + p[i].gpa, take);
		len += take;
	}
	return len;
}

static uint32_t total(const struct part *p, unsigned n, bool write)
{
	uint32_t len = 0;

	for (unsigned i = 0; i < n; i++)
		if (p[i].write == write)
			len += p[i].len;
	return len;
}

static bool in_range(uint64_t sector, uint64_t n)
{
	return sector <= SECTORS && n <= SECTORS - sector;
}

struct expect {
	bool needs_reset;
	uint8_t status;
	uint32_t used;
	uint32_t type;
	uint64_t sector, data;
};

/* 5.2.6 as blk.c reads it: what a request with these parts must get. */
static struct expect model(const struct part *p, unsigned n)
{
	uint32_t out = total(p, n, false), in = total(p, n, true);
	struct expect x = {.status = VIRTIO_BLK_S_IOERR, .used = 1};
	uint8_t *s = F->stream;
	bool seen_write = false;

	/* 2.7.4.2: a readable buffer after a writable one breaks the ring (zero-length or not). */
	for (unsigned i = 0; i < n; i++) {
		if (!p[i].write && seen_write) {
			x.needs_reset = true;
			return x;
		}
		seen_write |= p[i].write;
	}
	if (!in) {
		x.needs_reset = true;
		return x;
	}
	gather(p, n, false, s, STREAM_MAX);
	if (out < 16)
		return x;
	x.type = (uint32_t)get_le(s, 4);
	x.sector = get_le(s + 8, 8);
	switch (x.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = x.type == VIRTIO_BLK_T_OUT;

		x.data = wr ? out - 16 : in - 1u;
		if ((wr ? in - 1u : out - 16) || x.data % 512 || !in_range(x.sector, x.data / 512))
			return x;
		x.status = VIRTIO_BLK_S_OK;
		x.used = wr ? 1 : (uint32_t)x.data + 1;
		return x;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (out == 16 && in == 1)
			x.status = VIRTIO_BLK_S_OK;
		return x;
	case VIRTIO_BLK_T_GET_ID:
		if (out == 16 && in > 1) {
			x.status = VIRTIO_BLK_S_OK;
			x.data = in - 1 < VIRTIO_BLK_ID_BYTES ? in - 1 : VIRTIO_BLK_ID_BYTES;
			x.used = (uint32_t)x.data + 1;
		}
		return x;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool wz = x.type == VIRTIO_BLK_T_WRITE_ZEROES;
		uint32_t nseg = (out - 16) / 16;

		if (!(F->features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))) {
			x.status = VIRTIO_BLK_S_UNSUPP;
			return x;
		}
		if (in != 1 || !nseg || (out - 16) % 16 || nseg > VIRTIO_BLK_MAX_DISCARD_SEG)
			return x;
		for (uint32_t i = 0; i < nseg; i++) {
			uint32_t fl = (uint32_t)get_le(s + 16 + 16 * i + 12, 4);

			if ((fl & ~1u) || (!wz && fl)) {
				x.status = VIRTIO_BLK_S_UNSUPP;
				return x;
			}
		}
		for (uint32_t i = 0; i < nseg; i++) {
			uint32_t num = (uint32_t)get_le(s + 16 + 16 * i + 8, 4);

			if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
			    !in_range(get_le(s + 16 + 16 * i, 8), num))
				return x;
		}
		x.data = nseg;
		x.status = VIRTIO_BLK_S_OK;
		return x;
	}
	default:
		x.status = VIRTIO_BLK_S_UNSUPP;
		return x;
	}
}

/* The disk after a successful request, in the shadow (the stream holds its readable bytes). */
static void apply(const struct expect *x, const struct part *p, unsigned n)
{
	const uint8_t *s = F->stream;

	if (x->type == VIRTIO_BLK_T_OUT) {
		memcpy(F->shadow + x->sector * 512, s + 16, x->data);
		for (uint64_t i = 0; i < x->data / 512; i++)
			F->known[x->sector + i] = true;
	} else if (x->type == VIRTIO_BLK_T_IN) {
		uint8_t *got = malloc(x->data + 1);

		FUZZ_CHECK(got);
		gather(p, n, true, got, (uint32_t)x->data + 1);
		for (uint64_t i = 0; i < x->data / 512; i++)
			if (F->known[x->sector + i])
				FUZZ_CHECK(
				    !memcmp(got + 512 * i, F->shadow + (x->sector + i) * 512, 512));
		free(got);
	} else if (x->type == VIRTIO_BLK_T_GET_ID) {
		uint8_t want[VIRTIO_BLK_ID_BYTES] = SERIAL, got[VIRTIO_BLK_ID_BYTES];

		gather(p, n, true, got, (uint32_t)x->data);
		FUZZ_CHECK(!memcmp(got, want, x->data));
	} else if (x->type == VIRTIO_BLK_T_DISCARD || x->type == VIRTIO_BLK_T_WRITE_ZEROES) {
		for (uint64_t i = 0; i < x->data; i++) {
			uint64_t sec = get_le(s + 16 + 16 * i, 8);
			uint32_t num = (uint32_t)get_le(s + 16 + 16 * i + 8, 4);

			memset(F->shadow + sec * 512, 0, (size_t)num * 512);
			for (uint32_t k = 0; k < num; k++)
				F->known[sec + k] = x->type == VIRTIO_BLK_T_WRITE_ZEROES;
		}
	}
}

/* Nothing in RAM changed outside the writable parts and queue q's used ring. */
static void check_ram(const struct part *p, unsigned n, unsigned q)
{
	uint64_t used = ring_base(q) + 0x2000;

	for (unsigned i = 0; i < n; i++)
		if (p[i].write)
			memcpy(F->before + p[i].gpa, F->ram + p[i].gpa, p[i].len);
	memcpy(F->before + used, F->ram + used, 6 + 8 * QSIZE);
	FUZZ_CHECK(!memcmp(F->before, F->ram, RAM_SIZE));
}

/* Places n parts as a chain on queue q (or in the indirect table), and returns the head. */
static uint16_t place(const struct part *p, unsigned n, unsigned q, bool indirect)
{
	uint64_t table = indirect ? IND_GPA : ring_base(q);
	uint16_t first = 0, head;

	if (!indirect) {
		if (F->next_desc[q] + n > QSIZE)
			F->next_desc[q] = 0;
		first = F->next_desc[q];
		F->next_desc[q] = (uint16_t)(first + n);
	}
	for (unsigned i = 0; i < n; i++)
		desc_at(table, first + i, p[i].gpa, p[i].len,
			(uint16_t)((p[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			(uint16_t)(first + i + 1));
	if (!indirect)
		return first;
	if (F->next_desc[q] + 1 > QSIZE)
		F->next_desc[q] = 0;
	head = F->next_desc[q]++;
	desc_at(ring_base(q), head, IND_GPA, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	return head;
}

static void fill_segments(struct fuzz_in *in, uint64_t gpa, uint32_t len)
{
	for (uint32_t off = 0; off + 16 <= len; off += 16) {
		uint8_t f = fuzz_u8(in);
		uint8_t *s = F->ram + gpa + off;

		put_le(s, (f & 0x80) ? fuzz_u64(in) : fuzz_u16(in) % (SECTORS + 4), 8);
		put_le(s + 8, (f & 0x40) ? fuzz_u32(in) : fuzz_u8(in) % 64, 4);
		put_le(s + 12, (f & 0x20) ? fuzz_u32(in) : (f & 3) == 3, 4);
	}
}

static void request(struct fuzz_in *in)
{
	static const uint32_t types[8] = {VIRTIO_BLK_T_IN,	VIRTIO_BLK_T_OUT,
					  VIRTIO_BLK_T_FLUSH,	VIRTIO_BLK_T_GET_ID,
					  VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
	uint8_t sel = fuzz_u8(in), sf = fuzz_u8(in), lay = fuzz_u8(in);
	uint32_t type = types[sel & 7];
	uint64_t sector = (sf & 0x80) ? fuzz_u64(in) : fuzz_u16(in) % (SECTORS + 8);
	bool indirect = (sel & 8) && (F->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	bool ranges = type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES;
	bool data_write = lay & 0x10;
	unsigned ndata = (lay >> 2) & 3, n = 0, q = F->q;
	uint64_t arena = ARENA_GPA, hdr = HDR_GPA;
	struct part p[MAX_PARTS];
	struct expect x;
	uint16_t head;

	if ((sel & 7) == 6)
		type = fuzz_u32(in);
	else if ((sel & 7) == 7)
		type = (uint32_t[]){2, 3, 5, 10, 14, 15, 0x80000000u, 0x80000001u}[sel >> 5];
	put_le(F->ram + hdr, type, 4);
	put_le(F->ram + hdr + 4, fuzz_u32(in), 4);
	put_le(F->ram + hdr + 8, sector, 8);
	switch (lay & 3) {
	case 0:
		p[n++] = (struct part){hdr, 16, false};
		break;
	case 1: { /* split */
		uint32_t k = fuzz_u8(in) % 15 + 1;

		p[n++] = (struct part){hdr, k, false};
		p[n++] = (struct part){hdr + k, 16 - k, false};
		break;
	}
	case 2: /* short: the rest of the header may come from the data */
		p[n++] = (struct part){hdr, fuzz_u8(in) % 16, false};
		break;
	default: /* the header buffer runs on into what follows it */
		p[n++] = (struct part){hdr, 16 + fuzz_u8(in) % 48, false};
		fill_segments(in, hdr + 16, 48);
		break;
	}
	for (unsigned i = 0; i < ndata; i++) {
		uint8_t ls = fuzz_u8(in);
		uint32_t len = (ls & 0x80) ? fuzz_u16(in) % 0x3000u
			       : ranges	   ? (ls % 40u) * 16
					   : (ls % 17u) * 512;
		bool w = data_write ^ ((lay & 0x20) && i + 1 == ndata);

		if (arena + len > ARENA_END)
			len = 0;
		if (ranges && !w)
			fill_segments(in, arena, len);
		else if (!w)
			for (uint32_t k = 0, seed = fuzz_u8(in); k < len; k++)
				F->ram[arena + k] = (uint8_t)(seed + k * 31 + (k >> 9));
		else
			memset(F->ram + arena, 0xcc, len);
		p[n++] = (struct part){arena, len, w};
		arena += len + 8;
	}
	if (!(lay & 0x80) && !((lay & 0x40) && n && p[n - 1].write && p[n - 1].len)) {
		F->ram[STATUS_GPA] = 0xee;
		p[n++] = (struct part){STATUS_GPA, 1, true};
	}
	/* Zero-length buffers are skipped by the ring code: the model must not see them. */
	x = model(p, n);
	if (verbose) {
		fprintf(stderr, "request type %u sector %llu on queue %u%s:", type,
			(unsigned long long)sector, q, indirect ? " (indirect)" : "");
		for (unsigned i = 0; i < n; i++)
			fprintf(stderr, " %s%u", p[i].write ? "w" : "r", p[i].len);
		fprintf(stderr, " -> %s status %u used %u\n", x.needs_reset ? "NEEDS_RESET" : "",
			x.status, x.used);
	}
	head = place(p, n, q, indirect);
	make_avail(q, head);
	memcpy(F->before, F->ram, RAM_SIZE);
	virtio_dev_notify(F->d, q);
	virtio_blk_drain(F->blk);
	/* After raw writes the rings may hold anything: the model no longer applies. */
	if (F->broken || F->tainted)
		return;
	if (x.needs_reset) {
		FUZZ_CHECK(virtio_dev_read_status(F->d) & VIRTIO_STATUS_NEEDS_RESET);
		FUZZ_CHECK(used_idx(q) == F->used_seen[q]);
		F->broken = true;
		return;
	}
	FUZZ_CHECK(virtio_dev_read_status(F->d) == 15);
	FUZZ_CHECK(used_idx(q) == (uint16_t)(F->used_seen[q] + 1));
	{
		const uint8_t *el =
		    F->ram + ring_base(q) + 0x2000 + 4 + 8 * (F->used_seen[q] % QSIZE);
		const struct part *last = NULL;

		FUZZ_CHECK(get_le(el, 4) == head);
		FUZZ_CHECK(get_le(el + 4, 4) == x.used);
		for (unsigned i = 0; i < n; i++)
			if (p[i].write && p[i].len)
				last = &p[i];
		FUZZ_CHECK(last && F->ram[last->gpa + last->len - 1] == x.status);
	}
	F->used_seen[q]++;
	check_ram(p, n, q);
	if (x.status == VIRTIO_BLK_S_OK)
		apply(&x, p, n);
}

/* Raw writes: the rings may hold anything now, and requests from them may write the disk. */
static void taint(const char *what)
{
	if (verbose)
		fprintf(stderr, "%s\n", what);
	F->tainted = true;
	memset(F->known, 0, sizeof(F->known));
}

static void run(struct fuzz_in *in)
{
	while (!fuzz_done(in)) {
		uint8_t op = fuzz_u8(in), b[32], len;
		uint32_t gpa;
		uint16_t head;

		switch (op % 4) {
		case 0:
			request(in);
			break;
		case 1: /* the guest scribbles anywhere, rings included */
			gpa = (op & 0x80) ? fuzz_u32(in) % RAM_SIZE : fuzz_u16(in) % ARENA_GPA;
			len = fuzz_u8(in) % sizeof(b);
			fuzz_bytes(in, b, len);
			if (gpa + len > RAM_SIZE)
				len = (uint8_t)(RAM_SIZE - gpa);
			memcpy(F->ram + gpa, b, len);
			taint("raw RAM write");
			break;
		case 2: /* a raw descriptor, made available */
			head = fuzz_u16(in) % QSIZE;
			desc_at(ring_base(F->q), head, fuzz_u32(in) % (RAM_SIZE + 0x100),
				fuzz_u16(in), fuzz_u8(in) & 7, fuzz_u8(in));
			make_avail(F->q, (op & 0x80) ? fuzz_u16(in) : head);
			virtio_dev_notify(F->d, F->q);
			virtio_blk_drain(F->blk);
			taint("raw descriptor");
			break;
		default:
			virtio_blk_drain(F->blk);
			if (verbose)
				fprintf(stderr, "reset\n");
			bring_up(fuzz_u8(in));
			break;
		}
	}
	virtio_blk_drain(F->blk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	static uint8_t disk[DISK_BYTES];
	struct stat st;

	/* A fresh, zeroed disk every input, so that a crash replays alone. */
	FUZZ_CHECK(!ftruncate(F->fd, 0) && !ftruncate(F->fd, DISK_BYTES));
	memset(F->shadow, 0, sizeof(F->shadow));
	for (unsigned i = 0; i < SECTORS; i++)
		F->known[i] = true;
	memset(F->ram, 0, RAM_SIZE);
	bring_up(fuzz_u8(&in));
	run(&in);
	FUZZ_CHECK(!fstat(F->fd, &st) && st.st_size == DISK_BYTES);
	FUZZ_CHECK(pread(F->fd, disk, DISK_BYTES, 0) == DISK_BYTES);
	for (unsigned i = 0; i < SECTORS; i++)
		if (F->known[i])
			FUZZ_CHECK(!memcmp(disk + 512 * i, F->shadow + 512 * i, 512));
	return 0;
}
