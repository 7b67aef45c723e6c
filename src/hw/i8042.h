/* SPDX-License-Identifier: MIT */
/*
 * Intel 8042 keyboard controller at ports 0x60/0x64: enough of it for guests to
 * probe it and to reset the machine through it. See i8042.c.
 */
#ifndef KVMM_HW_I8042_H
#define KVMM_HW_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/irq.h"
#include "state/buf.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64 /* status on read */
#define I8042_KBD_GSI	   1
#define I8042_AUX_GSI	   12

/* Offsets the handler takes, relative to I8042_DATA_PORT. */
#define I8042_OFF_DATA	  0
#define I8042_OFF_COMMAND (I8042_COMMAND_PORT - I8042_DATA_PORT)

struct i8042;

/*
 * Creates the controller. irq (copied) drives GSI 1 (keyboard) and 12 (aux port).
 * reset is called, outside the device lock, when the guest pulses the CPU reset
 * line (command 0xFE, or output port bit 0 cleared). Returns NULL with errno set.
 */
struct i8042 *i8042_create(const struct irq_sink *irq, void (*reset)(void *opaque), void *opaque);
/* Registers ports 0x60 and 0x64 (BUS_PIO). Returns 0 or -errno. */
int i8042_attach(struct i8042 *k, struct bus *bus);
void i8042_destroy(struct i8042 *k);

/* The bus handler; offset is I8042_OFF_DATA or I8042_OFF_COMMAND. */
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Snapshot state: controller RAM (command byte first), output port, flags, the
 * half-done controller and keyboard commands and the output queue. i8042_save
 * appends format version 1 to b and returns 0 or b's error. i8042_load checks
 * everything in r (exactly this device's state) and either applies all of it and
 * drives IRQ1 and IRQ12 to the restored levels, or returns -EINVAL and leaves the
 * device as it was.
 */
int i8042_save(struct i8042 *k, struct state_buf *b);
int i8042_load(struct i8042 *k, struct state_reader *r);

#endif
