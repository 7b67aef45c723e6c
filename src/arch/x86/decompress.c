/* SPDX-License-Identifier: MIT */
/*
 * Bounded host-side decompression of bzImage payloads; see decompress.h.
 * Formats, by their specifications:
 *   gzip  RFC 1952 (zlib's inflate with gzip framing)
 *   bzip2 the bzip2 stream format (libbz2)
 *   lzma  the legacy .lzma "alone" format, xz  the .xz file format 1.0.4 (liblzma)
 *   zstd  RFC 8878 (libzstd's streaming decoder)
 *   lz4   lz4_Frame_format.md, "Legacy frame": magic 0x184C2102, then blocks of a
 *         4-byte little-endian compressed size and LZ4 block data, each
 *         decompressing to 8 MiB except the last; ends at end of input or at a
 *         field that cannot be a block (the kernel appends its size there)
 * Every decoder writes into one growing buffer that never exceeds max_out + 1
 * bytes, so a hostile stream cannot make the host allocate without bound.
 */
#define ZLIB_CONST
#include "arch/x86/decompress.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define LZ4_LEGACY_MAGIC     0x184C2102u
#define LZ4_LEGACY_BLOCK     (8u << 20)
#define DECOMPRESS_MEMLIMIT  (256ULL << 20) /* liblzma decoder state (dictionary) */
#define DECOMPRESS_FIRST_CAP (4u << 20)

struct outbuf {
	uint8_t *p;
	size_t len, cap;
	size_t limit; /* max_out + 1: reaching it proves the output is too big */
};

static int decompress_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int decompress_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Makes room for want more bytes, doubling the buffer, never past limit. */
static int decompress_reserve(struct outbuf *ob, size_t want)
{
	size_t cap = ob->cap ? ob->cap : DECOMPRESS_FIRST_CAP;
	uint8_t *p;

	if (want > ob->limit - ob->len)
		return -EFBIG;
	if (ob->cap - ob->len >= want)
		return 0;
	while (cap < ob->limit && cap - ob->len < want)
		cap = cap > ob->limit / 2 ? ob->limit : cap * 2;
	if (cap > ob->limit)
		cap = ob->limit;
	p = realloc(ob->p, cap);
	if (!p)
		return -ENOMEM;
	ob->p = p;
	ob->cap = cap;
	return 0;
}

/* Room for at least one more byte, for decoders that stream into what is left. */
static int decompress_grow(struct outbuf *ob)
{
	return ob->len < ob->cap ? 0 : decompress_reserve(ob, 1);
}

static int decompress_gzip(const uint8_t *in, size_t len, struct outbuf *ob, char *err,
			   size_t errlen)
{
	z_stream z;
	size_t in_left = len;
	int zr, ret;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return decompress_fail(err, errlen, -ENOMEM, "gzip: cannot set up zlib");
	z.next_in = in;
	for (;;) {
		uInt room, in_chunk;

		ret = decompress_grow(ob);
		if (ret)
			break;
		if (!z.avail_in && in_left) {
			in_chunk = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
			z.avail_in = in_chunk;
			in_left -= in_chunk;
		}
		room = ob->cap - ob->len > UINT_MAX ? UINT_MAX : (uInt)(ob->cap - ob->len);
		z.next_out = ob->p + ob->len;
		z.avail_out = room;
		zr = inflate(&z, Z_NO_FLUSH);
		ob->len += room - z.avail_out;
		if (zr == Z_STREAM_END) {
			ret = 0;
			break;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_MEM_ERROR) {
			ret = decompress_fail(err, errlen, -ENOMEM, "gzip: out of memory");
			break;
		}
		if (zr == Z_BUF_ERROR && !z.avail_in && !in_left) {
			ret = decompress_fail(err, errlen, -ENOEXEC,
					      "gzip: stream is truncated after %zu bytes of output",
					      ob->len);
			break;
		}
		ret = decompress_fail(err, errlen, -ENOEXEC,
				      "gzip: corrupt data at input byte %zu: %s",
				      len - in_left - z.avail_in, z.msg ? z.msg : "error");
		break;
	}
	inflateEnd(&z);
	return ret;
}

