/* SPDX-License-Identifier: MIT */
/* /dev/kvm ioctl wrappers; see kvm.h for the api.rst sections. */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int xioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc;
}

static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
	{KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
};

static void explain_open_error(const char *path, int err, char *msg, size_t len)
{
	struct stat st;

	switch (err) {
	case ENOENT:
		snprintf(msg, len,
			 "%s does not exist: this host has no KVM. Load kvm_intel or kvm_amd "
			 "(needs VT-x/AMD-V enabled in the firmware, or nested virtualization "
			 "on a cloud VM)",
			 path);
		break;
	case EACCES:
	case EPERM:
		/* Root is not needed: read and write permission on the device is. */
		if (stat(path, &st) == 0)
			snprintf(msg, len,
				 "permission denied opening %s: kvmm needs read and write "
				 "permission on it, which uid %u lacks (mode %04o, owner uid %u, "
				 "group gid %u). %s",
				 path, (unsigned)geteuid(), (unsigned)(st.st_mode & 07777),
				 (unsigned)st.st_uid, (unsigned)st.st_gid,
				 (st.st_mode & 060) == 060 && st.st_gid != 0
					 ? "Add your user to that group (usually 'kvm') and log in "
					   "again"
					 : "Its group has no read and write permission: ask for "
					   "group 'kvm' and mode 0660 (the usual udev rule), or an "
					   "ACL for your user (setfacl -m u:USER:rw)");
		else
			snprintf(msg, len, "permission denied opening %s: kvmm needs read and "
					   "write permission on it", path);
		break;
	default:
		snprintf(msg, len, "cannot open %s: %s", path, strerror(err));
	}
}

int kvm_open(struct kvm *k, const char *path, char *err, size_t errlen)
{
	int rc, nent = 256;

	memset(k, 0, sizeof(*k));
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		rc = -errno;
		explain_open_error(path, errno, err, errlen);
		return rc;
	}
	rc = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (rc != KVM_API_VERSION) {
		snprintf(err, errlen, "%s speaks KVM API version %d; kvmm needs %d", path, rc,
			 KVM_API_VERSION);
		rc = -ENOTSUP;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (kvm_check_extension(k, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "%s lacks %s, which kvmm needs", path,
				 required_caps[i].name);
			rc = -ENOTSUP;
			goto fail;
		}
	}
	k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "%s: bad KVM_GET_VCPU_MMAP_SIZE %d", path, k->vcpu_mmap_size);
		rc = -ENOTSUP;
		goto fail;
	}
	k->max_vcpus = kvm_check_extension(k, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = kvm_check_extension(k, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;
	for (;;) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
		if (!c) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		c->nent = (uint32_t)nent;
		rc = xioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c);
		if (rc == -E2BIG && nent < 4096) {
			free(c);
			nent *= 2;
			continue;
		}
		if (rc < 0) {
			free(c);
			snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-rc));
			goto fail;
		}
		k->supported_cpuid = c;
		break;
	}
	return 0;
fail:
	close(k->fd);
	k->fd = -1;
	return rc;
}

void kvm_close(struct kvm *k)
{
	free(k->supported_cpuid);
	if (k->fd >= 0)
		close(k->fd);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

int kvm_check_extension(const struct kvm *k, long cap)
{
	int rc = ioctl(k->fd, KVM_CHECK_EXTENSION, cap);
	return rc < 0 ? -errno : rc;
}

int kvm_vm_create(const struct kvm *k)
{
	int fd;

	do
		fd = ioctl(k->fd, KVM_CREATE_VM, 0);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int kvm_vm_check_extension(int vm_fd, long cap)
{
	int rc = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
	return rc < 0 ? -errno : rc;
}

int kvm_vm_set_memory_flags(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
			    uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

int kvm_vm_set_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	return kvm_vm_set_memory_flags(vm_fd, slot, gpa, size, host, 0);
}

int kvm_vm_create_irqchip(int vm_fd, uint8_t ioapic_id)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t identity = 0xfffbc000;
	int rc;

	/* Intel VMX needs these two pages below 4 GiB for real-mode emulation. */
	rc = xioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	if (rc < 0 && rc != -EINVAL && rc != -ENOTTY)
		return rc;
	rc = ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	if (rc < 0 && errno != EINVAL && errno != ENOTTY)
		return -errno;
	rc = xioctl(vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (rc < 0)
		return rc;
	rc = kvm_vm_set_pc_routing(vm_fd);
	if (rc < 0)
		return rc;
	rc = kvm_vm_set_ioapic_id(vm_fd, ioapic_id);
	if (rc < 0)
		return rc;
	return xioctl(vm_fd, KVM_CREATE_PIT2, &pit);
}

/*
 * The PC's interrupt wiring (api.rst 4.52 KVM_SET_GSI_ROUTING): ISA IRQs 0-15
 * reach the 8259 pair, and GSIs 0-23 the IOAPIC pins of the same number, except
 * that the PIT's IRQ0 is wired to IOAPIC pin 2 and pin 2's cascade is absent.
 * The MADT's and MP table's "IRQ0 -> GSI 2" override describes exactly this;
 * KVM's default routing would leave the timer on pin 0.
 */
int kvm_vm_set_pc_routing(int vm_fd)
{
	struct kvm_irq_routing *r;
	uint32_t n = 0;
	int rc;

	r = calloc(1, sizeof(*r) + 48 * sizeof(struct kvm_irq_routing_entry));
	if (!r)
		return -ENOMEM;
	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = {gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				      gsi % 8},
		};
	}
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = {KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi},
		};
	}
	r->nr = n;
	rc = xioctl(vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	return rc;
}

