/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART (8 registers at a base port), the PC serial console. See uart8250.c
 * for the register model and the datasheet it follows.
 */
#ifndef KVMM_HW_UART8250_H
#define KVMM_HW_UART8250_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/irq.h"
#include "state/buf.h"

#define UART_NR_REGS	  8
#define UART_FIFO_SIZE	  16
#define UART_BACKLOG_SIZE 4096

/* Conventional PC COM ports and their ISA interrupt lines. */
#define UART_COM1_BASE 0x3f8
#define UART_COM1_GSI  4
#define UART_COM2_BASE 0x2f8
#define UART_COM2_GSI  3

struct uart;

/*
 * Transmit callback: called once per byte the guest writes to THR, outside the
 * device lock (it may block on the console, or feed input back via uart_receive).
 */
typedef void (*uart_tx_fn)(void *opaque, const uint8_t *buf, size_t len);

/*
 * Creates a UART in its power-on state. name labels log lines (copied); irq is
 * copied, and drives gsi. Returns NULL with errno set on failure.
 */
struct uart *uart_create(const char *name, const struct irq_sink *irq, uint32_t gsi, uart_tx_fn tx,
			 void *tx_opaque);
/* Registers the 8 ports at base on bus (BUS_PIO). Returns 0 or -errno. */
int uart_attach(struct uart *u, struct bus *bus, uint16_t base);
void uart_destroy(struct uart *u);

/* The bus handler: offset 0..7 from the base port; wider accesses are byte sequences. */
void uart_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Host -> guest input (console thread). Accepts into the RX FIFO and then a
 * host-side backlog that refills the FIFO as the guest reads. Returns the number
 * of bytes accepted; the caller keeps the rest and retries later, so no input is lost.
 */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* How many bytes uart_receive would accept now. */
size_t uart_rx_space(struct uart *u);

/*
 * Snapshot state: every guest-visible register, the RX FIFO, the THRE-interrupt
 * flag and the host-side backlog; not the tx callback or irq sink, which belong to
 * the machine that loads it. uart_save appends format version 1 to b and returns 0
 * or b's error. uart_load checks everything in r (which must hold exactly this
 * device's state) and either applies all of it and drives the line to the restored
 * level, or returns -EINVAL and leaves the device as it was.
 */
int uart_save(struct uart *u, struct state_buf *b);
int uart_load(struct uart *u, struct state_reader *r);

#endif
