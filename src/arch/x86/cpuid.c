/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU CPUID table; see cpuid.h. The VM is one package of ncpus cores with
 * one thread each, and vCPU i has APIC ID i. Every leaf that encodes topology
 * is rewritten to say exactly that, so a guest that reads leaf 01H, 04H, 0BH,
 * 1FH or AMD's Fn8000_0008/001D/001E ends up with the same picture.
 * Everything else passes through from KVM_GET_SUPPORTED_CPUID, which already
 * reports only what KVM can give the guest (KVM API documentation,
 * KVM_GET_SUPPORTED_CPUID), including the paravirt leaves 0x40000000
 * ("KVMKVMKVM\0\0\0", maximum hypervisor leaf) and 0x40000001 (KVM_FEATURE_*
 * bits) of Documentation/virt/kvm/x86/cpuid.rst.
 */
#include "arch/x86/cpuid.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Leaf 01H, SDM vol. 2A Table 3-10 (EBX) and Figures 3-7/3-8 (ECX, EDX). */
#define CPUID_1_ECX_OSXSAVE    (1u << 27)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT	       (1u << 28)

/* Leaf 07H subleaf 0 ECX bit 4: OSPKE mirrors CR4.PKE, like OSXSAVE mirrors CR4.OSXSAVE. */
#define CPUID_7_ECX_OSPKE (1u << 4)

/* Leaf 0BH/1FH level types, SDM vol. 2A "INPUT EAX = 0BH". */
#define CPUID_LEVEL_INVALID 0
#define CPUID_LEVEL_SMT	    1
#define CPUID_LEVEL_CORE    2

/* Fn8000_0001 ECX bit 1, APM vol. 3 E.4.2: HTT counts cores, not threads. */
#define CPUID_80000001_ECX_CMPLEGACY (1u << 1)

/* Vendor strings of leaf 0 in EBX, EDX, ECX order. */
#define CPUID_AMD_EBX	0x68747541u /* "Auth" */
#define CPUID_AMD_EDX	0x69746e65u /* "enti" */
#define CPUID_AMD_ECX	0x444d4163u /* "cAMD" */
#define CPUID_HYGON_EBX 0x6f677948u /* "Hygo" */
#define CPUID_HYGON_EDX 0x6e65476eu /* "nGen" */
#define CPUID_HYGON_ECX 0x656e6975u /* "uine" */

struct cpuid_topo {
	uint32_t vcpu; /* also the initial and x2APIC ID */
	uint32_t ncpus;
	uint32_t shift; /* bits of the APIC ID that number cores: ceil(log2(ncpus)) */
	bool amd;	/* AMD-defined leaves Fn8000_0008 ECX, 001D, 001E apply */
};

static uint32_t cpuid_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t cpuid_order(uint32_t n)
{
	uint32_t s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid_entry2 *e, int n,
						 uint32_t function, uint32_t index)
{
	for (int i = 0; i < n; i++)
		if (e[i].function == function && e[i].index == index)
			return &e[i];
	return NULL;
}

/* The leaf 0BH/1FH subleaves 0 (SMT), 1 (core), 2 (first invalid level). */
static struct kvm_cpuid_entry2 cpuid_topo_subleaf(uint32_t function, uint32_t sub,
						  const struct cpuid_topo *t)
{
	struct kvm_cpuid_entry2 e = {
	    .function = function,
	    .index = sub,
	    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	    .ecx = sub,	    /* ECX[7:0] echoes the level number */
	    .edx = t->vcpu, /* x2APIC ID of this logical processor */
	};

	if (sub == 0) {
		e.eax = 0; /* one thread per core: no SMT bits in the APIC ID */
		e.ebx = 1;
		e.ecx |= CPUID_LEVEL_SMT << 8;
	} else if (sub == 1) {
		e.eax = t->shift;
		e.ebx = t->ncpus; /* logical processors in the package */
		e.ecx |= CPUID_LEVEL_CORE << 8;
	} else {
		e.ecx |= CPUID_LEVEL_INVALID << 8; /* EAX = EBX = 0 */
	}
	return e;
}

