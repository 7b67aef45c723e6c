/* SPDX-License-Identifier: MIT */
/*
 * kvmm run's command line: the options, their checks and --help. Pure apart
 * from printing usage errors and --help, so it is fuzzed
 * (tests/fuzz/fuzz_run_opts.c). See run_opts.c.
 */
#ifndef KVMM_CLI_RUN_OPTS_H
#define KVMM_CLI_RUN_OPTS_H

#include <stdbool.h>

#include "block/block.h"
#include "machine/machine.h"

#define RUN_DEFAULT_MEMORY (256ULL << 20)
#define RUN_MIN_MEMORY     (4ULL << 20)
#define RUN_MAX_MEMORY     (1ULL << 40)
#define RUN_MAX_CPUS       254 /* APIC IDs 0..253; the IOAPIC takes the next ID */
/* --io-poll-max, microseconds (machine/iothread.h). The default covers the gap
 * between a completion and the guest's next request on PVM, where an
 * interrupt costs the guest 30-40 us (docs/performance.md). */
#define RUN_DEFAULT_IO_POLL_US 100
#define RUN_MAX_IO_POLL_US     100000
#define RUN_STR_(x)        #x
#define RUN_STR(x)         RUN_STR_(x)

struct run_options {
	struct machine_config mc;
	bool no_reboot;
	unsigned shutdown_timeout; /* seconds from SIGTERM's power button to a hard stop */
	const char *kvm_path;
	const char *control_path; /* QMP socket, NULL for none */
	const char *restore_path; /* snapshot to start from, NULL for a cold boot */
	bool no_sandbox;	  /* --sandbox off */
	struct run_disk {
		const char *path;
		bool readonly;
		char serial[BLOCK_SERIAL_MAX + 1]; /* "" for the image's default */
		bool options;			   /* readonly, serial or queues given */
	} disks[MACHINE_MAX_DISKS];
	char disk_paths[MACHINE_MAX_DISKS][4096]; /* unescaped path=... values */
};

/*
 * Parses argv into o (which the caller zeroes). Returns 0 to run, -1 after
 * printing --help (exit 0), or an exit status (EXIT_USAGE) after printing
 * the reason on stderr. May set the log level (--log-level).
 */
int run_parse(int argc, char **argv, struct run_options *o);

#endif
