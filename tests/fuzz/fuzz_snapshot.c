/* SPDX-License-Identifier: MIT */
/*
 * Snapshot files (state/snapshot.h, docs/snapshot-format.md) as snap_reader_open
 * sees them. The first input byte is a mode, the rest is the file (put in a
 * memfd). Mode bit 0 asks the harness to recompute every CRC the reader checks
 * on open (config, state sections, table, header, trailer) wherever the fields
 * it needs are in bounds, so that mutations reach the structural checks instead
 * of all dying at the first checksum. Checked on every file the reader accepts:
 *   - the config is NUL-terminated and its strlen is the header's length;
 *   - every state section's bytes can be read (ASan checks the bounds);
 *   - every memory section is page-sized, maps, and both its first and last
 *     bytes can be read and written (a section past the end of the file would
 *     SIGBUS here), and its writes never reach the file;
 *   - memory sections do not overlap in guest physical address;
 *   - snap_reader_verify_memory terminates and agrees with itself.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "state/snapshot.h"
#include "state/snapshot_internal.h"

static bool in_bounds(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

/* Recomputes the CRCs the reader checks on open, as a writer would have. */
static void fix_crcs(uint8_t *f, size_t size)
{
	uint64_t coff, clen, toff, tlen;
	uint32_t count, tcrc = 0, hcrc;

	if (size < SNAP_HEADER_SIZE)
		return;
	coff = snap_get_u64(f + SNAP_HDR_CONFIG_OFF);
	clen = snap_get_u64(f + SNAP_HDR_CONFIG_LEN);
	if (in_bounds(coff, clen, size))
		snap_put_u32(f + SNAP_HDR_CONFIG_CRC, snap_crc(0, f + coff, (size_t)clen));
	toff = snap_get_u64(f + SNAP_HDR_TABLE_OFF);
	count = snap_get_u32(f + SNAP_HDR_TABLE_COUNT);
	tlen = (uint64_t)count * SNAP_ENTRY_SIZE;
	if (count <= SNAP_MAX_SECTIONS && in_bounds(toff, tlen, size)) {
		for (uint32_t i = 0; i < count; i++) {
			uint8_t *e = f + toff + (size_t)i * SNAP_ENTRY_SIZE;
			uint64_t off = snap_get_u64(e + SNAP_ENT_OFF),
				 len = snap_get_u64(e + SNAP_ENT_LEN);
			/* The table may overlap the sections (the reader refuses that
			 * later); entries fixed first may be clobbered, which is fine. */
			if (snap_get_u32(e + SNAP_ENT_KIND) == SNAP_KIND_STATE &&
			    in_bounds(off, len, size))
				snap_put_u32(e + SNAP_ENT_CRC, snap_crc(0, f + off, (size_t)len));
		}
		tcrc = snap_crc(0, f + toff, (size_t)tlen);
		snap_put_u32(f + SNAP_HDR_TABLE_CRC, tcrc);
	}
	hcrc = snap_crc(0, f, SNAP_HDR_CRC);
	snap_put_u32(f + SNAP_HDR_CRC, hcrc);
	if (size >= SNAP_HEADER_SIZE + SNAP_TRAILER_SIZE) {
		uint8_t *t = f + size - SNAP_TRAILER_SIZE;
		snap_put_u32(t + SNAP_TRL_HDR_CRC, hcrc);
		snap_put_u32(t + SNAP_TRL_TABLE_CRC, tcrc);
		snap_put_u32(t + SNAP_TRL_CRC, snap_crc(0, t, SNAP_TRL_CRC));
	}
}

static void check_accepted(struct snap_reader *r, const uint8_t *f, size_t size)
{
	const char *cfg = snap_reader_config(r), *name;
	uint64_t gpa[SNAP_MAX_SECTIONS], len[SNAP_MAX_SECTIONS];
	const void *data;
	size_t n;
	volatile uint8_t sink = 0;
	char err[512];
	int nr_mem = 0, v1, v2;

	FUZZ_CHECK(cfg && strlen(cfg) == snap_get_u64(f + SNAP_HDR_CONFIG_LEN));
	for (int i = 0; snap_reader_state(r, i, &name, &data, &n) == 0; i++) {
		FUZZ_CHECK(snap_reader_section(r, name, &data, &n) == 0);
		for (size_t k = 0; k < n; k++)
			sink ^= ((const uint8_t *)data)[k];
	}
	for (int i = 0; snap_reader_memory(r, i, &name, &gpa[i], &len[i]) == 0; i++) {
		uint8_t *m = snap_reader_map_memory(r, i, 0);
		FUZZ_CHECK(len[i] && len[i] % SNAP_PAGE_SIZE == 0 && len[i] <= size);
		FUZZ_CHECK(m != NULL);
		sink ^= m[0];
		sink ^= m[len[i] - 1];
		m[0] ^= 0xff;
		m[len[i] - 1] ^= 0xff;
		munmap(m, (size_t)len[i]);
		for (int k = 0; k < i; k++)
			FUZZ_CHECK(gpa[i] + len[i] <= gpa[k] || gpa[k] + len[k] <= gpa[i]);
		nr_mem = i + 1;
	}
	FUZZ_CHECK(snap_reader_memory(r, nr_mem, NULL, NULL, NULL) == -ENOENT);
	/* The writes above went to private copies: verification sees the file. */
	v1 = snap_reader_verify_memory(r, err, sizeof(err));
	v2 = snap_reader_verify_memory(r, err, sizeof(err));
	FUZZ_CHECK(v1 == v2 && (v1 == 0 || v1 == -EINVAL));
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_reader *r;
	uint8_t *f;
	char err[512];
	int fd;

	if (!size)
		return 0;
	f = malloc(size);
	if (!f)
		return 0;
	memcpy(f, data + 1, size - 1);
	if (data[0] & 1)
		fix_crcs(f, size - 1);
	fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 1 || write(fd, f, size - 1) == (ssize_t)(size - 1));
	err[0] = 0;
	r = snap_reader_open_fd(fd, "fuzz", err, sizeof(err));
	if (r) {
		check_accepted(r, f, size - 1);
		snap_reader_close(r);
	} else {
		/* Refusals always say why, under the file's name. */
		FUZZ_CHECK(!strncmp(err, "snapshot fuzz: ", 15) && err[15]);
	}
	free(f);
	return 0;
}
