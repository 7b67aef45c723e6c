/* SPDX-License-Identifier: MIT */
/*
 * Intel 8042 keyboard controller as wired on PC/AT boards (IBM PC/AT Technical
 * Reference, "Keyboard Controller": status register, command byte, controller
 * commands 20h-FFh; the IBM PS/2 Hardware Interface Technical Reference adds the
 * auxiliary-port commands A7h-A9h, D2h-D4h). No keyboard or mouse is attached: the
 * controller answers its own commands, ACKs keyboard commands the way a keyboard
 * would (so Linux's i8042/atkbd probing succeeds quickly), and reports aux-device
 * commands as timed out, which is what an empty PS/2 mouse port does.
 *
 * Interrupts: IRQ1 while the output buffer holds keyboard-side data and command
 * byte bit 0 is set; IRQ12 likewise for aux data and bit 1. ISA lines are
 * edge-triggered, so every data-port read drops the line before raising it again
 * for the next queued byte.
 */
#include "hw/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Status register (port 0x64 read). */
#define STS_OBF	    0x01 /* output buffer full */
#define STS_IBF	    0x02 /* input buffer full: always 0, we consume writes at once */
#define STS_SYS	    0x04 /* system flag: command byte bit 2 / self-test passed */
#define STS_CMD	    0x08 /* last write was to 0x64 */
#define STS_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define STS_AUXDATA 0x20 /* output buffer holds aux-port data */
#define STS_TIMEOUT 0x40

/* Command byte (controller RAM byte 0). */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS	   0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

/* Output port (D0h/D1h). */
#define OUT_RESET 0x01 /* active low: 0 holds the CPU in reset */
#define OUT_A20	  0x02

#define I8042_QUEUE 16

struct i8042_byte {
	uint8_t val;
	uint8_t sts; /* STS_AUXDATA / STS_TIMEOUT that go with it */
};

struct i8042 {
	pthread_mutex_t lock;
	struct irq_sink irq;
	void (*reset)(void *opaque);
	void *opaque;

	uint8_t ram[32]; /* ram[0] is the command byte */
	uint8_t outport;
	bool sys, last_was_cmd;
	uint8_t pending_cmd; /* controller command waiting for its data byte, or 0 */
	uint8_t kbd_pending; /* keyboard command waiting for its parameter, or 0 */
	uint8_t last_read;

	struct i8042_byte queue[I8042_QUEUE];
	unsigned head, count;
	int kbd_level, aux_level;
};

static void i8042_set_line(struct i8042 *k, int *cur, uint32_t gsi, int level)
{
	if (*cur != level) {
		*cur = level;
		irq_set_level(&k->irq, gsi, level);
	}
}

/* The levels IRQ1 and IRQ12 follow: the output buffer's owner, if its interrupt is on. */
static void i8042_levels(const struct i8042 *k, int *kbd, int *aux_line)
{
	bool aux = k->count && (k->queue[k->head].sts & STS_AUXDATA);

	*kbd = k->count && !aux && (k->ram[0] & CTR_KBDINT);
	*aux_line = aux && (k->ram[0] & CTR_AUXINT);
}

/* Called with the lock held: the sink is a leaf and ordering must follow state. */
static void i8042_update_irq(struct i8042 *k)
{
	int kbd, aux;

	i8042_levels(k, &kbd, &aux);
	i8042_set_line(k, &k->kbd_level, I8042_KBD_GSI, kbd);
	i8042_set_line(k, &k->aux_level, I8042_AUX_GSI, aux);
}

static void i8042_queue(struct i8042 *k, uint8_t val, uint8_t sts)
{
	if (k->count == I8042_QUEUE)
		return; /* the guest is not reading; a real controller would drop it too */
	k->queue[(k->head + k->count) % I8042_QUEUE] = (struct i8042_byte){val, sts};
	k->count++;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = STS_UNLOCK;

	if (k->count)
		s |= STS_OBF | k->queue[k->head].sts;
	if (k->sys)
		s |= STS_SYS;
	if (k->last_was_cmd)
		s |= STS_CMD;
	return s;
}

/* A byte for the keyboard itself: answer as an MF2 keyboard would. */
static void i8042_kbd_write(struct i8042 *k, uint8_t val)
{
	if (k->kbd_pending) {
		uint8_t cmd = k->kbd_pending;

		k->kbd_pending = 0;
		i8042_queue(k, 0xfa, 0);
		if (cmd == 0xf0 && val == 0)
			i8042_queue(k, 0x02, 0); /* current scan code set */
		return;
	}
	switch (val) {
	case 0xed: /* set LEDs */
	case 0xf0: /* scan code set */
	case 0xf3: /* typematic rate */
		k->kbd_pending = val;
		i8042_queue(k, 0xfa, 0);
		break;
	case 0xee: /* echo */
		i8042_queue(k, 0xee, 0);
		break;
	case 0xf2: /* identify: MF2 keyboard */
		i8042_queue(k, 0xfa, 0);
		i8042_queue(k, 0xab, 0);
		i8042_queue(k, 0x83, 0);
		break;
	case 0xff: /* reset: ACK, then basic assurance test passed */
		i8042_queue(k, 0xfa, 0);
		i8042_queue(k, 0xaa, 0);
		break;
	default: /* enable, disable, defaults, set-all-keys...: ACK */
		i8042_queue(k, 0xfa, 0);
		break;
	}
}

