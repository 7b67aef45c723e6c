/* SPDX-License-Identifier: MIT */
/*
 * ELF kernels: the common, fully checked ELF32/ELF64 segment loader (used by
 * the vmlinux, bzImage and multiboot paths) and the 64-bit vmlinux loader.
 *   - ELF: System V ABI gABI, "ELF Header", "Program Header", "Note Section";
 *     x86-64 psABI for ELFCLASS64/EM_X86_64.
 *   - PVH: a note named "Xen" of type XEN_ELFNOTE_PHYS32_ENTRY (18,
 *     xen/include/public/elfnote.h; a 4- or 8-byte number) gives a 32-bit
 *     physical entry point, entered in flat protected mode with EBX pointing at
 *     struct hvm_start_info version 1 (xen/include/public/arch-x86/hvm/
 *     start_info.h: magic 0x336ec578, modlist, cmdline, rsdp and memmap
 *     pointers; struct hvm_memmap_table_entry; struct hvm_modlist_entry).
 *   - Without the note a vmlinux is entered at its physical e_entry (startup_64)
 *     by the 64-bit boot protocol (Documentation/arch/x86/boot.rst), with a zero
 *     page built around a synthesized setup header, as Firecracker does.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_internal.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/linux_zeropage.h"

#define ELF_MAX_PHDRS		 128
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define PVH_START_MAGIC	  0x336ec578u
#define PVH_START_VERSION 1
#define PVH_START_SIZE	  56 /* struct hvm_start_info, version 1 */
#define PVH_MEMMAP_SIZE	  24 /* struct hvm_memmap_table_entry */
#define PVH_MODLIST_SIZE  32 /* struct hvm_modlist_entry */

/* Class-independent views of the headers, filled from checked bytes. */
struct elf_ehdr {
	int cls;
	uint16_t type, machine;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

int elf_ident_class(const uint8_t *img, size_t size)
{
	if (size < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
		return 0;
	if (img[EI_CLASS] == ELFCLASS32 || img[EI_CLASS] == ELFCLASS64)
		return img[EI_CLASS];
	return 0;
}

int elf_probe(const uint8_t *img, size_t size)
{
	return elf_ident_class(img, size) == ELFCLASS64 && size >= sizeof(Elf64_Ehdr) &&
	       boot_get16(img + offsetof(Elf64_Ehdr, e_machine)) == EM_X86_64;
}

static int elf_read_ehdr(const uint8_t *img, size_t size, int cls, const char *what,
			 struct elf_ehdr *eh, char *err, size_t errlen)
{
	size_t ehsize = cls == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = cls == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	int got = elf_ident_class(img, size);

	if (!got)
		return boot_fail(err, errlen, -ENOEXEC, "%s: not an ELF file", what);
	if (got != cls)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: %d-bit ELF where a %d-bit one is needed", what,
				 got == ELFCLASS64 ? 64 : 32, cls == ELFCLASS64 ? 64 : 32);
	if (size < ehsize)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: file (%zu bytes) is shorter than the ELF header (%zu bytes)",
				 what, size, ehsize);
	if (img[EI_DATA] != ELFDATA2LSB || img[EI_VERSION] != EV_CURRENT)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: not a little-endian ELF version 1 file (data %u, version %u)",
				 what, img[EI_DATA], img[EI_VERSION]);
	eh->cls = cls;
	if (cls == ELFCLASS64) {
		Elf64_Ehdr e;
		memcpy(&e, img, sizeof(e));
		eh->type = e.e_type;
		eh->machine = e.e_machine;
		eh->entry = e.e_entry;
		eh->phoff = e.e_phoff;
		eh->phentsize = e.e_phentsize;
		eh->phnum = e.e_phnum;
	} else {
		Elf32_Ehdr e;
		memcpy(&e, img, sizeof(e));
		eh->type = e.e_type;
		eh->machine = e.e_machine;
		eh->entry = e.e_entry;
		eh->phoff = e.e_phoff;
		eh->phentsize = e.e_phentsize;
		eh->phnum = e.e_phnum;
	}
	if (eh->type != ET_EXEC)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: ELF type %u is not an executable (ET_EXEC)", what, eh->type);
	if (eh->phentsize != phsize)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: program header entry size %u (expected %zu)", what,
				 eh->phentsize, phsize);
	if (!eh->phnum)
		return boot_fail(err, errlen, -ENOEXEC, "%s: no program headers", what);
	if (eh->phnum > ELF_MAX_PHDRS)
		return boot_fail(err, errlen, -ENOEXEC, "%s: %u program headers (at most %d)", what,
				 eh->phnum, ELF_MAX_PHDRS);
	if (eh->phoff > size || (uint64_t)eh->phnum * phsize > size - eh->phoff)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: program header table (offset 0x%" PRIx64
				 ", %u entries) extends "
				 "past end of file (size 0x%zx)",
				 what, eh->phoff, eh->phnum, size);
	return 0;
}

