/* SPDX-License-Identifier: MIT */
/*
 * Thin typed wrappers over the /dev/kvm ioctls kvmm uses (Linux
 * Documentation/virt/kvm/api.rst: 4.1 KVM_GET_API_VERSION, 4.2 KVM_CREATE_VM,
 * 4.7 KVM_CREATE_VCPU, 4.35 KVM_SET_USER_MEMORY_REGION, 4.24 KVM_CREATE_IRQCHIP,
 * 4.25 KVM_IRQ_LINE, 4.46 KVM_GET_SUPPORTED_CPUID, 4.71 KVM_CREATE_PIT2; KVM_SIGNAL_MSI
 * and KVM_IOEVENTFD).
 * They return 0 (or a file descriptor) or a negative errno; messages are the caller's.
 */
#ifndef KVMM_KVM_KVM_H
#define KVMM_KVM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

struct kvm {
	int fd;             /* /dev/kvm */
	int vcpu_mmap_size; /* size of each vCPU's kvm_run mapping */
	int max_vcpus;
	struct kvm_cpuid2 *supported_cpuid; /* KVM_GET_SUPPORTED_CPUID, owned */
};

/*
 * Opens path (normally "/dev/kvm") and checks that this KVM can run kvmm: API
 * version 12 and the capabilities kvmm needs. On failure returns a negative
 * errno and explains in err what is missing and what to do about it.
 */
int kvm_open(struct kvm *k, const char *path, char *err, size_t errlen);
void kvm_close(struct kvm *k);
int kvm_check_extension(const struct kvm *k, long cap);

/* Creates a VM: returns its fd or -errno. */
int kvm_vm_create(const struct kvm *k);
int kvm_vm_check_extension(int vm_fd, long cap);
int kvm_vm_set_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host);
/* The same with KVM_MEM_* flags (KVM_MEM_READONLY: guest writes exit as MMIO). */
int kvm_vm_set_memory_flags(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
			    uint32_t flags);
/*
 * In-kernel PIC+IOAPIC+LAPIC wired as a PC (IRQ0 on IOAPIC pin 2), the IOAPIC
 * given ioapic_id, the PIT, and the addresses Intel VMX needs.
 */
int kvm_vm_create_irqchip(int vm_fd, uint8_t ioapic_id);
int kvm_vm_set_pc_routing(int vm_fd);
int kvm_vm_set_ioapic_id(int vm_fd, uint8_t id);
int kvm_vm_irq_line(int vm_fd, uint32_t gsi, int level);
/*
 * Sends one MSI (api.rst KVM_SIGNAL_MSI). Returns 1 when delivered, 0 when
 * the guest blocked it (no LAPIC accepted it), or -errno.
 */
int kvm_vm_signal_msi(int vm_fd, uint64_t addr, uint32_t data);
/*
 * Assigns (or deassigns) eventfd fd to guest writes at MMIO addr (api.rst
 * KVM_IOEVENTFD): len 0 matches any access length (KVM_CAP_IOEVENTFD_ANY_LENGTH),
 * else only writes of exactly len bytes; no datamatch. Returns 0 or -errno.
 */
int kvm_vm_ioeventfd(int vm_fd, int fd, uint64_t addr, uint32_t len, bool assign);

/* Creates vCPU id: returns its fd or -errno. */
int kvm_vcpu_create(int vm_fd, unsigned id);
/* Maps the vCPU's kvm_run structure; NULL with errno on failure. */
struct kvm_run *kvm_vcpu_map_run(const struct kvm *k, int vcpu_fd);
void kvm_vcpu_unmap_run(const struct kvm *k, struct kvm_run *run);
int kvm_vcpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid_entry2 *entries, int nr);
int kvm_vcpu_get_regs(int vcpu_fd, struct kvm_regs *r);
int kvm_vcpu_set_regs(int vcpu_fd, const struct kvm_regs *r);
int kvm_vcpu_get_sregs(int vcpu_fd, struct kvm_sregs *s);
int kvm_vcpu_set_sregs(int vcpu_fd, const struct kvm_sregs *s);
int kvm_vcpu_set_fpu(int vcpu_fd, const struct kvm_fpu *f);
int kvm_vcpu_set_msrs(int vcpu_fd, const uint32_t *index, const uint64_t *value, int nr);
int kvm_vcpu_get_lapic(int vcpu_fd, struct kvm_lapic_state *l);
int kvm_vcpu_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l);
int kvm_vcpu_translate(int vcpu_fd, uint64_t gva, uint64_t *gpa);

#endif
