/* SPDX-License-Identifier: MIT */
/*
 * QEMU firmware configuration device, x86 I/O port flavour, implementing the
 * guest-side contract of QEMU's docs/specs/fw_cfg.rst: "Selector (Control)
 * Register", "Data Register", "Register Locations" (0x510, 0x511, 0x514),
 * "Firmware Configuration Items" (signature, ID, file directory) and "Guest-side
 * DMA Interface". Key numbers match QEMU's qemu_fw_cfg.h so unmodified SeaBIOS,
 * OVMF and Linux find what they expect.
 *
 * Everything the guest hands us is checked: the selector picks an item or
 * nothing (unknown items read as zeros, as the spec says), the data offset never
 * passes the item's end, and DMA descriptors and buffers are reached only through
 * gmem, so a bad address or length sets the descriptor's error bit (when the
 * descriptor itself is reachable) and touches nothing else. Writes through the
 * data port are ignored and DMA writes fail, as for QEMU's read-only items.
 */
#include "hw/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FW_CFG_NR_GENERIC (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define FW_CFG_DIR_ENTRY  64 /* be32 size, be16 select, be16 reserved, name[56] */

struct fw_cfg_item {
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg_file {
	char name[FW_CFG_MAX_FILE_PATH];
	uint16_t key;
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct gmem *m;
	struct fw_cfg_item generic[FW_CFG_NR_GENERIC];
	struct fw_cfg_item arch[FW_CFG_MAX_ARCH];
	struct fw_cfg_file files[FW_CFG_MAX_FILES]; /* in key order */
	int nr_files;
	uint16_t sel;
	uint32_t off;
	uint32_t dma_high;
};

static uint32_t fw_cfg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fw_cfg_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The item a selector value names, or NULL; bit 14 (write mode) does not change it. */
static struct fw_cfg_item *fw_cfg_item(struct fw_cfg *f, uint16_t key)
{
	unsigned idx = key & 0x3fff;

	if (key & FW_CFG_ARCH_LOCAL)
		return idx < FW_CFG_MAX_ARCH ? &f->arch[idx] : NULL;
	return idx < FW_CFG_NR_GENERIC ? &f->generic[idx] : NULL;
}

/* Takes ownership of data. */
static void fw_cfg_set(struct fw_cfg_item *it, uint8_t *data, uint32_t len)
{
	free(it->data);
	it->data = data;
	it->len = len;
}

static uint8_t *fw_cfg_dup(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, data, len);
	return p;
}

