/* SPDX-License-Identifier: MIT */
/*
 * Snapshot container file, format version 1 (docs/snapshot-format.md is the
 * specification; this comment is its summary). A snapshot is one file holding the
 * machine's configuration (JSON), named state sections (bytes a device's save()
 * produced with state/buf.h) and guest RAM sections that a restore maps from the
 * file copy-on-write, so restore time does not grow with guest memory size and
 * many VMs restored from one file share the pages none of them wrote.
 *
 * Layout (all integers little-endian, every field written explicitly):
 *
 *   0        header, 128 bytes, padded to 4 KiB:
 *              0 magic "KVMMSNAP"        8 u32 version (1)    12 u32 header size (128)
 *             16 u64 flags (0)          24 u64 file length
 *             32 u64 config offset      40 u64 config length (bytes, no NUL)
 *             48 u64 table offset       56 u32 table entries  60 u32 entry size (128)
 *             64 u32 config CRC         68 u32 table CRC      72 u32 page size (4096)
 *             76..123 zero             124 u32 CRC of bytes 0..123
 *   4096     config JSON
 *   ...      section table, near the front so that a truncated file still says
 *            which section it lost; entries of 128 bytes:
 *              0 name[64] (printable ASCII, NUL-terminated, NUL-padded)
 *             64 u32 kind (1 state, 2 memory)   68 u32 CRC of the contents
 *             72 u64 file offset   80 u64 length   88 u64 guest physical address
 *             96..127 zero
 *   ...      state sections, memory sections (at 2 MiB-aligned offsets; all-zero
 *            4 KiB pages are holes, so they cost no disk)
 *   end-64   trailer: 0 magic "KVMMEND!"  8 u32 version  12 u32 header CRC
 *             16 u64 file length  24 u64 table offset  32 u32 table entries
 *             36 u32 table CRC  40..59 zero  60 u32 CRC of bytes 0..59
 *
 * CRCs are CRC-32 (zlib's crc32, the ISO-HDLC polynomial). A memory section's CRC
 * covers all of its bytes, holes read as zeros; only snap_reader_verify_memory()
 * checks it, because checking it on open would read all of guest RAM.
 *
 * The writer writes into a hidden temporary file next to the destination, writes
 * the header last, syncs it and renames it over the destination: a crash or a
 * full disk mid-save leaves the previous snapshot in place, and running VMs that
 * map the previous file keep their (now unlinked) inode. The reader validates
 * every structure it will hand out before returning, and names the part of the
 * file that is wrong.
 */
#ifndef KVMM_STATE_SNAPSHOT_H
#define KVMM_STATE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_VERSION 1

#define SNAP_MAGIC	  "KVMMSNAP"
#define SNAP_END_MAGIC	  "KVMMEND!"
#define SNAP_HEADER_SIZE  128
#define SNAP_ENTRY_SIZE	  128
#define SNAP_TRAILER_SIZE 64
#define SNAP_PAGE_SIZE	  4096u
#define SNAP_MEM_ALIGN	  (2u << 20) /* memory sections' file offsets, for THP */
#define SNAP_NAME_MAX	  63	     /* bytes, without the NUL */
#define SNAP_MAX_SECTIONS 4096
#define SNAP_MAX_CONFIG	  (1u << 20)
#define SNAP_MAX_STATE	  (256u << 20) /* all state sections together, read on open */
#define SNAP_KIND_STATE	  1
#define SNAP_KIND_MEMORY  2

/* Header field offsets. */
#define SNAP_HDR_VERSION     8
#define SNAP_HDR_SIZE	     12
#define SNAP_HDR_FLAGS	     16
#define SNAP_HDR_FILE_LEN    24
#define SNAP_HDR_CONFIG_OFF  32
#define SNAP_HDR_CONFIG_LEN  40
#define SNAP_HDR_TABLE_OFF   48
#define SNAP_HDR_TABLE_COUNT 56
#define SNAP_HDR_ENTRY_SIZE  60
#define SNAP_HDR_CONFIG_CRC  64
#define SNAP_HDR_TABLE_CRC   68
#define SNAP_HDR_PAGE_SIZE   72
#define SNAP_HDR_CRC	     124

/* Section table entry field offsets. */
#define SNAP_ENT_KIND 64
#define SNAP_ENT_CRC  68
#define SNAP_ENT_OFF  72
#define SNAP_ENT_LEN  80
#define SNAP_ENT_GPA  88

/* Trailer field offsets. */
#define SNAP_TRL_VERSION     8
#define SNAP_TRL_HDR_CRC     12
#define SNAP_TRL_FILE_LEN    16
#define SNAP_TRL_TABLE_OFF   24
#define SNAP_TRL_TABLE_COUNT 32
#define SNAP_TRL_TABLE_CRC   36
#define SNAP_TRL_CRC	     60

