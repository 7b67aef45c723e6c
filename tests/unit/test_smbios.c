/* SPDX-License-Identifier: MIT */
/*
 * SMBIOS tables (arch/x86/smbios.c), read the way dmidecode and SeaBIOS
 * read them (DSP0134 3.x 6.1): walk the structures by their lengths and
 * string sets, check every string set is well formed and every string
 * field names a string that exists, then decode types 0, 1, 4, 16, 17 and 19
 * against the config. Entry points are checked as SeaBIOS 1.16
 * (src/fw/biostables.c) checks and patches them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/smbios.h"
#include "fwtable_fixtures.h"

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)

#define MAX_STRUCTS 9000
#define MAX_STRINGS 8

struct sm {
	const uint8_t *p;		  /* formatted area */
	size_t total;			  /* with the string set */
	const char *str[MAX_STRINGS + 1]; /* str[1..nstr] */
	int nstr;
};

struct walk {
	struct sm s[MAX_STRUCTS];
	int n;
	size_t max; /* largest structure */
	int per_type[128];
};

/*
 * The string fields of each type this builder emits (DSP0134 3.x tables 6,
 * 10, 16, 21, 75); any other byte is not a string number.
 */
static int is_string_field(uint8_t type, size_t off)
{
	static const uint8_t t0[] = {4, 5, 8}, t1[] = {4, 5, 6, 7, 0x19, 0x1a},
			     t3[] = {4, 6, 7, 8, 0x15}, t4[] = {4, 7, 0x10, 0x20, 0x21, 0x22},
			     t17[] = {0x10, 0x11, 0x17, 0x18, 0x19, 0x1a};
	const uint8_t *f = NULL;
	size_t n = 0;

	switch (type) {
	case 0:
		f = t0, n = sizeof(t0);
		break;
	case 1:
		f = t1, n = sizeof(t1);
		break;
	case 3:
		f = t3, n = sizeof(t3);
		break;
	case 4:
		f = t4, n = sizeof(t4);
		break;
	case 17:
		f = t17, n = sizeof(t17);
		break;
	default:
		break;
	}
	for (size_t i = 0; i < n; i++)
		if (f[i] == off)
			return 1;
	return 0;
}

/* The formatted length each type has in SMBIOS 3.0. */
static int expected_len(uint8_t type)
{
	switch (type) {
	case 0:
		return 0x18;
	case 1:
		return 0x1b;
	case 3:
		return 0x16;
	case 4:
		return 0x30;
	case 16:
		return 0x17;
	case 17:
		return 0x28;
	case 19:
		return 0x1f;
	case 32:
		return 0x0b;
	case 127:
		return 0x04;
	default:
		return -1;
	}
}

/* Walks t[0, len) and checks the framing; fails the test on anything malformed. */
static struct walk *walk(const uint8_t *t, size_t len)
{
	struct walk *w = calloc(1, sizeof(*w));
	size_t off = 0;
	uint16_t handles[MAX_STRUCTS];

	assert_non_null(w);
	while (off < len) {
		struct sm *s = &w->s[w->n];
		const uint8_t *p = t + off;
		size_t q;

		assert_true(w->n < MAX_STRUCTS);
		assert_true(len - off >= 4);
		assert_true(p[1] >= 4 && p[1] <= len - off);
		assert_int_equal(p[1], expected_len(p[0]));
		s->p = p;
		/* The string set: strings of 1+ characters, each with a NUL, then a NUL. */
		q = off + p[1];
		if (q + 1 < len && t[q] == 0) {
			assert_int_equal(t[q + 1], 0); /* no strings: exactly two NULs */
			q += 2;
		} else {
			while (1) {
				size_t n;

				assert_true(q < len);
				if (t[q] == 0) {
					q++;
					break;
				}
				n = strnlen((const char *)t + q, len - q);
				assert_true(q + n < len); /* terminated inside the table */
				for (size_t i = 0; i < n; i++)
					assert_true(t[q + i] >= 0x20 && t[q + i] <= 0x7e);
				assert_true(s->nstr < MAX_STRINGS);
				s->str[++s->nstr] = (const char *)t + q;
				q += n + 1;
			}
		}
		s->total = q - off;
		if (s->total > w->max)
			w->max = s->total;
		/* String fields name strings that exist; every string is named. */
		{
			int used[MAX_STRINGS + 1] = {0};

			for (size_t i = 4; i < p[1]; i++)
				if (is_string_field(p[0], i) && p[i]) {
					assert_true(p[i] <= s->nstr);
					used[p[i]]++;
				}
			for (int i = 1; i <= s->nstr; i++)
				assert_int_equal(used[i], 1);
		}
		handles[w->n] = get16(p + 2);
		for (int i = 0; i < w->n; i++)
			assert_int_not_equal(handles[i], handles[w->n]);
		assert_true(handles[w->n] < 0xfeff);
		w->per_type[p[0]]++;
		w->n++;
		off = q;
		if (p[0] == 127)
			break;
	}
	assert_int_equal(off, len); /* type 127 is last and nothing follows */
	assert_true(w->n > 0);
	assert_int_equal(w->s[w->n - 1].p[0], 127);
	return w;
}

