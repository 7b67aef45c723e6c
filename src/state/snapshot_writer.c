/* SPDX-License-Identifier: MIT */
/*
 * Snapshot writer (format: snapshot.h, docs/snapshot-format.md). Everything goes
 * into a hidden temporary file next to the destination; the header, which holds
 * the magic, is written after the table and trailer, and the file is synced
 * before it is renamed over the destination. So neither a crash nor a failed
 * write (ENOSPC) can leave something at the destination that looks complete, and
 * the previous snapshot stays until the new one is whole and durable.
 */
#include "state/snapshot.h"
#include "state/snapshot_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest single write of non-zero pages: large enough that syscall cost vanishes,
 * small enough that the CRC pass over a run still finds it in cache. */
#define SNAP_RUN_MAX (8u << 20)

struct snap_writer_entry {
	char name[SNAP_NAME_MAX + 1];
	uint32_t kind, crc;
	uint64_t off, len, gpa;
};

struct snap_writer {
	int fd;
	char *path; /* destination */
	char *tmp;  /* temporary file; unlinked unless renamed */
	char *dir;  /* path's directory, synced after the rename */
	uint64_t config_off, config_len, table_off;
	uint32_t config_crc;
	uint64_t pos; /* end of the data written so far */
	uint64_t state_bytes;
	struct snap_writer_entry *ent;
	uint32_t nr, cap;
	int error; /* first failure, sticky; msg says what it was */
	char msg[512];
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void fmt_err(char *err, size_t errlen, const char *path, const char *fmt, va_list ap)
{
	int n;
	if (!err || !errlen)
		return;
	n = snprintf(err, errlen, "snapshot %s: ", path);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void msg(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void msg(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fmt_err(err, errlen, path, fmt, ap);
	va_end(ap);
}

/* Records the first failure; later ones are consequences of it. */
static int fail(struct snap_writer *w, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct snap_writer *w, int e, const char *fmt, ...)
{
	va_list ap;
	if (w->error)
		return w->error;
	w->error = e;
	va_start(ap, fmt);
	fmt_err(w->msg, sizeof(w->msg), w->path, fmt, ap);
	va_end(ap);
	return e;
}

static int write_at(int fd, const void *buf, uint64_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		/* Linux moves at most ~2 GiB per call; ask for less to keep it simple. */
		size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k;
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	return 0;
}

static void writer_free(struct snap_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->tmp);
	free(w->dir);
	free(w->ent);
	free(w);
}

void snap_writer_abort(struct snap_writer *w)
{
	if (!w)
		return;
	if (w->tmp)
		unlink(w->tmp);
	writer_free(w);
}

static int split_path(struct snap_writer *w, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		w->dir = strdup(".");
	} else {
		*base = slash + 1;
		w->dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	}
	return w->dir ? 0 : -ENOMEM;
}

struct snap_writer *snap_writer_create(const char *path, const char *config_json, char *err,
				       size_t errlen)
{
	struct snap_writer *w;
	const char *base;
	size_t clen = strlen(config_json);
	struct stat st;
	int e;

	if (!*path) {
		msg(err, errlen, path, "empty file name");
		errno = EINVAL;
		return NULL;
	}
	if (clen > SNAP_MAX_CONFIG) {
		msg(err, errlen, path, "configuration is %zu bytes, the limit is %u", clen,
		    SNAP_MAX_CONFIG);
		errno = E2BIG;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path)) || split_path(w, path, &base) < 0) {
		if (w) {
			w->fd = -1;
			writer_free(w);
		}
		msg(err, errlen, path, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	w->fd = -1;
	/* Caught here rather than at the rename, after all of RAM was written. */
	if (!*base || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		msg(err, errlen, path, "is a directory");
		writer_free(w);
		errno = EISDIR;
		return NULL;
	}
	if (asprintf(&w->tmp, "%s/.%s.tmp-XXXXXX", w->dir, base) < 0) {
		w->tmp = NULL;
		msg(err, errlen, path, "out of memory");
		writer_free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		e = errno;
		msg(err, errlen, path, "cannot create a temporary file in %s: %s", w->dir,
		    strerror(e));
		free(w->tmp);
		w->tmp = NULL;
		writer_free(w);
		errno = e;
		return NULL;
	}
	w->config_off = SNAP_PAGE_SIZE;
	w->config_len = clen;
	w->config_crc = snap_crc(0, config_json, clen);
	e = write_at(w->fd, config_json, clen, w->config_off);
	if (e < 0) {
		msg(err, errlen, path, "writing the configuration: %s", strerror(-e));
		snap_writer_abort(w);
		errno = -e;
		return NULL;
	}
	/* Room for the largest table right after the config: the table must sit
	 * before the data so that truncation cannot take it, and the unused part
	 * stays a hole. */
	w->table_off = align_up(w->config_off + clen, SNAP_PAGE_SIZE);
	w->pos = w->table_off + (uint64_t)SNAP_MAX_SECTIONS * SNAP_ENTRY_SIZE;
	return w;
}

static int new_entry(struct snap_writer *w, const char *name, uint32_t kind,
		     struct snap_writer_entry **out)
{
	if (!snap_name_valid(name))
		return fail(w, -EINVAL, "invalid section name (1-%d characters '!'..'~')",
			    SNAP_NAME_MAX);
	for (uint32_t i = 0; i < w->nr; i++)
		if (!strcmp(w->ent[i].name, name))
			return fail(w, -EINVAL, "section '%s' added twice", name);
	if (w->nr == SNAP_MAX_SECTIONS)
		return fail(w, -E2BIG, "section '%s': more than %d sections", name,
			    SNAP_MAX_SECTIONS);
	if (w->nr == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 16;
		struct snap_writer_entry *e = realloc(w->ent, cap * sizeof(*e));
		if (!e)
			return fail(w, -ENOMEM, "out of memory");
		w->ent = e;
		w->cap = cap;
	}
	*out = &w->ent[w->nr];
	memset(*out, 0, sizeof(**out));
	strcpy((*out)->name, name);
	(*out)->kind = kind;
	return 0;
}

int snap_writer_add(struct snap_writer *w, const char *name, const void *data, size_t len)
{
	struct snap_writer_entry *e;
	int r;

	if (w->error)
		return w->error;
	r = new_entry(w, name, SNAP_KIND_STATE, &e);
	if (r < 0)
		return r;
	/* The reader holds all state in memory; refuse here what it would refuse. */
	if (len > SNAP_MAX_STATE - w->state_bytes)
		return fail(w, -E2BIG, "section '%s': state sections exceed %u bytes in all", name,
			    SNAP_MAX_STATE);
	e->off = align_up(w->pos, 8);
	e->len = len;
	e->crc = snap_crc(0, data, len);
	r = write_at(w->fd, data, len, e->off);
	if (r < 0)
		return fail(w, r, "section '%s': write failed: %s", name, strerror(-r));
	w->nr++;
	w->state_bytes += len;
	w->pos = e->off + len;
	return 0;
}

/* glibc's memcmp is vectorized per CPU; against a page that stays in L1 it runs
 * at memory bandwidth, which is all a scan of guest RAM can hope for. */
static bool page_is_zero(const uint8_t *p)
{
	return !memcmp(p, snap_zero_page, SNAP_PAGE_SIZE);
}

int snap_writer_add_memory(struct snap_writer *w, const char *name, uint64_t gpa, const void *host,
			   uint64_t size)
{
	const uint8_t *src = host;
	struct snap_writer_entry *e;
	uint64_t i = 0;
	uint32_t crc = 0;
	int r;

	if (w->error)
		return w->error;
	if (!size || size % SNAP_PAGE_SIZE || gpa % SNAP_PAGE_SIZE || gpa + size < gpa ||
	    size > SIZE_MAX)
		return fail(w, -EINVAL, "section '%s': bad memory range 0x%" PRIx64 "+0x%" PRIx64,
			    name, gpa, size);
	for (uint32_t k = 0; k < w->nr; k++) {
		const struct snap_writer_entry *o = &w->ent[k];
		if (o->kind == SNAP_KIND_MEMORY && gpa < o->gpa + o->len && o->gpa < gpa + size)
			return fail(w, -EINVAL,
				    "section '%s' overlaps section '%s' in guest memory", name,
				    o->name);
	}
	r = new_entry(w, name, SNAP_KIND_MEMORY, &e);
	if (r < 0)
		return r;
	e->off = align_up(w->pos, SNAP_MEM_ALIGN);
	e->len = size;
	e->gpa = gpa;
	while (i < size) {
		bool zero = page_is_zero(src + i);
		uint64_t j = i + SNAP_PAGE_SIZE;
		while (j < size && (zero || j - i < SNAP_RUN_MAX) && page_is_zero(src + j) == zero)
			j += SNAP_PAGE_SIZE;
		if (zero) {
			/* Never written: the file keeps a hole, which reads as zeros. */
			crc = snap_crc_zeros(crc, j - i);
		} else {
			crc = snap_crc(crc, src + i, (size_t)(j - i));
			r = write_at(w->fd, src + i, j - i, e->off + i);
			if (r < 0)
				return fail(w, r, "section '%s': write failed: %s", name,
					    strerror(-r));
		}
		i = j;
	}
	e->crc = crc;
	w->nr++;
	w->pos = e->off + size;
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int write_tail(struct snap_writer *w)
{
	uint8_t hdr[SNAP_HEADER_SIZE] = {0}, trl[SNAP_TRAILER_SIZE] = {0};
	uint64_t trailer_off = align_up(w->pos, 8), file_len = trailer_off + SNAP_TRAILER_SIZE;
	size_t tlen = (size_t)w->nr * SNAP_ENTRY_SIZE;
	uint8_t *table = calloc(1, tlen ? tlen : 1);
	uint32_t table_crc, hdr_crc;
	int r;

	if (!table)
		return fail(w, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < w->nr; i++) {
		uint8_t *t = table + (size_t)i * SNAP_ENTRY_SIZE;
		const struct snap_writer_entry *e = &w->ent[i];
		memcpy(t, e->name, strlen(e->name));
		snap_put_u32(t + SNAP_ENT_KIND, e->kind);
		snap_put_u32(t + SNAP_ENT_CRC, e->crc);
		snap_put_u64(t + SNAP_ENT_OFF, e->off);
		snap_put_u64(t + SNAP_ENT_LEN, e->len);
		snap_put_u64(t + SNAP_ENT_GPA, e->gpa);
	}
	table_crc = snap_crc(0, table, tlen);

	memcpy(hdr, SNAP_MAGIC, 8);
	snap_put_u32(hdr + SNAP_HDR_VERSION, SNAP_VERSION);
	snap_put_u32(hdr + SNAP_HDR_SIZE, SNAP_HEADER_SIZE);
	snap_put_u64(hdr + SNAP_HDR_FILE_LEN, file_len);
	snap_put_u64(hdr + SNAP_HDR_CONFIG_OFF, w->config_off);
	snap_put_u64(hdr + SNAP_HDR_CONFIG_LEN, w->config_len);
	snap_put_u64(hdr + SNAP_HDR_TABLE_OFF, w->table_off);
	snap_put_u32(hdr + SNAP_HDR_TABLE_COUNT, w->nr);
	snap_put_u32(hdr + SNAP_HDR_ENTRY_SIZE, SNAP_ENTRY_SIZE);
	snap_put_u32(hdr + SNAP_HDR_CONFIG_CRC, w->config_crc);
	snap_put_u32(hdr + SNAP_HDR_TABLE_CRC, table_crc);
	snap_put_u32(hdr + SNAP_HDR_PAGE_SIZE, SNAP_PAGE_SIZE);
	hdr_crc = snap_crc(0, hdr, SNAP_HDR_CRC);
	snap_put_u32(hdr + SNAP_HDR_CRC, hdr_crc);

	memcpy(trl, SNAP_END_MAGIC, 8);
	snap_put_u32(trl + SNAP_TRL_VERSION, SNAP_VERSION);
	snap_put_u32(trl + SNAP_TRL_HDR_CRC, hdr_crc);
	snap_put_u64(trl + SNAP_TRL_FILE_LEN, file_len);
	snap_put_u64(trl + SNAP_TRL_TABLE_OFF, w->table_off);
	snap_put_u32(trl + SNAP_TRL_TABLE_COUNT, w->nr);
	snap_put_u32(trl + SNAP_TRL_TABLE_CRC, table_crc);
	snap_put_u32(trl + SNAP_TRL_CRC, snap_crc(0, trl, SNAP_TRL_CRC));

	r = write_at(w->fd, table, tlen, w->table_off);
	free(table);
	if (r < 0)
		return fail(w, r, "writing the section table: %s", strerror(-r));
	r = write_at(w->fd, trl, sizeof(trl), trailer_off);
	if (r < 0)
		return fail(w, r, "writing the trailer: %s", strerror(-r));
	/* Last, so that even the temporary file only looks like a snapshot once
	 * everything else is in it. */
	r = write_at(w->fd, hdr, sizeof(hdr), 0);
	if (r < 0)
		return fail(w, r, "writing the header: %s", strerror(-r));
	return 0;
}

int snap_writer_commit(struct snap_writer *w, char *err, size_t errlen)
{
	int r;

	if (!w->error)
		write_tail(w);
	/* The data must be durable before the name points at it, or a crash could
	 * leave a complete-looking name over missing blocks. */
	if (!w->error && fdatasync(w->fd) < 0)
		fail(w, -errno, "syncing %s: %s", w->tmp, strerror(errno));
	if (!w->error) {
		r = close(w->fd);
		w->fd = -1;
		if (r < 0)
			fail(w, -errno, "closing %s: %s", w->tmp, strerror(errno));
	}
	if (!w->error && rename(w->tmp, w->path) < 0)
		fail(w, -errno, "renaming %s: %s", w->tmp, strerror(errno));
	if (w->error) {
		r = w->error;
		if (err && errlen)
			snprintf(err, errlen, "%s", w->msg);
		snap_writer_abort(w);
		return r;
	}
	free(w->tmp);
	w->tmp = NULL;
	r = sync_dir(w->dir);
	if (r < 0)
		msg(err, errlen, w->path,
		    "saved, but syncing directory %s failed (%s): it may not "
		    "survive a crash",
		    w->dir, strerror(-r));
	writer_free(w);
	return r;
}
