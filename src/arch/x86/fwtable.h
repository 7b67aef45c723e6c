/* SPDX-License-Identifier: MIT */
/*
 * Byte helpers shared by the firmware table builders (acpi.c, acpi_loader.c,
 * mptable.c, smbios.c): every such table is little endian and protected by
 * an 8-bit checksum that makes its bytes sum to zero (ACPI 6.5 5.2.6,
 * MultiProcessor Specification 1.4 4.1, SMBIOS DSP0134 5.2).
 */
#ifndef KVMM_ARCH_X86_FWTABLE_H
#define KVMM_ARCH_X86_FWTABLE_H

#include <stddef.h>
#include <stdint.h>

static inline void fwtable_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void fwtable_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fwtable_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte that makes p[0, n) sum to zero once it is added in. */
static inline uint8_t fwtable_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

#endif
