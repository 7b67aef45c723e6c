/* SPDX-License-Identifier: MIT */
/*
 * Whole-VM snapshot save and restore; see vmsnap.h. The section layout is
 * documented in docs/snapshot-format.md, the rules (disks, what is refused) in
 * docs/snapshots.md.
 *
 * A save must capture one moment of guest RAM, vCPUs and devices. The vCPUs
 * are paused, but virtio devices also work off them: the I/O thread serves
 * notifications, disk requests complete on their engine's thread, and the
 * main loop pulls hvc0's output. So before anything is read the devices are
 * quiesced (vmsnap_quiesce): the I/O thread first handles what was kicked
 * before the pause and parks, the disks are drained, hvc0 is frozen. Every
 * interrupt that work raised has reached KVM before the vCPUs are saved.
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
#include "hw/pci.h"
#include "hw/uart8250.h"
#include "machine/iothread.h"
#include "machine/vcpu.h"
#include "state/buf.h"
#include "state/snapshot.h"
#include "state/vmstate.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

/* 2: PCI and virtio sections, and the devices in the config. 1 is read too (no devices). */
#define VMSNAP_CONFIG_VERSION 2

_Static_assert(VMSNAP_SERIAL_MAX == BLOCK_SERIAL_MAX, "disk serial length");

/* Each device's own save/load, by section name. */
struct vmsnap_device {
	const char *section;
	size_t offset; /* of the device pointer in struct machine */
	int (*save)(void *dev, struct state_buf *b);
	int (*load)(void *dev, struct state_reader *r);
};

/* Typed adapters, so the table calls each device's own functions without casts. */
#define DEV_ADAPTERS(prefix, type)                                                                 \
	static int prefix##_save_dev(void *d, struct state_buf *b)                                 \
	{                                                                                          \
		return prefix##_save((type *)d, b);                                                \
	}                                                                                          \
	static int prefix##_load_dev(void *d, struct state_reader *r)                              \
	{                                                                                          \
		return prefix##_load((type *)d, r);                                                \
	}

DEV_ADAPTERS(uart, struct uart)
DEV_ADAPTERS(i8042, struct i8042)
DEV_ADAPTERS(rtc, struct rtc)
DEV_ADAPTERS(acpi_pm, struct acpi_pm)
DEV_ADAPTERS(fw_cfg, struct fw_cfg)
DEV_ADAPTERS(virtio_rng, struct virtio_rng)
DEV_ADAPTERS(virtio_blk, struct virtio_blk)
DEV_ADAPTERS(virtio_console, struct virtio_console)

#define DEV(name, field, prefix)                                                                   \
	{                                                                                          \
		name, offsetof(struct machine, field), prefix##_save_dev, prefix##_load_dev        \
	}

static const struct vmsnap_device vmsnap_devices[] = {
    DEV("uart", uart, uart),	 DEV("i8042", i8042, i8042),	DEV("rtc", rtc, rtc),
    DEV("acpi_pm", pm, acpi_pm), DEV("fw_cfg", fw_cfg, fw_cfg),
};

static void *device_of(struct machine *m, const struct vmsnap_device *d)
{
	return *(void **)((char *)m + d->offset);
}

/* A virtio device on PCI: one section with its PCI, transport and device state. */
struct vmsnap_virtio {
	char section[24];
	struct virtio_pci *pci;
	void *dev;
	int (*save)(void *dev, struct state_buf *b);
	int (*load)(void *dev, struct state_reader *r);
};

#define VMSNAP_MAX_VIRTIO (MACHINE_MAX_DISKS + 2)

/* The machine's virtio devices in PCI order (as machine_setup_virtio creates them). */
static int vmsnap_virtio_list(struct machine *m, struct vmsnap_virtio *v)
{
	int n = 0;

	if (m->rng_pci)
		v[n++] = (struct vmsnap_virtio){"virtio-rng", m->rng_pci, m->rng,
						virtio_rng_save_dev, virtio_rng_load_dev};
	for (int i = 0; i < MACHINE_MAX_DISKS; i++) {
		if (!m->blk_pci[i])
			continue;
		v[n] = (struct vmsnap_virtio){"", m->blk_pci[i], m->blk[i], virtio_blk_save_dev,
					      virtio_blk_load_dev};
		snprintf(v[n++].section, sizeof(v[0].section), "virtio-blk%d", i);
	}
	if (m->vcons_pci)
		v[n++] = (struct vmsnap_virtio){"virtio-console", m->vcons_pci, m->vcons,
						virtio_console_save_dev, virtio_console_load_dev};
	return n;
}

static const char *disk_path(const struct machine_disk *d)
{
	return d->path ? d->path : block_path(d->dev);
}

