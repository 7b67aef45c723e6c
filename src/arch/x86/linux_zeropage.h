/* SPDX-License-Identifier: MIT */
/*
 * The Linux "zero page" (struct boot_params), shared by the bzImage loader and
 * the 64-bit vmlinux (ELF without PVH note) loader. Offsets are those of
 * arch/x86/include/uapi/asm/bootparam.h and Documentation/arch/x86/boot.rst,
 * "The Real-Mode Kernel Header" (setup header offsets are the same in the
 * bzImage file and in boot_params) and Documentation/arch/x86/zero-page.rst.
 */
#ifndef KVMM_ARCH_X86_LINUX_ZEROPAGE_H
#define KVMM_ARCH_X86_LINUX_ZEROPAGE_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"

#define ZP_SIZE 0x1000

/* struct boot_params */
#define ZP_ACPI_RSDP_ADDR    0x070 /* u64, protocol 2.14+ */
#define ZP_EXT_RAMDISK_IMAGE 0x0c0 /* u32 */
#define ZP_EXT_RAMDISK_SIZE  0x0c4 /* u32 */
#define ZP_EXT_CMD_LINE_PTR  0x0c8 /* u32 */
#define ZP_E820_ENTRIES	     0x1e8 /* u8 */
#define ZP_HDR		     0x1f1 /* struct setup_header */
#define ZP_E820_TABLE	     0x2d0 /* struct boot_e820_entry[128], 20 bytes each */
#define ZP_E820_MAX	     128
#define ZP_E820_ENTRY_SIZE   20

/* struct setup_header, at its offset in boot_params and in the image */
#define ZP_SETUP_SECTS	    0x1f1 /* u8 */
#define ZP_VID_MODE	    0x1fa /* u16 */
#define ZP_BOOT_FLAG	    0x1fe /* u16, 0xAA55 */
#define ZP_JUMP		    0x200 /* u16; byte 0x201 sizes the header */
#define ZP_HEADER	    0x202 /* u32, "HdrS" */
#define ZP_VERSION	    0x206 /* u16 */
#define ZP_TYPE_OF_LOADER   0x210 /* u8 */
#define ZP_LOADFLAGS	    0x211 /* u8 */
#define ZP_CODE32_START	    0x214 /* u32 */
#define ZP_RAMDISK_IMAGE    0x218 /* u32 */
#define ZP_RAMDISK_SIZE	    0x21c /* u32 */
#define ZP_HEAP_END_PTR	    0x224 /* u16 */
#define ZP_CMD_LINE_PTR	    0x228 /* u32 */
#define ZP_INITRD_ADDR_MAX  0x22c /* u32, 2.03+ */
#define ZP_KERNEL_ALIGNMENT 0x230 /* u32, 2.05+ */
#define ZP_RELOCATABLE	    0x234 /* u8, 2.05+ */
#define ZP_XLOADFLAGS	    0x236 /* u16, 2.12+ */
#define ZP_CMDLINE_SIZE	    0x238 /* u32, 2.06+ */
#define ZP_PAYLOAD_OFFSET   0x248 /* u32, 2.08+ */
#define ZP_PAYLOAD_LENGTH   0x24c /* u32, 2.08+ */
#define ZP_SETUP_DATA	    0x250 /* u64, 2.09+ */
#define ZP_PREF_ADDRESS	    0x258 /* u64, 2.10+ */
#define ZP_INIT_SIZE	    0x260 /* u32, 2.10+ */
#define ZP_HDR_END	    0x26c /* end of the 2.15 header */

#define ZP_HDRS_MAGIC	    0x53726448u /* "HdrS" */
#define ZP_LOADFLAG_HIGH    0x01	/* LOADED_HIGH */
#define ZP_LOADFLAG_QUIET   0x20	/* QUIET_FLAG */
#define ZP_LOADFLAG_HEAP    0x80	/* CAN_USE_HEAP */
#define ZP_XLF_KERNEL_64    0x01
#define ZP_LOADER_UNDEFINED 0xff
#define ZP_HEAP_END	    0xfe00
#define ZP_VID_MODE_NORMAL  0xffff

/*
 * Builds boot_params at LAYOUT_ZERO_PAGE from a setup header (hdr_len bytes
 * destined for offset ZP_HDR, taken from a bzImage or synthesized), writes the
 * command line at LAYOUT_CMDLINE and places the initrd above kernel_end.
 * Returns 0, -EINVAL (command line too long, empty initrd) or -ENOMEM.
 */
int linux_zeropage_build(struct gmem *m, const struct boot_config *cfg, const uint8_t *hdr,
			 size_t hdr_len, uint64_t kernel_end, char *err, size_t errlen);

/*
 * A minimal setup header for a kernel booted from its ELF vmlinux, the way
 * Firecracker does: "HdrS", version 2.15, boot_flag, loader type, alignment,
 * cmdline_size. Fills hdr (ZP_HDR_END - ZP_HDR bytes) and returns its length.
 */
size_t linux_zeropage_synth_header(uint8_t *hdr, size_t len);

#endif
