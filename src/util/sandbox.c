/* SPDX-License-Identifier: MIT */
/*
 * seccomp filters per thread role; see sandbox.h and docs/security.md.
 * The allow lists are the tables below: one line per system call a role may
 * make, with the argument condition checked in the filter and why it is
 * needed. libseccomp compiles each role's list once, in sandbox_init, into a
 * BPF program (seccomp(2), SECCOMP_SET_MODE_FILTER) that sandbox_apply loads
 * on the calling thread only; a vCPU thread starts cheaply at every boot.
 *
 * A forbidden call hits SECCOMP_RET_TRAP: the SIGSYS handler writes one line
 * naming the thread's role, the call and its first arguments, and the
 * process dies of SIGSYS, as with seccomp's kill action. The handler can use
 * only what was prepared before: the names of the system calls (a table filled
 * at init) and the role in a thread-local variable.
 *
 * Process-wide state (the programs, that table, the SIGSYS handler) because
 * signal dispositions are process-wide; written by sandbox_init before any
 * other thread exists, only read afterwards.
 */
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "util/log.h"

/* Sanitizer runtimes (ASan, LSan, UBSan) make system calls of their own. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer) ||                           \
    __has_feature(undefined_behavior_sanitizer) || __has_feature(thread_sanitizer) ||              \
    __has_feature(memory_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif
#if SANDBOX_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

#define M   (1u << SANDBOX_MAIN)
#define V   (1u << SANDBOX_VCPU)
#define C   (1u << SANDBOX_CONTROL)
#define I   (1u << SANDBOX_IO)
#define D   (1u << SANDBOX_DISK)
#define ALL (M | V | C | I | D)

#define OWN_PID UINT64_MAX /* a condition's value: this process's pid */

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a SIGSYS from seccomp (asm-generic/siginfo.h) */
#endif

/* The SIGSYS handler's way out, killing the process as seccomp's kill action
 * does: a call Linux never implemented, so nothing else ever makes it. */
#define SANDBOX_KILL_SWITCH SYS_tuxcall

enum { SR_PLAIN = 1, SR_SANITIZER = 2 }; /* rule only in plain / sanitizer builds */

struct sandbox_cond {
	int arg; /* -1: none */
	enum scmp_compare op;
	uint64_t mask, value; /* mask only for SCMP_CMP_MASKED_EQ */
};

struct sandbox_rule {
	const char *name;
	int nr;
	unsigned roles;
	int err; /* 0: allow; else the call fails with this errno instead of killing */
	unsigned flags;
	struct sandbox_cond cond[2];
	const char *when; /* the condition in words */
	const char *why;
};

#define NOCOND {{-1, 0, 0, 0}, {-1, 0, 0, 0}}
#define COND1(a, op, m, v) {{a, op, m, v}, {-1, 0, 0, 0}}
#define NOEXEC COND1(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)
#define RULE(sys, roles, cond, when, why) {#sys, SCMP_SYS(sys), roles, 0, 0, cond, when, why}
#define ANY(sys, roles, why)              RULE(sys, roles, NOCOND, "", why)

