/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for firmware (arch/x86/acpi_loader.c), checked by doing what
 * SeaBIOS does with them (src/fw/romfile_loader.c, src/fw/biostables.c):
 * a reference executor of the BIOS linker/loader commands, written from the
 * command format (QEMU hw/acpi/bios-linker-loader.c), places the fw_cfg
 * blobs in fake guest memory, patches pointers and checksums, and then the
 * tables are read the way an OS does: scan the F segment for the RSDP and
 * follow it. The executed tables must equal acpi_build's for the same
 * addresses, byte for byte. The executor and the checks report a reason
 * instead of asserting, so tests can also show they catch broken commands.
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
#include "arch/x86/acpi_loader.h"
#include "arch/x86/layout.h"
#include "fwtable_fixtures.h"

#define CMD_LEN	 128
#define NAME_LEN 56
#define FSEG	 0xf0000ULL
#define FSEG_END 0x100000ULL
#define HIGH	 0x7ff00000ULL /* a stand-in for SeaBIOS's ZoneHigh below 2 GiB */
#define HIGH_LEN 0x100000ULL

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Fake guest memory: a few regions, each a host buffer at a guest address. */
struct region {
	uint64_t base;
	size_t len;
	uint8_t *buf;
};

struct mem {
	struct region r[2];
	int n;
};

static void mem_add(struct mem *m, uint64_t base, size_t len)
{
	struct region *r = &m->r[m->n++];

	r->base = base;
	r->len = len;
	r->buf = calloc(1, len);
	assert_non_null(r->buf);
}

static void mem_free(struct mem *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->r[i].buf);
	m->n = 0;
}

/* The host bytes of guest [gpa, gpa + len), or NULL if not all in one region. */
static uint8_t *mem_at(const struct mem *m, uint64_t gpa, size_t len)
{
	for (int i = 0; i < m->n; i++) {
		const struct region *r = &m->r[i];

		if (gpa >= r->base && gpa - r->base <= r->len && len <= r->len - (gpa - r->base))
			return r->buf + (gpa - r->base);
	}
	return NULL;
}

/* A fw_cfg file the firmware can read, and where the test's firmware puts it. */
struct file {
	const char *name;
	const uint8_t *data;
	size_t len;
	uint64_t addr;
	int zone_checked; /* 1: the address must lie in the zone the command asks */
	/* filled in by exec */
	int allocated;
	uint32_t align;
	uint8_t zone;
};

static struct file *file_find(struct file *f, int n, const uint8_t *name)
{
	if (name[NAME_LEN - 1])
		return NULL; /* SeaBIOS: a name must end inside its field */
	for (int i = 0; i < n; i++)
		if (!strcmp(f[i].name, (const char *)name))
			return &f[i];
	return NULL;
}

/* The bytes of a name field after its NUL are zero (QEMU strncpy's them). */
static int name_clean(const uint8_t *name)
{
	size_t n = strnlen((const char *)name, NAME_LEN);

	return n > 0 && n < NAME_LEN && all_zero(name + n, NAME_LEN - n);
}

/*
 * Executes the command file like romfile_loader_execute, but strictly: what
 * SeaBIOS would skip with a warning (or silently) is a failure here, and so
 * is a pointer that does not land inside its source file or does not fit its
 * field after relocation. Returns NULL or what went wrong.
 */
