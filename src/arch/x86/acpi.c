/* SPDX-License-Identifier: MIT */
/*
 * Guest ACPI tables; see acpi.h. Section numbers are ACPI 6.5 unless noted.
 *
 * Layout in the buffer (each table 16-byte aligned in guest physical space,
 * the FACS 64-byte aligned as 5.2.10 requires):
 *   RSDP, RSDT, XSDT, FADT, FACS, MADT, [MCFG], DSDT
 * The DSDT comes last because its size depends on ncpus and it is emitted
 * straight into the remaining space. For firmware (acpi_loader.c) the RSDP
 * is a blob of its own and the rest, from the RSDT on, another one, built by
 * the same acpi_tables_build; acpi_internal.h says how pointers and checksums
 * are recorded for the firmware to fix up.
 *
 * Checked outside the unit tests (they must not need acpica-tools) by writing
 * each table of an acpi_build result to a file and running acpica-tools
 * 20200925: `iasl -d` decodes every table without errors or warnings and the
 * DSDT to the ASL sketched above acpi_dsdt_build; recompiling that ASL with
 * `iasl -oa` (no optimizations) gives byte-identical AML; `acpiexec` loads
 * the tables, evaluates \_S5 and each _CRS, and initializes GPE0 on the SCI.
 */
#include "arch/x86/acpi.h"

#include "arch/x86/acpi_internal.h"
#include "arch/x86/aml.h"
#include "arch/x86/fwtable.h"

#include <errno.h>
#include <string.h>

#define ACPI_HDR_LEN	  36
#define ACPI_OEM_ID	  "KVMM  "
#define ACPI_OEM_TABLE_ID "KVMMACPI"
#define ACPI_OEM_REV	  1
#define ACPI_CREATOR_ID	  "KVMM"
#define ACPI_CREATOR_REV  1

/* Revisions of ACPI 6.5 (edk2's Acpi65.h agrees); MCFG per PCI FW spec 3.3. */
#define ACPI_RSDP_REV	    2
#define ACPI_RSDT_REV	    1
#define ACPI_XSDT_REV	    1
#define ACPI_FADT_REV	    6
#define ACPI_FADT_MINOR_REV 5
#define ACPI_FACS_VERSION   2
#define ACPI_MADT_REV	    6
#define ACPI_DSDT_REV	    2 /* 2: integers in the AML are 64-bit */
#define ACPI_MCFG_REV	    1

#define ACPI_FADT_LEN 276
#define ACPI_FACS_LEN 64
#define ACPI_MCFG_LEN (ACPI_HDR_LEN + 8 + 16)

/* FADT Fixed Feature Flags, Table 5.10. */
#define FADT_F_WBINVD	     (1u << 0)
#define FADT_F_PROC_C1	     (1u << 2)
#define FADT_F_SLP_BUTTON    (1u << 5) /* set = no fixed-feature sleep button */
#define FADT_F_TMR_VAL_EXT   (1u << 8)
#define FADT_F_RESET_REG_SUP (1u << 10)

/* IA-PC Boot Architecture Flags, Table 5.11. */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042		 (1u << 1)

/* Generic Address Structure, 5.2.3.2, Table 5.1. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_8  1
#define GAS_ACCESS_16 2
#define GAS_ACCESS_32 3

/* MADT structure types and flags, 5.2.12. */
#define MADT_PCAT_COMPAT    (1u << 0)
#define MADT_LAPIC	    0
#define MADT_IOAPIC	    1
#define MADT_ISO	    2
#define MADT_LAPIC_NMI	    4
#define MADT_X2APIC	    9
#define MADT_X2APIC_NMI	    10
#define MADT_LAPIC_ENABLED  (1u << 0)
#define MADT_XAPIC_ID_LIMIT 255 /* IDs 255 and up need x2APIC structures, 5.2.12.12 */

/* MPS INTI flags, Table 5.26: polarity bits 1:0, trigger mode bits 3:2. */
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL	     0xc

/* ECAM: 32 devices x 8 functions x 4 KiB per bus, buses 0..cfg->mcfg_end_bus. */
#define ACPI_ECAM_BUS_LEN (1u << 20)

/* System Description Table Header, 5.2.6, Table 5.4. */
static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	fwtable_put32(t + 4, len);
	t[8] = rev;
	t[9] = 0; /* checksum, set by acpi_seal */
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	fwtable_put32(t + 24, ACPI_OEM_REV);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	fwtable_put32(t + 32, ACPI_CREATOR_REV);
}

