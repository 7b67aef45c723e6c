/* SPDX-License-Identifier: MIT */
/*
 * BIOS linker/loader commands and the ACPI blobs they link; see acpi_loader.h.
 *
 * Command layout (QEMU hw/acpi/bios-linker-loader.c, struct
 * BiosLinkerLoaderEntry; SeaBIOS src/fw/romfile_loader.h), 128 bytes:
 *   0   u32 command
 *   ALLOCATE:     4 file[56], 60 u32 align, 64 u8 zone
 *   ADD_POINTER:  4 dest_file[56], 60 src_file[56], 116 u32 offset, 120 u8 size
 *   ADD_CHECKSUM: 4 file[56], 60 u32 offset, 64 u32 start, 68 u32 length
 * and zeros up to 128.
 */
#include "arch/x86/acpi_loader.h"

#include "arch/x86/acpi_internal.h"
#include "arch/x86/fwtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Offsets in a command. */
#define CMD_FILE       4
#define CMD_ALIGN      60
#define CMD_ZONE       64
#define CMD_PTR_SRC    60
#define CMD_PTR_OFFSET 116
#define CMD_PTR_SIZE   120
#define CMD_CK_OFFSET  60
#define CMD_CK_START   64
#define CMD_CK_LENGTH  68

/* How the tables blob is allocated: the FACS inside needs 64 bytes (ACPI 6.5 5.2.10). */
#define TABLES_ALIGN 64
#define RSDP_ALIGN   16 /* where an OS scans for it (5.2.5.1) */

/* The tables blob starts this big and doubles until the DSDT fits. */
#define TABLES_MIN_LEN 0x4000
#define TABLES_MAX_LEN 0x1000000

void acpi_loader_init(struct acpi_loader *l, uint8_t *buf, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	l->cap = cap;
}

static int acpi_loader_fail(struct acpi_loader *l, int err)
{
	if (!l->err)
		l->err = err;
	return l->err;
}

static int acpi_loader_name_ok(const char *name)
{
	size_t n = strnlen(name, ACPI_LOADER_NAME_LEN);

	return n > 0 && n < ACPI_LOADER_NAME_LEN;
}

/* The allocated file of that name, or NULL. */
static const uint32_t *acpi_loader_file_size(const struct acpi_loader *l, const char *name)
{
	if (!acpi_loader_name_ok(name))
		return NULL;
	for (int i = 0; i < l->nfiles; i++)
		if (!strcmp(l->files[i].name, name))
			return &l->files[i].size;
	return NULL;
}

/* A zeroed command with its code, or NULL with l->err set when buf is full. */
static uint8_t *acpi_loader_cmd(struct acpi_loader *l, uint32_t command)
{
	uint8_t *c;

	if (l->cap - l->len < ACPI_LOADER_CMD_LEN) {
		acpi_loader_fail(l, -ENOSPC);
		return NULL;
	}
	c = l->buf + l->len;
	memset(c, 0, ACPI_LOADER_CMD_LEN);
	fwtable_put32(c, command);
	l->len += ACPI_LOADER_CMD_LEN;
	return c;
}

int acpi_loader_allocate(struct acpi_loader *l, const char *file, uint32_t size, uint32_t align,
			 enum acpi_loader_zone zone)
{
	uint8_t *c;

	if (l->err)
		return l->err;
	if (!acpi_loader_name_ok(file) || !size || !align || (align & (align - 1)) ||
	    (zone != ACPI_LOADER_ZONE_HIGH && zone != ACPI_LOADER_ZONE_FSEG) ||
	    acpi_loader_file_size(l, file))
		return acpi_loader_fail(l, -EINVAL);
	if (l->nfiles == ACPI_LOADER_FILES_MAX)
		return acpi_loader_fail(l, -ENOSPC);
	c = acpi_loader_cmd(l, ACPI_LOADER_ALLOCATE);
	if (!c)
		return l->err;
	memcpy(c + CMD_FILE, file, strlen(file));
	fwtable_put32(c + CMD_ALIGN, align);
	c[CMD_ZONE] = (uint8_t)zone;
	memcpy(l->files[l->nfiles].name, file, strlen(file) + 1);
	l->files[l->nfiles].size = size;
	l->nfiles++;
	return 0;
}

int acpi_loader_add_pointer(struct acpi_loader *l, const char *dest_file, uint32_t offset,
			    uint8_t size, const char *src_file)
{
	const uint32_t *dest_size;
	uint8_t *c;

	if (l->err)
		return l->err;
	dest_size = acpi_loader_file_size(l, dest_file);
	if (!dest_size || !acpi_loader_file_size(l, src_file) ||
	    (size != 1 && size != 2 && size != 4 && size != 8) || offset > *dest_size ||
	    size > *dest_size - offset)
		return acpi_loader_fail(l, -EINVAL);
	c = acpi_loader_cmd(l, ACPI_LOADER_ADD_POINTER);
	if (!c)
		return l->err;
	memcpy(c + CMD_FILE, dest_file, strlen(dest_file));
	memcpy(c + CMD_PTR_SRC, src_file, strlen(src_file));
	fwtable_put32(c + CMD_PTR_OFFSET, offset);
	c[CMD_PTR_SIZE] = size;
	return 0;
}

