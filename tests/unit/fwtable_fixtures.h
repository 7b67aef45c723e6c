/* SPDX-License-Identifier: MIT */
/*
 * Readers for the unit tests of firmware tables (ACPI, SMBIOS): little-endian
 * fields and the 8-bit sum every such table must bring to zero. Written apart
 * from the builders' own helpers, so a test does not check code with itself.
 */
#ifndef KVMM_TESTS_FWTABLE_FIXTURES_H
#define KVMM_TESTS_FWTABLE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

#endif