void acpi_blob_init(struct acpi_blob *b, uint8_t *buf, size_t len, uint64_t base)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->len = len;
	b->base = base;
}

/* Sets the checksum byte at once every byte of [start, start + len) is final. */
static void acpi_blob_checksum(struct acpi_blob *b, size_t at, size_t start, size_t len)
{
	b->buf[at] = 0;
	b->buf[at] = fwtable_checksum(b->buf + start, len);
	if (b->ncsum == ACPI_FIXUPS_MAX) {
		b->err = -EOVERFLOW;
		return;
	}
	b->csum[b->ncsum++] =
	    (struct acpi_fixup_csum){(uint32_t)at, (uint32_t)start, (uint32_t)len};
}

/* Sets the header checksum of the table at off (5.2.6). */
static void acpi_seal(struct acpi_blob *b, size_t off, uint32_t len)
{
	acpi_blob_checksum(b, off + 9, off, len);
}

/* A 4- or 8-byte pointer field at offset at holding guest address addr. */
static void acpi_blob_ptr(struct acpi_blob *b, size_t at, uint8_t size, uint64_t addr)
{
	if (size == 4)
		fwtable_put32(b->buf + at, (uint32_t)addr);
	else
		fwtable_put64(b->buf + at, addr);
	if (b->nptr == ACPI_FIXUPS_MAX) {
		b->err = -EOVERFLOW;
		return;
	}
	b->ptr[b->nptr++] = (struct acpi_fixup_ptr){(uint32_t)at, size};
}

static void acpi_gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
	p[0] = space;
	p[1] = bits;
	p[2] = 0; /* bit offset */
	p[3] = access;
	fwtable_put64(p + 4, addr);
}

uint8_t acpi_ioapic_id(int ncpus)
{
	return ncpus > 0 && ncpus < MADT_XAPIC_ID_LIMIT ? (uint8_t)ncpus : 0;
}

int acpi_blob_place(struct acpi_blob *b, size_t *cur, size_t size, size_t align, size_t *off)
{
	size_t pad = (size_t)((align - (b->base + *cur) % align) % align);

	if (*cur + pad > b->len || size > b->len - *cur - pad)
		return -ENOSPC;
	*off = *cur + pad;
	*cur = *off + size;
	return 0;
}

static size_t acpi_madt_len(int ncpus)
{
	int nx = ncpus < MADT_XAPIC_ID_LIMIT ? ncpus : MADT_XAPIC_ID_LIMIT;
	int n2 = ncpus - nx;

	return ACPI_HDR_LEN + 8 + (size_t)nx * 8 + (size_t)n2 * 16 + 12 + 2 * 10 + 6 +
	       (n2 ? 12 : 0);
}

/*
 * MADT, 5.2.12: one Processor Local APIC structure per CPU (5.2.12.2), or a
 * Processor Local x2APIC structure (5.2.12.12) for APIC IDs 255 and up, which
 * the spec reserves for x2APIC; the I/O APIC (5.2.12.3); ISA overrides
 * (5.2.12.5) for the PIT on GSI 2 and the level-triggered, active-high SCI;
 * LINT1 as NMI on every CPU (5.2.12.7, 5.2.12.13).
 */
