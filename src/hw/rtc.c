/* SPDX-License-Identifier: MIT */
/*
 * Motorola MC146818 real-time clock plus RAM (MC146818A datasheet: "Address Map"
 * figure, "Time, Calendar and Alarm Locations" table, and "Registers" A-D), as
 * wired on PC/AT boards at index port 0x70 (bit 7 there is the NMI mask, which we
 * ignore) and data port 0x71.
 *
 * There is no oscillator to emulate: every read of a time register formats the
 * host's UTC clock, plus an offset the guest can set with the SET bit, in the
 * register-B format (BCD or binary, 12 or 24 hours). UIP is raised during the
 * last 244 us of each second, the window in which the chip would update, so
 * guests that wait for it to rise or fall never wait long or forever.
 *
 * The CMOS bytes firmware reads for the memory size follow the IBM AT layout and
 * the extensions SeaBIOS reads (0x34/0x35, 0x5b-0x5d, 0x5f).
 */
#include "hw/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/e820.h"

#define REG_SEC	  0x00
#define REG_MIN	  0x02
#define REG_HOUR  0x04
#define REG_WDAY  0x06
#define REG_MDAY  0x07
#define REG_MONTH 0x08
#define REG_YEAR  0x09
#define REG_A	  0x0a
#define REG_B	  0x0b
#define REG_C	  0x0c
#define REG_D	  0x0d

#define A_UIP	    0x80
#define A_DV_MASK   0x70
#define A_DV_32K    0x20 /* 32.768 kHz time base, divider running */
#define B_SET	    0x80
#define B_DM_BINARY 0x04
#define B_24H	    0x02
#define D_VRT	    0x80
#define HOUR_PM	    0x80

/* The chip's update cycle takes 1984 us and UIP rises 244 us before it starts. */
#define UIP_WINDOW_NS 244000L

#define KIB 1024ULL
#define MIB (1024ULL * KIB)

struct rtc {
	pthread_mutex_t lock;
	struct irq_sink irq;
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset; /* guest seconds minus host seconds */
};

struct rtc_time {
	int sec, min, hour; /* hour 0-23 */
	int wday;	    /* 0 = Sunday */
	int mday, mon;	    /* 1-based */
	int64_t year;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic, 400-year cycles). */
static int64_t rtc_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void rtc_civil_from_days(int64_t z, struct rtc_time *t)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	t->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	t->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	t->year = yoe + era * 400 + (t->mon <= 2);
}

static void rtc_split(int64_t secs, struct rtc_time *t)
{
	int64_t days = secs / 86400, rem = secs % 86400;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	t->hour = (int)(rem / 3600);
	t->min = (int)(rem / 60 % 60);
	t->sec = (int)(rem % 60);
	t->wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	rtc_civil_from_days(days, t);
}

static bool rtc_binary(const struct rtc *r)
{
	return r->cmos[REG_B] & B_DM_BINARY;
}

static uint8_t rtc_to_reg(const struct rtc *r, int v)
{
	return rtc_binary(r) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | (v % 10));
}