/* Returns true when the CPU reset line is to be pulsed. */
static bool i8042_data_write(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd & 0x1f] = val;
		if (cmd == 0x60)
			k->sys = val & CTR_SYS;
		return false;
	}
	switch (cmd) {
	case 0xd1: /* write output port */
		k->outport = val;
		return !(val & OUT_RESET);
	case 0xd2: /* write keyboard output buffer */
		i8042_queue(k, val, 0);
		break;
	case 0xd3: /* write aux output buffer (loopback; Linux uses it to probe IRQ12) */
		i8042_queue(k, val, STS_AUXDATA);
		break;
	case 0xd4: /* write to aux device: there is none, so it times out */
		i8042_queue(k, 0xfe, STS_AUXDATA | STS_TIMEOUT);
		break;
	default: /* no command pending: the byte goes to the keyboard */
		i8042_kbd_write(k, val);
		break;
	}
	return false;
}

static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) {
		i8042_queue(k, k->ram[cmd & 0x1f], 0);
		return false;
	}
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->pending_cmd = cmd;
		return false;
	}
	/* F0h-FFh pulse output port bits 0-3 low for those bits clear in the command. */
	if (cmd >= 0xf0)
		return !(cmd & OUT_RESET);
	switch (cmd) {
	case 0xa7:
		k->ram[0] |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ram[0] &= (uint8_t)~CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: no error */
	case 0xab: /* keyboard interface test: no error */
		i8042_queue(k, 0x00, 0);
		break;
	case 0xaa: /* controller self-test: passed */
		k->sys = true;
		i8042_queue(k, 0x55, 0);
		break;
	case 0xad:
		k->ram[0] |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ram[0] &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xd0: /* read output port */
		i8042_queue(k, k->outport, 0);
		break;
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xd4:
		k->pending_cmd = cmd;
		break;
	default: /* A20 gate variants, input port, vendor commands: ignored */
		break;
	}
	return false;
}

static uint8_t i8042_data_read(struct i8042 *k)
{
	if (!k->count)
		return k->last_read; /* the output buffer keeps its last value */
	k->last_read = k->queue[k->head].val;
	k->head = (k->head + 1) % I8042_QUEUE;
	k->count--;
	/* Edge-triggered ISA lines: drop so the next byte makes a fresh edge. */
	i8042_set_line(k, &k->kbd_level, I8042_KBD_GSI, 0);
	i8042_set_line(k, &k->aux_level, I8042_AUX_GSI, 0);
	return k->last_read;
}

void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;
	bool reset = false;

	if (!len)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = offset == I8042_OFF_COMMAND;
		if (offset == I8042_OFF_DATA)
			reset = i8042_data_write(k, data[0]);
		else if (offset == I8042_OFF_COMMAND)
			reset = i8042_command(k, data[0]);
	} else {
		if (offset == I8042_OFF_DATA)
			data[0] = i8042_data_read(k);
		else if (offset == I8042_OFF_COMMAND)
			data[0] = i8042_status(k);
		else
			data[0] = 0xff;
		for (uint32_t i = 1; i < len; i++)
			data[i] = 0xff;
	}
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	/* Outside the lock: resetting the machine may come back to this device. */
	if (reset && k->reset)
		k->reset(k->opaque);
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; 32 bytes of controller
 * RAM; u8 output port, SYS flag (0/1), last-write-was-command flag (0/1), pending
 * controller command (0, 60h-7Fh or D1h-D4h), pending keyboard command (0, EDh,
 * F0h or F3h), last byte read; u8 queue count (at most 16) and that many
 * (value, status bits) pairs, oldest first. The status register and the line
 * levels follow from these.
 */
#define I8042_STATE_VERSION 1