static const char *exec_loader(struct mem *m, struct file *files, int nfiles, const uint8_t *cmds,
			       size_t len)
{
	if (len % CMD_LEN)
		return "command file not a multiple of 128 bytes";
	for (size_t off = 0; off < len; off += CMD_LEN) {
		const uint8_t *c = cmds + off;

		switch (get32(c)) {
		case 1: { /* ALLOCATE */
			struct file *f = file_find(files, nfiles, c + 4);
			uint32_t align = get32(c + 60);
			uint8_t *dst;

			if (!f || !name_clean(c + 4))
				return "ALLOCATE of an unknown file";
			if (f->allocated)
				return "file allocated twice";
			if (!align || (align & (align - 1)))
				return "alignment not a power of two";
			if (c[64] != 1 && c[64] != 2)
				return "unknown zone";
			if (!all_zero(c + 65, CMD_LEN - 65))
				return "ALLOCATE padding not zero";
			if (!f->len)
				return "empty file";
			/* SeaBIOS aligns to at least MALLOC_MIN_ALIGN, 16. */
			if (f->addr % (align < 16 ? 16 : align))
				return "test placed a file against its alignment";
			if (f->zone_checked && c[64] == 2 &&
			    (f->addr < FSEG || f->addr + f->len > FSEG_END))
				return "FSEG file placed outside the F segment";
			if (f->zone_checked && c[64] == 1 && f->addr + f->len > (1ULL << 32))
				return "HIGH file placed above 4 GiB";
			dst = mem_at(m, f->addr, f->len);
			if (!dst)
				return "test placed a file outside fake memory";
			memcpy(dst, f->data, f->len);
			f->allocated = 1;
			f->align = align;
			f->zone = c[64];
			break;
		}
		case 2: { /* ADD_POINTER */
			struct file *d = file_find(files, nfiles, c + 4);
			struct file *s = file_find(files, nfiles, c + 60);
			uint32_t at = get32(c + 116);
			uint8_t size = c[120];
			uint64_t v = 0;
			uint8_t *p;

			if (!d || !s || !d->allocated || !s->allocated || !name_clean(c + 4) ||
			    !name_clean(c + 60))
				return "ADD_POINTER between files not allocated";
			if (size != 1 && size != 2 && size != 4 && size != 8)
				return "bad pointer size";
			if (!all_zero(c + 121, CMD_LEN - 121))
				return "ADD_POINTER padding not zero";
			if ((uint64_t)at + size > d->len)
				return "pointer field outside its file";
			p = mem_at(m, d->addr + at, size);
			for (int i = 0; i < size; i++)
				v |= (uint64_t)p[i] << (8 * i);
			if (v >= s->len)
				return "pointer does not land inside its source file";
			v += s->addr;
			if (size < 8 && v >> (8 * size))
				return "relocated pointer does not fit its field";
			for (int i = 0; i < size; i++)
				p[i] = (uint8_t)(v >> (8 * i));
			break;
		}
		case 3: { /* ADD_CHECKSUM */
			struct file *f = file_find(files, nfiles, c + 4);
			uint32_t at = get32(c + 60), start = get32(c + 64), n = get32(c + 68);
			uint8_t *base;

			if (!f || !f->allocated || !name_clean(c + 4))
				return "ADD_CHECKSUM of a file not allocated";
			if (!all_zero(c + 72, CMD_LEN - 72))
				return "ADD_CHECKSUM padding not zero";
			if (at >= f->len || (uint64_t)start + n > f->len)
				return "checksum range outside its file";
			base = mem_at(m, f->addr, f->len);
			base[at] = (uint8_t)(base[at] - sum8(base + start, n));
			break;
		}
		default:
			return "unknown command";
		}
	}
	for (int i = 0; i < nfiles; i++)
		if (!files[i].allocated)
			return "a file was never allocated";
	return NULL;
}

static struct acpi_config default_cfg(int ncpus, uint64_t mcfg)
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
	    .mcfg_base = mcfg,
	    .mcfg_end_bus = mcfg ? 255 : 0,
	};
	return c;
}

/*
 * Runs commands cmds (b's own if NULL) with the tables blob at tables_gpa
 * and the RSDP at rsdp_gpa. The blobs arrive with every byte an ADD_CHECKSUM
 * of b names garbled, so the tables come out right only if the commands
 * compute every checksum (acpi_loader_build leaves them valid for offset
 * pointers, QEMU leaves them 0).
 */
