/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables (arch/x86/acpi.c), checked the way an OS reads them: scan for
 * the RSDP, follow the XSDT/RSDT by guest physical address, verify every
 * signature, length and checksum, then decode FADT, MADT, MCFG and the DSDT's
 * \_S5 object and device list.
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

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"

/* Room for ACPI_MAX_CPUS; the real ACPI area (LAYOUT_ACPI_MAX) holds about 1000. */
#define BUF_LEN 0x40000

struct img {
	uint8_t buf[BUF_LEN];
	uint64_t base;
	size_t used;
	uint64_t rsdp;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static struct acpi_config default_cfg(int ncpus)
{
	struct acpi_config c = {
	    .ncpus = ncpus,
	    .sci_gsi = 9,
	    .pm1a_evt_port = 0x600,
	    .pm1a_cnt_port = 0x604,
	    .pm_tmr_port = 0x608,
	    .gpe0_port = 0x620,
	    .reset_port = 0xcf9,
	    .reset_value = 0x06,
	    .s5_typ = 5,
	    .ioapic_addr = LAYOUT_IOAPIC,
	    .lapic_addr = LAYOUT_LAPIC,
	    .mcfg_base = 0,
	};
	return c;
}

static struct img *build(const struct acpi_config *c, uint64_t base)
{
	struct img *im = calloc(1, sizeof(*im));

