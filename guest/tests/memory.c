/* SPDX-License-Identifier: MIT */
/*
 * Pattern test of all RAM the multiboot memory map reports above 1 MiB,
 * except the kit's image (code, tables, stacks) and the modules: writes an
 * address-derived value to the first and last qword of every 4 KiB page, then
 * reads them all back, so two addresses backed by the same host page show up.
 * Prints the map, the total RAM (rounded to the nearest MiB) and the result.
 * Exit 0, or 5 on a mismatch.
 */
#include "kit.h"

#define EXIT_MEMORY_FAIL 5
#define MIB              ((uint64_t)1 << 20)
#define PAGE             ((uint64_t)4096)

static inline uint64_t pattern(uint64_t addr, uint64_t seed)
{
	return (addr * 0x9e3779b97f4a7c15ull) ^ seed;
}

struct span {
	uint64_t start, end;
};

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

/* pass 0 writes, pass 1 checks; returns errors (first one printed). */
static uint64_t walk(struct span s, int pass, uint64_t seed, uint64_t *errors)
{
	for (uint64_t p = s.start; p < s.end; p += PAGE) {
		volatile uint64_t *a = (volatile uint64_t *)(uintptr_t)p;
		volatile uint64_t *b = (volatile uint64_t *)(uintptr_t)(p + PAGE - 8);

		if (!pass) {
			*a = pattern(p, seed);
			*b = pattern(p + PAGE - 8, seed);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			volatile uint64_t *q = i ? b : a;
			uint64_t want = pattern((uintptr_t)q, seed), got = *q;

			if (got != want && !(*errors)++)
				printf("memory: FAIL at 0x%016lx: wrote 0x%016lx, read 0x%016lx\n",
				       (uint64_t)(uintptr_t)q, want, got);
		}
	}
	return s.end - s.start;
}

#define MAX_SPANS (KIT_MAX_RANGES * (KIT_MAX_MODULES + 2))

void test_main(const struct boot_info *bi)
{
	static struct span spans[MAX_SPANS];
	uint64_t total = 0, tested = 0, untested = 0, errors = 0, seed = rdtsc() | 1;
	unsigned int nspans = 0, nranges = 0;

	if (!bi->nr_ranges) {
		printf("memory: FAIL no memory map (multiboot flags 0x%x)\n", bi->mb_flags);
		exit(EXIT_MEMORY_FAIL);
	}
	for (unsigned int i = 0; i < bi->nr_ranges; i++) {
		const struct kit_mem_range *r = &bi->ranges[i];
		struct span s = {r->addr, r->addr + r->len};
		unsigned int first = nspans;

		printf("memory: map 0x%016lx-0x%016lx type %u\n", r->addr, r->addr + r->len - 1,
		       r->type);
		if (r->type != 1)
			continue;
		total += r->len;
		if (s.start < MIB)
			s.start = MIB;
		s.start = (s.start + PAGE - 1) & ~(PAGE - 1);
		s.end &= ~(PAGE - 1);
		if (s.end > bi->mapped_end) {
			untested += s.end - (s.start > bi->mapped_end ? s.start : bi->mapped_end);
			s.end = s.start > bi->mapped_end ? s.start : bi->mapped_end;
		}
		if (s.start >= s.end || nspans >= MAX_SPANS)
			continue;
		spans[nspans++] = s;
		/* Cut out the image, then each module, from every piece so far. */
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
		nranges++;
	}
	printf("memory: skip 0x%016lx-0x%016lx image\n", bi->image_start, bi->image_end - 1);
	for (unsigned int m = 0; m < bi->nr_modules; m++)
		printf("memory: skip 0x%016lx-0x%016lx module %s\n", bi->modules[m].start,
		       bi->modules[m].end - 1, bi->modules[m].string);
	printf("memory: total ram %lu MiB\n", (total + MIB / 2) / MIB);
	if (untested)
		printf("memory: note %lu MiB above the mapped limit not tested\n", untested / MIB);

	for (int pass = 0; pass < 2; pass++)
		for (unsigned int k = 0; k < nspans; k++)
			if (spans[k].end > spans[k].start) {
				uint64_t n = walk(spans[k], pass, seed, &errors);

				if (pass)
					tested += n;
			}
	printf("memory: tested %lu MiB in %u ranges, %lu errors\n", tested / MIB, nranges, errors);
	exit(errors ? EXIT_MEMORY_FAIL : 0);
}
