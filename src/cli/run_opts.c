/* SPDX-License-Identifier: MIT */
/*
 * kvmm run's options (run_opts.h): getopt_long over the table below, each
 * value checked where it is read, the combinations checked at the end, and
 * the --help text that documents them (docs/run.md says the same at length).
 */
#include "cli/run_opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "machine/firmware.h"
#include "util/keyval.h"
#include "util/log.h"
#include "util/size.h"


static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmm run --kernel FILE [OPTIONS]\n"
		"       kvmm run --disk FILE [--firmware bios|FILE] [OPTIONS]\n"
		"\n"
		"Boot one virtual machine in the foreground: a kernel directly, or, without\n"
		"--kernel, a disk image through BIOS firmware. The guest's serial port (COM1,\n"
		"ttyS0) is connected to this terminal (or hvc0, see --console); when stdin is\n"
		"a terminal it is put in raw mode and restored on exit.\n"
		"\n"
		"Options:\n"
		"  -k, --kernel FILE     kernel to boot; the format is detected from its contents:\n"
		"                        Linux bzImage (boot protocol 2.06+, payload decompressed\n"
		"                        on the host), ELF64 vmlinux with a PVH note, or a\n"
		"                        Multiboot v1 kernel (ELF32)\n"
		"      --firmware bios|none|FILE\n"
		"                        boot through PC firmware like a real PC: bios is\n"
		"                        Debian's SeaBIOS (" FIRMWARE_SEABIOS_PATH ",\n"
		"                        package seabios), FILE another BIOS image (a multiple\n"
		"                        of 64 KiB, at most 256 KiB). The firmware finds the\n"
		"                        --disk images on PCI and boots the first one (or the\n"
		"                        one with boot=on); its screen output and keyboard are\n"
		"                        on the serial console. The default without --kernel\n"
		"                        when a --disk is given; none (the default with\n"
		"                        --kernel) boots the kernel directly (docs/firmware.md)\n"
		"  -i, --initrd FILE     initial ramdisk (a multiboot kernel gets it as module 0)\n"
		"  -c, --cmdline STRING  kernel command line (alias --append)\n"
		"  -p, --cpus N          number of vCPUs, 1-%d (default 1; alias --smp)\n"
		"  -m, --memory SIZE     guest RAM; suffix K, M, G or T, a bare number is MiB\n"
		"                        (default 256M, at least 4M). Memory is allocated as the\n"
		"                        guest touches it.\n"
		"      --disk path=FILE[,readonly=on][,serial=S][,queues=N][,boot=on]\n"
		"                        add a virtio-blk disk (PCI) backed by the raw image FILE\n"
		"                        (a regular file or block device, a multiple of 512\n"
		"                        bytes). Repeatable: disks take PCI slots in the order\n"
		"                        given, after --device ones. readonly=on opens the image\n"
		"                        read-only and tells the guest so; serial=S (at most 20\n"
		"                        characters) is what the guest reads as the disk's ID\n"
		"                        (default: derived from the file's device and inode);\n"
		"                        queues=N request queues, 1-64 (default 1); boot=on\n"
		"                        makes it the disk firmware boots (default: the first).\n"
		"                        The image is locked while kvmm runs (a write lock, or a\n"
		"                        read lock with readonly=on), so another kvmm or QEMU\n"
		"                        cannot write it meanwhile. --disk FILE is short for\n"
		"                        --disk path=FILE; write ,, for a comma in FILE\n"
		"                        (docs/disks.md)\n"
		"      --device TYPE     add a device; TYPE is virtio-rng (entropy from the host's\n"
		"                        getrandom, on PCI; docs/devices.md)\n"
		"      --console serial|virtio\n"
		"                        where this terminal's input goes: serial (default) is\n"
		"                        ttyS0; virtio adds a virtio console on PCI (hvc0, Linux:\n"
		"                        console=hvc0) and sends input there. The output of both\n"
		"                        ttyS0 and hvc0 is shown\n"
		"      --io-poll-max MICROSECONDS\n"
		"                        how long the virtio I/O thread may poll for the next\n"
		"                        request before it sleeps (adaptive, as QEMU's iothread\n"
		"                        poll-max-ns: it polls only while requests keep coming\n"
		"                        that soon, so an idle guest costs nothing). Lower\n"
		"                        latency for a busy device at the price of host CPU time;\n"
		"                        0 never polls (default " RUN_STR(RUN_DEFAULT_IO_POLL_US) ", at most " RUN_STR(RUN_MAX_IO_POLL_US) ";\n"
		"                        docs/performance.md)\n"
		"      --no-reboot       exit (status 0) when the guest resets, instead of\n"
		"                        rebooting it\n"
		"      --shutdown-timeout SECONDS\n"
		"                        after SIGTERM presses the ACPI power button, stop the\n"
		"                        guest hard if it has not powered off (default 30)\n"
		"      --kvm PATH        KVM device (default /dev/kvm)\n"
		"      --log-level LEVEL error, warn (default), info or debug\n"
		"      --control PATH    serve the QMP control protocol on a UNIX socket at PATH\n"
		"                        (query-status, stop, cont, system_powerdown,\n"
		"                        system_reset, quit, snapshot-save, ...; docs/control.md)\n"
		"      --restore FILE    start from a snapshot written by snapshot-save instead of\n"
		"                        booting a kernel; the snapshot supplies the CPUs, memory,\n"
		"                        kernel (for later reboots) and devices, so --kernel,\n"
		"                        --initrd, --cmdline, --cpus, --memory, --device,\n"
		"                        --firmware and --console virtio are not allowed with it.\n"
		"                        Its disks are opened from the paths it recorded; --disk\n"
		"                        FILE, once per disk in order, names other images instead\n"
		"                        (docs/snapshots.md)\n"
		"      --sandbox on|off  system call filters (seccomp) per thread, on by default: a\n"
		"                        thread that makes a call its role does not need kills\n"
		"                        kvmm (SIGSYS) with a log line naming it. off is for\n"
		"                        debugging (docs/security.md)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Console keys (Ctrl-A, then): x quit, h help, Ctrl-A send Ctrl-A.\n"
		"\n"
		"Signals: SIGTERM presses the power button (a second SIGTERM stops at once);\n"
		"SIGINT and SIGHUP stop the VM at once.\n"
		"\n"
		"Exit status:\n"
		"  0    the guest powered off (ACPI S5), or reset with --no-reboot, or Ctrl-A x\n"
		"  N    the guest wrote V to port 0xf4 (QEMU isa-debug-exit): N = ((V << 1) | 1) & 255\n"
		"  2    the guest crashed (triple fault, KVM internal error); registers and the\n"
		"       failing instruction's bytes are printed on stderr\n"
		"  64   usage error\n"
		"  66   the kernel, initrd or a disk image is unreadable, malformed or locked\n"
		"  69   /dev/kvm is missing or unusable\n"
		"  70   internal error; 71 the host refused memory, threads or seccomp filters\n"
		"  128+S  stopped by signal S; killed by SIGSYS (159 in a shell): a thread made a\n"
		"       system call its sandbox forbids, named on stderr (see --sandbox)\n"
		"\n"
		"Example:\n"
		"  kvmm run --kernel bzImage --initrd initrd.img --cmdline \"console=ttyS0\" \\\n"
		"           --cpus 2 --memory 1G\n"
		"  kvmm run --kernel bzImage --console virtio --cmdline \"console=hvc0\"\n",
		RUN_MAX_CPUS);
}