	assert_non_null(im);
	memset(im->buf, 0xa5, sizeof(im->buf)); /* garbage the builder must not leave behind */
	im->base = base;
	assert_int_equal(acpi_build(im->buf, sizeof(im->buf), base, c, &im->used, &im->rsdp), 0);
	assert_true(im->used <= sizeof(im->buf));
	return im;
}

/* Guest physical address to a pointer into the image, like an OS mapping it. */
static const uint8_t *at(const struct img *im, uint64_t gpa, size_t len)
{
	assert_true(gpa >= im->base);
	assert_true(gpa - im->base + len <= im->used);
	return im->buf + (gpa - im->base);
}

/* A table header at gpa: length in range, checksum zero, signature as expected. */
static const uint8_t *table(const struct img *im, uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(im, gpa, 36);
	uint32_t len = get32(t + 4);

	assert_memory_equal(t, sig, 4);
	assert_true(len >= 36);
	t = at(im, gpa, len);
	assert_int_equal(sum8(t, len), 0);
	assert_memory_equal(t + 10, "KVMM  ", 6);
	assert_memory_equal(t + 16, "KVMMACPI", 8);
	assert_memory_equal(t + 28, "KVMM", 4);
	return t;
}

/* Finds a table through the XSDT; NULL if absent. */
static const uint8_t *xsdt_find(const struct img *im, const char *sig)
{
	const uint8_t *r = at(im, im->rsdp, 36);
	const uint8_t *x = table(im, get64(r + 24), "XSDT");
	uint32_t n = (get32(x + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = get64(x + 36 + 8 * i);

		if (!memcmp(at(im, gpa, 4), sig, 4))
			return table(im, gpa, sig);
	}
	return NULL;
}

static const uint8_t *dsdt_of(const struct img *im)
{
	const uint8_t *f = xsdt_find(im, "FACP");

	assert_non_null(f);
	return table(im, get64(f + 140), "DSDT");
}

static void test_rsdp(void **state)
{
	struct acpi_config c = default_cfg(1);
	struct img *im = build(&c, LAYOUT_ACPI);
	const uint8_t *r = NULL;

	(void)state;
	/* An OS scans 16-byte boundaries of the BIOS area for the signature. */
	for (size_t off = 0; off + 36 <= im->used; off += 16)
		if (!memcmp(im->buf + off, "RSD PTR ", 8)) {
			r = im->buf + off;
			break;
		}
	assert_non_null(r);
	assert_int_equal(im->rsdp, LAYOUT_ACPI);
	assert_ptr_equal(r, im->buf);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(sum8(r, 36), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(get32(r + 20), 36);
	assert_memory_equal(r + 9, "KVMM  ", 6);
	assert_int_not_equal(get64(r + 24), 0);
	assert_int_not_equal(get32(r + 16), 0);
	free(im);
}

/* XSDT and RSDT list the same valid tables, and nothing points outside the image. */
static void test_root_tables(void **state)
{
	struct acpi_config c = default_cfg(2);
	struct img *im = build(&c, LAYOUT_ACPI);
	const uint8_t *r = at(im, im->rsdp, 36);
	const uint8_t *x = table(im, get64(r + 24), "XSDT");
	const uint8_t *rs = table(im, get32(r + 16), "RSDT");
	uint32_t n = (get32(x + 4) - 36) / 8;
	int fadt = 0, madt = 0;

	(void)state;
	assert_int_equal(x[8], 1);
	assert_int_equal(n, 2);
	assert_int_equal((get32(rs + 4) - 36) / 4, n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = get64(x + 36 + 8 * i);
		const uint8_t *t = at(im, gpa, 4);

		assert_int_equal(get32(rs + 36 + 4 * i), gpa);
		if (!memcmp(t, "FACP", 4)) {
			table(im, gpa, "FACP");
			fadt++;
		} else if (!memcmp(t, "APIC", 4)) {
			table(im, gpa, "APIC");
			madt++;
		} else {
			fail_msg("unexpected table %.4s", (const char *)t);
		}
	}
	assert_int_equal(fadt, 1);
	assert_int_equal(madt, 1);
	assert_null(xsdt_find(im, "MCFG"));
	free(im);
}

static void check_gas(const uint8_t *g, uint8_t space, uint8_t bits, uint64_t addr)
{
	assert_int_equal(g[0], space);
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_int_equal(get64(g + 4), addr);
}

static void test_fadt(void **state)
{
	struct acpi_config c = default_cfg(4);
	struct img *im = build(&c, LAYOUT_ACPI);
	const uint8_t *f = xsdt_find(im, "FACP");
	const uint8_t *facs;
	uint32_t flags;

	(void)state;
	assert_non_null(f);
	assert_int_equal(get32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(f[131], 5); /* minor version: ACPI 6.5 */

	/* DSDT by both pointers; FACS by the 32-bit one only (5.2.9). */
	assert_int_equal(get32(f + 40), get64(f + 140));
	table(im, get64(f + 140), "DSDT");
	assert_int_equal(get64(f + 132), 0);
	assert_int_equal(get32(f + 36) % 64, 0);
	facs = at(im, get32(f + 36), 64);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(get32(facs + 4), 64);
	assert_int_equal(facs[32], 2);

	assert_int_equal(get16(f + 46), 9); /* SCI_INT */
	assert_int_equal(get32(f + 48), 0); /* SMI_CMD: always in ACPI mode */
	assert_int_equal(f[52], 0);
	assert_int_equal(f[53], 0);
	assert_int_equal(get32(f + 56), 0x600);
	assert_int_equal(get32(f + 60), 0); /* no PM1b */
	assert_int_equal(get32(f + 64), 0x604);
	assert_int_equal(get32(f + 76), 0x608);
	assert_int_equal(get32(f + 80), 0x620);
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(f[92], 4);
	assert_int_equal(f[108], 0x32);
	assert_int_equal(get16(f + 109), 0x3);

	flags = get32(f + 112);
	assert_true(flags & (1u << 0));	  /* WBINVD */
	assert_true(flags & (1u << 2));	  /* PROC_C1 */
	assert_false(flags & (1u << 4));  /* fixed power button present */
	assert_true(flags & (1u << 5));	  /* no fixed sleep button */
	assert_true(flags & (1u << 8));	  /* TMR_VAL_EXT */
	assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
	assert_false(flags & (1u << 20)); /* not HW-reduced */

	check_gas(f + 116, 1, 8, 0xcf9);
	assert_int_equal(f[128], 0x06);
	check_gas(f + 148, 1, 32, 0x600);
	check_gas(f + 160, 0, 0, 0); /* X_PM1b_EVT_BLK */
	check_gas(f + 172, 1, 16, 0x604);
	check_gas(f + 208, 1, 32, 0x608);
	check_gas(f + 220, 1, 32, 0x620);
	free(im);
}

struct madt_seen {
	int lapic[ACPI_MAX_CPUS]; /* count of entries per APIC ID */
	int nlapic, nx2apic, nioapic, niso, nnmi, nx2nmi;
	uint8_t ioapic_id;
	uint32_t ioapic_addr, ioapic_gsi;
	uint32_t iso_gsi[16];
	uint16_t iso_flags[16];
	int iso_seen[16];
};

static void madt_walk(const uint8_t *m, struct madt_seen *s)
{
	uint32_t len = get32(m + 4);
	uint32_t off = 44;

	memset(s, 0, sizeof(*s));
	while (off < len) {
		const uint8_t *e = m + off;

		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], e[3]); /* UID == APIC ID */
			assert_int_equal(get32(e + 4), 1);
			s->lapic[e[3]]++;
			s->nlapic++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			s->ioapic_id = e[2];
			s->ioapic_addr = get32(e + 4);
			s->ioapic_gsi = get32(e + 8);
			s->nioapic++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			assert_true(e[3] < 16);
			s->iso_seen[e[3]]++;
			s->iso_gsi[e[3]] = get32(e + 4);
			s->iso_flags[e[3]] = get16(e + 8);
			s->niso++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			s->nnmi++;
			break;
		case 9:
			assert_int_equal(e[1], 16);
			assert_true(get32(e + 4) >= 255 && get32(e + 4) < ACPI_MAX_CPUS);
			assert_int_equal(get32(e + 12), get32(e + 4));
			assert_int_equal(get32(e + 8), 1);
			s->lapic[get32(e + 4)]++;
			s->nx2apic++;
			break;
		case 10:
			assert_int_equal(e[1], 12);
			assert_int_equal(get32(e + 4), 0xffffffff);
			assert_int_equal(e[8], 1);
			s->nx2nmi++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(off, len);
}

static void check_madt(int ncpus)
{
	struct acpi_config c = default_cfg(ncpus);
	struct img *im = build(&c, LAYOUT_ACPI);
	const uint8_t *m = xsdt_find(im, "APIC");
	struct madt_seen *s = calloc(1, sizeof(*s));

	assert_non_null(m);
	assert_non_null(s);
	assert_int_equal(m[8], 6);
	assert_int_equal(get32(m + 36), LAYOUT_LAPIC);
	assert_int_equal(get32(m + 40), 1); /* PCAT_COMPAT */
	madt_walk(m, s);
	for (int i = 0; i < ncpus; i++)
		assert_int_equal(s->lapic[i], 1);
	assert_int_equal(s->nlapic + s->nx2apic, ncpus);
	assert_int_equal(s->nlapic, ncpus < 255 ? ncpus : 255);
	assert_int_equal(s->nx2nmi, ncpus > 255 ? 1 : 0);
	assert_int_equal(s->nioapic, 1);
	assert_int_equal(s->ioapic_id, acpi_ioapic_id(ncpus));
	if (ncpus < 255) {
		assert_int_equal(s->ioapic_id, ncpus);
		assert_int_equal(s->lapic[s->ioapic_id], 0); /* no collision */
	}
	assert_int_equal(s->ioapic_addr, LAYOUT_IOAPIC);
	assert_int_equal(s->ioapic_gsi, 0);
	assert_int_equal(s->niso, 2);
	assert_int_equal(s->iso_seen[0], 1);
	assert_int_equal(s->iso_gsi[0], 2);
	assert_int_equal(s->iso_flags[0], 0);
	assert_int_equal(s->iso_seen[9], 1);
	assert_int_equal(s->iso_gsi[9], 9);
	assert_int_equal(s->iso_flags[9], 0x000d);
	assert_int_equal(s->nnmi, 1);
	free(s);
	free(im);
}

static void test_madt(void **state)
{
	static const int counts[] = {1, 2, 4, 64, 254};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		check_madt(counts[i]);
}

/* 255 and more CPUs: IDs from 255 on move to x2APIC structures (5.2.12.12). */
static void test_madt_x2apic(void **state)
{
	(void)state;
	check_madt(255);
	check_madt(256);
	check_madt(300);
}

/* AML PkgLength (ACPI 6.5 20.2.4), decoded independently of aml.c. */
static size_t pkglen(const uint8_t *p, size_t *nbytes)
{
	size_t n = (size_t)(p[0] >> 6) + 1;
	size_t v;

	if (n == 1) {
		v = p[0] & 0x3f;
	} else {
		v = p[0] & 0x0f;
		for (size_t i = 1; i < n; i++)
			v |= (size_t)p[i] << (4 + 8 * (i - 1));
	}
	*nbytes = n;
	return v;
}

static const uint8_t *memfind(const uint8_t *h, size_t hlen, const void *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (!memcmp(h + i, needle, nlen))
			return h + i;
	return NULL;
}

static int count_occurrences(const uint8_t *h, size_t hlen, const void *needle, size_t nlen)
{
	int n = 0;

	for (size_t i = 0; i + nlen <= hlen; i++)
		if (!memcmp(h + i, needle, nlen))
			n++;
	return n;
}

/* An AML integer constant; returns its value and advances *p. */
static uint64_t aml_int(const uint8_t **p)
{
	const uint8_t *q = *p;
	uint64_t v;

	switch (q[0]) {
	case 0x00:
		*p = q + 1;
		return 0;
	case 0x01:
		*p = q + 1;
		return 1;
	case 0x0a:
		*p = q + 2;
		return q[1];
	case 0x0b:
		*p = q + 3;
		return get16(q + 1);
	case 0x0c:
		*p = q + 5;
		return get32(q + 1);
	case 0x0e:
		*p = q + 9;
		return get64(q + 1);
	default:
		fail_msg("not an AML integer: opcode 0x%02x", q[0]);
	}
	v = 0;
	return v;
}

static void check_s5(uint8_t typ)
{
	struct acpi_config c = default_cfg(2);
	struct img *im;
	const uint8_t *d, *p, *pkg_start;
	size_t len, nb, plen;

	c.s5_typ = typ;
	im = build(&c, LAYOUT_ACPI);
	d = dsdt_of(im);
	len = get32(d + 4);
	assert_int_equal(d[8], 2);
	/* Name (\_S5_, Package (4) {typ, typ, 0, 0}) */
	p = memfind(d + 36, len - 36, "_S5_", 4);
	assert_non_null(p);
	assert_int_equal(p[-2], 0x08); /* NameOp */
	assert_int_equal(p[-1], '\\');
	p += 4;
	assert_int_equal(*p++, 0x12); /* PackageOp */
	pkg_start = p;
	plen = pkglen(p, &nb);
	p += nb;
	assert_int_equal(*p++, 4);
	assert_int_equal(aml_int(&p), typ);
	assert_int_equal(aml_int(&p), typ);
	assert_int_equal(aml_int(&p), 0);
	assert_int_equal(aml_int(&p), 0);
	assert_int_equal(p - pkg_start, plen);
	free(im);
}

static void test_dsdt_s5(void **state)
{
	(void)state;
	check_s5(5);
	check_s5(0);
	check_s5(1);
	check_s5(7);
}

/*
 * The DSDT body is exactly two top-level objects, \_S5_ and the \_SB scope,
 * and the scope's PkgLength ends at the end of the table: the long
 * (multi-byte) PkgLength encodings are right. The devices are inside.
 */
static void check_dsdt_layout(int ncpus, uint64_t mcfg_base)
{
	/* Compressed EISA IDs (ACPI 6.5 6.1.5) as they appear in memory. */
	static const uint8_t pnp0501[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
	static const uint8_t pnp0b00[] = {0x0c, 0x41, 0xd0, 0x0b, 0x00};
	static const uint8_t pnp0303[] = {0x0c, 0x41, 0xd0, 0x03, 0x03};
	static const uint8_t pnp0c02[] = {0x0c, 0x41, 0xd0, 0x0c, 0x02};
	/* COM1 _CRS: IO (Decode16, 0x3F8, 0x3F8, 1, 8), IRQNoFlags {4}, End. */
	static const uint8_t com1_crs[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01,
					   0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
	struct acpi_config c = default_cfg(ncpus);
	struct img *im;
	const uint8_t *d, *p, *end, *body;
	size_t len, nb, plen;

	c.mcfg_base = mcfg_base;
	im = build(&c, LAYOUT_ACPI);
	d = dsdt_of(im);
	len = get32(d + 4);
	end = d + len;
	p = d + 36;
	/* \_S5_ */
	assert_int_equal(p[0], 0x08);
	p += 6;
	assert_int_equal(*p++, 0x12);
	plen = pkglen(p, &nb);
	p += plen;
	/* Scope (\_SB_) */
	assert_int_equal(*p++, 0x10);
	plen = pkglen(p, &nb);
	assert_ptr_equal(p + plen, end);
	assert_memory_equal(p + nb, "\\_SB_", 5);
	body = p + nb + 5;

	assert_int_equal(count_occurrences(body, (size_t)(end - body), "ACPI0007", 8), ncpus);
	{
		char name[5];

		snprintf(name, sizeof(name), "C%03X", (unsigned)(ncpus - 1));
		assert_non_null(memfind(body, (size_t)(end - body), name, 4));
	}
	assert_non_null(memfind(body, (size_t)(end - body), "COM1", 4));
	assert_non_null(memfind(body, (size_t)(end - body), pnp0501, sizeof(pnp0501)));
	assert_non_null(memfind(body, (size_t)(end - body), com1_crs, sizeof(com1_crs)));
	assert_non_null(memfind(body, (size_t)(end - body), pnp0b00, sizeof(pnp0b00)));
	assert_non_null(memfind(body, (size_t)(end - body), pnp0303, sizeof(pnp0303)));
	if (mcfg_base)
		assert_non_null(memfind(body, (size_t)(end - body), pnp0c02, sizeof(pnp0c02)));
	else
		assert_null(memfind(body, (size_t)(end - body), pnp0c02, sizeof(pnp0c02)));
	free(im);
}

static void test_dsdt_layout(void **state)
{
	(void)state;
	check_dsdt_layout(1, 0);
	check_dsdt_layout(2, 0);
	check_dsdt_layout(64, 0);
	check_dsdt_layout(1024, 0xb0000000);
	check_dsdt_layout(ACPI_MAX_CPUS, 0);
}

static void test_mcfg(void **state)
{
	struct acpi_config c = default_cfg(2);
	struct img *im;
	const uint8_t *m;

	(void)state;
	c.mcfg_base = 0xb0000000;
	im = build(&c, LAYOUT_ACPI);
	m = xsdt_find(im, "MCFG");
	assert_non_null(m);
	assert_int_equal(get32(m + 4), 60);
	assert_int_equal(m[8], 1);
	assert_int_equal(get64(m + 44), 0xb0000000);
	assert_int_equal(get16(m + 52), 0); /* segment */
	assert_int_equal(m[54], 0);	    /* start bus */
	assert_int_equal(m[55], 0);	    /* end bus */
	/* The RSDT lists it too. */
	{
		const uint8_t *r = at(im, im->rsdp, 36);
		const uint8_t *rs = table(im, get32(r + 16), "RSDT");

		assert_int_equal((get32(rs + 4) - 36) / 4, 3);
	}
	free(im);
}

/* A base that is not 16-byte aligned moves the RSDP up; the FACS stays 64-aligned. */
static void test_unaligned_base(void **state)
{
	struct acpi_config c = default_cfg(3);
	struct img *im = build(&c, LAYOUT_ACPI + 4);
	const uint8_t *f;

	(void)state;
	assert_int_equal(im->rsdp, LAYOUT_ACPI + 16);
	assert_memory_equal(at(im, im->rsdp, 8), "RSD PTR ", 8);
	f = xsdt_find(im, "FACP");
	assert_non_null(f);
	assert_int_equal(get32(f + 36) % 64, 0);
	dsdt_of(im);
	free(im);
}

static void test_enospc(void **state)
{
	struct acpi_config c = default_cfg(4);
	struct img *im = build(&c, LAYOUT_ACPI);
	uint8_t *small = malloc(im->used);
	size_t used = 0;
	uint64_t rsdp = 0;

	(void)state;
	assert_non_null(small);
	/* Every length short of what the build needs fails cleanly. */
	for (size_t len = 0; len < im->used; len++)
		assert_int_equal(acpi_build(small, len, LAYOUT_ACPI, &c, &used, &rsdp), -ENOSPC);
	assert_int_equal(acpi_build(small, im->used, LAYOUT_ACPI, &c, &used, &rsdp), 0);
	assert_int_equal(used, im->used);
	assert_memory_equal(small, im->buf, used);
	free(small);
	free(im);
}

static void test_einval(void **state)
{
	struct acpi_config c = default_cfg(0);
	static uint8_t buf[BUF_LEN];
	size_t used;
	uint64_t rsdp;

	(void)state;
	assert_int_equal(acpi_build(buf, sizeof(buf), LAYOUT_ACPI, &c, &used, &rsdp), -EINVAL);
	c.ncpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_build(buf, sizeof(buf), LAYOUT_ACPI, &c, &used, &rsdp), -EINVAL);
	c.ncpus = 1;
	assert_int_equal(acpi_build(buf, sizeof(buf), 0xffffff00ULL, &c, &used, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(buf, sizeof(buf), 1ULL << 32, &c, &used, &rsdp), -EINVAL);
	c.mcfg_base = 0xfff00001ULL;
	assert_int_equal(acpi_build(buf, sizeof(buf), LAYOUT_ACPI, &c, &used, &rsdp), -EINVAL);
	c.mcfg_base = 0;
	c.sci_gsi = 0x10000;
	assert_int_equal(acpi_build(buf, sizeof(buf), LAYOUT_ACPI, &c, &used, &rsdp), -EINVAL);
}

/* What the machine will do: the tables for 1024 CPUs fit the ACPI area of layout.h. */
static void test_fits_layout(void **state)
{
	struct acpi_config c = default_cfg(1024);
	uint8_t *buf = malloc(LAYOUT_ACPI_MAX);
	size_t used;
	uint64_t rsdp;

	(void)state;
	assert_non_null(buf);
	c.mcfg_base = 0xb0000000;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_MAX, LAYOUT_ACPI, &c, &used, &rsdp), 0);
	assert_true(LAYOUT_ACPI + used <= LAYOUT_MPTABLE);
	c.ncpus = ACPI_MAX_CPUS;
	assert_int_equal(acpi_build(buf, LAYOUT_ACPI_MAX, LAYOUT_ACPI, &c, &used, &rsdp), -ENOSPC);
	free(buf);
}

static void test_deterministic(void **state)
{
	struct acpi_config c = default_cfg(8);
	struct img *a = build(&c, LAYOUT_ACPI), *b = build(&c, LAYOUT_ACPI);

	(void)state;
	assert_int_equal(a->used, b->used);
	assert_memory_equal(a->buf, b->buf, a->used);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsdp),	   cmocka_unit_test(test_root_tables),
	    cmocka_unit_test(test_fadt),	   cmocka_unit_test(test_madt),
	    cmocka_unit_test(test_madt_x2apic),	   cmocka_unit_test(test_dsdt_s5),
	    cmocka_unit_test(test_dsdt_layout),	   cmocka_unit_test(test_mcfg),
	    cmocka_unit_test(test_unaligned_base), cmocka_unit_test(test_enospc),
	    cmocka_unit_test(test_einval),	   cmocka_unit_test(test_fits_layout),
	    cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
