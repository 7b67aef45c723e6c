# SPDX-License-Identifier: MIT
"""Boots Debian's cloud kernel (linux-image-cloud-amd64) with a busybox initramfs.

On a host with hardware virtualization the kernel must reach the initramfs
marker and power off (exit 0). On PVM development machines (../shared/PLATFORM.md)
guest ring 0 is emulated and a stock kernel stops at its first instruction the
emulator lacks: there the test expects the banner, our command line and an
e820 map matching --memory, then a clean guest-crash report (exit 2).
"""
import glob
import os
import re
import shutil
import struct
import subprocess

from harness import Skip, expect, test

MARKER = "KVMM-LINUX-MARKER: init reached"
CMDLINE = "console=ttyS0 earlyprintk=ttyS0 panic=-1 kvmm.test=linux"
MEMORY_MIB = 512


def cache_dir(ctx):
    d = os.environ.get("KVMM_CACHE") or os.path.join(ctx.build, "cache")
    os.makedirs(d, exist_ok=True)
    return d


def fetch_kernel(ctx):
    """Returns the path of Debian's cloud vmlinuz, downloading it once into the cache."""
    d = os.path.join(cache_dir(ctx), "linux")
    found = sorted(glob.glob(os.path.join(d, "boot", "vmlinuz-*")))
    if found:
        return found[-1]
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise Skip("apt-get/dpkg-deb not available to fetch linux-image-cloud-amd64")
    os.makedirs(d, exist_ok=True)

    def download():
        dep = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"],
                             capture_output=True, text=True).stdout
        m = re.search(r"Depends: (linux-image-\S+)", dep)
        if not m:
            return None
        p = subprocess.run(["apt-get", "download", m.group(1)], cwd=d, capture_output=True,
                           text=True)
        debs = glob.glob(os.path.join(d, "*.deb"))
        return debs[0] if p.returncode == 0 and debs else None

    deb = download()
    if not deb and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        deb = download()
    if not deb:
        raise Skip("cannot download linux-image-cloud-amd64 with apt-get (no package lists "
                   "or no access to Debian's archive)")
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", d, "./boot/"], stdin=tar.stdout, check=True)
    tar.wait()
    os.unlink(deb)
    found = sorted(glob.glob(os.path.join(d, "boot", "vmlinuz-*")))
    if not found:
        raise AssertionError("linux-image package held no /boot/vmlinuz-*")
    return found[-1]


def cpio_newc(entries):
    """A newc-format cpio archive (the initramfs format) from (name, mode, data)."""
    out = bytearray()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out += hdr.encode() + nb
        out += b"\0" * ((4 - len(out) % 4) % 4)
        out += data
        out += b"\0" * ((4 - len(out) % 4) % 4)
        ino += 1
    return bytes(out)


def build_initramfs(ctx):
    busybox = "/bin/busybox"
    if not os.path.exists(busybox) or not _is_static(busybox):
        raise Skip("Debian's busybox-static is not installed (/bin/busybox)")
    init = ("#!/bin/busybox sh\n"
            f"/bin/busybox echo '{MARKER}'\n"
            "/bin/busybox poweroff -f\n").encode()
    with open(busybox, "rb") as f:
        bb = f.read()
    archive = cpio_newc([("bin", 0o40755, b""), ("bin/busybox", 0o100755, bb),
                         ("init", 0o100755, init), ("dev", 0o40755, b"")])
    path = os.path.join(ctx.tmp, "initramfs.cpio")
    with open(path, "wb") as f:
        f.write(archive)
    return path


def _is_static(path):
    with open(path, "rb") as f:
        head = f.read(4096)
    # A static ELF has no PT_INTERP program header.
    if head[:4] != b"\x7fELF":
        return False
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 <= len(head) and struct.unpack_from("<I", head, off)[0] == 3:
            return False
    return True


def hardware_virtualization():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return re.search(r"\b(vmx|svm)\b", flags) is not None


@test(tier="linux")
def debian_cloud_kernel(ctx):
    ctx.need_kvm()
    kernel = fetch_kernel(ctx)
    initrd = build_initramfs(ctx)
    r = ctx.kvmm_run(["--kernel", kernel, "--initrd", initrd, "--cmdline", CMDLINE,
                      "--memory", f"{MEMORY_MIB}M", "--cpus", "2"], timeout=600)
    expect(re.search(r"Linux version \d+\.\d+\.\d+", r.out), "no kernel banner", r)
    expect(f"Command line: {CMDLINE}" in r.out, "kernel did not echo our command line", r)
    top = MEMORY_MIB * 1024 * 1024 - 1
    expect(re.search(rf"BIOS-e820: \[mem 0x0000000000100000-0x{top:016x}\] usable", r.out),
           f"no e820 RAM entry ending at {top:#x}", r)
    expect(re.search(r"BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable",
                     r.out), "no e820 low-memory entry", r)
    if hardware_virtualization():
        expect(MARKER in r.out, "initramfs marker not reached", r)
        expect(r.rc == 0, "poweroff should exit 0", r)
    else:
        # PVM: the kernel stops at an instruction the ring-0 emulator lacks.
        expect(r.rc == 2, "expected a clean guest-crash exit (2) on this platform", r)
        expect("guest crash" in r.err and "RIP=" in r.err, "no crash report", r)
