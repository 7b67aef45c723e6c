/* SPDX-License-Identifier: MIT */
/*
 * ACPI fixed hardware registers (ACPI 6.5, chapter 4 "ACPI Hardware
 * Specification"): section 4.8.4.1 PM1 event grouping (PM1_STS, write 1 to clear,
 * and PM1_EN; tables 4.11 and 4.12), 4.8.4.2 PM1 control grouping (PM1_CNT, table
 * 4.13), 4.8.4.3 the power management timer, 4.8.4.6 the reset register, and
 * 4.8.5.1 the GPE0 register block (section numbers as in 6.4/6.5; the names are
 * the stable reference). The SCI follows "Legacy/ACPI Select and the SCI
 * Interrupt": this is an ACPI-only platform (no SMI_CMD in the FADT), so SCI_EN is
 * hard-wired to 1.
 *
 * The layout follows the ICH9 power-management I/O block that QEMU's q35 machine
 * puts at 0x600 (PM1 at +0, PM_TMR at +8, GPE0 at +0x20), so firmware and guests
 * see familiar numbers; the reset register at 0xCF9 is the PIIX/ICH reset control
 * register, where bit 2 (RST_CPU) starts the reset.
 *
 * Registers are 16 or 32 bits wide but any byte of them may be accessed on its
 * own: a write touches only the bytes it covers, and a write-1-to-clear write only
 * clears bits in those bytes.
 */
#include "hw/acpi_pm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Offsets within the ACPI_PM_BASE block. */
#define OFF_PM1_STS  (ACPI_PM1A_EVT_BLK - ACPI_PM_BASE)
#define OFF_PM1_EN   (OFF_PM1_STS + 2)
#define OFF_PM1_CNT  (ACPI_PM1A_CNT_BLK - ACPI_PM_BASE)
#define OFF_PM_TMR   (ACPI_PM_TMR_BLK - ACPI_PM_BASE)
#define OFF_GPE0_STS (ACPI_GPE0_BLK - ACPI_PM_BASE)
#define OFF_GPE0_EN  (OFF_GPE0_STS + 2)

#define PM1_EN_BITS                                                                                \
	(ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC |          \
	 ACPI_PM1_PCIEXP_WAKE)
/* Status bits that raise the SCI when enabled (WAK_STS and BM_STS do not). */
#define PM1_SCI_BITS                                                                               \
	(ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC)
#define PM1_CNT_KEEP (ACPI_PM1_BM_RLD | ACPI_PM1_SLP_TYP_MASK)
/* Every defined PM1_STS bit (table 4.11); the others are reserved. */
#define PM1_STS_BITS (PM1_EN_BITS | ACPI_PM1_BM_STS | ACPI_PM1_WAK_STS)

/* Reset control register bits: SYS_RST 1, RST_CPU 2, FULL_RST 3. */
#define RCR_RST_CPU 0x04
#define RCR_KEEP    0x0a

enum acpi_pm_action { PM_NONE, PM_POWEROFF, PM_RESET };

struct acpi_pm {
	pthread_mutex_t lock;
	struct irq_sink irq;
	uint32_t sci_gsi;
	const struct acpi_pm_ops *ops;
	void *opaque;

	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	uint8_t rcr;
	uint64_t tmr_start; /* host ticks when the timer read 0 */
	int sci_level;
};

/* 3.579545 MHz ticks of CLOCK_MONOTONIC, exact and without 64-bit overflow. */
static uint64_t acpi_pm_ticks(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * ACPI_PM_TIMER_HZ +
	       (uint64_t)ts.tv_nsec * ACPI_PM_TIMER_HZ / 1000000000u;
}

static int acpi_pm_sci_level(const struct acpi_pm *pm)
{
	return (pm->pm1_sts & pm->pm1_en & PM1_SCI_BITS) || (pm->gpe0_sts & pm->gpe0_en);
}

/* With the lock held: the sink is a leaf, and level changes must stay ordered. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	int level = acpi_pm_sci_level(pm);

	if (level != pm->sci_level) {
		pm->sci_level = level;
		irq_set_level(&pm->irq, pm->sci_gsi, level);
	}
}

/*
 * Gathers the bytes of one 16-bit register at reg that an access [off, off+len)
 * covers. Returns the byte-lane mask (0 when the access misses the register).
 */
