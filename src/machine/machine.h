/* SPDX-License-Identifier: MIT */
/*
 * A VM: its memory, vCPUs and devices, assembled in one explicit order by
 * machine_create() (DESIGN.md "one explicit ordered assembly"). One VM per
 * process; a reset tears the VM down and builds it again from the same config.
 */
#ifndef KVMM_MACHINE_MACHINE_H
#define KVMM_MACHINE_MACHINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "machine/bus.h"
#include "machine/gmem.h"
#include "machine/irq.h"

struct vcpu;
struct uart;
struct i8042;
struct rtc;
struct acpi_pm;
struct debug_exit;
struct debugcon;
struct fw_cfg;
struct pci_host;
struct iothread;
struct virtio_rng;
struct virtio_console;
struct virtio_pci;
struct ioevent_ops;
struct pci_msi_ops;
struct snap_reader;
struct block_dev;
struct virtio_blk;

/* Disks on virtio-blk: at most this many, each in its own PCI slot. */
#define MACHINE_MAX_DISKS 16

/* One --disk: the image, opened (and locked) by the caller for the process's life. */
struct machine_disk {
	struct block_dev *dev;
	const char *path; /* the image's absolute path, which snapshots record; NULL: block_path */
	const char *serial; /* GET_ID; NULL: derived from the image (block_serial) */
	unsigned queues;    /* request queues, 1..MACHINE_DISK_MAX_QUEUES */
	bool boot;	    /* firmware boots this disk first (boot=on) */
};

#define MACHINE_DISK_MAX_QUEUES 64u

/* Where the host terminal's input goes (--console). */
enum machine_console {
	MACHINE_CONSOLE_SERIAL = 0, /* ttyS0, the UART */
	MACHINE_CONSOLE_VIRTIO,	    /* hvc0, a virtio-console-pci; ttyS0 output still shows */
};

struct machine_config {
	const char *kernel_path; /* NULL with firmware_path */
	const char *initrd_path; /* NULL: none */
	/* A BIOS image to boot through (machine/firmware.h) instead of a kernel; NULL: none. */
	const char *firmware_path;
	const char *cmdline;     /* never NULL */
	int ncpus;
	uint64_t ram_size;
	/* Where the guest's serial output goes, and its writer. */
	void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
	void *console_opaque;
	/* Restore mode: state and memory come from this snapshot, not a kernel. */
	const struct snap_reader *restore;
	uint64_t restore_kernel_size, restore_initrd_size; /* for fw_cfg */
	bool virtio_rng; /* --device virtio-rng: a virtio-rng-pci device */
	uint8_t uuid[16]; /* the VM's UUID (SMBIOS, fw_cfg), RFC 4122 byte order */
	struct machine_disk disks[MACHINE_MAX_DISKS]; /* virtio-blk-pci, in PCI order */
	int ndisks;
	enum machine_console console;
	uint16_t console_cols, console_rows; /* hvc0's size (0 x 0: unknown) */
	uint64_t io_poll_max_ns; /* the I/O thread's adaptive polling limit (iothread.h); 0: off */
};

/* Why the VM stopped running; the first reason reported wins. */
enum machine_stop {
	MACHINE_RUNNING = 0,
	MACHINE_POWEROFF,   /* ACPI S5 or KVM_SYSTEM_EVENT_SHUTDOWN: exit 0 */
	MACHINE_RESET,      /* i8042, 0xCF9, ACPI reset: reboot or exit 0 */
	MACHINE_DEBUG_EXIT, /* port 0xf4: exit (V << 1) | 1 */
	MACHINE_CRASH,      /* triple fault, internal error: exit 2 */
	MACHINE_QUIT,       /* the host asked (console escape, signal) */
	MACHINE_ERROR,      /* kvmm could not keep the VM running */
};

struct machine {
	const struct machine_config *cfg;
	struct kvm *kvm;
	int vm_fd;
	struct gmem mem;
	void *ram[2]; /* host mappings: below the MMIO hole, above 4 GiB */
	uint64_t ram_map_size[2];
	struct bus bus;
	struct irq_sink irq;
	uint64_t kernel_size, initrd_size; /* as loaded, for fw_cfg and snapshots */
	void *fw_rom; /* the firmware image behind its read-only slot, or NULL */
	size_t fw_rom_size;

