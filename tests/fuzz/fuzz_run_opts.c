/* SPDX-License-Identifier: MIT */
/*
 * kvmm run's command line (cli/run_opts.c): the input, split at NUL bytes,
 * is argv after "kvmm run". Whatever it is, run_parse returns 0, -1 (--help)
 * or EXIT_USAGE, and when it accepts the line the options it produced are
 * within their documented ranges: a kernel, firmware or snapshot to start;
 * 1-254 vCPUs; 4 MiB - 1 TiB of page-aligned RAM; at most 16 disks, each with
 * a path, a serial of at most 20 characters and 1-64 queues; --restore with
 * no machine options (disks given as a path only); never --kernel with
 * --firmware.
 */
#include <fcntl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/run_opts.h"
#include "fuzz.h"
#include "util/log.h"

#define MAX_ARGS 64

/* Usage errors and --help go to /dev/null while run_parse runs; libFuzzer keeps fd 2. */
static int devnull = -1, saved_out = -1, saved_err = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved_out = dup(1);
	saved_err = dup(2);
	if (devnull < 0 || saved_out < 0 || saved_err < 0)
		abort();
	return 0;
}

static int quiet_run_parse(int argc, char **argv, struct run_options *o)
{
	int rc;

	fflush(stdout);
	fflush(stderr);
	dup2(devnull, 1);
	dup2(devnull, 2);
	rc = run_parse(argc, argv, o);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[8192];
	static struct run_options o;
	char *argv[MAX_ARGS + 2];
	int argc = 1, rc;
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

	memcpy(buf, data, n);
	buf[n] = '\0';
	argv[0] = "run";
	for (size_t i = 0; i <= n && argc <= MAX_ARGS;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	memset(&o, 0, sizeof(o));
	rc = quiet_run_parse(argc, argv, &o);
	log_set_level(LOG_WARN);
	FUZZ_CHECK(rc == 0 || rc == -1 || rc == EXIT_USAGE);
	if (rc)
		return 0;
	if (o.restore_path) {
		FUZZ_CHECK(!o.mc.kernel_path && !o.mc.firmware_path);
		/* Disks name only other images for the snapshot's: nothing else of theirs. */
		for (int i = 0; i < o.mc.ndisks; i++)
			FUZZ_CHECK(o.disks[i].path && o.disks[i].path[0] && !o.disks[i].options);
		return 0;
	}
	FUZZ_CHECK(o.mc.kernel_path || o.mc.firmware_path);
	FUZZ_CHECK(!(o.mc.kernel_path && o.mc.firmware_path));
	FUZZ_CHECK(o.mc.cmdline != NULL);
	FUZZ_CHECK(o.mc.ncpus >= 1 && o.mc.ncpus <= RUN_MAX_CPUS);
	FUZZ_CHECK(o.mc.ram_size >= RUN_MIN_MEMORY - 4096 && o.mc.ram_size <= RUN_MAX_MEMORY);
	FUZZ_CHECK((o.mc.ram_size & 4095) == 0);
	FUZZ_CHECK(o.mc.ndisks >= 0 && o.mc.ndisks <= MACHINE_MAX_DISKS);
	for (int i = 0; i < o.mc.ndisks; i++) {
		FUZZ_CHECK(o.disks[i].path && o.disks[i].path[0]);
		FUZZ_CHECK(strlen(o.disks[i].serial) <= BLOCK_SERIAL_MAX);
		FUZZ_CHECK(!o.mc.disks[i].serial || o.mc.disks[i].serial == o.disks[i].serial);
		FUZZ_CHECK(o.mc.disks[i].queues >= 1 &&
			   o.mc.disks[i].queues <= MACHINE_DISK_MAX_QUEUES);
	}
	return 0;
}
