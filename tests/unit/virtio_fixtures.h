/* SPDX-License-Identifier: MIT */
/*
 * A fake guest for the virtio unit tests: malloc'ed RAM in a struct gmem (1 MiB
 * at 0 and 64 KiB right after it, so a buffer can straddle two regions), and
 * the driver's side of a split ring (virtio 1.2, 2.7) written the way a driver
 * writes it: descriptors, available ring entries, then the available idx.
 */
#ifndef KVMM_TESTS_VIRTIO_FIXTURES_H
#define KVMM_TESTS_VIRTIO_FIXTURES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/gmem.h"

#define FAKE_RAM_SIZE  0x100000u
#define FAKE_RAM2_GPA  0x100000u
#define FAKE_RAM2_SIZE 0x10000u

/* Ring layout used by the tests: room for a queue of up to 2048 entries. */
#define FAKE_DESC_GPA	  0x1000u
#define FAKE_AVAIL_GPA	  0x10000u
#define FAKE_USED_GPA	  0x12000u
#define FAKE_BUF_GPA	  0x20000u
#define FAKE_INDIRECT_GPA 0x80000u

struct fake_vm {
	struct gmem m;
	uint8_t *ram, *ram2;
	uint16_t size;	    /* queue size the driver side uses */
	uint16_t avail_idx; /* the driver's next available idx */
};

static inline void fake_vm_init(struct fake_vm *v, uint16_t size)
{
	memset(v, 0, sizeof(*v));
	v->ram = calloc(1, FAKE_RAM_SIZE);
	v->ram2 = calloc(1, FAKE_RAM2_SIZE);
	if (!v->ram || !v->ram2 || gmem_add_region(&v->m, 0, FAKE_RAM_SIZE, v->ram) ||
	    gmem_add_region(&v->m, FAKE_RAM2_GPA, FAKE_RAM2_SIZE, v->ram2))
		abort();
	v->size = size;
}

static inline void fake_vm_free(struct fake_vm *v)
{
	free(v->ram);
	free(v->ram2);
}

static inline uint8_t *fake_ptr(struct fake_vm *v, uint64_t gpa)
{
	uint8_t *p = gmem_ptr(&v->m, gpa, 1);

	if (!p)
		abort();
	return p;
}

static inline void fake_put(struct fake_vm *v, uint64_t gpa, uint64_t val, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		fake_ptr(v, gpa + i)[0] = (uint8_t)(val >> (8 * i));
}

static inline uint64_t fake_get(struct fake_vm *v, uint64_t gpa, unsigned bytes)
{
	uint64_t val = 0;

	for (unsigned i = 0; i < bytes; i++)
		val |= (uint64_t)fake_ptr(v, gpa + i)[0] << (8 * i);
	return val;
}

/* Descriptor i of the table at table_gpa (the queue's, or an indirect one). */
static inline void drv_desc(struct fake_vm *v, uint64_t table_gpa, unsigned i, uint64_t addr,
			    uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t at = table_gpa + 16 * (uint64_t)i;

	fake_put(v, at, addr, 8);
	fake_put(v, at + 8, len, 4);
	fake_put(v, at + 12, flags, 2);
	fake_put(v, at + 14, next, 2);
}

static inline void drv_set_avail_idx(struct fake_vm *v, uint16_t idx)
{
	v->avail_idx = idx;
	fake_put(v, FAKE_AVAIL_GPA + 2, idx, 2);
}

/* Makes the chain at head available: ring entry first, then idx. */
static inline void drv_avail(struct fake_vm *v, uint16_t head)
{
	fake_put(v, FAKE_AVAIL_GPA + 4 + 2 * (uint64_t)(v->avail_idx % v->size), head, 2);
	drv_set_avail_idx(v, (uint16_t)(v->avail_idx + 1));
}

static inline void drv_set_avail_flags(struct fake_vm *v, uint16_t flags)
{
	fake_put(v, FAKE_AVAIL_GPA, flags, 2);
}

static inline void drv_set_used_event(struct fake_vm *v, uint16_t event)
{
	fake_put(v, FAKE_AVAIL_GPA + 4 + 2 * (uint64_t)v->size, event, 2);
}

static inline uint16_t drv_avail_event(struct fake_vm *v)
{
	return (uint16_t)fake_get(v, FAKE_USED_GPA + 4 + 8 * (uint64_t)v->size, 2);
}

static inline uint16_t drv_used_idx(struct fake_vm *v)
{
	return (uint16_t)fake_get(v, FAKE_USED_GPA + 2, 2);
}

/* The used element at used ring position pos (an idx value, taken modulo size). */
static inline uint32_t drv_used_id(struct fake_vm *v, uint16_t pos)
{
	return (uint32_t)fake_get(v, FAKE_USED_GPA + 4 + 8 * (uint64_t)(pos % v->size), 4);
}

static inline uint32_t drv_used_len(struct fake_vm *v, uint16_t pos)
{
	return (uint32_t)fake_get(v, FAKE_USED_GPA + 8 + 8 * (uint64_t)(pos % v->size), 4);
}

#endif