static const struct sm *find(const struct walk *w, uint8_t type, int nth)
{
	for (int i = 0; i < w->n; i++)
		if (w->s[i].p[0] == type && nth-- == 0)
			return &w->s[i];
	return NULL;
}

static const char *str(const struct sm *s, size_t field)
{
	uint8_t i = s->p[field];

	return i ? s->str[i] : NULL;
}

static struct smbios_config default_cfg(int ncpus, uint64_t low, uint64_t high)
{
	struct smbios_config c = {
	    .ncpus = ncpus,
	    .low_ram = low,
	    .high_ram = high,
	    .version = "0.1.0",
	    .bios_info = true,
	    .bios_date = "01/02/2025",
	    .cpuid_signature = 0x000a0f11,
	    .cpuid_features = 0x178bfbff,
	};
	return c;
}

/* Checks an entry point as SeaBIOS does, then patches it as SeaBIOS does. */
static void check_anchor(struct smbios_blobs *b, const struct walk *w)
{
	uint8_t *a = b->anchor;

	if (b->anchor_len == 31) {
		assert_memory_equal(a, "_SM_", 4);
		assert_int_equal(sum8(a, 31), 0);   /* DSP0134 5.2.1: all 31 bytes */
		assert_int_equal(sum8(a, 0x10), 0); /* SeaBIOS copy_smbios_21 */
		assert_int_equal(sum8(a + 0x10, 31 - 0x10), 0);
		assert_int_equal(a[5], 31);
		assert_int_equal(a[6], 3);
		assert_int_equal(a[7], 0);
		assert_int_equal(get16(a + 8), w->max);
		assert_int_equal(a[10], 0);
		assert_memory_equal(a + 0x10, "_DMI_", 5);
		assert_int_equal(get16(a + 0x16), b->tables_len); /* SeaBIOS: must equal the file */
		assert_int_equal(get32(a + 0x18), 0);
		assert_int_equal(get16(a + 0x1c), w->n);
		assert_int_equal(a[0x1e], 0x30);
		/* smbios_21_setup_entry_point: new address, checksums fixed by subtraction. */
		a[0x18] = 0x10, a[0x1a] = 0xfe;
		a[4] = (uint8_t)(a[4] - sum8(a, 0x10));
		a[0x15] = (uint8_t)(a[0x15] - sum8(a + 0x10, 31 - 0x10));
		assert_int_equal(sum8(a, 31), 0);
	} else {
		assert_int_equal(b->anchor_len, 24);
		assert_memory_equal(a, "_SM3_", 5);
		assert_int_equal(sum8(a, 24), 0);
		assert_int_equal(a[6], 24);
		assert_int_equal(a[7], 3);
		assert_int_equal(a[8], 0);
		assert_int_equal(a[10], 1);
		assert_int_equal(get32(a + 12), b->tables_len); /* SeaBIOS: must equal the file */
		assert_int_equal(get64(a + 16), 0);
	}
}

/* Builds, walks, and checks what every config must give. */
static struct walk *build(const struct smbios_config *c, struct smbios_blobs *b)
{
	struct walk *w;
	int sockets = c->sockets ? c->sockets : 1;
	uint64_t total = c->low_ram + c->high_ram, sum = 0;
	int ndimms = (int)((total + 16 * GIB - 1) / (16 * GIB));
	const struct sm *t16, *t19;
	uint16_t array;

	assert_int_equal(smbios_build(c, b), 0);
	assert_non_null(b->tables);
	w = walk(b->tables, b->tables_len);
	check_anchor(b, w);

