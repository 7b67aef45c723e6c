# SPDX-License-Identifier: MIT
"""Firmware boot: a PC booted from a disk through SeaBIOS (Debian's bios-256k.bin
for both monitors) up to its boot sector, for kvmm (--disk IMG) and QEMU -M pc
(-drive ...,if=none -device virtio-blk-pci,disable-legacy=on: the same disk
on the same kind of device). The disk holds guest/boot/bootsector.S: it prints
through int 10h, reads LBA 1 through int 13h and exits through the debug-exit
port (status 33). Rows: process start to the boot sector's first line on the
serial port, and to the monitor's exit. SeaBIOS runs in real and 32-bit
protected mode, which PVM interprets, so both numbers are mostly the
firmware's instructions; the ratio shows what each monitor adds (device
models SeaBIOS probes, exits, the number of PCI devices). QEMU -M microvm has
no PCI bus: n/a."""
import os
import tempfile

from common import BenchError, Vm

SYSTEMS = ("kvmm", "qemu-pc")
MEM = 128
EXIT_BOOTSECTOR = (0x10 << 1) | 1
NA_MICROVM = "n/a (microvm has no PCI bus for virtio-blk-pci)"
ROWS = [
    dict(id="firmware.bootsector", name="firmware boot: start to the boot sector's first line "
         "(SeaBIOS, virtio-blk)", unit="ms", better="lower", target={"qemu-pc": ("<", 1.0)},
         na={"qemu-microvm": NA_MICROVM}),
    dict(id="firmware.exit", name="firmware boot: start to exit from the boot sector",
         unit="ms", better="lower", target={"qemu-pc": ("<", 1.0)},
         na={"qemu-microvm": NA_MICROVM}),
]
_disk = {}


def disk(ctx):
    if "path" not in _disk:
        with open(os.path.join(ctx.build, "guest", "bootsector.bin"), "rb") as f:
            mbr = f.read()
        fd, path = tempfile.mkstemp(prefix="bm_firmware-", suffix=".img", dir=ctx.build)
        with os.fdopen(fd, "wb") as f:
            img = bytearray(1 << 20)
            img[:512] = mbr
            text = b"bench\r\n\0"
            img[512:512 + len(text)] = text
            f.write(img)
        _disk["path"] = path
    return _disk["path"]


def sample(system, ctx):
    argv = system.disk_argv(disk(ctx), MEM)
    if not argv:
        raise BenchError(f"{system.name} cannot boot a disk")
    vm = Vm(argv)
    st = vm.finish()
    if st != EXIT_BOOTSECTOR:
        raise BenchError(f"{system.name}: exit status {st}, expected {EXIT_BOOTSECTOR}: "
                         f"{vm.tail()}")
    at = vm.out.find(b"bootsector: ")
    if at < 0:
        raise BenchError(f"{system.name}: no boot sector output: {vm.tail()}")
    return {"firmware.bootsector": vm.time_of(at) * 1e3, "firmware.exit": vm.t_exit * 1e3}
