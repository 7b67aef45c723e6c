/* SPDX-License-Identifier: MIT */
/*
 * Snapshot reader (format: snapshot.h, docs/snapshot-format.md) and the helpers
 * the writer shares. The file is hostile: no offset or length is used before it
 * is checked against the file size without overflow, counts and sizes are capped
 * before anything is allocated from them, and every check names the part of the
 * file it refuses. Guest RAM is never read on open, only mapped on request, so
 * opening costs the same for 256 MiB or 256 GiB of guest memory.
 */
#include "state/snapshot.h"
#include "state/snapshot_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define VERIFY_CHUNK (1u << 20)

struct snap_section {
	char name[SNAP_NAME_MAX + 1];
	uint32_t kind, crc;
	uint64_t off, len, gpa;
	const uint8_t *data; /* state sections: into snap_reader.state */
};

struct snap_reader {
	int fd; /* kept for mapping memory sections */
	char *label;
	uint64_t size;
	char *config;
	struct snap_section *sec;
	uint32_t nr;
	int *mem; /* indices into sec of the memory sections, in file order */
	int nr_mem;
	uint8_t *state;
};

void snap_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void snap_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t snap_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t snap_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint32_t snap_crc(uint32_t crc, const void *p, size_t n)
{
	return n ? (uint32_t)crc32_z(crc, p, n) : crc;
}

const uint8_t snap_zero_page[SNAP_PAGE_SIZE];

uint32_t snap_crc_zeros(uint32_t crc, uint64_t n)
{
	uint32_t acc = snap_crc(0, snap_zero_page, (size_t)(n % SNAP_PAGE_SIZE));
	uint32_t pow = snap_crc(0, snap_zero_page, SNAP_PAGE_SIZE); /* CRC of plen zeros */
	uint64_t plen = SNAP_PAGE_SIZE;

	/* Zeros commute, so CRC(zeros) builds up from the binary digits of n. */
	for (uint64_t k = n / SNAP_PAGE_SIZE; k; k >>= 1) {
		if (k & 1)
			acc = (uint32_t)crc32_combine64(acc, pow, (z_off64_t)plen);
		if (k > 1) {
			pow = (uint32_t)crc32_combine64(pow, pow, (z_off64_t)plen);
			plen *= 2;
		}
	}
	return (uint32_t)crc32_combine64(crc, acc, (z_off64_t)n);
}

bool snap_name_valid(const char *p)
{
	size_t n = strnlen(p, SNAP_NAME_MAX + 1);
	if (n == 0 || n > SNAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '!' || p[i] > '~')
			return false;
	return true;
}

