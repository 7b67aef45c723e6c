/* SPDX-License-Identifier: MIT */
/* Parsing of user-supplied sizes ("512M", "4G") and counts. */
#ifndef KVMM_UTIL_SIZE_H
#define KVMM_UTIL_SIZE_H

#include <stdint.h>

/*
 * Parses a byte count with an optional K, M, G or T suffix (binary multiples,
 * case-insensitive, optional trailing 'B' or "iB"). A bare number is taken in
 * bytes when default_unit is 1, in MiB when it is 1<<20 (as QEMU's -m does).
 * Returns 0, or -EINVAL (not a size) / -ERANGE (overflows 64 bits).
 */
int size_parse(const char *s, uint64_t default_unit, uint64_t *out);

/* Parses a decimal unsigned integer in [min, max]. -EINVAL or -ERANGE on error. */
int size_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