	assert_int_equal(w->per_type[0], c->bios_info ? 1 : 0);
	assert_int_equal(w->per_type[1], 1);
	assert_int_equal(w->per_type[3], 1);
	assert_int_equal(w->per_type[4], sockets);
	assert_int_equal(w->per_type[16], 1);
	assert_int_equal(w->per_type[17], ndimms);
	assert_int_equal(w->per_type[19], c->high_ram ? 2 : 1);
	assert_int_equal(w->per_type[32], 1);
	assert_int_equal(w->per_type[127], 1);
	assert_int_equal(w->n,
			 (c->bios_info ? 1 : 0) + 2 + sockets + 1 + ndimms + w->per_type[19] + 2);
	/* Handle 0 is the type 0's, ours or the firmware's. */
	assert_int_equal(get16(w->s[0].p + 2), c->bios_info ? 0 : 1);

	/* 7.5: each package has ncpus / sockets cores of one thread. */
	for (int i = 0; i < sockets; i++) {
		const struct sm *t4 = find(w, 4, i);
		int cores = c->ncpus / sockets;
		char name[16];

		snprintf(name, sizeof(name), "CPU %d", i);
		assert_string_equal(str(t4, 4), name);
		assert_int_equal(t4->p[5], 3);
		assert_int_equal(get32(t4->p + 8), c->cpuid_signature);
		assert_int_equal(get32(t4->p + 12), c->cpuid_features);
		assert_int_equal(t4->p[0x18], 0x41);
		assert_int_equal(t4->p[0x23], cores > 255 ? 0xff : cores);
		assert_int_equal(t4->p[0x24], cores > 255 ? 0xff : cores);
		assert_int_equal(t4->p[0x25], cores > 255 ? 0xff : cores);
		assert_int_equal(get16(t4->p + 0x2a), cores);
		assert_int_equal(get16(t4->p + 0x2c), cores);
		assert_int_equal(get16(t4->p + 0x2e), cores);
		assert_int_equal(!!(get16(t4->p + 0x26) & 8), cores > 1);
	}

	/* 7.17/7.18: one array, DIMMs of at most 16 GiB that add up to the RAM. */
	t16 = find(w, 16, 0);
	array = get16(t16->p + 2);
	assert_int_equal(t16->p[5], 3);
	assert_int_equal(get16(t16->p + 0x0d), ndimms);
	if (total / 1024 < 0x80000000ULL) {
		assert_int_equal(get32(t16->p + 7), (total + 1023) / 1024);
		assert_int_equal(get64(t16->p + 0x0f), 0);
	} else {
		assert_int_equal(get32(t16->p + 7), 0x80000000u);
		assert_int_equal(get64(t16->p + 0x0f), total);
	}
	for (int i = 0; i < ndimms; i++) {
		const struct sm *t17 = find(w, 17, i);
		uint16_t mb = get16(t17->p + 12);
		char loc[16];

		assert_int_equal(get16(t17->p + 4), array);
		assert_true(mb > 0 && mb <= 16384 && !(mb & 0x8000));
		assert_int_equal(get32(t17->p + 0x1c), 0);
		sum += mb;
		snprintf(loc, sizeof(loc), "DIMM %d", i);
		assert_string_equal(str(t17, 0x10), loc);
		assert_int_equal(t17->p[0x12], 0x07);
	}
	assert_int_equal(sum, (total + MIB - 1) / MIB);

	/* 7.20: the low range from 0 and the high one from 4 GiB. */
	for (int i = 0; i < w->per_type[19]; i++) {
		uint64_t start = i ? 1ULL << 32 : 0, size = i ? c->high_ram : c->low_ram;
		uint64_t end = start + size - 1;

		t19 = find(w, 19, i);
		assert_int_equal(get16(t19->p + 0x0c), array);
		if (end / 1024 < 0xffffffffULL) {
			assert_int_equal(get32(t19->p + 4), start / 1024);
			assert_int_equal(get32(t19->p + 8), end / 1024);
			assert_int_equal(get64(t19->p + 0x0f), 0);
			assert_int_equal(get64(t19->p + 0x17), 0);
		} else {
			assert_int_equal(get32(t19->p + 4), 0xffffffffu);
			assert_int_equal(get32(t19->p + 8), 0xffffffffu);
			assert_int_equal(get64(t19->p + 0x0f), start);
			assert_int_equal(get64(t19->p + 0x17), end);
		}
	}
	return w;
}

