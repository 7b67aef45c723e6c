/* SPDX-License-Identifier: MIT */
/* Port I/O and MMIO trap registry; see bus.h. */
#include "machine/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

int bus_init(struct bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	if (pthread_rwlock_init(&bus->lock, NULL))
		return -ENOMEM;
	if (pthread_mutex_init(&bus->unhandled_lock, NULL)) {
		pthread_rwlock_destroy(&bus->lock);
		return -ENOMEM;
	}
	return 0;
}

void bus_destroy(struct bus *bus)
{
	for (int i = 0; i < 2; i++)
		free(bus->space[i].ranges);
	pthread_mutex_destroy(&bus->unhandled_lock);
	pthread_rwlock_destroy(&bus->lock);
	memset(bus, 0, sizeof(*bus));
}

int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
		 bus_handler_fn handler, void *opaque, const char *name)
{
	struct bus_space_table *t = &bus->space[space];
	int pos, rc = 0;

	if (!len || base + len - 1 < base || !handler)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (pos = 0; pos < t->nr && t->ranges[pos].base < base; pos++)
		;
	if ((pos > 0 && t->ranges[pos - 1].base + t->ranges[pos - 1].len > base) ||
	    (pos < t->nr && base + len > t->ranges[pos].base)) {
		rc = -EEXIST;
		goto out;
	}
	if (t->nr == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		struct bus_range *r = realloc(t->ranges, (size_t)cap * sizeof(*r));
		if (!r) {
			rc = -ENOMEM;
			goto out;
		}
		t->ranges = r;
		t->cap = cap;
	}
	memmove(&t->ranges[pos + 1], &t->ranges[pos], (size_t)(t->nr - pos) * sizeof(*t->ranges));
	t->ranges[pos] = (struct bus_range){base, len, handler, opaque, name};
	t->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

int bus_unregister(struct bus *bus, enum bus_space space, uint64_t base)
{
	struct bus_space_table *t = &bus->space[space];
	int rc = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (int i = 0; i < t->nr; i++) {
		if (t->ranges[i].base == base) {
			memmove(&t->ranges[i], &t->ranges[i + 1],
				(size_t)(t->nr - i - 1) * sizeof(*t->ranges));
			t->nr--;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

static const struct bus_range *bus_find(const struct bus_space_table *t, uint64_t addr)
{
	int lo = 0, hi = t->nr - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &t->ranges[mid];
		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static void bus_note_unhandled(struct bus *bus, enum bus_space space, uint64_t addr,
			       uint32_t len, bool is_write)
{
	struct bus_space_table *t = &bus->space[space];
	bool first = true;

	pthread_mutex_lock(&bus->unhandled_lock);
	t->unhandled++;
	for (int i = 0; i < t->nr_seen; i++)
		if (t->seen[i] == addr)
			first = false;
	if (first) {
		if (t->nr_seen < BUS_UNHANDLED_SEEN)
			t->seen[t->nr_seen++] = addr;
		else if (t->nr_seen == BUS_UNHANDLED_SEEN)
			first = false; /* table full: stay quiet, keep counting */
	}
	pthread_mutex_unlock(&bus->unhandled_lock);
	if (first)
		log_info("bus", "unhandled %s %s at 0x%" PRIx64 " (%u bytes)",
			 space == BUS_PIO ? "port" : "mmio", is_write ? "write" : "read", addr, len);
}

bool bus_access(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write)
{
	const struct bus_range *r;
	bus_handler_fn fn = NULL;
	void *opaque = NULL;
	uint64_t off = 0;

	pthread_rwlock_rdlock(&bus->lock);
	r = bus_find(&bus->space[space], addr);
	if (r && len <= r->len - (addr - r->base)) {
		fn = r->handler;
		opaque = r->opaque;
		off = addr - r->base;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (fn) {
		fn(opaque, off, data, len, is_write);
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	bus_note_unhandled(bus, space, addr, len, is_write);
	return false;
}

uint64_t bus_unhandled_count(struct bus *bus, enum bus_space space)
{
	uint64_t n;

	pthread_mutex_lock(&bus->unhandled_lock);
	n = bus->space[space].unhandled;
	pthread_mutex_unlock(&bus->unhandled_lock);
	return n;
}