/* The IOAPIC ID the firmware tables announce (KVM keeps its low 4 bits). */
int kvm_vm_set_ioapic_id(int vm_fd, uint8_t id)
{
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	int rc = xioctl(vm_fd, KVM_GET_IRQCHIP, &chip);

	if (rc < 0)
		return rc;
	chip.chip.ioapic.id = id;
	return xioctl(vm_fd, KVM_SET_IRQCHIP, &chip);
}

int kvm_vm_irq_line(int vm_fd, uint32_t gsi, int level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = (uint32_t)level};
	return xioctl(vm_fd, KVM_IRQ_LINE, &l);
}

int kvm_vm_signal_msi(int vm_fd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	return xioctl(vm_fd, KVM_SIGNAL_MSI, &msi);
}

int kvm_vm_ioeventfd(int vm_fd, int fd, uint64_t addr, uint32_t len, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	return xioctl(vm_fd, KVM_IOEVENTFD, &io);
}

int kvm_vcpu_create(int vm_fd, unsigned id)
{
	int fd;

	do
		fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

struct kvm_run *kvm_vcpu_map_run(const struct kvm *k, int vcpu_fd)
{
	void *p = mmap(NULL, (size_t)k->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vcpu_fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

void kvm_vcpu_unmap_run(const struct kvm *k, struct kvm_run *run)
{
	if (run)
		munmap(run, (size_t)k->vcpu_mmap_size);
}

int kvm_vcpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid_entry2 *entries, int nr)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)nr * sizeof(*entries));
	int rc;

	if (!c)
		return -ENOMEM;
	c->nent = (uint32_t)nr;
	memcpy(c->entries, entries, (size_t)nr * sizeof(*entries));
	rc = xioctl(vcpu_fd, KVM_SET_CPUID2, c);
	free(c);
	return rc;
}

int kvm_vcpu_get_regs(int vcpu_fd, struct kvm_regs *r)
{
	return xioctl(vcpu_fd, KVM_GET_REGS, r);
}

int kvm_vcpu_set_regs(int vcpu_fd, const struct kvm_regs *r)
{
	return xioctl(vcpu_fd, KVM_SET_REGS, (void *)r);
}

int kvm_vcpu_get_sregs(int vcpu_fd, struct kvm_sregs *s)
{
	return xioctl(vcpu_fd, KVM_GET_SREGS, s);
}

int kvm_vcpu_set_sregs(int vcpu_fd, const struct kvm_sregs *s)
{
	return xioctl(vcpu_fd, KVM_SET_SREGS, (void *)s);
}

int kvm_vcpu_set_fpu(int vcpu_fd, const struct kvm_fpu *f)
{
	return xioctl(vcpu_fd, KVM_SET_FPU, (void *)f);
}

int kvm_vcpu_set_msrs(int vcpu_fd, const uint32_t *index, const uint64_t *value, int nr)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)nr * sizeof(struct kvm_msr_entry));
	int rc;

	if (!m)
		return -ENOMEM;
	m->nmsrs = (uint32_t)nr;
	for (int i = 0; i < nr; i++) {
		m->entries[i].index = index[i];
		m->entries[i].data = value[i];
	}
	rc = xioctl(vcpu_fd, KVM_SET_MSRS, m);
	free(m);
	/* KVM_SET_MSRS returns the number of MSRs it set; short means one was refused. */
	if (rc >= 0 && rc < nr)
		return -EINVAL;
	return rc < 0 ? rc : 0;
}

int kvm_vcpu_get_lapic(int vcpu_fd, struct kvm_lapic_state *l)
{
	return xioctl(vcpu_fd, KVM_GET_LAPIC, l);
}

int kvm_vcpu_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l)
{
	return xioctl(vcpu_fd, KVM_SET_LAPIC, (void *)l);
}

int kvm_vcpu_translate(int vcpu_fd, uint64_t gva, uint64_t *gpa)
{
	struct kvm_translation t = {.linear_address = gva};
	int rc = xioctl(vcpu_fd, KVM_TRANSLATE, &t);

	if (rc < 0)
		return rc;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}
