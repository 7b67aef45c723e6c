/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over PCI (kvmm --disk; QEMU -device virtio-blk-pci; virtio 1.2,
 * 5.2), driven from ring 3 by the kit's driver (lib/blk.c). Command line:
 *   mode=verify|write|rounds|ids|hostile|bench  (default verify)
 *   disk=K      the K-th virtio-blk device in slot order (default 0)
 *   start=S count=N  the sectors used (default the whole disk)
 *   seed=X      the pattern written (default 1); expect=Y: the range holds
 *               pattern Y already (checked first; hostile: after recovery)
 *   qd=N        requests in flight per queue (verify 8, bench 32 max)
 *   irq=msix|none  MSI-X vectors 0x50 + queue (counted; completions are
 *               polled either way); default msix, bench none
 *   indirect=0  do not negotiate VIRTIO_F_INDIRECT_DESC; event_idx=1
 *               negotiate VIRTIO_F_EVENT_IDX; queues=N use at most N queues
 * Sector s of pattern X: le64 s, le64 X, 61 le64 splitmix64(X * 256 + j),
 * le64 ~s (tests/integration/test_virtio_blk.py recomputes it).
 *
 * verify: (if expect=) reads and checks the range; then on every queue at once
 *   (queue i driven by CPU i when there are enough CPUs) writes pattern
 *   X ^ 0x5a5a over its share, reads it back, FLUSH, writes pattern X,
 *   reads it back, FLUSH, with requests of 1..2048 sectors as chains of
 *   1..64 data buffers of odd lengths, split headers, status bytes sharing
 *   the last data buffer and indirect tables; WRITE_ZEROES (with and without
 *   unmap) reads back as zeros; DISCARD; requests past the capacity, of a
 *   partial sector or of an unknown type fail with IOERR/UNSUPP and the
 *   device goes on; GET_ID. A read-only disk (VIRTIO_BLK_F_RO): writes fail
 *   with IOERR, DISCARD is refused, nothing changes.
 * write: writes pattern X over the range, FLUSH, prints "virtio-blk: write N
 *   sectors flushed"; with hold=1 then waits forever (durability tests).
 * rounds: rounds=N (default 8) times, round K writes pattern X + K over the
 *   range, FLUSH, reads it back and checks it, and (irq=msix) waits for a
 *   completion interrupt, printing "virtio-blk: round K ok (pattern P, I
 *   interrupts)" delay_us=D (default 100000) apart, then "virtio-blk: rounds
 *   N ok, last pattern P": the range holds pattern X + N - 1. Made to be
 *   snapshotted, killed and restored mid-run.
 * ids: "virtio-blk: disk K slot S serial 'ID' sectors N ro=R" per device.
 * hostile kind=NAME|all: breaks the ring or the request rules (see KINDS);
 *   expects DEVICE_NEEDS_RESET (or IOERR/UNSUPP for requests the device can
 *   refuse and go on), then resets and reads to show it recovered.
 * bench ms=T: 4 KiB random reads/writes and 1 MiB sequential reads/writes at
 *   queue depth 1 and 32 for T ms each: "bench: rw=R bs=B qd=Q ops=N us=U
 *   best=O kicks=K irqs=I", O the requests per second of the best of 10
 *   windows of T/10 ms (only=randread.qd1 and so on: that test alone).
 * Each check prints one line; exit 0 when all pass; 3 with "virtio-blk:
 * FAIL ..."; 6 on a bad argument.
 */
#include "kit.h"

#define EXIT_FAIL    3
#define EXIT_BAD_ARG 6

#define VEC_BASE      0x50
#define TIMEOUT_US    10000000
#define SECTOR	      512u
#define MAX_SECTORS   2048u /* per request: 1 MiB */
#define BUF_BYTES     (MAX_SECTORS * SECTOR + 4096)
#define MAX_QD	      32
#define BODY_QWORDS   61
#define BENCH_TESTS   8
#define BENCH_WINDOWS 10 /* per test: the best one's rate is reported too */

struct worker {
	unsigned int qi;
	struct kit_blk_req *reqs;
	bool busy[MAX_QD];
	unsigned int nslots;
	uint64_t rng;
	uint64_t lo, hi; /* its share of the range */
	uint64_t requests;
	volatile bool go, done;
};

static struct kit_blk blk;
static struct worker workers[KIT_BLK_MAX_QUEUES];
static uint8_t *ring_mem;
static uint64_t heap_cur, heap_end, ram_end;
static uint64_t features_wanted;
static unsigned int qd = 8, ncpus = 1;
static int msix = VEC_BASE;
static uint64_t verify_seed;
static volatile bool ap_stop, ap_cfg_failed;
static volatile uint64_t ap_cfg_reads;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("virtio-blk: FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(EXIT_FAIL);
}

static bool arg_is(const struct boot_info *bi, const char *key, const char *val)
{
	size_t len;
	const char *s = kit_arg(bi, key, &len);

	return s && len == strlen(val) && !strncmp(s, val, len);
}

static uint64_t arg_u64(const struct boot_info *bi, const char *key, uint64_t def)
{
	uint64_t v;

	if (!kit_arg(bi, key, NULL))
		return def;
	if (!kit_arg_u64(bi, key, &v)) {
		printf("virtio-blk: bad %s\n", key);
		exit(EXIT_BAD_ARG);
	}
	return v;
}

/* ---- memory: a bump allocator over the largest RAM range above the image ---- */

static void heap_init(const struct boot_info *bi)
{
	for (uint32_t i = 0; i < bi->nr_ranges; i++) {
		const struct kit_mem_range *r = &bi->ranges[i];
		uint64_t a = r->addr, e = r->addr + r->len;

		if (r->type != 1)
			continue;
		if (e > ram_end)
			ram_end = e;
		if (a < bi->image_end)
			a = bi->image_end;
		if (e > bi->mapped_end)
			e = bi->mapped_end;
		a = (a + 4095) & ~4095ull;
		if (e > a && e - a > heap_end - heap_cur) {
			heap_cur = a;
			heap_end = e;
		}
	}
}

static void *alloc(uint64_t bytes)
{
	uint64_t a = heap_cur;

	bytes = (bytes + 4095) & ~4095ull;
	if (bytes > heap_end - heap_cur)
		fail("out of guest memory (%lu bytes wanted, %lu left): give more --memory", bytes,
		     heap_end - heap_cur);
	heap_cur += bytes;
	return (void *)(uintptr_t)a;
}