static void test_basic(void **state)
{
	struct smbios_config c = default_cfg(2, 3 * GIB, 0);
	struct smbios_blobs b;
	struct walk *w;
	const struct sm *s;

	(void)state;
	w = build(&c, &b);
	assert_int_equal(b.anchor_len, 31);

	s = find(w, 0, 0);
	assert_ptr_equal(s, &w->s[0]);
	assert_string_equal(str(s, 4), "kvmm");
	assert_string_equal(str(s, 5), "0.1.0");
	assert_string_equal(str(s, 8), "01/02/2025");
	assert_int_equal(get16(s->p + 6), 0xe800);

	s = find(w, 1, 0);
	assert_string_equal(str(s, 4), "kvmm");
	assert_string_equal(str(s, 5), "kvmm PC");
	assert_string_equal(str(s, 6), "0.1.0");
	for (int i = 0; i < 16; i++)
		assert_int_equal(s->p[8 + i], 0); /* no UUID */
	assert_int_equal(s->p[0x18], 6);

	s = find(w, 3, 0);
	assert_string_equal(str(s, 4), "kvmm");

	s = find(w, 19, 0);
	assert_int_equal(get32(s->p + 4), 0);
	assert_int_equal(get32(s->p + 8), 3 * 1024 * 1024 - 1);
	free(w);
	smbios_blobs_free(&b);
	smbios_blobs_free(&b);
}

