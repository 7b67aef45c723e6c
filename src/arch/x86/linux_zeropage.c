/* SPDX-License-Identifier: MIT */
/*
 * Builds the Linux boot_params ("zero page") for the 64-bit boot protocol:
 * Documentation/arch/x86/boot.rst, "64-bit Boot Protocol" (zero boot_params,
 * copy the setup header found at 0x1f1 whose end is 0x0202 + the byte at
 * 0x0201, then fill what a boot loader must) and "Details of Header Fields";
 * field offsets from arch/x86/include/uapi/asm/bootparam.h (see
 * linux_zeropage.h).
 */
#include "arch/x86/linux_zeropage.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot_internal.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

/* boot_params has room for the setup header up to edd_mbr_sig_buffer. */
#define ZP_HDR_ROOM (0x290 - ZP_HDR)

int linux_zeropage_build(struct gmem *m, const struct boot_config *cfg, const uint8_t *hdr,
			 size_t hdr_len, uint64_t kernel_end, char *err, size_t errlen)
{
	uint8_t zp[ZP_SIZE];
	struct e820_entry map[E820_MAX];
	uint64_t cmd_max, initrd_top, initrd = 0;
	size_t cmd_len;
	uint16_t version;
	int n, ret;

	memset(zp, 0, sizeof(zp));
	if (hdr_len > ZP_HDR_ROOM)
		hdr_len = ZP_HDR_ROOM;
	memcpy(zp + ZP_HDR, hdr, hdr_len);
	version = boot_get16(zp + ZP_VERSION);

	/* cmdline_size (2.06+) excludes the terminating NUL; older kernels take 255. */
	cmd_max = version >= 0x0206 ? boot_get32(zp + ZP_CMDLINE_SIZE) : 255;
	if (cmd_max > LAYOUT_CMDLINE_MAX - 1)
		cmd_max = LAYOUT_CMDLINE_MAX - 1;
	cmd_len = strlen(cfg->cmdline);
	if (cmd_len > cmd_max)
		return boot_fail(err, errlen, -EINVAL,
				 "command line is %zu bytes, kernel accepts %" PRIu64, cmd_len,
				 cmd_max);
	if (gmem_write(m, LAYOUT_CMDLINE, cfg->cmdline, cmd_len + 1))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM does not cover the command line at 0x%llx",
				 LAYOUT_CMDLINE);

	/* initrd_addr_max (2.03+) is the highest address the initrd may touch. */
	initrd_top =
	    version >= 0x0203 ? (uint64_t)boot_get32(zp + ZP_INITRD_ADDR_MAX) + 1 : 0x38000000ULL;
	ret = boot_place_initrd(m, cfg, kernel_end, initrd_top, &initrd, err, errlen);
	if (ret)
		return ret;

	zp[ZP_TYPE_OF_LOADER] = ZP_LOADER_UNDEFINED;
	zp[ZP_LOADFLAGS] = (uint8_t)((zp[ZP_LOADFLAGS] | ZP_LOADFLAG_HEAP) & ~ZP_LOADFLAG_QUIET);
	boot_put16(zp + ZP_HEAP_END_PTR, ZP_HEAP_END);
	boot_put16(zp + ZP_VID_MODE, ZP_VID_MODE_NORMAL);
	boot_put32(zp + ZP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	boot_put32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
	boot_put32(zp + ZP_RAMDISK_IMAGE, (uint32_t)initrd);
	boot_put32(zp + ZP_RAMDISK_SIZE, initrd ? (uint32_t)cfg->initrd_size : 0);
	boot_put32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
	boot_put32(zp + ZP_EXT_RAMDISK_SIZE,
		   initrd ? (uint32_t)((uint64_t)cfg->initrd_size >> 32) : 0);
	/* setup_data is the boot loader's list; an image's own value means nothing. */
	boot_put64(zp + ZP_SETUP_DATA, 0);
	/* Kernels before 2.14 ignore acpi_rsdp_addr; it sits in boot_params proper. */
	if (cfg->rsdp_addr)
		boot_put64(zp + ZP_ACPI_RSDP_ADDR, cfg->rsdp_addr);

	n = e820_build(cfg->ram_size, map);
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n && i < ZP_E820_MAX; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + i * ZP_E820_ENTRY_SIZE;
		boot_put64(e, map[i].addr);
		boot_put64(e + 8, map[i].size);
		boot_put32(e + 16, map[i].type);
	}

	if (gmem_write(m, LAYOUT_ZERO_PAGE, zp, sizeof(zp)))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM does not cover boot_params at 0x%llx",
				 LAYOUT_ZERO_PAGE);
	return 0;
}

size_t linux_zeropage_synth_header(uint8_t *hdr, size_t len)
{
	const size_t n = ZP_HDR_END - ZP_HDR;
#define ZP_AT(off) (hdr + (off)-ZP_HDR)

	if (len < n)
		return 0;
	memset(hdr, 0, n);
	boot_put16(ZP_AT(ZP_BOOT_FLAG), 0xaa55);
	/* "jmp short" over the header, as a real image has; its offset sizes the header. */
	*ZP_AT(ZP_JUMP) = 0xeb;
	*ZP_AT(ZP_JUMP + 1) = (uint8_t)(ZP_HDR_END - 0x202);
	boot_put32(ZP_AT(ZP_HEADER), ZP_HDRS_MAGIC);
	boot_put16(ZP_AT(ZP_VERSION), 0x020f);
	*ZP_AT(ZP_TYPE_OF_LOADER) = ZP_LOADER_UNDEFINED;
	*ZP_AT(ZP_LOADFLAGS) = ZP_LOADFLAG_HIGH;
	boot_put32(ZP_AT(ZP_INITRD_ADDR_MAX), 0x7fffffff);
	boot_put32(ZP_AT(ZP_KERNEL_ALIGNMENT), 0x1000000);
	boot_put16(ZP_AT(ZP_XLOADFLAGS), ZP_XLF_KERNEL_64);
	boot_put32(ZP_AT(ZP_CMDLINE_SIZE), 2048);
#undef ZP_AT
	return n;
}
