/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio/console.c) against a hostile driver and a host that
 * takes output and gives input at any pace: the input builds transmit and
 * receive chains in fake guest RAM (1-4 pieces of 0-2048 bytes, either
 * direction, direct or indirect, many outstanding at once), notifies or not,
 * feeds host input, takes output in pieces, pokes raw bytes into RAM and
 * rings, resets, resizes, and saves the device into a fresh one that goes on
 * in its place.
 *
 * Checked beyond "no crash, no hang, no leak", while no raw write has muddied
 * the rings (after one, everything still runs, unchecked, until the next
 * reset), against a model of 5.3.6: the output the host takes is exactly the
 * readable bytes of the transmit chains in the order they were made
 * available (writable pieces ignored), with nothing lost or doubled across a
 * save/load; every chain is used in order, transmit ones with length 0;
 * input fills receive chains in order, each one it reaches except the last
 * completely, readable pieces skipped, and virtio_console_input returns what
 * the model predicts; rx_space is the next chain's writable size;
 * NEEDS_RESET comes exactly when input reaches a receive chain with nothing
 * writable; a host waiting for receive buffers is woken when they come;
 * nothing in RAM changes but the used rings and the bytes input went to;
 * the size reads back as set, a change bumps the generation; and at the end
 * (or before a reset) all the output arrives.
 *
 * Input: byte 0 = bit 0 EVENT_IDX, bit 1 INDIRECT_DESC; then operations,
 * one byte each (value % 8) plus arguments: 0 transmit chain, 1 receive
 * chain (flags: bits 0-1 pieces - 1, bit 2 indirect, bit 3 notify, bits 4-7
 * per piece "the wrong way"; per piece u16 length % 2049 and a seed byte),
 * 2 host input (u8 length, the bytes), 3 host takes output (u16 most, 0 for
 * all), 4 notify (bit 0: the queue), 5 raw write (u32 address, u8 length,
 * bytes), 6 reset (new configuration byte), 7 other (0 rx_space, 1
 * save/load, 2 set size u16 u16).
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/log.h"
#include "virtio/console.h"

#define RAM_SIZE     0x60000u
#define QSIZE	     16u
#define IND_GPA	     0x6000u /* + q * 0x400 + head * 64: a 4-entry table per head */
#define ARENA_GPA    0x8000u /* 2 KiB per (q, descriptor) and per (q, head, table entry) */
#define PIECE_MAX    2048u
#define MAX_PIECES   4u
#define OUT_MAX	     (4u << 20)
#define TX_WRONG_WAY VIRTQ_DESC_F_WRITE