int i8042_save(struct i8042 *k, struct state_buf *b)
{
	pthread_mutex_lock(&k->lock);
	state_put_u32(b, I8042_STATE_VERSION);
	state_put_bytes(b, k->ram, sizeof(k->ram));
	state_put_u8(b, k->outport);
	state_put_u8(b, k->sys);
	state_put_u8(b, k->last_was_cmd);
	state_put_u8(b, k->pending_cmd);
	state_put_u8(b, k->kbd_pending);
	state_put_u8(b, k->last_read);
	state_put_u8(b, (uint8_t)k->count);
	for (unsigned i = 0; i < k->count; i++) {
		const struct i8042_byte *e = &k->queue[(k->head + i) % I8042_QUEUE];

		state_put_u8(b, e->val);
		state_put_u8(b, e->sts);
	}
	pthread_mutex_unlock(&k->lock);
	return b->error;
}

/* The values i8042_command leaves waiting for a data byte. */
static bool i8042_valid_pending_cmd(uint8_t cmd)
{
	return cmd == 0 || (cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4);
}

/* The keyboard commands i8042_kbd_write leaves waiting for a parameter. */
static bool i8042_valid_kbd_pending(uint8_t cmd)
{
	return cmd == 0 || cmd == 0xed || cmd == 0xf0 || cmd == 0xf3;
}

/* Reads and checks the fields into t; the reader's error says whether they are usable. */
static void i8042_read_state(struct i8042 *t, struct state_reader *r)
{
	uint8_t sys, last_was_cmd;

	if (state_get_u32(r) != I8042_STATE_VERSION)
		state_reader_fail(r);
	state_get_bytes(r, t->ram, sizeof(t->ram)); /* plain controller RAM: any value */
	t->outport = state_get_u8(r);
	sys = state_get_u8(r);
	last_was_cmd = state_get_u8(r);
	t->sys = sys;
	t->last_was_cmd = last_was_cmd;
	t->pending_cmd = state_get_u8(r);
	t->kbd_pending = state_get_u8(r);
	t->last_read = state_get_u8(r);
	if (sys > 1 || last_was_cmd > 1 || !i8042_valid_pending_cmd(t->pending_cmd) ||
	    !i8042_valid_kbd_pending(t->kbd_pending))
		state_reader_fail(r);
	t->head = 0;
	t->count = state_get_u8(r);
	if (t->count > I8042_QUEUE) {
		state_reader_fail(r);
		return;
	}
	for (unsigned i = 0; i < t->count; i++) {
		t->queue[i].val = state_get_u8(r);
		t->queue[i].sts = state_get_u8(r);
		if (t->queue[i].sts & ~(STS_AUXDATA | STS_TIMEOUT))
			state_reader_fail(r);
	}
}

int i8042_load(struct i8042 *k, struct state_reader *r)
{
	struct i8042 tmp = {0}, *t = &tmp; /* only the state fields of the copy are used */

	i8042_read_state(t, r);
	if (state_reader_finish(r))
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	memcpy(k->ram, t->ram, sizeof(k->ram));
	k->outport = t->outport;
	k->sys = t->sys;
	k->last_was_cmd = t->last_was_cmd;
	k->pending_cmd = t->pending_cmd;
	k->kbd_pending = t->kbd_pending;
	k->last_read = t->last_read;
	memcpy(k->queue, t->queue, sizeof(k->queue));
	k->head = t->head;
	k->count = t->count;
	/* The new machine's lines may be anywhere: drive both, even if they seem unchanged. */
	i8042_levels(k, &k->kbd_level, &k->aux_level);
	irq_set_level(&k->irq, I8042_KBD_GSI, k->kbd_level);
	irq_set_level(&k->irq, I8042_AUX_GSI, k->aux_level);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_command_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			     bool is_write)
{
	i8042_io(opaque, offset + I8042_OFF_COMMAND, data, len, is_write);
}

struct i8042 *i8042_create(const struct irq_sink *irq, void (*reset)(void *opaque), void *opaque)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int rc;

	if (!k)
		return NULL;
	rc = pthread_mutex_init(&k->lock, NULL);
	if (rc) {
		free(k);
		errno = rc;
		return NULL;
	}
	if (irq)
		k->irq = *irq;
	k->reset = reset;
	k->opaque = opaque;
	/* As a BIOS leaves it after POST: interrupts on, translation on, self-test done. */
	k->ram[0] = CTR_KBDINT | CTR_AUXINT | CTR_SYS | CTR_XLATE;
	k->sys = true;
	k->outport = OUT_RESET | OUT_A20;
	return k;
}

int i8042_attach(struct i8042 *k, struct bus *bus)
{
	int rc;

	/* Two single ports: 0x61 (system control port B) belongs to someone else. */
	rc = bus_register(bus, BUS_PIO, I8042_DATA_PORT, 1, i8042_io, k, "i8042");
	if (rc)
		return rc;
	rc = bus_register(bus, BUS_PIO, I8042_COMMAND_PORT, 1, i8042_command_io, k, "i8042");
	if (rc)
		bus_unregister(bus, BUS_PIO, I8042_DATA_PORT);
	return rc;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