static void acpi_madt_build(struct acpi_blob *b, size_t off, const struct acpi_config *cfg)
{
	size_t len = acpi_madt_len(cfg->ncpus);
	uint8_t *t = b->buf + off;
	uint8_t *p = t + ACPI_HDR_LEN;
	int has_x2apic = cfg->ncpus > MADT_XAPIC_ID_LIMIT;

	acpi_header(t, "APIC", (uint32_t)len, ACPI_MADT_REV);
	fwtable_put32(p, (uint32_t)cfg->lapic_addr);
	fwtable_put32(p + 4, MADT_PCAT_COMPAT); /* the 8259s exist and must be masked */
	p += 8;
	for (int i = 0; i < cfg->ncpus; i++) {
		if (i < MADT_XAPIC_ID_LIMIT) {
			p[0] = MADT_LAPIC;
			p[1] = 8;
			p[2] = (uint8_t)i; /* ACPI processor UID */
			p[3] = (uint8_t)i; /* APIC ID */
			fwtable_put32(p + 4, MADT_LAPIC_ENABLED);
			p += 8;
		} else {
			p[0] = MADT_X2APIC;
			p[1] = 16;
			fwtable_put16(p + 2, 0);
			fwtable_put32(p + 4, (uint32_t)i); /* x2APIC ID */
			fwtable_put32(p + 8, MADT_LAPIC_ENABLED);
			fwtable_put32(p + 12, (uint32_t)i); /* UID */
			p += 16;
		}
	}

	p[0] = MADT_IOAPIC;
	p[1] = 12;
	p[2] = acpi_ioapic_id(cfg->ncpus);
	p[3] = 0;
	fwtable_put32(p + 4, (uint32_t)cfg->ioapic_addr);
	fwtable_put32(p + 8, 0); /* GSI base */
	p += 12;

	/* The PIT drives ISA IRQ0, wired to I/O APIC pin 2 as on every PC. */
	p[0] = MADT_ISO;
	p[1] = 10;
	p[2] = 0; /* ISA */
	p[3] = 0;
	fwtable_put32(p + 4, 2);
	fwtable_put16(p + 8, 0); /* conforms to ISA: edge, active high */
	p += 10;

	/* The SCI is level triggered; our PM device drives it active high. */
	p[0] = MADT_ISO;
	p[1] = 10;
	p[2] = 0;
	p[3] = 9;
	fwtable_put32(p + 4, cfg->sci_gsi);
	fwtable_put16(p + 8, MPS_INTI_LEVEL | MPS_INTI_ACTIVE_HIGH);
	p += 10;

	p[0] = MADT_LAPIC_NMI;
	p[1] = 6;
	p[2] = 0xff; /* all processors */
	fwtable_put16(p + 3, 0);
	p[5] = 1; /* LINT1 */
	p += 6;

	if (has_x2apic) {
		p[0] = MADT_X2APIC_NMI;
		p[1] = 12;
		fwtable_put16(p + 2, 0);
		fwtable_put32(p + 4, 0xffffffff); /* all processors */
		p[8] = 1;			  /* LINT1 */
		p[9] = p[10] = p[11] = 0;
	}
	acpi_seal(b, off, (uint32_t)len);
}

/* The scratch buffer of a resource template is small; 64 bytes fit ours. */
#define ACPI_CRS_MAX 64

static void acpi_dsdt_crs(struct aml *a, const struct aml *res)
{
	if (res->err) {
		if (!a->err)
			a->err = res->err;
		return;
	}
	aml_emit_name(a, "_CRS");
	aml_emit_buffer(a, res->buf, res->len);
}

struct acpi_isa_dev {
	const char *name;
	const char *hid; /* EISA ID */
	int uid;	 /* -1: no _UID */
	uint16_t io[2];	 /* port bases; 0 = unused */
	uint8_t io_len[2];
	int irq;
};

/* The PC's fixed ISA devices, so the OS finds them without probing (6.1, 6.2.2). */
static const struct acpi_isa_dev acpi_isa_devs[] = {
    {"COM1", "PNP0501", 1, {0x3f8, 0}, {8, 0}, 4},
    {"RTC", "PNP0B00", -1, {0x70, 0}, {2, 0}, 8},
    /* Keyboard only: with no PS/2 mouse node Linux skips probing the AUX port. */
    {"KBD", "PNP0303", -1, {0x60, 0x64}, {1, 1}, 1},
};

static void acpi_dsdt_isa_dev(struct aml *a, const struct acpi_isa_dev *d)
{
	uint8_t tmpl[ACPI_CRS_MAX];
	struct aml res;
	size_t dev;

	aml_init(&res, tmpl, sizeof(tmpl));
	for (int i = 0; i < 2; i++)
		if (d->io[i])
			aml_res_io(&res, d->io[i], d->io_len[i]);
	aml_res_irq(&res, (uint16_t)(1u << d->irq));
	aml_res_end(&res);

	dev = aml_device_begin(a, d->name);
	aml_emit_name(a, "_HID");
	aml_emit_eisaid(a, d->hid);
	if (d->uid >= 0) {
		aml_emit_name(a, "_UID");
		aml_emit_integer(a, (uint64_t)d->uid);
	}
	acpi_dsdt_crs(a, &res);
	aml_end(a, dev);
}