static const char *run_cmds(struct mem *m, const struct acpi_loader_blobs *b, const uint8_t *cmds,
			    size_t cmds_len, uint64_t tables_gpa, uint64_t rsdp_gpa,
			    int zone_checked)
{
	uint8_t *t = malloc(b->tables_len), *r = malloc(b->rsdp_len);
	struct file files[2] = {
	    {ACPI_LOADER_FILE_TABLES, t, b->tables_len, tables_gpa, zone_checked, 0, 0, 0},
	    {ACPI_LOADER_FILE_RSDP, r, b->rsdp_len, rsdp_gpa, zone_checked, 0, 0, 0},
	};
	const char *err;

	assert_non_null(t);
	assert_non_null(r);
	memcpy(t, b->tables, b->tables_len);
	memcpy(r, b->rsdp, b->rsdp_len);
	for (size_t off = 0; off + CMD_LEN <= b->commands_len; off += CMD_LEN) {
		const uint8_t *c = b->commands + off;
		uint32_t at = get32(c + 60);

		if (get32(c) != 3)
			continue;
		if (!strcmp((const char *)c + 4, ACPI_LOADER_FILE_TABLES) && at < b->tables_len)
			t[at] ^= 0x5a;
		else if (!strcmp((const char *)c + 4, ACPI_LOADER_FILE_RSDP) && at < b->rsdp_len)
			r[at] ^= 0x5a;
	}
	err = exec_loader(m, files, 2, cmds, cmds_len);
	free(t);
	free(r);
	return err;
}

static const char *run(struct mem *m, const struct acpi_loader_blobs *b, uint64_t tables_gpa,
		       uint64_t rsdp_gpa, int zone_checked)
{
	return run_cmds(m, b, b->commands, b->commands_len, tables_gpa, rsdp_gpa, zone_checked);
}

/* What an OS finds by following the RSDP. */
struct found {
	uint64_t rsdp, rsdt, xsdt, fadt, facs, dsdt, madt, mcfg;
};

/* A table at gpa: signature, sane length, checksum zero. */
static const char *check_table(const struct mem *m, uint64_t gpa, const char *sig)
{
	const uint8_t *t = mem_at(m, gpa, 36);
	uint32_t len;

	if (!t)
		return "table header outside memory";
	if (memcmp(t, sig, 4))
		return "pointer lands on the wrong signature";
	len = get32(t + 4);
	if (len < 36 || !(t = mem_at(m, gpa, len)))
		return "table length out of range";
	if (sum8(t, len))
		return "table checksum not zero";
	return NULL;
}

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		const char *e_ = (expr);                                                           \
		if (e_)                                                                            \
			return e_;                                                                 \
	} while (0)

/*
 * Scans the F segment on 16-byte boundaries for an RSDP with valid checksums
 * (ACPI 6.5 5.2.5.1; SeaBIOS find_acpi_rsdp) and checks everything behind it.
 */
static const char *check_acpi(const struct mem *m, struct found *f)
{
	const uint8_t *r = NULL, *rs, *x, *fa, *facs;
	uint32_t n;

	memset(f, 0, sizeof(*f));
	for (uint64_t gpa = FSEG; gpa + 36 <= FSEG_END; gpa += 16) {
		const uint8_t *p = mem_at(m, gpa, 36);

		if (p && !memcmp(p, "RSD PTR ", 8) && !sum8(p, 20) && !sum8(p, 36)) {
			r = p;
			f->rsdp = gpa;
			break;
		}
	}
	if (!r)
		return "no RSDP with valid checksums in the F segment";
	if (r[15] != 2 || get32(r + 20) != 36)
		return "RSDP revision or length";
	f->rsdt = get32(r + 16);
	f->xsdt = get64(r + 24);
	CHECK(check_table(m, f->rsdt, "RSDT"));
	CHECK(check_table(m, f->xsdt, "XSDT"));
	rs = mem_at(m, f->rsdt, 36);
	x = mem_at(m, f->xsdt, 36);
	n = (get32(x + 4) - 36) / 8;
	if ((get32(rs + 4) - 36) / 4 != n || get32(x + 4) != 36 + 8 * n)
		return "RSDT and XSDT list different numbers of tables";
	rs = mem_at(m, f->rsdt, 36 + 4 * n);
	x = mem_at(m, f->xsdt, 36 + 8 * n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = get64(x + 36 + 8 * i);
		const uint8_t *t = mem_at(m, gpa, 4);
		uint64_t *slot;
		const char *sig;

		if (get32(rs + 36 + 4 * i) != gpa)
			return "RSDT and XSDT entries differ";
		if (!t)
			return "XSDT entry outside memory";
		if (!memcmp(t, "FACP", 4))
			slot = &f->fadt, sig = "FACP";
		else if (!memcmp(t, "APIC", 4))
			slot = &f->madt, sig = "APIC";
		else if (!memcmp(t, "MCFG", 4))
			slot = &f->mcfg, sig = "MCFG";
		else
			return "XSDT entry with an unexpected signature";
		if (*slot)
			return "table listed twice";
		*slot = gpa;
		CHECK(check_table(m, gpa, sig));
	}
	if (!f->fadt || !f->madt)
		return "FADT or MADT missing";
	fa = mem_at(m, f->fadt, 244);
	f->facs = get32(fa + 36);
	f->dsdt = get64(fa + 140);
	if (get32(fa + 40) != f->dsdt)
		return "FADT DSDT and X_DSDT differ";
	if (get64(fa + 132))
		return "X_FIRMWARE_CTRL set next to FIRMWARE_CTRL";
	CHECK(check_table(m, f->dsdt, "DSDT"));
	facs = mem_at(m, f->facs, 64);
	if (!facs || memcmp(facs, "FACS", 4) || get32(facs + 4) != 64)
		return "FIRMWARE_CTRL does not point at a FACS";
	if (f->facs % 64)
		return "FACS not 64-byte aligned";
	return NULL;
}

