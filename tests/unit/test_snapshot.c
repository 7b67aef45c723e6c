/* SPDX-License-Identifier: MIT */
/*
 * Snapshot container (state/snapshot.h): round trips, copy-on-write mappings,
 * sparse memory, atomic replacement, and refusal of truncated, corrupted,
 * crafted and wrong-version files with a message naming what is wrong; and the
 * machine configuration a whole-VM snapshot records (state/vmsnap.h: versions 1
 * and 2, the devices, refused values). Files go to a fresh directory under
 * $TMPDIR (default /tmp).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/snapshot.h"
#include "state/snapshot_internal.h"
#include "state/vmsnap.h"

#define MIB	    (1ULL << 20)
#define LOW_SIZE    (8 * MIB)
#define HIGH_SIZE   (1 * MIB)
#define HIGH_GPA    (4ULL << 30)
#define NR_READERS  20
#define CONFIG_JSON "{\"cpus\": 2, \"memory\": \"9M\", \"kernel\": \"/boot/vmlinuz\"}"

struct fixture {
	char dir[256];
	char path[PATH_MAX]; /* the sample snapshot */
	char scratch[PATH_MAX];
	uint8_t *low;	   /* LOW_SIZE, page-aligned (anonymous) */
	uint8_t *high_buf; /* HIGH_SIZE + 3 bytes: the section starts unaligned */
	uint8_t *high;
	uint8_t vcpu0[200], vcpu1[4000], uart[17], blk[300];
};

/* --- helpers --------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + 1);
}

static void path_in(const struct fixture *fx, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", fx->dir, name);
}

/* Writes the sample: state before, between and after two memory sections. */
static void write_sample(struct fixture *fx, const char *path)
{
	char err[512] = "";
	struct snap_writer *w = snap_writer_create(path, CONFIG_JSON, err, sizeof(err));

	assert_non_null(w);
	assert_int_equal(snap_writer_add(w, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0)), 0);
	assert_int_equal(snap_writer_add(w, "vcpu1", fx->vcpu1, sizeof(fx->vcpu1)), 0);
	assert_int_equal(snap_writer_add(w, "irqchip", NULL, 0), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram-low", 0, fx->low, LOW_SIZE), 0);
	assert_int_equal(snap_writer_add(w, "uart:ttyS0", fx->uart, sizeof(fx->uart)), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram-high", HIGH_GPA, fx->high, HIGH_SIZE), 0);
	assert_int_equal(snap_writer_add(w, "virtio-blk:vda", fx->blk, sizeof(fx->blk)), 0);
	if (snap_writer_commit(w, err, sizeof(err))) {
		print_error("%s\n", err);
		fail();
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/kvmm-snap-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir))
		return -1;
	path_in(fx, "vm.snap", fx->path);
	path_in(fx, "scratch.snap", fx->scratch);
	fx->low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fx->high_buf = calloc(1, HIGH_SIZE + 3);
	if (fx->low == MAP_FAILED || !fx->high_buf)
		return -1;
	fx->high = fx->high_buf + 3;
	fill(fx->low, 8192, 1);			  /* pages 0 and 1 */
	fill(fx->low + 300 * 4096, 4096, 2);	  /* page 300 */
	fx->low[5 * 4096 + 4095] = 0x5a;	  /* page 5: only its last byte */
	fx->low[6 * 4096] = 0xa5;		  /* page 6: only its first byte */
	fill(fx->low + LOW_SIZE - 4096, 4096, 3); /* the last page */
	fill(fx->high + 10 * 4096, 3 * 4096, 4);
	fill(fx->vcpu0, sizeof(fx->vcpu0), 5);
	fill(fx->vcpu1, sizeof(fx->vcpu1), 6);
	fill(fx->uart, sizeof(fx->uart), 7);
	fill(fx->blk, sizeof(fx->blk), 8);
	write_sample(fx, fx->path);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *d = opendir(fx->dir);
	struct dirent *e;
	char p[PATH_MAX + 300];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
			continue;
		snprintf(p, sizeof(p), "%s/%s", fx->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(fx->dir);
	munmap(fx->low, LOW_SIZE);
	free(fx->high_buf);
	free(fx);
	return 0;
}

/* Names in the directory other than the given ones (leftover temporary files). */
static int stray_files(const struct fixture *fx, const char *keep1, const char *keep2)
{
	DIR *d = opendir(fx->dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep1) &&
		    (!keep2 || strcmp(e->d_name, keep2)))
			n++;
	closedir(d);
	return n;
}

/* A sparse-aware copy of src's first n bytes (n may be past the end: extends). */
static void copy_prefix(const char *src, const char *dst, uint64_t n)
{
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static uint8_t buf[1 << 16];
	off_t pos = 0;

	assert_true(in >= 0 && out >= 0);
	while ((uint64_t)pos < n) {
		off_t d = lseek(in, pos, SEEK_DATA), h;
		if (d < 0 || (uint64_t)d >= n)
			break;
		h = lseek(in, d, SEEK_HOLE);
		if ((uint64_t)h > n)
			h = (off_t)n;
		for (pos = d; pos < h;) {
			size_t k =
			    (size_t)(h - pos) < sizeof(buf) ? (size_t)(h - pos) : sizeof(buf);
			assert_int_equal(pread(in, buf, k, pos), (ssize_t)k);
			assert_int_equal(pwrite(out, buf, k, pos), (ssize_t)k);
			pos += (off_t)k;
		}
	}
	assert_int_equal(ftruncate(out, (off_t)n), 0);
	close(in);
	close(out);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Expects path to be refused with a message containing want (and want2 if set). */
static void expect_refused(const char *path, const char *want, const char *want2)
{
	char err[512] = "", prefix[PATH_MAX + 16];
	struct snap_reader *r;

	errno = 0;
	r = snap_reader_open(path, err, sizeof(err));
	if (r || !strstr(err, want) || (want2 && !strstr(err, want2))) {
		print_error("%s: expected refusal with '%s'/'%s', got %s: '%s'\n", path, want,
			    want2 ? want2 : "", r ? "success" : "refusal", err);
		snap_reader_close(r);
		fail();
	}
	assert_int_equal(errno, EINVAL);
	snprintf(prefix, sizeof(prefix), "snapshot %s: ", path);
	assert_memory_equal(err, prefix, strlen(prefix));
}

/* The parts of a file as stored: what crafted-file tests edit before re-sealing. */
struct raw {
	uint8_t hdr[SNAP_HEADER_SIZE], trl[SNAP_TRAILER_SIZE];
	uint8_t table[SNAP_MAX_SECTIONS * SNAP_ENTRY_SIZE];
	uint32_t count;
	uint64_t size, table_off; /* as loaded: where the table is rewritten */
};

static void raw_load(const char *path, struct raw *raw)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	raw->size = file_size(path);
	assert_int_equal(pread(fd, raw->hdr, sizeof(raw->hdr), 0), sizeof(raw->hdr));
	assert_int_equal(
	    pread(fd, raw->trl, sizeof(raw->trl), (off_t)raw->size - SNAP_TRAILER_SIZE),
	    sizeof(raw->trl));
	raw->count = snap_get_u32(raw->hdr + SNAP_HDR_TABLE_COUNT);
	raw->table_off = snap_get_u64(raw->hdr + SNAP_HDR_TABLE_OFF);
	assert_int_equal(pread(fd, raw->table, raw->count * SNAP_ENTRY_SIZE, (off_t)raw->table_off),
			 raw->count * SNAP_ENTRY_SIZE);
	close(fd);
}