static const struct sandbox_rule sandbox_rules[] = {
	/* Every thread: the C library, locks, logging, memory, kicks. */
	ANY(write, ALL, "guest console output (UART), log lines, eventfd wake-ups"),
	ANY(futex, ALL, "mutexes, condition variables, pthread_join"),
	ANY(rt_sigprocmask, ALL, "pthread signal masks, raise()"),
	ANY(rt_sigreturn, ALL, "return from the vCPU kick (SIGUSR1) handler"),
	ANY(getpid, ALL, "pthread_kill, raise"),
	ANY(gettid, ALL, "pthread_kill, raise, query-cpus-fast"),
	RULE(tgkill, ALL, COND1(0, SCMP_CMP_EQ, 0, OWN_PID), "to this process only",
	     "kicking vCPUs out of KVM_RUN (pthread_kill), raise"),
	ANY(exit, ALL, "thread exit"),
	ANY(exit_group, ALL, "process exit"),
	ANY(clock_gettime, ALL, "RTC, ACPI PM timer, timeouts (when the vDSO falls back)"),
	ANY(restart_syscall, ALL, "a call resumed after a signal"),
	ANY(brk, ALL, "malloc"),
	RULE(mmap, ALL, NOEXEC, "without PROT_EXEC", "malloc, thread stacks, guest RAM, kvm_run"),
	RULE(mprotect, ALL, NOEXEC, "without PROT_EXEC", "malloc arenas, thread stack guards"),
	ANY(munmap, ALL, "free, guest RAM and kernel files at a reboot"),
	ANY(mremap, ALL, "realloc of large blocks"),
	ANY(madvise, ALL, "free, thread exit, guest RAM (MADV_HUGEPAGE, MADV_DONTFORK)"),
	ANY(sched_getaffinity, ALL, "malloc sizing its arenas"),
	ANY(getrandom, ALL, "malloc, mkostemp, virtio-rng"),
	ANY(ioctl, ALL, "only the requests listed for the role (below)"),

	/* vCPU threads: nothing else. glibc's malloc may read
	 * /proc/sys/vm/overcommit_memory the first time it shrinks a thread's
	 * heap and copes when it cannot, so open fails there instead of killing. */
	{"openat", SCMP_SYS(openat), V | I | D, EACCES, SR_PLAIN, NOCOND, "",
	 "fails with EACCES: files are out of reach (glibc's malloc may probe one)"},

	/* vCPU threads: the UART's output waits for room on stdout or for the
	 * machine's stop (run.c, run_console_out). */
	ANY(poll, V, "console output: room on stdout, or the machine's stop"),

	/* The I/O thread (machine/iothread.c): its epoll loop over queue
	 * notification eventfds. At a reboot it starts under main's filter. */
	ANY(epoll_wait, I | M, "the I/O thread's loop (main: started under its filter)"),
	ANY(epoll_pwait, I | M, "as epoll_wait, with C libraries that use it"),
	ANY(sched_yield, I | M, "the I/O thread's polling (--io-poll-max) lets waiting threads run"),
	ANY(read, I, "queue notification eventfds"),

	/* Disks (block/aio.c): requests are submitted from the thread that
	 * serves the queue (the I/O thread, or a vCPU on the exit path) and run
	 * by the disk's engine: an io_uring reaper, or pool workers making the
	 * blocking calls. Requests that finish inside their submission complete
	 * on the submitting thread, with no system call of their own; the rest
	 * of a short transfer is always left to the reaper. Completions
	 * interrupt the guest (ioctls below). */
	ANY(io_uring_enter, M | V | I | D,
	    "disk requests to io_uring; the reaper waits; main: the stop NOP at exit"),
	ANY(preadv, D, "disk reads (thread-pool engine, short io_uring transfers)"),
	ANY(pwritev, D, "disk writes (thread-pool engine, short io_uring transfers)"),
	ANY(fdatasync, D, "FLUSH (thread-pool engine)"),
	ANY(fallocate, D, "DISCARD and WRITE_ZEROES: punch holes, zero ranges"),
	ANY(clock_nanosleep, D, "the reaper's back-off after an unexpected io_uring error"),
	ANY(nanosleep, D, "as clock_nanosleep, with older C libraries"),

	/* The control thread: the QMP socket and snapshot files. */
	ANY(read, C, "the wake-up eventfd"),
	ANY(poll, C, "clients, the listening socket, the wake-up eventfd"),
	ANY(accept4, C, "new clients"),
	ANY(recvfrom, C, "requests"),
	RULE(sendto, C | M, COND1(4, SCMP_CMP_EQ, 0, 0), "to the connected peer only",
	     "replies and events (main: the last events at exit)"),
	ANY(close, C, "clients, snapshot files"),
	ANY(openat, C, "snapshot-save: temporary file (mkostemp), its directory for fsync"),
	ANY(newfstatat, C | M, "snapshot destination check; main: kernel size, socket at exit"),
	ANY(fstat, C | M, "as newfstatat, with older C libraries"),
	ANY(pwrite64, C, "snapshot contents"),
	ANY(fdatasync, C, "snapshot durable before its rename"),
	ANY(fsync, C, "snapshot directory after the rename"),
	ANY(rename, C, "snapshot into place"),
	ANY(unlink, C | M, "failed snapshot's temporary file; main: the control socket at exit"),

	/* The main thread: console and signals, and a new machine at each reboot. */
	ANY(read, M, "console input (stdin), the signalfd"),
	ANY(poll, M, "stop eventfd, signalfd, stdin"),
	ANY(close, M, "the old machine's descriptors at a reboot, kernel files"),
	RULE(openat, M, COND1(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	     "read-only, no O_CREAT or O_TRUNC", "kernel and initrd at a reboot; jansson's seed"),
	ANY(eventfd2, M, "each machine's stop eventfd, I/O thread and queue notification eventfds"),
	ANY(epoll_create1, M, "each machine's I/O thread"),
	ANY(epoll_ctl, M, "devices register their eventfds with the I/O thread"),
	{"clone", SCMP_SYS(clone), M, 0, SR_PLAIN,
	 COND1(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD), "threads only (CLONE_THREAD)",
	 "vCPU threads at a reboot"},
	{"clone3", SCMP_SYS(clone3), M, ENOSYS, 0, NOCOND, "",
	 "fails with ENOSYS so that glibc uses clone, whose flags a filter can check"},
	ANY(set_robust_list, M, "start of a new vCPU thread (inherits this filter)"),
	ANY(rseq, M, "start of a new vCPU thread"),
	RULE(prctl, M, COND1(0, SCMP_CMP_EQ, 0, PR_SET_NAME), "PR_SET_NAME",
	     "a new vCPU thread names itself"),
	RULE(prctl, M, COND1(0, SCMP_CMP_EQ, 0, PR_SET_NO_NEW_PRIVS), "PR_SET_NO_NEW_PRIVS",
	     "a new vCPU thread installs its filter"),
	{"seccomp", SCMP_SYS(seccomp), M, 0, 0,
	 {{0, SCMP_CMP_EQ, 0, SECCOMP_SET_MODE_FILTER}, {1, SCMP_CMP_EQ, 0, 0}},
	 "SECCOMP_SET_MODE_FILTER, no flags", "a new vCPU thread installs its filter"},

	/* Sanitizer builds only: the runtime's error reports (/proc/self/maps)
	 * and LeakSanitizer's exit-time check, whose tracer thread (a clone
	 * without CLONE_THREAD) ptrace()s the others. Its llvm-symbolizer child
	 * is started in sandbox_init, before any filter. */
#define SAN(sys, why) {#sys, SCMP_SYS(sys), ALL, 0, SR_SANITIZER, NOCOND, "", why}
	SAN(sigaltstack, "each thread's signal stack"),
	SAN(open, "/proc/self/maps, /proc/self/task"),
	SAN(openat, "/proc/self/maps"),
	SAN(read, "reports, the symbolizer's pipe"),
	SAN(lseek, "reading /proc files"),
	SAN(close, "reports"),
	SAN(getdents, "LeakSanitizer lists threads"),
	SAN(getdents64, "LeakSanitizer lists threads"),
	SAN(sched_yield, "LeakSanitizer"),
	SAN(prctl, "LeakSanitizer: PR_SET_PTRACER, PR_SET_PDEATHSIG, dumpable"),
	SAN(rt_sigaction, "LeakSanitizer's tracer"),
	SAN(clone, "LeakSanitizer's tracer"),
	SAN(ptrace, "LeakSanitizer stops the other threads"),
	SAN(wait4, "LeakSanitizer's tracer"),
	SAN(getppid, "LeakSanitizer's tracer"),
#undef SAN
};

struct sandbox_ioctl {
	const char *name;
	unsigned long req;
	unsigned roles;
};

#define IOC(req, roles) {#req, req, roles}

/* ioctl requests per role. Main holds everything the vCPU threads need too:
 * those of later boots start under main's filter and add their own. */
static const struct sandbox_ioctl sandbox_ioctls[] = {
	/* The vCPU run loop, device interrupts, the crash dump. */
	IOC(KVM_RUN, M | V),
	IOC(KVM_IRQ_LINE, M | V | I | D),
	IOC(KVM_SIGNAL_MSI, M | V | I | D),
	/* virtio-pci notify addresses follow the BAR as the guest moves it. */
	IOC(KVM_IOEVENTFD, M | V),
	IOC(KVM_GET_REGS, M | V),
	IOC(KVM_GET_SREGS, M | V),
	IOC(KVM_TRANSLATE, M | V),
	/* Snapshot state, read on the parked vCPU's own thread (vmstate.c). */
	IOC(KVM_GET_MP_STATE, M | V),
	IOC(KVM_GET_SREGS2, M | V),
	IOC(KVM_GET_FPU, M | V),
	IOC(KVM_GET_DEBUGREGS, M | V),
	IOC(KVM_GET_XSAVE2, M | V),
	IOC(KVM_GET_XCRS, M | V),
	IOC(KVM_GET_LAPIC, M | V),
	IOC(KVM_GET_MSR_INDEX_LIST, M | V),
	IOC(KVM_GET_MSRS, M | V),
	IOC(KVM_GET_VCPU_EVENTS, M | V),
	IOC(KVM_CHECK_EXTENSION, M | V),
	/* Pause/resume and the VM-wide snapshot state (control thread). */
	IOC(KVM_GET_CLOCK, C),
	IOC(KVM_SET_CLOCK, C),
	IOC(KVM_GET_IRQCHIP, M | C),
	IOC(KVM_GET_PIT2, C),
	/* A new machine at a reboot (machine.c, vcpu.c, kvm.c). */
	IOC(KVM_CREATE_VM, M),
	IOC(KVM_SET_USER_MEMORY_REGION, M),
	IOC(KVM_SET_IDENTITY_MAP_ADDR, M),
	IOC(KVM_SET_TSS_ADDR, M),
	IOC(KVM_CREATE_IRQCHIP, M),
	IOC(KVM_SET_GSI_ROUTING, M),
	IOC(KVM_SET_IRQCHIP, M),
	IOC(KVM_CREATE_PIT2, M),
	IOC(KVM_CREATE_VCPU, M),
	IOC(KVM_SET_CPUID2, M),
	IOC(KVM_SET_MSRS, M),
	IOC(KVM_SET_LAPIC, M),
	IOC(KVM_SET_SREGS, M),
	IOC(KVM_SET_REGS, M),
	IOC(KVM_SET_FPU, M),
	/* Terminal restore at exit and on fatal signals: glibc's tcsetattr
	 * (TCSAFLUSH) reads the settings back. Sanitizer reports: isatty. */
	IOC(TCSETSF, ALL),
	IOC(TCGETS, ALL),
	/* --console virtio: hvc0 follows the terminal's size (SIGWINCH, run.c). */
	IOC(TIOCGWINSZ, M),
};

#define NRULES	(sizeof(sandbox_rules) / sizeof(sandbox_rules[0]))
#define NIOCTLS (sizeof(sandbox_ioctls) / sizeof(sandbox_ioctls[0]))
#define MAX_NR	512 /* above every x86-64 system call number */

static const char *const role_names[SANDBOX_NR_ROLES] = {"main", "vcpu", "control", "io", "disk"};

static struct sock_fprog sandbox_progs[SANDBOX_NR_ROLES];
static bool sandbox_ready;
static int sandbox_selftest = -1; /* role that calls socket() after its filter */
static void (*sandbox_on_fatal)(void);
static char sandbox_names[MAX_NR][32];
static _Thread_local int sandbox_thread_role = -1;
static atomic_int sandbox_dying; /* a thread is reporting a forbidden call */

const char *sandbox_role_name(enum sandbox_role role)
{
	return (unsigned)role < SANDBOX_NR_ROLES ? role_names[role] : "?";
}

static bool rule_in_build(const struct sandbox_rule *r)
{
	return !(r->flags & (SANDBOX_SANITIZER ? SR_PLAIN : SR_SANITIZER));
}

/* --- the SIGSYS handler: async-signal-safe, no stdio, no malloc --- */

static size_t put_str(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n + 1 < cap)
		buf[n++] = *s++;
	return n;
}

