# SPDX-License-Identifier: MIT
"""Snapshots of VMs with virtio devices (docs/snapshots.md): a guest using virtio-rng,
virtio-blk or the virtio console is paused and saved mid-run, killed, restored, and finishes
its work with interrupts arriving; the image holds what the guest wrote. A snapshot whose
PCI or virtio state does not fit the machine is refused with exit 66 naming the section, as
is a restore whose disk is missing, resized or locked by another kvmm.

The guests print one line per round on the UART, which a vCPU writes synchronously, so the
lines before the save and those of the restored run together are every round exactly once.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import zlib

from harness import Skip, expect, test
from qmpclient import QMP, wait_for_output

EXIT_GUEST_OK = 1  # the guest wrote 0 to the debug-exit port
EXIT_USAGE = 64
EXIT_NOINPUT = 66
SECTOR = 512
MASK = (1 << 64) - 1
SEABIOS = "/usr/share/seabios/bios-256k.bin"


class VM:
    """kvmm run in the background with a control socket, stdout to a file."""

    def __init__(self, ctx, args, name, stdin=subprocess.DEVNULL):
        ctx.need_kvm()
        self.sock = os.path.join(ctx.tmp, name + ".sock")
        self.out = os.path.join(ctx.tmp, name + ".out")
        self.err = os.path.join(ctx.tmp, name + ".err")
        self.p = subprocess.Popen([ctx.kvmm, "run", "--control", self.sock] + args,
                                  stdout=open(self.out, "wb"), stderr=open(self.err, "wb"),
                                  stdin=stdin)

    def output(self):
        with open(self.out, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err, "rb") as f:
            return f.read().decode(errors="replace")

    def save_and_kill(self, snap, after, timeout=60):
        """Once the guest printed `after`: stop, snapshot-save, SIGKILL. Returns its output."""
        try:
            wait_for_output(self.out, after.encode(), timeout=timeout)
            q = QMP(self.sock)
            expect(q.cmd("stop") == {"return": {}}, "stop failed")
            q.wait_event("STOP")
            r = q.cmd("snapshot-save", {"path": snap})
            expect(r == {"return": {}}, f"snapshot-save failed: {r}\n{self.stderr()[-2000:]}")
        finally:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(timeout=20)
        return self.output()


def rounds(text, pattern):
    return [int(m) for m in re.findall(pattern, text)]


# ---- virtio-rng ----------------------------------------------------------------------------

def rng_snapshot(ctx, name, cmdline="mode=stream rounds=12", cpus=1):
    """A snapshot of the stream guest after round 2; returns (path, output before)."""
    snap = os.path.join(ctx.tmp, name + ".snap")
    vm = VM(ctx, ["--kernel", ctx.guest("virtio_rng"), "--device", "virtio-rng", "--memory",
                  "64M", "--cpus", str(cpus), "--cmdline", cmdline], name)
    return snap, vm.save_and_kill(snap, "virtio-rng: round 2 ok")


@test(params=["msix", "intx", "msix-2cpus", "msix-outside"])
def rng_stream_continues_after_restore(ctx, mode):
    """The stream guest goes on after a restore; "outside": with its BAR 4 moved outside
    the host's PCI windows (a guest may put it anywhere), which the restore puts back."""
    irq, _, variant = mode.partition("-")
    extra = " relocate=0xf0000000" if variant == "outside" else ""
    snap, before = rng_snapshot(ctx, "rng-" + mode, f"mode=stream rounds=12 irq={irq}{extra}",
                                cpus=2 if variant == "2cpus" else 1)
    if variant == "outside":
        expect("BAR 4 moved to 0xf0000000" in before, "the BAR did not move", before)
    r = ctx.kvmm_run(["--restore", snap], timeout=120)
    expect(r.rc == EXIT_GUEST_OK and "virtio-rng: stream 12 rounds ok" in r.out,
           "the restored guest did not finish its reads", r)
    expect("FAIL" not in before + r.out, "the guest failed", r)
    expect(rounds(before + r.out, r"round (\d+) ok") == list(range(12)),
           f"rounds lost or repeated across the restore:\n{before}\n---\n{r.out}", r)
    after = rounds(r.out, r"round \d+ ok, (\d+) interrupts")
    expect(after and after == sorted(after) and len(set(after)) == len(after),
           "each restored round must see a new completion interrupt", r)


