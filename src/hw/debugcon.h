/* SPDX-License-Identifier: MIT */
/*
 * The firmware debug console at port 0x402, as QEMU's isa-debugcon: SeaBIOS
 * (CONFIG_DEBUG_IO) and OVMF write their log there a byte at a time. kvmm
 * turns it into log lines from "firmware" at debug level (--log-level debug);
 * reads return 0xe9, the value SeaBIOS probes for. See debugcon.c.
 */
#ifndef KVMM_HW_DEBUGCON_H
#define KVMM_HW_DEBUGCON_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bus.h"

#define DEBUGCON_PORT	  0x402
#define DEBUGCON_LINE_MAX 160 /* longer lines are split */

struct debugcon;

struct debugcon *debugcon_create(void);
int debugcon_attach(struct debugcon *d, struct bus *bus);
/* Logs what is left of an unfinished line, then frees. */
void debugcon_destroy(struct debugcon *d);
void debugcon_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
