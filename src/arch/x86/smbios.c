/* SPDX-License-Identifier: MIT */
/*
 * SMBIOS structure table and entry point; see smbios.h. Section and table
 * numbers are of DMTF DSP0134 3.x. Where the spec leaves a value to the
 * implementation, the choice is QEMU's (hw/smbios/smbios.c), which guests
 * have been seeing on virtual machines for years.
 */
#include "arch/x86/smbios.h"

#include "arch/x86/fwtable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMBIOS_MAJOR 3
#define SMBIOS_MINOR 0
#define SMBIOS_BCD   0x30

/* Formatted-area lengths of the version 3.0 structures. */
#define T0_LEN	 0x18
#define T1_LEN	 0x1b
#define T3_LEN	 0x16 /* no contained elements */
#define T4_LEN	 0x30
#define T16_LEN	 0x17
#define T17_LEN	 0x28
#define T19_LEN	 0x1f
#define T32_LEN	 0x0b
#define T127_LEN 0x04
#define T_MAX	 0x30

#define SMBIOS_STRINGS_MAX 4 /* most strings one structure here carries */

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define HANDLE_NONE    0xffff	   /* 7.5: no cache structure */
#define HANDLE_NO_INFO 0xfffe	   /* 7.17/7.18: no error information structure */
#define T16_CAP_EXT    0x80000000u /* 7.17.4: see Extended Maximum Capacity */
#define T19_ADDR_EXT   0xffffffffu /* 7.20: see the extended addresses */

struct smbios_out {
	uint8_t *buf;
	size_t len, cap;
	int err;
	uint16_t handle; /* the next one */
	unsigned count;
	size_t max;
};

/* One structure under construction: its formatted area and strings. */
struct smbios_struct {
	uint8_t f[T_MAX];
	uint8_t len;
	const char *str[SMBIOS_STRINGS_MAX];
	int nstr;
};

