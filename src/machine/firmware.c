/* SPDX-License-Identifier: MIT */
/*
 * PC firmware boot. A PC's flash is decoded just below 4 GiB, and the CPU
 * starts at the reset vector 0xfffffff0 (Intel SDM vol. 3A, 9.1.4 "First
 * Instruction Executed": CS base 0xffff0000, IP 0xfff0), which is KVM's
 * initial vCPU state. The chipset also decodes the flash's last 128 KiB at
 * 0xe0000-0xfffff, where the BIOS runs in real mode; with the q35 MCH the
 * PAM registers later turn that window into writable RAM and SeaBIOS copies
 * itself there (SeaBIOS src/fw/shadow.c). kvmm keeps the window as RAM from
 * the start, holding a copy of the image, so the copy is a no-op; the PAM
 * writes are accepted and change nothing. The flash itself is a read-only
 * memory slot: guest writes to it exit and are dropped.
 *
 * fw_cfg items (QEMU docs/specs/fw_cfg.rst and hw/i386/fw_cfg.c, as SeaBIOS
 * 1.16 reads them in src/fw/paravirt.c): "etc/e820" with only the RAM ranges
 * (the firmware reserves its own areas), "etc/sercon-port" so that SeaBIOS
 * mirrors its screen output (int 10h) to COM1 and reads the keyboard from it
 * (there is no VGA), and "etc/boot-fail-wait" so that a VM without a bootable
 * disk retries (reboots) after 5 seconds instead of one minute. The ACPI
 * tables go through QEMU's linker/loader ("etc/table-loader", acpi_loader.h)
 * and SMBIOS through "etc/smbios/smbios-tables" (smbios.h); SeaBIOS adds its own type 0.
 */
#include "machine/firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_loader.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/smbios.h"
#include "hw/fw_cfg.h"
#include "hw/pci.h"
#include "machine/machine.h"
#include "util/log.h"
#include "virtio/pci.h"

#define FIRMWARE_ROM_SLOT    2
#define FIRMWARE_ALIGN	     0x10000u /* QEMU's rule for -bios images, too */
#define FIRMWARE_SERCON_PORT 0x3f8
#define FIRMWARE_FAIL_WAIT   5000u /* ms */

/* Reads the whole image into rom (size bytes, page-aligned anonymous memory). */
static int firmware_read(const char *path, uint8_t **rom, size_t *size, char *err, size_t errlen)
{
	struct stat st;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	*rom = NULL;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "firmware %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "firmware %s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0 || st.st_size % FIRMWARE_ALIGN || st.st_size > (off_t)LAYOUT_FIRMWARE_MAX) {
		snprintf(err, errlen,
			 "firmware %s: size %lld is not a multiple of 64 KiB between 64 and 256 KiB",
			 path, (long long)st.st_size);
		close(fd);
		return -EINVAL;
	}
	*size = (size_t)st.st_size;
	*rom = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*rom == MAP_FAILED) {
		*rom = NULL;
		close(fd);
		snprintf(err, errlen, "firmware %s: out of memory", path);
		return -ENOMEM;
	}
	while (done < *size) {
		ssize_t n = pread(fd, *rom + done, *size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "firmware %s: read: %s", path,
				 n < 0 ? strerror(errno) : "file shrank");
			munmap(*rom, *size);
			*rom = NULL;
			close(fd);
			return rc;
		}
		done += (size_t)n;
	}
	close(fd);
	mprotect(*rom, *size, PROT_READ);
	return 0;
}

int firmware_load(struct machine *m, char *err, size_t errlen)
{
	const char *path = m->cfg->firmware_path;
	size_t size = 0, shadow;
	uint8_t *rom, *low;
	int rc;

	rc = firmware_read(path, &rom, &size, err, errlen);
	if (rc)
		return rc;
	m->fw_rom = rom;
	m->fw_rom_size = size;
	rc = kvm_vm_set_memory_flags(m->vm_fd, FIRMWARE_ROM_SLOT, LAYOUT_4G - size, size, rom,
				     KVM_MEM_READONLY);
	if (rc) {
		snprintf(err, errlen, "firmware %s: cannot map it read-only at 0x%" PRIx64 ": %s", path,
			 (uint64_t)(LAYOUT_4G - size), strerror(-rc));
		return rc;
	}
	shadow = size < LAYOUT_BIOS_SHADOW_SIZE ? size : LAYOUT_BIOS_SHADOW_SIZE;
	low = gmem_ptr(&m->mem, LAYOUT_HIMEM - shadow, shadow);
	if (!low) {
		snprintf(err, errlen, "firmware needs at least 1 MiB of guest RAM");
		return -EINVAL;
	}
	memcpy(low, rom + size - shadow, shadow);
	log_info("firmware", "%s: %zu KiB at 0x%" PRIx64 ", last %zu KiB at 0x%" PRIx64, path,
		 size >> 10, (uint64_t)(LAYOUT_4G - size), shadow >> 10,
		 (uint64_t)(LAYOUT_HIMEM - shadow));
	return 0;
}

