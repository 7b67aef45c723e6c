/* SPDX-License-Identifier: MIT */
/*
 * "key=value,..." option strings; see keyval.h. The syntax follows QEMU's
 * QemuOpts (docs/system/invocation: "-drive file=a,,b" names the file "a,b").
 */
#include "util/keyval.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void keyval_init(struct keyval_iter *it, const char *s, const char *implied_key)
{
	it->pos = s;
	it->first = true;
	it->implied_key = implied_key;
}

static bool keyval_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Copies the value at s up to an unescaped comma into val; returns the end or NULL. */
static const char *keyval_value(const char *s, char *val, size_t vlen, size_t *n)
{
	*n = 0;
	for (;;) {
		if (*s == ',') {
			if (s[1] != ',')
				break;
			s++; /* ",," is one literal comma */
		} else if (!*s) {
			break;
		}
		if (*n + 1 >= vlen)
			return NULL;
		val[(*n)++] = *s++;
	}
	val[*n] = '\0';
	return s;
}

int keyval_next(struct keyval_iter *it, char *key, char *val, size_t vlen, char *err,
		size_t errlen)
{
	const char *s = it->pos, *eq, *end;
	size_t klen = 0, n;
	bool first = it->first;

	if (!s || !*s)
		return 0; /* the end; an empty string has no pairs */
	it->first = false;
	if (vlen == 0) {
		snprintf(err, errlen, "no room for a value");
		return -EINVAL;
	}
	/* The key: up to '=' (keys never contain commas). */
	eq = s;
	while (keyval_key_char(*eq))
		eq++;
	if (*eq != '=') {
		if (first && it->implied_key) {
			/* A bare first item is the implied key's value: "--disk FILE,..." */
			if (strlen(it->implied_key) >= KEYVAL_KEY_MAX) {
				snprintf(err, errlen, "implied key too long");
				return -EINVAL;
			}
			strcpy(key, it->implied_key);
			end = keyval_value(s, val, vlen, &n);
			goto value_done;
		}
		size_t item = strcspn(s, ",");
		const char *e = memchr(s, '=', item);

		if (!item)
			snprintf(err, errlen, "empty item");
		else if (e)
			snprintf(err, errlen, "bad character '%c' in key '%.*s'", *eq, (int)(e - s), s);
		else
			snprintf(err, errlen, "'%.*s' is not key=value", (int)item, s);
		return -EINVAL;
	}
	klen = (size_t)(eq - s);
	if (klen == 0) {
		snprintf(err, errlen, "empty key before '='");
		return -EINVAL;
	}
	if (klen >= KEYVAL_KEY_MAX) {
		snprintf(err, errlen, "key '%.*s...' is too long", 16, s);
		return -EINVAL;
	}
	memcpy(key, s, klen);
	key[klen] = '\0';
	end = keyval_value(eq + 1, val, vlen, &n);
value_done:
	if (!end) {
		snprintf(err, errlen, "value of '%s' is longer than %zu characters", key, vlen - 1);
		return -EINVAL;
	}
	if (*end == ',') {
		end++;
		if (!*end) {
			snprintf(err, errlen, "trailing comma after '%s'", key);
			return -EINVAL;
		}
	}
	it->pos = end;
	return 1;
}

int keyval_bool(const char *val, bool *out)
{
	static const char *const on[] = {"on", "yes", "true", "1"};
	static const char *const off[] = {"off", "no", "false", "0"};

	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (!strcmp(val, on[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(val, off[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}
