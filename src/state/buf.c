/* SPDX-License-Identifier: MIT */
/* State buffers; see buf.h. */
#include "state/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void state_buf_init(struct state_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void state_buf_free(struct state_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void state_put_bytes(struct state_buf *b, const void *p, size_t n)
{
	if (b->error || !n)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->error = -ENOMEM;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;
		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->error = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void state_put_u8(struct state_buf *b, uint8_t v)
{
	state_put_bytes(b, &v, 1);
}

void state_put_u16(struct state_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	state_put_bytes(b, x, 2);
}

void state_put_u32(struct state_buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	state_put_bytes(b, x, 4);
}

void state_put_u64(struct state_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	state_put_bytes(b, x, 8);
}

void state_reader_init(struct state_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->pos = 0;
	r->error = 0;
}

void state_get_bytes(struct state_reader *r, void *p, size_t n)
{
	if (r->error || n > r->len - r->pos) {
		r->error = -EINVAL;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->data + r->pos, n);
	r->pos += n;
}

uint8_t state_get_u8(struct state_reader *r)
{
	uint8_t v;
	state_get_bytes(r, &v, 1);
	return v;
}

uint16_t state_get_u16(struct state_reader *r)
{
	uint8_t x[2];
	state_get_bytes(r, x, 2);
	return (uint16_t)(x[0] | (x[1] << 8));
}

uint32_t state_get_u32(struct state_reader *r)
{
	uint8_t x[4];
	uint32_t v = 0;
	state_get_bytes(r, x, 4);
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | x[i];
	return v;
}

uint64_t state_get_u64(struct state_reader *r)
{
	uint8_t x[8];
	uint64_t v = 0;
	state_get_bytes(r, x, 8);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | x[i];
	return v;
}

void state_reader_fail(struct state_reader *r)
{
	r->error = -EINVAL;
}

int state_reader_finish(const struct state_reader *r)
{
	return r->error ? r->error : (r->pos == r->len ? 0 : -EINVAL);
}
