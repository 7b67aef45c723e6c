# SPDX-License-Identifier: MIT
"""Booting disk images through firmware (kvmm run --disk IMG [--firmware bios]): Debian's
SeaBIOS runs from the flash at the top of 4 GiB, enumerates PCI itself, finds the virtio-blk
disk with its own driver, and boots its master boot record. Two clients of that path:

- guest/boot/bootsector.S, a 512-byte MBR that prints through int 10h (which SeaBIOS's serial
  console copies to COM1), finds the ACPI RSDP SeaBIOS installed from kvmm's table loader and
  reads LBA 1 through int 13h extensions, then exits through the debug-exit port. LBA 1 holds a random line the test wrote. Fast (about a second here).
- GRUB (Debian's grub-pc-bin): a disk the test builds with GRUB's boot.img in the MBR, its
  core.img after it and a FAT partition holding our multiboot hello guest, which GRUB loads
  and starts. Slow under PVM's emulated real mode: the 'firmware' tier, which CI runs.
"""
import os
import secrets
import shutil
import struct
import subprocess

from harness import Skip, expect, test

SEABIOS = "/usr/share/seabios/bios-256k.bin"
EXIT_BOOTSECTOR_OK = (0x10 << 1) | 1
EXIT_USAGE = 64
EXIT_NOINPUT = 66


def need_seabios():
    if not os.path.exists(SEABIOS):
        raise Skip(f"{SEABIOS} is missing (Debian package seabios; make deps installs it)")


def bootsector_disk(ctx, name="boot.img", size=1 << 20):
    """A disk with our MBR and a random line in LBA 1; returns (path, line)."""
    with open(os.path.join(ctx.guests, "bootsector.bin"), "rb") as f:
        mbr = f.read()
    expect(len(mbr) == 512 and mbr[510:] == b"\x55\xaa", "bootsector.bin is not an MBR")
    line = "kvmm-" + secrets.token_hex(8)
    img = bytearray(size)
    img[:512] = mbr
    text = (line + "\r\n").encode() + b"\0"
    img[512:512 + len(text)] = text
    path = os.path.join(ctx.tmp, name)
    with open(path, "wb") as f:
        f.write(img)
    return path, line


def expect_bootsector(r, line):
    expect("SeaBIOS (version" in r.out, "SeaBIOS did not print its banner on the console", r)
    expect("Booting from Hard Disk" in r.out, "SeaBIOS did not boot the disk", r)
    expect("bootsector: hello through int 10h" in r.out, "no int 10h output on the console", r)
    expect("bootsector: hello on COM1" in r.out, "no direct COM1 output", r)
    expect("bootsector: drive 80" in r.out, "the boot drive is not 0x80", r)
    expect("bootsector: ACPI RSDP OEM KVMM" in r.out,
           "SeaBIOS did not install kvmm's ACPI tables from the table loader", r)
    expect(f"bootsector: com1: LBA 1: {line}" in r.out,
           "the boot sector did not read LBA 1 through the BIOS", r)
    expect(r.rc == EXIT_BOOTSECTOR_OK, "wrong exit status", r)


@test(params=[(1, "128M"), (2, "128M"), (1, "3G"), (4, "4200M")])
def firmware_boots_bootsector(ctx, p):
    """No --kernel and a --disk: SeaBIOS by default. Several CPUs (SeaBIOS starts and counts
    the APs), and RAM past the 2.75 GiB low-memory limit where SeaBIOS puts ECAM."""
    need_seabios()
    cpus, mem = p
    disk, line = bootsector_disk(ctx)
    r = ctx.kvmm_run(["--disk", disk, "--cpus", str(cpus), "--memory", mem], timeout=120)
    expect_bootsector(r, line)


@test(params=["bios", "file", "readonly"])
def firmware_explicit(ctx, how):
    need_seabios()
    disk, line = bootsector_disk(ctx)
    args = ["--memory", "64M"]
    if how == "bios":
        args += ["--firmware", "bios", "--disk", disk]
    elif how == "file":
        copy = os.path.join(ctx.tmp, "my-bios.bin")
        shutil.copy(SEABIOS, copy)
        args += ["--firmware", copy, "--disk", disk]
    else:
        args += ["--disk", disk + ",readonly=on"]
    r = ctx.kvmm_run(args, timeout=120)
    expect_bootsector(r, line)


@test()
def firmware_second_disk_is_not_the_boot_disk(ctx):
    """Disks keep their PCI order: the first is the BIOS's drive 0x80."""
    need_seabios()
    disk, line = bootsector_disk(ctx)
    data = os.path.join(ctx.tmp, "data.img")
    with open(data, "wb") as f:
        f.truncate(4 << 20)
    r = ctx.kvmm_run(["--disk", disk, "--disk", data, "--memory", "64M"], timeout=120)
    expect_bootsector(r, line)


@test()
def firmware_boot_on_picks_the_disk(ctx):
    """boot=on puts a disk first in the firmware's boot order (fw_cfg bootorder): a blank
    first disk and the boot sector on the second, which becomes drive 0x80."""
    need_seabios()
    blank = os.path.join(ctx.tmp, "blank.img")
    with open(blank, "wb") as f:
        f.truncate(1 << 20)
    disk, line = bootsector_disk(ctx)
    r = ctx.kvmm_run(["--disk", blank, "--disk", disk + ",boot=on", "--memory", "64M",
                      "--no-reboot"], timeout=120)
    expect_bootsector(r, line)