static void build(const struct acpi_config *c, struct acpi_loader_blobs *b)
{
	assert_int_equal(acpi_loader_build(c, b), 0);
	assert_non_null(b->tables);
	assert_non_null(b->rsdp);
	assert_non_null(b->commands);
	assert_int_equal(b->rsdp_len, 36);
}

/* Tables linked at SeaBIOS-like addresses are complete and consistent. */
static void check_linked(int ncpus, uint64_t mcfg, uint64_t tables_gpa, uint64_t rsdp_gpa)
{
	struct acpi_config c = default_cfg(ncpus, mcfg);
	struct acpi_loader_blobs b;
	struct mem m = {0};
	struct found f;
	const char *err;

	build(&c, &b);
	mem_add(&m, 0xe0000, 0x20000);
	mem_add(&m, HIGH, HIGH_LEN);
	err = run(&m, &b, tables_gpa, rsdp_gpa, 1);
	if (!err)
		err = check_acpi(&m, &f);
	if (err)
		fail_msg("ncpus %d mcfg %#llx: %s", ncpus, (unsigned long long)mcfg, err);
	assert_int_equal(f.rsdp, rsdp_gpa);
	assert_int_equal(f.rsdt, tables_gpa); /* the tables blob starts with the RSDT */
	assert_true(f.xsdt > f.rsdt && f.xsdt < tables_gpa + b.tables_len);
	assert_true(f.dsdt + 36 <= tables_gpa + b.tables_len);
	/* The DSDT is last and ends the blob. */
	assert_int_equal(f.dsdt + get32(mem_at(&m, f.dsdt, 36) + 4), tables_gpa + b.tables_len);
	if (mcfg)
		assert_int_equal(get64(mem_at(&m, f.mcfg, 60) + 44), mcfg);
	else
		assert_int_equal(f.mcfg, 0);
	mem_free(&m);
	acpi_loader_blobs_free(&b);
}

static void test_linked(void **state)
{
	static const int counts[] = {1, 2, 4, 64, 254, 255, 300, 1024, ACPI_MAX_CPUS};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		check_linked(counts[i], 0, HIGH + 0x40, 0xf5a30);
		check_linked(counts[i], LAYOUT_PCI_ECAM, HIGH + 0x80000, FSEG);
	}
}

/*
 * The strongest check: placed where acpi_build would put them (RSDP at g,
 * RSDT at g + 48, 64-byte aligned), the linked tables are acpi_build's bytes.
 */