int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
	unsigned idx = key & 0x3fff;
	uint8_t *copy;

	if (key & FW_CFG_WRITE_CHANNEL)
		return -EINVAL;
	if ((key & FW_CFG_ARCH_LOCAL) ? idx >= FW_CFG_MAX_ARCH
				      : (idx >= FW_CFG_FILE_FIRST || idx == FW_CFG_FILE_DIR))
		return -EINVAL;
	if (len > UINT32_MAX || (len && !data))
		return -EINVAL;
	copy = fw_cfg_dup(data, len);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	fw_cfg_set(fw_cfg_item(f, key), copy, (uint32_t)len);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t value)
{
	uint8_t b[2] = {(uint8_t)value, (uint8_t)(value >> 8)};

	return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t value)
{
	uint8_t b[4];

	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(value >> (8 * i));
	return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t value)
{
	uint8_t b[8];

	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(value >> (8 * i));
	return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

static int fw_cfg_file_cmp(const void *a, const void *b)
{
	const struct fw_cfg_file *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Builds FW_CFG_FILE_DIR for the current file list; NULL when out of memory. */
static uint8_t *fw_cfg_build_dir(const struct fw_cfg *f, uint32_t *len)
{
	const struct fw_cfg_file *order[FW_CFG_MAX_FILES];
	uint8_t *dir, *e;

	*len = 4 + (uint32_t)f->nr_files * FW_CFG_DIR_ENTRY;
	dir = calloc(1, *len);
	if (!dir)
		return NULL;
	for (int i = 0; i < f->nr_files; i++)
		order[i] = &f->files[i];
	/* Firmware may binary-search the directory: QEMU keeps it sorted by name. */
	qsort(order, (size_t)f->nr_files, sizeof(order[0]), fw_cfg_file_cmp);
	fw_cfg_put_be32(dir, (uint32_t)f->nr_files);
	for (int i = 0; i < f->nr_files; i++) {
		e = dir + 4 + (size_t)i * FW_CFG_DIR_ENTRY;
		fw_cfg_put_be32(e, f->generic[order[i]->key].len);
		e[4] = (uint8_t)(order[i]->key >> 8);
		e[5] = (uint8_t)order[i]->key;
		memcpy(e + 8, order[i]->name, strlen(order[i]->name));
	}
	return dir;
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len)
{
	struct fw_cfg_file *file;
	uint8_t *copy, *dir;
	uint32_t dir_len;
	size_t nlen;
	int rc = 0;

	if (!name || !*name || len > UINT32_MAX || (len && !data))
		return -EINVAL;
	nlen = strnlen(name, FW_CFG_MAX_FILE_PATH);
	if (nlen >= FW_CFG_MAX_FILE_PATH)
		return -ENAMETOOLONG;
	copy = fw_cfg_dup(data, len);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->nr_files; i++) {
		if (strcmp(f->files[i].name, name) == 0) {
			rc = -EEXIST;
			goto fail;
		}
	}
	if (f->nr_files == FW_CFG_MAX_FILES) {
		rc = -ENOSPC;
		goto fail;
	}
	file = &f->files[f->nr_files];
	memset(file, 0, sizeof(*file));
	memcpy(file->name, name, nlen);
	file->key = (uint16_t)(FW_CFG_FILE_FIRST + f->nr_files);
	f->nr_files++;
	fw_cfg_set(&f->generic[file->key], copy, (uint32_t)len);
	dir = fw_cfg_build_dir(f, &dir_len);
	if (!dir) {
		/* Undo, so the directory never disagrees with the items. */
		fw_cfg_set(&f->generic[file->key], NULL, 0);
		f->nr_files--;
		pthread_mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	fw_cfg_set(&f->generic[FW_CFG_FILE_DIR], dir, dir_len);
	pthread_mutex_unlock(&f->lock);
	return 0;
fail:
	pthread_mutex_unlock(&f->lock);
	free(copy);
	return rc;
}

static void fw_cfg_select(struct fw_cfg *f, uint16_t key)
{
	f->sel = key;
	f->off = 0;
}

/* The selected item's bytes from the current offset, and how many; NULL when none. */
static const uint8_t *fw_cfg_cursor(struct fw_cfg *f, uint32_t *avail)
{
	const struct fw_cfg_item *it = fw_cfg_item(f, f->sel);

	if (!it || f->off >= it->len) {
		*avail = 0;
		return NULL;
	}
	*avail = it->len - f->off;
	return it->data + f->off;
}

static uint8_t fw_cfg_read_data(struct fw_cfg *f)
{
	uint32_t n;
	const uint8_t *p = fw_cfg_cursor(f, &n);

	if (!p)
		return 0; /* past the end, or no such item */
	f->off++;
	return *p;
}

/* A DMA read of length bytes to guest address; beyond the item's end it reads zeros. */
static bool fw_cfg_dma_read(struct fw_cfg *f, uint64_t address, uint32_t length)
{
	uint32_t n;
	const uint8_t *src = fw_cfg_cursor(f, &n);
	uint8_t *dst;

	if (!length)
		return true;
	/* The whole destination must be RAM before anything is written. */
	dst = gmem_ptr(f->m, address, length);
	if (!dst)
		return false;
	if (n > length)
		n = length;
	if (src)
		memcpy(dst, src, n);
	memset(dst + n, 0, length - n);
	f->off += n;
	return true;
}

static void fw_cfg_dma(struct fw_cfg *f, uint64_t desc_addr)
{
	uint8_t desc[16], result[4];
	uint32_t control, length, n;
	uint64_t address;
	bool ok = true;

	/* An unreachable descriptor leaves nowhere to report the error: do nothing. */
	if (!f->m || gmem_read(f->m, desc_addr, desc, sizeof(desc)))
		return;
	control = fw_cfg_be32(desc);
	length = fw_cfg_be32(desc + 4);
	address = (uint64_t)fw_cfg_be32(desc + 8) << 32 | fw_cfg_be32(desc + 12);

	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(f, (uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_CTL_READ) {
		ok = fw_cfg_dma_read(f, address, length);
	} else if (control & FW_CFG_DMA_CTL_WRITE) {
		ok = false; /* every item is read-only to the guest */
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		fw_cfg_cursor(f, &n);
		f->off += length < n ? length : n;
	}
	fw_cfg_put_be32(result, ok ? 0 : FW_CFG_DMA_CTL_ERROR);
	gmem_write(f->m, desc_addr, result, sizeof(result));
}

static void fw_cfg_write(struct fw_cfg *f, uint64_t offset, const uint8_t *data, uint32_t len)
{
	uint64_t addr;

	switch (offset) {
	case FW_CFG_OFF_SEL:
		/* A 16-bit register: byte writes have no defined meaning and are dropped. */
		if (len == 2)
			fw_cfg_select(f, (uint16_t)(data[0] | data[1] << 8));
		break;
	case FW_CFG_OFF_DMA_HIGH:
		if (len == 4) {
			f->dma_high = fw_cfg_be32(data);
		} else if (len == 8) {
			addr = (uint64_t)fw_cfg_be32(data) << 32 | fw_cfg_be32(data + 4);
			f->dma_high = 0;
			fw_cfg_dma(f, addr);
		}
		break;
	case FW_CFG_OFF_DMA_LOW:
		if (len == 4) {
			addr = (uint64_t)f->dma_high << 32 | fw_cfg_be32(data);
			f->dma_high = 0; /* the register reads as 0 after an operation */
			fw_cfg_dma(f, addr);
		}
		break;
	default: /* data port writes are ignored since QEMU 2.4 */
		break;
	}
}

void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct fw_cfg *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (is_write) {
		fw_cfg_write(f, offset, data, len);
	} else {
		for (uint32_t i = 0; i < len; i++) {
			uint64_t o = offset + i;

			if (offset == FW_CFG_OFF_DATA)
				data[i] = fw_cfg_read_data(f); /* wide reads stream bytes */
			else if (o >= FW_CFG_OFF_DMA_HIGH && o < FW_CFG_OFF_DMA_HIGH + 8)
				data[i] = (uint8_t)(FW_CFG_DMA_SIGNATURE >>
						    (56 - 8 * (o - FW_CFG_OFF_DMA_HIGH)));
			else
				data[i] = 0; /* the selector is write-only */
		}
	}
	pthread_mutex_unlock(&f->lock);
}

/*
 * Snapshot format, version 1 (little-endian): u32 version; u16 selector; u32
 * offset into the selected item; u32 DMA address high half. A DMA transfer runs
 * to completion inside the write that starts it, so nothing else is in flight.
 */
#define FW_CFG_STATE_VERSION 1

int fw_cfg_save(struct fw_cfg *f, struct state_buf *b)
{
	pthread_mutex_lock(&f->lock);
	state_put_u32(b, FW_CFG_STATE_VERSION);
	state_put_u16(b, f->sel);
	state_put_u32(b, f->off);
	state_put_u32(b, f->dma_high);
	pthread_mutex_unlock(&f->lock);
	return b->error;
}

int fw_cfg_load(struct fw_cfg *f, struct state_reader *r)
{
	uint16_t sel;
	uint32_t off, dma_high;

	if (state_get_u32(r) != FW_CFG_STATE_VERSION)
		state_reader_fail(r);
	sel = state_get_u16(r);
	off = state_get_u32(r);
	dma_high = state_get_u32(r);
	if (state_reader_finish(r))
		return -EINVAL;
	/*
	 * Any selector and offset are safe: fw_cfg_cursor treats a key without an item
	 * as unknown (reads zeros) and an offset at or past the item's end as exhausted
	 * (reads zeros, never advances), which is also what the guest must see when the
	 * restoring machine's item is shorter or missing.
	 */
	pthread_mutex_lock(&f->lock);
	f->sel = sel;
	f->off = off;
	f->dma_high = dma_high;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fw_cfg_dma_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	fw_cfg_io(opaque, offset + FW_CFG_OFF_DMA_HIGH, data, len, is_write);
}

struct fw_cfg *fw_cfg_create(struct gmem *m)
{
	struct fw_cfg *f = calloc(1, sizeof(*f));
	uint32_t id = FW_CFG_VERSION | (m ? FW_CFG_VERSION_DMA : 0);
	uint8_t *dir;
	int rc;

	if (!f)
		return NULL;
	rc = pthread_mutex_init(&f->lock, NULL);
	if (rc) {
		free(f);
		errno = rc;
		return NULL;
	}
	f->m = m;
	dir = calloc(1, 4); /* count 0 */
	if (!dir || fw_cfg_add_bytes(f, FW_CFG_SIGNATURE, "QEMU", 4) ||
	    fw_cfg_add_u32(f, FW_CFG_ID, id)) {
		free(dir);
		fw_cfg_destroy(f);
		errno = ENOMEM;
		return NULL;
	}
	fw_cfg_set(&f->generic[FW_CFG_FILE_DIR], dir, 4);
	return f;
}

int fw_cfg_attach(struct fw_cfg *f, struct bus *bus)
{
	int rc = bus_register(bus, BUS_PIO, FW_CFG_PORT_SEL, 2, fw_cfg_io, f, "fw_cfg");

	if (rc)
		return rc;
	rc = bus_register(bus, BUS_PIO, FW_CFG_PORT_DMA_HIGH, 8, fw_cfg_dma_io, f, "fw_cfg_dma");
	if (rc)
		bus_unregister(bus, BUS_PIO, FW_CFG_PORT_SEL);
	return rc;
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < FW_CFG_NR_GENERIC; i++)
		free(f->generic[i].data);
	for (unsigned i = 0; i < FW_CFG_MAX_ARCH; i++)
		free(f->arch[i].data);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
