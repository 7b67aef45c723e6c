/* SPDX-License-Identifier: MIT */
/*
 * A tiny emitter of ACPI Machine Language bytes, enough for kvmm's static DSDT:
 * names, integers, strings, EISA IDs, packages, scopes, devices and buffers
 * holding resource templates. Encodings follow ACPI 6.5 chapter 20 ("ACPI
 * Machine Language (AML) Specification": 20.2.2 name objects, 20.2.3 data
 * objects, 20.2.4 package length, 20.2.5 term objects) and the resource
 * descriptors of section 6.4 ("Resource Data Types for ACPI").
 *
 * Errors are sticky: the first failure (-ENOSPC when the buffer is full,
 * -EINVAL for a malformed name or ID) is kept in aml.err and every later call
 * does nothing, so a builder can emit a whole block and check once at the end.
 */
#ifndef KVMM_ARCH_X86_AML_H
#define KVMM_ARCH_X86_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap; /* bytes available at buf */
	size_t len; /* bytes emitted so far */
	int err;    /* 0 or the first negative errno */
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* Raw bytes (opcodes the helpers below do not cover). */
void aml_emit_byte(struct aml *a, uint8_t b);
void aml_emit_bytes(struct aml *a, const void *p, size_t n);

/*
 * NameString from a dotted path: "\\_SB_.COM1", "_HID", "_SB". A leading
 * backslash makes it absolute; segments shorter than 4 characters are padded
 * with '_' (the ASL compiler does the same).
 */
void aml_emit_namestring(struct aml *a, const char *path);

/* The shortest encoding of an integer: ZeroOp, OneOp, Byte/Word/DWord/QWordConst. */
void aml_emit_integer(struct aml *a, uint64_t v);

/* StringPrefix + ASCII + NUL. */
void aml_emit_string(struct aml *a, const char *s);

/* EisaId("PNP0501") as the compressed 32-bit ID in a DWordConst. */
void aml_emit_eisaid(struct aml *a, const char *id);

/* Name(path, ...): emits NameOp and the NameString; the caller emits the object. */
void aml_emit_name(struct aml *a, const char *path);

/* Buffer(){bytes}: BufferOp, PkgLength, BufferSize, then the bytes. */
void aml_emit_buffer(struct aml *a, const uint8_t *bytes, size_t n);

/*
 * Constructs that carry a PkgLength. Each *_begin returns a mark that must be
 * passed to aml_end once the contents are emitted; aml_end then writes the
 * PkgLength in its shortest form. Nesting is allowed (close inner ones first).
 */
size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
size_t aml_package_begin(struct aml *a, uint8_t nelem);
void aml_end(struct aml *a, size_t mark);

/*
 * Resource template items (ACPI 6.5 section 6.4), emitted as raw bytes into a
 * struct aml used as a scratch buffer and then wrapped with aml_emit_buffer.
 */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);	      /* 6.4.2.5, Decode16 */
void aml_res_irq(struct aml *a, uint16_t irq_mask);		      /* 6.4.2.1, no flags */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len); /* 6.4.3.4, RW */
void aml_res_end(struct aml *a);				      /* 6.4.2.9 */

#endif
