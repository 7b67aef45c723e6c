/* SPDX-License-Identifier: MIT */
/*
 * Says it is ready, then halts for good (no interrupt source is enabled, so
 * it costs no CPU). The benchmarks use it for memory overhead and density:
 * they time the ready line and then stop the VM from outside.
 */
#include "kit.h"

void test_main(const struct boot_info *bi)
{
	(void)bi;
	printf("idle: ready\n");
	kit_park();
}
