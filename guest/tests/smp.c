/* SPDX-License-Identifier: MIT */
/*
 * Starts every CPU that fw_cfg reports (or cpus=N on the command line), has
 * each one check in with its LAPIC ID, and checks that the IDs are 0..N-1 and
 * unique. CPUID's APIC IDs are only reported: ring-3 CPUID is the host's raw
 * CPUID on PVM. Exit 0 when all checked in, 3 on a timeout or bad IDs.
 */
#include "kit.h"

#define EXIT_SMP_FAIL 3

struct cpu_report {
	uint32_t lapic_id;   /* LAPIC ID register, bits 31:24: the authority */
	uint32_t cpuid1_id;  /* CPUID.1:EBX[31:24] */
	uint32_t cpuidb_id;  /* CPUID.0xB:EDX (x2APIC ID), when leaf 0xB exists */
	bool has_leaf_b;
	volatile bool online;
};

static struct cpu_report reports[KIT_MAX_CPUS];
static volatile uint32_t checked_in;

static void check_in(unsigned int cpu)
{
	struct cpu_report *r = &reports[cpu];
	uint32_t regs[4];

	r->lapic_id = lapic_id();
	cpuid(1, 0, regs);
	r->cpuid1_id = regs[1] >> 24;
	cpuid(0, 0, regs);
	if (regs[0] >= 0xb) {
		cpuid(0xb, 0, regs);
		r->has_leaf_b = regs[1] != 0; /* EBX = 0: leaf not supported */
		r->cpuidb_id = regs[3];
	}
	printf("cpu %u online apic_id %u\n", cpu, r->lapic_id);
	r->online = true;
	__atomic_add_fetch(&checked_in, 1, __ATOMIC_SEQ_CST);
}

void ap_main(unsigned int cpu)
{
	if (cpu < KIT_MAX_CPUS)
		check_in(cpu);
}

void test_main(const struct boot_info *bi)
{
	uint64_t n = bi->nr_cpus, dl;
	bool fail = false, note = false;

	kit_arg_u64(bi, "cpus", &n);
	if (n < 1 || n > KIT_MAX_CPUS) {
		printf("smp: FAIL %lu cpus, the kit supports 1..%u\n", n, KIT_MAX_CPUS);
		exit(EXIT_SMP_FAIL);
	}
	printf("smp: starting %lu cpus%s\n", n, bi->has_fw_cfg ? "" : " (no fw_cfg)");
	check_in(0);
	if (n > 1)
		kit_smp_start((unsigned int)n, 5000000);
	dl = kit_deadline_us(10000000);
	while (checked_in < n && !kit_expired(dl))
		cpu_relax();
	if (checked_in < n) {
		printf("smp: FAIL only %u/%lu\n", checked_in, n);
		exit(EXIT_SMP_FAIL);
	}
	printf("smp: %lu/%lu cpus online\n", n, n);

	for (unsigned int i = 0; i < n; i++) {
		struct cpu_report *r = &reports[i];

		if (r->lapic_id >= n) {
			printf("smp: FAIL cpu %u apic id %u out of range 0..%lu\n", i, r->lapic_id, n - 1);
			fail = true;
		}
		for (unsigned int j = 0; j < i; j++)
			if (reports[j].lapic_id == r->lapic_id) {
				printf("smp: FAIL cpus %u and %u share apic id %u\n", j, i, r->lapic_id);
				fail = true;
			}
		if (r->cpuid1_id != r->lapic_id || (r->has_leaf_b && r->cpuidb_id != r->lapic_id)) {
			if (!note)
				printf("smp: note cpuid apic id differs\n");
			printf("smp: note cpu %u lapic %u cpuid.1 %u cpuid.0xb %d\n", i, r->lapic_id,
			       r->cpuid1_id, r->has_leaf_b ? (int)r->cpuidb_id : -1);
			note = true;
		}
	}
	exit(fail ? EXIT_SMP_FAIL : 0);
}