/* Reads program header i; elf_read_ehdr has checked the table lies in the file. */
static void elf_read_phdr(const uint8_t *img, const struct elf_ehdr *eh, unsigned int i,
			  struct elf_phdr *ph)
{
	const uint8_t *p = img + eh->phoff + (uint64_t)i * eh->phentsize;

	if (eh->cls == ELFCLASS64) {
		Elf64_Phdr h;
		memcpy(&h, p, sizeof(h));
		*ph = (struct elf_phdr){h.p_type,   h.p_offset, h.p_vaddr, h.p_paddr,
					h.p_filesz, h.p_memsz,	h.p_align};
	} else {
		Elf32_Phdr h;
		memcpy(&h, p, sizeof(h));
		*ph = (struct elf_phdr){h.p_type,   h.p_offset, h.p_vaddr, h.p_paddr,
					h.p_filesz, h.p_memsz,	h.p_align};
	}
}

/* Whether program header i's file bytes lie inside the file. */
static int elf_check_phdr_file(const struct elf_phdr *ph, unsigned int i, size_t size,
			       const char *what, char *err, size_t errlen)
{
	if (ph->offset > size || ph->filesz > size - ph->offset)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: program header %u (offset 0x%" PRIx64 ", size 0x%" PRIx64
				 ") extends past end of file (size 0x%zx)",
				 what, i, ph->offset, ph->filesz, size);
	return 0;
}

/*
 * Scans one PT_NOTE segment for the PVH entry note: 1 and *entry if found, 0 if
 * not, negative errno when the notes are malformed or the value is unusable.
 */
static int elf_scan_notes(const uint8_t *img, const struct elf_phdr *ph, const char *what,
			  uint32_t *entry, char *err, size_t errlen)
{
	const uint64_t align = ph->align == 8 ? 8 : 4;
	uint64_t pos = ph->offset, end = ph->offset + ph->filesz;

	while (end - pos >= 12) {
		uint32_t namesz = boot_get32(img + pos), descsz = boot_get32(img + pos + 4);
		uint32_t type = boot_get32(img + pos + 8);
		uint64_t name = pos + 12, desc, next;

		if (namesz > end - name)
			return boot_fail(err, errlen, -ENOEXEC,
					 "%s: note at file offset 0x%" PRIx64
					 " has a name of %u bytes "
					 "past the end of its segment",
					 what, pos, namesz);
		desc = name + ((namesz + align - 1) & ~(align - 1));
		if (desc > end || descsz > end - desc)
			return boot_fail(err, errlen, -ENOEXEC,
					 "%s: note at file offset 0x%" PRIx64
					 " has a descriptor of %u "
					 "bytes past the end of its segment",
					 what, pos, descsz);
		next = desc + ((descsz + align - 1) & ~(align - 1));
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    !memcmp(img + name, "Xen", 4)) {
			uint64_t v;

			if (descsz == 4)
				v = boot_get32(img + desc);
			else if (descsz == 8)
				v = boot_get64(img + desc);
			else
				return boot_fail(
				    err, errlen, -ENOEXEC,
				    "%s: PVH entry note has a %u-byte value (expected 4 "
				    "or 8)",
				    what, descsz);
			if (v > UINT32_MAX)
				return boot_fail(err, errlen, -ENOEXEC,
						 "%s: PVH entry point 0x%" PRIx64 " is above 4 GiB",
						 what, v);
			*entry = (uint32_t)v;
			return 1;
		}
		if (next >= end)
			break;
		pos = next;
	}
	return 0;
}