/* 7.2.1: the first three UUID fields little endian, the rest as given. */
static void test_uuid(void **state)
{
	static const uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	static const uint8_t wire[16] = {0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
					 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	struct smbios_config c = default_cfg(1, 512 * MIB, 0);
	struct smbios_blobs b;
	struct walk *w;

	(void)state;
	c.uuid = uuid;
	w = build(&c, &b);
	assert_memory_equal(find(w, 1, 0)->p + 8, wire, 16);
	free(w);
	smbios_blobs_free(&b);
}

/* Without type 0 the firmware adds its own at handle 0; strings may be absent. */
static void test_no_bios_info(void **state)
{
	struct smbios_config c = default_cfg(4, 2 * GIB, 0);
	struct smbios_blobs b;
	struct walk *w;

	(void)state;
	c.bios_info = false;
	c.version = NULL;
	c.bios_date = NULL;
	w = build(&c, &b);
	assert_null(find(w, 0, 0));
	assert_null(str(find(w, 1, 0), 6));
	free(w);
	smbios_blobs_free(&b);

	c.bios_info = true;
	w = build(&c, &b);
	assert_null(str(find(w, 0, 0), 5));
	assert_null(str(find(w, 0, 0), 8));
	assert_string_equal(str(find(w, 0, 0), 4), "kvmm");
	free(w);
	smbios_blobs_free(&b);
}

/* Counts per CPU count and socket count, past the 8-bit fields. */
static void test_cpus(void **state)
{
	static const struct {
		int ncpus, sockets;
	} cases[] = {{1, 0},   {2, 0},	   {2, 2},    {4, 2},	  {255, 0},    {256, 0},
		     {300, 0}, {300, 300}, {4096, 0}, {4096, 16}, {4096, 4096}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smbios_config c = default_cfg(cases[i].ncpus, 1 * GIB, 0);
		struct smbios_blobs b;

		c.sockets = cases[i].sockets;
		free(build(&c, &b));
		smbios_blobs_free(&b);
	}
}

/* RAM sizes: the DIMM split, the 2 TiB capacity limit, the 4 TiB address limit. */
static void test_memory(void **state)
{
	static const struct {
		uint64_t low, high;
	} cases[] = {
	    {2 * MIB, 0},
	    {3 * GIB, 0},
	    {3 * GIB, 1 * GIB},
	    {3 * GIB, 13 * GIB},	   /* exactly one 16 GiB DIMM */
	    {3 * GIB, 13 * GIB + 1 * MIB}, /* a second, 1 MiB DIMM */
	    {3 * GIB, 61 * GIB},
	    {4ULL * GIB, 0},
	    {3 * GIB + 4096, 1536},		  /* not MiB multiples: sizes round up */
	    {3 * GIB, 2048 * GIB},		  /* type 16 extended capacity */
	    {3 * GIB, 4096 * GIB},		  /* type 19 extended addresses */
	    {3 * GIB, 4096 * 16 * GIB - 3 * GIB}, /* SMBIOS_DIMMS_MAX DIMMs */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smbios_config c = default_cfg(2, cases[i].low, cases[i].high);
		struct smbios_blobs b;

		free(build(&c, &b));
		smbios_blobs_free(&b);
	}
}

/* Entry points: auto picks 32-bit while the table fits its 16-bit length. */
static void test_entry_points(void **state)
{
	struct smbios_config c = default_cfg(2, 1 * GIB, 0);
	struct smbios_blobs b;
	struct walk *w;

	(void)state;
	c.entry = SMBIOS_ENTRY_64;
	free(build(&c, &b));
	assert_int_equal(b.anchor_len, 24);
	smbios_blobs_free(&b);
	c.entry = SMBIOS_ENTRY_32;
	free(build(&c, &b));
	assert_int_equal(b.anchor_len, 31);
	smbios_blobs_free(&b);

	/* 4096 packages do not fit 64 KiB. */
	c.ncpus = c.sockets = 4096;
	c.entry = SMBIOS_ENTRY_AUTO;
	w = build(&c, &b);
	assert_true(b.tables_len > 0xffff);
	assert_int_equal(b.anchor_len, 24);
	free(w);
	smbios_blobs_free(&b);
	c.entry = SMBIOS_ENTRY_32;
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(smbios_build(&c, &b), -ENOSPC);
	assert_null(b.tables);
	assert_int_equal(b.tables_len + b.anchor_len, 0);
}

static void test_einval(void **state)
{
	static const char *bad_strings[] = {
	    "",		 "a\nb",
	    "tab\there", "\x7f",
	    "\xc3\xa9",	 "0123456789012345678901234567890123456789012345678901234567890123X"};
	static const char *bad_dates[] = {"1/2/2025",
					  "13/01/2025",
					  "00/01/2025",
					  "01/32/2025",
					  "01/00/2025",
					  "01-02-2025",
					  "01/02/25",
					  "01/02/2025 ",
					  "0a/02/2025",
					  "01/02/20x5",
					  ""};
	struct smbios_config c = default_cfg(4, 1 * GIB, 0);
	struct smbios_blobs b;

	(void)state;
	c.ncpus = 0;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.ncpus = SMBIOS_MAX_CPUS + 1;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.ncpus = 4;
	c.sockets = 3;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.sockets = 8;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.sockets = -1;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.sockets = 0;
	c.low_ram = 0;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.low_ram = 4 * GIB + 1;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.low_ram = 1 * GIB;
	c.high_ram = 4096 * 16 * GIB - 1 * GIB + 1;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.high_ram = UINT64_MAX;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.high_ram = 0;
	c.entry = (enum smbios_entry_point)3;
	assert_int_equal(smbios_build(&c, &b), -EINVAL);
	c.entry = SMBIOS_ENTRY_AUTO;
	for (size_t i = 0; i < sizeof(bad_strings) / sizeof(bad_strings[0]); i++) {
		c.version = bad_strings[i];
		assert_int_equal(smbios_build(&c, &b), -EINVAL);
	}
	c.version = "0123456789012345678901234567890123456789012345678901234567890123";
	assert_int_equal(smbios_build(&c, &b), 0); /* 64 characters are fine */
	smbios_blobs_free(&b);
	c.version = "0.1.0";
	for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
		c.bios_date = bad_dates[i];
		memset(&b, 0x5a, sizeof(b));
		assert_int_equal(smbios_build(&c, &b), -EINVAL);
		assert_null(b.tables);
	}
	c.bios_date = "12/31/1999";
	assert_int_equal(smbios_build(&c, &b), 0);
	smbios_blobs_free(&b);
}

static void test_deterministic(void **state)
{
	struct smbios_config c = default_cfg(8, 3 * GIB, 5 * GIB);
	struct smbios_blobs a, b;

	(void)state;
	assert_int_equal(smbios_build(&c, &a), 0);
	assert_int_equal(smbios_build(&c, &b), 0);
	assert_int_equal(a.tables_len, b.tables_len);
	assert_memory_equal(a.tables, b.tables, a.tables_len);
	assert_int_equal(a.anchor_len, b.anchor_len);
	assert_memory_equal(a.anchor, b.anchor, a.anchor_len);
	smbios_blobs_free(&a);
	smbios_blobs_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),	 cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_no_bios_info), cmocka_unit_test(test_cpus),
	    cmocka_unit_test(test_memory),	 cmocka_unit_test(test_entry_points),
	    cmocka_unit_test(test_einval),	 cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
