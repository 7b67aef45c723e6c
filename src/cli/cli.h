/* SPDX-License-Identifier: MIT */
/* Subcommands of the kvmm binary and the exit codes they share. */
#ifndef KVMM_CLI_CLI_H
#define KVMM_CLI_CLI_H

/* Exit statuses (sysexits.h values where one fits). */
#define EXIT_GUEST_CRASH 2  /* triple fault, KVM internal error, failed entry */
#define EXIT_USAGE       64 /* EX_USAGE: bad command line */
#define EXIT_NOINPUT     66 /* EX_NOINPUT: kernel/initrd unreadable or malformed */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: no usable /dev/kvm */
#define EXIT_SOFTWARE    70 /* EX_SOFTWARE: internal error in kvmm */
#define EXIT_OSERR       71 /* EX_OSERR: the host refused a resource (memory, threads) */

int cmd_run(int argc, char **argv);

#endif
