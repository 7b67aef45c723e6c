/* SPDX-License-Identifier: MIT */
/*
 * QEMU firmware configuration (fw_cfg) device at ports 0x510-0x511 and its DMA
 * interface at 0x514-0x51b: how SeaBIOS, OVMF and Linux's qemu_fw_cfg driver get
 * blobs (kernel, command line, tables, files) from the VMM. See fw_cfg.c.
 */
#ifndef KVMM_HW_FW_CFG_H
#define KVMM_HW_FW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/bus.h"
#include "machine/gmem.h"
#include "state/buf.h"

#define FW_CFG_PORT_SEL	     0x510 /* selector, 16-bit little-endian */
#define FW_CFG_PORT_DATA     0x511 /* data, 8-bit */
#define FW_CFG_PORT_DMA_HIGH 0x514 /* DMA address, big-endian, high half */
#define FW_CFG_PORT_DMA_LOW  0x518 /* low half; writing it starts the transfer */

/* Offsets the handler takes, relative to FW_CFG_PORT_SEL. */
#define FW_CFG_OFF_SEL	    0
#define FW_CFG_OFF_DATA	    1
#define FW_CFG_OFF_DMA_HIGH 4
#define FW_CFG_OFF_DMA_LOW  8

/* Selector keys; identical to QEMU's (include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE      0x00
#define FW_CFG_ID	      0x01
#define FW_CFG_UUID	      0x02
#define FW_CFG_RAM_SIZE	      0x03
#define FW_CFG_NOGRAPHIC      0x04
#define FW_CFG_NB_CPUS	      0x05
#define FW_CFG_MACHINE_ID     0x06
#define FW_CFG_KERNEL_ADDR    0x07
#define FW_CFG_KERNEL_SIZE    0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR    0x0a
#define FW_CFG_INITRD_SIZE    0x0b
#define FW_CFG_BOOT_DEVICE    0x0c
#define FW_CFG_NUMA	      0x0d
#define FW_CFG_BOOT_MENU      0x0e
#define FW_CFG_MAX_CPUS	      0x0f
#define FW_CFG_KERNEL_ENTRY   0x10
#define FW_CFG_KERNEL_DATA    0x11
#define FW_CFG_INITRD_DATA    0x12
#define FW_CFG_CMDLINE_ADDR   0x13
#define FW_CFG_CMDLINE_SIZE   0x14
#define FW_CFG_CMDLINE_DATA   0x15
#define FW_CFG_SETUP_ADDR     0x16
#define FW_CFG_SETUP_SIZE     0x17
#define FW_CFG_SETUP_DATA     0x18
#define FW_CFG_FILE_DIR	      0x19
#define FW_CFG_FILE_FIRST     0x20

#define FW_CFG_WRITE_CHANNEL 0x4000 /* selector bit 14: write mode (writes are refused) */
#define FW_CFG_ARCH_LOCAL    0x8000 /* selector bit 15: architecture-specific item */

/* FW_CFG_ID feature bits. */
#define FW_CFG_VERSION	   0x01 /* traditional interface */
#define FW_CFG_VERSION_DMA 0x02

/* FWCfgDmaAccess.control bits. */
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

/* Reading the DMA address register returns this: "QEMU CFG", big-endian. */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL

#define FW_CFG_MAX_FILE_PATH 56 /* including the NUL */
#define FW_CFG_MAX_FILES     256
#define FW_CFG_MAX_ARCH	     0x20 /* arch-local keys 0x8000..0x801f */

struct fw_cfg;

/* Creates the device over guest memory m (for DMA), with SIGNATURE, ID and an empty FILE_DIR. */
struct fw_cfg *fw_cfg_create(struct gmem *m);
/* Registers the selector/data ports and the DMA ports (BUS_PIO). Returns 0 or -errno. */
int fw_cfg_attach(struct fw_cfg *f, struct bus *bus);
void fw_cfg_destroy(struct fw_cfg *f);

/*
 * Sets item key to a copy of data[0..len). Keys are generic (below
 * FW_CFG_FILE_FIRST) or arch-local (FW_CFG_ARCH_LOCAL | 0..0x1f); file keys and
 * FW_CFG_FILE_DIR belong to fw_cfg_add_file. Replaces an existing item.
 * Returns 0, -EINVAL (bad key, or len over 4 GiB) or -ENOMEM.
 */
int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, size_t len);
/* Little-endian integer items. */
int fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t value);
int fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t value);
int fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t value);

/*
 * Adds a named file under the next free key from FW_CFG_FILE_FIRST and lists it in
 * FW_CFG_FILE_DIR (kept sorted by name, as QEMU does). name is 1..55 characters.
 * Returns 0, -EINVAL, -ENAMETOOLONG, -EEXIST (name taken), -ENOSPC or -ENOMEM.
 */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len);

/* The bus handler: offset from FW_CFG_PORT_SEL (FW_CFG_OFF_*). */
void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Snapshot state: the selector, the read offset into the selected item and the
 * latched high half of the DMA address. Not the items: the restoring machine adds
 * them from its own configuration. fw_cfg_save appends format version 1 to b and
 * returns 0 or b's error. fw_cfg_load checks r (exactly this device's state) and
 * either applies it or returns -EINVAL and leaves the device as it was; a
 * selector naming an item this device lacks reads as an unknown item.
 */
int fw_cfg_save(struct fw_cfg *f, struct state_buf *b);
int fw_cfg_load(struct fw_cfg *f, struct state_reader *r);

#endif