static int fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (err && errlen) {
		n = snprintf(err, errlen, "snapshot %s: ", label);
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < errlen)
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* 0, -errno, or -ENODATA when the file ends early (it shrank since fstat). */
static int read_at(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t k = pread(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ENODATA;
		p += k;
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	return 0;
}

static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int read_err(const char *label, int e, const char *what, char *err, size_t errlen)
{
	fail(err, errlen, label, "reading %s: %s", what,
	     e == -ENODATA ? "unexpected end of file" : strerror(-e));
	return e == -ENODATA ? -EINVAL : e;
}

/* Reads and checks the header; fills h (SNAP_HEADER_SIZE bytes). */
static int check_header(struct snap_reader *r, uint8_t *h, char *err, size_t errlen)
{
	uint8_t magic[8];
	uint32_t version, hsize;
	uint8_t *big;
	int e;

	if (r->size < 16) {
		size_t n = (size_t)r->size < 8 ? (size_t)r->size : 8;
		e = read_at(r->fd, magic, n, 0);
		if (e < 0)
			return read_err(r->label, e, "the header", err, errlen);
		if (memcmp(magic, SNAP_MAGIC, n))
			return fail(err, errlen, r->label, "not a kvmm snapshot (bad magic)");
		return fail(err, errlen, r->label,
			    "file is %" PRIu64
			    " bytes, too short for a snapshot header: truncated?",
			    r->size);
	}
	e = read_at(r->fd, h, 16, 0);
	if (e < 0)
		return read_err(r->label, e, "the header", err, errlen);
	if (memcmp(h, SNAP_MAGIC, 8))
		return fail(err, errlen, r->label, "not a kvmm snapshot (bad magic)");
	/* Every version keeps magic, version and header size first and ends its
	 * header with a CRC of the rest, so a corrupted v1 header reads as corrupted
	 * and a genuine newer file reads as a newer version. */
	version = snap_get_u32(h + SNAP_HDR_VERSION);
	hsize = snap_get_u32(h + SNAP_HDR_SIZE);
	if (hsize < 20 || hsize > SNAP_PAGE_SIZE || hsize % 4)
		return fail(err, errlen, r->label, "header: invalid header size %u", hsize);
	if (hsize > r->size)
		return fail(err, errlen, r->label,
			    "file is %" PRIu64
			    " bytes, too short for its %u-byte header: truncated?",
			    r->size, hsize);
	big = malloc(hsize);
	if (!big)
		return -ENOMEM;
	e = read_at(r->fd, big, hsize, 0);
	if (e < 0) {
		free(big);
		return read_err(r->label, e, "the header", err, errlen);
	}
	e = snap_crc(0, big, hsize - 4) != snap_get_u32(big + hsize - 4);
	if (!e && hsize == SNAP_HEADER_SIZE)
		memcpy(h, big, SNAP_HEADER_SIZE);
	free(big);
	if (e)
		return fail(err, errlen, r->label, "header: checksum mismatch");
	if (version != SNAP_VERSION)
		return fail(err, errlen, r->label, "format version %u, this kvmm reads version %d",
			    version, SNAP_VERSION);
	if (hsize != SNAP_HEADER_SIZE)
		return fail(err, errlen, r->label, "header: size %u, version %d has %d", hsize,
			    SNAP_VERSION, SNAP_HEADER_SIZE);
	if (snap_get_u64(h + SNAP_HDR_FLAGS))
		return fail(err, errlen, r->label, "header: unknown flags 0x%" PRIx64 "",
			    snap_get_u64(h + SNAP_HDR_FLAGS));
	if (snap_get_u32(h + SNAP_HDR_ENTRY_SIZE) != SNAP_ENTRY_SIZE ||
	    snap_get_u32(h + SNAP_HDR_PAGE_SIZE) != SNAP_PAGE_SIZE ||
	    !all_zero(h + SNAP_HDR_PAGE_SIZE + 4, SNAP_HDR_CRC - SNAP_HDR_PAGE_SIZE - 4))
		return fail(err, errlen, r->label,
			    "header: unsupported entry size, page size or "
			    "reserved fields");
	return 0;
}

static int read_config(struct snap_reader *r, const uint8_t *h, char *err, size_t errlen)
{
	uint64_t off = snap_get_u64(h + SNAP_HDR_CONFIG_OFF),
		 len = snap_get_u64(h + SNAP_HDR_CONFIG_LEN);
	int e;

	if (len > SNAP_MAX_CONFIG)
		return fail(err, errlen, r->label, "config: %" PRIu64 " bytes, the limit is %u",
			    len, SNAP_MAX_CONFIG);
	if (!in_file(off, len, r->size))
		return fail(err, errlen, r->label,
			    "config (offset %" PRIu64 ", length %" PRIu64 ") extends past "
			    "the end of the file (size %" PRIu64 "): file truncated?",
			    off, len, r->size);
	r->config = malloc((size_t)len + 1);
	if (!r->config)
		return -ENOMEM;
	e = read_at(r->fd, r->config, len, off);
	if (e < 0)
		return read_err(r->label, e, "the config", err, errlen);
	r->config[len] = 0;
	if (snap_crc(0, r->config, (size_t)len) != snap_get_u32(h + SNAP_HDR_CONFIG_CRC))
		return fail(err, errlen, r->label, "config: checksum mismatch");
	if (memchr(r->config, 0, (size_t)len))
		return fail(err, errlen, r->label, "config: contains a NUL byte");
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const struct snap_section *x = *(const struct snap_section *const *)a;
	const struct snap_section *y = *(const struct snap_section *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_gpa(const void *a, const void *b)
{
	const struct snap_section *x = *(const struct snap_section *const *)a;
	const struct snap_section *y = *(const struct snap_section *const *)b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* One section's own fields; everything that does not need the other sections. */
static int check_entry(struct snap_reader *r, uint32_t i, const uint8_t *t, char *err,
		       size_t errlen)
{
	struct snap_section *s = &r->sec[i];

	if (!snap_name_valid((const char *)t) ||
	    !all_zero(t + strlen((const char *)t), SNAP_NAME_MAX + 1 - strlen((const char *)t)))
		return fail(err, errlen, r->label, "section table entry %u: invalid name", i);
	memcpy(s->name, t, SNAP_NAME_MAX + 1);
	s->kind = snap_get_u32(t + SNAP_ENT_KIND);
	s->crc = snap_get_u32(t + SNAP_ENT_CRC);
	s->off = snap_get_u64(t + SNAP_ENT_OFF);
	s->len = snap_get_u64(t + SNAP_ENT_LEN);
	s->gpa = snap_get_u64(t + SNAP_ENT_GPA);
	if (!all_zero(t + SNAP_ENT_GPA + 8, SNAP_ENTRY_SIZE - SNAP_ENT_GPA - 8))
		return fail(err, errlen, r->label, "section '%s': reserved bytes are not zero",
			    s->name);
	if (s->kind != SNAP_KIND_STATE && s->kind != SNAP_KIND_MEMORY)
		return fail(err, errlen, r->label, "section '%s': unknown kind %u", s->name,
			    s->kind);
	if (!in_file(s->off, s->len, r->size))
		return fail(err, errlen, r->label,
			    "section '%s' (offset %" PRIu64 ", length %" PRIu64 ") extends "
			    "past the end of the file (size %" PRIu64 "): file truncated?",
			    s->name, s->off, s->len, r->size);
	if (s->kind == SNAP_KIND_STATE) {
		if (s->gpa)
			return fail(err, errlen, r->label,
				    "section '%s': state with a guest address", s->name);
		return 0;
	}
	if (s->off % SNAP_PAGE_SIZE || s->gpa % SNAP_PAGE_SIZE || s->len % SNAP_PAGE_SIZE ||
	    !s->len || s->gpa + s->len < s->gpa)
		return fail(err, errlen, r->label,
			    "section '%s': memory at offset %" PRIu64 ", gpa 0x%" PRIx64 ", "
			    "size 0x%" PRIx64 " is not page-aligned or wraps",
			    s->name, s->off, s->gpa, s->len);
	return 0;
}

static int check_gpas(struct snap_reader *r, char *err, size_t errlen)
{
	const struct snap_section **v;
	int e = 0;

	if (r->nr_mem < 2)
		return 0;
	v = malloc((size_t)r->nr_mem * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < r->nr_mem; i++)
		v[i] = &r->sec[r->mem[i]];
	qsort(v, (size_t)r->nr_mem, sizeof(*v), cmp_gpa);
	for (int i = 1; i < r->nr_mem && !e; i++)
		if (v[i - 1]->gpa + v[i - 1]->len > v[i]->gpa)
			e = fail(err, errlen, r->label,
				 "section '%s' overlaps section '%s' in guest "
				 "memory",
				 v[i]->name, v[i - 1]->name);
	free(v);
	return e;
}

static int check_names(struct snap_reader *r, char *err, size_t errlen)
{
	const struct snap_section **v;
	int e = 0;

	if (r->nr < 2)
		return 0;
	v = malloc((size_t)r->nr * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nr; i++)
		v[i] = &r->sec[i];
	qsort(v, r->nr, sizeof(*v), cmp_name);
	for (uint32_t i = 1; i < r->nr && !e; i++)
		if (!strcmp(v[i - 1]->name, v[i]->name))
			e = fail(err, errlen, r->label, "section '%s' appears twice", v[i]->name);
	free(v);
	return e;
}

struct extent {
	uint64_t off, len;
	const char *what; /* "header", ... or a section name */
	bool section;
};

static int cmp_extent(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	/* Ties broken so the message is the same on every libc: structures first. */
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->section != y->section)
		return x->section ? 1 : -1;
	return strcmp(x->what, y->what);
}

/* Two structures sharing bytes means a crafted or corrupted table; refuse it
 * rather than reason about what aliasing could do downstream. */
static int check_extents(struct snap_reader *r, const uint8_t *h, char *err, size_t errlen)
{
	struct extent *x = malloc(((size_t)r->nr + 4) * sizeof(*x));
	size_t n = 0, owner = SIZE_MAX;
	uint64_t maxend = 0;
	int e = 0;

	if (!x)
		return -ENOMEM;
	x[n++] = (struct extent){0, SNAP_HEADER_SIZE, "the header", false};
	x[n++] = (struct extent){snap_get_u64(h + SNAP_HDR_CONFIG_OFF),
				 snap_get_u64(h + SNAP_HDR_CONFIG_LEN), "the config", false};
	x[n++] = (struct extent){snap_get_u64(h + SNAP_HDR_TABLE_OFF),
				 (uint64_t)r->nr * SNAP_ENTRY_SIZE, "the section table", false};
	x[n++] =
	    (struct extent){r->size - SNAP_TRAILER_SIZE, SNAP_TRAILER_SIZE, "the trailer", false};
	for (uint32_t i = 0; i < r->nr; i++)
		x[n++] = (struct extent){r->sec[i].off, r->sec[i].len, r->sec[i].name, true};
	qsort(x, n, sizeof(*x), cmp_extent);
	for (size_t i = 0; i < n && !e; i++) {
		/* Empty extents hold no bytes; otherwise compare with the furthest end
		 * so far, which need not be the previous extent's. */
		if (!x[i].len)
			continue;
		if (owner != SIZE_MAX && x[i].off < maxend)
			e = fail(err, errlen, r->label, "%s%s%s overlaps %s%s%s",
				 x[i].section ? "section '" : "", x[i].what,
				 x[i].section ? "'" : "", x[owner].section ? "section '" : "",
				 x[owner].what, x[owner].section ? "'" : "");
		if (x[i].off + x[i].len > maxend) {
			maxend = x[i].off + x[i].len;
			owner = i;
		}
	}
	free(x);
	return e;
}

static int read_table(struct snap_reader *r, const uint8_t *h, char *err, size_t errlen)
{
	uint64_t off = snap_get_u64(h + SNAP_HDR_TABLE_OFF);
	uint32_t count = snap_get_u32(h + SNAP_HDR_TABLE_COUNT);
	uint64_t len = (uint64_t)count * SNAP_ENTRY_SIZE;
	uint8_t *t;
	int e;

	if (count > SNAP_MAX_SECTIONS)
		return fail(err, errlen, r->label, "section table: %u entries, the limit is %d",
			    count, SNAP_MAX_SECTIONS);
	if (!in_file(off, len, r->size))
		return fail(err, errlen, r->label,
			    "section table (offset %" PRIu64 ", length %" PRIu64 ") extends "
			    "past the end of the file (size %" PRIu64 "): file truncated?",
			    off, len, r->size);
	t = malloc(len ? (size_t)len : 1);
	r->sec = calloc(count ? count : 1, sizeof(*r->sec));
	r->mem = calloc(count ? count : 1, sizeof(*r->mem));
	if (!t || !r->sec || !r->mem) {
		free(t);
		return -ENOMEM;
	}
	e = read_at(r->fd, t, len, off);
	if (e < 0) {
		free(t);
		return read_err(r->label, e, "the section table", err, errlen);
	}
	if (snap_crc(0, t, (size_t)len) != snap_get_u32(h + SNAP_HDR_TABLE_CRC)) {
		free(t);
		return fail(err, errlen, r->label, "section table: checksum mismatch");
	}
	for (uint32_t i = 0; i < count && !e; i++) {
		e = check_entry(r, i, t + (size_t)i * SNAP_ENTRY_SIZE, err, errlen);
		r->nr = i + 1;
		if (!e && r->sec[i].kind == SNAP_KIND_MEMORY)
			r->mem[r->nr_mem++] = (int)i;
	}
	free(t);
	return e;
}

static int check_trailer(struct snap_reader *r, const uint8_t *h, char *err, size_t errlen)
{
	uint8_t t[SNAP_TRAILER_SIZE];
	uint64_t recorded = snap_get_u64(h + SNAP_HDR_FILE_LEN);
	int e;

	if (recorded != r->size)
		return fail(err, errlen, r->label,
			    "file is %" PRIu64 " bytes but its header records %" PRIu64 ": "
			    "%s",
			    r->size, recorded,
			    r->size < recorded ? "file truncated?" : "data appended?");
	if (r->size < SNAP_HEADER_SIZE + SNAP_TRAILER_SIZE)
		return fail(err, errlen, r->label, "trailer: file too short for one");
	e = read_at(r->fd, t, sizeof(t), r->size - sizeof(t));
	if (e < 0)
		return read_err(r->label, e, "the trailer", err, errlen);
	if (memcmp(t, SNAP_END_MAGIC, 8))
		return fail(err, errlen, r->label,
			    "trailer: bad magic: file incompletely written?");
	if (snap_crc(0, t, SNAP_TRL_CRC) != snap_get_u32(t + SNAP_TRL_CRC))
		return fail(err, errlen, r->label, "trailer: checksum mismatch");
	if (snap_get_u32(t + SNAP_TRL_VERSION) != SNAP_VERSION ||
	    snap_get_u32(t + SNAP_TRL_HDR_CRC) != snap_get_u32(h + SNAP_HDR_CRC) ||
	    snap_get_u64(t + SNAP_TRL_FILE_LEN) != recorded ||
	    snap_get_u64(t + SNAP_TRL_TABLE_OFF) != snap_get_u64(h + SNAP_HDR_TABLE_OFF) ||
	    snap_get_u32(t + SNAP_TRL_TABLE_COUNT) != r->nr ||
	    snap_get_u32(t + SNAP_TRL_TABLE_CRC) != snap_get_u32(h + SNAP_HDR_TABLE_CRC) ||
	    !all_zero(t + SNAP_TRL_TABLE_CRC + 4, SNAP_TRL_CRC - SNAP_TRL_TABLE_CRC - 4))
		return fail(err, errlen, r->label, "trailer: does not match the header");
	return 0;
}

static int read_state(struct snap_reader *r, char *err, size_t errlen)
{
	uint64_t total = 0, at = 0;
	int e;

	for (uint32_t i = 0; i < r->nr; i++)
		if (r->sec[i].kind == SNAP_KIND_STATE) {
			total += r->sec[i].len; /* each <= file size: no overflow */
			if (total > SNAP_MAX_STATE)
				return fail(err, errlen, r->label,
					    "section '%s': state sections "
					    "exceed %u bytes in all",
					    r->sec[i].name, SNAP_MAX_STATE);
		}
	r->state = malloc(total ? (size_t)total : 1);
	if (!r->state)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nr; i++) {
		struct snap_section *s = &r->sec[i];
		if (s->kind != SNAP_KIND_STATE)
			continue;
		s->data = r->state + at;
		e = read_at(r->fd, r->state + at, s->len, s->off);
		if (e < 0)
			return read_err(r->label, e, s->name, err, errlen);
		if (snap_crc(0, s->data, (size_t)s->len) != s->crc)
			return fail(err, errlen, r->label, "section '%s': checksum mismatch",
				    s->name);
		at += s->len;
	}
	return 0;
}

struct snap_reader *snap_reader_open_fd(int fd, const char *label, char *err, size_t errlen)
{
	struct snap_reader *r = calloc(1, sizeof(*r));
	uint8_t h[SNAP_HEADER_SIZE];
	struct stat st;
	int e;

	if (!r || !(r->label = strdup(label))) {
		free(r);
		close(fd);
		fail(err, errlen, label, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->fd = fd;
	if (fstat(fd, &st) < 0) {
		e = -errno;
		fail(err, errlen, label, "%s", strerror(-e));
	} else if (!S_ISREG(st.st_mode)) {
		e = fail(err, errlen, label, "not a regular file");
	} else {
		r->size = (uint64_t)st.st_size;
		/* Order matters for the message: the table is checked before the file
		 * length, so a truncated file names the section it cut. */
		e = check_header(r, h, err, errlen);
		if (!e)
			e = read_config(r, h, err, errlen);
		if (!e)
			e = read_table(r, h, err, errlen);
		if (!e)
			e = check_names(r, err, errlen);
		if (!e)
			e = check_trailer(r, h, err, errlen);
		if (!e)
			e = check_extents(r, h, err, errlen);
		if (!e)
			e = check_gpas(r, err, errlen);
		if (!e)
			e = read_state(r, err, errlen);
	}
	if (e == -ENOMEM)
		fail(err, errlen, label, "out of memory");
	if (e) {
		snap_reader_close(r);
		errno = -e;
		return NULL;
	}
	return r;
}

struct snap_reader *snap_reader_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		fail(err, errlen, path, "%s", strerror(e));
		errno = e;
		return NULL;
	}
	return snap_reader_open_fd(fd, path, err, errlen);
}

void snap_reader_close(struct snap_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->label);
	free(r->config);
	free(r->sec);
	free(r->mem);
	free(r->state);
	free(r);
}

const char *snap_reader_config(const struct snap_reader *r)
{
	return r->config;
}

int snap_reader_section(const struct snap_reader *r, const char *name, const void **data,
			size_t *len)
{
	for (uint32_t i = 0; i < r->nr; i++)
		if (r->sec[i].kind == SNAP_KIND_STATE && !strcmp(r->sec[i].name, name)) {
			*data = r->sec[i].data;
			*len = (size_t)r->sec[i].len;
			return 0;
		}
	return -ENOENT;
}

int snap_reader_state(const struct snap_reader *r, int index, const char **name, const void **data,
		      size_t *len)
{
	if (index < 0)
		return -ENOENT;
	for (uint32_t i = 0; i < r->nr; i++)
		if (r->sec[i].kind == SNAP_KIND_STATE && index-- == 0) {
			*name = r->sec[i].name;
			*data = r->sec[i].data;
			*len = (size_t)r->sec[i].len;
			return 0;
		}
	return -ENOENT;
}

int snap_reader_memory(const struct snap_reader *r, int index, const char **name, uint64_t *gpa,
		       uint64_t *size)
{
	const struct snap_section *s;
	if (index < 0 || index >= r->nr_mem)
		return -ENOENT;
	s = &r->sec[r->mem[index]];
	if (name)
		*name = s->name;
	if (gpa)
		*gpa = s->gpa;
	if (size)
		*size = s->len;
	return 0;
}

void *snap_reader_map_memory(const struct snap_reader *r, int index, int extra_flags)
{
	const struct snap_section *s;
	void *p;
	int forbidden = MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS;
#ifdef MAP_FIXED_NOREPLACE
	forbidden |= MAP_FIXED_NOREPLACE;
#endif

	if (index < 0 || index >= r->nr_mem) {
		errno = ENOENT;
		return NULL;
	}
	/* A shared or anonymous mapping would break the promise that the file is
	 * never written and that the contents are the snapshot's. */
	if (extra_flags & forbidden) {
		errno = EINVAL;
		return NULL;
	}
	s = &r->sec[r->mem[index]];
	if (s->len > SIZE_MAX || s->off > (uint64_t)INT64_MAX) {
		errno = EOVERFLOW;
		return NULL;
	}
	p = mmap(NULL, (size_t)s->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_NORESERVE | extra_flags, r->fd, (off_t)s->off);
	return p == MAP_FAILED ? NULL : p;
}

/* CRC of [off, off+len), skipping holes where the filesystem reports them. */
static int crc_range(int fd, uint64_t off, uint64_t len, uint8_t *buf, uint32_t *crc)
{
	uint64_t pos = off, end = off + len;
	uint32_t c = 0;
	int e;

	while (pos < end) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA), hole;
		if (d < 0 && errno != ENXIO && errno != EINVAL)
			return -errno;
		/* ENXIO: only holes remain; EINVAL: no hole reporting here. */
		if (d < 0)
			d = errno == ENXIO ? (off_t)end : (off_t)pos;
		if ((uint64_t)d > end)
			d = (off_t)end;
		c = snap_crc_zeros(c, (uint64_t)d - pos);
		pos = (uint64_t)d;
		if (pos == end)
			break;
		hole = lseek(fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > end || (uint64_t)hole <= pos)
			hole = (off_t)end;
		while (pos < (uint64_t)hole) {
			uint64_t n = (uint64_t)hole - pos;
			if (n > VERIFY_CHUNK)
				n = VERIFY_CHUNK;
			e = read_at(fd, buf, n, pos);
			if (e < 0)
				return e;
			c = snap_crc(c, buf, (size_t)n);
			pos += n;
		}
	}
	*crc = c;
	return 0;
}

int snap_reader_verify_memory(const struct snap_reader *r, char *err, size_t errlen)
{
	uint8_t *buf = malloc(VERIFY_CHUNK);
	int e = 0;

	if (!buf) {
		fail(err, errlen, r->label, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < r->nr_mem && !e; i++) {
		const struct snap_section *s = &r->sec[r->mem[i]];
		uint32_t crc = 0;
		e = crc_range(r->fd, s->off, s->len, buf, &crc);
		if (e < 0)
			e = read_err(r->label, e, s->name, err, errlen);
		else if (crc != s->crc)
			e = fail(err, errlen, r->label, "section '%s': memory checksum mismatch",
				 s->name);
	}
	free(buf);
	return e;
}
