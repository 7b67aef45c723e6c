/* SPDX-License-Identifier: MIT */
/*
 * Option strings (util/keyval.h), as --disk takes them from the command line.
 * The first input byte picks the value buffer size and whether a bare first
 * item is allowed; the rest is the string. Checked: every key is 1..31
 * characters of [a-z0-9_-] (or the implied key), values fit their buffer, and
 * a string parsed to the end without error is given back exactly by
 * re-encoding its pairs (",," for each comma in a value).
 */
#include <errno.h>

#include "fuzz.h"
#include "util/keyval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char s[4096], enc[3 * 4096 + 64];
	char key[KEYVAL_KEY_MAX], val[512], err[160];
	struct keyval_iter it;
	size_t vlen, n, e = 0;
	bool implied;
	int rc, items = 0;

	if (size < 1)
		return 0;
	vlen = 1 + data[0] % sizeof(val);
	implied = data[0] & 0x80;
	n = size - 1 < sizeof(s) - 1 ? size - 1 : sizeof(s) - 1;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	n = strlen(s);

	keyval_init(&it, s, implied ? "path" : NULL);
	while ((rc = keyval_next(&it, key, val, vlen, err, sizeof(err))) == 1) {
		size_t kl = strlen(key), vl = strlen(val);

		FUZZ_CHECK(vl < vlen);
		FUZZ_CHECK(kl >= 1 && kl < KEYVAL_KEY_MAX);
		if (items)
			enc[e++] = ',';
		if (!(items == 0 && implied && !strcmp(key, "path") &&
		      strncmp(s, "path=", 5) != 0)) {
			for (size_t i = 0; i < kl; i++)
				FUZZ_CHECK((key[i] >= 'a' && key[i] <= 'z') ||
					   (key[i] >= '0' && key[i] <= '9') || key[i] == '_' ||
					   key[i] == '-');
			memcpy(enc + e, key, kl);
			e += kl;
			enc[e++] = '=';
		}
		for (size_t i = 0; i < vl; i++) {
			if (val[i] == ',')
				enc[e++] = ',';
			enc[e++] = val[i];
		}
		items++;
		FUZZ_CHECK(e < sizeof(enc) - 64);
	}
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == -EINVAL)
		FUZZ_CHECK(err[0] != '\0');
	if (rc == 0) {
		enc[e] = '\0';
		FUZZ_CHECK(e == n && !memcmp(enc, s, n));
	}
	return 0;
}
