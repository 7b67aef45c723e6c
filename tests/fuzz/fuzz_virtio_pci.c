/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transport (virtio/pci.h) as a hostile driver sees it: config
 * space over ECAM (capabilities, BARs, command, MSI-X control, the PCI
 * configuration access window), BAR 4 (common configuration, ISR, device
 * configuration, notifications) and the MSI-X table in BAR 1, with accesses
 * of any width at and around every register, plus rings and buffers poked
 * into a small fake guest RAM and queue notifications arriving through the
 * ioeventfd path. The device is virtio-rng, or a made-up one with three
 * queues and a configuration space.
 *
 * Checked beyond "no crash, no hang, no deadlock": INTx only on the device's
 * GSI with levels 0/1; ISR reads only bits 0-1; num_queues and each queue's
 * notify offset stay what they are; the status only holds defined bits; each
 * queue's eventfd is bound at most once at a time, only while BAR 4 decodes,
 * at BAR 4 + 0x3000 + 4q, and unbound exactly where it was bound.
 *
 * Snapshots (ops 8 and 9): the transport's and the device's state as
 * virtio_pci_save and the device's save write it, loaded back as
 * state/vmsnap.c does (parse, device load, queue vector check, apply). A
 * round trip must load and save the same bytes again; a mutated or truncated
 * copy (hostile snapshot file) is either refused or leaves a machine that
 * keeps every invariant above. The same for the host bridge's state.
 *
 * Input: byte 0 = bit 0 the made-up device, bit 1 no ioeventfds; then
 * operations, one byte each plus arguments (see the switch below).
 */
#include <unistd.h>

#include "fuzz.h"
#include "state/buf.h"
#include "hw/pci.h"
#include "machine/bus.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define ECAM	 0xe0000000ULL
#define RAM_SIZE 0x10000u
#define NQ_MAX	 3

struct fuzz_vpci {
	struct gmem m;
	uint8_t *ram;
	struct bus bus;
	struct pci_host *h;
	struct virtio_rng *rng;
	struct virtio_dev toy;
	uint8_t toy_cfg[16];
	struct virtio_pci *p;
	unsigned slot, nq;
	int watches;
	int fd[NQ_MAX];
	void (*fn[NQ_MAX])(void *);
	void *arg[NQ_MAX];
	bool bound[NQ_MAX];
	uint64_t bound_at[NQ_MAX];
};

static void set_level(void *opaque, uint32_t gsi, int level)
{
	struct fuzz_vpci *f = opaque;

	FUZZ_CHECK(gsi == pci_intx_gsi(f->slot, 1));
	FUZZ_CHECK(level == 0 || level == 1);
}

static void msi_notify(void *opaque, uint64_t addr, uint32_t data)
{
	(void)opaque;
	(void)addr;
	(void)data;
}

static const struct pci_msi_ops msi_ops = {.notify = msi_notify};

static uint64_t rd(struct fuzz_vpci *f, uint64_t addr, uint32_t len)
{
	uint8_t b[8] = {0};
	uint64_t v = 0;

	bus_access(&f->bus, BUS_MMIO, addr, b, len, false);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr(struct fuzz_vpci *f, uint64_t addr, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&f->bus, BUS_MMIO, addr, b, len, true);
}

static uint64_t cfg(struct fuzz_vpci *f, uint32_t off)
{
	return ECAM + ((uint64_t)f->slot << 15) + (off & 0xfff);
}

