/* SPDX-License-Identifier: MIT */
/* kvmm: one binary, subcommands (like lkvm). Dispatch and `kvmm help`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{"run", cmd_run, "boot a virtual machine in the foreground"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: kvmm COMMAND [OPTIONS]\n"
		   "\n"
		   "kvmm is a virtual machine monitor for Linux KVM.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "  %-10s %s\n", "help", "show this text, or `kvmm help COMMAND` for a command");
	fprintf(f, "  %-10s %s\n", "version", "print the version");
	fprintf(f, "\n"
		   "Run `kvmm COMMAND --help` for the options of a command.\n"
		   "Documentation: docs/ in the source tree (docs/run.md for `kvmm run`).\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		if (argc > 2) {
			for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
				if (strcmp(argv[2], subcommands[i].name) == 0) {
					char *args[] = {argv[2], "--help", NULL};
					return subcommands[i].fn(2, args);
				}
			}
			fprintf(stderr, "kvmm: no such command '%s'\n", argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kvmm %s\n", KVMM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(cmd, subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "kvmm: unknown command '%s'; see `kvmm help`\n", cmd);
	return EXIT_USAGE;
}