struct piece {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct chain {
	bool busy;
	unsigned npieces;
	struct piece p[MAX_PIECES];
	uint16_t desc[MAX_PIECES]; /* the ring's descriptors it holds (one if indirect) */
	unsigned ndesc;
	uint32_t expect_len; /* receive: the used length input gave it */
	bool filled;	     /* receive: input reached it */
};

struct fuzz_console {
	struct virtio_console *c;
	struct virtio_dev *d;
	struct gmem m;
	uint8_t *ram, *before;
	uint64_t features;
	bool desc_free[2][QSIZE];
	struct chain chains[2][QSIZE]; /* by head */
	uint16_t fifo[2][QSIZE];       /* heads made available, not yet used, in order */
	unsigned fifo_len[2];
	unsigned rx_next; /* fifo[0] index of the next receive chain input goes to */
	uint16_t avail_idx[2], used_seen[2];
	uint8_t *expected, *taken; /* transmit stream: what the chains hold / what the host took */
	size_t expected_len, taken_len;
	bool broken, tainted, host_waiting;
	/* A transmit chain that breaks the ring was made available; its place in the stream. */
	bool tx_bad;
	size_t tx_bad_at;
	bool broken_by_tx; /* NEEDS_RESET came from the transmitq (not from input) */
	bool rx_breaks;	   /* the operation under way reaches a receive chain that breaks */
	uint8_t gen;
	uint16_t cols, rows;
};

static struct fuzz_console *F;

static uint64_t ring_base(unsigned q)
{
	return 0x3000 * (uint64_t)q; /* desc at +0, avail at +0x1000, used at +0x2000 */
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void t_notify_queue(void *t, unsigned q, uint16_t vector)
{
	(void)t;
	FUZZ_CHECK(q < 2 && vector == q);
}

static void t_notify_config(void *t)
{
	(void)t;
}

static const struct virtio_transport_ops t_ops = {
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
};

static bool event_ready(void)
{
	struct pollfd p = {.fd = virtio_console_event_fd(F->c), .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

static void event_clear(void)
{
	uint64_t v;

	while (read(virtio_console_event_fd(F->c), &v, sizeof(v)) == sizeof(v))
		;
}

static bool live(void)
{
	return !F->broken && !F->tainted;
}

static void bring_up(uint8_t cfg)
{
	struct virtio_dev *d = F->d;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE);

	if (cfg & 1)
		f |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (cfg & 2)
		f |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	virtio_dev_write_status(d, 0);
	memset(F->ram, 0, ARENA_GPA);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_driver_features(d, 0, (uint32_t)f);
	virtio_dev_write_driver_features(d, 1, (uint32_t)(f >> 32));
	virtio_dev_write_status(d, 11);
	FUZZ_CHECK(virtio_dev_read_status(d) == 11);
	for (unsigned q = 0; q < 2; q++) {
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_SIZE, QSIZE);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DESC_LO, (uint32_t)ring_base(q));
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DRIVER_LO,
				       (uint32_t)ring_base(q) + 0x1000);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_DEVICE_LO,
				       (uint32_t)ring_base(q) + 0x2000);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_VECTOR, q);
		virtio_dev_write_queue(d, q, VIRTIO_QUEUE_ENABLE, 1);
		F->avail_idx[q] = F->used_seen[q] = 0;
		F->fifo_len[q] = 0;
		for (unsigned i = 0; i < QSIZE; i++) {
			F->desc_free[q][i] = true;
			F->chains[q][i].busy = false;
		}
	}
	virtio_dev_write_status(d, 15);
	FUZZ_CHECK(virtio_dev_read_status(d) == 15);
	F->features = f;
	F->rx_next = 0;
	F->broken = F->tainted = F->tx_bad = F->broken_by_tx = false;
	/* DRIVER_OK ran the receiveq: a waiting host was woken. */
	F->host_waiting = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!getenv("KVMM_FUZZ_VERBOSE"))
		log_set_level(LOG_ERROR);
	F = calloc(1, sizeof(*F));
	if (!F)
		abort();
	F->ram = calloc(1, RAM_SIZE);
	F->before = malloc(RAM_SIZE);
	F->expected = malloc(OUT_MAX);
	F->taken = malloc(OUT_MAX);
	if (!F->ram || !F->before || !F->expected || !F->taken ||
	    gmem_add_region(&F->m, 0, RAM_SIZE, F->ram))
		abort();
	return 0;
}

/* The device-writable bytes of receive chain ch hold data[0, len) in order. */
static void rx_apply(const struct chain *ch, const uint8_t *data, uint32_t len, uint8_t *ram)
{
	for (unsigned i = 0; i < ch->npieces && len; i++) {
		uint32_t n;

		if (!ch->p[i].write)
			continue;
		n = ch->p[i].len < len ? ch->p[i].len : len;
		memcpy(ram + ch->p[i].gpa, data, n);
		data += n;
		len -= n;
	}
}

/* Takes the used elements the device added, checking each against the model. */
static void scan_used(void)
{
	for (unsigned q = 0; q < 2; q++) {
		uint64_t used = ring_base(q) + 0x2000;
		uint16_t idx = (uint16_t)get_le(F->ram + used + 2, 2);

		while (F->used_seen[q] != idx) {
			uint64_t at = used + 4 + 8 * (uint64_t)(F->used_seen[q] % QSIZE);
			uint32_t id = (uint32_t)get_le(F->ram + at, 4);
			uint32_t len = (uint32_t)get_le(F->ram + at + 4, 4);
			struct chain *ch;

			F->used_seen[q]++;
			if (!F->tainted) {
				FUZZ_CHECK(F->fifo_len[q] > 0 && id == F->fifo[q][0]);
				ch = &F->chains[q][id];
				FUZZ_CHECK(len == (q ? 0 : ch->expect_len));
				FUZZ_CHECK(q || ch->filled);
			} else if (id >= QSIZE || !F->chains[q][id].busy) {
				continue;
			}
			ch = &F->chains[q][id];
			for (unsigned i = 0; i < ch->ndesc; i++)
				F->desc_free[q][ch->desc[i]] = true;
			ch->busy = false;
			/* Out of the FIFO, wherever it is (only the front when untainted). */
			for (unsigned i = 0; i < F->fifo_len[q]; i++) {
				if (F->fifo[q][i] != id)
					continue;
				memmove(&F->fifo[q][i], &F->fifo[q][i + 1],
					(F->fifo_len[q] - i - 1) * sizeof(uint16_t));
				F->fifo_len[q]--;
				if (!q && F->rx_next > i)
					F->rx_next--;
				break;
			}
		}
	}
}