/* Writes raw back with every CRC recomputed, so only the edit is "wrong". */
static void raw_store(const char *path, struct raw *raw)
{
	int fd = open(path, O_WRONLY);
	uint32_t tcrc = snap_crc(0, raw->table, (size_t)raw->count * SNAP_ENTRY_SIZE), hcrc;

	assert_true(fd >= 0);
	snap_put_u32(raw->hdr + SNAP_HDR_TABLE_CRC, tcrc);
	hcrc = snap_crc(0, raw->hdr, SNAP_HDR_CRC);
	snap_put_u32(raw->hdr + SNAP_HDR_CRC, hcrc);
	snap_put_u32(raw->trl + SNAP_TRL_HDR_CRC, hcrc);
	snap_put_u32(raw->trl + SNAP_TRL_TABLE_CRC, tcrc);
	snap_put_u32(raw->trl + SNAP_TRL_CRC, snap_crc(0, raw->trl, SNAP_TRL_CRC));
	assert_int_equal(pwrite(fd, raw->hdr, sizeof(raw->hdr), 0), sizeof(raw->hdr));
	assert_int_equal(
	    pwrite(fd, raw->table, raw->count * SNAP_ENTRY_SIZE, (off_t)raw->table_off),
	    raw->count * SNAP_ENTRY_SIZE);
	assert_int_equal(
	    pwrite(fd, raw->trl, sizeof(raw->trl), (off_t)raw->size - SNAP_TRAILER_SIZE),
	    sizeof(raw->trl));
	close(fd);
}

static uint8_t *entry(struct raw *raw, const char *name)
{
	for (uint32_t i = 0; i < raw->count; i++)
		if (!strcmp((char *)raw->table + i * SNAP_ENTRY_SIZE, name))
			return raw->table + i * SNAP_ENTRY_SIZE;
	fail_msg("no section %s", name);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- round trip ------------------------------------------------------------ */

static void check_section(struct snap_reader *r, const char *name, const void *want, size_t n)
{
	const void *data;
	size_t len;

	assert_int_equal(snap_reader_section(r, name, &data, &len), 0);
	assert_int_equal(len, n);
	if (n)
		assert_memory_equal(data, want, n);
}

static void test_roundtrip(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "";
	struct snap_reader *r = snap_reader_open(fx->path, err, sizeof(err));
	const char *name;
	uint64_t gpa, size;
	uint8_t *low, *high, *again;
	const void *data;
	size_t len;
	struct stat st;

	assert_non_null(r);
	assert_string_equal(snap_reader_config(r), CONFIG_JSON);
	check_section(r, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0));
	check_section(r, "vcpu1", fx->vcpu1, sizeof(fx->vcpu1));
	check_section(r, "irqchip", NULL, 0);
	check_section(r, "uart:ttyS0", fx->uart, sizeof(fx->uart));
	check_section(r, "virtio-blk:vda", fx->blk, sizeof(fx->blk));
	assert_int_equal(snap_reader_section(r, "vcpu2", &data, &len), -ENOENT);
	assert_int_equal(snap_reader_section(r, "ram-low", &data, &len), -ENOENT); /* memory */

	{
		static const char *const order[] = {"vcpu0", "vcpu1", "irqchip", "uart:ttyS0",
						    "virtio-blk:vda"};
		for (int i = 0; i < 5; i++) {
			assert_int_equal(snap_reader_state(r, i, &name, &data, &len), 0);
			assert_string_equal(name, order[i]);
		}
		assert_int_equal(snap_reader_state(r, 5, &name, &data, &len), -ENOENT);
		assert_int_equal(snap_reader_state(r, -1, &name, &data, &len), -ENOENT);
	}
	assert_int_equal(snap_reader_memory(r, 0, &name, &gpa, &size), 0);
	assert_string_equal(name, "ram-low");
	assert_int_equal(gpa, 0);
	assert_int_equal(size, LOW_SIZE);
	assert_int_equal(snap_reader_memory(r, 1, &name, &gpa, &size), 0);
	assert_string_equal(name, "ram-high");
	assert_int_equal(gpa, HIGH_GPA);
	assert_int_equal(size, HIGH_SIZE);
	assert_int_equal(snap_reader_memory(r, 2, &name, &gpa, &size), -ENOENT);
	assert_int_equal(snap_reader_memory(r, -1, NULL, NULL, NULL), -ENOENT);

	low = snap_reader_map_memory(r, 0, 0);
	high = snap_reader_map_memory(r, 1, MAP_POPULATE);
	assert_non_null(low);
	assert_non_null(high);
	assert_memory_equal(low, fx->low, LOW_SIZE);
	assert_memory_equal(high, fx->high, HIGH_SIZE);
	errno = 0;
	assert_null(snap_reader_map_memory(r, 2, 0));
	assert_int_equal(errno, ENOENT);
	assert_null(snap_reader_map_memory(r, 0, MAP_SHARED));
	assert_int_equal(errno, EINVAL);
	assert_null(snap_reader_map_memory(r, 0, MAP_FIXED));
	assert_null(snap_reader_map_memory(r, 0, MAP_ANONYMOUS));

	/* Copy-on-write: the writes stay in this mapping, the file keeps the snapshot. */
	memset(low, 0xee, 3 * 4096);
	memset(low + 1000 * 4096, 0x11, 4096); /* a hole */
	high[0] = 0x77;
	again = snap_reader_map_memory(r, 0, 0);
	assert_non_null(again);
	assert_memory_equal(again, fx->low, LOW_SIZE);
	assert_int_equal(snap_reader_verify_memory(r, err, sizeof(err)), 0);

	/* The mapping outlives the reader. */
	snap_reader_close(r);
	assert_int_equal(low[0], 0xee);
	assert_int_equal(low[1000 * 4096], 0x11);
	assert_memory_equal(again + 300 * 4096, fx->low + 300 * 4096, 4096);
	munmap(low, LOW_SIZE);
	munmap(again, LOW_SIZE);
	munmap(high, HIGH_SIZE);

	/* Zero pages cost no disk: 9 MiB of RAM, 9 pages of it non-zero. */
	assert_int_equal(stat(fx->path, &st), 0);
	print_message("sample: %" PRIu64 " bytes apparent, %" PRIu64 " bytes allocated\n",
		      (uint64_t)st.st_size, (uint64_t)st.st_blocks * 512);
	assert_true((uint64_t)st.st_size > LOW_SIZE + HIGH_SIZE);
	assert_true((uint64_t)st.st_blocks * 512 < 256 * 1024);
	assert_int_equal(st.st_mode & 0777, 0600);
}

