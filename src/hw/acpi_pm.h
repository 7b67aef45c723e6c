/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware: PM1a event and control blocks, the PM timer, GPE0 and the
 * reset register. The port numbers live here so that the FADT and DSDT builders
 * describe exactly what this device decodes. See acpi_pm.c.
 */
#ifndef KVMM_HW_ACPI_PM_H
#define KVMM_HW_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/irq.h"
#include "state/buf.h"

/* One 64-byte I/O block holds every register below except the reset port. */
#define ACPI_PM_BASE 0x600
#define ACPI_PM_LEN  0x40

#define ACPI_PM1A_EVT_BLK 0x600 /* PM1_STS (2 bytes) then PM1_EN (2 bytes) */
#define ACPI_PM1_EVT_LEN  4
#define ACPI_PM1A_CNT_BLK 0x604
#define ACPI_PM1_CNT_LEN  2
#define ACPI_PM_TMR_BLK	  0x608
#define ACPI_PM_TMR_LEN	  4
#define ACPI_GPE0_BLK	  0x620 /* GPE0_STS (2 bytes) then GPE0_EN (2 bytes) */
#define ACPI_GPE0_BLK_LEN 4

#define ACPI_PM_TIMER_HZ 3579545 /* 3.579545 MHz */

/* FADT RESET_REG (system I/O, 8 bits wide) and RESET_VALUE. */
#define ACPI_PM_RESET_PORT  0xcf9
#define ACPI_PM_RESET_VALUE 0x06

/* SLP_TYPa value for S5 (soft off); the DSDT's \_S5 package must use this number. */
#define ACPI_PM_S5_TYP 5

/* PM1_STS / PM1_EN bits (ACPI 6.5 tables 4.11, 4.12). */
#define ACPI_PM1_TMR	     0x0001
#define ACPI_PM1_BM_STS	     0x0010
#define ACPI_PM1_GBL	     0x0020
#define ACPI_PM1_PWRBTN	     0x0100
#define ACPI_PM1_SLPBTN	     0x0200
#define ACPI_PM1_RTC	     0x0400
#define ACPI_PM1_PCIEXP_WAKE 0x4000
#define ACPI_PM1_WAK_STS     0x8000

/* PM1_CNT bits (ACPI 6.5 table 4.13). */
#define ACPI_PM1_SCI_EN	       0x0001
#define ACPI_PM1_BM_RLD	       0x0002
#define ACPI_PM1_GBL_RLS       0x0004
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK  0x1c00
#define ACPI_PM1_SLP_EN	       0x2000

struct acpi_pm_ops {
	/* The guest entered S5: power the VM off. */
	void (*poweroff)(void *opaque);
	/* The guest wrote the reset register: reset the VM. */
	void (*reset)(void *opaque);
};

struct acpi_pm;

/*
 * Creates the block. irq (copied) drives the SCI on sci_gsi; ops must outlive the
 * device and its callbacks are called outside the device lock. Returns NULL with
 * errno set.
 */
struct acpi_pm *acpi_pm_create(const struct irq_sink *irq, uint32_t sci_gsi,
			       const struct acpi_pm_ops *ops, void *opaque);
/*
 * Registers ACPI_PM_BASE..+ACPI_PM_LEN (BUS_PIO). Returns 0 or -errno. The reset
 * port is not registered: it shares 0xCF8's dword with the PCI configuration
 * address, so the PCI host decodes it and calls acpi_pm_reset_io.
 */
int acpi_pm_attach(struct acpi_pm *pm, struct bus *bus);
void acpi_pm_destroy(struct acpi_pm *pm);

/* Bus handler for the register block: offset from ACPI_PM_BASE. */
void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Handler for the 1-byte reset register at ACPI_PM_RESET_PORT (called by the PCI host). */
void acpi_pm_reset_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* The host pressed the power button (fixed hardware button): PWRBTN_STS, SCI if enabled. */
void acpi_pm_press_power_button(struct acpi_pm *pm);

/*
 * Snapshot state: PM1 status, enable and control, GPE0 status and enable, the
 * reset register, and the PM timer's count at the time of saving. acpi_pm_save
 * appends format version 1 to b and returns 0 or b's error. acpi_pm_load checks
 * everything in r (exactly this device's state) and either applies all of it, so
 * that the timer counts on from the saved value, and drives the SCI to the
 * restored level, or returns -EINVAL and leaves the device as it was.
 */
int acpi_pm_save(struct acpi_pm *pm, struct state_buf *b);
int acpi_pm_load(struct acpi_pm *pm, struct state_reader *r);

#endif
