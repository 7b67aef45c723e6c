# SPDX-License-Identifier: MIT
"""virtio-blk on PCI (kvmm run --disk). The virtio_blk test guest (guest/tests/virtio_blk.c)
drives the device from ring 3 with the kit's driver (guest/lib/blk.c): it writes and reads
back patterns with requests of every shape, flushes, zeroes, discards, asks for the serial,
and sends requests the device must refuse or that break the ring. Here the host side checks
what reached the image file: the guest's pattern byte for byte (recomputed below), holes
where the guest discarded or zeroed with unmap, nothing at all on a read-only disk or from a
hostile guest, and flushed data after kvmm is SIGKILLed."""
import hashlib
import os
import re
import signal
import struct
import subprocess
import threading
import time

from harness import Result, expect, test

DEBUG_EXIT_OK = 1  # the guest wrote 0 to the debug-exit port
EXIT_NOINPUT = 66
SECTOR = 512
MASK = (1 << 64) - 1
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")
# guest/tests/virtio_blk.c KINDS: what each hostile request must lead to.
NEEDS_RESET = ("loop", "oob", "wrap", "ramend", "badnext", "badhead", "availjump", "wrongdir",
               "nostatus", "oversize", "nested", "indnoneg", "badring")
REFUSED = {"hdrwrite": "IOERR", "shortdata": "IOERR", "badtype": "UNSUPP"}


