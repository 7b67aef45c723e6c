/* SPDX-License-Identifier: MIT */
/* AML byte emitter; see aml.h. ACPI 6.5 chapter 20 and section 6.4. */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes, ACPI 6.5 section 20.3 ("AML Byte Stream Byte Values"). */
#define AML_ZERO_OP	  0x00
#define AML_ONE_OP	  0x01
#define AML_NAME_OP	  0x08
#define AML_BYTE_PREFIX	  0x0a
#define AML_WORD_PREFIX	  0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP	  0x10
#define AML_BUFFER_OP	  0x11
#define AML_PACKAGE_OP	  0x12
#define AML_DUAL_NAME	  0x2e
#define AML_MULTI_NAME	  0x2f
#define AML_EXT_OP	  0x5b
#define AML_DEVICE_OP	  0x82 /* after AML_EXT_OP */
#define AML_ROOT_CHAR	  0x5c

/*
 * A PkgLength is reserved as one byte and widened in aml_end once the length
 * is known, moving the contents up. Growing instead of shrinking means the
 * output never needs more room than its final size, so a buffer that fits the
 * result exactly is enough.
 */
#define AML_PKGLEN_MAX 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->err = 0;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

void aml_emit_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->cap - a->len) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_emit_byte(struct aml *a, uint8_t b)
{
	aml_emit_bytes(a, &b, 1);
}

static void aml_emit_le(struct aml *a, uint64_t v, int n)
{
	uint8_t b[8];

	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_emit_bytes(a, b, (size_t)n);
}

static int aml_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int aml_name_char(char c)
{
	return aml_lead_char(c) || (c >= '0' && c <= '9');
}

/* 20.2.2: NameSeg is a lead character and three name characters. */
void aml_emit_namestring(struct aml *a, const char *path)
{
	char segs[255][4];
	int nseg = 0;
	const char *p = path;

	if (a->err)
		return;
	if (*p == '\\') {
		aml_emit_byte(a, AML_ROOT_CHAR);
		p++;
	}
	while (*p) {
		size_t n = strcspn(p, ".");

		if (n == 0 || n > 4 || nseg == 255 || !aml_lead_char(p[0])) {
			aml_fail(a, -EINVAL);
			return;
		}
		for (size_t i = 0; i < 4; i++) {
			char c = i < n ? p[i] : '_';

			if (!aml_name_char(c)) {
				aml_fail(a, -EINVAL);
				return;
			}
			segs[nseg][i] = c;
		}
		nseg++;
		p += n;
		if (*p == '.') {
			p++;
			if (!*p) { /* trailing dot */
				aml_fail(a, -EINVAL);
				return;
			}
		}
	}
	if (nseg == 0) {
		aml_emit_byte(a, 0x00); /* NullName */
		return;
	}
	if (nseg == 2) {
		aml_emit_byte(a, AML_DUAL_NAME);
	} else if (nseg > 2) {
		aml_emit_byte(a, AML_MULTI_NAME);
		aml_emit_byte(a, (uint8_t)nseg);
	}
	aml_emit_bytes(a, segs, (size_t)nseg * 4);
}

/* 20.2.3: ComputationalData. */
void aml_emit_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_emit_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_emit_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_emit_byte(a, AML_BYTE_PREFIX);
		aml_emit_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_emit_byte(a, AML_WORD_PREFIX);
		aml_emit_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_emit_byte(a, AML_DWORD_PREFIX);
		aml_emit_le(a, v, 4);
	} else {
		aml_emit_byte(a, AML_QWORD_PREFIX);
		aml_emit_le(a, v, 8);
	}
}