static int firmware_add_tables(struct machine *m, const struct acpi_config *ac)
{
	uint64_t low = e820_lowmem(m->cfg->ram_size), high = e820_highmem(m->cfg->ram_size);
	struct acpi_loader_blobs acpi;
	struct smbios_blobs smb;
	struct smbios_config sc = {
		.ncpus = m->ncpus,
		.low_ram = low,
		.high_ram = high,
		.uuid = m->cfg->uuid,
		.version = KVMM_VERSION,
	};
	int rc;

	rc = acpi_loader_build(ac, &acpi);
	if (rc)
		return rc;
	rc = fw_cfg_add_file(m->fw_cfg, ACPI_LOADER_FILE_TABLES, acpi.tables, acpi.tables_len);
	if (!rc)
		rc = fw_cfg_add_file(m->fw_cfg, ACPI_LOADER_FILE_RSDP, acpi.rsdp, acpi.rsdp_len);
	if (!rc)
		rc = fw_cfg_add_file(m->fw_cfg, ACPI_LOADER_FILE_COMMANDS, acpi.commands,
				     acpi.commands_len);
	acpi_loader_blobs_free(&acpi);
	if (rc)
		return rc;
	rc = smbios_build(&sc, &smb);
	if (rc)
		return rc;
	rc = fw_cfg_add_file(m->fw_cfg, SMBIOS_FILE_TABLES, smb.tables, smb.tables_len);
	if (!rc)
		rc = fw_cfg_add_file(m->fw_cfg, SMBIOS_FILE_ANCHOR, smb.anchor, smb.anchor_len);
	smbios_blobs_free(&smb);
	return rc;
}

/*
 * "bootorder" (QEMU docs/specs/fw_cfg.rst; SeaBIOS src/boot.c): one
 * OpenFirmware-style device path per line, most preferred first. SeaBIOS
 * names a device on the root bus "/pci@i0cf8/" "*@SLOT" (SLOT in hex): the
 * boot=on disks in their order, then the others, so PCI order decides among
 * equals.
 */
static int firmware_add_bootorder(struct machine *m)
{
	char list[MACHINE_MAX_DISKS * 24 + 1];
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < m->cfg->ndisks; i++) {
			if (m->cfg->disks[i].boot != (pass == 0) || !m->blk_pci[i])
				continue;
			n += (size_t)snprintf(list + n, sizeof(list) - n, "/pci@i0cf8/*@%x\n",
					      pci_dev_slot(virtio_pci_dev(m->blk_pci[i])));
		}
	if (!n)
		return 0;
	return fw_cfg_add_file(m->fw_cfg, "bootorder", list, n);
}

int firmware_setup_fw_cfg(struct machine *m, const struct acpi_config *ac)
{
	uint64_t low = e820_lowmem(m->cfg->ram_size), high = e820_highmem(m->cfg->ram_size);
	struct e820_entry map[2] = {{0, low, E820_RAM}, {LAYOUT_4G, high, E820_RAM}};
	uint16_t sercon = FIRMWARE_SERCON_PORT;
	uint32_t fail_wait = FIRMWARE_FAIL_WAIT;
	int rc = 0;

	rc |= fw_cfg_add_file(m->fw_cfg, "etc/e820", map, (high ? 2 : 1) * sizeof(map[0]));
	rc |= fw_cfg_add_file(m->fw_cfg, "etc/sercon-port", &sercon, sizeof(sercon));
	rc |= fw_cfg_add_file(m->fw_cfg, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait));
	rc |= fw_cfg_add_bytes(m->fw_cfg, FW_CFG_UUID, m->cfg->uuid, sizeof(m->cfg->uuid));
	if (rc || firmware_add_bootorder(m))
		return -ENOMEM;
	return firmware_add_tables(m, ac);
}

void firmware_unload(struct machine *m)
{
	if (m->fw_rom)
		munmap(m->fw_rom, m->fw_rom_size);
	m->fw_rom = NULL;
	m->fw_rom_size = 0;
}
