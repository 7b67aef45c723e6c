/* SPDX-License-Identifier: MIT */
/* kvmm run: placeholder replaced in the next commit. */
#include "cli/cli.h"
int cmd_run(int argc, char **argv)
{
	return EXIT_SOFTWARE;
}
