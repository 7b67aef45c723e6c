/* SPDX-License-Identifier: MIT */
/* fw_cfg: the port interface, the file directory, and DMA into a fake guest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hw/fw_cfg.h"
#include "machine/gmem.h"
#include "state/buf.h"

#define RAM_SIZE  0x10000
#define HIGH_SIZE 0x1000
#define HIGH_GPA  0x100000000ULL

struct ctx {
	struct gmem m;
	uint8_t *ram, *high;
	struct fw_cfg *f;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->ram = calloc(1, RAM_SIZE);
	c->high = calloc(1, HIGH_SIZE);
	assert_non_null(c->ram);
	assert_non_null(c->high);
	assert_int_equal(gmem_add_region(&c->m, 0, RAM_SIZE, c->ram), 0);
	assert_int_equal(gmem_add_region(&c->m, HIGH_GPA, HIGH_SIZE, c->high), 0);
	c->f = fw_cfg_create(&c->m);
	assert_non_null(c->f);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	fw_cfg_destroy(c->f);
	free(c->ram);
	free(c->high);
	free(c);
	return 0;
}

static void sel(struct ctx *c, uint16_t key)
{
	uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)}; /* little-endian port */

	fw_cfg_io(c->f, FW_CFG_OFF_SEL, d, 2, true);
}

static uint8_t data(struct ctx *c)
{
	uint8_t v = 0xee;

	fw_cfg_io(c->f, FW_CFG_OFF_DATA, &v, 1, false);
	return v;
}

