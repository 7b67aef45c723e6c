/* SPDX-License-Identifier: MIT */
/*
 * The one ordered assembly of a kvmm PC (DESIGN.md): memory, irqchip, devices,
 * firmware tables, kernel, vCPUs. Reading machine_create() top to bottom is
 * reading the boot order. The platform follows the PC conventions Linux and
 * multiboot kernels expect: COM1 at 0x3f8/IRQ4, i8042 at 0x60/0x64, CMOS RTC at
 * 0x70, ACPI fixed hardware at 0x600, fw_cfg at 0x510, debug exit at 0xf4.
 */
#include "machine/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/bootcpu.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "cli/cli.h"
#include "hw/acpi_pm.h"
#include "hw/debug_exit.h"
#include "hw/debugcon.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/rtc.h"
#include "hw/uart8250.h"
#include "machine/firmware.h"
#include "machine/iothread.h"
#include "machine/vcpu.h"
#include "state/snapshot.h"
#include "state/vmsnap.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define COM1_PORT 0x3f8
#define COM1_GSI  4
#define SCI_GSI   9
#define HUGE_2M   (2ULL << 20)

/* A file mapped read-only; the kernel and initrd are parsed from such a map. */
struct mapped_file {
	void *data;
	size_t size;
};

static int file_map(const char *path, const char *what, struct mapped_file *f, char *err,
		    size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	f->data = NULL;
	f->size = 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s %s: file is empty", what, path);
		close(fd);
		return -EINVAL;
	}
	f->size = (size_t)st.st_size;
	f->data = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f->data == MAP_FAILED) {
		f->data = NULL;
		snprintf(err, errlen, "%s %s: cannot map: %s", what, path, strerror(errno));
		return -errno;
	}
	return 0;
}

static void file_unmap(struct mapped_file *f)
{
	if (f->data)
		munmap(f->data, f->size);
	f->data = NULL;
}

/*
 * Anonymous, lazily populated guest RAM: MAP_NORESERVE so a large guest costs
 * only what it touches, 2 MiB aligned with MADV_HUGEPAGE so THP can back it.
 */