static void check_same_as_direct(int ncpus, uint64_t mcfg)
{
	struct acpi_config c = default_cfg(ncpus, mcfg);
	const uint64_t g = HIGH + 0x10;
	struct acpi_loader_blobs b;
	struct mem m = {0};
	uint8_t *direct = malloc(HIGH_LEN);
	size_t used;
	uint64_t rsdp;
	const char *err;

	assert_non_null(direct);
	memset(direct, 0xa5, HIGH_LEN);
	assert_int_equal(acpi_build(direct, HIGH_LEN, g, &c, &used, &rsdp), 0);
	assert_int_equal(rsdp, g);
	build(&c, &b);
	assert_int_equal(48 + b.tables_len, used);
	mem_add(&m, HIGH, HIGH_LEN);
	err = run(&m, &b, g + 48, g, 0);
	if (err)
		fail_msg("ncpus %d: %s", ncpus, err);
	assert_memory_equal(mem_at(&m, g, used), direct, used);
	mem_free(&m);
	acpi_loader_blobs_free(&b);
	free(direct);
}

static void test_same_as_direct(void **state)
{
	static const int counts[] = {1, 2, 3, 8, 254, 255, 256, 1000, ACPI_MAX_CPUS};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		check_same_as_direct(counts[i], 0);
		check_same_as_direct(counts[i], LAYOUT_PCI_ECAM);
	}
}

/* The command file itself: allocations first, one pointer per link, one checksum per table. */
static void check_commands(uint64_t mcfg)
{
	struct acpi_config c = default_cfg(4, mcfg);
	struct acpi_loader_blobs b;
	size_t n;
	int nptr[2] = {0, 0}, ncsum[2] = {0, 0}; /* [0] tables, [1] rsdp */
	int ntables = mcfg ? 3 : 2;

	build(&c, &b);
	assert_int_equal(b.commands_len % CMD_LEN, 0);
	n = b.commands_len / CMD_LEN;
	assert_true(n >= 2);
	assert_int_equal(get32(b.commands), 1);
	assert_string_equal((const char *)b.commands + 4, "etc/acpi/tables");
	assert_int_equal(get32(b.commands + 60), 64);
	assert_int_equal(b.commands[64], 1); /* HIGH */
	assert_int_equal(get32(b.commands + CMD_LEN), 1);
	assert_string_equal((const char *)b.commands + CMD_LEN + 4, "etc/acpi/rsdp");
	assert_int_equal(get32(b.commands + CMD_LEN + 60), 16);
	assert_int_equal(b.commands[CMD_LEN + 64], 2); /* FSEG */
	for (size_t i = 2; i < n; i++) {
		const uint8_t *cmd = b.commands + i * CMD_LEN;
		int rsdp = !strcmp((const char *)cmd + 4, "etc/acpi/rsdp");

		assert_true(rsdp || !strcmp((const char *)cmd + 4, "etc/acpi/tables"));
		if (get32(cmd) == 2) {
			/* Every pointer is to the tables blob; none after a checksum of its file.
			 */
			assert_string_equal((const char *)cmd + 60, "etc/acpi/tables");
			assert_int_equal(ncsum[rsdp], 0);
			nptr[rsdp]++;
		} else {
			assert_int_equal(get32(cmd), 3);
			ncsum[rsdp]++;
		}
	}
	/* RSDT and XSDT entries, FADT FIRMWARE_CTRL, DSDT and X_DSDT. */
	assert_int_equal(nptr[0], 2 * ntables + 3);
	assert_int_equal(nptr[1], 2);
	/* RSDT, XSDT, FADT, MADT, [MCFG], DSDT; RSDP checksum and extended checksum. */
	assert_int_equal(ncsum[0], 5 + (mcfg ? 1 : 0));
	assert_int_equal(ncsum[1], 2);
	acpi_loader_blobs_free(&b);
}

static void test_commands(void **state)
{
	(void)state;
	check_commands(0);
	check_commands(LAYOUT_PCI_ECAM);
}