/* Before an operation on the device: what RAM must look like after it, short of allowed writes. */
static void ram_before(void)
{
	memcpy(F->before, F->ram, RAM_SIZE);
}

/* After it: only used rings and input's bytes changed; NEEDS_RESET only as foreseen. */
static void ram_after(void)
{
	bool rx_breaks = F->rx_breaks;

	F->rx_breaks = false;
	scan_used();
	if (F->tainted)
		return;
	if (!F->broken && (virtio_dev_read_status(F->d) & VIRTIO_STATUS_NEEDS_RESET)) {
		/* Foreseen: input reaching a bad receive chain, or the bad transmit chain. */
		FUZZ_CHECK(rx_breaks || F->tx_bad);
		F->broken = true;
		F->broken_by_tx = !rx_breaks;
	}
	FUZZ_CHECK(!rx_breaks || F->broken);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t used = ring_base(q) + 0x2000;

		memcpy(F->before + used, F->ram + used, 6 + 8 * QSIZE);
	}
	FUZZ_CHECK(!memcmp(F->before, F->ram, RAM_SIZE));
}

/* Output the host took must be what the transmit chains said, in order. */
static void take(size_t most)
{
	const uint8_t *p;
	size_t n;

	ram_before();
	while (most && (n = virtio_console_output_peek(F->c, &p)) > 0) {
		if (n > most)
			n = most;
		FUZZ_CHECK(n <= VIRTIO_CONSOLE_OUT_SIZE);
		if (!F->tainted) {
			FUZZ_CHECK(F->taken_len + n <= F->expected_len);
			FUZZ_CHECK(!memcmp(p, F->expected + F->taken_len, n));
		}
		if (F->taken_len + n <= OUT_MAX) {
			memcpy(F->taken + F->taken_len, p, n);
			F->taken_len += n;
		}
		virtio_console_output_done(F->c, n);
		most -= n;
	}
	ram_after();
}

static void notify(unsigned q)
{
	bool rx_live = q == VIRTIO_CONSOLE_RXQ && live();

	if (rx_live)
		event_clear();
	ram_before();
	virtio_dev_notify(F->d, q);
	ram_after();
	if (rx_live) {
		/* The host found no buffer before: it must hear that there may be some now. */
		FUZZ_CHECK(!F->host_waiting || event_ready());
		F->host_waiting = false;
	}
}

/* 2.7.4.2: a readable buffer after a writable one (zero-length or not) breaks the ring. */
static bool malformed(const struct chain *ch)
{
	bool seen_write = false;

	for (unsigned i = 0; i < ch->npieces; i++) {
		if (!ch->p[i].write && seen_write)
			return true;
		seen_write |= ch->p[i].write;
	}
	return false;
}

