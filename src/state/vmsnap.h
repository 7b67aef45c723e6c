/* SPDX-License-Identifier: MIT */
/*
 * Whole-VM snapshots: what goes into a snapshot file (snapshot.h) and how a
 * machine is rebuilt from one. Sections: "config" (JSON: CPUs, memory, kernel,
 * command line, virtio-rng, the console, the disks), "vm" (irqchip, PIT,
 * kvmclock), "vcpuN", one per device ("uart", "i8042", "rtc", "acpi_pm",
 * "fw_cfg"), "pci" (the host bridge), one per virtio device ("virtio-rng",
 * "virtio-blkN", "virtio-console": PCI function, transport, device), and
 * memory "ram-low"/"ram-high". docs/snapshot-format.md has the layouts.
 */
#ifndef KVMM_STATE_VMSNAP_H
#define KVMM_STATE_VMSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/machine.h"

struct snap_reader;

/*
 * Saves a paused machine to path (atomically: temp file, then rename). Device
 * work is held still meanwhile (the I/O thread parked, disks drained, hvc0
 * frozen). Machines booted through firmware are refused (-ENOTSUP).
 */
int vmsnap_save(struct machine *m, const char *path, char *err, size_t errlen);

#define VMSNAP_SERIAL_MAX 20 /* BLOCK_SERIAL_MAX */

/* A disk as the snapshot records it; the caller opens the image before machine_create. */
struct vmsnap_disk {
	char path[4096];		    /* absolute when saved by kvmm run */
	char serial[VMSNAP_SERIAL_MAX + 1]; /* what the guest read as GET_ID */
	bool readonly;
	unsigned queues;
	uint64_t size; /* bytes; the image must still be this long */
};

/*
 * Opens a snapshot and fills cfg from its config section (CPUs, memory,
 * kernel, command line, virtio_rng, console), with cfg->restore set to the
 * reader, and disks[0..*ndisks) (MACHINE_MAX_DISKS entries) with its disks;
 * cfg->disks is left to the caller. Refuses a file that is truncated,
 * corrupted, of another version, or whose config is invalid, naming the
 * section. Config version 1 files (no devices) are read too.
 */
struct snap_reader *vmsnap_open(const char *path, struct machine_config *cfg,
				struct vmsnap_disk *disks, int *ndisks, char *err, size_t errlen);
/* Closes the reader and frees the strings vmsnap_open put in cfg. */
void vmsnap_close(struct snap_reader *r, struct machine_config *cfg);

/*
 * Called by machine_create in restore mode, after devices and vCPUs exist:
 * devices first (every state section must belong to this machine; the PCI
 * host; each virtio device's PCI function, transport and device, with its BARs
 * and eventfds re-registered where the guest had put them), then the VM and
 * vCPUs, so that interrupts the devices re-assert meet the restored irqchip.
 */
int vmsnap_load_devices(struct machine *m, const struct snap_reader *r, char *err, size_t errlen);
int vmsnap_load_cpus(struct machine *m, const struct snap_reader *r, char *err, size_t errlen);

#endif