/*
 * The DSDT body (the header is written by the caller), as ASL:
 *
 *   Name (\_S5, Package (4) { s5_typ, s5_typ, 0, 0 })     // 7.4.2.6
 *   Scope (\_SB) {
 *     Device (C000) { Name (_HID, "ACPI0007") Name (_UID, 0) }  // 8.4, one per CPU
 *     ...
 *     Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, 1)
 *       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} }) }
 *     Device (RTC_) { PNP0B00: IO 0x70/2, IRQ 8 }
 *     Device (KBD_) { PNP0303: IO 0x60/1, IO 0x64/1, IRQ 1 }
 *     Device (ECAM) { PNP0C02: Memory32Fixed (ReadWrite, mcfg_base, buses x 1 MiB) }  // MCFG
 *   }
 *
 * The ECAM window is claimed by a motherboard-resources device because Linux
 * ignores an MCFG region that neither e820 nor such a device reserves (PCI
 * Firmware Specification 3.3, 4.1.2, note on reserving the range).
 * The power button is the FADT's fixed-feature one (4.8.2.2.1), so no
 * PNP0C0C device.
 */
static void acpi_dsdt_build(struct aml *a, const struct acpi_config *cfg)
{
	size_t pkg, sb;

	aml_emit_name(a, "\\_S5");
	pkg = aml_package_begin(a, 4);
	aml_emit_integer(a, cfg->s5_typ); /* PM1a_CNT.SLP_TYP */
	aml_emit_integer(a, cfg->s5_typ); /* PM1b_CNT.SLP_TYP (no PM1b block) */
	aml_emit_integer(a, 0);		  /* reserved */
	aml_emit_integer(a, 0);
	aml_end(a, pkg);

	sb = aml_scope_begin(a, "\\_SB");
	for (int i = 0; i < cfg->ncpus; i++) {
		static const char hex[] = "0123456789ABCDEF";
		const char name[5] = {'C', hex[(i >> 8) & 0xf], hex[(i >> 4) & 0xf], hex[i & 0xf]};
		size_t dev;

		/* Processor devices (8.4) carry the _UIDs the MADT entries refer to. */
		dev = aml_device_begin(a, name);
		aml_emit_name(a, "_HID");
		aml_emit_string(a, "ACPI0007");
		aml_emit_name(a, "_UID");
		aml_emit_integer(a, (uint64_t)i);
		aml_end(a, dev);
	}
	for (size_t i = 0; i < sizeof(acpi_isa_devs) / sizeof(acpi_isa_devs[0]); i++)
		acpi_dsdt_isa_dev(a, &acpi_isa_devs[i]);
	if (cfg->mcfg_base) {
		uint8_t tmpl[ACPI_CRS_MAX];
		struct aml res;
		size_t dev;

		aml_init(&res, tmpl, sizeof(tmpl));
		aml_res_mem32_fixed(&res, (uint32_t)cfg->mcfg_base,
				    (cfg->mcfg_end_bus + 1u) * ACPI_ECAM_BUS_LEN);
		aml_res_end(&res);
		dev = aml_device_begin(a, "ECAM");
		aml_emit_name(a, "_HID");
		aml_emit_eisaid(a, "PNP0C02");
		aml_emit_name(a, "_UID");
		aml_emit_integer(a, 0);
		acpi_dsdt_crs(a, &res);
		aml_end(a, dev);
	}
	aml_end(a, sb);
}

/*
 * FADT revision 6, 5.2.9, Table 5.9. Not hardware-reduced: the PM1a event and
 * control blocks, PM timer and GPE0 block are legacy I/O ports served by our
 * PM device, given both as 32-bit port fields and as X_ GAS. SMI_CMD 0 says
 * the machine is always in ACPI mode, so ACPI_ENABLE/ACPI_DISABLE stay 0.
 */