	int ncpus;
	struct vcpu **vcpus;

	struct uart *uart;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct acpi_pm *pm;
	struct debug_exit *debug_exit;
	struct debugcon *debugcon; /* with firmware only */
	struct fw_cfg *fw_cfg;
	struct pci_host *pci;

	/* virtio devices on PCI, and the I/O thread that serves their queues. */
	struct iothread *io;	   /* NULL: no device needs one */
	int ioeventfd_len;	   /* KVM_IOEVENTFD length: 0 any, 2, or -1: none */
	atomic_bool msi_warned;	   /* a KVM_SIGNAL_MSI failure was logged */
	struct virtio_rng *rng;
	struct virtio_pci *rng_pci;
	struct virtio_blk *blk[MACHINE_MAX_DISKS];
	struct virtio_pci *blk_pci[MACHINE_MAX_DISKS];
	struct virtio_console *vcons; /* --console virtio */
	struct virtio_pci *vcons_pci;

	/* Stop protocol: vCPUs and devices call machine_request_stop(). */
	pthread_mutex_t stop_lock;
	atomic_int stop;  /* enum machine_stop */
	int stop_status;  /* for MACHINE_DEBUG_EXIT: the exit status */
	int stop_fd;      /* eventfd the main loop polls; written once on stop */

	/* Pause protocol: vCPUs park in vcpu_park() while pause_requested. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_int pause_requested;
	int nr_parked;
	atomic_bool paused; /* machine_pause() completed */
	struct kvm_clock_data paused_clock;
};

/*
 * Builds the VM from cfg (memory, irqchip, devices, firmware tables, kernel,
 * vCPUs) without starting it. On failure returns NULL, sets *exit_code to the
 * kvmm exit status that fits (66 bad kernel, 71 host resources...) and writes
 * the reason into err.
 */
struct machine *machine_create(struct kvm *kvm, const struct machine_config *cfg, char *err,
			       size_t errlen, int *exit_code);
/* Starts the I/O thread (if any), then the vCPU threads. */
int machine_start(struct machine *m);
/* Records why the VM stops and kicks every vCPU out of KVM_RUN. */
void machine_request_stop(struct machine *m, enum machine_stop why, int status);
/* Joins the vCPU threads (after a stop was requested) and frees everything. */
void machine_destroy(struct machine *m);
/*
 * Pauses every vCPU at an instruction boundary and freezes kvmclock, so on
 * resume the guest sees no time pass but wall-clock time (as QEMU's stop/cont).
 * Returns 0, or -ECANCELED when the machine stopped meanwhile. Idempotent.
 */
int machine_pause(struct machine *m);
int machine_resume(struct machine *m);
bool machine_is_paused(struct machine *m);
/* Presses the ACPI power button (SIGTERM, system_powerdown). */
void machine_power_button(struct machine *m);
/* Hands console input to the guest (UART, or hvc0 with --console virtio); returns bytes taken. */
size_t machine_console_input(struct machine *m, const uint8_t *buf, size_t len);
/* How many input bytes the console can take now. */
size_t machine_console_space(struct machine *m);
/*
 * hvc0 (virtio/console.h), whose output the host pulls: an eventfd that is
 * readable when output or input space may have appeared (read it to clear it
 * before looking; -1 without hvc0), the pending output in one piece (0:
 * none), and how much of it the host has written.
 */
int machine_console_fd(struct machine *m);
size_t machine_console_output(struct machine *m, const uint8_t **p);
void machine_console_output_done(struct machine *m, size_t n);
/* The host terminal was resized (hvc0 only). */
void machine_console_resize(struct machine *m, uint16_t cols, uint16_t rows);

/*
 * The machine's fast paths for devices (machine/ioevent.c), opaque = the
 * struct machine: MSI-X messages as KVM_SIGNAL_MSI, queue notifications as
 * ioeventfds read by the I/O thread.
 */
extern const struct pci_msi_ops machine_msi_ops;
extern const struct ioevent_ops machine_ioevent_ops;

#endif
