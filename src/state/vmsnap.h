/* SPDX-License-Identifier: MIT */
/*
 * Whole-VM snapshots: what goes into a snapshot file (snapshot.h) and how a
 * machine is rebuilt from one. Sections: "config" (JSON: CPUs, memory, kernel,
 * command line), "vm" (irqchip, PIT, kvmclock), "vcpuN", one per device
 * ("uart", "i8042", "rtc", "acpi_pm", "fw_cfg"), and memory "ram-low"/"ram-high".
 */
#ifndef KVMM_STATE_VMSNAP_H
#define KVMM_STATE_VMSNAP_H

#include <stddef.h>

#include "machine/machine.h"

struct snap_reader;

/* Saves a paused machine to path (atomically: temp file, then rename). */
int vmsnap_save(struct machine *m, const char *path, char *err, size_t errlen);

/*
 * Opens a snapshot and fills cfg from its config section, with cfg->restore
 * set to the reader. Refuses a file that is truncated, corrupted, of another
 * version, or whose config is invalid, naming the section.
 */
struct snap_reader *vmsnap_open(const char *path, struct machine_config *cfg, char *err,
				size_t errlen);
/* Closes the reader and frees the strings vmsnap_open put in cfg. */
void vmsnap_close(struct snap_reader *r, struct machine_config *cfg);

/* Called by machine_create in restore mode, after devices and vCPUs exist. */
int vmsnap_load_devices(struct machine *m, const struct snap_reader *r, char *err, size_t errlen);
int vmsnap_load_cpus(struct machine *m, const struct snap_reader *r, char *err, size_t errlen);

#endif