static void chain_op(struct fuzz_in *in, unsigned q)
{
	uint8_t fl = fuzz_u8(in);
	unsigned n = (fl & 3) + 1, need;
	bool indirect = (fl & 4) && (F->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	struct chain *ch;
	uint16_t d[MAX_PIECES], head, len[MAX_PIECES];
	uint8_t seed[MAX_PIECES];
	unsigned got = 0;
	size_t out = 0;

	for (unsigned i = 0; i < n; i++) {
		len[i] = fuzz_u16(in) % (PIECE_MAX + 1);
		seed[i] = fuzz_u8(in);
		out += len[i];
	}
	need = indirect ? 1 : n;
	for (unsigned i = 0; i < QSIZE && got < need; i++)
		if (F->desc_free[q][i])
			d[got++] = (uint16_t)i;
	/* The driver has no room (it would wait), or the model's stream is full. */
	if (got < need || F->fifo_len[q] == QSIZE || F->expected_len + out > OUT_MAX)
		return;
	head = d[0];
	ch = &F->chains[q][head];
	memset(ch, 0, sizeof(*ch));
	ch->busy = true;
	ch->npieces = n;
	ch->ndesc = need;
	for (unsigned i = 0; i < need; i++) {
		ch->desc[i] = d[i];
		F->desc_free[q][d[i]] = false;
	}
	for (unsigned i = 0; i < n; i++) {
		struct piece *p = &ch->p[i];
		/* A region of our own: per descriptor, or per head and table entry. */
		unsigned region =
		    indirect ? 2 * QSIZE + (q * QSIZE + head) * MAX_PIECES + i : q * QSIZE + d[i];

		p->len = len[i];
		p->gpa = ARENA_GPA + (uint64_t)region * PIECE_MAX;
		/* Transmit pieces are readable, receive ones writable, unless "the wrong way". */
		p->write = (q == VIRTIO_CONSOLE_RXQ) != !!(fl & (0x10 << i));
		for (uint32_t k = 0; k < p->len; k++)
			F->ram[p->gpa + k] = (uint8_t)(seed[i] + k * 13 + (k >> 8));
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t table = indirect ? IND_GPA + q * 0x400u + head * 64u : ring_base(q);
		unsigned at = indirect ? i : d[i];
		uint16_t next = indirect ? (uint16_t)(i + 1) : (i + 1 < n ? d[i + 1] : 0);
		uint8_t *e = F->ram + table + 16 * (uint64_t)at;

		put_le(e, ch->p[i].gpa, 8);
		put_le(e + 8, ch->p[i].len, 4);
		put_le(e + 12,
		       (ch->p[i].write ? VIRTQ_DESC_F_WRITE : 0) |
			   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0),
		       2);
		put_le(e + 14, next, 2);
	}
	if (indirect) {
		uint8_t *e = F->ram + ring_base(q) + 16 * (uint64_t)head;

		put_le(e, IND_GPA + q * 0x400u + head * 64u, 8);
		put_le(e + 8, 16 * n, 4);
		put_le(e + 12, VIRTQ_DESC_F_INDIRECT, 2);
		put_le(e + 14, 0, 2);
	}
	/* The model: a transmit chain's readable bytes join the expected stream. */
	if (q == VIRTIO_CONSOLE_TXQ && malformed(ch) && !F->tx_bad) {
		F->tx_bad = true;
		F->tx_bad_at = F->expected_len;
	}
	if (q == VIRTIO_CONSOLE_TXQ)
		for (unsigned i = 0; i < n; i++)
			if (!ch->p[i].write) {
				memcpy(F->expected + F->expected_len, F->ram + ch->p[i].gpa,
				       ch->p[i].len);
				F->expected_len += ch->p[i].len;
			}
	put_le(F->ram + ring_base(q) + 0x1000 + 4 + 2 * (F->avail_idx[q] % QSIZE), head, 2);
	F->avail_idx[q]++;
	put_le(F->ram + ring_base(q) + 0x1000 + 2, F->avail_idx[q], 2);
	F->fifo[q][F->fifo_len[q]++] = head;
	if (fl & 8)
		notify(q);
}

static uint32_t writable(const struct chain *ch)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < ch->npieces; i++)
		if (ch->p[i].write)
			n += ch->p[i].len;
	return n;
}

/* What rx_space must say: the next receive chain's writable size (0 and broken for none). */
static void rx_space_op(void)
{
	size_t got;
	uint32_t want = 0;
	bool breaks = false;

	event_clear(); /* the host clears the event before it looks */
	if (live() && F->rx_next < F->fifo_len[0]) {
		const struct chain *ch = &F->chains[0][F->fifo[0][F->rx_next]];

		breaks = malformed(ch) || !writable(ch);
		want = breaks ? 0 : writable(ch);
	}
	ram_before();
	F->rx_breaks = breaks;
	got = virtio_console_rx_space(F->c);
	ram_after();
	if (F->tainted)
		return;
	FUZZ_CHECK(got == want);
	F->host_waiting |= !got;
}

static void input_op(struct fuzz_in *in)
{
	uint8_t data[256];
	size_t len = fuzz_u8(in), got, done = 0;
	bool breaks = false, was_broken = F->broken;

	len = fuzz_bytes(in, data, len);
	event_clear();
	ram_before();
	/* The model: chains in order, each filled as far as the input goes. */
	while (live() && done < len && F->rx_next < F->fifo_len[0]) {
		struct chain *ch = &F->chains[0][F->fifo[0][F->rx_next]];
		uint32_t room = writable(ch), n;

		if (!room || malformed(ch)) {
			breaks = true;
			break;
		}
		n = len - done < room ? (uint32_t)(len - done) : room;
		rx_apply(ch, data + done, n, F->before);
		ch->expect_len = n;
		ch->filled = true;
		done += n;
		F->rx_next++;
	}
	F->rx_breaks = breaks;
	got = virtio_console_input(F->c, data, len);
	ram_after();
	FUZZ_CHECK(got <= len);
	if (F->tainted)
		return;
	FUZZ_CHECK(got == (was_broken ? 0 : done));
	F->host_waiting |= got < len;
}