struct reader_thread {
	const char *path;
	pthread_barrier_t *all_mapped;
	const uint8_t *want; /* the source RAM */
	int id;
	int ok;
};

static void *reader_thread(void *arg)
{
	struct reader_thread *t = arg;
	char err[512];
	struct snap_reader *r = snap_reader_open(t->path, err, sizeof(err));
	uint8_t *m = r ? snap_reader_map_memory(r, 0, 0) : NULL;

	t->ok = m && !memcmp(m, t->want, 8192);
	if (m) {
		/* Each "VM" writes its own marks into a data page and a hole. */
		memset(m, t->id, 4096);
		memset(m + 2000 * 4096, t->id, 4096);
	}
	pthread_barrier_wait(t->all_mapped);
	if (m) {
		for (size_t i = 0; i < 4096; i++)
			if (m[i] != t->id || m[2000 * 4096 + i] != t->id)
				t->ok = 0;
		if (memcmp(m + 4096, t->want + 4096, 4096) || m[1500 * 4096] != 0)
			t->ok = 0;
		munmap(m, LOW_SIZE);
	}
	snap_reader_close(r);
	return NULL;
}

/* Many VMs restored from one file at once: each sees the snapshot plus only its own writes. */
static void test_concurrent_readers(void **state)
{
	struct fixture *fx = *state;
	struct reader_thread t[NR_READERS];
	pthread_t th[NR_READERS];
	pthread_barrier_t b;
	char err[512];
	struct snap_reader *r;

	pthread_barrier_init(&b, NULL, NR_READERS);
	for (int i = 0; i < NR_READERS; i++) {
		t[i] = (struct reader_thread){fx->path, &b, fx->low, i + 1, 0};
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &t[i]), 0);
	}
	for (int i = 0; i < NR_READERS; i++) {
		pthread_join(th[i], NULL);
		assert_true(t[i].ok);
	}
	pthread_barrier_destroy(&b);
	r = snap_reader_open(fx->path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(snap_reader_verify_memory(r, err, sizeof(err)), 0);
	snap_reader_close(r);
}

/* --- refusals -------------------------------------------------------------- */

struct layout {
	uint64_t size, config_off, config_len, table_off, table_len;
	uint32_t count;
	char name[32][SNAP_NAME_MAX + 1];
	uint32_t kind[32];
	uint64_t off[32], len[32];
};

static void layout_of(const char *path, struct layout *l)
{
	static struct raw raw;

	raw_load(path, &raw);
	l->size = raw.size;
	l->config_off = snap_get_u64(raw.hdr + SNAP_HDR_CONFIG_OFF);
	l->config_len = snap_get_u64(raw.hdr + SNAP_HDR_CONFIG_LEN);
	l->table_off = snap_get_u64(raw.hdr + SNAP_HDR_TABLE_OFF);
	l->count = raw.count;
	l->table_len = (uint64_t)raw.count * SNAP_ENTRY_SIZE;
	assert_true(l->count <= 32);
	for (uint32_t i = 0; i < l->count; i++) {
		const uint8_t *t = raw.table + i * SNAP_ENTRY_SIZE;
		memcpy(l->name[i], t, SNAP_NAME_MAX + 1);
		l->kind[i] = snap_get_u32(t + SNAP_ENT_KIND);
		l->off[i] = snap_get_u64(t + SNAP_ENT_OFF);
		l->len[i] = snap_get_u64(t + SNAP_ENT_LEN);
	}
}

static void truncated_at(struct fixture *fx, uint64_t n, const char *section)
{
	char want[128];

	copy_prefix(fx->path, fx->scratch, n);
	if (section) {
		snprintf(want, sizeof(want), "section '%s' (offset", section);
		expect_refused(fx->scratch, want, "file truncated?");
	} else {
		expect_refused(fx->scratch, "truncated?", NULL);
	}
}

static void test_truncated(void **state)
{
	struct fixture *fx = *state;
	struct layout l;
	uint64_t small[] = {0, 1, 7, 8, 11, 15, 16, 64, 127, 128, 2048, 4095};

	layout_of(fx->path, &l);
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		truncated_at(fx, small[i], NULL);
	truncated_at(fx, l.config_off, NULL);
	truncated_at(fx, l.config_off + l.config_len / 2, NULL);
	truncated_at(fx, l.config_off + l.config_len - 1, NULL);
	truncated_at(fx, l.table_off, NULL);
	truncated_at(fx, l.table_off + 1, NULL);
	truncated_at(fx, l.table_off + l.table_len / 2, NULL);
	truncated_at(fx, l.table_off + l.table_len - 1, NULL);
	for (uint32_t i = 0; i < l.count; i++) {
		if (!l.len[i])
			continue;
		truncated_at(fx, l.off[i], l.name[i]);
		truncated_at(fx, l.off[i] + 1, l.name[i]);
		truncated_at(fx, l.off[i] + l.len[i] / 2, l.name[i]);
		truncated_at(fx, l.off[i] + l.len[i] - 1, l.name[i]);
		if (l.kind[i] == SNAP_KIND_MEMORY) /* in a hole (in both samples' RAM) */
			truncated_at(fx, l.off[i] + (l.len[i] / 8192 + 1) * 4096 + 5, l.name[i]);
	}
	/* In and just before the trailer: every section fits, the header's length does not. */
	for (uint64_t k = 1; k <= SNAP_TRAILER_SIZE + 8; k++)
		truncated_at(fx, l.size - k, NULL);
	copy_prefix(fx->path, fx->scratch, l.size - 1);
	expect_refused(fx->scratch, "but its header records", "file truncated?");

	/* Extended, by zeros or by data: the trailer is no longer last. */
	copy_prefix(fx->path, fx->scratch, l.size + 4096);
	expect_refused(fx->scratch, "data appended?", NULL);
}