/*
 * Leaf 01H (SDM vol. 2A, CPUID, "INPUT EAX = 01H"): EBX[31:24] initial APIC
 * ID (low 8 bits of the x2APIC ID), EBX[23:16] addressable logical processor
 * IDs in the package (meaningful with EDX.HTT), EBX[15:8] CLFLUSH line size in
 * 8-byte units. ECX.OSXSAVE reflects the guest's CR4 and KVM maintains it at
 * run time, so the table starts with it clear; ECX bit 31 tells the guest it
 * runs under a hypervisor (reserved for that use in the SDM's Figure 3-7).
 */
static void cpuid_fix_leaf1(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	uint32_t clflush = (e->ebx >> 8) & 0xff;

	if (!clflush)
		clflush = 8; /* 64-byte lines */
	e->ebx = (e->ebx & 0xff) | clflush << 8 | cpuid_min(t->ncpus, 0xff) << 16 |
		 (t->vcpu & 0xff) << 24;
	if (t->ncpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	e->ecx &= ~CPUID_1_ECX_OSXSAVE;
}

/*
 * Leaf 04H (SDM vol. 2A, "INPUT EAX = 04H"), for each cache that exists
 * (EAX[4:0] != 0): EAX[31:26] cores in the package - 1, EAX[25:14] logical
 * processors sharing the cache - 1. L1 and L2 belong to one core (one
 * thread), L3 is shared by the whole package.
 */
static void cpuid_fix_leaf4(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	uint32_t level = (e->eax >> 5) & 7;
	uint32_t sharing = level >= 3 ? cpuid_min(t->ncpus - 1, 0xfff) : 0;

	if (!(e->eax & 0x1f))
		return;
	e->eax &= ~(0x3fu << 26 | 0xfffu << 14);
	e->eax |= cpuid_min(t->ncpus - 1, 63) << 26 | sharing << 14;
}

/*
 * Fn8000_001D (APM vol. 3, E.4.15), the AMD cache topology leaf: EAX[25:14]
 * NumSharingCache - 1, shared like leaf 04H above. Linux derives its LLC ID
 * from this and the APIC ID.
 */
static void cpuid_fix_8000001d(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	uint32_t level = (e->eax >> 5) & 7;

	if (!(e->eax & 0x1f))
		return;
	e->eax &= ~(0xfffu << 14);
	e->eax |= (level >= 3 ? cpuid_min(t->ncpus - 1, 0xfff) : 0) << 14;
}

static void cpuid_fixup(struct kvm_cpuid_entry2 *e, const struct cpuid_topo *t)
{
	switch (e->function) {
	case 0x1:
		cpuid_fix_leaf1(e, t);
		break;
	case 0x4:
		cpuid_fix_leaf4(e, t);
		break;
	case 0x7:
		if (e->index == 0)
			e->ecx &= ~CPUID_7_ECX_OSPKE;
		break;
	case 0x80000001:
		/* APM vol. 3 E.4.2: with CmpLegacy, leaf 1's HTT and count mean cores. */
		if (!t->amd)
			break;
		if (t->ncpus > 1)
			e->ecx |= CPUID_80000001_ECX_CMPLEGACY;
		else
			e->ecx &= ~CPUID_80000001_ECX_CMPLEGACY;
		break;
	case 0x80000008:
		/*
		 * APM vol. 3 E.4.7: ECX[7:0] NC = cores - 1, ECX[15:12]
		 * ApicIdCoreIdSize = APIC ID bits that number the cores.
		 */
		if (!t->amd)
			break;
		e->ecx &= ~(0xfu << 12 | 0xffu);
		e->ecx |= cpuid_min(t->shift, 0xf) << 12 | cpuid_min(t->ncpus - 1, 0xff);
		break;
	case 0x8000001d:
		if (t->amd)
			cpuid_fix_8000001d(e, t);
		break;
	case 0x8000001e:
		/*
		 * APM vol. 3 E.4.16: EAX extended APIC ID, EBX[7:0] core ID and
		 * EBX[15:8] threads per core - 1 (0), ECX[7:0] node ID and
		 * ECX[10:8] nodes per processor - 1 (one node: all 0).
		 */
		if (!t->amd)
			break;
		e->eax = t->vcpu;
		e->ebx = t->vcpu & 0xff;
		e->ecx = 0;
		e->edx = 0;
		break;
	default:
		break;
	}
}

static bool cpuid_is_amd(const struct kvm_cpuid_entry2 *leaf0)
{
	if (!leaf0)
		return false;
	return (leaf0->ebx == CPUID_AMD_EBX && leaf0->edx == CPUID_AMD_EDX &&
		leaf0->ecx == CPUID_AMD_ECX) ||
	       (leaf0->ebx == CPUID_HYGON_EBX && leaf0->edx == CPUID_HYGON_EDX &&
		leaf0->ecx == CPUID_HYGON_ECX);
}

static int cpuid_push(struct kvm_cpuid_entry2 *out, int max_out, int *n,
		      const struct kvm_cpuid_entry2 *e)
{
	if (*n >= max_out)
		return -ENOSPC;
	out[(*n)++] = *e;
	return 0;
}

static int cpuid_push_topo(struct kvm_cpuid_entry2 *out, int max_out, int *n, uint32_t function,
			   const struct cpuid_topo *t)
{
	for (uint32_t sub = 0; sub < 3; sub++) {
		struct kvm_cpuid_entry2 e = cpuid_topo_subleaf(function, sub, t);
		int err = cpuid_push(out, max_out, n, &e);

		if (err)
			return err;
	}
	return 0;
}

int cpuid_build(const struct kvm_cpuid_entry2 *supported, int nr_supported, int vcpu_index,
		int ncpus, struct kvm_cpuid_entry2 *out, int max_out)
{
	const struct kvm_cpuid_entry2 *leaf0;
	struct cpuid_topo t;
	bool done_b = false, done_1f = false;
	int n = 0, err;

	if (nr_supported < 0 || (nr_supported && !supported) || ncpus < 1 ||
	    ncpus > CPUID_MAX_CPUS || vcpu_index < 0 || vcpu_index >= ncpus || max_out < 0 ||
	    (max_out && !out))
		return -EINVAL;

	leaf0 = cpuid_find(supported, nr_supported, 0, 0);
	t.vcpu = (uint32_t)vcpu_index;
	t.ncpus = (uint32_t)ncpus;
	t.shift = cpuid_order(t.ncpus);
	t.amd = cpuid_is_amd(leaf0);

	for (int i = 0; i < nr_supported; i++) {
		struct kvm_cpuid_entry2 e = supported[i];

		/*
		 * KVM reports 0BH/1FH with the host's numbers (or zeros); all
		 * their subleaves are replaced by ours, emitted where the
		 * first one stood so the table keeps its order.
		 */
		if (e.function == 0xb || e.function == 0x1f) {
			bool *done = e.function == 0xb ? &done_b : &done_1f;

			if (*done)
				continue;
			*done = true;
			err = cpuid_push_topo(out, max_out, &n, e.function, &t);
		} else {
			cpuid_fixup(&e, &t);
			err = cpuid_push(out, max_out, &n, &e);
		}
		if (err)
			return err;
	}
	/*
	 * 0BH is how a guest learns x2APIC IDs (needed past 255 CPUs); add it
	 * when the maximum basic leaf says it exists but KVM left it out.
	 */
	if (!done_b && leaf0 && leaf0->eax >= 0xb) {
		err = cpuid_push_topo(out, max_out, &n, 0xb, &t);
		if (err)
			return err;
	}
	return n;
}
