/* SPDX-License-Identifier: MIT */
/* Host-side payload decompression: detection, round trips, bounds, hostile streams. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot_fixtures.h"

static const enum decompress_format all_formats[] = {
    DECOMPRESS_GZIP, DECOMPRESS_XZ,  DECOMPRESS_LZMA,
    DECOMPRESS_ZSTD, DECOMPRESS_LZ4, DECOMPRESS_BZIP2,
};
#define NFORMATS (sizeof(all_formats) / sizeof(all_formats[0]))

static void test_detect(void **state)
{
	(void)state;
	assert_int_equal(decompress_detect((const uint8_t *)"\x1f\x8b\x08", 3), DECOMPRESS_GZIP);
	assert_int_equal(decompress_detect((const uint8_t *)"\xfd"
							    "7zXZ\0\0",
					   7),
			 DECOMPRESS_XZ);
	assert_int_equal(decompress_detect((const uint8_t *)"\x5d\0\0\x80\0", 5), DECOMPRESS_LZMA);
	assert_int_equal(decompress_detect((const uint8_t *)"\x28\xb5\x2f\xfd", 4),
			 DECOMPRESS_ZSTD);
	assert_int_equal(decompress_detect((const uint8_t *)"\x02\x21\x4c\x18", 4), DECOMPRESS_LZ4);
	assert_int_equal(decompress_detect((const uint8_t *)"BZh9", 4), DECOMPRESS_BZIP2);
	/* LZO (the kernel's "\x89LZO") and short or empty input are unknown. */
	assert_int_equal(decompress_detect((const uint8_t *)"\x89LZO\0", 5), DECOMPRESS_UNKNOWN);
	assert_int_equal(decompress_detect((const uint8_t *)"\x1f", 1), DECOMPRESS_UNKNOWN);
	assert_int_equal(decompress_detect((const uint8_t *)"\xfd"
							    "7zX",
					   4),
			 DECOMPRESS_UNKNOWN);
	assert_int_equal(decompress_detect((const uint8_t *)"", 0), DECOMPRESS_UNKNOWN);
	assert_string_equal(decompress_name(DECOMPRESS_LZ4), "lz4");
	assert_string_equal(decompress_name(DECOMPRESS_UNKNOWN), "unknown");
}

/* Every format round-trips, stops before the kernel's size trailer, with any hint. */
static void test_roundtrip(void **state)
{
	const size_t len = 300000;
	uint8_t *data = malloc(len);
	char err[256];
	(void)state;

	tfill(data, len, 1);
	for (size_t f = 0; f < NFORMATS; f++) {
		const size_t hints[] = {0, len, 100, 10 * MiB};
		size_t clen;
		uint8_t *c = tcompress(all_formats[f], data, len, &clen, 1);

		assert_int_equal(decompress_detect(c, clen), all_formats[f]);
		for (size_t h = 0; h < 4; h++) {
			uint8_t *out;
			size_t out_len;
			int ret = decompress_buffer(all_formats[f], c, clen, 64 * MiB, hints[h],
						    &out, &out_len, err, sizeof(err));
			if (ret)
				print_error("%s: %s\n", decompress_name(all_formats[f]), err);
			assert_int_equal(ret, 0);
			assert_int_equal(out_len, len);
			assert_memory_equal(out, data, len);
			free(out);
		}
		free(c);
	}
	free(data);
}

/* Output exactly at the limit is fine; one byte over is -EFBIG. */
static void test_limit(void **state)
{
	const size_t len = 200000;
	uint8_t *data = malloc(len);
	char err[256];
	(void)state;

	tfill(data, len, 2);
	for (size_t f = 0; f < NFORMATS; f++) {
		size_t clen, out_len;
		uint8_t *out, *c = tcompress(all_formats[f], data, len, &clen, 1);

		assert_int_equal(decompress_buffer(all_formats[f], c, clen, len, 0, &out, &out_len,
						   err, sizeof(err)),
				 0);
		assert_int_equal(out_len, len);
		free(out);
		assert_int_equal(decompress_buffer(all_formats[f], c, clen, len - 1, 0, &out,
						   &out_len, err, sizeof(err)),
				 -EFBIG);
		assert_null(out);
		assert_non_null(strstr(err, "exceeds"));
		/* A hint above the limit does not lift it. */
		assert_int_equal(decompress_buffer(all_formats[f], c, clen, 1000, 10 * MiB, &out,
						   &out_len, err, sizeof(err)),
				 -EFBIG);
		free(c);
	}
	free(data);
}

/* Streams cut short are refused, whatever the format. */
static void test_truncated(void **state)
{
	const size_t len = 200000;
	uint8_t *data = malloc(len);
	char err[256];
	(void)state;

	tfill(data, len, 3);
	for (size_t f = 0; f < NFORMATS; f++) {
		size_t clen, out_len;
		uint8_t *out, *c = tcompress(all_formats[f], data, len, &clen, 0);
		int ret;

		ret = decompress_buffer(all_formats[f], c, clen / 2, 64 * MiB, 0, &out, &out_len,
					err, sizeof(err));
		assert_int_equal(ret, -ENOEXEC);
		assert_null(out);
		assert_true(strlen(err) > 0);
		ret = decompress_buffer(all_formats[f], c, 7, 64 * MiB, 0, &out, &out_len, err,
					sizeof(err));
		assert_int_equal(ret, -ENOEXEC);
		free(c);
	}
	free(data);
}