@test()
def firmware_no_bootable_disk(ctx):
    """A blank disk: SeaBIOS says so and resets after 5 s (etc/boot-fail-wait); with
    --no-reboot that ends the run with status 0."""
    need_seabios()
    blank = os.path.join(ctx.tmp, "blank.img")
    with open(blank, "wb") as f:
        f.truncate(1 << 20)
    r = ctx.kvmm_run(["--disk", blank, "--memory", "64M", "--no-reboot"], timeout=120)
    expect("No bootable device" in r.out, "SeaBIOS did not report the missing boot disk", r)
    expect(r.rc == 0, "--no-reboot must end the run at the firmware's reset", r)


@test(params=["size", "missing", "kernel"])
def firmware_bad(ctx, kind):
    disk = os.path.join(ctx.tmp, "d.img")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    if kind == "size":
        bad = os.path.join(ctx.tmp, "bad.bin")
        with open(bad, "wb") as f:
            f.write(b"\xf4" * 1000)
        r = ctx.kvmm_run(["--firmware", bad, "--disk", disk])
        expect(r.rc == EXIT_NOINPUT and bad in r.err and "multiple of 64 KiB" in r.err,
               "a firmware file of the wrong size must be refused", r)
    elif kind == "missing":
        bad = os.path.join(ctx.tmp, "none.bin")
        r = ctx.kvmm_run(["--firmware", bad, "--disk", disk])
        expect(r.rc == EXIT_NOINPUT and bad in r.err and "No such file" in r.err,
               "a missing firmware file must be refused", r)
    else:
        r = ctx.kvmm_run(["--firmware", "bios", "--kernel", ctx.guest("hello")], need_kvm=False)
        expect(r.rc == EXIT_USAGE and "--firmware" in r.err, "--firmware with --kernel", r)


@test()
def firmware_nothing_to_boot(ctx):
    r = ctx.kvmm_run([], need_kvm=False)
    expect(r.rc == EXIT_USAGE and "--kernel FILE is required" in r.err and "--disk" in r.err,
           "no kernel and no disk must be a usage error naming both", r)


# --- GRUB (slow: the firmware tier) ---

def grub_disk(ctx, token):
    """16 MiB: GRUB's boot.img in the MBR (partition table kept), core.img from sector 1, and a
    FAT16 partition from 1 MiB with /boot/hello.elf. core.img carries its configuration."""
    tools = ["grub-mkimage", "mformat", "mmd", "mcopy"]
    missing = [t for t in tools if not shutil.which(t)]
    if missing or not os.path.exists("/usr/lib/grub/i386-pc/boot.img"):
        raise Skip("needs grub-pc-bin and mtools (make deps installs them); missing: "
                   + ", ".join(missing or ["/usr/lib/grub/i386-pc"]))
    cfg = os.path.join(ctx.tmp, "early.cfg")
    with open(cfg, "w") as f:
        f.write("serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n"
                "echo \"grub: loading the hello guest from (hd0,msdos1)\"\n"
                "set root=(hd0,msdos1)\n"
                f"multiboot /boot/hello.elf {token}\nboot\n")
    core = os.path.join(ctx.tmp, "core.img")
    subprocess.run(["grub-mkimage", "-O", "i386-pc", "-o", core, "-c", cfg,
                    "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "fat", "multiboot",
                    "boot", "serial", "terminal", "echo"], check=True, capture_output=True)
    part = os.path.join(ctx.tmp, "part.img")
    subprocess.run(["mformat", "-C", "-i", part, "-T", "30720", "-h", "64", "-s", "32",
                    "-v", "KVMM", "::"], check=True, capture_output=True)
    subprocess.run(["mmd", "-i", part, "::/boot"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", part, ctx.guest("hello"), "::/boot/hello.elf"], check=True,
                   capture_output=True)
    start, size = 2048, 16 << 20
    img = bytearray(size)
    with open("/usr/lib/grub/i386-pc/boot.img", "rb") as f:
        img[:440] = f.read()[:440]
    with open(core, "rb") as f:
        code = f.read()
    expect(len(code) < (start - 1) * 512, "core.img does not fit before the partition")
    img[512:512 + len(code)] = code
    img[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x06, b"\xfe\xff\xff",
                               start, size // 512 - start)
    img[510:512] = b"\x55\xaa"
    with open(part, "rb") as f:
        p = f.read()
    img[start * 512:start * 512 + len(p)] = p
    path = os.path.join(ctx.tmp, "grub.img")
    with open(path, "wb") as f:
        f.write(img)
    return path


@test(tier="firmware", params=[1, 2])
def firmware_grub_loads_multiboot_guest(ctx, cpus):
    need_seabios()
    token = "grub-" + secrets.token_hex(6)
    disk = grub_disk(ctx, token)
    r = ctx.kvmm_run(["--disk", disk, "--cpus", str(cpus), "--memory", "128M"], timeout=240)
    expect("GRUB loading" in r.out, "the MBR did not load GRUB's core image", r)
    expect("grub: loading the hello guest" in r.out, "GRUB did not run its configuration", r)
    expect("Hello from the kvmm test guest" in r.out, "GRUB did not start the hello guest", r)
    expect(f"cmdline: {token}" in r.out or f"cmdline: /boot/hello.elf {token}" in r.out,
           "the guest did not get GRUB's command line", r)
    expect(r.rc == 1, "the hello guest exits with status 1", r)