static void read_n(struct ctx *c, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = data(c);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Writes an FWCfgDmaAccess at desc (a guest address inside c's memory). */
static uint8_t *put_desc(struct ctx *c, uint64_t desc, uint32_t control, uint32_t len,
			 uint64_t addr)
{
	uint8_t *p = gmem_ptr(&c->m, desc, 16);

	assert_non_null(p);
	put_be32(p, control);
	put_be32(p + 4, len);
	put_be32(p + 8, (uint32_t)(addr >> 32));
	put_be32(p + 12, (uint32_t)addr);
	return p;
}

/* Starts a transfer the way SeaBIOS and Linux do: high half, then low half. */
static void kick(struct ctx *c, uint64_t desc)
{
	uint8_t hi[4], lo[4];

	put_be32(hi, (uint32_t)(desc >> 32));
	put_be32(lo, (uint32_t)desc);
	if (desc >> 32)
		fw_cfg_io(c->f, FW_CFG_OFF_DMA_HIGH, hi, 4, true);
	fw_cfg_io(c->f, FW_CFG_OFF_DMA_LOW, lo, 4, true);
}

static void test_signature_and_id(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[8];

	sel(c, FW_CFG_SIGNATURE);
	read_n(c, buf, 5);
	assert_memory_equal(buf, "QEMU", 4);
	assert_int_equal(buf[4], 0); /* past the end */
	sel(c, FW_CFG_ID);
	read_n(c, buf, 4);
	assert_int_equal(buf[0], FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	/* Reselecting starts over; the write-channel bit selects the same item. */
	sel(c, FW_CFG_WRITE_CHANNEL | FW_CFG_SIGNATURE);
	assert_int_equal(data(c), 'Q');
	sel(c, FW_CFG_SIGNATURE);
	assert_int_equal(data(c), 'Q');
	/* Data port writes are ignored. */
	fw_cfg_io(c->f, FW_CFG_OFF_DATA, &(uint8_t){'X'}, 1, true);
	assert_int_equal(data(c), 'E');
}

static void test_dma_signature(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[8];

	fw_cfg_io(c->f, FW_CFG_OFF_DMA_HIGH, buf, 4, false);
	fw_cfg_io(c->f, FW_CFG_OFF_DMA_LOW, buf + 4, 4, false);
	assert_memory_equal(buf, "QEMU CFG", 8);
	fw_cfg_io(c->f, FW_CFG_OFF_DMA_HIGH, buf, 8, false);
	assert_memory_equal(buf, "QEMU CFG", 8);
}

static void test_no_dma_without_memory(void **state)
{
	struct fw_cfg *f = fw_cfg_create(NULL);
	uint8_t d[2] = {FW_CFG_ID, 0}, v;

	(void)state;
	assert_non_null(f);
	fw_cfg_io(f, FW_CFG_OFF_SEL, d, 2, true);
	fw_cfg_io(f, FW_CFG_OFF_DATA, &v, 1, false);
	assert_int_equal(v, FW_CFG_VERSION);
	fw_cfg_io(f, FW_CFG_OFF_DMA_LOW, (uint8_t[4]){0, 0, 0x10, 0}, 4, true); /* no crash */
	fw_cfg_destroy(f);
}

static void test_unknown_and_past_end(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[6];

	sel(c, 0x1234);
	read_n(c, buf, 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	sel(c, 0xffff);
	assert_int_equal(data(c), 0);
	assert_int_equal(fw_cfg_add_u16(c->f, FW_CFG_NB_CPUS, 0x0302), 0);
	assert_int_equal(fw_cfg_add_u64(c->f, FW_CFG_RAM_SIZE, 0x0807060504030201ULL), 0);
	sel(c, FW_CFG_NB_CPUS);
	read_n(c, buf, 4);
	assert_memory_equal(buf, "\x02\x03\0\0", 4);
	sel(c, FW_CFG_RAM_SIZE);
	read_n(c, buf, 6);
	assert_memory_equal(buf, "\x01\x02\x03\x04\x05\x06", 6);
	/* Replacing an item. */
	assert_int_equal(fw_cfg_add_u32(c->f, FW_CFG_NB_CPUS, 0xaabbccdd), 0);
	sel(c, FW_CFG_NB_CPUS);
	read_n(c, buf, 4);
	assert_memory_equal(buf, "\xdd\xcc\xbb\xaa", 4);
	/* Arch-local keys. */
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_ARCH_LOCAL | 3, "e820", 4), 0);
	sel(c, FW_CFG_ARCH_LOCAL | 3);
	read_n(c, buf, 5);
	assert_memory_equal(buf, "e820\0", 5);
	/* A selector write of one byte is not a selector write. */
	fw_cfg_io(c->f, FW_CFG_OFF_SEL, &(uint8_t){0}, 1, true);
	assert_int_equal(data(c), 0);
}

static void test_add_errors(void **state)
{
	struct ctx *c = *state;
	char name[64];

	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_FILE_DIR, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_WRITE_CHANNEL | 2, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_ARCH_LOCAL | 0x20, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_UUID, NULL, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(c->f, FW_CFG_UUID, NULL, 0), 0);
	assert_int_equal(fw_cfg_add_file(c->f, "", "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(c->f, NULL, "x", 1), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[56] = '\0';
	assert_int_equal(fw_cfg_add_file(c->f, name, "x", 1), -ENAMETOOLONG);
	name[55] = '\0';
	assert_int_equal(fw_cfg_add_file(c->f, name, "x", 1), 0);
	assert_int_equal(fw_cfg_add_file(c->f, name, "y", 1), -EEXIST);
	for (int i = 1; i < FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "opt/f%d", i);
		assert_int_equal(fw_cfg_add_file(c->f, name, NULL, 0), 0);
	}
	assert_int_equal(fw_cfg_add_file(c->f, "opt/one-too-many", NULL, 0), -ENOSPC);
}

static void test_file_dir(void **state)
{
	struct ctx *c = *state;
	static const char *const names[] = {"etc/b", "etc/a", "opt/z", "bootorder"};
	static const char *const sorted[] = {"bootorder", "etc/a", "etc/b", "opt/z"};
	static const uint16_t keys[] = {0x23, 0x21, 0x20, 0x22};
	static const uint32_t sizes[] = {4, 300, 0, 7};
	static uint8_t blob[300];
	uint8_t dir[4 + 4 * 64];

	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(fw_cfg_add_file(c->f, names[i], blob,
						 i == 0	  ? 0
						 : i == 1 ? 300
						 : i == 2 ? 7
							  : 4),
				 0);
	sel(c, FW_CFG_FILE_DIR);
	read_n(c, dir, sizeof(dir));
	assert_int_equal(be32(dir), 4);
	for (unsigned i = 0; i < 4; i++) {
		const uint8_t *e = dir + 4 + 64 * i;
		char name[56];

		assert_int_equal(be32(e), sizes[i]);
		assert_int_equal(e[4] << 8 | e[5], keys[i]);
		assert_int_equal(e[6] | e[7], 0);
		memset(name, 0, sizeof(name));
		strncpy(name, sorted[i], sizeof(name) - 1);
		assert_memory_equal(e + 8, name, 56); /* NUL-padded */
	}
	assert_int_equal(data(c), 0);
	/* And the files themselves. */
	sel(c, 0x21);
	uint8_t got[301];
	read_n(c, got, sizeof(got));
	assert_memory_equal(got, blob, 300);
	assert_int_equal(got[300], 0);
}

static void test_dma_read(void **state)
{
	struct ctx *c = *state;
	static uint8_t blob[1000];
	uint8_t *desc, *dst = c->ram + 0x2000;

	for (unsigned i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 3 + 1);
	assert_int_equal(fw_cfg_add_file(c->f, "etc/blob", blob, sizeof(blob)), 0);

	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 600,
			0x2000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(dst, blob, 600);
	/* The offset carries on, by DMA and by the data port alike. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ, 100, 0x2000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(dst, blob + 600, 100);
	assert_int_equal(data(c), blob[700]);
	/* Past the end the guest gets zeros, and no error. */
	memset(dst, 0xaa, 1000);
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ, 1000, 0x2000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(dst, blob + 701, 299);
	for (int i = 299; i < 1000; i++)
		assert_int_equal(dst[i], 0);
	assert_int_equal(data(c), 0);
	/* A zero-length read is a successful no-op. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ, 0, 0xdead0000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
}

static void test_dma_high_descriptor(void **state)
{
	struct ctx *c = *state;
	uint8_t *desc, trig[8];

	/* Descriptor and buffer above 4 GiB; a single 64-bit write starts it. */
	desc = put_desc(c, HIGH_GPA + 0x100,
			FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4,
			HIGH_GPA + 0x200);
	put_be32(trig, (uint32_t)((HIGH_GPA + 0x100) >> 32));
	put_be32(trig + 4, (uint32_t)(HIGH_GPA + 0x100));
	fw_cfg_io(c->f, FW_CFG_OFF_DMA_HIGH, trig, 8, true);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(c->high + 0x200, "QEMU", 4);
	/* Two 32-bit halves; the high half is forgotten after the operation. */
	desc = put_desc(c, HIGH_GPA + 0x100,
			FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 1,
			HIGH_GPA + 0x300);
	kick(c, HIGH_GPA + 0x100);
	assert_int_equal(be32(desc), 0);
	assert_int_equal(c->high[0x300], 3);
	desc =
	    put_desc(c, 0x100, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
		     4, 0x200);
	fw_cfg_io(c->f, FW_CFG_OFF_DMA_LOW, (uint8_t[4]){0, 0, 1, 0}, 4, true);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(c->ram + 0x200, "QEMU", 4);
}

static void test_dma_errors(void **state)
{
	struct ctx *c = *state;
	uint8_t *desc;
	uint8_t before[RAM_SIZE];

	assert_int_equal(fw_cfg_add_file(c->f, "etc/x", "0123456789", 10), 0);
	/* Destination outside RAM. */
	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 10,
			0x80000000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), FW_CFG_DMA_CTL_ERROR);
	/* Destination starting in RAM but running off its end: nothing is written. */
	memset(c->ram + RAM_SIZE - 4, 0x55, 4);
	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 10,
			RAM_SIZE - 4);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), FW_CFG_DMA_CTL_ERROR);
	assert_memory_equal(c->ram + RAM_SIZE - 4, "\x55\x55\x55\x55", 4);
	/* Address + length wrapping around 2^64. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ, 0xffffffff, 0xffffffffffffff00ULL);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), FW_CFG_DMA_CTL_ERROR);
	/* Huge length. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ, 0xffffffff, 0);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), FW_CFG_DMA_CTL_ERROR);
	/* Writes are refused. */
	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 2,
			0x2000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), FW_CFG_DMA_CTL_ERROR);
	sel(c, 0x20);
	assert_int_equal(data(c), '0');
	/* A descriptor outside RAM, or straddling its end: nothing happens at all. */
	memcpy(before, c->ram, RAM_SIZE);
	kick(c, 0x90000000);
	kick(c, RAM_SIZE - 8);
	kick(c, 0xfffffffffffffff8ULL);
	assert_memory_equal(before, c->ram, RAM_SIZE);
}

