/* SPDX-License-Identifier: MIT */
/*
 * The fw_cfg device (hw/fw_cfg.h) as a hostile guest sees it: selector writes,
 * data-port reads, accesses of every width around its ports, and DMA through
 * descriptors the input writes into a small fake guest RAM (two regions, one
 * at the very top of the 64-bit address space, where address + length
 * overflows). The host side adds items and files with names from the input.
 *
 * Everything is compared with a model written from QEMU's docs/specs/fw_cfg.rst
 * and fw_cfg.h: every data byte read, the whole of guest RAM after every
 * access (DMA writes exactly the destination and the descriptor's control
 * word: 0, or the error bit), the file directory (sorted by name), and the
 * return codes of fw_cfg_add_file / fw_cfg_add_bytes.
 *
 * Input: byte 0 bit 0 = no guest memory (no DMA), bits 1-3 = how many files
 * the host adds first; then operations, one byte each plus arguments.
 */
#include <errno.h>

#include "fuzz.h"
#include "hw/fw_cfg.h"
#include "machine/bus.h"

#define NR_GENERIC (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define RAM_A_GPA  0x0ULL
#define RAM_A_SIZE 0x2000u
#define RAM_B_GPA  0xffffffffffffe000ULL /* ends 4 KiB below 2^64 */
#define RAM_B_SIZE 0x1000u

struct mitem {
	uint8_t *data;
	uint32_t len;
};

struct mfile {
	char name[FW_CFG_MAX_FILE_PATH];
	uint16_t key;
};

struct mregion {
	uint64_t gpa;
	uint32_t size;
	uint8_t *real, *shadow;
};

/* The harness: the device and a model of it. */
struct fuzz_fw_cfg {
	struct bus bus;
	struct gmem m;
	struct fw_cfg *dev;
	bool dma;
	struct mregion ram[2];
	/* The model. */
	struct mitem generic[NR_GENERIC], arch[FW_CFG_MAX_ARCH];
	struct mfile files[FW_CFG_MAX_FILES];
	int nr_files;
	uint16_t sel;
	uint32_t off, dma_high;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint8_t pattern(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static uint8_t *make_data(uint32_t seed, uint32_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p)
		abort();
	for (uint32_t i = 0; i < len; i++)
		p[i] = pattern(seed, i);
	return p;
}

static void mset(struct mitem *it, uint8_t *data, uint32_t len)
{
	free(it->data);
	it->data = data;
	it->len = len;
}

/* fw_cfg.rst: bit 14 (write channel) does not change the item; bit 15 picks the arch items. */
static struct mitem *mitem(struct fuzz_fw_cfg *f, uint16_t key)
{
	unsigned idx = key & 0x3fff;

