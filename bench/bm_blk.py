# SPDX-License-Identifier: MIT
"""Disk I/O through virtio-blk: 4 KiB random reads and writes (IOPS) and 1 MiB
sequential reads and writes (MiB/s), at queue depth 1 and 32, for kvmm
(--disk FILE) and QEMU -M pc (-drive file=FILE,if=none,format=raw,
cache=writeback,aio=threads -device virtio-blk-pci,disable-legacy=on,
num-queues=1: QEMU's defaults but for the one queue kvmm has by default;
KVMM_BENCH_QEMU_AIO=io_uring tries QEMU's io_uring engine instead).
The same test guest (virtio_blk mode=bench) and the same image file in the
same run: 64 MiB of random bytes written once, so every read hits the host's
page cache and what is measured is the monitor's request path, not the disk.
Both monitors use the page cache and honour FLUSH (kvmm opens the image
without O_DIRECT and offers VIRTIO_BLK_F_FLUSH: QEMU's cache=writeback).

The guest negotiates VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC (as Linux
does), polls the used ring (no interrupts: they cost 40-50 us each on PVM
and would be the same for both), keeps qd requests in flight at random
4 KiB-aligned or consecutive offsets over the whole image, and times each
test for MS ms with the TSC, in 10 windows of MS/10 ms. A row's sample is
the rate of the best window: the machine is shared and load only takes
requests away, as in the density rows' "minimum of 8 starts". results.json
keeps the mean over the whole test too ("mean"), and the notifications the
guest sent per request ("kicks_per_req": each is an ioeventfd write, ~6 us
of exit on PVM). QEMU -M microvm has no PCI bus: n/a."""
import atexit
import os
import re
import tempfile

from common import BenchError, run_to_exit

SYSTEMS = ("kvmm", "qemu-pc")
MEM = 256  # MiB: 32 buffers of 1 MiB and the rings
IMAGE_MIB, IMAGE_MIB_SMOKE = 64, 8
MS, MS_SMOKE = 1000, 30
QEMU_AIO = os.environ.get("KVMM_BENCH_QEMU_AIO", "threads")  # QEMU's default; docs/performance.md
TARGET = {"qemu-pc": (">=", 1.0)}
NA_MICROVM = "n/a (microvm has no PCI bus)"
TESTS = [("randread", 4096, "IOPS"), ("randwrite", 4096, "IOPS"),
         ("seqread", 1 << 20, "MiB/s"), ("seqwrite", 1 << 20, "MiB/s")]
ROWS = []
for _rw, _bs, _unit in TESTS:
    for _qd in (1, 32):
        _what = f"4 KiB random {_rw[4:]}s" if _bs == 4096 else f"1 MiB sequential {_rw[3:]}s"
        ROWS.append(dict(id=f"blk.{_rw}.qd{_qd}", name=f"virtio-blk {_what}, queue depth {_qd}",
                         unit=_unit, better="higher", target=TARGET,
                         na={"qemu-microvm": NA_MICROVM}))

_LINE = re.compile(r"bench: rw=(\w+) bs=(\d+) qd=(\d+) ops=(\d+) us=(\d+) best=(\d+) kicks=(\d+) "
                   r"irqs=(\d+)")
_images = {}


def image(ctx):
    """One image per run, shared by every system and repetition."""
    mib = IMAGE_MIB_SMOKE if ctx.smoke else IMAGE_MIB
    if mib not in _images:
        fd, path = tempfile.mkstemp(prefix="bm_blk-", suffix=".img", dir=ctx.build)
        with os.fdopen(fd, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
        _images[mib] = path
    return _images[mib]


def cleanup():
    for path in _images.values():
        try:
            os.unlink(path)
        except OSError:
            pass
    _images.clear()


atexit.register(cleanup)


def disk_args(system, path):
    if not system.is_qemu:
        return ["--disk", path]
    return ["-drive", f"file={path},if=none,id=d0,format=raw,cache=writeback,aio={QEMU_AIO}",
            "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1"]


def sample(system, ctx):
    path = image(ctx)
    ms = MS_SMOKE if ctx.smoke else MS
    vm = run_to_exit(system, ctx.guest("virtio_blk"), MEM,
                     f"mode=bench ms={ms} event_idx=1 indirect=1", disk_args(system, path))
    out = vm.out.decode(errors="replace")
    vals, detail = {}, {}
    for rw, bs, qd, ops, us, best, kicks, _irqs in _LINE.findall(out):
        ops, us, bs, best = int(ops), int(us), int(bs), int(best)
        if not ops or not us or not best:
            raise BenchError(f"{rw} qd {qd}: {ops} requests in {us} us (best window {best}/s)")
        scale = 1 if bs == 4096 else bs / (1 << 20)
        key = f"blk.{rw}.qd{qd}"
        vals[key] = best * scale
        detail[key] = {"ops": ops, "us": us, "mean": round(ops * 1e6 / us * scale, 1),
                       "best_window": best * scale,
                       "kicks_per_req": round(int(kicks) / ops, 3)}
    missing = [r["id"] for r in ROWS if r["id"] not in vals]
    if missing:
        raise BenchError(f"no result for {', '.join(missing)}: {vm.tail()}")
    ctx.detail(system, "blk", detail)
    return vals