static int decompress_lzma_run(lzma_stream *s, const char *name, const uint8_t *in, size_t len,
			       struct outbuf *ob, char *err, size_t errlen)
{
	lzma_ret lr;
	int ret;

	s->next_in = in;
	s->avail_in = len;
	for (;;) {
		size_t room;

		ret = decompress_grow(ob);
		if (ret)
			return ret;
		room = ob->cap - ob->len;
		s->next_out = ob->p + ob->len;
		s->avail_out = room;
		lr = lzma_code(s, LZMA_FINISH);
		ob->len += room - s->avail_out;
		switch (lr) {
		case LZMA_STREAM_END:
			return 0;
		case LZMA_OK:
			continue;
		case LZMA_MEM_ERROR:
			return decompress_fail(err, errlen, -ENOMEM, "%s: out of memory", name);
		case LZMA_MEMLIMIT_ERROR:
			return decompress_fail(err, errlen, -ENOEXEC,
					       "%s: stream needs %llu MiB of decoder memory "
					       "(limit %llu MiB)",
					       name, (unsigned long long)(lzma_memusage(s) >> 20),
					       (unsigned long long)(DECOMPRESS_MEMLIMIT >> 20));
		case LZMA_BUF_ERROR:
			if (!s->avail_in)
				return decompress_fail(err, errlen, -ENOEXEC,
						       "%s: stream is truncated after %zu bytes of "
						       "output",
						       name, ob->len);
			/* fall through */
		default:
			return decompress_fail(
			    err, errlen, -ENOEXEC,
			    "%s: corrupt data at input byte %zu (liblzma error %d)", name,
			    len - s->avail_in, (int)lr);
		}
	}
}

static int decompress_xz(enum decompress_format fmt, const uint8_t *in, size_t len,
			 struct outbuf *ob, char *err, size_t errlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	const char *name = decompress_name(fmt);
	lzma_ret lr;
	int ret;

	/* No LZMA_CONCATENATED: stop after the first stream, before the size trailer. */
	if (fmt == DECOMPRESS_XZ)
		lr = lzma_stream_decoder(&s, DECOMPRESS_MEMLIMIT, 0);
	else
		lr = lzma_alone_decoder(&s, DECOMPRESS_MEMLIMIT);
	if (lr != LZMA_OK)
		return decompress_fail(err, errlen, -ENOMEM, "%s: cannot set up liblzma", name);
	ret = decompress_lzma_run(&s, name, in, len, ob, err, errlen);
	lzma_end(&s);
	return ret;
}