static uint16_t acpi_pm_lanes(uint64_t reg, uint64_t off, const uint8_t *data, uint32_t len,
			      uint16_t *val)
{
	uint16_t mask = 0;

	*val = 0;
	for (unsigned b = 0; b < 2; b++) {
		if (reg + b >= off && reg + b - off < len) {
			*val |= (uint16_t)(data[reg + b - off] << (8 * b));
			mask |= (uint16_t)(0xff << (8 * b));
		}
	}
	return mask;
}

static enum acpi_pm_action acpi_pm_write_cnt(struct acpi_pm *pm, uint16_t val, uint16_t mask)
{
	uint16_t cnt = (uint16_t)((pm->pm1_cnt & ~mask) | (val & mask));
	unsigned typ = (cnt & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;

	pm->pm1_cnt = cnt & PM1_CNT_KEEP;
	if (!(val & mask & ACPI_PM1_SLP_EN))
		return PM_NONE;
	if (typ == ACPI_PM_S5_TYP)
		return PM_POWEROFF;
	/*
	 * Sleep states we do not offer (the DSDT names only \_S5): wake at once, so
	 * an OSPM spinning on WAK_STS after SLP_EN carries on instead of hanging.
	 */
	pm->pm1_sts |= ACPI_PM1_WAK_STS;
	return PM_NONE;
}

static enum acpi_pm_action acpi_pm_write(struct acpi_pm *pm, uint64_t off, const uint8_t *data,
					 uint32_t len)
{
	enum acpi_pm_action act = PM_NONE;
	uint16_t val, mask;

	if ((mask = acpi_pm_lanes(OFF_PM1_STS, off, data, len, &val)))
		pm->pm1_sts &= (uint16_t) ~(val & mask);
	if ((mask = acpi_pm_lanes(OFF_PM1_EN, off, data, len, &val)))
		pm->pm1_en = (uint16_t)((pm->pm1_en & ~mask) | (val & mask & PM1_EN_BITS));
	if ((mask = acpi_pm_lanes(OFF_PM1_CNT, off, data, len, &val)))
		act = acpi_pm_write_cnt(pm, val, mask);
	if ((mask = acpi_pm_lanes(OFF_GPE0_STS, off, data, len, &val)))
		pm->gpe0_sts &= (uint16_t) ~(val & mask);
	if ((mask = acpi_pm_lanes(OFF_GPE0_EN, off, data, len, &val)))
		pm->gpe0_en = (uint16_t)((pm->gpe0_en & ~mask) | (val & mask));
	/* The PM timer is read-only; other offsets decode to nothing. */
	return act;
}

static uint8_t acpi_pm_read_byte(const struct acpi_pm *pm, uint64_t off, uint32_t tmr)
{
	uint16_t v;

	if (off >= OFF_PM_TMR && off < OFF_PM_TMR + 4)
		return (uint8_t)(tmr >> (8 * (off - OFF_PM_TMR)));
	switch (off & ~1ull) {
	case OFF_PM1_STS:
		v = pm->pm1_sts;
		break;
	case OFF_PM1_EN:
		v = pm->pm1_en;
		break;
	case OFF_PM1_CNT:
		v = pm->pm1_cnt | ACPI_PM1_SCI_EN;
		break;
	case OFF_GPE0_STS:
		v = pm->gpe0_sts;
		break;
	case OFF_GPE0_EN:
		v = pm->gpe0_en;
		break;
	default:
		return 0;
	}
	return (uint8_t)(v >> (8 * (off & 1)));
}

static void acpi_pm_run(struct acpi_pm *pm, enum acpi_pm_action act)
{
	if (act == PM_POWEROFF && pm->ops && pm->ops->poweroff)
		pm->ops->poweroff(pm->opaque);
	else if (act == PM_RESET && pm->ops && pm->ops->reset)
		pm->ops->reset(pm->opaque);
}

void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	enum acpi_pm_action act = PM_NONE;

	pthread_mutex_lock(&pm->lock);
	if (is_write) {
		act = acpi_pm_write(pm, offset, data, len);
		acpi_pm_update_sci(pm);
	} else {
		/* One timer sample per access keeps a 32-bit read coherent. */
		uint32_t tmr = (uint32_t)(acpi_pm_ticks() - pm->tmr_start);

		for (uint32_t i = 0; i < len; i++)
			data[i] = acpi_pm_read_byte(pm, offset + i, tmr);
	}
	pthread_mutex_unlock(&pm->lock);
	/* Outside the lock: powering off or resetting tears devices down. */
	acpi_pm_run(pm, act);
}