/* ---- the pattern ------------------------------------------------------------- */

static uint64_t splitmix(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct pattern {
	uint64_t seed;
	uint64_t body[BODY_QWORDS];
};

static void pattern_init(struct pattern *p, uint64_t seed)
{
	p->seed = seed;
	for (unsigned int j = 0; j < BODY_QWORDS; j++)
		p->body[j] = splitmix(seed * 256 + j);
}

static void pattern_sector(const struct pattern *p, uint64_t sector, uint64_t *q)
{
	q[0] = sector;
	q[1] = p->seed;
	memcpy(q + 2, p->body, sizeof(p->body));
	q[63] = ~sector;
}

static void pattern_fill(const struct pattern *p, uint8_t *buf, uint64_t sector, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		pattern_sector(p, sector + i, (uint64_t *)(void *)(buf + (size_t)i * SECTOR));
}

static void pattern_check(const struct pattern *p, const uint8_t *buf, uint64_t sector, uint32_t n,
			  const char *what)
{
	uint64_t want[64];

	for (uint32_t i = 0; i < n; i++) {
		const uint64_t *got = (const uint64_t *)(const void *)(buf + (size_t)i * SECTOR);

		pattern_sector(p, sector + i, want);
		if (memcmp(got, want, SECTOR)) {
			unsigned int k = 0;

			while (got[k] == want[k])
				k++;
			fail("%s: sector %lu qword %u reads 0x%lx, expected 0x%lx (pattern %lu; "
			     "sector field 0x%lx seed field 0x%lx)",
			     what, sector + i, k, got[k], want[k], p->seed, got[0], got[1]);
		}
	}
}

static bool all_zero(const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i])
			return false;
	return true;
}

/* ---- workers: one queue each ------------------------------------------------- */

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void worker_init(struct worker *w, unsigned int qi, unsigned int nslots)
{
	memset(w, 0, sizeof(*w));
	w->qi = qi;
	w->nslots = nslots;
	w->rng = 0x2545f4914f6cdd1dull * (qi + 1);
	w->reqs = alloc(sizeof(struct kit_blk_req) * nslots);
	for (unsigned int i = 0; i < nslots; i++) {
		memset(&w->reqs[i], 0, sizeof(w->reqs[i]));
		w->reqs[i].data = alloc(BUF_BYTES);
	}
}

static int free_slot(struct worker *w)
{
	for (unsigned int i = 0; i < w->nslots; i++)
		if (!w->busy[i])
			return (int)i;
	return -1;
}

/* A request of r->bytes, laid out at random (but within what the device allows). */
static void vary_layout(struct worker *w, struct kit_blk_req *r)
{
	uint64_t x = rnd(w);
	unsigned int most = KIT_BLK_MAX_PIECES;

	if (blk.seg_max && blk.seg_max < most)
		most = blk.seg_max;
	r->pieces = 1;
	if (x % 10 >= 5)
		r->pieces = 2 + (unsigned int)((x >> 8) % 7);
	if (x % 10 >= 8)
		r->pieces = 2 + (unsigned int)((x >> 8) % (most - 1));
	if (r->pieces > most)
		r->pieces = most;
	r->split_header = (x >> 20) % 4 == 0;
	r->status_in_data = r->type == VIRTIO_BLK_T_IN && (x >> 24) % 4 == 0;
	r->indirect = (blk.v.features & VIRTIO_F_INDIRECT_DESC) && (x >> 28) % 3 == 0;
}

static uint32_t pick_sectors(struct worker *w, uint64_t left)
{
	static const uint32_t sizes[] = {1,  1,	 2,   3,   7,	8,    8,   16,
					 31, 64, 128, 255, 256, 1024, 2048};
	uint32_t n = sizes[rnd(w) % (sizeof(sizes) / sizeof(sizes[0]))];

	return n > left ? (uint32_t)left : n;
}

/* Posts r on w's queue, making room by reaping; kicks while it waits. */
static void post(struct worker *w, struct kit_blk_req *r)
{
	uint64_t deadline = kit_deadline_us(TIMEOUT_US);

	while (!kit_blk_post(&blk, w->qi, r)) {
		kit_blk_kick(&blk, w->qi);
		kit_blk_reap(&blk, w->qi);
		if (kit_expired(deadline))
			fail("queue %u: no room for a request in %u s", w->qi,
			     TIMEOUT_US / 1000000);
	}
	w->requests++;
}

static void check_done(struct worker *w, struct kit_blk_req *r, const struct pattern *p,
		       const char *what)
{
	uint32_t n = r->bytes / SECTOR;

	if (r->status != VIRTIO_BLK_S_OK)
		fail("%s: queue %u: %s of %u sectors at %lu: status %u (used length %u)", what,
		     w->qi, r->type == VIRTIO_BLK_T_IN ? "read" : "write", n, r->sector, r->status,
		     r->used_len);
	if (r->type == VIRTIO_BLK_T_IN) {
		if (r->used_len != r->bytes + 1)
			fail("%s: read of %u bytes: used length %u", what, r->bytes, r->used_len);
		pattern_check(p, r->data, r->sector, n, what);
	}
}

/* Writes or reads (and checks) pattern p over [lo, hi) with up to nslots requests in flight. */
static void pass(struct worker *w, bool write, const struct pattern *p, uint64_t lo, uint64_t hi,
		 const char *what)
{
	uint64_t s = lo, deadline = kit_deadline_us(TIMEOUT_US * 3);
	unsigned int inflight = 0;

	while (s < hi || inflight) {
		int i;
		bool posted = false;

		while (s < hi && (i = free_slot(w)) >= 0) {
			struct kit_blk_req *r = &w->reqs[i];
			uint32_t n = pick_sectors(w, hi - s);

			r->type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
			r->sector = s;
			r->bytes = n * SECTOR;
			vary_layout(w, r);
			if (write)
				pattern_fill(p, r->data, s, n);
			else
				memset(r->data, 0xee, r->bytes);
			post(w, r);
			w->busy[i] = true;
			inflight++;
			posted = true;
			s += n;
		}
		if (posted)
			kit_blk_kick(&blk, w->qi);
		if (!kit_blk_reap(&blk, w->qi)) {
			if (kit_expired(deadline))
				fail("%s: queue %u: %u requests not completed (status 0x%x)", what,
				     w->qi, inflight, kit_virtio_status(&blk.v));
			cpu_relax();
			continue;
		}
		for (unsigned int k = 0; k < w->nslots; k++)
			if (w->busy[k] && w->reqs[k].done) {
				check_done(w, &w->reqs[k], p, what);
				w->busy[k] = false;
				inflight--;
			}
	}
}