static size_t put_num(char *buf, size_t n, size_t cap, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t k = 0;

	if (base == 16)
		n = put_str(buf, n, cap, "0x");
	do {
		tmp[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (k && n + 1 < cap)
		buf[n++] = tmp[--k];
	return n;
}

static void sandbox_sigsys(int sig, siginfo_t *si, void *ctx)
{
	int role = sandbox_thread_role, nr = si->si_syscall;
	char line[320];
	size_t n = 0;
	sigset_t set;

	if (si->si_code != SYS_SECCOMP)
		goto other; /* a SIGSYS from elsewhere (kill -SYS) */
	/* One line, from the first thread to trip; any other waits for the end. */
	if (atomic_exchange(&sandbox_dying, 1))
		for (;;)
			syscall(SYS_futex, &sandbox_dying, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
	n = put_str(line, n, sizeof(line), "kvmm: sandbox: thread ");
	n = put_str(line, n, sizeof(line), role >= 0 ? role_names[role] : "new (under main's filter)");
	n = put_str(line, n, sizeof(line), " (tid ");
	n = put_num(line, n, sizeof(line), (uint64_t)syscall(SYS_gettid), 10);
	n = put_str(line, n, sizeof(line), ") made forbidden system call ");
	n = put_str(line, n, sizeof(line),
		    nr >= 0 && nr < MAX_NR && sandbox_names[nr][0] ? sandbox_names[nr] : "?");
	n = put_str(line, n, sizeof(line), " (nr ");
	n = put_num(line, n, sizeof(line), (uint64_t)(unsigned)nr, 10);
#if defined(__x86_64__)
	{
		const greg_t *g = ((const ucontext_t *)ctx)->uc_mcontext.gregs;
		n = put_str(line, n, sizeof(line), ", arguments ");
		n = put_num(line, n, sizeof(line), (uint64_t)g[REG_RDI], 16);
		n = put_str(line, n, sizeof(line), " ");
		n = put_num(line, n, sizeof(line), (uint64_t)g[REG_RSI], 16);
		n = put_str(line, n, sizeof(line), " ");
		n = put_num(line, n, sizeof(line), (uint64_t)g[REG_RDX], 16);
	}
#else
	(void)ctx;
#endif
	n = put_str(line, n, sizeof(line), "); killed. Run with --sandbox off to debug.\n");
	if (write(STDERR_FILENO, line, n) < 0)
		n = 0;
	if (sandbox_on_fatal)
		sandbox_on_fatal();
	/* Every filter turns this call into SECCOMP_RET_KILL_PROCESS. */
	syscall(SANDBOX_KILL_SWITCH);
other:
	/* Not filtered (or not from a filter): die of SIGSYS all the same. */
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	_exit(128 + sig);
}

/* --- building the filters --- */

static int add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *r, pid_t pid)
{
	struct scmp_arg_cmp cmp[2];
	unsigned n = 0;

	for (int i = 0; i < 2 && r->cond[i].arg >= 0; i++) {
		const struct sandbox_cond *c = &r->cond[i];
		uint64_t v = c->value == OWN_PID ? (uint64_t)pid : c->value;
		/* The values are ints, flags or unsigned int ioctl numbers, which
		 * the C library passes zero- or sign-extended to 64 bits. */
		cmp[n++] = c->op == SCMP_CMP_MASKED_EQ
				   ? (struct scmp_arg_cmp){(unsigned)c->arg, c->op, c->mask, v}
				   : (struct scmp_arg_cmp){(unsigned)c->arg, c->op, v, 0};
	}
	return seccomp_rule_add_array(ctx, r->err ? SCMP_ACT_ERRNO(r->err) : SCMP_ACT_ALLOW,
				      r->nr, n, cmp);
}

static int build_filter(enum sandbox_role role, pid_t pid, struct sock_fprog *out,
			const char **what)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	unsigned bit = 1u << role;
	int fd = -1, rc;
	off_t size;

	*what = "seccomp_init";
	if (!ctx)
		return -ENOMEM;
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SANDBOX_KILL_SWITCH, 0);
	if (!rc)
		/* A binary search over system call numbers, not a linear list. */
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < NRULES && !rc; i++) {
		const struct sandbox_rule *r = &sandbox_rules[i];
		if (!(r->roles & bit) || !rule_in_build(r) || !strcmp(r->name, "ioctl"))
			continue;
		*what = r->name;
		rc = add_rule(ctx, r, pid);
	}
	for (size_t i = 0; i < NIOCTLS && !rc; i++) {
		if (!(sandbox_ioctls[i].roles & bit))
			continue;
		*what = sandbox_ioctls[i].name;
		/* The kernel takes the request as an unsigned int. */
		struct scmp_arg_cmp req = {1, SCMP_CMP_EQ, (uint32_t)sandbox_ioctls[i].req, 0};
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &req);
	}
	if (rc)
		goto out;
	/* libseccomp writes the program to a file; take it from a memfd. */
	*what = "exporting the filter";
	fd = memfd_create("kvmm-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = seccomp_export_bpf(ctx, fd);
	if (rc)
		goto out;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc = -EINVAL;
		goto out;
	}
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	out->filter = malloc((size_t)size);
	if (!out->filter) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, out->filter, (size_t)size, 0) != size) {
		rc = errno ? -errno : -EIO;
		free(out->filter);
		out->filter = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

int sandbox_init(void (*on_fatal)(void), char *err, size_t errlen)
{
	static const uint32_t actions[] = {SECCOMP_RET_TRAP, SECCOMP_RET_KILL_PROCESS};
	struct sigaction sa = {.sa_sigaction = sandbox_sigsys};
	const char *what = "", *selftest = getenv("KVMM_SANDBOX_SELFTEST");
	pid_t pid = getpid();
	int rc;

	if (sandbox_ready)
		return 0;
	/* Fails without CONFIG_SECCOMP_FILTER (kill-process: Linux 4.14), or where a
	 * container forbids seccomp. */
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		uint32_t action = actions[i];
		if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0) {
			rc = -errno;
			snprintf(err, errlen, "this kernel offers no seccomp filters with %s: %s",
				 i ? "a kill-process action" : "a trap action", strerror(errno));
			return rc;
		}
	}
	for (int nr = 0; nr < MAX_NR; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name)
			snprintf(sandbox_names[nr], sizeof(sandbox_names[nr]), "%s", name);
		free(name);
	}
	for (int r = 0; r < SANDBOX_NR_ROLES; r++) {
		rc = build_filter((enum sandbox_role)r, pid, &sandbox_progs[r], &what);
		if (rc) {
			snprintf(err, errlen, "cannot build the %s threads' filter (%s): %s",
				 role_names[r], what, strerror(-rc));
			while (r-- > 0) {
				free(sandbox_progs[r].filter);
				sandbox_progs[r].filter = NULL;
			}
			return rc;
		}
	}
	sandbox_on_fatal = on_fatal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		rc = -errno;
		snprintf(err, errlen, "sigaction SIGSYS: %s", strerror(errno));
		return rc;
	}
