/* SPDX-License-Identifier: MIT */
/*
 * Whole-VM snapshot save and restore; see vmsnap.h. The section layout is
 * documented in docs/snapshot-format.md.
 */
#include "state/vmsnap.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "hw/acpi_pm.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/rtc.h"
#include "hw/uart8250.h"
#include "machine/vcpu.h"
#include "state/buf.h"
#include "state/snapshot.h"
#include "state/vmstate.h"

#define VMSNAP_CONFIG_VERSION 1

/* Each device's own save/load, by section name. */
struct vmsnap_device {
	const char *section;
	size_t offset; /* of the device pointer in struct machine */
	int (*save)(void *dev, struct state_buf *b);
	int (*load)(void *dev, struct state_reader *r);
};

/* Typed adapters, so the table calls each device's own functions without casts. */
#define DEV_ADAPTERS(prefix, type)                                                             \
	static int prefix##_save_dev(void *d, struct state_buf *b)                             \
	{                                                                                      \
		return prefix##_save((type *)d, b);                                            \
	}                                                                                      \
	static int prefix##_load_dev(void *d, struct state_reader *r)                          \
	{                                                                                      \
		return prefix##_load((type *)d, r);                                            \
	}

DEV_ADAPTERS(uart, struct uart)
DEV_ADAPTERS(i8042, struct i8042)
DEV_ADAPTERS(rtc, struct rtc)
DEV_ADAPTERS(acpi_pm, struct acpi_pm)
DEV_ADAPTERS(fw_cfg, struct fw_cfg)

#define DEV(name, field, prefix) {name, offsetof(struct machine, field), prefix##_save_dev, prefix##_load_dev}

static const struct vmsnap_device vmsnap_devices[] = {
	DEV("uart", uart, uart),     DEV("i8042", i8042, i8042), DEV("rtc", rtc, rtc),
	DEV("acpi_pm", pm, acpi_pm), DEV("fw_cfg", fw_cfg, fw_cfg),
};

static void *device_of(struct machine *m, const struct vmsnap_device *d)
{
	return *(void **)((char *)m + d->offset);
}