/* One request on w's queue, waited for; returns its status. */
static int sync_req(struct worker *w, struct kit_blk_req *r)
{
	int st = kit_blk_sync(&blk, w->qi, r, TIMEOUT_US);

	if (st < 0)
		fail("queue %u: request type %u not completed (status 0x%x)", w->qi, r->type,
		     kit_virtio_status(&blk.v));
	w->requests++;
	return st;
}

static int simple(struct worker *w, uint32_t type, uint64_t sector, uint32_t bytes)
{
	struct kit_blk_req *r = &w->reqs[0];

	r->type = type;
	r->sector = sector;
	r->bytes = bytes;
	r->pieces = 1;
	r->split_header = r->status_in_data = r->indirect = false;
	return sync_req(w, r);
}

static void flush(struct worker *w, const char *what)
{
	int st = simple(w, VIRTIO_BLK_T_FLUSH, 0, 0);

	if (st != VIRTIO_BLK_S_OK)
		fail("%s: FLUSH on queue %u: status %d", what, w->qi, st);
}

static void verify_share(struct worker *w, uint64_t seed)
{
	struct pattern a, b;

	pattern_init(&a, seed ^ 0x5a5a);
	pattern_init(&b, seed);
	pass(w, true, &a, w->lo, w->hi, "first write");
	pass(w, false, &a, w->lo, w->hi, "first read-back");
	flush(w, "first pass");
	pass(w, true, &b, w->lo, w->hi, "second write");
	pass(w, false, &b, w->lo, w->hi, "second read-back");
	flush(w, "second pass");
}

void ap_main(unsigned int cpu)
{
	struct worker *w = cpu < blk.nq ? &workers[cpu] : NULL;

	if (cpu != 1 && !w)
		return;
	if (w && blk.nq > 1) {
		while (!w->go)
			cpu_relax();
		verify_share(w, verify_seed);
		w->done = true;
		return;
	}
	/* One queue: CPU 1 reads the configuration meanwhile. */
	while (!ap_stop) {
		if (kit_virtio_cfg64(&blk.v, KIT_BLK_CFG_CAPACITY) != blk.capacity)
			ap_cfg_failed = true;
		ap_cfg_reads++;
	}
}

/* ---- device set-up ------------------------------------------------------------ */

static void find_disk(unsigned int k)
{
	int slot = -1;

	for (unsigned int i = 0; i <= k; i++) {
		slot = kit_pci_find_next(0x1af4, 0x1040 + VIRTIO_ID_BLOCK, (unsigned int)slot + 1);
		if (slot < 0)
			fail("no virtio-blk device number %u on PCI bus 0", k);
	}
	if (!kit_blk_open(&blk, (unsigned int)slot))
		fail("virtio-blk device in slot %d is not usable", slot);
}

static void start(uint64_t wanted, unsigned int nq)
{
	if (!kit_blk_start(&blk, wanted, nq, ring_mem, msix, (uint8_t)lapic_id()))
		fail("device start");
}

static void read_serial(struct worker *w, char out[VIRTIO_BLK_ID_BYTES + 1])
{
	struct kit_blk_req *r = &w->reqs[0];
	int st;

	memset(r->data, 0, VIRTIO_BLK_ID_BYTES + 1);
	r->type = VIRTIO_BLK_T_GET_ID;
	r->sector = 0;
	r->bytes = VIRTIO_BLK_ID_BYTES;
	r->pieces = 2;
	r->split_header = r->indirect = false;
	r->status_in_data = true;
	st = sync_req(w, r);
	if (st != VIRTIO_BLK_S_OK)
		fail("GET_ID: status %d", st);
	for (unsigned int i = 0; i < VIRTIO_BLK_ID_BYTES; i++) {
		char c = (char)r->data[i];

		if (c && (c < 0x20 || c > 0x7e))
			fail("GET_ID: byte %u is 0x%x", i, (uint8_t)c);
		out[i] = c;
	}
	out[VIRTIO_BLK_ID_BYTES] = 0;
}

/* ---- verify ------------------------------------------------------------------------ */

/* DISCARD or WRITE_ZEROES of one range per request (as QEMU's max_*_seg of 1 allows),
 * or two segments in one request when the device takes them. */
static void ranges(struct worker *w, uint32_t type, const struct kit_blk_seg *segs, unsigned int n,
		   const char *what)
{
	uint32_t max_seg = type == VIRTIO_BLK_T_DISCARD ? blk.max_discard_seg : blk.max_wz_seg;
	uint32_t max_sec =
	    type == VIRTIO_BLK_T_DISCARD ? blk.max_discard_sectors : blk.max_wz_sectors;
	struct kit_blk_req *r = &w->reqs[0];

	for (unsigned int i = 0; i < n;) {
		unsigned int k = max_seg >= 2 && i + 1 < n ? 2 : 1;
		int st;

		for (unsigned int j = 0; j < k; j++) {
			if (segs[i + j].num_sectors > max_sec)
				fail("%s: %u sectors exceed the device's maximum %u", what,
				     segs[i + j].num_sectors, max_sec);
			memcpy(r->data + 16 * j, &segs[i + j], 16);
		}
		r->type = type;
		r->sector = 0;
		r->bytes = 16 * k;
		r->pieces = 1;
		r->split_header = r->status_in_data = r->indirect = false;
		st = sync_req(w, r);
		if (st != VIRTIO_BLK_S_OK)
			fail("%s of %u segment(s) at sector %lu: status %d", what, k,
			     segs[i].sector, st);
		i += k;
	}
}

/* Reads [sector, sector + n) and says whether it is all zeros. */
static bool reads_zero(struct worker *w, uint64_t sector, uint64_t n)
{
	bool zero = true;

	while (n) {
		uint32_t k = n > MAX_SECTORS ? MAX_SECTORS : (uint32_t)n;
		int st;

		memset(w->reqs[0].data, 0xee, k * SECTOR);
		st = simple(w, VIRTIO_BLK_T_IN, sector, k * SECTOR);
		if (st != VIRTIO_BLK_S_OK)
			fail("read of %u sectors at %lu: status %d", k, sector, st);
		zero &= all_zero(w->reqs[0].data, k * SECTOR);
		sector += k;
		n -= k;
	}
	return zero;
}

