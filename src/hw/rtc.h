/* SPDX-License-Identifier: MIT */
/*
 * MC146818 real-time clock and CMOS RAM at ports 0x70 (index) / 0x71 (data),
 * reading the host's clock. See rtc.c.
 */
#ifndef KVMM_HW_RTC_H
#define KVMM_HW_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/irq.h"
#include "state/buf.h"

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT  0x71
#define RTC_GSI	       8
#define RTC_CMOS_SIZE  128

/* CMOS byte holding the BCD/binary century: the FADT's CENTURY field names it. */
#define RTC_REG_CENTURY 0x32

struct rtc;

/*
 * Creates the clock with CMOS memory-size bytes describing a guest of ram_size
 * bytes (RAM below the MMIO hole, then from 4 GiB: arch/x86/layout.h) and ncpus
 * CPUs. irq is copied (GSI RTC_GSI; no periodic, alarm or update interrupts are
 * generated yet). Returns NULL with errno set.
 */
struct rtc *rtc_create(const struct irq_sink *irq, uint64_t ram_size, int ncpus);
/* Registers ports 0x70-0x71 (BUS_PIO). Returns 0 or -errno. */
int rtc_attach(struct rtc *r, struct bus *bus);
void rtc_destroy(struct rtc *r);

/* The bus handler: offset 0 is the index port, 1 the data port. */
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Snapshot state: the index register, the 128 CMOS bytes and the guest clock as
 * an offset from host time, so the restored guest clock reads host time at
 * restore plus that offset. rtc_save appends format version 1 to b and returns 0
 * or b's error. rtc_load checks everything in r (exactly this device's state) and
 * either applies all of it or returns -EINVAL and leaves the device as it was.
 */
int rtc_save(struct rtc *r, struct state_buf *b);
int rtc_load(struct rtc *r, struct state_reader *rd);

#endif