/* Everything the device will still give: notify, take, until nothing moves. */
static void drain(void)
{
	size_t before;

	do {
		before = F->taken_len;
		notify(VIRTIO_CONSOLE_TXQ);
		take(SIZE_MAX);
	} while (F->taken_len != before);
	if (!F->tainted && F->tx_bad) {
		/* The device reached the bad chain, after everything before it. */
		FUZZ_CHECK(F->broken);
		if (F->broken_by_tx)
			FUZZ_CHECK(F->taken_len == F->tx_bad_at);
	}
	if (F->tainted || F->broken) {
		/* Unknowable how far the device got: the model starts over from what came. */
		memcpy(F->expected, F->taken, F->taken_len);
		F->expected_len = F->taken_len;
		return;
	}
	FUZZ_CHECK(F->taken_len == F->expected_len);
	FUZZ_CHECK(F->fifo_len[VIRTIO_CONSOLE_TXQ] == 0);
}

static void save_load(void)
{
	struct virtio_console *other = virtio_console_create(&F->m, F->cols, F->rows);
	struct state_buf b;
	struct state_reader r;
	uint8_t status = virtio_dev_read_status(F->d);

	FUZZ_CHECK(other);
	state_buf_init(&b);
	ram_before();
	FUZZ_CHECK(virtio_console_save(F->c, &b) == 0);
	/* Saving gives held chains back: the ring in RAM is untouched. */
	FUZZ_CHECK(!memcmp(F->before, F->ram, RAM_SIZE));
	state_reader_init(&r, b.data, b.len);
	FUZZ_CHECK(virtio_console_load(other, &r) == 0);
	state_buf_free(&b);
	virtio_dev_set_transport(virtio_console_dev(other), &t_ops, F);
	virtio_console_destroy(F->c);
	F->c = other;
	F->d = virtio_console_dev(other);
	event_clear();
	F->host_waiting = false; /* not carried over: loading wakes the host instead */
	FUZZ_CHECK(virtio_dev_read_status(F->d) == status);
}

static void size_op(struct fuzz_in *in)
{
	uint16_t cols = fuzz_u16(in), rows = fuzz_u16(in);
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE + 4], gen = virtio_dev_config_generation(F->d);

	virtio_console_set_size(F->c, cols, rows);
	FUZZ_CHECK(virtio_dev_config_generation(F->d) ==
		   (uint8_t)(gen + (cols != F->cols || rows != F->rows)));
	F->cols = cols;
	F->rows = rows;
	virtio_dev_read_config(F->d, 0, cfg, VIRTIO_CONSOLE_CONFIG_SIZE);
	virtio_dev_read_config(F->d, VIRTIO_CONSOLE_CONFIG_SIZE, cfg + VIRTIO_CONSOLE_CONFIG_SIZE,
			       4);
	FUZZ_CHECK(get_le(cfg, 2) == cols && get_le(cfg + 2, 2) == rows);
	for (unsigned i = 4; i < sizeof(cfg); i++)
		FUZZ_CHECK(cfg[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	unsigned ops = 0;

	F->cols = 80;
	F->rows = 25;
	F->c = virtio_console_create(&F->m, F->cols, F->rows);
	FUZZ_CHECK(F->c);
	F->d = virtio_console_dev(F->c);
	virtio_dev_set_transport(F->d, &t_ops, F);
	memset(F->ram, 0, RAM_SIZE);
	F->expected_len = F->taken_len = 0;
	F->host_waiting = false;
	bring_up(fuzz_u8(&in));
	while (!fuzz_done(&in) && ops++ < 4096) {
		uint8_t op = fuzz_u8(&in);

		switch (op % 8) {
		case 0:
		case 1:
			chain_op(&in, op % 8 ? VIRTIO_CONSOLE_RXQ : VIRTIO_CONSOLE_TXQ);
			break;
		case 2:
			input_op(&in);
			break;
		case 3: {
			size_t most = fuzz_u16(&in);

			take(most ? most : SIZE_MAX);
			break;
		}
		case 4:
			notify(fuzz_u8(&in) & 1);
			break;
		case 5: {
			uint32_t gpa = fuzz_u32(&in) % RAM_SIZE;
			uint8_t n = fuzz_u8(&in) % 17, b[16];

			fuzz_bytes(&in, b, n);
			if (gpa + n > RAM_SIZE)
				n = (uint8_t)(RAM_SIZE - gpa);
			memcpy(F->ram + gpa, b, n);
			F->tainted = true;
			break;
		}
		case 6: {
			uint8_t cfg = fuzz_u8(&in);

			drain();
			bring_up(cfg);
			break;
		}
		case 7: {
			uint8_t sub = fuzz_u8(&in) % 3;

			if (sub == 0)
				rx_space_op();
			else if (sub == 1)
				save_load();
			else
				size_op(&in);
			break;
		}
		}
	}
	drain();
	virtio_console_destroy(F->c);
	F->c = NULL;
	return 0;
}
