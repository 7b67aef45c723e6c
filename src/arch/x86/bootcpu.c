/* SPDX-License-Identifier: MIT */
/*
 * Boot CPU entry state; see bootcpu.h for the protocols. Segment descriptor and
 * paging formats: Intel SDM vol. 3A, 3.4.5 (segment descriptors) and 4.5
 * (4-level paging, 2 MiB pages).
 */
#include "arch/x86/bootcpu.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define CR0_PE  (1ULL << 0)
#define CR0_ET  (1ULL << 4)
#define CR0_PG  (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_P  (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* GDT slots: the Linux boot protocol fixes __BOOT_CS 0x10 and __BOOT_DS 0x18. */
#define GDT_CODE64 2
#define GDT_DATA   3
#define GDT_TSS    4
#define GDT_CODE32 5
#define GDT_N      6

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

/* The KVM view of a descriptor, so sregs agree with the GDT the guest can read. */
static struct kvm_segment seg_from_gdt(uint64_t d, unsigned index)
{
	struct kvm_segment s = {
		.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
		.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000)),
		.selector = (uint16_t)(index * 8),
		.type = (uint8_t)((d >> 40) & 0xf),
		.present = (uint8_t)((d >> 47) & 1),
		.dpl = (uint8_t)((d >> 45) & 3),
		.db = (uint8_t)((d >> 54) & 1),
		.s = (uint8_t)((d >> 44) & 1),
		.l = (uint8_t)((d >> 53) & 1),
		.g = (uint8_t)((d >> 55) & 1),
	};
	if (s.g)
		s.limit = (s.limit << 12) | 0xfff;
	return s;
}

/* Identity map of the first 4 GiB with 2 MiB pages: PML4 -> PDPT -> 4 PDs. */
static int write_page_tables(struct gmem *m)
{
	uint64_t *pml4 = gmem_ptr(m, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gmem_ptr(m, LAYOUT_PDPT, 4096);
	uint64_t *pd = gmem_ptr(m, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -ENOMEM;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

int bootcpu_setup(struct gmem *m, const struct boot_entry *e, struct kvm_regs *regs,
		  struct kvm_sregs *sregs)
{
	uint64_t gdt[GDT_N] = {0};
	struct kvm_segment data;
	int rc;

	gdt[GDT_CODE64] = gdt_entry(0xa09b, 0, 0xfffff);
	gdt[GDT_DATA] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[GDT_TSS] = gdt_entry(0x808b, 0, 0xfffff);
	gdt[GDT_CODE32] = gdt_entry(0xc09b, 0, 0xfffff);
	if (gmem_write(m, LAYOUT_GDT, gdt, sizeof(gdt)))
		return -ENOMEM;

	memset(regs, 0, sizeof(*regs));
	regs->rflags = 2; /* bit 1 is reserved-one; IF clear as every protocol asks */
	regs->rip = e->entry;

	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = sizeof(gdt) - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	data = seg_from_gdt(gdt[GDT_DATA], GDT_DATA);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = seg_from_gdt(gdt[GDT_TSS], GDT_TSS);
	sregs->apic_base = LAYOUT_LAPIC | (1ULL << 11) | (1ULL << 8); /* enabled, BSP */
	sregs->cr2 = 0;
	memset(sregs->interrupt_bitmap, 0, sizeof(sregs->interrupt_bitmap));

	switch (e->mode) {
	case BOOT_LINUX64:
		rc = write_page_tables(m);
		if (rc)
			return rc;
		sregs->cs = seg_from_gdt(gdt[GDT_CODE64], GDT_CODE64);
		sregs->cr0 = CR0_PE | CR0_ET | CR0_PG;
		sregs->cr3 = LAYOUT_PML4;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		regs->rsi = e->rsi;
		return 0;
	case BOOT_PVH32:
	case BOOT_MULTIBOOT32:
		sregs->cs = seg_from_gdt(gdt[GDT_CODE32], GDT_CODE32);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
		regs->rax = e->eax;
		regs->rbx = e->ebx;
		return 0;
	}
	return -EINVAL;
}

void bootcpu_fpu(struct kvm_fpu *fpu)
{
	memset(fpu, 0, sizeof(*fpu));
	fpu->fcw = 0x37f;
	fpu->mxcsr = 0x1f80;
}
