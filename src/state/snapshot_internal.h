/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the snapshot writer (snapshot_writer.c) and reader
 * (snapshot.c): explicit little-endian fields and the CRC-32 of zero runs, so
 * both sides compute a memory section's CRC the same way without reading holes.
 */
#ifndef KVMM_STATE_SNAPSHOT_INTERNAL_H
#define KVMM_STATE_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/snapshot.h"

extern const uint8_t snap_zero_page[SNAP_PAGE_SIZE];

void snap_put_u32(uint8_t *p, uint32_t v);
void snap_put_u64(uint8_t *p, uint64_t v);
uint32_t snap_get_u32(const uint8_t *p);
uint64_t snap_get_u64(const uint8_t *p);

/* zlib's crc32 over any length (crc32_z takes size_t; crc32 only uInt). */
uint32_t snap_crc(uint32_t crc, const void *p, size_t n);
/* crc extended by n zero bytes, in O(log n) without touching memory. */
uint32_t snap_crc_zeros(uint32_t crc, uint64_t n);

/* A section name: 1..SNAP_NAME_MAX bytes of '!'..'~' followed by a NUL within
 * the first SNAP_NAME_MAX+1 bytes of p. Printable so messages can quote it. */
bool snap_name_valid(const char *p);

#endif
