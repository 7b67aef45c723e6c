/* SPDX-License-Identifier: MIT */
/*
 * Host-side decompression of a Linux bzImage payload (the compressed vmlinux
 * that boot protocol 2.08+ describes with payload_offset/payload_length,
 * Documentation/arch/x86/boot.rst). The kernel build compresses with gzip,
 * bzip2, lzma, xz, lzo, lz4 (legacy frame, "lz4 -l") or zstd and appends the
 * decompressed size as 4 bytes; decoders here stop at the end of the first
 * stream and ignore what follows. Input is untrusted and output is bounded.
 */
#ifndef KVMM_ARCH_X86_DECOMPRESS_H
#define KVMM_ARCH_X86_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum decompress_format {
	DECOMPRESS_UNKNOWN = 0,
	DECOMPRESS_GZIP,  /* 1f 8b */
	DECOMPRESS_BZIP2, /* "BZh" */
	DECOMPRESS_LZMA,  /* 5d 00 00 (.lzma "alone" header) */
	DECOMPRESS_XZ,	  /* fd "7zXZ" 00 */
	DECOMPRESS_LZ4,	  /* 02 21 4c 18 (legacy frame) */
	DECOMPRESS_ZSTD,  /* 28 b5 2f fd */
};

/* The format whose magic bytes start buf, or DECOMPRESS_UNKNOWN. */
enum decompress_format decompress_detect(const uint8_t *buf, size_t len);

/* "gzip", "xz", ... for messages. */
const char *decompress_name(enum decompress_format fmt);

/*
 * Decompresses the first stream in in[0..len) into a malloc'ed buffer the
 * caller frees (*out, *out_len). Refuses output beyond max_out bytes. hint is
 * the expected output size (the kernel's appended size), used only to size the
 * first allocation; 0 when unknown. Returns 0,
 * -ENOEXEC for corrupt or truncated data (or an unknown format), -EFBIG when
 * the output would exceed max_out, -ENOMEM when the host is out of memory; the
 * reason goes to err.
 */
int decompress_buffer(enum decompress_format fmt, const uint8_t *in, size_t len, size_t max_out,
		      size_t hint, uint8_t **out, size_t *out_len, char *err, size_t errlen);

#endif