static void test_dma_skip_select(void **state)
{
	struct ctx *c = *state;
	uint8_t *desc;

	assert_int_equal(fw_cfg_add_file(c->f, "etc/s", "abcdef", 6), 0);
	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 2, 0);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_int_equal(data(c), 'c');
	/* Skipping past the end stops at the end. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_SKIP, 100, 0);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_int_equal(data(c), 0);
	/* Select alone just selects. */
	desc = put_desc(c, 0x1000, 0x20u << 16 | FW_CFG_DMA_CTL_SELECT, 0, 0);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_int_equal(data(c), 'a');
	/* Read wins over skip when both are set. */
	desc = put_desc(c, 0x1000, FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_SKIP, 2, 0x3000);
	kick(c, 0x1000);
	assert_int_equal(be32(desc), 0);
	assert_memory_equal(c->ram + 0x3000, "bc", 2);
}

/* --- snapshots ----------------------------------------------------------- */

/* Byte offsets in a version-1 stream. */
#define S_SEL  4
#define S_OFF  6
#define S_HIGH 10
#define S_LEN  14

static void save(struct fw_cfg *f, struct state_buf *b)
{
	state_buf_init(b);
	assert_int_equal(fw_cfg_save(f, b), 0);
	assert_int_equal(b->len, S_LEN);
}