static int decompress_zstd(const uint8_t *in, size_t len, struct outbuf *ob, char *err,
			   size_t errlen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, len, 0};
	int ret;

	if (!d)
		return decompress_fail(err, errlen, -ENOMEM, "zstd: cannot set up libzstd");
	for (;;) {
		ZSTD_outBuffer o;
		size_t r;

		ret = decompress_grow(ob);
		if (ret)
			break;
		o = (ZSTD_outBuffer){ob->p + ob->len, ob->cap - ob->len, 0};
		r = ZSTD_decompressStream(d, &o, &ib);
		ob->len += o.pos;
		if (ZSTD_isError(r)) {
			ret = decompress_fail(err, errlen, -ENOEXEC,
					      "zstd: corrupt data at input byte %zu: %s", ib.pos,
					      ZSTD_getErrorName(r));
			break;
		}
		if (r == 0) {
			ret = 0;
			break;
		}
		if (ib.pos == ib.size && o.pos < o.size) {
			ret = decompress_fail(err, errlen, -ENOEXEC,
					      "zstd: stream is truncated after %zu bytes of output",
					      ob->len);
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return ret;
}

static int decompress_bzip2(const uint8_t *in, size_t len, struct outbuf *ob, char *err,
			    size_t errlen)
{
	bz_stream s;
	size_t in_left = len;
	int br, ret;

	memset(&s, 0, sizeof(s));
	if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK)
		return decompress_fail(err, errlen, -ENOMEM, "bzip2: cannot set up libbz2");
	/* libbz2 predates const; it never writes through next_in. */
	s.next_in = (char *)(uintptr_t)in;
	for (;;) {
		unsigned int room, in_chunk;

		ret = decompress_grow(ob);
		if (ret)
			break;
		if (!s.avail_in && in_left) {
			in_chunk = in_left > UINT_MAX ? UINT_MAX : (unsigned int)in_left;
			s.avail_in = in_chunk;
			in_left -= in_chunk;
		}
		room = ob->cap - ob->len > UINT_MAX ? UINT_MAX : (unsigned int)(ob->cap - ob->len);
		s.next_out = (char *)(ob->p + ob->len);
		s.avail_out = room;
		br = BZ2_bzDecompress(&s);
		ob->len += room - s.avail_out;
		if (br == BZ_STREAM_END) {
			ret = 0;
			break;
		}
		if (br == BZ_OK) {
			if (!s.avail_in && !in_left && s.avail_out) {
				ret =
				    decompress_fail(err, errlen, -ENOEXEC,
						    "bzip2: stream is truncated after %zu bytes of "
						    "output",
						    ob->len);
				break;
			}
			continue;
		}
		if (br == BZ_MEM_ERROR) {
			ret = decompress_fail(err, errlen, -ENOMEM, "bzip2: out of memory");
			break;
		}
		ret = decompress_fail(err, errlen, -ENOEXEC,
				      "bzip2: corrupt data at input byte %zu (libbz2 error %d)",
				      len - in_left - s.avail_in, br);
		break;
	}
	BZ2_bzDecompressEnd(&s);
	return ret;
}

static uint32_t decompress_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int decompress_lz4(const uint8_t *in, size_t len, struct outbuf *ob, char *err,
			  size_t errlen)
{
	const size_t bound = (size_t)LZ4_compressBound(LZ4_LEGACY_BLOCK);
	size_t pos = 4, blocks = 0;
	int frame_done = 0;

	while (len - pos >= 4) {
		uint32_t c = decompress_le32(in + pos);
		size_t want;
		int r, ret;

		if (c == LZ4_LEGACY_MAGIC) { /* another legacy frame follows */
			pos += 4;
			frame_done = 0;
			continue;
		}
		/* After a short block, or where no block can be, the stream has ended. */
		if (frame_done || (blocks && (c > len - pos - 4 || c > bound)))
			break;
		if (!c || c > bound || c > len - pos - 4)
			return decompress_fail(err, errlen, -ENOEXEC,
					       "lz4: block %zu at input byte %zu claims %u bytes "
					       "(%zu left, at most %zu allowed)",
					       blocks, pos, c, len - pos - 4, bound);
		want =
		    ob->limit - ob->len < LZ4_LEGACY_BLOCK ? ob->limit - ob->len : LZ4_LEGACY_BLOCK;
		ret = decompress_reserve(ob, want);
		if (ret)
			return ret;
		r = LZ4_decompress_safe((const char *)in + pos + 4, (char *)ob->p + ob->len, (int)c,
					(int)want);
		if (r < 0) {
			if (want < LZ4_LEGACY_BLOCK)
				return decompress_fail(err, errlen, -EFBIG,
						       "lz4: block %zu is corrupt or decompresses "
						       "beyond the %zu-byte limit",
						       blocks, ob->limit - 1);
			return decompress_fail(err, errlen, -ENOEXEC,
					       "lz4: block %zu at input byte %zu is corrupt",
					       blocks, pos);
		}
		ob->len += (size_t)r;
		pos += 4 + c;
		blocks++;
		if ((size_t)r < LZ4_LEGACY_BLOCK)
			frame_done = 1;
	}
	if (!blocks)
		return decompress_fail(err, errlen, -ENOEXEC, "lz4: stream has no blocks");
	return 0;
}

