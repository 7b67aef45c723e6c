/* SPDX-License-Identifier: MIT */
/*
 * The one trap registry for port I/O and MMIO. A device registers a range with a
 * single handler used for both spaces (as kvmtool does); vCPU threads dispatch
 * exits through bus_access(). Accesses nobody handles are counted and logged once
 * per address, never fatal; unhandled reads return all ones, like an open bus.
 */
#ifndef KVMM_MACHINE_BUS_H
#define KVMM_MACHINE_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum bus_space { BUS_PIO = 0, BUS_MMIO = 1 };

/*
 * Handles one access of len bytes (1, 2, 4 or 8; MMIO may be up to 8) at
 * offset bytes into the registered range. For a read the handler fills data;
 * data is little-endian, as the guest sees it. Called from vCPU threads
 * concurrently: a device with shared state locks it itself.
 */
typedef void (*bus_handler_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			       bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_handler_fn handler;
	void *opaque;
	const char *name;
};

#define BUS_UNHANDLED_SEEN 64

struct bus_space_table {
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	int nr, cap;
	/* Unhandled-access bookkeeping: total count, and addresses already logged. */
	uint64_t unhandled;
	uint64_t seen[BUS_UNHANDLED_SEEN];
	int nr_seen;
};

struct bus {
	pthread_rwlock_t lock;
	pthread_mutex_t unhandled_lock;
	struct bus_space_table space[2];
};

int bus_init(struct bus *bus);
void bus_destroy(struct bus *bus);

/* Registers [base, base+len). Returns 0, -EEXIST on overlap, -EINVAL, -ENOMEM. */
int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
		 bus_handler_fn handler, void *opaque, const char *name);
/* Removes the range registered at exactly base. Returns 0 or -ENOENT. */
int bus_unregister(struct bus *bus, enum bus_space space, uint64_t base);

/*
 * Dispatches an access. Returns true when a device handled it; false when it
 * was unhandled (reads then return all ones).
 */
bool bus_access(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write);

/* Number of unhandled accesses so far in a space. */
uint64_t bus_unhandled_count(struct bus *bus, enum bus_space space);

#endif