def splitmix(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def body(seed):
    return b"".join(struct.pack("<Q", splitmix((seed * 256 + j) & MASK)) for j in range(61))


def sector_bytes(s, seed, b):
    """Sector s of the guest's pattern seed (b = body(seed))."""
    return struct.pack("<QQ", s, seed) + b + struct.pack("<Q", ~s & MASK)


def pattern(seed, first, n):
    b = body(seed)
    return b"".join(sector_bytes(s, seed, b) for s in range(first, first + n))


def make_image(ctx, name, size, seed=None):
    """A sparse image, or one filled with the guest's pattern seed."""
    path = os.path.join(ctx.tmp, name)
    with open(path, "wb") as f:
        if seed is None:
            f.truncate(size)
        else:
            f.write(pattern(seed, 0, size // SECTOR))
    return path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_blk(ctx, cmdline, disks, cpus=1, memory="128M", env=None, extra=(), timeout=60):
    args = ["--kernel", ctx.guest("virtio_blk"), "--cpus", str(cpus), "--memory", memory,
            "--cmdline", cmdline] + list(extra)
    for d in disks:
        args += ["--disk", d]
    if env is None:
        return ctx.kvmm_run(args, timeout=timeout)
    # ctx.kvmm_run takes the process's environment, which tests running in parallel share.
    ctx.need_kvm()
    start = time.monotonic()
    p = subprocess.run([ctx.kvmm, "run"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=dict(os.environ, **env))
    return Result(p.returncode, p.stdout.decode(errors="replace"),
                  p.stderr.decode(errors="replace"), time.monotonic() - start)


def expect_clean(r):
    expect("FAIL" not in r.out and "kit: FATAL" not in r.out, "the guest reported a failure", r)
    for mark in SANITIZER:
        expect(mark not in r.err, f"sanitizer report ({mark})", r)
    expect("virtio-blk: all checks ok" in r.out, "the guest did not finish its checks", r)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


def ranges(r, what):
    """(sector, n) of the guest's 'write-zeroes'/'discard' lines."""
    return [(int(a), int(n)) for a, n in re.findall(rf"virtio-blk: {what} sector=(\d+) n=(\d+)",
                                                     r.out)]


def check_image(path, seed, zero, r):
    """The file holds pattern seed in every sector, except zeros in the ranges of zero."""
    zeroed = set()
    for a, n in zero:
        zeroed.update(range(a, a + n))
    b = body(seed)
    empty = bytes(SECTOR)
    with open(path, "rb") as f:
        data = f.read()
    for s in range(len(data) // SECTOR):
        got = data[s * SECTOR:(s + 1) * SECTOR]
        want = empty if s in zeroed else sector_bytes(s, seed, b)
        if got != want:
            q = struct.unpack_from("<QQ", got)
            expect(False, f"{path}: sector {s} is not what the guest wrote (starts "
                          f"{q[0]:#x} {q[1]:#x}; expected {'zeros' if s in zeroed else 'pattern'})",
                   r)


def check_holes(path, holes, r):
    """Each range (sector, n) is a hole in the file: SEEK_HOLE finds it and SEEK_DATA skips it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for a, n in holes:
            off, end = a * SECTOR, (a + n) * SECTOR
            expect(os.lseek(fd, off, os.SEEK_HOLE) == off, f"no hole at sector {a}", r)
            expect(os.lseek(fd, off, os.SEEK_DATA) >= end,
                   f"data inside the hole at sectors {a}+{n}", r)
    finally:
        os.close(fd)


@test(params=[(1, 1, ""), (2, 1, ""), (1, 2, "event_idx=1"), (2, 2, "event_idx=1"),
              (1, 1, "indirect=0 irq=none")])
def blk_verify(ctx, p):
    """64 MiB sparse image: the guest writes two patterns over all of it with requests of
    1-2048 sectors in every chain layout (two queues: each on its own CPU when there are two),
    reads each back, flushes, zeroes, discards. The file then holds the second pattern
    everywhere else, and the discarded and unmap-zeroed ranges are holes."""
    cpus, queues, opts = p
    size = 64 << 20
    img = make_image(ctx, "disk.img", size)
    disk = img + (f",queues={queues}" if queues > 1 else "")
    r = run_blk(ctx, f"mode=verify seed=42 {opts}", [disk], cpus)
    expect_clean(r)
    expect(f"virtio-blk: verify {size // SECTOR} sectors ok ({queues} queue" in r.out,
           "the verify pass did not run on every queue", r)
    if "irq=none" in opts:
        expect("queue interrupts" not in r.out, "interrupts counted without MSI-X", r)
    else:
        m = re.search(r"virtio-blk: (\d+) queue interrupts", r.out)
        expect(m and int(m.group(1)) > 0, "no MSI-X interrupt arrived", r)
    if cpus > 1 and queues == 1:
        expect(re.search(r"cpu 1 made [1-9]\d* configuration reads", r.out),
               "cpu 1 did not read the configuration meanwhile", r)
    wz = ranges(r, "write-zeroes")
    unmapped = [(int(a), int(n)) for a, n in
                re.findall(r"write-zeroes sector=(\d+) n=(\d+) unmap=1", r.out)]
    dis = ranges(r, "discard")
    expect(len(wz) == 3 and len(unmapped) == 1 and len(dis) == 2,
           "the guest did not zero and discard", r)
    expect("reads back as zeros" in r.out, "kvmm punches holes: discards read back as zeros", r)
    check_image(img, 42, wz + dis, r)
    check_holes(img, unmapped + dis, r)
    st = os.stat(img)
    holes = sum(n for _, n in unmapped + dis) * SECTOR
    # st_blocks counts the file system's extent blocks too: allow them 1 MiB.
    expect(st.st_blocks * 512 <= size - holes + (1 << 20),
           f"{st.st_blocks} blocks allocated: the {holes} bytes discarded or zeroed with unmap "
           "are still allocated", r)


@test()
def blk_threads_engine(ctx):
    """KVMM_AIO=threads: the thread-pool engine serves the same requests."""
    img = make_image(ctx, "disk.img", 16 << 20)
    r = run_blk(ctx, "mode=verify seed=3", [img + ",queues=2"], 2, env={"KVMM_AIO": "threads"},
                extra=["--log-level", "info"])
    expect_clean(r)
    expect("threads engine" in r.err, "the thread pool was not used", r)
    check_image(img, 3, ranges(r, "write-zeroes") + ranges(r, "discard"), r)


@test()
def blk_readonly(ctx):
    """readonly=on: the guest sees VIRTIO_BLK_F_RO, reads the image's pattern, and its write
    fails with IOERR, its DISCARD with UNSUPP; the file does not change."""
    img = make_image(ctx, "ro.img", 8 << 20, seed=7)
    before = sha256(img)
    r = run_blk(ctx, "mode=verify expect=7", [img + ",readonly=on"], 1, "64M")
    expect_clean(r)
    expect("virtio-blk: initial contents 16384 sectors ok" in r.out, "the image was misread", r)
    expect("read-only: write refused with IOERR ok, DISCARD unsupported ok" in r.out,
           "the read-only checks did not run", r)
    expect(sha256(img) == before, "a read-only image changed", r)


@test()
def blk_serials_in_pci_order(ctx):
    """Two disks after a --device: the guest finds them in the order given, each with its
    serial, size and read-only flag; a disk without serial= gets a stable default."""
    a = make_image(ctx, "a.img", 4 << 20)
    b = make_image(ctx, "b.img", 2 << 20)
    c = make_image(ctx, "c.img", 1 << 20)
    disks = [a + ",serial=ALPHA-1", b + ",serial=b2,readonly=on", c]
    r = run_blk(ctx, "mode=ids", disks, 1, "64M", extra=["--device", "virtio-rng"])
    found = re.findall(r"virtio-blk: disk (\d) slot (\d+) serial '([^']*)' sectors (\d+) ro=(\d)",
                       r.out)
    expect(len(found) == 3, "the guest did not find three disks", r)
    expect([(f[2], int(f[3]), f[4]) for f in found][:2] ==
           [("ALPHA-1", 8192, "0"), ("b2", 4096, "1")], "disks out of order or wrong", r)
    slots = [int(f[1]) for f in found]
    expect(slots == sorted(slots) and slots[0] >= 2, "the disks must follow the --device", r)
    expect(re.fullmatch(r"[\x21-\x7e]{1,20}", found[2][2]) and found[2][3] == "2048",
           "no usable default serial", r)
    r2 = run_blk(ctx, "mode=ids", disks, 1, "64M", extra=["--device", "virtio-rng"])
    expect(found[2][2] in r2.out, "the default serial is not stable", r2)
    expect(r.rc == DEBUG_EXIT_OK, "wrong exit status", r)


@test(params=["missing", "directory", "empty", "locked"])
def blk_bad_image(ctx, kind):
    """Refused before the guest starts: one line naming the file, exit status 66."""
    path = os.path.join(ctx.tmp, "bad.img")
    holder = None
    if kind == "directory":
        os.mkdir(path)
    elif kind == "empty":
        make_image(ctx, "bad.img", 0)
    elif kind == "locked":
        make_image(ctx, "bad.img", 1 << 20)
        ctx.need_kvm()
        holder = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_blk"),
                                   "--memory", "64M", "--disk", path, "--cmdline",
                                   "mode=write hold=1"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = holder.stdout.readline().decode(errors="replace")
        while line and "flushed" not in line:
            line = holder.stdout.readline().decode(errors="replace")
        expect("flushed" in line, "the first VM did not start using the disk")
    try:
        r = run_blk(ctx, "mode=ids", [path], 1, "64M")
    finally:
        if holder:
            holder.kill()
            holder.wait()
    want = {"missing": "No such file", "directory": "Is a directory", "empty": "is empty",
            "locked": "locked"}[kind]
    expect(r.rc == EXIT_NOINPUT, "wrong exit status", r)
    expect(path in r.err and want in r.err, f"the message must name the file and say {want!r}",
           r)
    expect("virtio-blk" not in r.out, "the guest must not start", r)


@test(params=list(NEEDS_RESET) + list(REFUSED) + ["resetbusy", "all"])
def blk_hostile(ctx, kind):
    """Each broken chain (loops, buffers outside RAM, bad indices, wrong directions, no
    status byte, oversized or nested indirect tables, a ring outside RAM) puts the device in
    DEVICE_NEEDS_RESET with a warning naming the fault; malformed requests get IOERR or
    UNSUPP and the device goes on. After a reset the guest reads the image's pattern again.
    Every hostile request is a write of 0xa5 bytes to sector 64: the image must not change."""
    img = make_image(ctx, "h.img", 4 << 20, seed=5)
    before = sha256(img)
    cpus = 2 if kind == "all" else 1
    r = run_blk(ctx, f"mode=hostile kind={kind} start=64 expect=5", [img], cpus, "64M")
    expect_clean(r)
    kinds = NEEDS_RESET if kind == "all" else [k for k in NEEDS_RESET if k == kind]
    for k in kinds:
        expect(f"virtio-blk: hostile {k}: needs reset ok, recovered" in r.out,
               f"{k}: no recovery", r)
    expect(r.err.count("device needs reset:") == len(kinds), "NEEDS_RESET not logged once each",
           r)
    for k, st in REFUSED.items():
        if kind in (k, "all"):
            expect(f"virtio-blk: hostile {k}: {st} ok, device goes on" in r.out,
                   f"{k}: not refused with {st}", r)
    if kind in ("resetbusy", "all"):
        expect("hostile resetbusy: reset with" in r.out, "resetbusy did not run", r)
    expect(sha256(img) == before, "a hostile request changed the image", r)


@test()
def blk_flushed_data_survives_sigkill(ctx):
    """The guest writes 8 MiB, FLUSHes, says so, and waits; kvmm is SIGKILLed at once. The
    file has every byte (the flush completed, and nothing is held back in kvmm)."""
    ctx.need_kvm()
    img = make_image(ctx, "d.img", 16 << 20)
    p = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("virtio_blk"), "--memory",
                          "64M", "--disk", img, "--cmdline",
                          "mode=write seed=11 start=4096 count=16384 hold=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    timer = threading.Timer(30, p.kill)
    timer.start()
    try:
        while b"flushed" not in out:
            chunk = p.stdout.read1(4096)
            if not chunk:
                break
            out += chunk
        p.send_signal(signal.SIGKILL)
        rc = p.wait(timeout=30)
    finally:
        timer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    text = out.decode(errors="replace")
    err = p.stderr.read().decode(errors="replace")
    expect("virtio-blk: write 16384 sectors flushed" in text,
           f"no flush marker:\n{text[-2000:]}\n{err[-2000:]}")
    expect(rc == -signal.SIGKILL, f"kvmm exited with {rc} before the kill")
    with open(img, "rb") as f:
        data = f.read()
    expect(data[4096 * SECTOR:(4096 + 16384) * SECTOR] == pattern(11, 4096, 16384),
           "flushed data is missing from the image")
    expect(data[:4096 * SECTOR] == bytes(4096 * SECTOR) and
           data[(4096 + 16384) * SECTOR:] == bytes(len(data) - (4096 + 16384) * SECTOR),
           "bytes outside the written range changed")
