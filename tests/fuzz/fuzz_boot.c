/* SPDX-License-Identifier: MIT */
/*
 * Kernel loading (arch/x86/boot.h): boot_load on the input as a kernel image,
 * so format detection and the bzImage (with host-side decompression), ELF/PVH
 * and multiboot loaders all see hostile bytes. Guest RAM is four 64 MiB
 * buffers allocated once: small guests get the first, and the two large
 * layouts (3 GiB, and 3 GiB + 64 MiB: 64 MiB of it above 4 GiB) are mapped sparsely
 * as 64 MiB at 0, below 2 GiB (where Linux's initrd goes), below the end of low
 * RAM (multiboot's and PVH's initrd) and at 4 GiB, so that a segment in
 * between fails with -ENOMEM, as a hole in the mapping should. bzImages always get a small guest:
 * their payload may decompress to min(RAM, 512 MiB), and bombs that size would only make the fuzzer
 * slow.
 *
 * Input: byte 0 configures the guest (bits 0-2 RAM, 3-4 initrd, 5-7 command
 * line and kernel path); the rest is the kernel image. Checks boot.h's
 * contract: the documented error codes with a reason, and on success an entry
 * point and boot structures inside mapped guest RAM.
 */
#include <errno.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "fuzz.h"

#define BUF	   (64ULL << 20)
#define INITRD_MAX (1u << 20)
#define CMD_MAX	   (64u << 10)

static uint8_t *ram[4], *initrd;
static char *cmd_long;
static bool verbose; /* KVMM_FUZZ_VERBOSE=1: say what each input did (for seeds and crashes) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("KVMM_FUZZ_VERBOSE") != NULL;
	for (int i = 0; i < 4; i++)
		if (!(ram[i] = calloc(1, BUF)))
			abort();
	initrd = malloc(INITRD_MAX);
	cmd_long = malloc(CMD_MAX + 2);
	if (!initrd || !cmd_long)
		abort();
	for (size_t i = 0; i < INITRD_MAX; i++)
		initrd[i] = (uint8_t)(i * 7);
	memset(cmd_long, 'a', CMD_MAX + 1);
	cmd_long[CMD_MAX + 1] = 0;
	return 0;
}

/* Maps guest RAM for ram_size bytes: all of it, or the sparse layout of a large guest. */
static void map_ram(struct gmem *m, uint64_t ram_size)
{
	uint64_t low = ram_size < LAYOUT_MMIO_HOLE ? ram_size : LAYOUT_MMIO_HOLE;

	memset(m, 0, sizeof(*m));
	m->ram_size = ram_size;
	if (ram_size <= BUF) {
		if (gmem_add_region(m, 0, ram_size, ram[0]))
			abort();
		return;
	}
	/* Linux's initrd_addr_max is often 2 GiB - 1; low RAM here is 3 GiB. */
	if (gmem_add_region(m, 0, BUF, ram[0]) ||
	    gmem_add_region(m, (2ULL << 30) - BUF, BUF, ram[1]) ||
	    gmem_add_region(m, low - BUF, BUF, ram[2]))
		abort();
	if (ram_size - low > BUF)
		abort(); /* the harness's own mistake: more RAM above 4 GiB than buffer */
	if (ram_size > low && gmem_add_region(m, LAYOUT_4G, ram_size - low, ram[3]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t rams[8] = {BUF,
					 32ULL << 20,
					 (17ULL << 20) + 4096,
					 LAYOUT_MIN_RAM,
					 LAYOUT_MIN_RAM - 4096,	  /* too small: refused */
					 (16ULL << 20) + 123,	  /* not page-aligned */
					 LAYOUT_MMIO_HOLE,	  /* the most RAM below 4 GiB */
					 LAYOUT_MMIO_HOLE + BUF}; /* and 64 MiB above 4 GiB */
	static const size_t initrds[4] = {0, 1, 4099, INITRD_MAX};
	/* Lengths of "aaa...": 255 is the pre-2.06 limit, 2047 a common cmdline_size,
	 * 65535 the most LAYOUT_CMDLINE holds, 65536 one too many. */
	static const size_t cmd_lens[8] = {0, 0, 1, 255, 2047, 2048, CMD_MAX - 1, CMD_MAX};
	struct boot_config cfg;
	struct boot_entry out;
	struct gmem m;
	char err[BOOT_ERR_MAX];
	unsigned cmd;
	int rc;

	if (size < 2)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.kernel = data + 1;
	cfg.kernel_size = size - 1;
	cfg.ram_size = rams[data[0] & 7];
	if (cfg.ram_size > BUF && bzimage_probe(cfg.kernel, cfg.kernel_size))
		cfg.ram_size = BUF;
	map_ram(&m, cfg.ram_size);
	if ((data[0] >> 3) & 3) {
		cfg.initrd = initrd;
		cfg.initrd_size = initrds[(data[0] >> 3) & 3];
	}
	cmd = data[0] >> 5;
	cfg.cmdline = cmd_long + (CMD_MAX + 1 - cmd_lens[cmd]);
	cfg.kernel_path = (cmd & 1) ? "/boot/kernel" : NULL;
	cfg.rsdp_addr = 0xe0000;

	memset(err, 0, sizeof(err));
	rc = boot_load(&m, &cfg, &out, err, sizeof(err));
	if (verbose)
		fprintf(stderr, "boot_load: %d (%s) mode %d entry 0x%llx\n", rc, rc ? err : "ok",
			rc ? -1 : (int)out.mode, rc ? 0ULL : (unsigned long long)out.entry);
	FUZZ_CHECK(rc == 0 || rc == -ENOEXEC || rc == -ENOMEM || rc == -EINVAL);
	FUZZ_CHECK(err[sizeof(err) - 1] == 0);
	if (rc) {
		FUZZ_CHECK(err[0] != 0);
		return 0;
	}
	FUZZ_CHECK(gmem_ptr(&m, out.entry, 1) != NULL);
	switch (out.mode) {
	case BOOT_LINUX64:
		FUZZ_CHECK(gmem_ptr(&m, out.rsi, 4096) != NULL);
		break;
	case BOOT_PVH32:
	case BOOT_MULTIBOOT32:
		FUZZ_CHECK(out.ebx && gmem_ptr(&m, out.ebx, 56) != NULL);
		FUZZ_CHECK(out.entry <= UINT32_MAX);
		break;
	default:
		FUZZ_CHECK(!"unknown boot mode");
	}
	return 0;
}