/* Corrupted streams (checksummed formats) are refused, never crash. */
static void test_corrupt(void **state)
{
	const size_t len = 200000;
	uint8_t *data = malloc(len);
	char err[256];
	(void)state;

	tfill(data, len, 4);
	for (size_t f = 0; f < NFORMATS; f++) {
		size_t clen, out_len;
		uint8_t *out, *c = tcompress(all_formats[f], data, len, &clen, 0);
		int ret;

		if (all_formats[f] == DECOMPRESS_LZ4 || all_formats[f] == DECOMPRESS_LZMA ||
		    all_formats[f] == DECOMPRESS_ZSTD) {
			/* No checksum in these streams: flips may decode to other bytes. */
			for (size_t i = 16; i < clen; i += 97)
				c[i] ^= 0x5a;
			ret = decompress_buffer(all_formats[f], c, clen, 4 * MiB, 0, &out, &out_len,
						err, sizeof(err));
			if (!ret)
				free(out);
			assert_true(ret == 0 || ret == -ENOEXEC || ret == -EFBIG);
		} else {
			c[clen / 2] ^= 0xff;
			c[clen / 2 + 1] ^= 0x55;
			ret = decompress_buffer(all_formats[f], c, clen, 4 * MiB, 0, &out, &out_len,
						err, sizeof(err));
			assert_int_equal(ret, -ENOEXEC);
			assert_non_null(strstr(err, decompress_name(all_formats[f])));
		}
		free(c);
	}
	free(data);
}

/*
 * lz4 legacy frames: several 8 MiB blocks, a short last block, the size
 * trailer after an exact multiple of 8 MiB, concatenated frames, bad sizes.
 */
static void test_lz4_frames(void **state)
{
	const size_t big = 16 * MiB;
	uint8_t *data = malloc(big + 12345), *out, *c, *two;
	size_t clen, out_len, c2len;
	char err[256];
	(void)state;

	tfill(data, big + 12345, 5);
	/* 2 full blocks + a short one, with trailer. */
	c = tcompress(DECOMPRESS_LZ4, data, big + 12345, &clen, 1);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, c, clen, 64 * MiB, 0, &out, &out_len,
					   err, sizeof(err)),
			 0);
	assert_int_equal(out_len, big + 12345);
	assert_memory_equal(out, data, out_len);
	free(out);
	free(c);

	/* After a short (last) block, what follows is not read, even if it could be a block. */
	c = tcompress(DECOMPRESS_LZ4, data, 12345, &clen, 0);
	c = realloc(c, clen + 8);
	put32(c + clen, 4);
	memcpy(c + clen + 4, "\xff\xff\xff\xff", 4);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, c, clen + 8, 64 * MiB, 0, &out, &out_len,
					   err, sizeof(err)),
			 0);
	assert_int_equal(out_len, 12345);
	free(out);
	free(c);

	/* Exactly 2 full blocks: the trailer (the size) must not be taken for a block. */
	c = tcompress(DECOMPRESS_LZ4, data, big, &clen, 1);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, c, clen, 64 * MiB, 0, &out, &out_len,
					   err, sizeof(err)),
			 0);
	assert_int_equal(out_len, big);
	free(out);

	/* Two frames back to back decode as one stream. */
	c2len = clen - 4; /* without trailer */
	two = malloc(2 * c2len);
	memcpy(two, c, c2len);
	memcpy(two + c2len, c, c2len);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, two, 2 * c2len, 64 * MiB, 0, &out,
					   &out_len, err, sizeof(err)),
			 0);
	assert_int_equal(out_len, 2 * big);
	free(out);
	free(two);

	/* First block claims more bytes than the input holds. */
	put32(c + 4, (uint32_t)clen);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, c, clen, 64 * MiB, 0, &out, &out_len,
					   err, sizeof(err)),
			 -ENOEXEC);
	assert_non_null(strstr(err, "lz4: block 0"));
	/* A zero-sized block. */
	put32(c + 4, 0);
	assert_int_equal(decompress_buffer(DECOMPRESS_LZ4, c, clen, 64 * MiB, 0, &out, &out_len,
					   err, sizeof(err)),
			 -ENOEXEC);
	/* Just the magic. */
	assert_int_equal(
	    decompress_buffer(DECOMPRESS_LZ4, c, 4, 64 * MiB, 0, &out, &out_len, err, sizeof(err)),
	    -ENOEXEC);
	assert_non_null(strstr(err, "no blocks"));
	free(c);
	free(data);
}

static void test_wrong_format(void **state)
{
	uint8_t junk[64], *out;
	size_t out_len;
	char err[256];
	(void)state;

	memset(junk, 0x11, sizeof(junk));
	assert_int_equal(decompress_buffer(DECOMPRESS_GZIP, junk, sizeof(junk), MiB, 0, &out,
					   &out_len, err, sizeof(err)),
			 -ENOEXEC);
	assert_string_equal(err, "data is not in gzip format");
	assert_int_equal(decompress_buffer(DECOMPRESS_UNKNOWN, junk, sizeof(junk), MiB, 0, &out,
					   &out_len, NULL, 0),
			 -ENOEXEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),	 cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_limit),	 cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_corrupt),	 cmocka_unit_test(test_lz4_frames),
	    cmocka_unit_test(test_wrong_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
