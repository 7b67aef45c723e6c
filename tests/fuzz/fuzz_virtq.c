/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue (virtio/queue.h) as a hostile driver sees it: the input
 * builds rings, descriptors and indirect tables in a small fake guest RAM (two
 * regions, one at the very top of the 64-bit address space, where address +
 * length overflows) and the device pops and pushes until the input runs out.
 *
 * Checked beyond "no crash, no hang": every popped element is inside guest RAM
 * (each buffer within one region), readable before writable, within the caps,
 * with lengths that add up; pop returns 1, 0 or one of its documented errnos
 * with a reason, and moves last_avail_idx by exactly what it took; pop and push
 * write nothing in guest RAM but the used ring (avail_event included); push
 * writes the element and idx the driver expects; should_notify says nothing
 * when nothing was pushed.
 *
 * Input: byte 0 = bits 0-3 log2 of the queue size, bit 4 event index, bit 5
 * indirect descriptors, bit 6 ring addresses from the input (3 x u64) instead
 * of packed at 0; then operations, one byte each plus arguments.
 */
#include <errno.h>

#include "fuzz.h"
#include "virtio/queue.h"

#define RAM_A_GPA  0x0ULL
#define RAM_A_SIZE 0x10000u
#define RAM_B_GPA  0xffffffffffffe000ULL /* ends 4 KiB below 2^64 */
#define RAM_B_SIZE 0x1000u
#define IND_GPA	   0xe000u /* where indirect tables usually go */

struct fuzz_virtq {
	struct gmem m;
	uint8_t *ram[2], *shadow[2];
	uint64_t gpa[2];
	uint32_t size[2];
	struct virtq q;
	struct virtq_elem e;
	uint16_t avail_idx; /* the driver's */
};

static void poke(struct fuzz_virtq *f, uint64_t gpa, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < 2; r++)
			if (gpa + i >= f->gpa[r] && gpa + i - f->gpa[r] < f->size[r])
				f->ram[r][gpa + i - f->gpa[r]] = b[i];
}

static void poke_le(struct fuzz_virtq *f, uint64_t gpa, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	poke(f, gpa, b, n);
}

/* A guest address in or near one of the regions, or anywhere. */
static uint64_t near_ram(struct fuzz_in *in)
{
	uint8_t b = fuzz_u8(in);
	uint16_t off = fuzz_u16(in);

	if (b & 0x80)
		return fuzz_u64(in);
	return (b & 1) ? RAM_B_GPA + off % (RAM_B_SIZE + 64) : RAM_A_GPA + off % (RAM_A_SIZE + 64);
}

/* Whether [p, p+len) lies inside one region's host memory. */
static bool in_one_region(struct fuzz_virtq *f, const uint8_t *p, size_t len)
{
	for (int r = 0; r < 2; r++)
		if (p >= f->ram[r] && (size_t)(p - f->ram[r]) < f->size[r] &&
		    len <= f->size[r] - (size_t)(p - f->ram[r]))
			return true;
	return false;
}

/* Guest RAM changed only inside the used ring since the shadow copy. */
static void check_only_used_ring_written(struct fuzz_virtq *f)
{
	uint64_t lo = f->q.used_gpa, len = 6 + 8 * (uint64_t)f->q.size;

	for (int r = 0; r < 2; r++) {
		/* The used ring is inside one region (virtq_init): [a, b) of this one, or empty. */
		uint64_t a = f->size[r], b = f->size[r];

		if (lo >= f->gpa[r] && lo - f->gpa[r] < f->size[r]) {
			a = lo - f->gpa[r];
			b = a + len;
		}
		FUZZ_CHECK(!memcmp(f->ram[r], f->shadow[r], a));
		FUZZ_CHECK(!memcmp(f->ram[r] + b, f->shadow[r] + b, f->size[r] - b));
	}
}

