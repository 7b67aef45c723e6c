/* SPDX-License-Identifier: MIT */
/*
 * Kernel loading: the common interface of the x86 boot protocols kvmm speaks.
 * The format is detected from the image's contents, never its name:
 *   - Linux bzImage (Documentation/arch/x86/boot.rst, protocol 2.06+), bzimage.c
 *   - ELF64 vmlinux with a Xen PVH entry note (xen/include/public/arch-x86/hvm/start_info.h), elf.c
 *   - Multiboot v1 (Multiboot Specification 0.6.96), multiboot.c
 * Loaders are pure: they parse an image held in host memory, write the guest's
 * memory through gmem, and describe how the boot CPU must enter the kernel. All
 * image bytes are untrusted.
 */
#ifndef KVMM_ARCH_X86_BOOT_H
#define KVMM_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "machine/gmem.h"

enum boot_mode {
	/* 64-bit Linux boot protocol: long mode, identity-mapped paging, RSI = boot_params. */
	BOOT_LINUX64,
	/* 32-bit flat protected mode, paging off, EBX = hvm_start_info (PVH). */
	BOOT_PVH32,
	/* 32-bit flat protected mode, paging off, EAX = 0x2BADB002, EBX = multiboot info. */
	BOOT_MULTIBOOT32,
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t entry; /* guest physical entry point (RIP/EIP) */
	uint64_t rsi;   /* BOOT_LINUX64: boot_params address */
	uint32_t eax;   /* BOOT_MULTIBOOT32: magic */
	uint32_t ebx;   /* BOOT_PVH32 / BOOT_MULTIBOOT32: info structure address */
};

struct boot_config {
	const char *kernel_path;  /* for multiboot's command line and messages */
	const uint8_t *kernel;    /* the image file's bytes */
	size_t kernel_size;
	const uint8_t *initrd;    /* NULL when none */
	size_t initrd_size;
	const char *cmdline;      /* never NULL; "" when none */
	uint64_t ram_size;        /* bytes; the e820 map is e820_build(ram_size) */
	uint64_t rsdp_addr;       /* where ACPI's RSDP is, for PVH/Linux; 0 if none */
};

/* Size of the buffer for loader error messages. */
#define BOOT_ERR_MAX 256

/*
 * Detects the format and loads the kernel (and initrd) into guest memory.
 * Returns 0 and fills *out, or a negative errno with a human-readable reason in
 * err (e.g. "bzImage: setup_sects 200 exceeds file size 4096"): -ENOEXEC for an
 * unrecognised or malformed image, -ENOMEM when it does not fit in guest RAM,
 * -EINVAL for a bad initrd or command line.
 */
int boot_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
	      size_t errlen);

/* Each protocol, for boot_load's dispatch and for tests and fuzzers. */
int bzimage_probe(const uint8_t *img, size_t size);
int bzimage_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out,
		 char *err, size_t errlen);
int elf_probe(const uint8_t *img, size_t size);
int elf_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
	     size_t errlen);
int multiboot_probe(const uint8_t *img, size_t size);
int multiboot_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out,
		   char *err, size_t errlen);

#endif
