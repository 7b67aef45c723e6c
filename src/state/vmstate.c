/* SPDX-License-Identifier: MIT */
/* vCPU and VM state to and from snapshot sections; see vmstate.h. */
#include "state/vmstate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define VMSTATE_VCPU_VERSION 1
#define VMSTATE_VM_VERSION   1
#define VMSTATE_MAX_MSRS     512

/* Tags of the blobs inside a vCPU section; loading accepts them in any order. */
enum {
	TAG_REGS = 1,
	TAG_SREGS2,
	TAG_FPU,
	TAG_XSAVE,
	TAG_XCRS,
	TAG_LAPIC,
	TAG_EVENTS,
	TAG_MP_STATE,
	TAG_DEBUGREGS,
	TAG_MSRS,
	TAG_PIC_MASTER,
	TAG_PIC_SLAVE,
	TAG_IOAPIC,
	TAG_PIT2,
	TAG_CLOCK,
	TAG_END = 0xff,
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int rc;
	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc;
}

static void put_blob(struct state_buf *b, uint8_t tag, const void *p, uint32_t len)
{
	state_put_u8(b, tag);
	state_put_u32(b, len);
	state_put_bytes(b, p, len);
}

static int save_get(int fd, unsigned long req, struct state_buf *b, uint8_t tag, void *p,
		    uint32_t len)
{
	int rc = xioctl(fd, req, p);
	if (rc < 0)
		return rc;
	put_blob(b, tag, p, len);
	return 0;
}

/* The MSRs KVM can save for this vCPU: its index list, minus any it refuses to read. */
static int save_msrs(const struct kvm *k, int vcpu_fd, struct state_buf *b)
{
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + VMSTATE_MAX_MSRS * sizeof(uint32_t));
	struct kvm_msrs *one = calloc(1, sizeof(*one) + sizeof(struct kvm_msr_entry));
	struct state_buf msrs;
	uint32_t n = 0;
	int rc;

	state_buf_init(&msrs);
	if (!list || !one) {
		rc = -ENOMEM;
		goto out;
	}
	list->nmsrs = VMSTATE_MAX_MSRS;
	rc = xioctl(k->fd, KVM_GET_MSR_INDEX_LIST, list);
	if (rc < 0)
		goto out;
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		one->nmsrs = 1;
		one->entries[0] = (struct kvm_msr_entry){.index = list->indices[i]};
		if (xioctl(vcpu_fd, KVM_GET_MSRS, one) != 1)
			continue;
		state_put_u32(&msrs, one->entries[0].index);
		state_put_u64(&msrs, one->entries[0].data);
		n++;
	}
	state_put_u8(b, TAG_MSRS);
	state_put_u32(b, 4 + (uint32_t)msrs.len);
	state_put_u32(b, n);
	state_put_bytes(b, msrs.data, msrs.len);
	rc = msrs.error;
out:
	state_buf_free(&msrs);
	free(list);
	free(one);
	return rc;
}