static uint16_t ram_u16(struct fuzz_virtq *f, uint64_t gpa)
{
	const uint8_t *p = gmem_ptr(&f->m, gpa, 2);

	FUZZ_CHECK(p);
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t ram_u32(struct fuzz_virtq *f, uint64_t gpa)
{
	return ram_u16(f, gpa) | (uint32_t)ram_u16(f, gpa + 2) << 16;
}

static void pop_push(struct fuzz_virtq *f, struct fuzz_in *in)
{
	uint16_t before = f->q.last_avail_idx;
	uint8_t how = fuzz_u8(in);
	uint32_t written = (how & 1) ? fuzz_u32(in) : fuzz_u16(in);
	uint64_t out = 0, inb = 0;
	int rc;

	for (int r = 0; r < 2; r++)
		memcpy(f->shadow[r], f->ram[r], f->size[r]);
	f->q.reason[0] = 0;
	rc = virtq_pop(&f->q, &f->e);
	FUZZ_CHECK(rc == 1 || rc == 0 || rc == -EINVAL || rc == -ELOOP || rc == -E2BIG ||
		   rc == -EFAULT);
	if (rc <= 0) {
		FUZZ_CHECK(f->q.last_avail_idx == before);
		FUZZ_CHECK((rc < 0) == (virtq_reason(&f->q)[0] != 0));
		/* Empty means empty: the driver's idx is where the device is. */
		if (!rc)
			FUZZ_CHECK(ram_u16(f, f->q.avail_gpa + 2) == before);
		check_only_used_ring_written(f);
		return;
	}
	FUZZ_CHECK(f->q.last_avail_idx == (uint16_t)(before + 1));
	FUZZ_CHECK(f->e.head < f->q.size);
	FUZZ_CHECK((unsigned)f->e.out_num + f->e.in_num <= VIRTQ_MAX_IOV);
	for (unsigned i = 0; i < (unsigned)f->e.out_num + f->e.in_num; i++) {
		FUZZ_CHECK(f->e.iov[i].iov_len > 0);
		FUZZ_CHECK(in_one_region(f, f->e.iov[i].iov_base, f->e.iov[i].iov_len));
		if (i < f->e.out_num)
			out += f->e.iov[i].iov_len;
		else
			inb += f->e.iov[i].iov_len;
	}
	FUZZ_CHECK(out == f->e.out_len && inb == f->e.in_len);
	FUZZ_CHECK(out + inb <= UINT32_MAX);
	if (how & 2) { /* the device keeps it (never returned, like a stuck request) */
		check_only_used_ring_written(f);
		return;
	}
	virtq_push(&f->q, &f->e, written);
	check_only_used_ring_written(f);
	{
		uint16_t slot = (uint16_t)((f->q.used_idx - 1) & (f->q.size - 1));
		uint64_t el = f->q.used_gpa + 4 + 8 * (uint64_t)slot;

		FUZZ_CHECK(ram_u16(f, f->q.used_gpa + 2) == f->q.used_idx);
		FUZZ_CHECK(ram_u32(f, el) == f->e.head);
		FUZZ_CHECK(ram_u32(f, el + 4) == (written < f->e.in_len ? written : f->e.in_len));
	}
}

static void run(struct fuzz_virtq *f, struct fuzz_in *in)
{
	uint16_t last_signalled = f->q.used_idx;

	while (!fuzz_done(in)) {
		uint8_t op = fuzz_u8(in), b[64], n;
		uint64_t gpa, table;
		uint16_t idx;

		switch (op % 7) {
		case 0: /* the guest writes its RAM */
			gpa = near_ram(in);
			n = fuzz_u8(in) % sizeof(b);
			fuzz_bytes(in, b, n);
			poke(f, gpa, b, n);
			break;
		case 1: /* a descriptor, in the queue's table or a likely indirect one */
			idx = fuzz_u16(in);
			table = (idx & 0x8000) ? IND_GPA : f->q.desc_gpa;
			idx = (uint16_t)(idx & 0x7fff);
			gpa = table + 16 * (uint64_t)(idx % (f->q.size + 2));
			poke_le(f, gpa, near_ram(in), 8);
			n = fuzz_u8(in);
			poke_le(f, gpa + 8, (n & 0x80) ? fuzz_u32(in) : fuzz_u16(in) % 0x1200u, 4);
			poke_le(f, gpa + 12, n & 7, 2);
			poke_le(f, gpa + 14, (n & 0x40) ? fuzz_u16(in) : fuzz_u8(in), 2);
			break;
		case 2: /* make a head available */
			idx = fuzz_u16(in);
			poke_le(f,
				f->q.avail_gpa + 4 +
				    2 * (uint64_t)(f->avail_idx & (uint16_t)(f->q.size - 1)),
				(idx & 0x8000) ? idx : idx % f->q.size, 2);
			f->avail_idx++;
			poke_le(f, f->q.avail_gpa + 2, f->avail_idx, 2);
			break;
		case 3: /* any available idx */
			f->avail_idx = fuzz_u16(in);
			poke_le(f, f->q.avail_gpa + 2, f->avail_idx, 2);
			break;
		case 4:
		case 5:
			pop_push(f, in);
			break;
		case 6: /* notification suppression fields, then a decision */
			n = fuzz_u8(in);
			if (n & 1)
				poke_le(f, f->q.avail_gpa, fuzz_u16(in), 2);
			if (n & 2)
				poke_le(f, f->q.avail_gpa + 4 + 2 * (uint64_t)f->q.size,
					fuzz_u16(in), 2);
			if (virtq_should_notify(&f->q))
				FUZZ_CHECK(f->q.used_idx != last_signalled);
			last_signalled = f->q.used_idx;
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	struct fuzz_virtq *f = calloc(1, sizeof(*f));
	uint8_t cfg = fuzz_u8(&in);
	uint16_t qsize = (uint16_t)(1u << (cfg & 15));
	uint64_t desc, avail, used;
	int rc;

	if (!f)
		return 0;
	f->gpa[0] = RAM_A_GPA;
	f->size[0] = RAM_A_SIZE;
	f->gpa[1] = RAM_B_GPA;
	f->size[1] = RAM_B_SIZE;
	for (int r = 0; r < 2; r++) {
		f->ram[r] = calloc(1, f->size[r]);
		f->shadow[r] = calloc(1, f->size[r]);
		if (!f->ram[r] || !f->shadow[r] ||
		    gmem_add_region(&f->m, f->gpa[r], f->size[r], f->ram[r]))
			abort();
	}
	if (cfg & 0x40) {
		desc = fuzz_u64(&in);
		avail = fuzz_u64(&in);
		used = fuzz_u64(&in);
	} else {
		desc = 0;
		avail = 16 * (uint64_t)qsize;
		used = (avail + 6 + 2 * (uint64_t)qsize + 3) & ~3ULL;
	}
	rc = virtq_init(&f->q, &f->m, qsize, desc, avail, used, cfg & 0x10, cfg & 0x20);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFAULT);
	FUZZ_CHECK(!rc == !virtq_reason(&f->q)[0]);
	if (!rc) {
		FUZZ_CHECK(in_one_region(f, f->q.desc, 16 * (size_t)qsize));
		FUZZ_CHECK(in_one_region(f, f->q.avail, 6 + 2 * (size_t)qsize));
		FUZZ_CHECK(in_one_region(f, f->q.used, 6 + 8 * (size_t)qsize));
		run(f, &in);
	}
	virtq_destroy(&f->q);
	for (int r = 0; r < 2; r++) {
		free(f->ram[r]);
		free(f->shadow[r]);
	}
	free(f);
	return 0;
}