/* Flips every byte of [off, off+len) in turn; each must be refused naming want. */
static void flip_range(const char *path, uint64_t off, uint64_t len, const char *want,
		       const char *alt)
{
	int fd = open(path, O_RDWR);
	char err[512];

	assert_true(fd >= 0);
	for (uint64_t i = off; i < off + len; i++) {
		static const uint8_t masks[2] = {0x01, 0x80};
		uint8_t orig, b;
		assert_int_equal(pread(fd, &orig, 1, (off_t)i), 1);
		for (int m = 0; m < 2; m++) {
			struct snap_reader *r;
			b = orig ^ masks[m];
			assert_int_equal(pwrite(fd, &b, 1, (off_t)i), 1);
			err[0] = 0;
			r = snap_reader_open(path, err, sizeof(err));
			if (r || (!strstr(err, want) && (!alt || !strstr(err, alt)))) {
				print_error("byte %" PRIu64
					    " ^ 0x%02x: expected '%s', got %s '%s'\n",
					    i, masks[m], want, r ? "success" : "", err);
				snap_reader_close(r);
				fail();
			}
		}
		assert_int_equal(pwrite(fd, &orig, 1, (off_t)i), 1);
	}
	close(fd);
}

static void test_corrupted(void **state)
{
	struct fixture *fx = *state;
	struct layout l;
	char want[128], err[512];
	struct snap_reader *r;
	int fd;
	uint8_t b;

	copy_prefix(fx->path, fx->scratch, file_size(fx->path));
	layout_of(fx->scratch, &l);
	/* Magic and header-size flips read as "not a snapshot" / a bad header size. */
	flip_range(fx->scratch, 0, SNAP_HEADER_SIZE, "header", "not a kvmm snapshot");
	flip_range(fx->scratch, l.config_off, l.config_len, "config: checksum mismatch", NULL);
	flip_range(fx->scratch, l.table_off, l.table_len, "section table: checksum mismatch", NULL);
	flip_range(fx->scratch, l.size - SNAP_TRAILER_SIZE, SNAP_TRAILER_SIZE, "trailer", NULL);
	for (uint32_t i = 0; i < l.count; i++) {
		if (l.kind[i] != SNAP_KIND_STATE)
			continue;
		snprintf(want, sizeof(want), "section '%s': checksum mismatch", l.name[i]);
		flip_range(fx->scratch, l.off[i], l.len[i], want, NULL);
	}

	/* Memory contents are only checked on request: a flipped data byte and a byte
	 * written into a hole both open fine and fail verification. */
	for (int k = 0; k < 2; k++) {
		uint64_t at = l.off[3] + (k ? 300 * 4096 + 17 : 1500 * 4096);
		assert_string_equal(l.name[3], "ram-low");
		copy_prefix(fx->path, fx->scratch, file_size(fx->path));
		fd = open(fx->scratch, O_RDWR);
		assert_int_equal(pread(fd, &b, 1, (off_t)at), 1);
		b ^= 0x40;
		assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
		close(fd);
		r = snap_reader_open(fx->scratch, err, sizeof(err));
		assert_non_null(r);
		assert_int_equal(snap_reader_verify_memory(r, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "section 'ram-low': memory checksum mismatch"));
		snap_reader_close(r);
	}
}

static void test_wrong_version(void **state)
{
	struct fixture *fx = *state;
	static struct raw raw;
	char err[512], want[PATH_MAX + 64];

	for (uint32_t v = 0; v < 4; v++) {
		if (v == SNAP_VERSION)
			continue;
		copy_prefix(fx->path, fx->scratch, file_size(fx->path));
		raw_load(fx->scratch, &raw);
		snap_put_u32(raw.hdr + SNAP_HDR_VERSION, v);
		raw_store(fx->scratch, &raw);
		assert_null(snap_reader_open(fx->scratch, err, sizeof(err)));
		snprintf(want, sizeof(want),
			 "snapshot %s: format version %u, this kvmm reads version 1", fx->scratch,
			 v);
		assert_string_equal(err, want);
	}
	/* A newer version with a bigger header is still recognised as a newer version. */
	copy_prefix(fx->path, fx->scratch, file_size(fx->path));
	{
		uint8_t h[256] = {0};
		int fd = open(fx->scratch, O_WRONLY);
		memcpy(h, SNAP_MAGIC, 8);
		snap_put_u32(h + SNAP_HDR_VERSION, 2);
		snap_put_u32(h + SNAP_HDR_SIZE, sizeof(h));
		snap_put_u32(h + sizeof(h) - 4, snap_crc(0, h, sizeof(h) - 4));
		assert_int_equal(pwrite(fd, h, sizeof(h), 0), sizeof(h));
		close(fd);
		assert_null(snap_reader_open(fx->scratch, err, sizeof(err)));
		assert_non_null(strstr(err, "format version 2, this kvmm reads version 1"));
	}
}

