/* SPDX-License-Identifier: MIT */
/*
 * The small PC chips a guest pokes at: the i8042 keyboard controller
 * (hw/i8042.h), the CMOS RTC (hw/rtc.h) and the ACPI PM block and reset port
 * (hw/acpi_pm.h), all on one bus. The input is a sequence of port accesses of
 * any width at and around their ports, plus power-button presses. Reset and
 * power-off callbacks touch the device that called them, which must not
 * deadlock ("called outside the device lock"). Checked invariants:
 *   - i8042: the input buffer is never busy; IRQ1/IRQ12 only with a byte waiting;
 *   - RTC: time registers read in the format register B selects (BCD digits,
 *     12/24 hours) and in range; plain CMOS bytes read back what was written;
 *   - ACPI: PM1_CNT always reads SCI_EN (ACPI-only platform), and the SCI is
 *     up exactly when an enabled status bit is set in PM1 or GPE0.
 */
#include "fuzz.h"
#include "hw/acpi_pm.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "machine/bus.h"

#define SCI_GSI 9

struct fuzz_chips {
	struct bus bus;
	struct i8042 *kbd;
	struct rtc *rtc;
	struct acpi_pm *pm;
	int level[16];
	unsigned resets, poweroffs;
};

static void set_level(void *opaque, uint32_t gsi, int level)
{
	struct fuzz_chips *f = opaque;

	FUZZ_CHECK(gsi == I8042_KBD_GSI || gsi == I8042_AUX_GSI || gsi == RTC_GSI ||
		   gsi == SCI_GSI);
	FUZZ_CHECK(level == 0 || level == 1);
	f->level[gsi] = level;
}

