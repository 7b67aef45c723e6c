/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the libFuzzer targets in tests/fuzz/ (docs/testing.md,
 * "Fuzzing"): the entry point prototypes, a cursor that turns the fuzzer's bytes
 * into a sequence of typed values (reading past the end yields zeros, so every
 * input is a valid program), and FUZZ_CHECK for invariants, which aborts so
 * that libFuzzer saves the input as a crash artifact.
 */
#ifndef KVMM_TESTS_FUZZ_H
#define KVMM_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant the code under test must keep: report it and abort. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__,  \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline struct fuzz_in fuzz_in_init(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){data, size};
}

static inline bool fuzz_done(const struct fuzz_in *in)
{
	return in->n == 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);

	return (uint16_t)(v | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = fuzz_u16(in);

	return v | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = fuzz_u32(in);

	return v | (uint64_t)fuzz_u32(in) << 32;
}

/* Copies up to len bytes into buf, zero-filling what the input lacks; returns the count taken. */
static inline size_t fuzz_bytes(struct fuzz_in *in, uint8_t *buf, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	if (n)
		memcpy(buf, in->p, n);
	memset(buf + n, 0, len - n);
	in->p += n;
	in->n -= n;
	return n;
}

/* One of the access widths the bus passes to handlers. */
static inline uint32_t fuzz_width(struct fuzz_in *in)
{
	static const uint32_t w[4] = {1, 2, 4, 8};

	return w[fuzz_u8(in) & 3];
}

#endif