/* Before linking, RSDP pointers are offsets of the RSDT and XSDT in the tables blob. */
static void test_offsets(void **state)
{
	struct acpi_config c = default_cfg(2, LAYOUT_PCI_ECAM);
	struct acpi_loader_blobs b;
	uint32_t rsdt;
	uint64_t xsdt;

	(void)state;
	build(&c, &b);
	assert_memory_equal(b.rsdp, "RSD PTR ", 8);
	rsdt = get32(b.rsdp + 16);
	xsdt = get64(b.rsdp + 24);
	assert_int_equal(rsdt, 0);
	assert_true(xsdt + 36 <= b.tables_len);
	assert_memory_equal(b.tables + rsdt, "RSDT", 4);
	assert_memory_equal(b.tables + xsdt, "XSDT", 4);
	/* Every XSDT entry is the offset of a table in the blob. */
	for (uint32_t i = 0; i < (get32(b.tables + xsdt + 4) - 36) / 8; i++) {
		uint64_t off = get64(b.tables + xsdt + 36 + 8 * i);

		assert_true(off % 16 == 0 && off + 36 <= b.tables_len);
		assert_int_equal(get32(b.tables + rsdt + 36 + 4 * i), off);
	}
	acpi_loader_blobs_free(&b);
}

/* The checks notice any one command missing: each is needed and checked. */
static void check_broken_commands_caught(uint64_t mcfg)
{
	struct acpi_config c = default_cfg(2, mcfg);
	struct acpi_loader_blobs b;
	size_t n;

	build(&c, &b);
	n = b.commands_len / CMD_LEN;
	for (size_t drop = 0; drop < n; drop++) {
		uint8_t *cmds = malloc(b.commands_len);
		struct mem m = {0};
		struct found f;
		const char *err;

		assert_non_null(cmds);
		memcpy(cmds, b.commands, drop * CMD_LEN);
		memcpy(cmds + drop * CMD_LEN, b.commands + (drop + 1) * CMD_LEN,
		       (n - drop - 1) * CMD_LEN);
		mem_add(&m, 0xe0000, 0x20000);
		mem_add(&m, HIGH, HIGH_LEN);
		err = run_cmds(&m, &b, cmds, (n - 1) * CMD_LEN, HIGH + 0x40, 0xf5a30, 1);
		if (!err)
			err = check_acpi(&m, &f);
		if (!err)
			fail_msg("dropping command %zu went unnoticed", drop);
		mem_free(&m);
		free(cmds);
	}
	acpi_loader_blobs_free(&b);
}

static void test_broken_commands_caught(void **state)
{
	(void)state;
	check_broken_commands_caught(0);
	check_broken_commands_caught(LAYOUT_PCI_ECAM);
}

static void test_build_einval(void **state)
{
	struct acpi_config c = default_cfg(0, 0);
	struct acpi_loader_blobs b;

	(void)state;
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(acpi_loader_build(&c, &b), -EINVAL);
	assert_null(b.tables);
	assert_null(b.rsdp);
	assert_null(b.commands);
	assert_int_equal(b.tables_len + b.rsdp_len + b.commands_len, 0);
	c.ncpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_loader_build(&c, &b), -EINVAL);
	c.ncpus = 1;
	c.sci_gsi = 0x10000;
	assert_int_equal(acpi_loader_build(&c, &b), -EINVAL);
	c.sci_gsi = 9;
	c.mcfg_base = 0xfff00001ULL;
	assert_int_equal(acpi_loader_build(&c, &b), -EINVAL);
	c.mcfg_base = 0;
	c.lapic_addr = 1ULL << 32;
	assert_int_equal(acpi_loader_build(&c, &b), -EINVAL);
	/* Freeing a zeroed struct, and twice, is fine. */
	acpi_loader_blobs_free(&b);
	acpi_loader_blobs_free(&b);
}

static void test_deterministic(void **state)
{
	struct acpi_config c = default_cfg(8, LAYOUT_PCI_ECAM);
	struct acpi_loader_blobs a, b;

	(void)state;
	build(&c, &a);
	build(&c, &b);
	assert_int_equal(a.tables_len, b.tables_len);
	assert_memory_equal(a.tables, b.tables, a.tables_len);
	assert_memory_equal(a.rsdp, b.rsdp, a.rsdp_len);
	assert_int_equal(a.commands_len, b.commands_len);
	assert_memory_equal(a.commands, b.commands, a.commands_len);
	acpi_loader_blobs_free(&a);
	acpi_loader_blobs_free(&b);
}

