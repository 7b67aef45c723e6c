/* SPDX-License-Identifier: MIT */
/* Exits through the debug-exit port with the code given as code=N (default 7). */
#include "kit.h"

void test_main(const struct boot_info *bi)
{
	uint64_t code = 7;

	if (kit_arg(bi, "code", NULL) && (!kit_arg_u64(bi, "code", &code) || code > 255)) {
		printf("exits: FAIL bad code= argument\n");
		exit(KIT_EXIT_FAIL);
	}
	printf("exits: code %u\n", (unsigned int)code);
	exit((int)code);
}