static void check_zeroes(struct worker *w, uint64_t lo, uint64_t len)
{
	uint32_t n = (uint32_t)(len / 16 ? len / 16 : 1);
	struct kit_blk_seg wz1 = {lo + len / 8, n, VIRTIO_BLK_FLAG_UNMAP};
	struct kit_blk_seg wz2[2] = {{lo + 5 * len / 16, n / 2 ? n / 2 : 1, 0},
				     {lo + 6 * len / 16, n / 2 ? n / 2 : 1, 0}};
	struct kit_blk_seg dis[2] = {{lo + len / 2, n, 0}, {lo + 11 * len / 16, n, 0}};

	if (len < 16) {
		printf("virtio-blk: range too short for write-zeroes and discard checks\n");
		return;
	}
	if (blk.v.features & KIT_BLK_F_WRITE_ZEROES) {
		ranges(w, VIRTIO_BLK_T_WRITE_ZEROES, &wz1, 1, "WRITE_ZEROES with unmap");
		ranges(w, VIRTIO_BLK_T_WRITE_ZEROES, wz2, 2, "WRITE_ZEROES");
		if (!reads_zero(w, wz1.sector, wz1.num_sectors))
			fail(
			    "WRITE_ZEROES (unmap) of %u sectors at %lu does not read back as zeros",
			    wz1.num_sectors, wz1.sector);
		printf("virtio-blk: write-zeroes sector=%lu n=%u unmap=1 ok\n", wz1.sector,
		       wz1.num_sectors);
		for (unsigned int i = 0; i < 2; i++) {
			if (!reads_zero(w, wz2[i].sector, wz2[i].num_sectors))
				fail(
				    "WRITE_ZEROES of %u sectors at %lu does not read back as zeros",
				    wz2[i].num_sectors, wz2[i].sector);
			printf("virtio-blk: write-zeroes sector=%lu n=%u unmap=0 ok\n",
			       wz2[i].sector, wz2[i].num_sectors);
		}
	} else {
		printf("virtio-blk: no VIRTIO_BLK_F_WRITE_ZEROES\n");
	}
	if (blk.v.features & KIT_BLK_F_DISCARD) {
		ranges(w, VIRTIO_BLK_T_DISCARD, dis, 2, "DISCARD");
		/* 5.2.6.2: what a discarded range reads back as is not defined. */
		for (unsigned int i = 0; i < 2; i++)
			printf("virtio-blk: discard sector=%lu n=%u ok, reads back as %s\n",
			       dis[i].sector, dis[i].num_sectors,
			       reads_zero(w, dis[i].sector, dis[i].num_sectors) ? "zeros" : "data");
	} else {
		printf("virtio-blk: no VIRTIO_BLK_F_DISCARD\n");
	}
	flush(w, "after write-zeroes and discard");
}

/* Requests the device must refuse without stopping. */
static void check_refusals(struct worker *w, uint64_t lo)
{
	struct {
		uint32_t type;
		uint64_t sector;
		uint32_t bytes;
		int want;
		const char *what;
	} cases[] = {
	    {VIRTIO_BLK_T_IN, blk.capacity, SECTOR, VIRTIO_BLK_S_IOERR, "read at the capacity"},
	    {VIRTIO_BLK_T_IN, blk.capacity - 1, 2 * SECTOR, VIRTIO_BLK_S_IOERR,
	     "read across the end"},
	    {VIRTIO_BLK_T_IN, 1ull << 63, SECTOR, VIRTIO_BLK_S_IOERR, "read at sector 2^63"},
	    {VIRTIO_BLK_T_IN, ~0ull, SECTOR, VIRTIO_BLK_S_IOERR, "read at sector 2^64-1"},
	    {VIRTIO_BLK_T_OUT, blk.capacity, SECTOR, VIRTIO_BLK_S_IOERR, "write at the capacity"},
	    {VIRTIO_BLK_T_IN, lo, 100, VIRTIO_BLK_S_IOERR, "read of 100 bytes"},
	    {0x77, lo, SECTOR, VIRTIO_BLK_S_UNSUPP, "request type 0x77"},
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st;

		memset(w->reqs[0].data, 0x3c, SECTOR * 2);
		st = simple(w, cases[i].type, cases[i].sector, cases[i].bytes);
		if (st != cases[i].want)
			fail("%s: status %d, expected %d", cases[i].what, st, cases[i].want);
	}
	if (simple(w, VIRTIO_BLK_T_IN, lo, SECTOR) != VIRTIO_BLK_S_OK)
		fail("a good read after the refused ones failed");
	printf("virtio-blk: bad requests refused ok (past the capacity, partial sector, unknown "
	       "type)\n");
}

static void check_readonly(struct worker *w, uint64_t lo, const struct pattern *expect)
{
	struct kit_blk_seg seg = {lo, 1, 0};
	struct kit_blk_req *r = &w->reqs[0];
	int st;

	if (blk.v.features & (KIT_BLK_F_DISCARD | KIT_BLK_F_WRITE_ZEROES))
		fail("a read-only disk offers DISCARD or WRITE_ZEROES");
	memset(r->data, 0xa5, 8 * SECTOR);
	st = simple(w, VIRTIO_BLK_T_OUT, lo, 8 * SECTOR);
	if (st != VIRTIO_BLK_S_IOERR)
		fail("read-only: write: status %d, expected IOERR", st);
	memcpy(r->data, &seg, sizeof(seg));
	r->type = VIRTIO_BLK_T_DISCARD;
	r->bytes = sizeof(seg);
	st = sync_req(w, r);
	if (st != VIRTIO_BLK_S_UNSUPP)
		fail("read-only: DISCARD without the feature: status %d, expected UNSUPP", st);
	st = simple(w, VIRTIO_BLK_T_IN, lo, 8 * SECTOR);
	if (st != VIRTIO_BLK_S_OK)
		fail("read-only: read: status %d", st);
	if (expect)
		pattern_check(expect, r->data, lo, 8, "read-only: after the refused write");
	printf("virtio-blk: read-only: write refused with IOERR ok, DISCARD unsupported ok\n");
}