static void acpi_fadt_build(struct acpi_blob *b, size_t off, const struct acpi_config *cfg,
			    uint64_t facs_gpa, uint64_t dsdt_gpa)
{
	uint8_t *t = b->buf + off;

	acpi_header(t, "FACP", ACPI_FADT_LEN, ACPI_FADT_REV);
	/* 32-bit FIRMWARE_CTRL is set, so X_FIRMWARE_CTRL must stay 0 (5.2.9). */
	acpi_blob_ptr(b, off + 36, 4, facs_gpa);
	acpi_blob_ptr(b, off + 40, 4, dsdt_gpa);
	t[45] = 0; /* Preferred_PM_Profile: unspecified */
	fwtable_put16(t + 46, (uint16_t)cfg->sci_gsi);
	fwtable_put32(t + 48, 0); /* SMI_CMD */
	fwtable_put32(t + 56, cfg->pm1a_evt_port);
	fwtable_put32(t + 64, cfg->pm1a_cnt_port);
	fwtable_put32(t + 76, cfg->pm_tmr_port);
	fwtable_put32(t + 80, cfg->gpe0_port);
	t[88] = 4; /* PM1_EVT_LEN */
	t[89] = 2; /* PM1_CNT_LEN */
	t[91] = 4; /* PM_TMR_LEN */
	t[92] = 4; /* GPE0_BLK_LEN */
	/* Latencies above 100/1000 us say C2/C3 are not supported. */
	fwtable_put16(t + 96, 0x0fff);
	fwtable_put16(t + 98, 0x0fff);
	t[108] = 0x32; /* CENTURY: the RTC CMOS index of the century byte */
	fwtable_put16(t + 109, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042);
	fwtable_put32(t + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
				   FADT_F_TMR_VAL_EXT | FADT_F_RESET_REG_SUP);
	acpi_gas(t + 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_8, cfg->reset_port);
	t[128] = cfg->reset_value;
	t[131] = ACPI_FADT_MINOR_REV;
	acpi_blob_ptr(b, off + 140, 8, dsdt_gpa); /* X_DSDT */
	acpi_gas(t + 148, GAS_SYSTEM_IO, 32, GAS_ACCESS_16, cfg->pm1a_evt_port);
	acpi_gas(t + 172, GAS_SYSTEM_IO, 16, GAS_ACCESS_16, cfg->pm1a_cnt_port);
	acpi_gas(t + 208, GAS_SYSTEM_IO, 32, GAS_ACCESS_32, cfg->pm_tmr_port);
	acpi_gas(t + 220, GAS_SYSTEM_IO, 32, GAS_ACCESS_8, cfg->gpe0_port);
	acpi_seal(b, off, ACPI_FADT_LEN);
}

/* FACS, 5.2.10, Table 5.14: no S4BIOS, no 64-bit waking vector; no checksum. */
static void acpi_facs_build(uint8_t *t)
{
	memcpy(t, "FACS", 4);
	fwtable_put32(t + 4, ACPI_FACS_LEN);
	t[32] = ACPI_FACS_VERSION;
}

/* MCFG, PCI Firmware Specification 3.3 section 4.1.2: one ECAM allocation. */
static void acpi_mcfg_build(struct acpi_blob *b, size_t off, uint64_t base, uint8_t end_bus)
{
	uint8_t *t = b->buf + off;
	uint8_t *p = t + ACPI_HDR_LEN + 8; /* 8 reserved bytes */

	acpi_header(t, "MCFG", ACPI_MCFG_LEN, ACPI_MCFG_REV);
	fwtable_put64(p, base);
	fwtable_put16(p + 8, 0); /* PCI segment group */
	p[10] = 0;		 /* start bus */
	p[11] = end_bus;
	acpi_seal(b, off, ACPI_MCFG_LEN);
}

int acpi_config_check(const struct acpi_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > ACPI_MAX_CPUS)
		return -EINVAL;
	if (cfg->sci_gsi > 0xffff || cfg->ioapic_addr > 0xffffffffULL ||
	    cfg->lapic_addr > 0xffffffffULL)
		return -EINVAL;
	/* The ECAM window is claimed with a 32-bit descriptor in the DSDT. */
	if (cfg->mcfg_base &&
	    cfg->mcfg_base + (cfg->mcfg_end_bus + 1ULL) * ACPI_ECAM_BUS_LEN > (1ULL << 32))
		return -EINVAL;
	return 0;
}

int acpi_tables_build(struct acpi_blob *b, size_t *cur, const struct acpi_config *cfg,
		      struct acpi_tables *tb)
{
	size_t rsdt, xsdt, fadt, facs, madt, mcfg = 0, dsdt, dsdt_len, end;
	size_t madt_len = acpi_madt_len(cfg->ncpus), rsdt_len, xsdt_len;
	size_t start = *cur;
	uint8_t *buf = b->buf;
	uint64_t base = b->base;
	int ntables, err;
	struct aml a;

	ntables = cfg->mcfg_base ? 3 : 2; /* FADT, MADT[, MCFG]: the DSDT hangs off the FADT */
	rsdt_len = ACPI_HDR_LEN + 4 * (size_t)ntables;
	xsdt_len = ACPI_HDR_LEN + 8 * (size_t)ntables;

