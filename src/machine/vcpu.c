/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads and the KVM_RUN exit loop (api.rst 4.10 KVM_RUN and 5. "The
 * kvm_run structure"). Port I/O and MMIO go to the bus; system events and
 * errors stop the machine with a reason. Stopping uses kvm_run.immediate_exit
 * plus a signal, so a kick can never be lost between a check and KVM_RUN.
 */
#include "machine/vcpu.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "machine/machine.h"
#include "util/log.h"
#include "util/sandbox.h"

#define VCPU_KICK_SIGNAL SIGUSR1

/* MSRs the firmware would set: MTRRs enabled, write-back default (SDM 11.11.2.1). */
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_MISC_ENABLE   0x1a0

/* LAPIC register offsets and LVT delivery modes (SDM vol. 3A 10.5.1). */
#define APIC_LVT0     0x350
#define APIC_LVT1     0x360
#define APIC_DM_EXTINT 0x700
#define APIC_DM_NMI    0x400

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_init_signals(void)
{
	struct sigaction sa = {.sa_handler = vcpu_kick_handler};

	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

static uint32_t lapic_get(const struct kvm_lapic_state *l, int reg)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], 4);
	return v;
}

static void lapic_set(struct kvm_lapic_state *l, int reg, uint32_t v)
{
	memcpy(&l->regs[reg], &v, 4);
}

/* Virtual-wire mode as a PC BIOS leaves it: LINT0 ExtINT (the PIC), LINT1 NMI. */
static int vcpu_setup_lapic(struct vcpu *v)
{
	struct kvm_lapic_state l;
	int rc = kvm_vcpu_get_lapic(v->fd, &l);

	if (rc)
		return rc;
	lapic_set(&l, APIC_LVT0, (lapic_get(&l, APIC_LVT0) & ~0x700u & ~0x10000u) | APIC_DM_EXTINT);
	lapic_set(&l, APIC_LVT1, (lapic_get(&l, APIC_LVT1) & ~0x700u & ~0x10000u) | APIC_DM_NMI);
	return kvm_vcpu_set_lapic(v->fd, &l);
}

static int vcpu_setup_cpuid(struct vcpu *v)
{
	const struct kvm_cpuid2 *sup = v->m->kvm->supported_cpuid;
	int max = (int)sup->nent + 64, n, rc;
	struct kvm_cpuid_entry2 *out = calloc((size_t)max, sizeof(*out));

	if (!out)
		return -ENOMEM;
	n = cpuid_build(sup->entries, (int)sup->nent, (int)v->id, v->m->ncpus, out, max);
	rc = n < 0 ? n : kvm_vcpu_set_cpuid(v->fd, out, n);
	free(out);
	return rc;
}

struct vcpu *vcpu_create(struct machine *m, unsigned id)
{
	static const uint32_t msr_index[] = {MSR_MTRR_DEF_TYPE, MSR_MISC_ENABLE};
	static const uint64_t msr_value[] = {(1u << 11) | 6, 1 /* fast strings */};
	struct vcpu *v = calloc(1, sizeof(*v));
	int rc;

	if (!v)
		return NULL;
	v->m = m;
	v->id = id;
	v->fd = kvm_vcpu_create(m->vm_fd, id);
	if (v->fd < 0) {
		rc = v->fd;
		goto fail;
	}
	v->run = kvm_vcpu_map_run(m->kvm, v->fd);
	if (!v->run) {
		rc = -errno;
		goto fail;
	}
	rc = vcpu_setup_cpuid(v);
	if (rc) {
		log_err("vcpu", "vcpu%u: KVM_SET_CPUID2 failed: %s", id, strerror(-rc));
		goto fail;
	}
	rc = kvm_vcpu_set_msrs(v->fd, msr_index, msr_value, 2);
	if (rc)
		log_warn("vcpu", "vcpu%u: initial MSRs not accepted: %s", id, strerror(-rc));
	rc = vcpu_setup_lapic(v);
	if (rc) {
		log_err("vcpu", "vcpu%u: LAPIC setup failed: %s", id, strerror(-rc));
		goto fail;
	}
	return v;
fail:
	vcpu_destroy(v);
	errno = -rc;
	return NULL;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	kvm_vcpu_unmap_run(v->m->kvm, v->run);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	bool is_write = r->io.direction == KVM_EXIT_IO_OUT;

	/* String I/O (rep ins/outs) arrives as count back-to-back items. */
	for (uint32_t i = 0; i < r->io.count; i++, data += r->io.size)
		bus_access(&v->m->bus, BUS_PIO, r->io.port, data, r->io.size, is_write);
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *r = v->run;

	if (r->mmio.len > sizeof(r->mmio.data))
		return;
	bus_access(&v->m->bus, BUS_MMIO, r->mmio.phys_addr, r->mmio.data, r->mmio.len,
		   r->mmio.is_write);
}

static void vcpu_dump_segment(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "%-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u db=%u l=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->db, s->l, s->g);
}