int vmstate_save_vcpu(const struct kvm *k, int vcpu_fd, struct state_buf *b)
{
	struct kvm_regs regs;
	struct kvm_sregs2 sregs2;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_debugregs dregs;
	int xsave_size = kvm_check_extension(k, KVM_CAP_XSAVE2);
	int rc;

	state_put_u32(b, VMSTATE_VCPU_VERSION);
	/* MP state first: on load it must precede the registers (api.rst 4.39). */
	if ((rc = save_get(vcpu_fd, KVM_GET_MP_STATE, b, TAG_MP_STATE, &mp, sizeof(mp))) ||
	    (rc = save_get(vcpu_fd, KVM_GET_REGS, b, TAG_REGS, &regs, sizeof(regs))) ||
	    (rc = save_get(vcpu_fd, KVM_GET_SREGS2, b, TAG_SREGS2, &sregs2, sizeof(sregs2))) ||
	    (rc = save_get(vcpu_fd, KVM_GET_FPU, b, TAG_FPU, &fpu, sizeof(fpu))) ||
	    (rc = save_get(vcpu_fd, KVM_GET_DEBUGREGS, b, TAG_DEBUGREGS, &dregs, sizeof(dregs))))
		return rc;
	if (xsave_size >= (int)sizeof(struct kvm_xsave)) {
		struct kvm_xsave *x = calloc(1, (size_t)xsave_size);
		if (!x)
			return -ENOMEM;
		rc = save_get(vcpu_fd, KVM_GET_XSAVE2, b, TAG_XSAVE, x, (uint32_t)xsave_size);
		free(x);
		if (rc)
			return rc;
	}
	if (kvm_check_extension(k, KVM_CAP_XCRS) > 0 &&
	    (rc = save_get(vcpu_fd, KVM_GET_XCRS, b, TAG_XCRS, &xcrs, sizeof(xcrs))))
		return rc;
	if ((rc = save_get(vcpu_fd, KVM_GET_LAPIC, b, TAG_LAPIC, &lapic, sizeof(lapic))) ||
	    (rc = save_msrs(k, vcpu_fd, b)) ||
	    /* Events last: pending exceptions/interrupts as of this instant. */
	    (rc = save_get(vcpu_fd, KVM_GET_VCPU_EVENTS, b, TAG_EVENTS, &events, sizeof(events))))
		return rc;
	state_put_u8(b, TAG_END);
	return b->error;
}

static int load_msrs(int vcpu_fd, const uint8_t *p, uint32_t len)
{
	struct state_reader r;
	struct kvm_msrs *m;
	uint32_t n;
	int rc;

	state_reader_init(&r, p, len);
	n = state_get_u32(&r);
	if (r.error || n > VMSTATE_MAX_MSRS || len != 4 + n * 12)
		return -EINVAL;
	m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		m->entries[i].index = state_get_u32(&r);
		m->entries[i].data = state_get_u64(&r);
	}
	rc = xioctl(vcpu_fd, KVM_SET_MSRS, m);
	free(m);
	/* KVM_SET_MSRS stops at the first MSR it refuses. */
	return rc < 0 ? rc : (rc == (int)n ? 0 : -EINVAL);
}

/* Reads the next blob; its bytes stay in the reader's buffer. */
static int next_blob(struct state_reader *r, uint8_t *tag, const uint8_t **p, uint32_t *len)
{
	*tag = state_get_u8(r);
	if (r->error)
		return -EINVAL;
	if (*tag == TAG_END) {
		*len = 0;
		return 0;
	}
	*len = state_get_u32(r);
	if (r->error || *len > r->len - r->pos)
		return -EINVAL;
	*p = r->data + r->pos;
	r->pos += *len;
	return 0;
}

/*
 * KVM_SET_DEBUGREGS costs milliseconds on some hosts (PVM) while a fresh vCPU
 * already holds the reset values most snapshots carry: skip an identical set.
 */
static bool debugregs_unchanged(int fd, const uint8_t *p, uint32_t len)
{
	struct kvm_debugregs cur, want;

	if (len != sizeof(want) || xioctl(fd, KVM_GET_DEBUGREGS, &cur) < 0)
		return false;
	memcpy(&want, p, sizeof(want));
	return memcmp(cur.db, want.db, sizeof(cur.db)) == 0 && cur.dr6 == want.dr6 &&
	       cur.dr7 == want.dr7 && cur.flags == want.flags;
}

struct blob_spec {
	uint8_t tag;
	unsigned long req;
	uint32_t size; /* exact size required; 0 = variable (checked by the loader) */
};

