/* SPDX-License-Identifier: MIT */
/*
 * Test-exit port, QEMU's isa-debug-exit convention: a guest write ends the VM
 * with a status derived from the value written. See debug_exit.c.
 */
#ifndef KVMM_HW_DEBUG_EXIT_H
#define KVMM_HW_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bus.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_LEN	4

struct debug_exit;

/*
 * exit_fn is called (from the writing vCPU thread) with status (V << 1) | 1 for a
 * written value V, computed in 32 bits and with the sign bit cleared so it stays a
 * non-negative int; the caller passes it to exit(), so the shell sees
 * ((V << 1) | 1) & 0xff, and a guest can never produce exit status 0.
 * Returns NULL with errno set.
 */
struct debug_exit *debug_exit_create(void (*exit_fn)(void *opaque, int status), void *opaque);
/* Registers DEBUG_EXIT_PORT, DEBUG_EXIT_LEN ports (BUS_PIO). Returns 0 or -errno. */
int debug_exit_attach(struct debug_exit *d, struct bus *bus);
void debug_exit_destroy(struct debug_exit *d);

/* The bus handler. Reads return 0. */
void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