enum decompress_format decompress_detect(const uint8_t *b, size_t len)
{
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return DECOMPRESS_GZIP;
	if (len >= 6 && !memcmp(b,
				"\xfd"
				"7zXZ\0",
				6))
		return DECOMPRESS_XZ;
	if (len >= 3 && b[0] == 0x5d && b[1] == 0 && b[2] == 0)
		return DECOMPRESS_LZMA;
	if (len >= 4 && decompress_le32(b) == 0xFD2FB528u)
		return DECOMPRESS_ZSTD;
	if (len >= 4 && decompress_le32(b) == LZ4_LEGACY_MAGIC)
		return DECOMPRESS_LZ4;
	if (len >= 3 && !memcmp(b, "BZh", 3))
		return DECOMPRESS_BZIP2;
	return DECOMPRESS_UNKNOWN;
}

const char *decompress_name(enum decompress_format fmt)
{
	switch (fmt) {
	case DECOMPRESS_GZIP:
		return "gzip";
	case DECOMPRESS_BZIP2:
		return "bzip2";
	case DECOMPRESS_LZMA:
		return "lzma";
	case DECOMPRESS_XZ:
		return "xz";
	case DECOMPRESS_LZ4:
		return "lz4";
	case DECOMPRESS_ZSTD:
		return "zstd";
	case DECOMPRESS_UNKNOWN:
		break;
	}
	return "unknown";
}

int decompress_buffer(enum decompress_format fmt, const uint8_t *in, size_t len, size_t max_out,
		      size_t hint, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	struct outbuf ob = {NULL, 0, 0, 0};
	int ret;

	*out = NULL;
	*out_len = 0;
	if (err && errlen)
		err[0] = 0;
	if (decompress_detect(in, len) != fmt || fmt == DECOMPRESS_UNKNOWN)
		return decompress_fail(err, errlen, -ENOEXEC, "data is not in %s format",
				       decompress_name(fmt));
	if (max_out > SIZE_MAX - 1)
		max_out = SIZE_MAX - 1;
	ob.limit = max_out + 1;
	if (fmt == DECOMPRESS_LZ4 && max_out > INT_MAX)
		ob.limit = (size_t)INT_MAX + 1;
	/* One allocation when the hint is right; +1 lets decoders see the end. */
	if (hint && hint < ob.limit && decompress_reserve(&ob, hint + 1) == -ENOMEM)
		return decompress_fail(err, errlen, -ENOMEM, "%s: out of host memory",
				       decompress_name(fmt));
	switch (fmt) {
	case DECOMPRESS_GZIP:
		ret = decompress_gzip(in, len, &ob, err, errlen);
		break;
	case DECOMPRESS_XZ:
	case DECOMPRESS_LZMA:
		ret = decompress_xz(fmt, in, len, &ob, err, errlen);
		break;
	case DECOMPRESS_ZSTD:
		ret = decompress_zstd(in, len, &ob, err, errlen);
		break;
	case DECOMPRESS_LZ4:
		ret = decompress_lz4(in, len, &ob, err, errlen);
		break;
	case DECOMPRESS_BZIP2:
		ret = decompress_bzip2(in, len, &ob, err, errlen);
		break;
	default:
		ret = -ENOEXEC;
		break;
	}
	if (!ret && ob.len > max_out)
		ret = -EFBIG;
	if (ret == -EFBIG)
		decompress_fail(err, errlen, -EFBIG, "%s: decompressed data exceeds %zu bytes",
				decompress_name(fmt), max_out);
	else if (ret == -ENOMEM && err && errlen && !err[0])
		decompress_fail(err, errlen, -ENOMEM, "%s: out of host memory",
				decompress_name(fmt));
	if (ret) {
		free(ob.p);
		return ret;
	}
	*out = ob.p;
	*out_len = ob.len;
	return 0;
}