struct snap_writer;
struct snap_reader;

/*
 * Starts a snapshot that will replace path on commit. The data goes to
 * "<dir>/.<name>.tmp-XXXXXX" (mode 0600: it holds guest memory) in path's
 * directory, so the final rename is atomic. config_json is the machine's
 * configuration, at most SNAP_MAX_CONFIG bytes. NULL with errno and a message.
 */
struct snap_writer *snap_writer_create(const char *path, const char *config_json, char *err,
				       size_t errlen);

/*
 * Appends a state section. Names are 1..SNAP_NAME_MAX printable ASCII characters
 * other than space, unique within the file. The first failure sticks: later adds
 * return it and commit reports it with its message, so a caller may check once.
 * Returns 0, -EINVAL (bad or duplicate name), -E2BIG (too many sections or too much
 * state), or the write's -errno (-ENOSPC on a full disk).
 */
int snap_writer_add(struct snap_writer *w, const char *name, const void *data, size_t len);

/*
 * Appends guest RAM [gpa, gpa+size) whose contents are at host. gpa and size are
 * multiples of SNAP_PAGE_SIZE, size > 0, and the range overlaps no other memory
 * section. All-zero pages become holes; the rest goes out in large writes.
 * Errors as snap_writer_add().
 */
int snap_writer_add_memory(struct snap_writer *w, const char *name, uint64_t gpa, const void *host,
			   uint64_t size);

/*
 * Writes the section table, trailer and header, syncs the file, renames it over
 * path and syncs the directory. Frees w in every case; on failure the temporary
 * file is removed and whatever was at path is untouched (except when only the
 * final directory sync failed: the message says so).
 */
int snap_writer_commit(struct snap_writer *w, char *err, size_t errlen);

/* Removes the temporary file and frees w. NULL is ignored. */
void snap_writer_abort(struct snap_writer *w);

/*
 * Opens and validates a snapshot: magic, version, header, config, table and
 * trailer CRCs, every section's bounds, names, kinds, memory alignment and gpa
 * overlap, and every state section's CRC. Reads the state sections into memory
 * (so later changes to the file cannot change what was validated) but not guest
 * RAM. NULL with errno (EINVAL for a malformed file) and a message naming what is
 * wrong, prefixed "snapshot PATH: ".
 */
struct snap_reader *snap_reader_open(const char *path, char *err, size_t errlen);

/* As snap_reader_open() on an fd open for reading; takes it over (closes it on
 * failure too). label names the file in messages. */
struct snap_reader *snap_reader_open_fd(int fd, const char *label, char *err, size_t errlen);

/* The configuration JSON, NUL-terminated (it contains no other NUL). */
const char *snap_reader_config(const struct snap_reader *r);

/* A state section's bytes, valid until snap_reader_close(). 0 or -ENOENT. */
int snap_reader_section(const struct snap_reader *r, const char *name, const void **data,
			size_t *len);

/* The index'th state section, in file order, for callers that must account for
 * every section (e.g. refuse one they do not know). 0 or -ENOENT. */
int snap_reader_state(const struct snap_reader *r, int index, const char **name, const void **data,
		      size_t *len);

/* The index'th memory section, in file order. Any out-param may be NULL. 0 or -ENOENT. */
int snap_reader_memory(const struct snap_reader *r, int index, const char **name, uint64_t *gpa,
		       uint64_t *size);

/*
 * Maps the index'th memory section PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_NORESERVE
 * plus extra_flags (e.g. MAP_POPULATE): writes are copy-on-write and never reach
 * the file, pages are faulted in on demand, and holes read as zeros. Flags that
 * would share writes with the file or place the mapping (MAP_SHARED*, MAP_FIXED*,
 * MAP_ANONYMOUS) are refused. The mapping outlives snap_reader_close(); munmap it
 * with the section's size. NULL with errno.
 *
 * The file must not be truncated or rewritten in place while mapped (a truncated
 * page faults SIGBUS); kvmm never does either, since saving renames a new file.
 */
void *snap_reader_map_memory(const struct snap_reader *r, int index, int extra_flags);

/* Reads every memory section and checks its CRC (slow: all of guest RAM, though
 * holes are skipped where the filesystem reports them). 0, -EINVAL (mismatch,
 * message names the section) or -errno of a failed read. */
int snap_reader_verify_memory(const struct snap_reader *r, char *err, size_t errlen);

/* NULL is ignored. */
void snap_reader_close(struct snap_reader *r);

#endif