/* The effective serial: what GET_ID returns, so a restore from a copied image keeps it. */
static const char *disk_serial(const struct machine_disk *d)
{
	return d->serial ? d->serial : block_serial(d->dev);
}

static json_t *config_disks(const struct machine_config *c)
{
	json_t *a = json_array();

	for (int i = 0; a && i < c->ndisks; i++) {
		const struct machine_disk *d = &c->disks[i];
		json_t *o =
		    json_pack("{s:s, s:b, s:s, s:I, s:I}", "path", disk_path(d), "readonly",
			      block_readonly(d->dev), "serial", disk_serial(d), "queues",
			      (json_int_t)d->queues, "size", (json_int_t)block_size(d->dev));
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static char *config_json(const struct machine *m)
{
	const struct machine_config *c = m->cfg;
	json_t *disks = config_disks(c);
	json_t *j =
	    disks ? json_pack("{s:i, s:i, s:I, s:s, s:s, s:I, s:I, s:b, s:s, s:o}", "version",
			      VMSNAP_CONFIG_VERSION, "cpus", c->ncpus, "memory",
			      (json_int_t)c->ram_size, "kernel", c->kernel_path, "cmdline",
			      c->cmdline, "kernel_size", (json_int_t)m->kernel_size, "initrd_size",
			      (json_int_t)m->initrd_size, "virtio_rng", c->virtio_rng, "console",
			      c->console == MACHINE_CONSOLE_VIRTIO ? "virtio" : "serial", "disks",
			      disks)
		  : NULL;

	if (j && c->initrd_path && json_object_set_new(j, "initrd", json_string(c->initrd_path))) {
		json_decref(j);
		j = NULL;
	}
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

/* See the header comment: device work stops (on) or goes on (off). */
static void vmsnap_quiesce(struct machine *m, bool on)
{
	if (!on) {
		if (m->vcons)
			virtio_console_freeze(m->vcons, false);
		iothread_resume(m->io);
		return;
	}
	iothread_pause(m->io);
	for (int i = 0; i < MACHINE_MAX_DISKS; i++)
		if (m->blk[i])
			virtio_blk_drain(m->blk[i]);
	if (m->vcons)
		virtio_console_freeze(m->vcons, true);
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

static int vmsnap_save_quiesced(struct machine *m, struct snap_writer *w, char *err, size_t errlen);

int vmsnap_save(struct machine *m, const char *path, char *err, size_t errlen)
{
	char *cfg;
	struct snap_writer *w;
	int rc;

	if (!machine_is_paused(m)) {
		snprintf(err, errlen, "the VM must be paused to save it");
		return -EBUSY;
	}
	if (m->cfg->firmware_path) {
		/* The ROM slot and what the firmware set up are not in the format yet. */
		snprintf(err, errlen,
			 "snapshots of a VM booted through firmware are not supported yet");
		return -ENOTSUP;
	}
	cfg = config_json(m);
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w = snap_writer_create(path, cfg, err, errlen);
	free(cfg);
	if (!w)
		return -errno ? -errno : -EIO;
	vmsnap_quiesce(m, true);
	rc = vmsnap_save_quiesced(m, w, err, errlen);
	vmsnap_quiesce(m, false);
	return rc;
}

/* Saves every section into w and commits it (or aborts it); devices are quiesced. */
static int vmsnap_save_quiesced(struct machine *m, struct snap_writer *w, char *err, size_t errlen)
{
	static const char *const mem_names[2] = {"ram-low", "ram-high"};
	static const uint64_t mem_gpa[2] = {0, LAYOUT_4G};
	struct vmsnap_virtio virt[VMSNAP_MAX_VIRTIO];
	int nvirt = vmsnap_virtio_list(m, virt);
	char name[32];
	struct state_buf b;
	int rc = 0;

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
	if (!rc) {
		state_buf_init(&b);
		pci_host_save(m->pci, &b); /* a failure sticks in b, which add_buf reports */
		rc = add_buf(w, "pci", &b);
	}
	for (int i = 0; i < nvirt && !rc; i++) {
		state_buf_init(&b);
		rc = virtio_pci_save(virt[i].pci, &b);
		if (!rc)
			rc = virt[i].save(virt[i].dev, &b);
		if (rc) {
			state_buf_free(&b);
			snprintf(err, errlen, "device %s cannot save its state: %s",
				 virt[i].section, strerror(-rc));
			break;
		}
		rc = add_buf(w, virt[i].section, &b);
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

/* The devices of a version 2 config: virtio-rng, the console and the disks (into disks). */
static int config_devices(json_t *j, struct machine_config *cfg, struct vmsnap_disk *disks,
			  int *ndisks, char *why, size_t whylen)
{
	json_t *list = json_object_get(j, "disks"), *o;
	const char *console = json_string_value(json_object_get(j, "console"));
	json_t *rng = json_object_get(j, "virtio_rng");
	size_t i;

	if (!json_is_boolean(rng) || !console || !json_is_array(list)) {
		snprintf(why, whylen, "virtio_rng, console or disks missing");
		return -EINVAL;
	}
	if (strcmp(console, "serial") && strcmp(console, "virtio")) {
		snprintf(why, whylen, "console '%s' is neither serial nor virtio", console);
		return -EINVAL;
	}
	if (json_array_size(list) > MACHINE_MAX_DISKS) {
		snprintf(why, whylen, "%zu disks, at most %d", json_array_size(list),
			 MACHINE_MAX_DISKS);
		return -EINVAL;
	}
	json_array_foreach(list, i, o)
	{
		struct vmsnap_disk *d = &disks[i];
		const char *path = NULL, *serial = NULL;
		json_int_t queues = 0, size = 0;
		int ro = 0;
		json_error_t jerr;

		if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s:b, s:s, s:I, s:I}", "path",
				   &path, "readonly", &ro, "serial", &serial, "queues", &queues,
				   "size", &size)) {
			snprintf(why, whylen, "disk %zu: %s", i, jerr.text);
			return -EINVAL;
		}
		if (!path[0] || strlen(path) >= sizeof(d->path) ||
		    strlen(serial) > VMSNAP_SERIAL_MAX || queues < 1 ||
		    queues > (json_int_t)MACHINE_DISK_MAX_QUEUES || size <= 0 || size % 512) {
			snprintf(why, whylen, "disk %zu: values out of range", i);
			return -EINVAL;
		}
		strcpy(d->path, path);
		strcpy(d->serial, serial);
		d->readonly = ro;
		d->queues = (unsigned)queues;
		d->size = (uint64_t)size;
	}
	*ndisks = (int)json_array_size(list);
	cfg->virtio_rng = json_is_true(rng);
	cfg->console = strcmp(console, "virtio") ? MACHINE_CONSOLE_SERIAL : MACHINE_CONSOLE_VIRTIO;
	return 0;
}

struct snap_reader *vmsnap_open(const char *path, struct machine_config *cfg,
				struct vmsnap_disk *disks, int *ndisks, char *err, size_t errlen)
{
	struct snap_reader *r = snap_reader_open(path, err, errlen);
	json_error_t jerr;
	json_t *j, *base = NULL;
	json_int_t version = 0, cpus = 0, memory = 0, ksize = 0, isize = 0;
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	char why[256];

	*ndisks = 0;
	if (!r)
		return NULL;
	j = json_loads(snap_reader_config(r), 0, &jerr);
	if (j && json_is_object(j)) {
		/* The version 1 fields strictly; version 2 adds the device keys. */
		base = json_deep_copy(j);
		json_object_del(base, "virtio_rng");
		json_object_del(base, "console");
		json_object_del(base, "disks");
	}
	if (!j || !base ||
	    json_unpack_ex(base, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:s, s?s, s:s, s:I, s:I}",
			   "version", &version, "cpus", &cpus, "memory", &memory, "kernel", &kernel,
			   "initrd", &initrd, "cmdline", &cmdline, "kernel_size", &ksize,
			   "initrd_size", &isize)) {
		snprintf(err, errlen, "snapshot %s: section 'config': %s", path,
			 j && !json_is_object(j) ? "not a JSON object" : jerr.text);
		goto fail;
	}
	if (version != 1 && version != VMSNAP_CONFIG_VERSION) {
		snprintf(err, errlen,
			 "snapshot %s: section 'config': version %lld, expected 1 or %d", path,
			 (long long)version, VMSNAP_CONFIG_VERSION);
		goto fail;
	}
	if (cpus < 1 || cpus > 254 || memory < (json_int_t)LAYOUT_MIN_RAM || (memory & 4095) ||
	    ksize < 0 || isize < 0 || ksize > UINT32_MAX || isize > UINT32_MAX) {
		snprintf(err, errlen, "snapshot %s: section 'config': values out of range", path);
		goto fail;
	}
	cfg->virtio_rng = false;
	cfg->console = MACHINE_CONSOLE_SERIAL;
	if (version == 1 && json_object_size(j) != json_object_size(base)) {
		snprintf(err, errlen, "snapshot %s: section 'config': version 1 has no devices",
			 path);
		goto fail;
	}
	if (version > 1 && config_devices(j, cfg, disks, ndisks, why, sizeof(why))) {
		snprintf(err, errlen, "snapshot %s: section 'config': %s", path, why);
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
	json_decref(base);
	json_decref(j);
	if (!cfg->kernel_path || !cfg->cmdline || (initrd && !cfg->initrd_path)) {
		snprintf(err, errlen, "out of memory");
		vmsnap_close(r, cfg);
		return NULL;
	}
	return r;
fail:
	*ndisks = 0;
	json_decref(base);
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
		snprintf(err, errlen, "snapshot: section '%s' is invalid (%s)", name,
			 strerror(-rc));
	return rc;
}

/* A virtio device's section: PCI and transport parsed, the device loaded, then applied. */
static int load_virtio(const struct snap_reader *r, const struct vmsnap_virtio *v, char *err,
		       size_t errlen)
{
	struct virtio_pci_loaded *t = NULL;
	struct state_reader rd;
	const void *data;
	size_t len;
	char why[256] = "";
	int rc = snap_reader_section(r, v->section, &data, &len);

	if (rc) {
		snprintf(err, errlen, "snapshot: section '%s' is missing", v->section);
		return rc;
	}
	state_reader_init(&rd, data, len);
	rc = virtio_pci_load_parse(v->pci, &rd, &t, why, sizeof(why));
	if (!rc) {
		/* Checks and applies all of its state or none; -EINVAL says nothing more. */
		rc = v->load(v->dev, &rd);
		if (rc)
			snprintf(why, sizeof(why), "virtio device state: %s", strerror(-rc));
	}
	if (!rc)
		rc = virtio_pci_load_check_queues(v->pci, why, sizeof(why));
	if (rc) {
		/* The device may be loaded already: the caller throws the whole machine away. */
		virtio_pci_load_discard(t);
		snprintf(err, errlen, "snapshot: section '%s' is invalid: %s", v->section,
			 why[0] ? why : strerror(-rc));
		return rc;
	}
	virtio_pci_load_apply(v->pci, t);
	return 0;
}

/*
 * Every state section must be one this machine loads: a section left over
 * (a disk's, with the config saying there is none) means the file is not
 * what its config describes.
 */
static int check_sections(struct machine *m, const struct snap_reader *r,
			  const struct vmsnap_virtio *virt, int nvirt, char *err, size_t errlen)
{
	const char *name;
	const void *data;
	size_t len;

	for (int i = 0; snap_reader_state(r, i, &name, &data, &len) == 0; i++) {
		bool known = !strcmp(name, "vm") || !strcmp(name, "pci");
		int cpu = -1, end = 0;

		for (size_t k = 0; !known && k < sizeof(vmsnap_devices) / sizeof(vmsnap_devices[0]);
		     k++)
			known = !strcmp(name, vmsnap_devices[k].section);
		for (int k = 0; !known && k < nvirt; k++)
			known = !strcmp(name, virt[k].section);
		if (!known && sscanf(name, "vcpu%d%n", &cpu, &end) == 1 && !name[end] && cpu >= 0 &&
		    cpu < m->ncpus) {
			char canon[32];

			snprintf(canon, sizeof(canon), "vcpu%d", cpu);
			known = !strcmp(name, canon);
		}
		if (!known) {
			snprintf(err, errlen,
				 "snapshot: section '%s' belongs to no device of this machine "
				 "(its config describes another one)",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

int vmsnap_load_devices(struct machine *m, const struct snap_reader *r, char *err, size_t errlen)
{
	struct vmsnap_virtio virt[VMSNAP_MAX_VIRTIO];
	int nvirt = vmsnap_virtio_list(m, virt), rc;
	struct state_reader rd;
	const void *data;
	size_t len;
	char why[256] = "";

	rc = check_sections(m, r, virt, nvirt, err, errlen);
	for (size_t i = 0; !rc && i < sizeof(vmsnap_devices) / sizeof(vmsnap_devices[0]); i++) {
		const struct vmsnap_device *d = &vmsnap_devices[i];
		rc = load_section(r, d->section, d->load, device_of(m, d), err, errlen);
	}
	if (rc)
		return rc;
	/* Version 1 files have no "pci" section: the host stays as built (no device moved it). */
	if (snap_reader_section(r, "pci", &data, &len) == 0) {
		state_reader_init(&rd, data, len);
		rc = pci_host_load(m->pci, &rd, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "snapshot: section 'pci' is invalid: %s",
				 why[0] ? why : strerror(-rc));
			return rc;
		}
	} else if (nvirt) {
		snprintf(err, errlen, "snapshot: section 'pci' is missing");
		return -ENOENT;
	}
	for (int i = 0; i < nvirt && !rc; i++)
		rc = load_virtio(r, &virt[i], err, errlen);
	return rc;
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