static void run_shares(uint64_t lo, uint64_t hi, uint64_t seed)
{
	uint64_t per = (hi - lo) / blk.nq, t0 = rdtsc(), reqs = 0, deadline;

	verify_seed = seed;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	for (unsigned int i = 0; i < blk.nq; i++) {
		workers[i].lo = lo + per * i;
		workers[i].hi = i + 1 == blk.nq ? hi : lo + per * (i + 1);
	}
	/* Queues 1.. on their own CPUs when there are enough, the rest here. */
	for (unsigned int i = 1; i < blk.nq && i < ncpus; i++)
		workers[i].go = true;
	verify_share(&workers[0], seed);
	for (unsigned int i = ncpus; i < blk.nq; i++)
		verify_share(&workers[i], seed);
	deadline = kit_deadline_us(TIMEOUT_US * 6);
	for (unsigned int i = 1; i < blk.nq && i < ncpus; i++)
		while (!workers[i].done)
			if (kit_expired(deadline))
				fail("queue %u (cpu %u) did not finish", i, i);
	for (unsigned int i = 0; i < blk.nq; i++)
		reqs += workers[i].requests;
	printf("virtio-blk: verify %lu sectors ok (%u queue%s, %lu requests, %lu ms)\n", hi - lo,
	       blk.nq, blk.nq > 1 ? "s" : "", reqs, (rdtsc() - t0) / kit_tsc_khz());
}

static void mode_verify(const struct boot_info *bi, uint64_t lo, uint64_t hi, uint64_t seed)
{
	bool ro = blk.v.features & KIT_BLK_F_RO;
	struct worker *w0 = &workers[0];
	struct pattern expect;
	bool have_expect = kit_arg(bi, "expect", NULL);
	char serial[VIRTIO_BLK_ID_BYTES + 1];

	if (have_expect) {
		pattern_init(&expect, arg_u64(bi, "expect", 0));
		pass(w0, false, &expect, lo, hi, "initial contents");
		printf("virtio-blk: initial contents %lu sectors ok\n", hi - lo);
	}
	if (ro) {
		check_readonly(w0, lo, have_expect ? &expect : NULL);
	} else {
		run_shares(lo, hi, seed);
		check_zeroes(w0, lo, hi - lo);
	}
	check_refusals(w0, lo);
	read_serial(w0, serial);
	printf("virtio-blk: serial '%s'\n", serial);
	if (!ro)
		flush(w0, "final");
}

/* ---- hostile ------------------------------------------------------------------------ */

enum outcome { NEEDS_RESET, IOERR, UNSUPP, RECOVERS };

struct hostile {
	const char *name;
	enum outcome outcome;
	uint64_t without; /* features not to negotiate for it */
};

static const struct hostile KINDS[] = {
    {"loop", NEEDS_RESET, 0},	   /* a chain that comes back to itself */
    {"oob", NEEDS_RESET, 0},	   /* a data buffer in the PCI hole, not RAM */
    {"wrap", NEEDS_RESET, 0},	   /* a buffer that wraps around the address space */
    {"ramend", NEEDS_RESET, 0},	   /* a buffer across the end of RAM */
    {"badnext", NEEDS_RESET, 0},   /* next beyond the queue size */
    {"badhead", NEEDS_RESET, 0},   /* an available head beyond the queue size */
    {"availjump", NEEDS_RESET, 0}, /* avail idx more than the queue size ahead */
    {"wrongdir", NEEDS_RESET, 0},  /* a readable buffer after a writable one */
    {"nostatus", NEEDS_RESET, 0},  /* no writable byte for the status */
    {"oversize", NEEDS_RESET, 0},  /* an indirect table of more entries than allowed */
    {"nested", NEEDS_RESET, 0},	   /* an indirect descriptor in an indirect table */
    {"indnoneg", NEEDS_RESET, VIRTIO_F_INDIRECT_DESC}, /* indirect, not negotiated */
    {"badring", NEEDS_RESET, 0},		       /* a descriptor table outside RAM */
    {"hdrwrite", IOERR, 0},			       /* the header in a device-writable buffer */
    {"shortdata", IOERR, 0},			       /* a write of 100 bytes */
    {"badtype", UNSUPP, 0},			       /* an unknown request type */
    {"resetbusy", RECOVERS, 0},			       /* a reset with requests in flight */
};

#define OVERSIZE_ENTRIES 1100

struct hctx {
	struct kit_virtq *q;
	struct kit_blk_hdr *hdr;
	uint8_t *data, *status;
	volatile struct virtq_desc *table;
	uint64_t sector;
};

