/* SPDX-License-Identifier: MIT */
/*
 * kvmm run: boot one VM in the foreground, its serial console on the terminal.
 * Parses and validates the command line, then loops: build the machine, run it
 * until it stops, and on a guest reset build it again (unless --no-reboot).
 * Exit statuses are documented in run_usage() and docs/run.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "cli/cli.h"
#include "cli/run_opts.h"
#include "control/qmp.h"
#include "control/vmctl.h"
#include "machine/console.h"
#include "machine/machine.h"
#include "machine/vcpu.h"
#include "state/vmsnap.h"
#include "util/log.h"
#include "util/sandbox.h"


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
	/*
	 * Input for the guest that its console did not take yet, offered again
	 * first. stdin is read while there is room here, so that Ctrl-A x works
	 * also while the guest reads nothing.
	 */
	uint8_t pend[256];
	size_t pend_len;
	/* hvc0 output (--console virtio): where to, how much per write, and whether it is gone. */
	int out_fd;
	size_t out_chunk;
	bool out_dead;
	int64_t hard_stop_at; /* ms on the monotonic clock; 0 = none */
	int signal_status;    /* 128+signal when a signal stopped the VM */
};

/* Offers the held-back input to the guest's console; what it does not take stays. */
static void run_flush_input(struct run_loop *l)
{
	size_t n;

	if (!l->pend_len)
		return;
	n = machine_console_input(l->m, l->pend, l->pend_len);
	memmove(l->pend, l->pend + n, l->pend_len - n);
	l->pend_len -= n;
}

static void run_handle_stdin(struct run_loop *l)
{
	uint8_t in[sizeof(l->pend)];
	size_t off = 0;
	ssize_t n;

	/* The escape parser never makes more bytes than it is fed: they fit in pend. */
	n = read(STDIN_FILENO, in, sizeof(l->pend) - l->pend_len);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			l->stdin_open = false; /* EOF: the guest just gets no more input */
		return;
	}
	while (off < (size_t)n) {
		size_t out_len = 0, used = 0;
		enum console_action a = console_esc_feed(&l->esc, in + off, (size_t)n - off,
							 l->pend + l->pend_len, &out_len, &used);
		l->pend_len += out_len;
		off += used;
		if (a == CONSOLE_QUIT) {
			machine_request_stop(l->m, MACHINE_QUIT, 0);
			return;
		}
		if (a == CONSOLE_HELP)
			run_console_out(NULL, (const uint8_t *)console_help_text,
					strlen(console_help_text));
	}
	run_flush_input(l);
}

/*
 * hvc0's output is written by the main loop, which must never block on it (it
 * also serves signals, stdin and Ctrl-A x). A pipe or terminal on stdout is
 * opened again as a file description of our own with O_NONBLOCK (setting the
 * flag on fd 1 would change it for everyone who shares that description); a
 * regular file does not block for long; anything else (a socket) gets one byte
 * per POLLOUT, which is all that poll promises. Called before the sandbox.
 */
static void run_console_open_output(struct run_loop *l)
{
	struct stat st;
	int fd;

	l->out_fd = STDOUT_FILENO;
	l->out_chunk = 1;
	if (fstat(STDOUT_FILENO, &st) < 0)
		return;
	if (S_ISREG(st.st_mode)) {
		l->out_chunk = SIZE_MAX;
	} else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			l->out_fd = fd;
			l->out_chunk = SIZE_MAX;
		}
	}
}

/* Writes what hvc0 has pending, as much as stdout takes without blocking. */
static void run_console_write(struct run_loop *l, const uint8_t *p, size_t n)
{
	ssize_t w = write(l->out_fd, p, n < l->out_chunk ? n : l->out_chunk);

	if (w > 0)
		machine_console_output_done(l->m, (size_t)w);
	else if (w < 0 && errno != EAGAIN && errno != EINTR)
		l->out_dead = true; /* stdout gone: as with the UART, output is dropped */
}

/*
 * After the machine stopped: hvc0's last output (a guest's goodbye right
 * before it powers off) still goes out, as far as stdout takes it within a
 * second.
 */