int elf_find_pvh_entry(const uint8_t *img, size_t size, uint32_t *entry)
{
	struct elf_ehdr eh;
	struct elf_phdr ph;
	int cls = elf_ident_class(img, size), ret;

	if (!cls)
		return -ENOEXEC;
	ret = elf_read_ehdr(img, size, cls, "ELF", &eh, NULL, 0);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < eh.phnum; i++) {
		elf_read_phdr(img, &eh, i, &ph);
		if (ph.type != PT_NOTE)
			continue;
		if (elf_check_phdr_file(&ph, i, size, "ELF", NULL, 0))
			return -ENOEXEC;
		ret = elf_scan_notes(img, &ph, "ELF", entry, NULL, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static const char *elf_machine_name(int machine)
{
	return machine == EM_X86_64 ? "x86-64 (62)" : machine == EM_386 ? "i386 (3)" : "?";
}

int elf_load_image(struct gmem *m, uint64_t ram_size, const uint8_t *img, size_t size,
		   int elf_class, int machine, const char *what, struct elf_loaded *out, char *err,
		   size_t errlen)
{
	struct elf_phdr load[ELF_MAX_PHDRS];
	unsigned int idx[ELF_MAX_PHDRS], nload = 0;
	struct elf_ehdr eh;
	struct elf_phdr ph;
	char ram[32];
	int ret, found = 0;

	memset(out, 0, sizeof(*out));
	ret = elf_read_ehdr(img, size, elf_class, what, &eh, err, errlen);
	if (ret)
		return ret;
	if (eh.machine != machine)
		return boot_fail(err, errlen, -ENOEXEC, "%s: ELF machine %u is not %s", what,
				 eh.machine, elf_machine_name(machine));

	/* Check everything before writing anything. */
	for (unsigned int i = 0; i < eh.phnum; i++) {
		elf_read_phdr(img, &eh, i, &ph);
		if (ph.type == PT_NULL)
			continue;
		ret = elf_check_phdr_file(&ph, i, size, what, err, errlen);
		if (ret)
			return ret;
		if (ph.type == PT_NOTE && !out->has_pvh) {
			ret = elf_scan_notes(img, &ph, what, &out->pvh_entry, err, errlen);
			if (ret < 0)
				return ret;
			out->has_pvh = ret;
		}
		if (ph.type != PT_LOAD || !ph.memsz)
			continue;
		if (ph.filesz > ph.memsz)
			return boot_fail(err, errlen, -ENOEXEC,
					 "%s: program header %u: file size 0x%" PRIx64
					 " exceeds memory size 0x%" PRIx64,
					 what, i, ph.filesz, ph.memsz);
		if (ph.paddr + ph.memsz < ph.paddr)
			return boot_fail(err, errlen, -ENOEXEC,
					 "%s: segment %u at 0x%" PRIx64 " (size 0x%" PRIx64
					 ") wraps around the address space",
					 what, i, ph.paddr, ph.memsz);
		ret = boot_check_load(ram_size, ph.paddr, ph.memsz);
		if (ret == -ENOEXEC)
			return boot_fail(err, errlen, ret,
					 "%s: segment %u at 0x%" PRIx64 " (size 0x%" PRIx64
					 ") reaches below 1 MiB, where kvmm keeps boot structures",
					 what, i, ph.paddr, ph.memsz);
		if (ret)
			return boot_fail(err, errlen, ret,
					 "%s: segment %u at 0x%" PRIx64 " (size 0x%" PRIx64
					 ") is outside guest RAM (%s)",
					 what, i, ph.paddr, ph.memsz,
					 boot_describe_size(ram_size, ram, sizeof(ram)));
		for (unsigned int j = 0; j < nload; j++) {
			if (ph.paddr < load[j].paddr + load[j].memsz &&
			    load[j].paddr < ph.paddr + ph.memsz)
				return boot_fail(err, errlen, -ENOEXEC,
						 "%s: segments %u and %u overlap (0x%" PRIx64
						 " and 0x%" PRIx64 ")",
						 what, idx[j], i, load[j].paddr, ph.paddr);
		}
		idx[nload] = i;
		load[nload++] = ph;
	}
	if (!nload)
		return boot_fail(err, errlen, -ENOEXEC, "%s: no loadable segments", what);

	/* e_entry is physical, or virtual within a segment whose p_paddr says where. */
	for (unsigned int j = 0; j < nload && !found; j++) {
		if (eh.entry >= load[j].paddr && eh.entry - load[j].paddr < load[j].memsz) {
			out->entry = eh.entry;
			found = 1;
		}
	}
	for (unsigned int j = 0; j < nload && !found; j++) {
		if (eh.entry >= load[j].vaddr && eh.entry - load[j].vaddr < load[j].memsz) {
			out->entry = eh.entry - load[j].vaddr + load[j].paddr;
			found = 1;
		}
	}
	if (!found)
		return boot_fail(err, errlen, -ENOEXEC,
				 "%s: entry point 0x%" PRIx64 " is not inside any loaded segment",
				 what, eh.entry);
	if (out->has_pvh) {
		found = 0;
		for (unsigned int j = 0; j < nload && !found; j++)
			found = out->pvh_entry >= load[j].paddr &&
				out->pvh_entry - load[j].paddr < load[j].memsz;
		if (!found)
			return boot_fail(err, errlen, -ENOEXEC,
					 "%s: PVH entry point 0x%" PRIx32
					 " is not inside any loaded segment",
					 what, out->pvh_entry);
	}

	out->lo = UINT64_MAX;
	for (unsigned int j = 0; j < nload; j++) {
		const struct elf_phdr *s = &load[j];
		uint8_t *dst = gmem_ptr(m, s->paddr, s->memsz);

		if (!dst)
			return boot_fail(err, errlen, -ENOMEM,
					 "%s: guest memory 0x%" PRIx64 "-0x%" PRIx64
					 " is not mapped",
					 what, s->paddr, s->paddr + s->memsz - 1);
		memcpy(dst, img + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr < out->lo)
			out->lo = s->paddr;
		if (s->paddr + s->memsz > out->hi)
			out->hi = s->paddr + s->memsz;
	}
	return 0;
}

/* struct hvm_start_info and what it points to, for a PVH kernel. */
static int elf_build_pvh(struct gmem *m, const struct boot_config *cfg, uint64_t kernel_end,
			 char *err, size_t errlen)
{
	uint8_t si[PVH_START_SIZE], data[E820_MAX * PVH_MEMMAP_SIZE + PVH_MODLIST_SIZE];
	struct e820_entry map[E820_MAX];
	size_t cmd_len = strlen(cfg->cmdline), used;
	uint64_t initrd, modlist;
	int n, ret;

	if (cmd_len > LAYOUT_CMDLINE_MAX - 1)
		return boot_fail(err, errlen, -EINVAL,
				 "command line is %zu bytes, kernel accepts %llu", cmd_len,
				 LAYOUT_CMDLINE_MAX - 1);
	if (gmem_write(m, LAYOUT_CMDLINE, cfg->cmdline, cmd_len + 1))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM does not cover the command line at 0x%llx",
				 LAYOUT_CMDLINE);
	ret = boot_place_initrd(m, cfg, kernel_end, UINT64_MAX, &initrd, err, errlen);
	if (ret)
		return ret;

	memset(data, 0, sizeof(data));
	n = e820_build(cfg->ram_size, map);
	for (int i = 0; i < n; i++) {
		uint8_t *e = data + i * PVH_MEMMAP_SIZE;
		boot_put64(e, map[i].addr);
		boot_put64(e + 8, map[i].size);
		boot_put32(e + 16, map[i].type);
	}
	used = (size_t)n * PVH_MEMMAP_SIZE;
	modlist = LAYOUT_BOOTDATA + used;
	if (initrd) {
		uint8_t *mod = data + used;
		boot_put64(mod, initrd);
		boot_put64(mod + 8, cfg->initrd_size);
		used += PVH_MODLIST_SIZE;
	}
	/* sizeof(data) is far below LAYOUT_BOOTDATA_MAX; keep it that way. */
	_Static_assert(sizeof(data) <= LAYOUT_BOOTDATA_MAX, "PVH boot data outgrew its area");
	if (gmem_write(m, LAYOUT_BOOTDATA, data, used))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM does not cover the PVH memory map at 0x%llx",
				 LAYOUT_BOOTDATA);

	memset(si, 0, sizeof(si));
	boot_put32(si + 0, PVH_START_MAGIC);
	boot_put32(si + 4, PVH_START_VERSION);
	boot_put32(si + 12, initrd ? 1 : 0);	   /* nr_modules */
	boot_put64(si + 16, initrd ? modlist : 0); /* modlist_paddr */
	boot_put64(si + 24, LAYOUT_CMDLINE);	   /* cmdline_paddr */
	boot_put64(si + 32, cfg->rsdp_addr);	   /* rsdp_paddr */
	boot_put64(si + 40, LAYOUT_BOOTDATA);	   /* memmap_paddr */
	boot_put32(si + 48, (uint32_t)n);	   /* memmap_entries */
	_Static_assert(PVH_START_SIZE <= LAYOUT_ZERO_PAGE - LAYOUT_BOOTINFO, "start info area");
	if (gmem_write(m, LAYOUT_BOOTINFO, si, sizeof(si)))
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM does not cover hvm_start_info at 0x%llx",
				 LAYOUT_BOOTINFO);
	return 0;
}

int elf_load(struct gmem *m, const struct boot_config *cfg, struct boot_entry *out, char *err,
	     size_t errlen)
{
	uint8_t hdr[ZP_HDR_END - ZP_HDR];
	struct elf_loaded img;
	size_t hdr_len;
	int ret;

	ret = boot_check_config(cfg, err, errlen);
	if (ret)
		return ret;
	ret = elf_load_image(m, cfg->ram_size, cfg->kernel, cfg->kernel_size, ELFCLASS64, EM_X86_64,
			     "ELF", &img, err, errlen);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	if (img.has_pvh) {
		ret = elf_build_pvh(m, cfg, img.hi, err, errlen);
		if (ret)
			return ret;
		out->mode = BOOT_PVH32;
		out->entry = img.pvh_entry;
		out->ebx = (uint32_t)LAYOUT_BOOTINFO;
		return 0;
	}
	hdr_len = linux_zeropage_synth_header(hdr, sizeof(hdr));
	ret = linux_zeropage_build(m, cfg, hdr, hdr_len, img.hi, err, errlen);
	if (ret)
		return ret;
	out->mode = BOOT_LINUX64;
	out->entry = img.entry;
	out->rsi = LAYOUT_ZERO_PAGE;
	return 0;
}
