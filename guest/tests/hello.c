/* SPDX-License-Identifier: MIT */
/* Greets on the serial console, echoes the multiboot command line, exits 0. */
#include "kit.h"

void test_main(const struct boot_info *bi)
{
	printf("Hello from the kvmm test guest\n");
	printf("cmdline: %s\n", bi->cmdline);
	exit(0);
}