static void run_console_flush(struct run_loop *l)
{
	int64_t end = now_ms() + 1000;
	const uint8_t *p;
	size_t n;

	while (!l->out_dead && (n = machine_console_output(l->m, &p)) > 0) {
		struct pollfd pfd = {.fd = l->out_fd, .events = POLLOUT};
		int64_t left = end - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		run_console_write(l, p, n);
	}
}

/* The terminal's size for hvc0, if stdout is one (TIOCGWINSZ); unchanged if not. */
static void run_console_size(struct machine_config *mc)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		mc->console_cols = ws.ws_col;
		mc->console_rows = ws.ws_row;
	}
}

static void run_handle_signal(struct run_loop *l, struct run_options *o)
{
	struct signalfd_siginfo si;

	if (read(l->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		/* Kept in the config: a reboot starts with the new size too. */
		run_console_size(&o->mc);
		machine_console_resize(l->m, o->mc.console_cols, o->mc.console_rows);
		return;
	}
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
 * --restore: the snapshot's disks become the machine's, each opened from the
 * path it recorded or from the --disk given in its place (given: how many;
 * all or none). readonly, serial and queues are the snapshot's, so the guest
 * finds the disks it had. Returns 0, or an exit status with the reason printed.
 */
static int run_restore_disks(struct run_options *o, const struct vmsnap_disk *sd, int n, int given)
{
	if (given && given != n) {
		fprintf(stderr,
			"kvmm run: --restore %s: the snapshot has %d disk%s, but --disk was given "
			"%d time%s (once per disk, in order, or not at all)\n",
			o->restore_path, n, n == 1 ? "" : "s", given, given == 1 ? "" : "s");
		return EXIT_USAGE;
	}
	for (int i = 0; i < n; i++) {
		struct run_disk *d = &o->disks[i];

		if (!given)
			d->path = sd[i].path;
		d->readonly = sd[i].readonly;
		snprintf(d->serial, sizeof(d->serial), "%s", sd[i].serial);
		o->mc.disks[i].serial = d->serial[0] ? d->serial : NULL;
		o->mc.disks[i].queues = sd[i].queues;
	}
	o->mc.ndisks = n;
	return 0;
}

/*
 * Opens (and locks) every --disk image once for the life of the process, so
 * that a guest reboot keeps its disks and a bad image is reported before the
 * guest starts. With a snapshot (sd), each image must still have the size it
 * had. Returns 0, or an exit status with the reason printed.
 */
static int run_open_disks(struct run_options *o, const struct vmsnap_disk *sd)
{
	char err[512];

	for (int i = 0; i < o->mc.ndisks; i++) {
		o->mc.disks[i].dev = block_open(o->disks[i].path, o->disks[i].readonly, err,
						sizeof(err));
		if (!o->mc.disks[i].dev) {
			fprintf(stderr, "kvmm: %s\n", err);
			return EXIT_NOINPUT;
		}
		/* Snapshots record where the image is, wherever the restore runs from. */
		o->mc.disks[i].path = realpath(o->disks[i].path, NULL);
		if (sd && block_size(o->mc.disks[i].dev) != sd[i].size) {
			fprintf(stderr,
				"kvmm: snapshot %s: disk %d (%s) is %" PRIu64
				" bytes, but it was %" PRIu64
				" bytes when the snapshot was saved: not the same image\n",
				o->restore_path, i, o->disks[i].path,
				block_size(o->mc.disks[i].dev), sd[i].size);
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
		free((char *)o->mc.disks[i].path);
		o->mc.disks[i].path = NULL;
	}
}

/* Runs the machine until it stops; returns why. */
static enum machine_stop run_machine(struct run_loop *l, struct run_options *o)
{
	while (atomic_load(&l->m->stop) == MACHINE_RUNNING) {
		struct pollfd p[5] = {
			{.fd = l->m->stop_fd, .events = POLLIN},
			{.fd = l->sig_fd, .events = POLLIN},
		};
		int nfds = 2, timeout = -1, in = -1, ev = -1, out = -1;
		int cfd = machine_console_fd(l->m);
		const uint8_t *data = NULL;
		size_t pending = machine_console_output(l->m, &data);

		if (cfd >= 0) {
			ev = nfds;
			p[nfds++] = (struct pollfd){.fd = cfd, .events = POLLIN};
		}
		if (pending && l->out_dead) {
			/* Nobody reads stdout any more: drop a buffer's worth, look again. */
			machine_console_output_done(l->m, pending);
			timeout = 0;
		} else if (pending) {
			out = nfds;
			p[nfds++] = (struct pollfd){.fd = l->out_fd, .events = POLLOUT};
		}
		if (!machine_is_paused(l->m)) {
			run_flush_input(l); /* also after stdin's end: input read is delivered */
			if (l->stdin_open && l->pend_len < sizeof(l->pend)) {
				in = nfds;
				p[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
			}
			/* The UART has no event for room: look again shortly. */
			if (l->pend_len && cfd < 0 && timeout < 0)
				timeout = 10;
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
		if (ev >= 0 && (p[ev].revents & POLLIN)) {
			uint64_t v;

			/* Cleared before the next look at output and input: no event lost. */
			if (read(cfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("run", "hvc0 event: %s", strerror(errno));
		}
		if (out >= 0 && (p[out].revents & (POLLOUT | POLLERR | POLLHUP)))
			run_console_write(l, data, pending);
		if (in >= 0 && (p[in].revents & (POLLIN | POLLHUP | POLLERR)))
			run_handle_stdin(l);
	}
	run_console_flush(l);
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
	struct vmsnap_disk *snap_disks = NULL;
	int snap_ndisks = 0, given;
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

	/* First, since the snapshot says which devices (and signals: SIGWINCH) there are. */
	if (o.restore_path) {
		snap_disks = calloc(MACHINE_MAX_DISKS, sizeof(*snap_disks));
		if (!snap_disks) {
			fprintf(stderr, "kvmm: out of memory\n");
			return EXIT_OSERR;
		}
		given = o.mc.ndisks;
		snap =
		    vmsnap_open(o.restore_path, &o.mc, snap_disks, &snap_ndisks, err, sizeof(err));
		if (!snap) {
			fprintf(stderr, "kvmm: %s\n", err);
			free(snap_disks);
			return EXIT_NOINPUT;
		}
		status = run_restore_disks(&o, snap_disks, snap_ndisks, given);
		if (status)
			goto out_snap;
	}
	if (kvm_open(&kvm, o.kvm_path, err, sizeof(err))) {
		fprintf(stderr, "kvmm: %s\n", err);
		status = EXIT_UNAVAILABLE;
		goto out_snap;
	}
	if (o.mc.ncpus > kvm.max_vcpus) {
		fprintf(stderr, "kvmm run: --cpus %d: this host's KVM allows at most %d vCPUs\n",
			o.mc.ncpus, kvm.max_vcpus);
		kvm_close(&kvm);
		status = EXIT_USAGE;
		goto out_snap;
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
	if (o.mc.console == MACHINE_CONSOLE_VIRTIO)
		sigaddset(&sigs, SIGWINCH); /* hvc0 follows the terminal's size */
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread exists: they each install their filter at start. */
	if (o.no_sandbox) {
		log_info("run", "--sandbox off: no system call filters");
	} else if (sandbox_init(console_raw_leave, err, sizeof(err))) {
		fprintf(stderr, "kvmm: sandbox: %s (--sandbox off runs without filters)\n", err);
		kvm_close(&kvm);
		status = EXIT_OSERR;
		goto out_snap;
	}
	status = run_open_disks(&o, snap ? snap_disks : NULL);
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
	l.out_fd = STDOUT_FILENO;
	if (o.mc.console == MACHINE_CONSOLE_VIRTIO) {
		run_console_open_output(&l);
		run_console_size(&o.mc);
	}

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
	if (l.out_fd != STDOUT_FILENO)
		close(l.out_fd);
out:
	vmctl_close(&l.ctl);
	qmp_server_destroy(qmp);
	vmctl_destroy(&l.ctl);
	run_close_disks(&o);
	kvm_close(&kvm);
out_snap:
	if (snap)
		vmsnap_close(snap, &o.mc);
	free(snap_disks);
	return status;
}
