/* SPDX-License-Identifier: MIT */
/* Size and count parsing for the command line; see size.h. */
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

int size_parse(const char *s, uint64_t default_unit, uint64_t *out)
{
	uint64_t v, mult;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_digits(&s, &v);
	if (rc)
		return rc;
	switch (toupper((unsigned char)*s)) {
	case '\0':
		mult = default_unit;
		break;
	case 'B':
		if (s[1])
			return -EINVAL; /* "5B" is bytes; "5BB" and "5BiB" are not sizes */
		mult = 1;
		s++;
		break;
	case 'K':
		mult = 1ULL << 10;
		s++;
		break;
	case 'M':
		mult = 1ULL << 20;
		s++;
		break;
	case 'G':
		mult = 1ULL << 30;
		s++;
		break;
	case 'T':
		mult = 1ULL << 40;
		s++;
		break;
	default:
		return -EINVAL;
	}
	if (mult != 1 || *s) {
		/* Accept "M", "MB", "MiB" alike. */
		if (strcasecmp(s, "ib") == 0 || strcasecmp(s, "b") == 0 || *s == '\0')
			;
		else
			return -EINVAL;
	}
	if (mult && v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int size_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_digits(&s, &v);
	if (rc)
		return rc;
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
