/* SPDX-License-Identifier: MIT */
/*
 * Exit port for test guests, following QEMU's isa-debug-exit device (QEMU
 * hw/misc/debugexit.c behaviour, documented in "-device isa-debug-exit"): writing
 * V ends the VM with exit status (V << 1) | 1. The shift keeps a guest from ever
 * faking a clean exit (status 0), so tests can tell "the guest said so" from
 * "kvmm finished normally".
 *
 * There is no mutable state after creation, hence no lock: concurrent writers
 * each call exit_fn, and the first exit wins in the caller. For the same reason
 * it has no save/load: a snapshot has nothing of it to carry (the exit callback
 * belongs to the machine that is restored).
 */
#include "hw/debug_exit.h"

#include <stdlib.h>
#include <string.h>

struct debug_exit {
	void (*exit_fn)(void *opaque, int status);
	void *opaque;
};

void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct debug_exit *d = opaque;
	uint32_t v = 0;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* The value as written, whatever the width (little-endian, at most 32 bits used). */
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	if (d->exit_fn)
		d->exit_fn(d->opaque, (int)(((v << 1) | 1u) & 0x7fffffffu));
}

struct debug_exit *debug_exit_create(void (*exit_fn)(void *opaque, int status), void *opaque)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->exit_fn = exit_fn;
	d->opaque = opaque;
	return d;
}

int debug_exit_attach(struct debug_exit *d, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io, d,
			    "debug_exit");
}

void debug_exit_destroy(struct debug_exit *d)
{
	free(d);
}