# ---- virtio-blk ----------------------------------------------------------------------------

def splitmix(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def pattern(seed, first, n):
    """The virtio_blk guest's pattern (as tests/integration/test_virtio_blk.py has it)."""
    body = b"".join(struct.pack("<Q", splitmix((seed * 256 + j) & MASK)) for j in range(61))
    return b"".join(struct.pack("<QQ", s, seed) + body + struct.pack("<Q", ~s & MASK)
                    for s in range(first, first + n))


BLK_SECTORS = 2048  # the range the guest rewrites each round (1 MiB of an 8 MiB image)


def blk_snapshot(ctx, name, queues=1, cpus=1, rounds_=6, after="virtio-blk: round 1 ok"):
    img = os.path.join(ctx.tmp, name + ".img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    snap = os.path.join(ctx.tmp, name + ".snap")
    vm = VM(ctx, ["--kernel", ctx.guest("virtio_blk"), "--memory", "128M", "--cpus", str(cpus),
                  "--disk", f"{img},queues={queues},serial=snap-{name}", "--cmdline",
                  f"mode=rounds rounds={rounds_} count={BLK_SECTORS} delay_us=0 qd=16"], name)
    return img, snap, vm.save_and_kill(snap, after)


def expect_image(img, seed, r):
    with open(img, "rb") as f:
        data = f.read(BLK_SECTORS * SECTOR)
    expect(data == pattern(seed, 0, BLK_SECTORS), f"the image does not hold pattern {seed}", r)


@test(params=[(1, 1), (4, 2)])
def blk_rounds_continue_after_restore(ctx, p):
    """Saved with requests in flight (no delay between rounds): the save drains them, the
    restored guest finishes every round's write and read-back, and the image is right."""
    queues, cpus = p
    img, snap, before = blk_snapshot(ctx, f"blk{queues}", queues=queues, cpus=cpus)
    r = ctx.kvmm_run(["--restore", snap], timeout=120)
    expect(r.rc == EXIT_GUEST_OK and "virtio-blk: rounds 6 ok, last pattern 6" in r.out and
           "virtio-blk: all checks ok" in r.out, "the restored guest did not finish", r)
    expect("FAIL" not in before + r.out, "the guest failed", r)
    expect(rounds(before + r.out, r"round (\d+) ok") == list(range(6)),
           f"rounds lost or repeated:\n{before}\n---\n{r.out}", r)
    expect_image(img, 6, r)


@test()
def blk_restore_keeps_identity_and_reopens_other_image(ctx):
    """The snapshot records the disk as the guest knew it (absolute path, serial, queues,
    size); --disk FILE restores onto a copy (a clone with its own disk), with the recorded
    serial, and leaves the original image alone."""
    img, snap, before = blk_snapshot(ctx, "ident", rounds_=4)
    disks = json.loads(SnapFile(snap).config())["disks"]
    expect(disks == [{"path": os.path.realpath(img), "readonly": False, "serial": "snap-ident",
                      "queues": 1, "size": 8 << 20}], f"recorded disks: {disks}")
    copy = os.path.join(ctx.tmp, "ident-copy.img")
    shutil.copyfile(img, copy)
    with open(img, "rb") as f:
        original = f.read()
    r = ctx.kvmm_run(["--restore", snap, "--disk", copy], timeout=120)
    # A save can land mid-line: the line may start before it and end in the restored run.
    expect(r.rc == EXIT_GUEST_OK and "rounds 4 ok" in before + r.out,
           "restore onto a copy failed", r)
    expect_image(copy, 4, r)
    with open(img, "rb") as f:
        expect(f.read() == original, "the snapshot's own image was written", r)
    r = ctx.kvmm_run(["--restore", snap, "--disk", copy, "--disk", copy], need_kvm=False)
    expect(r.rc == EXIT_USAGE and "1 disk" in r.err, "a second --disk for one disk", r)


@test(params=["missing", "resized", "locked"])
def blk_restore_refuses_wrong_image(ctx, kind):
    # Many rounds: the guest must still be running when the test stops it (it is never resumed).
    img, snap, _ = blk_snapshot(ctx, "wrong-" + kind, rounds_=1000)
    holder = None
    if kind == "missing":
        os.unlink(img)
    elif kind == "resized":
        with open(img, "r+b") as f:
            f.truncate(4 << 20)
    else:
        holder = subprocess.Popen([ctx.kvmm, "run", "--kernel", ctx.guest("idle"), "--memory",
                                   "32M", "--disk", img], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
    try:
        r = ctx.kvmm_run(["--restore", snap], timeout=30)
    finally:
        if holder:
            holder.kill()
            holder.wait()
    want = {"missing": "No such file", "resized": "bytes when the snapshot was saved",
            "locked": "locked"}[kind]
    expect(r.rc == EXIT_NOINPUT and img in r.err and want in r.err,
           f"{kind}: expected exit 66 naming {img} and saying {want!r}", r)


# ---- virtio-console ------------------------------------------------------------------------

@test()
def console_echo_continues_after_restore(ctx):
    """The guest echoes hvc0 input: one line before the save, the rest to the restored VM,
    which counts both (the device's and the guest's state came along)."""
    snap = os.path.join(ctx.tmp, "cons.snap")
    vm = VM(ctx, ["--kernel", ctx.guest("virtio_console"), "--console", "virtio", "--memory",
                  "64M", "--cmdline", "mode=echo"], "cons", stdin=subprocess.PIPE)
    vm.p.stdin.write(b"first\n")
    vm.p.stdin.flush()
    before = vm.save_and_kill(snap, "echo: first\n")
    p = subprocess.run([ctx.kvmm, "run", "--restore", snap], input=b"second\nthird\nquit\n",
                       capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    detail = f"\n--- before ---\n{before}\n--- after ---\n{out}\n{p.stderr.decode()[-2000:]}"
    expect(p.returncode == EXIT_GUEST_OK, f"exit {p.returncode}" + detail)
    expect("echo: second\necho: third\nbye\n" in out, "no echo after the restore" + detail)
    expect("virtio-console: echoed 3 lines" in out, "the line count did not carry over" + detail)


# ---- refused files -------------------------------------------------------------------------

class SnapFile:
    """A snapshot file (docs/snapshot-format.md) to alter and write back with valid CRCs."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = bytearray(f.read())
        d = self.data
        self.cfg_off, self.cfg_len = struct.unpack_from("<QQ", d, 32)
        self.table, count = struct.unpack_from("<QI", d, 48)
        self.entries = []
        for i in range(count):
            e = self.table + 128 * i
            name = bytes(d[e:e + 64]).rstrip(b"\0").decode()
            kind, _, off, length, gpa = struct.unpack_from("<IIQQQ", d, e + 64)
            self.entries.append([name, kind, off, length, gpa])

    def config(self):
        return bytes(self.data[self.cfg_off:self.cfg_off + self.cfg_len]).decode()

    def set_config(self, text):
        raw = text.encode()
        self.data[self.cfg_off:self.cfg_off + len(raw)] = raw
        self.cfg_len = len(raw)

    def section(self, name):
        for n, kind, off, length, _ in self.entries:
            if n == name:
                return off, length
        raise AssertionError(f"no section {name}")

    def poke(self, name, at, fmt, value):
        off, length = self.section(name)
        expect(at + struct.calcsize(fmt) <= length, f"{name}: offset {at} past its end")
        struct.pack_into(fmt, self.data, off + at, value)

    def peek(self, name, at, fmt):
        off, _ = self.section(name)
        return struct.unpack_from(fmt, self.data, off + at)[0]

    def drop(self, name):
        self.entries = [e for e in self.entries if e[0] != name]

    def write(self, path):
        d = self.data
        struct.pack_into("<Q", d, 40, self.cfg_len)
        struct.pack_into("<I", d, 64, zlib.crc32(d[self.cfg_off:self.cfg_off + self.cfg_len]))
        table = bytearray()
        for name, kind, off, length, gpa in self.entries:
            e = bytearray(128)
            e[:len(name)] = name.encode()
            crc = zlib.crc32(d[off:off + length]) if kind == 1 else \
                struct.unpack_from("<I", self.orig_entry(name), 68)[0]
            struct.pack_into("<IIQQQ", e, 64, kind, crc, off, length, gpa)
            table += e
        d[self.table:self.table + len(table)] = table
        struct.pack_into("<I", d, 56, len(self.entries))
        struct.pack_into("<I", d, 68, zlib.crc32(table))
        struct.pack_into("<I", d, 124, zlib.crc32(d[:124]))
        t = len(d) - 64
        struct.pack_into("<I", d, t + 12, struct.unpack_from("<I", d, 124)[0])
        struct.pack_into("<I", d, t + 32, len(self.entries))
        struct.pack_into("<I", d, t + 36, zlib.crc32(table))
        struct.pack_into("<I", d, t + 60, zlib.crc32(d[t:t + 60]))
        with open(path, "wb") as f:
            f.write(d)

    def orig_entry(self, name):
        if not hasattr(self, "_orig"):
            self._orig = {}
            count = struct.unpack_from("<I", self.data, 56)[0]
            for i in range(count):
                e = bytes(self.data[self.table + 128 * i:self.table + 128 * (i + 1)])
                self._orig[e[:64].rstrip(b"\0").decode()] = e
        return self._orig[name]


# Offsets in a virtio section (docs/snapshot-format.md, "PCI function state" and after).
PCI_DEVICE_ID = 7
PCI_BAR_ADDR = 25 + 12  # + 20 * BAR
PCI_NVEC = 338


def transport_at(nvec):
    return PCI_NVEC + 4 + 16 * nvec + 8 * ((nvec + 63) // 64)


def refused(ctx, snapfile, name, section, words):
    path = os.path.join(ctx.tmp, name + ".snap")
    snapfile.write(path)
    r = ctx.kvmm_run(["--restore", path], timeout=30)
    expect(r.rc == EXIT_NOINPUT, f"{name}: expected exit 66", r)
    expect(f"section '{section}'" in r.err, f"{name}: the message must name '{section}'", r)
    for w in words:
        expect(w in r.err, f"{name}: the message must say {w!r}", r)


@test()
def restore_refuses_bad_virtio_sections(ctx):
    snap, _ = rng_snapshot(ctx, "bad-rng")
    t = transport_at(2)  # virtio-rng: one queue, two vectors
    # A flipped byte is caught by the section's CRC.
    f = SnapFile(snap)
    off, length = f.section("virtio-rng")
    f.data[off + length // 2] ^= 0x55
    path = os.path.join(ctx.tmp, "flipped.snap")
    with open(path, "wb") as out:
        out.write(f.data)
    r = ctx.kvmm_run(["--restore", path], timeout=30)
    expect(r.rc == EXIT_NOINPUT and "'virtio-rng'" in r.err and "checksum" in r.err,
           "a corrupted virtio section", r)
    # Well-formed files whose virtio state does not fit the machine (CRCs recomputed).
    cases = [
        ("wrong-device", "virtio-rng", PCI_DEVICE_ID, "<H", 0x1042, ["slot", "1af4:1042"]),
        ("bar-misaligned", "virtio-rng", PCI_BAR_ADDR + 20 * 4, "<Q", 0xc8001000,
         ["BAR4 holds 0xc8001000"]),
        ("msix-count", "virtio-rng", PCI_NVEC, "<H", 3, ["3 MSI-X vectors"]),
        ("vector-count", "virtio-rng", t + 6, "<H", 5, ["MSI-X vectors"]),
        ("config-vector", "virtio-rng", t + 18, "<H", 7, ["configuration vector 7"]),
        ("queue-vector", "virtio-rng", t + 30 + 26 + 2, "<H", 9, ["queue 0's vector 9"]),
        ("pciexbar", "pci", 8, "<Q", 0xe0000009, ["PCIEXBAR 0xe0000009"]),
    ]
    for name, section, at, fmt, value, words in cases:
        f = SnapFile(snap)
        f.poke(section, at, fmt, value)
        refused(ctx, f, name, section, words)
    # A device section the config does not describe.
    f = SnapFile(snap)
    cfg = f.config()
    expect('"virtio_rng":true' in cfg and "rounds=12" in cfg, f"unexpected config {cfg}")
    f.set_config(cfg.replace('"virtio_rng":true', '"virtio_rng":false')
                 .replace("rounds=12", "rounds=1"))
    refused(ctx, f, "extra-section", "virtio-rng", ["belongs to no device"])
    # The PCI host's section is needed once there are devices on the bus.
    f = SnapFile(snap)
    f.drop("pci")
    refused(ctx, f, "no-pci", "pci", ["missing"])


@test()
def restore_reads_version1_files(ctx):
    """A snapshot of a VM without devices in the version 1 layout (no devices in the config,
    no 'pci' section) still restores and continues exactly."""
    args = ["--kernel", ctx.guest("state"), "--cmdline", "steps=10 delay_us=4000", "--memory",
            "64M"]
    want = ctx.kvmm_run(args, timeout=120)
    expect(want.rc == 1 and "state: done" in want.out, "reference run failed", want)
    snap = os.path.join(ctx.tmp, "v2.snap")
    vm = VM(ctx, args, "v1src")
    before = vm.save_and_kill(snap, "step 3:")
    f = SnapFile(snap)
    cfg = f.config()
    for key in ['"console":"serial",', '"disks":[],', ',"virtio_rng":false']:
        expect(key in cfg, f"config lacks {key}: {cfg}")
        cfg = cfg.replace(key, "")
    f.set_config(cfg.replace('"version":2', '"version":1'))
    f.drop("pci")
    path = os.path.join(ctx.tmp, "v1.snap")
    f.write(path)
    r = ctx.kvmm_run(["--restore", path], timeout=120)
    expect(r.rc == 1 and before + r.out == want.out, "the version 1 file did not continue", r)
    # Version 1 has no devices: one that names some is refused.
    f = SnapFile(snap)
    f.set_config(f.config().replace('"version":2', '"version":1'))
    refused(ctx, f, "v1-devices", "config", ["version 1 has no devices"])


@test()
def firmware_vm_still_refused(ctx):
    if not os.path.exists(SEABIOS):
        raise Skip(f"{SEABIOS} is missing (Debian package seabios)")
    img = os.path.join(ctx.tmp, "fw.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = VM(ctx, ["--disk", img, "--memory", "64M"], "fw")
    try:
        q = QMP(vm.sock)
        r = q.cmd("snapshot-save", {"path": os.path.join(ctx.tmp, "fw.snap")})
        expect("firmware" in r.get("error", {}).get("desc", ""), f"saved: {r}")
        expect(not os.path.exists(os.path.join(ctx.tmp, "fw.snap")), "a file was left")
        expect(q.cmd("query-status")["return"]["status"] == "running", "not running on")
        q.cmd("quit")
        expect(vm.p.wait(timeout=30) == 0, "quit should exit 0")
    finally:
        if vm.p.poll() is None:
            vm.p.kill()
            vm.p.wait()
