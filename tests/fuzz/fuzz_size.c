/* SPDX-License-Identifier: MIT */
/*
 * Command-line number parsing (util/size.h): size_parse and size_parse_uint on
 * the input as a NUL-terminated string, each checked against a reference
 * written from size.h's contract with 128-bit arithmetic, and log_parse_level.
 * The first input byte picks the default unit and the [min, max] range.
 */
#include <errno.h>
#include <inttypes.h>
#include <strings.h>

#include "fuzz.h"
#include "util/log.h"
#include "util/size.h"

typedef unsigned __int128 u128;

/* digits; -EINVAL without any, -ERANGE past 64 bits. */
static int ref_digits(const char **s, u128 *v)
{
	if (**s < '0' || **s > '9')
		return -EINVAL;
	*v = 0;
	while (**s >= '0' && **s <= '9') {
		*v = *v * 10 + (u128)(**s - '0');
		if (*v > UINT64_MAX)
			return -ERANGE;
		(*s)++;
	}
	return 0;
}

/* size.h: a number, then an optional K/M/G/T, then an optional "B" or (after a unit) "iB". */
static int ref_size(const char *s, uint64_t unit, uint64_t *out)
{
	u128 v, mult = unit;
	int rc = ref_digits(&s, &v);

	if (rc)
		return rc;
	if (*s) {
		switch (*s | 0x20) {
		case 'k':
			mult = 1ULL << 10;
			break;
		case 'm':
			mult = 1ULL << 20;
			break;
		case 'g':
			mult = 1ULL << 30;
			break;
		case 't':
			mult = 1ULL << 40;
			break;
		case 'b':
			mult = 1;
			break;
		default:
			return -EINVAL;
		}
		if ((*s | 0x20) == 'b') {
			if (s[1])
				return -EINVAL;
		} else if (s[1] && strcasecmp(s + 1, "b") && strcasecmp(s + 1, "ib")) {
			return -EINVAL;
		}
	}
	if (v * mult > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)(v * mult);
	return 0;
}

static int ref_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	u128 v;
	int rc = ref_digits(&s, &v);

	if (rc)
		return rc;
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t units[4] = {1, 1ULL << 20, 0, 1ULL << 40};
	static const uint64_t bounds[4][2] = {
	    {0, UINT64_MAX}, {1, 254}, {4ULL << 20, 1ULL << 40}, {5, 5}};
	uint64_t unit, min, max, got = 0xdead, want = 0xbeef, again;
	char *s, buf[32];
	int rc, ref;

	if (!size)
		return 0;
	unit = units[data[0] & 3];
	min = bounds[(data[0] >> 2) & 3][0];
	max = bounds[(data[0] >> 2) & 3][1];
	s = malloc(size); /* exactly the string and its NUL, so ASan sees any overread */
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;

	rc = size_parse(s, unit, &got);
	ref = ref_size(s, unit, &want);
	if (rc != ref || (!rc && got != want))
		fprintf(stderr,
			"size_parse(\"%s\", %" PRIu64 ") = %d, %" PRIu64 ", reference %d, %" PRIu64
			"\n",
			s, unit, rc, got, ref, want);
	FUZZ_CHECK(rc == ref);
	FUZZ_CHECK(rc || got == want);
	if (!rc) {
		/* Printing the value in bytes and parsing it again gives it back. */
		snprintf(buf, sizeof(buf), "%" PRIu64 "B", got);
		FUZZ_CHECK(size_parse(buf, 1ULL << 20, &again) == 0 && again == got);
	}

	got = 0xdead;
	rc = size_parse_uint(s, min, max, &got);
	ref = ref_uint(s, min, max, &want);
	FUZZ_CHECK(rc == ref);
	FUZZ_CHECK(rc || (got == want && got >= min && got <= max));

	rc = log_parse_level(s);
	FUZZ_CHECK(rc >= -1 && rc <= LOG_DEBUG);
	free(s);
	return 0;
}