/* Files whose CRCs are right but whose contents are not, as a crafted file would be. */
static void test_crafted(void **state)
{
	struct fixture *fx = *state;
	static struct raw raw;
	char want[PATH_MAX + 256];
	uint8_t *e, *f;
	uint64_t size = file_size(fx->path);
	int fd;

#define CRAFT(edit, ...)                                                                           \
	do {                                                                                       \
		copy_prefix(fx->path, fx->scratch, size);                                          \
		raw_load(fx->scratch, &raw);                                                       \
		edit;                                                                              \
		raw_store(fx->scratch, &raw);                                                      \
		expect_refused(fx->scratch, __VA_ARGS__);                                          \
	} while (0)

	/* The message the issue asks for, exactly. */
	copy_prefix(fx->path, fx->scratch, size);
	raw_load(fx->scratch, &raw);
	e = entry(&raw, "vcpu1");
	snap_put_u64(e + SNAP_ENT_OFF, size - 100);
	raw_store(fx->scratch, &raw);
	snprintf(want, sizeof(want),
		 "snapshot %s: section 'vcpu1' (offset %" PRIu64 ", length 4000) extends past "
		 "the end of the file (size %" PRIu64 "): file truncated?",
		 fx->scratch, size - 100, size);
	expect_refused(fx->scratch, want, NULL);

	CRAFT(snap_put_u64(entry(&raw, "vcpu1") + SNAP_ENT_OFF, UINT64_MAX - 10),
	      "section 'vcpu1' (offset", "extends past");
	CRAFT(snap_put_u64(entry(&raw, "vcpu1") + SNAP_ENT_LEN, UINT64_MAX),
	      "section 'vcpu1' (offset", "extends past");
	CRAFT(snap_put_u64(entry(&raw, "ram-high") + SNAP_ENT_LEN, UINT64_MAX - 4095),
	      "section 'ram-high' (offset", "extends past");
	CRAFT(memcpy(entry(&raw, "vcpu1"), "vcpu0", 6), "section 'vcpu0' appears twice", NULL);
	CRAFT(memset(entry(&raw, "vcpu1"), 'A', 64), "section table entry 1: invalid name", NULL);
	CRAFT(memcpy(entry(&raw, "vcpu1"), "vcpu 1", 7), "section table entry 1: invalid name",
	      NULL);
	CRAFT(entry(&raw, "vcpu1")[10] = 'x', "section table entry 1: invalid name", NULL);
	CRAFT(memcpy(entry(&raw, "vcpu1"), "", 1), "section table entry 1: invalid name", NULL);
	CRAFT(snap_put_u32(entry(&raw, "vcpu1") + SNAP_ENT_KIND, 3),
	      "section 'vcpu1': unknown kind", NULL);
	CRAFT(entry(&raw, "vcpu1")[127] = 1, "section 'vcpu1': reserved bytes", NULL);
	CRAFT(snap_put_u64(entry(&raw, "ram-high") + SNAP_ENT_GPA, 4096 * 100),
	      "section 'ram-high' overlaps section 'ram-low' in guest memory", NULL);
	CRAFT(snap_put_u64(entry(&raw, "ram-high") + SNAP_ENT_GPA, HIGH_GPA + 1),
	      "section 'ram-high': memory", "not page-aligned");
	CRAFT(snap_put_u64(entry(&raw, "ram-high") + SNAP_ENT_GPA, UINT64_MAX - 4095),
	      "section 'ram-high': memory", "wraps");
	CRAFT((e = entry(&raw, "ram-high"),
	       snap_put_u64(e + SNAP_ENT_OFF, snap_get_u64(e + SNAP_ENT_OFF) + 8)),
	      "section 'ram-high': memory", "not page-aligned");
	CRAFT(snap_put_u64(entry(&raw, "ram-high") + SNAP_ENT_LEN, 0), "section 'ram-high': memory",
	      NULL);
	CRAFT(snap_put_u64(entry(&raw, "vcpu1") + SNAP_ENT_GPA, 1), "section 'vcpu1': state", NULL);
	/* Aliasing: a section over the header, over the table, over another section. */
	CRAFT(snap_put_u64(entry(&raw, "vcpu0") + SNAP_ENT_OFF, 0),
	      "section 'vcpu0' overlaps the header", NULL);
	CRAFT(snap_put_u64(entry(&raw, "vcpu0") + SNAP_ENT_OFF,
			   snap_get_u64(raw.hdr + SNAP_HDR_TABLE_OFF) + 8),
	      "overlaps the section table", NULL);
	CRAFT((e = entry(&raw, "uart:ttyS0"), f = entry(&raw, "ram-low"),
	       snap_put_u64(e + SNAP_ENT_OFF, snap_get_u64(f + SNAP_ENT_OFF) + LOW_SIZE - 8)),
	      "section 'uart:ttyS0' overlaps section 'ram-low'", NULL);
	/* Header fields. */
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_FLAGS, 4), "header: unknown flags 0x4", NULL);
	CRAFT(snap_put_u32(raw.hdr + SNAP_HDR_PAGE_SIZE, 65536), "header: unsupported", NULL);
	CRAFT(raw.hdr[100] = 1, "header: unsupported", NULL);
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_CONFIG_LEN, 2 * MIB),
	      "config: 2097152 bytes, the limit", NULL);
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_CONFIG_OFF, size), "config (offset", "extends past");
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_CONFIG_OFF, UINT64_MAX), "config (offset",
	      "extends past");
	CRAFT(snap_put_u32(raw.hdr + SNAP_HDR_TABLE_COUNT, 4097), "section table: 4097 entries",
	      NULL);
	CRAFT(snap_put_u32(raw.hdr + SNAP_HDR_TABLE_COUNT, UINT32_MAX), "section table: 4294967295",
	      NULL);
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_TABLE_OFF, UINT64_MAX - 100), "section table (offset",
	      "extends past");
	CRAFT(snap_put_u64(raw.hdr + SNAP_HDR_FILE_LEN, size + 1), "but its header records", NULL);
	CRAFT(snap_put_u64(raw.trl + SNAP_TRL_FILE_LEN, size + 1), "trailer: does not match", NULL);
	CRAFT(snap_put_u64(raw.trl + SNAP_TRL_TABLE_OFF, 0), "trailer: does not match", NULL);
	CRAFT(raw.trl[50] = 1, "trailer: does not match", NULL);
	/* Fewer entries than written: still a consistent file, minus the sections. */
	copy_prefix(fx->path, fx->scratch, size);
	raw_load(fx->scratch, &raw);
	raw.count = 2;
	snap_put_u32(raw.hdr + SNAP_HDR_TABLE_COUNT, 2);
	snap_put_u32(raw.trl + SNAP_TRL_TABLE_COUNT, 2);
	raw_store(fx->scratch, &raw);
	{
		char err[512];
		struct snap_reader *r = snap_reader_open(fx->scratch, err, sizeof(err));
		assert_non_null(r);
		assert_int_equal(snap_reader_memory(r, 0, NULL, NULL, NULL), -ENOENT);
		snap_reader_close(r);
	}
	/* Embedded NUL in the config (with a valid CRC). */
	copy_prefix(fx->path, fx->scratch, size);
	raw_load(fx->scratch, &raw);
	fd = open(fx->scratch, O_WRONLY);
	assert_int_equal(pwrite(fd, "", 1, (off_t)snap_get_u64(raw.hdr + SNAP_HDR_CONFIG_OFF) + 3),
			 1);
	close(fd);
	snap_put_u32(raw.hdr + SNAP_HDR_CONFIG_CRC, 0);
	{
		char cfg[sizeof(CONFIG_JSON)];
		memcpy(cfg, CONFIG_JSON, sizeof(cfg));
		cfg[3] = 0;
		snap_put_u32(raw.hdr + SNAP_HDR_CONFIG_CRC, snap_crc(0, cfg, sizeof(cfg) - 1));
	}
	raw_store(fx->scratch, &raw);
	expect_refused(fx->scratch, "config: contains a NUL byte", NULL);
