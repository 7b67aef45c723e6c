/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory map of a kvmm x86 PC. One place, so loaders, ACPI, the
 * e820 map and fw_cfg agree.
 *
 *   0x00000000  real-mode IVT and BDA (left zero)
 *   0x00000500  boot GDT
 *   0x00006000  PVH start info / multiboot info area (to 0x00008000)
 *   0x00007000  Linux boot_params ("zero page")
 *   0x00009000  boot page tables: PML4, PDPT, 4 PDs (identity map of 4 GiB)
 *   0x00020000  kernel command line (up to 64 KiB)
 *   0x00030000  multiboot/PVH structures: memory map, modules, strings (64 KiB)
 *   0x0009fc00  EBDA (reserved)
 *   0x000a0000  VGA hole / option ROMs (not RAM in e820)
 *   0x000e0000  ACPI tables (RSDP first), then the MP table at 0x000f0000
 *   0x00100000  RAM; multiboot kernels load here, Linux at 16 MiB
 *   0xb0000000  MMIO hole (PCI, IOAPIC 0xfec00000, LAPIC 0xfee00000, firmware):
 *     0xb0000000  where SeaBIOS puts ECAM on q35 (PCIEXBAR; 256 MiB), else free
 *     0xc0000000  PCI window for 32-bit memory BARs (512 MiB)
 *     0xe0000000  PCI ECAM, buses 0-255 (256 MiB; the MCFG table describes bus 0)
 *     0xf0000000  free up to the I/O APIC
 *     0xfffc0000  the BIOS ROM with --firmware (up to 256 KiB, read-only), its
 *                 last 128 KiB also copied to 0xe0000 (the shadow below 1 MiB)
 *   0x100000000 RAM above 4 GiB, when the guest has more than 2.75 GiB
 *   then        PCI window for 64-bit BARs: 32 GiB from the first 1 GiB boundary
 *               after RAM (machine.c computes the base from the RAM size)
 *
 * Port I/O: PCI I/O BARs get 0xc000-0xffff; 0xcf8-0xcff is the PCI host.
 *
 * Low RAM ends at 0xb0000000 (2.75 GiB), as on QEMU's q35 for guests up to that
 * size, so that firmware which moves ECAM there through the host bridge's
 * PCIEXBAR (SeaBIOS does) finds no RAM under it. Without firmware, kvmm leaves
 * ECAM at 0xe0000000.
 */
#ifndef KVMM_ARCH_X86_LAYOUT_H
#define KVMM_ARCH_X86_LAYOUT_H

#define LAYOUT_GDT          0x500ULL
#define LAYOUT_BOOTINFO     0x6000ULL /* PVH hvm_start_info or multiboot info */
#define LAYOUT_ZERO_PAGE    0x7000ULL
#define LAYOUT_PML4         0x9000ULL
#define LAYOUT_PDPT         0xa000ULL
#define LAYOUT_PD           0xb000ULL /* 4 pages: 0xb000..0xefff */
#define LAYOUT_CMDLINE      0x20000ULL
#define LAYOUT_CMDLINE_MAX  0x10000ULL
#define LAYOUT_BOOTDATA     0x30000ULL /* memory maps, module lists, strings */
#define LAYOUT_BOOTDATA_MAX 0x10000ULL
#define LAYOUT_EBDA         0x9fc00ULL
#define LAYOUT_VGA_HOLE     0xa0000ULL
#define LAYOUT_ACPI         0xe0000ULL
#define LAYOUT_ACPI_MAX     0x10000ULL
#define LAYOUT_MPTABLE      0xf0000ULL
#define LAYOUT_MPTABLE_MAX  0x10000ULL
#define LAYOUT_HIMEM        0x100000ULL
#define LAYOUT_LINUX_LOAD   0x1000000ULL /* default LOAD_PHYSICAL_ADDR */
#define LAYOUT_MMIO_HOLE    0xb0000000ULL
#define LAYOUT_4G           0x100000000ULL
#define LAYOUT_IOAPIC       0xfec00000ULL
#define LAYOUT_LAPIC        0xfee00000ULL

#define LAYOUT_PCI_MMIO32      0xc0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL
#define LAYOUT_PCI_ECAM        0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE   0x10000000ULL
/* Where SeaBIOS puts ECAM on q35 (PCIEXBAR); kvmm starts firmware boots with it there. */
#define LAYOUT_PCI_ECAM_FIRMWARE 0xb0000000ULL
#define LAYOUT_BIOS_SHADOW      0xe0000ULL  /* the BIOS's last 128 KiB below 1 MiB */
#define LAYOUT_BIOS_SHADOW_SIZE 0x20000ULL
#define LAYOUT_FIRMWARE_MAX     0x40000ULL  /* ROM at 4 GiB - size, up to 256 KiB */
#define LAYOUT_PCI_MMIO64_ALIGN (1ULL << 30)
#define LAYOUT_PCI_MMIO64_SIZE (32ULL << 30)
#define LAYOUT_PCI_IO          0xc000ULL
#define LAYOUT_PCI_IO_SIZE     0x4000ULL

/* Minimum guest RAM kvmm accepts: room for the low-memory layout above. */
#define LAYOUT_MIN_RAM (2ULL << 20)

#endif