	if (key & FW_CFG_ARCH_LOCAL)
		return idx < FW_CFG_MAX_ARCH ? &f->arch[idx] : NULL;
	return idx < NR_GENERIC ? &f->generic[idx] : NULL;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

/* FW_CFG_FILE_DIR: be32 count, then {be32 size, be16 select, be16 0, name[56]} by name. */
static void mrebuild_dir(struct fuzz_fw_cfg *f)
{
	struct mfile sorted[FW_CFG_MAX_FILES];
	uint32_t len = 4 + 64 * (uint32_t)f->nr_files;
	uint8_t *dir = calloc(1, len);

	if (!dir)
		abort();
	memcpy(sorted, f->files, sizeof(sorted[0]) * (size_t)f->nr_files);
	qsort(sorted, (size_t)f->nr_files, sizeof(sorted[0]), cmp_file);
	put_be32(dir, (uint32_t)f->nr_files);
	for (int i = 0; i < f->nr_files; i++) {
		uint8_t *e = dir + 4 + 64 * i;

		put_be32(e, f->generic[sorted[i].key].len);
		e[4] = (uint8_t)(sorted[i].key >> 8);
		e[5] = (uint8_t)sorted[i].key;
		memcpy(e + 8, sorted[i].name, strlen(sorted[i].name));
	}
	mset(&f->generic[FW_CFG_FILE_DIR], dir, len);
}

static void add_file(struct fuzz_fw_cfg *f, const char *name, uint32_t len)
{
	uint8_t *data = make_data(0x1000u + (uint32_t)f->nr_files, len);
	size_t nlen = strlen(name);
	int want = 0, rc;

	if (!nlen)
		want = -EINVAL;
	else if (nlen >= FW_CFG_MAX_FILE_PATH)
		want = -ENAMETOOLONG;
	for (int i = 0; !want && i < f->nr_files; i++)
		if (!strcmp(f->files[i].name, name))
			want = -EEXIST;
	if (!want && f->nr_files == FW_CFG_MAX_FILES)
		want = -ENOSPC;
	rc = fw_cfg_add_file(f->dev, name, data, len);
	FUZZ_CHECK(rc == want);
	if (rc) {
		free(data);
		return;
	}
	memcpy(f->files[f->nr_files].name, name, nlen + 1);
	f->files[f->nr_files].key = (uint16_t)(FW_CFG_FILE_FIRST + f->nr_files);
	mset(&f->generic[FW_CFG_FILE_FIRST + f->nr_files], data, len);
	f->nr_files++;
	mrebuild_dir(f);
}

static void add_bytes(struct fuzz_fw_cfg *f, uint16_t key, uint32_t len)
{
	unsigned idx = key & 0x3fff;
	uint8_t *data = make_data(key, len);
	bool bad = (key & FW_CFG_WRITE_CHANNEL) ||
		   ((key & FW_CFG_ARCH_LOCAL) ? idx >= FW_CFG_MAX_ARCH
					      : idx >= FW_CFG_FILE_FIRST || idx == FW_CFG_FILE_DIR);
	int rc = fw_cfg_add_bytes(f->dev, key, data, len);

	FUZZ_CHECK(rc == (bad ? -EINVAL : 0));
	if (rc)
		free(data);
	else
		mset(mitem(f, key), data, len);
}

/* Model guest memory: a range inside one region, or NULL; no sum can overflow. */
static uint8_t *mram(struct fuzz_fw_cfg *f, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < 2; i++) {
		const struct mregion *r = &f->ram[i];

		if (len && gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->shadow + (gpa - r->gpa);
	}
	return NULL;
}

/* Bytes left in the selected item from the current offset. */
static uint32_t mavail(struct fuzz_fw_cfg *f, const struct mitem **it)
{
	*it = mitem(f, f->sel);
	if (!*it || !(*it)->data || f->off >= (*it)->len)
		return 0;
	return (*it)->len - f->off;
}

static uint8_t mread_data(struct fuzz_fw_cfg *f)
{
	const struct mitem *it;

	if (!mavail(f, &it))
		return 0;
	return it->data[f->off++];
}

/* fw_cfg.rst, "Guest-side DMA Interface", applied to the shadow RAM. */
static void mdma(struct fuzz_fw_cfg *f, uint64_t desc_addr)
{
	uint8_t *desc = f->dma ? mram(f, desc_addr, 16) : NULL, *dst;
	const struct mitem *it;
	uint32_t control, length, n;
	uint64_t address;
	bool ok = true;

	if (!desc)
		return;
	control = be32(desc);
	length = be32(desc + 4);
	address = (uint64_t)be32(desc + 8) << 32 | be32(desc + 12);
	if (control & FW_CFG_DMA_CTL_SELECT) {
		f->sel = (uint16_t)(control >> 16);
		f->off = 0;
	}
	if (control & FW_CFG_DMA_CTL_READ) {
		if (length) {
			dst = mram(f, address, length);
			if (!dst) {
				ok = false;
			} else {
				n = mavail(f, &it);
				n = n < length ? n : length;
				if (n)
					memcpy(dst, it->data + f->off, n);
				memset(dst + n, 0, length - n);
				f->off += n;
			}
		}
	} else if (control & FW_CFG_DMA_CTL_WRITE) {
		ok = false;
	} else if (control & FW_CFG_DMA_CTL_SKIP) {
		n = mavail(f, &it);
		f->off += n < length ? n : length;
	}
	put_be32(desc, ok ? 0 : FW_CFG_DMA_CTL_ERROR);
}

/* One bus access as the model sees it; reads fill want[]. */
static void maccess(struct fuzz_fw_cfg *f, uint16_t port, const uint8_t *data, uint32_t len,
		    bool write, uint8_t *want)
{
	uint64_t off;

	if (port >= FW_CFG_PORT_SEL && port + len <= FW_CFG_PORT_SEL + 2)
		off = port - FW_CFG_PORT_SEL;
	else if (port >= FW_CFG_PORT_DMA_HIGH && port + len <= FW_CFG_PORT_DMA_HIGH + 8)
		off = port - FW_CFG_PORT_DMA_HIGH + FW_CFG_OFF_DMA_HIGH;
	else {
		if (!write)
			memset(want, 0xff, len); /* nobody decodes it */
		return;
	}
	if (write) {
		if (off == FW_CFG_OFF_SEL && len == 2) {
			f->sel = (uint16_t)(data[0] | data[1] << 8);
			f->off = 0;
		} else if (off == FW_CFG_OFF_DMA_HIGH && len == 4) {
			f->dma_high = be32(data);
		} else if (off == FW_CFG_OFF_DMA_HIGH && len == 8) {
			f->dma_high = 0;
			mdma(f, (uint64_t)be32(data) << 32 | be32(data + 4));
		} else if (off == FW_CFG_OFF_DMA_LOW && len == 4) {
			uint64_t a = (uint64_t)f->dma_high << 32 | be32(data);

			f->dma_high = 0;
			mdma(f, a);
		}
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		if (off == FW_CFG_OFF_DATA)
			want[i] = mread_data(f);
		else if (o >= FW_CFG_OFF_DMA_HIGH && o < FW_CFG_OFF_DMA_HIGH + 8)
			want[i] =
			    (uint8_t)(FW_CFG_DMA_SIGNATURE >> (56 - 8 * (o - FW_CFG_OFF_DMA_HIGH)));
		else
			want[i] = 0;
	}
}

/* The access on the device and on the model; they must agree, RAM included. */
static void both_access(struct fuzz_fw_cfg *f, uint16_t port, uint8_t *data, uint32_t len,
			bool write)
{
	uint8_t want[8];

	maccess(f, port, data, len, write, want);
	bus_access(&f->bus, BUS_PIO, port, data, len, write);
	if (!write)
		FUZZ_CHECK(!memcmp(data, want, len));
	for (int i = 0; i < 2; i++)
		FUZZ_CHECK(!memcmp(f->ram[i].real, f->ram[i].shadow, f->ram[i].size));
}

static void poke(struct fuzz_fw_cfg *f, uint64_t gpa, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int r = 0; r < 2; r++) {
			struct mregion *m = &f->ram[r];
			uint64_t at = gpa + i;

			if (at >= m->gpa && at - m->gpa < m->size)
				m->real[at - m->gpa] = m->shadow[at - m->gpa] = b[i];
		}
	}
}