static uint32_t in_port(struct fuzz_chips *f, uint16_t port, uint32_t len)
{
	uint8_t b[4] = {0};

	bus_access(&f->bus, BUS_PIO, port, b, len, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void out_port(struct fuzz_chips *f, uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	bus_access(&f->bus, BUS_PIO, port, b, len, true);
}

/* The callbacks come outside the device lock: reading the device must not hang. */
static void on_kbd_reset(void *opaque)
{
	struct fuzz_chips *f = opaque;

	f->resets++;
	in_port(f, I8042_COMMAND_PORT, 1);
}

static void on_reset(void *opaque)
{
	struct fuzz_chips *f = opaque;

	f->resets++;
	in_port(f, ACPI_PM_RESET_PORT, 1);
	in_port(f, ACPI_PM1A_CNT_BLK, 2);
}

static void on_poweroff(void *opaque)
{
	struct fuzz_chips *f = opaque;

	f->poweroffs++;
	in_port(f, ACPI_PM1A_EVT_BLK, 4);
}

static const struct acpi_pm_ops pm_ops = {on_poweroff, on_reset};

static const uint16_t ports[] = {
    I8042_DATA_PORT,
    I8042_COMMAND_PORT,
    0x61,
    RTC_INDEX_PORT,
    RTC_DATA_PORT,
    0x72,
    ACPI_PM1A_EVT_BLK,
    ACPI_PM1A_EVT_BLK + 1,
    ACPI_PM1A_EVT_BLK + 2,
    ACPI_PM1A_EVT_BLK + 3,
    ACPI_PM1A_CNT_BLK,
    ACPI_PM1A_CNT_BLK + 1,
    ACPI_PM_TMR_BLK,
    ACPI_PM_TMR_BLK + 2,
    ACPI_GPE0_BLK,
    ACPI_GPE0_BLK + 1,
    ACPI_GPE0_BLK + 2,
    ACPI_GPE0_BLK + 3,
    ACPI_PM_BASE + ACPI_PM_LEN - 2,
    ACPI_PM_RESET_PORT,
    ACPI_PM_RESET_PORT - 1,
    ACPI_PM1A_CNT_BLK - 1,
    ACPI_PM1A_EVT_BLK + 0x10,
};

static bool bcd_ok(uint8_t v, unsigned max)
{
	return (v & 0x0f) <= 9 && (v >> 4) <= 9 && (unsigned)((v >> 4) * 10 + (v & 0x0f)) <= max;
}

static uint8_t cmos_read(struct fuzz_chips *f, uint8_t reg)
{
	out_port(f, RTC_INDEX_PORT, reg, 1);
	return (uint8_t)in_port(f, RTC_DATA_PORT, 1);
}

static void check_rtc(struct fuzz_chips *f)
{
	static const struct {
		uint8_t reg;
		unsigned lo, hi;
	} fields[] = {{0x00, 0, 59},	       {0x02, 0, 59}, {0x06, 1, 7},
		      {0x07, 1, 31},	       {0x08, 1, 12}, {0x09, 0, 99},
		      {RTC_REG_CENTURY, 0, 99}};
	uint8_t b = cmos_read(f, 0x0b), v, hour;
	bool binary = b & 0x04;

	if (b & 0x80)
		return; /* SET: the registers hold whatever the guest is writing */
	for (unsigned i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = cmos_read(f, fields[i].reg);
		if (binary)
			FUZZ_CHECK(v >= fields[i].lo && v <= fields[i].hi);
		else
			FUZZ_CHECK(bcd_ok(v, fields[i].hi) &&
				   (v >> 4) * 10 + (v & 0xf) >= fields[i].lo);
	}
	hour = cmos_read(f, 0x04);
	if (b & 0x02) {
		FUZZ_CHECK(binary ? hour <= 23 : bcd_ok(hour, 23));
	} else {
		hour &= 0x7f;
		FUZZ_CHECK(binary ? hour >= 1 && hour <= 12 : bcd_ok(hour, 12) && hour >= 1);
	}
}

static void check_acpi(struct fuzz_chips *f)
{
	uint32_t evt = in_port(f, ACPI_PM1A_EVT_BLK, 4), gpe = in_port(f, ACPI_GPE0_BLK, 4);
	uint16_t sts = (uint16_t)evt, en = (uint16_t)(evt >> 16);
	bool sci = (sts & en & 0x0721) || ((gpe & 0xffff) & (gpe >> 16));

	FUZZ_CHECK(in_port(f, ACPI_PM1A_CNT_BLK, 2) & 1);
	FUZZ_CHECK(f->level[SCI_GSI] == sci);
}

static void check_kbd(struct fuzz_chips *f)
{
	uint8_t sts = (uint8_t)in_port(f, I8042_COMMAND_PORT, 1);

	FUZZ_CHECK(!(sts & 0x02));
	if (!(sts & 0x01))
		FUZZ_CHECK(!f->level[I8042_KBD_GSI] && !f->level[I8042_AUX_GSI]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	struct fuzz_chips *f = calloc(1, sizeof(*f));
	struct irq_sink irq;
	uint8_t buf[8];

	if (!f)
		return 0;
	irq = (struct irq_sink){set_level, f};
	f->kbd = i8042_create(&irq, on_kbd_reset, f);
	f->rtc = rtc_create(&irq, (uint64_t)fuzz_u8(&in) << 26, fuzz_u8(&in));
	f->pm = acpi_pm_create(&irq, SCI_GSI, &pm_ops, f);
	if (!f->kbd || !f->rtc || !f->pm || bus_init(&f->bus) || i8042_attach(f->kbd, &f->bus) ||
	    rtc_attach(f->rtc, &f->bus) || acpi_pm_attach(f->pm, &f->bus) ||
	    /* In the machine the PCI host forwards 0xCF9; here the reset port stands alone. */
	    bus_register(&f->bus, BUS_PIO, ACPI_PM_RESET_PORT, 1, acpi_pm_reset_io, f->pm, "reset"))
		abort();

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in), sel = fuzz_u8(&in);
		uint16_t port = ports[sel % (sizeof(ports) / sizeof(ports[0]))];
		uint32_t len = fuzz_width(&in);

		switch (op % 8) {
		case 0:
		case 1:
			fuzz_bytes(&in, buf, len);
			bus_access(&f->bus, BUS_PIO, port, buf, len, true);
			break;
		case 2:
		case 3:
			bus_access(&f->bus, BUS_PIO, port, buf, len, false);
			break;
		case 4: { /* a CMOS byte that is plain RAM reads back */
			uint8_t reg = (uint8_t)(0x0e + fuzz_u8(&in) % (RTC_CMOS_SIZE - 0x0e)),
				v = fuzz_u8(&in);

			out_port(f, RTC_INDEX_PORT, reg, 1);
			out_port(f, RTC_DATA_PORT, v, 1);
			if (reg != RTC_REG_CENTURY)
				FUZZ_CHECK(cmos_read(f, reg) == v);
			break;
		}
		case 5:
			acpi_pm_press_power_button(f->pm);
			break;
		case 6:
			check_rtc(f);
			break;
		case 7:
			check_kbd(f);
			break;
		}
		check_acpi(f);
	}
	i8042_destroy(f->kbd);
	rtc_destroy(f->rtc);
	acpi_pm_destroy(f->pm);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}