int acpi_loader_add_checksum(struct acpi_loader *l, const char *file, uint32_t offset,
			     uint32_t start, uint32_t length)
{
	const uint32_t *fsize;
	uint8_t *c;

	if (l->err)
		return l->err;
	fsize = acpi_loader_file_size(l, file);
	if (!fsize || start > *fsize || length > *fsize - start || offset < start ||
	    offset - start >= length)
		return acpi_loader_fail(l, -EINVAL);
	c = acpi_loader_cmd(l, ACPI_LOADER_ADD_CHECKSUM);
	if (!c)
		return l->err;
	memcpy(c + CMD_FILE, file, strlen(file));
	fwtable_put32(c + CMD_CK_OFFSET, offset);
	fwtable_put32(c + CMD_CK_START, start);
	fwtable_put32(c + CMD_CK_LENGTH, length);
	return 0;
}

/* Every pointer of blob b points into the tables blob (acpi_internal.h). */
static void acpi_loader_link(struct acpi_loader *l, const char *file, const struct acpi_blob *b)
{
	for (unsigned i = 0; i < b->nptr; i++)
		acpi_loader_add_pointer(l, file, b->ptr[i].at, b->ptr[i].size,
					ACPI_LOADER_FILE_TABLES);
	/* After the pointers: a checksum covers the patched fields. */
	for (unsigned i = 0; i < b->ncsum; i++)
		acpi_loader_add_checksum(l, file, b->csum[i].at, b->csum[i].start, b->csum[i].len);
}

void acpi_loader_blobs_free(struct acpi_loader_blobs *b)
{
	free(b->tables);
	free(b->rsdp);
	free(b->commands);
	memset(b, 0, sizeof(*b));
}

int acpi_loader_build(const struct acpi_config *cfg, struct acpi_loader_blobs *out)
{
	struct acpi_blob tb, rb;
	struct acpi_tables t;
	struct acpi_loader l;
	size_t cap = TABLES_MIN_LEN, cur, ncmds;
	uint8_t *tables = NULL, *rsdp = NULL, *cmds = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	err = acpi_config_check(cfg);
	if (err)
		return err;
	/* Base 0: every pointer is an offset the firmware's ADD_POINTER completes. */
	for (;;) {
		uint8_t *p = realloc(tables, cap);

		if (!p) {
			err = -ENOMEM;
			goto fail;
		}
		tables = p;
		acpi_blob_init(&tb, tables, cap, 0);
		cur = 0;
		err = acpi_tables_build(&tb, &cur, cfg, &t);
		if (err != -ENOSPC)
			break;
		if (cap >= TABLES_MAX_LEN) {
			err = -ENOMEM;
			goto fail;
		}
		cap *= 2;
	}
	if (err)
		goto fail;

	rsdp = calloc(1, ACPI_RSDP_LEN);
	if (!rsdp) {
		err = -ENOMEM;
		goto fail;
	}
	acpi_blob_init(&rb, rsdp, ACPI_RSDP_LEN, 0);
	acpi_rsdp_build(&rb, 0, t.rsdt, t.xsdt);

	ncmds = 2 + tb.nptr + tb.ncsum + rb.nptr + rb.ncsum;
	cmds = malloc(ncmds * ACPI_LOADER_CMD_LEN);
	if (!cmds) {
		err = -ENOMEM;
		goto fail;
	}
	acpi_loader_init(&l, cmds, ncmds * ACPI_LOADER_CMD_LEN);
	acpi_loader_allocate(&l, ACPI_LOADER_FILE_TABLES, (uint32_t)t.end, TABLES_ALIGN,
			     ACPI_LOADER_ZONE_HIGH);
	acpi_loader_allocate(&l, ACPI_LOADER_FILE_RSDP, ACPI_RSDP_LEN, RSDP_ALIGN,
			     ACPI_LOADER_ZONE_FSEG);
	acpi_loader_link(&l, ACPI_LOADER_FILE_TABLES, &tb);
	acpi_loader_link(&l, ACPI_LOADER_FILE_RSDP, &rb);
	err = rb.err ? rb.err : l.err;
	if (err)
		goto fail;

	out->tables = tables;
	out->tables_len = t.end;
	out->rsdp = rsdp;
	out->rsdp_len = ACPI_RSDP_LEN;
	out->commands = cmds;
	out->commands_len = l.len;
	return 0;
fail:
	free(tables);
	free(rsdp);
	free(cmds);
	return err;
}