/* A guest address near one of the regions, maybe partly or wholly outside it. */
static uint64_t near_ram(struct fuzz_in *in)
{
	uint8_t b = fuzz_u8(in);
	uint16_t off = fuzz_u16(in);

	if (b & 0x80)
		return fuzz_u64(in);
	return (b & 1) ? RAM_B_GPA + off % (RAM_B_SIZE + 64) : RAM_A_GPA + off % (RAM_A_SIZE + 64);
}

static void dma_op(struct fuzz_fw_cfg *f, struct fuzz_in *in)
{
	uint64_t desc_addr = near_ram(in), address;
	uint8_t ctl = fuzz_u8(in), desc[16], b[8];
	uint16_t key = fuzz_u16(in);
	uint32_t length = (ctl & 0x80) ? fuzz_u32(in) : fuzz_u16(in) % 0x3000u;

	address = near_ram(in);
	put_be32(desc, (uint32_t)key << 16 | (ctl & 0x1f));
	put_be32(desc + 4, length);
	put_be64(desc + 8, address);
	poke(f, desc_addr, desc, sizeof(desc));
	if (ctl & 0x40) { /* one 8-byte write */
		put_be64(b, desc_addr);
		both_access(f, FW_CFG_PORT_DMA_HIGH, b, 8, true);
	} else { /* high half (unless it is 0 and the input says skip it), then low */
		if ((desc_addr >> 32) || !(ctl & 0x20)) {
			put_be32(b, (uint32_t)(desc_addr >> 32));
			both_access(f, FW_CFG_PORT_DMA_HIGH, b, 4, true);
		}
		put_be32(b, (uint32_t)desc_addr);
		both_access(f, FW_CFG_PORT_DMA_LOW, b, 4, true);
	}
}

static uint16_t pick_key(struct fuzz_in *in)
{
	uint8_t s = fuzz_u8(in);

	if (s & 0x80)
		return fuzz_u16(in);
	return (uint16_t)((s & 0x3f) | ((s & 0x40) ? FW_CFG_ARCH_LOCAL : 0));
}