static int run_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "kvmm run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'kvmm run --help'.\n");
	return EXIT_USAGE;
}

enum {
	OPT_NO_REBOOT = 256,
	OPT_LOG_LEVEL,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_KVM,
	OPT_CONTROL,
	OPT_RESTORE,
	OPT_SANDBOX,
	OPT_DEVICE,
	OPT_DISK,
	OPT_FIRMWARE,
	OPT_CONSOLE,
	OPT_IO_POLL
};

/* --disk path=FILE[,readonly=on][,serial=S][,queues=N]: one more disk in o. */
static int run_parse_disk(const char *arg, struct run_options *o)
{
	struct keyval_iter it;
	struct machine_disk *md;
	struct run_disk *d;
	char key[KEYVAL_KEY_MAX], val[4096], why[160];
	uint64_t v;
	int rc, i = o->mc.ndisks;

	if (i >= MACHINE_MAX_DISKS)
		return run_usage_error("--disk '%s': at most 16 disks", arg);
	d = &o->disks[i];
	md = &o->mc.disks[i];
	memset(d, 0, sizeof(*d));
	md->queues = 1;
	keyval_init(&it, arg, "path");
	while ((rc = keyval_next(&it, key, val, sizeof(val), why, sizeof(why))) == 1) {
		if (!strcmp(key, "path") || !strcmp(key, "file")) {
			if (!val[0])
				return run_usage_error("--disk '%s': the path is empty", arg);
			strcpy(o->disk_paths[i], val);
			d->path = o->disk_paths[i];
		} else if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
			d->options = true;
			if (keyval_bool(val, &d->readonly))
				return run_usage_error("--disk '%s': readonly= takes on or off", arg);
		} else if (!strcmp(key, "serial")) {
			d->options = true;
			if (strlen(val) > BLOCK_SERIAL_MAX)
				return run_usage_error(
					"--disk '%s': serial= is longer than 20 characters", arg);
			strcpy(d->serial, val);
		} else if (!strcmp(key, "boot")) {
			if (keyval_bool(val, &md->boot))
				return run_usage_error("--disk '%s': boot= takes on or off", arg);
		} else if (!strcmp(key, "queues") || !strcmp(key, "num-queues")) {
			d->options = true;
			if (size_parse_uint(val, 1, MACHINE_DISK_MAX_QUEUES, &v))
				return run_usage_error("--disk '%s': queues= takes a number from 1 to 64",
						       arg);
			md->queues = (unsigned)v;
		} else {
			fprintf(stderr,
				"kvmm run: --disk '%s': unknown key '%s' (expected path, readonly, "
				"serial, queues or boot)\nTry 'kvmm run --help'.\n",
				arg, key);
			return EXIT_USAGE;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "kvmm run: --disk '%s': %s\nTry 'kvmm run --help'.\n", arg, why);
		return EXIT_USAGE;
	}
	if (!d->path)
		return run_usage_error("--disk '%s': path=FILE is missing", arg);
	md->serial = d->serial[0] ? d->serial : NULL;
	o->mc.ndisks = i + 1;
	return 0;
}

