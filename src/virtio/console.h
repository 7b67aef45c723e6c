/* SPDX-License-Identifier: MIT */
/*
 * virtio console device (virtio 1.2, section 5.3 "Console Device"; device ID
 * 3): one port, port 0, with receiveq0 (queue 0, host to guest) and
 * transmitq0 (queue 1, guest to host). Linux drives it as hvc0. See console.c.
 *
 * Features: VIRTIO_CONSOLE_F_SIZE (cols and rows in the configuration space,
 * set by the host; 0 x 0 means "unknown", as a serial line has). Not offered:
 * VIRTIO_CONSOLE_F_MULTIPORT (it adds the control queues and port messages of
 * 5.3.6.2, which a single console does not need) and
 * VIRTIO_CONSOLE_F_EMERG_WRITE.
 *
 * The host side is pull-style, so that no host thread ever blocks on the
 * terminal: transmitted bytes are copied into the device's output buffer (the
 * chain is then used at once) and the host takes them from there with
 * virtio_console_output_peek / _done when its output has room; input goes in
 * with virtio_console_input, as far as the guest has posted receive buffers.
 * The event descriptor tells the host when to look again. While the output
 * buffer is full, transmit chains stay in the guest's ring: a guest that
 * writes faster than the host reads is slowed down, never loses bytes.
 *
 * Threads: queue notifications arrive on the I/O thread, the host functions
 * are called from one host thread (the main loop). All of them take the
 * device lock (virtio/core.h), none is called with it held.
 */
#ifndef KVMM_VIRTIO_CONSOLE_H
#define KVMM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "machine/gmem.h"
#include "state/buf.h"
#include "virtio/core.h"

#define VIRTIO_ID_CONSOLE 3

/* Feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Queues of port 0 (5.3.2). */
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

/* struct virtio_console_config (5.3.4): le16 cols, le16 rows, le32 max_nr_ports, le32 emerg_wr. */
#define VIRTIO_CONSOLE_CFG_COLS	   0
#define VIRTIO_CONSOLE_CFG_ROWS	   2
#define VIRTIO_CONSOLE_CONFIG_SIZE 12u

#define VIRTIO_CONSOLE_QUEUE_SIZE 128u
/* Transmitted bytes the device holds for the host: the most one notification copies. */
#define VIRTIO_CONSOLE_OUT_SIZE (64u * 1024)
/* Transmit chains used per pass at most; the rest in a later pass (the host is woken). */
#define VIRTIO_CONSOLE_TX_BATCH 64u

struct virtio_console;

/*
 * A device over guest RAM mem, named "virtio-console" in logs, whose
 * configuration says cols x rows. Returns NULL with errno set (ENOMEM, or the
 * eventfd's error).
 */
struct virtio_console *virtio_console_create(const struct gmem *mem, uint16_t cols, uint16_t rows);
void virtio_console_destroy(struct virtio_console *c);
/* The virtio core state, for the transport to attach to. */
struct virtio_dev *virtio_console_dev(struct virtio_console *c);

/*
 * An eventfd (non-blocking) that becomes readable when the host should call
 * virtio_console_output_peek and virtio_console_rx_space again: output was
 * buffered, or the guest posted receive buffers after input was refused.
 * The host reads it to clear it before it looks, so no event is lost.
 */
int virtio_console_event_fd(struct virtio_console *c);

/*
 * The guest's output: sets *p to the oldest buffered bytes and returns how
 * many there are in one piece (0: none). They stay valid and in place until
 * virtio_console_output_done. Also continues a transmit queue that a full
 * buffer or the batch limit held back.
 */
size_t virtio_console_output_peek(struct virtio_console *c, const uint8_t **p);
/* The host has written (or dropped) the first n bytes of the last peek. */
void virtio_console_output_done(struct virtio_console *c, size_t n);

/*
 * Host input: fills the guest's receive buffers in order (each used with the
 * bytes written to it) and returns how many bytes were taken, possibly fewer
 * than len; the rest is the caller's to offer again after the event fd fires.
 * Nothing is taken while the device is not live.
 */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);
/* How many bytes virtio_console_input would take now (at least; 0: none, wait for the event). */
size_t virtio_console_rx_space(struct virtio_console *c);

/* The host terminal's size; a change is a configuration change notification (5.3.4). */
void virtio_console_set_size(struct virtio_console *c, uint16_t cols, uint16_t rows);

/*
 * Snapshot state: the virtio core's (virtio_dev_save), then version 1 of the
 * device's own: the bytes of the next transmit chain that were already
 * buffered, and the buffered output. Chains the device holds are given back
 * to the ring first, so nothing is in flight in the snapshot. The size is the
 * host's and not saved. Load checks everything and applies all of it, or
 * returns -EINVAL and changes nothing.
 */
int virtio_console_save(struct virtio_console *c, struct state_buf *b);
/*
 * While frozen the device pops and uses no chain (output it holds still goes
 * to the host, input waits), so that a snapshot's rings, device state and
 * RAM agree however long the save takes. Unfreezing goes on where it stopped.
 */
void virtio_console_freeze(struct virtio_console *c, bool frozen);
int virtio_console_load(struct virtio_console *c, struct state_reader *rd);

#endif