static void setup(struct fuzz_fw_cfg *f, unsigned nfiles)
{
	static const char *const names[] = {"etc/e820", "etc/acpi/tables",  "bootorder",
					    "opt/a",	"etc/table-loader", "etc/acpi/rsdp",
					    "genroms/x"};
	static const uint32_t lens[] = {0, 1, 5000, 64, 3, 4096, 17};

	uint8_t *sig = malloc(4), *id = calloc(1, 4);

	if (!sig || !id)
		abort();
	memcpy(sig, "QEMU", 4);
	id[0] = FW_CFG_VERSION | (f->dma ? FW_CFG_VERSION_DMA : 0);
	mset(&f->generic[FW_CFG_SIGNATURE], sig, 4);
	mset(&f->generic[FW_CFG_ID], id, 4);
	mrebuild_dir(f);
	add_bytes(f, FW_CFG_NB_CPUS, 2);
	add_bytes(f, FW_CFG_KERNEL_CMDLINE, 300);
	add_bytes(f, FW_CFG_ARCH_LOCAL, 8);
	add_bytes(f, FW_CFG_ARCH_LOCAL | 0x1f, 3000);
	for (unsigned i = 0; i < nfiles; i++)
		add_file(f, names[i], lens[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	struct fuzz_fw_cfg *f = calloc(1, sizeof(*f));
	uint8_t cfg = fuzz_u8(&in), b[FW_CFG_MAX_FILE_PATH + 8];
	unsigned adds = 0;

	if (!f)
		return 0;
	f->dma = !(cfg & 1);
	f->ram[0] =
	    (struct mregion){RAM_A_GPA, RAM_A_SIZE, calloc(1, RAM_A_SIZE), calloc(1, RAM_A_SIZE)};
	f->ram[1] =
	    (struct mregion){RAM_B_GPA, RAM_B_SIZE, calloc(1, RAM_B_SIZE), calloc(1, RAM_B_SIZE)};
	if (!f->ram[0].real || !f->ram[0].shadow || !f->ram[1].real || !f->ram[1].shadow ||
	    gmem_add_region(&f->m, RAM_A_GPA, RAM_A_SIZE, f->ram[0].real) ||
	    gmem_add_region(&f->m, RAM_B_GPA, RAM_B_SIZE, f->ram[1].real))
		abort();
	f->dev = fw_cfg_create(f->dma ? &f->m : NULL);
	if (!f->dev || bus_init(&f->bus) || fw_cfg_attach(f->dev, &f->bus))
		abort();
	setup(f, (cfg >> 1) & 7);

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in), n;
		uint16_t key, port;
		uint32_t len;

		switch (op % 7) {
		case 0: /* select */
			key = pick_key(&in);
			b[0] = (uint8_t)key;
			b[1] = (uint8_t)(key >> 8);
			both_access(f, FW_CFG_PORT_SEL, b, 2, true);
			break;
		case 1: /* stream bytes from the data port */
			for (n = fuzz_u8(&in) % 64 + 1; n; n--)
				both_access(f, FW_CFG_PORT_DATA, b, 1, false);
			break;
		case 2: /* any access in and around the ports */
			port = (uint16_t)(FW_CFG_PORT_SEL + fuzz_u8(&in) % 13);
			len = fuzz_width(&in);
			if (fuzz_u8(&in) & 1) {
				fuzz_bytes(&in, b, len);
				both_access(f, port, b, len, true);
			} else {
				both_access(f, port, b, len, false);
			}
			break;
		case 3:
			dma_op(f, &in);
			break;
		case 4: { /* the guest writes its RAM */
			uint64_t gpa = near_ram(&in);

			n = fuzz_u8(&in) % 33;
			fuzz_bytes(&in, b, n);
			poke(f, gpa, b, n);
			break;
		}
		case 5: /* the host adds a file named by the input */
			n = fuzz_u8(&in) % (FW_CFG_MAX_FILE_PATH + 4);
			fuzz_bytes(&in, b, n);
			b[n] = 0;
			len = fuzz_u16(&in) % 5000u;
			if (adds++ < 300)
				add_file(f, (const char *)b, len);
			break;
		case 6:
			key = fuzz_u16(&in);
			add_bytes(f, key, fuzz_u16(&in) % 5000u);
			break;
		}
	}
	fw_cfg_destroy(f->dev);
	bus_destroy(&f->bus);
	for (unsigned i = 0; i < NR_GENERIC; i++)
		free(f->generic[i].data);
	for (unsigned i = 0; i < FW_CFG_MAX_ARCH; i++)
		free(f->arch[i].data);
	for (int i = 0; i < 2; i++) {
		free(f->ram[i].real);
		free(f->ram[i].shadow);
	}
	free(f);
	return 0;
}
