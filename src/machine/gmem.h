/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory as seen from the host. This is the only way kvmm code
 * reaches guest RAM: every access names a guest physical address and a length and
 * is checked to fall entirely inside one RAM region (DESIGN.md, "Guest memory").
 * Pure logic over host buffers, so loaders and devices are unit-testable with a
 * malloc'ed "guest".
 */
#ifndef KVMM_MACHINE_GMEM_H
#define KVMM_MACHINE_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
	uint64_t gpa;  /* first guest physical address */
	uint64_t size; /* bytes */
	uint8_t *host; /* host mapping of gpa */
};

struct gmem {
	struct gmem_region region[GMEM_MAX_REGIONS];
	int nr_regions;
	uint64_t ram_size; /* total RAM bytes the user asked for */
};

/* Adds a RAM region; regions must not overlap. Returns 0 or -ENOSPC/-EINVAL. */
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, void *host);

/*
 * Host pointer for [gpa, gpa+len) if that range lies entirely inside one RAM
 * region, else NULL. len 0 is refused (returns NULL) so callers cannot use a
 * zero-length probe to validate an address.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Copies from/to guest memory. Return 0 or -EFAULT when the range is not RAM. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *buf, uint64_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *buf, uint64_t len);

/* The end of the RAM region that contains gpa (exclusive), or 0 if gpa is not RAM. */
uint64_t gmem_region_end(const struct gmem *m, uint64_t gpa);

#endif
