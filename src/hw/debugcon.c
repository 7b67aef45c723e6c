/* SPDX-License-Identifier: MIT */
/*
 * Firmware debug console (see debugcon.h; QEMU hw/char/debugcon.c behaviour:
 * every byte written is output, a read returns the "readback" value 0xe9).
 * Bytes gather into a line under a lock (any vCPU may write) and each
 * complete line is one log line. Control characters other than tab become
 * '.', so a guest cannot put escape sequences into the host's log.
 */
#include "hw/debugcon.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define DEBUGCON_READBACK 0xe9

struct debugcon {
	pthread_mutex_t lock;
	char line[DEBUGCON_LINE_MAX + 1];
	unsigned len;
};

static void debugcon_flush(struct debugcon *d)
{
	d->line[d->len] = '\0';
	log_debug("firmware", "%s", d->line);
	d->len = 0;
}

void debugcon_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct debugcon *d = opaque;

	(void)offset;
	if (!is_write) {
		memset(data, 0, len);
		data[0] = DEBUGCON_READBACK;
		return;
	}
	/* Only the debug level shows it: skip the work otherwise. */
	if (log_get_level() < LOG_DEBUG)
		return;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len && i < 4; i++) {
		char c = (char)data[i];

		if (c == '\n') {
			debugcon_flush(d);
			continue;
		}
		if (c == '\r')
			continue;
		d->line[d->len++] = (c == '\t' || (c >= 0x20 && c < 0x7f)) ? c : '.';
		if (d->len == DEBUGCON_LINE_MAX)
			debugcon_flush(d);
	}
	pthread_mutex_unlock(&d->lock);
}

struct debugcon *debugcon_create(void)
{
	struct debugcon *d = calloc(1, sizeof(*d));

	if (d)
		pthread_mutex_init(&d->lock, NULL);
	return d;
}

int debugcon_attach(struct debugcon *d, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, DEBUGCON_PORT, 1, debugcon_io, d, "debugcon");
}

void debugcon_destroy(struct debugcon *d)
{
	if (!d)
		return;
	if (d->len)
		debugcon_flush(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
