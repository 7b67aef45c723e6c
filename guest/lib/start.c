/* SPDX-License-Identifier: MIT */
/*
 * Ring-3 start of the boot CPU and of each AP: copies the multiboot info
 * (Multiboot Specification 0.6.96, 3.3 "Boot information format") into
 * struct boot_info, then calls the guest's test_main() / ap_main().
 */
#include "internal.h"
#include "kit.h"

#define MB_BOOTLOADER_MAGIC 0x2badb002
#define MB_INFO_MEMORY  (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)

volatile uint64_t kit_irq_count[256];
volatile uint64_t kit_irq_tsc[256];
static struct boot_info kit_bi;

/* The default ap_main: nothing to do. */
__attribute__((weak)) void ap_main(unsigned int cpu)
{
	(void)cpu;
}

static void copy_str(char *dst, size_t size, uint64_t src)
{
	const char *s = (const char *)(uintptr_t)src;
	size_t i = 0;

	if (src)
		for (; i + 1 < size && s[i]; i++)
			dst[i] = s[i];
	dst[i] = 0;
}

static void parse_mbi(struct boot_info *bi)
{
	const uint32_t *mbi = (const uint32_t *)(uintptr_t)kit_mb_info;
	const char *p;

	bi->mb_magic = kit_mb_magic;
	bi->args = bi->cmdline;
	if (kit_mb_magic != MB_BOOTLOADER_MAGIC || !kit_mb_info)
		return;
	bi->mb_flags = mbi[0];
	if (mbi[0] & MB_INFO_MEMORY) {
		bi->mem_lower_kib = mbi[1];
		bi->mem_upper_kib = mbi[2];
	}
	if (mbi[0] & MB_INFO_CMDLINE)
		copy_str(bi->cmdline, sizeof(bi->cmdline), mbi[4]);
	if (mbi[0] & MB_INFO_MODS) {
		const uint32_t *m = (const uint32_t *)(uintptr_t)mbi[6];

		for (uint32_t i = 0; i < mbi[5] && i < KIT_MAX_MODULES; i++, m += 4) {
			bi->modules[i].start = m[0];
			bi->modules[i].end = m[1];
			copy_str(bi->modules[i].string, sizeof(bi->modules[i].string), m[2]);
			bi->nr_modules++;
		}
	}
	if (mbi[0] & MB_INFO_MMAP) {
		uint64_t e = mbi[12], end = e + mbi[11];

		while (e + 24 <= end && bi->nr_ranges < KIT_MAX_RANGES) {
			const uint32_t *r = (const uint32_t *)(uintptr_t)e;
			struct kit_mem_range *d = &bi->ranges[bi->nr_ranges++];

			d->addr = r[1] | (uint64_t)r[2] << 32;
			d->len = r[3] | (uint64_t)r[4] << 32;
			d->type = r[5];
			e += r[0] + 4; /* size does not count itself */
		}
	}
	/* args: what follows the first word (the kernel path). */
	for (p = bi->cmdline; *p && *p != ' '; p++)
		;
	while (*p == ' ')
		p++;
	bi->args = p;
}

void kit_start_bsp(void)
{
	struct boot_info *bi = &kit_bi;

	__asm__ volatile("fninit");
	parse_mbi(bi);
	bi->image_start = (uintptr_t)__kit_image_start;
	bi->image_end = (uintptr_t)__kit_image_end;
	bi->mapped_end = kit_mapped_end;
	bi->nr_cpus = 1;
	bi->has_fw_cfg = fw_cfg_present();
	if (bi->has_fw_cfg) {
		uint16_t n = 0;

		fw_cfg_read(0x05, &n, sizeof(n));
		if (n)
			bi->nr_cpus = n;
	}
	if (bi->mb_magic != MB_BOOTLOADER_MAGIC)
		printf("kit: warning: multiboot magic 0x%x, no boot information\n", bi->mb_magic);
	test_main(bi);
	exit(0);
}

void kit_start_ap(unsigned int cpu)
{
	__asm__ volatile("fninit");
	__atomic_add_fetch(&kit_aps_started, 1, __ATOMIC_SEQ_CST);
	ap_main(cpu);
	kit_park();
}

void exit(int code)
{
	outb(KIT_PORT_DEBUG_EXIT, (uint8_t)code);
	printf("kit: exit(%d): the debug-exit port did not stop the VM; halting\n", code);
	kit_park();
}

static void io_set(uint16_t port, unsigned int n, bool allow)
{
	for (unsigned int p = port; p < port + n && p < 0x10000; p++) {
		if (allow)
			__atomic_and_fetch(&kit_io_bitmap[p / 8], (uint8_t)~(1u << (p % 8)), __ATOMIC_SEQ_CST);
		else
			__atomic_or_fetch(&kit_io_bitmap[p / 8], (uint8_t)(1u << (p % 8)), __ATOMIC_SEQ_CST);
	}
}

void kit_io_allow(uint16_t port, unsigned int n)
{
	io_set(port, n, true);
}

void kit_io_deny(uint16_t port, unsigned int n)
{
	io_set(port, n, false);
}

const char *kit_arg(const struct boot_info *bi, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = bi->cmdline;

	while (*p) {
		const char *w = p;

		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) > klen && !strncmp(w, key, klen) && w[klen] == '=') {
			if (len)
				*len = (size_t)(p - w) - klen - 1;
			return w + klen + 1;
		}
		while (*p == ' ')
			p++;
	}
	return NULL;
}

bool kit_arg_u64(const struct boot_info *bi, const char *key, uint64_t *val)
{
	size_t len, i = 0;
	const char *s = kit_arg(bi, key, &len);
	unsigned int base = 10;
	uint64_t v = 0;

	if (!s || !len)
		return false;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	for (; i < len; i++) {
		unsigned int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned int)(s[i] - '0');
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = (unsigned int)(s[i] - 'a' + 10);
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = (unsigned int)(s[i] - 'A' + 10);
		else
			return false;
		v = v * base + d;
	}
	*val = v;
	return true;
}