#undef CRAFT

	/* Not snapshots at all. */
	fd = open(fx->scratch, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "{\"hello\": 1}\n", 13), 13);
	close(fd);
	expect_refused(fx->scratch, "not a kvmm snapshot (bad magic)", NULL);
	expect_refused(fx->dir, "not a regular file", NULL);
	{
		char err[512];
		errno = 0;
		assert_null(snap_reader_open("/nonexistent/x.snap", err, sizeof(err)));
		assert_int_equal(errno, ENOENT);
		assert_string_equal(err, "snapshot /nonexistent/x.snap: No such file or directory");
	}
}

/* --- writer --------------------------------------------------------------- */

static void test_writer_refusals(void **state)
{
	struct fixture *fx = *state;
	char err[512], name[80], *big;
	struct snap_writer *w;
	static const char *const bad[] = {
	    "", "has space", "tab\t", "caf\xc3\xa9",
	    "0123456789012345678901234567890123456789012345678901234567890123"};

	unlink(fx->scratch);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));
		assert_non_null(w);
		assert_int_equal(snap_writer_add(w, bad[i], "x", 1), -EINVAL);
		/* Sticky: the next add fails the same way, commit reports the first. */
		assert_int_equal(snap_writer_add(w, "ok", "x", 1), -EINVAL);
		assert_int_equal(snap_writer_commit(w, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "invalid section name"));
		assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
	}
	/* 63 characters is the limit. */
	memset(name, 'n', 63);
	name[63] = 0;
	w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));
	assert_int_equal(snap_writer_add(w, name, "x", 1), 0);
	assert_int_equal(snap_writer_add(w, "a", "x", 1), 0);
	assert_int_equal(snap_writer_add(w, "a", "y", 1), -EINVAL);
	assert_int_equal(snap_writer_commit(w, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "section 'a' added twice"));

#define MEM_REFUSED(gpa, size, msg)                                                                \
	do {                                                                                       \
		w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));                       \
		assert_int_equal(snap_writer_add_memory(w, "ram", 0, fx->low, 2 * 4096), 0);       \
		assert_int_equal(snap_writer_add_memory(w, "m", gpa, fx->low, size), -EINVAL);     \
		assert_int_equal(snap_writer_commit(w, err, sizeof(err)), -EINVAL);                \
		assert_non_null(strstr(err, msg));                                                 \
	} while (0)
	MEM_REFUSED(4096, 4096, "section 'm' overlaps section 'ram'");
	MEM_REFUSED(8192, 100, "bad memory range");
	MEM_REFUSED(8192, 0, "bad memory range");
	MEM_REFUSED(8193, 4096, "bad memory range");
	MEM_REFUSED(UINT64_MAX - 4095, 8192, "bad memory range");
#undef MEM_REFUSED

	/* A memory section with a state section's name. */
	w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));
	assert_int_equal(snap_writer_add(w, "ram", "x", 1), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram", 0, fx->low, 4096), -EINVAL);
	snap_writer_abort(w);

	big = malloc(SNAP_MAX_CONFIG + 2);
	memset(big, ' ', SNAP_MAX_CONFIG + 1);
	big[SNAP_MAX_CONFIG + 1] = 0;
	errno = 0;
	assert_null(snap_writer_create(fx->scratch, big, err, sizeof(err)));
	assert_int_equal(errno, E2BIG);
	free(big);
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
	assert_int_equal(access(fx->scratch, F_OK), -1);
}

static void test_abort(void **state)
{
	struct fixture *fx = *state;
	char err[512];
	struct snap_writer *w;

	unlink(fx->scratch);
	w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(snap_writer_add(w, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0)), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram", 0, fx->low, LOW_SIZE), 0);
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"),
			 1); /* the hidden temporary file */
	snap_writer_abort(w);
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
	assert_int_equal(access(fx->scratch, F_OK), -1);
	snap_writer_abort(NULL);
}

/* Replacing a snapshot: the old one stays whole until commit, and a VM still
 * mapping it keeps its contents after the rename. */
