/* SPDX-License-Identifier: MIT */
/*
 * Option values of the form "key=value,key=value" (QEMU's -drive syntax): a
 * comma ends a pair, ",," stands for a literal comma inside a value, and the
 * first item may be a bare value that the caller names (--disk FILE is
 * --disk path=FILE). Used by the command line; pure, so it is fuzzed
 * (tests/fuzz/fuzz_keyval.c).
 */
#ifndef KVMM_UTIL_KEYVAL_H
#define KVMM_UTIL_KEYVAL_H

#include <stdbool.h>
#include <stddef.h>

#define KEYVAL_KEY_MAX 32u

struct keyval_iter {
	const char *pos; /* the rest of the string */
	bool first;
	const char *implied_key; /* key of a bare first item; NULL: not allowed */
};

void keyval_init(struct keyval_iter *it, const char *s, const char *implied_key);

/*
 * Takes the next pair: key (NUL-terminated, at most KEYVAL_KEY_MAX - 1
 * characters of [a-z0-9_-]) and value (",," unescaped, NUL-terminated, into
 * val of vlen bytes). Returns 1 with a pair, 0 at the end, or -EINVAL with a
 * reason in err: an empty item, a key without '=', a bad or long key, a value
 * longer than vlen - 1.
 */
int keyval_next(struct keyval_iter *it, char *key, char *val, size_t vlen, char *err,
		size_t errlen);

/* "on"/"off" (also yes/no, true/false, 1/0) into *out; -EINVAL otherwise. */
int keyval_bool(const char *val, bool *out);

#endif
