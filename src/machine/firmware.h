/* SPDX-License-Identifier: MIT */
/*
 * Booting through PC firmware (kvmm run --firmware): a BIOS image such as
 * Debian's SeaBIOS placed where a PC's flash sits, and what that firmware
 * reads from fw_cfg. See firmware.c.
 */
#ifndef KVMM_MACHINE_FIRMWARE_H
#define KVMM_MACHINE_FIRMWARE_H

#include <stddef.h>

struct machine;
struct acpi_config;

/* Debian's seabios package, the default for --firmware bios. */
#define FIRMWARE_SEABIOS_PATH "/usr/share/seabios/bios-256k.bin"

/*
 * Loads m->cfg->firmware_path: a read-only memory slot at 4 GiB - size, and
 * its last 128 KiB copied into RAM at 0xe0000 where the reset vector's code
 * runs from. Refused (-EINVAL, reason in err): files that are not a multiple
 * of 64 KiB or larger than 256 KiB. Needs guest RAM of at least 1 MiB.
 */
int firmware_load(struct machine *m, char *err, size_t errlen);

/*
 * The fw_cfg items firmware wants beyond the common ones: e820, serial
 * console, boot-fail wait, the UUID, and the ACPI tables ac describes (through
 * the table loader) and SMBIOS. Returns 0 or -errno.
 */
int firmware_setup_fw_cfg(struct machine *m, const struct acpi_config *ac);

/* Frees what firmware_load mapped (after the VM is gone). */
void firmware_unload(struct machine *m);

#endif