static void test_replace(void **state)
{
	struct fixture *fx = *state;
	char err[512];
	struct snap_reader *old, *cur;
	struct snap_writer *w;
	uint8_t *m, *src = calloc(1, 64 * 4096);
	const void *data;
	size_t len;

	copy_prefix(fx->path, fx->scratch, file_size(fx->path));
	old = snap_reader_open(fx->scratch, err, sizeof(err));
	assert_non_null(old);
	m = snap_reader_map_memory(old, 0, 0);
	assert_non_null(m);

	memset(src + 4096, 0x42, 4096);
	w = snap_writer_create(fx->scratch, "{\"new\": true}", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(snap_writer_add(w, "vcpu0", "new", 3), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram", 0, src, 64 * 4096), 0);
	/* Mid-save (a crash here would leave only the hidden file): the old file is intact. */
	cur = snap_reader_open(fx->scratch, err, sizeof(err));
	assert_non_null(cur);
	assert_string_equal(snap_reader_config(cur), CONFIG_JSON);
	snap_reader_close(cur);
	assert_int_equal(snap_writer_commit(w, err, sizeof(err)), 0);

	cur = snap_reader_open(fx->scratch, err, sizeof(err));
	assert_non_null(cur);
	assert_string_equal(snap_reader_config(cur), "{\"new\": true}");
	assert_int_equal(snap_reader_section(cur, "vcpu0", &data, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(snap_reader_section(cur, "vcpu1", &data, &len), -ENOENT);
	assert_int_equal(snap_reader_verify_memory(cur, err, sizeof(err)), 0);
	snap_reader_close(cur);
	assert_memory_equal(m, fx->low, LOW_SIZE); /* the running VM's view is unchanged */
	assert_int_equal(snap_reader_verify_memory(old, err, sizeof(err)), 0);
	munmap(m, LOW_SIZE);
	snap_reader_close(old);
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
	free(src);
}

static void test_bad_destination(void **state)
{
	struct fixture *fx = *state;
	char err[512], p[PATH_MAX + 32], want[PATH_MAX * 2 + 128];

	snprintf(p, sizeof(p), "%s/missing/vm.snap", fx->dir);
	errno = 0;
	assert_null(snap_writer_create(p, "{}", err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	snprintf(
	    want, sizeof(want),
	    "snapshot %s: cannot create a temporary file in %s/missing: No such file or directory",
	    p, fx->dir);
	assert_string_equal(err, want);

	assert_null(snap_writer_create(fx->dir, "{}", err, sizeof(err)));
	assert_int_equal(errno, EISDIR);
	snprintf(p, sizeof(p), "%s/", fx->dir);
	assert_null(snap_writer_create(p, "{}", err, sizeof(err)));
	assert_int_equal(errno, EISDIR);
	assert_null(snap_writer_create("", "{}", err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
}

/* A write failing mid-save (here RLIMIT_FSIZE's EFBIG, the same path as ENOSPC):
 * clear message naming the section, no temporary file, the old snapshot intact. */
static void test_write_failure(void **state)
{
	struct fixture *fx = *state;
	struct rlimit old, lim;
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	char err[512];
	struct snap_writer *w;
	struct snap_reader *r;
	int rc;

	copy_prefix(fx->path, fx->scratch, file_size(fx->path));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 3 * MIB;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	w = snap_writer_create(fx->scratch, "{}", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(snap_writer_add(w, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0)), 0);
	rc = snap_writer_add_memory(w, "ram-low", 0, fx->low, LOW_SIZE);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(snap_writer_add(w, "late", "x", 1), -EFBIG);
	assert_int_equal(snap_writer_commit(w, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "section 'ram-low': write failed: File too large"));
	assert_int_equal(stray_files(fx, "vm.snap", "scratch.snap"), 0);
	r = snap_reader_open(fx->scratch, err, sizeof(err));
	assert_non_null(r);
	assert_string_equal(snap_reader_config(r), CONFIG_JSON);
	snap_reader_close(r);
}

static void test_crc_zeros(void **state)
{
	static const uint8_t zero[3 * 4096 + 100];
	const uint64_t lens[] = {0, 1, 100, 4095, 4096, 4097, 8192, 3 * 4096 + 100};
	(void)state;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(snap_crc_zeros(0, lens[i]), snap_crc(0, zero, lens[i]));
		assert_int_equal(snap_crc_zeros(0x12345678, lens[i]),
				 snap_crc(0x12345678, zero, lens[i]));
	}
}

/* Opening and mapping does not read guest RAM: time it for 4 GiB. */
static void test_large_sparse(void **state)
{
	struct fixture *fx = *state;
	const uint64_t size = 4ULL << 30, small = 64 * MIB;
	const uint64_t touched[] = {0, 12345 * 4096ULL, (2ULL << 30) + 7 * 4096, size - 4096};
	char err[512], p[PATH_MAX];
	uint8_t *src, *m;
	struct snap_writer *w;
	struct snap_reader *r;
	struct stat st;
	double t0, t_save, t_open, t_map, t_touch, t_verify, t_small;

	src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (src == MAP_FAILED) { /* strict overcommit: nothing to measure here */
		print_message("cannot reserve 4 GiB of address space: %s\n", strerror(errno));
		skip();
	}
	madvise(src, size, MADV_HUGEPAGE); /* reads of untouched RAM map the huge zero page */
	for (size_t i = 0; i < sizeof(touched) / sizeof(touched[0]); i++)
		fill(src + touched[i], 4096, (unsigned)i);
	path_in(fx, "big.snap", p);

	t0 = now();
	w = snap_writer_create(p, "{}", err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(snap_writer_add(w, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0)), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram", 0, src, size), 0);
	assert_int_equal(snap_writer_commit(w, err, sizeof(err)), 0);
	t_save = now() - t0;

	t0 = now();
	r = snap_reader_open(p, err, sizeof(err));
	assert_non_null(r);
	t_open = now() - t0;
	t0 = now();
	m = snap_reader_map_memory(r, 0, 0);
	assert_non_null(m);
	t_map = now() - t0;
	t0 = now();
	for (size_t i = 0; i < sizeof(touched) / sizeof(touched[0]); i++)
		assert_memory_equal(m + touched[i], src + touched[i], 4096);
	t_touch = now() - t0;
	t0 = now();
	assert_int_equal(snap_reader_verify_memory(r, err, sizeof(err)), 0);
	t_verify = now() - t0;
	munmap(m, size);
	snap_reader_close(r);
	assert_int_equal(stat(p, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 1 * MIB);

	/* The same with 64 MiB, for comparison. */
	w = snap_writer_create(p, "{}", err, sizeof(err));
	assert_int_equal(snap_writer_add(w, "vcpu0", fx->vcpu0, sizeof(fx->vcpu0)), 0);
	assert_int_equal(snap_writer_add_memory(w, "ram", 0, src, small), 0);
	assert_int_equal(snap_writer_commit(w, err, sizeof(err)), 0);
	t0 = now();
	r = snap_reader_open(p, err, sizeof(err));
	m = snap_reader_map_memory(r, 0, 0);
	assert_non_null(m);
	t_small = now() - t0;
	munmap(m, small);
	snap_reader_close(r);
	unlink(p);
	munmap(src, size);

	print_message("4 GiB sparse snapshot (4 touched pages, %" PRIu64 " KiB on disk): save "
		      "%.3f s, open %.3f ms, map %.3f ms, first touch of 4 pages %.3f ms, "
		      "verify_memory %.3f ms; 64 MiB: open+map %.3f ms\n",
		      (uint64_t)st.st_blocks / 2, t_save, t_open * 1e3, t_map * 1e3, t_touch * 1e3,
		      t_verify * 1e3, t_small * 1e3);
}

/* --- whole-VM config (vmsnap_open) ----------------------------------------- */

#define CFG_BASE                                                                                   \
	"\"cmdline\":\"x\",\"cpus\":2,\"initrd_size\":0,\"kernel\":\"/k\",\"kernel_size\":9,"      \
	"\"memory\":67108864"
#define CFG_DISK                                                                                   \
	"{\"path\":\"/img/a\",\"readonly\":true,\"serial\":\"ser-a\",\"queues\":4,\"size\":8192}"

/* Writes a snapshot whose config is json; opens it with vmsnap_open. */
static struct snap_reader *open_config(struct fixture *fx, const char *json,
				       struct machine_config *mc, struct vmsnap_disk *disks, int *n,
				       char *err, size_t errlen)
{
	char p[PATH_MAX], werr[512] = "";
	struct snap_writer *w;

	path_in(fx, "cfg.snap", p);
	w = snap_writer_create(p, json, werr, sizeof(werr));
	assert_non_null(w);
	assert_int_equal(snap_writer_commit(w, werr, sizeof(werr)), 0);
	memset(mc, 0, sizeof(*mc));
	err[0] = '\0';
	return vmsnap_open(p, mc, disks, n, err, errlen);
}

static void test_vmsnap_config(void **state)
{
	struct fixture *fx = *state;
	struct vmsnap_disk *disks = calloc(16, sizeof(*disks));
	struct machine_config mc;
	struct snap_reader *r;
	char err[512];
	int n = -1;
	static const struct {
		const char *json, *reason;
	} bad[] = {
	    /* Version 1 has no devices; other versions are not read. */
	    {"{" CFG_BASE ",\"version\":1,\"virtio_rng\":false}", "version 1 has no devices"},
	    {"{" CFG_BASE
	     ",\"version\":3,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":[]}",
	     "version 3, expected 1 or 2"},
	    /* Version 2 needs all three device keys, with values in range. */
	    {"{" CFG_BASE ",\"version\":2,\"console\":\"serial\",\"disks\":[]}", "virtio_rng"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"hvc\",\"disks\":[]}",
	     "console 'hvc'"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":1,\"console\":\"serial\",\"disks\":[]}",
	     "virtio_rng"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"/a\",\"readonly\":false,\"serial\":\"s\",\"queues\":0,\"size\":512}]}",
	     "disk 0: values out of range"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"/a\",\"readonly\":false,\"serial\":\"s\",\"queues\":1,\"size\":513}]}",
	     "disk 0: values out of range"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"\",\"readonly\":false,\"serial\":\"s\",\"queues\":1,\"size\":512}]}",
	     "disk 0: values out of range"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"/a\",\"readonly\":false,\"serial\":\"123456789012345678901\","
	     "\"queues\":1,\"size\":512}]}",
	     "disk 0: values out of range"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"/a\",\"readonly\":false,\"serial\":\"s\",\"queues\":1,\"size\":512,"
	     "\"cache\":1}]}",
	     "disk 0:"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":["
	     "{\"path\":\"/a\",\"readonly\":false,\"queues\":1,\"size\":512}]}",
	     "disk 0:"},
	    {"[1,2]", "not a JSON object"},
	    {"{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,\"console\":\"serial\",\"disks\":[],"
	     "\"bogus\":1}",
	     "bogus"},
	};

	assert_non_null(disks);
	/* Version 1: no devices, a serial console. */
	r = open_config(fx, "{" CFG_BASE ",\"version\":1}", &mc, disks, &n, err, sizeof(err));
	if (!r)
		fail_msg("version 1 refused: %s", err);
	assert_int_equal(n, 0);
	assert_false(mc.virtio_rng);
	assert_int_equal(mc.console, MACHINE_CONSOLE_SERIAL);
	assert_int_equal(mc.ncpus, 2);
	vmsnap_close(r, &mc);
	/* Version 2 with every device. */
	r = open_config(fx,
			"{" CFG_BASE ",\"version\":2,\"virtio_rng\":true,\"console\":\"virtio\","
			"\"disks\":[" CFG_DISK ",{\"path\":\"/img/b\",\"readonly\":false,"
			"\"serial\":\"\",\"queues\":1,\"size\":512}]}",
			&mc, disks, &n, err, sizeof(err));
	if (!r)
		fail_msg("version 2 refused: %s", err);
	assert_true(mc.virtio_rng);
	assert_int_equal(mc.console, MACHINE_CONSOLE_VIRTIO);
	assert_int_equal(n, 2);
	assert_string_equal(disks[0].path, "/img/a");
	assert_string_equal(disks[0].serial, "ser-a");
	assert_true(disks[0].readonly);
	assert_int_equal(disks[0].queues, 4);
	assert_int_equal(disks[0].size, 8192);
	assert_string_equal(disks[1].path, "/img/b");
	assert_false(disks[1].readonly);
	assert_int_equal(mc.ndisks, 0); /* the caller's, once it opened the images */
	vmsnap_close(r, &mc);
	/* Seventeen disks. */
	{
		char json[4096];
		size_t at = (size_t)snprintf(json, sizeof(json),
					     "{" CFG_BASE ",\"version\":2,\"virtio_rng\":false,"
					     "\"console\":\"serial\",\"disks\":[");

		for (int i = 0; i < 17; i++)
			at += (size_t)snprintf(json + at, sizeof(json) - at, "%s" CFG_DISK,
					       i ? "," : "");
		snprintf(json + at, sizeof(json) - at, "]}");
		assert_null(open_config(fx, json, &mc, disks, &n, err, sizeof(err)));
		assert_non_null(strstr(err, "17 disks, at most 16"));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = open_config(fx, bad[i].json, &mc, disks, &n, err, sizeof(err));
		if (r)
			fail_msg("accepted: %s", bad[i].json);
		if (!strstr(err, "section 'config'") || !strstr(err, bad[i].reason))
			fail_msg("%s: '%s' does not name the config and say '%s'", bad[i].json, err,
				 bad[i].reason);
		assert_int_equal(n, 0);
	}
	free(disks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc_zeros),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_concurrent_readers),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_corrupted),
	    cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_crafted),
	    cmocka_unit_test(test_writer_refusals),
	    cmocka_unit_test(test_abort),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_bad_destination),
	    cmocka_unit_test(test_write_failure),
	    cmocka_unit_test(test_large_sparse),
	    cmocka_unit_test(test_vmsnap_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