/* The harness's own config reads: through 0xCF8/0xCFC, which the guest cannot move. */
static uint32_t cfg_read32(struct fuzz_vpci *f, uint32_t reg)
{
	uint32_t addr = 0x80000000u | f->slot << 11 | reg;
	uint8_t b[4];

	bus_access(&f->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT, (uint8_t *)&addr, 4, true);
	bus_access(&f->bus, BUS_PIO, PCI_CONFIG_ADDRESS_PORT + 4, b, 4, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t bar(struct fuzz_vpci *f, int i)
{
	uint64_t lo = cfg_read32(f, 0x10 + 4 * (uint32_t)i);

	if ((lo & 6) == 4)
		return (lo & ~0xfULL) | (uint64_t)cfg_read32(f, 0x14 + 4 * (uint32_t)i) << 32;
	return lo & ~0xfULL;
}

static int bind_eventfd(void *opaque, int fd, uint64_t addr, bool assign)
{
	struct fuzz_vpci *f = opaque;
	unsigned q;

	for (q = 0; q < f->nq && f->fd[q] != fd; q++)
		;
	FUZZ_CHECK(q < f->nq);
	/* Under the PCI config lock: the BAR is checked against this in check(). */
	if (assign) {
		FUZZ_CHECK(!f->bound[q]);
		FUZZ_CHECK(!((addr - VIRTIO_PCI_NOTIFY_OFF - 4 * q) & (VIRTIO_PCI_BAR_SIZE - 1)));
		f->bound_at[q] = addr;
	} else {
		FUZZ_CHECK(f->bound[q] && f->bound_at[q] == addr);
	}
	f->bound[q] = assign;
	return 0;
}

static int watch(void *opaque, int fd, void (*fn)(void *), void *arg)
{
	struct fuzz_vpci *f = opaque;

	FUZZ_CHECK(f->watches < NQ_MAX);
	f->fd[f->watches] = fd;
	f->fn[f->watches] = fn;
	f->arg[f->watches++] = arg;
	return 0;
}

static const struct ioevent_ops io_ops = {bind_eventfd, watch};

static void toy_handle(struct virtio_dev *d, unsigned q)
{
	(void)d;
	(void)q;
}

static void toy_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fuzz_vpci *)d->opaque)->toy_cfg + off, len);
}

static void toy_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct fuzz_vpci *)d->opaque)->toy_cfg + off, buf, len);
}

static const struct virtio_dev_ops toy_ops = {
    .handle_queue = toy_handle,
    .config_read = toy_read,
    .config_write = toy_write,
};

static const struct virtio_dev_info toy_info = {
    .name = "toy",
    .device_id = 42,
    .num_queues = NQ_MAX,
    .queue_max_size = 64,
    .config_size = 12,
};

static const struct pci_host_config host_cfg = {
    .ecam_base = ECAM,
    .mem32_base = 0xc0000000ULL,
    .mem32_size = 0x20000000,
    .mem64_base = 0x200000000ULL,
    .mem64_size = 1ULL << 32,
};

static uint32_t width(struct fuzz_in *in, uint32_t max)
{
	uint32_t w = 1u << (fuzz_u8(in) & 3);

	return w > max ? max : w;
}

/* Whether BAR 4 is registered on the bus at b4 (not refused, not a sizing pattern). */
static bool bar4_decoded(struct fuzz_vpci *f, uint64_t b4)
{
	const struct bus_space_table *t = &f->bus.space[BUS_MMIO];

	for (int i = 0; i < t->nr; i++)
		if (t->ranges[i].base == b4 && t->ranges[i].len == VIRTIO_PCI_BAR_SIZE)
			return true;
	return false;
}

static void check(struct fuzz_vpci *f)
{
	uint64_t b4 = bar(f, VIRTIO_PCI_BAR);
	bool decoding = bar4_decoded(f, b4);

	for (unsigned q = 0; q < f->nq; q++)
		FUZZ_CHECK(!f->bound[q] ||
			   (decoding && f->bound_at[q] == b4 + VIRTIO_PCI_NOTIFY_OFF + 4 * q));
	if (!decoding)
		return;
	FUZZ_CHECK(rd(f, b4 + VIRTIO_PCI_COMMON_NUMQ, 2) == f->nq);
	FUZZ_CHECK(!(rd(f, b4 + VIRTIO_PCI_COMMON_STATUS, 1) & 0x30));
	if (rd(f, b4 + VIRTIO_PCI_COMMON_Q_SELECT, 2) < f->nq)
		FUZZ_CHECK(rd(f, b4 + VIRTIO_PCI_COMMON_Q_NOFF, 2) ==
			   rd(f, b4 + VIRTIO_PCI_COMMON_Q_SELECT, 2));
}

static void save_state(struct fuzz_vpci *f, struct state_buf *b)
{
	state_buf_init(b);
	FUZZ_CHECK(!virtio_pci_save(f->p, b));
	FUZZ_CHECK(!(f->rng ? virtio_rng_save(f->rng, b) : virtio_dev_save(&f->toy, b)));
}