static int load_blobs(int fd, struct state_reader *r, const struct blob_spec *specs, int nspecs,
		      int xsave_size)
{
	uint32_t seen = 0;

	for (;;) {
		const uint8_t *p = NULL;
		uint32_t len;
		uint8_t tag;
		int rc = next_blob(r, &tag, &p, &len), i;

		if (rc)
			return rc;
		if (tag == TAG_END)
			break;
		if (tag >= 32 || (seen & (1u << tag)))
			return -EINVAL; /* unknown or duplicate */
		seen |= 1u << tag;
		if (tag == TAG_MSRS) {
			rc = load_msrs(fd, p, len);
			if (rc)
				return rc;
			continue;
		}
		for (i = 0; i < nspecs && specs[i].tag != tag; i++)
			;
		if (i == nspecs)
			return -EINVAL;
		if (tag == TAG_XSAVE ? (xsave_size < (int)sizeof(struct kvm_xsave) ||
					len != (uint32_t)xsave_size)
				     : len != specs[i].size)
			return -EINVAL;
		if (tag == TAG_DEBUGREGS && debugregs_unchanged(fd, p, len))
			continue;
		{
			/* Copy: the ioctl may want alignment the buffer lacks. */
			void *tmp = malloc(len);
			if (!tmp)
				return -ENOMEM;
			memcpy(tmp, p, len);
			rc = xioctl(fd, specs[i].req, tmp);
			free(tmp);
		}
		if (rc < 0)
			return rc;
	}
	return state_reader_finish(r);
}

int vmstate_load_vcpu(const struct kvm *k, int vcpu_fd, struct state_reader *r)
{
	/* The order of specs does not matter: blobs are applied in file order, which
	 * vmstate_save_vcpu makes MP state, REGS, SREGS2, FPU, debug regs, XSAVE, XCRS,
	 * LAPIC, MSRs, events (Firecracker's and QEMU's restore order). */
	static const struct blob_spec specs[] = {
		{TAG_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state)},
		{TAG_REGS, KVM_SET_REGS, sizeof(struct kvm_regs)},
		{TAG_SREGS2, KVM_SET_SREGS2, sizeof(struct kvm_sregs2)},
		{TAG_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu)},
		{TAG_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs)},
		{TAG_XSAVE, KVM_SET_XSAVE, 0},
		{TAG_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs)},
		{TAG_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state)},
		{TAG_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events)},
	};
	uint32_t version = state_get_u32(r);

	if (r->error || version != VMSTATE_VCPU_VERSION)
		return -EINVAL;
	return load_blobs(vcpu_fd, r, specs, (int)(sizeof(specs) / sizeof(specs[0])),
			  kvm_check_extension(k, KVM_CAP_XSAVE2));
}

int vmstate_save_vm(int vm_fd, struct state_buf *b)
{
	static const struct {
		uint8_t tag;
		uint32_t chip;
	} chips[] = {{TAG_PIC_MASTER, KVM_IRQCHIP_PIC_MASTER},
		     {TAG_PIC_SLAVE, KVM_IRQCHIP_PIC_SLAVE},
		     {TAG_IOAPIC, KVM_IRQCHIP_IOAPIC}};
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = {0};
	int rc;

	state_put_u32(b, VMSTATE_VM_VERSION);
	for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
		struct kvm_irqchip c = {.chip_id = chips[i].chip};
		rc = save_get(vm_fd, KVM_GET_IRQCHIP, b, chips[i].tag, &c, sizeof(c));
		if (rc)
			return rc;
	}
	if ((rc = save_get(vm_fd, KVM_GET_PIT2, b, TAG_PIT2, &pit, sizeof(pit))))
		return rc;
	rc = xioctl(vm_fd, KVM_GET_CLOCK, &clock);
	if (rc < 0)
		return rc;
	/* Only the clock value travels; flags describe the source host. */
	clock.flags = 0;
	put_blob(b, TAG_CLOCK, &clock, sizeof(clock));
	state_put_u8(b, TAG_END);
	return b->error;
}

int vmstate_load_vm(int vm_fd, struct state_reader *r)
{
	static const struct blob_spec specs[] = {
		{TAG_PIC_MASTER, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip)},
		{TAG_PIC_SLAVE, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip)},
		{TAG_IOAPIC, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip)},
		{TAG_PIT2, KVM_SET_PIT2, sizeof(struct kvm_pit_state2)},
		{TAG_CLOCK, KVM_SET_CLOCK, sizeof(struct kvm_clock_data)},
	};
	uint32_t version = state_get_u32(r);

	if (r->error || version != VMSTATE_VM_VERSION)
		return -EINVAL;
	return load_blobs(vm_fd, r, specs, (int)(sizeof(specs) / sizeof(specs[0])), 0);
}