	err = acpi_blob_place(b, cur, rsdt_len, 16, &rsdt);
	if (!err)
		err = acpi_blob_place(b, cur, xsdt_len, 16, &xsdt);
	if (!err)
		err = acpi_blob_place(b, cur, ACPI_FADT_LEN, 16, &fadt);
	if (!err)
		err = acpi_blob_place(b, cur, ACPI_FACS_LEN, 64, &facs);
	if (!err)
		err = acpi_blob_place(b, cur, madt_len, 16, &madt);
	if (!err && cfg->mcfg_base)
		err = acpi_blob_place(b, cur, ACPI_MCFG_LEN, 16, &mcfg);
	if (!err)
		err = acpi_blob_place(b, cur, ACPI_HDR_LEN, 16, &dsdt);
	if (err)
		return err;

	memset(buf + start, 0, *cur - start); /* the padding between tables */
	aml_init(&a, buf + *cur, b->len - *cur);
	acpi_dsdt_build(&a, cfg);
	if (a.err)
		return a.err;
	dsdt_len = ACPI_HDR_LEN + a.len;
	end = dsdt + dsdt_len;
	/* RSDT entries and the FADT's FIRMWARE_CTRL/DSDT are 32-bit pointers. */
	if (base + end > (1ULL << 32))
		return -EINVAL;

	acpi_header(buf + dsdt, "DSDT", (uint32_t)dsdt_len, ACPI_DSDT_REV);
	acpi_seal(b, dsdt, (uint32_t)dsdt_len);
	acpi_facs_build(buf + facs);
	acpi_fadt_build(b, fadt, cfg, base + facs, base + dsdt);
	acpi_madt_build(b, madt, cfg);
	if (cfg->mcfg_base)
		acpi_mcfg_build(b, mcfg, cfg->mcfg_base, cfg->mcfg_end_bus);

	/* RSDT (5.2.7) for ACPI 1.0 guests and XSDT (5.2.8) list the same tables. */
	acpi_header(buf + rsdt, "RSDT", (uint32_t)rsdt_len, ACPI_RSDT_REV);
	acpi_header(buf + xsdt, "XSDT", (uint32_t)xsdt_len, ACPI_XSDT_REV);
	{
		size_t entries[3] = {fadt, madt, mcfg};

		for (int i = 0; i < ntables; i++) {
			acpi_blob_ptr(b, rsdt + ACPI_HDR_LEN + 4 * (size_t)i, 4, base + entries[i]);
			acpi_blob_ptr(b, xsdt + ACPI_HDR_LEN + 8 * (size_t)i, 8, base + entries[i]);
		}
	}
	acpi_seal(b, rsdt, (uint32_t)rsdt_len);
	acpi_seal(b, xsdt, (uint32_t)xsdt_len);

	*cur = end;
	tb->rsdt = rsdt;
	tb->xsdt = xsdt;
	tb->end = end;
	return b->err;
}

/* RSDP, 5.2.5.3, Table 5.3: the first checksum covers the ACPI 1.0 part. */
void acpi_rsdp_build(struct acpi_blob *b, size_t at, uint64_t rsdt, uint64_t xsdt)
{
	uint8_t *p = b->buf + at;

	memset(p, 0, ACPI_RSDP_LEN);
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, ACPI_OEM_ID, 6);
	p[15] = ACPI_RSDP_REV;
	acpi_blob_ptr(b, at + 16, 4, rsdt);
	fwtable_put32(p + 20, ACPI_RSDP_LEN);
	acpi_blob_ptr(b, at + 24, 8, xsdt);
	acpi_blob_checksum(b, at + 8, at, 20);
	acpi_blob_checksum(b, at + 32, at, ACPI_RSDP_LEN);
}

int acpi_build(uint8_t *buf, size_t len, uint64_t gpa_base, const struct acpi_config *cfg,
	       size_t *used, uint64_t *rsdp_gpa)
{
	struct acpi_blob b;
	struct acpi_tables t;
	size_t cur = 0, rsdp;
	int err;

	err = acpi_config_check(cfg);
	if (err)
		return err;
	if (gpa_base >= (1ULL << 32))
		return -EINVAL;
	acpi_blob_init(&b, buf, len, gpa_base);
	/* RSDP on a 16-byte boundary so a BIOS-area scan (5.2.5.1) finds it. */
	err = acpi_blob_place(&b, &cur, ACPI_RSDP_LEN, 16, &rsdp);
	if (err)
		return err;
	memset(buf, 0, cur); /* with the padding below an unaligned RSDP */
	err = acpi_tables_build(&b, &cur, cfg, &t);
	if (err)
		return err;
	acpi_rsdp_build(&b, rsdp, gpa_base + t.rsdt, gpa_base + t.xsdt);
	if (b.err)
		return b.err;

	*used = t.end;
	*rsdp_gpa = gpa_base + rsdp;
	return 0;
}
