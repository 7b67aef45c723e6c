/* SPDX-License-Identifier: MIT */
/*
 * Test fixtures for the x86 kernel loader tests: a fake guest (host memory
 * behind gmem, laid out as machine.c does: low RAM at 0, the rest above 4 GiB),
 * builders for hand-made ELF32/ELF64 images, and compressors producing the
 * payload formats the kernel build produces (with its 4-byte size trailer).
 * Header-only so each test program stays one file; everything is static inline.
 */
#ifndef KVMM_TESTS_BOOT_FIXTURES_H
#define KVMM_TESTS_BOOT_FIXTURES_H

#include <bzlib.h>
#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot.h"
#include "arch/x86/decompress.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "machine/gmem.h"

#define MiB (1ULL << 20)

struct tguest {
	struct gmem m;
	uint8_t *low, *high;
	uint64_t low_size, high_size, ram;
	char err[BOOT_ERR_MAX];
};

/* Guest RAM is mapped lazily (MAP_NORESERVE), so multi-GiB guests cost nothing. */
static inline void tguest_init(struct tguest *g, uint64_t ram)
{
	memset(g, 0, sizeof(*g));
	g->ram = ram;
	g->low_size = e820_lowmem(ram);
	g->high_size = e820_highmem(ram);
	g->low = mmap(NULL, g->low_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(g->low != MAP_FAILED);
	assert_int_equal(gmem_add_region(&g->m, 0, g->low_size, g->low), 0);
	if (g->high_size) {
		g->high = mmap(NULL, g->high_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		assert_true(g->high != MAP_FAILED);
		assert_int_equal(gmem_add_region(&g->m, LAYOUT_4G, g->high_size, g->high), 0);
	}
	g->m.ram_size = ram;
}

static inline void tguest_fini(struct tguest *g)
{
	munmap(g->low, g->low_size);
	if (g->high)
		munmap(g->high, g->high_size);
}

static inline const uint8_t *tg_ptr(struct tguest *g, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gmem_ptr(&g->m, gpa, len);
	assert_non_null(p);
	return p;
}

static inline uint8_t tg8(struct tguest *g, uint64_t gpa)
{
	return *tg_ptr(g, gpa, 1);
}

static inline uint16_t tg16(struct tguest *g, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, tg_ptr(g, gpa, 2), 2);
	return v;
}

static inline uint32_t tg32(struct tguest *g, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, tg_ptr(g, gpa, 4), 4);
	return v;
}

static inline uint64_t tg64(struct tguest *g, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, tg_ptr(g, gpa, 8), 8);
	return v;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline struct boot_config tcfg(const uint8_t *k, size_t ksize, uint64_t ram)
{
	return (struct boot_config){.kernel_path = "/boot/kernel",
				    .kernel = k,
				    .kernel_size = ksize,
				    .cmdline = "",
				    .ram_size = ram};
}

/* Deterministic, compressible filler. */
static inline void tfill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)((i & 64) ? (seed >> 24) & 0x0f : (uint8_t)(i >> 3));
	}
}

/* ---- ELF images ---- */

struct tseg {
	uint32_t type;
	uint64_t vaddr, paddr;
	const void *data; /* filesz bytes; NULL: filler */
	uint64_t filesz, memsz, align;
};

struct telf {
	int cls; /* ELFCLASS32 / ELFCLASS64 */
	uint16_t machine;
	uint16_t type; /* 0: ET_EXEC */
	uint64_t entry;
	int nseg;
	struct tseg seg[8];
};

/*
 * Builds an ELF image: headers, then each segment's file bytes 16-aligned.
 * Returns a malloc'ed buffer; *size gets its length; *offs (if given) each
 * segment's file offset.
 */