static char *config_json(const struct machine *m)
{
	const struct machine_config *c = m->cfg;
	json_t *j = json_pack("{s:i, s:i, s:I, s:s, s:s, s:I, s:I}", "version",
			      VMSNAP_CONFIG_VERSION, "cpus", c->ncpus, "memory",
			      (json_int_t)c->ram_size, "kernel", c->kernel_path, "cmdline",
			      c->cmdline, "kernel_size", (json_int_t)m->kernel_size, "initrd_size",
			      (json_int_t)m->initrd_size);
	if (j && c->initrd_path && json_object_set_new(j, "initrd", json_string(c->initrd_path))) {
		json_decref(j);
		j = NULL;
	}
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

struct vcpu_save_ctx {
	struct state_buf buf;
};

static int vcpu_save_work(struct vcpu *v, void *arg)
{
	struct vcpu_save_ctx *c = arg;
	return vmstate_save_vcpu(v->m->kvm, v->fd, &c->buf);
}

static int add_buf(struct snap_writer *w, const char *name, struct state_buf *b)
{
	int rc = b->error ? b->error : snap_writer_add(w, name, b->data, b->len);
	state_buf_free(b);
	return rc;
}

int vmsnap_save(struct machine *m, const char *path, char *err, size_t errlen)
{
	static const char *const mem_names[2] = {"ram-low", "ram-high"};
	static const uint64_t mem_gpa[2] = {0, LAYOUT_4G};
	char *cfg = config_json(m), name[32];
	struct snap_writer *w;
	struct state_buf b;
	int rc = 0;

	if (!machine_is_paused(m)) {
		snprintf(err, errlen, "the VM must be paused to save it");
		free(cfg);
		return -EBUSY;
	}
	if (m->cfg->firmware_path) {
		/* The ROM slot and what the firmware set up are not in the format yet. */
		snprintf(err, errlen, "snapshots of a VM booted through firmware are not supported yet");
		free(cfg);
		return -ENOTSUP;
	}
	if (m->rng_pci || m->cfg->ndisks) {
		/* Their PCI and transport state is not in the format yet. */
		snprintf(err, errlen, "snapshots of a VM with virtio devices are not supported yet");
		free(cfg);
		return -ENOTSUP;
	}
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w = snap_writer_create(path, cfg, err, errlen);
	free(cfg);
	if (!w)
		return -errno ? -errno : -EIO;
	for (int i = 0; i < m->ncpus && !rc; i++) {
		struct vcpu_save_ctx c;
		state_buf_init(&c.buf);
		rc = vcpu_run_on(m->vcpus[i], vcpu_save_work, &c);
		snprintf(name, sizeof(name), "vcpu%d", i);
		if (rc) {
			state_buf_free(&c.buf);
			snprintf(err, errlen, "cannot read the state of vCPU %d: %s", i,
				 strerror(-rc));
			break;
		}
		rc = add_buf(w, name, &c.buf);
	}
	if (!rc) {
		state_buf_init(&b);
		rc = vmstate_save_vm(m->vm_fd, &b);
		if (rc) {
			state_buf_free(&b);
			snprintf(err, errlen, "cannot read the irqchip/PIT/clock state: %s",
				 strerror(-rc));
		} else {
			rc = add_buf(w, "vm", &b);
		}
	}
	for (size_t i = 0; i < sizeof(vmsnap_devices) / sizeof(vmsnap_devices[0]) && !rc; i++) {
		const struct vmsnap_device *d = &vmsnap_devices[i];
		state_buf_init(&b);
		rc = d->save(device_of(m, d), &b);
		if (rc) {
			state_buf_free(&b);
			snprintf(err, errlen, "device %s cannot save its state: %s", d->section,
				 strerror(-rc));
			break;
		}
		rc = add_buf(w, d->section, &b);
	}
	for (int i = 0; i < 2 && !rc; i++)
		if (m->ram[i])
			rc = snap_writer_add_memory(w, mem_names[i], mem_gpa[i], m->ram[i],
						    m->ram_map_size[i]);
	if (rc && err[0]) {
		snap_writer_abort(w);
		return rc;
	}
	/* A failed add sticks in the writer; commit then reports it, naming the section. */
	return snap_writer_commit(w, err, errlen);
}

struct snap_reader *vmsnap_open(const char *path, struct machine_config *cfg, char *err,
				size_t errlen)
{
	struct snap_reader *r = snap_reader_open(path, err, errlen);
	json_error_t jerr;
	json_t *j;
	json_int_t version = 0, cpus = 0, memory = 0, ksize = 0, isize = 0;
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;

	if (!r)
		return NULL;
	j = json_loads(snap_reader_config(r), 0, &jerr);
	if (!j || json_unpack_ex(j, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:s, s?s, s:s, s:I, s:I}",
				 "version", &version, "cpus", &cpus, "memory", &memory, "kernel",
				 &kernel, "initrd", &initrd, "cmdline", &cmdline, "kernel_size",
				 &ksize, "initrd_size", &isize)) {
		snprintf(err, errlen, "snapshot %s: section 'config': %s", path, jerr.text);
		goto fail;
	}
	if (version != VMSNAP_CONFIG_VERSION) {
		snprintf(err, errlen, "snapshot %s: section 'config': version %lld, expected %d",
			 path, (long long)version, VMSNAP_CONFIG_VERSION);
		goto fail;
	}
	if (cpus < 1 || cpus > 254 || memory < (json_int_t)LAYOUT_MIN_RAM ||
	    (memory & 4095) || ksize < 0 || isize < 0 || ksize > UINT32_MAX ||
	    isize > UINT32_MAX) {
		snprintf(err, errlen, "snapshot %s: section 'config': values out of range", path);
		goto fail;
	}
	cfg->ncpus = (int)cpus;
	cfg->ram_size = (uint64_t)memory;
	cfg->kernel_path = strdup(kernel);
	cfg->initrd_path = initrd ? strdup(initrd) : NULL;
	cfg->cmdline = strdup(cmdline);
	cfg->restore = r;
	cfg->restore_kernel_size = (uint64_t)ksize;
	cfg->restore_initrd_size = (uint64_t)isize;
	json_decref(j);
	if (!cfg->kernel_path || !cfg->cmdline || (initrd && !cfg->initrd_path)) {
		snprintf(err, errlen, "out of memory");
		vmsnap_close(r, cfg);
		return NULL;
	}
	return r;
fail:
	json_decref(j);
	snap_reader_close(r);
	return NULL;
}

void vmsnap_close(struct snap_reader *r, struct machine_config *cfg)
{
	snap_reader_close(r);
	free((char *)cfg->kernel_path);
	free((char *)cfg->initrd_path);
	free((char *)cfg->cmdline);
	cfg->kernel_path = cfg->initrd_path = cfg->cmdline = NULL;
	cfg->restore = NULL;
}

static int load_section(const struct snap_reader *r, const char *name,
			int (*load)(void *obj, struct state_reader *rd), void *obj, char *err,
			size_t errlen)
{
	const void *data;
	size_t len;
	struct state_reader rd;
	int rc = snap_reader_section(r, name, &data, &len);

	if (rc) {
		snprintf(err, errlen, "snapshot: section '%s' is missing", name);
		return rc;
	}
	state_reader_init(&rd, data, len);
	rc = load(obj, &rd);
	if (rc)
		snprintf(err, errlen, "snapshot: section '%s' is invalid (%s)", name, strerror(-rc));
	return rc;
}

int vmsnap_load_devices(struct machine *m, const struct snap_reader *r, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(vmsnap_devices) / sizeof(vmsnap_devices[0]); i++) {
		const struct vmsnap_device *d = &vmsnap_devices[i];
		int rc = load_section(r, d->section, d->load, device_of(m, d), err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int load_vm(void *obj, struct state_reader *rd)
{
	struct machine *m = obj;
	return vmstate_load_vm(m->vm_fd, rd);
}

static int load_vcpu(void *obj, struct state_reader *rd)
{
	struct vcpu *v = obj;
	return vmstate_load_vcpu(v->m->kvm, v->fd, rd);
}

int vmsnap_load_cpus(struct machine *m, const struct snap_reader *r, char *err, size_t errlen)
{
	char name[32];
	int rc = load_section(r, "vm", load_vm, m, err, errlen);

	for (int i = 0; i < m->ncpus && !rc; i++) {
		snprintf(name, sizeof(name), "vcpu%d", i);
		rc = load_section(r, name, load_vcpu, m->vcpus[i], err, errlen);
	}
	return rc;
}