static void smbios_append(struct smbios_out *o, const void *p, size_t n)
{
	if (o->err)
		return;
	if (n > o->cap - o->len) {
		size_t cap = o->cap ? o->cap : 4096;
		uint8_t *b;

		while (n > cap - o->len)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->err = -ENOMEM;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Starts a structure (6.1.2): type, formatted length, the next handle. */
static uint16_t smbios_begin(struct smbios_out *o, struct smbios_struct *s, uint8_t type,
			     uint8_t len)
{
	uint16_t h = o->handle++;

	memset(s, 0, sizeof(*s));
	s->len = len;
	s->f[0] = type;
	s->f[1] = len;
	fwtable_put16(s->f + 2, h);
	return h;
}

/* A string field (6.1.3): its number in the set, or 0 for none. */
static uint8_t smbios_str(struct smbios_struct *s, const char *str)
{
	if (!str || !*str)
		return 0;
	s->str[s->nstr++] = str;
	return (uint8_t)s->nstr;
}

/* The formatted area, then each string with its NUL, then the set's final NUL. */
static void smbios_end(struct smbios_out *o, const struct smbios_struct *s)
{
	size_t start = o->len;

	smbios_append(o, s->f, s->len);
	for (int i = 0; i < s->nstr; i++)
		smbios_append(o, s->str[i], strlen(s->str[i]) + 1);
	/* No strings: the set is two NULs (6.1.3). */
	smbios_append(o, "\0", s->nstr ? 1 : 2);
	if (o->len - start > o->max)
		o->max = o->len - start;
	o->count++;
}

/* 7.1, Table 6. */
static void smbios_type0(struct smbios_out *o, const struct smbios_config *c)
{
	struct smbios_struct s;

	smbios_begin(o, &s, 0, T0_LEN);
	s.f[4] = smbios_str(&s, "kvmm");
	s.f[5] = smbios_str(&s, c->version);
	fwtable_put16(s.f + 6, 0xe800); /* SeaBIOS's runtime image, as its own type 0 says */
	s.f[8] = smbios_str(&s, c->bios_date);
	s.f[9] = 0;			   /* ROM size 64 KiB x (n + 1); unknown here */
	fwtable_put64(s.f + 10, 1u << 3);  /* 7.1.1: characteristics not supported */
	s.f[0x13] = (1u << 2) | (1u << 4); /* 7.1.2.2: targeted content distribution, VM */
	s.f[0x14] = 0xff;		   /* no System BIOS Major/Minor Release */
	s.f[0x15] = 0xff;
	s.f[0x16] = 0xff; /* no embedded controller */
	s.f[0x17] = 0xff;
	smbios_end(o, &s);
}

/* 7.2, Table 10; the UUID in the byte order of 7.2.1. */
static void smbios_type1(struct smbios_out *o, const struct smbios_config *c)
{
	struct smbios_struct s;
	uint8_t *u;

	smbios_begin(o, &s, 1, T1_LEN);
	s.f[4] = smbios_str(&s, "kvmm");
	s.f[5] = smbios_str(&s, "kvmm PC");
	s.f[6] = smbios_str(&s, c->version);
	u = s.f + 8; /* all zeros: no UUID */
	if (c->uuid) {
		/* time_low, time_mid and time_hi_and_version are little endian. */
		static const uint8_t order[16] = {3, 2, 1,  0,	5,  4,	7,  6,
						  8, 9, 10, 11, 12, 13, 14, 15};

		for (int i = 0; i < 16; i++)
			u[i] = c->uuid[order[i]];
	}
	s.f[0x18] = 0x06; /* 7.2.2: wake-up type power switch */
	smbios_end(o, &s);
}

/* 7.4, Table 16. */
static void smbios_type3(struct smbios_out *o, const struct smbios_config *c)
{
	struct smbios_struct s;

	smbios_begin(o, &s, 3, T3_LEN);
	s.f[4] = smbios_str(&s, "kvmm");
	s.f[5] = 0x01; /* 7.4.1: type Other */
	s.f[6] = smbios_str(&s, c->version);
	s.f[9] = 0x03;	/* 7.4.2: boot-up state Safe */
	s.f[10] = 0x03; /* power supply state Safe */
	s.f[11] = 0x03; /* thermal state Safe */
	s.f[12] = 0x02; /* 7.4.3: security status Unknown */
	smbios_end(o, &s);
}

/*
 * 7.5, Table 21: one package of cores cores, one thread each (the CPUID
 * topology of cpuid.h). Counts past 255 go to the 3.0 "2" fields (7.5.6-8).
 */
static void smbios_type4(struct smbios_out *o, const struct smbios_config *c, int socket, int cores)
{
	struct smbios_struct s;
	uint8_t count8 = cores > 255 ? 0xff : (uint8_t)cores;
	char name[16];
	uint16_t chars = 1u << 2; /* 7.5.9: 64-bit capable */

	snprintf(name, sizeof(name), "CPU %d", socket);
	smbios_begin(o, &s, 4, T4_LEN);
	s.f[4] = smbios_str(&s, name);
	s.f[5] = 0x03; /* 7.5.1: central processor */
	s.f[6] = 0x01; /* 7.5.2: family Other */
	fwtable_put32(s.f + 8, c->cpuid_signature);
	fwtable_put32(s.f + 12, c->cpuid_features);
	s.f[0x18] = 0x41; /* socket populated, CPU enabled */
	s.f[0x19] = 0x01; /* 7.5.5: upgrade Other */
	fwtable_put16(s.f + 0x1a, HANDLE_NONE);
	fwtable_put16(s.f + 0x1c, HANDLE_NONE);
	fwtable_put16(s.f + 0x1e, HANDLE_NONE);
	s.f[0x23] = count8; /* core count */
	s.f[0x24] = count8; /* cores enabled */
	s.f[0x25] = count8; /* threads */
	if (cores > 1)
		chars |= 1u << 3; /* multi-core */
	fwtable_put16(s.f + 0x26, chars);
	fwtable_put16(s.f + 0x28, 0x01); /* family 2: Other */
	fwtable_put16(s.f + 0x2a, (uint16_t)cores);
	fwtable_put16(s.f + 0x2c, (uint16_t)cores);
	fwtable_put16(s.f + 0x2e, (uint16_t)cores);
	smbios_end(o, &s);
}

/* 7.17, Table 72. */
static uint16_t smbios_type16(struct smbios_out *o, uint64_t total, unsigned ndimms)
{
	struct smbios_struct s;
	uint64_t kib = (total + KIB - 1) / KIB;
	uint16_t h = smbios_begin(o, &s, 16, T16_LEN);

	s.f[4] = 0x01; /* 7.17.1: location Other */
	s.f[5] = 0x03; /* 7.17.2: system memory */
	/* 7.17.3: multi-bit ECC, what QEMU and SeaBIOS say (Windows expects it). */
	s.f[6] = 0x06;
	if (kib < T16_CAP_EXT) {
		fwtable_put32(s.f + 7, (uint32_t)kib);
	} else {
		fwtable_put32(s.f + 7, T16_CAP_EXT);
		fwtable_put64(s.f + 0x0f, total);
	}
	fwtable_put16(s.f + 0x0b, HANDLE_NO_INFO);
	fwtable_put16(s.f + 0x0d, (uint16_t)ndimms);
	smbios_end(o, &s);
	return h;
}

/* 7.18, Table 75: a DIMM of size bytes (at most SMBIOS_DIMM_MAX, so in Size). */
static void smbios_type17(struct smbios_out *o, uint16_t array, unsigned i, uint64_t size)
{
	struct smbios_struct s;
	char loc[16];

	snprintf(loc, sizeof(loc), "DIMM %u", i);
	smbios_begin(o, &s, 17, T17_LEN);
	fwtable_put16(s.f + 4, array);
	fwtable_put16(s.f + 6, HANDLE_NO_INFO);
	fwtable_put16(s.f + 8, 0xffff);				     /* total width unknown */
	fwtable_put16(s.f + 10, 0xffff);			     /* data width unknown */
	fwtable_put16(s.f + 12, (uint16_t)((size + MIB - 1) / MIB)); /* 7.18.5: MiB, bit 15 clear */
	s.f[0x0e] = 0x09;					     /* 7.18.1: form factor DIMM */
	s.f[0x10] = smbios_str(&s, loc);
	s.f[0x12] = 0x07;		 /* 7.18.2: type RAM */
	fwtable_put16(s.f + 0x13, 0x02); /* 7.18.3: detail Other */
	s.f[0x17] = smbios_str(&s, "kvmm");
	smbios_end(o, &s);
}

/* 7.20, Table 81: [start, start + size), size > 0. */
static void smbios_type19(struct smbios_out *o, uint16_t array, uint64_t start, uint64_t size)
{
	struct smbios_struct s;
	uint64_t end = start + size - 1; /* the last byte */

	smbios_begin(o, &s, 19, T19_LEN);
	if (start / KIB < T19_ADDR_EXT && end / KIB < T19_ADDR_EXT) {
		fwtable_put32(s.f + 4, (uint32_t)(start / KIB));
		fwtable_put32(s.f + 8, (uint32_t)(end / KIB));
	} else {
		fwtable_put32(s.f + 4, T19_ADDR_EXT);
		fwtable_put32(s.f + 8, T19_ADDR_EXT);
		fwtable_put64(s.f + 0x0f, start);
		fwtable_put64(s.f + 0x17, end);
	}
	fwtable_put16(s.f + 0x0c, array);
	s.f[0x0e] = 1; /* partition width: one device per row */
	smbios_end(o, &s);
}

/* 7.33, Table 130: no errors detected. */
static void smbios_type32(struct smbios_out *o)
{
	struct smbios_struct s;

	smbios_begin(o, &s, 32, T32_LEN);
	smbios_end(o, &s);
}

/* 7.46. */
static void smbios_type127(struct smbios_out *o)
{
	struct smbios_struct s;

	smbios_begin(o, &s, 127, T127_LEN);
	smbios_end(o, &s);
}

/* Caller strings: 1..SMBIOS_STRING_MAX printable ASCII characters, or NULL. */
static int smbios_string_ok(const char *s)
{
	size_t n;

	if (!s)
		return 1;
	n = strnlen(s, SMBIOS_STRING_MAX + 1);
	if (n == 0 || n > SMBIOS_STRING_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* 7.1: "mm/dd/yyyy". */
static int smbios_date_ok(const char *d)
{
	int month, day;

	if (!d)
		return 1;
	if (strnlen(d, 11) != 10 || d[2] != '/' || d[5] != '/')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 2 && i != 5 && (d[i] < '0' || d[i] > '9'))
			return 0;
	month = (d[0] - '0') * 10 + (d[1] - '0');
	day = (d[3] - '0') * 10 + (d[4] - '0');
	return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int smbios_config_check(const struct smbios_config *c)
{
	int sockets = c->sockets ? c->sockets : 1;

	if (c->ncpus < 1 || c->ncpus > SMBIOS_MAX_CPUS || sockets < 1 || sockets > c->ncpus ||
	    c->ncpus % sockets)
		return -EINVAL;
	if (!c->low_ram || c->low_ram > (1ULL << 32) ||
	    c->high_ram > SMBIOS_DIMMS_MAX * SMBIOS_DIMM_MAX ||
	    c->low_ram + c->high_ram > SMBIOS_DIMMS_MAX * SMBIOS_DIMM_MAX)
		return -EINVAL;
	if (!smbios_string_ok(c->version) || !smbios_string_ok(c->bios_date) ||
	    !smbios_date_ok(c->bios_date))
		return -EINVAL;
	if (c->entry != SMBIOS_ENTRY_AUTO && c->entry != SMBIOS_ENTRY_32 &&
	    c->entry != SMBIOS_ENTRY_64)
		return -EINVAL;
	return 0;
}

/* 5.2.1, Table 1; the table address is left 0 for the firmware. */
static void smbios_anchor32(struct smbios_blobs *b, const struct smbios_out *o)
{
	uint8_t *a = b->anchor;

	memset(a, 0, SMBIOS_ANCHOR32_LEN);
	memcpy(a, "_SM_", 4);
	a[5] = SMBIOS_ANCHOR32_LEN;
	a[6] = SMBIOS_MAJOR;
	a[7] = SMBIOS_MINOR;
	fwtable_put16(a + 8, (uint16_t)o->max);
	memcpy(a + 0x10, "_DMI_", 5);
	fwtable_put16(a + 0x16, (uint16_t)o->len);
	fwtable_put16(a + 0x1c, (uint16_t)o->count);
	a[0x1e] = SMBIOS_BCD;
	/* The intermediate checksum first: the EPS checksum covers all 31 bytes. */
	a[0x15] = fwtable_checksum(a + 0x10, SMBIOS_ANCHOR32_LEN - 0x10);
	a[4] = fwtable_checksum(a, SMBIOS_ANCHOR32_LEN);
	b->anchor_len = SMBIOS_ANCHOR32_LEN;
}

/* 5.2.2, Table 2. */
static void smbios_anchor64(struct smbios_blobs *b, const struct smbios_out *o)
{
	uint8_t *a = b->anchor;

	memset(a, 0, SMBIOS_ANCHOR32_LEN);
	memcpy(a, "_SM3_", 5);
	a[6] = SMBIOS_ANCHOR64_LEN;
	a[7] = SMBIOS_MAJOR;
	a[8] = SMBIOS_MINOR;
	a[9] = 0;  /* docrev */
	a[10] = 1; /* entry point revision: 3.0 */
	fwtable_put32(a + 12, (uint32_t)o->len);
	a[5] = fwtable_checksum(a, SMBIOS_ANCHOR64_LEN);
	b->anchor_len = SMBIOS_ANCHOR64_LEN;
}

void smbios_blobs_free(struct smbios_blobs *b)
{
	free(b->tables);
	memset(b, 0, sizeof(*b));
}

int smbios_build(const struct smbios_config *cfg, struct smbios_blobs *out)
{
	struct smbios_out o = {0};
	uint64_t total = cfg->low_ram + cfg->high_ram;
	int sockets = cfg->sockets ? cfg->sockets : 1;
	unsigned ndimms;
	uint16_t array;
	int err, fits32;

	memset(out, 0, sizeof(*out));
	err = smbios_config_check(cfg);
	if (err)
		return err;
	ndimms = (unsigned)((total + SMBIOS_DIMM_MAX - 1) / SMBIOS_DIMM_MAX);
	o.handle = cfg->bios_info ? 0 : 1;

	if (cfg->bios_info)
		smbios_type0(&o, cfg);
	smbios_type1(&o, cfg);
	smbios_type3(&o, cfg);
	for (int i = 0; i < sockets; i++)
		smbios_type4(&o, cfg, i, cfg->ncpus / sockets);
	array = smbios_type16(&o, total, ndimms);
	for (unsigned i = 0; i < ndimms; i++)
		smbios_type17(&o, array, i,
			      i + 1 < ndimms ? SMBIOS_DIMM_MAX
					     : total - (uint64_t)(ndimms - 1) * SMBIOS_DIMM_MAX);
	smbios_type19(&o, array, 0, cfg->low_ram);
	if (cfg->high_ram)
		smbios_type19(&o, array, 1ULL << 32, cfg->high_ram);
	smbios_type32(&o);
	smbios_type127(&o);
	if (o.err) {
		free(o.buf);
		return o.err;
	}

	fits32 = o.len <= 0xffff && o.count <= 0xffff;
	if (cfg->entry == SMBIOS_ENTRY_32 && !fits32) {
		free(o.buf);
		return -ENOSPC;
	}
	if (cfg->entry == SMBIOS_ENTRY_32 || (cfg->entry == SMBIOS_ENTRY_AUTO && fits32))
		smbios_anchor32(out, &o);
	else
		smbios_anchor64(out, &o);
	out->tables = o.buf;
	out->tables_len = o.len;
	return 0;
}