static void *ram_map(uint64_t size, uint64_t *map_size)
{
	uint64_t len = size + HUGE_2M;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *aligned;

	if (p == MAP_FAILED)
		return NULL;
	aligned = (uint8_t *)(((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + size < p + len)
		munmap(aligned + size, (size_t)(p + len - (aligned + size)));
	madvise(aligned, size, MADV_HUGEPAGE);
	madvise(aligned, size, MADV_DONTFORK);
	*map_size = size;
	return aligned;
}

/*
 * Restore: RAM is the snapshot's memory sections mapped copy-on-write, so
 * nothing is read until the guest touches it and clones of one file share
 * unchanged pages through the page cache.
 */
static int machine_map_snapshot_memory(struct machine *m, const uint64_t *sizes,
				       const uint64_t *bases, char *err, size_t errlen)
{
	const struct snap_reader *r = m->cfg->restore;
	const char *name;
	uint64_t gpa, size;

	for (int i = 0; snap_reader_memory(r, i, &name, &gpa, &size) == 0; i++) {
		int slot = gpa == bases[0] ? 0 : gpa == bases[1] ? 1 : -1;
		if (slot < 0 || size != sizes[slot] || m->ram[slot]) {
			snprintf(err, errlen,
				 "snapshot: memory section '%s' (0x%" PRIx64 ", %" PRIu64
				 " bytes) does not match the machine's %" PRIu64 " MiB layout",
				 name, gpa, size, m->cfg->ram_size >> 20);
			return -EINVAL;
		}
		m->ram[slot] = snap_reader_map_memory(r, i, 0);
		if (!m->ram[slot]) {
			snprintf(err, errlen, "snapshot: cannot map memory section '%s': %s", name,
				 strerror(errno));
			return -errno;
		}
		m->ram_map_size[slot] = size;
		madvise(m->ram[slot], size, MADV_DONTFORK);
	}
	for (int i = 0; i < 2; i++) {
		if (sizes[i] && !m->ram[i]) {
			snprintf(err, errlen, "snapshot: memory section for 0x%" PRIx64 " is missing",
				 bases[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int machine_setup_memory(struct machine *m, char *err, size_t errlen)
{
	uint64_t sizes[2] = {e820_lowmem(m->cfg->ram_size), e820_highmem(m->cfg->ram_size)};
	uint64_t bases[2] = {0, LAYOUT_4G};
	int rc;

	m->mem.ram_size = m->cfg->ram_size;
	if (m->cfg->restore) {
		rc = machine_map_snapshot_memory(m, sizes, bases, err, errlen);
		if (rc)
			return rc;
	}
	for (int i = 0; i < 2; i++) {
		if (!sizes[i])
			continue;
		if (!m->ram[i])
			m->ram[i] = ram_map(sizes[i], &m->ram_map_size[i]);
		if (!m->ram[i]) {
			snprintf(err, errlen, "cannot reserve %" PRIu64 " MiB of guest memory: %s",
				 sizes[i] >> 20, strerror(errno));
			return -ENOMEM;
		}
		rc = kvm_vm_set_memory(m->vm_fd, (uint32_t)i, bases[i], sizes[i], m->ram[i]);
		if (rc) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (%" PRIu64 " MiB at 0x%" PRIx64
					      "): %s",
				 sizes[i] >> 20, bases[i], strerror(-rc));
			return rc;
		}
		rc = gmem_add_region(&m->mem, bases[i], sizes[i], m->ram[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static void machine_irq_set(void *opaque, uint32_t gsi, int level)
{
	struct machine *m = opaque;
	int rc = kvm_vm_irq_line(m->vm_fd, gsi, level);

	if (rc)
		log_warn("irq", "KVM_IRQ_LINE gsi %u level %d: %s", gsi, level, strerror(-rc));
}

/* Device callbacks that end the run. */
static void machine_on_poweroff(void *opaque)
{
	machine_request_stop(opaque, MACHINE_POWEROFF, 0);
}

static void machine_on_reset(void *opaque)
{
	machine_request_stop(opaque, MACHINE_RESET, 0);
}

static void machine_on_debug_exit(void *opaque, int status)
{
	machine_request_stop(opaque, MACHINE_DEBUG_EXIT, status);
}

static const struct acpi_pm_ops machine_pm_ops = {
	.poweroff = machine_on_poweroff,
	.reset = machine_on_reset,
};

/*
 * ECAM: where firmware will put it (SeaBIOS programs q35's PCIEXBAR to
 * 0xb0000000 and the ACPI MCFG table must say so), else inside the hole.
 */
static uint64_t machine_ecam_base(const struct machine *m)
{
	return m->cfg->firmware_path ? LAYOUT_PCI_ECAM_FIRMWARE : LAYOUT_PCI_ECAM;
}

/* PCI host: ECAM and BAR windows from layout.h; the 64-bit window follows RAM. */
static struct pci_host *machine_create_pci(struct machine *m)
{
	uint64_t high = e820_highmem(m->cfg->ram_size);
	struct pci_host_config pc = {
		.ecam_base = machine_ecam_base(m),
		.io_base = LAYOUT_PCI_IO,
		.io_size = LAYOUT_PCI_IO_SIZE,
		.mem32_base = LAYOUT_PCI_MMIO32,
		.mem32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mem64_base = LAYOUT_4G + ((high + LAYOUT_PCI_MMIO64_ALIGN - 1) &
					   ~(LAYOUT_PCI_MMIO64_ALIGN - 1)),
		.mem64_size = LAYOUT_PCI_MMIO64_SIZE,
	};

	_Static_assert(LAYOUT_PCI_ECAM_SIZE == PCI_ECAM_SIZE, "ECAM window size");
	return pci_host_create(&m->bus, &pc, &m->irq, &machine_msi_ops, m);
}

/* How KVM_IOEVENTFD can match queue notifications: any length, 16 bits (the queue index), none. */
static int machine_ioeventfd_len(int vm_fd)
{
	if (kvm_vm_check_extension(vm_fd, KVM_CAP_IOEVENTFD) <= 0)
		return -1;
	return kvm_vm_check_extension(vm_fd, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0 ? 0 : 2;
}

/*
 * virtio devices on PCI (docs/devices.md), after the host: each gets the next
 * free slot. Their queue notifications are KVM ioeventfds served by the I/O
 * thread, created here and started with the vCPUs.
 */
/* One virtio device (already created: vdev NULL means it could not be) on the next PCI slot. */
static int machine_add_virtio_pci(struct machine *m, struct virtio_dev *vdev, uint32_t class_code,
				  struct virtio_pci **out)
{
	if (!vdev)
		return -errno;
	*out = virtio_pci_create(m->pci, -1, vdev, class_code, &machine_ioevent_ops, m);
	return *out ? 0 : -errno;
}

static int machine_setup_virtio(struct machine *m)
{
	const struct machine_config *c = m->cfg;
	bool vcons = c->console == MACHINE_CONSOLE_VIRTIO;
	int rc;

	if (!c->virtio_rng && !c->ndisks && !vcons)
		return 0;
	m->ioeventfd_len = machine_ioeventfd_len(m->vm_fd);
	m->io = iothread_create();
	if (!m->io)
		return -errno;
	iothread_set_poll_max(m->io, c->io_poll_max_ns);
	/* Class codes as QEMU's: 00ffh unclassified (virtio-rng-pci), 0100h SCSI storage
	 * (virtio-blk-pci), 0780h other communication controller (virtio-serial-pci). */
	if (c->virtio_rng) {
		m->rng = virtio_rng_create(&m->mem);
		rc = machine_add_virtio_pci(m, m->rng ? virtio_rng_dev(m->rng) : NULL, 0x00ff00,
					    &m->rng_pci);
		if (rc)
			return rc;
	}
	for (int i = 0; i < c->ndisks; i++) {
		const struct machine_disk *d = &c->disks[i];

		m->blk[i] = virtio_blk_create(&m->mem, d->dev, d->serial, d->queues);
		if (m->blk[i])
			virtio_blk_set_poll_max(m->blk[i], c->io_poll_max_ns);
		rc = machine_add_virtio_pci(m, m->blk[i] ? virtio_blk_dev(m->blk[i]) : NULL,
					    0x010000, &m->blk_pci[i]);
		if (rc)
			return rc;
	}
	if (vcons) {
		m->vcons = virtio_console_create(&m->mem, c->console_cols, c->console_rows);
		rc = machine_add_virtio_pci(m, m->vcons ? virtio_console_dev(m->vcons) : NULL,
					    0x078000, &m->vcons_pci);
		if (rc)
			return rc;
	}
	return 0;
}

static int machine_setup_devices(struct machine *m, char *err, size_t errlen)
{
	const struct machine_config *c = m->cfg;
	int rc = -ENOMEM;

	m->uart = uart_create("ttyS0", &m->irq, COM1_GSI, c->console_out, c->console_opaque);
	m->i8042 = i8042_create(&m->irq, machine_on_reset, m);
	m->rtc = rtc_create(&m->irq, c->ram_size, m->ncpus);
	m->pm = acpi_pm_create(&m->irq, SCI_GSI, &machine_pm_ops, m);
	m->debug_exit = debug_exit_create(machine_on_debug_exit, m);
	m->fw_cfg = fw_cfg_create(&m->mem);
	m->pci = machine_create_pci(m);
	if (!m->uart || !m->i8042 || !m->rtc || !m->pm || !m->debug_exit || !m->fw_cfg || !m->pci)
		goto fail;
	/* Firmware logs to 0x402 (QEMU's isa-debugcon): shown with --log-level debug. */
	if (c->firmware_path && (!(m->debugcon = debugcon_create()) ||
				 (rc = debugcon_attach(m->debugcon, &m->bus))))
		goto fail;
	if ((rc = uart_attach(m->uart, &m->bus, COM1_PORT)) ||
	    (rc = i8042_attach(m->i8042, &m->bus)) || (rc = rtc_attach(m->rtc, &m->bus)) ||
	    (rc = acpi_pm_attach(m->pm, &m->bus)) ||
	    (rc = debug_exit_attach(m->debug_exit, &m->bus)) ||
	    (rc = fw_cfg_attach(m->fw_cfg, &m->bus)) || (rc = pci_host_attach(m->pci, m->pm)) ||
	    (rc = machine_setup_virtio(m)))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot set up devices: %s", strerror(-rc));
	return rc;
}

/* What the ACPI tables describe; the same for direct boot and for firmware. */
static void machine_acpi_config(const struct machine *m, struct acpi_config *ac)
{
	*ac = (struct acpi_config){
		.ncpus = m->ncpus,
		.sci_gsi = SCI_GSI,
		.pm1a_evt_port = ACPI_PM1A_EVT_BLK,
		.pm1a_cnt_port = ACPI_PM1A_CNT_BLK,
		.pm_tmr_port = ACPI_PM_TMR_BLK,
		.gpe0_port = ACPI_GPE0_BLK,
		.reset_port = ACPI_PM_RESET_PORT,
		.reset_value = ACPI_PM_RESET_VALUE,
		.s5_typ = ACPI_PM_S5_TYP,
		.ioapic_addr = LAYOUT_IOAPIC,
		.lapic_addr = LAYOUT_LAPIC,
		.mcfg_base = machine_ecam_base(m),
		.mcfg_end_bus = PCI_ECAM_BUSES - 1,
	};
}

/* ACPI tables at 0xe0000 and the MP table at 0xf0000 (layout.h). */
static int machine_setup_tables(struct machine *m, uint64_t *rsdp, char *err, size_t errlen)
{
	struct acpi_config ac;
	uint8_t *acpi = gmem_ptr(&m->mem, LAYOUT_ACPI, LAYOUT_ACPI_MAX);
	uint8_t *mp = gmem_ptr(&m->mem, LAYOUT_MPTABLE, LAYOUT_MPTABLE_MAX);
	size_t used;
	int rc;

	machine_acpi_config(m, &ac);
	if (!acpi || !mp) {
		snprintf(err, errlen, "guest RAM too small for firmware tables");
		return -ENOMEM;
	}
	rc = acpi_build(acpi, LAYOUT_ACPI_MAX, LAYOUT_ACPI, &ac, &used, rsdp);
	if (rc) {
		snprintf(err, errlen, "cannot build ACPI tables for %d CPUs: %s", m->ncpus,
			 strerror(-rc));
		return rc;
	}
	rc = mptable_build(mp, LAYOUT_MPTABLE_MAX, LAYOUT_MPTABLE, m->ncpus, acpi_ioapic_id(m->ncpus),
			   LAYOUT_IOAPIC, &used);
	if (rc) {
		snprintf(err, errlen, "cannot build the MP table for %d CPUs: %s", m->ncpus,
			 strerror(-rc));
		return rc;
	}
	return 0;
}

/* What firmware and test guests read over fw_cfg (QEMU docs/specs/fw_cfg.rst). */
static int machine_setup_fw_cfg(struct machine *m)
{
	struct e820_entry map[E820_MAX];
	const char *cmdline = m->cfg->cmdline;
	int n = e820_build(m->cfg->ram_size, map), rc = 0;

	rc |= fw_cfg_add_u16(m->fw_cfg, FW_CFG_NB_CPUS, (uint16_t)m->ncpus);
	rc |= fw_cfg_add_u16(m->fw_cfg, FW_CFG_MAX_CPUS, (uint16_t)m->ncpus);
	rc |= fw_cfg_add_u64(m->fw_cfg, FW_CFG_RAM_SIZE, m->cfg->ram_size);
	rc |= fw_cfg_add_u16(m->fw_cfg, FW_CFG_NOGRAPHIC, 1);
	rc |= fw_cfg_add_u32(m->fw_cfg, FW_CFG_KERNEL_SIZE, (uint32_t)m->kernel_size);
	rc |= fw_cfg_add_u32(m->fw_cfg, FW_CFG_INITRD_SIZE, (uint32_t)m->initrd_size);
	rc |= fw_cfg_add_u32(m->fw_cfg, FW_CFG_CMDLINE_SIZE, (uint32_t)strlen(cmdline) + 1);
	rc |= fw_cfg_add_bytes(m->fw_cfg, FW_CFG_CMDLINE_DATA, cmdline, strlen(cmdline) + 1);
	if (m->cfg->firmware_path) {
		struct acpi_config ac;

		machine_acpi_config(m, &ac);
		return rc ? -ENOMEM : firmware_setup_fw_cfg(m, &ac);
	}
	rc |= fw_cfg_add_file(m->fw_cfg, "etc/e820", map, (size_t)n * sizeof(map[0]));
	return rc ? -ENOMEM : 0;
}

static int machine_load_kernel(struct machine *m, uint64_t rsdp, struct boot_entry *entry,
			       char *err, size_t errlen, int *exit_code)
{
	const struct machine_config *c = m->cfg;
	struct mapped_file kernel = {0}, initrd = {0};
	char why[BOOT_ERR_MAX] = "";
	int rc;

	*exit_code = EXIT_NOINPUT;
	rc = file_map(c->kernel_path, "kernel", &kernel, err, errlen);
	if (rc)
		return rc;
	if (c->initrd_path) {
		rc = file_map(c->initrd_path, "initrd", &initrd, err, errlen);
		if (rc)
			goto out;
	}
	struct boot_config bc = {
		.kernel_path = c->kernel_path,
		.kernel = kernel.data,
		.kernel_size = kernel.size,
		.initrd = initrd.data,
		.initrd_size = initrd.size,
		.cmdline = c->cmdline,
		.ram_size = c->ram_size,
		.rsdp_addr = rsdp,
	};
	rc = boot_load(&m->mem, &bc, entry, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "kernel %s: %s", c->kernel_path,
			 why[0] ? why : strerror(-rc));
		goto out;
	}
	m->kernel_size = kernel.size;
	m->initrd_size = initrd.size;
out:
	file_unmap(&initrd);
	file_unmap(&kernel);
	return rc;
}

static int machine_setup_vcpus(struct machine *m, const struct boot_entry *entry, char *err,
			       size_t errlen)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	int rc;

	m->vcpus = calloc((size_t)m->ncpus, sizeof(*m->vcpus));
	if (!m->vcpus)
		return -ENOMEM;
	for (int i = 0; i < m->ncpus; i++) {
		m->vcpus[i] = vcpu_create(m, (unsigned)i);
		if (!m->vcpus[i]) {
			rc = -errno;
			snprintf(err, errlen, "cannot create vCPU %d: %s", i, strerror(errno));
			return rc;
		}
	}
	if (!entry)
		return 0; /* firmware: KVM's reset state; or restored from a snapshot by the caller */
	/* Only the BSP gets entry state; APs wait in KVM for INIT/SIPI. */
	rc = kvm_vcpu_get_sregs(m->vcpus[0]->fd, &sregs);
	if (!rc)
		rc = bootcpu_setup(&m->mem, entry, &regs, &sregs);
	if (!rc)
		rc = kvm_vcpu_set_sregs(m->vcpus[0]->fd, &sregs);
	if (!rc)
		rc = kvm_vcpu_set_regs(m->vcpus[0]->fd, &regs);
	bootcpu_fpu(&fpu);
	if (!rc)
		rc = kvm_vcpu_set_fpu(m->vcpus[0]->fd, &fpu);
	if (rc)
		snprintf(err, errlen, "cannot set the boot CPU's entry state: %s", strerror(-rc));
	return rc;
}

struct machine *machine_create(struct kvm *kvm, const struct machine_config *cfg, char *err,
			       size_t errlen, int *exit_code)
{
	struct machine *m = calloc(1, sizeof(*m));
	struct boot_entry entry;
	uint64_t rsdp = 0;
	int rc;

	*exit_code = EXIT_OSERR;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->kvm = kvm;
	m->ncpus = cfg->ncpus;
	m->vm_fd = -1;
	m->irq = (struct irq_sink){machine_irq_set, m};
	atomic_init(&m->stop, MACHINE_RUNNING);
	pthread_mutex_init(&m->stop_lock, NULL);
	pthread_mutex_init(&m->pause_lock, NULL);
	pthread_cond_init(&m->pause_cond, NULL);
	atomic_init(&m->pause_requested, 0);
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0 || bus_init(&m->bus)) {
		snprintf(err, errlen, "out of file descriptors or memory");
		goto fail;
	}

	/* 1. The VM and its memory. */
	m->vm_fd = kvm_vm_create(kvm);
	if (m->vm_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM failed: %s", strerror(-m->vm_fd));
		goto fail;
	}
	if (machine_setup_memory(m, err, errlen))
		goto fail;
	/* 2. Interrupt controllers and PIT, in the kernel. */
	rc = kvm_vm_create_irqchip(m->vm_fd, acpi_ioapic_id(m->ncpus));
	if (rc) {
		snprintf(err, errlen, "cannot create the in-kernel irqchip/PIT: %s", strerror(-rc));
		goto fail;
	}
	/* 3. Devices on the bus. */
	if (machine_setup_devices(m, err, errlen))
		goto fail;
	if (cfg->restore) {
		/* Restore: tables and kernel are in the snapshot's memory already. */
		*exit_code = EXIT_NOINPUT;
		m->kernel_size = cfg->restore_kernel_size;
		m->initrd_size = cfg->restore_initrd_size;
		if (vmsnap_load_devices(m, cfg->restore, err, errlen))
			goto fail;
	} else if (cfg->firmware_path) {
		/* 4-5. Firmware: it builds the tables it needs from fw_cfg and boots a disk. */
		*exit_code = EXIT_NOINPUT;
		if (firmware_load(m, err, errlen))
			goto fail;
	} else {
		/* 4. Firmware tables describing CPUs and devices. */
		if (machine_setup_tables(m, &rsdp, err, errlen))
			goto fail;
		/* 5. Kernel, initrd and command line. */
		if (machine_load_kernel(m, rsdp, &entry, err, errlen, exit_code))
			goto fail;
	}
	*exit_code = EXIT_OSERR;
	rc = machine_setup_fw_cfg(m);
	if (rc) {
		snprintf(err, errlen, "cannot fill fw_cfg: %s", strerror(-rc));
		goto fail;
	}
	/* 6. vCPUs: the boot CPU pointed at the kernel's entry, at the reset vector, or restored. */
	if (machine_setup_vcpus(m, cfg->restore || cfg->firmware_path ? NULL : &entry, err, errlen))
		goto fail;
	if (cfg->restore) {
		*exit_code = EXIT_NOINPUT;
		if (vmsnap_load_cpus(m, cfg->restore, err, errlen))
			goto fail;
	}
	return m;
fail:
	machine_destroy(m);
	return NULL;
}

int machine_start(struct machine *m)
{
	int io_rc = m->io ? iothread_start(m->io) : 0;

	if (io_rc) {
		machine_request_stop(m, MACHINE_ERROR, 0);
		return io_rc;
	}
	for (int i = 0; i < m->ncpus; i++) {
		int rc = vcpu_start(m->vcpus[i]);
		if (rc) {
			machine_request_stop(m, MACHINE_ERROR, 0);
			return rc;
		}
	}
	return 0;
}

void machine_request_stop(struct machine *m, enum machine_stop why, int status)
{
	uint64_t one = 1;
	int expected = MACHINE_RUNNING;

	pthread_mutex_lock(&m->stop_lock);
	if (atomic_compare_exchange_strong(&m->stop, &expected, (int)why)) {
		m->stop_status = status;
		if (write(m->stop_fd, &one, sizeof(one)) < 0)
			log_warn("machine", "cannot signal stop: %s", strerror(errno));
	}
	/* Kick every vCPU, including the caller's; a kick on a stopped one is harmless. */
	for (int i = 0; m->vcpus && i < m->ncpus; i++)
		if (m->vcpus[i])
			vcpu_kick(m->vcpus[i]);
	pthread_mutex_unlock(&m->stop_lock);
	/* Parked vCPUs wake up and see the stop. */
	pthread_mutex_lock(&m->pause_lock);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

int machine_pause(struct machine *m)
{
	int rc = 0;

	if (atomic_load(&m->paused))
		return 0;
	pthread_mutex_lock(&m->pause_lock);
	atomic_store(&m->pause_requested, 1);
	for (int i = 0; i < m->ncpus; i++)
		vcpu_kick(m->vcpus[i]);
	while (m->nr_parked < m->ncpus && atomic_load(&m->stop) == MACHINE_RUNNING)
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	if (atomic_load(&m->stop) != MACHINE_RUNNING)
		rc = -ECANCELED;
	pthread_mutex_unlock(&m->pause_lock);
	if (rc)
		return rc;
	/* Freeze the guest's clock: KVM_GET_CLOCK now, KVM_SET_CLOCK on resume. */
	memset(&m->paused_clock, 0, sizeof(m->paused_clock));
	if (ioctl(m->vm_fd, KVM_GET_CLOCK, &m->paused_clock) < 0)
		log_warn("machine", "KVM_GET_CLOCK: %s", strerror(errno));
	atomic_store(&m->paused, true);
	return 0;
}

int machine_resume(struct machine *m)
{
	if (!atomic_load(&m->paused))
		return 0;
	m->paused_clock.flags = 0;
	if (ioctl(m->vm_fd, KVM_SET_CLOCK, &m->paused_clock) < 0)
		log_warn("machine", "KVM_SET_CLOCK: %s", strerror(errno));
	pthread_mutex_lock(&m->pause_lock);
	atomic_store(&m->pause_requested, 0);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
	atomic_store(&m->paused, false);
	return 0;
}

bool machine_is_paused(struct machine *m)
{
	return atomic_load(&m->paused);
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	if (m->vcpus) {
		if (atomic_load(&m->stop) == MACHINE_RUNNING)
			machine_request_stop(m, MACHINE_QUIT, 0);
		for (int i = 0; i < m->ncpus; i++)
			if (m->vcpus[i])
				vcpu_join(m->vcpus[i]);
		for (int i = 0; i < m->ncpus; i++)
			vcpu_destroy(m->vcpus[i]);
		free(m->vcpus);
		m->vcpus = NULL;
	}
	/*
	 * Device callbacks stop before any device goes: no more notifications,
	 * then no disk request in flight (a completion interrupts through the
	 * transport and KVM); transports outlive the host.
	 */
	if (m->io && m->cfg->io_poll_max_ns) {
		uint64_t polled, slept;

		iothread_stop(m->io);
		iothread_poll_stats(m->io, &polled, &slept);
		log_debug("virtio-io", "%" PRIu64 " waits ended while polling, %" PRIu64
			  " after sleeping (--io-poll-max %" PRIu64 ")", polled, slept,
			  m->cfg->io_poll_max_ns / 1000);
	}
	iothread_destroy(m->io);
	for (int i = 0; i < MACHINE_MAX_DISKS; i++)
		if (m->blk[i])
			virtio_blk_drain(m->blk[i]);
	pci_host_destroy(m->pci); /* before acpi_pm: it forwards 0xCF9 there */
	virtio_pci_destroy(m->rng_pci);
	virtio_rng_destroy(m->rng);
	for (int i = 0; i < MACHINE_MAX_DISKS; i++) {
		virtio_pci_destroy(m->blk_pci[i]);
		virtio_blk_destroy(m->blk[i]);
	}
	virtio_pci_destroy(m->vcons_pci);
	virtio_console_destroy(m->vcons);
	uart_destroy(m->uart);
	i8042_destroy(m->i8042);
	rtc_destroy(m->rtc);
	acpi_pm_destroy(m->pm);
	debug_exit_destroy(m->debug_exit);
	debugcon_destroy(m->debugcon);
	fw_cfg_destroy(m->fw_cfg);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	firmware_unload(m);
	for (int i = 0; i < 2; i++)
		if (m->ram[i])
			munmap(m->ram[i], m->ram_map_size[i]);
	bus_destroy(&m->bus);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	pthread_mutex_destroy(&m->stop_lock);
	pthread_mutex_destroy(&m->pause_lock);
	pthread_cond_destroy(&m->pause_cond);
	free(m);
}

void machine_power_button(struct machine *m)
{
	acpi_pm_press_power_button(m->pm);
}

size_t machine_console_input(struct machine *m, const uint8_t *buf, size_t len)
{
	if (m->vcons)
		return virtio_console_input(m->vcons, buf, len);
	return uart_receive(m->uart, buf, len);
}

size_t machine_console_space(struct machine *m)
{
	if (m->vcons)
		return virtio_console_rx_space(m->vcons);
	return uart_rx_space(m->uart);
}

int machine_console_fd(struct machine *m)
{
	return m->vcons ? virtio_console_event_fd(m->vcons) : -1;
}

size_t machine_console_output(struct machine *m, const uint8_t **p)
{
	return m->vcons ? virtio_console_output_peek(m->vcons, p) : 0;
}

void machine_console_output_done(struct machine *m, size_t n)
{
	if (m->vcons)
		virtio_console_output_done(m->vcons, n);
}

void machine_console_resize(struct machine *m, uint16_t cols, uint16_t rows)
{
	if (m->vcons)
		virtio_console_set_size(m->vcons, cols, rows);
}