static int load(struct fw_cfg *f, const void *p, size_t n)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	return fw_cfg_load(f, &r);
}

static void sel_of(struct fw_cfg *f, uint16_t key)
{
	uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)};

	fw_cfg_io(f, FW_CFG_OFF_SEL, d, 2, true);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t data_of(struct fw_cfg *f)
{
	uint8_t v = 0xee;

	fw_cfg_io(f, FW_CFG_OFF_DATA, &v, 1, false);
	return v;
}

/* What the restored machine rebuilds from its config: the same items. */
static struct fw_cfg *machine_items(struct ctx *c, size_t file_len)
{
	struct fw_cfg *f = fw_cfg_create(&c->m);
	uint8_t blob[200];

	assert_non_null(f);
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(fw_cfg_add_u32(f, FW_CFG_NB_CPUS, 4), 0);
	if (file_len)
		assert_int_equal(fw_cfg_add_file(f, "etc/blob", blob, file_len), 0);
	return f;
}

/* Starts a DMA read of len bytes to dst with the descriptor at desc, high half latched already. */
static void dma_low(struct ctx *c, struct fw_cfg *f, uint64_t desc, uint32_t len, uint64_t dst)
{
	uint8_t lo[4];

	put_desc(c, desc, FW_CFG_DMA_CTL_READ, len, dst);
	put_be32(lo, (uint32_t)desc);
	fw_cfg_io(f, FW_CFG_OFF_DMA_LOW, lo, 4, true);
	assert_int_equal(be32(gmem_ptr(&c->m, desc, 4)), 0);
}

/* Halfway through a file, with the DMA high half latched: both go on in step. */
static void test_snapshot_roundtrip(void **state)
{
	struct ctx *c = *state;
	struct fw_cfg *a = machine_items(c, 200), *b = machine_items(c, 200);
	struct state_buf sa, sb;
	uint8_t hi[4];

	sel_of(a, FW_CFG_FILE_FIRST);
	for (int i = 0; i < 37; i++)
		data_of(a);
	put_be32(hi, (uint32_t)(HIGH_GPA >> 32));
	fw_cfg_io(a, FW_CFG_OFF_DMA_HIGH, hi, 4, true);

	save(a, &sa);
	assert_int_equal(load(b, sa.data, sa.len), 0);
	save(b, &sb);
	assert_memory_equal(sb.data, sa.data, S_LEN);
	/* The latched high half: a low-half write alone reaches a descriptor above 4 GiB. */
	dma_low(c, a, HIGH_GPA + 0x100, 50, 0x1000);
	dma_low(c, b, HIGH_GPA + 0x200, 50, 0x2000);
	assert_memory_equal(c->ram + 0x2000, c->ram + 0x1000, 50);
	assert_int_equal(c->ram[0x1000], (uint8_t)(37 * 7 + 1));
	/* Then the rest through the data port, and the zeros past the end. */
	for (int i = 87; i < 210; i++)
		assert_int_equal(data_of(b), data_of(a));
	assert_int_equal(data_of(b), 0);
	fw_cfg_destroy(a);
	fw_cfg_destroy(b);
	state_buf_free(&sa);
	state_buf_free(&sb);
}

/* A selector or offset the restoring machine's items do not match reads as unknown/exhausted. */
static void test_snapshot_missing_item(void **state)
{
	struct ctx *c = *state;
	struct fw_cfg *a = machine_items(c, 200), *none = machine_items(c, 0),
		      *shorter = machine_items(c, 5);
	struct state_buf sa;
	uint8_t lo[4];

	sel_of(a, FW_CFG_FILE_FIRST);
	for (int i = 0; i < 10; i++)
		data_of(a);
	save(a, &sa);
	assert_int_equal(load(none, sa.data, sa.len), 0);
	assert_int_equal(load(shorter, sa.data, sa.len), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(data_of(none), 0);
		assert_int_equal(data_of(shorter), 0);
	}
	/* A DMA read past the end writes zeros and leaves the cursor where it was. */
	memset(c->ram + 0x3000, 0xaa, 8);
	put_desc(c, 0x100, FW_CFG_DMA_CTL_READ, 8, 0x3000);
	put_be32(lo, 0x100);
	fw_cfg_io(shorter, FW_CFG_OFF_DMA_LOW, lo, 4, true);
	assert_int_equal(be32(c->ram + 0x100), 0);
	assert_memory_equal(c->ram + 0x3000, "\0\0\0\0\0\0\0\0", 8);
	/* Selecting again works as on any device. */
	sel_of(shorter, FW_CFG_FILE_FIRST);
	assert_int_equal(data_of(shorter), 1);
	sel_of(none, FW_CFG_NB_CPUS);
	assert_int_equal(data_of(none), 4);
	fw_cfg_destroy(a);
	fw_cfg_destroy(none);
	fw_cfg_destroy(shorter);
	state_buf_free(&sa);
}