void vcpu_dump(struct vcpu *v, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	uint8_t code[16];
	uint64_t gpa;
	char line[128];
	size_t n = 0;
	FILE *f = stderr;

	flockfile(f);
	fprintf(f, "kvmm: vcpu%u: guest crash: %s\n", v->id, why);
	if (kvm_vcpu_get_regs(v->fd, &r) || kvm_vcpu_get_sregs(v->fd, &s)) {
		fprintf(f, "kvmm: vcpu%u: registers unavailable\n", v->id);
		funlockfile(f);
		return;
	}
	fprintf(f,
		"RIP=%016llx RFLAGS=%016llx\n"
		"RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
		"RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
		"R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
		"R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n",
		r.rip, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
		r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
	fprintf(f, "CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx\nEFER=%016llx APIC_BASE=%016llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.apic_base);
	vcpu_dump_segment(f, "CS", &s.cs);
	vcpu_dump_segment(f, "SS", &s.ss);
	vcpu_dump_segment(f, "DS", &s.ds);
	vcpu_dump_segment(f, "TR", &s.tr);
	fprintf(f, "GDT=%016llx/%04x IDT=%016llx/%04x\n", s.gdt.base, s.gdt.limit, s.idt.base,
		s.idt.limit);
	/* The bytes at CS:RIP, read through the guest's own translation. */
	if (kvm_vcpu_translate(v->fd, s.cs.base + r.rip, &gpa) == 0 &&
	    gmem_read(&v->m->mem, gpa, code, sizeof(code)) == 0) {
		for (size_t i = 0; i < sizeof(code); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %02x", code[i]);
		fprintf(f, "code at RIP (gpa %016" PRIx64 "):%s\n", gpa, line);
	} else {
		fprintf(f, "code at RIP: not readable\n");
	}
	funlockfile(f);
}

static const char *internal_error_name(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "KVM internal error: instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "KVM internal error: exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "KVM internal error: event delivery failed";
	default:
		return "KVM internal error";
	}
}

/* Handles one exit; returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	struct machine *m = v->m;
	char why[160];

	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_dump(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		machine_request_stop(m, MACHINE_CRASH, 0);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (r->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			machine_request_stop(m, MACHINE_POWEROFF, 0);
			return false;
		case KVM_SYSTEM_EVENT_RESET:
			machine_request_stop(m, MACHINE_RESET, 0);
			return false;
		default:
			snprintf(why, sizeof(why), "system event %u", r->system_event.type);
			vcpu_dump(v, why);
			machine_request_stop(m, MACHINE_CRASH, 0);
			return false;
		}
	case KVM_EXIT_INTERNAL_ERROR: {
		int n = snprintf(why, sizeof(why), "%s (suberror %u",
				 internal_error_name(r->internal.suberror), r->internal.suberror);
		for (uint32_t i = 0; i < r->internal.ndata && i < 4 && n > 0 &&
				     (size_t)n < sizeof(why);
		     i++)
			n += snprintf(why + n, sizeof(why) - (size_t)n, " 0x%llx",
				      (unsigned long long)r->internal.data[i]);
		if (n > 0 && (size_t)n < sizeof(why))
			snprintf(why + n, sizeof(why) - (size_t)n, ")");
		vcpu_dump(v, why);
		machine_request_stop(m, MACHINE_CRASH, 0);
		return false;
	}
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
		vcpu_dump(v, why);
		machine_request_stop(m, MACHINE_CRASH, 0);
		return false;
	default:
		snprintf(why, sizeof(why), "unexpected KVM exit reason %u", r->exit_reason);
		vcpu_dump(v, why);
		machine_request_stop(m, MACHINE_CRASH, 0);
		return false;
	}
}

/*
 * Parks the vCPU while a pause is requested. Called only after KVM_RUN
 * returned EINTR, so any port or MMIO access has been completed by KVM and the
 * vCPU sits at an instruction boundary with consistent state (api.rst section 5).
 */
static void vcpu_park(struct vcpu *v)
{
	struct machine *m = v->m;

	pthread_mutex_lock(&m->pause_lock);
	m->nr_parked++;
	pthread_cond_broadcast(&m->pause_cond);
	while (m->pause_requested && atomic_load(&m->stop) == MACHINE_RUNNING) {
		if (v->work) {
			v->work_rc = v->work(v, v->work_arg);
			v->work = NULL;
			pthread_cond_broadcast(&m->pause_cond);
			continue;
		}
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	}
	m->nr_parked--;
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

int vcpu_run_on(struct vcpu *v, int (*fn)(struct vcpu *v, void *arg), void *arg)
{
	struct machine *m = v->m;
	int rc;

	pthread_mutex_lock(&m->pause_lock);
	if (!m->pause_requested) {
		pthread_mutex_unlock(&m->pause_lock);
		return -EBUSY;
	}
	v->work_arg = arg;
	v->work = fn;
	pthread_cond_broadcast(&m->pause_cond);
	while (v->work && atomic_load(&m->stop) == MACHINE_RUNNING)
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	rc = v->work ? -ECANCELED : v->work_rc;
	v->work = NULL;
	pthread_mutex_unlock(&m->pause_lock);
	return rc;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct machine *m = v->m;
	char name[16];
	sigset_t set;
	int rc;

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	v->tid = gettid();
	rc = sandbox_apply(SANDBOX_VCPU);
	if (rc) {
		log_err(name, "cannot install the sandbox's system call filter: %s", strerror(-rc));
		machine_request_stop(m, MACHINE_ERROR, 0);
		return NULL;
	}

	while (atomic_load(&m->stop) == MACHINE_RUNNING) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				if (atomic_load(&m->pause_requested))
					vcpu_park(v);
				continue;
			}
			log_err(name, "KVM_RUN failed: %s", strerror(errno));
			machine_request_stop(m, MACHINE_ERROR, 0);
			break;
		}
		if (!vcpu_handle_exit(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	sigset_t set, old;
	int rc;

	/* The thread starts with the kick signal blocked and unblocks it itself. */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started) {
		pthread_join(v->thread, NULL);
		v->started = false;
	}
}
