/* SPDX-License-Identifier: MIT */
/*
 * kvmm run: boot one VM in the foreground, its serial console on the terminal.
 * Parses and validates the command line, then loops: build the machine, run it
 * until it stops, and on a guest reset build it again (unless --no-reboot).
 * Exit statuses are documented in run_usage() and docs/run.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "block/block.h"
#include "cli/cli.h"
#include "control/qmp.h"
#include "control/vmctl.h"
#include "machine/console.h"
#include "machine/firmware.h"
#include "machine/machine.h"
#include "machine/vcpu.h"
#include "state/vmsnap.h"
#include "util/keyval.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "util/size.h"

#define RUN_DEFAULT_MEMORY (256ULL << 20)
#define RUN_MIN_MEMORY     (4ULL << 20)
#define RUN_MAX_MEMORY     (1ULL << 40)
#define RUN_MAX_CPUS       254 /* APIC IDs 0..253; the IOAPIC takes the next ID */

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
	} disks[MACHINE_MAX_DISKS];
	char disk_paths[MACHINE_MAX_DISKS][4096]; /* unescaped path=... values */
};

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmm run --kernel FILE [OPTIONS]\n"
		"       kvmm run --disk FILE [--firmware bios|FILE] [OPTIONS]\n"
		"\n"
		"Boot one virtual machine in the foreground: a kernel directly, or, without\n"
		"--kernel, a disk image through BIOS firmware. The guest's serial port (COM1,\n"
		"ttyS0) is connected to this terminal; when stdin is a terminal it is put in\n"
		"raw mode and restored on exit.\n"
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
		"                        --disk images on PCI and boots the first bootable one;\n"
		"                        its screen output and keyboard are on the serial\n"
		"                        console. The default without --kernel when a --disk\n"
		"                        is given; none (the default with --kernel) boots the\n"
		"                        kernel directly (docs/firmware.md)\n"
		"  -i, --initrd FILE     initial ramdisk (a multiboot kernel gets it as module 0)\n"
		"  -c, --cmdline STRING  kernel command line (alias --append)\n"
		"  -p, --cpus N          number of vCPUs, 1-%d (default 1; alias --smp)\n"
		"  -m, --memory SIZE     guest RAM; suffix K, M, G or T, a bare number is MiB\n"
		"                        (default 256M, at least 4M). Memory is allocated as the\n"
		"                        guest touches it.\n"
		"      --disk path=FILE[,readonly=on][,serial=S][,queues=N]\n"
		"                        add a virtio-blk disk (PCI) backed by the raw image FILE\n"
		"                        (a regular file or block device, a multiple of 512\n"
		"                        bytes). Repeatable: disks take PCI slots in the order\n"
		"                        given, after --device ones. readonly=on opens the image\n"
		"                        read-only and tells the guest so; serial=S (at most 20\n"
		"                        characters) is what the guest reads as the disk's ID\n"
		"                        (default: derived from the file's device and inode);\n"
		"                        queues=N request queues, 1-64 (default 1). The image\n"
		"                        is locked while kvmm runs (a write lock, or a read lock\n"
		"                        with readonly=on), so another kvmm or QEMU cannot write\n"
		"                        it meanwhile. --disk FILE is short for --disk path=FILE;\n"
		"                        write ,, for a comma in FILE (docs/disks.md)\n"
		"      --device TYPE     add a device; TYPE is virtio-rng (entropy from the host's\n"
		"                        getrandom, on PCI; docs/devices.md)\n"
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
		"                        booting a kernel; the snapshot supplies the CPUs, memory\n"
		"                        and kernel (for later reboots), so --kernel, --initrd,\n"
		"                        --cmdline, --cpus and --memory are not allowed with it\n"
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
		"           --cpus 2 --memory 1G\n",
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
	OPT_FIRMWARE
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
			if (keyval_bool(val, &d->readonly))
				return run_usage_error("--disk '%s': readonly= takes on or off", arg);
		} else if (!strcmp(key, "serial")) {
			if (strlen(val) > BLOCK_SERIAL_MAX)
				return run_usage_error(
					"--disk '%s': serial= is longer than 20 characters", arg);
			strcpy(d->serial, val);
		} else if (!strcmp(key, "queues") || !strcmp(key, "num-queues")) {
			if (size_parse_uint(val, 1, MACHINE_DISK_MAX_QUEUES, &v))
				return run_usage_error("--disk '%s': queues= takes a number from 1 to 64",
						       arg);
			md->queues = (unsigned)v;
		} else {
			fprintf(stderr,
				"kvmm run: --disk '%s': unknown key '%s' (expected path, readonly, "
				"serial or queues)\nTry 'kvmm run --help'.\n",
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

static int run_parse(int argc, char **argv, struct run_options *o)
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
			machine_opts = true;
			rc = run_parse_disk(optarg, o);
			if (rc)
				return rc;
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
		return run_usage_error("%s", "--restore takes the machine from the snapshot; do not "
					     "combine it with --kernel, --initrd, --cmdline, --cpus, "
					     "--memory, --device, --disk or --firmware");
	if (o->restore_path)
		return 0;
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

/*
 * Guest serial output to stdout. A vCPU must never block here for good: when
 * nobody reads stdout (a full pipe, a stopped terminal) it waits for room or
 * for the machine to stop, whichever comes first, so stops and reboots work.
 * The stop eventfd stays readable once written, so no stop can be missed.
 * Output that cannot be written before a stop is dropped.
 */
static void run_console_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct machine *const *mp = opaque;

	while (len) {
		ssize_t n;

		if (mp && *mp) {
			struct pollfd p[2] = {{.fd = STDOUT_FILENO, .events = POLLOUT},
					      {.fd = (*mp)->stop_fd, .events = POLLIN}};
			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				return;
			}
			if (p[1].revents & POLLIN)
				return;
			if (!(p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
				continue;
		}
		/* POLLOUT promises room for at least one byte; the UART sends one at a time. */
		n = write(STDOUT_FILENO, buf, mp ? 1 : len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return; /* stdout gone: the guest keeps running, output is dropped */
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* A random (version 4) UUID for the VM, the same across its reboots (RFC 4122, 4.4). */
static void run_random_uuid(uint8_t uuid[16])
{
	if (getrandom(uuid, 16, 0) != 16)
		memset(uuid, 0, 16);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double run_elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

struct run_loop {
	struct machine *m;
	struct vmctl ctl;
	int sig_fd;
	bool stdin_open;
	struct console_esc esc;
	int64_t hard_stop_at; /* ms on the monotonic clock; 0 = none */
	int signal_status;    /* 128+signal when a signal stopped the VM */
};

static void run_handle_stdin(struct run_loop *l)
{
	uint8_t in[256], out[256];
	size_t space = machine_console_space(l->m), off = 0;
	ssize_t n;

	if (space > sizeof(in))
		space = sizeof(in);
	n = read(STDIN_FILENO, in, space ? space : 1);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			l->stdin_open = false; /* EOF: the guest just gets no more input */
		return;
	}
	while (off < (size_t)n) {
		size_t out_len = 0, used = 0;
		enum console_action a =
			console_esc_feed(&l->esc, in + off, (size_t)n - off, out, &out_len, &used);
		if (out_len)
			machine_console_input(l->m, out, out_len);
		off += used;
		if (a == CONSOLE_QUIT) {
			machine_request_stop(l->m, MACHINE_QUIT, 0);
			return;
		}
		if (a == CONSOLE_HELP)
			run_console_out(NULL, (const uint8_t *)console_help_text,
					strlen(console_help_text));
	}
}

static void run_handle_signal(struct run_loop *l, const struct run_options *o)
{
	struct signalfd_siginfo si;

	if (read(l->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM && !l->hard_stop_at) {
		log_info("run", "SIGTERM: pressing the ACPI power button");
		machine_power_button(l->m);
		vmctl_emit(&l->ctl, "POWERDOWN", NULL);
		l->hard_stop_at = now_ms() + (int64_t)o->shutdown_timeout * 1000;
		return;
	}
	l->signal_status = 128 + (int)si.ssi_signo;
	machine_request_stop(l->m, MACHINE_QUIT, 0);
}

/* The QMP events for how a machine ended (qapi/run-state.json ShutdownCause). */
static void run_emit_stop(struct run_loop *l, enum machine_stop why)
{
	const char *reason = NULL;
	bool guest = true;

	switch (why) {
	case MACHINE_RESET:
		guest = !l->ctl.reset_by_host;
		vmctl_emit(&l->ctl, "RESET",
			   json_pack("{s:b, s:s}", "guest", guest, "reason",
				     guest ? "guest-reset" : "host-qmp-system-reset"));
		return;
	case MACHINE_POWEROFF:
	case MACHINE_DEBUG_EXIT:
		reason = "guest-shutdown";
		break;
	case MACHINE_CRASH:
		reason = "guest-panic";
		break;
	case MACHINE_QUIT:
		guest = false;
		reason = l->ctl.quit_by_host ? "host-qmp-quit" : "host-signal";
		break;
	default:
		guest = false;
		reason = "host-error";
	}
	vmctl_emit(&l->ctl, "SHUTDOWN", json_pack("{s:b, s:s}", "guest", guest, "reason", reason));
}

/* The control thread's first act (qmp_server_set_thread_init). */
static int run_sandbox_control(void *arg)
{
	(void)arg;
	return sandbox_apply(SANDBOX_CONTROL);
}

/*
 * Opens (and locks) every --disk image once for the life of the process, so
 * that a guest reboot keeps its disks and a bad image is reported before the
 * guest starts. Returns 0, or an exit status with the reason printed.
 */
static int run_open_disks(struct run_options *o)
{
	char err[512];

	for (int i = 0; i < o->mc.ndisks; i++) {
		o->mc.disks[i].dev = block_open(o->disks[i].path, o->disks[i].readonly, err,
						sizeof(err));
		if (!o->mc.disks[i].dev) {
			fprintf(stderr, "kvmm: %s\n", err);
			return EXIT_NOINPUT;
		}
		log_info("run", "disk %d: %s, %" PRIu64 " bytes, %s%s, %s engine", i,
			 block_path(o->mc.disks[i].dev), block_size(o->mc.disks[i].dev),
			 block_format(o->mc.disks[i].dev),
			 block_readonly(o->mc.disks[i].dev) ? " read-only" : "",
			 aio_engine_name(block_engine(o->mc.disks[i].dev)));
	}
	return 0;
}

static void run_close_disks(struct run_options *o)
{
	for (int i = 0; i < o->mc.ndisks; i++) {
		block_close(o->mc.disks[i].dev);
		o->mc.disks[i].dev = NULL;
	}
}

/* Runs the machine until it stops; returns why. */
static enum machine_stop run_machine(struct run_loop *l, const struct run_options *o)
{
	while (atomic_load(&l->m->stop) == MACHINE_RUNNING) {
		struct pollfd p[3] = {
			{.fd = l->m->stop_fd, .events = POLLIN},
			{.fd = l->sig_fd, .events = POLLIN},
			{.fd = STDIN_FILENO, .events = POLLIN},
		};
		int nfds = 2, timeout = -1;

		if (l->stdin_open && !machine_is_paused(l->m)) {
			if (machine_console_space(l->m))
				nfds = 3;
			else
				timeout = 10; /* guest is not reading: look again shortly */
		}
		if (l->hard_stop_at) {
			int64_t left = l->hard_stop_at - now_ms();
			if (left <= 0) {
				log_warn("run", "guest did not power off within %us; stopping it",
					 o->shutdown_timeout);
				l->signal_status = 128 + SIGTERM;
				machine_request_stop(l->m, MACHINE_QUIT, 0);
				break;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		if (poll(p, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_err("run", "poll: %s", strerror(errno));
			machine_request_stop(l->m, MACHINE_ERROR, 0);
			break;
		}
		if (p[1].revents & POLLIN)
			run_handle_signal(l, o);
		if (nfds == 3 && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
			run_handle_stdin(l);
	}
	return (enum machine_stop)atomic_load(&l->m->stop);
}

int cmd_run(int argc, char **argv)
{
	struct run_options o = {0};
	struct run_loop l = {0};
	struct kvm kvm;
	struct qmp_server *qmp = NULL;
	struct timespec t_start;
	struct snap_reader *snap = NULL;
	char err[512];
	sigset_t sigs;
	int rc, status = 0;
	bool main_sandboxed = false;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	rc = run_parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	o.mc.console_out = run_console_out;
	o.mc.console_opaque = &l.m;
	run_random_uuid(o.mc.uuid);

	if (kvm_open(&kvm, o.kvm_path, err, sizeof(err))) {
		fprintf(stderr, "kvmm: %s\n", err);
		return EXIT_UNAVAILABLE;
	}
	if (o.mc.ncpus > kvm.max_vcpus) {
		fprintf(stderr, "kvmm run: --cpus %d: this host's KVM allows at most %d vCPUs\n",
			o.mc.ncpus, kvm.max_vcpus);
		kvm_close(&kvm);
		return EXIT_USAGE;
	}
	/*
	 * Block the stop signals before any thread exists, so every thread
	 * inherits the mask and they arrive only through the signalfd below.
	 */
	vcpu_init_signals();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread exists: they each install their filter at start. */
	if (o.no_sandbox) {
		log_info("run", "--sandbox off: no system call filters");
	} else if (sandbox_init(console_raw_leave, err, sizeof(err))) {
		fprintf(stderr, "kvmm: sandbox: %s (--sandbox off runs without filters)\n", err);
		kvm_close(&kvm);
		return EXIT_OSERR;
	}
	if (o.restore_path) {
		snap = vmsnap_open(o.restore_path, &o.mc, err, sizeof(err));
		if (!snap) {
			fprintf(stderr, "kvmm: %s\n", err);
			kvm_close(&kvm);
			return EXIT_NOINPUT;
		}
	}
	status = run_open_disks(&o);
	if (status)
		goto out;
	if (o.control_path) {
		struct qmp_info info = {0, 1, 0, "kvmm " KVMM_VERSION};
		qmp = qmp_server_create(o.control_path, &info, err, sizeof(err));
		if (!qmp) {
			fprintf(stderr, "kvmm: --control %s: %s\n", o.control_path, err);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (qmp)
		qmp_server_set_thread_init(qmp, run_sandbox_control, NULL);
	rc = vmctl_init(&l.ctl, qmp);
	if (!rc && qmp)
		rc = qmp_server_start(qmp);
	if (rc) {
		fprintf(stderr, "kvmm: cannot start the control socket: %s\n", strerror(-rc));
		status = EXIT_OSERR;
		goto out;
	}
	l.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	l.stdin_open = true;
	console_raw_enter(STDIN_FILENO);

	for (;;) {
		enum machine_stop why;
		int code;

		l.m = machine_create(&kvm, &o.mc, err, sizeof(err), &code);
		if (!l.m) {
			fprintf(stderr, "kvmm: %s\n", err);
			status = code;
			break;
		}
		if (log_get_level() >= LOG_INFO)
			log_info("run", "%s: vCPUs start %.3f ms after kvmm started",
				 o.mc.restore ? "restore" : "boot", run_elapsed_ms(&t_start));
		if (machine_start(l.m)) {
			fprintf(stderr, "kvmm: cannot start vCPU threads\n");
			machine_destroy(l.m);
			status = EXIT_OSERR;
			break;
		}
		/* Filtered once the first machine runs; later ones are built under it. */
		if (!main_sandboxed) {
			rc = sandbox_apply(SANDBOX_MAIN);
			if (rc) {
				fprintf(stderr, "kvmm: sandbox: cannot filter the main thread: %s\n",
					strerror(-rc));
				machine_destroy(l.m);
				status = EXIT_OSERR;
				break;
			}
			main_sandboxed = true;
		}
		vmctl_set_machine(&l.ctl, l.m);
		why = run_machine(&l, &o);
		vmctl_set_machine(&l.ctl, NULL);
		status = l.m->stop_status;
		machine_destroy(l.m);
		l.m = NULL;
		l.hard_stop_at = 0;
		/* A reboot after a restore is a cold boot of the snapshot's kernel. */
		o.mc.restore = NULL;
		run_emit_stop(&l, why);
		if (why == MACHINE_RESET && !o.no_reboot && !l.signal_status) {
			log_info("run", "guest reset: rebooting");
			continue;
		}
		switch (why) {
		case MACHINE_DEBUG_EXIT:
			status &= 0xff;
			break;
		case MACHINE_CRASH:
			status = EXIT_GUEST_CRASH;
			break;
		case MACHINE_QUIT:
			status = l.signal_status;
			break;
		case MACHINE_ERROR:
			status = EXIT_SOFTWARE;
			break;
		default:
			status = 0;
		}
		break;
	}
	console_raw_leave();
	if (l.sig_fd >= 0)
		close(l.sig_fd);
out:
	vmctl_close(&l.ctl);
	qmp_server_destroy(qmp);
	vmctl_destroy(&l.ctl);
	run_close_disks(&o);
	if (snap)
		vmsnap_close(snap, &o.mc);
	kvm_close(&kvm);
	return status;
}