/* Any selector and offset load and stay harmless: the cursor never runs past an item. */
static void test_snapshot_extreme_values(void **state)
{
	struct ctx *c = *state;
	struct fw_cfg *f = machine_items(c, 200);
	static const uint16_t sels[] = {0xffff,
					0x7fff,
					0xbfff,
					FW_CFG_WRITE_CHANNEL | FW_CFG_FILE_FIRST,
					FW_CFG_ARCH_LOCAL | 0x1f,
					FW_CFG_FILE_FIRST};
	struct state_buf s, t;
	uint8_t lo[4];

	save(f, &s);
	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		s.data[S_SEL] = (uint8_t)sels[i];
		s.data[S_SEL + 1] = (uint8_t)(sels[i] >> 8);
		memset(s.data + S_OFF, 0xff, 4); /* offset 0xffffffff */
		assert_int_equal(load(f, s.data, s.len), 0);
		assert_int_equal(data_of(f), 0);
		put_desc(c, 0x100, FW_CFG_DMA_CTL_SKIP, 0xffffffff, 0);
		put_be32(lo, 0x100);
		fw_cfg_io(f, FW_CFG_OFF_DMA_LOW, lo, 4, true);
		dma_low(c, f, 0x100, 4, 0x3000);
		assert_memory_equal(c->ram + 0x3000, "\0\0\0\0", 4);
		save(f, &t);
		assert_int_equal(le32(t.data + S_OFF), 0xffffffff); /* the cursor did not wrap */
		state_buf_free(&t);
	}
	state_buf_free(&s);
	fw_cfg_destroy(f);
}

static void expect_refused(struct fw_cfg *f, const uint8_t *p, size_t n)
{
	struct state_buf before, after;

	save(f, &before);
	assert_int_equal(load(f, p, n), -EINVAL);
	save(f, &after);
	assert_memory_equal(after.data, before.data, S_LEN);
	state_buf_free(&before);
	state_buf_free(&after);
}

static void test_snapshot_refused(void **state)
{
	struct ctx *c = *state;
	struct fw_cfg *f = machine_items(c, 200), *g = machine_items(c, 200);
	struct state_buf good;
	uint8_t p[S_LEN + 1], hi[4];

	sel_of(f, FW_CFG_FILE_FIRST);
	data_of(f);
	data_of(f);
	put_be32(hi, 0x12345678);
	fw_cfg_io(f, FW_CFG_OFF_DMA_HIGH, hi, 4, true);
	sel_of(g, FW_CFG_NB_CPUS);
	save(g, &good);

	for (size_t n = 0; n < S_LEN; n++)
		expect_refused(f, good.data, n);
	expect_refused(f, NULL, 0);
	memcpy(p, good.data, S_LEN);
	p[S_LEN] = 0;
	expect_refused(f, p, S_LEN + 1);
	for (unsigned i = 0; i < 4; i++) {
		memcpy(p, good.data, S_LEN);
		p[i] ^= i ? 0x80 : 0x03; /* version 2, 0x80000001, ... */
		expect_refused(f, p, S_LEN);
	}
	memcpy(p, good.data, S_LEN);
	p[0] = 0; /* version 0 */
	expect_refused(f, p, S_LEN);

	/* f is as it was: two bytes into the file, the high half still latched. */
	assert_int_equal(data_of(f), (uint8_t)(2 * 7 + 1));
	state_buf_free(&good);
	save(f, &good);
	assert_int_equal(le32(good.data + S_HIGH), 0x12345678);
	state_buf_free(&good);
	fw_cfg_destroy(f);
	fw_cfg_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_signature, setup, teardown),
	    cmocka_unit_test(test_no_dma_without_memory),
	    cmocka_unit_test_setup_teardown(test_unknown_and_past_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_high_descriptor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_skip_select, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_missing_item, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_extreme_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
