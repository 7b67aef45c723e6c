/* SPDX-License-Identifier: MIT */
/*
 * Linux bzImage loader, boot protocol 2.06 and later, entered through the
 * 64-bit boot protocol. Documentation/arch/x86/boot.rst:
 *   - "The Real-Mode Kernel Header" / "Details of Header Fields": boot_flag,
 *     "HdrS", version, setup_sects (0 means 4), loadflags (LOADED_HIGH),
 *     xloadflags (XLF_KERNEL_64, 2.12+), payload_offset/payload_length (2.08+,
 *     relative to the protected-mode code), relocatable_kernel,
 *     kernel_alignment, pref_address and init_size (2.10+).
 *   - "Loading The Rest of The Kernel": the protected-mode kernel starts at file
 *     offset (setup_sects + 1) * 512.
 *   - "64-bit Boot Protocol": the 64-bit entry is the protected-mode kernel's
 *     load address + 0x200, RSI = boot_params.
 * Preferred path: the payload (a compressed ELF vmlinux, followed in the kernel
 * build by its 4-byte size and, when relocatable, relocation data) is
 * decompressed on the host and its PT_LOAD segments loaded at their physical
 * addresses; the kernel then starts at its ELF entry (startup_64), skipping its
 * own decompressor. Fallback (unknown compression such as LZO): load the
 * protected-mode kernel whole and let it decompress itself.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_internal.h"
#include "arch/x86/decompress.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/linux_zeropage.h"

#define BZIMAGE_MIN_SIZE       1024
#define BZIMAGE_MIN_VERSION    0x0206
#define BZIMAGE_ENTRY64_OFFSET 0x200
#define BZIMAGE_MAX_VMLINUX    (512ULL << 20)

struct bzimage {
	const uint8_t *img;
	size_t size;
	uint16_t version;
	size_t setup_size; /* real-mode part: (setup_sects + 1) * 512 */
	const uint8_t *pm; /* protected-mode kernel */
	size_t pm_size;
	size_t hdr_len; /* setup header bytes from 0x1f1 */
};

int bzimage_probe(const uint8_t *img, size_t size)
{
	return size >= ZP_HEADER + 4 && boot_get32(img + ZP_HEADER) == ZP_HDRS_MAGIC;
}

static int bzimage_parse(const struct boot_config *cfg, struct bzimage *bz, char *err,
			 size_t errlen)
{
	const uint8_t *img = cfg->kernel;
	size_t size = cfg->kernel_size;
	unsigned int setup_sects;
	uint16_t flag;

	memset(bz, 0, sizeof(*bz));
	bz->img = img;
	bz->size = size;
	if (size < BZIMAGE_MIN_SIZE)
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: file is %zu bytes, shorter than its %d-byte header",
				 size, BZIMAGE_MIN_SIZE);
	if (!bzimage_probe(img, size))
		return boot_fail(err, errlen, -ENOEXEC, "bzImage: no \"HdrS\" signature at 0x202");
	flag = boot_get16(img + ZP_BOOT_FLAG);
	if (flag != 0xaa55)
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: boot_flag at 0x1fe is 0x%04x (expected 0xaa55)", flag);
	bz->version = boot_get16(img + ZP_VERSION);
	if (bz->version < BZIMAGE_MIN_VERSION)
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: protocol version %u.%02u is too old (need 2.06)",
				 bz->version >> 8, bz->version & 0xff);
	setup_sects = img[ZP_SETUP_SECTS] ? img[ZP_SETUP_SECTS] : 4;
	bz->setup_size = (setup_sects + 1) * 512u;
	if (bz->setup_size >= size)
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "bzImage: setup_sects %u (%zu bytes of setup) leaves no protected-mode "
		    "kernel in a %zu-byte file",
		    setup_sects, bz->setup_size, size);
	if (!(img[ZP_LOADFLAGS] & ZP_LOADFLAG_HIGH))
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: LOADED_HIGH is not set in loadflags (0x%02x): a zImage, "
				 "which kvmm does not load",
				 img[ZP_LOADFLAGS]);
	if (bz->version >= 0x020c && !(boot_get16(img + ZP_XLOADFLAGS) & ZP_XLF_KERNEL_64))
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "bzImage: not a 64-bit kernel (xloadflags 0x%04x lacks XLF_KERNEL_64)",
		    boot_get16(img + ZP_XLOADFLAGS));
	bz->pm = img + bz->setup_size;
	bz->pm_size = size - bz->setup_size;
	/* The header ends at 0x202 + the jump's offset byte. */
	bz->hdr_len = 0x202 + img[ZP_JUMP + 1] - ZP_HDR;
	return 0;
}

