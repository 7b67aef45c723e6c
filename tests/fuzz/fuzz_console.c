/* SPDX-License-Identifier: MIT */
/*
 * The console's escape-key parser (machine/console.h), fed the input in chunks
 * the way the run loop does: each call gets exactly as much output room as it
 * has input, must make progress, and the actions and bytes for the guest must
 * not depend on where the host's reads split the stream. The reference is the
 * escape table of console.h. The first input byte picks the chunk size.
 */
#include "fuzz.h"
#include "machine/console.h"

struct ref {
	uint8_t *out;
	size_t out_len;
	enum console_action *acts;
	size_t nacts;
};

/* console.h: Ctrl-A then x quits, h (or ?) helps, Ctrl-A sends one Ctrl-A; others are dropped. */
static void ref_run(const uint8_t *in, size_t n, struct ref *r)
{
	bool esc = false;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];

		if (!esc) {
			if (c == CONSOLE_ESCAPE_CHAR)
				esc = true;
			else
				r->out[r->out_len++] = c;
			continue;
		}
		esc = false;
		if (c == 'x' || c == 'X')
			r->acts[r->nacts++] = CONSOLE_QUIT;
		else if (c == 'h' || c == 'H' || c == '?')
			r->acts[r->nacts++] = CONSOLE_HELP;
		else if (c == CONSOLE_ESCAPE_CHAR)
			r->out[r->out_len++] = c;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct console_esc st = {false};
	struct ref ref = {0}, got = {0};
	size_t chunk, off = 0;
	const uint8_t *in;
	size_t n;

	if (!size)
		return 0;
	chunk = data[0] ? data[0] : SIZE_MAX;
	in = data + 1;
	n = size - 1;
	ref.out = malloc(n + 1);
	ref.acts = malloc((n + 1) * sizeof(*ref.acts));
	got.out = malloc(n + 1);
	got.acts = malloc((n + 1) * sizeof(*got.acts));
	if (!ref.out || !ref.acts || !got.out || !got.acts)
		goto out;
	ref_run(in, n, &ref);

	while (off < n) {
		size_t len = n - off < chunk ? n - off : chunk, out_len = 0, used = 0;
		/* Exactly the room console.h promises is enough, so ASan catches more. */
		uint8_t *out = malloc(len);
		enum console_action a;

		if (!out)
			goto out;
		a = console_esc_feed(&st, in + off, len, out, &out_len, &used);
		FUZZ_CHECK(used >= 1 && used <= len);
		FUZZ_CHECK(out_len <= used);
		FUZZ_CHECK(a == CONSOLE_NONE || a == CONSOLE_QUIT || a == CONSOLE_HELP);
		if (a == CONSOLE_NONE)
			FUZZ_CHECK(used == len);
		else
			got.acts[got.nacts++] = a;
		/* The run loop hands out_len bytes to the guest and feeds the rest again. */
		memcpy(got.out + got.out_len, out, out_len);
		got.out_len += out_len;
		free(out);
		off += used;
	}
	FUZZ_CHECK(got.out_len == ref.out_len && !memcmp(got.out, ref.out, ref.out_len));
	FUZZ_CHECK(got.nacts == ref.nacts &&
		   !memcmp(got.acts, ref.acts, ref.nacts * sizeof(*ref.acts)));
out:
	free(ref.out);
	free(ref.acts);
	free(got.out);
	free(got.acts);
	return 0;
}