/* Guest-written values may be anything; the caller clamps the result. */
static int rtc_from_reg(const struct rtc *r, uint8_t v)
{
	return rtc_binary(r) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static int rtc_clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void rtc_host_now(struct timespec *ts)
{
	if (clock_gettime(CLOCK_REALTIME, ts))
		ts->tv_sec = ts->tv_nsec = 0;
}

/* Formats the current guest time into the time registers. */
static void rtc_snapshot(struct rtc *r, const struct timespec *now)
{
	struct rtc_time t;
	uint8_t *c = r->cmos;
	int64_t year;

	rtc_split((int64_t)now->tv_sec + r->offset, &t);
	c[REG_SEC] = rtc_to_reg(r, t.sec);
	c[REG_MIN] = rtc_to_reg(r, t.min);
	if (c[REG_B] & B_24H) {
		c[REG_HOUR] = rtc_to_reg(r, t.hour);
	} else {
		c[REG_HOUR] = rtc_to_reg(r, t.hour % 12 ? t.hour % 12 : 12);
		if (t.hour >= 12)
			c[REG_HOUR] |= HOUR_PM;
	}
	c[REG_WDAY] = rtc_to_reg(r, t.wday + 1);
	c[REG_MDAY] = rtc_to_reg(r, t.mday);
	c[REG_MONTH] = rtc_to_reg(r, t.mon);
	/* Two BCD digits of century: the clock shows years 0-9999. */
	year = t.year < 0 ? 0 : t.year > 9999 ? 9999 : t.year;
	c[REG_YEAR] = rtc_to_reg(r, (int)(year % 100));
	c[RTC_REG_CENTURY] = rtc_to_reg(r, (int)(year / 100));
}

/* Takes the time registers as the guest left them and makes them the running time. */
static void rtc_commit(struct rtc *r, const struct timespec *now)
{
	const uint8_t *c = r->cmos;
	int sec = rtc_clamp(rtc_from_reg(r, c[REG_SEC]), 0, 59);
	int min = rtc_clamp(rtc_from_reg(r, c[REG_MIN]), 0, 59);
	int mday = rtc_clamp(rtc_from_reg(r, c[REG_MDAY]), 1, 31);
	int mon = rtc_clamp(rtc_from_reg(r, c[REG_MONTH]), 1, 12);
	int year = rtc_clamp(rtc_from_reg(r, c[REG_YEAR]), 0, 99);
	int century = rtc_clamp(rtc_from_reg(r, c[RTC_REG_CENTURY]), 0, 99);
	int hour;
	int64_t secs;

	if (c[REG_B] & B_24H) {
		hour = rtc_clamp(rtc_from_reg(r, c[REG_HOUR]), 0, 23);
	} else {
		hour = rtc_clamp(rtc_from_reg(r, c[REG_HOUR] & (uint8_t)~HOUR_PM), 1, 12) % 12;
		if (c[REG_HOUR] & HOUR_PM)
			hour += 12;
	}
	/* A day past the month's end rolls into the next month, as timegm would. */
	secs = rtc_days_from_civil(century * 100 + year, mon, mday) * 86400 + hour * 3600 +
	       min * 60 + sec;
	r->offset = secs - (int64_t)now->tv_sec;
}

static bool rtc_is_time_reg(uint8_t reg)
{
	return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR ||
	       (reg >= REG_WDAY && reg <= REG_YEAR) || reg == RTC_REG_CENTURY;
}

static uint8_t rtc_read(struct rtc *r, uint8_t reg)
{
	struct timespec now;
	uint8_t v;

	if (rtc_is_time_reg(reg)) {
		/* With SET the registers hold what the guest is writing, not the clock. */
		if (!(r->cmos[REG_B] & B_SET)) {
			rtc_host_now(&now);
			rtc_snapshot(r, &now);
		}
		return r->cmos[reg];
	}
	switch (reg) {
	case REG_A:
		v = r->cmos[REG_A];
		if (!(r->cmos[REG_B] & B_SET) && (v & A_DV_MASK) == A_DV_32K) {
			rtc_host_now(&now);
			if (now.tv_nsec >= 1000000000L - UIP_WINDOW_NS)
				v |= A_UIP;
		}
		return v;
	case REG_C:
		v = r->cmos[REG_C];
		r->cmos[REG_C] = 0; /* flags clear on read */
		return v;
	case REG_D:
		return D_VRT; /* the battery is always good */
	default:
		return r->cmos[reg];
	}
}

static void rtc_write(struct rtc *r, uint8_t reg, uint8_t val)
{
	struct timespec now;
	uint8_t old;

	if (rtc_is_time_reg(reg)) {
		if (r->cmos[REG_B] & B_SET) {
			r->cmos[reg] = val; /* taken when SET is cleared */
			return;
		}
		/* A running clock: the other fields are the current time. */
		rtc_host_now(&now);
		rtc_snapshot(r, &now);
		r->cmos[reg] = val;
		rtc_commit(r, &now);
		return;
	}
	switch (reg) {
	case REG_A:
		r->cmos[REG_A] = val & (uint8_t)~A_UIP; /* UIP is read-only */
		break;
	case REG_B:
		old = r->cmos[REG_B];
		r->cmos[REG_B] = val;
		rtc_host_now(&now);
		if (!(old & B_SET) && (val & B_SET))
			rtc_snapshot(r, &now); /* freeze, in the format now in force */
		else if ((old & B_SET) && !(val & B_SET))
			rtc_commit(r, &now);
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->cmos[reg] = val;
		break;
	}
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = offset + i;

		if (port == 0) {
			if (is_write)
				r->index = data[i] & 0x7f; /* bit 7 masks NMI: not modelled */
			else
				data[i] = 0xff; /* the index port is write-only */
		} else if (port == 1) {
			if (is_write)
				rtc_write(r, r->index, data[i]);
			else
				data[i] = rtc_read(r, r->index);
		} else if (!is_write) {
			data[i] = 0xff;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; u8 index (0-127);
 * the 128 CMOS bytes; i64 guest seconds minus host (CLOCK_REALTIME) seconds.
 * Register A never holds UIP (computed on read), C is always 0 (no interrupt
 * sources are modelled, so no flag is ever set) and D always VRT.
 */
#define RTC_STATE_VERSION 1
/*
 * About 34,800 years: far more than the registers can express (years 0-9999), and
 * small enough that host seconds plus offset cannot overflow.
 */
#define RTC_MAX_OFFSET ((int64_t)1 << 40)

int rtc_save(struct rtc *r, struct state_buf *b)
{
	pthread_mutex_lock(&r->lock);
	state_put_u32(b, RTC_STATE_VERSION);
	state_put_u8(b, r->index);
	state_put_bytes(b, r->cmos, sizeof(r->cmos));
	state_put_u64(b, (uint64_t)r->offset);
	pthread_mutex_unlock(&r->lock);
	return b->error;
}

int rtc_load(struct rtc *r, struct state_reader *rd)
{
	uint8_t index, cmos[RTC_CMOS_SIZE];
	uint64_t raw;
	int64_t offset;

	if (state_get_u32(rd) != RTC_STATE_VERSION)
		state_reader_fail(rd);
	index = state_get_u8(rd);
	state_get_bytes(rd, cmos, sizeof(cmos));
	raw = state_get_u64(rd);
	/* Two's complement without an implementation-defined conversion. */
	offset = raw > INT64_MAX ? -(int64_t)(~raw) - 1 : (int64_t)raw;
	if (index >= RTC_CMOS_SIZE || (cmos[REG_A] & A_UIP) || cmos[REG_C] ||
	    cmos[REG_D] != D_VRT || offset > RTC_MAX_OFFSET || offset < -RTC_MAX_OFFSET)
		state_reader_fail(rd);
	if (state_reader_finish(rd))
		return -EINVAL;
	/*
	 * The time registers are what the guest wrote under SET, or a stale copy of the
	 * clock that the next read replaces, so any byte is fine: rtc_commit clamps.
	 * No interrupt sources are modelled, so IRQ8 is never raised and there is no
	 * line level to restore.
	 */
	pthread_mutex_lock(&r->lock);
	r->index = index;
	memcpy(r->cmos, cmos, sizeof(r->cmos));
	r->offset = offset;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_set_u16(uint8_t *c, unsigned reg, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	c[reg] = (uint8_t)v;
	c[reg + 1] = (uint8_t)(v >> 8);
}

static void rtc_set_memory(struct rtc *r, uint64_t ram_size, int ncpus)
{
	uint64_t low = e820_lowmem(ram_size), high = e820_highmem(ram_size);
	uint64_t ext = low > MIB ? (low - MIB) / KIB : 0;
	uint64_t above16 = low > 16 * MIB ? (low - 16 * MIB) / (64 * KIB) : 0;
	uint64_t high64k = high / (64 * KIB);
	uint8_t *c = r->cmos;

	rtc_set_u16(c, 0x15, 640);     /* base memory, KiB */
	rtc_set_u16(c, 0x17, ext);     /* extended memory above 1 MiB, KiB */
	rtc_set_u16(c, 0x30, ext);     /* the same, as POST found it */
	rtc_set_u16(c, 0x34, above16); /* above 16 MiB, 64 KiB units */
	if (high64k > 0xffffff)
		high64k = 0xffffff;
	c[0x5b] = (uint8_t)high64k; /* above 4 GiB, 64 KiB units */
	c[0x5c] = (uint8_t)(high64k >> 8);
	c[0x5d] = (uint8_t)(high64k >> 16);
	c[0x5f] = (uint8_t)(ncpus < 1 ? 0 : ncpus > 256 ? 255 : ncpus - 1);
}

struct rtc *rtc_create(const struct irq_sink *irq, uint64_t ram_size, int ncpus)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return NULL;
	rc = pthread_mutex_init(&r->lock, NULL);
	if (rc) {
		free(r);
		errno = rc;
		return NULL;
	}
	if (irq)
		r->irq = *irq;
	r->cmos[REG_A] = A_DV_32K | 0x06; /* 32.768 kHz base, 1024 Hz rate: the PC default */
	r->cmos[REG_B] = B_24H;		  /* BCD, 24-hour: what PC firmware programs */
	r->cmos[REG_D] = D_VRT;
	rtc_set_memory(r, ram_size, ncpus);
	return r;
}

int rtc_attach(struct rtc *r, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, RTC_INDEX_PORT, 2, rtc_io, r, "rtc");
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}