void acpi_pm_reset_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	enum acpi_pm_action act = PM_NONE;

	if (offset != 0 || !len) {
		if (!is_write)
			for (uint32_t i = 0; i < len; i++)
				data[i] = 0xff;
		return;
	}
	pthread_mutex_lock(&pm->lock);
	if (is_write) {
		pm->rcr = data[0] & RCR_KEEP; /* RST_CPU starts the reset and clears itself */
		if (data[0] & RCR_RST_CPU)
			act = PM_RESET;
	} else {
		data[0] = pm->rcr;
		for (uint32_t i = 1; i < len; i++)
			data[i] = 0xff;
	}
	pthread_mutex_unlock(&pm->lock);
	acpi_pm_run(pm, act);
}

void acpi_pm_press_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= ACPI_PM1_PWRBTN;
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; u16 PM1_STS, PM1_EN,
 * PM1_CNT (as kept: SLP_TYP and BM_RLD; SCI_EN reads as 1 regardless), GPE0_STS,
 * GPE0_EN; u8 reset control register; u32 PM timer count. The timer is saved as
 * the count the guest would have read, not host ticks: the host clock of the
 * restoring process has another origin.
 */
#define ACPI_PM_STATE_VERSION 1

int acpi_pm_save(struct acpi_pm *pm, struct state_buf *b)
{
	pthread_mutex_lock(&pm->lock);
	state_put_u32(b, ACPI_PM_STATE_VERSION);
	state_put_u16(b, pm->pm1_sts);
	state_put_u16(b, pm->pm1_en);
	state_put_u16(b, pm->pm1_cnt);
	state_put_u16(b, pm->gpe0_sts);
	state_put_u16(b, pm->gpe0_en);
	state_put_u8(b, pm->rcr);
	state_put_u32(b, (uint32_t)(acpi_pm_ticks() - pm->tmr_start));
	pthread_mutex_unlock(&pm->lock);
	return b->error;
}

int acpi_pm_load(struct acpi_pm *pm, struct state_reader *r)
{
	uint16_t pm1_sts, pm1_en, pm1_cnt, gpe0_sts, gpe0_en;
	uint8_t rcr;
	uint32_t tmr;

	if (state_get_u32(r) != ACPI_PM_STATE_VERSION)
		state_reader_fail(r);
	pm1_sts = state_get_u16(r);
	pm1_en = state_get_u16(r);
	pm1_cnt = state_get_u16(r);
	gpe0_sts = state_get_u16(r); /* all 16 GPE0 bits are defined */
	gpe0_en = state_get_u16(r);
	rcr = state_get_u8(r);
	tmr = state_get_u32(r); /* any count: the 32-bit timer wraps */
	if ((pm1_sts & ~PM1_STS_BITS) || (pm1_en & ~PM1_EN_BITS) || (pm1_cnt & ~PM1_CNT_KEEP) ||
	    (rcr & ~RCR_KEEP))
		state_reader_fail(r);
	if (state_reader_finish(r))
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = pm1_sts;
	pm->pm1_en = pm1_en;
	pm->pm1_cnt = pm1_cnt;
	pm->gpe0_sts = gpe0_sts;
	pm->gpe0_en = gpe0_en;
	pm->rcr = rcr;
	/* Rebased so the next read continues from tmr (modulo 2^64, like every read). */
	pm->tmr_start = acpi_pm_ticks() - tmr;
	/* The new machine's line may be anywhere: drive it, even if it seems unchanged. */
	pm->sci_level = acpi_pm_sci_level(pm);
	irq_set_level(&pm->irq, pm->sci_gsi, pm->sci_level);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

struct acpi_pm *acpi_pm_create(const struct irq_sink *irq, uint32_t sci_gsi,
			       const struct acpi_pm_ops *ops, void *opaque)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int rc;

	if (!pm)
		return NULL;
	rc = pthread_mutex_init(&pm->lock, NULL);
	if (rc) {
		free(pm);
		errno = rc;
		return NULL;
	}
	if (irq)
		pm->irq = *irq;
	pm->sci_gsi = sci_gsi;
	pm->ops = ops;
	pm->opaque = opaque;
	pm->tmr_start = acpi_pm_ticks();
	return pm;
}

int acpi_pm_attach(struct acpi_pm *pm, struct bus *bus)
{
	/* The reset port sits inside the PCI host's 0xCF8 dword; the host forwards it. */
	return bus_register(bus, BUS_PIO, ACPI_PM_BASE, ACPI_PM_LEN, acpi_pm_io, pm, "acpi_pm");
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}