#if SANDBOX_SANITIZER
	{
		/* Starts the runtime's llvm-symbolizer now: filtered threads could
		 * not exec it, but they can talk to a running one. */
		char buf[128];
		__sanitizer_symbolize_pc((void *)(uintptr_t)sandbox_init, "%p", buf, sizeof(buf));
	}
#endif
	for (int r = 0; selftest && r < SANDBOX_NR_ROLES; r++)
		if (!strcmp(selftest, role_names[r]))
			sandbox_selftest = r;
	sandbox_ready = true;
	if (log_get_level() >= LOG_INFO) {
		unsigned s[SANDBOX_NR_ROLES], io[SANDBOX_NR_ROLES];
		for (int r = 0; r < SANDBOX_NR_ROLES; r++)
			sandbox_count((enum sandbox_role)r, &s[r], &io[r]);
		log_info("sandbox",
			 "on: main %u system calls (%u ioctls), vcpu %u (%u), control %u (%u), "
			 "io %u (%u), disk %u (%u)%s",
			 s[0], io[0], s[1], io[1], s[2], io[2], s[3], io[3], s[4], io[4],
			 SANDBOX_SANITIZER ? ", plus the sanitizer's" : "");
	}
	return 0;
}

int sandbox_apply(enum sandbox_role role)
{
	if (!sandbox_ready)
		return 0;
	if ((unsigned)role >= SANDBOX_NR_ROLES)
		return -EINVAL;
	sandbox_thread_role = (int)role;
	/* Unprivileged filters need no_new_privs; it only stops set-uid gains. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sandbox_progs[role]) < 0)
		return -errno;
	if (sandbox_selftest == (int)role) {
		/* Test only (sandbox.h): no role may create a socket. */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* --- the lists as documentation --- */

void sandbox_count(enum sandbox_role role, unsigned *syscalls, unsigned *ioctls)
{
	unsigned bit = 1u << role;

	*syscalls = *ioctls = 0;
	for (size_t i = 0; i < NRULES; i++) {
		const struct sandbox_rule *r = &sandbox_rules[i];
		bool seen = false;
		if (!(r->roles & bit) || r->err || (r->flags & SR_SANITIZER))
			continue;
		/* A call with several conditions (prctl) counts once. */
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(sandbox_rules[j].name, r->name) &&
			       (sandbox_rules[j].roles & bit) && !sandbox_rules[j].err &&
			       !(sandbox_rules[j].flags & SR_SANITIZER);
		*syscalls += !seen;
	}
	for (size_t i = 0; i < NIOCTLS; i++)
		*ioctls += !!(sandbox_ioctls[i].roles & bit);
}

void sandbox_print_lists(FILE *f)
{
	for (int role = 0; role < SANDBOX_NR_ROLES; role++) {
		unsigned bit = 1u << role, nsys, nio;
		const char *sep = "";

		sandbox_count((enum sandbox_role)role, &nsys, &nio);
		fprintf(f, "### %s: %u system calls, %u ioctl requests\n\n", role_names[role], nsys,
			nio);
		fprintf(f, "| system call | only when | needed for |\n|---|---|---|\n");
		for (size_t i = 0; i < NRULES; i++) {
			const struct sandbox_rule *r = &sandbox_rules[i];
			if ((r->roles & bit) && !(r->flags & SR_SANITIZER))
				fprintf(f, "| `%s` | %s | %s |\n", r->name,
					r->err ? "never: returns an error" : r->when, r->why);
		}
		fprintf(f, "\nioctl requests: ");
		for (size_t i = 0; i < NIOCTLS; i++) {
			if (sandbox_ioctls[i].roles & bit) {
				fprintf(f, "%s`%s`", sep, sandbox_ioctls[i].name);
				sep = ", ";
			}
		}
		fprintf(f, ".\n\n");
	}
	fprintf(f, "### sanitizer builds only, every role\n\n");
	for (size_t i = 0, n = 0; i < NRULES; i++)
		if (sandbox_rules[i].flags & SR_SANITIZER)
			fprintf(f, "%s`%s`", n++ ? ", " : "", sandbox_rules[i].name);
	fprintf(f, ".\n");
}
