/* SPDX-License-Identifier: MIT */
/*
 * Byte buffers for device and vCPU state: a growable writer and a bounds-checked
 * reader, little-endian fixed-width fields. A device's save() appends its fields
 * to a state_buf; its load() reads them back from a state_reader and must treat
 * them as hostile (a snapshot file may be corrupted or crafted): every get checks
 * the remaining length, and the first failure sticks so load() can check once.
 */
#ifndef KVMM_STATE_BUF_H
#define KVMM_STATE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_buf {
	uint8_t *data;
	size_t len, cap;
	int error; /* 0 or -ENOMEM, sticky */
};

void state_buf_init(struct state_buf *b);
void state_buf_free(struct state_buf *b);
void state_put_bytes(struct state_buf *b, const void *p, size_t n);
void state_put_u8(struct state_buf *b, uint8_t v);
void state_put_u16(struct state_buf *b, uint16_t v);
void state_put_u32(struct state_buf *b, uint32_t v);
void state_put_u64(struct state_buf *b, uint64_t v);

struct state_reader {
	const uint8_t *data;
	size_t len, pos;
	int error; /* 0 or -EINVAL (read past the end, or a value load() refused), sticky */
};

void state_reader_init(struct state_reader *r, const void *data, size_t len);
void state_get_bytes(struct state_reader *r, void *p, size_t n);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* Marks the reader failed (a field out of range); load() then returns -EINVAL. */
void state_reader_fail(struct state_reader *r);
/* 0 when every get succeeded and all input was consumed, else -EINVAL. */
int state_reader_finish(const struct state_reader *r);

#endif