static void raw_desc(volatile struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void raw_publish(struct kit_virtq *q, uint16_t head, uint16_t advance)
{
	q->avail[2 + q->avail_idx % q->size] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->avail_idx = (uint16_t)(q->avail_idx + advance);
	q->avail[1] = q->avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*q->notify = q->index;
}

/* hdr (readable) -> data (readable) -> status: the well-formed write every kind breaks. */
static void hostile_build(struct hctx *h, const char *kind)
{
	volatile struct virtq_desc *d = h->q->desc, *t = h->table;
	uint64_t hdr = (uint64_t)(uintptr_t)h->hdr, data = (uint64_t)(uintptr_t)h->data;
	uint64_t st = (uint64_t)(uintptr_t)h->status;
	const uint16_t R = 0, W = VIRTQ_DESC_F_WRITE, N = VIRTQ_DESC_F_NEXT;
	uint16_t head = 0, advance = 1;

	h->hdr->type = VIRTIO_BLK_T_OUT;
	h->hdr->reserved = 0;
	h->hdr->sector = h->sector;
	raw_desc(&d[0], hdr, 16, R | N, 1);
	raw_desc(&d[1], data, 4096, R | N, 2);
	raw_desc(&d[2], st, 1, W, 0);
	if (!strcmp(kind, "loop")) {
		raw_desc(&d[2], data + 2048, 2048, R | N, 1);
	} else if (!strcmp(kind, "oob")) {
		d[1].addr = 0xd0000000u;
	} else if (!strcmp(kind, "wrap")) {
		d[1].addr = 0xfffffffffffff000ull;
		d[1].len = 0x2000;
	} else if (!strcmp(kind, "ramend")) {
		d[1].addr = ram_end - 2048;
	} else if (!strcmp(kind, "badnext")) {
		d[1].next = (uint16_t)(h->q->size + 3);
	} else if (!strcmp(kind, "badhead")) {
		head = (uint16_t)(h->q->size + 7);
	} else if (!strcmp(kind, "availjump")) {
		advance = (uint16_t)(h->q->size + 1);
	} else if (!strcmp(kind, "wrongdir")) {
		raw_desc(&d[1], st, 1, W | N, 2);
		raw_desc(&d[2], data, 4096, R, 0);
	} else if (!strcmp(kind, "nostatus")) {
		d[1].flags = R;
	} else if (!strcmp(kind, "oversize") || !strcmp(kind, "nested") ||
		   !strcmp(kind, "indnoneg")) {
		unsigned int n = !strcmp(kind, "oversize") ? OVERSIZE_ENTRIES : 3;

		raw_desc(&t[0], hdr, 16, R | N, 1);
		for (unsigned int i = 1; i + 1 < n; i++)
			raw_desc(&t[i], data + (i % 1024) * 4, 4, R | N, (uint16_t)(i + 1));
		raw_desc(&t[n - 1], st, 1, W, 0);
		if (!strcmp(kind, "nested"))
			raw_desc(&t[1], (uint64_t)(uintptr_t)(t + 8), 48, VIRTQ_DESC_F_INDIRECT | N,
				 2);
		raw_desc(&d[0], (uint64_t)(uintptr_t)t, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	} else if (!strcmp(kind, "hdrwrite")) {
		d[0].flags = W | N;
		d[1].flags = W | N;
	} else if (!strcmp(kind, "shortdata")) {
		d[1].len = 100;
	} else if (!strcmp(kind, "badtype")) {
		h->hdr->type = 0x7777;
	}
	raw_publish(h->q, head, advance);
}

static void expect_reset(const char *kind, uint64_t cfg_irqs, bool cfg_irq)
{
	uint64_t deadline = kit_deadline_us(TIMEOUT_US);
	uint16_t used = (uint16_t)(blk.q[0].vq.used[0] >> 16);

	while (!(kit_virtio_status(&blk.v) & VIRTIO_STATUS_NEEDS_RESET))
		if (kit_expired(deadline))
			fail("hostile %s: no DEVICE_NEEDS_RESET (status 0x%x)", kind,
			     kit_virtio_status(&blk.v));
	/* 2.1.2: once DRIVER_OK is set, NEEDS_RESET comes with a configuration interrupt. */
	while (cfg_irq && blk.irq && kit_irq_count[VEC_BASE + blk.nq] == cfg_irqs)
		if (kit_expired(deadline))
			fail("hostile %s: no configuration interrupt with NEEDS_RESET", kind);
	if (used != blk.q[0].vq.last_used)
		fail("hostile %s: the device used a buffer of a broken ring", kind);
}

static void hostile_one(const struct hostile *k, struct hctx *h, const struct pattern *expect)
{
	struct worker *w = &workers[0];
	uint64_t cfg_irqs;
	int st;

	start(features_wanted & ~k->without, 1);
	cfg_irqs = kit_irq_count[VEC_BASE + blk.nq];
	h->q = &blk.q[0].vq;
	if (!strcmp(k->name, "badring")) {
		/* Reset, then a queue whose descriptor table is in the PCI hole. */
		if (!kit_virtio_init(&blk.v, features_wanted, 0))
			fail("badring: feature negotiation");
		kit_virtio_write16(&blk.v, 0x16, 0);
		kit_virtio_write32(&blk.v, 0x20, 0xd0000000u);
		kit_virtio_write32(&blk.v, 0x24, 0);
		kit_virtio_write16(&blk.v, 0x1c, 1);
		if (kit_virtio_read16(&blk.v, 0x1c))
			fail("badring: a queue outside RAM was enabled");
		expect_reset(k->name, cfg_irqs, false);
	} else if (!strcmp(k->name, "resetbusy")) {
		unsigned int n = w->nslots;

		for (unsigned int i = 0; i < n; i++) {
			struct kit_blk_req *r = &w->reqs[i];

			r->type = VIRTIO_BLK_T_IN;
			r->sector = h->sector + i * 512ull;
			if (r->sector + 512 > blk.capacity)
				r->sector = h->sector;
			r->bytes = 512 * SECTOR;
			r->pieces = 1;
			r->split_header = r->status_in_data = r->indirect = false;
			post(w, r);
		}
		kit_blk_kick(&blk, 0);
		kit_virtio_set_status(&blk.v, 0);
		for (uint64_t dl = kit_deadline_us(TIMEOUT_US); kit_virtio_status(&blk.v);)
			if (kit_expired(dl))
				fail("resetbusy: the reset did not finish");
		printf("virtio-blk: hostile resetbusy: reset with %u requests posted ok\n", n);
	} else {
		hostile_build(h, k->name);
		if (k->outcome == NEEDS_RESET) {
			expect_reset(k->name, cfg_irqs, true);
		} else {
			uint32_t id, len;

			if (!kit_virtq_wait(h->q, TIMEOUT_US, &id, &len))
				fail("hostile %s: not completed (status 0x%x)", k->name,
				     kit_virtio_status(&blk.v));
			st = *h->status;
			if (st != (k->outcome == IOERR ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_UNSUPP))
				fail("hostile %s: status %d", k->name, st);
			if (kit_virtio_status(&blk.v) & VIRTIO_STATUS_NEEDS_RESET)
				fail("hostile %s: NEEDS_RESET for a request it can refuse",
				     k->name);
			printf("virtio-blk: hostile %s: %s ok, device goes on\n", k->name,
			       k->outcome == IOERR ? "IOERR" : "UNSUPP");
			/* The raw chain used the free list's links: start the ring over. */
			h->q->free_head = 0;
			h->q->num_free = h->q->size;
			for (uint16_t i = 0; i < h->q->size; i++)
				h->q->desc[i].next = (uint16_t)(i + 1u);
			goto read_back;
		}
	}
	start(features_wanted, 1);
read_back:
	st = simple(w, VIRTIO_BLK_T_IN, h->sector, 8 * SECTOR);
	if (st != VIRTIO_BLK_S_OK)
		fail("hostile %s: a read afterwards: status %d", k->name, st);
	if (expect)
		pattern_check(expect, w->reqs[0].data, h->sector, 8, k->name);
	if (k->outcome == NEEDS_RESET)
		printf("virtio-blk: hostile %s: needs reset ok, recovered\n", k->name);
}

static void mode_hostile(const struct boot_info *bi, uint64_t lo)
{
	size_t len;
	const char *kind = kit_arg(bi, "kind", &len);
	bool all = arg_is(bi, "kind", "all"), found = false;
	struct pattern expect;
	struct hctx h;

	if (!kind) {
		printf("virtio-blk: hostile needs kind=\n");
		exit(EXIT_BAD_ARG);
	}
	if (kit_arg(bi, "expect", NULL))
		pattern_init(&expect, arg_u64(bi, "expect", 0));
	h.hdr = alloc(4096);
	h.status = (uint8_t *)h.hdr + 64;
	h.data = alloc(8192);
	memset(h.data, 0xa5, 8192);
	h.table = alloc(OVERSIZE_ENTRIES * 16);
	h.sector = lo;
	for (unsigned int i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
		if (!all && (len != strlen(KINDS[i].name) || strncmp(kind, KINDS[i].name, len)))
			continue;
		found = true;
		hostile_one(&KINDS[i], &h, kit_arg(bi, "expect", NULL) ? &expect : NULL);
	}
	if (!found) {
		printf("virtio-blk: unknown hostile kind\n");
		exit(EXIT_BAD_ARG);
	}
	printf("virtio-blk: hostile done\n");
}

/* ---- bench ------------------------------------------------------------------------- */

static uint64_t irq_total(void)
{
	uint64_t n = 0;

	for (unsigned int v = 0; v < blk.nq; v++)
		n += kit_irq_count[VEC_BASE + v];
	return n;
}

static void mode_rounds(const struct boot_info *bi, uint64_t lo, uint64_t hi, uint64_t seed)
{
	uint64_t rounds = arg_u64(bi, "rounds", 8), delay = arg_u64(bi, "delay_us", 100000);
	struct worker *w = &workers[0];
	struct pattern p;

	for (uint64_t k = 0; k < rounds; k++) {
		uint64_t irqs = irq_total(), deadline;

		pattern_init(&p, seed + k);
		pass(w, true, &p, lo, hi, "round write");
		flush(w, "round");
		pass(w, false, &p, lo, hi, "round read-back");
		deadline = kit_deadline_us(TIMEOUT_US);
		while (blk.irq && irq_total() == irqs)
			if (kit_expired(deadline))
				fail("round %lu: no completion interrupt", k);
		printf("virtio-blk: round %lu ok (pattern %lu, %lu interrupts)\n", k, seed + k,
		       irq_total());
		kit_udelay(delay);
	}
	printf("virtio-blk: rounds %lu ok, last pattern %lu\n", rounds, seed + rounds - 1);
}

static void bench_one(struct worker *w, bool write, bool random, uint32_t bs, unsigned int depth,
		      uint64_t lo, uint64_t hi, uint64_t ms)
{
	uint32_t n = bs / SECTOR;
	uint64_t slots = (hi - lo) / n, next = 0, ops = 0, t0, t1, deadline, kicks0, irqs0 = 0;
	uint64_t win, win_start, win_ops = 0, best = 0; /* best: ops per second of a window */
	unsigned int inflight = 0;
	bool stop = false;

	if (!slots)
		fail("bench: range of %lu sectors is shorter than %u bytes", hi - lo, bs);
	irqs0 = irq_total();
	kicks0 = blk.q[w->qi].kicks;
	for (unsigned int i = 0; i < depth; i++) {
		struct kit_blk_req *r = &w->reqs[i];

		r->type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
		r->bytes = bs;
		r->pieces = 1;
		r->split_header = r->status_in_data = false;
		r->indirect = (blk.v.features & VIRTIO_F_INDIRECT_DESC) != 0;
	}
	t0 = win_start = rdtsc();
	deadline = t0 + ms * kit_tsc_khz();
	win = (deadline - t0) / BENCH_WINDOWS;
	for (;;) {
		bool posted = false;

		for (unsigned int i = 0; i < depth && !stop; i++) {
			struct kit_blk_req *r = &w->reqs[i];

			if (w->busy[i])
				continue;
			r->sector = lo + (random ? rnd(w) % slots : next++ % slots) * n;
			if (!kit_blk_post(&blk, w->qi, r))
				break;
			w->busy[i] = true;
			inflight++;
			posted = true;
		}
		if (posted)
			kit_blk_kick(&blk, w->qi);
		while (!kit_blk_reap(&blk, w->qi))
			cpu_relax();
		for (unsigned int i = 0; i < depth; i++) {
			if (!w->busy[i] || !w->reqs[i].done)
				continue;
			if (w->reqs[i].status != VIRTIO_BLK_S_OK)
				fail("bench: status %u at sector %lu", w->reqs[i].status,
				     w->reqs[i].sector);
			w->busy[i] = false;
			inflight--;
			ops++;
			win_ops++;
		}
		t1 = rdtsc();
		if (t1 - win_start >= win && !stop) {
			uint64_t rate = win_ops * kit_tsc_khz() * 1000 / (t1 - win_start);

			best = rate > best ? rate : best;
			win_start = t1;
			win_ops = 0;
		}
		stop = (int64_t)(t1 - deadline) >= 0;
		if (stop && !inflight)
			break;
	}
	printf("bench: rw=%s%s bs=%u qd=%u ops=%lu us=%lu best=%lu kicks=%lu irqs=%lu\n",
	       random ? "rand" : "seq", write ? "write" : "read", bs, depth, ops,
	       (t1 - t0) * 1000 / kit_tsc_khz(), best, blk.q[w->qi].kicks - kicks0,
	       irq_total() - irqs0);
}

static void mode_bench(const struct boot_info *bi, uint64_t lo, uint64_t hi)
{
	static const struct {
		bool write, random;
		uint32_t bs;
		unsigned int qd;
	} tests[BENCH_TESTS] = {
	    {false, true, 4096, 1},    {false, true, 4096, 32},	   {true, true, 4096, 1},
	    {true, true, 4096, 32},    {false, false, 1 << 20, 1}, {false, false, 1 << 20, 32},
	    {true, false, 1 << 20, 1}, {true, false, 1 << 20, 32},
	};
	uint64_t ms = arg_u64(bi, "ms", 1000);
	bool only = kit_arg(bi, "only", NULL) != NULL;

	printf("bench: tsc %lu kHz, %lu sectors from %lu\n", kit_tsc_khz(), hi - lo, lo);
	/*
	 * Touch every buffer first: the monitor's first write to a guest page
	 * faults it in on the host (with huge pages, 2 MiB zeroed at a time),
	 * which is start-up cost, not request cost.
	 */
	for (unsigned int i = 0; i < workers[0].nslots; i++)
		memset(workers[0].reqs[i].data, 0x5a, BUF_BYTES);
	for (unsigned int i = 0; i < BENCH_TESTS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%s.qd%u", tests[i].random ? "rand" : "seq",
			 tests[i].write ? "write" : "read", tests[i].qd);
		if (tests[i].qd > workers[0].nslots || (only && !arg_is(bi, "only", name)))
			continue;
		bench_one(&workers[0], tests[i].write, tests[i].random, tests[i].bs, tests[i].qd,
			  lo, hi, ms);
	}
	flush(&workers[0], "bench");
	printf("bench: done\n");
}

/* ---- main ----------------------------------------------------------------------------- */

static void mode_ids(void)
{
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	int slot = -1;

	for (unsigned int k = 0;; k++) {
		slot = kit_pci_find_next(0x1af4, 0x1040 + VIRTIO_ID_BLOCK, (unsigned int)slot + 1);
		if (slot < 0)
			break;
		if (!kit_blk_open(&blk, (unsigned int)slot))
			fail("device in slot %d", slot);
		start(features_wanted, 1);
		read_serial(&workers[0], serial);
		printf("virtio-blk: disk %u slot %d serial '%s' sectors %lu ro=%d\n", k, slot,
		       serial, blk.capacity, (blk.v.features & KIT_BLK_F_RO) != 0);
		kit_virtio_set_status(&blk.v, 0);
	}
	printf("virtio-blk: ids done\n");
}

void test_main(const struct boot_info *bi)
{
	const char *modes[] = {"verify", "write", "rounds", "ids", "hostile", "bench"};
	size_t mlen;
	const char *mode = kit_arg(bi, "mode", &mlen);
	bool bench = arg_is(bi, "mode", "bench"), known = !mode;
	uint64_t lo, hi, count, seed = arg_u64(bi, "seed", 1), ecam;
	unsigned int nq;

	for (unsigned int i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		known |= arg_is(bi, "mode", modes[i]);
	if (!known) {
		printf("virtio-blk: bad mode\n");
		exit(EXIT_BAD_ARG);
	}
	qd = (unsigned int)arg_u64(bi, "qd", bench ? MAX_QD : 8);
	if (!qd || qd > MAX_QD) {
		printf("virtio-blk: qd must be 1..%u\n", MAX_QD);
		exit(EXIT_BAD_ARG);
	}
	if (arg_is(bi, "irq", "none") || (bench && !kit_arg(bi, "irq", NULL)))
		msix = -1;
	else if (kit_arg(bi, "irq", NULL) && !arg_is(bi, "irq", "msix"))
		exit(EXIT_BAD_ARG);
	features_wanted = VIRTIO_F_VERSION_1 | KIT_BLK_F_FLUSH | KIT_BLK_F_BLK_SIZE |
			  KIT_BLK_F_SEG_MAX | KIT_BLK_F_DISCARD | KIT_BLK_F_WRITE_ZEROES |
			  KIT_BLK_F_MQ | KIT_BLK_F_RO;
	if (arg_u64(bi, "indirect", 1))
		features_wanted |= VIRTIO_F_INDIRECT_DESC;
	if (arg_u64(bi, "event_idx", 0))
		features_wanted |= VIRTIO_F_EVENT_IDX;
	nq = (unsigned int)arg_u64(bi, "queues", KIT_BLK_MAX_QUEUES);

	heap_init(bi);
	lapic_enable();
	ring_mem = alloc((uint64_t)KIT_BLK_RING_MEM * KIT_BLK_MAX_QUEUES);
	worker_init(&workers[0], 0, qd);
	if (arg_is(bi, "mode", "ids")) {
		mode_ids();
		exit(0);
	}
	find_disk((unsigned int)arg_u64(bi, "disk", 0));
	start(features_wanted, nq);
	lo = arg_u64(bi, "start", 0);
	count = arg_u64(bi, "count", blk.capacity > lo ? blk.capacity - lo : 0);
	hi = lo + count;
	printf("virtio-blk: slot %d via %s, %lu sectors, features 0x%lx of 0x%lx, seg_max %u, "
	       "%u of %u queues, %u MSI-X vectors\n",
	       blk.v.slot, kit_pci_method(&ecam), blk.capacity, blk.v.features, blk.v.offered,
	       blk.seg_max, blk.nq, blk.num_queues, blk.v.msix_nvec);
	if (!count || hi > blk.capacity || hi < lo)
		fail("range %lu+%lu is not inside the disk (%lu sectors)", lo, count, blk.capacity);
	for (unsigned int i = 1; i < blk.nq; i++)
		worker_init(&workers[i], i, qd);

	ncpus = bi->nr_cpus;
	if (ncpus >= 2 && !bench && kit_smp_start(ncpus, 1000000) + 1 < ncpus)
		fail("not every CPU started");

	if (!mode || arg_is(bi, "mode", "verify")) {
		mode_verify(bi, lo, hi, seed);
	} else if (arg_is(bi, "mode", "write")) {
		struct pattern p;

		pattern_init(&p, seed);
		pass(&workers[0], true, &p, lo, hi, "write");
		flush(&workers[0], "write");
		printf("virtio-blk: write %lu sectors flushed\n", hi - lo);
		if (arg_u64(bi, "hold", 0))
			kit_park();
	} else if (arg_is(bi, "mode", "rounds")) {
		mode_rounds(bi, lo, hi, seed);
	} else if (arg_is(bi, "mode", "hostile")) {
		mode_hostile(bi, lo);
	} else {
		mode_bench(bi, lo, hi);
	}
	ap_stop = true;
	if (ncpus >= 2 && blk.nq == 1 && !bench) {
		if (ap_cfg_failed)
			fail("cpu 1 read a different capacity");
		printf("virtio-blk: cpu 1 made %lu configuration reads\n", ap_cfg_reads);
	}
	if (blk.irq && !bench)
		printf("virtio-blk: %lu queue interrupts\n", irq_total());
	printf("virtio-blk: all checks ok\n");
	exit(0);
}
