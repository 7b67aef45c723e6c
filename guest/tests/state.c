/* SPDX-License-Identifier: MIT */
/*
 * A guest with visible state, for pause/save/restore tests. Every CPU works in
 * lockstep steps over its own memory area at ring 3, keeping a counter and a
 * checksum; after each step the BSP prints one line with every CPU's checksum,
 * slowly (one byte per ~2 ms) so a snapshot usually lands mid-line. The output
 * is a pure function of the step count and the number of CPUs, so a run that
 * was saved, killed and restored must print exactly what an uninterrupted run
 * prints. The LAPIC timer runs throughout; the guest checks that its
 * interrupts keep arriving (also across a restore) and says so at the end.
 *
 * Command line: steps=N (default 30), delay_us=D per printed byte (default 2000).
 */
#include "kit.h"

#define MAX_CPUS   8
#define AREA_WORDS (64 * 1024) /* 512 KiB per CPU */
#define WORK_ITERS 20000

static uint64_t area[MAX_CPUS][AREA_WORDS];
static volatile uint64_t sums[MAX_CPUS];
static volatile uint64_t counters[MAX_CPUS];
static volatile uint32_t arrived, generation;
static unsigned int ncpus;
static uint64_t delay_us = 2000;

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* A step of deterministic work on this CPU's area. */
static void work(unsigned int cpu)
{
	uint64_t *a = area[cpu], sum = sums[cpu], k = counters[cpu];

	for (int i = 0; i < WORK_ITERS; i++, k++) {
		uint64_t j = (k * 7919) % AREA_WORDS;
		a[k % AREA_WORDS] = mix(a[j] + k + cpu);
		sum += a[k % AREA_WORDS];
	}
	counters[cpu] = k;
	sums[cpu] = sum;
}

/*
 * Sense-reversing barrier at ring 3. Waiters spin briefly, then sleep until
 * the next timer tick, so more vCPUs than host CPUs do not starve each other.
 */
static void barrier(void)
{
	uint32_t gen = generation;

	if (__atomic_add_fetch(&arrived, 1, __ATOMIC_ACQ_REL) == ncpus) {
		arrived = 0;
		__atomic_store_n(&generation, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	for (int spins = 0; __atomic_load_n(&generation, __ATOMIC_ACQUIRE) == gen; spins++) {
		if (spins < 1000)
			cpu_relax();
		else
			kit_wait_irq();
	}
}

static void slow_print(const char *s)
{
	for (; *s; s++) {
		kit_putc(*s);
		kit_udelay(delay_us);
	}
}

static void timer_start(void)
{
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, (1u << 17) | VEC_LAPIC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 200000);
}

static volatile uint64_t steps = 30;

void ap_main(unsigned int cpu)
{
	timer_start();
	for (uint64_t s = 0; s < steps; s++) {
		work(cpu);
		barrier(); /* work done */
		barrier(); /* BSP printed */
	}
	kit_park();
}

void test_main(const struct boot_info *bi)
{
	uint64_t v, ticks_before = 0;
	char line[256];
	int stalled = 0;

	if (kit_arg_u64(bi, "steps", &v))
		steps = v;
	if (kit_arg_u64(bi, "delay_us", &v))
		delay_us = v;
	ncpus = bi->nr_cpus > MAX_CPUS ? MAX_CPUS : bi->nr_cpus;
	if (ncpus > 1 && kit_smp_start(ncpus, 2000000) != ncpus - 1) {
		printf("state: FAIL not all CPUs started\n");
		exit(3);
	}
	timer_start();
	printf("state: %u cpus, %lu steps\n", ncpus, (unsigned long)steps);
	for (uint64_t s = 0; s < steps; s++) {
		int n;
		work(0);
		barrier();
		n = snprintf(line, sizeof(line), "step %lu:", (unsigned long)s);
		for (unsigned int c = 0; c < ncpus; c++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %016lx",
				      (unsigned long)sums[c]);
		snprintf(line + n, sizeof(line) - (size_t)n, "\n");
		slow_print(line);
		/* Interrupts must keep coming while the guest runs (and after a restore). */
		if (kit_irq_count[VEC_LAPIC_TIMER] == ticks_before)
			stalled++;
		ticks_before = kit_irq_count[VEC_LAPIC_TIMER];
		barrier();
	}
	if (stalled > 1)
		printf("state: FAIL timer stalled in %d steps\n", stalled);
	else
		printf("state: timer ok\n");
	printf("state: done\n");
	exit(stalled > 1 ? 6 : 0);
}
