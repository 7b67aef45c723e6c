/* SPDX-License-Identifier: MIT */
/*
 * Bounded decompression of bzImage payloads (arch/x86/decompress.h), every
 * format. Input: byte 0 picks the format (0: the data as it is; 1-6: the data
 * after that format's magic bytes, so each decoder is reached at once; 7: the
 * data under a format it does not carry) and the output cap, byte 1 the size
 * hint, the rest is the stream. Checks decompress.h's contract: the error
 * codes, nothing returned on failure, never more than the cap; and that the cap
 * is exact: output of L bytes decompresses again under a cap of L to the same
 * bytes and fails with -EFBIG under a cap of L - 1.
 */
#include <errno.h>

#include "arch/x86/decompress.h"
#include "fuzz.h"

#define MAX_INPUT (1u << 20)

static const struct {
	const uint8_t *magic;
	size_t len;
} magics[] = {
    [DECOMPRESS_GZIP] = {(const uint8_t *)"\x1f\x8b", 2},
    [DECOMPRESS_BZIP2] = {(const uint8_t *)"BZh", 3},
    [DECOMPRESS_LZMA] = {(const uint8_t *)"\x5d\x00\x00", 3},
    [DECOMPRESS_XZ] = {(const uint8_t *)"\xfd\x37\x7a\x58\x5a\x00", 6}, /* fd "7zXZ" 00 */
    [DECOMPRESS_LZ4] = {(const uint8_t *)"\x02\x21\x4c\x18", 4},
    [DECOMPRESS_ZSTD] = {(const uint8_t *)"\x28\xb5\x2f\xfd", 4},
};

static int run(enum decompress_format fmt, const uint8_t *in, size_t len, size_t cap, size_t hint,
	       uint8_t **out, size_t *out_len)
{
	char err[256];
	int rc;

	*out = (uint8_t *)1;
	*out_len = 12345;
	err[0] = 'x';
	rc = decompress_buffer(fmt, in, len, cap, hint, out, out_len, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -ENOEXEC || rc == -EFBIG || rc == -ENOMEM);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (rc) {
		FUZZ_CHECK(*out == NULL && *out_len == 0);
		FUZZ_CHECK(err[0] != 0);
	} else {
		FUZZ_CHECK(*out != NULL && *out_len <= cap);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[8] = {0, 1, 17, 4096, 65536, 1u << 20, (8u << 20) + 1, 16u << 20};
	enum decompress_format fmt;
	size_t cap, hint, len, out_len, len2;
	uint8_t *buf, *out, *out2;
	unsigned sel;
	int rc;

	if (size < 2 || size - 2 > MAX_INPUT)
		return 0;
	sel = data[0] & 7;
	cap = caps[(data[0] >> 3) & 7];
	switch (data[1] & 7) {
	case 0:
		hint = 0;
		break;
	case 1:
		hint = 1;
		break;
	case 2:
		hint = cap;
		break;
	case 3:
		hint = cap + 1;
		break;
	case 4:
		hint = SIZE_MAX;
		break;
	default:
		hint = (size_t)data[1] << 12;
		break;
	}
	data += 2;
	size -= 2;

	/* A copy of exactly the stream's size, so ASan sees any overread. */
	len = size + (sel >= 1 && sel <= 6 ? magics[sel].len : 0);
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	if (sel >= 1 && sel <= 6) {
		fmt = (enum decompress_format)sel;
		memcpy(buf, magics[sel].magic, magics[sel].len);
		memcpy(buf + magics[sel].len, data, size);
	} else {
		memcpy(buf, data, size);
		fmt = decompress_detect(buf, len);
		if (sel == 7) /* the wrong format must be refused, not decoded */
			fmt = (enum decompress_format)(fmt % 6 + 1);
	}

	rc = run(fmt, buf, len, cap, hint, &out, &out_len);
	if (getenv("KVMM_FUZZ_VERBOSE"))
		fprintf(stderr, "%s: %d, %zu bytes (cap %zu)\n", decompress_name(fmt), rc,
			rc ? 0 : out_len, cap);
	if (sel == 7)
		FUZZ_CHECK(rc == -ENOEXEC);
	if (!rc) {
		FUZZ_CHECK(decompress_detect(buf, len) == fmt);
		/* The same output under a cap of exactly its size... */
		FUZZ_CHECK(run(fmt, buf, len, out_len, hint, &out2, &len2) == 0);
		FUZZ_CHECK(len2 == out_len && !memcmp(out, out2, out_len));
		free(out2);
		/* ...and not one byte less. */
		if (out_len)
			FUZZ_CHECK(run(fmt, buf, len, out_len - 1, hint, &out2, &len2) == -EFBIG);
		free(out);
	}
	free(buf);
	return 0;
}