static inline uint8_t *telf_build(const struct telf *e, size_t *size, uint64_t *offs)
{
	int is64 = e->cls == ELFCLASS64;
	size_t eh = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t ph = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t pos = eh + ph * (size_t)e->nseg, total;
	uint64_t off[8];
	uint8_t *b;

	for (int i = 0; i < e->nseg; i++) {
		pos = (pos + 15) & ~(size_t)15;
		off[i] = pos;
		pos += e->seg[i].filesz;
	}
	total = pos;
	b = calloc(1, total);
	assert_non_null(b);
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = (uint8_t)e->cls;
	b[EI_DATA] = ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	if (is64) {
		Elf64_Ehdr h;
		memcpy(&h, b, sizeof(h));
		h.e_type = e->type ? e->type : ET_EXEC;
		h.e_machine = e->machine;
		h.e_version = EV_CURRENT;
		h.e_entry = e->entry;
		h.e_phoff = eh;
		h.e_ehsize = (uint16_t)eh;
		h.e_phentsize = (uint16_t)ph;
		h.e_phnum = (uint16_t)e->nseg;
		memcpy(b, &h, sizeof(h));
	} else {
		Elf32_Ehdr h;
		memcpy(&h, b, sizeof(h));
		h.e_type = e->type ? e->type : ET_EXEC;
		h.e_machine = e->machine;
		h.e_version = EV_CURRENT;
		h.e_entry = (uint32_t)e->entry;
		h.e_phoff = (uint32_t)eh;
		h.e_ehsize = (uint16_t)eh;
		h.e_phentsize = (uint16_t)ph;
		h.e_phnum = (uint16_t)e->nseg;
		memcpy(b, &h, sizeof(h));
	}
	for (int i = 0; i < e->nseg; i++) {
		const struct tseg *s = &e->seg[i];
		uint8_t *p = b + eh + ph * (size_t)i;
		if (is64) {
			Elf64_Phdr h = {s->type,  PF_R | PF_X, off[i],	 s->vaddr,
					s->paddr, s->filesz,   s->memsz, s->align};
			memcpy(p, &h, sizeof(h));
		} else {
			Elf32_Phdr h = {s->type,
					(uint32_t)off[i],
					(uint32_t)s->vaddr,
					(uint32_t)s->paddr,
					(uint32_t)s->filesz,
					(uint32_t)s->memsz,
					PF_R | PF_X,
					(uint32_t)s->align};
			memcpy(p, &h, sizeof(h));
		}
		if (s->data)
			memcpy(b + off[i], s->data, s->filesz);
		else
			tfill(b + off[i], s->filesz, (uint32_t)i + 7);
		if (offs)
			offs[i] = off[i];
	}
	*size = total;
	return b;
}

/* One ELF note (name, type, desc) padded to align; returns its length. */
static inline size_t tnote(uint8_t *p, const char *name, uint32_t type, const void *desc,
			   uint32_t descsz, size_t align)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t n = 12, pad = align - 1;

	memset(p, 0, 12 + ((namesz + pad) & ~pad) + ((descsz + pad) & ~pad));
	put32(p, namesz);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + n, name, namesz);
	n += (namesz + pad) & ~pad;
	memcpy(p + n, desc, descsz);
	n += (descsz + pad) & ~pad;
	return n;
}

/* ---- compressors: the formats the kernel build emits, with its size trailer ---- */

static inline uint8_t *tcompress(enum decompress_format fmt, const uint8_t *in, size_t len,
				 size_t *out_len, int trailer)
{
	size_t cap = len + len / 2 + (1 << 16) + 64, n = 0;
	uint8_t *out = malloc(cap + 4);

	assert_non_null(out);
	switch (fmt) {
	case DECOMPRESS_GZIP: {
		z_stream z;
		memset(&z, 0, sizeof(z));
		assert_int_equal(
		    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		n = z.total_out;
		deflateEnd(&z);
		break;
	}
	case DECOMPRESS_XZ:
		assert_int_equal(
		    lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, &n, cap),
		    LZMA_OK);
		break;
	case DECOMPRESS_LZMA: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma opt;
		assert_false(lzma_lzma_preset(&opt, 6));
		assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
		s.next_in = in;
		s.avail_in = len;
		s.next_out = out;
		s.avail_out = cap;
		assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
		n = s.total_out;
		lzma_end(&s);
		break;
	}
	case DECOMPRESS_ZSTD:
		n = ZSTD_compress(out, cap, in, len, 19);
		assert_false(ZSTD_isError(n));
		break;
	case DECOMPRESS_LZ4: {
		const size_t blk = 8 << 20;
		put32(out, 0x184C2102u);
		n = 4;
		for (size_t pos = 0; pos < len; pos += blk) {
			size_t chunk = len - pos < blk ? len - pos : blk;
			int c = LZ4_compress_default((const char *)in + pos, (char *)out + n + 4,
						     (int)chunk, (int)(cap - n - 4));
			assert_true(c > 0);
			put32(out + n, (uint32_t)c);
			n += 4 + (size_t)c;
		}
		break;
	}
	case DECOMPRESS_BZIP2: {
		unsigned int dl = (unsigned int)cap;
		assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out, &dl, (char *)(uintptr_t)in,
							  (unsigned int)len, 9, 0, 0),
				 BZ_OK);
		n = dl;
		break;
	}
	default:
		fail();
	}
	if (trailer) {
		put32(out + n, (uint32_t)len);
		n += 4;
	}
	*out_len = n;
	return out;
}

#endif