void aml_emit_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++) {
		/* AsciiCharList is 0x01-0x7f. */
		if ((unsigned char)*p > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_emit_byte(a, AML_STRING_PREFIX);
	aml_emit_bytes(a, s, strlen(s) + 1);
}

static int aml_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The compressed EISA ID (ACPI 6.5 section 6.1.5, _HID): three letters of five
 * bits each ('A' = 1) and four hex digits, stored so the bytes in memory read
 * letters-high, letters-low, digits 1-2, digits 3-4.
 */
void aml_emit_eisaid(struct aml *a, const char *id)
{
	uint8_t b[4];
	int c[3], d[4];

	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		c[i] = id[i] - 0x40;
	}
	for (int i = 0; i < 4; i++) {
		d[i] = aml_hex_digit(id[3 + i]);
		if (d[i] < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	b[0] = (uint8_t)((c[0] << 2) | (c[1] >> 3));
	b[1] = (uint8_t)(((c[1] & 7) << 5) | c[2]);
	b[2] = (uint8_t)((d[0] << 4) | d[1]);
	b[3] = (uint8_t)((d[2] << 4) | d[3]);
	aml_emit_byte(a, AML_DWORD_PREFIX);
	aml_emit_bytes(a, b, sizeof(b));
}

void aml_emit_name(struct aml *a, const char *path)
{
	aml_emit_byte(a, AML_NAME_OP);
	aml_emit_namestring(a, path);
}

static size_t aml_pkglen_reserve(struct aml *a)
{
	size_t mark = a->len;

	aml_emit_byte(a, 0);
	return mark;
}

/*
 * 20.2.4: PkgLength counts itself plus what follows. One byte holds up to 63;
 * otherwise bits 7-6 of the lead byte give the number of following bytes, its
 * bits 3-0 the low nibble, and the following bytes the rest, low first.
 */
void aml_end(struct aml *a, size_t mark)
{
	size_t body, total, n;
	uint8_t enc[AML_PKGLEN_MAX];

	if (a->err)
		return;
	body = a->len - mark - 1;
	if (body + 1 <= 0x3f)
		n = 1;
	else if (body + 2 <= 0xfff)
		n = 2;
	else if (body + 3 <= 0xfffff)
		n = 3;
	else if (body + 4 <= 0xfffffff)
		n = 4;
	else {
		aml_fail(a, -E2BIG);
		return;
	}
	if (n - 1 > a->cap - a->len) {
		aml_fail(a, -ENOSPC);
		return;
	}
	total = body + n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + mark + n, a->buf + mark + 1, body);
	memcpy(a->buf + mark, enc, n);
	a->len = mark + n + body;
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_emit_byte(a, AML_SCOPE_OP);
	mark = aml_pkglen_reserve(a);
	aml_emit_namestring(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	size_t mark;

	aml_emit_byte(a, AML_EXT_OP);
	aml_emit_byte(a, AML_DEVICE_OP);
	mark = aml_pkglen_reserve(a);
	aml_emit_namestring(a, path);
	return mark;
}

size_t aml_package_begin(struct aml *a, uint8_t nelem)
{
	size_t mark;

	aml_emit_byte(a, AML_PACKAGE_OP);
	mark = aml_pkglen_reserve(a);
	aml_emit_byte(a, nelem);
	return mark;
}

void aml_emit_buffer(struct aml *a, const uint8_t *bytes, size_t n)
{
	size_t mark;

	aml_emit_byte(a, AML_BUFFER_OP);
	mark = aml_pkglen_reserve(a);
	aml_emit_integer(a, n);
	aml_emit_bytes(a, bytes, n);
	aml_end(a, mark);
}

/* 6.4.2.5 I/O Port Descriptor: tag 0x47 (small item 0x08, 7 bytes). */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	const uint8_t d[8] = {
	    0x47,	   0x01, /* Decode16: the device decodes all 16 address bits */
	    (uint8_t)base, (uint8_t)(base >> 8),
	    (uint8_t)base, (uint8_t)(base >> 8),
	    0x01,	   len,
	};

	aml_emit_bytes(a, d, sizeof(d));
}

/* 6.4.2.1 IRQ Descriptor without the flags byte: edge, active high, exclusive. */
void aml_res_irq(struct aml *a, uint16_t irq_mask)
{
	const uint8_t d[3] = {0x22, (uint8_t)irq_mask, (uint8_t)(irq_mask >> 8)};

	aml_emit_bytes(a, d, sizeof(d));
}

/* 6.4.3.4 32-Bit Fixed Memory Range Descriptor: large item 0x06, 9 bytes. */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	aml_emit_byte(a, 0x86);
	aml_emit_le(a, 9, 2);
	aml_emit_byte(a, 0x01); /* read/write */
	aml_emit_le(a, base, 4);
	aml_emit_le(a, len, 4);
}

/* 6.4.2.9 End Tag; a zero checksum means "treat as correct". */
void aml_res_end(struct aml *a)
{
	const uint8_t d[2] = {0x79, 0x00};

	aml_emit_bytes(a, d, sizeof(d));
}