/* Preferred path: decompress the payload on the host and load the vmlinux ELF. */
static int bzimage_load_vmlinux(struct gmem *m, const struct boot_config *cfg,
				const struct bzimage *bz, enum decompress_format fmt,
				const uint8_t *payload, size_t payload_len, struct boot_entry *out,
				char *err, size_t errlen)
{
	uint64_t max = cfg->ram_size < BZIMAGE_MAX_VMLINUX ? cfg->ram_size : BZIMAGE_MAX_VMLINUX;
	struct elf_loaded elf;
	char msg[BOOT_ERR_MAX], sz[32];
	uint8_t *vmlinux;
	size_t len;
	int ret;

	/* The build appends the decompressed size; it only sizes the first allocation. */
	ret = decompress_buffer(fmt, payload, payload_len, (size_t)max,
				payload_len >= 4 ? boot_get32(payload + payload_len - 4) : 0,
				&vmlinux, &len, msg, sizeof(msg));
	if (ret == -EFBIG)
		return boot_fail(err, errlen, -ENOMEM,
				 "bzImage: %s payload decompresses to more than %s (the limit is "
				 "guest RAM or 512 MiB)",
				 decompress_name(fmt), boot_describe_size(max, sz, sizeof(sz)));
	if (ret)
		return boot_fail(err, errlen, ret, "bzImage: payload: %s", msg);
	ret = elf_load_image(m, cfg->ram_size, vmlinux, len, ELFCLASS64, EM_X86_64,
			     "bzImage: vmlinux", &elf, err, errlen);
	free(vmlinux);
	if (ret)
		return ret;
	ret = linux_zeropage_build(m, cfg, bz->img + ZP_HDR, bz->hdr_len, elf.hi, err, errlen);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->mode = BOOT_LINUX64;
	out->entry = elf.entry;
	out->rsi = LAYOUT_ZERO_PAGE;
	return 0;
}

/* Fallback: the kernel decompresses itself from where it is loaded. */
static int bzimage_load_whole(struct gmem *m, const struct boot_config *cfg,
			      const struct bzimage *bz, struct boot_entry *out, char *err,
			      size_t errlen)
{
	const uint8_t *img = bz->img;
	uint64_t load, need, end, pref = 0, align, init_size;
	char ram[32];
	int ret;

	if (bz->version < 0x020c)
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: protocol %u.%02u kernel without a payload kvmm can "
				 "decompress has no 64-bit entry point (needs 2.12+ with "
				 "XLF_KERNEL_64)",
				 bz->version >> 8, bz->version & 0xff);
	/* The entry point is code in the file, not in the zeroed room init_size adds. */
	if (bz->pm_size <= BZIMAGE_ENTRY64_OFFSET)
		return boot_fail(err, errlen, -ENOEXEC,
				 "bzImage: protected-mode kernel (0x%zx bytes) ends before its "
				 "64-bit entry point at offset 0x%x",
				 bz->pm_size, BZIMAGE_ENTRY64_OFFSET);
	init_size = boot_get32(img + ZP_INIT_SIZE);
	align = boot_get32(img + ZP_KERNEL_ALIGNMENT);
	pref = boot_get64(img + ZP_PREF_ADDRESS);
	if (img[ZP_RELOCATABLE]) {
		/* A relocatable kernel runs where it is put, if that is aligned. */
		load = LAYOUT_LINUX_LOAD;
		if (pref >= LAYOUT_HIMEM && align && !(align & (align - 1)) &&
		    !(pref & (align - 1)))
			load = pref;
	} else {
		/* A fixed kernel is loaded at 1 MiB and moves itself to pref_address. */
		load = LAYOUT_HIMEM;
	}
	need = init_size > bz->pm_size ? init_size : bz->pm_size;
	end = load + need;
	ret = boot_check_load(cfg->ram_size, load, need);
	if (!ret && !img[ZP_RELOCATABLE] && pref > load) {
		ret = boot_check_load(cfg->ram_size, pref, init_size);
		if (pref + init_size > end)
			end = pref + init_size;
	}
	if (ret)
		return boot_fail(err, errlen, -ENOMEM,
				 "bzImage: kernel at 0x%" PRIx64 " needs 0x%" PRIx64
				 " bytes (init_size 0x%" PRIx64 "), more than guest RAM (%s) holds",
				 load, need, init_size,
				 boot_describe_size(cfg->ram_size, ram, sizeof(ram)));
	if (gmem_write(m, load, bz->pm, bz->pm_size))
		return boot_fail(err, errlen, -ENOMEM,
				 "bzImage: guest memory 0x%" PRIx64 "-0x%" PRIx64 " is not mapped",
				 load, load + bz->pm_size - 1);
	ret = linux_zeropage_build(m, cfg, img + ZP_HDR, bz->hdr_len, end, err, errlen);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->mode = BOOT_LINUX64;
	out->entry = load + BZIMAGE_ENTRY64_OFFSET;
	out->rsi = LAYOUT_ZERO_PAGE;
	return 0;
}

int bzimage_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
		 size_t errlen)
{
	struct bzimage bz;
	int ret;

	ret = boot_check_config(cfg, err, errlen);
	if (ret)
		return ret;
	ret = bzimage_parse(cfg, &bz, err, errlen);
	if (ret)
		return ret;
	if (bz.version >= 0x0208) {
		uint32_t off = boot_get32(bz.img + ZP_PAYLOAD_OFFSET);
		uint32_t len = boot_get32(bz.img + ZP_PAYLOAD_LENGTH);
		enum decompress_format fmt;

		if (len) {
			if (off > bz.pm_size || len > bz.pm_size - off)
				return boot_fail(
				    err, errlen, -ENOEXEC,
				    "bzImage: payload (offset 0x%x, length 0x%x) extends "
				    "past the protected-mode kernel (0x%zx bytes)",
				    off, len, bz.pm_size);
			fmt = decompress_detect(bz.pm + off, len);
			if (fmt != DECOMPRESS_UNKNOWN)
				return bzimage_load_vmlinux(m, cfg, &bz, fmt, bz.pm + off, len, out,
							    err, errlen);
		}
	}
	return bzimage_load_whole(m, cfg, &bz, out, err, errlen);
}