/* The encoder's bytes, field by field (struct BiosLinkerLoaderEntry). */
static void test_encoding(void **state)
{
	uint8_t buf[3 * CMD_LEN];
	struct acpi_loader l;
	uint8_t *c;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "a/b", 100, 32, ACPI_LOADER_ZONE_FSEG), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "a/b", 0x1234, 4, "a/b"), -EINVAL);
	assert_int_equal(l.len, CMD_LEN); /* nothing written on error */
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "a/b", 0x2000, 32, ACPI_LOADER_ZONE_FSEG), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "a/b", 0x1234, 8, "a/b"), 0);
	assert_int_equal(acpi_loader_add_checksum(&l, "a/b", 0x15, 0x10, 0x20), 0);
	assert_int_equal(l.len, 3 * CMD_LEN);

	c = buf;
	assert_int_equal(get32(c), 1);
	assert_memory_equal(c + 4, "a/b", 4);
	assert_true(all_zero(c + 8, 52));
	assert_int_equal(get32(c + 60), 32);
	assert_int_equal(c[64], 2);
	assert_true(all_zero(c + 65, CMD_LEN - 65));

	c = buf + CMD_LEN;
	assert_int_equal(get32(c), 2);
	assert_memory_equal(c + 4, "a/b", 4);
	assert_true(all_zero(c + 8, 52));
	assert_memory_equal(c + 60, "a/b", 4);
	assert_true(all_zero(c + 64, 52));
	assert_int_equal(get32(c + 116), 0x1234);
	assert_int_equal(c[120], 8);
	assert_true(all_zero(c + 121, CMD_LEN - 121));

	c = buf + 2 * CMD_LEN;
	assert_int_equal(get32(c), 3);
	assert_memory_equal(c + 4, "a/b", 4);
	assert_int_equal(get32(c + 60), 0x15);
	assert_int_equal(get32(c + 64), 0x10);
	assert_int_equal(get32(c + 68), 0x20);
	assert_true(all_zero(c + 72, CMD_LEN - 72));
}