/*
 * Loads a transport + device state as state/vmsnap.c does. Returns 0 when it
 * took effect, 1 when it was refused with nothing changed, -1 when it was
 * refused after the device had loaded (vmsnap then throws the machine away).
 */
static int load_state(struct fuzz_vpci *f, const uint8_t *p, size_t n, char *why, size_t whylen)
{
	struct virtio_pci_loaded *t = NULL;
	struct state_reader r;

	why[0] = 0;
	state_reader_init(&r, p, n);
	if (virtio_pci_load_parse(f->p, &r, &t, why, whylen))
		return 1;
	if (f->rng ? virtio_rng_load(f->rng, &r) : virtio_dev_load(&f->toy, &r)) {
		snprintf(why, whylen, "device state");
		virtio_pci_load_discard(t);
		return 1;
	}
	if (virtio_pci_load_check_queues(f->p, why, whylen)) {
		virtio_pci_load_discard(t);
		return -1;
	}
	virtio_pci_load_apply(f->p, t);
	return 0;
}

/* Up to 8 byte changes and maybe a truncation of b, from the input. */
static size_t mutate(struct fuzz_in *in, struct state_buf *b)
{
	unsigned k = fuzz_u8(in) % 9;
	size_t len = b->len;

	for (unsigned i = 0; i < k && len; i++) {
		size_t at = fuzz_u16(in) % len;

		b->data[at] = fuzz_u8(in);
	}
	if (len && (fuzz_u8(in) & 1))
		len = fuzz_u16(in) % len;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	struct fuzz_vpci *f = calloc(1, sizeof(*f));
	uint8_t mode = fuzz_u8(&in);
	struct irq_sink irq = {set_level, f};
	struct virtio_dev *d;

	f->ram = calloc(1, RAM_SIZE);
	if (!f->ram || gmem_add_region(&f->m, 0, RAM_SIZE, f->ram) || bus_init(&f->bus))
		abort();
	f->h = pci_host_create(&f->bus, &host_cfg, &irq, &msi_ops, f);
	if (!f->h || pci_host_attach(f->h, NULL))
		abort();
	if (mode & 1) {
		if (virtio_dev_init(&f->toy, &toy_info, &toy_ops, f, &f->m))
			abort();
		d = &f->toy;
	} else {
		f->rng = virtio_rng_create(&f->m);
		if (!f->rng)
			abort();
		d = virtio_rng_dev(f->rng);
	}
	f->nq = d->num_queues;
	f->p = virtio_pci_create(f->h, -1, d, 0xff00, (mode & 2) ? NULL : &io_ops, f);
	if (!f->p)
		abort();
	f->slot = (unsigned)pci_dev_slot(virtio_pci_dev(f->p));

	while (!fuzz_done(&in)) {
		struct state_buf sa, sb;
		uint8_t op = fuzz_u8(&in);
		uint32_t off = fuzz_u16(&in), w;
		uint64_t v, one = 1;

		switch (op % 10) {
		case 0: /* config space write, any offset and width */
			w = width(&in, 4);
			wr(f, cfg(f, off), fuzz_u32(&in), w);
			break;
		case 1:
			rd(f, cfg(f, off), width(&in, 4));
			break;
		case 2: /* BAR 4 and a little past it */
			w = width(&in, 8);
			v = fuzz_u64(&in);
			if (bar(f, VIRTIO_PCI_BAR))
				wr(f, bar(f, VIRTIO_PCI_BAR) + off % (VIRTIO_PCI_BAR_SIZE + 64), v,
				   w);
			break;
		case 3:
			w = width(&in, 8);
			if (!bar(f, VIRTIO_PCI_BAR))
				break;
			v = rd(f, bar(f, VIRTIO_PCI_BAR) + off % (VIRTIO_PCI_BAR_SIZE + 64), w);
			if (off % (VIRTIO_PCI_BAR_SIZE + 64) == VIRTIO_PCI_ISR_OFF && w == 1 &&
			    bar4_decoded(f, bar(f, VIRTIO_PCI_BAR)))
				FUZZ_CHECK(!(v & ~3ULL));
			break;
		case 4: /* the MSI-X table and PBA */
			w = width(&in, 8);
			v = fuzz_u64(&in);
			if (bar(f, VIRTIO_PCI_MSIX_BAR)) {
				if (off & 0x8000)
					wr(f, bar(f, VIRTIO_PCI_MSIX_BAR) + off % 0x1010, v, w);
				else
					rd(f, bar(f, VIRTIO_PCI_MSIX_BAR) + off % 0x1010, w);
			}
			break;
		case 5: /* the I/O thread sees queue off's eventfd */
			if (f->watches && f->fd[off % f->watches] >= 0) {
				if (off & 0x100 && write(f->fd[off % f->watches], &one, 8) != 8)
					abort();
				f->fn[off % f->watches](f->arg[off % f->watches]);
			}
			break;
		case 6: { /* the driver writes guest RAM: rings, descriptors, buffers */
			uint8_t b[8];

			fuzz_bytes(&in, b, sizeof(b));
			memcpy(f->ram + off % (RAM_SIZE - 8), b, sizeof(b));
			break;
		}
		case 7: { /* a well-behaved bring-up of queue off % nq, to get deep quickly */
			uint64_t c;

			wr(f, cfg(f, 4), 0x6, 2);
			if (!bar(f, VIRTIO_PCI_BAR))
				break;
			c = bar(f, VIRTIO_PCI_BAR) + VIRTIO_PCI_COMMON_OFF;
			wr(f, c + VIRTIO_PCI_COMMON_STATUS, 3, 1);
			wr(f, c + VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
			wr(f, c + VIRTIO_PCI_COMMON_GF, 1, 4);
			wr(f, c + VIRTIO_PCI_COMMON_STATUS, 11, 1);
			wr(f, c + VIRTIO_PCI_COMMON_Q_SELECT, off % f->nq, 2);
			wr(f, c + VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
			wr(f, c + VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000, 8);
			wr(f, c + VIRTIO_PCI_COMMON_Q_AVAILLO, 0x2000, 8);
			wr(f, c + VIRTIO_PCI_COMMON_Q_USEDLO, 0x3000, 8);
			wr(f, c + VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
			wr(f, c + VIRTIO_PCI_COMMON_STATUS, 15, 1);
			break;
		}
		case 8: { /* a snapshot round trip: loads, and saves the same bytes again */
			char why[256];
			int rc;

			save_state(f, &sa);
			rc = load_state(f, sa.data, sa.len, why, sizeof(why));
			if (rc && getenv("FUZZ_WHY"))
				fprintf(stderr, "round trip refused: %s\n", why);
			FUZZ_CHECK(rc == 0);
			save_state(f, &sb);
			FUZZ_CHECK(sa.len == sb.len && !memcmp(sa.data, sb.data, sa.len));
			state_buf_free(&sa);
			state_buf_free(&sb);
			state_buf_init(&sa);
			FUZZ_CHECK(!pci_host_save(f->h, &sa));
			{
				struct state_reader r;

				state_reader_init(&r, sa.data, sa.len);
				FUZZ_CHECK(!pci_host_load(f->h, &r, why, sizeof(why)));
			}
			state_buf_free(&sa);
			break;
		}
		case 9: { /* a hostile snapshot: refused, or it leaves a sound machine */
			struct state_reader r;
			char why[256];
			size_t len;
			int rc = 0;

			if (off & 1) {
				state_buf_init(&sa);
				FUZZ_CHECK(!pci_host_save(f->h, &sa));
				len = mutate(&in, &sa);
				state_reader_init(&r, sa.data, len);
				pci_host_load(f->h, &r, why, sizeof(why));
			} else {
				save_state(f, &sa);
				len = mutate(&in, &sa);
				rc = load_state(f, sa.data, len, why, sizeof(why));
			}
			state_buf_free(&sa);
			if (rc < 0)
				goto out; /* as vmsnap: this machine is thrown away */
			break;
		}
		}
		check(f);
	}
out:

	pci_host_destroy(f->h);
	virtio_pci_destroy(f->p);
	if (f->rng)
		virtio_rng_destroy(f->rng);
	else
		virtio_dev_destroy(&f->toy);
	bus_destroy(&f->bus);
	free(f->ram);
	free(f);
	return 0;
}