int run_parse(int argc, char **argv, struct run_options *o)
{
	static const struct option longopts[] = {
		{"kernel", required_argument, NULL, 'k'},
		{"initrd", required_argument, NULL, 'i'},
		{"cmdline", required_argument, NULL, 'c'},
		{"append", required_argument, NULL, 'c'},
		{"cpus", required_argument, NULL, 'p'},
		{"smp", required_argument, NULL, 'p'},
		{"memory", required_argument, NULL, 'm'},
		{"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
		{"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
		{"kvm", required_argument, NULL, OPT_KVM},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"control", required_argument, NULL, OPT_CONTROL},
		{"restore", required_argument, NULL, OPT_RESTORE},
		{"sandbox", required_argument, NULL, OPT_SANDBOX},
		{"device", required_argument, NULL, OPT_DEVICE},
		{"disk", required_argument, NULL, OPT_DISK},
		{"firmware", required_argument, NULL, OPT_FIRMWARE},
		{"bios", required_argument, NULL, OPT_FIRMWARE},
		{"console", required_argument, NULL, OPT_CONSOLE},
		{"io-poll-max", required_argument, NULL, OPT_IO_POLL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c, level, rc;
	bool machine_opts = false;
	const char *firmware = NULL; /* as given */

	o->mc.cmdline = "";
	o->mc.ncpus = 1;
	o->mc.ram_size = RUN_DEFAULT_MEMORY;
	o->shutdown_timeout = 30;
	o->mc.io_poll_max_ns = RUN_DEFAULT_IO_POLL_US * 1000u;
	o->kvm_path = "/dev/kvm";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:c:p:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->mc.kernel_path = optarg;
			machine_opts = true;
			break;
		case 'i':
			o->mc.initrd_path = optarg;
			machine_opts = true;
			break;
		case 'c':
			o->mc.cmdline = optarg;
			machine_opts = true;
			break;
		case OPT_CONTROL:
			o->control_path = optarg;
			break;
		case OPT_RESTORE:
			o->restore_path = optarg;
			break;
		case OPT_SANDBOX:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return run_usage_error("--sandbox '%s': expected on or off", optarg);
			o->no_sandbox = !strcmp(optarg, "off");
			break;
		case OPT_DEVICE:
			machine_opts = true;
			if (strcmp(optarg, "virtio-rng"))
				return run_usage_error("--device '%s': expected virtio-rng", optarg);
			o->mc.virtio_rng = true;
			break;
		case OPT_FIRMWARE:
			machine_opts = true;
			firmware = optarg;
			if (!strcmp(optarg, "bios") || !strcmp(optarg, "seabios"))
				o->mc.firmware_path = FIRMWARE_SEABIOS_PATH;
			else if (!strcmp(optarg, "none"))
				o->mc.firmware_path = NULL;
			else if (!optarg[0])
				return run_usage_error("%s", "--firmware: expected bios, none or a file");
			else
				o->mc.firmware_path = optarg;
			break;
		case OPT_DISK:
			/* With --restore: another image for the snapshot's disk (checked below). */
			rc = run_parse_disk(optarg, o);
			if (rc)
				return rc;
			break;
		case OPT_CONSOLE:
			if (strcmp(optarg, "serial") && strcmp(optarg, "virtio"))
				return run_usage_error("--console '%s': expected serial or virtio",
						       optarg);
			o->mc.console = strcmp(optarg, "virtio") ? MACHINE_CONSOLE_SERIAL
								 : MACHINE_CONSOLE_VIRTIO;
			/* hvc0 is a device that the snapshot's machine does not have. */
			machine_opts |= o->mc.console == MACHINE_CONSOLE_VIRTIO;
			break;
		case 'p':
			machine_opts = true;
			if (size_parse_uint(optarg, 1, RUN_MAX_CPUS, &v))
				return run_usage_error("--cpus '%s': expected a number from 1 to 254",
						       optarg);
			o->mc.ncpus = (int)v;
			break;
		case 'm':
			machine_opts = true;
			if (size_parse(optarg, 1ULL << 20, &v))
				return run_usage_error(
					"--memory '%s': expected a size such as 512M or 2G", optarg);
			if (v < RUN_MIN_MEMORY || v > RUN_MAX_MEMORY)
				return run_usage_error(
					"--memory '%s': must be between 4M and 1T", optarg);
			/* KVM memory slots are page-granular. */
			o->mc.ram_size = v & ~4095ULL;
			break;
		case OPT_NO_REBOOT:
			o->no_reboot = true;
			break;
		case OPT_SHUTDOWN_TIMEOUT:
			if (size_parse_uint(optarg, 0, 86400, &v))
				return run_usage_error(
					"--shutdown-timeout '%s': expected seconds (0-86400)", optarg);
			o->shutdown_timeout = (unsigned)v;
			break;
		case OPT_IO_POLL:
			if (size_parse_uint(optarg, 0, RUN_MAX_IO_POLL_US, &v))
				return run_usage_error("--io-poll-max '%s': expected microseconds "
						       "(0-" RUN_STR(RUN_MAX_IO_POLL_US) ")", optarg);
			o->mc.io_poll_max_ns = v * 1000u;
			break;
		case OPT_KVM:
			o->kvm_path = optarg;
			break;
		case OPT_LOG_LEVEL:
			level = log_parse_level(optarg);
			if (level < 0)
				return run_usage_error(
					"--log-level '%s': expected error, warn, info or debug",
					optarg);
			log_set_level((enum log_level)level);
			break;
		case 'h':
			run_usage(stdout);
			return -1;
		case ':':
			return run_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return run_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return run_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->restore_path && machine_opts)
		return run_usage_error("%s",
				       "--restore takes the machine from the snapshot; do not "
				       "combine it with --kernel, --initrd, --cmdline, --cpus, "
				       "--memory, --device, --firmware or --console virtio");
	if (o->restore_path) {
		for (int i = 0; i < o->mc.ndisks; i++)
			if (o->disks[i].options)
				return run_usage_error(
				    "--disk '%s': with --restore a --disk names only the image "
				    "(path=FILE) that replaces the snapshot's disk in its place; "
				    "readonly, serial and queues come from the snapshot",
				    o->disks[i].path);
		return 0;
	}
	if (o->mc.kernel_path && o->mc.firmware_path)
		return run_usage_error("--firmware %s: booting a --kernel through firmware is not "
				       "supported; use --firmware none or leave out --kernel",
				       firmware);
	/* No kernel but a disk: boot it as a PC would. */
	if (!o->mc.kernel_path && !firmware && o->mc.ndisks)
		o->mc.firmware_path = FIRMWARE_SEABIOS_PATH;
	if (!o->mc.kernel_path && !o->mc.firmware_path)
		return run_usage_error("%s", "--kernel FILE is required (or --disk FILE, to boot a "
					     "disk through firmware)");
	return 0;
}
