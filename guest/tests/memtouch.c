/* SPDX-License-Identifier: MIT */
/*
 * Fills all RAM, then keeps touching it (benchmarks: bench/bm_snapshot.py).
 *
 * Takes every type-1 range of the multiboot memory map above 1 MiB, less the
 * kit's image and the modules (as the memory guest does), writes a non-zero,
 * address-derived pattern to every qword of every 4 KiB page and prints
 * "memtouch: filled N MiB in T us". Then it loops for good: each pass reads and
 * rewrites one qword per page over all of that RAM and prints
 * "memtouch: pass K N MiB T us" (T from the TSC). A guest restored from a
 * snapshot taken after "filled" has touched all its memory again when its
 * first complete pass line appears. The first pass line after a restore may
 * report a pass that began before the save; the host times it from the
 * restore, not from T.
 *
 * A qword that does not hold its pattern (RAM lost or mixed up by a save and
 * restore) ends the guest with "memtouch: FAIL at ADDR ..." and exit code 5.
 * Everything runs in ring 3, natively on PVM.
 */
#include "kit.h"

#define EXIT_MEMTOUCH_FAIL 5
#define MIB                ((uint64_t)1 << 20)
#define PAGE               ((uint64_t)4096)
#define MAX_SPANS          (KIT_MAX_RANGES * (KIT_MAX_MODULES + 2))

struct span {
	uint64_t start, end;
};

static struct span spans[MAX_SPANS];
static unsigned int nspans;

/* Never zero, so no filled page reads as a hole (all-zero page) to a VMM. */
static inline uint64_t pattern(uint64_t addr)
{
	return (addr * 0x9e3779b97f4a7c15ull) | 1;
}

/* Cuts [cut.start, cut.end) out of *s; a second piece, if any, goes to *rest. */
static void exclude(struct span *s, struct span cut, struct span *rest)
{
	rest->start = rest->end = 0;
	if (cut.end <= s->start || cut.start >= s->end)
		return;
	if (cut.start > s->start && cut.end < s->end) {
		rest->start = cut.end;
		rest->end = s->end;
		s->end = cut.start;
	} else if (cut.start <= s->start) {
		s->start = cut.end < s->end ? cut.end : s->end;
	} else {
		s->end = cut.start;
	}
}

static void collect(const struct boot_info *bi)
{
	for (unsigned int i = 0; i < bi->nr_ranges; i++) {
		const struct kit_mem_range *r = &bi->ranges[i];
		struct span s = {r->addr, r->addr + r->len};
		unsigned int first = nspans;

		if (r->type != 1)
			continue;
		if (s.start < MIB)
			s.start = MIB;
		s.start = (s.start + PAGE - 1) & ~(PAGE - 1);
		s.end &= ~(PAGE - 1);
		if (s.end > bi->mapped_end)
			s.end = s.start > bi->mapped_end ? s.start : bi->mapped_end;
		if (s.start >= s.end || nspans >= MAX_SPANS)
			continue;
		spans[nspans++] = s;
		for (unsigned int c = 0; c <= bi->nr_modules; c++) {
			struct span cut = {bi->image_start, bi->image_end};

			if (c) {
				cut.start = bi->modules[c - 1].start & ~(PAGE - 1);
				cut.end = (bi->modules[c - 1].end + PAGE - 1) & ~(PAGE - 1);
			}
			for (unsigned int k = first; k < nspans; k++) {
				struct span rest;

				exclude(&spans[k], cut, &rest);
				if (rest.end > rest.start && nspans < MAX_SPANS)
					spans[nspans++] = rest;
			}
		}
	}
}

static void fail(uint64_t addr, uint64_t want, uint64_t got)
{
	printf("memtouch: FAIL at 0x%016lx: expected 0x%016lx, read 0x%016lx\n", addr, want, got);
	exit(EXIT_MEMTOUCH_FAIL);
}

static uint64_t us_since(uint64_t t0)
{
	return (rdtsc() - t0) * 1000 / kit_tsc_khz();
}

void test_main(const struct boot_info *bi)
{
	uint64_t total = 0, t0;

	collect(bi);
	kit_tsc_khz(); /* calibrate now, not inside the first timed pass */
	t0 = rdtsc();
	for (unsigned int k = 0; k < nspans; k++) {
		for (uint64_t p = spans[k].start; p < spans[k].end; p += 8)
			*(volatile uint64_t *)(uintptr_t)p = pattern(p);
		total += spans[k].end - spans[k].start;
	}
	if (!total) {
		printf("memtouch: FAIL no RAM above the image (multiboot flags 0x%x)\n",
		       bi->mb_flags);
		exit(EXIT_MEMTOUCH_FAIL);
	}
	printf("memtouch: filled %lu MiB in %lu us\n", total / MIB, us_since(t0));

	/* The qword rewritten in each page moves by one every pass, so that
	 * pass K checks what pass K-1 (or the fill) left in another qword. */
	for (uint64_t pass = 1;; pass++) {
		uint64_t off = (pass % (PAGE / 8)) * 8;

		t0 = rdtsc();
		for (unsigned int k = 0; k < nspans; k++)
			for (uint64_t p = spans[k].start; p < spans[k].end; p += PAGE) {
				volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)(p + off);
				uint64_t want = pattern(p + off), got = *q;

				if (got != want)
					fail(p + off, want, got);
				*q = want;
			}
		printf("memtouch: pass %lu %lu MiB %lu us\n", pass, total / MIB, us_since(t0));
	}
}