static void test_encoder_errors(void **state)
{
	uint8_t buf[16 * CMD_LEN];
	char name[NAME_LEN + 1];
	struct acpi_loader l;

	(void)state;
	/* Names: 1..55 characters. */
	memset(name, 'n', sizeof(name));
	name[NAME_LEN] = 0;
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, name, 1, 1, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	name[NAME_LEN - 1] = 0;
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, name, 1, 1, ACPI_LOADER_ZONE_HIGH), 0);
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "", 1, 1, ACPI_LOADER_ZONE_HIGH), -EINVAL);

	/* Alignment, zone, size. */
	static const uint32_t bad_align[] = {0, 3, 6, 0x80000001u};
	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		acpi_loader_init(&l, buf, sizeof(buf));
		assert_int_equal(
		    acpi_loader_allocate(&l, "f", 1, bad_align[i], ACPI_LOADER_ZONE_HIGH), -EINVAL);
	}
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1u << 31, ACPI_LOADER_ZONE_HIGH), 0);
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1, (enum acpi_loader_zone)0), -EINVAL);
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1, (enum acpi_loader_zone)3), -EINVAL);
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 0, 1, ACPI_LOADER_ZONE_HIGH), -EINVAL);

	/* Each file once; at most ACPI_LOADER_FILES_MAX. */
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1, ACPI_LOADER_ZONE_HIGH), 0);
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1, ACPI_LOADER_ZONE_FSEG), -EINVAL);
	acpi_loader_init(&l, buf, sizeof(buf));
	for (int i = 0; i < ACPI_LOADER_FILES_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(acpi_loader_allocate(&l, name, 1, 1, ACPI_LOADER_ZONE_HIGH), 0);
	}
	assert_int_equal(acpi_loader_allocate(&l, "one-more", 1, 1, ACPI_LOADER_ZONE_HIGH),
			 -ENOSPC);

	/* A full buffer, and errors are sticky. */
	acpi_loader_init(&l, buf, CMD_LEN - 1);
	assert_int_equal(acpi_loader_allocate(&l, "f", 1, 1, ACPI_LOADER_ZONE_HIGH), -ENOSPC);
	assert_int_equal(l.len, 0);
	acpi_loader_init(&l, buf, CMD_LEN);
	assert_int_equal(acpi_loader_allocate(&l, "f", 8, 1, ACPI_LOADER_ZONE_HIGH), 0);
	assert_int_equal(acpi_loader_add_checksum(&l, "f", 0, 0, 8), -ENOSPC);
	assert_int_equal(acpi_loader_allocate(&l, "g", 8, 1, ACPI_LOADER_ZONE_HIGH), -ENOSPC);
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "f", 0, 1, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	assert_int_equal(acpi_loader_allocate(&l, "g", 8, 1, ACPI_LOADER_ZONE_HIGH), -EINVAL);
	assert_int_equal(l.len, 0);

	/* Pointers: known files, sizes 1/2/4/8, inside the destination. */
	acpi_loader_init(&l, buf, sizeof(buf));
	assert_int_equal(acpi_loader_allocate(&l, "d", 16, 1, ACPI_LOADER_ZONE_HIGH), 0);
	assert_int_equal(acpi_loader_allocate(&l, "s", 4, 1, ACPI_LOADER_ZONE_HIGH), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "d", 8, 8, "s"), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "d", 15, 1, "s"), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "d", 0, 2, "s"), 0);
	assert_int_equal(acpi_loader_add_pointer(&l, "s", 0, 4, "d"), 0);
	static const struct {
		const char *dest, *src;
		uint32_t off;
		uint8_t size;
	} bad_ptr[] = {
	    {"x", "s", 0, 4},		{"d", "x", 0, 4},  {"d", "s", 0, 3},
	    {"d", "s", 0, 0},		{"d", "s", 0, 16}, {"d", "s", 9, 8},
	    {"d", "s", 16, 1},		{"s", "d", 1, 4},  {"d", "s", 0xffffffffu, 8},
	    {"d", "s", 0xfffffff9u, 8},
	};
	for (size_t i = 0; i < sizeof(bad_ptr) / sizeof(bad_ptr[0]); i++) {
		struct acpi_loader k = l;

		assert_int_equal(acpi_loader_add_pointer(&k, bad_ptr[i].dest, bad_ptr[i].off,
							 bad_ptr[i].size, bad_ptr[i].src),
				 -EINVAL);
		assert_int_equal(k.len, l.len);
	}

	/* Checksums: inside the file, the checksum byte inside its range. */
	assert_int_equal(acpi_loader_add_checksum(&l, "d", 9, 0, 16), 0);
	assert_int_equal(acpi_loader_add_checksum(&l, "d", 15, 15, 1), 0);
	static const struct {
		const char *file;
		uint32_t at, start, len;
	} bad_ck[] = {
	    {"x", 0, 0, 1},	      {"d", 16, 0, 16},		{"d", 0, 0, 17},
	    {"d", 0, 1, 15},	      {"d", 4, 0, 4},		{"d", 0, 0, 0},
	    {"d", 1, 0xffffffffu, 2}, {"d", 5, 4, 0xfffffffdu}, {"d", 0, 17, 0},
	};
	for (size_t i = 0; i < sizeof(bad_ck) / sizeof(bad_ck[0]); i++) {
		struct acpi_loader k = l;

		assert_int_equal(acpi_loader_add_checksum(&k, bad_ck[i].file, bad_ck[i].at,
							  bad_ck[i].start, bad_ck[i].len),
				 -EINVAL);
		assert_int_equal(k.len, l.len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_linked),
	    cmocka_unit_test(test_same_as_direct),
	    cmocka_unit_test(test_commands),
	    cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_broken_commands_caught),
	    cmocka_unit_test(test_build_einval),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_encoding),
	    cmocka_unit_test(test_encoder_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
